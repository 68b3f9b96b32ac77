/**
 * Fault drills against one real supernode process: floods of DHT requests
 * and relay streams from one peer are rate-limited without hurting an honest
 * peer, and forged/replayed/expired/oversized records at volume are all
 * refused with the supernode's memory bounded. Each drill prints one line.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { generateIdentityKey, selfCertify, signObject } from '../../shared/identity/index.ts'
import {
  createLocationRecord, DHT_PROTOCOL, DHT_RATE_BURST, DHT_RATE_PER_SECOND, encodeLocationRecord, locationKey, MAX_RECORD_BYTES,
  RELAY_RATE_BURST, RELAY_RATE_PER_SECOND
} from '../../shared/overlay/index.ts'
import type { LocationRecord, Overlay } from '../../shared/overlay/index.ts'
import { startDevice, joinHostileClients, startHostilePeer } from '../helpers/overlay.ts'
import { spawnSupernode } from '../helpers/supernode-process.ts'
import type { SupernodeProcess } from '../helpers/supernode-process.ts'

/** the supernode's live heap after a full collection, MiB */
async function heapMiB (sn: SupernodeProcess): Promise<number> {
  return (await sn.health({ gc: true })).memory.heapUsedMiB
}

function percentile (values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN
}

async function honestLookups (bob: Overlay, n: number): Promise<number[]> {
  const times: number[] = []
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    const r = await bob.lookup('alice@example.org', { signal: AbortSignal.timeout(10_000) })
    assert.equal(r.aor, 'alice@example.org')
    times.push(performance.now() - t)
  }
  return times
}

describe('supernode under abuse', { timeout: 180_000 }, () => {
  let sn: SupernodeProcess
  let alice: Overlay
  let bob: Overlay

  before(async () => {
    sn = await spawnSupernode({ nodeArgs: ['--expose-gc'] })
    alice = await startDevice('alice@example.org', [sn.addr])
    bob = await startDevice('bob@example.org', [sn.addr])
    await alice.publish()
  })

  after(async () => {
    await alice?.stop()
    await bob?.stop()
    await sn?.kill('SIGKILL')
  })

  it('a flood of DHT requests from one peer is rate-limited; an honest peer still gets answers', async () => {
    const flooder = await startHostilePeer('client')
    await flooder.start()
    const baseline = await honestLookups(bob, 10)
    const start = await sn.health()
    const t0 = performance.now()
    const target = multiaddr(sn.addr)
    const FLOOD = 1000
    let refused = 0
    const during: number[] = []
    try {
      const flood = (async () => {
        for (let i = 0; i < FLOOD; i += 50) {
          await Promise.all(Array.from({ length: 50 }, async () => {
            try {
              const s = await flooder.dialProtocol(target, DHT_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
              s.send(new Uint8Array([0x02, 0x08, 0x04]))
              await s.close({ signal: AbortSignal.timeout(1_000) })
            } catch {
              refused++
            }
          }))
        }
      })()
      during.push(...await honestLookups(bob, 10))
      await flood
    } finally {
      await flooder.stop()
    }
    const seconds = (performance.now() - t0) / 1000
    const h = await sn.health()
    const letThrough = (h.rateAllowed.dht ?? 0) - (start.rateAllowed.dht ?? 0)
    // what got through is the flooder's bucket (burst + rate × time) plus Bob's few lookups
    const bound = DHT_RATE_BURST + DHT_RATE_PER_SECOND * seconds + 100
    assert.ok((h.rateLimited.dht ?? 0) > 0, 'the flood hit the limit')
    assert.ok(letThrough <= bound, `${letThrough} DHT requests let through in ${seconds.toFixed(1)} s (bound ${bound.toFixed(0)})`)
    assert.equal(sn.proc.exitCode, null)
    console.info(`drill dht-flood: ${FLOOD} requests from one peer, ${h.rateLimited.dht} rate-limited (${refused} failed at the flooder), honest lookup p50 ${percentile(baseline, 0.5).toFixed(1)} ms before, ${percentile(during, 0.5).toFixed(1)} ms during`)
  })

  it('a flood of relay streams from one peer is rate-limited', async () => {
    const flooder = await startHostilePeer('client')
    await flooder.start()
    const FLOOD = 200
    const start = await sn.health()
    const t0 = performance.now()
    try {
      const target = multiaddr(sn.addr)
      await Promise.all(Array.from({ length: FLOOD }, async () => {
        try {
          const s = await flooder.dialProtocol(target, '/libp2p/circuit/relay/0.2.0/hop', { signal: AbortSignal.timeout(5_000) })
          await s.close({ signal: AbortSignal.timeout(1_000) })
        } catch { /* refused */ }
      }))
    } finally {
      await flooder.stop()
    }
    const seconds = (performance.now() - t0) / 1000
    const h = await sn.health()
    const letThrough = (h.rateAllowed.relay ?? 0) - (start.rateAllowed.relay ?? 0)
    assert.ok((h.rateLimited.relay ?? 0) > 0, JSON.stringify(h.rateLimited))
    assert.ok(letThrough <= RELAY_RATE_BURST + RELAY_RATE_PER_SECOND * seconds + 10, `${letThrough} relay streams let through in ${seconds.toFixed(1)} s`)
    // the honest device keeps its reservation and stays reachable
    const found = await bob.lookup('alice@example.org')
    const relay = found.devices[0]?.addrs.find(a => a.includes('/p2p-circuit')) as string
    assert.ok(await bob.node.services.ping.ping(multiaddr(relay), { signal: AbortSignal.timeout(10_000) }) >= 0)
    console.info(`drill relay-flood: ${FLOOD} HOP streams from one peer, ${h.rateLimited.relay} rate-limited, honest device still reachable through the relay`)
  })

  it('forged, replayed, expired and oversized records at volume are all refused; memory stays bounded', async () => {
    const replay = encodeLocationRecord(await alice.lookup('alice@example.org').then(() => (alice as unknown as { published: LocationRecord }).published))
    await alice.publish() // now the record above is a replay of an older seq
    const before = await sn.health()
    const heapBefore = await heapMiB(sn)
    const ATTACKERS = 10
    const PER_ATTACKER = 100
    const now = Date.now()
    const mallory = generateIdentityKey()
    const malloryCert = selfCertify(mallory, 'mallory@example.org')
    const kinds = ['badSig', 'wrongEmail', 'expired', 'oversized', 'replay'] as const
    const make = (i: number): [Uint8Array, Uint8Array] => {
      const kind = kinds[i % kinds.length] as typeof kinds[number]
      const aor = `victim${i}@example.org`
      if (kind === 'replay') return [locationKey('alice@example.org'), replay]
      const body = createLocationRecord({ identity: mallory, certificate: malloryCert, devices: [], seq: now + i, now: kind === 'expired' ? now - 7_200_000 : now })
      const { sig: _s, ...unsigned } = body
      if (kind === 'badSig') return [locationKey('mallory@example.org'), encodeLocationRecord({ ...body, seq: body.seq + 1 })]
      if (kind === 'expired') return [locationKey('mallory@example.org'), encodeLocationRecord(body)]
      if (kind === 'wrongEmail') return [locationKey(aor), encodeLocationRecord(signObject(mallory.privateKey, { ...unsigned, aor }) as LocationRecord)]
      return [locationKey('mallory@example.org'), encodeLocationRecord(signObject(mallory.privateKey, { ...unsigned, pad: 'x'.repeat(MAX_RECORD_BYTES) }) as unknown as LocationRecord)]
    }
    const attackers = await joinHostileClients(ATTACKERS, sn.addr)
    // three rounds: memory may grow with the first (connections, V8 heap) but
    // must not keep growing with the number of hostile records
    const ROUNDS = 3
    const heap: number[] = [heapBefore]
    for (let round = 0; round < ROUNDS; round++) {
      await Promise.all(attackers.map(async (attacker, a) => {
        for (let i = 0; i < PER_ATTACKER; i += 10) {
          await Promise.all(Array.from({ length: 10 }, async (_, j) => {
            const [key, value] = make(a * PER_ATTACKER + i + j)
            for await (const _e of attacker.services.dht.put(key, value, { signal: AbortSignal.timeout(10_000) })) { /* drain */ }
          }))
        }
      }))
      heap.push(await heapMiB(sn))
    }
    await Promise.all(attackers.map(async a => a.stop()))
    const after = await sn.health()
    const heapAfter = heap.at(-1) as number
    const sum = (h: { rejectedRecords: Record<string, number> }): number => Object.values(h.rejectedRecords).reduce((a, b) => a + b, 0)
    const refused = sum(after) - sum(before)
    const total = ATTACKERS * PER_ATTACKER * ROUNDS
    const limited = (after.rateLimited.dht ?? 0) - (before.rateLimited.dht ?? 0)
    // each put either reached validation and was refused by a rule, or was
    // cut short by the flooding peer's rate limit (its FIND_NODE or PUT dropped)
    assert.ok(refused > 0 && refused <= total)
    assert.ok(refused + limited >= total, `${refused} refused + ${limited} rate-limited < ${total}: ${JSON.stringify(after.rejectedRecords)}`)
    for (const reason of ['BadSignatureError', 'WrongEmailError', 'RecordExpiredError', 'RecordTooLargeError', 'StaleRecordError']) {
      assert.ok((after.rejectedRecords[reason] ?? 0) > (before.rejectedRecords[reason] ?? 0), reason)
    }
    assert.equal(after.storedRecords, before.storedRecords, 'nothing hostile was stored')
    assert.equal((await bob.lookup('alice@example.org')).seq, (alice as unknown as { published: LocationRecord }).published.seq)
    const laterGrowth = heapAfter - (heap[1] as number)
    assert.ok(laterGrowth < 24, `live heap kept growing: ${heap.map(r => r.toFixed(0)).join(' -> ')} MiB`)
    console.info(`drill hostile-records: ${total} sent from ${ATTACKERS} peers, ${refused} refused by a rule (${JSON.stringify(after.rejectedRecords)}), ${limited} DHT requests rate-limited, stored records ${after.storedRecords}, supernode live heap by round ${heap.map(r => r.toFixed(0)).join(' -> ')} MiB`)
  })
})
