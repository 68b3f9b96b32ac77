import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { scryptAsync } from '@noble/hashes/scrypt.js'
import { randomBytes } from '@noble/hashes/utils.js'
import { normalizeAor } from './address.ts'
import { parseIdentityCertificate } from './certificate.ts'
import type { IdentityCertificate } from './certificate.ts'
import { verifyDeviceCertificate } from './device.ts'
import type { DeviceCertificate } from './device.ts'
import { verifyDeviceRoster } from './roster.ts'
import type { DeviceRoster } from './roster.ts'
import {
  BACKUP_FORMAT, MAX_SCRYPT_MEMORY, MAX_SCRYPT_N, MAX_SCRYPT_P, MAX_SCRYPT_R, MIN_PASSPHRASE_LENGTH,
  POLY1305_TAG_LENGTH, PRIVATE_KEY_LENGTH, PUBLIC_KEY_LENGTH, SCRYPT_N, SCRYPT_P, SCRYPT_R, SCRYPT_SALT_LENGTH,
  XCHACHA_KEY_LENGTH, XCHACHA_NONCE_LENGTH
} from './constants.ts'
import { canonicalJson, toBase64Url, utf8 } from './encoding.ts'
import { BadPassphraseError, MalformedBackupError, NotPrimaryDeviceError } from './errors.ts'
import { publicKeyFromPrivate } from './keys.ts'
import { describe, requireBytes, requireRecord, requireString } from './validate.ts'

/** Everything a device keeps about its own identity. Keys are base64url. */
export interface StoredIdentity {
  email: string
  displayName: string
  publicKey: string
  /** base64url 32-byte Ed25519 seed; only on the primary device (linked devices never receive it) */
  privateKey?: string
  certificate: IdentityCertificate
  createdAt: number
  /** a linked device's own certificate, issued by the primary when pairing */
  deviceCertificate?: DeviceCertificate
  /** the newest device roster this device knows (the primary's is the authoritative one) */
  roster?: DeviceRoster
}

/** The JSON written by exportIdentity. */
export interface IdentityBackup {
  format: typeof BACKUP_FORMAT
  v: 1
  kdf: { name: 'scrypt', N: number, r: number, p: number, salt: string }
  cipher: 'xchacha20-poly1305'
  nonce: string
  ciphertext: string
}

const CIPHER = 'xchacha20-poly1305' as const

/**
 * Encrypts an identity (private key included) under a passphrase, for moving it to
 * another device or keeping it safe. Takes a few hundred ms (scrypt) without blocking.
 *
 * @returns JSON text of an IdentityBackup
 * @throws BadPassphraseError when the passphrase is shorter than MIN_PASSPHRASE_LENGTH
 */
export async function exportIdentity (identity: StoredIdentity, passphrase: string, options: { signal?: AbortSignal } = {}): Promise<string> {
  if (typeof passphrase !== 'string' || [...passphrase].length < MIN_PASSPHRASE_LENGTH) {
    throw new BadPassphraseError(`The passphrase must be at least ${MIN_PASSPHRASE_LENGTH} characters long`)
  }
  // Refuse to write a backup that importIdentity would later reject.
  const checked = validateStoredIdentity(identity)
  if (checked.privateKey === undefined) {
    throw new NotPrimaryDeviceError('This is a linked device: it has no identity key to back up (make the backup on the primary device)')
  }
  const salt = randomBytes(SCRYPT_SALT_LENGTH)
  const nonce = randomBytes(XCHACHA_NONCE_LENGTH)
  const kdf = { name: 'scrypt' as const, N: SCRYPT_N, r: SCRYPT_R, p: SCRYPT_P, salt: toBase64Url(salt) }
  const header: Omit<IdentityBackup, 'nonce' | 'ciphertext'> = { format: BACKUP_FORMAT, v: 1, kdf, cipher: CIPHER }
  const key = await deriveKey(passphrase, salt, kdf, options.signal)
  const plaintext = utf8(canonicalJson(checked))
  try {
    const ciphertext = xchacha20poly1305(key, nonce, aad(header)).encrypt(plaintext)
    const backup: IdentityBackup = { ...header, nonce: toBase64Url(nonce), ciphertext: toBase64Url(ciphertext) }
    return JSON.stringify(backup)
  } finally {
    key.fill(0)
    plaintext.fill(0)
  }
}

/**
 * Decrypts a backup made by exportIdentity and checks it is internally consistent
 * (private key matches public key, certificate signed and for that key and email).
 *
 * @throws MalformedBackupError | BadPassphraseError
 */
export async function importIdentity (backup: string, passphrase: string, options: { signal?: AbortSignal } = {}): Promise<StoredIdentity> {
  if (typeof backup !== 'string') throw new MalformedBackupError('Backup must be text')
  let parsed: unknown
  try {
    parsed = JSON.parse(backup)
  } catch (err) {
    throw new MalformedBackupError('Backup is not valid JSON (is this a Peerline identity backup file?)', { cause: err })
  }
  const what = 'Backup'
  const obj = requireRecord(parsed, what, MalformedBackupError)
  if (obj.format !== BACKUP_FORMAT) throw new MalformedBackupError(`Not a Peerline identity backup (format is ${describe(obj.format)})`)
  if (obj.v !== 1) throw new MalformedBackupError(`Unsupported backup version ${describe(obj.v)}; a newer Peerline may be needed`)
  if (obj.cipher !== CIPHER) throw new MalformedBackupError(`Unsupported backup cipher ${describe(obj.cipher)}`)
  const kdfObj = requireRecord(obj.kdf, 'Backup "kdf"', MalformedBackupError)
  if (kdfObj.name !== 'scrypt') throw new MalformedBackupError(`Unsupported backup key derivation ${describe(kdfObj.name)}`)
  const N = kdfParam(kdfObj, 'N', MAX_SCRYPT_N)
  const r = kdfParam(kdfObj, 'r', MAX_SCRYPT_R)
  const p = kdfParam(kdfObj, 'p', MAX_SCRYPT_P)
  if (N < 2 || (N & (N - 1)) !== 0) throw new MalformedBackupError('Backup "kdf.N" must be a power of two')
  if (128 * N * r > MAX_SCRYPT_MEMORY) throw new MalformedBackupError('Backup key derivation needs more memory than allowed')
  const salt = requireBytes(kdfObj, 'salt', { min: 8 }, 'Backup "kdf"', MalformedBackupError)
  const nonce = requireBytes(obj, 'nonce', XCHACHA_NONCE_LENGTH, what, MalformedBackupError)
  const ciphertext = requireBytes(obj, 'ciphertext', { min: POLY1305_TAG_LENGTH + 1 }, what, MalformedBackupError)
  if (typeof passphrase !== 'string') throw new BadPassphraseError('The passphrase must be text')

  const kdf = { name: 'scrypt' as const, N, r, p, salt: kdfObj.salt as string }
  const header: Omit<IdentityBackup, 'nonce' | 'ciphertext'> = { format: BACKUP_FORMAT, v: 1, kdf, cipher: CIPHER }
  const key = await deriveKey(passphrase, salt, kdf, options.signal)
  let plaintext: Uint8Array
  try {
    plaintext = xchacha20poly1305(key, nonce, aad(header)).decrypt(ciphertext)
  } catch (err) {
    throw new BadPassphraseError('Wrong passphrase, or the backup file has been changed', { cause: err })
  } finally {
    key.fill(0)
  }
  let content: unknown
  try {
    content = JSON.parse(new TextDecoder().decode(plaintext))
  } catch (err) {
    throw new MalformedBackupError('Backup content is not valid JSON', { cause: err })
  } finally {
    plaintext.fill(0)
  }
  return validateStoredIdentity(content)
}

/**
 * Checks that `value` is a complete, self-consistent StoredIdentity and returns a clean
 * copy. The certificate's signature is checked but not its dates or issuer trust: an
 * expired certificate must not make the key itself unrecoverable.
 *
 * @throws MalformedBackupError saying what is wrong
 */
export function validateStoredIdentity (value: unknown): StoredIdentity {
  const what = 'Stored identity'
  const obj = requireRecord(value, what, MalformedBackupError)
  const email = requireString(obj, 'email', what, MalformedBackupError)
  let normalized: string
  try {
    normalized = normalizeAor(email)
  } catch (err) {
    throw new MalformedBackupError(`${what}: "email" is not a valid address`, { cause: err })
  }
  if (normalized !== email) throw new MalformedBackupError(`${what}: "email" is not in normalized form`)
  const displayName = requireString(obj, 'displayName', what, MalformedBackupError)
  const publicKey = requireString(obj, 'publicKey', what, MalformedBackupError)
  const publicBytes = requireBytes(obj, 'publicKey', PUBLIC_KEY_LENGTH, what, MalformedBackupError)
  let privateKey: string | undefined
  if (obj.privateKey !== undefined) {
    privateKey = requireString(obj, 'privateKey', what, MalformedBackupError)
    const privateBytes = requireBytes(obj, 'privateKey', PRIVATE_KEY_LENGTH, what, MalformedBackupError)
    if (toBase64Url(publicKeyFromPrivate(privateBytes)) !== toBase64Url(publicBytes)) {
      throw new MalformedBackupError(`${what}: private key does not belong to the public key`)
    }
    privateBytes.fill(0)
  }
  const createdAt = obj.createdAt
  if (typeof createdAt !== 'number' || !Number.isFinite(createdAt)) {
    throw new MalformedBackupError(`${what}: "createdAt" must be a time in milliseconds`)
  }
  let certificate: IdentityCertificate
  try {
    certificate = parseIdentityCertificate(obj.certificate)
  } catch (err) {
    throw new MalformedBackupError(`${what}: certificate is invalid (${(err as Error).message})`, { cause: err })
  }
  if (certificate.key !== publicKey) throw new MalformedBackupError(`${what}: certificate is for a different key`)
  if (certificate.email !== email) throw new MalformedBackupError(`${what}: certificate is for ${certificate.email}, not ${email}`)
  let deviceCertificate: DeviceCertificate | undefined
  if (obj.deviceCertificate !== undefined) {
    try {
      const cert = obj.deviceCertificate as { notBefore?: unknown }
      // signature only: an expired device certificate is renewed through the roster, not lost
      deviceCertificate = verifyDeviceCertificate(cert, { identityKey: publicKey, ...(typeof cert.notBefore === 'number' ? { now: cert.notBefore } : {}) })
    } catch (err) {
      throw new MalformedBackupError(`${what}: device certificate is invalid (${(err as Error).message})`, { cause: err })
    }
  }
  if (privateKey === undefined && deviceCertificate === undefined) {
    throw new MalformedBackupError(`${what}: has neither the identity's private key nor a device certificate from it`)
  }
  let roster: DeviceRoster | undefined
  if (obj.roster !== undefined) {
    try {
      roster = verifyDeviceRoster(obj.roster, { identityKey: publicKey })
    } catch (err) {
      throw new MalformedBackupError(`${what}: device roster is invalid (${(err as Error).message})`, { cause: err })
    }
  }
  return {
    email,
    displayName,
    publicKey,
    ...(privateKey !== undefined ? { privateKey } : {}),
    certificate,
    createdAt,
    ...(deviceCertificate !== undefined ? { deviceCertificate } : {}),
    ...(roster !== undefined ? { roster } : {})
  }
}

function kdfParam (kdf: Record<string, unknown>, name: string, max: number): number {
  const v = kdf[name]
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw new MalformedBackupError(`Backup "kdf.${name}" must be an integer from 1 to ${max} (got ${describe(v)})`)
  }
  return v
}

// Binding the header as associated data means a changed parameter fails authentication
// instead of being interpreted differently by a future version.
function aad (header: object): Uint8Array {
  return utf8(canonicalJson(header))
}

async function deriveKey (passphrase: string, salt: Uint8Array, kdf: { N: number, r: number, p: number }, signal?: AbortSignal): Promise<Uint8Array> {
  signal?.throwIfAborted()
  // NFC so the same passphrase typed on systems that compose accents differently still matches.
  return await scryptAsync(utf8(passphrase.normalize('NFC')), salt, {
    N: kdf.N,
    r: kdf.r,
    p: kdf.p,
    dkLen: XCHACHA_KEY_LENGTH,
    maxmem: MAX_SCRYPT_MEMORY + 1024 * 1024,
    onProgress: signal === undefined ? undefined : () => { signal.throwIfAborted() }
  })
}
