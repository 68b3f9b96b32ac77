/**
 * Settings → "Devices": the identity's linked devices. The primary device
 * (the one holding the identity key) links new ones — a link, its QR code
 * and the 6-digit code to compare — and revokes them; a linked device shows
 * the list and says which device manages it.
 */
import { useEffect, useReducer, useRef, useState } from 'preact/hooks'
import { QrCode } from '../../QrCode.tsx'
import { errorMessage } from '../../messages.ts'
import { parsePairingOffer } from '../../../overlay/index.ts'
import type { PairingOffer } from '../../../overlay/index.ts'
import type { AppServices } from '../services.ts'

export function DevicesSection ({ services }: { services: AppServices }) {
  const [, bump] = useReducer((n: number) => n + 1, 0)
  const [offer, setOffer] = useState<{ offer: PairingOffer, link: string } | undefined>()
  const [confirming, setConfirming] = useState<string | undefined>()
  const [busy, setBusy] = useState(false)
  const [outcome, setOutcome] = useState<{ ok: boolean, text: string } | undefined>()
  const [now, setNow] = useState(Date.now())
  const shown = useRef<PairingOffer | undefined>(undefined)
  shown.current = offer?.offer
  useEffect(() => {
    const listening = new AbortController()
    services.addEventListener('devices:change', () => {
      bump(undefined)
      // gone from the screen only once a device used it (another change, e.g. a revocation, leaves it open)
      const open = shown.current
      if (open !== undefined && !services.pairingOfferOpen(open) && open.expiresAt > Date.now()) {
        setOffer(undefined)
        setOutcome({ ok: true, text: 'The new device is linked.' })
      }
    }, { signal: listening.signal })
    services.addEventListener('session:change', () => { bump(undefined) }, { signal: listening.signal })
    return () => {
      listening.abort()
      // an offer nobody sees any more must not stay usable
      if (shown.current !== undefined) services.cancelPairingOffer()
    }
  }, [services])
  useEffect(() => {
    if (offer === undefined) return
    const timer = setInterval(() => { setNow(Date.now()) }, 1_000)
    return () => { clearInterval(timer) }
  }, [offer])

  const { devices, primary, revoked } = services.devices()
  const expired = offer !== undefined && offer.offer.expiresAt <= now

  const link = (): void => {
    setBusy(true)
    setOutcome(undefined)
    services.createPairingOffer().then(o => { setOffer(o); setNow(Date.now()) }, (err: unknown) => {
      setOutcome({ ok: false, text: errorMessage(err) ?? '' })
    }).finally(() => { setBusy(false) })
  }
  const revoke = (peerId: string, name: string): void => {
    setBusy(true)
    setConfirming(undefined)
    services.revokeDevice(peerId).then(({ published }) => {
      setOutcome({
        ok: true,
        text: published
          ? `"${name}" was removed. It no longer rings for your calls, and its calls are refused.`
          : `"${name}" is removed on this device (saved). Your other devices learn it when this device is back online; until then it may still ring.`
      })
      bump(undefined)
    }, (err: unknown) => { setOutcome({ ok: false, text: errorMessage(err) ?? '' }) }).finally(() => { setBusy(false) })
  }

  return (
    <section class="card stack devices" aria-labelledby="devices-title">
      <h2 id="devices-title">Devices</h2>
      {revoked && <p class="problem" role="alert">This browser was removed from your identity on another device. It no longer receives your calls.</p>}
      <ul class="device-list">
        {devices.map(d => (
          <li key={d.peerId} class="device" data-peer={d.peerId}>
            <span class="device-name">{d.name}</span>
            {d.thisDevice && <span class="badge">this device</span>}
            {!d.thisDevice && <span class="muted">{d.online ? 'online' : 'not seen recently'}</span>}
            {primary && !d.thisDevice && (confirming === d.peerId
              ? (
                <span class="row">
                  <button type="button" class="btn danger" disabled={busy} onClick={() => { revoke(d.peerId, d.name) }}>Revoke “{d.name}”</button>
                  <button type="button" class="btn" onClick={() => { setConfirming(undefined) }}>Keep</button>
                </span>
                )
              : <button type="button" class="btn" disabled={busy} onClick={() => { setConfirming(d.peerId) }}>Revoke</button>)}
          </li>
        ))}
      </ul>
      {primary
        ? (
          <div class="stack">
            <p>Link another browser or phone to your address: it rings for your calls too, without ever receiving your identity key.</p>
            <button type="button" class="btn" disabled={busy} onClick={link}>{offer === undefined || expired ? 'Link a new device' : 'Show a new link'}</button>
            {offer !== undefined && !expired && (
              <div class="pairing stack">
                <p>On the new device, open this link (or scan the code). Link it only if it shows the code <strong class="pairing-code">{offer.offer.code}</strong>.</p>
                <QrCode text={offer.link} label="Pairing link QR code" />
                <input class="pairing-link" type="text" readOnly value={offer.link} aria-label="Pairing link" onFocus={e => { e.currentTarget.select() }} />
                <p class="muted">The link works once and expires in {Math.max(0, Math.ceil((offer.offer.expiresAt - now) / 60_000))} min.</p>
                <button type="button" class="btn" onClick={() => { services.cancelPairingOffer(); setOffer(undefined) }}>Cancel the link</button>
              </div>
            )}
            {expired && <p class="muted">The pairing link expired.</p>}
          </div>
          )
        : <p class="muted">This device is linked: manage devices on your primary device (the one where you created the identity).</p>}
      {outcome !== undefined && (outcome.ok ? <p class="done" aria-live="polite">{outcome.text}</p> : <p class="problem" role="alert">{outcome.text}</p>)}
    </section>
  )
}

/**
 * Links this browser to an existing identity from a pairing link (pasted,
 * or given by the `#/pair/…` deep link). Nothing happens until the user
 * clicks "Link this browser to <address>", after seeing the address and the
 * code to compare with the other device: a link sent by someone else must
 * not join this browser to their identity.
 */
export function LinkDeviceForm ({ services, initialLink, onLinked }: {
  services: AppServices
  initialLink?: string
  onLinked: (me: { email: string, displayName: string }) => void
}) {
  const [link, setLink] = useState(initialLink ?? '')
  const [name, setName] = useState(defaultDeviceName())
  const [busy, setBusy] = useState(false)
  const [problem, setProblem] = useState<string | undefined>()

  const run = (text: string): void => {
    setBusy(true)
    setProblem(undefined)
    services.linkToIdentity(text, name.trim() !== '' ? name.trim() : defaultDeviceName())
      .then(onLinked, (err: unknown) => { setProblem(errorMessage(err)) })
      .finally(() => { setBusy(false) })
  }
  let parsed: PairingOffer | undefined
  try {
    parsed = link.trim() !== '' ? parsePairingOffer(link.trim()) : undefined
  } catch {
    parsed = undefined // named when the user submits it
  }

  return (
    <form class="stack link-device" onSubmit={e => { e.preventDefault(); run(link) }} noValidate>
      <label class="field">
        <span>Pairing link from your other device</span>
        <input type="text" name="pairing-link" value={link} onInput={e => { setLink(e.currentTarget.value) }} />
      </label>
      <label class="field">
        <span>Name for this device</span>
        <input type="text" name="device-name" value={name} onInput={e => { setName(e.currentTarget.value) }} />
      </label>
      {parsed !== undefined && (
        <p class="pairing-check">
          This link joins this browser to <strong class="pairing-address">{parsed.aor}</strong>. Your other device shows the
          code <strong class="pairing-code">{parsed.code}</strong>: link only if it matches and the address is yours.
        </p>
      )}
      {problem !== undefined && <p class="problem" role="alert">{problem}</p>}
      <button type="submit" class="btn primary" disabled={busy || link.trim() === ''}>
        {busy ? 'Linking…' : parsed !== undefined ? `Link this browser to ${parsed.aor}` : 'Link this device'}
      </button>
    </form>
  )
}

/** "Chromium on Linux"-like, from the user agent; only a label the user can change. */
function defaultDeviceName (): string {
  const ua = typeof navigator !== 'undefined' ? navigator.userAgent : ''
  const browser = /Firefox\//.test(ua) ? 'Firefox' : /Edg\//.test(ua) ? 'Edge' : /Chrom(e|ium)\//.test(ua) ? 'Chromium' : /Safari\//.test(ua) ? 'Safari' : 'Browser'
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS X/.test(ua) ? 'macOS' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : ''
  return os !== '' ? `${browser} on ${os}` : browser
}
