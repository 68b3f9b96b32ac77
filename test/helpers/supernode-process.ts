/**
 * Runs real supernode processes (supernode/cli.ts on the pinned Node) for
 * integration tests, on loopback with ephemeral ports.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { eventually } from './eventually.ts'

/** Moved to ./eventually.ts; re-exported for branches that still import it from here. */
export { eventually }

const CLI = fileURLToPath(new URL('../../supernode/cli.ts', import.meta.url))

export interface SupernodeProcess {
  proc: ChildProcess
  peerId: string
  addrs: string[]
  /** the ws address with /p2p/ for clients */
  addr: string
  healthUrl: string
  stderr: () => string
  /** GET /health; `gc` collects garbage first (needs nodeArgs ['--expose-gc']) */
  health: (options?: { gc?: boolean }) => Promise<any>
  kill: (signal?: NodeJS.Signals) => Promise<number | null>
}

export interface SpawnOptions {
  bootstrap?: string[]
  dataDir?: string
  port?: number
  extraArgs?: string[]
  /** flags for the Node runtime itself, e.g. ['--expose-gc'] */
  nodeArgs?: string[]
  timeoutMs?: number
}

export async function spawnSupernode (options: SpawnOptions = {}): Promise<SupernodeProcess> {
  const args = [
    ...(options.nodeArgs ?? []),
    CLI,
    '--listen', `/ip4/127.0.0.1/tcp/${options.port ?? 0}/ws`,
    '--health', '127.0.0.1:0',
    '--json',
    ...(options.bootstrap ?? []).flatMap(b => ['--bootstrap', b]),
    ...(options.dataDir != null ? ['--data-dir', options.dataDir] : []),
    ...(options.extraArgs ?? [])
  ]
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  let out = ''
  proc.stderr?.on('data', (d: Buffer) => { err += d.toString() })
  const ready = await new Promise<any>((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`supernode did not start in time\n${err}`)) }, options.timeoutMs ?? 20_000)
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const line = out.split('\n').find(l => l.startsWith('{'))
      if (line != null) {
        clearTimeout(timer)
        resolve(JSON.parse(line))
      }
    })
    proc.once('exit', code => { clearTimeout(timer); reject(new Error(`supernode exited with ${code}\n${err}`)) })
  })
  const addrs: string[] = ready.addrs
  const exited = once(proc, 'exit')
  return {
    proc,
    peerId: ready.peerId,
    addrs,
    addr: addrs.find(a => a.includes('/ws/')) ?? addrs[0] as string,
    healthUrl: ready.health,
    stderr: () => err,
    health: async (opts = {}) => { const r = await fetch(`${ready.health as string}${opts.gc === true ? '?gc=1' : ''}`); return r.json() },
    kill: async (signal = 'SIGTERM') => {
      if (proc.exitCode != null || proc.signalCode != null) return proc.exitCode
      proc.kill(signal)
      const [code] = await exited
      return code as number | null
    }
  }
}

/** Runs the CLI to completion (for usage errors), returning its exit code and output. */
export async function runCli (args: string[], timeoutMs = 20_000): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs)
  const [code] = await once(proc, 'exit')
  clearTimeout(timer)
  return { code: code as number | null, stdout, stderr }
}

/**
 * Two supernode processes, the second bootstrapped from the first, pushed to
 * `into` (so the caller's after() stops them even if the join times out) and
 * returned once the first sees the second as a supernode peer.
 */
export async function spawnJoinedPair (into: SupernodeProcess[]): Promise<[SupernodeProcess, SupernodeProcess]> {
  const sn1 = await spawnSupernode()
  into.push(sn1)
  const sn2 = await spawnSupernode({ bootstrap: [sn1.addr] })
  into.push(sn2)
  await eventually(async () => (await sn1.health()).supernodePeers >= 1, { what: 'supernodes to join' })
  return [sn1, sn2]
}
