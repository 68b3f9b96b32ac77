/**
 * The toolbar popup: status, a dial box and the buddies with their presence
 * (the PWA's BuddyList). Dialling opens the call window, which survives the
 * popup closing. The extension has no chat screen (chat lives in the PWA and
 * in Thunderbird), so buddy names are plain text here, not chat links.
 */
import { render } from 'preact'
import { useState } from 'preact/hooks'
import type { AppActions } from '../../shared/ui/app/actions.ts'
import { BuddyList } from '../../shared/ui/app/components/BuddyList.tsx'
import { StatusLine } from '../../shared/ui/app/components/Shell.tsx'
import { Alert } from '../../shared/ui/Alert.tsx'
import { errorMessage } from '../../shared/ui/messages.ts'
import { openCallWindow } from '../core/client.ts'
import { webext } from '../core/webext.ts'
import { useDevice, useDeviceEvents } from './hooks.ts'

function Popup () {
  const device = useDevice()
  const services = device.kind === 'ready' ? device.services : undefined
  const [status, historyVersion] = useDeviceEvents(services)
  const [alert, setAlert] = useState<string | undefined>()
  const [target, setTarget] = useState('')

  const actions: AppActions = {
    dial: t => { openCallWindow(t).then(() => { window.close() }, (err: unknown) => { setAlert(errorMessage(err)) }) },
    showError: err => { setAlert(errorMessage(err)) },
    say: setAlert,
    // dialling happens in the call window, which has its own claim chooser
    chooseClaim: () => false
  }
  const options = (): void => { void webext().runtime.openOptionsPage?.() }

  if (device.kind === 'connecting') return <p class="loading">Starting Peerline…</p>
  if (device.kind === 'failed') return <p class="problem" role="alert">{device.text}</p>
  const me = device.services.me
  return (
    <main class="popup stack">
      {me !== undefined && <StatusLine status={status ?? device.services.status} phase="ready" hasIdentity />}
      <Alert text={alert} onDismiss={() => { setAlert(undefined) }} />
      {me === undefined
        ? (
          <section class="card stack">
            <p>Peerline is not set up yet: your email address becomes your identity, so anyone who can email you can call you.</p>
            <button type="button" class="btn primary" onClick={options}>Set up Peerline</button>
          </section>
          )
        : (
          <>
            <p class="me">{me.displayName} · {me.email}</p>
            <form class="dial row" aria-label="Call someone" onSubmit={e => { e.preventDefault(); if (target.trim() !== '') actions.dial(target.trim()) }}>
              <input type="text" aria-label="Email or sip: address" placeholder="Email or sip: address" value={target}
                inputMode="email" autoComplete="off" onInput={e => { setTarget(e.currentTarget.value) }} />
              <button type="submit" class="btn primary">Call</button>
            </form>
            <BuddyList services={device.services} actions={actions} historyVersion={historyVersion} online={status?.connected === true} unread={{}} chatLinks={false} />
          </>
          )}
      <button type="button" class="btn link" onClick={options}>Settings</button>
    </main>
  )
}

const root = document.getElementById('app')
if (root !== null) {
  root.textContent = ''
  render(<Popup />, root)
}
