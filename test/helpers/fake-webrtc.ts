/**
 * A stand-in for the browser's WebRTC objects, for Node tests of the SIP
 * side of calls only. Node has no RTCPeerConnection, and the one in
 * node-datachannel/polyfill cannot carry JsSIP's offers (no addTrack /
 * addTransceiver; createOffer never resolves without a data channel).
 *
 * It does what JsSIP does with a peer connection — offers and answers with
 * real SDP (parsed and mangled by JsSIP for hold), ICE candidate events,
 * senders with RTCDTMFSender, 'track' events — but carries no media. The
 * media path is proven by the browser end-to-end tests with real Chromium.
 *
 * Gathering is deliberately slow (FAKE_GATHERING_COMPLETE_MS): a host
 * candidate comes at once, completion only much later, like a STUN server
 * that does not answer; the phone's ICE bound must not wait for it.
 */

export const FAKE_GATHERING_COMPLETE_MS = 4_000

let ids = 0
const nextId = (p: string): string => `${p}${++ids}`

export class FakeMediaStreamTrack extends EventTarget {
  readonly kind: 'audio' | 'video'
  readonly id = nextId('track')
  readonly label: string
  enabled = true
  readyState: 'live' | 'ended' = 'live'
  constructor (kind: 'audio' | 'video') {
    super()
    this.kind = kind
    this.label = `fake ${kind}`
  }

  stop (): void { this.readyState = 'ended' }
}

export class FakeMediaStream extends EventTarget {
  readonly id = nextId('stream')
  private readonly tracks: FakeMediaStreamTrack[]
  constructor (tracks: FakeMediaStreamTrack[] = []) {
    super()
    this.tracks = [...tracks]
  }

  getTracks (): FakeMediaStreamTrack[] { return [...this.tracks] }
  getAudioTracks (): FakeMediaStreamTrack[] { return this.tracks.filter(t => t.kind === 'audio') }
  getVideoTracks (): FakeMediaStreamTrack[] { return this.tracks.filter(t => t.kind === 'video') }
  addTrack (t: FakeMediaStreamTrack): void { if (!this.tracks.includes(t)) this.tracks.push(t) }
  removeTrack (t: FakeMediaStreamTrack): void {
    const i = this.tracks.indexOf(t)
    if (i !== -1) this.tracks.splice(i, 1)
  }

  get active (): boolean { return this.tracks.some(t => t.readyState === 'live') }
}

class FakeDtmfSender extends EventTarget {
  toneBuffer = ''
  readonly sent: string[] = []
  insertDTMF (tones: string): void {
    this.sent.push(tones)
    this.toneBuffer = ''
  }
}

class FakeSender {
  track: FakeMediaStreamTrack | null
  readonly dtmf: FakeDtmfSender | null
  constructor (track: FakeMediaStreamTrack | null, kind: string) {
    this.track = track
    this.dtmf = kind === 'audio' ? new FakeDtmfSender() : null
  }

  async replaceTrack (track: FakeMediaStreamTrack | null): Promise<void> { this.track = track }
}

type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive'

class FakeTransceiver {
  readonly mid: string
  readonly kind: 'audio' | 'video'
  readonly sender: FakeSender
  readonly receiver: { track: FakeMediaStreamTrack }
  direction: Direction = 'sendrecv'
  currentDirection: Direction | null = null
  remoteStream?: FakeMediaStream
  constructor (mid: string, kind: 'audio' | 'video', track: FakeMediaStreamTrack | null) {
    this.mid = mid
    this.kind = kind
    this.sender = new FakeSender(track, kind)
    this.receiver = { track: new FakeMediaStreamTrack(kind) }
  }
}

interface MLine { kind: 'audio' | 'video', mid: string, direction: Direction }

function parseMLines (sdp: string): MLine[] {
  const out: MLine[] = []
  let session: Direction = 'sendrecv'
  let current: MLine | undefined
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) {
      current = { kind: line.startsWith('m=video') ? 'video' : 'audio', mid: String(out.length), direction: session }
      out.push(current)
    } else if (line.startsWith('a=mid:') && current != null) {
      current.mid = line.slice(6).trim()
    } else {
      const d = /^a=(sendrecv|sendonly|recvonly|inactive)$/.exec(line.trim())?.[1] as Direction | undefined
      if (d != null) {
        if (current != null) current.direction = d
        else session = d
      }
    }
  }
  return out
}

function mirror (d: Direction): Direction {
  return d === 'sendonly' ? 'recvonly' : d === 'recvonly' ? 'sendonly' : d
}

function intersect (local: Direction, remoteMirrored: Direction): Direction {
  const send = (local === 'sendrecv' || local === 'sendonly') && (remoteMirrored === 'sendrecv' || remoteMirrored === 'sendonly')
  const recv = (local === 'sendrecv' || local === 'recvonly') && (remoteMirrored === 'sendrecv' || remoteMirrored === 'recvonly')
  return send && recv ? 'sendrecv' : send ? 'sendonly' : recv ? 'recvonly' : 'inactive'
}

export interface FakeSessionDescription { type: 'offer' | 'answer', sdp: string }

export class FakeRTCSessionDescription implements FakeSessionDescription {
  type: 'offer' | 'answer'
  sdp: string
  constructor (init: FakeSessionDescription) {
    this.type = init.type
    this.sdp = init.sdp
  }
}

/** Every fake peer connection created, for assertions. */
export const peerConnections: FakeRTCPeerConnection[] = []

export class FakeRTCPeerConnection extends EventTarget {
  readonly config: unknown
  signalingState: 'stable' | 'have-local-offer' | 'have-remote-offer' | 'closed' = 'stable'
  iceGatheringState: 'new' | 'gathering' | 'complete' = 'new'
  iceConnectionState: 'new' | 'checking' | 'connected' | 'closed' = 'new'
  connectionState: 'new' | 'connecting' | 'connected' | 'closed' = 'new'
  localDescription: FakeRTCSessionDescription | null = null
  remoteDescription: FakeRTCSessionDescription | null = null
  private readonly transceivers: FakeTransceiver[] = []
  private version = 1
  private readonly sessionId = String(Math.floor(Math.random() * 1e12))
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()

  constructor (config?: unknown) {
    super()
    this.config = config
    peerConnections.push(this)
  }

  getTransceivers (): FakeTransceiver[] { return [...this.transceivers] }
  getSenders (): FakeSender[] { return this.transceivers.map(t => t.sender) }
  getReceivers (): Array<{ track: FakeMediaStreamTrack }> { return this.transceivers.map(t => t.receiver) }

  addTrack (track: FakeMediaStreamTrack, ..._streams: FakeMediaStream[]): FakeSender {
    const free = this.transceivers.find(t => t.kind === track.kind && t.sender.track == null && t.currentDirection !== 'sendrecv' && t.currentDirection !== 'sendonly')
    if (free != null) {
      free.sender.track = track
      if (free.direction === 'recvonly') free.direction = 'sendrecv'
      if (free.direction === 'inactive') free.direction = 'sendonly'
      return free.sender
    }
    const t = new FakeTransceiver(String(this.transceivers.length), track.kind, track)
    this.transceivers.push(t)
    return t.sender
  }

  removeTrack (sender: FakeSender): void {
    const t = this.transceivers.find(x => x.sender === sender)
    if (t == null) return
    t.sender.track = null
    t.direction = t.direction === 'sendrecv' ? 'recvonly' : t.direction === 'sendonly' ? 'inactive' : t.direction
  }

  async createOffer (options?: { offerToReceiveAudio?: boolean, offerToReceiveVideo?: boolean }): Promise<FakeSessionDescription> {
    if (options?.offerToReceiveAudio === true && !this.transceivers.some(t => t.kind === 'audio')) {
      const t = new FakeTransceiver(String(this.transceivers.length), 'audio', null)
      t.direction = 'recvonly'
      this.transceivers.push(t)
    }
    return { type: 'offer', sdp: this.sdp(this.transceivers.map(t => ({ t, direction: t.direction }))) }
  }

  async createAnswer (): Promise<FakeSessionDescription> {
    if (this.remoteDescription == null) throw new Error('createAnswer without a remote offer')
    const lines = parseMLines(this.remoteDescription.sdp)
    return {
      type: 'answer',
      sdp: this.sdp(lines.map(m => {
        const t = this.transceivers.find(x => x.mid === m.mid) as FakeTransceiver
        return { t, direction: intersect(t.direction, mirror(m.direction)) }
      }))
    }
  }

  async setLocalDescription (desc: FakeSessionDescription): Promise<void> {
    this.localDescription = new FakeRTCSessionDescription(desc)
    this.signalingState = desc.type === 'offer' ? 'have-local-offer' : 'stable'
    if (desc.type === 'answer') this.applyAnswerDirections(desc.sdp, false)
    if (this.iceGatheringState === 'new') {
      this.iceGatheringState = 'gathering'
      this.later(10, () => {
        const candidate = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 }
        this.dispatch('icecandidate', { candidate })
      })
      this.later(FAKE_GATHERING_COMPLETE_MS, () => {
        this.iceGatheringState = 'complete'
        this.dispatch('icecandidate', { candidate: null })
        this.dispatch('icegatheringstatechange', {})
      })
    }
    this.maybeConnected()
  }

  async setRemoteDescription (desc: FakeSessionDescription): Promise<void> {
    if (this.signalingState === 'closed') throw new Error('closed')
    this.remoteDescription = new FakeRTCSessionDescription(desc)
    const lines = parseMLines(desc.sdp)
    for (const m of lines) {
      let t = this.transceivers.find(x => x.mid === m.mid)
      if (t == null) {
        t = new FakeTransceiver(m.mid, m.kind, null)
        t.direction = 'recvonly'
        this.transceivers.push(t)
      }
      const remoteSends = m.direction === 'sendrecv' || m.direction === 'sendonly'
      if (remoteSends && t.remoteStream == null) {
        t.remoteStream = new FakeMediaStream([t.receiver.track])
        const transceiver = t
        this.later(0, () => { this.dispatch('track', { track: transceiver.receiver.track, streams: [transceiver.remoteStream], transceiver, receiver: transceiver.receiver }) })
      }
    }
    if (desc.type === 'offer') this.signalingState = 'have-remote-offer'
    else {
      this.signalingState = 'stable'
      this.applyAnswerDirections(desc.sdp, true)
    }
    this.maybeConnected()
  }

  async addIceCandidate (): Promise<void> {}

  async getStats (): Promise<Map<string, unknown>> {
    return new Map([['fake-transport', { type: 'transport', dtlsState: 'connected' }]])
  }

  close (): void {
    this.signalingState = 'closed'
    this.iceConnectionState = 'closed'
    this.connectionState = 'closed'
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }

  /** The audio DTMF sender's inserted tones. */
  dtmfSent (): string[] {
    return this.getSenders().find(s => s.track?.kind === 'audio')?.dtmf?.sent ?? []
  }

  private applyAnswerDirections (sdp: string, remote: boolean): void {
    for (const m of parseMLines(sdp)) {
      const t = this.transceivers.find(x => x.mid === m.mid)
      if (t != null) t.currentDirection = remote ? mirror(m.direction) : m.direction
    }
  }

  private maybeConnected (): void {
    if (this.localDescription == null || this.remoteDescription == null || this.iceConnectionState === 'connected') return
    this.later(5, () => {
      this.iceConnectionState = 'connected'
      this.connectionState = 'connected'
      this.dispatch('iceconnectionstatechange', {})
      this.dispatch('connectionstatechange', {})
    })
  }

  private sdp (media: Array<{ t: FakeTransceiver, direction: Direction }>): string {
    const lines = [
      'v=0',
      `o=- ${this.sessionId} ${this.version++} IN IP4 127.0.0.1`,
      's=-',
      't=0 0',
      `a=group:BUNDLE ${media.map(m => m.t.mid).join(' ')}`,
      'a=msid-semantic: WMS *'
    ]
    for (const { t, direction } of media) {
      if (t.kind === 'audio') {
        lines.push('m=audio 9 UDP/TLS/RTP/SAVPF 111 126', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0')
      } else {
        lines.push('m=video 9 UDP/TLS/RTP/SAVPF 96', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0')
      }
      lines.push(
        'a=ice-ufrag:fake',
        'a=ice-pwd:fakefakefakefakefakefake',
        'a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF',
        'a=setup:actpass',
        `a=mid:${t.mid}`,
        `a=${direction}`,
        'a=rtcp-mux'
      )
      if (t.kind === 'audio') lines.push('a=rtpmap:111 opus/48000/2', 'a=rtpmap:126 telephone-event/8000')
      else lines.push('a=rtpmap:96 VP8/90000')
    }
    return lines.join('\r\n') + '\r\n'
  }

  private later (ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t)
      if (this.signalingState !== 'closed') fn()
    }, ms)
    this.timers.add(t)
  }

  private dispatch (type: string, props: Record<string, unknown>): void {
    const e = new Event(type)
    Object.assign(e, props)
    this.dispatchEvent(e)
  }
}

/** A MediaAdapter handing out fake tracks, counting what was asked for. */
export function fakeMedia (): { getUserMedia: (c: MediaStreamConstraints) => Promise<MediaStream>, requests: MediaStreamConstraints[], streams: FakeMediaStream[] } {
  const requests: MediaStreamConstraints[] = []
  const streams: FakeMediaStream[] = []
  return {
    requests,
    streams,
    getUserMedia: async constraints => {
      requests.push(constraints)
      const tracks: FakeMediaStreamTrack[] = []
      if (constraints.audio != null && constraints.audio !== false) tracks.push(new FakeMediaStreamTrack('audio'))
      if (constraints.video != null && constraints.video !== false) tracks.push(new FakeMediaStreamTrack('video'))
      const s = new FakeMediaStream(tracks)
      streams.push(s)
      return s as unknown as MediaStream
    }
  }
}

/**
 * Installs the fakes where JsSIP looks for them (`window.RTCPeerConnection`,
 * global RTCPeerConnection and RTCSessionDescription). Only `window` is a
 * bare object with those two names, so nothing takes Node for a browser.
 */
export function installFakeWebRtc (): void {
  const g = globalThis as Record<string, unknown>
  g.RTCPeerConnection = FakeRTCPeerConnection
  g.RTCSessionDescription = FakeRTCSessionDescription
  g.MediaStream = FakeMediaStream
  g.window = { RTCPeerConnection: FakeRTCPeerConnection, RTCSessionDescription: FakeRTCSessionDescription }
}
