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
import type { Page } from 'playwright-core'
import { findCaCode } from '../../shared/identity/index.ts'
import type { Supernode } from '../../supernode/supernode.ts'
import type { WebServer } from '../../supernode/web.ts'
import { dial, goTo, onboard, openPerson, ringingBadge, servePwa, stopPwa, TEST_CA_NAME } from '../helpers/pwa.ts'
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
  const online = async (p: Page): Promise<void> => { await p.getByRole('status').filter({ hasText: /^Online/ }).waitFor({ timeout: ONLINE_TIMEOUT }) }
  const badgeOfCall = async (at: Page, from: string, caller: Page): ReturnType<typeof ringingBadge> => await ringingBadge(at, from, caller, CALL_TIMEOUT)

  before(async () => {
    smtp = await startSmtpServer()
    ;({ sn, web } = await servePwa('peerline-levels-build-', dirs, { caSmtpUrl: smtp.url }))
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
    const ring = await badgeOfCall(bob.page, 'alice@example.org', alice.page)
    assert.equal(ring.text, `⚠ ${NOT_VERIFIED}`)
    assert.equal(ring.success, false)
    assert.doesNotMatch(ring.all, /✓|Verified by|Verified contact/)
    // the claimed name is only a claim
    assert.match(ring.all, /Says their name is “Alice”/)

    await goTo(alice.page, '#/chat/bob@example.org')
    await alice.page.getByRole('textbox', { name: 'Message' }).fill('hello bob')
    await alice.page.getByRole('button', { name: 'Send' }).click()
    await alice.page.locator('.msg.out[data-status="sent"]').waitFor({ timeout: CALL_TIMEOUT })
    await goTo(bob.page, '#/chat/alice@example.org')
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
    await goTo(bob.page, '#/settings')
    const section = bob.page.getByRole('region', { name: 'Trusted certificate authorities' })
    await section.getByRole('textbox', { name: /CA certificate/ }).fill(JSON.stringify({ name: TEST_CA_NAME, key: ca.key }))
    await section.getByRole('button', { name: 'Trust this CA' }).click()
    await section.locator('.ca-name').filter({ hasText: TEST_CA_NAME }).waitFor()
    await bob.page.waitForFunction(() => {
      const g = globalThis as any
      const s = g.peerline.services
      return s.phone !== undefined && s.phone !== g.phoneBeforeTrust && s.status.reachable === true
    }, undefined, { timeout: ONLINE_TIMEOUT })
    await goTo(bob.page, '#/')

    await dial(carol.page, 'bob@example.org')
    const ring = await badgeOfCall(bob.page, 'carol@example.org', carol.page)
    assert.equal(ring.text, `✓ Verified by ${TEST_CA_NAME}`)
    assert.equal(ring.success, true)
    // a verified identity's name is shown as a name, not as a claim
    assert.doesNotMatch(ring.all, /Says their name is/)
  })

  it('after comparing safety numbers, alice is a "Verified contact" in the chat header and on her next call', async () => {
    await online(bob.page)
    await goTo(alice.page, '#/safety/bob@example.org')
    await goTo(bob.page, '#/safety/alice@example.org')
    const alicesCode = await alice.page.locator('.my-safety-code').inputValue({ timeout: 15_000 })
    await bob.page.locator('.their-safety-code').fill(alicesCode)
    await bob.page.getByRole('button', { name: 'Compare' }).click()
    await bob.page.getByText('The codes match').waitFor()
    await bob.page.getByRole('button', { name: 'Mark as verified' }).click()
    await bob.page.getByRole('button', { name: 'Clear verification' }).waitFor()

    await goTo(bob.page, '#/chat/alice@example.org')
    await bob.page.locator('.chat .trust-mark .badge.trust-success').filter({ hasText: '✓ Verified contact' }).waitFor({ timeout: 15_000 })
    await goTo(bob.page, '#/')
    await dial(alice.page, 'bob@example.org')
    const ring = await badgeOfCall(bob.page, 'alice@example.org', alice.page)
    assert.equal(ring.text, '✓ Verified contact')
    assert.equal(ring.success, true)
    // the history keeps each call's level at the time
    await goTo(bob.page, '#/history')
    await bob.page.locator('.call-record .badge.trust').nth(2).waitFor({ timeout: 10_000 })
    const levels = await bob.page.locator('.call-record .badge.trust').allInnerTexts()
    assert.deepEqual(levels.map(t => t.trim()), ['✓ Verified contact', `✓ Verified by ${TEST_CA_NAME}`, `⚠ ${NOT_VERIFIED}`])
    assert.deepEqual([...alice.errors, ...bob.errors, ...carol.errors], [])
  })
})
