/**
 * Fault drills: a supernode SIGKILLed during a lookup, and the callee's relay
 * supernode SIGKILLed during call setup. Real supernode processes, real
 * libp2p devices attached to two supernodes each, real JsSIP; the peer
 * connection is the fake of test/helpers/fake-webrtc.ts (Node has no WebRTC).
 * Each drill prints one line with its time against the stated bound.
 *
 * The second drill kills the relay a ringing call goes through. The caller's
 * forking proxy keeps the ringing branch for a grace period
 * (shared/sip/fork.ts Fork.keepBranch) while it looks the callee up again
 * and re-dials, then sends the INVITE again over the new stream (the callee's
 * server transaction takes it as a retransmission). Bob answers only after
 * that grace has passed, so the answer can only arrive through the resumed
 * branch; the call becomes active on both sides and Alice's BYE reaches Bob. Calling again afterwards also succeeds through
 * another relay within the bound once the callee has republished.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { CallState, PeerlineCall } from '../../shared/sip/index.ts'
import { spawnSupernode } from '../helpers/supernode-process.ts'
import { eventually } from '../helpers/eventually.ts'
import type { SupernodeProcess } from '../helpers/supernode-process.ts'
import { fakeMedia, installFakeWebRtc } from '../helpers/fake-webrtc.ts'
import { nextEvent, startPhoneDevice, stopDevice } from '../helpers/sip.ts'
import type { Device } from '../helpers/sip.ts'

installFakeWebRtc()

/** a lookup that loses a supernode mid-query must still resolve within this (the overlay's own LOOKUP_TIMEOUT_MS) */
const LOOKUP_BOUND_MS = 10_000
/** a call whose callee's relay dies during setup must still reach 'active' within this */
const CALL_BOUND_MS = 30_000
const TRIALS = 10
const KILL_AFTER_MS = 5
/** Bob answers this long after his relay died: past the proxy's 8 s grace for a ringing branch (RINGING_BRANCH_GRACE_MS), so only a resumed branch carries the answer */
const ANSWER_AFTER_KILL_MS = 9_000

const alive = (s: SupernodeProcess): boolean => s.proc.exitCode == null && s.proc.signalCode == null

function median (values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? NaN
}

/** the supernode whose relay a device's circuit address goes through */
function relayOf (d: Device): string | undefined {
  const a = d.overlay.node.getMultiaddrs().map(m => m.toString()).find(m => m.includes('/p2p-circuit'))
  return a == null ? undefined : /\/p2p\/([^/]+)\/p2p-circuit/.exec(a)?.[1]
}

describe('supernode failover', { timeout: 180_000 }, () => {
  const supernodes: SupernodeProcess[] = []
  let alice: Device
  let bob: Device

  async function addSupernode (): Promise<SupernodeProcess> {
    const peers = supernodes.filter(alive)
    const sn = await spawnSupernode({ bootstrap: peers.map(s => s.addr) })
    supernodes.push(sn)
    if (peers.length > 0) await eventually(async () => (await sn.health()).supernodePeers >= 1, { what: 'a new supernode to join' })
    return sn
  }

  before(async () => {
    for (let i = 0; i < 3; i++) await addSupernode()
    const all = supernodes.map(s => s.addr)
    alice = await startPhoneDevice('alice@example.org', all, {}, fakeMedia())
    bob = await startPhoneDevice('bob@example.org', [...all].reverse(), {}, fakeMedia())
    await eventually(() => alice.overlay.supernodes().length >= 2 && bob.overlay.supernodes().length >= 2, { timeoutMs: 20_000, what: 'both devices on two supernodes' })
    await bob.overlay.publish({ signal: AbortSignal.timeout(10_000) })
  })

  after(async () => {
    await stopDevice(alice)
    await stopDevice(bob)
    await Promise.all(supernodes.map(async s => s.kill('SIGKILL')))
  })

  it(`a supernode SIGKILLed ${KILL_AFTER_MS} ms into a lookup: the lookup resolves through the others (${TRIALS} trials, bound ${LOOKUP_BOUND_MS} ms)`, async () => {
    const times: number[] = []
    for (let trial = 0; trial < TRIALS; trial++) {
      // keep three alive: the drill kills one each trial
      while (supernodes.filter(alive).length < 3) await addSupernode()
      await eventually(() => alice.overlay.supernodes().length >= 2, { timeoutMs: 20_000, what: 'Alice on two supernodes' })
      // the record sits on the supernodes alive now (the overlay republishes on its own
      // every REPUBLISH_BEFORE_EXPIRY_MS; a drill cannot wait that long)
      await bob.overlay.publish({ signal: AbortSignal.timeout(10_000) })
      // the victim: a supernode Alice is connected to, so her query is in flight to it
      const victimId = alice.overlay.supernodes()[0]
      const victim = supernodes.find(s => alive(s) && s.peerId === victimId) as SupernodeProcess
      assert.ok(victim != null, 'Alice is connected to a running supernode')
      const t0 = performance.now()
      const lookup = alice.overlay.lookup('bob@example.org', { signal: AbortSignal.timeout(LOOKUP_BOUND_MS) })
      await new Promise(resolve => setTimeout(resolve, KILL_AFTER_MS))
      const killed = victim.kill('SIGKILL')
      const record = await lookup
      const ms = performance.now() - t0
      await killed
      assert.equal(record.aor, 'bob@example.org')
      assert.equal(record.devices[0]?.peerId, bob.overlay.peerId)
      assert.ok(ms < LOOKUP_BOUND_MS, `trial ${trial}: ${ms.toFixed(0)} ms`)
      times.push(ms)
    }
    assert.equal(times.length, TRIALS)
    console.info(`drill supernode-killed-during-lookup: ${TRIALS}/${TRIALS} lookups resolved with a supernode SIGKILLed ${KILL_AFTER_MS} ms in, median ${median(times).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms (bound ${LOOKUP_BOUND_MS} ms)`)
  })

  it(`the callee's relay supernode SIGKILLed while the call rings: that call is still answered and active within ${CALL_BOUND_MS} ms, and so is a new call`, async () => {
    while (supernodes.filter(alive).length < 3) await addSupernode()
    await eventually(() => relayOf(bob) != null && supernodes.some(s => alive(s) && s.peerId === relayOf(bob)), { timeoutMs: 20_000, what: 'Bob relayed by a running supernode' })
    await bob.overlay.publish({ signal: AbortSignal.timeout(10_000) })
    const relayId = relayOf(bob) as string
    const relay = supernodes.find(s => s.peerId === relayId) as SupernodeProcess
    const incoming = nextEvent<PeerlineCall>(bob.phone, 'call:incoming', { timeoutMs: 15_000 })
    const t0 = performance.now()
    const call = await alice.phone.call('bob@example.org', { signal: AbortSignal.timeout(15_000) })
    const states: string[] = [call.state]
    call.addEventListener('state', e => { states.push((e as CustomEvent<CallState>).detail) })
    const bobCall = await incoming
    // Bob's phone rings through his relay: kill that relay now; Bob answers after the grace
    await relay.kill('SIGKILL')
    const killedAt = performance.now()
    await new Promise(resolve => setTimeout(resolve, ANSWER_AFTER_KILL_MS))
    const stillRinging = `${call.state}/${bobCall.state}`
    await bobCall.answer().catch(() => {})
    await eventually(() => call.state === 'active' || call.end != null, { timeoutMs: CALL_BOUND_MS, intervalMs: 50, what: `the call to become active or end (states ${states.join(' → ')})` })
    const firstMs = performance.now() - killedAt
    const first = call.state === 'active' ? 'active' : `ended (${call.end?.reason ?? '?'}${call.end?.status != null ? ` ${call.end.status}` : ''})`
    let bobSaw = 'not checked'
    if (call.state === 'active') {
      // both ends have the dialog: Bob is active too, and Alice's BYE reaches him over the new stream
      await eventually(() => bobCall.state === 'active' || bobCall.end != null, { timeoutMs: 10_000, intervalMs: 50, what: `Bob's side of the call to settle (${bobCall.state})` }).catch(() => {})
      bobSaw = bobCall.state
      call.hangup()
      await eventually(() => bobCall.end != null, { timeoutMs: 10_000, intervalMs: 50, what: 'Alice\'s hang-up to reach Bob' }).catch(() => {})
      bobSaw += bobCall.end != null ? ` → ended (${bobCall.end.reason})` : ' → still up after Alice hung up'
    }
    bobCall.hangup()

    // the operation itself (calling Bob) still succeeds through the other supernodes:
    // Bob takes a reservation on another relay and republishes; Alice's next call finds it
    let retries = 0
    const errors: string[] = []
    let active: PeerlineCall | undefined
    const deadline = killedAt + CALL_BOUND_MS
    while (active == null && performance.now() < deadline) {
      retries++
      const ring = nextEvent<PeerlineCall>(bob.phone, 'call:incoming', { timeoutMs: 15_000, match: c => c.id !== bobCall.id })
      ring.catch(() => {})
      try {
        const retry = await alice.phone.call('bob@example.org', { signal: AbortSignal.timeout(Math.round(Math.max(1_000, Math.min(15_000, deadline - performance.now())))) }) as PeerlineCall
        const bobRetry = await ring
        await bobRetry.answer()
        await eventually(() => retry.state === 'active' || retry.end != null, { timeoutMs: 10_000, intervalMs: 50, what: 'the retried call to settle' })
        if (retry.state === 'active') active = retry
      } catch (err) {
        errors.push(`${(performance.now() - killedAt).toFixed(0)} ms ${(err as Error).name}: ${(err as Error).message.slice(0, 160)}`)
        await new Promise(resolve => setTimeout(resolve, 500))
      }
    }
    const retryMs = performance.now() - killedAt
    console.info(`drill relay-killed-during-call-setup: callee's relay SIGKILLed while ringing (${(killedAt - t0).toFixed(0)} ms into the call); Bob answered ${ANSWER_AFTER_KILL_MS} ms after the kill (caller/callee then ${stillRinging}); that call ${first} ${firstMs.toFixed(0)} ms after the kill (states ${states.join(' → ')}; Bob's side ${bobSaw}); a new call active (${active != null}) after ${retries} attempt(s), ${retryMs.toFixed(0)} ms after the kill (bound ${CALL_BOUND_MS} ms); failed attempts: ${errors.join(' | ')}`)
    assert.equal(first, 'active', `the call ringing through the killed relay was not answered (${first}; states ${states.join(' → ')})`)
    assert.match(bobSaw, /^active → ended/, `Bob's side of that call: ${bobSaw}`)
    assert.ok(active != null, `no active call within ${CALL_BOUND_MS} ms of the kill (${retries} attempts; first attempt ${first}; ${errors.join(' | ')})`)
    assert.ok(retryMs < CALL_BOUND_MS)
    active.hangup()
  })
})
