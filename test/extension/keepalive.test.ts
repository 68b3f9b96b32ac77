/**
 * Firefox and Thunderbird run Peerline's device in an MV3 background page,
 * which Gecko unloads when idle. Peerline's keep-alive (extension/core/
 * keepalive*.ts) must hold it: two real Thunderbird (Gecko) processes load a
 * test add-on whose background page beacons to this test every second, one
 * with the keep-alive and one without (the control, which must be unloaded,
 * proving the idle timeout applies). The idle timeout is set just above the
 * keep-alive's interval, so the test also checks that interval is short enough.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as esbuild from 'esbuild'
import { ROOT } from '../../build/build.ts'
import { zip } from '../../build/zip.ts'
import { KEEPALIVE_INTERVAL_MS } from '../../extension/core/messages.ts'
import { eventually } from '../helpers/eventually.ts'
import { ADDON_ID, startThunderbird, THUNDERBIRD } from './thunderbird-harness.ts'
import type { ThunderbirdProcess } from './thunderbird-harness.ts'

/** Gecko's idle timeout for the test: a little above the keep-alive interval (the default is 30 s). */
const IDLE_MS = KEEPALIVE_INTERVAL_MS + 3_000
/** Thunderbird's headless start on a loaded 2-core machine. */
const START_TIMEOUT = 60_000

type Variant = 'with' | 'without'

/** Outside CI a machine without Thunderbird skips; in CI (CI=true) a missing Thunderbird fails the run. */
const SKIP = !existsSync(THUNDERBIRD) && process.env.CI !== 'true' && `${THUNDERBIRD} missing`

describe('Gecko background page keep-alive (real Thunderbird)', { timeout: 300_000, skip: SKIP }, () => {
  let server: Server
  let dir: string
  const tb: ThunderbirdProcess[] = []
  /** last beacon per variant: ms since its background page started */
  const last: Record<Variant, number> = { with: -1, without: -1 }
  const lastAt: Record<Variant, number> = { with: 0, without: 0 }

  async function addon (variant: Variant, beacon: string): Promise<string> {
    const out = join(dir, variant)
    await esbuild.build({
      entryPoints: { bg: join(ROOT, 'test', 'extension', 'fixtures', 'keepalive-bg.ts'), keepalive: join(ROOT, 'extension', 'core', 'keepalive.ts') },
      outdir: out,
      bundle: true,
      format: 'iife',
      logLevel: 'warning',
      define: { __BEACON__: JSON.stringify(beacon), __KEEPALIVE__: String(variant === 'with') }
    })
    await cp(join(ROOT, 'extension', 'core', 'keepalive.html'), join(out, 'keepalive.html'))
    const manifest = {
      manifest_version: 3,
      name: `Peerline keep-alive test (${variant})`,
      version: '1.0',
      background: { scripts: ['bg.js'] },
      browser_specific_settings: { gecko: { id: ADDON_ID, strict_min_version: '128.0' } }
    }
    const files = await Promise.all(['bg.js', 'keepalive.js', 'keepalive.html'].map(async name => ({ name, data: await readFile(join(out, name)) })))
    const xpi = join(dir, `${variant}.xpi`)
    await writeFile(xpi, zip([{ name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) }, ...files]))
    return xpi
  }

  before(async () => {
    if (!existsSync(THUNDERBIRD)) throw new Error(`${THUNDERBIRD} is missing and CI=true: install Thunderbird (Debian package "thunderbird") to run the keep-alive test`)
    dir = await mkdtemp(join(tmpdir(), 'peerline-keepalive-'))
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1')
      const variant = url.pathname.slice(1)
      if (variant === 'with' || variant === 'without') {
        last[variant] = Number(url.searchParams.get('t'))
        lastAt[variant] = Date.now()
      }
      res.writeHead(204, { 'access-control-allow-origin': '*' })
      res.end()
    })
    await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
    const address = server.address()
    assert.ok(address !== null && typeof address === 'object')
    const base = `http://127.0.0.1:${address.port}/`
    for (const variant of ['with', 'without'] as const) {
      tb.push(await startThunderbird(await addon(variant, base + variant), { 'extensions.background.idle.timeout': IDLE_MS }))
    }
  })

  after(async () => {
    for (const t of tb) await t.stop()
    await new Promise<void>(resolve => { if (server !== undefined) server.close(() => { resolve() }); else resolve() })
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('without the keep-alive Gecko unloads the idle background page; with it, the page lives on', async () => {
    await eventually(() => last.with >= 0 && last.without >= 0, { timeoutMs: START_TIMEOUT, what: 'both background pages started' })
    // the control stops beaconing once the idle timeout passed
    await eventually(() => last.without > 0 && Date.now() - lastAt.without > 5_000, { timeoutMs: IDLE_MS + 20_000, what: 'the control page unloaded' })
    assert.ok(last.without < IDLE_MS + 5_000, `the control lived ${last.without} ms with an idle timeout of ${IDLE_MS} ms`)
    // the kept page outlives two idle periods and is still beaconing
    await eventually(() => last.with > 2 * IDLE_MS, { timeoutMs: 2 * IDLE_MS + START_TIMEOUT, what: `the kept page living past ${2 * IDLE_MS} ms (at ${last.with} ms)` })
    assert.ok(Date.now() - lastAt.with < 3_000, 'the kept page is still running')
    console.info(`idle timeout ${IDLE_MS} ms: control lived ${last.without} ms, kept page ${last.with} ms and counting`)
  })
})
