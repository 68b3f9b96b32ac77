/**
 * DHT at scale: how many hops and messages a location lookup costs in an
 * overlay of 100, 1 000 and 5 000 supernodes, and how often it still finds
 * the record after 10 % and 30 % of the supernodes vanished.
 *
 * Every supernode runs the real @libp2p/kad-dht with Peerline's protocol,
 * record validator/selector and stale-record guard, in this one process,
 * over in-memory streams (bench/lib/sim-dht.ts). Records are real signed
 * location records (shared/overlay/record.ts).
 *
 *   node_modules/.bin/node bench/dht-scale.ts            # full run, < 5 min
 *   node_modules/.bin/node bench/dht-scale.ts --quick    # seconds
 *   node_modules/.bin/node bench/dht-scale.ts --joined= --sizes=5000 --budget-s=900   # one size, all lookups
 */
import { freemem } from 'node:os'
import { sha256 } from '@noble/hashes/sha2.js'
import { Key } from 'interface-datastore'
import type { Datastore } from 'interface-datastore'
import { toString as u8ToString } from 'uint8arrays/to-string'
import { generateIdentityKey, issueDeviceCertificate, selfCertify } from '../shared/identity/index.ts'
import { createLocationRecord, decodeLocationValue, encodeLocationRecord, locationKey } from '../shared/overlay/index.ts'
import type { PeerId } from '@libp2p/interface'
import { peerKey, SimNetwork } from './lib/sim-dht.ts'
import type { SimNode } from './lib/sim-dht.ts'
import {
  isMain, liveHeapMiB, loadLine, machineLine, mapLimit, mean, percentile, round, rssMiB, runStandalone
} from './lib/report.ts'
import type { BenchOptions, BenchReport } from './lib/report.ts'

export interface DhtScaleOptions extends BenchOptions {
  /** sizes of overlays with steady-state routing tables, smallest first */
  sizes?: number[]
  /** sizes of overlays built by real joins (bootstrap + self-lookup each), smallest first */
  joinedSizes?: number[]
  /** lookups per (size, churn) configuration */
  lookups?: number
  /** fractions of supernodes stopped after the records were stored, increasing */
  churn?: number[]
  /**
   * wall-clock budget for the whole benchmark: a configuration starts only
   * with 45 s left, and lookups stop (after at least 20 per churn level) when
   * a level's share of the time is used; the report says so
   */
  budgetMs?: number
  seed?: number
}

const FULL = { joinedSizes: [100], sizes: [100, 1_000, 5_000], lookups: 100, churn: [0, 0.1, 0.3], budgetMs: 280_000, releaseMs: 11_000 }
const QUICK = { joinedSizes: [12], sizes: [24], lookups: 8, churn: [0, 0.3], budgetMs: 60_000, releaseMs: 0 }
/** contacts a joining supernode dials first (its --bootstrap list) */
const BOOTSTRAP_PEERS = 3
/** supernodes joining at once; they all share one CPU here */
const JOIN_CONCURRENCY = 16
/**
 * Queries in flight at once. More would not go faster (one CPU does all the
 * work) and would stretch RPC latency past kad-dht's 5 s minimum RPC timeout.
 */
const LOOKUP_CONCURRENCY = 4
const PUT_CONCURRENCY = 4
/** each record is looked up from this many origins per churn level */
const RECORD_REUSE = 4
/** lookups per configuration even when the time budget is spent */
const MIN_LOOKUPS = 20
/** a configuration needs at least this much of the budget left to start */
const MIN_CONFIG_MS = 45_000
/** bound on any one query; generous because thousands of nodes share one CPU */
const QUERY_TIMEOUT_MS = 60_000

type OverlayKind = 'joined' | 'steady'

/** Small deterministic PRNG so runs pick the same nodes (mulberry32). */
function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function pick<T> (items: T[], random: () => number): T {
  return items[Math.floor(random() * items.length)] as T
}

interface DhtInternals {
  routingTable: { size: number, closestPeers: (kadId: Uint8Array, options: { count: number }) => PeerId[] }
  components: { datastore: Datastore }
}

function internals (node: SimNode): DhtInternals {
  return node.dht as unknown as DhtInternals
}

function recordDsKey (key: Uint8Array): Key {
  // where kad-dht keeps a record (bufferToRecordKey('/dht/record', key))
  return new Key(`/dht/record/${u8ToString(key, 'base32')}`, false)
}

interface StoredRecord { aor: string, key: Uint8Array, bytes: Uint8Array, seq: number }

interface LookupResult {
  found: boolean
  /** sequential RPC rounds to the first peer that returned the record */
  hops?: number
  /** deepest round the query reached before it converged */
  depth: number
  rpcs: number
  /** RPCs to stopped supernodes (refused at once) */
  refused: number
  /** other failed RPCs (timeouts) */
  failed: number
  ms: number
}

/** Peak RSS sampler: RSS is read every 100 ms while a size is running. */
function rssPeak (): { stop: () => number } {
  let peak = rssMiB()
  const timer = setInterval(() => { peak = Math.max(peak, rssMiB()) }, 100)
  return { stop: () => { clearInterval(timer); return Math.max(peak, rssMiB()) } }
}

async function drain<T> (it: AsyncIterable<T>, each: (item: T) => void = () => {}): Promise<void> {
  for await (const item of it) each(item)
}

/** A supernode joins: dials its bootstrap peers, then looks itself up (kad-dht's self-query). */
async function join (net: SimNetwork, joined: SimNode[], random: () => number, counts: { joinErrors: number }): Promise<SimNode> {
  const node = await net.addNode()
  const contacts = new Set<SimNode>()
  while (joined.length > 0 && contacts.size < Math.min(BOOTSTRAP_PEERS, joined.length)) contacts.add(pick(joined, random))
  for (const c of contacts) net.connect(node, c)
  // the routing table fills asynchronously (each new contact is pinged first)
  for (let i = 0; i < 200 && contacts.size > 0 && internals(node).routingTable.size === 0; i++) {
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  try {
    await drain(node.dht.getClosestPeers(node.peerId.toMultihash().bytes, { signal: AbortSignal.timeout(QUERY_TIMEOUT_MS) }))
  } catch {
    // a self-lookup cut short still leaves the node in the overlay, as in life
    counts.joinErrors++
  }
  joined.push(node)
  return node
}

function makeRecords (count: number, publishers: SimNode[], random: () => number, tag: string): Array<StoredRecord & { publisher: SimNode }> {
  return Array.from({ length: count }, (_, i) => {
    const publisher = pick(publishers, random)
    const identity = generateIdentityKey()
    const aor = `user${i}.${tag}@bench.example`
    const certificate = selfCertify(identity, aor)
    const peerId = publisher.peerId.toString()
    const record = createLocationRecord({
      identity,
      certificate,
      devices: [{ peerId, certificate: issueDeviceCertificate({ identity, peerId, name: 'bench' }), addrs: [`${publisher.addr.toString()}/p2p/${peerId}`] }],
      seq: Date.now()
    })
    return { aor, key: locationKey(aor), bytes: encodeLocationRecord(record), seq: record.seq, publisher }
  })
}

async function put (node: SimNode, rec: StoredRecord): Promise<{ rpcs: number, replicas: number }> {
  let rpcs = 0
  let replicas = 0
  try {
    await drain(node.dht.put(rec.key, rec.bytes, { signal: AbortSignal.timeout(QUERY_TIMEOUT_MS) }), (e: any) => {
      if (e.name === 'SEND_QUERY') rpcs++
      if (e.name === 'PEER_RESPONSE' && e.messageType === 'PUT_VALUE') replicas++
    })
  } catch {
    // counted by the replicas that did answer
  }
  return { rpcs, replicas }
}

/**
 * One lookup as a device's Overlay.lookup does it (dht.get, then the
 * client-side record check), instrumented: the starting peers (the origin's
 * own closest contacts) are hop 1, a peer first named in a hop-h answer is
 * hop h+1, and the lookup's hop count is that of the first peer that
 * returned the record.
 */
async function lookup (net: SimNetwork, origin: SimNode, rec: StoredRecord): Promise<LookupResult> {
  const started = performance.now()
  const hop = new Map<string, number>()
  for (const p of internals(origin).routingTable.closestPeers(sha256(rec.key), { count: 20 })) hop.set(peerKey(p), 1)
  let rpcs = 0
  let refused = 0
  let failed = 0
  let depth = 0
  let hops: number | undefined
  let verdict: Promise<boolean> = Promise.resolve(false)
  try {
    await drain(origin.dht.get(rec.key, { signal: AbortSignal.timeout(QUERY_TIMEOUT_MS) }), (e: any) => {
      if (e.name === 'SEND_QUERY') rpcs++
      else if (e.name === 'QUERY_ERROR') {
        if (e.error?.name === 'SimDialError') refused++
        else failed++
      } else if (e.name === 'PEER_RESPONSE') {
        const from = peerKey(e.from)
        const h = hop.get(from) ?? 1
        depth = Math.max(depth, h)
        for (const c of e.closer as Array<{ id: PeerId }>) {
          const id = peerKey(c.id)
          if (!hop.has(id)) hop.set(id, h + 1)
        }
        if (e.record != null && hops == null) hops = h
      } else if (e.name === 'VALUE') {
        // the client's own check (Overlay.lookup), through the same memo as the supernodes'
        // a supernode answers with its claims for the address (one identity here)
        verdict = net.checks.validate(rec.key, e.value).then(() => decodeLocationValue(e.value).claims.some(c => c.seq === rec.seq), () => false)
      }
    })
  } catch {
    // NotFoundError, or a query cut short by its timeout: not found either way
  }
  const found = await verdict
  return { found, ...(hops != null ? { hops } : {}), depth, rpcs, refused, failed, ms: performance.now() - started }
}

async function holds (node: SimNode, key: Uint8Array): Promise<boolean> {
  return internals(node).components.datastore.has(recordDsKey(key))
}

async function lookupOrigin (net: SimNetwork, rec: StoredRecord, random: () => number): Promise<SimNode> {
  const alive = net.aliveNodes
  // a supernode that stores the record answers locally: measure network lookups only
  for (let i = 0; i < 50; i++) {
    const n = pick(alive, random)
    if (!await holds(n, rec.key)) return n
  }
  return pick(alive, random)
}

interface SizeResult { rows: Array<Record<string, string | number>>, buildMs: number, totalMs: number, peakRss: number }

async function build (net: SimNetwork, n: number, kind: OverlayKind, random: () => number, counts: { joinErrors: number }): Promise<void> {
  if (kind === 'steady') {
    for (let i = 0; i < n; i++) await net.addNode()
    await net.seedSteadyState(random)
    return
  }
  const joined: SimNode[] = []
  // the first few join one by one so later ones have somebody to bootstrap from
  const first = Math.min(n, BOOTSTRAP_PEERS + 1)
  for (let i = 0; i < first; i++) await join(net, joined, random, counts)
  await mapLimit(Array.from({ length: n - first }), JOIN_CONCURRENCY, async () => join(net, joined, random, counts))
}

/** Lookups from distinct origins until `count` are done or `deadline` passes (those already started finish). */
async function lookupsUntil (net: SimNetwork, records: StoredRecord[], count: number, deadline: number, random: () => number): Promise<LookupResult[]> {
  const results: LookupResult[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count && (results.length < MIN_LOOKUPS || performance.now() < deadline)) {
      const rec = records[next++ % records.length] as StoredRecord
      results.push(await lookup(net, await lookupOrigin(net, rec, random), rec))
    }
  }
  await Promise.all(Array.from({ length: LOOKUP_CONCURRENCY }, worker))
  return results
}

async function runSize (n: number, kind: OverlayKind, lookups: number, churnLevels: number[], seed: number, deadline: number): Promise<SizeResult> {
  const random = rng(seed + n + (kind === 'joined' ? 7 : 0))
  const heapBefore = liveHeapMiB()
  const t0 = performance.now()
  const peak = rssPeak()
  const net = new SimNetwork()
  const counts = { joinErrors: 0 }
  try {
    await build(net, n, kind, random, counts)
    const buildMs = performance.now() - t0
    const rtSizes = net.nodes.map(node => internals(node).routingTable.size)
    const joinStreams = net.stats.streams

    // fewer records than lookups, each looked up from several origins: a put costs as much as a few lookups
    const records = makeRecords(Math.max(1, Math.ceil(lookups / RECORD_REUSE)), net.nodes, random, `n${n}`)
    const puts = await mapLimit(records, PUT_CONCURRENCY, async rec => put(rec.publisher, rec))
    // what the overlay itself holds: nodes, routing tables, peer stores, records
    const overlayHeap = liveHeapMiB() - heapBefore

    const rows: Array<Record<string, string | number>> = []
    const log2n = Math.log2(n)
    for (const [level, churn] of churnLevels.entries()) {
      // stop more supernodes until `churn` of them are gone; nobody republishes
      const target = Math.round(n * churn)
      let stopped = n - net.aliveNodes.length
      while (stopped < target) {
        const victim = pick(net.aliveNodes, random)
        await net.stopNode(victim)
        stopped++
      }
      // an equal share of the time left for each churn level
      const levelDeadline = performance.now() + (deadline - performance.now()) / (churnLevels.length - level)
      const results = await lookupsUntil(net, records, lookups, levelDeadline, random)
      const ok = results.filter(r => r.found)
      const hops = ok.map(r => r.hops).filter((h): h is number => h != null)
      const rpcs = results.map(r => r.rpcs)
      rows.push({
        nodes: n,
        overlay: kind,
        churn: `${Math.round(churn * 100)}%`,
        lookups: results.length,
        'success %': round((100 * ok.length) / results.length, 1),
        'hops mean': round(mean(hops)),
        'hops p95': round(percentile(hops, 95)),
        log2N: round(log2n, 1),
        'hops/log2N': round(mean(hops) / log2n),
        'depth/log2N': round(mean(results.map(r => r.depth)) / log2n),
        'rpcs mean': round(mean(rpcs), 1),
        'rpcs p95': round(percentile(rpcs, 95)),
        'query depth mean': round(mean(results.map(r => r.depth))),
        'refused mean': round(mean(results.map(r => r.refused)), 1),
        'timeouts': results.reduce((a, r) => a + r.failed, 0),
        'lookup ms p50': round(percentile(results.map(r => r.ms), 50), 1),
        'rt size mean': round(mean(rtSizes), 1),
        'put rpcs mean': round(mean(puts.map(p => p.rpcs)), 1),
        'replicas mean': round(mean(puts.map(p => p.replicas)), 1),
        'build s': round(buildMs / 1000, 1),
        'build rpcs/node': round(joinStreams / n, 1),
        'join errors': counts.joinErrors,
        'overlay heap MiB': round(overlayHeap, 0),
        'peak RSS MiB': 0
      })
    }
    const peakRss = peak.stop()
    for (const r of rows) r['peak RSS MiB'] = round(peakRss, 0)
    return { rows, buildMs, totalMs: performance.now() - t0, peakRss }
  } finally {
    peak.stop()
    await net.stopAll()
  }
}

export async function run (options: DhtScaleOptions = {}): Promise<BenchReport> {
  const base = options.quick === true ? QUICK : FULL
  const configs: Array<{ n: number, kind: OverlayKind }> = [
    ...(options.joinedSizes ?? base.joinedSizes).map(n => ({ n, kind: 'joined' as const })),
    ...(options.sizes ?? base.sizes).map(n => ({ n, kind: 'steady' as const }))
  ]
  const init: MeasureInit = {
    configs,
    lookups: options.lookups ?? base.lookups,
    churn: options.churn ?? base.churn,
    budgetMs: options.budgetMs ?? base.budgetMs,
    // kad-dht's longest timers (routing-table update jobs) run 10 s; quick runs skip the wait
    releaseMs: base.releaseMs,
    seed: options.seed ?? 1,
    started: performance.now(),
    cpuStart: process.cpuUsage()
  }
  // libp2p's job queue builds an AbortError (with a stack trace) for every
  // finished job; thousands of simulated nodes make that a large share of the
  // CPU. Stack traces change no hop, message or success count; restored below.
  const stackTraceLimit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return await measure(init)
  } finally {
    Error.stackTraceLimit = stackTraceLimit
  }
}

interface MeasureInit {
  configs: Array<{ n: number, kind: OverlayKind }>
  lookups: number
  churn: number[]
  budgetMs: number
  releaseMs: number
  seed: number
  started: number
  cpuStart: NodeJS.CpuUsage
}

async function measure ({ configs, lookups, churn, budgetMs, releaseMs, seed, started, cpuStart }: MeasureInit): Promise<BenchReport> {
  const rows: Array<Record<string, string | number>> = []
  const notes: string[] = [
    machineLine(),
    'Real @libp2p/kad-dht 16 (routing table, query manager, RPC handlers, content fetching), protocol /peerline/kad/1.0.0, ' +
      'Peerline\'s validator/selector (shared/overlay/record.ts) and the supernode stale-record guard (supernode/records.ts), ' +
      'one KadDHT per supernode with hand-made libp2p components (bench/lib/sim-dht.ts): in-memory streams (one per RPC, ' +
      'as kad-dht opens them), a Map peer store, ping = liveness check. No TCP, Noise or Yamux: libp2p 3 has no built-in memory ' +
      'transport (@libp2p/memory is not installed), and full nodes would cost far too much per node for 5 000 in one process.',
    `overlay "joined": each supernode dials ${BOOTSTRAP_PEERS} random already-joined supernodes, then runs one self-lookup through the DHT ` +
      '(a young overlay: tables hold whom a node has met). overlay "steady": routing tables built directly by kad-dht\'s own k-bucket code, ' +
      'offered up to 20 random nodes of every 6-bit prefix (a long-running overlay: with kad-dht\'s 64 buckets x 20, up to ~1 300 supernodes ' +
      'everyone ends up knowing everyone). Joins cost ~3-4 ms CPU per RPC here (kad-dht queues a routing-table update per peer named in ' +
      'every answer), too slow to build 1 000+ nodes by joins within the time budget.',
    'Records: one real signed location record per identity, put from a random supernode (kad-dht stores it on the 20 closest it finds); ' +
      `each record is looked up from ${RECORD_REUSE} origins per churn level. Churn: supernodes stopped (crash: connections refused at once) ` +
      'after the records were stored, cumulatively (the 30 % row includes the 10 %), without republish and without routing-table repair.',
    'Lookups: dht.get from a random live supernode that does not hold the record itself, then the client-side validateLocationRecord. ' +
      'hops = sequential RPC rounds to the first peer that returned the record (the origin\'s own closest contacts are hop 1). ' +
      'query depth = deepest round the lookup reached (kad-dht keeps asking until its disjoint paths converge, past the first record); ' +
      'rpcs = requests the lookup sent; refused = of those, to stopped supernodes; timeouts = RPCs over kad-dht\'s adaptive timeout (5 s minimum).',
    'Record checks are memoized per (key, bytes) across the simulated nodes (in a real overlay each runs on its own machine); ' +
      'each distinct record is still fully checked once. validateLocationRecord costs ~5-6 ms here (3 Ed25519 verifications).',
    'overlay heap = live JS heap of the whole overlay after build and puts (after a full GC); peak RSS = this process\'s peak while ' +
      'the size ran, including Node\'s own ~150 MiB and garbage not yet collected (kad-dht allocates heavily per RPC).'
  ]
  const deadline = started + budgetMs
  let first = true
  for (const { n, kind } of configs) {
    if (!first && releaseMs > 0) {
      // a stopped overlay is held by kad-dht's 10 s timeout signals until they
      // fire; let it go so heap figures and CPU belong to the next size only
      await new Promise(resolve => setTimeout(resolve, releaseMs))
    }
    const left = deadline - performance.now()
    if (!first && left < MIN_CONFIG_MS) {
      notes.push(`${n} nodes (${kind}) skipped: ${Math.round(left / 1000)} s of the ${Math.round(budgetMs / 1000)} s budget left.`)
      continue
    }
    // ~0.25 MiB per node at 5 000 (kad-dht state, tables of 1 280, peer stores)
    if (n * 0.4 > (freemem() / (1024 * 1024)) * 0.8) {
      notes.push(`${n} nodes (${kind}) skipped: not enough free memory.`)
      continue
    }
    first = false
    const res = await runSize(n, kind, lookups, churn, seed, deadline)
    rows.push(...res.rows)
    const done = res.rows.map(r => Number(r.lookups))
    if (done.some(d => d < lookups)) notes.push(`${n} nodes (${kind}): ${done.join('/')} lookups per churn level (time budget), not ${lookups}.`)
    notes.push(`${n} nodes (${kind}): built in ${round(res.buildMs / 1000, 1)} s, whole size ${round(res.totalMs / 1000, 1)} s, peak RSS ${Math.round(res.peakRss)} MiB.`)
  }
  const cpu = process.cpuUsage(cpuStart)
  notes.push(`total ${round((performance.now() - started) / 1000, 1)} s wall, ${round((cpu.user + cpu.system) / 1e6, 1)} s CPU; at the end ${loadLine()}.`)
  return { name: 'dht-scale', rows, notes }
}

/** `--sizes=100,1000 --joined=100 --lookups=100 --budget-s=600` override the defaults from the command line. */
function optionsFromArgv (argv: string[]): DhtScaleOptions {
  const value = (name: string): string | undefined => argv.find(a => a.startsWith(`--${name}=`))?.slice(name.length + 3)
  const list = (v: string): number[] => v === '' ? [] : v.split(',').map(Number)
  const sizes = value('sizes')
  const joined = value('joined')
  const lookups = value('lookups')
  const budget = value('budget-s')
  return {
    ...(sizes != null ? { sizes: list(sizes) } : {}),
    ...(joined != null ? { joinedSizes: list(joined) } : {}),
    ...(lookups != null ? { lookups: Number(lookups) } : {}),
    ...(budget != null ? { budgetMs: Number(budget) * 1000 } : {})
  }
}

if (isMain(import.meta.url)) await runStandalone(async options => run({ ...options, ...optionsFromArgv(process.argv) }))
