/**
 * Chat end to end: real supernode processes, real libp2p devices relayed
 * through them, real JsSIP user agents on Peerline's SIP transport.
 * Loopback only.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { generateIdentityKey, identityKeyPair, issueDeviceCertificate } from '../../shared/identity/index.ts'
import type { StoredIdentity } from '../../shared/identity/index.ts'
import { createLocationRecord, encodeLocationRecord, locationKey } from '../../shared/overlay/index.ts'
import type { Overlay } from '../../shared/overlay/index.ts'
import { encodeHello, encodeVarint } from '../../shared/sip/index.ts'
import type { IncomingMessage } from '../../shared/sip/index.ts'
import { newIdentity, startDevice } from '../helpers/overlay.ts'
import { spawnJoinedPair } from '../helpers/supernode-process.ts'
import { eventually } from '../helpers/eventually.ts'
import type { SupernodeProcess } from '../helpers/supernode-process.ts'
import { nextEvent, openRawSipStream, rawRequest, startPhoneDevice, stopDevice } from '../helpers/sip.ts'
import type { Device } from '../helpers/sip.ts'
import { expectRejects } from '../helpers/assert.ts'


describe('chat over the overlay (SIP MESSAGE)', { timeout: 180_000 }, () => {
  const supernodes: SupernodeProcess[] = []
  const devices: Device[] = []
  const extra: Overlay[] = []
  let alice: Device
  let bob: Device
  let mallory: Overlay
  let malloryId: StoredIdentity

  before(async () => {
    const [sn1, sn2] = await spawnJoinedPair(supernodes)
    // Alice and Bob hang off different supernodes: Alice reaches Bob through Bob's relay
    alice = await startPhoneDevice('alice@example.org', [sn1.addr])
    bob = await startPhoneDevice('bob@example.org', [sn2.addr])
    devices.push(alice, bob)
    // a hostile device: a real peer with a valid identity of its own, writing raw SIP streams
    malloryId = await newIdentity('mallory@example.org')
    mallory = await startDevice('mallory@example.org', [sn1.addr], { identity: malloryId })
    extra.push(mallory)
  })

  after(async () => {
    await Promise.all(devices.map(stopDevice))
    await Promise.all(extra.map(async o => o.stop().catch(() => {})))
    await Promise.all(supernodes.map(async s => s.kill('SIGKILL')))
  })

  it('Alice writes to bob@example.org; Bob gets it from a verified alice', async () => {
    const got = nextEvent<IncomingMessage>(bob.phone, 'message:incoming')
    const sent = await alice.phone.sendMessage('Bob@Example.org', 'hi Bob 👋', { signal: AbortSignal.timeout(15_000) })
    const msg = await got
    assert.equal(sent.to, 'bob@example.org')
    assert.equal(sent.deliveredTo, 1)
    assert.equal(msg.body, 'hi Bob 👋')
    assert.match(msg.contentType, /^text\/plain/)
    assert.equal(msg.from.aor, 'alice@example.org')
    assert.equal(msg.from.authenticated, true)
    assert.equal(msg.from.unverifiedReason, undefined)
    assert.equal(msg.from.peerId, alice.overlay.peerId)
    assert.equal(msg.id, sent.id, 'both sides name the message by its Call-ID')
  })

  it('Bob replies, and they go on both ways over the same streams', async () => {
    for (let i = 0; i < 3; i++) {
      const toAlice = nextEvent<IncomingMessage>(alice.phone, 'message:incoming')
      await bob.phone.sendMessage('sip:alice@example.org', `reply ${i}`)
      const m = await toAlice
      assert.equal(m.body, `reply ${i}`)
      assert.equal(m.from.aor, 'bob@example.org')
      assert.equal(m.from.authenticated, true)
      const toBob = nextEvent<IncomingMessage>(bob.phone, 'message:incoming')
      await alice.phone.sendMessage('bob@example.org', `again ${i}`)
      assert.equal((await toBob).body, `again ${i}`)
    }
    // one SIP stream per pair of devices, whoever opened it
    assert.ok(alice.phone.transport.linkCount(bob.overlay.peerId) >= 1)
    assert.ok(alice.phone.transport.linkCount(bob.overlay.peerId) <= 2)
  })

  it('an unknown address rejects with NotFoundError within 5 s; a malformed one at once', async () => {
    const t0 = Date.now()
    await expectRejects(alice.phone.sendMessage('nobody@example.org', 'hello?'), 'NotFoundError')
    assert.ok(Date.now() - t0 < 5_000, `took ${Date.now() - t0} ms`)
    await expectRejects(alice.phone.sendMessage('not an address', 'x'), 'InvalidAddressError')
    await expectRejects(alice.phone.call('bob@', {}), 'InvalidAddressError')
    await expectRejects(alice.phone.call('nobody@example.org', { signal: AbortSignal.timeout(5_000) }), 'NotFoundError')
    // the caller's own abort stays an AbortError (silent in the UI)
    await expectRejects(alice.phone.sendMessage('bob@example.org', 'x', { signal: AbortSignal.abort() }), 'AbortError')
    const ac = new AbortController()
    const pending = alice.phone.sendMessage('nobody@example.org', 'x', { signal: ac.signal })
    ac.abort()
    await expectRejects(pending, 'AbortError')
  })

  it('a message whose sender cannot prove the From address is shown unverified, with the reason', async () => {
    const bobAddr = 'bob@example.org'
    const cases: Array<{ hello?: Uint8Array, reason: string }> = [
      // Alice's identity certificate with a device certificate signed by another key
      {
        hello: encodeHello({
          identityCertificate: alice.identity.certificate,
          deviceCertificate: issueDeviceCertificate({ identity: generateIdentityKey(), peerId: mallory.peerId })
        }),
        reason: 'BadSignatureError'
      },
      // Alice's real certificates, replayed from another peer id
      { hello: encodeHello({ identityCertificate: alice.identity.certificate, deviceCertificate: alice.overlay.deviceEntry().certificate }), reason: 'WrongPeerError' },
      // a valid hello for mallory, claiming to be alice in From
      { hello: encodeHello({ identityCertificate: malloryId.certificate, deviceCertificate: mallory.deviceEntry().certificate }), reason: 'WrongEmailError' },
      // no hello at all
      { reason: 'NoCertificate' }
    ]
    for (const c of cases) {
      const raw = await openRawSipStream(mallory, bob.overlay)
      if (c.hello != null) raw.sendFrame(c.hello)
      const got = nextEvent<IncomingMessage>(bob.phone, 'message:incoming', { match: m => m.body === `forged ${c.reason}` })
      raw.sendFrame(rawRequest({ method: 'MESSAGE', uri: `sip:${bobAddr}`, from: 'alice@example.org', to: bobAddr, body: `forged ${c.reason}`, headers: ['Content-Type: text/plain'] }))
      const m = await got
      assert.equal(m.from.aor, 'alice@example.org', 'the claimed address is still shown')
      assert.equal(m.from.authenticated, false, c.reason)
      assert.equal(m.from.unverifiedReason, c.reason)
      assert.equal(m.from.peerId, mallory.peerId)
      await raw.waitFrame(f => f.startsWith('SIP/2.0 200'))
      await raw.stream.close().catch(() => {})
    }
  })

  it('garbage, a 100 KiB frame and malformed SIP never crash a device; the next message gets through', async () => {
    const bobAddr = 'bob@example.org'
    const hello = encodeHello({ identityCertificate: malloryId.certificate, deviceCertificate: mallory.deviceEntry().certificate })

    // malformed SIP on one stream: each answered or dropped, the stream stays usable
    const raw = await openRawSipStream(mallory, bob.overlay)
    raw.sendFrame(hello)
    raw.sendFrame(randomBytes(300))
    raw.sendFrame('NOT SIP AT ALL\r\n\r\n')
    raw.sendFrame('MESSAGE sip:bob@example.org SIP/2.0\r\nVia: broken\r\n\r\n')
    raw.sendFrame('\r\n\r\n')
    raw.sendFrame(new Uint8Array([0xff, 0xfe, 0xfd]))
    raw.sendFrame(rawRequest({ method: 'MESSAGE', uri: `sip:${bobAddr}`, from: 'mallory@example.org', to: bobAddr, body: 'short', contentLength: '5000' }))
    raw.sendFrame(rawRequest({ method: 'MESSAGE', uri: `sip:${bobAddr}`, from: 'mallory@example.org', to: bobAddr, body: 'x', contentLength: 'banana' }))
    raw.sendFrame(rawRequest({ method: 'FROBNICATE', uri: `sip:${bobAddr}`, from: 'mallory@example.org', to: bobAddr }))
    raw.sendFrame(rawRequest({ method: 'MESSAGE', uri: 'sip:carol@example.org', from: 'mallory@example.org', to: 'carol@example.org', body: 'not for bob' }))
    raw.sendFrame(rawRequest({ method: 'MESSAGE', uri: `sip:${bobAddr}`, from: 'mallory@example.org', to: bobAddr, headers: Array.from({ length: 400 }, (_, i) => `X-H${i}: ${i}`) }))
    await raw.waitFrame(f => f.startsWith('SIP/2.0 400') && /CSeq: 1 MESSAGE/.test(f))
    await raw.waitFrame(f => /^SIP\/2\.0 (405|501)/.test(f) && f.includes('FROBNICATE'))
    await raw.waitFrame(f => f.startsWith('SIP/2.0 404'))
    const after = nextEvent<IncomingMessage>(bob.phone, 'message:incoming', { match: m => m.body === 'still here' })
    raw.sendFrame(rawRequest({ method: 'MESSAGE', uri: `sip:${bobAddr}`, from: 'mallory@example.org', to: bobAddr, body: 'still here', headers: ['Content-Type: text/plain'] }))
    const m = await after
    assert.equal(m.from.authenticated, true, 'mallory is mallory')
    assert.equal(m.from.aor, 'mallory@example.org')
    assert.equal(raw.closed(), false)

    // a frame over the limit closes that stream, and only that stream
    const big = await openRawSipStream(mallory, bob.overlay)
    big.sendFrame(hello)
    big.sendFrame(new Uint8Array(100 * 1024).fill(0x41))
    await eventually(() => big.closed(), { what: 'the oversized stream to be closed' })
    // a length prefix that never ends
    const bad = await openRawSipStream(mallory, bob.overlay)
    bad.sendRaw(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))
    await eventually(() => bad.closed(), { what: 'the stream with a bad prefix to be closed' })

    // Bob is fine: Alice's next message arrives
    const ok = nextEvent<IncomingMessage>(bob.phone, 'message:incoming', { match: x => x.body === 'after the storm' })
    await alice.phone.sendMessage('bob@example.org', 'after the storm')
    assert.equal((await ok).from.authenticated, true)
    assert.ok(encodeVarint(300).byteLength === 2)
  })

  it('a message to an identity with two devices reaches both (forked), deliveredTo 2', async () => {
    // Bob's second device: same identity, another libp2p node; a record listing both
    const bob2 = await startPhoneDevice('bob@example.org', [supernodes[1]?.addr as string], { identity: bob.identity })
    devices.push(bob2)
    const key = identityKeyPair(bob.identity)
    const record = createLocationRecord({
      identity: key,
      certificate: bob.identity.certificate,
      devices: [bob.overlay.deviceEntry(), bob2.overlay.deviceEntry()],
      seq: Date.now() + 1_000
    })
    for await (const _ of bob.overlay.node.services.dht.put(locationKey('bob@example.org'), encodeLocationRecord(record), { signal: AbortSignal.timeout(10_000) })) { /* drain */ }
    await eventually(async () => (await alice.overlay.lookup('bob@example.org')).devices.length === 2, { what: 'the two-device record' })
    const on1 = nextEvent<IncomingMessage>(bob.phone, 'message:incoming', { match: m => m.body === 'to both' })
    const on2 = nextEvent<IncomingMessage>(bob2.phone, 'message:incoming', { match: m => m.body === 'to both' })
    const sent = await alice.phone.sendMessage('bob@example.org', 'to both')
    const [m1, m2] = await Promise.all([on1, on2])
    assert.equal(sent.deliveredTo, 2)
    assert.equal(m1.from.authenticated, true)
    assert.equal(m2.from.authenticated, true)
    assert.equal(m1.id, m2.id)
  })

  it('a stopped phone refuses to send, and a device that went away is reported, not waited for', async () => {
    const carol = await startPhoneDevice('carol@example.org', [supernodes[0]?.addr as string])
    await carol.phone.stop()
    await expectRejects(carol.phone.sendMessage('bob@example.org', 'x'), 'PhoneNotStartedError')
    // carol's record still lists her device, which is gone now
    await carol.overlay.stop()
    const t0 = Date.now()
    const err = await expectRejects(alice.phone.sendMessage('carol@example.org', 'are you there?'), 'CallFailedError')
    assert.ok(Date.now() - t0 < 16_000, `took ${Date.now() - t0} ms: ${err.message}`)
  })
})

