/**
 * SIP accounts as the screens see them (no password) and their registration
 * state in plain words. Free of JsSIP, so components can import it.
 */
import type { AccountStatus } from '../../sip/api.ts'
import { errorMessage } from '../messages.ts'

/** An account as the screens see it: no password. */
export interface AccountView {
  id: string
  address: string
  wsUrl: string
  authorizationUser: string
  displayName?: string
  outboundProxy?: string
  registrar?: string
  status: AccountStatus
}

/** Where a dialled address can go: the overlay, or an account by id. */
export type DialRoute = { via: 'overlay' } | { via: 'account', id: string, address: string }

/** How an account's registration reads on screen: words, and whether it is a problem. */
export interface AccountStateText { text: string, tone: 'ok' | 'pending' | 'problem' | 'off' }

/**
 * An account's state in plain words (Settings → SIP accounts).
 *
 * @example accountStateText({ state: 'failed', error: new AuthenticationFailedError(), reconnectAttempts: 0 }).text // 'The SIP server refused the user name or password: …'
 */
export function accountStateText (status: AccountStatus, now = Date.now()): AccountStateText {
  switch (status.state) {
    case 'registered': return { text: 'Registered: calls and messages to this account ring here', tone: 'ok' }
    case 'registering': return { text: 'Registering…', tone: 'pending' }
    case 'unregistered': return { text: 'Not registered', tone: 'off' }
    default: {
      const sentence = status.error !== undefined ? errorMessage(status.error) ?? 'Registration failed.' : 'Registration failed.'
      const retry = status.retryAt !== undefined && status.retryAt > now ? ` Next attempt in ${Math.max(1, Math.round((status.retryAt - now) / 1000))} s.` : ''
      return { text: sentence + retry, tone: 'problem' }
    }
  }
}

/** "Call via …" words for one route. */
export function routeLabel (route: DialRoute): { text: string, detail: string } {
  if (route.via === 'overlay') return { text: 'Call via Peerline', detail: 'End to end: the other side\'s identity is checked as usual' }
  return { text: `Call via ${route.address}`, detail: 'Through that SIP server: it names who answers, Peerline cannot verify it' }
}
