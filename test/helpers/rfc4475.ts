/**
 * RFC 4475 torture messages from test/sip/fixtures/rfc4475/, written in the
 * RFC's own notation and decoded as its §2 says:
 * - every line ends in CRLF (the files use LF);
 * - §2.1: the lines between `<allOneLine>` and `</allOneLine>` are one line;
 * - §2.2: `<hex>…</hex>` stands for the octets its hex digits spell;
 * - §2.3: `<repeat count=N>…</repeat>` stands for N copies of what it encloses.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

export const FIXTURES = join(import.meta.dirname, '..', 'sip', 'fixtures', 'rfc4475')

/** The names of the fixture files, without `.txt`. */
export function fixtureNames (): string[] {
  return readdirSync(FIXTURES).filter(f => f.endsWith('.txt')).map(f => f.slice(0, -4)).sort()
}

/** The message's octets. */
export function rfc4475 (name: string): Uint8Array {
  return decodeRfc4475(readFileSync(join(FIXTURES, `${name}.txt`), 'utf8'))
}

export function decodeRfc4475 (notation: string): Uint8Array {
  const text = notation
    .replace(/<allOneLine>\n([\s\S]*?)\n<\/allOneLine>/g, (_, lines: string) => lines.replace(/\n/g, ''))
    .replace(/\n/g, '\r\n')
    .replace(/<repeat count=(\d+)>([\s\S]*?)<\/repeat>/g, (_, n: string, s: string) => s.repeat(Number(n)))
  const parts: Uint8Array[] = []
  const encoder = new TextEncoder()
  let at = 0
  for (const m of text.matchAll(/<hex>([0-9A-Fa-f\s]*)<\/hex>/g)) {
    parts.push(encoder.encode(text.slice(at, m.index)))
    const hex = (m[1] as string).replace(/\s/g, '')
    parts.push(Uint8Array.from(hex.match(/../g) ?? [], h => parseInt(h, 16)))
    at = m.index + m[0].length
  }
  parts.push(encoder.encode(text.slice(at)))
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.byteLength
  }
  return out
}
