/**
 * The background page's half of the Gecko keep-alive (see keepalive.ts):
 * answer the keep-alive port and load keepalive.html in a hidden iframe.
 * Firefox and Thunderbird only; Chromium keeps its offscreen document instead.
 */
import { KEEPALIVE_PORT } from './messages.ts'
import type { WebExtApi } from './webext.ts'

export function keepBackgroundAlive (api: WebExtApi): void {
  api.runtime.onConnect?.addListener(port => {
    // each message on the port restarts Gecko's idle timer; nothing to answer
    if (port.name === KEEPALIVE_PORT) port.onMessage.addListener(() => {})
  })
  if (typeof document === 'undefined') return
  const frame = document.createElement('iframe')
  frame.src = api.runtime.getURL('keepalive.html')
  frame.hidden = true
  ;(document.body ?? document.documentElement).append(frame)
}
