/**
 * Messages the page sends to the service worker (postMessage({ type })).
 * pwa/src/platform/constants.ts repeats these strings: the page and the
 * worker are separate TypeScript projects (DOM vs webworker lib).
 */

/** The waiting worker takes over now: the user accepted the update. */
export const SKIP_WAITING = 'SKIP_WAITING'

/** Replies on the message's port with `{ version }` (the build's version). */
export const GET_VERSION = 'GET_VERSION'
