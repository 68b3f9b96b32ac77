import { normalizeAor } from './address.ts'
import {
  CA_CERT_VALIDITY_MS, CLOCK_SKEW_MS, IDENTITY_CERT_VALIDITY_MS, MAX_CA_NAME_LENGTH, MAX_CHAIN_LENGTH,
  PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH
} from './constants.ts'
import { fromBase64Url, toBase64Url } from './encoding.ts'
import {
  BadSignatureError, CertificateExpiredError, MalformedCertificateError, UnknownIssuerError, WrongEmailError
} from './errors.ts'
import { fingerprint } from './keys.ts'
import type { IdentityKeyPair } from './keys.ts'
import { signObject, verifyObjectSignature } from './signed.ts'
import {
  isRecord, requireBytes, requireExactFields, requireRecord, requireString, requireTime
} from './validate.ts'

/** Binds an email address to a public key. Self-issued when `issuer === key`. */
export interface IdentityCertificate {
  v: 1
  kind: 'identity'
  /** normalized with normalizeAor */
  email: string
  /** base64url subject public key */
  key: string
  /** base64url issuer public key; equals `key` when self-issued */
  issuer: string
  /** ms since epoch */
  notBefore: number
  notAfter: number
  sig: string
}

/** A CA key. A root is self-signed (`issuer === key`); an intermediate is signed by its parent. */
export interface CaCertificate {
  v: 1
  kind: 'ca'
  name: string
  key: string
  issuer: string
  notBefore: number
  notAfter: number
  sig: string
}

export interface VerifyCertificateOptions {
  /** the address the certificate must be for (normalized before comparing) */
  email?: string
  now?: number
  /** public keys of trusted CAs */
  trustedRoots?: Uint8Array[]
  /** CA certificates leading from the issuer to a trusted root, in any order */
  chain?: CaCertificate[]
  /** accept self-issued certificates (default true) */
  allowSelfIssued?: boolean
  /**
   * 'any-issuer': the signature by the issuer named in the certificate is
   * checked (shape, dates and email too) but that issuer need not be trusted.
   * For supernodes, which store records for clients that each trust their own
   * CAs. Default: the issuer must be the subject itself, a trusted root, or
   * chain to one (clients).
   */
  trust?: 'any-issuer'
}

const IDENTITY_FIELDS = ['v', 'kind', 'email', 'key', 'issuer', 'notBefore', 'notAfter', 'sig'] as const
const CA_FIELDS = ['v', 'kind', 'name', 'key', 'issuer', 'notBefore', 'notAfter', 'sig'] as const

/** Has `issuer` sign a certificate binding `email` to `subjectKey`. */
export function issueIdentityCertificate (init: { email: string, subjectKey: Uint8Array, issuer: IdentityKeyPair, validForMs?: number, now?: number }): IdentityCertificate {
  const { notBefore, notAfter } = window(init.now, init.validForMs ?? IDENTITY_CERT_VALIDITY_MS)
  const body = {
    v: 1 as const,
    kind: 'identity' as const,
    email: normalizeAor(init.email),
    key: encodeKey(init.subjectKey, 'Subject key'),
    issuer: encodeKey(init.issuer.publicKey, 'Issuer public key'),
    notBefore,
    notAfter
  }
  return signObject(init.issuer.privateKey, body)
}

/** A certificate for `email` signed by the identity's own key (no CA involved). */
export function selfCertify (identity: IdentityKeyPair, email: string, options: { validForMs?: number, now?: number } = {}): IdentityCertificate {
  return issueIdentityCertificate({ email, subjectKey: identity.publicKey, issuer: identity, ...options })
}

/** Has `issuer` sign a CA certificate for `subjectKey`; pass the same key pair as subject and issuer for a root. */
export function issueCaCertificate (init: { name: string, subjectKey: Uint8Array, issuer: IdentityKeyPair, validForMs?: number, now?: number }): CaCertificate {
  if (typeof init.name !== 'string' || init.name.trim() === '' || init.name.length > MAX_CA_NAME_LENGTH) {
    throw new TypeError(`CA name must be a non-empty string of at most ${MAX_CA_NAME_LENGTH} characters`)
  }
  const { notBefore, notAfter } = window(init.now, init.validForMs ?? CA_CERT_VALIDITY_MS)
  const body = {
    v: 1 as const,
    kind: 'ca' as const,
    name: init.name.trim(),
    key: encodeKey(init.subjectKey, 'Subject key'),
    issuer: encodeKey(init.issuer.publicKey, 'Issuer public key'),
    notBefore,
    notAfter
  }
  return signObject(init.issuer.privateKey, body)
}

/**
 * Checks shape and that the issuer named in the certificate signed it. Does NOT check
 * validity dates, email or whether the issuer is trusted: use verifyIdentityCertificate
 * for that. Meant for data we wrote ourselves (storage, backups).
 */
export function parseIdentityCertificate (cert: unknown): IdentityCertificate {
  const what = 'Identity certificate'
  const obj = requireRecord(cert, what, MalformedCertificateError)
  requireExactFields(obj, IDENTITY_FIELDS, what, MalformedCertificateError)
  if (obj.v !== 1) throw new MalformedCertificateError(`${what}: unsupported version ${String(obj.v)}`)
  if (obj.kind !== 'identity') throw new MalformedCertificateError(`${what}: expected kind "identity", got ${JSON.stringify(obj.kind)}`)
  const email = requireString(obj, 'email', what, MalformedCertificateError)
  let normalized: string
  try {
    normalized = normalizeAor(email)
  } catch (err) {
    throw new MalformedCertificateError(`${what}: "email" is not a valid address`, { cause: err })
  }
  if (normalized !== email) throw new MalformedCertificateError(`${what}: "email" is not in normalized form`)
  return { v: 1, kind: 'identity', email, ...parseCommon(obj, what) }
}

/** Like parseIdentityCertificate, for CA certificates: shape and signature by the named issuer only. */
export function parseCaCertificate (cert: unknown): CaCertificate {
  const what = 'CA certificate'
  const obj = requireRecord(cert, what, MalformedCertificateError)
  requireExactFields(obj, CA_FIELDS, what, MalformedCertificateError)
  if (obj.v !== 1) throw new MalformedCertificateError(`${what}: unsupported version ${String(obj.v)}`)
  if (obj.kind !== 'ca') throw new MalformedCertificateError(`${what}: expected kind "ca", got ${JSON.stringify(obj.kind)}`)
  const name = requireString(obj, 'name', what, MalformedCertificateError, MAX_CA_NAME_LENGTH)
  return { v: 1, kind: 'ca', name, ...parseCommon(obj, what) }
}

/**
 * Verifies an identity certificate received from anywhere (DHT, peer, file) and returns
 * it typed. Checks, in order: shape, signature, validity window, email, issuer trust.
 *
 * @example verifyIdentityCertificate(record.cert, { email: 'bob@example.org' })
 * @throws MalformedCertificateError | BadSignatureError | CertificateExpiredError | WrongEmailError | UnknownIssuerError
 */
export function verifyIdentityCertificate (cert: unknown, options: VerifyCertificateOptions = {}): IdentityCertificate {
  const now = options.now ?? Date.now()
  const c = parseIdentityCertificate(cert)
  checkCertificateValidity(c, now, `Certificate for ${c.email}`)
  if (options.email !== undefined) {
    const wanted = normalizeAor(options.email)
    if (wanted !== c.email) throw new WrongEmailError(`Certificate is for ${c.email}, not ${wanted}`)
  }
  checkIssuer(c, options, now)
  return c
}

/** Verifies one CA certificate on its own: shape, signature by its issuer, validity. Says nothing about trust. */
export function verifyCaCertificate (cert: unknown, options: { now?: number } = {}): CaCertificate {
  const c = parseCaCertificate(cert)
  checkCertificateValidity(c, options.now ?? Date.now(), `CA certificate "${c.name}"`)
  return c
}

/** True when the certificate was signed by its own subject key rather than a CA. */
export function isSelfIssued (cert: IdentityCertificate): boolean {
  return cert.issuer === cert.key
}

/**
 * Throws CertificateExpiredError when `now` is outside [notBefore, notAfter],
 * allowing CLOCK_SKEW_MS either side.
 */
export function checkCertificateValidity (cert: { notBefore: number, notAfter: number }, now = Date.now(), what = 'Certificate'): void {
  if (now + CLOCK_SKEW_MS < cert.notBefore) {
    throw new CertificateExpiredError(`${what} is not valid yet (valid from ${new Date(cert.notBefore).toISOString()})`)
  }
  if (now - CLOCK_SKEW_MS > cert.notAfter) {
    throw new CertificateExpiredError(`${what} expired on ${new Date(cert.notAfter).toISOString()}`)
  }
}

interface CommonFields { key: string, issuer: string, notBefore: number, notAfter: number, sig: string }

// Returns fresh values, so later mutation of the caller's input cannot change what was verified.
function parseCommon (obj: Record<string, unknown>, what: string): CommonFields {
  const key = requireString(obj, 'key', what, MalformedCertificateError)
  const issuer = requireString(obj, 'issuer', what, MalformedCertificateError)
  const sig = requireString(obj, 'sig', what, MalformedCertificateError)
  requireBytes(obj, 'key', PUBLIC_KEY_LENGTH, what, MalformedCertificateError)
  const issuerKey = requireBytes(obj, 'issuer', PUBLIC_KEY_LENGTH, what, MalformedCertificateError)
  const notBefore = requireTime(obj, 'notBefore', what, MalformedCertificateError)
  const notAfter = requireTime(obj, 'notAfter', what, MalformedCertificateError)
  if (notAfter < notBefore) throw new MalformedCertificateError(`${what}: "notAfter" is before "notBefore"`)
  requireBytes(obj, 'sig', SIGNATURE_LENGTH, what, MalformedCertificateError)
  if (!verifyObjectSignature(issuerKey, obj)) {
    throw new BadSignatureError(`${what}: signature does not verify with issuer key ${fingerprint(issuerKey)}`)
  }
  return { key, issuer, notBefore, notAfter, sig }
}

function checkIssuer (cert: IdentityCertificate, options: VerifyCertificateOptions, now: number): void {
  // parseIdentityCertificate already checked the signature by the named issuer
  if (options.trust === 'any-issuer') return
  const roots = new Set((options.trustedRoots ?? []).map(k => encodeKey(k, 'Trusted root key')))
  if (roots.has(cert.issuer)) return
  if (cert.issuer === cert.key) {
    if (options.allowSelfIssued !== false) return
    throw new UnknownIssuerError(`Certificate for ${cert.email} is self-issued, and only CA-issued certificates are accepted here`)
  }
  const chain = options.chain ?? []
  let current = cert.issuer
  for (let used = 0; ; used++) {
    const link = chain.find(ca => isRecord(ca) && ca.key === current)
    if (link === undefined) {
      throw new UnknownIssuerError(current === cert.issuer
        ? `Certificate for ${cert.email} is issued by CA ${fingerprint(fromBase64Url(current))}, which is not trusted here`
        : `Issuer ${fingerprint(fromBase64Url(current))} is not a trusted CA and no chain certificate leads to one`)
    }
    if (used >= MAX_CHAIN_LENGTH) {
      throw new UnknownIssuerError(`Certificate chain is longer than ${MAX_CHAIN_LENGTH} CA certificates`)
    }
    const ca = verifyCaCertificate(link, { now })
    if (roots.has(ca.issuer)) return
    if (ca.issuer === ca.key) throw new UnknownIssuerError(`Chain ends at root CA "${ca.name}", which is not trusted`)
    current = ca.issuer
  }
}

function window (now: number | undefined, validForMs: number): { notBefore: number, notAfter: number } {
  const notBefore = now ?? Date.now()
  if (!Number.isSafeInteger(notBefore)) throw new RangeError('now must be an integer time in milliseconds')
  if (!Number.isSafeInteger(validForMs) || validForMs <= 0) throw new RangeError('validForMs must be a positive integer')
  return { notBefore, notAfter: notBefore + validForMs }
}

function encodeKey (key: Uint8Array, what: string): string {
  if (!(key instanceof Uint8Array) || key.length !== PUBLIC_KEY_LENGTH) {
    throw new TypeError(`${what} must be a ${PUBLIC_KEY_LENGTH}-byte Ed25519 public key`)
  }
  return toBase64Url(key)
}
