/**
 * Fault drill against a device's SIP stream: 1,000 malformed or hostile SIP
 * messages from a real peer (dialled through the callee's relay address from
 * its location record, like any caller), each answered or dropped as RFC 3261
 * says, and the device keeps serving chat and calls afterwards. Real
 * supernode process, real libp2p devices, real JsSIP; the peer connection is
 * the fake of test/helpers/fake-webrtc.ts (Node has no WebRTC). Prints one line.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import type { StoredIdentity } from '../../shared/identity/index.ts'
import type { Overlay } from '../../shared/overlay/index.ts'
import { encodeHello, MAX_SIP_HEADERS, MAX_SIP_MESSAGE_BYTES } from '../../shared/sip/index.ts'
import type { CallState, IncomingMessage, PeerlineCall } from '../../shared/sip/index.ts'
import { newIdentity, startDevice } from '../helpers/overlay.ts'
import { spawnSupernode } from '../helpers/supernode-process.ts'
import { eventually } from '../helpers/eventually.ts'
import type { SupernodeProcess } from '../helpers/supernode-process.ts'
import { fakeMedia, installFakeWebRtc } from '../helpers/fake-webrtc.ts'
import { nextEvent, openRawSipStream, rawRequest, startPhoneDevice, stopDevice } from '../helpers/sip.ts'
import type { Device, RawSipStream } from '../helpers/sip.ts'

installFakeWebRtc()

const BOB = 'bob@example.org'
const TOTAL = 1000
/** every OVERSIZE_EVERY-th frame is larger than MAX_SIP_MESSAGE_BYTES: it closes the stream, which is reopened */
const OVERSIZE_EVERY = 100
const PAD = 9 * 1024 // > 8 KiB

/**
 * What RFC 3261 expects back for each category: a set of status codes, or
 * 'drop' (nothing). §8.2 / §18.3: a malformed request is answered 400 when a
 * response can be formed (Via, From, To, Call-ID, CSeq readable), else
 * dropped; §8.2.1: unknown method → 405 (or 501); §18.1.2: a response that
 * matches no transaction is dropped; §9.2 / §15.1.2: CANCEL or BYE that
 * matches nothing → 481. Well-formed but large messages are processed (RFC
 * 3261 sets no size limit below the transport's).
 */
const EXPECT: Record<string, Set<number> | 'drop'> = {
  'bad-start-line': new Set([400, 505]), // a request line that is not RFC 3261's (RFC 4475 §3.1.2.x); another version: 505
  'bad-status-line': 'drop', // a response with a status outside 100-699 (RFC 4475 §3.1.2.x, "bigcode"): responses are never answered
  'too-many-headers': new Set([400]), // over the parser's header bound: the Via, From, Call-ID and CSeq read so far answer it
  'header-block>8KiB': new Set([200]),
  'body>8KiB': new Set([200]),
  'content-length>body': new Set([400]),
  'content-length<body': new Set([200]), // §18.3: bytes past Content-Length are discarded
  'content-length-garbage': new Set([400]),
  'unknown-method': new Set([405, 501]),
  'missing-via': 'drop', // §18.2.1: no Via, nowhere to send a response
  'missing-call-id': new Set([400]), // answerable (RFC 4475 "insuf"): the answer has an empty Call-ID, see harvest
  'missing-cseq': new Set([400]),
  'non-utf8-body': new Set([200]), // a body is octets (RFC 3261 §7.4, RFC 4475 mpart01): not being UTF-8 drops nothing
  'stray-response': 'drop',
  'cancel/bye-no-match': new Set([481])
}
const CATEGORIES = Object.keys(EXPECT)

let seq = 0
/** One hostile frame of `category`, with a unique Call-ID (when it has one) to match its answer. */
function hostile (category: string, from: string): { payload: Uint8Array | string, callId?: string } {
  const n = ++seq
  const callId = `drill-${n}-${Date.now()}`
  const req = (init: Partial<Parameters<typeof rawRequest>[0]> & { method: string }): string =>
    rawRequest({ uri: `sip:${BOB}`, from, to: BOB, ...init }).replace(/^Call-ID: .*$/m, `Call-ID: ${callId}`)
  switch (category) {
    case 'bad-start-line': {
      const lines = ['GARBAGE', `MESSAGE sip:${BOB} SIP/3.0`, `MESSAGE  sip:${BOB}  SIP/2.0`, `sip:${BOB} MESSAGE SIP/2.0`]
      return { payload: req({ method: 'MESSAGE', body: 'x' }).replace(/^[^\r]*/, lines[n % lines.length] as string), callId }
    }
    case 'bad-status-line': {
      const lines = ['SIP/2.0 99 Too Small', 'SIP/2.0 9999 Too Big', 'SIP/2.0 200']
      return { payload: req({ method: 'MESSAGE', body: 'x' }).replace(/^[^\r]*/, lines[n % lines.length] as string), callId }
    }
    case 'too-many-headers':
      return { payload: req({ method: 'OPTIONS', headers: Array.from({ length: MAX_SIP_HEADERS + 44 }, (_, i) => `X-H${i}: ${i}`) }), callId }
    case 'header-block>8KiB':
      return { payload: req({ method: 'OPTIONS', headers: [`X-Pad: ${'h'.repeat(PAD)}`] }), callId }
    case 'body>8KiB':
      return { payload: req({ method: 'MESSAGE', body: 'b'.repeat(PAD), headers: ['Content-Type: text/plain'] }), callId }
    case 'content-length>body':
      return { payload: req({ method: 'MESSAGE', body: 'short', contentLength: '5000', headers: ['Content-Type: text/plain'] }), callId }
    case 'content-length<body':
      return { payload: req({ method: 'MESSAGE', body: 'truncated-and-then-some-more', contentLength: '9', headers: ['Content-Type: text/plain'] }), callId }
    case 'content-length-garbage':
      return { payload: req({ method: 'MESSAGE', body: 'x', contentLength: n % 2 === 0 ? 'banana' : '-1', headers: ['Content-Type: text/plain'] }), callId }
    case 'unknown-method':
      return { payload: req({ method: 'FROB' }), callId }
    case 'missing-via':
      return { payload: req({ method: 'MESSAGE', body: 'x' }).replace(/^Via: .*\r\n/m, ''), callId }
    case 'missing-call-id':
      return { payload: req({ method: 'MESSAGE', body: 'x' }).replace(/^Call-ID: .*\r\n/m, '') }
    case 'missing-cseq':
      return { payload: req({ method: 'MESSAGE', body: 'x' }).replace(/^CSeq: .*\r\n/m, ''), callId }
    case 'non-utf8-body': {
      const bytes = new TextEncoder().encode(req({ method: 'MESSAGE', body: 'xxxx', headers: ['Content-Type: text/plain'] }))
      bytes.set([0xff, 0xfe, 0xc3, 0x28], bytes.byteLength - 4) // invalid UTF-8 in the body
      return { payload: bytes, callId }
    }
    case 'stray-response': {
      const status = [200, 180, 486, 100][n % 4] as number
      const method = n % 2 === 0 ? 'INVITE' : 'MESSAGE'
      return {
        payload: [`SIP/2.0 ${status} Whatever`, `Via: SIP/2.0/WS ghost.invalid;branch=z9hG4bKghost${n}`, `From: <sip:${BOB}>;tag=b${n}`,
          `To: <sip:${from}>;tag=m${n}`, `Call-ID: ${callId}`, `CSeq: 1 ${method}`, 'Content-Length: 0', '', ''].join('\r\n'),
        callId
      }
    }
    case 'cancel/bye-no-match':
      return { payload: req({ method: n % 2 === 0 ? 'CANCEL' : 'BYE' }).replace(/^To: (.*)$/m, n % 4 === 1 ? `To: $1;tag=nodialog${n}` : 'To: $1'), callId }
    default:
      throw new Error(category)
  }
}

function header (frame: string, name: string): string | undefined {
  return new RegExp(`^${name}:[ \\t]*([^\\r\\n]*)`, 'mi').exec(frame)?.[1]?.trim()
}

describe('SIP abuse drill', { timeout: 120_000 }, () => {
  let sn: SupernodeProcess
  let alice: Device
  let bob: Device
  let mallory: Overlay
  let malloryId: StoredIdentity

  before(async () => {
    sn = await spawnSupernode()
    alice = await startPhoneDevice('alice@example.org', [sn.addr], {}, fakeMedia())
    bob = await startPhoneDevice(BOB, [sn.addr], {}, fakeMedia())
    malloryId = await newIdentity('mallory@example.org')
    mallory = await startDevice('mallory@example.org', [sn.addr], { identity: malloryId })
  })

  after(async () => {
    await stopDevice(alice)
    await stopDevice(bob)
    await mallory?.stop().catch(() => {})
    await sn?.kill('SIGKILL')
  })

  it('1,000 malformed or hostile SIP messages: each answered or dropped per RFC 3261; the device serves the next call', async () => {
    // Mallory reaches Bob like any caller: through the relay address of his location record
    const record = await mallory.lookup(BOB, { signal: AbortSignal.timeout(10_000) })
    const relayed = record.devices[0]?.addrs.filter(a => a.includes('/p2p-circuit')) ?? []
    assert.ok(relayed.length > 0, 'Bob is published with a relay address')
    await mallory.node.dial(relayed.map(a => multiaddr(a)), { signal: AbortSignal.timeout(10_000) })
    const hello = encodeHello({ identityCertificate: malloryId.certificate, deviceCertificate: mallory.deviceEntry().certificate })

    const sentBy = new Map<string, string>() // Call-ID → category
    const sentCount: Record<string, number> = {}
    const answers: Record<string, Record<number, number>> = {}
    let unattributed = 0
    let reopened = 0
    const streams: RawSipStream[] = []
    const harvest = (raw: RawSipStream, from: number): number => {
      for (const f of raw.frames.slice(from)) {
        if (!f.startsWith('SIP/2.0 ')) continue // Bob's hello
        const status = Number(f.slice(8, 11))
        const answeredCallId = header(f, 'Call-ID') ?? header(f, 'i') ?? ''
        // only a request sent without a Call-ID is answered without one
        const cat = answeredCallId === '' ? 'missing-call-id' : sentBy.get(answeredCallId)
        if (cat == null) { unattributed++; continue }
        const byCode = answers[cat] ?? (answers[cat] = {})
        byCode[status] = (byCode[status] ?? 0) + 1
      }
      return raw.frames.length
    }
    /** waits until nothing new has come back for `quietMs` (bounded) */
    const settle = async (raw: RawSipStream, quietMs = 600, maxMs = 10_000): Promise<void> => {
      const deadline = Date.now() + maxMs
      let last = -1
      let since = Date.now()
      while (Date.now() < deadline) {
        if (raw.frames.length !== last) { last = raw.frames.length; since = Date.now() }
        if (Date.now() - since >= quietMs) return
        await new Promise(resolve => setTimeout(resolve, 100))
      }
    }

    const t0 = performance.now()
    for (let batch = 0; batch < TOTAL / OVERSIZE_EVERY; batch++) {
      const raw = await openRawSipStream(mallory, bob.overlay)
      streams.push(raw)
      // half the streams present a valid hello, half none (an unverified peer)
      if (batch % 2 === 0) raw.sendFrame(hello)
      for (let i = 0; i < OVERSIZE_EVERY - 1; i++) {
        const cat = CATEGORIES[(batch * OVERSIZE_EVERY + i) % CATEGORIES.length] as string
        const { payload, callId } = hostile(cat, 'mallory@example.org')
        if (callId != null) sentBy.set(callId, cat)
        sentCount[cat] = (sentCount[cat] ?? 0) + 1
        raw.sendFrame(payload)
        // pace: let the stream drain now and then rather than queueing ~1 MiB at once
        if (i % 20 === 19) await new Promise(resolve => setTimeout(resolve, 10))
      }
      await settle(raw)
      harvest(raw, 0)
      // the 100th: a frame over MAX_SIP_MESSAGE_BYTES, which closes this stream (only this one)
      raw.sendFrame(new Uint8Array(MAX_SIP_MESSAGE_BYTES + 1024).fill(0x41))
      sentCount['frame>MAX_SIP_MESSAGE_BYTES'] = (sentCount['frame>MAX_SIP_MESSAGE_BYTES'] ?? 0) + 1
      await eventually(() => raw.closed(), { timeoutMs: 10_000, intervalMs: 50, what: 'the oversized stream to be closed' })
      reopened++
    }
    const floodSeconds = (performance.now() - t0) / 1000

    // judge each category against RFC 3261
    let answered = 0
    let dropped = 0
    const codes: Record<number, number> = {}
    for (const cat of CATEGORIES) {
      const got = answers[cat] ?? {}
      const n = Object.values(got).reduce((a, b) => a + b, 0)
      const expect = EXPECT[cat] as Set<number> | 'drop'
      if (expect === 'drop') {
        assert.equal(n, 0, `${cat}: expected no answer, got ${JSON.stringify(got)}`)
      } else {
        assert.equal(n, sentCount[cat], `${cat}: ${n} of ${sentCount[cat]} answered (${JSON.stringify(got)})`)
        for (const code of Object.keys(got)) assert.ok(expect.has(Number(code)), `${cat}: answered ${code}, expected ${[...expect].join('/')}`)
      }
      answered += n
      dropped += (sentCount[cat] ?? 0) - n
      for (const [c, k] of Object.entries(got)) codes[Number(c)] = (codes[Number(c)] ?? 0) + k
    }
    dropped += sentCount['frame>MAX_SIP_MESSAGE_BYTES'] ?? 0
    assert.equal(unattributed, 0, 'every answer belongs to a request sent')
    const sent = Object.values(sentCount).reduce((a, b) => a + b, 0)
    assert.equal(sent, TOTAL)
    assert.equal(reopened, TOTAL / OVERSIZE_EVERY)

    // Bob is alive and serving: a chat message and a call from Alice get through
    assert.equal(bob.overlay.node.status, 'started')
    const got = nextEvent<IncomingMessage>(bob.phone, 'message:incoming', { match: m => m.body === 'after the storm', timeoutMs: 15_000 })
    const sentMsg = await alice.phone.sendMessage(BOB, 'after the storm', { signal: AbortSignal.timeout(15_000) })
    assert.equal(sentMsg.deliveredTo, 1)
    assert.equal((await got).from.authenticated, true)
    const incoming = nextEvent<PeerlineCall>(bob.phone, 'call:incoming', { timeoutMs: 15_000 })
    const t1 = performance.now()
    const call = await alice.phone.call(BOB, { signal: AbortSignal.timeout(15_000) })
    const bobCall = await incoming
    await bobCall.answer()
    if (call.state !== 'active') await nextEvent<CallState>(call, 'state', { timeoutMs: 15_000, match: s => s === 'active' })
    const callMs = performance.now() - t1
    assert.equal(call.state, 'active')
    call.hangup()
    await nextEvent(bobCall, 'ended', { timeoutMs: 10_000 }).catch(() => {})
    const codeList = Object.entries(codes).map(([c, k]) => `${k}×${c}`).join(', ')
    console.info(`drill malformed-sip: ${sent} sent, ${answered} answered (${codeList}), ${dropped} dropped (${reopened} oversized frames closed their stream, reopened), 0 crashes, node served next call (active in ${callMs.toFixed(0)} ms); flood took ${floodSeconds.toFixed(1)} s; per category ${JSON.stringify(answers)}`)
  })
})
