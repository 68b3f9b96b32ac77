/**
 * A contact's safety number: 60 digits and a QR code derived from both
 * identity keys (shared/identity/safety.ts). Both people see the same digits
 * when nobody sits in between; the user compares them (or pastes the other
 * side's code) and marks the contact verified, which is remembered for this
 * key and shown in chats and calls.
 */
import { useEffect, useState } from 'preact/hooks'
import { matchSafetyQr } from '../../../identity/index.ts'
import type { SafetyNumber } from '../../../identity/index.ts'
import { QrCode } from '../../QrCode.tsx'
import { TrustBanner } from '../../TrustBanner.tsx'
import { TrustBadge } from '../../TrustBadge.tsx'
import type { AppActions } from '../actions.ts'
import { useContactTrust } from '../components/ContactTrust.tsx'
import { chatHash } from '../links.ts'
import type { AppServices } from '../services.ts'

interface Parties { mine: { aor: string, key: string }, theirs: { aor: string, key: string } }

export function SafetyScreen ({ services, peer, actions }: { services: AppServices, peer: string, actions: AppActions }) {
  const trust = useContactTrust(services, peer)
  const [looked, setLooked] = useState<{ key?: string, error?: string }>({})
  const [parties, setParties] = useState<Parties | undefined>()
  const [number, setNumber] = useState<SafetyNumber | undefined>()
  const [pasted, setPasted] = useState('')
  const [compared, setCompared] = useState<boolean | undefined>()
  const [busy, setBusy] = useState(false)
  // the key to show: the new one when it changed (compare before accepting), else the pinned one
  const theirKey = trust.newKey ?? trust.pinnedKey ?? looked.key

  // never met: the key from the contact's location record
  useEffect(() => {
    if (trust.pinnedKey !== undefined || looked.key !== undefined) return
    const overlay = services.overlay
    if (overlay === undefined) { setLooked({ error: 'Not connected: the contact\'s key cannot be looked up.' }); return }
    const controller = new AbortController()
    overlay.lookup(peer, { signal: controller.signal }).then(r => { setLooked({ key: r.certificate.key }) }, (err: unknown) => {
      if (!controller.signal.aborted) setLooked({ error: `${peer}'s key is not known yet: ${(err as Error).message}` })
    })
    return () => { controller.abort() }
  }, [services, peer, trust.pinnedKey])

  useEffect(() => {
    if (theirKey === undefined) return
    let cancelled = false
    services.identities.load().then(identity => {
      if (cancelled || identity === undefined) return
      const p: Parties = { mine: { aor: identity.email, key: identity.publicKey }, theirs: { aor: peer, key: theirKey } }
      setParties(p)
      setNumber(services.keys.safety(p.mine, peer, theirKey))
    }, (err: unknown) => { actions.showError(err) })
    return () => { cancelled = true }
  }, [services, peer, theirKey])

  const run = (action: () => Promise<unknown>): void => {
    setBusy(true)
    action().catch(err => { actions.showError(err, { address: peer }) }).finally(() => { setBusy(false) })
  }
  const compare = (e: Event): void => {
    e.preventDefault()
    if (parties === undefined) return
    setCompared(matchSafetyQr(pasted, parties.mine, parties.theirs))
  }

  return (
    <section class="safety stack" aria-labelledby="safety-title">
      <div class="row">
        <h2 id="safety-title" class="grow">Safety number with {peer}</h2>
        <a class="btn" href={chatHash(peer)}>Chat</a>
      </div>
      {trust.status === 'changed' && (
        <TrustBanner aor={peer} status="changed" onAccept={async () => { await services.keys.acceptNewKey(peer) }}
          onError={err => { actions.showError(err, { address: peer }) }} />
      )}
      <p class="safety-status" aria-live="polite">
        {trust.status === 'changed'
          ? 'The number below is for the new key.'
          : <TrustBadge view={trust.level} aor={peer} />}
      </p>
      {number === undefined
        ? <p class={looked.error !== undefined ? 'problem' : 'loading'}>{looked.error ?? 'Computing…'}</p>
        : (
          <>
            <p class="safety-digits" aria-label="Safety number">{number.digits}</p>
            <p>
              Compare these digits with {peer}, in person or over a channel you already trust. When they are the
              same on both devices, nobody is in between: mark the contact as verified.
            </p>
            <QrCode text={number.qrPayload} label="Safety number QR code" class="safety-qr" />
            <label class="field">
              <span>Your code (send it to {peer}, who pastes it below on their device)</span>
              <input type="text" readOnly class="my-safety-code" value={number.qrPayload} onFocus={e => { e.currentTarget.select() }} />
            </label>
            <form class="stack" onSubmit={compare}>
              <label class="field">
                <span>{peer}'s code (scanned or pasted)</span>
                <input type="text" class="their-safety-code" autoComplete="off" autoCapitalize="off" spellcheck={false} value={pasted}
                  onInput={e => { setPasted(e.currentTarget.value); setCompared(undefined) }} />
              </label>
              <button type="submit" class="btn">Compare</button>
              {compared === true && <p class="done" aria-live="polite">The codes match: the safety numbers are the same on both devices.</p>}
              {compared === false && <p class="problem" role="alert">The codes do not match. Do not mark this contact as verified.</p>}
            </form>
            {trust.status !== 'changed' && (trust.status === 'verified'
              ? <button type="button" class="btn" disabled={busy} onClick={() => { run(async () => { await services.trust.clearVerified(peer) }) }}>Clear verification</button>
              : <button type="button" class="btn primary" disabled={busy || parties === undefined}
                  onClick={() => { run(async () => { if (parties !== undefined) await services.trust.markVerified(peer, parties.theirs.key) }) }}>Mark as verified</button>)}
          </>
          )}
    </section>
  )
}
