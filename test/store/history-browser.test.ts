/**
 * The history store in real Chromium, on real IndexedDB: shared/store bundled with
 * esbuild, served on 127.0.0.1, driven through playwright-core. Covers transcripts,
 * search (checked against a plain scan on thousands of messages), calls, buddies,
 * settings, survival across a reload, refusal of bad input and the schema guards.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Browser, Page } from 'playwright-core'
import type * as Store from '../../shared/store/index.ts'
import { launchChromium } from '../helpers/browser.ts'
import { serveStorePage } from '../helpers/store-page.ts'

type Lib = typeof Store
declare global { var peerlineStore: Lib }


describe('history store in Chromium (real IndexedDB)', { timeout: 60_000 }, () => {
  let browser: Browser
  let web: Awaited<ReturnType<typeof serveStorePage>>
  let page: Page
  const errors: string[] = []

  before(async () => {
    web = await serveStorePage()
    browser = await launchChromium()
    page = await browser.newPage()
    page.on('pageerror', err => errors.push(err.message))
    await page.goto(web.url)
    await page.waitForFunction(() => globalThis.peerlineStore !== undefined)
  })

  after(async () => {
    await browser?.close()
    await web?.close()
    assert.deepEqual(errors, [], 'no uncaught errors in the page')
  })

  it('stores a transcript: conversation paging, summaries, status, newest-first search', async () => {
    const r = await page.evaluate(async () => {
      const h = await globalThis.peerlineStore.openHistory({ dbName: 'chat' })
      const t0 = 1_700_000_000_000
      const base = { direction: 'in' as const, verified: true, status: 'received' as const }
      const lines = [
        ['bob@example.org', 'Hi Alice, lunch at the Café Zürich?'],
        ['Bob@Example.org ', 'Or the ramen place, 12:30'],
        ['carol@example.org', 'Did you see the CAFE menu?'],
        ['bob@example.org', 'See you there! Über-excited 🍜'],
        ['carol@example.org', 'Meeting moved to Thursday 15:00'],
        ['bob@example.org', 'Café was great, thanks']
      ]
      const added: Store.MessageRecord[] = []
      for (const [i, [peer, body]] of lines.entries()) {
        added.push(await h.addMessage({ ...base, peer: peer!, body: body!, at: t0 + i * 1000 }))
      }
      const out = await h.addMessage({ peer: 'dave@example.org', direction: 'out', body: 'Sending…', at: t0 + 10_000, verified: false, status: 'sending' })
      await h.setMessageStatus(out.id, 'sent')
      const ids = (ms: Array<{ id: string }>): number[] => ms.map(m => added.findIndex(a => a.id === m.id))
      const result = {
        uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(added[0]!.id),
        peerNormalised: added[1]!.peer,
        bob: ids(await h.conversation('bob@example.org')),
        bobPage: ids(await h.conversation('BOB@example.org', { limit: 2 })),
        bobBefore: ids(await h.conversation('bob@example.org', { limit: 2, before: t0 + 3000 })),
        summaries: (await h.conversations()).map(c => [c.peer, c.count, c.last.body, c.last.status]),
        cafe: ids(await h.search('cafe')),
        cafeAccentUpper: ids(await h.search('CAFÉ')),
        prefix: ids(await h.search('zü')),
        twoWords: ids(await h.search('cafe menu')),
        twoWordsPrefix: ids(await h.search('cafe m')),
        loneLetter: ids(await h.search('c')),
        peerOnly: ids(await h.search('cafe', { peer: 'carol@example.org' })),
        limit: ids(await h.search('cafe', { limit: 1 })),
        number: ids(await h.search('12')),
        uber: ids(await h.search('uber excited')),
        none: ids(await h.search('sushi')),
        noWord: ids(await h.search(' ! ')),
        sentStatus: (await h.conversation('dave@example.org'))[0]!.status
      }
      h.close()
      return result
    })
    assert.equal(r.uuid, true)
    assert.equal(r.peerNormalised, 'bob@example.org')
    assert.deepEqual(r.bob, [0, 1, 3, 5], 'oldest first')
    assert.deepEqual(r.bobPage, [3, 5], 'the newest page')
    assert.deepEqual(r.bobBefore, [0, 1], 'paging backwards, exclusive')
    assert.deepEqual(r.summaries, [
      ['dave@example.org', 1, 'Sending…', 'sent'],
      ['bob@example.org', 4, 'Café was great, thanks', 'received'],
      ['carol@example.org', 2, 'Meeting moved to Thursday 15:00', 'received']
    ])
    assert.deepEqual(r.cafe, [5, 2, 0], 'newest first')
    assert.deepEqual(r.cafeAccentUpper, [5, 2, 0])
    assert.deepEqual(r.prefix, [0])
    assert.deepEqual(r.twoWords, [2])
    assert.deepEqual(r.twoWordsPrefix, [2], 'last word as a prefix (menu), even one letter')
    assert.deepEqual(r.loneLetter, [], 'a lone letter is no query')
    assert.deepEqual(r.peerOnly, [2])
    assert.deepEqual(r.limit, [5])
    assert.deepEqual(r.number, [1])
    assert.deepEqual(r.uber, [3])
    assert.deepEqual(r.none, [])
    assert.deepEqual(r.noWord, [])
    assert.equal(r.sentStatus, 'sent')
  })

  it('refuses bad input with typed errors and writes nothing', async () => {
    const r = await page.evaluate(async () => {
      const lib = globalThis.peerlineStore
      const h = await lib.openHistory({ dbName: 'bad-input' })
      const nameOf = async (p: Promise<unknown>): Promise<string> => {
        try { await p; return 'resolved' } catch (e) { return `${(e as Error).name}${(e as { field?: string }).field !== undefined ? ':' + String((e as { field?: string }).field) : ''}` }
      }
      const ok = { peer: 'bob@example.org', direction: 'in' as const, body: 'fine', at: 1, verified: true, status: 'received' as const }
      const big = 'é'.repeat(lib.MAX_MESSAGE_BYTES / 2 + 1) // two UTF-8 bytes each: just over the limit
      const result = {
        tooLarge: await nameOf(h.addMessage({ ...ok, body: big })),
        atLimit: await nameOf(h.addMessage({ ...ok, id: 'max', body: 'é'.repeat(lib.MAX_MESSAGE_BYTES / 2) })),
        noPeer: await nameOf(h.addMessage({ ...ok, peer: '  ' })),
        peerMissing: await nameOf(h.addMessage({ ...ok, peer: undefined as unknown as string })),
        badStatus: await nameOf(h.addMessage({ ...ok, status: 'read' as 'sent' })),
        badAt: await nameOf(h.addMessage({ ...ok, at: Number.NaN })),
        bodyNotText: await nameOf(h.addMessage({ ...ok, body: 42 as unknown as string })),
        batchWithOneBad: await nameOf(h.addMessages([ok, ok, { ...ok, body: big }])),
        unknownStatusId: await nameOf(h.setMessageStatus('nope', 'sent')),
        badLimit: await nameOf(h.conversation('bob@example.org', { limit: -1 })),
        badCall: await nameOf(h.addCall({ peer: 'bob@example.org', direction: 'in', startedAt: 1, durationMs: -5, outcome: 'answered', video: false, verified: true })),
        unknownCall: await nameOf(h.updateCall('nope', { durationMs: 1 })),
        badSetting: await nameOf(h.setSetting('fn', () => 1)),
        badBuddy: await nameOf(h.addBuddy({ aor: '' })),
        // only the message at the limit got in
        stored: (await h.conversations()).map(c => [c.peer, c.count]),
        found: (await h.search('fine')).length,
        settingAfter: await h.getSetting('fn', 'default')
      }
      h.close()
      return result
    })
    assert.deepEqual(r, {
      tooLarge: 'MessageTooLargeError',
      atLimit: 'resolved',
      noPeer: 'InvalidHistoryInputError:peer',
      peerMissing: 'InvalidHistoryInputError:peer',
      badStatus: 'InvalidHistoryInputError:status',
      badAt: 'InvalidHistoryInputError:at',
      bodyNotText: 'InvalidHistoryInputError:body',
      batchWithOneBad: 'MessageTooLargeError',
      unknownStatusId: 'HistoryRecordNotFoundError',
      badLimit: 'InvalidHistoryInputError:limit',
      badCall: 'InvalidHistoryInputError:durationMs',
      unknownCall: 'HistoryRecordNotFoundError',
      badSetting: 'InvalidHistoryInputError:value',
      badBuddy: 'InvalidHistoryInputError:aor',
      stored: [['bob@example.org', 1]],
      found: 0,
      settingAfter: 'default'
    })
  })

  it('replacing a message by id keeps the index and the summaries consistent', async () => {
    const r = await page.evaluate(async () => {
      const h = await globalThis.peerlineStore.openHistory({ dbName: 'replace' })
      const base = { direction: 'in' as const, verified: true, status: 'received' as const }
      await h.addMessage({ ...base, id: 'm1', peer: 'bob@example.org', body: 'original words here', at: 100 })
      await h.addMessage({ ...base, id: 'm2', peer: 'bob@example.org', body: 'second', at: 200 })
      // same id again: an edited message that also moved to another peer and an earlier time
      await h.addMessage({ ...base, id: 'm2', peer: 'carol@example.org', body: 'edited text', at: 50 })
      const result = {
        original: (await h.search('original')).map(m => m.id),
        second: (await h.search('second')).map(m => m.id),
        edited: (await h.search('edit')).map(m => [m.id, m.peer]),
        summaries: (await h.conversations()).map(c => [c.peer, c.count, c.last.id])
      }
      h.close()
      return result
    })
    assert.deepEqual(r.original, ['m1'])
    assert.deepEqual(r.second, [], 'the replaced text is no longer found')
    assert.deepEqual(r.edited, [['m2', 'carol@example.org']])
    assert.deepEqual(r.summaries, [['bob@example.org', 1, 'm1'], ['carol@example.org', 1, 'm2']])
  })

  it('keeps calls newest first, buddies by normalised address and settings', async () => {
    const r = await page.evaluate(async () => {
      const h = await globalThis.peerlineStore.openHistory({ dbName: 'calls', now: () => 42 })
      const call = { direction: 'out' as const, durationMs: 0, video: false, verified: true }
      const a = await h.addCall({ ...call, peer: 'bob@example.org', startedAt: 1000, outcome: 'no-answer' })
      const b = await h.addCall({ ...call, peer: 'Carol@Example.org', displayName: 'Carol', startedAt: 3000, outcome: 'missed', direction: 'in' })
      const c = await h.addCall({ ...call, peer: 'bob@example.org', startedAt: 2000, outcome: 'answered', video: true })
      await h.updateCall(c.id, { answeredAt: 2500, endedAt: 62500, durationMs: 60000 })
      const calls = await h.calls()
      const buddy1 = await h.addBuddy({ aor: ' Bob@Example.org ', displayName: 'Bob' })
      const buddy2 = await h.addBuddy({ aor: 'alice@example.org', addedAt: 7 })
      const renamed = await h.addBuddy({ aor: 'bob@example.org', displayName: 'Bobby' })
      const buddies = await h.buddies()
      await h.removeBuddy('ALICE@example.org')
      const fallback = await h.getSetting('stun', ['stun:default'])
      await h.setSetting('stun', ['stun:one', 'stun:two'])
      await h.setSetting('ringtone', { volume: 0.5, file: null })
      const stun = await h.getSetting('stun', [] as string[])
      await h.setSetting('ringtone', undefined)
      const persistence = await h.requestPersistence()
      const result = {
        order: calls.map(x => x.id === a.id ? 'a' : x.id === b.id ? 'b' : 'c'),
        updated: calls.find(x => x.id === c.id),
        carolPeer: b.peer,
        limited: (await h.calls({ limit: 1 })).map(x => x.id === b.id),
        buddy1,
        buddy2,
        renamed,
        buddies: buddies.map(x => x.aor),
        afterRemove: (await h.buddies()).map(x => x.aor),
        fallback,
        stun,
        ringtone: await h.getSetting('ringtone', 'gone'),
        persistence: typeof persistence
      }
      h.close()
      return result
    })
    assert.deepEqual(r.order, ['b', 'c', 'a'])
    assert.equal(r.carolPeer, 'carol@example.org')
    assert.deepEqual(r.limited, [true])
    const { id: _id, ...updated } = r.updated!
    assert.deepEqual(updated, {
      peer: 'bob@example.org', direction: 'out', startedAt: 2000, answeredAt: 2500, endedAt: 62500,
      durationMs: 60000, outcome: 'answered', video: true, verified: true
    })
    assert.deepEqual(r.buddy1, { aor: 'bob@example.org', displayName: 'Bob', addedAt: 42 })
    assert.deepEqual(r.buddy2, { aor: 'alice@example.org', addedAt: 7 })
    assert.deepEqual(r.renamed, { aor: 'bob@example.org', displayName: 'Bobby', addedAt: 42 })
    assert.deepEqual(r.buddies, ['alice@example.org', 'bob@example.org'])
    assert.deepEqual(r.afterRemove, ['bob@example.org'])
    assert.deepEqual(r.fallback, ['stun:default'])
    assert.deepEqual(r.stun, ['stun:one', 'stun:two'])
    assert.equal(r.ringtone, 'gone')
    assert.equal(r.persistence, 'boolean')
  })

  it('search agrees with a plain scan on 6,000 messages, in every query plan', async () => {
    // the planner's log says which plan ran: enable it for this page
    await page.evaluate(() => { localStorage.setItem('peerline:debug', 'store:history') })
    await page.reload()
    await page.waitForFunction(() => globalThis.peerlineStore !== undefined)
    const logs: string[] = []
    const onConsole = (m: { text: () => string }): void => { logs.push(m.text()) }
    page.on('console', onConsole)
    // thresholds that push the same queries through the other plans
    const tunings: Array<Partial<Store.SearchTuning>> = [
      {},
      { scanBudget: 0 }, // index walks, windows, sets
      { scanBudget: 0, probeSize: 8, prefixProbeSize: 16 }, // estimates, merged prefixes, checks on messages
      { scanBudget: 0, probeSize: 8, prefixProbeSize: 16, scanPerMergedWord: 1e9 }, // prefixes of too many words
      { scanBudget: 1e9, scanSlack: 0.05 } // scans cut short, the index going on from there
    ]
    const r = await page.evaluate(async (tunings) => {
      const lib = globalThis.peerlineStore
      const h = await lib.openHistory({ dbName: 'scale' })
      // deterministic pseudo-random text: a few very common words, some middling ones
      // and a long tail
      let seed = 12345
      const rand = (): number => { // mulberry32
        seed = (seed + 0x6d2b79f5) | 0
        let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296
      }
      const common = ['the', 'then', 'there', 'meet', 'meeting']
      const middle = Array.from({ length: 40 }, (_, i) => `word${i}`)
      const tail = Array.from({ length: 2000 }, (_, i) => `tail${i}x`)
      const peers = ['bob@example.org', 'carol@example.org', 'dave@example.org']
      const messages: Store.MessageRecord[] = []
      for (let i = 0; i < 6000; i++) {
        const words = []
        for (const w of common) if (rand() < 0.45) words.push(w)
        for (let k = 0; k < 3; k++) words.push(middle[Math.floor(rand() * middle.length)]!)
        words.push(tail[Math.floor(rand() * tail.length)]!)
        words.sort(() => rand() - 0.5)
        messages.push({ id: `m${i}`, peer: peers[i % 3]!, direction: 'in' as const, body: words.join(' '), at: 1_000_000 + i * 10, verified: true, status: 'received' as const })
      }
      for (let i = 0; i < messages.length; i += 1000) await h.addMessages(messages.slice(i, i + 1000))
      h.close()
      const tailOf = (i: number): string => messages[i]!.body.split(' ').find(w => w.startsWith('tail'))!
      const queries: Array<[string, { limit?: number, peer?: string }]> = [
        ['the', {}], ['the meet', {}], ['the meeting then', { limit: 30 }], ['th', {}], ['t', {}], ['me', { limit: 100 }],
        ['word3', {}], ['word3 word7', {}], ['word3 wor', {}], ['the word1', {}], [tailOf(17), {}], ['the tail1', { limit: 200 }],
        [`${tailOf(4000)} ${tailOf(4000).slice(0, 6)}`, {}], ['there word2', { peer: 'carol@example.org' }],
        ['meet the then there meeting', {}], [`word5 ${tailOf(999)}`, {}], [`${tailOf(5999)} th`, {}], ['word3 m', {}],
        ['tail', { limit: 10 }], ['word1 word2 tail', {}], ['the word3 ', { peer: 'dave@example.org', limit: 7 }],
        [`${messages[321]!.body} ${messages[321]!.body}`, {}], // a pasted paragraph
        ['nosuchword', {}], ['the nosuch', {}]
      ]
      const naive = (q: string, o: { limit?: number, peer?: string }): string[] => {
        const parsed = lib.parseQuery(q)
        if (parsed === undefined) return []
        return messages.filter(m => (o.peer === undefined || m.peer === o.peer) && lib.matchesQuery(m.body, parsed))
          .sort((a, b) => b.at - a.at).slice(0, o.limit ?? lib.DEFAULT_PAGE_SIZE).map(m => m.id)
      }
      const out: Array<{ tuning: string, q: string, ms: number, same: boolean, n: number }> = []
      const run = async (name: string, searchTuning: Partial<Store.SearchTuning>): Promise<void> => {
        const s = await lib.openHistory({ dbName: 'scale', searchTuning })
        for (const [q, o] of queries) {
          const t = performance.now()
          const got = (await s.search(q, o)).map(m => m.id)
          out.push({ tuning: name, q, ms: performance.now() - t, same: JSON.stringify(got) === JSON.stringify(naive(q, o)), n: got.length })
        }
        s.close()
      }
      for (const [n, searchTuning] of tunings.entries()) await run(String(n), searchTuning)
      // browsers without getAllRecords() (Firefox, Safari, Chromium < 141) scan with cursors
      const stores = [IDBObjectStore.prototype, IDBIndex.prototype] as Array<{ getAllRecords?: unknown }>
      const saved = stores.map(p => p.getAllRecords)
      for (const p of stores) delete p.getAllRecords
      try {
        await run('cursor scans', {})
        await run('cursor scans cut short', tunings[4]!)
      } finally {
        stores.forEach((p, i) => { if (saved[i] !== undefined) p.getAllRecords = saved[i] })
      }
      return out
    }, tunings)
    // console events arrive in order but after evaluate() returns: wait for a last one
    await page.evaluate(() => { console.debug('end of plans') })
    // on a loaded machine the events can trail evaluate() by seconds: wait up to 30 s
    for (let i = 0; i < 600 && !logs.some(l => l.includes('end of plans')); i++) await new Promise(resolve => setTimeout(resolve, 50))
    assert.ok(logs.some(l => l.includes('end of plans')), 'the planner log arrived in full')
    page.off('console', onConsole)
    await page.evaluate(() => { localStorage.removeItem('peerline:debug') })
    for (const x of r) assert.ok(x.same, `tuning ${x.tuning}: "${x.q}" returns what a full scan returns (got ${x.n})`)
    assert.ok(r.filter(x => x.n > 0).length >= r.length * 0.7, 'most queries find something')
    // console text is the format string followed by its arguments
    const seen = (pattern: RegExp): boolean => logs.some(l => pattern.test(l))
    assert.ok(seen(/search scanned: .* \d+ true$/), 'a scan')
    assert.ok(seen(/search scanned: .* \d+ false$/), 'a scan cut short')
    assert.ok(seen(/search walks .* \S+ \d+ [1-9]\d* \d+$/), 'a walk with time windows')
    assert.ok(seen(/search walks .* \S+ [1-9]\d* \d+ \d+$/), 'a walk with sets')
    assert.ok(seen(/search merges /), 'a merged prefix')
    assert.ok(seen(/search scans: /), 'a prefix of many words')
    console.info('search on 6,000 messages, default plan (query: results, ms):', r.filter(x => x.tuning === '0').map(x => `${x.q}: ${x.n}, ${x.ms.toFixed(1)}`).join('; '))
  })

  it('pages through many messages of the same millisecond (an import) without losing or repeating any', async () => {
    const r = await page.evaluate(async () => {
      const h = await globalThis.peerlineStore.openHistory({ dbName: 'same-ms' })
      const base = { direction: 'in' as const, verified: true, status: 'received' as const, at: 5 }
      const list = []
      for (let i = 0; i < 400; i++) list.push({ ...base, id: `a${String(i).padStart(3, '0')}`, peer: 'bob@example.org', body: `imported common line ${i}` })
      for (let i = 0; i < 100; i++) list.push({ ...base, id: `z${String(i).padStart(3, '0')}`, peer: 'carol@example.org', body: `imported common other ${i}` })
      await h.addMessages(list)
      const result = {
        carol: (await h.search('common', { peer: 'carol@example.org', limit: 20 })).map(m => m.id),
        all: (await h.search('imported', { limit: 1000 })).map(m => m.id),
        both: (await h.search('common other', { limit: 30 })).map(m => m.id),
        page: (await h.conversation('carol@example.org', { limit: 3 })).map(m => m.id)
      }
      h.close()
      return result
    })
    // the order within one millisecond is unspecified: check who, not in which order
    assert.equal(r.carol.length, 20)
    assert.equal(new Set(r.carol).size, 20)
    assert.ok(r.carol.every(id => id.startsWith('z')), 'only carol\'s')
    assert.equal(r.all.length, 500)
    assert.equal(new Set(r.all).size, 500, 'none repeated, none lost')
    assert.equal(r.both.length, 30)
    assert.equal(new Set(r.both).size, 30)
    assert.ok(r.both.every(id => id.startsWith('z')))
    assert.deepEqual(r.page, ['z097', 'z098', 'z099'])
  })

  it('keeps everything across a page reload', async () => {
    await page.evaluate(async () => {
      const h = await globalThis.peerlineStore.openHistory({ dbName: 'reload' })
      await h.addMessage({ peer: 'bob@example.org', direction: 'out', body: 'Remember the milk', at: 5, verified: true, status: 'sent' })
      await h.addCall({ peer: 'bob@example.org', direction: 'in', startedAt: 6, durationMs: 0, outcome: 'missed', video: false, verified: false })
      await h.addBuddy({ aor: 'bob@example.org', displayName: 'Bob' })
      await h.setSetting('theme', 'dark')
      h.close()
    })
    await page.reload()
    await page.waitForFunction(() => globalThis.peerlineStore !== undefined)
    const r = await page.evaluate(async () => {
      const h = await globalThis.peerlineStore.openHistory({ dbName: 'reload' })
      const result = {
        found: (await h.search('milk')).map(m => m.body),
        calls: (await h.calls()).map(c => c.outcome),
        buddies: (await h.buddies()).map(b => b.displayName),
        theme: await h.getSetting('theme', 'light'),
        conversations: (await h.conversations()).map(c => c.count)
      }
      h.close()
      return result
    })
    assert.deepEqual(r, { found: ['Remember the milk'], calls: ['missed'], buddies: ['Bob'], theme: 'dark', conversations: [1] })
  })

  it('says clearly when the database is newer, or another tab upgrades it', async () => {
    const r = await page.evaluate(async () => {
      const lib = globalThis.peerlineStore
      const nameOf = async (p: Promise<unknown>): Promise<string> => {
        try { await p; return 'resolved' } catch (e) { return (e as Error).name }
      }
      const openRaw = async (name: string, version: number): Promise<IDBDatabase> => await new Promise((resolve, reject) => {
        const req = indexedDB.open(name, version)
        req.onsuccess = () => { resolve(req.result) }
        req.onerror = () => { reject(req.error) }
        req.onblocked = () => { reject(new Error('blocked')) }
      })
      // a database left by a newer Peerline
      ;(await openRaw('from-the-future', 5)).close()
      const newer = await nameOf(lib.openHistory({ dbName: 'from-the-future' }))

      // another tab upgrades while this store is open: the store steps aside instead of blocking it
      const h = await lib.openHistory({ dbName: 'upgraded' })
      await h.addMessage({ peer: 'bob@example.org', direction: 'in', body: 'before', at: 1, verified: true, status: 'received' })
      const other = await openRaw('upgraded', 2)
      other.close()
      const afterUpgrade = await nameOf(h.search('before'))
      h.close()
      const afterClose = await nameOf(h.calls())
      return { newer, afterUpgrade, afterClose }
    })
    assert.deepEqual(r, {
      newer: 'HistoryUnavailableError',
      afterUpgrade: 'HistoryUnavailableError',
      afterClose: 'HistoryUnavailableError'
    })
  })
})
