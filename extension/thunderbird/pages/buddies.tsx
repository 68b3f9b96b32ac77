/**
 * The buddy list (the address book's toolbar action): every contact with an
 * address, its online status in words, Call (handed to the browser) and Chat
 * (inside Thunderbird), in the rows every Peerline list uses
 * (shared/ui/BuddyRow.tsx). Marks the shown buddies visible so their
 * presence is looked up first (presence.ts). Before setup (no identity, or
 * no web app for calls) the list says so and its buttons open the setup
 * page (setup.tsx, the add-on's options page).
 */
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { messenger } from '../messenger.ts'
import type { ThunderbirdState } from '../commands.ts'
import { checkedAgo } from '../presence.ts'
import { BuddyRow } from '../../../shared/ui/BuddyRow.tsx'

/** How often the open list re-reads the background's state (presence answers arrive over time). */
const REFRESH_MS = 2_000

function send<T> (m: unknown): Promise<T> {
  return messenger().runtime.sendMessage(m) as Promise<T>
}

/** Opens the setup page (the add-on's options page). */
function openSetup (): void {
  void messenger().runtime.openOptionsPage().catch(() => {})
}

type Note = { text: string, setup?: boolean } | undefined

function Buddies () {
  const [state, setState] = useState<ThunderbirdState | undefined>()
  const [filter, setFilter] = useState('')
  const [note, setNote] = useState<Note>()
  useEffect(() => {
    let stop = false
    const load = (): void => {
      send<ThunderbirdState | undefined>({ command: 'tb:state' }).then(s => {
        if (stop) return
        if (s === undefined) { setNote({ text: 'Peerline is not running: restart Thunderbird or reinstall the add-on.' }); return }
        setState(s)
        setNote(n => n?.text.startsWith('Cannot read') === true ? undefined : n)
      }, (err: unknown) => { if (!stop) setNote({ text: `Cannot read the address books: ${(err as Error).message}` }) })
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

  if (state === undefined) return note !== undefined ? <p class="problem" role="alert">{note.text}</p> : <p class="loading">Starting Peerline…</p>
  const ready = state.me !== undefined && state.webApp
  /** Before setup, Call and Chat lead there (and say so). */
  const toSetup = (): void => {
    openSetup()
    setNote({ text: 'Finish setting up Peerline first: its setup is open in Thunderbird’s main window.', setup: true })
  }
  const call = (aor: string, name: string): void => {
    if (!ready) { toSetup(); return }
    const who = name !== '' ? name : aor
    // said at once: the browser may take a while to come up
    setNote({ text: `Calling ${who} in your browser…` })
    send<{ ok: boolean, error?: string, name?: string }>({ command: 'tb:call', target: aor }).then(r => {
      if (!r.ok) setNote({ text: r.error ?? 'The call did not start.', setup: r.name === 'PwaAddressError' })
    }, (err: unknown) => { setNote({ text: (err as Error).message }) })
  }
  const chat = (aor: string): void => {
    if (state.me === undefined) { toSetup(); return }
    send<{ ok: boolean, error?: string }>({ command: 'tb:chat', target: aor }).then(r => { if (!r.ok) setNote({ text: r.error ?? 'The chat did not open.' }) }, (err: unknown) => { setNote({ text: (err as Error).message }) })
  }
  const now = Date.now()
  return (
    <main class="popup stack">
      {state.me !== undefined
        ? <p class={`status ${state.online ? 'online' : 'offline'}`} title={`${state.me.displayName} · ${state.me.aor}`}>{state.me.displayName} · {state.online ? 'Online' : 'Not connected'}</p>
        : null}
      {!ready && (
        <section class="card stack" aria-label="Set up Peerline">
          <p>{state.me === undefined
            ? 'Peerline is not set up yet: choose your identity and where your calls ring.'
            : 'Choose the web app that takes your calls (Thunderbird cannot carry sound or video).'}</p>
          <button type="button" class="btn primary" onClick={openSetup}>Set up Peerline…</button>
        </section>
      )}
      {note !== undefined && (
        <p role="status" class="note">{note.text}{note.setup === true && <> <button type="button" class="btn link" onClick={openSetup}>Open setup</button></>}</p>
      )}
      <input type="search" aria-label="Find a contact" placeholder="Find a contact" value={filter} onInput={e => { setFilter(e.currentTarget.value) }} />
      {shown.length === 0
        ? <p class="empty">No contacts with an email address yet.</p>
        : (
          <ul class="list buddies" aria-label="Buddies">
            {shown.map(b => (
              <BuddyRow key={b.aor} aor={b.aor} name={b.name} presence={b.presence} trust={b.trust}
                checked={b.checkedAt !== 0 ? checkedAgo(b.checkedAt, now) : undefined}>
                <button type="button" class="btn" onClick={() => { call(b.aor, b.name) }}
                  aria-label={`Call ${b.name !== '' ? b.name : b.aor}`} title={ready ? 'Opens the call in your browser' : 'Set up Peerline first'}>Call</button>
                <button type="button" class="btn" onClick={() => { chat(b.aor) }}
                  aria-label={`Chat with ${b.name !== '' ? b.name : b.aor}`} title={state.me !== undefined ? 'Opens a chat window' : 'Set up Peerline first'}>Chat</button>
              </BuddyRow>
            ))}
          </ul>
          )}
      {state.skipped.length > 0 && <p class="hint">{state.skipped.length} contact(s) skipped: their vCard cannot be read.</p>}
      <button type="button" class="btn link" onClick={openSetup}>Peerline settings</button>
    </main>
  )
}

const root = document.getElementById('app')
if (root !== null) {
  root.textContent = ''
  render(<Buddies />, root)
}
