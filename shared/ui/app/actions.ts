/**
 * What screens may ask the app shell to do. Its own module so the screens and
 * App.tsx (which renders them) do not import each other.
 */
import type { ErrorContext } from '../messages.ts'

export interface AppActions {
  /** dials `target` (email or sip: URI), showing progress and errors */
  dial: (target: string, options?: { video?: boolean }) => void
  /** shows the sentence for `err` (nothing for AbortError) */
  showError: (err: unknown, ctx?: ErrorContext) => void
  /** shows a sentence that is not an error object */
  say: (text: string | undefined) => void
  /**
   * When `err` says several keys claim `address` (ConflictingClaimsError),
   * shows the chooser and returns true; `retry` runs with the key the user
   * chose (already pinned). Otherwise returns false and does nothing.
   */
  chooseClaim: (err: unknown, address: string, retry: (identityKey: string) => Promise<void>) => boolean
}
