/**
 * The options page: onboarding (create an identity or restore a backup) and
 * then the PWA's settings (display name, supernodes, STUN/TURN, backup),
 * all acting on the device in the background.
 */
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import type { AppActions } from '../../shared/ui/app/actions.ts'
import { StatusLine } from '../../shared/ui/app/components/Shell.tsx'
import { Onboarding } from '../../shared/ui/app/screens/Onboarding.tsx'
import { SettingsScreen } from '../../shared/ui/app/screens/Settings.tsx'
import { Alert } from '../../shared/ui/Alert.tsx'
import { errorMessage } from '../../shared/ui/messages.ts'
import { openCallWindow } from '../core/client.ts'
import { useDevice, useDeviceEvents } from './hooks.ts'

function Options () {
  const device = useDevice()
  const services = device.kind === 'ready' ? device.services : undefined
  const [status] = useDeviceEvents(services)
  const [alert, setAlert] = useState<string | undefined>()
  // the extension has no server recommending supernodes: until the user enters some, say so
  const [noSupernodes, setNoSupernodes] = useState(false)
  useEffect(() => {
    if (services === undefined) return
    Promise.all([services.settings(), services.serverSupernodes()])
      .then(([s, server]) => { setNoSupernodes(s.supernodes.length === 0 && server.length === 0) }, () => {})
  }, [services, status])
  const actions: AppActions = {
    dial: t => { openCallWindow(t).catch((err: unknown) => { setAlert(errorMessage(err)) }) },
    showError: err => { setAlert(errorMessage(err)) },
    say: setAlert,
    // dialling happens in the call window, which has its own claim chooser
    chooseClaim: () => false
  }
  if (device.kind === 'connecting') return <p class="loading">Starting Peerline…</p>
  if (device.kind === 'failed') return <p class="problem" role="alert">{device.text}</p>
  const me = device.services.me
  return (
    <main class="options stack">
      <h1>Peerline</h1>
      <StatusLine status={status ?? device.services.status} phase={me === undefined ? 'onboarding' : 'ready'} hasIdentity={me !== undefined} />
      <Alert text={alert} onDismiss={() => { setAlert(undefined) }} />
      {noSupernodes && me !== undefined && (
        <p class="banner">Peerline needs at least one supernode to reach anyone: enter one under <a href="#supernodes-title">Supernodes</a> (with <code>npm start</code>, the address it prints).</p>
      )}
      {me === undefined
        ? <Onboarding services={device.services} actions={actions} onDone={() => { setAlert(undefined) }} />
        : <SettingsScreen services={device.services} me={me} actions={actions} />}
    </main>
  )
}

const root = document.getElementById('app')
if (root !== null) {
  root.textContent = ''
  render(<Options />, root)
}
