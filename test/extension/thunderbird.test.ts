/**
 * The Thunderbird add-on in the real Thunderbird (Debian package, headless),
 * sideloaded into a throwaway profile, on a real supernode process, with a
 * Node peer (JsSIP phone) as the buddy. Results come from inside Thunderbird
 * through the TEST-ONLY driver (thunderbird-harness.ts).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { chromium } from 'playwright-core'
import type { Browser } from 'playwright-core'
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
import { ROOT } from '../../build/build.ts'
import { CHROMIUM, CHROMIUM_ARGS } from '../helpers/browser.ts'
import { buildTestAddon, freePort, startHarness, startThunderbird, THUNDERBIRD } from './thunderbird-harness.ts'
import { clickInAddonPage, clickInMessage, connectMarionette } from '../helpers/marionette.ts'
import type { Marionette } from '../helpers/marionette.ts'
import type { Harness, ThunderbirdProcess } from './thunderbird-harness.ts'

const ME = 'tb-user@example.org'
const BOB = 'bob@example.org'
const PWA = 'https://peerline.example/app/'
/** The width of the address book's buddy panel (body.ext-popup in extension/pages/extension.css). */
const PANEL_WIDTH = 360
/** Where the run leaves pictures of the pages for a person to look at. */
const SCREENSHOTS = join(ROOT, 'dist', 'screenshots')
/** Contacts whose names and addresses are longer than the panel is wide. */
const LONG_CONTACTS = [
  { name: 'Maximiliane Alexandra von Hohenzollern-Sigmaringen', aor: 'maximiliane.alexandra.von.hohenzollern@sigmaringen.example.org' },
  { name: 'Bartholomew Fitzgerald-Montgomery the Third', aor: 'bartholomew.fitzgerald-montgomery@a-very-long-domain-name.example.com' }
]
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

  let marionettePort: number
  let marionette: Marionette | undefined
  /** Marionette, connected on first use: real mouse clicks (no add-on API can make one) */
  const mouse = async (): Promise<Marionette> => (marionette ??= await connectMarionette(marionettePort))
  /**
   * A real mouse click (Marionette) at the centre of the element matching
   * `selector` (and `text`) of the open add-on page `path`, after the driver
   * checked that a click there hits that element.
   */
  const realClick = async (path: string, selector: string, text?: string): Promise<void> => {
    const at = await harness.cmd<{ x: number, y: number }>('page-point', { path, selector, ...(text !== undefined ? { text } : {}) })
    await clickInAddonPage(await mouse(), path, at.x, at.y)
  }
  let drawer: Browser | undefined
  /**
   * Writes a picture of the open page `path` to dist/screenshots/<name>.png.
   * Thunderbird cannot capture its windows (no tabs.captureVisibleTab), so
   * the page's DOM as it stands in Thunderbird is drawn by Chromium with the
   * add-on's own stylesheets, at the window's size.
   */
  const screenshot = async (name: string, path: string): Promise<void> => {
    const page = await harness.cmd<{ html: string, width: number, height: number }>('page-html', { path })
    const dir = join(work, 'unpacked', 'thunderbird')
    const file = join(dir, `screenshot-${name}.html`)
    await writeFile(file, page.html.replace(/<script\b[^>]*>[\s\S]*?<\/script>/g, ''))
    drawer ??= await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
    const p = await drawer.newPage({ viewport: { width: page.width, height: page.height } })
    try {
      await p.goto(pathToFileURL(file).href)
      await mkdir(SCREENSHOTS, { recursive: true })
      const png = await p.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })
      assert.ok(png.length > 1_000, `a picture of ${name}`)
    } finally {
      await p.close()
    }
  }

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
    marionettePort = await freePort()
    tb = await startThunderbird(xpi, { 'extensions.background.idle.timeout': IDLE_TIMEOUT_MS }, { marionettePort })
    const hello = await Promise.race([
      harness.connected,
      new Promise<never>((_resolve, reject) => { setTimeout(() => { reject(new Error(`the add-on did not report within 90 s\n${tb.output().slice(-4000)}`)) }, 90_000) })
    ])
    firstLoad = hello.loadedAt
  })

  after(async () => {
    marionette?.close()
    await drawer?.close()
    await stopDevice(bob)
    await harness?.close()
    await tb?.stop()
    await sn?.kill()
    await smtp?.close()
    if (work !== undefined) await rm(work, { recursive: true, force: true })
  })

  it('on first install the setup opens by itself, in plain words: nothing about npm, multiaddrs or STUN/TURN outside "Advanced", no "Offline"', async () => {
    await eventually(async () => (await harness.cmd<Array<{ path: string }>>('views')).some(v => v.path.endsWith('/setup.html')),
      { timeoutMs: 60_000, what: 'the setup page opened after install (runtime.onInstalled)' }).catch((err: Error) => {
      throw new Error(`${err.message}\n${tb.output().split('\n').filter(l => /peerline|setup|options/i.test(l)).slice(-30).join('\n')}`)
    })
    const text = await eventually(async () => {
      const t = await harness.cmd<string | null>('page-text', { path: 'setup.html' })
      return t !== null && t.includes('Create identity') && t.includes('Where your calls ring') ? t : undefined
    }, { timeoutMs: 30_000, what: 'the setup page drawn' }) as string
    for (const step of ['1. Your identity', '2. Where your calls ring', '3. Supernodes', 'Link to an existing identity', 'Restore from backup', 'Open the web app and link it', 'Advanced']) {
      assert.ok(text.includes(step), `setup shows "${step}": ${text}`)
    }
    assert.doesNotMatch(text, /npm|multiaddr|\/p2p\//i, 'no developer words outside Advanced')
    assert.doesNotMatch(text, /STUN|TURN/, 'Thunderbird places no media: no STUN/TURN')
    assert.doesNotMatch(text, /Offline|reconnecting/i, 'nothing is offline before anything is set up')
    // the whole page, Advanced included, still offers the supernode addresses
    const advanced = await harness.cmd<Array<{ text: string }>>('page-query', { path: 'setup.html', selector: 'details.advanced' })
    assert.ok(advanced.some(d => d.text.includes('Supernodes')), 'supernode addresses under Advanced')
    const w = await harness.cmd<number>('open-page', { path: 'setup.html', width: 640, height: 900 })
    await eventually(async () => (await harness.cmd<string | null>('page-text', { path: 'setup.html' }))?.includes('Create identity') === true, { what: 'setup drawn in its window' })
    await screenshot('thunderbird-setup', 'setup.html')
    await harness.cmd('close-window', { id: w })
  })

  it('before setup the buddy list says so; its button, and a contact\'s Call (a real mouse click), lead to the setup', async () => {
    const w = await harness.cmd<number>('open-page', { path: 'buddies.html', width: PANEL_WIDTH, height: 500 })
    const text = await eventually(async () => {
      const t = await harness.cmd<string | null>('page-text', { path: 'buddies.html' })
      return t?.includes('Set up Peerline') === true ? t : undefined
    }, { timeoutMs: 20_000, what: 'the unconfigured buddy list' }) as string
    assert.match(text, /Peerline is not set up yet/)
    assert.doesNotMatch(text, /Offline|add-on options/i)
    const before = (await harness.cmd<Array<{ path: string }>>('views')).filter(v => v.path.endsWith('/setup.html')).length
    await harness.cmd('page-click', { path: 'buddies.html', selector: 'button', text: 'Set up Peerline…' })
    // the open setup tab is shown again (runtime.openOptionsPage), not a second one
    await eventually(async () => (await harness.cmd<Array<{ path: string }>>('views')).filter(v => v.path.endsWith('/setup.html')).length >= 1, { what: 'setup open' })
    assert.ok(before >= 1)
    // a contact's Call before setup leads to setup: it says so, and nothing is handed to the browser
    const early = await harness.cmd<string>('create-contact', { vCard: 'BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Early Contact\r\nEMAIL:early@example.org\r\nEND:VCARD\r\n' })
    await eventually(async () => (await harness.cmd<unknown[] | null>('page-query', { path: 'buddies.html', selector: 'li.buddy[data-aor="early@example.org"]' }))?.length === 1, { what: 'the contact listed before setup' })
    await realClick('buddies.html', 'li.buddy[data-aor="early@example.org"] button', 'Call')
    await eventually(async () => /Finish setting up Peerline first/.test((await harness.cmd<Array<{ text: string }> | null>('page-query', { path: 'buddies.html', selector: '.note' }))?.[0]?.text ?? ''),
      { what: 'Call before setup pointing to the setup' })
    assert.equal((await harness.cmd<ThunderbirdState>('state')).handoffs.length, 0, 'nothing handed to the browser before setup')
    await harness.cmd('delete-contact', { id: early })
    await harness.cmd('close-window', { id: w })
  })

  it('runs as an overlay device without WebRTC, set up through its setup page', async () => {
    const alive = await harness.cmd<{ nativeWebRtc: boolean }>('alive')
    assert.equal(alive.nativeWebRtc, false, 'Thunderbird has no RTCPeerConnection: media must be handed off')
    const page = 'setup.html'
    // 1. identity
    await harness.cmd('page-fill', { path: page, selector: 'input[name=email]', value: ME })
    await harness.cmd('page-fill', { path: page, selector: 'input[name=name]', value: 'TB User' })
    await harness.cmd('page-click', { path: page, selector: '.onboarding form button[type=submit]' })
    await eventually(async () => (await harness.cmd<{ me?: { email: string } }>('status')).me?.email === ME, { timeoutMs: 60_000, what: 'the identity created from setup' })
    await eventually(async () => /You are\s+TB User/.test(await harness.cmd<string | null>('page-text', { path: page }) ?? ''), { what: 'setup says who you are' })
    // 2. the web app that takes calls
    await harness.cmd('page-fill', { path: page, selector: 'input[name=webapp]', value: PWA })
    await harness.cmd('page-click', { path: page, selector: 'section[aria-labelledby=step-webapp] button[type=submit]' })
    await eventually(async () => await harness.cmd<string | null>('storage-get', { key: 'peerline.pwaBase' }) === PWA, { what: 'the web app address saved' })
    // 3. a supernode, under Advanced (here: the test's own)
    await harness.cmd('page-click', { path: page, selector: 'section[aria-labelledby=step-supernodes] details.advanced > summary' })
    await harness.cmd('page-fill', { path: page, selector: 'section[aria-labelledby=step-supernodes] textarea', value: sn.addr })
    await harness.cmd('page-click', { path: page, selector: 'section[aria-labelledby=step-supernodes] form button[type=submit]' })
    await eventually(async () => (await harness.cmd<{ status: { connected: boolean } }>('status')).status.connected, { timeoutMs: 60_000, what: 'the add-on online' })
    await eventually(async () => /Connected to \d+ supernode/.test(await harness.cmd<string | null>('page-text', { path: page }) ?? ''), { timeoutMs: 20_000, what: 'setup says connected' })
    // 4. verification is offered once there is an identity (the flow itself: below)
    assert.match(await harness.cmd<string>('page-text', { path: page }), /4\. Verify your email address/)
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

  it('Thunderbird\'s own search (messages.query) finds a word of a chat transcript in "Peerline Chats"', async () => {
    const found = await eventually(async () => {
      const r = await harness.cmd<{ body: Array<{ subject: string, folder: string }>, fullText: Array<{ subject: string, folder: string }> }>('search', { text: 'Thunderbird here' }, 30_000)
      return r.body.length > 0 && r.fullText.length > 0 ? r : undefined
    }, { timeoutMs: 30_000, intervalMs: 2_000, what: 'the transcript found by Thunderbird\'s search' })
    assert.ok(found !== undefined)
    for (const hits of [found.body, found.fullText]) {
      assert.ok(hits.some(h => /Peerline chat with Bob Example/.test(h.subject) && h.folder === 'Peerline Chats'), JSON.stringify(hits))
    }
    const none = await harness.cmd<{ body: unknown[] }>('search', { text: 'zebra-word-nobody-wrote' }, 30_000)
    assert.equal(none.body.length, 0, 'a word nobody wrote finds nothing')
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
    const list = await harness.cmd<number>('open-page', { path: 'buddies.html' })
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
    // headed and titled with the contact's name from the address book, not only the address
    const h1 = await eventually(async () => {
      const r = await harness.cmd<Array<{ text: string }> | null>('page-query', { path: 'chat.html', selector: 'main.chat > h1' })
      return r?.[0]?.text === 'Bob Example' ? r : undefined
    }, { what: 'the chat headed with the contact\'s name' })
    assert.ok(h1 !== undefined)
    const views = await harness.cmd<Array<{ path: string, title: string }>>('views')
    assert.ok(views.some(v => v.path.endsWith('/chat.html') && v.title === 'Bob Example — Peerline chat'), JSON.stringify(views))
    await harness.cmd('close-window', { id: list })
  })

  it('the buddy list at the panel\'s real width: every Call and Chat button inside it and hit by a click at its centre; names on one line, cut, whole on hover; presence in words', async () => {
    for (const c of LONG_CONTACTS) {
      await harness.cmd('create-contact', { vCard: `BEGIN:VCARD\r\nVERSION:4.0\r\nFN:${c.name}\r\nEMAIL:${c.aor}\r\nEND:VCARD\r\n` })
    }
    const w = await harness.cmd<number>('open-page', { path: 'buddies.html', width: PANEL_WIDTH, height: 700 })
    type Layout = { width: number, scrollWidth: number, bodyScrollWidth: number, buttons: Array<{ label: string, left: number, right: number, hit: boolean, why: string }>, names: Array<{ text: string, title: string, lines: number, cut: boolean }>, presence: string[] }
    // once every row says when it was checked (the longest rows): the case that pushed the buttons out
    const layout = await eventually(async () => {
      const rows = await harness.cmd<Array<{ text: string, data: Record<string, string> }> | null>('page-query', { path: 'buddies.html', selector: 'li.buddy' })
      if (rows === null || !LONG_CONTACTS.every(c => rows.some(r => r.data.aor === c.aor && r.text.includes('checked')))) return undefined
      if (!rows.some(r => r.data.aor === BOB && r.data.presence === 'online')) return undefined
      return await harness.cmd<Layout>('page-layout', { path: 'buddies.html' })
    }, { timeoutMs: 60_000, intervalMs: 1_000, what: 'the long-named buddies listed and checked' }) as Layout
    assert.ok(layout.width <= PANEL_WIDTH && layout.width >= PANEL_WIDTH - 40, `the page is the panel's width: ${layout.width}`)
    assert.ok(layout.scrollWidth <= layout.width && layout.bodyScrollWidth <= layout.width, `no sideways scrolling: ${layout.scrollWidth}/${layout.bodyScrollWidth} > ${layout.width}`)
    const rows = layout.names.length
    assert.ok(rows >= 4, `rows: ${rows}`)
    assert.equal(layout.buttons.length, rows * 2, 'Call and Chat on every row')
    for (const b of layout.buttons) assert.ok(b.hit, `${b.label}: ${b.why}`)
    for (const c of LONG_CONTACTS) {
      const n = layout.names.find(x => x.text === c.name)
      assert.ok(n !== undefined, `${c.name} listed`)
      assert.equal(n.lines, 1, `${c.name} on one line`)
      assert.ok(n.cut, `${c.name} is cut with an ellipsis`)
      assert.equal(n.title, c.name, 'the whole name on hover')
    }
    assert.ok(layout.presence.includes('Online') && layout.presence.every(p => ['Online', 'Offline', 'Status unknown'].includes(p)), `presence in words: ${layout.presence.join(', ')}`)
    await screenshot('thunderbird-buddies', 'buddies.html')

    // a real mouse click on each long row's Chat opens that contact's chat window, titled with the name
    for (const long of LONG_CONTACTS) {
      await realClick('buddies.html', `li.buddy[data-aor="${long.aor}"] button`, 'Chat')
      await eventually(async () => (await harness.cmd<Array<{ hash: string, title: string }>>('views')).some(v => v.title === `${long.name} — Peerline chat`), { what: `${long.name}'s chat window, from a mouse click` })
    }
    await harness.cmd('close-window', { id: w })
  })

  it('Call in the buddy list (a real mouse click) hands the call to the default browser, at the web app address from setup', async () => {
    const w = await harness.cmd<number>('open-page', { path: 'buddies.html', width: PANEL_WIDTH, height: 700 })
    await eventually(async () => (await harness.cmd<Array<{ data: Record<string, string> }> | null>('page-query', { path: 'buddies.html', selector: `li.buddy[data-aor="${BOB}"]` }))?.length === 1, { what: 'Bob in the list' })
    const before = (await harness.cmd<ThunderbirdState>('state')).handoffs.length
    await realClick('buddies.html', `li.buddy[data-aor="${BOB}"] button`, 'Call')
    const url = await eventually(async () => (await harness.cmd<ThunderbirdState>('state')).handoffs.slice(before).at(-1),
      { timeoutMs: 30_000, what: 'a hand-off from the Call button' }) ?? ''
    assert.ok(url.startsWith(PWA), `the web app saved in setup: ${url}`)
    const hash = url.slice(url.indexOf('#'))
    const target = hash.startsWith('#/pair/') ? `#${new URL(`http://x/?${hash.split('?')[1] ?? ''}`).searchParams.get('then') ?? ''}` : hash
    assert.deepEqual(parseDeepLink(target), { route: 'call', target: `sip:${BOB}` })
    await eventually(async () => (await tb.browserOpened()).includes(url), { timeoutMs: 15_000, what: 'the default browser opened from the Call button' })
    let said = ''
    await eventually(async () => {
      said = (await harness.cmd<Array<{ text: string }> | null>('page-query', { path: 'buddies.html', selector: 'main' }))?.[0]?.text ?? ''
      return said.includes('Calling Bob Example in your browser')
    }, { what: 'the list says so' }).catch((err: Error) => { throw new Error(`${err.message}: ${said}`) })
    await harness.cmd('close-window', { id: w })
  })

  it('chat: an undelivered message offers Retry; once the contact is reachable, Retry delivers it and the banner goes', async () => {
    const CAROL = 'carol@example.org'
    const w = await harness.cmd<number>('open-page', { path: `chat.html#${encodeURIComponent(CAROL)}` })
    const page = 'chat.html'
    await eventually(async () => (await harness.cmd<Array<{ text: string }> | null>('page-query', { path: page, selector: 'main.chat > h1' }))?.[0]?.text === 'Carol Nobody', { what: 'Carol\'s chat' })
    await harness.cmd('page-fill', { path: page, selector: '.composer input', value: 'Are you there, Carol?' })
    await harness.cmd('page-click', { path: page, selector: '.composer button[type=submit]' })
    await eventually(async () => (await harness.cmd<Array<{ data: Record<string, string> }> | null>('page-query', { path: page, selector: '.transcript .msg.out' }))?.some(m => m.data.status === 'failed') === true,
      { timeoutMs: 60_000, what: 'the message to an absent contact marked undelivered' })
    const banner = await harness.cmd<Array<{ text: string }>>('page-query', { path: page, selector: 'main.chat > .problem' })
    assert.equal(banner.length, 1, 'a banner says why')
    // Carol comes online (a Node peer publishes her address)
    const carol = await startPhoneDevice(CAROL, [sn.addr], {}, fakeMedia())
    try {
      const got = nextEvent<IncomingMessage>(carol.phone, 'message:incoming', { timeoutMs: 60_000 })
      await eventually(async () => {
        await harness.cmd('page-click', { path: page, selector: '.transcript .msg.out button.retry', text: 'Retry' }).catch(() => {})
        return (await harness.cmd<Array<{ data: Record<string, string> }> | null>('page-query', { path: page, selector: '.transcript .msg.out' }))?.some(m => m.data.status === 'sent') === true
      }, { timeoutMs: 60_000, intervalMs: 3_000, what: 'Retry delivered the message' })
      assert.equal((await got).body, 'Are you there, Carol?')
      await eventually(async () => (await harness.cmd<unknown[]>('page-query', { path: page, selector: 'main.chat > .problem' })).length === 0, { what: 'the banner gone once Carol is reachable' })
      const msgs = await harness.cmd<Array<{ data: Record<string, string> }>>('page-query', { path: page, selector: '.transcript .msg.out' })
      assert.equal(msgs.length, 1, 'Retry sends the same message, not a copy')
      await screenshot('thunderbird-chat', 'chat.html')
    } finally {
      await stopDevice(carol)
    }
    await harness.cmd('close-window', { id: w })
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

  it('a sip: link clicked (a real mouse click) in a displayed mail reaches Peerline, which hands the call to the browser', async () => {
    const raw = [
      'From: Bob Example <bob@example.org>', `To: ${ME}`, 'Subject: Call me when you can', 'Message-ID: <sip-link-in-mail@example.org>',
      `Date: ${new Date().toUTCString()}`, 'MIME-Version: 1.0', 'Content-Type: text/html; charset=utf-8', '',
      `<html><body><p>Call me: <a href="sip:${BOB}">sip:${BOB}</a></p></body></html>`, ''
    ].join('\r\n')
    const id = await harness.cmd<number>('deliver-mail', { raw })
    const before = (await harness.cmd<ThunderbirdState>('state')).handoffs.length
    await harness.cmd('display-message', { id }, 30_000)
    let clicks = 0
    const url = await eventually(async () => {
      // the message window may still be loading: click again until the mail is shown and its script listens
      await clickInMessage(await mouse(), `a[href="sip:${BOB}"]`).then(() => { clicks++ }, () => {})
      return (await harness.cmd<ThunderbirdState>('state')).handoffs.slice(before).at(-1)
    }, { timeoutMs: 30_000, intervalMs: 2_000, what: 'a hand-off from the link in the mail' }) ?? ''
    assert.ok(clicks >= 1)
    const hash = url.slice(url.indexOf('#'))
    const target = hash.startsWith('#/pair/') ? `#${new URL(`http://x/?${hash.split('?')[1] ?? ''}`).searchParams.get('then') ?? ''}` : hash
    assert.deepEqual(parseDeepLink(target), { route: 'call', target: `sip:${BOB}` })
    await eventually(async () => (await tb.browserOpened()).includes(url), { timeoutMs: 15_000, what: 'the default browser opened from the link in the mail' })
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
