/**
 * Window liveness for the device host (device.ts) and the pages that borrow
 * it (client.ts): its own module so that neither imports the other for it.
 */

/** Whether a page's window has closed; in Firefox a closed page's window is a dead object that throws on any access. */
export function windowGone (w: Window): boolean {
  try {
    return w.closed
  } catch {
    return true
  }
}
