/**
 * Size: a facade on purpose. Publishing (publisher.ts), finding claims (claim-finder.ts), others' rosters
 * (roster-book.ts), the own roster (own-devices.ts) and pairing are components; what stays
 * here is start/stop and the wiring between them and libp2p.
 *
 * The overlay: a device's view of Peerline's DHT location service.
 *
 * ```ts
 * const o = overlay({ bootstrap: ['/ip4/127.0.0.1/tcp/9001/ws/p2p/12D3…'], identity })
 * await o.start()
 * await o.publish()                        // "alice@example.org is here"
 * const rec = await o.lookup('bob@example.org', { signal })   // the claim the user trusts most
 * const all = await o.lookupClaims('bob@example.org')         // every identity claiming the address
 * ```
 *
 * Claims: every identity key claiming an address has its own record in the
 * DHT (claims.ts); `lookup` picks by the user's trust store (`init.trust`)
 * and throws ConflictingClaimsError when several keys claim the address and
 * the user trusts none of them. Replay rules and known rosters are kept per
 * (address, identity key). This device's own publishing only looks at its
 * own identity's claim.
 *
 * Linked devices: an identity's devices share one location record. Each
 * device publishes the merged record: it looks its own address up first,
 * takes the newest device roster (its own or the one found), keeps the
 * entries the other active devices published, and puts its own addresses
 * in. The primary device (the one holding the identity key) keeps the
 * roster: it adds devices by pairing (`createPairingOffer`), drops them with
 * `revokeDevice`, renews their certificates. A device that finds itself
 * revoked stops publishing and says so (`device:revoked`).
 *
 * `Overlay` is a facade over its components, each with its own file:
 * the connector (supernode connections), the publisher (publisher.ts:
 * merge, timers, retries), own-devices.ts (this identity's roster and
 * linked devices), roster-book.ts (what others' records and rosters said,
 * persisted), claim-finder.ts (lookups) and the pairing host.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { TypedEventEmitter } from 'main-event'
import {
  normalizeAor, rosterDevice, verifyDeviceCertificate, verifyDeviceRoster, verifyIdentityCertificate, DeviceRevokedError,
  IdentityExistsError
} from '../identity/index.ts'
import type { DeviceRoster, RevokedDevice, StoredIdentity, TrustStore } from '../identity/index.ts'
import type { PrivateKey } from '@libp2p/interface'
import { anySignal } from '../util/async.ts'
import { logger } from '../util/logger.ts'
import { SupernodeConnector } from './connector.ts'
import { LOOKUP_TIMEOUT_MS, ROSTER_CHECK_LOOKUP_TIMEOUT_MS, ROSTER_CHECK_TTL_MS, ROSTER_RECHECK_MIN_MS } from './constants.ts'
import { NotFoundError, OfflineError } from './errors.ts'
import { createOverlayNode } from './node.ts'
import type { OverlayLibp2p } from './node.ts'
import { OwnDevices } from './own-devices.ts'
import { PairingHost, requestPairing } from './pairing.ts'
import type { PairingGrant, PairingOffer } from './pairing.ts'
import { Publisher } from './publisher.ts'
import { ANY_ISSUER } from './claims.ts'
import type { AddressClaim } from './claims.ts'
import { chooseClaim, ClaimFinder } from './claim-finder.ts'
import type { FoundClaim } from './claim-finder.ts'
import type { DeviceEntry, LocationRecord } from './record.ts'
import { judgeDevice, RosterBook } from './roster-book.ts'
import type { DeviceStanding, KnownRoster } from './roster-book.ts'
import type { AbortOptions, LinkedDeviceInfo, LookupOptions, OverlayComponents, OverlayEvents, OverlayInit, OverlayStatus } from './types.ts'

export type { DeviceStanding } from './roster-book.ts'
export type {
  AbortOptions, DeviceRevokedDetail, LinkedDeviceInfo, LookupOptions, OverlayComponents, OverlayEvents, OverlayInit, OverlayStatus
} from './types.ts'

const log = logger('overlay')

export class Overlay extends TypedEventEmitter<OverlayEvents> {
  node!: OverlayLibp2p
  private readonly init: OverlayInit
  private readonly components: OverlayComponents
  private connector?: SupernodeConnector
  private shutdown = new AbortController()
  private privateKey?: PrivateKey
  private pairing?: PairingHost
  private readonly own: OwnDevices
  private readonly book: RosterBook
  private readonly publisher: Publisher
  private readonly finder: ClaimFinder
  private readonly rosterLookups = new Map<string, Promise<KnownRoster>>()
  private lastStatus: OverlayStatus = { online: false, supernodes: 0 }
  /** the normalised AOR of the identity's email, kept with the email it was made from (asked per incoming SIP request) */
  private ownAorCache?: { email: string, aor: string }

  constructor (init: OverlayInit, components: OverlayComponents = {}) {
    super()
    this.init = init
    this.components = components
    const dispatch = <K extends keyof OverlayEvents>(type: K, detail: OverlayEvents[K]['detail']): void => { this.safeDispatch(type, detail) }
    this.finder = new ClaimFinder({
      node: () => this.node,
      online: () => this.lastStatus.online,
      shutdown: () => this.shutdown.signal,
      ...(init.recordOptions != null ? { recordOptions: init.recordOptions } : {}),
      trust: () => this.init.trust
    })
    this.book = new RosterBook({ ...(init.rosterStorage != null ? { storage: init.rosterStorage } : {}) })
    this.own = new OwnDevices({
      init,
      peerId: () => this.peerId,
      privateKey: () => this.privateKey,
      dispatch,
      republishSoon: () => { this.publisher.republishSoon() },
      stopPublishing: () => { this.publisher.stopTimers() }
    })
    this.publisher = new Publisher({
      init,
      node: () => this.node,
      own: this.own,
      book: this.book,
      online: () => this.lastStatus.online,
      shutdown: () => this.shutdown.signal,
      peerId: () => this.peerId,
      deviceEntry: () => this.deviceEntry(),
      findOwn: async (aor, signal) => await this.findOwn(aor, signal),
      dispatch
    })
  }

  get status (): OverlayStatus { return this.lastStatus }
  get peerId (): string { return this.node.peerId.toString() }
  /** the identity this device speaks for (undefined before onboarding) */
  get identity (): StoredIdentity | undefined { return this.init.identity }
  /** true when this device holds the identity key (it manages the roster) */
  get primary (): boolean { return this.own.primary }
  /** true once this device learnt it was removed from its identity */
  get isRevoked (): boolean { return this.own.revoked }
  /** the trust store claims are judged by (`init.trust`); a phone on this overlay hands over its own when none was given */
  get trust (): TrustStore | undefined { return this.init.trust }
  set trust (trust: TrustStore | undefined) { this.init.trust = trust }
  /** the record this device last published */
  private get published (): LocationRecord | undefined { return this.publisher.published }

  async start (): Promise<void> {
    this.shutdown = new AbortController()
    if (this.components.node == null) this.privateKey = this.init.privateKey ?? await generateKeyPair('Ed25519')
    this.node = this.components.node ?? await createOverlayNode({
      mode: 'client',
      ...(this.privateKey != null ? { privateKey: this.privateKey } : {}),
      ...(this.init.datastore != null ? { datastore: this.init.datastore } : {}),
      ...(this.init.webrtc != null ? { webrtc: this.init.webrtc } : {}),
      ...(this.init.iceServers != null ? { iceServers: this.init.iceServers } : {}),
      // the node keeps claims by any CA whose signature checks: the lookup judges the issuer (a CA the user trusts, or a pinned key)
      recordOptions: { ...this.init.recordOptions, certificate: ANY_ISSUER },
      publicOnly: this.init.allowPrivateAddresses === false,
      onRecordRejected: (key, err) => { this.finder.rejected(key, err) }
    })
    this.connector = new SupernodeConnector(this.node, { bootstrap: this.init.bootstrap, ...this.init.reconnect })
    this.node.addEventListener('peer:connect', this.updateStatus)
    this.node.addEventListener('peer:disconnect', this.updateStatus)
    this.node.addEventListener('self:peer:update', this.addressesChanged)
    this.publisher.start()
    await this.node.start()
    this.connector.start()
  }

  async stop (): Promise<void> {
    this.shutdown.abort()
    this.publisher.stop()
    this.connector?.stop()
    await this.pairing?.stop()
    this.pairing = undefined
    this.node.removeEventListener('peer:connect', this.updateStatus)
    this.node.removeEventListener('peer:disconnect', this.updateStatus)
    this.node.removeEventListener('self:peer:update', this.addressesChanged)
    await this.node.stop()
    await this.book.stop()
    this.setStatus({ online: false, supernodes: 0 })
  }

  /** Supernodes this device is connected to (peer ids). */
  supernodes (): string[] { return this.connector?.connected() ?? [] }

  /** Resolves once connected to at least one supernode. */
  async waitOnline (options: AbortOptions = {}): Promise<void> {
    if (this.lastStatus.online) return
    const signal = anySignal(options.signal, this.shutdown.signal)
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        this.removeEventListener('status:change', check)
        signal.removeEventListener('abort', abort)
      }
      const check = (): void => { if (this.lastStatus.online) { done(); resolve() } }
      const abort = (): void => { done(); reject(signal.reason ?? new OfflineError()) }
      this.addEventListener('status:change', check)
      signal.addEventListener('abort', abort)
      check()
    })
  }

  /** The device entry this node would publish now: its peer id, certificate, addresses. */
  deviceEntry (): DeviceEntry {
    const addrs = this.node.getMultiaddrs().map(a => a.toString())
      // relay addresses first: they work from anywhere; direct ones are a bonus
      .sort((a, b) => Number(!a.includes('/p2p-circuit')) - Number(!b.includes('/p2p-circuit')))
    return { peerId: this.peerId, certificate: this.own.ownCertificate(), addrs, publishedAt: Date.now() }
  }

  /**
   * Signs and stores this device's location record in the DHT, and keeps it
   * fresh: republished before it expires and whenever the addresses change.
   * The record merges the entries of the identity's other devices (see the
   * module comment).
   * @throws OfflineError | DeviceRevokedError | NotPrimaryDeviceError (a linked device without a roster) | DHT errors
   */
  async publish (options: AbortOptions = {}): Promise<LocationRecord> {
    return await this.publisher.publish(options)
  }

  /**
   * Finds where an address can be reached: the record of the claim this
   * user trusts most (see `lookupClaims`), or of `identityKey`'s claim.
   * Throws NotFoundError when nobody published it (or `identityKey` has no
   * claim), ConflictingClaimsError when several keys claim it and the trust
   * store vouches for none, OfflineError when no supernode is connected, or
   * the error naming the rule a found record broke (RecordExpiredError,
   * BadSignatureError, WrongEmailError, StaleRecordError, UnknownIssuerError…).
   *
   * @example await o.lookup('bob@example.org', { identityKey: claims[1].identityKey })
   */
  async lookup (address: string, options: LookupOptions = {}): Promise<LocationRecord> {
    const aor = normalizeAor(address)
    return chooseClaim(aor, await this.claimsOf(aor, options), options.identityKey)
  }

  /**
   * Every valid claim on an address, one per identity key (its newest valid
   * record), judged by `init.trust`. Throws like `lookup` when there is none.
   *
   * @example (await o.lookupClaims('bob@example.org')).map(c => [c.fingerprint, c.selfIssued, c.trust.level])
   */
  async lookupClaims (address: string, options: AbortOptions = {}): Promise<AddressClaim[]> {
    return (await this.claimsOf(normalizeAor(address), options)).map(f => f.claim)
  }

  /** The claims found, each checked against what was seen of its identity (replays dropped), rosters learnt. */
  private async claimsOf (aor: string, options: AbortOptions): Promise<FoundClaim[]> {
    await this.book.load()
    const found = await this.finder.find(aor, options)
    const accepted: FoundClaim[] = []
    let stale: Error | undefined
    for (const f of found.claims) {
      try {
        this.book.accept(f.claim.record)
        accepted.push(f)
        if (this.isOwn(aor, f.claim.record)) this.own.learn(f.claim.record.roster)
      } catch (err) {
        stale ??= err as Error
      }
    }
    if (accepted.length === 0 && (stale ?? found.error) != null) throw stale ?? found.error
    if (accepted.length === 0) throw new NotFoundError(`${aor} is not online (no location record in the overlay)`)
    return accepted
  }

  /**
   * Swaps in an updated identity (e.g. one whose certificate a CA just
   * issued, or the one a pairing gave) and republishes at once when a
   * record is out.
   */
  setIdentity (identity: StoredIdentity): void {
    this.own.setIdentity(identity)
    if (this.published != null) this.publisher.republish()
  }

  // ---- linked devices ----

  /** The identity's devices as this device knows them (the newest roster seen). */
  devices (): LinkedDeviceInfo[] {
    return this.own.devices(this.published, this.node?.peerId?.toString())
  }

  /** Devices the identity revoked (newest roster). */
  revokedDevices (): RevokedDevice[] { return this.own.revokedDevices() }

  /**
   * A pairing offer for a new device (see pairing.ts); replaces any open one.
   * `name` is the new device's name if it does not send one. Listeners of
   * 'pairing:offer' hear of every offer made.
   * @throws NotPrimaryDeviceError | OfflineError
   */
  async createPairingOffer (init: { name?: string } = {}): Promise<PairingOffer> {
    const identity = this.own.requirePrimary()
    if (!this.lastStatus.online) throw new OfflineError('Cannot offer pairing: not connected to any supernode')
    if (this.pairing == null) {
      const host = new PairingHost(this.node, {
        ...this.init.pairing,
        grant: async (peerId, name) => await this.grantDevice(peerId, name),
        canGrant: peerId => { this.own.checkDeviceLimit(peerId) }
      })
      await host.start()
      this.pairing = host
    }
    const addrs = this.deviceEntry().addrs
    const offer = this.pairing.createOffer({ aor: identity.email, addrs, ...(init.name != null ? { name: init.name } : {}) })
    this.safeDispatch('pairing:offer', offer)
    return offer
  }

  /** Cancels the open pairing offer, if any. */
  cancelPairingOffer (): void { this.pairing?.cancel() }

  /** The open pairing offer (not used, cancelled or expired), if any. */
  currentPairingOffer (): PairingOffer | undefined { return this.pairing?.current() }

  /** Roster seq of the record this device last published (a revocation is out once this reaches its seq). */
  get publishedRosterSeq (): number | undefined { return this.published?.roster.seq }

  /**
   * Joins the identity of the primary device that made `offer`: sends the
   * code, checks what comes back (identity certificate for the offer's
   * address, a device certificate and roster for this peer, all signed by
   * that identity) and takes the linked identity on (saved to the identity
   * store when there is one). Call it on an overlay without identity.
   * @throws PairingCodeError | PairingExpiredError | PairingCancelledError | PairingFailedError | certificate errors
   */
  async acceptPairing (offer: PairingOffer, init: { name: string, code?: string, signal?: AbortSignal }): Promise<StoredIdentity> {
    if (this.init.identity != null) throw new IdentityExistsError(`This device already has the identity ${this.init.identity.email}`)
    const reply = await requestPairing(this.node, offer, init)
    const grant = reply as unknown as PairingGrant
    const identityCert = verifyIdentityCertificate(grant.identityCertificate, { ...this.init.recordOptions?.certificate, email: offer.aor })
    const deviceCertificate = verifyDeviceCertificate(grant.deviceCertificate, { identityKey: identityCert.key, peerId: this.peerId })
    const roster = verifyDeviceRoster(grant.roster, { identityKey: identityCert.key })
    if (rosterDevice(roster, this.peerId)?.sig !== deviceCertificate.sig) {
      throw new DeviceRevokedError('The roster the other device sent does not list this device')
    }
    const displayName = typeof grant.displayName === 'string' ? grant.displayName.slice(0, 200) : ''
    const linked: StoredIdentity = {
      email: identityCert.email,
      displayName,
      publicKey: identityCert.key,
      certificate: identityCert,
      createdAt: Date.now(),
      deviceCertificate,
      roster
    }
    const saved = this.init.identityStore != null ? await this.init.identityStore.saveLinked(linked) : linked
    this.setIdentity(saved)
    this.own.linked(roster, deviceCertificate)
    log('linked to %s as device "%s"', saved.email, deviceCertificate.name)
    return saved
  }

  /**
   * Removes a device from the identity (primary only): a new roster without
   * it (seq + 1) is saved and published; the device drops out of the
   * record, and calls from it are refused by devices that learn the roster.
   * @throws NotPrimaryDeviceError | UnknownDeviceError (a TypeError naming the device) | DHT errors from the publish
   */
  async revokeDevice (peerId: string, options: AbortOptions = {}): Promise<DeviceRoster> {
    this.own.requirePrimary()
    return await this.publisher.run(async () => {
      if (this.lastStatus.online) await this.refreshOwnRoster(options).catch(err => { log('roster refresh before revoking failed: %s', (err as Error).message) })
      const roster = await this.own.revoke(peerId)
      if (!this.lastStatus.online) {
        this.publisher.publishWhenOnline = true
        return roster
      }
      try {
        await this.publisher.publishNow(options)
      } catch (err) {
        // saved here; published by the retry (other devices learn it then): see publishedRosterSeq
        log('publishing the revocation failed, retrying: %s', (err as Error).message)
        this.safeDispatch('publish:error', err as Error)
        this.publisher.retrySoon()
      }
      return roster
    })
  }

  /**
   * Whether device `peerId` may speak for `aor` with identity key
   * `identityKey`, judged by the newest roster this device knows; looks the
   * address up (bounded, cached per address) when that roster is missing,
   * old or does not list the device. Unknown (no record found) is allowed:
   * the certificate checks still apply.
   */
  async deviceStanding (aor: string, identityKey: string, peerId: string, options: AbortOptions = {}): Promise<DeviceStanding> {
    const ttl = this.init.rosterCheckTtlMs ?? ROSTER_CHECK_TTL_MS
    await this.book.load()
    const now = Date.now()
    const own = this.isOwnAor(aor) && this.own.roster != null
    const known: KnownRoster | undefined = own ? { roster: this.own.roster, at: now } : this.book.known(aor, identityKey)
    const verdict = judgeDevice(known?.roster, identityKey, peerId)
    const age = known == null ? Infinity : now - known.at
    if (age < ttl) {
      // fail open only when nothing at all is known of the address (no record was ever found): the certificate checks still apply
      if (verdict == null && known?.roster == null) return { ok: true, known: false }
      if (verdict != null && (verdict.ok || verdict.reason !== 'DeviceNotInRosterError')) return verdict
      // not listed: a device paired a moment ago is in a newer roster, unless we just looked
      if (verdict != null && !own && age < ROSTER_RECHECK_MIN_MS) return verdict
    }
    let fresh: KnownRoster | undefined
    try {
      fresh = await this.rosterOf(aor, identityKey, options)
    } catch (err) {
      log('roster lookup of %s failed: %s', aor, (err as Error).message)
    }
    // a failed or replayed lookup falls back to the roster already known (fails closed for a revoked or unlisted device);
    // open only when no roster of this identity key is known at all
    return judgeDevice(fresh?.roster, identityKey, peerId) ?? verdict ?? { ok: true, known: false }
  }

  /**
   * Sequence number of the newest roster this device knows for identity `identityKey` at `aor` (without a key:
   * of the identity learnt last there); it changes when the device learns a newer one.
   */
  knownRosterSeq (aor: string, identityKey?: string): number | undefined {
    if (this.isOwnAor(aor) && this.own.roster != null && (identityKey == null || identityKey === this.own.roster.identity)) return this.own.roster.seq
    return this.book.known(aor, identityKey)?.roster?.seq
  }

  // ---- internals ----

  /** Issues a certificate for a device that paired, adds it to the roster and republishes. */
  private async grantDevice (peerId: string, name: string): Promise<PairingGrant> {
    const identity = this.own.requirePrimary()
    return await this.publisher.run(async () => {
      const { deviceCertificate, roster } = await this.own.grant(peerId, name)
      // others learn the new roster from the record; not waited for: the new device is waiting for its answer
      this.publisher.republishSoon()
      return { identityCertificate: identity.certificate, deviceCertificate, roster, displayName: identity.displayName }
    })
  }

  private async refreshOwnRoster (options: AbortOptions): Promise<void> {
    const identity = this.own.requireIdentity()
    const signal = anySignal(options.signal ?? AbortSignal.timeout(LOOKUP_TIMEOUT_MS), this.shutdown.signal)
    const existing = await this.findOwn(normalizeAor(identity.email), signal)
    if (existing != null) this.own.learn(existing.roster)
  }

  /** This identity's own claim, if one is out (anything unusable counts as none: it is about to be replaced); no replay bookkeeping. */
  private async findOwn (aor: string, signal: AbortSignal): Promise<LocationRecord | undefined> {
    try {
      const found = await this.finder.find(aor, { signal })
      const key = this.init.identity?.publicKey
      return found.claims.find(f => f.claim.identityKey === key)?.claim.record
    } catch (err) {
      if (signal.aborted) throw err
      log('no usable own record for %s: %s', aor, (err as Error).message)
      return undefined
    }
  }

  /** A fresh roster of `identityKey`'s claim on `aor` (one lookup at a time per claim; a missing record is remembered too). */
  private async rosterOf (aor: string, identityKey: string, options: AbortOptions): Promise<KnownRoster> {
    const id = `${aor}\n${identityKey}`
    let pending = this.rosterLookups.get(id)
    if (pending == null) {
      const signal = anySignal(options.signal, AbortSignal.timeout(ROSTER_CHECK_LOOKUP_TIMEOUT_MS))
      pending = this.lookup(aor, { signal, identityKey }).then(
        record => ({ roster: record.roster, at: Date.now() }),
        (err: Error) => {
          if (err.name !== 'NotFoundError') throw err
          return this.book.missing(aor, identityKey)
        }
      ).finally(() => { this.rosterLookups.delete(id) })
      this.rosterLookups.set(id, pending)
    }
    return await pending
  }

  private isOwn (aor: string, record: LocationRecord): boolean {
    return this.isOwnAor(aor) && record.certificate.key === this.init.identity?.publicKey
  }

  /** Whether `aor` (normalised) is this device's identity; the identity can be replaced, so the cache follows its email. */
  private isOwnAor (aor: string): boolean {
    const email = this.init.identity?.email
    if (email == null) return false
    if (this.ownAorCache?.email !== email) this.ownAorCache = { email, aor: normalizeAor(email) }
    return this.ownAorCache.aor === aor
  }

  private readonly addressesChanged = (): void => {
    this.publisher.addressesChanged(this.node.getMultiaddrs().map(a => a.toString()))
  }

  private readonly updateStatus = (): void => {
    const supernodes = this.supernodes().length
    this.setStatus({ online: supernodes > 0, supernodes })
    if (supernodes > 0) this.publisher.online()
  }

  private setStatus (status: OverlayStatus): void {
    if (status.online === this.lastStatus.online && status.supernodes === this.lastStatus.supernodes) return
    this.lastStatus = status
    this.safeDispatch('status:change', status)
  }

  private safeDispatch<K extends keyof OverlayEvents> (type: K, detail: OverlayEvents[K]['detail']): void {
    this.dispatchEvent(new CustomEvent(type, { detail }))
  }
}

/** `overlay(init)` creates the component; `start()` it before use. */
export function overlay (init: OverlayInit, components: OverlayComponents = {}): Overlay {
  return new Overlay(init, components)
}
