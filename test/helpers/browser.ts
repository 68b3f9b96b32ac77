/**
 * Debian's Chromium driven by playwright-core, headless, with fake media
 * devices and loopback WebRTC allowed. Nothing is downloaded.
 */
import { existsSync } from 'node:fs'
import { chromium } from 'playwright-core'
import type { Browser, BrowserContext } from 'playwright-core'

export const CHROMIUM = process.env.PEERLINE_CHROMIUM ?? '/usr/bin/chromium'

export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--allow-loopback-in-peer-connection',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'
]

function requireChromium (): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's chromium package (.ci/run does) or set PEERLINE_CHROMIUM`)
  }
}

export async function launchChromium (): Promise<Browser> {
  requireChromium()
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
}

/**
 * A Chromium profile of its own in `userDataDir` (IndexedDB, service worker
 * and all survive closing and relaunching it): one per simulated person.
 * Microphone and camera are granted (fake devices).
 */
export async function launchProfile (userDataDir: string, options: { viewport?: { width: number, height: number } } = {}): Promise<BrowserContext> {
  requireChromium()
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    permissions: ['microphone', 'camera'],
    ...(options.viewport !== undefined ? { viewport: options.viewport } : {})
  })
}
