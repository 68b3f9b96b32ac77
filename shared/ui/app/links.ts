/**
 * Hash links between screens.
 */
import { normalizeAor } from '../../identity/index.ts'

/** `#/chat/bob@example.org` ('@' is allowed in a fragment, so the link stays readable) */
export function chatHash (aor: string): string {
  return `#/chat/${aor}`
}

/** `#/call/bob@example.org`: dials when followed */
export function callHash (aor: string): string {
  return `#/call/${aor}`
}

/** `#/safety/bob@example.org`: the safety number of a contact */
export function safetyHash (aor: string): string {
  return `#/safety/${aor}`
}

/** The normalised address, or undefined when `input` is not one (no throw: for rendering). */
export function safeAor (input: string): string | undefined {
  try {
    return normalizeAor(input)
  } catch {
    return undefined
  }
}
