/**
 * Everything the app's screens talk to (the PWA's and the extensions'): the
 * identity store, the trust store, the history store, the network state, the
 * running session (session.ts: overlay + phone), the call log (call-log.ts),
 * linked devices (devices.ts), the SIP accounts (accounts.ts) and, when injected through
 * `ServicesInit.platform`, the installed app's glue (the PWA's service worker
 * and sip: handler, see platform.ts). Screens never import those modules
 * directly; they get an AppServices and listen to its events.
 *
 * Lifecycle (see session.ts):
 *   start() ─▶ no identity: a "probe" overlay without identity (status only)
 *           └▶ identity:    session = overlay.start() → phone.start() → publish
 *   createIdentity()/restoreBackup()/settings change ─▶ the session restarts
 *
 * For tests and debugging only, `window.peerline = { phone, overlay, history }`
 * points at the running session's parts (e2e tests read
 * `call.peerConnection.getStats()` through it). App code never uses it.
 */
import { TypedEventEmitter } from 'main-event'
import { identityStore, normalizeAor, TRUST_SHARE_NAME, TrustStore } from '../../identity/index.ts'
import type { IdentityStore } from '../../identity/index.ts'
import { OfflineError } from '../../overlay/index.ts'
import type { LinkedDeviceInfo, LocationRecord, Overlay, PairingOffer } from '../../overlay/index.ts'
import { idbStorage, openHistory } from '../../store/index.ts'
import type { Buddy, HistoryStore, MessageRecord } from '../../store/history-api.ts'
import type { Call, IncomingMessage, Phone, SipAccountSettings } from '../../sip/api.ts'
import type { SipAccount } from '../../sip/index.ts'
import { anySignal } from '../../util/async.ts'
import { logger } from '../../util/logger.ts'
import { SipAccounts } from './accounts.ts'
import type { AccountView, DialRoute } from './accounts.ts'
import { CallLog } from './call-log.ts'
import {
  DEVICE_NAME, IDENTITY_STORAGE_KEY, PRESENCE_LOOKUP_TIMEOUT_MS, SETTING_DISPLAY_NAME, SETTING_ICE_SERVERS,
  SETTING_LAST_SERVER_SUPERNODES, SETTING_SUPERNODES, SIP_ACCOUNTS_STORAGE_KEY, TRUST_STORAGE_KEY
} from './constants.ts'
import { parseRoute } from './deeplink.ts'
import type { Route } from './deeplink.ts'
import { Devices } from './devices.ts'
import { EmailVerification } from './email-verification.ts'
import { onlineState } from './online.ts'
import type { AppPlatform } from './platform.ts'
import { Sessions } from './session.ts'
import type { IceServerSetting } from './settings.ts'
import { KeyWatch } from './trust.ts'
import type { AppStatus, HistoryChangeKind, Me, Presence, ServicesEvents, UserSettings } from './types.ts'

export type { AppStatus, Me, Presence, ServiceError, ServicesEvents, UserSettings } from './types.ts'
export type { Route, RouteName } from './deeplink.ts'
export type { AccountView, DialRoute } from './accounts.ts'

const log = logger('pwa:services')

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
  /** trusted CAs and pinned contact keys (none trusted by default) */
  readonly trust: TrustStore = new TrustStore(idbStorage({ key: TRUST_STORAGE_KEY }), { shareAs: TRUST_SHARE_NAME })
  /** contacts whose key changed this session, for the warnings */
  readonly keys: KeyWatch = new KeyWatch(this.trust)
  readonly #sessions: Sessions
  readonly #log: CallLog
  readonly #devices: Devices
  readonly #accounts: SipAccounts
  /** "Verify my email address" with a supernode's CA */
  readonly verification: EmailVerification
  #history?: HistoryStore
  #status: AppStatus = { connected: false, supernodes: 0, reachable: false, network: true }
  readonly #init: ServicesInit

  constructor (init: ServicesInit = {}) {
    super()
    this.#init = init
    this.#log = new CallLog({
      history: () => this.history,
      trust: this.trust,
      changed: (kind, peer) => { this.#changed(kind, peer) },
      ended: call => { this.dispatchEvent(new CustomEvent('call:ended', { detail: call })) },
      error: err => { this.#error(err) }
    })
    // calls and messages from the overlay phone and from SIP accounts: one call log, one history
    const traffic = {
      call: (call: Call, direction: 'incoming' | 'outgoing') => {
        this.#log.track(call)
        this.dispatchEvent(new CustomEvent(direction === 'incoming' ? 'call:incoming' : 'call:outgoing', { detail: call }))
      },
      message: (m: IncomingMessage) => {
        this.#log.storeIncoming(m).then(record => {
          this.dispatchEvent(new CustomEvent('message:incoming', { detail: record }))
        }, err => { this.#error(err) })
      }
    }
    this.#sessions = new Sessions({
      identities: this.identities,
      trust: this.trust,
      keys: this.keys,
      history: () => this.history,
      settings: async () => await this.settings(),
      ...(init.configUrl !== undefined ? { configUrl: init.configUrl } : {}),
      ...(init.getUserMedia !== undefined ? { getUserMedia: init.getUserMedia } : {}),
      ...(init.webrtc !== undefined ? { webrtc: init.webrtc } : {}),
      deviceName: init.deviceName ?? DEVICE_NAME,
      setStatus: patch => { this.#setStatus(patch) },
      error: err => { this.#error(err) },
      devicesChanged: () => { this.dispatchEvent(new CustomEvent('devices:change', { detail: undefined })) },
      ...traffic,
      changed: (me, started) => {
        this.#expose()
        if (started) this.dispatchEvent(new CustomEvent('session:change', { detail: me }))
      }
    })
    this.#accounts = new SipAccounts({
      storage: idbStorage({ key: SIP_ACCOUNTS_STORAGE_KEY }),
      iceServers: async () => (await this.settings()).iceServers.map(s => ({ ...s })),
      ...(init.getUserMedia !== undefined ? { getUserMedia: init.getUserMedia } : {}),
      ...traffic,
      changed: () => { this.dispatchEvent(new CustomEvent('accounts:change', { detail: undefined })) },
      error: err => { this.#error(err) }
    })
    this.#devices = new Devices({
      identities: this.identities,
      session: () => this.#sessions.current,
      probe: async () => {
        if (this.#sessions.probe === undefined) await this.#sessions.startProbe()
        return this.#sessions.probe
      }
    })
    this.verification = new EmailVerification({
      history: () => this.history,
      identities: this.identities,
      trust: this.trust,
      session: () => this.#sessions.current,
      restart: async identity => { await this.#sessions.start(identity) },
      settled: async () => { await this.#sessions.settled() }
    })
  }

  get status (): AppStatus { return this.#status }
  get me (): Me | undefined { return this.#sessions.me }
  get history (): HistoryStore {
    if (this.#history === undefined) throw new Error('AppServices.start() has not finished')
    return this.#history
  }

  get overlay (): Overlay | undefined { return this.#sessions.current?.overlay ?? this.#sessions.probe }
  get phone (): Phone | undefined { return this.#sessions.current?.phone }

  /**
   * Opens storage, registers the service worker and the sip: handler, and
   * starts the session when this device has an identity.
   * @returns who this device is, or undefined when onboarding is needed
   */
  async start (): Promise<Me | undefined> {
    this.#history = await openHistory()
    await this.#loadTrust()
    this.#watchPlatform()
    // SIP accounts need no identity: they start (and ring) whatever the overlay does
    await this.#accounts.start()
    const identity = await this.identities.load()
    if (identity === undefined) {
      await this.#sessions.startProbe()
      return undefined
    }
    await this.#sessions.start(identity)
    return this.me
  }

  async stop (): Promise<void> {
    await Promise.all([this.#sessions.stop(), this.#accounts.stop()])
  }

  /** Onboarding: a new identity for `email`. @throws InvalidAddressError | IdentityExistsError */
  async createIdentity (email: string, displayName: string): Promise<Me> {
    const identity = await this.identities.create({ email, displayName })
    // the identity key and transcripts must survive storage pressure: ask the
    // browser once, right after the user created something worth keeping
    void this.history.requestPersistence()
    await this.#sessions.start(identity)
    return this.me as Me
  }

  /** Restores an identity from a backup and restarts the session with it. @throws MalformedBackupError | BadPassphraseError | IdentityExistsError */
  async restoreBackup (backup: string, passphrase: string, options: { replace?: boolean } = {}): Promise<Me> {
    const identity = await this.identities.importBackup(backup, passphrase, { replace: options.replace === true })
    await this.#sessions.start(identity)
    return this.me as Me
  }

  /** The identity encrypted under `passphrase`, as JSON text. @throws BadPassphraseError */
  async exportBackup (passphrase: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    return await this.identities.exportBackup(passphrase, options)
  }

  /**
   * Dials `target` (email, sip: URI, or an extension of a SIP account's
   * domain) by `options.via` (a route of routes(target)), else by the first
   * of routes(target). Rejects within seconds with InvalidAddressError,
   * NotFoundError, OfflineError or CallFailedError (a SIP account: also
   * AccountUnreachableError); a failed attempt is still written to the call
   * history. ConflictingClaimsError (several keys claim the address, none
   * trusted) is not a failed call: the user chooses a claim and calls again
   * with its `identityKey`.
   */
  async call (target: string, options: { video?: boolean, signal?: AbortSignal, identityKey?: string, via?: DialRoute } = {}): Promise<Call> {
    const { account, aor } = this.#accounts.resolve(target, options.via)
    const phone = this.phone
    if (account === undefined && phone === undefined) throw new OfflineError()
    const startedAt = Date.now()
    try {
      const call = account !== undefined
        ? await account.call(aor, { ...(options.video !== undefined ? { video: options.video } : {}), ...(options.signal !== undefined ? { signal: options.signal } : {}) })
        : await (phone as Phone).call(aor, options)
      // the phone checked the pin before dialling: a key change noted earlier is over
      // (an account checks no key: it proves nothing about the overlay identity)
      if (account === undefined) {
        if (this.trust.loaded) this.keys.noteOk(aor)
        this.keys.noteSeen(call.remote)
      }
      this.#log.track(call)
      return call
    } catch (err) {
      this.keys.noteError(err)
      if (!isChoiceNeeded(err)) {
        await this.#log.add({
          peer: aor, direction: 'out', startedAt, endedAt: Date.now(), durationMs: 0, outcome: 'failed', video: options.video === true, verified: false
        })
      }
      throw err
    }
  }

  /**
   * Stores the message as 'sending' and sends it. Resolves once stored, with
   * `delivery` settling when the other side accepted it (status 'sent') or
   * not (status 'failed', rejecting with the reason; ConflictingClaimsError:
   * send again with the `identityKey` the user chose).
   */
  async sendMessage (peer: string, body: string, options: { identityKey?: string, via?: DialRoute } = {}): Promise<{ record: MessageRecord, delivery: Promise<void> }> {
    const { account, aor } = this.#accounts.resolve(peer, options.via)
    // `verified` of an outgoing message only says it is ours; `trust` is the recipient's level as known now
    // (through an account: whoever that server delivers it to)
    const trust = account !== undefined ? { level: 'server-asserted' as const, via: account.address } : this.keys.level(aor)
    const record = await this.history.addMessage({ peer: aor, direction: 'out', body, at: Date.now(), verified: true, trust, status: 'sending' })
    this.#changed('message', aor)
    return { record, delivery: this.#deliver(record, aor, body, options, account) }
  }

  /**
   * Sends an undelivered ('failed') outgoing message again, as the same
   * record: 'sending', then 'sent' or 'failed' as for sendMessage. (Until
   * supernodes hold messages for absent devices, this is the user's retry.)
   */
  async retryMessage (record: MessageRecord, options: { identityKey?: string } = {}): Promise<{ delivery: Promise<void> }> {
    if (record.direction !== 'out' || record.status !== 'failed') throw new Error('Only an undelivered message of yours can be sent again')
    // the same route as the first time: the account it went through, or the overlay
    const account = record.trust?.level === 'server-asserted' && record.trust.via !== undefined ? this.#accounts.byAddress(record.trust.via) : undefined
    const aor = account !== undefined ? record.peer : normalizeAor(record.peer)
    await this.history.setMessageStatus(record.id, 'sending')
    this.#changed('message', aor)
    return { delivery: this.#deliver(record, aor, record.body, options, account) }
  }

  #deliver (record: MessageRecord, aor: string, body: string, options: { identityKey?: string }, account: SipAccount | undefined): Promise<void> {
    return (async () => {
      try {
        if (account !== undefined) {
          await account.sendMessage(aor, body)
          await this.history.setMessageStatus(record.id, 'sent')
          return
        }
        const phone = this.phone
        if (phone === undefined) throw new OfflineError()
        const sent = await phone.sendMessage(aor, body, options.identityKey !== undefined ? { identityKey: options.identityKey } : {})
        if (this.trust.loaded) this.keys.noteOk(aor)
        if (sent.recipient !== undefined) this.keys.noteSeen({ aor, authenticated: true, ...sent.recipient })
        await this.history.setMessageStatus(record.id, 'sent')
      } catch (err) {
        this.keys.noteError(err)
        await this.history.setMessageStatus(record.id, 'failed').catch(e => { log.error('cannot mark message failed: %s', (e as Error).message) })
        throw err
      } finally {
        this.#changed('message', aor)
      }
    })()
  }

  /** Is `aor` reachable now? One DHT lookup; 'unknown' when this device is offline or the answer is unclear. */
  async presence (aor: string, options: { signal?: AbortSignal } = {}): Promise<Presence> {
    const overlay = this.#sessions.current?.overlay
    if (overlay === undefined || !overlay.status.online) return 'unknown'
    const signal = anySignal(AbortSignal.timeout(PRESENCE_LOOKUP_TIMEOUT_MS), options.signal)
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
    const identity = this.#sessions.current?.identity ?? await this.identities.load()
    if (identity !== undefined) await this.#sessions.start(identity)
    else await this.#sessions.startProbe()
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

  /** The route a location hash names (`#/call/sip:bob@example.org`, `#/chat/bob%40example.org`, …); see deeplink.ts. */
  parseRoute (hash: string): Route { return parseRoute(hash) }

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

  // ── SIP accounts (see accounts.ts) ────────────────────────────────────────

  /** The SIP accounts of this device with their registration state (no passwords). */
  sipAccounts (): AccountView[] { return this.#accounts.list() }

  /** Adds (or, same address, replaces) a SIP account and starts it. @throws InvalidAccountError | StorageError */
  async addSipAccount (settings: SipAccountSettings): Promise<AccountView> { return await this.#accounts.add(settings) }

  async removeSipAccount (id: string): Promise<void> { await this.#accounts.remove(id) }

  /** REGISTERs an account again now (after a failure, without waiting for the back-off). */
  registerSipAccount (id: string): void { this.#accounts.get(id)?.register() }

  /** Where `target` can be dialled, the default first (more than one: the screen offers "Call via …"). */
  routes (target: string): DialRoute[] { return this.#accounts.routes(target) }

  // ── linked devices (see devices.ts) ───────────────────────────────────────

  /** This identity's devices and whether this one is the primary (it may link and revoke). */
  devices (): { devices: LinkedDeviceInfo[], primary: boolean, revoked: boolean } { return this.#devices.list() }

  /** A pairing offer and the link (for the QR code) a new device opens. @throws NotPrimaryDeviceError | OfflineError */
  async createPairingOffer (): Promise<{ offer: PairingOffer, link: string }> { return await this.#devices.createPairingOffer() }

  /**
   * Revokes a device; `published` says whether the new roster is out (else it is saved and published once online).
   * @throws NotPrimaryDeviceError | TypeError (unknown device) | RosterNotSavedError
   */
  async revokeDevice (peerId: string): Promise<{ published: boolean }> { return await this.#devices.revoke(peerId) }

  /** Whether `offer` is still open (not used, cancelled or expired) on this device. */
  pairingOfferOpen (offer: PairingOffer): boolean { return this.#devices.offerOpen(offer) }

  /** Cancels this device's open pairing offer (the user closed it). */
  cancelPairingOffer (): void { this.#devices.cancelOffer() }

  /**
   * Links this browser to the identity of the device that made the pairing
   * link (or its `#/pair/…` part), then starts the session with it. A browser
   * that already speaks for the link's address keeps its identity.
   * @throws MalformedPairingOfferError | PairingExpiredError | PairingCodeError | PairingCancelledError | PairingFailedError | IdentityExistsError
   */
  async linkToIdentity (link: string, deviceName: string, options: { signal?: AbortSignal } = {}): Promise<Me> {
    const existing = this.#sessions.current?.identity ?? await this.identities.load()
    const { identity, linked } = await this.#devices.link(link, deviceName, existing, options)
    if (!linked) return this.me ?? { email: identity.email, displayName: identity.displayName }
    void this.history.requestPersistence()
    await this.#sessions.start(identity)
    return this.me as Me
  }

  // ── plumbing ──────────────────────────────────────────────────────────────

  /** Loads the trust store (unreadable data is reported and left alone: calls then work without pinning). */
  async #loadTrust (): Promise<void> {
    try {
      await this.trust.load()
    } catch (err) {
      this.#error(err)
    }
    this.#sessions.watchTrust()
  }

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

  #changed (kind: HistoryChangeKind, peer?: string): void {
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
}

/** An abort, or several keys claiming the address (the user picks one and retries): neither is a failed call. */
function isChoiceNeeded (err: unknown): boolean {
  const name = (err as Error | undefined)?.name
  return name === 'AbortError' || name === 'ConflictingClaimsError'
}

/** `createServices()` makes the app's one AppServices; `start()` it before use. */
export function createServices (init: ServicesInit = {}): AppServices {
  return new AppServices(init)
}
