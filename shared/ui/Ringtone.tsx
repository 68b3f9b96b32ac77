/**
 * Ring and ringback tones from WebAudio oscillators.
 */
import { useEffect } from 'preact/hooks'
import { RING_TONE, RINGBACK_TONE, TONE_GAIN } from './constants.ts'

export type ToneKind = 'ring' | 'ringback'

const PATTERNS = { ring: RING_TONE, ringback: RINGBACK_TONE }
/** short ramps at each on/off edge avoid audible clicks */
const EDGE_S = 0.01

/**
 * Starts a repeating tone and returns the function that stops it. Browsers keep
 * an AudioContext created without a user gesture suspended: it is resumed at
 * the next click or key press, so a call arriving on an untouched page still
 * rings as soon as the user interacts, and shows visually in any case.
 *
 * @example const stop = startTone('ring'); …; stop()
 */
export function startTone (kind: ToneKind): () => void {
  const pattern = PATTERNS[kind]
  let ctx: AudioContext
  try {
    ctx = new AudioContext()
  } catch {
    return () => {}
  }
  const gain = ctx.createGain()
  gain.gain.value = 0
  gain.connect(ctx.destination)
  const oscillators = pattern.frequencies.map(frequency => {
    const osc = ctx.createOscillator()
    osc.frequency.value = frequency
    osc.connect(gain)
    osc.start()
    return osc
  })
  const period = pattern.cadence.reduce((a, b) => a + b, 0)
  let next = ctx.currentTime + 0.05
  // schedule whole cycles ahead of time; the timer only tops the schedule up
  const schedule = (): void => {
    while (next < ctx.currentTime + 2 * period) {
      let t = next
      pattern.cadence.forEach((seconds, i) => {
        const on = i % 2 === 0
        gain.gain.setValueAtTime(on ? 0 : TONE_GAIN, t)
        gain.gain.linearRampToValueAtTime(on ? TONE_GAIN : 0, t + EDGE_S)
        t += seconds
      })
      next += period
    }
  }
  schedule()
  const timer = setInterval(schedule, (period * 1000) / 2)
  const resume = (): void => { ctx.resume().catch(() => {}) }
  resume()
  const gestures = ['pointerdown', 'keydown'] as const
  for (const g of gestures) document.addEventListener(g, resume, { once: true, capture: true })
  return () => {
    clearInterval(timer)
    for (const g of gestures) document.removeEventListener(g, resume, { capture: true })
    for (const osc of oscillators) {
      try { osc.stop() } catch { /* never started: nothing to stop */ }
    }
    ctx.close().catch(() => {})
  }
}

/** Plays `kind` while mounted and `playing`. Renders nothing. */
export function Ringtone ({ kind, playing = true }: { kind: ToneKind, playing?: boolean }): null {
  useEffect(() => (playing ? startTone(kind) : undefined), [kind, playing])
  return null
}
