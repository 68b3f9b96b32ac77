/**
 * Message display script (registered by the background with
 * scripting.messageDisplay): a click on a `sip:`/`sips:` link inside a
 * displayed message goes to Peerline instead of the OS. Other links are
 * left alone.
 */
interface ContentApi { runtime: { sendMessage: (m: unknown) => Promise<unknown> } }

const api = (globalThis as { browser?: ContentApi, messenger?: ContentApi }).messenger ?? (globalThis as { browser?: ContentApi }).browser

function sipHref (target: EventTarget | null): string | undefined {
  const el = target instanceof Element ? target.closest('a[href]') : null
  const href = el?.getAttribute('href')?.trim()
  return href !== undefined && /^sips?:/i.test(href) ? href : undefined
}

document.addEventListener('click', e => {
  const uri = sipHref(e.target)
  if (uri === undefined || api === undefined || e.button !== 0) return
  e.preventDefault()
  e.stopPropagation()
  void api.runtime.sendMessage({ command: 'tb:sip-link', uri })
}, true)
