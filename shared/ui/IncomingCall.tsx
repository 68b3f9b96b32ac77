/**
 * The ringing screen: who calls (address, name hint, trust badge), Answer
 * and Decline, and the ring tone.
 */
import { useEffect, useRef, useState } from 'preact/hooks'
import type { TrustStore } from '../identity/index.ts'
import type { Call } from '../sip/api.ts'
import { useCall } from './hooks.tsx'
import { RemotePartyCard } from './RemotePartyCard.tsx'
import { Ringtone } from './Ringtone.tsx'

export interface IncomingCallProps {
  call: Call
  /** `video`: the user chose to send their camera too */
  onAnswer: (call: Call, video: boolean) => void
  onDecline: (call: Call) => void
  /** false while the user is busy in another call: show the screen without ringing aloud */
  ring?: boolean
  /** the user's trust store, so the badge follows it (see RemotePartyCard) */
  trust?: TrustStore | undefined
}

export function IncomingCall ({ call, onAnswer, onDecline, ring = true, trust }: IncomingCallProps) {
  useCall(call)
  const [video, setVideo] = useState(false)
  const [busy, setBusy] = useState(false)
  const headingId = `incoming-${call.id}`
  // focus the dialog, not the Answer button: an Enter meant for a text box must not pick up the call
  const dialog = useRef<HTMLElement>(null)
  useEffect(() => { dialog.current?.focus() }, [])
  return (
    <section ref={dialog} class="incoming" role="dialog" aria-modal="true" aria-labelledby={headingId} tabIndex={-1}>
      <Ringtone kind="ring" playing={ring && call.state === 'incoming'} />
      <h2 class="incoming-title">Incoming call</h2>
      <RemotePartyCard remote={call.remote} headingId={headingId} trust={trust} />
      <label class="check">
        <input type="checkbox" checked={video} onChange={e => { setVideo(e.currentTarget.checked) }} />
        Send my video
      </label>
      <div class="row answer-row">
        <button type="button" class="btn decline" disabled={busy} onClick={() => { setBusy(true); onDecline(call) }}>Decline</button>
        <button type="button" class="btn answer" disabled={busy} onClick={() => { setBusy(true); onAnswer(call, video) }}>Answer</button>
      </div>
    </section>
  )
}
