/**
 * Small async helpers every layer uses: signal merging, waits, timers that
 * never keep a Node process alive, and a serial queue.
 *
 * `shared/util` is a leaf: it imports nothing of ours, so every other part
 * (identity included) may import it.
 */

/** One signal that aborts when any of the given ones does (undefined ones are skipped). */
export function anySignal (...signals: Array<AbortSignal | undefined>): AbortSignal {
  return AbortSignal.any(signals.filter((s): s is AbortSignal => s != null))
}

/**
 * Lets Node exit while the timer is pending (no-op in browsers). A component's
 * housekeeping timer must never be what keeps a process, or a test file, alive.
 */
export function unrefTimer<T> (timer: T): T {
  ;(timer as { unref?: () => void }).unref?.()
  return timer
}

/**
 * Waits `ms`. With a signal, resolves early when it aborts (a wait never throws):
 * callers check `signal.aborted` afterwards. The timer is unref'd.
 *
 * @example await sleep(500, { signal })
 */
export async function sleep (ms: number, options: { signal?: AbortSignal } = {}): Promise<void> {
  const signal = options.signal
  if (signal?.aborted === true) return
  await new Promise<void>(resolve => {
    const done = (): void => { clearTimeout(timer); signal?.removeEventListener('abort', done); resolve() }
    const timer = unrefTimer(setTimeout(done, ms))
    signal?.addEventListener('abort', done, { once: true })
  })
}

/** Settles like `p`, or rejects with the signal's reason once it aborts. */
export async function raceSignal<T> (p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal == null) return await p
  signal.throwIfAborted()
  return await new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(v => { signal.removeEventListener('abort', onAbort); resolve(v) }, (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e) })
  })
}

/** Runs functions one at a time, in call order; a failure does not stop the ones after it. */
export interface SerialQueue {
  run: <T>(fn: () => Promise<T>) => Promise<T>
  /** settles once everything queued so far has run */
  idle: () => Promise<void>
}

/**
 * @example const queue = serialQueue(); await queue.run(async () => await save())
 */
export function serialQueue (): SerialQueue {
  let tail: Promise<unknown> = Promise.resolve()
  return {
    async run<T> (fn: () => Promise<T>): Promise<T> {
      const next = tail.then(fn, fn)
      tail = next.catch(() => {})
      return await next
    },
    async idle (): Promise<void> { await tail.then(() => {}, () => {}) }
  }
}
