/**
 * The main screen: the dial box (call or message an address), buddies with
 * presence, recent conversations and message search.
 */
import { useEffect, useState } from 'preact/hooks'
import { normalizeAor } from '../../../identity/index.ts'
import type { ConversationSummary } from '../../../store/history-api.ts'
import { formatWhen } from '../../format.ts'
import type { AppActions } from '../actions.ts'
import { BuddyList } from '../components/BuddyList.tsx'
import { SearchMessages } from '../components/SearchMessages.tsx'
import { chatHash } from '../links.ts'
import type { AppServices } from '../services.ts'
import type { AppState } from '../state.ts'

export interface HomeProps {
  services: AppServices
  state: AppState
  actions: AppActions
}

export function HomeScreen ({ services, state, actions }: HomeProps) {
  const [target, setTarget] = useState('')

  const call = (e: Event): void => {
    e.preventDefault()
    if (target.trim() === '') { actions.say('Type an email address or sip: address to call.'); return }
    actions.dial(target.trim())
  }
  const message = (): void => {
    if (target.trim() === '') { actions.say('Type an email address or sip: address to message.'); return }
    try {
      location.hash = chatHash(normalizeAor(target))
    } catch (err) {
      actions.showError(err)
    }
  }

  return (
    <div class="home stack">
      <form class="dial" onSubmit={call} aria-label="Call or message someone">
        <input type="text" aria-label="Call or message" placeholder="Email address or sip: URI" value={target}
          inputMode="email" autoComplete="off" autoCapitalize="off" spellcheck={false}
          onInput={e => { setTarget(e.currentTarget.value) }} />
        <div class="row">
          <button type="submit" class="btn primary">Call</button>
          <button type="button" class="btn" onClick={message}>Message</button>
        </div>
      </form>
      <BuddyList services={services} actions={actions} historyVersion={state.historyVersion}
        online={state.status.connected} unread={state.unread} />
      <Conversations services={services} historyVersion={state.historyVersion} unread={state.unread} />
      <section aria-labelledby="search-title">
        <h2 id="search-title">Search</h2>
        <SearchMessages services={services} historyVersion={state.historyVersion} />
      </section>
    </div>
  )
}

function Conversations ({ services, historyVersion, unread }: { services: AppServices, historyVersion: number, unread: Record<string, number> }) {
  const [list, setList] = useState<ConversationSummary[]>([])
  useEffect(() => {
    let cancelled = false
    services.history.conversations().then(c => { if (!cancelled) setList(c) }, () => {})
    return () => { cancelled = true }
  }, [services, historyVersion])
  if (list.length === 0) return null
  return (
    <section class="conversations" aria-labelledby="conversations-title">
      <h2 id="conversations-title">Conversations</h2>
      <ul class="list">
        {list.map(c => (
          <li key={c.peer}>
            <a class="conversation" href={chatHash(c.peer)}>
              <span class="hit-head">
                <span class="peer">{c.peer}</span>
                {(unread[c.peer] ?? 0) > 0 && <span class="count" aria-label={`${unread[c.peer]} unread`}>{unread[c.peer]}</span>}
                <time dateTime={new Date(c.last.at).toISOString()}>{formatWhen(c.last.at)}</time>
              </span>
              <span class="hit-body">{c.last.direction === 'out' ? 'You: ' : ''}{c.last.body}</span>
            </a>
          </li>
        ))}
      </ul>
    </section>
  )
}
