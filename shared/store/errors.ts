// Errors of shared/store. Callers branch on `err.name`; the UI maps names to sentences.

/** A storage location could not be read or written; `path` says which (file path or IndexedDB db/store/key). */
export class StorageError extends Error {
  static override name = 'StorageError'
  override name = 'StorageError'
  readonly path: string
  constructor (path: string, message = `Cannot access storage at ${path}`, options?: ErrorOptions) {
    super(message, options)
    this.path = path
  }
}

// --- history store (history*.ts) ---------------------------------------------------
// Failing reads and writes of an open database (quota, I/O) are StorageError above,
// with `path` naming the database and object store.

/**
 * IndexedDB cannot be used: absent (Node, some private modes), refused by the browser,
 * holding a newer schema than this code (the user ran a newer Peerline, then an older
 * one), or closed because another tab upgraded the database.
 */
export class HistoryUnavailableError extends Error {
  static override name = 'HistoryUnavailableError'
  override name = 'HistoryUnavailableError'
  constructor (message = 'Chat and call history storage (IndexedDB) is not available', options?: ErrorOptions) { super(message, options) }
}

/**
 * Opening was blocked: another tab still has an older version of the database open and
 * does not close it. Closing other Peerline tabs (or reloading them) lets it through.
 */
export class HistoryBlockedError extends Error {
  static override name = 'HistoryBlockedError'
  override name = 'HistoryBlockedError'
  constructor (message = 'History storage is blocked by another Peerline tab: close or reload it', options?: ErrorOptions) { super(message, options) }
}

/** A record or option given to the store is malformed (missing peer, wrong type, bad limit…); nothing was written. `field` names the culprit. */
export class InvalidHistoryInputError extends Error {
  static override name = 'InvalidHistoryInputError'
  override name = 'InvalidHistoryInputError'
  readonly field: string
  constructor (field: string, message = `Invalid value for "${field}"`, options?: ErrorOptions) {
    super(message, options)
    this.field = field
  }
}

/** A message body is larger than MAX_MESSAGE_BYTES; nothing was written. */
export class MessageTooLargeError extends Error {
  static override name = 'MessageTooLargeError'
  override name = 'MessageTooLargeError'
  readonly bytes: number
  readonly limit: number
  constructor (bytes: number, limit: number, message = `Message is ${bytes} bytes, more than the ${limit} allowed`, options?: ErrorOptions) {
    super(message, options)
    this.bytes = bytes
    this.limit = limit
  }
}

/** setMessageStatus() or updateCall() named an id that is not stored. */
export class HistoryRecordNotFoundError extends Error {
  static override name = 'HistoryRecordNotFoundError'
  override name = 'HistoryRecordNotFoundError'
  readonly id: string
  constructor (id: string, message = `No record with id ${id}`, options?: ErrorOptions) {
    super(message, options)
    this.id = id
  }
}
