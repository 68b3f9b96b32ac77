/**
 * Messages between Peerline's extension contexts (runtime.sendMessage), one
 * switch on `command` in each background (CONVENTIONS 11).
 *
 *   content script ──open-call──▶ background: opens the call window, which asks "Call …?", then dials
 *   any page ──ensure-device──▶ Chromium service worker: makes sure the offscreen document runs
 *   offscreen document ──ring──▶ Chromium service worker: notification + call window
 *     (offscreen documents have only chrome.runtime; Firefox's background page rings by itself)
 */

import type { MessageSender } from './webext.ts'

export interface OpenCallMessage { command: 'open-call', target: string }
export interface EnsureDeviceMessage { command: 'ensure-device' }
export interface RingMessage { command: 'ring', callId: string, from: string, displayName: string, keyChanged?: boolean }

export type ExtensionMessage = OpenCallMessage | EnsureDeviceMessage | RingMessage

/** Narrows what arrived on runtime.onMessage; anything else is not Peerline's. */
export function asExtensionMessage (m: unknown): ExtensionMessage | undefined {
  if (typeof m !== 'object' || m === null) return undefined
  const r = m as Record<string, unknown>
  switch (r.command) {
    case 'open-call': return typeof r.target === 'string' ? { command: 'open-call', target: r.target } : undefined
    case 'ensure-device': return { command: 'ensure-device' }
    case 'ring':
      return typeof r.callId === 'string' && typeof r.from === 'string'
        ? { command: 'ring', callId: r.callId, from: r.from, displayName: typeof r.displayName === 'string' ? r.displayName : '', ...(r.keyChanged === true ? { keyChanged: true } : {}) }
        : undefined
    default: return undefined
  }
}

/**
 * Whether `sender` may send `message`: only this extension's own contexts
 * (`extensionId`); `ring` moreover only from a context outside any tab (the
 * offscreen document or a background page, at `extensionOrigin`), never from a
 * content script, which runs inside web pages.
 */
export function senderAllowed (message: ExtensionMessage, sender: MessageSender, extensionId: string, extensionOrigin: string): boolean {
  if (sender.id !== extensionId) return false
  if (message.command !== 'ring') return true
  return sender.tab === undefined && (sender.url === undefined || sender.url.startsWith(extensionOrigin))
}

/**
 * Extension-relative URL of the call window that dials `target` (`sip:bob@example.org`
 * or an email), percent-encoded once: parseCallRoute() decodes it once, so a `%` in
 * the address survives.
 */
export function callWindowPath (target: string): string {
  return `call.html#/call/${encodeURIComponent(target)}`
}

/** Extension-relative URL of the call window showing the ringing call `callId`. */
export function incomingWindowPath (callId: string): string {
  return `call.html#/incoming/${encodeURIComponent(callId)}`
}

/** runtime.connect name of the port that keeps Gecko's background page alive (extension/core/keepalive.ts). */
export const KEEPALIVE_PORT = 'peerline-keepalive'

/**
 * How often keepalive.ts sends on that port: below Gecko's default 30 s idle
 * timeout, with room for a busy event loop. Each port message restarts the
 * idle timer; an open port alone does not keep the page (measured in
 * Thunderbird 153, see test/extension/keepalive.test.ts).
 */
export const KEEPALIVE_INTERVAL_MS = 20_000
