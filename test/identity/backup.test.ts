import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import {
  exportIdentity, fromBase64Url, identityKeyPair, identityStore, importIdentity, issueIdentityCertificate, generateIdentityKey,
  publicKeyFromPrivate, selfCertify, toBase64Url, verifyIdentityCertificate
} from '../../shared/identity/index.ts'
import type { StoredIdentity } from '../../shared/identity/index.ts'
import { memoryStorage } from '../../shared/store/index.ts'

const PASS = 'correct horse battery'

describe('identity backup', () => {
  let original: StoredIdentity
  let backup: string

  before(async () => {
    const store = identityStore(memoryStorage())
    original = await store.create({ email: 'Alice@Example.org', displayName: 'Alice' })
    backup = await store.exportBackup(PASS)
  })

  it('has the documented outer format and no plaintext secrets', () => {
    const parsed = JSON.parse(backup)
    assert.equal(parsed.format, 'peerline-identity-backup')
    assert.equal(parsed.v, 1)
    assert.deepEqual({ ...parsed.kdf, salt: undefined }, { name: 'scrypt', N: 2 ** 15, r: 8, p: 1, salt: undefined })
    assert.equal(parsed.cipher, 'xchacha20-poly1305')
    assert.equal(fromBase64Url(parsed.nonce).length, 24)
    assert.ok(!backup.includes(original.privateKey as string))
    assert.ok(!backup.includes('alice@example.org'))
  })

  it('restores the same identity into a fresh store', async () => {
    const target = identityStore(memoryStorage())
    const restored = await target.importBackup(backup, PASS)
    assert.deepEqual(restored, original)
    assert.deepEqual(await target.load(), original)
    const keys = identityKeyPair(restored)
    assert.equal(toBase64Url(keys.publicKey), original.publicKey)
    assert.equal(restored.email, 'alice@example.org')
  })

  it('wrong passphrase: BadPassphraseError, target store unchanged', async () => {
    const storage = memoryStorage()
    const target = identityStore(storage)
    await target.create({ email: 'bob@example.org', displayName: 'Bob' })
    const before = await storage.read()
    await assert.rejects(target.importBackup(backup, 'wrong passphrase'), { name: 'BadPassphraseError' })
    assert.equal(await storage.read(), before)

    const empty = memoryStorage()
    await assert.rejects(identityStore(empty).importBackup(backup, 'nope'), { name: 'BadPassphraseError' })
    assert.equal(await empty.read(), undefined)
  })

  it('refuses to overwrite a different identity unless replace is set', async () => {
    const storage = memoryStorage()
    const target = identityStore(storage)
    await target.create({ email: 'bob@example.org', displayName: 'Bob' })
    const before = await storage.read()
    await assert.rejects(target.importBackup(backup, PASS), { name: 'IdentityExistsError' })
    assert.equal(await storage.read(), before)
    assert.deepEqual(await target.importBackup(backup, PASS, { replace: true }), original)
    assert.deepEqual(await target.load(), original)
  })

  it('corrupt backups: MalformedBackupError', async () => {
    const parsed = JSON.parse(backup)
    const cases: unknown[] = [
      '', 'not json', '[]', 'null', JSON.stringify({ ...parsed, format: 'something-else' }), JSON.stringify({ ...parsed, v: 2 }),
      JSON.stringify({ ...parsed, cipher: 'aes' }), JSON.stringify({ ...parsed, kdf: undefined }),
      JSON.stringify({ ...parsed, kdf: { ...parsed.kdf, N: 2 ** 30 } }), JSON.stringify({ ...parsed, kdf: { ...parsed.kdf, N: 1000 } }),
      JSON.stringify({ ...parsed, nonce: undefined }), JSON.stringify({ ...parsed, nonce: 'AAAA' }), JSON.stringify({ ...parsed, ciphertext: '***' }),
      42
    ]
    for (const bad of cases) {
      await assert.rejects(importIdentity(bad as string, PASS), { name: 'MalformedBackupError' }, String(bad))
    }
  })

  it('a modified ciphertext fails authentication like a wrong passphrase', async () => {
    const parsed = JSON.parse(backup)
    const ct = fromBase64Url(parsed.ciphertext)
    ct[0]! ^= 1
    await assert.rejects(importIdentity(JSON.stringify({ ...parsed, ciphertext: toBase64Url(ct) }), PASS), { name: 'BadPassphraseError' })
  })

  it('rejects a well-encrypted but inconsistent identity', async () => {
    // exportIdentity validates first, so build the inconsistency around it: a key pair that does not match
    const other = generateIdentityKey()
    const broken = { ...original, publicKey: toBase64Url(other.publicKey) }
    await assert.rejects(exportIdentity(broken, PASS), { name: 'MalformedBackupError', message: /does not belong/ })
  })

  it('short passphrase on export: BadPassphraseError saying so', async () => {
    await assert.rejects(exportIdentity(original, 'short'), { name: 'BadPassphraseError', message: /at least 8/ })
  })

  it('keeps a CA-issued certificate and restores after expiry', async () => {
    const ca = generateIdentityKey()
    const keys = identityKeyPair(original)
    const cert = issueIdentityCertificate({ email: original.email, subjectKey: keys.publicKey, issuer: ca, now: 0, validForMs: 1000 })
    const identity = { ...original, certificate: cert }
    const restored = await importIdentity(await exportIdentity(identity, PASS), PASS)
    assert.deepEqual(restored.certificate, cert)
    assert.throws(() => verifyIdentityCertificate(restored.certificate, { trustedRoots: [ca.publicKey] }), { name: 'CertificateExpiredError' })
  })
})

describe('identity store', () => {
  it('create, load, loadOrCreate', async () => {
    const storage = memoryStorage()
    const store = identityStore(storage)
    assert.equal(await store.load(), undefined)
    const [a, b] = await Promise.all([
      store.loadOrCreate({ email: 'carol@example.org', displayName: ' Carol ' }),
      store.loadOrCreate({ email: 'carol@example.org', displayName: 'Carol' })
    ])
    assert.deepEqual(a, b)
    assert.equal(a.displayName, 'Carol')
    assert.deepEqual(publicKeyFromPrivate(fromBase64Url(a.privateKey as string)), fromBase64Url(a.publicKey))
    verifyIdentityCertificate(a.certificate, { email: 'carol@example.org' })
    assert.deepEqual(await identityStore(storage).load(), a)
    await assert.rejects(store.create({ email: 'carol@example.org', displayName: 'C' }), { name: 'IdentityExistsError' })
    await assert.rejects(store.loadOrCreate({ email: 'dave@example.org', displayName: 'D' }), { name: 'WrongEmailError' })
    await assert.rejects(identityStore(memoryStorage()).create({ email: 'nope', displayName: 'x' }), { name: 'InvalidAddressError' })
    assert.deepEqual(store.keyPair(a), identityKeyPair(a))
  })

  it('never overwrites corrupt stored data', async () => {
    for (const corrupt of ['{oops', '{"format":"peerline-identity","v":1,"identity":{"email":"x@example.org"}}', '"hello"', '{"format":"peerline-identity","v":9}']) {
      const storage = memoryStorage(corrupt)
      const store = identityStore(storage)
      await assert.rejects(store.load(), { name: 'MalformedBackupError' })
      await assert.rejects(store.create({ email: 'x@example.org', displayName: 'X' }), { name: 'MalformedBackupError' })
      await assert.rejects(store.loadOrCreate({ email: 'x@example.org', displayName: 'X' }), { name: 'MalformedBackupError' })
      assert.equal(await storage.read(), corrupt)
    }
  })

  it('replaceCertificate accepts a CA certificate for the same key and email only', async () => {
    const store = identityStore(memoryStorage())
    const me = await store.create({ email: 'erin@example.org', displayName: 'Erin' })
    const ca = generateIdentityKey()
    const keys = identityKeyPair(me)
    const caCert = issueIdentityCertificate({ email: me.email, subjectKey: keys.publicKey, issuer: ca })
    const updated = await store.replaceCertificate(caCert)
    assert.deepEqual(updated.certificate, caCert)
    assert.deepEqual((await store.load())?.certificate, caCert)

    const otherKey = generateIdentityKey()
    await assert.rejects(store.replaceCertificate(selfCertify(otherKey, me.email)), { name: 'MalformedCertificateError' })
    await assert.rejects(store.replaceCertificate(issueIdentityCertificate({ email: 'mallory@example.org', subjectKey: keys.publicKey, issuer: ca })), { name: 'WrongEmailError' })
    await assert.rejects(store.replaceCertificate(issueIdentityCertificate({ email: me.email, subjectKey: keys.publicKey, issuer: ca, now: 0, validForMs: 1 })), { name: 'CertificateExpiredError' })
    await assert.rejects(store.replaceCertificate({ ...caCert, notAfter: caCert.notAfter + 1 }), { name: 'BadSignatureError' })
    assert.deepEqual((await store.load())?.certificate, caCert)
    await assert.rejects(identityStore(memoryStorage()).replaceCertificate(caCert), { name: 'NoIdentityError' })
  })

  it('exportBackup without an identity: NoIdentityError', async () => {
    await assert.rejects(identityStore(memoryStorage()).exportBackup(PASS), { name: 'NoIdentityError' })
  })

  it('export honours an aborted signal', async () => {
    const store = identityStore(memoryStorage())
    await store.create({ email: 'f@example.org', displayName: 'F' })
    await assert.rejects(store.exportBackup(PASS, { signal: AbortSignal.abort() }), { name: 'AbortError' })
  })
})
