/**
 * The Firefox extension (the packaged .xpi) sideloaded into Debian's Firefox
 * ESR: a real click on a sip: link on an ordinary web page opens Peerline's
 * call window; alice sets Peerline up from there (options page), then the
 * link dials Bob (the PWA in Chromium) through a real supernode process; Bob
 * answers and audio RTP flows both ways. Firefox is driven over WebDriver
 * BiDi (test/helpers/firefox.ts). The steps run in order and build on each
 * other. Skipped when Firefox is not installed, unless CI=true.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { buildPwa } from '../../build/build.ts'
import { buildExtensions } from '../../build/extension.ts'
import { serveApp } from '../../supernode/web.ts'
import type { WebServer } from '../../supernode/web.ts'
import { launchProfile } from '../helpers/browser.ts'
import { Firefox, firefoxAvailable } from '../helpers/firefox.ts'
import { parseCallRoute } from '../../extension/pages/route.ts'
import { audioRtp, expectAudioBothWays, onboard } from '../helpers/pwa.ts'
import { spawnSupernode } from '../helpers/supernode-process.ts'
import type { SupernodeProcess } from '../helpers/supernode-process.ts'

/** Joining the overlay and publishing a record takes a few seconds on loopback; generous for a loaded 2-core machine. */
const ONLINE_TIMEOUT = 45_000
const CALL_TIMEOUT = 30_000

const LINK_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>Links</title></head><body>
<p><a id="sip" href="sip:bob@example.org" style="font-size: 32px">Call Bob</a></p>
</body></html>`

const skip = !firefoxAvailable()

describe('Firefox extension: a sip: link on a web page becomes a call to a PWA user', { timeout: 400_000, skip }, () => {
  let sn: SupernodeProcess
  let web: WebServer
  let links: Server
  let linksUrl: string
  let ff: Firefox
  let uuid: string
  let bob: BrowserContext
  let bobPage: Page
  const dirs: string[] = []
  const errors: string[] = []
  const ext = (path: string): string => `moz-extension://${uuid}/${path}`

  const tempDir = async (prefix: string): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), prefix))
    dirs.push(dir)
    return dir
  }

  before(async () => {
    const extRoot = await tempDir('peerline-ff-build-')
    const [built, pwa] = await Promise.all([
      buildExtensions({ targets: ['firefox'], outDir: join(extRoot, 'unpacked'), packageDir: extRoot, minify: false }),
      buildPwa({ minify: false, outDir: await tempDir('peerline-ff-pwa-') })
    ])
    const xpi = built[0]?.archive
    assert.ok(xpi !== undefined, 'the Firefox build produced an .xpi')
    sn = await spawnSupernode()
    web = await serveApp({ root: pwa.outDir, host: '127.0.0.1', port: 0, config: () => ({ supernodes: [sn.addr] }) })
    links = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      res.end(LINK_PAGE)
    })
    await new Promise<void>(resolve => { links.listen(0, '127.0.0.1', resolve) })
    const address = links.address()
    assert.ok(address !== null && typeof address === 'object')
    linksUrl = `http://127.0.0.1:${address.port}/`
    ff = await Firefox.launch(await tempDir('peerline-ff-alice-'), xpi)
    uuid = await ff.extensionUuid()
  })

  after(async () => {
    await ff?.close()
    await bob?.close()
    await web?.close()
    await new Promise<void>(resolve => { if (links !== undefined) links.close(() => { resolve() }); else resolve() })
    await sn?.kill()
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it('before setup, a clicked sip: link opens the call window, which leads to the options page; alice onboards there and goes online', async () => {
    const page = await ff.newTab(linksUrl)
    await ff.click(page, '#sip')
    const call = await ff.waitForContext(url => url.startsWith(ext('call.html')), CALL_TIMEOUT)
    await ff.until(call, 'return document.body.innerText.includes(\'Set up Peerline first\')', CALL_TIMEOUT, 'the call window to ask for setup')
    await ff.run(call, '$button(\'Open Peerline settings\').click(); return true')
    const options = await ff.waitForContext(url => url.startsWith(ext('options.html')), CALL_TIMEOUT)
    await ff.closeContext(call)
    await ff.until(options, 'return $label(\'Email address\') !== null', ONLINE_TIMEOUT, 'the onboarding form')
    await ff.run(options, '$fill($label(\'Email address\'), \'alice@example.org\'); $fill($label(\'Display name\'), \'Alice\'); return true')
    await ff.run(options, '$button(\'Create identity\').click(); return true')
    await ff.until(options, 'return $label(\'Supernodes\') !== null', ONLINE_TIMEOUT, 'the settings after onboarding')
    // a separate step each: the form reads the value once the page has re-rendered with it
    await ff.run(options, `$fill($label('Supernodes'), ${JSON.stringify(sn.addr)}); return true`)
    await ff.run(options, '$button(\'Save supernodes\').click(); return true')
    await ff.until(options, 'return document.body.innerText.includes(\'Saved and reconnected.\')', ONLINE_TIMEOUT, 'the supernodes saved')
    await ff.until(options, 'return document.getElementById(\'status\')?.textContent.startsWith(\'Online\')', ONLINE_TIMEOUT, 'alice online')
    // the device runs in the background page, not in this page: closing it keeps alice online
    await ff.closeContext(options)
    await ff.closeContext(page)
  })

  it('bob runs the PWA in Chromium and is online', async () => {
    bob = await launchProfile(await tempDir('peerline-ff-bob-'))
    bobPage = bob.pages()[0] ?? await bob.newPage()
    bobPage.on('pageerror', err => errors.push(`bob: ${err.message}`))
    await bobPage.goto(web.url)
    await onboard(bobPage, 'bob@example.org', 'Bob', ONLINE_TIMEOUT)
  })

  it('clicking <a href="sip:bob@example.org"> in Firefox opens the call window, which asks; Call dials; bob answers; audio flows both ways', async () => {
    const page = await ff.newTab(linksUrl)
    const before = [...ff.contexts.keys()]
    await ff.click(page, '#sip')
    const call = await ff.waitForContext(url => url.startsWith(ext('call.html')), CALL_TIMEOUT, before)
    const url = ff.contexts.get(call)?.url ?? ''
    assert.deepEqual(parseCallRoute(new URL(url).hash), { kind: 'dial', target: 'sip:bob@example.org' })
    await ff.until(call, 'return document.getElementById(\'confirm-call\')?.textContent === \'Call sip:bob@example.org?\'', CALL_TIMEOUT, 'the call window to ask')
      .catch(async (err: unknown) => { throw new Error(`${String(err)}; the call window shows: ${await ff.run<string>(call, 'return document.body.innerText')}`) })
    await ff.run(call, '$button(\'Call\').click(); return true')
    // the page itself stayed where it was
    assert.equal(await ff.run(page, 'return location.href'), linksUrl)

    const ringing = bobPage.getByRole('dialog', { name: 'alice@example.org' })
    await ringing.waitFor({ timeout: CALL_TIMEOUT })
    assert.match(await ringing.innerText(), /Not verified — anyone can claim this address/) // self-issued: the same words as the PWA (shared/ui/trust-text.ts)
    await bobPage.getByRole('button', { name: 'Answer' }).click()
    await ff.until(call, 'return document.querySelector(\'.duration[data-state="active"]\') !== null', CALL_TIMEOUT, 'the call active in Firefox')
    await bobPage.locator('.duration[data-state="active"]').waitFor({ timeout: CALL_TIMEOUT })

    const aliceRtp = async (): Promise<{ sent: number, received: number, energy: number }> => await ff.run(call, `
      const pc = globalThis.peerlineCall?.peerConnection
      const r = { sent: 0, received: 0, energy: 0 }
      if (pc == null) return r
      ;(await pc.getStats()).forEach(s => {
        if (s.kind !== 'audio') return
        if (s.type === 'outbound-rtp') r.sent += s.packetsSent ?? 0
        if (s.type === 'inbound-rtp') { r.received += s.packetsReceived ?? 0; r.energy += s.totalAudioEnergy ?? 0 }
      })
      return r`)
    // Firefox's fake microphone is a steady tone, Chromium's beeps once a second: sound arrives on both sides
    const { first, second } = await expectAudioBothWays({ alice: aliceRtp, bob: async () => await audioRtp(bobPage, 'pwa') })
    console.info(`RTP packets: ${JSON.stringify(first)} → ${JSON.stringify(second)}`)

    await bobPage.getByRole('button', { name: 'Hang up' }).click()
    await ff.until(call, 'return document.querySelector(\'.duration[data-state="ended"]\') !== null', 10_000, 'the call ended in Firefox')
    await ff.closeContext(call)
    await ff.closeContext(page)
    assert.deepEqual(errors, [], 'no uncaught errors in bob\'s page')
  })
})
