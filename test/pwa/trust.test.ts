/**
 * Trust in the PWA, driven like a person would, in real Chromium next to a
 * real supernode: alice and bob (two profiles) compare safety numbers (same
 * digits on both), alice marks bob verified (kept across a reload); bob's
 * identity is then replaced by a new key for the same address (a third
 * profile): alice's message is held back with a loud warning until she
 * accepts the new key, which clears the verified mark; verified again, a
 * call shows "Verified contact" and the safety number. Trusted CAs in
 * Settings start empty and refuse bad input.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Page } from 'playwright-core'
import { generateIdentityKey, issueCaCertificate } from '../../shared/identity/index.ts'
import type { Supernode } from '../../supernode/supernode.ts'
import type { WebServer } from '../../supernode/web.ts'
import { onboard as onboardPerson, openPerson, servePwa, stopPwa } from '../helpers/pwa.ts'
import type { Person } from '../helpers/pwa.ts'

const ONLINE_TIMEOUT = 30_000
const SAFETY_DIGITS = /^\d{5}( \d{5}){11}$/

describe('PWA trust: safety numbers, verified contacts, key changes, trusted CAs (Chromium)', { timeout: 300_000 }, () => {
  let sn: Supernode
  let web: WebServer
  const dirs: string[] = []
  const people: Person[] = []
  let alice: Person
  let bob: Person

  const open = async (): Promise<Person> => await openPerson(web.url, { prefix: 'peerline-trust-profile-', dirs, people })

  const onboard = async (p: Page, email: string, name: string): Promise<void> => { await onboardPerson(p, email, name, ONLINE_TIMEOUT) }

  async function go (p: Page, hash: string): Promise<void> {
    await p.evaluate(h => { location.hash = h }, hash)
  }

  async function send (p: Page, peer: string, text: string, status: 'sent' | 'failed'): Promise<void> {
    await go(p, `#/chat/${peer}`)
    await p.getByRole('heading', { name: peer }).waitFor()
    await p.getByRole('textbox', { name: 'Message' }).fill(text)
    await p.getByRole('button', { name: 'Send' }).click()
    await p.locator(`.msg.out[data-status="${status}"]`).filter({ hasText: text }).waitFor({ timeout: 20_000 })
  }

  /** The screen on a 360×640 phone: no sideways scrolling. */
  async function fitsPhone (p: Page, screen: string): Promise<void> {
    const before = p.viewportSize()
    await p.setViewportSize({ width: 360, height: 640 })
    const r = await p.evaluate(() => ({ scroll: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth), width: document.documentElement.clientWidth }))
    if (before !== null) await p.setViewportSize(before)
    assert.ok(r.scroll <= r.width, `${screen}: no horizontal scroll at 360 px (${r.scroll} > ${r.width})`)
  }

  before(async () => {
    ;({ sn, web } = await servePwa('peerline-trust-build-', dirs))
  })

  after(async () => {
    await stopPwa(people, web, sn, dirs)
  })

  it('Settings lists no trusted CA by default; bad input is refused; a CA is added and removed', async () => {
    alice = await open()
    await onboard(alice.page, 'alice@example.org', 'Alice')
    const a = alice.page
    await go(a, '#/settings')
    const section = a.getByRole('region', { name: 'Trusted certificate authorities' })
    await section.getByText('No certificate authority trusted: email addresses are not verified by anyone.').waitFor()
    await section.getByRole('textbox', { name: /CA certificate/ }).fill('not a key')
    await section.getByRole('button', { name: 'Trust this CA' }).click()
    await section.getByRole('alert').filter({ hasText: /name/ }).waitFor()
    const ca = generateIdentityKey()
    const cert = issueCaCertificate({ name: 'Example Mail CA', subjectKey: ca.publicKey, issuer: ca })
    await section.getByRole('textbox', { name: /CA certificate/ }).fill(JSON.stringify({ ...cert, name: 'Tampered' }))
    await section.getByRole('button', { name: 'Trust this CA' }).click()
    await section.getByRole('alert').filter({ hasText: /cannot be trusted/ }).waitFor()
    await section.getByRole('textbox', { name: /CA certificate/ }).fill(JSON.stringify(cert))
    await section.getByRole('button', { name: 'Trust this CA' }).click()
    await section.locator('.ca-name').filter({ hasText: 'Example Mail CA' }).waitFor()
    await a.getByRole('status').filter({ hasText: /^Online/ }).waitFor({ timeout: ONLINE_TIMEOUT })
    // trusting it again changes nothing: the session (and any call in it) is not restarted
    const restarted = await a.evaluate(async (c) => {
      const w = globalThis as unknown as { peerline: { services: { phone: unknown, trust: { addCa: (x: unknown) => Promise<unknown> } } } }
      const phone = w.peerline.services.phone
      await w.peerline.services.trust.addCa(c)
      await w.peerline.services.trust.addCa({ key: c.key, name: 'Same key, other name' })
      // a restart would drop the phone at once (before the new session starts)
      await new Promise(resolve => setTimeout(resolve, 1500))
      return phone === undefined || w.peerline.services.phone !== phone
    }, cert)
    assert.equal(restarted, false, 're-adding a trusted CA must not restart the session')
    // another tab of the same profile sees the change without reloading
    const tab2 = await alice.context.newPage()
    await tab2.goto(web.url)
    await tab2.getByRole('status').filter({ hasText: /^Online/ }).waitFor({ timeout: ONLINE_TIMEOUT })
    await go(tab2, '#/settings')
    const section2 = tab2.getByRole('region', { name: 'Trusted certificate authorities' })
    await section2.locator('.ca-name').filter({ hasText: 'Example Mail CA' }).waitFor()
    const other = generateIdentityKey()
    const otherCert = issueCaCertificate({ name: 'Second Tab CA', subjectKey: other.publicKey, issuer: other })
    await section2.getByRole('textbox', { name: /CA certificate/ }).fill(JSON.stringify(otherCert))
    await section2.getByRole('button', { name: 'Trust this CA' }).click()
    await section.locator('.ca-name').filter({ hasText: 'Second Tab CA' }).waitFor({ timeout: 10_000 })
    await section2.getByRole('button', { name: 'Remove Second Tab CA' }).click()
    await section.locator('.ca-name').filter({ hasText: 'Second Tab CA' }).waitFor({ state: 'detached', timeout: 10_000 })
    await tab2.close()
    // kept in IndexedDB, and handed to the overlay after the session restarts
    await a.reload()
    await a.getByRole('status').filter({ hasText: /^Online/ }).waitFor({ timeout: ONLINE_TIMEOUT })
    await go(a, '#/settings')
    await section.locator('.ca-name').filter({ hasText: 'Example Mail CA' }).waitFor()
    await fitsPhone(a, 'settings with a trusted CA')
    await section.getByRole('button', { name: 'Remove Example Mail CA' }).click()
    await section.getByText('No certificate authority trusted').waitFor()
    await a.getByRole('status').filter({ hasText: /^Online/ }).waitFor({ timeout: ONLINE_TIMEOUT })
    // a reset with no CA trusted leaves the set of trusted roots as it was: no restart either
    const restartedByReset = await a.evaluate(async () => {
      const w = globalThis as unknown as { peerline: { services: { phone: unknown, trust: { reset: () => Promise<void> } } } }
      const phone = w.peerline.services.phone
      await w.peerline.services.trust.reset()
      await new Promise(resolve => setTimeout(resolve, 1500))
      return phone === undefined || w.peerline.services.phone !== phone
    })
    assert.equal(restartedByReset, false, 'a trust change that leaves the trusted roots alone must not restart the session')
  })

  it('safety numbers are the same on both sides; the codes match; "Mark as verified" is shown after a reload', async () => {
    bob = await open()
    await onboard(bob.page, 'bob@example.org', 'Bob')
    const a = alice.page
    const b = bob.page
    await a.getByRole('status').filter({ hasText: /^Online/ }).waitFor({ timeout: ONLINE_TIMEOUT })
    // first contact pins the keys on both sides
    await send(a, 'bob@example.org', 'hello bob', 'sent')
    await send(b, 'alice@example.org', 'hello alice', 'sent')

    await go(a, '#/chat/bob@example.org')
    await a.getByRole('link', { name: 'Safety number' }).click()
    await go(b, '#/safety/alice@example.org')
    const aDigits = (await a.locator('.safety-digits').innerText({ timeout: 15_000 })).trim()
    const bDigits = (await b.locator('.safety-digits').innerText({ timeout: 15_000 })).trim()
    assert.match(aDigits, SAFETY_DIGITS)
    assert.equal(aDigits, bDigits)
    assert.equal(await a.getByRole('img', { name: 'Safety number QR code' }).count(), 1)
    await fitsPhone(a, 'safety number')

    // bob's code pasted on alice's side matches; her own does not
    const bobsCode = await b.locator('.my-safety-code').inputValue()
    const alicesCode = await a.locator('.my-safety-code').inputValue()
    assert.notEqual(bobsCode, alicesCode)
    await a.locator('.their-safety-code').fill(alicesCode)
    await a.getByRole('button', { name: 'Compare' }).click()
    await a.getByRole('alert').filter({ hasText: 'The codes do not match' }).waitFor()
    await a.locator('.their-safety-code').fill(bobsCode)
    await a.getByRole('button', { name: 'Compare' }).click()
    await a.getByText('The codes match').waitFor()

    await a.getByRole('button', { name: 'Mark as verified' }).click()
    await a.getByRole('button', { name: 'Clear verification' }).waitFor()
    await a.reload()
    await go(a, '#/chat/bob@example.org')
    await a.locator('.chat .badge.trust-contact-verified').filter({ hasText: 'Verified contact' }).waitFor({ timeout: 15_000 })
    // bob did not mark alice
    await go(b, '#/chat/alice@example.org')
    await b.getByRole('heading', { name: 'alice@example.org' }).waitFor()
    assert.equal(await b.locator('.chat .badge.trust-contact-verified').count(), 0)
  })

  it('bob appears with a new key: alice\'s message is held back with a warning until she accepts it', async () => {
    const a = alice.page
    await a.getByRole('status').filter({ hasText: /^Online/ }).waitFor({ timeout: ONLINE_TIMEOUT })
    // bob's device is gone; a new identity (new key) claims bob@example.org
    await bob.context.close()
    people.splice(people.indexOf(bob), 1)
    const bob2 = await open()
    await onboard(bob2.page, 'bob@example.org', 'Bob again')

    await send(a, 'bob@example.org', 'is that you?', 'failed')
    const banner = a.locator('.chat .banner.key-changed')
    await banner.filter({ hasText: "bob@example.org's security key changed" }).waitFor({ timeout: 10_000 })
    await a.getByRole('alert').filter({ hasText: "bob@example.org's security key changed. Nothing was sent" }).first().waitFor()
    // the verified mark belonged to the old key
    assert.equal(await a.locator('.chat .badge.trust-contact-verified').count(), 0)
    // a call is refused the same way, before anything rings
    await a.getByRole('button', { name: 'Call', exact: true }).click()
    await a.getByRole('alert').filter({ hasText: "bob@example.org's security key changed" }).first().waitFor({ timeout: 20_000 })
    // nothing reached the new key
    await go(bob2.page, '#/chat/alice@example.org')
    await bob2.page.getByRole('heading', { name: 'alice@example.org' }).waitFor()
    assert.equal(await bob2.page.locator('.msg.in').count(), 0)
    assert.equal(await bob2.page.getByRole('dialog', { name: 'alice@example.org' }).count(), 0)

    // the new key calling alice rings, clearly marked, with the warning on the call screen
    await go(bob2.page, '#/')
    await bob2.page.getByRole('textbox', { name: 'Call or message' }).fill('alice@example.org')
    await bob2.page.getByRole('button', { name: 'Call', exact: true }).click()
    const ringing = a.getByRole('dialog', { name: 'bob@example.org' })
    await ringing.waitFor({ timeout: 20_000 })
    assert.match(await ringing.innerText(), /Key changed/)
    assert.equal(await ringing.locator('.badge.trust-success').count(), 0, 'a changed key never looks like success')
    await a.getByRole('button', { name: 'Decline' }).click()
    await ringing.waitFor({ state: 'detached', timeout: 10_000 })

    // the safety number page shows the new key's number and the same warning
    await fitsPhone(a, 'chat with a key-change warning')
    await banner.getByRole('link', { name: 'Safety number' }).click()
    await a.locator('.safety .banner.key-changed').waitFor()
    await go(bob2.page, '#/safety/alice@example.org')
    const aDigits = (await a.locator('.safety-digits').innerText({ timeout: 15_000 })).trim()
    const bDigits = (await bob2.page.locator('.safety-digits').innerText({ timeout: 15_000 })).trim()
    assert.equal(aDigits, bDigits, 'the number alice sees is for the new key')

    await go(a, '#/chat/bob@example.org')
    await banner.getByRole('button', { name: 'Accept new key' }).click()
    await banner.waitFor({ state: 'detached', timeout: 10_000 })
    await send(a, 'bob@example.org', 'welcome back', 'sent')
    await go(bob2.page, '#/chat/alice@example.org')
    await bob2.page.locator('.msg.in').filter({ hasText: 'welcome back' }).waitFor({ timeout: 15_000 })
    assert.equal(await a.locator('.chat .badge.trust-contact-verified').count(), 0, 'accepting a key does not verify it')

    // verified again, for the new key: a call shows "Verified contact" and the safety number in place
    await go(a, '#/safety/bob@example.org')
    await a.getByRole('button', { name: 'Mark as verified' }).click()
    await a.getByRole('button', { name: 'Clear verification' }).waitFor()
    await go(a, '#/chat/bob@example.org')
    await a.getByRole('button', { name: 'Call', exact: true }).click()
    await bob2.page.getByRole('dialog', { name: 'alice@example.org' }).waitFor({ timeout: 20_000 })
    await bob2.page.getByRole('button', { name: 'Answer' }).click()
    await a.locator('.duration[data-state="active"]').waitFor({ timeout: 20_000 })
    await a.locator('.in-call .badge.trust-contact-verified').filter({ hasText: 'Verified contact' }).waitFor()
    await a.locator('.call-safety summary').click()
    await a.locator('.call-safety .safety-digits').filter({ hasText: /^\d/ }).waitFor()
    assert.equal((await a.locator('.call-safety .safety-digits').innerText()).trim(), bDigits)
    await a.getByRole('button', { name: 'Hang up' }).click()
    await a.locator('.in-call').waitFor({ state: 'detached', timeout: 10_000 })
    assert.deepEqual([...alice.errors, ...bob2.errors], [])
  })
})
