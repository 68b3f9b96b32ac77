/**
 * One text value that survives restarts (an IndexedDB entry, a file). Structurally the
 * same as IdentityStorage in shared/identity, which must not import this package.
 */
export interface TextStorage {
  read(): Promise<string | undefined>
  write(data: string): Promise<void>
}

/**
 * A TextStorage in memory, for tests and for running without persistence.
 *
 * @example const storage = memoryStorage(); await storage.write('x')
 */
export function memoryStorage (initial?: string): TextStorage {
  let value = initial
  return {
    async read () { return value },
    async write (data: string) {
      if (typeof data !== 'string') throw new TypeError('Storage only holds strings')
      value = data
    }
  }
}
