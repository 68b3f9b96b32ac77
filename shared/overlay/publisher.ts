/**
 * Keeps this device's location record out: merges it with what the
 * identity's other devices published, signs and puts it, republishes before
 * it expires, when the addresses change and after a failure, and checks a
 * moment later that a concurrent publish by another device did not drop this
 * device's entry.
 *
 * ```ts
 * const publisher = new Publisher(host)
 * await publisher.publish({ signal })   // one at a time with roster changes (publisher.run)
 * publisher.stop()                     // timers cleared
 * ```
 */
import { identityKeyPair, normalizeAor, DeviceRevokedError } from '../identity/index.ts'
import { anySignal, serialQueue, unrefTimer } from '../util/async.ts'
import { logger } from '../util/logger.ts'
import {
  ADDRESS_CHANGE_COALESCE_MS, CLOCK_SKEW_MS, LOOKUP_TIMEOUT_MS, MAX_DEVICES, PUBLISH_CHECK_DELAY_MS, PUBLISH_CHECK_RETRIES,
  RECORD_TTL_MS, REPUBLISH_BEFORE_EXPIRY_MS, REPUBLISH_RETRY_MS
} from './constants.ts'
import { OfflineError } from './errors.ts'
import type { OverlayLibp2p } from './node.ts'
import type { OwnDevices } from './own-devices.ts'
import { createLocationRecord, encodeLocationRecord, locationKey } from './record.ts'
import type { DeviceEntry, LocationRecord } from './record.ts'
import type { RosterBook } from './roster-book.ts'
import type { AbortOptions, OverlayEvents, OverlayInit } from './types.ts'

const log = logger('overlay:publish')

/** What the publisher needs of the overlay it belongs to. */
export interface PublisherHost {
  readonly init: OverlayInit
  node: () => OverlayLibp2p
  own: OwnDevices
  book: RosterBook
  online: () => boolean
  /** aborted when the overlay stops */
  shutdown: () => AbortSignal
  peerId: () => string
  deviceEntry: () => DeviceEntry
  /** this identity's own record, if one is out (anything unusable counts as none) */
  findOwn: (aor: string, signal: AbortSignal) => Promise<LocationRecord | undefined>
  dispatch: <K extends keyof OverlayEvents>(type: K, detail: OverlayEvents[K]['detail']) => void
}

export class Publisher {
  private readonly host: PublisherHost
  /** the record this device last put */
  published?: LocationRecord
  /** a roster change (revocation) was saved while offline: publish as soon as a supernode is connected */
  publishWhenOnline = false
  /** serialises publish and roster changes: two at once would each overwrite the other's entries */
  private readonly queue = serialQueue()
  private lastSeq = 0
  private republishTimer?: ReturnType<typeof setTimeout>
  private addrTimer?: ReturnType<typeof setTimeout>
  private checkTimer?: ReturnType<typeof setTimeout>
  private checkRetries = 0

  constructor (host: PublisherHost) {
    this.host = host
  }

  start (): void {}

  stop (): void {
    this.stopTimers()
    clearTimeout(this.checkTimer)
  }

  /** Clears the republish timers (this device stopped publishing). */
  stopTimers (): void {
    clearTimeout(this.republishTimer)
    clearTimeout(this.addrTimer)
  }

  /** Runs `fn` after every publish or roster change queued before it. */
  async run<T> (fn: () => Promise<T>): Promise<T> { return await this.queue.run(fn) }

  async publish (options: AbortOptions = {}): Promise<LocationRecord> {
    return await this.run(async () => await this.publishNow(options))
  }

  /** Publishes now (the caller holds the queue). */
  async publishNow (options: AbortOptions): Promise<LocationRecord> {
    const { own, init } = this.host
    const identity = own.requireIdentity()
    if (own.revoked) throw new DeviceRevokedError(`This device was removed from ${identity.email}; it no longer publishes`)
    if (!this.host.online()) throw new OfflineError('Cannot publish: not connected to any supernode')
    const signal = anySignal(options.signal ?? AbortSignal.timeout(LOOKUP_TIMEOUT_MS), this.host.shutdown())
    const aor = normalizeAor(identity.email)
    const existing = await this.host.findOwn(aor, signal)
    if (existing != null) own.learn(existing.roster)
    if (own.revoked) throw new DeviceRevokedError(`This device was removed from ${identity.email}; it no longer publishes`)
    const roster = await own.currentRoster()
    const now = Date.now()
    const entry = this.host.deviceEntry()
    const devices: DeviceEntry[] = [entry]
    for (const cert of roster.devices) {
      if (cert.peerId === entry.peerId || devices.length >= MAX_DEVICES) continue
      const other = existing?.devices.find(d => d.peerId === cert.peerId)
      if (other == null || existing == null) continue
      const publishedAt = other.publishedAt ?? existing.issuedAt
      // a device that stopped publishing drops out once its own entry would have expired
      if (publishedAt + (init.ttlMs ?? RECORD_TTL_MS) < now) continue
      if (cert.notAfter + CLOCK_SKEW_MS < now || cert.notBefore - CLOCK_SKEW_MS > now) continue
      devices.push({ peerId: cert.peerId, certificate: cert, addrs: other.addrs, publishedAt })
    }
    // seqs are times; one further ahead than the clock skew (a bogus existing seq, or a clock that jumped back) is not followed,
    // validators refuse a seq beyond issuedAt + CLOCK_SKEW_MS
    const ceiling = now + CLOCK_SKEW_MS
    const seq = Math.max(now, ...[this.lastSeq + 1, (existing?.seq ?? 0) + 1].filter(s => s <= ceiling))
    this.lastSeq = seq
    const record = createLocationRecord({
      ...(own.primary ? { identity: identityKeyPair(identity) } : { device: own.deviceSigningKey() }),
      certificate: identity.certificate,
      roster,
      devices,
      seq,
      ...(init.ttlMs != null ? { ttlMs: init.ttlMs } : {})
    })
    let stored = 0
    let lastError: Error | undefined
    for await (const event of this.host.node().services.dht.put(locationKey(record.aor), encodeLocationRecord(record), { signal })) {
      if (event.name === 'PEER_RESPONSE') stored++
      if (event.name === 'QUERY_ERROR') lastError = event.error
    }
    if (stored === 0) throw lastError ?? new OfflineError('No supernode accepted the location record')
    this.published = record
    this.host.book.published(record)
    log('published %s seq %d (roster %d, %d devices) to %d supernodes', record.aor, seq, roster.seq, devices.length, stored)
    this.scheduleRepublish(record)
    this.scheduleCheck()
    this.host.dispatch('record:published', record)
    return record
  }

  /** Publishes again in the background; a failure is reported ('publish:error') and retried soon. */
  republish (): void {
    if (this.host.shutdown().aborted || this.host.init.identity == null || this.host.own.revoked) return
    this.publish().catch(err => {
      log('republish failed: %s', (err as Error).message)
      this.host.dispatch('publish:error', err as Error)
      if (this.host.own.revoked) return
      this.retrySoon()
    })
  }

  /** Republishes on the next tick when a record is out (a roster change others must learn). */
  republishSoon (): void {
    if (this.published != null) queueMicrotask(() => { this.republish() })
  }

  /** Tries to publish again soon: being unreachable (or a revocation not out) is worse than a few extra puts. */
  retrySoon (): void {
    clearTimeout(this.republishTimer)
    this.republishTimer = setTimeout(() => { this.republish() }, REPUBLISH_RETRY_MS)
  }

  /** The device's addresses changed: republish (bursts coalesced) when they differ from the record's. */
  addressesChanged (addrs: string[]): void {
    if (this.published == null) return
    const now = addrs.slice().sort().join()
    const before = this.published.devices.find(d => d.peerId === this.host.peerId())?.addrs.slice().sort().join()
    if (now === before) return
    clearTimeout(this.addrTimer)
    this.addrTimer = setTimeout(() => { this.republish() }, ADDRESS_CHANGE_COALESCE_MS)
  }

  /** Connected to supernodes again: publish what waited, or a record that expired meanwhile. */
  online (): void {
    if (this.publishWhenOnline) {
      this.publishWhenOnline = false
      this.republish()
    } else if (this.published != null && this.published.expiresAt < Date.now()) this.republish()
  }

  private scheduleRepublish (record: LocationRecord): void {
    clearTimeout(this.republishTimer)
    const before = this.host.init.republishBeforeExpiryMs ?? REPUBLISH_BEFORE_EXPIRY_MS
    const delay = Math.max(1_000, record.expiresAt - Date.now() - before)
    this.republishTimer = setTimeout(() => { this.republish() }, delay)
  }

  /**
   * Two devices of one identity publishing at the same moment each merge the
   * record as it was before the other's put, so the later put can drop the
   * earlier device's entry. A moment after publishing, each device looks
   * again and republishes when its entry is missing.
   */
  private scheduleCheck (): void {
    clearTimeout(this.checkTimer)
    const delay = PUBLISH_CHECK_DELAY_MS + Math.floor(Math.random() * PUBLISH_CHECK_DELAY_MS)
    this.checkTimer = unrefTimer(setTimeout(() => {
      const { own } = this.host
      const identity = own.identity
      if (identity == null || own.revoked || this.host.shutdown().aborted || !this.host.online()) return
      const signal = anySignal(AbortSignal.timeout(LOOKUP_TIMEOUT_MS), this.host.shutdown())
      this.host.findOwn(normalizeAor(identity.email), signal).then(found => {
        if (found == null) return
        own.learn(found.roster)
        if (own.revoked || found.devices.some(d => d.peerId === this.host.peerId())) {
          this.checkRetries = 0
          return
        }
        if (this.checkRetries++ >= PUBLISH_CHECK_RETRIES) return
        log('own entry missing from the record of %s (another device published at the same time): republishing', found.aor)
        this.republish()
      }).catch(() => {})
    }, delay))
  }
}
