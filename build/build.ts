/**
 * Builds Peerline's browser artifacts into dist/: the PWA (dist/pwa).
 * `node build/build.ts` or `npm run build`; `npm start` calls buildPwa().
 *
 * Steps: bundle the app (pwa/src/main.tsx, or main.ts), copy pwa/public, draw
 * the icons (build/icons.ts; pwa/public/index.html carries the install tags),
 * write version.json, then list every shell
 * file with a content hash and bundle the service worker (pwa/sw/sw.ts) with
 * that precache list injected.
 */
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { join, relative, sep } from 'node:path'
import * as esbuild from 'esbuild'
import { writeIcons } from './icons.ts'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const PWA_OUT = join(ROOT, 'dist', 'pwa')

export interface BuildResult { outDir: string, bytes: number }

export interface BuildOptions {
  /** default true */
  minify?: boolean
  /** default dist/pwa; tests build into their own folder */
  outDir?: string
  /** the build's version (version.json, the service worker); default package.json's */
  version?: string
}

/** One entry of the service worker's precache list (Workbox's PrecacheEntry). */
export interface PrecacheEntry { url: string, revision: string }

/** Built files the service worker does not precache (itself, source maps). */
const NOT_PRECACHED = (file: string): boolean => file.endsWith('.map') || file === 'sw.js'

const TARGET = ['chrome120', 'firefox128']

function appEntry (): string {
  const tsx = join(ROOT, 'pwa', 'src', 'main.tsx')
  return existsSync(tsx) ? tsx : join(ROOT, 'pwa', 'src', 'main.ts')
}

async function packageVersion (): Promise<string> {
  return (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
}

async function listFiles (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter(e => e.isFile()).map(e => relative(dir, join(e.parentPath, e.name)).split(sep).join('/')).sort()
}

/** Every shell file of `dir` with a content hash as its revision. */
export async function precacheManifest (dir: string): Promise<PrecacheEntry[]> {
  const files = (await listFiles(dir)).filter(f => !NOT_PRECACHED(f))
  return Promise.all(files.map(async url => ({
    url,
    revision: createHash('sha256').update(await readFile(join(dir, url))).digest('hex').slice(0, 16)
  })))
}

export async function buildPwa (options: BuildOptions = {}): Promise<BuildResult> {
  const outDir = options.outDir ?? PWA_OUT
  const minify = options.minify ?? true
  const version = options.version ?? await packageVersion()
  await rm(outDir, { recursive: true, force: true })
  await mkdir(outDir, { recursive: true })
  const publicDir = join(ROOT, 'pwa', 'public')
  const manifest = JSON.parse(await readFile(join(publicDir, 'manifest.webmanifest'), 'utf8')) as { theme_color: string }
  const bundling = esbuild.build({
    entryPoints: { app: appEntry() },
    outdir: outDir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: TARGET,
    splitting: true,
    minify,
    sourcemap: true,
    metafile: true,
    logLevel: 'warning',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    define: { 'process.env.NODE_DEBUG': 'undefined', global: 'globalThis' }
  })
  bundling.catch(() => {}) // (its failure is reported by Promise.all below, not as unhandled)
  // esbuild bundles in its own process meanwhile: the icons cost no extra time
  await new Promise(resolve => setImmediate(resolve))
  const [app] = await Promise.all([bundling, writeIcons(join(outDir, 'icons'), manifest.theme_color)])
  await cp(publicDir, outDir, { recursive: true })

  await writeFile(join(outDir, 'version.json'), JSON.stringify({ version }) + '\n')

  const sw = await esbuild.build({
    entryPoints: { sw: join(ROOT, 'pwa', 'sw', 'sw.ts') },
    outdir: outDir,
    bundle: true,
    // a classic script: module service workers are not everywhere yet
    format: 'iife',
    platform: 'browser',
    target: TARGET,
    minify,
    sourcemap: true,
    metafile: true,
    logLevel: 'warning',
    define: {
      'self.__WB_MANIFEST': JSON.stringify(await precacheManifest(outDir)),
      'self.__PEERLINE_VERSION': JSON.stringify(version),
      // Workbox's development logging and assertions stay out of the bundle
      'process.env.NODE_ENV': '"production"'
    }
  })
  const bytes = [app, sw].reduce((n, r) => n + Object.values(r.metafile.outputs).reduce((m, o) => m + o.bytes, 0), 0)
  return { outDir, bytes }
}

if (import.meta.main === true) {
  const started = Date.now()
  const r = await buildPwa()
  console.info(`PWA built in ${r.outDir} (${(r.bytes / 1024).toFixed(0)} KiB of scripts, ${Date.now() - started} ms)`)
}
