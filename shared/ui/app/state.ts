/**
 * The App's single state and its reducer. Screens read it through props and
 * change it only by dispatching actions; long-lived objects (calls, the
 * services) keep their own state and are subscribed to where shown.
 */
import type { Call } from '../../sip/api.ts'
import type { Route } from './deeplink.ts'
import type { AppStatus, Me } from './types.ts'

export type Phase = 'loading' | 'onboarding' | 'ready' | 'failed'

export interface AppState {
  phase: Phase
  /** why start failed (phase 'failed') */
  failure?: string
  me?: Me
  route: Route
  status: AppStatus
  updateAvailable: boolean
  /** calls not yet ended, oldest first: incoming ones ring, the others are shown as the call screen */
  calls: Call[]
  /** an outgoing call being looked up / dialled, before the Call exists */
  dialing?: { target: string, controller: AbortController }
  /** the one error sentence on screen (role="alert"); `id` changes with each new one */
  alert?: { id: number, text: string }
  /** unread incoming messages per peer (cleared when the chat is opened) */
  unread: Record<string, number>
  /** bumps whenever the history store changes, so lists refetch */
  historyVersion: number
}

export type Action =
  | { type: 'started', me: Me | undefined }
  | { type: 'failed', text: string }
  | { type: 'identity', me: Me }
  | { type: 'route', route: Route }
  | { type: 'status', status: AppStatus }
  | { type: 'update-available' }
  | { type: 'call', call: Call }
  | { type: 'call-ended', call: Call }
  | { type: 'dialing', dialing: NonNullable<AppState['dialing']> }
  | { type: 'dialing-done', controller: AbortController }
  | { type: 'alert', text: string | undefined }
  | { type: 'history-changed' }
  | { type: 'unread', peer: string }
  | { type: 'read', peer: string }

let alertIds = 0

export function initialState (route: Route, status: AppStatus): AppState {
  return { phase: 'loading', route, status, updateAvailable: false, calls: [], unread: {}, historyVersion: 0 }
}

export function reducer (state: AppState, action: Action): AppState {
  switch (action.type) {
    case 'started':
      return action.me === undefined ? { ...state, phase: 'onboarding' } : { ...state, phase: 'ready', me: action.me }
    case 'failed':
      return { ...state, phase: 'failed', failure: action.text }
    case 'identity':
      return { ...state, phase: 'ready', me: action.me }
    case 'route':
      // an error sentence belongs to the screen it was said on
      return withoutKey({ ...state, route: action.route }, 'alert')
    case 'status':
      return { ...state, status: action.status }
    case 'update-available':
      return { ...state, updateAvailable: true }
    case 'call':
      if (action.call.state === 'ended' || state.calls.includes(action.call)) return state
      return { ...state, calls: [...state.calls, action.call] }
    case 'call-ended':
      return { ...state, calls: state.calls.filter(c => c !== action.call) }
    case 'dialing':
      return { ...state, dialing: action.dialing }
    case 'dialing-done':
      // a newer dial may have replaced this one meanwhile
      return state.dialing?.controller === action.controller ? withoutKey(state, 'dialing') : state
    case 'alert':
      return action.text === undefined ? withoutKey(state, 'alert') : { ...state, alert: { id: ++alertIds, text: action.text } }
    case 'history-changed':
      return { ...state, historyVersion: state.historyVersion + 1 }
    case 'unread':
      return { ...state, unread: { ...state.unread, [action.peer]: (state.unread[action.peer] ?? 0) + 1 } }
    case 'read': {
      if (state.unread[action.peer] === undefined) return state
      const unread = { ...state.unread }
      delete unread[action.peer]
      return { ...state, unread }
    }
    default:
      return state
  }
}

function withoutKey<K extends keyof AppState> (state: AppState, key: K): AppState {
  const next = { ...state }
  delete next[key]
  return next
}

/** The call the call screen shows: the first one past ringing (or being set up). */
export function currentCall (state: AppState): Call | undefined {
  return state.calls.find(c => c.state !== 'incoming')
}

/** The call that rings: the first incoming one not yet answered. */
export function ringingCall (state: AppState): Call | undefined {
  return state.calls.find(c => c.state === 'incoming')
}
