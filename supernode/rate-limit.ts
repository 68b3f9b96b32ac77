/**
 * Per-peer rate limits on a supernode's public protocols, so that one peer's
 * flood of DHT requests or relay (HOP) streams costs it its own requests and
 * not everybody else's. A token bucket per remote peer and protocol; a
 * stream over the limit is reset before any handler reads it.
 */
import type { Connection, Stream, StreamMiddleware } from '@libp2p/interface'

export interface RateLimit {
  /** tokens added per second */
  ratePerSecond: number
  /** bucket size: the burst a well-behaved peer may send at once */
  burst: number
}

export class RateLimitedError extends Error {
  static override name = 'RateLimitedError'
  override name = 'RateLimitedError'
  constructor (message = 'Too many requests from this peer: slow down') { super(message) }
}

interface Bucket { tokens: number, at: number }

/** Buckets idle this long are forgotten (a full bucket is the same as none). */
const IDLE_MS = 60_000
/** Bound on tracked peers: past it the oldest buckets are dropped. */
const MAX_TRACKED = 50_000

export class PeerRateLimiter {
  readonly limited: Record<string, number> = {}
  readonly allowed: Record<string, number> = {}
  private readonly buckets = new Map<string, Bucket>()
  private readonly now: () => number

  constructor (now: () => number = Date.now) {
    this.now = now
  }

  /** true when `peer` may proceed on `name`; false (and counted) when over the limit */
  take (name: string, peer: string, limit: RateLimit): boolean {
    const key = `${name} ${peer}`
    const now = this.now()
    let b = this.buckets.get(key)
    if (b == null) {
      if (this.buckets.size >= MAX_TRACKED) this.prune(now, true)
      b = { tokens: limit.burst, at: now }
      this.buckets.set(key, b)
    } else {
      b.tokens = Math.min(limit.burst, b.tokens + ((now - b.at) / 1000) * limit.ratePerSecond)
      b.at = now
    }
    if (b.tokens < 1) {
      this.limited[name] = (this.limited[name] ?? 0) + 1
      return false
    }
    b.tokens -= 1
    this.allowed[name] = (this.allowed[name] ?? 0) + 1
    return true
  }

  /** Drops idle buckets; with `force`, also the oldest tenth. */
  prune (now = this.now(), force = false): void {
    for (const [k, b] of this.buckets) if (now - b.at > IDLE_MS) this.buckets.delete(k)
    if (force && this.buckets.size >= MAX_TRACKED) {
      let n = Math.ceil(this.buckets.size / 10)
      for (const k of this.buckets.keys()) { if (n-- <= 0) break; this.buckets.delete(k) }
    }
  }

  get tracked (): number { return this.buckets.size }

  /** libp2p stream middleware enforcing `limit` per remote peer for one protocol */
  middleware (name: string, limit: RateLimit): StreamMiddleware {
    return (stream: Stream, connection: Connection, next: (stream: Stream, connection: Connection) => void) => {
      // middleware also runs on streams this node opens: only inbound ones are limited
      if (stream.direction !== 'inbound' || this.take(name, connection.remotePeer.toString(), limit)) {
        next(stream, connection)
        return
      }
      stream.abort(new RateLimitedError(`Rate limit on ${name}: ${limit.ratePerSecond}/s, burst ${limit.burst}`))
    }
  }
}
