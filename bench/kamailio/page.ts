/**
 * The conventional path's softphone, for bench/call-setup.ts: the same JsSIP
 * the Peerline app bundles, on a WebSocket to a Kamailio registrar/proxy
 * (bench/kamailio/kamailio.cfg) instead of Peerline's overlay. Bundled with
 * esbuild and opened in Chromium as page.html; the benchmark drives it through
 * `window.bench`:
 *
 * ```js
 * await bench.start({ wsUrl: 'ws://127.0.0.1:5066', aor: 'bob@example.org' })  // REGISTERs
 * bench.autoAnswer()                                                            // on bob
 * const { ms } = await bench.call('bob@example.org')                            // on alice
 * bench.hangup(); await bench.idle(5000)
 * ```
 *
 * ICE is handled as Peerline's phone handles it (shared/sip/call.ts): no ICE
 * servers, gathering bounded at ICE_GATHERING_TIMEOUT_MS after the first
 * candidate, so both paths differ only in how the INVITE finds the callee.
 */
import { UA, WebSocketInterface } from 'jssip'
import { ICE_GATHERING_TIMEOUT_MS } from '../../shared/sip/constants.ts'

export interface BenchStartOptions {
  /** ws://127.0.0.1:<port> of Kamailio */
  wsUrl: string
  /** this softphone's address, e.g. alice@example.org */
  aor: string
  /** bound on REGISTER (ms) */
  timeoutMs?: number
}

export interface BenchCallResult {
  /** ua.call() until the dialog is confirmed (2xx received, ACK sent), ms */
  ms: number
  /** ua.call() until the local SDP was ready (microphone, ICE gathering), ms */
  iceMs: number
  /** INVITE sent until the dialog was confirmed, ms */
  sipMs: number
}

export interface BenchPage {
  start: (options: BenchStartOptions) => Promise<void>
  autoAnswer: () => void
  call: (target: string, timeoutMs?: number) => Promise<BenchCallResult>
  hangup: () => void
  /** resolves true once no session is left (false when `ms` passed first) */
  idle: (ms: number) => Promise<boolean>
  /** calls this softphone answered */
  answered: () => number
  /** sessions whose dialog is confirmed (the callee's once the ACK arrived) */
  established: () => number
  stop: () => Promise<void>
}

const PC_CONFIG = { iceServers: [] }
const MEDIA = { audio: true, video: false }

let ua: UA | undefined
const sessions = new Set<any>()
let answeredCount = 0

/** An 'icecandidate' handler with the same bound on ICE gathering as Peerline's call.ts. */
function iceBound (): (e: { ready: () => void }) => void {
  let current: (() => void) | undefined
  return e => {
    if (current === e.ready) return
    current = e.ready
    setTimeout(() => { e.ready() }, ICE_GATHERING_TIMEOUT_MS)
  }
}

function track (session: any): void {
  if (session.isEnded() === true) return
  sessions.add(session)
  const done = (): void => { sessions.delete(session) }
  session.on('ended', done)
  session.on('failed', done)
}

const bench: BenchPage = {
  async start (options) {
    if (ua != null) throw new Error('already started')
    const socket = new WebSocketInterface(options.wsUrl)
    const agent = new UA({
      sockets: [socket],
      uri: `sip:${options.aor}`,
      register: true,
      // as Peerline's phone: no session timers
      session_timers: false,
      user_agent: 'Peerline-bench (conventional path)'
    })
    ua = agent
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`REGISTER of ${options.aor} timed out`)) }, options.timeoutMs ?? 10_000)
      agent.on('registered', () => { clearTimeout(timer); resolve() })
      agent.on('registrationFailed', (e: any) => {
        clearTimeout(timer)
        reject(new Error(`REGISTER of ${options.aor} failed: ${e.cause ?? 'unknown'} ${e.response?.status_code ?? ''}`.trim()))
      })
      agent.start()
    })
  },

  autoAnswer () {
    const agent = ua
    if (agent == null) throw new Error('not started')
    agent.on('newRTCSession', (e: any) => {
      if (e.originator !== 'remote') return
      const session = e.session
      track(session)
      session.on('icecandidate', iceBound())
      session.answer({ mediaConstraints: MEDIA, pcConfig: PC_CONFIG })
      answeredCount++
    })
  },

  async call (target, timeoutMs = 15_000) {
    const agent = ua
    if (agent == null) throw new Error('not started')
    return await new Promise<BenchCallResult>((resolve, reject) => {
      let t0 = 0
      let sdpAt = NaN
      let sentAt = NaN
      const timer = setTimeout(() => { reject(new Error(`call to ${target} not confirmed within ${timeoutMs} ms`)) }, timeoutMs)
      const eventHandlers = {
        icecandidate: iceBound(),
        sdp: (e: { originator: string }) => { if (e.originator === 'local' && Number.isNaN(sdpAt)) sdpAt = performance.now() },
        sending: () => { sentAt = performance.now() },
        confirmed: () => {
          clearTimeout(timer)
          const now = performance.now()
          resolve({ ms: now - t0, iceMs: sdpAt - t0, sipMs: now - sentAt })
        },
        failed: (e: any) => { clearTimeout(timer); reject(new Error(`call to ${target} failed: ${e.cause} ${e.message?.status_code ?? ''}`.trim())) }
      }
      t0 = performance.now()
      // getUserMedia runs inside ua.call(), as it runs inside Peerline's phone.call()
      const session = agent.call(`sip:${target}`, { mediaConstraints: MEDIA, pcConfig: PC_CONFIG, eventHandlers: eventHandlers as any })
      track(session)
    })
  },

  hangup () {
    for (const s of sessions) {
      try {
        s.terminate()
      } catch { /* already ending */ }
    }
  },

  async idle (ms) {
    const until = performance.now() + ms
    while (sessions.size > 0) {
      if (performance.now() > until) return false
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    return true
  },

  answered: () => answeredCount,

  established: () => [...sessions].filter(s => s.isEstablished() === true).length,

  async stop () {
    const agent = ua
    if (agent == null) return
    ua = undefined
    bench.hangup()
    await new Promise<void>(resolve => {
      const timer = setTimeout(resolve, 3_000)
      agent.on('disconnected', () => { clearTimeout(timer); resolve() })
      agent.stop()
    })
  }
}

;(globalThis as unknown as { bench?: BenchPage }).bench = bench
