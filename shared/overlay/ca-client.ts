/**
 * Asking a supernode's email-verifying CA for a certificate (protocol
 * `/peerline/ca/1.0.0`, see shared/identity/ca-protocol.ts).
 *
 * ```ts
 * const [{ peerId, ca }] = await findCas(overlay.node, { supernodes: overlay.supernodes() }) // show ca.name + peerId, ask the user to trust it
 * const { requestId } = await requestCertificate(overlay.node, { identity, peerId })
 * // … the user reads the code in the mail …
 * const cert = await confirmCertificate(overlay.node, { requestId, code, peerId })
 * const updated = await identities.replaceCertificate(cert)
 * overlay.setIdentity(updated)                                    // republishes with the CA-issued certificate
 * ```
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2p } from '@libp2p/interface'
import {
  CA_PROTOCOL, CaUnavailableError, MAX_CA_FRAME_BYTES, MalformedCaMessageError, encodeCaMessage, identityKeyPair,
  normalizeAor, parseCaResponse, signCaRequest
} from '../identity/index.ts'
import type { CaCertificate, CaRequest, CaResponse, IdentityCertificate, IdentityKeyPair, StoredIdentity } from '../identity/index.ts'
import { anySignal } from '../util/async.ts'
import { exchangeFrames } from './exchange.ts'

/**
 * Bound on one exchange when the caller gives no signal. A request waits for
 * the CA's mail server (the supernode gives SMTP up to ~40 s), so it is long.
 */
export const CA_REQUEST_TIMEOUT_MS = 50_000

/** A CA found on a supernode. */
export interface CaInfo {
  /** the supernode answering for it */
  peerId: string
  ca: CaCertificate
  /** the From address of the CA's mails, when it says */
  from?: string
}

export interface CaPendingRequest {
  requestId: string
  /** ms epoch: the code stops working then */
  expiresAt: number
  /** the supernode that holds the request: confirm there */
  peerId: string
}

type CaNode = Pick<Libp2p, 'getConnections' | 'dialProtocol'> & { peerStore: Pick<Libp2p['peerStore'], 'all'> }

interface Signal { signal?: AbortSignal }

export interface FindCasOptions extends Signal {
  /**
   * the peer ids of the overlay's supernodes (`overlay.supernodes()`): only
   * they are asked, so a contact's device cannot pose as a CA
   */
  supernodes: readonly string[]
}

/** `{ signal }` when `options` has one, else `{}` (for optional-property-exact option objects). */
export function signalOf (options: Signal): Signal {
  return options.signal !== undefined ? { signal: options.signal } : {}
}

/**
 * The CAs run by the connected supernodes among `options.supernodes` that
 * speak the CA protocol (as told by identify), each asked for its
 * certificate. Other connected peers are never asked. Supernodes without a
 * CA are skipped; an empty list means none runs one.
 */
export async function findCas (node: CaNode, options: FindCasOptions): Promise<CaInfo[]> {
  const supernodes = new Set(options.supernodes)
  const connected = new Set(node.getConnections().map(c => c.remotePeer.toString()))
  // supernodes identify has not described yet are asked too: a CA that just connected still counts
  const peers = (await node.peerStore.all())
    .map(p => ({ id: p.id.toString(), protocols: p.protocols }))
    .filter(p => supernodes.has(p.id) && connected.has(p.id) && (p.protocols.length === 0 || p.protocols.includes(CA_PROTOCOL)))
    .map(p => p.id)
  const found = await Promise.all(peers.map(async peerId => {
    try {
      return await caInfo(node, peerId, signalOf(options))
    } catch (err) {
      if (options.signal?.aborted === true) throw err
      return undefined
    }
  }))
  return found.filter((f): f is CaInfo => f !== undefined)
}

/**
 * The CA certificate of supernode `peerId`, or of the first of
 * `options.supernodes` running a CA when `peerId` is absent.
 * @throws CaUnavailableError | MalformedCaMessageError
 */
export async function caInfo (node: CaNode, peerId?: string, options: Signal & { supernodes?: readonly string[] } = {}): Promise<CaInfo> {
  if (peerId === undefined) {
    const all = await findCas(node, { supernodes: options.supernodes ?? [], ...signalOf(options) })
    const first = all[0]
    if (first === undefined) throw new CaUnavailableError()
    return first
  }
  const res = await exchange(node, peerId, { op: 'info' }, options)
  if (!('ca' in res) || 'certificate' in res) throw new MalformedCaMessageError('The CA answered "info" with something else')
  return { peerId, ca: res.ca, ...('from' in res && res.from !== undefined ? { from: res.from } : {}) }
}

/**
 * Asks the CA on `peerId` (default: the first CA among `supernodes`) to mail
 * a code to `email` (default: the identity's). Proves possession of the identity key.
 * @throws CaUnavailableError | CaRateLimitedError | BadProofError | MailFailedError | MalformedCaMessageError
 */
export async function requestCertificate (node: CaNode, init: { identity: StoredIdentity | IdentityKeyPair, email?: string, peerId?: string, supernodes?: readonly string[], signal?: AbortSignal }): Promise<CaPendingRequest> {
  const keys = 'privateKey' in init.identity && init.identity.privateKey instanceof Uint8Array
    ? init.identity as IdentityKeyPair
    : identityKeyPair(init.identity as StoredIdentity)
  const email = init.email ?? ('email' in init.identity ? init.identity.email : undefined)
  if (email === undefined) throw new TypeError('requestCertificate needs the email address to verify')
  const peerId = init.peerId ?? (await caInfo(node, undefined, { supernodes: init.supernodes ?? [], ...signalOf(init) })).peerId
  const res = await exchange(node, peerId, signCaRequest(keys, normalizeAor(email)), signalOf(init))
  if (!('requestId' in res)) throw new MalformedCaMessageError('The CA answered "request" with something else')
  return { requestId: res.requestId, expiresAt: res.expiresAt, peerId }
}

/**
 * Sends the code from the mail. Returns the identity certificate signed by
 * the CA, checked to be issued by the CA that answered (and by
 * `expectedCaKey` when given: the CA the user chose to trust).
 * @throws WrongCodeError | CodeExpiredError | TooManyAttemptsError | UnknownRequestError | CaUnavailableError | MalformedCaMessageError
 */
export async function confirmCertificate (node: CaNode, init: { requestId: string, code: string, peerId: string, expectedCaKey?: string, signal?: AbortSignal }): Promise<IdentityCertificate> {
  const res = await exchange(node, init.peerId, { op: 'confirm', requestId: init.requestId, code: init.code }, signalOf(init))
  if (!('certificate' in res)) throw new MalformedCaMessageError('The CA answered "confirm" with something else')
  if (res.certificate.issuer !== res.ca.key) throw new MalformedCaMessageError(`The certificate is not issued by the CA "${res.ca.name}" that sent it`)
  if (init.expectedCaKey !== undefined && res.ca.key !== init.expectedCaKey) {
    throw new MalformedCaMessageError(`The certificate is issued by "${res.ca.name}", not by the CA you chose`)
  }
  return res.certificate
}

async function exchange (node: CaNode, peerId: string, request: CaRequest, options: Signal): Promise<Extract<CaResponse, { ok: true }>> {
  const signal = anySignal(AbortSignal.timeout(CA_REQUEST_TIMEOUT_MS), options.signal)
  let pid
  try {
    pid = peerIdFromString(peerId)
  } catch {
    throw new CaUnavailableError(`"${peerId}" is not a supernode peer id`)
  }
  let stream
  try {
    stream = await node.dialProtocol(pid, CA_PROTOCOL, { signal })
  } catch (err) {
    if (options.signal?.aborted === true) throw options.signal.reason ?? err
    const name = (err as Error).name
    throw new CaUnavailableError(name === 'UnsupportedProtocolError'
      ? `Supernode ${peerId} runs no certificate authority`
      : `Cannot reach the certificate authority on ${peerId}: ${(err as Error).message}`)
  }
  try {
    return parseCaResponse(await exchangeFrames(stream, encodeCaMessage(request), MAX_CA_FRAME_BYTES, signal), request.op)
  } catch (err) {
    stream.abort(err as Error)
    if (options.signal?.aborted === true) throw options.signal.reason ?? err
    if (signal.aborted) throw new CaUnavailableError(`The certificate authority on ${peerId} did not answer within ${CA_REQUEST_TIMEOUT_MS / 1000} s`)
    throw err
  }
}
