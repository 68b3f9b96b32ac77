/**
 * The CA's rate limits: sliding windows per email address, per peer id and per
 * source IP (IPv6 by /64), a global cap on mails per minute, and bounds on how
 * many keys and pending verifications are tracked, so a flood costs the
 * flooder its requests and never the CA's memory.
 */
import { isIPv6 } from 'node:net'
import { CaRateLimitedError } from '../../shared/identity/index.ts'
import {
  CA_GLOBAL_WINDOW_MS, CA_MAILS_PER_MINUTE, CA_MAX_PENDING, CA_MAX_WINDOW_KEYS, CA_RATE_WINDOW_MS, CA_REQUESTS_PER_EMAIL_PER_HOUR,
  CA_REQUESTS_PER_IP_PER_HOUR, CA_REQUESTS_PER_PEER_PER_HOUR
} from './constants.ts'

export interface CaLimitsInit {
  requestsPerEmailPerHour?: number
  requestsPerPeerPerHour?: number
  requestsPerIpPerHour?: number
  mailsPerMinute?: number
  maxWindowKeys?: number
  /** called for each refused request (the CA counts them) */
  onRefused?: () => void
}

export interface CaLimits {
  /**
   * Checks every limit first and counts the request only when all pass, so
   * refused requests leave no trace in the windows. `pending`: verifications
   * in progress now.
   * @throws CaRateLimitedError
   */
  admit: (email: string, peer: string, ip: string | undefined, pending: number, t: number) => void
  /** Takes back a request admitted at `t` from the address, peer and IP windows (its mail failed); the global cap keeps it. */
  forget: (email: string, peer: string, ip: string | undefined, t: number) => void
  /** Drops what has left every window. */
  sweep: (t: number) => void
}

/** @example const limits = caLimits({}); limits.admit(email, peer, ip, pending.size, Date.now()) */
export function caLimits (init: CaLimitsInit = {}): CaLimits {
  const perEmail = init.requestsPerEmailPerHour ?? CA_REQUESTS_PER_EMAIL_PER_HOUR
  const perPeer = init.requestsPerPeerPerHour ?? CA_REQUESTS_PER_PEER_PER_HOUR
  const perIp = init.requestsPerIpPerHour ?? CA_REQUESTS_PER_IP_PER_HOUR
  const perMinute = init.mailsPerMinute ?? CA_MAILS_PER_MINUTE
  const maxKeys = init.maxWindowKeys ?? CA_MAX_WINDOW_KEYS
  const windows = { email: new Map<string, number[]>(), peer: new Map<string, number[]>(), ip: new Map<string, number[]>() }
  /** send times of all mails in the last CA_GLOBAL_WINDOW_MS */
  let sentRecently: number[] = []

  /** the entries of `key` still inside the window */
  const recent = (map: Map<string, number[]>, key: string, t: number): number[] => (map.get(key) ?? []).filter(at => t - at < CA_RATE_WINDOW_MS)
  const retryIn = (list: number[], windowMs: number, t: number): string => {
    const oldest = list[0] ?? t
    const ms = oldest + windowMs - t
    return windowMs <= 60_000 ? `${Math.max(1, Math.ceil(ms / 1000))} s` : `${Math.max(1, Math.ceil(ms / 60_000))} min`
  }
  const refuse = (message: string): never => {
    init.onRefused?.()
    throw new CaRateLimitedError(message)
  }
  /** removes one entry `at` of `key` */
  const forgetOne = (map: Map<string, number[]>, key: string, at: number): void => {
    const list = map.get(key)
    if (list === undefined) return
    const i = list.lastIndexOf(at)
    if (i >= 0) list.splice(i, 1)
    if (list.length === 0) map.delete(key)
  }

  return {
    admit (email, peer, ip, pending, t) {
      sentRecently = sentRecently.filter(at => t - at < CA_GLOBAL_WINDOW_MS)
      if (sentRecently.length >= perMinute) refuse(`This CA is sending too many mails right now: try again in ${retryIn(sentRecently, CA_GLOBAL_WINDOW_MS, t)}`)
      const checks: Array<{ map: Map<string, number[]>, key: string, limit: number, message: (wait: string) => string }> = [
        { map: windows.peer, key: peer, limit: perPeer, message: wait => `This device made ${perPeer} certificate requests in the last hour: try again in ${wait}` },
        ...(ip !== undefined ? [{ map: windows.ip, key: ip, limit: perIp, message: (wait: string) => `${perIp} certificate requests came from your network in the last hour: try again in ${wait}` }] : []),
        { map: windows.email, key: email, limit: perEmail, message: wait => `${perEmail} verification mails went to ${email} in the last hour: try again in ${wait}` }
      ]
      const lists = checks.map(c => {
        const list = recent(c.map, c.key, t)
        if (list.length >= c.limit) refuse(c.message(retryIn(list, CA_RATE_WINDOW_MS, t)))
        if (list.length === 0 && !c.map.has(c.key) && c.map.size >= maxKeys) refuse('This CA is handling too many requesters right now: try again in a few minutes')
        return list
      })
      if (pending >= CA_MAX_PENDING) refuse('This CA has too many verifications in progress: try again in a few minutes')
      checks.forEach((c, i) => {
        const list = lists[i] as number[]
        list.push(t)
        c.map.set(c.key, list)
      })
      sentRecently.push(t)
    },

    forget (email, peer, ip, t) {
      forgetOne(windows.email, email, t)
      forgetOne(windows.peer, peer, t)
      if (ip !== undefined) forgetOne(windows.ip, ip, t)
    },

    sweep (t) {
      sentRecently = sentRecently.filter(at => t - at < CA_GLOBAL_WINDOW_MS)
      for (const map of [windows.email, windows.peer, windows.ip]) {
        for (const [k, list] of map) if (list.every(at => t - at >= CA_RATE_WINDOW_MS)) map.delete(k)
      }
    }
  }
}

/**
 * The per-IP rate-limit key of a connection's remote multiaddr: the IPv4
 * address, the /64 of an IPv6 address, or the DNS name; undefined when the
 * address names none (the other limits still apply).
 */
export function sourceIpKey (remoteAddr: string): string | undefined {
  const m = /^\/(ip4|ip6|dns4|dns6|dns)\/([^/]+)/.exec(remoteAddr)
  if (m === null) return undefined
  const [, proto, host] = m as unknown as [string, string, string]
  if (proto !== 'ip6') return host.toLowerCase()
  const zoneless = host.split('%')[0] as string
  if (!isIPv6(zoneless)) return undefined
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(zoneless)
  if (v4 !== null) return v4[1] as string
  return `${ipv6Groups(zoneless).slice(0, 4).join(':')}::/64`
}

/** The 8 hex groups of a valid IPv6 address (`::` expanded, an embedded IPv4 tail converted). */
function ipv6Groups (address: string): string[] {
  let text = address.toLowerCase()
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (tail !== null) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number]
    text = text.slice(0, tail.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', rest] = text.split('::') as [string, string | undefined]
  const left = head === '' ? [] : head.split(':')
  const right = rest === undefined || rest === '' ? [] : rest.split(':')
  const fill = rest === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0')
  return [...left, ...fill, ...right].map(g => parseInt(g, 16).toString(16))
}
