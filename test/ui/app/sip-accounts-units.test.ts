/**
 * Settings → "SIP accounts" (shared/ui/app/components/SipAccounts.tsx): each
 * account's registration state in plain words, problems as alerts and never
 * styled as success, the buttons wired, no password on screen.
 */
import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { AccountUnreachableError, AuthenticationFailedError, RegistrationRejectedError } from '../../../shared/sip/errors.ts'
import { accountStateText } from '../../../shared/ui/app/account-text.ts'
import type { AccountView, DialRoute } from '../../../shared/ui/app/account-text.ts'
import { loadComponents, renderNode } from '../../helpers/render.ts'

const NOW = Date.UTC(2026, 11, 4, 12, 0)

const account = (id: string, status: AccountView['status']): AccountView => ({
  id, address: id, wsUrl: `wss://${id.slice(id.indexOf('@') + 1)}/ws`, authorizationUser: id.slice(0, id.indexOf('@')), status
})

describe('SIP accounts in Settings', () => {
  let SipAccountList: (props: unknown) => unknown
  let RouteChooser: (props: unknown) => unknown

  before(async () => {
    ;({ SipAccountList, RouteChooser } = await loadComponents({
      SipAccountList: 'shared/ui/app/components/SipAccounts.tsx',
      RouteChooser: 'shared/ui/app/components/RouteChooser.tsx'
    }) as { SipAccountList: (props: unknown) => unknown, RouteChooser: (props: unknown) => unknown })
  })

  it('says each state in words; errors name what to do', () => {
    assert.equal(accountStateText({ state: 'registered', reconnectAttempts: 0 }).tone, 'ok')
    assert.equal(accountStateText({ state: 'registering', reconnectAttempts: 0 }).text, 'Registering…')
    assert.equal(accountStateText({ state: 'unregistered', reconnectAttempts: 0 }).text, 'Not registered')
    const auth = accountStateText({ state: 'failed', error: new AuthenticationFailedError('wss://pbx refused the user name "1001" or its password (401 Unauthorized)', 401), reconnectAttempts: 0 })
    assert.equal(auth.tone, 'problem')
    assert.equal(auth.text, 'The SIP server refused the user name or password: check them in Settings → SIP accounts.')
    const lost = accountStateText({ state: 'failed', error: new AccountUnreachableError('Cannot reach wss://pbx.example.com/ws: trying again'), reconnectAttempts: 3, retryAt: NOW + 4_200 }, NOW)
    assert.equal(lost.text, 'The SIP server cannot be reached (Cannot reach wss://pbx.example.com/ws: trying again). Peerline keeps trying. Next attempt in 4 s.')
    assert.match(accountStateText({ state: 'failed', error: new RegistrationRejectedError('The server refused the registration: 404 Not Found', 404), reconnectAttempts: 0 }).text, /404 Not Found/)
    assert.equal(accountStateText({ state: 'failed', reconnectAttempts: 0 }).text, 'Registration failed.')
  })

  it('lists accounts with their state; a failure is an alert with "Try again", never a success style', () => {
    const removed: string[] = []
    const retried: string[] = []
    const accounts = [
      account('1001@pbx.example.com', { state: 'registered', reconnectAttempts: 0 }),
      account('me@sip.example.net', { state: 'failed', error: new AuthenticationFailedError(), reconnectAttempts: 0 })
    ]
    const r = renderNode({ type: SipAccountList, props: { accounts, now: NOW, onRemove: (a: AccountView) => { removed.push(a.id) }, onRegister: (a: AccountView) => { retried.push(a.id) } } })
    assert.match(r.text, /1001@pbx\.example\.com/)
    assert.match(r.text, /Registered: calls and messages to this account ring here/)
    const alerts = r.elements.filter(e => e.props.role === 'alert')
    assert.equal(alerts.length, 1)
    assert.equal(alerts[0]?.props['data-state'], 'failed')
    assert.match(alerts[0]?.text ?? '', /refused the user name or password/)
    assert.doesNotMatch(r.html, /trust-success|class="done"/)
    const buttons = r.elements.filter(e => e.tag === 'button')
    assert.deepEqual(buttons.map(b => b.props['aria-label']), ['Remove 1001@pbx.example.com', 'Register me@sip.example.net again', 'Remove me@sip.example.net'])
    for (const b of buttons) (b.props.onClick as () => void)()
    assert.deepEqual(removed, ['1001@pbx.example.com', 'me@sip.example.net'])
    assert.deepEqual(retried, ['me@sip.example.net'])
    assert.doesNotMatch(r.html, /password=/i)
  })

  it('says what happens without an account', () => {
    const r = renderNode({ type: SipAccountList, props: { accounts: [], onRemove: () => {}, onRegister: () => {} } })
    assert.equal(r.text, 'No SIP account: every call goes through Peerline\'s overlay.')
  })

  it('"Call via …" offers the account first, then the overlay, and says what each means', () => {
    const chosen: DialRoute[] = []
    let cancelled = false
    const routes: DialRoute[] = [{ via: 'account', id: '1001@pbx.example.com', address: '1001@pbx.example.com' }, { via: 'overlay' }]
    const r = renderNode({ type: RouteChooser, props: { target: '1002@pbx.example.com', routes, onChoose: (v: DialRoute) => { chosen.push(v) }, onCancel: () => { cancelled = true } } })
    assert.match(r.text, /^Call 1002@pbx\.example\.com via…/)
    const dialog = r.elements.find(e => e.props.role === 'dialog')
    assert.equal(dialog?.props['aria-labelledby'], 'routes-title')
    const buttons = r.elements.filter(e => e.tag === 'button')
    assert.deepEqual(buttons.map(b => b.text), ['Call via 1001@pbx.example.com', 'Call via Peerline', 'Cancel'])
    assert.match(r.text, /Peerline cannot verify it/)
    for (const b of buttons) (b.props.onClick as () => void)()
    assert.deepEqual(chosen, routes)
    assert.equal(cancelled, true)
  })
})
