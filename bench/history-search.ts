/**
 * Benchmark of the history store's full-text search in real Chromium (real IndexedDB):
 * inserts 100,000 chat messages (sentences drawn from a word list with a Zipf
 * distribution, as in real text, plus a long tail of made-up names) in batches of
 * 1,000, then times 50 searches each for one whole word, two words and a 2-4 letter
 * prefix (the last word of every query is matched as a prefix, as the app types), and
 * the first few of each again as a full scan (read every message, test each) to compare
 * and to check that both give the same messages.
 *
 *   node_modules/.bin/node bench/history-search.ts [--messages 100000] [--queries 50] [--naive 3] [--batch 1000]
 *
 * Prints a table and writes dist/bench/history-search.json. Not a test: no pass/fail.
 * Runs in about 1.5 minutes on 2 cores; the full scans are most of the query time.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ROOT } from '../build/build.ts'
import type * as Store from '../shared/store/index.ts'
import { launchChromium } from '../test/helpers/browser.ts'
import { serveStorePage } from '../test/helpers/store-page.ts'

type Lib = typeof Store
declare global {
  var peerlineStore: Lib
  var bench: { history: Store.LocalHistoryStore, bodies: string[] }
}

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '100000' },
    queries: { type: 'string', default: '50' },
    naive: { type: 'string', default: '3' },
    batch: { type: 'string', default: '1000' },
    // npm run bench -- --quick: a small corpus, for checking the benchmark runs
    quick: { type: 'boolean', default: false }
  }
})
const MESSAGES = args.quick === true ? 5_000 : Number(args.messages)
const QUERIES = Number(args.queries)
const NAIVE = Number(args.naive)
const BATCH = Number(args.batch)

// Frequent words of English chat, most frequent first: the head of the Zipf curve.
const COMMON = (
  'the i you to a and it is that of in me for my on have be this we just so not but ' +
  'are at with was do your can what if no know all get like good up out about will now ' +
  'go think ok yes there one how when too time see then they going today really would ' +
  'back been call did some want tomorrow well from need here an or he she them come lol ' +
  'thanks much still got make home work night right sure last let way day meet meeting ' +
  'maybe could should morning later soon after before lunch dinner coffee weekend week ' +
  'tonight again please sorry love great nice fine cool done find send sent message ' +
  'phone number address email where why who which new old next first little long big ' +
  'office train station bus car late early minutes hour hours friday monday tuesday ' +
  'wednesday thursday saturday sunday january june july august birthday party movie ' +
  'game music book doctor school kids family mom dad brother sister friend friends ' +
  'happy tired busy free ready home house room kitchen garden city town street place ' +
  'price money pay bought buy shop store market food pizza beer wine tea water bread ' +
  'weather rain sunny cold hot snow trip holiday flight hotel airport ticket photos ' +
  'video picture link file document report project deadline client team boss manager ' +
  'café naïve zürich münchen são paulo málaga crème brûlée jalapeño façade résumé'
).split(' ')


interface Stats { n: number, median: number, p95: number, mean: number, max: number }

function stats (ms: number[]): Stats {
  const s = [...ms].sort((a, b) => a - b)
  const at = (q: number): number => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? NaN
  return { n: s.length, median: at(0.5), p95: at(0.95), mean: s.reduce((a, b) => a + b, 0) / Math.max(1, s.length), max: s.at(-1) ?? NaN }
}

const started = performance.now()
const web = await serveStorePage({ minify: true })
const browser = await launchChromium()
try {
  const page = await browser.newPage()
  page.setDefaultTimeout(0)
  await page.goto(web.url)
  await page.waitForFunction(() => globalThis.peerlineStore !== undefined)

  // The corpus: generated in the page from a seeded generator, so runs are comparable.
  const corpus = await page.evaluate(async ({ common, messages }) => {
    let seed = 20240601
    const rand = (): number => { // mulberry32
      seed = (seed + 0x6d2b79f5) | 0
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
    // the long tail: names, places, jargon and typos, as made-up words
    const syllables = ['ka', 'lo', 'mi', 'ren', 'ta', 'vo', 'bri', 'sel', 'dan', 'or', 'qui', 'mar', 'te', 'nu', 'pha', 'gen', 'lis', 'zo', 'ber', 'cha']
    const tail = new Set<string>()
    while (tail.size < 20_000) {
      let w = ''
      const n = 2 + Math.floor(rand() * 3)
      for (let i = 0; i < n; i++) w += syllables[Math.floor(rand() * syllables.length)]
      tail.add(w)
    }
    const vocabulary = [...common, ...tail]
    // Zipf (s = 1): word k is drawn with weight 1/(k + 1)
    const cumulative: number[] = []
    let sum = 0
    for (let k = 0; k < vocabulary.length; k++) { sum += 1 / (k + 1); cumulative.push(sum) }
    const draw = (): string => {
      const x = rand() * sum
      let lo = 0
      let hi = cumulative.length - 1
      while (lo < hi) { const mid = (lo + hi) >> 1; if (cumulative[mid]! < x) lo = mid + 1; else hi = mid }
      return vocabulary[lo]!
    }
    const bodies: string[] = []
    for (let i = 0; i < messages; i++) {
      const words: string[] = []
      const n = 3 + Math.floor(rand() * rand() * 25) // mostly short lines, some long ones
      for (let k = 0; k < n; k++) words.push(draw())
      let body = words.join(' ')
      body = body.charAt(0).toUpperCase() + body.slice(1) + (rand() < 0.3 ? '?' : rand() < 0.5 ? '.' : '!')
      if (rand() < 0.05) body += ` ${Math.floor(rand() * 100)}:${String(Math.floor(rand() * 60)).padStart(2, '0')}`
      bodies.push(body)
    }
    const h = await globalThis.peerlineStore.openHistory({ dbName: 'bench' })
    globalThis.bench = { history: h, bodies }
    return { vocabulary: vocabulary.length, avgBytes: bodies.reduce((n, b) => n + b.length, 0) / bodies.length }
  }, { common: COMMON, messages: MESSAGES })

  // Insert in batches (one transaction each), driven from here to show progress.
  const peers = 40
  const insertStart = performance.now()
  let inPage = 0
  for (let from = 0; from < MESSAGES; from += BATCH * 10) {
    inPage += await page.evaluate(async ({ from, to, batch, peers }) => {
      const { history, bodies } = globalThis.bench
      const t = performance.now()
      const t0 = 1_600_000_000_000
      for (let i = from; i < to; i += batch) {
        const list = []
        for (let k = i; k < Math.min(to, i + batch); k++) {
          list.push({
            peer: `friend${k % peers}@example.org`, direction: k % 2 === 0 ? 'in' as const : 'out' as const, body: bodies[k]!,
            at: t0 + k * 60_000, verified: true, status: k % 2 === 0 ? 'received' as const : 'sent' as const
          })
        }
        await history.addMessages(list)
      }
      return performance.now() - t
    }, { from, to: Math.min(MESSAGES, from + BATCH * 10), batch: BATCH, peers })
    process.stdout.write(`\rinserted ${Math.min(MESSAGES, from + BATCH * 10)} / ${MESSAGES}`)
  }
  process.stdout.write('\n')
  const insertWall = performance.now() - insertStart

  // One message at a time, as the app adds them (one transaction each).
  const single = await page.evaluate(async () => {
    const { history } = globalThis.bench
    const t = performance.now()
    const n = 300
    for (let i = 0; i < n; i++) {
      await history.addMessage({ peer: 'single@example.org', direction: 'in', body: `Single message number ${i} about the weekend trip`, at: 1_500_000_000_000 + i, verified: true, status: 'received' })
    }
    return { n, ms: performance.now() - t }
  })

  // Queries drawn from the corpus so most have results: words of one random message.
  const queries = await page.evaluate(({ queries }) => {
    const lib = globalThis.peerlineStore
    const { bodies } = globalThis.bench
    let seed = 7
    const rand = (): number => { seed = (seed * 16807) % 2147483647; return seed / 2147483647 }
    const pickWords = (): string[] => lib.tokenize(bodies[Math.floor(rand() * bodies.length)]!).filter(w => !/^\d+$/.test(w))
    const single: string[] = []
    const two: string[] = []
    const prefix: string[] = []
    while (single.length < queries) { const w = pickWords(); if (w.length > 0) single.push(w[Math.floor(rand() * w.length)]!) }
    while (two.length < queries) {
      const w = [...new Set(pickWords())]
      if (w.length < 2) continue
      const a = w.splice(Math.floor(rand() * w.length), 1)[0]!
      two.push(`${a} ${w[Math.floor(rand() * w.length)]!}`)
    }
    while (prefix.length < queries) {
      const w = pickWords().filter(x => x.length >= 4)
      if (w.length === 0) continue
      const word = w[Math.floor(rand() * w.length)]!
      prefix.push(word.slice(0, 2 + Math.floor(rand() * 3))) // 2 to 4 letters typed so far
    }
    return { single, 'two words': two, prefix }
  }, { queries: QUERIES })

  const kinds = Object.keys(queries) as Array<keyof typeof queries>
  const results: Record<string, { indexed: Stats, naive: Stats, ratio: number, hits: Stats, mismatches: number, examples: string[], slowest: Array<{ q: string, ms: number, hits: number }> }> = {}
  for (const kind of kinds) {
    const list = queries[kind]
    const timed = await page.evaluate(async ({ list, naive }) => {
      const lib = globalThis.peerlineStore
      const { history } = globalThis.bench
      const indexed: number[] = []
      const hits: number[] = []
      for (const q of list) {
        const t = performance.now()
        const found = await history.search(q)
        indexed.push(performance.now() - t)
        hits.push(found.length)
      }
      // the same queries as a full scan: read every message (in chunks), test each, newest first
      const naiveMs: number[] = []
      let mismatches = 0
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const r = indexedDB.open('bench')
        r.onsuccess = () => { resolve(r.result) }
        r.onerror = () => { reject(r.error) }
      })
      for (const q of list.slice(0, naive)) {
        const t = performance.now()
        const parsed = lib.parseQuery(q)
        const found: Array<{ id: string, at: number }> = []
        let after: [number, string] | undefined
        for (;;) {
          const chunk = await new Promise<Array<{ id: string, body: string, at: number }>>((resolve, reject) => {
            const range = after === undefined ? null : IDBKeyRange.lowerBound(after, true)
            const req = db.transaction('messages').objectStore('messages').getAll(range, 5000)
            req.onsuccess = () => { resolve(req.result) }
            req.onerror = () => { reject(req.error) }
          })
          if (chunk.length === 0) break
          for (const m of chunk) if (parsed !== undefined && lib.matchesQuery(m.body, parsed)) found.push(m)
          const last = chunk.at(-1)!
          after = [last.at, last.id]
        }
        found.sort((a, b) => b.at - a.at || (a.id < b.id ? -1 : 1))
        const top = found.slice(0, lib.DEFAULT_PAGE_SIZE).map(m => m.id)
        naiveMs.push(performance.now() - t)
        const indexedIds = (await history.search(q)).map(m => m.id)
        if (JSON.stringify(indexedIds) !== JSON.stringify(top)) mismatches++
      }
      db.close()
      return { indexed, hits, naiveMs, mismatches }
    }, { list, naive: NAIVE })
    const indexed = stats(timed.indexed)
    const naive = stats(timed.naiveMs)
    const slowest = list.map((q, i) => ({ q, ms: Math.round(timed.indexed[i]! * 10) / 10, hits: timed.hits[i]! })).sort((a, b) => b.ms - a.ms).slice(0, 3)
    results[kind] = { indexed, naive, ratio: naive.median / indexed.median, hits: stats(timed.hits), mismatches: timed.mismatches, examples: list.slice(0, 4), slowest }
    process.stdout.write(`timed ${kind}\n`)
  }

  const report = {
    date: new Date().toISOString(),
    chromium: browser.version(),
    cpus: cpus().length,
    messages: MESSAGES,
    vocabulary: corpus.vocabulary,
    avgBodyChars: Math.round(corpus.avgBytes),
    insert: { batch: BATCH, ms: Math.round(inPage), msgsPerSecond: Math.round(MESSAGES / (inPage / 1000)), wallMs: Math.round(insertWall) },
    addMessageOneByOne: { n: single.n, msgsPerSecond: Math.round(single.n / (single.ms / 1000)) },
    limit: 50,
    search: results,
    totalSeconds: 0
  }
  report.totalSeconds = Math.round((performance.now() - started) / 1000)
  const out = join(ROOT, 'dist', 'bench')
  await mkdir(out, { recursive: true })
  await writeFile(join(out, 'history-search.json'), JSON.stringify(report, null, 2) + '\n')

  const f = (x: number): string => Number.isFinite(x) ? x.toFixed(1).padStart(8) : '       -'
  console.info(`\nHistory search, ${MESSAGES.toLocaleString('en')} messages (${corpus.vocabulary.toLocaleString('en')}-word Zipf vocabulary, ~${report.avgBodyChars} chars each), Chromium ${report.chromium}, ${report.cpus} CPUs`)
  console.info(`insert: ${report.insert.msgsPerSecond.toLocaleString('en')} msgs/s in batches of ${BATCH}; addMessage one by one: ${report.addMessageOneByOne.msgsPerSecond} msgs/s`)
  console.info('\nquery kind    n   median ms   p95 ms   max ms  | full scan: n  median ms  | ratio  | mean hits  mismatches')
  for (const [kind, r] of Object.entries(results)) {
    console.info(`${kind.padEnd(10)} ${String(r.indexed.n).padStart(4)} ${f(r.indexed.median)}  ${f(r.indexed.p95)} ${f(r.indexed.max)}  | ${String(r.naive.n).padStart(11)} ${f(r.naive.median)}  | ${(r.ratio.toFixed(0) + 'x').padStart(6)} | ${r.hits.mean.toFixed(1).padStart(9)}  ${String(r.mismatches).padStart(10)}`)
  }
  console.info('\nslowest: ' + Object.entries(results).map(([k, r]) => `${k}: ${r.slowest.map(x => `"${x.q.trim()}" ${x.ms} ms (${x.hits})`).join(', ')}`).join('; '))
  console.info(`\nwritten to ${join(out, 'history-search.json')} (${report.totalSeconds} s in all)`)
} finally {
  await browser.close()
  await web.close()
}
