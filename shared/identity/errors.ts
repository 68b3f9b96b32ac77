// Callers branch on `err.name`, never on message text: the UI maps names to sentences
// in one table, so messages here are for logs and developers.

export class BadSignatureError extends Error {
  static override name = 'BadSignatureError'
  override name = 'BadSignatureError'
  constructor (message = 'Signature does not verify', options?: ErrorOptions) { super(message, options) }
}

export class WrongEmailError extends Error {
  static override name = 'WrongEmailError'
  override name = 'WrongEmailError'
  constructor (message = 'Certificate is for a different email address', options?: ErrorOptions) { super(message, options) }
}

/** Thrown both for expired and for not-yet-valid certificates; the message says which. */
export class CertificateExpiredError extends Error {
  static override name = 'CertificateExpiredError'
  override name = 'CertificateExpiredError'
  constructor (message = 'Certificate is outside its validity period', options?: ErrorOptions) { super(message, options) }
}

export class UnknownIssuerError extends Error {
  static override name = 'UnknownIssuerError'
  override name = 'UnknownIssuerError'
  constructor (message = 'Certificate issuer is not trusted', options?: ErrorOptions) { super(message, options) }
}

export class MalformedCertificateError extends Error {
  static override name = 'MalformedCertificateError'
  override name = 'MalformedCertificateError'
  constructor (message = 'Certificate is malformed', options?: ErrorOptions) { super(message, options) }
}

export class WrongPeerError extends Error {
  static override name = 'WrongPeerError'
  override name = 'WrongPeerError'
  constructor (message = 'Device certificate is for a different peer', options?: ErrorOptions) { super(message, options) }
}

export class BadPassphraseError extends Error {
  static override name = 'BadPassphraseError'
  override name = 'BadPassphraseError'
  constructor (message = 'Wrong passphrase', options?: ErrorOptions) { super(message, options) }
}

export class MalformedBackupError extends Error {
  static override name = 'MalformedBackupError'
  override name = 'MalformedBackupError'
  constructor (message = 'Identity backup is malformed', options?: ErrorOptions) { super(message, options) }
}

export class InvalidAddressError extends Error {
  static override name = 'InvalidAddressError'
  override name = 'InvalidAddressError'
  constructor (message = 'Not a valid email address', options?: ErrorOptions) { super(message, options) }
}

export class EncodingError extends Error {
  static override name = 'EncodingError'
  override name = 'EncodingError'
  constructor (message = 'Invalid encoding', options?: ErrorOptions) { super(message, options) }
}

export class NoIdentityError extends Error {
  static override name = 'NoIdentityError'
  override name = 'NoIdentityError'
  constructor (message = 'No identity has been created on this device yet', options?: ErrorOptions) { super(message, options) }
}

export class IdentityExistsError extends Error {
  static override name = 'IdentityExistsError'
  override name = 'IdentityExistsError'
  constructor (message = 'An identity already exists on this device', options?: ErrorOptions) { super(message, options) }
}
