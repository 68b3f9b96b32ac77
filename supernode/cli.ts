/**
 * `peerline-supernode`: run a supernode anyone can offer to the network.
 *
 *   peerline-supernode --listen /ip4/0.0.0.0/tcp/9001/ws \
 *     --bootstrap /dns4/sn1.example.org/tcp/9001/wss/p2p/12D3… \
 *     --data-dir /var/lib/peerline --health 127.0.0.1:9002
 */
import { parseArgs } from 'node:util'
import { unrefTimer } from '../shared/util/async.ts'
import { redactSmtpUrl } from './ca.ts'
import type { CaInit } from './ca.ts'
import { startSupernode } from './supernode.ts'
import type { Supernode } from './supernode.ts'
import { VERSION } from './version.ts'

export const USAGE = `Usage: peerline-supernode [options]

  --listen <multiaddr>     where to accept connections (repeatable)
                           default /ip4/0.0.0.0/tcp/9001/ws
  --bootstrap <multiaddr>  another supernode to join, ending in /p2p/<peer id> (repeatable)
  --announce <multiaddr>   public address to advertise instead of the listen ones (repeatable)
  --data-dir <dir>         keep the peer key and stored records here across restarts
  --health <host:port>     serve GET /health here (default 127.0.0.1:9002; "off" disables)
  --public-only            drop private and loopback addresses from the DHT (internet deployments)
  --json                   print the ready line as JSON (for scripts)

Email-verifying CA (off unless --ca-key is given):
  --ca-key <file>          the CA key (JSON; created with mode 0600 if missing); the CA
                           certificate users trust is written next to it (<file>.cert.json)
  --ca-name <name>         shown to users deciding whether to trust this CA (default "Peerline CA")
  --smtp <url>             mail server: smtp://[user@]host:port (STARTTLS when offered)
                           or smtps://host:465; default: the PEERLINE_SMTP_URL variable.
                           A password on the command line shows in ps: put it in
                           PEERLINE_SMTP_URL (smtp://user:pass@host:port) or in a file
  --smtp-password-file <file>  the SMTP password (first line), for the user named in the URL
  --ca-from <address>      From: of the verification mails, e.g. "Peerline CA <ca@example.org>"
  --ca-link-base <url>     the PWA's URL: mails then carry a link <url>#/verify/<id>/<code>
  --ca-mail-log            write the mails to the log (stderr) instead of sending them
  --ca-code-ttl <seconds>  how long a code stays valid (default 900)
  --version, --help
`

export class UsageError extends Error {
  static override name = 'UsageError'
  override name = 'UsageError'
}

export interface CliOptions {
  listen: string[]
  bootstrap: string[]
  announce: string[]
  dataDir?: string
  health: string | null
  publicOnly: boolean
  json: boolean
  ca?: CaInit
  /** warnings to print before starting (e.g. a password in argv) */
  warnings: string[]
  help: boolean
  version: boolean
}

/** Environment variable with the SMTP URL, so a password in it stays out of the process list. */
export const SMTP_URL_ENV = 'PEERLINE_SMTP_URL'

export function parseCli (argv: string[], env: Record<string, string | undefined> = process.env): CliOptions {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        listen: { type: 'string', multiple: true },
        bootstrap: { type: 'string', multiple: true },
        announce: { type: 'string', multiple: true },
        'data-dir': { type: 'string' },
        health: { type: 'string' },
        'public-only': { type: 'boolean' },
        json: { type: 'boolean' },
        'ca-key': { type: 'string' },
        'ca-name': { type: 'string' },
        smtp: { type: 'string' },
        'smtp-password-file': { type: 'string' },
        'ca-from': { type: 'string' },
        'ca-link-base': { type: 'string' },
        'ca-mail-log': { type: 'boolean' },
        'ca-code-ttl': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' }
      },
      strict: true,
      allowPositionals: false
    })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const v = parsed.values
  const warnings: string[] = []
  const caFlags = ['ca-name', 'smtp', 'smtp-password-file', 'ca-from', 'ca-link-base', 'ca-mail-log', 'ca-code-ttl'] as const
  const stray = caFlags.find(f => v[f] != null)
  if (v['ca-key'] == null && stray != null) throw new UsageError(`--${stray} needs --ca-key <file> (the CA is off without a key)`)
  let ca: CaInit | undefined
  if (v['ca-key'] != null) {
    const ttl = v['ca-code-ttl']
    if (ttl != null && !/^[1-9]\d{0,6}$/.test(ttl)) throw new UsageError(`--ca-code-ttl "${ttl}" must be a whole number of seconds`)
    const envSmtp = env[SMTP_URL_ENV] !== undefined && env[SMTP_URL_ENV] !== '' ? env[SMTP_URL_ENV] : undefined
    const smtp = v.smtp ?? (v['ca-mail-log'] === true ? undefined : envSmtp)
    if (smtp == null && v['ca-mail-log'] !== true) throw new UsageError(`--ca-key needs --smtp <url> (or ${SMTP_URL_ENV}) to send mail (or --ca-mail-log to write it to the log)`)
    if (v.smtp != null && redactSmtpUrl(v.smtp) !== v.smtp) {
      warnings.push(`--smtp carries a password, which other users see in the process list: use ${SMTP_URL_ENV} or --smtp-password-file`)
    }
    ca = {
      keyFile: v['ca-key'],
      ...(v['ca-name'] != null ? { name: v['ca-name'] } : {}),
      ...(smtp != null ? { smtp } : {}),
      ...(v['smtp-password-file'] != null ? { smtpPasswordFile: v['smtp-password-file'] } : {}),
      ...(v['ca-from'] != null ? { from: v['ca-from'] } : {}),
      ...(v['ca-link-base'] != null ? { linkBase: v['ca-link-base'] } : {}),
      ...(v['ca-mail-log'] === true ? { mailLog: true } : {}),
      ...(ttl != null ? { codeTtlMs: Number(ttl) * 1000 } : {})
    }
  }
  return {
    listen: v.listen ?? ['/ip4/0.0.0.0/tcp/9001/ws'],
    bootstrap: v.bootstrap ?? [],
    announce: v.announce ?? [],
    ...(v['data-dir'] != null ? { dataDir: v['data-dir'] } : {}),
    health: v.health === 'off' ? null : (v.health ?? '127.0.0.1:9002'),
    publicOnly: v['public-only'] ?? false,
    json: v.json ?? false,
    ...(ca != null ? { ca } : {}),
    warnings,
    help: v.help ?? false,
    version: v.version ?? false
  }
}

export async function main (argv: string[]): Promise<number> {
  let opts: CliOptions
  try {
    opts = parseCli(argv)
  } catch (err) {
    process.stderr.write(`peerline-supernode: ${(err as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (opts.help) { process.stdout.write(USAGE); return 0 }
  if (opts.version) { process.stdout.write(`${VERSION}\n`); return 0 }
  for (const w of opts.warnings) process.stderr.write(`peerline-supernode: warning: ${w}\n`)

  let sn: Supernode
  try {
    sn = await startSupernode({
      listen: opts.listen,
      bootstrap: opts.bootstrap,
      announce: opts.announce,
      ...(opts.dataDir != null ? { dataDir: opts.dataDir } : {}),
      health: opts.health,
      allowPrivateAddresses: !opts.publicOnly,
      ...(opts.ca != null ? { ca: opts.ca } : {})
    })
  } catch (err) {
    const e = err as Error
    process.stderr.write(`peerline-supernode: ${e.message}\n`)
    return e.name === 'InvalidMultiaddrError' || e.name === 'UsageError' || e.name === 'CaConfigError' ? 2 : 1
  }

  if (opts.json) {
    const ca = sn.ca != null ? { ca: sn.ca.ca, caCertFile: sn.ca.certFile } : {}
    process.stdout.write(JSON.stringify({ event: 'ready', peerId: sn.peerId, addrs: sn.addrs, health: sn.healthUrl ?? null, ...ca }) + '\n')
  } else {
    process.stdout.write([
      `Peerline supernode ${VERSION} ready`,
      `  peer id:  ${sn.peerId}`,
      ...sn.addrs.map(a => `  address:  ${a}`),
      `  health:   ${sn.healthUrl ?? 'off'}`,
      ...(sn.ca != null
        ? [
            `  CA:       "${sn.ca.ca.name}", key ${sn.ca.ca.key}`,
            `            certificate for users to trust: ${sn.ca.certFile}`,
            `            ${JSON.stringify(sn.ca.ca)}`
          ]
        : []),
      '  Give an address above to clients and other supernodes as --bootstrap.',
      ''
    ].join('\n'))
  }

  await new Promise<void>(resolve => {
    const shutdown = (signal: string): void => {
      process.stderr.write(`peerline-supernode: ${signal}, shutting down\n`)
      unrefTimer(setTimeout(() => { process.exit(1) }, 10_000))
      sn.stop().then(resolve, (err: Error) => {
        process.stderr.write(`peerline-supernode: shutdown error: ${err.message}\n`)
        resolve()
      })
    }
    process.once('SIGINT', () => { shutdown('SIGINT') })
    process.once('SIGTERM', () => { shutdown('SIGTERM') })
  })
  return 0
}

if (import.meta.main === true) {
  main(process.argv.slice(2)).then(code => { process.exitCode = code }, err => {
    process.stderr.write(`peerline-supernode: ${(err as Error).stack ?? String(err)}\n`)
    process.exitCode = 1
  })
}
