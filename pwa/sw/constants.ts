/**
 * Service worker defaults. Cache names are versioned: bump CACHE_VERSION when
 * the layout of what is cached changes (not for new app builds: precache
 * entries carry content-hash revisions and Workbox swaps only changed files).
 * On activate, every Peerline cache of this scope with another name is deleted.
 */

/** Prefix of every cache this worker owns (`peerline-<purpose>-v<N>-<scope>`). */
export const CACHE_PREFIX = 'peerline'

/** Layout version of the caches; older versions are deleted on activate. */
export const CACHE_VERSION = 1

/**
 * How long config.json may take from the network before the cached copy is
 * used (NetworkFirst). Short: a phone in a tunnel still starts in about this
 * long with the supernodes it knew, and a live network answers well within it.
 */
export const CONFIG_NETWORK_TIMEOUT_SECONDS = 3

/** Server endpoints that must never be answered with the app shell. */
export const NAVIGATION_DENYLIST = [/\/config\.json$/, /\/health$/, /\/sw\.js$/]
