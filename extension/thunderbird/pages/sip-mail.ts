/**
 * Message display script (registered by the background with
 * scripting.messageDisplay): a user's click on a `sip:`/`sips:` link inside
 * a displayed message goes to Peerline instead of the OS. Other links are
 * left alone (rule in ../sip-click.ts).
 */
import { handleSipClick } from '../sip-click.ts'

interface ContentApi { runtime: { sendMessage: (m: unknown) => Promise<unknown> } }

const api = (globalThis as { browser?: ContentApi, messenger?: ContentApi }).messenger ?? (globalThis as { browser?: ContentApi }).browser

if (api !== undefined) {
  document.addEventListener('click', e => {
    handleSipClick(e, m => { void api.runtime.sendMessage(m).catch(() => {}) })
  }, true)
}
