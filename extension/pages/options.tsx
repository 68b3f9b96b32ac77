/**
 * The options page: onboarding (create an identity, link to one, or restore
 * a backup) and then the PWA's settings, with the operator's details
 * (supernode addresses, STUN/TURN, trusted CAs) folded under "Advanced",
 * all acting on the device in the background. No status line before there
 * is an identity: "Offline" means nothing to someone who has not started.
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
      {me !== undefined && <StatusLine status={status ?? device.services.status} phase="ready" hasIdentity />}
      <Alert text={alert} onDismiss={() => { setAlert(undefined) }} />
      {noSupernodes && me !== undefined && (
        <p class="banner">Peerline needs a supernode to reach anyone: enter its address under <a href="#supernodes-title">Advanced → Supernodes</a>. The Peerline web app you use shows its supernodes in its Settings.</p>
      )}
      {me === undefined
        ? <Onboarding services={device.services} actions={actions} onDone={() => { setAlert(undefined) }} />
        : <SettingsScreen services={device.services} me={me} actions={actions} advanced advancedOpen={noSupernodes} />}
    </main>
  )
}

const root = document.getElementById('app')
if (root !== null) {
  root.textContent = ''
  render(<Options />, root)
}
