/**
 * Unit tests: the call state machine, how a session's end maps to a CallEnd,
 * the forking proxy's choice of final response, and the identity hello.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateIdentityKey, issueDeviceCertificate, selfCertify } from '../../shared/identity/index.ts'
import {
  bestResponse, CALL_TRANSITIONS, callEndFrom, CallStateMachine, devicePeer, encodeHello, verifyHello
} from '../../shared/sip/index.ts'
import type { CallState } from '../../shared/sip/index.ts'
import { checkStateTable } from '../helpers/state-table.ts'

const STATES: CallState[] = ['calling', 'ringing', 'incoming', 'active', 'held', 'ended']

describe('call state machine', () => {
  it('allows exactly the moves of the diagram', () => {
    const legal = new Set([
      'calling>ringing', 'calling>active', 'calling>ended',
      'ringing>active', 'ringing>ended',
      'incoming>active', 'incoming>ended',
      'active>held', 'active>ended',
      'held>active', 'held>ended'
    ])
    checkStateTable(CALL_TRANSITIONS, STATES, legal, from => new CallStateMachine(from))
  })

  it('a repeated state is a no-op (a second 180, a second confirmed)', () => {
    const m = new CallStateMachine('calling')
    assert.equal(m.transition('ringing'), true)
    assert.equal(m.transition('ringing'), false)
    assert.equal(m.state, 'ringing')
  })

  it('nothing leaves ended', () => {
    const m = new CallStateMachine('active')
    m.transition('ended')
    for (const to of STATES.filter(s => s !== 'ended')) assert.throws(() => m.transition(to), { name: 'InvalidStateError' })
  })
})

describe('how a call ended', () => {
  const out = (info: Parameters<typeof callEndFrom>[0], established = false): string => callEndFrom(info, 'outgoing', established).reason
  const inc = (info: Parameters<typeof callEndFrom>[0], established = false): string => callEndFrom(info, 'incoming', established).reason

  it('maps final responses to outgoing calls', () => {
    assert.equal(out({ originator: 'remote', cause: 'Busy', status: 486 }), 'busy')
    assert.equal(out({ originator: 'remote', cause: 'Busy', status: 600 }), 'busy')
    assert.equal(out({ originator: 'remote', cause: 'Rejected', status: 603 }), 'declined')
    assert.equal(out({ originator: 'remote', cause: 'Canceled', status: 487 }), 'cancelled')
    assert.equal(out({ originator: 'remote', cause: 'Unavailable', status: 408 }), 'no-answer')
    assert.equal(out({ originator: 'remote', cause: 'Unavailable', status: 480 }), 'unreachable')
    assert.equal(out({ originator: 'remote', cause: 'Not Found', status: 404 }), 'unreachable')
    assert.equal(out({ originator: 'remote', cause: 'SIP Failure Code', status: 500 }), 'failed')
    assert.equal(out({ originator: 'system', cause: 'Request Timeout' }), 'unreachable')
    assert.equal(out({ originator: 'system', cause: 'Connection Error' }), 'unreachable')
    assert.equal(out({ originator: 'local', cause: 'Canceled' }), 'cancelled')
    assert.equal(out({ originator: 'local', cause: 'User Denied Media Access' }), 'failed')
    const callBack = callEndFrom({ originator: 'remote', cause: 'Unavailable', status: 480, reasonPhrase: 'Calling back from another device' }, 'outgoing', false)
    assert.deepEqual([callBack.reason, callBack.message], ['declined', 'They will call you back from another device'])
    assert.equal(callEndFrom({ originator: 'remote', cause: 'Unavailable', status: 480 }, 'outgoing', false).reason, 'unreachable')
    const revoked = callEndFrom({ originator: 'remote', cause: 'Rejected', status: 403, reasonPhrase: 'Device revoked' }, 'outgoing', false)
    assert.equal(revoked.reason, 'failed')
    assert.match(revoked.message, /removed it from the linked devices/)
    assert.equal(callEndFrom({ originator: 'remote', cause: 'Rejected', status: 403, reasonPhrase: 'Forbidden' }, 'outgoing', false).reason, 'declined')
    assert.equal(callEndFrom({ originator: 'remote', cause: 'Busy', status: 486 }, 'outgoing', false).status, 486)
  })

  it('maps how a ringing incoming call stopped', () => {
    assert.equal(inc({ originator: 'remote', cause: 'Canceled' }), 'remote-cancelled')
    assert.equal(inc({ originator: 'remote', cause: 'Canceled', reasonCause: 200 }), 'answered-elsewhere')
    const elsewhere = callEndFrom({ originator: 'remote', cause: 'Canceled', reasonCause: 603 }, 'incoming', false)
    assert.equal(elsewhere.reason, 'declined')
    assert.match(elsewhere.message, /another device/)
    assert.equal(inc({ originator: 'local', cause: 'Rejected', status: 603 }), 'declined')
    assert.equal(inc({ originator: 'local', cause: 'No Answer' }), 'no-answer')
  })

  it('maps how an established call ended', () => {
    assert.equal(out({ originator: 'local', cause: 'Terminated' }, true), 'hangup')
    assert.equal(out({ originator: 'remote', cause: 'Terminated' }, true), 'remote-hangup')
    assert.equal(inc({ originator: 'system', cause: 'RTP Timeout' }, true), 'failed')
    assert.match(callEndFrom({ originator: 'system', cause: 'RTP Timeout' }, 'incoming', true).message, /media connection was lost/)
  })

  it('every end has a sentence for the user', () => {
    for (const cause of ['Busy', 'Canceled', 'Terminated', 'Whatever']) {
      for (const originator of ['local', 'remote', 'system'] as const) {
        for (const established of [true, false]) {
          const e = callEndFrom({ originator, cause }, 'outgoing', established)
          assert.ok(e.message.length > 3)
        }
      }
    }
  })
})

describe('forking proxy: the response passed on when every device failed', () => {
  const best = (...statuses: number[]): number | undefined => bestResponse(statuses.map(status => ({ status })))?.status
  it('follows RFC 3261 §16.7: a 6xx first, then the lowest class, busy preferred', () => {
    assert.equal(best(480, 603, 486), 603)
    assert.equal(best(503, 480), 480)
    assert.equal(best(487, 486, 408), 486)
    assert.equal(best(408, 480), 480)
    assert.equal(best(487, 487), 487)
    assert.equal(best(503, 500), 500)
    assert.equal(best(302, 486), 302)
    assert.equal(best(), undefined)
  })

  it('recognises device URIs', () => {
    assert.equal(devicePeer('sip:12D3KooWAbc@peerline.invalid;transport=ws;ob'), '12D3KooWAbc')
    assert.equal(devicePeer('sip:bob@example.org'), undefined)
  })
})

describe('identity hello', () => {
  const alice = generateIdentityKey()
  const aliceCert = selfCertify(alice, 'alice@example.org')
  const peer = '12D3KooWAliceDevice'

  it('verifies a device certificate chained to the identity and issued for the Noise peer', () => {
    const hello = encodeHello({ identityCertificate: aliceCert, deviceCertificate: issueDeviceCertificate({ identity: alice, peerId: peer, name: 'laptop' }) })
    const v = verifyHello(hello, peer)
    assert.equal(v.authenticated, true)
    if (v.authenticated) {
      assert.equal(v.aor, 'alice@example.org')
      assert.equal(v.identityKey, aliceCert.key)
      assert.equal(v.deviceName, 'laptop')
      assert.match(v.fingerprint, /^[0-9a-f]{32}$/)
    }
  })

  it('names what is wrong, and never throws', () => {
    const other = generateIdentityKey()
    const reason = (bytes: Uint8Array, remote = peer): string => {
      const v = verifyHello(bytes, remote)
      assert.equal(v.authenticated, false)
      return v.authenticated ? '' : v.reason
    }
    const enc = (x: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(x))
    assert.equal(reason(encodeHello({ identityCertificate: aliceCert, deviceCertificate: issueDeviceCertificate({ identity: other, peerId: peer }) })), 'BadSignatureError')
    assert.equal(reason(encodeHello({ identityCertificate: aliceCert, deviceCertificate: issueDeviceCertificate({ identity: alice, peerId: peer }) }), '12D3KooWSomeoneElse'), 'WrongPeerError')
    const expired = selfCertify(alice, 'alice@example.org', { now: Date.now() - 400 * 86_400_000 })
    assert.equal(reason(encodeHello({ identityCertificate: expired, deviceCertificate: issueDeviceCertificate({ identity: alice, peerId: peer }) })), 'CertificateExpiredError')
    assert.equal(reason(enc({ identityCertificate: { ...aliceCert, email: 'mallory@example.org' }, deviceCertificate: issueDeviceCertificate({ identity: alice, peerId: peer }) })), 'BadSignatureError')
    assert.equal(reason(enc({ identityCertificate: 'x', deviceCertificate: {} })), 'MalformedCertificateError')
    assert.equal(reason(enc({})), 'NoCertificate')
    assert.equal(reason(enc([1, 2])), 'MalformedHelloError')
    assert.equal(reason(new TextEncoder().encode('{not json')), 'MalformedHelloError')
    assert.equal(reason(Uint8Array.from([0x7b, 0xff, 0xfe])), 'MalformedHelloError')
  })
})
