/**
 * Location records: the DHT entry that says where an address can be reached.
 *
 *   key   = "/peerline/" + hex(sha256(aor))
 *   value = utf8(JSON) of a LocationRecord, at most MAX_RECORD_BYTES
 *
 * The record carries the identity's device roster (signed by the identity
 * key, see shared/identity/roster.ts) and is signed either by the identity
 * key named in its certificate (`signer: 'identity'`, the primary device) or
 * by the libp2p key of a device in that roster (`signer: '<peer id>'`, a
 * linked device, which never holds the identity key). The certificate must
 * name the record's AOR; every device entry must be an active (not revoked)
 * device of the roster and carry a device certificate signed by the identity
 * key for that peer id. Newer records of an identity replace its older ones,
 * never the reverse: a newer roster (higher `roster.seq`) wins first, then the
 * higher `seq`. Records of different identity keys never replace each other:
 * each is its own claim on the address (claims.ts).
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import {
  canonicalJson, createDeviceRoster, fromBase64Url, normalizeAor, rosterDevice, rosterRevocation, signBytes, signObject,
  toBase64Url, utf8, verifyDeviceCertificate, verifyDeviceRoster, verifyIdentityCertificate, verifyObjectSignature,
  BadSignatureError, DeviceRevokedError
} from '../identity/index.ts'
import type {
  DeviceCertificate, DeviceRoster, IdentityCertificate, IdentityKeyPair, VerifyCertificateOptions
} from '../identity/index.ts'
import { CLOCK_SKEW_MS, MAX_ADDRS_PER_DEVICE, MAX_DEVICES, MAX_RECORD_BYTES, RECORD_NAMESPACE, RECORD_TTL_MS } from './constants.ts'
import {
  DeviceNotInRosterError, MalformedRecordError, RecordExpiredError, RecordKeyMismatchError, RecordTooLargeError
} from './errors.ts'

export interface DeviceEntry {
  peerId: string
  certificate: DeviceCertificate
  /** multiaddrs (strings) where the device can be dialled, relay addresses first */
  addrs: string[]
  /** when the device itself last published this entry (other devices carry it over until it goes stale) */
  publishedAt?: number
}

/** Who signed a record: the identity key itself, or a device of the roster (its libp2p peer id). */
export type RecordSigner = 'identity' | string

export interface LocationRecord {
  v: 1
  aor: string
  certificate: IdentityCertificate
  /** the identity's newest device roster, as known to the device that published the record */
  roster: DeviceRoster
  signer: RecordSigner
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
  /** the primary device signs with the identity key (`signer: 'identity'`) */
  identity?: IdentityKeyPair
  /** a linked device signs with its libp2p Ed25519 key: peer id and 32-byte seed */
  device?: { peerId: string, privateKey: Uint8Array }
  certificate: IdentityCertificate
  devices: DeviceEntry[]
  seq: number
  /** the identity's device roster; without one, `identity` signs a roster (seq 1) listing `devices` */
  roster?: DeviceRoster
  ttlMs?: number
  now?: number
}

/**
 * Builds and signs a location record.
 *
 * @example createLocationRecord({ identity, certificate, roster, devices: [entry], seq: Date.now() })
 */
export function createLocationRecord (init: CreateRecordInit): LocationRecord {
  const now = init.now ?? Date.now()
  let roster = init.roster
  if (roster == null) {
    if (init.identity == null) throw new TypeError('A record signed by a device needs the identity\'s roster')
    const own = toBase64Url(init.identity.publicKey)
    const certs = init.devices.map(d => d.certificate).filter(c => c.identity === own)
    roster = createDeviceRoster({ identity: init.identity, seq: 1, devices: certs, now })
  }
  const base: Omit<LocationRecord, 'sig' | 'devices'> = {
    v: 1,
    aor: normalizeAor(init.certificate.email),
    certificate: init.certificate,
    roster,
    signer: init.device != null && init.identity == null ? init.device.peerId : 'identity',
    seq: init.seq,
    issuedAt: now,
    expiresAt: now + (init.ttlMs ?? RECORD_TTL_MS)
  }
  if (init.identity == null && init.device == null) throw new TypeError('createLocationRecord needs `identity` or `device` to sign with')
  const sign = (devices: DeviceEntry[]): LocationRecord => {
    const unsigned: Omit<LocationRecord, 'sig'> = { ...base, devices }
    if (init.identity != null) return signObject(init.identity.privateKey, unsigned)
    return { ...unsigned, sig: toBase64Url(signBytes((init.device as { privateKey: Uint8Array }).privateKey, utf8(canonicalJson(unsigned)))) }
  }
  let devices = init.devices.slice(0, MAX_DEVICES).map(d => ({ ...d, addrs: d.addrs.slice(0, MAX_ADDRS_PER_DEVICE) }))
  let record = sign(devices)
  // 8 devices with 8 addresses each, a full roster and its revocations can pass MAX_RECORD_BYTES:
  // first fewer addresses per device (relay addresses come first and stay), then the stalest other devices go
  let addrs = Math.max(0, ...devices.map(d => d.addrs.length))
  while (encodeLocationRecord(record).byteLength > MAX_RECORD_BYTES) {
    if (addrs > 1) {
      addrs--
      devices = devices.map(d => ({ ...d, addrs: d.addrs.slice(0, addrs) }))
    } else if (devices.length > 1) {
      // devices[0] is the publishing device itself; drop the entry published longest ago
      let stalest = 1
      const age = (i: number): number => devices[i]?.publishedAt ?? 0
      for (let i = 2; i < devices.length; i++) if (age(i) < age(stalest)) stalest = i
      devices = devices.filter((_, i) => i !== stalest)
    } else {
      throw new RecordTooLargeError(`Location record for ${base.aor} is ${encodeLocationRecord(record).byteLength} bytes even with one device (limit ${MAX_RECORD_BYTES})`)
    }
    record = sign(devices)
  }
  return record
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
  if (typeof r.signer !== 'string' || r.signer === '') throw new MalformedRecordError('Location record does not say who signed it ("signer")')
  if (!isObject(r.roster)) throw new MalformedRecordError('Location record has no device roster')
  if (!Array.isArray(r.devices)) throw new MalformedRecordError('Location record has no device list')
  if (r.devices.length > MAX_DEVICES) throw new MalformedRecordError(`Location record lists ${r.devices.length} devices (limit ${MAX_DEVICES})`)
  for (const d of r.devices as unknown[]) {
    if (!isObject(d) || typeof d.peerId !== 'string' || !Array.isArray(d.addrs) || !d.addrs.every(a => typeof a === 'string')) {
      throw new MalformedRecordError('Location record has a malformed device entry')
    }
    if (d.addrs.length > MAX_ADDRS_PER_DEVICE) throw new MalformedRecordError(`A device lists ${d.addrs.length} addresses (limit ${MAX_ADDRS_PER_DEVICE})`)
    if (d.publishedAt !== undefined && !Number.isFinite(d.publishedAt)) throw new MalformedRecordError('A device entry has an invalid "publishedAt"')
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
 * MalformedRosterError / BadSignatureError for the roster,
 * DeviceRevokedError / DeviceNotInRosterError for a signer or device entry
 * the roster does not allow, BadSignatureError for the record signature,
 * RecordExpiredError.
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
  const signerCert = record.signer === 'identity' ? [] : [rosterDevice(record.roster, record.signer) as DeviceCertificate]
  const certs = [record.certificate, ...record.devices.map(d => d.certificate), ...signerCert]
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
  if (record.signer === 'identity' && !verifyObjectSignature(fromBase64Url(cert.key), record)) {
    throw new BadSignatureError(`Location record for ${aor} is not signed by the key in its certificate`)
  }
  let roster: DeviceRoster
  try {
    roster = verifyDeviceRoster(record.roster, { identityKey: cert.key })
  } catch (err) {
    const e = err as Error
    e.message = `Location record for ${aor}: ${e.message}`
    throw e
  }
  if (record.signer !== 'identity') checkDeviceSignature(record, roster, aor, now)
  if (record.expiresAt + CLOCK_SKEW_MS < now) {
    throw new RecordExpiredError(`Location record for ${aor} expired at ${new Date(record.expiresAt).toISOString()}`)
  }
  if (record.issuedAt - CLOCK_SKEW_MS > now) {
    throw new RecordExpiredError(`Location record for ${aor} is issued in the future`)
  }
  // seqs are times (see Overlay.publish): a seq or lifetime far ahead would block every later record of the address
  if (record.seq > record.issuedAt + CLOCK_SKEW_MS) {
    throw new MalformedRecordError(`Location record for ${aor} has sequence ${record.seq}, ahead of its issue time ${record.issuedAt} by more than the tolerated clock skew`)
  }
  if (record.expiresAt - record.issuedAt > RECORD_TTL_MS + CLOCK_SKEW_MS) {
    throw new MalformedRecordError(`Location record for ${aor} is valid for ${record.expiresAt - record.issuedAt} ms (limit ${RECORD_TTL_MS + CLOCK_SKEW_MS})`)
  }
  const listed = new Set<string>()
  for (const device of record.devices) {
    requireActiveDevice(roster, device.peerId, aor, 'lists')
    if (listed.has(device.peerId)) throw new MalformedRecordError(`Location record for ${aor} lists device ${device.peerId} twice`)
    listed.add(device.peerId)
    verifyDeviceCertificate(device.certificate, { identityKey: cert.key, peerId: device.peerId, now })
  }
  return record
}

/** A device-signed record: the signer is an active roster device and its libp2p key signed the record. */
function checkDeviceSignature (record: LocationRecord, roster: DeviceRoster, aor: string, now: number): void {
  const cert = requireActiveDevice(roster, record.signer, aor, 'is signed by')
  verifyDeviceCertificate(cert, { identityKey: roster.identity, peerId: record.signer, now })
  let raw: Uint8Array | undefined
  try {
    const peer = peerIdFromString(record.signer)
    if (peer.type === 'Ed25519') raw = peer.publicKey.raw
  } catch { /* not a peer id: no key */ }
  if (raw == null) throw new BadSignatureError(`Location record for ${aor} is signed by ${record.signer.slice(0, 60)}, whose peer id carries no Ed25519 key`)
  if (!verifyObjectSignature(raw, record)) {
    throw new BadSignatureError(`Location record for ${aor} is not signed by the key of device ${record.signer}`)
  }
}

function requireActiveDevice (roster: DeviceRoster, peerId: string, aor: string, verb: string): DeviceCertificate {
  const revoked = rosterRevocation(roster, peerId)
  if (revoked != null) {
    throw new DeviceRevokedError(`Location record for ${aor} ${verb} device "${revoked.name}" (${peerId}), revoked at ${new Date(revoked.revokedAt).toISOString()}`)
  }
  const cert = rosterDevice(roster, peerId)
  if (cert == null) throw new DeviceNotInRosterError(`Location record for ${aor} ${verb} device ${peerId.slice(0, 60)}, which is not in the identity's device roster (seq ${roster.seq})`)
  return cert
}

/** Decodes without checking; only for records already validated. */
export function decodeLocationRecord (bytes: Uint8Array): LocationRecord {
  return parse(bytes)
}

/**
 * The index of the best of several plain records — valid, highest `seq`,
 * then latest expiry. Invalid records never win over valid ones. (The
 * DHT's selector is claims.ts `selectLocationValue`, which never ranks one
 * identity over another.)
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

type Ordered = Pick<LocationRecord, 'seq' | 'expiresAt'> & { roster?: Pick<DeviceRoster, 'seq' | 'identity'> }

/**
 * true when `a` should replace `b`: for the same identity key a newer roster
 * first (a revoked device cannot win with an old roster and a high seq),
 * then a higher seq, then a later expiry. Rosters of different keys are not
 * comparable: seq decides here, but nothing uses that to let one identity
 * replace another (claims are kept per identity, see claims.ts).
 */
export function isNewer (a: Ordered, b: Ordered): boolean {
  const rosterA = rosterOrder(a, b)
  if (rosterA !== 0) return rosterA > 0
  return a.seq > b.seq || (a.seq === b.seq && a.expiresAt > b.expiresAt)
}

/** >0 when `a` carries a newer roster of the same identity than `b`, <0 when older, 0 otherwise. */
export function rosterOrder (a: Pick<Ordered, 'roster'>, b: Pick<Ordered, 'roster'>): number {
  if (a.roster == null || b.roster == null || a.roster.identity !== b.roster.identity) return 0
  return a.roster.seq - b.roster.seq
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
