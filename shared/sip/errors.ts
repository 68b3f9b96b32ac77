/**
 * shared/sip errors. Callers branch on `err.name`; the UI maps names to
 * sentences in one table. Lookup errors (NotFoundError, OfflineError,
 * certificate errors) come from shared/overlay and shared/identity and pass
 * through unchanged; InvalidAddressError comes from shared/identity.
 */

/** A Call method was used in a state that does not allow it (e.g. answer() on an outgoing call). */
export class InvalidStateError extends Error {
  static override name = 'InvalidStateError'
  override name = 'InvalidStateError'
  constructor (message = 'The call is not in a state that allows this') { super(message) }
}

/** None of the target's devices could be reached, or the call could not be started. */
export class CallFailedError extends Error {
  static override name = 'CallFailedError'
  override name = 'CallFailedError'
  constructor (message = 'None of the devices at that address could be reached') { super(message) }
}

/** Devices were reached but none accepted the message (the status says why). */
export class MessageRejectedError extends Error {
  static override name = 'MessageRejectedError'
  override name = 'MessageRejectedError'
  status?: number
  constructor (message = 'The message was not accepted', status?: number) {
    super(message)
    if (status != null) this.status = status
  }
}

/** The phone is not started (or already stopped). */
export class PhoneNotStartedError extends Error {
  static override name = 'PhoneNotStartedError'
  override name = 'PhoneNotStartedError'
  constructor (message = 'The phone is not started') { super(message) }
}

/** A frame on a SIP stream announced more bytes than MAX_SIP_MESSAGE_BYTES. */
export class FrameTooLargeError extends Error {
  static override name = 'FrameTooLargeError'
  override name = 'FrameTooLargeError'
  constructor (message = 'SIP frame is larger than the limit') { super(message) }
}

/** A frame's length prefix is not a valid varint. */
export class MalformedFrameError extends Error {
  static override name = 'MalformedFrameError'
  override name = 'MalformedFrameError'
  constructor (message = 'SIP frame has a malformed length prefix') { super(message) }
}

/**
 * A SIP message does not parse. `status` is 400 when the message is a
 * request that can still be answered (RFC 3261 §8.2, §21.4.1).
 */
export class MalformedSipError extends Error {
  static override name = 'MalformedSipError'
  override name = 'MalformedSipError'
  status?: number
  /** the header fields read, when `status` is set: enough to build the 400 */
  headers?: Array<{ name: string, value: string }>
  constructor (message = 'Malformed SIP message', status?: number) {
    super(message)
    if (status != null) this.status = status
  }
}

/** The hello frame on a SIP stream is not the expected JSON. */
export class MalformedHelloError extends Error {
  static override name = 'MalformedHelloError'
  override name = 'MalformedHelloError'
  constructor (message = 'The peer sent a malformed identity hello') { super(message) }
}

/** A SIP account's settings do not work as given: `field` says which one. */
export class InvalidAccountError extends Error {
  static override name = 'InvalidAccountError'
  override name = 'InvalidAccountError'
  field: 'address' | 'wsUrl' | 'authorizationUser' | 'password' | 'outboundProxy' | 'registrar' | 'id'
  constructor (field: InvalidAccountError['field'], message = `The account's ${field} is not valid`) {
    super(message)
    this.field = field
  }
}

/**
 * The SIP server refused the account's credentials: 401/407 again after
 * JsSIP answered the challenge, or 403 to the REGISTER. Not retried: a wrong
 * password does not get better by itself.
 */
export class AuthenticationFailedError extends Error {
  static override name = 'AuthenticationFailedError'
  override name = 'AuthenticationFailedError'
  status?: number
  constructor (message = 'The SIP server refused the user name or password', status?: number) {
    super(message)
    if (status != null) this.status = status
  }
}

/**
 * The account's server cannot be reached: the WebSocket does not open or
 * closed, or the server did not answer in time. Retried with back-off.
 */
export class AccountUnreachableError extends Error {
  static override name = 'AccountUnreachableError'
  override name = 'AccountUnreachableError'
  constructor (message = 'The SIP server cannot be reached') { super(message) }
}

/** The registrar refused the REGISTER for a reason other than credentials (`status` says which). */
export class RegistrationRejectedError extends Error {
  static override name = 'RegistrationRejectedError'
  override name = 'RegistrationRejectedError'
  status?: number
  constructor (message = 'The SIP server refused the registration', status?: number) {
    super(message)
    if (status != null) this.status = status
  }
}
