import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { StorageError } from '../errors.ts'
import type { TextStorage } from '../kv.ts'

/**
 * A TextStorage in one file. The directory is created private (0700) and writes are
 * atomic (temporary 0600 file, fsync, rename), so a crash never leaves half a file and
 * other users cannot read the private key it may hold.
 *
 * @example const storage = fileStorage(join(homedir(), '.peerline', 'identity.json'))
 */
export function fileStorage (path: string): TextStorage {
  if (typeof path !== 'string' || path === '') throw new TypeError('fileStorage needs a file path')
  return {
    async read () {
      try {
        return await readFile(path, 'utf8')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw new StorageError(path, `Cannot read ${path}: ${(err as Error).message}`, { cause: err })
      }
    },
    async write (data: string) {
      if (typeof data !== 'string') throw new TypeError('Storage only holds strings')
      const dir = dirname(path)
      const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
      try {
        await mkdir(dir, { recursive: true, mode: 0o700 })
        const handle = await open(tmp, 'wx', 0o600)
        try {
          await handle.writeFile(data, 'utf8')
          await handle.sync()
        } finally {
          await handle.close()
        }
        await rename(tmp, path)
      } catch (err) {
        await unlink(tmp).catch(() => {})
        throw new StorageError(path, `Cannot write ${path}: ${(err as Error).message}`, { cause: err })
      }
    }
  }
}
