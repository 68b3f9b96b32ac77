/**
 * Peerline's service worker: the app shell works offline and updates only
 * when the user says so.
 *
 * - Precache: every file of the shell (index.html, scripts, css, manifest,
 *   icons), listed by build/build.ts with content-hash revisions and injected
 *   as `self.__WB_MANIFEST`. Workbox fetches only changed files on update.
 * - config.json: NetworkFirst with a short timeout, so an offline start still
 *   gets the last supernode list.
 * - Navigations (deep links such as `/#/call/sip:bob@example.org`, or paths
 *   under the scope) get the precached index.html.
 * - Updates: a new worker installs and waits; the page offers the update and
 *   posts SKIP_WAITING when the user accepts (pwa/src/platform/install.ts).
 * - Caches are versioned; on activate every other Peerline cache of this
 *   scope is deleted.
 */
import { cacheNames, setCacheNameDetails } from 'workbox-core'
import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute } from 'workbox-precaching'
import type { PrecacheEntry } from 'workbox-precaching'
import { NavigationRoute, registerRoute } from 'workbox-routing'
import { NetworkFirst } from 'workbox-strategies'
import { CACHE_PREFIX, CACHE_VERSION, CONFIG_NETWORK_TIMEOUT_SECONDS, NAVIGATION_DENYLIST } from './constants.ts'
import { GET_VERSION, SKIP_WAITING } from './messages.ts'

declare const self: ServiceWorkerGlobalScope & {
  /** replaced at build time by the precache list (esbuild define) */
  __WB_MANIFEST: Array<PrecacheEntry | string>
  /** replaced at build time by the build's version string */
  __PEERLINE_VERSION: string
}

const VERSION = self.__PEERLINE_VERSION
// the scope in the names keeps two Peerline deployments on one origin apart
const SUFFIX = `v${CACHE_VERSION}-${self.registration.scope}`
const CONFIG_CACHE = `${CACHE_PREFIX}-config-${SUFFIX}`

setCacheNameDetails({ prefix: CACHE_PREFIX, suffix: SUFFIX, precache: 'precache', runtime: 'runtime' })

precacheAndRoute(self.__WB_MANIFEST)
// precaches left by older Workbox versions, which used another naming scheme
cleanupOutdatedCaches()

const configUrl = new URL('config.json', self.registration.scope).href
registerRoute(
  ({ url, request }) => request.method === 'GET' && url.origin + url.pathname === configUrl,
  new NetworkFirst({ cacheName: CONFIG_CACHE, networkTimeoutSeconds: CONFIG_NETWORK_TIMEOUT_SECONDS })
)

registerRoute(new NavigationRoute(createHandlerBoundToURL('index.html'), { denylist: NAVIGATION_DENYLIST }))

self.addEventListener('activate', event => {
  const keep = new Set([cacheNames.precache, cacheNames.runtime, CONFIG_CACHE])
  event.waitUntil((async () => {
    const names = await caches.keys()
    await Promise.all(names
      .filter(name => name.startsWith(`${CACHE_PREFIX}-`) && name.endsWith(`-${self.registration.scope}`) && !keep.has(name))
      .map(async name => caches.delete(name)))
  })())
})

self.addEventListener('message', event => {
  const type = (event.data as { type?: unknown } | null)?.type
  if (type === SKIP_WAITING) {
    event.waitUntil(self.skipWaiting())
  } else if (type === GET_VERSION) {
    event.ports[0]?.postMessage({ version: VERSION })
  }
})
