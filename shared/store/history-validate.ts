/**
 * Checks of everything given to the history store: each record is rebuilt with
 * exactly the contract's fields, so nothing malformed or extra is ever stored.
 * Internal to shared/store.
 */
import { MAX_MESSAGE_BYTES } from './constants.ts'
import { InvalidHistoryInputError, MessageTooLargeError } from './errors.ts'
import type { CallOutcome, CallRecord, MessageRecord, NewMessage, TrustSnapshot } from './history-api.ts'

const DIRECTIONS = ['in', 'out'] as const
export const MESSAGE_STATUSES = ['sending', 'sent', 'failed', 'received'] as const
const CALL_OUTCOMES: readonly CallOutcome[] = ['answered', 'missed', 'declined', 'cancelled', 'no-answer', 'failed', 'busy']
/** Longest id or setting key accepted: UUIDs are 36; anything far longer is a bug. */
const MAX_ID_LENGTH = 256
/** Longest peer address: RFC 5321 §4.5.3.1.3 allows 256 octets for a path; sip: URIs a little more. */
const MAX_PEER_LENGTH = 512

export function normalizePeer (value: unknown, field: string): string {
  if (typeof value !== 'string') throw new InvalidHistoryInputError(field, `"${field}" must be an address, got ${typeof value}`)
  const s = value.trim().toLowerCase()
  if (s === '') throw new InvalidHistoryInputError(field, `"${field}" is empty`)
  if (s.length > MAX_PEER_LENGTH) throw new InvalidHistoryInputError(field, `"${field}" is longer than ${MAX_PEER_LENGTH} characters`)
  return s
}

export function checkId (value: unknown, field: string): asserts value is string {
  if (typeof value !== 'string' || value === '' || value.length > MAX_ID_LENGTH) {
    throw new InvalidHistoryInputError(field, `"${field}" must be a non-empty string of at most ${MAX_ID_LENGTH} characters`)
  }
}

export function checkOneOf<T extends string> (value: unknown, allowed: readonly T[], field: string): asserts value is T {
  if (!allowed.includes(value as T)) throw new InvalidHistoryInputError(field, `"${field}" must be one of ${allowed.join(', ')}, got ${String(value)}`)
}

export function checkTime (value: unknown, field: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new InvalidHistoryInputError(field, `"${field}" must be a time in ms since the epoch`)
}

function checkBoolean (value: unknown, field: string): asserts value is boolean {
  if (typeof value !== 'boolean') throw new InvalidHistoryInputError(field, `"${field}" must be true or false`)
}

export function checkLimit (value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || (Number.isFinite(value) && !Number.isInteger(value))) {
    throw new InvalidHistoryInputError('limit', '"limit" must be a whole number of 0 or more')
  }
  return value
}

function utf8Length (s: string): number {
  if (s.length > MAX_MESSAGE_BYTES) return new TextEncoder().encode(s).byteLength // surely too long; exact size for the message
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { n += 4; i++ } else n += 3
  }
  return n
}

const TRUST_LEVELS = ['contact-verified', 'ca-verified', 'known-key', 'key-changed', 'unverified', 'unauthenticated', 'server-asserted'] as const

/** A trust snapshot with only its known fields, or undefined when absent. */
function checkTrust (t: unknown): TrustSnapshot | undefined {
  if (t === undefined) return undefined
  if (t === null || typeof t !== 'object') throw new InvalidHistoryInputError('trust', '"trust" must be an object')
  const v = t as Record<string, unknown>
  checkOneOf(v.level, TRUST_LEVELS, 'trust.level')
  const out: TrustSnapshot = { level: v.level }
  if (v.caName !== undefined) {
    if (typeof v.caName !== 'string') throw new InvalidHistoryInputError('trust.caName', '"trust.caName" must be text')
    out.caName = v.caName
  }
  if (v.since !== undefined) { checkTime(v.since, 'trust.since'); out.since = v.since }
  if (v.reason !== undefined) {
    if (typeof v.reason !== 'string') throw new InvalidHistoryInputError('trust.reason', '"trust.reason" must be text')
    out.reason = v.reason
  }
  if (v.via !== undefined) {
    if (typeof v.via !== 'string') throw new InvalidHistoryInputError('trust.via', '"trust.via" must be text')
    out.via = v.via
  }
  return out
}

export function validateMessage (m: NewMessage, now: () => number): MessageRecord {
  if (m === null || typeof m !== 'object') throw new InvalidHistoryInputError('message', 'A message must be an object')
  const id = m.id ?? randomId()
  checkId(id, 'id')
  const peer = normalizePeer(m.peer, 'peer')
  checkOneOf(m.direction, DIRECTIONS, 'direction')
  if (typeof m.body !== 'string') throw new InvalidHistoryInputError('body', 'A message body must be text')
  const bytes = utf8Length(m.body)
  if (bytes > MAX_MESSAGE_BYTES) throw new MessageTooLargeError(bytes, MAX_MESSAGE_BYTES)
  const at = m.at ?? now()
  checkTime(at, 'at')
  checkBoolean(m.verified, 'verified')
  checkOneOf(m.status, MESSAGE_STATUSES, 'status')
  const trust = checkTrust(m.trust)
  // a fresh object with exactly the contract's fields: nothing else gets stored
  return { id, peer, direction: m.direction, body: m.body, at, verified: m.verified, status: m.status, ...(trust !== undefined ? { trust } : {}) }
}

export function validateCall (c: Partial<CallRecord>, now: () => number): CallRecord {
  if (c === null || typeof c !== 'object') throw new InvalidHistoryInputError('call', 'A call must be an object')
  const id = c.id
  checkId(id, 'id')
  const peer = normalizePeer(c.peer, 'peer')
  checkOneOf(c.direction, DIRECTIONS, 'direction')
  const startedAt = c.startedAt ?? now()
  checkTime(startedAt, 'startedAt')
  if (typeof c.durationMs !== 'number' || !Number.isFinite(c.durationMs) || c.durationMs < 0) {
    throw new InvalidHistoryInputError('durationMs', '"durationMs" must be a number of 0 or more')
  }
  checkOneOf(c.outcome, CALL_OUTCOMES, 'outcome')
  checkBoolean(c.video, 'video')
  checkBoolean(c.verified, 'verified')
  const record: CallRecord = {
    id, peer, direction: c.direction, startedAt, durationMs: c.durationMs, outcome: c.outcome, video: c.video, verified: c.verified
  }
  if (c.displayName !== undefined) {
    if (typeof c.displayName !== 'string') throw new InvalidHistoryInputError('displayName', '"displayName" must be text')
    record.displayName = c.displayName
  }
  const trust = checkTrust(c.trust)
  if (trust !== undefined) record.trust = trust
  if (c.answeredAt !== undefined) { checkTime(c.answeredAt, 'answeredAt'); record.answeredAt = c.answeredAt }
  if (c.endedAt !== undefined) { checkTime(c.endedAt, 'endedAt'); record.endedAt = c.endedAt }
  return record
}

export function randomId (): string {
  const c = globalThis.crypto
  // randomUUID exists only in secure contexts; a page served over plain http on a LAN address has just getRandomValues
  if (typeof c.randomUUID === 'function') return c.randomUUID()
  const b = c.getRandomValues(new Uint8Array(16))
  b[6] = (b[6]! & 0x0f) | 0x40
  b[8] = (b[8]! & 0x3f) | 0x80
  const hex = Array.from(b, x => x.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
