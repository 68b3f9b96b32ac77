/**
 * Safety numbers: a fingerprint of both parties' identity keys that two people
 * compare (read aloud, or by scanning a QR code) to rule out a man in the
 * middle. Same construction as Signal's numeric fingerprints: per party,
 * SHA-512 over version || key || address, iterated over hash || key; the first
 * 30 bytes give 30 digits; the two halves are sorted so both sides show the
 * same 60 digits.
 *
 * ```ts
 * const n = safetyNumber({ aor: me.email, key: me.publicKey }, { aor: 'bob@example.org', key: bobKey })
 * n.digits    // '12345 67890 …' (12 groups of 5)
 * matchSafetyQr(scannedFromBob, mine, theirs) // true when Bob sees the same keys
 * ```
 */
import { sha512 } from '@noble/hashes/sha2.js'
import { normalizeAor } from './address.ts'
import { PUBLIC_KEY_LENGTH } from './constants.ts'
import { fromBase64Url, toBase64Url, utf8 } from './encoding.ts'

/** Version of Peerline's safety-number construction, hashed in so a future change cannot collide. */
export const SAFETY_NUMBER_VERSION = 1

/** Hash iterations per party: Signal's NumericFingerprintGenerator uses 5200, which makes a search for a colliding key costly. */
export const SAFETY_NUMBER_ITERATIONS = 5200

/** Bytes of the per-party hash put in the QR payload: 32, as in Signal's scannable fingerprint. */
const QR_FINGERPRINT_BYTES = 32

/** 6 chunks of 5 bytes → 6 × 5 digits per party (Signal's encoding). */
const CHUNKS_PER_PARTY = 6
const CHUNK_BYTES = 5
const DIGITS_PER_CHUNK = 5

/** Prefix of QR payloads, so another QR code is recognised as such. */
const QR_PREFIX = 'peerline-safety'

export interface SafetyParty {
  /** the party's address (normalised here) */
  aor: string
  /** base64url or raw 32-byte Ed25519 identity key */
  key: string | Uint8Array
}

export interface SafetyNumber {
  /** 60 digits in 12 groups of 5, separated by single spaces; identical on both sides */
  digits: string
  /** what this side's QR code encodes: `peerline-safety:1:<mine>:<theirs>` (base64url hashes) */
  qrPayload: string
}

/** The safety number of a conversation between `mine` and `theirs`. @throws TypeError (bad key) | InvalidAddressError */
export function safetyNumber (mine: SafetyParty, theirs: SafetyParty): SafetyNumber {
  const a = partyHash(mine)
  const b = partyHash(theirs)
  const da = digitsOf(a)
  const db = digitsOf(b)
  const all = da <= db ? da + db : db + da
  const groups = all.match(/\d{5}/g) ?? []
  return {
    digits: groups.join(' '),
    qrPayload: `${QR_PREFIX}:${SAFETY_NUMBER_VERSION}:${toBase64Url(a.subarray(0, QR_FINGERPRINT_BYTES))}:${toBase64Url(b.subarray(0, QR_FINGERPRINT_BYTES))}`
  }
}

/**
 * True when `payload` is the other side's QR payload for the same two keys:
 * their "mine" is our "theirs" and the other way round. Anything else
 * (another version, another QR code, a changed key) is false.
 */
export function matchSafetyQr (payload: string, mine: SafetyParty, theirs: SafetyParty): boolean {
  if (typeof payload !== 'string') return false
  const parts = payload.trim().split(':')
  if (parts.length !== 4 || parts[0] !== QR_PREFIX || parts[1] !== String(SAFETY_NUMBER_VERSION)) return false
  const expectTheirs = toBase64Url(partyHash(theirs).subarray(0, QR_FINGERPRINT_BYTES))
  const expectMine = toBase64Url(partyHash(mine).subarray(0, QR_FINGERPRINT_BYTES))
  return parts[2] === expectTheirs && parts[3] === expectMine
}

function partyHash (party: SafetyParty): Uint8Array {
  const key = keyBytes(party.key)
  const id = utf8(normalizeAor(party.aor))
  const version = new Uint8Array([SAFETY_NUMBER_VERSION >> 8, SAFETY_NUMBER_VERSION & 0xff])
  let hash = sha512(concat(version, key, id))
  for (let i = 1; i < SAFETY_NUMBER_ITERATIONS; i++) hash = sha512(concat(hash, key))
  return hash
}

function digitsOf (hash: Uint8Array): string {
  let out = ''
  for (let c = 0; c < CHUNKS_PER_PARTY; c++) {
    let n = 0
    // 5 bytes = 40 bits: exact in a double
    for (let i = 0; i < CHUNK_BYTES; i++) n = n * 256 + hash[c * CHUNK_BYTES + i]!
    out += String(n % 10 ** DIGITS_PER_CHUNK).padStart(DIGITS_PER_CHUNK, '0')
  }
  return out
}

function keyBytes (key: string | Uint8Array): Uint8Array {
  const bytes = typeof key === 'string' ? fromBase64Url(key) : key
  if (!(bytes instanceof Uint8Array) || bytes.length !== PUBLIC_KEY_LENGTH) {
    throw new TypeError(`Identity key must be a ${PUBLIC_KEY_LENGTH}-byte Ed25519 public key`)
  }
  return bytes
}

function concat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}
