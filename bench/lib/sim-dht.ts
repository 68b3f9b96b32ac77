/**
 * Thousands of Peerline supernodes in one process: each is a real kad-dht
 * (@libp2p/kad-dht: routing table, query manager, RPC handlers, content
 * fetching) with Peerline's protocol id, record validator and selector and
 * the supernode's stale-record guard, wired to hand-made libp2p components.
 * Only the parts below the DHT are simulated: a registrar, a connection
 * manager that opens in-memory streams (./memory-stream.ts), a peer store in
 * a Map, and ping as a liveness check. Nothing touches the network.
 *
 * ```ts
 * const net = new SimNetwork()
 * const a = await net.addNode()
 * const b = await net.addNode()
 * net.connect(a, b)                 // "dial + identify": both routing tables learn the other
 * await net.stopAll()
 * ```
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { NotFoundError } from '@libp2p/interface'
import type {
  AbortOptions, Connection, Libp2pEvents, PeerId, PeerInfo, Peer, PeerData, PeerQuery, PeerStore, Stream, StreamHandler, Topology
} from '@libp2p/interface'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import type { KadDHT, KadDHTComponents, KadDHTInit } from '@libp2p/kad-dht'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { sha256 } from '@noble/hashes/sha2.js'
import type { Multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core/memory'
import { TypedEventEmitter } from 'main-event'
import { ANY_ISSUER, DHT_PROTOCOL, RECORD_NAMESPACE, selectLocationValue, validateLocationValue } from '../../shared/overlay/index.ts'

/** the supernodes' rule: any issuer is stored, each reader judges the issuer itself */
const SUPERNODE_RECORD_OPTIONS = { certificate: ANY_ISSUER }
import { guardRecords, RecordStats } from '../../supernode/records.ts'
import { memoryStreamPair, SILENT_LOGGER } from './memory-stream.ts'

export class SimDialError extends Error {
  static override name = 'SimDialError'
  override name = 'SimDialError'
  constructor (message = 'The simulated peer is stopped or unknown') { super(message) }
}

export class SimProtocolError extends Error {
  static override name = 'SimProtocolError'
  override name = 'SimProtocolError'
  constructor (message = 'The simulated peer does not handle this protocol') { super(message) }
}

/**
 * Peerline's record checks as kad-dht validator and selector.
 *
 * With `memoize`, a result is remembered per (key, bytes) for the whole
 * process, and the selector looks at each distinct value once. In a real
 * overlay each of these checks runs on a different machine, in parallel; in
 * one process 20 replicas × 2 checks × 5 000 nodes would measure Ed25519 in
 * JavaScript rather than the DHT. The first check of every distinct record
 * still runs validateLocationValue / selectLocationValue in full.
 */
export interface RecordChecks {
  validate: (key: Uint8Array, value: Uint8Array) => Promise<void>
  select: (key: Uint8Array, records: Uint8Array[]) => number
  /** full validateLocationValue runs (cache misses) */
  fullChecks: number
  cacheHits: number
}

export function recordChecks (init: { memoize: boolean }): RecordChecks {
  const verdicts = new Map<string, Error | null>()
  const choices = new Map<string, number>()
  const id = (key: Uint8Array, value: Uint8Array): string => `${Buffer.from(key).toString('latin1')}\n${Buffer.from(value).toString('base64')}`
  const checks: RecordChecks = {
    fullChecks: 0,
    cacheHits: 0,
    validate: async (key, value) => {
      if (!init.memoize) {
        checks.fullChecks++
        validateLocationValue(key, value, SUPERNODE_RECORD_OPTIONS)
        return
      }
      const k = id(key, value)
      let verdict = verdicts.get(k)
      if (verdict === undefined) {
        checks.fullChecks++
        try {
          validateLocationValue(key, value, SUPERNODE_RECORD_OPTIONS)
          verdict = null
        } catch (err) {
          verdict = err as Error
        }
        verdicts.set(k, verdict)
      } else {
        checks.cacheHits++
      }
      if (verdict != null) throw verdict
    },
    select: (key, records) => {
      if (!init.memoize) return selectLocationValue(key, records, SUPERNODE_RECORD_OPTIONS)
      // replicas usually hold identical bytes: choose among the distinct values
      const distinct: Uint8Array[] = []
      const firstIndex: number[] = []
      const seen = new Map<string, number>()
      records.forEach((r, i) => {
        const k = Buffer.from(r).toString('base64')
        if (!seen.has(k)) {
          seen.set(k, distinct.length)
          distinct.push(r)
          firstIndex.push(i)
        }
      })
      const k = `${Buffer.from(key).toString('latin1')}\n${[...seen.keys()].join('\n')}`
      let choice = choices.get(k)
      if (choice === undefined) {
        checks.fullChecks += distinct.length
        choice = selectLocationValue(key, distinct, SUPERNODE_RECORD_OPTIONS)
        choices.set(k, choice)
      } else {
        checks.cacheHits++
      }
      return firstIndex[choice] ?? 0
    }
  }
  return checks
}

/** The peer store a libp2p node keeps, reduced to what kad-dht reads and writes. */
/**
 * A cheap map key for a peer id: its multihash bytes as a latin1 string.
 * PeerId.toString() base58-encodes every time on the fresh PeerId objects
 * kad-dht decodes from each message, which dominated the profile.
 */
export function peerKey (id: PeerId): string {
  return Buffer.from(id.toMultihash().bytes).toString('latin1')
}

export class MemoryPeerStore {
  private readonly peers = new Map<string, Peer>()
  private readonly directory?: (id: PeerId) => PeerInfo | undefined

  /**
   * `directory` answers getInfo() for peers put straight into the routing
   * table (SimNetwork.seedSteadyState): a node that holds a contact knows
   * its address.
   */
  constructor (directory?: (id: PeerId) => PeerInfo | undefined) {
    this.directory = directory
  }

  get size (): number { return this.peers.size }

  async has (id: PeerId): Promise<boolean> { return this.peers.has(peerKey(id)) }

  async get (id: PeerId): Promise<Peer> {
    const p = this.peers.get(peerKey(id))
    if (p == null) throw new NotFoundError('Peer not found')
    return p
  }

  async getInfo (id: PeerId): Promise<PeerInfo> {
    const p = this.peers.get(peerKey(id))
    if (p != null) return { id: p.id, multiaddrs: p.addresses.map(a => a.multiaddr) }
    const known = this.directory?.(id)
    if (known == null) throw new NotFoundError('Peer not found')
    return known
  }

  async all (query: PeerQuery = {}): Promise<Peer[]> {
    let out = [...this.peers.values()]
    for (const f of query.filters ?? []) out = out.filter(f)
    return query.limit != null ? out.slice(0, query.limit) : out
  }

  async forEach (fn: (peer: Peer) => void, query?: PeerQuery): Promise<void> {
    for (const p of await this.all(query)) fn(p)
  }

  async delete (id: PeerId): Promise<void> { this.peers.delete(peerKey(id)) }

  /** Synchronous body on purpose: the peer is known before the caller's next await. */
  async merge (id: PeerId, data: PeerData): Promise<Peer> {
    const key = peerKey(id)
    let p = this.peers.get(key)
    if (p == null) {
      p = { id, addresses: [], protocols: [], metadata: new Map(), tags: new Map() }
      this.peers.set(key, p)
    }
    for (const ma of data.multiaddrs ?? []) {
      if (!p.addresses.some(a => a.multiaddr.equals(ma))) p.addresses.push({ multiaddr: ma, isCertified: false })
    }
    for (const proto of data.protocols ?? []) if (!p.protocols.includes(proto)) p.protocols.push(proto)
    for (const [name, tag] of Object.entries(data.tags ?? {})) {
      if (tag == null) p.tags.delete(name)
      else p.tags.set(name, { value: tag.value ?? 0 })
    }
    return p
  }

  async patch (id: PeerId, data: PeerData): Promise<Peer> { return this.merge(id, data) }
  async save (id: PeerId, data: PeerData): Promise<Peer> { return this.merge(id, data) }
  async consumePeerRecord (): Promise<boolean> { return false }
}

/** Protocol handlers and topologies of one simulated node. */
export class SimRegistrar {
  readonly handlers = new Map<string, StreamHandler>()
  private readonly topologies = new Map<string, { protocol: string, topology: Topology }>()
  private nextId = 0

  getProtocols (): string[] { return [...this.handlers.keys()] }

  async handle (protocol: string, handler: StreamHandler): Promise<void> { this.handlers.set(protocol, handler) }

  async unhandle (protocol: string): Promise<void> { this.handlers.delete(protocol) }

  async register (protocol: string, topology: Topology): Promise<string> {
    const id = `topology-${this.nextId++}`
    this.topologies.set(id, { protocol, topology })
    return id
  }

  unregister (id: string): void { this.topologies.delete(id) }

  /** What libp2p does once identify has told us a peer's protocols. */
  notifyConnect (peerId: PeerId, peerProtocols: string[], connection: Connection): void {
    for (const { protocol, topology } of this.topologies.values()) {
      if (!peerProtocols.includes(protocol)) continue
      Promise.resolve(topology.onConnect?.(peerId, connection)).catch(() => {})
    }
  }
}

export interface SimNode {
  index: number
  peerId: PeerId
  addr: Multiaddr
  peerStore: MemoryPeerStore
  registrar: SimRegistrar
  dht: KadDHT
  /** indices of nodes this one has a (simulated) connection to */
  connections: Set<number>
  /** the connection object other nodes see when this node opens a stream to them */
  asRemote: Connection
  alive: boolean
}

export interface SimNetworkInit {
  /** delay of every stream message; 0 delivers on the next event-loop turn */
  latencyMs?: number
  /** memoize record checks across nodes (see recordChecks) */
  memoizeRecordChecks?: boolean
  /** extra kad-dht settings, on top of Peerline's supernode configuration */
  kad?: Partial<KadDHTInit>
}

export interface SimStats {
  /** streams opened (one per RPC, as kad-dht does) */
  streams: number
  /** liveness checks kad-dht made before adding or keeping a routing-table contact */
  pings: number
  /** dials to stopped peers */
  refused: number
  connections: number
}

/** kad-dht's routing table shape: a trie split up to 6 prefix bits, 20 contacts a bucket (PREFIX_LENGTH, KBUCKET_SIZE). */
export const KAD_PREFIX_LENGTH = 6
export const KAD_BUCKET_SIZE = 20

export interface Contact { peerId: PeerId, kadId: Uint8Array, lastPing: number }

/** kad-dht's k-bucket trie node: a leaf has `peers`, an inner node `left`/`right`; the root keeps no prefix or depth. */
export interface TrieBucket { prefix?: string, depth?: number, peers?: Contact[], left?: TrieBucket, right?: TrieBucket }

interface KBucketInternals {
  root: TrieBucket
  onAdd?: unknown
  _add: (contact: Contact, options: AbortOptions) => Promise<void>
}

export function kbucketOf (node: SimNode): KBucketInternals {
  return (node.dht as unknown as { routingTable: { kb: KBucketInternals } }).routingTable.kb
}

function bit (kadId: Uint8Array, index: number): number {
  return ((kadId[index >> 3] as number) >> (7 - (index & 7))) & 1
}

/**
 * The trie KBucket ends with after `offers` arrive in this order: a bucket
 * with more than 20 offers in its range split (when the 21st arrived) unless
 * 6 bits deep, where the first 20 stay.
 */
export function buildTrie (offers: Contact[]): TrieBucket {
  const build = (items: Contact[], depth: number, prefix: string): TrieBucket => {
    if (items.length <= KAD_BUCKET_SIZE || depth >= KAD_PREFIX_LENGTH) {
      return { prefix, depth, peers: items.slice(0, KAD_BUCKET_SIZE) }
    }
    return {
      prefix,
      depth,
      left: build(items.filter(c => bit(c.kadId, depth) === 0), depth + 1, '0'),
      right: build(items.filter(c => bit(c.kadId, depth) === 1), depth + 1, '1')
    }
  }
  const root = build(offers, 0, '')
  if (root.peers == null) {
    delete root.prefix
    delete root.depth
  }
  return root
}

function shuffle<T> (items: T[], random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const t = items[i] as T
    items[i] = items[j] as T
    items[j] = t
  }
}

function fakeConnection (remotePeer: PeerId, remoteAddr: Multiaddr): Connection {
  return { id: `sim-${remotePeer.toString()}`, remotePeer, remoteAddr, status: 'open', direction: 'outbound', streams: [] } as unknown as Connection
}

const ONE_HOUR = 60 * 60_000

export class SimNetwork {
  readonly nodes: SimNode[] = []
  readonly checks: RecordChecks
  readonly stats: SimStats = { streams: 0, pings: 0, refused: 0, connections: 0 }
  private readonly byId = new Map<string, SimNode>()
  private readonly latencyMs: number
  private readonly kad: Partial<KadDHTInit>

  constructor (init: SimNetworkInit = {}) {
    this.latencyMs = init.latencyMs ?? 0
    this.kad = init.kad ?? {}
    this.checks = recordChecks({ memoize: init.memoizeRecordChecks ?? true })
  }

  get aliveNodes (): SimNode[] { return this.nodes.filter(n => n.alive) }

  nodeOf (peerId: PeerId): SimNode | undefined { return this.byId.get(peerKey(peerId)) }

  /** Creates and starts one supernode-mode DHT node with an empty routing table. */
  async addNode (): Promise<SimNode> {
    const index = this.nodes.length
    const privateKey = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(privateKey)
    // a made-up but well-formed address: kad-dht passes peers around with their addresses
    const addr = multiaddr(`/ip4/127.0.0.1/tcp/${10_000 + index}/ws/p2p/${peerId.toString()}`)
    const listenAddr = multiaddr(`/ip4/127.0.0.1/tcp/${10_000 + index}/ws`)
    const peerStore = new MemoryPeerStore(id => {
      const n = this.byId.get(peerKey(id))
      return n == null ? undefined : { id: n.peerId, multiaddrs: [n.addr] }
    })
    const registrar = new SimRegistrar()
    const node = { index, peerId, addr: listenAddr, peerStore, registrar, connections: new Set<number>(), asRemote: fakeConnection(peerId, listenAddr), alive: true } as SimNode
    const components = {
      peerId,
      privateKey,
      registrar,
      peerStore: peerStore as unknown as PeerStore,
      addressManager: { getAddresses: () => [addr] },
      connectionManager: {
        openStream: async (to: PeerId, protocol: string, options?: AbortOptions) => this.openStream(node, to, protocol, options),
        isDialable: async (addrs: Multiaddr[]) => addrs.length > 0,
        getConnections: () => []
      },
      datastore: guardRecords(new MemoryDatastore(), new RecordStats(), { recordOptions: SUPERNODE_RECORD_OPTIONS }),
      events: new TypedEventEmitter<Libp2pEvents>(),
      logger: { forComponent: () => SILENT_LOGGER },
      ping: { ping: async (to: PeerId, options?: AbortOptions) => this.ping(node, to, options) }
    }
    node.dht = kadDHT({
      // as createOverlayNode configures a supernode (shared/overlay/node.ts)
      protocol: DHT_PROTOCOL,
      clientMode: false,
      validators: { [RECORD_NAMESPACE]: this.checks.validate },
      selectors: { [RECORD_NAMESPACE]: this.checks.select },
      peerInfoMapper: passthroughMapper,
      allowQueryWithZeroPeers: true,
      // joins are driven by the benchmark (one explicit self-lookup each), not by timers
      initialQuerySelfInterval: ONE_HOUR,
      querySelfInterval: ONE_HOUR,
      ...this.kad
    })(components as unknown as KadDHTComponents)
    // libp2p's peer discovery: peers kad-dht hears about are remembered with their addresses
    ;(node.dht as unknown as TypedEventEmitter<{ peer: CustomEvent<PeerInfo> }>).addEventListener('peer', evt => {
      void peerStore.merge(evt.detail.id, { multiaddrs: evt.detail.multiaddrs })
    })
    this.nodes.push(node)
    this.byId.set(peerKey(peerId), node)
    await (node.dht as unknown as { start: () => Promise<void> }).start()
    // The routing table's ClosestPeers tagger marks the 20 closest peers
    // "keep-alive" for libp2p's connection manager every 5 s. There is no
    // connection manager here, and thousands of nodes doing it would eat the
    // CPU; kad-dht offers no setting for it, so it is stopped.
    ;(node.dht as unknown as { routingTable: { closestPeerTagger: { stop: () => void } } }).routingTable.closestPeerTagger.stop()
    return node
  }

  /**
   * A connection between two nodes, as libp2p sets one up: identify tells
   * each side the other's addresses and protocols, then topologies (kad-dht's
   * among them) hear of the peer. Idempotent; connections are never pruned.
   */
  connect (a: SimNode, b: SimNode): void {
    if (a === b || a.connections.has(b.index) || !a.alive || !b.alive) return
    a.connections.add(b.index)
    b.connections.add(a.index)
    this.stats.connections++
    const aProtocols = a.registrar.getProtocols()
    const bProtocols = b.registrar.getProtocols()
    void a.peerStore.merge(b.peerId, { multiaddrs: [b.addr], protocols: bProtocols })
    void b.peerStore.merge(a.peerId, { multiaddrs: [a.addr], protocols: aProtocols })
    a.registrar.notifyConnect(b.peerId, bProtocols, b.asRemote)
    b.registrar.notifyConnect(a.peerId, aProtocols, a.asRemote)
  }

  private reachable (to: PeerId): SimNode {
    const node = this.byId.get(peerKey(to))
    if (node == null || !node.alive) {
      this.stats.refused++
      throw new SimDialError(`${to.toString()} refused the connection (stopped)`)
    }
    return node
  }

  private async openStream (from: SimNode, to: PeerId, protocol: string, options?: AbortOptions): Promise<Stream> {
    options?.signal?.throwIfAborted()
    const target = this.reachable(to)
    this.connect(from, target)
    const handler = target.registrar.handlers.get(protocol)
    if (handler == null) throw new SimProtocolError(`${to.toString()} does not handle ${protocol}`)
    const [outbound, inbound] = memoryStreamPair(protocol, this.latencyMs)
    this.stats.streams++
    Promise.resolve()
      .then(async () => { await handler(inbound as unknown as Stream, from.asRemote) })
      .catch(err => { inbound.abort(err as Error) })
    return outbound as unknown as Stream
  }

  private async ping (from: SimNode, to: PeerId, options?: AbortOptions): Promise<number> {
    options?.signal?.throwIfAborted()
    this.stats.pings++
    const target = this.reachable(to)
    this.connect(from, target)
    await new Promise(resolve => setImmediate(resolve))
    return 0
  }

  /**
   * Routing tables as a long-running overlay has them, built directly instead
   * of by joins: every node's k-bucket trie holds what kad-dht's KBucket keeps
   * after having been offered, in random order, up to 20 random nodes of each
   * 6-bit kad-id prefix (all nodes below ~1 300): a bucket splits when a
   * 21st contact arrives, up to 6 prefix bits; at 6 bits a full bucket keeps
   * its first 20. Contacts count as recently pinged, as those of a busy node are.
   *
   * The trie is assembled in one pass (buildTrie) rather than by 6 million
   * KBucket._add calls, which base2-encode every id and took 90 s for 5 000
   * nodes; `verifyTrie` checks a sample against KBucket's own add path.
   */
  async seedSteadyState (random: () => number): Promise<void> {
    const now = Date.now()
    const contacts = this.nodes.filter(n => n.alive).map(n => ({
      index: n.index,
      contact: { peerId: n.peerId, kadId: sha256(n.peerId.toMultihash().bytes), lastPing: now }
    }))
    const groups: Array<typeof contacts> = Array.from({ length: 2 ** KAD_PREFIX_LENGTH }, () => [])
    for (const c of contacts) groups[(c.contact.kadId[0] as number) >> (8 - KAD_PREFIX_LENGTH)]?.push(c)
    for (const node of this.nodes) {
      if (!node.alive) continue
      const offers: Contact[] = []
      for (const group of groups) {
        const others = group.filter(c => c.index !== node.index)
        shuffle(others, random)
        for (const c of others.slice(0, KAD_BUCKET_SIZE)) offers.push(c.contact)
      }
      shuffle(offers, random)
      kbucketOf(node).root = buildTrie(offers)
    }
  }

  /** Builds `offers` into a fresh node's KBucket with kad-dht's own add path, for comparison with buildTrie. */
  async offerThroughKBucket (node: SimNode, offers: Contact[]): Promise<void> {
    const kb = kbucketOf(node)
    // onAdd only tags the peer for libp2p's connection manager (absent here)
    const onAdd = kb.onAdd
    kb.onAdd = undefined
    try {
      for (const c of offers) await kb._add(c, {})
    } finally {
      kb.onAdd = onAdd
    }
  }

  /** Stops a node as a crash would: it answers nothing from now on and republishes nothing. */
  async stopNode (node: SimNode): Promise<void> {
    if (!node.alive) return
    node.alive = false
    for (const i of node.connections) this.nodes[i]?.connections.delete(node.index)
    node.connections.clear()
    await (node.dht as unknown as { stop: () => Promise<void> }).stop()
  }

  async stopAll (): Promise<void> {
    for (const n of this.nodes) await this.stopNode(n)
  }
}
