/**
 * Peerline's setup in Thunderbird (setup.html, the add-on's options page,
 * opened by itself on first install): four short steps in plain words.
 * 1. Your identity: create one for your email address, link to one on
 *    another device, or restore a backup (shared Onboarding).
 * 2. Where calls ring: Thunderbird cannot carry sound or video, so calls
 *    open in the Peerline web app in the browser; a button opens it and
 *    links it to this identity. Saving its address also takes the
 *    supernodes it uses as the default (its config.json).
 * 3. Supernodes: connected or not, in words; their addresses and the
 *    trusted CAs only under "Advanced".
 * 4. Verify your email address (a CA's code, read from your mail on request).
 * No STUN/TURN: Thunderbird places no media itself. Nothing on the page
 * says npm, multiaddr or /p2p/ outside "Advanced"
 * (test/extension/thunderbird.test.ts reads the visible text).
 */
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import type { AppActions } from '../../../shared/ui/app/actions.ts'
import type { AppServices, Me, UserSettings } from '../../../shared/ui/app/services.ts'
import { Onboarding } from '../../../shared/ui/app/screens/Onboarding.tsx'
import { BackupSection, Section, SupernodesSection } from '../../../shared/ui/app/screens/Settings.tsx'
import { certificateSentence } from '../../../shared/ui/app/screens/VerifyEmail.tsx'
import type { CertificateState } from '../../../shared/ui/app/email-verification.ts'
import { TrustedCasSection } from '../../../shared/ui/app/components/TrustedCas.tsx'
import { DevicesSection } from '../../../shared/ui/app/components/Devices.tsx'
import { Alert } from '../../../shared/ui/Alert.tsx'
import { errorMessage } from '../../../shared/ui/messages.ts'
import { messenger } from '../messenger.ts'
import { useDevice, useDeviceEvents } from '../../pages/hooks.ts'

/** How long the web app may take to say which supernodes it uses. */
const CONFIG_TIMEOUT_MS = 8_000

interface Answer<T> { ok: boolean, result?: T, error?: string, name?: string }

function send<T> (m: unknown): Promise<T> {
  return messenger().runtime.sendMessage(m) as Promise<T>
}

/** The supernodes the web app at `base` uses (its config.json); empty when it says none or cannot be read. */
async function webAppSupernodes (base: string): Promise<string[]> {
  try {
    const res = await fetch(new URL('config.json', base), { cache: 'no-store', signal: AbortSignal.timeout(CONFIG_TIMEOUT_MS) })
    if (!res.ok) return []
    const body = await res.json() as { supernodes?: unknown }
    return Array.isArray(body.supernodes) ? body.supernodes.filter((s): s is string => typeof s === 'string' && s !== '') : []
  } catch {
    return []
  }
}

function Setup () {
  const device = useDevice()
  const services = device.kind === 'ready' ? device.services : undefined
  const [status] = useDeviceEvents(services)
  const [me, setMe] = useState<Me | undefined>()
  const [alert, setAlert] = useState<string | undefined>()
  useEffect(() => { document.title = 'Set up Peerline' }, [])
  useEffect(() => { setMe(services?.me) }, [services, status])
  const actions: AppActions = {
    // no calls are placed from this page
    dial: () => {},
    showError: err => { setAlert(errorMessage(err)) },
    say: setAlert,
    chooseClaim: () => false
  }
  if (device.kind === 'connecting') return <p class="loading">Starting Peerline…</p>
  if (device.kind === 'failed') return <p class="problem" role="alert">{device.text}</p>
  const s = device.services
  return (
    <main class="options setup stack">
      <h1>Set up Peerline</h1>
      <p>Call and chat with the people in your address book, using your email address — no provider in between. You can come back here any time: Add-ons and Themes → Peerline → Options.</p>
      <Alert text={alert} onDismiss={() => { setAlert(undefined) }} />
      <Section id="step-identity" title="1. Your identity">
        {me === undefined
          ? <Onboarding services={s} actions={actions} onDone={m => { setMe(m); setAlert(undefined) }} />
          : <p class="done">✓ You are <strong>{me.displayName}</strong> ({me.email}).</p>}
      </Section>
      <WebAppStep services={s} me={me} />
      <SupernodesStep services={s} connected={status?.connected ?? s.status.connected} count={status?.supernodes ?? s.status.supernodes} />
      {me !== undefined && <VerifyStep services={s} />}
      {me !== undefined && (
        <details class="more card">
          <summary>Devices and backup</summary>
          <div class="stack">
            <DevicesSection services={s} />
            <BackupSection services={s} me={me} actions={actions} />
          </div>
        </details>
      )}
    </main>
  )
}

/** Step 2: the web app that takes the calls, and the button that opens it already linked. */
function WebAppStep ({ services, me }: { services: AppServices, me: Me | undefined }) {
  const [base, setBase] = useState('')
  const [note, setNote] = useState<{ ok: boolean, text: string } | undefined>()
  const [saved, setSaved] = useState(false)
  useEffect(() => {
    void messenger().storage.local.get('peerline.pwaBase').then(r => {
      const v = r['peerline.pwaBase']
      if (typeof v === 'string' && v !== '') { setBase(v); setSaved(true) }
    })
  }, [])
  const save = (e: Event): void => {
    e.preventDefault()
    send<Answer<string>>({ command: 'tb:set-pwa-base', base: base.trim() }).then(async r => {
      if (!r.ok) { setNote({ ok: false, text: r.error ?? 'That address was not saved.' }); return }
      setSaved(true)
      // the web app's own supernodes are the sensible default, unless the user chose others
      const current: UserSettings = await services.settings()
      const theirs = current.supernodes.length === 0 ? await webAppSupernodes(r.result ?? base.trim()) : []
      if (theirs.length > 0) {
        await services.saveSettings({ supernodes: theirs })
        setNote({ ok: true, text: 'Saved. Peerline now uses the same supernodes as this web app.' })
      } else {
        setNote({ ok: true, text: 'Saved. Calls open in this web app.' })
      }
    }, (err: unknown) => { setNote({ ok: false, text: (err as Error).message }) })
  }
  const open = (): void => {
    send<Answer<string>>({ command: 'tb:open-webapp' }).then(r => {
      setNote(r.ok ? { ok: true, text: 'The web app is opening in your browser. It becomes one of your devices, so calls ring there.' } : { ok: false, text: r.error ?? 'The web app did not open.' })
    }, (err: unknown) => { setNote({ ok: false, text: (err as Error).message }) })
  }
  return (
    <Section id="step-webapp" title="2. Where your calls ring">
      <p>Thunderbird cannot carry sound or video, so calls open in your web browser, in the Peerline web app. Enter its address (the one you open Peerline at in your browser).</p>
      <form class="stack" onSubmit={save} noValidate>
        <label class="field">
          <span>Web app address</span>
          <input type="url" name="webapp" autoComplete="url" inputMode="url" placeholder="https://peerline.example.org/" value={base}
            onInput={e => { setBase(e.currentTarget.value); setSaved(false) }} />
        </label>
        <div class="row">
          <button type="submit" class="btn">{saved ? 'Saved' : 'Save'}</button>
          <button type="button" class="btn primary" disabled={!saved || me === undefined} onClick={open}
            title={me === undefined ? 'Create your identity first (step 1)' : undefined}>Open the web app and link it</button>
        </div>
      </form>
      {note !== undefined && (note.ok ? <p class="done" aria-live="polite">{note.text}</p> : <p class="problem" role="alert">{note.text}</p>)}
    </Section>
  )
}

/** Step 3: whether Peerline reaches the supernodes, in words; their addresses under "Advanced". */
function SupernodesStep ({ services, connected, count }: { services: AppServices, connected: boolean, count: number }) {
  const [settings, setSettings] = useState<UserSettings | undefined>()
  const [server, setServer] = useState<string[]>([])
  useEffect(() => {
    services.settings().then(setSettings, () => {})
    services.serverSupernodes().then(setServer, () => {})
  }, [services, connected])
  const none = settings !== undefined && settings.supernodes.length === 0 && server.length === 0
  return (
    <Section id="step-supernodes" title="3. Supernodes">
      <p>Peerline finds your contacts through supernodes: computers anyone can run that pass on who is online, never what you say.</p>
      <p class={connected ? 'done' : 'sub'} aria-live="polite">
        {connected
          ? `✓ Connected to ${count} supernode${count === 1 ? '' : 's'}.`
          : none
            ? 'Not connected yet: save your web app’s address above and Peerline uses the same supernodes.'
            : 'Connecting to the supernodes…'}
      </p>
      <details class="advanced">
        <summary>Advanced</summary>
        <div class="stack">
          {settings !== undefined && <SupernodesSection services={services} settings={settings} serverSupernodes={server} onSaved={setSettings} />}
          <TrustedCasSection services={services} />
        </div>
      </details>
    </Section>
  )
}

interface CaOffer { peerId: string, fingerprint: string, trusted: boolean, ca: { name: string, key: string } }

/**
 * Step 4: email verification with a supernode's CA, finished from
 * Thunderbird: the user picks (and so trusts) a CA, which mails a code; on
 * the user's explicit "read it from my mail" the add-on reads only that CA
 * message and confirms.
 */
function VerifyStep ({ services }: { services: AppServices }) {
  const [cert, setCert] = useState<CertificateState | undefined>()
  const [cas, setCas] = useState<CaOffer[] | undefined>()
  const [asked, setAsked] = useState(false)
  const [note, setNote] = useState<string | undefined>()
  const [busy, setBusy] = useState(false)
  const refresh = (): void => { services.verification.state().then(setCert, () => {}) }
  useEffect(refresh, [services])
  const run = <T,>(m: unknown, done: (r: T | undefined) => void): void => {
    setBusy(true)
    send<Answer<T>>(m).then(r => {
      if (r.ok) done(r.result)
      else setNote(r.error)
    }, (err: unknown) => { setNote((err as Error).message) }).finally(() => { setBusy(false) })
  }
  return (
    <Section id="step-verify" title="4. Verify your email address">
      <p>Until a certificate authority confirms your address, the people you call see “Not verified — anyone can claim this address”. {certificateSentence(cert)}</p>
      {cas === undefined && !asked && (
        <button type="button" class="btn" disabled={busy} onClick={() => { run<CaOffer[]>({ command: 'tb:verify-find' }, r => { setCas(r ?? []); if ((r ?? []).length === 0) setNote('None of your supernodes offers email verification right now.') }) }}>
          Verify my email address…
        </button>
      )}
      {cas !== undefined && !asked && cas.map(c => (
        <div key={c.peerId} class="stack">
          <p>{c.ca.name}</p>
          <details class="advanced">
            <summary>Advanced</summary>
            <p class="sub">Fingerprint <code>{c.fingerprint}</code></p>
          </details>
          <button type="button" class="btn" disabled={busy} onClick={() => { run({ command: 'tb:verify-request', peerId: c.peerId }, () => { setAsked(true); setNote(`${c.ca.name} is mailing you a code.`) }) }}>
            Trust {c.ca.name} and mail me a code
          </button>
        </div>
      ))}
      {asked && (
        <p>
          Peerline can read the code from that message for you: it looks only at the message
          “Your Peerline verification code” to your address.{' '}
          <button type="button" class="btn" disabled={busy} onClick={() => { run({ command: 'tb:verify-from-inbox' }, () => { setNote('Your address is verified.'); refresh() }) }}>
            Read the code from my mail
          </button>
        </p>
      )}
      {note !== undefined && <p role="status">{note}</p>}
    </Section>
  )
}

const root = document.getElementById('app')
if (root !== null) {
  root.textContent = ''
  render(<Setup />, root)
}
