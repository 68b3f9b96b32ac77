/**
 * One libp2p node factory for every Peerline device and supernode.
 *
 * - client (browser, Thunderbird, Node tools): WebSockets + WebRTC + circuit
 *   relay transport, kad-dht in client mode, relay reservations on supernodes.
 * - server (supernode): a WebSocket listener, circuit relay server and kad-dht
 *   in server mode.
 * Both speak Noise + Yamux, identify and ping, and Peerline's private DHT
 * protocol with its own record validator and selector.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p } from 'libp2p'
import type { Identify } from '@libp2p/identify'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Ping } from '@libp2p/ping'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'
import {
  DHT_PROTOCOL, KEEPALIVE_INTERVAL_MS, RECORD_NAMESPACE, RELAY_DATA_LIMIT_BYTES, RELAY_DURATION_LIMIT_MS,
  RELAY_MAX_RESERVATIONS, RELAY_RESERVATIONS, RELAY_RESERVATION_TTL_MS, DIAL_TIMEOUT_MS,
  SUPERNODE_CONNECTIONS_PER_HOST_PER_SECOND, SUPERNODE_MAX_CONNECTIONS, SUPERNODE_MAX_PENDING_CONNECTIONS
} from './constants.ts'
import { selectLocationValue, validateLocationValue } from './claims.ts'
import type { ValidateRecordOptions } from './record.ts'

export interface OverlayServices extends Record<string, unknown> {
  dht: KadDHT
  identify: Identify
  ping: Ping
}

export type OverlayLibp2p = Libp2p<OverlayServices>

export interface OverlayNodeInit {
  mode: 'client' | 'server'
  privateKey?: PrivateKey
  datastore?: Datastore
  /** server: multiaddrs to listen on, e.g. /ip4/0.0.0.0/tcp/9001/ws */
  listen?: string[]
  /** server: public addresses to advertise instead of the listen addresses */
  announce?: string[]
  /** client: add the WebRTC transport (direct device-to-device connections) */
  webrtc?: boolean
  /** RTCConfiguration-like ICE servers for the WebRTC transport */
  iceServers?: Array<{ urls: string | string[], username?: string, credential?: string }>
  /** record checks (trusted CAs); applied by the validator and the selector */
  recordOptions?: ValidateRecordOptions
  /** told each time the validator refuses a record: for health counters and precise lookup errors */
  onRecordRejected?: (key: Uint8Array, error: Error) => void
  /**
   * false on LAN-only and loopback deployments (tests, `npm start`): keep
   * private addresses in the DHT and allow dialling them.
   */
  publicOnly?: boolean
  relay?: {
    durationLimitMs?: number
    dataLimitBytes?: bigint
    maxReservations?: number
  }
}

/** Creates (does not start) a libp2p node configured for Peerline. */
export async function createOverlayNode (init: OverlayNodeInit): Promise<OverlayLibp2p> {
  const server = init.mode === 'server'
  const publicOnly = init.publicOnly ?? false
  const validate = (key: Uint8Array, value: Uint8Array): void => {
    try {
      // a value (one record, or a supernode's claims of several identities) is kept while one claim is valid
      validateLocationValue(key, value, init.recordOptions)
    } catch (err) {
      init.onRecordRejected?.(key, err as Error)
      throw err
    }
  }

  const transports: any[] = [webSockets(), circuitRelayTransport({ reservationCompletionTimeout: DIAL_TIMEOUT_MS * 2 })]
  if (!server && init.webrtc !== false) {
    transports.push(webRTC({ rtcConfiguration: { iceServers: init.iceServers ?? [] } }))
  }

  const listen = server
    ? (init.listen ?? ['/ip4/127.0.0.1/tcp/0/ws'])
    : [...Array.from({ length: RELAY_RESERVATIONS }, () => '/p2p-circuit'), ...(init.webrtc !== false ? ['/webrtc'] : [])]

  const services: Record<string, unknown> = {
    identify: identify({ runOnLimitedConnection: true }),
    ping: ping({ runOnLimitedConnection: true }),
    dht: kadDHT({
      protocol: DHT_PROTOCOL,
      clientMode: !server,
      validators: { [RECORD_NAMESPACE]: validate },
      selectors: { [RECORD_NAMESPACE]: (key, records) => selectLocationValue(key, records, init.recordOptions) },
      peerInfoMapper: publicOnly ? removePrivateAddressesMapper : passthroughMapper,
      // a small private DHT: start answering as soon as one peer is known
      initialQuerySelfInterval: 500,
      allowQueryWithZeroPeers: server
    })
  }
  if (server) {
    services.relay = circuitRelayServer({
      reservations: {
        maxReservations: init.relay?.maxReservations ?? RELAY_MAX_RESERVATIONS,
        reservationTtl: RELAY_RESERVATION_TTL_MS,
        applyDefaultLimit: true,
        defaultDurationLimit: init.relay?.durationLimitMs ?? RELAY_DURATION_LIMIT_MS,
        defaultDataLimit: init.relay?.dataLimitBytes ?? RELAY_DATA_LIMIT_BYTES
      }
    })
  }

  const node = await createLibp2p({
    start: false,
    ...(init.privateKey != null ? { privateKey: init.privateKey } : {}),
    ...(init.datastore != null ? { datastore: init.datastore } : {}),
    addresses: {
      listen,
      ...(init.announce != null && init.announce.length > 0 ? { announce: init.announce } : {})
    },
    transports,
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: publicOnly ? {} : { denyDialMultiaddr: async () => false },
    connectionManager: server
      ? {
          dialTimeout: DIAL_TIMEOUT_MS,
          maxConnections: SUPERNODE_MAX_CONNECTIONS,
          inboundConnectionThreshold: SUPERNODE_CONNECTIONS_PER_HOST_PER_SECOND,
          maxIncomingPendingConnections: SUPERNODE_MAX_PENDING_CONNECTIONS
        }
      : { dialTimeout: DIAL_TIMEOUT_MS },
    connectionMonitor: { pingInterval: KEEPALIVE_INTERVAL_MS, abortConnectionOnPingFailure: true },
    services: services as any
  })
  return node as unknown as OverlayLibp2p
}
