/**
 * Page-side helpers that make Peerline an installed, offline-capable app:
 * the service worker (register, offer updates, apply them on request) and
 * the `sip:` protocol handler (deep links and the browser's online state,
 * which the extensions share, live in shared/ui/app and are re-exported).
 * No UI here: the app shows the prompts and calls these (through
 * app-platform.ts, injected into AppServices).
 *
 * @example
 * const sw = await registerServiceWorker()
 * sw.addEventListener('update-available', () => { showUpdateBanner(() => sw.applyUpdate()) })
 * registerSipHandler()
 * const link = parseDeepLink(location.hash) // { route: 'call', target: 'sip:bob@example.org' }
 * const stop = onlineState(online => { setNetwork(online) })
 */
import { TypedEventEmitter } from 'main-event'
import type { TypedEventTarget } from 'main-event'
import { logger } from '../../../shared/util/logger.ts'
import {
  GET_VERSION, SIP_HANDLER_PATH, SKIP_WAITING, SW_ACTIVATE_TIMEOUT_MS, SW_INSTALL_TIMEOUT_MS,
  SW_SCOPE, SW_UPDATE_CHECK_INTERVAL_MS, SW_URL
} from './constants.ts'
import { NoUpdateError, ServiceWorkerRegistrationError, UpdateTimeoutError } from './errors.ts'

// platform-neutral, shared with the extensions; re-exported so the install test's page bundle has them
export { parseDeepLink, deepLinkHash } from '../../../shared/ui/app/deeplink.ts'
export type { DeepLink, DeepLinkRoute } from '../../../shared/ui/app/deeplink.ts'
export { onlineState } from '../../../shared/ui/app/online.ts'
export { NoUpdateError, ServiceWorkerRegistrationError, UpdateTimeoutError } from './errors.ts'

const log = logger('pwa:install')

export interface UpdateAvailableDetail {
  /** the new worker, installed and waiting for applyUpdate() */
  worker: ServiceWorker
}

export interface ControllerChangeDetail {
  /**
   * true when this page accepted the update and is reloading now; false when
   * another tab accepted it: this page still runs the old code under the new
   * worker and should offer a reload.
   */
  reloading: boolean
}

export interface ServiceWorkerEvents {
  'update-available': CustomEvent<UpdateAvailableDetail>
  'controller-change': CustomEvent<ControllerChangeDetail>
}

export interface ServiceWorkerHandle extends TypedEventTarget<ServiceWorkerEvents> {
  /** false where service workers are unavailable (old browser, not a secure context): every method is then a no-op */
  readonly supported: boolean
  readonly registration: ServiceWorkerRegistration | null
  /** a new version is installed and waits for applyUpdate() */
  readonly updateAvailable: boolean
  /**
   * Asks the server for a new worker and waits for it to install. Resolves
   * with updateAvailable; a failed check (offline) resolves false.
   */
  checkForUpdate: (options?: { signal?: AbortSignal }) => Promise<boolean>
  /**
   * Activates the waiting worker (the user accepted the update) and, unless
   * `reload: false` was given, reloads the page once it is in control.
   * @throws NoUpdateError when nothing waits, UpdateTimeoutError when it does not take over
   */
  applyUpdate: (options?: { signal?: AbortSignal }) => Promise<void>
  /** The version of the worker in control (build/build.ts's version), or null if none answers */
  version: (options?: { signal?: AbortSignal }) => Promise<string | null>
  /** Stops the periodic update checks and listeners; the worker stays installed */
  stop: () => void
}

export interface RegisterServiceWorkerOptions {
  /** the worker script, relative to the page; default SW_URL ('sw.js') */
  url?: string
  /** default SW_SCOPE ('./') */
  scope?: string
  /** called whenever an update becomes available (same moment as the 'update-available' event) */
  onUpdateAvailable?: (handle: ServiceWorkerHandle) => void
  /** reload the page after applyUpdate(); default true */
  reload?: boolean
  /** ms between update checks while the page is open, 0 for none; default SW_UPDATE_CHECK_INTERVAL_MS */
  updateCheckInterval?: number
  /** aborting stops the handle (as stop()) */
  signal?: AbortSignal
}

/** Resolves when `worker` reaches a state `done` accepts; false on timeout or abort. */
async function waitForState (worker: ServiceWorker, done: (state: ServiceWorkerState) => boolean, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  if (done(worker.state)) return true
  return new Promise<boolean>(resolve => {
    const finish = (ok: boolean): void => {
      clearTimeout(timer)
      worker.removeEventListener('statechange', onChange)
      signal?.removeEventListener('abort', onAbort)
      resolve(ok)
    }
    const onChange = (): void => { if (done(worker.state)) finish(true) }
    const onAbort = (): void => { finish(false) }
    const timer = setTimeout(() => { finish(false) }, timeoutMs)
    worker.addEventListener('statechange', onChange)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

class UnsupportedHandle extends TypedEventEmitter<ServiceWorkerEvents> implements ServiceWorkerHandle {
  readonly supported = false
  readonly registration = null
  readonly updateAvailable = false
  async checkForUpdate (): Promise<boolean> { return false }
  async applyUpdate (): Promise<void> { throw new NoUpdateError() }
  async version (): Promise<string | null> { return null }
  stop (): void {}
}

class RegisteredHandle extends TypedEventEmitter<ServiceWorkerEvents> implements ServiceWorkerHandle {
  readonly supported = true
  readonly registration: ServiceWorkerRegistration
  private readonly container: ServiceWorkerContainer
  private readonly options: RegisterServiceWorkerOptions
  private readonly cleanup: Array<() => void> = []
  private announced: ServiceWorker | null = null
  private accepted = false
  private reloading = false

  constructor (container: ServiceWorkerContainer, registration: ServiceWorkerRegistration, options: RegisterServiceWorkerOptions) {
    super()
    this.container = container
    this.registration = registration
    this.options = options
    this.listen(registration, 'updatefound', () => { this.track(registration.installing) })
    this.listen(container, 'controllerchange', () => { this.onControllerChange() })
    // a new worker found before this page registered (another tab, a navigation)
    this.track(registration.installing)
    if (registration.waiting != null) {
      const waiting = registration.waiting
      // after the caller's `await`, so its listeners hear it
      setTimeout(() => { this.announce(waiting) }, 0)
    }
    const every = options.updateCheckInterval ?? SW_UPDATE_CHECK_INTERVAL_MS
    if (every > 0) {
      const timer = setInterval(() => { void this.checkForUpdate() }, every)
      this.cleanup.push(() => { clearInterval(timer) })
    }
    if (typeof window !== 'undefined') this.listen(window, 'online', () => { void this.checkForUpdate() })
    if (options.signal != null) this.listen(options.signal, 'abort', () => { this.stop() })
  }

  get updateAvailable (): boolean {
    // with no active worker, an installed one is the first install, not an update
    return this.registration.waiting != null && (this.registration.active != null || this.container.controller != null)
  }

  async checkForUpdate (options: { signal?: AbortSignal } = {}): Promise<boolean> {
    try {
      await this.registration.update()
    } catch (err) {
      log('update check failed: %s', (err as Error).message)
      return this.updateAvailable
    }
    const installing = this.registration.installing
    if (installing != null) await waitForState(installing, s => s !== 'installing', SW_INSTALL_TIMEOUT_MS, options.signal)
    return this.updateAvailable
  }

  async applyUpdate (options: { signal?: AbortSignal } = {}): Promise<void> {
    options.signal?.throwIfAborted()
    const waiting = this.registration.waiting
    if (waiting == null || !this.updateAvailable) throw new NoUpdateError()
    this.accepted = true
    waiting.postMessage({ type: SKIP_WAITING })
    const activated = await waitForState(waiting, s => s === 'activated' || s === 'redundant', SW_ACTIVATE_TIMEOUT_MS, options.signal)
    options.signal?.throwIfAborted()
    if (!activated || waiting.state !== 'activated') {
      this.accepted = false
      throw new UpdateTimeoutError()
    }
    // a page the old worker did not control (hard reload) sees no controllerchange
    this.reload()
  }

  async version (options: { signal?: AbortSignal } = {}): Promise<string | null> {
    const worker = this.container.controller ?? this.registration.active
    if (worker == null) return null
    const channel = new MessageChannel()
    try {
      return await new Promise<string | null>(resolve => {
        const timer = setTimeout(() => { resolve(null) }, 5_000)
        options.signal?.addEventListener('abort', () => { clearTimeout(timer); resolve(null) }, { once: true })
        channel.port1.onmessage = (evt: MessageEvent<{ version?: unknown }>) => {
          clearTimeout(timer)
          resolve(typeof evt.data?.version === 'string' ? evt.data.version : null)
        }
        worker.postMessage({ type: GET_VERSION }, [channel.port2])
      })
    } finally {
      channel.port1.close()
    }
  }

  stop (): void {
    for (const undo of this.cleanup.splice(0)) undo()
  }

  private listen (target: EventTarget, type: string, fn: () => void): void {
    target.addEventListener(type, fn)
    this.cleanup.push(() => { target.removeEventListener(type, fn) })
  }

  private track (worker: ServiceWorker | null): void {
    if (worker == null) return
    const check = (): void => {
      if (worker.state === 'installed' && this.registration.waiting === worker && this.updateAvailable) this.announce(worker)
    }
    worker.addEventListener('statechange', check)
    this.cleanup.push(() => { worker.removeEventListener('statechange', check) })
    check()
  }

  private announce (worker: ServiceWorker): void {
    if (this.announced === worker || this.registration.waiting !== worker || !this.updateAvailable) return
    this.announced = worker
    log('update available')
    this.options.onUpdateAvailable?.(this)
    this.safeDispatchEvent('update-available', { detail: { worker } })
  }

  private onControllerChange (): void {
    const reloading = this.accepted && (this.options.reload ?? true) && !this.reloading
    this.safeDispatchEvent('controller-change', { detail: { reloading } })
    if (reloading) this.reload()
  }

  private reload (): void {
    if (this.reloading || !(this.options.reload ?? true)) return
    this.reloading = true
    location.reload()
  }
}

/**
 * Registers the service worker (`sw.js` next to the page). Resolves with a
 * handle whose 'update-available' event (or `onUpdateAvailable`) says a new
 * version waits; `applyUpdate()` switches to it when the user accepts. Where
 * service workers are unavailable the handle is a no-op (`supported: false`).
 *
 * @throws ServiceWorkerRegistrationError when the browser refuses the worker
 */
export async function registerServiceWorker (options: RegisterServiceWorkerOptions = {}): Promise<ServiceWorkerHandle> {
  options.signal?.throwIfAborted()
  const nav = typeof navigator === 'undefined' ? undefined : navigator
  if (nav == null || !('serviceWorker' in nav) || globalThis.isSecureContext === false) {
    log('service workers unavailable: the app will not work offline')
    return new UnsupportedHandle()
  }
  let registration: ServiceWorkerRegistration
  try {
    registration = await nav.serviceWorker.register(options.url ?? SW_URL, { scope: options.scope ?? SW_SCOPE })
  } catch (err) {
    throw new ServiceWorkerRegistrationError(`The offline app could not be installed: ${(err as Error).message}`)
  }
  options.signal?.throwIfAborted()
  return new RegisteredHandle(nav.serviceWorker, registration, options)
}

/**
 * Makes the browser open `sip:` links in this app (`#/call/<link>`), where it
 * allows web pages to register protocol handlers (Firefox, Chromium outside
 * installed PWAs, which use the manifest's protocol_handlers). Returns false
 * when unsupported or refused (SecurityError, not a secure context…).
 */
export function registerSipHandler (): boolean {
  const nav = typeof navigator === 'undefined' ? undefined : navigator as Navigator & { registerProtocolHandler?: (scheme: string, url: string) => void }
  if (nav == null || typeof nav.registerProtocolHandler !== 'function' || typeof location === 'undefined') return false
  try {
    nav.registerProtocolHandler('sip', location.origin + location.pathname + SIP_HANDLER_PATH)
    return true
  } catch (err) {
    log('sip: handler refused: %s', (err as Error).message)
    return false
  }
}
