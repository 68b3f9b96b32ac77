/**
 * Which link hrefs are calls: `sip:` and `sips:` URIs (any case) with a
 * user@host part. Returns the URI to dial, normalised to `sip:`/`sips:` in
 * lower case scheme, or undefined for anything else (those clicks stay the
 * page's). Percent-escapes are decoded once (`sip:bob%40example.org`).
 */
export function sipTarget (href: string): string | undefined {
  const m = /^\s*(sips?):(.+)$/i.exec(href)
  if (m === null) return undefined
  const scheme = (m[1] as string).toLowerCase()
  let rest = (m[2] as string).trim()
  try {
    rest = decodeURIComponent(rest)
  } catch {
    return undefined
  }
  if (!/^[^@\s/]+@[^@\s/]+$/.test(rest.split(/[;?]/)[0] as string)) return undefined
  return `${scheme}:${rest}`
}
