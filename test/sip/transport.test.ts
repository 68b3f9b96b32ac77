/**
 * Unit tests: SipTransport.acksSettled (what Phone.stop waits for before
 * stopping JsSIP) wakes when the ACK of an answered INVITE arrives, not on a
 * poll, and gives up at its deadline. The overlay and the stream are
 * stand-ins; calls.test.ts stops phones mid-call over real devices.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildResponse, NO_CERTIFICATE, parseSipMessage, SipTransport } from '../../shared/sip/index.ts'
import type { SipTransportComponents } from '../../shared/sip/index.ts'
import type { SipLink } from '../../shared/sip/link.ts'
import type { StoredIdentity } from '../../shared/identity/index.ts'

const SELF = '12D3KooWSelfSelfSelfSelfSelfSelfSelfSelfSelfSelf'

const INVITE = [
  `INVITE sip:${SELF}@peerline.invalid;transport=ws SIP/2.0`,
  'Via: SIP/2.0/WS alice.invalid;branch=z9hG4bKackstest',
  'Max-Forwards: 70',
  'To: <sip:bob@example.org>',
  'From: <sip:alice@example.org>;tag=a1',
  'Call-ID: acks-settled-test',
  'CSeq: 1 INVITE',
  'Content-Length: 0',
  '',
  ''
].join('\r\n')

const ACK = INVITE.replace('INVITE sip:', 'ACK sip:').replace('CSeq: 1 INVITE', 'CSeq: 1 ACK')

async function answeredTransport (): Promise<SipTransport> {
  const overlay = { peerId: SELF, node: { handle: async () => {}, unhandle: async () => {} } }
  const transport = new SipTransport({ identity: { email: 'bob@example.org' } as unknown as StoredIdentity }, { overlay } as unknown as SipTransportComponents)
  await transport.start()
  transport.connect()
  // JsSIP answers an INVITE 2xx: its ACK is now awaited
  assert.equal(transport.send(buildResponse(parseSipMessage(INVITE), 200)), true)
  return transport
}

describe('SipTransport.acksSettled', () => {
  it('resolves as soon as the ACK arrives', async () => {
    const transport = await answeredTransport()
    const t0 = performance.now()
    let settledAt: number | undefined
    const settled = transport.acksSettled(10_000).then(() => { settledAt = performance.now() })
    await new Promise(resolve => setTimeout(resolve, 200))
    assert.equal(settledAt, undefined, 'no ACK yet: still waiting')
    const link = { remotePeer: 'alice', verification: NO_CERTIFICATE, send: () => true } as unknown as SipLink
    // the ACK comes in over a stream (onLinkRequest is what SipLinks' onMessage leads to)
    transport['onLinkRequest'](parseSipMessage(ACK), link)
    await settled
    const ms = (settledAt ?? Infinity) - t0
    assert.ok(ms < 1_000, `settled ${ms.toFixed(0)} ms after the call, 200 ms after the ACK`)
    await transport.stop()
  })

  it('gives up at its deadline when no ACK comes', async () => {
    const transport = await answeredTransport()
    const t0 = performance.now()
    await transport.acksSettled(300)
    const ms = performance.now() - t0
    assert.ok(ms >= 290 && ms < 1_000, `gave up after ${ms.toFixed(0)} ms`)
    await transport.stop()
  })

  it('resolves at once when nothing is awaited', async () => {
    const overlay = { peerId: SELF, node: { handle: async () => {}, unhandle: async () => {} } }
    const transport = new SipTransport({ identity: { email: 'bob@example.org' } as unknown as StoredIdentity }, { overlay } as unknown as SipTransportComponents)
    const t0 = performance.now()
    await transport.acksSettled(10_000)
    assert.ok(performance.now() - t0 < 100)
  })
})
