/**
 * A Peerline supernode: kad-dht server for Peerline's private DHT, circuit
 * relay for devices behind NAT, bootstrap peer, and a /health endpoint.
 *
 * ```ts
 * const sn = await startSupernode({ listen: ['/ip4/0.0.0.0/tcp/9001/ws'], dataDir: '/var/lib/peerline' })
 * console.info(sn.addrs)   // give these to clients as bootstrap addresses
 * await sn.stop()
 * ```
 */
import { mkdir, readFile, writeFile, rename, access, constants as fsConstants } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core/memory'
import { FsDatastore } from 'datastore-fs'
import type { PrivateKey } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'
import {
  createOverlayNode, SupernodeConnector, ANY_ISSUER, RECORD_SWEEP_INTERVAL_MS, InvalidMultiaddrError, DHT_PROTOCOL,
  DHT_RATE_BURST, DHT_RATE_PER_SECOND, RELAY_RATE_BURST, RELAY_RATE_PER_SECOND
} from '../shared/overlay/index.ts'
import type { OverlayLibp2p } from '../shared/overlay/index.ts'
import { CA_PROTOCOL } from '../shared/identity/index.ts'
import { unrefTimer } from '../shared/util/async.ts'
import { logger } from '../shared/util/logger.ts'
import { startCa } from './ca.ts'
import type { CaHealth, CaInit, CertificateAuthority } from './ca.ts'
import { PeerRateLimiter } from './rate-limit.ts'
import type { RateLimit } from './rate-limit.ts'
import { guardRecords, RecordStats, sweepRecords } from './records.ts'
import { VERSION } from './version.ts'

const log = logger('supernode')

export interface SupernodeInit {
  listen: string[]
  bootstrap?: string[]
  announce?: string[]
  /** keeps the peer key and stored records across restarts; in memory when absent */
  dataDir?: string
  /** host:port for the /health endpoint; port 0 picks a free one; null disables it */
  health?: string | null
  /** keep private/loopback addresses (LAN and local deployments); default true */
  allowPrivateAddresses?: boolean
  sweepIntervalMs?: number
  /** per-peer limits on DHT requests and relay (HOP) streams */
  rateLimits?: { dht?: RateLimit, relay?: RateLimit, ca?: RateLimit }
  /** run the email-verifying CA (off when absent) */
  ca?: CaInit
}

/**
 * Supernodes store records for clients that each trust their own CAs, so they
 * check the certificate's signature by the issuer it names, not trust in it.
 * One object, so record.ts caches verified records per trust setting.
 */
const SUPERNODE_RECORD_OPTIONS = { certificate: ANY_ISSUER }

/** CA streams per peer: a verification takes two (request, confirm) plus a few info queries and retries. */
const CA_RATE_PER_SECOND = 0.2
const CA_RATE_BURST = 10

export interface Health {
  status: 'ok'
  version: string
  peerId: string
  uptimeSeconds: number
  connectedPeers: number
  supernodePeers: number
  /** addresses with live claims */
  storedRecords: number
  /** live claims (one per identity key and address) */
  storedClaims: number
  /** claims evicted to make room for another identity's since start */
  evictedClaims: number
  relayReservations: number
  rejectedRecords: Record<string, number>
  /** streams refused by the per-peer rate limits, by protocol */
  rateLimited: Record<string, number>
  /** streams let through the per-peer rate limits, by protocol */
  rateAllowed: Record<string, number>
  memory: { rssMiB: number, heapUsedMiB: number }
  addrs: string[]
  /** the email-verifying CA's counters, when it runs */
  ca?: CaHealth
}

export class SupernodeStartError extends Error {
  static override name = 'SupernodeStartError'
  override name = 'SupernodeStartError'
}

export interface Supernode {
  node: OverlayLibp2p
  peerId: string
  /** full multiaddrs (with /p2p/<id>) clients use as bootstrap addresses */
  addrs: string[]
  healthUrl?: string
  stats: RecordStats
  /** the email-verifying CA, when enabled */
  ca?: CertificateAuthority
  health: () => Promise<Health>
  stop: () => Promise<void>
}

/**
 * libp2p 3.3's Connection appends the protocol handler to the array the
 * registrar keeps for a protocol's middleware, so with any middleware
 * registered every later stream would run every earlier handler again.
 * Handing out a copy keeps the registrar's list as registered.
 */
function copyMiddlewareLists (node: OverlayLibp2p): void {
  const registrar = (node as unknown as { components?: { registrar?: { getMiddleware?: (p: string) => unknown[] } } }).components?.registrar
  const original = registrar?.getMiddleware?.bind(registrar)
  if (registrar == null || original == null) return
  registrar.getMiddleware = (protocol: string) => [...original(protocol)]
}

function memory (): { rssMiB: number, heapUsedMiB: number } {
  const m = process.memoryUsage()
  return { rssMiB: Math.round(m.rss / 2 ** 20), heapUsedMiB: Math.round(m.heapUsed / 2 ** 20) }
}

async function loadOrCreateKey (dataDir: string | undefined): Promise<PrivateKey> {
  if (dataDir == null) return generateKeyPair('Ed25519')
  const file = join(dataDir, 'peer-key')
  try {
    return privateKeyFromProtobuf(await readFile(file))
  } catch (err: any) {
    if (err.code !== 'ENOENT') throw new SupernodeStartError(`Cannot read the peer key ${file}: ${err.message}`)
  }
  const key = await generateKeyPair('Ed25519')
  await writeFile(`${file}.tmp`, privateKeyToProtobuf(key), { mode: 0o600 })
  await rename(`${file}.tmp`, file)
  return key
}

async function prepareDataDir (dataDir: string): Promise<void> {
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 })
    await access(dataDir, fsConstants.W_OK | fsConstants.R_OK)
    const probe = join(dataDir, '.write-test')
    await writeFile(probe, '')
  } catch (err: any) {
    throw new SupernodeStartError(`--data-dir ${dataDir} is not a writable directory: ${err.code ?? err.message}`)
  }
}

function checkAddrs (flag: string, addrs: string[]): void {
  for (const a of addrs) {
    try {
      multiaddr(a)
    } catch (err) {
      throw new InvalidMultiaddrError(`${flag} "${a}" is not a valid multiaddr: ${(err as Error).message}`)
    }
  }
}

function parseHostPort (value: string): { host: string, port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(value)
  if (m == null || Number(m[2]) > 65535) throw new SupernodeStartError(`--health "${value}" must be host:port`)
  return { host: m[1] as string, port: Number(m[2]) }
}

export async function startSupernode (init: SupernodeInit): Promise<Supernode> {
  checkAddrs('--listen', init.listen)
  checkAddrs('--bootstrap', init.bootstrap ?? [])
  checkAddrs('--announce', init.announce ?? [])
  const healthAddr = init.health === null ? undefined : parseHostPort(init.health ?? '127.0.0.1:0')
  if (init.dataDir != null) await prepareDataDir(init.dataDir)
  const ca = init.ca != null ? await startCa(init.ca) : undefined

  const privateKey = await loadOrCreateKey(init.dataDir)
  let base: Datastore
  if (init.dataDir != null) {
    const fsStore = new FsDatastore(join(init.dataDir, 'datastore'))
    await fsStore.open()
    base = fsStore
  } else {
    base = new MemoryDatastore()
  }
  const stats = new RecordStats()
  const datastore = guardRecords(base, stats, { recordOptions: SUPERNODE_RECORD_OPTIONS })
  const node = await createOverlayNode({
    mode: 'server',
    privateKey,
    datastore,
    listen: init.listen,
    ...(init.announce != null ? { announce: init.announce } : {}),
    publicOnly: init.allowPrivateAddresses === false,
    recordOptions: SUPERNODE_RECORD_OPTIONS,
    onRecordRejected: (_key, err) => { stats.reject(err.name) }
  })
  const limiter = new PeerRateLimiter()
  copyMiddlewareLists(node)
  node.use(DHT_PROTOCOL, limiter.middleware('dht', init.rateLimits?.dht ?? { ratePerSecond: DHT_RATE_PER_SECOND, burst: DHT_RATE_BURST }))
  node.use('/libp2p/circuit/relay/0.2.0/hop', limiter.middleware('relay', init.rateLimits?.relay ?? { ratePerSecond: RELAY_RATE_PER_SECOND, burst: RELAY_RATE_BURST }))
  if (ca != null) node.use(CA_PROTOCOL, limiter.middleware('ca', init.rateLimits?.ca ?? { ratePerSecond: CA_RATE_PER_SECOND, burst: CA_RATE_BURST }))
  try {
    await node.start()
    if (ca != null) await node.handle(CA_PROTOCOL, ca.handler)
    // kad-dht waits to learn it is publicly dialable before serving; a
    // supernode is a server by definition (and on a LAN it never would learn)
    await node.services.dht.setMode('server')
  } catch (err: any) {
    await Promise.resolve(node.stop()).catch(() => {})
    await ca?.stop()
    if (err.code === 'EADDRINUSE' || /EADDRINUSE|address already in use/i.test(String(err.message))) {
      throw new SupernodeStartError(`Cannot listen on ${init.listen.join(', ')}: the port is already in use`)
    }
    throw new SupernodeStartError(`Cannot start the supernode: ${err.message}`)
  }

  // other supernodes: dialled with back-off, rediscovered through the DHT
  const connector = new SupernodeConnector(node, { bootstrap: init.bootstrap ?? [], target: Math.max(3, init.bootstrap?.length ?? 0) })
  connector.start()

  const started = Date.now()
  const addrs = node.getMultiaddrs().map(a => a.toString())
  const health = async (): Promise<Health> => ({
    status: 'ok',
    version: VERSION,
    peerId: node.peerId.toString(),
    uptimeSeconds: Math.round((Date.now() - started) / 1000),
    connectedPeers: node.getPeers().length,
    supernodePeers: connector.connected().length,
    storedRecords: await sweepRecords(base, stats),
    storedClaims: stats.claims,
    evictedClaims: stats.evicted,
    relayReservations: (node.services as any).relay?.reservations?.size ?? 0,
    rejectedRecords: { ...stats.rejected },
    rateLimited: { ...limiter.limited },
    rateAllowed: { ...limiter.allowed },
    memory: memory(),
    addrs: node.getMultiaddrs().map(a => a.toString()),
    ...(ca != null ? { ca: ca.health() } : {})
  })

  let server: Server | undefined
  let healthUrl: string | undefined
  if (healthAddr != null) {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x')
      if (req.method === 'GET' && (url.pathname === '/health' || url.pathname === '/health/')) {
        // ?gc=1 collects garbage first when Node runs with --expose-gc (fault drills measure memory)
        if (url.searchParams.get('gc') === '1') (globalThis as { gc?: () => void }).gc?.()
        health().then(h => {
          res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
          res.end(JSON.stringify(h, null, 2))
        }).catch(err => {
          res.writeHead(500, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ status: 'error', error: (err as Error).message }))
        })
        return
      }
      res.writeHead(404, { 'content-type': 'text/plain' })
      res.end('Not found: try /health\n')
    })
    try {
      await new Promise<void>((resolve, reject) => {
        server?.once('error', reject)
        server?.listen(healthAddr.port, healthAddr.host, () => { resolve() })
      })
    } catch (err: any) {
      connector.stop()
      await node.stop()
      await ca?.stop()
      throw new SupernodeStartError(err.code === 'EADDRINUSE'
        ? `Cannot serve /health on ${healthAddr.host}:${healthAddr.port}: the port is already in use`
        : `Cannot serve /health: ${err.message}`)
    }
    const a = server.address()
    if (a != null && typeof a === 'object') {
      healthUrl = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/health`
    }
  }

  const sweeper = unrefTimer(setInterval(() => {
    limiter.prune()
    sweepRecords(base, stats).catch(err => { log.error('sweep failed: %s', (err as Error).message) })
  }, init.sweepIntervalMs ?? RECORD_SWEEP_INTERVAL_MS))

  let stopping: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(sweeper)
      connector.stop()
      if (server != null) {
        server.closeAllConnections()
        await new Promise<void>(resolve => server?.close(() => { resolve() }))
      }
      await node.stop()
      await ca?.stop()
      if (base instanceof FsDatastore) await base.close()
      log('stopped')
    })()
    return stopping
  }

  log('started %s on %s', node.peerId.toString(), addrs.join(' '))
  return {
    node,
    peerId: node.peerId.toString(),
    addrs,
    ...(healthUrl != null ? { healthUrl } : {}),
    stats,
    ...(ca != null ? { ca } : {}),
    health,
    stop
  }
}
