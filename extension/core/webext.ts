/**
 * The few WebExtension APIs Peerline's shared extension code uses. They are
 * reached through webextension-polyfill: Firefox's and Thunderbird's own
 * `browser`, Chromium's `chrome` wrapped as `browser`. The narrow interfaces
 * below say which parts the code relies on and which are absent in some
 * contexts (Chromium's offscreen document and content scripts), and let
 * tests pass fakes. Target-only APIs (chrome.offscreen, messenger.*) are
 * typed where they are used.
 */
import browser from 'webextension-polyfill'


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

/** The polyfill's `browser` (loading it outside an extension throws). */
export function webext (): WebExtApi {
  // checked against the polyfill's types but for onMessage: they split a listener into
  // three kinds (returns true, a promise, or nothing), while ours may return any of them
  const api: Omit<WebExtApi, 'runtime'> & { runtime: Omit<RuntimeApi, 'onMessage'> } = browser
  return api as WebExtApi
}
