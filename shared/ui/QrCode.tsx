/**
 * A QR code as inline SVG (lean-qr): scales with CSS, no canvas, works in
 * every target. The text is also the accessible label's subject, so a screen
 * reader user knows what the code holds.
 *
 * @example <QrCode text={offerLink} label="Pairing link" />
 */
import { generate } from 'lean-qr'
import { toSvgPath } from 'lean-qr/extras/svg'

/** Quiet zone around the code, in modules: ISO/IEC 18004 §7.3.8 asks for 4. */
const QUIET_ZONE_MODULES = 4

export interface QrCodeProps {
  text: string
  /** what the code is, for assistive technology ("Safety number QR code") */
  label: string
  class?: string
}

export function QrCode ({ text, label, class: className }: QrCodeProps) {
  let code
  try {
    code = generate(text)
  } catch {
    // too long for any QR version: say so instead of breaking the screen
    return <p class="problem">This is too long to show as a QR code.</p>
  }
  const size = code.size + 2 * QUIET_ZONE_MODULES
  return (
    <svg class={`qr${className !== undefined ? ` ${className}` : ''}`} role="img" aria-label={label}
      viewBox={`${-QUIET_ZONE_MODULES} ${-QUIET_ZONE_MODULES} ${size} ${size}`} shape-rendering="crispEdges" data-qr={text}>
      <rect x={-QUIET_ZONE_MODULES} y={-QUIET_ZONE_MODULES} width={size} height={size} fill="#fff" />
      <path d={toSvgPath(code)} fill="#000" />
    </svg>
  )
}
