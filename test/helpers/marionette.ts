/**
 * A minimal Marionette client (Gecko's remote protocol, built into Firefox
 * and Thunderbird, started with `--marionette`): enough to run a script in
 * Thunderbird's chrome and to click with a real, trusted mouse event
 * (nsIDOMWindowUtils.sendMouseEvent, the same synthesis Marionette's own
 * clicks use), which no page script and no MailExtension API can do.
 *
 * Wire format: `<length>:<json>`; commands `[0, id, name, params]`, replies
 * `[1, id, error, result]`.
 */
import { connect } from 'node:net'
import type { Socket } from 'node:net'

export interface Marionette {
  /** runs `script` (a function body; `arguments` holds `args`) in the chrome context and returns its value */
  chrome: <T>(script: string, args?: unknown[]) => Promise<T>
  close: () => void
}

export async function connectMarionette (port: number, options: { timeoutMs?: number } = {}): Promise<Marionette> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000)
  let socket: Socket | undefined
  while (socket === undefined) {
    socket = await new Promise<Socket | undefined>(resolve => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => { resolve(s) })
      s.once('error', () => { s.destroy(); resolve(undefined) })
    })
    if (socket === undefined) {
      if (Date.now() > deadline) throw new Error(`Marionette did not listen on ${port}`)
      await new Promise(resolve => { setTimeout(resolve, 250) })
    }
  }
  const sock = socket
  let buffer = ''
  const waiting: Array<(m: unknown) => void> = []
  const replies = new Map<number, (m: [number, number, unknown, unknown]) => void>()
  sock.setEncoding('utf8')
  sock.on('data', (chunk: string) => {
    buffer += chunk
    for (;;) {
      const colon = buffer.indexOf(':')
      if (colon === -1) return
      const len = Number(buffer.slice(0, colon))
      // lengths count bytes; the messages here are ASCII JSON
      if (buffer.length < colon + 1 + len) return
      const msg = JSON.parse(buffer.slice(colon + 1, colon + 1 + len)) as unknown
      buffer = buffer.slice(colon + 1 + len)
      if (Array.isArray(msg) && msg[0] === 1) replies.get(msg[1] as number)?.(msg as [number, number, unknown, unknown])
      else waiting.shift()?.(msg)
    }
  })
  await new Promise(resolve => { waiting.push(resolve) }) // the server's hello
  let nextId = 1
  const send = async <T>(name: string, params: Record<string, unknown>): Promise<T> => {
    const id = nextId++
    const body = JSON.stringify([0, id, name, params])
    const reply = new Promise<[number, number, unknown, unknown]>(resolve => { replies.set(id, resolve) })
    sock.write(`${Buffer.byteLength(body)}:${body}`)
    const [, , error, result] = await reply
    replies.delete(id)
    if (error !== null) throw new Error(`Marionette ${name}: ${JSON.stringify(error)}`)
    return result as T
  }
  await send('WebDriver:NewSession', { capabilities: {} })
  await send('Marionette:SetContext', { value: 'chrome' })
  return {
    chrome: async <T>(script: string, args: unknown[] = []): Promise<T> => (await send<{ value: T }>('WebDriver:ExecuteScript', { script, args })).value,
    close: () => { sock.destroy() }
  }
}

/**
 * Clicks with a real mouse at (`x`, `y`), CSS px in the viewport of the
 * add-on page whose URL ends with `path`, wherever Thunderbird shows it (a
 * popup window's or a tab's <browser>): the point is carried to the chrome
 * window and the click synthesised there, so it reaches the page as a
 * trusted event through Gecko's own event handling.
 */
export async function clickInAddonPage (m: Marionette, path: string, x: number, y: number): Promise<void> {
  const r = await m.chrome<string>(`
    const [path, x, y] = arguments
    for (const w of Services.wm.getEnumerator(null)) {
      const found = []
      const look = (doc, dx, dy) => {
        for (const b of doc.querySelectorAll('browser')) {
          const r = b.getBoundingClientRect()
          if (r.width === 0) continue
          const url = b.currentURI ? b.currentURI.spec : ''
          if (url.split('#')[0].endsWith(path)) found.push({ x: dx + r.left, y: dy + r.top })
          else if (!b.isRemoteBrowser && b.contentDocument) look(b.contentDocument, dx + r.left, dy + r.top)
        }
      }
      look(w.document, 0, 0)
      const at = found.at(-1)
      if (at === undefined) continue
      const u = w.windowUtils
      u.sendMouseEvent('mousemove', at.x + x, at.y + y, 0, 0, 0)
      u.sendMouseEvent('mousedown', at.x + x, at.y + y, 0, 1, 0)
      u.sendMouseEvent('mouseup', at.x + x, at.y + y, 0, 1, 0)
      return 'clicked'
    }
    return 'no window shows ' + path
  `, [path, x, y])
  if (r !== 'clicked') throw new Error(r)
}

/**
 * Clicks with a real mouse the first element matching `selector` inside a
 * document Thunderbird renders in its own process (the message pane
 * showing a mail), found through every window's non-remote <browser>s.
 * Returns the element's text.
 */
export async function clickInMessage (m: Marionette, selector: string): Promise<string> {
  const r = await m.chrome<{ ok: boolean, text: string }>(`
    const [selector] = arguments
    for (const w of Services.wm.getEnumerator(null)) {
      let hit
      const look = (doc, dx, dy) => {
        const el = doc.querySelector(selector)
        if (el !== null && doc !== w.document) {
          const r = el.getBoundingClientRect()
          if (r.width > 0) { hit = { x: dx + r.left + r.width / 2, y: dy + r.top + r.height / 2, text: el.textContent }; return }
        }
        for (const b of doc.querySelectorAll('browser, iframe')) {
          if (hit !== undefined) return
          const r = b.getBoundingClientRect()
          if (r.width === 0 || b.isRemoteBrowser || !b.contentDocument) continue
          look(b.contentDocument, dx + r.left, dy + r.top)
        }
      }
      look(w.document, 0, 0)
      if (hit === undefined) continue
      const u = w.windowUtils
      u.sendMouseEvent('mousemove', hit.x, hit.y, 0, 0, 0)
      u.sendMouseEvent('mousedown', hit.x, hit.y, 0, 1, 0)
      u.sendMouseEvent('mouseup', hit.x, hit.y, 0, 1, 0)
      return { ok: true, text: hit.text }
    }
    return { ok: false, text: 'no window shows ' + selector }
  `, [selector])
  if (!r.ok) throw new Error(r.text)
  return r.text
}
