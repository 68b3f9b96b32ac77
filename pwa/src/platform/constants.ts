/**
 * Page-side defaults for installing and updating the PWA.
 */

/** The service worker script, relative to the page (build/build.ts writes dist/pwa/sw.js). */
export const SW_URL = 'sw.js'

/** The worker controls the app's folder and everything below it. */
export const SW_SCOPE = './'

/**
 * How often a long-open page asks the server for a new worker. Browsers check
 * on navigation only (and at most daily without one); a phone app stays open
 * for days, so it polls. One hour keeps the traffic to one small file an hour.
 */
export const SW_UPDATE_CHECK_INTERVAL_MS = 60 * 60 * 1000

/**
 * How long a new worker may take to install (download the changed shell
 * files) before checkForUpdate() gives up waiting; it keeps installing.
 */
export const SW_INSTALL_TIMEOUT_MS = 60_000

/** How long applyUpdate() waits for the new worker to take control. */
export const SW_ACTIVATE_TIMEOUT_MS = 30_000

/** Message types understood by the worker: must match pwa/sw/messages.ts. */
export const SKIP_WAITING = 'SKIP_WAITING'
export const GET_VERSION = 'GET_VERSION'

/**
 * Where `sip:` links land: the protocol handler replaces %s with the
 * URL-encoded link (the manifest's protocol_handlers entry says the same).
 */
export const SIP_HANDLER_PATH = '#/call/%s'
