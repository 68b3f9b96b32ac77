/**
 * The SIP messages the routing proxy writes itself (RFC 3261): its own
 * responses, CANCEL, the hop-by-hop ACK for a non-2xx, and ACK+BYE for a
 * second fork's 2xx. Parsing is message.ts.
 *
 * @example link.send(buildResponse(request, 480))
 */
import { MAX_FORWARDS } from './constants.ts'
import { getHeader, getHeaders, parseNameAddr, splitTopLevel } from './message.ts'
import type { SipMessage } from './message.ts'

const encoder = new TextEncoder()

/** RFC 3261 §21 reason phrases for the statuses the proxy itself sends. */
const REASONS: Record<number, string> = {
  100: 'Trying',
  200: 'OK',
  400: 'Bad Request',
  404: 'Not Found',
  408: 'Request Timeout',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  416: 'Unsupported URI Scheme',
  487: 'Request Terminated',
  500: 'Server Internal Error',
  503: 'Service Unavailable',
  505: 'Version Not Supported'
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
