/**
 * Finds the claims on an address (see claims.ts): one DHT get, the values of
 * every supernode that answered merged, each record checked on its own, the
 * newest valid record kept per identity key, and each identity judged by the
 * user's trust store.
 *
 * ```ts
 * const finder = new ClaimFinder(host)
 * const found = await finder.find('bob@example.org', { signal })   // FoundClaim[] (may be empty) and the first error
 * chooseClaim('bob@example.org', claims)                           // the record `lookup` returns
 * ```
 */
import { trustRank } from '../identity/index.ts'
import type { TrustLevel, TrustStore } from '../identity/index.ts'
import { anySignal } from '../util/async.ts'
import { logger } from '../util/logger.ts'
import { ANY_ISSUER, decodeLocationValue, isSelfIssued, keyFingerprint, newestPerIdentity, validateClaim } from './claims.ts'
import type { AddressClaim } from './claims.ts'
import { LOOKUP_TIMEOUT_MS } from './constants.ts'
import { ConflictingClaimsError, NotFoundError, OfflineError } from './errors.ts'
import type { OverlayLibp2p } from './node.ts'
import { locationKey } from './record.ts'
import type { LocationRecord, ValidateRecordOptions } from './record.ts'
import type { AbortOptions } from './types.ts'

const log = logger('overlay:lookup')

/** A claim found, with the error the strict check gave when it passed only with any issuer (a CA this device does not trust). */
export interface FoundClaim {
  claim: AddressClaim
  /** set when `recordOptions` refuse the certificate's issuer (UnknownIssuerError): shown, but never chosen by default */
  strictError?: Error
}

export interface FoundClaims {
  claims: FoundClaim[]
  /** why records were refused, when no claim was usable (the first refusal) */
  error?: Error
}

export interface ClaimFinderHost {
  node: () => OverlayLibp2p
  online: () => boolean
  shutdown: () => AbortSignal
  recordOptions?: ValidateRecordOptions
  /** the user's trust store, read at each judgement (it can be handed over later) */
  trust: () => TrustStore | undefined
}

export class ClaimFinder {
  private readonly host: ClaimFinderHost
  /** why the DHT validator refused values, per key, during lookups */
  private readonly rejections = new Map<string, Error>()

  constructor (host: ClaimFinderHost) {
    this.host = host
  }

  /** The DHT validator refused a value for `key` (told by the node). */
  rejected (key: Uint8Array, err: Error): void {
    this.rejections.set(new TextDecoder().decode(key), err)
  }

  /**
   * Every valid claim on `aor` (normalised), newest record per identity.
   * @throws OfflineError | AbortError | DHT errors other than "not found"
   */
  async find (aor: string, options: AbortOptions = {}): Promise<FoundClaims> {
    if (!this.host.online()) throw new OfflineError(`Cannot look up ${aor}: not connected to any supernode`)
    const key = locationKey(aor)
    const keyString = new TextDecoder().decode(key)
    this.rejections.delete(keyString)
    const signal = anySignal(options.signal ?? AbortSignal.timeout(LOOKUP_TIMEOUT_MS), this.host.shutdown())
    const values: Uint8Array[] = []
    try {
      for await (const event of this.host.node().services.dht.get(key, { signal })) {
        // kad-dht yields one value (its selector's); each supernode's answer comes as a PEER_RESPONSE (validated)
        if (event.name === 'VALUE') values.push(event.value)
        else if (event.name === 'PEER_RESPONSE' && event.record != null) values.push(event.record.value)
      }
    } catch (err) {
      if (signal.aborted) throw signal.reason ?? err
      // kad-dht fails a get when a correction it sends to an out-of-date supernode is refused: the answers are in hand
      if ((err as Error).name !== 'NotFoundError' && values.length === 0) throw err
      if (values.length > 0) log('lookup of %s: %s (answers kept)', aor, (err as Error).message)
    }
    const strict: LocationRecord[] = []
    const lenient = new Map<LocationRecord, Error>()
    let invalid: Error | undefined
    for (const bytes of values) {
      let records: LocationRecord[]
      try {
        records = decodeLocationValue(bytes).claims
      } catch (err) {
        invalid ??= err as Error
        continue
      }
      for (const record of records) {
        try {
          strict.push(validateClaim(key, record, this.host.recordOptions))
        } catch (err) {
          if ((err as Error).name !== 'UnknownIssuerError') {
            invalid ??= err as Error
            continue
          }
          // a CA this device's record options do not trust: still a claim the user may trust (pinned, or a CA in the trust store)
          try {
            const checked = validateClaim(key, record, { ...this.host.recordOptions, certificate: ANY_ISSUER })
            strict.push(checked)
            lenient.set(checked, err as Error)
          } catch (e) {
            invalid ??= e as Error
          }
        }
      }
    }
    const claims = [...newestPerIdentity(strict).values()].map(record => {
      const strictError = lenient.get(record)
      return { claim: this.judge(record), ...(strictError != null ? { strictError } : {}) }
    })
    const error = claims.length === 0 ? this.rejections.get(keyString) ?? invalid : undefined
    return { claims, ...(error != null ? { error } : {}) }
  }

  /** One identity's claim as this user's trust store sees it. */
  judge (record: LocationRecord): AddressClaim {
    const cert = record.certificate
    let trust: TrustLevel = { level: 'unverified', key: cert.key }
    const store = this.host.trust()
    if (store?.loaded === true) trust = store.judge(record.aor, cert)
    return { record, identityKey: cert.key, fingerprint: keyFingerprint(cert.key), selfIssued: isSelfIssued(record), trust }
  }
}

/**
 * The claim `lookup` returns: the one of `identityKey` when given; else the
 * one the trust store ranks highest (above 0); else the only claim, when one
 * identity claims the address.
 * @throws NotFoundError | ConflictingClaimsError | the strict check's error of an only claim by a CA this device does not trust
 */
export function chooseClaim (aor: string, found: FoundClaim[], identityKey?: string): LocationRecord {
  if (identityKey != null) {
    const mine = found.find(f => f.claim.identityKey === identityKey)
    if (mine == null) throw new NotFoundError(`No claim on ${aor} by key ${keyFingerprint(identityKey) || String(identityKey).slice(0, 60)}`)
    return mine.claim.record
  }
  const ranked = found
    .filter(f => trustRank(f.claim.trust) > 0)
    .sort((a, b) => trustRank(b.claim.trust) - trustRank(a.claim.trust) || b.claim.record.issuedAt - a.claim.record.issuedAt)
  if (ranked[0] != null) return ranked[0].claim.record
  if (found.length === 1) {
    const only = found[0] as FoundClaim
    if (only.strictError != null) throw only.strictError
    return only.claim.record
  }
  if (found.length === 0) throw new NotFoundError(`${aor} is not online (no location record in the overlay)`)
  throw new ConflictingClaimsError(aor, found.map(f => f.claim))
}
