/**
 * "Verify my email address": asks a supernode's certificate authority for a
 * certificate binding this identity's address to its key.
 *
 *   find()      the CAs the connected supernodes run (name + key + which supernode);
 *               only the overlay's supernodes are asked, never contacts' devices
 *   request()   the user trusts one; it mails a 6-digit code to the address
 *   confirm()   the code (typed, or from the mail's `#/verify/<id>/<code>` link)
 *               → certificate stored → the session restarts and republishes
 *
 * The pending request (which supernode, which CA) is kept in the settings
 * store, so the link from the mail still works after a reload.
 */
import { fingerprint, fromBase64Url, isSelfIssued, UnknownRequestError } from '../../identity/index.ts'
import type { CaCertificate, IdentityStore, StoredIdentity, TrustStore } from '../../identity/index.ts'
import { confirmCertificate, findCas, OfflineError, requestCertificate, signalOf } from '../../overlay/index.ts'
import type { CaInfo, Overlay } from '../../overlay/index.ts'
import type { HistoryStore } from '../../store/history-api.ts'
import { CA_CONFIRM_ONLINE_WAIT_MS, SETTING_CA_NAMES, SETTING_CA_PENDING } from './constants.ts'

/** A verification waiting for its code. */
export interface PendingVerification {
  requestId: string
  expiresAt: number
  /** the supernode running the CA */
  peerId: string
  email: string
  caKey: string
  caName: string
  /** the From address of the CA's mails (its info answer), when it said */
  caFrom?: string
}

/** What this identity's certificate says, for Settings. */
export type CertificateState =
  | { kind: 'none' }
  | { kind: 'self' }
  | { kind: 'ca', caName: string, caKey: string, caFingerprint: string, notAfter: number, trusted: boolean }

/** A CA as the screen lists it. */
export interface CaChoice extends CaInfo {
  fingerprint: string
  trusted: boolean
}

export interface EmailVerificationHooks {
  history: () => HistoryStore
  identities: IdentityStore
  trust: TrustStore
  /** the running session's identity and overlay */
  session: () => { identity: StoredIdentity, overlay: Overlay } | undefined
  /** restarts the session with `identity` (republishes, new hellos) */
  restart: (identity: StoredIdentity) => Promise<void>
  /** resolves once pending session restarts (e.g. after trusting a CA) are done */
  settled: () => Promise<void>
}

export class EmailVerification {
  readonly #hooks: EmailVerificationHooks

  constructor (hooks: EmailVerificationHooks) {
    this.#hooks = hooks
  }

  /** The CAs on the connected supernodes. @throws OfflineError */
  async find (options: { signal?: AbortSignal } = {}): Promise<CaChoice[]> {
    const overlay = this.#online()
    const found = await findCas(overlay.node, { supernodes: overlay.supernodes(), ...signalOf(options) })
    return found.map(f => ({ ...f, fingerprint: fingerprint(fromBase64Url(f.ca.key)), trusted: this.#trusted(f.ca.key) }))
  }

  /**
   * Trusts `ca` (the user chose it) and asks it to mail a code to this
   * identity's address.
   * @throws OfflineError | CaRateLimitedError | MailFailedError | CaUnavailableError | InvalidCaError
   */
  async request (ca: CaInfo, options: { signal?: AbortSignal } = {}): Promise<PendingVerification> {
    const session = this.#hooks.session()
    if (session === undefined || !session.overlay.status.online) throw new OfflineError()
    const sent = await requestCertificate(session.overlay.node, { identity: session.identity, peerId: ca.peerId, ...signalOf(options) })
    const pending: PendingVerification = { ...sent, email: session.identity.email, caKey: ca.ca.key, caName: ca.ca.name, ...(ca.from !== undefined ? { caFrom: ca.from } : {}) }
    await this.#hooks.history().setSetting(SETTING_CA_PENDING, pending)
    await this.#remember(ca.ca)
    // trusting restarts the session (lookups and hellos then accept this CA)
    await this.#hooks.trust.addCa(ca.ca)
    return pending
  }

  /** The verification waiting for a code, if any (expired ones are forgotten). */
  async pending (now = Date.now()): Promise<PendingVerification | undefined> {
    const p = await this.#hooks.history().getSetting<PendingVerification | null>(SETTING_CA_PENDING, null)
    if (p === null || typeof p !== 'object' || typeof p.requestId !== 'string') return undefined
    if (typeof p.expiresAt !== 'number' || p.expiresAt <= now) {
      await this.cancel()
      return undefined
    }
    return p
  }

  /** Forgets the pending verification (the user gave up). */
  async cancel (): Promise<void> {
    await this.#hooks.history().setSetting(SETTING_CA_PENDING, null)
  }

  /**
   * Sends the code; on success stores the certificate and restarts the
   * session, which republishes this device's record with it.
   * @throws UnknownRequestError | WrongCodeError | CodeExpiredError | TooManyAttemptsError | OfflineError | CaUnavailableError
   */
  async confirm (requestId: string, code: string, options: { signal?: AbortSignal } = {}): Promise<StoredIdentity> {
    const pending = await this.pending()
    if (pending === undefined || pending.requestId !== requestId) {
      throw new UnknownRequestError('This device has no pending verification with that id: request a new code here')
    }
    await this.#hooks.settled()
    const session = this.#hooks.session()
    if (session === undefined) throw new OfflineError()
    await session.overlay.waitOnline({ signal: AbortSignal.any([AbortSignal.timeout(CA_CONFIRM_ONLINE_WAIT_MS), ...(options.signal !== undefined ? [options.signal] : [])]) })
      .catch(() => { throw new OfflineError() })
    let cert
    try {
      cert = await confirmCertificate(session.overlay.node, { requestId, code, peerId: pending.peerId, expectedCaKey: pending.caKey, ...signalOf(options) })
    } catch (err) {
      // these end the request on the CA's side: drop it here too
      if (['CodeExpiredError', 'TooManyAttemptsError', 'UnknownRequestError'].includes((err as Error).name)) await this.cancel()
      throw err
    }
    const updated = await this.#hooks.identities.replaceCertificate(cert)
    await this.cancel()
    await this.#hooks.restart(updated)
    return updated
  }

  /** The state of this identity's certificate. */
  async state (): Promise<CertificateState> {
    const identity = this.#hooks.session()?.identity ?? await this.#hooks.identities.load()
    if (identity === undefined) return { kind: 'none' }
    const cert = identity.certificate
    if (isSelfIssued(cert)) return { kind: 'self' }
    const names = await this.#hooks.history().getSetting<Record<string, string>>(SETTING_CA_NAMES, {})
    const trusted = this.#trustedCa(cert.issuer)
    return {
      kind: 'ca',
      caName: trusted?.name ?? names[cert.issuer] ?? 'an unknown CA',
      caKey: cert.issuer,
      caFingerprint: fingerprint(fromBase64Url(cert.issuer)),
      notAfter: cert.notAfter,
      trusted: trusted !== undefined
    }
  }

  #online (): Overlay {
    const overlay = this.#hooks.session()?.overlay
    if (overlay === undefined || !overlay.status.online) throw new OfflineError()
    return overlay
  }

  #trustedCa (key: string): { name: string } | undefined {
    try {
      return this.#hooks.trust.trustedCas().find(c => c.key === key)
    } catch {
      return undefined
    }
  }

  #trusted (key: string): boolean {
    return this.#trustedCa(key) !== undefined
  }

  /** CA names by key, so Settings can name the issuer even if the user later stops trusting it. */
  async #remember (ca: CaCertificate): Promise<void> {
    const history = this.#hooks.history()
    const names = await history.getSetting<Record<string, string>>(SETTING_CA_NAMES, {})
    await history.setSetting(SETTING_CA_NAMES, { ...names, [ca.key]: ca.name })
  }
}

/** `<requestId>/<code>` from a `#/verify/…` link, or undefined when it is not one. */
export function parseVerifyTarget (target: string | undefined): { requestId: string, code: string } | undefined {
  const m = /^([A-Za-z0-9_-]{8,64})\/(\d{6})$/.exec((target ?? '').trim())
  return m === null ? undefined : { requestId: m[1] as string, code: m[2] as string }
}
