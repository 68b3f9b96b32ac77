/**
 * The session lifecycle behind AppServices: with an identity, this device's
 * overlay and phone; without one, a "probe" overlay that only tells whether
 * the network works.
 *
 *   start(identity) ─▶ overlay.start() → phone.start()
 *                      → overlay.publish() once online (then the overlay republishes by itself)
 *   startProbe()    ─▶ an overlay without identity (status only)
 *   a restart (new identity, settings, trusted CAs) stops the old parts first
 *
 * Every start and stop goes through one serial queue (`run()`): settings saved
 * twice quickly must not leave two nodes running.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { DeviceRevokedError, fromBase64Url, toBase64Url } from '../../identity/index.ts'
import type { IdentityStore, StoredIdentity, TrustStore } from '../../identity/index.ts'
import { LOOKUP_TIMEOUT_MS, overlay as createOverlay } from '../../overlay/index.ts'
import type { Overlay, OverlayStatus } from '../../overlay/index.ts'
import { idbStorage } from '../../store/index.ts'
import type { HistoryStore } from '../../store/history-api.ts'
import { phone as createPhone } from '../../sip/index.ts'
import type { Call, IncomingMessage, Phone } from '../../sip/api.ts'
import { anySignal, serialQueue, sleep } from '../../util/async.ts'
import { logger } from '../../util/logger.ts'
import {
  CONFIG_FETCH_TIMEOUT_MS, DEVICE_KEY_STORAGE_KEY, DEVICE_NAME, PUBLISH_RETRY_MAX_MS, ROSTER_STORAGE_KEY,
  SETTING_LAST_SERVER_SUPERNODES, SETTING_SUPERNODES
} from './constants.ts'
import type { KeyWatch } from './trust.ts'
import type { AppStatus, Me, UserSettings } from './types.ts'

const log = logger('pwa:session')

/** One running identity: its overlay and, once started, its phone. */
export interface Session {
  identity: StoredIdentity
  overlay: Overlay
  phone?: Phone
  controller: AbortController
  publishedUntil: number
}

/** What the session needs from AppServices (storage, settings, and where to report). */
export interface SessionHooks {
  identities: IdentityStore
  trust: TrustStore
  keys: KeyWatch
  history: () => HistoryStore
  settings: () => Promise<UserSettings>
  /** where config.json is (default: next to the page) */
  configUrl?: string
  getUserMedia?: (constraints: MediaStreamConstraints) => Promise<MediaStream>
  webrtc?: boolean
  deviceName?: string
  setStatus: (patch: Partial<AppStatus>) => void
  error: (err: unknown) => void
  /** the identity's linked devices changed */
  devicesChanged: () => void
  /** the phone has a new call (in or out) */
  call: (call: Call, direction: 'incoming' | 'outgoing') => void
  message: (m: IncomingMessage) => void
  /** the session (or probe) changed: `me` is who this device is now */
  changed: (me: Me | undefined, started: boolean) => void
}

export class Sessions {
  readonly #hooks: SessionHooks
  readonly #queue = serialQueue()
  /** the newest device roster seen per address, kept across restarts (revoked devices stay refused) */
  readonly #rosterStorage = idbStorage({ key: ROSTER_STORAGE_KEY })
  #session?: Session
  #probe?: Overlay
  #me?: Me
  /** the trusted CA keys the running session was started with (sorted, joined), to restart only when they change */
  #sessionRoots = ''
  #deviceKey?: Promise<PrivateKey>

  constructor (hooks: SessionHooks) {
    this.#hooks = hooks
  }

  get current (): Session | undefined { return this.#session }
  get probe (): Overlay | undefined { return this.#probe }
  get me (): Me | undefined { return this.#me }

  /** Runs `fn` after every start and stop queued before it. */
  async run (fn: () => Promise<void>): Promise<void> { await this.#queue.run(fn) }

  /** Settles once every queued start and stop has run. */
  async settled (): Promise<void> { await this.#queue.idle() }

  /** (Re)starts the session with `identity`, queued. */
  async start (identity: StoredIdentity): Promise<void> { await this.run(async () => { await this.#startSession(identity) }) }

  /** Starts the probe overlay (no identity), queued. */
  async startProbe (): Promise<void> { await this.run(async () => { await this.#startProbe() }) }

  async stop (): Promise<void> {
    await this.run(async () => {
      await this.#stopProbe()
      await this.#stopSession()
    })
  }

  /**
   * Restarts the session when the trusted CAs change, so lookups and hellos
   * use the new list (restarting hangs up calls: only when the set of trusted
   * root keys really changed).
   */
  watchTrust (): void {
    this.#hooks.trust.addEventListener('trust:change', e => {
      if (e.detail.kind === 'pin') return
      const identity = this.#session?.identity
      if (identity === undefined || this.#rootSet() === this.#sessionRoots) return
      this.#sessionRoots = this.#rootSet()
      this.start(identity).catch(err => { this.#hooks.error(err) })
    })
  }

  async #startSession (identity: StoredIdentity): Promise<void> {
    const hooks = this.#hooks
    await this.#stopProbe()
    await this.#stopSession()
    const settings = await hooks.settings()
    const me: Me = { email: identity.email, displayName: settings.displayName !== '' ? settings.displayName : identity.displayName }
    this.#me = me
    const [bootstrap, privateKey] = await Promise.all([this.#bootstrap(), this.#loadDeviceKey()])
    const iceServers = settings.iceServers.map(s => ({ ...s }))
    // a user-trusted CA vouches for addresses; self-issued certificates stay accepted (shown as not CA-verified)
    const trustedRoots = hooks.trust.loaded ? hooks.trust.trustedRootKeys() : []
    this.#sessionRoots = this.#rootSet()
    const overlay = createOverlay({ bootstrap, identity, identityStore: hooks.identities, rosterStorage: this.#rosterStorage, privateKey, deviceName: hooks.deviceName ?? DEVICE_NAME, iceServers, recordOptions: { certificate: { trustedRoots } }, ...(hooks.trust.loaded ? { trust: hooks.trust } : {}), ...(hooks.webrtc === false ? { webrtc: false } : {}) })
    const session: Session = { identity, overlay, controller: new AbortController(), publishedUntil: 0 }
    this.#session = session
    this.#attachOverlay(overlay, session)
    try {
      await overlay.start()
      const trust = hooks.trust.loaded ? { trust: hooks.trust } : {}
      const phone = createPhone({ identity, displayName: me.displayName, iceServers, verifyOptions: { trustedRoots }, ...trust }, {
        overlay,
        media: { getUserMedia: hooks.getUserMedia ?? (async constraints => await navigator.mediaDevices.getUserMedia(constraints)) }
      })
      this.#attachPhone(phone)
      hooks.keys.watchPhone(phone)
      await phone.start()
      session.phone = phone
    } catch (err) {
      // the UI stays usable (settings, history) and says what is wrong
      log.error('session start failed: %s', (err as Error).message)
      hooks.error(err)
    }
    hooks.changed(me, true)
    this.#keepPublished(session).catch(err => { log.error('publish loop: %s', (err as Error).message) })
  }

  #rootSet (): string {
    const trust = this.#hooks.trust
    return trust.loaded ? trust.trustedCas().map(c => c.key).sort().join(',') : ''
  }

  async #stopSession (): Promise<void> {
    const s = this.#session
    if (s === undefined) return
    this.#session = undefined
    s.controller.abort()
    await s.phone?.stop().catch(err => { log.error('phone stop: %s', (err as Error).message) })
    await s.overlay.stop().catch(err => { log.error('overlay stop: %s', (err as Error).message) })
    this.#hooks.setStatus({ connected: false, supernodes: 0, reachable: false })
  }

  /** Before onboarding: an overlay without identity, so the status line already tells whether the network works. */
  async #startProbe (): Promise<void> {
    const hooks = this.#hooks
    await this.#stopProbe()
    const [bootstrap, privateKey] = await Promise.all([this.#bootstrap(), this.#loadDeviceKey()])
    const probe = createOverlay({ bootstrap, privateKey, deviceName: hooks.deviceName ?? DEVICE_NAME, ...(hooks.webrtc === false ? { webrtc: false } : {}) })
    this.#probe = probe
    this.#attachOverlay(probe)
    try {
      await probe.start()
    } catch (err) {
      hooks.error(err)
    }
    hooks.changed(this.#me, false)
  }

  async #stopProbe (): Promise<void> {
    const p = this.#probe
    if (p === undefined) return
    this.#probe = undefined
    await p.stop().catch(err => { log.error('probe stop: %s', (err as Error).message) })
    this.#hooks.setStatus({ connected: false, supernodes: 0, reachable: false })
  }

  #attachOverlay (overlay: Overlay, session?: Session): void {
    const hooks = this.#hooks
    const current = (): boolean => (session !== undefined ? this.#session === session : this.#probe === overlay)
    overlay.addEventListener('status:change', evt => {
      if (!current()) return
      const s: OverlayStatus = evt.detail
      hooks.setStatus({ connected: s.online, supernodes: s.supernodes, reachable: s.online && (session?.publishedUntil ?? 0) > Date.now() })
    })
    if (session === undefined) return
    // linked devices: the roster changed (paired, revoked), or this device was revoked
    overlay.addEventListener('devices:change', () => { if (current()) hooks.devicesChanged() })
    overlay.addEventListener('device:revoked', evt => {
      if (!current()) return
      hooks.devicesChanged()
      hooks.error(new DeviceRevokedError(`This browser was removed from ${evt.detail.aor} on another device`))
    })
    overlay.addEventListener('record:published', evt => {
      if (!current()) return
      // the first record often goes out before a relay reservation gives this
      // device an address; callers can only reach it once the record lists one
      // (the overlay republishes when addresses change)
      const self = evt.detail.devices.find(d => d.peerId === overlay.peerId)
      session.publishedUntil = self !== undefined && self.addrs.length > 0 ? evt.detail.expiresAt : 0
      hooks.setStatus({ reachable: overlay.status.online && session.publishedUntil > Date.now() })
    })
  }

  #attachPhone (phone: Phone): void {
    const hooks = this.#hooks
    phone.addEventListener('call:incoming', evt => { hooks.call(evt.detail, 'incoming') })
    phone.addEventListener('call:outgoing', evt => { hooks.call(evt.detail, 'outgoing') })
    phone.addEventListener('message:incoming', evt => { hooks.message(evt.detail) })
  }

  /** Publishes once online; after the first success the overlay keeps the record fresh itself. */
  async #keepPublished (s: Session): Promise<void> {
    const signal = s.controller.signal
    let delay = 500
    while (!signal.aborted) {
      try {
        await s.overlay.waitOnline({ signal })
        await s.overlay.publish({ signal: anySignal(signal, AbortSignal.timeout(LOOKUP_TIMEOUT_MS)) })
        return
      } catch (err) {
        if (signal.aborted) return
        log('publish failed, retrying in %d ms: %s', delay, (err as Error).message)
        await sleep(delay, { signal })
        delay = Math.min(delay * 2, PUBLISH_RETRY_MAX_MS)
      }
    }
  }

  /** The user's supernodes, else the server's (remembered for offline starts), else the last remembered ones. */
  async #bootstrap (): Promise<string[]> {
    const h = this.#hooks.history()
    const mine = await h.getSetting<string[]>(SETTING_SUPERNODES, [])
    if (mine.length > 0) return mine
    try {
      const res = await fetch(this.#hooks.configUrl ?? 'config.json', { cache: 'no-store', signal: AbortSignal.timeout(CONFIG_FETCH_TIMEOUT_MS) })
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
}
