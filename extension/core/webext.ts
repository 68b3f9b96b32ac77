/**
 * The few WebExtension APIs Peerline's shared extension code uses, typed here
 * instead of pulling a whole typings package: Chromium's `chrome.*` (promise
 * returning in MV3) and Firefox/Thunderbird's `browser.*` share these shapes.
 * Target-only APIs (chrome.offscreen, messenger.*) are typed where they are used.
 */

/** Who sent a runtime message: `id` is the sending extension's, `tab` is set for content scripts and pages in a tab. */
export interface MessageSender { id?: string, tab?: { id?: number }, url?: string }

/** One message switch on `command` (see extension/core/messages.ts). */
export interface RuntimeApi {
  id: string
  getURL: (path: string) => string
  sendMessage: (message: unknown) => Promise<unknown>
  onMessage: {
    addListener: (fn: (message: unknown, sender: MessageSender, sendResponse: (r: unknown) => void) => boolean | undefined | Promise<unknown>) => void
  }
  getBackgroundPage?: () => Promise<Window>
  onConnect?: { addListener: (fn: (port: { name: string, onMessage: { addListener: (fn: (m: unknown) => void) => void } }) => void) => void }
  onStartup?: { addListener: (fn: () => void) => void }
  onInstalled?: { addListener: (fn: () => void) => void }
  openOptionsPage?: () => Promise<void>
}

export interface WindowsApi {
  create: (data: { url: string, type?: 'popup' | 'normal', width?: number, height?: number, focused?: boolean }) => Promise<{ id?: number }>
  update?: (id: number, data: { focused?: boolean }) => Promise<unknown>
  onRemoved?: { addListener: (fn: (windowId: number) => void) => void }
}

export interface NotificationsApi {
  create: (id: string, options: { type: 'basic', iconUrl: string, title: string, message: string, requireInteraction?: boolean }) => Promise<string>
  clear: (id: string) => Promise<boolean>
  onClicked: { addListener: (fn: (id: string) => void) => void }
}

export interface StorageArea {
  get: (keys: string | string[]) => Promise<Record<string, unknown>>
  set: (items: Record<string, unknown>) => Promise<void>
  remove?: (keys: string | string[]) => Promise<void>
}

export interface WebExtApi {
  runtime: RuntimeApi
  /** absent in Chromium's offscreen documents and in content scripts */
  windows?: WindowsApi
  notifications?: NotificationsApi
  /** `session`: Chromium 102+, Firefox 115+ (kept while the browser runs, survives a service worker restart) */
  storage?: { local: StorageArea, session?: StorageArea }
  extension?: { getViews?: () => Window[] }
}

/** `browser` where it exists (Firefox, Thunderbird), else Chromium's `chrome`. */
export function webext (): WebExtApi {
  const g = globalThis as { browser?: WebExtApi, chrome?: WebExtApi }
  const api = g.browser ?? g.chrome
  if (api?.runtime === undefined) throw new Error('Peerline: no WebExtension API in this context')
  return api
}
