/**
 * keepalive.html, loaded in a hidden iframe inside the Firefox/Thunderbird
 * background page: holds a runtime port open to the background page and
 * sends a message on it regularly. MV3 background pages in Gecko are event
 * pages that are unloaded after an idle period (pref
 * extensions.background.idle.timeout, 30 s by default). Messages on an open
 * port, sent more often than that timeout, restart the idle timer and keep
 * the page; an open port with no traffic does not (measured in Thunderbird
 * 153, test/extension/keepalive.test.ts). Peerline's device must stay online
 * while the browser runs, so this page pings every KEEPALIVE_INTERVAL_MS.
 * (Chromium uses an offscreen document instead, see extension/chromium/background.ts.)
 */
import { KEEPALIVE_INTERVAL_MS, KEEPALIVE_PORT } from './messages.ts'

interface PortApi { runtime: { connect: (info: { name: string }) => { postMessage: (m: unknown) => void } } }

const api = (globalThis as { browser?: PortApi, chrome?: PortApi }).browser ?? (globalThis as { chrome?: PortApi }).chrome
if (api !== undefined) {
  const port = api.runtime.connect({ name: KEEPALIVE_PORT })
  setInterval(() => { port.postMessage('ping') }, KEEPALIVE_INTERVAL_MS)
}
