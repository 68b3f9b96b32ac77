/**
 * Ringing from a context that has windows and notifications (Firefox's and
 * Thunderbird's background pages, Chromium's service worker): a notification
 * plus the call window showing the ringing call. One window per call: a click
 * on the notification focuses the call's window rather than opening a second
 * one (two windows on one call would each hang it up when closed).
 */
import type { RingMessage } from './messages.ts'
import { incomingWindowPath } from './messages.ts'
import { CALL_WINDOW } from './client.ts'
import type { WebExtApi } from './webext.ts'

/** Notification ids carry the call id so a click can focus the right call window. */
const NOTIFICATION_PREFIX = 'peerline-call:'
/** storage.session key prefix of call id → window id (Chromium's service worker may restart while a call rings). */
const WINDOW_KEY_PREFIX = 'peerline-call-window:'

/** Call id → id of the window showing it, opened by this background context. */
const callWindows = new Map<string, number>()

/** The ring notification's id for `callId` (the call window clears it once answered or ended). */
export function ringNotificationId (callId: string): string {
  return NOTIFICATION_PREFIX + callId
}

async function knownWindow (api: WebExtApi, callId: string): Promise<number | undefined> {
  const id = callWindows.get(callId)
  if (id !== undefined) return id
  const key = WINDOW_KEY_PREFIX + callId
  const stored = await api.storage?.session?.get(key).catch(() => undefined)
  const value = stored?.[key]
  return typeof value === 'number' ? value : undefined
}

function remember (api: WebExtApi, callId: string, windowId: number | undefined): void {
  const key = WINDOW_KEY_PREFIX + callId
  if (windowId === undefined) {
    callWindows.delete(callId)
    void api.storage?.session?.remove?.(key).catch(() => {})
    return
  }
  callWindows.set(callId, windowId)
  void api.storage?.session?.set({ [key]: windowId }).catch(() => {})
}

/**
 * Shows the window of the incoming call `callId`: focuses the one already
 * open for it, or opens it (and remembers it).
 */
export async function showIncomingWindow (api: WebExtApi, callId: string): Promise<void> {
  const windows = api.windows
  if (windows === undefined) return
  const existing = await knownWindow(api, callId)
  if (existing !== undefined && windows.update !== undefined) {
    // update() rejects when that window was closed meanwhile
    if (await windows.update(existing, { focused: true }).then(() => true, () => false)) return
    remember(api, callId, undefined)
  }
  const created = await windows.create({ url: api.runtime.getURL(incomingWindowPath(callId)), type: 'popup', ...CALL_WINDOW })
  if (created.id !== undefined) remember(api, callId, created.id)
}

/**
 * Registers (synchronously, at the background's top level) the notification
 * click that brings the call window back and the clean-up of closed windows.
 */
export function watchCallWindows (api: WebExtApi): void {
  api.notifications?.onClicked.addListener(id => {
    const callId = notificationCallId(id)
    if (callId !== undefined) void showIncomingWindow(api, callId).catch(() => {})
  })
  api.windows?.onRemoved?.addListener(windowId => {
    for (const [callId, id] of callWindows) if (id === windowId) remember(api, callId, undefined)
  })
}

export async function ringWith (api: WebExtApi, ring: RingMessage): Promise<void> {
  const who = ring.displayName !== '' ? `${ring.displayName} <${ring.from}>` : ring.from
  await api.notifications?.create(ringNotificationId(ring.callId), {
    type: 'basic',
    iconUrl: api.runtime.getURL('icons/icon-96.png'),
    title: ring.keyChanged === true ? 'Peerline call (key changed!)' : 'Peerline call',
    message: `${who} is calling`,
    requireInteraction: true
  }).catch(() => undefined)
  await showIncomingWindow(api, ring.callId)
}

/** Clicking the ring notification brings the call window back. */
export function notificationCallId (notificationId: string): string | undefined {
  return notificationId.startsWith(NOTIFICATION_PREFIX) ? notificationId.slice(NOTIFICATION_PREFIX.length) : undefined
}
