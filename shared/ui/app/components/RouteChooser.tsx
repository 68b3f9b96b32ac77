/**
 * "Call <address> via …": shown before dialling an address that a SIP
 * account and Peerline's overlay could both reach (AppServices.routes()).
 * The account of the address's domain comes first.
 *
 * @example <RouteChooser target="1002@pbx.example.com" routes={routes} onChoose={via => dial(target, { via })} onCancel={close} />
 */
import { routeLabel } from '../account-text.ts'
import type { DialRoute } from '../account-text.ts'

export interface RouteChooserProps {
  target: string
  routes: DialRoute[]
  onChoose: (route: DialRoute) => void
  onCancel: () => void
}

/** Hook-free (unit-tested). */
export function RouteChooser ({ target, routes, onChoose, onCancel }: RouteChooserProps) {
  return (
    <section class="sheet routes" role="dialog" aria-modal="true" aria-labelledby="routes-title">
      <h2 id="routes-title">Call {target} via…</h2>
      <ul class="route-list stack">
        {routes.map((r, i) => {
          const label = routeLabel(r)
          return (
            <li key={r.via === 'overlay' ? 'overlay' : r.id}>
              <button type="button" class={`btn${i === 0 ? ' primary' : ''}`} data-route={r.via === 'overlay' ? 'overlay' : r.id} onClick={() => { onChoose(r) }}>{label.text}</button>
              <p class="sub">{label.detail}</p>
            </li>
          )
        })}
      </ul>
      <button type="button" class="btn" onClick={onCancel}>Cancel</button>
    </section>
  )
}
