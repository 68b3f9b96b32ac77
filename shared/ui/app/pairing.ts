/**
 * The `#/pair/<offer>[?then=/call/<address>]` deep link's target, split: the
 * offer part for shared/overlay/pairing.ts, and where to go once linked.
 * Pure: runs in Node for tests.
 */

/** The offer part of a pair route's target (everything before `?`). */
export function pairOffer (target: string | undefined): string {
  return (target ?? '').split('?')[0] ?? ''
}

/** Where to go after linking: only in-app call/chat routes are followed, anything else goes home. */
export function pairThen (target: string | undefined): string {
  const query = (target ?? '').split('?')[1] ?? ''
  const then = new URLSearchParams(query).get('then') ?? ''
  return /^\/(call|chat)\/[^\s]+$/.test(then) ? `#${then}` : '#/'
}
