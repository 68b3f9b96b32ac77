/**
 * The Thunderbird add-on in the real Thunderbird (Debian package, headless),
 * sideloaded into a throwaway profile, on a real supernode process, with a
 * Node peer (JsSIP phone) as the buddy. Results come from inside Thunderbird
 * through the TEST-ONLY driver (thunderbird-harness.ts).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSupernode } from '../helpers/supernode-process.ts'
import { eventually } from '../helpers/eventually.ts'
import type { SupernodeProcess } from '../helpers/supernode-process.ts'
import { startSmtpServer } from '../helpers/smtp.ts'
import type { TestSmtpServer } from '../helpers/smtp.ts'
import { startDevice } from '../helpers/overlay.ts'
import { fromBase64Url } from '../../shared/identity/index.ts'
import { nextEvent, startPhoneDevice, stopDevice } from '../helpers/sip.ts'
import { fakeMedia, installFakeWebRtc } from '../helpers/fake-webrtc.ts'
import type { Device } from '../helpers/sip.ts'
import type { IncomingMessage } from '../../shared/sip/index.ts'
import { parseDeepLink } from '../../shared/ui/app/deeplink.ts'
import { parsePairingOffer } from '../../shared/overlay/pairing.ts'
import type { PairingOffer } from '../../shared/overlay/pairing.ts'
import { overlay } from '../../shared/overlay/index.ts'
import type { Overlay } from '../../shared/overlay/index.ts'
import type { ThunderbirdState } from '../../extension/thunderbird/commands.ts'
import { buildTestAddon, startHarness, startThunderbird, THUNDERBIRD } from './thunderbird-harness.ts'
import type { Harness, ThunderbirdProcess } from './thunderbird-harness.ts'

const ME = 'tb-user@example.org'
const BOB = 'bob@example.org'
const PWA = 'https://peerline.example/app/'
/** Gecko's event-page idle timeout, shortened from 30 s so the test sees the add-on's keep-alive at work. */
const IDLE_TIMEOUT_MS = 8_000

/** Outside CI a machine without Thunderbird skips; in CI (CI=true) a missing Thunderbird fails the run. */
const SKIP = !existsSync(THUNDERBIRD) && process.env.CI !== 'true' && `${THUNDERBIRD} is not installed`

describe('Thunderbird add-on (real Thunderbird, headless)', { skip: SKIP }, () => {
  let sn: SupernodeProcess
  let smtp: TestSmtpServer
  let harness: Harness
  let tb: ThunderbirdProcess
  let bob: Device | undefined
  let work: string
  let firstLoad: number

  before(async () => {
    if (!existsSync(THUNDERBIRD)) throw new Error(`${THUNDERBIRD} is missing and CI=true: install Thunderbird (Debian package "thunderbird") to run the add-on tests`)
    work = await mkdtemp(join(tmpdir(), 'peerline-tb-build-'))
    smtp = await startSmtpServer()
    // the supernode runs the email-verifying CA, mailing through the loopback SMTP server
    sn = await spawnSupernode({
      extraArgs: ['--ca-key', join(work, 'ca-key.json'), '--ca-name', 'Thunderbird Test CA', '--smtp', smtp.url, '--ca-from', 'Peerline CA <ca@example.test>']
    })
    harness = await startHarness()
    const xpi = await buildTestAddon(harness.url, work)
    tb = await startThunderbird(xpi, { 'extensions.background.idle.timeout': IDLE_TIMEOUT_MS })
    const hello = await Promise.race([
      harness.connected,
      new Promise<never>((_resolve, reject) => { setTimeout(() => { reject(new Error(`the add-on did not report within 90 s\n${tb.output().slice(-4000)}`)) }, 90_000) })
    ])
    firstLoad = hello.loadedAt
  })

  after(async () => {
    await stopDevice(bob)
    await harness?.close()
    await tb?.stop()
    await sn?.kill()
    await smtp?.close()
    if (work !== undefined) await rm(work, { recursive: true, force: true })
  })

  it('runs as an overlay device without WebRTC', async () => {
    const alive = await harness.cmd<{ nativeWebRtc: boolean }>('alive')
    assert.equal(alive.nativeWebRtc, false, 'Thunderbird has no RTCPeerConnection: media must be handed off')
    await harness.cmd('setup', { email: ME, displayName: 'TB User', supernodes: [sn.addr], pwaBase: PWA }, 60_000)
    await eventually(async () => (await harness.cmd<{ status: { connected: boolean } }>('status')).status.connected, { timeoutMs: 60_000, what: 'the add-on online' })
  })

  it('a contact created in an address book appears as a buddy, online when its peer publishes', async () => {
    // Bob (Node) calls with the SIP-only WebRTC stand-in; Thunderbird never touches media
    installFakeWebRtc()
    bob = await startPhoneDevice(BOB, [sn.addr], {}, fakeMedia())
    await harness.cmd('create-contact', { vCard: 'BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Bob Example\r\nEMAIL;PREF=1:Bob@Example.org\r\nEND:VCARD\r\n' })
    await harness.cmd('create-contact', { vCard: 'BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Carol Nobody\r\nEMAIL:carol@example.org\r\nIMPP:sip:carol.sip@example.net\r\nEND:VCARD\r\n' })
    const listed = await eventually(async () => {
      const s = await harness.cmd<ThunderbirdState>('state')
      return s.buddies.some(b => b.aor === BOB) && s.buddies.some(b => b.aor === 'carol.sip@example.net') ? s : undefined
    }, { timeoutMs: 20_000, what: 'buddies from the address book' }) as ThunderbirdState
    assert.equal(listed.buddies.find(b => b.aor === BOB)?.name, 'Bob Example')
    assert.ok(listed.buddies.some(b => b.aor === 'carol@example.org'))
    await harness.cmd('visible', { aors: [BOB, 'carol@example.org'] })
    const s = await eventually(async () => {
      const st = await harness.cmd<ThunderbirdState>('state')
      const b = st.buddies.find(x => x.aor === BOB)
      const c = st.buddies.find(x => x.aor === 'carol@example.org')
      return b?.presence === 'online' && c !== undefined && c.checkedAt > 0 ? st : undefined
    }, { timeoutMs: 60_000, intervalMs: 500, what: 'Bob online in the buddy list' }) as ThunderbirdState
    // nobody publishes Carol's address: she must not show online
    assert.equal(s.buddies.find(x => x.aor === 'carol@example.org')?.presence, 'offline')
  })

  it('buddies follow contact updates and deletions live', async () => {
    const id = await harness.cmd<string>('create-contact', { vCard: 'BEGIN:VCARD\r\nVERSION:4.0\r\nUID:peerline-test-dan\r\nFN:Dan\r\nEMAIL:dan@example.org\r\nEND:VCARD\r\n' })
    const has = async (aor: string): Promise<boolean> => (await harness.cmd<ThunderbirdState>('state')).buddies.some(b => b.aor === aor)
    await eventually(async () => await has('dan@example.org'), { what: 'Dan listed' })
    await harness.cmd('update-contact', { id, vCard: 'BEGIN:VCARD\r\nVERSION:4.0\r\nUID:peerline-test-dan\r\nFN:Dan\r\nEMAIL:dan@new.example.org\r\nEND:VCARD\r\n' })
    await eventually(async () => await has('dan@new.example.org') && !await has('dan@example.org'), { what: 'Dan\'s new address' })
    await harness.cmd('delete-contact', { id })
    await eventually(async () => !await has('dan@new.example.org'), { what: 'Dan gone' })
  })

  it('buddies follow address books: a new book lists its contacts, a deleted book takes them away', async () => {
    const has = async (aor: string): Promise<boolean> => (await harness.cmd<ThunderbirdState>('state')).buddies.some(b => b.aor === aor)
    const book = await harness.cmd<string>('create-book', { name: 'Peerline second book' })
    await harness.cmd('create-contact', { book, vCard: 'BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Erin\r\nEMAIL:erin@example.org\r\nEND:VCARD\r\n' })
    await eventually(async () => await has('erin@example.org'), { what: 'Erin from the second book listed' })
    await harness.cmd('delete-book', { id: book })
    await eventually(async () => !await has('erin@example.org'), { what: 'Erin gone with her address book' })
    assert.ok(await has(BOB), 'other books\' buddies stay')
  })

  it('chat messages arrive both ways and the transcript is saved in "Peerline Chats"', async () => {
    assert.ok(bob !== undefined)
    await bob.phone.sendMessage(ME, 'Hello Thunderbird, from Bob')
    await eventually(async () => (await harness.cmd<Array<{ body: string, direction: string }>>('conversation', { peer: BOB }))
      .some(m => m.direction === 'in' && m.body === 'Hello Thunderbird, from Bob'), { timeoutMs: 20_000, what: 'the message in Thunderbird' })
    const incoming = nextEvent<IncomingMessage>(bob.phone, 'message:incoming', { timeoutMs: 20_000 })
    await harness.cmd('send-message', { to: BOB, body: 'Hi Bob, Thunderbird here' }, 30_000)
    assert.equal((await incoming).body, 'Hi Bob, Thunderbird here')
    await harness.cmd('flush', {}, 30_000)
    const folder = await harness.cmd<{ folder: string, messages: Array<{ subject: string, raw: string }> }>('folder-messages')
    assert.equal(folder.folder, 'Peerline Chats')
    const mail = folder.messages.find(m => m.raw.includes('Hello Thunderbird, from Bob'))
    assert.ok(mail !== undefined, `transcript not found in ${JSON.stringify(folder.messages.map(m => m.subject))}`)
    assert.match(mail.subject, /Peerline chat with Bob Example \(bob@example\.org\)/)
    assert.ok(mail.raw.includes('Hi Bob, Thunderbird here'), 'both directions in the transcript')
    // the next exchange is a new mail; nothing is written twice
    await bob.phone.sendMessage(ME, 'One more thing')
    await eventually(async () => (await harness.cmd<Array<{ body: string }>>('conversation', { peer: BOB })).some(m => m.body === 'One more thing'),
      { timeoutMs: 20_000, what: 'the second message in Thunderbird' })
    await harness.cmd('flush', {}, 30_000)
    const again = await harness.cmd<{ messages: Array<{ raw: string }> }>('folder-messages')
    assert.equal(again.messages.length, 2)
    assert.equal(again.messages.filter(m => m.raw.includes('Hi Bob, Thunderbird here')).length, 1)
    assert.equal(again.messages.filter(m => m.raw.includes('One more thing')).length, 1)
  })

  it('messages not yet written when the add-on stops are written at the next start, once', async () => {
    assert.ok(bob !== undefined)
    await bob.phone.sendMessage(ME, 'Before the restart')
    await eventually(async () => (await harness.cmd<Array<{ body: string }>>('conversation', { peer: BOB })).some(m => m.body === 'Before the restart'),
      { timeoutMs: 20_000, what: 'the message in Thunderbird' })
    const count = (await harness.cmd<{ messages: unknown[] }>('folder-messages')).messages.length
    // the in-memory timers are dropped as a restart would drop them; startup writes from the history after the stored mark
    const written = await harness.cmd<number>('transcripts-restart', {}, 30_000)
    assert.equal(written, 1)
    const after = await harness.cmd<{ messages: Array<{ raw: string }> }>('folder-messages')
    assert.equal(after.messages.length, count + 1)
    assert.equal(after.messages.filter(m => m.raw.includes('Before the restart')).length, 1)
    assert.equal(after.messages.filter(m => m.raw.includes('Hello Thunderbird, from Bob')).length, 1, 'earlier messages not written again')
    assert.equal(await harness.cmd<number>('transcripts-restart', {}, 30_000), 0, 'a second start writes nothing')
    const mark = await harness.cmd<Record<string, { at: number }>>('storage-get', { key: 'peerline.transcriptMarks' })
    assert.ok((mark[BOB]?.at ?? 0) > 0, 'the written-up-to mark is stored')
  })

  it('closing the chat window writes its transcript', async () => {
    assert.ok(bob !== undefined)
    const windowId = await harness.cmd<number>('open-chat', { target: BOB })
    await bob.phone.sendMessage(ME, 'Said while the chat was open')
    await eventually(async () => (await harness.cmd<Array<{ body: string }>>('conversation', { peer: BOB })).some(m => m.body === 'Said while the chat was open'),
      { timeoutMs: 20_000, what: 'the message in Thunderbird' })
    await harness.cmd('close-window', { id: windowId })
    await eventually(async () => (await harness.cmd<{ messages: Array<{ raw: string }> }>('folder-messages')).messages.filter(m => m.raw.includes('Said while the chat was open')).length === 1,
      { timeoutMs: 20_000, what: 'the transcript written when the window closed' })
  })

  it('the buddy list and chat pages render in Thunderbird', async () => {
    await harness.cmd('open-page', { path: 'buddies.html' })
    const rows = await eventually(async () => {
      const r = await harness.cmd<Array<{ text: string, data: Record<string, string> }> | null>('page-query', { path: 'buddies.html', selector: 'li.buddy' })
      return r?.find(x => x.data.aor === BOB && x.data.presence === 'online') !== undefined ? r : undefined
    }, { timeoutMs: 20_000, what: 'Bob online on the buddy page' }) as Array<{ text: string }>
    assert.ok(rows.some(x => x.text.includes('Bob Example')))
    // bob's certificate is self-issued: the same words as the PWA and the browser extension (shared/ui/trust-text.ts)
    const NOT_VERIFIED = 'Not verified — anyone can claim this address'
    assert.ok(rows.some(x => x.text.includes('Bob Example') && x.text.includes(NOT_VERIFIED)), JSON.stringify(rows))
    await harness.cmd('open-page', { path: `chat.html#${encodeURIComponent(BOB)}` })
    await eventually(async () => {
      const r = await harness.cmd<Array<{ text: string }> | null>('page-query', { path: 'chat.html', selector: '.transcript .msg-body' })
      return r?.some(x => x.text === 'Hello Thunderbird, from Bob') === true
    }, { timeoutMs: 20_000, what: 'the conversation on the chat page' })
    const header = await harness.cmd<Array<{ text: string }> | null>('page-query', { path: 'chat.html', selector: 'main.chat > .badge.trust' })
    assert.equal(header?.[0]?.text.trim(), `⚠ ${NOT_VERIFIED}`)
  })

  it('Call hands the browser a URL the PWA accepts', async t => {
    const url = await harness.cmd<string>('call', { target: BOB }, 30_000)
    t.diagnostic(`hand-off URL: ${url}`)
    assert.ok(url.startsWith(PWA), url)
    const hash = url.slice(url.indexOf('#'))
    if (hash.startsWith('#/pair/')) {
      // first hand-off: pair the browser as a device of the same identity, then dial
      const offer = parsePairingOffer(url)
      assert.equal(offer.aor, ME)
      // the add-on offers no WebRTC addresses (Thunderbird has none): relayed connections only
      assert.ok(offer.addrs.length > 0 && !offer.addrs.some(a => a.includes('/webrtc')), `addresses: ${offer.addrs.join(' ')}`)
      const then = new URL(`http://x/?${hash.split('?')[1] ?? ''}`).searchParams.get('then')
      assert.deepEqual(parseDeepLink(`#${then ?? ''}`), { route: 'call', target: `sip:${BOB}` })
    } else {
      assert.deepEqual(parseDeepLink(hash), { route: 'call', target: `sip:${BOB}` })
    }
    const s = await harness.cmd<ThunderbirdState>('state')
    assert.equal(s.handoffs.at(-1), url, 'the URL given to windows.openDefaultBrowser')
    // and Thunderbird really handed it to the desktop's default browser (a capturing script here)
    await eventually(async () => (await tb.browserOpened()).includes(url), { timeoutMs: 15_000, what: 'the default browser opened with the hand-off URL' })
  })

  it('a sip: URI opened in Thunderbird (the protocol handler page) hands the call to the browser', async () => {
    const before = (await harness.cmd<ThunderbirdState>('state')).handoffs.length
    await harness.cmd('open-page', { path: `sip-link.html#${encodeURIComponent(`sip:${BOB}`)}` })
    const url = await eventually(async () => (await harness.cmd<ThunderbirdState>('state')).handoffs.slice(before).at(-1),
      { timeoutMs: 20_000, what: 'a hand-off from the sip: handler page' }) ?? ''
    const hash = url.slice(url.indexOf('#'))
    const target = hash.startsWith('#/pair/') ? `#${new URL(`http://x/?${hash.split('?')[1] ?? ''}`).searchParams.get('then') ?? ''}` : hash
    assert.deepEqual(parseDeepLink(target), { route: 'call', target: `sip:${BOB}` })
    await eventually(async () => (await tb.browserOpened()).includes(url), { timeoutMs: 15_000, what: 'the default browser opened from the sip: handler' })
  })

  it('an incoming call rings; answering stops the ringing and calls back from the browser', async () => {
    assert.ok(bob !== undefined)
    const call = await bob.phone.call(ME, { signal: AbortSignal.timeout(20_000) })
    const ended = nextEvent<{ reason: string, status?: number, message: string }>(call, 'ended', { timeoutMs: 30_000 })
    const ring = await eventually(async () => (await harness.cmd<ThunderbirdState>('state')).ringing.find(r => r.from === BOB),
      { timeoutMs: 20_000, what: 'the call ringing in Thunderbird' }).catch((err: Error) => {
      throw new Error(`${err.message}; caller state ${call.state} ${JSON.stringify(call.end)}\n${tb.output().split('\n').filter(l => !/Gtk|glib|^\s*$/i.test(l)).slice(-40).join('\n')}`)
    })
    assert.ok(ring !== undefined)
    // no web-app address: the click shows the error and the call keeps ringing (nothing declined)
    await harness.cmd('storage-set', { key: 'peerline.pwaBase', value: '' })
    assert.equal(await harness.cmd<string | null>('click-ring-notification', { callId: ring.callId }, 30_000), null)
    assert.ok((await harness.cmd<ThunderbirdState>('state')).ringing.some(r => r.callId === ring.callId), 'still ringing')
    assert.equal(call.state === 'ended', false, 'the caller still rings')
    await harness.cmd('storage-set', { key: 'peerline.pwaBase', value: PWA })
    // the notification's click handler (the same function the notifications.onClicked listener calls)
    const url = await harness.cmd<string>('click-ring-notification', { callId: ring.callId }, 30_000)
    assert.ok(url.startsWith(PWA), url)
    const then = url.includes('?then=') ? `#${url.split('?then=')[1] ?? ''}` : url.slice(url.indexOf('#'))
    assert.deepEqual(parseDeepLink(then), { route: 'call', target: `sip:${BOB}` })
    const end = await ended
    assert.deepEqual([end.reason, end.status], ['declined', 480], 'the caller stops ringing Thunderbird with a 4xx, so linked devices keep ringing')
    assert.equal(end.message, 'They will call you back from another device')
    await eventually(async () => (await tb.browserOpened()).includes(url), { timeoutMs: 15_000, what: 'the browser opened to call back' })
    assert.equal((await harness.cmd<ThunderbirdState>('state')).ringing.length, 0)
  })

  it('completes email verification by reading the CA\'s mail (with consent)', async () => {
    const cas = await harness.cmd<Array<{ peerId: string, from?: string, ca: { key: string, name: string } }>>('verify-find', {}, 30_000)
    const ca = cas.find(c => c.peerId === sn.peerId)
    assert.ok(ca !== undefined, `the supernode's CA is offered: ${JSON.stringify(cas)}`)
    assert.equal(ca.from, 'Peerline CA <ca@example.test>', 'the CA states its From address (only its mails are read)')
    const before = smtp.mails.length
    await harness.cmd('verify-request', { peerId: ca.peerId }, 30_000)
    const mail = await smtp.mailFor(ME, before)
    // a forged mail (another sender, same subject, another code) arrives too: it is not read
    const forged = mail.raw.replace(/^From: .*$/m, 'From: Peerline CA <ca@forger.test>').replace(/Peerline verification code: \d+/, 'Peerline verification code: 000000')
      .replace(/^Message-ID: .*$/im, 'Message-ID: <forged@forger.test>')
    assert.notEqual(forged, mail.raw)
    await harness.cmd('deliver-mail', { raw: forged })
    // the mail server's part: the CA's real message lands in the user's Inbox
    await harness.cmd('deliver-mail', { raw: mail.raw })
    // the user's click ("read the code from my mail"): the add-on finds and sends the code
    const state = await harness.cmd<{ kind: string, caKey?: string }>('verify-from-inbox', {}, 120_000)
    assert.equal(state.kind, 'ca')
    assert.equal(state.caKey, ca.ca.key)
    // another client that trusts this CA finds the CA-issued certificate in the DHT
    const carol = await startDevice('carol@example.org', [sn.addr], { recordOptions: { certificate: { trustedRoots: [fromBase64Url(ca.ca.key)] } } })
    try {
      const seen = await eventually(async () => {
        const r = await carol.lookup(ME)
        return r.certificate.issuer === ca.ca.key ? r : undefined
      }, { timeoutMs: 30_000, what: 'the CA-issued record of the add-on' })
      assert.equal(seen?.certificate.email, ME)
    } finally {
      await carol.stop()
    }
  })

  it('Call pairs the web app until it is paired, whatever other devices the identity has', async () => {
    // the identity's certificate is CA-issued by now (test above): the new devices trust that CA, as the user would
    const caKey = (await harness.cmd<Array<{ peerId: string, ca: { key: string } }>>('verify-find', {}, 30_000)).find(c => c.peerId === sn.peerId)?.ca.key
    assert.ok(caKey !== undefined)
    const blank = async (): Promise<Overlay> => {
      const o = overlay({ bootstrap: [sn.addr], webrtc: false, reconnect: { initialDelayMs: 200, maxDelayMs: 2_000 }, recordOptions: { certificate: { trustedRoots: [fromBase64Url(caKey)] } } })
      await o.start()
      await o.waitOnline({ signal: AbortSignal.timeout(15_000) })
      return o
    }
    const devices: Overlay[] = []
    try {
      // another device (a phone) joins first: the web app is still not paired
      const phone = await blank()
      devices.push(phone)
      await phone.acceptPairing(await harness.cmd<PairingOffer>('pairing-offer', { name: 'Phone' }, 30_000), { name: 'Phone' })
      await eventually(async () => (await harness.cmd<Array<{ peerId: string }>>('devices')).some(d => d.peerId === phone.peerId), { what: 'the phone in the roster' })
      const url = await harness.cmd<string>('call', { target: BOB }, 30_000)
      assert.ok(url.startsWith(`${PWA}#/pair/`), `still pairs the web app: ${url}`)
      // the browser takes the hand-off's offer: from now on the plain call link
      const browser = await blank()
      devices.push(browser)
      await browser.acceptPairing(parsePairingOffer(url), { name: 'Browser' })
      const plain = await eventually(async () => {
        const u = await harness.cmd<string>('call', { target: BOB }, 30_000)
        return u.includes('#/call/') ? u : undefined
      }, { timeoutMs: 20_000, what: 'the plain call link once the web app is paired' })
      assert.equal(plain, `${PWA}#/call/sip:${BOB}`)
      const paired = await harness.cmd<{ base: string, peerId?: string }>('storage-get', { key: 'peerline.pairedWebApp' })
      assert.equal(paired.peerId, browser.peerId, 'the device paired through the hand-off is remembered')
    } finally {
      for (const d of devices) await d.stop().catch(() => {})
    }
  })

  it('the background stayed loaded past the idle timeout (keep-alive)', async () => {
    // no command for four idle timeouts: only the add-on's own keep-alive can hold the page
    await new Promise(resolve => { setTimeout(resolve, IDLE_TIMEOUT_MS * 4) })
    const alive = await harness.cmd<{ loadedAt: number, now: number }>('alive')
    assert.ok(alive.now - alive.loadedAt > IDLE_TIMEOUT_MS * 2, 'ran long enough to be unloaded without keep-alive')
    assert.equal(alive.loadedAt, firstLoad, 'same background page since start (never unloaded)')
    assert.equal(harness.hellos(), 1)
    await eventually(async () => (await harness.cmd<{ status: { connected: boolean } }>('status')).status.connected, { timeoutMs: 30_000, what: 'the add-on still online' })
  })
})
