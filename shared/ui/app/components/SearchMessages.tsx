/**
 * Full-text search over every transcript (history.search): each hit shows the
 * peer and the date and opens that chat.
 */
import { useEffect, useState } from 'preact/hooks'
import type { MessageRecord } from '../../../store/history-api.ts'
import { formatWhen } from '../../format.ts'
import { SEARCH_DEBOUNCE_MS, SEARCH_LIMIT } from '../constants.ts'
import { chatHash } from '../links.ts'
import type { AppServices } from '../services.ts'

export function SearchMessages ({ services, historyVersion }: { services: AppServices, historyVersion: number }) {
  const [query, setQuery] = useState('')
  const [hits, setHits] = useState<MessageRecord[] | undefined>()
  const [problem, setProblem] = useState<string | undefined>()

  useEffect(() => {
    const q = query.trim()
    if (q === '') { setHits(undefined); return }
    let cancelled = false
    const timer = setTimeout(() => {
      services.history.search(q, { limit: SEARCH_LIMIT }).then(found => {
        if (!cancelled) { setHits(found); setProblem(undefined) }
      }, (err: unknown) => { if (!cancelled) setProblem((err as Error).message) })
    }, SEARCH_DEBOUNCE_MS)
    return () => { cancelled = true; clearTimeout(timer) }
  }, [services, query, historyVersion])

  return (
    <div class="search" role="search">
      <input type="search" aria-label="Search messages" placeholder="Search messages" value={query}
        onInput={e => { setQuery(e.currentTarget.value) }} />
      {problem !== undefined && <p class="problem">{problem}</p>}
      {hits !== undefined && (
        hits.length === 0
          ? <p class="empty" aria-live="polite">No messages match “{query.trim()}”.</p>
          : (
            <ul class="list hits" aria-label="Search results">
              {hits.map(m => (
                <li key={m.id}>
                  <a class="hit" href={chatHash(m.peer)}>
                    <span class="hit-head"><span class="peer">{m.peer}</span> <time dateTime={new Date(m.at).toISOString()}>{formatWhen(m.at)}</time></span>
                    <span class="hit-body">{m.direction === 'out' ? 'You: ' : ''}{m.body}</span>
                  </a>
                </li>
              ))}
            </ul>
            )
      )}
    </div>
  )
}
