/**
 * Settings → "Trusted certificate authorities": the CAs whose certificates
 * prove that an address belongs to a key. Peerline trusts none by default;
 * the user adds a CA by pasting its certificate (JSON) or its key and a name.
 */
import { useEffect, useReducer, useState } from 'preact/hooks'
import { fingerprint, fromBase64Url, parseCaInput } from '../../../identity/index.ts'
import type { TrustedCa } from '../../../identity/index.ts'
import { errorMessage } from '../../messages.ts'
import type { AppServices } from '../services.ts'

export function TrustedCasSection ({ services }: { services: AppServices }) {
  const [, bump] = useReducer((n: number) => n + 1, 0)
  const [text, setText] = useState('')
  const [name, setName] = useState('')
  const [outcome, setOutcome] = useState<{ ok: boolean, text: string } | undefined>()
  useEffect(() => {
    const listening = new AbortController()
    services.trust.addEventListener('trust:change', () => { bump(undefined) }, { signal: listening.signal })
    return () => { listening.abort() }
  }, [services])

  let cas: TrustedCa[] = []
  let unreadable: string | undefined
  try {
    cas = services.trust.trustedCas()
  } catch (err) {
    unreadable = errorMessage(err)
  }

  const add = (e: Event): void => {
    e.preventDefault()
    let input
    try {
      input = parseCaInput(text, name)
    } catch (err) {
      setOutcome({ ok: false, text: errorMessage(err) ?? '' })
      return
    }
    services.trust.addCa(input).then(ca => {
      setText('')
      setName('')
      setOutcome({ ok: true, text: `Trusted "${ca.name}". Addresses it verifies now show as verified by this CA.` })
    }, (err: unknown) => { setOutcome({ ok: false, text: errorMessage(err) ?? '' }) })
  }
  const remove = (ca: TrustedCa): void => {
    services.trust.removeCa(ca.key).then(() => { setOutcome({ ok: true, text: `"${ca.name}" is no longer trusted.` }) },
      (err: unknown) => { setOutcome({ ok: false, text: errorMessage(err) ?? '' }) })
  }

  return (
    <section class="card stack trusted-cas" aria-labelledby="cas-title">
      <h2 id="cas-title">Trusted certificate authorities</h2>
      {unreadable !== undefined && (
        <>
          <p class="problem" role="alert">{unreadable}</p>
          <button type="button" class="btn" onClick={() => {
            if (!confirm('Forget every trusted CA and pinned contact key on this device?')) return
            services.trust.reset().then(() => { setOutcome({ ok: true, text: 'Trust settings reset: no CA trusted, no key pinned.' }) },
              (err: unknown) => { setOutcome({ ok: false, text: errorMessage(err) ?? '' }) })
          }}>Reset trust settings</button>
        </>
      )}
      {cas.length === 0
        ? <p class="empty-cas">No certificate authority trusted: email addresses are not verified by anyone.</p>
        : (
          <ul class="ca-list">
            {cas.map(ca => (
              <li key={ca.key} class="row">
                <span class="grow">
                  <strong class="ca-name">{ca.name}</strong>
                  <br /><code class="sub" title={ca.key}>{fingerprint(fromBase64Url(ca.key))}</code>
                </span>
                <button type="button" class="btn" aria-label={`Remove ${ca.name}`} onClick={() => { remove(ca) }}>Remove</button>
              </li>
            ))}
          </ul>
          )}
      <form class="stack" onSubmit={add} noValidate>
        <label class="field">
          <span>CA certificate (JSON) or CA key</span>
          <textarea rows={3} spellcheck={false} autoCapitalize="off" class="ca-input" value={text} onInput={e => { setText(e.currentTarget.value) }} />
        </label>
        <label class="field">
          <span>Name (needed for a bare key)</span>
          <input type="text" autoComplete="off" class="ca-name-input" value={name} onInput={e => { setName(e.currentTarget.value) }} />
        </label>
        {outcome !== undefined && (outcome.ok ? <p class="done" aria-live="polite">{outcome.text}</p> : <p class="problem" role="alert">{outcome.text}</p>)}
        <button type="submit" class="btn">Trust this CA</button>
      </form>
    </section>
  )
}
