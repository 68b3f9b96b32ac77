/**
 * Address-book contacts as Peerline buddies: a contact's vCard (Thunderbird
 * exposes contacts as vCard text since 102) parsed with ical.js, the parser
 * Thunderbird itself uses. Every EMAIL is an address to call; an IMPP
 * property with a `sip:` URI is one too. Pure: runs in Node for tests.
 *
 * @example
 * parseContactVCard('BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Bob\r\nEMAIL:bob@example.org\r\nEND:VCARD\r\n')
 * // { name: 'Bob', addresses: ['bob@example.org'] }
 */
import ICAL from 'ical.js'
import { normalizeAor } from '../../shared/identity/address.ts'

/** A vCard Peerline cannot read (syntax error, not a vCard). `reason` says why, for the log. */
export class MalformedVCardError extends Error {
  static readonly NAME = 'MalformedVCardError'
  constructor (message = 'This contact\'s vCard cannot be read') {
    super(message)
    this.name = MalformedVCardError.NAME
  }
}

/** Peerline's view of one contact. */
export interface ContactAddresses {
  /** FN, else N joined, else '' */
  name: string
  /** normalised addresses (emails first, then IMPP sip: URIs), without duplicates */
  addresses: string[]
}

/** A vCard larger than this is refused unparsed: Thunderbird's own cards with a photo stay far below. */
export const MAX_VCARD_CHARS = 1_000_000

function text (value: unknown): string {
  if (typeof value === 'string') return value.trim()
  if (Array.isArray(value)) return value.map(text).filter(s => s !== '').join(' ')
  return ''
}

/**
 * @throws MalformedVCardError when the text is not a parseable vCard.
 * Addresses that are not valid Peerline addresses are left out (not an error:
 * a contact may carry a phone-only or xmpp: IMPP entry).
 */
export function parseContactVCard (vCard: string): ContactAddresses {
  if (typeof vCard !== 'string' || vCard.trim() === '') throw new MalformedVCardError('The contact has no vCard')
  if (vCard.length > MAX_VCARD_CHARS) throw new MalformedVCardError(`The vCard is larger than ${MAX_VCARD_CHARS} characters`)
  let component: ICAL.Component
  try {
    const parsed: unknown = ICAL.parse(vCard)
    // several components in one text: ical.js returns a list; a contact has one card
    const jCard = Array.isArray(parsed) && Array.isArray(parsed[0]) ? parsed[0] : parsed
    component = new ICAL.Component(jCard as unknown[])
  } catch (err) {
    throw new MalformedVCardError(`vCard syntax error: ${(err as Error).message}`)
  }
  if (component.name !== 'vcard') throw new MalformedVCardError(`Expected a VCARD, found ${component.name.toUpperCase() || 'nothing'}`)
  const addresses: string[] = []
  const add = (raw: string): void => {
    try {
      const aor = normalizeAor(raw)
      if (!addresses.includes(aor)) addresses.push(aor)
    } catch {
      // not a Peerline address: skipped quietly, the contact may still have others
    }
  }
  for (const p of component.getAllProperties('email')) add(text(p.getFirstValue()))
  for (const p of component.getAllProperties('impp')) {
    const uri = text(p.getFirstValue())
    if (/^sips?:/i.test(uri)) add(uri)
  }
  const fn = text(component.getFirstPropertyValue('fn'))
  const n = fn !== '' ? fn : text(component.getFirstPropertyValue('n'))
  return { name: n, addresses }
}
