/**
 * The contract of the history store (IndexedDB via idb): chat transcripts,
 * call history, buddies and settings, with full-text search over
 * transcripts. Implementation: history.ts (`openHistory`). Types only here.
 */

export interface MessageRecord {
  id: string
  /** the other party's normalised address */
  peer: string
  direction: 'in' | 'out'
  body: string
  /** ms epoch */
  at: number
  verified: boolean
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
  verified: boolean
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
