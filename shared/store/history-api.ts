/**
 * The contract of the history store (IndexedDB via idb): chat transcripts,
 * call history, buddies and settings, with full-text search over
 * transcripts. Implementation: history.ts (`openHistory`). Types only here.
 */

/**
 * How far the other party's identity was proven at the time (TrustStore.judge
 * in shared/identity/trust.ts, or 'unauthenticated' when its hello did not
 * check out, or 'server-asserted' for a call or message through a SIP
 * account: `via` names the account, the address is what its server said),
 * kept with each message and call so the history shows the level of the
 * moment, not today's.
 */
export interface TrustSnapshot {
  level: 'contact-verified' | 'ca-verified' | 'known-key' | 'key-changed' | 'unverified' | 'unauthenticated' | 'server-asserted'
  caName?: string
  /** the SIP account it came through, for 'server-asserted' */
  via?: string
  /** ms epoch: verified at, pinned at */
  since?: number
  /** error name, for 'unauthenticated' */
  reason?: string
}

export interface MessageRecord {
  id: string
  /** the other party's normalised address */
  peer: string
  direction: 'in' | 'out'
  body: string
  /** ms epoch */
  at: number
  /**
   * The sender's signatures checked out (authenticated); NOT trust: a
   * self-issued certificate checks out for any address. Screens show `trust`.
   */
  verified: boolean
  /** the trust level when it was received or sent; absent in records older than it */
  trust?: TrustSnapshot
  status: 'sending' | 'sent' | 'failed' | 'received'
}

/** A message to store: `id` is generated when not given. */
export type NewMessage = Omit<MessageRecord, 'id'> & { id?: string }

export type CallOutcome = 'answered' | 'missed' | 'declined' | 'cancelled' | 'no-answer' | 'failed' | 'busy'

export interface CallRecord {
  id: string
  peer: string
  displayName?: string
  direction: 'in' | 'out'
  startedAt: number
  answeredAt?: number
  endedAt?: number
  durationMs: number
  outcome: CallOutcome
  video: boolean
  /** the other party's signatures checked out (authenticated); NOT trust, see `trust` */
  verified: boolean
  /** the trust level during the call; absent in records older than it, and for calls that never reached anyone */
  trust?: TrustSnapshot
}

export interface Buddy {
  aor: string
  displayName?: string
  addedAt: number
}

export interface ConversationSummary {
  peer: string
  last: MessageRecord
  count: number
}

export interface HistoryStore {
  addMessage: (m: NewMessage) => Promise<MessageRecord>
  setMessageStatus: (id: string, status: MessageRecord['status']) => Promise<void>
  /** oldest first; `before` pages backwards (ms epoch, exclusive) */
  conversation: (peer: string, options?: { limit?: number, before?: number }) => Promise<MessageRecord[]>
  /** newest conversation first */
  conversations: () => Promise<ConversationSummary[]>
  /**
   * Full-text search over message bodies: every word of `query` must match
   * (the last one as a prefix), case- and accent-insensitive; newest first.
   */
  search: (query: string, options?: { limit?: number, peer?: string }) => Promise<MessageRecord[]>
  addCall: (c: Omit<CallRecord, 'id'> & { id?: string }) => Promise<CallRecord>
  updateCall: (id: string, patch: Partial<Omit<CallRecord, 'id'>>) => Promise<void>
  /** newest first */
  calls: (options?: { limit?: number }) => Promise<CallRecord[]>
  buddies: () => Promise<Buddy[]>
  addBuddy: (b: Omit<Buddy, 'addedAt'> & { addedAt?: number }) => Promise<Buddy>
  removeBuddy: (aor: string) => Promise<void>
  getSetting: <T>(key: string, fallback: T) => Promise<T>
  setSetting: (key: string, value: unknown) => Promise<void>
  /** navigator.storage.persist() where available; false otherwise */
  requestPersistence: () => Promise<boolean>
  close: () => void
}
