/**
 * The call window's routes: `#/call/<target>` dials (target: `sip:` URI or
 * email, raw or percent-encoded as protocol_handlers' %s delivers it) and
 * `#/incoming/<call id>` shows a ringing call.
 */
export type CallRoute = { kind: 'dial', target: string } | { kind: 'incoming', callId: string } | { kind: 'none' }

export function parseCallRoute (hash: string): CallRoute {
  const m = /^#\/(call|incoming)\/(.+)$/.exec(hash)
  if (m === null) return { kind: 'none' }
  let value = m[2] as string
  try {
    value = decodeURIComponent(value)
  } catch {
    return { kind: 'none' }
  }
  value = value.trim()
  if (value === '') return { kind: 'none' }
  return m[1] === 'call' ? { kind: 'dial', target: value } : { kind: 'incoming', callId: value }
}
