/**
 * What every JsSIP user agent of shared/sip (the overlay phone, SIP
 * accounts) needs: workarounds for timers a stopped UA keeps, the Call-ID of
 * a session, stopping a stream's tracks, the page's microphone, and a socket
 * with an outbound proxy as its Route.
 */
import type { UA } from 'jssip'
import { logger } from '../util/logger.ts'
import { MAX_SIP_MESSAGE_BYTES } from './constants.ts'
import { CallFailedError, MessageRejectedError } from './errors.ts'
import type { SessionLike } from './call.ts'
import type { MediaAdapter } from './api.ts'

const log = logger('sip:jssip')

export function sessionCallId (session: unknown): string | undefined {
  const s = session as { _request?: { call_id?: string }, _dialog?: { id?: { call_id?: string } } } | undefined
  return s?._dialog?.id?.call_id ?? s?._request?.call_id
}

const TRANSACTION_TIMERS = ['B', 'D', 'F', 'H', 'I', 'J', 'K', 'L', 'M']

/**
 * JsSIP leaves Timer H running on a server transaction that got its ACK and
 * was destroyed (harmless, but it holds the event loop for 32 s per declined
 * or cancelled call). A destroyed transaction needs no timer: clear them.
 */
export function clearTimersOnDestroy (ua: UA): void {
  const u = ua as unknown as { destroyTransaction?: (tr: Record<string, unknown>) => void }
  const original = u.destroyTransaction?.bind(ua)
  if (original == null) return
  u.destroyTransaction = tr => {
    original(tr)
    for (const t of TRANSACTION_TIMERS) clearTimeout(tr[t] as ReturnType<typeof setTimeout>)
  }
}

/**
 * A stopped UA keeps its transactions' timers (Timer L/M: 32 s) although its
 * socket is gone; cleared here so a stopped phone holds nothing (and a Node
 * process can exit). Reaches into JsSIP internals, defensively.
 */
export function releaseJsSipTimers (ua: UA): void {
  try {
    const u = ua as unknown as {
      _transactions?: Record<string, Record<string, Record<string, unknown>>>
      _sessions?: Record<string, { _timers?: Record<string, unknown> }>
      _closeTimer?: unknown
    }
    for (const group of Object.values(u._transactions ?? {})) {
      for (const tr of Object.values(group)) {
        for (const t of TRANSACTION_TIMERS) clearTimeout(tr[t] as ReturnType<typeof setTimeout>)
      }
    }
    for (const session of Object.values(u._sessions ?? {})) {
      for (const t of Object.values(session._timers ?? {})) clearTimeout(t as ReturnType<typeof setTimeout>)
    }
    clearTimeout(u._closeTimer as ReturnType<typeof setTimeout>)
  } catch (err) {
    log('releasing JsSIP timers: %s', (err as Error).message)
  }
}

export function stopTracks (stream: MediaStream): void {
  for (const t of stream.getTracks()) {
    try {
      t.stop()
    } catch { /* already stopped */ }
  }
}

/** JsSIP's Socket interface (its WebSocketInterface is one). */
export interface JsSipSocket {
  readonly url: string
  readonly sip_uri: string
  via_transport: string
  connect: () => void
  disconnect: () => void
  send: (message: string) => boolean
  isConnected: () => boolean
  isConnecting: () => boolean
}

/** `socket`, naming `route` as its SIP URI: JsSIP preloads `Route: <that;lr>` (use_preloaded_route). */
export function withRoute (socket: JsSipSocket, route: string): JsSipSocket {
  return new Proxy(socket, {
    get (target, prop, receiver) {
      if (prop === 'sip_uri') return route
      const v = Reflect.get(target, prop, receiver) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
    set (target, prop, value) { return Reflect.set(target, prop, value) }
  })
}

/** getUserMedia of the page, looked up only when a call needs it. */
export const defaultMedia: MediaAdapter = {
  getUserMedia: async constraints => {
    const md = (globalThis as { navigator?: { mediaDevices?: { getUserMedia?: (c: MediaStreamConstraints) => Promise<MediaStream> } } }).navigator?.mediaDevices
    if (md?.getUserMedia == null) throw new CallFailedError('This environment has no microphone access (navigator.mediaDevices is missing)')
    return await md.getUserMedia(constraints)
  }
}

/** The longest chat text a MESSAGE may carry: the frame limit less room for the headers. */
export const MAX_MESSAGE_BODY_BYTES = MAX_SIP_MESSAGE_BYTES - 4096

/** Refuses what no MESSAGE should carry: no text, or more than MAX_MESSAGE_BODY_BYTES. */
export function checkMessageBody (body: unknown): asserts body is string {
  if (typeof body !== 'string' || body === '') throw new TypeError('A message needs some text')
  if (new TextEncoder().encode(body).byteLength > MAX_MESSAGE_BODY_BYTES) {
    throw new MessageRejectedError(`The message is longer than ${MAX_MESSAGE_BODY_BYTES} bytes`, 413)
  }
}

/** What JsSIP's MESSAGE 'failed' event carries. */
export interface MessageFailure { response?: { status_code?: number, reason_phrase?: string } | null, cause?: string }

/**
 * Sends a text MESSAGE with JsSIP: `result` settles on the final answer (a
 * failure is turned into an error by `failed`), `callId` names it at once.
 */
export function sendTextMessage (ua: UA, aor: string, body: string, failed: (e: MessageFailure) => Error): { result: Promise<void>, callId: string | undefined } {
  let callId: string | undefined
  const result = new Promise<void>((resolve, reject) => {
    const message = ua.sendMessage(`sip:${aor}`, body, {
      contentType: 'text/plain;charset=utf-8',
      eventHandlers: {
        succeeded: () => { resolve() },
        failed: (e: MessageFailure) => { reject(failed(e)) }
      }
    })
    callId = (message as unknown as { _request?: { call_id?: string } })._request?.call_id
  })
  return { result, callId }
}

/**
 * Starts an outgoing JsSIP session to `aor` with `stream`, its events going
 * to `eventHandlers` (PeerlineCall.handlers). A UA that refuses stops the
 * stream's tracks and throws CallFailedError.
 */
export function startSession (ua: UA, aor: string, options: { stream: MediaStream, video: boolean, iceServers: RTCIceServer[], eventHandlers: unknown }): SessionLike {
  try {
    return ua.call(`sip:${aor}`, {
      mediaStream: options.stream,
      mediaConstraints: { audio: true, video: options.video },
      pcConfig: { iceServers: options.iceServers },
      eventHandlers: options.eventHandlers as any
    }) as unknown as SessionLike
  } catch (err) {
    stopTracks(options.stream)
    throw new CallFailedError(`Cannot start the call: ${(err as Error).message}`)
  }
}
