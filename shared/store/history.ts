/**
 * Size: one file on purpose. It is one IndexedDB schema and the transactions over
 * it; every store's writes must see the same upgrade code and index layout.
 *
 * The history store: chat transcripts, call history, buddies and settings in one
 * IndexedDB database, with full-text search over transcripts. Contract: history-api.ts.
 *
 * Schema (version HISTORY_DB_VERSION):
 *
 *   messages       MessageRecord plus `words`, keyed [at, id]; indexes by-id (unique),
 *                  by-peer-at [peer, at], and by-word: the inverted index, a multiEntry
 *                  index over `words`, one [word, -at] entry per distinct word of the body.
 *                  So a word's entries list its messages newest first, a prefix's entries
 *                  are one contiguous range, and a search never reads every message.
 *   conversations  per peer: count and the newest message (lastAt, lastId)
 *   calls          CallRecord by id; index by-started
 *   buddies        Buddy by aor
 *   settings       any structured-cloneable value by string key
 *
 * The inverted index lives inside the message record, so IndexedDB itself keeps it in
 * step: a message and its index entries are one write (4x faster in Chromium than one
 * record per word) and can never be half stored. The conversation row is updated in the
 * same transaction.
 *
 * @example
 * const history = await openHistory()
 * await history.addMessage({ peer: 'bob@example.org', direction: 'in', body: 'Lunch at noon?', at: Date.now(), verified: true, status: 'received' })
 * await history.search('lun') // [that message]
 */
import { unwrap, wrap } from 'idb'
import type { DBSchema, IDBPDatabase, IDBPIndex, IDBPTransaction } from 'idb'
import { StorageError } from './errors.ts'
import {
  DEFAULT_CALLS_LIMIT, DEFAULT_HISTORY_DB_NAME, DEFAULT_PAGE_SIZE, HISTORY_DB_VERSION, MAX_MESSAGE_BYTES,
  SEARCH_CHUNK_SIZE, SEARCH_MAX_MERGED_WORDS, SEARCH_MAX_PROBED_WORDS, SEARCH_MAX_WINDOW_WORDS, SEARCH_MIN_CHUNK, SEARCH_MIN_FETCH, SEARCH_PREFIX_PROBE_SIZE,
  SEARCH_PROBE_SIZE, SEARCH_RANGE_FETCH_RATIO, SEARCH_SCAN_BUDGET, SEARCH_SCAN_CHUNK, SEARCH_SCAN_PER_MERGED_WORD, SEARCH_SCAN_SLACK, SEARCH_WINDOW_RATIO
} from './history-constants.ts'
import {
  HistoryBlockedError, HistoryRecordNotFoundError, HistoryUnavailableError, InvalidHistoryInputError, MessageTooLargeError
} from './history-errors.ts'
import type { Buddy, CallOutcome, CallRecord, ConversationSummary, HistoryStore, MessageRecord, TrustSnapshot } from './history-api.ts'
import { indexTerms, parseQuery, termsMatch } from './search.ts'
import type { SearchQuery } from './search.ts'
import { logger } from '../util/logger.ts'

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

/** Thresholds of the search planner; defaults and their reasons in history-constants.ts. */
export interface SearchTuning {
  probeSize: number
  prefixProbeSize: number
  scanBudget: number
  scanChunk: number
  windowRatio: number
  rangeFetchRatio: number
  scanPerMergedWord: number
  scanSlack: number
}

const DEFAULT_SEARCH_TUNING: SearchTuning = {
  probeSize: SEARCH_PROBE_SIZE,
  prefixProbeSize: SEARCH_PREFIX_PROBE_SIZE,
  scanBudget: SEARCH_SCAN_BUDGET,
  scanChunk: SEARCH_SCAN_CHUNK,
  windowRatio: SEARCH_WINDOW_RATIO,
  rangeFetchRatio: SEARCH_RANGE_FETCH_RATIO,
  scanPerMergedWord: SEARCH_SCAN_PER_MERGED_WORD,
  scanSlack: SEARCH_SCAN_SLACK
}

export type NewMessage = Omit<MessageRecord, 'id'> & { id?: string }

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

interface ConversationRow {
  peer: string
  lastId: string
  lastAt: number
  count: number
}

/** A message as stored: `words` feeds the by-word index; it never leaves this file. */
interface StoredMessage extends MessageRecord {
  words: Array<[string, number]>
}

/** Primary key of a message: time first, so the store itself is in time order. */
type MessageKey = [number, string]

interface HistorySchema extends DBSchema {
  messages: {
    key: MessageKey
    value: StoredMessage
    indexes: { 'by-id': string, 'by-peer-at': [string, number], 'by-word': [string, number] }
  }
  conversations: { key: string, value: ConversationRow }
  calls: { key: string, value: CallRecord, indexes: { 'by-started': number } }
  buddies: { key: string, value: Buddy }
  settings: { key: string, value: unknown }
}

type Db = IDBPDatabase<HistorySchema>
type StoreName = 'messages' | 'conversations' | 'calls' | 'buddies' | 'settings'

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

// --- search -------------------------------------------------------------------------
//
// Costs that shape the planner (history-constants.ts has the figures): reading an index
// entry is cheap, a message by key dear, messages in a range cheap again, and every
// request is a round trip to the browser's storage process. So the planner reads
// few index entries (probes, never full counts), fetches messages in ranges where it
// can, and scans recent messages outright when the query is common enough.

/** One by-word index entry: the message's rank (-at, so newest first) and id. */
interface Posting { rank: number, id: string }

function comparePostings (a: Posting, b: Posting): number {
  return a.rank - b.rank || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

/** by-word entries sort by [word, -at], then by primary key [at, id]: newest first, ties by id. */
function posting (primaryKey: IDBValidKey): Posting {
  const [at, id] = primaryKey as MessageKey
  return { rank: -at, id }
}

/** Every compound key whose first part is `first`: [first] sorts before them all, [first, []] after (arrays sort after numbers and strings). */
function rangeOf (first: string): IDBKeyRange {
  return IDBKeyRange.bound([first], [first, []])
}

function prefixRange (prefix: string): IDBKeyRange {
  // U+FFFF is never part of a word, so every word starting with prefix sorts below it
  return IDBKeyRange.bound([prefix], [prefix + '\uffff'])
}

type WordIndex = IDBPIndex<HistorySchema, ['messages'], 'messages', 'by-word', 'readonly'>

function wordIndex (db: Db): WordIndex {
  return db.transaction('messages', 'readonly').store.index('by-word')
}

async function request<T> (r: IDBRequest<T>): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    r.onsuccess = () => { resolve(r.result) }
    r.onerror = () => { reject(r.error) }
  })
}

interface RecordsSource {
  getAllRecords?: (options: { query?: IDBKeyRange | null, count?: number, direction?: IDBCursorDirection }) => IDBRequest<Array<{ value: StoredMessage }>>
  openCursor: (query?: IDBKeyRange | null, direction?: IDBCursorDirection) => IDBRequest<IDBCursorWithValue | null>
}

/**
 * Up to `n` values of `source` in `range`, last first: getAllRecords() where the browser
 * has it (Chromium 141+), one request; a cursor elsewhere.
 */
async function newestValues (source: RecordsSource, range: IDBKeyRange | null, n: number): Promise<StoredMessage[]> {
  if (typeof source.getAllRecords === 'function') {
    return (await request(source.getAllRecords({ query: range, count: n, direction: 'prev' }))).map(r => r.value)
  }
  return await new Promise<StoredMessage[]>((resolve, reject) => {
    const out: StoredMessage[] = []
    const r = source.openCursor(range, 'prev')
    r.onsuccess = () => {
      const cursor = r.result
      if (cursor === null || out.length >= n) { resolve(out); return }
      out.push(cursor.value as StoredMessage)
      if (out.length >= n) resolve(out)
      else cursor.continue()
    }
    r.onerror = () => { reject(r.error) }
  })
}

/** Postings in index order (newest first), handed out in batches; [] at the end. */
interface PostingSource {
  take: (db: Db, n: number) => Promise<Posting[]>
}

/** One word's postings, read from the index in chunks. */
class WordPostings implements PostingSource {
  readonly word: string
  private buffer: Posting[] = []
  private after: Posting | undefined
  private exhausted = false
  private chunk: number

  constructor (word: string, chunk: number, first?: IDBValidKey[], complete = false) {
    this.word = word
    this.chunk = chunk
    if (first !== undefined) {
      this.buffer = first.map(posting)
      this.after = this.buffer.at(-1)
      this.exhausted = complete
    }
  }

  get needsFill (): boolean { return this.buffer.length === 0 && !this.exhausted }
  peek (): Posting | undefined { return this.buffer[0] }
  shift (): Posting | undefined { return this.buffer.shift() }

  async fill (index: WordIndex, n = this.chunk): Promise<void> {
    while (this.needsFill) {
      // an index range cannot start between two messages of the same millisecond, so
      // read from the last one's time and drop what was already handed out
      const after = this.after
      const range = after === undefined ? rangeOf(this.word) : IDBKeyRange.bound([this.word, after.rank], [this.word, []])
      const keys = await index.getAllKeys(range, n)
      if (keys.length < n) this.exhausted = true
      this.buffer = keys.map(posting).filter(p => after === undefined || comparePostings(p, after) > 0)
      this.after = this.buffer.at(-1) ?? after
      n *= 2 // only repeats when a whole read was one millisecond's messages
    }
    this.chunk = Math.min(this.chunk * 4, SEARCH_CHUNK_SIZE)
  }

  async take (db: Db, n: number): Promise<Posting[]> {
    if (this.needsFill) await this.fill(wordIndex(db), Math.max(n, SEARCH_MIN_CHUNK))
    return this.buffer.splice(0, n)
  }
}

/** The postings of every word starting with a prefix, merged newest first, each message once. */
class MergedPostings implements PostingSource {
  private readonly parts: WordPostings[]
  private last: Posting | undefined

  constructor (parts: WordPostings[]) { this.parts = parts }

  async take (db: Db, n: number): Promise<Posting[]> {
    const out: Posting[] = []
    while (out.length < n) {
      const empty = this.parts.filter(p => p.needsFill)
      if (empty.length > 0) {
        const index = wordIndex(db)
        await Promise.all(empty.map(async p => { await p.fill(index) }))
      }
      let best: WordPostings | undefined
      for (const p of this.parts) {
        const head = p.peek()
        if (head !== undefined && (best === undefined || comparePostings(head, best.peek()!) < 0)) best = p
      }
      if (best === undefined) break // every part is done
      // take from `best` while it sorts before every other part's head; a part whose
      // buffer runs dry may hold smaller keys, so the loop refills before going on
      const bounds = this.parts.filter(p => p !== best).map(p => p.peek()).filter(h => h !== undefined)
      let head = best.peek()
      while (head !== undefined && out.length < n && bounds.every(h => comparePostings(head!, h) <= 0)) {
        best.shift()
        if (this.last === undefined || comparePostings(this.last, head) !== 0) out.push(head)
        this.last = head
        head = best.peek()
      }
    }
    return out
  }
}

/** Postings already in memory. */
class ListedPostings implements PostingSource {
  private readonly list: Posting[]
  constructor (list: Posting[]) { this.list = list }
  async take (_db: Db, n: number): Promise<Posting[]> { return this.list.splice(0, n) }
}

function distinctPostings (keys: IDBValidKey[]): Posting[] {
  // a message holding two words of a prefix has two entries
  const seen = new Map<string, Posting>()
  for (const k of keys) { const p = posting(k); seen.set(p.id, p) }
  return [...seen.values()].sort(comparePostings)
}

/** The words of the index that start with `prefix`, one seek each; undefined past `max`. */
async function prefixWords (db: Db, prefix: string, max: number): Promise<string[] | undefined> {
  const words: string[] = []
  let cursor = await wordIndex(db).openKeyCursor(prefixRange(prefix))
  while (cursor !== null) {
    const word = cursor.key[0]
    words.push(word)
    if (words.length > max) return undefined
    cursor = await cursor.continue([word, []] as unknown as [string, number])
  }
  return words
}

interface QueryWord {
  term: string
  prefix: boolean
  /** index entries read by the probe, newest first (a prefix's: word by word) */
  probe: IDBValidKey[]
  /** the probe read them all */
  complete: boolean
  /** entries, exact when complete, else estimated from how far back the probe reached */
  estimate: number
  /** words seen in the probe (a prefix can hold many) */
  runs: number
}

interface Plan {
  t: SearchTuning
  q: SearchQuery
  limit: number
  peer: string | undefined
}

/**
 * Finds the newest `limit` messages matching `q` without reading every message:
 *
 * 1. probe: read each word's newest `probeSize` index entries (a prefix: up to
 *    `prefixProbeSize`). A word with fewer is known exactly; for a longer one,
 *    how far back in time its probe reaches estimates how common it is.
 * 2. a common query (the expected scan is under `scanBudget` messages) reads the
 *    newest messages, of the peer when one is given, and tests each;
 * 3. otherwise walk the rarest word's entries newest first; per chunk, keep messages in
 *    the rare words' sets, read the other words' entries in the same time window, and
 *    test the survivors on the message itself (much more common words, common prefixes,
 *    the peer), fetching messages in ranges where they lie close together.
 */
async function searchIndex (db: Db, q: SearchQuery, limit: number, peer: string | undefined, t: SearchTuning): Promise<MessageRecord[]> {
  const tx = db.transaction(['messages', 'conversations'], 'readonly')
  const store = tx.objectStore('messages')
  const index = store.index('by-word')
  // a pasted paragraph: probe its longest (likely rarest) words; the messages are checked against all
  const exact = [...q.exact].sort((a, b) => b.length - a.length).slice(0, SEARCH_MAX_PROBED_WORDS)
  const wanted = [...exact.map(term => ({ term, prefix: false })), ...(q.prefix === undefined ? [] : [{ term: q.prefix, prefix: true }])]
  const [rows, firstKeys, probes] = await Promise.all([
    tx.objectStore('conversations').getAll(),
    store.getAllKeys(null, 1),
    Promise.all(wanted.map(async w => w.prefix
      ? await index.getAllKeys(prefixRange(w.term), t.prefixProbeSize)
      : await index.getAllKeys(rangeOf(w.term), t.probeSize)))
  ])
  if (probes.some(p => p.length === 0)) return [] // a word nobody wrote
  const total = Math.max(1, rows.reduce((n, r) => n + r.count, 0))
  const newest = rows.reduce((t, r) => Math.max(t, r.lastAt), -Infinity)
  const oldest = firstKeys[0]?.[0] ?? newest
  const span = Math.max(1, newest - oldest)
  const words: QueryWord[] = wanted.map((w, i) => {
    const probe = probes[i]!
    const complete = probe.length < (w.prefix ? t.prefixProbeSize : t.probeSize)
    let estimate = probe.length
    let runs = 1
    if (!complete) {
      // A word's entries come newest first, so where the time jumps back up a prefix's
      // next word begins. Every run but the last is a whole word; the last one's length
      // since its oldest time, scaled to the whole history, estimates that word. (For a
      // prefix this ignores the words after the probe: an estimate from below.)
      let start = 0
      for (let k = 1; k < probe.length; k++) {
        if ((probe[k] as MessageKey)[0] > (probe[k - 1] as MessageKey)[0]) { start = k; runs++ }
      }
      const run = probe.length - start
      const reach = Math.max(1, newest - (probe.at(-1) as MessageKey)[0])
      estimate = Math.min(total, start + Math.max(run, run * span / reach))
    }
    return { ...w, probe, complete, estimate, runs }
  })
  const plan: Plan = { q, limit, peer, t }

  // share of all messages expected to match (words taken as independent)
  const peerCount = peer === undefined ? total : (rows.find(r => r.peer === peer)?.count ?? 0)
  if (peerCount === 0) return []
  // a scan reads the peer's messages only, so the peer does not thin out its matches
  const density = words.reduce((d, w) => d * Math.min(1, w.estimate / total), 1)
  const expectedScan = Math.min(peerCount, limit / density)
  const out: MessageRecord[] = []
  let scanned = (_p: Posting): boolean => false
  log('search %o: %s; expected scan %d of %d messages', q, words.map(w => `${w.term}${w.prefix ? '*' : ''}~${Math.round(w.estimate)}${w.complete ? '' : '+'}`).join(' '), Math.round(expectedScan), peerCount)
  if (expectedScan <= t.scanBudget) {
    const scan = await scanNewest(db, plan, Math.max(2 * limit, expectedScan * t.scanSlack))
    log('search scanned: %d found, complete %s', scan.out.length, scan.complete)
    if (scan.complete) return scan.out
    // the words were rarer than they looked: the index takes over where the scan stopped
    out.push(...scan.out)
    scanned = scan.scanned
  }

  // the driver: the word with the fewest entries; a common prefix only when nothing else is rarer
  const known = words.filter(w => !w.prefix || w.complete).sort((a, b) => a.estimate - b.estimate)
  const commonPrefix = words.find(w => w.prefix && !w.complete)
  let driver = known[0]
  let source: PostingSource | undefined
  if (commonPrefix !== undefined && (driver === undefined || driver.estimate > t.windowRatio * commonPrefix.estimate)) {
    // merging costs a seek and a read per word: worth it up to as many words as scanning
    // would cost; the probe already shows how many words it passed through
    const most = Math.min(SEARCH_MAX_MERGED_WORDS, Math.max(8, Math.ceil(expectedScan / t.scanPerMergedWord)))
    const list = commonPrefix.runs > most ? undefined : await prefixWords(db, commonPrefix.term, most)
    // a short prefix of many words: read the newest messages until done
    if (list === undefined) {
      log('search scans: %s is a prefix of many words', commonPrefix.term)
      return (await scanNewest(db, plan, Infinity)).out
    }
    log('search merges %d words of %s', list.length, commonPrefix.term)
    const each = Math.max(8, Math.ceil(2 * limit / list.length))
    source = new MergedPostings(list.map(w => new WordPostings(w, each)))
    driver = commonPrefix
  } else if (driver!.prefix) {
    source = new ListedPostings(distinctPostings(driver!.probe))
  } else {
    source = new WordPostings(driver!.term, SEARCH_MIN_CHUNK, driver!.probe, driver!.complete)
  }
  const others = words.filter(w => w !== driver)

  // rare words are sets already; words up to `windowRatio` times as common as the
  // driver are read in the driver's time windows (a prefix: each of its words, if few);
  // anything else is checked on the message
  const sets = others.filter(w => w.complete).map(w => new Set(w.probe.map(k => (k as MessageKey)[1])))
  const windowed: string[][] = others.filter(w => !w.complete && !w.prefix && w.estimate <= t.windowRatio * driver!.estimate).map(w => [w.term])
  if (commonPrefix !== undefined && commonPrefix !== driver && commonPrefix.estimate <= t.windowRatio * driver!.estimate) {
    const list = await prefixWords(db, commonPrefix.term, SEARCH_MAX_WINDOW_WORDS)
    if (list !== undefined) windowed.push(list)
  }
  const share = words.filter(w => w !== driver).reduce((d, w) => d * Math.min(1, w.estimate / total), 1) * (peerCount / total)
  let chunk = Math.min(SEARCH_CHUNK_SIZE, Math.max(SEARCH_MIN_CHUNK, Math.ceil(limit * 1.25 / share)))
  log('search walks %s, sets %d, windows %d, chunk %d', driver!.term, sets.length, windowed.length, chunk)

  while (out.length < limit) {
    const batch = await source.take(db, chunk)
    if (batch.length === 0) break
    chunk = Math.min(chunk * 2, SEARCH_CHUNK_SIZE)
    let candidates = batch.filter(p => !scanned(p) && sets.every(s => s.has(p.id)))
    if (windowed.length > 0 && candidates.length > 0) {
      const newestRank = candidates[0]!.rank
      const oldestRank = candidates.at(-1)!.rank
      const window = wordIndex(db)
      const inWindow = await Promise.all(windowed.map(async list => {
        const keys = await Promise.all(list.map(async w => await window.getAllKeys(IDBKeyRange.bound([w, newestRank], [w, oldestRank]))))
        return new Set(keys.flat().map(k => k[1]))
      }))
      candidates = candidates.filter(p => inWindow.every(s => s.has(p.id)))
    }
    for (let i = 0; i < candidates.length && out.length < limit;) {
      const slice = candidates.slice(i, (i += Math.max(limit - out.length, SEARCH_MIN_FETCH)))
      for (const m of await fetchMessages(db, plan, slice, span / total)) {
        if ((peer !== undefined && m.peer !== peer) || !storedMatch(m, q)) continue
        out.push(toRecord(m))
        if (out.length === limit) break
      }
    }
  }
  log('search found %d', out.length)
  return out
}

/**
 * The messages of `postings` (newest first). When they lie close together in time, one
 * range read is cheaper than a read each; `msPerMessage` is the average gap.
 */
async function fetchMessages (db: Db, plan: Plan, postings: Posting[], msPerMessage: number): Promise<StoredMessage[]> {
  if (postings.length === 0) return []
  const store = db.transaction('messages', 'readonly').store
  const newestAt = -postings[0]!.rank
  const oldestAt = -postings.at(-1)!.rank
  const between = (newestAt - oldestAt) / Math.max(msPerMessage, 1e-9)
  const found = new Map<string, StoredMessage>()
  if (postings.length > 2 && between <= plan.t.rangeFetchRatio * postings.length) {
    const wanted = new Set(postings.map(p => p.id))
    const range = IDBKeyRange.bound([oldestAt], [newestAt, []])
    for (const m of await store.getAll(range, Math.ceil(plan.t.rangeFetchRatio * 2 * postings.length))) {
      if (wanted.has(m.id)) found.set(m.id, m)
    }
  }
  const missing = postings.filter(p => !found.has(p.id))
  const got = await Promise.all(missing.map(async p => await store.get([-p.rank, p.id])))
  for (const m of got) if (m !== undefined) found.set(m.id, m)
  return postings.map(p => found.get(p.id)).filter(m => m !== undefined)
}

interface Scan {
  out: MessageRecord[]
  /** every message (of the peer) was read, or `limit` found: nothing left to do */
  complete: boolean
  /** for the index plan that goes on: whether the scan already read this message */
  scanned: (p: Posting) => boolean
}

/**
 * Reads the newest messages (of the peer, when given) and tests each: for common
 * queries, whose matches are among the latest messages anyway. Reads about `budget`.
 */
async function scanNewest (db: Db, plan: Plan, budget: number): Promise<Scan> {
  const out: MessageRecord[] = []
  let read = 0
  let exhausted = false
  // the oldest time read so far and the ids read at that time: the resume point
  let edge: { at: number, ids: Set<string> } | undefined
  let lastKey: MessageKey | undefined
  let chunk = Math.min(plan.t.scanChunk, Math.max(SEARCH_MIN_CHUNK, plan.limit * 2))
  while (out.length < plan.limit && read < budget) {
    const store = unwrap(db.transaction('messages', 'readonly').store)
    let values: StoredMessage[]
    let full: boolean
    if (plan.peer === undefined) {
      // primary keys [at, id] are unique: resume exactly below the last one
      values = await newestValues(store as unknown as RecordsSource, lastKey === undefined ? null : IDBKeyRange.upperBound(lastKey, true), chunk)
      full = values.length === chunk
    } else {
      // by-peer-at keys [peer, at] repeat within a millisecond: read that millisecond
      // again and drop the messages already seen
      const range = edge === undefined ? rangeOf(plan.peer) : IDBKeyRange.bound([plan.peer], [plan.peer, edge.at])
      const raw = await newestValues(store.index('by-peer-at') as unknown as RecordsSource, range, chunk)
      full = raw.length === chunk
      values = raw.filter(v => edge === undefined || v.at !== edge.at || !edge.ids.has(v.id))
      if (values.length === 0 && full) { chunk *= 2; continue } // one millisecond held more than a chunk
    }
    if (!full) exhausted = true
    for (const v of values) {
      if (edge === undefined || v.at !== edge.at) edge = { at: v.at, ids: new Set() }
      edge.ids.add(v.id)
      lastKey = [v.at, v.id]
    }
    read += values.length
    for (const m of values) {
      if (!storedMatch(m, plan.q)) continue
      out.push(toRecord(m))
      if (out.length === plan.limit) break
    }
    if (exhausted) break
    chunk = Math.min(chunk * 2, plan.t.scanChunk)
  }
  const frontier = edge
  return {
    out,
    complete: exhausted || out.length >= plan.limit,
    scanned: p => frontier !== undefined && (-p.rank > frontier.at || (-p.rank === frontier.at && frontier.ids.has(p.id)))
  }
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

// --- opening ------------------------------------------------------------------------

async function openDatabase (factory: IDBFactory, name: string, onLost: (reason: string) => void): Promise<Db> {
  return await new Promise<Db>((resolve, reject) => {
    let request: IDBOpenDBRequest
    try {
      request = factory.open(name, HISTORY_DB_VERSION)
    } catch (err) {
      reject(new HistoryUnavailableError(`The browser refused IndexedDB: ${errorText(err)}`, { cause: err }))
      return
    }
    let gaveUp = false
    request.onupgradeneeded = event => {
      try {
        upgrade(request.result, event.oldVersion, request.transaction!)
      } catch (err) {
        log.error('upgrading %s from version %d failed: %s', name, event.oldVersion, errorText(err))
        request.transaction?.abort()
      }
    }
    request.onblocked = () => {
      gaveUp = true
      reject(new HistoryBlockedError())
    }
    request.onerror = event => {
      event.preventDefault() // handled here; keeps it from surfacing as an uncaught error
      const err = request.error
      if (err?.name === 'VersionError') {
        reject(new HistoryUnavailableError('The history database was written by a newer version of Peerline: update or reload this app', { cause: err }))
      } else {
        reject(new HistoryUnavailableError(`Cannot open the history database "${name}": ${errorText(err)}`, { cause: err }))
      }
    }
    request.onsuccess = () => {
      const raw = request.result
      if (gaveUp) { raw.close(); return } // opened after we reported it blocked: nobody uses it
      // another tab wants a newer schema (or to delete the database): step aside at once
      raw.onversionchange = () => { raw.close(); onLost('another tab is upgrading or deleting the database') }
      // the browser closed it (storage cleared, disk error)
      raw.onclose = () => { onLost('closed by the browser') }
      resolve(wrap(raw) as unknown as Db)
    }
  })
}

/**
 * Creates or migrates the schema. Each step runs once per database, in order; add a
 * new `if (oldVersion < N)` step for version N, never change an old one.
 */
function upgrade (db: IDBDatabase, oldVersion: number, _tx: IDBTransaction): void {
  if (oldVersion < 1) {
    const messages = db.createObjectStore('messages', { keyPath: ['at', 'id'] })
    messages.createIndex('by-id', 'id', { unique: true })
    messages.createIndex('by-peer-at', ['peer', 'at'])
    messages.createIndex('by-word', 'words', { multiEntry: true })
    db.createObjectStore('conversations', { keyPath: 'peer' })
    const calls = db.createObjectStore('calls', { keyPath: 'id' })
    calls.createIndex('by-started', 'startedAt')
    db.createObjectStore('buddies', { keyPath: 'aor' })
    db.createObjectStore('settings')
  }
}

// --- validation ---------------------------------------------------------------------

const DIRECTIONS = ['in', 'out'] as const
const MESSAGE_STATUSES = ['sending', 'sent', 'failed', 'received'] as const
const CALL_OUTCOMES: readonly CallOutcome[] = ['answered', 'missed', 'declined', 'cancelled', 'no-answer', 'failed', 'busy']
/** Longest id or setting key accepted: UUIDs are 36; anything far longer is a bug. */
const MAX_ID_LENGTH = 256
/** Longest peer address: RFC 5321 §4.5.3.1.3 allows 256 octets for a path; sip: URIs a little more. */
const MAX_PEER_LENGTH = 512

function normalizePeer (value: unknown, field: string): string {
  if (typeof value !== 'string') throw new InvalidHistoryInputError(field, `"${field}" must be an address, got ${typeof value}`)
  const s = value.trim().toLowerCase()
  if (s === '') throw new InvalidHistoryInputError(field, `"${field}" is empty`)
  if (s.length > MAX_PEER_LENGTH) throw new InvalidHistoryInputError(field, `"${field}" is longer than ${MAX_PEER_LENGTH} characters`)
  return s
}

function checkId (value: unknown, field: string): asserts value is string {
  if (typeof value !== 'string' || value === '' || value.length > MAX_ID_LENGTH) {
    throw new InvalidHistoryInputError(field, `"${field}" must be a non-empty string of at most ${MAX_ID_LENGTH} characters`)
  }
}

function checkOneOf<T extends string> (value: unknown, allowed: readonly T[], field: string): asserts value is T {
  if (!allowed.includes(value as T)) throw new InvalidHistoryInputError(field, `"${field}" must be one of ${allowed.join(', ')}, got ${String(value)}`)
}

function checkTime (value: unknown, field: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new InvalidHistoryInputError(field, `"${field}" must be a time in ms since the epoch`)
}

function checkBoolean (value: unknown, field: string): asserts value is boolean {
  if (typeof value !== 'boolean') throw new InvalidHistoryInputError(field, `"${field}" must be true or false`)
}

function checkLimit (value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || (Number.isFinite(value) && !Number.isInteger(value))) {
    throw new InvalidHistoryInputError('limit', '"limit" must be a whole number of 0 or more')
  }
  return value
}

function utf8Length (s: string): number {
  if (s.length > MAX_MESSAGE_BYTES) return new TextEncoder().encode(s).byteLength // surely too long; exact size for the message
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { n += 4; i++ } else n += 3
  }
  return n
}

function toStored (m: MessageRecord): StoredMessage {
  return { ...m, words: Array.from(indexTerms(m.body), w => [w, -m.at]) }
}

/** The stored words are the body's indexTerms: no need to cut the body up again. */
function storedMatch (m: StoredMessage, q: SearchQuery): boolean {
  const prefix = q.prefix
  if (q.exact.length === 0 && prefix !== undefined) return m.words.some(([w]) => w.startsWith(prefix)) // type-ahead's usual query
  return termsMatch(new Set(m.words.map(([w]) => w)), q)
}

function toRecord (m: StoredMessage): MessageRecord {
  return { id: m.id, peer: m.peer, direction: m.direction, body: m.body, at: m.at, verified: m.verified, status: m.status, ...(m.trust !== undefined ? { trust: m.trust } : {}) }
}

const TRUST_LEVELS = ['contact-verified', 'ca-verified', 'known-key', 'key-changed', 'unverified', 'unauthenticated'] as const

/** A trust snapshot with only its known fields, or undefined when absent. */
function checkTrust (t: unknown): TrustSnapshot | undefined {
  if (t === undefined) return undefined
  if (t === null || typeof t !== 'object') throw new InvalidHistoryInputError('trust', '"trust" must be an object')
  const v = t as Record<string, unknown>
  checkOneOf(v.level, TRUST_LEVELS, 'trust.level')
  const out: TrustSnapshot = { level: v.level as TrustSnapshot['level'] }
  if (v.caName !== undefined) {
    if (typeof v.caName !== 'string') throw new InvalidHistoryInputError('trust.caName', '"trust.caName" must be text')
    out.caName = v.caName
  }
  if (v.since !== undefined) { checkTime(v.since, 'trust.since'); out.since = v.since as number }
  if (v.reason !== undefined) {
    if (typeof v.reason !== 'string') throw new InvalidHistoryInputError('trust.reason', '"trust.reason" must be text')
    out.reason = v.reason
  }
  return out
}

function validateMessage (m: NewMessage, now: () => number): MessageRecord {
  if (m === null || typeof m !== 'object') throw new InvalidHistoryInputError('message', 'A message must be an object')
  const id = m.id ?? randomId()
  checkId(id, 'id')
  const peer = normalizePeer(m.peer, 'peer')
  checkOneOf(m.direction, DIRECTIONS, 'direction')
  if (typeof m.body !== 'string') throw new InvalidHistoryInputError('body', 'A message body must be text')
  const bytes = utf8Length(m.body)
  if (bytes > MAX_MESSAGE_BYTES) throw new MessageTooLargeError(bytes, MAX_MESSAGE_BYTES)
  const at = m.at ?? now()
  checkTime(at, 'at')
  checkBoolean(m.verified, 'verified')
  checkOneOf(m.status, MESSAGE_STATUSES, 'status')
  const trust = checkTrust(m.trust)
  // a fresh object with exactly the contract's fields: nothing else gets stored
  return { id, peer, direction: m.direction, body: m.body, at, verified: m.verified, status: m.status, ...(trust !== undefined ? { trust } : {}) }
}

function validateCall (c: Partial<CallRecord>, now: () => number): CallRecord {
  if (c === null || typeof c !== 'object') throw new InvalidHistoryInputError('call', 'A call must be an object')
  const id = c.id
  checkId(id, 'id')
  const peer = normalizePeer(c.peer, 'peer')
  checkOneOf(c.direction, DIRECTIONS, 'direction')
  const startedAt = c.startedAt ?? now()
  checkTime(startedAt, 'startedAt')
  if (typeof c.durationMs !== 'number' || !Number.isFinite(c.durationMs) || c.durationMs < 0) {
    throw new InvalidHistoryInputError('durationMs', '"durationMs" must be a number of 0 or more')
  }
  checkOneOf(c.outcome, CALL_OUTCOMES, 'outcome')
  checkBoolean(c.video, 'video')
  checkBoolean(c.verified, 'verified')
  const record: CallRecord = {
    id, peer, direction: c.direction, startedAt, durationMs: c.durationMs, outcome: c.outcome, video: c.video, verified: c.verified
  }
  if (c.displayName !== undefined) {
    if (typeof c.displayName !== 'string') throw new InvalidHistoryInputError('displayName', '"displayName" must be text')
    record.displayName = c.displayName
  }
  const trust = checkTrust(c.trust)
  if (trust !== undefined) record.trust = trust
  if (c.answeredAt !== undefined) { checkTime(c.answeredAt, 'answeredAt'); record.answeredAt = c.answeredAt }
  if (c.endedAt !== undefined) { checkTime(c.endedAt, 'endedAt'); record.endedAt = c.endedAt }
  return record
}

function randomId (): string {
  const c = globalThis.crypto
  // randomUUID exists only in secure contexts; a page served over plain http on a LAN address has just getRandomValues
  if (typeof c.randomUUID === 'function') return c.randomUUID()
  const b = c.getRandomValues(new Uint8Array(16))
  b[6] = (b[6]! & 0x0f) | 0x40
  b[8] = (b[8]! & 0x3f) | 0x80
  const hex = Array.from(b, x => x.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

function errorText (err: unknown): string {
  return (err as Error)?.message ?? String(err)
}

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
