/**
 * "Verify my email address" (a section of Settings) and the `#/verify/<id>/<code>`
 * screen the CA's mail links to. See ../email-verification.ts for the flow.
 */
import { useEffect, useRef, useState } from 'preact/hooks'
import { errorMessage } from '../../messages.ts'
import type { CaChoice, CertificateState, PendingVerification } from '../email-verification.ts'
import { parseVerifyTarget } from '../email-verification.ts'
import type { AppServices, Me } from '../services.ts'

type Outcome = { ok: boolean, text: string } | undefined

function OutcomeLine ({ outcome }: { outcome: Outcome }) {
  if (outcome === undefined) return null
  return outcome.ok ? <p class="done" aria-live="polite">{outcome.text}</p> : <p class="problem" role="alert">{outcome.text}</p>
}

function formatDate (ms: number): string {
  return new Date(ms).toLocaleDateString(undefined, { year: 'numeric', month: 'long', day: 'numeric' })
}

/** Characters of a supernode's peer id shown (the whole id is in the tooltip): enough to tell one's supernodes apart. */
const PEER_ID_TAIL = 8

/** Which supernode runs a CA: the end of its peer id, the whole id on hover. */
export function SupernodeId ({ peerId }: { peerId: string }) {
  return <code class="peer-id" title={peerId} data-peer={peerId}>…{peerId.slice(-PEER_ID_TAIL)}</code>
}

/** One sentence for the identity's certificate. */
export function certificateSentence (state: CertificateState | undefined): string {
  if (state === undefined) return 'Checking…'
  switch (state.kind) {
    case 'none': return 'No identity yet.'
    case 'self': return 'Self-issued: not verified by a CA.'
    case 'ca': return `Email verified by ${state.caName} until ${formatDate(state.notAfter)}.${state.trusted ? '' : ' (You do not trust this CA on this device.)'}`
  }
}

export function EmailVerificationSection ({ services, me }: { services: AppServices, me: Me | undefined }) {
  const v = services.verification
  const [state, setState] = useState<CertificateState | undefined>()
  const [cas, setCas] = useState<CaChoice[] | undefined>()
  const [pending, setPending] = useState<PendingVerification | undefined>()
  const [code, setCode] = useState('')
  const [busy, setBusy] = useState(false)
  const [outcome, setOutcome] = useState<Outcome>()

  const refresh = (): void => {
    v.state().then(setState, () => { setState({ kind: 'none' }) })
    v.pending().then(setPending, () => { setPending(undefined) })
  }
  const found = useRef<CaChoice[] | undefined>(undefined)
  const look = (): void => {
    setCas(undefined)
    if (!services.status.connected) return // looked for again once connected
    v.find({ signal: AbortSignal.timeout(15_000) }).then(list => {
      found.current = list
      setCas(list)
    }, (err: unknown) => {
      setCas([])
      setOutcome({ ok: false, text: errorMessage(err) ?? '' })
    })
  }
  useEffect(() => {
    refresh()
    look()
    const listening = new AbortController()
    services.addEventListener('session:change', refresh, { signal: listening.signal })
    services.addEventListener('status:change', () => {
      if (services.status.connected && (found.current === undefined || found.current.length === 0)) look()
    }, { signal: listening.signal })
    return () => { listening.abort() }
  }, [services])

  // an expired code is of no use: drop the form when it expires while Settings is open
  useEffect(() => {
    if (pending === undefined) return
    const timer = setTimeout(refresh, Math.max(0, pending.expiresAt - Date.now()) + 1000)
    return () => { clearTimeout(timer) }
  }, [pending])

  const request = (ca: CaChoice): void => {
    setBusy(true)
    setOutcome(undefined)
    v.request(ca, { signal: AbortSignal.timeout(60_000) }).then(p => {
      setPending(p)
      setOutcome({ ok: true, text: `${ca.ca.name} sent a code to ${p.email}. Type it below, or open the link in the mail.` })
    }, (err: unknown) => { setOutcome({ ok: false, text: errorMessage(err) ?? '' }) }).finally(() => { setBusy(false) })
  }

  const confirm = (e: Event): void => {
    e.preventDefault()
    if (pending === undefined) return
    const typed = code.replace(/[\s-]/g, '')
    if (!/^\d{6}$/.test(typed)) { setOutcome({ ok: false, text: 'The code has 6 digits.' }); return }
    setBusy(true)
    v.confirm(pending.requestId, typed, { signal: AbortSignal.timeout(60_000) }).then(() => {
      setCode('')
      setPending(undefined)
      setOutcome({ ok: true, text: 'Your address is verified. Your contacts now see a CA-issued certificate.' })
      refresh()
    }, (err: unknown) => {
      setOutcome({ ok: false, text: errorMessage(err) ?? '' })
      refresh()
    }).finally(() => { setBusy(false) })
  }

  return (
    <section class="card stack" aria-labelledby="verify-title">
      <h2 id="verify-title">Verify my email address</h2>
      <p class="cert-state" data-testid="certificate-state">{certificateSentence(state)}</p>
      <p class="sub">
        A certificate authority (CA) run by a supernode can confirm that {me?.email ?? 'your address'} is yours: it mails a
        one-time code there. People who trust that CA then see your address as verified.
      </p>
      {pending !== undefined
        ? (
          <form class="stack" onSubmit={confirm} noValidate>
            <p>A code from <strong>{pending.caName}</strong> (on supernode <SupernodeId peerId={pending.peerId} />) was mailed to {pending.email}.</p>
            <label class="field">
              <span>Verification code (6 digits)</span>
              <input type="text" inputMode="numeric" autoComplete="one-time-code" maxLength={9} value={code}
                onInput={e => { setCode(e.currentTarget.value) }} />
            </label>
            <div class="row">
              <button type="submit" class="btn" disabled={busy}>{busy ? 'Checking…' : 'Verify'}</button>
              <button type="button" class="btn secondary" disabled={busy} onClick={() => { v.cancel().then(refresh, () => {}) }}>Cancel</button>
            </div>
          </form>
          )
        : (
          <div class="stack">
            {cas === undefined && (
              <p class="loading">{services.status.connected ? 'Looking for certificate authorities on your supernodes…' : 'Waiting for a supernode connection…'}</p>
            )}
            {cas !== undefined && cas.length === 0 && (
              <p>None of the connected supernodes runs a certificate authority.</p>
            )}
            {cas !== undefined && cas.length > 0 && (
              <ul class="ca-list stack">
                {cas.map(ca => (
                  <li key={`${ca.peerId}:${ca.ca.key}`} class="stack">
                    <span><strong>{ca.ca.name}</strong> <span class="sub">run by supernode <SupernodeId peerId={ca.peerId} /> · key fingerprint <code>{ca.fingerprint}</code>{ca.trusted ? ' · trusted' : ''}</span></span>
                    <button type="button" class="btn" disabled={busy} onClick={() => { request(ca) }}>
                      {ca.trusted ? 'Request a certificate' : 'Trust this CA and request a certificate'}
                    </button>
                  </li>
                ))}
              </ul>
            )}
            <button type="button" class="btn secondary" onClick={look}>Look again</button>
          </div>
          )}
      <OutcomeLine outcome={outcome} />
    </section>
  )
}

/** `#/verify/<requestId>/<code>`: completes the verification from the mail's link. */
export function VerifyLinkScreen ({ services, target }: { services: AppServices, target: string | undefined }) {
  const [outcome, setOutcome] = useState<Outcome>()
  useEffect(() => {
    const parsed = parseVerifyTarget(target)
    if (parsed === undefined) {
      setOutcome({ ok: false, text: 'This verification link is incomplete: copy the whole link from the mail, or type the code in Settings.' })
      return
    }
    const controller = new AbortController()
    services.verification.confirm(parsed.requestId, parsed.code, { signal: controller.signal }).then(identity => {
      setOutcome({ ok: true, text: `${identity.email} is verified.` })
    }, (err: unknown) => {
      const text = errorMessage(err)
      if (text !== undefined) setOutcome({ ok: false, text })
    })
    return () => { controller.abort() }
  }, [services, target])
  return (
    <section class="card stack" aria-labelledby="verify-link-title">
      <h2 id="verify-link-title">Verifying your email address</h2>
      {outcome === undefined ? <p class="loading">Checking the code with the certificate authority…</p> : <OutcomeLine outcome={outcome} />}
      <p><a href="#/settings">Back to Settings</a></p>
    </section>
  )
}
