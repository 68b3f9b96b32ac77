/**
 * The one table that turns error names into sentences for people. Modules
 * throw error classes (see shared/identity/errors.ts, shared/overlay/errors.ts,
 * shared/sip); the UI branches on `err.name` here and nowhere else.
 *
 * Plain TypeScript without DOM types on purpose: the extension's background
 * (a worker) can use it for notifications too.
 *
 * @example
 * const text = errorMessage(err, { address: 'bob@example.org' })
 * if (text !== undefined) showAlert(text)   // undefined: AbortError, stay silent
 */

/** What the sentence may mention: the address the user was trying to reach. */
export interface ErrorContext {
  address?: string
}

type Sentence = string | ((ctx: ErrorContext, err: ErrorLike) => string)

interface ErrorLike { name: string, message: string }

const who = (ctx: ErrorContext): string => ctx.address ?? 'That address'
const rejected = (what: string) => (ctx: ErrorContext): string =>
  `The overlay returned a location record for ${ctx.address ?? 'that address'} that ${what}, so Peerline did not use it.`

/** Error name → sentence. AbortError is deliberately absent: a cancelled action needs no message. */
export const ERROR_SENTENCES: Readonly<Record<string, Sentence>> = {
  // finding people (shared/overlay, shared/sip)
  NotFoundError: ctx => `${who(ctx)} is not online right now.`,
  OfflineError: 'You are offline: no supernode connected.',
  InvalidAddressError: 'That is not a valid email address or sip: address.',
  CallFailedError: (ctx, err) => `The call to ${ctx.address ?? 'that address'} could not be connected${detail(err)}.`,
  MessageRejectedError: ctx => `${who(ctx)} did not accept the message.`,
  PhoneNotStartedError: 'Peerline is still starting. Try again in a moment.',
  DeviceUnavailableError: 'Peerline\'s background phone did not start: reload the extension from the browser\'s add-on page.',
  ConflictingClaimsError: ctx => `Several keys claim ${ctx.address ?? 'that address'} and none is verified: choose one before calling or sending.`,
  RecordExpiredError: ctx => `${who(ctx)} was online earlier but is not reachable now.`,
  StaleRecordError: rejected('is older than one already seen (possibly replayed)'),
  BadSignatureError: rejected('has a bad signature'),
  WrongEmailError: rejected('belongs to another address'),
  CertificateExpiredError: rejected('has an expired certificate'),
  UnknownIssuerError: rejected('was certified by an issuer you do not trust'),
  MalformedRecordError: rejected('is malformed'),
  RecordKeyMismatchError: rejected('is stored under the wrong key'),
  RecordTooLargeError: rejected('is too large'),
  InvalidMultiaddrError: 'That is not a valid supernode address: use a multiaddr ending in /p2p/<peer id>.',
  // calls (shared/sip, WebRTC, getUserMedia)
  NotAllowedError: 'Peerline may not use your microphone or camera: allow it in the browser\'s site settings.',
  NotReadableError: 'Your microphone or camera is busy in another program.',
  OverconstrainedError: 'No microphone or camera matches what this call needs.',
  InvalidStateError: 'That is not possible in the call\'s current state.',
  TimeoutError: 'That took too long. Please try again.',
  BusyError: ctx => `${who(ctx)} is busy.`,
  // SIP accounts (shared/sip/accounts.ts)
  InvalidAccountError: (_ctx, err) => err.message.trim() !== '' ? `${err.message.trim().replace(/\.$/, '')}.` : 'That SIP account setting is not valid.',
  AuthenticationFailedError: 'The SIP server refused the user name or password: check them in Settings → SIP accounts.',
  AccountUnreachableError: (_ctx, err) => `The SIP server cannot be reached${detail(err)}. Peerline keeps trying.`,
  RegistrationRejectedError: (_ctx, err) => `The SIP server refused the registration${detail(err)}.`,
  // identity and backups (shared/identity)
  BadPassphraseError: 'Wrong passphrase, or the backup file has been changed.',
  MalformedBackupError: 'That is not a valid Peerline identity backup.',
  IdentityExistsError: 'This device already has a different identity. Tick "Replace this device\'s identity" to restore anyway.',
  NoIdentityError: 'Create or restore an identity first.',
  // storage (shared/store)
  StorageError: 'Peerline cannot read or write its storage on this device (private browsing or a full disk?).',
  QuotaExceededError: 'This device\'s storage for Peerline is full.',
  HistoryUnavailableError: 'Chat and call history cannot be stored in this browser (IndexedDB is unavailable).',
  HistoryBlockedError: 'Another Peerline tab is blocking the history storage: close or reload it.',
  MessageTooLargeError: 'That message is too long to send.',
  // trust (shared/identity/trust.ts)
  KeyChangedError: ctx => `${ctx.address ?? 'This contact'}'s security key changed. Nothing was sent: compare the safety number, then accept the new key in the chat with ${ctx.address ?? 'them'}.`,
  InvalidCaError: (_ctx, err) => `That certificate authority cannot be trusted${detail(err)}.`,
  MalformedTrustStoreError: 'Your trusted certificate authorities and pinned keys could not be read on this device; they were left untouched.',
  // linked devices (shared/identity/roster.ts, shared/overlay/pairing.ts)
  NotPrimaryDeviceError: 'Only the device where this identity was created can do that: this one is linked to it.',
  DeviceRevokedError: (_ctx, err) => `This device was removed from the identity${detail(err)}.`,
  DeviceNotInRosterError: rejected('lists a device its owner does not list'),
  MalformedRosterError: rejected('carries a malformed device list'),
  PairingCodeError: (_ctx, err) => `The pairing code did not match${detail(err)}. Show a new link on your other device.`,
  PairingExpiredError: 'The pairing link has expired. Show a new one on your other device (Settings → Devices).',
  PairingCancelledError: 'The pairing link was already used or cancelled. Show a new one on your other device (Settings → Devices).',
  MalformedPairingOfferError: 'That is not a Peerline pairing link (was it copied completely?).',
  MalformedPairingMessageError: 'The other device answered the pairing with something Peerline does not understand.',
  PairingFailedError: (_ctx, err) => `Could not reach your other device to link this one${detail(err)}: keep Peerline open there and try again.`,
  // email verification by a CA (shared/identity/ca-protocol.ts)
  WrongCodeError: (_ctx, err) => `That is not the code from the mail${detail(err)}.`,
  CodeExpiredError: 'That code has expired: request a new one.',
  TooManyAttemptsError: 'Too many wrong codes: this verification was cancelled. Request a new code.',
  UnknownRequestError: 'That verification is no longer pending (already used, expired or cancelled). Request a new code.',
  CaRateLimitedError: (_ctx, err) => `The certificate authority asks you to wait${detail(err)}.`,
  MailFailedError: (_ctx, err) => `The certificate authority could not send the mail${detail(err)}.`,
  BadProofError: 'The certificate authority refused the request: check this device\'s clock.',
  CaUnavailableError: (_ctx, err) => `No certificate authority answered${detail(err)}.`,
  MalformedCaMessageError: (_ctx, err) => `The certificate authority sent something Peerline cannot use${detail(err)}.`
}

/**
 * The sentence for `err`, or undefined when the UI should stay silent (AbortError).
 * Unknown errors still get a sentence, with their message, so nothing fails silently.
 */
export function errorMessage (err: unknown, ctx: ErrorContext = {}): string | undefined {
  const e = asError(err)
  if (e.name === 'AbortError') return undefined
  const sentence = ERROR_SENTENCES[e.name]
  if (sentence === undefined) return `Something went wrong: ${e.message !== '' ? e.message : e.name}.`.replace(/\.\.$/, '.')
  return typeof sentence === 'function' ? sentence(ctx, e) : sentence
}

/**
 * Why a remote party is not verified, as a few words for the badge
 * "Not verified — <reason>". `reason` is the error name from RemoteParty.unverifiedReason.
 */
export function unverifiedReason (reason: string | undefined): string {
  switch (reason) {
    case 'WrongEmailError': return 'the certificate is for another address'
    case 'BadSignatureError': return 'the signature does not check out'
    case 'CertificateExpiredError': return 'the certificate has expired'
    case 'UnknownIssuerError': return 'the certificate issuer is not trusted'
    case 'WrongPeerError': return 'the device is not certified for this address'
    case 'MalformedCertificateError': return 'the certificate is malformed'
    case 'ServerAsserted': return 'named by a SIP server, not proven end to end'
    case undefined: case '': return 'identity not proven'
    default: return `identity not proven (${reason})`
  }
}

function asError (err: unknown): ErrorLike {
  if (err !== null && typeof err === 'object' && 'name' in err && typeof err.name === 'string') {
    return { name: err.name, message: 'message' in err && typeof err.message === 'string' ? err.message : '' }
  }
  return { name: 'Error', message: String(err) }
}

function detail (err: ErrorLike): string {
  const m = err.message.trim().replace(/\.$/, '')
  return m === '' ? '' : ` (${m})`
}
