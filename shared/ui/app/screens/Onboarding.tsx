/**
 * First start: create an identity for an email address, link this browser to
 * an identity on another device (pairing link), or restore one from a backup
 * file made on another device. The last step, right after creating an
 * identity (OnboardingVerify, shown by App on the home screen so the app is
 * already usable): verify the address with a CA of the connected supernodes,
 * the same flow as Settings → Verify my email address. Skippable.
 */
import { useState } from 'preact/hooks'
import { normalizeAor } from '../../../identity/index.ts'
import { errorMessage } from '../../messages.ts'
import type { AppActions } from '../actions.ts'
import type { AppServices, Me } from '../services.ts'
import { RestoreForm } from '../components/RestoreForm.tsx'
import { LinkDeviceForm } from '../components/Devices.tsx'
import { EmailVerificationSection } from './VerifyEmail.tsx'

export interface OnboardingProps {
  services: AppServices
  actions: AppActions
  /** `created`: a new identity (self-issued): the verification step follows */
  onDone: (me: Me, created?: boolean) => void
}

export function Onboarding ({ services, actions, onDone }: OnboardingProps) {
  const [email, setEmail] = useState('')
  const [name, setName] = useState('')
  const [problem, setProblem] = useState<string | undefined>()
  const [busy, setBusy] = useState(false)

  const create = (e: Event): void => {
    e.preventDefault()
    let aor: string
    try {
      aor = normalizeAor(email)
    } catch (err) {
      // normalizeAor says precisely what is wrong ("… has no @")
      setProblem(`That is not a valid email address: ${(err as Error).message}.`.replace(/\.\.$/, '.'))
      return
    }
    setProblem(undefined)
    setBusy(true)
    services.createIdentity(aor, name.trim() !== '' ? name : aor.split('@')[0] as string)
      .then(me => { onDone(me, true) }, (err: unknown) => { setProblem(errorMessage(err)) })
      .finally(() => { setBusy(false) })
  }

  return (
    <section class="onboarding" aria-labelledby="onboarding-title">
      <h2 id="onboarding-title">Welcome to Peerline</h2>
      <p>Call and chat with anyone you can email, with no provider in between. Your email address is your identity on this device.</p>
      <form class="stack" onSubmit={create} noValidate>
        <label class="field">
          <span>Email address</span>
          <input type="email" name="email" autoComplete="email" inputMode="email" required value={email}
            aria-invalid={problem !== undefined} aria-describedby={problem !== undefined ? 'onboarding-problem' : undefined}
            onInput={e => { setEmail(e.currentTarget.value) }} />
        </label>
        <label class="field">
          <span>Display name</span>
          <input type="text" name="name" autoComplete="name" value={name} onInput={e => { setName(e.currentTarget.value) }} />
        </label>
        {problem !== undefined && <p id="onboarding-problem" class="problem" role="alert">{problem}</p>}
        <button type="submit" class="btn primary" disabled={busy}>{busy ? 'Creating…' : 'Create identity'}</button>
      </form>
      <details class="link-existing">
        <summary>Link to an existing identity</summary>
        <p>On the device that has your identity, open Settings → Devices → "Link a new device", then paste its link here (or open the link on this device).</p>
        <LinkDeviceForm services={services} onLinked={onDone} />
      </details>
      <details class="restore">
        <summary>Restore from backup</summary>
        <RestoreForm services={services} onRestored={onDone} actions={actions} allowReplace={false} />
      </details>
    </section>
  )
}

/**
 * Onboarding's last step: a new identity's certificate is self-issued, so
 * everyone it calls sees "Not verified — anyone can claim this address".
 * Offers the supernodes' CA (with `npm start`: the local CA, whose code is
 * printed in its console): one click, one code. Skippable.
 */
export function OnboardingVerify ({ services, me, onClose }: { services: AppServices, me: Me | undefined, onClose: () => void }) {
  return (
    <section class="onboarding-verify stack" aria-labelledby="onboarding-verify-title">
      <h2 id="onboarding-verify-title">One more step: verify your address</h2>
      <p>
        Your identity is ready, but for now it is only your word: people you call see
        “Not verified — anyone can claim this address”. A certificate authority on your supernode can
        confirm {me?.email ?? 'your address'} by mailing you a code.
      </p>
      <EmailVerificationSection services={services} me={me} />
      <button type="button" class="btn secondary" onClick={onClose}>Skip for now</button>
    </section>
  )
}
