/**
 * Defaults of the supernode's email-verifying CA (supernode/ca.ts), each resolved
 * as `init.x ?? DEFAULT`. The wire constants (frame size, code digits, proof age)
 * belong to the protocol and live in shared/identity/ca-protocol.ts.
 */

/** A code is good for 15 minutes: long enough to switch to the mail app, short enough that a leaked mail soon stops mattering. */
export const CA_CODE_TTL_MS = 15 * 60_000

/**
 * Wrong codes allowed per request: 5 guesses of a 6-digit code succeed with probability
 * 5e-6 (the throttling RFC 4226 §7.3 asks of any one-time-code verifier).
 */
export const CA_MAX_CODE_ATTEMPTS = 5

/** Mails per address per hour: enough to retry after a typo, too few to flood someone's inbox. */
export const CA_REQUESTS_PER_EMAIL_PER_HOUR = 3

/** Requests per peer per hour: a device asks once per identity; a few retries and addresses fit. */
export const CA_REQUESTS_PER_PEER_PER_HOUR = 10

/**
 * Requests per source IP (IPv6: per /64, the smallest subnet, RFC 4291 §2.5.1, and what one subscriber usually gets) per hour:
 * peer ids cost nothing to mint, addresses do; a household or small office behind one NAT still fits.
 */
export const CA_REQUESTS_PER_IP_PER_HOUR = 30

/** Mails per minute over all requesters: keeps the CA's SMTP account below typical provider send limits. */
export const CA_MAILS_PER_MINUTE = 30

/** Keys (addresses, peers, IPs) tracked per rate-limit window; past it new keys are refused rather than memory growing. */
export const CA_MAX_WINDOW_KEYS = 10_000

/** Sliding window of the per-email, per-peer and per-IP limits: the "per hour" of their names. */
export const CA_RATE_WINDOW_MS = 60 * 60_000

/** Sliding window of the global mail cap: the "per minute" of CA_MAILS_PER_MINUTE. */
export const CA_GLOBAL_WINDOW_MS = 60_000

/** Pending verifications kept at once; past it new requests are refused rather than memory growing. */
export const CA_MAX_PENDING = 10_000

/** Bound on one CA stream: reading the request, mailing and answering; today also what bounds a stalled SMTP server (see ca/mailer.ts). */
export const CA_STREAM_TIMEOUT_MS = 45_000

/**
 * Meant as nodemailer's connection and greeting timeout: RFC 5321 §4.5.3.2 lets a client
 * wait 5 minutes for the greeting, but the requester waits on an open stream, so "SMTP
 * down" should be an answer within seconds. Not applied yet: see ca/mailer.ts.
 */
export const CA_SMTP_CONNECTION_TIMEOUT_MS = 10_000

/** Meant as nodemailer's socket inactivity timeout, short for the same reason (RFC 5321 §4.5.3.2 allows minutes per command). Not applied yet: see ca/mailer.ts. */
export const CA_SMTP_SOCKET_TIMEOUT_MS = 20_000

/** The CA certificate is renewed when it has less than this left: more than the year an identity certificate it signs lasts. */
export const CA_RENEW_BEFORE_MS = 400 * 24 * 60 * 60_000

/** How often expired verifications and idle rate-limit windows are dropped. */
export const CA_SWEEP_INTERVAL_MS = 60_000

/** Value of `format` in the CA key file, so another JSON file is refused with a clear message. */
export const CA_KEY_FILE_FORMAT = 'peerline-ca-key'

/** Name of a new CA when the operator gives none; shown to users deciding whether to trust it. */
export const DEFAULT_CA_NAME = 'Peerline CA'

/** From: of the mails written to the log (--ca-mail-log) when no --ca-from is given: nothing is sent, so no real address is needed. */
export const CA_MAIL_LOG_FROM = 'Peerline CA <ca@localhost>'
