/**
 * Pairing: how a second device joins an identity without ever receiving the
 * identity private key. Protocol `/peerline/pair/1.0.0`, one request and one
 * response per libp2p stream, each a length-prefixed UTF-8 JSON frame:
 *
 *   primary                                   new device
 *   createOffer() ── link / QR (offer) ─────▶ parsePairingOffer()
 *                 ◀── dial offer.addrs, open /peerline/pair/1.0.0
 *                 ◀── { code, name }
 *   code right ──▶ { ok: true, identityCertificate, deviceCertificate, roster, displayName }
 *   code wrong ──▶ { ok: false, error: 'PairingCodeError', message }   (3 wrong codes cancel the offer)
 *
 * The offer travels as `<app base>#/pair/<base64url(JSON offer)>`; it names
 * the primary's peer id (Noise authenticates it on the stream), its
 * addresses, a 6-digit code and an expiry 5 minutes ahead. An offer is used
 * at most once; creating a new one replaces the previous one.
 */
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import {
  fromBase64Url, normalizeAor, toBase64Url, utf8, MAX_DEVICE_NAME_LENGTH, MAX_PEER_ID_LENGTH
} from '../identity/index.ts'
import type { DeviceCertificate, DeviceRoster, IdentityCertificate } from '../identity/index.ts'
import { parseJsonObject } from '../identity/validate.ts'
import { anySignal } from '../util/async.ts'
import { logger } from '../util/logger.ts'
import { MAX_ADDRS_PER_DEVICE } from './constants.ts'
import { exchangeFrames } from './exchange.ts'
import type { OverlayLibp2p } from './node.ts'

const log = logger('overlay:pairing')

export const PAIRING_PROTOCOL = '/peerline/pair/1.0.0'

/** An offer is valid this long: enough to pick up the other device and scan a code, short enough to limit guessing. */
export const PAIRING_OFFER_TTL_MS = 5 * 60_000

/** Codes have 6 digits, like the one-time codes people already type (RFC 4226 §5.3 default). */
export const PAIRING_CODE_DIGITS = 6

/** Wrong codes before an offer is cancelled: 3 guesses in 10^6 leave an attacker a 3-in-a-million chance. */
export const PAIRING_MAX_ATTEMPTS = 3

/** Largest frame either side sends: a grant holds two certificates and a roster (~4 KiB at the device limit). */
export const MAX_PAIRING_FRAME_BYTES = 16 * 1024

/** Bound on one pairing exchange (dial, request, response) from either side. */
export const PAIRING_TIMEOUT_MS = 15_000

/** Addresses put in an offer (relay ones come first): enough to reach the primary, few enough for a readable QR code. */
export const PAIRING_OFFER_MAX_ADDRS = 4

/** Path of the app's pairing deep link, after `#`. */
export const PAIRING_LINK_PATH = '/pair/'

export interface PairingOffer {
  v: 1
  /** the identity's address */
  aor: string
  /** the primary device's libp2p peer id */
  peerId: string
  /** multiaddrs where the primary can be dialled (relay addresses first) */
  addrs: string[]
  /** 6 digits */
  code: string
  expiresAt: number
}

/** What the primary gives a new device. */
export interface PairingGrant {
  identityCertificate: IdentityCertificate
  deviceCertificate: DeviceCertificate
  roster: DeviceRoster
  displayName: string
}

// ── errors ──────────────────────────────────────────────────────────────────

export class PairingCodeError extends Error {
  static override name = 'PairingCodeError'
  override name = 'PairingCodeError'
  constructor (message = 'The pairing code is wrong') { super(message) }
}

export class PairingExpiredError extends Error {
  static override name = 'PairingExpiredError'
  override name = 'PairingExpiredError'
  constructor (message = 'The pairing offer has expired; show a new one on the other device') { super(message) }
}

/** The offer was used already, replaced by a newer one, or cancelled after too many wrong codes. */
export class PairingCancelledError extends Error {
  static override name = 'PairingCancelledError'
  override name = 'PairingCancelledError'
  constructor (message = 'The pairing offer is no longer valid; show a new one on the other device') { super(message) }
}

export class MalformedPairingOfferError extends Error {
  static override name = 'MalformedPairingOfferError'
  override name = 'MalformedPairingOfferError'
  constructor (message = 'This is not a Peerline pairing link') { super(message) }
}

export class MalformedPairingMessageError extends Error {
  static override name = 'MalformedPairingMessageError'
  override name = 'MalformedPairingMessageError'
  constructor (message = 'The pairing message is malformed') { super(message) }
}

/** The other device could not be reached or did not answer in time. */
export class PairingFailedError extends Error {
  static override name = 'PairingFailedError'
  override name = 'PairingFailedError'
  constructor (message = 'Could not reach the other device to pair') { super(message) }
}

const WIRE_ERRORS: Record<string, new (message?: string) => Error> = {
  PairingCodeError, PairingExpiredError, PairingCancelledError, MalformedPairingMessageError, PairingFailedError
}

// ── offers and links ────────────────────────────────────────────────────────

/** A fresh random 6-digit code (uniform: rejection sampling over 32-bit values). */
export function pairingCode (): string {
  const limit = 10 ** PAIRING_CODE_DIGITS
  const ceiling = Math.floor(0x1_0000_0000 / limit) * limit
  const buf = new Uint32Array(1)
  for (;;) {
    globalThis.crypto.getRandomValues(buf)
    const v = buf[0] as number
    if (v < ceiling) return String(v % limit).padStart(PAIRING_CODE_DIGITS, '0')
  }
}

/** `<base>#/pair/<base64url(JSON offer)>`; `base` is the app's address (may already end in `#…`, which is replaced). */
export function pairingLink (offer: PairingOffer, base: string): string {
  const root = base.split('#')[0] as string
  return `${root}#${PAIRING_LINK_PATH}${toBase64Url(utf8(JSON.stringify(offer)))}`
}

/**
 * Reads an offer from a pairing link, its `#/pair/…` fragment or the bare
 * base64url text (anything after a `?` is ignored). Checks shape and expiry.
 * @throws MalformedPairingOfferError | PairingExpiredError
 */
export function parsePairingOffer (input: string, options: { now?: number } = {}): PairingOffer {
  if (typeof input !== 'string') throw new MalformedPairingOfferError()
  let text = input.trim()
  const at = text.indexOf(PAIRING_LINK_PATH)
  if (at !== -1) text = text.slice(at + PAIRING_LINK_PATH.length)
  text = (text.split(/[?&#\s]/)[0] ?? '')
  if (text === '' || text.length > MAX_PAIRING_FRAME_BYTES) throw new MalformedPairingOfferError()
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(fromBase64Url(text)))
  } catch {
    throw new MalformedPairingOfferError('This pairing link is damaged (was it copied completely?)')
  }
  const o = value as Partial<Record<keyof PairingOffer, unknown>>
  if (typeof value !== 'object' || value == null || Array.isArray(value) || o.v !== 1) throw new MalformedPairingOfferError()
  if (typeof o.aor !== 'string' || typeof o.peerId !== 'string' || o.peerId.length > MAX_PEER_ID_LENGTH) {
    throw new MalformedPairingOfferError('The pairing link names no address or device')
  }
  let aor: string
  try {
    aor = normalizeAor(o.aor)
    peerIdFromString(o.peerId)
  } catch {
    throw new MalformedPairingOfferError('The pairing link names an invalid address or device')
  }
  if (!Array.isArray(o.addrs) || o.addrs.length > MAX_ADDRS_PER_DEVICE || !o.addrs.every(a => typeof a === 'string')) {
    throw new MalformedPairingOfferError('The pairing link has invalid addresses')
  }
  if (typeof o.code !== 'string' || !new RegExp(`^\\d{${PAIRING_CODE_DIGITS}}$`).test(o.code)) {
    throw new MalformedPairingOfferError(`The pairing code must be ${PAIRING_CODE_DIGITS} digits`)
  }
  if (typeof o.expiresAt !== 'number' || !Number.isFinite(o.expiresAt)) throw new MalformedPairingOfferError('The pairing link has no expiry')
  if (o.expiresAt < (options.now ?? Date.now())) throw new PairingExpiredError()
  return { v: 1, aor, peerId: o.peerId, addrs: o.addrs as string[], code: o.code, expiresAt: o.expiresAt }
}

// ── the primary's side ──────────────────────────────────────────────────────

interface ActiveOffer {
  offer: PairingOffer
  attempts: number
  state: 'open' | 'used' | 'cancelled'
  name?: string
}

export interface PairingHostInit {
  /** issues the certificate and new roster for a device; called once per successful pairing */
  grant: (peerId: string, name: string) => Promise<PairingGrant>
  /** throws when the device cannot be added (device limit); checked before the offer is used up */
  canGrant?: (peerId: string) => void
  maxAttempts?: number
  ttlMs?: number
  timeoutMs?: number
  /** the clock offers expire by (tests move it instead of sleeping); default Date.now */
  now?: () => number
}

/** Answers pairing requests on the primary device; at most one offer is open at a time. */
export class PairingHost {
  private readonly node: OverlayLibp2p
  private readonly init: PairingHostInit
  private active?: ActiveOffer
  private handling = false

  constructor (node: OverlayLibp2p, init: PairingHostInit) {
    this.node = node
    this.init = init
  }

  async start (): Promise<void> {
    if (this.handling) return
    await this.node.handle(PAIRING_PROTOCOL, (stream: Stream, connection: Connection) => {
      this.answer(stream, connection.remotePeer.toString()).catch(err => {
        log('pairing stream from %s failed: %s', connection.remotePeer.toString(), (err as Error).message)
        stream.abort(err as Error)
      })
    }, { runOnLimitedConnection: true })
    this.handling = true
  }

  async stop (): Promise<void> {
    if (this.active != null && this.active.state === 'open') this.active.state = 'cancelled'
    if (!this.handling) return
    this.handling = false
    await this.node.unhandle(PAIRING_PROTOCOL).catch(() => {})
  }

  /** A new offer; the previous one, if still open, is cancelled. */
  createOffer (init: { aor: string, addrs: string[], name?: string, now?: number }): PairingOffer {
    if (this.active?.state === 'open') this.active.state = 'cancelled'
    const offer: PairingOffer = {
      v: 1,
      aor: normalizeAor(init.aor),
      peerId: this.node.peerId.toString(),
      addrs: init.addrs.slice(0, PAIRING_OFFER_MAX_ADDRS),
      code: pairingCode(),
      expiresAt: (init.now ?? this.now()) + (this.init.ttlMs ?? PAIRING_OFFER_TTL_MS)
    }
    this.active = { offer, attempts: 0, state: 'open', ...(init.name != null ? { name: init.name } : {}) }
    return offer
  }

  /** The open offer, if any (for the UI: it is shown until used, cancelled or expired). */
  current (): PairingOffer | undefined {
    const a = this.active
    return a != null && a.state === 'open' && a.offer.expiresAt >= this.now() ? a.offer : undefined
  }

  cancel (): void {
    if (this.active?.state === 'open') this.active.state = 'cancelled'
  }

  private now (): number {
    return this.init.now?.() ?? Date.now()
  }

  private async answer (stream: Stream, remotePeer: string): Promise<void> {
    const signal = AbortSignal.timeout(this.init.timeoutMs ?? PAIRING_TIMEOUT_MS)
    const lp = lpStream(stream, { maxDataLength: MAX_PAIRING_FRAME_BYTES })
    let reply: Record<string, unknown>
    try {
      const request = parseFrame((await lp.read({ signal })).subarray())
      const grant = await this.check(request, remotePeer)
      reply = { ok: true, ...grant }
    } catch (err) {
      const e = err as Error
      if (signal.aborted) throw e
      reply = { ok: false, error: WIRE_ERRORS[e.name] != null ? e.name : 'PairingFailedError', message: e.message }
    }
    await lp.write(utf8(JSON.stringify(reply)), { signal })
    await stream.close({ signal }).catch(() => {})
  }

  private async check (request: Record<string, unknown>, remotePeer: string): Promise<PairingGrant> {
    const a = this.active
    if (a == null || a.state !== 'open') throw new PairingCancelledError()
    if (a.offer.expiresAt < this.now()) {
      a.state = 'cancelled'
      throw new PairingExpiredError()
    }
    const code = typeof request.code === 'string' ? request.code : ''
    if (!sameCode(code, a.offer.code)) {
      a.attempts++
      const left = (this.init.maxAttempts ?? PAIRING_MAX_ATTEMPTS) - a.attempts
      log('wrong pairing code from %s (%d tries left)', remotePeer, left)
      if (left <= 0) {
        a.state = 'cancelled'
        throw new PairingCodeError('The pairing code is wrong; the offer is cancelled after too many wrong codes')
      }
      throw new PairingCodeError(`The pairing code is wrong (${left} ${left === 1 ? 'try' : 'tries'} left)`)
    }
    this.init.canGrant?.(remotePeer)
    a.state = 'used'
    const requested = typeof request.name === 'string' ? request.name.trim() : ''
    const name = (requested !== '' ? requested : (a.name ?? '')).slice(0, MAX_DEVICE_NAME_LENGTH)
    return await this.init.grant(remotePeer, name)
  }
}

/** Compares two codes in time independent of where they differ. */
function sameCode (a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}

function parseFrame (frame: Uint8Array): Record<string, unknown> {
  return parseJsonObject(frame, 'The pairing message', MalformedPairingMessageError)
}

// ── the new device's side ───────────────────────────────────────────────────

/**
 * Dials the primary named in `offer`, sends the code and this device's name,
 * and returns what the primary granted, unchecked (the caller verifies the
 * certificates and roster against the offer).
 * @throws PairingCodeError | PairingExpiredError | PairingCancelledError | PairingFailedError | AbortError
 */
export async function requestPairing (node: OverlayLibp2p, offer: PairingOffer, init: { name: string, code?: string, signal?: AbortSignal, timeoutMs?: number }): Promise<Record<string, unknown>> {
  if (offer.expiresAt < Date.now()) throw new PairingExpiredError()
  const timeout = AbortSignal.timeout(init.timeoutMs ?? PAIRING_TIMEOUT_MS)
  const signal = anySignal(init.signal, timeout)
  let peer: PeerId
  try {
    peer = peerIdFromString(offer.peerId)
  } catch {
    throw new MalformedPairingOfferError('The pairing link names an invalid device')
  }
  let stream: Stream
  try {
    const open = node.getConnections(peer).find(c => c.status === 'open')
    const addrs = offer.addrs.flatMap(a => {
      try {
        return [multiaddr(a)]
      } catch {
        return []
      }
    })
    const target: PeerId | Multiaddr[] = addrs.length > 0 ? addrs : peer
    const connection = open ?? await node.dial(target, { signal })
    if (connection.remotePeer.toString() !== offer.peerId) {
      throw new PairingFailedError(`Dialled the device in the pairing link but reached ${connection.remotePeer.toString()}`)
    }
    stream = await connection.newStream(PAIRING_PROTOCOL, { signal, runOnLimitedConnection: true })
  } catch (err) {
    init.signal?.throwIfAborted()
    if ((err as Error).name === 'PairingFailedError') throw err
    throw new PairingFailedError(`Could not reach the other device: ${(err as Error).message}`)
  }
  try {
    const request = utf8(JSON.stringify({ code: init.code ?? offer.code, name: init.name }))
    const reply = parseFrame(await exchangeFrames(stream, request, MAX_PAIRING_FRAME_BYTES, signal))
    if (reply.ok !== true) {
      const E = WIRE_ERRORS[String(reply.error)] ?? PairingFailedError
      throw new E(typeof reply.message === 'string' ? reply.message.slice(0, 300) : undefined)
    }
    return reply
  } catch (err) {
    stream.abort(err as Error)
    init.signal?.throwIfAborted()
    if (timeout.aborted) throw new PairingFailedError('The other device did not answer in time')
    if (WIRE_ERRORS[(err as Error).name] != null) throw err
    throw new PairingFailedError(`Pairing failed: ${(err as Error).message}`)
  }
}
