/**
 * Linked devices in the PWA, driven like a person would, in real Chromium
 * profiles next to a real supernode: profile A (bob's primary) shows a
 * pairing link in Settings → Devices, profile B opens it and becomes a
 * second device of bob; a third profile (carol) calls bob and both ring;
 * A revokes B, and the next call rings only A.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Page } from 'playwright-core'
import type { Supernode } from '../../supernode/supernode.ts'
import type { WebServer } from '../../supernode/web.ts'
import { onboard as onboardPerson, openPerson, servePwa, stopPwa } from '../helpers/pwa.ts'
import type { Person } from '../helpers/pwa.ts'
import { eventually } from '../helpers/eventually.ts'

const ONLINE_TIMEOUT = 30_000

describe('PWA linked devices: pair a second browser, both ring, revoke it', { timeout: 300_000 }, () => {
  let sn: Supernode
  let web: WebServer
  const dirs: string[] = []
  const people: Person[] = []
  let a: Page
  let b: Page
  let c: Page

  const open = async (url: string): Promise<Person> => await openPerson(url, { prefix: 'peerline-linked-profile-', dirs, people })

  const onboard = async (p: Page, email: string, name: string): Promise<void> => { await onboardPerson(p, email, name, ONLINE_TIMEOUT) }

  /** The devices carol's overlay finds in bob's location record. */
  async function bobDevices (): Promise<string[]> {
    return await c.evaluate(async () => {
      try {
        const record = await (globalThis as any).peerline.overlay.lookup('bob@example.org')
        return record.devices.map((d: { peerId: string }) => d.peerId) as string[]
      } catch {
        return []
      }
    })
  }

  const peerIdOf = async (p: Page): Promise<string> => await p.evaluate(() => (globalThis as any).peerline.overlay.peerId as string)
  const ringing = (p: Page) => p.getByRole('dialog', { name: 'carol@example.org' })

  before(async () => {
    ;({ sn, web } = await servePwa('peerline-linked-build-', dirs))
  })

  after(async () => {
    await stopPwa(people, web, sn, dirs)
  })

  it('A shows a pairing link with a QR code and a code; B opens it and becomes a device of bob', async () => {
    a = (await open(web.url)).page
    await onboard(a, 'bob@example.org', 'Bob')
    await a.evaluate(() => { location.hash = '#/settings' })
    const devices = a.getByRole('region', { name: 'Devices' })
    await devices.waitFor({ timeout: 10_000 })
    assert.match(await devices.locator('.device').first().innerText(), /this device/)
    await devices.getByRole('button', { name: 'Link a new device' }).click()
    const linkBox = devices.getByRole('textbox', { name: 'Pairing link' })
    await linkBox.waitFor({ timeout: 10_000 })
    const link = await linkBox.inputValue()
    assert.match(link, /#\/pair\/[A-Za-z0-9_-]+$/)
    const code = await devices.locator('.pairing-code').innerText()
    assert.match(code, /^\d{6}$/)
    assert.equal(await devices.getByRole('img', { name: 'Pairing link QR code' }).getAttribute('data-qr'), link)

    b = (await open(link)).page
    // B shows whose identity it would join and the code to compare, and links only when asked to
    const confirm = b.getByRole('button', { name: 'Link this browser to bob@example.org' })
    await confirm.waitFor({ timeout: 10_000 })
    assert.equal(await b.locator('.pairing-code').innerText(), code)
    assert.equal(await b.locator('.pairing-address').innerText(), 'bob@example.org')
    await new Promise(resolve => setTimeout(resolve, 1_000))
    assert.equal(await devices.locator('.device').count(), 1, 'nothing is linked before the click')
    await confirm.click()
    await b.locator('.me').filter({ hasText: 'bob@example.org' }).waitFor({ timeout: ONLINE_TIMEOUT })
    await b.getByRole('status').filter({ hasText: /^Online/ }).waitFor({ timeout: ONLINE_TIMEOUT })
    // the linked browser never received the identity key
    const stored = await b.evaluate(async () => {
      const identity = (globalThis as any).peerline.overlay.identity
      return { hasKey: identity.privateKey !== undefined, device: identity.deviceCertificate?.peerId }
    })
    assert.equal(stored.hasKey, false)
    assert.equal(stored.device, await peerIdOf(b))
    // A's list shows the new device; the link is gone
    await devices.locator('.device').nth(1).waitFor({ timeout: 10_000 })
    assert.equal(await devices.locator('.device').count(), 2)
    assert.equal(await linkBox.count(), 0)
    // B's settings list both, B marked as this device, no revoke buttons there
    await b.evaluate(() => { location.hash = '#/settings' })
    const bDevices = b.getByRole('region', { name: 'Devices' })
    await bDevices.locator('.device').nth(1).waitFor({ timeout: 10_000 })
    assert.match(await bDevices.locator(`.device[data-peer="${await peerIdOf(b)}"]`).innerText(), /this device/)
    assert.equal(await bDevices.getByRole('button', { name: 'Revoke' }).count(), 0)
  })

  it('carol calls bob: both of bob\'s browsers ring', async () => {
    c = (await open(web.url)).page
    await onboard(c, 'carol@example.org', 'Carol')
    const both = [await peerIdOf(a), await peerIdOf(b)].sort()
    await eventually(async () => JSON.stringify((await bobDevices()).sort()) === JSON.stringify(both), { timeoutMs: 30_000, what: 'both of bob\'s devices in his record' })
    await c.evaluate(() => { location.hash = '#/call/sip%3Abob%40example.org' })
    await ringing(a).waitFor({ timeout: 20_000 })
    await ringing(b).waitFor({ timeout: 20_000 })
    await a.getByRole('button', { name: 'Decline' }).click()
    await ringing(b).waitFor({ state: 'detached', timeout: 15_000 })
    await ringing(a).waitFor({ state: 'detached', timeout: 15_000 })
  })

  it('A revokes B in Settings: the next call rings only A', async () => {
    const bPeer = await peerIdOf(b)
    const row = a.locator(`.device[data-peer="${bPeer}"]`)
    await row.getByRole('button', { name: 'Revoke' }).click()
    await row.getByRole('button', { name: /^Revoke “/ }).click()
    await a.getByRole('region', { name: 'Devices' }).locator('.done').filter({ hasText: 'was removed' }).waitFor({ timeout: 20_000 })
    assert.equal(await row.count(), 0)
    const aPeer = await peerIdOf(a)
    await eventually(async () => JSON.stringify(await bobDevices()) === JSON.stringify([aPeer]), { timeoutMs: 30_000, what: 'bob\'s record without the revoked browser' })

    await c.evaluate(() => { location.hash = '#/call/sip%3Abob%40example.org' })
    await ringing(a).waitFor({ timeout: 20_000 })
    // B would have rung by now: the fork reaches every listed device at once
    await new Promise(resolve => setTimeout(resolve, 3_000))
    assert.equal(await ringing(b).count(), 0, 'the revoked browser does not ring')
    await a.getByRole('button', { name: 'Decline' }).click()
    await ringing(a).waitFor({ state: 'detached', timeout: 15_000 })
  })

  it('the revoked browser learns it on its next publish and says so', async () => {
    const outcome = await b.evaluate(async () => await (globalThis as any).peerline.overlay.publish().then(() => 'published', (e: Error) => e.name))
    assert.equal(outcome, 'DeviceRevokedError')
    await b.getByRole('alert').filter({ hasText: 'removed' }).first().waitFor({ timeout: 10_000 })
    await b.getByRole('region', { name: 'Devices' }).getByText('This browser was removed from your identity').waitFor({ timeout: 10_000 })
  })

  it('onboarding: "Link to an existing identity" names a damaged link', async () => {
    const d = (await open(web.url)).page
    await d.getByText('Link to an existing identity').click()
    await d.getByRole('textbox', { name: 'Pairing link from your other device' }).fill(`${web.url}#/pair/not-an-offer`)
    await d.getByRole('button', { name: 'Link this device' }).click()
    await d.getByRole('alert').filter({ hasText: 'not a Peerline pairing link' }).waitFor({ timeout: 10_000 })
    for (const p of people) assert.deepEqual(p.errors, [], 'no uncaught page errors')
  })
})
