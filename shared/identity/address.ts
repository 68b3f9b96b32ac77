import { MAX_ADDRESS_LENGTH, MAX_DOMAIN_LENGTH, MAX_LABEL_LENGTH, MAX_LOCAL_PART_LENGTH } from './constants.ts'
import { InvalidAddressError } from './errors.ts'

const URI_SCHEMES = new Set(['sip', 'sips', 'mailto'])
// RFC 5322 §3.2.3 atext; quoted local parts are refused, nobody can type or dial them reliably.
const LOCAL_ATOM = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+$/
const LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/

/**
 * Normalizes an email address or SIP/mailto URI to the address-of-record form
 * `local@domain` used as identity everywhere in Peerline.
 *
 * Accepts `bob@example.org`, ` Bob@Example.ORG `, `sip:`/`sips:`/`mailto:` URIs,
 * `<sip:bob@example.org>`, `"Bob" <bob@example.org>`, and drops URI parameters and
 * headers (`;transport=ws`, `?subject=…`). Internationalized domains become punycode.
 *
 * @example normalizeAor('<SIP:Bob@Example.org;transport=ws>') === 'bob@example.org'
 * @throws InvalidAddressError saying what is wrong
 */
export function normalizeAor (input: string): string {
  if (typeof input !== 'string') throw new InvalidAddressError('Address must be a string')
  let s = input.trim()
  if (s === '') throw new InvalidAddressError('Address is empty')

  // name-addr form, as in SIP From/To headers and mail clients
  if (s.includes('<') || s.includes('>')) {
    const open = s.indexOf('<')
    if (open === -1 || s.indexOf('>') !== s.length - 1 || s.indexOf('<', open + 1) !== -1) {
      throw new InvalidAddressError(`Unbalanced angle brackets in "${input}"`)
    }
    s = s.slice(open + 1, -1).trim()
    if (s === '') throw new InvalidAddressError('Address is empty')
  }

  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(s)
  if (scheme !== null) {
    const name = scheme[1]!.toLowerCase()
    if (!URI_SCHEMES.has(name)) throw new InvalidAddressError(`Unsupported URI scheme "${name}:" (use sip:, sips: or mailto:)`)
    s = s.slice(scheme[0].length)
    if (name === 'mailto') {
      s = cutAt(s, '?')
    } else {
      // In a SIP URI ';' and '?' may occur in the user part, but never '@', so URI
      // parameters and headers are only looked for after the first '@'.
      const at = s.indexOf('@')
      if (at !== -1) s = s.slice(0, at + 1) + cutAt(cutAt(s.slice(at + 1), '?'), ';')
    }
    try {
      s = decodeURIComponent(s)
    } catch {
      throw new InvalidAddressError(`Bad percent-encoding in "${input}"`)
    }
  }

  const parts = s.split('@')
  if (parts.length === 1) throw new InvalidAddressError(`"${input}" has no @`)
  if (parts.length > 2) throw new InvalidAddressError(`"${input}" has more than one @`)
  // Peerline treats addresses case-insensitively, the local part too: RFC 5321 allows
  // case-sensitive mailboxes but no real provider uses them, and two identities that
  // differ only in case would be an easy impersonation.
  const local = parts[0]!.toLowerCase()
  const domain = normalizeDomain(parts[1]!.toLowerCase(), input)

  if (local === '') throw new InvalidAddressError(`"${input}" has nothing before the @`)
  if (local.length > MAX_LOCAL_PART_LENGTH) throw new InvalidAddressError(`The part before the @ is longer than ${MAX_LOCAL_PART_LENGTH} characters`)
  if (local.startsWith('.') || local.endsWith('.') || local.includes('..')) {
    throw new InvalidAddressError(`The part before the @ in "${input}" has a misplaced dot`)
  }
  for (const atom of local.split('.')) {
    if (!LOCAL_ATOM.test(atom)) {
      const bad = [...atom].find(c => !LOCAL_ATOM.test(c)) ?? atom
      throw new InvalidAddressError(`The part before the @ contains a character not allowed in an email address: ${JSON.stringify(bad)}`)
    }
  }

  const aor = `${local}@${domain}`
  if (aor.length > MAX_ADDRESS_LENGTH) throw new InvalidAddressError(`Address is longer than ${MAX_ADDRESS_LENGTH} characters`)
  return aor
}

function cutAt (s: string, c: string): string {
  const i = s.indexOf(c)
  return i === -1 ? s : s.slice(0, i)
}

function normalizeDomain (raw: string, input: string): string {
  let domain = raw
  if (domain === '') throw new InvalidAddressError(`"${input}" has nothing after the @`)
  if (domain.startsWith('[')) throw new InvalidAddressError('IP address literals are not supported as email domains')
  if (domain.includes(':')) throw new InvalidAddressError(`"${input}" includes a port; an address is just name@domain`)
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(domain)) domain = toPunycode(domain, input)
  if (domain.length > MAX_DOMAIN_LENGTH) throw new InvalidAddressError(`Domain is longer than ${MAX_DOMAIN_LENGTH} characters`)
  const labels = domain.split('.')
  for (const label of labels) {
    if (label === '') throw new InvalidAddressError(`Domain "${domain}" has an empty label (misplaced dot)`)
    if (label.length > MAX_LABEL_LENGTH) throw new InvalidAddressError(`Domain "${domain}" has a label longer than ${MAX_LABEL_LENGTH} characters`)
    if (!LABEL.test(label)) throw new InvalidAddressError(`Domain "${domain}" contains characters not allowed in a host name`)
  }
  if (labels.length === 1 && domain !== 'localhost') {
    throw new InvalidAddressError(`Domain "${domain}" has no dot (only "localhost" may)`)
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) throw new InvalidAddressError('IP addresses are not supported as email domains')
  return domain
}

function toPunycode (domain: string, input: string): string {
  if (/[\s/?#@\\%[\]]/.test(domain)) throw new InvalidAddressError(`Domain in "${input}" contains characters not allowed in a host name`)
  try {
    // The WHATWG URL parser applies UTS #46 (IDNA) mapping in browsers and Node alike.
    return new URL(`http://${domain}/`).hostname
  } catch {
    throw new InvalidAddressError(`Domain in "${input}" is not a valid internationalized domain name`)
  }
}
