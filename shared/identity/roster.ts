/**
 * The device roster: the identity key's signed list of the devices that speak
 * for it. Only the primary device (the one holding the identity private key)
 * issues rosters; every location record carries the newest one, so a device
 * dropped from it (revoked) stops being reachable and its calls are refused.
 *
 *   { v: 1, kind: 'roster', identity, seq, issuedAt, devices: [DeviceCertificate…],
 *     revoked: [{ peerId, name, revokedAt }…], sig }
 *
 * A higher `seq` replaces a lower one; nobody accepts a lower `seq` after
 * having seen a higher one (replays of a roster that still listed a revoked
 * device).
 */
import { MAX_DEVICE_NAME_LENGTH, MAX_PEER_ID_LENGTH, MAX_REVOKED_DEVICES, MAX_ROSTER_DEVICES, PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH } from './constants.ts'
import type { DeviceCertificate } from './device.ts'
import { verifyDeviceCertificate } from './device.ts'
import { fromBase64Url, toBase64Url } from './encoding.ts'
import { BadSignatureError, MalformedRosterError } from './errors.ts'
import type { IdentityKeyPair } from './keys.ts'
import { signObject, verifyObjectSignature } from './signed.ts'
import { requireBytes, requireExactFields, requireRecord, requireString, requireTime } from './validate.ts'

export interface RevokedDevice {
  peerId: string
  name: string
  revokedAt: number
}

export interface DeviceRoster {
  v: 1
  kind: 'roster'
  /** base64url identity public key (the signer) */
  identity: string
  /** increases by one with every change; a lower one never replaces a higher one */
  seq: number
  issuedAt: number
  devices: DeviceCertificate[]
  revoked: RevokedDevice[]
  sig: string
}

const ROSTER_FIELDS = ['v', 'kind', 'identity', 'seq', 'issuedAt', 'devices', 'revoked', 'sig'] as const
const REVOKED_FIELDS = ['peerId', 'name', 'revokedAt'] as const

/**
 * Signs a roster. The devices' certificates must be signed by the same identity key.
 *
 * @example const roster = createDeviceRoster({ identity, seq: 1, devices: [issueDeviceCertificate({ identity, peerId })] })
 */
export function createDeviceRoster (init: { identity: IdentityKeyPair, seq: number, devices: DeviceCertificate[], revoked?: RevokedDevice[], now?: number }): DeviceRoster {
  if (!Number.isSafeInteger(init.seq) || init.seq < 0) throw new RangeError('Roster seq must be a non-negative integer')
  const identity = toBase64Url(init.identity.publicKey)
  const revoked = (init.revoked ?? []).slice(-MAX_REVOKED_DEVICES)
  const gone = new Set(revoked.map(r => r.peerId))
  const seen = new Set<string>()
  const devices: DeviceCertificate[] = []
  for (const d of init.devices) {
    if (d.identity !== identity) throw new BadSignatureError(`Device certificate for "${d.name}" was issued by another identity key`)
    if (gone.has(d.peerId) || seen.has(d.peerId)) continue
    seen.add(d.peerId)
    devices.push(d)
  }
  if (devices.length > MAX_ROSTER_DEVICES) throw new RangeError(`A roster holds at most ${MAX_ROSTER_DEVICES} devices`)
  const body = {
    v: 1 as const,
    kind: 'roster' as const,
    identity,
    seq: init.seq,
    issuedAt: init.now ?? Date.now(),
    devices,
    revoked: revoked.map(r => ({ peerId: r.peerId, name: r.name, revokedAt: r.revokedAt }))
  }
  return signObject(init.identity.privateKey, body)
}

/**
 * Checks shape and signature of a roster and that every device certificate in it
 * is signed by `identityKey` for a distinct peer that is not also revoked. Device
 * certificate dates are not checked here: an expired device is simply not
 * reachable, it does not spoil the roster (see verifyDeviceCertificate where a
 * device is used).
 *
 * @throws MalformedRosterError | BadSignatureError
 */
export function verifyDeviceRoster (roster: unknown, options: { identityKey: Uint8Array | string }): DeviceRoster {
  const expected = typeof options.identityKey === 'string' ? options.identityKey : toBase64Url(options.identityKey)
  const what = 'Device roster'
  const obj = requireRecord(roster, what, MalformedRosterError)
  requireExactFields(obj, ROSTER_FIELDS, what, MalformedRosterError)
  if (obj.v !== 1) throw new MalformedRosterError(`${what}: unsupported version ${String(obj.v)}`)
  if (obj.kind !== 'roster') throw new MalformedRosterError(`${what}: expected kind "roster", got ${JSON.stringify(obj.kind)}`)
  const identity = requireString(obj, 'identity', what, MalformedRosterError)
  requireBytes(obj, 'identity', PUBLIC_KEY_LENGTH, what, MalformedRosterError)
  const seq = obj.seq
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw new MalformedRosterError(`${what}: "seq" must be a non-negative integer`)
  const issuedAt = requireTime(obj, 'issuedAt', what, MalformedRosterError)
  requireString(obj, 'sig', what, MalformedRosterError)
  requireBytes(obj, 'sig', SIGNATURE_LENGTH, what, MalformedRosterError)
  if (!Array.isArray(obj.devices) || obj.devices.length > MAX_ROSTER_DEVICES) {
    throw new MalformedRosterError(`${what}: "devices" must be a list of at most ${MAX_ROSTER_DEVICES} device certificates`)
  }
  if (!Array.isArray(obj.revoked) || obj.revoked.length > MAX_REVOKED_DEVICES) {
    throw new MalformedRosterError(`${what}: "revoked" must be a list of at most ${MAX_REVOKED_DEVICES} entries`)
  }
  if (identity !== expected) throw new BadSignatureError(`${what} was signed by a different identity key`)
  if (!verifyObjectSignature(fromBase64Url(identity), obj)) throw new BadSignatureError(`${what}: signature does not verify`)
  const revoked: RevokedDevice[] = obj.revoked.map((r: unknown) => {
    const e = requireRecord(r, `${what} revoked entry`, MalformedRosterError)
    requireExactFields(e, REVOKED_FIELDS, `${what} revoked entry`, MalformedRosterError)
    return {
      peerId: requireString(e, 'peerId', `${what} revoked entry`, MalformedRosterError, MAX_PEER_ID_LENGTH),
      name: requireString(e, 'name', `${what} revoked entry`, MalformedRosterError, MAX_DEVICE_NAME_LENGTH),
      revokedAt: requireTime(e, 'revokedAt', `${what} revoked entry`, MalformedRosterError)
    }
  })
  const gone = new Set(revoked.map(r => r.peerId))
  const seen = new Set<string>()
  const devices = obj.devices.map((d: unknown) => {
    let cert: DeviceCertificate
    try {
      const notBefore = (d as { notBefore?: unknown }).notBefore
      // signature and shape only: the dates matter where the device is used
      cert = verifyDeviceCertificate(d, { identityKey: identity, ...(typeof notBefore === 'number' ? { now: notBefore } : {}) })
    } catch (err) {
      if ((err as Error).name === 'BadSignatureError') throw err
      throw new MalformedRosterError(`${what}: a device certificate is invalid (${(err as Error).message})`, { cause: err })
    }
    if (seen.has(cert.peerId)) throw new MalformedRosterError(`${what} lists device ${cert.peerId} twice`)
    if (gone.has(cert.peerId)) throw new MalformedRosterError(`${what} lists device ${cert.peerId} as both active and revoked`)
    seen.add(cert.peerId)
    return cert
  })
  return { v: 1, kind: 'roster', identity, seq, issuedAt, devices, revoked, sig: obj.sig as string }
}

/** The certificate of `peerId` in the roster, if it is an active device there. */
export function rosterDevice (roster: Pick<DeviceRoster, 'devices'>, peerId: string): DeviceCertificate | undefined {
  return roster.devices.find(d => d.peerId === peerId)
}

/** The revocation entry of `peerId`, if the roster revokes it. */
export function rosterRevocation (roster: Pick<DeviceRoster, 'revoked'>, peerId: string): RevokedDevice | undefined {
  return roster.revoked.find(r => r.peerId === peerId)
}
