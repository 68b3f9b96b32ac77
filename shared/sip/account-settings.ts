/**
 * SIP accounts as the user types them: validation with named errors, where
 * a dialled address goes (routeFor), and the device-local list of accounts.
 *
 * ```ts
 * const settings = validateAccount({ address: '1001@pbx.example.com', wsUrl: 'wss://pbx.example.com:8089/ws', password })
 * const routes = routeFor('1002@pbx.example.com', accounts)   // [{ via: 'account', account }, { via: 'overlay' }]
 * const store = accountStore(idbStorage({ key: 'sip-accounts' }))
 * await store.add(settings)
 * ```
 */
import { InvalidAddressError, normalizeAor } from '../identity/index.ts'
import { logger } from '../util/logger.ts'
import { InvalidAccountError } from './errors.ts'
import type { SipAccountSettings } from './api.ts'

const log = logger('sip:accounts')

/** A validated account: `id` and `authorizationUser` filled in, URIs normalised. */
export type ValidSipAccount = SipAccountSettings & { id: string, authorizationUser: string }

/** Hosts a plain ws:// URL may name: nothing leaves this machine unencrypted. */
const LOOPBACK_HOST = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i
/** A SIP URI as JsSIP accepts it for registrar_server and a preloaded Route (checked loosely: no spaces, brackets or quotes). */
const SIP_URI = /^sips?:[^\s<>"]+$/i
/** Printable, no quote or backslash: JsSIP puts it into a quoted-string of the Authorization header. */
const DIGEST_USER = /^[^\s"\\\p{Cc}]+$/u
const MAX_FIELD_LENGTH = 512

/**
 * Checks and normalises an account as typed, throwing InvalidAccountError
 * whose `field` names what is wrong and whose message says how to fix it.
 *
 * @example validateAccount({ address: 'sip:1001@pbx.example.com', wsUrl: 'wss://pbx.example.com/ws', password: 's3cret' }).authorizationUser === '1001'
 */
export function validateAccount (input: SipAccountSettings): ValidSipAccount {
  if (input == null || typeof input !== 'object') throw new InvalidAccountError('address', 'An account needs an address, a WebSocket URL and a password')
  for (const [field, value] of Object.entries(input)) {
    if (typeof value === 'string' && value.length > MAX_FIELD_LENGTH) throw new InvalidAccountError(field as InvalidAccountError['field'], `The ${field} is longer than ${MAX_FIELD_LENGTH} characters`)
  }
  const rawAddress = typeof input.address === 'string' ? input.address.trim() : ''
  if (rawAddress === '') throw new InvalidAccountError('address', 'Enter the account\'s address, e.g. 1001@pbx.example.com')
  if (!rawAddress.includes('@')) throw new InvalidAccountError('address', `"${rawAddress}" has no user part: write it as user@domain, e.g. 1001@pbx.example.com`)
  let address: string
  try {
    address = normalizeAor(rawAddress)
  } catch (err) {
    if ((err as Error).name !== InvalidAddressError.name) throw err
    throw new InvalidAccountError('address', `The address is not valid: ${(err as Error).message}`)
  }
  const wsUrl = validateWsUrl(input.wsUrl)
  const user = address.slice(0, address.lastIndexOf('@'))
  const authorizationUser = input.authorizationUser == null || input.authorizationUser.trim() === '' ? user : input.authorizationUser.trim()
  if (!DIGEST_USER.test(authorizationUser)) throw new InvalidAccountError('authorizationUser', 'The authorization user may not contain spaces, quotes or backslashes')
  if (typeof input.password !== 'string' || input.password === '') throw new InvalidAccountError('password', 'Enter the account\'s password')
  const account: ValidSipAccount = {
    id: typeof input.id === 'string' && input.id.trim() !== '' ? input.id.trim() : address,
    address,
    wsUrl,
    authorizationUser,
    password: input.password
  }
  if (typeof input.displayName === 'string' && input.displayName.trim() !== '') account.displayName = input.displayName.trim()
  const outboundProxy = sipUri(input.outboundProxy, 'outboundProxy')
  if (outboundProxy !== undefined) account.outboundProxy = outboundProxy
  const registrar = sipUri(input.registrar, 'registrar')
  if (registrar !== undefined) account.registrar = registrar
  if (input.register === false) account.register = false
  return account
}

function validateWsUrl (value: unknown): string {
  const raw = typeof value === 'string' ? value.trim() : ''
  if (raw === '') throw new InvalidAccountError('wsUrl', 'Enter the server\'s WebSocket URL, e.g. wss://pbx.example.com:8089/ws')
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new InvalidAccountError('wsUrl', `"${raw}" is not a URL: it looks like wss://pbx.example.com:8089/ws`)
  }
  if (url.protocol !== 'wss:' && url.protocol !== 'ws:') {
    throw new InvalidAccountError('wsUrl', `The WebSocket URL must start with wss:// (not ${url.protocol}//)`)
  }
  if (url.protocol === 'ws:' && !LOOPBACK_HOST.test(url.hostname)) {
    throw new InvalidAccountError('wsUrl', 'Use wss:// for a server on another machine: ws:// would send the SIP traffic unencrypted')
  }
  if (url.username !== '' || url.password !== '') throw new InvalidAccountError('wsUrl', 'Put the user name and password in their own fields, not in the URL')
  return url.href
}

function sipUri (value: unknown, field: 'outboundProxy' | 'registrar'): string | undefined {
  if (value == null) return undefined
  if (typeof value !== 'string') throw new InvalidAccountError(field, `The ${field} must be text`)
  const raw = value.trim().replace(/^<(.*)>$/, '$1')
  if (raw === '') return undefined
  const uri = /^sips?:/i.test(raw) ? raw : `sip:${raw}`
  if (!SIP_URI.test(uri) || uri.replace(/^sips?:/i, '') === '') throw new InvalidAccountError(field, `"${raw}" is not a SIP URI, e.g. sip:pbx.example.com;transport=ws`)
  return uri
}

/** The domain an account serves: the host part of its address. */
export function accountDomain (account: Pick<SipAccountSettings, 'address'>): string {
  const a = account.address
  return a.slice(a.lastIndexOf('@') + 1).toLowerCase()
}

/** One way a dialled address can go. */
export type Route<A> = { via: 'account', account: A } | { via: 'overlay' }

/**
 * Where `target` can be dialled, the default first:
 *
 * - an address in an account's domain: that account (several with the same
 *   domain: in the given order), then the overlay as the alternative;
 * - a bare extension or number (`1002`, no `@`): every account, never the overlay;
 * - anything else: the overlay only.
 *
 * More than one route means the UI offers "Call via …".
 *
 * @example routeFor('1002@pbx.example.com', [pbx]) // [{ via: 'account', account: pbx }, { via: 'overlay' }]
 */
export function routeFor<A extends Pick<SipAccountSettings, 'address'>> (target: string, accounts: readonly A[]): Array<Route<A>> {
  const t = target.trim().replace(/^<(.*)>$/, '$1').replace(/^sips?:/i, '')
  const at = t.lastIndexOf('@')
  if (at === -1) return accounts.map(account => ({ via: 'account', account }))
  const domain = t.slice(at + 1).split(/[;?>:]/)[0]!.toLowerCase()
  const matching = accounts.filter(a => accountDomain(a) === domain)
  return [...matching.map(account => ({ via: 'account' as const, account })), { via: 'overlay' }]
}

/**
 * The SIP address to dial on an account: `1002` becomes `1002@<account
 * domain>`; anything else is normalised as any address is.
 */
export function accountTarget (target: string, account: Pick<SipAccountSettings, 'address'>): string {
  const t = target.trim()
  if (t !== '' && !t.includes('@') && !/^sips?:/i.test(t)) return normalizeAor(`${t}@${accountDomain(account)}`)
  return normalizeAor(t)
}

/** One text value that survives restarts (shared/store's TextStorage, structurally: shared/sip does not import shared/store). */
export interface AccountStorage {
  read: () => Promise<string | undefined>
  write: (data: string) => Promise<void>
}

export interface AccountStore {
  /** the stored accounts; entries that no longer validate are skipped (and logged) */
  list: () => Promise<ValidSipAccount[]>
  /** validates and adds `account`, replacing one with the same id; returns what was stored */
  add: (account: SipAccountSettings) => Promise<ValidSipAccount>
  remove: (id: string) => Promise<void>
}

/**
 * The accounts of this device, as JSON in one storage entry (IndexedDB in the
 * app: the password never leaves the device, see README "SIP accounts").
 */
export function accountStore (storage: AccountStorage): AccountStore {
  const read = async (): Promise<ValidSipAccount[]> => {
    const text = await storage.read()
    if (text === undefined || text === '') return []
    let data: unknown
    try {
      data = JSON.parse(text)
    } catch (err) {
      log.error('stored SIP accounts are not JSON (%s): starting with none', (err as Error).message)
      return []
    }
    if (!Array.isArray(data)) return []
    const out: ValidSipAccount[] = []
    for (const entry of data) {
      try {
        out.push(validateAccount(entry as SipAccountSettings))
      } catch (err) {
        log.error('skipping a stored SIP account: %s', (err as Error).message)
      }
    }
    return out
  }
  let queue: Promise<unknown> = Promise.resolve()
  const serial = async <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn)
    queue = next.catch(() => {})
    return await next
  }
  return {
    list: read,
    add: async account => await serial(async () => {
      const valid = validateAccount(account)
      const all = (await read()).filter(a => a.id !== valid.id)
      all.push(valid)
      await storage.write(JSON.stringify(all))
      return valid
    }),
    remove: async id => { await serial(async () => { await storage.write(JSON.stringify((await read()).filter(a => a.id !== id))) }) }
  }
}
