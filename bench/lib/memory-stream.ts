/**
 * A pair of in-memory libp2p streams: the smallest transport that lets real
 * kad-dht code (its pbStream framing, RPC handlers, close/reset handling)
 * talk to itself inside one process, with no TCP, encryption or muxer.
 *
 * Both ends are libp2p's own AbstractStream, so they behave like a Yamux
 * stream to the code on top: data, half-close and reset are delivered to the
 * other end in order, after `latencyMs` (0: on the next turn of the event loop).
 */
import { AbstractStream } from '@libp2p/utils'
import type { SendResult } from '@libp2p/utils'
import type { Logger } from '@libp2p/interface'

type Chunk = Parameters<AbstractStream['sendData']>[0]

const silent: Logger = Object.assign(() => {}, {
  error: () => {},
  trace: () => {},
  enabled: false,
  newScope: () => silent
})

/** A logger that drops everything: 100 000 debug scopes for 5 000 simulated nodes would cost memory for nothing. */
export const SILENT_LOGGER = silent

let nextId = 0

class MemoryStream extends AbstractStream {
  remote?: MemoryStream
  private readonly latencyMs: number

  constructor (direction: 'inbound' | 'outbound', protocol: string, latencyMs: number) {
    super({ id: `mem-${nextId++}`, direction, protocol, log: silent })
    this.latencyMs = latencyMs
  }

  private deliver (fn: (remote: MemoryStream) => void): void {
    const remote = this.remote
    if (remote == null) return
    // one FIFO per direction: setImmediate and equal-delay timers both fire in order
    if (this.latencyMs > 0) setTimeout(() => { fn(remote) }, this.latencyMs)
    else setImmediate(() => { fn(remote) })
  }

  sendData (data: Chunk): SendResult {
    const bytes = data.subarray()
    this.deliver(r => { r.onData(bytes) })
    return { sentBytes: data.byteLength, canSendMore: true }
  }

  sendReset (): void {
    this.deliver(r => { r.onRemoteReset() })
  }

  async sendCloseWrite (): Promise<void> {
    this.deliver(r => { r.onRemoteCloseWrite() })
  }

  async sendCloseRead (): Promise<void> {
    this.deliver(r => { r.onRemoteCloseRead() })
  }

  sendPause (): void {}
  sendResume (): void {}
}

/** Returns [outbound, inbound]: what the dialler writes to, what the listener's handler reads. */
export function memoryStreamPair (protocol: string, latencyMs = 0): [AbstractStream, AbstractStream] {
  const outbound = new MemoryStream('outbound', protocol, latencyMs)
  const inbound = new MemoryStream('inbound', protocol, latencyMs)
  outbound.remote = inbound
  inbound.remote = outbound
  return [outbound, inbound]
}
