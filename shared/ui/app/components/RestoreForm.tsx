/**
 * Restoring an identity from a backup: the file (or its text pasted) and the
 * passphrase it was made with. Used by onboarding and settings.
 */
import { useState } from 'preact/hooks'
import { errorMessage } from '../../messages.ts'
import type { AppActions } from '../actions.ts'
import type { AppServices, Me } from '../services.ts'

export interface RestoreFormProps {
  services: AppServices
  actions: AppActions
  onRestored: (me: Me) => void
  /** offer to replace an existing, different identity (settings); onboarding has none */
  allowReplace: boolean
}

export function RestoreForm ({ services, onRestored, allowReplace }: RestoreFormProps) {
  const [text, setText] = useState('')
  const [passphrase, setPassphrase] = useState('')
  const [replace, setReplace] = useState(false)
  const [problem, setProblem] = useState<string | undefined>()
  const [done, setDone] = useState<string | undefined>()
  const [busy, setBusy] = useState(false)

  const readFile = (input: HTMLInputElement): void => {
    const file = input.files?.[0]
    if (file === undefined) return
    file.text().then(t => { setText(t); setProblem(undefined) }, () => { setProblem('That file cannot be read.') })
  }

  const restore = (e: Event): void => {
    e.preventDefault()
    if (text.trim() === '') { setProblem('Choose a backup file or paste its text.'); return }
    if (passphrase === '') { setProblem('Enter the passphrase the backup was made with.'); return }
    setProblem(undefined)
    setBusy(true)
    services.restoreBackup(text.trim(), passphrase, { replace })
      .then(me => { setPassphrase(''); setDone(`Restored the identity ${me.email}.`); onRestored(me) },
        (err: unknown) => { setProblem(errorMessage(err)) })
      .finally(() => { setBusy(false) })
  }

  return (
    <form class="stack" onSubmit={restore} noValidate>
      <label class="field">
        <span>Backup file</span>
        <input type="file" accept=".json,application/json" onChange={e => { readFile(e.currentTarget) }} />
      </label>
      <label class="field">
        <span>Backup text (or paste it here)</span>
        <textarea rows={3} spellcheck={false} value={text} onInput={e => { setText(e.currentTarget.value) }} />
      </label>
      <label class="field">
        <span>Backup passphrase</span>
        <input type="password" autoComplete="current-password" value={passphrase} onInput={e => { setPassphrase(e.currentTarget.value) }} />
      </label>
      {allowReplace && (
        <label class="check">
          <input type="checkbox" checked={replace} onChange={e => { setReplace(e.currentTarget.checked) }} />
          Replace this device's identity
        </label>
      )}
      {problem !== undefined && <p class="problem" role="alert">{problem}</p>}
      {done !== undefined && <p class="done" aria-live="polite">{done}</p>}
      <button type="submit" class="btn" disabled={busy}>{busy ? 'Restoring…' : 'Restore identity'}</button>
    </form>
  )
}
