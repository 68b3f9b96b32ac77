/**
 * The history store: chat transcripts, call history, buddies and settings in one
 * IndexedDB database, with full-text search over transcripts. Contract: history-api.ts.
 *
 * Files: history-schema.ts (object stores, indexes, opening and upgrades),
 * history-search.ts (the search planner), history-validate.ts (input checks).
 * Message, conversation, call, buddy and setting operations are here.
 *
 * A message and its by-word index entries are one record, and the conversation row is
 * updated in the same transaction, so a transcript is never half stored.
 *
 * @example
 * const history = await openHistory()
 * await history.addMessage({ peer: 'bob@example.org', direction: 'in', body: 'Lunch at noon?', at: Date.now(), verified: true, status: 'received' })
 * await history.search('lun') // [that message]
 */
import { unwrap } from 'idb'
import type { IDBPTransaction } from 'idb'
import { DEFAULT_CALLS_LIMIT, DEFAULT_HISTORY_DB_NAME, DEFAULT_PAGE_SIZE } from './constants.ts'
import { HistoryRecordNotFoundError, HistoryUnavailableError, InvalidHistoryInputError, StorageError } from './errors.ts'
import type { Buddy, CallRecord, ConversationSummary, HistoryStore, MessageRecord, NewMessage } from './history-api.ts'
import { errorText, openDatabase, rangeOf, toRecord, toStored } from './history-schema.ts'
import type { Db, HistorySchema, StoreName } from './history-schema.ts'
import { DEFAULT_SEARCH_TUNING, searchIndex } from './history-search.ts'
import type { SearchTuning } from './history-search.ts'
import { MESSAGE_STATUSES, checkId, checkLimit, checkOneOf, checkTime, normalizePeer, randomId, validateCall, validateMessage } from './history-validate.ts'
import { parseQuery } from './search.ts'
import { logger } from '../util/logger.ts'

export type { SearchTuning } from './history-search.ts'

const log = logger('store:history')

export interface HistoryInit {
  /** database name; default DEFAULT_HISTORY_DB_NAME */
  dbName?: string
  /** the IndexedDB to use; default globalThis.indexedDB */
  indexedDB?: IDBFactory
  /** clock for defaulted timestamps (Buddy.addedAt, a message's missing `at`) */
  now?: () => number
  /** search planner thresholds; the defaults suit real use, tests change them to reach every plan */
  searchTuning?: Partial<SearchTuning>
}

/**
 * What openHistory() returns: the HistoryStore contract plus a bulk import.
 */
export interface LocalHistoryStore extends HistoryStore {
  /**
   * Adds many messages in one transaction (importing a transcript, the benchmark):
   * all or nothing, validated first. Same rules as addMessage.
   */
  addMessages: (messages: NewMessage[]) => Promise<MessageRecord[]>
}

/**
 * Opens (creating or upgrading) the history database.
 *
 * @throws HistoryUnavailableError when there is no IndexedDB, the browser refuses it or
 *   the database was written by a newer Peerline; HistoryBlockedError when another tab
 *   holds an older version open.
 */
export async function openHistory (init: HistoryInit = {}): Promise<LocalHistoryStore> {
  const dbName = init.dbName ?? DEFAULT_HISTORY_DB_NAME
  const factory = init.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB
  const now = init.now ?? Date.now
  const tuning: SearchTuning = { ...DEFAULT_SEARCH_TUNING, ...init.searchTuning }
  if (factory === undefined || factory === null) {
    throw new HistoryUnavailableError('IndexedDB is not available here, so chat and call history cannot be stored')
  }

  let current: Promise<Db> | undefined
  let closed = false

  const connect = async (): Promise<Db> => {
    if (closed) throw new HistoryUnavailableError('The history store was closed')
    current ??= openDatabase(factory, dbName, reason => {
      log('connection to %s lost: %s; reopening on next use', dbName, reason)
      current = undefined
    }).catch((err: unknown) => {
      current = undefined // the next call tries again, e.g. after the user closed a blocking tab
      throw err
    })
    return await current
  }

  const where = (store: string): string => `indexeddb:${dbName}/${store}`

  /**
   * Runs `fn` in one transaction and waits for it to commit. Anything thrown aborts the
   * transaction, so nothing of a failed write is kept.
   */
  const run = async <T, Names extends StoreName[], Mode extends IDBTransactionMode>(
    names: Names, mode: Mode, fn: (tx: IDBPTransaction<HistorySchema, Names, Mode>) => Promise<T>
  ): Promise<T> => {
    const db = await connect()
    let tx: IDBPTransaction<HistorySchema, Names, Mode>
    try {
      tx = db.transaction(names, mode)
    } catch (err) {
      throw storageError(where(names.join('+')), err)
    }
    const done = tx.done
    done.catch(() => {}) // awaited below; this only keeps an early throw from leaving it unobserved
    try {
      const result = await fn(tx)
      await done
      return result
    } catch (err) {
      try { tx.abort() } catch { /* already committed or aborted */ }
      throw storageError(where(names.join('+')), err)
    }
  }

  const writeMessages = async (input: NewMessage[]): Promise<MessageRecord[]> => {
    if (!Array.isArray(input)) throw new InvalidHistoryInputError('messages', 'addMessages() takes an array')
    // validate everything before opening a transaction: bad input writes nothing
    const records = input.map(m => validateMessage(m, now))
    const givenIds = input.map(m => (m as { id?: unknown }).id !== undefined)
    if (records.length === 0) return []
    return await run(['messages', 'conversations'], 'readwrite', async tx => {
      const messages = tx.objectStore('messages')
      const conversations = tx.objectStore('conversations')
      // only an id chosen by the caller can exist already; generated UUIDs skip the read
      const byId = messages.index('by-id')
      const previous = await Promise.all(records.map(async (r, i) => givenIds[i] === true ? await byId.get(r.id) : undefined))
      // plain requests, no promise each: a failing one aborts the transaction, which run() reports
      const raw = unwrap(messages)
      const written = new Map<string, MessageRecord>()
      const added = new Map<string, MessageRecord[]>() // peer -> messages new to it
      const recount = new Set<string>() // peers whose row must be rebuilt from the index
      records.forEach((r, i) => {
        const old = written.get(r.id) ?? previous[i]
        if (old !== undefined) {
          // replacing a message (its index entries go with it); a new time means a new key
          if (old.at !== r.at) raw.delete([old.at, old.id])
          recount.add(old.peer)
          recount.add(r.peer)
        } else {
          const list = added.get(r.peer) ?? []
          list.push(r)
          added.set(r.peer, list)
        }
        raw.put(toStored(r))
        written.set(r.id, r)
      })
      for (const peer of recount) added.delete(peer)
      const peers = [...added.keys()]
      const rows = await Promise.all(peers.map(async peer => await conversations.get(peer)))
      await Promise.all(peers.map(async (peer, i) => {
        const row = rows[i] ?? { peer, lastId: '', lastAt: -Infinity, count: 0 }
        for (const m of added.get(peer)!) {
          row.count++
          if (newer(m.at, m.id, row.lastAt, row.lastId)) { row.lastAt = m.at; row.lastId = m.id }
        }
        await conversations.put(row)
      }))
      for (const peer of recount) await rebuildConversation(tx, peer)
      return records
    })
  }

  const store: LocalHistoryStore = {
    async addMessage (m) {
      const [record] = await writeMessages([m])
      return record!
    },

    addMessages: writeMessages,

    async setMessageStatus (id, status) {
      checkId(id, 'id')
      checkOneOf(status, MESSAGE_STATUSES, 'status')
      await run(['messages'], 'readwrite', async tx => {
        const m = await tx.objectStore('messages').index('by-id').get(id)
        if (m === undefined) throw new HistoryRecordNotFoundError(id, `No message with id ${id}`)
        if (m.status !== status) await tx.objectStore('messages').put({ ...m, status })
      })
    },

    async conversation (peer, options = {}) {
      const p = normalizePeer(peer, 'peer')
      const limit = checkLimit(options.limit, DEFAULT_PAGE_SIZE)
      const before = options.before
      if (before !== undefined && (typeof before !== 'number' || Number.isNaN(before))) {
        throw new InvalidHistoryInputError('before', '"before" must be a time in ms since the epoch')
      }
      if (limit === 0) return []
      const range = IDBKeyRange.bound([p], before === undefined ? [p, []] : [p, before], false, before !== undefined)
      return await run(['messages'], 'readonly', async tx => {
        const out: MessageRecord[] = []
        let cursor = await tx.objectStore('messages').index('by-peer-at').openCursor(range, 'prev')
        while (cursor !== null && out.length < limit) {
          out.push(toRecord(cursor.value))
          cursor = await cursor.continue()
        }
        return out.reverse()
      })
    },

    async conversations () {
      return await run(['conversations', 'messages'], 'readonly', async tx => {
        const rows = await tx.objectStore('conversations').getAll()
        rows.sort((a, b) => newer(a.lastAt, a.lastId, b.lastAt, b.lastId) ? -1 : 1)
        const messages = tx.objectStore('messages')
        const lasts = await Promise.all(rows.map(async r => await messages.get([r.lastAt, r.lastId])))
        const out: ConversationSummary[] = []
        rows.forEach((r, i) => {
          const last = lasts[i]
          if (last !== undefined) out.push({ peer: r.peer, last: toRecord(last), count: r.count })
        })
        return out
      })
    },

    async search (query, options = {}) {
      if (typeof query !== 'string') throw new InvalidHistoryInputError('query', 'A search query must be text')
      const limit = checkLimit(options.limit, DEFAULT_PAGE_SIZE)
      const peer = options.peer === undefined ? undefined : normalizePeer(options.peer, 'peer')
      const q = parseQuery(query)
      if (q === undefined || limit === 0) return []
      const db = await connect()
      try {
        return await searchIndex(db, q, limit, peer, tuning)
      } catch (err) {
        throw storageError(where('messages'), err)
      }
    },

    async addCall (c) {
      const record = validateCall({ ...c, id: c?.id ?? randomId() }, now)
      await run(['calls'], 'readwrite', async tx => { await tx.objectStore('calls').put(record) })
      return record
    },

    async updateCall (id, patch) {
      checkId(id, 'id')
      if (patch === null || typeof patch !== 'object') throw new InvalidHistoryInputError('patch', 'updateCall() takes an object of fields to change')
      await run(['calls'], 'readwrite', async tx => {
        const old = await tx.objectStore('calls').get(id)
        if (old === undefined) throw new HistoryRecordNotFoundError(id, `No call with id ${id}`)
        await tx.objectStore('calls').put(validateCall({ ...old, ...patch, id }, now))
      })
    },

    async calls (options = {}) {
      const limit = checkLimit(options.limit, DEFAULT_CALLS_LIMIT)
      if (limit === 0) return []
      return await run(['calls'], 'readonly', async tx => {
        const out: CallRecord[] = []
        let cursor = await tx.objectStore('calls').index('by-started').openCursor(null, 'prev')
        while (cursor !== null && out.length < limit) {
          out.push(cursor.value)
          cursor = await cursor.continue()
        }
        return out
      })
    },

    async buddies () {
      return await run(['buddies'], 'readonly', async tx => await tx.objectStore('buddies').getAll())
    },

    async addBuddy (b) {
      if (b === null || typeof b !== 'object') throw new InvalidHistoryInputError('buddy', 'A buddy must be an object')
      const aor = normalizePeer(b.aor, 'aor')
      if (b.displayName !== undefined && typeof b.displayName !== 'string') throw new InvalidHistoryInputError('displayName')
      if (b.addedAt !== undefined) checkTime(b.addedAt, 'addedAt')
      return await run(['buddies'], 'readwrite', async tx => {
        // adding again (a new display name) keeps the original date unless one is given
        const old = await tx.objectStore('buddies').get(aor)
        const buddy: Buddy = { aor, addedAt: b.addedAt ?? old?.addedAt ?? now() }
        if (b.displayName !== undefined) buddy.displayName = b.displayName
        await tx.objectStore('buddies').put(buddy)
        return buddy
      })
    },

    async removeBuddy (aor) {
      const key = normalizePeer(aor, 'aor')
      await run(['buddies'], 'readwrite', async tx => { await tx.objectStore('buddies').delete(key) })
    },

    async getSetting<T> (key: string, fallback: T): Promise<T> {
      checkId(key, 'key')
      const value = await run(['settings'], 'readonly', async tx => await tx.objectStore('settings').get(key))
      return value === undefined ? fallback : value as T
    },

    async setSetting (key, value) {
      checkId(key, 'key')
      await run(['settings'], 'readwrite', async tx => {
        // undefined removes the setting, so getSetting() falls back to its default again
        if (value === undefined) await tx.objectStore('settings').delete(key)
        else {
          try {
            await tx.objectStore('settings').put(value, key)
          } catch (err) {
            if ((err as Error)?.name === 'DataCloneError') throw new InvalidHistoryInputError('value', `Setting "${key}" cannot be stored: ${(err as Error).message}`, { cause: err })
            throw err
          }
        }
      })
    },

    async requestPersistence () {
      try {
        // persist() is typed for windows only; workers and Node have no such method
        const storage = (globalThis as { navigator?: { storage?: { persist?: () => Promise<boolean> } } }).navigator?.storage
        if (typeof storage?.persist !== 'function') return false
        return (await storage.persist()) === true
      } catch {
        return false
      }
    },

    close () {
      closed = true
      const db = current
      current = undefined
      db?.then(d => { d.close() }, () => {})
    }
  }

  await connect()
  return store
}

// --- conversations ------------------------------------------------------------------

function newer (at: number, id: string, thanAt: number, thanId: string): boolean {
  // the same order as the by-peer-at index: time, then id
  return at > thanAt || (at === thanAt && id > thanId)
}

async function rebuildConversation (
  tx: IDBPTransaction<HistorySchema, ['messages', 'conversations'], 'readwrite'>, peer: string
): Promise<void> {
  const index = tx.objectStore('messages').index('by-peer-at')
  const range = rangeOf(peer)
  const count = await index.count(range)
  const conversations = tx.objectStore('conversations')
  if (count === 0) {
    await conversations.delete(peer)
    return
  }
  const cursor = await index.openCursor(range, 'prev')
  const last = cursor!.value
  await conversations.put({ peer, lastId: last.id, lastAt: last.at, count })
}

// --- errors -------------------------------------------------------------------------

const OWN_ERRORS = new Set([
  'HistoryUnavailableError', 'HistoryBlockedError', 'InvalidHistoryInputError', 'MessageTooLargeError',
  'HistoryRecordNotFoundError', 'StorageError'
])

/** Our own errors pass through; anything IndexedDB threw becomes a StorageError naming the store. */
function storageError (path: string, err: unknown): Error {
  if (err instanceof Error && OWN_ERRORS.has(err.name)) return err
  const name = (err as Error)?.name
  if (name === 'InvalidStateError' || name === 'TransactionInactiveError') {
    // the connection went away under us (another tab upgraded, storage cleared)
    return new HistoryUnavailableError(`History storage went away: ${errorText(err)}`, { cause: err })
  }
  const what = name === 'QuotaExceededError' ? 'Storage is full' : 'Cannot access'
  return new StorageError(path, `${what}: ${path}: ${errorText(err)}`, { cause: err })
}
