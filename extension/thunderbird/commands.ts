/**
 * Messages between the Thunderbird pages (buddy list, message display popup,
 * mail script, chat) and the background (runtime.sendMessage), one switch on
 * `command`. The `tb:` prefix keeps them apart from extension/core's.
 */
import type { SkippedContact } from './buddies.ts'
import type { PresenceState } from './presence.ts'
import type { TrustSnapshot } from '../../shared/store/history-api.ts'

export type ThunderbirdMessage =
  | { command: 'tb:state' }
  | { command: 'tb:visible', aors: string[] }
  | { command: 'tb:call', target: string }
  | { command: 'tb:chat', target: string }
  | { command: 'tb:sip-link', uri: string }
  | { command: 'tb:set-pwa-base', base: string }
  | { command: 'tb:open-webapp' }
  | { command: 'tb:flush-transcripts' }
  | { command: 'tb:verify-find' }
  | { command: 'tb:verify-request', peerId: string }
  | { command: 'tb:verify-from-inbox' }

export interface BuddyView {
  aor: string
  name: string
  presence: PresenceState
  /** ms epoch of the last lookup, 0 never */
  checkedAt: number
  /** how far the contact's identity is proven (shared/ui/trust-text.ts shows it) */
  trust: TrustSnapshot
}

export interface ThunderbirdState {
  me?: { aor: string, displayName: string }
  online: boolean
  /** a web app address for calls is set (setup step 2) */
  webApp: boolean
  buddies: BuddyView[]
  skipped: SkippedContact[]
  handoffs: string[]
  /** incoming calls ringing now (a notification each) */
  ringing: Array<{ callId: string, from: string }>
}

/** Most aors a page may mark visible at once (a screenful is far below). */
const MAX_VISIBLE = 200

const str = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length < 4096

/** Narrows what arrived on runtime.onMessage; anything else is not ours. */
export function asThunderbirdMessage (m: unknown): ThunderbirdMessage | undefined {
  if (typeof m !== 'object' || m === null) return undefined
  const r = m as Record<string, unknown>
  switch (r.command) {
    case 'tb:state': return { command: 'tb:state' }
    case 'tb:flush-transcripts': return { command: 'tb:flush-transcripts' }
    case 'tb:open-webapp': return { command: 'tb:open-webapp' }
    case 'tb:verify-find': return { command: 'tb:verify-find' }
    case 'tb:verify-from-inbox': return { command: 'tb:verify-from-inbox' }
    case 'tb:verify-request': return str(r.peerId) ? { command: 'tb:verify-request', peerId: r.peerId } : undefined
    case 'tb:visible':
      return Array.isArray(r.aors) ? { command: 'tb:visible', aors: r.aors.filter(str).slice(0, MAX_VISIBLE) } : undefined
    case 'tb:call': return str(r.target) ? { command: 'tb:call', target: r.target } : undefined
    case 'tb:chat': return str(r.target) ? { command: 'tb:chat', target: r.target } : undefined
    case 'tb:sip-link': return str(r.uri) ? { command: 'tb:sip-link', uri: r.uri } : undefined
    case 'tb:set-pwa-base': return str(r.base) ? { command: 'tb:set-pwa-base', base: r.base } : undefined
    default: return undefined
  }
}
