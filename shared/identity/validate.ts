// Shape checks for JSON that arrives from the network, storage or files. Each check
// throws the error class the caller hands in, so certificates fail with
// MalformedCertificateError and backups with MalformedBackupError.
import { fromBase64Url } from './encoding.ts'

export type ErrorClass = new (message?: string, options?: ErrorOptions) => Error

/** Largest value a JS Date can hold (ECMA-262 §21.4.1.22); keeps toISOString() from throwing. */
const MAX_TIME = 8.64e15

export function isRecord (value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** UTF-8 decoding that refuses invalid bytes instead of replacing them. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * The JSON object in a frame from the network (`what` names it in the error,
 * e.g. 'The CA message').
 * @throws E when the bytes are not UTF-8 JSON or the JSON is not an object
 */
export function parseJsonObject (bytes: Uint8Array, what: string, E: ErrorClass): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(strictUtf8.decode(bytes))
  } catch (err) {
    throw new E(`${what} is not UTF-8 JSON`, { cause: err })
  }
  if (!isRecord(value)) throw new E(`${what} is not a JSON object (got ${describe(value)})`)
  return value
}

export function requireRecord (value: unknown, what: string, E: ErrorClass): Record<string, unknown> {
  if (!isRecord(value)) throw new E(`${what} is not an object (got ${describe(value)})`)
  return value
}

/** Exactly these fields: unknown fields would be signed but silently ignored, so refuse them. */
export function requireExactFields (obj: Record<string, unknown>, fields: readonly string[], what: string, E: ErrorClass): void {
  for (const f of fields) if (!(f in obj) || obj[f] === undefined) throw new E(`${what} is missing "${f}"`)
  for (const k of Object.keys(obj)) if (!fields.includes(k)) throw new E(`${what} has unexpected field "${k}"`)
}

export function requireString (obj: Record<string, unknown>, field: string, what: string, E: ErrorClass, maxLength = Infinity): string {
  const v = obj[field]
  if (typeof v !== 'string') throw new E(`${what}: "${field}" must be a string (got ${describe(v)})`)
  if (v.length > maxLength) throw new E(`${what}: "${field}" is longer than ${maxLength} characters`)
  return v
}

export function requireBytes (obj: Record<string, unknown>, field: string, length: number | { min: number }, what: string, E: ErrorClass): Uint8Array {
  const s = requireString(obj, field, what, E)
  let bytes: Uint8Array
  try {
    bytes = fromBase64Url(s)
  } catch (err) {
    throw new E(`${what}: "${field}" is not valid base64url`, { cause: err })
  }
  if (typeof length === 'number' ? bytes.length !== length : bytes.length < length.min) {
    throw new E(`${what}: "${field}" has the wrong length (${bytes.length} bytes)`)
  }
  return bytes
}

export function requireTime (obj: Record<string, unknown>, field: string, what: string, E: ErrorClass): number {
  const v = obj[field]
  if (typeof v !== 'number' || !Number.isInteger(v) || Math.abs(v) > MAX_TIME) {
    throw new E(`${what}: "${field}" must be a time in milliseconds (got ${describe(v)})`)
  }
  return v
}

export function describe (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return value.length > 40 ? 'a long string' : JSON.stringify(value)
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return typeof value
}
