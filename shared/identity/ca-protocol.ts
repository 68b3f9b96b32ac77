/**
 * The email-verifying CA protocol `/peerline/ca/1.0.0`, spoken between a
 * device and a supernode that runs a CA. One request and one response per
 * libp2p stream, each a length-prefixed UTF-8 JSON frame:
 *
 *   → { op: 'info' }                                ← { ok: true, ca, from? }
 *   → { op: 'request', email, key, ts, proof }      ← { ok: true, requestId, expiresAt }
 *   → { op: 'confirm', requestId, code }            ← { ok: true, certificate, ca }
 *   ← { ok: false, error: '<ErrorName>', message }  for any failure
 *
 * `proof` shows possession of the identity key: its Ed25519 signature over
 * canonicalJson({ op: 'request', email, key, ts }). The CA then emails a
 * one-time code to `email`; whoever can read that mailbox confirms, and the
 * CA signs an identity certificate binding `email` to `key`.
 *
 * Shared by the supernode (answers) and shared/overlay/ca-client.ts (asks).
 */
import { normalizeAor } from './address.ts'
import { parseCaCertificate, parseIdentityCertificate } from './certificate.ts'
import type { CaCertificate, IdentityCertificate } from './certificate.ts'
import { CLOCK_SKEW_MS, PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH } from './constants.ts'
import { canonicalJson, toBase64Url, utf8 } from './encoding.ts'
import { signBytes, verifyBytes } from './keys.ts'
import type { IdentityKeyPair } from './keys.ts'
import { describe, parseJsonObject, requireBytes, requireString, requireTime } from './validate.ts'

export const CA_PROTOCOL = '/peerline/ca/1.0.0'

/** Largest frame either side sends: a response holds two certificates (~1 KiB); 8 KiB refuses floods cheaply. */
export const MAX_CA_FRAME_BYTES = 8 * 1024

/** Codes have 6 digits, like the one-time codes people already type from mail and SMS (RFC 4226 §5.3 default). */
export const CA_CODE_DIGITS = 6

/** Line in every CA mail that carries the code; tests and the Thunderbird add-on search for this prefix. */
export const CA_CODE_LINE_PREFIX = 'Peerline verification code: '

/** A request's `ts` may differ from the CA's clock by this much (replayed proofs expire). */
export const CA_PROOF_MAX_AGE_MS = CLOCK_SKEW_MS

/** Longest `from` taken from an info answer: an RFC 5321 path (256) plus a display name. */
const MAX_CA_FROM_LENGTH = 512

/** requestId: 128 random bits, base64url (22 characters). */
export const CA_REQUEST_ID_LENGTH = 22

export type CaRequest =
  | { op: 'info' }
  | { op: 'request', email: string, key: string, ts: number, proof: string }
  | { op: 'confirm', requestId: string, code: string }

export type CaResponse =
  /** `from`: the From address of the CA's mails (optional: lets a mail client tell the CA's mail from forgeries) */
  | { ok: true, ca: CaCertificate, from?: string }
  | { ok: true, requestId: string, expiresAt: number }
  | { ok: true, certificate: IdentityCertificate, ca: CaCertificate }
  | { ok: false, error: string, message: string }

// ── errors (the wire carries `name`; the client rebuilds the class) ───────────

export class MalformedCaMessageError extends Error {
  static override name = 'MalformedCaMessageError'
  override name = 'MalformedCaMessageError'
  constructor (message = 'The CA message is malformed', options?: ErrorOptions) { super(message, options) }
}

export class BadProofError extends Error {
  static override name = 'BadProofError'
  override name = 'BadProofError'
  constructor (message = 'The request is not signed by the key it asks a certificate for', options?: ErrorOptions) { super(message, options) }
}

export class CaRateLimitedError extends Error {
  static override name = 'CaRateLimitedError'
  override name = 'CaRateLimitedError'
  constructor (message = 'Too many certificate requests: try again later', options?: ErrorOptions) { super(message, options) }
}

export class MailFailedError extends Error {
  static override name = 'MailFailedError'
  override name = 'MailFailedError'
  constructor (message = 'The CA could not send the verification mail', options?: ErrorOptions) { super(message, options) }
}

export class UnknownRequestError extends Error {
  static override name = 'UnknownRequestError'
  override name = 'UnknownRequestError'
  constructor (message = 'No pending verification with that id: it was already used, has expired, or was never made', options?: ErrorOptions) { super(message, options) }
}

export class CodeExpiredError extends Error {
  static override name = 'CodeExpiredError'
  override name = 'CodeExpiredError'
  constructor (message = 'The verification code has expired: request a new one', options?: ErrorOptions) { super(message, options) }
}

export class WrongCodeError extends Error {
  static override name = 'WrongCodeError'
  override name = 'WrongCodeError'
  constructor (message = 'That is not the code the CA sent', options?: ErrorOptions) { super(message, options) }
}

export class TooManyAttemptsError extends Error {
  static override name = 'TooManyAttemptsError'
  override name = 'TooManyAttemptsError'
  constructor (message = 'Too many wrong codes: this verification is cancelled, request a new one', options?: ErrorOptions) { super(message, options) }
}

/** The supernode runs no CA, or the CA failed in a way it did not name. */
export class CaUnavailableError extends Error {
  static override name = 'CaUnavailableError'
  override name = 'CaUnavailableError'
  constructor (message = 'No certificate authority is available on the connected supernodes', options?: ErrorOptions) { super(message, options) }
}

const CA_ERRORS = [
  MalformedCaMessageError, BadProofError, CaRateLimitedError, MailFailedError, UnknownRequestError,
  CodeExpiredError, WrongCodeError, TooManyAttemptsError, CaUnavailableError
]

/** The typed error for a `{ ok: false }` response; unknown names become CaUnavailableError with the CA's message. */
export function caErrorFromResponse (error: unknown, message: unknown): Error {
  const text = typeof message === 'string' && message !== '' ? message.slice(0, 500) : undefined
  const E = CA_ERRORS.find(c => c.name === error)
  if (E !== undefined) return new E(text)
  return new CaUnavailableError(`The CA refused${typeof error === 'string' ? ` (${error.slice(0, 60)})` : ''}${text !== undefined ? `: ${text}` : ''}`)
}

// ── building and checking messages ────────────────────────────────────────────

/**
 * A signed certificate request for `email` and the identity key.
 *
 * @example stream.write(encodeCaMessage(signCaRequest(identityKeyPair(me), me.email)))
 */
export function signCaRequest (identity: IdentityKeyPair, email: string, now = Date.now()): Extract<CaRequest, { op: 'request' }> {
  const body = { op: 'request' as const, email: normalizeAor(email), key: toBase64Url(identity.publicKey), ts: now }
  const proof = toBase64Url(signBytes(identity.privateKey, utf8(canonicalJson(body))))
  return { ...body, proof }
}

/**
 * Parses a frame received by the CA. Checks the shape of every op, and for
 * 'request' the proof (signature by `key`, `ts` within CA_PROOF_MAX_AGE_MS).
 * @throws MalformedCaMessageError | BadProofError
 */
export function parseCaRequest (frame: Uint8Array, now = Date.now()): CaRequest {
  const obj = parseFrame(frame)
  const what = 'CA request'
  switch (obj.op) {
    case 'info':
      return { op: 'info' }
    case 'request': {
      const email = requireString(obj, 'email', what, MalformedCaMessageError, 254)
      let normalized: string
      try {
        normalized = normalizeAor(email)
      } catch (err) {
        throw new MalformedCaMessageError(`${JSON.stringify(email)} is not a valid email address`, { cause: err })
      }
      const key = requireString(obj, 'key', what, MalformedCaMessageError)
      const keyBytes = requireBytes(obj, 'key', PUBLIC_KEY_LENGTH, what, MalformedCaMessageError)
      const ts = requireTime(obj, 'ts', what, MalformedCaMessageError)
      const proof = requireString(obj, 'proof', what, MalformedCaMessageError)
      const sig = requireBytes(obj, 'proof', SIGNATURE_LENGTH, what, MalformedCaMessageError)
      if (!verifyBytes(keyBytes, utf8(canonicalJson({ op: 'request', email, key, ts })), sig)) {
        throw new BadProofError('The request is not signed by the key it asks a certificate for')
      }
      if (Math.abs(now - ts) > CA_PROOF_MAX_AGE_MS) {
        throw new BadProofError(`The request was signed at ${new Date(ts).toISOString()}, too far from the CA's clock (check the device's time)`)
      }
      return { op: 'request', email: normalized, key, ts, proof }
    }
    case 'confirm': {
      const requestId = requireString(obj, 'requestId', what, MalformedCaMessageError, 64)
      const code = requireString(obj, 'code', what, MalformedCaMessageError, 32)
      return { op: 'confirm', requestId, code }
    }
    default:
      throw new MalformedCaMessageError(`Unknown CA operation ${describe(obj.op)}`)
  }
}

/**
 * Parses a frame received by the client; a `{ ok: false }` answer is thrown
 * as its typed error.
 * @throws MalformedCaMessageError | the CA's error (WrongCodeError, CaRateLimitedError, …)
 */
export function parseCaResponse (frame: Uint8Array, op: CaRequest['op']): Extract<CaResponse, { ok: true }> {
  const obj = parseFrame(frame)
  if (obj.ok === false) throw caErrorFromResponse(obj.error, obj.message)
  if (obj.ok !== true) throw new MalformedCaMessageError('The CA answer has no "ok" field')
  const what = 'CA answer'
  try {
    switch (op) {
      case 'info':
        return { ok: true, ca: parseCaCertificate(obj.ca), ...(typeof obj.from === 'string' && obj.from.length > 0 && obj.from.length <= MAX_CA_FROM_LENGTH ? { from: obj.from } : {}) }
      case 'request':
        return {
          ok: true,
          requestId: requireString(obj, 'requestId', what, MalformedCaMessageError, 64),
          expiresAt: requireTime(obj, 'expiresAt', what, MalformedCaMessageError)
        }
      case 'confirm':
        return { ok: true, certificate: parseIdentityCertificate(obj.certificate), ca: parseCaCertificate(obj.ca) }
    }
  } catch (err) {
    if ((err as Error).name === 'MalformedCaMessageError') throw err
    throw new MalformedCaMessageError(`The CA answer holds an invalid certificate: ${(err as Error).message}`, { cause: err })
  }
}

const encoder = new TextEncoder()

/** UTF-8 JSON bytes of a message (the caller adds the length prefix). */
export function encodeCaMessage (message: CaRequest | CaResponse): Uint8Array {
  const bytes = encoder.encode(JSON.stringify(message))
  if (bytes.byteLength > MAX_CA_FRAME_BYTES) throw new MalformedCaMessageError(`CA message of ${bytes.byteLength} bytes exceeds ${MAX_CA_FRAME_BYTES}`)
  return bytes
}

/** The `{ ok: false }` frame for an error. */
export function caErrorResponse (err: Error): CaResponse {
  return { ok: false, error: err.name !== '' ? err.name : 'Error', message: err.message }
}

/** The 6-digit code from the text of a CA mail, or undefined. */
export function findCaCode (text: string): string | undefined {
  const at = text.indexOf(CA_CODE_LINE_PREFIX)
  if (at < 0) return undefined
  const m = new RegExp(`^\\d{${CA_CODE_DIGITS}}(?!\\d)`).exec(text.slice(at + CA_CODE_LINE_PREFIX.length))
  return m?.[0]
}

function parseFrame (frame: Uint8Array): Record<string, unknown> {
  if (frame.byteLength > MAX_CA_FRAME_BYTES) throw new MalformedCaMessageError(`CA message of ${frame.byteLength} bytes exceeds ${MAX_CA_FRAME_BYTES}`)
  return parseJsonObject(frame, 'The CA message', MalformedCaMessageError)
}

