/** Polling for tests that wait on something they cannot subscribe to. */

/** Polls `check` until it returns a truthy value or the time is up. */
export async function eventually<T> (check: () => Promise<T> | T, { timeoutMs = 15_000, intervalMs = 200, what = 'condition' } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (Date.now() < deadline) {
    try {
      const v = await check()
      if (v) return v
    } catch (err) {
      lastError = err
    }
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
  throw new Error(`timed out waiting for ${what}${lastError != null ? `: ${(lastError as Error).message}` : ''}`)
}
