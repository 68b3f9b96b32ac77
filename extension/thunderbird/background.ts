/**
 * Thunderbird's background page (bundled as background.js of the Thunderbird
 * add-on). It hosts the overlay device (extension/core/device.ts: overlay +
 * phone, the app's AppServices from shared/ui/app) and adds what only Thunderbird has:
 * - address-book contacts as buddies (buddies.ts) with presence (presence.ts);
 * - Call / Chat for the sender of the displayed message (message_display_action
 *   popup msg-actions.html) and sip: links clicked inside mail
 *   (message display script sip-mail.js);
 * - chat inside Thunderbird (chat.html) with transcripts saved as mail in
 *   "Peerline Chats" (transcripts.ts);
 * - incoming calls ring as a notification; calls are handed to the user's
 *   browser (handoff.ts), since Thunderbird has no WebRTC;
 * - email verification completed from the CA's mail, when the user asks
 *   (verify-mail.ts).
 *
 * Staying online: Thunderbird's MV3 background is an event page that Gecko
 * unloads after extensions.background.idle.timeout (30 s) without extension
 * activity. Two supported mechanisms keep it: the keepalive.html frame of
 * extension/core (an open runtime port with regular messages) and a
 * KEEPALIVE_API_INTERVAL_MS call of runtime.getPlatformInfo(), since every
 * extension API call resets Gecko's idle timer (test/extension/thunderbird.test.ts
 * shortens the timeout to 8 s and checks the page is never unloaded; without
 * the calls it is unloaded after the timeout, port or not). runtime.onStartup
 * is registered so the page (and the node) starts with Thunderbird.
 *
 * Manifest (extension/thunderbird/manifest.part.json, merged by
 * build/extension.ts): the address book `action` opens buddies.html,
 * `message_display_action` opens msg-actions.html, MailExtension permissions
 * (addressBooks, messagesRead/Import, accountsRead/Folders, scripting), and
 * `content_security_policy.extension_pages: "script-src 'self'"`: Gecko's
 * MV3 default adds `upgrade-insecure-requests`, which turns ws:// supernode
 * addresses (a local `npm start`) into wss:// and the connection fails.
 *
 * Listeners are registered synchronously at top level (CONVENTIONS 11); one
 * message switch on `command`.
 */
import type { AppServices } from '../../shared/ui/app/services.ts'
import type { Call } from '../../shared/sip/api.ts'
import type { Overlay } from '../../shared/overlay/overlay.ts'
import { pairingLink } from '../../shared/overlay/pairing.ts'
import type { PairingOffer } from '../../shared/overlay/pairing.ts'
import { logger } from '../../shared/util/logger.ts'
import { normalizeAor } from '../../shared/identity/address.ts'
import type { TrustSnapshot } from '../../shared/store/history-api.ts'
import { partyTrust, TRUST_TEXT, trustLabel } from '../../shared/ui/trust-text.ts'
import { startDevice } from '../core/device.ts'
import { BuddyDirectory } from './buddies.ts'
import type { AddressBookBuddy } from './buddies.ts'
import { callHandoffUrl, pairAndCallUrl, pwaBase, PwaAddressError, redactHandoff } from './handoff.ts'
import { messenger } from './messenger.ts'
import { PresenceScheduler, shownPresence } from './presence.ts'
import type { PresenceState } from './presence.ts'
import { TranscriptStore } from './transcripts.ts'
import { allowRingingWithoutWebRtc } from './no-media.ts'
import { CA_MAIL_MAX_AGE_MS, verifyFromMail } from './verify-mail.ts'
import { asThunderbirdMessage } from './commands.ts'
import { webAppPairing } from './webapp-pairing.ts'
import type { BuddyView, ThunderbirdState } from './commands.ts'

declare const __PEERLINE_TEST_HARNESS__: string

const log = logger('thunderbird:background')

/** A sixth of Gecko's 30 s event-page idle timeout: the page survives a busy event loop or a shortened timeout. */
const KEEPALIVE_API_INTERVAL_MS = 5_000
/** storage.local key of the PWA address calls are handed to. */
const PWA_BASE_KEY = 'peerline.pwaBase'
/** Notification ids of incoming calls carry the call id. */
const RING_PREFIX = 'peerline-tb-call:'
/** Chat window size: the PWA's phone layout. */
const CHAT_WINDOW = { width: 420, height: 640 }

const api = messenger()
/** false in Thunderbird: incoming calls ring (no-media.ts) and are answered in the browser */
const nativeWebRtc = allowRingingWithoutWebRtc()
const directory = new BuddyDirectory(api)
const ringing = new Map<string, Call>()
/** URLs handed to the browser, newest last (part of the pages' state; the test driver checks them). */
const handoffs: string[] = []
/** Hand-off URLs remembered: the last few are enough to show what was opened. */
const HANDOFFS_KEPT = 20
let services: AppServices | undefined

const presence = new PresenceScheduler({}, {
  lookup: async (aor, { signal }) => {
    // offline: no answer yet rather than a cached 'unknown' for the whole TTL
    if (services?.status.connected !== true) return undefined
    return await services.presence(aor, { signal }) as PresenceState
  },
  onChange: () => {}
})

const transcripts = new TranscriptStore(api, {
  me: () => services?.me !== undefined ? { aor: normalizeAor(services.me.email), displayName: services.me.displayName } : undefined,
  peerName: aor => directory.nameOf(aor),
  history: () => services?.history
})
/** Chat windows open now: window id → peer (its transcript is written when the window closes). */
const chatWindows = new Map<number, string>()

// ── address book events ─────────────────────────────────────────────────────
api.addressBooks.contacts.onCreated.addListener(node => { directory.put(node) })
api.addressBooks.contacts.onUpdated.addListener(node => { directory.put(node) })
api.addressBooks.contacts.onDeleted.addListener((_parentId, id) => { directory.remove(id) })
api.addressBooks.onCreated.addListener(book => {
  directory.addBook(book).catch((err: unknown) => { log.error('new address book: %s', (err as Error).message) })
})
api.addressBooks.onDeleted.addListener(id => { directory.removeBook(id) })
api.windows.onRemoved.addListener(windowId => {
  const peer = chatWindows.get(windowId)
  if (peer === undefined) return
  chatWindows.delete(windowId)
  transcripts.flushPeer(peer).catch(() => {})
})
directory.onChange(() => { presence.setBuddies(directory.list().map(b => b.aor)) })

// ── lifecycle: start with Thunderbird and stay up ───────────────────────────
api.runtime.onStartup.addListener(() => { log('Thunderbird started') })
api.runtime.onInstalled.addListener(details => {
  log('installed (%s)', details.reason ?? '?')
  // first install: the short setup (identity, web app, supernodes, verification) opens by itself
  if (details.reason === 'install') openSetupWhenShown().catch((err: unknown) => { log.error('setup page: %s', (err as Error).message) })
})

/** How long first-install setup waits for Thunderbird's main window (the options tab opens there). */
const SETUP_WINDOW_WAIT_MS = 60_000

/**
 * Opens setup (the options page, a tab of the main window) once that window
 * exists: onInstalled can fire while Thunderbird is still starting, and an
 * options page asked for then is not shown.
 */
async function openSetupWhenShown (): Promise<void> {
  const deadline = Date.now() + SETUP_WINDOW_WAIT_MS
  while ((await api.windows.getAll({ windowTypes: ['normal'] })).length === 0) {
    if (Date.now() > deadline) break
    await new Promise(resolve => { setTimeout(resolve, 500) })
  }
  await api.runtime.openOptionsPage()
}
setInterval(() => { api.runtime.getPlatformInfo().catch(() => {}) }, KEEPALIVE_API_INTERVAL_MS)
if (typeof document !== 'undefined' && document.body !== null) {
  const frame = document.createElement('iframe')
  frame.src = api.runtime.getURL('keepalive.html')
  frame.hidden = true
  document.body.append(frame)
}

// ── incoming calls: a notification; answering hands the call to the browser
api.notifications.onClicked.addListener(id => { void onNotificationClicked(id) })

/**
 * What a click on a notification does (the listener above calls only this;
 * the test driver calls it too, since a headless Thunderbird cannot click).
 * Returns the hand-off URL when a ringing call was answered.
 */
async function onNotificationClicked (id: string): Promise<string | undefined> {
  if (!id.startsWith(RING_PREFIX)) return undefined
  try {
    return await answerInBrowser(id.slice(RING_PREFIX.length))
  } catch (err) {
    void notifyError(err)
    return undefined
  }
}

/**
 * Answering hands the call to the browser. The hand-off link is built first:
 * when that fails (no web-app address set, …) the call keeps ringing here
 * and the error is shown. Only then the ringing stops (480 "Calling back
 * from another device", so the caller's other forks keep ringing and the
 * caller is told why) and the PWA calls back at once, in the same click. (A
 * PWA that is already a linked device and open rings by itself and can
 * answer directly.)
 * @throws PwaAddressError | InvalidAddressError (the call still rings)
 */
async function answerInBrowser (callId: string): Promise<string | undefined> {
  const call = ringing.get(callId)
  if (call === undefined) return undefined
  const url = await handOffUrl(call.remote.aor)
  if (ringing.get(callId) !== call) return undefined // ended meanwhile
  ringing.delete(callId)
  call.decline({ callBack: true })
  await openInBrowser(url)
  return url
}

function ring (call: Call): void {
  ringing.set(call.id, call)
  const id = RING_PREFIX + call.id
  const who = call.remote.displayName !== '' ? `${call.remote.displayName} <${call.remote.aor}>` : call.remote.aor
  call.addEventListener('ended', () => {
    ringing.delete(call.id)
    api.notifications.clear(id).catch(() => {})
  })
  api.notifications.create(id, {
    type: 'basic',
    iconUrl: api.runtime.getURL('icons/icon-96.png'),
    // the same words as every other screen (shared/ui/trust-text.ts)
    title: TRUST_TEXT.notificationTitle(trustLabel(partyTrust(call.remote, services?.trust), call.remote.aor)),
    message: `${who} is calling. Click to answer in your browser.`,
    requireInteraction: true
  }).catch((err: unknown) => { log.error('notification: %s', (err as Error).message) })
}

async function notifyError (err: unknown): Promise<void> {
  const message = err instanceof PwaAddressError ? err.message : `Peerline: ${(err as Error).message}`
  await api.notifications.create(`peerline-tb-error:${Date.now()}`, {
    type: 'basic', iconUrl: api.runtime.getURL('icons/icon-96.png'), title: 'Peerline', message
  }).catch(() => {})
}

// ── hand-off to the browser ─────────────────────────────────────────────────
async function pwaBaseSetting (): Promise<string> {
  const v = (await api.storage.local.get(PWA_BASE_KEY))[PWA_BASE_KEY]
  webAppSet = typeof v === 'string' && v.trim() !== ''
  if (typeof v !== 'string' || !webAppSet) throw new PwaAddressError()
  return v
}
/** Whether a web app address is set, as last read (the pages' state says so). */
let webAppSet = false

/**
 * The web app, opened from setup: linked as a device of this identity first
 * when it is not yet (the same one-click pairing as a call's hand-off), else
 * its plain address. @throws PwaAddressError
 */
async function openWebApp (): Promise<string> {
  const base = pwaBase(await pwaBaseSetting())
  const overlay = services?.overlay
  let url = base
  if (overlay !== undefined && overlay.primary && overlay.status.online) {
    await trackPairing(overlay)
    if (!await webAppPaired(base)) {
      try {
        makingHandoffOffer = true
        url = pairingLink(await webApp.offer(overlay, base), base)
      } catch (err) {
        log.error('no pairing offer (%s): opening the web app unlinked', (err as Error).message)
      } finally {
        makingHandoffOffer = false
      }
    }
  }
  await openInBrowser(url)
  return url
}

/** Which web app is a linked device (webapp-pairing.ts); the hand-off's offers are made through it. */
const webApp = webAppPairing({ storage: api.storage.local, overlay: () => services?.overlay })
const forgetOpenHandoffOffer = webApp.forgetOpenOffer
const webAppPaired = webApp.paired

/** Overlays whose offers and roster changes are followed (trackPairing). */
const tracked = new WeakSet<Overlay>()
/** true while a hand-off makes its own offer (which is not "an offer made elsewhere") */
let makingHandoffOffer = false

/**
 * Follows `overlay`'s pairing from the moment it exists: an offer made
 * elsewhere (the options page's "Link a device") replaces the hand-off's, so
 * a device joining after that is not the web app; a roster change while the
 * hand-off's offer was the open one records the new device as the web app
 * (webAppPaired). A new overlay (start, new identity) has no open offer: a
 * hand-off offer remembered from before is void.
 */
async function trackPairing (overlay: Overlay): Promise<void> {
  if (tracked.has(overlay)) return
  tracked.add(overlay)
  overlay.addEventListener('pairing:offer', () => {
    if (!makingHandoffOffer) forgetOpenHandoffOffer().catch(() => {})
  })
  overlay.addEventListener('devices:change', () => {
    void api.storage.local.get(PWA_BASE_KEY).then(async v => {
      const base = v[PWA_BASE_KEY]
      if (typeof base === 'string') await webAppPaired(pwaBase(base))
    }).catch(() => {})
  })
  await forgetOpenHandoffOffer()
}

/**
 * The URL that opens the PWA to call `target`. When this add-on's identity
 * is primary and the web app at the configured address has not been paired
 * (whatever other devices exist), the link also pairs the browser as a
 * linked device first (one click); otherwise the plain call link.
 * @throws PwaAddressError | InvalidAddressError
 */
async function handOffUrl (target: string): Promise<string> {
  const base = pwaBase(await pwaBaseSetting())
  const aor = normalizeAor(target)
  const url = callHandoffUrl(base, aor)
  const overlay = services?.overlay
  if (overlay === undefined || !overlay.primary || !overlay.status.online) return url
  await trackPairing(overlay)
  if (await webAppPaired(base)) return url
  try {
    makingHandoffOffer = true
    let offer: PairingOffer
    try {
      offer = await webApp.offer(overlay, base)
    } finally {
      makingHandoffOffer = false
    }
    return pairAndCallUrl(base, offer, aor)
  } catch (err) {
    log.error('no pairing offer (%s): handing off the plain call link', (err as Error).message)
    return url
  }
}

async function openInBrowser (url: string): Promise<void> {
  handoffs.push(url)
  if (handoffs.length > HANDOFFS_KEPT) handoffs.shift()
  await api.windows.openDefaultBrowser(url)
}

/** Opens the PWA in the default browser to call `target` (handOffUrl). */
async function handOffCall (target: string): Promise<string> {
  const url = await handOffUrl(target)
  await openInBrowser(url)
  return url
}

async function openChat (target: string): Promise<number | undefined> {
  const aor = normalizeAor(target)
  const w = await api.windows.create({ url: api.runtime.getURL(`chat.html#${encodeURIComponent(aor)}`), type: 'popup', ...CHAT_WINDOW })
  if (w.id !== undefined) chatWindows.set(w.id, aor)
  return w.id
}

// ── state for the pages and the test driver ────────────────────────────────
function buddyView (b: AddressBookBuddy): BuddyView {
  const p = presence.get(b.aor)
  const trust: TrustSnapshot = services !== undefined ? services.keys.level(b.aor) : { level: 'unverified' }
  return { aor: b.aor, name: b.name, presence: shownPresence(p, { online: services?.status.connected === true, now: Date.now() }), checkedAt: p.checkedAt, trust }
}

/** State for the pages (hand-off URLs redacted). */
function state (): ThunderbirdState {
  return { ...fullState(), handoffs: handoffs.map(redactHandoff) }
}

/** TEST-ONLY reading (the driver): the hand-off URLs as opened, pairing offers included. */
function fullState (): ThunderbirdState {
  const me = services?.me
  return {
    me: me !== undefined ? { aor: normalizeAor(me.email), displayName: me.displayName } : undefined,
    online: services?.status.connected ?? false,
    webApp: webAppSet,
    buddies: directory.list().map(buddyView),
    skipped: directory.skipped(),
    handoffs: handoffs.slice(),
    ringing: [...ringing.values()].map(c => ({ callId: c.id, from: c.remote.aor }))
  }
}

/** Commands that change settings or read mail: only from the add-on's own pages, never from a script inside a message. */
const PAGE_ONLY = new Set(['tb:set-pwa-base', 'tb:open-webapp', 'tb:verify-from-inbox', 'tb:verify-request', 'tb:flush-transcripts'])

api.runtime.onMessage.addListener((raw, sender) => {
  const m = asThunderbirdMessage(raw)
  if (m === undefined) return undefined
  if (PAGE_ONLY.has(m.command) && (sender.id !== api.runtime.id || sender.tab !== undefined && !isExtensionUrl(sender.url))) {
    return Promise.resolve({ ok: false, error: 'Not allowed from this sender', name: 'ForbiddenSenderError' })
  }
  switch (m.command) {
    case 'tb:state':
      return Promise.all([directory.load(), pwaBaseSetting().catch(() => '')]).then(state)
    case 'tb:visible':
      presence.setVisible(m.aors)
      return Promise.resolve({ ok: true })
    case 'tb:call':
      // the page shows the error (with a way to setup): no notification on top
      return handOffCall(m.target).then(url => ({ ok: true, url }), (err: unknown) => ({ ok: false, error: (err as Error).message, name: (err as Error).name }))
    case 'tb:chat':
      return openChat(m.target).then(() => ({ ok: true }), (err: unknown) => ({ ok: false, error: (err as Error).message }))
    case 'tb:sip-link':
      // a sip: link clicked in a displayed message: Peerline calls (in the browser)
      return handOffCall(m.uri).then(url => ({ ok: true, url }), (err: unknown) => { void notifyError(err); return { ok: false, error: (err as Error).message } })
    case 'tb:set-pwa-base':
      return answer(async () => {
        const base = pwaBase(m.base)
        await api.storage.local.set({ [PWA_BASE_KEY]: base })
        webAppSet = true
        return base
      })
    case 'tb:open-webapp':
      return answer(openWebApp)
    case 'tb:flush-transcripts':
      return transcripts.flush().then(headers => ({ ok: true, saved: headers.length }), (err: unknown) => ({ ok: false, error: (err as Error).message }))
    case 'tb:verify-find':
      return answer(async () => await requireServices().verification.find())
    case 'tb:verify-request':
      return answer(async () => {
        const s = requireServices()
        const ca = (await s.verification.find()).find(c => c.peerId === m.peerId)
        if (ca === undefined) throw new Error('That CA is no longer reachable')
        return await s.verification.request(ca)
      })
    case 'tb:verify-from-inbox':
      // the user clicked "Read the code from my mail": that click is the consent
      return answer(verifyFromInbox)
  }
})

/** `{ ok: true, result }` or `{ ok: false, error, name }` for the pages. */
async function answer (fn: () => Promise<unknown>): Promise<unknown> {
  try {
    return { ok: true, result: await fn() }
  } catch (err) {
    return { ok: false, error: (err as Error).message, name: (err as Error).name }
  }
}

/** A page of this add-on (extension pages in a tab or window carry `tab` too; scripts inside a message do not have an add-on URL). */
function isExtensionUrl (url: string | undefined): boolean {
  return url !== undefined && url.startsWith(api.runtime.getURL(''))
}

function requireServices (): AppServices {
  if (services?.me === undefined) throw new Error('Create your identity in Peerline\'s setup first')
  return services
}

/** Reads the pending verification's code from the CA's mail and confirms it (verify-mail.ts). */
async function verifyFromInbox (): Promise<unknown> {
  const s = requireServices()
  const pending = await s.verification.pending()
  if (pending === undefined) throw new Error('Ask a CA for a verification code first')
  await verifyFromMail(api, {
    email: pending.email,
    since: pending.expiresAt - CA_MAIL_MAX_AGE_MS,
    ...(typeof pending.caFrom === 'string' ? { from: pending.caFrom } : {}),
    confirm: async code => { await s.verification.confirm(pending.requestId, code) }
  })
  return await s.verification.state()
}

// ── message display: sip: links inside mail ─────────────────────────────────
async function registerMailScript (): Promise<void> {
  const md = api.scripting?.messageDisplay
  if (md !== undefined) {
    const have = await md.getRegisteredScripts()
    if (!have.some(s => s.id === 'peerline-sip-mail')) await md.registerScripts([{ id: 'peerline-sip-mail', js: ['sip-mail.js'] }])
  } else {
    await api.messageDisplayScripts?.register({ js: [{ file: 'sip-mail.js' }] })
  }
}
registerMailScript().catch((err: unknown) => { log.error('message display script: %s', (err as Error).message) })

// ── the device ──────────────────────────────────────────────────────────────
const started = startDevice({ ring, webrtc: nativeWebRtc, deviceName: 'Peerline for Thunderbird' })
started.then(s => {
  services = s
  s.addEventListener('message:incoming', e => { transcripts.touch(e.detail.peer) })
  const follow = (): void => {
    if (s.overlay !== undefined) trackPairing(s.overlay).catch((err: unknown) => { log.error('pairing: %s', (err as Error).message) })
  }
  follow()
  s.addEventListener('status:change', () => { presence.tick(); follow() })
  s.addEventListener('session:change', follow)
  s.addEventListener('history:change', e => {
    // sent and received messages alike: the transcript is written from the history after its mark
    if (e.detail.kind === 'message' && e.detail.peer !== undefined) transcripts.touch(e.detail.peer)
  })
  presence.start()
  // what an earlier run did not write yet (Thunderbird quit before the timer)
  transcripts.start().catch((err: unknown) => { log.error('transcripts at startup: %s', (err as Error).message) })
}, (err: unknown) => { log.error('device did not start: %s', (err as Error).message) })
directory.load().catch((err: unknown) => { log.error('address books: %s', (err as Error).message) })

/** For the extension pages and the test driver (same process, see extension/core/client.ts). */
export interface ThunderbirdHost {
  peerlineThunderbird?: {
    state: () => ThunderbirdState
    directory: BuddyDirectory
    presence: PresenceScheduler
    transcripts: TranscriptStore
    /** TEST-ONLY reading: hand-off URLs unredacted */
    fullState: () => ThunderbirdState
    handOffCall: (target: string) => Promise<string>
    answerInBrowser: (callId: string) => Promise<string | undefined>
    onNotificationClicked: (id: string) => Promise<string | undefined>
    openChat: (target: string) => Promise<number | undefined>
    ringNotificationId: (callId: string) => string
    nativeWebRtc: boolean
    verifyFromInbox: () => Promise<unknown>
    services: () => AppServices | undefined
  }
}
(globalThis as ThunderbirdHost).peerlineThunderbird = {
  state,
  fullState,
  directory,
  presence,
  transcripts,
  handOffCall,
  answerInBrowser,
  onNotificationClicked,
  openChat,
  ringNotificationId: callId => RING_PREFIX + callId,
  nativeWebRtc,
  verifyFromInbox,
  services: () => services
}

if (__PEERLINE_TEST_HARNESS__ !== '' && typeof document !== 'undefined') {
  // TEST-ONLY build (build/extension.ts testHarness): the driver reports to the harness
  const script = document.createElement('script')
  script.src = api.runtime.getURL('test-driver.js')
  document.head.append(script)
}
