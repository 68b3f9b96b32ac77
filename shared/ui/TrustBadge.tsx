/**
 * The trust badge: the one component every screen uses to say how far the
 * other party's identity is proven (words and tones: trust-text.ts). Only
 * "Verified by <CA>" and "Verified contact" use the success style.
 *
 * @example <TrustBadge view={partyTrust(call.remote, trust)} aor={call.remote.aor} />
 */
import { trustLabel } from './trust-text.ts'
import type { TrustSnapshot } from './trust-text.ts'

export interface TrustBadgeProps {
  view: TrustSnapshot
  aor: string
  /** extra class, e.g. 'compact' in lists */
  class?: string
}

export function TrustBadge ({ view, aor, class: extra }: TrustBadgeProps) {
  const label = trustLabel(view, aor)
  const role = label.tone === 'danger' ? 'alert' : undefined
  return (
    <span class={`badge trust trust-${label.tone} trust-${label.level}${extra !== undefined ? ` ${extra}` : ''}`} data-trust={label.level} title={label.title} role={role}>
      {label.icon !== '' ? `${label.icon} ` : ''}{label.text}
    </span>
  )
}
