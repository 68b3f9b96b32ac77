/**
 * A contact's key, as the user needs to see it: a loud warning with "Accept
 * new key" when it changed since it was pinned, a quiet "Verified contact"
 * mark when the safety number was confirmed, nothing otherwise.
 *
 * @example <TrustBanner aor="bob@example.org" status="changed" safetyHref="#/safety/bob@example.org" onAccept={accept} />
 */
import { useState } from 'preact/hooks'

export interface TrustBannerProps {
  aor: string
  status: 'unknown' | 'pinned' | 'verified' | 'changed'
  /** where the safety number of this contact is shown */
  safetyHref?: string
  /** accepts the new key; rejections are shown by the host */
  onAccept: () => Promise<void>
  onError?: (err: unknown) => void
  /** false where the "Verified contact" badge is already shown (call screens: RemotePartyCard) */
  showMark?: boolean
}

export function TrustBanner ({ aor, status, safetyHref, onAccept, onError, showMark = true }: TrustBannerProps) {
  const [busy, setBusy] = useState(false)
  if (status === 'changed') {
    const accept = (): void => {
      setBusy(true)
      onAccept().catch(err => { onError?.(err) }).finally(() => { setBusy(false) })
    }
    return (
      <div class="banner key-changed" role="alert">
        <p><strong>{aor}'s security key changed</strong></p>
        <p>
          This may be a new device or a reinstall, or someone pretending to be {aor}.
          Calls and messages to {aor} are held back until you accept the new key.
          Compare the safety number with {aor} first (in person or over another channel).
        </p>
        <div class="row">
          <button type="button" class="btn primary" disabled={busy} onClick={accept}>Accept new key</button>
          {safetyHref !== undefined && <a class="btn" href={safetyHref}>Safety number</a>}
        </div>
      </div>
    )
  }
  return <TrustMark status={showMark ? status : 'unknown'} safetyHref={safetyHref} />
}

/** "Verified contact" (safety number confirmed), or a link to compare it. */
export function TrustMark ({ status, safetyHref }: { status: TrustBannerProps['status'], safetyHref?: string | undefined }) {
  if (status === 'verified') {
    return (
      <span class="trust-mark">
        <span class="badge verified-contact" title="You compared the safety number with this contact">✓ Verified contact</span>
        {safetyHref !== undefined && <a class="safety-link" href={safetyHref}>Safety number</a>}
      </span>
    )
  }
  return safetyHref !== undefined ? <span class="trust-mark"><a class="safety-link" href={safetyHref}>Safety number</a></span> : null
}
