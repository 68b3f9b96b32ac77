/**
 * The CA's settings: the operator's options (CaInit) checked into what startCa
 * needs, the SMTP URL with its password, and the CA key file (created, renamed or
 * renewed as needed, with the public certificate written next to it).
 */
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import {
  fromBase64Url, generateIdentityKey, issueCaCertificate, publicKeyFromPrivate, toBase64Url, verifyCaCertificate
} from '../../shared/identity/index.ts'
import type { CaCertificate, IdentityKeyPair } from '../../shared/identity/index.ts'
import { logger } from '../../shared/util/logger.ts'
import { CA_KEY_FILE_FORMAT, CA_MAIL_LOG_FROM, CA_RENEW_BEFORE_MS, DEFAULT_CA_NAME } from './constants.ts'
import { CaConfigError } from './errors.ts'

const log = logger('supernode:ca')

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

/** Loads the CA key file, creating it (and its certificate) when missing; renames/renews the certificate when needed. */
export async function loadOrCreateCaKey (keyFile: string, name: string | undefined, now = Date.now()): Promise<{ keys: IdentityKeyPair, ca: CaCertificate, created: boolean }> {
  let text: string | undefined
  try {
    text = await readFile(keyFile, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new CaConfigError(`Cannot read the CA key file ${keyFile}: ${fileErrorText(err)}`)
  }
  if (text === undefined) {
    const keys = generateIdentityKey()
    const ca = issueCaCertificate({ name: name ?? DEFAULT_CA_NAME, subjectKey: keys.publicKey, issuer: keys, now })
    await writeKeyFile(keyFile, keys, ca)
    return { keys, ca, created: true }
  }
  // any JSON value: the checks below refuse everything but a key file
  let parsed: { format?: unknown, v?: unknown, privateKey?: unknown, certificate?: unknown } | null | undefined
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new CaConfigError(`The CA key file ${keyFile} is not valid JSON; it was left untouched`)
  }
  if (parsed?.format !== CA_KEY_FILE_FORMAT || parsed.v !== 1 || typeof parsed.privateKey !== 'string') {
    throw new CaConfigError(`${keyFile} is not a Peerline CA key file (format "${CA_KEY_FILE_FORMAT}", version 1)`)
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
  const body = JSON.stringify({ format: CA_KEY_FILE_FORMAT, v: 1, privateKey: toBase64Url(keys.privateKey), certificate: ca }, null, 2) + '\n'
  try {
    await mkdir(dirname(keyFile), { recursive: true, mode: 0o700 })
    const tmp = `${keyFile}.tmp`
    // a tmp file left by a crash must not block every later start; 'wx' then refuses a symlink planted in between
    await rm(tmp, { force: true })
    await writeFile(tmp, body, { mode: 0o600, flag: 'wx' })
    await chmod(tmp, 0o600)
    await rename(tmp, keyFile)
  } catch (err) {
    throw new CaConfigError(`Cannot write the CA key file ${keyFile}: ${fileErrorText(err)}`)
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
export function redactSecret (text: string, secret: string | undefined): string {
  if (secret === undefined || secret === '') return text
  return text.split(secret).join('***').split(encodeURIComponent(secret)).join('***')
}

/** The SMTP URL to connect with (password from the file put in) and the password, for redaction. */
export async function smtpUrl (init: CaInit): Promise<{ url?: string, password?: string }> {
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
  } catch (err) {
    throw new CaConfigError(`Cannot read the SMTP password file ${init.smtpPasswordFile}: ${fileErrorText(err)}`)
  }
  if (password === '') throw new CaConfigError(`The SMTP password file ${init.smtpPasswordFile} is empty`)
  url.password = encodeURIComponent(password)
  return { url: url.toString(), password }
}

/**
 * The From address and link base, checked; the rest of `init` is checked where it is used.
 * @throws CaConfigError
 */
export function checkInit (init: CaInit): { from: string, linkBase?: string } {
  if (init.smtp === undefined && init.mailLog !== true) {
    throw new CaConfigError('The CA needs --smtp <url> (or PEERLINE_SMTP_URL) to send mail (or --ca-mail-log to write mail to the log instead)')
  }
  const from = init.from ?? (init.mailLog === true && init.smtp === undefined ? CA_MAIL_LOG_FROM : undefined)
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

/**
 * Loads or creates the CA key (loadOrCreateCaKey) and writes the public CA certificate
 * next to it (certFileFor), for operators to hand out.
 * @throws CaConfigError
 */
export async function openCaKey (keyFile: string, name: string | undefined, now: number): Promise<{ keys: IdentityKeyPair, ca: CaCertificate, created: boolean, certFile: string }> {
  const { keys, ca, created } = await loadOrCreateCaKey(keyFile, name, now)
  const certFile = certFileFor(keyFile)
  try {
    await writeFile(certFile, JSON.stringify(ca, null, 2) + '\n', { mode: 0o644 })
  } catch (err) {
    throw new CaConfigError(`Cannot write the CA certificate ${certFile}: ${fileErrorText(err)}`)
  }
  return { keys, ca, created, certFile }
}

/** What a failed file operation says in a CaConfigError: the errno code (ENOENT, EACCES…) or else the message. */
function fileErrorText (err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message
}
