/**
 * Claims per identity through real supernode processes and real overlay
 * devices: an impostor with a self-issued certificate for bob@example.org
 * republishes every second, attached to another supernode than Bob. A caller
 * who trusts Bob's CA and a caller who pinned Bob's key reach Bob's record
 * on every sampled lookup during the flood; nobody sees the impostor as
 * CA-verified; a caller with no trust gets ConflictingClaimsError naming
 * both keys. PEERLINE_FLOOD_MS sets the flood's length (default 60 s).
 * Without a network: the client's replay rules are per identity.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  createDeviceRoster, fromBase64Url, generateIdentityKey, issueIdentityCertificate, openTrustStore, toBase64Url
} from '../../shared/identity/index.ts'
import type { StoredIdentity, TrustStore } from '../../shared/identity/index.ts'
import { createLocationRecord, ConflictingClaimsError } from '../../shared/overlay/index.ts'
import type { AddressClaim, LocationRecord, Overlay } from '../../shared/overlay/index.ts'
import { RosterBook } from '../../shared/overlay/roster-book.ts'
import { memoryStorage } from '../../shared/store/kv.ts'
import { newIdentity, startDevice } from '../helpers/overlay.ts'
import { eventually, spawnJoinedPair } from '../helpers/supernode-process.ts'
import type { SupernodeProcess } from '../helpers/supernode-process.ts'

const BOB = 'bob@example.org'
/** how long the impostor republishes (a real run stays within a minute) */
const FLOOD_MS = Math.min(60_000, Number(process.env.PEERLINE_FLOOD_MS ?? 60_000))
const REPUBLISH_EVERY_MS = 1_000

describe('claims per identity: an impostor cannot displace the owner', { timeout: 300_000 }, () => {
  const supernodes: SupernodeProcess[] = []
  const overlays: Overlay[] = []
  const ca = generateIdentityKey()
  let bobIdentity: StoredIdentity
  let bob: Overlay
  let impostor: Overlay
  let caCaller: Overlay
  let pinnedCaller: Overlay
  let freshCaller: Overlay

  async function device (email: string, bootstrap: string, init: Parameters<typeof startDevice>[2] = {}): Promise<Overlay> {
    const o = await startDevice(email, [bootstrap], init)
    overlays.push(o)
    return o
  }

  async function trustWith (setup: (t: TrustStore) => Promise<unknown>): Promise<TrustStore> {
    const t = await openTrustStore(memoryStorage())
    await setup(t)
    return t
  }

  before(async () => {
    const [sn1, sn2] = await spawnJoinedPair(supernodes)
    const plain = await newIdentity(BOB)
    bobIdentity = { ...plain, certificate: issueIdentityCertificate({ email: BOB, subjectKey: fromBase64Url(plain.publicKey), issuer: ca }) }
    bob = await device(BOB, sn1.addr, { identity: bobIdentity })
    await bob.publish({ signal: AbortSignal.timeout(10_000) })
    // the impostor is first to hear of nothing: it attaches to the other supernode
    impostor = await device(BOB, sn2.addr)
    await impostor.publish({ signal: AbortSignal.timeout(10_000) })
    caCaller = await device('carol@example.org', sn2.addr, { trust: await trustWith(async t => await t.addCa({ key: ca.publicKey, name: 'Example CA' })) })
    pinnedCaller = await device('dave@example.org', sn2.addr, { trust: await trustWith(async t => await t.pinOnFirstUse(BOB, bobIdentity.publicKey)) })
    freshCaller = await device('erin@example.org', sn1.addr, { trust: await openTrustStore(memoryStorage()) })
  })

  after(async () => {
    await Promise.all(overlays.map(async o => await o.stop().catch(() => {})))
    await Promise.all(supernodes.map(async s => await s.kill()))
  })

  function assertNoImpostorVerified (claims: AddressClaim[]): void {
    for (const c of claims) {
      if (c.identityKey === bobIdentity.publicKey) continue
      assert.equal(c.selfIssued, true)
      assert.notEqual(c.trust.level, 'ca-verified', 'the impostor is never CA-verified')
      assert.notEqual(c.trust.level, 'contact-verified')
    }
  }

  it('during the flood, the CA-trusting and the pinning callers always reach Bob\'s devices', async () => {
    const impostorKey = impostor.identity?.publicKey as string
    assert.notEqual(impostorKey, bobIdentity.publicKey)
    const end = Date.now() + FLOOD_MS
    let rounds = 0
    let impostorSeen = 0
    while (Date.now() < end) {
      const started = Date.now()
      await impostor.publish({ signal: AbortSignal.timeout(10_000) })
      for (const caller of [caCaller, pinnedCaller]) {
        const r = await caller.lookup(BOB, { signal: AbortSignal.timeout(10_000) })
        assert.equal(r.certificate.key, bobIdentity.publicKey, `round ${rounds}: the lookup returned another key`)
        assert.deepEqual(r.devices.map(d => d.peerId), [bob.peerId])
      }
      const claims = await caCaller.lookupClaims(BOB, { signal: AbortSignal.timeout(10_000) })
      const mine = claims.find(c => c.identityKey === bobIdentity.publicKey)
      assert.equal(mine?.trust.level, 'ca-verified')
      assert.equal(mine?.selfIssued, false)
      if (claims.some(c => c.identityKey === impostorKey)) impostorSeen++
      assertNoImpostorVerified(claims)
      rounds++
      await new Promise(resolve => setTimeout(resolve, Math.max(0, REPUBLISH_EVERY_MS - (Date.now() - started))))
    }
    assert.ok(rounds >= Math.floor(FLOOD_MS / 5_000), `only ${rounds} rounds`)
    assert.ok(impostorSeen > 0, 'the impostor\'s claim is listed too (it is a claim, just not a trusted one)')
    console.info(`drill impostor-flood: ${rounds} impostor republishes in ${Math.round(FLOOD_MS / 1000)} s through the other supernode; CA-trusting and pinning callers reached Bob on all ${rounds * 2} sampled lookups; impostor listed (unverified) in ${impostorSeen} of ${rounds} claim lists`)
  })

  it('a caller who trusts nobody gets ConflictingClaimsError listing both keys; lookup by key returns either', async () => {
    const impostorKey = impostor.identity?.publicKey as string
    const err = await eventually(async () => {
      try {
        await freshCaller.lookup(BOB, { signal: AbortSignal.timeout(10_000) })
        return undefined
      } catch (e) {
        return (e as Error).name === ConflictingClaimsError.name ? e as ConflictingClaimsError : undefined
      }
    }, { what: 'ConflictingClaimsError for the fresh caller' })
    assert.ok(err instanceof ConflictingClaimsError)
    assert.equal(err.message, `2 different keys claim ${BOB}`)
    const byKey = new Map(err.claims.map(c => [c.identityKey, c]))
    assert.equal(byKey.get(bobIdentity.publicKey)?.selfIssued, false)
    assert.equal(byKey.get(impostorKey)?.selfIssued, true)
    for (const c of err.claims) assert.equal(c.trust.level, 'unverified')
    assert.equal(byKey.get(bobIdentity.publicKey)?.record.certificate.issuer, toBase64Url(ca.publicKey))
    assertNoImpostorVerified(err.claims)
    assert.equal((await freshCaller.lookup(BOB, { identityKey: bobIdentity.publicKey })).devices[0]?.peerId, bob.peerId)
    assert.equal((await freshCaller.lookup(BOB, { identityKey: impostorKey })).devices[0]?.peerId, impostor.peerId)
    await assert.rejects(freshCaller.lookup(BOB, { identityKey: toBase64Url(generateIdentityKey().publicKey) }), { name: 'NotFoundError' })
  })

  it('each identity keeps publishing its own claim: Bob\'s republish merges only his own record', async () => {
    const before = await bob.lookup(BOB, { identityKey: bobIdentity.publicKey })
    const record = await bob.publish({ signal: AbortSignal.timeout(10_000) })
    assert.equal(record.certificate.key, bobIdentity.publicKey)
    assert.ok(record.seq > before.seq)
    assert.deepEqual(record.devices.map(d => d.peerId), [bob.peerId], 'no impostor device merged in')
    const r = await pinnedCaller.lookup(BOB)
    assert.equal(r.certificate.key, bobIdentity.publicKey)
  })
})

describe('replay rules per identity on the client (RosterBook)', () => {
  function record (subject: ReturnType<typeof generateIdentityKey>, rosterSeq: number, seq: number): LocationRecord {
    const certificate = issueIdentityCertificate({ email: BOB, subjectKey: subject.publicKey, issuer: subject })
    const roster = createDeviceRoster({ identity: subject, seq: rosterSeq, devices: [] })
    return createLocationRecord({ identity: subject, certificate, roster, devices: [], seq })
  }

  it('another identity\'s record is no replay; an older roster of the same identity is, also after a restart', async () => {
    const storage = memoryStorage()
    const book = new RosterBook({ storage })
    await book.start()
    const bobKey = generateIdentityKey()
    const other = generateIdentityKey()
    const now = Date.now()
    book.accept(record(bobKey, 2, now))
    // a different key with an older roster and a lower seq: its own claim, accepted
    book.accept(record(other, 1, now - 1_000))
    assert.throws(() => { book.accept(record(bobKey, 1, now + 1)) }, { name: 'StaleRecordError', message: /roster 1, older than roster 2/ })
    assert.throws(() => { book.accept(record(bobKey, 2, now - 1)) }, { name: 'StaleRecordError' })
    assert.equal(book.known(BOB, toBase64Url(bobKey.publicKey))?.roster?.seq, 2)
    assert.equal(book.known(BOB, toBase64Url(other.publicKey))?.roster?.seq, 1)
    await book.stop()
    const restarted = new RosterBook({ storage })
    await restarted.start()
    assert.throws(() => { restarted.accept(record(bobKey, 1, now + 2)) }, { name: 'StaleRecordError' })
    restarted.accept(record(other, 1, now))
    restarted.accept(record(bobKey, 3, now + 3))
  })
})
