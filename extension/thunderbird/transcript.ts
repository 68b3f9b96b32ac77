/**
 * Chat transcripts as mail: one RFC 5322 message per conversation batch, so
 * Thunderbird's own search (and Gloda) finds them in the "Peerline Chats"
 * folder. Messages with one peer are threaded (References to the peer's
 * thread root). Pure: runs in Node for tests.
 */
import type { MessageRecord } from '../../shared/store/history-api.ts'

/** The local folder transcripts are stored in. */
export const TRANSCRIPT_FOLDER = 'Peerline Chats'

export interface TranscriptInput {
  /** the user's own address and name */
  me: { aor: string, displayName?: string }
  peer: { aor: string, displayName?: string }
  /** oldest first; at least one */
  messages: MessageRecord[]
}

function encodeWord (s: string): string {
  // RFC 2047 for non-ASCII display names and subjects
  return /^[\x20-\x7e]*$/.test(s) ? s : `=?UTF-8?B?${utf8Base64(s)}?=`
}

function utf8Base64 (s: string): string {
  const bytes = new TextEncoder().encode(s)
  let bin = ''
  for (const b of bytes) bin += String.fromCharCode(b)
  return btoa(bin)
}

function mailbox (p: { aor: string, displayName?: string }): string {
  const name = (p.displayName ?? '').replace(/["\\\r\n]/g, '').trim()
  return name === '' ? `<${p.aor}>` : `"${encodeWord(name)}" <${p.aor}>`
}

/** Message-ID of the thread root for conversations with `peer` (stable, so every batch threads under it). */
export function threadRootId (peer: string): string {
  return `<thread.${peer.replace(/[^a-zA-Z0-9.@_-]/g, '_').replace('@', '.at.')}@peerline.invalid>`
}

function messageId (input: TranscriptInput): string {
  const first = input.messages[0] as MessageRecord
  return `<chat.${first.at}.${first.id.replace(/[^a-zA-Z0-9_-]/g, '')}@peerline.invalid>`
}

function line (m: MessageRecord, input: TranscriptInput): string {
  const who = m.direction === 'out' ? (input.me.displayName ?? input.me.aor) : (input.peer.displayName ?? input.peer.aor)
  const when = new Date(m.at).toISOString().replace('T', ' ').slice(0, 19) + 'Z'
  const note = m.status === 'failed' ? ' (not delivered)' : ''
  return `[${when}] ${who}${note}: ${m.body.replace(/\r?\n/g, '\n    ')}`
}

/** RFC 5322 / 2045 line limit (characters before CRLF) for a body sent as 8bit. */
const MAX_8BIT_LINE = 998
/** RFC 2045 §6.7: encoded lines at most 76 characters, the soft break '=' included. */
const QP_LINE = 76

/** Quoted-printable (RFC 2045 §6.7) of UTF-8 text with LF line ends; CRLF line ends out. */
export function quotedPrintable (text: string): string {
  const enc = new TextEncoder()
  return text.split('\n').map(lineText => {
    const bytes = enc.encode(lineText)
    const tokens: string[] = []
    bytes.forEach((b, i) => {
      const last = i === bytes.length - 1
      const plain = (b >= 33 && b <= 126 && b !== 61) || ((b === 32 || b === 9) && !last)
      tokens.push(plain ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, '0')}`)
    })
    const out: string[] = []
    let cur = ''
    for (const t of tokens) {
      if (cur.length + t.length > QP_LINE - 1) { out.push(cur + '='); cur = '' }
      cur += t
    }
    out.push(cur)
    return out.join('\r\n')
  }).join('\r\n')
}

/** Whether the body needs quoted-printable: a line too long for 8bit or ending in white space (which transports strip). */
function needsQuotedPrintable (body: string): boolean {
  return body.split('\n').some(l => /[ \t]$/.test(l) || new TextEncoder().encode(l).length > MAX_8BIT_LINE)
}

/**
 * The raw message (CRLF line ends, UTF-8 body; 8bit, or quoted-printable
 * when a line is too long or ends in white space).
 * @example transcriptMessage({ me, peer, messages }) // 'From: …\r\nSubject: Peerline chat with bob@example.org…'
 */
export function transcriptMessage (input: TranscriptInput): string {
  if (input.messages.length === 0) throw new RangeError('A transcript needs at least one message')
  const first = input.messages[0] as MessageRecord
  const lastIn = [...input.messages].reverse().find(m => m.direction === 'in')
  // the message is "from" the peer when they wrote last, so the folder reads like an inbox
  const from = lastIn !== undefined ? input.peer : input.me
  const to = from === input.peer ? input.me : input.peer
  const peerName = input.peer.displayName !== undefined && input.peer.displayName !== '' ? `${input.peer.displayName} (${input.peer.aor})` : input.peer.aor
  const body = input.messages.map(m => line(m, input)).join('\n') + '\n'
  const qp = needsQuotedPrintable(body)
  const headers = [
    `From: ${mailbox(from)}`,
    `To: ${mailbox(to)}`,
    `Subject: ${encodeWord(`Peerline chat with ${peerName}`)}`,
    `Date: ${new Date(first.at).toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: ${messageId(input)}`,
    `References: ${threadRootId(input.peer.aor)}`,
    `In-Reply-To: ${threadRootId(input.peer.aor)}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=UTF-8',
    `Content-Transfer-Encoding: ${qp ? 'quoted-printable' : '8bit'}`,
    `X-Peerline-Peer: ${input.peer.aor}`
  ]
  return headers.join('\r\n') + '\r\n\r\n' + (qp ? quotedPrintable(body) : body.replace(/\n/g, '\r\n'))
}
