/**
 * Peerline PWA entry point: creates the services (identity, overlay, phone,
 * history, service worker; see app/services.ts) and renders the App.
 *
 * Tests and debugging: `window.peerline = { phone, overlay, history, services }`
 * points at the running session (set by app/services.ts), e.g. for
 * `peerline.phone.calls()[0].peerConnection.getStats()` in e2e tests. The app
 * itself never reads it.
 */
import { render } from 'preact'
import { App } from './app/App.tsx'
import { createServices } from './app/services.ts'

const root = document.getElementById('app')
if (root !== null) {
  root.textContent = ''
  render(<App services={createServices()} />, root)
}
