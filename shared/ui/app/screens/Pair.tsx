/**
 * `#/pair/<offer>[?then=/call/<address>]`: links this browser to the
 * identity of the device that made the pairing link once the user confirms
 * (the form shows the address and the code), then goes on to what
 * `then` names (the browser extension hands a call over this way: link the
 * PWA as a device, then dial).
 */
import { LinkDeviceForm } from '../components/Devices.tsx'
import { pairOffer, pairThen } from '../pairing.ts'
import type { AppServices, Me } from '../services.ts'

export function PairScreen ({ services, target, onDone }: { services: AppServices, target: string | undefined, onDone: (me: Me) => void }) {
  const link = pairOffer(target)
  return (
    <section class="card stack pair" aria-labelledby="pair-title">
      <h2 id="pair-title">Link this browser</h2>
      <p>This browser joins the identity of your other device and rings for its calls. It never receives that device's identity key.</p>
      <LinkDeviceForm services={services} initialLink={link} onLinked={me => {
        onDone(me)
        location.hash = pairThen(target)
      }} />
    </section>
  )
}
