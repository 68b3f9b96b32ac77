/**
 * Smoke test of the call setup benchmark at quick size (3 calls per path):
 * the built PWA in two Chromium profiles next to a real supernode (overlay
 * path), and the same JsSIP in Chromium through a real Kamailio on loopback
 * (conventional path). Outside CI, skipped, saying why, when Kamailio is not
 * installed (.ci/run installs it; with CI=true it fails); the figures come from
 * `node bench/call-setup.ts`.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { kamailioAvailable, run } from '../../bench/call-setup.ts'

const kamailio = kamailioAvailable()

describe('bench/call-setup', { timeout: 240_000 }, () => {
  it('measures dial→confirmed on the overlay and through Kamailio, with the overlay breakdown and the ratio', {
    // in CI a missing Kamailio is a failure (the run itself says why), never a skip
    skip: kamailio.ok || process.env.CI === 'true' ? false : `conventional path needs Kamailio: ${kamailio.reason}`
  }, async () => {
    assert.ok(kamailio.ok, kamailio.ok ? '' : kamailio.reason)
    const report = await run({ quick: true })
    assert.equal(report.name, 'call-setup')
    const [overlay, conventional, ratio] = report.rows as Array<Record<string, string | number>>
    assert.ok(overlay !== undefined && conventional !== undefined && ratio !== undefined, `three rows: ${JSON.stringify(report.rows)}`)

    assert.match(String(overlay.path), /^overlay/)
    assert.equal(overlay.calls, 3)
    // a failed attempt is a real fault (e.g. lookups refused by a supernode's rate limit)
    assert.equal(overlay.failed, 0, report.notes.join('\n'))
    const median = Number(overlay['median ms'])
    assert.ok(median > 0 && median < 20_000, `overlay median ${median}`)
    assert.ok(Number(overlay['p95 ms']) >= median)
    // the phone's breakdown is there: a real DHT lookup and an INVITE round trip
    for (const k of ['lookup ms', 'connect ms', 'ice ms', 'sip ms']) {
      assert.ok(Number.isFinite(Number(overlay[k])) && Number(overlay[k]) >= 0, `${k} = ${overlay[k]}`)
    }
    assert.ok(Number(overlay['lookup ms']) > 0, 'a DHT lookup takes some time')
    assert.ok(Number(overlay['sip ms']) > 0, 'the INVITE takes some time')

    assert.match(String(conventional.path), /^conventional/)
    assert.equal(conventional.calls, 3)
    assert.equal(conventional.failed, 0, report.notes.join('\n'))
    const cMedian = Number(conventional['median ms'])
    assert.ok(cMedian > 0 && cMedian < 20_000, `conventional median ${cMedian}`)
    assert.ok(Number(conventional['p95 ms']) >= cMedian)

    assert.match(String(ratio.path), /ratio/)
    assert.match(String(ratio['median ms']), /^\d+(\.\d+)?×$/)
    assert.ok(report.notes.some(n => n.startsWith('ratio overlay ÷ conventional')))
  })
})
