/**
 * DTMF keypad (RFC 4733 telephone-events), for menus of the PBXs a call may
 * reach. Shows what was sent so far.
 */
import { useState } from 'preact/hooks'
import { KEYPAD_KEYS } from './constants.ts'

export interface KeypadProps {
  onTone: (tone: string) => void
  disabled?: boolean
}

export function Keypad ({ onTone, disabled = false }: KeypadProps) {
  const [sent, setSent] = useState('')
  return (
    <div class="keypad-wrap">
      <output class="keypad-sent" aria-live="polite" aria-label="Tones sent">{sent}</output>
      <div class="keypad" role="group" aria-label="Keypad">
        {KEYPAD_KEYS.map(key => (
          <button
            key={key} type="button" class="key" disabled={disabled}
            onClick={() => { onTone(key); setSent(s => (s + key).slice(-24)) }}
          >{key}</button>
        ))}
      </div>
    </div>
  )
}
