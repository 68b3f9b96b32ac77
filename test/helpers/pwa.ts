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
import type { CaInit } from '../../supernode/ca.ts'
import { serveApp } from '../../supernode/web.ts'
import type { WebServer } from '../../supernode/web.ts'
import { launchProfile } from './browser.ts'
import { eventually } from './eventually.ts'

/** One simulated person: their Chromium profile (and its directory), its page, and the page's uncaught errors. */
export interface Person { context: BrowserContext, page: Page, errors: string[], dir: string }

/** The name of servePwa's CA. */
export const TEST_CA_NAME = 'Test Mail CA'

export interface ServedPwa { sn: Supernode, web: WebServer, outDir: string }

/**
 * Builds the PWA (unminified) into a fresh temporary directory named
 * `<prefix>…`, starts a supernode on a loopback WebSocket and serves the app
 * configured with it. The build directory is pushed to `dirs` for the
 * caller to remove; if serving fails the supernode is stopped again. With
 * `caSmtpUrl` the supernode runs an email-verifying CA named TEST_CA_NAME.
 */
export async function servePwa (prefix: string, dirs: string[], options: { caSmtpUrl?: string } = {}): Promise<ServedPwa> {
  const outDir = await mkdtemp(join(tmpdir(), prefix))
  dirs.push(outDir)
  const built = await buildPwa({ minify: false, outDir })
  let ca: CaInit | undefined
  if (options.caSmtpUrl !== undefined) {
    // an email-verifying CA on the supernode, mailing its codes to that (test) SMTP server
    const keyDir = await mkdtemp(join(tmpdir(), `${prefix}ca-`))
    dirs.push(keyDir)
    ca = { keyFile: join(keyDir, 'ca-key.json'), name: TEST_CA_NAME, smtp: options.caSmtpUrl, from: 'Peerline CA <ca@example.test>', linkBase: 'http://app.example.test/' }
  }
  const sn = await startSupernode({ listen: ['/ip4/127.0.0.1/tcp/0/ws'], health: null, ...(ca !== undefined ? { ca } : {}) })
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

/** Moves the page to an app route (`#/chat/bob@example.org`) as a link would. */
export async function goTo (p: Page, hash: string): Promise<void> {
  await p.evaluate(h => { location.hash = h }, hash)
}

/** Dials `to` from the home screen's "Call or message" box, as a person would. */
export async function dial (from: Page, to: string): Promise<void> {
  await goTo(from, '#/')
  await from.getByRole('textbox', { name: 'Call or message' }).fill(to)
  await from.getByRole('button', { name: 'Call', exact: true }).click()
}

/**
 * Waits for the ringing screen on `at` for a call from `from`, reads its trust
 * badge (text, and whether it has the success style) and declines the call.
 * When it does not ring, the error says what the caller's page shows.
 */
export async function ringingBadge (at: Page, from: string, caller: Page, timeoutMs: number): Promise<{ text: string, success: boolean, all: string }> {
  const ringing = at.getByRole('dialog', { name: from })
  await ringing.waitFor({ timeout: timeoutMs }).catch(async (err: unknown) => {
    const said = await caller.getByRole('alert').allInnerTexts().catch(() => [])
    throw new Error(`${(err as Error).message}; the caller's page says: ${JSON.stringify(said)}`)
  })
  const text = (await ringing.locator('.badge.trust').innerText()).trim()
  const success = await ringing.locator('.badge.trust-success').count() > 0
  const all = await ringing.innerText()
  await at.getByRole('button', { name: 'Decline' }).click()
  await ringing.waitFor({ state: 'detached', timeout: 10_000 })
  return { text, success, all }
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
