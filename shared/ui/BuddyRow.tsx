/**
 * One buddy in a list, the same row in the PWA, the browser extension's
 * popup and Thunderbird's buddy list: presence dot, name and address (each
 * cut with an ellipsis, the full text on hover), presence in words (and
 * when it was checked), the trust badge, then the row's buttons. The
 * buttons never shrink or wrap away: at a 360 px panel they stay inside it
 * (test/extension/chromium.test.ts and thunderbird.test.ts measure it).
 *
 * @example <BuddyRow aor="bob@example.org" name="Bob" presence="online" trust={view}><button>Call</button></BuddyRow>
 */
import type { ComponentChildren } from 'preact'
import { TrustBadge } from './TrustBadge.tsx'
import type { TrustSnapshot } from './trust-text.ts'

export type BuddyPresence = 'online' | 'offline' | 'unknown'

/** Presence in words: the dot's colour is never the only sign. */
export const PRESENCE_WORDS: Record<BuddyPresence, string> = { online: 'Online', offline: 'Offline', unknown: 'Status unknown' }

export interface BuddyRowProps {
  aor: string
  /** display name; the address stands in when empty */
  name?: string | undefined
  presence: BuddyPresence
  /** e.g. "checked 3 min ago" */
  checked?: string | undefined
  trust: TrustSnapshot
  /** the name links there (the PWA's chat screen) */
  href?: string | undefined
  /** after the name, e.g. an unread count */
  extra?: ComponentChildren
  /** the row's buttons */
  children?: ComponentChildren
}

export function BuddyRow ({ aor, name, presence, checked, trust, href, extra, children }: BuddyRowProps) {
  const shown = name !== undefined && name !== '' ? name : aor
  const label = (
    <>
      <span class="aor" title={shown}>{shown}</span>
      {shown !== aor && <span class="sub" title={aor}>{aor}</span>}
    </>
  )
  return (
    <li class="buddy" data-aor={aor} data-presence={presence}>
      <span class={`dot ${presence}`} aria-hidden="true" />
      <span class="buddy-main">
        {href !== undefined ? <a class="buddy-name" href={href}>{label}</a> : <span class="buddy-name">{label}</span>}
        <span class="buddy-meta">
          <span class={`presence ${presence}`}>{PRESENCE_WORDS[presence]}</span>
          {checked !== undefined && checked !== '' && <span class="checked"> · {checked}</span>}
          {' '}<TrustBadge view={trust} aor={aor} class="compact" />
        </span>
      </span>
      <span class="buddy-actions">{extra}{children}</span>
    </li>
  )
}
