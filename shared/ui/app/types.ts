/**
 * The types the app's services and screens share (status, the signed-in user,
 * settings, events), in a module of their own so screens, the session and the
 * call log can name them without importing each other.
 */
import type { Call } from '../../sip/api.ts'
import type { MessageRecord } from '../../store/history-api.ts'
import type { IceServerSetting } from './settings.ts'

/** What the status line shows. */
export interface AppStatus {
  /** connected to at least one supernode */
  connected: boolean
  supernodes: number
  /** this device's location record is in the DHT (others can reach it); always false without an identity */
  reachable: boolean
  /** the browser reports a network connection (navigator.onLine) */
  network: boolean
}

export interface Me { email: string, displayName: string }

export interface UserSettings {
  /** supernodes the user typed; empty: use the ones the server recommends */
  supernodes: string[]
  iceServers: IceServerSetting[]
  /** the name people you call see; empty: the one given when the identity was created */
  displayName: string
}

export type Presence = 'online' | 'offline' | 'unknown'

/** Background failures worth a sentence on screen; `address` completes it. */
export interface ServiceError { error: unknown, address?: string }

export type HistoryChangeKind = 'message' | 'call' | 'buddy'

export interface ServicesEvents {
  'status:change': CustomEvent<AppStatus>
  /** the identity was created, restored or loaded, or the session restarted */
  'session:change': CustomEvent<Me | undefined>
  'call:incoming': CustomEvent<Call>
  'call:outgoing': CustomEvent<Call>
  'call:ended': CustomEvent<Call>
  /** stored, then announced */
  'message:incoming': CustomEvent<MessageRecord>
  /** something in the history store changed; `peer` when it concerns one conversation */
  'history:change': CustomEvent<{ kind: HistoryChangeKind, peer?: string }>
  'update:available': CustomEvent<undefined>
  /** this identity's linked devices changed (see devices()) */
  'devices:change': CustomEvent<undefined>
  /** a SIP account was added or removed, or its registration state changed (see sipAccounts()) */
  'accounts:change': CustomEvent<undefined>
  error: CustomEvent<ServiceError>
}
