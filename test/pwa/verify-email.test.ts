/**
 * "Verify my email address" in the PWA, driven like a person would, in real
 * Chromium: a real supernode runs the CA and mails the code to a real SMTP
 * server on loopback; the code read from that mail is typed into Settings
 * (a wrong one first), Settings then says who verified the address, and a
 * Node client trusting the CA finds the CA-issued certificate in the DHT.
 * The mail's `#/verify/<id>/<code>` link completes a second verification.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { findCaCode, fingerprint, fromBase64Url } from '../../shared/identity/index.ts'
import type { Overlay } from '../../shared/overlay/index.ts'
import type { Supernode } from '../../supernode/supernode.ts'
import type { WebServer } from '../../supernode/web.ts'
import { launchProfile } from '../helpers/browser.ts'
import { assertFits, PHONE_VIEWPORT } from '../helpers/layout.ts'
import { startDevice } from '../helpers/overlay.ts'
import { servePwa, stopPwa, submitIdentityForm } from '../helpers/pwa.ts'
import { startSmtpServer } from '../helpers/smtp.ts'
import type { TestSmtpServer } from '../helpers/smtp.ts'
import { eventually } from '../helpers/eventually.ts'

const ONLINE_TIMEOUT = 30_000

describe('PWA: verify my email address with a supernode CA (Chromium, real SMTP)', { timeout: 300_000 }, () => {
  let sn: Supernode
  let web: WebServer
  let smtp: TestSmtpServer
  let profile: string
  const dirs: string[] = []
  let context: BrowserContext
  let page: Page
  let bob: Overlay | undefined
  const errors: string[] = []

  before(async () => {
    smtp = await startSmtpServer()
    ;({ sn, web } = await servePwa('peerline-verify-build-', dirs, { caSmtpUrl: smtp.url }))
    profile = await mkdtemp(join(tmpdir(), 'peerline-verify-profile-'))
    dirs.push(profile)
    context = await launchProfile(profile)
    page = context.pages()[0] ?? await context.newPage()
    page.on('pageerror', err => errors.push(err.message))
  })

  after(async () => {
    await bob?.stop().catch(() => {})
    await context?.close().catch(() => {})
    await smtp?.close()
    await stopPwa([], web, sn, dirs)
  })

  it('the code from the mail, typed in Settings, verifies the address; others trusting the CA see it', async () => {
    const ca = sn.ca?.ca
    assert.ok(ca !== undefined)
    await page.goto(web.url)
    await submitIdentityForm(page, 'alice@example.org', 'Alice')
    await page.getByRole('status').filter({ hasText: /^Online/ }).waitFor({ timeout: ONLINE_TIMEOUT })
    await page.evaluate(() => { location.hash = '#/settings' })
    const section = page.getByRole('region', { name: 'Verify my email address' })
    await section.getByTestId('certificate-state').filter({ hasText: 'Self-issued: not verified by a CA.' }).waitFor()
    // the CA is listed with its name, key fingerprint and the supernode running it
    await section.getByText(fingerprint(fromBase64Url(ca.key))).waitFor({ timeout: 20_000 })
    await section.getByText('Test Mail CA').waitFor()
    await section.locator(`.ca-list code.peer-id[data-peer="${sn.peerId}"]`).waitFor()
    // fits a 360×640 phone without sideways scrolling
    await page.setViewportSize(PHONE_VIEWPORT)
    await assertFits(page, 'Settings with a CA listed')

    const before = smtp.mails.length
    await section.getByRole('button', { name: 'Trust this CA and request a certificate' }).click()
    const mail = await smtp.mailFor('alice@example.org', before)
    const code = findCaCode(mail.raw)
    assert.ok(code !== undefined, mail.raw)
    await section.getByText(/sent a code to alice@example\.org/).waitFor()
    await section.locator(`form code.peer-id[data-peer="${sn.peerId}"]`).waitFor()

    const box = section.getByRole('textbox', { name: /Verification code/ })
    await box.fill(code === '000000' ? '111111' : '000000')
    await section.getByRole('button', { name: 'Verify' }).click()
    await section.getByRole('alert').filter({ hasText: /not the code from the mail/ }).waitFor()
    await box.fill(code)
    await section.getByRole('button', { name: 'Verify' }).click()
    await section.getByText(/Your address is verified/).waitFor({ timeout: 20_000 })
    await section.getByTestId('certificate-state').filter({ hasText: /^Email verified by Test Mail CA until / }).waitFor()
    // trusting was part of the click: the CA is in the user's trusted list
    await page.getByRole('region', { name: 'Trusted certificate authorities' }).locator('.ca-name').filter({ hasText: 'Test Mail CA' }).waitFor()

    // the restarted session republished with the CA-issued certificate
    await page.getByRole('status').filter({ hasText: /^Online/ }).waitFor({ timeout: ONLINE_TIMEOUT })
    bob = await startDevice('bob@example.org', sn.addrs, { recordOptions: { certificate: { trustedRoots: [fromBase64Url(ca.key)] } } })
    const record = await eventually(async () => {
      const r = await bob?.lookup('alice@example.org')
      return r?.certificate.issuer === ca.key ? r : undefined
    }, { what: 'alice\'s CA-issued record', timeoutMs: 30_000 })
    assert.equal(record?.certificate.email, 'alice@example.org')

    // survives a reload
    await page.reload()
    await page.evaluate(() => { location.hash = '#/settings' })
    await section.getByTestId('certificate-state').filter({ hasText: /^Email verified by Test Mail CA/ }).waitFor({ timeout: ONLINE_TIMEOUT })
  })

  it('the link in the mail completes a verification', async () => {
    await page.evaluate(() => { location.hash = '#/settings' })
    const section = page.getByRole('region', { name: 'Verify my email address' })
    const before = smtp.mails.length
    await section.getByRole('button', { name: 'Request a certificate' }).click()
    const mail = await smtp.mailFor('alice@example.org', before)
    const link = /http:\/\/app\.example\.test\/(#\/verify\/[A-Za-z0-9_-]+\/\d{6})/.exec(mail.raw)
    assert.ok(link !== null, mail.raw)
    await page.evaluate(h => { location.hash = h }, link[1] as string)
    await page.getByText('alice@example.org is verified.').waitFor({ timeout: 30_000 })
    // used once: opening it again says so
    await page.evaluate(() => { location.hash = '#/' })
    await page.evaluate(h => { location.hash = h }, link[1] as string)
    await page.getByRole('alert').filter({ hasText: /no longer pending|no pending verification/ }).waitFor({ timeout: 20_000 })
    assert.deepEqual(errors, [])
  })
})
