/**
 * Everything the app's screens talk to (the PWA's and the extensions'),
 * created and wired in this one file: the identity store, this device's
 * libp2p key, the overlay, the phone (shared/sip), the history store, the
 * network state and, when injected through `ServicesInit.platform`, the
 * installed app's glue (the PWA's service worker and sip: handler, see
 * platform.ts). Screens never import those modules directly; they get an
 * AppServices and listen to its events.
 *
 * Lifecycle:
 *   start() ─▶ no identity: a "probe" overlay without identity (status only)
 *           └▶ identity:    session = overlay.start() → phone.start()
 *                           → overlay.publish() once online (then the overlay republishes by itself)
 *   createIdentity()/restoreBackup()/settings change ─▶ the session restarts
 *
 * For tests and debugging only, `window.peerline = { phone, overlay, history }`
 * points at the running session's parts (e2e tests read
 * `call.peerConnection.getStats()` through it). App code never uses it.
 */
import { TypedEventEmitter } from 'main-event'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { DeviceRevokedError, fromBase64Url, IdentityExistsError, identityStore, normalizeAor, toBase64Url } from '../../identity/index.ts'
import type { IdentityStore, StoredIdentity } from '../../identity/index.ts'
import { LOOKUP_TIMEOUT_MS, OfflineError, overlay as createOverlay, pairingLink, parsePairingOffer } from '../../overlay/index.ts'
import type { LinkedDeviceInfo, LocationRecord, Overlay, OverlayStatus, PairingOffer } from '../../overlay/index.ts'
import { idbStorage, openHistory } from '../../store/index.ts'
import type { Buddy, CallRecord, HistoryStore, MessageRecord } from '../../store/history-api.ts'
import { phone as createPhone } from '../../sip/index.ts'
import type { Call, IncomingMessage, Phone } from '../../sip/api.ts'
import { callOutcome } from './calls.ts'
import { logger } from '../../util/logger.ts'
import { parseDeepLink } from './deeplink.ts'
import { onlineState } from './online.ts'
import type { AppPlatform } from './platform.ts'
import {
  CONFIG_FETCH_TIMEOUT_MS, DEVICE_KEY_STORAGE_KEY, DEVICE_NAME, IDENTITY_STORAGE_KEY, PRESENCE_LOOKUP_TIMEOUT_MS,
  PUBLISH_RETRY_MAX_MS, SETTING_DISPLAY_NAME, SETTING_ICE_SERVERS, SETTING_LAST_SERVER_SUPERNODES, SETTING_SUPERNODES
} from './constants.ts'
import type { IceServerSetting } from './settings.ts'
import { TRUST_SHARE_NAME, TrustStore } from '../../identity/index.ts'
import { ROSTER_STORAGE_KEY, TRUST_STORAGE_KEY } from './constants.ts'
import { KeyWatch } from './trust.ts'
import { EmailVerification } from './email-verification.ts'

const log = logger('pwa:services')

/** What the status line shows. */
export interface AppStatus {
  /** connected to at least one supernode */
  connected: boolean
  supernodes: number
  /** this device's location record is in the DHT (others can reach it); always false without an identity */
  reachable: boolean
  /** the browser reports a network connection (navigator.onLine) */
  network: boolean
}

export interface Me { email: string, displayName: string }

export interface UserSettings {
  /** supernodes the user typed; empty: use the ones the server recommends */
  supernodes: string[]
  iceServers: IceServerSetting[]
  /** the name people you call see; empty: the one given when the identity was created */
  displayName: string
}

export type Presence = 'online' | 'offline' | 'unknown'

export type RouteName = 'call' | 'chat' | 'settings' | 'history' | 'safety' | 'pair' | 'verify' | 'home'
export interface Route { route: RouteName, target?: string }

/** Background failures worth a sentence on screen; `address` completes it. */
export interface ServiceError { error: unknown, address?: string }

export interface ServicesEvents {
  'status:change': CustomEvent<AppStatus>
  /** the identity was created, restored or loaded, or the session restarted */
  'session:change': CustomEvent<Me | undefined>
  'call:incoming': CustomEvent<Call>
  'call:outgoing': CustomEvent<Call>
  'call:ended': CustomEvent<Call>
  /** stored, then announced */
  'message:incoming': CustomEvent<MessageRecord>
  /** something in the history store changed; `peer` when it concerns one conversation */
  'history:change': CustomEvent<{ kind: 'message' | 'call' | 'buddy', peer?: string }>
  'update:available': CustomEvent<undefined>
  /** this identity's linked devices changed (see devices()) */
  'devices:change': CustomEvent<undefined>
  error: CustomEvent<ServiceError>
}

interface Session {
  identity: StoredIdentity
  overlay: Overlay
  phone?: Phone
  controller: AbortController
  publishedUntil: number
}

export interface ServicesInit {
  /** where config.json is (default: next to the page) */
  configUrl?: string
  /**
   * The installed app's glue (the PWA's service worker and sip: protocol
   * handler, see platform.ts); absent: none (the browser extension and the
   * Thunderbird add-on have their own).
   */
  platform?: AppPlatform
  /** where the phone gets the microphone/camera (default this page's navigator.mediaDevices) */
  getUserMedia?: (constraints: MediaStreamConstraints) => Promise<MediaStream>
  /** offer libp2p WebRTC connections (default true); false where there is no WebRTC (Thunderbird) */
  webrtc?: boolean
  /** this device's name in its device certificate, shown in the user's device list (default DEVICE_NAME) */
  deviceName?: string
}

export class AppServices extends TypedEventEmitter<ServicesEvents> {
  readonly identities: IdentityStore = identityStore(idbStorage({ key: IDENTITY_STORAGE_KEY }))
  /** the newest device roster seen per address, kept across restarts (revoked devices stay refused) */
  readonly #rosterStorage = idbStorage({ key: ROSTER_STORAGE_KEY })
  /** trusted CAs and pinned contact keys (none trusted by default) */
  readonly trust: TrustStore = new TrustStore(idbStorage({ key: TRUST_STORAGE_KEY }), { shareAs: TRUST_SHARE_NAME })
  /** contacts whose key changed this session, for the warnings */
  readonly keys: KeyWatch = new KeyWatch(this.trust)
  /** "Verify my email address" with a supernode's CA */
  readonly verification: EmailVerification = new EmailVerification({
    history: () => this.history,
    identities: this.identities,
    trust: this.trust,
    session: () => this.#session,
    restart: async identity => { await this.#serial(async () => { await this.#startSession(identity) }) },
    settled: async () => { await this.#serial(async () => {}) }
  })
  #history?: HistoryStore
  #session?: Session
  /** the trusted CA keys the running session was started with (sorted, joined), to restart only when they change */
  #sessionRoots = ''
  #probe?: Overlay
  #me?: Me
  #status: AppStatus = { connected: false, supernodes: 0, reachable: false, network: true }
  #deviceKey?: Promise<PrivateKey>
  readonly #tracked = new WeakSet<Call>()
  readonly #init: ServicesInit
  /** serialises session starts and stops: settings saved twice quickly must not leave two nodes running */
  #lifecycle: Promise<unknown> = Promise.resolve()

  constructor (init: ServicesInit = {}) {
    super()
    this.#init = init
  }

  get status (): AppStatus { return this.#status }
  get me (): Me | undefined { return this.#me }
  get history (): HistoryStore {
    if (this.#history === undefined) throw new Error('AppServices.start() has not finished')
    return this.#history
  }

  get overlay (): Overlay | undefined { return this.#session?.overlay ?? this.#probe }
  get phone (): Phone | undefined { return this.#session?.phone }

  /**
   * Opens storage, registers the service worker and the sip: handler, and
   * starts the session when this device has an identity.
   * @returns who this device is, or undefined when onboarding is needed
   */
  async start (): Promise<Me | undefined> {
    this.#history = await openHistory()
    await this.#loadTrust()
    this.#watchPlatform()
    const identity = await this.identities.load()
    if (identity === undefined) {
      await this.#serial(async () => { await this.#startProbe() })
      return undefined
    }
    await this.#serial(async () => { await this.#startSession(identity) })
    return this.#me
  }

  async stop (): Promise<void> {
    await this.#serial(async () => {
      await this.#stopProbe()
      await this.#stopSession()
    })
  }

  /** Onboarding: a new identity for `email`. @throws InvalidAddressError | IdentityExistsError */
  async createIdentity (email: string, displayName: string): Promise<Me> {
    const identity = await this.identities.create({ email, displayName })
    // the identity key and transcripts must survive storage pressure: ask the
    // browser once, right after the user created something worth keeping
    void this.history.requestPersistence()
    await this.#serial(async () => { await this.#startSession(identity) })
    return this.#me as Me
  }

  /** Restores an identity from a backup and restarts the session with it. @throws MalformedBackupError | BadPassphraseError | IdentityExistsError */
  async restoreBackup (backup: string, passphrase: string, options: { replace?: boolean } = {}): Promise<Me> {
    const identity = await this.identities.importBackup(backup, passphrase, { replace: options.replace === true })
    await this.#serial(async () => { await this.#startSession(identity) })
    return this.#me as Me
  }

  /** The identity encrypted under `passphrase`, as JSON text. @throws BadPassphraseError */
  async exportBackup (passphrase: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    return await this.identities.exportBackup(passphrase, options)
  }

  /**
   * Dials `target` (email or sip: URI). Rejects within seconds with
   * InvalidAddressError, NotFoundError, OfflineError or CallFailedError; a
   * failed attempt is still written to the call history.
   */
  async call (target: string, options: { video?: boolean, signal?: AbortSignal } = {}): Promise<Call> {
    const aor = normalizeAor(target)
    const phone = this.#session?.phone
    if (phone === undefined) throw new OfflineError()
    const startedAt = Date.now()
    try {
      const call = await phone.call(aor, options)
      // the phone checked the pin before dialling: a key change noted earlier is over
      if (this.trust.loaded) this.keys.noteOk(aor)
      this.#track(call)
      return call
    } catch (err) {
      this.keys.noteError(err)
      if ((err as Error).name !== 'AbortError') {
        await this.#addCallRecord({
          peer: aor, direction: 'out', startedAt, endedAt: Date.now(), durationMs: 0, outcome: 'failed', video: options.video === true, verified: false
        })
      }
      throw err
    }
  }

  /**
   * Stores the message as 'sending' and sends it. Resolves once stored, with
   * `delivery` settling when the other side accepted it (status 'sent') or
   * not (status 'failed', rejecting with the reason).
   */
  async sendMessage (peer: string, body: string): Promise<{ record: MessageRecord, delivery: Promise<void> }> {
    const aor = normalizeAor(peer)
    const record = await this.history.addMessage({ peer: aor, direction: 'out', body, at: Date.now(), verified: true, status: 'sending' })
    this.#changed('message', aor)
    const delivery = (async () => {
      try {
        const phone = this.#session?.phone
        if (phone === undefined) throw new OfflineError()
        await phone.sendMessage(aor, body)
        if (this.trust.loaded) this.keys.noteOk(aor)
        await this.history.setMessageStatus(record.id, 'sent')
      } catch (err) {
        this.keys.noteError(err)
        await this.history.setMessageStatus(record.id, 'failed').catch(e => { log.error('cannot mark message failed: %s', (e as Error).message) })
        throw err
      } finally {
        this.#changed('message', aor)
      }
    })()
    return { record, delivery }
  }

  /** Is `aor` reachable now? One DHT lookup; 'unknown' when this device is offline or the answer is unclear. */
  async presence (aor: string, options: { signal?: AbortSignal } = {}): Promise<Presence> {
    const overlay = this.#session?.overlay
    if (overlay === undefined || !overlay.status.online) return 'unknown'
    const signal = AbortSignal.any([AbortSignal.timeout(PRESENCE_LOOKUP_TIMEOUT_MS), ...(options.signal !== undefined ? [options.signal] : [])])
    try {
      const record: LocationRecord = await overlay.lookup(aor, { signal })
      return record.devices.length > 0 && record.expiresAt > Date.now() ? 'online' : 'offline'
    } catch (err) {
      const name = (err as Error).name
      if (name === 'NotFoundError' || name === 'RecordExpiredError') return 'offline'
      if (options.signal?.aborted === true) throw err
      return 'unknown'
    }
  }

  async buddies (): Promise<Buddy[]> { return await this.history.buddies() }

  /** @throws InvalidAddressError */
  async addBuddy (address: string, displayName?: string): Promise<Buddy> {
    const aor = normalizeAor(address)
    const buddy = await this.history.addBuddy({ aor, ...(displayName !== undefined && displayName.trim() !== '' ? { displayName: displayName.trim() } : {}) })
    this.#changed('buddy', aor)
    return buddy
  }

  async removeBuddy (aor: string): Promise<void> {
    await this.history.removeBuddy(aor)
    this.#changed('buddy', aor)
  }

  async settings (): Promise<UserSettings> {
    const h = this.history
    return {
      supernodes: await h.getSetting<string[]>(SETTING_SUPERNODES, []),
      iceServers: await h.getSetting<IceServerSetting[]>(SETTING_ICE_SERVERS, []),
      displayName: await h.getSetting<string>(SETTING_DISPLAY_NAME, '')
    }
  }

  /** The supernodes the server recommended last time (config.json). */
  async serverSupernodes (): Promise<string[]> {
    return await this.history.getSetting<string[]>(SETTING_LAST_SERVER_SUPERNODES, [])
  }

  /** Saves settings (already checked, see settings.ts) and restarts the session so they take effect. */
  async saveSettings (patch: Partial<UserSettings>): Promise<void> {
    const h = this.history
    if (patch.supernodes !== undefined) await h.setSetting(SETTING_SUPERNODES, patch.supernodes)
    if (patch.iceServers !== undefined) await h.setSetting(SETTING_ICE_SERVERS, patch.iceServers)
    if (patch.displayName !== undefined) await h.setSetting(SETTING_DISPLAY_NAME, patch.displayName.trim())
    const identity = this.#session?.identity ?? await this.identities.load()
    await this.#serial(async () => {
      if (identity !== undefined) await this.#startSession(identity)
      else await this.#startProbe()
    })
  }

  /** Whether the browser promised not to evict Peerline's storage. */
  async storagePersisted (): Promise<boolean> {
    try {
      return await navigator.storage?.persisted?.() ?? false
    } catch {
      return false
    }
  }

  async requestPersistence (): Promise<boolean> { return await this.history.requestPersistence() }

  /** The service worker has a new version waiting: take it now (the page reloads). */
  applyUpdate (): void {
    // nothing waiting: another tab already switched workers, a reload is all it takes
    const platform = this.#init.platform
    if (platform?.updateAvailable !== true) { location.reload(); return }
    platform.applyUpdate().catch(err => {
      if ((err as Error).name === 'NoUpdateError') location.reload()
      else this.#error(err)
    })
  }

  /** The route a location hash names (`#/call/sip:bob@example.org`, `#/chat/bob%40example.org`, …). */
  parseRoute (hash: string): Route {
    const r = parseDeepLink(hash)
    return r.target !== undefined ? { route: r.route, target: r.target } : { route: r.route }
  }

  /** Waits until this device can be reached (its record is published); false when `ms` passed first. */
  async waitReachable (ms: number, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    if (this.#status.reachable) return true
    return await new Promise<boolean>(resolve => {
      const done = (v: boolean): void => {
        clearTimeout(timer)
        this.removeEventListener('status:change', check)
        options.signal?.removeEventListener('abort', abort)
        resolve(v)
      }
      const check = (): void => { if (this.#status.reachable) done(true) }
      const abort = (): void => { done(false) }
      const timer = setTimeout(() => { done(false) }, ms)
      this.addEventListener('status:change', check)
      options.signal?.addEventListener('abort', abort)
    })
  }

  // ── linked devices (see shared/overlay/pairing.ts) ─────────────────────────

  /** This identity's devices and whether this one is the primary (it may link and revoke). */
  devices (): { devices: LinkedDeviceInfo[], primary: boolean, revoked: boolean } {
    const overlay = this.#session?.overlay
    if (overlay === undefined) return { devices: [], primary: false, revoked: false }
    return { devices: overlay.devices(), primary: overlay.primary, revoked: overlay.isRevoked }
  }

  /** A pairing offer and the link (for the QR code) a new device opens. @throws NotPrimaryDeviceError | OfflineError */
  async createPairingOffer (): Promise<{ offer: PairingOffer, link: string }> {
    const overlay = this.#session?.overlay
    if (overlay === undefined) throw new OfflineError()
    const offer = await overlay.createPairingOffer()
    return { offer, link: pairingLink(offer, location.href) }
  }

  /**
   * Revokes a device; `published` says whether the new roster is out (else it is saved and published once online).
   * @throws NotPrimaryDeviceError | TypeError (unknown device) | RosterNotSavedError
   */
  async revokeDevice (peerId: string): Promise<{ published: boolean }> {
    const overlay = this.#session?.overlay
    if (overlay === undefined) throw new OfflineError()
    const roster = await overlay.revokeDevice(peerId)
    return { published: (overlay.publishedRosterSeq ?? 0) >= roster.seq }
  }

  /** Whether `offer` is still open (not used, cancelled or expired) on this device. */
  pairingOfferOpen (offer: PairingOffer): boolean {
    return this.#session?.overlay.currentPairingOffer()?.code === offer.code
  }

  /** Cancels this device's open pairing offer (the user closed it). */
  cancelPairingOffer (): void {
    this.#session?.overlay.cancelPairingOffer()
  }

  /**
   * Links this browser to the identity of the device that made the pairing
   * link (or its `#/pair/…` part), then starts the session with it. A browser
   * that already speaks for the link's address keeps its identity.
   * @throws MalformedPairingOfferError | PairingExpiredError | PairingCodeError | PairingCancelledError | PairingFailedError | IdentityExistsError
   */
  async linkToIdentity (link: string, deviceName: string, options: { signal?: AbortSignal } = {}): Promise<Me> {
    const offer = parsePairingOffer(link)
    const existing = this.#session?.identity ?? await this.identities.load()
    if (existing !== undefined) {
      if (existing.email === offer.aor) return this.#me ?? { email: existing.email, displayName: existing.displayName }
      throw new IdentityExistsError(`This browser already has the identity ${existing.email}`)
    }
    if (this.#probe === undefined) await this.#serial(async () => { await this.#startProbe() })
    const probe = this.#probe
    if (probe === undefined) throw new OfflineError()
    await probe.waitOnline({ signal: AbortSignal.any([AbortSignal.timeout(LOOKUP_TIMEOUT_MS), ...(options.signal !== undefined ? [options.signal] : [])]) })
    const granted = await probe.acceptPairing(offer, { name: deviceName, ...(options.signal !== undefined ? { signal: options.signal } : {}) })
    const identity = await this.identities.saveLinked(granted)
    void this.history.requestPersistence()
    await this.#serial(async () => { await this.#startSession(identity) })
    return this.#me as Me
  }

  // ── sessions ──────────────────────────────────────────────────────────────

  async #startSession (identity: StoredIdentity): Promise<void> {
    await this.#stopProbe()
    await this.#stopSession()
    const settings = await this.settings()
    this.#me = { email: identity.email, displayName: settings.displayName !== '' ? settings.displayName : identity.displayName }
    const [bootstrap, privateKey] = await Promise.all([this.#bootstrap(), this.#loadDeviceKey()])
    const iceServers = settings.iceServers.map(s => ({ ...s }))
    // a user-trusted CA vouches for addresses; self-issued certificates stay accepted (shown as not CA-verified)
    const trustedRoots = this.trust.loaded ? this.trust.trustedRootKeys() : []
    this.#sessionRoots = this.#rootSet()
    const overlay = createOverlay({ bootstrap, identity, identityStore: this.identities, rosterStorage: this.#rosterStorage, privateKey, deviceName: this.#init.deviceName ?? DEVICE_NAME, iceServers, recordOptions: { certificate: { trustedRoots } }, ...(this.trust.loaded ? { trust: this.trust } : {}), ...(this.#init.webrtc === false ? { webrtc: false } : {}) })
    const session: Session = { identity, overlay, controller: new AbortController(), publishedUntil: 0 }
    this.#session = session
    this.#attachOverlay(overlay, session)
    try {
      await overlay.start()
      const trust = this.trust.loaded ? { trust: this.trust } : {}
      const phone = createPhone({ identity, displayName: this.#me.displayName, iceServers, verifyOptions: { trustedRoots }, ...trust }, {
        overlay,
        media: { getUserMedia: this.#init.getUserMedia ?? (async constraints => await navigator.mediaDevices.getUserMedia(constraints)) }
      })
      this.#attachPhone(phone)
      this.keys.watchPhone(phone)
      await phone.start()
      session.phone = phone
    } catch (err) {
      // the UI stays usable (settings, history) and says what is wrong
      log.error('session start failed: %s', (err as Error).message)
      this.#error(err)
    }
    this.#expose()
    this.dispatchEvent(new CustomEvent('session:change', { detail: this.#me }))
    this.#keepPublished(session).catch(err => { log.error('publish loop: %s', (err as Error).message) })
  }

  /**
   * Loads the trust store (unreadable data is reported and left alone: calls
   * then work without pinning) and restarts the session when the trusted CAs
   * change, so lookups and hellos use the new list.
   */
  async #loadTrust (): Promise<void> {
    try {
      await this.trust.load()
    } catch (err) {
      this.#error(err)
    }
    this.trust.addEventListener('trust:change', e => {
      if (e.detail.kind === 'pin') return
      // restarting hangs up calls: only when the set of trusted root keys really changed
      const identity = this.#session?.identity
      if (identity === undefined || this.#rootSet() === this.#sessionRoots) return
      this.#sessionRoots = this.#rootSet()
      this.#serial(async () => { await this.#startSession(identity) }).catch(err => { this.#error(err) })
    })
  }

  #rootSet (): string {
    return this.trust.loaded ? this.trust.trustedCas().map(c => c.key).sort().join(',') : ''
  }

  async #stopSession (): Promise<void> {
    const s = this.#session
    if (s === undefined) return
    this.#session = undefined
    s.controller.abort()
    await s.phone?.stop().catch(err => { log.error('phone stop: %s', (err as Error).message) })
    await s.overlay.stop().catch(err => { log.error('overlay stop: %s', (err as Error).message) })
    this.#setStatus({ connected: false, supernodes: 0, reachable: false })
  }

  /** Before onboarding: an overlay without identity, so the status line already tells whether the network works. */
  async #startProbe (): Promise<void> {
    await this.#stopProbe()
    const [bootstrap, privateKey] = await Promise.all([this.#bootstrap(), this.#loadDeviceKey()])
    const probe = createOverlay({ bootstrap, privateKey, deviceName: this.#init.deviceName ?? DEVICE_NAME, ...(this.#init.webrtc === false ? { webrtc: false } : {}) })
    this.#probe = probe
    this.#attachOverlay(probe)
    try {
      await probe.start()
    } catch (err) {
      this.#error(err)
    }
    this.#expose()
  }

  async #stopProbe (): Promise<void> {
    const p = this.#probe
    if (p === undefined) return
    this.#probe = undefined
    await p.stop().catch(err => { log.error('probe stop: %s', (err as Error).message) })
    this.#setStatus({ connected: false, supernodes: 0, reachable: false })
  }

  #attachOverlay (overlay: Overlay, session?: Session): void {
    const current = (): boolean => (session !== undefined ? this.#session === session : this.#probe === overlay)
    overlay.addEventListener('status:change', evt => {
      if (!current()) return
      const s: OverlayStatus = evt.detail
      this.#setStatus({ connected: s.online, supernodes: s.supernodes, reachable: s.online && (session?.publishedUntil ?? 0) > Date.now() })
    })
    if (session === undefined) return
    // linked devices: the roster changed (paired, revoked), or this device was revoked
    overlay.addEventListener('devices:change', () => { if (current()) this.dispatchEvent(new CustomEvent('devices:change', { detail: undefined })) })
    overlay.addEventListener('device:revoked', evt => {
      if (!current()) return
      this.dispatchEvent(new CustomEvent('devices:change', { detail: undefined }))
      this.#error(new DeviceRevokedError(`This browser was removed from ${evt.detail.aor} on another device`))
    })
    overlay.addEventListener('record:published', evt => {
      if (!current()) return
      // the first record often goes out before a relay reservation gives this
      // device an address; callers can only reach it once the record lists one
      // (the overlay republishes when addresses change)
      const self = evt.detail.devices.find(d => d.peerId === overlay.peerId)
      session.publishedUntil = self !== undefined && self.addrs.length > 0 ? evt.detail.expiresAt : 0
      this.#setStatus({ reachable: overlay.status.online && session.publishedUntil > Date.now() })
    })
  }

  #attachPhone (phone: Phone): void {
    phone.addEventListener('call:incoming', evt => {
      this.#track(evt.detail)
      this.dispatchEvent(new CustomEvent('call:incoming', { detail: evt.detail }))
    })
    phone.addEventListener('call:outgoing', evt => {
      this.#track(evt.detail)
      this.dispatchEvent(new CustomEvent('call:outgoing', { detail: evt.detail }))
    })
    phone.addEventListener('message:incoming', evt => {
      this.#storeIncoming(evt.detail).catch(err => { this.#error(err) })
    })
  }

  /** Publishes once online; after the first success the overlay keeps the record fresh itself. */
  async #keepPublished (s: Session): Promise<void> {
    const signal = s.controller.signal
    let delay = 500
    while (!signal.aborted) {
      try {
        await s.overlay.waitOnline({ signal })
        await s.overlay.publish({ signal: AbortSignal.any([signal, AbortSignal.timeout(LOOKUP_TIMEOUT_MS)]) })
        return
      } catch (err) {
        if (signal.aborted) return
        log('publish failed, retrying in %d ms: %s', delay, (err as Error).message)
        await new Promise(resolve => { setTimeout(resolve, delay) })
        delay = Math.min(delay * 2, PUBLISH_RETRY_MAX_MS)
      }
    }
  }

  /** The user's supernodes, else the server's (remembered for offline starts), else the last remembered ones. */
  async #bootstrap (): Promise<string[]> {
    const h = this.history
    const mine = await h.getSetting<string[]>(SETTING_SUPERNODES, [])
    if (mine.length > 0) return mine
    try {
      const res = await fetch(this.#init.configUrl ?? 'config.json', { cache: 'no-store', signal: AbortSignal.timeout(CONFIG_FETCH_TIMEOUT_MS) })
      if (!res.ok) throw new Error(`HTTP ${res.status}`)
      const config = await res.json() as { supernodes?: unknown }
      const list = Array.isArray(config.supernodes) ? config.supernodes.filter((s): s is string => typeof s === 'string') : []
      if (list.length > 0) {
        await h.setSetting(SETTING_LAST_SERVER_SUPERNODES, list)
        return list
      }
    } catch (err) {
      log('config.json unavailable (%s): using remembered supernodes', (err as Error).message)
    }
    return await h.getSetting<string[]>(SETTING_LAST_SERVER_SUPERNODES, [])
  }

  /** This device's libp2p key, kept so its peer id (and device certificate) survive restarts. */
  async #loadDeviceKey (): Promise<PrivateKey> {
    this.#deviceKey ??= (async () => {
      const storage = idbStorage({ key: DEVICE_KEY_STORAGE_KEY })
      const text = await storage.read()
      if (text !== undefined) {
        try {
          return privateKeyFromProtobuf(fromBase64Url(text))
        } catch (err) {
          // only costs a new peer id: the identity key is stored separately
          log.error('stored device key unreadable, making a new one: %s', (err as Error).message)
        }
      }
      const key = await generateKeyPair('Ed25519')
      await storage.write(toBase64Url(privateKeyToProtobuf(key)))
      return key
    })()
    this.#deviceKey.catch(() => { this.#deviceKey = undefined })
    return await this.#deviceKey
  }

  // ── history writes ────────────────────────────────────────────────────────

  /** Writes a CallRecord when `call` ends, whatever screen is showing. */
  #track (call: Call): void {
    if (this.#tracked.has(call)) return
    this.#tracked.add(call)
    const onEnded = (): void => {
      call.removeEventListener('ended', onEnded)
      const end = call.end
      this.#addCallRecord({
        peer: call.remote.aor,
        ...(call.remote.displayName !== '' ? { displayName: call.remote.displayName } : {}),
        direction: call.direction === 'outgoing' ? 'out' : 'in',
        startedAt: call.startedAt,
        ...(call.answeredAt !== undefined ? { answeredAt: call.answeredAt } : {}),
        endedAt: call.endedAt ?? Date.now(),
        durationMs: call.duration(),
        outcome: callOutcome(call.direction, end?.reason ?? 'failed', call.answeredAt !== undefined),
        video: call.video,
        verified: call.remote.verified
      }).finally(() => {
        this.dispatchEvent(new CustomEvent('call:ended', { detail: call }))
      })
    }
    if (call.state === 'ended') onEnded()
    else call.addEventListener('ended', onEnded)
  }

  async #addCallRecord (record: Omit<CallRecord, 'id'>): Promise<void> {
    try {
      await this.history.addCall(record)
      this.#changed('call', record.peer)
    } catch (err) {
      this.#error(err)
    }
  }

  async #storeIncoming (m: IncomingMessage): Promise<void> {
    const record = await this.history.addMessage({
      id: m.id, peer: m.from.aor, direction: 'in', body: m.body, at: m.receivedAt, verified: m.from.verified, status: 'received'
    })
    this.#changed('message', record.peer)
    this.dispatchEvent(new CustomEvent('message:incoming', { detail: record }))
  }

  // ── plumbing ──────────────────────────────────────────────────────────────

  #watchPlatform (): void {
    this.#setStatus({ network: navigator.onLine })
    onlineState(online => { this.#setStatus({ network: online }) })
    const platform = this.#init.platform
    if (platform === undefined) return
    try {
      platform.start({ onUpdateAvailable: () => { this.dispatchEvent(new CustomEvent('update:available', { detail: undefined })) } })
    } catch (err) {
      log('platform glue failed to start: %s', (err as Error).message)
    }
  }

  #setStatus (patch: Partial<AppStatus>): void {
    const next = { ...this.#status, ...patch }
    if (!next.connected) next.reachable = false
    const s = this.#status
    if (next.connected === s.connected && next.supernodes === s.supernodes && next.reachable === s.reachable && next.network === s.network) return
    this.#status = next
    this.dispatchEvent(new CustomEvent('status:change', { detail: next }))
  }

  #changed (kind: 'message' | 'call' | 'buddy', peer?: string): void {
    this.dispatchEvent(new CustomEvent('history:change', { detail: peer !== undefined ? { kind, peer } : { kind } }))
  }

  #error (error: unknown, address?: string): void {
    this.dispatchEvent(new CustomEvent('error', { detail: address !== undefined ? { error, address } : { error } }))
  }

  /** window.peerline, for tests and debugging only (see the file comment). */
  #expose (): void {
    const target = globalThis as { peerline?: unknown }
    target.peerline = { phone: this.phone, overlay: this.overlay, history: this.#history, services: this }
  }

  async #serial (fn: () => Promise<void>): Promise<void> {
    const run = this.#lifecycle.then(fn, fn)
    this.#lifecycle = run.catch(() => {})
    await run
  }
}

/** `createServices()` makes the app's one AppServices; `start()` it before use. */
export function createServices (init: ServicesInit = {}): AppServices {
  return new AppServices(init)
}
