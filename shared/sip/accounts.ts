/**
 * A SIP account: one JsSIP user agent REGISTERed over a WebSocket (RFC 7118)
 * with an ordinary SIP server (a PBX, a provider), next to the overlay phone.
 *
 * ```ts
 * const acct = sipAccount({ settings: validateAccount({ address: '1001@pbx.example.com', wsUrl: 'wss://pbx.example.com:8089/ws', password }) })
 * acct.addEventListener('status', e => show(e.detail.state, e.detail.error?.name))
 * acct.addEventListener('call:incoming', e => ring(e.detail))   // e.detail.remote.via === '1001@pbx.example.com'
 * await acct.start()
 * await acct.sendMessage('1002', 'hi')                         // 1002@pbx.example.com
 * ```
 *
 * Registration (the states of api.ts AccountState):
 *
 *   unregistered ─start()─▶ registering ─200─▶ registered
 *        ▲                     │   ▲              │
 *        │      401/403 again, │   │ reconnect,   │ WebSocket closed,
 *      stop()   socket lost,   ▼   │ retry timer  │ refresh refused
 *        └──────────────────  failed ◀────────────┘
 *
 * JsSIP reconnects the WebSocket itself (connection_recovery_min/max_interval,
 * randomised doubling) and REGISTERs again on every connect; a REGISTER that
 * timed out or got 408/480/5xx is retried here with shared/util/backoff.
 * AuthenticationFailedError is final until the settings change.
 *
 * Who calls or writes through an account is whatever that server says
 * (P-Asserted-Identity, else From): RemoteParty.via is set, `authenticated`
 * is false, and the UI shows "Via <account>", never "Verified".
 */
import { UA, WebSocketInterface } from 'jssip'
import { TypedEventEmitter } from 'main-event'
import { normalizeAor } from '../identity/index.ts'
import { raceSignal } from '../util/async.ts'
import { backoff } from '../util/backoff.ts'
import type { Backoff } from '../util/backoff.ts'
import { dispatchSafely, guarded } from '../util/events.ts'
import { logger } from '../util/logger.ts'
import { accountTarget } from './account-settings.ts'
import type { ValidSipAccount } from './account-settings.ts'
import { PeerlineCall } from './call.ts'
import type { SessionLike } from './call.ts'
import {
  ACCOUNT_RECONNECT_MAX_S, ACCOUNT_RECONNECT_MIN_S, ACCOUNT_REGISTER_EXPIRES_S, ACCOUNT_REGISTER_TIMEOUT_MS, ACCOUNT_REREGISTER_MAX_MS,
  ICE_GATHERING_TIMEOUT_MS, NO_ANSWER_TIMEOUT_MS, SEND_MESSAGE_TIMEOUT_MS, STOP_TIMEOUT_MS
} from './constants.ts'
import {
  AccountUnreachableError, AuthenticationFailedError, InvalidAccountError, MessageRejectedError, PhoneNotStartedError, RegistrationRejectedError
} from './errors.ts'
import { checkMessageBody, clearTimersOnDestroy, defaultMedia, releaseJsSipTimers, sendTextMessage, startSession, withRoute } from './jssip-util.ts'
import { parseNameAddr } from './message.ts'
import type { JsSipSocket } from './jssip-util.ts'
import type { AccountState, AccountStatus, Call, IncomingMessage, MediaAdapter, RemoteParty, SentMessage, SipAccountEvents } from './api.ts'

const log = logger('sip:account')

export type { JsSipSocket } from './jssip-util.ts'

/** Room left in a WebSocket frame for the MESSAGE's headers. */

export interface SipAccountInit {
  settings: ValidSipAccount
  iceServers?: RTCIceServer[]
  iceGatheringTimeoutMs?: number
  noAnswerTimeoutMs?: number
  userAgent?: string
  /** REGISTER expiry asked for (default ACCOUNT_REGISTER_EXPIRES_S) */
  registerExpiresS?: number
  /** WebSocket reconnect bounds in whole seconds (default ACCOUNT_RECONNECT_MIN_S / _MAX_S) */
  reconnectMinS?: number
  reconnectMaxS?: number
  /** a REGISTER unanswered this long shows as unreachable (default ACCOUNT_REGISTER_TIMEOUT_MS) */
  registerTimeoutMs?: number
  /** first and largest delay of the re-REGISTER back-off (default 500 ms / ACCOUNT_REREGISTER_MAX_MS) */
  reregisterInitialMs?: number
  reregisterMaxMs?: number
}


export interface SipAccountComponents {
  media?: MediaAdapter
  /** the WebSocket to the server; default JsSIP's WebSocketInterface (the environment's WebSocket) */
  socket?: (url: string) => JsSipSocket
}

interface JsSipRequest {
  call_id: string
  body?: string
  from?: { display_name?: string, uri?: { toString: () => string } }
  getHeader: (name: string) => string | undefined
}

interface JsSipResponse { status_code?: number, reason_phrase?: string }

/** JsSIP's registrationFailed and failed causes we tell apart (JsSIP.C.causes). */
const CAUSE = { AUTH: 'Authentication Error', REJECTED: 'Rejected', TIMEOUT: 'Request Timeout', CONNECTION: 'Connection Error' } as const

export class SipAccount extends TypedEventEmitter<SipAccountEvents> {
  readonly settings: ValidSipAccount
  private readonly init: SipAccountInit
  private readonly media: MediaAdapter
  private readonly makeSocket: (url: string) => JsSipSocket
  private ua?: UA
  private stopping = false
  /** the server refused the credentials: no REGISTER until register() (or new settings) */
  private authFailed = false
  private current: AccountStatus = { state: 'unregistered', reconnectAttempts: 0 }
  private readonly retry: Backoff
  private retryTimer?: ReturnType<typeof setTimeout>
  private registerTimer?: ReturnType<typeof setTimeout>
  private readonly active = new Map<string, PeerlineCall>()
  private nextCallId = 0
  private shutdown = new AbortController()

  constructor (init: SipAccountInit, components: SipAccountComponents = {}) {
    super()
    this.init = init
    this.settings = init.settings
    this.media = components.media ?? defaultMedia
    this.makeSocket = components.socket ?? (url => new WebSocketInterface(url) as unknown as JsSipSocket)
    this.retry = backoff({ initialMs: init.reregisterInitialMs ?? 500, maxMs: init.reregisterMaxMs ?? ACCOUNT_REREGISTER_MAX_MS })
  }

  get id (): string { return this.settings.id }
  get address (): string { return this.settings.address }
  get status (): AccountStatus { return { ...this.current } }
  get state (): AccountState { return this.current.state }

  /** Connects and (unless `register: false`) REGISTERs; progress and errors arrive as 'status' events. */
  async start (): Promise<void> {
    if (this.ua != null) return
    const s = this.settings
    this.stopping = false
    this.authFailed = false
    this.shutdown = new AbortController()
    this.retry.reset()
    let socket: JsSipSocket
    try {
      socket = this.makeSocket(s.wsUrl)
    } catch (err) {
      throw new AccountUnreachableError(`Cannot open ${s.wsUrl}: ${(err as Error).message}`)
    }
    if (s.outboundProxy != null) socket = withRoute(socket, s.outboundProxy)
    let ua: UA
    try {
      ua = this.makeUa(socket)
    } catch (err) {
      // JsSIP checks its configuration again (URIs, the digest user): validateAccount() should have caught it
      throw new InvalidAccountError('address', `The SIP library refused the account's settings: ${(err as Error).message}`)
    }
    clearTimersOnDestroy(ua)
    const on = (event: string, fn: (e: any) => void): void => {
      ua.on(event as any, (e: any) => { guarded(log, `${s.address} ${event}`, () => { if (this.ua === ua) fn(e) }) })
    }
    on('connecting', (e: { attempts?: number }) => { this.onConnecting(e.attempts ?? 0) })
    on('connected', () => { this.onConnected() })
    on('disconnected', (e: { code?: number, reason?: string }) => { this.onDisconnected(e) })
    on('registered', () => { this.onRegistered() })
    on('unregistered', () => { if (this.stopping) this.setStatus('unregistered') })
    on('registrationFailed', (e: { response?: JsSipResponse | null, cause?: string }) => { this.onRegistrationFailed(e.response ?? undefined, e.cause) })
    on('newRTCSession', (e: any) => { this.onNewSession(e) })
    on('newMessage', (e: any) => { this.onNewMessage(e) })
    this.ua = ua
    if (s.register !== false) this.setStatus('registering')
    ua.start()
    log('account %s starting (%s)', s.address, s.wsUrl)
  }

  private makeUa (socket: JsSipSocket): UA {
    const s = this.settings
    return new UA({
      sockets: [socket as any],
      uri: `sip:${s.address}`,
      authorization_user: s.authorizationUser,
      password: s.password,
      ...(s.displayName != null ? { display_name: s.displayName } : {}),
      register: s.register !== false,
      register_expires: this.init.registerExpiresS ?? ACCOUNT_REGISTER_EXPIRES_S,
      ...(s.registrar != null ? { registrar_server: s.registrar } : {}),
      use_preloaded_route: s.outboundProxy != null,
      connection_recovery_min_interval: this.init.reconnectMinS ?? ACCOUNT_RECONNECT_MIN_S,
      connection_recovery_max_interval: this.init.reconnectMaxS ?? ACCOUNT_RECONNECT_MAX_S,
      no_answer_timeout: Math.max(1, Math.round((this.init.noAnswerTimeoutMs ?? NO_ANSWER_TIMEOUT_MS) / 1000)),
      user_agent: this.init.userAgent ?? 'Peerline'
    })
  }

  /** Un-REGISTERs (bounded by STOP_TIMEOUT_MS), hangs up its calls and closes the WebSocket. */
  async stop (): Promise<void> {
    const ua = this.ua
    if (ua == null) return
    this.stopping = true
    this.shutdown.abort()
    this.clearTimers()
    for (const call of this.active.values()) call.hangup()
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
      // never connected: JsSIP has nothing to close and says nothing
      if (!ua.isConnected()) { clearTimeout(timer); resolve() }
    })
    this.ua = undefined
    releaseJsSipTimers(ua)
    this.setStatus('unregistered')
  }

  /**
   * REGISTERs again now (to skip the back-off, or after an
   * AuthenticationFailedError once the server side was fixed); with the
   * WebSocket down, on the next reconnect.
   */
  register (): void {
    const ua = this.requireUa()
    this.clearTimers()
    this.authFailed = false
    this.setStatus('registering')
    if (ua.isConnected()) this.armRegisterTimeout()
    // also turns JsSIP's register-on-connect back on
    ua.register()
  }

  calls (): Call[] {
    return [...this.active.values()]
  }

  /**
   * Calls `target` (an address, or an extension in the account's domain)
   * through the server, resolving with the Call in state 'calling'.
   */
  async call (target: string, options: { video?: boolean, signal?: AbortSignal } = {}): Promise<Call> {
    const aor = accountTarget(target, this.settings)
    const ua = this.requireUa()
    const video = options.video ?? false
    const signal = AbortSignal.any([this.shutdown.signal, ...(options.signal != null ? [options.signal] : [])])
    const stream = await raceSignal(this.media.getUserMedia({ audio: true, video }), signal)
    const call = new PeerlineCall({
      id: `${this.settings.id}:out-${++this.nextCallId}`,
      direction: 'outgoing',
      remote: this.party(aor, ''),
      media: this.media,
      ...(this.init.iceServers != null ? { iceServers: this.init.iceServers } : {}),
      iceGatheringTimeoutMs: this.init.iceGatheringTimeoutMs ?? ICE_GATHERING_TIMEOUT_MS,
      noAnswerTimeoutMs: this.init.noAnswerTimeoutMs ?? NO_ANSWER_TIMEOUT_MS,
      localStream: stream,
      video,
      onEnded: c => { this.active.delete(c.id) }
    })
    const session = startSession(ua, aor, { stream, video, iceServers: this.init.iceServers ?? [], eventHandlers: call.handlers })
    call.attach(session, false)
    if (call.state !== 'ended') this.active.set(call.id, call)
    this.emit('call:outgoing', call)
    return call
  }

  /** SIP MESSAGE through the server; resolves on its 2xx (`deliveredTo` 1: the server does not say more). */
  async sendMessage (target: string, body: string, options: { signal?: AbortSignal } = {}): Promise<SentMessage> {
    const aor = accountTarget(target, this.settings)
    const ua = this.requireUa()
    checkMessageBody(body)
    if (!ua.isConnected()) throw new AccountUnreachableError(`${this.settings.wsUrl} is not connected: the message was not sent`)
    const signal = AbortSignal.any([AbortSignal.timeout(SEND_MESSAGE_TIMEOUT_MS), this.shutdown.signal, ...(options.signal != null ? [options.signal] : [])])
    const { result, callId } = sendTextMessage(ua, aor, body, e => {
      const status = e.response?.status_code
      if (status == null) return new AccountUnreachableError(`The message to ${aor} got no answer from the server (${e.cause ?? 'no response'})`)
      if (status === 401 || status === 407) return new AuthenticationFailedError(`The server refused the account's credentials for the message (${status})`, status)
      return new MessageRejectedError(`${aor} refused the message: ${status} ${e.response?.reason_phrase ?? ''}`.trim(), status)
    })
    try {
      await raceSignal(result, signal)
    } catch (err) {
      if (options.signal?.aborted === true) throw options.signal.reason
      if (this.shutdown.signal.aborted) throw new PhoneNotStartedError('The account was stopped')
      if (signal.aborted) throw new AccountUnreachableError(`The server did not answer the message to ${aor} in time`)
      throw err
    }
    return { id: callId ?? `msg-${Date.now()}`, to: aor, deliveredTo: 1 }
  }

  // ---- registration ----

  private onConnecting (attempts: number): void {
    this.current.reconnectAttempts = attempts
  }

  private onConnected (): void {
    this.current.reconnectAttempts = 0
    // JsSIP REGISTERs on every connect (not after the credentials were refused)
    if (this.settings.register !== false && !this.authFailed) {
      this.clearTimers()
      this.setStatus('registering')
      this.armRegisterTimeout()
    }
  }

  private onDisconnected (e: { code?: number, reason?: string }): void {
    if (this.stopping) return
    this.clearTimers()
    const why = e.code != null && e.code !== 1000 ? ` (WebSocket closed, code ${e.code}${e.reason != null && e.reason !== '' ? ` ${e.reason}` : ''})` : ''
    // a wrong password stays the thing to fix, whatever the socket does
    if (this.authFailed) return
    this.setStatus('failed', new AccountUnreachableError(`Cannot reach ${this.settings.wsUrl}${why}: trying again`))
  }

  private onRegistered (): void {
    this.clearTimers()
    this.retry.reset()
    this.setStatus('registered')
  }

  private onRegistrationFailed (response: JsSipResponse | undefined, cause: string | undefined): void {
    if (this.stopping) return
    this.clearTimers()
    const status = response?.status_code
    const phrase = response?.reason_phrase ?? ''
    if (status === 401 || status === 407 || status === 403 || cause === CAUSE.AUTH) {
      this.authFailed = true
      // JsSIP would REGISTER again on every reconnect with the same credentials
      this.ua?.unregister()
      this.setStatus('failed', new AuthenticationFailedError(
        `${this.settings.wsUrl} refused the user name "${this.settings.authorizationUser}" or its password${status != null ? ` (${status} ${phrase})`.trimEnd() : ''}`, status))
      return
    }
    if (status == null) {
      // a lost WebSocket: JsSIP reconnects and REGISTERs on connect
      if (cause === CAUSE.CONNECTION) {
        this.setStatus('failed', new AccountUnreachableError(`Cannot reach ${this.settings.wsUrl}: trying again`))
        return
      }
      this.setStatus('failed', new AccountUnreachableError(`${this.settings.wsUrl} did not answer the registration (${cause ?? 'no response'})`))
      this.scheduleRetry()
      return
    }
    const error = new RegistrationRejectedError(`The server refused the registration: ${status} ${phrase}`.trimEnd(), status)
    this.setStatus('failed', error)
    if (status === 408 || status === 480 || status >= 500) this.scheduleRetry()
  }

  private armRegisterTimeout (): void {
    clearTimeout(this.registerTimer)
    this.registerTimer = setTimeout(() => {
      if (this.current.state !== 'registering') return
      const s = Math.round((this.init.registerTimeoutMs ?? ACCOUNT_REGISTER_TIMEOUT_MS) / 1000)
      // JsSIP's transaction keeps running: a late 200 still turns the account 'registered'
      this.setStatus('failed', new AccountUnreachableError(`${this.settings.wsUrl} did not answer the registration within ${s} s`))
    }, this.init.registerTimeoutMs ?? ACCOUNT_REGISTER_TIMEOUT_MS)
  }

  private scheduleRetry (): void {
    const delay = this.retry.next()
    this.current.retryAt = Date.now() + delay
    this.emit('status', this.status)
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      const ua = this.ua
      if (ua == null || this.stopping || !ua.isConnected()) return
      log('%s: registering again (attempt %d)', this.settings.address, this.retry.attempts)
      this.setStatus('registering')
      this.armRegisterTimeout()
      ua.register()
    }, delay)
  }

  private clearTimers (): void {
    clearTimeout(this.retryTimer)
    clearTimeout(this.registerTimer)
    this.retryTimer = undefined
    this.registerTimer = undefined
    delete this.current.retryAt
  }

  private setStatus (state: AccountState, error?: Error): void {
    const same = this.current.state === state && this.current.error === error
    this.current = { state, reconnectAttempts: this.current.reconnectAttempts, ...(error != null ? { error } : {}), ...(this.current.retryAt != null ? { retryAt: this.current.retryAt } : {}) }
    if (same) return
    if (error != null) log('%s: %s (%s)', this.settings.address, state, error.message)
    else log('%s: %s', this.settings.address, state)
    this.emit('status', this.status)
  }

  // ---- incoming ----

  private onNewSession (e: { originator: string, session: any, request: JsSipRequest }): void {
    if (e.originator !== 'remote') return
    const session = e.session as SessionLike
    const asserted = assertedCaller(e.request)
    const call = new PeerlineCall({
      id: `${this.settings.id}:in-${++this.nextCallId}`,
      direction: 'incoming',
      remote: this.party(asserted.aor, asserted.displayName),
      media: this.media,
      ...(this.init.iceServers != null ? { iceServers: this.init.iceServers } : {}),
      iceGatheringTimeoutMs: this.init.iceGatheringTimeoutMs ?? ICE_GATHERING_TIMEOUT_MS,
      onEnded: c => { this.active.delete(c.id) }
    })
    call.attach(session, true)
    this.active.set(call.id, call)
    this.emit('call:incoming', call)
  }

  private onNewMessage (e: { originator: string, request: JsSipRequest }): void {
    if (e.originator !== 'remote') return
    const request = e.request
    const asserted = assertedCaller(request)
    const message: IncomingMessage = {
      id: request.call_id,
      from: this.party(asserted.aor, asserted.displayName),
      body: request.body ?? '',
      contentType: request.getHeader('Content-Type') ?? 'text/plain',
      receivedAt: Date.now()
    }
    this.emit('message:incoming', message)
  }

  /** A party as this account's server names it: never authenticated, always `via` the account. */
  private party (aor: string, displayName: string): RemoteParty {
    // a number without a domain (tel:, a PBX extension) is one of this server's: calling back goes through it
    let address = aor
    if (!aor.includes('@')) {
      try {
        address = accountTarget(aor, this.settings)
      } catch { /* not an address: shown as the server sent it */ }
    }
    return { aor: address, displayName, authenticated: false, unverifiedReason: 'ServerAsserted', via: this.settings.address }
  }

  private requireUa (): UA {
    if (this.ua == null) throw new PhoneNotStartedError('The SIP account is not started')
    return this.ua
  }

  private emit<K extends keyof SipAccountEvents> (type: K, detail: SipAccountEvents[K]['detail']): void {
    dispatchSafely(this, type, detail, log)
  }
}

/** Creates an account's user agent; `start()` it to connect and register. */
export function sipAccount (init: SipAccountInit, components?: SipAccountComponents): SipAccount {
  return new SipAccount(init, components)
}

/**
 * The caller as the server asserts it: P-Asserted-Identity (RFC 3325), which
 * a PBX sets for its own users, else From. A tel: identity or one that does not
 * normalise stays as written.
 */
export function assertedCaller (request: Pick<JsSipRequest, 'from' | 'getHeader'>): { aor: string, displayName: string } {
  const pai = request.getHeader('P-Asserted-Identity')
  let uri = request.from?.uri?.toString() ?? ''
  let displayName = request.from?.display_name ?? ''
  if (pai != null && pai.trim() !== '') {
    try {
      const first = parseNameAddr(pai.split(',')[0]!)
      uri = first.uri
      if (first.displayName !== '') displayName = first.displayName
    } catch (err) {
      log('ignoring a malformed P-Asserted-Identity: %s', (err as Error).message)
    }
  }
  try {
    return { aor: normalizeAor(uri), displayName }
  } catch {
    return { aor: uri.replace(/^(sips?|tel):/i, ''), displayName }
  }
}
