import { normalizeAor } from './address.ts'
import { checkCertificateValidity, parseIdentityCertificate, selfCertify } from './certificate.ts'
import type { IdentityCertificate } from './certificate.ts'
import { exportIdentity, importIdentity, validateStoredIdentity } from './backup.ts'
import type { StoredIdentity } from './backup.ts'
import { fromBase64Url, toBase64Url } from './encoding.ts'
import {
  IdentityExistsError, MalformedBackupError, MalformedCertificateError, NoIdentityError, NotPrimaryDeviceError, WrongEmailError
} from './errors.ts'
import type { DeviceCertificate } from './device.ts'
import { generateIdentityKey } from './keys.ts'
import type { IdentityKeyPair } from './keys.ts'
import type { DeviceRoster } from './roster.ts'
import { describe, isRecord } from './validate.ts'
import { serialQueue } from '../util/async.ts'

/** Where the identity is kept: one text value (IndexedDB entry, file, memory). See shared/store. */
export interface IdentityStorage {
  read(): Promise<string | undefined>
  write(data: string): Promise<void>
}

/** Wrapper written to storage, versioned so the layout can change later. */
const STORAGE_FORMAT = 'peerline-identity'

/**
 * The key pair of a stored identity, checking that the private key matches.
 * @throws NotPrimaryDeviceError on a linked device (it never holds the identity key)
 */
export function identityKeyPair (identity: StoredIdentity): IdentityKeyPair {
  // validateStoredIdentity re-derives the public key, so a corrupted entry cannot sign as someone else
  const checked = validateStoredIdentity(identity)
  if (checked.privateKey === undefined) throw new NotPrimaryDeviceError(`This device is linked to ${checked.email}; it does not hold the identity key`)
  return { publicKey: fromBase64Url(checked.publicKey), privateKey: fromBase64Url(checked.privateKey) }
}

/** True when this stored identity holds the identity private key (the primary device). */
export function isPrimaryIdentity (identity: Pick<StoredIdentity, 'privateKey'>): boolean {
  return identity.privateKey !== undefined
}

/**
 * This device's identity, kept in an IdentityStorage. Operations run one at a time, so
 * two tabs of logic calling loadOrCreate cannot create two identities; stored data that
 * does not parse is reported (MalformedBackupError), never overwritten.
 */
export class IdentityStore {
  readonly #storage: IdentityStorage
  readonly #queue = serialQueue()

  constructor (storage: IdentityStorage) {
    this.#storage = storage
  }

  /** The stored identity, or undefined when none has been created yet. */
  async load (): Promise<StoredIdentity | undefined> {
    return await this.#exclusive(async () => await this.#read())
  }

  /**
   * Generates a key, self-certifies it for `email` and saves it.
   * @throws IdentityExistsError when an identity is already stored; InvalidAddressError for a bad email
   */
  async create (init: { email: string, displayName: string }): Promise<StoredIdentity> {
    const email = normalizeAor(init.email)
    return await this.#exclusive(async () => {
      const existing = await this.#read()
      if (existing !== undefined) throw new IdentityExistsError(`An identity for ${existing.email} already exists on this device`)
      return await this.#createNow(email, init.displayName)
    })
  }

  /**
   * The stored identity, creating it first if there is none.
   * @throws WrongEmailError when the stored identity is for another address
   */
  async loadOrCreate (init: { email: string, displayName: string }): Promise<StoredIdentity> {
    const email = normalizeAor(init.email)
    return await this.#exclusive(async () => {
      const existing = await this.#read()
      if (existing === undefined) return await this.#createNow(email, init.displayName)
      if (existing.email !== email) throw new WrongEmailError(`This device's identity is ${existing.email}, not ${email}`)
      return existing
    })
  }

  /** Same as the exported identityKeyPair(). */
  keyPair (identity: StoredIdentity): IdentityKeyPair {
    return identityKeyPair(identity)
  }

  /**
   * Stores a new certificate (e.g. from a CA) for the current key and email. The caller
   * checks the issuer is trusted; here the signature, key, email and dates are checked.
   * @throws NoIdentityError | MalformedCertificateError | BadSignatureError | WrongEmailError | CertificateExpiredError
   */
  async replaceCertificate (cert: IdentityCertificate, options: { now?: number } = {}): Promise<StoredIdentity> {
    const parsed = parseIdentityCertificate(cert)
    checkCertificateValidity(parsed, options.now ?? Date.now(), `Certificate for ${parsed.email}`)
    return await this.#exclusive(async () => {
      const identity = await this.#read()
      if (identity === undefined) throw new NoIdentityError()
      if (parsed.key !== identity.publicKey) throw new MalformedCertificateError('Certificate is for a different key than this device\'s identity')
      if (parsed.email !== identity.email) throw new WrongEmailError(`Certificate is for ${parsed.email}, not ${identity.email}`)
      const updated = { ...identity, certificate: parsed }
      await this.#write(updated)
      return updated
    })
  }

  /**
   * The identity encrypted under `passphrase` (see exportIdentity).
   * @throws NoIdentityError | BadPassphraseError
   */
  async exportBackup (passphrase: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    const identity = await this.load()
    if (identity === undefined) throw new NoIdentityError()
    return await exportIdentity(identity, passphrase, options)
  }

  /**
   * Restores an identity from a backup. Decrypts and verifies before touching storage,
   * so a wrong passphrase or bad file changes nothing. Refuses to overwrite a different
   * stored identity (or unreadable stored data) unless `replace` is true, since that
   * would destroy its private key.
   * @throws MalformedBackupError | BadPassphraseError | IdentityExistsError
   */
  async importBackup (backup: string, passphrase: string, options: { replace?: boolean, signal?: AbortSignal } = {}): Promise<StoredIdentity> {
    const identity = await importIdentity(backup, passphrase, options)
    return await this.#exclusive(async () => {
      if (options.replace !== true) {
        const existing = await this.#read()
        if (existing !== undefined && existing.publicKey !== identity.publicKey) {
          throw new IdentityExistsError(`This device already has the identity ${existing.email}; restoring would replace it (pass replace: true to do so)`)
        }
      }
      await this.#write(identity)
      return identity
    })
  }

  /**
   * Stores the identity a linked device received by pairing (no private key).
   * Refuses to overwrite a different stored identity unless `replace` is true.
   * @throws MalformedBackupError | IdentityExistsError
   */
  async saveLinked (identity: StoredIdentity, options: { replace?: boolean } = {}): Promise<StoredIdentity> {
    const checked = validateStoredIdentity(identity)
    if (checked.privateKey !== undefined) throw new MalformedBackupError('A linked identity must not carry the identity private key')
    return await this.#exclusive(async () => {
      if (options.replace !== true) {
        const existing = await this.#read()
        if (existing !== undefined && existing.publicKey !== checked.publicKey) {
          throw new IdentityExistsError(`This device already has the identity ${existing.email}; linking would replace it`)
        }
      }
      await this.#write(checked)
      return checked
    })
  }

  /**
   * Keeps a newer device roster (and, on a linked device, its renewed device
   * certificate). A roster older than the stored one is ignored.
   * @throws NoIdentityError | MalformedBackupError
   */
  async updateDevices (update: { roster?: DeviceRoster, deviceCertificate?: DeviceCertificate }): Promise<StoredIdentity> {
    return await this.#exclusive(async () => {
      const identity = await this.#read()
      if (identity === undefined) throw new NoIdentityError()
      const next: StoredIdentity = { ...identity }
      if (update.roster !== undefined && (identity.roster === undefined || update.roster.seq > identity.roster.seq)) next.roster = update.roster
      if (update.deviceCertificate !== undefined) next.deviceCertificate = update.deviceCertificate
      const checked = validateStoredIdentity(next)
      await this.#write(checked)
      return checked
    })
  }

  async #createNow (email: string, displayName: string): Promise<StoredIdentity> {
    if (typeof displayName !== 'string') throw new TypeError('displayName must be a string')
    const keys = generateIdentityKey()
    const identity: StoredIdentity = {
      email,
      displayName: displayName.trim(),
      publicKey: toBase64Url(keys.publicKey),
      privateKey: toBase64Url(keys.privateKey),
      certificate: selfCertify(keys, email),
      createdAt: Date.now()
    }
    await this.#write(identity)
    return identity
  }

  async #read (): Promise<StoredIdentity | undefined> {
    const text = await this.#storage.read()
    if (text === undefined) return undefined
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      throw new MalformedBackupError('Stored identity is corrupt (not valid JSON); it was left untouched', { cause: err })
    }
    if (!isRecord(parsed) || parsed.format !== STORAGE_FORMAT) {
      throw new MalformedBackupError('Stored identity is corrupt (unknown format); it was left untouched')
    }
    if (parsed.v !== 1) throw new MalformedBackupError(`Stored identity has version ${describe(parsed.v)}; a newer Peerline may be needed`)
    return validateStoredIdentity(parsed.identity)
  }

  async #write (identity: StoredIdentity): Promise<void> {
    await this.#storage.write(JSON.stringify({ format: STORAGE_FORMAT, v: 1, identity }))
  }

  #exclusive<T> (fn: () => Promise<T>): Promise<T> {
    return this.#queue.run(fn)
  }
}

/**
 * The identity store of this device.
 *
 * @example const me = await identityStore(idbStorage({ key: 'identity' })).loadOrCreate({ email, displayName })
 */
export function identityStore (storage: IdentityStorage): IdentityStore {
  return new IdentityStore(storage)
}
