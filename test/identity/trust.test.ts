import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  generateIdentityKey, issueCaCertificate, issueIdentityCertificate, openTrustStore, parseCaInput, toBase64Url,
  isVerifiedLevel, TrustStore, trustRank, verifyIdentityCertificate
} from '../../shared/identity/index.ts'
import type { TrustChange, TrustStorage } from '../../shared/identity/index.ts'
import { expectRejects } from '../helpers/assert.ts'
import { eventually } from '../helpers/eventually.ts'

/** A TrustStorage in memory that counts writes. */
function memory (initial?: string): TrustStorage & { value: string | undefined, writes: number } {
  const m = {
    value: initial,
    writes: 0,
    async read () { return m.value },
    async write (data: string) { m.value = data; m.writes++ }
  }
  return m
}

const key = (): string => toBase64Url(generateIdentityKey().publicKey)

describe('TrustStore: pins (trust on first use)', () => {
  it('new → pinned on first use → changed for another key; check() writes nothing', async () => {
    const storage = memory()
    const trust = await openTrustStore(storage)
    const k1 = key()
    const k2 = key()
    assert.deepEqual(trust.check('Alice@Example.org', k1), { status: 'new', key: k1 })
    assert.equal(storage.writes, 0)
    const before = await trust.pinOnFirstUse('alice@example.org', k1)
    assert.equal(before.status, 'new')
    assert.equal(storage.writes, 1)
    assert.equal(trust.check('alice@example.org', k1).status, 'pinned')
    // a second first use of another key does not replace the pin
    const again = await trust.pinOnFirstUse('alice@example.org', k2)
    assert.equal(again.status, 'changed')
    assert.equal(storage.writes, 1)
    assert.deepEqual(trust.check('alice@example.org', k2), { status: 'changed', key: k2, pinnedKey: k1 })
    assert.equal(storage.writes, 1)
  })

  it('acceptNewKey replaces the pin and clears the verified mark; markVerified is per key', async () => {
    const trust = await openTrustStore(memory())
    const k1 = key()
    const k2 = key()
    await trust.pinOnFirstUse('alice@example.org', k1)
    await trust.markVerified('alice@example.org', k1)
    assert.equal(trust.check('alice@example.org', k1).status, 'verified')
    const err = await expectRejects(trust.markVerified('alice@example.org', k2), 'KeyChangedError') as Error & { previousKey: string, newKey: string, aor: string }
    assert.equal(err.previousKey, k1)
    assert.equal(err.newKey, k2)
    assert.equal(err.aor, 'alice@example.org')
    assert.match(err.message, /alice@example\.org's security key changed/)
    const pin = await trust.acceptNewKey('alice@example.org', k2)
    assert.equal(pin.key, k2)
    assert.equal(pin.verifiedKey, undefined)
    assert.deepEqual(pin.previousKeys.map(p => p.key), [k1])
    assert.equal(trust.check('alice@example.org', k2).status, 'pinned')
    assert.equal(trust.check('alice@example.org', k1).status, 'changed')
    await trust.markVerified('alice@example.org', k2)
    assert.equal(trust.check('alice@example.org', k2).status, 'verified')
    await trust.clearVerified('alice@example.org')
    assert.equal(trust.check('alice@example.org', k2).status, 'pinned')
  })

  it('markVerified pins an unknown contact; keys as bytes or text are the same key', async () => {
    const trust = await openTrustStore(memory())
    const kp = generateIdentityKey()
    await trust.markVerified('bob@example.org', kp.publicKey)
    assert.equal(trust.check('bob@example.org', toBase64Url(kp.publicKey)).status, 'verified')
  })

  it('survives a reload (same storage), and a second store on it sees the other one\'s pins', async () => {
    const storage = memory()
    const a = await openTrustStore(storage)
    const b = await openTrustStore(storage)
    const k1 = key()
    const k2 = key()
    await a.pinOnFirstUse('alice@example.org', k1)
    await b.pinOnFirstUse('carol@example.org', k2)
    await b.markVerified('alice@example.org', k1)
    const c = await openTrustStore(storage)
    assert.equal(c.check('alice@example.org', k1).status, 'verified')
    assert.equal(c.check('carol@example.org', k2).status, 'pinned')
  })

  it('emits trust:change for changes only', async () => {
    const trust = await openTrustStore(memory())
    const seen: TrustChange[] = []
    trust.addEventListener('trust:change', e => { seen.push(e.detail) })
    const k1 = key()
    await trust.pinOnFirstUse('alice@example.org', k1)
    await trust.pinOnFirstUse('alice@example.org', k1)
    await trust.addCa({ key: key(), name: 'Example CA' })
    assert.deepEqual(seen, [{ kind: 'pin', aor: 'alice@example.org' }, { kind: 'ca' }])
  })

  it('calls that change nothing neither write nor emit', async () => {
    const storage = memory()
    const trust = await openTrustStore(storage)
    const caKey = key()
    const k1 = key()
    await trust.addCa({ key: caKey, name: 'Example CA' })
    await trust.pinOnFirstUse('alice@example.org', k1)
    const writes = storage.writes
    const seen: TrustChange[] = []
    trust.addEventListener('trust:change', e => { seen.push(e.detail) })
    // already trusted (even under another name), unknown CA, nothing verified, same key, nobody pinned
    assert.equal((await trust.addCa({ key: caKey, name: 'Other name' })).name, 'Example CA')
    assert.equal(await trust.removeCa(key()), false)
    await trust.clearVerified('alice@example.org')
    await trust.clearVerified('nobody@example.org')
    assert.equal((await trust.acceptNewKey('alice@example.org', k1)).key, k1)
    await trust.forget('nobody@example.org')
    await trust.pinOnFirstUse('alice@example.org', k1)
    assert.deepEqual(seen, [])
    assert.equal(storage.writes, writes)
    // and real changes still do both
    await trust.forget('alice@example.org')
    assert.deepEqual(seen, [{ kind: 'pin', aor: 'alice@example.org' }])
    assert.equal(storage.writes, writes + 1)
  })

  it('stores sharing a storage (tabs) do not lose each other\'s changes and see them without reloading', async () => {
    const storage = memory()
    const name = `peerline-trust-test-${Math.random()}`
    const a = await openTrustStore(storage, { shareAs: name })
    const b = await openTrustStore(storage, { shareAs: name })
    try {
      const seenByB: TrustChange[] = []
      b.addEventListener('trust:change', e => { seenByB.push(e.detail) })
      // concurrent read-modify-writes from both: the lock keeps every one
      const pins = Array.from({ length: 6 }, (_, i) => ({ aor: `user${i}@example.org`, key: key() }))
      await Promise.all(pins.map(async (p, i) => { await (i % 2 === 0 ? a : b).pinOnFirstUse(p.aor, p.key) }))
      const fresh = await openTrustStore(storage)
      for (const p of pins) assert.equal(fresh.check(p.aor, p.key).status, 'pinned', p.aor)
      // a's CA shows up in b (event + synchronous read) without b calling load()
      const caKey = key()
      await a.addCa({ key: caKey, name: 'Shared CA' })
      await eventually(() => b.trustedCas().some(c => c.key === caKey), { what: 'b to reload after a\'s change', timeoutMs: 5000 })
      await eventually(() => seenByB.some(c => c.kind === 'ca'), { what: 'b to emit a\'s change', timeoutMs: 5000 })
      for (const p of pins) assert.equal(b.check(p.aor, p.key).status, 'pinned', p.aor)
    } finally {
      a.close()
      b.close()
    }
  })

  it('refuses bad keys and addresses with clear errors', async () => {
    const trust = await openTrustStore(memory())
    assert.throws(() => trust.check('alice@example.org', 'not a key!'), TypeError)
    assert.throws(() => trust.check('alice@example.org', toBase64Url(new Uint8Array(31))), /32 bytes/)
    assert.throws(() => trust.check('nobody', key()), { name: 'InvalidAddressError' })
  })
})

describe('TrustStore: storage', () => {
  it('reports corrupt storage and never overwrites it (until reset)', async () => {
    for (const bad of ['{not json', '{"format":"other"}', '{"format":"peerline-trust","v":2,"cas":[],"pins":[]}',
      '{"format":"peerline-trust","v":1,"cas":[{"name":"x","key":"short","addedAt":1}],"pins":[]}']) {
      const storage = memory(bad)
      await expectRejects(openTrustStore(storage), 'MalformedTrustStoreError')
      const trust = new TrustStore(storage)
      await expectRejects(trust.load(), 'MalformedTrustStoreError')
      assert.throws(() => trust.check('alice@example.org', key()), { name: 'MalformedTrustStoreError' })
      await expectRejects(trust.pinOnFirstUse('alice@example.org', key()), 'MalformedTrustStoreError')
      await expectRejects(trust.addCa({ key: key(), name: 'CA' }), 'MalformedTrustStoreError')
      assert.equal(storage.value, bad)
      assert.equal(storage.writes, 0)
      await trust.reset()
      assert.deepEqual(trust.trustedCas(), [])
      assert.equal(trust.check('alice@example.org', key()).status, 'new')
    }
  })

  it('stores versioned JSON', async () => {
    const storage = memory()
    const trust = await openTrustStore(storage)
    await trust.pinOnFirstUse('alice@example.org', key())
    const stored = JSON.parse(storage.value ?? '') as { format: string, v: number }
    assert.equal(stored.format, 'peerline-trust')
    assert.equal(stored.v, 1)
  })
})

describe('TrustStore: certificate authorities', () => {
  it('starts with no trusted CA', async () => {
    const trust = await openTrustStore(memory())
    assert.deepEqual(trust.trustedCas(), [])
    assert.deepEqual(trust.trustedRootKeys(), [])
  })

  it('adds by certificate or by key + name, removes, and feeds certificate verification', async () => {
    const trust = await openTrustStore(memory())
    const ca = generateIdentityKey()
    const caCert = issueCaCertificate({ name: 'Example Mail CA', subjectKey: ca.publicKey, issuer: ca })
    const user = generateIdentityKey()
    const cert = issueIdentityCertificate({ email: 'alice@example.org', subjectKey: user.publicKey, issuer: ca })
    assert.throws(() => verifyIdentityCertificate(cert, { trustedRoots: trust.trustedRootKeys() }), { name: 'UnknownIssuerError' })
    const added = await trust.addCa(caCert)
    assert.equal(added.name, 'Example Mail CA')
    assert.equal(added.key, caCert.key)
    verifyIdentityCertificate(cert, { trustedRoots: trust.trustedRootKeys() })
    // the same key again changes nothing
    await trust.addCa({ key: caCert.key, name: 'Other name' })
    assert.equal(trust.trustedCas().length, 1)
    const other = key()
    await trust.addCa({ key: other, name: '  Second CA ' })
    assert.deepEqual(trust.trustedCas().map(c => c.name), ['Example Mail CA', 'Second CA'])
    assert.equal(await trust.removeCa(caCert.key), true)
    assert.equal(await trust.removeCa(caCert.key), false)
    assert.throws(() => verifyIdentityCertificate(cert, { trustedRoots: trust.trustedRootKeys() }), { name: 'UnknownIssuerError' })
  })

  it('refuses invalid CAs', async () => {
    const trust = await openTrustStore(memory())
    const ca = generateIdentityKey()
    const caCert = issueCaCertificate({ name: 'Example', subjectKey: ca.publicKey, issuer: ca })
    await expectRejects(trust.addCa({ ...caCert, name: 'Tampered' }), 'InvalidCaError')
    const expired = issueCaCertificate({ name: 'Old', subjectKey: ca.publicKey, issuer: ca, now: Date.UTC(2000, 0, 1), validForMs: 1000 })
    await expectRejects(trust.addCa(expired), 'InvalidCaError')
    await expectRejects(trust.addCa({ key: 'abc', name: 'Short key' }), 'InvalidCaError')
    await expectRejects(trust.addCa({ key: key(), name: '   ' }), 'InvalidCaError')
    await expectRejects(trust.addCa(null as never), 'InvalidCaError')
    assert.deepEqual(trust.trustedCas(), [])
  })

  it('parses pasted CA input', () => {
    const ca = generateIdentityKey()
    const caCert = issueCaCertificate({ name: 'Example', subjectKey: ca.publicKey, issuer: ca })
    assert.deepEqual(parseCaInput(JSON.stringify(caCert)), caCert)
    assert.deepEqual(parseCaInput(` ${caCert.key} `, 'Mine'), { key: caCert.key, name: 'Mine' })
    assert.deepEqual(parseCaInput(JSON.stringify({ key: caCert.key, name: 'N' })), { key: caCert.key, name: 'N' })
    assert.throws(() => parseCaInput(caCert.key), { name: 'InvalidCaError', message: /name/ })
    assert.throws(() => parseCaInput('{oops'), { name: 'InvalidCaError', message: /JSON/ })
    assert.throws(() => parseCaInput(''), { name: 'InvalidCaError' })
  })
})

describe('TrustStore.judge: the one trust vocabulary', () => {
  it('self-issued and never met is unverified; pinned is a known key; compared is a verified contact', async () => {
    const trust = await openTrustStore(memory())
    const bob = generateIdentityKey()
    const k = toBase64Url(bob.publicKey)
    const self = { key: k, issuer: k }
    assert.deepEqual(trust.judge('bob@example.org', self), { level: 'unverified', key: k })
    await trust.pinOnFirstUse('bob@example.org', k)
    const known = trust.judge('bob@example.org', self)
    assert.equal(known.level, 'known-key')
    assert.equal(isVerifiedLevel(known), false)
    const other = key()
    const changed = trust.judge('Bob@example.org', { key: other, issuer: other })
    assert.equal(changed.level, 'key-changed')
    assert.equal(trustRank(changed), 0)
    await trust.markVerified('bob@example.org', k)
    const compared = trust.judge('bob@example.org', self)
    assert.equal(compared.level, 'contact-verified')
    assert.equal(isVerifiedLevel(compared), true)
  })

  it('a CA-issued certificate is verified only by a CA this user trusts, directly or through a chain', async () => {
    const trust = await openTrustStore(memory())
    const root = generateIdentityKey()
    const intermediate = generateIdentityKey()
    const rootCert = issueCaCertificate({ name: 'Example Root', subjectKey: root.publicKey, issuer: root })
    const interCert = issueCaCertificate({ name: 'Example Mail CA', subjectKey: intermediate.publicKey, issuer: root })
    const k = key()
    const direct = { key: k, issuer: toBase64Url(root.publicKey) }
    const chained = { key: k, issuer: toBase64Url(intermediate.publicKey) }
    assert.equal(trust.judge('bob@example.org', direct).level, 'unverified')
    await trust.addCa(rootCert)
    const byCa = trust.judge('bob@example.org', direct)
    assert.deepEqual(byCa, { level: 'ca-verified', key: k, caName: 'Example Root', caKey: toBase64Url(root.publicKey) })
    assert.equal(trust.judge('bob@example.org', chained).level, 'unverified')
    assert.equal(trust.judge('bob@example.org', chained, { chain: [interCert] }).level, 'ca-verified')
    // a self-issued certificate never becomes CA-verified, whatever is trusted
    assert.equal(trust.judge('bob@example.org', { key: k, issuer: k }).level, 'unverified')
    assert.ok(trustRank(byCa) > trustRank({ level: 'known-key', key: k, since: 0 }))
  })
})
