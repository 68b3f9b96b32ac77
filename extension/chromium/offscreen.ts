/**
 * Chromium's offscreen document: hosts the device (extension/core/device.ts)
 * for as long as the browser runs. It can only use chrome.runtime, so ringing
 * is a message to the service worker.
 */
import { startDevice } from '../core/device.ts'
import type { RingMessage } from '../core/messages.ts'
import { webext } from '../core/webext.ts'
import { logger } from '../../shared/util/logger.ts'

const log = logger('extension:offscreen')
const api = webext()

startDevice({
  deviceName: 'Peerline for Chromium',
  ring: call => {
    const ring: RingMessage = { command: 'ring', callId: call.id, from: call.remote.aor, displayName: call.remote.displayName }
    api.runtime.sendMessage(ring).catch((err: unknown) => { log.error('ring: %s', (err as Error).message) })
  }
}).catch((err: unknown) => { log.error('device did not start: %s', (err as Error).message) })
