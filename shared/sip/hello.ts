/**
 * The identity hello: the first frame each side sends on a SIP stream.
 *
 *   { "identityCertificate": {…email, key…}, "deviceCertificate": {…identity, peerId…} }
 *
 * The receiver checks that the device certificate is signed by the key in the
 * identity certificate AND names the peer id that Noise authenticated for
 * this connection. Replaying someone else's hello therefore fails
 * (WrongPeerError): only the holder of the device's libp2p key can present
 * its certificate. SIP requests on the stream are then authenticated when
 * their From address equals the certificate's email.
 *
 * Authenticated is not trusted: a self-issued certificate checks out for any
 * address anyone chooses. How far to believe the key is TrustStore.judge()'s
 * call (shared/identity/trust.ts), from the key and `issuer` carried here.
 */
import { fingerprint, fromBase64Url, verifyDeviceCertificate, verifyIdentityCertificate } from '../identity/index.ts'
import type { DeviceCertificate, IdentityCertificate, VerifyCertificateOptions } from '../identity/index.ts'
import { MalformedHelloError } from './errors.ts'

export interface Hello {
  identityCertificate: IdentityCertificate
  deviceCertificate: DeviceCertificate
}

/** What a peer proved about itself on one stream: the hello's signatures check out, or why not. */
export type PeerVerification =
  | {
    /** the certificates' signatures, dates and peer id check out; says nothing about trust */
    authenticated: true
    /** the email address the identity certificate binds */
    aor: string
    /** base64url Ed25519 identity key (for trust-on-first-use pinning) */
    identityKey: string
    /** short fingerprint of the identity key, for display */
    fingerprint: string
    /** base64url key that issued the identity certificate; equals `identityKey` when self-issued */
    issuer: string
    deviceName: string
  }
  | {
    authenticated: false
    /** error name: 'NoCertificate', 'MalformedHelloError', 'BadSignatureError', 'WrongPeerError', … */
    reason: string
    message: string
  }

/** Identity checks for hellos (trusted CAs, chain); email and time are set per check. */
export type HelloVerifyOptions = Omit<VerifyCertificateOptions, 'email' | 'now'> & { now?: number }

export const NO_CERTIFICATE: PeerVerification = {
  authenticated: false,
  reason: 'NoCertificate',
  message: 'The peer presented no identity certificate'
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function encodeHello (hello: Hello): Uint8Array {
  return encoder.encode(JSON.stringify({ identityCertificate: hello.identityCertificate, deviceCertificate: hello.deviceCertificate }))
}

/** A frame is taken as a hello when it is JSON; a SIP message never starts with '{'. */
export function looksLikeHello (frame: Uint8Array): boolean {
  return frame.byteLength > 0 && frame[0] === 0x7b
}

/**
 * Verifies a hello received from `remotePeer` (the Noise-authenticated peer
 * id of the connection). Never throws: a failure is a verification result.
 */
export function verifyHello (frame: Uint8Array, remotePeer: string, options: HelloVerifyOptions = {}): PeerVerification {
  try {
    let value: unknown
    try {
      value = JSON.parse(decoder.decode(frame))
    } catch {
      throw new MalformedHelloError('The identity hello is not UTF-8 JSON')
    }
    if (typeof value !== 'object' || value == null || Array.isArray(value)) throw new MalformedHelloError('The identity hello is not a JSON object')
    const hello = value as Record<string, unknown>
    if (hello.identityCertificate == null || hello.deviceCertificate == null) {
      return NO_CERTIFICATE
    }
    const { now, ...certOptions } = options
    const identity = verifyIdentityCertificate(hello.identityCertificate, { ...certOptions, ...(now != null ? { now } : {}) })
    const device = verifyDeviceCertificate(hello.deviceCertificate, { identityKey: identity.key, peerId: remotePeer, ...(now != null ? { now } : {}) })
    return {
      authenticated: true,
      aor: identity.email,
      identityKey: identity.key,
      fingerprint: fingerprint(fromBase64Url(identity.key)),
      issuer: identity.issuer,
      deviceName: device.name
    }
  } catch (err) {
    const e = err as Error
    return { authenticated: false, reason: e.name !== '' ? e.name : 'Error', message: e.message }
  }
}
