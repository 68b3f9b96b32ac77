/**
 * Client weight: what a browser downloads before Peerline is usable and how
 * soon it is online.
 *
 * - the PWA shell: index.html, CSS, the entry script and the chunks it
 *   imports statically (what the first visit needs), gzipped;
 * - code loaded lazily (dynamic import() chunks), gzipped;
 * - the service worker;
 * - the extension packages (.zip/.xpi, deflated) and their unpacked size;
 * - time from navigation to "Online" with a local supernode (real Chromium,
 *   fresh profile each time, median and p95).
 *
 * `node bench/client-weight.ts [--quick]`
 */
import { readFile, readdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import * as esbuild from 'esbuild'
import { buildPwa, ROOT } from '../build/build.ts'
import { buildExtensions } from '../build/extension.ts'
import { startSupernode } from '../supernode/supernode.ts'
import { serveApp } from '../supernode/web.ts'
import { launchChromium } from '../test/helpers/browser.ts'
import { isMain, percentile, round, runStandalone } from './lib/report.ts'
import type { BenchOptions, BenchReport } from './lib/report.ts'

const gz = (b: Uint8Array): number => gzipSync(b, { level: 9 }).byteLength

export async function run (options: BenchOptions = {}): Promise<BenchReport> {
  const outDir = await mkdtemp(join(tmpdir(), 'peerline-weight-'))
  const notes: string[] = []
  try {
    await buildPwa({ outDir, minify: true })
    // the build's own dependency graph says which chunks the entry needs at once
    const meta = await esbuild.build({
      entryPoints: { app: join(ROOT, 'pwa', 'src', 'main.tsx') },
      bundle: true, format: 'esm', platform: 'browser', splitting: true, minify: true, write: false,
      outdir: join(outDir, 'meta'), metafile: true, logLevel: 'silent',
      jsx: 'automatic', jsxImportSource: 'preact',
      define: { 'process.env.NODE_DEBUG': 'undefined', global: 'globalThis' }
    })
    const outputs = meta.metafile.outputs
    const entry = Object.keys(outputs).find(k => outputs[k]?.entryPoint != null && k.endsWith('.js')) as string
    const eager = new Set<string>([entry])
    const queue = [entry]
    while (queue.length > 0) {
      for (const imp of outputs[queue.pop() as string]?.imports ?? []) {
        if (imp.kind === 'import-statement' && !eager.has(imp.path)) { eager.add(imp.path); queue.push(imp.path) }
      }
    }
    const jsFiles = Object.keys(outputs).filter(k => k.endsWith('.js'))
    const sizeOf = (k: string): number => gz(meta.outputFiles.find(f => f.path.endsWith(k.replace(/^.*meta\//, '/meta/')))?.contents ?? new Uint8Array())
    const eagerJs = [...eager].reduce((n, k) => n + sizeOf(k), 0)
    const lazy = jsFiles.filter(k => !eager.has(k))
    const lazyJs = lazy.reduce((n, k) => n + sizeOf(k), 0)
    const staticFiles = (await readdir(outDir)).filter(f => /\.(html|css|webmanifest)$/.test(f))
    const staticGz = (await Promise.all(staticFiles.map(async f => gz(await readFile(join(outDir, f)))))).reduce((a, b) => a + b, 0)
    const swGz = gz(await readFile(join(outDir, 'sw.js')))
    const rows: Array<Record<string, string | number>> = [
      { item: 'PWA shell (html, css, manifest + entry script and its static imports)', 'KiB gzipped': round((staticGz + eagerJs) / 1024, 1), files: staticFiles.length + eager.size },
      { item: 'lazily loaded code (dynamic import chunks)', 'KiB gzipped': round(lazyJs / 1024, 1), files: lazy.length },
      { item: 'service worker', 'KiB gzipped': round(swGz / 1024, 1), files: 1 }
    ]
    if (lazy.length === 0) notes.push('The call code is not split out yet: everything loads with the shell.')
    for (const ext of await buildExtensions({ outDir: join(outDir, 'extension'), packageDir: join(outDir, 'packages') })) {
      rows.push({
        item: `${ext.target} extension package (${ext.archive?.replace(/^.*[\\/]/, '') ?? 'not packaged'}; unpacked ${round(ext.bytes / 1024, 0)} KiB)`,
        'KiB gzipped': ext.archiveBytes != null ? round(ext.archiveBytes / 1024, 1) : '',
        files: ''
      })
    }

    // time to Online, fresh profile per load
    const loads = options.quick === true ? 2 : 7
    const sn = await startSupernode({ listen: ['/ip4/127.0.0.1/tcp/0/ws'], health: null })
    const web = await serveApp({ root: outDir, host: '127.0.0.1', port: 0, config: () => ({ supernodes: sn.addrs }) })
    const browser = await launchChromium()
    const times: number[] = []
    try {
      for (let i = 0; i < loads; i++) {
        const context = await browser.newContext()
        const page = await context.newPage()
        const t0 = Date.now()
        await page.goto(web.url)
        await page.getByRole('status').filter({ hasText: 'Online' }).first().waitFor({ timeout: 30_000 })
        times.push(Date.now() - t0)
        await context.close()
      }
    } finally {
      await browser.close()
      await web.close()
      await sn.stop()
    }
    rows.push({ item: `page load to "Online" (local supernode, ${loads} fresh loads)`, 'KiB gzipped': '', files: '', 'median ms': Math.round(percentile(times, 50)), 'p95 ms': Math.round(percentile(times, 95)) })
    notes.push('Extension packages are zip files (deflate), listed in the gzipped column; each carries its own copy of the phone (overlay + JsSIP).')
    return { name: 'client-weight', rows, notes }
  } finally {
    await rm(outDir, { recursive: true, force: true })
  }
}

if (isMain(import.meta.url)) await runStandalone(run)
