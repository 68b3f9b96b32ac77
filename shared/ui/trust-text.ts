/**
 * The one trust vocabulary of every Peerline screen (PWA, browser extension,
 * Thunderbird): the words, the tone and the icon for each level that
 * TrustStore.judge() returns (shared/identity/trust.ts), plus a hello that did
 * not check out. Only the two verified levels get the success tone; nothing
 * self-issued is ever called "Verified". No DOM: the Thunderbird background
 * uses the same text for notifications.
 *
 *   contact-verified  ✓ Verified contact                              success
 *   ca-verified       ✓ Verified by <CA name>                         success
 *   known-key         Known key since <date>                          neutral
 *   unverified        ⚠ Not verified — anyone can claim this address  caution
 *   key-changed       ⚠ Key changed: this is not the key you had…     danger
 *   unauthenticated   ⚠ Not verified — <why the hello failed>         caution
 *   server-asserted   Via <account> (the server says this is <aor>)   neutral
 *
 * @example trustLabel({ level: 'ca-verified', caName: 'Example CA' }, 'bob@example.org').text // 'Verified by Example CA'
 */
import type { TrustLevel, TrustStore } from '../identity/index.ts'
import type { TrustSnapshot } from '../store/history-api.ts'
import { unverifiedReason } from './messages.ts'

export type { TrustSnapshot } from '../store/history-api.ts'

/** The part of shared/sip's RemoteParty that trust depends on (this file compiles without shared/sip). */
export interface TrustedParty {
  aor: string
  authenticated: boolean
  identityKey?: string | undefined
  issuer?: string | undefined
  unverifiedReason?: string | undefined
  trustLevel?: TrustLevel | undefined
  /** the SIP account a server-asserted party came through (shared/sip accounts) */
  via?: string | undefined
}

export type TrustTone = 'success' | 'neutral' | 'caution' | 'danger'

export interface TrustLabel {
  level: TrustSnapshot['level']
  text: string
  /** the longer sentence for a tooltip or screen reader */
  title: string
  tone: TrustTone
  /** '✓' only for the success tone */
  icon: string
}

/** Every user-facing trust sentence, in one place. */
export const TRUST_TEXT = {
  caVerified: (caName: string): string => `Verified by ${caName}`,
  caVerifiedTitle: (caName: string): string => `${caName}, a certificate authority you trust, confirmed this address belongs to this key`,
  contactVerified: 'Verified contact',
  contactVerifiedTitle: 'You compared the safety number with this contact',
  knownKey: (since: string): string => `Known key since ${since}`,
  knownKeyTitle: 'The same key as on first contact; nobody verified it: compare the safety number to be sure',
  unverified: 'Not verified — anyone can claim this address',
  unverifiedTitle: 'The certificate is self-issued (or from a certificate authority you do not trust) and this key is new to you',
  keyChanged: (aor: string): string => `Key changed: this is not the key you had for ${aor}`,
  keyChangedTitle: 'Someone may be pretending to be this contact: compare the safety number before trusting it',
  unauthenticated: (why: string): string => `Not verified — ${why}`,
  serverAsserted: (via: string, aor: string): string => `Via ${via} (the server says this is ${aor})`,
  serverAssertedTitle: (via: string): string => `The SIP server of your account ${via} names this caller; Peerline cannot check it end to end`,
  /** notifications (Thunderbird) */
  notificationTitle: (label: TrustLabel): string => label.tone === 'success' ? 'Peerline call' : `Peerline call (${label.text})`
} as const

/** Dates in "Known key since …": the day is enough. */
function day (at: number | undefined): string {
  return at !== undefined && Number.isFinite(at) ? new Date(at).toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' }) : 'first contact'
}

/** Words, tone and icon for `view` (a TrustLevel, or a snapshot of one from the history). */
export function trustLabel (view: TrustSnapshot, aor: string): TrustLabel {
  switch (view.level) {
    case 'ca-verified': {
      const ca = view.caName ?? 'a certificate authority you trust'
      return { level: view.level, text: TRUST_TEXT.caVerified(ca), title: TRUST_TEXT.caVerifiedTitle(ca), tone: 'success', icon: '✓' }
    }
    case 'contact-verified':
      return { level: view.level, text: TRUST_TEXT.contactVerified, title: TRUST_TEXT.contactVerifiedTitle, tone: 'success', icon: '✓' }
    case 'known-key':
      return { level: view.level, text: TRUST_TEXT.knownKey(day(view.since)), title: TRUST_TEXT.knownKeyTitle, tone: 'neutral', icon: '' }
    case 'key-changed':
      return { level: view.level, text: TRUST_TEXT.keyChanged(aor), title: TRUST_TEXT.keyChangedTitle, tone: 'danger', icon: '⚠' }
    case 'server-asserted': {
      // a SIP server's word: useful, never proof (never the success tone)
      const via = view.via ?? 'a SIP account'
      return { level: view.level, text: TRUST_TEXT.serverAsserted(via, aor), title: TRUST_TEXT.serverAssertedTitle(via), tone: 'neutral', icon: '' }
    }
    case 'unauthenticated':
      // an issuer this user does not trust proves no more than a self-issued certificate
      if (view.reason === 'UnknownIssuerError') return unverified()
      return { level: view.level, text: TRUST_TEXT.unauthenticated(unverifiedReason(view.reason)), title: TRUST_TEXT.unverifiedTitle, tone: 'caution', icon: '⚠' }
    default:
      return unverified()
  }
}

function unverified (): TrustLabel {
  return { level: 'unverified', text: TRUST_TEXT.unverified, title: TRUST_TEXT.unverifiedTitle, tone: 'caution', icon: '⚠' }
}

/** The serialisable part of a TrustLevel, as the history keeps it. */
export function trustSnapshot (level: TrustLevel): TrustSnapshot {
  switch (level.level) {
    case 'ca-verified': return { level: level.level, caName: level.caName }
    case 'contact-verified': return { level: level.level, ...(level.caName !== undefined ? { caName: level.caName } : {}), since: level.verifiedAt }
    case 'known-key': return { level: level.level, since: level.since }
    case 'key-changed': return { level: level.level, since: level.pinnedSince }
    default: return { level: 'unverified' }
  }
}

/** true for the two levels that may look like success (isVerifiedLevel of shared/identity, for snapshots) */
export function isVerifiedSnapshot (view: TrustSnapshot): boolean {
  return view.level === 'contact-verified' || view.level === 'ca-verified'
}

/**
 * What to show for a remote party: nothing verified when its hello did not
 * check out; else the trust store's judgment now, except that a key pinned
 * during this very contact (judged 'unverified' when met) is not yet a
 * "known key". Without a trust store: the judgment made when it was met.
 * Through a SIP account: what that server asserted, whatever else is set.
 */
export function partyTrust (remote: TrustedParty, trust?: TrustStore): TrustSnapshot {
  if (remote.via !== undefined) return { level: 'server-asserted', via: remote.via }
  if (!remote.authenticated || remote.identityKey === undefined) {
    return { level: 'unauthenticated', ...(remote.unverifiedReason !== undefined ? { reason: remote.unverifiedReason } : {}) }
  }
  const met = remote.trustLevel
  if (trust === undefined || !trust.loaded) return met !== undefined ? trustSnapshot(met) : { level: 'unverified' }
  const now = trust.judge(remote.aor, { key: remote.identityKey, issuer: remote.issuer ?? remote.identityKey })
  if (now.level === 'known-key' && met?.level === 'unverified') return trustSnapshot(met)
  return trustSnapshot(now)
}
