/**
 * The history database's schema and opening (version HISTORY_DB_VERSION):
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
 * record per word) and can never be half stored. Internal to shared/store.
 */
import { wrap } from 'idb'
import type { DBSchema, IDBPDatabase } from 'idb'
import { HISTORY_DB_VERSION } from './constants.ts'
import { HistoryBlockedError, HistoryUnavailableError } from './errors.ts'
import type { Buddy, CallRecord, MessageRecord } from './history-api.ts'
import { indexTerms } from './search.ts'
import { logger } from '../util/logger.ts'

const log = logger('store:history')

export interface ConversationRow {
  peer: string
  lastId: string
  lastAt: number
  count: number
}

/** A message as stored: `words` feeds the by-word index; it never leaves shared/store. */
export interface StoredMessage extends MessageRecord {
  words: Array<[string, number]>
}

/** Primary key of a message: time first, so the store itself is in time order. */
export type MessageKey = [number, string]

export interface HistorySchema extends DBSchema {
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

export type Db = IDBPDatabase<HistorySchema>
export type StoreName = 'messages' | 'conversations' | 'calls' | 'buddies' | 'settings'

/** Every compound key whose first part is `first`: [first] sorts before them all, [first, []] after (arrays sort after numbers and strings). */
export function rangeOf (first: string): IDBKeyRange {
  return IDBKeyRange.bound([first], [first, []])
}

export function toStored (m: MessageRecord): StoredMessage {
  return { ...m, words: Array.from(indexTerms(m.body), w => [w, -m.at]) }
}

export function toRecord (m: StoredMessage): MessageRecord {
  return { id: m.id, peer: m.peer, direction: m.direction, body: m.body, at: m.at, verified: m.verified, status: m.status, ...(m.trust !== undefined ? { trust: m.trust } : {}) }
}

export function errorText (err: unknown): string {
  return (err as Error)?.message ?? String(err)
}

export async function openDatabase (factory: IDBFactory, name: string, onLost: (reason: string) => void): Promise<Db> {
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
