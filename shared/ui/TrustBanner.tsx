/**
 * A contact's key, as the user needs to see it: a loud warning with "Accept
 * new key" when it changed since it was pinned, else the trust badge
 * (TrustBadge.tsx: Verified by <CA> / Verified contact / Known key since … /
 * Not verified) and a link to the safety number.
 *
 * @example <TrustBanner aor="bob@example.org" status="changed" safetyHref="#/safety/bob@example.org" onAccept={accept} />
 */
import { useState } from 'preact/hooks'
import { TrustBadge } from './TrustBadge.tsx'
import type { TrustSnapshot } from './trust-text.ts'

export interface TrustBannerProps {
  aor: string
  status: 'unknown' | 'pinned' | 'verified' | 'changed'
  /** where the safety number of this contact is shown */
  safetyHref?: string
  /** accepts the new key; rejections are shown by the host */
  onAccept: () => Promise<void>
  onError?: (err: unknown) => void
  /** the contact's level now (KeyWatch.level); shown unless `showMark` is false */
  level?: TrustSnapshot
  /** false where the trust badge is already shown (call screens: RemotePartyCard) */
  showMark?: boolean
}

export function TrustBanner ({ aor, status, level, safetyHref, onAccept, onError, showMark = true }: TrustBannerProps) {
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
  return <TrustMark aor={aor} level={showMark ? level : undefined} safetyHref={safetyHref} />
}

/** The trust badge, and a link to compare the safety number. */
export function TrustMark ({ aor, level, safetyHref }: { aor: string, level?: TrustSnapshot | undefined, safetyHref?: string | undefined }) {
  if (level === undefined && safetyHref === undefined) return null
  return (
    <span class="trust-mark">
      {level !== undefined && <TrustBadge view={level} aor={aor} />}
      {safetyHref !== undefined && <a class="safety-link" href={safetyHref}>Safety number</a>}
    </span>
  )
}
