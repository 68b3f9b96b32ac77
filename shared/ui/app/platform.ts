/**
 * What an installed app adds around AppServices, injected through
 * `ServicesInit.platform`: the PWA passes its service worker and `sip:`
 * handler glue (pwa/src/platform/app-platform.ts); the browser extension and
 * the Thunderbird add-on have their own and pass none. The app layer never
 * imports a platform's modules, only this interface.
 */

export interface AppPlatform {
  /**
   * Starts the glue (register the service worker, the `sip:` handler…) once
   * the services start. `onUpdateAvailable` is called whenever a new version
   * of the app waits for applyUpdate() (again after another tab switched).
   */
  start: (hooks: { onUpdateAvailable: () => void }) => void
  /** a new version is installed and waits for applyUpdate() */
  readonly updateAvailable: boolean
  /**
   * Switches to the waiting version; the page reloads.
   * @throws an error named 'NoUpdateError' when nothing waits
   */
  applyUpdate: () => Promise<void>
}
