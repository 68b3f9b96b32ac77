/**
 * The one place errors are announced (role="alert"), with a way to dismiss.
 */
import { Icon } from './Icon.tsx'

export function Alert ({ text, onDismiss }: { text: string | undefined, onDismiss: () => void }) {
  if (text === undefined) return null
  return (
    <div class="alert-wrap">
      <p role="alert" class="alert">{text}</p>
      <button type="button" class="btn icon" aria-label="Dismiss" onClick={onDismiss}><Icon name="close" /></button>
    </div>
  )
}
