/**
 * Size: one file on purpose. Fork and Branch share one state table and one
 * transition(); splitting them would split the table.
 *
 * The forking proxy's transactions (RFC 3261 §16.7): one Fork per request
 * JsSIP sent to an address, one Branch per device of that address.
 *
 * Fork:
 *
 *   routing ──branches──▶ trying ─────final passed─────▶ passed ──▶ completed
 *      │                    │                              ▲   every branch final
 *    CANCEL               CANCEL                           │   (MESSAGE: or after MESSAGE_SETTLE_MS)
 *      ▼                    ▼                              │
 *   routing-cancelled ──▶ cancelling ─────final passed─────┘
 *               branches
 *
 *   routing failed, Timer C/F fired: routing | routing-cancelled ──▶ passed
 *   stop() (dispose): any state ──▶ completed
 *
 * "final passed": a final response went to JsSIP: the first 2xx (INVITE: it
 * wins, the other branches are cancelled), a 6xx, or, once every branch
 * ended, the best of their responses (bestResponse).
 *
 * Branch:
 *
 *   pending ──request sent──▶ sent ──1xx──▶ provisional
 *                              │              │
 *                              └─CANCEL sent──┴──▶ cancelling
 *   pending | sent | provisional | cancelling ──final response──▶ final | answered
 *
 * "answered" is the branch whose 2xx was passed to JsSIP; "final" any other
 * ended branch, including the proxy's own 480/408/487 for a device that was
 * unreachable, timed out or was not sent the request.
 *
 * transition() is the only way either state changes and refuses anything not
 * in these diagrams (InvalidStateError); FORK_TRANSITIONS and
 * BRANCH_TRANSITIONS are the tables.
 *
 * (A little over 500 lines: Fork and Branch move together on every response,
 * and most of the length is the diagrams and RFC notes; splitting Branch out
 * would only export its internals to one caller.)
 */
import { sleep, unrefTimer } from '../util/async.ts'
import { backoff } from '../util/backoff.ts'
import { logger } from '../util/logger.ts'
import { DEVICE_DOMAIN, MESSAGE_SETTLE_MS, PROXY_TIMER_C_MS, PROXY_TIMER_F_MS } from './constants.ts'
import { CallFailedError } from './errors.ts'
import type { SipLink } from './link.ts'
import { buildAckAndBye, buildCancel, buildNon2xxAck, buildResponse } from './message-build.ts'
import { parseSipMessage } from './message.ts'
import type { SipMessage } from './message.ts'
import { describe, sanitize } from './routing.ts'
import { StateMachine } from './state-machine.ts'

export { StateMachine } from './state-machine.ts'

// the transport's scope still: PEERLINE_DEBUG=sip:transport shows the whole proxy
const log = logger('sip:transport')

/**
 * How long a ringing INVITE branch whose SIP stream closed (the callee's relay
 * died) is kept while its device is dialled again: RFC 3261 §16.7 lets a proxy
 * keep a branch until Timer C, §18.2.2 lets the answer come back over a new
 * connection. 8 s covers a device re-reserving on another relay and
 * republishing (~4 s in the relay-killed fault drill); it equals one dial
 * attempt (SIP_DIAL_TIMEOUT_MS).
 */
export const RINGING_BRANCH_GRACE_MS = 8_000

/** First pause between re-dials of such a branch, doubling to the cap (DESIGN.md's back-off starts at 0.5 s). */
const REDIAL_INITIAL_MS = 500
/** Longest pause between re-dials within RINGING_BRANCH_GRACE_MS. */
const REDIAL_MAX_MS = 2_000

export type ForkState = 'routing' | 'routing-cancelled' | 'trying' | 'cancelling' | 'passed' | 'completed'

/** The legal moves of a Fork (see the diagram above). */
export const FORK_TRANSITIONS: Readonly<Record<ForkState, readonly ForkState[]>> = {
  routing: ['trying', 'routing-cancelled', 'passed', 'completed'],
  'routing-cancelled': ['cancelling', 'passed', 'completed'],
  trying: ['cancelling', 'passed', 'completed'],
  cancelling: ['passed', 'completed'],
  passed: ['completed'],
  completed: []
}

export type BranchState = 'pending' | 'sent' | 'provisional' | 'cancelling' | 'answered' | 'final'

/**
 * The legal moves of a Branch. A response may come from a branch still
 * `pending` (the request went out over another stream of the device), so
 * pending moves on to every state but cancelling.
 */
export const BRANCH_TRANSITIONS: Readonly<Record<BranchState, readonly BranchState[]>> = {
  pending: ['sent', 'provisional', 'answered', 'final'],
  sent: ['provisional', 'cancelling', 'answered', 'final'],
  provisional: ['cancelling', 'answered', 'final'],
  cancelling: ['answered', 'final'],
  answered: [],
  final: []
}

export interface ForkOutcome {
  /** devices that answered 2xx */
  delivered: number
  /** final status per device peer id (synthetic 480/408 when unreachable) */
  finals: Record<string, number>
  /** the status passed to the UA */
  status?: number
  /** why routing failed, when it did (NotFoundError, OfflineError, …) */
  error?: Error
}

/** What a Fork needs of the transport around it. */
export interface ForkComponents {
  /** hands a response to JsSIP */
  deliver: (text: string) => void
  /** remembers who answered an INVITE */
  noteAnswer: (res: SipMessage, link: SipLink) => void
  /** a branch the proxy itself used (its responses are absorbed) */
  ownBranch: (branch: string) => void
  /** a stream to a device whose stream closed (see SipLinks.redial) */
  redial: (peerId: string, aor: string, options: { signal: AbortSignal }) => Promise<SipLink>
  /** the fork completed (its outcome is resolved) */
  forkDone: (fork: Fork) => void
}

/** One device of a forked request. */
class Branch {
  readonly peerId: string
  link?: SipLink
  status?: number
  response?: SipMessage
  /** set while the branch is kept after its stream closed (Fork.keepBranch) */
  grace?: AbortController | undefined
  private readonly machine = new StateMachine<BranchState>(BRANCH_TRANSITIONS, 'pending', 'fork branch')

  constructor (peerId: string) {
    this.peerId = peerId
  }

  get state (): BranchState { return this.machine.state }

  /** the device's final response (or the proxy's for it) is in */
  get ended (): boolean { return this.state === 'final' || this.state === 'answered' }

  transition (to: BranchState): boolean { return this.machine.transition(to) }
}

/**
 * One forked request: a branch per device of the target (RFC 3261 §16.7).
 */
export class Fork {
  readonly request: SipMessage
  readonly done: Promise<ForkOutcome>
  private readonly components: ForkComponents
  private readonly machine = new StateMachine<ForkState>(FORK_TRANSITIONS, 'routing', 'fork')
  private readonly branches = new Map<string, Branch>()
  private delivered = 0
  private error?: Error
  private passedStatus?: number
  private cancelReason?: string
  private aor = ''
  private resolveDone!: (o: ForkOutcome) => void
  private timer?: ReturnType<typeof setTimeout>
  private settleTimer?: ReturnType<typeof setTimeout>

  constructor (request: SipMessage, components: ForkComponents) {
    this.components = components
    this.request = request
    this.done = new Promise(resolve => { this.resolveDone = resolve })
    const invite = request.method === 'INVITE'
    this.timer = unrefTimer(setTimeout(() => { this.timeout() }, invite ? PROXY_TIMER_C_MS : PROXY_TIMER_F_MS))
  }

  get state (): ForkState { return this.machine.state }

  /** The state of the branch to `peerId` (for tests and diagnostics). */
  branchState (peerId: string): BranchState | undefined {
    return this.branches.get(peerId)?.state
  }

  private get invite (): boolean { return this.request.method === 'INVITE' }

  /**
   * A final response went to JsSIP. (A completed fork always passed one,
   * except a disposed one, which the transport has forgotten.)
   */
  private get finalPassed (): boolean { return this.state === 'passed' || this.state === 'completed' }

  /** An INVITE that is not sent on to more devices: cancelled, or answered/declined already. */
  private get stopping (): boolean {
    return this.invite && (this.state === 'routing-cancelled' || this.state === 'cancelling' || this.finalPassed)
  }

  setBranches (aor: string, peers: string[], getLink: (peerId: string) => Promise<SipLink>): void {
    if (this.state === 'completed') return
    this.machine.transition(this.state === 'routing-cancelled' ? 'cancelling' : 'trying')
    this.aor = aor
    for (const peerId of peers) {
      const branch = new Branch(peerId)
      this.branches.set(peerId, branch)
      getLink(peerId).then(link => {
        if (branch.state !== 'pending' || this.state === 'completed') return
        // an INVITE is not sent on once answered, declined or cancelled; a
        // MESSAGE still goes to late devices so that every device has the chat
        if (this.stopping) {
          this.finalize(branch, 487)
          return
        }
        branch.link = link
        if (!link.send(this.request.text)) throw new CallFailedError('stream closed')
        branch.transition('sent')
      }).catch((err: Error) => {
        log('branch to %s failed: %s', peerId, err.message)
        this.finalize(branch, 480)
      })
    }
    this.check()
  }

  /** Routing failed before any branch existed. */
  fail (err: Error): void {
    if (this.state === 'completed') return
    log('cannot route %s: %s', describe(this.request), err.message)
    this.error = err
    const status = err.name === 'NotFoundError' ? 404 : err.name === 'OfflineError' ? 503 : 480
    if (!this.finalPassed) {
      this.machine.transition('passed')
      this.passedStatus = status
      this.components.deliver(buildResponse(this.request, status, { headers: [`Warning: 399 ${DEVICE_DOMAIN} "${sanitize(err.message)}"`] }))
    }
    this.complete()
  }

  onResponse (link: SipLink, res: SipMessage): void {
    const branch = this.branches.get(link.remotePeer)
    if (branch == null) return
    const s = res.status
    if (branch.ended) {
      // retransmissions: re-ACK a non-2xx, pass the winner's 2xx again so JsSIP re-ACKs it
      if (this.invite && s >= 300) link.send(buildNon2xxAck(this.request, res))
      else if (this.invite && s < 300 && s >= 200 && branch.state === 'answered') this.pass(res)
      return
    }
    branch.link = link
    // the device answered over a stream of its own while the branch was kept
    if (branch.grace != null) this.endGrace(branch)
    if (s < 200) {
      if (s === 100) return
      // a branch already cancelled stays so (it is not cancelled twice)
      if (branch.state !== 'cancelling') branch.transition('provisional')
      if (this.invite && !this.finalPassed) this.pass(res)
      return
    }
    branch.status = s
    if (s < 300) {
      this.delivered++
      if (!this.finalPassed) {
        // the first 2xx: passed on (INVITE: this branch wins)
        branch.transition('answered')
        this.machine.transition('passed')
        this.passedStatus = s
        if (this.invite) {
          this.components.noteAnswer(res, link)
          this.pass(res)
          this.cancelPending('SIP;cause=200;text="Call completed elsewhere"')
        } else {
          this.pass(res)
          // count the other devices for a moment, then report
          this.settleTimer = unrefTimer(setTimeout(() => { this.complete() }, MESSAGE_SETTLE_MS))
        }
      } else {
        branch.transition('final')
        if (this.invite) {
          // a second device answered too: end its dialog ourselves
          const pair = buildAckAndBye(this.request, res, DEVICE_DOMAIN)
          if (pair != null) {
            for (const m of pair) {
              const parsed = parseSipMessage(m)
              this.components.ownBranch(parsed.branch)
              link.send(m)
            }
          }
        }
      }
    } else {
      branch.transition('final')
      branch.response = res
      if (this.invite) link.send(buildNon2xxAck(this.request, res))
      if (s >= 600 && !this.finalPassed) {
        // RFC 3261 §16.7 step 5: a 6xx ends the search
        this.machine.transition('passed')
        this.passedStatus = s
        this.pass(res)
        if (this.invite) this.cancelPending(`SIP;cause=${s};text="${sanitize(res.reason)}"`)
      }
    }
    this.check()
  }

  /**
   * JsSIP cancelled the INVITE: cancel every branch still ringing. Ignored
   * once cancelled, and once a final response was passed (the branches
   * still ringing were cancelled then).
   */
  cancel (reason?: string): void {
    if (!this.invite) return
    if (this.state === 'routing') this.machine.transition('routing-cancelled')
    else if (this.state === 'trying') this.machine.transition('cancelling')
    else return
    this.cancelPending(reason)
    this.check()
  }

  linkClosed (link: SipLink): void {
    for (const b of this.branches.values()) {
      if (b.link !== link || b.ended || b.state === 'pending') continue
      if (this.invite && this.state !== 'completed') this.keepBranch(b)
      else this.finalize(b, 480)
    }
  }

  dispose (): void {
    clearTimeout(this.timer)
    clearTimeout(this.settleTimer)
    this.complete()
  }

  /**
   * A ringing INVITE branch lost its stream: keep it for
   * RINGING_BRANCH_GRACE_MS while the device is dialled again, then carry the
   * transaction on over the new stream (resume); 480 as before if the device
   * does not come back in time.
   */
  private keepBranch (b: Branch): void {
    if (b.grace != null) return
    log('SIP stream to ringing device %s closed: keeping its branch up to %d ms', b.peerId, RINGING_BRANCH_GRACE_MS)
    const grace = new AbortController()
    b.grace = grace
    const timer = unrefTimer(setTimeout(() => { grace.abort() }, RINGING_BRANCH_GRACE_MS))
    grace.signal.addEventListener('abort', () => { clearTimeout(timer) }, { once: true })
    this.redial(b, grace.signal).catch((err: Error) => {
      log.error('re-dialling %s failed: %s', b.peerId, err.stack ?? err)
    })
  }

  private async redial (b: Branch, signal: AbortSignal): Promise<void> {
    const delays = backoff({ initialMs: REDIAL_INITIAL_MS, maxMs: REDIAL_MAX_MS })
    while (!signal.aborted) {
      try {
        const link = await this.components.redial(b.peerId, this.aor, { signal })
        if (b.grace?.signal === signal) this.resume(b, link)
        return
      } catch (err) {
        if (signal.aborted) break
        log('re-dialling ringing device %s: %s', b.peerId, (err as Error).message)
        await sleep(delays.next(), { signal })
      }
    }
    // still ours: the device did not come back within the grace
    if (b.grace?.signal === signal) {
      b.grace = undefined
      log('ringing device %s did not come back within %d ms', b.peerId, RINGING_BRANCH_GRACE_MS)
      this.finalize(b, 480)
    }
  }

  /** The kept branch's device is reachable again over `link`: the transaction goes on there. */
  private resume (b: Branch, link: SipLink): void {
    this.endGrace(b)
    if (b.ended || this.state === 'completed') return
    b.link = link
    // the device still rings unless told: it gets the CANCEL it missed, or
    // the INVITE again (a retransmission to its server transaction, which
    // answers with its latest response, RFC 3261 §17.2.1)
    let sent: boolean
    if (this.stopping || b.state === 'cancelling') {
      b.transition('cancelling')
      sent = link.send(buildCancel(this.request, this.cancelReason))
    } else {
      sent = link.send(this.request.text)
    }
    log('branch to %s resumed over a new SIP stream (%s)', b.peerId, sent ? 'sent' : 'stream closed again')
    if (!sent) this.finalize(b, 480)
  }

  private endGrace (b: Branch): void {
    const grace = b.grace
    b.grace = undefined
    grace?.abort()
  }

  private cancelPending (reason?: string): void {
    if (reason != null) this.cancelReason ??= reason
    for (const b of this.branches.values()) {
      // 'pending' branches are not sent at all once cancelled (see setBranches);
      // 'cancelling' ones were sent their CANCEL already
      if (b.state === 'sent' || b.state === 'provisional') {
        b.transition('cancelling')
        b.link?.send(buildCancel(this.request, reason))
      }
    }
  }

  /** A branch ended without a response from the device (unreachable, stream lost, not sent). */
  private finalize (branch: Branch, status: number): void {
    this.endGrace(branch)
    if (branch.ended) return
    branch.status = status
    branch.response = parseSipMessage(buildResponse(this.request, status))
    branch.transition('final')
    this.check()
  }

  /** Timer C (INVITE) or F fired: every branch still open ends with 408. */
  private timeout (): void {
    if (this.state === 'completed') return
    log('%s timed out', describe(this.request))
    if (this.invite) this.cancelPending()
    for (const b of this.branches.values()) {
      if (!b.ended) {
        b.status = 408
        b.response = parseSipMessage(buildResponse(this.request, 408))
        b.transition('final')
      }
    }
    this.finish()
  }

  private check (): void {
    if (this.state === 'completed' || this.state === 'routing' || this.state === 'routing-cancelled') return
    if (![...this.branches.values()].every(b => b.ended)) return
    this.finish()
  }

  /** Every branch ended: pass the best response unless one was passed, and complete. */
  private finish (): void {
    if (!this.finalPassed) {
      const all = [...this.branches.values()]
      const best = bestResponse(all.map(b => b.response).filter((r): r is SipMessage => r != null))
      const text = best?.text ?? buildResponse(this.request, all.length === 0 ? 480 : 408)
      this.passedStatus = best?.status ?? (all.length === 0 ? 480 : 408)
      this.machine.transition('passed')
      this.pass(parseSipMessage(text))
    }
    this.complete()
  }

  private pass (res: SipMessage): void {
    this.components.deliver(res.text)
  }

  private complete (): void {
    if (this.state === 'completed') return
    this.machine.transition('completed')
    clearTimeout(this.timer)
    clearTimeout(this.settleTimer)
    for (const b of this.branches.values()) this.endGrace(b)
    const finals: Record<string, number> = {}
    for (const b of this.branches.values()) if (b.status != null) finals[b.peerId] = b.status
    this.resolveDone({
      delivered: this.delivered,
      finals,
      ...(this.passedStatus != null ? { status: this.passedStatus } : {}),
      ...(this.error != null ? { error: this.error } : {})
    })
    this.components.forkDone(this)
  }
}

/**
 * The response to pass on when every branch failed (RFC 3261 §16.7 step 6):
 * a 6xx first, then the lowest class; within 4xx the most telling for a
 * person (busy, then anything specific, then unreachable/timeout/cancelled).
 */
export function bestResponse<T extends { status: number }> (responses: T[]): T | undefined {
  const rank = (s: number): number => {
    if (s >= 600) return 0
    if (s >= 300 && s < 400) return 10
    if (s >= 400 && s < 500) {
      const order = [486, 401, 407, 415, 420, 484, 488, 403, 404, 410, 480, 408, 487]
      const i = order.indexOf(s)
      return 20 + (i === -1 ? 6.5 : i)
    }
    return 60 + (s === 503 ? 1 : 0)
  }
  let best: T | undefined
  for (const r of responses) if (best == null || rank(r.status) < rank(best.status)) best = r
  return best
}
