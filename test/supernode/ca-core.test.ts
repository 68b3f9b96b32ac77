/**
 * The CA's rules without the network: startCa in mail-log mode with a
 * controlled clock, fed frames as a peer would send them. The wire path
 * (libp2p, SMTP) is covered by ca.test.ts.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  CA_PROOF_MAX_AGE_MS, MAX_CA_FRAME_BYTES, canonicalJson, encodeCaMessage, findCaCode, fromBase64Url, generateIdentityKey,
  issueIdentityCertificate, parseCaRequest, parseCaResponse, signCaRequest, toBase64Url, utf8, verifyIdentityCertificate
} from '../../shared/identity/index.ts'
import type { CaRequest, CaResponse } from '../../shared/identity/index.ts'
import {
  CA_MAX_CODE_ATTEMPTS, CA_REQUESTS_PER_IP_PER_HOUR, CA_REQUESTS_PER_PEER_PER_HOUR, certFileFor, loadOrCreateCaKey, redactSmtpUrl, sourceIpKey, startCa
} from '../../supernode/ca.ts'
import type { CertificateAuthority } from '../../supernode/ca.ts'
import { SMTP_URL_ENV, parseCli } from '../../supernode/cli.ts'
import { closedPort, startSmtpServer } from '../helpers/smtp.ts'

const frame = (m: unknown): Uint8Array => utf8(JSON.stringify(m))

describe('CA core (supernode/ca.ts, shared/identity/ca-protocol.ts)', () => {
  let dir: string
  let ca: CertificateAuthority
  let clock = Date.now()
  const log: string[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'peerline-ca-core-'))
    // the global mails-per-minute cap has its own test (a CA of its own): here the clock rarely moves a minute
    ca = await startCa({ keyFile: join(dir, 'ca.json'), name: 'Core CA', mailLog: true, writeLog: t => { log.push(t) }, now: () => clock, mailsPerMinute: 1000 })
  })
  after(async () => {
    await ca?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  async function ask (req: CaRequest | unknown, peer = 'peer-a', remoteAddr?: string): Promise<CaResponse> {
    return await ca.answer(frame(req), peer, remoteAddr)
  }

  /** Requests a code for a fresh key and returns it with the code from the logged mail. */
  async function pending (email: string, peer = 'peer-a', remoteAddr?: string): Promise<{ requestId: string, code: string, key: string }> {
    const keys = generateIdentityKey()
    const res = await ask(signCaRequest(keys, email, clock), peer, remoteAddr)
    assert.equal(res.ok, true, JSON.stringify(res))
    const mail = log.at(-1) ?? ''
    const code = findCaCode(mail.replace(/^ {2}\| /gm, ''))
    assert.ok(code !== undefined, mail)
    return { requestId: (res as { requestId: string }).requestId, code, key: toBase64Url(keys.publicKey) }
  }

  it('answers info with its self-signed certificate, also written next to the key', async () => {
    const res = await ask({ op: 'info' })
    assert.ok(res.ok && 'ca' in res && !('certificate' in res))
    assert.equal(res.ca.name, 'Core CA')
    assert.equal(res.ca.issuer, res.ca.key)
    // the From address of its mails (the mail-log default), so a mail client can tell its mails from forgeries
    assert.equal((res as { from?: string }).from, 'Peerline CA <ca@localhost>')
    assert.deepEqual(JSON.parse(await readFile(certFileFor(join(dir, 'ca.json')), 'utf8')), res.ca)
  })

  it('issues a certificate for the requested email and key on the right code; the same code fetches the same one again until expiry', async () => {
    const p = await pending('Zoe@Example.org')
    assert.match(log.at(-1) ?? '', /To: {6}zoe@example\.org/)
    const res = await ask({ op: 'confirm', requestId: p.requestId, code: ` ${p.code.slice(0, 3)} ${p.code.slice(3)} ` })
    assert.ok(res.ok && 'certificate' in res, JSON.stringify(res))
    const cert = verifyIdentityCertificate(res.certificate, { email: 'zoe@example.org', trustedRoots: [fromBase64Url(ca.ca.key)], allowSelfIssued: false })
    assert.equal(cert.key, p.key)
    const issued = ca.health().issued
    // the answer was lost on the way (dropped stream): asking again gives the same certificate, not a second one
    const again = await ask({ op: 'confirm', requestId: p.requestId, code: p.code })
    assert.ok(again.ok && 'certificate' in again, JSON.stringify(again))
    assert.deepEqual(again.certificate, res.certificate)
    assert.equal(ca.health().issued, issued)
    const wrong = await ask({ op: 'confirm', requestId: p.requestId, code: p.code === '999999' ? '000000' : '999999' })
    assert.equal(wrong.ok === false && wrong.error, 'WrongCodeError')
    clock += 15 * 60_000 + 1
    const late = await ask({ op: 'confirm', requestId: p.requestId, code: p.code })
    assert.equal(late.ok === false && late.error, 'CodeExpiredError')
    assert.equal((await ask({ op: 'confirm', requestId: p.requestId, code: p.code })).ok === false, true)
  })

  it('counts wrong codes (any text) and cancels after the last attempt', async () => {
    const p = await pending('wrong@example.org')
    const wrong = p.code === '999999' ? '000000' : '999999'
    for (let i = 1; i < CA_MAX_CODE_ATTEMPTS; i++) {
      const res = await ask({ op: 'confirm', requestId: p.requestId, code: i === 1 ? '12' : wrong })
      assert.equal(res.ok === false && res.error, 'WrongCodeError')
    }
    const last = await ask({ op: 'confirm', requestId: p.requestId, code: wrong })
    assert.equal(last.ok === false && last.error, 'TooManyAttemptsError')
    assert.equal((await ask({ op: 'confirm', requestId: p.requestId, code: p.code })).ok, false)
  })

  it('expires codes after 15 minutes', async () => {
    const p = await pending('late@example.org')
    clock += 15 * 60_000 + 1
    const res = await ask({ op: 'confirm', requestId: p.requestId, code: p.code })
    assert.equal(res.ok === false && res.error, 'CodeExpiredError')
    assert.ok(ca.health().expiredCodes >= 1)
  })

  it('limits requests per peer per hour, and forgets after the hour', async () => {
    clock += 2 * 3600_000
    for (let i = 0; i < CA_REQUESTS_PER_PEER_PER_HOUR; i++) await pending(`p${i}@example.org`, 'peer-busy')
    const res = await ask(signCaRequest(generateIdentityKey(), 'one-more@example.org', clock), 'peer-busy')
    assert.equal(res.ok === false && res.error, 'CaRateLimitedError')
    assert.match(res.ok === false ? res.message : '', /This device made 10 certificate requests/)
    // another peer is not affected; the busy one is served again an hour later
    await pending('one-more@example.org', 'peer-calm')
    clock += 3600_000
    await pending('later@example.org', 'peer-busy')
  })

  it('limits requests per source IP (IPv6 per /64) whatever the peer id, and refused requests do not count', async () => {
    clock += 2 * 3600_000
    const net = (host: string): string => `/ip6/${host}/tcp/4001/ws`
    // a fresh peer id per request, as a flooder would mint them
    for (let i = 0; i < CA_REQUESTS_PER_IP_PER_HOUR; i++) await pending(`ip${i}@example.org`, `minted-${i}`, net(`2001:db8:1:2::${i + 1}`))
    const res = await ask(signCaRequest(generateIdentityKey(), 'ip-more@example.org', clock), 'minted-x', net('2001:db8:1:2:ffff::9'))
    assert.equal(res.ok === false && res.error, 'CaRateLimitedError')
    assert.match(res.ok === false ? res.message : '', /from your network/)
    // refused again and again from that network: the peer's own window stays empty
    for (let i = 0; i < CA_REQUESTS_PER_PEER_PER_HOUR + 2; i++) {
      assert.equal((await ask(signCaRequest(generateIdentityKey(), `ip-x${i}@example.org`, clock), 'roamer', net('2001:db8:1:2::77'))).ok, false)
    }
    // another /64 and an IPv4 address are not affected; the roaming peer still has all its requests
    for (let i = 0; i < CA_REQUESTS_PER_PEER_PER_HOUR; i++) await pending(`roam${i}@example.org`, 'roamer', i % 2 === 0 ? net('2001:db8:1:3::1') : '/ip4/192.0.2.7/tcp/1')
    assert.equal(sourceIpKey('/ip6/2001:db8:1:2:aaaa:bbbb:cccc:dddd/tcp/1'), '2001:db8:1:2::/64')
    assert.equal(sourceIpKey('/ip6/2001:0DB8:0001:0002::1/udp/1/quic-v1'), '2001:db8:1:2::/64')
    assert.equal(sourceIpKey('/ip6/::ffff:192.0.2.1/tcp/1'), '192.0.2.1')
    assert.equal(sourceIpKey('/ip6/::1/tcp/1'), '0:0:0:0::/64')
    assert.equal(sourceIpKey('/ip4/192.0.2.1/tcp/1/ws'), '192.0.2.1')
    assert.equal(sourceIpKey('/p2p-circuit'), undefined)
  })

  it('caps mails per minute over everyone, and bounds the tracked keys', async () => {
    const t0 = Date.now()
    let t = t0
    const small = await startCa({ keyFile: join(dir, 'small.json'), mailLog: true, writeLog: () => {}, now: () => t, mailsPerMinute: 3, maxWindowKeys: 4 })
    try {
      const req = async (email: string, peer: string, ip: string): Promise<CaResponse> => await small.answer(frame(signCaRequest(generateIdentityKey(), email, t)), peer, `/ip4/${ip}/tcp/1`)
      for (let i = 0; i < 3; i++) assert.equal((await req(`g${i}@example.org`, `gp${i}`, `192.0.2.${i}`)).ok, true)
      const capped = await req('g3@example.org', 'gp3', '192.0.2.3')
      assert.equal(capped.ok === false && capped.error, 'CaRateLimitedError')
      assert.match(capped.ok === false ? capped.message : '', /too many mails right now: try again in \d+ s/)
      t += 61_000
      // one more key fits (4 tracked per window); past that, new keys are refused while known ones are served
      assert.equal((await req('g3@example.org', 'gp3', '192.0.2.3')).ok, true)
      t += 61_000
      const fifth = await req('g4@example.org', 'gp4', '192.0.2.4')
      assert.equal(fifth.ok === false && fifth.error, 'CaRateLimitedError')
      assert.match(fifth.ok === false ? fifth.message : '', /too many requesters/)
      assert.equal((await req('g0@example.org', 'gp0', '192.0.2.0')).ok, true)
    } finally {
      await small.stop()
    }
  })

  it('a failed mail does not use up the address, device or network; the requester gets a generic message; passwords are redacted', async () => {
    const port = await closedPort()
    const errors: string[] = []
    const original = console.error
    console.error = (...args: unknown[]) => { errors.push(args.map(String).join(' ')) }
    const down = await startCa({ keyFile: join(dir, 'down.json'), smtp: `smtp://mailer:hunter2-secret@127.0.0.1:${port}`, from: 'CA <ca@example.org>', now: () => clock })
    try {
      for (let i = 0; i < 5; i++) {
        const res = await down.answer(frame(signCaRequest(generateIdentityKey(), 'fail@example.org', clock)), 'peer-f', '/ip4/192.0.2.99/tcp/1')
        // never CaRateLimitedError: 5 > 3 mails per address per hour, but none went out
        assert.equal(res.ok === false && res.error, 'MailFailedError', JSON.stringify(res))
        assert.doesNotMatch(res.ok === false ? res.message : '', /ECONNREFUSED|127\.0\.0\.1|hunter2/)
        assert.match(res.ok === false ? res.message : '', /fail@example\.org/)
      }
      assert.equal(down.health().mailFailures, 5)
      assert.ok(errors.some(l => /fail@example\.org/.test(l) && /ECONNREFUSED/.test(l)), errors.join('\n'))
      assert.ok(errors.every(l => !l.includes('hunter2')), errors.join('\n'))
    } finally {
      console.error = original
      await down.stop()
    }
    await assert.rejects(startCa({ keyFile: join(dir, 'r.json'), smtp: 'ftp://u:hunter2-secret@x', from: 'a@b.c' }), (err: Error) => {
      assert.equal(err.name, 'CaConfigError')
      assert.match(err.message, /ftp:\/\/u:\*\*\*@x/)
      assert.doesNotMatch(err.message, /hunter2/)
      return true
    })
    assert.equal(redactSmtpUrl('smtp://u:p%40ss@h:25'), 'smtp://u:***@h:25')
    assert.equal(redactSmtpUrl('smtp://h:25'), 'smtp://h:25')
  })

  it('takes the SMTP password from a file (or PEERLINE_SMTP_URL), keeping it out of argv', async () => {
    const smtp = await startSmtpServer({ auth: { user: 'mailer', pass: 'p@ss word' } })
    const passFile = join(dir, 'smtp-pass')
    await writeFile(passFile, 'p@ss word\n', { mode: 0o600 })
    const opts = parseCli(['--ca-key', join(dir, 'pw.json'), '--smtp', `smtp://mailer@127.0.0.1:${smtp.port}`, '--smtp-password-file', passFile, '--ca-from', 'CA <ca@example.org>'], {})
    assert.deepEqual(opts.warnings, [])
    assert.ok(opts.ca !== undefined)
    const withFile = await startCa({ ...opts.ca, now: () => clock })
    try {
      const res = await withFile.answer(frame(signCaRequest(generateIdentityKey(), 'auth@example.org', clock)), 'peer-pw')
      assert.equal(res.ok, true, JSON.stringify(res))
      await smtp.mailFor('auth@example.org')
    } finally {
      await withFile.stop()
      await smtp.close()
    }
    // the environment variable; a password on the command line is warned about
    const fromEnv = parseCli(['--ca-key', 'k.json'], { [SMTP_URL_ENV]: 'smtp://u:secret@mail.example.org:587' })
    assert.equal(fromEnv.ca?.smtp, 'smtp://u:secret@mail.example.org:587')
    assert.deepEqual(fromEnv.warnings, [])
    const inArgv = parseCli(['--ca-key', 'k.json', '--smtp', 'smtp://u:secret@mail.example.org:587'], {})
    assert.match(inArgv.warnings.join(), /process list/)
    assert.throws(() => parseCli(['--smtp-password-file', passFile], {}), { name: 'UsageError', message: /--smtp-password-file needs --ca-key/ })
    await assert.rejects(startCa({ keyFile: join(dir, 'pw2.json'), smtp: 'smtp://mail.example.org:587', smtpPasswordFile: passFile, from: 'a@b.c' }), { name: 'CaConfigError', message: /user name/ })
  })

  it('refuses bad proofs and malformed messages with their names', async () => {
    const keys = generateIdentityKey()
    const good = signCaRequest(keys, 'proof@example.org', clock)
    const cases: Array<[unknown, string]> = [
      [{ ...good, email: 'other@example.org' }, 'BadProofError'],
      [signCaRequest(keys, 'proof@example.org', clock - CA_PROOF_MAX_AGE_MS - 1), 'BadProofError'],
      [{ ...good, key: toBase64Url(generateIdentityKey().publicKey) }, 'BadProofError'],
      [{ ...good, key: 'short' }, 'MalformedCaMessageError'],
      [{ ...good, email: 'not an address' }, 'MalformedCaMessageError'],
      [{ op: 'confirm', requestId: 5, code: '123456' }, 'MalformedCaMessageError'],
      [{ op: 'delete-everything' }, 'MalformedCaMessageError'],
      [[1, 2], 'MalformedCaMessageError']
    ]
    for (const [req, name] of cases) {
      const res = await ask(req)
      assert.equal(res.ok === false && res.error, name, JSON.stringify(req))
    }
    const notJson = await ca.answer(Uint8Array.of(0xff, 0x00), 'peer-a')
    assert.equal(notJson.ok === false && notJson.error, 'MalformedCaMessageError')
    assert.throws(() => parseCaRequest(new Uint8Array(MAX_CA_FRAME_BYTES + 1)), { name: 'MalformedCaMessageError' })
    // the proof signs exactly these fields
    const { proof: _p, ...body } = good
    assert.equal(canonicalJson(body), canonicalJson({ op: 'request', email: 'proof@example.org', key: good.key, ts: good.ts }))
  })

  it('the client side turns error answers into typed errors and checks answers', () => {
    assert.throws(() => parseCaResponse(encodeCaMessage({ ok: false, error: 'WrongCodeError', message: 'nope (4 attempts left)' }), 'confirm'), { name: 'WrongCodeError', message: /4 attempts left/ })
    assert.throws(() => parseCaResponse(encodeCaMessage({ ok: false, error: 'SomethingNew', message: 'x' }), 'info'), { name: 'CaUnavailableError', message: /SomethingNew/ })
    assert.throws(() => parseCaResponse(frame({ ok: true, ca: { ...ca.ca, name: 'Forged' } }), 'info'), { name: 'MalformedCaMessageError', message: /invalid certificate/ })
    assert.equal((parseCaResponse(frame({ ok: true, ca: ca.ca, from: 'CA <ca@example.org>' }), 'info') as { from?: string }).from, 'CA <ca@example.org>')
    assert.equal('from' in parseCaResponse(frame({ ok: true, ca: ca.ca, from: 7 }), 'info'), false, 'a non-string from is dropped')
    const keys = generateIdentityKey()
    const cert = issueIdentityCertificate({ email: 'a@example.org', subjectKey: keys.publicKey, issuer: keys })
    const forged = { ...cert, notAfter: cert.notAfter + 1 }
    assert.throws(() => parseCaResponse(frame({ ok: true, certificate: forged, ca: ca.ca }), 'confirm'), { name: 'MalformedCaMessageError' })
  })

  it("trust: 'any-issuer' (supernodes) checks the named issuer's signature, dates and email, not trust", () => {
    const issuer = generateIdentityKey()
    const subject = generateIdentityKey()
    const cert = issueIdentityCertificate({ email: 'b@example.org', subjectKey: subject.publicKey, issuer })
    assert.throws(() => verifyIdentityCertificate(cert, { email: 'b@example.org' }), { name: 'UnknownIssuerError' })
    verifyIdentityCertificate(cert, { email: 'b@example.org', trust: 'any-issuer' })
    const opts = { trust: 'any-issuer' as const }
    assert.throws(() => verifyIdentityCertificate({ ...cert, email: 'c@example.org' }, opts), { name: 'BadSignatureError' })
    assert.throws(() => verifyIdentityCertificate(cert, { ...opts, email: 'c@example.org' }), { name: 'WrongEmailError' })
    const old = issueIdentityCertificate({ email: 'b@example.org', subjectKey: subject.publicKey, issuer, now: 0, validForMs: 1000 })
    assert.throws(() => verifyIdentityCertificate(old, opts), { name: 'CertificateExpiredError' })
  })

  it('keeps its key across restarts, renames its certificate, refuses a corrupt key file untouched', async () => {
    const file = join(dir, 'ca.json')
    const again = await loadOrCreateCaKey(file, undefined)
    assert.equal(again.created, false)
    assert.equal(again.ca.key, ca.ca.key)
    assert.equal(again.ca.name, 'Core CA')
    // a tmp file left by a crashed write does not block the next one
    await writeFile(`${file}.tmp`, 'half-written')
    const renamed = await loadOrCreateCaKey(file, 'Renamed CA')
    assert.equal(renamed.ca.key, ca.ca.key)
    assert.equal(renamed.ca.name, 'Renamed CA')
    assert.equal((await stat(file)).mode & 0o777, 0o600)
    const fresh = join(dir, 'fresh.json')
    await writeFile(`${fresh}.tmp`, 'left over')
    assert.equal((await loadOrCreateCaKey(fresh, undefined)).created, true)
    const bad = join(dir, 'bad.json')
    await writeFile(bad, '{"format":"something-else"}')
    await chmod(bad, 0o600)
    await assert.rejects(loadOrCreateCaKey(bad, undefined), { name: 'CaConfigError', message: /not a Peerline CA key file/ })
    assert.equal(await readFile(bad, 'utf8'), '{"format":"something-else"}')
    await assert.rejects(startCa({ keyFile: join(dir, 'x.json') }), { name: 'CaConfigError', message: /--smtp/ })
    await assert.rejects(startCa({ keyFile: join(dir, 'x.json'), smtp: 'smtp://127.0.0.1:1' }), { name: 'CaConfigError', message: /--ca-from/ })
  })
})
