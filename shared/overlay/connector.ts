/**
 * Keeps a device attached to supernodes.
 *
 * Dials every configured bootstrap address, remembers other supernodes it
 * learns about (peers that speak Peerline's DHT protocol in server mode), and
 * when a connection drops redials with exponential back-off (0.5 s doubling
 * to a 5 min cap) until TARGET_SUPERNODES are connected again. Dead
 * connections are found by libp2p's connection monitor (keep-alive pings).
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { backoff } from '../util/backoff.ts'
import type { Backoff } from '../util/backoff.ts'
import { logger } from '../util/logger.ts'
import { DHT_PROTOCOL, DIAL_TIMEOUT_MS, RECONNECT_INITIAL_MS, RECONNECT_MAX_MS, TARGET_SUPERNODES } from './constants.ts'
import { InvalidMultiaddrError } from './errors.ts'
import type { OverlayLibp2p } from './node.ts'

const log = logger('overlay:connector')

export interface ConnectorInit {
  bootstrap: string[]
  target?: number
  initialDelayMs?: number
  maxDelayMs?: number
}

interface Candidate {
  addr: Multiaddr
  peerId?: string
  backoff: Backoff
  timer?: ReturnType<typeof setTimeout>
  dialing: boolean
}

/** Parses a list of supernode addresses, naming the bad one in the error. */
export function parseSupernodeAddrs (addrs: string[]): Multiaddr[] {
  return addrs.map(a => {
    try {
      const ma = multiaddr(a)
      if (ma.getComponents().find(c => c.name === 'p2p') == null) {
        throw new Error('it has no /p2p/<peer id> part')
      }
      return ma
    } catch (err) {
      throw new InvalidMultiaddrError(`Supernode address "${a}" is not valid: ${(err as Error).message}`)
    }
  })
}

function peerIdOf (ma: Multiaddr): string | undefined {
  return ma.getComponents().findLast(c => c.name === 'p2p')?.value
}

export class SupernodeConnector {
  private readonly node: OverlayLibp2p
  private readonly candidates = new Map<string, Candidate>()
  private readonly target: number
  private readonly init: ConnectorInit
  private running = false
  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => { this.peerGone(evt.detail.toString()) }
  private readonly onIdentify = (evt: CustomEvent<{ peerId: PeerId, protocols: string[], listenAddrs: Multiaddr[] }>): void => {
    const { peerId, protocols, listenAddrs } = evt.detail
    if (!protocols.includes(DHT_PROTOCOL)) return
    // supernodes listen on a dialable (non-relay) address; devices do not
    const direct = listenAddrs.find(a => !a.toString().includes('/p2p-circuit') && !a.toString().includes('/webrtc'))
    if (direct == null) return
    const full = direct.toString().includes('/p2p/') ? direct : direct.encapsulate(`/p2p/${peerId.toString()}`)
    this.add(full)
  }

  constructor (node: OverlayLibp2p, init: ConnectorInit) {
    this.node = node
    this.init = init
    this.target = init.target ?? TARGET_SUPERNODES
    for (const ma of parseSupernodeAddrs(init.bootstrap)) this.add(ma)
  }

  /** Supernodes currently connected. */
  connected (): string[] {
    const peers = new Set(this.node.getPeers().map(p => p.toString()))
    return [...this.candidates.values()].map(c => c.peerId).filter((p): p is string => p != null && peers.has(p))
  }

  known (): string[] {
    return [...this.candidates.values()].map(c => c.addr.toString())
  }

  start (): void {
    this.running = true
    this.node.addEventListener('peer:disconnect', this.onDisconnect)
    this.node.addEventListener('peer:identify', this.onIdentify as any)
    // dial every bootstrap address at once: the first to answer makes us online
    for (const c of this.candidates.values()) this.dial(c)
  }

  stop (): void {
    this.running = false
    this.node.removeEventListener('peer:disconnect', this.onDisconnect)
    this.node.removeEventListener('peer:identify', this.onIdentify as any)
    for (const c of this.candidates.values()) clearTimeout(c.timer)
  }

  private add (addr: Multiaddr): void {
    const key = addr.toString()
    if (this.candidates.has(key)) return
    const peerId = peerIdOf(addr)
    if (peerId != null && [...this.candidates.values()].some(c => c.peerId === peerId)) return
    const c: Candidate = {
      addr,
      ...(peerId != null ? { peerId } : {}),
      backoff: backoff({ initialMs: this.init.initialDelayMs ?? RECONNECT_INITIAL_MS, maxMs: this.init.maxDelayMs ?? RECONNECT_MAX_MS }),
      dialing: false
    }
    this.candidates.set(key, c)
    log('learned supernode %s', key)
    if (this.running) this.topUp()
  }

  private peerGone (peerId: string): void {
    if (!this.running) return
    const c = [...this.candidates.values()].find(c => c.peerId === peerId)
    if (c == null) return
    log('supernode %s disconnected', peerId)
    this.schedule(c)
    this.topUp()
  }

  /** When fewer than `target` supernodes are up, dial the next idle candidates. */
  private topUp (): void {
    if (!this.running) return
    let missing = this.target - this.connected().length
    for (const c of this.candidates.values()) {
      if (missing <= 0) break
      if (c.dialing || c.timer != null || this.isConnected(c)) continue
      this.dial(c)
      missing--
    }
  }

  private isConnected (c: Candidate): boolean {
    return c.peerId != null && this.node.getConnections().some(conn => conn.remotePeer.toString() === c.peerId && conn.status === 'open')
  }

  private schedule (c: Candidate): void {
    if (!this.running || c.timer != null) return
    const delay = c.backoff.next()
    log('redialling %s in %d ms (attempt %d)', c.addr.toString(), delay, c.backoff.attempts)
    c.timer = setTimeout(() => {
      c.timer = undefined
      this.dial(c)
    }, delay)
  }

  private dial (c: Candidate): void {
    if (!this.running || c.dialing) return
    c.dialing = true
    this.node.dial(c.addr, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
      .then(conn => {
        c.peerId = conn.remotePeer.toString()
        c.backoff.reset()
        log('connected to supernode %s', c.addr.toString())
      })
      .catch(err => {
        log('dial %s failed: %s', c.addr.toString(), (err as Error).message)
        this.schedule(c)
      })
      .finally(() => { c.dialing = false })
  }
}
