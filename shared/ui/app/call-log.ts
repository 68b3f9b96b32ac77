/**
 * The history writes the app makes whatever screen is showing: a CallRecord
 * when a call ends (or a dial fails), and each incoming message, stored before
 * it is announced.
 */
import type { TrustStore } from '../../identity/index.ts'
import type { Call, IncomingMessage } from '../../sip/api.ts'
import type { CallRecord, HistoryStore, MessageRecord } from '../../store/history-api.ts'
import { partyTrust } from '../trust-text.ts'
import { callOutcome } from './calls.ts'
import type { HistoryChangeKind } from './types.ts'

export interface CallLogHooks {
  history: () => HistoryStore
  /** judges the other party for the record (the level at the time is kept) */
  trust: TrustStore
  /** the history changed (for the screens) */
  changed: (kind: HistoryChangeKind, peer?: string) => void
  /** `call` ended and its record is written (or failed to be) */
  ended: (call: Call) => void
  error: (err: unknown) => void
}

export class CallLog {
  readonly #hooks: CallLogHooks
  readonly #tracked = new WeakSet<Call>()

  constructor (hooks: CallLogHooks) {
    this.#hooks = hooks
  }

  /** Writes a CallRecord when `call` ends (once per call, however often it is passed). */
  track (call: Call): void {
    if (this.#tracked.has(call)) return
    this.#tracked.add(call)
    const onEnded = (): void => {
      call.removeEventListener('ended', onEnded)
      const end = call.end
      this.add({
        peer: call.remote.aor,
        ...(call.remote.displayName !== '' ? { displayName: call.remote.displayName } : {}),
        direction: call.direction === 'outgoing' ? 'out' : 'in',
        startedAt: call.startedAt,
        ...(call.answeredAt !== undefined ? { answeredAt: call.answeredAt } : {}),
        endedAt: call.endedAt ?? Date.now(),
        durationMs: call.duration(),
        outcome: callOutcome(call.direction, end?.reason ?? 'failed', call.answeredAt !== undefined),
        video: call.video,
        verified: call.remote.authenticated,
        trust: partyTrust(call.remote, this.#hooks.trust)
      }).finally(() => { this.#hooks.ended(call) })
    }
    if (call.state === 'ended') onEnded()
    else call.addEventListener('ended', onEnded)
  }

  /** Writes `record`; a failure is reported, never thrown. */
  async add (record: Omit<CallRecord, 'id'>): Promise<void> {
    try {
      await this.#hooks.history().addCall(record)
      this.#hooks.changed('call', record.peer)
    } catch (err) {
      this.#hooks.error(err)
    }
  }

  /** Stores an incoming message; resolves with the stored record. */
  async storeIncoming (m: IncomingMessage): Promise<MessageRecord> {
    const record = await this.#hooks.history().addMessage({
      id: m.id, peer: m.from.aor, direction: 'in', body: m.body, at: m.receivedAt, verified: m.from.authenticated, trust: partyTrust(m.from, this.#hooks.trust), status: 'received'
    })
    this.#hooks.changed('message', record.peer)
    return record
  }
}
