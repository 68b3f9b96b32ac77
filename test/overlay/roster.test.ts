/**
 * Device rosters and the record rules that depend on them, without a
 * network: forged rosters, revoked or unknown device entries, device-signed
 * records, stale rosters at the supernode's datastore guard, and linked
 * identities in storage.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Libp2pRecord } from '@libp2p/record'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import type { PrivateKey } from '@libp2p/interface'
import {
  createDeviceRoster, exportIdentity, generateIdentityKey, identityKeyPair, identityStore, issueDeviceCertificate,
  selfCertify, signObject, toBase64Url, validateStoredIdentity, verifyDeviceRoster
} from '../../shared/identity/index.ts'
import type { DeviceCertificate, IdentityKeyPair, StoredIdentity } from '../../shared/identity/index.ts'
import {
  createLocationRecord, encodeLocationRecord, isNewer, locationKey, overlay, parsePairingOffer, pairingLink, selectLocationRecord,
  validateLocationRecord, CLOCK_SKEW_MS
} from '../../shared/overlay/index.ts'
import type { DeviceEntry } from '../../shared/overlay/index.ts'
import { memoryStorage } from '../../shared/store/kv.ts'
import { guardRecords, RecordStats, STALE_ROSTER, sweepRecords, TOMBSTONE_PREFIX, TOMBSTONE_TTL_MS } from '../../supernode/records.ts'

const enc = (r: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(r))

function throwsNamed (fn: () => unknown, name: string, message?: RegExp): void {
  assert.throws(fn, (err: Error) => {
    assert.equal(err.name, name, err.message)
    if (message != null) assert.match(err.message, message)
    return true
  })
}

interface TestDevice { key: PrivateKey, peerId: string, cert: DeviceCertificate, entry: DeviceEntry }

async function device (identity: IdentityKeyPair, name: string): Promise<TestDevice> {
  const key = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(key).toString()
  const cert = issueDeviceCertificate({ identity, peerId, name })
  return { key, peerId, cert, entry: { peerId, certificate: cert, addrs: [`/ip4/127.0.0.1/tcp/1/ws/p2p/${peerId}`] } }
}

const seed = (d: TestDevice): { peerId: string, privateKey: Uint8Array } => ({ peerId: d.peerId, privateKey: d.key.raw.subarray(0, 32) })

describe('device rosters', () => {
  const alice = generateIdentityKey()
  const cert = selfCertify(alice, 'alice@example.org')
  const key = locationKey('alice@example.org')

  it('a roster verifies under its identity key and names forgeries', async () => {
    const laptop = await device(alice, 'laptop')
    const phone = await device(alice, 'phone')
    const roster = createDeviceRoster({ identity: alice, seq: 3, devices: [laptop.cert, phone.cert] })
    const ok = verifyDeviceRoster(roster, { identityKey: alice.publicKey })
    assert.equal(ok.seq, 3)
    assert.deepEqual(ok.devices.map(d => d.name), ['laptop', 'phone'])
    // signed by someone else's key although it names alice's
    const mallory = generateIdentityKey()
    const { sig: _s, ...body } = roster
    throwsNamed(() => verifyDeviceRoster(signObject(mallory.privateKey, body), { identityKey: alice.publicKey }), 'BadSignatureError')
    // tampered after signing: a device added
    const extra = await device(alice, 'extra')
    throwsNamed(() => verifyDeviceRoster({ ...roster, devices: [...roster.devices, extra.cert] }, { identityKey: alice.publicKey }), 'BadSignatureError')
    // another identity's roster
    throwsNamed(() => verifyDeviceRoster(createDeviceRoster({ identity: mallory, seq: 1, devices: [] }), { identityKey: alice.publicKey }), 'BadSignatureError')
    // a device both active and revoked, properly signed: malformed
    throwsNamed(() => verifyDeviceRoster(signObject(alice.privateKey, { ...body, revoked: [{ peerId: phone.peerId, name: 'phone', revokedAt: 1 }] }), { identityKey: alice.publicKey }), 'MalformedRosterError', /both active and revoked/)
    throwsNamed(() => verifyDeviceRoster(signObject(alice.privateKey, { ...body, extra: 1 }), { identityKey: alice.publicKey }), 'MalformedRosterError')
    throwsNamed(() => verifyDeviceRoster('x', { identityKey: alice.publicKey }), 'MalformedRosterError')
  })

  it('a record may list only active roster devices and is signed by the identity or a roster device', async () => {
    const laptop = await device(alice, 'laptop')
    const phone = await device(alice, 'phone')
    const roster = createDeviceRoster({ identity: alice, seq: 1, devices: [laptop.cert, phone.cert] })
    // the primary signs as the identity; the linked phone signs with its own libp2p key
    const byIdentity = createLocationRecord({ identity: alice, certificate: cert, roster, devices: [laptop.entry, phone.entry], seq: 1 })
    assert.equal(validateLocationRecord(key, encodeLocationRecord(byIdentity)).signer, 'identity')
    const byPhone = createLocationRecord({ device: seed(phone), certificate: cert, roster, devices: [phone.entry, laptop.entry], seq: 2 })
    assert.equal(validateLocationRecord(key, encodeLocationRecord(byPhone)).signer, phone.peerId)

    // a device signature claimed for another roster device
    const { sig: _s, ...body } = byPhone
    const claimed = { ...body, signer: laptop.peerId, sig: byPhone.sig }
    throwsNamed(() => validateLocationRecord(key, enc(claimed)), 'BadSignatureError', /not signed by the key of device/)
    // a device outside the roster signing
    const stranger = await device(generateIdentityKey(), 'stranger')
    const byStranger = createLocationRecord({ device: seed(stranger), certificate: cert, roster, devices: [laptop.entry], seq: 3 })
    throwsNamed(() => validateLocationRecord(key, encodeLocationRecord(byStranger)), 'DeviceNotInRosterError', /is signed by device/)

    // phone revoked: a new roster without it
    const revoked = createDeviceRoster({ identity: alice, seq: 2, devices: [laptop.cert], revoked: [{ peerId: phone.peerId, name: 'phone', revokedAt: Date.now() }] })
    const listsRevoked = createLocationRecord({ identity: alice, certificate: cert, roster: revoked, devices: [laptop.entry, phone.entry], seq: 4 })
    throwsNamed(() => validateLocationRecord(key, encodeLocationRecord(listsRevoked)), 'DeviceRevokedError', /lists device "phone"/)
    const signedByRevoked = createLocationRecord({ device: seed(phone), certificate: cert, roster: revoked, devices: [laptop.entry], seq: 5 })
    throwsNamed(() => validateLocationRecord(key, encodeLocationRecord(signedByRevoked)), 'DeviceRevokedError', /is signed by device "phone"/)
    // an unknown device entry
    const unknown = await device(alice, 'unknown')
    const listsUnknown = createLocationRecord({ identity: alice, certificate: cert, roster: revoked, devices: [laptop.entry, unknown.entry], seq: 6 })
    throwsNamed(() => validateLocationRecord(key, encodeLocationRecord(listsUnknown)), 'DeviceNotInRosterError')
    // a forged roster inside an otherwise well-signed record
    const mallory = generateIdentityKey()
    const forgedRoster = createDeviceRoster({ identity: mallory, seq: 99, devices: [] })
    const withForged = createLocationRecord({ identity: alice, certificate: cert, roster: forgedRoster, devices: [], seq: 7 })
    throwsNamed(() => validateLocationRecord(key, encodeLocationRecord(withForged)), 'BadSignatureError', /roster was signed by a different identity key/)
    // a record without roster or signer (the format before linked devices)
    const { roster: _r, signer: _g, sig: _x, ...legacyBody } = createLocationRecord({ identity: alice, certificate: cert, devices: [], seq: 8 })
    throwsNamed(() => validateLocationRecord(key, enc(signObject(alice.privateKey, legacyBody))), 'MalformedRecordError')
  })

  it('a newer roster wins over a higher record seq, in the selector and in the supernode guard', async () => {
    const laptop = await device(alice, 'laptop')
    const phone = await device(alice, 'phone')
    const r1 = createDeviceRoster({ identity: alice, seq: 1, devices: [laptop.cert, phone.cert] })
    const r2 = createDeviceRoster({ identity: alice, seq: 2, devices: [laptop.cert], revoked: [{ peerId: phone.peerId, name: 'phone', revokedAt: Date.now() }] })
    const current = createLocationRecord({ identity: alice, certificate: cert, roster: r2, devices: [laptop.entry], seq: 10 })
    // the revoked phone replays the old roster with a higher record seq
    const replay = createLocationRecord({ device: seed(phone), certificate: cert, roster: r1, devices: [phone.entry], seq: 1_000 })
    assert.equal(isNewer(current, replay), true)
    // a new identity key for the address: its roster starts again at 1, the record seq decides
    const newKey = generateIdentityKey()
    const renewed = createLocationRecord({ identity: newKey, certificate: selfCertify(newKey, 'alice@example.org'), devices: [], seq: 11 })
    assert.equal(renewed.roster.seq, 1)
    assert.equal(isNewer(renewed, current), true)
    assert.equal(selectLocationRecord(key, [replay, current].map(encodeLocationRecord)), 1)

    const stats = new RecordStats()
    const store = guardRecords(new MemoryDatastore(), stats)
    const dsKey = new Key('/dht/record/alice')
    const wrap = (r: typeof current): Uint8Array => new Libp2pRecord(key, encodeLocationRecord(r), new Date()).serialize()
    await store.put(dsKey, wrap(current))
    await assert.rejects(async () => await store.put(dsKey, wrap(replay)), (err: Error) => err.name === 'StaleRecordError' && /roster 1/.test(err.message))
    assert.equal(stats.rejected[STALE_ROSTER], 1)
    // same roster, older seq: the existing guard
    await assert.rejects(async () => await store.put(dsKey, wrap(createLocationRecord({ identity: alice, certificate: cert, roster: r2, devices: [laptop.entry], seq: 9 }))), { name: 'StaleRecordError' })
    assert.equal(stats.rejected.StaleRecordError, 1)
    await store.put(dsKey, wrap(createLocationRecord({ identity: alice, certificate: cert, roster: r2, devices: [laptop.entry], seq: 11 })))
  })

  it('after the record expires and is swept, a tombstone still refuses the replay of a revoking roster\'s predecessor', async () => {
    const laptop = await device(alice, 'laptop')
    const phone = await device(alice, 'phone')
    const r1 = createDeviceRoster({ identity: alice, seq: 1, devices: [laptop.cert, phone.cert] })
    const r2 = createDeviceRoster({ identity: alice, seq: 2, devices: [laptop.cert], revoked: [{ peerId: phone.peerId, name: 'phone', revokedAt: Date.now() }] })
    const now = Date.now()
    const current = createLocationRecord({ identity: alice, certificate: cert, roster: r2, devices: [laptop.entry], seq: now, ttlMs: 1_000 })
    const base = new MemoryDatastore()
    const stats = new RecordStats()
    const store = guardRecords(base, stats)
    const dsKey = new Key('/dht/record/alice-swept')
    const wrap = (r: typeof current): Uint8Array => new Libp2pRecord(key, encodeLocationRecord(r), new Date()).serialize()
    await store.put(dsKey, wrap(current))
    // the record expires and the sweeper drops it
    const later = now + CLOCK_SKEW_MS + 60_000
    assert.equal(await sweepRecords(base, stats, later), 0)
    assert.equal(await base.has(dsKey), false)
    // the revoked phone (its certificate still valid) re-puts the roster that listed it
    const replay = createLocationRecord({ device: seed(phone), certificate: cert, roster: r1, devices: [phone.entry], seq: now + 1 })
    await assert.rejects(async () => await store.put(dsKey, wrap(replay)), (err: Error) => err.name === 'StaleRecordError' && /roster 2/.test(err.message))
    // same roster, an old seq: refused too; the owner's next record is taken
    await assert.rejects(async () => await store.put(dsKey, wrap(createLocationRecord({ identity: alice, certificate: cert, roster: r2, devices: [laptop.entry], seq: now - 1 }))), { name: 'StaleRecordError' })
    await store.put(dsKey, wrap(createLocationRecord({ identity: alice, certificate: cert, roster: r2, devices: [laptop.entry], seq: now + 2 })))
    // tombstones are bounded: past their lifetime, and the oldest beyond the count
    await base.delete(dsKey)
    for (let i = 0; i < 3; i++) await base.put(new Key(`${TOMBSTONE_PREFIX}t${i}`), new TextEncoder().encode(JSON.stringify({ identity: 'x', rosterSeq: 1, seq: 1, expiresAt: 1, sweptAt: later + i })))
    const count = async (): Promise<number> => { let n = 0; for await (const _ of base.queryKeys({ prefix: TOMBSTONE_PREFIX.slice(0, -1) })) n++; return n }
    assert.equal(await count(), 4)
    await sweepRecords(base, stats, later + 10, 2)
    assert.equal(await count(), 2)
    assert.equal(await base.has(new Key(`${TOMBSTONE_PREFIX}t2`)), true, 'the newest tombstones stay')
    await sweepRecords(base, stats, later + TOMBSTONE_TTL_MS + 10)
    assert.equal(await count(), 0)
  })

  it('a callee that knew the revoking roster refuses the revoked device after a restart, even with no record out', async () => {
    const laptop = await device(alice, 'laptop')
    const phone = await device(alice, 'phone')
    const stranger = await device(alice, 'stranger')
    const r2 = createDeviceRoster({ identity: alice, seq: 2, devices: [laptop.cert], revoked: [{ peerId: phone.peerId, name: 'phone', revokedAt: Date.now() }] })
    const storage = memoryStorage(JSON.stringify({ format: 'peerline-known-rosters', rosters: { 'alice@example.org': { roster: r2, seq: 5, at: Date.now() } } }))
    // not started: every lookup fails (offline), the stored roster decides
    const callee = overlay({ bootstrap: [], rosterStorage: storage })
    const identityKey = toBase64Url(alice.publicKey)
    const revoked = await callee.deviceStanding('alice@example.org', identityKey, phone.peerId)
    assert.equal(revoked.ok, false)
    assert.equal(!revoked.ok && revoked.reason, 'DeviceRevokedError')
    assert.equal((await callee.deviceStanding('alice@example.org', identityKey, stranger.peerId)).ok, false, 'a device absent from the known roster')
    assert.equal((await callee.deviceStanding('alice@example.org', identityKey, laptop.peerId)).ok, true)
    assert.equal(callee.knownRosterSeq('alice@example.org'), 2)
    // nothing known of an address: open (the certificate checks are all there is)
    assert.deepEqual(await callee.deviceStanding('zoe@example.org', identityKey, phone.peerId), { ok: true, known: false })
  })
})

describe('linked identities in storage', () => {
  it('a linked device stores its identity without the private key; only the primary can sign or back up', async () => {
    const primaryStore = identityStore(memoryStorage())
    const primary = await primaryStore.create({ email: 'carol@example.org', displayName: 'Carol' })
    const keys = identityKeyPair(primary)
    const phone = await device(keys, 'phone')
    const roster = createDeviceRoster({ identity: keys, seq: 2, devices: [phone.cert] })
    const linked: StoredIdentity = {
      email: primary.email,
      displayName: primary.displayName,
      publicKey: primary.publicKey,
      certificate: primary.certificate,
      createdAt: Date.now(),
      deviceCertificate: phone.cert,
      roster
    }
    const store = identityStore(memoryStorage())
    const saved = await store.saveLinked(linked)
    assert.equal(saved.privateKey, undefined)
    assert.deepEqual(await store.load(), saved)
    assert.throws(() => identityKeyPair(saved), { name: 'NotPrimaryDeviceError' })
    await assert.rejects(exportIdentity(saved, 'long enough passphrase'), { name: 'NotPrimaryDeviceError' })
    // a linked identity carrying a device certificate from another key is corrupt
    const other = await device(generateIdentityKey(), 'other')
    assert.throws(() => validateStoredIdentity({ ...linked, deviceCertificate: other.cert }), { name: 'MalformedBackupError' })
    assert.throws(() => validateStoredIdentity({ ...linked, deviceCertificate: undefined }), { name: 'MalformedBackupError' })
    await assert.rejects(store.saveLinked({ ...linked, privateKey: primary.privateKey as string }), { name: 'MalformedBackupError' })
    // a newer roster is kept, an older one ignored
    const newer = createDeviceRoster({ identity: keys, seq: 3, devices: [phone.cert] })
    assert.equal((await store.updateDevices({ roster: newer })).roster?.seq, 3)
    assert.equal((await store.updateDevices({ roster })).roster?.seq, 3)
    // another roster with the same seq (another holder of the key) does not overwrite the stored one
    const sameSeq = createDeviceRoster({ identity: keys, seq: 3, devices: [] })
    assert.equal((await store.updateDevices({ roster: sameSeq })).roster?.sig, newer.sig)
    // the primary keeps its roster next to its key, and its backup still works
    const withRoster = await primaryStore.updateDevices({ roster: newer })
    assert.equal(withRoster.roster?.seq, 3)
    assert.equal(identityKeyPair(withRoster).publicKey.length, 32)
    assert.ok((await primaryStore.exportBackup('long enough passphrase')).length > 0)
    assert.equal(toBase64Url(keys.publicKey), withRoster.publicKey)
  })
})

describe('pairing offers', () => {
  it('round-trip through a link, and bad or expired links are named', async () => {
    const key = await generateKeyPair('Ed25519')
    const offer = { v: 1 as const, aor: 'dave@example.org', peerId: peerIdFromPrivateKey(key).toString(), addrs: ['/ip4/127.0.0.1/tcp/1/ws'], code: '012345', expiresAt: Date.now() + 60_000 }
    const link = pairingLink(offer, 'https://app.example/#/settings')
    assert.match(link, /^https:\/\/app\.example\/#\/pair\/[A-Za-z0-9_-]+$/)
    assert.deepEqual(parsePairingOffer(link), offer)
    assert.deepEqual(parsePairingOffer(`${link}?then=/call/sip:bob@example.org`), offer)
    throwsNamed(() => parsePairingOffer(link, { now: offer.expiresAt + 1 }), 'PairingExpiredError')
    throwsNamed(() => parsePairingOffer('https://app.example/#/pair/AAAA'), 'MalformedPairingOfferError')
    throwsNamed(() => parsePairingOffer(pairingLink({ ...offer, code: '12345' }, 'x')), 'MalformedPairingOfferError')
    throwsNamed(() => parsePairingOffer(pairingLink({ ...offer, peerId: 'nope' }, 'x')), 'MalformedPairingOfferError')
  })
})
