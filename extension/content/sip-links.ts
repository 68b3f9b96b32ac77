/**
 * Content script on every page (Chromium has no protocol_handlers): a click
 * on an `<a href="sip:…">` or `sips:` link opens Peerline's call window
 * instead of asking the OS for a sip: application. Every other click is left
 * alone: no preventDefault, no stopPropagation, and the sip: click itself
 * still reaches the page's own listeners (only its default action, following
 * the link, is taken). In Firefox the manifest's protocol_handlers would
 * catch sip: anyway; there this script also covers sips:, which Firefox
 * refuses as a protocol handler.
 *
 * The listener sits on the window in the capture phase, so it sees the click
 * before page code can stop it; a click the page already cancelled or a
 * non-primary button stays the page's (a modified click on a sip: link has
 * no new-tab meaning, so it calls too). Only the user's own clicks count:
 * a click made by page script (`a.click()`, dispatchEvent) is not trusted and
 * is left to the page, so a page cannot make Peerline call anyone. Even a real
 * click only opens the call window, which asks "Call …?" before dialling.
 */
import { sipTarget } from './sip-target.ts'
import { webext } from '../core/webext.ts'

function onClick (evt: MouseEvent): void {
  if (!evt.isTrusted || evt.defaultPrevented || evt.button !== 0) return
  const path = evt.composedPath()
  const link = path.find((el): el is HTMLAnchorElement | SVGAElement =>
    el instanceof Element && el.localName === 'a' && el.hasAttribute('href'))
  if (link === undefined) return
  const target = sipTarget(link.getAttribute('href') ?? '')
  if (target === undefined) return
  evt.preventDefault()
  webext().runtime.sendMessage({ command: 'open-call', target }).catch(() => {
    // the extension was reloaded or removed under this page: nothing to open it with
  })
}

window.addEventListener('click', onClick, { capture: true })
