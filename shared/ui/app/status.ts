/**
 * What the status line says. Pure, so it is unit-tested without a browser.
 */
import type { AppStatus } from './types.ts'
import type { Phase } from './state.ts'

/**
 * The one role="status" element: "Online — …" when this device is connected
 * to the overlay (and, once it has an identity, reachable: its location record
 * is published), "Offline — …" otherwise.
 */
export function statusText (status: AppStatus, phase: Phase, hasIdentity: boolean): { text: string, online: boolean } {
  if (!status.network) return { text: 'Offline — this device has no network connection', online: false }
  if (!status.connected) {
    return { text: phase === 'loading' ? 'Offline — connecting to the overlay…' : 'Offline — reconnecting to the overlay…', online: false }
  }
  const n = status.supernodes
  const joined = `connected to ${n} supernode${n === 1 ? '' : 's'}`
  if (hasIdentity && !status.reachable) return { text: `Connecting — ${joined}, publishing your address…`, online: false }
  return { text: `Online — ${joined}`, online: true }
}
