/**
 * Pinned identity keys in the phone, end to end: real supernode processes,
 * real libp2p devices, real JsSIP user agents (media is the fake of
 * fake-webrtc.ts: only ringing is needed here). Bob pins Alice on first
 * contact; Alice's identity is then replaced by a new key for the same email:
 * Bob's calls and messages to her fail with KeyChangedError, hers to him are
 * flagged, until Bob accepts the new key.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { openTrustStore } from '../../shared/identity/index.ts'
import type { KeyChangedError, TrustStore } from '../../shared/identity/index.ts'
import { memoryStorage } from '../../shared/store/kv.ts'
import type { Call, IncomingMessage } from '../../shared/sip/index.ts'
import { spawnJoinedPair } from '../helpers/supernode-process.ts'
import { eventually } from '../helpers/eventually.ts'
import type { SupernodeProcess } from '../helpers/supernode-process.ts'
import { expectRejects } from '../helpers/assert.ts'
import { fakeMedia, installFakeWebRtc } from '../helpers/fake-webrtc.ts'
import { collect, nextEvent, startPhoneDevice, stopDevice } from '../helpers/sip.ts'
import type { Device } from '../helpers/sip.ts'

installFakeWebRtc()

describe('pinned identity keys (trust on first use) in calls and chat', { timeout: 240_000 }, () => {
  const supernodes: SupernodeProcess[] = []
  const devices: Device[] = []
  let alice: Device
  let alice2: Device
  let bob: Device
  let bobTrust: TrustStore

  before(async () => {
    const [sn1, sn2] = await spawnJoinedPair(supernodes)
    bobTrust = await openTrustStore(memoryStorage())
    alice = await startPhoneDevice('alice@example.org', [sn1.addr], { trust: await openTrustStore(memoryStorage()) }, fakeMedia())
    bob = await startPhoneDevice('bob@example.org', [sn2.addr], { trust: bobTrust }, fakeMedia())
    devices.push(alice, bob)
  })

  after(async () => {
    await Promise.all(devices.map(stopDevice))
    await Promise.all(supernodes.map(async s => s.kill('SIGKILL')))
  })

  it('first contact pins the key, both ways', async () => {
    assert.equal(bobTrust.check('alice@example.org', alice.identity.publicKey).status, 'new')
    const got = nextEvent<IncomingMessage>(alice.phone, 'message:incoming')
    await bob.phone.sendMessage('alice@example.org', 'hello', { signal: AbortSignal.timeout(15_000) })
    const m = await got
    assert.equal(m.from.trust, 'new')
    assert.equal(m.from.identityKey, bob.identity.publicKey)
    // signatures check out, but a self-issued first contact is judged unverified (before the pin)
    assert.equal(m.from.authenticated, true)
    assert.equal(m.from.issuer, bob.identity.publicKey)
    assert.equal(m.from.trustLevel?.level, 'unverified')
    await eventually(() => bobTrust.check('alice@example.org', alice.identity.publicKey).status === 'pinned', { what: 'Bob pins Alice' })
    const reply = nextEvent<IncomingMessage>(bob.phone, 'message:incoming')
    const sent = await alice.phone.sendMessage('bob@example.org', 'hi', { signal: AbortSignal.timeout(15_000) })
    assert.equal(sent.recipient?.identityKey, bob.identity.publicKey)
    const r = (await reply).from
    assert.equal(r.trust, 'pinned')
    // pinned during this phone's session: still a first contact, not a "known key"
    assert.equal(r.trustLevel?.level, 'unverified')
  })

  it('a verified mark shows on incoming calls', async () => {
    await bobTrust.markVerified('alice@example.org', alice.identity.publicKey)
    const incoming = nextEvent<Call>(bob.phone, 'call:incoming', { timeoutMs: 15_000 })
    const out = await alice.phone.call('bob@example.org', { signal: AbortSignal.timeout(15_000) })
    const ringing = await incoming
    assert.equal(ringing.remote.trust, 'verified')
    assert.equal(ringing.remote.authenticated, true)
    assert.equal(ringing.remote.trustLevel?.level, 'contact-verified')
    ringing.decline()
    await eventually(() => out.state === 'ended', { what: 'declined call ends' })
  })

  it('Alice\'s key is replaced: Bob cannot call or write until he accepts it; her calls are flagged', async () => {
    await stopDevice(alice)
    devices.splice(devices.indexOf(alice), 1)
    alice2 = await startPhoneDevice('alice@example.org', [supernodes[0]!.addr], {}, fakeMedia())
    devices.push(alice2)
    assert.notEqual(alice2.identity.publicKey, alice.identity.publicKey)

    const reached = collect<unknown>(alice2.phone, 'message:incoming')
    const rang = collect<Call>(alice2.phone, 'call:incoming')
    // the overlay may still return the old record for a moment; the new one wins once replicated
    const err = await eventually(async () => {
      try {
        await bob.phone.sendMessage('alice@example.org', 'are you there?', { signal: AbortSignal.timeout(15_000) })
        return undefined
      } catch (e) {
        return (e as Error).name === 'KeyChangedError' ? e as KeyChangedError : undefined
      }
    }, { timeoutMs: 30_000, what: 'KeyChangedError for the new key' }) as KeyChangedError
    assert.equal(err.aor, 'alice@example.org')
    assert.equal(err.previousKey, alice.identity.publicKey)
    assert.equal(err.newKey, alice2.identity.publicKey)
    assert.equal(err.message, "alice@example.org's security key changed")
    const callErr = await expectRejects(bob.phone.call('alice@example.org', { signal: AbortSignal.timeout(15_000) }), 'KeyChangedError')
    assert.equal((callErr as KeyChangedError).newKey, alice2.identity.publicKey)
    // the pin is unchanged, the verified mark stays with the old key
    assert.equal(bobTrust.check('alice@example.org', alice2.identity.publicKey).status, 'changed')
    assert.equal(bobTrust.check('alice@example.org', alice.identity.publicKey).status, 'verified')

    // incoming from the new key: delivered, but flagged
    const got = nextEvent<IncomingMessage>(bob.phone, 'message:incoming')
    await alice2.phone.sendMessage('bob@example.org', 'new phone, who dis', { signal: AbortSignal.timeout(15_000) })
    const m = await got
    assert.equal(m.from.authenticated, true)
    assert.equal(m.from.trust, 'changed')
    const incoming = nextEvent<Call>(bob.phone, 'call:incoming', { timeoutMs: 15_000 })
    const out = await alice2.phone.call('bob@example.org', { signal: AbortSignal.timeout(15_000) })
    const ringing = await incoming
    assert.equal(ringing.remote.trust, 'changed')
    assert.equal(ringing.remote.trustLevel?.level, 'key-changed')
    ringing.decline()
    await eventually(() => out.state === 'ended', { what: 'declined call ends' })
    // Bob's attempts sent nothing to Alice
    assert.equal(reached.items.length, 0)
    assert.equal(rang.items.length, 0)
    reached.stop()
    rang.stop()
  })

  it('after acceptNewKey, Bob reaches the new key, which is pinned (not verified)', async () => {
    await bobTrust.acceptNewKey('alice@example.org', alice2.identity.publicKey)
    const got = nextEvent<IncomingMessage>(alice2.phone, 'message:incoming')
    await bob.phone.sendMessage('alice@example.org', 'welcome back', { signal: AbortSignal.timeout(15_000) })
    assert.equal((await got).body, 'welcome back')
    const incoming = nextEvent<Call>(alice2.phone, 'call:incoming', { timeoutMs: 15_000 })
    const out = await bob.phone.call('alice@example.org', { signal: AbortSignal.timeout(15_000) })
    assert.equal(out.remote.trust, 'pinned')
    assert.equal(out.remote.identityKey, alice2.identity.publicKey)
    const ringing = await incoming
    ringing.decline()
    await eventually(() => out.state === 'ended', { what: 'declined call ends' })
    const back = nextEvent<IncomingMessage>(bob.phone, 'message:incoming')
    await alice2.phone.sendMessage('bob@example.org', 'thanks', { signal: AbortSignal.timeout(15_000) })
    assert.equal((await back).from.trust, 'pinned')
  })
})
