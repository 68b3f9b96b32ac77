/**
 * Overlay errors. Callers branch on `err.name`; the UI maps names to sentences
 * in one table. Certificate errors (BadSignatureError, WrongEmailError, …)
 * come from shared/identity and pass through unchanged.
 */
import type { AddressClaim } from './claims.ts'

export class RecordTooLargeError extends Error {
  static override name = 'RecordTooLargeError'
  override name = 'RecordTooLargeError'
  constructor (message = 'Location record is larger than the limit') { super(message) }
}

export class MalformedRecordError extends Error {
  static override name = 'MalformedRecordError'
  override name = 'MalformedRecordError'
  constructor (message = 'Location record is malformed') { super(message) }
}

export class RecordExpiredError extends Error {
  static override name = 'RecordExpiredError'
  override name = 'RecordExpiredError'
  constructor (message = 'Location record has expired') { super(message) }
}

export class RecordKeyMismatchError extends Error {
  static override name = 'RecordKeyMismatchError'
  override name = 'RecordKeyMismatchError'
  constructor (message = 'Location record is stored under another address\'s key') { super(message) }
}

export class StaleRecordError extends Error {
  static override name = 'StaleRecordError'
  override name = 'StaleRecordError'
  constructor (message = 'Location record is older than one already seen') { super(message) }
}

/** A location record lists (or is signed by) a device that is not in the identity's device roster. */
export class DeviceNotInRosterError extends Error {
  static override name = 'DeviceNotInRosterError'
  override name = 'DeviceNotInRosterError'
  constructor (message = 'The device is not in the identity\'s device roster') { super(message) }
}

export class NotFoundError extends Error {
  static override name = 'NotFoundError'
  override name = 'NotFoundError'
  constructor (message = 'Nobody is online at that address') { super(message) }
}

export class OfflineError extends Error {
  static override name = 'OfflineError'
  override name = 'OfflineError'
  constructor (message = 'Not connected to any supernode') { super(message) }
}

export class InvalidMultiaddrError extends Error {
  static override name = 'InvalidMultiaddrError'
  override name = 'InvalidMultiaddrError'
  constructor (message = 'Not a valid multiaddr') { super(message) }
}

/** A roster change (revocation, pairing) could not be saved on this device; it was not applied or published. */
export class RosterNotSavedError extends Error {
  static override name = 'RosterNotSavedError'
  override name = 'RosterNotSavedError'
  constructor (message = 'The device list could not be saved on this device', options?: ErrorOptions) { super(message, options) }
}

/**
 * Several identity keys claim an address and this user's trust store vouches
 * for none of them: the caller must choose (`claims`, e.g. by comparing
 * fingerprints) and look up again with `identityKey`.
 */
export class ConflictingClaimsError extends Error {
  static override name = 'ConflictingClaimsError'
  override name = 'ConflictingClaimsError'
  readonly claims: AddressClaim[]
  constructor (aor: string, claims: AddressClaim[], message = `${claims.length} different keys claim ${aor}`) {
    super(message)
    this.claims = claims
  }
}
