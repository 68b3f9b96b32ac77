/**
 * The shell around every screen: the status line, the update and offline
 * banners, and the navigation links.
 */
import type { AppStatus, RouteName } from '../services.ts'
import type { Phase } from '../state.ts'
import { statusText } from '../status.ts'

/** The one role="status" element of the app. */
export function StatusLine ({ status, phase, hasIdentity }: { status: AppStatus, phase: Phase, hasIdentity: boolean }) {
  const { text, online } = statusText(status, phase, hasIdentity)
  return <p id="status" role="status" aria-live="polite" class={`status ${online ? 'online' : 'offline'}`}>{text}</p>
}

export function Banners ({ updateAvailable, network, onReload }: { updateAvailable: boolean, network: boolean, onReload: () => void }) {
  return (
    <>
      {updateAvailable && (
        <div class="banner update row">
          <span>A new version is available</span>
          <button type="button" class="btn primary" onClick={onReload}>Reload</button>
        </div>
      )}
      {!network && (
        <div class="banner offline">You are offline. Calls and messages need a network connection; your history is still here.</div>
      )}
    </>
  )
}

const LINKS: Array<{ route: RouteName, href: string, label: string }> = [
  { route: 'home', href: '#/', label: 'Home' },
  { route: 'history', href: '#/history', label: 'Recent calls' },
  { route: 'settings', href: '#/settings', label: 'Settings' }
]

export function Nav ({ route, unread }: { route: RouteName, unread: number }) {
  return (
    <nav class="nav" aria-label="Main">
      {LINKS.map(l => (
        <a key={l.href} href={l.href} aria-current={route === l.route ? 'page' : undefined}>
          {l.label}
          {l.route === 'home' && unread > 0 && <span class="count" aria-label={`${unread} unread`}>{unread}</span>}
        </a>
      ))}
    </nav>
  )
}
