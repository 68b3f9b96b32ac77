/**
 * The history store in Node: the search word rules, the refusals that need no
 * database, and (when the fake-indexeddb dev dependency is installed) the whole store on
 * an in-memory IndexedDB. The proof on a real IndexedDB is history-browser.test.ts.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  HISTORY_DB_VERSION, MAX_MESSAGE_BYTES, MAX_TOKEN_LENGTH, matchesQuery, openHistory, parseQuery, tokenize
} from '../../shared/store/index.ts'
import type { LocalHistoryStore } from '../../shared/store/index.ts'

describe('search words', () => {
  it('folds case, accents, ligatures and compatibility forms', () => {
    assert.deepEqual(tokenize('Café at 5, ZÜRICH! Ærøskøbing ﬁne 𝐁old Straße İstanbul'),
      ['cafe', 'at', '5', 'zurich', 'aeroskobing', 'fine', 'bold', 'strasse', 'istanbul'])
  })

  it('splits on anything but letters and digits, in any script', () => {
    assert.deepEqual(tokenize('e-mail: bob@example.org; tel.+49(30)1234'), ['mail', 'bob', 'example', 'org', 'tel', '49', '30', '1234'])
    assert.deepEqual(tokenize('Привет, мир — γειά σου'), ['привет', 'мир', 'γεια', 'σου'])
    assert.deepEqual(tokenize('東京タワーで会おう'), ['東', '京', 'タ', 'ワ', 'て', '会', 'お', 'う'])
  })

  it('drops one-letter words but keeps digits, and cuts long words', () => {
    assert.deepEqual(tokenize('I saw a 3 d movie'), ['saw', '3', 'movie'])
    const long = tokenize('x'.repeat(100))
    assert.deepEqual(long, ['x'.repeat(MAX_TOKEN_LENGTH)])
    assert.deepEqual(tokenize('𝐀 😀 -- ...'), [])
  })

  it('parses queries: last word as a prefix, one letter only while typing after another word', () => {
    assert.deepEqual(parseQuery('Meet Zür'), { exact: ['meet'], prefix: 'zur' })
    assert.deepEqual(parseQuery('cafe m'), { exact: ['cafe'], prefix: 'm' })
    assert.deepEqual(parseQuery('cafe m '), { exact: [], prefix: 'cafe' })
    assert.deepEqual(parseQuery('tomato tom'), { exact: ['tomato'] })
    assert.deepEqual(parseQuery('tom tom'), { exact: ['tom'] })
    assert.equal(parseQuery('a'), undefined)
    assert.equal(parseQuery(' ?! '), undefined)
  })

  it('matches a body against a parsed query', () => {
    const q = parseQuery('MET zü')!
    assert.equal(matchesQuery('We met in Zürich', q), true)
    assert.equal(matchesQuery('We meet in Zürich', q), false)
    assert.equal(matchesQuery('We met in Bern', q), false)
  })
})

describe('openHistory without IndexedDB', () => {
  it('throws HistoryUnavailableError when there is none', { skip: 'indexedDB' in globalThis ? 'this Node has a global indexedDB' : false }, async () => {
    await assert.rejects(openHistory(), { name: 'HistoryUnavailableError' })
  })

  it('throws HistoryUnavailableError when the browser refuses to open', async () => {
    const refusing = { open () { throw Object.assign(new Error('denied'), { name: 'SecurityError' }) } } as unknown as IDBFactory
    await assert.rejects(openHistory({ indexedDB: refusing }), (err: Error) => {
      assert.equal(err.name, 'HistoryUnavailableError')
      assert.match(err.message, /denied/)
      return true
    })
  })

  it('throws HistoryBlockedError when another tab holds an old version open', async () => {
    // the event an IDBFactory fires when other connections do not close on versionchange
    const blocking = {
      open (_name: string, version: number) {
        assert.equal(version, HISTORY_DB_VERSION)
        const request = {} as IDBOpenDBRequest
        setTimeout(() => { request.onblocked?.call(request, {} as IDBVersionChangeEvent) }, 1)
        return request
      }
    } as unknown as IDBFactory
    await assert.rejects(openHistory({ indexedDB: blocking }), { name: 'HistoryBlockedError' })
  })
})

// fake-indexeddb is an optional dev dependency: this suite runs when it is installed
const FAKE = 'fake-indexeddb'
let fakeInstalled = true
try { import.meta.resolve(FAKE) } catch { fakeInstalled = false }

describe('history store on fake-indexeddb', { skip: fakeInstalled ? false : 'fake-indexeddb is not installed (npm i -D fake-indexeddb)' }, () => {
  let Factory: new () => IDBFactory
  let n = 0
  const open = async (init: { now?: () => number } = {}): Promise<LocalHistoryStore> => {
    return await openHistory({ ...init, indexedDB: new Factory(), dbName: `t${n++}` })
  }
  const base = { direction: 'in' as const, verified: true, status: 'received' as const }
  let h: LocalHistoryStore

  before(async () => {
    // idb and the store use the IndexedDB globals (IDBKeyRange, IDBRequest…): install them
    await import(`${FAKE}/auto`)
    Factory = (globalThis as unknown as { IDBFactory: new () => IDBFactory }).IDBFactory
    h = await open()
  })
  after(() => { h?.close() })

  it('adds, pages and summarises conversations', async () => {
    const a = await h.addMessage({ ...base, peer: 'Bob@Example.org', body: 'Lunch at the Café?', at: 10 })
    await h.addMessage({ ...base, peer: 'carol@example.org', body: 'See the menu', at: 20 })
    await h.addMessage({ ...base, peer: 'bob@example.org', body: 'café it is', at: 30, direction: 'out', status: 'sending' })
    assert.match(a.id, /^[0-9a-f-]{36}$/)
    assert.equal(a.peer, 'bob@example.org')
    assert.deepEqual((await h.conversation('bob@example.org')).map(m => m.at), [10, 30])
    assert.deepEqual((await h.conversation('bob@example.org', { before: 30 })).map(m => m.at), [10])
    assert.deepEqual((await h.conversations()).map(c => [c.peer, c.count, c.last.at]), [['bob@example.org', 2, 30], ['carol@example.org', 1, 20]])
    assert.deepEqual(Object.keys((await h.conversation('carol@example.org'))[0]!).sort(), ['at', 'body', 'direction', 'id', 'peer', 'status', 'verified'])
  })

  it('searches newest first, by prefix, per peer, and follows replacements', async () => {
    assert.deepEqual((await h.search('CAFE')).map(m => m.at), [30, 10])
    assert.deepEqual((await h.search('the me')).map(m => m.at), [20])
    assert.deepEqual((await h.search('caf', { peer: 'bob@example.org', limit: 1 })).map(m => m.at), [30])
    await h.addMessage({ ...base, id: 'fixed', peer: 'dave@example.org', body: 'first version', at: 40 })
    await h.addMessage({ ...base, id: 'fixed', peer: 'dave@example.org', body: 'second version', at: 41 })
    assert.deepEqual((await h.search('first')).length, 0)
    assert.deepEqual((await h.search('version')).map(m => m.body), ['second version'])
    assert.equal((await h.conversations()).find(c => c.peer === 'dave@example.org')?.count, 1)
  })

  it('refuses bad input and writes nothing', async () => {
    const before = (await h.conversations()).map(c => c.count)
    await assert.rejects(h.addMessage({ ...base, peer: 'bob@example.org', body: 'x'.repeat(MAX_MESSAGE_BYTES + 1), at: 1 }), { name: 'MessageTooLargeError' })
    await assert.rejects(h.addMessage({ ...base, peer: '', body: 'hi', at: 1 }), { name: 'InvalidHistoryInputError', field: 'peer' })
    await assert.rejects(h.setMessageStatus('missing', 'sent'), { name: 'HistoryRecordNotFoundError' })
    assert.deepEqual((await h.conversations()).map(c => c.count), before)
  })

  it('keeps calls, buddies and settings', async () => {
    const s = await open({ now: () => 99 })
    const c = await s.addCall({ peer: 'bob@example.org', direction: 'in', startedAt: 5, durationMs: 0, outcome: 'missed', video: false, verified: true })
    await s.addCall({ peer: 'bob@example.org', direction: 'out', startedAt: 9, durationMs: 0, outcome: 'busy', video: false, verified: true })
    await s.updateCall(c.id, { outcome: 'answered', durationMs: 1000 })
    assert.deepEqual((await s.calls()).map(x => [x.startedAt, x.outcome]), [[9, 'busy'], [5, 'answered']])
    assert.deepEqual(await s.addBuddy({ aor: 'BOB@example.org' }), { aor: 'bob@example.org', addedAt: 99 })
    await s.removeBuddy('bob@example.org')
    assert.deepEqual(await s.buddies(), [])
    await s.setSetting('k', { a: 1 })
    assert.deepEqual(await s.getSetting('k', null), { a: 1 })
    assert.equal(await s.requestPersistence(), false)
    s.close()
    await assert.rejects(s.buddies(), { name: 'HistoryUnavailableError' })
  })
})
