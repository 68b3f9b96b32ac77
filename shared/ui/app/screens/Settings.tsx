/**
 * Settings: display name, supernodes, STUN/TURN servers, SIP accounts,
 * identity backup (export and restore) and persistent storage. The PWA shows
 * every section open; the browser extension's options page (`advanced`) folds
 * what only an operator needs (supernode addresses, STUN/TURN, trusted CAs)
 * under "Advanced" and leaves out Storage (an extension's storage is not
 * cleared by the browser). Thunderbird's setup page builds on the exported sections.
 */
import { useEffect, useState } from 'preact/hooks'
import type { ComponentChildren } from 'preact'
import { MIN_PASSPHRASE_LENGTH } from '../../../identity/index.ts'
import { errorMessage } from '../../messages.ts'
import type { AppActions } from '../actions.ts'
import { RestoreForm } from '../components/RestoreForm.tsx'
import { TrustedCasSection } from '../components/TrustedCas.tsx'
import { EmailVerificationSection } from './VerifyEmail.tsx'
import { DevicesSection } from '../components/Devices.tsx'
import { SipAccountsSection } from '../components/SipAccounts.tsx'
import type { AppServices, Me, UserSettings } from '../services.ts'
import { backupFileName, checkIceServer, checkNewPassphrase, checkSupernodes } from '../settings.ts'

export interface SettingsProps {
  services: AppServices
  me: Me | undefined
  actions: AppActions
  /** fold the operator's details under "Advanced" and leave out Storage (the browser extension); default false (the PWA) */
  advanced?: boolean
  /** with `advanced`: start with "Advanced" open (nothing works until a supernode is entered there) */
  advancedOpen?: boolean
}

type Outcome = { ok: boolean, text: string } | undefined

/** A settings section's own result line: problems as alerts, success politely. */
function Outcome ({ outcome }: { outcome: Outcome }) {
  if (outcome === undefined) return null
  return outcome.ok ? <p class="done" aria-live="polite">{outcome.text}</p> : <p class="problem" role="alert">{outcome.text}</p>
}

export function Section ({ id, title, children }: { id: string, title: string, children: ComponentChildren }) {
  return (
    <section class="card stack" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  )
}

export function SettingsScreen ({ services, me, actions, advanced = false, advancedOpen = false }: SettingsProps) {
  const [settings, setSettings] = useState<UserSettings | undefined>()
  const [serverSupernodes, setServerSupernodes] = useState<string[]>([])
  // opened when asked, then the user's to close: saving a supernode does not fold it away under them
  const [open, setOpen] = useState(advancedOpen)
  useEffect(() => { if (advancedOpen) setOpen(true) }, [advancedOpen])
  useEffect(() => {
    services.settings().then(setSettings, (err: unknown) => { actions.showError(err) })
    services.serverSupernodes().then(setServerSupernodes, () => {})
  }, [services])

  if (settings === undefined) return <p class="loading">Loading settings…</p>
  if (advanced) {
    return (
      <div class="settings stack">
        <ProfileSection services={services} me={me} settings={settings} onSaved={setSettings} />
        <EmailVerificationSection services={services} me={me} />
        <DevicesSection services={services} />
        <BackupSection services={services} me={me} actions={actions} />
        <details class="advanced card" open={open} onToggle={e => { setOpen(e.currentTarget.open) }}>
          <summary>Advanced</summary>
          <div class="stack">
            <SupernodesSection services={services} settings={settings} serverSupernodes={serverSupernodes} onSaved={setSettings} />
            <IceSection services={services} settings={settings} onSaved={setSettings} />
            <TrustedCasSection services={services} />
          </div>
        </details>
      </div>
    )
  }
  return (
    <div class="settings stack">
      <ProfileSection services={services} me={me} settings={settings} onSaved={setSettings} />
      <SupernodesSection services={services} settings={settings} serverSupernodes={serverSupernodes} onSaved={setSettings} />
      <IceSection services={services} settings={settings} onSaved={setSettings} />
      <SipAccountsSection services={services} />
      <EmailVerificationSection services={services} me={me} />
      <TrustedCasSection services={services} />
      <DevicesSection services={services} />
      <BackupSection services={services} me={me} actions={actions} />
      <StorageSection services={services} />
    </div>
  )
}

export interface SectionProps { services: AppServices, settings: UserSettings, onSaved: (s: UserSettings) => void }

export function ProfileSection ({ services, me, settings, onSaved }: SectionProps & { me: Me | undefined }) {
  const [name, setName] = useState(settings.displayName !== '' ? settings.displayName : me?.displayName ?? '')
  const [outcome, setOutcome] = useState<Outcome>()
  const save = (e: Event): void => {
    e.preventDefault()
    services.saveSettings({ displayName: name }).then(() => {
      onSaved({ ...settings, displayName: name.trim() })
      setOutcome({ ok: true, text: 'Saved. People you call now see this name.' })
    }, (err: unknown) => { setOutcome({ ok: false, text: errorMessage(err) ?? '' }) })
  }
  return (
    <Section id="profile-title" title="You">
      <p>Your address: <strong>{me?.email}</strong></p>
      <form class="stack" onSubmit={save}>
        <label class="field">
          <span>Display name</span>
          <input type="text" autoComplete="name" value={name} onInput={e => { setName(e.currentTarget.value) }} />
        </label>
        <Outcome outcome={outcome} />
        <button type="submit" class="btn">Save name</button>
      </form>
    </Section>
  )
}

export function SupernodesSection ({ services, settings, serverSupernodes, onSaved }: SectionProps & { serverSupernodes: string[] }) {
  const [text, setText] = useState(settings.supernodes.join('\n'))
  const [outcome, setOutcome] = useState<Outcome>()
  const save = (e: Event): void => {
    e.preventDefault()
    const checked = checkSupernodes(text)
    if (!checked.ok) { setOutcome({ ok: false, text: checked.error }); return }
    setOutcome({ ok: true, text: 'Saving and reconnecting…' })
    services.saveSettings({ supernodes: checked.value }).then(() => {
      onSaved({ ...settings, supernodes: checked.value })
      setText(checked.value.join('\n'))
      setOutcome({ ok: true, text: checked.value.length === 0 ? 'Saved: using the supernodes this server recommends.' : 'Saved and reconnected.' })
    }, (err: unknown) => { setOutcome({ ok: false, text: errorMessage(err) ?? '' }) })
  }
  return (
    <Section id="supernodes-title" title="Supernodes">
      <form class="stack" onSubmit={save} noValidate>
        <label class="field">
          <span>Supernodes (one multiaddr per line; empty: the server's)</span>
          <textarea rows={4} spellcheck={false} autoCapitalize="off" value={text} placeholder={serverSupernodes.join('\n')}
            onInput={e => { setText(e.currentTarget.value) }} />
        </label>
        {serverSupernodes.length > 0 && (
          <p class="sub">This server recommends {serverSupernodes.length} supernode{serverSupernodes.length === 1 ? '' : 's'}.</p>
        )}
        <Outcome outcome={outcome} />
        <button type="submit" class="btn">Save supernodes</button>
      </form>
    </Section>
  )
}

function IceSection ({ services, settings, onSaved }: SectionProps) {
  const first = settings.iceServers[0]
  const [urls, setUrls] = useState(first?.urls.join('\n') ?? '')
  const [username, setUsername] = useState(first?.username ?? '')
  const [credential, setCredential] = useState(first?.credential ?? '')
  const [outcome, setOutcome] = useState<Outcome>()
  const save = (e: Event): void => {
    e.preventDefault()
    const checked = checkIceServer(urls, username, credential)
    if (!checked.ok) { setOutcome({ ok: false, text: checked.error }); return }
    services.saveSettings({ iceServers: checked.value }).then(() => {
      onSaved({ ...settings, iceServers: checked.value })
      setOutcome({ ok: true, text: 'Saved. New calls use these servers.' })
    }, (err: unknown) => { setOutcome({ ok: false, text: errorMessage(err) ?? '' }) })
  }
  return (
    <Section id="ice-title" title="STUN/TURN servers">
      <form class="stack" onSubmit={save} noValidate>
        <label class="field">
          <span>STUN/TURN URLs (one per line)</span>
          <textarea rows={2} spellcheck={false} autoCapitalize="off" value={urls} placeholder="turn:turn.example.org:3478"
            onInput={e => { setUrls(e.currentTarget.value) }} />
        </label>
        <label class="field">
          <span>TURN username</span>
          <input type="text" autoComplete="off" autoCapitalize="off" value={username} onInput={e => { setUsername(e.currentTarget.value) }} />
        </label>
        <label class="field">
          <span>TURN credential</span>
          <input type="password" autoComplete="off" value={credential} onInput={e => { setCredential(e.currentTarget.value) }} />
        </label>
        <Outcome outcome={outcome} />
        <button type="submit" class="btn">Save servers</button>
      </form>
    </Section>
  )
}

export function BackupSection ({ services, me, actions }: { services: AppServices, me: Me | undefined, actions: AppActions }) {
  const [passphrase, setPassphrase] = useState('')
  const [repeat, setRepeat] = useState('')
  const [outcome, setOutcome] = useState<Outcome>()
  const [busy, setBusy] = useState(false)
  const exportBackup = (e: Event): void => {
    e.preventDefault()
    const checked = checkNewPassphrase(passphrase, repeat, MIN_PASSPHRASE_LENGTH)
    if (!checked.ok) { setOutcome({ ok: false, text: checked.error }); return }
    setBusy(true)
    services.exportBackup(checked.value).then(text => {
      download(text, backupFileName(me?.email ?? 'identity'))
      setPassphrase('')
      setRepeat('')
      setOutcome({ ok: true, text: 'Backup downloaded. Keep the file and the passphrase in separate safe places.' })
    }, (err: unknown) => { setOutcome({ ok: false, text: errorMessage(err) ?? '' }) }).finally(() => { setBusy(false) })
  }
  return (
    <Section id="backup-title" title="Identity backup">
      <p>The backup holds your private key, encrypted with a passphrase. Use it to move your identity to another device.</p>
      <form class="stack" onSubmit={exportBackup} noValidate>
        <label class="field">
          <span>New backup passphrase (at least {MIN_PASSPHRASE_LENGTH} characters)</span>
          <input type="password" autoComplete="new-password" value={passphrase} onInput={e => { setPassphrase(e.currentTarget.value) }} />
        </label>
        <label class="field">
          <span>Repeat the passphrase</span>
          <input type="password" autoComplete="new-password" value={repeat} onInput={e => { setRepeat(e.currentTarget.value) }} />
        </label>
        <Outcome outcome={outcome} />
        <button type="submit" class="btn" disabled={busy}>{busy ? 'Encrypting…' : 'Download backup'}</button>
      </form>
      <details class="restore">
        <summary>Restore another backup</summary>
        <RestoreForm services={services} actions={actions} allowReplace onRestored={() => {}} />
      </details>
    </Section>
  )
}

function StorageSection ({ services }: { services: AppServices }) {
  const [persisted, setPersisted] = useState<boolean | undefined>()
  const [asked, setAsked] = useState(false)
  useEffect(() => { services.storagePersisted().then(setPersisted, () => { setPersisted(false) }) }, [services])
  const ask = (): void => {
    setAsked(true)
    services.requestPersistence().then(setPersisted, () => { setPersisted(false) })
  }
  return (
    <Section id="storage-title" title="Storage">
      <p aria-live="polite">
        {persisted === undefined
          ? 'Checking…'
          : persisted
            ? 'Storage is persistent: the browser will not clear your history and identity to free space.'
            : asked
              ? 'The browser did not grant persistent storage (installing Peerline or using it more often may help). Keep a backup of your identity.'
              : 'Storage is not persistent: the browser may clear Peerline\'s data when space runs low.'}
      </p>
      {persisted === false && <button type="button" class="btn" onClick={ask}>Keep my data on this device</button>}
    </Section>
  )
}

function download (text: string, name: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }))
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => { URL.revokeObjectURL(url) }, 10_000)
}
