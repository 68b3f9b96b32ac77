/**
 * SIP over libp2p streams: JsSIP's Socket, implemented as a small local
 * P2P-SIP proxy (RFC 3261 §16) in front of the overlay.
 *
 *   JsSIP UA ──send()──▶ SipTransport ──frames──▶ SipLink (stream /peerline/sip/1.0.0) ──▶ device
 *            ◀─ondata()─              ◀──────────                                     ◀──
 *
 * Routing of what JsSIP sends:
 * - a request to `sip:<peer id>@peerline.invalid` (a device's Contact, so every
 *   in-dialog request) goes to that device's stream, dialled if needed;
 * - a request to an address (`sip:bob@example.org`) is looked up in the DHT and
 *   FORKED to every device in the verified location record. As a stateful
 *   forking proxy it passes provisional responses on, passes the first 2xx and
 *   CANCELs the other branches, ACKs non-2xx finals itself, and when every
 *   branch failed passes the best final response (RFC 3261 §16.7);
 * - a response goes back on the stream its request came from.
 * Messages from streams are handed to JsSIP, each request's sender remembered
 * with what its stream's identity hello proved (see hello.ts).
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { normalizeAor } from '../identity/index.ts'
import type { StoredIdentity } from '../identity/index.ts'
import { NotFoundError, ROSTER_CHECK_TTL_MS } from '../overlay/index.ts'
import type { DeviceStanding, LocationRecord, Overlay } from '../overlay/index.ts'
import { backoff } from '../util/backoff.ts'
import { logger } from '../util/logger.ts'
import {
  DEVICE_DOMAIN, DEVICE_REVOKED_PHRASE, MAX_SIP_MESSAGE_BYTES, MAX_TRACKED_ENTRIES, MESSAGE_SETTLE_MS, PROXY_TIMER_C_MS, PROXY_TIMER_F_MS,
  SERVER_TRANSACTION_IDLE_MS, SIP_DIAL_TIMEOUT_MS, SIP_KEEPALIVE_INTERVAL_MS, SIP_LINK_IDLE_MS, SIP_PROTOCOL,
  TRANSACTION_LINGER_MS
} from './constants.ts'
import { CallFailedError } from './errors.ts'
import { encodeHello } from './hello.ts'
import type { HelloVerifyOptions, PeerVerification } from './hello.ts'
import { SipLink } from './link.ts'
import {
  buildAckAndBye, buildCancel, buildNon2xxAck, buildResponse, getHeader, parseSipMessage, sipUriParts
} from './message.ts'
import type { SipMessage } from './message.ts'

const log = logger('sip:transport')

/** How long a location record found by prepare() is reused for the request that follows. */
const ROUTE_TTL_MS = 30_000

/**
 * How long a ringing INVITE branch whose SIP stream closed (the callee's relay
 * died) is kept while its device is dialled again: RFC 3261 §16.7 lets a proxy
 * keep a branch until Timer C, §18.2.2 lets the answer come back over a new
 * connection. 8 s covers a device re-reserving on another relay and
 * republishing (~4 s in the relay-killed fault drill); it equals one dial
 * attempt (SIP_DIAL_TIMEOUT_MS).
 */
export const RINGING_BRANCH_GRACE_MS = 8_000

/** First pause between re-dials of such a branch, doubling to the cap (DESIGN.md's back-off starts at 0.5 s). */
const REDIAL_INITIAL_MS = 500
/** Longest pause between re-dials within RINGING_BRANCH_GRACE_MS. */
const REDIAL_MAX_MS = 2_000

/** Bound on a background WebRTC dial after a relayed one (the baseline benchmark saw ~6 s of ICE on a cold path). */
const WEBRTC_UPGRADE_TIMEOUT_MS = 20_000

export interface SipTransportInit {
  identity: StoredIdentity
  verifyOptions?: HelloVerifyOptions
  maxMessageBytes?: number
  keepaliveIntervalMs?: number
  dialTimeoutMs?: number
  linkIdleMs?: number
  /** peers with a call in progress: their streams stay open however quiet */
  busyPeers?: () => Iterable<string>
}

export interface SipTransportComponents {
  overlay: Overlay
}

/** Who sent a request (or answered one), and what their stream proved. */
export interface RequestOrigin {
  peerId: string
  /** the verification of this request's From address against the stream's hello */
  verification: PeerVerification
  /** the From (for requests) or To (for responses) address as claimed */
  claimedAor?: string
  displayName: string
}

export interface PreparedTarget {
  aor: string
  record: LocationRecord
  /** peer ids of the devices a request to `aor` is forked to (this device excluded) */
  devices: string[]
  /** the first device whose SIP stream opened */
  firstPeer: string
  lookupMs: number
  connectMs: number
}

export interface ForkOutcome {
  /** devices that answered 2xx */
  delivered: number
  /** final status per device peer id (synthetic 480/408 when unreachable) */
  finals: Record<string, number>
  /** the status passed to the UA */
  status?: number
  /** why routing failed, when it did (NotFoundError, OfflineError, …) */
  error?: Error
}

interface ServerTxn { link: SipLink, at: number }

interface StandingGate { state: 'checking' | 'ok' | 'refused', queue: SipMessage[], at: number, rosterSeq?: number | undefined, message?: string }

/** Requests held per stream while its device's roster is looked up; a flood beyond this is dropped. */
const MAX_GATED_MESSAGES = 64

/** A stream's roster verdict is reused this long (same as the overlay's roster cache, ROSTER_CHECK_TTL_MS). */
const STANDING_RECHECK_MS = ROSTER_CHECK_TTL_MS

/** JsSIP's Socket contract (node_modules/jssip/lib/Socket.d.ts), structurally. */
export interface JsSipSocket {
  via_transport: string
  readonly url: string
  readonly sip_uri: string
  connect: () => void
  disconnect: () => void
  send: (message: string | ArrayBufferLike | Blob | ArrayBufferView) => boolean
  isConnected: () => boolean
  isConnecting: () => boolean
  onconnect: () => void
  ondisconnect: (error: boolean, code?: number, reason?: string) => void
  ondata: (data: string) => void
}

export class SipTransport implements JsSipSocket {
  via_transport = 'WS'
  readonly url = `peerline:${SIP_PROTOCOL}`
  readonly sip_uri = `sip:${DEVICE_DOMAIN};transport=ws`
  onconnect: () => void = () => {}
  ondisconnect: (error: boolean, code?: number, reason?: string) => void = () => {}
  ondata: (data: string) => void = () => {}

  readonly aor: string
  private readonly init: SipTransportInit
  private readonly overlay: Overlay
  private connected = false
  private started = false
  private shutdown = new AbortController()
  private sweeper?: ReturnType<typeof setInterval>
  private readonly links = new Map<string, SipLink[]>()
  private readonly dialing = new Map<string, Promise<SipLink>>()
  /** devices whose WebRTC addresses are being dialled in the background (see upgrade) */
  private readonly upgrading = new Set<string>()
  private readonly knownAddrs = new Map<string, string[]>()
  private readonly routes = new Map<string, { record: LocationRecord, at: number }>()
  private readonly serverTxns = new Map<string, ServerTxn>()
  private readonly origins = new Map<string, RequestOrigin & { at: number }>()
  private readonly dialogPeers = new Map<string, { peerId: string, at: number }>()
  private readonly forks = new Map<string, Fork>()
  private readonly ownBranches = new Map<string, number>()
  /** per stream: may the device behind it speak for its identity (device roster), and what waits for the answer */
  private readonly standing = new WeakMap<SipLink, StandingGate>()
  /** INVITEs JsSIP answered 2xx whose ACK has not arrived yet, by Call-ID */
  private readonly awaitingAck = new Map<string, number>()

  constructor (init: SipTransportInit, components: SipTransportComponents) {
    this.init = init
    this.overlay = components.overlay
    this.aor = normalizeAor(init.identity.email)
  }

  get peerId (): string { return this.overlay.peerId }

  /** JsSIP `contact_uri`: requests to it are routed to this device by peer id. */
  get contactUri (): string { return `sip:${this.peerId}@${DEVICE_DOMAIN};transport=ws` }

  // ---- lifecycle ----

  async start (): Promise<void> {
    if (this.started) return
    this.shutdown = new AbortController()
    await this.overlay.node.handle(SIP_PROTOCOL, (stream: Stream, connection: Connection) => {
      try {
        this.addLink(stream, connection.remotePeer.toString())
      } catch (err) {
        log.error('accepting a SIP stream failed: %s', (err as Error).message)
        stream.abort(err as Error)
      }
    }, { runOnLimitedConnection: true })
    this.sweeper = setInterval(() => { this.sweep() }, 30_000)
    ;(this.sweeper as { unref?: () => void }).unref?.()
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.shutdown.abort()
    clearInterval(this.sweeper)
    for (const fork of this.forks.values()) fork.dispose()
    this.forks.clear()
    await this.overlay.node.unhandle(SIP_PROTOCOL).catch(() => {})
    const all = [...this.links.values()].flat()
    this.links.clear()
    await Promise.all(all.map(async l => l.close().catch(() => {})))
  }

  // ---- JsSIP Socket ----

  connect (): void {
    this.connected = true
    // JsSIP binds its callbacks right before calling connect(); tell it on the next tick
    queueMicrotask(() => { this.callJsSip(() => { this.onconnect() }) })
  }

  disconnect (): void {
    if (!this.connected) return
    this.connected = false
    this.callJsSip(() => { this.ondisconnect(false) })
  }

  isConnected (): boolean { return this.connected }
  isConnecting (): boolean { return false }

  send (data: string | ArrayBufferLike | Blob | ArrayBufferView): boolean {
    if (!this.connected || !this.started) return false
    if (typeof data !== 'string') {
      log.error('JsSIP sent a non-string message; dropped')
      return false
    }
    // CRLF keep-alives (RFC 5626) mean nothing here: links have their own
    if (data.trim() === '') return true
    let msg: SipMessage
    try {
      msg = parseSipMessage(data)
    } catch (err) {
      log.error('JsSIP sent a message we cannot parse (%s); dropped', (err as Error).message)
      return false
    }
    try {
      if (msg.type === 'response') this.sendResponse(msg)
      else this.sendRequest(msg)
    } catch (err) {
      log.error('routing %s failed: %s', describe(msg), (err as Error).stack ?? err)
    }
    return true
  }

  // ---- what Phone asks ----

  /**
   * Looks `target` up and opens SIP streams to its devices, resolving once
   * the first one is open (the others keep dialling; the request forked next
   * reaches each as it opens).
   * @throws InvalidAddressError | NotFoundError | OfflineError | record errors | CallFailedError | AbortError
   */
  /** `check` sees the record before any device is dialled and may throw (pinned-key checks). */
  async prepare (target: string, options: { signal?: AbortSignal, check?: (record: LocationRecord) => void, identityKey?: string } = {}): Promise<PreparedTarget> {
    const aor = normalizeAor(target)
    const t0 = Date.now()
    // identityKey: the claim the user chose among conflicting ones (overlay.lookup's option)
    const lookupOptions: { signal?: AbortSignal, identityKey?: string } = { ...(options.signal != null ? { signal: options.signal } : {}), ...(options.identityKey != null ? { identityKey: options.identityKey } : {}) }
    const record = await this.overlay.lookup(aor, lookupOptions)
    const lookupMs = Date.now() - t0
    options.check?.(record)
    this.remember(record)
    const devices = record.devices.map(d => d.peerId).filter(p => p !== this.peerId)
    if (devices.length === 0) throw new NotFoundError(`${aor} has no other device online`)
    const t1 = Date.now()
    let first: SipLink
    try {
      first = await Promise.any(devices.map(async p => this.getLink(p, options)))
    } catch (err) {
      options.signal?.throwIfAborted()
      const reasons = err instanceof AggregateError ? err.errors.map(e => (e as Error).message) : [(err as Error).message]
      throw new CallFailedError(`None of the ${devices.length} device(s) of ${aor} could be reached (${[...new Set(reasons)].join('; ')})`)
    }
    return { aor, record, devices, firstPeer: first.remotePeer, lookupMs, connectMs: Date.now() - t1 }
  }

  /** Who sent the latest request with this Call-ID. */
  origin (callId: string): RequestOrigin | undefined {
    return this.origins.get(callId)
  }

  /** The forking context of a request JsSIP sent to an address, by Call-ID and method. */
  forkOutcome (callId: string, method: string): Promise<ForkOutcome> | undefined {
    for (const fork of this.forks.values()) {
      if (fork.request.callId === callId && fork.request.method === method) return fork.done
    }
    return undefined
  }

  /** Open SIP streams per peer id (for tests and diagnostics). */
  linkCount (peerId?: string): number {
    if (peerId != null) return (this.links.get(peerId) ?? []).filter(l => l.open).length
    return [...this.links.values()].flat().filter(l => l.open).length
  }

  /** The verification of the newest open stream to `peerId`, if any. */
  peerVerification (peerId: string): PeerVerification | undefined {
    return this.bestLink(peerId)?.verification
  }

  /**
   * A SIP stream to `peerId`: an open one, or a new one over an existing
   * connection or the addresses of the last location record listing it.
   */
  async getLink (peerId: string, options: { signal?: AbortSignal } = {}): Promise<SipLink> {
    const existing = this.bestLink(peerId)
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
    const open = this.bestLink(peerId)
    if (open != null) return open
    try {
      const record = await this.overlay.lookup(aor, { signal: AbortSignal.any([options.signal, this.shutdown.signal]) })
      this.remember(record)
      if (!record.devices.some(d => d.peerId === peerId)) throw new CallFailedError(`${aor} no longer lists device ${peerId}`)
    } catch (err) {
      if (options.signal.aborted || (err as Error).name === 'CallFailedError') throw err
      // the known addresses may still do
      log('looking %s up again failed: %s', aor, (err as Error).message)
    }
    return await this.getLink(peerId, options)
  }

  // ---- internals: streams ----

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
    const signal = AbortSignal.any([AbortSignal.timeout(this.init.dialTimeoutMs ?? SIP_DIAL_TIMEOUT_MS), this.shutdown.signal])
    try {
      // An open connection is used as it is, relayed or not: asking libp2p to
      // dial again makes it try a fresh relayed connection next to a limited
      // one, which the callee refuses as a duplicate (and counts against the
      // relay's per-host inbound limit).
      const existing = node.getConnections(pid)
        .filter(c => c.status === 'open')
        .sort((a, b) => Number(a.limits != null) - Number(b.limits != null))
      for (const connection of existing) {
        try {
          const stream = await connection.newStream(SIP_PROTOCOL, { signal, runOnLimitedConnection: true })
          return this.addLink(stream, peerId)
        } catch (err) {
          if (signal.aborted) throw err
          log('no SIP stream over the open connection to %s: %s', peerId, (err as Error).message)
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
      const link = this.addLink(stream, remote)
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
    const signal = AbortSignal.any([AbortSignal.timeout(WEBRTC_UPGRADE_TIMEOUT_MS), this.shutdown.signal])
    this.overlay.node.dial(direct, { signal })
      .then(c => { log('direct connection to %s: %s', peerId, c.remoteAddr.toString()) })
      .catch((err: Error) => { log('no direct connection to %s (staying relayed): %s', peerId, err.message) })
      .finally(() => { this.upgrading.delete(peerId) })
  }

  private addLink (stream: Stream, remotePeer: string): SipLink {
    const device = this.overlay.deviceEntry()
    const link = new SipLink({
      stream,
      remotePeer,
      hello: encodeHello({ identityCertificate: this.init.identity.certificate, deviceCertificate: device.certificate }),
      ...(this.init.verifyOptions != null ? { verifyOptions: this.init.verifyOptions } : {}),
      maxMessageBytes: this.init.maxMessageBytes ?? MAX_SIP_MESSAGE_BYTES,
      keepaliveIntervalMs: this.init.keepaliveIntervalMs ?? SIP_KEEPALIVE_INTERVAL_MS,
      onMessage: (text, l) => { this.onLinkMessage(text, l) },
      onClose: (l, err) => { this.onLinkClose(l, err) }
    })
    const list = this.links.get(remotePeer) ?? []
    list.push(link)
    this.links.set(remotePeer, list)
    log('SIP stream %s %s', link.direction === 'inbound' ? 'from' : 'to', remotePeer)
    return link
  }

  private bestLink (peerId: string): SipLink | undefined {
    const list = this.links.get(peerId)
    if (list == null) return undefined
    for (let i = list.length - 1; i >= 0; i--) {
      const l = list[i] as SipLink
      if (l.open) return l
    }
    return undefined
  }

  private onLinkClose (link: SipLink, err?: Error): void {
    const list = (this.links.get(link.remotePeer) ?? []).filter(l => l !== link)
    if (list.length > 0) this.links.set(link.remotePeer, list)
    else this.links.delete(link.remotePeer)
    if (err != null) log('SIP stream with %s closed: %s', link.remotePeer, err.message)
    for (const fork of this.forks.values()) fork.linkClosed(link)
  }

  private remember (record: LocationRecord): void {
    for (const d of record.devices) {
      if (d.peerId === this.peerId) continue
      this.knownAddrs.delete(d.peerId)
      this.knownAddrs.set(d.peerId, d.addrs)
    }
    trim(this.knownAddrs)
    this.routes.set(record.aor, { record, at: Date.now() })
    trim(this.routes)
  }

  // ---- internals: what JsSIP sends ----

  private sendResponse (msg: SipMessage): void {
    if (msg.method === 'INVITE' && msg.status >= 200 && msg.status < 300) {
      this.awaitingAck.set(msg.callId, Date.now())
      trim(this.awaitingAck)
    }
    const key = txnKey(msg.branch, msg.method)
    const txn = this.serverTxns.get(key)
    if (txn != null) {
      txn.at = Date.now()
      if (txn.link.open && txn.link.send(msg.text)) return
      // the stream is gone: another stream to the same device will do (RFC 3261 §18.2.2)
      this.sendToPeer(txn.link.remotePeer, msg)
      return
    }
    const dialog = this.dialogPeers.get(msg.callId)
    if (dialog != null) {
      this.sendToPeer(dialog.peerId, msg)
      return
    }
    log('no route for response %s; dropped', describe(msg))
  }

  private sendRequest (msg: SipMessage): void {
    const fork = this.forks.get(msg.branch)
    if (msg.method === 'ACK' && fork != null) return // the proxy ACKed each non-2xx branch itself
    if (msg.method === 'CANCEL' && fork != null) {
      fork.cancel(getHeader(msg, 'reason'))
      return
    }
    const device = devicePeer(msg.uri)
    if (device != null) {
      this.dialogPeers.set(msg.callId, { peerId: device, at: Date.now() })
      trim(this.dialogPeers)
      this.sendToPeer(device, msg)
      return
    }
    this.startFork(msg)
  }

  /** Sends to a device, dialling it if needed; a request that cannot go out is answered 480 locally. */
  private sendToPeer (peerId: string, msg: SipMessage): void {
    const link = this.bestLink(peerId)
    if (link != null && link.send(msg.text)) return
    this.getLink(peerId).then(l => {
      if (!l.send(msg.text)) throw new CallFailedError('stream closed')
    }).catch((err: Error) => {
      log('cannot reach %s for %s: %s', peerId, describe(msg), err.message)
      if (msg.type === 'request' && msg.method !== 'ACK') this.deliver(buildResponse(msg, 480))
    })
  }

  private startFork (msg: SipMessage): void {
    if (msg.method === 'ACK' || msg.method === 'CANCEL') {
      log('dropping %s that matches no transaction', describe(msg))
      return
    }
    const fork = new Fork(this, msg)
    this.forks.set(msg.branch, fork)
    trim(this.forks, f => { f.dispose() })
    // RFC 3261 §16.2: a stateful proxy answers an INVITE with 100 right away (so
    // JsSIP can CANCEL before any device rang)
    if (msg.method === 'INVITE') this.deliver(buildResponse(msg, 100))
    this.routeFork(fork).catch((err: Error) => { fork.fail(err) })
  }

  private async routeFork (fork: Fork): Promise<void> {
    const parts = sipUriParts(fork.request.uri)
    if (parts == null) throw new NotFoundError(`Cannot route to ${fork.request.uri}`)
    const aor = normalizeAor(`${parts.user}@${parts.host}`)
    let record = this.routes.get(aor)?.record
    if (record == null || Date.now() - (this.routes.get(aor)?.at ?? 0) > ROUTE_TTL_MS) {
      record = await this.overlay.lookup(aor, { signal: AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(PROXY_TIMER_F_MS / 2)]) })
      this.remember(record)
    }
    const devices = record.devices.map(d => d.peerId).filter(p => p !== this.peerId)
    if (devices.length === 0) throw new NotFoundError(`${aor} has no other device online`)
    fork.setBranches(aor, devices, async peerId => this.getLink(peerId))
  }

  // ---- internals: what streams bring ----

  private onLinkMessage (text: string, link: SipLink): void {
    let msg: SipMessage
    try {
      msg = parseSipMessage(text)
    } catch (err) {
      const e = err as Error & { status?: number, headers?: Array<{ name: string, value: string }> }
      log('malformed SIP from %s: %s', link.remotePeer, e.message)
      if (e.status != null && e.headers != null) link.send(buildResponse({ headers: e.headers }, e.status))
      return
    }
    // a device's requests wait until its identity's device roster says it may speak for it
    const gate = this.standing.get(link)
    if (gate?.state === 'checking') {
      if (gate.queue.length < MAX_GATED_MESSAGES) gate.queue.push(msg)
      return
    }
    const v = link.verification
    if (msg.type === 'request' && v.authenticated &&
      (gate == null || Date.now() - gate.at > STANDING_RECHECK_MS || this.overlay.knownRosterSeq(v.aor) !== gate.rosterSeq)) {
      this.checkStanding(link, msg)
      return
    }
    this.dispatchLinkMessage(msg, link)
  }

  private dispatchLinkMessage (msg: SipMessage, link: SipLink): void {
    const gate = this.standing.get(link)
    if (msg.type === 'response') this.onLinkResponse(msg, link)
    else if (gate?.state === 'refused') {
      log('refusing %s from revoked device %s: %s', describe(msg), link.remotePeer, gate.message)
      if (msg.method !== 'ACK') link.send(buildResponse(msg, 403, { reason: DEVICE_REVOKED_PHRASE, headers: [`Warning: 399 ${DEVICE_DOMAIN} "${sanitize(gate.message ?? '')}"`] }))
    } else this.onLinkRequest(msg, link)
  }

  /** Asks the overlay whether the device behind `link` is in its identity's current roster (revocation). */
  private checkStanding (link: SipLink, first: SipMessage): void {
    const v = link.verification
    if (!v.authenticated) return
    const gate: StandingGate = { state: 'checking', queue: [first], at: Date.now() }
    this.standing.set(link, gate)
    this.overlay.deviceStanding(v.aor, v.identityKey, link.remotePeer, { signal: this.shutdown.signal })
      // the check itself failed: refuse when a roster of the identity is known (it could have revoked the device);
      // open only when nothing is known of the address, where the certificate checks are all there is
      .catch((err: Error): DeviceStanding => this.overlay.knownRosterSeq(v.aor) == null
        ? { ok: true, known: false }
        : { ok: false, reason: 'DeviceNotInRosterError', message: `Could not check device ${link.remotePeer} against its identity's device roster: ${err.message}` })
      .then(standing => {
        gate.rosterSeq = this.overlay.knownRosterSeq(v.aor)
        gate.state = standing.ok ? 'ok' : 'refused'
        if (!standing.ok) gate.message = standing.message
        for (const m of gate.queue.splice(0)) this.dispatchLinkMessage(m, link)
      })
      .catch((err: Error) => { log.error('handling requests from %s failed: %s', link.remotePeer, err.stack ?? err) })
  }

  private onLinkResponse (msg: SipMessage, link: SipLink): void {
    if (this.ownBranches.has(msg.branch)) return
    const fork = this.forks.get(msg.branch)
    if (fork != null) {
      // 200 to our CANCELs needs nothing more
      if (msg.method === fork.request.method) fork.onResponse(link, msg)
      return
    }
    if (msg.method === 'INVITE' && msg.status >= 200 && msg.status < 300) this.noteAnswer(msg, link)
    this.deliver(msg.text)
  }

  private onLinkRequest (msg: SipMessage, link: SipLink): void {
    // only requests for this device or this identity (RFC 3261 §16.3: we are not an open relay)
    const device = devicePeer(msg.uri)
    const parts = sipUriParts(msg.uri)
    let forUs = device === this.peerId
    if (!forUs && device == null && parts != null) {
      try {
        forUs = normalizeAor(`${parts.user}@${parts.host}`) === this.aor
      } catch { /* not an address: not for us */ }
    }
    if (!forUs) {
      log('request %s from %s is not for us', describe(msg), link.remotePeer)
      if (msg.method !== 'ACK') link.send(buildResponse(msg, 404))
      return
    }
    if (msg.method !== 'ACK') {
      this.serverTxns.set(txnKey(msg.branch, msg.method), { link, at: Date.now() })
      trim(this.serverTxns)
    }
    this.dialogPeers.set(msg.callId, { peerId: link.remotePeer, at: Date.now() })
    trim(this.dialogPeers)
    this.origins.set(msg.callId, { ...judge(link, msg.from.uri, msg.from.displayName), at: Date.now() })
    trim(this.origins)
    if (!this.connected) {
      if (msg.method !== 'ACK') link.send(buildResponse(msg, 480))
      return
    }
    let threw = false
    try {
      this.ondata(msg.text)
    } catch (err) {
      threw = true
      log.error('JsSIP threw on %s: %s', describe(msg), (err as Error).stack ?? err)
    }
    if (msg.method === 'ACK') this.awaitingAck.delete(msg.callId)
    // JsSIP gave up on it (e.g. no WebRTC here): answer rather than leave the sender waiting
    if (threw && msg.method !== 'ACK') link.send(buildResponse(msg, 500))
  }

  /**
   * Resolves once every INVITE this UA answered has been ACKed (or after
   * `timeoutMs`). JsSIP sends the BYE for a call hung up right after
   * answering only when the ACK arrives, and drops requests once stopped.
   */
  async acksSettled (timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      for (const [k, at] of this.awaitingAck) if (Date.now() - at > TRANSACTION_LINGER_MS) this.awaitingAck.delete(k)
      if (this.awaitingAck.size === 0) return
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }

  /** Remembers who answered an INVITE (the Phone shows whether the callee is verified). */
  noteAnswer (msg: SipMessage, link: SipLink): void {
    this.origins.set(`answer:${msg.callId}`, { ...judge(link, msg.to.uri, msg.to.displayName), at: Date.now() })
    trim(this.origins)
  }

  /** Who answered the INVITE with this Call-ID, and what their stream proved. */
  answeredBy (callId: string): RequestOrigin | undefined {
    return this.origins.get(`answer:${callId}`)
  }

  /** Hands a message to JsSIP; its exceptions never reach the stream. */
  deliver (text: string): void {
    if (!this.connected) return
    this.callJsSip(() => { this.ondata(text) })
  }

  /** Remembers a branch the proxy itself used, so responses to it are absorbed. */
  ownBranch (branch: string): void {
    this.ownBranches.set(branch, Date.now())
    trim(this.ownBranches)
  }

  forkDone (fork: Fork): void {
    const timer = setTimeout(() => {
      if (this.forks.get(fork.request.branch) === fork) this.forks.delete(fork.request.branch)
    }, TRANSACTION_LINGER_MS)
    ;(timer as { unref?: () => void }).unref?.()
  }

  private callJsSip (fn: () => void): void {
    try {
      fn()
    } catch (err) {
      log.error('JsSIP threw: %s', (err as Error).stack ?? err)
    }
  }

  private sweep (): void {
    const now = Date.now()
    for (const [k, t] of this.serverTxns) if (now - t.at > SERVER_TRANSACTION_IDLE_MS) this.serverTxns.delete(k)
    for (const [k, o] of this.origins) if (now - o.at > SERVER_TRANSACTION_IDLE_MS * 12) this.origins.delete(k)
    for (const [k, at] of this.ownBranches) if (now - at > TRANSACTION_LINGER_MS) this.ownBranches.delete(k)
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
}

/**
 * One forked request: a branch per device of the target (RFC 3261 §16.7).
 */
class Fork {
  readonly request: SipMessage
  readonly done: Promise<ForkOutcome>
  private readonly transport: SipTransport
  private readonly branches = new Map<string, Branch>()
  private routed = false
  private finalSent = false
  private winner?: Branch
  private cancelled = false
  private completed = false
  private delivered = 0
  private error?: Error
  private passedStatus?: number
  private cancelReason?: string
  private aor = ''
  private resolveDone!: (o: ForkOutcome) => void
  private timer?: ReturnType<typeof setTimeout>
  private settleTimer?: ReturnType<typeof setTimeout>

  constructor (transport: SipTransport, request: SipMessage) {
    this.transport = transport
    this.request = request
    this.done = new Promise(resolve => { this.resolveDone = resolve })
    const invite = request.method === 'INVITE'
    this.timer = setTimeout(() => { this.timeout() }, invite ? PROXY_TIMER_C_MS : PROXY_TIMER_F_MS)
    ;(this.timer as { unref?: () => void }).unref?.()
  }

  private get invite (): boolean { return this.request.method === 'INVITE' }

  setBranches (aor: string, peers: string[], getLink: (peerId: string) => Promise<SipLink>): void {
    if (this.completed) return
    this.routed = true
    this.aor = aor
    for (const peerId of peers) {
      const branch: Branch = { peerId, state: 'pending' }
      this.branches.set(peerId, branch)
      getLink(peerId).then(link => {
        if (branch.state !== 'pending' || this.completed) return
        // an INVITE is not sent on once answered, declined or cancelled; a
        // MESSAGE still goes to late devices so that every device has the chat
        if (this.cancelled || (this.invite && this.finalSent)) {
          this.finalize(branch, 487)
          return
        }
        branch.link = link
        if (!link.send(this.request.text)) throw new CallFailedError('stream closed')
        branch.state = 'sent'
      }).catch((err: Error) => {
        log('branch to %s failed: %s', peerId, err.message)
        this.finalize(branch, 480)
      })
    }
    this.check()
  }

  /** Routing failed before any branch existed. */
  fail (err: Error): void {
    if (this.completed) return
    log('cannot route %s: %s', describe(this.request), err.message)
    this.error = err
    this.routed = true
    const status = err.name === 'NotFoundError' ? 404 : err.name === 'OfflineError' ? 503 : 480
    if (!this.finalSent) {
      this.finalSent = true
      this.passedStatus = status
      this.transport.deliver(buildResponse(this.request, status, { headers: [`Warning: 399 ${DEVICE_DOMAIN} "${sanitize(err.message)}"`] }))
    }
    this.complete()
  }

  onResponse (link: SipLink, res: SipMessage): void {
    const branch = this.branches.get(link.remotePeer)
    if (branch == null) return
    const s = res.status
    if (branch.state === 'final') {
      // retransmissions: re-ACK a non-2xx, pass the winner's 2xx again so JsSIP re-ACKs it
      if (this.invite && s >= 300) link.send(buildNon2xxAck(this.request, res))
      else if (this.invite && s < 300 && s >= 200 && branch === this.winner) this.pass(res)
      return
    }
    branch.link = link
    // the device answered over a stream of its own while the branch was kept
    if (branch.grace != null) this.endGrace(branch)
    if (s < 200) {
      if (s === 100) return
      branch.state = 'provisional'
      if (this.invite && !this.finalSent) this.pass(res)
      return
    }
    branch.state = 'final'
    branch.status = s
    if (s < 300) {
      this.delivered++
      if (this.invite) {
        if (this.winner == null && !this.finalSent) {
          this.winner = branch
          this.finalSent = true
          this.passedStatus = s
          this.transport.noteAnswer(res, link)
          this.pass(res)
          this.cancelPending('SIP;cause=200;text="Call completed elsewhere"')
        } else {
          // a second device answered too: end its dialog ourselves
          const pair = buildAckAndBye(this.request, res, DEVICE_DOMAIN)
          if (pair != null) {
            for (const m of pair) {
              const parsed = parseSipMessage(m)
              this.transport.ownBranch(parsed.branch)
              link.send(m)
            }
          }
        }
      } else if (!this.finalSent) {
        this.finalSent = true
        this.passedStatus = s
        this.pass(res)
        // count the other devices for a moment, then report
        this.settleTimer = setTimeout(() => { this.complete() }, MESSAGE_SETTLE_MS)
        ;(this.settleTimer as { unref?: () => void }).unref?.()
      }
    } else {
      branch.response = res
      if (this.invite) link.send(buildNon2xxAck(this.request, res))
      if (s >= 600 && !this.finalSent) {
        // RFC 3261 §16.7 step 5: a 6xx ends the search
        this.finalSent = true
        this.passedStatus = s
        this.pass(res)
        if (this.invite) this.cancelPending(`SIP;cause=${s};text="${sanitize(res.reason)}"`)
      }
    }
    this.check()
  }

  /** JsSIP cancelled the INVITE: cancel every branch still ringing. */
  cancel (reason?: string): void {
    if (this.cancelled || !this.invite) return
    this.cancelled = true
    this.cancelPending(reason)
    this.check()
  }

  linkClosed (link: SipLink): void {
    for (const b of this.branches.values()) {
      if (b.link !== link || b.state === 'final' || b.state === 'pending') continue
      if (this.invite && !this.completed) this.keepBranch(b)
      else this.finalize(b, 480)
    }
  }

  dispose (): void {
    clearTimeout(this.timer)
    clearTimeout(this.settleTimer)
    this.complete()
  }

  /**
   * A ringing INVITE branch lost its stream: keep it for
   * RINGING_BRANCH_GRACE_MS while the device is dialled again, then carry the
   * transaction on over the new stream (resume); 480 as before if the device
   * does not come back in time.
   */
  private keepBranch (b: Branch): void {
    if (b.grace != null) return
    log('SIP stream to ringing device %s closed: keeping its branch up to %d ms', b.peerId, RINGING_BRANCH_GRACE_MS)
    const grace = new AbortController()
    b.grace = grace
    const timer = setTimeout(() => { grace.abort() }, RINGING_BRANCH_GRACE_MS)
    ;(timer as { unref?: () => void }).unref?.()
    grace.signal.addEventListener('abort', () => { clearTimeout(timer) }, { once: true })
    this.redial(b, grace.signal).catch((err: Error) => {
      log.error('re-dialling %s failed: %s', b.peerId, err.stack ?? err)
    })
  }

  private async redial (b: Branch, signal: AbortSignal): Promise<void> {
    const delays = backoff({ initialMs: REDIAL_INITIAL_MS, maxMs: REDIAL_MAX_MS })
    while (!signal.aborted) {
      try {
        const link = await this.transport.redial(b.peerId, this.aor, { signal })
        if (b.grace?.signal === signal) this.resume(b, link)
        return
      } catch (err) {
        if (signal.aborted) break
        log('re-dialling ringing device %s: %s', b.peerId, (err as Error).message)
        await pause(delays.next(), signal)
      }
    }
    // still ours: the device did not come back within the grace
    if (b.grace?.signal === signal) {
      b.grace = undefined
      log('ringing device %s did not come back within %d ms', b.peerId, RINGING_BRANCH_GRACE_MS)
      this.finalize(b, 480)
    }
  }

  /** The kept branch's device is reachable again over `link`: the transaction goes on there. */
  private resume (b: Branch, link: SipLink): void {
    this.endGrace(b)
    if (b.state === 'final' || this.completed) return
    b.link = link
    // the device still rings unless told: it gets the CANCEL it missed, or
    // the INVITE again (a retransmission to its server transaction, which
    // answers with its latest response, RFC 3261 §17.2.1)
    let sent: boolean
    if (this.cancelled || b.cancelSent === true || this.finalSent) {
      b.cancelSent = true
      sent = link.send(buildCancel(this.request, this.cancelReason))
    } else {
      sent = link.send(this.request.text)
    }
    log('branch to %s resumed over a new SIP stream (%s)', b.peerId, sent ? 'sent' : 'stream closed again')
    if (!sent) this.finalize(b, 480)
  }

  private endGrace (b: Branch): void {
    const grace = b.grace
    b.grace = undefined
    grace?.abort()
  }

  private cancelPending (reason?: string): void {
    if (reason != null) this.cancelReason ??= reason
    for (const b of this.branches.values()) {
      if (b === this.winner) continue
      if (b.state === 'sent' || b.state === 'provisional') {
        if (b.cancelSent === true) continue
        b.cancelSent = true
        b.link?.send(buildCancel(this.request, reason))
      }
      // 'pending' branches are not sent at all once cancelled (see setBranches)
    }
  }

  /** A branch ended without a response from the device (unreachable, stream lost, timeout). */
  private finalize (branch: Branch, status: number): void {
    this.endGrace(branch)
    if (branch.state === 'final') return
    branch.state = 'final'
    branch.status = status
    branch.response = parseSipMessage(buildResponse(this.request, status))
    this.check()
  }

  private timeout (): void {
    if (this.completed) return
    log('%s timed out', describe(this.request))
    if (this.invite) this.cancelPending()
    for (const b of this.branches.values()) {
      if (b.state !== 'final') {
        b.state = 'final'
        b.status = 408
        b.response = parseSipMessage(buildResponse(this.request, 408))
      }
    }
    if (!this.routed) this.routed = true
    this.check()
  }

  private check (): void {
    if (this.completed || !this.routed) return
    const all = [...this.branches.values()]
    if (!all.every(b => b.state === 'final')) return
    if (!this.finalSent) {
      this.finalSent = true
      const best = bestResponse(all.map(b => b.response).filter((r): r is SipMessage => r != null))
      const text = best?.text ?? buildResponse(this.request, all.length === 0 ? 480 : 408)
      this.passedStatus = best?.status ?? (all.length === 0 ? 480 : 408)
      this.pass(parseSipMessage(text))
    }
    this.complete()
  }

  private pass (res: SipMessage): void {
    this.transport.deliver(res.text)
  }

  private complete (): void {
    if (this.completed) return
    this.completed = true
    clearTimeout(this.timer)
    clearTimeout(this.settleTimer)
    for (const b of this.branches.values()) this.endGrace(b)
    const finals: Record<string, number> = {}
    for (const b of this.branches.values()) if (b.status != null) finals[b.peerId] = b.status
    this.resolveDone({
      delivered: this.delivered,
      finals,
      ...(this.passedStatus != null ? { status: this.passedStatus } : {}),
      ...(this.error != null ? { error: this.error } : {})
    })
    this.transport.forkDone(this)
  }
}

interface Branch {
  peerId: string
  state: 'pending' | 'sent' | 'provisional' | 'final'
  link?: SipLink
  status?: number
  response?: SipMessage
  cancelSent?: boolean
  /** set while the branch is kept after its stream closed (Fork.keepBranch) */
  grace?: AbortController | undefined
}

/**
 * The response to pass on when every branch failed (RFC 3261 §16.7 step 6):
 * a 6xx first, then the lowest class; within 4xx the most telling for a
 * person (busy, then anything specific, then unreachable/timeout/cancelled).
 */
export function bestResponse<T extends { status: number }> (responses: T[]): T | undefined {
  const rank = (s: number): number => {
    if (s >= 600) return 0
    if (s >= 300 && s < 400) return 10
    if (s >= 400 && s < 500) {
      const order = [486, 401, 407, 415, 420, 484, 488, 403, 404, 410, 480, 408, 487]
      const i = order.indexOf(s)
      return 20 + (i === -1 ? 6.5 : i)
    }
    return 60 + (s === 503 ? 1 : 0)
  }
  let best: T | undefined
  for (const r of responses) if (best == null || rank(r.status) < rank(best.status)) best = r
  return best
}

/** Peer id of a device URI `sip:<peer id>@peerline.invalid`, else undefined. */
export function devicePeer (uri: string): string | undefined {
  const parts = sipUriParts(uri)
  if (parts == null || parts.host !== DEVICE_DOMAIN) return undefined
  return parts.user
}

/** A request's claimed From address judged against the stream's hello. */
function judge (link: SipLink, uri: string, displayName: string): RequestOrigin {
  let claimed: string | undefined
  const parts = sipUriParts(uri)
  if (parts != null) {
    try {
      claimed = normalizeAor(`${parts.user}@${parts.host}`)
    } catch { /* unparseable: judged as claimed */ }
  }
  const v = link.verification
  let verification: PeerVerification = v
  if (v.authenticated && v.aor !== claimed) {
    verification = { authenticated: false, reason: 'WrongEmailError', message: `The device proved ${v.aor} but claims ${claimed ?? uri}` }
  }
  return { peerId: link.remotePeer, verification, ...(claimed != null ? { claimedAor: claimed } : {}), displayName }
}

function txnKey (branch: string, method: string): string {
  return `${branch}|${method}`
}

function describe (m: SipMessage): string {
  return m.type === 'request' ? `${m.method} ${m.uri}` : `${m.status} (${m.method})`
}

function sanitize (s: string): string {
  return s.replace(/["\\\r\n]/g, ' ').slice(0, 120)
}

/** Keeps a Map under MAX_TRACKED_ENTRIES by dropping its oldest insertions. */
function trim<V> (map: Map<string, V>, onDrop?: (v: V) => void): void {
  while (map.size > MAX_TRACKED_ENTRIES) {
    const first = map.keys().next()
    if (first.done === true) return
    const v = map.get(first.value)
    map.delete(first.value)
    if (v != null) onDrop?.(v)
  }
}

/** Waits `ms`, or less when `signal` aborts. */
async function pause (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>(resolve => {
    const done = (): void => { clearTimeout(timer); signal.removeEventListener('abort', done); resolve() }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}

async function raceSignal<T> (p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal == null) return await p
  signal.throwIfAborted()
  return await new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(v => { signal.removeEventListener('abort', onAbort); resolve(v) }, (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e) })
  })
}
