/**
 * Buddies: people the user keeps at hand, each with whether they are online.
 * Presence is looked up politely: when the list opens and every
 * PRESENCE_REFRESH_MS, one lookup at a time.
 */
import { useEffect, useReducer, useState } from 'preact/hooks'
import type { Buddy } from '../../../store/history-api.ts'
import { Icon } from '../../Icon.tsx'
import { BuddyRow } from '../../BuddyRow.tsx'
import { PRESENCE_REFRESH_MS } from '../constants.ts'
import { chatHash } from '../links.ts'
import type { AppActions } from '../actions.ts'
import type { AppServices, Presence } from '../services.ts'

/** Presence of `aors`, refreshed while mounted and `online`; missing entries are unknown. */
export function usePresence (services: AppServices, aors: string[], online: boolean): Record<string, Presence> {
  const [presence, setPresence] = useState<Record<string, Presence>>({})
  const key = aors.join('\n')
  useEffect(() => {
    if (!online || key === '') return
    const controller = new AbortController()
    let timer: ReturnType<typeof setTimeout> | undefined
    const round = async (): Promise<void> => {
      for (const aor of key.split('\n')) {
        // sequential on purpose: at most one lookup in flight
        const p = await services.presence(aor, { signal: controller.signal }).catch((): Presence => 'unknown')
        if (controller.signal.aborted) return
        setPresence(prev => (prev[aor] === p ? prev : { ...prev, [aor]: p }))
      }
      timer = setTimeout(() => { round().catch(() => {}) }, PRESENCE_REFRESH_MS)
    }
    round().catch(() => {})
    return () => { controller.abort(); clearTimeout(timer) }
  }, [services, key, online])
  return online ? presence : {}
}

export interface BuddyListProps {
  services: AppServices
  actions: AppActions
  historyVersion: number
  online: boolean
  unread: Record<string, number>
  /** default true; false where there is no chat screen to link to (the browser extension's popup) */
  chatLinks?: boolean
}

export function BuddyList ({ services, actions, historyVersion, online, unread, chatLinks = true }: BuddyListProps) {
  const [buddies, setBuddies] = useState<Buddy[] | undefined>()
  const [address, setAddress] = useState('')
  useEffect(() => {
    let cancelled = false
    services.buddies().then(b => { if (!cancelled) setBuddies(b) }, (err: unknown) => { actions.showError(err) })
    return () => { cancelled = true }
  }, [services, historyVersion])
  const presence = usePresence(services, (buddies ?? []).map(b => b.aor), online)
  // trust badges follow pins, verifications and keys seen
  const [, bump] = useReducer((n: number) => n + 1, 0)
  useEffect(() => {
    const listening = new AbortController()
    services.keys.addEventListener('change', () => { bump(undefined) }, { signal: listening.signal })
    return () => { listening.abort() }
  }, [services])

  const add = (e: Event): void => {
    e.preventDefault()
    if (address.trim() === '') return
    services.addBuddy(address).then(() => { setAddress('') }, (err: unknown) => { actions.showError(err) })
  }

  return (
    <section class="buddies" aria-labelledby="buddies-title">
      <h2 id="buddies-title">Buddies</h2>
      {buddies !== undefined && buddies.length === 0 && <p class="empty">No buddies yet: add the people you talk to most.</p>}
      <ul class="list">
        {(buddies ?? []).map(b => {
          const p = presence[b.aor] ?? 'unknown'
          const n = unread[b.aor] ?? 0
          return (
            <BuddyRow key={b.aor} aor={b.aor} name={b.displayName} presence={p} trust={services.keys.level(b.aor)}
              href={chatLinks ? chatHash(b.aor) : undefined}
              extra={n > 0 ? <span class="count" aria-label={`${n} unread`}>{n}</span> : undefined}>
              <button type="button" class="btn icon" aria-label={`Dial ${b.aor}`} title={`Dial ${b.aor}`} onClick={() => { actions.dial(b.aor) }}><Icon name="phone" /></button>
              <button type="button" class="btn icon" aria-label={`Remove ${b.aor}`} title={`Remove ${b.aor}`}
                onClick={() => { services.removeBuddy(b.aor).catch((err: unknown) => { actions.showError(err) }) }}><Icon name="close" /></button>
            </BuddyRow>
          )
        })}
      </ul>
      <form class="row add-buddy" onSubmit={add}>
        <input type="email" aria-label="Buddy's email address" placeholder="Add a buddy: email address" value={address}
          inputMode="email" autoComplete="off" onInput={e => { setAddress(e.currentTarget.value) }} />
        <button type="submit" class="btn">Add buddy</button>
      </form>
    </section>
  )
}
