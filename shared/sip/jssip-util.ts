/**
 * Workarounds for JsSIP's loose ends that every user agent of shared/sip
 * (the overlay phone, SIP accounts) needs: timers a stopped UA keeps, the
 * Call-ID of a session, stopping a stream's tracks.
 */
import type { UA } from 'jssip'
import { logger } from '../util/logger.ts'

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
