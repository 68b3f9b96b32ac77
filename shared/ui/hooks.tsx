/**
 * Hooks that connect Preact components to Peerline's event targets.
 * (A .tsx file so it compiles with the DOM lib, like the components.)
 */
import { useEffect, useReducer, useRef, useState } from 'preact/hooks'
import type { Ref } from 'preact'
import type { Call, CallEvents } from '../sip/api.ts'

const CALL_EVENTS: Array<keyof CallEvents> = ['state', 'ended', 'muted', 'held', 'video', 'remote-stream', 'dtmf']

/**
 * Re-renders the component whenever `call` changes (state, mute, hold, video,
 * streams): a Call is a mutable object, so components read its fields directly
 * and this hook makes them fresh.
 */
export function useCall (call: Call | undefined): number {
  const [version, bump] = useReducer((n: number) => n + 1, 0)
  useEffect(() => {
    if (call === undefined) return
    const onEvent = (): void => { bump(undefined) }
    for (const type of CALL_EVENTS) call.addEventListener(type, onEvent)
    return () => { for (const type of CALL_EVENTS) call.removeEventListener(type, onEvent) }
  }, [call])
  return version
}

/** Re-renders every `intervalMs` while `active` (call duration, "last seen"). */
export function useTicker (intervalMs: number, active = true): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    if (!active) return
    const timer = setInterval(() => { setNow(Date.now()) }, intervalMs)
    return () => { clearInterval(timer) }
  }, [intervalMs, active])
  return now
}

/**
 * Attaches `stream` to an <audio>/<video> element (srcObject cannot be set as
 * an attribute) and re-renders when the user agent adds or removes tracks (the
 * other side turning its camera on or off). Keep the element mounted: the
 * stream is attached when the stream changes, not when the element appears.
 */
export function useMediaStream<T extends HTMLMediaElement> (stream: MediaStream | undefined): Ref<T> {
  const ref = useRef<T>(null)
  const [, bump] = useReducer((n: number) => n + 1, 0)
  useEffect(() => {
    const el = ref.current
    if (el != null && el.srcObject !== (stream ?? null)) {
      el.srcObject = stream ?? null
      // autoplay covers most cases; play() again after a change of stream, ignoring autoplay refusals
      if (stream !== undefined) el.play().catch(() => {})
    }
    if (stream === undefined) return
    const update = (): void => { bump(undefined) }
    stream.addEventListener('addtrack', update)
    stream.addEventListener('removetrack', update)
    return () => {
      stream.removeEventListener('addtrack', update)
      stream.removeEventListener('removetrack', update)
    }
  }, [stream])
  return ref
}

/** True when `stream` has a live video track. */
export function hasLiveVideo (stream: MediaStream | undefined): boolean {
  return stream?.getVideoTracks().some(t => t.readyState === 'live' && t.enabled) ?? false
}
