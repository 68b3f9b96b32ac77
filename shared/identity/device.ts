import { checkCertificateValidity } from './certificate.ts'
import {
  DEFAULT_DEVICE_NAME, DEVICE_CERT_VALIDITY_MS, MAX_DEVICE_NAME_LENGTH, MAX_PEER_ID_LENGTH, PUBLIC_KEY_LENGTH,
  SIGNATURE_LENGTH
} from './constants.ts'
import { fromBase64Url, toBase64Url } from './encoding.ts'
import { BadSignatureError, EncodingError, MalformedCertificateError, WrongPeerError } from './errors.ts'
import type { IdentityKeyPair } from './keys.ts'
import { signObject, verifyObjectSignature } from './signed.ts'
import { requireBytes, requireExactFields, requireRecord, requireString, requireTime } from './validate.ts'

/** Says that libp2p peer `peerId` is a device of the identity key `identity`. */
export interface DeviceCertificate {
  v: 1
  kind: 'device'
  /** base64url identity public key (the signer) */
  identity: string
  /** libp2p peer id string */
  peerId: string
  name: string
  notBefore: number
  notAfter: number
  sig: string
}

const DEVICE_FIELDS = ['v', 'kind', 'identity', 'peerId', 'name', 'notBefore', 'notAfter', 'sig'] as const

/** Has the identity key vouch for one of its devices (a libp2p peer). */
export function issueDeviceCertificate (init: { identity: IdentityKeyPair, peerId: string, name?: string, validForMs?: number, now?: number }): DeviceCertificate {
  if (typeof init.peerId !== 'string' || init.peerId === '' || init.peerId.length > MAX_PEER_ID_LENGTH) {
    throw new TypeError('peerId must be a non-empty libp2p peer id string')
  }
  const name = (init.name ?? '').trim() || DEFAULT_DEVICE_NAME
  if (name.length > MAX_DEVICE_NAME_LENGTH) throw new TypeError(`Device name is longer than ${MAX_DEVICE_NAME_LENGTH} characters`)
  const notBefore = init.now ?? Date.now()
  const validForMs = init.validForMs ?? DEVICE_CERT_VALIDITY_MS
  if (!Number.isSafeInteger(notBefore)) throw new RangeError('now must be an integer time in milliseconds')
  if (!Number.isSafeInteger(validForMs) || validForMs <= 0) throw new RangeError('validForMs must be a positive integer')
  if (!(init.identity.publicKey instanceof Uint8Array) || init.identity.publicKey.length !== PUBLIC_KEY_LENGTH) {
    throw new TypeError(`Identity public key must be ${PUBLIC_KEY_LENGTH} bytes`)
  }
  const body = {
    v: 1 as const,
    kind: 'device' as const,
    identity: toBase64Url(init.identity.publicKey),
    peerId: init.peerId,
    name,
    notBefore,
    notAfter: notBefore + validForMs
  }
  return signObject(init.identity.privateKey, body)
}

/**
 * Verifies that `cert` was signed by `identityKey`, is currently valid and, when
 * `peerId` is given, names that peer. Returns the typed certificate.
 *
 * @example verifyDeviceCertificate(cert, { identityKey: identityCert.key, peerId: connection.remotePeer.toString() })
 * @throws MalformedCertificateError | BadSignatureError | CertificateExpiredError | WrongPeerError
 */
export function verifyDeviceCertificate (cert: unknown, options: { identityKey: Uint8Array | string, peerId?: string, now?: number }): DeviceCertificate {
  const expected = identityKeyString(options.identityKey)
  const what = 'Device certificate'
  const obj = requireRecord(cert, what, MalformedCertificateError)
  requireExactFields(obj, DEVICE_FIELDS, what, MalformedCertificateError)
  if (obj.v !== 1) throw new MalformedCertificateError(`${what}: unsupported version ${String(obj.v)}`)
  if (obj.kind !== 'device') throw new MalformedCertificateError(`${what}: expected kind "device", got ${JSON.stringify(obj.kind)}`)
  const identity = requireString(obj, 'identity', what, MalformedCertificateError)
  requireBytes(obj, 'identity', PUBLIC_KEY_LENGTH, what, MalformedCertificateError)
  const peerId = requireString(obj, 'peerId', what, MalformedCertificateError, MAX_PEER_ID_LENGTH)
  if (peerId === '') throw new MalformedCertificateError(`${what}: "peerId" is empty`)
  const name = requireString(obj, 'name', what, MalformedCertificateError, MAX_DEVICE_NAME_LENGTH)
  const notBefore = requireTime(obj, 'notBefore', what, MalformedCertificateError)
  const notAfter = requireTime(obj, 'notAfter', what, MalformedCertificateError)
  if (notAfter < notBefore) throw new MalformedCertificateError(`${what}: "notAfter" is before "notBefore"`)
  const sig = requireString(obj, 'sig', what, MalformedCertificateError)
  requireBytes(obj, 'sig', SIGNATURE_LENGTH, what, MalformedCertificateError)

  if (identity !== expected) throw new BadSignatureError(`${what} was signed by a different identity key`)
  if (!verifyObjectSignature(fromBase64Url(expected), obj)) throw new BadSignatureError(`${what}: signature does not verify`)
  checkCertificateValidity({ notBefore, notAfter }, options.now ?? Date.now(), `${what} for "${name}"`)
  if (options.peerId !== undefined && options.peerId !== peerId) {
    throw new WrongPeerError(`${what} is for peer ${peerId}, but the connection is from ${options.peerId}`)
  }
  return { v: 1, kind: 'device', identity, peerId, name, notBefore, notAfter, sig }
}

function identityKeyString (key: Uint8Array | string): string {
  if (typeof key === 'string') {
    let bytes: Uint8Array
    try {
      bytes = fromBase64Url(key)
    } catch (err) {
      throw new EncodingError('identityKey is not valid base64url', { cause: err })
    }
    if (bytes.length !== PUBLIC_KEY_LENGTH) throw new EncodingError(`identityKey must be ${PUBLIC_KEY_LENGTH} bytes`)
    return key
  }
  if (!(key instanceof Uint8Array) || key.length !== PUBLIC_KEY_LENGTH) throw new TypeError(`identityKey must be ${PUBLIC_KEY_LENGTH} bytes`)
  return toBase64Url(key)
}
