/**
 * The email-verifying CA end to end: real supernode processes with --ca-key
 * and --smtp, a real SMTP server (smtp-server) on loopback receiving the
 * CA's mail, real in-process devices asking for, confirming, publishing and
 * looking up a CA-issued certificate.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { stat, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  CA_CODE_LINE_PREFIX, CA_PROTOCOL, MAX_CA_FRAME_BYTES, findCaCode, fingerprint, fromBase64Url, generateIdentityKey, identityKeyPair, identityStore,
  verifyIdentityCertificate
} from '../../shared/identity/index.ts'
import type { CaCertificate } from '../../shared/identity/index.ts'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { caInfo, confirmCertificate, findCas, requestCertificate } from '../../shared/overlay/index.ts'
import type { LocationRecord, Overlay } from '../../shared/overlay/index.ts'
import { memoryStorage } from '../../shared/store/kv.ts'
import { startDevice } from '../helpers/overlay.ts'
import { runCli, spawnSupernode } from '../helpers/supernode-process.ts'
import { eventually } from '../helpers/eventually.ts'
import type { SupernodeProcess } from '../helpers/supernode-process.ts'
import { closedPort, startSmtpServer } from '../helpers/smtp.ts'
import type { TestSmtpServer } from '../helpers/smtp.ts'

describe('email-verifying CA on a supernode', { timeout: 240_000 }, () => {
  let dir: string
  let smtp: TestSmtpServer
  let smtp2: TestSmtpServer
  let sn: SupernodeProcess
  let snShort: SupernodeProcess
  let snDown: SupernodeProcess
  let caCert: CaCertificate
  const devices: Overlay[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'peerline-ca-'))
    smtp = await startSmtpServer()
    smtp2 = await startSmtpServer()
    const common = ['--ca-from', 'Peerline CA <ca@example.test>']
    sn = await spawnSupernode({
      extraArgs: ['--ca-key', join(dir, 'ca', 'key.json'), '--ca-name', 'Test CA', '--smtp', `smtp://127.0.0.1:${smtp.port}`,
        '--ca-link-base', 'http://127.0.0.1:8080/', ...common]
    })
    // codes live 1 s here, for the expiry case
    snShort = await spawnSupernode({
      bootstrap: [sn.addr],
      extraArgs: ['--ca-key', join(dir, 'short.json'), '--ca-name', 'Short CA', '--smtp', `smtp://127.0.0.1:${smtp2.port}`, '--ca-code-ttl', '1', ...common]
    })
    snDown = await spawnSupernode({
      extraArgs: ['--ca-key', join(dir, 'down.json'), '--smtp', `smtp://127.0.0.1:${await closedPort()}`, ...common]
    })
    caCert = JSON.parse(await readFile(join(dir, 'ca', 'key.cert.json'), 'utf8'))
  })

  after(async () => {
    await Promise.all(devices.map(async d => d.stop().catch(() => {})))
    await Promise.all([sn, snShort, snDown].map(async s => s?.kill()))
    await smtp?.close()
    await smtp2?.close().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })

  async function device (email: string, bootstrap: string[], trusted: CaCertificate[] = []): Promise<Overlay> {
    const d = await startDevice(email, bootstrap, trusted.length > 0
      ? { recordOptions: { certificate: { trustedRoots: trusted.map(c => fromBase64Url(c.key)) } } }
      : {})
    devices.push(d)
    return d
  }

  /**
   * A fresh identity for `email`, on a device of its own attached to `ca`,
   * asks that supernode's CA for a certificate; returns the device, the
   * pending request and the code the CA mailed to `mail`.
   */
  async function requestCode (email: string, displayName: string, ca: SupernodeProcess, mail: TestSmtpServer): Promise<{ d: Overlay, pending: Awaited<ReturnType<typeof requestCertificate>>, code: string }> {
    const identity = await identityStore(memoryStorage()).create({ email, displayName })
    const d = await device(email, [ca.addr])
    const before = mail.mails.length
    const pending = await requestCertificate(d.node, { identity, peerId: ca.peerId })
    const code = findCaCode((await mail.mailFor(email, before)).raw) as string
    return { d, pending, code }
  }

  it('creates the CA key with mode 0600 and writes the certificate users trust', async () => {
    const key = await stat(join(dir, 'ca', 'key.json'))
    assert.equal(key.mode & 0o777, 0o600)
    assert.equal(caCert.kind, 'ca')
    assert.equal(caCert.name, 'Test CA')
    assert.equal(caCert.issuer, caCert.key)
    const health = await sn.health()
    assert.equal(health.ca.name, 'Test CA')
    assert.equal(health.ca.key, caCert.key)
  })

  it('verifies an address by mail; the certificate is published and found by a client that trusts the CA', async () => {
    const store = identityStore(memoryStorage())
    const identity = await store.create({ email: 'alice@example.org', displayName: 'Alice' })
    const alice = await startDevice('alice@example.org', [sn.addr], { identity })
    devices.push(alice)

    const found = await eventually(async () => (await findCas(alice.node, { supernodes: alice.supernodes() })).find(c => c.peerId === sn.peerId), { what: 'the CA via identify' })
    assert.equal(found?.ca.key, caCert.key)
    // only the given supernodes are asked: a connected peer that is not one of them is not a CA to this device
    assert.deepEqual(await findCas(alice.node, { supernodes: [] }), [])
    const info = await caInfo(alice.node, sn.peerId)
    assert.equal(info.ca.name, 'Test CA')

    const before = smtp.mails.length
    const pending = await requestCertificate(alice.node, { identity, peerId: sn.peerId, signal: AbortSignal.timeout(30_000) })
    assert.ok(pending.expiresAt > Date.now() + 10 * 60_000, 'codes live about 15 minutes')
    const mail = await smtp.mailFor('alice@example.org', before)
    assert.match(mail.raw, new RegExp(CA_CODE_LINE_PREFIX + '\\d{6}'))
    assert.match(mail.raw, /^From: Peerline CA <ca@example\.test>/m)
    const code = findCaCode(mail.raw)
    assert.ok(code !== undefined)
    assert.ok(mail.raw.includes(`http://127.0.0.1:8080/#/verify/${pending.requestId}/${code}`), mail.raw)

    const cert = await confirmCertificate(alice.node, { requestId: pending.requestId, code, peerId: sn.peerId, expectedCaKey: caCert.key })
    verifyIdentityCertificate(cert, { email: 'alice@example.org', trustedRoots: [fromBase64Url(caCert.key)], allowSelfIssued: false })
    assert.equal(cert.key, identity.publicKey)

    // a lost answer is not a lost certificate: the same code fetches the same one again
    assert.deepEqual(await confirmCertificate(alice.node, { requestId: pending.requestId, code, peerId: sn.peerId }), cert)

    const updated = await store.replaceCertificate(cert)
    await alice.publish()
    // the running overlay takes the new certificate and republishes by itself
    const republished = new Promise<LocationRecord>(resolve => {
      alice.addEventListener('record:published', e => { resolve(e.detail) }, { once: true })
    })
    alice.setIdentity(updated)
    const record = await Promise.race([republished, new Promise<never>((_resolve, reject) => setTimeout(() => { reject(new Error('no republish after setIdentity')) }, 15_000))])
    assert.equal(record.certificate.issuer, caCert.key)

    const bob = await device('bob@example.org', [snShort.addr], [caCert])
    const seen = await eventually(async () => {
      const r = await bob.lookup('alice@example.org')
      return r.certificate.issuer === caCert.key ? r : undefined
    }, { what: 'alice\'s CA-issued record via the DHT' })
    assert.equal(seen?.certificate.key, identity.publicKey)

    // a client that does not trust this CA refuses the record, naming the CA
    const carol = await device('carol@example.org', [sn.addr])
    await assert.rejects(carol.lookup('alice@example.org'), { name: 'UnknownIssuerError', message: new RegExp(fingerprint(fromBase64Url(caCert.key))) })

    const health = await sn.health()
    assert.ok(health.ca.issued >= 1)
    assert.ok(health.ca.mailsSent >= 1)
  })

  it('refuses wrong codes, then cancels after five', async () => {
    const { d: dave, pending, code } = await requestCode('dave@example.org', 'Dave', sn, smtp)
    const wrong = code === '000000' ? '111111' : '000000'
    await assert.rejects(confirmCertificate(dave.node, { requestId: pending.requestId, code: wrong, peerId: sn.peerId }), { name: 'WrongCodeError', message: /4 attempts left/ })
    await assert.rejects(confirmCertificate(dave.node, { requestId: pending.requestId, code: 'abc', peerId: sn.peerId }), { name: 'WrongCodeError', message: /3 attempts left/ })
    for (let i = 0; i < 2; i++) {
      await assert.rejects(confirmCertificate(dave.node, { requestId: pending.requestId, code: wrong, peerId: sn.peerId }), { name: 'WrongCodeError' })
    }
    await assert.rejects(confirmCertificate(dave.node, { requestId: pending.requestId, code: wrong, peerId: sn.peerId }), { name: 'TooManyAttemptsError' })
    // the right code no longer helps
    await assert.rejects(confirmCertificate(dave.node, { requestId: pending.requestId, code, peerId: sn.peerId }), { name: 'UnknownRequestError' })
  })

  it('limits mails per address', async () => {
    const identity = await identityStore(memoryStorage()).create({ email: 'erin@example.org', displayName: 'Erin' })
    const erin = await device('erin@example.org', [sn.addr])
    for (let i = 0; i < 3; i++) await requestCertificate(erin.node, { identity, peerId: sn.peerId })
    await assert.rejects(requestCertificate(erin.node, { identity, peerId: sn.peerId }), { name: 'CaRateLimitedError', message: /erin@example\.org/ })
    // another address from the same device is still served
    await requestCertificate(erin.node, { identity, email: 'erin.two@example.org', peerId: sn.peerId })
    assert.ok((await sn.health()).ca.rateLimited >= 1)
  })

  it('refuses a request not signed by the key it names', async () => {
    const d = await device('frank@example.org', [sn.addr])
    const real = generateIdentityKey()
    const other = generateIdentityKey()
    await assert.rejects(requestCertificate(d.node, { identity: { publicKey: real.publicKey, privateKey: other.privateKey }, email: 'frank@example.org', peerId: sn.peerId }), { name: 'BadProofError' })
    assert.ok((await sn.health()).ca.badProofs >= 1)
  })

  it('refuses an expired code', async () => {
    const { d: gina, pending, code } = await requestCode('gina@example.org', 'Gina', snShort, smtp2)
    await new Promise(resolve => setTimeout(resolve, Math.max(0, pending.expiresAt - Date.now()) + 300))
    await assert.rejects(confirmCertificate(gina.node, { requestId: pending.requestId, code, peerId: snShort.peerId }), { name: 'CodeExpiredError' })
  })

  it('says the mail could not be sent when the SMTP server is down', async () => {
    const identity = await identityStore(memoryStorage()).create({ email: 'hank@example.org', displayName: 'Hank' })
    const hank = await device('hank@example.org', [snDown.addr])
    const err = await requestCertificate(hank.node, { identity, peerId: snDown.peerId }).then(() => undefined, (e: Error) => e)
    assert.equal(err?.name, 'MailFailedError')
    assert.match(err?.message ?? '', /hank@example\.org/)
    // the mail server's answer stays in the operator's log
    assert.doesNotMatch(err?.message ?? '', /ECONNREFUSED/)
    await eventually(() => /mail to hank@example\.org failed: .*ECONNREFUSED/.test(snDown.stderr()), { what: 'the SMTP error in the supernode log', timeoutMs: 10_000 })
    assert.equal((await snDown.health()).ca.mailFailures, 1)
  })

  it('an oversized or garbage frame gets a named error, and the CA keeps serving', async () => {
    const d = await device('junk@example.org', [sn.addr])
    for (const payload of [new Uint8Array(64 * 1024).fill(0x7b), Uint8Array.of(0x7b, 0x7b)]) {
      const stream = await d.node.dialProtocol(peerIdFromString(sn.peerId), CA_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
      const lp = lpStream(stream, { maxDataLength: MAX_CA_FRAME_BYTES })
      try {
        await lp.write(payload, { signal: AbortSignal.timeout(5_000) })
        const answer = JSON.parse(new TextDecoder().decode((await lp.read({ signal: AbortSignal.timeout(5_000) })).subarray()))
        assert.equal(answer.error, 'MalformedCaMessageError')
      } catch (err) {
        if (err instanceof assert.AssertionError) throw err
        // a reset stream is an acceptable answer to 64 KiB of junk
        assert.ok(payload.byteLength > MAX_CA_FRAME_BYTES, (err as Error).message)
      }
      stream.abort(new Error('done'))
    }
    assert.equal((await caInfo(d.node, sn.peerId)).ca.key, caCert.key)
  })

  it('says so when the supernode runs no CA', async () => {
    const plain = await spawnSupernode()
    try {
      const d = await device('ivan@example.org', [plain.addr])
      const identity = await identityStore(memoryStorage()).create({ email: 'ivan@example.org', displayName: 'Ivan' })
      await assert.rejects(requestCertificate(d.node, { identity: identityKeyPair(identity), email: identity.email, peerId: plain.peerId }), { name: 'CaUnavailableError', message: /runs no certificate authority/ })
      await assert.rejects(caInfo(d.node, undefined, { supernodes: d.supernodes(), signal: AbortSignal.timeout(10_000) }), { name: 'CaUnavailableError' })
    } finally {
      await plain.kill()
    }
  })

  it('a restarted CA keeps its key (here in --ca-mail-log mode: the mail goes to the log)', async () => {
    const again = await spawnSupernode({ extraArgs: ['--ca-key', join(dir, 'ca', 'key.json'), '--ca-mail-log'] })
    try {
      const health = await again.health()
      assert.equal(health.ca.key, caCert.key)
      assert.equal(health.ca.name, 'Test CA', 'the name stays when --ca-name is not given')
      assert.equal(health.ca.mail, 'log')
      const identity = await identityStore(memoryStorage()).create({ email: 'log@example.org', displayName: 'Log' })
      const d = await device('log@example.org', [again.addr])
      await requestCertificate(d.node, { identity, peerId: again.peerId })
      const logged = await eventually(() => findCaCode(again.stderr().replace(/^ {2}\| /gm, '')), { what: 'the logged mail' })
      assert.match(logged ?? '', /^\d{6}$/)
      assert.match(again.stderr(), /To: {6}log@example\.org/)
    } finally {
      await again.kill()
    }
  })

  it('CLI: CA flags without a key, or a key without a way to send mail, are usage errors', async () => {
    const a = await runCli(['--listen', '/ip4/127.0.0.1/tcp/0/ws', '--health', 'off', '--smtp', 'smtp://127.0.0.1:25'])
    assert.equal(a.code, 2)
    assert.match(a.stderr, /--smtp needs --ca-key/)
    const b = await runCli(['--listen', '/ip4/127.0.0.1/tcp/0/ws', '--health', 'off', '--ca-key', join(dir, 'x.json')])
    assert.equal(b.code, 2)
    assert.match(b.stderr, /--ca-key needs --smtp/)
    const c = await runCli(['--listen', '/ip4/127.0.0.1/tcp/0/ws', '--health', 'off', '--ca-key', join(dir, 'y.json'), '--smtp', 'http://x', '--ca-from', 'a@b'])
    assert.equal(c.code, 2)
    assert.match(c.stderr, /must start with smtp:\/\//)
    // a password given on the command line is warned about and never echoed
    const d = await runCli(['--listen', '/ip4/127.0.0.1/tcp/0/ws', '--health', 'off', '--ca-key', join(dir, 'z.json'), '--smtp', 'ftp://ca:hunter2-secret@x', '--ca-from', 'a@b'])
    assert.equal(d.code, 2)
    assert.match(d.stderr, /warning: --smtp carries a password/)
    assert.match(d.stderr, /ftp:\/\/ca:\*\*\*@x/)
    assert.doesNotMatch(d.stderr + d.stdout, /hunter2/)
  })
})
