/**
 * The optional email-verifying CA of a supernode (protocol `/peerline/ca/1.0.0`,
 * see shared/identity/ca-protocol.ts). Off unless the operator gives a CA key.
 *
 * ```ts
 * const ca = await startCa({ keyFile: '/var/lib/peerline/ca-key.json', name: 'Example CA',
 *   smtp: 'smtp://user:pass@mail.example.org:587', from: 'Peerline CA <ca@example.org>' })
 * await node.handle(CA_PROTOCOL, ca.handler)
 * ```
 *
 * A request proves possession of the identity key; the CA mails a 6-digit
 * code to the address; the right code within CA_CODE_TTL_MS gets an identity
 * certificate signed by the CA key. Codes are kept only as HMACs under a key
 * that lives in memory, are single use and die after CA_MAX_CODE_ATTEMPTS
 * wrong tries. Requests are limited per email address, per peer id, per
 * source IP (IPv6 by /64) and in total per minute.
 */
import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto'
import { isIPv6 } from 'node:net'
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import nodemailer from 'nodemailer'
import type { Connection, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import {
  CA_CODE_DIGITS, CA_CODE_LINE_PREFIX, CaRateLimitedError, CodeExpiredError, MailFailedError, MAX_CA_FRAME_BYTES,
  TooManyAttemptsError, UnknownRequestError, WrongCodeError, caErrorResponse, encodeCaMessage, fingerprint, fromBase64Url,
  generateIdentityKey, issueCaCertificate, issueIdentityCertificate, parseCaRequest, publicKeyFromPrivate,
  toBase64Url, verifyCaCertificate
} from '../shared/identity/index.ts'
import type { CaCertificate, CaResponse, IdentityCertificate, IdentityKeyPair } from '../shared/identity/index.ts'
import { logger } from '../shared/util/logger.ts'

const log = logger('supernode:ca')

/** A code is good for 15 minutes: long enough to switch to the mail app, short enough that a leaked mail soon stops mattering. */
export const CA_CODE_TTL_MS = 15 * 60_000

/** Wrong codes allowed per request: 5 guesses of a 6-digit code succeed with probability 5e-6. */
export const CA_MAX_CODE_ATTEMPTS = 5

/** Mails per address per hour: enough to retry after a typo, too few to flood someone's inbox. */
export const CA_REQUESTS_PER_EMAIL_PER_HOUR = 3

/** Requests per peer per hour: a device asks once per identity; a few retries and addresses fit. */
export const CA_REQUESTS_PER_PEER_PER_HOUR = 10

/**
 * Requests per source IP (IPv6: per /64, what one subscriber usually gets) per hour:
 * peer ids cost nothing to mint, addresses do; a household or small office behind one NAT still fits.
 */
export const CA_REQUESTS_PER_IP_PER_HOUR = 30

/** Mails per minute over all requesters: keeps the CA's SMTP account below typical provider send limits. */
export const CA_MAILS_PER_MINUTE = 30

/** Keys (addresses, peers, IPs) tracked per rate-limit window; past it new keys are refused rather than memory growing. */
export const CA_MAX_WINDOW_KEYS = 10_000

/** Sliding window of the per-email, per-peer and per-IP limits. */
const RATE_WINDOW_MS = 60 * 60_000

/** Sliding window of the global mail cap. */
const GLOBAL_WINDOW_MS = 60_000

/** Pending verifications kept at once; past it new requests are refused rather than memory growing. */
export const CA_MAX_PENDING = 10_000

/** Bound on one CA stream: reading the request, mailing (SMTP timeouts below) and answering. */
export const CA_STREAM_TIMEOUT_MS = 45_000

/** nodemailer timeouts for the SMTP server, so "SMTP down" is an answer within seconds, not minutes. */
const SMTP_CONNECTION_TIMEOUT_MS = 10_000
const SMTP_SOCKET_TIMEOUT_MS = 20_000

/** The CA certificate is renewed when it has less than this left (identity certificates last a year). */
const CA_RENEW_BEFORE_MS = 400 * 24 * 60 * 60_000

/** How often expired verifications and idle rate-limit windows are dropped. */
const SWEEP_INTERVAL_MS = 60_000

/** Value of `format` in the CA key file, so another JSON file is refused with a clear message. */
const KEY_FILE_FORMAT = 'peerline-ca-key'

export const DEFAULT_CA_NAME = 'Peerline CA'

export class CaConfigError extends Error {
  static override name = 'CaConfigError'
  override name = 'CaConfigError'
}

export interface CaInit {
  /** JSON file with the CA key; created (mode 0600) when missing */
  keyFile: string
  /** shown to users when they decide whether to trust this CA */
  name?: string
  /** smtp://[user[:pass]@]host:port (STARTTLS when offered) or smtps:// (TLS) */
  smtp?: string
  /** file holding the SMTP password (first line), used with the user named in `smtp`; keeps it out of argv */
  smtpPasswordFile?: string
  /** From: address of the mails */
  from?: string
  /** base URL of the PWA; the mail then carries `<base>#/verify/<requestId>/<code>` */
  linkBase?: string
  /** write mails to `mailLog` output instead of sending them (local development, `npm start`) */
  mailLog?: boolean
  codeTtlMs?: number
  requestsPerEmailPerHour?: number
  requestsPerPeerPerHour?: number
  requestsPerIpPerHour?: number
  mailsPerMinute?: number
  maxWindowKeys?: number
  /** where --ca-mail-log mails go; default stderr */
  writeLog?: (text: string) => void
  now?: () => number
}

export interface CaStats {
  requests: number
  mailsSent: number
  mailFailures: number
  issued: number
  wrongCodes: number
  expiredCodes: number
  tooManyAttempts: number
  rateLimited: number
  badProofs: number
  malformed: number
}

export interface CaHealth extends CaStats {
  name: string
  key: string
  fingerprint: string
  pending: number
  mail: 'smtp' | 'log'
}

export interface CertificateAuthority {
  ca: CaCertificate
  keyFile: string
  certFile: string
  stats: CaStats
  health: () => CaHealth
  /** libp2p protocol handler */
  handler: (stream: Stream, connection: Connection) => void
  /**
   * answers one decoded frame (the handler's core; also for tests); `remoteAddr`
   * is the connection's remote multiaddr, for the per-IP limit
   */
  answer: (frame: Uint8Array, peer: string, remoteAddr?: string) => Promise<CaResponse>
  stop: () => Promise<void>
}

interface Pending {
  email: string
  key: string
  codeMac: Buffer
  expiresAt: number
  attempts: number
  /** kept after the right code until expiresAt, so a lost answer can be fetched again with the same code */
  issued?: IdentityCertificate
}

interface Mail { to: string, subject: string, text: string }

/** Loads the CA key file, creating it (and its certificate) when missing; renames/renews the certificate when needed. */
export async function loadOrCreateCaKey (keyFile: string, name: string | undefined, now = Date.now()): Promise<{ keys: IdentityKeyPair, ca: CaCertificate, created: boolean }> {
  let text: string | undefined
  try {
    text = await readFile(keyFile, 'utf8')
  } catch (err: any) {
    if (err.code !== 'ENOENT') throw new CaConfigError(`Cannot read the CA key file ${keyFile}: ${err.code ?? err.message}`)
  }
  if (text === undefined) {
    const keys = generateIdentityKey()
    const ca = issueCaCertificate({ name: name ?? DEFAULT_CA_NAME, subjectKey: keys.publicKey, issuer: keys, now })
    await writeKeyFile(keyFile, keys, ca)
    return { keys, ca, created: true }
  }
  let parsed: any
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new CaConfigError(`The CA key file ${keyFile} is not valid JSON; it was left untouched`)
  }
  if (parsed?.format !== KEY_FILE_FORMAT || parsed.v !== 1 || typeof parsed.privateKey !== 'string') {
    throw new CaConfigError(`${keyFile} is not a Peerline CA key file (format "${KEY_FILE_FORMAT}", version 1)`)
  }
  let keys: IdentityKeyPair
  try {
    const privateKey = fromBase64Url(parsed.privateKey)
    keys = { privateKey, publicKey: publicKeyFromPrivate(privateKey) }
  } catch (err) {
    throw new CaConfigError(`The CA key in ${keyFile} is unreadable: ${(err as Error).message}`)
  }
  const mode = (await stat(keyFile)).mode
  if ((mode & 0o077) !== 0) log.error('CA key file %s is readable by other users (mode %s): chmod 600 it', keyFile, (mode & 0o777).toString(8))
  let ca: CaCertificate | undefined
  try {
    ca = verifyCaCertificate(parsed.certificate, { now })
    if (ca.key !== toBase64Url(keys.publicKey) || ca.issuer !== ca.key) ca = undefined
  } catch {
    ca = undefined
  }
  const wantedName = name ?? ca?.name ?? DEFAULT_CA_NAME
  if (ca === undefined || ca.name !== wantedName || ca.notAfter - now < CA_RENEW_BEFORE_MS) {
    ca = issueCaCertificate({ name: wantedName, subjectKey: keys.publicKey, issuer: keys, now })
    await writeKeyFile(keyFile, keys, ca)
  }
  return { keys, ca, created: false }
}

async function writeKeyFile (keyFile: string, keys: IdentityKeyPair, ca: CaCertificate): Promise<void> {
  const body = JSON.stringify({ format: KEY_FILE_FORMAT, v: 1, privateKey: toBase64Url(keys.privateKey), certificate: ca }, null, 2) + '\n'
  try {
    await mkdir(dirname(keyFile), { recursive: true, mode: 0o700 })
    const tmp = `${keyFile}.tmp`
    // a tmp file left by a crash must not block every later start; 'wx' then refuses a symlink planted in between
    await rm(tmp, { force: true })
    await writeFile(tmp, body, { mode: 0o600, flag: 'wx' })
    await chmod(tmp, 0o600)
    await rename(tmp, keyFile)
  } catch (err: any) {
    throw new CaConfigError(`Cannot write the CA key file ${keyFile}: ${err.code ?? err.message}`)
  }
}

/** Where the public CA certificate is written next to the key: `ca-key.json` → `ca-key.cert.json`. */
export function certFileFor (keyFile: string): string {
  return `${keyFile.replace(/\.json$/i, '')}.cert.json`
}

/** `smtp://user:***@host:port`: the SMTP URL as it may appear in messages and logs. */
export function redactSmtpUrl (smtp: string): string {
  try {
    const url = new URL(smtp)
    if (url.password !== '') url.password = '***'
    return url.toString()
  } catch {
    // not a URL: hide anything between "//user:" and "@"
    return smtp.replace(/(\/\/[^/:@]*:)[^@/]*@/, '$1***@')
  }
}

/** Replaces every occurrence of `secret` (as typed and URL-encoded) in `text` with ***. */
function redactSecret (text: string, secret: string | undefined): string {
  if (secret === undefined || secret === '') return text
  return text.split(secret).join('***').split(encodeURIComponent(secret)).join('***')
}

/** The SMTP URL to connect with (password from the file put in) and the password, for redaction. */
async function smtpUrl (init: CaInit): Promise<{ url?: string, password?: string }> {
  if (init.smtp === undefined) {
    if (init.smtpPasswordFile !== undefined) throw new CaConfigError('--smtp-password-file needs --smtp <url> (or PEERLINE_SMTP_URL)')
    return {}
  }
  const shown = redactSmtpUrl(init.smtp)
  let url: URL
  try {
    url = new URL(init.smtp)
  } catch {
    throw new CaConfigError(`--smtp "${shown}" is not a URL (expected smtp://host:port or smtps://host:port)`)
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') throw new CaConfigError(`--smtp "${shown}" must start with smtp:// or smtps://`)
  if (url.hostname === '') throw new CaConfigError(`--smtp "${shown}" names no host`)
  const inUrl = url.password !== '' ? decodeURIComponent(url.password) : undefined
  if (init.smtpPasswordFile === undefined) return { url: url.toString(), ...(inUrl !== undefined ? { password: inUrl } : {}) }
  if (inUrl !== undefined) throw new CaConfigError('Give the SMTP password either in the URL or in --smtp-password-file, not both')
  if (url.username === '') throw new CaConfigError(`--smtp-password-file needs a user name in the SMTP URL (smtp://user@host:port), got "${shown}"`)
  let password: string
  try {
    password = (await readFile(init.smtpPasswordFile, 'utf8')).split(/\r?\n/)[0] ?? ''
  } catch (err: any) {
    throw new CaConfigError(`Cannot read the SMTP password file ${init.smtpPasswordFile}: ${err.code ?? err.message}`)
  }
  if (password === '') throw new CaConfigError(`The SMTP password file ${init.smtpPasswordFile} is empty`)
  url.password = encodeURIComponent(password)
  return { url: url.toString(), password }
}

function checkInit (init: CaInit): { from: string, linkBase?: string } {
  if (init.smtp === undefined && init.mailLog !== true) {
    throw new CaConfigError('The CA needs --smtp <url> (or PEERLINE_SMTP_URL) to send mail (or --ca-mail-log to write mail to the log instead)')
  }
  const from = init.from ?? (init.mailLog === true && init.smtp === undefined ? 'Peerline CA <ca@localhost>' : undefined)
  if (from === undefined || !/@[^@\s>]+>?\s*$/.test(from)) throw new CaConfigError('The CA needs --ca-from <address> (the From: of its mails), e.g. "Peerline CA <ca@example.org>"')
  const ttl = init.codeTtlMs
  if (ttl !== undefined && (!Number.isSafeInteger(ttl) || ttl <= 0)) throw new CaConfigError('--ca-code-ttl must be a positive number of seconds')
  if (init.linkBase === undefined) return { from }
  let base: URL
  try {
    base = new URL(init.linkBase)
  } catch {
    throw new CaConfigError(`--ca-link-base "${init.linkBase}" is not a URL`)
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new CaConfigError('--ca-link-base must be an http(s) URL')
  base.hash = ''
  return { from, linkBase: base.toString() }
}

/** Starts the CA: loads or creates its key, writes its certificate file, opens the mail transport. */
export async function startCa (init: CaInit): Promise<CertificateAuthority> {
  const now = init.now ?? Date.now
  const { from, linkBase } = checkInit(init)
  const smtp = await smtpUrl(init)
  const redact = (text: string): string => redactSecret(text, smtp.password)
  const { keys, ca, created } = await loadOrCreateCaKey(init.keyFile, init.name, now())
  const certFile = certFileFor(init.keyFile)
  try {
    await writeFile(certFile, JSON.stringify(ca, null, 2) + '\n', { mode: 0o644 })
  } catch (err: any) {
    throw new CaConfigError(`Cannot write the CA certificate ${certFile}: ${err.code ?? err.message}`)
  }
  if (created) log('created CA key %s (%s)', init.keyFile, fingerprint(keys.publicKey))

  const codeTtl = init.codeTtlMs ?? CA_CODE_TTL_MS
  const perEmail = init.requestsPerEmailPerHour ?? CA_REQUESTS_PER_EMAIL_PER_HOUR
  const perPeer = init.requestsPerPeerPerHour ?? CA_REQUESTS_PER_PEER_PER_HOUR
  const perIp = init.requestsPerIpPerHour ?? CA_REQUESTS_PER_IP_PER_HOUR
  const perMinute = init.mailsPerMinute ?? CA_MAILS_PER_MINUTE
  const maxKeys = init.maxWindowKeys ?? CA_MAX_WINDOW_KEYS
  const writeLog = init.writeLog ?? ((text: string) => { process.stderr.write(text) })
  // codes are only kept as HMACs under a key that never leaves this process
  const macKey = randomBytes(32)
  const mac = (requestId: string, code: string): Buffer => createHmac('sha256', macKey).update(`${requestId}:${code}`).digest()
  const pending = new Map<string, Pending>()
  const windows = { email: new Map<string, number[]>(), peer: new Map<string, number[]>(), ip: new Map<string, number[]>() }
  /** send times of all mails in the last GLOBAL_WINDOW_MS */
  let sentRecently: number[] = []
  const stats: CaStats = {
    requests: 0, mailsSent: 0, mailFailures: 0, issued: 0, wrongCodes: 0, expiredCodes: 0, tooManyAttempts: 0, rateLimited: 0, badProofs: 0, malformed: 0
  }

  const transport = smtp.url !== undefined
    ? nodemailer.createTransport(smtp.url, {
      from,
      connectionTimeout: SMTP_CONNECTION_TIMEOUT_MS,
      greetingTimeout: SMTP_CONNECTION_TIMEOUT_MS,
      socketTimeout: SMTP_SOCKET_TIMEOUT_MS
    } as any)
    : undefined

  const send = async (mail: Mail): Promise<void> => {
    if (transport === undefined) {
      writeLog([
        `peerline-supernode: CA mail (--ca-mail-log: written here, not sent)`,
        `  From:    ${from}`,
        `  To:      ${mail.to}`,
        `  Subject: ${mail.subject}`,
        ...mail.text.split('\n').map(l => `  | ${l}`),
        ''
      ].join('\n'))
      return
    }
    await transport.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text })
  }

  /** the entries of `key` still inside the window */
  const recent = (map: Map<string, number[]>, key: string, t: number): number[] => (map.get(key) ?? []).filter(at => t - at < RATE_WINDOW_MS)
  const retryIn = (list: number[], windowMs: number, t: number): string => {
    const oldest = list[0] ?? t
    const ms = oldest + windowMs - t
    return windowMs <= 60_000 ? `${Math.max(1, Math.ceil(ms / 1000))} s` : `${Math.max(1, Math.ceil(ms / 60_000))} min`
  }
  const refuse = (message: string): never => {
    stats.rateLimited++
    throw new CaRateLimitedError(message)
  }
  /** removes one entry `at` of `key` (a request whose mail failed does not count) */
  const forget = (map: Map<string, number[]>, key: string, at: number): void => {
    const list = map.get(key)
    if (list === undefined) return
    const i = list.lastIndexOf(at)
    if (i >= 0) list.splice(i, 1)
    if (list.length === 0) map.delete(key)
  }

  /**
   * Checks every limit first and counts the request only when all pass, so
   * refused requests leave no trace in the windows.
   * @throws CaRateLimitedError
   */
  const admit = (email: string, peer: string, ip: string | undefined, t: number): void => {
    sentRecently = sentRecently.filter(at => t - at < GLOBAL_WINDOW_MS)
    if (sentRecently.length >= perMinute) refuse(`This CA is sending too many mails right now: try again in ${retryIn(sentRecently, GLOBAL_WINDOW_MS, t)}`)
    const checks: Array<{ map: Map<string, number[]>, key: string, limit: number, message: (wait: string) => string }> = [
      { map: windows.peer, key: peer, limit: perPeer, message: wait => `This device made ${perPeer} certificate requests in the last hour: try again in ${wait}` },
      ...(ip !== undefined ? [{ map: windows.ip, key: ip, limit: perIp, message: (wait: string) => `${perIp} certificate requests came from your network in the last hour: try again in ${wait}` }] : []),
      { map: windows.email, key: email, limit: perEmail, message: wait => `${perEmail} verification mails went to ${email} in the last hour: try again in ${wait}` }
    ]
    const lists = checks.map(c => {
      const list = recent(c.map, c.key, t)
      if (list.length >= c.limit) refuse(c.message(retryIn(list, RATE_WINDOW_MS, t)))
      if (list.length === 0 && !c.map.has(c.key) && c.map.size >= maxKeys) refuse('This CA is handling too many requesters right now: try again in a few minutes')
      return list
    })
    if (pending.size >= CA_MAX_PENDING) refuse('This CA has too many verifications in progress: try again in a few minutes')
    checks.forEach((c, i) => {
      const list = lists[i] as number[]
      list.push(t)
      c.map.set(c.key, list)
    })
    sentRecently.push(t)
  }

  const request = async (email: string, key: string, peer: string, ip: string | undefined): Promise<CaResponse> => {
    const t = now()
    admit(email, peer, ip, t)
    const requestId = toBase64Url(randomBytes(16))
    const code = randomInt(0, 10 ** CA_CODE_DIGITS).toString().padStart(CA_CODE_DIGITS, '0')
    const expiresAt = t + codeTtl
    pending.set(requestId, { email, key, codeMac: mac(requestId, code), expiresAt, attempts: 0 })
    const minutes = Math.round(codeTtl / 60_000)
    const text = [
      // short ASCII lines: the mail then goes out as plain 7-bit text that any reader shows as it is
      `Someone asked the Peerline certificate authority "${ca.name}"`,
      `to confirm that ${email} belongs to them.`,
      '',
      `${CA_CODE_LINE_PREFIX}${code}`,
      '',
      ...(linkBase !== undefined ? ['Or open this link on the device that asked:', `${linkBase}#/verify/${requestId}/${code}`, ''] : []),
      `The code works once and expires at ${new Date(expiresAt).toISOString()}${minutes > 0 ? ` (in ${minutes} min)` : ''}.`,
      'If you did not ask for it, ignore this mail:',
      'nothing happens without the code.',
      '',
      `CA key fingerprint: ${fingerprint(keys.publicKey)}`
    ].join('\n')
    try {
      await send({ to: email, subject: 'Your Peerline verification code', text })
    } catch (err) {
      pending.delete(requestId)
      // the requester got no mail: this attempt does not count against the address, device or network
      // (the global cap keeps it, so a failing mail server is not hammered)
      forget(windows.email, email, t)
      forget(windows.peer, peer, t)
      if (ip !== undefined) forget(windows.ip, ip, t)
      stats.mailFailures++
      const e = err as Error & { code?: string, response?: string }
      // the server's details stay in the operator's log; the requester learns only that it failed
      log.error('mail to %s failed: %s%s', email, redact(e.message), e.response !== undefined ? ` (${redact(e.response)})` : '')
      throw new MailFailedError(`The CA could not send the verification mail to ${email}: its mail server failed. Try again later`)
    }
    stats.mailsSent++
    log('verification %s for %s (key %s) mailed', requestId, email, fingerprint(fromBase64Url(key)))
    return { ok: true, requestId, expiresAt }
  }

  const confirm = (requestId: string, code: string): CaResponse => {
    const p = pending.get(requestId)
    if (p === undefined) throw new UnknownRequestError()
    if (now() > p.expiresAt) {
      pending.delete(requestId)
      stats.expiredCodes++
      throw new CodeExpiredError(`The code for ${p.email} expired at ${new Date(p.expiresAt).toISOString()}: request a new one`)
    }
    const given = code.replace(/[\s-]/g, '')
    // same work whatever was typed: the MAC of the input against the stored MAC, compared in constant time
    const ok = timingSafeEqual(mac(requestId, given), p.codeMac) && given.length === CA_CODE_DIGITS
    if (!ok) {
      p.attempts++
      stats.wrongCodes++
      if (p.attempts >= CA_MAX_CODE_ATTEMPTS) {
        pending.delete(requestId)
        stats.tooManyAttempts++
        throw new TooManyAttemptsError(`${CA_MAX_CODE_ATTEMPTS} wrong codes: the verification of ${p.email} is cancelled, request a new one`)
      }
      const left = CA_MAX_CODE_ATTEMPTS - p.attempts
      throw new WrongCodeError(`That is not the code sent to ${p.email} (${left} attempt${left === 1 ? '' : 's'} left)`)
    }
    // the answer may be lost on the way (dropped stream): the same code fetches the same certificate until expiresAt
    if (p.issued !== undefined) return { ok: true, certificate: p.issued, ca }
    const certificate = issueIdentityCertificate({ email: p.email, subjectKey: fromBase64Url(p.key), issuer: keys, now: now() })
    p.issued = certificate
    stats.issued++
    log('issued a certificate for %s (key %s)', p.email, fingerprint(fromBase64Url(p.key)))
    return { ok: true, certificate, ca }
  }

  const answer = async (frame: Uint8Array, peer: string, remoteAddr?: string): Promise<CaResponse> => {
    try {
      const req = parseCaRequest(frame, now())
      switch (req.op) {
        case 'info':
          return { ok: true, ca, from }
        case 'request':
          stats.requests++
          return await request(req.email, req.key, peer, remoteAddr !== undefined ? sourceIpKey(remoteAddr) : undefined)
        case 'confirm':
          return confirm(req.requestId, req.code)
      }
    } catch (err) {
      const e = err as Error
      if (e.name === 'BadProofError') stats.badProofs++
      if (e.name === 'MalformedCaMessageError') stats.malformed++
      return caErrorResponse(e)
    }
  }

  const handler = (stream: Stream, connection: Connection): void => {
    const peer = connection.remotePeer.toString()
    const remoteAddr = connection.remoteAddr.toString()
    const signal = AbortSignal.timeout(CA_STREAM_TIMEOUT_MS)
    const lp = lpStream(stream, { maxDataLength: MAX_CA_FRAME_BYTES })
    ;(async () => {
      let response: CaResponse
      try {
        const frame = await lp.read({ signal })
        response = await answer(frame.subarray(), peer, remoteAddr)
      } catch (err) {
        // a frame over the limit or a stream that broke before a whole frame arrived
        response = caErrorResponse(Object.assign(new Error(`Unreadable CA request: ${(err as Error).message}`), { name: 'MalformedCaMessageError' }))
        stats.malformed++
      }
      await lp.write(encodeCaMessage(response), { signal })
      await stream.close({ signal })
    })().catch(err => {
      log('CA stream from %s: %s', peer, (err as Error).message)
      stream.abort(err as Error)
    })
  }

  const sweeper = setInterval(() => {
    const t = now()
    for (const [id, p] of pending) if (t > p.expiresAt) pending.delete(id)
    sentRecently = sentRecently.filter(at => t - at < GLOBAL_WINDOW_MS)
    for (const map of [windows.email, windows.peer, windows.ip]) {
      for (const [k, list] of map) if (list.every(at => t - at >= RATE_WINDOW_MS)) map.delete(k)
    }
  }, SWEEP_INTERVAL_MS)
  sweeper.unref?.()

  return {
    ca,
    keyFile: init.keyFile,
    certFile,
    stats,
    health: () => ({ name: ca.name, key: ca.key, fingerprint: fingerprint(keys.publicKey), pending: pending.size, mail: transport !== undefined ? 'smtp' : 'log', ...stats }),
    handler,
    answer,
    stop: async () => {
      clearInterval(sweeper)
      transport?.close()
    }
  }
}

/**
 * The per-IP rate-limit key of a connection's remote multiaddr: the IPv4
 * address, the /64 of an IPv6 address, or the DNS name; undefined when the
 * address names none (the other limits still apply).
 */
export function sourceIpKey (remoteAddr: string): string | undefined {
  const m = /^\/(ip4|ip6|dns4|dns6|dns)\/([^/]+)/.exec(remoteAddr)
  if (m === null) return undefined
  const [, proto, host] = m as unknown as [string, string, string]
  if (proto !== 'ip6') return host.toLowerCase()
  const zoneless = host.split('%')[0] as string
  if (!isIPv6(zoneless)) return undefined
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(zoneless)
  if (v4 !== null) return v4[1] as string
  return `${ipv6Groups(zoneless).slice(0, 4).join(':')}::/64`
}

/** The 8 hex groups of a valid IPv6 address (`::` expanded, an embedded IPv4 tail converted). */
function ipv6Groups (address: string): string[] {
  let text = address.toLowerCase()
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (tail !== null) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number]
    text = text.slice(0, tail.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', rest] = text.split('::') as [string, string | undefined]
  const left = head === '' ? [] : head.split(':')
  const right = rest === undefined || rest === '' ? [] : rest.split(':')
  const fill = rest === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0')
  return [...left, ...fill, ...right].map(g => parseInt(g, 16).toString(16))
}
