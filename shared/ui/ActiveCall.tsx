/**
 * A call in progress (or being set up): who, how long, media, and the
 * controls: Mute, Hold/Resume, Video, keypad, Hang up.
 *
 * Media elements are always mounted (hidden when there is nothing to show) so
 * the streams can be attached as soon as they exist: remote audio plays
 * through an <audio>, remote and local video through muted <video>s.
 */
import type { TrustStore } from '../identity/index.ts'
import type { Call } from '../sip/api.ts'
import { formatDuration } from './format.ts'
import { hasLiveVideo, useCall, useMediaStream, useTicker } from './hooks.tsx'
import { Keypad } from './Keypad.tsx'
import { RemotePartyCard } from './RemotePartyCard.tsx'
import { Ringtone } from './Ringtone.tsx'

export interface ActiveCallProps {
  call: Call
  /** failures of the asynchronous controls (hold, video): the host shows them */
  onError: (err: unknown, call: Call) => void
  /** the user's trust store, so the badge follows it (see RemotePartyCard) */
  trust?: TrustStore | undefined
}

export function callStateText (call: Call, now: number): string {
  switch (call.state) {
    case 'calling': return 'Calling…'
    case 'ringing': return 'Ringing…'
    case 'incoming': return 'Connecting…'
    case 'active': return formatDuration(call.duration())
    case 'held': return `On hold · ${formatDuration(call.duration())}`
    case 'ended': return call.end?.message ?? 'Call ended'
    default: return formatDuration(now - call.startedAt)
  }
}

export function ActiveCall ({ call, onError, trust }: ActiveCallProps) {
  useCall(call)
  const live = call.state === 'active' || call.state === 'held'
  const now = useTicker(1000, live)
  const remoteAudio = useMediaStream<HTMLAudioElement>(call.remoteStream)
  const remoteVideo = useMediaStream<HTMLVideoElement>(call.remoteStream)
  const localVideo = useMediaStream<HTMLVideoElement>(call.localStream)
  const showRemoteVideo = hasLiveVideo(call.remoteStream)
  const showLocalVideo = call.video && hasLiveVideo(call.localStream)
  const headingId = `call-${call.id}`
  const run = (action: () => Promise<void>): void => { action().catch(err => { onError(err, call) }) }
  const ended = call.state === 'ended'

  return (
    <section class="in-call" aria-labelledby={headingId}>
      <Ringtone kind="ringback" playing={call.direction === 'outgoing' && call.state === 'ringing'} />
      <RemotePartyCard remote={call.remote} headingId={headingId} trust={trust} />
      <p class="call-state">
        <span class="duration" aria-label="Call duration" data-state={call.state}>{callStateText(call, now)}</span>
      </p>
      <div class={`videos${showRemoteVideo || showLocalVideo ? '' : ' empty'}`}>
        <video ref={remoteVideo} class="remote-video" autoplay playsInline muted hidden={!showRemoteVideo} aria-label="Remote video" />
        <video ref={localVideo} class="local-video" autoplay playsInline muted hidden={!showLocalVideo} aria-label="Your video" />
      </div>
      <audio ref={remoteAudio} class="remote-audio" autoplay />
      <div class="row controls">
        <button type="button" class="btn toggle" aria-pressed={call.muted} disabled={ended}
          onClick={() => { call.setMuted(!call.muted) }}>Mute</button>
        <button type="button" class="btn" disabled={!live}
          onClick={() => { run(async () => { await call.setHeld(!call.held) }) }}>{call.held ? 'Resume' : 'Hold'}</button>
        <button type="button" class="btn toggle" aria-pressed={call.video} disabled={!live}
          onClick={() => { run(async () => { await call.setVideo(!call.video) }) }}>Video</button>
      </div>
      <button type="button" class="btn hangup" disabled={ended} onClick={() => { call.hangup() }}>Hang up</button>
      <Keypad disabled={call.state !== 'active'} onTone={tone => {
        try { call.sendDtmf(tone) } catch (err) { onError(err, call) }
      }} />
    </section>
  )
}
