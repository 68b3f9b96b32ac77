/**
 * How the Thunderbird add-on keeps buddies' online status fresh without
 * hammering the DHT.
 *
 * Policy (PresenceScheduler):
 * - every status is cached for PRESENCE_TTL_MS (2 min): a buddy is looked up
 *   again only once its answer is that old;
 * - at most PRESENCE_LOOKUPS_PER_MINUTE (30) lookups per minute in total,
 *   PRESENCE_CONCURRENCY (2) at a time, whatever the address book's size;
 * - buddies shown on screen (the open buddy list or chat) go first, then the
 *   ones never looked up, then the stalest.
 * For an address book of 2,000 contacts that is 30 lookups a minute (one
 * every 2 s): the visible ones (a screenful, ~20) stay within 2 min of fresh,
 * and the whole book is refreshed once every ~67 min (2,000 / 30). A lookup
 * is one DHT GET against a few supernodes, so the add-on adds ≤ 0.5 GET/s.
 * What is shown (shownPresence): an answer older than PRESENCE_STALE_MS (a
 * location record's lifetime) or any answer while the add-on is offline is
 * 'unknown', never a stale "online"; the list says when each was checked.
 * Pure scheduling with injected lookup and clock: unit-tested in Node.
 */
import { RECORD_TTL_MS } from '../../shared/overlay/constants.ts'
import { logger } from '../../shared/util/logger.ts'

const log = logger('thunderbird:presence')

/** Cache lifetime of one answer: a visible buddy who comes online shows within 2 min (records themselves live RECORD_TTL_MS, 20 min). */
export const PRESENCE_TTL_MS = 2 * 60_000
/** DHT budget for the whole add-on: 30/min = 0.5 lookups/s (see the file comment for 2,000 contacts). */
export const PRESENCE_LOOKUPS_PER_MINUTE = 30
/** Parallel lookups: two keep the queue moving when one supernode is slow without bursting. */
export const PRESENCE_CONCURRENCY = 2

/** An answer older than a location record's lifetime says nothing about now (RECORD_TTL_MS, 20 min). */
export const PRESENCE_STALE_MS = RECORD_TTL_MS

export type PresenceState = 'online' | 'offline' | 'unknown'

export interface PresenceEntry {
  state: PresenceState
  /** ms epoch of the answer; 0 never looked up */
  checkedAt: number
}

export interface PresenceInit {
  ttlMs?: number
  lookupsPerMinute?: number
  concurrency?: number
  /** default Date.now */
  now?: () => number
}

export interface PresenceComponents {
  /** one lookup; rejects are counted as 'unknown'; undefined: not possible now (offline), try again later */
  lookup: (aor: string, options: { signal: AbortSignal }) => Promise<PresenceState | undefined>
  /** told of every change */
  onChange: (aor: string, entry: PresenceEntry) => void
}

export class PresenceScheduler {
  private readonly ttlMs: number
  private readonly intervalMs: number
  private readonly concurrency: number
  private readonly now: () => number
  private readonly components: PresenceComponents
  private readonly entries = new Map<string, PresenceEntry>()
  private visible = new Set<string>()
  private readonly running = new Set<string>()
  private timer: ReturnType<typeof setInterval> | undefined
  private controller = new AbortController()
  /** ms epochs of lookups started in the last minute (rate window) */
  private readonly started: number[] = []

  constructor (init: PresenceInit, components: PresenceComponents) {
    this.ttlMs = init.ttlMs ?? PRESENCE_TTL_MS
    const perMinute = Math.max(1, init.lookupsPerMinute ?? PRESENCE_LOOKUPS_PER_MINUTE)
    this.intervalMs = Math.ceil(60_000 / perMinute)
    this.concurrency = Math.max(1, init.concurrency ?? PRESENCE_CONCURRENCY)
    this.now = init.now ?? Date.now
    this.components = components
  }

  /** Buddies to watch (the whole address book); others are forgotten. */
  setBuddies (aors: Iterable<string>): void {
    const keep = new Set(aors)
    for (const aor of this.entries.keys()) if (!keep.has(aor)) this.entries.delete(aor)
    for (const aor of keep) if (!this.entries.has(aor)) this.entries.set(aor, { state: 'unknown', checkedAt: 0 })
  }

  /** Buddies on screen now: they go first. */
  setVisible (aors: Iterable<string>): void {
    this.visible = new Set(aors)
    this.tick()
  }

  /** Forgets a cached answer (e.g. a call or message just failed or succeeded). */
  invalidate (aor: string): void {
    const e = this.entries.get(aor)
    if (e !== undefined) e.checkedAt = 0
  }

  get (aor: string): PresenceEntry {
    return this.entries.get(aor) ?? { state: 'unknown', checkedAt: 0 }
  }

  snapshot (): Record<string, PresenceEntry> {
    return Object.fromEntries([...this.entries].map(([k, v]) => [k, { ...v }]))
  }

  start (): void {
    if (this.timer !== undefined) return
    this.controller = new AbortController()
    this.timer = setInterval(() => { this.tick() }, this.intervalMs)
    this.tick()
  }

  stop (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    this.controller.abort()
  }

  /** The next buddy due for a lookup, or undefined (pure choice, exposed for tests). */
  next (): string | undefined {
    const now = this.now()
    let best: string | undefined
    let bestScore = Infinity
    for (const [aor, e] of this.entries) {
      if (this.running.has(aor) || now - e.checkedAt < this.ttlMs) continue
      // visible first, then by age (never looked up = oldest)
      const score = (this.visible.has(aor) ? 0 : 1e15) + e.checkedAt
      if (score < bestScore) { bestScore = score; best = aor }
    }
    return best
  }

  /** Starts lookups while the budget allows (called by the timer; public for tests). */
  tick (): void {
    if (this.timer === undefined) return
    const now = this.now()
    while (this.started.length > 0 && now - (this.started[0] as number) >= 60_000) this.started.shift()
    const perMinute = Math.ceil(60_000 / this.intervalMs)
    while (this.running.size < this.concurrency && this.started.length < perMinute) {
      const aor = this.next()
      if (aor === undefined) return
      this.started.push(now)
      this.running.add(aor)
      void this.run(aor)
    }
  }

  private async run (aor: string): Promise<void> {
    let state: PresenceState | undefined
    try {
      state = await this.components.lookup(aor, { signal: this.controller.signal })
    } catch (err) {
      log('lookup %s: %s', aor, (err as Error).message)
      state = 'unknown'
    } finally {
      this.running.delete(aor)
    }
    const e = this.entries.get(aor)
    if (e === undefined || state === undefined || this.controller.signal.aborted) return
    const changed = e.state !== state
    e.state = state
    e.checkedAt = this.now()
    if (changed) this.components.onChange(aor, { ...e })
  }
}

/** The state to show for `entry`: 'unknown' while offline or when the answer is older than PRESENCE_STALE_MS. */
export function shownPresence (entry: PresenceEntry, init: { online: boolean, now: number, staleMs?: number }): PresenceState {
  if (!init.online || entry.checkedAt === 0 || init.now - entry.checkedAt > (init.staleMs ?? PRESENCE_STALE_MS)) return 'unknown'
  return entry.state
}

/** "checked N min ago" for the buddy list ('' when never checked). */
export function checkedAgo (checkedAt: number, now: number): string {
  if (checkedAt === 0) return ''
  const min = Math.floor(Math.max(0, now - checkedAt) / 60_000)
  return min === 0 ? 'checked just now' : `checked ${min} min ago`
}
