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
  /**
   * Thunderbird's own message search (messages.query, the terms of its
   * search bar and search dialog): in "Peerline Chats" by body text, and
   * everywhere by full text.
   */
  search: async a => {
    const api = messenger()
    const folder = await tb().transcripts.chatsFolder()
    const collect = async (info: Record<string, unknown>): Promise<Array<{ subject: string, folder: string }>> => {
      const out: Array<{ subject: string, folder: string }> = []
      let page = await api.messages.query(info)
      for (;;) {
        for (const h of page.messages) out.push({ subject: h.subject, folder: (h as { folder?: { name?: string } }).folder?.name ?? '' })
        if (page.id === null) break
        page = await api.messages.continueList(page.id)
      }
      return out
    }
    return {
      body: await collect({ folderId: folder.id, body: a.text as string }),
      fullText: await collect({ fullText: a.text as string })
    }
  },
  /**
   * The page `path` as it stands (Thunderbird has no tabs.captureVisibleTab:
   * the test draws this DOM with the add-on's stylesheets for its
   * screenshots), with the window's inner size.
   */
  'page-html': async a => {
    const view = findView(a.path as string)
    if (view === undefined) return null
    return { html: view.document.documentElement.outerHTML, width: view.innerWidth, height: view.innerHeight }
  },
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
    const w = await messenger().windows.create({ url: messenger().runtime.getURL(a.path as string), type: 'popup', width: a.width as number | undefined ?? 420, height: a.height as number | undefined ?? 640 })
    return w.id ?? null
  },
  /** the add-on pages open now (path and title): what the user sees without anyone asking */
  views: async () => (webext().extension?.getViews?.() ?? []).map(v => ({ path: v.location.pathname, hash: v.location.hash, title: v.document.title })),
  /** the text a person sees on page `path`: rendered text only, none inside a closed <details> or under "Advanced" */
  'page-text': async a => {
    const view = findView(a.path as string)
    if (view === undefined) return null
    const doc = view.document
    const walker = doc.createTreeWalker(doc.body, 4 /* NodeFilter.SHOW_TEXT */)
    const parts: string[] = []
    for (let n = walker.nextNode(); n !== null; n = walker.nextNode()) {
      const el = n.parentElement
      // inside "Advanced" only its own summary (the word "Advanced") shows while it is closed or open
      const advanced = el?.closest('details.advanced')
      if (el === null || (advanced !== null && advanced !== undefined && el.closest('summary')?.parentElement !== advanced)) continue
      if (el.getClientRects().length === 0 || view.getComputedStyle(el).visibility === 'hidden') continue
      const t = (n.textContent ?? '').trim()
      if (t !== '') parts.push(t)
    }
    return parts.join('\n')
  },
  /** sets an input's value as typing would (an input event the page's handlers see) */
  'page-fill': async a => {
    const view = findView(a.path as string)
    const el = view?.document.querySelector<HTMLInputElement | HTMLTextAreaElement>(a.selector as string)
    if (view === undefined || el === null || el === undefined) throw new Error(`nothing matches ${a.selector as string} on ${a.path as string}`)
    el.focus()
    el.value = a.value as string
    el.dispatchEvent(new (view as unknown as { Event: typeof Event }).Event('input', { bubbles: true }))
    return true
  },
  /**
   * Clicks the element matching `selector` (and `text`, when given) where a
   * mouse would: it must be the element hit at its own centre (not covered,
   * not off the window), then gets the click there. Returns what was hit.
   */
  'page-click': async a => {
    const view = findView(a.path as string)
    if (view === undefined) throw new Error(`${a.path as string} is not open`)
    const all = [...view.document.querySelectorAll<HTMLElement>(a.selector as string)]
    const el = all.find(e => a.text === undefined || (e.textContent ?? '').trim() === a.text)
    if (el === undefined) throw new Error(`nothing matches ${a.selector as string} ${a.text !== undefined ? `"${a.text as string}"` : ''} on ${a.path as string}`)
    const hit = hitTest(view, el)
    if (!hit.ok) throw new Error(`${a.selector as string} cannot be clicked: ${hit.why}`)
    el.click()
    return true
  },
  /** where a mouse would click the element matching `selector` (and `text`): its centre, CSS px in the page's viewport, checked to be hit there */
  'page-point': async a => {
    const view = findView(a.path as string)
    if (view === undefined) throw new Error(`${a.path as string} is not open`)
    const el = [...view.document.querySelectorAll<HTMLElement>(a.selector as string)].find(e => a.text === undefined || (e.textContent ?? '').trim() === a.text)
    if (el === undefined) throw new Error(`nothing matches ${a.selector as string} on ${a.path as string}`)
    const hit = hitTest(view, el)
    if (!hit.ok) throw new Error(`${a.selector as string} cannot be clicked: ${hit.why}`)
    const r = el.getBoundingClientRect()
    return { x: r.left + r.width / 2, y: r.top + r.height / 2 }
  },
  /** shows a message in its own window, as double-clicking it in the message list does */
  'display-message': async a => {
    const md = (messenger() as unknown as { messageDisplay: { open: (p: { messageId: number, location: string }) => Promise<{ id?: number, windowId?: number }> } }).messageDisplay
    return await md.open({ messageId: a.id as number, location: 'window' })
  },
  /**
   * The buddy list's layout at the window's real width: for every button in
   * a buddy row, whether it lies inside the visible page and is what a mouse
   * at its centre hits; whether the page scrolls sideways; names on one line.
   */
  'page-layout': async a => {
    const view = findView(a.path as string)
    if (view === undefined) return null
    const doc = view.document
    const width = doc.documentElement.clientWidth
    const buttons = [...doc.querySelectorAll<HTMLElement>(a.selector as string ?? 'li.buddy button')].map(b => {
      const r = b.getBoundingClientRect()
      const hit = hitTest(view, b)
      return { label: b.getAttribute('aria-label') ?? b.textContent ?? '', left: r.left, right: r.right, hit: hit.ok, why: hit.why }
    })
    const names = [...doc.querySelectorAll<HTMLElement>('li.buddy .buddy-name .aor')].map(n => ({
      text: n.textContent ?? '', title: n.title, lines: Math.round(n.getBoundingClientRect().height / parseFloat(view.getComputedStyle(n).lineHeight || '16')), cut: n.scrollWidth > n.clientWidth
    }))
    const presence = [...doc.querySelectorAll<HTMLElement>('li.buddy .presence')].map(p => p.textContent ?? '')
    return { width, innerWidth: view.innerWidth, scrollWidth: doc.documentElement.scrollWidth, bodyScrollWidth: doc.body.scrollWidth, buttons, names, presence }
  },
  /** text and data attributes of the elements matching `selector` in the open page `path` */
  'page-query': async a => {
    const view = findView(a.path as string)
    if (view === undefined) return null
    return [...view.document.querySelectorAll(a.selector as string)].map(e => ({ text: e.textContent, data: { ...(e as HTMLElement).dataset } }))
  },
  'answer-in-browser': async a => await tb().answerInBrowser(a.callId as string) ?? null
}

/** The newest open add-on page whose path is `path` (a hash in `path` is ignored). */
function findView (path: string): Window | undefined {
  const name = path.split('#')[0] as string
  return (webext().extension?.getViews?.() ?? []).filter(v => v.location.pathname.endsWith(`/${name}`)).at(-1)
}

/** Whether a mouse at the centre of `el` would hit it: inside the window and not covered by anything else. */
function hitTest (view: Window, el: HTMLElement): { ok: boolean, why: string } {
  const r = el.getBoundingClientRect()
  if (r.width === 0 || r.height === 0) return { ok: false, why: 'not shown' }
  const x = r.left + r.width / 2
  const y = r.top + r.height / 2
  const width = view.document.documentElement.clientWidth
  if (r.left < -0.5 || r.right > width + 0.5) return { ok: false, why: `outside the ${width} px page (${Math.round(r.left)}…${Math.round(r.right)})` }
  if (y < 0 || y > view.innerHeight) el.scrollIntoView({ block: 'center' })
  const r2 = el.getBoundingClientRect()
  const top = view.document.elementFromPoint(r2.left + r2.width / 2, r2.top + r2.height / 2)
  if (top === null || (top !== el && !el.contains(top))) return { ok: false, why: `covered by ${top?.outerHTML.slice(0, 80) ?? 'nothing'} at ${Math.round(x)},${Math.round(y)}` }
  return { ok: true, why: '' }
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
