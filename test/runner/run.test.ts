/**
 * The runner's own checks, on fixture files it runs in a child process with
 * its own report folder: a file whose results are lost, one that never
 * exits, and a skip under CI=true each fail the run, with the file named.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'

const dirs: string[] = []
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

function run (files: string[], env: Record<string, string> = {}): { code: number | null, out: string, summary: { tests: number, passed: number, failed: number, problems: string[] } } {
  const { NODE_TEST_CONTEXT: _context, ...parentEnv } = process.env
  const dir = mkdtempSync(join(tmpdir(), 'peerline-runner-'))
  dirs.push(dir)
  const r = spawnSync(process.execPath, ['test/runner/run.ts', ...files.map(f => `test/runner/fixtures/${f}.fixture.ts`)], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...parentEnv, CI: 'false', PEERLINE_TEST_REPORT_DIR: dir, ...env }
  })
  return { code: r.status, out: r.stdout + r.stderr, summary: JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) }
}

describe('test runner: a green run proves itself', { timeout: 300_000 }, () => {
  it('passes a file that reports every declared test, and counts a skipped suite\'s tests as skipped', () => {
    const r = run(['complete'])
    assert.equal(r.code, 0, r.out)
    assert.equal(r.summary.tests, 4)
    assert.equal(r.summary.passed, 2)
    assert.match(r.out, /^tests: 1 files, 4 tests, 2 passed, 0 failed, 2 skipped \(.*not on this machine.*no program\)$/m)
    assert.match(r.out, /^summary: 2 passed, 0 failed, 2 skipped$/m)
  })

  it('fails when a file\'s process ends before all its tests reported', () => {
    const r = run(['complete', 'lost'])
    assert.equal(r.code, 1, r.out)
    assert.ok(r.summary.problems.some(p => p.includes('lost.fixture.ts') && p.includes('did not report') && p.includes('lost › third never reports')), r.summary.problems.join('\n'))
    assert.match(r.out, /✖ the run is incomplete or failed/)
  })

  it('kills and fails a file that does not exit by itself after its tests', () => {
    const r = run(['alive'], { PEERLINE_TEST_FILE_TIMEOUT_MS: '8000' })
    assert.equal(r.code, 1, r.out)
    assert.equal(r.summary.passed, 1)
    assert.ok(r.summary.problems.some(p => p.includes('alive.fixture.ts') && p.includes('did not finish')), r.summary.problems.join('\n'))
  })

  it('with CI=true, a skip that is not in the allowed list fails the run', () => {
    const r = run(['complete'], { CI: 'true' })
    assert.equal(r.code, 1, r.out)
    assert.ok(r.summary.problems.some(p => p.includes('skipped in CI') && p.includes('complete › skipped here')), r.summary.problems.join('\n'))
  })
})
