/**
 * What a supernode adds to kad-dht's record handling:
 * - a guard on its datastore that keeps claims per identity (see
 *   shared/overlay/claims.ts): a put is merged into the claims stored under
 *   the address instead of replacing them. A record replaces only the stored
 *   record of the same identity key, and only when it is newer (newer device
 *   roster first, then higher seq) — kad-dht's PUT_VALUE handler validates a
 *   record but does not compare it with the one already stored. Claims are
 *   bounded per address (MAX_CA_CLAIMS CA-issued, MAX_SELF_ISSUED_CLAIMS
 *   self-issued, MAX_CLAIMS_PER_ISSUER per CA key); a new identity in a full
 *   tier takes the slot of the claim that arrived last (`mergeClaims`);
 * - counters of refused records by reason, and of evicted claims, for /health;
 * - a sweeper that drops expired claims so memory stays bounded, leaving a
 *   small tombstone (identity key, highest roster seq and record seq) per
 *   address and identity, also for evicted claims, so that the guard still
 *   refuses a replay of an older roster (a revoked device whose certificate
 *   is still valid re-putting the roster that listed it).
 */
import { Libp2pRecord } from '@libp2p/record'
import { Key } from 'interface-datastore'
import type { Datastore } from 'interface-datastore'
import {
  decodeLocationValue, encodeLocationClaims, isSelfIssued, rosterOrder, sameIdentityNewer, validateClaim, ANY_ISSUER,
  MAX_CA_CLAIMS, MAX_CLAIMS_PER_ISSUER, MAX_SELF_ISSUED_CLAIMS, RECORD_NAMESPACE, StaleRecordError, CLOCK_SKEW_MS, RECORD_TTL_MS
} from '../shared/overlay/index.ts'
import type { LocationRecord, ValidateRecordOptions } from '../shared/overlay/index.ts'
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

function tombstoneKey (recordKey: Key, identity: string): Key {
  return new Key(`${TOMBSTONE_PREFIX}${recordKey.toString().slice(RECORD_PREFIX.length)}/${identity}`)
}

/** Where a tombstone was kept before claims were per identity (one per address). */
function legacyTombstoneKey (recordKey: Key): Key {
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

async function readTombstone (store: Datastore, recordKey: Key, identity: string, options?: any): Promise<Tombstone | undefined> {
  const bytes = await getIfStored(store, tombstoneKey(recordKey, identity), options)
  if (bytes !== undefined) return parseTombstone(bytes)
  const legacy = await getIfStored(store, legacyTombstoneKey(recordKey), options)
  const t = legacy !== undefined ? parseTombstone(legacy) : undefined
  return t?.identity === identity ? t : undefined
}

/** false for a record whose seq or lifetime reaches further ahead than validators now allow (see validateLocationRecord) */
function orderable (r: Pick<LocationRecord, 'seq' | 'issuedAt' | 'expiresAt'>): boolean {
  return r.seq <= r.issuedAt + CLOCK_SKEW_MS && r.expiresAt - r.issuedAt <= RECORD_TTL_MS + CLOCK_SKEW_MS
}

type Ordered = Pick<LocationRecord, 'seq' | 'expiresAt'> & { roster: { identity: string, seq: number } }

function asOrdered (t: Tombstone): Ordered {
  return { seq: t.seq, expiresAt: t.expiresAt, roster: { identity: t.identity, seq: t.rosterSeq } }
}

/** For one identity: `a` replaces `b` (newer roster first, then higher seq, then later expiry). */
function newer (a: Ordered, b: Ordered): boolean {
  return sameIdentityNewer(a as LocationRecord, b as LocationRecord)
}

export class RecordStats {
  readonly rejected: Record<string, number> = {}
  stored = 0
  swept = 0
  /** claims dropped to make room for another identity's (bounds in shared/overlay/constants.ts) */
  evicted = 0
  /** live claims counted by the last sweep */
  claims = 0
  reject (reason: string): void {
    this.rejected[reason] = (this.rejected[reason] ?? 0) + 1
  }
}

function isLocationRecordKey (key: Key): boolean {
  return key.toString().startsWith(RECORD_PREFIX)
}

function peerlineValue (raw: Uint8Array): Libp2pRecord | undefined {
  const rec = Libp2pRecord.deserialize(raw)
  return decoder.decode(rec.key).startsWith(NAMESPACE_PREFIX) ? rec : undefined
}

/** A claim a supernode holds, with when its identity first arrived here (its eviction order). */
export interface StoredClaim { record: LocationRecord, since: number }

export interface MergeBounds { ca?: number, selfIssued?: number, perIssuer?: number }

export interface MergeResult {
  claims: StoredClaim[]
  /** incoming records taken (new identities, or newer records of stored ones) */
  accepted: LocationRecord[]
  /** incoming records refused as older than what is stored (or tombstoned) for their identity */
  stale: Array<{ record: LocationRecord, reason: string, message: string }>
  /** claims dropped to make room */
  evicted: StoredClaim[]
}

/**
 * Merges `incoming` records (already validated, unexpired) into the claims
 * stored for one address.
 *
 * - one claim per identity key; a record replaces its identity's claim only
 *   when newer (newer roster first, then seq), keeping its arrival time, so
 *   republishing never earns a second slot or a later place;
 * - `against(identity)`: a tombstone of an identity with no stored claim;
 * - two tiers that never take each other's slots: CA-issued (issuer ≠ key,
 *   bound `ca`) and self-issued (bound `selfIssued`), and at most `perIssuer`
 *   claims per CA key. A new identity arriving at a full tier (or issuer
 *   share) evicts the claim of that tier (or issuer) whose identity arrived
 *   last: claims present before a flood keep their slots, the flood churns
 *   one slot, and a CA-issued claim is never evicted for a self-issued one.
 */
export function mergeClaims (stored: StoredClaim[], incoming: LocationRecord[], now: number, against: (identity: string) => Ordered | undefined = () => undefined, bounds: MergeBounds = {}): MergeResult {
  const claims = stored.slice()
  const result: MergeResult = { claims, accepted: [], stale: [], evicted: [] }
  const limits = { ca: bounds.ca ?? MAX_CA_CLAIMS, self: bounds.selfIssued ?? MAX_SELF_ISSUED_CLAIMS, issuer: bounds.perIssuer ?? MAX_CLAIMS_PER_ISSUER }
  for (const record of incoming) {
    const identity = record.certificate.key
    const i = claims.findIndex(c => c.record.certificate.key === identity)
    const held = i >= 0 ? claims[i] as StoredClaim : undefined
    const base: Ordered | undefined = held != null ? held.record : against(identity)
    if (base != null) {
      if (rosterOrder(base, record) > 0) {
        result.stale.push({ record, reason: STALE_ROSTER, message: `Refused location record for ${record.aor} with device roster ${record.roster.seq}: roster ${base.roster.seq} is stored` })
        continue
      }
      if (newer(base, record)) {
        result.stale.push({ record, reason: StaleRecordError.name, message: `Refused location record for ${record.aor} with sequence ${record.seq}: ${base.seq} is stored` })
        continue
      }
    }
    if (held != null) {
      claims[i] = { record, since: held.since }
      result.accepted.push(record)
      continue
    }
    const self = isSelfIssued(record)
    const tier = claims.filter(c => isSelfIssued(c.record) === self)
    const lastArrived = (of: StoredClaim[]): StoredClaim | undefined => of.reduce<StoredClaim | undefined>((a, c) => a == null || c.since >= a.since ? c : a, undefined)
    let victim: StoredClaim | undefined
    if (!self) {
      const sameIssuer = tier.filter(c => c.record.certificate.issuer === record.certificate.issuer)
      if (sameIssuer.length >= limits.issuer) victim = lastArrived(sameIssuer)
    }
    if (victim == null && tier.length >= (self ? limits.self : limits.ca)) victim = lastArrived(tier)
    if (victim != null) {
      claims.splice(claims.indexOf(victim), 1)
      result.evicted.push(victim)
    }
    claims.push({ record, since: now })
    result.accepted.push(record)
  }
  return result
}

/** The claims stored at `key` (unreadable ones dropped), split into live and expired. */
function storedClaims (raw: Uint8Array | undefined, now: number): { live: StoredClaim[], expired: LocationRecord[] } {
  const out = { live: [] as StoredClaim[], expired: [] as LocationRecord[] }
  if (raw === undefined) return out
  let decoded
  try {
    const rec = peerlineValue(raw)
    if (rec == null) return out
    decoded = decodeLocationValue(rec.value)
  } catch {
    return out
  }
  decoded.claims.forEach((record, i) => {
    if (typeof record.expiresAt !== 'number' || typeof record.certificate?.key !== 'string' || !isObjectRoster(record)) return
    // one stored before validators refused far-ahead seqs must not block every later record
    if (!orderable(record)) return
    if (record.expiresAt + CLOCK_SKEW_MS < now) out.expired.push(record)
    else out.live.push({ record, since: decoded.since?.[i] ?? 0 })
  })
  return out
}

function isObjectRoster (r: LocationRecord): boolean {
  return typeof r.roster === 'object' && r.roster !== null && typeof r.roster.seq === 'number' && typeof r.roster.identity === 'string'
}

export interface GuardOptions {
  /** record checks for each claim of a put (default: any issuer whose signature checks, as supernodes use) */
  recordOptions?: ValidateRecordOptions
  bounds?: MergeBounds
}

/**
 * Wraps a datastore so a location put is merged into the claims stored
 * under its address (see mergeClaims); a put that brings nothing newer is
 * refused (StaleRecordError, counted as StaleRosterError for an older
 * roster). Puts to one key are applied one at a time.
 */
export function guardRecords (inner: Datastore, stats: RecordStats, options: GuardOptions = {}): Datastore {
  const recordOptions = options.recordOptions ?? { certificate: ANY_ISSUER }
  const pending = new Map<string, Promise<unknown>>()
  const mergePut = async (key: Key, rec: Libp2pRecord, opts?: any): Promise<Key> => {
    const now = Date.now()
    const incoming: LocationRecord[] = []
    let invalid: Error | undefined
    const decoded = decodeLocationValue(rec.value)
    for (const claim of decoded.claims) {
      try {
        incoming.push(validateClaim(rec.key, claim, recordOptions))
      } catch (err) {
        invalid ??= err as Error
      }
    }
    if (incoming.length === 0) throw invalid ?? new StaleRecordError('Location value carries no claim')
    const { live, expired } = storedClaims(await getIfStored(inner, key, opts), now)
    const tombs = new Map<string, Tombstone>()
    for (const r of incoming) {
      if (live.some(c => c.record.certificate.key === r.certificate.key)) continue
      const t = await readTombstone(inner, key, r.certificate.key, opts)
      if (t != null) tombs.set(r.certificate.key, t)
    }
    const merged = mergeClaims(live, incoming, now, id => {
      const t = tombs.get(id)
      return t != null ? asOrdered(t) : undefined
    }, options.bounds)
    // a value of several claims is another supernode's (kad-dht's correction): nothing newer in it is no error
    if (merged.accepted.length === 0 && decoded.bundle) return key
    if (merged.accepted.length === 0) {
      const first = merged.stale[0]
      stats.reject(first?.reason ?? StaleRecordError.name)
      throw new StaleRecordError(first?.message ?? 'Location record is older than the one stored')
    }
    for (const r of [...expired, ...merged.evicted.map(c => c.record)]) await leaveTombstone(inner, key, r, now)
    stats.stored++
    stats.evicted += merged.evicted.length
    if (merged.evicted.length > 0) log('%s: %d claim(s) evicted for new identities', key.toString(), merged.evicted.length)
    const aor = (incoming[0] as LocationRecord).aor
    const value = encodeLocationClaims(aor, merged.claims.map(c => c.record), merged.claims.map(c => c.since))
    return await inner.put(key, new Libp2pRecord(rec.key, value, rec.timeReceived).serialize(), opts)
  }
  const put = async (key: Key, value: Uint8Array, opts?: any): Promise<Key> => {
    const rec = isLocationRecordKey(key) ? peerlineValue(value) : undefined
    if (rec == null) return await inner.put(key, value, opts)
    const id = key.toString()
    const run = (pending.get(id) ?? Promise.resolve()).then(async () => await mergePut(key, rec, opts))
    const tail = run.catch(() => {})
    pending.set(id, tail)
    tail.finally(() => { if (pending.get(id) === tail) pending.delete(id) }).catch(() => {})
    return await run
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
 * Counts the addresses with live claims (and the claims, in `stats.claims`),
 * drops expired claims leaving a tombstone for each, deletes values with none
 * left; drops tombstones older than TOMBSTONE_TTL_MS and the oldest beyond
 * MAX_TOMBSTONES.
 */
export async function sweepRecords (store: Datastore, stats: RecordStats, now = Date.now(), maxTombstones = MAX_TOMBSTONES): Promise<number> {
  let live = 0
  let claims = 0
  for await (const { key, value } of store.query({ prefix: RECORD_PREFIX.slice(0, -1) })) {
    let rec: Libp2pRecord | undefined
    try {
      rec = peerlineValue(value)
      if (rec == null) continue
      decodeLocationValue(rec.value)
    } catch {
      // unreadable: it can never be served, so it only costs memory
      await store.delete(key)
      stats.swept++
      continue
    }
    const held = storedClaims(value, now)
    for (const r of held.expired) await leaveTombstone(store, key, r, now)
    if (held.live.length === 0) {
      await store.delete(key)
      stats.swept++
      log('swept %s', key.toString())
      continue
    }
    if (held.expired.length > 0) {
      stats.swept += held.expired.length
      const kept = encodeLocationClaims(held.live[0]?.record.aor ?? '', held.live.map(c => c.record), held.live.map(c => c.since))
      await store.put(key, new Libp2pRecord(rec.key, kept, rec.timeReceived).serialize())
    }
    live++
    claims += held.live.length
  }
  stats.claims = claims
  await sweepTombstones(store, now, maxTombstones)
  return live
}

/** Keeps the highest roster seq and record seq of a dropped claim (merged with an older tombstone of the same identity). */
async function leaveTombstone (store: Datastore, key: Key, record: LocationRecord, now: number): Promise<void> {
  if (!orderable(record)) return
  let next: Tombstone = { identity: record.roster.identity, rosterSeq: record.roster.seq, seq: record.seq, expiresAt: record.expiresAt, sweptAt: now }
  const old = await readTombstone(store, key, next.identity)
  if (old != null && newer(asOrdered(old), asOrdered(next))) next = { ...old, sweptAt: now }
  await store.put(tombstoneKey(key, next.identity), new TextEncoder().encode(JSON.stringify(next)))
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
