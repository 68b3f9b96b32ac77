/**
 * A minimal Marionette client (Gecko's remote protocol, built into Firefox
 * and Thunderbird; Thunderbird started with `--marionette
 * -remote-allow-system-access`, the latter for the chrome context): enough
 * to find a point in one of Thunderbird's windows and click it with a real
 * mouse, WebDriver actions that reach the page as trusted events through
 * Gecko's own event handling, which no page script and no MailExtension
 * API can make.
 *
 * Wire format: `<byte length>:<json>`; commands `[0, id, name, params]`,
 * replies `[1, id, error, result]`.
 */
import { connect } from 'node:net'
import type { Socket } from 'node:net'

export interface Marionette {
  /** runs `script` (a function body; `arguments` holds `args`) in the chrome context of the current window */
  chrome: <T>(script: string, args?: unknown[]) => Promise<T>
  /**
   * In the newest of Thunderbird's windows where `locate` (a chrome script
   * returning `{ x, y }` in that window's CSS px, or null) finds its point,
   * a real mouse click there. @throws when no window has it
   */
  clickWhere: (locate: string, args?: unknown[]) => Promise<void>
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
  let buffer = Buffer.alloc(0)
  let hello: () => void = () => {}
  const greeted = new Promise<void>(resolve => { hello = resolve })
  const replies = new Map<number, (m: [number, number, unknown, unknown]) => void>()
  sock.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk])
    for (;;) {
      const colon = buffer.indexOf(':')
      if (colon === -1) return
      const len = Number(buffer.subarray(0, colon).toString())
      if (buffer.length < colon + 1 + len) return
      const msg = JSON.parse(buffer.subarray(colon + 1, colon + 1 + len).toString('utf8')) as unknown
      buffer = buffer.subarray(colon + 1 + len)
      if (Array.isArray(msg) && msg[0] === 1) replies.get(msg[1] as number)?.(msg as [number, number, unknown, unknown])
      else hello()
    }
  })
  await greeted
  let nextId = 1
  const send = async <T>(name: string, params: Record<string, unknown>): Promise<T> => {
    const id = nextId++
    const body = JSON.stringify([0, id, name, params])
    const reply = new Promise<[number, number, unknown, unknown]>(resolve => { replies.set(id, resolve) })
    sock.write(`${Buffer.byteLength(body)}:${body}`)
    const [, , error, result] = await reply
    replies.delete(id)
    if (error !== null) throw new Error(`Marionette ${name}: ${JSON.stringify(error).slice(0, 300)}`)
    return result as T
  }
  await send('WebDriver:NewSession', { capabilities: {} })
  await send('Marionette:SetContext', { value: 'chrome' })
  const chrome = async <T>(script: string, args: unknown[] = []): Promise<T> => (await send<{ value: T }>('WebDriver:ExecuteScript', { script, args })).value
  return {
    chrome,
    clickWhere: async (locate, args = []) => {
      // in the chrome context the handles are Thunderbird's windows
      const handles = await send<string[]>('WebDriver:GetWindowHandles', {})
      let found: { handle: string, at: { x: number, y: number } } | undefined
      for (const handle of handles) {
        await send('WebDriver:SwitchToWindow', { handle })
        const at = await chrome<{ x: number, y: number } | null>(locate, args)
        // the newest window that has it (handles come oldest first), as the driver's page reads do
        if (at !== null) found = { handle, at }
      }
      if (found !== undefined) {
        const { handle, at } = found
        await send('WebDriver:SwitchToWindow', { handle })
        await send('WebDriver:PerformActions', {
          actions: [{
            type: 'pointer',
            id: 'mouse',
            parameters: { pointerType: 'mouse' },
            actions: [
              { type: 'pointerMove', x: Math.round(at.x), y: Math.round(at.y), origin: 'viewport' },
              { type: 'pointerDown', button: 0 },
              { type: 'pointerUp', button: 0 }
            ]
          }]
        })
        await send('WebDriver:ReleaseActions', {})
        return
      }
      throw new Error(`no Thunderbird window has it (${handles.length} windows)`)
    },
    close: () => { sock.destroy() }
  }
}

/** Chrome-script helper: `find(doc, dx, dy)` over a window's document and every in-process <browser>/<iframe> in it, with their offsets. */
const WALK = `
  const walk = (doc, dx, dy, visit) => {
    const r = visit(doc, dx, dy)
    if (r) return r
    for (const b of doc.querySelectorAll('browser, iframe')) {
      const box = b.getBoundingClientRect()
      if (box.width === 0) continue
      const inner = b.isRemoteBrowser ? null : b.contentDocument
      const here = visit.browser ? visit.browser(b, dx + box.left, dy + box.top) : null
      if (here) return here
      if (inner) { const deeper = walk(inner, dx + box.left, dy + box.top, visit); if (deeper) return deeper }
    }
    return null
  }
`

/**
 * A real mouse click at (`x`, `y`), CSS px in the viewport of the add-on page
 * whose URL path ends with `path` (the newest <browser> showing it).
 */
export async function clickInAddonPage (m: Marionette, path: string, x: number, y: number): Promise<void> {
  await m.clickWhere(`${WALK}
    const [path, x, y] = arguments
    let found = null
    const visit = () => null
    visit.browser = (b, bx, by) => {
      const url = b.currentURI ? b.currentURI.spec.split('#')[0] : ''
      if (url.endsWith(path)) found = { x: bx + x, y: by + y }
      return null
    }
    walk(document, 0, 0, visit)
    return found
  `, [path, x, y])
}

/**
 * A real mouse click at the centre of the first element matching
 * `selector` in a document Thunderbird renders in its own process (the
 * message pane showing a mail). Returns nothing; throws when no window
 * shows such an element.
 */
export async function clickInMessage (m: Marionette, selector: string): Promise<void> {
  await m.clickWhere(`${WALK}
    const [selector] = arguments
    const visit = (doc, dx, dy) => {
      if (doc === document) return null
      const el = doc.querySelector(selector)
      if (el === null) return null
      const r = el.getBoundingClientRect()
      return r.width > 0 ? { x: dx + r.left + r.width / 2, y: dy + r.top + r.height / 2 } : null
    }
    return walk(document, 0, 0, visit)
  `, [selector])
}
