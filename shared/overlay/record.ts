/**
 * Location records: the DHT entry that says where an address can be reached.
 *
 *   key   = "/peerline/" + hex(sha256(aor))
 *   value = utf8(JSON) of a LocationRecord, at most MAX_RECORD_BYTES
 *
 * The record is signed by the identity key named in its certificate, the
 * certificate must name the record's AOR, and every device in it carries a
 * device certificate signed by that identity key for that peer id. Newer
 * records (higher `seq`) replace older ones, never the reverse.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import {
  fromBase64Url, normalizeAor, signObject, utf8, verifyDeviceCertificate, verifyIdentityCertificate,
  verifyObjectSignature, BadSignatureError
} from '../identity/index.ts'
import type { DeviceCertificate, IdentityCertificate, IdentityKeyPair, VerifyCertificateOptions } from '../identity/index.ts'
import { CLOCK_SKEW_MS, MAX_ADDRS_PER_DEVICE, MAX_DEVICES, MAX_RECORD_BYTES, RECORD_NAMESPACE, RECORD_TTL_MS } from './constants.ts'
import { MalformedRecordError, RecordExpiredError, RecordKeyMismatchError, RecordTooLargeError } from './errors.ts'

export interface DeviceEntry {
  peerId: string
  certificate: DeviceCertificate
  /** multiaddrs (strings) where the device can be dialled, relay addresses first */
  addrs: string[]
}

export interface LocationRecord {
  v: 1
  aor: string
  certificate: IdentityCertificate
  devices: DeviceEntry[]
  /** monotonically increasing per AOR; a lower one never replaces a higher one */
  seq: number
  issuedAt: number
  expiresAt: number
  /** b64url Ed25519 signature by certificate.key over the canonical JSON without `sig` */
  sig: string
}

const PREFIX = `/${RECORD_NAMESPACE}/`
const decoder = new TextDecoder('utf-8', { fatal: true })

/** DHT key of an address: `locationKey('Bob@Example.org')` → bytes of "/peerline/5c…" */
export function locationKey (aor: string): Uint8Array {
  return utf8(PREFIX + bytesToHex(sha256(utf8(normalizeAor(aor)))))
}

export interface CreateRecordInit {
  identity: IdentityKeyPair
  certificate: IdentityCertificate
  devices: DeviceEntry[]
  seq: number
  ttlMs?: number
  now?: number
}

export function createLocationRecord (init: CreateRecordInit): LocationRecord {
  const now = init.now ?? Date.now()
  const unsigned: Omit<LocationRecord, 'sig'> = {
    v: 1,
    aor: normalizeAor(init.certificate.email),
    certificate: init.certificate,
    devices: init.devices.slice(0, MAX_DEVICES).map(d => ({ ...d, addrs: d.addrs.slice(0, MAX_ADDRS_PER_DEVICE) })),
    seq: init.seq,
    issuedAt: now,
    expiresAt: now + (init.ttlMs ?? RECORD_TTL_MS)
  }
  return signObject(init.identity.privateKey, unsigned)
}

export function encodeLocationRecord (record: LocationRecord): Uint8Array {
  return utf8(JSON.stringify(record))
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function parse (bytes: Uint8Array): LocationRecord {
  let value: unknown
  try {
    value = JSON.parse(decoder.decode(bytes))
  } catch {
    throw new MalformedRecordError('Location record is not valid UTF-8 JSON')
  }
  if (!isObject(value)) throw new MalformedRecordError('Location record is not a JSON object')
  const r = value
  if (r.v !== 1) throw new MalformedRecordError(`Unsupported location record version ${String(r.v)}`)
  if (typeof r.aor !== 'string') throw new MalformedRecordError('Location record has no address')
  if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 0) throw new MalformedRecordError('Location record has no valid sequence number')
  if (!Number.isFinite(r.issuedAt) || !Number.isFinite(r.expiresAt)) throw new MalformedRecordError('Location record has no valid validity period')
  if (typeof r.sig !== 'string') throw new MalformedRecordError('Location record is not signed')
  if (!Array.isArray(r.devices)) throw new MalformedRecordError('Location record has no device list')
  if (r.devices.length > MAX_DEVICES) throw new MalformedRecordError(`Location record lists ${r.devices.length} devices (limit ${MAX_DEVICES})`)
  for (const d of r.devices as unknown[]) {
    if (!isObject(d) || typeof d.peerId !== 'string' || !Array.isArray(d.addrs) || !d.addrs.every(a => typeof a === 'string')) {
      throw new MalformedRecordError('Location record has a malformed device entry')
    }
    if (d.addrs.length > MAX_ADDRS_PER_DEVICE) throw new MalformedRecordError(`A device lists ${d.addrs.length} addresses (limit ${MAX_ADDRS_PER_DEVICE})`)
  }
  return value as unknown as LocationRecord
}

export interface ValidateRecordOptions {
  now?: number
  /** options for the identity certificate check (trusted CA roots, chain) */
  certificate?: Omit<VerifyCertificateOptions, 'email' | 'now'>
}

/**
 * Checks every rule and returns the record, or throws the error naming the
 * first rule it breaks: RecordTooLargeError, MalformedRecordError,
 * RecordKeyMismatchError, the certificate's own errors (WrongEmailError,
 * BadSignatureError, CertificateExpiredError, UnknownIssuerError…),
 * BadSignatureError for the record signature, RecordExpiredError.
 */
export function validateLocationRecord (key: Uint8Array | undefined, bytes: Uint8Array, options: ValidateRecordOptions = {}): LocationRecord {
  if (bytes.byteLength > MAX_RECORD_BYTES) {
    throw new RecordTooLargeError(`Location record is ${bytes.byteLength} bytes (limit ${MAX_RECORD_BYTES})`)
  }
  const now = options.now ?? Date.now()
  const cache = verifiedCache(options)
  const id = `${key == null ? '' : bytesToHex(key)}:${bytesToHex(sha256(bytes))}`
  const hit = cache.get(id)
  if (hit != null && now >= hit.from && now <= hit.until) return hit.record
  const record = checkLocationRecord(key, bytes, now, options)
  const certs = [record.certificate, ...record.devices.map(d => d.certificate)]
  if (cache.size >= VERIFIED_CACHE_SIZE) cache.delete(cache.keys().next().value as string)
  cache.set(id, {
    record,
    from: Math.max(record.issuedAt, ...certs.map(c => c.notBefore)) - CLOCK_SKEW_MS,
    until: Math.min(record.expiresAt, ...certs.map(c => c.notAfter)) + CLOCK_SKEW_MS
  })
  return record
}

interface Verified { record: LocationRecord, from: number, until: number }

/**
 * Records that passed every check, by key and bytes. The same record arrives
 * from every supernode holding a replica and is checked by kad-dht's
 * validator, its selector and the lookup; each check is three Ed25519
 * verifications (~6 ms in a browser). A hit is only reused inside the
 * validity window of the record and of every certificate in it.
 */
const VERIFIED_CACHE_SIZE = 512
const defaultCache = new Map<string, Verified>()
const cachesByTrust = new WeakMap<object, Map<string, Verified>>()

function verifiedCache (options: ValidateRecordOptions): Map<string, Verified> {
  if (options.certificate == null) return defaultCache
  let cache = cachesByTrust.get(options.certificate)
  if (cache == null) {
    cache = new Map()
    cachesByTrust.set(options.certificate, cache)
  }
  return cache
}

function checkLocationRecord (key: Uint8Array | undefined, bytes: Uint8Array, now: number, options: ValidateRecordOptions): LocationRecord {
  const record = parse(bytes)
  let aor: string
  try {
    aor = normalizeAor(record.aor)
  } catch {
    throw new MalformedRecordError('Location record address is not a valid email address')
  }
  if (aor !== record.aor) throw new MalformedRecordError('Location record address is not normalised')
  if (key != null && !equalBytes(key, locationKey(aor))) {
    throw new RecordKeyMismatchError(`Location record for ${aor} is stored under another address's key`)
  }
  const cert = verifyIdentityCertificate(record.certificate, { ...options.certificate, email: aor, now })
  if (!verifyObjectSignature(fromBase64Url(cert.key), record)) {
    throw new BadSignatureError(`Location record for ${aor} is not signed by the key in its certificate`)
  }
  if (record.expiresAt + CLOCK_SKEW_MS < now) {
    throw new RecordExpiredError(`Location record for ${aor} expired at ${new Date(record.expiresAt).toISOString()}`)
  }
  if (record.issuedAt - CLOCK_SKEW_MS > now) {
    throw new RecordExpiredError(`Location record for ${aor} is issued in the future`)
  }
  for (const device of record.devices) {
    verifyDeviceCertificate(device.certificate, { identityKey: cert.key, peerId: device.peerId, now })
  }
  return record
}

/** Decodes without checking; only for records already validated. */
export function decodeLocationRecord (bytes: Uint8Array): LocationRecord {
  return parse(bytes)
}

/**
 * kad-dht selector: the index of the best record — valid, highest `seq`,
 * then latest expiry. Invalid records never win over valid ones.
 */
export function selectLocationRecord (key: Uint8Array, records: Uint8Array[], options: ValidateRecordOptions = {}): number {
  let best = -1
  let bestRecord: LocationRecord | undefined
  records.forEach((bytes, i) => {
    let r: LocationRecord
    try {
      r = validateLocationRecord(key, bytes, options)
    } catch {
      return
    }
    if (bestRecord == null || isNewer(r, bestRecord)) {
      best = i
      bestRecord = r
    }
  })
  return best === -1 ? 0 : best
}

/** true when `a` should replace `b` */
export function isNewer (a: Pick<LocationRecord, 'seq' | 'expiresAt'>, b: Pick<LocationRecord, 'seq' | 'expiresAt'>): boolean {
  return a.seq > b.seq || (a.seq === b.seq && a.expiresAt > b.expiresAt)
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
