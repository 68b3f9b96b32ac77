// Errors of the supernode's CA that stay on the supernode. The ones a requester sees
// travel by name on the wire and are shared/identity/ca-protocol.ts's classes
// (MalformedCaMessageError, CaRateLimitedError, …).

/** The operator's CA settings (key file, SMTP URL, From address, link base) are unusable; the message says which and how to fix it. */
export class CaConfigError extends Error {
  static override name = 'CaConfigError'
  override name = 'CaConfigError'
  constructor (message = 'The CA settings are not usable', options?: ErrorOptions) { super(message, options) }
}
