/**
 * Call bookkeeping helpers. Pure, so they are unit-tested without a browser.
 */
import type { CallOutcome } from '../../store/history-api.ts'
import type { Call, CallEndReason } from '../../sip/api.ts'

/** How a call ended, for the history: the CallEnd reason seen from this side. */
export function callOutcome (direction: Call['direction'], reason: CallEndReason, answered: boolean): CallOutcome {
  if (answered) return 'answered'
  switch (reason) {
    case 'declined': return 'declined'
    case 'busy': return 'busy'
    case 'no-answer': return direction === 'incoming' ? 'missed' : 'no-answer'
    case 'remote-cancelled': return 'missed'
    case 'cancelled': return 'cancelled'
    // picked up on another of the user's devices: answered, just not here
    case 'answered-elsewhere': return 'answered'
    case 'hangup': case 'remote-hangup': return direction === 'incoming' ? 'missed' : 'cancelled'
    case 'unreachable': case 'failed': return 'failed'
    default: return 'failed'
  }
}
