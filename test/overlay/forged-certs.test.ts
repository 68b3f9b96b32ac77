/**
 * Forged CA-issued certificates (a CA the user does not trust, another
 * address, expired) are refused where they arrive: in a DHT lookup (the
 * error names the rule) and in an incoming call or message (the hello's
 * verification reason is shown). Real supernode process, real devices and
 * phones, a hostile supernode serving hand-made records. Loopback only.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Libp2pRecord } from '@libp2p/record'
import { MemoryDatastore } from 'datastore-core/memory'
import { Key } from 'interface-datastore'
import { toString as u8ToString } from 'uint8arrays/to-string'
import {
  fingerprint, generateIdentityKey, issueDeviceCertificate, issueIdentityCertificate, signObject, toBase64Url
} from '../../shared/identity/index.ts'
import type { IdentityCertificate, IdentityKeyPair, StoredIdentity } from '../../shared/identity/index.ts'
import { createLocationRecord, encodeLocationRecord, locationKey } from '../../shared/overlay/index.ts'
import type { LocationRecord, Overlay } from '../../shared/overlay/index.ts'
import { encodeHello, phone } from '../../shared/sip/index.ts'
import type { Call, IncomingMessage, PeerlinePhone } from '../../shared/sip/index.ts'
import { startDevice, startHostilePeer } from '../helpers/overlay.ts'
import { spawnSupernode } from '../helpers/supernode-process.ts'
import { eventually } from '../helpers/eventually.ts'
import type { SupernodeProcess } from '../helpers/supernode-process.ts'
import { fakeMedia, installFakeWebRtc } from '../helpers/fake-webrtc.ts'
import { nextEvent, openRawSipStream, rawRequest, startPhoneDevice, stopDevice } from '../helpers/sip.ts'
import type { Device } from '../helpers/sip.ts'

installFakeWebRtc()

const YEAR_MS = 365 * 24 * 3600_000

/** A StoredIdentity whose certificate was made by hand (possibly by the wrong CA, or expired). */
function identityWith (email: string, keys: IdentityKeyPair, certificate: IdentityCertificate): StoredIdentity {
  return { email, displayName: email.split('@')[0] as string, publicKey: toBase64Url(keys.publicKey), privateKey: toBase64Url(keys.privateKey), certificate, createdAt: Date.now() }
}

describe('forged CA-issued certificates', { timeout: 240_000 }, () => {
  const trusted = generateIdentityKey()
  const rogue = generateIdentityKey()
  // only the CA keys matter for trust (clients hold trusted root keys, not CA certificates)
  const trust = { trustedRoots: [trusted.publicKey] }
  let sn: SupernodeProcess
  let bob: Device
  const overlays: Overlay[] = []
  const phones: PeerlinePhone[] = []

  before(async () => {
    sn = await spawnSupernode()
    bob = await startPhoneDevice('bob@example.org', [sn.addr], { verifyOptions: trust }, fakeMedia())
  })

  after(async () => {
    await Promise.all(phones.map(async p => p.stop().catch(() => {})))
    await Promise.all(overlays.map(async o => o.stop().catch(() => {})))
    await stopDevice(bob)
    await sn?.kill()
  })

  function certFor (email: string, subject: IdentityKeyPair, issuer: IdentityKeyPair, now = Date.now(), validForMs = YEAR_MS): IdentityCertificate {
    return issueIdentityCertificate({ email, subjectKey: subject.publicKey, issuer, now, validForMs })
  }

  it('a lookup refuses records whose certificate is from an untrusted CA, for another address, or expired, naming the rule', async () => {
    const store = new MemoryDatastore()
    const evil = await startHostilePeer('server', store)
    await evil.start()
    const serve = async (aor: string, bytes: Uint8Array): Promise<void> => {
      const key = locationKey(aor)
      await store.put(new Key(`/dht/record/${u8ToString(key, 'base32')}`, false), new Libp2pRecord(key, bytes, new Date()).serialize())
    }
    const carol = await startDevice('carol@example.org', [evil.getMultiaddrs()[0]?.toString() ?? ''], { recordOptions: { certificate: trust } })
    overlays.push(carol)
    try {
      const now = Date.now()
      const good = generateIdentityKey()
      const wrongCa = generateIdentityKey()
      const mallory = generateIdentityKey()
      const late = generateIdentityKey()
      const malloryCert = certFor('mallory@example.org', mallory, trusted)
      const { sig: _sig, ...victimBody } = createLocationRecord({ identity: mallory, certificate: malloryCert, devices: [], seq: now })
      const cases: Array<{ aor: string, bytes: Uint8Array, reason?: string, message?: RegExp }> = [
        // control: the same kind of record, from the trusted CA, is accepted
        { aor: 'good@example.org', bytes: encodeLocationRecord(createLocationRecord({ identity: good, certificate: certFor('good@example.org', good, trusted), devices: [], seq: now })) },
        {
          aor: 'wrongca@example.org',
          bytes: encodeLocationRecord(createLocationRecord({ identity: wrongCa, certificate: certFor('wrongca@example.org', wrongCa, rogue), devices: [], seq: now })),
          reason: 'UnknownIssuerError',
          message: new RegExp(`CA ${fingerprint(rogue.publicKey)}.*not trusted`)
        },
        {
          // mallory's genuine CA certificate, used to claim victim's address
          aor: 'victim@example.org',
          bytes: encodeLocationRecord(signObject(mallory.privateKey, { ...victimBody, aor: 'victim@example.org' }) as LocationRecord),
          reason: 'WrongEmailError',
          message: /mallory@example\.org, not victim@example\.org/
        },
        {
          aor: 'late@example.org',
          bytes: encodeLocationRecord(createLocationRecord({ identity: late, certificate: certFor('late@example.org', late, trusted, now - 2 * YEAR_MS), devices: [], seq: now })),
          reason: 'CertificateExpiredError',
          message: /expired on/
        }
      ]
      for (const c of cases) {
        await serve(c.aor, c.bytes)
        const lookup = carol.lookup(c.aor, { signal: AbortSignal.timeout(10_000) })
        if (c.reason === undefined) {
          assert.equal((await lookup).certificate.issuer, toBase64Url(trusted.publicKey))
        } else {
          await assert.rejects(lookup, { name: c.reason, ...(c.message !== undefined ? { message: c.message } : {}) })
        }
      }
    } finally {
      await evil.stop()
    }
  })

  it('a real supernode stores a certificate from any CA, but refuses an expired one', async () => {
    const keys = generateIdentityKey()
    const rogueIdentity = identityWith('rogue@example.org', keys, certFor('rogue@example.org', keys, rogue))
    const publisher = await startDevice('rogue@example.org', [sn.addr], { identity: rogueIdentity })
    overlays.push(publisher)
    await publisher.publish()
    const dave = await startDevice('dave@example.org', [sn.addr], { recordOptions: { certificate: trust } })
    overlays.push(dave)
    await assert.rejects(dave.lookup('rogue@example.org'), { name: 'UnknownIssuerError' })
    // a client trusting the rogue CA finds the same record
    const erin = await startDevice('erin@example.org', [sn.addr], { recordOptions: { certificate: { trustedRoots: [rogue.publicKey] } } })
    overlays.push(erin)
    assert.equal((await erin.lookup('rogue@example.org')).certificate.issuer, toBase64Url(rogue.publicKey))

    const lateKeys = generateIdentityKey()
    const lateIdentity = identityWith('late@example.org', lateKeys, certFor('late@example.org', lateKeys, trusted, Date.now() - 2 * YEAR_MS))
    const late = await startDevice('late@example.org', [sn.addr], { identity: lateIdentity })
    overlays.push(late)
    // kad-dht does not report a remote refusal to the publisher, so look at the supernode and the DHT
    await late.publish({ signal: AbortSignal.timeout(10_000) }).catch(() => {})
    await eventually(async () => ((await sn.health()).rejectedRecords.CertificateExpiredError ?? 0) >= 1, { what: 'the supernode to count the refused record' })
    await assert.rejects(erin.lookup('late@example.org', { signal: AbortSignal.timeout(10_000) }), { name: 'NotFoundError' })
  })

  async function caller (identity: StoredIdentity): Promise<PeerlinePhone> {
    const o = await startDevice(identity.email, [sn.addr], { identity })
    overlays.push(o)
    const p = phone({ identity }, { overlay: o, media: fakeMedia() })
    await p.start()
    phones.push(p)
    return p
  }

  it('an incoming call shows why the caller is not verified: untrusted CA, expired certificate', async () => {
    const okKeys = generateIdentityKey()
    const rogueKeys = generateIdentityKey()
    const lateKeys = generateIdentityKey()
    const cases = [
      { identity: identityWith('trusted@example.org', okKeys, certFor('trusted@example.org', okKeys, trusted)), reason: undefined },
      { identity: identityWith('rogue2@example.org', rogueKeys, certFor('rogue2@example.org', rogueKeys, rogue)), reason: 'UnknownIssuerError' },
      { identity: identityWith('late2@example.org', lateKeys, certFor('late2@example.org', lateKeys, trusted, Date.now() - 2 * YEAR_MS)), reason: 'CertificateExpiredError' }
    ]
    for (const c of cases) {
      const p = await caller(c.identity)
      const incoming = nextEvent<Call>(bob.phone, 'call:incoming', { timeoutMs: 20_000, match: call => call.remote.aor === c.identity.email })
      const outgoing = await p.call('bob@example.org', { signal: AbortSignal.timeout(20_000) })
      const ringing = await incoming
      assert.equal(ringing.remote.authenticated, c.reason === undefined, c.identity.email)
      assert.equal(ringing.remote.unverifiedReason, c.reason)
      ringing.decline()
      await eventually(() => outgoing.state === 'ended', { what: 'the declined call to end' })
    }
  })

  it('a message from a device holding a CA certificate for another address is shown unverified (WrongEmailError)', async () => {
    const malloryKeys = generateIdentityKey()
    const mallory = await startDevice('mallory@example.org', [sn.addr])
    overlays.push(mallory)
    const raw = await openRawSipStream(mallory, bob.overlay)
    raw.sendFrame(encodeHello({
      identityCertificate: certFor('mallory@example.org', malloryKeys, trusted),
      deviceCertificate: issueDeviceCertificate({ identity: malloryKeys, peerId: mallory.peerId })
    }))
    const got = nextEvent<IncomingMessage>(bob.phone, 'message:incoming', { match: m => m.body === 'forged from victim' })
    raw.sendFrame(rawRequest({ method: 'MESSAGE', uri: 'sip:bob@example.org', from: 'victim@example.org', to: 'bob@example.org', body: 'forged from victim', headers: ['Content-Type: text/plain'] }))
    const m = await got
    assert.equal(m.from.authenticated, false)
    assert.equal(m.from.unverifiedReason, 'WrongEmailError')
    await raw.stream.close().catch(() => {})
  })
})
