/**
 * A small SIP message parser and builder for the routing proxy in
 * transport.ts. It reads only what routing needs (start line, Via branch,
 * Call-ID, CSeq, From/To, Contact, Content-Length) and is strict about the
 * rest of RFC 3261 §7 only where a mistake could confuse routing; JsSIP
 * parses every message again in full.
 *
 * ```ts
 * const m = parseSipMessage('MESSAGE sip:bob@example.org SIP/2.0\r\n…')
 * m.branch, m.callId, m.cseq, m.from.uri
 * ```
 */
import { MAX_FORWARDS, MAX_SIP_HEADERS } from './constants.ts'
import { MalformedSipError } from './errors.ts'

export interface SipHeader {
  /** lower-case long form ('via', 'call-id', …), compact forms expanded */
  name: string
  value: string
}

export interface NameAddr {
  displayName: string
  /** the URI without angle brackets or header parameters */
  uri: string
  tag?: string
}

export interface SipMessage {
  type: 'request' | 'response'
  /** request method, or the CSeq method of a response */
  method: string
  /** Request-URI ('' for responses) */
  uri: string
  /** status code (0 for requests) */
  status: number
  reason: string
  headers: SipHeader[]
  body: string
  /** branch parameter of the top Via ('' when absent) */
  branch: string
  callId: string
  cseq: number
  cseqMethod: string
  from: NameAddr
  to: NameAddr
  /** the message text as received */
  text: string
}

/** RFC 3261 §7.3.3 compact forms, plus the ones of later RFCs that JsSIP understands. */
const COMPACT: Record<string, string> = {
  i: 'call-id',
  m: 'contact',
  e: 'content-encoding',
  l: 'content-length',
  c: 'content-type',
  f: 'from',
  s: 'subject',
  k: 'supported',
  t: 'to',
  v: 'via',
  o: 'event',
  r: 'refer-to',
  x: 'session-expires',
  u: 'allow-events'
}

const TOKEN = /^[A-Za-z0-9.!%*_+`'~-]+$/
const REQUEST_LINE = /^([A-Za-z0-9.!%*_+`'~-]+) (\S+) SIP\/2\.0$/
const STATUS_LINE = /^SIP\/2\.0 ([1-6]\d\d) ([^\r\n]*)$/
const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * Parses one complete SIP message.
 * @throws MalformedSipError; its `status` is 400 when the message is a request
 * whose Via, From, To, Call-ID and CSeq could be read, so it can be answered
 */
export function parseSipMessage (text: string, options: { maxHeaders?: number } = {}): SipMessage {
  const maxHeaders = options.maxHeaders ?? MAX_SIP_HEADERS
  const end = text.indexOf('\r\n\r\n')
  if (end === -1) throw new MalformedSipError('SIP message has no end of headers (CRLF CRLF)')
  const lines = text.slice(0, end).split('\r\n')
  const startLine = lines.shift() ?? ''

  const headers: SipHeader[] = []
  for (const line of lines) {
    if (line.startsWith(' ') || line.startsWith('\t')) {
      // RFC 3261 §7.3.1 line folding
      const last = headers.at(-1)
      if (last == null) throw new MalformedSipError('SIP message starts its headers with a continuation line')
      last.value += ' ' + line.trim()
      continue
    }
    const colon = line.indexOf(':')
    if (colon <= 0) throw new MalformedSipError('SIP header line without a name')
    const rawName = line.slice(0, colon).trim()
    if (!TOKEN.test(rawName)) throw new MalformedSipError(`SIP header name ${JSON.stringify(rawName.slice(0, 40))} is not a token`)
    const lower = rawName.toLowerCase()
    headers.push({ name: COMPACT[lower] ?? lower, value: line.slice(colon + 1).trim() })
    if (headers.length > maxHeaders) throw new MalformedSipError(`SIP message has more than ${maxHeaders} header fields`)
  }

  let type: SipMessage['type']
  let method = ''
  let uri = ''
  let status = 0
  let reason = ''
  const req = REQUEST_LINE.exec(startLine)
  const res = req == null ? STATUS_LINE.exec(startLine) : null
  if (req != null) {
    type = 'request'
    method = req[1] as string
    uri = req[2] as string
  } else if (res != null) {
    type = 'response'
    status = Number(res[1])
    reason = res[2] as string
  } else {
    throw new MalformedSipError(`Bad SIP start line: ${JSON.stringify(startLine.slice(0, 80))}`)
  }

  // Without these a request cannot even be answered (RFC 3261 §8.1.1).
  const get = (name: string): string | undefined => headers.find(h => h.name === name)?.value
  const via = get('via')
  const callId = get('call-id')
  const cseqValue = get('cseq')
  const fromValue = get('from')
  const toValue = get('to')
  if (via == null || callId == null || cseqValue == null || fromValue == null || toValue == null) {
    throw new MalformedSipError('SIP message lacks one of Via, From, To, Call-ID, CSeq')
  }
  const answerable = type === 'request' && method !== 'ACK' ? 400 : undefined
  const bad = (message: string): MalformedSipError => {
    const err = new MalformedSipError(message, answerable)
    if (answerable != null) err.headers = headers
    return err
  }
  const cseqMatch = /^(\d{1,10})\s+(\S+)$/.exec(cseqValue)
  if (cseqMatch == null || Number(cseqMatch[1]) > 2 ** 31 - 1) throw bad('Bad CSeq')
  const cseq = Number(cseqMatch[1])
  const cseqMethod = cseqMatch[2] as string
  if (type === 'request' && cseqMethod !== method) throw bad('CSeq method differs from the request method')
  if (type === 'response') method = cseqMethod
  if (callId === '' || /\s/.test(callId)) throw bad('Bad Call-ID')

  let from: NameAddr
  let to: NameAddr
  try {
    from = parseNameAddr(fromValue)
    to = parseNameAddr(toValue)
  } catch (err) {
    throw bad((err as Error).message)
  }

  // Body: the frame delimits the message; Content-Length, when present, must fit (RFC 3261 §18.3).
  let body = text.slice(end + 4)
  const lengths = headers.filter(h => h.name === 'content-length')
  if (lengths.length > 1) throw bad('More than one Content-Length')
  if (lengths.length === 1) {
    const value = (lengths[0] as SipHeader).value
    if (!/^\d{1,9}$/.test(value)) throw bad(`Bad Content-Length ${JSON.stringify(value.slice(0, 20))}`)
    const declared = Number(value)
    const bytes = encoder.encode(body)
    if (declared > bytes.byteLength) throw bad(`Content-Length ${declared} exceeds the ${bytes.byteLength} body bytes`)
    if (declared < bytes.byteLength) body = decoder.decode(bytes.subarray(0, declared))
  }

  return {
    type,
    method,
    uri,
    status,
    reason,
    headers,
    body,
    branch: viaBranch(via),
    callId,
    cseq,
    cseqMethod,
    from,
    to,
    text
  }
}

/** First value of a header (by long or compact name), if present. */
export function getHeader (message: Pick<SipMessage, 'headers'>, name: string): string | undefined {
  const lower = name.toLowerCase()
  const wanted = COMPACT[lower] ?? lower
  return message.headers.find(h => h.name === wanted)?.value
}

export function getHeaders (message: Pick<SipMessage, 'headers'>, name: string): string[] {
  const lower = name.toLowerCase()
  const wanted = COMPACT[lower] ?? lower
  return message.headers.filter(h => h.name === wanted).map(h => h.value)
}

/** The branch of the first Via value (a Via header may list several, comma-separated). */
export function viaBranch (via: string): string {
  const first = splitTopLevel(via, ',')[0] ?? ''
  return /;\s*branch\s*=\s*([^;,\s]+)/i.exec(first)?.[1] ?? ''
}

/**
 * Parses `"Alice" <sip:alice@example.org>;tag=x`, `<sip:a@b>`, or `sip:a@b;tag=x`
 * (RFC 3261 §20.10, §20.20, §20.39).
 */
export function parseNameAddr (value: string): NameAddr {
  const v = value.trim()
  let displayName = ''
  let uri: string
  let params: string
  const open = indexOutsideQuotes(v, '<')
  if (open !== -1) {
    const close = v.indexOf('>', open)
    if (close === -1) throw new Error('Unbalanced < > in a name-addr')
    displayName = unquote(v.slice(0, open).trim())
    uri = v.slice(open + 1, close).trim()
    params = v.slice(close + 1)
  } else {
    // addr-spec: parameters after the URI belong to the header, not the URI
    const semi = v.indexOf(';')
    uri = semi === -1 ? v : v.slice(0, semi)
    params = semi === -1 ? '' : v.slice(semi)
  }
  if (!/^[a-z][a-z0-9+.-]*:\S+$/i.test(uri)) throw new Error(`Bad URI in a name-addr: ${JSON.stringify(uri.slice(0, 60))}`)
  const tag = /;\s*tag\s*=\s*([^;\s]+)/i.exec(params)?.[1]
  return { displayName, uri, ...(tag != null ? { tag } : {}) }
}

/** `sip:<user>@<host>` parts of a SIP URI (parameters and headers dropped), or undefined. */
export function sipUriParts (uri: string): { user: string, host: string } | undefined {
  const m = /^sips?:([^@;?]+)@([^;?>]+)/i.exec(uri.trim())
  if (m == null) return undefined
  let user: string
  try {
    user = decodeURIComponent(m[1] as string)
  } catch {
    return undefined
  }
  return { user, host: (m[2] as string).toLowerCase().replace(/:\d+$/, '') }
}

function unquote (s: string): string {
  if (s.length >= 2 && s.startsWith('"') && s.endsWith('"')) return s.slice(1, -1).replace(/\\(.)/g, '$1')
  return s
}

function indexOutsideQuotes (s: string, ch: string): number {
  let quoted = false
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (c === '\\' && quoted) { i++; continue }
    if (c === '"') quoted = !quoted
    else if (c === ch && !quoted) return i
  }
  return -1
}

function splitTopLevel (s: string, sep: string): string[] {
  const out: string[] = []
  let quoted = false
  let angle = 0
  let start = 0
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (c === '"') quoted = !quoted
    else if (!quoted && c === '<') angle++
    else if (!quoted && c === '>') angle = Math.max(0, angle - 1)
    else if (!quoted && angle === 0 && c === sep) {
      out.push(s.slice(start, i))
      start = i + 1
    }
  }
  out.push(s.slice(start))
  return out
}

/** RFC 3261 §21 reason phrases for the statuses the proxy itself sends. */
const REASONS: Record<number, string> = {
  100: 'Trying',
  200: 'OK',
  400: 'Bad Request',
  404: 'Not Found',
  408: 'Request Timeout',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  487: 'Request Terminated',
  500: 'Server Internal Error',
  503: 'Service Unavailable'
}

export function reasonPhrase (status: number): string {
  return REASONS[status] ?? 'Unknown'
}

function randomToken (bytes = 8): string {
  const b = new Uint8Array(bytes)
  globalThis.crypto.getRandomValues(b)
  return Array.from(b, x => x.toString(16).padStart(2, '0')).join('')
}

/** A new RFC 3261 branch (magic cookie prefix, §8.1.1.7). */
export function newBranch (): string {
  return 'z9hG4bK' + randomToken(10)
}

function assemble (startLine: string, headerLines: string[], body = ''): string {
  const bodyBytes = encoder.encode(body).byteLength
  return `${startLine}\r\n${headerLines.join('\r\n')}\r\nContent-Length: ${bodyBytes}\r\n\r\n${body}`
}

/**
 * A response to `request` built by the proxy itself (RFC 3261 §8.2.6):
 * Vias, From, Call-ID and CSeq copied, a To tag added when missing (not for 100).
 */
export function buildResponse (request: Pick<SipMessage, 'headers'>, status: number, options: { reason?: string, headers?: string[] } = {}): string {
  const lines: string[] = []
  for (const via of getHeaders(request, 'via')) lines.push(`Via: ${via}`)
  const to = getHeader(request, 'to') ?? ''
  let hasTag = false
  try {
    hasTag = parseNameAddr(to).tag != null
  } catch { /* no tag */ }
  lines.push(`From: ${getHeader(request, 'from') ?? ''}`)
  lines.push(`To: ${to}${!hasTag && status > 100 ? `;tag=${randomToken(6)}` : ''}`)
  lines.push(`Call-ID: ${getHeader(request, 'call-id') ?? ''}`)
  lines.push(`CSeq: ${getHeader(request, 'cseq') ?? ''}`)
  lines.push(...(options.headers ?? []))
  return assemble(`SIP/2.0 ${status} ${options.reason ?? reasonPhrase(status)}`, lines)
}

/**
 * CANCEL for a pending INVITE (RFC 3261 §9.1): same Request-URI, top Via,
 * From, To, Call-ID and Route as the INVITE, CSeq number with method CANCEL.
 * `reason` is an RFC 3326 Reason header value, e.g. `SIP;cause=200;text="Call completed elsewhere"`.
 */
export function buildCancel (invite: SipMessage, reason?: string): string {
  const lines = [
    `Via: ${splitTopLevel(getHeader(invite, 'via') ?? '', ',')[0]?.trim() ?? ''}`,
    `Max-Forwards: ${MAX_FORWARDS}`,
    `From: ${getHeader(invite, 'from') ?? ''}`,
    `To: ${getHeader(invite, 'to') ?? ''}`,
    `Call-ID: ${invite.callId}`,
    `CSeq: ${invite.cseq} CANCEL`,
    ...getHeaders(invite, 'route').map(r => `Route: ${r}`),
    ...(reason != null ? [`Reason: ${reason}`] : [])
  ]
  return assemble(`CANCEL ${invite.uri} SIP/2.0`, lines)
}

/**
 * ACK for a non-2xx final response to an INVITE, sent hop by hop by the
 * proxy (RFC 3261 §17.1.1.3): the INVITE's Request-URI and top Via, the
 * response's To (with its tag).
 */
export function buildNon2xxAck (invite: SipMessage, response: SipMessage): string {
  const lines = [
    `Via: ${splitTopLevel(getHeader(invite, 'via') ?? '', ',')[0]?.trim() ?? ''}`,
    `Max-Forwards: ${MAX_FORWARDS}`,
    `From: ${getHeader(invite, 'from') ?? ''}`,
    `To: ${getHeader(response, 'to') ?? ''}`,
    `Call-ID: ${invite.callId}`,
    `CSeq: ${invite.cseq} ACK`,
    ...getHeaders(invite, 'route').map(r => `Route: ${r}`)
  ]
  return assemble(`ACK ${invite.uri} SIP/2.0`, lines)
}

/**
 * ACK and BYE for a 2xx that arrived from a second fork after another device
 * already answered (RFC 3261 §13.2.2.4: the UAC acknowledges and ends each
 * extra dialog). The proxy does this itself because JsSIP would send them on
 * the dialog it already has, hanging up the real call.
 */
export function buildAckAndBye (invite: SipMessage, response: SipMessage, viaHost: string): [string, string] | undefined {
  const contact = getHeader(response, 'contact')
  if (contact == null) return undefined
  let target: string
  try {
    target = parseNameAddr(contact).uri
  } catch {
    return undefined
  }
  const common = (method: string, cseq: number): string[] => [
    `Via: SIP/2.0/WS ${viaHost};branch=${newBranch()}`,
    `Max-Forwards: ${MAX_FORWARDS}`,
    `From: ${getHeader(invite, 'from') ?? ''}`,
    `To: ${getHeader(response, 'to') ?? ''}`,
    `Call-ID: ${invite.callId}`,
    `CSeq: ${cseq} ${method}`
  ]
  return [
    assemble(`ACK ${target} SIP/2.0`, common('ACK', invite.cseq)),
    assemble(`BYE ${target} SIP/2.0`, [...common('BYE', invite.cseq + 1), 'Reason: SIP;cause=200;text="Call completed elsewhere"'])
  ]
}

/** The cause of an RFC 3326 Reason header with protocol SIP, if any. */
export function reasonCause (value: string | undefined): number | undefined {
  if (value == null) return undefined
  for (const part of splitTopLevel(value, ',')) {
    const m = /^\s*SIP\s*;(?:.*;)?\s*cause\s*=\s*(\d{3})/i.exec(part)
    if (m != null) return Number(m[1])
  }
  return undefined
}
