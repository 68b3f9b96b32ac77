/**
 * The buddy list (the address book's toolbar action): every contact with an
 * address, its online status, Call (handed to the browser) and Chat (inside
 * Thunderbird). Marks the shown buddies visible so their presence is looked
 * up first (presence.ts).
 */
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { messenger } from '../messenger.ts'
import type { ThunderbirdState } from '../commands.ts'
import { checkedAgo } from '../presence.ts'
import { TrustBadge } from '../../../shared/ui/TrustBadge.tsx'

/** How often the open list re-reads the background's state (presence answers arrive over time). */
const REFRESH_MS = 2_000

const PRESENCE_TEXT = { online: 'online', offline: 'offline', unknown: 'status unknown' }

function send<T> (m: unknown): Promise<T> {
  return messenger().runtime.sendMessage(m) as Promise<T>
}

function Buddies () {
  const [state, setState] = useState<ThunderbirdState | undefined>()
  const [filter, setFilter] = useState('')
  const [note, setNote] = useState<string | undefined>()
  useEffect(() => {
    let stop = false
    const load = (): void => {
      send<ThunderbirdState | undefined>({ command: 'tb:state' }).then(s => {
        if (stop) return
        if (s === undefined) { setNote('Peerline is not running: reload the add-on'); return }
        setState(s)
        setNote(n => n?.startsWith('Cannot read') === true ? undefined : n)
      }, (err: unknown) => { if (!stop) setNote(`Cannot read the address books: ${(err as Error).message}`) })
    }
    load()
    const timer = setInterval(load, REFRESH_MS)
    return () => { stop = true; clearInterval(timer) }
  }, [])
  const shown = (state?.buddies ?? []).filter(b => filter === '' || `${b.name} ${b.aor}`.toLowerCase().includes(filter.toLowerCase()))
  const visibleKey = shown.slice(0, 50).map(b => b.aor).join(',')
  useEffect(() => {
    if (visibleKey !== '') void send({ command: 'tb:visible', aors: visibleKey.split(',') })
  }, [visibleKey])

  if (state === undefined) return note !== undefined ? <p class="error" role="alert">{note}</p> : <p class="loading">Starting Peerline…</p>
  const call = (aor: string): void => {
    send<{ ok: boolean, error?: string }>({ command: 'tb:call', target: aor }).then(r => { setNote(r.ok ? `Calling ${aor} in your browser…` : r.error) }, (err: unknown) => { setNote((err as Error).message) })
  }
  const chat = (aor: string): void => {
    send<{ ok: boolean, error?: string }>({ command: 'tb:chat', target: aor }).then(r => { if (!r.ok) setNote(r.error) }, (err: unknown) => { setNote((err as Error).message) })
  }
  const now = Date.now()
  return (
    <main class="popup stack">
      <p class="status">{state.me !== undefined ? `${state.me.displayName} · ${state.me.aor} · ${state.online ? 'online' : 'offline'}` : 'Set up Peerline in the add-on options first.'}</p>
      {note !== undefined && <p role="status">{note}</p>}
      <input type="search" aria-label="Find a contact" placeholder="Find a contact" value={filter} onInput={e => { setFilter(e.currentTarget.value) }} />
      {shown.length === 0
        ? <p class="empty">No contacts with an email address yet.</p>
        : (
          <ul class="buddies" aria-label="Buddies">
            {shown.map(b => (
              <li key={b.aor} class={`buddy ${b.presence}`} data-aor={b.aor} data-presence={b.presence}>
                <span class={`dot ${b.presence}`} title={PRESENCE_TEXT[b.presence]} aria-label={PRESENCE_TEXT[b.presence]} />
                <span class="name">{b.name !== '' ? b.name : b.aor}</span>
                {b.name !== '' && <span class="aor"> {b.aor}</span>}
                {b.checkedAt !== 0 && <span class="checked"> {checkedAgo(b.checkedAt, now)}</span>}
                <TrustBadge view={b.trust} aor={b.aor} class="compact" />
                <button type="button" onClick={() => { call(b.aor) }} title="Opens the call in your browser">Call</button>
                <button type="button" onClick={() => { chat(b.aor) }}>Chat</button>
              </li>
            ))}
          </ul>
          )}
      {state.skipped.length > 0 && <p class="hint">{state.skipped.length} contact(s) skipped: their vCard cannot be read.</p>}
      <PwaAddress />
      {state.me !== undefined && <VerifyEmail />}
    </main>
  )
}

interface Answer<T> { ok: boolean, result?: T, error?: string }
interface CaOffer { peerId: string, fingerprint: string, trusted: boolean, ca: { name: string, key: string } }

/**
 * Email verification with a supernode's CA, finished from Thunderbird: the
 * user picks (and so trusts) a CA, which mails a code; on the user's explicit
 * "read it from my mail" the add-on reads only that CA message and confirms.
 */
function VerifyEmail () {
  const [cas, setCas] = useState<CaOffer[] | undefined>()
  const [asked, setAsked] = useState(false)
  const [note, setNote] = useState<string | undefined>()
  const [busy, setBusy] = useState(false)
  const run = <T,>(m: unknown, done: (r: T | undefined) => void): void => {
    setBusy(true)
    send<Answer<T>>(m).then(r => {
      if (r.ok) done(r.result)
      else setNote(r.error)
    }, (err: unknown) => { setNote((err as Error).message) }).finally(() => { setBusy(false) })
  }
  return (
    <section class="card stack" aria-label="Email verification">
      {cas === undefined && !asked && (
        <button type="button" disabled={busy} onClick={() => { run<CaOffer[]>({ command: 'tb:verify-find' }, r => { setCas(r ?? []); if ((r ?? []).length === 0) setNote('No supernode you are connected to runs a certificate authority.') }) }}>
          Verify my email address…
        </button>
      )}
      {cas !== undefined && !asked && cas.map(c => (
        <p key={c.peerId}>
          {c.ca.name} <code>{c.fingerprint}</code>{' '}
          <button type="button" disabled={busy} onClick={() => { run({ command: 'tb:verify-request', peerId: c.peerId }, () => { setAsked(true); setNote(`${c.ca.name} is mailing you a code.`) }) }}>
            Trust this CA and mail me a code
          </button>
        </p>
      ))}
      {asked && (
        <p>
          Peerline can read the code from that message for you: it looks only at the CA's message
          ("Your Peerline verification code") to your address.{' '}
          <button type="button" disabled={busy} onClick={() => { run({ command: 'tb:verify-from-inbox' }, () => { setNote('Your address is verified.') }) }}>
            Read the code from my mail
          </button>
        </p>
      )}
      {note !== undefined && <p role="status">{note}</p>}
    </section>
  )
}

/** Where calls go: the Peerline web app the browser opens. */
function PwaAddress () {
  const [base, setBase] = useState('')
  const [saved, setSaved] = useState(false)
  useEffect(() => {
    void messenger().storage.local.get('peerline.pwaBase').then(r => { if (typeof r['peerline.pwaBase'] === 'string') setBase(r['peerline.pwaBase']) })
  }, [])
  return (
    <form class="row" onSubmit={e => { e.preventDefault(); void send({ command: 'tb:set-pwa-base', base: base.trim() }).then(() => { setSaved(true) }) }}>
      <input type="url" aria-label="Peerline web app address" placeholder="https://… (web app for calls)" value={base} onInput={e => { setBase(e.currentTarget.value); setSaved(false) }} />
      <button type="submit">{saved ? 'Saved' : 'Save'}</button>
    </form>
  )
}

const root = document.getElementById('app')
if (root !== null) {
  root.textContent = ''
  render(<Buddies />, root)
}
