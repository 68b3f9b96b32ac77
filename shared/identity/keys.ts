import { ed25519 } from '@noble/curves/ed25519.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import { PRIVATE_KEY_LENGTH, PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH } from './constants.ts'

/** An Ed25519 key pair; `privateKey` is the 32-byte RFC 8032 seed. */
export interface IdentityKeyPair {
  publicKey: Uint8Array
  privateKey: Uint8Array
}

/** A fresh random Ed25519 key pair (randomness from globalThis.crypto). */
export function generateIdentityKey (): IdentityKeyPair {
  const { secretKey, publicKey } = ed25519.keygen()
  return { publicKey, privateKey: secretKey }
}

/** The public key belonging to a 32-byte seed. Throws TypeError on a wrong-sized seed. */
export function publicKeyFromPrivate (privateKey: Uint8Array): Uint8Array {
  if (!(privateKey instanceof Uint8Array) || privateKey.length !== PRIVATE_KEY_LENGTH) {
    throw new TypeError(`Private key must be ${PRIVATE_KEY_LENGTH} bytes`)
  }
  return ed25519.getPublicKey(privateKey)
}

/** Ed25519 signature (64 bytes) of `data`. */
export function signBytes (privateKey: Uint8Array, data: Uint8Array): Uint8Array {
  if (!(privateKey instanceof Uint8Array) || privateKey.length !== PRIVATE_KEY_LENGTH) {
    throw new TypeError(`Private key must be ${PRIVATE_KEY_LENGTH} bytes`)
  }
  return ed25519.sign(data, privateKey)
}

/**
 * True when `signature` is a valid Ed25519 signature of `data` by `publicKey`.
 * Never throws: malformed keys or signatures are simply not valid.
 */
export function verifyBytes (publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_LENGTH) return false
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_LENGTH) return false
  if (!(data instanceof Uint8Array)) return false
  try {
    // Strict RFC 8032 checks instead of noble's ZIP-215 default: we have no consensus
    // to stay compatible with, and strictness rules out malleable encodings.
    return ed25519.verify(signature, data, publicKey, { zip215: false })
  } catch {
    return false
  }
}

/** Short stable hex id of a public key for logs and UI (first 16 bytes of SHA-256). */
export function fingerprint (publicKey: Uint8Array): string {
  return bytesToHex(sha256(publicKey).subarray(0, 16))
}
