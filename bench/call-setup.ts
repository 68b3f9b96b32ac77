/**
 * Call setup time, dial to confirmed dialog, on loopback, in one run:
 *
 * - overlay path: the real PWA (built, served next to two real supernodes) in
 *   two Chromium profiles, alice and bob; alice dials through
 *   `window.peerline.services.phone.call()`: a DHT lookup of bob's location
 *   record, a libp2p stream to his device, then SIP (JsSIP) over it. Measured
 *   from just before phone.call() until the call turns 'active' (2xx
 *   received), with the phone's own breakdown (call.timings: lookup,
 *   connect, ICE, SIP).
 * - conventional path: the same JsSIP in the same Chromium, both softphones
 *   REGISTERed over WebSockets with a Kamailio registrar/proxy
 *   (bench/kamailio/kamailio.cfg, Debian's kamailio package); measured from
 *   just before ua.call() until the dialog is confirmed. Skipped, with a note,
 *   when /usr/sbin/kamailio (or its websocket module) is not installed.
 *
 * Both callees answer at once (no ringing time); both use no ICE servers and
 * the same ICE gathering bound; the microphone (fake device) is opened inside
 * the measured span on both paths.
 *
 *   node_modules/.bin/node bench/call-setup.ts            # 20 calls per path, < 5 min
 *   node_modules/.bin/node bench/call-setup.ts --quick    # 3 calls per path
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import * as esbuild from 'esbuild'
import type { Browser, Page } from 'playwright-core'
import { buildPwa } from '../build/build.ts'
import { startSupernode } from '../supernode/supernode.ts'
import type { Health, Supernode } from '../supernode/supernode.ts'
import { serveApp } from '../supernode/web.ts'
import type { WebServer } from '../supernode/web.ts'
import { launchChromium } from '../test/helpers/browser.ts'
import { kamailioAvailable, startKamailio } from '../test/helpers/kamailio.ts'
import type { KamailioProcess } from '../test/helpers/kamailio.ts'
import { openPerson, submitIdentityForm } from '../test/helpers/pwa.ts'
import type { Person } from '../test/helpers/pwa.ts'
import { REPO_ROOT, isMain, machineLine, percentile, round, runStandalone } from './lib/report.ts'
import type { BenchOptions, BenchReport } from './lib/report.ts'

// the Kamailio helpers live with the tests, which also start it (test/sip/accounts.test.ts)
export { KAMAILIO, kamailioAvailable, startKamailio } from '../test/helpers/kamailio.ts'
export type { KamailioCheck, KamailioProcess } from '../test/helpers/kamailio.ts'

const KAMAILIO_DIR = join(REPO_ROOT, 'bench', 'kamailio')

const FULL_CALLS = 20
const QUICK_CALLS = 3
const ALICE = 'alice@example.org'
const BOB = 'bob@example.org'
/** reaching Online and publishing a reachable record (relay reservation included) */
const ONLINE_TIMEOUT_MS = 30_000
const REACHABLE_TIMEOUT_MS = 45_000
const CALL_TIMEOUT_MS = 20_000
const IDLE_TIMEOUT_MS = 10_000
/** a breath between calls, the same on both paths, so hang-up traffic is not measured */
const BETWEEN_CALLS_MS = 300

export interface CallSetupOptions extends BenchOptions {
  /** calls per path (default 20, quick 3) */
  calls?: number
}

/** One overlay call: total and the phone's own breakdown (ms). */
export interface OverlaySample { ms: number, lookupMs: number, connectMs: number, iceMs: number, sipMs: number }
/** One conventional call (ms). */
export interface ConventionalSample { ms: number, iceMs: number, sipMs: number }

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

const median = (values: number[]): number => percentile(values, 50)

/** Failed attempts tolerated per path (reported) before the run gives up: a quarter of the calls, at least 2. */
const maxFailures = (calls: number): number => Math.max(2, Math.ceil(calls / 4))

// ── overlay path ─────────────────────────────────────────────────────────────

/** The supernodes' counters that explain a failed lookup (records kept, rate limits, relays). */
async function supernodesLine (supernodes: Supernode[]): Promise<string> {
  const line = (h: Health): string => `${h.storedRecords} records, ${h.relayReservations} relay reservations, DHT requests allowed ${h.rateAllowed.dht ?? 0} / rate-limited ${h.rateLimited.dht ?? 0}, rejected records ${JSON.stringify(h.rejectedRecords)}`
  return (await Promise.all(supernodes.map(async s => line(await s.health())))).join(' | ')
}

/** Profile directories of the benchmark's Chromium people. */
const PROFILE_PREFIX = 'peerline-bench-profile-'

/** Onboards through the UI, as a person would, then waits until others can reach this device. */
async function onboard (p: Page, email: string, name: string): Promise<void> {
  await submitIdentityForm(p, email, name)
  await p.getByRole('status').filter({ hasText: 'Online' }).waitFor({ timeout: ONLINE_TIMEOUT_MS })
  const reachable = await p.evaluate(async ms => await (globalThis as any).peerline.services.waitReachable(ms), REACHABLE_TIMEOUT_MS)
  if (reachable !== true) throw new Error(`${email} did not publish a reachable location record within ${REACHABLE_TIMEOUT_MS} ms`)
}

async function overlayCalls (calls: number): Promise<{ samples: OverlaySample[], failures: string[], links: string[], supernode: string[] }> {
  const dirs: string[] = []
  const people: Person[] = []
  const supernodes: Supernode[] = []
  let web: WebServer | undefined
  try {
    const outDir = await mkdtemp(join(tmpdir(), 'peerline-bench-pwa-'))
    dirs.push(outDir)
    const built = await buildPwa({ outDir })
    // two supernodes, each device's TARGET_SUPERNODES and RELAY_RESERVATIONS:
    // with fewer, every device random-walks the DHT for another relay without
    // pause (dozens of DHT requests a second), runs into the supernode's
    // per-peer rate limit, and its lookups fail (see docs/benchmarks.md)
    const first = await startSupernode({ listen: ['/ip4/127.0.0.1/tcp/0/ws'], health: null })
    supernodes.push(first)
    supernodes.push(await startSupernode({ listen: ['/ip4/127.0.0.1/tcp/0/ws'], health: null, bootstrap: first.addrs }))
    const addrs = supernodes.flatMap(s => s.addrs)
    web = await serveApp({ root: built.outDir, host: '127.0.0.1', port: 0, config: () => ({ supernodes: addrs }) })
    const alice = await openPerson(web.url, { prefix: PROFILE_PREFIX, dirs })
    people.push(alice)
    const bob = await openPerson(web.url, { prefix: PROFILE_PREFIX, dirs })
    people.push(bob)
    await Promise.all([onboard(alice.page, ALICE, 'Alice'), onboard(bob.page, BOB, 'Bob')])

    // bob answers every call at once; the app's own ringing screen follows along
    await bob.page.evaluate(() => {
      const phone = (globalThis as any).peerline.services.phone
      phone.addEventListener('call:incoming', (e: any) => {
        e.detail.answer().catch((err: Error) => { (globalThis as any).benchAnswerError = err.message })
      })
    })

    const supernodeBefore = await supernodesLine(supernodes)
    const samples: OverlaySample[] = []
    const failures: string[] = []
    let supernodeAtFailure: string | undefined
    while (samples.length < calls && failures.length <= maxFailures(calls)) {
      const r = await alice.page.evaluate(async ({ target, timeoutMs }) => {
        const phone = (globalThis as any).peerline.services.phone
        const t0 = performance.now()
        try {
          const call = await phone.call(target)
          ;(globalThis as any).benchCall = call
          if (call.state !== 'active') {
            await new Promise<void>((resolve, reject) => {
              const timer = setTimeout(() => { reject(new Error(`call not active within ${timeoutMs} ms (state ${call.state})`)) }, timeoutMs)
              call.addEventListener('state', (e: CustomEvent<string>) => {
                if (e.detail === 'active') { clearTimeout(timer); resolve() }
                if (e.detail === 'ended') { clearTimeout(timer); reject(new Error(`call ended before it was active: ${call.end?.reason} ${call.end?.message}`)) }
              })
            })
          }
          const ms = performance.now() - t0
          return { ms, timings: { ...call.timings } as Record<string, number | undefined> }
        } catch (err) {
          return { error: `${(err as Error).name}: ${(err as Error).message}` }
        }
      }, { target: BOB, timeoutMs: CALL_TIMEOUT_MS }) as { ms: number, timings: Record<string, number | undefined> } | { error: string }
      if ('error' in r) {
        failures.push(`attempt ${samples.length + failures.length + 1}: ${r.error}`)
        if (failures.length === 1) supernodeAtFailure = await supernodesLine(supernodes)
      } else {
        const t = r.timings
        samples.push({ ms: r.ms, lookupMs: t.lookupMs ?? NaN, connectMs: t.connectMs ?? NaN, iceMs: t.iceMs ?? NaN, sipMs: t.sipMs ?? NaN })
        // hang up once bob's side is active too
        await bob.page.waitForFunction(() => (globalThis as any).peerline.services.phone.calls().some((c: any) => c.state === 'active'), undefined, { timeout: IDLE_TIMEOUT_MS, polling: 20 })
      }
      // then wait until both are idle (after a failure too: nothing may linger into the next call)
      await alice.page.evaluate(() => { for (const c of (globalThis as any).peerline.services.phone.calls()) c.hangup() })
      for (const p of [alice, bob]) {
        await p.page.waitForFunction(() => (globalThis as any).peerline.services.phone.calls().length === 0, undefined, { timeout: IDLE_TIMEOUT_MS, polling: 20 })
      }
      await sleep(BETWEEN_CALLS_MS)
    }
    const supernode = [
      `supernodes before the calls: ${supernodeBefore}`,
      ...(supernodeAtFailure !== undefined ? [`supernodes at the first failure: ${supernodeAtFailure}`] : []),
      `supernodes after the calls: ${await supernodesLine(supernodes)}`
    ]
    if (samples.length < calls) throw new Error(`overlay path: ${failures.length} calls failed (${samples.length} of ${calls} set up): ${[...new Set(failures)].join('; ')}; ${supernode.join('; ')}`)
    // which way the SIP stream went (direct WebRTC, or through the supernode's relay)
    const links = await alice.page.evaluate(() => {
      const g = globalThis as any
      const peer = g.benchCall?.remote?.peerId
      const conns = peer === undefined ? [] : g.peerline.services.overlay.node.getConnections().filter((c: any) => c.remotePeer.toString() === peer)
      const sip = (c: any): boolean => (c.streams ?? []).some((st: any) => String(st.protocol ?? '').includes('/peerline/sip/'))
      return conns.map((c: any) => `${String(c.remoteAddr).replace(/\/p2p\/\w+/g, '/p2p/…')}${sip(c) ? ' (carries the SIP stream)' : ''}`)
    }) as string[]
    const answerError = await bob.page.evaluate(() => (globalThis as any).benchAnswerError as string | undefined)
    if (answerError !== undefined) throw new Error(`bob could not answer: ${answerError}`)
    const errors = people.flatMap(p => p.errors)
    if (errors.length > 0) throw new Error(`uncaught errors in the app: ${errors.join('; ')}`)
    return { samples, failures, links, supernode }
  } finally {
    for (const p of people) await p.context.close().catch(() => {})
    await web?.close().catch(() => {})
    for (const s of supernodes) await s.stop().catch(() => {})
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  }
}

// ── conventional path ────────────────────────────────────────────────────────

/** Kamailio on 127.0.0.1:<free port> with bench/kamailio/kamailio.cfg (no authentication). */
async function startBenchKamailio (check: { bin: string, modules: string }): Promise<KamailioProcess> {
  return await startKamailio(check, { config: join(KAMAILIO_DIR, 'kamailio.cfg') })
}

/** Bundles bench/kamailio/page.ts (JsSIP included) next to page.html in `dir`. */
async function buildPage (dir: string): Promise<void> {
  await esbuild.build({
    entryPoints: [join(KAMAILIO_DIR, 'page.ts')],
    outfile: join(dir, 'page.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome120'],
    minify: true,
    logLevel: 'warning',
    // as build/build.ts does for the app's JsSIP
    define: { 'process.env.NODE_DEBUG': 'undefined', global: 'globalThis' }
  })
  await copyFile(join(KAMAILIO_DIR, 'page.html'), join(dir, 'page.html'))
}

async function conventionalCalls (calls: number, check: { bin: string, modules: string }): Promise<{ samples: ConventionalSample[], failures: string[] }> {
  const browsers: Browser[] = []
  let kam: KamailioProcess | undefined
  let web: WebServer | undefined
  const dir = await mkdtemp(join(tmpdir(), 'peerline-bench-sip-page-'))
  try {
    await buildPage(dir)
    kam = await startBenchKamailio(check)
    web = await serveApp({ root: dir, host: '127.0.0.1', port: 0, config: () => ({}) })
    // one browser each, as alice and bob have on the overlay path
    const open = async (): Promise<{ page: Page, errors: string[] }> => {
      const browser = await launchChromium()
      browsers.push(browser)
      const context = await browser.newContext({ permissions: ['microphone', 'camera'] })
      const page = await context.newPage()
      const errors: string[] = []
      page.on('pageerror', err => errors.push(err.message))
      await page.goto(new URL('page.html', (web as WebServer).url).href)
      await page.waitForFunction(() => (globalThis as any).bench !== undefined)
      return { page, errors }
    }
    const alice = await open()
    const bob = await open()
    const wsUrl = kam.wsUrl
    await bob.page.evaluate(async o => { await (globalThis as any).bench.start(o); (globalThis as any).bench.autoAnswer() }, { wsUrl, aor: BOB })
    await alice.page.evaluate(async o => { await (globalThis as any).bench.start(o) }, { wsUrl, aor: ALICE })

    const samples: ConventionalSample[] = []
    const failures: string[] = []
    while (samples.length < calls && failures.length <= maxFailures(calls)) {
      const r = await alice.page.evaluate(async ({ target, timeoutMs }) => {
        try {
          return await (globalThis as any).bench.call(target, timeoutMs)
        } catch (err) {
          return { error: (err as Error).message }
        }
      }, { target: BOB, timeoutMs: CALL_TIMEOUT_MS }) as ConventionalSample | { error: string }
      if ('error' in r) {
        failures.push(`attempt ${samples.length + failures.length + 1}: ${r.error}`)
      } else {
        samples.push(r)
        await bob.page.waitForFunction(() => (globalThis as any).bench.established() > 0, undefined, { timeout: IDLE_TIMEOUT_MS, polling: 20 })
      }
      await alice.page.evaluate(() => { (globalThis as any).bench.hangup() })
      for (const p of [alice, bob]) {
        const idle = await p.page.evaluate(async ms => await (globalThis as any).bench.idle(ms), IDLE_TIMEOUT_MS)
        if (idle !== true) throw new Error('a conventional call did not end after hang-up')
      }
      await sleep(BETWEEN_CALLS_MS)
    }
    if (samples.length < calls) throw new Error(`conventional path: ${failures.length} calls failed (${samples.length} of ${calls} set up): ${[...new Set(failures)].join('; ')}`)
    const answered = await bob.page.evaluate(() => (globalThis as any).bench.answered() as number)
    if (answered < samples.length) throw new Error(`bob answered ${answered} calls, ${samples.length} were confirmed`)
    for (const p of [alice, bob]) await p.page.evaluate(async () => { await (globalThis as any).bench.stop() })
    const errors = [...alice.errors, ...bob.errors]
    if (errors.length > 0) throw new Error(`uncaught errors in the SIP page: ${errors.join('; ')}`)
    return { samples, failures }
  } finally {
    for (const b of browsers) await b.close().catch(() => {})
    await web?.close().catch(() => {})
    await kam?.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

// ── the report ───────────────────────────────────────────────────────────────

export async function run (options: CallSetupOptions = {}): Promise<BenchReport> {
  const calls = options.calls ?? (options.quick === true ? QUICK_CALLS : FULL_CALLS)
  const notes: string[] = []
  const rows: BenchReport['rows'] = []
  // timings on a 2-core machine move with whatever else runs: say how busy it was
  const loadAtStart = loadavg()[0] ?? NaN

  const startedOverlay = Date.now()
  const { samples: overlay, failures: overlayFailures, links, supernode } = await overlayCalls(calls)
  const overlaySeconds = (Date.now() - startedOverlay) / 1000
  const total = overlay.map(s => s.ms)
  const other = overlay.map(s => s.ms - s.lookupMs - s.connectMs - s.iceMs - s.sipMs)
  rows.push({
    path: 'overlay (DHT + libp2p + SIP)',
    calls: overlay.length,
    failed: overlayFailures.length,
    'median ms': round(median(total), 1),
    'p95 ms': round(percentile(total, 95), 1),
    'first call ms': round(total[0] ?? NaN, 1),
    'lookup ms': round(median(overlay.map(s => s.lookupMs)), 1),
    'connect ms': round(median(overlay.map(s => s.connectMs)), 1),
    'ice ms': round(median(overlay.map(s => s.iceMs)), 1),
    'sip ms': round(median(overlay.map(s => s.sipMs)), 1),
    'other ms': round(median(other), 1)
  })

  const check = kamailioAvailable()
  let conventional: ConventionalSample[] | undefined
  let conventionalFailures: string[] = []
  let conventionalSeconds = 0
  if (check.ok) {
    const started = Date.now()
    ;({ samples: conventional, failures: conventionalFailures } = await conventionalCalls(calls, check))
    conventionalSeconds = (Date.now() - started) / 1000
    const ct = conventional.map(s => s.ms)
    rows.push({
      path: 'conventional (Kamailio registrar/proxy)',
      calls: conventional.length,
      failed: conventionalFailures.length,
      'median ms': round(median(ct), 1),
      'p95 ms': round(percentile(ct, 95), 1),
      'first call ms': round(ct[0] ?? NaN, 1),
      'lookup ms': '-',
      'connect ms': '-',
      'ice ms': round(median(conventional.map(s => s.iceMs)), 1),
      'sip ms': round(median(conventional.map(s => s.sipMs)), 1),
      'other ms': '-'
    })
    const ratioMedian = median(total) / median(ct)
    const ratioP95 = percentile(total, 95) / percentile(ct, 95)
    rows.push({
      path: 'ratio overlay ÷ conventional',
      calls: '',
      failed: '',
      'median ms': `${round(ratioMedian, 2)}×`,
      'p95 ms': `${round(ratioP95, 2)}×`,
      'first call ms': `${round((total[0] ?? NaN) / (ct[0] ?? NaN), 2)}×`
    })
    notes.push(`ratio overlay ÷ conventional: ${round(ratioMedian, 2)}× at the median, ${round(ratioP95, 2)}× at p95`)
  } else {
    notes.push(`conventional path skipped: ${check.reason}`)
  }

  notes.push(
    'setup = dial until the caller has the 2xx (overlay: call state "active"; conventional: JsSIP "confirmed", ACK sent), measured in the caller\'s page; the callee answers at once; both on 127.0.0.1, fake microphone, no ICE servers',
    'overlay breakdown (medians, from call.timings): lookup = DHT get of the location record; connect = libp2p SIP stream to the device (reused after the first call, so ~0 then); ice = call created (microphone already open) until the local SDP; sip = INVITE sent until the 2xx; other = the rest (microphone wait, JsSIP, event hops)',
    'conventional ice = ua.call() until the local SDP (includes opening the microphone); sip = INVITE sent until confirmed (Kamailio lookup + relay both ways + the callee\'s answer)',
    `alice's connection(s) to bob's device after the calls: ${links.length > 0 ? links.join(', ') : 'none left open'}`,
    ...(overlayFailures.length > 0 ? [`overlay failed attempts (not in the figures): ${overlayFailures.join('; ')}`] : []),
    ...supernode,
    ...(conventionalFailures.length > 0 ? [`conventional failed attempts (not in the figures): ${conventionalFailures.join('; ')}`] : []),
    `p95 is nearest-rank over ${calls} calls; first call is also inside the median and p95`,
    `overlay calls, ms in order: ${total.map(v => Math.round(v)).join(' ')}`,
    ...(overlay[0] !== undefined ? [`first overlay call (cold: new libp2p stream to bob's device): lookup ${round(overlay[0].lookupMs, 0)}, connect ${round(overlay[0].connectMs, 0)}, ice ${round(overlay[0].iceMs, 0)}, sip ${round(overlay[0].sipMs, 0)} ms`] : []),
    ...(conventional !== undefined ? [`conventional calls, ms in order: ${conventional.map(s => Math.round(s.ms)).join(' ')}`] : []),
    `time: overlay path ${overlaySeconds.toFixed(0)} s (build, supernodes, onboarding, calls)${check.ok ? `, conventional path ${conventionalSeconds.toFixed(0)} s` : ''}`,
    `load average (1 min): ${round(loadAtStart, 1)} at start, ${round(loadavg()[0] ?? NaN, 1)} at the end`,
    machineLine()
  )
  return { name: 'call-setup', rows, notes }
}

if (isMain(import.meta.url)) await runStandalone(run)
