/**
 * Device standing: may the device behind a SIP stream speak for the identity
 * its hello proved? A device removed from its identity's device roster
 * (revoked) still holds valid certificates, so each stream's requests wait
 * for a roster check before JsSIP sees them:
 *
 *   (no verdict) ──request──▶ checking ──roster says──▶ ok | refused
 *   ok | refused ──request after STANDING_RECHECK_MS or a newer roster──▶ checking
 *
 * While checking, the stream's messages are held (up to MAX_GATED_MESSAGES)
 * and handed on in order once the verdict is in.
 */
import { ROSTER_CHECK_TTL_MS } from '../overlay/index.ts'
import type { DeviceStanding, Overlay } from '../overlay/index.ts'
import { logger } from '../util/logger.ts'
import type { SipLink } from './link.ts'
import type { SipMessage } from './message.ts'

// the transport's scope still: PEERLINE_DEBUG=sip:transport shows the whole proxy
const log = logger('sip:transport')

/** Requests held per stream while its device's roster is looked up; a flood beyond this is dropped. */
const MAX_GATED_MESSAGES = 64

/** A stream's roster verdict is reused this long (same as the overlay's roster cache, ROSTER_CHECK_TTL_MS). */
const STANDING_RECHECK_MS = ROSTER_CHECK_TTL_MS

interface StandingGate { state: 'checking' | 'ok' | 'refused', queue: SipMessage[], at: number, rosterSeq?: number | undefined, message?: string }

export interface StandingGatesComponents {
  overlay: Pick<Overlay, 'deviceStanding' | 'knownRosterSeq'>
  /** aborts the checks in flight (the transport's shutdown) */
  signal: () => AbortSignal
  /** where a message goes once its stream's standing is known (or needs no check) */
  dispatch: (msg: SipMessage, link: SipLink) => void
}

export class StandingGates {
  private readonly components: StandingGatesComponents
  /** per stream: may the device behind it speak for its identity, and what waits for the answer */
  private readonly gates = new WeakMap<SipLink, StandingGate>()

  constructor (components: StandingGatesComponents) {
    this.components = components
  }

  /** Dispatches `msg` now, or once the roster check it starts or waits for is done. */
  admit (msg: SipMessage, link: SipLink): void {
    const gate = this.gates.get(link)
    if (gate?.state === 'checking') {
      if (gate.queue.length < MAX_GATED_MESSAGES) gate.queue.push(msg)
      return
    }
    const v = link.verification
    if (msg.type === 'request' && v.authenticated &&
      (gate == null || Date.now() - gate.at > STANDING_RECHECK_MS || this.components.overlay.knownRosterSeq(v.aor) !== gate.rosterSeq)) {
      this.check(link, msg)
      return
    }
    this.components.dispatch(msg, link)
  }

  /** Why requests from `link`'s device are refused (revoked), or undefined while they are not. */
  refusal (link: SipLink): string | undefined {
    const gate = this.gates.get(link)
    return gate?.state === 'refused' ? gate.message ?? '' : undefined
  }

  /** Asks the overlay whether the device behind `link` is in its identity's current roster (revocation). */
  private check (link: SipLink, first: SipMessage): void {
    const v = link.verification
    if (!v.authenticated) return
    const overlay = this.components.overlay
    const gate: StandingGate = { state: 'checking', queue: [first], at: Date.now() }
    this.gates.set(link, gate)
    overlay.deviceStanding(v.aor, v.identityKey, link.remotePeer, { signal: this.components.signal() })
      // the check itself failed: refuse when a roster of the identity is known (it could have revoked the device);
      // open only when nothing is known of the address, where the certificate checks are all there is
      .catch((err: Error): DeviceStanding => overlay.knownRosterSeq(v.aor) == null
        ? { ok: true, known: false }
        : { ok: false, reason: 'DeviceNotInRosterError', message: `Could not check device ${link.remotePeer} against its identity's device roster: ${err.message}` })
      .then(standing => {
        gate.rosterSeq = overlay.knownRosterSeq(v.aor)
        gate.state = standing.ok ? 'ok' : 'refused'
        if (!standing.ok) gate.message = standing.message
        for (const m of gate.queue.splice(0)) this.components.dispatch(m, link)
      })
      .catch((err: Error) => { log.error('handling requests from %s failed: %s', link.remotePeer, err.stack ?? err) })
  }
}
