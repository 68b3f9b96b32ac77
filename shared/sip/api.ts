/**
 * The contract of shared/sip: what the PWA, the extension and tests use.
 * Implementation: phone.ts (Phone), call.ts (Call), transport.ts (the SIP
 * multiplexer over libp2p streams). Types only in this file.
 */
import type { TypedEventTarget } from 'main-event'
import type { TrustLevel } from '../identity/index.ts'

/**
 * Call lifecycle (one transition() enforces it; anything else throws InvalidStateError):
 *
 *   outgoing:  calling ──1xx──▶ ringing ──2xx──▶ active ◀──▶ held
 *   incoming:  incoming ──answer()──▶ active ◀──▶ held
 *   calling | ringing | incoming | active | held ──▶ ended
 */
export type CallState = 'calling' | 'ringing' | 'incoming' | 'active' | 'held' | 'ended'

export interface RemoteParty {
  /** normalised address, e.g. alice@example.org */
  aor: string
  /** display name from the SIP From/To header; shown only as a hint unless trust says more */
  displayName: string
  /**
   * The signatures check out: the device certificate chains to an identity
   * certificate for `aor`. NOT verification: anyone can self-issue a
   * certificate for any address. What to show comes from `trustLevel`.
   */
  authenticated: boolean
  /** why authentication failed (error name, e.g. 'WrongEmailError'), when it did */
  unverifiedReason?: string
  /** libp2p peer id of the remote device, once known */
  peerId?: string
  /**
   * what this device's trust store says about the identity key (only for
   * verified parties, when the phone has a TrustStore): new (first contact,
   * now pinned), pinned, verified (safety number confirmed) or changed (a key
   * other than the pinned one: warn loudly)
   */
  trust?: 'new' | 'pinned' | 'verified' | 'changed'
  /** the identity key (base64url) the remote party proved, when authenticated */
  identityKey?: string
  /** base64url key that issued the identity certificate (equals `identityKey` when self-issued), when known */
  issuer?: string
  /**
   * TrustStore.judge() for this party when it was met (before a first
   * contact's key got pinned), when the phone has a TrustStore: what the UI
   * shows, and what the history records.
   */
  trustLevel?: TrustLevel
  /**
   * Set for calls and messages through a SIP account (accounts.ts): the
   * account's address. Then `aor` and `displayName` are what that account's
   * server asserted (P-Asserted-Identity, else From), never proven end to end:
   * `authenticated` is false and the UI says "Via <account>".
   */
  via?: string
}

export type CallEndReason =
  | 'hangup' | 'remote-hangup' | 'declined' | 'busy' | 'cancelled' | 'remote-cancelled'
  | 'no-answer' | 'answered-elsewhere' | 'unreachable' | 'failed'

export interface CallEnd {
  reason: CallEndReason
  /** a sentence for the user */
  message: string
  /** SIP status code when one ended the call */
  status?: number
}

/** Where the time went while setting up an outgoing call (ms). */
export interface CallTimings {
  lookupMs?: number
  connectMs?: number
  /** INVITE sent until the 2xx arrived (includes the callee answering) */
  sipMs?: number
  /** ICE gathering before the INVITE could be sent (bounded by ICE_GATHERING_TIMEOUT_MS) */
  iceMs?: number
}

export interface CallEvents {
  state: CustomEvent<CallState>
  ended: CustomEvent<CallEnd>
  muted: CustomEvent<boolean>
  held: CustomEvent<boolean>
  video: CustomEvent<boolean>
  'remote-stream': CustomEvent<MediaStream>
  dtmf: CustomEvent<{ tone: string, direction: 'in' | 'out' }>
}

export interface Call extends TypedEventTarget<CallEvents> {
  readonly id: string
  readonly direction: 'outgoing' | 'incoming'
  readonly remote: RemoteParty
  readonly state: CallState
  readonly muted: boolean
  readonly held: boolean
  readonly video: boolean
  /** ms epoch */
  readonly startedAt: number
  readonly answeredAt?: number
  readonly endedAt?: number
  readonly end?: CallEnd
  readonly timings: CallTimings
  readonly localStream?: MediaStream
  readonly remoteStream?: MediaStream
  /** the RTCPeerConnection carrying media (for stats), once created */
  readonly peerConnection?: RTCPeerConnection
  answer: (options?: { video?: boolean }) => Promise<void>
  /**
   * Stops a ringing incoming call with 603 Decline, or with `callBack` 480 and
   * CALL_BACK_PHRASE: the user will call back from another device (the
   * Thunderbird add-on hands calls to the browser). A 4xx, unlike 603, lets the
   * caller's other forks (linked devices) keep ringing (RFC 3261 §16.7).
   */
  decline: (options?: { callBack?: boolean }) => void
  hangup: () => void
  setMuted: (muted: boolean) => void
  setHeld: (held: boolean) => Promise<void>
  setVideo: (video: boolean) => Promise<void>
  /** RFC 4733 telephone-events; tones from 0-9*#ABCD */
  sendDtmf: (tones: string) => void
  /** ms since answered (0 before), frozen once ended */
  duration: () => number
}

export interface IncomingMessage {
  id: string
  from: RemoteParty
  body: string
  contentType: string
  receivedAt: number
}

export interface SentMessage {
  id: string
  to: string
  /** devices that accepted it with a 2xx */
  deliveredTo: number
  /** the certificate of the location record it was sent by, and its TrustStore.judge() level (as RemoteParty) */
  recipient?: { identityKey: string, issuer: string, trustLevel?: TrustLevel }
}

export interface PhoneEvents {
  'call:incoming': CustomEvent<Call>
  'call:outgoing': CustomEvent<Call>
  'message:incoming': CustomEvent<IncomingMessage>
}

export interface Phone extends TypedEventTarget<PhoneEvents> {
  start: () => Promise<void>
  stop: () => Promise<void>
  /**
   * Looks `target` up (email or sip: URI), dials its devices and sends the
   * INVITE, resolving with the Call in state 'calling'. Rejects within a few
   * seconds with InvalidAddressError, NotFoundError (not online), OfflineError
   * (no supernode) or CallFailedError; with ConflictingClaimsError (from the
   * overlay) when several keys claim the address and none is trusted: call
   * again with `identityKey`, the claim the user chose.
   */
  call: (target: string, options?: { video?: boolean, signal?: AbortSignal, identityKey?: string }) => Promise<Call>
  /** SIP MESSAGE to every device of `target`; rejects like call() when nobody accepts it */
  sendMessage: (target: string, body: string, options?: { signal?: AbortSignal, identityKey?: string }) => Promise<SentMessage>
  /** calls not yet ended */
  calls: () => Call[]
}

/** Media access, injected so shared/sip never touches navigator directly. */
export interface MediaAdapter {
  getUserMedia: (constraints: MediaStreamConstraints) => Promise<MediaStream>
}

/**
 * An ordinary SIP-over-WebSocket account (RFC 7118) on a PBX or SIP
 * provider, as the user typed it (validated by validateAccount()).
 */
export interface SipAccountSettings {
  /** stable id (the address unless given) */
  id?: string
  /** address-of-record on that server, e.g. 1001@pbx.example.com */
  address: string
  /** the server's WebSocket URL: wss://…, or ws:// on loopback only */
  wsUrl: string
  /** digest user name (RFC 3261 §22); default the user part of `address` */
  authorizationUser?: string
  /** digest password: kept on this device only (see README) */
  password: string
  /** name shown to the people you call */
  displayName?: string
  /** SIP URI of an outbound proxy (a preloaded Route, RFC 3261 §8.1.2); default the WebSocket server */
  outboundProxy?: string
  /** registrar SIP URI; default the domain of `address` */
  registrar?: string
  /** false: do not REGISTER (outgoing calls and messages only) */
  register?: boolean
}

/**
 * Registration of an account:
 *
 *   unregistered ──start()──▶ registering ──2xx──▶ registered
 *   registering | registered ──401/403, socket lost, timeout──▶ failed
 *   failed ──reconnect / retry (back-off)──▶ registering      (not after AuthenticationFailedError)
 *   any ──stop()──▶ unregistered
 */
export type AccountState = 'unregistered' | 'registering' | 'registered' | 'failed'

export interface AccountStatus {
  state: AccountState
  /** for 'failed': AuthenticationFailedError, AccountUnreachableError or RegistrationRejectedError */
  error?: Error
  /** WebSocket reconnects attempted since the last successful connection */
  reconnectAttempts: number
  /** ms epoch of the next retry, when one is scheduled */
  retryAt?: number
}

export interface SipAccountEvents extends PhoneEvents {
  status: CustomEvent<AccountStatus>
}
