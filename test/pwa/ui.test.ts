/**
 * The PWA's user interface, driven like a person would: two Chromium profiles
 * (alice and bob, each with its own IndexedDB) open the built app next to a
 * real supernode, onboard, see "Online", call and chat each other, and every
 * screen fits a 360×640 phone without horizontal scrolling. The steps run in
 * order and build on each other.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { buildPwa } from '../../build/build.ts'
import type { Supernode } from '../../supernode/supernode.ts'
import type { WebServer } from '../../supernode/web.ts'
import { assertFits, PHONE_VIEWPORT } from '../helpers/layout.ts'
import { audioRtp as rtp, onboard as onboardPerson, openPerson, servePwa } from '../helpers/pwa.ts'
import type { Person } from '../helpers/pwa.ts'

const PHONE = PHONE_VIEWPORT
const ONLINE_TIMEOUT = 30_000

describe('PWA user interface: two people, a real supernode, Chromium at 360×640', { timeout: 300_000 }, () => {
  let sn: Supernode
  let web: WebServer
  let outDir: string
  const dirs: string[] = []
  let alice: Person
  let bob: Person

  const open = async (): Promise<Person> => await openPerson(web.url, { prefix: 'peerline-ui-profile-', dirs, viewport: PHONE })
  const onboard = async (p: Page, email: string, name: string): Promise<void> => { await onboardPerson(p, email, name, ONLINE_TIMEOUT) }

  async function go (p: Page, hash: string): Promise<void> {
    await p.evaluate(h => { location.hash = h }, hash)
  }

  before(async () => {
    ;({ sn, web, outDir } = await servePwa('peerline-ui-build-', dirs))
  })

  after(async () => {
    await alice?.context.close()
    await bob?.context.close()
    await web?.close()
    await sn?.stop()
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it('onboarding: a bad address gets a sentence; alice and bob create identities and reach Online', async () => {
    alice = await open()
    const page = alice.page
    await page.getByRole('textbox', { name: 'Email address' }).waitFor()
    await assertFits(page, 'onboarding')
    // before any identity the status line already tells whether the network works
    await page.getByRole('status').filter({ hasText: 'Online' }).waitFor({ timeout: ONLINE_TIMEOUT })

    await page.getByRole('textbox', { name: 'Email address' }).fill('alice.example.org')
    await page.getByRole('button', { name: 'Create identity' }).click()
    const problem = page.getByRole('alert')
    await problem.waitFor({ timeout: 5_000 })
    assert.match(await problem.innerText(), /not a valid email address: .*has no @/)

    await onboard(page, 'Alice@Example.org', 'Alice')
    assert.match(await page.getByRole('status').innerText(), /^Online — connected to 1 supernode$/)
    assert.equal(await page.locator('.me').innerText(), 'alice@example.org', 'the address is shown normalised')

    bob = await open()
    await onboard(bob.page, 'bob@example.org', 'Bob')
  })

  it('every screen fits 360×640 without horizontal scrolling', async () => {
    const page = alice.page
    await assertFits(page, 'home')
    // a long buddy address must not widen the page
    await page.getByRole('textbox', { name: "Buddy's email address" }).fill('a.very.long.address.for.testing.layout@subdomain.example.org')
    await page.getByRole('button', { name: 'Add buddy' }).click()
    await page.getByRole('button', { name: 'Remove a.very.long.address.for.testing.layout@subdomain.example.org' }).waitFor()
    await assertFits(page, 'home with a buddy')
    for (const [hash, screen, ready] of [
      ['#/chat/bob@example.org', 'chat', page.getByRole('textbox', { name: 'Message' })],
      ['#/history', 'history', page.getByRole('heading', { name: 'Recent calls' })],
      ['#/settings', 'settings', page.getByRole('button', { name: 'Download backup' })]
    ] as const) {
      await go(page, hash)
      await ready.waitFor()
      await assertFits(page, screen)
    }
    await page.getByText('Restore another backup').click()
    await assertFits(page, 'settings with restore open')
    await go(page, '#/')
    await page.getByRole('button', { name: 'Remove a.very.long.address.for.testing.layout@subdomain.example.org' }).click()
    await page.getByText('No buddies yet').waitFor()
  })

  it('calling an unknown address says so (role="alert") within 5 s', async () => {
    const page = alice.page
    await page.getByRole('textbox', { name: 'Call or message' }).fill('unknown@example.org')
    const started = Date.now()
    await page.getByRole('button', { name: 'Call', exact: true }).click()
    const alert = page.getByRole('alert').filter({ hasText: 'unknown@example.org is not online right now.' })
    await alert.waitFor({ timeout: 5_000 })
    assert.ok(Date.now() - started < 5_000)
    // a dial box typo gets the table's sentence too
    await page.getByRole('textbox', { name: 'Call or message' }).fill('sip:nobody')
    await page.getByRole('button', { name: 'Call', exact: true }).click()
    await page.getByRole('alert').filter({ hasText: 'That is not a valid email address or sip: address.' }).waitFor({ timeout: 5_000 })
    await page.getByRole('button', { name: 'Dismiss' }).click()
    assert.equal(await page.getByRole('alert').count(), 0)
  })

  it('a call: bob sees a verified alice, answers; mute, hold, keypad, duration; hang up; both histories', async () => {
    const a = alice.page
    const b = bob.page
    await a.getByRole('textbox', { name: 'Call or message' }).fill('bob@example.org')
    await a.getByRole('button', { name: 'Call', exact: true }).click()

    const ringing = b.getByRole('dialog', { name: 'alice@example.org' })
    await ringing.waitFor({ timeout: 20_000 })
    assert.match(await ringing.innerText(), /Alice/)
    // alice's certificate is self-issued: nothing verified her, whatever her signatures say
    assert.match(await ringing.innerText(), /Not verified — anyone can claim this address/)
    assert.doesNotMatch(await ringing.innerText(), /✓|Verified by|Verified contact/)
    await assertFits(b, 'incoming call')
    await b.getByRole('button', { name: 'Answer' }).click()

    const duration = a.getByLabel('Call duration')
    await a.locator('.duration[data-state="active"]').waitFor({ timeout: 20_000 })
    await b.locator('.duration[data-state="active"]').waitFor({ timeout: 20_000 })
    await assertFits(a, 'in call')
    const first = await duration.innerText()
    assert.match(first, /^\d\d:\d\d$/)
    await a.waitForTimeout(2_200)
    assert.notEqual(await duration.innerText(), first, 'the duration ticks')
    // remote media is attached to the <audio> element
    assert.equal(await a.locator('audio.remote-audio').evaluate(el => (el as HTMLAudioElement).srcObject !== null), true)

    // audio packets flow both ways: RTP counters grow on both sides
    const first1 = { a: await rtp(a), b: await rtp(b) }
    await a.waitForTimeout(1_500)
    const second1 = { a: await rtp(a), b: await rtp(b) }
    for (const side of ['a', 'b'] as const) {
      assert.ok(second1[side].sent > first1[side].sent, `${side} sends RTP: ${JSON.stringify([first1[side], second1[side]])}`)
      assert.ok(second1[side].received > first1[side].received, `${side} receives RTP: ${JSON.stringify([first1[side], second1[side]])}`)
    }

    // Mute stops Alice's outgoing audio: the energy Bob receives stops growing
    const heard = async (ms: number): Promise<number> => {
      const before = (await rtp(b)).energy
      await b.waitForTimeout(ms)
      return (await rtp(b)).energy - before
    }
    const loud = await heard(2_000)
    assert.ok(loud > 0, `bob hears alice before mute (energy +${loud})`)
    const mute = a.getByRole('button', { name: 'Mute' })
    assert.equal(await mute.getAttribute('aria-pressed'), 'false')
    await mute.click()
    assert.equal(await mute.getAttribute('aria-pressed'), 'true')
    assert.equal(await a.evaluate(() => (globalThis as any).peerline.phone.calls()[0].muted), true, 'the call itself is muted')
    await b.waitForTimeout(500) // audio already in flight
    const silent = await heard(2_000)
    assert.ok(silent < loud * 0.05, `bob hears nothing while alice is muted (energy +${silent} vs +${loud} before)`)
    await mute.click()
    assert.equal(await mute.getAttribute('aria-pressed'), 'false')
    await b.waitForTimeout(500)
    assert.ok(await heard(2_000) > loud * 0.2, 'audio comes back after unmute')

    await a.getByRole('button', { name: 'Hold' }).click()
    await a.getByRole('button', { name: 'Resume' }).waitFor({ timeout: 10_000 })
    assert.match(await duration.innerText(), /^On hold · \d\d:\d\d$/)
    await a.getByRole('button', { name: 'Resume' }).click()
    await a.getByRole('button', { name: 'Hold' }).waitFor({ timeout: 10_000 })

    await a.getByRole('group', { name: 'Keypad' }).getByRole('button', { name: '5', exact: true }).click()
    await a.getByRole('group', { name: 'Keypad' }).getByRole('button', { name: '#', exact: true }).click()
    assert.equal(await a.getByLabel('Tones sent').innerText(), '5#')

    await b.getByRole('button', { name: 'Hang up' }).click()
    await a.getByRole('textbox', { name: 'Call or message' }).waitFor({ state: 'visible', timeout: 10_000 })
    await b.getByRole('textbox', { name: 'Call or message' }).waitFor({ state: 'visible', timeout: 10_000 })

    await go(a, '#/history')
    await a.locator('.call-record').filter({ hasText: 'bob@example.org' }).filter({ hasText: 'Outgoing · Answered' }).waitFor({ timeout: 5_000 })
    await go(b, '#/history')
    await b.locator('.call-record').filter({ hasText: 'alice@example.org' }).filter({ hasText: 'Incoming · Answered' }).waitFor({ timeout: 5_000 })
    await go(a, '#/')
    await go(b, '#/')
  })

  it('a declined call tells the caller and is recorded as declined', async () => {
    const a = alice.page
    const b = bob.page
    await a.getByRole('textbox', { name: 'Call or message' }).fill('bob@example.org')
    await a.getByRole('button', { name: 'Call', exact: true }).click()
    await b.getByRole('button', { name: 'Decline' }).click({ timeout: 20_000 })
    await a.getByRole('alert').waitFor({ timeout: 10_000 })
    await go(a, '#/history')
    await a.locator('.call-record[data-outcome="declined"]').filter({ hasText: 'bob@example.org' }).waitFor({ timeout: 5_000 })
    await go(a, '#/')
  })

  it('chat both ways: stored, delivered, kept across a reload, found by search', async () => {
    const a = alice.page
    const b = bob.page
    await a.getByRole('textbox', { name: 'Call or message' }).fill('sip:bob@example.org')
    await a.getByRole('button', { name: 'Message', exact: true }).click()
    await a.getByRole('heading', { name: 'bob@example.org' }).waitFor()
    await a.getByRole('textbox', { name: 'Message' }).fill('Lunch at noon on Thursday?')
    await a.getByRole('button', { name: 'Send' }).click()
    await a.locator('.msg.out[data-status="sent"]').filter({ hasText: 'Lunch at noon on Thursday?' }).waitFor({ timeout: 15_000 })
    assert.match(await a.locator('.msg.out').last().innerText(), /Sent/)

    // bob is on the home screen: the conversation appears with an unread count
    const conversation = b.getByRole('link', { name: /alice@example\.org.*Lunch at noon/ })
    await conversation.waitFor({ timeout: 10_000 })
    assert.match(await conversation.innerText(), /1/)
    await conversation.click()
    const incoming = b.locator('.msg.in').filter({ hasText: 'Lunch at noon on Thursday?' })
    await incoming.waitFor()
    assert.match(await incoming.innerText(), /Not verified — anyone can claim this address/)
    await b.getByRole('textbox', { name: 'Message' }).fill('Thursday works, see you at noon')
    await b.getByRole('textbox', { name: 'Message' }).press('Enter')
    await b.locator('.msg.out[data-status="sent"]').filter({ hasText: 'Thursday works' }).waitFor({ timeout: 15_000 })
    await a.locator('.msg.in').filter({ hasText: 'Thursday works, see you at noon' }).waitFor({ timeout: 10_000 })
    await assertFits(b, 'chat with messages')

    // the transcript survives a reload (IndexedDB), in order
    await b.reload()
    await b.locator('.msg').first().waitFor({ timeout: 15_000 })
    assert.deepEqual((await b.locator('.msg .msg-body').allInnerTexts()), ['Lunch at noon on Thursday?', 'Thursday works, see you at noon'])

    // search from home: hits show peer and date; clicking one opens that chat
    await go(b, '#/')
    await b.getByRole('searchbox', { name: 'Search messages' }).fill('thursday lun')
    const hit = b.getByRole('list', { name: 'Search results' }).getByRole('link')
    await hit.first().waitFor({ timeout: 5_000 })
    assert.equal(await hit.count(), 1)
    assert.match(await hit.innerText(), /alice@example\.org/)
    assert.equal(await hit.locator('time').count(), 1)
    await hit.click()
    await b.getByRole('heading', { name: 'alice@example.org' }).waitFor()
    await go(b, '#/')

    // a message to someone offline is kept, marked, and explained
    await go(a, '#/chat/unknown@example.org')
    await a.getByRole('textbox', { name: 'Message' }).fill('Are you there?')
    await a.getByRole('button', { name: 'Send' }).click()
    await a.locator('.msg.out[data-status="failed"]').filter({ hasText: 'Not delivered' }).waitFor({ timeout: 15_000 })
    await a.getByRole('alert').filter({ hasText: 'unknown@example.org is not online right now.' }).waitFor({ timeout: 1_000 })
    // Retry sends the same message again (still nobody there: the same explanation, no copy in the transcript)
    await a.getByRole('button', { name: 'Dismiss' }).click()
    await a.getByRole('alert').waitFor({ state: 'detached' })
    await a.locator('.msg.out').getByRole('button', { name: 'Retry' }).click()
    await a.getByRole('alert').filter({ hasText: 'unknown@example.org is not online right now.' }).waitFor({ timeout: 15_000 })
    await a.locator('.msg.out[data-status="failed"]').waitFor({ timeout: 15_000 })
    assert.equal(await a.locator('.msg.out').count(), 1, 'Retry resends the message, it does not add one')
    await go(a, '#/')
  })

  it('a #/call/ deep link (URL-encoded sip: URI) dials at once on a cold start', async () => {
    const a = alice.page
    await a.goto('about:blank')
    await a.goto(`${web.url}#/call/sip%3Abob%40example.org`)
    await bob.page.getByRole('button', { name: 'Decline' }).click({ timeout: 30_000 })
    await a.getByRole('alert').waitFor({ timeout: 10_000 })
    assert.equal(await a.evaluate(() => location.hash), '#/', 'the link is consumed: a reload does not dial again')
  })

  it('identity backup: passphrases are checked, the file downloads, and restores on a new device', async () => {
    const page = alice.page
    await go(page, '#/settings')
    await page.getByLabel('New backup passphrase').fill('correct horse')
    await page.getByLabel('Repeat the passphrase').fill('correct house')
    await page.getByRole('button', { name: 'Download backup' }).click()
    await page.getByRole('alert').filter({ hasText: 'not the same' }).waitFor()
    await page.getByLabel('Repeat the passphrase').fill('correct horse')
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 20_000 }),
      page.getByRole('button', { name: 'Download backup' }).click()
    ])
    assert.equal(download.suggestedFilename(), 'peerline-identity-alice-example.org.json')
    const file = join(alice.dir, 'backup.json')
    await download.saveAs(file)
    assert.equal(JSON.parse(await readFile(file, 'utf8')).format, 'peerline-identity-backup')

    const other = await open()
    try {
      const p = other.page
      await p.getByText('Restore from backup').click()
      await p.getByLabel('Backup file').setInputFiles(file)
      await p.getByLabel('Backup passphrase').fill('wrong passphrase')
      await p.getByRole('button', { name: 'Restore identity' }).click()
      await p.getByRole('alert').filter({ hasText: 'Wrong passphrase' }).waitFor({ timeout: 20_000 })
      await p.getByLabel('Backup passphrase').fill('correct horse')
      await p.getByRole('button', { name: 'Restore identity' }).click()
      await p.getByRole('status').filter({ hasText: 'Online' }).waitFor({ timeout: ONLINE_TIMEOUT })
      assert.equal(await p.locator('.me').innerText(), 'alice@example.org')
      assert.deepEqual(other.errors, [])
    } finally {
      await other.context.close()
    }
  })

  it('a new version: the banner offers it and Reload switches to it', async () => {
    const page = alice.page
    const workerVersion = async (): Promise<string> => await page.evaluate(async () => await new Promise<string>((resolve, reject) => {
      const worker = navigator.serviceWorker.controller
      if (worker === null) { reject(new Error('no service worker in control')); return }
      const channel = new MessageChannel()
      channel.port1.onmessage = evt => { resolve((evt.data as { version: string }).version) }
      worker.postMessage({ type: 'GET_VERSION' }, [channel.port2])
    }))
    await go(page, '#/')
    const before = await workerVersion()
    await buildPwa({ minify: false, outDir, version: `${before}-next` })
    await page.reload()
    const banner = page.getByText('A new version is available')
    await banner.waitFor({ timeout: 30_000 })
    await assertFits(page, 'home with the update banner')
    await Promise.all([
      page.waitForEvent('load', { timeout: 30_000 }),
      page.getByRole('button', { name: 'Reload' }).click()
    ])
    await page.getByRole('status').filter({ hasText: 'Online' }).waitFor({ timeout: ONLINE_TIMEOUT })
    assert.equal(await workerVersion(), `${before}-next`)
    assert.equal(await banner.count(), 0)
  })

  it('says Offline, with a banner, when the browser loses the network', async () => {
    const { page, context } = bob
    await context.setOffline(true)
    try {
      await page.getByRole('status').filter({ hasText: 'Offline' }).waitFor({ timeout: 5_000 })
      await page.getByText('You are offline.').waitFor()
      await assertFits(page, 'home while offline')
    } finally {
      await context.setOffline(false)
    }
    await page.getByRole('status').filter({ hasText: 'Online' }).waitFor({ timeout: 60_000 })
    assert.equal(await page.getByText('You are offline.').count(), 0)
  })

  it('no uncaught errors on either page', () => {
    assert.deepEqual(alice.errors, [])
    assert.deepEqual(bob.errors, [])
  })
})
