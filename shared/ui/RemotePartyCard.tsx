/**
 * Who is on the other end: the address (what was proven or not), the display
 * name (only a hint unless verified) and the verification badge.
 */
import type { RemoteParty } from '../sip/api.ts'
import { VerifiedBadge } from './VerifiedBadge.tsx'

export function RemotePartyCard ({ remote, headingId }: { remote: RemoteParty, headingId?: string }) {
  const name = remote.displayName.trim()
  const showName = name !== '' && name.toLowerCase() !== remote.aor
  return (
    <div class="party">
      {remote.verified && showName && <p class="party-name">{name}</p>}
      <p class="party-aor" id={headingId}>{remote.aor}</p>
      {!remote.verified && showName && <p class="party-claim">Says their name is “{name}”</p>}
      <VerifiedBadge verified={remote.verified} reason={remote.unverifiedReason} />
    </div>
  )
}
