/**
 * Size: one file on purpose. CAs, pins and judge() read and write one persisted
 * document under one lock; splitting them would split the invariants between them.
 *
 * The user's trust decisions: which certificate authorities vouch for email
 * addresses, and which identity key each contact had when first met (trust on
 * first use). Peerline ships with no trusted CA; every entry here was added by
 * the user.
 *
 * ```ts
 * const trust = await openTrustStore(idbStorage({ key: 'trust' }))
 * trust.check('alice@example.org', key)          // { status: 'new' | 'pinned' | 'verified' | 'changed', … }
 * await trust.pinOnFirstUse('alice@example.org', key)
 * await trust.acceptNewKey('alice@example.org', newKey)   // after the user saw the warning
 * verifyIdentityCertificate(cert, { trustedRoots: trust.trustedRootKeys() })
 * ```
 *
 * Reads (`check`, `pin`, `trustedCas`) are synchronous over the copy loaded by
 * `load()`; each change re-reads storage, applies itself and writes back, one
 * at a time. A change that changes nothing neither writes nor emits. With
 * `{ shareAs: name }` (the PWA passes TRUST_SHARE_NAME) the read-modify-write
 * also holds the Web Lock `name` where the runtime has navigator.locks, and
 * every write is announced on BroadcastChannel `name`, so stores in other tabs
 * over the same storage reload and emit too: two tabs do not lose each other's
 * pins and do not act on stale copies.
 * A stored value that does not parse is reported (MalformedTrustStoreError)
 * and never overwritten, except by an explicit `reset()`.
 */
import { TypedEventEmitter } from 'main-event'
import { normalizeAor } from './address.ts'
import { verifyCaCertificate } from './certificate.ts'
import type { CaCertificate } from './certificate.ts'
import { MAX_CA_NAME_LENGTH, MAX_CHAIN_LENGTH, PUBLIC_KEY_LENGTH } from './constants.ts'
import { fromBase64Url, toBase64Url } from './encoding.ts'
import { InvalidCaError, KeyChangedError, MalformedTrustStoreError } from './errors.ts'
import { describe, isRecord } from './validate.ts'
import { serialQueue } from '../util/async.ts'

/** Where trust settings are kept: one text value (IndexedDB entry, file, memory). */
export interface TrustStorage {
  read(): Promise<string | undefined>
  write(data: string): Promise<void>
}

export interface TrustedCa {
  name: string
  /** base64url Ed25519 public key of the CA */
  key: string
  /** ms epoch */
  addedAt: number
}

export type TrustStatus = 'new' | 'pinned' | 'verified' | 'changed'

export interface TrustCheck {
  /**
   * new: never seen; pinned: the key seen first (or accepted later);
   * verified: pinned and the safety number was confirmed for this key;
   * changed: a different key than the pinned one
   */
  status: TrustStatus
  /** the key checked (base64url) */
  key: string
  /** the pinned key, when there is a pin */
  pinnedKey?: string
}

/**
 * How far this user can believe that a key speaks for an address: the one
 * trust vocabulary every screen shows (see `judge`). Only 'contact-verified'
 * and 'ca-verified' are a success; a self-issued certificate is at best a
 * 'known-key'.
 *
 *   contact-verified  safety numbers compared for this key        "Verified contact"
 *   ca-verified       issued by a CA this user trusts             "Verified by <CA name>"
 *   known-key         pinned on first contact, never compared     "Known key since <date>"
 *   key-changed       another key is pinned for the address       warning
 *   unverified        self-issued (or an untrusted CA), never met "Not verified — anyone can claim this address"
 */
export type TrustLevel =
  | { level: 'contact-verified', key: string, verifiedAt: number, caName?: string }
  | { level: 'ca-verified', key: string, caName: string, caKey: string }
  | { level: 'known-key', key: string, since: number }
  | { level: 'key-changed', key: string, pinnedKey: string, pinnedSince: number }
  | { level: 'unverified', key: string }

/** What `judge` needs of a certificate whose signature was already checked. */
export interface JudgedCertificate {
  /** base64url identity key */
  key: string
  /** base64url issuer key (equals `key` when self-issued) */
  issuer: string
}

/**
 * Orders trust levels for choosing between claims of one address: higher is
 * more trustworthy; 0 means nothing this user decided vouches for the key.
 */
export function trustRank (t: TrustLevel): number {
  switch (t.level) {
    case 'contact-verified': return 3
    case 'ca-verified': return 2
    case 'known-key': return 1
    default: return 0
  }
}

/** true for the two levels that may look like success in a UI */
export function isVerifiedLevel (t: TrustLevel): boolean {
  return t.level === 'contact-verified' || t.level === 'ca-verified'
}

export interface ContactPin {
  aor: string
  /** base64url identity key */
  key: string
  pinnedAt: number
  /** the key whose safety number the user confirmed; cleared by a key change */
  verifiedKey?: string
  verifiedAt?: number
  /** keys replaced with acceptNewKey, newest last (bounded by MAX_PREVIOUS_KEYS) */
  previousKeys: Array<{ key: string, replacedAt: number }>
}

export interface TrustChange {
  kind: 'ca' | 'pin' | 'reset'
  /** set for pin changes */
  aor?: string
}

export interface TrustEvents {
  'trust:change': CustomEvent<TrustChange>
}

/** A CA offered for trust: its certificate, or just a key and a name the user gives it. */
export type CaInput = CaCertificate | { key: string | Uint8Array, name: string }

/** Value of `format` in stored trust settings, so another JSON value is refused with a clear message. */
const STORAGE_FORMAT = 'peerline-trust'

/** Lock and BroadcastChannel name the PWA's tabs share the trust store under. */
export const TRUST_SHARE_NAME = 'peerline-trust'

export interface TrustStoreOptions {
  /**
   * Web Lock and BroadcastChannel name shared by every store over the same
   * storage (other tabs, windows, extension pages); unset: this store is
   * the only writer.
   */
  shareAs?: string
}

/** Keys replaced per contact that are remembered (for the "key changed" history); a handful is plenty for a UI. */
const MAX_PREVIOUS_KEYS = 8

interface TrustData {
  cas: TrustedCa[]
  pins: Map<string, ContactPin>
}

export class TrustStore extends TypedEventEmitter<TrustEvents> {
  readonly #storage: TrustStorage
  #data?: TrustData
  readonly #queue = serialQueue()
  readonly #shareAs?: string
  #channel?: BroadcastChannel

  constructor (storage: TrustStorage, options: TrustStoreOptions = {}) {
    super()
    this.#storage = storage
    if (options.shareAs !== undefined) {
      this.#shareAs = options.shareAs
      if (typeof BroadcastChannel === 'function') {
        const channel = new BroadcastChannel(options.shareAs)
        // Node keeps the process alive for an open channel; a trust store must not
        ;(channel as { unref?: () => void }).unref?.()
        channel.onmessage = (e: MessageEvent<unknown>) => { this.#reloadFor(e.data) }
        this.#channel = channel
      }
    }
  }

  /** Stops listening to other stores' changes (shared stores only). */
  close (): void {
    this.#channel?.close()
    this.#channel = undefined
  }

  /** Reads storage. Must succeed before the synchronous reads are used. @throws MalformedTrustStoreError */
  async load (): Promise<void> {
    await this.#exclusive(async () => { this.#data = await this.#read() })
  }

  /** true once load() succeeded */
  get loaded (): boolean { return this.#data !== undefined }

  // ── certificate authorities ─────────────────────────────────────────────

  trustedCas (): TrustedCa[] {
    return this.#require().cas.map(ca => ({ ...ca }))
  }

  /** The trusted CA keys, as `trustedRoots` for certificate verification. */
  trustedRootKeys (): Uint8Array[] {
    return this.#require().cas.map(ca => fromBase64Url(ca.key))
  }

  /**
   * Trusts a CA. A certificate must verify (signature by its issuer, dates);
   * a bare key must be a 32-byte base64url Ed25519 key with a name. Adding a
   * key already trusted changes nothing.
   * @throws InvalidCaError | MalformedTrustStoreError
   */
  async addCa (input: CaInput, options: { now?: number } = {}): Promise<TrustedCa> {
    const ca = validateCaInput(input, options.now ?? Date.now())
    const result = await this.#mutate({ kind: 'ca' }, data => {
      const existing = data.cas.find(c => c.key === ca.key)
      if (existing !== undefined) return { ca: { ...existing }, added: false }
      data.cas.push(ca)
      return { ca: { ...ca }, added: true }
    }, r => r.added)
    return result.ca
  }

  /** Stops trusting a CA; true when it was trusted. */
  async removeCa (key: string): Promise<boolean> {
    return await this.#mutate({ kind: 'ca' }, data => {
      const before = data.cas.length
      data.cas = data.cas.filter(c => c.key !== key)
      return data.cas.length !== before
    }, removed => removed)
  }

  // ── pinned contact keys ──────────────────────────────────────────────────

  /** What the key means for this contact. Pure: writes nothing. @throws InvalidAddressError | TypeError (bad key) */
  check (aor: string, identityKey: string | Uint8Array): TrustCheck {
    const address = normalizeAor(aor)
    const key = keyString(identityKey)
    const pin = this.#require().pins.get(address)
    return pin === undefined ? { status: 'new', key } : checkAgainst(pin, key)
  }

  /**
   * The trust level of `cert` (signature, dates and address already checked
   * by the caller) for `aor`, by this user's own decisions. Pure: writes nothing.
   * A certificate is CA-verified only when its issuer is a CA trusted here
   * (directly, or through `chain` CA certificates leading to one).
   *
   * @example trust.judge('bob@example.org', record.certificate)  // { level: 'ca-verified', caName: 'Example CA', … }
   */
  judge (aor: string, cert: JudgedCertificate, options: { chain?: CaCertificate[], now?: number } = {}): TrustLevel {
    const address = normalizeAor(aor)
    const key = cert.key
    const data = this.#require()
    const pin = data.pins.get(address)
    const ca = cert.issuer !== cert.key ? issuingCa(data.cas, cert.issuer, options.chain ?? [], options.now ?? Date.now()) : undefined
    if (pin !== undefined && pin.key === key && pin.verifiedKey === key) {
      return { level: 'contact-verified', key, verifiedAt: pin.verifiedAt ?? pin.pinnedAt, ...(ca !== undefined ? { caName: ca.name } : {}) }
    }
    if (ca !== undefined) return { level: 'ca-verified', key, caName: ca.name, caKey: ca.key }
    if (pin !== undefined && pin.key === key) return { level: 'known-key', key, since: pin.pinnedAt }
    if (pin !== undefined) return { level: 'key-changed', key, pinnedKey: pin.key, pinnedSince: pin.pinnedAt }
    return { level: 'unverified', key }
  }

  /** The pin of a contact, if any. */
  pin (aor: string): ContactPin | undefined {
    const pin = this.#require().pins.get(normalizeAor(aor))
    return pin !== undefined ? clonePin(pin) : undefined
  }

  /** Every pin, for settings screens. */
  pins (): ContactPin[] {
    return [...this.#require().pins.values()].map(clonePin)
  }

  /**
   * Pins `key` for `aor` when nothing is pinned yet (first verified contact);
   * returns the check as it was before.
   */
  async pinOnFirstUse (aor: string, identityKey: string | Uint8Array): Promise<TrustCheck> {
    const address = normalizeAor(aor)
    const key = keyString(identityKey)
    const before = this.#peek(address, key)
    if (before !== undefined && before.status !== 'new') return before
    return await this.#mutate({ kind: 'pin', aor: address }, data => {
      const pin = data.pins.get(address)
      if (pin !== undefined) return checkAgainst(pin, key)
      data.pins.set(address, { aor: address, key, pinnedAt: Date.now(), previousKeys: [] })
      return { status: 'new', key }
    }, check => check.status === 'new')
  }

  /** The user accepted a contact's new key: it replaces the pin, and the verified mark is cleared. */
  async acceptNewKey (aor: string, identityKey: string | Uint8Array): Promise<ContactPin> {
    const address = normalizeAor(aor)
    const key = keyString(identityKey)
    const result = await this.#mutate({ kind: 'pin', aor: address }, data => {
      const old = data.pins.get(address)
      const now = Date.now()
      if (old !== undefined && old.key === key) return { pin: clonePin(old), replaced: false }
      const previousKeys = old !== undefined ? [...old.previousKeys, { key: old.key, replacedAt: now }].slice(-MAX_PREVIOUS_KEYS) : []
      const pin: ContactPin = { aor: address, key, pinnedAt: now, previousKeys }
      data.pins.set(address, pin)
      return { pin: clonePin(pin), replaced: true }
    }, r => r.replaced)
    return result.pin
  }

  /**
   * The user compared safety numbers for this key and they matched. Pins the
   * key when nothing was pinned.
   * @throws KeyChangedError when another key is pinned (accept it first)
   */
  async markVerified (aor: string, identityKey: string | Uint8Array): Promise<ContactPin> {
    const address = normalizeAor(aor)
    const key = keyString(identityKey)
    return await this.#mutate({ kind: 'pin', aor: address }, data => {
      const now = Date.now()
      const old = data.pins.get(address)
      if (old !== undefined && old.key !== key) throw new KeyChangedError({ aor: address, previousKey: old.key, newKey: key })
      const pin: ContactPin = old ?? { aor: address, key, pinnedAt: now, previousKeys: [] }
      pin.verifiedKey = key
      pin.verifiedAt = now
      data.pins.set(address, pin)
      return clonePin(pin)
    }, () => true)
  }

  /** Removes the verified mark (the pin stays). */
  async clearVerified (aor: string): Promise<void> {
    const address = normalizeAor(aor)
    await this.#mutate({ kind: 'pin', aor: address }, data => {
      const pin = data.pins.get(address)
      if (pin === undefined || (pin.verifiedKey === undefined && pin.verifiedAt === undefined)) return false
      delete pin.verifiedKey
      delete pin.verifiedAt
      return true
    }, cleared => cleared)
  }

  /** Forgets a contact's pin entirely (the next key seen is pinned again). */
  async forget (aor: string): Promise<void> {
    const address = normalizeAor(aor)
    await this.#mutate({ kind: 'pin', aor: address }, data => data.pins.delete(address), deleted => deleted)
  }

  /** Replaces whatever is stored (even unreadable data) with an empty trust store. The only way past MalformedTrustStoreError. */
  async reset (): Promise<void> {
    await this.#exclusive(async () => {
      const data: TrustData = { cas: [], pins: new Map() }
      await this.#write(data)
      this.#data = data
    })
    this.#announce({ kind: 'reset' })
  }

  // ── internals ────────────────────────────────────────────────────────────

  #require (): TrustData {
    if (this.#data === undefined) throw new MalformedTrustStoreError('The trust store has not been loaded (or its stored data is unreadable)')
    return this.#data
  }

  #peek (aor: string, key: string): TrustCheck | undefined {
    const pin = this.#data?.pins.get(aor)
    if (this.#data === undefined) return undefined
    return pin === undefined ? { status: 'new', key } : checkAgainst(pin, key)
  }

  /** Re-reads storage, applies `apply`, and only when `changed(result)` writes and emits. */
  async #mutate<T> (change: TrustChange, apply: (data: TrustData) => T, changed: (result: T) => boolean): Promise<T> {
    const { value, wrote } = await this.#exclusive(async () => {
      const data = await this.#read()
      const value = apply(data)
      const wrote = changed(value)
      if (wrote) await this.#write(data)
      this.#data = data
      return { value, wrote }
    })
    if (wrote) this.#announce(change)
    return value
  }

  /** Emits a change made here and tells the stores sharing the storage. */
  #announce (change: TrustChange): void {
    try {
      this.#channel?.postMessage(change)
    } catch { /* a closed channel: nobody else to tell */ }
    this.#emit(change)
  }

  /** Another store wrote: reload, then emit its change here. Unreadable data keeps the last good copy. */
  #reloadFor (message: unknown): void {
    if (!isRecord(message) || (message.kind !== 'ca' && message.kind !== 'pin' && message.kind !== 'reset')) return
    const change: TrustChange = { kind: message.kind, ...(typeof message.aor === 'string' ? { aor: message.aor } : {}) }
    this.#exclusive(async () => { this.#data = await this.#read() })
      .then(() => { this.#emit(change) }, () => { /* left as it was; the next load() reports it */ })
  }

  #emit (change: TrustChange): void {
    try {
      this.dispatchEvent(new CustomEvent('trust:change', { detail: change }))
    } catch { /* a listener's failure is not the store's */ }
  }

  async #read (): Promise<TrustData> {
    const text = await this.#storage.read()
    if (text === undefined) return { cas: [], pins: new Map() }
    return parseTrustData(text)
  }

  async #write (data: TrustData): Promise<void> {
    await this.#storage.write(JSON.stringify({ format: STORAGE_FORMAT, v: 1, cas: data.cas, pins: [...data.pins.values()] }))
  }

  /** One change at a time here, and across stores sharing the storage (Web Lock) where available. */
  #exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const name = this.#shareAs
    const locks = name !== undefined ? (globalThis.navigator as { locks?: LockManager } | undefined)?.locks : undefined
    const locked = locks !== undefined && name !== undefined ? async () => await locks.request(name, fn) as T : fn
    return this.#queue.run(locked)
  }
}

/** Creates and loads a trust store. @throws MalformedTrustStoreError when the stored value is corrupt */
export async function openTrustStore (storage: TrustStorage, options: TrustStoreOptions = {}): Promise<TrustStore> {
  const store = new TrustStore(storage, options)
  await store.load()
  return store
}

/**
 * What a user pasted as a CA: a CA certificate (JSON), or a JSON `{name, key}`.
 * A bare base64url key needs `name` too.
 * @throws InvalidCaError
 */
export function parseCaInput (text: string, name?: string): CaInput {
  const trimmed = text.trim()
  if (trimmed === '') throw new InvalidCaError('Paste a CA certificate or a CA key')
  if (trimmed.startsWith('{')) {
    let value: unknown
    try {
      value = JSON.parse(trimmed)
    } catch (err) {
      throw new InvalidCaError('This is not valid JSON', { cause: err })
    }
    if (!isRecord(value)) throw new InvalidCaError('Expected a CA certificate object')
    if (value.kind === 'ca') return value as unknown as CaCertificate
    if (typeof value.key === 'string') {
      const given = name !== undefined && name.trim() !== '' ? name : value.name
      if (typeof given !== 'string') throw new InvalidCaError('Give the CA a name')
      return { key: value.key, name: given }
    }
    throw new InvalidCaError('Expected a CA certificate (kind "ca") or an object with "key" and "name"')
  }
  if (name === undefined || name.trim() === '') throw new InvalidCaError('Give the CA a name')
  return { key: trimmed, name }
}

function validateCaInput (input: CaInput, now: number): TrustedCa {
  if (!isRecord(input)) throw new InvalidCaError(`Expected a CA certificate or {key, name} (got ${describe(input)})`)
  if ((input as { kind?: unknown }).kind === 'ca') {
    let ca: CaCertificate
    try {
      ca = verifyCaCertificate(input, { now })
    } catch (err) {
      throw new InvalidCaError(`The CA certificate does not verify: ${(err as Error).message}`, { cause: err })
    }
    return { name: ca.name, key: ca.key, addedAt: now }
  }
  const { key, name } = input as { key?: unknown, name?: unknown }
  if (typeof name !== 'string' || name.trim() === '' || name.trim().length > MAX_CA_NAME_LENGTH) {
    throw new InvalidCaError(`A CA needs a name of 1 to ${MAX_CA_NAME_LENGTH} characters`)
  }
  let encoded: string
  try {
    encoded = keyString(key as string | Uint8Array)
  } catch (err) {
    throw new InvalidCaError(`The CA key is not a ${PUBLIC_KEY_LENGTH}-byte base64url Ed25519 key`, { cause: err })
  }
  return { name: name.trim(), key: encoded, addedAt: now }
}

/** A key as canonical base64url, checking it is a 32-byte Ed25519 public key. @throws TypeError */
function keyString (key: string | Uint8Array): string {
  let bytes: Uint8Array
  if (key instanceof Uint8Array) {
    bytes = key
  } else if (typeof key === 'string') {
    try {
      bytes = fromBase64Url(key.trim())
    } catch (err) {
      throw new TypeError('Identity key is not valid base64url', { cause: err })
    }
  } else {
    throw new TypeError('Identity key must be a base64url string or bytes')
  }
  if (bytes.length !== PUBLIC_KEY_LENGTH) throw new TypeError(`Identity key must be ${PUBLIC_KEY_LENGTH} bytes (got ${bytes.length})`)
  return toBase64Url(bytes)
}

/** The trusted CA behind `issuer`, directly or through a chain of CA certificates; undefined when none is trusted. */
function issuingCa (cas: TrustedCa[], issuer: string, chain: CaCertificate[], now: number): TrustedCa | undefined {
  let current = issuer
  for (let used = 0; used <= MAX_CHAIN_LENGTH; used++) {
    const trusted = cas.find(ca => ca.key === current)
    if (trusted !== undefined) return trusted
    const link = chain.find(c => c.key === current)
    if (link === undefined) return undefined
    try {
      const verified = verifyCaCertificate(link, { now })
      if (verified.issuer === verified.key) return undefined
      current = verified.issuer
    } catch {
      return undefined
    }
  }
  return undefined
}

function checkAgainst (pin: ContactPin, key: string): TrustCheck {
  if (pin.key !== key) return { status: 'changed', key, pinnedKey: pin.key }
  return { status: pin.verifiedKey === key ? 'verified' : 'pinned', key, pinnedKey: pin.key }
}

function clonePin (pin: ContactPin): ContactPin {
  return { ...pin, previousKeys: pin.previousKeys.map(p => ({ ...p })) }
}

function parseTrustData (text: string): TrustData {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new MalformedTrustStoreError('Stored trust settings are corrupt (not valid JSON); they were left untouched', { cause: err })
  }
  if (!isRecord(parsed) || parsed.format !== STORAGE_FORMAT) {
    throw new MalformedTrustStoreError('Stored trust settings are corrupt (unknown format); they were left untouched')
  }
  if (parsed.v !== 1) throw new MalformedTrustStoreError(`Stored trust settings have version ${describe(parsed.v)}; a newer Peerline may be needed`)
  if (!Array.isArray(parsed.cas) || !Array.isArray(parsed.pins)) {
    throw new MalformedTrustStoreError('Stored trust settings are corrupt (missing lists); they were left untouched')
  }
  const cas: TrustedCa[] = parsed.cas.map((c: unknown, i: number) => {
    if (!isRecord(c) || typeof c.name !== 'string' || typeof c.key !== 'string' || typeof c.addedAt !== 'number') {
      throw new MalformedTrustStoreError(`Stored trusted CA #${i + 1} is corrupt; the trust settings were left untouched`)
    }
    return { name: c.name, key: storedKey(c.key, `trusted CA "${c.name}"`), addedAt: c.addedAt }
  })
  const pins = new Map<string, ContactPin>()
  for (const p of parsed.pins as unknown[]) {
    if (!isRecord(p) || typeof p.aor !== 'string' || typeof p.key !== 'string' || typeof p.pinnedAt !== 'number') {
      throw new MalformedTrustStoreError('A stored pinned key is corrupt; the trust settings were left untouched')
    }
    const what = `pinned key of ${p.aor}`
    const pin: ContactPin = {
      aor: p.aor,
      key: storedKey(p.key, what),
      pinnedAt: p.pinnedAt,
      previousKeys: Array.isArray(p.previousKeys)
        ? p.previousKeys.map((k: unknown) => {
          if (!isRecord(k) || typeof k.key !== 'string' || typeof k.replacedAt !== 'number') throw new MalformedTrustStoreError(`Stored ${what} is corrupt`)
          return { key: k.key, replacedAt: k.replacedAt }
        })
        : []
    }
    if (typeof p.verifiedKey === 'string') pin.verifiedKey = p.verifiedKey
    if (typeof p.verifiedAt === 'number') pin.verifiedAt = p.verifiedAt
    pins.set(pin.aor, pin)
  }
  return { cas, pins }
}

function storedKey (key: string, what: string): string {
  try {
    return keyString(key)
  } catch (err) {
    throw new MalformedTrustStoreError(`Stored ${what} is corrupt; the trust settings were left untouched`, { cause: err })
  }
}
