/**
 * A real Kamailio (Debian's kamailio + kamailio-websocket-modules) on
 * loopback for tests and the call-setup benchmark: a templated config
 * written into a temp dir, the process in the foreground, taken down on
 * stop() or when this process exits.
 *
 * ```ts
 * const check = kamailioAvailable()
 * const kam = await startKamailio(check, { config: 'test/sip/fixtures/kamailio-accounts.cfg' })
 * // kam.wsUrl === 'ws://127.0.0.1:<port>'
 * await kam.stop()
 * ```
 *
 * A config template may use __PORT__ (the WebSocket port) and __MPATH__
 * (the module directory, with a trailing slash), and any `vars` given.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Debian's kamailio package puts it here; PEERLINE_KAMAILIO overrides. */
export const KAMAILIO = process.env.PEERLINE_KAMAILIO ?? '/usr/sbin/kamailio'
/** Where Debian (and other layouts) keep Kamailio's modules; the first with websocket.so wins. */
const KAMAILIO_MODULE_DIRS = [
  `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/kamailio/modules`,
  '/usr/lib64/kamailio/modules',
  '/usr/lib/kamailio/modules',
  '/usr/local/lib64/kamailio/modules',
  '/usr/local/lib/kamailio/modules'
]
const KAMAILIO_START_TIMEOUT_MS = 10_000
const KAMAILIO_STOP_TIMEOUT_MS = 5_000

export type KamailioCheck = { ok: true, bin: string, modules: string } | { ok: false, reason: string }

/** Whether Kamailio can run here, and if not a sentence saying why. */
export function kamailioAvailable (): KamailioCheck {
  if (!existsSync(KAMAILIO)) {
    return { ok: false, reason: `${KAMAILIO} not found: install Debian's kamailio and kamailio-websocket-modules packages (apt-get install -y kamailio kamailio-websocket-modules) or set PEERLINE_KAMAILIO` }
  }
  const modules = KAMAILIO_MODULE_DIRS.find(d => existsSync(join(d, 'websocket.so')))
  if (modules === undefined) {
    return { ok: false, reason: `Kamailio's websocket module (websocket.so) not found in ${KAMAILIO_MODULE_DIRS.join(', ')}: install kamailio-websocket-modules` }
  }
  return { ok: true, bin: KAMAILIO, modules }
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** A TCP port nothing listens on right now (127.0.0.1). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      srv.close(() => { resolve(port) })
    })
  })
}

async function canConnect (port: number): Promise<boolean> {
  return await new Promise(resolve => {
    const s = createConnection({ host: '127.0.0.1', port })
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { resolve(false) })
  })
}

export interface KamailioProcess {
  port: number
  wsUrl: string
  child: ChildProcess
  /** what Kamailio wrote to stderr so far (bounded), for failure messages */
  log: () => string
  /** SIGTERM (SIGKILL after a while), then the temp dir is removed */
  stop: () => Promise<void>
  /** SIGKILL at once, as a crash would (the temp dir is removed) */
  kill: () => Promise<void>
}

export interface StartKamailioOptions {
  /** the config template */
  config: string
  /** default: a free port */
  port?: number
  /** more `__NAME__` → value substitutions */
  vars?: Record<string, string>
}

/** Kamailio on 127.0.0.1:<port> in the foreground, config and runtime files in a temp dir. */
export async function startKamailio (check: { bin: string, modules: string }, options: StartKamailioOptions): Promise<KamailioProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'peerline-kamailio-'))
  const port = options.port ?? await freePort()
  let text = (await readFile(options.config, 'utf8')).replaceAll('__PORT__', String(port)).replaceAll('__MPATH__', check.modules + '/')
  for (const [k, v] of Object.entries(options.vars ?? {})) text = text.replaceAll(`__${k}__`, v)
  const cfg = join(dir, 'kamailio.cfg')
  await writeFile(cfg, text)
  // -DD: no daemon, children still forked; -E: log to stderr; -Y: runtime files (pid, fifo) in our dir
  // its own process group: a crash (kill()) takes the forked children (which hold the sockets) down too
  const child = spawn(check.bin, ['-DD', '-E', '-f', cfg, '-Y', dir, '-P', join(dir, 'kamailio.pid')], { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal)
    } catch { /* gone already */ }
  }
  let log = ''
  child.stderr?.on('data', (d: Buffer) => { if (log.length < 20_000) log += d.toString() })
  let exited: number | string | null | undefined
  const exit = new Promise<void>(resolve => { child.once('exit', (code, signal) => { exited = code ?? signal; resolve() }) })
  child.once('error', err => { log += `\n${err.message}` })
  // Kamailio outlives its parent: take it down if this process exits without stop()
  const orphanGuard = (): void => { signalGroup('SIGKILL') }
  process.once('exit', orphanGuard)

  const end = async (signal: NodeJS.Signals): Promise<void> => {
    process.off('exit', orphanGuard)
    if (exited === undefined) {
      if (signal === 'SIGKILL') signalGroup(signal)
      else child.kill(signal)
      const timer = setTimeout(() => { signalGroup('SIGKILL') }, KAMAILIO_STOP_TIMEOUT_MS)
      await exit
      clearTimeout(timer)
    }
    await rm(dir, { recursive: true, force: true })
  }
  const stop = async (): Promise<void> => { await end('SIGTERM') }

  const until = Date.now() + KAMAILIO_START_TIMEOUT_MS
  while (!(await canConnect(port))) {
    if (exited !== undefined || Date.now() > until) {
      await stop()
      throw new Error(`Kamailio did not start on 127.0.0.1:${port} (${exited !== undefined ? `exited: ${exited}` : 'timed out'}):\n${log.trim()}`)
    }
    await sleep(50)
  }
  return { port, wsUrl: `ws://127.0.0.1:${port}`, child, log: () => log, stop, kill: async () => { await end('SIGKILL') } }
}
