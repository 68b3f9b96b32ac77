/**
 * One conversation: the transcript from the history store, the composer, a
 * Call button, and message search.
 */
import { useEffect, useState } from 'preact/hooks'
import { DEFAULT_PAGE_SIZE } from '../../../store/constants.ts'
import type { MessageRecord } from '../../../store/history-api.ts'
import { Composer, Transcript } from '../../Chat.tsx'
import type { AppActions } from '../actions.ts'
import { SearchMessages } from '../components/SearchMessages.tsx'
import { ContactTrust } from '../components/ContactTrust.tsx'
import type { AppServices, AppStatus } from '../services.ts'

export interface ChatScreenProps {
  services: AppServices
  peer: string
  historyVersion: number
  actions: AppActions
  status: AppStatus
}

export function ChatScreen ({ services, peer, historyVersion, actions }: ChatScreenProps) {
  const [messages, setMessages] = useState<MessageRecord[] | undefined>()
  // the newest `limit` messages; "Show earlier messages" raises it a page at a time
  const [limit, setLimit] = useState(DEFAULT_PAGE_SIZE)
  useEffect(() => {
    let cancelled = false
    services.history.conversation(peer, { limit }).then(m => { if (!cancelled) setMessages(m) }, (err: unknown) => { actions.showError(err) })
    return () => { cancelled = true }
  }, [services, peer, historyVersion, limit])

  const send = async (body: string, identityKey?: string): Promise<void> => {
    try {
      const { delivery } = await services.sendMessage(peer, body, identityKey !== undefined ? { identityKey } : {})
      delivery.catch((err: unknown) => {
        // several keys claim the address: nothing was sent; the user picks one and it is sent to that key
        if (!actions.chooseClaim(err, peer, async key => { await send(body, key) })) actions.showError(err, { address: peer })
      })
    } catch (err) {
      actions.showError(err, { address: peer })
      throw err
    }
  }

  return (
    <section class="chat" aria-labelledby="chat-title">
      <div class="row chat-head">
        <h2 id="chat-title" class="grow">{peer}</h2>
        <button type="button" class="btn primary" onClick={() => { actions.dial(peer) }}>Call</button>
      </div>
      <ContactTrust services={services} aor={peer} actions={actions} />
      {messages !== undefined && messages.length >= limit && (
        <button type="button" class="btn" onClick={() => { setLimit(l => l + DEFAULT_PAGE_SIZE) }}>Show earlier messages</button>
      )}
      {messages === undefined
        ? <p class="loading">Loading…</p>
        : <Transcript peer={peer} messages={messages} onRetry={m => { services.retryMessage(m).then(r => r.delivery).catch((err: unknown) => { actions.showError(err, { address: peer }) }) }} />}
      <Composer onSend={async body => { await send(body) }} />
      <details class="chat-search">
        <summary>Search all messages</summary>
        <SearchMessages services={services} historyVersion={historyVersion} />
      </details>
    </section>
  )
}
