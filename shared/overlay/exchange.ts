/**
 * The asking side of Peerline's one-shot request/response protocols (device
 * pairing, the email-verifying CA): on a fresh stream, one length-prefixed
 * request frame out, one answer frame back, then the stream is closed.
 */
import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'

/**
 * Writes `request` as one frame and returns the answer frame (at most
 * `maxBytes`). Stream errors and aborts are thrown as they are: the caller
 * aborts the stream and names the failure for its protocol.
 */
export async function exchangeFrames (stream: Stream, request: Uint8Array, maxBytes: number, signal: AbortSignal): Promise<Uint8Array> {
  const lp = lpStream(stream, { maxDataLength: maxBytes })
  await lp.write(request, { signal })
  const answer = await lp.read({ signal })
  await stream.close({ signal }).catch(() => {})
  return answer.subarray()
}
