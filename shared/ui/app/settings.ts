/**
 * Parsing and checking what the user types on the settings screen. Pure
 * functions: each returns the clean value or a sentence saying what is wrong.
 */
import { parseSupernodeAddrs } from '../../overlay/index.ts'

/** One STUN/TURN server, as RTCIceServer but with `urls` always a list. */
export interface IceServerSetting {
  urls: string[]
  username?: string
  credential?: string
}

export type Checked<T> = { ok: true, value: T } | { ok: false, error: string }

/** Splits a text area into trimmed, non-empty lines, dropping duplicates. */
export function lines (text: string): string[] {
  return [...new Set(text.split(/\r?\n/).map(l => l.trim()).filter(l => l !== ''))]
}

/**
 * Supernode multiaddrs, one per line, each ending in /p2p/<peer id>.
 * An empty list is fine: it means "use the supernodes the server recommends".
 */
export function checkSupernodes (text: string): Checked<string[]> {
  const addrs = lines(text)
  try {
    parseSupernodeAddrs(addrs)
  } catch (err) {
    return { ok: false, error: (err as Error).message }
  }
  return { ok: true, value: addrs }
}

const ICE_URL = /^(stun|stuns|turn|turns):[^\s]+$/i

/**
 * STUN/TURN server URLs (RFC 7064, RFC 7065), one per line, with the
 * username and credential TURN needs. Empty URLs mean "no ICE servers"
 * (host candidates only: fine on one network, not across NATs).
 */
export function checkIceServer (urlsText: string, username: string, credential: string): Checked<IceServerSetting[]> {
  const urls = lines(urlsText)
  if (urls.length === 0) return { ok: true, value: [] }
  const bad = urls.find(u => !ICE_URL.test(u))
  if (bad !== undefined) return { ok: false, error: `"${bad}" is not a STUN or TURN URL (it should start with stun:, stuns:, turn: or turns:).` }
  const turn = urls.some(u => /^turns?:/i.test(u))
  const user = username.trim()
  if (turn && (user === '' || credential === '')) {
    return { ok: false, error: 'A TURN server needs a username and a credential.' }
  }
  const server: IceServerSetting = { urls }
  if (user !== '') server.username = user
  if (credential !== '') server.credential = credential
  return { ok: true, value: [server] }
}

/** The two passphrase boxes of a backup export. */
export function checkNewPassphrase (passphrase: string, repeat: string, minLength: number): Checked<string> {
  if ([...passphrase].length < minLength) return { ok: false, error: `The passphrase must be at least ${minLength} characters long.` }
  if (passphrase !== repeat) return { ok: false, error: 'The two passphrases are not the same.' }
  return { ok: true, value: passphrase }
}

/** A file name for an identity backup: `peerline-identity-alice-example.org.json`. */
export function backupFileName (email: string): string {
  return `peerline-identity-${email.replace(/[^a-z0-9.-]+/gi, '-')}.json`
}
