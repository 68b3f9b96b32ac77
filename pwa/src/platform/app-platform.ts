/**
 * The PWA's glue around AppServices (shared/ui/app/platform.ts): registers
 * the service worker and the `sip:` protocol handler when the services
 * start, announces waiting updates and applies one when the user accepts.
 * Injected by pwa/src/main.tsx; the extensions have their own and pass none.
 *
 * @example
 * createServices({ platform: pwaPlatform() })
 */
import { logger } from '../../../shared/util/logger.ts'
import type { AppPlatform } from '../../../shared/ui/app/platform.ts'
import { registerServiceWorker, registerSipHandler } from './install.ts'
import type { ServiceWorkerHandle } from './install.ts'
import { NoUpdateError } from './errors.ts'

const log = logger('pwa:platform')

class PwaPlatform implements AppPlatform {
  #sw?: ServiceWorkerHandle

  get updateAvailable (): boolean { return this.#sw?.updateAvailable === true }

  start (hooks: { onUpdateAvailable: () => void }): void {
    const announce = (): void => { hooks.onUpdateAvailable() }
    registerServiceWorker().then(sw => {
      this.#sw = sw
      sw.addEventListener('update-available', announce)
      // another tab accepted an update: this page runs old code under the new worker
      sw.addEventListener('controller-change', evt => { if (!evt.detail.reloading) announce() })
      if (sw.updateAvailable) announce()
    }, err => { log('no service worker: %s', (err as Error).message) })
    try {
      registerSipHandler()
    } catch (err) {
      log('sip: handler not registered: %s', (err as Error).message)
    }
  }

  async applyUpdate (): Promise<void> {
    if (this.#sw === undefined) throw new NoUpdateError()
    await this.#sw.applyUpdate()
  }
}

/** The PWA's AppPlatform: service worker, updates and the `sip:` handler. */
export function pwaPlatform (): AppPlatform {
  return new PwaPlatform()
}
