/**
 * The SIP streams (`/peerline/sip/1.0.0`) to other devices: accepting them,
 * dialling them (relay first, then a WebRTC upgrade in the background),
 * closing idle ones, and the addresses and location records that dialling
 * uses.
 *
 * ```ts
 * const links = sipLinks({ identity }, { overlay, onMessage, onClose })
 * await links.start()
 * const link = await links.get(peerId, { signal })
 * ```
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { StoredIdentity } from '../identity/index.ts'
import type { LocationRecord, Overlay } from '../overlay/index.ts'
import { anySignal, raceSignal } from '../util/async.ts'
import { logger } from '../util/logger.ts'
import { MAX_SIP_MESSAGE_BYTES, SIP_DIAL_TIMEOUT_MS, SIP_KEEPALIVE_INTERVAL_MS, SIP_LINK_IDLE_MS, SIP_PROTOCOL, SIP_STALE_CONNECTION_MS } from './constants.ts'
import { CallFailedError } from './errors.ts'
import { encodeHello } from './hello.ts'
import type { HelloVerifyOptions } from './hello.ts'
import { SipLink } from './link.ts'
import { trim } from './routing.ts'

// the transport's scope still: PEERLINE_DEBUG=sip:transport shows the whole proxy
const log = logger('sip:transport')

/** How long a location record found by prepare() is reused for the request that follows. */
export const ROUTE_TTL_MS = 30_000

/** Bound on a background WebRTC dial after a relayed one (the baseline benchmark saw ~6 s of ICE on a cold path). */
const WEBRTC_UPGRADE_TIMEOUT_MS = 20_000

export interface SipLinksInit {
  identity: StoredIdentity
  verifyOptions?: HelloVerifyOptions
  maxMessageBytes?: number
  keepaliveIntervalMs?: number
  dialTimeoutMs?: number
  linkIdleMs?: number
  /** peers with a call in progress: their streams stay open however quiet */
  busyPeers?: () => Iterable<string>
}

export interface SipLinksComponents {
  overlay: Overlay
  /** a message arrived on a stream */
  onMessage: (message: Uint8Array, link: SipLink) => void
  /** a stream closed (it is no longer among the open ones) */
  onClose: (link: SipLink) => void
}

export class SipLinks {
  private readonly init: SipLinksInit
  private readonly components: SipLinksComponents
  private started = false
  private shutdown = new AbortController()
  private readonly links = new Map<string, SipLink[]>()
  private readonly dialing = new Map<string, Promise<SipLink>>()
  /** devices whose WebRTC addresses are being dialled in the background (see upgrade) */
  private readonly upgrading = new Set<string>()
  private readonly knownAddrs = new Map<string, string[]>()
  private readonly routes = new Map<string, { record: LocationRecord, at: number }>()

  constructor (init: SipLinksInit, components: SipLinksComponents) {
    this.init = init
    this.components = components
  }

  private get overlay (): Overlay { return this.components.overlay }

  private get peerId (): string { return this.overlay.peerId }

  async start (): Promise<void> {
    if (this.started) return
    this.shutdown = new AbortController()
    await this.overlay.node.handle(SIP_PROTOCOL, (stream: Stream, connection: Connection) => {
      try {
        this.add(stream, connection.remotePeer.toString())
      } catch (err) {
        log.error('accepting a SIP stream failed: %s', (err as Error).message)
        stream.abort(err as Error)
      }
    }, { runOnLimitedConnection: true })
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.shutdown.abort()
    await this.overlay.node.unhandle(SIP_PROTOCOL).catch(() => {})
    const all = [...this.links.values()].flat()
    this.links.clear()
    await Promise.all(all.map(async l => l.close().catch(() => {})))
  }

  /**
   * A SIP stream to `peerId`: an open one, or a new one over an existing
   * connection or the addresses of the last location record listing it.
   */
  async get (peerId: string, options: { signal?: AbortSignal } = {}): Promise<SipLink> {
    const existing = this.best(peerId)
    if (existing != null) return existing
    let pending = this.dialing.get(peerId)
    if (pending == null) {
      pending = this.dial(peerId).finally(() => { this.dialing.delete(peerId) })
      this.dialing.set(peerId, pending)
    }
    return await raceSignal(pending, options.signal)
  }

  /**
   * A SIP stream to a device whose stream closed mid-transaction: an open one
   * (the device may have dialled us meanwhile), else the device at the
   * addresses its location record lists now (looked up again: a device whose
   * relay died republishes with another relay's address).
   * @throws CallFailedError | AbortError
   */
  async redial (peerId: string, aor: string, options: { signal: AbortSignal }): Promise<SipLink> {
    const open = this.best(peerId)
    if (open != null) return open
    try {
      const record = await this.overlay.lookup(aor, { signal: anySignal(options.signal, this.shutdown.signal) })
      this.remember(record)
      if (!record.devices.some(d => d.peerId === peerId)) throw new CallFailedError(`${aor} no longer lists device ${peerId}`)
    } catch (err) {
      if (options.signal.aborted || (err as Error).name === 'CallFailedError') throw err
      // the known addresses may still do
      log('looking %s up again failed: %s', aor, (err as Error).message)
    }
    return await this.get(peerId, options)
  }

  /** The newest open stream to `peerId`. */
  best (peerId: string): SipLink | undefined {
    const list = this.links.get(peerId)
    if (list == null) return undefined
    for (let i = list.length - 1; i >= 0; i--) {
      const l = list[i] as SipLink
      if (l.open) return l
    }
    return undefined
  }

  /** Open SIP streams to `peerId`, or to anyone. */
  count (peerId?: string): number {
    if (peerId != null) return (this.links.get(peerId) ?? []).filter(l => l.open).length
    return [...this.links.values()].flat().filter(l => l.open).length
  }

  /** Keeps a location record's addresses for dialling and the record itself for `route()`. */
  remember (record: LocationRecord): void {
    for (const d of record.devices) {
      if (d.peerId === this.peerId) continue
      this.knownAddrs.delete(d.peerId)
      this.knownAddrs.set(d.peerId, d.addrs)
    }
    trim(this.knownAddrs)
    this.routes.set(record.aor, { record, at: Date.now() })
    trim(this.routes)
  }

  /** The location record of `aor` remembered within ROUTE_TTL_MS, if any. */
  route (aor: string): LocationRecord | undefined {
    const route = this.routes.get(aor)
    if (route == null || Date.now() - route.at > ROUTE_TTL_MS) return undefined
    return route.record
  }

  /** Forgets stale routes and closes streams idle longer than `linkIdleMs` (unless their peer is busy). */
  sweep (now = Date.now()): void {
    for (const [k, r] of this.routes) if (now - r.at > ROUTE_TTL_MS) this.routes.delete(k)
    const busy = new Set(this.init.busyPeers?.() ?? [])
    const idle = this.init.linkIdleMs ?? SIP_LINK_IDLE_MS
    for (const list of this.links.values()) {
      for (const link of list) {
        if (!busy.has(link.remotePeer) && now - link.lastActivity > idle) {
          log('closing idle SIP stream to %s', link.remotePeer)
          link.close().catch(() => {})
        }
      }
    }
  }

  private async dial (peerId: string): Promise<SipLink> {
    if (!this.started) throw new CallFailedError('The SIP transport is stopped')
    if (peerId === this.peerId) throw new CallFailedError('Not dialling this device itself')
    let pid: PeerId
    try {
      pid = peerIdFromString(peerId)
    } catch {
      throw new CallFailedError(`"${peerId.slice(0, 60)}" is not a peer id`)
    }
    const node = this.overlay.node
    const signal = anySignal(AbortSignal.timeout(this.init.dialTimeoutMs ?? SIP_DIAL_TIMEOUT_MS), this.shutdown.signal)
    try {
      // An open connection is used as it is, relayed or not: asking libp2p to
      // dial again makes it try a fresh relayed connection next to a limited
      // one, which the callee refuses as a duplicate (and counts against the
      // relay's per-host inbound limit).
      const existing = node.getConnections(pid)
        .filter(c => c.status === 'open')
        .sort((a, b) => Number(a.limits != null) - Number(b.limits != null))
      // A connection that looks open can be dead: the other side reloaded its
      // page or lost its network, and its WebRTC connection has not timed out
      // here yet. It gets a short while to open a stream; then it is dropped
      // and the device is dialled afresh through its relay.
      for (const connection of existing) {
        const attempt = anySignal(signal, AbortSignal.timeout(SIP_STALE_CONNECTION_MS))
        try {
          const stream = await connection.newStream(SIP_PROTOCOL, { signal: attempt, runOnLimitedConnection: true })
          return this.add(stream, peerId)
        } catch (err) {
          if (signal.aborted) throw err
          log('no SIP stream over the open connection to %s (%s): closing it', peerId, (err as Error).message)
          connection.abort(new CallFailedError(`The connection to ${peerId} opened no SIP stream`))
        }
      }
      const addrs = (this.knownAddrs.get(peerId) ?? []).flatMap(a => {
        try {
          return [multiaddr(a)]
        } catch {
          return []
        }
      })
      // Relay addresses first (DESIGN.md: relay first, upgrading to direct
      // WebRTC): a relayed connection is up in one round trip through the
      // supernode, while a WebRTC dial on a cold path can spend seconds in ICE
      // (the baseline benchmark measured ~6 s for a first call). SIP needs only
      // the signalling path; media has its own RTCPeerConnection.
      const relayed = addrs.filter(a => !a.toString().includes('/webrtc'))
      const direct = addrs.filter(a => a.toString().includes('/webrtc'))
      let connection: Connection
      try {
        const target: PeerId | Multiaddr[] = relayed.length > 0 ? relayed : addrs.length > 0 ? addrs : pid
        connection = await node.dial(target, { signal })
      } catch (err) {
        if (signal.aborted || relayed.length === 0 || direct.length === 0) throw err
        log('relayed dial to %s failed (%s): trying its WebRTC addresses', peerId, (err as Error).message)
        connection = await node.dial(direct, { signal })
      }
      const remote = connection.remotePeer.toString()
      if (remote !== peerId) throw new CallFailedError(`Dialled ${peerId} but reached ${remote}`)
      const stream = await connection.newStream(SIP_PROTOCOL, { signal, runOnLimitedConnection: true })
      const link = this.add(stream, remote)
      if (connection.limits != null && direct.length > 0) this.upgrade(pid, direct)
      return link
    } catch (err) {
      if (signal.aborted && !this.shutdown.signal.aborted) {
        throw new CallFailedError(`Device ${peerId} did not answer within ${this.init.dialTimeoutMs ?? SIP_DIAL_TIMEOUT_MS} ms`)
      }
      if ((err as Error).name === 'CallFailedError') throw err
      throw new CallFailedError(`Device ${peerId} could not be reached: ${(err as Error).message}`)
    }
  }

  /**
   * Dials a device's WebRTC addresses in the background once a relayed
   * connection carries its SIP stream. That stream stays where it is; later
   * streams prefer the direct connection (see dial), which also outlives the
   * relay.
   */
  private upgrade (pid: PeerId, direct: Multiaddr[]): void {
    const peerId = pid.toString()
    if (this.upgrading.has(peerId)) return
    this.upgrading.add(peerId)
    const signal = anySignal(AbortSignal.timeout(WEBRTC_UPGRADE_TIMEOUT_MS), this.shutdown.signal)
    this.overlay.node.dial(direct, { signal })
      .then(c => { log('direct connection to %s: %s', peerId, c.remoteAddr.toString()) })
      .catch((err: Error) => { log('no direct connection to %s (staying relayed): %s', peerId, err.message) })
      .finally(() => { this.upgrading.delete(peerId) })
  }

  private add (stream: Stream, remotePeer: string): SipLink {
    const device = this.overlay.deviceEntry()
    const link = new SipLink({
      stream,
      remotePeer,
      hello: encodeHello({ identityCertificate: this.init.identity.certificate, deviceCertificate: device.certificate }),
      ...(this.init.verifyOptions != null ? { verifyOptions: this.init.verifyOptions } : {}),
      maxMessageBytes: this.init.maxMessageBytes ?? MAX_SIP_MESSAGE_BYTES,
      keepaliveIntervalMs: this.init.keepaliveIntervalMs ?? SIP_KEEPALIVE_INTERVAL_MS,
      onMessage: (message, l) => { this.components.onMessage(message, l) },
      onClose: (l, err) => { this.closed(l, err) }
    })
    const list = this.links.get(remotePeer) ?? []
    list.push(link)
    this.links.set(remotePeer, list)
    log('SIP stream %s %s', link.direction === 'inbound' ? 'from' : 'to', remotePeer)
    return link
  }

  private closed (link: SipLink, err?: Error): void {
    const list = (this.links.get(link.remotePeer) ?? []).filter(l => l !== link)
    if (list.length > 0) this.links.set(link.remotePeer, list)
    else this.links.delete(link.remotePeer)
    if (err != null) log('SIP stream with %s closed: %s', link.remotePeer, err.message)
    this.components.onClose(link)
  }
}

/** @example const links = sipLinks({ identity }, { overlay, onMessage, onClose }) */
export function sipLinks (init: SipLinksInit, components: SipLinksComponents): SipLinks {
  return new SipLinks(init, components)
}
