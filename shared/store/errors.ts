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
