/**
 * Fault drill: many identities claim one address at a real supernode process
 * (200 by default: most self-issued, some from throwaway CAs, put by hostile
 * peers). The supernode keeps at most MAX_CLAIMS claims for the address, the
 * owner's CA-issued claim (published first) survives and keeps republishing,
 * a caller who trusts the owner's CA finds the owner, and the supernode's
 * memory stays bounded. Prints one line starting `drill claimants: `.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  createDeviceRoster, fromBase64Url, generateIdentityKey, issueIdentityCertificate, openTrustStore
} from '../../shared/identity/index.ts'
import type { IdentityKeyPair, StoredIdentity } from '../../shared/identity/index.ts'
import { createLocationRecord, encodeLocationRecord, locationKey, MAX_CA_CLAIMS, MAX_CLAIMS, MAX_SELF_ISSUED_CLAIMS } from '../../shared/overlay/index.ts'
import type { Overlay } from '../../shared/overlay/index.ts'
import { memoryStorage } from '../../shared/store/kv.ts'
import { newIdentity, startDevice, joinHostileClients } from '../helpers/overlay.ts'
import { spawnSupernode } from '../helpers/supernode-process.ts'
import type { SupernodeProcess } from '../helpers/supernode-process.ts'

const BOB = 'bob@example.org'
const CLAIMANTS = Number(process.env.PEERLINE_CLAIMANTS ?? 200)
/** one in ten claimants brings a certificate from its own throwaway CA */
const CA_EVERY = 10
const ATTACKERS = 4

function claimBy (subject: IdentityKeyPair, issuer: IdentityKeyPair): [Uint8Array, Uint8Array] {
  const certificate = issueIdentityCertificate({ email: BOB, subjectKey: subject.publicKey, issuer })
  const roster = createDeviceRoster({ identity: subject, seq: 1, devices: [] })
  const record = createLocationRecord({ identity: subject, certificate, roster, devices: [], seq: Date.now() })
  return [locationKey(BOB), encodeLocationRecord(record)]
}

describe('many identities claim one address', { timeout: 240_000 }, () => {
  let sn: SupernodeProcess
  const overlays: Overlay[] = []
  const ca = generateIdentityKey()
  let bobIdentity: StoredIdentity

  before(async () => {
    sn = await spawnSupernode({ nodeArgs: ['--expose-gc'] })
  })

  after(async () => {
    await Promise.all(overlays.map(async o => await o.stop().catch(() => {})))
    await sn?.kill()
  })

  it('storage stays at the bound, the CA-issued owner is kept and found, memory bounded', async () => {
    const plain = await newIdentity(BOB)
    bobIdentity = { ...plain, certificate: issueIdentityCertificate({ email: BOB, subjectKey: fromBase64Url(plain.publicKey), issuer: ca }) }
    const bob = await startDevice(BOB, [sn.addr], { identity: bobIdentity })
    overlays.push(bob)
    await bob.publish({ signal: AbortSignal.timeout(10_000) })
    const before = await sn.health({ gc: true })

    const attackers = await joinHostileClients(ATTACKERS, sn.addr)
    let offered = 0
    let selfIssued = 0
    await Promise.all(attackers.map(async (attacker, a) => {
      for (let i = a; i < CLAIMANTS; i += ATTACKERS) {
        const subject = generateIdentityKey()
        const byCa = i % CA_EVERY === 0
        if (!byCa) selfIssued++
        const [key, value] = claimBy(subject, byCa ? generateIdentityKey() : subject)
        for await (const _e of attacker.services.dht.put(key, value, { signal: AbortSignal.timeout(10_000) })) { /* drain */ }
        offered++
      }
    }))
    // the owner keeps republishing through the flood's aftermath: his slot is his
    const republished = await bob.publish({ signal: AbortSignal.timeout(10_000) })
    const after = await sn.health({ gc: true })
    await Promise.all(attackers.map(async a => await a.stop()))

    const trust = await openTrustStore(memoryStorage())
    await trust.addCa({ key: ca.publicKey, name: 'Example CA' })
    const caller = await startDevice('carol@example.org', [sn.addr], { trust })
    overlays.push(caller)
    const found = await caller.lookup(BOB, { signal: AbortSignal.timeout(10_000) })
    const claims = await caller.lookupClaims(BOB, { signal: AbortSignal.timeout(10_000) })
    const ownerFound = found.certificate.key === bobIdentity.publicKey && found.seq === republished.seq

    const heapDelta = after.memory.heapUsedMiB - before.memory.heapUsedMiB
    const rssDelta = after.memory.rssMiB - before.memory.rssMiB
    console.info(`drill claimants: ${offered} claims offered for ${BOB} (${selfIssued} self-issued, ${offered - selfIssued} from throwaway CAs) by ${ATTACKERS} peers, ` +
      `stored ${after.storedClaims as number} (bound ${MAX_CLAIMS} = ${MAX_CA_CLAIMS} CA-issued + ${MAX_SELF_ISSUED_CLAIMS} self-issued), evicted ${after.evictedClaims as number}, ` +
      `owner found by a CA-trusting caller: ${ownerFound ? 'yes' : 'no'} (${claims.length} claims listed), ` +
      `supernode heap ${before.memory.heapUsedMiB as number} -> ${after.memory.heapUsedMiB as number} MiB (${heapDelta >= 0 ? '+' : ''}${heapDelta}), rss ${before.memory.rssMiB as number} -> ${after.memory.rssMiB as number} MiB (${rssDelta >= 0 ? '+' : ''}${rssDelta})`)

    assert.equal(offered, CLAIMANTS)
    assert.ok(after.storedClaims <= MAX_CLAIMS, `stored ${after.storedClaims as number} claims`)
    assert.equal(after.storedRecords, 1, 'one address')
    assert.ok(after.evictedClaims >= CLAIMANTS + 1 - MAX_CLAIMS, `evicted ${after.evictedClaims as number}`)
    assert.ok(ownerFound, 'the owner\'s newest record is found')
    assert.equal(claims.find(c => c.identityKey === bobIdentity.publicKey)?.trust.level, 'ca-verified')
    assert.ok(claims.length <= MAX_CLAIMS)
    // a bounded store: a couple of hundred records at 16 KiB would be ~3 MiB; allow for V8 and connection noise
    assert.ok(heapDelta < 32, `heap grew by ${heapDelta} MiB`)
  })
})
