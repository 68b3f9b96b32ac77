/**
 * Runs the real Thunderbird (Debian package) headless with the Peerline
 * add-on sideloaded into a throwaway profile, and talks to the add-on's
 * TEST-ONLY driver (extension/thunderbird/test/driver.ts) over loopback
 * HTTP long-poll: the driver POSTs its last reply to /poll and gets the next
 * command.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import type { Server, ServerResponse } from 'node:http'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildExtensions } from '../../build/extension.ts'

export const THUNDERBIRD = process.env.PEERLINE_THUNDERBIRD ?? '/usr/bin/thunderbird'
/** The add-on id (manifest.json browser_specific_settings.gecko.id): the sideloaded file's name. */
export const ADDON_ID = 'peerline@peerline.invalid'
/** How long a poll is held open before a noop (well under Gecko's fetch timeouts). */
const POLL_HOLD_MS = 15_000

interface Pending { id: number, cmd: string, args: unknown, resolve: (v: unknown) => void, reject: (e: Error) => void, timer: ReturnType<typeof setTimeout> }

export interface Harness {
  url: string
  /** resolves when the driver has said hello (the add-on's background runs) */
  connected: Promise<{ loadedAt: number }>
  hellos: () => number
  cmd: <T = unknown>(cmd: string, args?: Record<string, unknown>, timeoutMs?: number) => Promise<T>
  close: () => Promise<void>
}

export async function startHarness (): Promise<Harness> {
  let nextId = 1
  const queue: Pending[] = []
  const inflight = new Map<number, Pending>()
  let waiting: ServerResponse | undefined
  let waitTimer: ReturnType<typeof setTimeout> | undefined
  let hellos = 0
  let onHello: (v: { loadedAt: number }) => void = () => {}
  const connected = new Promise<{ loadedAt: number }>(resolve => { onHello = resolve })

  const send = (res: ServerResponse, body: unknown): void => {
    res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*' })
    res.end(JSON.stringify(body))
  }
  const dispatch = (): void => {
    if (waiting === undefined || queue.length === 0) return
    const p = queue.shift() as Pending
    inflight.set(p.id, p)
    clearTimeout(waitTimer)
    const res = waiting
    waiting = undefined
    send(res, { id: p.id, cmd: p.cmd, args: p.args })
  }

  const server: Server = createServer((req, res) => {
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'content-type', 'access-control-allow-methods': 'POST' })
      res.end()
      return
    }
    if (req.url !== '/poll' || req.method !== 'POST') { res.writeHead(404); res.end(); return }
    let body = ''
    req.on('data', (d: Buffer) => { body += d.toString() })
    req.on('end', () => {
      let reply: { id?: number, ok?: boolean, result?: unknown, error?: string, hello?: string, loadedAt?: number } = {}
      try { reply = JSON.parse(body) as typeof reply } catch { /* empty first poll */ }
      if (reply.hello !== undefined) { hellos++; onHello({ loadedAt: reply.loadedAt ?? 0 }) }
      if (reply.id !== undefined) {
        const p = inflight.get(reply.id)
        if (p !== undefined) {
          inflight.delete(reply.id)
          clearTimeout(p.timer)
          if (reply.ok === true) p.resolve(reply.result)
          else p.reject(new Error(`driver ${p.cmd}: ${reply.error ?? 'failed'}`))
        }
      }
      // an older poll still open (driver restarted): release it
      if (waiting !== undefined) send(waiting, { cmd: 'noop' })
      waiting = res
      clearTimeout(waitTimer)
      waitTimer = setTimeout(() => {
        if (waiting === res) { waiting = undefined; send(res, { cmd: 'noop' }) }
      }, POLL_HOLD_MS)
      dispatch()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}`,
    connected,
    hellos: () => hellos,
    cmd: async <T>(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> => await new Promise<T>((resolve, reject) => {
      const id = nextId++
      const timer = setTimeout(() => {
        const i = queue.findIndex(p => p.id === id)
        if (i !== -1) queue.splice(i, 1)
        inflight.delete(id)
        reject(new Error(`driver command ${cmd} timed out after ${timeoutMs} ms`))
      }, timeoutMs)
      queue.push({ id, cmd, args, resolve: resolve as (v: unknown) => void, reject, timer })
      dispatch()
    }),
    close: async () => {
      clearTimeout(waitTimer)
      if (waiting !== undefined) send(waiting, { cmd: 'noop' })
      for (const p of [...queue, ...inflight.values()]) { clearTimeout(p.timer); p.reject(new Error('harness closed')) }
      server.closeAllConnections()
      server.close()
    }
  }
}

export interface ThunderbirdProcess {
  profile: string
  proc: ChildProcess
  output: () => string
  /** URLs Thunderbird gave the (captured) default browser */
  browserOpened: () => Promise<string[]>
  stop: () => Promise<void>
}

/** Prefs of the throwaway profile (user.js). */
export function profilePrefs (extra: Record<string, string | number | boolean> = {}): string {
  const prefs: Record<string, string | number | boolean> = {
    // load the unsigned add-on sideloaded into <profile>/extensions
    'extensions.autoDisableScopes': 0,
    'extensions.enabledScopes': 15,
    'xpinstall.signatures.required': false,
    // start background pages at once in headless mode (no first window paint to wait for)
    'extensions.webextensions.background-delayed-startup': false,
    // quiet first run, no network chatter
    'mail.shell.checkDefaultClient': false,
    'mailnews.start_page.enabled': false,
    'mail.provider.suppress_dialog_on_startup': true,
    'mail.rights.override': true,
    'datareporting.policy.dataSubmissionEnabled': false,
    'toolkit.telemetry.reportingpolicy.firstRun': false,
    'app.update.enabled': false,
    'extensions.update.enabled': false,
    'browser.dom.window.dump.enabled': true,
    'devtools.console.stdout.content': true,
    // a Local Folders account, as every profile with mail has one
    'mail.accountmanager.accounts': 'account1',
    'mail.accountmanager.localfoldersserver': 'server1',
    'mail.account.account1.server': 'server1',
    'mail.server.server1.type': 'none',
    'mail.server.server1.hostname': 'Local Folders',
    'mail.server.server1.name': 'Local Folders',
    'mail.server.server1.userName': 'nobody',
    'mail.server.server1.directory-rel': '[ProfD]Mail/Local Folders',
    ...extra
  }
  return Object.entries(prefs).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});`).join('\n') + '\n'
}

/** A loopback TCP port free right now (for Marionette). */
export async function freePort (): Promise<number> {
  const server = createNetServer()
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
  const port = (server.address() as { port: number }).port
  await new Promise(resolve => { server.close(resolve) })
  return port
}

/** Builds the Thunderbird add-on with the test driver pointed at `harnessUrl`; returns the .xpi. */
export async function buildTestAddon (harnessUrl: string, dir: string): Promise<string> {
  const [r] = await buildExtensions({ targets: ['thunderbird'], outDir: join(dir, 'unpacked'), packageDir: join(dir, 'pkg'), testHarness: harnessUrl })
  if (r?.archive === undefined) throw new Error('no Thunderbird package built')
  return r.archive
}

/**
 * Makes a script the desktop's default web browser for one process tree
 * (XDG mimeapps.list + .desktop file in private XDG dirs): every URL the
 * "browser" is asked to open is appended to `<dir>/opened.txt`.
 */
async function captureBrowser (dir: string): Promise<{ env: Record<string, string>, opened: () => Promise<string[]> }> {
  const data = join(dir, 'data')
  const config = join(dir, 'config')
  const log = join(dir, 'opened.txt')
  await mkdir(join(data, 'applications'), { recursive: true })
  await mkdir(config, { recursive: true })
  const script = join(dir, 'browser.sh')
  await writeFile(script, `#!/bin/sh\nprintf '%s\\n' "$1" >> '${log}'\n`, { mode: 0o755 })
  await writeFile(join(data, 'applications', 'peerline-test-browser.desktop'),
    `[Desktop Entry]\nType=Application\nName=Peerline test browser\nExec=${script} %u\nMimeType=x-scheme-handler/http;x-scheme-handler/https;\n`)
  await writeFile(join(config, 'mimeapps.list'),
    '[Default Applications]\nx-scheme-handler/http=peerline-test-browser.desktop\nx-scheme-handler/https=peerline-test-browser.desktop\n')
  return {
    env: { XDG_DATA_HOME: data, XDG_CONFIG_HOME: config, XDG_DATA_DIRS: data },
    opened: async () => existsSync(log) ? (await readFile(log, 'utf8')).split('\n').filter(l => l !== '') : []
  }
}

export async function startThunderbird (xpi: string, prefs: Record<string, string | number | boolean> = {}, options: { marionettePort?: number } = {}): Promise<ThunderbirdProcess> {
  if (!existsSync(THUNDERBIRD)) throw new Error(`${THUNDERBIRD} is missing: apt-get install thunderbird`)
  const profile = await mkdtemp(join(tmpdir(), 'peerline-tb-'))
  await mkdir(join(profile, 'extensions'), { recursive: true })
  await copyFile(xpi, join(profile, 'extensions', `${ADDON_ID}.xpi`))
  // Marionette (test/helpers/marionette.ts): real mouse clicks, which no add-on API can make
  const marionette: Record<string, number> = options.marionettePort !== undefined ? { 'marionette.port': options.marionettePort } : {}
  await writeFile(join(profile, 'user.js'), profilePrefs({ ...prefs, ...marionette }))
  const browser = await captureBrowser(join(profile, 'xdg'))
  const proc = spawn(THUNDERBIRD, ['--headless', '--no-remote', '--profile', profile, ...(options.marionettePort !== undefined ? ['--marionette', '-remote-allow-system-access'] : [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...browser.env, MOZ_HEADLESS: '1', MOZ_CRASHREPORTER_DISABLE: '1' }
  })
  let out = ''
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  proc.stderr?.on('data', (d: Buffer) => { out += d.toString() })
  const exited = once(proc, 'exit')
  return {
    profile,
    proc,
    output: () => out,
    browserOpened: browser.opened,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM')
        const timer = setTimeout(() => { proc.kill('SIGKILL') }, 10_000)
        await exited
        clearTimeout(timer)
      }
      await rm(profile, { recursive: true, force: true })
    }
  }
}
