/**
 * Chat inside Thunderbird (chat.html#<address>): the shared Transcript and
 * Composer over the background device's history and phone, headed (and
 * titled) with the contact's name from the address book. Transcripts are
 * also saved as mail in "Peerline Chats" by the background.
 *
 * Errors describe the present: a "not reachable" banner goes away as soon
 * as the contact is reachable again (a message from them, one of ours
 * delivered, or a presence lookup saying online); an undelivered message
 * offers Retry.
 */
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { Composer, Transcript } from '../../../shared/ui/Chat.tsx'
import { TrustBadge } from '../../../shared/ui/TrustBadge.tsx'
import { errorMessage } from '../../../shared/ui/messages.ts'
import type { MessageRecord } from '../../../shared/store/history-api.ts'
import { normalizeAor } from '../../../shared/identity/address.ts'
import { useDevice, useDeviceEvents } from '../../pages/hooks.ts'
import { messenger } from '../messenger.ts'
import type { ThunderbirdState } from '../commands.ts'

/** Messages shown (older ones stay searchable in the Peerline Chats folder). */
const SHOWN_MESSAGES = 200
/** While a problem is shown: how often to look whether the contact is reachable again. */
const RECHECK_MS = 10_000

function peerFromHash (): string | undefined {
  try {
    return normalizeAor(decodeURIComponent(location.hash.slice(1)))
  } catch {
    return undefined
  }
}

/** The contact's name as the address book has it ('' when it has none). */
function useContactName (peer: string): string {
  const [name, setName] = useState('')
  useEffect(() => {
    let stop = false
    ;(messenger().runtime.sendMessage({ command: 'tb:state' }) as Promise<ThunderbirdState | undefined>).then(s => {
      if (!stop) setName(s?.buddies.find(b => b.aor === peer)?.name ?? '')
    }, () => {})
    return () => { stop = true }
  }, [peer])
  return name
}

/** A problem and when it happened: anything newer that shows the contact reachable clears it. */
interface Problem { text: string, at: number }

function Chat ({ peer }: { peer: string }) {
  const device = useDevice()
  const services = device.kind === 'ready' ? device.services : undefined
  const [, version] = useDeviceEvents(services)
  const [messages, setMessages] = useState<MessageRecord[]>([])
  const [problem, setProblem] = useState<Problem | undefined>()
  const name = useContactName(peer)
  const shownName = name !== '' ? name : peer
  useEffect(() => { document.title = `${shownName} — Peerline chat` }, [shownName])
  useEffect(() => {
    if (services === undefined) return
    let cancelled = false
    services.history.conversation(peer, { limit: SHOWN_MESSAGES }).then(m => { if (!cancelled) setMessages(m) }, (err: unknown) => { setProblem({ text: errorMessage(err) ?? 'The conversation cannot be read.', at: Date.now() }) })
    return () => { cancelled = true }
  }, [services, version, peer])
  // reachable again: a message from them, or one of ours delivered, after the problem
  useEffect(() => {
    if (problem === undefined) return
    if (messages.some(m => m.at >= problem.at && (m.direction === 'in' || m.status === 'sent'))) setProblem(undefined)
  }, [messages, problem])
  // …or the overlay says they are online
  useEffect(() => {
    if (problem === undefined || services === undefined) return
    const controller = new AbortController()
    const timer = setInterval(() => {
      services.presence(peer, { signal: controller.signal }).then(p => { if (p === 'online') setProblem(undefined) }, () => {})
    }, RECHECK_MS)
    return () => { clearInterval(timer); controller.abort() }
  }, [problem, services, peer])
  if (device.kind === 'connecting') return <p class="loading">Starting Peerline…</p>
  if (device.kind === 'failed') return <p class="problem" role="alert">{device.text}</p>
  const s = device.services
  const failed = (err: unknown): void => { setProblem({ text: errorMessage(err, { address: shownName }) ?? 'The message was not delivered.', at: Date.now() }) }
  const send = (body: string): void => {
    s.sendMessage(peer, body).then(r => r.delivery).catch(failed)
  }
  const retry = (m: MessageRecord): void => {
    setProblem(undefined)
    s.retryMessage(m).then(r => r.delivery).catch(failed)
  }
  return (
    <main class="chat stack">
      <h1 title={peer}>{shownName}</h1>
      {name !== '' && <p class="sub">{peer}</p>}
      <TrustBadge view={s.keys.level(peer)} aor={peer} />
      {problem !== undefined && <p class="problem" role="alert">{problem.text}</p>}
      <Transcript peer={peer} peerName={name} messages={messages} onRetry={retry} />
      <Composer onSend={send} disabled={s.me === undefined} />
    </main>
  )
}

const root = document.getElementById('app')
const peer = peerFromHash()
if (root !== null) {
  root.textContent = ''
  render(peer !== undefined ? <Chat peer={peer} /> : <p class="problem" role="alert">This chat link names no valid address.</p>, root)
}
