/**
 * The DHT location service end to end: real supernode processes joined into
 * one DHT, real in-process client nodes, real hostile peers. Loopback only.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Libp2pRecord } from '@libp2p/record'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core/memory'
import { Key } from 'interface-datastore'
import { toString as u8ToString } from 'uint8arrays/to-string'
import {
  generateIdentityKey, selfCertify, signObject
} from '../../shared/identity/index.ts'
import type { IdentityKeyPair } from '../../shared/identity/index.ts'
import {
  createLocationRecord, encodeLocationRecord, locationKey, MAX_RECORD_BYTES
} from '../../shared/overlay/index.ts'
import type { LocationRecord, Overlay } from '../../shared/overlay/index.ts'
import { dialAll, relayReserved, startDevice, startHostilePeer } from '../helpers/overlay.ts'
import { spawnSupernode } from '../helpers/supernode-process.ts'
import { eventually } from '../helpers/eventually.ts'
import type { SupernodeProcess } from '../helpers/supernode-process.ts'
import { expectRejects } from '../helpers/assert.ts'

function signedRecord (key: IdentityKeyPair, body: Omit<LocationRecord, 'sig'>): LocationRecord {
  return signObject(key.privateKey, body) as LocationRecord
}

function forgedRecords (): Record<string, { aor: string, bytes: Uint8Array, reason: string }> {
  const now = Date.now()
  const k1 = generateIdentityKey()
  const k2 = generateIdentityKey()
  const certK1 = selfCertify(k1, 'sigforger@example.org')
  // signed by k2 although the certificate binds k1
  const badSig = createLocationRecord({ identity: k2, certificate: certK1, devices: [], seq: now })
  // a valid certificate for mallory, used to claim victim's address
  const mallory = generateIdentityKey()
  const malloryCert = selfCertify(mallory, 'mallory@example.org')
  const { sig: _s, ...wrongEmailBody } = createLocationRecord({ identity: mallory, certificate: malloryCert, devices: [], seq: now })
  const wrongEmail = signedRecord(mallory, { ...wrongEmailBody, aor: 'victim@example.org' })
  const late = generateIdentityKey()
  const expired = createLocationRecord({ identity: late, certificate: selfCertify(late, 'late@example.org'), devices: [], seq: now, now: now - 3 * 3600_000, ttlMs: 20 * 60_000 })
  const big = generateIdentityKey()
  const { sig: _b, ...bigBody } = createLocationRecord({ identity: big, certificate: selfCertify(big, 'big@example.org'), devices: [], seq: now })
  const oversized = signedRecord(big, { ...bigBody, padding: 'x'.repeat(MAX_RECORD_BYTES) } as any)
  return {
    badSig: { aor: badSig.aor, bytes: encodeLocationRecord(badSig), reason: 'BadSignatureError' },
    wrongEmail: { aor: 'victim@example.org', bytes: encodeLocationRecord(wrongEmail), reason: 'WrongEmailError' },
    expired: { aor: expired.aor, bytes: encodeLocationRecord(expired), reason: 'RecordExpiredError' },
    oversized: { aor: 'big@example.org', bytes: encodeLocationRecord(oversized), reason: 'RecordTooLargeError' }
  }
}


describe('DHT location service across three supernodes', { timeout: 180_000 }, () => {
  const supernodes: SupernodeProcess[] = []
  const devices: Overlay[] = []
  let alice: Overlay
  let bob: Overlay
  let aliceFirst: LocationRecord
  let aliceLatest: LocationRecord

  before(async () => {
    const sn1 = await spawnSupernode()
    const sn2 = await spawnSupernode({ bootstrap: [sn1.addr] })
    const sn3 = await spawnSupernode({ bootstrap: [sn1.addr, sn2.addr] })
    supernodes.push(sn1, sn2, sn3)
    // every supernode ends up knowing the others (sn2 learns sn3 through the DHT)
    await eventually(async () => (await Promise.all(supernodes.map(s => s.health()))).every(h => h.supernodePeers >= 2), { what: 'supernodes to join' })
    // Alice and Bob are attached to different supernodes, one address each
    alice = await startDevice('alice@example.org', [sn1.addr])
    bob = await startDevice('bob@example.org', [sn3.addr])
    devices.push(alice, bob)
  })

  after(async () => {
    await Promise.all(devices.map(async d => d.stop().catch(() => {})))
    await Promise.all(supernodes.map(async s => s.kill('SIGKILL')))
  })

  it('Alice publishes; Bob finds her by email and reaches her device', async () => {
    await relayReserved(alice, { timeoutMs: 15_000 })
    aliceFirst = await alice.publish()
    aliceLatest = await alice.publish()
    assert.ok(aliceLatest.seq > aliceFirst.seq)
    const found = await bob.lookup('sip:Alice@Example.org', { signal: AbortSignal.timeout(10_000) })
    assert.equal(found.aor, 'alice@example.org')
    assert.equal(found.seq, aliceLatest.seq)
    assert.equal(found.devices[0]?.peerId, alice.peerId)
    const relayAddr = found.devices[0]?.addrs.find(a => a.includes('/p2p-circuit'))
    assert.ok(relayAddr, 'record lists a relay address')
    // the address in the record really reaches Alice's device (through a supernode)
    const rtt = await bob.node.services.ping.ping(multiaddr(relayAddr), { signal: AbortSignal.timeout(10_000) })
    assert.ok(rtt >= 0)
  })

  it('looking up somebody who never published says so', async () => {
    await expectRejects(bob.lookup('nobody@example.org', { signal: AbortSignal.timeout(10_000) }), 'NotFoundError')
  })

  it('storing supernodes refuse forged, expired, oversized and replayed records, naming the rule', async () => {
    const attacker = await startHostilePeer('client')
    try {
      await attacker.start()
      await dialAll(attacker, supernodes.map(s => s.addr))
      await eventually(() => (attacker.services.dht as unknown as { routingTable: { size: number } }).routingTable.size >= 3, { what: 'attacker routing table' })
      const forged = forgedRecords()
      const puts: Array<[Uint8Array, Uint8Array]> = Object.values(forged).map(f => [locationKey(f.aor), f.bytes])
      // replay Alice's first record after she published a newer one
      puts.push([locationKey('alice@example.org'), encodeLocationRecord(aliceFirst)])
      for (const [key, value] of puts) {
        for await (const _ of attacker.services.dht.put(key, value, { signal: AbortSignal.timeout(10_000) })) { /* drain */ }
      }
      const healths = await Promise.all(supernodes.map(s => s.health()))
      for (const reason of [...Object.values(forged).map(f => f.reason), 'StaleRecordError']) {
        for (const h of healths) {
          assert.ok((h.rejectedRecords[reason] ?? 0) >= 1, `supernode ${h.peerId} counted ${reason}: ${JSON.stringify(h.rejectedRecords)}`)
        }
      }
      // nothing forged was stored: lookups find nothing, and Alice's newest record survives
      for (const f of Object.values(forged)) {
        await expectRejects(bob.lookup(f.aor, { signal: AbortSignal.timeout(10_000) }), 'NotFoundError')
      }
      assert.equal((await bob.lookup('alice@example.org')).seq, aliceLatest.seq)
    } finally {
      await attacker.stop()
    }
  })

  it('a client refuses forged records served by a hostile supernode, naming the rule', async () => {
    const store = new MemoryDatastore()
    const evil = await startHostilePeer('server', store)
    await evil.start()
    const evilAddr = `${evil.getMultiaddrs()[0]?.toString() ?? ''}`
    const serve = async (aor: string, bytes: Uint8Array): Promise<void> => {
      const key = locationKey(aor)
      await store.put(new Key(`/dht/record/${u8ToString(key, 'base32')}`, false), new Libp2pRecord(key, bytes, new Date()).serialize())
    }
    const carol = await startDevice('carol@example.org', [evilAddr])
    devices.push(carol)
    try {
      for (const f of Object.values(forgedRecords())) {
        await serve(f.aor, f.bytes)
        await expectRejects(carol.lookup(f.aor, { signal: AbortSignal.timeout(10_000) }), f.reason)
      }
      // a rolled-back supernode: Carol saw Alice's newer record, then is served the older one
      await serve('alice@example.org', encodeLocationRecord(aliceLatest))
      assert.equal((await carol.lookup('alice@example.org')).seq, aliceLatest.seq)
      await serve('alice@example.org', encodeLocationRecord(aliceFirst))
      const err = await expectRejects(carol.lookup('alice@example.org', { signal: AbortSignal.timeout(10_000) }), 'StaleRecordError')
      assert.match(err.message, /older/)
    } finally {
      await carol.stop()
      await evil.stop()
    }
  })

  it('garbage on the DHT and relay protocols does not crash a supernode', async () => {
    const target = supernodes[1] as SupernodeProcess
    const vandal = await startHostilePeer('client')
    await vandal.start()
    try {
      for (const protocol of ['/peerline/kad/1.0.0', '/libp2p/circuit/relay/0.2.0/hop', '/libp2p/circuit/relay/0.2.0/stop', '/ipfs/id/1.0.0']) {
        for (const payload of [randomBytes(64 * 1024), Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), Uint8Array.from([0x05, 1, 2])]) {
          try {
            const stream = await vandal.dialProtocol(multiaddr(target.addr), protocol, { signal: AbortSignal.timeout(5_000) })
            stream.send(payload)
            await stream.close({ signal: AbortSignal.timeout(2_000) }).catch(() => {})
          } catch { /* the supernode may refuse or reset: that is fine */ }
        }
      }
    } finally {
      await vandal.stop()
    }
    assert.equal(target.proc.exitCode, null, 'supernode still running')
    const h = await target.health()
    assert.equal(h.status, 'ok')
    assert.equal((await bob.lookup('alice@example.org')).aor, 'alice@example.org')
  })

  it('one supernode killed: lookups still succeed and its clients reconnect to the others', async () => {
    const sn1 = supernodes[0] as SupernodeProcess
    assert.ok(alice.supernodes().includes(sn1.peerId) || alice.supernodes().length > 0)
    await sn1.kill('SIGKILL')
    // Alice only had sn1 as bootstrap: she finds the others she learned through the DHT
    await eventually(() => alice.status.online && alice.supernodes().length > 0 && !alice.supernodes().includes(sn1.peerId), { timeoutMs: 30_000, what: 'Alice to reconnect' })
    // her relay address moves to a live supernode and the record follows
    const moved = await eventually(async () => {
      const r = await bob.lookup('alice@example.org', { signal: AbortSignal.timeout(5_000) })
      const addrs = r.devices[0]?.addrs ?? []
      return addrs.some(a => a.includes('/p2p-circuit')) && !addrs.some(a => a.includes(sn1.peerId)) ? r : undefined
    }, { timeoutMs: 30_000, what: 'record with a live relay' })
    const relay = moved?.devices[0]?.addrs.find(a => a.includes('/p2p-circuit')) as string
    assert.ok(await bob.node.services.ping.ping(multiaddr(relay), { signal: AbortSignal.timeout(10_000) }) >= 0)
    // and a brand-new device can still publish and be found
    const dave = await startDevice('dave@example.org', [supernodes[2]?.addr as string])
    devices.push(dave)
    await dave.publish()
    assert.equal((await bob.lookup('dave@example.org')).devices[0]?.peerId, dave.peerId)
  })
})

describe('supernode --data-dir', { timeout: 120_000 }, () => {
  it('a restart keeps its peer id and its records', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'peerline-sn-'))
    let sn = await spawnSupernode({ dataDir: dir })
    const erin = await startDevice('erin@example.org', [sn.addr])
    try {
      await erin.publish()
      const before = await sn.health()
      assert.equal(before.storedRecords, 1)
      const peerId = sn.peerId
      assert.equal(await sn.kill('SIGTERM'), 0, 'graceful shutdown exits 0')
      await erin.stop()
      sn = await spawnSupernode({ dataDir: dir })
      assert.equal(sn.peerId, peerId)
      assert.equal((await sn.health()).storedRecords, 1)
      const frank = await startDevice('frank@example.org', [sn.addr])
      try {
        const r = await frank.lookup('erin@example.org', { signal: AbortSignal.timeout(10_000) })
        assert.equal(r.aor, 'erin@example.org')
      } finally {
        await frank.stop()
      }
    } finally {
      await erin.stop().catch(() => {})
      await sn.kill('SIGKILL')
      await rm(dir, { recursive: true, force: true })
    }
  })
})
