/**
 * Framing of SIP streams (varint length + one message per frame) and the
 * small SIP parser the routing proxy uses: unit tests on hostile input.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import {
  buildResponse, encodeFrame, encodeVarint, FrameDecoder, MAX_SIP_MESSAGE_BYTES, parseNameAddr, parseSipMessage, sipUriParts
} from '../../shared/sip/index.ts'
import { buildAckAndBye, buildCancel, buildNon2xxAck } from '../../shared/sip/message-build.ts'
import { reasonCause, viaBranch } from '../../shared/sip/message.ts'

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

const INVITE = [
  'INVITE sip:bob@example.org SIP/2.0',
  'Via: SIP/2.0/WS abc.invalid;branch=z9hG4bK776asdhds, SIP/2.0/WS proxy.invalid;branch=z9hG4bKother',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@example.org>',
  'From: "Alice \\"A\\" Liddell" <sip:alice@example.org;transport=ws>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.example.org',
  'CSeq: 314159 INVITE',
  'Contact: <sip:12D3KooWAlice@peerline.invalid;transport=ws;ob>',
  'Content-Type: application/sdp',
  'Content-Length: 4',
  '',
  'v=0\r\nextra bytes beyond Content-Length'
].join('\r\n')

describe('framing', () => {
  it('encodes lengths as minimal unsigned LEB128 varints', () => {
    assert.deepEqual([...encodeVarint(0)], [0])
    assert.deepEqual([...encodeVarint(127)], [127])
    assert.deepEqual([...encodeVarint(128)], [0x80, 0x01])
    assert.deepEqual([...encodeVarint(300)], [0xac, 0x02])
    assert.deepEqual([...encodeVarint(MAX_SIP_MESSAGE_BYTES)], [0x80, 0x80, 0x04])
    assert.throws(() => encodeVarint(-1), RangeError)
  })

  it('reassembles frames split and joined at any byte', () => {
    const messages = ['', 'OPTIONS', 'x'.repeat(1000), 'ü€𝄞', 'y'.repeat(70_000 / 2)]
    const stream = new Uint8Array(messages.map(m => encodeFrame(utf8(m))).reduce((a, f) => [...a, ...f], [] as number[]))
    for (const chunk of [1, 2, 3, 7, 128, 4096, stream.byteLength]) {
      const d = new FrameDecoder()
      const out: string[] = []
      for (let i = 0; i < stream.byteLength; i += chunk) out.push(...d.push(stream.subarray(i, i + chunk)).map(text))
      assert.deepEqual(out, messages, `chunk size ${chunk}`)
      assert.equal(d.pending, 0)
    }
  })

  it('stays linear when a peer trickles a maximal frame byte by byte', () => {
    const frame = encodeFrame(new Uint8Array(MAX_SIP_MESSAGE_BYTES).fill(0x41))
    const d = new FrameDecoder()
    const t0 = performance.now()
    let got: Uint8Array[] = []
    for (let i = 0; i < frame.byteLength; i++) got = got.concat(d.push(frame.subarray(i, i + 1)))
    assert.equal(got.length, 1)
    assert.equal(got[0]?.byteLength, MAX_SIP_MESSAGE_BYTES)
    assert.ok(performance.now() - t0 < 1_000, `took ${performance.now() - t0} ms`)
  })

  it('refuses an oversized frame as soon as its prefix is read', () => {
    const d = new FrameDecoder()
    const prefix = encodeVarint(100 * 1024)
    assert.throws(() => d.push(prefix), { name: 'FrameTooLargeError' })
    assert.throws(() => encodeFrame(new Uint8Array(MAX_SIP_MESSAGE_BYTES + 1)), { name: 'FrameTooLargeError' })
    // a frame of exactly the limit passes
    const ok = new FrameDecoder().push(encodeFrame(new Uint8Array(MAX_SIP_MESSAGE_BYTES)))
    assert.equal(ok[0]?.byteLength, MAX_SIP_MESSAGE_BYTES)
  })

  it('refuses endless and non-minimal length prefixes', () => {
    assert.throws(() => new FrameDecoder().push(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01])), { name: 'MalformedFrameError' })
    assert.throws(() => new FrameDecoder().push(Uint8Array.from([0x81, 0x00])), { name: 'MalformedFrameError' })
    // an incomplete prefix just waits
    assert.deepEqual(new FrameDecoder().push(Uint8Array.from([0x80])), [])
  })

  it('survives random bytes without throwing anything but its own errors', () => {
    for (let i = 0; i < 500; i++) {
      const d = new FrameDecoder(4096)
      try {
        d.push(randomBytes(1 + (i % 64)))
      } catch (err) {
        assert.ok(['FrameTooLargeError', 'MalformedFrameError'].includes((err as Error).name), (err as Error).name)
      }
    }
  })
})

describe('SIP parser', () => {
  it('reads what routing needs from a request', () => {
    const m = parseSipMessage(INVITE)
    assert.equal(m.type, 'request')
    assert.equal(m.method, 'INVITE')
    assert.equal(m.uri, 'sip:bob@example.org')
    assert.equal(m.branch, 'z9hG4bK776asdhds', 'the top Via of a comma-separated list')
    assert.equal(m.callId, 'a84b4c76e66710@pc33.example.org')
    assert.equal(m.cseq, 314159)
    assert.equal(m.cseqMethod, 'INVITE')
    assert.deepEqual(m.from, { displayName: 'Alice "A" Liddell', uri: 'sip:alice@example.org;transport=ws', tag: '1928301774' })
    assert.deepEqual(m.to, { displayName: 'Bob', uri: 'sip:bob@example.org' })
    assert.equal(m.body, 'v=0\r', 'bytes beyond Content-Length are discarded (RFC 3261 §18.3)')
  })

  it('reads responses, compact header forms and folded lines', () => {
    const m = parseSipMessage([
      'SIP/2.0 180 Ringing',
      'v: SIP/2.0/WS a.invalid',
      ' ;branch=z9hG4bKfolded',
      'f: <sip:alice@example.org>;tag=a',
      't: sip:bob@example.org;tag=b',
      'i: call-1',
      'CSeq: 7 INVITE',
      'l: 0',
      '',
      ''
    ].join('\r\n'))
    assert.equal(m.type, 'response')
    assert.equal(m.status, 180)
    assert.equal(m.reason, 'Ringing')
    assert.equal(m.method, 'INVITE')
    assert.equal(m.branch, 'z9hG4bKfolded')
    assert.equal(m.to.tag, 'b')
    assert.equal(m.to.uri, 'sip:bob@example.org')
  })

  it('refuses malformed messages, saying when a 400 can still be sent', () => {
    const base = (over: Record<string, string | null>, start = 'MESSAGE sip:bob@example.org SIP/2.0', body = ''): string => {
      const h: Record<string, string | null> = {
        Via: 'SIP/2.0/WS x.invalid;branch=z9hG4bK1', From: '<sip:a@example.org>;tag=1', To: '<sip:bob@example.org>',
        'Call-ID': 'c1', CSeq: '1 MESSAGE', ...over
      }
      return [start, ...Object.entries(h).filter(([, v]) => v != null).map(([k, v]) => `${k}: ${v as string}`), '', body].join('\r\n')
    }
    const cases: Array<[string, number | undefined]> = [
      ['no end of headers', undefined],
      ['GARBAGE\r\n\r\n', undefined],
      ['SIP/2.0 99 Too Low\r\n\r\n', undefined],
      [base({ Via: null }), undefined],
      [base({ CSeq: 'one MESSAGE' }), 400],
      [base({ CSeq: '99999999999 MESSAGE' }), 400],
      [base({ CSeq: '1 INVITE' }), 400],
      [base({ 'Call-ID': 'has space' }), 400],
      [base({ From: 'not a uri' }), 400],
      [base({ To: '<sip:unbalanced' }), 400],
      [base({ 'Content-Length': 'banana' }), 400],
      [base({ 'Content-Length': '10' }, undefined, 'short'), 400],
      [base({ 'Content-Length': '-1' }), 400],
      // a request whose Via could be read is answered, whatever else is wrong (RFC 4475 §3.1.2)
      [base({ 'Bad Header': 'x' }), 400],
      [base({}, 'MESSAGE sip:bob@example.org SIP/3.0'), 505],
      [base({ CSeq: '1 INVITE' }, 'ACK sip:bob@example.org SIP/2.0'), undefined]
    ]
    for (const [input, status] of cases) {
      assert.throws(() => parseSipMessage(input), (err: Error & { status?: number }) => {
        assert.equal(err.name, 'MalformedSipError', input)
        assert.equal(err.status, status, `${input.split('\r\n')[0] ?? ''}: ${err.message}`)
        return true
      })
    }
    const many = base(Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`X-${i}`, 'v'])))
    assert.throws(() => parseSipMessage(many), /more than 256 header fields/)
    // an unknown method is fine for the parser: the UA answers 405/501
    assert.equal(parseSipMessage(base({ CSeq: '1 FROBNICATE' }, 'FROBNICATE sip:bob@example.org SIP/2.0')).method, 'FROBNICATE')
  })

  it('never throws anything but MalformedSipError on random text', () => {
    for (let i = 0; i < 2000; i++) {
      const lines = Array.from({ length: 1 + (i % 9) }, () => randomBytes(1 + (i % 30)).toString('latin1'))
      const input = i % 2 === 0 ? lines.join('\r\n') + '\r\n\r\n' : INVITE.slice(0, i % INVITE.length) + lines.join('\r\n') + '\r\n\r\n'
      try {
        parseSipMessage(input)
      } catch (err) {
        assert.equal((err as Error).name, 'MalformedSipError')
      }
    }
  })

  it('builds responses, CANCEL, ACK and the ACK+BYE for an extra fork', () => {
    const invite = parseSipMessage(INVITE)
    const r = parseSipMessage(buildResponse(invite, 480))
    assert.equal(r.status, 480)
    assert.equal(r.branch, invite.branch)
    assert.equal(r.callId, invite.callId)
    assert.equal(r.cseqMethod, 'INVITE')
    assert.ok(r.to.tag != null, 'a final response gets a To tag')
    assert.equal(r.headers.filter(h => h.name === 'via').length, 1, 'the one Via header value, as received')
    assert.equal(parseSipMessage(buildResponse(invite, 100)).to.tag, undefined, '100 Trying has no To tag')

    const cancel = parseSipMessage(buildCancel(invite, 'SIP;cause=200;text="Call completed elsewhere"'))
    assert.equal(cancel.method, 'CANCEL')
    assert.equal(cancel.uri, invite.uri)
    assert.equal(cancel.branch, invite.branch)
    assert.equal(cancel.cseq, invite.cseq)
    assert.equal(cancel.to.tag, undefined)
    assert.equal(reasonCause(cancel.headers.find(h => h.name === 'reason')?.value), 200)

    const busy = parseSipMessage(buildResponse(invite, 486))
    const ack = parseSipMessage(buildNon2xxAck(invite, busy))
    assert.equal(ack.method, 'ACK')
    assert.equal(ack.branch, invite.branch, 'a non-2xx ACK is in the INVITE transaction')
    assert.equal(ack.to.tag, busy.to.tag)

    const ok = parseSipMessage(buildResponse(invite, 200, { headers: ['Contact: <sip:12D3KooWBob2@peerline.invalid;transport=ws>'] }))
    const pair = buildAckAndBye(invite, ok, 'peerline.invalid')
    assert.ok(pair != null)
    const [ack2, bye] = pair.map(m => parseSipMessage(m))
    assert.equal(ack2?.uri, 'sip:12D3KooWBob2@peerline.invalid;transport=ws')
    assert.notEqual(ack2?.branch, invite.branch, 'a 2xx ACK is a transaction of its own')
    assert.equal(bye?.method, 'BYE')
    assert.equal(bye?.cseq, invite.cseq + 1)
    assert.equal(bye?.to.tag, ok.to.tag)
  })

  it('helpers: name-addr, SIP URI parts, Via branch, Reason cause', () => {
    assert.deepEqual(parseNameAddr('sip:a@b.org;tag=x'), { displayName: '', uri: 'sip:a@b.org', tag: 'x' })
    assert.deepEqual(parseNameAddr('"A <odd>" <sip:a@b.org>'), { displayName: 'A <odd>', uri: 'sip:a@b.org' })
    assert.deepEqual(sipUriParts('sip:12D3KooWX@PeerLine.Invalid;transport=ws'), { user: '12D3KooWX', host: 'peerline.invalid' })
    assert.deepEqual(sipUriParts('sips:bob%40x@example.org:5061'), { user: 'bob@x', host: 'example.org' })
    assert.equal(sipUriParts('tel:+123'), undefined)
    assert.equal(viaBranch('SIP/2.0/WS h;received=1.2.3.4;branch=z9hG4bKa;rport'), 'z9hG4bKa')
    assert.equal(viaBranch('SIP/2.0/WS h'), '')
    assert.equal(reasonCause('Q.850;cause=16, SIP;cause=603;text="Decline"'), 603)
    assert.equal(reasonCause('SIP ;cause=200; text="x"'), 200)
    assert.equal(reasonCause(undefined), undefined)
  })
})
