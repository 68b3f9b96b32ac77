/**
 * Supernode capacity on loopback: one real supernode process (supernode/cli.ts,
 * as `npm run supernode` starts it) and growing numbers of real client devices
 * (shared/overlay Overlay, WebSockets + Noise + Yamux, kad-dht client mode,
 * relay reservation) in this process. For each level: clients that stay
 * connected, the supernode's memory per client, and how many signed location
 * records per second it accepts when every client publishes at once.
 *
 *   node_modules/.bin/node bench/supernode-capacity.ts            # < 5 min
 *   node_modules/.bin/node bench/supernode-capacity.ts --quick    # seconds
 *   node_modules/.bin/node bench/supernode-capacity.ts --levels=100,800 --budget-s=600
 */
import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { overlay } from '../shared/overlay/index.ts'
import type { Overlay } from '../shared/overlay/index.ts'
import { newIdentity } from '../test/helpers/overlay.ts'
import { spawnSupernode } from '../test/helpers/supernode-process.ts'
import type { SupernodeProcess } from '../test/helpers/supernode-process.ts'
import {
  isMain, loadLine, machineLine, mapLimit, mean, percentile, round, rssMiB, runStandalone
} from './lib/report.ts'
import type { BenchOptions, BenchReport } from './lib/report.ts'

export interface CapacityOptions extends BenchOptions {
  /** connected-client targets, increasing */
  levels?: number[]
  /** length of the all-clients-publish window at each level */
  publishWindowMs?: number
  /** wall-clock budget; no new level starts when it would not fit */
  budgetMs?: number
}

const FULL = { levels: [50, 100, 200, 400, 800], publishWindowMs: 10_000, budgetMs: 270_000, settleMs: 3_000 }
const QUICK = { levels: [3], publishWindowMs: 1_500, budgetMs: 30_000, settleMs: 300 }
/**
 * Clients dialling at once. libp2p lets a node upgrade at most 10 inbound
 * connections at a time (maxIncomingPendingConnections); stay under it so
 * refusals measure capacity, not the benchmark's own burst.
 */
const CONNECT_CONCURRENCY = 8
const CONNECT_TIMEOUT_MS = 20_000
/** stop adding clients when more than this share of a level's new clients fail to connect */
const MAX_FAILURE_RATIO = 0.05
const PUBLISH_TIMEOUT_MS = 10_000

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

function clockTicks (): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
}

/** Resident memory of a process (all threads), MiB. */
async function processRssMiB (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? NaN)
  return kb / 1024
}

/** CPU seconds a process has used (user + system, all threads). */
async function processCpuSeconds (pid: number, ticks: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // fields after "pid (comm)"; utime and stime are fields 14 and 15 of the whole line
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / ticks
}

interface Client { overlay: Overlay, connectMs: number, published?: boolean }

async function startClient (sn: SupernodeProcess, i: number): Promise<Client> {
  const identity = await newIdentity(`client${i}@bench.example`)
  // a device as the PWA runs it, minus WebRTC (Node has none)
  const o = overlay({ bootstrap: [sn.addr], identity, webrtc: false })
  const started = performance.now()
  try {
    await o.start()
    await o.waitOnline({ signal: AbortSignal.timeout(CONNECT_TIMEOUT_MS) })
  } catch (err) {
    await o.stop().catch(() => {})
    throw err
  }
  return { overlay: o, connectMs: performance.now() - started }
}

interface PublishResult { ok: number, latencies: number[], errors: Record<string, number> }

/** Every client publishes back to back until the window closes; only publishes finished inside it count. */
async function publishWindow (clients: Client[], windowMs: number): Promise<PublishResult> {
  const end = performance.now() + windowMs
  const result: PublishResult = { ok: 0, latencies: [], errors: {} }
  await Promise.all(clients.map(async c => {
    while (performance.now() < end) {
      const t = performance.now()
      try {
        await c.overlay.publish({ signal: AbortSignal.timeout(PUBLISH_TIMEOUT_MS) })
        if (performance.now() <= end) {
          result.ok++
          result.latencies.push(performance.now() - t)
        }
      } catch (err) {
        const name = (err as Error).name
        result.errors[name] = (result.errors[name] ?? 0) + 1
        if (name === 'OfflineError') {
          // dropped by the supernode: count it once, then wait for the reconnect (back-off) instead of spinning
          await c.overlay.waitOnline({ signal: AbortSignal.timeout(Math.max(1, end - performance.now())) }).catch(() => {})
        }
      }
    }
  }))
  return result
}

export async function run (options: CapacityOptions = {}): Promise<BenchReport> {
  const base = options.quick === true ? QUICK : FULL
  const levels = options.levels ?? base.levels
  const windowMs = options.publishWindowMs ?? base.publishWindowMs
  const budgetMs = options.budgetMs ?? base.budgetMs
  // let reservations, identify and self-queries finish before measuring memory
  const settleMs = base.settleMs
  const started = performance.now()
  const ticks = clockTicks()
  const rows: Array<Record<string, string | number>> = []
  const notes: string[] = [
    machineLine(),
    'One supernode process (supernode/cli.ts via test/helpers/supernode-process.ts, in-memory records, --health) on 127.0.0.1; ' +
      'clients are real Overlay devices in the benchmark process (WebSockets, Noise, Yamux, identify, ping, kad-dht client, circuit-relay reservation; no WebRTC).',
    `Levels add clients ${CONNECT_CONCURRENCY} at a time (connect timeout ${CONNECT_TIMEOUT_MS / 1000} s); growth stops when over ${MAX_FAILURE_RATIO * 100} % of a level's new clients fail or the budget runs out. ` +
      `Measured ${settleMs / 1000} s after the last connect.`,
    'connected before/after = the supernode\'s own /health connectedPeers before and after the publish window; ' +
      'RSS is the supernode\'s VmRSS from /proc/<pid>/status, read before the publish window; KiB/client = (RSS - RSS with no clients) / connected; ' +
      'marginal = RSS growth since the previous level / clients added (less skewed by the heap\'s first growth).',
    `Publishing: every connected client calls Overlay.publish() back to back for ${windowMs / 1000} s (a new signed record each time: ` +
      'createLocationRecord, kad-dht put = FIND_NODE + PUT_VALUE, the supernode validates with validateLocationRecord and the stale-record guard), ' +
      'after one untimed first publish per new client. Only publishes finished inside the window count. CPU % = CPU seconds / window (100 % = one core).'
  ]
  const sn = await spawnSupernode({ timeoutMs: 30_000 })
  const pid = sn.proc.pid as number
  const clients: Client[] = []
  try {
    await sleep(settleMs)
    const baseRss = await processRssMiB(pid)
    let prevRss = baseRss
    let prevConnected = 0
    notes.push(`supernode RSS with no clients: ${round(baseRss, 1)} MiB`)
    let nextIndex = 0
    for (const level of levels) {
      const elapsed = performance.now() - started
      const lastLevelMs = Number(rows.at(-1)?.['level s'] ?? 0) * 1000
      const previousLevel = Number(rows.at(-1)?.clients ?? 1)
      const estimateMs = lastLevelMs * (level / previousLevel)
      if (elapsed + estimateMs > budgetMs) {
        notes.push(`level ${level} skipped: about ${Math.round(estimateMs / 1000)} s more would exceed the ${budgetMs / 1000} s budget.`)
        break
      }
      const levelStart = performance.now()
      const wanted = Math.max(0, level - clients.length)
      let failures = 0
      const failureNames: Record<string, number> = {}
      const connectMs: number[] = []
      await mapLimit(Array.from({ length: wanted }), CONNECT_CONCURRENCY, async () => {
        try {
          const c = await startClient(sn, nextIndex++)
          clients.push(c)
          connectMs.push(c.connectMs)
        } catch (err) {
          failures++
          const name = (err as Error).name
          failureNames[name] = (failureNames[name] ?? 0) + 1
        }
      })
      await sleep(settleMs)
      const before = await sn.health()
      const rss = await processRssMiB(pid)
      const onlineBefore = clients.filter(c => c.overlay.status.online)

      // a device publishes as soon as it is online; newcomers do that first, untimed
      // (their first publish also issues the device certificate)
      await Promise.all(onlineBefore.filter(c => !c.published).map(async c => {
        await c.overlay.publish({ signal: AbortSignal.timeout(PUBLISH_TIMEOUT_MS) }).then(() => { c.published = true }, () => {})
      }))
      const cpu0 = await processCpuSeconds(pid, ticks)
      const own0 = process.cpuUsage()
      const pub = await publishWindow(onlineBefore, windowMs)
      const cpu1 = await processCpuSeconds(pid, ticks)
      const own = process.cpuUsage(own0)
      const after = await sn.health()

      rows.push({
        clients: level,
        'connect failures': failures,
        'connect ms p50': round(percentile(connectMs, 50), 0),
        'connect ms p95': round(percentile(connectMs, 95), 0),
        'connected before': before.connectedPeers,
        'connected after': after.connectedPeers,
        'relay reservations': after.relayReservations,
        'SN RSS MiB': round(rss, 1),
        'KiB/client': round(((rss - baseRss) * 1024) / Math.max(1, before.connectedPeers), 1),
        'marginal KiB/client': round(((rss - prevRss) * 1024) / Math.max(1, before.connectedPeers - prevConnected), 1),
        publishers: onlineBefore.length,
        'publishes/s': round(pub.ok / (windowMs / 1000), 1),
        'publish ms p50': round(percentile(pub.latencies, 50), 0),
        'publish ms p95': round(percentile(pub.latencies, 95), 0),
        'publish errors': Object.entries(pub.errors).map(([k, v]) => `${k}:${v}`).join(' ') || 0,
        'SN CPU %': round((100 * (cpu1 - cpu0)) / (windowMs / 1000), 0),
        // robust to other load on the machine: what one publish costs the supernode
        'SN CPU ms/publish': round((1000 * (cpu1 - cpu0)) / Math.max(1, pub.ok), 1),
        'bench CPU %': round((100 * (own.user + own.system) / 1e6) / (windowMs / 1000), 0),
        'rate limited': Object.values((after.rateLimited ?? {}) as Record<string, number>).reduce((a, b) => a + b, 0),
        'bench RSS MiB': round(rssMiB(), 0),
        'level s': round((performance.now() - levelStart) / 1000, 1)
      })
      prevRss = rss
      prevConnected = before.connectedPeers
      if (Object.keys(failureNames).length > 0) notes.push(`level ${level}: connect failures ${JSON.stringify(failureNames)}`)
      if (wanted > 0 && failures / wanted > MAX_FAILURE_RATIO) {
        notes.push(`stopped growing after level ${level}: ${failures}/${wanted} new clients failed to connect.`)
        break
      }
    }
    const rejected = (await sn.health()).rejectedRecords as Record<string, number>
    if (Object.keys(rejected).length > 0) notes.push(`records the supernode refused: ${JSON.stringify(rejected)}`)
    const publishRates = rows.map(r => Number(r['publishes/s'])).filter(Number.isFinite)
    notes.push(`best sustained publish rate: ${round(Math.max(...publishRates), 1)}/s (mean over levels ${round(mean(publishRates), 1)}/s)`)
  } finally {
    await mapLimit(clients, 16, async c => { await c.overlay.stop().catch(() => {}) })
    const code = await Promise.race([sn.kill('SIGTERM'), sleep(5_000).then(() => 'timeout' as const)])
    if (code === 'timeout') await sn.kill('SIGKILL')
  }
  notes.push(`total ${round((performance.now() - started) / 1000, 1)} s; at the end ${loadLine()}`)
  return { name: 'supernode-capacity', rows, notes }
}

/** `--levels=50,100,200 --window-s=10 --budget-s=600` override the defaults from the command line. */
function optionsFromArgv (argv: string[]): CapacityOptions {
  const value = (name: string): string | undefined => argv.find(a => a.startsWith(`--${name}=`))?.slice(name.length + 3)
  const levels = value('levels')
  const window = value('window-s')
  const budget = value('budget-s')
  return {
    ...(levels != null ? { levels: levels.split(',').map(Number) } : {}),
    ...(window != null ? { publishWindowMs: Number(window) * 1000 } : {}),
    ...(budget != null ? { budgetMs: Number(budget) * 1000 } : {})
  }
}

if (isMain(import.meta.url)) await runStandalone(async options => run({ ...options, ...optionsFromArgv(process.argv) }))
