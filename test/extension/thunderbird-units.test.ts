/**
 * The Thunderbird add-on's pure parts in Node: vCard → addresses, the
 * presence policy, transcript mails, hand-off links, message narrowing. The
 * same code runs inside the real Thunderbird in thunderbird.test.ts.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { MalformedVCardError, parseContactVCard } from '../../extension/thunderbird/vcard.ts'
import { checkedAgo, PRESENCE_STALE_MS, PresenceScheduler, shownPresence } from '../../extension/thunderbird/presence.ts'
import type { PresenceState } from '../../extension/thunderbird/presence.ts'
import { quotedPrintable, threadRootId, transcriptMessage } from '../../extension/thunderbird/transcript.ts'
import { callHandoffUrl, pairAndCallUrl, PwaAddressError, redactHandoff } from '../../extension/thunderbird/handoff.ts'
import { TRANSCRIPT_MARKS_KEY, TranscriptNotReadyError, TranscriptStore } from '../../extension/thunderbird/transcripts.ts'
import { addressedTo, CA_MAIL_SUBJECT, findVerificationCodes, fromCa, NoVerificationMailError, verifyFromMail } from '../../extension/thunderbird/verify-mail.ts'
import { handleSipClick } from '../../extension/thunderbird/sip-click.ts'
import type { SipClick } from '../../extension/thunderbird/sip-click.ts'
import { RECORD_TTL_MS } from '../../shared/overlay/constants.ts'
import { asThunderbirdMessage } from '../../extension/thunderbird/commands.ts'
import { BuddyDirectory } from '../../extension/thunderbird/buddies.ts'
import type { ContactNode, MessageHeader } from '../../extension/thunderbird/messenger.ts'
import { act, authorAddress } from '../../extension/thunderbird/pages/msg-actions.ts'
import { parseDeepLink } from '../../shared/ui/app/deeplink.ts'
import { parsePairingOffer } from '../../shared/overlay/pairing.ts'
import type { HistoryStore, MessageRecord } from '../../shared/store/history-api.ts'
import { withReleaseBuild } from '../helpers/extension-build.ts'

const card = (...lines: string[]): string => ['BEGIN:VCARD', 'VERSION:4.0', ...lines, 'END:VCARD', ''].join('\r\n')

describe('vCard → buddy addresses', () => {
  it('reads FN, every EMAIL and IMPP sip: entries, normalised and without duplicates', () => {
    const c = parseContactVCard(card('FN:Bob Example', 'EMAIL;PREF=1:Bob@Example.org', 'EMAIL:bob@example.org', 'IMPP:sip:bob.sip@example.net', 'IMPP:xmpp:bob@jabber.example'))
    assert.deepEqual(c, { name: 'Bob Example', addresses: ['bob@example.org', 'bob.sip@example.net'] })
  })

  it('falls back to N for the name and keeps contacts without addresses empty', () => {
    assert.equal(parseContactVCard(card('N:Doe;Jane;;;', 'EMAIL:jane@example.org')).name.includes('Jane'), true)
    assert.deepEqual(parseContactVCard(card('FN:Phone Only', 'TEL:+123')).addresses, [])
  })

  it('refuses malformed vCards with a typed error and a reason', () => {
    for (const bad of ['', 'garbage', 'BEGIN:VCARD\r\nFN\r\nEND:VCARD', 'BEGIN:VCARD\r\nVERSION:4.0\r\nFN:x\r\n', 'BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n']) {
      assert.throws(() => parseContactVCard(bad), (err: Error) => err.name === MalformedVCardError.NAME && err.message.length > 0, JSON.stringify(bad))
    }
  })

  it('BuddyDirectory skips a malformed card with its reason and keeps the rest', async () => {
    const nodes: ContactNode[] = [
      { id: 'a', parentId: 'book', type: 'contact', vCard: card('FN:Ann', 'EMAIL:ann@example.org') },
      { id: 'b', parentId: 'book', type: 'contact', vCard: 'BEGIN:VCARD\r\nbroken' },
      { id: 'c', parentId: 'book', type: 'contact', vCard: card('FN:Ann at work', 'EMAIL:ann@example.org', 'EMAIL:cy@example.org') }
    ]
    const dir = new BuddyDirectory({
      addressBooks: {
        list: async () => [{ id: 'book', name: 'Personal', type: 'addressBook' }],
        contacts: { list: async () => nodes } as never
      } as never
    })
    let changes = 0
    dir.onChange(() => { changes++ })
    await dir.load()
    assert.deepEqual(dir.list().map(b => [b.aor, b.name, b.contactIds]), [['ann@example.org', 'Ann', ['a', 'c']], ['cy@example.org', 'Ann at work', ['c']]])
    assert.equal(dir.skipped().length, 1)
    assert.equal(dir.skipped()[0]?.contactId, 'b')
    dir.remove('a')
    assert.deepEqual(dir.list().find(b => b.aor === 'ann@example.org')?.contactIds, ['c'])
    dir.put({ id: 'b', parentId: 'book', type: 'contact', vCard: card('FN:Bea', 'EMAIL:bea@example.org') })
    assert.equal(dir.skipped().length, 0)
    assert.ok(dir.list().some(b => b.aor === 'bea@example.org'))
    assert.equal(changes, 3)
  })

  it('follows address books: a new book\'s contacts are listed, a deleted book\'s dropped', async () => {
    const books: Record<string, ContactNode[]> = {
      one: [{ id: 'a', parentId: 'one', type: 'contact', vCard: card('FN:Ann', 'EMAIL:ann@example.org') }],
      two: [{ id: 'e', parentId: 'two', type: 'contact', vCard: card('FN:Erin', 'EMAIL:erin@example.org') }, { id: 'x', parentId: 'two', type: 'contact', vCard: 'broken' }]
    }
    const dir = new BuddyDirectory({
      addressBooks: {
        list: async () => [{ id: 'one', name: 'One', type: 'addressBook' }],
        contacts: { list: async (id: string) => books[id] ?? [] } as never
      } as never
    })
    await dir.load()
    await dir.addBook({ id: 'two', name: 'Two', type: 'addressBook' })
    assert.deepEqual(dir.list().map(b => b.aor), ['ann@example.org', 'erin@example.org'])
    assert.equal(dir.skipped().length, 1)
    dir.removeBook('two')
    assert.deepEqual(dir.list().map(b => b.aor), ['ann@example.org'])
    assert.equal(dir.skipped().length, 0)
  })

  it('a failed first load is not cached, and a contact deleted while loading stays deleted', async () => {
    let fail = true
    let release: () => void = () => {}
    const gate = new Promise<void>(resolve => { release = resolve })
    const dir = new BuddyDirectory({
      addressBooks: {
        list: async () => {
          if (fail) throw new Error('address books not ready')
          return [{ id: 'book', name: 'Personal', type: 'addressBook' }]
        },
        contacts: {
          list: async () => {
            await gate
            return [{ id: 'a', parentId: 'book', type: 'contact', vCard: card('FN:Ann', 'EMAIL:ann@example.org') }, { id: 'b', parentId: 'book', type: 'contact', vCard: card('FN:Bo', 'EMAIL:bo@example.org') }]
          }
        } as never
      } as never
    })
    await assert.rejects(dir.load(), /not ready/)
    fail = false
    const loading = dir.load()
    await new Promise(resolve => setImmediate(resolve))
    dir.remove('a') // contacts.onDeleted while the list is read
    release()
    await loading
    assert.deepEqual(dir.list().map(b => b.aor), ['bo@example.org'])
  })
})

describe('presence policy', () => {
  it('keeps to the lookups-per-minute budget, visible buddies first, answers cached for the TTL', async () => {
    let now = 1_000_000
    const looked: string[] = []
    const lastAt = new Map<string, number>()
    let tooSoon = 0
    const p = new PresenceScheduler({ lookupsPerMinute: 30, concurrency: 2, ttlMs: 120_000, now: () => now }, {
      lookup: async aor => {
        if (now - (lastAt.get(aor) ?? -Infinity) < 120_000) tooSoon++
        lastAt.set(aor, now)
        looked.push(aor)
        return (aor === 'b5@example.org' ? 'online' : 'offline') as PresenceState },
      onChange: () => {}
    })
    const all = Array.from({ length: 2000 }, (_, i) => `b${i}@example.org`)
    p.setBuddies(all)
    p.setVisible(['b5@example.org', 'b1999@example.org'])
    p.start()
    // the timer fires every 2 s (30/min); drive the clock by hand
    for (let i = 0; i < 200; i++) {
      await new Promise(resolve => setImmediate(resolve))
      now += 1_000
      p.tick()
    }
    p.stop()
    assert.deepEqual(looked.slice(0, 2).sort(), ['b1999@example.org', 'b5@example.org'], 'visible buddies first')
    // 200 simulated seconds at 30/min: at most 30 per started minute (4 windows)
    assert.ok(looked.length <= 30 * 4, `${looked.length} lookups`)
    assert.ok(looked.length >= 30 * 3)
    assert.equal(tooSoon, 0, 'nobody looked up twice within the TTL')
    // the visible ones were refreshed once their answer was older than the TTL
    assert.equal(looked.filter(a => a === 'b5@example.org').length, 2)
    assert.equal(p.get('b5@example.org').state, 'online')
  })

  it('does not cache "no answer" while offline', async () => {
    let online = false
    let calls = 0
    const p = new PresenceScheduler({ lookupsPerMinute: 600 }, {
      lookup: async () => { calls++; return online ? 'online' : undefined },
      onChange: () => {}
    })
    p.setBuddies(['a@example.org'])
    p.start()
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(p.get('a@example.org').checkedAt, 0)
    online = true
    p.tick()
    await new Promise(resolve => setImmediate(resolve))
    p.stop()
    assert.equal(p.get('a@example.org').state, 'online')
    assert.equal(calls, 2)
  })

  it('shows "unknown" while offline or once an answer is older than a record\'s lifetime', () => {
    assert.equal(PRESENCE_STALE_MS, RECORD_TTL_MS)
    const now = 10_000_000
    const online = { state: 'online' as const, checkedAt: now - 60_000 }
    assert.equal(shownPresence(online, { online: true, now }), 'online')
    assert.equal(shownPresence(online, { online: false, now }), 'unknown')
    assert.equal(shownPresence({ state: 'online', checkedAt: now - RECORD_TTL_MS - 1 }, { online: true, now }), 'unknown')
    assert.equal(shownPresence({ state: 'offline', checkedAt: 0 }, { online: true, now }), 'unknown')
    assert.equal(checkedAgo(now - 7 * 60_000 - 5_000, now), 'checked 7 min ago')
    assert.equal(checkedAgo(now - 5_000, now), 'checked just now')
    assert.equal(checkedAgo(0, now), '')
  })
})

describe('transcripts as mail', () => {
  const msg = (id: string, direction: 'in' | 'out', body: string, at: number): MessageRecord => ({ id, peer: 'bob@example.org', direction, body, at, verified: true, status: direction === 'in' ? 'received' : 'sent' })

  it('is one RFC 5322 message, threaded per peer, with every line', () => {
    const raw = transcriptMessage({
      me: { aor: 'me@example.org', displayName: 'Me' },
      peer: { aor: 'bob@example.org', displayName: 'Bob Ünïcode' },
      messages: [msg('1', 'in', 'hello', 1_700_000_000_000), msg('2', 'out', 'hi\nthere', 1_700_000_001_000)]
    })
    const [head, body] = raw.split('\r\n\r\n') as [string, string]
    assert.match(head, /^From: "=\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=" <bob@example\.org>$/m)
    assert.match(head, /^Subject: =\?UTF-8\?B\?/m)
    assert.ok(head.includes(`References: ${threadRootId('bob@example.org')}`))
    assert.match(head, /^Date: .* \+0000$/m)
    assert.ok(body.includes('Bob Ünïcode: hello'))
    assert.ok(body.includes('Me: hi\r\n    there'))
    assert.throws(() => transcriptMessage({ me: { aor: 'a@b.c' }, peer: { aor: 'bob@example.org' }, messages: [] }), RangeError)
    assert.ok(!head.includes('format=flowed'))
    assert.match(head, /^Content-Transfer-Encoding: 8bit$/m)
  })

  it('uses quoted-printable for long lines and lines ending in spaces', () => {
    const long = 'ä'.repeat(600) // 1,200 bytes of UTF-8 on one line
    const raw = transcriptMessage({ me: { aor: 'me@example.org' }, peer: { aor: 'bob@example.org' }, messages: [msg('1', 'in', long, 1_700_000_000_000), msg('2', 'in', 'trailing  ', 1_700_000_000_001)] })
    const [head, body] = raw.split('\r\n\r\n') as [string, string]
    assert.match(head, /^Content-Transfer-Encoding: quoted-printable$/m)
    for (const l of body.split('\r\n')) assert.ok(l.length <= 76 && !/[ \t]$/.test(l), JSON.stringify(l))
    // decoding gives the text back
    const decoded = new TextDecoder().decode(Uint8Array.from(body.replace(/=\r\n/g, '').replace(/\r\n/g, '\n').replace(/=([0-9A-F]{2})|([\s\S])/g, (_m, hex: string | undefined, ch: string | undefined) => String.fromCharCode(hex !== undefined ? parseInt(hex, 16) : (ch as string).charCodeAt(0))), c => c.charCodeAt(0)))
    assert.ok(decoded.includes(long))
    assert.ok(decoded.includes('trailing  \n'))
    assert.equal(quotedPrintable('a=b'), 'a=3Db')
  })
})

describe('transcript writing from the history', () => {
  const PEER = 'bob@example.org'
  const msg = (id: string, at: number, status: MessageRecord['status'] = 'received'): MessageRecord => ({ id, peer: PEER, direction: status === 'received' ? 'in' : 'out', body: `body ${id}`, at, verified: true, status })

  /** A history with HistoryStore's conversation() contract (newest page, oldest first, `before` exclusive). */
  function history (messages: MessageRecord[]): HistoryStore {
    return {
      conversation: async (peer: string, o: { limit?: number, before?: number } = {}) => {
        const all = messages.filter(m => m.peer === peer && (o.before === undefined || m.at < o.before)).sort((a, b) => a.at - b.at)
        return all.slice(Math.max(0, all.length - (o.limit ?? 50)))
      },
      conversations: async () => {
        const last = [...messages].sort((a, b) => a.at - b.at).at(-1)
        return last === undefined ? [] : [{ peer: PEER, last, count: messages.length }]
      }
    } as unknown as HistoryStore
  }

  function mailApi (opts: { failImports?: number } = {}) {
    const storage: Record<string, unknown> = {}
    const imported: string[] = []
    let fails = opts.failImports ?? 0
    const api = {
      accounts: { list: async () => [{ id: 'local', type: 'none', name: 'Local Folders', rootFolder: { id: 'root' } }] },
      folders: { getSubFolders: async () => [], create: async () => ({ id: 'chats', name: 'Peerline Chats' }) },
      messages: {
        import: async (file: File) => {
          if (fails > 0) { fails--; throw new Error('import failed') }
          imported.push(await file.text())
          return { id: imported.length, author: '', subject: '', headerMessageId: '' }
        }
      },
      storage: { local: { get: async (k: string) => (k in storage ? { [k]: structuredClone(storage[k]) } : {}), set: async (i: Record<string, unknown>) => { Object.assign(storage, structuredClone(i)) } } }
    }
    return { api: api as never, storage, imported }
  }

  it('a restart writes everything after the stored mark, once, in batches', async () => {
    const messages = Array.from({ length: 7 }, (_, i) => msg(`m${i}`, 1_000 + i * 10))
    messages.push(msg('tie', 1_060)) // same time as m6
    const m = mailApi()
    const me = { aor: 'me@example.org' }
    const make = (): TranscriptStore => new TranscriptStore(m.api, { me: () => me, peerName: () => 'Bob', history: () => history(messages), maxBatch: 5, quietMs: 60_000 })
    let t = make()
    assert.equal((await t.start()).length, 2, '8 messages in batches of 5')
    assert.ok(m.imported[0]?.includes('body m0') && m.imported[1]?.includes('body tie'))
    // a new run (in-memory state gone): nothing written twice
    t = make()
    assert.equal((await t.start()).length, 0)
    messages.push(msg('late', 2_000))
    t.touch(PEER) // a timer only: a quit before it fires loses nothing
    t.reset()
    t = make()
    assert.equal((await t.start()).length, 1)
    assert.ok(m.imported[2]?.includes('body late') && !m.imported[2].includes('body m6'))
    assert.deepEqual(m.storage[TRANSCRIPT_MARKS_KEY], { [PEER]: { at: 2_000, ids: ['late'] } })
  })

  it('without an identity nothing is dropped; a failed import is tried again by its timer', async () => {
    const messages = [msg('a', 1_000), msg('b', 1_010)]
    const m = mailApi({ failImports: 1 })
    const who: { me?: { aor: string } } = {}
    const t = new TranscriptStore(m.api, { me: () => who.me, peerName: () => undefined, history: () => history(messages), retryMs: 20, quietMs: 10 })
    await assert.rejects(t.start(), { name: TranscriptNotReadyError.NAME })
    assert.equal(m.storage[TRANSCRIPT_MARKS_KEY], undefined)
    who.me = { aor: 'me@example.org' }
    await new Promise(resolve => setTimeout(resolve, 30)) // the retry timer fails the import once, then the next one writes
    for (let i = 0; i < 100 && m.imported.length === 0; i++) await new Promise(resolve => setTimeout(resolve, 20))
    t.reset()
    assert.equal(m.imported.length, 1)
    assert.ok(m.imported[0]?.includes('body a') && m.imported[0].includes('body b'))
  })

  it('waits for a message still being sent', async () => {
    const now = 100_000
    const messages = [msg('a', now - 5_000), msg('s', now - 4_000, 'sending'), msg('c', now - 3_000)]
    const m = mailApi()
    const t = new TranscriptStore(m.api, { me: () => ({ aor: 'me@example.org' }), peerName: () => undefined, history: () => history(messages), now: () => now, quietMs: 60_000 })
    await t.start()
    t.reset()
    assert.equal(m.imported.length, 1)
    assert.ok(m.imported[0]?.includes('body a') && !m.imported[0].includes('body c'))
  })
})

describe('email verification from the inbox', () => {
  const header = (id: number, author: string, recipients: string[] | undefined): MessageHeader => ({ id, author, subject: CA_MAIL_SUBJECT, headerMessageId: `${id}@x`, date: new Date(1_000 + id), ...(recipients !== undefined ? { recipients } : {}) })
  const mails = (list: Array<{ h: MessageHeader, code: string }>) => ({
    messages: {
      query: async () => ({ id: null, messages: list.map(x => x.h) }),
      continueList: async () => ({ id: null, messages: [] }),
      getFull: async (id: number) => ({ contentType: 'text/plain', body: `Peerline verification code: ${list.find(x => x.h.id === id)?.code ?? ''}` }),
      getRaw: async () => ''
    }
  }) as never

  it('reads only mails from the CA\'s address, to the user', async () => {
    assert.equal(addressedTo({ recipients: ['Me <me@example.org>'] }, 'ME@example.org'), true)
    assert.equal(addressedTo({ recipients: ['notme@example.org.evil'] }, 'me@example.org'), false)
    assert.equal(addressedTo({}, 'me@example.org'), false)
    assert.equal(fromCa({ author: 'Peerline CA <ca@example.test>' }, 'ca@example.test'), true)
    assert.equal(fromCa({ author: 'Peerline CA <ca@evil.test>' }, 'Peerline CA <ca@example.test>'), false)
    const api = mails([
      { h: header(1, 'Peerline CA <ca@example.test>', ['me@example.org']), code: '111111' },
      { h: header(2, 'Forger <ca@evil.test>', ['me@example.org']), code: '222222' },
      { h: header(3, 'Peerline CA <ca@example.test>', []), code: '333333' },
      { h: header(4, 'Peerline CA <ca@example.test>', undefined), code: '444444' }
    ])
    assert.deepEqual(await findVerificationCodes(api, { email: 'me@example.org', since: 0, from: 'ca@example.test' }), ['111111'])
  })

  it('tries at most two codes', async () => {
    const api = mails([1, 2, 3, 4].map(i => ({ h: header(i, 'ca@example.test', ['me@example.org']), code: `${i}${i}${i}${i}${i}${i}` })))
    const tried: string[] = []
    const wrong = Object.assign(new Error('wrong'), { name: 'WrongCodeError' })
    await assert.rejects(verifyFromMail(api, { email: 'me@example.org', since: 0, waitMs: 1_000, pollMs: 10, confirm: async code => { tried.push(code); throw wrong } }), { name: NoVerificationMailError.NAME })
    assert.deepEqual(tried, ['444444', '333333'])
  })
})

describe('hand-off links', () => {
  it('the plain call link is what the PWA parses', () => {
    const url = callHandoffUrl('https://app.example/peerline/#/old', 'SIP:Bob@Example.org')
    assert.equal(url, 'https://app.example/peerline/#/call/sip:bob@example.org')
    assert.deepEqual(parseDeepLink(url.slice(url.indexOf('#'))), { route: 'call', target: 'sip:bob@example.org' })
  })

  it('the pairing link carries the offer and then dials', () => {
    const offer = { v: 1 as const, aor: 'me@example.org', peerId: '12D3KooWCYuB66SUVSm5A4abPRM4E11v1uCMXd1nHcjt2F7bxcoG', addrs: [], code: '123456', expiresAt: Date.now() + 60_000 }
    const url = pairAndCallUrl('https://app.example/', offer, 'bob@example.org')
    assert.equal(parsePairingOffer(url).aor, 'me@example.org')
    assert.ok(url.endsWith('?then=/call/sip:bob@example.org'))
  })

  it('pages see hand-off URLs without the pairing offer', () => {
    const offer = { v: 1 as const, aor: 'me@example.org', peerId: '12D3KooWCYuB66SUVSm5A4abPRM4E11v1uCMXd1nHcjt2F7bxcoG', addrs: [], code: '123456', expiresAt: Date.now() + 60_000 }
    const url = pairAndCallUrl('https://app.example/', offer, 'bob@example.org')
    const shown = redactHandoff(url)
    assert.ok(!shown.includes('123456') && !shown.includes(offer.peerId), shown)
    assert.ok(shown.endsWith('?then=/call/sip:bob@example.org'))
    const plain = callHandoffUrl('https://app.example/', 'bob@example.org')
    assert.equal(redactHandoff(plain), plain)
  })

  it('refuses a missing or non-web PWA address', () => {
    for (const bad of ['', 'not a url', 'javascript:alert(1)', 'file:///etc/passwd']) {
      assert.throws(() => callHandoffUrl(bad, 'bob@example.org'), (err: Error) => err.name === PwaAddressError.NAME)
    }
  })
})

describe('release build', () => {
  it('carries no test driver, the Thunderbird pages and the manifest part', async () => {
    await withReleaseBuild('thunderbird', async dir => {
      const files = await readdir(dir)
      for (const f of ['buddies.html', 'buddies.js', 'chat.html', 'chat.js', 'msg-actions.html', 'msg-actions.js', 'sip-mail.js']) assert.ok(files.includes(f), f)
      assert.ok(!files.includes('test-driver.js'))
      assert.ok(!(await readFile(join(dir, 'background.js'), 'utf8')).includes('test-driver'))
      const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Record<string, any>
      assert.equal(manifest.action.default_popup, 'buddies.html')
      assert.deepEqual(manifest.action.allowed_spaces, ['addressbook'])
      assert.equal(manifest.message_display_action.default_popup, 'msg-actions.html')
      for (const p of ['addressBooks', 'messagesImport', 'accountsFolders', 'messagesRead', 'scripting']) assert.ok(manifest.permissions.includes(p), p)
      assert.ok(!String(manifest.content_security_policy.extension_pages).includes('upgrade-insecure-requests'), 'ws:// supernodes stay reachable')
    })
  })
})

describe('page messages and senders', () => {
  it('narrows runtime messages and ignores foreign ones', () => {
    assert.deepEqual(asThunderbirdMessage({ command: 'tb:call', target: 'bob@example.org' }), { command: 'tb:call', target: 'bob@example.org' })
    assert.equal(asThunderbirdMessage({ command: 'tb:call' }), undefined)
    assert.equal(asThunderbirdMessage({ command: 'open-call', target: 'x' }), undefined)
    assert.equal(asThunderbirdMessage('tb:state'), undefined)
    assert.equal(asThunderbirdMessage({ command: 'tb:visible', aors: Array(500).fill('a@b.c') })?.command, 'tb:visible')
  })

  it('takes the sender address from a From header', () => {
    assert.equal(authorAddress('Bob Example <Bob@Example.org>'), 'bob@example.org')
    assert.equal(authorAddress('bob@example.org'), 'bob@example.org')
    assert.equal(authorAddress('Undisclosed recipients'), undefined)
  })

  it('the message popup\'s Call / Chat close on success and show the error otherwise', async () => {
    const sent: unknown[] = []
    const shown: string[] = []
    let closed = 0
    const ui = (reply: unknown) => ({ send: async (m: unknown) => { sent.push(m); if (reply instanceof Error) throw reply; return reply }, show: (t: string) => { shown.push(t) }, close: () => { closed++ } })
    assert.equal(await act('tb:call', 'bob@example.org', ui({ ok: true, url: 'https://x/' })), true)
    assert.deepEqual(sent[0], { command: 'tb:call', target: 'bob@example.org' })
    assert.equal(closed, 1)
    assert.equal(await act('tb:call', 'bob@example.org', ui({ ok: false, error: 'Set the address of the Peerline web app' })), false)
    assert.equal(await act('tb:chat', 'bob@example.org', ui(undefined)), false)
    assert.equal(await act('tb:chat', 'bob@example.org', ui(new Error('no receiver'))), false)
    assert.equal(closed, 1)
    assert.deepEqual(shown, ['Set the address of the Peerline web app', 'Peerline did not answer: is the add-on running?', 'Peerline: no receiver'])
  })

  it('sip: links in mail: trusted left clicks go to Peerline, everything else is left alone', () => {
    const link = (href: string) => ({ closest: (s: string) => s === 'a[href]' ? { getAttribute: () => href } : null })
    const click = (init: Partial<SipClick>): SipClick & { prevented: boolean } => {
      const e = { isTrusted: true, button: 0, target: link('sip:Bob@Example.org'), prevented: false, preventDefault () { e.prevented = true }, stopPropagation () {}, ...init }
      return e
    }
    const sent: unknown[] = []
    const send = (m: unknown): void => { sent.push(m) }
    const ok = click({})
    assert.equal(handleSipClick(ok, send), 'sip:Bob@Example.org')
    assert.ok(ok.prevented)
    assert.deepEqual(sent, [{ command: 'tb:sip-link', uri: 'sip:Bob@Example.org' }])
    for (const e of [click({ isTrusted: false }), click({ button: 1 }), click({ target: link('https://example.org/') }), click({ target: null })]) {
      assert.equal(handleSipClick(e, send), undefined)
      assert.equal(e.prevented, false)
    }
    assert.equal(sent.length, 1)
  })
})
