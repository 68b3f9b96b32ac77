/**
 * Several keys claim one address and this user trusts none of them: the
 * overlay's lookup throws ConflictingClaimsError (`err.name`, with
 * `err.claims`), and nothing is dialled or sent until the user chooses one.
 * This reads the error structurally (the class lives in shared/overlay),
 * ranks the claims (a CA-verified one first), gives each its safety number,
 * and pins the chosen key, so the next call or message (with
 * `{ identityKey }`) goes to it.
 *
 * ```ts
 * const conflict = conflictOf(err, 'bob@example.org')   // undefined: not a conflict
 * const rows = claimRows(conflict, { aor: me.email, key: me.publicKey })
 * await chooseClaim(services.trust, conflict.aor, rows[0].identityKey)
 * await services.call('bob@example.org', { identityKey: rows[0].identityKey })
 * ```
 */
import { normalizeAor, safetyNumber, trustRank } from '../../identity/index.ts'
import type { TrustLevel, TrustStore } from '../../identity/index.ts'
import { trustLabel, trustSnapshot } from '../trust-text.ts'
import type { TrustLabel, TrustSnapshot } from '../trust-text.ts'

/** One claim as the overlay reports it (`err.claims[i]`). */
export interface Claim {
  identityKey: string
  fingerprint: string
  selfIssued: boolean
  trust: TrustLevel
}

export interface Conflict {
  aor: string
  claims: Claim[]
}

/** What the chooser shows for one claim. */
export interface ClaimRow {
  identityKey: string
  fingerprint: string
  selfIssued: boolean
  view: TrustSnapshot
  label: TrustLabel
  /** the safety number this user and the claimed key share (compare it with the person) */
  safetyDigits?: string
}

/** The words of the chooser (the trust words themselves are trust-text.ts's). */
export const CONFLICT_TEXT = {
  heading: (n: number, aor: string): string => `${n} different keys claim ${aor}`,
  explain: (aor: string): string =>
    `Peerline found more than one key saying it is ${aor}, and none of them is verified by you or a certificate authority you trust. ` +
    'Only one can be the real person: compare the safety number with them (in person or over a channel you already trust) and choose that key.',
  selfIssued: 'self-issued certificate',
  caIssued: 'certificate from a certificate authority',
  fingerprint: 'Key fingerprint',
  safetyNumber: 'Safety number',
  choose: 'Use this key',
  cancel: 'Cancel'
} as const

/** The conflict in `err`, or undefined when `err` is something else (or carries no usable claims). */
export function conflictOf (err: unknown, address: string): Conflict | undefined {
  if ((err as { name?: unknown } | null)?.name !== 'ConflictingClaimsError') return undefined
  const raw = (err as { claims?: unknown }).claims
  if (!Array.isArray(raw)) return undefined
  const claims: Claim[] = []
  for (const c of raw as unknown[]) {
    if (c === null || typeof c !== 'object') continue
    const v = c as Record<string, unknown>
    const trust = v.trust as TrustLevel | undefined
    if (typeof v.identityKey !== 'string' || typeof v.fingerprint !== 'string' || trust === undefined || typeof trust !== 'object' || typeof trust.level !== 'string') continue
    claims.push({ identityKey: v.identityKey, fingerprint: v.fingerprint, selfIssued: v.selfIssued === true, trust })
  }
  if (claims.length === 0) return undefined
  let aor = address
  try { aor = normalizeAor(address) } catch { /* shown as typed */ }
  return { aor, claims }
}

/** The claims, most trustworthy first, each with its label and (when `me` is known) its safety number. */
export function claimRows (conflict: Conflict, me?: { aor: string, key: string }): ClaimRow[] {
  return [...conflict.claims]
    .sort((a, b) => trustRank(b.trust) - trustRank(a.trust))
    .map(c => {
      let safetyDigits: string | undefined
      if (me !== undefined) {
        try { safetyDigits = safetyNumber(me, { aor: conflict.aor, key: c.identityKey }).digits } catch { /* a malformed key gets no number */ }
      }
      const view = trustSnapshot(c.trust)
      return {
        identityKey: c.identityKey,
        fingerprint: c.fingerprint,
        selfIssued: c.selfIssued,
        view,
        label: trustLabel(view, conflict.aor),
        ...(safetyDigits !== undefined ? { safetyDigits } : {})
      }
    })
}

/**
 * Pins the key the user chose for `aor` (replacing another pin, which the
 * user just overruled), so calls and messages go to it and a later key change
 * is warned about.
 */
export async function chooseClaim (trust: TrustStore, aor: string, identityKey: string): Promise<void> {
  const pin = trust.loaded ? trust.pin(aor) : undefined
  if (pin === undefined) await trust.pinOnFirstUse(aor, identityKey)
  else if (pin.key !== identityKey) await trust.acceptNewKey(aor, identityKey)
}
