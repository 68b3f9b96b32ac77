/**
 * Peerline PWA entry point: creates the services (identity, overlay, phone,
 * history; see shared/ui/app/services.ts) with the PWA's platform glue
 * (service worker, sip: handler; platform/app-platform.ts) and renders the App.
 *
 * Tests and debugging: `window.peerline = { phone, overlay, history, services }`
 * points at the running session (set by shared/ui/app/services.ts), e.g. for
 * `peerline.phone.calls()[0].peerConnection.getStats()` in e2e tests. The app
 * itself never reads it.
 */
import { render } from 'preact'
import { App } from '../../shared/ui/app/App.tsx'
import { createServices } from '../../shared/ui/app/services.ts'
import { pwaPlatform } from './platform/app-platform.ts'

const root = document.getElementById('app')
if (root !== null) {
  root.textContent = ''
  render(<App services={createServices({ platform: pwaPlatform() })} />, root)
}
