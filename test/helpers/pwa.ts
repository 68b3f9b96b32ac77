/**
 * The built PWA next to a real in-process supernode, and the steps a person
 * takes in it (open it in a Chromium profile of their own, create an
 * identity): shared by the browser tests and the call-setup benchmark.
 */
import { appendFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { buildPwa } from '../../build/build.ts'
import { startSupernode } from '../../supernode/supernode.ts'
import type { Supernode } from '../../supernode/supernode.ts'
import { serveApp } from '../../supernode/web.ts'
import type { WebServer } from '../../supernode/web.ts'
import { launchProfile } from './browser.ts'
import { eventually } from './eventually.ts'

/** One simulated person: their Chromium profile (and its directory), its page, and the page's uncaught errors. */
export interface Person { context: BrowserContext, page: Page, errors: string[], dir: string }

export interface ServedPwa { sn: Supernode, web: WebServer, outDir: string }

/**
 * Builds the PWA (unminified) into a fresh temporary directory named
 * `<prefix>…`, starts a supernode on a loopback WebSocket and serves the app
 * configured with it. The build directory is pushed to `dirs` for the
 * caller to remove; if serving fails the supernode is stopped again.
 */
export async function servePwa (prefix: string, dirs: string[]): Promise<ServedPwa> {
  const outDir = await mkdtemp(join(tmpdir(), prefix))
  dirs.push(outDir)
  const built = await buildPwa({ minify: false, outDir })
  const sn = await startSupernode({ listen: ['/ip4/127.0.0.1/tcp/0/ws'], health: null })
  try {
    const web = await serveApp({ root: built.outDir, host: '127.0.0.1', port: 0, config: () => ({ supernodes: sn.addrs }), health: sn.health })
    return { sn, web, outDir }
  } catch (err) {
    await sn.stop()
    throw err
  }
}

/**
 * The teardown for servePwa and openPerson: closes every person's browser
 * (ignoring ones already gone), the web server and the supernode, then
 * removes the temporary directories. Tolerates a before() that failed early.
 */
export async function stopPwa (people: readonly Person[], web: WebServer | undefined, sn: Supernode | undefined, dirs: readonly string[]): Promise<void> {
  for (const p of people) await p.context.close().catch(() => {})
  await web?.close()
  await sn?.stop()
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
}

/**
 * A new Chromium profile in a temporary directory named `<prefix>…` (pushed
 * to `dirs`), its first page collecting uncaught errors and opened at `url`.
 * The person is pushed to `people` when given.
 */
export async function openPerson (url: string, options: { prefix: string, dirs: string[], people?: Person[], viewport?: { width: number, height: number } }): Promise<Person> {
  const dir = await mkdtemp(join(tmpdir(), options.prefix))
  options.dirs.push(dir)
  const context = await launchProfile(dir, options.viewport !== undefined ? { viewport: options.viewport } : {})
  const page = context.pages()[0] ?? await context.newPage()
  const errors: string[] = []
  page.on('pageerror', err => errors.push(err.message))
  const log = process.env.PEERLINE_TEST_BROWSER_LOG
  if (log != null && log !== '') {
    // every page's console (with the peerline:debug scopes of PEERLINE_DEBUG, default sip and overlay) appended to one file, tagged by profile
    const tag = dir.slice(-6)
    page.on('console', m => { appendFileSync(log, `${new Date().toISOString()} ${tag} ${m.text()}\n`) })
    await context.addInitScript(scopes => { localStorage.setItem('peerline:debug', scopes) }, process.env.PEERLINE_DEBUG ?? 'sip:*,overlay:*')
  }
  await page.goto(url)
  const person = { context, page, errors, dir }
  options.people?.push(person)
  return person
}

/** Fills the onboarding form (PWA or extension options page) and presses "Create identity". */
export async function submitIdentityForm (p: Page, email: string, name: string): Promise<void> {
  await p.getByRole('textbox', { name: 'Email address' }).fill(email)
  await p.getByRole('textbox', { name: 'Display name' }).fill(name)
  await p.getByRole('button', { name: 'Create identity' }).click()
}

/** Onboards through the PWA's UI, as a person would, and waits until the new identity is online. */
export async function onboard (p: Page, email: string, name: string, timeoutMs: number): Promise<void> {
  await submitIdentityForm(p, email, name)
  // the identity's own session replaces the pre-onboarding one: wait for it
  // before trusting "Online" (the old session may still say so for a moment)
  await p.locator('.me').filter({ hasText: email.toLowerCase() }).waitFor({ timeout: timeoutMs })
  await p.getByRole('status').filter({ hasText: /^Online/ }).waitFor({ timeout: timeoutMs })
}

/**
 * Audio RTP counters (packets both ways, energy received) of the call on
 * `page`: the extension's call window (`peerlineCall`) or the PWA's first call.
 */
export async function audioRtp (page: Page, which: 'extension' | 'pwa' = 'pwa'): Promise<{ sent: number, received: number, energy: number }> {
  return await page.evaluate(async w => {
    const g = globalThis as any
    const call = w === 'extension' ? g.peerlineCall : g.peerline.phone.calls()[0]
    const pc = call?.peerConnection as RTCPeerConnection | undefined
    const r = { sent: 0, received: 0, energy: 0 }
    if (pc == null) return r
    ;(await pc.getStats()).forEach((s: any) => {
      if (s.kind !== 'audio') return
      if (s.type === 'outbound-rtp') r.sent += s.packetsSent ?? 0
      if (s.type === 'inbound-rtp') { r.received += s.packetsReceived ?? 0; r.energy += s.totalAudioEnergy ?? 0 }
    })
    return r
  }, which)
}

export interface AudioCounters { sent: number, received: number, energy: number }

/**
 * Gain in WebRTC totalAudioEnergy that counts as sound: one beep of Chromium's
 * fake microphone adds about 0.1 (measured); silence or comfort noise ~1e-9.
 */
export const AUDIBLE = 0.01

/**
 * Waits (up to 15 s) until audio RTP grows both ways between Alice and Bob and
 * sound (not silence) arrives on both sides; fails with the first readings.
 * Returns the readings before and after.
 */
export async function expectAudioBothWays (read: { alice: () => Promise<AudioCounters>, bob: () => Promise<AudioCounters> }): Promise<{ first: Record<'alice' | 'bob', AudioCounters>, second: Record<'alice' | 'bob', AudioCounters> }> {
  const first = { alice: await read.alice(), bob: await read.bob() }
  const second = await eventually(async () => {
    const now = { alice: await read.alice(), bob: await read.bob() }
    for (const side of ['alice', 'bob'] as const) {
      if (!(now[side].sent > first[side].sent && now[side].received > first[side].received)) return undefined
      if (!(now[side].energy - first[side].energy > AUDIBLE)) return undefined
    }
    return now
  }, { timeoutMs: 15_000, what: 'RTP both ways' }).catch(() => undefined)
  if (second === undefined) throw new Error(`audio RTP did not grow both ways: ${JSON.stringify(first)}`)
  return { first, second }
}
