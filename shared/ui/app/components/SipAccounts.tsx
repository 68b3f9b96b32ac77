/**
 * Settings → "SIP accounts": ordinary SIP-over-WebSocket accounts (a PBX, a
 * SIP provider) next to Peerline's own addresses. Each shows its
 * registration state in words; the password is kept on this device only.
 */
import { useEffect, useReducer, useState } from 'preact/hooks'
import { errorMessage } from '../../messages.ts'
import { accountStateText } from '../account-text.ts'
import type { AccountView } from '../account-text.ts'
import type { AppServices } from '../services.ts'

export interface SipAccountListProps {
  accounts: AccountView[]
  onRemove: (account: AccountView) => void
  onRegister: (account: AccountView) => void
  /** ms epoch, for "next attempt in …" */
  now?: number
}

/** The accounts and their states (hook-free: unit-tested). */
export function SipAccountList ({ accounts, onRemove, onRegister, now }: SipAccountListProps) {
  if (accounts.length === 0) return <p class="empty-accounts">No SIP account: every call goes through Peerline's overlay.</p>
  return (
    <ul class="account-list">
      {accounts.map(a => {
        const state = accountStateText(a.status, now)
        return (
          <li key={a.id} class="row" data-account={a.id}>
            <span class="grow">
              <strong class="account-address">{a.address}</strong>
              <br /><span class="sub">{a.wsUrl}</span>
              <br />
              {state.tone === 'problem'
                ? <span class="problem account-state" role="alert" data-state={a.status.state}>{state.text}</span>
                : <span class={`sub account-state account-${state.tone}`} data-state={a.status.state}>{state.text}</span>}
            </span>
            {a.status.state === 'failed' && (
              <button type="button" class="btn" aria-label={`Register ${a.address} again`} onClick={() => { onRegister(a) }}>Try again</button>
            )}
            <button type="button" class="btn" aria-label={`Remove ${a.address}`} onClick={() => { onRemove(a) }}>Remove</button>
          </li>
        )
      })}
    </ul>
  )
}

export function SipAccountsSection ({ services }: { services: AppServices }) {
  const [, bump] = useReducer((n: number) => n + 1, 0)
  const [address, setAddress] = useState('')
  const [wsUrl, setWsUrl] = useState('')
  const [password, setPassword] = useState('')
  const [authorizationUser, setAuthorizationUser] = useState('')
  const [outboundProxy, setOutboundProxy] = useState('')
  const [registrar, setRegistrar] = useState('')
  const [outcome, setOutcome] = useState<{ ok: boolean, text: string } | undefined>()
  const [busy, setBusy] = useState(false)
  useEffect(() => {
    const listening = new AbortController()
    services.addEventListener('accounts:change', () => { bump(undefined) }, { signal: listening.signal })
    // "next attempt in …" counts down
    const timer = setInterval(() => { bump(undefined) }, 5_000)
    return () => { listening.abort(); clearInterval(timer) }
  }, [services])

  const add = (e: Event): void => {
    e.preventDefault()
    setBusy(true)
    services.addSipAccount({ address, wsUrl, password, authorizationUser, outboundProxy, registrar }).then(a => {
      setPassword('')
      setOutcome({ ok: true, text: `Added ${a.address}. Addresses @${a.address.slice(a.address.lastIndexOf('@') + 1)} are now called through it.` })
    }, (err: unknown) => { setOutcome({ ok: false, text: errorMessage(err) ?? '' }) }).finally(() => { setBusy(false) })
  }
  const remove = (a: AccountView): void => {
    services.removeSipAccount(a.id).then(() => { setOutcome({ ok: true, text: `Removed ${a.address} and its password from this device.` }) },
      (err: unknown) => { setOutcome({ ok: false, text: errorMessage(err) ?? '' }) })
  }
  const register = (a: AccountView): void => {
    try {
      services.registerSipAccount(a.id)
    } catch (err) {
      setOutcome({ ok: false, text: errorMessage(err) ?? '' })
    }
  }

  return (
    <section class="card stack sip-accounts" aria-labelledby="sip-accounts-title">
      <h2 id="sip-accounts-title">SIP accounts</h2>
      <p class="sub">An account on a PBX or SIP provider with a WebSocket (WSS) interface. Calls to its domain go through it; who calls through it is what that server says, not verified by Peerline. The password stays on this device.</p>
      <SipAccountList accounts={services.sipAccounts()} onRemove={remove} onRegister={register} now={Date.now()} />
      <form class="stack" onSubmit={add} noValidate>
        <label class="field">
          <span>Address (user@domain)</span>
          <input type="text" autoComplete="off" autoCapitalize="off" spellcheck={false} class="account-address-input" value={address} placeholder="1001@pbx.example.com"
            onInput={e => { setAddress(e.currentTarget.value) }} />
        </label>
        <label class="field">
          <span>WebSocket URL</span>
          <input type="url" autoComplete="off" autoCapitalize="off" spellcheck={false} class="account-url-input" value={wsUrl} placeholder="wss://pbx.example.com:8089/ws"
            onInput={e => { setWsUrl(e.currentTarget.value) }} />
        </label>
        <label class="field">
          <span>Password</span>
          <input type="password" autoComplete="off" class="account-password-input" value={password} onInput={e => { setPassword(e.currentTarget.value) }} />
        </label>
        <details>
          <summary>More settings</summary>
          <div class="stack">
            <label class="field">
              <span>Authorization user (empty: the address's user part)</span>
              <input type="text" autoComplete="off" autoCapitalize="off" spellcheck={false} value={authorizationUser} onInput={e => { setAuthorizationUser(e.currentTarget.value) }} />
            </label>
            <label class="field">
              <span>Outbound proxy (SIP URI, optional)</span>
              <input type="text" autoComplete="off" autoCapitalize="off" spellcheck={false} value={outboundProxy} placeholder="sip:edge.example.com;transport=ws" onInput={e => { setOutboundProxy(e.currentTarget.value) }} />
            </label>
            <label class="field">
              <span>Registrar (SIP URI, optional: default the address's domain)</span>
              <input type="text" autoComplete="off" autoCapitalize="off" spellcheck={false} value={registrar} onInput={e => { setRegistrar(e.currentTarget.value) }} />
            </label>
          </div>
        </details>
        {outcome !== undefined && (outcome.ok ? <p class="done" aria-live="polite">{outcome.text}</p> : <p class="problem" role="alert">{outcome.text}</p>)}
        <button type="submit" class="btn" disabled={busy}>{busy ? 'Adding…' : 'Add account'}</button>
      </form>
    </section>
  )
}
