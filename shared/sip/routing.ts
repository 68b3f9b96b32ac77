/**
 * Small helpers the proxy's parts (transport.ts, links.ts, fork.ts) share:
 * device URIs, log descriptions, header-safe text and bounded tables.
 */
import { DEVICE_DOMAIN, MAX_TRACKED_ENTRIES } from './constants.ts'
import { sipUriParts } from './message.ts'
import type { SipMessage } from './message.ts'

/** Peer id of a device URI `sip:<peer id>@peerline.invalid`, else undefined. */
export function devicePeer (uri: string): string | undefined {
  const parts = sipUriParts(uri)
  if (parts == null || parts.host !== DEVICE_DOMAIN) return undefined
  return parts.user
}

/** `INVITE sip:bob@example.org` or `180 (INVITE)`, for logs. */
export function describe (m: SipMessage): string {
  return m.type === 'request' ? `${m.method} ${m.uri}` : `${m.status} (${m.method})`
}

/** Text safe inside a quoted header value (Warning, Reason). */
export function sanitize (s: string): string {
  return s.replace(/["\\\r\n]/g, ' ').slice(0, 120)
}

/** Keeps a Map under MAX_TRACKED_ENTRIES by dropping its oldest insertions. */
export function trim<V> (map: Map<string, V>, onDrop?: (v: V) => void): void {
  while (map.size > MAX_TRACKED_ENTRIES) {
    const first = map.keys().next()
    if (first.done === true) return
    const v = map.get(first.value)
    map.delete(first.value)
    if (v != null) onDrop?.(v)
  }
}
