import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  CLOCK_SKEW_MS, DEFAULT_DEVICE_NAME, DEVICE_CERT_VALIDITY_MS, generateIdentityKey, issueDeviceCertificate, toBase64Url,
  verifyDeviceCertificate
} from '../../shared/identity/index.ts'

const NOW = Date.UTC(2026, 0, 1)
const PEER = '12D3KooWGzBPHN2bTWo6xMf8VkhjYyF6KuhRgSVuh6tN5cy3RPTz'

describe('device certificates', () => {
  it('issues and verifies with the identity key as bytes or base64url', () => {
    const identity = generateIdentityKey()
    const cert = issueDeviceCertificate({ identity, peerId: PEER, name: ' Laptop ', now: NOW })
    assert.equal(cert.name, 'Laptop')
    assert.equal(cert.notAfter - cert.notBefore, DEVICE_CERT_VALIDITY_MS)
    const copy: unknown = JSON.parse(JSON.stringify(cert))
    assert.deepEqual(verifyDeviceCertificate(copy, { identityKey: identity.publicKey, peerId: PEER, now: NOW }), cert)
    assert.deepEqual(verifyDeviceCertificate(copy, { identityKey: toBase64Url(identity.publicKey), now: NOW }), cert)
    assert.equal(issueDeviceCertificate({ identity, peerId: PEER }).name, DEFAULT_DEVICE_NAME)
  })

  it('throws WrongPeerError for another peer', () => {
    const identity = generateIdentityKey()
    const cert = issueDeviceCertificate({ identity, peerId: PEER, now: NOW })
    assert.throws(() => verifyDeviceCertificate(cert, { identityKey: identity.publicKey, peerId: '12D3KooWOther', now: NOW }), { name: 'WrongPeerError' })
  })

  it('throws BadSignatureError for another identity or a tampered field', () => {
    const identity = generateIdentityKey()
    const other = generateIdentityKey()
    const cert = issueDeviceCertificate({ identity, peerId: PEER, now: NOW })
    assert.throws(() => verifyDeviceCertificate(cert, { identityKey: other.publicKey, now: NOW }), { name: 'BadSignatureError', message: /different identity/ })
    assert.throws(() => verifyDeviceCertificate({ ...cert, peerId: '12D3KooWOther' }, { identityKey: identity.publicKey, now: NOW }), { name: 'BadSignatureError' })
    // signed by `other` but claiming to be `identity`'s
    const forged = issueDeviceCertificate({ identity: { publicKey: identity.publicKey, privateKey: other.privateKey }, peerId: PEER, now: NOW })
    assert.throws(() => verifyDeviceCertificate(forged, { identityKey: identity.publicKey, now: NOW }), { name: 'BadSignatureError' })
  })

  it('throws CertificateExpiredError outside the validity window', () => {
    const identity = generateIdentityKey()
    const cert = issueDeviceCertificate({ identity, peerId: PEER, now: NOW, validForMs: 1000 })
    assert.throws(() => verifyDeviceCertificate(cert, { identityKey: identity.publicKey, now: NOW + 1000 + CLOCK_SKEW_MS + 1 }), { name: 'CertificateExpiredError', message: /expired/ })
    assert.throws(() => verifyDeviceCertificate(cert, { identityKey: identity.publicKey, now: NOW - CLOCK_SKEW_MS - 1 }), { name: 'CertificateExpiredError', message: /not valid yet/ })
  })

  it('rejects malformed input', () => {
    const identity = generateIdentityKey()
    const cert = issueDeviceCertificate({ identity, peerId: PEER, now: NOW })
    const { peerId: _p, ...noPeer } = cert
    for (const bad of [null, 'x', [], noPeer, { ...cert, kind: 'identity' }, { ...cert, v: 0 }, { ...cert, extra: true }, { ...cert, peerId: '' }, { ...cert, sig: 'AAAA' }, { ...cert, name: 'n'.repeat(500) }]) {
      assert.throws(() => verifyDeviceCertificate(bad, { identityKey: identity.publicKey, now: NOW }), { name: 'MalformedCertificateError' })
    }
    assert.throws(() => verifyDeviceCertificate(cert, { identityKey: 'short', now: NOW }), { name: 'EncodingError' })
    assert.throws(() => issueDeviceCertificate({ identity, peerId: '' }), TypeError)
  })
})
