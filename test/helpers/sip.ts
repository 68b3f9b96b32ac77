/**
 * Helpers for shared/sip tests: devices with phones on real supernodes,
 * waiting for typed events, raw SIP streams for hostile peers.
 */
import type { Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import type { Overlay } from '../../shared/overlay/index.ts'
import { encodeFrame, FrameDecoder, phone, SIP_PROTOCOL } from '../../shared/sip/index.ts'
import type { MediaAdapter, PeerlinePhone, PhoneInit } from '../../shared/sip/index.ts'
import type { StoredIdentity } from '../../shared/identity/index.ts'
import { newIdentity, relayReserved, startDevice } from './overlay.ts'
import { eventually } from './eventually.ts'

export interface Device {
  overlay: Overlay
  phone: PeerlinePhone
  identity: StoredIdentity
}

/** A started, published device with a started phone. */
export async function startPhoneDevice (email: string, bootstrap: string[], init: Partial<PhoneInit> = {}, media?: MediaAdapter): Promise<Device> {
  const identity = init.identity ?? await newIdentity(email)
  const overlay = await startDevice(email, bootstrap, { identity })
  await relayReserved(overlay, { what: `${email} relay reservation` })
  await overlay.publish({ signal: AbortSignal.timeout(10_000) })
  const p = phone({ ...init, identity }, { overlay, ...(media != null ? { media } : {}) })
  await p.start()
  return { overlay, phone: p, identity }
}

export async function stopDevice (d: Device | undefined): Promise<void> {
  if (d == null) return
  await d.phone.stop().catch(err => { console.error('phone stop', err) })
  await d.overlay.stop().catch(() => {})
}

/** The next event of `type` on `target` (optionally matching), or a clear failure after `timeoutMs`. */
export async function nextEvent<T> (target: EventTarget, type: string, options: { timeoutMs?: number, match?: (d: T) => boolean } = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000
  const match = options.match ?? (() => true)
  return await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => { target.removeEventListener(type, listener); reject(new Error(`no '${type}' event within ${timeoutMs} ms`)) }, timeoutMs)
    const listener = (e: Event): void => {
      const detail = (e as CustomEvent<T>).detail
      if (!match(detail)) return
      clearTimeout(timer)
      target.removeEventListener(type, listener)
      resolve(detail)
    }
    target.addEventListener(type, listener)
  })
}

/** Collects every event of `type` until stopped. */
export function collect<T> (target: EventTarget, type: string): { items: T[], stop: () => void } {
  const items: T[] = []
  const listener = (e: Event): void => { items.push((e as CustomEvent<T>).detail) }
  target.addEventListener(type, listener)
  return { items, stop: () => { target.removeEventListener(type, listener) } }
}

/** A raw SIP stream opened by `from` to `to`'s device, for sending hand-made frames. */
export interface RawSipStream {
  stream: Stream
  frames: string[]
  sendFrame: (payload: Uint8Array | string) => void
  sendRaw: (bytes: Uint8Array) => void
  waitFrame: (match: (f: string) => boolean, timeoutMs?: number) => Promise<string>
  closed: () => boolean
}

export async function openRawSipStream (from: Overlay, to: Overlay): Promise<RawSipStream> {
  // reuse an open (relayed) connection: dialling again would open a duplicate the callee refuses
  const conn = from.node.getConnections(to.node.peerId).find(c => c.status === 'open') ??
    await from.node.dial(to.deviceEntry().addrs.map(a => multiaddr(a)), { signal: AbortSignal.timeout(10_000) })
  const stream = await conn.newStream(SIP_PROTOCOL, { runOnLimitedConnection: true, signal: AbortSignal.timeout(10_000) })
  const decoder = new FrameDecoder(1024 * 1024)
  const frames: string[] = []
  let isClosed = false
  stream.addEventListener('message', e => {
    for (const f of decoder.push(e.data.subarray())) if (f.byteLength > 0) frames.push(new TextDecoder().decode(f))
  })
  stream.addEventListener('close', () => { isClosed = true })
  return {
    stream,
    frames,
    sendFrame: payload => { stream.send(encodeFrame(typeof payload === 'string' ? new TextEncoder().encode(payload) : payload, 1024 * 1024)) },
    sendRaw: bytes => { stream.send(bytes) },
    waitFrame: async (match, timeoutMs = 10_000) => await eventually(() => frames.find(match), { timeoutMs, intervalMs: 50, what: 'a frame' }) as string,
    closed: () => isClosed || stream.status !== 'open'
  }
}

let counter = 0
/** A SIP request as a hostile or foreign UA would write it. */
export function rawRequest (init: { method: string, uri: string, from: string, to: string, body?: string, headers?: string[], contentLength?: string }): string {
  const n = ++counter
  const body = init.body ?? ''
  return [
    `${init.method} ${init.uri} SIP/2.0`,
    `Via: SIP/2.0/WS raw${n}.invalid;branch=z9hG4bKraw${n}${Date.now()}`,
    'Max-Forwards: 70',
    `From: <sip:${init.from}>;tag=raw${n}`,
    `To: <sip:${init.to}>`,
    `Call-ID: raw-${n}-${Date.now()}`,
    `CSeq: 1 ${init.method}`,
    ...(init.headers ?? []),
    `Content-Length: ${init.contentLength ?? String(new TextEncoder().encode(body).byteLength)}`,
    '',
    body
  ].join('\r\n')
}
