/**
 * `npm run test:unit`: runs every test file under test/ and proves that the
 * whole suite ran.
 *
 *   node test/runner/run.ts                 every test/**\/*.test.ts
 *   node test/runner/run.ts test/sip        files under a folder, or single files
 *
 * 1. Lists what each file declares without running it (list.ts: `node:test`
 *    swapped for a recorder, so `describe` bodies run and `it` is only
 *    counted; no hook runs).
 * 2. Runs each file with `node --test` (one at a time: the machines have 2
 *    cores and the browser tests need them), printing the spec reporter live
 *    and writing a JUnit report and a JSON-lines event log per file. No
 *    `--test-force-exit`: a file whose process does not exit by itself within
 *    FILE_TIMEOUT_MS is killed and fails, named.
 * 3. Fails the run unless every file reported a summary and every declared
 *    test reported exactly once (nothing missing, nothing undeclared), no
 *    test failed, and — with CI=true — nothing skipped but the allowed skips.
 * 4. Writes dist/test-report/junit.xml (all files) and summary.json, and
 *    prints `tests: N files, M tests, P passed, F failed, K skipped (names)`
 *    and, last, the plain `summary: P passed, F failed, K skipped` line.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, globSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import type { DeclaredTest } from './recorder.ts'

const ROOT = resolve(import.meta.dirname, '../..')
const REPORT_DIR = resolve(ROOT, process.env.PEERLINE_TEST_REPORT_DIR ?? 'dist/test-report')
/** One file's whole run, hooks included; the slowest (real Thunderbird, NAT-free browser calls) take a few minutes. */
const FILE_TIMEOUT_MS = Number(process.env.PEERLINE_TEST_FILE_TIMEOUT_MS ?? 20 * 60_000)
/** Per test, as node --test's own --test-timeout. */
const TEST_TIMEOUT_MS = 600_000
const CI = process.env.CI === 'true'

/**
 * The only skips allowed in CI, each with why it cannot run there.
 * (CI runs as root, and root ignores file permissions.)
 */
const ALLOWED_SKIPS: Array<{ file: string, name: string, why: string }> = [
  { file: 'test/store/kv.test.ts', name: 'StorageError for a read-only directory', why: 'root ignores permissions' }
]

interface Event { event: 'pass' | 'fail' | 'summary', type?: 'suite' | 'test', file?: string, path?: string[], skip?: string, todo?: boolean, error?: string }
interface FileResult { file: string, passed: number, failed: number, skipped: Array<{ name: string, why: string }>, todo: number, problems: string[], failures: string[], ms: number }

const SEP = ' › '

function testFiles (args: string[]): string[] {
  const patterns = args.length === 0 ? ['test'] : args
  const files = new Set<string>()
  for (const p of patterns) {
    const abs = resolve(ROOT, p)
    if (existsSync(abs) && statSync(abs).isDirectory()) {
      for (const f of globSync('**/*.test.ts', { cwd: abs })) files.add(relative(ROOT, join(abs, f)))
    } else if (existsSync(abs)) {
      files.add(relative(ROOT, abs))
    } else {
      throw new Error(`No such test file or folder: ${p}`)
    }
  }
  return [...files].sort()
}

function listDeclared (files: string[]): Record<string, DeclaredTest[] | { error: string }> {
  const r = spawnSync(process.execPath, [join(ROOT, 'test/runner/list.ts'), ...files], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 5 * 60_000 })
  if (r.status !== 0) throw new Error(`Listing the tests failed (exit ${r.status}):\n${r.stderr}`)
  return JSON.parse(r.stdout) as Record<string, DeclaredTest[] | { error: string }>
}

function safeName (file: string): string {
  return file.replace(/^test\//, '').replace(/[/\\]/g, '__')
}

async function runFile (file: string): Promise<{ code: number | null, timedOut: boolean, ms: number }> {
  const name = safeName(file)
  const args = [
    '--test', `--test-timeout=${TEST_TIMEOUT_MS}`,
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=junit', `--test-reporter-destination=${join(REPORT_DIR, 'junit', `${name}.xml`)}`,
    `--test-reporter=${join(ROOT, 'test/runner/reporter.ts')}`, `--test-reporter-destination=${join(REPORT_DIR, 'events', `${name}.jsonl`)}`,
    file
  ]
  const started = Date.now()
  // NODE_TEST_CONTEXT would make the child think it runs inside another test runner's file
  const { NODE_TEST_CONTEXT: _context, ...env } = process.env
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'inherit', 'inherit'], detached: true })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    try { process.kill(-(child.pid ?? 0), 'SIGKILL') } catch { child.kill('SIGKILL') }
  }, FILE_TIMEOUT_MS)
  const code = await new Promise<number | null>(resolve => { child.on('exit', c => { resolve(c) }) })
  clearTimeout(timer)
  // whatever the file started in its own process group (browsers, supernodes) goes with it
  try { process.kill(-(child.pid ?? 0), 'SIGKILL') } catch { /* already gone */ }
  return { code, timedOut, ms: Date.now() - started }
}

function readEvents (file: string): Event[] {
  const path = join(REPORT_DIR, 'events', `${safeName(file)}.jsonl`)
  if (!existsSync(path)) return []
  return readFileSync(path, 'utf8').split('\n').filter(l => l.trim() !== '').map(l => JSON.parse(l) as Event)
}

function check (file: string, declared: DeclaredTest[] | { error: string } | undefined, events: Event[], run: { code: number | null, timedOut: boolean, ms: number }): FileResult {
  const result: FileResult = { file, passed: 0, failed: 0, skipped: [], todo: 0, problems: [], failures: [], ms: run.ms }
  if (run.timedOut) result.problems.push(`did not finish within ${Math.round(FILE_TIMEOUT_MS / 1000)} s (a test hangs, or something keeps the process alive after its last test): killed`)
  if (declared === undefined || 'error' in declared) {
    result.problems.push(`could not be listed: ${declared === undefined ? 'no listing' : declared.error.split('\n')[0]}`)
  }
  if (!events.some(e => e.event === 'summary')) result.problems.push('reported no summary: its results are incomplete')
  const wanted = declared !== undefined && !('error' in declared) ? declared : []
  const key = (path: string[]): string => path.join(SEP)
  const remaining = new Map<string, number>()
  for (const d of wanted) remaining.set(key(d.path), (remaining.get(key(d.path)) ?? 0) + 1)
  const undeclared: string[] = []
  const failedSuites: Array<{ k: string, error: string }> = []
  const failedTests: string[] = []
  const take = (k: string): void => {
    const n = remaining.get(k)
    if (n === undefined || n === 0) undeclared.push(k)
    else remaining.set(k, n - 1)
  }
  for (const e of events) {
    if (e.event === 'summary' || e.path === undefined) continue
    const k = key(e.path)
    if (e.type === 'suite') {
      // a skipped suite reports itself only: its declared tests count as skipped
      if (e.skip !== undefined) {
        for (const d of wanted.filter(d => key(d.path.slice(0, e.path?.length)) === k)) {
          take(key(d.path))
          result.skipped.push({ name: key(d.path), why: e.skip })
        }
      } else if (e.event === 'fail') {
        failedSuites.push({ k, error: e.error ?? 'suite failed' })
      }
      continue
    }
    take(k)
    if (e.event === 'fail') {
      result.failed++
      failedTests.push(k)
      result.failures.push(`${k}: ${e.error ?? 'failed'}`)
    } else if (e.skip !== undefined) {
      result.skipped.push({ name: k, why: e.skip })
    } else if (e.todo === true) {
      result.todo++
    } else {
      result.passed++
    }
  }
  // a suite fails with its tests (counted there), or alone when a hook of its own failed
  for (const s of failedSuites) {
    if (!failedTests.some(t => t.startsWith(s.k + SEP))) result.problems.push(`suite ${s.k} failed: ${s.error}`)
  }
  const missing = [...remaining].filter(([, n]) => n > 0).map(([k]) => k)
  if (missing.length > 0) result.problems.push(`${missing.length} declared test(s) did not report: ${missing.slice(0, 5).join('; ')}${missing.length > 5 ? '; …' : ''}`)
  if (undeclared.length > 0) result.problems.push(`${undeclared.length} result(s) for tests it does not declare: ${undeclared.slice(0, 5).join('; ')}`)
  if (run.code !== 0 && result.failed === 0 && !run.timedOut) result.problems.push(`exited with code ${run.code} although no test failed`)
  if (CI) {
    for (const s of result.skipped) {
      const allowed = ALLOWED_SKIPS.some(a => a.file === file && s.name.endsWith(a.name))
      if (!allowed) result.problems.push(`skipped in CI (CI=true: a missing program is an error): ${s.name} (${s.why})`)
    }
  }
  return result
}

function mergeJunit (files: string[]): void {
  const parts = files.map(f => join(REPORT_DIR, 'junit', `${safeName(f)}.xml`)).filter(existsSync).map(p => {
    const xml = readFileSync(p, 'utf8')
    const m = /<testsuites>([\s\S]*)<\/testsuites>/.exec(xml)
    return m?.[1] ?? ''
  })
  writeFileSync(join(REPORT_DIR, 'junit.xml'), `<?xml version="1.0" encoding="utf-8"?>\n<testsuites>${parts.join('')}</testsuites>\n`)
}

async function main (): Promise<number> {
  const files = testFiles(process.argv.slice(2))
  rmSync(REPORT_DIR, { recursive: true, force: true })
  mkdirSync(join(REPORT_DIR, 'junit'), { recursive: true })
  mkdirSync(join(REPORT_DIR, 'events'), { recursive: true })
  const declared = listDeclared(files)
  const declaredCount = Object.values(declared).reduce((n, d) => n + (Array.isArray(d) ? d.length : 0), 0)
  console.log(`tests declared: ${declaredCount} in ${files.length} files${CI ? ' (CI=true: skips other than the allowed ones fail)' : ''}\n`)

  const results: FileResult[] = []
  for (const file of files) {
    const run = await runFile(file)
    const r = check(file, declared[file], readEvents(file), run)
    results.push(r)
    if (r.problems.length > 0) console.log(`\n✖ ${file}: ${r.problems.join('\n  ')}\n`)
  }
  mergeJunit(files)

  const sum = (f: (r: FileResult) => number): number => results.reduce((n, r) => n + f(r), 0)
  const passed = sum(r => r.passed)
  const failed = sum(r => r.failed)
  const skipped = results.flatMap(r => r.skipped.map(s => ({ ...s, file: r.file })))
  const todo = sum(r => r.todo)
  const problems = results.flatMap(r => r.problems.map(p => `${r.file}: ${p}`))
  const total = passed + failed + skipped.length + todo
  writeFileSync(join(REPORT_DIR, 'summary.json'), JSON.stringify({ files: files.length, declared: declaredCount, tests: total, passed, failed, skipped, todo, problems, results }, null, 2))

  console.log('\n──────── test run ────────')
  for (const r of results.filter(r => r.failures.length > 0)) for (const f of r.failures) console.log(`✖ ${r.file}: ${f}`)
  for (const p of problems) console.log(`✖ ${p}`)
  const skipNames = skipped.map(s => `${s.file} ${s.name}: ${s.why}`).join('; ')
  console.log(`tests: ${files.length} files, ${total} tests, ${passed} passed, ${failed} failed, ${skipped.length} skipped${skipped.length > 0 ? ` (${skipNames})` : ''}${todo > 0 ? `, ${todo} todo` : ''}`)
  console.log(`report: ${relative(ROOT, join(REPORT_DIR, 'junit.xml'))} (JUnit), ${relative(ROOT, join(REPORT_DIR, 'summary.json'))}`)
  if (total !== declaredCount) console.log(`✖ ${declaredCount} tests declared, ${total} reported`)
  const ok = failed === 0 && problems.length === 0 && total === declaredCount
  console.log(ok ? 'every declared test reported' : '✖ the run is incomplete or failed')
  console.log(`summary: ${passed} passed, ${failed + problems.length} failed, ${skipped.length} skipped`)
  return ok ? 0 : 1
}

process.exitCode = await main()
