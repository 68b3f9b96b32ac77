/**
 * What a supernode adds to kad-dht's record handling:
 * - a guard on its datastore so that an older location record (older
 *   device roster, or same roster and lower seq) never replaces a newer
 *   one — kad-dht's PUT_VALUE handler validates a record but does not
 *   compare it with the one already stored;
 * - counters of refused records by reason, for /health;
 * - a sweeper that drops expired location records so memory stays bounded.
 */
import { Libp2pRecord } from '@libp2p/record'
import { Key } from 'interface-datastore'
import type { Datastore } from 'interface-datastore'
import { decodeLocationRecord, isNewer, rosterOrder, RECORD_NAMESPACE, StaleRecordError, CLOCK_SKEW_MS } from '../shared/overlay/index.ts'
import { logger } from '../shared/util/logger.ts'

const log = logger('supernode:records')
const RECORD_PREFIX = '/dht/record/'
const NAMESPACE_PREFIX = `/${RECORD_NAMESPACE}/`
const decoder = new TextDecoder()
/** /health reason for a record refused because its device roster is older than the stored one's. */
export const STALE_ROSTER = 'StaleRosterError'

export class RecordStats {
  readonly rejected: Record<string, number> = {}
  stored = 0
  swept = 0
  reject (reason: string): void {
    this.rejected[reason] = (this.rejected[reason] ?? 0) + 1
  }
}

function isLocationRecordKey (key: Key): boolean {
  return key.toString().startsWith(RECORD_PREFIX)
}

function peerlineValue (raw: Uint8Array): { value: Uint8Array } | undefined {
  const rec = Libp2pRecord.deserialize(raw)
  return decoder.decode(rec.key).startsWith(NAMESPACE_PREFIX) ? { value: rec.value } : undefined
}

/** Wraps a datastore so stale location records are refused (StaleRecordError). */
export function guardRecords (inner: Datastore, stats: RecordStats): Datastore {
  const put = async (key: Key, value: Uint8Array, options?: any): Promise<Key> => {
    if (isLocationRecordKey(key)) {
      const incoming = peerlineValue(value)
      if (incoming != null && await inner.has(key, options)) {
        const existing = peerlineValue(await inner.get(key, options))
        if (existing != null) {
          const a = decodeLocationRecord(existing.value)
          const b = decodeLocationRecord(incoming.value)
          if (rosterOrder(a, b) > 0) {
            // a replay of a roster that still listed a since-revoked device
            stats.reject(STALE_ROSTER)
            throw new StaleRecordError(`Refused location record for ${b.aor} with device roster ${b.roster.seq}: roster ${a.roster.seq} is stored`)
          }
          if (isNewer(a, b)) {
            stats.reject(StaleRecordError.name)
            throw new StaleRecordError(`Refused location record for ${b.aor} with sequence ${b.seq}: ${a.seq} is stored`)
          }
        }
      }
      if (incoming != null) stats.stored++
    }
    return inner.put(key, value, options)
  }
  return new Proxy(inner, {
    get (target, prop) {
      if (prop === 'put') return put
      const v = Reflect.get(target, prop, target)
      return typeof v === 'function' ? v.bind(target) : v
    }
  })
}

/** Counts stored location records and deletes the expired ones. */
export async function sweepRecords (store: Datastore, stats: RecordStats, now = Date.now()): Promise<number> {
  let live = 0
  for await (const { key, value } of store.query({ prefix: RECORD_PREFIX.slice(0, -1) })) {
    let expired: boolean
    try {
      const rec = peerlineValue(value)
      if (rec == null) continue
      expired = decodeLocationRecord(rec.value).expiresAt + CLOCK_SKEW_MS < now
    } catch {
      expired = true // unreadable: it can never be served, so it only costs memory
    }
    if (expired) {
      await store.delete(key)
      stats.swept++
      log('swept %s', key.toString())
    } else {
      live++
    }
  }
  return live
}

export { Key }
