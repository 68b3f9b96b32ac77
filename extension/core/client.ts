/**
 * For extension pages (popup, call window, options): the device that runs in
 * the background page / offscreen document (extension/core/device.ts). Pages
 * borrow its services object directly: same extension, same process, so the
 * Call objects, events and media streams are the real ones.
 */
import type { AppServices } from '../../shared/ui/app/services.ts'
import type { DeviceHost } from './device.ts'
import { callWindowPath } from './messages.ts'
import { webext } from './webext.ts'
import { windowGone } from './window-gone.ts'

/** How long a page waits for the device host to come up (starting the offscreen document takes well under a second). */
export const DEVICE_WAIT_MS = 15_000
/** Poll step while waiting for the host window to appear. */
const DEVICE_POLL_MS = 100

export class DeviceUnavailableError extends Error {
  static override name = 'DeviceUnavailableError'
  override name = 'DeviceUnavailableError'
  constructor (message = 'The Peerline background device did not start') { super(message) }
}

function findHost (): DeviceHost | undefined {
  const api = webext()
  for (const view of api.extension?.getViews?.() ?? []) {
    try {
      const host = view as unknown as DeviceHost
      if (host.peerlineDevice !== undefined) return host
    } catch {
      // a window being torn down
    }
  }
  return undefined
}

/**
 * Lends this page's microphone and camera to the device's phone while the
 * page is open (the call window does: see getUserMedia in device.ts).
 */
export function lendMedia (): void {
  const host = findHost()
  if (host === undefined) return
  const sources = host.peerlineMediaSources ??= []
  sources.push(window)
  addEventListener('pagehide', () => {
    const i = sources.indexOf(window)
    if (i >= 0) sources.splice(i, 1)
  }, { once: true })
}

/** The running device's services; wakes the background (Chromium: creates the offscreen document) when needed. */
export async function connectDevice (options: { signal?: AbortSignal } = {}): Promise<AppServices> {
  const api = webext()
  const deadline = Date.now() + DEVICE_WAIT_MS
  let asked = false
  while (Date.now() < deadline) {
    options.signal?.throwIfAborted()
    let host = findHost()
    if (host === undefined && api.runtime.getBackgroundPage !== undefined) {
      host = await api.runtime.getBackgroundPage().then(w => w as unknown as DeviceHost, () => undefined)
      if (host?.peerlineDevice === undefined) host = undefined
    }
    if (host?.peerlineDevice !== undefined) return await host.peerlineDevice
    if (!asked) {
      asked = true
      api.runtime.sendMessage({ command: 'ensure-device' }).catch(() => {})
    }
    await new Promise(resolve => { setTimeout(resolve, DEVICE_POLL_MS) })
  }
  throw new DeviceUnavailableError()
}

/** How long a dial granted by an extension page waits for its call window (which opens within a second or two). */
const DIAL_GRANT_MS = 15_000

/**
 * Records that the user dialled `target` from an extension page (the popup's
 * dial box, a buddy's Dial button): the call window that opens for it dials
 * without asking again. Only extension pages reach the device host, so a web
 * page cannot grant itself a call.
 */
export function grantDial (target: string): void {
  const host = findHost()
  if (host === undefined) return
  const grants = host.peerlineDialGrants ??= new Map<string, number>()
  grants.set(target, Date.now() + DIAL_GRANT_MS)
}

/** Takes the grant for `target` (see grantDial()); false when there is none or it lapsed: the call window asks first. */
export function takeDialGrant (target: string): boolean {
  const grants = findHost()?.peerlineDialGrants
  const until = grants?.get(target)
  if (until === undefined) return false
  grants?.delete(target)
  return until >= Date.now()
}

/**
 * Makes this page the owner of call `callId`, the window that hangs it up when
 * it closes; false when another open window owns it already (that one keeps the call).
 */
export function claimCall (callId: string): boolean {
  const host = findHost()
  if (host === undefined) return true
  const owners = host.peerlineCallOwners ??= new Map<string, Window>()
  const owner = owners.get(callId)
  if (owner !== undefined && owner !== window && !windowGone(owner)) return false
  owners.set(callId, window)
  addEventListener('pagehide', () => { if (owners.get(callId) === window) owners.delete(callId) }, { once: true })
  return true
}

/** Call window size: the PWA's phone layout. */
export const CALL_WINDOW = { width: 400, height: 640 }

/** Opens the call window that dials `target`: for extension pages, where the user asked for the call (see grantDial()). */
export async function openCallWindow (target: string): Promise<void> {
  const api = webext()
  grantDial(target)
  const url = api.runtime.getURL(callWindowPath(target))
  if (api.windows !== undefined) {
    await api.windows.create({ url, type: 'popup', ...CALL_WINDOW })
  } else {
    await api.runtime.sendMessage({ command: 'open-call', target })
  }
}
