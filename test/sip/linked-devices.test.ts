/**
 * Linked devices on the SIP side, with real supernode processes, real
 * libp2p devices and JsSIP user agents (Node has no WebRTC: the peer
 * connection is fake-webrtc.ts). Bob pairs a second device; a call to Bob
 * rings both; after Bob revokes it, calls ring only the first, and calls
 * and messages from the revoked device are refused with 403 "Device
 * revoked", also by a callee that never looked Bob up before.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { phone } from '../../shared/sip/index.ts'
import type { Call, CallEnd, PeerlineCall } from '../../shared/sip/index.ts'
import { spawnJoinedPair } from '../helpers/supernode-process.ts'
import { eventually } from '../helpers/eventually.ts'
import type { SupernodeProcess } from '../helpers/supernode-process.ts'
import { expectRejects } from '../helpers/assert.ts'
import { fakeMedia, installFakeWebRtc } from '../helpers/fake-webrtc.ts'
import { startBlankDevice } from '../helpers/overlay.ts'
import { collect, nextEvent, startPhoneDevice, stopDevice } from '../helpers/sip.ts'
import type { Device } from '../helpers/sip.ts'

installFakeWebRtc()

async function ended (call: Call, timeoutMs = 10_000): Promise<CallEnd> {
  if (call.end != null) return call.end
  return await nextEvent<CallEnd>(call, 'ended', { timeoutMs })
}

/** A second device for `primary`'s identity, linked by pairing, published, with a started phone. */
async function pairDevice (primary: Device, bootstrap: string[], name: string): Promise<Device> {
  const o = await startBlankDevice(bootstrap, {}, `${name} relay reservation`)
  const offer = await primary.overlay.createPairingOffer()
  const identity = await o.acceptPairing(offer, { name, signal: AbortSignal.timeout(15_000) })
  await o.publish({ signal: AbortSignal.timeout(10_000) })
  const p = phone({ identity }, { overlay: o, media: fakeMedia() })
  await p.start()
  return { overlay: o, phone: p, identity }
}

describe('linked devices: forking and revocation over SIP', { timeout: 240_000 }, () => {
  const supernodes: SupernodeProcess[] = []
  const devices: Device[] = []
  let alice: Device
  let bob: Device
  let bob2: Device

  before(async () => {
    const [sn1, sn2] = await spawnJoinedPair(supernodes)
    alice = await startPhoneDevice('alice@example.org', [sn1.addr], {}, fakeMedia())
    bob = await startPhoneDevice('bob@example.org', [sn2.addr], {}, fakeMedia())
    devices.push(alice, bob)
    bob2 = await pairDevice(bob, [sn1.addr], 'bob phone')
    devices.push(bob2)
    await eventually(async () => (await alice.overlay.lookup('bob@example.org')).devices.length === 2, { what: 'both of Bob\'s devices in his record' })
  })

  after(async () => {
    await Promise.all(devices.map(stopDevice))
    await Promise.all(supernodes.map(async s => s.kill('SIGKILL')))
  })

  it('a call to Bob rings both devices; the linked one is a verified Bob to others', async () => {
    const ring1 = nextEvent<PeerlineCall>(bob.phone, 'call:incoming')
    const ring2 = nextEvent<PeerlineCall>(bob2.phone, 'call:incoming')
    const call = await alice.phone.call('bob@example.org', { signal: AbortSignal.timeout(15_000) })
    const [c1, c2] = await Promise.all([ring1, ring2])
    assert.equal(c2.remote.aor, 'alice@example.org')
    c1.decline()
    assert.equal((await ended(call)).reason, 'declined')
    await ended(c2)
    // the linked device calls Alice as Bob
    const incoming = nextEvent<PeerlineCall>(alice.phone, 'call:incoming')
    const out = await bob2.phone.call('alice@example.org', { signal: AbortSignal.timeout(15_000) })
    const atAlice = await incoming
    assert.equal(atAlice.remote.aor, 'bob@example.org')
    assert.equal(atAlice.remote.authenticated, true)
    assert.equal(atAlice.remote.peerId, bob2.overlay.peerId)
    atAlice.decline()
    await ended(out)
  })

  it('after Bob revokes it: calls ring only the first device; its calls and messages get 403 Device revoked', async () => {
    await bob.overlay.revokeDevice(bob2.overlay.peerId, { signal: AbortSignal.timeout(15_000) })
    await eventually(async () => (await alice.overlay.lookup('bob@example.org')).devices.length === 1, { what: 'the record without the revoked device' })

    const rings2 = collect<PeerlineCall>(bob2.phone, 'call:incoming')
    const ring1 = nextEvent<PeerlineCall>(bob.phone, 'call:incoming')
    const call = await alice.phone.call('bob@example.org', { signal: AbortSignal.timeout(15_000) })
    const c1 = await ring1
    await new Promise(resolve => setTimeout(resolve, 1_500))
    assert.equal(rings2.items.length, 0, 'the revoked device did not ring')
    rings2.stop()
    c1.decline()
    await ended(call)

    // the revoked device calls Alice (who knows Bob's new roster): refused before it rings
    const aliceRings = collect<PeerlineCall>(alice.phone, 'call:incoming')
    const out = await bob2.phone.call('alice@example.org', { signal: AbortSignal.timeout(15_000) })
    const end = await ended(out, 15_000)
    assert.equal(end.status, 403, JSON.stringify(end))
    assert.match(end.message, /removed it from the linked devices/, 'the revoked device is told why')
    const err = await expectRejects(bob2.phone.sendMessage('alice@example.org', 'still me?'), 'MessageRejectedError')
    assert.match(err.message, /403 Device revoked/)
    assert.equal(aliceRings.items.length, 0, 'Alice\'s phone never rang')
    aliceRings.stop()
  })

  it('a callee who never looked Bob up looks him up and refuses the revoked device too', async () => {
    const carol = await startPhoneDevice('carol@example.org', [supernodes[1]?.addr as string], {}, fakeMedia())
    devices.push(carol)
    const carolRings = collect<PeerlineCall>(carol.phone, 'call:incoming')
    const out = await bob2.phone.call('carol@example.org', { signal: AbortSignal.timeout(15_000) })
    assert.equal((await ended(out, 15_000)).status, 403)
    assert.equal(carolRings.items.length, 0)
    // Bob's remaining device still reaches Carol
    const incoming = nextEvent<PeerlineCall>(carol.phone, 'call:incoming')
    const ok = await bob.phone.call('carol@example.org', { signal: AbortSignal.timeout(15_000) })
    assert.equal((await incoming).remote.authenticated, true)
    ok.hangup()
    carolRings.stop()
    // the revoked device finds out on its next publish
    await expectRejects(bob2.overlay.publish({ signal: AbortSignal.timeout(10_000) }), 'DeviceRevokedError')
  })
})
