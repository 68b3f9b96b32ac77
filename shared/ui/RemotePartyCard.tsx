/**
 * Who is on the other end: the address (what was proven or not), the display
 * name (only a hint unless verified), the verification badge, and what the
 * trust store says (verified contact, or a changed key).
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
      {remote.trust === 'verified' && <span class="badge verified-contact" title="You compared the safety number with this contact">✓ Verified contact</span>}
      {remote.trust === 'changed' && <span class="badge key-changed" role="alert">⚠ Key changed: this is not the key you had for {remote.aor}</span>}
    </div>
  )
}
