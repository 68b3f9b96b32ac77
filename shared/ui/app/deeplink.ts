/**
 * The app's hash routes, read from `location.hash`. Pure: no DOM, runs in
 * Node for tests.
 *
 * Routes: `#/call/<address>`, `#/chat/<address>`, `#/safety/<address>`, `#/verify/<requestId>/<code>`, `#/settings[/<section>]`,
 * `#/history[/<address>]`, `#/pair/<offer>[?then=/call/<address>]` (linking this browser
 * to an identity, see shared/overlay/pairing.ts), anything else is home. The address is what the user or the
 * link gave (`sip:bob@example.org`, `bob@example.org`), percent-decoded:
 * protocol handlers substitute the whole link URL-encoded
 * (`#/call/sip%3Abob%40example.org`). It is not validated here; the phone's
 * call()/sendMessage() say what is wrong with it.
 */

export type DeepLinkRoute = 'call' | 'chat' | 'settings' | 'history' | 'safety' | 'pair' | 'verify' | 'home'

export interface DeepLink {
  route: DeepLinkRoute
  /** the address for call/chat/history, the section for settings; absent when none */
  target?: string
}

const ROUTES = new Set<DeepLinkRoute>(['call', 'chat', 'settings', 'history', 'safety', 'pair', 'verify', 'home'])

function decode (s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    // a stray '%' in a hand-typed link: keep what was typed
    return s
  }
}

/**
 * @example parseDeepLink('#/call/sip%3Abob%40example.org') // { route: 'call', target: 'sip:bob@example.org' }
 * @example parseDeepLink('#/chat/bob@example.org')         // { route: 'chat', target: 'bob@example.org' }
 * @example parseDeepLink('')                                // { route: 'home' }
 */
export function parseDeepLink (hash: string): DeepLink {
  let path = typeof hash === 'string' ? hash.trim() : ''
  if (path.startsWith('#')) path = path.slice(1)
  path = path.replace(/^\/+/, '')
  const slash = path.indexOf('/')
  const head = decode(slash === -1 ? path : path.slice(0, slash)).trim().toLowerCase()
  if (!ROUTES.has(head as DeepLinkRoute) || head === 'home') return { route: 'home' }
  const route = head as DeepLinkRoute
  // the rest is one target: a SIP URI may itself contain '/' in its parameters
  let target = slash === -1 ? '' : decode(path.slice(slash + 1)).trim()
  // some handlers encode twice (`%253A`): a still-encoded scheme gives it away
  if (/^[a-z][a-z0-9+.-]*%3a/i.test(target)) target = decode(target).trim()
  return target === '' ? { route } : { route, target }
}

/** The hash that opens `route` (with `target`), for links and navigation. */
export function deepLinkHash (link: DeepLink): string {
  if (link.route === 'home') return '#/'
  return link.target == null || link.target === '' ? `#/${link.route}` : `#/${link.route}/${encodeURIComponent(link.target)}`
}

export type RouteName = DeepLinkRoute
export interface Route { route: RouteName, target?: string }

/** The route a location hash names (`#/call/sip:bob@example.org`, `#/chat/bob%40example.org`, …). */
export function parseRoute (hash: string): Route {
  const r = parseDeepLink(hash)
  return r.target !== undefined ? { route: r.route, target: r.target } : { route: r.route }
}
