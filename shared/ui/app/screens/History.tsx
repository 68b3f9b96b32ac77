/**
 * Call history, newest first: direction, peer, outcome, duration, time.
 */
import { useEffect, useState } from 'preact/hooks'
import type { CallOutcome, CallRecord } from '../../../store/history-api.ts'
import { formatDuration, formatWhen } from '../../format.ts'
import { TrustBadge } from '../../TrustBadge.tsx'
import { Icon } from '../../Icon.tsx'
import type { AppActions } from '../actions.ts'
import { CALL_HISTORY_LIMIT } from '../constants.ts'
import { chatHash } from '../links.ts'
import type { AppServices } from '../services.ts'

const OUTCOME_TEXT: Record<CallOutcome, string> = {
  answered: 'Answered',
  missed: 'Missed',
  declined: 'Declined',
  cancelled: 'Cancelled',
  'no-answer': 'No answer',
  failed: 'Failed',
  busy: 'Busy'
}

export function HistoryScreen ({ services, historyVersion, actions }: { services: AppServices, historyVersion: number, actions: AppActions }) {
  const [calls, setCalls] = useState<CallRecord[] | undefined>()
  useEffect(() => {
    let cancelled = false
    services.history.calls({ limit: CALL_HISTORY_LIMIT }).then(c => { if (!cancelled) setCalls(c) }, (err: unknown) => { actions.showError(err) })
    return () => { cancelled = true }
  }, [services, historyVersion])

  return (
    <section class="history" aria-labelledby="history-title">
      <h2 id="history-title">Recent calls</h2>
      {calls === undefined && <p class="loading">Loading…</p>}
      {calls !== undefined && calls.length === 0 && <p class="empty">No calls yet.</p>}
      <ul class="list calls">
        {(calls ?? []).map(c => (
          <li key={c.id} class={`call-record ${c.outcome}`} data-outcome={c.outcome}>
            <span class="dir" aria-label={c.direction === 'in' ? 'Incoming' : 'Outgoing'} title={c.direction === 'in' ? 'Incoming' : 'Outgoing'}>
              {c.direction === 'in' ? '↙' : '↗'}
            </span>
            <span class="grow">
              <a class="peer" href={chatHash(c.peer)}>{c.peer}</a>
              <span class="sub">
                {c.direction === 'in' ? 'Incoming' : 'Outgoing'}{c.video ? ' video' : ''} · {OUTCOME_TEXT[c.outcome]}
                {c.outcome === 'answered' && c.durationMs > 0 ? ` · ${formatDuration(c.durationMs)}` : ''}
                {' · '}<time dateTime={new Date(c.startedAt).toISOString()}>{formatWhen(c.startedAt)}</time>
              </span>
              {/* the level at the time of the call, not today's */}
              {c.trust !== undefined && <TrustBadge view={c.trust} aor={c.peer} class="compact" />}
            </span>
            <button type="button" class="btn icon" aria-label={`Dial ${c.peer} again`} title="Dial again" onClick={() => { actions.dial(c.peer) }}><Icon name="phone" /></button>
          </li>
        ))}
      </ul>
    </section>
  )
}
