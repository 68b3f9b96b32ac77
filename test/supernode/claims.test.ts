/**
 * Claims per identity at the supernode (supernode/records.ts), without a
 * network: the eviction rule of mergeClaims (CA-issued and self-issued tiers,
 * the per-issuer share, the last arrival makes room), and the datastore
 * guard: another identity never replaces a stored claim, replays are refused
 * per identity, and tombstones are kept per identity after the sweep.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Libp2pRecord } from '@libp2p/record'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { createDeviceRoster, generateIdentityKey, issueIdentityCertificate, toBase64Url } from '../../shared/identity/index.ts'
import type { IdentityKeyPair } from '../../shared/identity/index.ts'
import {
  createLocationRecord, decodeLocationValue, encodeLocationClaims, encodeLocationRecord, locationKey, selectLocationValue, ANY_ISSUER, CLOCK_SKEW_MS, MAX_CA_CLAIMS, MAX_CLAIMS,
  MAX_CLAIMS_PER_ISSUER, MAX_SELF_ISSUED_CLAIMS
} from '../../shared/overlay/index.ts'
import type { LocationRecord } from '../../shared/overlay/index.ts'
import { guardRecords, mergeClaims, RecordStats, STALE_ROSTER, sweepRecords } from '../../supernode/records.ts'
import type { StoredClaim } from '../../supernode/records.ts'

const BOB = 'bob@example.org'
const key = locationKey(BOB)
const dsKey = new Key('/dht/record/bob')

function claim (subject: IdentityKeyPair, issuer: IdentityKeyPair = subject, init: { seq?: number, rosterSeq?: number, ttlMs?: number } = {}): LocationRecord {
  const now = Date.now()
  const certificate = issueIdentityCertificate({ email: BOB, subjectKey: subject.publicKey, issuer })
  const roster = createDeviceRoster({ identity: subject, seq: init.rosterSeq ?? 1, devices: [] })
  return createLocationRecord({ identity: subject, certificate, roster, devices: [], seq: init.seq ?? now, ...(init.ttlMs != null ? { ttlMs: init.ttlMs } : {}) })
}

const keyOf = (r: LocationRecord): string => r.certificate.key
const wrap = (r: LocationRecord): Uint8Array => new Libp2pRecord(key, encodeLocationRecord(r), new Date()).serialize()

async function storedKeys (store: MemoryDatastore): Promise<string[]> {
  const raw = await store.get(dsKey)
  return decodeLocationValue(Libp2pRecord.deserialize(raw).value).claims.map(keyOf)
}

describe('claims per identity at the supernode', () => {
  const ca = generateIdentityKey()
  const bob = generateIdentityKey()
  const owner = claim(bob, ca)

  it('a flood of self-issued identities never evicts the CA-issued claim, and churns only the last arrival\'s slot', () => {
    let stored: StoredClaim[] = [{ record: owner, since: 1 }]
    const early = Array.from({ length: MAX_SELF_ISSUED_CLAIMS }, () => claim(generateIdentityKey()))
    early.forEach((r, i) => { stored = mergeClaims(stored, [r], 10 + i).claims })
    assert.equal(stored.length, 1 + MAX_SELF_ISSUED_CLAIMS)
    let evicted = 0
    for (let i = 0; i < 200; i++) {
      const m = mergeClaims(stored, [claim(generateIdentityKey())], 1_000 + i)
      evicted += m.evicted.length
      stored = m.claims
      assert.ok(stored.some(c => keyOf(c.record) === keyOf(owner)), 'the CA-issued claim stays')
      assert.ok(stored.length <= MAX_CLAIMS)
    }
    assert.equal(evicted, 200)
    // the self-issued claims that were there before the flood keep their slots (all but the last arrival's)
    const kept = new Set(stored.map(c => keyOf(c.record)))
    assert.equal(early.slice(0, -1).filter(r => kept.has(keyOf(r))).length, MAX_SELF_ISSUED_CLAIMS - 1)
  })

  it('throwaway CAs fill only the CA tier, one issuer at most MAX_CLAIMS_PER_ISSUER; an owner stored before keeps the slot', () => {
    let stored: StoredClaim[] = [{ record: owner, since: 1 }]
    const oneCa = generateIdentityKey()
    for (let i = 0; i < 5; i++) stored = mergeClaims(stored, [claim(generateIdentityKey(), oneCa)], 10 + i).claims
    assert.equal(stored.filter(c => c.record.certificate.issuer === toBase64Url(oneCa.publicKey)).length, MAX_CLAIMS_PER_ISSUER)
    for (let i = 0; i < 50; i++) stored = mergeClaims(stored, [claim(generateIdentityKey(), generateIdentityKey())], 100 + i).claims
    const caTier = stored.filter(c => c.record.certificate.issuer !== c.record.certificate.key)
    assert.equal(caTier.length, MAX_CA_CLAIMS)
    assert.ok(caTier.some(c => keyOf(c.record) === keyOf(owner)))
    // self-issued claims still find room: the tiers do not share slots
    const self = claim(generateIdentityKey())
    assert.equal(mergeClaims(stored, [self], 999).evicted.length, 0)
  })

  it('republishing keeps one slot and the first arrival time; another identity\'s higher seq replaces nothing', () => {
    const impostor = generateIdentityKey()
    let stored: StoredClaim[] = [{ record: owner, since: 1 }]
    for (let i = 0; i < 20; i++) {
      const m = mergeClaims(stored, [claim(impostor, impostor, { seq: Date.now() + i })], 10 + i)
      assert.equal(m.accepted.length, 1)
      stored = m.claims
    }
    assert.equal(stored.length, 2)
    assert.equal(stored.find(c => keyOf(c.record) === toBase64Url(impostor.publicKey))?.since, 10)
    assert.equal(stored.find(c => keyOf(c.record) === keyOf(owner))?.record, owner)
    // an older record of one identity is stale for that identity only
    const old = mergeClaims(stored, [claim(bob, ca, { seq: owner.seq - 1 })], 50)
    assert.equal(old.accepted.length, 0)
    assert.equal(old.stale[0]?.reason, 'StaleRecordError')
  })

  it('the datastore guard keeps both identities, refuses replays per identity, and keeps tombstones per identity after the sweep', async () => {
    const base = new MemoryDatastore()
    const stats = new RecordStats()
    const store = guardRecords(base, stats)
    const now = Date.now()
    const current = claim(bob, ca, { seq: now, rosterSeq: 2, ttlMs: 1_000 })
    const impostor = generateIdentityKey()
    await store.put(dsKey, wrap(current))
    await store.put(dsKey, wrap(claim(impostor, impostor, { seq: now + 1_000 })))
    assert.deepEqual(new Set(await storedKeys(base)), new Set([keyOf(current), toBase64Url(impostor.publicKey)]))
    // Bob's older roster (a replay) is refused; the impostor's claim is no reason to refuse Bob's newer one
    await assert.rejects(async () => await store.put(dsKey, wrap(claim(bob, ca, { seq: now + 5, rosterSeq: 1 }))), (err: Error) => err.name === 'StaleRecordError' && /roster 2/.test(err.message))
    assert.equal(stats.rejected[STALE_ROSTER], 1)
    // a value carrying claims of several identities (kad-dht's correction) merges too
    const third = generateIdentityKey()
    const bundle = new TextEncoder().encode(JSON.stringify({ v: 1, kind: 'claims', aor: BOB, claims: [current, claim(third)] }))
    await store.put(dsKey, new Libp2pRecord(key, bundle, new Date()).serialize())
    assert.equal((await storedKeys(base)).length, 3)
    // Bob's claim expires and is swept; the others stay; his tombstone still refuses the old roster
    const later = current.expiresAt + CLOCK_SKEW_MS + 1
    assert.equal(await sweepRecords(base, stats, later), 1)
    assert.equal(stats.claims, 2)
    assert.equal((await storedKeys(base)).includes(keyOf(current)), false)
    await assert.rejects(async () => await store.put(dsKey, wrap(claim(bob, ca, { rosterSeq: 1 }))), (err: Error) => err.name === 'StaleRecordError' && /roster 2/.test(err.message))
    // Bob's next record is taken, next to the others
    await store.put(dsKey, wrap(claim(bob, ca, { rosterSeq: 2 })))
    assert.equal((await storedKeys(base)).length, 3)
  })

  it('a value with no valid claim is refused with the claim\'s error; a bad claim in a bundle is dropped, not stored', async () => {
    const base = new MemoryDatastore()
    const store = guardRecords(base, new RecordStats())
    const forged = { ...claim(generateIdentityKey()), seq: 1 } // signature no longer matches
    await assert.rejects(async () => await store.put(dsKey, wrap(forged)), { name: 'BadSignatureError' })
    const bundle = new TextEncoder().encode(JSON.stringify({ v: 1, kind: 'claims', aor: BOB, claims: [forged, owner] }))
    await store.put(dsKey, new Libp2pRecord(key, bundle, new Date()).serialize())
    assert.deepEqual(await storedKeys(base), [keyOf(owner)])
  })

  it('a correction (a value of several claims) with nothing newer is no error; the selector prefers the value with the newest claims', async () => {
    const base = new MemoryDatastore()
    const store = guardRecords(base, new RecordStats())
    const newer = claim(bob, ca, { seq: owner.seq + 10 })
    await store.put(dsKey, wrap(newer))
    const other = claim(generateIdentityKey())
    const bundleOf = (...rs: LocationRecord[]): Uint8Array => encodeLocationClaims(BOB, rs)
    await store.put(dsKey, new Libp2pRecord(key, bundleOf(owner), new Date()).serialize())
    assert.equal(decodeLocationValue(Libp2pRecord.deserialize(await base.get(dsKey)).value).claims[0]?.seq, newer.seq)
    // a plain record that is older is still refused
    await assert.rejects(async () => await store.put(dsKey, wrap(owner)), { name: 'StaleRecordError' })
    // more identities do not beat a newer record of the owner
    assert.equal(selectLocationValue(key, [bundleOf(owner, other), bundleOf(newer, other), bundleOf(newer)], { certificate: ANY_ISSUER }), 1)
  })
})
