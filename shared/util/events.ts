/**
 * Event plumbing where the listeners are other people's code (the UI) and the
 * emitter must keep its own state right whatever they do.
 *
 * @example dispatchSafely(this, 'state', 'active', log)
 * @example guarded(log, 'JsSIP newRTCSession', () => this.onSession(e))
 */
import type { Logger } from './logger.ts'

/** Dispatches a CustomEvent; a listener that throws is logged, never propagated into the emitter. */
export function dispatchSafely (target: EventTarget, type: string, detail: unknown, log: Logger): void {
  try {
    target.dispatchEvent(new CustomEvent(type, { detail }))
  } catch (err) {
    log.error('%s listener threw: %s', type, (err as Error).message)
  }
}

/** Runs `fn`; an exception is logged with `what` and swallowed (for library callbacks, which must not throw). */
export function guarded (log: Logger, what: string, fn: () => void): void {
  try {
    fn()
  } catch (err) {
    log.error('handling %s failed: %s', what, (err as Error).stack ?? err)
  }
}
