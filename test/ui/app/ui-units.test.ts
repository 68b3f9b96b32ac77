/**
 * The PWA UI's pure parts: the error sentence table, verification reasons,
 * formatting, status line text, call outcomes, settings checks and the App
 * reducer. (The screens themselves are driven in Chromium by ui.test.ts.)
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { BadPassphraseError, InvalidAddressError } from '../../../shared/identity/index.ts'
import { NotFoundError, OfflineError } from '../../../shared/overlay/index.ts'
import { AccountUnreachableError, AuthenticationFailedError, CallFailedError, InvalidAccountError } from '../../../shared/sip/errors.ts'
import { formatDuration, formatWhen } from '../../../shared/ui/format.ts'
import { ERROR_SENTENCES, errorMessage, unverifiedReason } from '../../../shared/ui/messages.ts'
import { callOutcome } from '../../../shared/ui/app/calls.ts'
import { backupFileName, checkIceServer, checkNewPassphrase, checkSupernodes, lines } from '../../../shared/ui/app/settings.ts'
import { currentCall, initialState, reducer, ringingCall } from '../../../shared/ui/app/state.ts'
import { statusText } from '../../../shared/ui/app/status.ts'
import type { AppStatus } from '../../../shared/ui/app/services.ts'
import type { Call } from '../../../shared/sip/api.ts'

const PEER_ID = '12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp'

describe('error sentences', () => {
  it('maps the named errors to the product sentences', () => {
    assert.equal(errorMessage(new NotFoundError(), { address: 'bob@example.org' }), 'bob@example.org is not online right now.')
    assert.equal(errorMessage(new OfflineError()), 'You are offline: no supernode connected.')
    assert.equal(errorMessage(new InvalidAddressError('"x" has no @')), 'That is not a valid email address or sip: address.')
    assert.equal(errorMessage(new BadPassphraseError()), 'Wrong passphrase, or the backup file has been changed.')
    assert.match(errorMessage(new CallFailedError('Device X could not be reached'), { address: 'bob@example.org' }) ?? '',
      /^The call to bob@example\.org could not be connected \(Device X could not be reached\)\.$/)
    assert.equal(errorMessage(new AuthenticationFailedError()), 'The SIP server refused the user name or password: check them in Settings → SIP accounts.')
    assert.equal(errorMessage(new AccountUnreachableError('Cannot reach wss://pbx.example.com/ws')), 'The SIP server cannot be reached (Cannot reach wss://pbx.example.com/ws). Peerline keeps trying.')
    assert.equal(errorMessage(new InvalidAccountError('wsUrl', 'The WebSocket URL must start with wss:// (not http://)')), 'The WebSocket URL must start with wss:// (not http://).')
  })

  it('is silent for AbortError, and still says something for unknown errors', () => {
    assert.equal(errorMessage(new DOMException('aborted', 'AbortError')), undefined)
    assert.equal(errorMessage(Object.assign(new Error('x'), { name: 'AbortError' })), undefined)
    assert.equal(errorMessage(new Error('disk on fire.')), 'Something went wrong: disk on fire.')
    assert.equal(errorMessage('plain string'), 'Something went wrong: plain string.')
    assert.equal(errorMessage(undefined), 'Something went wrong: undefined.')
  })

  it('every sentence is a full sentence', () => {
    for (const [name, sentence] of Object.entries(ERROR_SENTENCES)) {
      const text = typeof sentence === 'function' ? sentence({ address: 'bob@example.org' }, { name, message: '' }) : sentence
      assert.match(text, /^[A-Zb].*[.]$/, name)
    }
  })

  it('explains why a party is not verified', () => {
    assert.equal(unverifiedReason('WrongEmailError'), 'the certificate is for another address')
    assert.equal(unverifiedReason(undefined), 'identity not proven')
    assert.equal(unverifiedReason('SomethingNewError'), 'identity not proven (SomethingNewError)')
  })
})

describe('formatting', () => {
  it('formats durations as mm:ss, h:mm:ss past an hour', () => {
    assert.equal(formatDuration(0), '00:00')
    assert.equal(formatDuration(999), '00:00')
    assert.equal(formatDuration(61_000), '01:01')
    assert.equal(formatDuration(3_600_000 + 62_000), '1:01:02')
    assert.equal(formatDuration(-5), '00:00')
    assert.equal(formatDuration(Number.NaN), '00:00')
  })

  it('shows only the time for today and adds the date otherwise', () => {
    const now = new Date(2025, 5, 15, 18, 0).getTime()
    assert.doesNotMatch(formatWhen(new Date(2025, 5, 15, 9, 5).getTime(), now, 'en-GB'), /Jun/)
    assert.match(formatWhen(new Date(2025, 2, 3, 9, 5).getTime(), now, 'en-GB'), /3 Mar, 09:05/)
    assert.match(formatWhen(new Date(2024, 2, 3, 9, 5).getTime(), now, 'en-GB'), /2024/)
  })
})

describe('status line', () => {
  const s = (patch: Partial<AppStatus>): AppStatus => ({ connected: true, supernodes: 2, reachable: true, network: true, ...patch })
  it('says Online only when connected (and reachable once there is an identity)', () => {
    assert.deepEqual(statusText(s({}), 'ready', true), { text: 'Online — connected to 2 supernodes', online: true })
    assert.deepEqual(statusText(s({ supernodes: 1, reachable: false }), 'onboarding', false), { text: 'Online — connected to 1 supernode', online: true })
    assert.match(statusText(s({ reachable: false }), 'ready', true).text, /^Connecting — connected to 2 supernodes, publishing/)
    assert.match(statusText(s({ connected: false }), 'ready', true).text, /^Offline — reconnecting/)
    assert.match(statusText(s({ network: false }), 'ready', true).text, /^Offline — this device has no network connection/)
  })
})

describe('call outcomes for the history', () => {
  it('maps end reasons per direction', () => {
    assert.equal(callOutcome('outgoing', 'hangup', true), 'answered')
    assert.equal(callOutcome('incoming', 'remote-cancelled', false), 'missed')
    assert.equal(callOutcome('incoming', 'no-answer', false), 'missed')
    assert.equal(callOutcome('outgoing', 'no-answer', false), 'no-answer')
    assert.equal(callOutcome('outgoing', 'declined', false), 'declined')
    assert.equal(callOutcome('incoming', 'declined', false), 'declined')
    assert.equal(callOutcome('outgoing', 'cancelled', false), 'cancelled')
    assert.equal(callOutcome('outgoing', 'busy', false), 'busy')
    assert.equal(callOutcome('outgoing', 'unreachable', false), 'failed')
    assert.equal(callOutcome('incoming', 'answered-elsewhere', false), 'answered')
  })
})

describe('settings checks', () => {
  it('accepts supernode multiaddrs with a peer id and names a bad one', () => {
    const good = `/ip4/127.0.0.1/tcp/9001/ws/p2p/${PEER_ID}`
    assert.deepEqual(checkSupernodes(`  ${good}\n\n${good}\n`), { ok: true, value: [good] })
    assert.deepEqual(checkSupernodes(''), { ok: true, value: [] })
    const noPeer = checkSupernodes('/ip4/127.0.0.1/tcp/9001/ws')
    assert.equal(noPeer.ok, false)
    assert.match(noPeer.ok ? '' : noPeer.error, /\/ip4\/127\.0\.0\.1\/tcp\/9001\/ws.*p2p/)
    assert.equal(checkSupernodes('not a multiaddr').ok, false)
  })

  it('checks STUN/TURN URLs and TURN credentials', () => {
    assert.deepEqual(checkIceServer('stun:stun.example.org:3478', '', ''), { ok: true, value: [{ urls: ['stun:stun.example.org:3478'] }] })
    assert.deepEqual(checkIceServer('', 'x', 'y'), { ok: true, value: [] })
    assert.equal(checkIceServer('http://turn.example.org', '', '').ok, false)
    assert.equal(checkIceServer('turn:turn.example.org', '', '').ok, false)
    assert.deepEqual(checkIceServer('turn:turn.example.org\nturns:turn.example.org:5349', ' u ', 'p'),
      { ok: true, value: [{ urls: ['turn:turn.example.org', 'turns:turn.example.org:5349'], username: 'u', credential: 'p' }] })
  })

  it('checks backup passphrases and names the file', () => {
    assert.equal(checkNewPassphrase('short', 'short', 8).ok, false)
    assert.equal(checkNewPassphrase('long enough', 'long enougH', 8).ok, false)
    assert.deepEqual(checkNewPassphrase('long enough', 'long enough', 8), { ok: true, value: 'long enough' })
    assert.equal(backupFileName('alice@example.org'), 'peerline-identity-alice-example.org.json')
    assert.deepEqual(lines(' a \r\n\nb\na'), ['a', 'b'])
  })
})

describe('App reducer', () => {
  const status: AppStatus = { connected: false, supernodes: 0, reachable: false, network: true }
  const fakeCall = (id: string, state: Call['state']): Call => ({ id, state } as unknown as Call)

  it('moves from loading to onboarding or ready', () => {
    const s0 = initialState({ route: 'home' }, status)
    assert.equal(s0.phase, 'loading')
    assert.equal(reducer(s0, { type: 'started', me: undefined }).phase, 'onboarding')
    const me = { email: 'alice@example.org', displayName: 'Alice' }
    assert.deepEqual(reducer(s0, { type: 'started', me }).me, me)
  })

  it('tracks calls: ringing first incoming, current first other', () => {
    let s = initialState({ route: 'home' }, status)
    const ring = fakeCall('in-1', 'incoming')
    const out = fakeCall('out-1', 'active')
    s = reducer(s, { type: 'call', call: ring })
    s = reducer(s, { type: 'call', call: ring })
    s = reducer(s, { type: 'call', call: out })
    assert.equal(s.calls.length, 2)
    assert.equal(ringingCall(s), ring)
    assert.equal(currentCall(s), out)
    s = reducer(s, { type: 'call-ended', call: out })
    assert.equal(currentCall(s), undefined)
    assert.equal(reducer(s, { type: 'call', call: fakeCall('x', 'ended') }).calls.length, 1, 'ended calls are not added')
  })

  it('keeps only the newest dial and one alert, cleared on navigation', () => {
    let s = initialState({ route: 'home' }, status)
    const first = new AbortController()
    const second = new AbortController()
    s = reducer(s, { type: 'dialing', dialing: { target: 'a@example.org', controller: first } })
    s = reducer(s, { type: 'dialing', dialing: { target: 'b@example.org', controller: second } })
    s = reducer(s, { type: 'dialing-done', controller: first })
    assert.equal(s.dialing?.target, 'b@example.org', 'a finished older dial does not clear the newer one')
    s = reducer(s, { type: 'dialing-done', controller: second })
    assert.equal(s.dialing, undefined)
    s = reducer(s, { type: 'alert', text: 'one' })
    const id = s.alert?.id
    s = reducer(s, { type: 'alert', text: 'two' })
    assert.notEqual(s.alert?.id, id)
    s = reducer(s, { type: 'route', route: { route: 'settings' } })
    assert.equal(s.alert, undefined)
  })

  it('counts unread messages per peer until read', () => {
    let s = initialState({ route: 'home' }, status)
    s = reducer(s, { type: 'unread', peer: 'bob@example.org' })
    s = reducer(s, { type: 'unread', peer: 'bob@example.org' })
    assert.equal(s.unread['bob@example.org'], 2)
    s = reducer(s, { type: 'read', peer: 'bob@example.org' })
    assert.deepEqual(s.unread, {})
  })
})
