/**
 * Smoke test of the DHT-at-scale benchmark: its core runs on a tiny overlay
 * of real kad-dht nodes and returns numbers that make sense. The figures
 * themselves come from `node bench/dht-scale.ts`, not from here.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { run } from '../../bench/dht-scale.ts'

describe('bench/dht-scale', { timeout: 60_000 }, () => {
  it('measures hops, messages and success on a small overlay, with and without churn', async () => {
    const report = await run({ quick: true })
    assert.equal(report.name, 'dht-scale')
    assert.equal(report.rows.length, 4, 'a joined and a steady overlay, each calm and with 30 % churn')
    assert.deepEqual(report.rows.map(r => `${r.overlay} ${r.churn}`), ['joined 0%', 'joined 30%', 'steady 0%', 'steady 30%'])
    for (const row of report.rows) {
      assert.ok(Number(row.lookups) >= 8, `lookups: ${row.lookups}`)
      const hops = Number(row['hops mean'])
      assert.ok(hops >= 1 && hops <= Number(row.log2N) + 2, `hops mean ${hops}`)
      assert.ok(Number(row['rpcs mean']) >= 1, `rpcs mean ${row['rpcs mean']}`)
      assert.ok(Number(row['replicas mean']) >= 10, `a put reaches most of the 20 closest: ${row['replicas mean']}`)
      assert.ok(Number(row['peak RSS MiB']) > 0)
    }
    for (let i = 0; i < 4; i += 2) {
      const calm = report.rows[i] as Record<string, string | number>
      const churned = report.rows[i + 1] as Record<string, string | number>
      // 20 replicas per record: a calm overlay finds every record, 30 % churn leaves most replicas
      assert.equal(calm['success %'], 100, `${calm.overlay}: success`)
      assert.ok(Number(churned['success %']) >= 90, `${churned.overlay}: success with 30 % churn ${churned['success %']}`)
      // stopped supernodes show up as refused dials, never as hangs
      assert.equal(calm['refused mean'], 0)
      assert.ok(Number(churned['refused mean']) > 0, `${churned.overlay}: lookups met stopped supernodes`)
    }
    assert.ok(report.notes.some(n => n.includes('kad-dht')))
  })
})
