/**
 * Smoke test of the supernode capacity benchmark: a real supernode process,
 * a few real client devices, a short publish window. The figures themselves
 * come from `node bench/supernode-capacity.ts`.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { run } from '../../bench/supernode-capacity.ts'

describe('bench/supernode-capacity', { timeout: 60_000 }, () => {
  it('connects clients to one supernode, measures its memory and publish rate, and cleans up', async () => {
    const report = await run({ quick: true })
    assert.equal(report.name, 'supernode-capacity')
    assert.equal(report.rows.length, 1)
    const row = report.rows[0] as Record<string, string | number>
    assert.equal(row['connect failures'], 0)
    assert.equal(Number(row['connected before']), Number(row.clients))
    assert.equal(Number(row['connected after']), Number(row.clients))
    assert.ok(Number(row['SN RSS MiB']) > 20, `supernode RSS ${row['SN RSS MiB']}`)
    assert.ok(Number.isFinite(Number(row['KiB/client'])))
    assert.ok(Number(row['publishes/s']) > 0, `publishes/s ${row['publishes/s']}`)
    assert.ok(Number(row['publish ms p50']) > 0 && Number(row['publish ms p95']) >= Number(row['publish ms p50']))
    assert.equal(row['publish errors'], 0)
  })
})
