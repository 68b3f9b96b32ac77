/**
 * The trust line of a contact in the chat header and on the call screen:
 * the key-change warning with "Accept new key", or the trust badge, plus
 * the safety number (a link to its page from the chat; on the call screen,
 * unfolding in place so the two people can read it to each other). Follows
 * the services' KeyWatch.
 */
import { useEffect, useReducer, useState } from 'preact/hooks'
import { TrustBanner } from '../../TrustBanner.tsx'
import type { AppActions } from '../actions.ts'
import { safetyHash } from '../links.ts'
import type { AppServices } from '../services.ts'
import type { ContactTrust as Trust } from '../trust.ts'
import type { TrustSnapshot } from '../../trust-text.ts'

/** Re-renders when `aor`'s trust changes; `level` is what the badge shows. */
export function useContactTrust (services: AppServices, aor: string): Trust & { level: TrustSnapshot } {
  const [, bump] = useReducer((n: number) => n + 1, 0)
  useEffect(() => {
    const listening = new AbortController()
    services.keys.addEventListener('change', e => { if (e.detail.aor === undefined || e.detail.aor === aor) bump(undefined) }, { signal: listening.signal })
    return () => { listening.abort() }
  }, [services, aor])
  return { ...services.keys.status(aor), level: services.keys.level(aor) }
}

/** `inCall`: on the call screen, whose party card already shows the trust badge. */
export function ContactTrust ({ services, aor, actions, inCall = false }: { services: AppServices, aor: string, actions: AppActions, inCall?: boolean }) {
  const trust = useContactTrust(services, aor)
  return (
    <>
      <TrustBanner aor={aor} status={trust.status} level={trust.level} showMark={!inCall} {...(inCall ? {} : { safetyHref: safetyHash(aor) })}
        onAccept={async () => { await services.keys.acceptNewKey(aor) }}
        onError={err => { actions.showError(err, { address: aor }) }} />
      {inCall && trust.pinnedKey !== undefined && (
        <details class="call-safety">
          <summary>Safety number</summary>
          <SafetyDigits services={services} aor={aor} theirKey={trust.newKey ?? trust.pinnedKey} />
        </details>
      )}
    </>
  )
}

function SafetyDigits ({ services, aor, theirKey }: { services: AppServices, aor: string, theirKey: string }) {
  const [digits, setDigits] = useState<string | undefined>()
  useEffect(() => {
    let cancelled = false
    services.identities.load().then(me => {
      if (!cancelled && me !== undefined) setDigits(services.keys.safety({ aor: me.email, key: me.publicKey }, aor, theirKey)?.digits)
    }, () => {})
    return () => { cancelled = true }
  }, [services, aor, theirKey])
  return <p class="safety-digits" aria-label="Safety number">{digits ?? '…'}</p>
}
