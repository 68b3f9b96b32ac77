/**
 * The extension's overlay device: the same AppServices (shared/ui/app) the PWA runs (identity,
 * overlay, phone, history, settings), hosted in one long-lived extension
 * context: Firefox's background page, Chromium's offscreen document,
 * Thunderbird's background page. Extension pages (popup, call window,
 * options) do not run a second node: they borrow this one through
 * `connectDevice()` (extension/core/client.ts), since extension pages of one
 * extension share a process and see each other's windows.
 *
 * The host window carries `peerlineDevice` (a Promise of the started
 * services); `window.peerline` (set by AppServices) serves tests and debugging.
 */
import { AppServices } from '../../shared/ui/app/services.ts'
import type { Call } from '../../shared/sip/api.ts'
import { logger } from '../../shared/util/logger.ts'
import { windowGone } from './window-gone.ts'

const log = logger('extension:device')

/** What a host context does for the device that only it can (a window, a notification). */
export interface DevicePlatform {
  /** someone is calling: tell the user and open the call window for `call.id` */
  ring: (call: Call) => void
  /** false where the host has no WebRTC (Thunderbird): the overlay then offers no WebRTC connections */
  webrtc?: boolean
  /** this device's name in the user's device list ("Peerline for Thunderbird") */
  deviceName: string
}

export interface DeviceHost {
  peerlineDevice?: Promise<AppServices>
  /** call windows lending their microphone/camera, newest last (see lendMedia() in client.ts) */
  peerlineMediaSources?: Window[]
  /** targets the user dialled from an extension page, with when the grant lapses (see grantDial() in client.ts) */
  peerlineDialGrants?: Map<string, number>
  /** call id → the call window that hangs it up when closed (see claimCall() in client.ts) */
  peerlineCallOwners?: Map<string, Window>
}

/**
 * The phone's getUserMedia: through the newest open call window, where the
 * browser can ask the user (a background page or offscreen document cannot
 * show a permission prompt); this context's own as the fallback.
 */
async function getUserMedia (constraints: MediaStreamConstraints): Promise<MediaStream> {
  const sources = (globalThis as DeviceHost).peerlineMediaSources ?? []
  for (let i = sources.length - 1; i >= 0; i--) {
    const w = sources[i] as Window
    if (windowGone(w)) { sources.splice(i, 1); continue }
    return await w.navigator.mediaDevices.getUserMedia(constraints)
  }
  return await navigator.mediaDevices.getUserMedia(constraints)
}

/**
 * Starts the device once per host context and publishes it as
 * `globalThis.peerlineDevice`. Without an identity the services run a probe
 * overlay until the options page creates or restores one.
 */
export function startDevice (platform: DevicePlatform): Promise<AppServices> {
  const host = globalThis as DeviceHost
  // the host creates the collections pages share: in Firefox an object that a
  // page creates dies with that page ("can't access dead object")
  host.peerlineMediaSources ??= []
  host.peerlineDialGrants ??= new Map()
  host.peerlineCallOwners ??= new Map()
  host.peerlineDevice ??= (async () => {
    // no config.json ships with the extension: supernodes come from the options page
    const services = new AppServices({ configUrl: 'data:application/json,{}', getUserMedia, deviceName: platform.deviceName, ...(platform.webrtc === false ? { webrtc: false } : {}) })
    services.addEventListener('call:incoming', evt => {
      try {
        platform.ring(evt.detail)
      } catch (err) {
        log.error('cannot ring: %s', (err as Error).message)
      }
    })
    services.addEventListener('error', evt => {
      const e = evt.detail.error as Error | undefined
      log.error('device: %s', e?.message ?? String(evt.detail.error))
    })
    await services.start()
    return services
  })()
  return host.peerlineDevice
}
