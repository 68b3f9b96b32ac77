/**
 * Linked devices as the app sees them (see shared/overlay/pairing.ts): this
 * identity's device list, pairing offers a primary device makes, revoking,
 * and linking a new browser to an existing identity.
 */
import { IdentityExistsError } from '../../identity/index.ts'
import type { IdentityStore, StoredIdentity } from '../../identity/index.ts'
import { LOOKUP_TIMEOUT_MS, OfflineError, pairingLink, parsePairingOffer } from '../../overlay/index.ts'
import type { LinkedDeviceInfo, Overlay, PairingOffer } from '../../overlay/index.ts'
import { anySignal } from '../../util/async.ts'
import type { Session } from './session.ts'

export interface DeviceHooks {
  identities: IdentityStore
  session: () => Session | undefined
  /** the identity-less overlay, started when missing */
  probe: () => Promise<Overlay | undefined>
}

export class Devices {
  readonly #hooks: DeviceHooks

  constructor (hooks: DeviceHooks) {
    this.#hooks = hooks
  }

  /** This identity's devices and whether this one is the primary (it may link and revoke). */
  list (): { devices: LinkedDeviceInfo[], primary: boolean, revoked: boolean } {
    const overlay = this.#hooks.session()?.overlay
    if (overlay === undefined) return { devices: [], primary: false, revoked: false }
    return { devices: overlay.devices(), primary: overlay.primary, revoked: overlay.isRevoked }
  }

  /** A pairing offer and the link (for the QR code) a new device opens. @throws NotPrimaryDeviceError | OfflineError */
  async createPairingOffer (): Promise<{ offer: PairingOffer, link: string }> {
    const overlay = this.#hooks.session()?.overlay
    if (overlay === undefined) throw new OfflineError()
    const offer = await overlay.createPairingOffer()
    return { offer, link: pairingLink(offer, location.href) }
  }

  /**
   * Revokes a device; `published` says whether the new roster is out (else it is saved and published once online).
   * @throws NotPrimaryDeviceError | TypeError (unknown device) | RosterNotSavedError
   */
  async revoke (peerId: string): Promise<{ published: boolean }> {
    const overlay = this.#hooks.session()?.overlay
    if (overlay === undefined) throw new OfflineError()
    const roster = await overlay.revokeDevice(peerId)
    return { published: (overlay.publishedRosterSeq ?? 0) >= roster.seq }
  }

  /** Whether `offer` is still open (not used, cancelled or expired) on this device. */
  offerOpen (offer: PairingOffer): boolean {
    return this.#hooks.session()?.overlay.currentPairingOffer()?.code === offer.code
  }

  /** Cancels this device's open pairing offer (the user closed it). */
  cancelOffer (): void {
    this.#hooks.session()?.overlay.cancelPairingOffer()
  }

  /**
   * Accepts the pairing offer in `link` through the probe overlay and stores
   * the granted identity. `existing` is this browser's identity, if any: one
   * that already speaks for the link's address is returned as is.
   * @throws MalformedPairingOfferError | PairingExpiredError | PairingCodeError | PairingCancelledError | PairingFailedError | IdentityExistsError
   */
  async link (link: string, deviceName: string, existing: StoredIdentity | undefined, options: { signal?: AbortSignal } = {}): Promise<{ identity: StoredIdentity, linked: boolean }> {
    const offer = parsePairingOffer(link)
    if (existing !== undefined) {
      if (existing.email === offer.aor) return { identity: existing, linked: false }
      throw new IdentityExistsError(`This browser already has the identity ${existing.email}`)
    }
    const probe = await this.#hooks.probe()
    if (probe === undefined) throw new OfflineError()
    await probe.waitOnline({ signal: anySignal(AbortSignal.timeout(LOOKUP_TIMEOUT_MS), options.signal) })
    const granted = await probe.acceptPairing(offer, { name: deviceName, ...(options.signal !== undefined ? { signal: options.signal } : {}) })
    return { identity: await this.#hooks.identities.saveLinked(granted), linked: true }
  }
}
