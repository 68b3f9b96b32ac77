/**
 * The overlay: a device's view of Peerline's DHT location service.
 *
 * ```ts
 * const o = overlay({ bootstrap: ['/ip4/127.0.0.1/tcp/9001/ws/p2p/12D3…'], identity })
 * await o.start()
 * await o.publish()                        // "alice@example.org is here"
 * const rec = await o.lookup('bob@example.org', { signal })
 * ```
 */
import { TypedEventEmitter } from 'main-event'
import { identityKeyPair, issueDeviceCertificate, normalizeAor } from '../identity/index.ts'
import type { DeviceCertificate, StoredIdentity } from '../identity/index.ts'
import type { PrivateKey } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'
import { logger } from '../util/logger.ts'
import { SupernodeConnector } from './connector.ts'
import { LOOKUP_TIMEOUT_MS, RECORD_TTL_MS, REPUBLISH_BEFORE_EXPIRY_MS } from './constants.ts'
import { NotFoundError, OfflineError, StaleRecordError } from './errors.ts'
import { createOverlayNode } from './node.ts'
import type { OverlayLibp2p } from './node.ts'
import { createLocationRecord, encodeLocationRecord, isNewer, locationKey, validateLocationRecord } from './record.ts'
import type { DeviceEntry, LocationRecord, ValidateRecordOptions } from './record.ts'

const log = logger('overlay')

export interface OverlayStatus {
  online: boolean
  supernodes: number
}

export interface OverlayEvents {
  'status:change': CustomEvent<OverlayStatus>
  'record:published': CustomEvent<LocationRecord>
  'publish:error': CustomEvent<Error>
}

export interface OverlayInit {
  /** supernode multiaddrs, each ending in /p2p/<peer id> */
  bootstrap: string[]
  identity?: StoredIdentity
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
  /** keep loopback/private addresses (tests, `npm start`); default true */
  allowPrivateAddresses?: boolean
  /** reconnect back-off overrides (tests) */
  reconnect?: { initialDelayMs?: number, maxDelayMs?: number, target?: number }
}

export interface OverlayComponents {
  node?: OverlayLibp2p
}

export interface AbortOptions { signal?: AbortSignal }

export class Overlay extends TypedEventEmitter<OverlayEvents> {
  node!: OverlayLibp2p
  private readonly init: OverlayInit
  private readonly components: OverlayComponents
  private connector?: SupernodeConnector
  private shutdown = new AbortController()
  private republishTimer?: ReturnType<typeof setTimeout>
  private addrTimer?: ReturnType<typeof setTimeout>
  private lastSeq = 0
  private published?: LocationRecord
  private deviceCert?: DeviceCertificate
  /** highest seq seen per AOR: an older record presented later is a replay */
  private readonly seen = new Map<string, number>()
  /** why the DHT validator refused records, per key, during lookups */
  private readonly rejections = new Map<string, Error>()
  private lastStatus: OverlayStatus = { online: false, supernodes: 0 }

  constructor (init: OverlayInit, components: OverlayComponents = {}) {
    super()
    this.init = init
    this.components = components
  }

  get status (): OverlayStatus { return this.lastStatus }
  get peerId (): string { return this.node.peerId.toString() }

  async start (): Promise<void> {
    this.shutdown = new AbortController()
    this.node = this.components.node ?? await createOverlayNode({
      mode: 'client',
      ...(this.init.privateKey != null ? { privateKey: this.init.privateKey } : {}),
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
    this.connector?.stop()
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
    const identity = this.requireIdentity()
    if (this.deviceCert == null || this.deviceCert.notAfter - Date.now() < RECORD_TTL_MS * 2) {
      this.deviceCert = this.init.deviceCertificate ?? issueDeviceCertificate({
        identity: identityKeyPair(identity),
        peerId: this.peerId,
        name: this.init.deviceName ?? 'device'
      })
    }
    const addrs = this.node.getMultiaddrs().map(a => a.toString())
      // relay addresses first: they work from anywhere; direct ones are a bonus
      .sort((a, b) => Number(!a.includes('/p2p-circuit')) - Number(!b.includes('/p2p-circuit')))
    return { peerId: this.peerId, certificate: this.deviceCert, addrs }
  }

  /**
   * Signs and stores this device's location record in the DHT, and keeps it
   * fresh: republished before it expires and whenever the addresses change.
   */
  async publish (options: AbortOptions = {}): Promise<LocationRecord> {
    const identity = this.requireIdentity()
    if (!this.lastStatus.online) throw new OfflineError('Cannot publish: not connected to any supernode')
    const seq = Math.max(this.lastSeq + 1, Date.now())
    this.lastSeq = seq
    const record = createLocationRecord({
      identity: identityKeyPair(identity),
      certificate: identity.certificate,
      devices: [this.deviceEntry()],
      seq,
      ...(this.init.ttlMs != null ? { ttlMs: this.init.ttlMs } : {})
    })
    const signal = anySignal(options.signal ?? AbortSignal.timeout(LOOKUP_TIMEOUT_MS), this.shutdown.signal)
    let stored = 0
    let lastError: Error | undefined
    for await (const event of this.node.services.dht.put(locationKey(record.aor), encodeLocationRecord(record), { signal })) {
      if (event.name === 'PEER_RESPONSE') stored++
      if (event.name === 'QUERY_ERROR') lastError = event.error
    }
    if (stored === 0) throw lastError ?? new OfflineError('No supernode accepted the location record')
    this.published = record
    this.seen.set(record.aor, Math.max(this.seen.get(record.aor) ?? 0, record.seq))
    log('published %s seq %d to %d supernodes', record.aor, seq, stored)
    this.scheduleRepublish(record)
    this.safeDispatch('record:published', record)
    return record
  }

  /**
   * Finds where an address can be reached. Throws NotFoundError when nobody
   * published it, OfflineError when no supernode is connected, or the error
   * naming the rule a found record broke (RecordExpiredError,
   * BadSignatureError, WrongEmailError, StaleRecordError, …).
   */
  async lookup (address: string, options: AbortOptions = {}): Promise<LocationRecord> {
    const aor = normalizeAor(address)
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
    const seen = this.seen.get(aor) ?? 0
    if (best.seq < seen) {
      throw new StaleRecordError(`Location record for ${aor} has sequence ${best.seq}, older than ${seen} already seen (replayed?)`)
    }
    this.seen.set(aor, best.seq)
    return best
  }

  private requireIdentity (): StoredIdentity {
    if (this.init.identity == null) throw new Error('This overlay has no identity: set one before publishing')
    return this.init.identity
  }

  private scheduleRepublish (record: LocationRecord): void {
    clearTimeout(this.republishTimer)
    const before = this.init.republishBeforeExpiryMs ?? REPUBLISH_BEFORE_EXPIRY_MS
    const delay = Math.max(1_000, record.expiresAt - Date.now() - before)
    this.republishTimer = setTimeout(() => { this.republish() }, delay)
  }

  private republish (): void {
    if (this.shutdown.signal.aborted || this.init.identity == null) return
    this.publish().catch(err => {
      log('republish failed: %s', (err as Error).message)
      this.safeDispatch('publish:error', err as Error)
      // try again soon: being unreachable is worse than a few extra puts
      clearTimeout(this.republishTimer)
      this.republishTimer = setTimeout(() => { this.republish() }, 5_000)
    })
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
    if (supernodes > 0 && this.published != null && this.published.expiresAt < Date.now()) this.republish()
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

function anySignal (...signals: Array<AbortSignal | undefined>): AbortSignal {
  return AbortSignal.any(signals.filter((s): s is AbortSignal => s != null))
}
