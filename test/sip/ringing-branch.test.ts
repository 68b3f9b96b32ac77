/**
 * A ringing call whose callee's device vanishes without a word (its libp2p
 * node stops: no CANCEL, no final response). The caller's forking proxy keeps
 * the branch for RINGING_BRANCH_GRACE_MS while it looks the device up again
 * and re-dials (shared/sip/fork.ts Fork.keepBranch); the device does not
 * come back, so the branch fails with 480 once the grace is over, not before
 * and not much after. The branch that does come back is the relay-killed
 * fault drill (test/faults/supernode-failover.test.ts). Real supernode
 * process, real libp2p devices, real JsSIP; the fake peer connection of
 * fake-webrtc.ts (Node has no WebRTC).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { CallEnd, PeerlineCall } from '../../shared/sip/index.ts'
import { RINGING_BRANCH_GRACE_MS } from '../../shared/sip/transport.ts'
import { spawnSupernode } from '../helpers/supernode-process.ts'
import type { SupernodeProcess } from '../helpers/supernode-process.ts'
import { fakeMedia, installFakeWebRtc } from '../helpers/fake-webrtc.ts'
import { nextEvent, startPhoneDevice, stopDevice } from '../helpers/sip.ts'
import type { Device } from '../helpers/sip.ts'

installFakeWebRtc()

/** after the grace, the failed branch reaches the caller within this (one re-dial attempt may still be finishing) */
const END_SLACK_MS = 5_000

describe('a ringing branch whose device vanished', { timeout: 120_000 }, () => {
  let supernode: SupernodeProcess
  let alice: Device
  let bob: Device

  before(async () => {
    supernode = await spawnSupernode()
    alice = await startPhoneDevice('alice@example.org', [supernode.addr], {}, fakeMedia())
    bob = await startPhoneDevice('bob@example.org', [supernode.addr], {}, fakeMedia())
  })

  after(async () => {
    await stopDevice(alice)
    await stopDevice(bob)
    await supernode.kill('SIGKILL')
  })

  it(`is kept ${RINGING_BRANCH_GRACE_MS} ms, then the call ends 480 (unreachable)`, async () => {
    const incoming = nextEvent<PeerlineCall>(bob.phone, 'call:incoming', { timeoutMs: 15_000 })
    const call = await alice.phone.call('bob@example.org', { signal: AbortSignal.timeout(15_000) })
    await incoming
    const ended = nextEvent<CallEnd>(call, 'ended', { timeoutMs: RINGING_BRANCH_GRACE_MS + END_SLACK_MS + 5_000 })
    ended.catch(() => {})
    // Bob's device disappears mid-ring: its node stops, JsSIP never answers
    const t0 = performance.now()
    await bob.overlay.node.stop()
    const end = await ended
    const ms = performance.now() - t0
    assert.equal(end.status, 480, `ended ${end.reason} ${end.status ?? ''}`)
    assert.ok(ms >= RINGING_BRANCH_GRACE_MS - 250, `the branch was failed after ${ms.toFixed(0)} ms, before the ${RINGING_BRANCH_GRACE_MS} ms grace`)
    assert.ok(ms < RINGING_BRANCH_GRACE_MS + END_SLACK_MS, `the branch was failed ${ms.toFixed(0)} ms after the device vanished`)
  })
})
