/**
 * Handing a call to the user's browser: Thunderbird has no WebRTC, so the
 * media part of a call runs in the PWA, opened with
 * messenger.windows.openDefaultBrowser. One click: when the PWA is not yet a
 * linked device of this identity, the link pairs it first and then dials
 * (`#/pair/<offer>?then=/call/sip:<aor>`, see shared/overlay/pairing.ts);
 * otherwise it is the PWA's plain deep link `#/call/sip:<aor>`.
 */
import { pairingLink } from '../../shared/overlay/pairing.ts'
import type { PairingOffer } from '../../shared/overlay/pairing.ts'
import { normalizeAor } from '../../shared/identity/address.ts'

/** The PWA address is not set or not an http(s) URL. */
export class PwaAddressError extends Error {
  static readonly NAME = 'PwaAddressError'
  constructor (message = 'Calls open in the Peerline web app in your browser: choose it in Peerline\'s setup first.') {
    super(message)
    this.name = PwaAddressError.NAME
  }
}

/** `base` without its fragment, checked to be http(s). @throws PwaAddressError */
export function pwaBase (base: string): string {
  let url: URL
  try {
    url = new URL(base.trim())
  } catch {
    throw new PwaAddressError()
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new PwaAddressError('The web app address must start with https://')
  url.hash = ''
  return url.toString()
}

/** `<base>#/call/sip:<aor>` @throws PwaAddressError | InvalidAddressError */
export function callHandoffUrl (base: string, target: string): string {
  return `${pwaBase(base)}#/call/sip:${normalizeAor(target)}`
}

/** `<base>#/pair/<offer>?then=/call/sip:<aor>`: pair the browser as a device of this identity, then dial. */
export function pairAndCallUrl (base: string, offer: PairingOffer, target: string): string {
  return `${pairingLink(offer, pwaBase(base))}?then=/call/sip:${normalizeAor(target)}`
}

/** A hand-off URL as the add-on's pages may see it: a pairing offer (its code is a secret) is cut off, the `then` route kept. */
export function redactHandoff (url: string): string {
  const i = url.indexOf('#/pair/')
  if (i === -1) return url
  const q = url.indexOf('?then=', i)
  return `${url.slice(0, i)}#/pair/…${q === -1 ? '' : url.slice(q)}`
}
