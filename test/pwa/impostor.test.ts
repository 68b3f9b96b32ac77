/**
 * An impostor in the PWA, in real Chromium, next to a real supernode: Bob and
 * Mallory both onboard as bob@example.org with self-issued certificates (the
 * overlay keeps both claims, test/overlay/claims.test.ts). Then, as people see it:
 *   carol  has met neither: dialling bob@example.org does not ring anybody but
 *          shows "2 different keys claim bob@example.org" with both keys and
 *          their safety numbers; she picks Bob's key, and only Bob rings;
 *   dave   has met neither either: Mallory's call and message claiming bob@
 *          say "Not verified — anyone can claim this address", never ✓;
 *   carol  pinned Bob's key: Mallory's call to her is "Key changed", not Bob.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Page } from 'playwright-core'
import { dial, goTo, onboard, openPerson, ringingBadge, servePwa, stopPwa } from '../helpers/pwa.ts'
import type { Person, ServedPwa } from '../helpers/pwa.ts'

const ONLINE_TIMEOUT = 30_000
const CALL_TIMEOUT = 20_000
const BOB = 'bob@example.org'
const NOT_VERIFIED = 'Not verified — anyone can claim this address'

describe('PWA: an impostor claiming bob@example.org (Chromium, two self-issued keys for one address)', { timeout: 300_000 }, () => {
  let served: ServedPwa
  const dirs: string[] = []
  const people: Person[] = []
  let bob: Person
  let mallory: Person
  let carol: Person
  let dave: Person
  let bobKey: string
  let malloryKey: string

  const open = async (): Promise<Person> => await openPerson(served.web.url, { prefix: 'peerline-impostor-profile-', dirs, people })
  const identityKey = async (p: Page): Promise<string> => await p.evaluate(() => (globalThis as any).peerline.overlay.identity.publicKey as string)
  const skipCaStep = async (p: Page): Promise<void> => {
    const step = p.getByRole('region', { name: 'One more step: verify your address' })
    if (await step.count() > 0) await step.getByRole('button', { name: 'Skip for now' }).click()
  }

  before(async () => {
    served = await servePwa('peerline-impostor-build-', dirs)
    bob = await open()
    mallory = await open()
    carol = await open()
    dave = await open()
    await onboard(bob.page, BOB, 'Bob', ONLINE_TIMEOUT)
    await onboard(mallory.page, BOB, 'Bob', ONLINE_TIMEOUT)
    await onboard(carol.page, 'carol@example.org', 'Carol', ONLINE_TIMEOUT)
    await onboard(dave.page, 'dave@example.org', 'Dave', ONLINE_TIMEOUT)
    for (const p of people) await skipCaStep(p.page)
    bobKey = await identityKey(bob.page)
    malloryKey = await identityKey(mallory.page)
    assert.notEqual(bobKey, malloryKey, 'two different identity keys claim one address')
  })

  after(async () => {
    await stopPwa(people, served?.web, served?.sn, dirs)
  })

  it('a fresh caller is told "2 different keys claim bob@example.org" before anything rings; choosing Bob\'s key rings only Bob', async () => {
    await dial(carol.page, BOB)
    const chooser = carol.page.getByRole('dialog', { name: `2 different keys claim ${BOB}` })
    await chooser.waitFor({ timeout: CALL_TIMEOUT })
    const rows = chooser.locator('[data-key]')
    assert.equal(await rows.count(), 2)
    const keys = await rows.evaluateAll(els => els.map(e => e.getAttribute('data-key')))
    assert.deepEqual([...keys].sort(), [bobKey, malloryKey].sort())
    // neither claim is shown as verified: both are self-issued and new to carol
    assert.equal(await chooser.locator('.badge.trust-success').count(), 0)
    for (const row of await rows.all()) {
      assert.equal((await row.locator('.badge.trust').innerText()).trim(), `⚠ ${NOT_VERIFIED}`)
      assert.match(await row.locator('.safety-digits').innerText(), /^[\d ]{20,}$/, 'each claim shows a safety number to compare')
    }
    // nobody rang while the question was open
    assert.equal(await bob.page.getByRole('dialog', { name: 'carol@example.org' }).count(), 0)
    assert.equal(await mallory.page.getByRole('dialog', { name: 'carol@example.org' }).count(), 0)

    await chooser.locator(`[data-key="${bobKey}"]`).getByRole('button', { name: 'Use this key' }).click()
    await chooser.waitFor({ state: 'detached', timeout: CALL_TIMEOUT })
    const ringing = bob.page.getByRole('dialog', { name: 'carol@example.org' })
    await ringing.waitFor({ timeout: CALL_TIMEOUT })
    assert.equal(await mallory.page.getByRole('dialog', { name: 'carol@example.org' }).count(), 0, 'the impostor does not ring')
    await bob.page.getByRole('button', { name: 'Decline' }).click()
    await ringing.waitFor({ state: 'detached', timeout: 10_000 })

    // the choice is a pin: carol's second call goes to Bob without asking again
    await dial(carol.page, BOB)
    await bob.page.getByRole('dialog', { name: 'carol@example.org' }).waitFor({ timeout: CALL_TIMEOUT })
    assert.equal(await carol.page.getByRole('dialog', { name: /different keys claim/ }).count(), 0)
    assert.equal(await mallory.page.getByRole('dialog', { name: 'carol@example.org' }).count(), 0)
    await bob.page.getByRole('button', { name: 'Decline' }).click()
    await bob.page.getByRole('dialog', { name: 'carol@example.org' }).waitFor({ state: 'detached', timeout: 10_000 })
  })

  it('calls and messages from the impostor are "Not verified" for someone who met neither key, never ✓', async () => {
    await dial(mallory.page, 'dave@example.org')
    const ring = await ringingBadge(dave.page, BOB, mallory.page, CALL_TIMEOUT)
    assert.equal(ring.text, `⚠ ${NOT_VERIFIED}`)
    assert.equal(ring.success, false)
    assert.doesNotMatch(ring.all, /✓|Verified by|Verified contact/)

    await goTo(mallory.page, '#/chat/dave@example.org')
    await mallory.page.getByRole('textbox', { name: 'Message' }).fill('this is bob, honest')
    await mallory.page.getByRole('button', { name: 'Send' }).click()
    await mallory.page.locator('.msg.out[data-status="sent"]').waitFor({ timeout: CALL_TIMEOUT })
    await goTo(dave.page, `#/chat/${BOB}`)
    const msg = dave.page.locator('.msg.in').filter({ hasText: 'this is bob, honest' })
    await msg.waitFor({ timeout: CALL_TIMEOUT })
    assert.match(await msg.locator('.badge.trust').innerText(), /Not verified — anyone can claim this address/)
    await dave.page.locator('.chat .trust-mark .badge.trust').filter({ hasText: NOT_VERIFIED }).waitFor()
    assert.equal(await dave.page.locator('.chat .badge.trust-success').count(), 0)
  })

  it('to the caller who chose Bob\'s key, the impostor\'s call says "Key changed", not Bob', async () => {
    await dial(mallory.page, 'carol@example.org')
    const ring = await ringingBadge(carol.page, BOB, mallory.page, CALL_TIMEOUT)
    assert.match(ring.text, /Key changed: this is not the key you had for bob@example\.org/)
    assert.equal(ring.success, false)
  })
})
