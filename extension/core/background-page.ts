/**
 * The background of the targets with a background *page* (Firefox,
 * Thunderbird): the page hosts the device itself, rings with its own
 * notifications and windows, and answers the content script's messages.
 * Call `startBackgroundPage()` synchronously at the top level of the entry
 * script so the listeners exist before any event is delivered.
 */
import type { AppServices } from '../../shared/ui/app/services.ts'
import { startDevice } from './device.ts'
import { asExtensionMessage, callWindowPath, senderAllowed } from './messages.ts'
import { keepBackgroundAlive } from './keepalive-host.ts'
import { CALL_WINDOW } from './client.ts'
import { ringWith, watchCallWindows } from './ring.ts'
import { webext } from './webext.ts'
import { logger } from '../../shared/util/logger.ts'

const log = logger('extension:background')

export function startBackgroundPage (): Promise<AppServices> {
  const api = webext()
  api.runtime.onMessage.addListener((raw, sender) => {
    const message = asExtensionMessage(raw)
    if (message === undefined || !senderAllowed(message, sender, api.runtime.id, api.runtime.getURL(''))) return undefined
    switch (message.command) {
      case 'open-call':
        return api.windows?.create({ url: api.runtime.getURL(callWindowPath(message.target)), type: 'popup', ...CALL_WINDOW }).then(() => ({ ok: true }))
      case 'ensure-device':
        return Promise.resolve({ ok: true })
      case 'ring':
        return ringWith(api, message).then(() => ({ ok: true }))
    }
  })
  watchCallWindows(api)
  // the device must outlive Gecko's event-page idle timeout: see keepalive.ts
  keepBackgroundAlive(api)
  const started = startDevice({
    deviceName: 'Peerline for Firefox',
    ring: call => {
      ringWith(api, { command: 'ring', callId: call.id, from: call.remote.aor, displayName: call.remote.displayName })
        .catch((err: unknown) => { log.error('ring: %s', (err as Error).message) })
    }
  })
  started.catch((err: unknown) => { log.error('device did not start: %s', (err as Error).message) })
  return started
}
