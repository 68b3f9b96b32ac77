/**
 * Accessibility is checked, not hoped for: an axe-core audit (WCAG 2.1 A and
 * AA) of every PWA screen and of the browser extension's pages, at a phone
 * viewport, in real Chromium. A serious or critical violation fails the test
 * with the rule, the element and axe's summary.
 *
 * PWA screens: onboarding, home, chat, safety number, history, settings,
 * email verification, device pairing, the incoming call and the call screen,
 * each in the light and the dark colour scheme (two people, one real supernode). Extension: options
 * (before and after creating an identity), the toolbar popup and the call
 * window's confirmation.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import type { BrowserContext, Page } from 'playwright-core'
import { buildExtensions } from '../../build/extension.ts'
import type { Supernode } from '../../supernode/supernode.ts'
import type { WebServer } from '../../supernode/web.ts'
import { CHROMIUM, CHROMIUM_ARGS } from '../helpers/browser.ts'
import { auditBothSchemes, describeFindings } from '../helpers/axe.ts'
import type { AxeFinding } from '../helpers/axe.ts'
import { onboard, openPerson, servePwa, stopPwa, submitIdentityForm } from '../helpers/pwa.ts'
import type { Person } from '../helpers/pwa.ts'

/** A common phone (CSS pixels). */
const PHONE = { width: 390, height: 844 }
const ONLINE_TIMEOUT = 45_000
const CALL_TIMEOUT = 30_000

async function go (p: Page, hash: string): Promise<void> {
  await p.evaluate(h => { location.hash = h }, hash)
}

describe('accessibility: every PWA screen passes axe (WCAG 2.1 A/AA) at a phone viewport', { timeout: 400_000 }, () => {
  let sn: Supernode
  let web: WebServer
  const dirs: string[] = []
  const people: Person[] = []
  let findings: Record<string, AxeFinding[]> = {}
  const audit = async (p: Page, screen: string): Promise<void> => { await auditBothSchemes(p, screen, findings) }

  before(async () => {
    ;({ sn, web } = await servePwa('peerline-a11y-build-', dirs))
  })
  after(async () => { await stopPwa(people, web, sn, dirs) })

  it('onboarding, home, chat, safety number, history, settings, verification and pairing screens', async () => {
    const alice = await openPerson(web.url, { prefix: 'peerline-a11y-alice-', dirs, people, viewport: PHONE })
    const a = alice.page
    await a.getByRole('button', { name: 'Create identity' }).waitFor()
    await audit(a, 'onboarding')
    await onboard(a, 'alice@example.org', 'Alice', ONLINE_TIMEOUT)
    await audit(a, 'home')
    // each screen by its route, audited once its own heading is shown
    const screens: Array<[name: string, hash: string, heading: string | RegExp]> = [
      ['chat', '#/chat/bob@example.org', 'bob@example.org'],
      ['safety number', '#/safety/bob@example.org', 'Safety number with bob@example.org'],
      ['history', '#/history', 'Recent calls'],
      ['settings', '#/settings', 'Trusted certificate authorities'],
      ['email verification', '#/verify', /^Verif/],
      ['pairing', '#/pair', 'Link this browser']
    ]
    for (const [name, hash, heading] of screens) {
      await go(a, hash)
      await a.waitForFunction(h => location.hash === h, hash)
      await a.locator('main h2').filter({ hasText: heading }).first().waitFor()
      await audit(a, name)
    }
    assert.deepEqual(alice.errors, [])
    assert.equal(describeFindings(findings), '', 'no serious or critical accessibility violation')
  })

  it('the incoming call and the call screen', async () => {
    findings = {}
    const alice = people[0] as Person
    const bob = await openPerson(web.url, { prefix: 'peerline-a11y-bob-', dirs, people, viewport: PHONE })
    await onboard(bob.page, 'bob@example.org', 'Bob', ONLINE_TIMEOUT)
    const a = alice.page
    const b = bob.page
    await go(a, '#/')
    await a.getByRole('textbox', { name: 'Call or message' }).fill('bob@example.org')
    await a.getByRole('button', { name: 'Call', exact: true }).click()
    const ringing = b.getByRole('dialog', { name: 'alice@example.org' })
    await ringing.waitFor({ timeout: CALL_TIMEOUT })
    await audit(b, 'incoming call')
    await b.getByRole('button', { name: 'Answer' }).click()
    await a.locator('.duration[data-state="active"]').waitFor({ timeout: CALL_TIMEOUT })
    await b.locator('.duration[data-state="active"]').waitFor({ timeout: CALL_TIMEOUT })
    await audit(a, 'call screen (caller)')
    await audit(b, 'call screen (callee)')
    await a.getByRole('button', { name: 'Hang up' }).click()
    await a.locator('.duration[data-state="active"]').waitFor({ state: 'detached', timeout: 10_000 })
    assert.deepEqual([...alice.errors, ...bob.errors], [])
    assert.equal(describeFindings(findings), '', 'no serious or critical accessibility violation')
  })
})

describe('accessibility: the Chromium extension\'s pages pass axe (WCAG 2.1 A/AA) at a phone viewport', { timeout: 300_000 }, () => {
  const dirs: string[] = []
  let context: BrowserContext | undefined
  let extensionId: string
  const findings: Record<string, AxeFinding[]> = {}

  const tempDir = async (prefix: string): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), prefix))
    dirs.push(dir)
    return dir
  }

  before(async () => {
    const built = await buildExtensions({ targets: ['chromium'], outDir: await tempDir('peerline-a11y-ext-'), packageDir: null, minify: false })
    const extDir = built[0]?.dir as string
    context = await chromium.launchPersistentContext(await tempDir('peerline-a11y-ext-profile-'), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: PHONE,
      args: [...CHROMIUM_ARGS, `--disable-extensions-except=${extDir}`, `--load-extension=${extDir}`]
    })
    const worker = context.serviceWorkers()[0] ?? await context.waitForEvent('serviceworker', { timeout: 20_000 })
    extensionId = new URL(worker.url()).host
  })
  after(async () => {
    await context?.close()
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it('options (before and after creating an identity), popup and call window', async () => {
    assert.ok(context !== undefined)
    const errors: string[] = []
    const page = async (path: string): Promise<Page> => {
      const p = await (context as BrowserContext).newPage()
      p.on('pageerror', err => errors.push(`${path}: ${err.message}`))
      await p.goto(`chrome-extension://${extensionId}/${path}`)
      return p
    }
    const options = await page('options.html')
    await options.getByRole('button', { name: 'Create identity' }).waitFor()
    const audit = async (p: Page, screen: string): Promise<void> => { await auditBothSchemes(p, screen, findings) }
    await audit(options, 'options: create an identity')
    await submitIdentityForm(options, 'alice@example.org', 'Alice')
    await options.getByRole('textbox', { name: /^Supernodes/ }).waitFor({ timeout: ONLINE_TIMEOUT })
    await audit(options, 'options')
    const popup = await page('popup.html')
    await popup.getByRole('textbox', { name: "Buddy's email address" }).fill('bartholomew.fitzgerald-montgomery@a-very-long-domain-name.example.com')
    await popup.getByRole('button', { name: 'Add buddy' }).click()
    // a buddy row (shared/ui/BuddyRow.tsx): presence words, trust badge, icon buttons
    await popup.locator('li.buddy .presence').waitFor()
    await audit(popup, 'popup')
    const call = await page(`call.html#/call/${encodeURIComponent('sip:bob@example.org')}`)
    await call.getByRole('dialog', { name: 'Call sip:bob@example.org?' }).waitFor({ timeout: CALL_TIMEOUT })
    await audit(call, 'call window')
    assert.deepEqual(errors, [])
    assert.equal(describeFindings(findings), '', 'no serious or critical accessibility violation')
  })
})
