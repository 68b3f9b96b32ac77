/**
 * Framing on Peerline SIP streams: each frame is an unsigned LEB128 varint
 * length followed by that many bytes. One frame holds one complete SIP
 * message (or the hello); an empty frame is a keep-alive.
 *
 *   encodeFrame(utf8('OPTIONS sip:…'))  →  [0x8f, 0x02, 0x4f, …]
 *
 * Streams deliver arbitrary chunks, so FrameDecoder reassembles; it refuses a
 * length above the limit as soon as the prefix is read, before buffering.
 */
import { MAX_SIP_MESSAGE_BYTES } from './constants.ts'
import { FrameTooLargeError, MalformedFrameError } from './errors.ts'

/** A varint for lengths up to MAX_SIP_MESSAGE_BYTES never needs more than this many bytes; 5 covers 2^35. */
const MAX_VARINT_BYTES = 5

export function encodeVarint (n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('varint must be a non-negative integer')
  const out: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0)
  return Uint8Array.from(out)
}

export function encodeFrame (payload: Uint8Array, maxBytes = MAX_SIP_MESSAGE_BYTES): Uint8Array {
  if (payload.byteLength > maxBytes) throw new FrameTooLargeError(`SIP frame of ${payload.byteLength} bytes exceeds ${maxBytes}`)
  const prefix = encodeVarint(payload.byteLength)
  const frame = new Uint8Array(prefix.byteLength + payload.byteLength)
  frame.set(prefix, 0)
  frame.set(payload, prefix.byteLength)
  return frame
}

/** The keep-alive frame: a zero length. */
export const KEEPALIVE_FRAME = Uint8Array.of(0)

export class FrameDecoder {
  private readonly maxBytes: number
  /** received chunks not yet consumed; joined only once a whole frame is there */
  private chunks: Uint8Array[] = []
  private length = 0

  constructor (maxBytes = MAX_SIP_MESSAGE_BYTES) {
    this.maxBytes = maxBytes
  }

  /** Bytes received but not yet part of a complete frame. */
  get pending (): number { return this.length }

  /**
   * Adds a chunk and returns the frames it completes (empty frames included).
   * Linear in the bytes received however they are chunked.
   * @throws FrameTooLargeError | MalformedFrameError; the stream is then unusable
   */
  push (chunk: Uint8Array): Uint8Array[] {
    if (chunk.byteLength > 0) {
      this.chunks.push(chunk)
      this.length += chunk.byteLength
    }
    const frames: Uint8Array[] = []
    for (;;) {
      const header = readVarint(this.peek(MAX_VARINT_BYTES), 0)
      if (header == null) break
      const [size, prefixBytes] = header
      if (size > this.maxBytes) throw new FrameTooLargeError(`Peer announced a SIP frame of ${size} bytes (limit ${this.maxBytes})`)
      if (this.length < prefixBytes + size) break
      this.take(prefixBytes)
      frames.push(this.take(size))
    }
    return frames
  }

  /** Up to `n` bytes from the front, without consuming them. */
  private peek (n: number): Uint8Array {
    const first = this.chunks[0]
    if (first != null && first.byteLength >= n) return first.subarray(0, n)
    const out = new Uint8Array(Math.min(n, this.length))
    let at = 0
    for (const c of this.chunks) {
      if (at >= out.byteLength) break
      const part = c.subarray(0, out.byteLength - at)
      out.set(part, at)
      at += part.byteLength
    }
    return out
  }

  /** Consumes exactly `n` bytes (n <= length) as one array. */
  private take (n: number): Uint8Array {
    const out = new Uint8Array(n)
    let at = 0
    let used = 0
    while (at < n) {
      const c = this.chunks[used] as Uint8Array
      const want = n - at
      if (c.byteLength <= want) {
        out.set(c, at)
        at += c.byteLength
        used++
      } else {
        out.set(c.subarray(0, want), at)
        at += want
        this.chunks[used] = c.subarray(want)
      }
    }
    // one splice for all consumed chunks keeps many tiny chunks linear
    if (used > 0) this.chunks = this.chunks.slice(used)
    this.length -= n
    return out
  }
}

/** [value, bytes used], or undefined when the prefix is still incomplete. */
function readVarint (buf: Uint8Array, offset: number): [number, number] | undefined {
  let value = 0
  let scale = 1
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    if (offset + i >= buf.byteLength) return undefined
    const byte = buf[offset + i] as number
    value += (byte & 0x7f) * scale
    if ((byte & 0x80) === 0) {
      if (i > 0 && byte === 0) throw new MalformedFrameError('SIP frame length is not minimally encoded')
      return [value, i + 1]
    }
    scale *= 128
  }
  throw new MalformedFrameError(`SIP frame length prefix is longer than ${MAX_VARINT_BYTES} bytes`)
}
