/**
 * Location record rules, one by one, without a network.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  createDeviceRoster, generateIdentityKey, issueDeviceCertificate, selfCertify, signObject, MAX_DEVICE_NAME_LENGTH, MAX_REVOKED_DEVICES
} from '../../shared/identity/index.ts'
import type { IdentityKeyPair } from '../../shared/identity/index.ts'
import {
  createLocationRecord, encodeLocationRecord, isNewer, locationKey, MAX_DEVICES, MAX_RECORD_BYTES,
  selectLocationRecord, validateLocationRecord, CLOCK_SKEW_MS, MAX_ADDRS_PER_DEVICE, RECORD_TTL_MS
} from '../../shared/overlay/index.ts'
import type { LocationRecord } from '../../shared/overlay/index.ts'
import { backoff } from '../../shared/util/backoff.ts'

const enc = (r: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(r))

async function device (identity: IdentityKeyPair): Promise<{ peerId: string, certificate: ReturnType<typeof issueDeviceCertificate>, addrs: string[] }> {
  const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  return { peerId, certificate: issueDeviceCertificate({ identity, peerId }), addrs: ['/ip4/127.0.0.1/tcp/1/ws/p2p/x/p2p-circuit'] }
}

function throwsNamed (fn: () => unknown, name: string): void {
  assert.throws(fn, (err: Error) => { assert.equal(err.name, name, err.message); return true })
}

describe('location records', () => {
  const alice = generateIdentityKey()
  const cert = selfCertify(alice, 'alice@example.org')

  it('a record made by its owner validates under its own key', async () => {
    const r = createLocationRecord({ identity: alice, certificate: cert, devices: [await device(alice)], seq: 1 })
    const ok = validateLocationRecord(locationKey('alice@example.org'), encodeLocationRecord(r))
    assert.equal(ok.aor, 'alice@example.org')
    assert.deepEqual(locationKey('SIP:Alice@EXAMPLE.org'), locationKey('alice@example.org'))
  })

  it('names each broken rule', async () => {
    const key = locationKey('alice@example.org')
    const good = createLocationRecord({ identity: alice, certificate: cert, devices: [], seq: 1 })
    const { sig: _sig, ...body } = good
    throwsNamed(() => validateLocationRecord(key, new Uint8Array(MAX_RECORD_BYTES + 1)), 'RecordTooLargeError')
    throwsNamed(() => validateLocationRecord(key, new TextEncoder().encode('{not json')), 'MalformedRecordError')
    throwsNamed(() => validateLocationRecord(key, enc({ ...good, v: 2 })), 'MalformedRecordError')
    throwsNamed(() => validateLocationRecord(key, enc({ ...good, seq: -1 })), 'MalformedRecordError')
    throwsNamed(() => validateLocationRecord(locationKey('bob@example.org'), encodeLocationRecord(good)), 'RecordKeyMismatchError')
    // a valid signature over a record claiming bob's address with alice's certificate
    const claim = signObject(alice.privateKey, { ...body, aor: 'bob@example.org' })
    throwsNamed(() => validateLocationRecord(locationKey('bob@example.org'), enc(claim)), 'WrongEmailError')
    // tampered after signing
    throwsNamed(() => validateLocationRecord(key, enc({ ...good, seq: 99 })), 'BadSignatureError')
    const old = createLocationRecord({ identity: alice, certificate: cert, devices: [], seq: 1, now: Date.now() - 3_600_000, ttlMs: 60_000 })
    throwsNamed(() => validateLocationRecord(key, encodeLocationRecord(old)), 'RecordExpiredError')
    const future = createLocationRecord({ identity: alice, certificate: cert, devices: [], seq: 1, now: Date.now() + 3_600_000 })
    throwsNamed(() => validateLocationRecord(key, encodeLocationRecord(future)), 'RecordExpiredError')
  })

  it('refuses devices whose certificate is for another peer or another identity', async () => {
    const key = locationKey('alice@example.org')
    const d = await device(alice)
    const other = await device(alice)
    const roster = createDeviceRoster({ identity: alice, seq: 1, devices: [d.certificate, other.certificate] })
    const swapped = createLocationRecord({ identity: alice, certificate: cert, roster, devices: [{ ...d, certificate: other.certificate }], seq: 1 })
    throwsNamed(() => validateLocationRecord(key, encodeLocationRecord(swapped)), 'WrongPeerError')
    const mallory = generateIdentityKey()
    const malloryDevice = await device(mallory)
    // alice's roster cannot list it, so the entry is not one of alice's devices
    const foreign = createLocationRecord({ identity: alice, certificate: cert, devices: [malloryDevice], seq: 1 })
    throwsNamed(() => validateLocationRecord(key, encodeLocationRecord(foreign)), 'DeviceNotInRosterError')
    throwsNamed(() => createDeviceRoster({ identity: alice, seq: 2, devices: [malloryDevice.certificate] }), 'BadSignatureError')
  })

  it('a record checked once is not trusted past its validity window', () => {
    const key = locationKey('alice@example.org')
    const bytes = encodeLocationRecord(createLocationRecord({ identity: alice, certificate: cert, devices: [], seq: 7, ttlMs: 60_000 }))
    assert.equal(validateLocationRecord(key, bytes).seq, 7)
    assert.equal(validateLocationRecord(key, bytes).seq, 7, 'the replica from the next supernode')
    throwsNamed(() => validateLocationRecord(key, bytes, { now: Date.now() + 3_600_000 }), 'RecordExpiredError')
    throwsNamed(() => validateLocationRecord(locationKey('bob@example.org'), bytes), 'RecordKeyMismatchError')
  })

  it('caps the device list', async () => {
    const key = locationKey('alice@example.org')
    const r = createLocationRecord({ identity: alice, certificate: cert, devices: [], seq: 1 })
    const { sig: _s, ...body } = r
    const many = signObject(alice.privateKey, { ...body, devices: Array.from({ length: MAX_DEVICES + 1 }, () => ({ peerId: 'x', addrs: [], certificate: {} })) })
    throwsNamed(() => validateLocationRecord(key, enc(many)), 'MalformedRecordError')
  })

  it('the selector prefers the valid record with the highest sequence number', () => {
    const key = locationKey('alice@example.org')
    const r = (seq: number): LocationRecord => createLocationRecord({ identity: alice, certificate: cert, devices: [], seq })
    const forged = { ...r(100), seq: 1000 }
    assert.equal(selectLocationRecord(key, [r(1), r(3), r(2)].map(encodeLocationRecord)), 1)
    assert.equal(selectLocationRecord(key, [enc(forged), encodeLocationRecord(r(5))]), 1)
    assert.equal(isNewer({ seq: 2, expiresAt: 0 }, { seq: 1, expiresAt: 9 }), true)
    assert.equal(isNewer({ seq: 1, expiresAt: 5 }, { seq: 1, expiresAt: 5 }), false)
  })
})

describe('records a linked device could abuse', () => {
  const alice = generateIdentityKey()
  const cert = selfCertify(alice, 'alice@example.org')
  const key = locationKey('alice@example.org')

  it('refuses a seq far ahead of the issue time and a lifetime beyond the record TTL', () => {
    const r = createLocationRecord({ identity: alice, certificate: cert, devices: [], seq: Date.now() })
    const { sig: _s, ...body } = r
    // seq = MAX_SAFE_INTEGER would make every later record of the address "older"
    throwsNamed(() => validateLocationRecord(key, enc(signObject(alice.privateKey, { ...body, seq: Number.MAX_SAFE_INTEGER }))), 'MalformedRecordError')
    throwsNamed(() => validateLocationRecord(key, enc(signObject(alice.privateKey, { ...body, seq: body.issuedAt + CLOCK_SKEW_MS + 1 }))), 'MalformedRecordError')
    assert.equal(validateLocationRecord(key, enc(signObject(alice.privateKey, { ...body, seq: body.issuedAt + CLOCK_SKEW_MS }))).seq, body.issuedAt + CLOCK_SKEW_MS)
    throwsNamed(() => validateLocationRecord(key, enc(signObject(alice.privateKey, { ...body, expiresAt: body.issuedAt + 365 * 24 * 3600_000 }))), 'MalformedRecordError')
    throwsNamed(() => validateLocationRecord(key, enc(signObject(alice.privateKey, { ...body, expiresAt: body.issuedAt + RECORD_TTL_MS + CLOCK_SKEW_MS + 1 }))), 'MalformedRecordError')
  })

  it('a record at the limits (8 devices × 8 addresses, full roster and revocations) is trimmed to fit, relay addresses kept', async () => {
    const devices = await Promise.all(Array.from({ length: MAX_DEVICES }, async () => await device(alice)))
    const revoked = await Promise.all(Array.from({ length: MAX_REVOKED_DEVICES }, async (_, i) => ({ peerId: (await device(alice)).peerId, name: `old device ${i} with a long name`.padEnd(MAX_DEVICE_NAME_LENGTH, '.'), revokedAt: Date.now() })))
    const roster = createDeviceRoster({ identity: alice, seq: 9, devices: devices.map(d => d.certificate), revoked })
    const now = Date.now()
    const entries = devices.map((d, i) => ({
      ...d,
      publishedAt: now - i * 1000,
      addrs: Array.from({ length: MAX_ADDRS_PER_DEVICE }, (_, j) => j === 0
        ? `/dns4/supernode-${i}.peerline.example.org/tcp/443/wss/p2p/${devices[0]?.peerId ?? ''}/p2p-circuit/p2p/${d.peerId}`
        : `/ip6/2001:db8:1234:5678:9abc:def0:1234:${j}/udp/4${j}001/webrtc-direct/certhash/uEiD${'x'.repeat(43)}/p2p/${d.peerId}`)
    }))
    const untrimmedBytes = JSON.stringify({ roster, devices: entries }).length
    assert.ok(untrimmedBytes > MAX_RECORD_BYTES, `the untrimmed content is ${untrimmedBytes} bytes`)
    const record = createLocationRecord({ identity: alice, certificate: cert, roster, devices: entries, seq: now, now })
    const bytes = encodeLocationRecord(record)
    assert.ok(bytes.byteLength <= MAX_RECORD_BYTES, `${bytes.byteLength} bytes`)
    const valid = validateLocationRecord(key, bytes)
    assert.equal(valid.devices[0]?.peerId, devices[0]?.peerId, 'the publishing device stays')
    for (const d of valid.devices) assert.match(d.addrs[0] ?? '', /p2p-circuit/, 'the relay address comes first and stays')
    // addresses go before devices: every device that fits keeps at least its relay address
    assert.ok(valid.devices.length >= 4, `${valid.devices.length} devices kept`)
  })
})

describe('reconnect back-off', () => {
  it('starts at 0.5 s, doubles, and caps at 5 min', () => {
    const b = backoff({ initialMs: 500, maxMs: 300_000, jitter: 0 })
    const delays = Array.from({ length: 12 }, () => b.next())
    assert.deepEqual(delays.slice(0, 5), [500, 1000, 2000, 4000, 8000])
    assert.equal(delays.at(-1), 300_000)
    assert.ok(delays.every(d => d <= 300_000))
    b.reset()
    assert.equal(b.next(), 500)
  })

  it('jitter stays within ±10 % by default', () => {
    const lo = backoff({ random: () => 0 })
    const hi = backoff({ random: () => 0.999 })
    assert.equal(lo.next(), 450)
    assert.ok(hi.next() <= 550)
  })
})
