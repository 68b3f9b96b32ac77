/**
 * A conversation with one peer: the transcript (oldest first) and the
 * composer. Storage and sending belong to the host; this only shows and asks.
 */
import { useEffect, useRef, useState } from 'preact/hooks'
import type { MessageRecord } from '../store/history-api.ts'
import { formatWhen } from './format.ts'
import { TrustBadge } from './TrustBadge.tsx'
import type { TrustSnapshot } from './trust-text.ts'

/** The level kept with the message; older records only say whether the signatures checked out (which is not verification). */
function messageTrust (m: MessageRecord): TrustSnapshot {
  return m.trust ?? (m.verified ? { level: 'unverified' } : { level: 'unauthenticated' })
}

const STATUS_TEXT: Record<MessageRecord['status'], string> = {
  sending: 'Sending…',
  sent: 'Sent',
  failed: 'Not delivered',
  received: ''
}

export interface TranscriptProps {
  peer: string
  messages: MessageRecord[]
  /** the name shown for the peer (default: the address) */
  peerName?: string
  /** offered on each undelivered message of ours ("Retry") */
  onRetry?: (m: MessageRecord) => void
}

export function Transcript ({ peer, messages, peerName, onRetry }: TranscriptProps) {
  const end = useRef<HTMLLIElement>(null)
  const last = messages[messages.length - 1]
  // keep the newest message in view as messages arrive
  useEffect(() => { end.current?.scrollIntoView?.({ block: 'end' }) }, [last?.id, last?.status])
  const who = peerName !== undefined && peerName !== '' ? peerName : peer
  if (messages.length === 0) return <p class="empty">No messages with {who} yet.</p>
  return (
    <ol class="transcript" aria-label={`Conversation with ${who}`}>
      {messages.map(m => (
        <li key={m.id} class={`msg ${m.direction} ${m.status}`} data-status={m.status}>
          <p class="msg-body">{m.body}</p>
          <p class="msg-meta">
            <time dateTime={new Date(m.at).toISOString()}>{formatWhen(m.at)}</time>
            {m.direction === 'out' && <span class="msg-status"> · {STATUS_TEXT[m.status]}</span>}
            {m.direction === 'out' && m.status === 'failed' && onRetry !== undefined && (
              <> <button type="button" class="btn link retry" onClick={() => { onRetry(m) }}>Retry</button></>
            )}
            {m.direction === 'in' && <> · <TrustBadge view={messageTrust(m)} aor={peer} class="compact" /></>}
          </p>
        </li>
      ))}
      <li ref={end} class="transcript-end" aria-hidden="true" />
    </ol>
  )
}

export interface ComposerProps {
  /** resolves when the message is handed over (stored as 'sending'); the text box is cleared then */
  onSend: (body: string) => Promise<void> | void
  disabled?: boolean
}

export function Composer ({ onSend, disabled = false }: ComposerProps) {
  const [body, setBody] = useState('')
  const [sending, setSending] = useState(false)
  const submit = (e: Event): void => {
    e.preventDefault()
    const text = body.trim()
    if (text === '' || sending) return
    setSending(true)
    Promise.resolve(onSend(text)).then(() => { setBody('') }, () => {}).finally(() => { setSending(false) })
  }
  return (
    <form class="composer row" onSubmit={submit}>
      <input type="text" aria-label="Message" placeholder="Message" value={body} disabled={disabled}
        autoComplete="off" enterKeyHint="send" onInput={e => { setBody(e.currentTarget.value) }} />
      <button type="submit" class="btn primary" disabled={disabled || sending || body.trim() === ''}>Send</button>
    </form>
  )
}
