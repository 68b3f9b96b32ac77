/**
 * In-process Peerline devices and hostile peers for integration tests.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Libp2p } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'
import { identityStore } from '../../shared/identity/index.ts'
import type { StoredIdentity } from '../../shared/identity/index.ts'
import { DHT_PROTOCOL, overlay } from '../../shared/overlay/index.ts'
import type { Overlay, OverlayInit } from '../../shared/overlay/index.ts'
import { memoryStorage } from '../../shared/store/kv.ts'
import { eventually } from './eventually.ts'

export async function newIdentity (email: string, displayName = email.split('@')[0] as string): Promise<StoredIdentity> {
  return identityStore(memoryStorage()).create({ email, displayName })
}

/** A started device with an identity, attached to the given supernodes. */
export async function startDevice (email: string, bootstrap: string[], init: Partial<OverlayInit> = {}): Promise<Overlay> {
  const identity = init.identity ?? await newIdentity(email)
  const o = overlay({ bootstrap, identity, webrtc: false, reconnect: { initialDelayMs: 200, maxDelayMs: 2_000 }, ...init })
  await o.start()
  await o.waitOnline({ signal: AbortSignal.timeout(15_000) })
  return o
}

/**
 * Waits until the device holds a circuit relay reservation (a /p2p-circuit
 * address): before that a publish would list no address others can dial.
 */
export async function relayReserved (o: Overlay, { what = 'relay reservation', timeoutMs = 20_000 } = {}): Promise<void> {
  await eventually(() => o.node.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit')), { timeoutMs, what })
}

/** A started device without identity yet (a browser before onboarding or pairing), reachable through a relay. */
export async function startBlankDevice (bootstrap: string[], init: Partial<OverlayInit> = {}, what = 'relay reservation'): Promise<Overlay> {
  const o = overlay({ bootstrap, webrtc: false, reconnect: { initialDelayMs: 200, maxDelayMs: 2_000 }, ...init })
  await o.start()
  await o.waitOnline({ signal: AbortSignal.timeout(15_000) })
  await relayReserved(o, { what })
  return o
}

/**
 * A peer that speaks Peerline's DHT protocol but accepts anything: the
 * stand-in for a malicious client (mode 'client') or a malicious supernode
 * that serves forged records (mode 'server').
 */
export async function startHostilePeer (mode: 'client' | 'server', datastore?: Datastore): Promise<Libp2p<{ dht: KadDHT }>> {
  const node = await createLibp2p({
    addresses: { listen: mode === 'server' ? ['/ip4/127.0.0.1/tcp/0/ws'] : [] },
    ...(datastore != null ? { datastore } : {}),
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: async () => false },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: mode === 'client',
        allowQueryWithZeroPeers: true,
        peerInfoMapper: passthroughMapper,
        validators: { peerline: async () => {} },
        selectors: { peerline: () => 0 }
      })
    }
  })
  return node as unknown as Libp2p<{ dht: KadDHT }>
}

export async function dialAll (node: Libp2p, addrs: string[]): Promise<void> {
  await Promise.all(addrs.map(async a => node.dial(multiaddr(a), { signal: AbortSignal.timeout(5_000) })))
}

/**
 * `count` hostile clients (startHostilePeer) connected to the supernode at
 * `addr`. libp2p accepts at most a few new connections per second from one
 * host, and every attacker here is on 127.0.0.1: they join one after the other.
 */
export async function joinHostileClients (count: number, addr: string): Promise<Array<Libp2p<{ dht: KadDHT }>>> {
  const attackers = []
  for (let a = 0; a < count; a++) {
    const attacker = await startHostilePeer('client')
    await attacker.start()
    await attacker.dial(multiaddr(addr))
    attackers.push(attacker)
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  return attackers
}
