/**
 * Peerline PWA shell (first cut): joins the overlay through the supernodes
 * the server it came from recommends, and shows whether it is online.
 */
import { overlay } from '../../shared/overlay/index.ts'
import type { OverlayStatus } from '../../shared/overlay/index.ts'

interface AppConfig { supernodes: string[] }

const statusEl = document.getElementById('status') as HTMLElement
const details = document.getElementById('details') as HTMLElement

function show (status: OverlayStatus): void {
  statusEl.textContent = status.online
    ? `Online — connected to ${status.supernodes} supernode${status.supernodes === 1 ? '' : 's'}`
    : 'Offline — reconnecting to the overlay…'
  statusEl.className = `status ${status.online ? 'online' : 'offline'}`
}

function detail (term: string, value: string): void {
  const dt = document.createElement('dt')
  dt.textContent = term
  const dd = document.createElement('dd')
  dd.textContent = value
  details.append(dt, dd)
}

async function main (): Promise<void> {
  const config = await (await fetch('config.json', { cache: 'no-store' })).json() as AppConfig
  const o = overlay({ bootstrap: config.supernodes })
  o.addEventListener('status:change', evt => { show(evt.detail) })
  await o.start()
  detail('Device', o.peerId)
  detail('Supernodes', config.supernodes.join('\n'))
  show(o.status)
}

main().catch((err: Error) => {
  statusEl.textContent = `Offline — ${err.message}`
  statusEl.className = 'status offline'
})
