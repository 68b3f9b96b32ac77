/**
 * TEST-ONLY: bundled (as test-driver.js) only when build/extension.ts is
 * given `testHarness: 'http://127.0.0.1:PORT'`; the background page loads it
 * then. It connects to the test harness over loopback and runs its commands
 * against the real add-on (the same functions the pages use), reporting
 * results from inside Thunderbird. Protocol: HTTP long-poll, POST /poll with the
 * previous reply {id, ok, result | error}, answered with the next {id, cmd, args}.
 */
import type { ThunderbirdHost } from '../background.ts'
import type { DeviceHost } from '../../core/device.ts'
import { messenger } from '../messenger.ts'
import { webext } from '../../core/webext.ts'

declare const __PEERLINE_TEST_HARNESS__: string

/** Reconnect pause when the harness is not (yet) listening. */
const RECONNECT_MS = 500
const loadedAt = Date.now()

type Args = Record<string, unknown>

async function services (): Promise<NonNullable<ReturnType<NonNullable<ThunderbirdHost['peerlineThunderbird']>['services']>>> {
  const s = await (globalThis as DeviceHost).peerlineDevice
  if (s === undefined) throw new Error('no device')
  return s
}

function tb (): NonNullable<ThunderbirdHost['peerlineThunderbird']> {
  const t = (globalThis as ThunderbirdHost).peerlineThunderbird
  if (t === undefined) throw new Error('background not ready')
  return t
}

const commands: Record<string, (a: Args) => Promise<unknown>> = {
  alive: async () => ({ loadedAt, now: Date.now(), nativeWebRtc: tb().nativeWebRtc }),
  setup: async a => {
    const s = await services()
    await messenger().storage.local.set({ 'peerline.pwaBase': a.pwaBase as string })
    await s.saveSettings({ supernodes: a.supernodes as string[] })
    const me = await s.createIdentity(a.email as string, a.displayName as string)
    return me
  },
  status: async () => {
    const s = await services()
    return { me: s.me, status: s.status, peerId: s.overlay?.peerId }
  },
  publish: async () => {
    const s = await services()
    await s.overlay?.publish({ signal: AbortSignal.timeout(15_000) })
    return true
  },
  'create-contact': async a => {
    const api = messenger()
    const book = (await api.addressBooks.list()).find(b => b.readOnly !== true && b.remote !== true)
    if (book === undefined) throw new Error('no writable address book')
    return await api.addressBooks.contacts.create(a.book as string | undefined ?? book.id, a.vCard as string)
  },
  'update-contact': async a => { await messenger().addressBooks.contacts.update(a.id as string, a.vCard as string); return true },
  'delete-contact': async a => { await messenger().addressBooks.contacts.delete(a.id as string); return true },
  /** the full state: hand-off URLs unredacted (pages get them redacted) */
  state: async () => { await tb().directory.load(); return tb().fullState() },
  /** what the pages see */
  'page-state': async () => await messenger().runtime.sendMessage({ command: 'tb:state' }),
  'create-book': async a => {
    const api = messenger() as unknown as { addressBooks: { create: (p: { name: string }) => Promise<string> } }
    return await api.addressBooks.create({ name: a.name as string })
  },
  'delete-book': async a => {
    const api = messenger() as unknown as { addressBooks: { delete: (id: string) => Promise<void> } }
    await api.addressBooks.delete(a.id as string)
    return true
  },
  /** a simulated restart of the transcript writer: timers dropped, then what runs at startup */
  'transcripts-restart': async () => {
    tb().transcripts.reset()
    return (await tb().transcripts.start()).length
  },
  /** Chat as the buddy list / message popup opens it (a window the background follows) */
  'open-chat': async a => await tb().openChat(a.target as string) ?? null,
  'close-window': async a => {
    await (messenger().windows as unknown as { remove: (id: number) => Promise<void> }).remove(a.id as number)
    return true
  },
  /** a pairing offer for another device of this identity (as the options page's "Link a device") */
  'pairing-offer': async a => {
    const o = (await services()).overlay
    if (o === undefined) throw new Error('no overlay')
    return await o.createPairingOffer({ name: a.name as string })
  },
  devices: async () => (await services()).overlay?.devices() ?? [],
  'storage-set': async a => { await messenger().storage.local.set({ [a.key as string]: a.value }); return true },
  'storage-get': async a => (await messenger().storage.local.get(a.key as string))[a.key as string] ?? null,
  /** the notification click handler (the listener calls the same function; headless Thunderbird cannot click) */
  'click-ring-notification': async a => await tb().onNotificationClicked(tb().ringNotificationId(a.callId as string)) ?? null,
  visible: async a => { tb().presence.setVisible(a.aors as string[]); return true },
  'send-message': async a => {
    const r = await (await services()).sendMessage(a.to as string, a.body as string)
    await r.delivery
    return r.record.id
  },
  conversation: async a => await (await services()).history.conversation(a.peer as string),
  flush: async () => (await tb().transcripts.flush()).length,
  'folder-messages': async () => {
    const api = messenger()
    const folder = await tb().transcripts.chatsFolder()
    const out: Array<{ subject: string, author: string, raw: string }> = []
    let page = await api.messages.list(folder.id)
    for (;;) {
      for (const h of page.messages) {
        const raw = await api.messages.getRaw(h.id, { data_format: 'BinaryString' })
        out.push({ subject: h.subject, author: h.author, raw: typeof raw === 'string' ? raw : await raw.text() })
      }
      if (page.id === null) break
      page = await api.messages.continueList(page.id)
    }
    return { folder: folder.name, path: folder.path, messages: out }
  },
  call: async a => await tb().handOffCall(a.target as string),
  'verify-find': async () => await (await services()).verification.find(),
  'verify-request': async a => {
    const s = await services()
    const ca = (await s.verification.find()).find(c => c.peerId === a.peerId)
    if (ca === undefined) throw new Error('CA not found')
    return await s.verification.request(ca)
  },
  'verify-from-inbox': async () => await tb().verifyFromInbox(),
  /** stands in for the mail server delivering: the CA's real message bytes into Local Folders/Inbox */
  'deliver-mail': async a => {
    const api = messenger()
    const local = (await api.accounts.list(false)).find(x => x.type === 'none' || x.type === 'local')
    if (local === undefined) throw new Error('no Local Folders')
    const inbox = (await api.folders.getSubFolders(local.rootFolder.id, false)).find(f => f.name === 'Inbox') ??
      await api.folders.create(local.rootFolder.id, 'Inbox')
    const h = await api.messages.import(new File([a.raw as string], 'ca.eml', { type: 'message/rfc822' }), inbox.id, {})
    return h.id
  },
  /** opens an add-on page in a window (as the toolbar action / Chat button would) */
  'open-page': async a => {
    const w = await messenger().windows.create({ url: messenger().runtime.getURL(a.path as string), type: 'popup', width: 420, height: 640 })
    return w.id ?? null
  },
  /** text and data attributes of the elements matching `selector` in the open page `path` */
  'page-query': async a => {
    const views = webext().extension?.getViews?.() ?? []
    const view = views.find(v => v.location.pathname.endsWith(`/${a.path as string}`))
    if (view === undefined) return null
    return [...view.document.querySelectorAll(a.selector as string)].map(e => ({ text: e.textContent, data: { ...(e as HTMLElement).dataset } }))
  },
  'answer-in-browser': async a => await tb().answerInBrowser(a.callId as string) ?? null
}

interface Reply { id?: number, ok?: boolean, result?: unknown, error?: string, hello?: string, loadedAt?: number }

/** Long-polls the harness: each POST carries the previous reply and returns the next command. */
async function loop (): Promise<void> {
  let reply: Reply = { hello: 'peerline-thunderbird', loadedAt }
  for (;;) {
    let req: { id: number, cmd: string, args?: Args }
    try {
      const res = await fetch(`${__PEERLINE_TEST_HARNESS__}/poll`, { method: 'POST', body: JSON.stringify(reply), headers: { 'content-type': 'text/plain' } })
      req = await res.json() as typeof req
    } catch {
      await new Promise(resolve => { setTimeout(resolve, RECONNECT_MS) })
      continue
    }
    if (req.cmd === 'noop') { reply = {}; continue }
    const fn = commands[req.cmd]
    try {
      if (fn === undefined) throw new Error(`unknown command ${req.cmd}`)
      reply = { id: req.id, ok: true, result: await fn(req.args ?? {}) }
    } catch (err) {
      reply = { id: req.id, ok: false, error: `${(err as Error).name}: ${(err as Error).message}` }
    }
  }
}

if (__PEERLINE_TEST_HARNESS__ !== '') void loop()
