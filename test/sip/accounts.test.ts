/**
 * SIP-over-WebSocket accounts (RFC 7118) against a real Kamailio on
 * loopback (test/sip/fixtures/kamailio-accounts.cfg: digest auth, registrar,
 * proxy), with Node's own WebSocket under JsSIP's WebSocketInterface. The
 * peer connection is the fake of fake-webrtc.ts (real SDP, no media).
 * Without Kamailio the Kamailio part skips, except under CI=true, where it fails.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import {
  accountStore, accountTarget, AccountUnreachableError, assertedCaller, AuthenticationFailedError, InvalidAccountError, routeFor, sipAccount, validateAccount
} from '../../shared/sip/index.ts'
import type { AccountStatus, Call, CallState, IncomingMessage, JsSipSocket, SipAccount, SipAccountSettings } from '../../shared/sip/index.ts'
import { WebSocketInterface } from 'jssip'
import { memoryStorage } from '../../shared/store/index.ts'
import { eventually } from '../helpers/eventually.ts'
import { expectRejects } from '../helpers/assert.ts'
import { fakeMedia, installFakeWebRtc } from '../helpers/fake-webrtc.ts'
import { freePort, kamailioAvailable, startKamailio } from '../helpers/kamailio.ts'
import type { KamailioProcess } from '../helpers/kamailio.ts'
import { nextEvent } from '../helpers/sip.ts'
import { SipAccounts } from '../../shared/ui/app/accounts.ts'

installFakeWebRtc()

const CONFIG = join(import.meta.dirname, 'fixtures', 'kamailio-accounts.cfg')
const PASSWORDS = { ALICE_PASSWORD: 'alice-Secret-1', BOB_PASSWORD: 'bob-Secret-2' }
const kamailio = kamailioAvailable()
const skip = kamailio.ok || process.env.CI === 'true' ? false : `needs Kamailio: ${kamailio.ok ? '' : kamailio.reason}`

function expectInvalid (input: Partial<SipAccountSettings>, field: string, message: RegExp): void {
  assert.throws(() => validateAccount({ address: 'alice@pbx.test', wsUrl: 'wss://pbx.test/ws', password: 'x', ...input } as SipAccountSettings), (err: Error) => {
    assert.equal(err.name, InvalidAccountError.name)
    assert.equal((err as InvalidAccountError).field, field)
    assert.match(err.message, message)
    return true
  })
}

describe('SIP account settings', () => {
  it('validates and normalises an account as typed', () => {
    const a = validateAccount({ address: ' sip:1001@PBX.example.com ', wsUrl: 'wss://pbx.example.com:8089/ws', password: 's3cret', outboundProxy: 'edge.example.com;transport=ws', registrar: 'sip:pbx.example.com' })
    assert.equal(a.address, '1001@pbx.example.com')
    assert.equal(a.id, '1001@pbx.example.com')
    assert.equal(a.authorizationUser, '1001')
    assert.equal(a.wsUrl, 'wss://pbx.example.com:8089/ws')
    assert.equal(a.outboundProxy, 'sip:edge.example.com;transport=ws')
    assert.equal(a.registrar, 'sip:pbx.example.com')
    assert.equal(validateAccount({ address: 'a@pbx.test', wsUrl: 'ws://127.0.0.1:5066', password: 'x', authorizationUser: 'auth-a' }).authorizationUser, 'auth-a')
  })

  it('names the field that is wrong, in words', () => {
    expectInvalid({ wsUrl: 'not a url' }, 'wsUrl', /not a URL/)
    expectInvalid({ wsUrl: 'https://pbx.test/ws' }, 'wsUrl', /must start with wss:\/\//)
    expectInvalid({ wsUrl: 'ws://pbx.test/ws' }, 'wsUrl', /unencrypted/)
    expectInvalid({ wsUrl: 'wss://me:pw@pbx.test/ws' }, 'wsUrl', /own fields/)
    expectInvalid({ address: 'pbx.test' }, 'address', /no user part/)
    expectInvalid({ address: '' }, 'address', /Enter the account's address/)
    expectInvalid({ address: 'a b@pbx.test' }, 'address', /not valid/)
    expectInvalid({ password: '' }, 'password', /password/)
    expectInvalid({ authorizationUser: 'a"b' }, 'authorizationUser', /quotes/)
    expectInvalid({ outboundProxy: 'sip:<x>' }, 'outboundProxy', /not a SIP URI/)
  })

  it('routes by account domain, the overlay otherwise; both when both can apply', () => {
    const pbx = validateAccount({ address: '1001@pbx.example.com', wsUrl: 'wss://pbx.example.com/ws', password: 'x' })
    const other = validateAccount({ address: 'me@sip.example.net', wsUrl: 'wss://sip.example.net/ws', password: 'x' })
    assert.deepEqual(routeFor('bob@example.org', [pbx, other]), [{ via: 'overlay' }])
    assert.deepEqual(routeFor('sip:1002@PBX.example.com', [pbx, other]), [{ via: 'account', account: pbx }, { via: 'overlay' }])
    assert.deepEqual(routeFor('1002', [pbx, other]), [{ via: 'account', account: pbx }, { via: 'account', account: other }])
    assert.deepEqual(routeFor('1002', []), [])
    assert.equal(accountTarget('1002', pbx), '1002@pbx.example.com')
    assert.equal(accountTarget('sip:x@elsewhere.example', pbx), 'x@elsewhere.example')
  })

  it('keeps the accounts in the device storage it is given, skipping entries that no longer validate', async () => {
    const storage = memoryStorage(JSON.stringify([{ address: 'broken', wsUrl: 'x', password: '' }]))
    const store = accountStore(storage)
    assert.deepEqual(await store.list(), [])
    await store.add({ address: 'a@pbx.test', wsUrl: 'wss://pbx.test/ws', password: 'pw' })
    await store.add({ address: 'a@pbx.test', wsUrl: 'wss://pbx.test/ws2', password: 'pw2' })
    await store.add({ address: 'b@pbx.test', wsUrl: 'wss://pbx.test/ws', password: 'pw' })
    const list = await store.list()
    assert.deepEqual(list.map(a => [a.id, a.wsUrl, a.password]), [['a@pbx.test', 'wss://pbx.test/ws2', 'pw2'], ['b@pbx.test', 'wss://pbx.test/ws', 'pw']])
    await store.remove('a@pbx.test')
    assert.deepEqual((await store.list()).map(a => a.id), ['b@pbx.test'])
    await assert.rejects(store.add({ address: 'c@pbx.test', wsUrl: 'http://x', password: 'p' }), { name: 'InvalidAccountError' })
  })

  it('takes the caller id from P-Asserted-Identity, else From', () => {
    const from = { display_name: 'Claimed', uri: { toString: () => 'sip:claimed@pbx.test' } }
    assert.deepEqual(assertedCaller({ from, getHeader: () => undefined }), { aor: 'claimed@pbx.test', displayName: 'Claimed' })
    assert.deepEqual(assertedCaller({ from, getHeader: h => h === 'P-Asserted-Identity' ? '"Reception" <sip:100@pbx.test>, <tel:+4930123>' : undefined }), { aor: '100@pbx.test', displayName: 'Reception' })
    assert.deepEqual(assertedCaller({ from, getHeader: () => '<tel:+4930123>' }), { aor: '+4930123', displayName: 'Claimed' })
  })
})

describe('SIP accounts on a real Kamailio', { timeout: 120_000, skip }, () => {
  let kam: KamailioProcess | undefined
  const accounts: SipAccount[] = []
  let alice: SipAccount
  let bob: SipAccount
  const aliceMedia = fakeMedia()
  const bobMedia = fakeMedia()

  const account = (address: string, password: string, wsUrl: string, media = fakeMedia()): SipAccount => {
    const a = sipAccount({
      settings: validateAccount({ address, wsUrl, password }),
      // quick reconnects on loopback (JsSIP: whole seconds)
      reconnectMinS: 1,
      reconnectMaxS: 2,
      registerTimeoutMs: 5_000,
      noAnswerTimeoutMs: 20_000
    }, { media })
    accounts.push(a)
    return a
  }

  const until = async (a: SipAccount, state: AccountStatus['state'], timeoutMs = 10_000): Promise<AccountStatus> => {
    if (a.state === state) return a.status
    return await nextEvent<AccountStatus>(a, 'status', { timeoutMs, match: s => s.state === state })
  }

  before(async () => {
    assert.ok(kamailio.ok, kamailio.ok ? '' : kamailio.reason)
    kam = await startKamailio(kamailio, { config: CONFIG, vars: PASSWORDS })
    alice = account('alice@pbx.test', PASSWORDS.ALICE_PASSWORD, kam.wsUrl, aliceMedia as any)
    bob = account('bob@pbx.test', PASSWORDS.BOB_PASSWORD, kam.wsUrl, bobMedia as any)
  })

  after(async () => {
    await Promise.all(accounts.map(async a => { await a.stop().catch(() => {}) }))
    await kam?.stop()
  })

  it('two accounts register with their digest credentials', async () => {
    const seen: string[] = []
    alice.addEventListener('status', e => { seen.push(e.detail.state) })
    const registered = Promise.all([until(alice, 'registered'), until(bob, 'registered')])
    await alice.start()
    await bob.start()
    await registered
    assert.deepEqual(seen, ['registering', 'registered'])
    assert.equal(alice.status.error, undefined)
  })

  it('exchanges SIP MESSAGEs both ways; the sender is what the server says, via the account', async () => {
    const toBob = nextEvent<IncomingMessage>(bob, 'message:incoming')
    const sent = await alice.sendMessage('bob@pbx.test', 'hi Bob, through the PBX', { signal: AbortSignal.timeout(10_000) })
    assert.equal(sent.to, 'bob@pbx.test')
    assert.equal(sent.deliveredTo, 1)
    const got = await toBob
    assert.equal(got.body, 'hi Bob, through the PBX')
    assert.match(got.contentType, /^text\/plain/)
    assert.equal(got.from.aor, 'alice@pbx.test')
    assert.equal(got.from.authenticated, false)
    assert.equal(got.from.via, 'bob@pbx.test')
    assert.equal(got.from.identityKey, undefined)

    const toAlice = nextEvent<IncomingMessage>(alice, 'message:incoming')
    // an extension in the account's domain
    await bob.sendMessage('alice', 'hi Alice 👋')
    const back = await toAlice
    assert.equal(back.body, 'hi Alice 👋')
    assert.equal(back.from.aor, 'bob@pbx.test')
    assert.equal(back.from.via, 'alice@pbx.test')
  })

  it('a message to nobody registered is refused with the server\'s status', async () => {
    const err = await expectRejects(alice.sendMessage('nobody@pbx.test', 'anyone?'), 'MessageRejectedError')
    assert.equal((err as { status?: number }).status, 480)
  })

  it('calls through the server: ringing, answered, DTMF, hold, video, mute, hung up; the caller is marked server-asserted', async () => {
    const incoming = nextEvent<Call>(bob, 'call:incoming')
    const call = await alice.call('bob')
    const states: CallState[] = [call.state]
    call.addEventListener('state', e => { states.push(e.detail) })
    assert.equal(call.remote.aor, 'bob@pbx.test')
    assert.equal(call.remote.via, 'alice@pbx.test')
    const bobCall = await incoming
    assert.equal(bobCall.remote.aor, 'alice@pbx.test')
    assert.equal(bobCall.remote.authenticated, false)
    assert.equal(bobCall.remote.via, 'bob@pbx.test')
    await bobCall.answer()
    await eventually(() => call.state === 'active', { what: 'caller active', timeoutMs: 10_000 })
    assert.deepEqual(states, ['calling', 'ringing', 'active'])
    // the same controls as an overlay call: DTMF, hold and video by re-INVITE through Kamailio's record-route
    const dtmf = nextEvent<{ tone: string, direction: string }>(call, 'dtmf')
    call.sendDtmf('1#')
    assert.deepEqual(await dtmf, { tone: '1', direction: 'out' })
    await call.setHeld(true)
    assert.equal(call.state, 'held')
    await eventually(() => bobCall.state === 'held', { what: 'bob sees the hold', timeoutMs: 10_000 })
    await call.setHeld(false)
    await eventually(() => bobCall.state === 'active', { what: 'bob sees the resume', timeoutMs: 10_000 })
    await call.setVideo(true)
    assert.equal(call.video, true)
    call.setMuted(true)
    assert.equal(call.muted, true)
    const ended = nextEvent(bobCall, 'ended')
    call.hangup()
    await ended
    assert.equal(bobCall.end?.reason, 'remote-hangup')
    assert.deepEqual(alice.calls(), [])
  })

  it('the app\'s SipAccounts: a stored account starts, rings through the app\'s hooks, and routes by domain', async () => {
    assert.ok(kam != null)
    const storage = memoryStorage()
    const messages: IncomingMessage[] = []
    let changes = 0
    const app = new SipAccounts({
      storage,
      iceServers: async () => [],
      getUserMedia: fakeMedia().getUserMedia,
      call: () => {},
      message: m => { messages.push(m) },
      changed: () => { changes++ },
      error: err => { assert.fail(err as Error) }
    })
    await accountStore(storage).add({ address: 'alice@pbx.test', wsUrl: kam.wsUrl, password: PASSWORDS.ALICE_PASSWORD })
    await app.start()
    try {
      await eventually(() => app.list()[0]?.status.state === 'registered', { what: 'the stored account registered' })
      assert.ok(changes >= 1)
      assert.equal((app.list()[0] as unknown as { password?: string }).password, undefined)
      assert.deepEqual(app.routes('sip:bob@pbx.test'), [{ via: 'account', id: 'alice@pbx.test', address: 'alice@pbx.test' }, { via: 'overlay' }])
      assert.deepEqual(app.routes('bob@example.org'), [{ via: 'overlay' }])
      const { account, aor } = app.resolve('bob')
      assert.equal(account?.id, 'alice@pbx.test')
      assert.equal(aor, 'bob@pbx.test')
      assert.equal(app.resolve('bob@pbx.test', { via: 'overlay' }).account, undefined)
      assert.throws(() => app.resolve('bob', { via: 'account', id: 'gone@pbx.test', address: 'gone@pbx.test' }), { name: 'InvalidAccountError' })
      // Kamailio forks to both of alice's registrations: this one hands it to the app
      await bob.sendMessage('alice', 'to every alice')
      await eventually(() => messages.length === 1, { what: 'the message through the app hook' })
      assert.equal(messages[0]?.from.via, 'alice@pbx.test')
      await app.remove('alice@pbx.test')
      assert.deepEqual(app.list(), [])
      assert.deepEqual(await accountStore(storage).list(), [])
    } finally {
      await app.stop()
    }
  })

  it('an outbound proxy goes out as a preloaded Route on the account\'s requests', async () => {
    assert.ok(kam != null)
    const sent: string[] = []
    const proxy = `sip:127.0.0.1:${kam.port};transport=ws`
    const viaProxy = sipAccount({ settings: validateAccount({ address: 'alice@pbx.test', wsUrl: kam.wsUrl, password: PASSWORDS.ALICE_PASSWORD, outboundProxy: proxy }) }, {
      media: fakeMedia(),
      socket: url => {
        const ws = new WebSocketInterface(url) as unknown as JsSipSocket & { send: (m: string) => boolean }
        const send = ws.send.bind(ws)
        ws.send = (m: string) => { sent.push(m); return send(m) }
        return ws
      }
    })
    accounts.push(viaProxy)
    const registered = until(viaProxy, 'registered')
    await viaProxy.start()
    await registered
    const register = sent.find(m => m.startsWith('REGISTER '))
    assert.ok(register !== undefined)
    assert.match(register, new RegExp(`^Route: <${proxy.replace(/[.;]/g, '\\$&')};lr>\r$`, 'm'))
    await viaProxy.stop()
  })

  it('a wrong password gives AuthenticationFailedError and state failed, and stays failed', async () => {
    assert.ok(kam != null)
    const mallory = account('alice@pbx.test', 'not-the-password', kam.wsUrl)
    const failed = until(mallory, 'failed')
    await mallory.start()
    const status = await failed
    assert.equal(status.error?.name, AuthenticationFailedError.name)
    assert.match(status.error?.message ?? '', /refused the user name "alice" or its password \(401/)
    await new Promise(resolve => setTimeout(resolve, 1_500))
    assert.equal(mallory.state, 'failed')
    assert.equal(mallory.status.retryAt, undefined)
    // the proxy asks for credentials on a new MESSAGE too (407)
    const err = await expectRejects(mallory.sendMessage('bob', 'let me in'), AuthenticationFailedError.name)
    assert.equal((err as { status?: number }).status, 407)
    // "Try again" sends the REGISTER once more, and says the same
    const again = nextEvent<AccountStatus>(mallory, 'status', { match: st => st.state === 'failed' })
    mallory.register()
    assert.equal(mallory.state, 'registering')
    assert.equal((await again).error?.name, AuthenticationFailedError.name)
    await mallory.stop()
    assert.equal(mallory.state, 'unregistered')
    // the real alice is untouched
    assert.equal(alice.state, 'registered')
  })

  it('a server nobody listens on gives AccountUnreachableError and reconnect attempts', async () => {
    const port = await freePort()
    const lost = account('carol@pbx.test', 'x', `ws://127.0.0.1:${port}`)
    const failed = until(lost, 'failed')
    await lost.start()
    const status = await failed
    assert.equal(status.error?.name, AccountUnreachableError.name)
    assert.match(status.error?.message ?? '', new RegExp(`127\\.0\\.0\\.1:${port}`))
    await eventually(() => lost.status.reconnectAttempts >= 1, { what: 'a reconnect attempt', timeoutMs: 8_000 })
    await lost.stop()
  })

  it('Kamailio killed: unreachable and reconnecting; back on the same port: registered again, messages flow', async () => {
    assert.ok(kam != null && kamailio.ok)
    const port = kam.port
    // an account whose password was refused keeps saying so, and does not try it again on reconnect
    const refused = account('bob@pbx.test', 'wrong', kam.wsUrl)
    const refusedStates: string[] = []
    const failedAuth = until(refused, 'failed')
    await refused.start()
    assert.equal((await failedAuth).error?.name, AuthenticationFailedError.name)
    refused.addEventListener('status', e => { refusedStates.push(e.detail.state) })
    const aliceLost = until(alice, 'failed')
    const bobLost = until(bob, 'failed')
    await kam.kill()
    kam = undefined
    for (const s of [await aliceLost, await bobLost]) assert.equal(s.error?.name, AccountUnreachableError.name)
    await eventually(() => alice.status.reconnectAttempts >= 1, { what: 'alice reconnecting', timeoutMs: 8_000 })
    await expectRejects(alice.sendMessage('bob', 'lost?'), AccountUnreachableError.name)

    const back = Promise.all([until(alice, 'registered', 20_000), until(bob, 'registered', 20_000)])
    kam = await startKamailio(kamailio, { config: CONFIG, vars: PASSWORDS, port })
    await back
    const toBob = nextEvent<IncomingMessage>(bob, 'message:incoming')
    await alice.sendMessage('bob', 'back again')
    assert.equal((await toBob).body, 'back again')
    await eventually(() => refused.status.reconnectAttempts === 0, { what: 'the refused account reconnected too', timeoutMs: 10_000 })
    assert.deepEqual(refusedStates, [])
    assert.equal(refused.status.error?.name, AuthenticationFailedError.name)
    await refused.stop()
  })

  it('Kamailio down while an account registers: unreachable, reconnecting, registered once it is back', async () => {
    assert.ok(kam != null && kamailio.ok)
    const port = kam.port
    await alice.stop()
    await kam.kill()
    kam = undefined
    const failed = until(alice, 'failed')
    await alice.start()
    assert.equal(alice.state, 'registering')
    assert.equal((await failed).error?.name, AccountUnreachableError.name)
    await eventually(() => alice.status.reconnectAttempts >= 2, { what: 'two reconnect attempts', timeoutMs: 10_000 })
    const back = until(alice, 'registered', 20_000)
    kam = await startKamailio(kamailio, { config: CONFIG, vars: PASSWORDS, port })
    await back
    assert.equal(alice.status.error, undefined)
  })
})
