/**
 * Size: one file on purpose. It is one class, the state machine and the JsSIP
 * event mapping it guards; pieces of it apart would each see half a transition.
 *
 * One call: the Call contract of api.ts on top of a JsSIP RTCSession.
 *
 *   outgoing:  calling ──1xx──▶ ringing ──2xx──▶ active ◀──▶ held
 *   incoming:  incoming ──answer()──▶ active ◀──▶ held
 *   calling | ringing | incoming | active | held ──▶ ended
 *
 * transition() is the only way the state changes and refuses anything not in
 * that diagram (InvalidStateError). JsSIP's session events are mapped here,
 * once; the PWA and the extension see only typed events.
 *
 * (A little over 500 lines: the state machine, the end-cause mapping and
 * PeerlineCall are one call's lifecycle, and each is short; they stay
 * together so the diagram above describes the whole file.)
 */
import { TypedEventEmitter } from 'main-event'
import { reasonCause } from './message.ts'
import { dispatchSafely, guarded } from '../util/events.ts'
import { logger } from '../util/logger.ts'
import { CALL_BACK_PHRASE, DEVICE_REVOKED_PHRASE, ICE_GATHERING_TIMEOUT_MS, NO_ANSWER_TIMEOUT_MS } from './constants.ts'
import { CallFailedError, InvalidStateError } from './errors.ts'
import { StateMachine } from './state-machine.ts'
import type { Call, CallEnd, CallEndReason, CallEvents, CallState, CallTimings, MediaAdapter, RemoteParty } from './api.ts'

const log = logger('sip:call')

/** Bound on a re-INVITE (hold, video) or an answer getting through. */
const RENEGOTIATION_TIMEOUT_MS = 15_000
/** How often a media change waits for the previous re-INVITE to be confirmed. */
const RENEGOTIATION_RETRY_MS = 100

/** The legal moves of the call state machine. */
export const CALL_TRANSITIONS: Readonly<Record<CallState, readonly CallState[]>> = {
  calling: ['ringing', 'active', 'ended'],
  ringing: ['active', 'ended'],
  incoming: ['active', 'ended'],
  active: ['held', 'ended'],
  held: ['active', 'ended'],
  ended: []
}

/**
 * The call state machine on its own (unit-testable).
 * `transition(to)` returns false for a move to the current state (a repeated
 * 180, a second 'confirmed'), throws InvalidStateError for an illegal one.
 */
export class CallStateMachine extends StateMachine<CallState> {
  constructor (initial: CallState) {
    super(CALL_TRANSITIONS, initial, 'call')
  }
}

/** What ended a JsSIP session, as its 'ended'/'failed' events say. */
export interface SessionEndInfo {
  originator: 'local' | 'remote' | 'system'
  cause: string
  /** status of the final response, when one ended it */
  status?: number
  /** the cause of the Reason header of a received CANCEL/BYE (RFC 3326) */
  reasonCause?: number
  /** the reason phrase of the final response ("Device revoked" for a revoked caller) */
  reasonPhrase?: string
}

const MESSAGES: Record<CallEndReason, string> = {
  hangup: 'Call ended',
  'remote-hangup': 'The other side hung up',
  declined: 'The call was declined',
  busy: 'Busy',
  cancelled: 'Call cancelled',
  'remote-cancelled': 'The caller hung up',
  'no-answer': 'No answer',
  'answered-elsewhere': 'Answered on another device',
  unreachable: 'Could not be reached',
  failed: 'The call failed'
}

/**
 * Maps how a session ended to a CallEnd (pure; unit-tested).
 * `established` is true for JsSIP's 'ended' (after 2xx), false for 'failed'.
 */
export function callEndFrom (info: SessionEndInfo, direction: 'outgoing' | 'incoming', established: boolean): CallEnd {
  const make = (reason: CallEndReason, message = MESSAGES[reason], status = info.status): CallEnd =>
    ({ reason, message, ...(status != null ? { status } : {}) })
  const cause = info.cause
  if (established) {
    if (info.originator === 'remote') return make('remote-hangup')
    if (info.originator === 'local') return make('hangup')
    if (cause === 'RTP Timeout') return make('failed', 'The media connection was lost')
    if (cause === 'No ACK') return make('failed', 'The caller never confirmed the answer')
    return make('failed', `The call failed (${cause})`)
  }
  if (info.originator === 'local') {
    if (cause === 'Canceled') return make('cancelled')
    if (cause === 'Rejected') return make('declined', direction === 'incoming' ? 'Declined' : MESSAGES.declined)
    if (cause === 'No Answer') return make('no-answer', 'Missed call', info.status ?? 408)
    if (cause === 'User Denied Media Access') return make('failed', 'Microphone or camera access was denied')
    return make('failed', `The call failed (${cause})`)
  }
  if (direction === 'incoming' && cause === 'Canceled') {
    const rc = info.reasonCause
    if (rc === 200) return make('answered-elsewhere', MESSAGES['answered-elsewhere'], 200)
    if (rc != null && rc >= 600) return make('declined', 'Declined on another device', rc)
    return make('remote-cancelled')
  }
  const s = info.status
  if (s != null) {
    if (s === 403 && info.reasonPhrase === DEVICE_REVOKED_PHRASE) {
      return make('failed', 'Calls from this device are refused: its identity\'s owner removed it from the linked devices')
    }
    if (s === 480 && info.reasonPhrase === CALL_BACK_PHRASE) return make('declined', 'They will call you back from another device')
    if (s === 486 || s === 600) return make('busy')
    if (s === 603 || s === 403) return make('declined')
    if (s === 487) return make('cancelled')
    if (s === 408) return make('no-answer')
    if (s === 404 || s === 410 || s === 480 || s === 503 || s === 604) return make('unreachable')
    return make('failed', `The call failed (${s})`)
  }
  if (cause === 'Request Timeout' || cause === 'Connection Error') return make('unreachable')
  if (cause === 'No Answer') return make('no-answer')
  return make('failed', `The call failed (${cause})`)
}

/** The subset of JsSIP's RTCSession a Call drives (typed here, so JsSIP's types stay in one place). */
export interface SessionLike {
  on: (event: string, listener: (...args: any[]) => void) => unknown
  answer: (options?: Record<string, unknown>) => void
  terminate: (options?: Record<string, unknown>) => void
  sendDTMF: (tones: string, options?: Record<string, unknown>) => void
  hold: (options?: Record<string, unknown>, done?: () => void) => boolean
  unhold: (options?: Record<string, unknown>, done?: () => void) => boolean
  renegotiate: (options?: Record<string, unknown>, done?: () => void) => boolean
  mute: (options?: { audio?: boolean, video?: boolean }) => void
  unmute: (options?: { audio?: boolean, video?: boolean }) => void
  isEnded: () => boolean
  readonly connection?: RTCPeerConnection | null
}

export interface CallInit {
  id: string
  direction: 'outgoing' | 'incoming'
  remote: RemoteParty
  media: MediaAdapter
  iceServers?: RTCIceServer[]
  iceGatheringTimeoutMs?: number
  /** outgoing: stop ringing (CANCEL) after this long */
  noAnswerTimeoutMs?: number
  localStream?: MediaStream
  video?: boolean
  timings?: CallTimings
  /** device peer ids this call involves (their SIP streams are kept open) */
  peers?: string[]
  /** told once, when the call ends */
  onEnded?: (call: PeerlineCall) => void
  /** outgoing: who answered (asked when the 2xx arrives) */
  answeredBy?: () => Partial<RemoteParty> | undefined
}

export class PeerlineCall extends TypedEventEmitter<CallEvents> implements Call {
  readonly id: string
  readonly direction: 'outgoing' | 'incoming'
  remote: RemoteParty
  readonly startedAt = Date.now()
  answeredAt?: number
  endedAt?: number
  end?: CallEnd
  readonly timings: CallTimings
  localStream?: MediaStream
  remoteStream?: MediaStream
  peerConnection?: RTCPeerConnection
  muted = false
  held = false
  /** the other side put the call on hold */
  remoteHeld = false
  video: boolean
  peers: string[]
  private session?: SessionLike
  private readonly machine: CallStateMachine
  private readonly init: CallInit
  private noAnswerTimer?: ReturnType<typeof setTimeout>
  private iceTimer?: ReturnType<typeof setTimeout>
  private iceReady?: () => void
  private iceStart?: number
  private sipStart?: number
  /** set right before we end the call ourselves for a reason JsSIP cannot tell */
  private pendingEnd?: CallEnd

  constructor (init: CallInit) {
    super()
    this.init = init
    this.id = init.id
    this.direction = init.direction
    this.remote = init.remote
    this.timings = init.timings ?? {}
    this.video = init.video ?? false
    this.peers = init.peers ?? []
    if (init.localStream != null) this.localStream = init.localStream
    this.machine = new CallStateMachine(init.direction === 'outgoing' ? 'calling' : 'incoming')
    if (init.direction === 'outgoing') {
      this.iceStart = Date.now()
      this.noAnswerTimer = setTimeout(() => { this.noAnswer() }, init.noAnswerTimeoutMs ?? NO_ANSWER_TIMEOUT_MS)
    }
  }

  get state (): CallState { return this.machine.state }

  /**
   * JsSIP event handlers for this call: passed as `eventHandlers` to
   * `ua.call()` (some fire before it returns) or attached with attach().
   */
  readonly handlers: Record<string, (...args: any[]) => void> = {
    peerconnection: (e: { peerconnection: RTCPeerConnection }) => { this.guard('peerconnection', () => { this.onPeerConnection(e.peerconnection) }) },
    icecandidate: (e: { ready: () => void }) => { this.guard('icecandidate', () => { this.onIceCandidate(e.ready) }) },
    sdp: (e: { originator: string }) => {
      if (e.originator === 'local' && this.iceStart != null && this.timings.iceMs == null) this.timings.iceMs = Date.now() - this.iceStart
    },
    sending: () => { this.sipStart = Date.now() },
    progress: (e: { originator: string }) => {
      this.guard('progress', () => { if (e.originator === 'remote' && this.state === 'calling') this.move('ringing') })
    },
    accepted: () => { this.guard('accepted', () => { this.onAccepted() }) },
    confirmed: () => { this.guard('confirmed', () => { if (this.state !== 'held') this.onAccepted() }) },
    hold: (e: { originator: string }) => { this.guard('hold', () => { this.onHold(e.originator, true) }) },
    unhold: (e: { originator: string }) => { this.guard('unhold', () => { this.onHold(e.originator, false) }) },
    newDTMF: (e: { originator: string, dtmf: { tone: string } }) => {
      // tones a remote UA sent by SIP INFO (RFC 4733 tones travel in RTP, unseen by SIP)
      this.guard('dtmf', () => { if (e.originator === 'remote') this.emit('dtmf', { tone: String(e.dtmf.tone), direction: 'in' }) })
    },
    ended: (e: { originator: SessionEndInfo['originator'], cause: string, message?: unknown }) => {
      this.guard('ended', () => { this.finish(e, true) })
    },
    failed: (e: { originator: SessionEndInfo['originator'], cause: string, message?: unknown }) => {
      this.guard('failed', () => { this.finish(e, false) })
    }
  }

  /** Binds the JsSIP session; for incoming calls also subscribes the handlers. */
  attach (session: SessionLike, subscribe: boolean): void {
    this.session = session
    if (subscribe) for (const [name, fn] of Object.entries(this.handlers)) session.on(name, fn)
    if (session.connection != null && this.peerConnection == null) this.onPeerConnection(session.connection)
  }

  async answer (options: { video?: boolean } = {}): Promise<void> {
    if (this.direction !== 'incoming' || this.state !== 'incoming') throw new InvalidStateError(`Cannot answer a call that is ${this.direction === 'outgoing' ? 'outgoing' : this.state}`)
    const session = this.requireSession()
    const video = options.video ?? false
    const stream = await this.init.media.getUserMedia({ audio: true, video })
    if (this.state !== 'incoming') {
      stopTracks(stream)
      throw new InvalidStateError(`The call ended while the microphone was being opened (${this.end?.reason ?? this.state})`)
    }
    this.localStream = stream
    this.video = video
    this.iceStart = Date.now()
    const settled = this.waitFor(s => s === 'active', RENEGOTIATION_TIMEOUT_MS)
    try {
      session.answer({
        mediaStream: stream,
        mediaConstraints: { audio: true, video },
        pcConfig: { iceServers: this.init.iceServers ?? [] }
      })
    } catch (err) {
      settled.catch(() => {})
      throw new CallFailedError(`Cannot answer: ${(err as Error).message}`)
    }
    await settled
  }

  decline (options: { callBack?: boolean } = {}): void {
    if (this.state === 'ended') return
    if (this.direction !== 'incoming' || this.state !== 'incoming') throw new InvalidStateError(`Only a ringing incoming call can be declined (this one is ${this.state})`)
    this.terminate(options.callBack === true ? { status_code: 480, reason_phrase: CALL_BACK_PHRASE } : { status_code: 603, reason_phrase: 'Decline' })
  }

  hangup (): void {
    if (this.state === 'ended') return
    if (this.state === 'incoming') {
      this.decline()
      return
    }
    this.terminate()
  }

  setMuted (muted: boolean): void {
    if (this.state === 'ended') throw new InvalidStateError('The call has ended')
    if (muted === this.muted) return
    for (const t of this.localStream?.getAudioTracks() ?? []) t.enabled = !muted
    try {
      if (this.session != null && this.peerConnection != null) {
        if (muted) this.session.mute({ audio: true })
        else this.session.unmute({ audio: true })
      }
    } catch (err) {
      log('JsSIP mute failed (tracks are toggled anyway): %s', (err as Error).message)
    }
    this.muted = muted
    this.emit('muted', muted)
  }

  async setHeld (held: boolean): Promise<void> {
    if (this.state !== 'active' && this.state !== 'held') throw new InvalidStateError(`Cannot ${held ? 'hold' : 'resume'} a call that is ${this.state}`)
    if (held === this.held) return
    const session = this.requireSession()
    await this.renegotiate(done => held ? session.hold({}, done) : session.unhold({}, done))
    // JsSIP emits 'hold'/'unhold' before calling done; make sure either way
    this.onHold('local', held)
  }

  async setVideo (video: boolean): Promise<void> {
    if (this.state !== 'active') throw new InvalidStateError(`Video can be switched only on an active call (this one is ${this.state})`)
    if (video === this.video) return
    const pc = this.peerConnection
    const session = this.requireSession()
    if (pc == null) throw new InvalidStateError('The call has no media connection yet')
    const transceiver = pc.getTransceivers().find(t => t.receiver.track?.kind === 'video' && t.currentDirection !== 'stopped')
    if (video) {
      const stream = await this.init.media.getUserMedia({ video: true })
      const track = stream.getVideoTracks()[0]
      if (track == null) throw new CallFailedError('No camera track was provided')
      if (this.localStream != null) this.localStream.addTrack(track)
      else this.localStream = stream
      if (transceiver != null) {
        await transceiver.sender.replaceTrack(track)
        transceiver.direction = 'sendrecv'
      } else {
        pc.addTrack(track, this.localStream)
      }
    } else {
      for (const t of this.localStream?.getVideoTracks() ?? []) {
        t.stop()
        this.localStream?.removeTrack(t)
      }
      for (const tr of pc.getTransceivers()) {
        if (tr.sender.track?.kind === 'video' || tr === transceiver) {
          await tr.sender.replaceTrack(null)
          if (tr.direction === 'sendrecv' || tr.direction === 'sendonly') tr.direction = tr.direction === 'sendrecv' ? 'recvonly' : 'inactive'
        }
      }
    }
    await this.renegotiate(done => session.renegotiate({}, done))
    this.video = video
    this.emit('video', video)
  }

  sendDtmf (tones: string): void {
    if (!/^[0-9*#A-Da-d]+$/.test(tones)) throw new RangeError('DTMF tones are 0-9, *, # and A-D')
    if (this.state !== 'active') throw new InvalidStateError(`DTMF needs an active call (this one is ${this.state})`)
    // RFC 4733 telephone-events in the RTP stream, not SIP INFO: works with any gateway
    this.requireSession().sendDTMF(tones, { transportType: 'RFC2833' })
    // JsSIP reports only SIP INFO tones; RFC 4733 ones are ours to announce
    for (const tone of tones.toUpperCase()) this.emit('dtmf', { tone, direction: 'out' })
  }

  duration (): number {
    if (this.answeredAt == null) return 0
    return (this.endedAt ?? Date.now()) - this.answeredAt
  }

  // ---- internals ----

  private requireSession (): SessionLike {
    if (this.session == null) throw new InvalidStateError('The call has no SIP session yet')
    return this.session
  }

  private terminate (options?: Record<string, unknown>): void {
    try {
      this.requireSession().terminate(options)
    } catch (err) {
      // JsSIP refuses once the session is over; end ours so the UI never hangs
      log('terminate: %s', (err as Error).message)
      if (this.state !== 'ended') this.finishWith(this.pendingEnd ?? callEndFrom({ originator: 'local', cause: 'Canceled' }, this.direction, this.answeredAt != null))
    }
  }

  private noAnswer (): void {
    if (this.state !== 'calling' && this.state !== 'ringing') return
    this.pendingEnd = { reason: 'no-answer', message: MESSAGES['no-answer'], status: 408 }
    this.terminate()
  }

  private onPeerConnection (pc: RTCPeerConnection): void {
    if (this.peerConnection === pc) return
    this.peerConnection = pc
    pc.addEventListener('track', (event: RTCTrackEvent) => {
      this.guard('track', () => {
        let stream = event.streams[0]
        if (stream == null) {
          const Ctor = (globalThis as { MediaStream?: new (tracks?: MediaStreamTrack[]) => MediaStream }).MediaStream
          if (this.remoteStream != null) {
            this.remoteStream.addTrack(event.track)
            stream = this.remoteStream
          } else if (Ctor != null) {
            stream = new Ctor([event.track])
          }
        }
        if (stream == null) return
        this.remoteStream = stream
        this.emit('remote-stream', stream)
      })
    })
  }

  private onIceCandidate (ready: () => void): void {
    if (this.iceReady === ready) return
    // a new gathering round (first offer/answer, or a re-INVITE): bound it
    this.iceReady = ready
    clearTimeout(this.iceTimer)
    this.iceTimer = setTimeout(() => { ready() }, this.init.iceGatheringTimeoutMs ?? ICE_GATHERING_TIMEOUT_MS)
  }

  private onAccepted (): void {
    if (this.state === 'active' || this.state === 'ended') return
    this.answeredAt ??= Date.now()
    clearTimeout(this.noAnswerTimer)
    if (this.direction === 'outgoing') {
      if (this.sipStart != null) this.timings.sipMs = Date.now() - this.sipStart
      const who = this.init.answeredBy?.()
      if (who != null) {
        this.remote = { ...this.remote, ...who }
        if (who.authenticated) delete this.remote.unverifiedReason
      }
    }
    this.move('active')
  }

  private onHold (originator: string, on: boolean): void {
    if (this.state === 'ended') return
    if (originator === 'local') {
      if (this.held === on) return
      this.held = on
      this.emit('held', on)
    } else {
      this.remoteHeld = on
    }
    const want: CallState = this.held || this.remoteHeld ? 'held' : 'active'
    if (this.state === 'active' || this.state === 'held') this.move(want)
  }

  private finish (e: { originator: SessionEndInfo['originator'], cause: string, message?: unknown }, established: boolean): void {
    if (this.state === 'ended') return
    const msg = e.message as { status_code?: number, reason_phrase?: string, getHeader?: (n: string) => string | undefined } | null | undefined
    const info: SessionEndInfo = { originator: e.originator, cause: e.cause }
    if (typeof msg?.status_code === 'number') info.status = msg.status_code
    if (typeof msg?.reason_phrase === 'string') info.reasonPhrase = msg.reason_phrase
    if (typeof msg?.getHeader === 'function') {
      const rc = reasonCause(msg.getHeader('Reason'))
      if (rc != null) info.reasonCause = rc
    }
    this.finishWith(this.pendingEnd ?? callEndFrom(info, this.direction, established))
  }

  private finishWith (end: CallEnd): void {
    if (this.state === 'ended') return
    this.end = end
    this.endedAt = Date.now()
    clearTimeout(this.noAnswerTimer)
    clearTimeout(this.iceTimer)
    if (this.localStream != null) stopTracks(this.localStream)
    this.move('ended')
    this.emit('ended', end)
    try {
      this.init.onEnded?.(this)
    } catch (err) {
      log.error('onEnded: %s', (err as Error).message)
    }
  }

  private move (to: CallState): void {
    if (this.machine.transition(to)) this.emit('state', to)
  }

  private emit<K extends keyof CallEvents> (type: K, detail: CallEvents[K]['detail']): void {
    // a throwing UI listener must not break the SIP state
    dispatchSafely(this, type, detail, log)
  }

  private guard (what: string, fn: () => void): void {
    guarded(log, `JsSIP ${what}`, fn)
  }

  private async waitFor (pred: (s: CallState) => boolean, ms: number): Promise<void> {
    if (pred(this.state)) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { cleanup(); reject(new CallFailedError('The call did not get through in time')) }, ms)
      const onState = (): void => {
        if (pred(this.state)) { cleanup(); resolve() } else if (this.state === 'ended') {
          cleanup()
          reject(new CallFailedError(this.end?.message ?? 'The call ended'))
        }
      }
      const cleanup = (): void => { clearTimeout(timer); this.removeEventListener('state', onState) }
      this.addEventListener('state', onState)
    })
  }

  private async renegotiate (start: (done: () => void) => boolean): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      // JsSIP refuses a new offer while the previous re-INVITE is still being
      // confirmed (a Resume pressed right after Hold): wait for it, within the
      // same deadline, instead of failing
      const attempt = (): void => {
        let started: boolean
        try {
          started = start(() => { cleanup(); resolve() })
        } catch (err) {
          cleanup()
          reject(new CallFailedError(`Cannot renegotiate: ${(err as Error).message}`))
          return
        }
        if (!started) {
          if (this.state === 'ended') return
          retry = setTimeout(attempt, RENEGOTIATION_RETRY_MS)
        }
      }
      let retry: ReturnType<typeof setTimeout> | undefined
      const timer = setTimeout(() => { cleanup(); reject(new CallFailedError('The other side did not confirm the change in time')) }, RENEGOTIATION_TIMEOUT_MS)
      const onState = (): void => {
        if (this.state === 'ended') { cleanup(); reject(new CallFailedError(this.end?.message ?? 'The call ended')) }
      }
      const cleanup = (): void => { clearTimeout(timer); clearTimeout(retry); this.removeEventListener('state', onState) }
      this.addEventListener('state', onState)
      attempt()
    })
  }
}

function stopTracks (stream: MediaStream): void {
  for (const t of stream.getTracks()) {
    try {
      t.stop()
    } catch { /* already stopped */ }
  }
}
