/**
 * `npm run bench`: every Peerline benchmark in one run on this machine. Each
 * runs in its own process (clean memory figures, no state carried over),
 * prints its table and writes dist/bench/<name>.json; this collects them into
 * dist/bench/all.json. `npm run bench -- --quick` runs tiny sizes where a
 * benchmark has them; `npm run bench -- dht-scale client-weight` runs only those.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFile, writeFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BENCH_OUT_DIR, machineLine } from './lib/report.ts'

const BENCHES = ['call-setup', 'dht-scale', 'supernode-capacity', 'client-weight', 'history-search']

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const wanted = args.filter(a => !a.startsWith('--'))
const names = wanted.length > 0 ? wanted : BENCHES
const unknown = names.filter(n => !BENCHES.includes(n))
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHES.join(', ')}`)
  process.exit(2)
}

console.log(`Peerline benchmarks — ${machineLine()}${quick ? ' (quick sizes)' : ''}\n`)
const results: Record<string, unknown> = {}
const failed: string[] = []
for (const name of names) {
  const started = Date.now()
  const file = fileURLToPath(new URL(`./${name}.ts`, import.meta.url))
  const child = spawn(process.execPath, [file, ...(quick ? ['--quick'] : [])], { stdio: 'inherit' })
  const [code] = await once(child, 'exit') as [number | null]
  if (code !== 0) failed.push(name)
  try {
    results[name] = JSON.parse(await readFile(join(BENCH_OUT_DIR, `${name}.json`), 'utf8'))
  } catch {
    results[name] = { error: `no report (exit code ${String(code)})` }
  }
  console.log(`(${name}: ${((Date.now() - started) / 1000).toFixed(0)} s${code !== 0 ? `, FAILED with exit code ${String(code)}` : ''})\n`)
}
await mkdir(BENCH_OUT_DIR, { recursive: true })
await writeFile(join(BENCH_OUT_DIR, 'all.json'), JSON.stringify({ machine: machineLine(), quick, writtenAt: new Date().toISOString(), results }, null, 2) + '\n')
console.log(`wrote ${join(BENCH_OUT_DIR, 'all.json')}${failed.length > 0 ? `; failed: ${failed.join(', ')}` : ''}`)
process.exit(failed.length > 0 ? 1 : 0)
