/**
 * The overlay's public types: its init options, events and what its
 * methods return. Kept apart so the overlay's components can share them.
 */
import type { DeviceCertificate, DeviceRoster, IdentityStorage, IdentityStore, StoredIdentity, TrustStore } from '../identity/index.ts'
import type { PrivateKey } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'
import type { OverlayLibp2p } from './node.ts'
import type { PairingOffer } from './pairing.ts'
import type { LocationRecord, ValidateRecordOptions } from './record.ts'

export interface OverlayStatus {
  online: boolean
  supernodes: number
}

/** One device of this identity, as the roster lists it. */
export interface LinkedDeviceInfo {
  peerId: string
  name: string
  /** this overlay's own device */
  thisDevice: boolean
  /** listed with addresses in the last record this device published or saw */
  online: boolean
  /** the device certificate's end (the primary renews it before) */
  notAfter: number
}

export interface DeviceRevokedDetail {
  aor: string
  peerId: string
  /** when the primary revoked it; absent when the device is simply no longer in the roster */
  revokedAt?: number
  roster: DeviceRoster
}

export interface OverlayEvents {
  'status:change': CustomEvent<OverlayStatus>
  'record:published': CustomEvent<LocationRecord>
  'publish:error': CustomEvent<Error>
  /** this device was removed from its identity's roster: it stopped publishing */
  'device:revoked': CustomEvent<DeviceRevokedDetail>
  /** the identity's device roster changed (paired, revoked, renewed) */
  'devices:change': CustomEvent<DeviceRoster>
  /** a device roster could not be saved on this device (RosterNotSavedError) */
  'devices:error': CustomEvent<Error>
  /** `createPairingOffer` made a new offer (it replaces any open one) */
  'pairing:offer': CustomEvent<PairingOffer>
}

export interface OverlayInit {
  /** supernode multiaddrs, each ending in /p2p/<peer id> */
  bootstrap: string[]
  identity?: StoredIdentity
  /** where `identity` is kept: roster changes and a linked device's renewed certificate are saved there */
  identityStore?: IdentityStore
  /** the device certificate for this node's peer id; issued from `identity` when absent */
  deviceCertificate?: DeviceCertificate
  deviceName?: string
  privateKey?: PrivateKey
  datastore?: Datastore
  webrtc?: boolean
  iceServers?: Array<{ urls: string | string[], username?: string, credential?: string }>
  recordOptions?: ValidateRecordOptions
  /**
   * the user's trust store (loaded): judges each identity claiming an address, so `lookup` returns the
   * claim the user trusts most; without it every claim is 'unverified'
   */
  trust?: TrustStore
  ttlMs?: number
  republishBeforeExpiryMs?: number
  /** how long a roster learnt from a lookup settles whether a device may call (tests shorten it) */
  rosterCheckTtlMs?: number
  /**
   * where the newest roster and record seq seen per address are kept across restarts (one text value),
   * so a replayed older roster is refused and a revoked device stays refused after its record expired
   */
  rosterStorage?: IdentityStorage
  /** pairing offer lifetime and wrong-code limit (tests shorten them); see pairing.ts for the defaults */
  pairing?: { ttlMs?: number, maxAttempts?: number, timeoutMs?: number }
  /** keep loopback/private addresses (tests, `npm start`); default true */
  allowPrivateAddresses?: boolean
  /** reconnect back-off overrides (tests) */
  reconnect?: { initialDelayMs?: number, maxDelayMs?: number, target?: number }
}

export interface OverlayComponents {
  node?: OverlayLibp2p
}

export interface AbortOptions { signal?: AbortSignal }

export interface LookupOptions extends AbortOptions {
  /** the identity key (base64url) whose claim to return */
  identityKey?: string
}

