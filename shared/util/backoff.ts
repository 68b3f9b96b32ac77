/**
 * Exponential back-off as SIP server farms do it: 0.5 s doubling to a 5 min
 * cap, with a little jitter so that many clients of a supernode that went
 * away do not all come back in the same millisecond.
 */
export interface BackoffInit {
  initialMs?: number
  maxMs?: number
  /** 0..1: fraction of the delay that is randomised (default 0.2) */
  jitter?: number
  random?: () => number
}

export interface Backoff {
  /** delay before the next attempt; each call doubles the next one */
  next: () => number
  reset: () => void
  readonly attempts: number
}

export function backoff (init: BackoffInit = {}): Backoff {
  const initial = init.initialMs ?? 500
  const max = init.maxMs ?? 300_000
  const jitter = init.jitter ?? 0.2
  const random = init.random ?? Math.random
  let attempts = 0
  return {
    next () {
      const base = Math.min(max, initial * 2 ** Math.min(attempts, 30))
      attempts++
      const spread = base * jitter
      return Math.min(max, Math.max(0, Math.round(base - spread / 2 + random() * spread)))
    },
    reset () { attempts = 0 },
    get attempts () { return attempts }
  }
}
