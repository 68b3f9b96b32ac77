/**
 * The call window (call.html): an extension page, so WebRTC and the
 * microphone prompt work here. It borrows the device's phone
 * (extension/core/client.ts), lends it this window's microphone and camera
 * (lendMedia) and shows the shared call UI.
 *
 * `#/call/sip:bob@example.org` (a sip: link, Firefox's protocol handler)
 * first asks "Call sip:bob@example.org?" with Call / Cancel, then dials once
 * the device is online; when the user dialled from an extension page (the
 * popup's dial box, a buddy's Dial button: grantDial() in client.ts) it dials
 * straight away. `#/incoming/<id>` shows the ringing call with Answer / Decline.
 * Closing the window hangs up: the window is the call (only the window that
 * owns it, see claimCall(), should a second one show the same call).
 *
 * Tests read `window.peerlineCall` (the Call on screen, for getStats()).
 */
import { render } from 'preact'
import { useEffect, useReducer, useState } from 'preact/hooks'
import type { AppServices } from '../../shared/ui/app/services.ts'
import type { Call } from '../../shared/sip/api.ts'
import type { TrustStore } from '../../shared/identity/index.ts'
import { ActiveCall } from '../../shared/ui/ActiveCall.tsx'
import { Alert } from '../../shared/ui/Alert.tsx'
import { IncomingCall } from '../../shared/ui/IncomingCall.tsx'
import { errorMessage } from '../../shared/ui/messages.ts'
import { claimCall, connectDevice, lendMedia, takeDialGrant } from '../core/client.ts'
import { webext } from '../core/webext.ts'
import { ringNotificationId } from '../core/ring.ts'
import { parseCallRoute } from './route.ts'
import { ClaimChooser } from '../../shared/ui/app/components/ClaimChooser.tsx'
import { chooseClaim, conflictOf } from '../../shared/ui/app/conflicts.ts'
import type { Conflict } from '../../shared/ui/app/conflicts.ts'

/** A cold start (browser just opened) waits this long for the overlay before dialling; as the PWA's deep links do. */
const ONLINE_WAIT_MS = 20_000

type View =
  | { kind: 'connecting', text: string }
  | { kind: 'confirm', target: string, decide: (call: boolean) => void }
  | { kind: 'no-identity' }
  | { kind: 'incoming', call: Call }
  | { kind: 'call', call: Call }
  | { kind: 'failed', text: string }
  | { kind: 'claims', conflict: Conflict, me?: { aor: string, key: string }, choose: (identityKey: string) => Promise<void> }

function expose (call: Call | undefined): void {
  (globalThis as { peerlineCall?: Call }).peerlineCall = call
}

async function start (services: AppServices, hash: string, show: (v: View) => void, signal: AbortSignal): Promise<void> {
  const confirm = (target: string): Promise<boolean> => new Promise(resolve => { show({ kind: 'confirm', target, decide: resolve }) })
  lendMedia()
  const route = parseCallRoute(hash)
  if (route.kind === 'none') { show({ kind: 'failed', text: 'Nothing to call: the link has no address.' }); return }
  if (services.me === undefined) { show({ kind: 'no-identity' }); return }
  if (route.kind === 'incoming') {
    const call = services.phone?.calls().find(c => c.id === route.callId)
    if (call === undefined || call.state === 'ended') { show({ kind: 'failed', text: 'That call has ended.' }); return }
    expose(call)
    show(call.state === 'incoming' ? { kind: 'incoming', call } : { kind: 'call', call })
    return
  }
  // a link may come from any web page: the user says whether to call (the extension's own dial box already did)
  if (!takeDialGrant(route.target) && !await confirm(route.target)) { window.close(); return }
  signal.throwIfAborted()
  show({ kind: 'connecting', text: `Calling ${route.target}…` })
  await services.waitReachable(ONLINE_WAIT_MS, { signal })
  signal.throwIfAborted()
  const dial = async (identityKey?: string): Promise<void> => {
    try {
      const call = await services.call(route.target, { signal, ...(identityKey !== undefined ? { identityKey } : {}) })
      expose(call)
      show({ kind: 'call', call })
    } catch (err) {
      // several keys claim the address: the same chooser as the PWA's, nothing dialled until one is picked
      const conflict = conflictOf(err, route.target)
      if (conflict === undefined) throw err
      const id = await services.identities.load()
      show({
        kind: 'claims',
        conflict,
        ...(id !== undefined ? { me: { aor: id.email, key: id.publicKey } } : {}),
        choose: async key => {
          await chooseClaim(services.trust, conflict.aor, key)
          show({ kind: 'connecting', text: `Calling ${route.target}…` })
          await dial(key)
        }
      })
    }
  }
  await dial()
}

function CallWindow () {
  const [view, setView] = useState<View>({ kind: 'connecting', text: 'Starting Peerline…' })
  const [alert, setAlert] = useState<string | undefined>()
  /** the device's trust store: the badge says what the PWA says for the same caller */
  const [trust, setTrust] = useState<TrustStore | undefined>()
  const [, bump] = useReducer((n: number) => n + 1, 0)

  useEffect(() => {
    const controller = new AbortController()
    let current: Call | undefined
    let owned = false
    const show = (v: View): void => {
      if ('call' in v) {
        current = v.call
        owned = claimCall(v.call.id)
      }
      setView(v)
    }
    connectDevice({ signal: controller.signal })
      .then(async services => { setTrust(services.trust); await start(services, location.hash, show, controller.signal) })
      .catch((err: unknown) => {
        const route = parseCallRoute(location.hash)
        const text = errorMessage(err, route.kind === 'dial' ? { address: route.target } : {})
        if (text !== undefined) setView({ kind: 'failed', text })
      })
    // the window is the call: closing it hangs up (and drops this page's listeners on the device's objects)
    const close = (): void => {
      controller.abort()
      if (current !== undefined && owned && current.state !== 'ended') {
        if (current.state === 'incoming') current.decline()
        else current.hangup()
      }
    }
    addEventListener('pagehide', close)
    return () => { removeEventListener('pagehide', close); close() }
  }, [])

  // incoming → active once answered; re-render on every state change
  const call = 'call' in view ? view.call : undefined
  useEffect(() => {
    if (call === undefined) return
    const listening = new AbortController()
    // the ring notification is for a ringing call only
    const unring = (): void => { if (call.direction === 'incoming') void webext().notifications?.clear(ringNotificationId(call.id)).catch(() => {}) }
    if (call.state !== 'incoming') unring()
    call.addEventListener('state', () => {
      if (call.state !== 'incoming') unring()
      if (view.kind === 'incoming' && call.state !== 'incoming') setView({ kind: 'call', call })
      bump(undefined)
    }, { signal: listening.signal })
    call.addEventListener('ended', () => { bump(undefined) }, { signal: listening.signal })
    addEventListener('pagehide', () => { listening.abort() }, { once: true })
    return () => { listening.abort() }
  }, [call, view.kind])

  const onError = (err: unknown): void => { setAlert(errorMessage(err)) }

  return (
    <main class="call-window">
      <Alert text={alert} onDismiss={() => { setAlert(undefined) }} />
      {view.kind === 'connecting' && <p class="loading" aria-live="polite">{view.text}</p>}
      {view.kind === 'failed' && <p class="problem" role="alert">{view.text}</p>}
      {view.kind === 'confirm' && (
        <section class="card stack" role="dialog" aria-labelledby="confirm-call">
          <h2 id="confirm-call">Call {view.target}?</h2>
          <p>A link asked Peerline to call this address. Nothing is dialled until you press Call.</p>
          <div class="row">
            <button type="button" class="btn primary" onClick={() => { view.decide(true) }}>Call</button>
            <button type="button" class="btn" onClick={() => { view.decide(false) }}>Cancel</button>
          </div>
        </section>
      )}
      {view.kind === 'no-identity' && (
        <section class="card stack">
          <p>Set up Peerline first: create your identity (your email address) or restore a backup.</p>
          <button type="button" class="btn primary" onClick={() => { void webext().runtime.openOptionsPage?.() }}>Open Peerline settings</button>
        </section>
      )}
      {view.kind === 'incoming' && (
        <IncomingCall call={view.call} trust={trust}
          onAnswer={(c, video) => {
            c.answer({ video }).then(() => { setView({ kind: 'call', call: c }) }, onError)
          }}
          onDecline={c => { c.decline() }} />
      )}
      {view.kind === 'claims' && (
        <ClaimChooser conflict={view.conflict} me={view.me} onCancel={() => { window.close() }}
          onChoose={async key => { await view.choose(key).catch(onError) }} />
      )}
      {view.kind === 'call' && <ActiveCall call={view.call} trust={trust} onError={onError} />}
      {call?.state === 'ended' && <button type="button" class="btn" onClick={() => { window.close() }}>Close window</button>}
    </main>
  )
}

const root = document.getElementById('app')
if (root !== null) {
  root.textContent = ''
  render(<CallWindow />, root)
}
