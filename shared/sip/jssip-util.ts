/**
 * What every JsSIP user agent of shared/sip (the overlay phone, SIP
 * accounts) needs: workarounds for timers a stopped UA keeps, the Call-ID of
 * a session, stopping a stream's tracks, the page's microphone, and a socket
 * with an outbound proxy as its Route.
 */
import type { UA } from 'jssip'
import { logger } from '../util/logger.ts'
import { CallFailedError } from './errors.ts'
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
