/**
 * Builds Peerline's browser extension for its three targets from one source
 * (top-level manifest.json + extension/): unpacked folders
 * dist/extension/{chromium,firefox,thunderbird}/ and the packages
 * dist/peerline-chromium.zip, dist/peerline-firefox.xpi,
 * dist/peerline-thunderbird.xpi. `node build/extension.ts` (part of
 * `npm run build`); `node build/extension.ts --lint` also runs `web-ext lint`
 * on the Firefox and Thunderbird folders (`npm run lint:ext`).
 *
 * Per-target manifest keys (targetManifest()):
 * - all targets: content_security_policy.extension_pages "script-src 'self'"
 *   in manifest.json is for Gecko (Firefox, Thunderbird): their MV3 default
 *   adds `upgrade-insecure-requests`, which turns ws:// supernode addresses (a
 *   local `npm start`) into wss:// and the connection fails.
 * - chromium: background.service_worker (background.js, which keeps the
 *   offscreen document offscreen.html running the device), the "offscreen"
 *   and "alarms" (a periodic check that the document runs) permissions; protocol_handlers and browser_specific_settings removed
 *   (Chromium has no protocol_handlers: the content script sip-links.js
 *   catches sip: clicks); content_security_policy removed, keeping
 *   Chromium's default ("script-src 'self'; object-src 'self'", no upgrade of ws://).
 * - firefox: background.scripts (a background page hosts the device),
 *   protocol_handlers for sip (Firefox refuses sips there: sips: links go
 *   through the content script), browser_specific_settings.gecko.
 * - thunderbird: like firefox (but its sip protocol handler is sip-link.html,
 *   which hands the call to the browser), plus the MailExtension permissions
 *   (addressBooks, messagesRead, accountsRead), action.allowed_spaces,
 *   gecko.strict_min_version 128.0, no content script on web pages; then
 *   extension/thunderbird/manifest.part.json merged in (see mergeManifest()).
 *
 * All targets bundle webextension-polyfill (extension/core/webext.ts): on
 * Chromium it wraps chrome.* as a promise-returning browser.*; on Firefox and
 * Thunderbird it hands back their own browser.* (Thunderbird code keeps
 * messenger.*, see extension/thunderbird/messenger.ts).
 *
 * Thunderbird hooks (owned by the Thunderbird add-on work): the background
 * entry is extension/thunderbird/background.ts; every
 * extension/thunderbird/pages/*.ts(x) becomes <name>.js at the add-on root;
 * every file of extension/thunderbird/static/ is copied to the root; the app
 * pages' HTML (buddies.html, chat.html like popup.html; setup.html, the add-on's
 * options page, like options.html) is written by appPageHtml.
 *
 * web-ext lint on the Thunderbird folder: addons-linter validates against
 * Firefox's schema, so Thunderbird-only manifest keys and permissions
 * (addressBooks, messagesRead, accountsRead, messagesImport, compose,
 * action.allowed_spaces, message_display_action, message_display_scripts…)
 * are reported as warnings ("unknown permission" / "not supported").
 * They are real, stable MailExtension APIs (no Experiment APIs) and not
 * errors; lintExtension() fails only on errors.
 * Warnings on both targets, expected:
 * - UNSAFE_VAR_ASSIGNMENT "innerHTML" in the page bundles is Preact's
 *   renderer (its dangerouslySetInnerHTML support, which Peerline never
 *   uses: all text is rendered as text nodes).
 * - KEY_FIREFOX(_ANDROID)_UNSUPPORTED_BY_MIN_VERSION for
 *   gecko.data_collection_permissions: addons.mozilla.org asks every new
 *   add-on to declare it (Peerline collects nothing: "none"); Firefox and
 *   Thunderbird before 140 ignore the key, so it is harmless on 128 ESR.
 *   Leaving it out gives MISSING_DATA_COLLECTION_PERMISSIONS instead.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { basename, extname, join, relative, sep } from 'node:path'
import * as esbuild from 'esbuild'
import { ROOT } from './build.ts'
import { drawIcon, encodePng } from './icons.ts'
import { zip } from './zip.ts'

export type ExtensionTarget = 'chromium' | 'firefox' | 'thunderbird'
export const EXTENSION_TARGETS: ExtensionTarget[] = ['chromium', 'firefox', 'thunderbird']

export const EXTENSION_OUT = join(ROOT, 'dist', 'extension')
export const PACKAGE_OUT = join(ROOT, 'dist')

const EXT = join(ROOT, 'extension')
const THUNDERBIRD = join(EXT, 'thunderbird')
/** Chromium 120 has chrome.offscreen with WEB_RTC/USER_MEDIA; Thunderbird/Firefox 128 ESR is the oldest supported. */
const TARGET = ['chrome120', 'firefox128']
/** Toolbar and listing icon sizes the browsers ask for (16/32 toolbar, 48/96/128 add-on managers). */
const ICON_SIZES = [16, 32, 48, 96, 128]
/** Thunderbird's first MV3 ESR. */
const THUNDERBIRD_MIN_VERSION = '128.0'
/**
 * The app pages: one bundle each and the same HTML shell, written by the
 * build (page name → the body's class). Thunderbird's chat and buddy list are
 * popup-sized; offscreen.html, keepalive.html and Thunderbird's static pages
 * are not app pages and are copied as they are.
 */
const APP_PAGES: Record<string, string> = { popup: 'ext-popup', call: 'ext-call', options: 'ext-options' }
const THUNDERBIRD_APP_PAGES: Record<string, string> = { buddies: 'ext-popup', chat: 'ext-popup', setup: 'ext-options' }

/** The HTML of an app page: the stylesheets, a boot line until its script has drawn, the script. */
function appPageHtml (name: string, bodyClass: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Peerline</title>
  <link rel="stylesheet" href="app.css">
  <link rel="stylesheet" href="extension.css">
</head>
<body class="${bodyClass}">
  <div id="app"><p class="boot">Starting Peerline…</p></div>
  <script src="${name}.js"></script>
</body>
</html>
`
}

const THUNDERBIRD_PERMISSIONS = ['addressBooks', 'messagesRead', 'accountsRead']

export interface ExtensionBuildOptions {
  targets?: ExtensionTarget[]
  /** default dist/extension; each target in <outDir>/<target> */
  outDir?: string
  /** where the .zip/.xpi go; default dist/; null: no packages */
  packageDir?: string | null
  /** default true */
  minify?: boolean
  /** default package.json's */
  version?: string
  /**
   * TEST-ONLY (Thunderbird): an http://127.0.0.1:PORT address; the add-on then also
   * bundles extension/thunderbird/test/driver.ts (test-driver.js), which
   * connects there and runs the harness's commands. Never set for releases.
   */
  testHarness?: string
}

export interface ExtensionBuildResult {
  target: ExtensionTarget
  dir: string
  /** bytes of the unpacked folder */
  bytes: number
  /** the .zip/.xpi, when packaged */
  archive?: string
  archiveBytes?: number
}

type Json = Record<string, unknown>

export const ARCHIVE_NAMES: Record<ExtensionTarget, string> = {
  chromium: 'peerline-chromium.zip',
  firefox: 'peerline-firefox.xpi',
  thunderbird: 'peerline-thunderbird.xpi'
}

function isObject (v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Merges `part` into `base`: objects recursively, arrays concatenated without
 * duplicates (permissions, content scripts), anything else replaced.
 */
export function mergeManifest (base: Json, part: Json): Json {
  const out: Json = { ...base }
  for (const [key, value] of Object.entries(part)) {
    const prev = out[key]
    if (Array.isArray(prev) && Array.isArray(value)) {
      const seen = new Set(prev.map(v => JSON.stringify(v)))
      out[key] = [...prev, ...value.filter(v => !seen.has(JSON.stringify(v)))]
    } else if (isObject(prev) && isObject(value)) {
      out[key] = mergeManifest(prev, value)
    } else {
      out[key] = value
    }
  }
  return out
}

/** The manifest for `target` from the source manifest (see the file comment for what changes). */
export function targetManifest (source: Json, target: ExtensionTarget, version: string, thunderbirdPart: Json = {}): Json {
  const m: Json = structuredClone(source)
  m.version = version
  const permissions = Array.isArray(m.permissions) ? [...m.permissions as string[]] : []
  if (target === 'chromium') {
    delete m.protocol_handlers
    delete m.browser_specific_settings
    delete m.content_security_policy
    m.background = { service_worker: 'background.js' }
    m.permissions = [...permissions, 'offscreen', 'alarms']
    return m
  }
  m.background = { scripts: ['background.js'] }
  if (target === 'firefox') return m
  delete m.content_scripts
  m.permissions = [...permissions, ...THUNDERBIRD_PERMISSIONS]
  const gecko = isObject(m.browser_specific_settings) && isObject(m.browser_specific_settings.gecko) ? m.browser_specific_settings.gecko : {}
  m.browser_specific_settings = { gecko: { ...gecko, strict_min_version: THUNDERBIRD_MIN_VERSION } }
  m.action = { ...(isObject(m.action) ? m.action : {}), allowed_spaces: ['addressbook'] }
  // Thunderbird cannot carry media: a sip: URI opened there goes to a page that hands the call to the browser
  m.protocol_handlers = [{ protocol: 'sip', name: 'Peerline', uriTemplate: '/sip-link.html#%s' }]
  return mergeManifest(m, thunderbirdPart)
}

async function packageVersion (): Promise<string> {
  return (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
}

async function listFiles (dir: string): Promise<string[]> {
  if (!existsSync(dir)) return []
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter(e => e.isFile()).map(e => relative(dir, join(e.parentPath, e.name)).split(sep).join('/')).sort()
}

function entryPoints (target: ExtensionTarget, thunderbirdPages: string[], testHarness = ''): Record<string, string> {
  const pages = {
    popup: join(EXT, 'pages', 'popup.tsx'),
    call: join(EXT, 'pages', 'call.tsx'),
    options: join(EXT, 'pages', 'options.tsx')
  }
  const keepalive = join(EXT, 'core', 'keepalive.ts')
  switch (target) {
    case 'chromium':
      return { ...pages, 'sip-links': join(EXT, 'content', 'sip-links.ts'), background: join(EXT, 'chromium', 'background.ts'), offscreen: join(EXT, 'chromium', 'offscreen.ts') }
    case 'firefox':
      return { ...pages, keepalive, 'sip-links': join(EXT, 'content', 'sip-links.ts'), background: join(EXT, 'firefox', 'background.ts') }
    case 'thunderbird': {
      const extra = Object.fromEntries(thunderbirdPages.map(f => [basename(f, extname(f)), join(THUNDERBIRD, 'pages', f)]))
      const driver: Record<string, string> = testHarness !== '' ? { 'test-driver': join(THUNDERBIRD, 'test', 'driver.ts') } : {}
      return { ...pages, keepalive, ...extra, ...driver, background: join(THUNDERBIRD, 'background.ts') }
    }
  }
}

async function writeExtensionIcons (dir: string): Promise<void> {
  const webManifest = JSON.parse(await readFile(join(ROOT, 'pwa', 'public', 'manifest.webmanifest'), 'utf8')) as { theme_color: string }
  await mkdir(dir, { recursive: true })
  await Promise.all(ICON_SIZES.map(async size => {
    await writeFile(join(dir, `icon-${size}.png`), encodePng(size, size, drawIcon(size, 'any', webManifest.theme_color)))
  }))
}

async function buildTarget (target: ExtensionTarget, dir: string, version: string, minify: boolean, testHarness = ''): Promise<void> {
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  const thunderbirdPages = target === 'thunderbird'
    ? (await listFiles(join(THUNDERBIRD, 'pages'))).filter(f => /^[^/]+\.tsx?$/.test(f))
    : []
  const bundling = esbuild.build({
    entryPoints: entryPoints(target, thunderbirdPages, testHarness),
    outdir: dir,
    bundle: true,
    // classic scripts everywhere: content scripts and Firefox background scripts cannot be modules
    format: 'iife',
    platform: 'browser',
    target: TARGET,
    minify,
    // add-on stores review readable packages; source maps would double the size
    sourcemap: false,
    logLevel: 'warning',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    define: { 'process.env.NODE_DEBUG': 'undefined', global: 'globalThis', __PEERLINE_TEST_HARNESS__: JSON.stringify(testHarness) }
  })
  bundling.catch(() => {})
  await writeExtensionIcons(join(dir, 'icons'))
  await bundling

  const pages = { ...APP_PAGES, ...(target === 'thunderbird' ? THUNDERBIRD_APP_PAGES : {}) }
  for (const [name, bodyClass] of Object.entries(pages)) await writeFile(join(dir, `${name}.html`), appPageHtml(name, bodyClass))
  await cp(join(EXT, 'pages', 'extension.css'), join(dir, 'extension.css'))
  await cp(join(ROOT, 'pwa', 'public', 'app.css'), join(dir, 'app.css'))
  if (target === 'chromium') await cp(join(EXT, 'chromium', 'offscreen.html'), join(dir, 'offscreen.html'))
  else await cp(join(EXT, 'core', 'keepalive.html'), join(dir, 'keepalive.html'))

  let part: Json = {}
  if (target === 'thunderbird') {
    const staticDir = join(THUNDERBIRD, 'static')
    if (existsSync(staticDir)) await cp(staticDir, dir, { recursive: true })
    const partFile = join(THUNDERBIRD, 'manifest.part.json')
    if (existsSync(partFile)) part = JSON.parse(await readFile(partFile, 'utf8')) as Json
  }
  const source = JSON.parse(await readFile(join(ROOT, 'manifest.json'), 'utf8')) as Json
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(targetManifest(source, target, version, part), null, 2) + '\n')
}

async function folderBytes (dir: string): Promise<number> {
  let n = 0
  for (const f of await listFiles(dir)) n += (await readFile(join(dir, f))).length
  return n
}

async function packageFolder (dir: string, archive: string): Promise<number> {
  const files = await listFiles(dir)
  // manifest.json first: some tools peek at the first entry
  files.sort((a, b) => (a === 'manifest.json' ? -1 : b === 'manifest.json' ? 1 : a.localeCompare(b)))
  const data = zip(await Promise.all(files.map(async name => ({ name, data: await readFile(join(dir, name)) }))))
  await mkdir(join(archive, '..'), { recursive: true })
  await writeFile(archive, data)
  return data.length
}

/** Builds the unpacked extension for each target and, unless packageDir is null, its .zip/.xpi. */
export async function buildExtensions (options: ExtensionBuildOptions = {}): Promise<ExtensionBuildResult[]> {
  const targets = options.targets ?? EXTENSION_TARGETS
  const outDir = options.outDir ?? EXTENSION_OUT
  const packageDir = options.packageDir === undefined ? PACKAGE_OUT : options.packageDir
  const version = options.version ?? await packageVersion()
  const results: ExtensionBuildResult[] = []
  for (const target of targets) {
    const dir = join(outDir, target)
    await buildTarget(target, dir, version, options.minify ?? true, options.testHarness)
    const result: ExtensionBuildResult = { target, dir, bytes: await folderBytes(dir) }
    if (packageDir !== null) {
      const archive = join(packageDir, ARCHIVE_NAMES[target])
      result.archive = archive
      result.archiveBytes = await packageFolder(dir, archive)
    }
    results.push(result)
  }
  return results
}

export interface LintReport { dir: string, errors: number, warnings: number, messages: Array<{ type: string, code: string, message: string, file?: string }> }

/** Runs `web-ext lint` (addons-linter, offline) on an unpacked folder. */
export async function lintExtension (dir: string): Promise<LintReport> {
  const bin = join(ROOT, 'node_modules', '.bin', 'web-ext')
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(bin, ['lint', '--source-dir', dir, '--output', 'json', '--no-config-discovery'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString() })
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString() })
    child.on('error', reject)
    // web-ext exits non-zero when there are errors: the JSON still says which
    child.on('close', () => {
      if (stdout.trim() !== '') resolve(stdout)
      else reject(new Error(`web-ext lint printed nothing: ${stderr}`))
    })
  })
  const json = JSON.parse(out.slice(out.indexOf('{'))) as {
    count: number
    summary: { errors: number, warnings: number }
    errors: LintReport['messages']
    warnings: LintReport['messages']
  }
  return {
    dir,
    errors: json.summary.errors,
    warnings: json.summary.warnings,
    messages: [...json.errors.map(m => ({ ...m, type: 'error' })), ...json.warnings.map(m => ({ ...m, type: 'warning' }))]
  }
}

if (import.meta.main === true) {
  const started = Date.now()
  const results = await buildExtensions()
  for (const r of results) {
    console.info(`${r.target}: ${r.dir} (${(r.bytes / 1024).toFixed(0)} KiB)` +
      (r.archive !== undefined ? `, ${relative(ROOT, r.archive)} (${((r.archiveBytes ?? 0) / 1024).toFixed(0)} KiB)` : ''))
  }
  console.info(`extensions built in ${Date.now() - started} ms`)
  if (process.argv.includes('--lint')) {
    let failed = false
    for (const r of results.filter(r => r.target !== 'chromium')) {
      const report = await lintExtension(r.dir)
      console.info(`web-ext lint ${r.target}: ${report.errors} errors, ${report.warnings} warnings`)
      for (const m of report.messages) console.info(`  ${m.type} ${m.code}: ${m.message}${m.file !== undefined ? ` (${m.file})` : ''}`)
      if (report.errors > 0) failed = true
    }
    if (failed) process.exit(1)
  }
}
