import { EncodingError } from './errors.ts'

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const DECODE = new Int8Array(128).fill(-1)
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i

/** Unpadded base64url (RFC 4648 §5), the encoding of every key and signature in Peerline JSON. */
export function toBase64Url (bytes: Uint8Array): string {
  let out = ''
  let i = 0
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!
    out += ALPHABET.charAt(n >> 18) + ALPHABET.charAt((n >> 12) & 63) + ALPHABET.charAt((n >> 6) & 63) + ALPHABET.charAt(n & 63)
  }
  const rest = bytes.length - i
  if (rest === 1) {
    const n = bytes[i]! << 16
    out += ALPHABET.charAt(n >> 18) + ALPHABET.charAt((n >> 12) & 63)
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8)
    out += ALPHABET.charAt(n >> 18) + ALPHABET.charAt((n >> 12) & 63) + ALPHABET.charAt((n >> 6) & 63)
  }
  return out
}

/**
 * Decodes unpadded base64url. Strict: padding, whitespace, the `+/` alphabet and
 * non-zero trailing bits are rejected, so every byte string has exactly one text form
 * and keys can be compared as strings.
 */
export function fromBase64Url (s: string): Uint8Array {
  if (typeof s !== 'string') throw new EncodingError('Expected a base64url string')
  if (s.length % 4 === 1) throw new EncodingError('Invalid base64url length')
  const out = new Uint8Array(Math.floor(s.length * 3 / 4))
  let acc = 0
  let bits = 0
  let o = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    const v = c < 128 ? DECODE[c]! : -1
    if (v < 0) throw new EncodingError(`Invalid base64url character at position ${i}`)
    acc = ((acc << 6) | v) & 0xffffff
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out[o++] = (acc >> bits) & 0xff
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) throw new EncodingError('Non-canonical base64url (trailing bits set)')
  return out
}

const encoder = new TextEncoder()

/** UTF-8 bytes of a string. */
export function utf8 (s: string): Uint8Array {
  return encoder.encode(s)
}

/**
 * Deterministic JSON for signing: object keys sorted by UTF-16 code units (as in
 * RFC 8785), no whitespace. Refuses anything JSON.stringify would silently drop or
 * change (undefined, functions, NaN, class instances), since a signature over a
 * silently altered value would not verify on the other side.
 *
 * @example canonicalJson({ b: 1, a: [true, null] }) === '{"a":[true,null],"b":1}'
 */
export function canonicalJson (value: unknown): string {
  return serialize(value, new Set(), '$')
}

function serialize (value: unknown, seen: Set<object>, path: string): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'number':
      if (!Number.isFinite(value)) throw new EncodingError(`${path} is not a finite number`)
      return JSON.stringify(value)
    case 'object': {
      if (value === null) return 'null'
      if (seen.has(value)) throw new EncodingError(`${path} is a circular reference`)
      seen.add(value)
      try {
        if (Array.isArray(value)) {
          const parts: string[] = []
          for (let i = 0; i < value.length; i++) parts.push(serialize(value[i], seen, `${path}[${i}]`))
          return `[${parts.join(',')}]`
        }
        const proto: unknown = Object.getPrototypeOf(value)
        if (proto !== Object.prototype && proto !== null) throw new EncodingError(`${path} is not a plain object`)
        const record = value as Record<string, unknown>
        const parts = Object.keys(record).sort().map(k => `${JSON.stringify(k)}:${serialize(record[k], seen, `${path}.${k}`)}`)
        return `{${parts.join(',')}}`
      } finally {
        seen.delete(value)
      }
    }
    default:
      throw new EncodingError(`${path} is ${typeof value}, which JSON cannot represent`)
  }
}
