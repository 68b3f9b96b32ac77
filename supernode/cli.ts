/**
 * `peerline-supernode`: run a supernode anyone can offer to the network.
 *
 *   peerline-supernode --listen /ip4/0.0.0.0/tcp/9001/ws \
 *     --bootstrap /dns4/sn1.example.org/tcp/9001/wss/p2p/12D3… \
 *     --data-dir /var/lib/peerline --health 127.0.0.1:9002
 */
import { parseArgs } from 'node:util'
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
  help: boolean
  version: boolean
}

export function parseCli (argv: string[]): CliOptions {
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
  return {
    listen: v.listen ?? ['/ip4/0.0.0.0/tcp/9001/ws'],
    bootstrap: v.bootstrap ?? [],
    announce: v.announce ?? [],
    ...(v['data-dir'] != null ? { dataDir: v['data-dir'] } : {}),
    health: v.health === 'off' ? null : (v.health ?? '127.0.0.1:9002'),
    publicOnly: v['public-only'] ?? false,
    json: v.json ?? false,
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

  let sn: Supernode
  try {
    sn = await startSupernode({
      listen: opts.listen,
      bootstrap: opts.bootstrap,
      announce: opts.announce,
      ...(opts.dataDir != null ? { dataDir: opts.dataDir } : {}),
      health: opts.health,
      allowPrivateAddresses: !opts.publicOnly
    })
  } catch (err) {
    const e = err as Error
    process.stderr.write(`peerline-supernode: ${e.message}\n`)
    return e.name === 'InvalidMultiaddrError' || e.name === 'UsageError' ? 2 : 1
  }

  if (opts.json) {
    process.stdout.write(JSON.stringify({ event: 'ready', peerId: sn.peerId, addrs: sn.addrs, health: sn.healthUrl ?? null }) + '\n')
  } else {
    process.stdout.write([
      `Peerline supernode ${VERSION} ready`,
      `  peer id:  ${sn.peerId}`,
      ...sn.addrs.map(a => `  address:  ${a}`),
      `  health:   ${sn.healthUrl ?? 'off'}`,
      '  Give an address above to clients and other supernodes as --bootstrap.',
      ''
    ].join('\n'))
  }

  await new Promise<void>(resolve => {
    const shutdown = (signal: string): void => {
      process.stderr.write(`peerline-supernode: ${signal}, shutting down\n`)
      const force = setTimeout(() => { process.exit(1) }, 10_000)
      force.unref()
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
