/**
 * This identity's own devices: the roster the primary keeps (pairing adds a
 * device, revoking drops one, certificates are renewed before they end), the
 * roster a linked device follows, this device's certificate and signing key,
 * and the moment this device learns it was removed (`device:revoked`).
 *
 * ```ts
 * const own = new OwnDevices(host)
 * const roster = await own.currentRoster()   // the roster to publish with
 * own.learn(found.roster)                    // a roster of this identity found in the DHT
 * ```
 */
import {
  createDeviceRoster, identityKeyPair, isPrimaryIdentity, issueDeviceCertificate, rosterDevice, rosterRevocation,
  normalizeAor, DeviceRevokedError, NotPrimaryDeviceError, DEVICE_CERT_RENEW_BEFORE_MS
} from '../identity/index.ts'
import type { DeviceCertificate, DeviceRoster, RevokedDevice, StoredIdentity } from '../identity/index.ts'
import type { PrivateKey } from '@libp2p/interface'
import { logger } from '../util/logger.ts'
import { MAX_DEVICES } from './constants.ts'
import { RosterNotSavedError } from './errors.ts'
import type { LocationRecord } from './record.ts'
import type { LinkedDeviceInfo, OverlayEvents, OverlayInit } from './types.ts'

const log = logger('overlay:devices')

/** What OwnDevices needs of the overlay it belongs to. */
export interface OwnDevicesHost {
  /** the overlay's init: `identity` is replaced in place when the roster or certificate changes */
  readonly init: OverlayInit
  peerId: () => string
  privateKey: () => PrivateKey | undefined
  dispatch: <K extends keyof OverlayEvents>(type: K, detail: OverlayEvents[K]['detail']) => void
  /** republishes soon (not awaited) when a record is out */
  republishSoon: () => void
  /** this device was removed: stop the publishing timers */
  stopPublishing: () => void
}

export class OwnDevices {
  private readonly host: OwnDevicesHost
  /** the newest roster of this device's own identity */
  roster?: DeviceRoster
  private deviceCert?: DeviceCertificate
  private revokedFlag = false

  constructor (host: OwnDevicesHost) {
    this.host = host
    if (host.init.identity?.roster != null) this.roster = host.init.identity.roster
  }

  get identity (): StoredIdentity | undefined { return this.host.init.identity }
  get primary (): boolean { return this.identity != null && isPrimaryIdentity(this.identity) }
  get revoked (): boolean { return this.revokedFlag }

  /** A new identity (another key) starts with no roster and not revoked; the same key keeps the newer roster. */
  setIdentity (identity: StoredIdentity): void {
    if (this.identity?.publicKey !== identity.publicKey) {
      this.deviceCert = undefined
      this.roster = undefined
      this.revokedFlag = false
    }
    this.host.init.identity = identity
    if (identity.roster != null && (this.roster == null || identity.roster.seq > this.roster.seq)) this.roster = identity.roster
  }

  /** A pairing gave this device its roster and certificate. */
  linked (roster: DeviceRoster, deviceCertificate: DeviceCertificate): void {
    this.roster = roster
    this.deviceCert = deviceCertificate
  }

  requireIdentity (): StoredIdentity {
    if (this.identity == null) throw new Error('This overlay has no identity: set one before publishing')
    return this.identity
  }

  requirePrimary (): StoredIdentity {
    const identity = this.requireIdentity()
    if (!isPrimaryIdentity(identity)) throw new NotPrimaryDeviceError(`Only the primary device of ${identity.email} can manage its devices`)
    return identity
  }

  /** The identity's devices as this device knows them (the newest roster seen); `published`: the last record out. */
  devices (published: LocationRecord | undefined, me: string | undefined): LinkedDeviceInfo[] {
    const roster = this.roster
    if (roster == null) {
      if (this.identity == null || me == null) return []
      const cert = this.ownCertificate()
      return [{ peerId: me, name: cert.name, thisDevice: true, online: published != null, notAfter: cert.notAfter }]
    }
    const listed = new Set((published?.devices ?? []).map(d => d.peerId))
    return roster.devices.map(d => ({
      peerId: d.peerId,
      name: d.name,
      thisDevice: d.peerId === me,
      online: listed.has(d.peerId),
      notAfter: d.notAfter
    }))
  }

  revokedDevices (): RevokedDevice[] { return this.roster?.revoked.slice() ?? [] }

  /** @throws TypeError when the identity already has MAX_DEVICES devices besides `peerId` */
  checkDeviceLimit (peerId: string): void {
    const others = (this.roster?.devices ?? [this.ownCertificate()]).filter(d => d.peerId !== peerId)
    if (others.length >= MAX_DEVICES) throw new TypeError(`This identity already has ${MAX_DEVICES} devices: revoke one first`)
  }

  /** Issues a certificate for a device that paired and adopts the roster listing it (saved first). */
  async grant (peerId: string, name: string): Promise<{ deviceCertificate: DeviceCertificate, roster: DeviceRoster }> {
    const keys = identityKeyPair(this.requirePrimary())
    const base = this.roster ?? this.rosterWithSelf()
    const others = base.devices.filter(d => d.peerId !== peerId)
    this.checkDeviceLimit(peerId)
    const deviceCertificate = issueDeviceCertificate({ identity: keys, peerId, name })
    const roster = createDeviceRoster({
      identity: keys,
      seq: base.seq + 1,
      devices: [...others, deviceCertificate],
      revoked: base.revoked.filter(r => r.peerId !== peerId)
    })
    await this.adopt(roster, { mustSave: true })
    log('paired device "%s" (%s), roster %d', deviceCertificate.name, peerId, roster.seq)
    return { deviceCertificate, roster }
  }

  /**
   * A roster without `peerId` (seq + 1), saved and adopted.
   * @throws NotPrimaryDeviceError | TypeError naming the device | RosterNotSavedError
   */
  async revoke (peerId: string): Promise<DeviceRoster> {
    const keys = identityKeyPair(this.requirePrimary())
    const base = this.roster ?? this.rosterWithSelf()
    if (peerId === this.host.peerId()) throw new TypeError('This device cannot revoke itself')
    const cert = rosterDevice(base, peerId)
    if (cert == null) throw new TypeError(`Device ${peerId} is not one of this identity's devices`)
    const roster = createDeviceRoster({
      identity: keys,
      seq: base.seq + 1,
      devices: base.devices.filter(d => d.peerId !== peerId),
      revoked: [...base.revoked, { peerId, name: cert.name, revokedAt: Date.now() }]
    })
    await this.adopt(roster, { mustSave: true })
    log('revoked device "%s" (%s), roster %d', cert.name, peerId, roster.seq)
    return roster
  }

  /**
   * The roster to publish with. The primary makes sure it lists this device
   * with a current certificate and renews certificates that expire soon; a
   * linked device takes its (possibly renewed) certificate from it.
   */
  async currentRoster (): Promise<DeviceRoster> {
    const identity = this.requireIdentity()
    const me = this.host.peerId()
    if (!this.primary) {
      const roster = this.roster
      if (roster == null) throw new NotPrimaryDeviceError('This linked device has no device roster: pair it again')
      const cert = rosterDevice(roster, me)
      if (cert == null) {
        this.markRevoked(roster)
        throw new DeviceRevokedError(`This device was removed from ${identity.email}`)
      }
      if (cert.sig !== identity.deviceCertificate?.sig) {
        this.deviceCert = cert
        this.host.init.identity = { ...identity, deviceCertificate: cert, roster }
        await this.host.init.identityStore?.updateDevices({ roster, deviceCertificate: cert }).catch(err => { log.error('saving the renewed device certificate failed: %s', (err as Error).message) })
      }
      return roster
    }
    const keys = identityKeyPair(identity)
    const base = this.roster
    const now = Date.now()
    let changed = base == null
    const own = this.ownCertificate()
    const devices: DeviceCertificate[] = []
    if (base != null) {
      for (const d of base.devices) {
        if (d.peerId === me) continue
        if (d.notAfter - now < DEVICE_CERT_RENEW_BEFORE_MS) {
          devices.push(issueDeviceCertificate({ identity: keys, peerId: d.peerId, name: d.name }))
          changed = true
        } else {
          devices.push(d)
        }
      }
      if (rosterDevice(base, me)?.sig !== own.sig) changed = true
    }
    if (!changed && base != null) return base
    const roster = createDeviceRoster({
      identity: keys,
      seq: (base?.seq ?? 0) + 1,
      devices: [own, ...devices],
      // a primary that was revoked (e.g. a backup restored on a revoked device) takes itself back: it holds the key
      revoked: (base?.revoked ?? []).filter(r => r.peerId !== me)
    })
    await this.adopt(roster)
    return roster
  }

  /** This device's certificate: the roster's (renewed) one, or a fresh one on the primary. */
  ownCertificate (): DeviceCertificate {
    const identity = this.requireIdentity()
    const me = this.host.peerId()
    const now = Date.now()
    if (this.host.init.deviceCertificate != null) return this.host.init.deviceCertificate
    const fromRoster = this.roster != null ? rosterDevice(this.roster, me) : undefined
    if (!this.primary) {
      const cert = [fromRoster, this.deviceCert, identity.deviceCertificate]
        .filter((c): c is DeviceCertificate => c != null && c.peerId === me)
        .sort((a, b) => b.notAfter - a.notAfter)[0]
      if (cert == null) throw new NotPrimaryDeviceError('This linked device has no device certificate: pair it again')
      this.deviceCert = cert
      return cert
    }
    for (const c of [this.deviceCert, fromRoster]) {
      if (c != null && c.peerId === me && c.identity === identity.publicKey && c.notAfter - now > DEVICE_CERT_RENEW_BEFORE_MS) {
        this.deviceCert = c
        return c
      }
    }
    this.deviceCert = issueDeviceCertificate({
      identity: identityKeyPair(identity),
      peerId: me,
      name: this.host.init.deviceName ?? 'device'
    })
    return this.deviceCert
  }

  deviceSigningKey (): { peerId: string, privateKey: Uint8Array } {
    const key = this.host.privateKey()
    if (key == null || key.type !== 'Ed25519') throw new NotPrimaryDeviceError('This linked device has no Ed25519 device key to sign its record with')
    // libp2p's Ed25519 private key is the 32-byte seed followed by the public key
    return { peerId: this.host.peerId(), privateKey: key.raw.subarray(0, 32) }
  }

  /** A roster listing only this device, for a primary that has none yet. */
  private rosterWithSelf (): DeviceRoster {
    return createDeviceRoster({ identity: identityKeyPair(this.requirePrimary()), seq: 1, devices: [this.ownCertificate()] })
  }

  /**
   * Keeps a roster this device issued or received, saves it, tells listeners.
   * A failed save is reported ('devices:error'); with `mustSave` (a change made
   * here: revocation, pairing) the roster is then not taken and the error is
   * thrown, so nothing unsaved gets published.
   */
  private async adopt (roster: DeviceRoster, options: { mustSave?: boolean } = {}): Promise<void> {
    if (this.roster != null && roster.seq < this.roster.seq) return
    const take = (): void => {
      this.roster = roster
      const identity = this.host.init.identity
      if (identity != null) this.host.init.identity = { ...identity, roster }
    }
    // a roster found in the DHT is taken at once: a publish running now must not use the older one
    if (options.mustSave !== true) take()
    try {
      await this.host.init.identityStore?.updateDevices({ roster })
    } catch (err) {
      const e = new RosterNotSavedError(`Saving the device list (roster ${roster.seq}) failed: ${(err as Error).message}`, { cause: err })
      log.error('%s', e.message)
      this.host.dispatch('devices:error', e)
      if (options.mustSave === true) throw e
    }
    if (options.mustSave === true) take()
    this.host.dispatch('devices:change', roster)
  }

  /** A roster of this identity found in the DHT: newer ones are taken; one that drops this device revokes it. */
  learn (roster: DeviceRoster): void {
    const identity = this.identity
    if (identity == null || roster.identity !== identity.publicKey) return
    const mine = this.roster
    if (mine != null && roster.seq === mine.seq && roster.sig !== mine.sig && this.primary) {
      // two devices holding the identity key (a backup restored twice) issued different rosters: keep both
      try {
        this.adopt(mergeRosters(identityKeyPair(identity), mine, roster)).catch(() => {})
      } catch (err) {
        log.error('cannot merge two rosters of %s: %s', identity.email, (err as Error).message)
      }
      return
    }
    if (mine != null && roster.seq <= mine.seq) return
    if (mine != null && this.primary) {
      // another holder of the identity key (a backup restored twice) issued this roster without knowing of a
      // revocation made here: the device must not come back, so revoke it again on top (seq + 1)
      const lost = mine.revoked.filter(r => {
        const cert = rosterDevice(roster, r.peerId)
        return cert != null && cert.notBefore <= r.revokedAt
      })
      if (lost.length > 0) {
        const gone = new Set(lost.map(r => r.peerId))
        try {
          const fixed = createDeviceRoster({
            identity: identityKeyPair(identity),
            seq: roster.seq + 1,
            devices: roster.devices.filter(d => !gone.has(d.peerId)),
            revoked: [...roster.revoked, ...lost]
          })
          log('roster %d of %s lacks %d revocation(s) made here: re-applied as roster %d', roster.seq, identity.email, lost.length, fixed.seq)
          this.adopt(fixed).catch(() => {})
          this.host.republishSoon()
          return
        } catch (err) {
          log.error('cannot re-apply revocations to roster %d of %s: %s', roster.seq, identity.email, (err as Error).message)
        }
      }
    }
    this.adopt(roster).catch(() => {})
    if (!this.primary && rosterDevice(roster, this.host.peerId()) == null) this.markRevoked(roster)
  }

  markRevoked (roster: DeviceRoster): void {
    if (this.revokedFlag) return
    this.revokedFlag = true
    this.host.stopPublishing()
    const me = this.host.peerId()
    const aor = normalizeAor(this.requireIdentity().email)
    const revokedAt = rosterRevocation(roster, me)?.revokedAt
    log('this device was removed from %s (roster %d): no longer publishing', aor, roster.seq)
    this.host.dispatch('device:revoked', { aor, peerId: me, roster, ...(revokedAt != null ? { revokedAt } : {}) })
  }
}

/** One roster (seq + 1) with the devices and revocations of both: a revocation in either wins. */
function mergeRosters (keys: ReturnType<typeof identityKeyPair>, a: DeviceRoster, b: DeviceRoster): DeviceRoster {
  const revoked = new Map([...a.revoked, ...b.revoked].map(r => [r.peerId, r]))
  const devices = new Map<string, DeviceCertificate>()
  for (const d of [...a.devices, ...b.devices]) {
    const have = devices.get(d.peerId)
    if (!revoked.has(d.peerId) && (have == null || d.notAfter > have.notAfter)) devices.set(d.peerId, d)
  }
  return createDeviceRoster({ identity: keys, seq: Math.max(a.seq, b.seq) + 1, devices: [...devices.values()], revoked: [...revoked.values()] })
}
