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

/** A pinned contact presented a different identity key; the user must accept it (TrustStore.acceptNewKey) first. */
export class KeyChangedError extends Error {
  static override name = 'KeyChangedError'
  override name = 'KeyChangedError'
  /** the contact's address */
  aor: string
  /** base64url key pinned before */
  previousKey: string
  /** base64url key presented now */
  newKey: string
  constructor (init: { aor: string, previousKey: string, newKey: string }, message = `${init.aor}'s security key changed`, options?: ErrorOptions) {
    super(message, options)
    this.aor = init.aor
    this.previousKey = init.previousKey
    this.newKey = init.newKey
  }
}

/** The stored trust settings (trusted CAs, pinned keys) do not parse; they are left untouched. */
export class MalformedTrustStoreError extends Error {
  static override name = 'MalformedTrustStoreError'
  override name = 'MalformedTrustStoreError'
  constructor (message = 'Stored trust settings are corrupt', options?: ErrorOptions) { super(message, options) }
}

/** A certificate authority offered for trust is not usable (bad key, empty name, bad certificate). */
export class InvalidCaError extends Error {
  static override name = 'InvalidCaError'
  override name = 'InvalidCaError'
  constructor (message = 'Not a valid certificate authority', options?: ErrorOptions) { super(message, options) }
}

/** A device roster (the identity's list of linked devices) does not have the expected shape. */
export class MalformedRosterError extends Error {
  static override name = 'MalformedRosterError'
  override name = 'MalformedRosterError'
  constructor (message = 'Device roster is malformed', options?: ErrorOptions) { super(message, options) }
}

/** Only the primary device holds the identity private key; a linked device cannot sign as the identity. */
export class NotPrimaryDeviceError extends Error {
  static override name = 'NotPrimaryDeviceError'
  override name = 'NotPrimaryDeviceError'
  constructor (message = 'This is a linked device: only the primary device can do this', options?: ErrorOptions) { super(message, options) }
}

/** A device was revoked by its identity (or is not in the identity's current device roster). */
export class DeviceRevokedError extends Error {
  static override name = 'DeviceRevokedError'
  override name = 'DeviceRevokedError'
  constructor (message = 'This device has been removed from the identity', options?: ErrorOptions) { super(message, options) }
}
