/**
 * Claims: every identity key that says "this address is mine" keeps its own
 * location record in the DHT. One identity's record never replaces
 * another's; the reading client chooses by its own trust (TrustStore.judge).
 *
 *   key   = "/peerline/" + hex(sha256(aor))          (unchanged)
 *   value = a LocationRecord (what a device puts: its own claim), or
 *           utf8(JSON) of LocationClaims { v: 1, kind: 'claims', aor, claims: [record…], since: [ms…] }
 *           (what a supernode stores and serves: one record per identity key)
 *
 * A supernode merges each put into the bundle it holds (supernode/records.ts):
 * a record replaces only the stored record of the same identity key, and only
 * when newer (newer roster first, then higher seq); replays are refused per
 * identity (and per identity after expiry, by tombstones). The bundle is
 * bounded: MAX_CA_CLAIMS claims issued by a CA (issuer ≠ key) and
 * MAX_SELF_ISSUED_CLAIMS self-issued ones, in separate tiers, at most
 * MAX_CLAIMS_PER_ISSUER per CA key. When a tier (or an issuer's share) is full,
 * a new identity takes the slot of the claim whose identity arrived last on
 * that supernode (`since`); claims that keep being republished keep their
 * first arrival time, so a flood of new identities churns one slot and never
 * pushes out the claims that were there before it, and a CA-issued claim is
 * never evicted for a self-issued one. Republishing never gets an identity a
 * second slot. Supernodes trust no CA: "CA-issued" only means the issuer's
 * signature checks; each client decides which CA it trusts.
 *
 * Cost: a lookup is still one DHT get (kad-dht's selector picks one value per
 * key, so the lookup also merges the values of every supernode that answered,
 * from the PEER_RESPONSE events); the answer grows with the claimants, at most
 * MAX_CLAIMS records. A client verifies each claim (a few Ed25519
 * verifications, cached per record).
 */
import { fingerprint, fromBase64Url } from '../identity/index.ts'
import type { TrustLevel } from '../identity/index.ts'
import { MAX_CLAIMS, MAX_CLAIMS_BYTES } from './constants.ts'
import { MalformedRecordError, RecordTooLargeError } from './errors.ts'
import { decodeLocationRecord, encodeLocationRecord, rosterOrder, validateLocationRecord } from './record.ts'
import type { LocationRecord, ValidateRecordOptions } from './record.ts'

/** What a supernode stores under an address: one record per identity key. */
export interface LocationClaims {
  v: 1
  kind: 'claims'
  aor: string
  claims: LocationRecord[]
  /** per claim: when its identity first arrived on the supernode that serves the bundle (its eviction order) */
  since?: number[]
}

/** One identity's claim on an address, as a lookup judges it. */
export interface AddressClaim {
  /** the newest valid record of this identity */
  record: LocationRecord
  /** base64url identity key */
  identityKey: string
  /** the key's fingerprint, for showing */
  fingerprint: string
  /** the certificate is signed by the key itself (anyone can make one) */
  selfIssued: boolean
  /** what this user's trust store says of the key; 'unverified' without a trust store */
  trust: TrustLevel
}

/** Options for certificate checks that accept any issuer whose signature checks (supernodes; collecting claims). */
export const ANY_ISSUER: ValidateRecordOptions['certificate'] = { trust: 'any-issuer' }

const decoder = new TextDecoder('utf-8', { fatal: true })

export function isSelfIssued (record: Pick<LocationRecord, 'certificate'>): boolean {
  return record.certificate.issuer === record.certificate.key
}

/** The fingerprint of a base64url identity key ('' when it is not one). */
export function keyFingerprint (key: string): string {
  try {
    return fingerprint(fromBase64Url(key))
  } catch {
    return ''
  }
}

export function encodeLocationClaims (aor: string, claims: LocationRecord[], since?: number[]): Uint8Array {
  const value: LocationClaims = { v: 1, kind: 'claims', aor, claims, ...(since != null ? { since } : {}) }
  return new TextEncoder().encode(JSON.stringify(value))
}

/**
 * The records a DHT value carries (one for a plain record), unchecked.
 * @throws RecordTooLargeError | MalformedRecordError
 */
export function decodeLocationValue (bytes: Uint8Array): { claims: LocationRecord[], since?: number[], bundle: boolean } {
  if (bytes.byteLength > MAX_CLAIMS_BYTES) throw new RecordTooLargeError(`Location value is ${bytes.byteLength} bytes (limit ${MAX_CLAIMS_BYTES})`)
  let value: unknown
  try {
    value = JSON.parse(decoder.decode(bytes))
  } catch {
    throw new MalformedRecordError('Location record is not valid UTF-8 JSON')
  }
  const v = value as Partial<LocationClaims> | null
  if (typeof v !== 'object' || v === null || v.kind !== 'claims') return { claims: [decodeLocationRecord(bytes)], bundle: false }
  if (v.v !== 1 || typeof v.aor !== 'string' || !Array.isArray(v.claims)) throw new MalformedRecordError('Location claims are malformed')
  if (v.claims.length > MAX_CLAIMS) throw new MalformedRecordError(`Location value carries ${v.claims.length} claims (limit ${MAX_CLAIMS})`)
  if (!v.claims.every(c => typeof c === 'object' && c !== null && !Array.isArray(c))) throw new MalformedRecordError('Location claims hold something that is not a record')
  const since = Array.isArray(v.since) && v.since.length === v.claims.length && v.since.every(s => Number.isFinite(s)) ? v.since : undefined
  return { claims: v.claims, ...(since != null ? { since } : {}), bundle: true }
}

/** One record of a value checked on its own (every rule of validateLocationRecord). */
export function validateClaim (key: Uint8Array | undefined, record: LocationRecord, options: ValidateRecordOptions = {}): LocationRecord {
  return validateLocationRecord(key, encodeLocationRecord(record), options)
}

/**
 * The valid records of a value; the error of the first one when none is
 * valid (what the kad-dht validator throws: a value is kept while one of its
 * claims is good, a bad claim never hides a good one).
 */
export function validateLocationValue (key: Uint8Array | undefined, bytes: Uint8Array, options: ValidateRecordOptions = {}): LocationRecord[] {
  const decoded = decodeLocationValue(bytes)
  // a plain record is checked as the bytes it came in (no re-encoding)
  if (!decoded.bundle) return [validateLocationRecord(key, bytes, options)]
  const valid: LocationRecord[] = []
  let first: Error | undefined
  for (const claim of decoded.claims) {
    try {
      valid.push(validateClaim(key, claim, options))
    } catch (err) {
      first ??= err as Error
    }
  }
  if (valid.length === 0) throw first ?? new MalformedRecordError('Location claims are empty')
  return valid
}

/** Newest record per identity key: for one key a newer roster first, then a higher seq, then a later expiry. */
export function newestPerIdentity (records: Iterable<LocationRecord>): Map<string, LocationRecord> {
  const best = new Map<string, LocationRecord>()
  for (const r of records) {
    const have = best.get(r.certificate.key)
    if (have == null || sameIdentityNewer(r, have)) best.set(r.certificate.key, r)
  }
  return best
}

/** `a` replaces `b`, both of one identity key. */
export function sameIdentityNewer (a: LocationRecord, b: LocationRecord): boolean {
  const order = rosterOrder(a, b)
  if (order !== 0) return order > 0
  return a.seq > b.seq || (a.seq === b.seq && a.expiresAt > b.expiresAt)
}

/**
 * kad-dht selector: the value holding the newest record of the most
 * identities, then the one with the most identities. Lookups merge every
 * value anyway; this only decides which one kad-dht sends as a correction to
 * supernodes that returned another (they merge it in).
 */
export function selectLocationValue (key: Uint8Array, values: Uint8Array[], options: ValidateRecordOptions = {}): number {
  const perValue = values.map(bytes => {
    try {
      return newestPerIdentity(validateLocationValue(key, bytes, options))
    } catch {
      return undefined
    }
  })
  const newest = newestPerIdentity(perValue.flatMap(m => m != null ? [...m.values()] : []))
  let best = 0
  let bestScore: [number, number] = [-1, -1]
  perValue.forEach((claims, i) => {
    if (claims == null) return
    let current = 0
    for (const [identity, r] of claims) if (newest.get(identity)?.sig === r.sig) current++
    const score: [number, number] = [current, claims.size]
    if (score[0] > bestScore[0] || (score[0] === bestScore[0] && score[1] > bestScore[1])) {
      best = i
      bestScore = score
    }
  })
  return best
}
