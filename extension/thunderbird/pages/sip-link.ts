/**
 * Thunderbird's `sip` protocol handler (manifest protocol_handlers, built by
 * build/extension.ts): a sip: URI opened anywhere in Thunderbird lands here as
 * `sip-link.html#<uri>`. Thunderbird cannot carry media, so the background
 * hands the call to the browser (handoff.ts) and this page closes; a failure
 * is said on the page.
 */
import { messenger } from '../messenger.ts'

async function main (): Promise<void> {
  const status = document.getElementById('status') as HTMLElement
  const uri = decodeURIComponent(location.hash.slice(1))
  if (!/^sips?:/i.test(uri)) {
    status.textContent = 'This is not a sip: address Peerline can call.'
    return
  }
  status.textContent = `Opening the call to ${uri} in your browser…`
  const reply = await messenger().runtime.sendMessage({ command: 'tb:sip-link', uri }) as { ok: boolean, error?: string } | undefined
  if (reply?.ok === true) {
    close()
    return
  }
  status.textContent = `Peerline could not hand the call to your browser: ${reply?.error ?? 'no answer from the add-on'}`
}

main().catch((err: unknown) => {
  const status = document.getElementById('status')
  if (status !== null) status.textContent = `Peerline could not open the call: ${(err as Error).message}`
})
