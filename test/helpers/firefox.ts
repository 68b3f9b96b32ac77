/**
 * Debian's Firefox ESR, headless, with Peerline's unsigned Firefox extension
 * sideloaded into a throwaway profile, driven over WebDriver BiDi (the
 * protocol Firefox itself speaks on --remote-debugging-port). playwright-core's
 * BiDi Firefox driver sends commands Firefox ESR does not implement
 * (emulation.setMediaFeaturesOverride), so this is a small client of its own.
 * Nothing is downloaded.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { eventually } from './eventually.ts'

export const FIREFOX = process.env.PEERLINE_FIREFOX ?? '/usr/bin/firefox-esr'
export const FIREFOX_ADDON_ID = 'peerline@peerline.invalid'

/** Firefox prints its BiDi address within a few seconds; generous for a loaded 2-core machine. */
const START_TIMEOUT = 60_000
/** One BiDi command answers in milliseconds; a page load or script can take a while on a loaded machine. */
const COMMAND_TIMEOUT = 60_000

export class FirefoxMissingError extends Error {
  override name = 'FirefoxMissingError'
}

/** Whether Firefox is installed; with CI=true a missing Firefox is an error rather than a skip. */
export function firefoxAvailable (): boolean {
  if (existsSync(FIREFOX)) return true
  if (process.env.CI === 'true') throw new FirefoxMissingError(`Firefox not found at ${FIREFOX}: install Debian's firefox-esr package (.ci/run does) or set PEERLINE_FIREFOX`)
  return false
}

/** Prefs of the throwaway profile (user.js). */
function userJs (): string {
  const prefs: Record<string, string | number | boolean> = {
    // load the unsigned extension sideloaded into <profile>/extensions
    'xpinstall.signatures.required': false,
    'extensions.autoDisableScopes': 0,
    'extensions.enabledScopes': 15,
    'extensions.webextensions.background-delayed-startup': false,
    // fake microphone (a tone), no permission prompt, loopback ICE candidates
    'media.navigator.streams.fake': true,
    'media.navigator.permission.disabled': true,
    'media.peerconnection.ice.loopback': true,
    'media.peerconnection.ice.obfuscate_host_addresses': false,
    // quiet first run, no network chatter
    'browser.shell.checkDefaultBrowser': false,
    'browser.startup.homepage_override.mstone': 'ignore',
    'datareporting.policy.dataSubmissionEnabled': false,
    'toolkit.telemetry.reportingpolicy.firstRun': false,
    'app.update.enabled': false,
    'extensions.update.enabled': false,
    'remote.prefs.recommended': true
  }
  return Object.entries(prefs).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});`).join('\n') + '\n'
}

interface BidiMessage { id?: number, type?: string, method?: string, params?: any, result?: any, error?: string, message?: string }

export interface BrowsingContext { context: string, url: string }

/** In-page helpers prepended to every evaluated expression: find controls the way a person reads them. */
const DOM_HELPERS = `
const $label = t => { const l = [...document.querySelectorAll('label')].find(l => l.textContent.trim().startsWith(t)); return l?.querySelector('input,textarea') ?? null }
const $button = t => [...document.querySelectorAll('button')].find(b => b.textContent.trim() === t) ?? null
const $fill = (el, v) => { el.focus(); el.value = v; el.dispatchEvent(new Event('input', { bubbles: true })); el.dispatchEvent(new Event('change', { bubbles: true })) }
`

/** A running Firefox with Peerline installed, and a BiDi session on it. */
export class Firefox {
  readonly contexts = new Map<string, BrowsingContext>()
  readonly log: string[] = []
  #proc: ChildProcess
  #ws: WebSocket
  #nextId = 0
  #pending = new Map<number, { resolve: (m: BidiMessage) => void }>()
  readonly profile: string

  private constructor (proc: ChildProcess, ws: WebSocket, profile: string) {
    this.#proc = proc
    this.#ws = ws
    this.profile = profile
    ws.addEventListener('message', e => { this.#onMessage(JSON.parse(String(e.data)) as BidiMessage) })
  }

  /** Sideloads `xpi` into a fresh profile in `profile` and starts Firefox on it. */
  static async launch (profile: string, xpi: string): Promise<Firefox> {
    await mkdir(join(profile, 'extensions'), { recursive: true })
    await copyFile(xpi, join(profile, 'extensions', `${FIREFOX_ADDON_ID}.xpi`))
    await writeFile(join(profile, 'user.js'), userJs())
    const proc = spawn(FIREFOX, ['--headless', '--no-remote', '--remote-debugging-port=0', '--profile', profile], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`Firefox printed no WebDriver BiDi address within ${START_TIMEOUT} ms: ${output.slice(-2000)}`)) }, START_TIMEOUT)
      const onData = (d: Buffer): void => {
        output += d.toString()
        const m = /WebDriver BiDi listening on (ws:\/\/\S+)/.exec(output)
        if (m !== null) { clearTimeout(timer); resolve(m[1] as string) }
      }
      proc.stderr?.on('data', onData)
      proc.stdout?.on('data', () => {})
      proc.once('exit', code => { clearTimeout(timer); reject(new Error(`Firefox exited (${String(code)}) before starting: ${output.slice(-2000)}`)) })
    })
    const ws = new WebSocket(`${url}/session`)
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => { resolve() })
      ws.addEventListener('error', () => { reject(new Error(`cannot connect to Firefox at ${url}`)) })
    })
    const ff = new Firefox(proc, ws, profile)
    await ff.send('session.new', { capabilities: {} })
    await ff.send('session.subscribe', { events: ['browsingContext.contextCreated', 'browsingContext.contextDestroyed', 'browsingContext.navigationStarted', 'browsingContext.load', 'log.entryAdded'] })
    const tree = await ff.send('browsingContext.getTree', {})
    for (const c of tree.contexts as BrowsingContext[]) ff.contexts.set(c.context, { context: c.context, url: c.url })
    return ff
  }

  #onMessage (m: BidiMessage): void {
    if (m.id !== undefined) {
      this.#pending.get(m.id)?.resolve(m)
      this.#pending.delete(m.id)
      return
    }
    const p = m.params
    if (m.method === 'browsingContext.contextCreated' && p.parent == null) this.contexts.set(p.context, { context: p.context, url: p.url })
    else if (m.method === 'browsingContext.contextDestroyed') this.contexts.delete(p.context)
    else if ((m.method === 'browsingContext.navigationStarted' || m.method === 'browsingContext.load') && this.contexts.has(p.context)) this.contexts.set(p.context, { context: p.context, url: p.url })
    else if (m.method === 'log.entryAdded' && p.level === 'error') this.log.push(`${p.source?.context ?? ''}: ${String(p.text)}`)
  }

  async send (method: string, params: unknown): Promise<any> {
    const id = ++this.#nextId
    const answer = new Promise<BidiMessage>((resolve, reject) => {
      const timer = setTimeout(() => { this.#pending.delete(id); reject(new Error(`BiDi ${method}: no answer in ${COMMAND_TIMEOUT} ms`)) }, COMMAND_TIMEOUT)
      this.#pending.set(id, { resolve: m => { clearTimeout(timer); resolve(m) } })
    })
    this.#ws.send(JSON.stringify({ id, method, params }))
    const m = await answer
    if (m.type === 'error') throw new Error(`BiDi ${method}: ${String(m.error)}: ${String(m.message)}`)
    return m.result
  }

  /** The moz-extension:// host of Peerline, from the profile's prefs once Firefox has installed it. */
  async extensionUuid (): Promise<string> {
    // eventually() returns only a truthy value
    return await eventually(async (): Promise<string> => {
      const prefs = await readFile(join(this.profile, 'prefs.js'), 'utf8').catch(() => '')
      const m = /extensions\.webextensions\.uuids", "(.*)"\);/.exec(prefs)
      if (m === null) return ''
      const uuids = JSON.parse(JSON.parse(`"${m[1] as string}"`) as string) as Record<string, string>
      return uuids[FIREFOX_ADDON_ID] ?? ''
    }, { timeoutMs: START_TIMEOUT, what: 'Firefox to install the sideloaded Peerline extension' })
  }

  async newTab (url: string): Promise<string> {
    const { context } = await this.send('browsingContext.create', { type: 'tab' })
    await this.send('browsingContext.navigate', { context, url, wait: 'complete' })
    return context as string
  }

  /** Waits for a top-level context whose URL matches. */
  async waitForContext (match: (url: string) => boolean, timeoutMs: number, except: readonly string[] = []): Promise<string> {
    const found = await eventually(async () => {
      // the tree, not the events: a new window's URL is reported reliably only there
      const tree = await this.send('browsingContext.getTree', { maxDepth: 0 })
      this.contexts.clear()
      for (const c of tree.contexts as BrowsingContext[]) this.contexts.set(c.context, { context: c.context, url: c.url })
      return [...this.contexts.values()].find(c => !except.includes(c.context) && match(c.url))
    }, { timeoutMs, what: 'a Firefox window or tab' })
    // eventually() returns only a truthy value
    return (found as BrowsingContext).context
  }

  /**
   * Runs `body` (statements ending in `return …`, with $label/$button/$fill
   * at hand) in the page and returns its JSON result.
   */
  async run<T> (context: string, body: string): Promise<T> {
    const expression = `(async () => { ${DOM_HELPERS}; const r = await (async () => { ${body} })(); return JSON.stringify(r ?? null) })()`
    const r = await this.send('script.evaluate', { expression, target: { context }, awaitPromise: true })
    if (r.type === 'exception') throw new Error(`in page: ${String(r.exceptionDetails?.text)}`)
    return JSON.parse(r.result.value as string) as T
  }

  /** Waits until `body` returns something truthy in the page. */
  async until<T> (context: string, body: string, timeoutMs: number, what: string): Promise<T> {
    return await eventually(async () => await this.run<T>(context, body), { timeoutMs, what })
  }

  /** A real mouse click (trusted input) in the middle of the element `selector`. */
  async click (context: string, selector: string): Promise<void> {
    const r = await this.run<{ x: number, y: number, width: number, height: number }>(context, `const e = document.querySelector(${JSON.stringify(selector)}); e.scrollIntoView(); const b = e.getBoundingClientRect(); return { x: b.x, y: b.y, width: b.width, height: b.height }`)
    const x = Math.round(r.x + r.width / 2)
    const y = Math.round(r.y + r.height / 2)
    await this.send('input.performActions', {
      context,
      actions: [{ type: 'pointer', id: 'mouse', parameters: { pointerType: 'mouse' }, actions: [{ type: 'pointerMove', x, y }, { type: 'pointerDown', button: 0 }, { type: 'pointerUp', button: 0 }] }]
    })
  }

  /** Closes a tab or window (and forgets it at once: Firefox may not report closing a window's last tab). */
  async closeContext (context: string): Promise<void> {
    this.contexts.delete(context)
    await this.send('browsingContext.close', { context })
  }

  async close (): Promise<void> {
    const exited = new Promise<void>(resolve => { if (this.#proc.exitCode !== null) resolve(); else this.#proc.once('exit', () => { resolve() }) })
    await this.send('browser.close', {}).catch(() => {})
    const timer = setTimeout(() => { this.#proc.kill('SIGKILL') }, 10_000)
    await exited
    clearTimeout(timer)
    this.#ws.close()
  }
}
