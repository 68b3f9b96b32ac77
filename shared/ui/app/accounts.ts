/**
 * The user's SIP-over-WebSocket accounts (Settings → SIP accounts) for the
 * app's services: kept in this device's IndexedDB (SIP_ACCOUNTS_STORAGE_KEY,
 * password included: it never leaves the device except as digest answers to
 * that server), one running SipAccount each, their calls and messages handed
 * to the same hooks as the overlay phone's, and where a dialled address goes
 * (routeFor: the account of its domain first, the overlay as the alternative).
 *
 * Independent of the overlay session: accounts start with the app, also
 * before an identity exists, and are not restarted when the session is.
 */
import { normalizeAor } from '../../identity/index.ts'
import { accountStore, accountTarget, InvalidAccountError, routeFor, sipAccount } from '../../sip/index.ts'
import type { AccountStorage, AccountStore, Call, IncomingMessage, SipAccount, SipAccountSettings, ValidSipAccount } from '../../sip/index.ts'
import { logger } from '../../util/logger.ts'
import type { AccountView, DialRoute } from './account-text.ts'

const log = logger('pwa:accounts')

export type { AccountView, DialRoute } from './account-text.ts'
export { accountStateText } from './account-text.ts'

export interface SipAccountsHooks {
  storage: AccountStorage
  iceServers: () => Promise<RTCIceServer[]>
  getUserMedia?: (constraints: MediaStreamConstraints) => Promise<MediaStream>
  call: (call: Call, direction: 'incoming' | 'outgoing') => void
  message: (m: IncomingMessage) => void
  /** an account was added, removed or changed state */
  changed: () => void
  error: (err: unknown) => void
}

export class SipAccounts {
  readonly #hooks: SipAccountsHooks
  readonly #store: AccountStore
  readonly #running = new Map<string, SipAccount>()

  constructor (hooks: SipAccountsHooks) {
    this.#hooks = hooks
    this.#store = accountStore(hooks.storage)
  }

  /** Starts every stored account (a failing one is reported, the others still start). */
  async start (): Promise<void> {
    let stored: ValidSipAccount[]
    try {
      stored = await this.#store.list()
    } catch (err) {
      this.#hooks.error(err)
      return
    }
    for (const settings of stored) await this.#launch(settings)
  }

  async stop (): Promise<void> {
    const all = [...this.#running.values()]
    this.#running.clear()
    await Promise.all(all.map(async a => { await a.stop().catch(err => { log.error('stopping %s: %s', a.address, (err as Error).message) }) }))
  }

  list (): AccountView[] {
    return [...this.#running.values()].map(view)
  }

  get (id: string): SipAccount | undefined { return this.#running.get(id) }

  /** Validates, stores and starts `settings` (replacing an account with the same id). @throws InvalidAccountError | StorageError */
  async add (settings: SipAccountSettings): Promise<AccountView> {
    const stored = await this.#store.add(settings)
    await this.#running.get(stored.id)?.stop()
    this.#running.delete(stored.id)
    const account = await this.#launch(stored)
    this.#hooks.changed()
    return view(account)
  }

  async remove (id: string): Promise<void> {
    await this.#store.remove(id)
    const account = this.#running.get(id)
    this.#running.delete(id)
    await account?.stop()
    this.#hooks.changed()
  }

  /**
   * Where `target` can be dialled, the default first: the account of its
   * domain, then the overlay; an extension (no `@`): the accounts only.
   * More than one: offer "Call via …".
   */
  routes (target: string): DialRoute[] {
    const routes: DialRoute[] = routeFor(target, [...this.#running.values()].map(a => a.settings)).map(r =>
      r.via === 'overlay' ? r : { via: 'account', id: r.account.id, address: r.account.address })
    return routes.length > 0 ? routes : [{ via: 'overlay' }]
  }

  /**
   * The account to dial `target` with (none: the overlay) by the route
   * chosen, else the default one, and the address to dial.
   * @throws InvalidAccountError (the chosen account is gone) | InvalidAddressError
   */
  resolve (target: string, chosen?: DialRoute): { account?: SipAccount, aor: string } {
    const route = chosen ?? this.routes(target)[0] ?? { via: 'overlay' }
    if (route.via === 'overlay') return { aor: normalizeAor(target) }
    const account = this.#running.get(route.id)
    if (account === undefined) throw new InvalidAccountError('id', `The SIP account ${route.address} is no longer set up on this device`)
    return { account, aor: accountTarget(target, account.settings) }
  }

  /** The running account a message went through (its trust snapshot's `via`), or InvalidAccountError when it is gone. */
  byAddress (address: string): SipAccount {
    for (const account of this.#running.values()) if (account.settings.address === address) return account
    throw new InvalidAccountError('id', `The SIP account ${address} is no longer set up on this device`)
  }

  async #launch (settings: ValidSipAccount): Promise<SipAccount> {
    const hooks = this.#hooks
    const account = sipAccount({ settings, iceServers: await hooks.iceServers() }, {
      media: { getUserMedia: hooks.getUserMedia ?? (async constraints => await navigator.mediaDevices.getUserMedia(constraints)) }
    })
    account.addEventListener('status', () => { hooks.changed() })
    account.addEventListener('call:incoming', e => { hooks.call(e.detail, 'incoming') })
    account.addEventListener('call:outgoing', e => { hooks.call(e.detail, 'outgoing') })
    account.addEventListener('message:incoming', e => { hooks.message(e.detail) })
    this.#running.set(settings.id, account)
    try {
      await account.start()
    } catch (err) {
      hooks.error(err)
    }
    return account
  }
}

function view (a: SipAccount): AccountView {
  const s = a.settings
  return {
    id: s.id,
    address: s.address,
    wsUrl: s.wsUrl,
    authorizationUser: s.authorizationUser,
    ...(s.displayName !== undefined ? { displayName: s.displayName } : {}),
    ...(s.outboundProxy !== undefined ? { outboundProxy: s.outboundProxy } : {}),
    ...(s.registrar !== undefined ? { registrar: s.registrar } : {}),
    status: a.status
  }
}

