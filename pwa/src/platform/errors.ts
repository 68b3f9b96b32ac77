/** Raised by applyUpdate() when no new service worker is waiting. */
export class NoUpdateError extends Error {
  static override name = 'NoUpdateError'
  override name = 'NoUpdateError'
  constructor (message = 'No update is waiting to be applied') { super(message) }
}

/** The service worker could not be registered (script missing, not a secure context…). */
export class ServiceWorkerRegistrationError extends Error {
  static override name = 'ServiceWorkerRegistrationError'
  override name = 'ServiceWorkerRegistrationError'
  constructor (message = 'The offline app could not be installed') { super(message) }
}

/** The new service worker did not take control in time. */
export class UpdateTimeoutError extends Error {
  static override name = 'UpdateTimeoutError'
  override name = 'UpdateTimeoutError'
  constructor (message = 'The update did not finish in time') { super(message) }
}
