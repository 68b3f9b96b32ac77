/**
 * The app's root component (the PWA renders it; the extensions reuse its
 * components and screens): owns the single App state (useReducer), listens
 * to the services, routes by location hash, and lays out the shell (status
 * line, banners, navigation, the current screen, call screens on top).
 *
 * Routes: `#/` home, `#/chat/<aor>`, `#/safety/<aor>`, `#/history`, `#/settings`, and
 * `#/call/<aor or sip: URI>` which dials at once (then returns home, so a
 * reload does not dial again).
 */
import { useCallback, useEffect, useReducer, useRef, useState } from 'preact/hooks'
import { ActiveCall } from '../ActiveCall.tsx'
import { Alert } from '../Alert.tsx'
import { IncomingCall } from '../IncomingCall.tsx'
import { errorMessage } from '../messages.ts'
import type { ErrorContext } from '../messages.ts'
import type { Call } from '../../sip/api.ts'
import { DEEP_LINK_ONLINE_WAIT_MS } from './constants.ts'
import { Banners, Nav, StatusLine } from './components/Shell.tsx'
import { safeAor } from './links.ts'
import type { AppServices } from './services.ts'
import { currentCall, initialState, reducer, ringingCall } from './state.ts'
import type { AppState } from './state.ts'
import { ChatScreen } from './screens/Chat.tsx'
import { HistoryScreen } from './screens/History.tsx'
import { HomeScreen } from './screens/Home.tsx'
import { Onboarding, OnboardingVerify } from './screens/Onboarding.tsx'
import { SettingsScreen } from './screens/Settings.tsx'
import { VerifyLinkScreen } from './screens/VerifyEmail.tsx'
import { PairScreen } from './screens/Pair.tsx'
import { SafetyScreen } from './screens/Safety.tsx'
import { ContactTrust } from './components/ContactTrust.tsx'
import type { AppActions } from './actions.ts'
import { ClaimChooser } from './components/ClaimChooser.tsx'
import { RouteChooser } from './components/RouteChooser.tsx'
import type { DialRoute } from './account-text.ts'
import { chooseClaim, conflictOf } from './conflicts.ts'
import type { Conflict } from './conflicts.ts'


export function App ({ services }: { services: AppServices }) {
  const [state, dispatch] = useReducer(reducer, undefined, () => initialState(services.parseRoute(location.hash), services.status))
  const stateRef = useRef<AppState>(state)
  stateRef.current = state

  const showError = useCallback((err: unknown, ctx: ErrorContext = {}) => {
    const text = errorMessage(err, ctx)
    if (text !== undefined) dispatch({ type: 'alert', text })
  }, [])
  const say = useCallback((text: string | undefined) => { dispatch({ type: 'alert', text }) }, [])

  // several keys claim an address: nothing is dialled or sent until the user picks one
  const [claims, setClaims] = useState<{ conflict: Conflict, retry: (identityKey: string) => Promise<void> } | undefined>()
  const chooseClaimFor = useCallback((err: unknown, address: string, retry: (identityKey: string) => Promise<void>): boolean => {
    const conflict = conflictOf(err, address)
    if (conflict === undefined) return false
    setClaims({ conflict, retry })
    return true
  }, [])
  /** onboarding's last step (verify the new address with a CA) is offered on the home screen until skipped */
  const [verifyStep, setVerifyStep] = useState(false)
  const [myKey, setMyKey] = useState<{ aor: string, key: string } | undefined>()
  useEffect(() => {
    if (state.me === undefined) return
    let cancelled = false
    services.identities.load().then(id => { if (!cancelled && id !== undefined) setMyKey({ aor: id.email, key: id.publicKey }) }, () => {})
    return () => { cancelled = true }
  }, [services, state.me])

  // an address a SIP account and the overlay could both reach: "Call via …" first
  const [routeChoice, setRouteChoice] = useState<{ target: string, routes: DialRoute[], retry: (via: DialRoute) => void } | undefined>()
  const dial = useCallback((target: string, options: { video?: boolean, waitMs?: number, identityKey?: string, via?: DialRoute } = {}) => {
    if (options.via === undefined) {
      const routes = services.routes(target)
      if (routes.length > 1) {
        setRouteChoice({ target, routes, retry: via => { dial(target, { ...options, via }) } })
        return
      }
    }
    stateRef.current.dialing?.controller.abort()
    const controller = new AbortController()
    const address = safeAor(target) ?? target
    dispatch({ type: 'alert', text: undefined })
    dispatch({ type: 'dialing', dialing: { target: address, controller } })
    ;(async () => {
      if (options.waitMs !== undefined) await services.waitReachable(options.waitMs, { signal: controller.signal })
      controller.signal.throwIfAborted()
      const call = await services.call(target, {
        video: options.video === true,
        signal: controller.signal,
        ...(options.identityKey !== undefined ? { identityKey: options.identityKey } : {}),
        ...(options.via !== undefined ? { via: options.via } : {})
      })
      dispatch({ type: 'call', call })
    })().catch(err => {
      const chosen = chooseClaimFor(err, address, async identityKey => { dial(target, { ...(options.video === true ? { video: true } : {}), identityKey, via: { via: 'overlay' } }) })
      if (!chosen) showError(err, { address })
    }).finally(() => {
      dispatch({ type: 'dialing-done', controller })
    })
  }, [services, showError, chooseClaimFor])

  // services → state
  useEffect(() => {
    const onStatus = (): void => { dispatch({ type: 'status', status: services.status }) }
    const onCall = (e: CustomEvent<Call>): void => { dispatch({ type: 'call', call: e.detail }) }
    const onHistory = (): void => { dispatch({ type: 'history-changed' }) }
    const onMessage = (e: CustomEvent<{ peer: string }>): void => {
      const r = stateRef.current.route
      if (!(r.route === 'chat' && safeAor(r.target ?? '') === e.detail.peer)) {
        dispatch({ type: 'unread', peer: e.detail.peer })
      }
    }
    const onUpdate = (): void => { dispatch({ type: 'update-available' }) }
    const onError = (e: CustomEvent<{ error: unknown, address?: string }>): void => {
      showError(e.detail.error, e.detail.address !== undefined ? { address: e.detail.address } : {})
    }
    const onSession = (): void => { if (services.me !== undefined) dispatch({ type: 'identity', me: services.me }) }
    // one signal removes every listener below when the effect is cleaned up
    const listening = new AbortController()
    const { signal } = listening
    services.addEventListener('status:change', onStatus, { signal })
    services.addEventListener('call:incoming', onCall, { signal })
    services.addEventListener('call:outgoing', onCall, { signal })
    services.addEventListener('history:change', onHistory, { signal })
    services.addEventListener('message:incoming', onMessage, { signal })
    services.addEventListener('update:available', onUpdate, { signal })
    services.addEventListener('error', onError, { signal })
    services.addEventListener('session:change', onSession, { signal })
    services.start().then(me => { dispatch({ type: 'started', me }) }, (err: unknown) => {
      dispatch({ type: 'failed', text: errorMessage(err) ?? 'Peerline could not start.' })
    })
    const onHash = (): void => { dispatch({ type: 'route', route: services.parseRoute(location.hash) }) }
    addEventListener('hashchange', onHash, { signal })
    return () => { listening.abort() }
  }, [services, showError])

  // calls: re-render on state changes, drop ended ones, say why a call did not happen
  const [, bump] = useReducer((n: number) => n + 1, 0)
  useEffect(() => {
    const offs = state.calls.map(call => {
      const onState = (): void => { bump(undefined) }
      const onEnded = (): void => {
        dispatch({ type: 'call-ended', call })
        const reason = call.end?.reason
        if (call.direction === 'outgoing' && call.answeredAt === undefined && reason !== undefined && reason !== 'cancelled') {
          dispatch({ type: 'alert', text: call.end?.message ?? 'The call ended.' })
        }
      }
      call.addEventListener('state', onState)
      call.addEventListener('ended', onEnded)
      if (call.state === 'ended') onEnded()
      return () => {
        call.removeEventListener('state', onState)
        call.removeEventListener('ended', onEnded)
      }
    })
    return () => { for (const off of offs) off() }
  }, [state.calls])

  // `#/call/<target>`: dial without asking, once this device can take part
  useEffect(() => {
    const { route, target } = state.route
    if (route !== 'call' || state.phase !== 'ready') return
    history.replaceState(null, '', '#/')
    dispatch({ type: 'route', route: { route: 'home' } })
    if (target !== undefined && target !== '') dial(target, { waitMs: DEEP_LINK_ONLINE_WAIT_MS })
  }, [state.route, state.phase, dial])

  // an opened chat has no unread messages
  const chatPeer = state.route.route === 'chat' ? safeAor(state.route.target ?? '') : undefined
  useEffect(() => {
    if (chatPeer !== undefined && state.unread[chatPeer] !== undefined) dispatch({ type: 'read', peer: chatPeer })
  }, [chatPeer, state.unread])

  const actions: AppActions = { dial, showError, say, chooseClaim: chooseClaimFor }
  const call = currentCall(state)
  const ringing = ringingCall(state)

  let screen
  if (state.phase === 'loading') {
    screen = <p class="loading">Starting Peerline…</p>
  } else if (state.phase === 'failed') {
    screen = <p class="failure">{state.failure}</p>
  } else if (state.route.route === 'pair') {
    screen = <PairScreen services={services} target={state.route.target} onDone={me => { dispatch({ type: 'identity', me }) }} />
  } else if (state.phase === 'onboarding') {
    screen = <Onboarding services={services} actions={actions} onDone={(me, created) => { if (created === true) setVerifyStep(true); dispatch({ type: 'identity', me }) }} />
  } else {
    switch (state.route.route) {
      case 'chat':
        screen = chatPeer !== undefined
          ? <ChatScreen key={chatPeer} services={services} peer={chatPeer} historyVersion={state.historyVersion} actions={actions} status={state.status} />
          : <p class="failure">That is not a valid email address or sip: address.</p>
        break
      case 'safety': {
        const peer = safeAor(state.route.target ?? '')
        screen = peer !== undefined
          ? <SafetyScreen key={peer} services={services} peer={peer} actions={actions} />
          : <p class="failure">That is not a valid email address or sip: address.</p>
        break
      }
      case 'verify':
        screen = <VerifyLinkScreen services={services} target={state.route.target} />
        break
      case 'history':
        screen = <HistoryScreen services={services} historyVersion={state.historyVersion} actions={actions} />
        break
      case 'settings':
        screen = <SettingsScreen services={services} me={state.me} actions={actions} />
        break
      default:
        screen = (
          <>
            {verifyStep && <OnboardingVerify services={services} me={state.me} onClose={() => { setVerifyStep(false) }} />}
            <HomeScreen services={services} state={state} actions={actions} />
          </>
        )
    }
  }

  return (
    <div class="shell">
      <header class="top">
        <div class="row top-row">
          <h1><a href="#/">Peerline</a></h1>
          {state.me !== undefined && <span class="me" title="Your address">{state.me.email}</span>}
        </div>
        <StatusLine status={state.status} phase={state.phase} hasIdentity={state.me !== undefined} />
        {state.phase === 'ready' && call === undefined && <Nav route={state.route.route} unread={Object.keys(state.unread).length} />}
      </header>
      <Banners updateAvailable={state.updateAvailable} network={state.status.network} onReload={() => { services.applyUpdate() }} />
      <Alert key={state.alert?.id} text={state.alert?.text} onDismiss={() => { say(undefined) }} />
      {call !== undefined && <ContactTrust services={services} aor={call.remote.aor} actions={actions} inCall />}
      {call !== undefined && <ActiveCall key={call.id} call={call} trust={services.trust} onError={err => { showError(err, { address: call.remote.aor }) }} />}
      {/* kept mounted under a call, so typed text and scroll positions survive it */}
      <main id="main" hidden={call !== undefined}>{screen}</main>
      {state.dialing !== undefined && call === undefined && (
        <section class="sheet dialing" role="dialog" aria-modal="true" aria-labelledby="dialing-title">
          <h2 id="dialing-title">Calling {state.dialing.target}…</h2>
          <p>Looking up where {state.dialing.target} can be reached.</p>
          <button type="button" class="btn hangup" onClick={() => { state.dialing?.controller.abort() }}>Cancel</button>
        </section>
      )}
      {routeChoice !== undefined && (
        <RouteChooser target={routeChoice.target} routes={routeChoice.routes}
          onCancel={() => { setRouteChoice(undefined) }}
          onChoose={via => { setRouteChoice(undefined); routeChoice.retry(via) }} />
      )}
      {claims !== undefined && (
        <ClaimChooser conflict={claims.conflict} me={myKey}
          onCancel={() => { setClaims(undefined) }}
          onChoose={async identityKey => {
            const { conflict, retry } = claims
            try {
              await chooseClaim(services.trust, conflict.aor, identityKey)
              setClaims(undefined)
              await retry(identityKey)
            } catch (err) {
              showError(err, { address: conflict.aor })
            }
          }} />
      )}
      {ringing !== undefined && (
        <IncomingCall
          key={ringing.id} call={ringing} ring={call === undefined} trust={services.trust}
          onAnswer={(c, video) => { c.answer({ video }).catch(err => { showError(err, { address: c.remote.aor }) }) }}
          onDecline={c => { c.decline() }}
        />
      )}
    </div>
  )
}
