/**
 * Chromium's background service worker. A service worker has no DOM, so no
 * RTCPeerConnection and no long life: the device (overlay + phone) runs in an
 * offscreen document (offscreen.ts) that this worker keeps open. The worker
 * does what the offscreen document cannot (it only has chrome.runtime): open
 * call windows and show notifications. Listeners are registered synchronously
 * at top level (CONVENTIONS 11).
 */
import { asExtensionMessage, callWindowPath, senderAllowed } from '../core/messages.ts'
import { CALL_WINDOW } from '../core/client.ts'
import { ringWith, showIncomingWindow, watchCallWindows } from '../core/ring.ts'
import { webext } from '../core/webext.ts'

interface OffscreenApi {
  createDocument: (p: { url: string, reasons: string[], justification: string }) => Promise<void>
}
interface ChromeExtras {
  offscreen?: OffscreenApi
  runtime: { getContexts?: (filter: { contextTypes: string[] }) => Promise<unknown[]> }
  alarms?: {
    create: (name: string, info: { periodInMinutes: number }) => Promise<void>
    onAlarm: { addListener: (fn: (alarm: { name: string }) => void) => void }
  }
}

/** Name of the alarm that brings the offscreen document back should it ever close (a crash, a browser policy). */
const DEVICE_ALARM = 'peerline-device'
/** Chromium's shortest alarm period (Chrome 120+: 30 s); a minute is plenty for a rare event. */
const DEVICE_CHECK_MINUTES = 1

const api = webext()
const chromeApi = (globalThis as unknown as { chrome: ChromeExtras }).chrome
let creating: Promise<void> | undefined

/** Creates the offscreen document unless it runs already (at most one per extension). */
async function ensureOffscreen (): Promise<void> {
  const existing = await chromeApi.runtime.getContexts?.({ contextTypes: ['OFFSCREEN_DOCUMENT'] }) ?? []
  if (existing.length > 0) return
  creating ??= (chromeApi.offscreen?.createDocument({
    url: 'offscreen.html',
    // WEB_RTC: the overlay's WebRTC transport and the calls' media; USER_MEDIA: the microphone
    reasons: ['WEB_RTC', 'USER_MEDIA'],
    justification: 'Peerline keeps your phone online so calls can reach you, and carries the calls\' audio.'
  }) ?? Promise.resolve()).finally(() => { creating = undefined })
  await creating.catch(err => {
    // "Only a single offscreen document may be created": another wake-up won the race
    if (!/single offscreen/i.test((err as Error).message)) throw err
  })
}

api.runtime.onMessage.addListener((raw, sender, sendResponse) => {
  const message = asExtensionMessage(raw)
  if (message === undefined || !senderAllowed(message, sender, api.runtime.id, api.runtime.getURL(''))) return undefined
  const done = (p: Promise<unknown>): true => {
    p.then(() => { sendResponse({ ok: true }) }, (err: unknown) => { sendResponse({ ok: false, error: (err as Error).message }) })
    return true
  }
  switch (message.command) {
    case 'open-call':
      return done(api.windows?.create({ url: api.runtime.getURL(callWindowPath(message.target)), type: 'popup', ...CALL_WINDOW }) ?? Promise.resolve())
    case 'ensure-device':
      return done(ensureOffscreen())
    case 'ring':
      return done(ringWith(api, message))
  }
})

watchCallWindows(api)
// what a click on the ring notification does, for test/extension/chromium.test.ts (headless Chromium shows no notification to click)
;(globalThis as { peerlineShowIncomingWindow?: (callId: string) => Promise<void> }).peerlineShowIncomingWindow = async callId => { await showIncomingWindow(api, callId) }

chromeApi.alarms?.onAlarm.addListener(alarm => { if (alarm.name === DEVICE_ALARM) void ensureOffscreen() })
void chromeApi.alarms?.create(DEVICE_ALARM, { periodInMinutes: DEVICE_CHECK_MINUTES })
api.runtime.onStartup?.addListener(() => { void ensureOffscreen() })
api.runtime.onInstalled?.addListener(() => { void ensureOffscreen() })
// every wake-up (a message, an alarm) also checks: the device must stay online
void ensureOffscreen()
