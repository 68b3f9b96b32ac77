/**
 * Whether the other party's identity is proven. The claimed display name is
 * never presented as verified: when `verified` is false the badge says why.
 */
import { unverifiedReason } from './messages.ts'

export interface VerifiedBadgeProps {
  verified: boolean
  /** error name from RemoteParty.unverifiedReason */
  reason?: string | undefined
}

export function VerifiedBadge ({ verified, reason }: VerifiedBadgeProps) {
  return verified
    ? <span class="badge verified" title="The address is proven by a certificate">✓ Verified</span>
    : <span class="badge unverified">⚠ Not verified — {unverifiedReason(reason)}</span>
}
