/**
 * Chat inside Thunderbird (chat.html#<address>): the shared Transcript and
 * Composer over the background device's history and phone. Transcripts are
 * also saved as mail in "Peerline Chats" by the background.
 */
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { Composer, Transcript } from '../../../shared/ui/Chat.tsx'
import { TrustBadge } from '../../../shared/ui/TrustBadge.tsx'
import { errorMessage } from '../../../shared/ui/messages.ts'
import type { MessageRecord } from '../../../shared/store/history-api.ts'
import { normalizeAor } from '../../../shared/identity/address.ts'
import { useDevice, useDeviceEvents } from '../../pages/hooks.ts'

/** Messages shown (older ones stay searchable in the Peerline Chats folder). */
const SHOWN_MESSAGES = 200

function peerFromHash (): string | undefined {
  try {
    return normalizeAor(decodeURIComponent(location.hash.slice(1)))
  } catch {
    return undefined
  }
}

function Chat ({ peer }: { peer: string }) {
  const device = useDevice()
  const services = device.kind === 'ready' ? device.services : undefined
  const [, version] = useDeviceEvents(services)
  const [messages, setMessages] = useState<MessageRecord[]>([])
  const [problem, setProblem] = useState<string | undefined>()
  useEffect(() => {
    if (services === undefined) return
    let cancelled = false
    services.history.conversation(peer, { limit: SHOWN_MESSAGES }).then(m => { if (!cancelled) setMessages(m) }, (err: unknown) => { setProblem(errorMessage(err)) })
    return () => { cancelled = true }
  }, [services, version, peer])
  if (device.kind === 'connecting') return <p class="loading">Starting Peerline…</p>
  if (device.kind === 'failed') return <p class="problem" role="alert">{device.text}</p>
  const send = (body: string): void => {
    device.services.sendMessage(peer, body).then(r => r.delivery).catch((err: unknown) => { setProblem(errorMessage(err)) })
  }
  return (
    <main class="chat stack">
      <h1>{peer}</h1>
      <TrustBadge view={device.services.keys.level(peer)} aor={peer} />
      {problem !== undefined && <p class="problem" role="alert">{problem}</p>}
      <Transcript peer={peer} messages={messages} />
      <Composer onSend={send} disabled={device.services.me === undefined} />
    </main>
  )
}

const root = document.getElementById('app')
const peer = peerFromHash()
if (root !== null) {
  root.textContent = ''
  render(peer !== undefined ? <Chat peer={peer} /> : <p class="problem" role="alert">This chat link names no valid address.</p>, root)
}
