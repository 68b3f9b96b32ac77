/**
 * What this device knows of other identities' rosters: the newest record seq
 * and device roster seen per claim (address and identity key: every identity
 * claiming an address has its own, see claims.ts), the rosters learnt by
 * lookups (to judge calls from devices), kept in `rosterStorage` across
 * restarts.
 *
 * ```ts
 * const book = new RosterBook({ storage })
 * await book.start()                      // loads what was saved
 * book.accept(record)                     // throws StaleRecordError for a replay
 * judgeDevice(book.known(aor, identityKey)?.roster, identityKey, peerId)
 * ```
 */
import { rosterDevice, rosterRevocation, verifyDeviceRoster } from '../identity/index.ts'
import type { DeviceRoster, IdentityStorage } from '../identity/index.ts'
import { logger } from '../util/logger.ts'
import { MAX_PERSISTED_ROSTERS, ROSTER_STORAGE_FORMAT } from './constants.ts'
import { StaleRecordError } from './errors.ts'
import type { LocationRecord } from './record.ts'

const log = logger('overlay:rosters')

interface PersistedRoster { aor?: string, roster: DeviceRoster, seq: number, at: number }

/** A roster learnt by a lookup (`at`: when; 0 for one loaded from storage). No roster: the address had no record. */
export interface KnownRoster { roster?: DeviceRoster, at: number }

/** Whether a device may speak for an identity, as far as this device can tell. */
export type DeviceStanding =
  | { ok: true, known: boolean }
  | { ok: false, reason: 'DeviceRevokedError' | 'DeviceNotInRosterError', message: string }

export interface RosterBookInit {
  /** where the newest roster and record seq seen per address are kept (one text value) */
  storage?: IdentityStorage
}

export class RosterBook {
  private readonly storage?: IdentityStorage
  /** highest record seq / roster seq seen per claim (claimKey): an older record presented later is a replay */
  private readonly seen = new Map<string, number>()
  private readonly seenRoster = new Map<string, number>()
  /** rosters learnt by lookups, per claim, for judging calls from devices */
  private readonly rosters = new Map<string, KnownRoster>()
  /** the identity keys known per AOR, the last learnt last */
  private readonly identities = new Map<string, string[]>()
  /** loads `storage` once; saving is serialised behind it */
  private loaded?: Promise<void>
  private saving: Promise<void> = Promise.resolve()

  constructor (init: RosterBookInit = {}) {
    if (init.storage != null) this.storage = init.storage
  }

  async start (): Promise<void> { await this.load() }

  /** Settles once pending writes are done. */
  async stop (): Promise<void> { await this.saving }

  /**
   * Checks `record` against what was seen for its address and remembers it.
   * @throws StaleRecordError (an older roster, or the same roster and a lower seq, than one already seen)
   */
  accept (record: LocationRecord): void {
    const aor = record.aor
    const identity = record.roster.identity
    const id = claimKey(aor, identity)
    const seenRoster = this.seenRoster.get(id)
    const order = seenRoster != null ? record.roster.seq - seenRoster : 0
    if (order < 0) {
      throw new StaleRecordError(`Location record for ${aor} carries device roster ${record.roster.seq}, older than roster ${seenRoster ?? 0} already seen (replayed?)`)
    }
    const seen = this.seen.get(id) ?? 0
    if (order === 0 && record.seq < seen) {
      throw new StaleRecordError(`Location record for ${aor} has sequence ${record.seq}, older than ${seen} already seen (replayed?)`)
    }
    // a newer roster may come from a device whose clock is behind: its seq counts from here
    this.seen.set(id, order > 0 ? record.seq : Math.max(seen, record.seq))
    this.seenRoster.set(id, record.roster.seq)
    const before = this.rosters.get(id)?.roster
    this.remember(aor, identity, { roster: record.roster, at: Date.now() })
    // written when the roster changed, not on every lookup (presence looks contacts up often)
    if (before?.sig !== record.roster.sig) this.save()
  }

  /** Remembers a record this device published itself (it is never a replay of itself). */
  published (record: LocationRecord): void {
    const id = claimKey(record.aor, record.roster.identity)
    this.seen.set(id, Math.max(this.seen.get(id) ?? 0, record.seq))
    this.seenRoster.set(id, Math.max(this.seenRoster.get(id) ?? 0, record.roster.seq))
  }

  /** The roster learnt for identity `identityKey` at `aor`; without a key, the one learnt last for the address. */
  known (aor: string, identityKey?: string): KnownRoster | undefined {
    const key = identityKey ?? this.identities.get(aor)?.at(-1)
    return key != null ? this.rosters.get(claimKey(aor, key)) : undefined
  }

  /** A lookup found no record of `identityKey`: the roster seen before still says who was revoked. */
  missing (aor: string, identityKey: string): KnownRoster {
    const prev = this.rosters.get(claimKey(aor, identityKey))?.roster
    const none: KnownRoster = { ...(prev != null ? { roster: prev } : {}), at: Date.now() }
    this.remember(aor, identityKey, none)
    return none
  }

  private remember (aor: string, identityKey: string, known: KnownRoster): void {
    this.rosters.set(claimKey(aor, identityKey), known)
    const keys = (this.identities.get(aor) ?? []).filter(k => k !== identityKey)
    keys.push(identityKey)
    this.identities.set(aor, keys)
  }

  /** Takes the rosters and seqs kept in storage (once; unreadable entries are skipped). */
  async load (): Promise<void> {
    const storage = this.storage
    if (storage == null) return
    this.loaded ??= (async () => {
      let data: unknown
      try {
        const text = await storage.read()
        if (text == null) return
        data = JSON.parse(text)
      } catch (err) {
        log.error('known rosters unreadable, starting without them: %s', (err as Error).message)
        return
      }
      const d = data as { format?: unknown, rosters?: unknown, claims?: unknown }
      if (d?.format !== ROSTER_STORAGE_FORMAT) return
      // `claims`: one entry per (address, identity key); `rosters`: the format before, one per address
      const entries: Array<[string, PersistedRoster]> = Array.isArray(d.claims)
        ? (d.claims as PersistedRoster[]).map(c => [String(c?.aor), c])
        : typeof d.rosters === 'object' && d.rosters != null ? Object.entries(d.rosters as Record<string, PersistedRoster>) : []
      for (const [aor, value] of entries) {
        try {
          const roster = verifyDeviceRoster(value.roster, { identityKey: (value.roster as { identity: string }).identity })
          const id = claimKey(aor, roster.identity)
          if (!Number.isSafeInteger(value.seq) || this.rosters.get(id)?.roster != null) continue
          this.seen.set(id, Math.max(this.seen.get(id) ?? 0, value.seq))
          this.seenRoster.set(id, roster.seq)
          // at 0: old enough to be looked up again, still the fallback when the lookup fails
          this.remember(aor, roster.identity, { roster, at: 0 })
        } catch (err) {
          log('skipping a stored roster of %s: %s', aor, (err as Error).message)
        }
      }
    })()
    await this.loaded
  }

  /** Writes the newest rosters and seqs seen (the MAX_PERSISTED_ROSTERS most recent claims), one write at a time. */
  private save (): void {
    const storage = this.storage
    if (storage == null) return
    this.saving = this.saving.then(async () => {
      await this.loaded
      const entries = [...this.rosters.entries()]
        .filter((e): e is [string, { roster: DeviceRoster, at: number }] => e[1].roster != null)
        .sort((a, b) => b[1].at - a[1].at)
        .slice(0, MAX_PERSISTED_ROSTERS)
      const claims: PersistedRoster[] = entries.map(([id, known]) => ({ aor: id.slice(0, id.indexOf('\n')), roster: known.roster, seq: this.seen.get(id) ?? 0, at: known.at }))
      await storage.write(JSON.stringify({ format: ROSTER_STORAGE_FORMAT, claims }))
    }).catch(err => { log.error('saving known rosters failed: %s', (err as Error).message) })
  }
}

/** The map key of one identity's claim on an address (a newline is in neither). */
function claimKey (aor: string, identityKey: string): string {
  return `${aor}\n${identityKey}`
}

/** What `roster` says about device `peerId` of identity key `identityKey`; undefined when it cannot tell. */
export function judgeDevice (roster: DeviceRoster | undefined, identityKey: string, peerId: string): DeviceStanding | undefined {
  // another key for the address is the key-change warning's business, not the roster's
  if (roster == null || roster.identity !== identityKey) return undefined
  const revoked = rosterRevocation(roster, peerId)
  if (revoked != null) {
    return { ok: false, reason: 'DeviceRevokedError', message: `Device "${revoked.name}" was revoked at ${new Date(revoked.revokedAt).toISOString()}` }
  }
  if (rosterDevice(roster, peerId) != null) return { ok: true, known: true }
  return { ok: false, reason: 'DeviceNotInRosterError', message: `Device ${peerId} is not in the identity's device roster (seq ${roster.seq})` }
}
