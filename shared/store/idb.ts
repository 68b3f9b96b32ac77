import { openDB } from 'idb'
import type { IDBPDatabase } from 'idb'
import { DEFAULT_KV_DB_NAME, KV_OBJECT_STORE } from './constants.ts'
import { StorageError } from './errors.ts'
import type { TextStorage } from './kv.ts'

/**
 * A TextStorage kept in IndexedDB under `key` in the object store 'kv'.
 *
 * @example const storage = idbStorage({ key: 'identity' })
 */
export function idbStorage (init: { dbName?: string, key: string }): TextStorage {
  const dbName = init.dbName ?? DEFAULT_KV_DB_NAME
  const { key } = init
  const where = `indexeddb:${dbName}/${KV_OBJECT_STORE}/${key}`
  let db: Promise<IDBPDatabase> | undefined

  const open = async (): Promise<IDBPDatabase> => {
    db ??= openKv(dbName).catch((err: unknown) => {
      db = undefined // let the next call retry, e.g. after the user closed a blocking tab
      throw new StorageError(where, `Cannot open IndexedDB database "${dbName}": ${(err as Error)?.message ?? String(err)}`, { cause: err })
    })
    return await db
  }

  return {
    async read () {
      const database = await open()
      let value: unknown
      try {
        value = await database.get(KV_OBJECT_STORE, key)
      } catch (err) {
        throw new StorageError(where, `Cannot read ${where}: ${(err as Error)?.message ?? String(err)}`, { cause: err })
      }
      if (value === undefined) return undefined
      if (typeof value !== 'string') throw new StorageError(where, `${where} holds a ${typeof value}, not text`)
      return value
    },
    async write (data: string) {
      if (typeof data !== 'string') throw new TypeError('Storage only holds strings')
      const database = await open()
      try {
        await database.put(KV_OBJECT_STORE, data, key)
      } catch (err) {
        throw new StorageError(where, `Cannot write ${where}: ${(err as Error)?.message ?? String(err)}`, { cause: err })
      }
    }
  }
}

// Opens at whatever version exists and only upgrades when the object store is missing,
// so a database shared with other code never fails with VersionError.
async function openKv (dbName: string): Promise<IDBPDatabase> {
  const db = await openDB(dbName, undefined, {
    upgrade (database) {
      if (!database.objectStoreNames.contains(KV_OBJECT_STORE)) database.createObjectStore(KV_OBJECT_STORE)
    }
  })
  if (db.objectStoreNames.contains(KV_OBJECT_STORE)) return db
  const version = db.version + 1
  db.close()
  return await openDB(dbName, version, {
    upgrade (database) {
      if (!database.objectStoreNames.contains(KV_OBJECT_STORE)) database.createObjectStore(KV_OBJECT_STORE)
    }
  })
}
