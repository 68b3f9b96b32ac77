/**
 * Who is on the other end: the address, the display name (only a hint
 * unless the identity is verified) and the trust badge (TrustBadge.tsx: one
 * vocabulary for every screen, from TrustStore.judge()).
 */
import type { TrustStore } from '../identity/index.ts'
import type { RemoteParty } from '../sip/api.ts'
import { TrustBadge } from './TrustBadge.tsx'
import { isVerifiedSnapshot, partyTrust } from './trust-text.ts'

export interface RemotePartyCardProps {
  remote: RemoteParty
  headingId?: string
  /** judges the party now (a safety number compared during the call counts); without it, as judged when met */
  trust?: TrustStore | undefined
}

export function RemotePartyCard ({ remote, headingId, trust }: RemotePartyCardProps) {
  const view = partyTrust(remote, trust)
  const verified = isVerifiedSnapshot(view)
  const name = remote.displayName.trim()
  const showName = name !== '' && name.toLowerCase() !== remote.aor
  return (
    <div class="party">
      {verified && showName && <p class="party-name">{name}</p>}
      <p class="party-aor" id={headingId}>{remote.aor}</p>
      {!verified && showName && <p class="party-claim">Says their name is “{name}”</p>}
      <TrustBadge view={view} aor={remote.aor} />
    </div>
  )
}
