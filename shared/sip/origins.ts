/**
 * Who sent each request JsSIP was handed (and who answered each INVITE),
 * judged against what their stream's identity hello proved (see hello.ts):
 * the Phone shows a call's or a message's party as verified only from here.
 */
import { normalizeAor } from '../identity/index.ts'
import { SERVER_TRANSACTION_IDLE_MS } from './constants.ts'
import type { PeerVerification } from './hello.ts'
import type { SipLink } from './link.ts'
import { sipUriParts } from './message.ts'
import type { SipMessage } from './message.ts'
import { trim } from './routing.ts'

/** How long an origin is remembered (a call's whole life, within reason). */
const ORIGIN_TTL_MS = SERVER_TRANSACTION_IDLE_MS * 12

/** Who sent a request (or answered one), and what their stream proved. */
export interface RequestOrigin {
  peerId: string
  /** the verification of this request's From address against the stream's hello */
  verification: PeerVerification
  /** the From (for requests) or To (for responses) address as claimed */
  claimedAor?: string
  displayName: string
}

export class Origins {
  private readonly origins = new Map<string, RequestOrigin & { at: number }>()

  /** Remembers who sent a request that came in over `link`. */
  noteRequest (msg: SipMessage, link: SipLink): void {
    this.origins.set(msg.callId, { ...judge(link, msg.from.uri, msg.from.displayName), at: Date.now() })
    trim(this.origins)
  }

  /** Remembers who answered an INVITE (the Phone shows whether the callee is verified). */
  noteAnswer (msg: SipMessage, link: SipLink): void {
    this.origins.set(`answer:${msg.callId}`, { ...judge(link, msg.to.uri, msg.to.displayName), at: Date.now() })
    trim(this.origins)
  }

  /** Who sent the latest request with this Call-ID. */
  request (callId: string): RequestOrigin | undefined {
    return this.origins.get(callId)
  }

  /** Who answered the INVITE with this Call-ID. */
  answer (callId: string): RequestOrigin | undefined {
    return this.origins.get(`answer:${callId}`)
  }

  sweep (now = Date.now()): void {
    for (const [k, o] of this.origins) if (now - o.at > ORIGIN_TTL_MS) this.origins.delete(k)
  }
}

/** A request's claimed From address judged against the stream's hello. */
function judge (link: SipLink, uri: string, displayName: string): RequestOrigin {
  let claimed: string | undefined
  const parts = sipUriParts(uri)
  if (parts != null) {
    try {
      claimed = normalizeAor(`${parts.user}@${parts.host}`)
    } catch { /* unparseable: judged as claimed */ }
  }
  const v = link.verification
  let verification: PeerVerification = v
  if (v.authenticated && v.aor !== claimed) {
    verification = { authenticated: false, reason: 'WrongEmailError', message: `The device proved ${v.aor} but claims ${claimed ?? uri}` }
  }
  return { peerId: link.remotePeer, verification, ...(claimed != null ? { claimedAor: claimed } : {}), displayName }
}
