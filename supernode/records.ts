/**
 * What a supernode adds to kad-dht's record handling:
 * - a guard on its datastore so that an older location record (older
 *   device roster, or same roster and lower seq) never replaces a newer
 *   one — kad-dht's PUT_VALUE handler validates a record but does not
 *   compare it with the one already stored;
 * - counters of refused records by reason, for /health;
 * - a sweeper that drops expired location records so memory stays bounded,
 *   leaving a small tombstone (identity key, highest roster seq and record
 *   seq) per key, so that once a record expired the guard still refuses a
 *   replay of an older roster (a revoked device whose certificate is still
 *   valid re-putting the roster that listed it).
 */
import { Libp2pRecord } from '@libp2p/record'
import { Key } from 'interface-datastore'
import type { Datastore } from 'interface-datastore'
import { decodeLocationRecord, isNewer, rosterOrder, RECORD_NAMESPACE, StaleRecordError, CLOCK_SKEW_MS, RECORD_TTL_MS } from '../shared/overlay/index.ts'
import type { LocationRecord } from '../shared/overlay/index.ts'
import { DEVICE_CERT_VALIDITY_MS } from '../shared/identity/index.ts'
import { logger } from '../shared/util/logger.ts'

const log = logger('supernode:records')
const RECORD_PREFIX = '/dht/record/'
const NAMESPACE_PREFIX = `/${RECORD_NAMESPACE}/`
const decoder = new TextDecoder()
/** /health reason for a record refused because its device roster is older than the stored one's. */
export const STALE_ROSTER = 'StaleRosterError'
/** Datastore prefix of the tombstones the sweeper leaves for expired location records. */
export const TOMBSTONE_PREFIX = '/peerline-tombstone/'
/**
 * How long a tombstone is kept: a replayed roster can only list devices whose
 * certificates are still valid, and a device certificate lives at most
 * DEVICE_CERT_VALIDITY_MS (30 days), plus the tolerated clock skew.
 */
export const TOMBSTONE_TTL_MS = DEVICE_CERT_VALIDITY_MS + CLOCK_SKEW_MS
/** Tombstones kept at most (~200 bytes each: ~10 MB); the oldest are dropped first. */
export const MAX_TOMBSTONES = 50_000

/** What is left of a swept location record: enough to order a later one against it. */
export interface Tombstone {
  identity: string
  rosterSeq: number
  seq: number
  expiresAt: number
  sweptAt: number
}

function tombstoneKey (recordKey: Key): Key {
  return new Key(TOMBSTONE_PREFIX + recordKey.toString().slice(RECORD_PREFIX.length))
}

function parseTombstone (bytes: Uint8Array): Tombstone | undefined {
  try {
    const t = JSON.parse(decoder.decode(bytes)) as Partial<Tombstone>
    if (typeof t.identity !== 'string' || !Number.isSafeInteger(t.rosterSeq) || !Number.isSafeInteger(t.seq) ||
      !Number.isFinite(t.expiresAt) || !Number.isFinite(t.sweptAt)) return undefined
    return t as Tombstone
  } catch {
    return undefined
  }
}

/** The value at `key`, or undefined when none is stored: one read, where has() then get() would be two per put. */
async function getIfStored (store: Datastore, key: Key, options?: any): Promise<Uint8Array | undefined> {
  try {
    return await store.get(key, options)
  } catch (err) {
    if ((err as Error).name === 'NotFoundError') return undefined
    throw err
  }
}

async function readTombstone (store: Datastore, recordKey: Key, options?: any): Promise<Tombstone | undefined> {
  const bytes = await getIfStored(store, tombstoneKey(recordKey), options)
  return bytes !== undefined ? parseTombstone(bytes) : undefined
}

/** false for a record whose seq or lifetime reaches further ahead than validators now allow (see validateLocationRecord) */
function orderable (r: Pick<LocationRecord, 'seq' | 'issuedAt' | 'expiresAt'>): boolean {
  return r.seq <= r.issuedAt + CLOCK_SKEW_MS && r.expiresAt - r.issuedAt <= RECORD_TTL_MS + CLOCK_SKEW_MS
}

function asOrdered (t: Tombstone): Pick<LocationRecord, 'seq' | 'expiresAt'> & { roster: { identity: string, seq: number } } {
  return { seq: t.seq, expiresAt: t.expiresAt, roster: { identity: t.identity, seq: t.rosterSeq } }
}

export class RecordStats {
  readonly rejected: Record<string, number> = {}
  stored = 0
  swept = 0
  reject (reason: string): void {
    this.rejected[reason] = (this.rejected[reason] ?? 0) + 1
  }
}

function isLocationRecordKey (key: Key): boolean {
  return key.toString().startsWith(RECORD_PREFIX)
}

function peerlineValue (raw: Uint8Array): { value: Uint8Array } | undefined {
  const rec = Libp2pRecord.deserialize(raw)
  return decoder.decode(rec.key).startsWith(NAMESPACE_PREFIX) ? { value: rec.value } : undefined
}

/** Wraps a datastore so stale location records are refused (StaleRecordError). */
export function guardRecords (inner: Datastore, stats: RecordStats): Datastore {
  /** What a new record for `key` is ordered against: the stored record, else the tombstone of a swept one. */
  const storedOrder = async (key: Key, options?: any): Promise<ReturnType<typeof asOrdered> | undefined> => {
    const bytes = await getIfStored(inner, key, options)
    const existing = bytes !== undefined ? peerlineValue(bytes) : undefined
    if (existing != null) {
      const stored = decodeLocationRecord(existing.value)
      // one stored before validators refused far-ahead seqs must not block every later record
      if (orderable(stored)) return stored
    }
    // the record expired and was swept: its tombstone still orders replays
    const tomb = await readTombstone(inner, key, options)
    return tomb != null ? asOrdered(tomb) : undefined
  }
  const put = async (key: Key, value: Uint8Array, options?: any): Promise<Key> => {
    const incoming = isLocationRecordKey(key) ? peerlineValue(value) : undefined
    if (incoming != null) {
      const a = await storedOrder(key, options)
      if (a != null) {
        const b = decodeLocationRecord(incoming.value)
        if (rosterOrder(a, b) > 0) {
          // a replay of a roster that still listed a since-revoked device
          stats.reject(STALE_ROSTER)
          throw new StaleRecordError(`Refused location record for ${b.aor} with device roster ${b.roster.seq}: roster ${a.roster.seq} is stored`)
        }
        if (isNewer(a, b)) {
          stats.reject(StaleRecordError.name)
          throw new StaleRecordError(`Refused location record for ${b.aor} with sequence ${b.seq}: ${a.seq} is stored`)
        }
      }
      stats.stored++
    }
    return inner.put(key, value, options)
  }
  return new Proxy(inner, {
    get (target, prop) {
      if (prop === 'put') return put
      const v = Reflect.get(target, prop, target)
      return typeof v === 'function' ? v.bind(target) : v
    }
  })
}

/**
 * Counts stored location records and deletes the expired ones, leaving a
 * tombstone for each; drops tombstones older than TOMBSTONE_TTL_MS and the
 * oldest beyond MAX_TOMBSTONES.
 */
export async function sweepRecords (store: Datastore, stats: RecordStats, now = Date.now(), maxTombstones = MAX_TOMBSTONES): Promise<number> {
  let live = 0
  for await (const { key, value } of store.query({ prefix: RECORD_PREFIX.slice(0, -1) })) {
    let expired: boolean
    let record: LocationRecord | undefined
    try {
      const rec = peerlineValue(value)
      if (rec == null) continue
      record = decodeLocationRecord(rec.value)
      expired = record.expiresAt + CLOCK_SKEW_MS < now
    } catch {
      expired = true // unreadable: it can never be served, so it only costs memory
    }
    if (expired) {
      if (record != null && orderable(record)) await leaveTombstone(store, key, record, now)
      await store.delete(key)
      stats.swept++
      log('swept %s', key.toString())
    } else {
      live++
    }
  }
  await sweepTombstones(store, now, maxTombstones)
  return live
}

/** Keeps the highest roster seq and record seq of a swept record (merged with an older tombstone of the same key). */
async function leaveTombstone (store: Datastore, key: Key, record: LocationRecord, now: number): Promise<void> {
  let next: Tombstone = { identity: record.roster.identity, rosterSeq: record.roster.seq, seq: record.seq, expiresAt: record.expiresAt, sweptAt: now }
  const old = await readTombstone(store, key)
  if (old != null && isNewer(asOrdered(old), asOrdered(next))) next = { ...old, sweptAt: now }
  await store.put(tombstoneKey(key), new TextEncoder().encode(JSON.stringify(next)))
}

async function sweepTombstones (store: Datastore, now: number, max: number): Promise<void> {
  const kept: Array<{ key: Key, sweptAt: number }> = []
  for await (const { key, value } of store.query({ prefix: TOMBSTONE_PREFIX.slice(0, -1) })) {
    const t = parseTombstone(value)
    if (t == null || t.sweptAt + TOMBSTONE_TTL_MS < now) await store.delete(key)
    else kept.push({ key, sweptAt: t.sweptAt })
  }
  if (kept.length <= max) return
  kept.sort((a, b) => a.sweptAt - b.sweptAt)
  for (const { key } of kept.slice(0, kept.length - max)) await store.delete(key)
}

export { Key }
