/**
 * Unit tests: the forking proxy's state tables (shared/sip/fork.ts), every
 * legal and illegal move of a Fork and of a Branch, and a Fork driven by
 * hand through its states. The fork's stream and transport are stand-ins
 * here; real devices fork real calls in calls.test.ts, linked-devices.test.ts
 * and ringing-branch.test.ts.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { BRANCH_TRANSITIONS, Fork, FORK_TRANSITIONS, StateMachine } from '../../shared/sip/fork.ts'
import type { BranchState, ForkComponents, ForkOutcome, ForkState } from '../../shared/sip/fork.ts'
import type { SipLink } from '../../shared/sip/link.ts'
import { buildResponse, parseSipMessage } from '../../shared/sip/index.ts'
import type { SipMessage } from '../../shared/sip/index.ts'
import { checkStateTable } from '../helpers/state-table.ts'

const FORK_STATES: ForkState[] = ['routing', 'routing-cancelled', 'trying', 'cancelling', 'passed', 'completed']
const BRANCH_STATES: BranchState[] = ['pending', 'sent', 'provisional', 'cancelling', 'answered', 'final']

describe('fork state table', () => {
  it('allows exactly the moves of the diagram', () => {
    checkStateTable(FORK_TRANSITIONS, FORK_STATES, new Set([
      'routing>trying', 'routing>routing-cancelled', 'routing>passed', 'routing>completed',
      'routing-cancelled>cancelling', 'routing-cancelled>passed', 'routing-cancelled>completed',
      'trying>cancelling', 'trying>passed', 'trying>completed',
      'cancelling>passed', 'cancelling>completed',
      'passed>completed'
    ]), from => new StateMachine(FORK_TRANSITIONS, from, 'fork'))
  })

  it('nothing leaves completed, and a fork never goes back to routing', () => {
    const m = new StateMachine(FORK_TRANSITIONS, 'trying', 'fork')
    m.transition('completed')
    for (const to of FORK_STATES.filter(s => s !== 'completed')) assert.throws(() => m.transition(to), { name: 'InvalidStateError' })
    for (const from of FORK_STATES) assert.equal(new StateMachine(FORK_TRANSITIONS, from, 'fork').can('routing'), false, from)
  })

  it('a repeated state is a no-op; the error names the move', () => {
    const m = new StateMachine(FORK_TRANSITIONS, 'routing', 'fork')
    assert.equal(m.transition('routing'), false)
    assert.equal(m.transition('trying'), true)
    assert.throws(() => m.transition('routing-cancelled'), { name: 'InvalidStateError', message: 'A fork cannot go from trying to routing-cancelled' })
  })
})

describe('fork branch state table', () => {
  it('allows exactly the moves of the diagram', () => {
    checkStateTable(BRANCH_TRANSITIONS, BRANCH_STATES, new Set([
      'pending>sent', 'pending>provisional', 'pending>answered', 'pending>final',
      'sent>provisional', 'sent>cancelling', 'sent>answered', 'sent>final',
      'provisional>cancelling', 'provisional>answered', 'provisional>final',
      'cancelling>answered', 'cancelling>final'
    ]), from => new StateMachine(BRANCH_TRANSITIONS, from, 'fork branch'))
  })

  it('a cancelled branch is not un-cancelled, an ended one stays ended', () => {
    const m = new StateMachine(BRANCH_TRANSITIONS, 'cancelling', 'fork branch')
    for (const to of ['pending', 'sent', 'provisional'] as const) assert.throws(() => m.transition(to), { name: 'InvalidStateError' })
    for (const end of ['answered', 'final'] as const) {
      const e = new StateMachine(BRANCH_TRANSITIONS, end, 'fork branch')
      for (const to of BRANCH_STATES.filter(s => s !== end)) assert.throws(() => e.transition(to), { name: 'InvalidStateError' }, `${end} → ${to}`)
    }
  })
})

// ---- a Fork driven by hand ----

const INVITE = [
  'INVITE sip:bob@example.org SIP/2.0',
  'Via: SIP/2.0/WS alice.invalid;branch=z9hG4bKforktest',
  'Max-Forwards: 70',
  'To: <sip:bob@example.org>',
  'From: <sip:alice@example.org>;tag=a1',
  'Call-ID: fork-state-test',
  'CSeq: 1 INVITE',
  'Contact: <sip:12D3KooWAlice@peerline.invalid;transport=ws>',
  'Content-Length: 0',
  '',
  ''
].join('\r\n')

interface FakeLink { remotePeer: string, sent: SipMessage[], send: (text: string) => boolean }

function fakeLink (remotePeer: string): FakeLink {
  const sent: SipMessage[] = []
  return { remotePeer, sent, send: text => { sent.push(parseSipMessage(text)); return true } }
}

function harness (text = INVITE): { fork: Fork, delivered: SipMessage[], links: Record<string, FakeLink>, getLink: (p: string) => Promise<SipLink> } {
  const delivered: SipMessage[] = []
  const components: ForkComponents = {
    deliver: t => { delivered.push(parseSipMessage(t)) },
    noteAnswer: () => {},
    ownBranch: () => {},
    redial: async () => { throw new Error('no re-dials here') },
    forkDone: () => {}
  }
  const links: Record<string, FakeLink> = { A: fakeLink('A'), B: fakeLink('B') }
  const fork = new Fork(parseSipMessage(text), components)
  return { fork, delivered, links, getLink: async p => links[p] as unknown as SipLink }
}

const respond = (fork: Fork, link: FakeLink, status: number): void => {
  fork.onResponse(link as unknown as SipLink, parseSipMessage(buildResponse(fork.request, status)))
}

/** lets the branches' getLink() promises settle */
const tick = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

describe('a fork through its states', () => {
  it('first 2xx wins: the fork passes it and cancels the other ringing branch', async () => {
    const { fork, delivered, links, getLink } = harness()
    assert.equal(fork.state, 'routing')
    fork.setBranches('bob@example.org', ['A', 'B'], getLink)
    assert.equal(fork.state, 'trying')
    await tick()
    assert.equal(fork.branchState('A'), 'sent')
    assert.equal(links.A?.sent[0]?.method, 'INVITE')
    respond(fork, links.B as FakeLink, 180)
    assert.equal(fork.branchState('B'), 'provisional')
    assert.deepEqual(delivered.map(m => m.status), [180])
    respond(fork, links.A as FakeLink, 200)
    assert.equal(fork.state, 'passed')
    assert.equal(fork.branchState('A'), 'answered')
    assert.equal(fork.branchState('B'), 'cancelling')
    assert.equal(links.B?.sent.at(-1)?.method, 'CANCEL')
    // a second CANCEL from JsSIP changes nothing: the branch was cancelled already
    fork.cancel()
    assert.equal(links.B?.sent.filter(m => m.method === 'CANCEL').length, 1)
    respond(fork, links.B as FakeLink, 487)
    assert.equal(fork.state, 'completed')
    const outcome: ForkOutcome = await fork.done
    assert.deepEqual(outcome, { delivered: 1, finals: { A: 200, B: 487 }, status: 200 })
    assert.deepEqual(delivered.map(m => m.status), [180, 200], 'the 487 of the losing branch is not passed on')
  })

  it('CANCEL while routing: no device is sent the INVITE, the fork ends 487', async () => {
    const { fork, delivered, links, getLink } = harness()
    fork.cancel('SIP;cause=487')
    assert.equal(fork.state, 'routing-cancelled')
    fork.setBranches('bob@example.org', ['A', 'B'], getLink)
    assert.equal(fork.state, 'cancelling')
    await tick()
    assert.equal(fork.state, 'completed')
    assert.equal(links.A?.sent.length, 0)
    assert.equal(links.B?.sent.length, 0)
    assert.deepEqual((await fork.done).finals, { A: 487, B: 487 })
    assert.deepEqual(delivered.map(m => m.status), [487])
  })

  it('every branch failed: the best response is passed (486 over 480)', async () => {
    const { fork, delivered, links, getLink } = harness()
    fork.setBranches('bob@example.org', ['A', 'B'], async p => p === 'B' ? await Promise.reject(new Error('unreachable')) : await getLink(p))
    await tick()
    assert.equal(fork.branchState('B'), 'final')
    assert.equal(fork.state, 'trying')
    respond(fork, links.A as FakeLink, 486)
    assert.equal(links.A?.sent.at(-1)?.method, 'ACK', 'the proxy ACKs a non-2xx itself')
    assert.equal(fork.state, 'completed')
    assert.deepEqual(delivered.map(m => m.status), [486])
    assert.deepEqual(await fork.done, { delivered: 0, finals: { A: 486, B: 480 }, status: 486 })
  })

  it('a routing failure passes 404 and completes; later events are ignored', async () => {
    const { fork, delivered, getLink } = harness()
    fork.fail(Object.assign(new Error('nobody'), { name: 'NotFoundError' }))
    assert.equal(fork.state, 'completed')
    assert.deepEqual(delivered.map(m => m.status), [404])
    fork.setBranches('bob@example.org', ['A'], getLink)
    fork.cancel()
    fork.fail(new Error('again'))
    assert.equal(fork.state, 'completed')
    assert.equal(fork.branchState('A'), undefined)
    assert.equal((await fork.done).status, 404)
  })

  it('a MESSAGE is not cancelled, and its first 2xx is passed while the other device is counted', async () => {
    const message = INVITE.replace('INVITE sip:', 'MESSAGE sip:').replace('CSeq: 1 INVITE', 'CSeq: 1 MESSAGE')
    const { fork, delivered, links, getLink } = harness(message)
    fork.cancel()
    assert.equal(fork.state, 'routing')
    fork.setBranches('bob@example.org', ['A', 'B'], getLink)
    await tick()
    respond(fork, links.A as FakeLink, 200)
    assert.equal(fork.state, 'passed')
    respond(fork, links.B as FakeLink, 200)
    assert.equal(fork.state, 'completed')
    assert.deepEqual(delivered.map(m => m.status), [200])
    assert.equal((await fork.done).delivered, 2)
  })

  it('dispose completes a fork from any state', async () => {
    const { fork } = harness()
    fork.dispose()
    assert.equal(fork.state, 'completed')
    assert.deepEqual(await fork.done, { delivered: 0, finals: {} })
  })
})
