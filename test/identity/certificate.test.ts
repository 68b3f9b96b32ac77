import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  CLOCK_SKEW_MS, IDENTITY_CERT_VALIDITY_MS, MAX_CHAIN_LENGTH, generateIdentityKey, isSelfIssued, issueCaCertificate,
  issueIdentityCertificate, selfCertify, signObject, verifyCaCertificate, verifyIdentityCertificate
} from '../../shared/identity/index.ts'
import type { CaCertificate, IdentityKeyPair } from '../../shared/identity/index.ts'

const NOW = Date.UTC(2026, 0, 1)
const DAY = 24 * 60 * 60 * 1000

/** root -> intermediates[0] -> ... -> intermediates[n-1]; returns the last key and the chain. */
function caChain (depth: number): { root: IdentityKeyPair, issuer: IdentityKeyPair, chain: CaCertificate[] } {
  const root = generateIdentityKey()
  let parent = root
  const chain: CaCertificate[] = []
  for (let i = 0; i < depth; i++) {
    const child = generateIdentityKey()
    chain.push(issueCaCertificate({ name: `CA ${i}`, subjectKey: child.publicKey, issuer: parent, now: NOW }))
    parent = child
  }
  return { root, issuer: parent, chain }
}

describe('identity certificates', () => {
  it('self-certifies and verifies', () => {
    const keys = generateIdentityKey()
    const cert = selfCertify(keys, ' Bob@Example.org ', { now: NOW })
    assert.equal(cert.email, 'bob@example.org')
    assert.equal(cert.notAfter - cert.notBefore, IDENTITY_CERT_VALIDITY_MS)
    assert.equal(isSelfIssued(cert), true)
    const verified = verifyIdentityCertificate(JSON.parse(JSON.stringify(cert)), { email: 'sip:BOB@example.org', now: NOW + DAY })
    assert.deepEqual(verified, cert)
  })

  it('rejects a tampered field with BadSignatureError', () => {
    const keys = generateIdentityKey()
    const cert = selfCertify(keys, 'bob@example.org', { now: NOW })
    for (const tampered of [
      { ...cert, email: 'eve@example.org' },
      { ...cert, notAfter: cert.notAfter + 1 },
      { ...cert, key: selfCertify(generateIdentityKey(), 'x@example.org').key }
    ]) {
      assert.throws(() => verifyIdentityCertificate(tampered, { now: NOW }), { name: 'BadSignatureError' })
    }
  })

  it('rejects the wrong email', () => {
    const cert = selfCertify(generateIdentityKey(), 'bob@example.org', { now: NOW })
    assert.throws(() => verifyIdentityCertificate(cert, { email: 'alice@example.org', now: NOW }), (err: Error) => {
      assert.equal(err.name, 'WrongEmailError')
      assert.match(err.message, /bob@example\.org.*alice@example\.org/)
      return true
    })
  })

  it('rejects expired and not-yet-valid certificates, with skew tolerance', () => {
    const cert = selfCertify(generateIdentityKey(), 'bob@example.org', { now: NOW, validForMs: DAY })
    assert.throws(() => verifyIdentityCertificate(cert, { now: NOW + DAY + CLOCK_SKEW_MS + 1 }), { name: 'CertificateExpiredError', message: /expired/ })
    assert.throws(() => verifyIdentityCertificate(cert, { now: NOW - CLOCK_SKEW_MS - 1 }), { name: 'CertificateExpiredError', message: /not valid yet/ })
    verifyIdentityCertificate(cert, { now: NOW + DAY + CLOCK_SKEW_MS })
    verifyIdentityCertificate(cert, { now: NOW - CLOCK_SKEW_MS })
  })

  it('rejects self-issued certificates when allowSelfIssued is false', () => {
    const cert = selfCertify(generateIdentityKey(), 'bob@example.org', { now: NOW })
    assert.throws(() => verifyIdentityCertificate(cert, { now: NOW, allowSelfIssued: false }), { name: 'UnknownIssuerError' })
  })

  it('accepts a certificate issued directly by a trusted root', () => {
    const ca = generateIdentityKey()
    const user = generateIdentityKey()
    const cert = issueIdentityCertificate({ email: 'bob@example.org', subjectKey: user.publicKey, issuer: ca, now: NOW })
    assert.equal(isSelfIssued(cert), false)
    verifyIdentityCertificate(cert, { now: NOW, trustedRoots: [ca.publicKey], allowSelfIssued: false })
    assert.throws(() => verifyIdentityCertificate(cert, { now: NOW }), { name: 'UnknownIssuerError' })
    assert.throws(() => verifyIdentityCertificate(cert, { now: NOW, trustedRoots: [generateIdentityKey().publicKey] }), { name: 'UnknownIssuerError' })
  })

  it('accepts a chain of intermediates ending at a trusted root, in any order', () => {
    const { root, issuer, chain } = caChain(MAX_CHAIN_LENGTH)
    const user = generateIdentityKey()
    const cert = issueIdentityCertificate({ email: 'bob@example.org', subjectKey: user.publicKey, issuer, now: NOW })
    const options = { now: NOW, trustedRoots: [root.publicKey], allowSelfIssued: false }
    verifyIdentityCertificate(cert, { ...options, chain })
    verifyIdentityCertificate(cert, { ...options, chain: [...chain].reverse() })
    // the root's own self-signed certificate in the chain does no harm
    const rootCert = issueCaCertificate({ name: 'Root', subjectKey: root.publicKey, issuer: root, now: NOW })
    verifyIdentityCertificate(cert, { ...options, chain: [rootCert, ...chain] })
    assert.throws(() => verifyIdentityCertificate(cert, { ...options, chain: chain.slice(1) }), { name: 'UnknownIssuerError' })
    assert.throws(() => verifyIdentityCertificate(cert, { ...options, chain, trustedRoots: [] }), { name: 'UnknownIssuerError', message: /not trusted|no chain/ })
  })

  it('rejects a chain longer than MAX_CHAIN_LENGTH', () => {
    const { root, issuer, chain } = caChain(MAX_CHAIN_LENGTH + 1)
    const cert = issueIdentityCertificate({ email: 'bob@example.org', subjectKey: generateIdentityKey().publicKey, issuer, now: NOW })
    assert.throws(() => verifyIdentityCertificate(cert, { now: NOW, trustedRoots: [root.publicKey], chain }), { name: 'UnknownIssuerError', message: /longer than/ })
  })

  it('rejects a chain ending at an untrusted self-signed root', () => {
    const { root, issuer, chain } = caChain(1)
    const rootCert = issueCaCertificate({ name: 'Evil root', subjectKey: root.publicKey, issuer: root, now: NOW })
    const cert = issueIdentityCertificate({ email: 'bob@example.org', subjectKey: generateIdentityKey().publicKey, issuer, now: NOW })
    assert.throws(() => verifyIdentityCertificate(cert, { now: NOW, trustedRoots: [generateIdentityKey().publicKey], chain: [...chain, rootCert] }), { name: 'UnknownIssuerError', message: /Evil root/ })
  })

  it('checks each CA in the chain: signature, validity, kind', () => {
    const { root, issuer, chain } = caChain(2)
    const cert = issueIdentityCertificate({ email: 'bob@example.org', subjectKey: generateIdentityKey().publicKey, issuer, now: NOW })
    const options = { now: NOW, trustedRoots: [root.publicKey] }
    const [first, second] = chain as [CaCertificate, CaCertificate]
    assert.throws(() => verifyIdentityCertificate(cert, { ...options, chain: [first, { ...second, name: 'Renamed' }] }), { name: 'BadSignatureError' })
    const expired = { ...options, now: NOW + 10 * 365 * DAY }
    const longCert = issueIdentityCertificate({ email: 'bob@example.org', subjectKey: generateIdentityKey().publicKey, issuer, now: NOW, validForMs: 20 * 365 * DAY })
    assert.throws(() => verifyIdentityCertificate(longCert, { ...expired, chain }), { name: 'CertificateExpiredError', message: /CA certificate/ })
    // an identity certificate cannot stand in for a CA certificate
    const fakeCa = { ...selfCertify(issuer, 'ca@example.org', { now: NOW }) }
    assert.throws(() => verifyIdentityCertificate(cert, { ...options, chain: [fakeCa as unknown as CaCertificate] }), { name: 'MalformedCertificateError' })
    assert.equal(verifyCaCertificate(first, { now: NOW }).name, 'CA 0')
  })

  it('rejects malformed input', () => {
    const keys = generateIdentityKey()
    const cert = selfCertify(keys, 'bob@example.org', { now: NOW })
    const { email: _email, ...noEmail } = cert
    const resigned = (body: Record<string, unknown>): unknown => signObject(keys.privateKey, body)
    const { sig: _sig, ...body } = cert
    for (const bad of [
      null, undefined, 'cert', 42, [], [cert], noEmail,
      { ...cert, extra: 1 },
      { ...cert, v: 2 },
      { ...cert, kind: 'device' },
      { ...cert, key: 'not base64!' },
      { ...cert, key: cert.key.slice(0, 20) },
      { ...cert, sig: cert.sig.slice(0, 40) },
      { ...cert, notBefore: 'yesterday' },
      { ...cert, notAfter: 1.5 },
      resigned({ ...body, email: 'Bob@Example.org' }),
      resigned({ ...body, email: 'not an email' }),
      resigned({ ...body, notAfter: body.notBefore - 1 }),
      resigned({ ...body, notAfter: 1e300 })
    ]) {
      assert.throws(() => verifyIdentityCertificate(bad, { now: NOW }), { name: 'MalformedCertificateError' }, JSON.stringify(bad) ?? String(bad))
    }
  })

  it('issuing rejects bad input', () => {
    const keys = generateIdentityKey()
    assert.throws(() => selfCertify(keys, 'nope'), { name: 'InvalidAddressError' })
    assert.throws(() => selfCertify(keys, 'bob@example.org', { validForMs: 0 }), RangeError)
    assert.throws(() => issueIdentityCertificate({ email: 'bob@example.org', subjectKey: new Uint8Array(3), issuer: keys }), TypeError)
  })
})
