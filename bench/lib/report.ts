/**
 * Shared benchmark plumbing: the report shape every benchmark returns, small
 * statistics, a plain-text table for terminals and the JSON file written to
 * dist/bench/<name>.json so runs can be compared.
 *
 * ```ts
 * const report: BenchReport = { name: 'dht-scale', rows: [{ nodes: 100, 'hops p95': 3 }], notes: [] }
 * printReport(report)
 * await writeReport(report)   // dist/bench/dht-scale.json
 * ```
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, freemem, loadavg, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

export interface BenchReport {
  name: string
  rows: Array<Record<string, string | number>>
  notes: string[]
}

export interface BenchOptions {
  /** tiny sizes, for smoke tests: seconds instead of minutes */
  quick?: boolean
}

/** The repository root (bench/lib/ is two levels down). */
export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))

/** Where reports go: dist/ is build output and never committed. */
export const BENCH_OUT_DIR = join(REPO_ROOT, 'dist', 'bench')

export function mean (values: number[]): number {
  if (values.length === 0) return NaN
  return values.reduce((a, b) => a + b, 0) / values.length
}

/** Nearest-rank percentile (p in 0..100) of unsorted values; NaN when empty. */
export function percentile (values: number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number
}

/** Rounds for display and JSON alike; NaN and infinities become 'n/a'. */
export function round (value: number, digits = 2): number | string {
  if (!Number.isFinite(value)) return 'n/a'
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/** Resident set size of this process in MiB. */
export function rssMiB (): number {
  return process.memoryUsage().rss / (1024 * 1024)
}

let gc: (() => void) | undefined

/**
 * A full garbage collection, so that heap figures count live objects only.
 * Node hides gc() unless started with --expose-gc; the flag can still be
 * turned on at run time and gc() fetched from a fresh context.
 */
export function collectGarbage (): void {
  try {
    if (gc == null) {
      setFlagsFromString('--expose-gc')
      gc = runInNewContext('gc') as () => void
    }
    gc()
  } catch {
    // without gc() the figures include garbage; still usable as upper bounds
  }
}

/** Live JavaScript heap after a full collection, MiB. */
export function liveHeapMiB (): number {
  collectGarbage()
  return process.memoryUsage().heapUsed / (1024 * 1024)
}

/** One line describing the machine, for the notes of every report. */
export function machineLine (): string {
  const c = cpus()
  const gib = (n: number): string => (n / 1024 ** 3).toFixed(1)
  return `machine: ${c.length} CPU (${c[0]?.model.trim() ?? 'unknown'}), ${gib(totalmem())} GiB RAM (${gib(freemem())} GiB free at start), Node ${process.version}, ${loadLine()}`
}

/** Load average: other work on the machine stretches wall times and caps the CPU a process gets. */
export function loadLine (): string {
  return `load average ${loadavg().map(l => l.toFixed(1)).join(' ')} (1/5/15 min)`
}

/** Renders rows as an aligned text table; the columns are the union of row keys in first-seen order. */
export function formatTable (rows: Array<Record<string, string | number>>): string {
  if (rows.length === 0) return '(no rows)'
  const columns: string[] = []
  for (const row of rows) for (const k of Object.keys(row)) if (!columns.includes(k)) columns.push(k)
  const cell = (v: string | number | undefined): string => v == null ? '' : String(v)
  const widths = columns.map(c => Math.max(c.length, ...rows.map(r => cell(r[c]).length)))
  const line = (values: string[]): string => values.map((v, i) => {
    const w = widths[i] as number
    // numbers right-aligned so magnitudes line up
    return /^-?[\d.]+$/.test(v) ? v.padStart(w) : v.padEnd(w)
  }).join('  ').trimEnd()
  return [
    line(columns),
    widths.map(w => '-'.repeat(w)).join('  '),
    ...rows.map(r => line(columns.map(c => cell(r[c]))))
  ].join('\n')
}

export function printReport (report: BenchReport): void {
  console.log(`\n== ${report.name} ==`)
  console.log(formatTable(report.rows))
  for (const n of report.notes) console.log(`- ${n}`)
}

/** Writes dist/bench/<name>.json and returns its path. */
export async function writeReport (report: BenchReport, dir = BENCH_OUT_DIR): Promise<string> {
  await mkdir(dir, { recursive: true })
  const file = join(dir, `${report.name}.json`)
  await writeFile(file, JSON.stringify({ ...report, writtenAt: new Date().toISOString() }, null, 2) + '\n')
  return file
}

/** true when the module at `metaUrl` is the script node was started with. */
export function isMain (metaUrl: string): boolean {
  const entry = process.argv[1]
  return entry != null && resolve(entry) === fileURLToPath(metaUrl)
}

/**
 * The standalone entry of a benchmark file: runs it (`--quick` for tiny
 * sizes), prints the table, writes the JSON, and exits non-zero on error.
 */
export async function runStandalone (run: (options?: BenchOptions) => Promise<BenchReport>): Promise<void> {
  try {
    const report = await run({ quick: process.argv.includes('--quick') })
    printReport(report)
    console.log(`\nwrote ${await writeReport(report)}`)
    process.exit(0)
  } catch (err) {
    console.error(err)
    process.exit(1)
  }
}

/** Runs `fn` over `items` with at most `concurrency` in flight; results in input order. */
export async function mapLimit<T, R> (items: T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i] as T, i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
  return out
}
