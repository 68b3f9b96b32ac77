/**
 * Defaults of shared/sip, each with the reason (and RFC) behind it.
 * Resolved as `init.x ?? DEFAULT_X` by the factories.
 */

/** libp2p protocol id of Peerline's SIP streams (one SIP message per frame). */
export const SIP_PROTOCOL = '/peerline/sip/1.0.0'

/**
 * Host part of device Contact URIs: `sip:<peer id>@peerline.invalid`. The
 * `.invalid` TLD (RFC 6761 §6.4) can never resolve, so such a URI is only
 * meaningful to Peerline's transport, which routes it by peer id.
 */
export const DEVICE_DOMAIN = 'peerline.invalid'

/**
 * Largest SIP message (and hello) accepted in one frame. RFC 3261 §18.1.1
 * sends anything above ~1300 bytes over a stream transport and sets no upper
 * bound; 64 KiB holds any real INVITE with SDP (a few KiB) while bounding the
 * memory one hostile peer can make us buffer.
 */
export const MAX_SIP_MESSAGE_BYTES = 64 * 1024

/** Header fields accepted in one message: bounds parsing work on hostile input. */
export const MAX_SIP_HEADERS = 256

/**
 * An empty frame is sent this often on every SIP stream. libp2p aborts a
 * stream after 120 s without traffic (its inactivityTimeout), and a call can
 * go hours without SIP; cf. the CRLF keep-alives of RFC 5626 §4.4.1.
 */
export const SIP_KEEPALIVE_INTERVAL_MS = 20_000

/**
 * A SIP stream with no SIP message for this long and no call on it is closed;
 * it is reopened on demand, and the connection stays with libp2p's manager.
 */
export const SIP_LINK_IDLE_MS = 10 * 60_000

/** Bound on dialling one device and opening its SIP stream (a relayed dial takes two hops). */
export const SIP_DIAL_TIMEOUT_MS = 8_000
/** How long an already open connection gets to open a SIP stream before it counts as dead and the device is dialled afresh. */
export const SIP_STALE_CONNECTION_MS = 2_500

/**
 * Bound on call()/sendMessage() finding a target: DHT lookup plus dialling
 * its devices. Past it the caller gets a clear error rather than a hang.
 */
export const CALL_SETUP_TIMEOUT_MS = 15_000

/**
 * JsSIP waits for ICE gathering to complete before it sends the INVITE or
 * the 200; with STUN/TURN servers that can take many seconds. Host and
 * server-reflexive candidates arrive within a few hundred ms, so the offer
 * goes out this long after the first candidate (trickle ICE is not
 * available through JsSIP).
 */
export const ICE_GATHERING_TIMEOUT_MS = 1_000

/**
 * An unanswered call stops ringing after this long (JsSIP's
 * no_answer_timeout, 60 s, is the usual PBX default too).
 */
export const NO_ANSWER_TIMEOUT_MS = 60_000

/**
 * Timer C of RFC 3261 §16.6 step 11 (> 3 min): a forked INVITE that got
 * no final response by then is cancelled and answered 408 by the proxy.
 */
export const PROXY_TIMER_C_MS = 3 * 60_000

/**
 * Timer F of RFC 3261 §17.1.2.2 (64*T1): a forked non-INVITE request
 * without a final response is answered 408 by the proxy.
 */
export const PROXY_TIMER_F_MS = 32_000

/**
 * A finished forking context is kept this long (64*T1, RFC 3261 §17) to
 * absorb the caller's ACK for a non-2xx and late retransmissions.
 */
export const TRANSACTION_LINGER_MS = 32_000

/**
 * How long to remember which stream a request came from, so responses go
 * back the same way. Generous: a ringing INVITE is answered up to a minute
 * later and 2xx retransmissions follow for 32 s.
 */
export const SERVER_TRANSACTION_IDLE_MS = 5 * 60_000

/** Bound on each routing table (transactions, dialog origins, known devices). */
export const MAX_TRACKED_ENTRIES = 4096

/**
 * After the first 2xx to a forked MESSAGE, wait at most this long for the
 * other devices before counting how many accepted it (deliveredTo).
 */
export const MESSAGE_SETTLE_MS = 2_000

/** Bound on sendMessage(): SIP's own Timer F is 32 s, too long for a chat UI. */
export const SEND_MESSAGE_TIMEOUT_MS = 15_000

/** Bound on stop(): JsSIP waits up to 2 s for BYE/CANCEL transactions. */
export const STOP_TIMEOUT_MS = 3_000

/** Max-Forwards for requests the proxy creates itself (RFC 3261 §8.1.1.6). */
export const MAX_FORWARDS = 70

/** Reason phrase of the 480 a device sends when its user will call back from another device (the caller's UI says so). */
export const CALL_BACK_PHRASE = 'Calling back from another device'

/** Reason phrase of the 403 a device sends to a revoked device of the caller's identity; the caller's UI explains it. */
export const DEVICE_REVOKED_PHRASE = 'Device revoked'

/**
 * REGISTER expiry asked of an account's registrar (JsSIP's default, 600 s);
 * JsSIP re-registers a little before it runs out (RFC 3261 §10.2.4).
 */
export const ACCOUNT_REGISTER_EXPIRES_S = 600

/**
 * Reconnect back-off of an account's WebSocket (JsSIP's connection
 * recovery, whole seconds): from 2 s up to the 5 min cap of DESIGN.md's
 * back-off. JsSIP re-registers on every reconnect.
 */
export const ACCOUNT_RECONNECT_MIN_S = 2
export const ACCOUNT_RECONNECT_MAX_S = 300

/**
 * A REGISTER with no final response this long after it was sent counts as
 * unreachable in the UI (JsSIP's own Timer F, 32 s, still runs and a late
 * 200 still turns the account 'registered').
 */
export const ACCOUNT_REGISTER_TIMEOUT_MS = 10_000

/**
 * A REGISTER refused for a reason that may pass (408, 480, 5xx) or timed out
 * is tried again after shared/util/backoff's delay: 0.5 s doubling to this cap.
 */
export const ACCOUNT_REREGISTER_MAX_MS = 300_000
