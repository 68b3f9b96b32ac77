/**
 * The Chromium extension, loaded unpacked into Debian's Chromium: a sip: link
 * on an ordinary web page opens Peerline's call window, which asks first and
 * then dials Bob (the PWA in another Chromium profile) through a real
 * supernode process (a click made by page script opens nothing); Bob
 * answers and audio RTP flows both ways. An ordinary link on the same page
 * still navigates. The steps run in order and build on each other.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import type { BrowserContext, Page, Worker } from 'playwright-core'
import { buildPwa, ROOT } from '../../build/build.ts'
import { buildExtensions } from '../../build/extension.ts'
import { serveApp } from '../../supernode/web.ts'
import type { WebServer } from '../../supernode/web.ts'
import { CHROMIUM, CHROMIUM_ARGS, launchProfile } from '../helpers/browser.ts'
import { parseCallRoute } from '../../extension/pages/route.ts'
import { assertClickable, assertFits, visibleText } from '../helpers/layout.ts'
import { audioRtp as rtp, expectAudioBothWays, onboard, submitIdentityForm } from '../helpers/pwa.ts'
import { spawnSupernode } from '../helpers/supernode-process.ts'
import { eventually } from '../helpers/eventually.ts'
import type { SupernodeProcess } from '../helpers/supernode-process.ts'

/** Joining the overlay and publishing a record takes a few seconds on loopback; generous for a loaded 2-core machine. */
const ONLINE_TIMEOUT = 45_000
const CALL_TIMEOUT = 30_000
/** The toolbar popup's width (body.ext-popup in extension/pages/extension.css). */
const PANEL = { width: 360, height: 600 }
/** Where the run leaves pictures of the pages for a person to look at. */
const SCREENSHOTS = join(ROOT, 'dist', 'screenshots')

const LINK_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>Links</title></head><body>
<p><a id="sip" href="sip:bob@example.org">Call Bob</a></p>
<p><a id="plain" href="/other.html">Other page</a></p>
<p><a id="nobody" href="SIP:nobody@example.org"><span>Nobody</span></a></p>
<p id="clicks"></p>
<script>
  // the page's own click handling keeps working: it logs every link click that reaches it, and whether its default was taken away
  document.addEventListener('click', e => {
    const a = e.target.closest('a')
    if (a !== null) document.getElementById('clicks').textContent += a.id + (e.defaultPrevented ? ':prevented ' : ':default ')
  })
</script>
</body></html>`

const OTHER_PAGE = '<!doctype html><html><head><meta charset="utf-8"><title>Other</title></head><body><h1>Other page</h1></body></html>'

describe('Chromium extension: a sip: link on a web page becomes a call to a PWA user', { timeout: 400_000 }, () => {
  let sn: SupernodeProcess
  let web: WebServer
  let links: Server
  let linksUrl: string
  let alice: BrowserContext
  let bob: BrowserContext
  let bobPage: Page
  let extensionId: string
  let callWindow: Page
  let serviceWorker: Worker
  /** ids of the extension's notifications (chrome.notifications, read in its service worker) */
  const notifications = async (): Promise<string[]> =>
    await serviceWorker.evaluate(async () => Object.keys(await (globalThis as any).chrome.notifications.getAll()))
  const dirs: string[] = []
  const errors: string[] = []

  const tempDir = async (prefix: string): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), prefix))
    dirs.push(dir)
    return dir
  }

  before(async () => {
    const extRoot = await tempDir('peerline-ext-build-')
    const [ext, pwa] = await Promise.all([
      buildExtensions({ targets: ['chromium'], outDir: extRoot, packageDir: null, minify: false }),
      buildPwa({ minify: false, outDir: await tempDir('peerline-ext-pwa-') })
    ])
    const extDir = ext[0]?.dir as string
    sn = await spawnSupernode()
    web = await serveApp({ root: pwa.outDir, host: '127.0.0.1', port: 0, config: () => ({ supernodes: [sn.addr] }) })
    links = createServer((req, res) => {
      const body = req.url === '/other.html' ? OTHER_PAGE : LINK_PAGE
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      res.end(body)
    })
    await new Promise<void>(resolve => { links.listen(0, '127.0.0.1', resolve) })
    const address = links.address()
    assert.ok(address !== null && typeof address === 'object')
    linksUrl = `http://127.0.0.1:${address.port}/`

    alice = await chromium.launchPersistentContext(await tempDir('peerline-ext-alice-'), {
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_ARGS, `--disable-extensions-except=${extDir}`, `--load-extension=${extDir}`],
      permissions: ['microphone']
    })
    alice.on('page', p => { p.on('pageerror', err => errors.push(`${p.url()}: ${err.message}`)) })
    const worker: Worker = alice.serviceWorkers()[0] ?? await alice.waitForEvent('serviceworker', { timeout: 20_000 }).catch(() => {
      throw new Error(`Chromium started no extension service worker: did ${CHROMIUM} refuse --load-extension?`)
    })
    extensionId = new URL(worker.url()).host
    serviceWorker = worker
  })

  after(async () => {
    await alice?.close()
    await bob?.close()
    await web?.close()
    await new Promise<void>(resolve => { if (links !== undefined) links.close(() => { resolve() }); else resolve() })
    await sn?.kill()
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it('the extension onboards alice in its options page and goes online through the configured supernode', async () => {
    const options = await alice.newPage()
    await options.goto(`chrome-extension://${extensionId}/options.html`)
    await options.getByRole('button', { name: 'Create identity' }).waitFor()
    const first = await visibleText(options)
    assert.doesNotMatch(first, /Offline|reconnecting/i, 'nothing is offline before anything is set up')
    await submitIdentityForm(options, 'alice@example.org', 'Alice')
    const supernodes = options.getByRole('textbox', { name: /^Supernodes/ })
    // no supernode yet: "Advanced" opens by itself, where their addresses go
    await supernodes.waitFor({ timeout: ONLINE_TIMEOUT })
    const settings = await visibleText(options)
    assert.match(settings, /Advanced/)
    assert.doesNotMatch(settings, /npm|multiaddr|\/p2p\//i, 'no developer words outside Advanced')
    assert.doesNotMatch(settings, /the browser may clear/i, 'an extension\'s storage is not the browser\'s to clear')
    await supernodes.fill(sn.addr)
    await options.getByRole('button', { name: 'Save supernodes' }).click()
    await options.getByText('Saved and reconnected.').waitFor({ timeout: ONLINE_TIMEOUT })
    await options.getByRole('status').filter({ hasText: /^Online/ }).waitFor({ timeout: ONLINE_TIMEOUT })
    await mkdir(SCREENSHOTS, { recursive: true })
    await options.screenshot({ path: join(SCREENSHOTS, 'chromium-options.png'), fullPage: true })
    // the device runs in the offscreen document, not in this page: closing the page keeps alice online
    await options.close()
    const popup = await alice.newPage()
    await popup.goto(`chrome-extension://${extensionId}/popup.html`)
    await popup.getByRole('status').filter({ hasText: /^Online/ }).waitFor({ timeout: ONLINE_TIMEOUT })
    assert.match(await popup.locator('.me').innerText(), /alice@example\.org/)
    await popup.close()
  })

  it('bob runs the PWA in another profile and is online', async () => {
    bob = await launchProfile(await tempDir('peerline-ext-bob-'))
    bobPage = bob.pages()[0] ?? await bob.newPage()
    bobPage.on('pageerror', err => errors.push(`bob: ${err.message}`))
    await bobPage.goto(web.url)
    await onboard(bobPage, 'bob@example.org', 'Bob', ONLINE_TIMEOUT)
  })

  it('the toolbar popup lists buddies with their presence: bob shows Online', async () => {
    const popup = await alice.newPage()
    await popup.goto(`chrome-extension://${extensionId}/popup.html`)
    await popup.getByRole('textbox', { name: "Buddy's email address" }).fill('bob@example.org')
    await popup.getByRole('button', { name: 'Add buddy' }).click()
    const buddy = popup.locator('li.buddy').filter({ hasText: 'bob@example.org' })
    await buddy.locator('.presence.online').waitFor({ timeout: ONLINE_TIMEOUT })
    assert.equal(await buddy.locator('.presence').innerText(), 'Online')
    await popup.close()
  })

  it('the popup at its real width: with long names every Dial and Remove button is inside it and takes a real mouse click; names cut, whole on hover', async () => {
    const popup = await alice.newPage()
    await popup.setViewportSize(PANEL)
    await popup.goto(`chrome-extension://${extensionId}/popup.html`)
    const LONG = ['maximiliane.alexandra.von.hohenzollern@sigmaringen.example.org', 'bartholomew.fitzgerald-montgomery@a-very-long-domain-name.example.com']
    for (const aor of LONG) {
      await popup.getByRole('textbox', { name: "Buddy's email address" }).fill(aor)
      await popup.getByRole('button', { name: 'Add buddy' }).click()
      await popup.locator(`li.buddy[data-aor="${aor}"]`).waitFor()
    }
    await popup.locator('li.buddy[data-aor="bob@example.org"] .presence.online').waitFor({ timeout: ONLINE_TIMEOUT })
    await assertFits(popup, 'popup with long names')
    const n = await assertClickable(popup, 'li.buddy .buddy-actions button', 'popup')
    assert.equal(n, 6, 'Dial and Remove on each of the three rows')
    for (const aor of LONG) {
      const name = popup.locator(`li.buddy[data-aor="${aor}"] .buddy-name .aor`)
      assert.equal(await name.getAttribute('title'), aor, 'the whole address on hover')
      assert.ok(await name.evaluate(e => e.scrollWidth > e.clientWidth), `${aor} cut with an ellipsis`)
      assert.ok(((await name.boundingBox())?.height ?? 99) < 30, `${aor} on one line`)
    }
    await popup.screenshot({ path: join(SCREENSHOTS, 'chromium-popup.png'), fullPage: true })
    // a real mouse click, at the button's centre, on the longest row's last button
    const remove = popup.getByRole('button', { name: `Remove ${LONG[0] as string}` })
    const box = await remove.boundingBox()
    assert.ok(box !== null)
    await popup.mouse.click(box.x + box.width / 2, box.y + box.height / 2)
    await popup.locator(`li.buddy[data-aor="${LONG[0] as string}"]`).waitFor({ state: 'detached' })
    await popup.getByRole('button', { name: `Remove ${LONG[1] as string}` }).click()
    await popup.locator(`li.buddy[data-aor="${LONG[1] as string}"]`).waitFor({ state: 'detached' })
    await popup.close()
  })

  it('clicking <a href="sip:bob@example.org"> opens the call window, which asks; Call dials; bob answers; audio flows both ways', async () => {
    const page = await alice.newPage()
    await page.goto(linksUrl)
    const callWindows: Page[] = []
    const count = (p: Page): void => { if (p.url().startsWith(`chrome-extension://${extensionId}/call.html`)) callWindows.push(p) }
    alice.on('page', count)
    // page script clicking a sip: link (an untrusted click) must not make Peerline call: it opens nothing
    await page.evaluate(() => {
      const a = document.getElementById('nobody') as HTMLAnchorElement
      const stay = (e: Event): void => { e.preventDefault() }
      a.addEventListener('click', stay)
      a.click()
      a.dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true, button: 0 }))
      a.removeEventListener('click', stay)
      document.getElementById('clicks')!.textContent = ''
    })
    // then the user clicks bob's link: the first (and only) call window is bob's, asked for after the scripted ones
    const opened = alice.waitForEvent('page', { predicate: p => p.url().startsWith(`chrome-extension://${extensionId}/call.html`), timeout: 15_000 })
    await page.locator('#sip').click()
    callWindow = await opened
    assert.deepEqual(parseCallRoute(new URL(callWindow.url()).hash), { kind: 'dial', target: 'sip:bob@example.org' }, 'the scripted clicks opened no call window')
    // a link asks before dialling
    const confirm = callWindow.getByRole('dialog', { name: 'Call sip:bob@example.org?' })
    await confirm.waitFor({ timeout: CALL_TIMEOUT })
    alice.off('page', count)
    assert.deepEqual(callWindows.map(p => p.url()), [callWindow.url()], 'only the real click opened a call window')
    await callWindow.getByRole('button', { name: 'Call', exact: true }).click()
    // the page itself stayed where it was, and its own click handler still saw the click
    assert.equal(page.url(), linksUrl)
    assert.equal((await page.locator('#clicks').innerText()).trim(), 'sip:prevented', 'the extension took only the sip: link\'s default action')

    const ringing = bobPage.getByRole('dialog', { name: 'alice@example.org' })
    await ringing.waitFor({ timeout: CALL_TIMEOUT })
    assert.match(await ringing.innerText(), /Not verified — anyone can claim this address/) // self-issued: the same words as the PWA (shared/ui/trust-text.ts)
    await bobPage.getByRole('button', { name: 'Answer' }).click()

    await callWindow.locator('.duration[data-state="active"]').waitFor({ timeout: CALL_TIMEOUT })
    await bobPage.locator('.duration[data-state="active"]').waitFor({ timeout: CALL_TIMEOUT })
    assert.equal(await callWindow.locator('audio.remote-audio').evaluate(el => (el as HTMLAudioElement).srcObject !== null), true,
      'the call window plays the remote audio')

    // the fake microphone beeps once a second: sound, not silence, arrives on both sides
    const { first, second } = await expectAudioBothWays({ alice: async () => await rtp(callWindow, 'extension'), bob: async () => await rtp(bobPage, 'pwa') })
    console.info(`RTP packets: ${JSON.stringify(first)} → ${JSON.stringify(second)}`)

    await bobPage.getByRole('button', { name: 'Hang up' }).click()
    await callWindow.locator('.duration[data-state="ended"]').waitFor({ timeout: 10_000 })
    await page.close()
  })

  it('an incoming call rings: the extension opens its call window, alice answers there, audio flows', async () => {
    await callWindow.close()
    const opened = alice.waitForEvent('page', { predicate: p => p.url().startsWith(`chrome-extension://${extensionId}/call.html#/incoming/`), timeout: CALL_TIMEOUT })
    await bobPage.getByRole('textbox', { name: 'Call or message' }).fill('alice@example.org')
    await bobPage.getByRole('button', { name: 'Call', exact: true }).click()
    const incoming = await opened
    const ringing = incoming.getByRole('dialog', { name: 'bob@example.org' })
    await ringing.waitFor({ timeout: CALL_TIMEOUT })
    // bob is self-issued: the call window says exactly what the PWA says (one TrustBadge, shared/ui/trust-text.ts)
    assert.equal((await ringing.locator('.badge.trust').innerText()).trim(), '⚠ Not verified — anyone can claim this address')
    assert.equal(await ringing.locator('.badge.trust-success').count(), 0)
    const callId = decodeURIComponent(new URL(incoming.url()).hash.slice('#/incoming/'.length))
    assert.deepEqual(await notifications(), [`peerline-call:${callId}`], 'a notification rings too')
    // clicking the notification brings this window back instead of opening a second one on the same call
    const extra: Page[] = []
    const count = (p: Page): void => { if (p.url().startsWith(`chrome-extension://${extensionId}/call.html`)) extra.push(p) }
    alice.on('page', count)
    await serviceWorker.evaluate(async id => { await (globalThis as any).peerlineShowIncomingWindow(id) }, callId)
    alice.off('page', count)
    assert.deepEqual(extra, [], 'the notification click focused the ringing window')
    await incoming.getByRole('button', { name: 'Answer' }).click()
    await incoming.locator('.duration[data-state="active"]').waitFor({ timeout: CALL_TIMEOUT })
    await bobPage.locator('.duration[data-state="active"]').waitFor({ timeout: CALL_TIMEOUT })
    await eventually(async () => (await notifications()).length === 0, { timeoutMs: 5_000, what: 'the ring notification cleared once answered' })
    const first = await rtp(incoming, 'extension')
    await eventually(async () => {
      const now = await rtp(incoming, 'extension')
      return now.sent > first.sent && now.received > first.received
    }, { timeoutMs: 10_000, what: 'RTP both ways in the answered call' })
    // closing the call window hangs up: the window is the call
    await incoming.close()
    await bobPage.getByRole('textbox', { name: 'Call or message' }).waitFor({ state: 'visible', timeout: 10_000 })
  })

  it('a sip: link (or the popup\'s dial box) to someone who is not online: the call window says so', async () => {
    const page = await alice.newPage()
    await page.goto(linksUrl)
    const opened = alice.waitForEvent('page', { predicate: p => p.url().startsWith(`chrome-extension://${extensionId}/call.html`), timeout: 15_000 })
    // upper-case scheme, and the click lands on a child of the link
    await page.locator('#nobody span').click()
    const asked = await opened
    // Cancel closes the window without calling; the same link again, then Call
    await asked.getByRole('dialog', { name: 'Call sip:nobody@example.org?' }).waitFor({ timeout: CALL_TIMEOUT })
    await Promise.all([asked.waitForEvent('close', { timeout: 10_000 }), asked.getByRole('button', { name: 'Cancel' }).click()])
    const reopened = alice.waitForEvent('page', { predicate: p => p.url().startsWith(`chrome-extension://${extensionId}/call.html`), timeout: 15_000 })
    await page.locator('#nobody span').click()
    const win = await reopened
    await win.getByRole('button', { name: 'Call', exact: true }).click()
    await win.getByRole('alert').filter({ hasText: 'nobody@example.org is not online right now.' }).waitFor({ timeout: CALL_TIMEOUT })
    await win.close()
    await page.close()

    // the popup's dial box opens the same call window, which dials without asking: the user just asked
    const popup = await alice.newPage()
    await popup.goto(`chrome-extension://${extensionId}/popup.html`)
    const fromPopup = alice.waitForEvent('page', { predicate: p => p.url().startsWith(`chrome-extension://${extensionId}/call.html`), timeout: 15_000 })
    await popup.getByRole('textbox', { name: 'Email or sip: address' }).fill('carol@example.org')
    await popup.getByRole('button', { name: 'Call', exact: true }).click()
    const win2 = await fromPopup
    await win2.getByRole('alert').filter({ hasText: 'carol@example.org is not online right now.' }).waitFor({ timeout: CALL_TIMEOUT })
    await win2.close()
    if (!popup.isClosed()) await popup.close()
  })

  it('an ordinary link on the same page still navigates normally', async () => {
    const page = await alice.newPage()
    await page.goto(linksUrl)
    await page.evaluate(() => { addEventListener('beforeunload', () => { sessionStorage.setItem('clicks', document.getElementById('clicks')?.textContent ?? '') }) })
    await Promise.all([page.waitForURL(`${linksUrl}other.html`, { timeout: 10_000 }), page.locator('#plain').click()])
    assert.equal((await page.evaluate(() => sessionStorage.getItem('clicks')))?.trim(), 'plain:default', 'the extension left the ordinary link alone')
    assert.equal(await page.getByRole('heading').innerText(), 'Other page')
    await page.close()
    assert.deepEqual(errors, [], 'no uncaught errors in any page')
  })
})
