/**
 * The search planner of the history store: answers HistoryStore.search() from the
 * by-word index (history-schema.ts) without reading every message.
 *
 * Costs that shape the planner (constants.ts has the figures): reading an index
 * entry is cheap, a message by key dear, messages in a range cheap again, and every
 * request is a round trip to the browser's storage process. So the planner reads
 * few index entries (probes, never full counts), fetches messages in ranges where it
 * can, and scans recent messages outright when the query is common enough.
 */
import { unwrap } from 'idb'
import type { IDBPIndex } from 'idb'
import {
  SEARCH_CHUNK_SIZE, SEARCH_MAX_MERGED_WORDS, SEARCH_MAX_PROBED_WORDS, SEARCH_MAX_WINDOW_WORDS, SEARCH_MIN_CHUNK, SEARCH_MIN_FETCH, SEARCH_PREFIX_PROBE_SIZE,
  SEARCH_PROBE_SIZE, SEARCH_RANGE_FETCH_RATIO, SEARCH_SCAN_BUDGET, SEARCH_SCAN_CHUNK, SEARCH_SCAN_PER_MERGED_WORD, SEARCH_SCAN_SLACK, SEARCH_WINDOW_RATIO
} from './constants.ts'
import type { MessageRecord } from './history-api.ts'
import { rangeOf, toRecord } from './history-schema.ts'
import type { Db, HistorySchema, MessageKey, StoredMessage } from './history-schema.ts'
import { termsMatch } from './search.ts'
import type { SearchQuery } from './search.ts'
import { logger } from '../util/logger.ts'

const log = logger('store:history')

/** Thresholds of the search planner; defaults and their reasons in constants.ts. */
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

export const DEFAULT_SEARCH_TUNING: SearchTuning = {
  probeSize: SEARCH_PROBE_SIZE,
  prefixProbeSize: SEARCH_PREFIX_PROBE_SIZE,
  scanBudget: SEARCH_SCAN_BUDGET,
  scanChunk: SEARCH_SCAN_CHUNK,
  windowRatio: SEARCH_WINDOW_RATIO,
  rangeFetchRatio: SEARCH_RANGE_FETCH_RATIO,
  scanPerMergedWord: SEARCH_SCAN_PER_MERGED_WORD,
  scanSlack: SEARCH_SCAN_SLACK
}

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
export async function searchIndex (db: Db, q: SearchQuery, limit: number, peer: string | undefined, t: SearchTuning): Promise<MessageRecord[]> {
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

/** The stored words are the body's indexTerms: no need to cut the body up again. */
function storedMatch (m: StoredMessage, q: SearchQuery): boolean {
  const prefix = q.prefix
  if (q.exact.length === 0 && prefix !== undefined) return m.words.some(([w]) => w.startsWith(prefix)) // type-ahead's usual query
  return termsMatch(new Set(m.words.map(([w]) => w)), q)
}
