/**
 * What the PWA shows about a contact's identity key: the pin in the trust
 * store (shared/identity/trust.ts) plus keys seen this session that differ
 * from it (a refused call or message, an incoming call flagged 'changed'),
 * which the user may accept. Such a key is forgotten as soon as the contact is
 * seen on the pinned key again (an incoming call or message not flagged, a
 * call or message of ours that got through, the pin now being that key), so
 * "Accept new key" never pins a key that is no longer presented. Screens read
 * `status(aor)` and re-render on 'change'.
 *
 * ```ts
 * const watch = new KeyWatch(trust)
 * watch.watchPhone(phone)
 * watch.status('bob@example.org')   // { status: 'changed', pinnedKey, newKey }
 * await watch.acceptNewKey('bob@example.org')
 * ```
 */
import { TypedEventEmitter } from 'main-event'
import { normalizeAor, safetyNumber } from '../../identity/index.ts'
import type { SafetyNumber, TrustLevel, TrustStore } from '../../identity/index.ts'
import type { Call, IncomingMessage, Phone, RemoteParty } from '../../sip/api.ts'
import { partyTrust } from '../trust-text.ts'
import type { TrustSnapshot } from '../trust-text.ts'
import { logger } from '../../util/logger.ts'

const log = logger('pwa:trust')

export interface ContactTrust {
  /** unknown: no pin (never met, or the trust store is unavailable) */
  status: 'unknown' | 'pinned' | 'verified' | 'changed'
  pinnedKey?: string
  /** the key presented instead of the pinned one (status 'changed') */
  newKey?: string
}

export interface KeyWatchEvents {
  /** something about `aor`'s trust changed (undefined: possibly everyone's) */
  change: CustomEvent<{ aor?: string }>
}

export class KeyWatch extends TypedEventEmitter<KeyWatchEvents> {
  readonly store: TrustStore
  /** aor → the key presented this session that differs from the pin */
  readonly #presented = new Map<string, string>()
  /** aor → the newest certificate seen this session (key and issuer) and its level when first met */
  readonly #seen = new Map<string, { key: string, issuer: string, met?: TrustLevel }>()

  constructor (store: TrustStore) {
    super()
    this.store = store
    store.addEventListener('trust:change', e => {
      const aor = e.detail.aor
      for (const address of aor !== undefined ? [aor] : [...this.#presented.keys()]) {
        const pin = store.loaded ? store.pin(address) : undefined
        // the noted key was accepted (here or in another tab), or the pin is gone: nothing left to accept
        if (pin === undefined || pin.key === this.#presented.get(address)) this.#presented.delete(address)
      }
      this.#changed(aor)
    })
  }

  status (aor: string): ContactTrust {
    if (!this.store.loaded) return { status: 'unknown' }
    const pin = this.store.pin(aor)
    if (pin === undefined) return { status: 'unknown' }
    const presented = this.#presented.get(normalizeAor(aor))
    if (presented !== undefined && presented !== pin.key) return { status: 'changed', pinnedKey: pin.key, newKey: presented }
    return { status: pin.verifiedKey === pin.key ? 'verified' : 'pinned', pinnedKey: pin.key }
  }

  /**
   * How far `aor`'s identity is proven now, for the chat header and the buddy
   * list: a changed key first; else the certificate seen this session judged
   * by the trust store (a key pinned during this session's first contact is
   * not yet "known"); else the pin alone (its issuer is not kept: at most a
   * known key); else nothing proven.
   */
  level (aor: string): TrustSnapshot {
    const address = normalizeAor(aor)
    const status = this.status(address)
    if (status.status === 'changed') return { level: 'key-changed' }
    const seen = this.#seen.get(address)
    if (seen !== undefined) {
      return partyTrust({ aor: address, authenticated: true, identityKey: seen.key, issuer: seen.issuer, trustLevel: seen.met }, this.store)
    }
    if (status.pinnedKey !== undefined) return partyTrust({ aor: address, authenticated: true, identityKey: status.pinnedKey, issuer: status.pinnedKey }, this.store)
    return { level: 'unverified' }
  }

  /** Remembers the certificate of an authenticated party (a call either way, a message either way) for level(). */
  noteSeen (remote: Pick<RemoteParty, 'aor' | 'authenticated' | 'identityKey' | 'issuer' | 'trustLevel'>): void {
    if (!remote.authenticated || remote.identityKey === undefined) return
    const address = normalizeAor(remote.aor)
    const before = this.#seen.get(address)
    // the level when first met this session is kept while the key stays the same
    const met = before !== undefined && before.key === remote.identityKey ? before.met : remote.trustLevel
    this.#seen.set(address, { key: remote.identityKey, issuer: remote.issuer ?? remote.identityKey, ...(met !== undefined ? { met } : {}) })
    this.#changed(address)
  }

  /** Remembers a key that differs from the pin (from a KeyChangedError or a flagged remote party). */
  noteKey (aor: string, key: string): void {
    const address = normalizeAor(aor)
    if (this.#presented.get(address) === key) return
    this.#presented.set(address, key)
    this.#changed(address)
  }

  /** Call this with any call/message failure: a KeyChangedError is remembered. */
  noteError (err: unknown): void {
    const e = err as { name?: string, aor?: string, newKey?: string }
    if (e?.name === 'KeyChangedError' && typeof e.aor === 'string' && typeof e.newKey === 'string') this.noteKey(e.aor, e.newKey)
  }

  /**
   * The contact was just seen on its pinned key (our call or message to it got
   * through the pin check): a key change noted earlier is over.
   */
  noteOk (aor: string): void {
    const address = normalizeAor(aor)
    if (this.#presented.delete(address)) this.#changed(address)
  }

  /** Flags incoming calls and messages whose key changed, and clears the flag when one arrives on the pinned key. */
  watchPhone (phone: Phone): void {
    const note = (remote: RemoteParty): void => {
      this.noteSeen(remote)
      if (remote.trust === 'changed') {
        if (remote.identityKey !== undefined) this.noteKey(remote.aor, remote.identityKey)
      } else if (remote.trust !== undefined) {
        this.noteOk(remote.aor)
      }
    }
    phone.addEventListener('call:incoming', (e: CustomEvent<Call>) => { note(e.detail.remote) })
    phone.addEventListener('message:incoming', (e: CustomEvent<IncomingMessage>) => { note(e.detail.from) })
  }

  /** The user accepted the key presented instead of the pinned one. */
  async acceptNewKey (aor: string): Promise<void> {
    const address = normalizeAor(aor)
    const key = this.#presented.get(address)
    if (key === undefined) return
    await this.store.acceptNewKey(address, key)
    this.#presented.delete(address)
    log('accepted a new key for %s', address)
    this.#changed(address)
  }

  /** The safety number for me and `theirKey`, by default `aor`'s pinned key. */
  safety (me: { aor: string, key: string }, aor: string, theirKey?: string): SafetyNumber | undefined {
    const key = theirKey ?? this.status(aor).pinnedKey
    return key !== undefined ? safetyNumber(me, { aor, key }) : undefined
  }

  #changed (aor?: string): void {
    this.dispatchEvent(new CustomEvent('change', { detail: aor !== undefined ? { aor } : {} }))
  }
}
