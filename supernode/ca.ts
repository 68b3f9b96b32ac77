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
 *
 * Files: ca/config.ts (options, SMTP URL, key file), ca/mailer.ts (SMTP or log,
 * the mail's text), ca/limits.ts (rate limits), ca/constants.ts, ca/errors.ts.
 */
import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto'
import type { Connection, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import {
  CA_CODE_DIGITS, CodeExpiredError, MailFailedError, MalformedCaMessageError, MAX_CA_FRAME_BYTES, TooManyAttemptsError, UnknownRequestError,
  WrongCodeError, caErrorResponse, encodeCaMessage, fingerprint, fromBase64Url, issueIdentityCertificate, parseCaRequest, toBase64Url
} from '../shared/identity/index.ts'
import type { CaCertificate, CaResponse, IdentityCertificate } from '../shared/identity/index.ts'
import { unrefTimer } from '../shared/util/async.ts'
import { logger } from '../shared/util/logger.ts'
import { checkInit, openCaKey, redactSecret, smtpUrl } from './ca/config.ts'
import type { CaInit } from './ca/config.ts'
import { CA_CODE_TTL_MS, CA_MAX_CODE_ATTEMPTS, CA_STREAM_TIMEOUT_MS, CA_SWEEP_INTERVAL_MS } from './ca/constants.ts'
import { caLimits, sourceIpKey } from './ca/limits.ts'
import { caMailer, verificationMail } from './ca/mailer.ts'

export { certFileFor, loadOrCreateCaKey, redactSmtpUrl } from './ca/config.ts'
export type { CaInit } from './ca/config.ts'
export {
  CA_CODE_TTL_MS, CA_MAILS_PER_MINUTE, CA_MAX_CODE_ATTEMPTS, CA_MAX_PENDING, CA_MAX_WINDOW_KEYS, CA_REQUESTS_PER_EMAIL_PER_HOUR,
  CA_REQUESTS_PER_IP_PER_HOUR, CA_REQUESTS_PER_PEER_PER_HOUR, CA_STREAM_TIMEOUT_MS, DEFAULT_CA_NAME
} from './ca/constants.ts'
export { CaConfigError } from './ca/errors.ts'
export { sourceIpKey } from './ca/limits.ts'

const log = logger('supernode:ca')

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

/** Starts the CA: loads or creates its key, writes its certificate file, opens the mail transport. */
export async function startCa (init: CaInit): Promise<CertificateAuthority> {
  const now = init.now ?? Date.now
  const { from, linkBase } = checkInit(init)
  const smtp = await smtpUrl(init)
  const redact = (text: string): string => redactSecret(text, smtp.password)
  const { keys, ca, created, certFile } = await openCaKey(init.keyFile, init.name, now())
  if (created) log('created CA key %s (%s)', init.keyFile, fingerprint(keys.publicKey))

  const codeTtl = init.codeTtlMs ?? CA_CODE_TTL_MS
  const writeLog = init.writeLog ?? ((text: string) => { process.stderr.write(text) })
  // codes are only kept as HMACs under a key that never leaves this process
  const macKey = randomBytes(32)
  const mac = (requestId: string, code: string): Buffer => createHmac('sha256', macKey).update(`${requestId}:${code}`).digest()
  const pending = new Map<string, Pending>()
  const stats: CaStats = {
    requests: 0, mailsSent: 0, mailFailures: 0, issued: 0, wrongCodes: 0, expiredCodes: 0, tooManyAttempts: 0, rateLimited: 0, badProofs: 0, malformed: 0
  }
  const limits = caLimits({
    requestsPerEmailPerHour: init.requestsPerEmailPerHour,
    requestsPerPeerPerHour: init.requestsPerPeerPerHour,
    requestsPerIpPerHour: init.requestsPerIpPerHour,
    mailsPerMinute: init.mailsPerMinute,
    maxWindowKeys: init.maxWindowKeys,
    onRefused: () => { stats.rateLimited++ }
  })
  const mailer = caMailer({ ...(smtp.url !== undefined ? { smtpUrl: smtp.url } : {}), from, writeLog })

  const request = async (email: string, key: string, peer: string, ip: string | undefined): Promise<CaResponse> => {
    const t = now()
    limits.admit(email, peer, ip, pending.size, t)
    const requestId = toBase64Url(randomBytes(16))
    const code = randomInt(0, 10 ** CA_CODE_DIGITS).toString().padStart(CA_CODE_DIGITS, '0')
    const expiresAt = t + codeTtl
    pending.set(requestId, { email, key, codeMac: mac(requestId, code), expiresAt, attempts: 0 })
    const mail = verificationMail({ caName: ca.name, caFingerprint: fingerprint(keys.publicKey), email, requestId, code, expiresAt, codeTtlMs: codeTtl, ...(linkBase !== undefined ? { linkBase } : {}) })
    try {
      await mailer.send(mail)
    } catch (err) {
      pending.delete(requestId)
      // the requester got no mail: this attempt does not count against the address, device or network
      // (the global cap keeps it, so a failing mail server is not hammered)
      limits.forget(email, peer, ip, t)
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
        response = caErrorResponse(new MalformedCaMessageError(`Unreadable CA request: ${(err as Error).message}`, { cause: err }))
        stats.malformed++
      }
      await lp.write(encodeCaMessage(response), { signal })
      await stream.close({ signal })
    })().catch(err => {
      log('CA stream from %s: %s', peer, (err as Error).message)
      stream.abort(err as Error)
    })
  }

  const sweeper = unrefTimer(setInterval(() => {
    const t = now()
    for (const [id, p] of pending) if (t > p.expiresAt) pending.delete(id)
    limits.sweep(t)
  }, CA_SWEEP_INTERVAL_MS))

  return {
    ca,
    keyFile: init.keyFile,
    certFile,
    stats,
    health: () => ({ name: ca.name, key: ca.key, fingerprint: fingerprint(keys.publicKey), pending: pending.size, mail: mailer.kind, ...stats }),
    handler,
    answer,
    stop: async () => {
      clearInterval(sweeper)
      mailer.close()
    }
  }
}
