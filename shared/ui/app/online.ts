/**
 * The browser's network state (navigator.onLine and its 'online'/'offline'
 * events). Platform-neutral: the PWA, the extension pages and the Thunderbird
 * add-on all have it; outside a window (Node tests) it reports online.
 *
 * @example
 * const stop = onlineState(online => { setNetwork(online) })
 */

/**
 * Calls `callback` now with the browser's network state and again on every
 * change ('online'/'offline' events). This is the device's link only: being
 * online in the overlay (connected supernodes) is the overlay's own status.
 * Returns a function that stops listening; aborting `signal` does too.
 */
export function onlineState (callback: (online: boolean) => void, options: { signal?: AbortSignal } = {}): () => void {
  if (typeof window === 'undefined' || typeof navigator === 'undefined') {
    callback(true)
    return () => {}
  }
  const onOnline = (): void => { callback(true) }
  const onOffline = (): void => { callback(false) }
  const stop = (): void => {
    window.removeEventListener('online', onOnline)
    window.removeEventListener('offline', onOffline)
  }
  if (options.signal?.aborted === true) return stop
  window.addEventListener('online', onOnline)
  window.addEventListener('offline', onOffline)
  options.signal?.addEventListener('abort', stop, { once: true })
  callback(navigator.onLine)
  return stop
}
