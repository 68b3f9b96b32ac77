import { canonicalJson, fromBase64Url, toBase64Url, utf8 } from './encoding.ts'
import { signBytes, verifyBytes } from './keys.ts'

/**
 * Adds `sig`: base64url Ed25519 over `utf8(canonicalJson(body))`. The scheme used by
 * every certificate here; also usable for other signed JSON records.
 *
 * @example const record = signObject(identity.privateKey, { kind: 'location', ... })
 */
export function signObject<T extends object> (privateKey: Uint8Array, body: T): T & { sig: string } {
  if ('sig' in body) throw new TypeError('Object to sign already has a "sig" field')
  const sig = toBase64Url(signBytes(privateKey, utf8(canonicalJson(body))))
  return { ...body, sig }
}

/**
 * True when `signed.sig` is a valid signature by `publicKey` over all other fields.
 * Never throws.
 */
export function verifyObjectSignature (publicKey: Uint8Array, signed: unknown): boolean {
  if (typeof signed !== 'object' || signed === null || Array.isArray(signed)) return false
  const { sig, ...body } = signed as Record<string, unknown>
  if (typeof sig !== 'string') return false
  try {
    return verifyBytes(publicKey, utf8(canonicalJson(body)), fromBase64Url(sig))
  } catch {
    return false
  }
}
