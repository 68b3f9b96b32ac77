/**
 * `npm start`'s pieces in a real browser: the PWA served next to a local
 * supernode joins the overlay and says "Online"; when the supernode goes
 * away it says it is offline.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Browser } from 'playwright-core'
import { buildPwa } from '../../build/build.ts'
import { startSupernode } from '../../supernode/supernode.ts'
import type { Supernode } from '../../supernode/supernode.ts'
import { serveApp } from '../../supernode/web.ts'
import type { WebServer } from '../../supernode/web.ts'
import { launchChromium } from '../helpers/browser.ts'

describe('PWA shell with a local supernode', { timeout: 120_000 }, () => {
  let sn: Supernode
  let web: WebServer
  let browser: Browser

  before(async () => {
    const built = await buildPwa({ minify: false })
    sn = await startSupernode({ listen: ['/ip4/127.0.0.1/tcp/0/ws'], health: null })
    web = await serveApp({ root: built.outDir, host: '127.0.0.1', port: 0, config: () => ({ supernodes: sn.addrs }), health: sn.health })
    browser = await launchChromium()
  })

  after(async () => {
    await browser?.close()
    await web?.close()
    await sn?.stop()
  })

  it('shows Online once connected, and Offline when the supernode stops', async () => {
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', err => errors.push(err.message))
    await page.goto(web.url)
    const status = page.getByRole('status')
    await status.filter({ hasText: 'Online' }).waitFor({ timeout: 20_000 })
    assert.match(await status.innerText(), /Online — connected to 1 supernode/)
    const health = await (await fetch(`${web.url}health`)).json() as { connectedPeers: number }
    assert.ok(health.connectedPeers >= 1, 'the supernode sees the browser')
    await sn.stop()
    await status.filter({ hasText: 'Offline' }).waitFor({ timeout: 30_000 })
    assert.deepEqual(errors, [])
  })
})
