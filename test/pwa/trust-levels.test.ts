/**
 * The graded trust words in the PWA, in real Chromium, next to a real
 * supernode that runs an email-verifying CA (mails to a real SMTP server on
 * loopback). Three people:
 *   alice  self-issued: bob's incoming-call screen and chat header say
 *          "Not verified — anyone can claim this address", never ✓;
 *   carol  verifies her address in onboarding's last step (one click, one
 *          code); bob trusts that CA: her call rings "✓ Verified by Test Mail CA";
 *   then bob compares safety numbers with alice: "✓ Verified contact" in the
 *          chat header and on her next call.
 * Only those two verified levels use the success style.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { buildPwa } from '../../build/build.ts'
import { findCaCode } from '../../shared/identity/index.ts'
import { startSupernode } from '../../supernode/supernode.ts'
import type { Supernode } from '../../supernode/supernode.ts'
import { serveApp } from '../../supernode/web.ts'
import type { WebServer } from '../../supernode/web.ts'
import { onboard, openPerson, stopPwa } from '../helpers/pwa.ts'
import type { Person } from '../helpers/pwa.ts'
import { startSmtpServer } from '../helpers/smtp.ts'
import type { TestSmtpServer } from '../helpers/smtp.ts'

const ONLINE_TIMEOUT = 30_000
const CALL_TIMEOUT = 20_000
const NOT_VERIFIED = 'Not verified — anyone can claim this address'

describe('PWA trust levels: not verified, verified by a CA, verified contact (Chromium, real CA)', { timeout: 300_000 }, () => {
  let sn: Supernode
  let web: WebServer
  let smtp: TestSmtpServer
  const dirs: string[] = []
  const people: Person[] = []
  let alice: Person
  let bob: Person
  let carol: Person

  const open = async (): Promise<Person> => await openPerson(web.url, { prefix: 'peerline-levels-profile-', dirs, people })
  const go = async (p: Page, hash: string): Promise<void> => { await p.evaluate(h => { location.hash = h }, hash) }
  const online = async (p: Page): Promise<void> => { await p.getByRole('status').filter({ hasText: /^Online/ }).waitFor({ timeout: ONLINE_TIMEOUT }) }

  async function dial (from: Page, to: string): Promise<void> {
    await go(from, '#/')
    await from.getByRole('textbox', { name: 'Call or message' }).fill(to)
    await from.getByRole('button', { name: 'Call', exact: true }).click()
  }

  /** The ringing screen on `at` for a call from `from`: its trust badge's text and whether it looks like success; then declined. */
  async function ringingBadge (at: Page, from: string, caller: Page): Promise<{ text: string, success: boolean, all: string }> {
    const ringing = at.getByRole('dialog', { name: from })
    await ringing.waitFor({ timeout: CALL_TIMEOUT }).catch(async (err: unknown) => {
      // say why the call did not ring (the caller's alert), not just that it did not
      const said = await caller.getByRole('alert').allInnerTexts().catch(() => [])
      throw new Error(`${(err as Error).message}; the caller's page says: ${JSON.stringify(said)}`)
    })
    const badge = ringing.locator('.badge.trust')
    const text = (await badge.innerText()).trim()
    const success = await ringing.locator('.badge.trust-success').count() > 0
    const all = await ringing.innerText()
    await at.getByRole('button', { name: 'Decline' }).click()
    await ringing.waitFor({ state: 'detached', timeout: 10_000 })
    return { text, success, all }
  }

  before(async () => {
    const outDir = await mkdtemp(join(tmpdir(), 'peerline-levels-build-'))
    const keyDir = await mkdtemp(join(tmpdir(), 'peerline-levels-ca-'))
    dirs.push(outDir, keyDir)
    smtp = await startSmtpServer()
    const built = await buildPwa({ minify: false, outDir })
    sn = await startSupernode({
      listen: ['/ip4/127.0.0.1/tcp/0/ws'],
      health: null,
      ca: { keyFile: join(keyDir, 'ca-key.json'), name: 'Test Mail CA', smtp: smtp.url, from: 'Peerline CA <ca@example.test>', linkBase: 'http://app.example.test/' }
    })
    web = await serveApp({ root: built.outDir, host: '127.0.0.1', port: 0, config: () => ({ supernodes: sn.addrs }), health: sn.health })
  })

  after(async () => {
    await stopPwa(people, web, sn, dirs)
    await smtp?.close()
  })

  it('a self-issued caller is "Not verified — anyone can claim this address" on the incoming-call screen and in the chat header', async () => {
    alice = await open()
    bob = await open()
    await onboard(alice.page, 'alice@example.org', 'Alice', ONLINE_TIMEOUT)
    await onboard(bob.page, 'bob@example.org', 'Bob', ONLINE_TIMEOUT)
    // onboarding's last step offers the CA, and can be skipped
    const step = bob.page.getByRole('region', { name: 'One more step: verify your address' })
    await step.waitFor()
    await step.getByRole('button', { name: 'Skip for now' }).click()
    await step.waitFor({ state: 'detached' })

    await dial(alice.page, 'bob@example.org')
    const ring = await ringingBadge(bob.page, 'alice@example.org', alice.page)
    assert.equal(ring.text, `⚠ ${NOT_VERIFIED}`)
    assert.equal(ring.success, false)
    assert.doesNotMatch(ring.all, /✓|Verified by|Verified contact/)
    // the claimed name is only a claim
    assert.match(ring.all, /Says their name is “Alice”/)

    await go(alice.page, '#/chat/bob@example.org')
    await alice.page.getByRole('textbox', { name: 'Message' }).fill('hello bob')
    await alice.page.getByRole('button', { name: 'Send' }).click()
    await alice.page.locator('.msg.out[data-status="sent"]').waitFor({ timeout: CALL_TIMEOUT })
    await go(bob.page, '#/chat/alice@example.org')
    await bob.page.locator('.msg.in').filter({ hasText: 'hello bob' }).waitFor({ timeout: CALL_TIMEOUT })
    const header = bob.page.locator('.chat .trust-mark .badge.trust')
    await header.filter({ hasText: NOT_VERIFIED }).waitFor()
    assert.match(await bob.page.locator('.msg.in .badge.trust').first().innerText(), /Not verified — anyone can claim this address/)
    assert.equal(await bob.page.locator('.chat .badge.trust-success').count(), 0)
  })

  it('a caller whose CA-issued certificate bob trusts rings "Verified by Test Mail CA" (verified in onboarding: one click, one code)', async () => {
    const ca = sn.ca?.ca
    assert.ok(ca !== undefined)
    carol = await open()
    await onboard(carol.page, 'carol@example.org', 'Carol', ONLINE_TIMEOUT)
    const step = carol.page.getByRole('region', { name: 'One more step: verify your address' })
    const before = smtp.mails.length
    await step.getByRole('button', { name: 'Trust this CA and request a certificate' }).click({ timeout: 20_000 })
    const code = findCaCode((await smtp.mailFor('carol@example.org', before)).raw)
    assert.ok(code !== undefined)
    await step.getByRole('textbox', { name: /Verification code/ }).fill(code)
    await step.getByRole('button', { name: 'Verify' }).click()
    await step.getByText(/Your address is verified/).waitFor({ timeout: 20_000 })
    await online(carol.page)

    // bob trusts the same CA (Settings → Trusted certificate authorities); his session restarts with it
    await bob.page.evaluate(() => { const g = globalThis as any; g.phoneBeforeTrust = g.peerline.services.phone })
    await go(bob.page, '#/settings')
    const section = bob.page.getByRole('region', { name: 'Trusted certificate authorities' })
    await section.getByRole('textbox', { name: /CA certificate/ }).fill(JSON.stringify({ name: 'Test Mail CA', key: ca.key }))
    await section.getByRole('button', { name: 'Trust this CA' }).click()
    await section.locator('.ca-name').filter({ hasText: 'Test Mail CA' }).waitFor()
    await bob.page.waitForFunction(() => {
      const g = globalThis as any
      const s = g.peerline.services
      return s.phone !== undefined && s.phone !== g.phoneBeforeTrust && s.status.reachable === true
    }, undefined, { timeout: ONLINE_TIMEOUT })
    await go(bob.page, '#/')

    await dial(carol.page, 'bob@example.org')
    const ring = await ringingBadge(bob.page, 'carol@example.org', carol.page)
    assert.equal(ring.text, '✓ Verified by Test Mail CA')
    assert.equal(ring.success, true)
    // a verified identity's name is shown as a name, not as a claim
    assert.doesNotMatch(ring.all, /Says their name is/)
  })

  it('after comparing safety numbers, alice is a "Verified contact" in the chat header and on her next call', async () => {
    await online(bob.page)
    await go(alice.page, '#/safety/bob@example.org')
    await go(bob.page, '#/safety/alice@example.org')
    const alicesCode = await alice.page.locator('.my-safety-code').inputValue({ timeout: 15_000 })
    await bob.page.locator('.their-safety-code').fill(alicesCode)
    await bob.page.getByRole('button', { name: 'Compare' }).click()
    await bob.page.getByText('The codes match').waitFor()
    await bob.page.getByRole('button', { name: 'Mark as verified' }).click()
    await bob.page.getByRole('button', { name: 'Clear verification' }).waitFor()

    await go(bob.page, '#/chat/alice@example.org')
    await bob.page.locator('.chat .trust-mark .badge.trust-success').filter({ hasText: '✓ Verified contact' }).waitFor({ timeout: 15_000 })
    await go(bob.page, '#/')
    await dial(alice.page, 'bob@example.org')
    const ring = await ringingBadge(bob.page, 'alice@example.org', alice.page)
    assert.equal(ring.text, '✓ Verified contact')
    assert.equal(ring.success, true)
    // the history keeps each call's level at the time
    await go(bob.page, '#/history')
    await bob.page.locator('.call-record .badge.trust').nth(2).waitFor({ timeout: 10_000 })
    const levels = await bob.page.locator('.call-record .badge.trust').allInnerTexts()
    assert.deepEqual(levels.map(t => t.trim()), ['✓ Verified contact', '✓ Verified by Test Mail CA', `⚠ ${NOT_VERIFIED}`])
    assert.deepEqual([...alice.errors, ...bob.errors, ...carol.errors], [])
  })
})
