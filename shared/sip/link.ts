/**
 * One SIP stream to one device: framing, the identity hello, keep-alives,
 * back-pressure. transport.ts owns the links and routes messages over them.
 *
 * Either side may open the stream; both send their hello first, then SIP
 * messages, one per frame. The first frame received decides what the remote
 * proved (a hello, verified against the Noise peer id), so every SIP message
 * on the link is judged against that.
 */
import type { Stream } from '@libp2p/interface'
import { unrefTimer } from '../util/async.ts'
import { logger } from '../util/logger.ts'
import { MAX_SIP_MESSAGE_BYTES, SIP_KEEPALIVE_INTERVAL_MS } from './constants.ts'
import { encodeFrame, FrameDecoder, KEEPALIVE_FRAME } from './framing.ts'
import { looksLikeHello, NO_CERTIFICATE, verifyHello } from './hello.ts'
import type { HelloVerifyOptions, PeerVerification } from './hello.ts'

const log = logger('sip:link')

/** Outgoing bytes queued while the stream needs draining; past this the peer is not reading: give up. */
const MAX_QUEUED_BYTES = 1024 * 1024

export interface SipLinkInit {
  stream: Stream
  /** Noise-authenticated peer id of the connection */
  remotePeer: string
  /** our encoded hello, sent first */
  hello: Uint8Array
  verifyOptions?: HelloVerifyOptions
  maxMessageBytes?: number
  keepaliveIntervalMs?: number
  /** one SIP message's frame, as bytes: its body need not be text (parseSipBytes reads it) */
  onMessage: (message: Uint8Array, link: SipLink) => void
  onClose: (link: SipLink, error?: Error) => void
}

let nextId = 0
const encoder = new TextEncoder()

export class SipLink {
  readonly id: string
  readonly remotePeer: string
  readonly stream: Stream
  readonly direction: 'inbound' | 'outbound'
  /** what the remote proved with its hello; NoCertificate until (and unless) one arrives */
  verification: PeerVerification = NO_CERTIFICATE
  /** ms epoch of the last SIP message either way (keep-alives excluded) */
  lastActivity = Date.now()
  private helloSeen = false
  private closed = false
  private readonly decoder: FrameDecoder
  private readonly init: SipLinkInit
  private readonly maxBytes: number
  private keepalive?: ReturnType<typeof setInterval>
  private queue: Uint8Array[] = []
  private queuedBytes = 0
  private draining = false

  constructor (init: SipLinkInit) {
    this.init = init
    this.id = `${init.remotePeer.slice(-8)}#${++nextId}`
    this.remotePeer = init.remotePeer
    this.stream = init.stream
    this.direction = init.stream.direction
    this.maxBytes = init.maxMessageBytes ?? MAX_SIP_MESSAGE_BYTES
    this.decoder = new FrameDecoder(this.maxBytes)
    this.stream.addEventListener('message', this.onData)
    this.stream.addEventListener('close', this.onStreamClose)
    this.stream.addEventListener('remoteCloseWrite', this.onRemoteCloseWrite)
    this.write(encodeFrame(init.hello, this.maxBytes))
    // a keep-alive timer must not keep a Node process alive on its own
    this.keepalive = unrefTimer(setInterval(() => { this.write(KEEPALIVE_FRAME) }, init.keepaliveIntervalMs ?? SIP_KEEPALIVE_INTERVAL_MS))
  }

  get open (): boolean {
    return !this.closed && this.stream.status === 'open' && this.stream.writeStatus === 'writable'
  }

  /** Sends one SIP message; false when the link is closed or the message is too large. */
  send (text: string): boolean {
    if (!this.open) return false
    const bytes = encoder.encode(text)
    if (bytes.byteLength > this.maxBytes) {
      log.error('not sending a %d-byte SIP message to %s (limit %d)', bytes.byteLength, this.remotePeer, this.maxBytes)
      return false
    }
    this.lastActivity = Date.now()
    return this.write(encodeFrame(bytes, this.maxBytes))
  }

  /** Closes gracefully; aborts when the remote does not finish in time. */
  async close (): Promise<void> {
    if (this.closed) return
    this.teardown()
    this.init.onClose(this)
    try {
      await this.stream.close({ signal: AbortSignal.timeout(1_000) })
    } catch (err) {
      this.stream.abort(err as Error)
    }
  }

  abort (error: Error): void {
    if (this.closed) return
    this.teardown()
    this.stream.abort(error)
    this.init.onClose(this, error)
  }

  private write (frame: Uint8Array): boolean {
    if (this.closed) return false
    if (this.draining) {
      this.queuedBytes += frame.byteLength
      if (this.queuedBytes > MAX_QUEUED_BYTES) {
        this.abort(new Error(`SIP stream to ${this.remotePeer} is not draining`))
        return false
      }
      this.queue.push(frame)
      return true
    }
    try {
      if (!this.stream.send(frame)) {
        this.draining = true
        this.stream.onDrain({ signal: AbortSignal.timeout(30_000) }).then(() => { this.flush() }, (err: Error) => {
          this.abort(err)
        })
      }
      return true
    } catch (err) {
      log('send to %s failed: %s', this.remotePeer, (err as Error).message)
      return false
    }
  }

  private flush (): void {
    this.draining = false
    const queued = this.queue
    this.queue = []
    this.queuedBytes = 0
    for (const frame of queued) this.write(frame)
  }

  private readonly onData = (event: { data: { subarray: () => Uint8Array } }): void => {
    let frames: Uint8Array[]
    try {
      frames = this.decoder.push(event.data.subarray())
    } catch (err) {
      // a hostile or broken peer: nothing after a bad prefix can be trusted
      log.error('closing SIP stream from %s: %s', this.remotePeer, (err as Error).message)
      this.abort(err as Error)
      return
    }
    for (const frame of frames) {
      if (this.closed) return
      if (frame.byteLength === 0) continue
      if (!this.helloSeen) {
        this.helloSeen = true
        if (looksLikeHello(frame)) {
          this.verification = verifyHello(frame, this.remotePeer, this.init.verifyOptions)
          if (!this.verification.authenticated) log('peer %s is not authenticated: %s (%s)', this.remotePeer, this.verification.reason, this.verification.message)
          continue
        }
      } else if (looksLikeHello(frame)) {
        log('ignoring a second hello from %s', this.remotePeer)
        continue
      }
      this.lastActivity = Date.now()
      try {
        this.init.onMessage(frame, this)
      } catch (err) {
        log.error('handling a SIP message from %s failed: %s', this.remotePeer, (err as Error).stack ?? err)
      }
    }
  }

  private readonly onRemoteCloseWrite = (): void => {
    // the remote will send nothing more: a SIP link is useless half-open
    this.close().catch(() => {})
  }

  private readonly onStreamClose = (event: Event): void => {
    const wasClosed = this.closed
    this.teardown()
    if (!wasClosed) this.init.onClose(this, (event as Event & { error?: Error }).error)
  }

  private teardown (): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.keepalive)
    this.queue = []
    this.stream.removeEventListener('message', this.onData)
    this.stream.removeEventListener('remoteCloseWrite', this.onRemoteCloseWrite)
    // 'close' listener stays: it is harmless and reports late errors
  }
}
