/**
 * A small SIP message parser for the routing proxy in transport.ts (the
 * messages it writes itself: message-build.ts). It reads only what routing needs (start line, Via, Call-ID,
 * CSeq, From/To, Contact, Date, Content-Length), following the RFC 3261 §25
 * grammar for those, and leaves every other header field to JsSIP, which
 * parses every message again in full. The RFC 4475 torture messages are its
 * test (test/sip/torture.test.ts): the valid ones are read, every bad request
 * that can be answered throws a MalformedSipError with the status to send.
 *
 * Streams bring bytes (parseSipBytes: a body need not be UTF-8); JsSIP hands
 * over text. Both are one function, for the overlay streams here and for
 * SIP-over-WebSocket accounts (RFC 7118) when they come.
 *
 * ```ts
 * const m = parseSipMessage('MESSAGE sip:bob@example.org SIP/2.0\r\n…')
 * m.branch, m.sentBy, m.callId, m.cseq, m.from.uri
 * ```
 */
import { MAX_SIP_HEADERS } from './constants.ts'
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
  /** the body as text: UTF-8, or Latin-1 (a character per byte) when it is not UTF-8 */
  body: string
  /** the body's octets, as many as Content-Length says */
  bodyBytes: Uint8Array
  /** branch parameter of the top Via ('' when absent) */
  branch: string
  /** sent-by (host[:port], host lower-cased) of the top Via */
  sentBy: string
  callId: string
  cseq: number
  cseqMethod: string
  from: NameAddr
  to: NameAddr
  /** the message as received (bytes past Content-Length dropped) */
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

/** RFC 3261 §25.1 `token` */
const TOKEN = /^[A-Za-z0-9.!%*_+`'~-]+$/
const SIP_VERSION = /^SIP\/\d+\.\d+$/i
const STATUS_LINE = /^(SIP\/\d+\.\d+) ([1-6]\d\d) ([^\r\n]*)$/i
/** A Request-URI or a URI in < >: `scheme ":"` and no white space or angle brackets (RFC 3261 §25.1 absoluteURI / SIP-URI). */
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>]+$/
/** `*( SEMI generic-param )` with LWS allowed around `;` and `=` (RFC 3261 §25.1 SEMI, EQUAL). */
const PARAMS = /^(?:\s*;\s*[A-Za-z0-9.!%*_+`'~-]+(?:\s*=\s*(?:[^\s;,"]+|"(?:[^"\\]|\\[\s\S])*"))?)*\s*$/
/** RFC 3261 §20.42 via-parm: sent-protocol LWS sent-by *( SEMI via-params ), SLASH being SWS "/" SWS */
const VIA_PARM = /^([A-Za-z0-9.!%*_+`'~-]+)\s*\/\s*([A-Za-z0-9.!%*_+`'~-]+)\s*\/\s*([A-Za-z0-9.!%*_+`'~-]+)\s+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?:\s*:\s*(\d{1,5}))?((?:\s*;\s*[A-Za-z0-9.!%*_+`'~-]+(?:\s*=\s*(?:[^\s;,"]+|"(?:[^"\\]|\\[\s\S])*"))?)*)$/
/** RFC 3261 §25.1 rfc1123-date: the time zone is always GMT (RFC 4475 §3.1.2.11) */
const DATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/
/** Header fields a message may carry only once (RFC 3261 §7.3.1, RFC 4475 §3.3.8). */
const SINGLE = ['call-id', 'cseq', 'from', 'to', 'max-forwards', 'content-length']
const encoder = new TextEncoder()
const decoder = new TextDecoder()
const strictDecoder = new TextDecoder('utf-8', { fatal: true })
const latin1 = new TextDecoder('latin1')

/**
 * Parses one complete SIP message, as text (what JsSIP sends) or as the bytes
 * of a frame (what streams bring; `parseSipBytes`). The grammar is RFC 3261
 * §25 for what routing reads, and the RFC 4475 torture messages are its test.
 * @throws MalformedSipError; its `status` (400, or 505 for another SIP
 * version) is set when the message is a request other than ACK with a Via,
 * so it can be answered, and `headers` then holds what was read
 */
export function parseSipMessage (input: string | Uint8Array, options: { maxHeaders?: number } = {}): SipMessage {
  const maxHeaders = options.maxHeaders ?? MAX_SIP_HEADERS
  let head: string
  let rawBody: string | Uint8Array
  if (typeof input === 'string') {
    const end = input.indexOf('\r\n\r\n')
    if (end === -1) throw new MalformedSipError('SIP message has no end of headers (CRLF CRLF)')
    head = input.slice(0, end)
    rawBody = input.slice(end + 4)
  } else {
    const end = indexOfBlankLine(input)
    if (end === -1) throw new MalformedSipError('SIP message has no end of headers (CRLF CRLF)')
    // header fields are UTF-8 (RFC 3261 §7.3.1); the body may be anything (RFC 4475 §3.1.1.11)
    head = decoder.decode(input.subarray(0, end))
    rawBody = input.subarray(end + 4)
  }
  const lines = head.split('\r\n')
  const startLine = lines.shift() ?? ''

  // the first problem found; reading goes on so that a 400 can carry Via, From, To, Call-ID, CSeq
  const problems: string[] = []
  const headers: SipHeader[] = []
  for (const line of lines) {
    if (line.startsWith(' ') || line.startsWith('\t')) {
      // RFC 3261 §7.3.1 line folding
      const last = headers.at(-1)
      if (last == null) problems.push('SIP message starts its headers with a continuation line')
      else last.value = lws(`${last.value} ${lws(line)}`)
      continue
    }
    const colon = line.indexOf(':')
    const rawName = colon <= 0 ? '' : line.slice(0, colon).trim()
    if (!TOKEN.test(rawName)) {
      problems.push(colon <= 0 ? 'SIP header line without a name' : `SIP header name ${JSON.stringify(rawName.slice(0, 40))} is not a token`)
      continue
    }
    const lower = rawName.toLowerCase()
    headers.push({ name: COMPACT[lower] ?? lower, value: lws(line.slice(colon + 1)) })
    if (headers.length > maxHeaders) {
      problems.push(`SIP message has more than ${maxHeaders} header fields`)
      break
    }
  }

  let type: SipMessage['type']
  let method = ''
  let uri = ''
  let status = 0
  let reason = ''
  let versionProblem: string | undefined
  if (/^SIP\//i.test(startLine)) {
    type = 'response'
    const m = STATUS_LINE.exec(startLine)
    if (m == null) throw new MalformedSipError(`Bad SIP status line: ${JSON.stringify(startLine.slice(0, 80))}`)
    if ((m[1] as string).toUpperCase() !== 'SIP/2.0') throw new MalformedSipError(`Response of another SIP version: ${JSON.stringify(startLine.slice(0, 80))}`)
    status = Number(m[2])
    reason = m[3] as string
  } else {
    // Request-Line = Method SP Request-URI SP SIP-Version: single spaces, nothing trailing (RFC 4475 §3.1.2.7-10)
    type = 'request'
    const parts = startLine.split(' ')
    method = parts[0] ?? ''
    const [, requestUri = '', version = ''] = parts
    if (parts.length !== 3 || !TOKEN.test(method) || !SIP_VERSION.test(version)) {
      problems.unshift(`Bad SIP request line: ${JSON.stringify(startLine.slice(0, 80))}`)
    } else if (!URI.test(requestUri)) {
      problems.unshift(`Bad Request-URI: ${JSON.stringify(requestUri.slice(0, 80))}`)
    } else if (/^sips?:/i.test(requestUri) && requestUri.slice(requestUri.lastIndexOf('@') + 1).includes('?')) {
      // RFC 3261 §19.1.1: header fields in a SIP URI are not allowed in a Request-URI ('?' may be in the user part)
      problems.unshift('Request-URI has header fields')
    } else if (version.toUpperCase() !== 'SIP/2.0') {
      versionProblem = `SIP version ${version.slice(0, 20)} is not supported`
    }
    uri = requestUri
  }

  const get = (name: string): string | undefined => headers.find(h => h.name === name)?.value
  const via = get('via')
  const answerable = type === 'request' && method !== 'ACK' && via != null
  const bad = (message: string, code = 400): MalformedSipError => {
    const err = new MalformedSipError(message, answerable ? code : undefined)
    if (answerable) err.headers = headers
    return err
  }
  if (versionProblem != null) throw bad(versionProblem, 505)
  if (problems.length > 0) throw bad(problems[0] as string)
  // Without a Via a response cannot be sent back (RFC 3261 §8.2.6); without the rest a request is not one (§8.1.1, RFC 4475 §3.3.1)
  if (via == null) throw bad('SIP message has no Via')
  const callId = get('call-id')
  const cseqValue = get('cseq')
  const fromValue = get('from')
  const toValue = get('to')
  if (callId == null || cseqValue == null || fromValue == null || toValue == null) {
    throw bad('SIP message lacks one of From, To, Call-ID, CSeq')
  }
  for (const name of SINGLE) {
    if (headers.filter(h => h.name === name).length > 1) throw bad(`More than one ${name} header field`)
  }

  const cseqMatch = /^(\d{1,10})\s+(\S+)$/.exec(cseqValue)
  if (cseqMatch == null || Number(cseqMatch[1]) > 2 ** 31 - 1 || !TOKEN.test(cseqMatch[2] as string)) throw bad('Bad CSeq')
  const cseq = Number(cseqMatch[1])
  const cseqMethod = cseqMatch[2] as string
  if (type === 'request' && cseqMethod !== method) throw bad('CSeq method differs from the request method')
  if (type === 'response') method = cseqMethod
  if (callId === '' || /\s/.test(callId)) throw bad('Bad Call-ID')
  const maxForwards = get('max-forwards')
  if (maxForwards != null && !/^\d{1,10}$/.test(maxForwards)) throw bad('Bad Max-Forwards')
  const date = get('date')
  if (date != null && !DATE.test(date)) throw bad('Bad Date (RFC 1123, GMT)')

  let from: NameAddr
  let to: NameAddr
  let top: ViaParm
  try {
    from = parseNameAddr(fromValue)
    to = parseNameAddr(toValue)
    const vias = getHeaders({ headers }, 'via').flatMap(v => splitTopLevel(v, ',')).map(parseViaParm)
    top = vias[0] as ViaParm
    for (const contact of getHeaders({ headers }, 'contact')) {
      if (contact.trim() === '*') continue
      for (const c of splitTopLevel(contact, ',')) parseNameAddr(c)
    }
  } catch (err) {
    throw bad((err as Error).message)
  }

  // Body: the frame delimits the message; Content-Length, when present, must fit (RFC 3261 §18.3).
  let bodyBytes = typeof rawBody === 'string' ? encoder.encode(rawBody) : rawBody
  let truncated = false
  const length = get('content-length')
  if (length != null) {
    if (!/^\d{1,9}$/.test(length)) throw bad(`Bad Content-Length ${JSON.stringify(length.slice(0, 20))}`)
    const declared = Number(length)
    if (declared > bodyBytes.byteLength) throw bad(`Content-Length ${declared} exceeds the ${bodyBytes.byteLength} body bytes`)
    if (declared < bodyBytes.byteLength) {
      bodyBytes = bodyBytes.subarray(0, declared)
      truncated = true
    }
  }
  let body: string
  if (typeof rawBody === 'string' && !truncated) body = rawBody
  else body = decodeBody(bodyBytes)
  const text = typeof input === 'string' && !truncated ? input : `${head}\r\n\r\n${body}`

  return {
    type,
    method,
    uri,
    status,
    reason,
    headers,
    body,
    bodyBytes,
    branch: top.params.branch ?? '',
    sentBy: top.sentBy,
    callId,
    cseq,
    cseqMethod,
    from,
    to,
    text
  }
}

/**
 * The parser for bytes: what a SIP stream's frame holds (shared/sip/link.ts),
 * and what a SIP-over-WebSocket account's binary frame will hold (RFC 7118 §4).
 * A body that is not UTF-8 is kept byte for byte (`bodyBytes`; `body` and
 * `text` then hold it as Latin-1, one character per byte).
 */
export function parseSipBytes (bytes: Uint8Array, options: { maxHeaders?: number } = {}): SipMessage {
  return parseSipMessage(bytes, options)
}

/** Trims SP and HTAB only (RFC 3261 §25.1 LWS): String.prototype.trim would also eat a U+FEFF of the value. */
function lws (s: string): string {
  return s.replace(/^[ \t]+|[ \t]+$/g, '')
}

function decodeBody (bytes: Uint8Array): string {
  try {
    return strictDecoder.decode(bytes)
  } catch {
    return latin1.decode(bytes)
  }
}

function indexOfBlankLine (b: Uint8Array): number {
  for (let i = b.indexOf(0x0d); i !== -1 && i + 3 < b.byteLength; i = b.indexOf(0x0d, i + 1)) {
    if (b[i + 1] === 0x0a && b[i + 2] === 0x0d && b[i + 3] === 0x0a) return i
  }
  return -1
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

export interface ViaParm {
  /** 'SIP/2.0/WS' with the LWS around the slashes removed */
  protocol: string
  /** host[:port], the host lower-cased: what RFC 3261 §17.2.3 compares */
  sentBy: string
  /** parameter names lower-cased; '' for a parameter without a value */
  params: Record<string, string>
}

/**
 * One Via value (RFC 3261 §20.42), e.g. `SIP / 2.0 / UDP host:5060 ; branch = z9hG4bK1`.
 * @throws Error when it does not follow the grammar
 */
export function parseViaParm (value: string): ViaParm {
  const m = VIA_PARM.exec(value.trim())
  if (m == null) throw new Error(`Bad Via: ${JSON.stringify(value.trim().slice(0, 80))}`)
  const params: Record<string, string> = {}
  for (const p of (m[6] as string).split(';').slice(1)) {
    const eq = p.indexOf('=')
    const name = (eq === -1 ? p : p.slice(0, eq)).trim().toLowerCase()
    params[name] ??= eq === -1 ? '' : p.slice(eq + 1).trim()
  }
  const port = m[5] != null ? `:${m[5]}` : ''
  return { protocol: `${m[1] as string}/${m[2] as string}/${m[3] as string}`, sentBy: `${(m[4] as string).toLowerCase()}${port}`, params }
}

/** The branch of the first Via value (a Via header may list several, comma-separated). */
export function viaBranch (via: string): string {
  const first = splitTopLevel(via, ',')[0] ?? ''
  try {
    return parseViaParm(first).params.branch ?? ''
  } catch {
    return /;\s*branch\s*=\s*([^;,\s]+)/i.exec(first)?.[1] ?? ''
  }
}

/** RFC 3261 §8.1.1.7: a branch that starts with the magic cookie identifies its transaction by itself. */
const MAGIC_COOKIE = 'z9hG4bK'

/**
 * What identifies a request's transaction across methods (RFC 3261 §17.2.3):
 * the top Via's branch and sent-by. A CANCEL has the key of the request it
 * cancels (§9.2). Without the magic cookie (RFC 2543 peers, RFC 4475 §3.2.1,
 * §3.4.1), Call-ID, CSeq number, From tag and the top Via stand in (the
 * Request-URI and To tag of §17.2.3 are not in the responses this is matched
 * against).
 */
export function branchKey (msg: Pick<SipMessage, 'branch' | 'sentBy' | 'callId' | 'cseq' | 'from'>): string {
  if (msg.branch.startsWith(MAGIC_COOKIE) && msg.branch.length > MAGIC_COOKIE.length) return `${msg.branch}|${msg.sentBy}`
  return `2543|${msg.branch}|${msg.sentBy}|${msg.callId}|${msg.cseq}|${msg.from.tag ?? ''}`
}

/**
 * A server transaction's key (RFC 3261 §17.2.3): branchKey and the method,
 * an ACK matching its INVITE. For a response, `method` is its CSeq method.
 */
export function transactionKey (msg: Pick<SipMessage, 'branch' | 'sentBy' | 'callId' | 'cseq' | 'from' | 'method'>): string {
  return `${branchKey(msg)}|${msg.method === 'ACK' ? 'INVITE' : msg.method}`
}

/**
 * Parses `"Alice" <sip:alice@example.org>;tag=x`, `<sip:a@b>`, or `sip:a@b;tag=x`
 * (RFC 3261 §20.10, §20.20, §20.39, §25.1 name-addr / addr-spec).
 * LWS is allowed around `;` and `=`, and between the display name and `<`;
 * not inside `< >`.
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
    const name = v.slice(0, open).trim()
    if (name.startsWith('"')) {
      if (!/^"(?:[^"\\]|\\[\s\S])*"$/.test(name)) throw new Error('Bad quoted display name')
      displayName = unquote(name)
    } else if (name !== '' && !/^[A-Za-z0-9.!%*_+`'~-]+(?:\s+[A-Za-z0-9.!%*_+`'~-]+)*$/.test(name)) {
      // RFC 4475 §3.1.2.15: `Bell, Alexander` must be quoted
      throw new Error(`Display name ${JSON.stringify(name.slice(0, 40))} is neither tokens nor quoted`)
    } else {
      displayName = name
    }
    uri = v.slice(open + 1, close)
    params = v.slice(close + 1)
  } else {
    if (v.includes('"')) throw new Error('Unbalanced quotes in a name-addr')
    // addr-spec: parameters after the URI belong to the header, not the URI; so
    // a URI with ';', ',' or '?' must be in < > (RFC 3261 §20.10)
    const semi = v.indexOf(';')
    uri = (semi === -1 ? v : v.slice(0, semi)).trim()
    params = semi === -1 ? '' : v.slice(semi)
    if (/[,?]/.test(uri)) throw new Error(`A URI with ',' or '?' must be in < >: ${JSON.stringify(uri.slice(0, 60))}`)
  }
  if (!URI.test(uri)) throw new Error(`Bad URI in a name-addr: ${JSON.stringify(uri.slice(0, 60))}`)
  if (!PARAMS.test(params)) throw new Error(`Bad parameters in a name-addr: ${JSON.stringify(params.slice(0, 60))}`)
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
  if (s.length >= 2 && s.startsWith('"') && s.endsWith('"')) return s.slice(1, -1).replace(/\\([\s\S])/g, '$1')
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

/** Splits at `sep` outside quotes and angle brackets (header values listing several, comma-separated). */
export function splitTopLevel (s: string, sep: string): string[] {
  const out: string[] = []
  let quoted = false
  let angle = 0
  let start = 0
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (c === '\\' && quoted) { i++; continue }
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

/** The cause of an RFC 3326 Reason header with protocol SIP, if any. */
export function reasonCause (value: string | undefined): number | undefined {
  if (value == null) return undefined
  for (const part of splitTopLevel(value, ',')) {
    const m = /^\s*SIP\s*;(?:.*;)?\s*cause\s*=\s*(\d{3})/i.exec(part)
    if (m != null) return Number(m[1])
  }
  return undefined
}
