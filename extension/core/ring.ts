/**
 * Ringing from a context that has windows and notifications (Firefox's and
 * Thunderbird's background pages, Chromium's service worker): a notification
 * plus the call window showing the ringing call.
 */
import type { RingMessage } from './messages.ts'
import { incomingWindowPath } from './messages.ts'
import { CALL_WINDOW } from './client.ts'
import type { WebExtApi } from './webext.ts'

/** Notification ids carry the call id so a click can focus the right call window. */
const NOTIFICATION_PREFIX = 'peerline-call:'

/** The ring notification's id for `callId` (the call window clears it once answered or ended). */
export function ringNotificationId (callId: string): string {
  return NOTIFICATION_PREFIX + callId
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
  await api.windows?.create({ url: api.runtime.getURL(incomingWindowPath(ring.callId)), type: 'popup', ...CALL_WINDOW })
}

/** Clicking the ring notification brings the call window back. */
export function notificationCallId (notificationId: string): string | undefined {
  return notificationId.startsWith(NOTIFICATION_PREFIX) ? notificationId.slice(NOTIFICATION_PREFIX.length) : undefined
}
