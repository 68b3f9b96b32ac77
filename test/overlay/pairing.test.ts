/**
 * Pairing a second device into an identity, revoking it, over real
 * supernode processes and real libp2p devices on loopback: the right code
 * links the device (it never receives the identity key), wrong codes,
 * expired and reused offers are refused by name, the merged record lists
 * both devices, and a revoked device drops out and learns it.
 */
import { after, before, describe, it } from 'node:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import assert from 'node:assert/strict'
import { createLocationRecord, encodeLocationRecord, locationKey, overlay, parsePairingOffer, pairingLink, MAX_DEVICES } from '../../shared/overlay/index.ts'
import type { DeviceRevokedDetail, Overlay } from '../../shared/overlay/index.ts'
import type { PairingHostInit } from '../../shared/overlay/pairing.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createDeviceRoster, identityKeyPair, identityStore, issueDeviceCertificate } from '../../shared/identity/index.ts'
import type { DeviceCertificate, IdentityStore, StoredIdentity } from '../../shared/identity/index.ts'
import { memoryStorage } from '../../shared/store/kv.ts'
import { Libp2pRecord } from '@libp2p/record'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { toString as u8ToString } from 'uint8arrays/to-string'
import { relayReserved, startBlankDevice, startDevice, startHostilePeer } from '../helpers/overlay.ts'
import { spawnJoinedPair, spawnSupernode } from '../helpers/supernode-process.ts'
import { eventually } from '../helpers/eventually.ts'
import type { SupernodeProcess } from '../helpers/supernode-process.ts'
import { expectRejects } from '../helpers/assert.ts'

/** A new identity in `store` whose roster (at `seq`) lists one other device, a tablet; returned as saved. */
async function identityWithTablet (store: IdentityStore, email: string, displayName: string, seq: number, tabletValidForMs?: number): Promise<{ identity: StoredIdentity, keys: ReturnType<typeof identityKeyPair>, tabletPeer: string, tablet: DeviceCertificate }> {
  const keys = identityKeyPair(await store.create({ email, displayName }))
  const tabletPeer = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  const tablet = issueDeviceCertificate({ identity: keys, peerId: tabletPeer, name: 'tablet', ...(tabletValidForMs !== undefined ? { validForMs: tabletValidForMs } : {}) })
  const identity = await store.updateDevices({ roster: createDeviceRoster({ identity: keys, seq, devices: [tablet] }) })
  return { identity, keys, tabletPeer, tablet }
}

function otherCode (code: string): string {
  return code === '000000' ? '111111' : '000000'
}

describe('linked devices: pairing and revocation', { timeout: 240_000 }, () => {
  const supernodes: SupernodeProcess[] = []
  const devices: Overlay[] = []
  let primary: Overlay
  let alice: Overlay
  const primaryStorage = memoryStorage()
  // the primary's pairing clock: a test moves it forward instead of sleeping until an offer expires
  let skewMs = 0
  const clock = (): number => Date.now() + skewMs
  // typed as the pairing component's init, which overlay() passes its `pairing` settings through to
  const pairing: Partial<PairingHostInit> = { ttlMs: 4_000, now: clock }

  before(async () => {
    const [sn1, sn2] = await spawnJoinedPair(supernodes)
    const store = identityStore(primaryStorage)
    const identity = await store.create({ email: 'dave@example.org', displayName: 'Dave' })
    primary = await startDevice('dave@example.org', [sn1.addr], { identity, identityStore: store, deviceName: 'desktop', pairing })
    alice = await startDevice('alice@example.org', [sn2.addr])
    devices.push(primary, alice)
    await relayReserved(primary)
    await primary.publish({ signal: AbortSignal.timeout(10_000) })
  })

  after(async () => {
    await Promise.all(devices.map(async d => d.stop().catch(() => {})))
    await Promise.all(supernodes.map(async s => s.kill('SIGKILL')))
  })

  it('the primary renews device certificates that expire soon, and keeps the roster in its identity storage', async () => {
    const storage = memoryStorage()
    const store = identityStore(storage)
    // the tablet's certificate expires soon
    const { identity: withRoster, tabletPeer } = await identityWithTablet(store, 'erin@example.org', 'Erin', 5, 2 * 24 * 3600_000)
    const erin = await startDevice('erin@example.org', [supernodes[0]?.addr as string], { identity: withRoster, identityStore: store })
    devices.push(erin)
    await relayReserved(erin)
    const record = await erin.publish({ signal: AbortSignal.timeout(10_000) })
    assert.equal(record.roster.seq, 6)
    const renewed = record.roster.devices.find(d => d.peerId === tabletPeer)
    assert.ok(renewed != null && renewed.notAfter > Date.now() + 20 * 24 * 3600_000, 'the tablet got a fresh certificate')
    assert.ok(record.roster.devices.some(d => d.peerId === erin.peerId), 'the primary lists itself')
    assert.equal((await store.load())?.roster?.seq, 6)
    // nothing to renew: the next publish keeps the roster
    assert.equal((await erin.publish({ signal: AbortSignal.timeout(10_000) })).roster.seq, 6)
  })

  it('three wrong codes cancel an offer; then even the right code is refused', async () => {
    const guesser = await startBlankDevice([supernodes[1]?.addr as string])
    devices.push(guesser)
    const offer = await primary.createPairingOffer()
    const wrong = { ...offer, code: otherCode(offer.code) }
    const first = await expectRejects(guesser.acceptPairing(wrong, { name: 'guess' }), 'PairingCodeError')
    assert.match(first.message, /2 tries left/)
    await expectRejects(guesser.acceptPairing(wrong, { name: 'guess' }), 'PairingCodeError')
    const third = await expectRejects(guesser.acceptPairing(wrong, { name: 'guess' }), 'PairingCodeError')
    assert.match(third.message, /cancelled/)
    await expectRejects(guesser.acceptPairing(offer, { name: 'guess' }), 'PairingCancelledError')
    assert.equal(guesser.identity, undefined, 'nothing was granted')
    assert.equal(primary.devices().length, 1)
  })

  it('an expired offer is refused by both sides', async () => {
    const late = await startBlankDevice([supernodes[0]?.addr as string])
    devices.push(late)
    const offer = await primary.createPairingOffer()
    const link = pairingLink(offer, 'http://127.0.0.1/')
    skewMs = 4_300
    try {
      assert.throws(() => parsePairingOffer(link, { now: clock() }), { name: 'PairingExpiredError' })
      // a device whose clock is behind still sends it: the primary refuses
      await expectRejects(late.acceptPairing({ ...offer, expiresAt: Date.now() + 60_000 }, { name: 'late' }), 'PairingExpiredError')
    } finally {
      skewMs = 0
    }
  })

  let phone: Overlay
  it('the right code links the device: certificate and roster, never the identity key', async () => {
    const phoneStore = identityStore(memoryStorage())
    phone = await startBlankDevice([supernodes[1]?.addr as string], { identityStore: phoneStore })
    devices.push(phone)
    const offer = await primary.createPairingOffer()
    const parsed = parsePairingOffer(pairingLink(offer, 'http://127.0.0.1:8080/#/settings'))
    const linked = await phone.acceptPairing(parsed, { name: 'phone' })
    assert.equal(linked.email, 'dave@example.org')
    assert.equal(linked.privateKey, undefined)
    assert.equal(linked.deviceCertificate?.peerId, phone.peerId)
    assert.equal(linked.deviceCertificate?.name, 'phone')
    assert.deepEqual(await phoneStore.load(), linked, 'saved on the new device')
    assert.equal(phone.primary, false)
    // the primary kept the new roster in its identity storage
    const stored = await identityStore(primaryStorage).load()
    assert.equal(stored?.roster?.seq, linked.roster?.seq)
    assert.deepEqual(stored?.roster?.devices.map(d => d.name).sort(), ['desktop', 'phone'])
    // the same offer cannot be used twice
    const again = await startBlankDevice([supernodes[0]?.addr as string])
    devices.push(again)
    await expectRejects(again.acceptPairing(offer, { name: 'copy' }), 'PairingCancelledError')
    await expectRejects(phone.revokeDevice(primary.peerId), 'NotPrimaryDeviceError')
  })

  it('both devices are in the merged record; the linked one signs with its own key', async () => {
    const record = await phone.publish({ signal: AbortSignal.timeout(10_000) })
    assert.equal(record.signer, phone.peerId)
    assert.deepEqual(record.devices.map(d => d.peerId).sort(), [primary.peerId, phone.peerId].sort())
    const found = await eventually(async () => {
      const r = await alice.lookup('dave@example.org')
      return r.devices.length === 2 ? r : undefined
    }, { what: 'both devices in the record' })
    assert.equal(found?.roster.seq, record.roster.seq)
    // the primary republishes: the phone's entry is kept
    const next = await primary.publish({ signal: AbortSignal.timeout(10_000) })
    assert.equal(next.signer, 'identity')
    assert.deepEqual(next.devices.map(d => d.peerId).sort(), [primary.peerId, phone.peerId].sort())
    assert.deepEqual(primary.devices().map(d => [d.name, d.thisDevice]).sort(), [['desktop', true], ['phone', false]])
  })

  it('revoking drops the device from the record; it learns it and stops publishing; an old roster is refused', async () => {
    const before = await alice.lookup('dave@example.org')
    const revokedEvent = new Promise<DeviceRevokedDetail>(resolve => {
      phone.addEventListener('device:revoked', e => { resolve(e.detail) }, { once: true })
    })
    const roster = await primary.revokeDevice(phone.peerId)
    assert.equal(roster.seq, before.roster.seq + 1)
    assert.deepEqual(roster.revoked.map(r => r.name), ['phone'])
    const after = await eventually(async () => {
      const r = await alice.lookup('dave@example.org')
      return r.roster.seq === roster.seq ? r : undefined
    }, { what: 'the new roster in the record' })
    assert.deepEqual(after?.devices.map(d => d.peerId), [primary.peerId])
    // the phone's next publish finds the new roster
    await expectRejects(phone.publish({ signal: AbortSignal.timeout(10_000) }), 'DeviceRevokedError')
    const detail = await revokedEvent
    assert.equal(detail.peerId, phone.peerId)
    assert.ok(detail.revokedAt != null)
    assert.equal(phone.isRevoked, true)
    // the supernodes refuse a replay of the record with the old roster, and counted why
    const health = await Promise.all(supernodes.map(s => s.health()))
    const staleBefore = health.reduce((n, h) => n + (h.rejectedRecords.StaleRosterError ?? 0), 0)
    // the revoked phone replays the record with the old roster (which still lists it)
    for await (const _ of phone.node.services.dht.put(locationKey('dave@example.org'), encodeLocationRecord(before), { signal: AbortSignal.timeout(10_000) })) { /* drain */ }
    const healthAfter = await Promise.all(supernodes.map(s => s.health()))
    assert.ok(healthAfter.reduce((n, h) => n + (h.rejectedRecords.StaleRosterError ?? 0), 0) > staleBefore, JSON.stringify(healthAfter.map(h => h.rejectedRecords)))
    assert.equal((await alice.lookup('dave@example.org')).roster.seq, roster.seq, 'the new roster survived')

    // a rolled-back supernode serves the old record to a client that saw the new roster
    const store = new MemoryDatastore()
    const evil = await startHostilePeer('server', store)
    await evil.start()
    try {
      const key = locationKey('dave@example.org')
      await store.put(new Key(`/dht/record/${u8ToString(key, 'base32')}`, false), new Libp2pRecord(key, encodeLocationRecord(before), new Date()).serialize())
      const carol = await startDevice('carol@example.org', [evil.getMultiaddrs()[0]?.toString() ?? ''])
      devices.push(carol)
      assert.equal((await carol.lookup('dave@example.org')).roster.seq, before.roster.seq, 'first sight: accepted')
      const fresh = await eventually(async () => (await alice.lookup('dave@example.org')), { what: 'the current record' })
      await store.put(new Key(`/dht/record/${u8ToString(key, 'base32')}`, false), new Libp2pRecord(key, encodeLocationRecord(fresh), new Date()).serialize())
      assert.equal((await carol.lookup('dave@example.org')).roster.seq, roster.seq)
      await store.put(new Key(`/dht/record/${u8ToString(key, 'base32')}`, false), new Libp2pRecord(key, encodeLocationRecord(before), new Date()).serialize())
      const err = await expectRejects(carol.lookup('dave@example.org', { signal: AbortSignal.timeout(10_000) }), 'StaleRecordError')
      assert.match(err.message, /roster/)

      // the record is gone (expired and swept): a callee that knew the revoking roster keeps refusing the phone,
      // also after a restart (the roster it saw is kept in its roster storage)
      const knownRosters = memoryStorage()
      const dan = await startDevice('dan@example.org', [evil.getMultiaddrs()[0]?.toString() ?? ''], { rosterCheckTtlMs: 0, rosterStorage: knownRosters })
      devices.push(dan)
      await store.put(new Key(`/dht/record/${u8ToString(key, 'base32')}`, false), new Libp2pRecord(key, encodeLocationRecord(fresh), new Date()).serialize())
      assert.equal((await dan.lookup('dave@example.org')).roster.seq, roster.seq)
      await store.delete(new Key(`/dht/record/${u8ToString(key, 'base32')}`, false))
      await expectRejects(dan.lookup('dave@example.org', { signal: AbortSignal.timeout(10_000) }), 'NotFoundError')
      const identityKey = fresh.certificate.key
      for (let i = 0; i < 2; i++) {
        const standing = await dan.deviceStanding('dave@example.org', identityKey, phone.peerId)
        assert.equal(standing.ok ? 'ok' : standing.reason, 'DeviceRevokedError', `check ${i + 1} after the record vanished`)
      }
      const restarted = overlay({ bootstrap: [], rosterStorage: knownRosters })
      const afterRestart = await restarted.deviceStanding('dave@example.org', identityKey, phone.peerId)
      assert.equal(afterRestart.ok ? 'ok' : afterRestart.reason, 'DeviceRevokedError', 'after a restart')
    } finally {
      await evil.stop()
    }
  })

  it('a second holder of the identity key (a backup restored twice) cannot bring a revoked device back', async () => {
    const storage = memoryStorage()
    const store = identityStore(storage)
    const { identity: withTablet, keys, tabletPeer, tablet } = await identityWithTablet(store, 'hank@example.org', 'Hank', 3)
    const hank = await startDevice('hank@example.org', [supernodes[0]?.addr as string], { identity: withTablet, identityStore: store })
    devices.push(hank)
    await relayReserved(hank)
    await hank.publish({ signal: AbortSignal.timeout(10_000) })
    const revoking = await hank.revokeDevice(tabletPeer)
    // the other key holder never saw the revocation: it issues a newer roster that still lists the tablet
    const hankCert = revoking.devices.find(d => d.peerId === hank.peerId)
    assert.ok(hankCert != null)
    const other = createDeviceRoster({ identity: keys, seq: revoking.seq + 3, devices: [hankCert, tablet] })
    const otherRecord = createLocationRecord({ identity: keys, certificate: withTablet.certificate, roster: other, devices: [], seq: Date.now() + 1 })
    for await (const _ of alice.node.services.dht.put(locationKey('hank@example.org'), encodeLocationRecord(otherRecord), { signal: AbortSignal.timeout(10_000) })) { /* drain */ }
    // hank learns it on its next publish and re-applies its revocation on top
    const record = await hank.publish({ signal: AbortSignal.timeout(10_000) })
    assert.equal(record.roster.seq, other.seq + 1)
    assert.deepEqual(record.roster.revoked.map(r => r.peerId), [tabletPeer])
    assert.equal(record.roster.devices.some(d => d.peerId === tabletPeer), false)
    assert.equal((await store.load())?.roster?.seq, other.seq + 1, 'saved')
  })

  it('an offer refused for the device limit stays usable once a device is revoked', async () => {
    const store = identityStore(memoryStorage())
    const identity = await store.create({ email: 'jill@example.org', displayName: 'Jill' })
    const keys = identityKeyPair(identity)
    const others = await Promise.all(Array.from({ length: MAX_DEVICES - 1 }, async (_, i) =>
      issueDeviceCertificate({ identity: keys, peerId: peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString(), name: `old ${i}` })))
    const full = await store.updateDevices({ roster: createDeviceRoster({ identity: keys, seq: 2, devices: others }) })
    const jill = await startDevice('jill@example.org', [supernodes[0]?.addr as string], { identity: full, identityStore: store })
    devices.push(jill)
    await relayReserved(jill)
    assert.equal((await jill.publish({ signal: AbortSignal.timeout(10_000) })).roster.devices.length, MAX_DEVICES)
    const offer = await jill.createPairingOffer()
    const newcomer = await startBlankDevice([supernodes[1]?.addr as string])
    devices.push(newcomer)
    const err = await expectRejects(newcomer.acceptPairing(offer, { name: 'ninth' }), 'PairingFailedError')
    assert.match(err.message, /revoke one first/)
    await jill.revokeDevice(others[0]?.peerId as string)
    const linked = await newcomer.acceptPairing(offer, { name: 'ninth' })
    assert.equal(linked.deviceCertificate?.peerId, newcomer.peerId)
  })

  it('a revocation that cannot be saved is reported and not published', async () => {
    let failing = false
    const inner = memoryStorage()
    const store = identityStore({ read: async () => await inner.read(), write: async (data: string) => { if (failing) throw new Error('disk full'); await inner.write(data) } })
    const { identity: withTablet, tabletPeer } = await identityWithTablet(store, 'ida@example.org', 'Ida', 2)
    const ida = await startDevice('ida@example.org', [supernodes[1]?.addr as string], { identity: withTablet, identityStore: store })
    devices.push(ida)
    await relayReserved(ida)
    const published = await ida.publish({ signal: AbortSignal.timeout(10_000) })
    const reported = new Promise<Error>(resolve => { ida.addEventListener('devices:error', e => { resolve(e.detail) }, { once: true }) })
    failing = true
    await expectRejects(ida.revokeDevice(tabletPeer), 'RosterNotSavedError')
    assert.equal((await reported).name, 'RosterNotSavedError')
    assert.ok(ida.devices().some(d => d.peerId === tabletPeer), 'the revocation was not applied')
    assert.equal(ida.publishedRosterSeq, published.roster.seq, 'nothing new was published')
    failing = false
    const saved = await ida.revokeDevice(tabletPeer)
    assert.equal(ida.publishedRosterSeq, saved.seq)
  })
})

describe('linked devices: a revocation made offline', { timeout: 120_000 }, () => {
  it('is saved, reported as not yet out, and published once back online', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'peerline-sn-'))
    // a supernode of its own: while it is down, lee knows no other
    let sn = await spawnSupernode({ dataDir: dir })
    let lee: Overlay | undefined
    try {
      const port = Number(/\/tcp\/(\d+)\//.exec(sn.addr)?.[1])
      const store = identityStore(memoryStorage())
      const { identity: withTablet, tabletPeer } = await identityWithTablet(store, 'lee@example.org', 'Lee', 2)
      const device = lee = await startDevice('lee@example.org', [sn.addr], { identity: withTablet, identityStore: store })
      await relayReserved(device)
      await device.publish({ signal: AbortSignal.timeout(10_000) })
      await sn.kill('SIGKILL')
      await eventually(() => !device.status.online, { what: 'lee offline' })
      const roster = await device.revokeDevice(tabletPeer)
      assert.ok((device.publishedRosterSeq ?? 0) < roster.seq, 'not out yet')
      assert.equal((await store.load())?.roster?.seq, roster.seq, 'saved')
      sn = await spawnSupernode({ dataDir: dir, port })
      await eventually(() => device.publishedRosterSeq === roster.seq, { timeoutMs: 30_000, what: 'the revocation published once back online' })
    } finally {
      await lee?.stop().catch(() => {})
      await sn.kill('SIGKILL')
      await rm(dir, { recursive: true, force: true })
    }
  })
})
