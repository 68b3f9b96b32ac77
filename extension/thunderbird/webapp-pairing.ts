/**
 * Which web app (the PWA at the hand-off address) is a linked device of this
 * add-on's identity. A call handed to the browser carries a pairing offer
 * until the web app at that address has used one (background.ts handOffUrl):
 * the offer is remembered with the devices there were when it was made, and
 * the first new device while it is the open offer is the web app. An offer
 * made elsewhere (the options page's "Link a device") replaces it; then a
 * device joining is not the web app.
 *
 * @example
 * const webApp = webAppPairing({ storage: messenger().storage.local, overlay: () => services?.overlay })
 * if (!await webApp.paired(base)) link = pairAndCallUrl(base, await webApp.offer(overlay, base), aor)
 */
import type { Overlay } from '../../shared/overlay/overlay.ts'
import type { PairingOffer } from '../../shared/overlay/pairing.ts'

/** storage.local key: the web app paired through a hand-off (PairedWebApp). */
export const PAIRED_KEY = 'peerline.pairedWebApp'

export interface PairedWebApp {
  /** the web-app address the offer was handed to */
  base: string
  /** the paired browser's peer id, once it shows up in the roster */
  peerId?: string
  /** while the hand-off's offer is open: peer ids of the identity's devices when it was made */
  before?: string[]
  /** expiry of the hand-off's offer */
  expiresAt?: number
}

/** The parts of the overlay the web-app pairing reads. */
export type PairingOverlay = Pick<Overlay, 'devices' | 'createPairingOffer'>

export interface WebAppPairingComponents {
  /** where PairedWebApp is kept (Thunderbird's storage.local) */
  storage: {
    get: (key: string) => Promise<Record<string, unknown>>
    set: (items: Record<string, unknown>) => Promise<void>
  }
  /** the device's overlay, once started */
  overlay: () => PairingOverlay | undefined
}

export interface WebAppPairingInit {
  /** the clock offers expire by; default Date.now */
  now?: () => number
}

export interface WebAppPairing {
  /**
   * Whether the web app at `base` is a device of this identity: a browser
   * paired through an offer handed to that address and still in the roster.
   * While the hand-off's offer is open (not replaced, not expired), a new
   * device is the one that used it (and is remembered as the web app).
   */
  paired: (base: string) => Promise<boolean>
  /** The hand-off's offer was replaced: a device joining now is not the web app. */
  forgetOpenOffer: () => Promise<void>
  /** A pairing offer for the web app at `base`, remembered as the hand-off's open offer. */
  offer: (overlay: PairingOverlay, base: string) => Promise<PairingOffer>
}

export function webAppPairing (components: WebAppPairingComponents, init: WebAppPairingInit = {}): WebAppPairing {
  const { storage } = components
  const now = init.now ?? Date.now
  const load = async (): Promise<PairedWebApp | undefined> => (await storage.get(PAIRED_KEY))[PAIRED_KEY] as PairedWebApp | undefined
  const save = async (v: PairedWebApp): Promise<void> => { await storage.set({ [PAIRED_KEY]: v }) }

  return {
    paired: async base => {
      const overlay = components.overlay()
      if (overlay === undefined) return false
      const stored = await load()
      if (stored?.base !== base) return false
      const devices = overlay.devices().filter(d => !d.thisDevice).map(d => d.peerId)
      if (stored.peerId !== undefined) return devices.includes(stored.peerId)
      if (stored.before === undefined || (stored.expiresAt ?? 0) < now()) return false
      const fresh = devices.find(id => stored.before?.includes(id) !== true)
      if (fresh === undefined) return false
      await save({ base, peerId: fresh })
      return true
    },
    forgetOpenOffer: async () => {
      const stored = await load()
      if (stored?.before !== undefined) await save({ base: stored.base })
    },
    offer: async (overlay, base) => {
      const before = overlay.devices().map(d => d.peerId)
      const offer = await overlay.createPairingOffer({ name: 'Browser' })
      await save({ base, before, expiresAt: offer.expiresAt })
      return offer
    }
  }
}
