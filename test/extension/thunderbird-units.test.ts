/**
 * The Thunderbird add-on's pure parts in Node: vCard → addresses, the
 * presence policy, transcript mails, hand-off links, message narrowing. The
 * same code runs inside the real Thunderbird in thunderbird.test.ts.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildExtensions } from '../../build/extension.ts'
import { MalformedVCardError, parseContactVCard } from '../../extension/thunderbird/vcard.ts'
import { PresenceScheduler } from '../../extension/thunderbird/presence.ts'
import type { PresenceState } from '../../extension/thunderbird/presence.ts'
import { threadRootId, transcriptMessage } from '../../extension/thunderbird/transcript.ts'
import { callHandoffUrl, pairAndCallUrl, PwaAddressError } from '../../extension/thunderbird/handoff.ts'
import { asThunderbirdMessage } from '../../extension/thunderbird/commands.ts'
import { BuddyDirectory } from '../../extension/thunderbird/buddies.ts'
import type { ContactNode } from '../../extension/thunderbird/messenger.ts'
import { authorAddress } from '../../extension/thunderbird/pages/msg-actions.ts'
import { parseDeepLink } from '../../shared/ui/app/deeplink.ts'
import { parsePairingOffer } from '../../shared/overlay/pairing.ts'
import type { MessageRecord } from '../../shared/store/history-api.ts'

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

  it('refuses a missing or non-web PWA address', () => {
    for (const bad of ['', 'not a url', 'javascript:alert(1)', 'file:///etc/passwd']) {
      assert.throws(() => callHandoffUrl(bad, 'bob@example.org'), (err: Error) => err.name === PwaAddressError.NAME)
    }
  })
})

describe('release build', () => {
  it('carries no test driver, the Thunderbird pages and the manifest part', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'peerline-tb-release-'))
    try {
      const [r] = await buildExtensions({ targets: ['thunderbird'], outDir: dir, packageDir: null })
      assert.ok(r !== undefined)
      const files = await readdir(r.dir)
      for (const f of ['buddies.html', 'buddies.js', 'chat.html', 'chat.js', 'msg-actions.html', 'msg-actions.js', 'sip-mail.js']) assert.ok(files.includes(f), f)
      assert.ok(!files.includes('test-driver.js'))
      assert.ok(!(await readFile(join(r.dir, 'background.js'), 'utf8')).includes('test-driver'))
      const manifest = JSON.parse(await readFile(join(r.dir, 'manifest.json'), 'utf8')) as Record<string, any>
      assert.equal(manifest.action.default_popup, 'buddies.html')
      assert.deepEqual(manifest.action.allowed_spaces, ['addressbook'])
      assert.equal(manifest.message_display_action.default_popup, 'msg-actions.html')
      for (const p of ['addressBooks', 'messagesImport', 'accountsFolders', 'messagesRead', 'scripting']) assert.ok(manifest.permissions.includes(p), p)
      assert.ok(!String(manifest.content_security_policy.extension_pages).includes('upgrade-insecure-requests'), 'ws:// supernodes stay reachable')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
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
})
