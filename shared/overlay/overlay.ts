/**
 * The overlay: a device's view of Peerline's DHT location service.
 *
 * ```ts
 * const o = overlay({ bootstrap: ['/ip4/127.0.0.1/tcp/9001/ws/p2p/12D3…'], identity })
 * await o.start()
 * await o.publish()                        // "alice@example.org is here"
 * const rec = await o.lookup('bob@example.org', { signal })
 * ```
 *
 * Linked devices: an identity's devices share one location record. Each
 * device publishes the merged record: it looks its own address up first,
 * takes the newest device roster (its own or the one found), keeps the
 * entries the other active devices published, and puts its own addresses
 * in. The primary device (the one holding the identity key) keeps the
 * roster: it adds devices by pairing (`createPairingOffer`), drops them with
 * `revokeDevice`, renews their certificates. A device that finds itself
 * revoked stops publishing and says so (`device:revoked`).
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { TypedEventEmitter } from 'main-event'
import {
  createDeviceRoster, identityKeyPair, isPrimaryIdentity, issueDeviceCertificate, normalizeAor, rosterDevice,
  rosterRevocation, verifyDeviceCertificate, verifyDeviceRoster, verifyIdentityCertificate, DeviceRevokedError,
  IdentityExistsError, NotPrimaryDeviceError, DEVICE_CERT_RENEW_BEFORE_MS
} from '../identity/index.ts'
import type { DeviceCertificate, DeviceRoster, IdentityStorage, IdentityStore, RevokedDevice, StoredIdentity } from '../identity/index.ts'
import type { PrivateKey } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'
import { serialQueue } from '../util/async.ts'
import { logger } from '../util/logger.ts'
import { SupernodeConnector } from './connector.ts'
import {
  CLOCK_SKEW_MS, LOOKUP_TIMEOUT_MS, MAX_DEVICES, RECORD_TTL_MS, REPUBLISH_BEFORE_EXPIRY_MS, ROSTER_CHECK_LOOKUP_TIMEOUT_MS,
  PUBLISH_CHECK_DELAY_MS, PUBLISH_CHECK_RETRIES, ROSTER_CHECK_TTL_MS, ROSTER_RECHECK_MIN_MS
} from './constants.ts'
import { NotFoundError, OfflineError, RosterNotSavedError, StaleRecordError } from './errors.ts'
import { createOverlayNode } from './node.ts'
import type { OverlayLibp2p } from './node.ts'
import { PairingHost, requestPairing } from './pairing.ts'
import type { PairingGrant, PairingOffer } from './pairing.ts'
import { createLocationRecord, encodeLocationRecord, isNewer, locationKey, rosterOrder, validateLocationRecord } from './record.ts'
import type { DeviceEntry, LocationRecord, ValidateRecordOptions } from './record.ts'

const log = logger('overlay')
/** Addresses whose newest roster is kept in `rosterStorage` (the most recently learnt; ~1–5 KB each). */
const MAX_PERSISTED_ROSTERS = 256
/** Format tag of what `rosterStorage` holds. */
const ROSTER_STORAGE_FORMAT = 'peerline-known-rosters'

/** Delay before trying a failed publish again. */
const REPUBLISH_RETRY_MS = 5_000

interface PersistedRoster { roster: DeviceRoster, seq: number, at: number }

export interface OverlayStatus {
  online: boolean
  supernodes: number
}

/** One device of this identity, as the roster lists it. */
export interface LinkedDeviceInfo {
  peerId: string
  name: string
  /** this overlay's own device */
  thisDevice: boolean
  /** listed with addresses in the last record this device published or saw */
  online: boolean
  /** the device certificate's end (the primary renews it before) */
  notAfter: number
}

export interface DeviceRevokedDetail {
  aor: string
  peerId: string
  /** when the primary revoked it; absent when the device is simply no longer in the roster */
  revokedAt?: number
  roster: DeviceRoster
}

/** Whether a device may speak for an identity, as far as this device can tell. */
export type DeviceStanding =
  | { ok: true, known: boolean }
  | { ok: false, reason: 'DeviceRevokedError' | 'DeviceNotInRosterError', message: string }

export interface OverlayEvents {
  'status:change': CustomEvent<OverlayStatus>
  'record:published': CustomEvent<LocationRecord>
  'publish:error': CustomEvent<Error>
  /** this device was removed from its identity's roster: it stopped publishing */
  'device:revoked': CustomEvent<DeviceRevokedDetail>
  /** the identity's device roster changed (paired, revoked, renewed) */
  'devices:change': CustomEvent<DeviceRoster>
  /** a device roster could not be saved on this device (RosterNotSavedError) */
  'devices:error': CustomEvent<Error>
}

export interface OverlayInit {
  /** supernode multiaddrs, each ending in /p2p/<peer id> */
  bootstrap: string[]
  identity?: StoredIdentity
  /** where `identity` is kept: roster changes and a linked device's renewed certificate are saved there */
  identityStore?: IdentityStore
  /** the device certificate for this node's peer id; issued from `identity` when absent */
  deviceCertificate?: DeviceCertificate
  deviceName?: string
  privateKey?: PrivateKey
  datastore?: Datastore
  webrtc?: boolean
  iceServers?: Array<{ urls: string | string[], username?: string, credential?: string }>
  recordOptions?: ValidateRecordOptions
  ttlMs?: number
  republishBeforeExpiryMs?: number
  /** how long a roster learnt from a lookup settles whether a device may call (tests shorten it) */
  rosterCheckTtlMs?: number
  /**
   * where the newest roster and record seq seen per address are kept across restarts (one text value),
   * so a replayed older roster is refused and a revoked device stays refused after its record expired
   */
  rosterStorage?: IdentityStorage
  /** pairing offer lifetime and wrong-code limit (tests shorten them); see pairing.ts for the defaults */
  pairing?: { ttlMs?: number, maxAttempts?: number, timeoutMs?: number }
  /** keep loopback/private addresses (tests, `npm start`); default true */
  allowPrivateAddresses?: boolean
  /** reconnect back-off overrides (tests) */
  reconnect?: { initialDelayMs?: number, maxDelayMs?: number, target?: number }
}

export interface OverlayComponents {
  node?: OverlayLibp2p
}

export interface AbortOptions { signal?: AbortSignal }

interface KnownRoster { roster?: DeviceRoster, at: number }

export class Overlay extends TypedEventEmitter<OverlayEvents> {
  node!: OverlayLibp2p
  private readonly init: OverlayInit
  private readonly components: OverlayComponents
  private connector?: SupernodeConnector
  private shutdown = new AbortController()
  private republishTimer?: ReturnType<typeof setTimeout>
  private addrTimer?: ReturnType<typeof setTimeout>
  private checkTimer?: ReturnType<typeof setTimeout>
  private checkRetries = 0
  private lastSeq = 0
  private published?: LocationRecord
  private deviceCert?: DeviceCertificate
  private privateKey?: PrivateKey
  /** the newest roster of this device's own identity */
  private roster?: DeviceRoster
  private revoked = false
  /** a revocation was saved while offline: publish as soon as a supernode is connected */
  private publishWhenOnline = false
  private pairing?: PairingHost
  /** serialises publish and roster changes: two at once would each overwrite the other's entries */
  private readonly queue = serialQueue()
  /** highest record seq / roster seq seen per AOR: an older record presented later is a replay */
  private readonly seen = new Map<string, number>()
  private readonly seenRoster = new Map<string, { identity: string, seq: number }>()
  /** rosters learnt by lookups, per AOR, for judging calls from devices */
  private readonly rosters = new Map<string, KnownRoster>()
  private readonly rosterLookups = new Map<string, Promise<KnownRoster>>()
  /** loads `rosterStorage` once; saving is serialised behind it */
  private knownLoaded?: Promise<void>
  private knownSaving: Promise<void> = Promise.resolve()
  /** why the DHT validator refused records, per key, during lookups */
  private readonly rejections = new Map<string, Error>()
  private lastStatus: OverlayStatus = { online: false, supernodes: 0 }
  /** the normalised AOR of the identity's email, kept with the email it was made from (asked per incoming SIP request) */
  private ownAorCache?: { email: string, aor: string }

  constructor (init: OverlayInit, components: OverlayComponents = {}) {
    super()
    this.init = init
    this.components = components
    if (init.identity?.roster != null) this.roster = init.identity.roster
  }

  get status (): OverlayStatus { return this.lastStatus }
  get peerId (): string { return this.node.peerId.toString() }
  /** the identity this device speaks for (undefined before onboarding) */
  get identity (): StoredIdentity | undefined { return this.init.identity }
  /** true when this device holds the identity key (it manages the roster) */
  get primary (): boolean { return this.init.identity != null && isPrimaryIdentity(this.init.identity) }
  /** true once this device learnt it was removed from its identity */
  get isRevoked (): boolean { return this.revoked }

  async start (): Promise<void> {
    this.shutdown = new AbortController()
    if (this.components.node == null) this.privateKey = this.init.privateKey ?? await generateKeyPair('Ed25519')
    this.node = this.components.node ?? await createOverlayNode({
      mode: 'client',
      ...(this.privateKey != null ? { privateKey: this.privateKey } : {}),
      ...(this.init.datastore != null ? { datastore: this.init.datastore } : {}),
      ...(this.init.webrtc != null ? { webrtc: this.init.webrtc } : {}),
      ...(this.init.iceServers != null ? { iceServers: this.init.iceServers } : {}),
      ...(this.init.recordOptions != null ? { recordOptions: this.init.recordOptions } : {}),
      publicOnly: this.init.allowPrivateAddresses === false,
      onRecordRejected: (key, err) => { this.rejections.set(new TextDecoder().decode(key), err) }
    })
    this.connector = new SupernodeConnector(this.node, { bootstrap: this.init.bootstrap, ...this.init.reconnect })
    this.node.addEventListener('peer:connect', this.updateStatus)
    this.node.addEventListener('peer:disconnect', this.updateStatus)
    this.node.addEventListener('self:peer:update', this.addressesChanged)
    await this.node.start()
    this.connector.start()
  }

  async stop (): Promise<void> {
    this.shutdown.abort()
    clearTimeout(this.republishTimer)
    clearTimeout(this.addrTimer)
    clearTimeout(this.checkTimer)
    this.connector?.stop()
    await this.pairing?.stop()
    this.pairing = undefined
    this.node.removeEventListener('peer:connect', this.updateStatus)
    this.node.removeEventListener('peer:disconnect', this.updateStatus)
    this.node.removeEventListener('self:peer:update', this.addressesChanged)
    await this.node.stop()
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
    return { peerId: this.peerId, certificate: this.ownCertificate(), addrs, publishedAt: Date.now() }
  }

  /**
   * Signs and stores this device's location record in the DHT, and keeps it
   * fresh: republished before it expires and whenever the addresses change.
   * The record merges the entries of the identity's other devices (see the
   * module comment).
   * @throws OfflineError | DeviceRevokedError | NotPrimaryDeviceError (a linked device without a roster) | DHT errors
   */
  async publish (options: AbortOptions = {}): Promise<LocationRecord> {
    return await this.exclusive(async () => await this.publishNow(options))
  }

  /**
   * Finds where an address can be reached. Throws NotFoundError when nobody
   * published it, OfflineError when no supernode is connected, or the error
   * naming the rule a found record broke (RecordExpiredError,
   * BadSignatureError, WrongEmailError, StaleRecordError, …).
   */
  async lookup (address: string, options: AbortOptions = {}): Promise<LocationRecord> {
    const aor = normalizeAor(address)
    await this.loadKnownRosters()
    const best = await this.find(aor, options)
    const seenRoster = this.seenRoster.get(aor)
    const order = seenRoster != null ? rosterOrder(best, { roster: seenRoster }) : 0
    if (order < 0) {
      throw new StaleRecordError(`Location record for ${aor} carries device roster ${best.roster.seq}, older than roster ${seenRoster?.seq ?? 0} already seen (replayed?)`)
    }
    const seen = this.seen.get(aor) ?? 0
    if (order === 0 && best.seq < seen) {
      throw new StaleRecordError(`Location record for ${aor} has sequence ${best.seq}, older than ${seen} already seen (replayed?)`)
    }
    // a newer roster may come from a device whose clock is behind: its seq counts from here
    this.seen.set(aor, order > 0 ? best.seq : Math.max(seen, best.seq))
    this.seenRoster.set(aor, { identity: best.roster.identity, seq: best.roster.seq })
    const before = this.rosters.get(aor)?.roster
    this.rosters.set(aor, { roster: best.roster, at: Date.now() })
    if (this.isOwn(aor, best)) this.learnOwnRoster(best.roster)
    // written when the roster changed, not on every lookup (presence looks contacts up often)
    if (before?.sig !== best.roster.sig) this.saveKnownRosters()
    return best
  }

  /**
   * Swaps in an updated identity (e.g. one whose certificate a CA just
   * issued, or the one a pairing gave) and republishes at once when a
   * record is out.
   */
  setIdentity (identity: StoredIdentity): void {
    const sameKey = this.init.identity?.publicKey === identity.publicKey
    if (!sameKey) {
      this.deviceCert = undefined
      this.roster = undefined
      this.revoked = false
    }
    this.init.identity = identity
    if (identity.roster != null && (this.roster == null || identity.roster.seq > this.roster.seq)) this.roster = identity.roster
    if (this.published != null) this.republish()
  }

  // ---- linked devices ----

  /** The identity's devices as this device knows them (the newest roster seen). */
  devices (): LinkedDeviceInfo[] {
    const roster = this.roster
    const me = this.node?.peerId?.toString()
    if (roster == null) {
      if (this.init.identity == null || me == null) return []
      const cert = this.ownCertificate()
      return [{ peerId: me, name: cert.name, thisDevice: true, online: this.published != null, notAfter: cert.notAfter }]
    }
    const listed = new Set((this.published?.devices ?? []).map(d => d.peerId))
    return roster.devices.map(d => ({
      peerId: d.peerId,
      name: d.name,
      thisDevice: d.peerId === me,
      online: listed.has(d.peerId),
      notAfter: d.notAfter
    }))
  }

  /** Devices the identity revoked (newest roster). */
  revokedDevices (): RevokedDevice[] {
    return this.roster?.revoked.slice() ?? []
  }

  /**
   * A pairing offer for a new device (see pairing.ts); replaces any open one.
   * `name` is the new device's name if it does not send one.
   * @throws NotPrimaryDeviceError | OfflineError
   */
  async createPairingOffer (init: { name?: string } = {}): Promise<PairingOffer> {
    const identity = this.requirePrimary()
    if (!this.lastStatus.online) throw new OfflineError('Cannot offer pairing: not connected to any supernode')
    if (this.pairing == null) {
      const host = new PairingHost(this.node, {
        ...this.init.pairing,
        grant: async (peerId, name) => await this.grantDevice(peerId, name),
        canGrant: peerId => { this.checkDeviceLimit(peerId) }
      })
      await host.start()
      this.pairing = host
    }
    const addrs = this.deviceEntry().addrs
    return this.pairing.createOffer({ aor: identity.email, addrs, ...(init.name != null ? { name: init.name } : {}) })
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
    this.roster = roster
    this.deviceCert = deviceCertificate
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
    const keys = identityKeyPair(this.requirePrimary())
    return await this.exclusive(async () => {
      if (this.lastStatus.online) await this.refreshOwnRoster(options).catch(err => { log('roster refresh before revoking failed: %s', (err as Error).message) })
      const base = this.roster ?? this.rosterWithSelf()
      if (peerId === this.peerId) throw new TypeError('This device cannot revoke itself')
      const cert = rosterDevice(base, peerId)
      if (cert == null) throw new TypeError(`Device ${peerId} is not one of this identity's devices`)
      const roster = createDeviceRoster({
        identity: keys,
        seq: base.seq + 1,
        devices: base.devices.filter(d => d.peerId !== peerId),
        revoked: [...base.revoked, { peerId, name: cert.name, revokedAt: Date.now() }]
      })
      await this.adoptRoster(roster, { mustSave: true })
      log('revoked device "%s" (%s), roster %d', cert.name, peerId, roster.seq)
      if (!this.lastStatus.online) {
        this.publishWhenOnline = true
        return roster
      }
      try {
        await this.publishNow(options)
      } catch (err) {
        // saved here; published by the retry (other devices learn it then): see publishedRosterSeq
        log('publishing the revocation failed, retrying: %s', (err as Error).message)
        this.safeDispatch('publish:error', err as Error)
        this.retryPublishSoon()
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
    await this.loadKnownRosters()
    const now = Date.now()
    const own = this.isOwnAor(aor) && this.roster != null
    const known: KnownRoster | undefined = own ? { roster: this.roster, at: now } : this.rosters.get(aor)
    const verdict = judge(known?.roster, identityKey, peerId)
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
      fresh = await this.rosterOf(aor, options)
    } catch (err) {
      log('roster lookup of %s failed: %s', aor, (err as Error).message)
    }
    // a failed or replayed lookup falls back to the roster already known (fails closed for a revoked or unlisted device);
    // open only when no roster of this identity key is known at all
    return judge(fresh?.roster, identityKey, peerId) ?? verdict ?? { ok: true, known: false }
  }

  /** Sequence number of the newest roster this device knows for `aor` (changes when it learns a newer one). */
  knownRosterSeq (aor: string): number | undefined {
    if (this.isOwnAor(aor) && this.roster != null) return this.roster.seq
    return this.rosters.get(aor)?.roster?.seq
  }

  // ---- internals: publishing ----

  private async publishNow (options: AbortOptions): Promise<LocationRecord> {
    const identity = this.requireIdentity()
    if (this.revoked) throw new DeviceRevokedError(`This device was removed from ${identity.email}; it no longer publishes`)
    if (!this.lastStatus.online) throw new OfflineError('Cannot publish: not connected to any supernode')
    const signal = anySignal(options.signal ?? AbortSignal.timeout(LOOKUP_TIMEOUT_MS), this.shutdown.signal)
    const aor = normalizeAor(identity.email)
    const existing = await this.findOwn(aor, signal)
    if (existing != null) this.learnOwnRoster(existing.roster)
    if (this.revoked) throw new DeviceRevokedError(`This device was removed from ${identity.email}; it no longer publishes`)
    const roster = await this.currentRoster()
    const now = Date.now()
    const own = this.deviceEntry()
    const devices: DeviceEntry[] = [own]
    for (const cert of roster.devices) {
      if (cert.peerId === own.peerId || devices.length >= MAX_DEVICES) continue
      const entry = existing?.devices.find(d => d.peerId === cert.peerId)
      if (entry == null || existing == null) continue
      const publishedAt = entry.publishedAt ?? existing.issuedAt
      // a device that stopped publishing drops out once its own entry would have expired
      if (publishedAt + (this.init.ttlMs ?? RECORD_TTL_MS) < now) continue
      if (cert.notAfter + CLOCK_SKEW_MS < now || cert.notBefore - CLOCK_SKEW_MS > now) continue
      devices.push({ peerId: cert.peerId, certificate: cert, addrs: entry.addrs, publishedAt })
    }
    // seqs are times; one further ahead than the clock skew (a bogus existing seq, or a clock that jumped back) is not followed,
    // validators refuse a seq beyond issuedAt + CLOCK_SKEW_MS
    const ceiling = now + CLOCK_SKEW_MS
    const seq = Math.max(now, ...[this.lastSeq + 1, (existing?.seq ?? 0) + 1].filter(s => s <= ceiling))
    this.lastSeq = seq
    const record = createLocationRecord({
      ...(this.primary ? { identity: identityKeyPair(identity) } : { device: this.deviceSigningKey() }),
      certificate: identity.certificate,
      roster,
      devices,
      seq,
      ...(this.init.ttlMs != null ? { ttlMs: this.init.ttlMs } : {})
    })
    let stored = 0
    let lastError: Error | undefined
    for await (const event of this.node.services.dht.put(locationKey(record.aor), encodeLocationRecord(record), { signal })) {
      if (event.name === 'PEER_RESPONSE') stored++
      if (event.name === 'QUERY_ERROR') lastError = event.error
    }
    if (stored === 0) throw lastError ?? new OfflineError('No supernode accepted the location record')
    this.published = record
    this.seen.set(record.aor, Math.max(this.seen.get(record.aor) ?? 0, record.seq))
    if (rosterOrder(record, { roster: this.seenRoster.get(record.aor) }) >= 0) this.seenRoster.set(record.aor, { identity: roster.identity, seq: roster.seq })
    log('published %s seq %d (roster %d, %d devices) to %d supernodes', record.aor, seq, roster.seq, devices.length, stored)
    this.scheduleRepublish(record)
    this.scheduleCheck()
    this.safeDispatch('record:published', record)
    return record
  }

  /**
   * Two devices of one identity publishing at the same moment each merge the
   * record as it was before the other's put, so the later put can drop the
   * earlier device's entry. A moment after publishing, each device looks
   * again and republishes when its entry is missing.
   */
  private scheduleCheck (): void {
    clearTimeout(this.checkTimer)
    const delay = PUBLISH_CHECK_DELAY_MS + Math.floor(Math.random() * PUBLISH_CHECK_DELAY_MS)
    this.checkTimer = setTimeout(() => {
      const identity = this.init.identity
      if (identity == null || this.revoked || this.shutdown.signal.aborted || !this.lastStatus.online) return
      const signal = anySignal(AbortSignal.timeout(LOOKUP_TIMEOUT_MS), this.shutdown.signal)
      this.findOwn(normalizeAor(identity.email), signal).then(found => {
        if (found == null) return
        this.learnOwnRoster(found.roster)
        if (this.revoked || found.devices.some(d => d.peerId === this.peerId)) {
          this.checkRetries = 0
          return
        }
        if (this.checkRetries++ >= PUBLISH_CHECK_RETRIES) return
        log('own entry missing from the record of %s (another device published at the same time): republishing', found.aor)
        this.republish()
      }).catch(() => {})
    }, delay)
    ;(this.checkTimer as { unref?: () => void }).unref?.()
  }

  /**
   * The roster to publish with. The primary makes sure it lists this device
   * with a current certificate and renews certificates that expire soon; a
   * linked device takes its (possibly renewed) certificate from it.
   */
  private async currentRoster (): Promise<DeviceRoster> {
    const identity = this.requireIdentity()
    const me = this.peerId
    if (!this.primary) {
      const roster = this.roster
      if (roster == null) throw new NotPrimaryDeviceError('This linked device has no device roster: pair it again')
      const cert = rosterDevice(roster, me)
      if (cert == null) {
        this.markRevoked(roster)
        throw new DeviceRevokedError(`This device was removed from ${identity.email}`)
      }
      if (cert.sig !== identity.deviceCertificate?.sig) {
        this.deviceCert = cert
        const updated = { ...identity, deviceCertificate: cert, roster }
        this.init.identity = updated
        await this.init.identityStore?.updateDevices({ roster, deviceCertificate: cert }).catch(err => { log.error('saving the renewed device certificate failed: %s', (err as Error).message) })
      }
      return roster
    }
    const keys = identityKeyPair(identity)
    const base = this.roster
    const now = Date.now()
    let changed = base == null
    const own = this.ownCertificate()
    const devices: DeviceCertificate[] = []
    if (base != null) {
      for (const d of base.devices) {
        if (d.peerId === me) continue
        if (d.notAfter - now < DEVICE_CERT_RENEW_BEFORE_MS) {
          devices.push(issueDeviceCertificate({ identity: keys, peerId: d.peerId, name: d.name }))
          changed = true
        } else {
          devices.push(d)
        }
      }
      if (rosterDevice(base, me)?.sig !== own.sig) changed = true
    }
    if (!changed && base != null) return base
    const roster = createDeviceRoster({
      identity: keys,
      seq: (base?.seq ?? 0) + 1,
      devices: [own, ...devices],
      // a primary that was revoked (e.g. a backup restored on a revoked device) takes itself back: it holds the key
      revoked: (base?.revoked ?? []).filter(r => r.peerId !== me)
    })
    await this.adoptRoster(roster)
    return roster
  }

  /** This device's certificate: the roster's (renewed) one, or a fresh one on the primary. */
  private ownCertificate (): DeviceCertificate {
    const identity = this.requireIdentity()
    const me = this.peerId
    const now = Date.now()
    if (this.init.deviceCertificate != null) return this.init.deviceCertificate
    const fromRoster = this.roster != null ? rosterDevice(this.roster, me) : undefined
    if (!this.primary) {
      const cert = [fromRoster, this.deviceCert, identity.deviceCertificate]
        .filter((c): c is DeviceCertificate => c != null && c.peerId === me)
        .sort((a, b) => b.notAfter - a.notAfter)[0]
      if (cert == null) throw new NotPrimaryDeviceError('This linked device has no device certificate: pair it again')
      this.deviceCert = cert
      return cert
    }
    for (const c of [this.deviceCert, fromRoster]) {
      if (c != null && c.peerId === me && c.identity === identity.publicKey && c.notAfter - now > DEVICE_CERT_RENEW_BEFORE_MS) {
        this.deviceCert = c
        return c
      }
    }
    this.deviceCert = issueDeviceCertificate({
      identity: identityKeyPair(identity),
      peerId: me,
      name: this.init.deviceName ?? 'device'
    })
    return this.deviceCert
  }

  private deviceSigningKey (): { peerId: string, privateKey: Uint8Array } {
    const key = this.privateKey
    if (key == null || key.type !== 'Ed25519') throw new NotPrimaryDeviceError('This linked device has no Ed25519 device key to sign its record with')
    // libp2p's Ed25519 private key is the 32-byte seed followed by the public key
    return { peerId: this.peerId, privateKey: key.raw.subarray(0, 32) }
  }

  /** A roster listing only this device, for a primary that has none yet. */
  private rosterWithSelf (): DeviceRoster {
    return createDeviceRoster({ identity: identityKeyPair(this.requirePrimary()), seq: 1, devices: [this.ownCertificate()] })
  }

  /**
   * Keeps a roster this device issued or received, saves it, tells listeners.
   * A failed save is reported ('devices:error'); with `mustSave` (a change made
   * here: revocation, pairing) the roster is then not taken and the error is
   * thrown, so nothing unsaved gets published.
   */
  private async adoptRoster (roster: DeviceRoster, options: { mustSave?: boolean } = {}): Promise<void> {
    if (this.roster != null && roster.seq < this.roster.seq) return
    const take = (): void => {
      this.roster = roster
      const identity = this.init.identity
      if (identity != null) this.init.identity = { ...identity, roster }
    }
    // a roster found in the DHT is taken at once: a publish running now must not use the older one
    if (options.mustSave !== true) take()
    try {
      await this.init.identityStore?.updateDevices({ roster })
    } catch (err) {
      const e = new RosterNotSavedError(`Saving the device list (roster ${roster.seq}) failed: ${(err as Error).message}`, { cause: err })
      log.error('%s', e.message)
      this.safeDispatch('devices:error', e)
      if (options.mustSave === true) throw e
    }
    if (options.mustSave === true) take()
    this.safeDispatch('devices:change', roster)
  }

  /** A roster of this identity found in the DHT: newer ones are taken; one that drops this device revokes it. */
  private learnOwnRoster (roster: DeviceRoster): void {
    const identity = this.init.identity
    if (identity == null || roster.identity !== identity.publicKey) return
    const mine = this.roster
    if (mine != null && roster.seq === mine.seq && roster.sig !== mine.sig && this.primary) {
      // two devices holding the identity key (a backup restored twice) issued different rosters: keep both
      try {
        this.adoptRoster(mergeRosters(identityKeyPair(identity), mine, roster)).catch(() => {})
      } catch (err) {
        log.error('cannot merge two rosters of %s: %s', identity.email, (err as Error).message)
      }
      return
    }
    if (mine != null && roster.seq <= mine.seq) return
    if (mine != null && this.primary) {
      // another holder of the identity key (a backup restored twice) issued this roster without knowing of a
      // revocation made here: the device must not come back, so revoke it again on top (seq + 1)
      const lost = mine.revoked.filter(r => {
        const cert = rosterDevice(roster, r.peerId)
        return cert != null && cert.notBefore <= r.revokedAt
      })
      if (lost.length > 0) {
        const gone = new Set(lost.map(r => r.peerId))
        try {
          const fixed = createDeviceRoster({
            identity: identityKeyPair(identity),
            seq: roster.seq + 1,
            devices: roster.devices.filter(d => !gone.has(d.peerId)),
            revoked: [...roster.revoked, ...lost]
          })
          log('roster %d of %s lacks %d revocation(s) made here: re-applied as roster %d', roster.seq, identity.email, lost.length, fixed.seq)
          this.adoptRoster(fixed).catch(() => {})
          if (this.published != null) queueMicrotask(() => { this.republish() })
          return
        } catch (err) {
          log.error('cannot re-apply revocations to roster %d of %s: %s', roster.seq, identity.email, (err as Error).message)
        }
      }
    }
    this.adoptRoster(roster).catch(() => {})
    if (!this.primary && rosterDevice(roster, this.peerId) == null) this.markRevoked(roster)
  }

  private markRevoked (roster: DeviceRoster): void {
    if (this.revoked) return
    this.revoked = true
    clearTimeout(this.republishTimer)
    clearTimeout(this.addrTimer)
    const aor = normalizeAor(this.requireIdentity().email)
    const revokedAt = rosterRevocation(roster, this.peerId)?.revokedAt
    log('this device was removed from %s (roster %d): no longer publishing', aor, roster.seq)
    this.safeDispatch('device:revoked', { aor, peerId: this.peerId, roster, ...(revokedAt != null ? { revokedAt } : {}) })
  }

  /** Issues a certificate for a device that paired, adds it to the roster and republishes. */
  private async grantDevice (peerId: string, name: string): Promise<PairingGrant> {
    const identity = this.requirePrimary()
    const keys = identityKeyPair(identity)
    return await this.exclusive(async () => {
      const base = this.roster ?? this.rosterWithSelf()
      const others = base.devices.filter(d => d.peerId !== peerId)
      this.checkDeviceLimit(peerId)
      const deviceCertificate = issueDeviceCertificate({ identity: keys, peerId, name })
      const roster = createDeviceRoster({
        identity: keys,
        seq: base.seq + 1,
        devices: [...others, deviceCertificate],
        revoked: base.revoked.filter(r => r.peerId !== peerId)
      })
      await this.adoptRoster(roster, { mustSave: true })
      log('paired device "%s" (%s), roster %d', deviceCertificate.name, peerId, roster.seq)
      // others learn the new roster from the record; not waited for: the new device is waiting for its answer
      if (this.published != null) queueMicrotask(() => { this.republish() })
      return { identityCertificate: identity.certificate, deviceCertificate, roster, displayName: identity.displayName }
    })
  }

  /** @throws TypeError when the identity already has MAX_DEVICES devices besides `peerId` */
  private checkDeviceLimit (peerId: string): void {
    const others = (this.roster?.devices ?? [this.ownCertificate()]).filter(d => d.peerId !== peerId)
    if (others.length >= MAX_DEVICES) throw new TypeError(`This identity already has ${MAX_DEVICES} devices: revoke one first`)
  }

  private async refreshOwnRoster (options: AbortOptions): Promise<void> {
    const identity = this.requireIdentity()
    const signal = anySignal(options.signal ?? AbortSignal.timeout(LOOKUP_TIMEOUT_MS), this.shutdown.signal)
    const existing = await this.findOwn(normalizeAor(identity.email), signal)
    if (existing != null) this.learnOwnRoster(existing.roster)
  }

  // ---- internals: lookups ----

  /** The best valid record for `aor` in the DHT, without replay bookkeeping. */
  private async find (aor: string, options: AbortOptions): Promise<LocationRecord> {
    if (!this.lastStatus.online) throw new OfflineError(`Cannot look up ${aor}: not connected to any supernode`)
    const key = locationKey(aor)
    const keyString = new TextDecoder().decode(key)
    this.rejections.delete(keyString)
    const signal = anySignal(options.signal ?? AbortSignal.timeout(LOOKUP_TIMEOUT_MS), this.shutdown.signal)
    let best: LocationRecord | undefined
    let invalid: Error | undefined
    try {
      for await (const event of this.node.services.dht.get(key, { signal })) {
        if (event.name !== 'VALUE') continue
        try {
          const record = validateLocationRecord(key, event.value, this.init.recordOptions)
          if (best == null || isNewer(record, best)) best = record
        } catch (err) {
          invalid = err as Error
        }
      }
    } catch (err) {
      if (signal.aborted) throw signal.reason ?? err
      if ((err as Error).name !== 'NotFoundError') throw err
    }
    if (best == null) {
      throw this.rejections.get(keyString) ?? invalid ?? new NotFoundError(`${aor} is not online (no location record in the overlay)`)
    }
    return best
  }

  /** This identity's own record, if one is out (anything unusable counts as none: it is about to be replaced). */
  private async findOwn (aor: string, signal: AbortSignal): Promise<LocationRecord | undefined> {
    try {
      const record = await this.find(aor, { signal })
      return record.certificate.key === this.init.identity?.publicKey ? record : undefined
    } catch (err) {
      if (signal.aborted) throw err
      log('no usable own record for %s: %s', aor, (err as Error).message)
      return undefined
    }
  }

  /** A fresh roster of `aor` (one lookup at a time per address; a missing record is remembered too). */
  private async rosterOf (aor: string, options: AbortOptions): Promise<KnownRoster> {
    let pending = this.rosterLookups.get(aor)
    if (pending == null) {
      const signal = anySignal(options.signal, AbortSignal.timeout(ROSTER_CHECK_LOOKUP_TIMEOUT_MS))
      pending = this.lookup(aor, { signal }).then(
        record => ({ roster: record.roster, at: Date.now() }),
        (err: Error) => {
          if (err.name !== 'NotFoundError') throw err
          // the record expired: the roster seen before still says who was revoked
          const prev = this.rosters.get(aor)?.roster
          const none: KnownRoster = { ...(prev != null ? { roster: prev } : {}), at: Date.now() }
          this.rosters.set(aor, none)
          return none
        }
      ).finally(() => { this.rosterLookups.delete(aor) })
      this.rosterLookups.set(aor, pending)
    }
    return await pending
  }

  /** Takes the rosters and seqs kept in `rosterStorage` (once; unreadable entries are skipped). */
  private async loadKnownRosters (): Promise<void> {
    const storage = this.init.rosterStorage
    if (storage == null) return
    this.knownLoaded ??= (async () => {
      let data: unknown
      try {
        const text = await storage.read()
        if (text == null) return
        data = JSON.parse(text)
      } catch (err) {
        log.error('known rosters unreadable, starting without them: %s', (err as Error).message)
        return
      }
      const entries = (data as { format?: unknown, rosters?: unknown })?.rosters
      if ((data as { format?: unknown })?.format !== ROSTER_STORAGE_FORMAT || typeof entries !== 'object' || entries == null) return
      for (const [aor, value] of Object.entries(entries as Record<string, PersistedRoster>)) {
        try {
          const roster = verifyDeviceRoster(value.roster, { identityKey: (value.roster as { identity: string }).identity })
          if (!Number.isSafeInteger(value.seq) || this.rosters.get(aor)?.roster != null) continue
          this.seen.set(aor, Math.max(this.seen.get(aor) ?? 0, value.seq))
          this.seenRoster.set(aor, { identity: roster.identity, seq: roster.seq })
          // at 0: old enough to be looked up again, still the fallback when the lookup fails
          this.rosters.set(aor, { roster, at: 0 })
        } catch (err) {
          log('skipping a stored roster of %s: %s', aor, (err as Error).message)
        }
      }
    })()
    await this.knownLoaded
  }

  /** Writes the newest rosters and seqs seen (the MAX_PERSISTED_ROSTERS most recent), one write at a time. */
  private saveKnownRosters (): void {
    const storage = this.init.rosterStorage
    if (storage == null) return
    this.knownSaving = this.knownSaving.then(async () => {
      await this.knownLoaded
      const entries = [...this.rosters.entries()]
        .filter((e): e is [string, { roster: DeviceRoster, at: number }] => e[1].roster != null)
        .sort((a, b) => b[1].at - a[1].at)
        .slice(0, MAX_PERSISTED_ROSTERS)
      const rosters: Record<string, PersistedRoster> = {}
      for (const [aor, known] of entries) rosters[aor] = { roster: known.roster, seq: this.seen.get(aor) ?? 0, at: known.at }
      await storage.write(JSON.stringify({ format: ROSTER_STORAGE_FORMAT, rosters }))
    }).catch(err => { log.error('saving known rosters failed: %s', (err as Error).message) })
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

  private requireIdentity (): StoredIdentity {
    if (this.init.identity == null) throw new Error('This overlay has no identity: set one before publishing')
    return this.init.identity
  }

  private requirePrimary (): StoredIdentity {
    const identity = this.requireIdentity()
    if (!isPrimaryIdentity(identity)) throw new NotPrimaryDeviceError(`Only the primary device of ${identity.email} can manage its devices`)
    return identity
  }

  private exclusive<T> (fn: () => Promise<T>): Promise<T> {
    return this.queue.run(fn)
  }

  private scheduleRepublish (record: LocationRecord): void {
    clearTimeout(this.republishTimer)
    const before = this.init.republishBeforeExpiryMs ?? REPUBLISH_BEFORE_EXPIRY_MS
    const delay = Math.max(1_000, record.expiresAt - Date.now() - before)
    this.republishTimer = setTimeout(() => { this.republish() }, delay)
  }

  private republish (): void {
    if (this.shutdown.signal.aborted || this.init.identity == null || this.revoked) return
    this.publish().catch(err => {
      log('republish failed: %s', (err as Error).message)
      this.safeDispatch('publish:error', err as Error)
      if (this.revoked) return
      this.retryPublishSoon()
    })
  }

  /** Tries to publish again soon: being unreachable (or a revocation not out) is worse than a few extra puts. */
  private retryPublishSoon (): void {
    clearTimeout(this.republishTimer)
    this.republishTimer = setTimeout(() => { this.republish() }, REPUBLISH_RETRY_MS)
  }

  private readonly addressesChanged = (): void => {
    if (this.published == null) return
    const now = this.node.getMultiaddrs().map(a => a.toString()).sort().join()
    const before = this.published.devices.find(d => d.peerId === this.peerId)?.addrs.slice().sort().join()
    if (now === before) return
    // coalesce bursts of address changes (several relay reservations at once)
    clearTimeout(this.addrTimer)
    this.addrTimer = setTimeout(() => { this.republish() }, 300)
  }

  private readonly updateStatus = (): void => {
    const supernodes = this.supernodes().length
    this.setStatus({ online: supernodes > 0, supernodes })
    if (supernodes > 0 && this.publishWhenOnline) {
      // a roster change (revocation) made while offline
      this.publishWhenOnline = false
      this.republish()
    } else if (supernodes > 0 && this.published != null && this.published.expiresAt < Date.now()) this.republish()
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

/** What `roster` says about device `peerId` of identity key `identityKey`; undefined when it cannot tell. */
function judge (roster: DeviceRoster | undefined, identityKey: string, peerId: string): DeviceStanding | undefined {
  // another key for the address is the key-change warning's business, not the roster's
  if (roster == null || roster.identity !== identityKey) return undefined
  const revoked = rosterRevocation(roster, peerId)
  if (revoked != null) {
    return { ok: false, reason: 'DeviceRevokedError', message: `Device "${revoked.name}" was revoked at ${new Date(revoked.revokedAt).toISOString()}` }
  }
  if (rosterDevice(roster, peerId) != null) return { ok: true, known: true }
  return { ok: false, reason: 'DeviceNotInRosterError', message: `Device ${peerId} is not in the identity's device roster (seq ${roster.seq})` }
}

/** One roster (seq + 1) with the devices and revocations of both: a revocation in either wins. */
function mergeRosters (keys: ReturnType<typeof identityKeyPair>, a: DeviceRoster, b: DeviceRoster): DeviceRoster {
  const revoked = new Map([...a.revoked, ...b.revoked].map(r => [r.peerId, r]))
  const devices = new Map<string, DeviceCertificate>()
  for (const d of [...a.devices, ...b.devices]) {
    const have = devices.get(d.peerId)
    if (!revoked.has(d.peerId) && (have == null || d.notAfter > have.notAfter)) devices.set(d.peerId, d)
  }
  return createDeviceRoster({ identity: keys, seq: Math.max(a.seq, b.seq) + 1, devices: [...devices.values()], revoked: [...revoked.values()] })
}

/** `overlay(init)` creates the component; `start()` it before use. */
export function overlay (init: OverlayInit, components: OverlayComponents = {}): Overlay {
  return new Overlay(init, components)
}

function anySignal (...signals: Array<AbortSignal | undefined>): AbortSignal {
  return AbortSignal.any(signals.filter((s): s is AbortSignal => s != null))
}
