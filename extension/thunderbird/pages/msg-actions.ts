/**
 * The message display action's popup: Call / Chat with the sender of the
 * displayed message. Calls are handed to the browser (Thunderbird has no
 * WebRTC); chat opens Peerline's chat window.
 */
import { normalizeAor } from '../../../shared/identity/address.ts'
import { messenger } from '../messenger.ts'
import type { MessageHeader } from '../messenger.ts'

/** `Name <a@b>` or `a@b` → `a@b`. */
export function authorAddress (author: string): string | undefined {
  const m = /<([^<>\s]+@[^<>\s]+)>/.exec(author) ?? /([^\s<>",;]+@[^\s<>",;]+)/.exec(author)
  if (m === null) return undefined
  try {
    return normalizeAor(m[1] as string)
  } catch {
    return undefined
  }
}

async function sender (): Promise<string | undefined> {
  const api = messenger()
  const [tab] = await api.tabs.query({ active: true, currentWindow: true })
  if (tab === undefined) return undefined
  const shown = await api.messageDisplay.getDisplayedMessages(tab.id)
  const list: MessageHeader[] = Array.isArray(shown) ? shown : shown.messages
  return list[0] !== undefined ? authorAddress(list[0].author) : undefined
}

async function main (): Promise<void> {
  const api = messenger()
  const who = document.getElementById('who') as HTMLElement
  const call = document.getElementById('call') as HTMLButtonElement
  const chat = document.getElementById('chat') as HTMLButtonElement
  const aor = await sender()
  if (aor === undefined) {
    who.textContent = 'The sender has no address Peerline can call.'
    return
  }
  who.textContent = aor
  call.disabled = false
  chat.disabled = false
  const send = async (m: unknown): Promise<unknown> => await api.runtime.sendMessage(m)
  const show = (text: string): void => { who.textContent = text }
  call.addEventListener('click', () => { void act('tb:call', aor, { send, show, close }) })
  chat.addEventListener('click', () => { void act('tb:chat', aor, { send, show, close }) })
}

/**
 * One button: sends the command; closes the popup when the background
 * answered ok, shows its error otherwise (the popup stays open).
 * @returns whether it succeeded
 */
export async function act (command: 'tb:call' | 'tb:chat', target: string, ui: { send: (m: unknown) => Promise<unknown>, show: (text: string) => void, close: () => void }): Promise<boolean> {
  let reply: { ok?: boolean, error?: string } | undefined
  try {
    reply = await ui.send({ command, target }) as typeof reply
  } catch (err) {
    ui.show(`Peerline: ${(err as Error).message}`)
    return false
  }
  if (reply?.ok !== true) {
    ui.show(reply?.error ?? 'Peerline did not answer: is the add-on running?')
    return false
  }
  ui.close()
  return true
}

if (typeof document !== 'undefined') {
  main().catch((err: unknown) => {
    const who = document.getElementById('who')
    if (who !== null) who.textContent = (err as Error).message
  })
}
