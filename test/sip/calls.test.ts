/**
 * Calls end to end on the SIP side: real supernode processes, real libp2p
 * devices relayed through them, real JsSIP user agents on Peerline's SIP
 * transport, forking to several devices. Node has no WebRTC, so the peer
 * connection is the fake of fake-webrtc.ts (real SDP, no media); real media
 * is covered by the browser end-to-end tests. Loopback only.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { identityKeyPair } from '../../shared/identity/index.ts'
import { createLocationRecord, encodeLocationRecord, locationKey } from '../../shared/overlay/index.ts'
import { ICE_GATHERING_TIMEOUT_MS } from '../../shared/sip/index.ts'
import type { Call, CallEnd, CallState, PeerlineCall } from '../../shared/sip/index.ts'
import { spawnJoinedPair } from '../helpers/supernode-process.ts'
import { eventually } from '../helpers/eventually.ts'
import type { SupernodeProcess } from '../helpers/supernode-process.ts'
import { FAKE_GATHERING_COMPLETE_MS, fakeMedia, FakeRTCPeerConnection, installFakeWebRtc } from '../helpers/fake-webrtc.ts'
import type { FakeMediaStream } from '../helpers/fake-webrtc.ts'
import { nextEvent, startPhoneDevice, stopDevice } from '../helpers/sip.ts'
import type { Device } from '../helpers/sip.ts'
import { expectRejects } from '../helpers/assert.ts'

installFakeWebRtc()

async function waitState (call: Call, state: CallState, timeoutMs = 10_000): Promise<void> {
  if (call.state === state) return
  await nextEvent<CallState>(call, 'state', { timeoutMs, match: s => s === state })
}

async function ended (call: Call, timeoutMs = 10_000): Promise<CallEnd> {
  if (call.end != null) return call.end
  return await nextEvent<CallEnd>(call, 'ended', { timeoutMs })
}


describe('calls over the overlay (SIP INVITE, forking)', { timeout: 240_000 }, () => {
  const supernodes: SupernodeProcess[] = []
  const devices: Device[] = []
  let alice: Device
  let bob: Device
  const aliceMedia = fakeMedia()
  const bobMedia = fakeMedia()

  before(async () => {
    const [sn1, sn2] = await spawnJoinedPair(supernodes)
    alice = await startPhoneDevice('alice@example.org', [sn1.addr], {}, aliceMedia)
    bob = await startPhoneDevice('bob@example.org', [sn2.addr], {}, bobMedia)
    devices.push(alice, bob)
  })

  after(async () => {
    await Promise.all(devices.map(stopDevice))
    await Promise.all(supernodes.map(async s => s.kill('SIGKILL')))
  })

  it('Alice calls Bob: it rings with a verified caller, Bob answers, media controls work, Alice hangs up', async () => {
    const incoming = nextEvent<PeerlineCall>(bob.phone, 'call:incoming')
    const outgoing = await alice.phone.call('bob@example.org', { signal: AbortSignal.timeout(15_000) })
    assert.equal(outgoing.direction, 'outgoing')
    assert.ok(outgoing.state === 'calling' || outgoing.state === 'ringing')
    assert.ok(outgoing.timings.lookupMs != null && outgoing.timings.lookupMs >= 0)
    assert.ok(outgoing.timings.connectMs != null && outgoing.timings.connectMs >= 0)
    assert.deepEqual(aliceMedia.requests.at(-1), { audio: true, video: false })

    const bobCall = await incoming
    assert.equal(bobCall.state, 'incoming')
    assert.equal(bobCall.remote.aor, 'alice@example.org')
    assert.equal(bobCall.remote.authenticated, true)
    assert.equal(bobCall.remote.peerId, alice.overlay.peerId)
    assert.deepEqual(bob.phone.calls().map(c => c.id), [bobCall.id])
    await waitState(outgoing, 'ringing')
    // ICE gathering never completes in the fake within the test; the bound sent the INVITE anyway
    const ice = outgoing.timings.iceMs as number
    assert.ok(ice >= ICE_GATHERING_TIMEOUT_MS - 50 && ice < FAKE_GATHERING_COMPLETE_MS, `iceMs ${ice}`)

    const aliceRemote = nextEvent<MediaStream>(outgoing, 'remote-stream')
    await bobCall.answer()
    assert.equal(bobCall.state, 'active')
    await waitState(outgoing, 'active')
    await aliceRemote
    assert.ok(outgoing.remoteStream != null)
    assert.ok(outgoing.answeredAt != null && outgoing.duration() >= 0)
    assert.ok(outgoing.timings.sipMs != null && outgoing.timings.sipMs > 0)
    assert.equal(outgoing.remote.authenticated, true)
    assert.equal(outgoing.remote.peerId, bob.overlay.peerId)
    assert.ok(outgoing.peerConnection instanceof FakeRTCPeerConnection)
    assert.ok(bobCall.peerConnection instanceof FakeRTCPeerConnection)

    // mute toggles the microphone track
    const mutedEvt = nextEvent<boolean>(outgoing, 'muted')
    outgoing.setMuted(true)
    assert.equal(await mutedEvt, true)
    assert.equal((outgoing.localStream as unknown as FakeMediaStream).getAudioTracks()[0]?.enabled, false)
    outgoing.setMuted(false)
    assert.equal((outgoing.localStream as unknown as FakeMediaStream).getAudioTracks()[0]?.enabled, true)

    // DTMF goes into the audio RTP stream (RFC 4733) through the sender's RTCDTMFSender
    const dtmf = nextEvent<{ tone: string, direction: string }>(outgoing, 'dtmf')
    outgoing.sendDtmf('12#')
    assert.deepEqual(await dtmf, { tone: '1', direction: 'out' })
    assert.deepEqual((outgoing.peerConnection as unknown as FakeRTCPeerConnection).dtmfSent(), ['12#'])
    assert.throws(() => { outgoing.sendDtmf('x') }, RangeError)

    // hold and resume with re-INVITEs; Bob sees the remote hold
    await outgoing.setHeld(true)
    assert.equal(outgoing.state, 'held')
    assert.equal(outgoing.held, true)
    await waitState(bobCall, 'held')
    assert.equal(bobCall.remoteHeld, true)
    await assert.rejects(outgoing.setVideo(true), { name: 'InvalidStateError' })
    await outgoing.setHeld(false)
    assert.equal(outgoing.state, 'active')
    await waitState(bobCall, 'active')

    // video on and off, renegotiated
    const videoEvt = nextEvent<boolean>(outgoing, 'video')
    await outgoing.setVideo(true)
    assert.equal(await videoEvt, true)
    const alicePc = outgoing.peerConnection as unknown as FakeRTCPeerConnection
    assert.ok(alicePc.getSenders().some(s => s.track?.kind === 'video'))
    assert.match(alicePc.localDescription?.sdp ?? '', /m=video/)
    await eventually(() => /m=video/.test((bobCall.peerConnection as unknown as FakeRTCPeerConnection).remoteDescription?.sdp ?? ''), { what: 'Bob to get the video offer' })
    await outgoing.setVideo(false)
    assert.equal(outgoing.video, false)
    assert.ok(!alicePc.getSenders().some(s => s.track?.kind === 'video'))

    // Alice hangs up: both end, each with its own reason
    const bobEnd = ended(bobCall)
    outgoing.hangup()
    assert.equal((await ended(outgoing)).reason, 'hangup')
    assert.equal((await bobEnd).reason, 'remote-hangup')
    const d = outgoing.duration()
    assert.ok(d > 0)
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(outgoing.duration(), d, 'duration is frozen once ended')
    assert.equal(outgoing.state, 'ended')
    assert.deepEqual(alice.phone.calls(), [])
    assert.deepEqual(bob.phone.calls(), [])
    assert.ok((outgoing.localStream as unknown as FakeMediaStream).getTracks().every(t => t.readyState === 'ended'), 'microphone released')
    assert.throws(() => { outgoing.setMuted(true) }, { name: 'InvalidStateError' })
    await assert.rejects(bobCall.answer(), { name: 'InvalidStateError' })
  })

  it('Bob declines: Alice is told it was declined (603)', async () => {
    const incoming = nextEvent<PeerlineCall>(bob.phone, 'call:incoming')
    const call = await alice.phone.call('bob@example.org')
    const bobCall = await incoming
    assert.throws(() => { call.decline() }, { name: 'InvalidStateError' })
    bobCall.decline()
    const end = await ended(call)
    assert.equal(end.reason, 'declined')
    assert.equal(end.status, 603)
    assert.equal((await ended(bobCall)).reason, 'declined')
  })

  it('Alice gives up while it rings: Bob sees the caller hang up', async () => {
    const incoming = nextEvent<PeerlineCall>(bob.phone, 'call:incoming')
    const call = await alice.phone.call('bob@example.org')
    const bobCall = await incoming
    await waitState(call, 'ringing')
    call.hangup()
    assert.equal((await ended(call)).reason, 'cancelled')
    assert.equal((await ended(bobCall)).reason, 'remote-cancelled')
  })

  it('nobody answers: the call ends as no-answer and the callee stops ringing', async () => {
    const dave = await startPhoneDevice('dave@example.org', [supernodes[0]?.addr as string], { noAnswerTimeoutMs: 2_500 }, fakeMedia())
    devices.push(dave)
    const incoming = nextEvent<PeerlineCall>(bob.phone, 'call:incoming')
    const t0 = Date.now()
    const call = await dave.phone.call('bob@example.org')
    const bobCall = await incoming
    assert.equal(bobCall.remote.aor, 'dave@example.org')
    const end = await ended(call, 10_000)
    assert.equal(end.reason, 'no-answer')
    assert.ok(Date.now() - t0 >= 2_400, 'not before the timeout')
    assert.equal((await ended(bobCall)).reason, 'remote-cancelled')
  })

  it('calling nobody or a gone device fails fast and clearly', async () => {
    await expectRejects(alice.phone.call('nobody@example.org'), 'NotFoundError')
    await expectRejects(alice.phone.call('sip:'), 'InvalidAddressError')
    const ghost = await startPhoneDevice('ghost@example.org', [supernodes[0]?.addr as string], {}, fakeMedia())
    await ghost.phone.stop()
    await ghost.overlay.stop()
    const t0 = Date.now()
    await expectRejects(alice.phone.call('ghost@example.org'), 'CallFailedError')
    assert.ok(Date.now() - t0 < 16_000)
    assert.ok(aliceMedia.streams.at(-1)?.getTracks().every(t => t.readyState === 'ended'), 'the microphone opened for it was released')
  })

  describe('Bob has two devices', () => {
    let bob2: Device
    const bob2Media = fakeMedia()

    before(async () => {
      bob2 = await startPhoneDevice('bob@example.org', [supernodes[1]?.addr as string], { identity: bob.identity }, bob2Media)
      devices.push(bob2)
      const record = createLocationRecord({
        identity: identityKeyPair(bob.identity),
        certificate: bob.identity.certificate,
        devices: [bob.overlay.deviceEntry(), bob2.overlay.deviceEntry()],
        seq: Date.now() + 5_000
      })
      for await (const _ of bob.overlay.node.services.dht.put(locationKey('bob@example.org'), encodeLocationRecord(record), { signal: AbortSignal.timeout(10_000) })) { /* drain */ }
      await eventually(async () => (await alice.overlay.lookup('bob@example.org')).devices.length === 2, { what: 'the two-device record' })
    })

    it('both ring; the one that answers gets the call, the other stops: answered elsewhere', async () => {
      const ring1 = nextEvent<PeerlineCall>(bob.phone, 'call:incoming')
      const ring2 = nextEvent<PeerlineCall>(bob2.phone, 'call:incoming')
      const call = await alice.phone.call('bob@example.org')
      const [c1, c2] = await Promise.all([ring1, ring2])
      assert.equal(c1.remote.authenticated, true)
      assert.equal(c2.remote.authenticated, true)
      await c2.answer()
      await waitState(call, 'active')
      assert.equal(call.remote.peerId, bob2.overlay.peerId, 'Alice talks to the device that answered')
      const end1 = await ended(c1)
      assert.equal(end1.reason, 'answered-elsewhere')
      assert.equal(c2.state, 'active')
      // the call goes on with the second device, then Bob hangs up there
      await new Promise(resolve => setTimeout(resolve, 300))
      assert.equal(call.state, 'active')
      c2.hangup()
      assert.equal((await ended(call)).reason, 'remote-hangup')
    })

    it('one device declines: the other stops ringing too, and Alice hears declined', async () => {
      const ring1 = nextEvent<PeerlineCall>(bob.phone, 'call:incoming')
      const ring2 = nextEvent<PeerlineCall>(bob2.phone, 'call:incoming')
      const call = await alice.phone.call('bob@example.org')
      const [c1, c2] = await Promise.all([ring1, ring2])
      c1.decline()
      assert.equal((await ended(call)).reason, 'declined')
      const end2 = await ended(c2)
      assert.equal(end2.reason, 'declined')
      assert.match(end2.message, /another device/)
    })

    it('both answer at once: one wins, the other is hung up by the caller side', async () => {
      const ring1 = nextEvent<PeerlineCall>(bob.phone, 'call:incoming')
      const ring2 = nextEvent<PeerlineCall>(bob2.phone, 'call:incoming')
      const call = await alice.phone.call('bob@example.org')
      const [c1, c2] = await Promise.all([ring1, ring2])
      await Promise.allSettled([c1.answer(), c2.answer()])
      await waitState(call, 'active')
      const winner = call.remote.peerId === bob.overlay.peerId ? c1 : c2
      const loser = winner === c1 ? c2 : c1
      const loserEnd = await ended(loser)
      assert.ok(['remote-hangup', 'answered-elsewhere'].includes(loserEnd.reason), loserEnd.reason)
      await new Promise(resolve => setTimeout(resolve, 300))
      assert.equal(call.state, 'active', 'the real call survives the extra answer')
      assert.equal(winner.state, 'active')
      call.hangup()
      assert.equal((await ended(winner)).reason, 'remote-hangup')
    })

    it('stopping the phone mid-call hangs up properly', async () => {
      const ring1 = nextEvent<PeerlineCall>(bob.phone, 'call:incoming')
      const ring2 = nextEvent<PeerlineCall>(bob2.phone, 'call:incoming')
      const call = await alice.phone.call('bob@example.org')
      const [c1] = await Promise.all([ring1, ring2])
      await c1.answer()
      await waitState(call, 'active')
      await bob.phone.stop()
      assert.equal((await ended(call)).reason, 'remote-hangup')
      assert.equal(c1.state, 'ended')
    })
  })
})
