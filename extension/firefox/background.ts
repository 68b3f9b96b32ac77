/**
 * Firefox's background page: hosts the device (see extension/core/background-page.ts).
 * sip: links reach the call window through manifest protocol_handlers; the
 * content script's open-call messages are handled too.
 */
import { startBackgroundPage } from '../core/background-page.ts'

void startBackgroundPage()
