/**
 * Size: a facade on purpose. Links (links.ts), forking (fork.ts) and standing
 * (standing.ts) are components; what stays here is JsSIP's Socket and routing
 * each message to one of them.
 *
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
 *
 * The parts: links.ts keeps the streams (dial, upgrade, idle sweep, route
 * cache), fork.ts the forked transactions and their state tables,
 * standing.ts the device-roster check of each stream, origins.ts who sent
 * what; this file is the Socket JsSIP sees and the routing between them.
 */
import { normalizeAor } from '../identity/index.ts'
import { NotFoundError } from '../overlay/index.ts'
import type { LocationRecord, Overlay } from '../overlay/index.ts'
import { anySignal, sleep, unrefTimer } from '../util/async.ts'
import { logger } from '../util/logger.ts'
import {
  DEVICE_DOMAIN, DEVICE_REVOKED_PHRASE, PROXY_TIMER_F_MS, SERVER_TRANSACTION_IDLE_MS, SIP_PROTOCOL, TRANSACTION_LINGER_MS
} from './constants.ts'
import { CallFailedError } from './errors.ts'
import { Fork } from './fork.ts'
import type { ForkOutcome } from './fork.ts'
import type { PeerVerification } from './hello.ts'
import type { SipLink } from './link.ts'
import { SipLinks } from './links.ts'
import type { SipLinksInit } from './links.ts'
import { Origins } from './origins.ts'
import type { RequestOrigin } from './origins.ts'
import { buildResponse } from './message-build.ts'
import { branchKey, getHeader, parseSipBytes, parseSipMessage, sipUriParts, transactionKey } from './message.ts'
import type { SipMessage } from './message.ts'
import { describe, devicePeer, sanitize, trim } from './routing.ts'
import { StandingGates } from './standing.ts'

// what other modules and tests import from here
export { bestResponse, RINGING_BRANCH_GRACE_MS } from './fork.ts'
export type { ForkOutcome } from './fork.ts'
export { devicePeer } from './routing.ts'
export type { RequestOrigin } from './origins.ts'

const log = logger('sip:transport')

/** How often the transaction tables and idle streams are swept. */
const SWEEP_INTERVAL_MS = 30_000

export type SipTransportInit = SipLinksInit

export interface SipTransportComponents {
  overlay: Overlay
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

interface ServerTxn { link: SipLink, at: number }

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
  private readonly overlay: Overlay
  private readonly links: SipLinks
  private readonly standing: StandingGates
  private connected = false
  private started = false
  private shutdown = new AbortController()
  private sweeper?: ReturnType<typeof setInterval>
  private readonly serverTxns = new Map<string, ServerTxn>()
  private readonly origins = new Origins()
  private readonly dialogPeers = new Map<string, { peerId: string, at: number }>()
  private readonly forks = new Map<string, Fork>()
  private readonly ownBranches = new Map<string, number>()
  /** INVITEs JsSIP answered 2xx whose ACK has not arrived yet, by Call-ID */
  private readonly awaitingAck = new Map<string, number>()
  /** called when an ACK of `awaitingAck` arrives (acksSettled waits for it) */
  private readonly ackWaiters = new Set<() => void>()

  constructor (init: SipTransportInit, components: SipTransportComponents) {
    this.overlay = components.overlay
    this.aor = normalizeAor(init.identity.email)
    this.links = new SipLinks(init, {
      overlay: components.overlay,
      onMessage: (message, link) => { this.onLinkMessage(message, link) },
      onClose: link => { for (const fork of this.forks.values()) fork.linkClosed(link) }
    })
    this.standing = new StandingGates({
      overlay: components.overlay,
      signal: () => this.shutdown.signal,
      dispatch: (msg, link) => { this.dispatchLinkMessage(msg, link) }
    })
  }

  get peerId (): string { return this.overlay.peerId }

  /** JsSIP `contact_uri`: requests to it are routed to this device by peer id. */
  get contactUri (): string { return `sip:${this.peerId}@${DEVICE_DOMAIN};transport=ws` }

  // ---- lifecycle ----

  async start (): Promise<void> {
    if (this.started) return
    this.shutdown = new AbortController()
    await this.links.start()
    this.sweeper = unrefTimer(setInterval(() => { this.sweep() }, SWEEP_INTERVAL_MS))
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.shutdown.abort()
    clearInterval(this.sweeper)
    for (const fork of this.forks.values()) fork.dispose()
    this.forks.clear()
    await this.links.stop()
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
   * `check` sees the record before any device is dialled and may throw (pinned-key checks).
   * @throws InvalidAddressError | NotFoundError | OfflineError | record errors | CallFailedError | AbortError
   */
  async prepare (target: string, options: { signal?: AbortSignal, check?: (record: LocationRecord) => void, identityKey?: string } = {}): Promise<PreparedTarget> {
    const aor = normalizeAor(target)
    const t0 = Date.now()
    // identityKey: the claim the user chose among conflicting ones (overlay.lookup's option)
    const lookupOptions: { signal?: AbortSignal, identityKey?: string } = { ...(options.signal != null ? { signal: options.signal } : {}), ...(options.identityKey != null ? { identityKey: options.identityKey } : {}) }
    const record = await this.overlay.lookup(aor, lookupOptions)
    const lookupMs = Date.now() - t0
    options.check?.(record)
    this.links.remember(record)
    const devices = record.devices.map(d => d.peerId).filter(p => p !== this.peerId)
    if (devices.length === 0) throw new NotFoundError(`${aor} has no other device online`)
    const t1 = Date.now()
    let first: SipLink
    try {
      first = await Promise.any(devices.map(async p => this.getLink(p, options)))
    } catch (err) {
      options.signal?.throwIfAborted()
      await this.checkOtherClaims(record, options)
      const reasons = err instanceof AggregateError ? err.errors.map(e => (e as Error).message) : [(err as Error).message]
      throw new CallFailedError(`None of the ${devices.length} device(s) of ${aor} could be reached (${[...new Set(reasons)].join('; ')})`)
    }
    return { aor, record, devices, firstPeer: first.remotePeer, lookupMs, connectMs: Date.now() - t1 }
  }

  /**
   * The claim chosen could not be reached: when another key claims the
   * address and `check` refuses it (KeyChangedError: the pinned key is gone
   * quiet and a new one speaks for the address), that is the error to show.
   * Nothing is dialled here.
   */
  private async checkOtherClaims (chosen: LocationRecord, options: { signal?: AbortSignal, check?: (record: LocationRecord) => void }): Promise<void> {
    if (options.check == null) return
    const claims = await this.overlay.lookupClaims(chosen.aor, options.signal != null ? { signal: options.signal } : {}).catch(() => [])
    for (const c of claims) {
      if (c.identityKey !== chosen.certificate.key) options.check(c.record)
    }
  }

  /** Who sent the latest request with this Call-ID. */
  origin (callId: string): RequestOrigin | undefined {
    return this.origins.request(callId)
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
    return this.links.count(peerId)
  }

  /** The verification of the newest open stream to `peerId`, if any. */
  peerVerification (peerId: string): PeerVerification | undefined {
    return this.links.best(peerId)?.verification
  }

  /**
   * A SIP stream to `peerId`: an open one, or a new one over an existing
   * connection or the addresses of the last location record listing it.
   */
  async getLink (peerId: string, options: { signal?: AbortSignal } = {}): Promise<SipLink> {
    return await this.links.get(peerId, options)
  }

  /**
   * A SIP stream to a device whose stream closed mid-transaction (see SipLinks.redial).
   * @throws CallFailedError | AbortError
   */
  async redial (peerId: string, aor: string, options: { signal: AbortSignal }): Promise<SipLink> {
    return await this.links.redial(peerId, aor, options)
  }

  /**
   * Resolves once every INVITE this UA answered has been ACKed (or after
   * `timeoutMs`). JsSIP sends the BYE for a call hung up right after
   * answering only when the ACK arrives, and drops requests once stopped.
   */
  async acksSettled (timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const now = Date.now()
      let oldest = Infinity
      for (const [k, at] of this.awaitingAck) {
        if (now - at > TRANSACTION_LINGER_MS) this.awaitingAck.delete(k)
        else oldest = Math.min(oldest, at)
      }
      if (this.awaitingAck.size === 0) return
      // until an ACK arrives, the oldest answer stops being waited for, or the deadline
      const woken = new AbortController()
      const wake = (): void => { woken.abort() }
      this.ackWaiters.add(wake)
      await sleep(Math.min(deadline, oldest + TRANSACTION_LINGER_MS + 1) - now, { signal: woken.signal })
      this.ackWaiters.delete(wake)
    }
  }

  /** Remembers who answered an INVITE (the Phone shows whether the callee is verified). */
  noteAnswer (msg: SipMessage, link: SipLink): void {
    this.origins.noteAnswer(msg, link)
  }

  /** Who answered the INVITE with this Call-ID, and what their stream proved. */
  answeredBy (callId: string): RequestOrigin | undefined {
    return this.origins.answer(callId)
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

  /** A fork completed: it keeps absorbing retransmissions for TRANSACTION_LINGER_MS. */
  forkDone (fork: Fork): void {
    unrefTimer(setTimeout(() => {
      const key = branchKey(fork.request)
      if (this.forks.get(key) === fork) this.forks.delete(key)
    }, TRANSACTION_LINGER_MS))
  }

  // ---- internals: what JsSIP sends ----

  private sendResponse (msg: SipMessage): void {
    if (msg.method === 'INVITE' && msg.status >= 200 && msg.status < 300) {
      this.awaitingAck.set(msg.callId, Date.now())
      trim(this.awaitingAck)
    }
    const key = transactionKey(msg)
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
    const fork = this.forks.get(branchKey(msg))
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
    const link = this.links.best(peerId)
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
    const fork = new Fork(msg, this)
    this.forks.set(branchKey(msg), fork)
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
    let record = this.links.route(aor)
    if (record == null) {
      record = await this.overlay.lookup(aor, { signal: anySignal(this.shutdown.signal, AbortSignal.timeout(PROXY_TIMER_F_MS / 2)) })
      this.links.remember(record)
    }
    const devices = record.devices.map(d => d.peerId).filter(p => p !== this.peerId)
    if (devices.length === 0) throw new NotFoundError(`${aor} has no other device online`)
    fork.setBranches(aor, devices, async peerId => this.getLink(peerId))
  }

  // ---- internals: what streams bring ----

  private onLinkMessage (bytes: Uint8Array, link: SipLink): void {
    let msg: SipMessage
    try {
      msg = parseSipBytes(bytes)
    } catch (err) {
      // a request that can be answered is (400, 505: RFC 4475 §3.1.2); the rest is dropped
      const e = err as Error & { status?: number, headers?: Array<{ name: string, value: string }> }
      log('malformed SIP from %s: %s', link.remotePeer, e.message)
      if (e.status != null && e.headers != null) link.send(buildResponse({ headers: e.headers }, e.status))
      return
    }
    // a device's requests wait until its identity's device roster says it may speak for it
    this.standing.admit(msg, link)
  }

  private dispatchLinkMessage (msg: SipMessage, link: SipLink): void {
    if (msg.type === 'response') {
      this.onLinkResponse(msg, link)
      return
    }
    const refusal = this.standing.refusal(link)
    if (refusal != null) {
      log('refusing %s from revoked device %s: %s', describe(msg), link.remotePeer, refusal)
      if (msg.method !== 'ACK') link.send(buildResponse(msg, 403, { reason: DEVICE_REVOKED_PHRASE, headers: [`Warning: 399 ${DEVICE_DOMAIN} "${sanitize(refusal)}"`] }))
    } else this.onLinkRequest(msg, link)
  }

  private onLinkResponse (msg: SipMessage, link: SipLink): void {
    if (this.ownBranches.has(msg.branch)) return
    const fork = this.forks.get(branchKey(msg))
    if (fork != null) {
      // 200 to our CANCELs needs nothing more
      if (msg.method === fork.request.method) fork.onResponse(link, msg)
      return
    }
    if (msg.method === 'INVITE' && msg.status >= 200 && msg.status < 300) this.noteAnswer(msg, link)
    this.deliver(msg.text)
  }

  private onLinkRequest (msg: SipMessage, link: SipLink): void {
    // RFC 3261 §8.2.2.1; RFC 4475 §3.3.2, §3.3.3: only SIP URIs lead anywhere here
    if (!/^sips?:/i.test(msg.uri)) {
      log('request %s from %s has a Request-URI scheme we do not serve', describe(msg), link.remotePeer)
      if (msg.method !== 'ACK') link.send(buildResponse(msg, 416))
      return
    }
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
      this.serverTxns.set(transactionKey(msg), { link, at: Date.now() })
      trim(this.serverTxns)
    }
    this.dialogPeers.set(msg.callId, { peerId: link.remotePeer, at: Date.now() })
    trim(this.dialogPeers)
    this.origins.noteRequest(msg, link)
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
    if (msg.method === 'ACK' && this.awaitingAck.delete(msg.callId)) {
      for (const wake of this.ackWaiters) wake()
    }
    // JsSIP gave up on it (e.g. no WebRTC here): answer rather than leave the sender waiting
    if (threw && msg.method !== 'ACK') link.send(buildResponse(msg, 500))
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
    this.origins.sweep(now)
    for (const [k, at] of this.ownBranches) if (now - at > TRANSACTION_LINGER_MS) this.ownBranches.delete(k)
    this.links.sweep(now)
  }
}
