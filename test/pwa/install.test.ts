/**
 * The PWA as an installed app, in Debian's Chromium: a valid manifest with
 * real icons, a service worker that takes control, the shell opening with the
 * web server and supernode gone, and an update that waits until accepted.
 *
 * One browser context throughout, so the service worker and its caches
 * persist across the steps (which run in order). The page-side module
 * (pwa/src/platform/install.ts) is bundled here and added to the page, so the
 * test holds a handle of its own (the app registers the same worker through
 * pwa/src/platform/app-platform.ts; registering twice is harmless) and plays the user who
 * accepts the update.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as esbuild from 'esbuild'
import type { BrowserContext, Page } from 'playwright-core'
import { buildPwa, ROOT } from '../../build/build.ts'
import { MASKABLE_SAFE_RADIUS } from '../../build/icons.ts'
import { startSupernode } from '../../supernode/supernode.ts'
import type { Supernode } from '../../supernode/supernode.ts'
import { serveApp } from '../../supernode/web.ts'
import type { WebServer } from '../../supernode/web.ts'
import type * as Install from '../../pwa/src/platform/install.ts'
import { launchProfile } from '../helpers/browser.ts'

declare global {
  // what the test adds to the page
  var peerlineInstall: typeof Install
  var peerlineSw: Install.ServiceWorkerHandle
  var peerlineUpdates: number
}

interface ManifestIcon { src: string, sizes: string, type?: string, purpose?: string }
interface WebManifest {
  id: string, name: string, short_name: string, description: string, start_url: string, scope: string
  display: string, theme_color: string, background_color: string, categories: string[]
  icons: ManifestIcon[], protocol_handlers: Array<{ protocol: string, url: string }>
}

/** Width and height from a PNG's IHDR chunk, after checking the signature. */
function pngSize (png: Buffer): { width: number, height: number } {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature')
  assert.equal(png.toString('latin1', 12, 16), 'IHDR', 'IHDR is the first chunk')
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) }
}

async function bundleInstallModule (): Promise<string> {
  const out = await esbuild.build({
    entryPoints: [join(ROOT, 'pwa', 'src', 'platform', 'install.ts')],
    bundle: true,
    format: 'iife',
    globalName: 'peerlineInstall',
    platform: 'browser',
    target: ['chrome120'],
    write: false,
    logLevel: 'warning'
  })
  return out.outputFiles[0]?.text ?? ''
}

describe('installable, offline-capable PWA', { timeout: 180_000 }, () => {
  let outDir: string
  let sn: Supernode
  let web: WebServer
  let port: number
  let profileDir: string
  let context: BrowserContext
  let page: Page
  let installJs: string

  /** Adds install.ts to the page and registers the worker through it. */
  async function register (p: Page): Promise<void> {
    await p.addScriptTag({ content: installJs })
    await p.evaluate(async () => {
      globalThis.peerlineUpdates = 0
      globalThis.peerlineSw = await globalThis.peerlineInstall.registerServiceWorker({
        onUpdateAvailable: () => { globalThis.peerlineUpdates++ }
      })
    })
  }

  before(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'peerline-pwa-'))
    await buildPwa({ outDir, minify: false, version: 'test-1' })
    installJs = await bundleInstallModule()
    sn = await startSupernode({ listen: ['/ip4/127.0.0.1/tcp/0/ws'], health: null })
    web = await serveApp({ root: outDir, host: '127.0.0.1', port: 0, config: () => ({ supernodes: sn.addrs }), health: sn.health })
    port = Number(new URL(web.url).port)
    // a persistent profile, unlike browser.newContext(): Chromium treats it as
    // a normal window (installable) and the worker outlives every reload
    profileDir = await mkdtemp(join(tmpdir(), 'peerline-profile-'))
    context = await launchProfile(profileDir)
    page = await context.newPage()
  })

  after(async () => {
    await context?.close()
    await web?.close()
    await sn?.stop()
    for (const dir of [outDir, profileDir]) if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  it('links a valid web app manifest with real PNG icons', async () => {
    await page.goto(web.url)
    const head = await page.evaluate(() => ({
      manifest: document.querySelector<HTMLLinkElement>('link[rel="manifest"]')?.href,
      appleTouchIcon: document.querySelector<HTMLLinkElement>('link[rel="apple-touch-icon"]')?.href,
      themeColor: document.querySelector<HTMLMetaElement>('meta[name="theme-color"]')?.content
    }))
    assert.ok(head.manifest != null, 'index.html links the manifest')
    const res = await fetch(head.manifest)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'application/manifest+json')
    const m = await res.json() as WebManifest
    assert.equal(m.name, 'Peerline')
    assert.equal(m.short_name, 'Peerline')
    assert.ok(m.description.length > 10)
    assert.equal(m.start_url, '.')
    assert.equal(m.scope, '.')
    assert.equal(typeof m.id, 'string')
    assert.equal(m.display, 'standalone')
    assert.match(m.theme_color, /^#[0-9a-f]{6}$/i)
    assert.match(m.background_color, /^#[0-9a-f]{6}$/i)
    assert.equal(head.themeColor, m.theme_color, 'index.html and the manifest agree on the theme colour')
    assert.ok(m.categories.includes('communication'))
    assert.deepEqual(m.protocol_handlers, [{ protocol: 'sip', url: './#/call/%s' }])

    const icons = [...m.icons, { src: new URL(head.appleTouchIcon ?? 'missing', head.manifest).href, sizes: '180x180', type: 'image/png' }]
    for (const icon of icons) {
      const url: string = new URL(icon.src, head.manifest).href
      const r: Response = await fetch(url)
      assert.equal(r.status, 200, url)
      assert.equal(r.headers.get('content-type'), 'image/png', url)
      const { width, height } = pngSize(Buffer.from(await r.arrayBuffer()))
      assert.equal(`${width}x${height}`, icon.sizes, `${icon.src} is ${width}x${height}`)
    }
    const any = (size: string): ManifestIcon | undefined => m.icons.find(i => i.sizes === size && (i.purpose ?? 'any').split(' ').includes('any'))
    assert.ok(any('192x192') != null && any('512x512') != null, '192 and 512 icons for any purpose')
    const maskable = m.icons.find(i => i.purpose === 'maskable' && i.sizes === '512x512')
    assert.ok(maskable != null, 'a separate maskable 512 icon')

    // Chromium decodes the icons: the maskable one is full bleed with the
    // whole glyph inside the safe zone; the plain one has see-through corners
    const pixels = await page.evaluate(async ({ maskableSrc, anySrc, safe, theme }) => {
      async function load (src: string): Promise<ImageData> {
        const img = new Image()
        img.src = src
        await img.decode()
        const c = document.createElement('canvas')
        c.width = img.naturalWidth
        c.height = img.naturalHeight
        const g = c.getContext('2d') as CanvasRenderingContext2D
        g.drawImage(img, 0, 0)
        return g.getImageData(0, 0, c.width, c.height)
      }
      const [tr, tg, tb] = [1, 3, 5].map(i => parseInt(theme.slice(i, i + 2), 16)) as [number, number, number]
      const mask = await load(maskableSrc)
      const n = mask.width
      let outsideNotTheme = 0
      let insideWhite = 0
      for (let y = 0; y < n; y++) {
        for (let x = 0; x < n; x++) {
          const i = (y * n + x) * 4
          const [r, g, b, a] = [mask.data[i], mask.data[i + 1], mask.data[i + 2], mask.data[i + 3]] as [number, number, number, number]
          const inside = Math.hypot(x + 0.5 - n / 2, y + 0.5 - n / 2) <= safe * n
          if (!inside && (a !== 255 || Math.abs(r - tr) > 2 || Math.abs(g - tg) > 2 || Math.abs(b - tb) > 2)) outsideNotTheme++
          if (inside && r > 250 && g > 250 && b > 250) insideWhite++
        }
      }
      const plain = await load(anySrc)
      return { outsideNotTheme, insideWhite, corner: plain.data[3], centreAlpha: plain.data[(plain.width * (plain.height >> 1) + (plain.width >> 1)) * 4 + 3] }
    }, { maskableSrc: new URL(maskable.src, head.manifest).href, anySrc: new URL(any('512x512')?.src ?? '', head.manifest).href, safe: MASKABLE_SAFE_RADIUS, theme: m.theme_color })
    assert.equal(pixels.outsideNotTheme, 0, 'outside the safe zone the maskable icon is plain theme colour')
    assert.ok(pixels.insideWhite > 1000, `the glyph is drawn (${pixels.insideWhite} white pixels)`)
    assert.equal(pixels.corner, 0, 'the plain icon has transparent corners')
    assert.equal(pixels.centreAlpha, 255)

    // Chromium's own parser reads the same manifest without complaint
    const cdp = await context.newCDPSession(page)
    const parsed = await cdp.send('Page.getAppManifest') as { url: string, errors: Array<{ message: string, critical: number }> }
    assert.equal(parsed.url, head.manifest)
    assert.deepEqual(parsed.errors, [])
    // …and finds nothing that keeps it from being installed (a persistent profile: incognito never installs)
    assert.deepEqual(await cdp.send('Page.getInstallabilityErrors'), { installabilityErrors: [] })
    await cdp.detach()
  })

  it('the service worker takes control of the page after a reload', async () => {
    await register(page)
    const supported = await page.evaluate(async () => {
      await navigator.serviceWorker.ready
      return globalThis.peerlineSw.supported
    })
    assert.equal(supported, true)
    await page.reload()
    const state = await page.evaluate(async () => ({
      controlled: navigator.serviceWorker.controller != null,
      script: navigator.serviceWorker.controller?.scriptURL,
      precached: await Promise.all((await caches.keys()).filter(k => k.startsWith('peerline-precache-')).map(async k => (await (await caches.open(k)).keys()).map(r => new URL(r.url).pathname)))
    }))
    assert.equal(state.controlled, true, 'navigator.serviceWorker.controller is set')
    assert.equal(state.script, `${web.url}sw.js`)
    const files = state.precached.flat().sort()
    for (const f of ['/index.html', '/app.js', '/app.css', '/manifest.webmanifest', '/icons/icon-192.png', '/icons/maskable-512.png', '/version.json']) {
      assert.ok(files.includes(f), `${f} is precached (${files.join(' ')})`)
    }
    assert.ok(!files.some(f => f.endsWith('.map') || f.endsWith('/sw.js')), 'no source maps, not the worker itself')
    await register(page)
    assert.equal(await page.evaluate(async () => globalThis.peerlineSw.version()), 'test-1')
  })

  it('opens offline, deep links included, once the web server and supernode are gone', async () => {
    // the app fetched config.json under the worker: wait until it is cached
    await page.waitForFunction(async () => {
      for (const k of (await caches.keys()).filter(k => k.startsWith('peerline-config-'))) {
        if ((await (await caches.open(k)).keys()).length > 0) return true
      }
      return false
    }, undefined, { timeout: 15_000, polling: 100 })
    await web.close()
    await sn.stop()
    await assert.rejects(fetch(web.url), 'nothing answers on the app\'s address any more')

    await page.reload()
    const status = page.getByRole('status')
    await status.filter({ hasText: /offline/i }).waitFor({ timeout: 30_000 })
    assert.match(await page.title(), /Peerline/)
    // the last config.json, from the cache, so the app still knows its supernodes
    const addrs = sn.addrs
    assert.deepEqual(await page.evaluate(async () => (await fetch('config.json', { cache: 'no-store' })).json()), { supernodes: addrs })

    // a sip: link handed over by the protocol handler, in a fresh tab
    const tab = await context.newPage()
    await tab.goto(`${web.url}#/call/sip%3Abob%40example.org`)
    await tab.getByRole('status').filter({ hasText: /offline/i }).waitFor({ timeout: 30_000 })
    assert.equal(await tab.evaluate(() => location.hash), '#/call/sip%3Abob%40example.org')
    await tab.addScriptTag({ content: installJs })
    assert.deepEqual(await tab.evaluate(() => globalThis.peerlineInstall.parseDeepLink(location.hash)), { route: 'call', target: 'sip:bob@example.org' })
    await tab.close()
  })

  it('offers a new version and switches only when it is accepted', async () => {
    // a new build (changed version.json, so a changed precache list and worker) on the same origin
    await buildPwa({ outDir, minify: false, version: 'test-2' })
    assert.match(await readFile(join(outDir, 'sw.js'), 'utf8'), /test-2/)
    web = await serveApp({ root: outDir, host: '127.0.0.1', port, config: () => ({ supernodes: [] }), health: async () => ({ status: 'ok' }) })

    await page.reload()
    await register(page)
    // a cache of an older layout, and one that belongs to someone else
    await page.evaluate(async () => {
      const scope = (await navigator.serviceWorker.ready).scope
      await caches.open(`peerline-precache-v0-${scope}`)
      await caches.open(`peerline-config-v0-${scope}`)
      await caches.open('not-peerline')
    })
    assert.equal(await page.evaluate(async () => globalThis.peerlineSw.checkForUpdate()), true, 'checkForUpdate finds the new worker')
    const before = await page.evaluate(async () => ({
      updates: globalThis.peerlineUpdates,
      available: globalThis.peerlineSw.updateAvailable,
      version: await globalThis.peerlineSw.version(),
      shell: await (await fetch('version.json')).json() as { version: string }
    }))
    assert.ok(before.updates >= 1, 'update-available was announced')
    assert.equal(before.available, true)
    assert.equal(before.version, 'test-1', 'the old worker stays in control until the user accepts')
    assert.deepEqual(before.shell, { version: 'test-1' }, 'the page still gets the old shell')

    // the user accepts: the new worker takes over and the page reloads itself
    await Promise.all([
      page.waitForEvent('load', { timeout: 30_000 }),
      page.evaluate(() => { void globalThis.peerlineSw.applyUpdate() })
    ])
    await register(page)
    const afterUpdate = await page.evaluate(async () => ({
      controlled: navigator.serviceWorker.controller != null,
      version: await globalThis.peerlineSw.version(),
      available: globalThis.peerlineSw.updateAvailable,
      shell: await (await fetch('version.json')).json() as { version: string },
      caches: (await caches.keys()).sort()
    }))
    assert.equal(afterUpdate.controlled, true)
    assert.equal(afterUpdate.version, 'test-2')
    assert.equal(afterUpdate.available, false)
    assert.deepEqual(afterUpdate.shell, { version: 'test-2' })
    assert.ok(!afterUpdate.caches.some(k => k.includes('-v0-')), `the stale caches are gone: ${afterUpdate.caches.join(', ')}`)
    assert.ok(afterUpdate.caches.includes('not-peerline'), 'caches of others are left alone')
    assert.ok(afterUpdate.caches.some(k => k.startsWith('peerline-precache-v1-')))
  })

  it('reports the network state and registers the sip: handler where allowed', async () => {
    await page.addScriptTag({ content: installJs })
    await page.evaluate(() => {
      (globalThis as unknown as { seen: boolean[] }).seen = []
      globalThis.peerlineInstall.onlineState(online => { (globalThis as unknown as { seen: boolean[] }).seen.push(online) })
    })
    await context.setOffline(true)
    await context.setOffline(false)
    assert.deepEqual(await page.evaluate(() => (globalThis as unknown as { seen: boolean[] }).seen), [true, false, true])

    assert.equal(await page.evaluate(() => globalThis.peerlineInstall.registerSipHandler()), true)
    // a browser that refuses (SecurityError) gives false rather than an exception
    assert.equal(await page.evaluate(() => {
      Object.defineProperty(navigator, 'registerProtocolHandler', { value: () => { throw new DOMException('refused', 'SecurityError') } })
      return globalThis.peerlineInstall.registerSipHandler()
    }), false)
  })
})
