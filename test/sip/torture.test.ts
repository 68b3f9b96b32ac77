/**
 * RFC 4475 "SIP Torture Test Messages" against Peerline's SIP parser, its
 * framing path (bytes in frames, as streams bring them) and the routing
 * proxy: every valid message is read and its routing fields are right; every
 * invalid request is refused with the status the RFC asks for, so the proxy
 * can answer it; invalid responses are dropped; nothing throws anything else.
 * The last suite sends some of them over a real SIP stream to a real device.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  branchKey, buildResponse, encodeFrame, encodeHello, FrameDecoder, NO_CERTIFICATE, parseSipBytes, parseSipMessage, SipTransport, transactionKey
} from '../../shared/sip/index.ts'
import type { IncomingMessage, SipMessage, SipTransportComponents } from '../../shared/sip/index.ts'
import type { SipLink } from '../../shared/sip/link.ts'
import type { StoredIdentity } from '../../shared/identity/index.ts'
import type { Overlay } from '../../shared/overlay/index.ts'
import { fixtureNames, rfc4475 } from '../helpers/rfc4475.ts'
import { newIdentity, startDevice } from '../helpers/overlay.ts'
import { spawnJoinedPair } from '../helpers/supernode-process.ts'
import type { SupernodeProcess } from '../helpers/supernode-process.ts'
import { nextEvent, openRawSipStream, rawRequest, startPhoneDevice, stopDevice } from '../helpers/sip.ts'
import type { Device } from '../helpers/sip.ts'

/** What the RFC expects of each message: read, refused with a status that is sent back, or refused and dropped. */
type Outcome = { accept: (m: SipMessage) => void } | { status: number } | 'dropped'

const EXPECTED: Record<string, Outcome> = {
  // §3.1.1 valid messages
  wsinv: {
    accept: m => {
      assert.equal(m.method, 'INVITE')
      assert.equal(m.uri, 'sip:vivekg@chair-dnrc.example.com;unknownparam')
      // LWS before ';' of an addr-spec and around '=' of its tag (§3.1.1.1)
      assert.deepEqual(m.to, { displayName: '', uri: 'sip:vivekg@chair-dnrc.example.com', tag: '1918181833n' })
      assert.deepEqual(m.from, { displayName: 'J Rosenberg \\"', uri: 'sip:jdrosen@example.com', tag: '98asjd8' })
      assert.equal(m.callId, 'wsinv.ndaksdj@192.0.2.1')
      assert.equal(m.cseq, 9)
      assert.equal(m.cseqMethod, 'INVITE')
      assert.equal(m.branch, '390skdjuw')
      assert.equal(m.sentBy, '192.0.2.2')
      assert.equal(m.headers.filter(h => h.name === 'via').length, 2)
      assert.equal(m.headers.find(h => h.name === 'newfangledheader')?.value, 'newfangled value continued newfangled value')
      assert.equal(m.bodyBytes.byteLength, 150)
    }
  },
  intmeth: {
    accept: m => {
      assert.equal(m.method, "!interesting-Method0123456789_*+`.%indeed'~")
      assert.equal(m.uri, "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com")
      assert.equal(m.to.displayName, 'BEL:\x07 NUL:\x00 DEL:\x7f')
      assert.equal(m.to.uri, "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com")
      assert.equal(m.from.displayName, "token1~` token2'+_ token3*%!.-")
      assert.equal(m.from.tag, "_token~1'+`*%!-.")
      assert.equal(m.callId, "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
      assert.equal(m.cseq, 139122385)
      assert.equal(m.branch, "z9hG4bK-.!%66*_+`'~")
      assert.equal(m.headers.find(h => h.name === "extensionheader-!.%*+_`'~")?.value, '\ufeff大停電')
    }
  },
  esc01: {
    accept: m => {
      assert.equal(m.uri, 'sip:sips%3Auser%40example.com@example.net')
      assert.equal(m.to.uri, 'sip:%75se%72@example.com')
      assert.equal(m.from.uri, 'sip:I%20have%20spaces@example.net')
      assert.equal(m.callId, 'esc01.239409asdfakjkn23onasd0-3234')
    }
  },
  escnull: { accept: m => { assert.equal(m.method, 'REGISTER'); assert.equal(m.to.uri, 'sip:null-%00-null@example.com') } },
  esc02: {
    accept: m => {
      assert.equal(m.method, 'RE%47IST%45R')
      assert.equal(m.cseqMethod, 'RE%47IST%45R')
      assert.equal(m.to.displayName, '%Z%45')
      assert.equal(m.branch, 'z9hG4bK209%fzsnel234')
    }
  },
  lwsdisp: { accept: m => { assert.deepEqual(m.from, { displayName: 'caller', uri: 'sip:caller@example.com', tag: '323' }) } },
  longreq: {
    accept: m => {
      assert.equal(m.to.displayName, `I have a user name of ${'extreme'.repeat(10)} proportion`)
      assert.equal(m.from.uri, `sip:${'amazinglylongcallername'.repeat(5)}@example.net`)
      assert.equal(m.headers.filter(h => h.name === 'via').length, 34)
      assert.equal(m.sentBy, 'sip33.example.com')
      assert.equal(m.bodyBytes.byteLength, 150)
    }
  },
  dblreq: {
    accept: m => {
      // the INVITE after the REGISTER's Content-Length is not part of it (§3.1.1.8)
      assert.equal(m.method, 'REGISTER')
      assert.equal(m.body, '')
      assert.equal(m.callId, 'dblreq.0ha0isndaksdj99sdfafnl3lk233412')
      assert.ok(!m.text.includes('INVITE'))
    }
  },
  semiuri: { accept: m => { assert.equal(m.uri, 'sip:user;par=u%40example.net@example.com') } },
  transports: { accept: m => { assert.equal(m.branch, 'z9hG4bKkdjuw'); assert.equal(m.sentBy, 't1.example.com') } },
  mpart01: {
    accept: m => {
      assert.equal(m.method, 'MESSAGE')
      // the binary part is kept byte for byte (§3.1.1.11); Content-Length counts bytes
      assert.equal(m.bodyBytes.byteLength, 527)
      assert.throws(() => new TextDecoder('utf-8', { fatal: true }).decode(m.bodyBytes))
      assert.equal(m.body.length, 527, 'Latin-1: one character per byte')
      assert.ok(m.body.endsWith('--7a9cbec02ceef655--\r\n'))
      assert.equal(m.sentBy, '127.0.0.1:5070')
    }
  },
  unreason: { accept: m => { assert.equal(m.status, 200); assert.equal(m.reason, '= 2**3 * 5**2 но сто девяносто девять - простое'); assert.equal(m.method, 'INVITE') } },
  noreason: { accept: m => { assert.equal(m.status, 100); assert.equal(m.reason, '') } },
  // §3.1.2 invalid messages
  badinv01: { status: 400 },
  clerr: { status: 400 },
  ncl: { status: 400 },
  scalar02: { status: 400 },
  scalarlg: 'dropped',
  quotbal: { status: 400 },
  ltgtruri: { status: 400 },
  lwsruri: { status: 400 },
  lwsstart: { status: 400 },
  trws: { status: 400 },
  escruri: { status: 400 },
  baddate: { status: 400 },
  regbadct: { status: 400 },
  badaspec: { status: 400 },
  baddn: { status: 400 },
  badvers: { status: 505 },
  mismatch01: { status: 400 },
  mismatch02: { status: 400 },
  bigcode: 'dropped',
  // §3.2 transaction layer: a branch that is only the magic cookie is matched the RFC 2543 way
  badbranch: { accept: m => { assert.equal(m.branch, 'z9hG4bK'); assert.match(branchKey(m), /^2543\|/) } },
  // §3.3 application layer: the parser reads them; the UA (or the proxy's 416) answers
  insuf: { status: 400 },
  unkscm: { accept: m => { assert.equal(m.uri, 'nobodyKnowsThisScheme:totallyopaquecontent') } },
  novelsc: { accept: m => { assert.equal(m.uri, 'soap.beep://192.0.2.103:3002') } },
  unksm2: { accept: m => { assert.equal(m.to.uri, 'isbn:2983792873'); assert.equal(m.from.uri, 'http://www.example.com') } },
  bext01: { accept: m => { assert.equal(m.method, 'OPTIONS') } },
  invut: { accept: m => { assert.equal(m.body, '<audio>\r\n <pcmu port="443"/>\r\n</audio>\r\n') } },
  regaut01: { accept: m => { assert.equal(m.method, 'REGISTER') } },
  multi01: { status: 400 },
  mcl01: { status: 400 },
  bcast: { accept: m => { assert.equal(m.status, 200); assert.equal(m.sentBy, '192.0.2.198') } },
  zeromf: { accept: m => { assert.equal(m.method, 'OPTIONS') } },
  cparam01: { accept: m => { assert.equal(m.method, 'REGISTER') } },
  cparam02: { accept: m => { assert.equal(m.method, 'REGISTER') } },
  regescrt: { accept: m => { assert.equal(m.method, 'REGISTER') } },
  sdp01: { accept: m => { assert.equal(m.method, 'INVITE') } },
  // §3.4 RFC 2543 syntax: no branch, no From tag, no Max-Forwards
  inv2543: { accept: m => { assert.equal(m.branch, ''); assert.equal(m.from.tag, undefined); assert.equal(m.sentBy, 'iftgw.example.com') } }
}

/** The message as the framing path delivers it: framed, split into small chunks, reassembled. */
function throughFrames (bytes: Uint8Array): Uint8Array {
  const framed = encodeFrame(bytes)
  const d = new FrameDecoder()
  const out: Uint8Array[] = []
  for (let i = 0; i < framed.byteLength; i += 7) out.push(...d.push(framed.subarray(i, i + 7)))
  assert.equal(out.length, 1)
  return out[0] as Uint8Array
}

function expectRefused (parse: () => SipMessage, outcome: { status: number } | 'dropped', name: string): void {
  assert.throws(parse, (err: Error & { status?: number, headers?: unknown[] }) => {
    assert.equal(err.name, 'MalformedSipError', `${name}: ${err.stack ?? err.message}`)
    if (outcome === 'dropped') {
      assert.equal(err.status, undefined, `${name} is dropped, not answered (${err.message})`)
    } else {
      assert.equal(err.status, outcome.status, `${name}: ${err.message}`)
      assert.ok(Array.isArray(err.headers) && err.headers.length > 0, `${name}: the headers read, for the answer`)
    }
    return true
  })
}

describe('RFC 4475 torture messages', () => {
  it('has a fixture for every message expected, and an expectation for every fixture', () => {
    assert.deepEqual(fixtureNames(), Object.keys(EXPECTED).sort())
  })

  for (const [name, outcome] of Object.entries(EXPECTED)) {
    it(`${name}: ${typeof outcome === 'object' && 'accept' in outcome ? 'read' : outcome === 'dropped' ? 'dropped' : `answered ${outcome.status}`}`, () => {
      const bytes = rfc4475(name)
      const framed = throughFrames(bytes)
      const asText = new TextDecoder('utf-8', { fatal: true })
      let text: string | undefined
      try { text = asText.decode(bytes) } catch { /* mpart01: only the bytes path can carry it */ }
      if (typeof outcome === 'object' && 'accept' in outcome) {
        outcome.accept(parseSipBytes(bytes))
        outcome.accept(parseSipBytes(framed))
        if (text != null) outcome.accept(parseSipMessage(text))
        // what the proxy answers with is built from what it read
        const m = parseSipBytes(bytes)
        if (m.type === 'request' && m.method !== 'ACK') {
          const answer = parseSipMessage(buildResponse(m, 200))
          assert.equal(answer.callId, m.callId)
          assert.equal(transactionKey(answer), transactionKey(m), 'the answer matches the server transaction')
        }
      } else {
        expectRefused(() => parseSipBytes(bytes), outcome, name)
        expectRefused(() => parseSipBytes(framed), outcome, name)
        if (text != null) expectRefused(() => parseSipMessage(text), outcome, name)
        if (outcome !== 'dropped') {
          // the answer itself parses, with the request's Call-ID and CSeq where it had them
          let headers: Array<{ name: string, value: string }> = []
          try { parseSipBytes(bytes) } catch (err) { headers = (err as { headers: typeof headers }).headers }
          const answer = buildResponse({ headers }, outcome.status)
          assert.match(answer, new RegExp(`^SIP/2\\.0 ${outcome.status} `))
        }
      }
    })
  }
})

const SELF = '12D3KooWSelfSelfSelfSelfSelfSelfSelfSelfSelfSelf'

function fakeLink (remotePeer: string): SipLink & { sent: string[] } {
  const sent: string[] = []
  return { remotePeer, verification: NO_CERTIFICATE, open: true, sent, send: (t: string) => { sent.push(t); return true } } as unknown as SipLink & { sent: string[] }
}

async function startedTransport (): Promise<SipTransport> {
  const overlay = { peerId: SELF, node: { handle: async () => {}, unhandle: async () => {} } }
  const transport = new SipTransport({ identity: { email: 'bob@example.org' } as unknown as StoredIdentity }, { overlay } as unknown as SipTransportComponents)
  await transport.start()
  transport.connect()
  transport.ondata = () => {}
  return transport
}

describe('the routing proxy on torture messages', () => {
  it('answers invalid requests on the stream they came from, drops invalid responses, and keeps going', async () => {
    const transport = await startedTransport()
    const link = fakeLink('12D3KooWMallory')
    const deliver = (name: string): void => { transport['onLinkMessage'](rfc4475(name), link) }
    for (const [name, outcome] of Object.entries(EXPECTED)) {
      if (typeof outcome === 'object' && 'accept' in outcome) continue
      const before = link.sent.length
      deliver(name)
      if (outcome === 'dropped') {
        assert.equal(link.sent.length, before, `${name} is not answered`)
      } else {
        assert.equal(link.sent.length, before + 1, `${name} is answered`)
        assert.match(link.sent.at(-1) as string, new RegExp(`^SIP/2\\.0 ${outcome.status} `), name)
      }
    }
    // a request for this device still goes through to JsSIP
    const got: string[] = []
    transport.ondata = d => { got.push(d) }
    transport['onLinkRequest'](parseSipMessage(invite('z9hG4bKafter', 'after.invalid')), link)
    assert.equal(got.length, 1)
    await transport.stop()
  })

  it('answers a Request-URI of an unknown scheme 416 (RFC 4475 §3.3.2, §3.3.3)', async () => {
    const transport = await startedTransport()
    const link = fakeLink('12D3KooWMallory')
    for (const name of ['unkscm', 'novelsc']) {
      transport['onLinkRequest'](parseSipBytes(rfc4475(name)), link)
      assert.match(link.sent.at(-1) ?? '', /^SIP\/2\.0 416 /, name)
    }
    await transport.stop()
  })

  it('keeps two requests with the same branch but another sent-by apart (RFC 3261 §17.2.3)', async () => {
    const transport = await startedTransport()
    const a = fakeLink('12D3KooWAlice')
    const c = fakeLink('12D3KooWCarol')
    const fromA = parseSipMessage(invite('z9hG4bKsame', 'alice.invalid'))
    const fromC = parseSipMessage(invite('z9hG4bKsame', 'carol.invalid:5060'))
    assert.notEqual(transactionKey(fromA), transactionKey(fromC))
    transport['onLinkRequest'](fromA, a)
    transport['onLinkRequest'](fromC, c)
    // JsSIP answers each: each answer goes back to its own sender
    assert.equal(transport.send(buildResponse(fromA, 486)), true)
    assert.equal(transport.send(buildResponse(fromC, 603)), true)
    assert.deepEqual(a.sent.map(s => s.slice(0, 11)), ['SIP/2.0 486'])
    assert.deepEqual(c.sent.map(s => s.slice(0, 11)), ['SIP/2.0 603'])
    // the same sent-by in another case, or an ACK, is still the same transaction
    const upper = parseSipMessage(invite('z9hG4bKsame', 'ALICE.invalid'))
    assert.equal(transactionKey(upper), transactionKey(fromA))
    const ack = parseSipMessage(invite('z9hG4bKsame', 'alice.invalid').replace(/INVITE/g, 'ACK'))
    assert.equal(transactionKey(ack), transactionKey(fromA))
    const cancel = parseSipMessage(invite('z9hG4bKsame', 'alice.invalid').replace(/INVITE/g, 'CANCEL'))
    assert.notEqual(transactionKey(cancel), transactionKey(fromA))
    assert.equal(branchKey(cancel), branchKey(fromA), 'a CANCEL finds the INVITE it cancels')
    await transport.stop()
  })
})

function invite (branch: string, sentBy: string): string {
  return [
    `INVITE sip:${SELF}@peerline.invalid;transport=ws SIP/2.0`,
    `Via: SIP/2.0/WS ${sentBy};branch=${branch}`,
    'Max-Forwards: 70',
    'To: <sip:bob@example.org>',
    'From: <sip:alice@example.org>;tag=a1',
    'Call-ID: same-branch-test',
    'CSeq: 1 INVITE',
    'Content-Length: 0',
    '',
    ''
  ].join('\r\n')
}

describe('torture messages over a real SIP stream', { timeout: 180_000 }, () => {
  const supernodes: SupernodeProcess[] = []
  let bob: Device | undefined
  let mallory: Overlay | undefined
  let malloryId: StoredIdentity

  before(async () => {
    const [sn1, sn2] = await spawnJoinedPair(supernodes)
    bob = await startPhoneDevice('bob@example.org', [sn2.addr])
    malloryId = await newIdentity('mallory@example.org')
    mallory = await startDevice('mallory@example.org', [sn1.addr], { identity: malloryId })
  })

  after(async () => {
    await stopDevice(bob)
    await mallory?.stop().catch(() => {})
    await Promise.all(supernodes.map(async s => s.kill('SIGKILL')))
  })

  it('a device answers invalid requests 400/505, reads the binary mpart01, drops bad responses, and takes the next message', async () => {
    if (bob == null || mallory == null) throw new Error('not started')
    const raw = await openRawSipStream(mallory, bob.overlay)
    raw.sendFrame(encodeHello({ identityCertificate: malloryId.certificate, deviceCertificate: mallory.deviceEntry().certificate }))
    for (const name of ['scalarlg', 'bigcode', 'badinv01', 'badvers', 'insuf', 'lwsstart', 'mpart01', 'wsinv', 'unkscm']) raw.sendFrame(rfc4475(name))
    const answer = async (callId: string, status: number): Promise<void> => {
      const f = await raw.waitFrame(x => x.includes(callId))
      assert.match(f, new RegExp(`^SIP/2\\.0 ${status} `), callId)
    }
    await answer('badinv01.0ha0isndaksdjasdf3234nas', 400)
    await answer('badvers.31417@c.example.com', 505)
    await answer('CSeq: 193942 INVITE', 400) // insuf has no Call-ID
    await answer('lwsstart.dfknq234oi243099adsdfnawe3@example.com', 400)
    // valid, so read and routed: not for this device (RFC 3261 §16.3 — no open relay)
    await answer('3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..', 404)
    await answer('wsinv.ndaksdj@192.0.2.1', 404)
    await answer('unkscm.nasdfasser0q239nwsdfasdkl34', 416)
    assert.ok(!raw.frames.some(f => f.includes('scalarlg.') || f.includes('bigcode.')), 'responses are not answered')
    // and the device is fine: the next message on the same stream gets through
    const got = nextEvent<IncomingMessage>(bob.phone, 'message:incoming', { match: m => m.body === 'after the torture' })
    raw.sendFrame(rawRequest({ method: 'MESSAGE', uri: 'sip:bob@example.org', from: 'mallory@example.org', to: 'bob@example.org', body: 'after the torture', headers: ['Content-Type: text/plain'] }))
    assert.equal((await got).from.aor, 'mallory@example.org')
    await raw.waitFrame(f => f.startsWith('SIP/2.0 200'))
    assert.equal(raw.closed(), false)
    await raw.stream.close().catch(() => {})
  })
})
