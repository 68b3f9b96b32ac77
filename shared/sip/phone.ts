/**
 * Size: one file on purpose. It is the JsSIP user agent's one lifecycle
 * (start, stop, incoming and outgoing calls and messages)
 * and the mapping of JsSIP's events to api.ts.
 *
 * The phone: one JsSIP user agent on Peerline's overlay.
 *
 * ```ts
 * const p = phone({ identity, iceServers }, { overlay, media })
 * await p.start()
 * p.addEventListener('call:incoming', e => e.detail.answer())
 * p.addEventListener('message:incoming', e => show(e.detail.from, e.detail.body))
 * const call = await p.call('bob@example.org', { signal })
 * await p.sendMessage('bob@example.org', 'hi')
 * ```
 *
 * JsSIP's emitter is wrapped here, once, into typed events. The UA never
 * registers (the DHT is the location service); its Contact is
 * `sip:<peer id>@peerline.invalid`, which the transport routes by peer id.
 */
import { UA } from 'jssip'
import { TypedEventEmitter } from 'main-event'
import { KeyChangedError, normalizeAor } from '../identity/index.ts'
import type { StoredIdentity, TrustLevel, TrustStore } from '../identity/index.ts'
import type { Overlay } from '../overlay/index.ts'
import { raceSignal, sleep } from '../util/async.ts'
import { dispatchSafely, guarded } from '../util/events.ts'
import { logger } from '../util/logger.ts'
import { PeerlineCall } from './call.ts'
import { checkMessageBody, clearTimersOnDestroy, defaultMedia, releaseJsSipTimers, sendTextMessage, sessionCallId, startSession, stopTracks } from './jssip-util.ts'
import type { SessionLike } from './call.ts'
import {
  CALL_SETUP_TIMEOUT_MS, ICE_GATHERING_TIMEOUT_MS, MESSAGE_SETTLE_MS, NO_ANSWER_TIMEOUT_MS,
  SEND_MESSAGE_TIMEOUT_MS, STOP_TIMEOUT_MS
} from './constants.ts'
import { CallFailedError, MessageRejectedError, PhoneNotStartedError } from './errors.ts'
import type { HelloVerifyOptions } from './hello.ts'
import { SipTransport } from './transport.ts'
import type { RequestOrigin, SipTransportInit } from './transport.ts'
import type { Call, IncomingMessage, MediaAdapter, Phone, PhoneEvents, RemoteParty, SentMessage } from './api.ts'

const log = logger('sip:phone')

/** Room left in a frame for the MESSAGE's headers. */

export interface PhoneInit {
  identity: StoredIdentity
  /** name shown to the people you call (SIP From display name); default identity.displayName */
  displayName?: string
  iceServers?: RTCIceServer[]
  /** ICE gathering bound after the first candidate (default ICE_GATHERING_TIMEOUT_MS) */
  iceGatheringTimeoutMs?: number
  /** ringing stops after this long, both ways (default NO_ANSWER_TIMEOUT_MS) */
  noAnswerTimeoutMs?: number
  userAgent?: string
  /** bound on finding and dialling a target (default CALL_SETUP_TIMEOUT_MS) */
  callSetupTimeoutMs?: number
  /** how identity hellos are checked (trusted CAs, chain) */
  verifyOptions?: HelloVerifyOptions
  /**
   * pinned identity keys (trust on first use): a call or message to a contact
   * whose key changed fails with KeyChangedError before anything is sent; an
   * incoming one is marked `remote.trust = 'changed'`. Without it nothing is pinned.
   */
  trust?: TrustStore
  /** transport tuning (tests): keep-alive, dial timeout, idle close, frame limit */
  transport?: Pick<SipTransportInit, 'keepaliveIntervalMs' | 'dialTimeoutMs' | 'linkIdleMs' | 'maxMessageBytes'>
}

export interface PhoneComponents {
  overlay: Overlay
  media?: MediaAdapter
}

interface JsSipIncomingRequest {
  call_id: string
  body?: string
  from?: { display_name?: string, uri?: { toString: () => string } }
  getHeader: (name: string) => string | undefined
}

export class PeerlinePhone extends TypedEventEmitter<PhoneEvents> implements Phone {
  readonly transport: SipTransport
  private readonly init: PhoneInit
  private readonly overlay: Overlay
  private readonly media: MediaAdapter
  private readonly aor: string
  private ua?: UA
  private shutdown = new AbortController()
  private readonly active = new Map<string, PeerlineCall>()
  private nextCallId = 0

  constructor (init: PhoneInit, components: PhoneComponents) {
    super()
    this.init = init
    this.overlay = components.overlay
    // one user: the overlay chooses between claims on an address by the same pins and CAs
    if (init.trust != null && this.overlay.trust == null) this.overlay.trust = init.trust
    this.media = components.media ?? defaultMedia
    this.aor = normalizeAor(init.identity.email)
    this.transport = new SipTransport({
      identity: init.identity,
      ...(init.verifyOptions != null ? { verifyOptions: init.verifyOptions } : {}),
      ...init.transport,
      busyPeers: () => [...this.active.values()].flatMap(c => c.peers)
    }, { overlay: components.overlay })
  }

  /** when this phone started: a key pinned since is still a first contact, not a "known key" */
  private startedAt = Date.now()

  async start (): Promise<void> {
    this.startedAt = Date.now()
    if (this.ua != null) return
    if ((this.overlay as { node?: unknown }).node == null) throw new PhoneNotStartedError('Start the overlay before the phone')
    this.shutdown = new AbortController()
    await this.transport.start()
    const ua = new UA({
      sockets: [this.transport as any],
      uri: `sip:${this.aor}`,
      display_name: this.init.displayName ?? this.init.identity.displayName,
      contact_uri: this.transport.contactUri,
      register: false,
      // no SIP server sits in between to lose state: stream keep-alives do the job
      session_timers: false,
      // whole seconds only (JsSIP refuses fractions)
      no_answer_timeout: Math.max(1, Math.round((this.init.noAnswerTimeoutMs ?? NO_ANSWER_TIMEOUT_MS) / 1000)),
      user_agent: this.init.userAgent ?? 'Peerline'
    })
    clearTimersOnDestroy(ua)
    ua.on('newRTCSession', (e: any) => { this.guard('newRTCSession', () => { this.onNewSession(e) }) })
    ua.on('newMessage', (e: any) => { this.guard('newMessage', () => { this.onNewMessage(e) }) })
    const connected = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new CallFailedError('The SIP user agent did not start')) }, STOP_TIMEOUT_MS)
      ua.on('connected', () => { clearTimeout(timer); resolve() })
    })
    ua.start()
    this.ua = ua
    await connected
    log('phone for %s started (contact %s)', this.aor, this.transport.contactUri)
  }

  async stop (): Promise<void> {
    const ua = this.ua
    if (ua == null) return
    this.ua = undefined
    this.shutdown.abort()
    for (const call of this.active.values()) call.hangup()
    // a call answered a moment ago sends its BYE only when the ACK arrives
    await this.transport.acksSettled(STOP_TIMEOUT_MS / 2)
    // JsSIP sends BYE/CANCEL, then disconnects the socket (at once, or after up to 2 s)
    await new Promise<void>(resolve => {
      const timer = setTimeout(resolve, STOP_TIMEOUT_MS)
      ua.on('disconnected', () => { clearTimeout(timer); resolve() })
      try {
        ua.stop()
      } catch (err) {
        log('ua.stop: %s', (err as Error).message)
        clearTimeout(timer)
        resolve()
      }
    })
    this.transport.disconnect()
    releaseJsSipTimers(ua)
    await this.transport.stop()
  }

  calls (): Call[] {
    return [...this.active.values()]
  }

  async call (target: string, options: { video?: boolean, signal?: AbortSignal, identityKey?: string } = {}): Promise<Call> {
    const aor = normalizeAor(target)
    const ua = this.requireUa()
    const video = options.video ?? false
    const signal = this.setupSignal(options.signal, this.init.callSetupTimeoutMs ?? CALL_SETUP_TIMEOUT_MS)
    // open the microphone while the DHT is asked: both take a while
    const media = this.media.getUserMedia({ audio: true, video })
    media.catch(() => {})
    let prepared
    let trust: RemoteParty['trust']
    let trustLevel: TrustLevel | undefined
    try {
      prepared = await this.transport.prepare(aor, {
        signal,
        ...(options.identityKey != null ? { identityKey: options.identityKey } : {}),
        check: record => {
          trustLevel = this.judge(aor, record.certificate)
          trust = this.checkPinned(aor, record.certificate.key)
        }
      })
    } catch (err) {
      media.then(stopTracks, () => {})
      throw this.setupError(err, signal, options.signal)
    }
    let stream: MediaStream
    try {
      stream = await raceSignal(media, signal)
    } catch (err) {
      media.then(stopTracks, () => {})
      throw this.setupError(err, signal, options.signal)
    }
    const call = new PeerlineCall({
      id: `out-${++this.nextCallId}`,
      direction: 'outgoing',
      remote: {
        aor,
        displayName: '',
        // the devices dialled are the ones a valid location record for `aor`
        // lists, each with a device certificate by the identity key; the
        // answering device's own hello is checked again when it answers
        authenticated: true,
        identityKey: prepared.record.certificate.key,
        issuer: prepared.record.certificate.issuer,
        ...(trust != null ? { trust } : {}),
        ...(trustLevel != null ? { trustLevel } : {})
      },
      media: this.media,
      ...(this.init.iceServers != null ? { iceServers: this.init.iceServers } : {}),
      iceGatheringTimeoutMs: this.init.iceGatheringTimeoutMs ?? ICE_GATHERING_TIMEOUT_MS,
      noAnswerTimeoutMs: this.init.noAnswerTimeoutMs ?? NO_ANSWER_TIMEOUT_MS,
      localStream: stream,
      video,
      timings: { lookupMs: prepared.lookupMs, connectMs: prepared.connectMs },
      peers: prepared.devices,
      onEnded: c => { this.active.delete(c.id) },
      answeredBy: () => {
        const callId = sessionCallId(session)
        const who = callId != null ? this.transport.answeredBy(callId) : undefined
        return who != null ? partyFrom(who, aor) : undefined
      }
    })
    const session = startSession(ua, aor, { stream, video, iceServers: this.init.iceServers ?? [], eventHandlers: call.handlers })
    call.attach(session, false)
    if (call.state !== 'ended') this.active.set(call.id, call)
    this.emit('call:outgoing', call)
    return call
  }

  async sendMessage (target: string, body: string, options: { signal?: AbortSignal, identityKey?: string } = {}): Promise<SentMessage> {
    const aor = normalizeAor(target)
    const ua = this.requireUa()
    checkMessageBody(body)
    const signal = this.setupSignal(options.signal, SEND_MESSAGE_TIMEOUT_MS)
    let recipient: SentMessage['recipient']
    try {
      await this.transport.prepare(aor, {
        signal,
        ...(options.identityKey != null ? { identityKey: options.identityKey } : {}),
        check: record => {
          const trustLevel = this.judge(aor, record.certificate)
          this.checkPinned(aor, record.certificate.key)
          recipient = { identityKey: record.certificate.key, issuer: record.certificate.issuer, ...(trustLevel != null ? { trustLevel } : {}) }
        }
      })
    } catch (err) {
      throw this.setupError(err, signal, options.signal)
    }
    const { result, callId } = sendTextMessage(ua, aor, body, e => {
      const status = e.response?.status_code
      if (status == null || status === 408 || status === 480 || status === 404 || status === 503) {
        return new CallFailedError(`The message could not be delivered to ${aor} (${status ?? e.cause ?? 'no response'})`)
      }
      return new MessageRejectedError(`${aor} refused the message: ${status} ${e.response?.reason_phrase ?? ''}`.trim(), status)
    })
    try {
      await raceSignal(result, signal)
    } catch (err) {
      throw this.setupError(err, signal, options.signal)
    }
    const id = callId ?? `msg-${Date.now()}`
    // the first 2xx resolved us; count the other devices for a moment
    const outcome = callId != null ? this.transport.forkOutcome(callId, 'MESSAGE') : undefined
    let deliveredTo = 1
    if (outcome != null) {
      const settled = await Promise.race([outcome, sleep(MESSAGE_SETTLE_MS + 500)])
      if (settled != null) deliveredTo = Math.max(1, settled.delivered)
    }
    return { id, to: aor, deliveredTo, ...(recipient != null ? { recipient } : {}) }
  }

  // ---- internals ----

  private requireUa (): UA {
    if (this.ua == null) throw new PhoneNotStartedError()
    return this.ua
  }

  private onNewSession (e: { originator: string, session: any, request: JsSipIncomingRequest }): void {
    if (e.originator !== 'remote') return
    const session = e.session as SessionLike
    const request = e.request
    const origin = this.transport.origin(request.call_id)
    const claimed = claimedAor(request)
    const remote = this.withTrust(partyFrom(origin, claimed, request.from?.display_name))
    const call = new PeerlineCall({
      id: `in-${++this.nextCallId}`,
      direction: 'incoming',
      remote,
      media: this.media,
      ...(this.init.iceServers != null ? { iceServers: this.init.iceServers } : {}),
      iceGatheringTimeoutMs: this.init.iceGatheringTimeoutMs ?? ICE_GATHERING_TIMEOUT_MS,
      peers: origin != null ? [origin.peerId] : [],
      onEnded: c => { this.active.delete(c.id) }
    })
    call.attach(session, true)
    this.active.set(call.id, call)
    this.emit('call:incoming', call)
  }

  private onNewMessage (e: { originator: string, request: JsSipIncomingRequest }): void {
    if (e.originator !== 'remote') return
    const request = e.request
    const origin = this.transport.origin(request.call_id)
    const message: IncomingMessage = {
      id: request.call_id,
      from: this.withTrust(partyFrom(origin, claimedAor(request), request.from?.display_name)),
      body: request.body ?? '',
      contentType: request.getHeader('Content-Type') ?? 'text/plain',
      receivedAt: Date.now()
    }
    this.emit('message:incoming', message)
  }

  /**
   * Outgoing: the key in `aor`'s location record against the pin. Throws
   * KeyChangedError for a changed key (nothing is dialled); pins a new one.
   */
  private checkPinned (aor: string, key: string): RemoteParty['trust'] {
    const trust = this.init.trust
    if (trust == null) return undefined
    const check = trust.check(aor, key)
    if (check.status === 'changed') {
      throw new KeyChangedError({ aor, previousKey: check.pinnedKey ?? '', newKey: key })
    }
    if (check.status === 'new') this.pinLater(aor, key)
    return check.status
  }

  /** TrustStore.judge() of a certificate whose signatures checked out (undefined without a trust store). */
  private judge (aor: string, cert: { key: string, issuer: string }): TrustLevel | undefined {
    const trust = this.init.trust
    if (trust == null || !trust.loaded) return undefined
    try {
      const level = trust.judge(aor, { key: cert.key, issuer: cert.issuer })
      // pinned on first contact in this very session: nothing known about the key yet
      if (level.level === 'known-key' && level.since >= this.startedAt) return { level: 'unverified', key: level.key }
      return level
    } catch (err) {
      log.error('judging the key of %s failed: %s', aor, (err as Error).message)
      return undefined
    }
  }

  /** Incoming: marks an authenticated party with what the trust store says (judged before a first contact's key is pinned). */
  private withTrust (party: RemoteParty): RemoteParty {
    const trust = this.init.trust
    if (trust == null || !party.authenticated || party.identityKey == null) return party
    try {
      const trustLevel = this.judge(party.aor, { key: party.identityKey, issuer: party.issuer ?? party.identityKey })
      const check = trust.check(party.aor, party.identityKey)
      if (check.status === 'new') this.pinLater(party.aor, party.identityKey)
      if (check.status === 'changed') log('%s presents a key other than the pinned one', party.aor)
      return { ...party, trust: check.status, ...(trustLevel != null ? { trustLevel } : {}) }
    } catch (err) {
      log.error('trust check for %s failed: %s', party.aor, (err as Error).message)
      return party
    }
  }

  private pinLater (aor: string, key: string): void {
    this.init.trust?.pinOnFirstUse(aor, key).catch(err => { log.error('cannot pin the key of %s: %s', aor, (err as Error).message) })
  }

  private setupSignal (caller: AbortSignal | undefined, ms: number): AbortSignal {
    return AbortSignal.any([AbortSignal.timeout(ms), this.shutdown.signal, ...(caller != null ? [caller] : [])])
  }

  /** The caller's abort stays an AbortError; our own time bound becomes a sentence. */
  private setupError (err: unknown, signal: AbortSignal, caller?: AbortSignal): Error {
    if (caller?.aborted === true) return (caller.reason as Error) ?? err
    if (signal.aborted && (err as Error)?.name !== 'NotFoundError') {
      if (this.shutdown.signal.aborted) return new PhoneNotStartedError('The phone was stopped')
      return new CallFailedError('Nobody could be reached in time')
    }
    return err as Error
  }

  private emit<K extends keyof PhoneEvents> (type: K, detail: PhoneEvents[K]['detail']): void {
    dispatchSafely(this, type, detail, log)
  }

  private guard (what: string, fn: () => void): void {
    guarded(log, what, fn)
  }
}

/** Creates the phone; `start()` it after the overlay has started. */
export function phone (init: PhoneInit, components: PhoneComponents): PeerlinePhone {
  return new PeerlinePhone(init, components)
}

/** A RemoteParty from what the stream proved; the claimed name is only a hint. */
function partyFrom (origin: RequestOrigin | undefined, claimed: string, displayName?: string): RemoteParty {
  const name = displayName ?? origin?.displayName ?? ''
  if (origin == null) {
    return { aor: claimed, displayName: name, authenticated: false, unverifiedReason: 'NoCertificate' }
  }
  const v = origin.verification
  return {
    aor: origin.claimedAor ?? claimed,
    displayName: name,
    authenticated: v.authenticated,
    ...(!v.authenticated ? { unverifiedReason: v.reason } : { identityKey: v.identityKey, issuer: v.issuer }),
    peerId: origin.peerId
  }
}

function claimedAor (request: JsSipIncomingRequest): string {
  const uri = request.from?.uri?.toString() ?? ''
  try {
    return normalizeAor(uri)
  } catch {
    return uri
  }
}
