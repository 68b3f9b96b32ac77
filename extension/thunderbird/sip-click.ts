/**
 * The click rule of the message display script (pages/sip-mail.ts), pure so
 * it is unit-tested in Node: a trusted primary-button click on a `sip:` /
 * `sips:` link goes to Peerline; every other click is left alone.
 */

/** What the handler needs of a click event. */
export interface SipClick {
  isTrusted: boolean
  button: number
  target: unknown
  preventDefault: () => void
  stopPropagation: () => void
}

/** The `sip:`/`sips:` href of the link around `target`, if any. */
export function sipHref (target: unknown): string | undefined {
  const el = target as { closest?: (s: string) => { getAttribute: (n: string) => string | null } | null } | null
  const href = typeof el?.closest === 'function' ? el.closest('a[href]')?.getAttribute('href')?.trim() : undefined
  return href !== undefined && /^sips?:/i.test(href) ? href : undefined
}

/** Handles one click: returns the URI sent to Peerline, or undefined when the click is not Peerline's. */
export function handleSipClick (e: SipClick, send: (m: { command: 'tb:sip-link', uri: string }) => void): string | undefined {
  // a click synthesised by the message's own scripts is not the user's
  if (!e.isTrusted || e.button !== 0) return undefined
  const uri = sipHref(e.target)
  if (uri === undefined) return undefined
  e.preventDefault()
  e.stopPropagation()
  send({ command: 'tb:sip-link', uri })
  return uri
}
