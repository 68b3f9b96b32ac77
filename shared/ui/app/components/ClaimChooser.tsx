/**
 * "2 different keys claim bob@example.org": shown instead of dialling or
 * sending when the overlay found several claims for an address and this user
 * trusts none (conflicts.ts). Each claim shows its trust badge (a CA that
 * verified it says so), whether it is self-issued, its fingerprint and the
 * safety number to compare; "Use this key" pins it and continues.
 *
 * @example <ClaimChooser conflict={c} me={{ aor, key }} onChoose={key => retry(key)} onCancel={close} />
 */
import { useState } from 'preact/hooks'
import { TrustBadge } from '../../TrustBadge.tsx'
import { claimRows, CONFLICT_TEXT } from '../conflicts.ts'
import type { Conflict } from '../conflicts.ts'

export interface ClaimChooserProps {
  conflict: Conflict
  /** this user, for the safety numbers (absent: none shown) */
  me?: { aor: string, key: string } | undefined
  /** the user chose `identityKey`; resolves once it is pinned and the call or message went on */
  onChoose: (identityKey: string) => Promise<void> | void
  onCancel: () => void
}

export function ClaimChooser ({ conflict, me, onChoose, onCancel }: ClaimChooserProps) {
  const [busy, setBusy] = useState(false)
  const choose = (key: string): void => {
    setBusy(true)
    Promise.resolve(onChoose(key)).finally(() => { setBusy(false) })
  }
  return <ClaimChooserView conflict={conflict} me={me} busy={busy} onChoose={choose} onCancel={onCancel} />
}

/** The chooser without state (so it renders anywhere, unit tests included). */
export function ClaimChooserView ({ conflict, me, busy, onChoose, onCancel }: Omit<ClaimChooserProps, 'onChoose'> & { busy: boolean, onChoose: (identityKey: string) => void }) {
  const rows = claimRows(conflict, me)
  return (
    <section class="sheet claims" role="dialog" aria-modal="true" aria-labelledby="claims-title">
      <h2 id="claims-title">{CONFLICT_TEXT.heading(rows.length, conflict.aor)}</h2>
      <p>{CONFLICT_TEXT.explain(conflict.aor)}</p>
      <ol class="claim-list">
        {rows.map(r => (
          <li key={r.identityKey} class="claim card stack" data-key={r.identityKey}>
            <TrustBadge view={r.view} aor={conflict.aor} />
            <p class="sub">{r.selfIssued ? CONFLICT_TEXT.selfIssued : CONFLICT_TEXT.caIssued}</p>
            <p><span class="sub">{CONFLICT_TEXT.fingerprint}: </span><code class="fingerprint">{r.fingerprint}</code></p>
            {r.safetyDigits !== undefined && (
              <p><span class="sub">{CONFLICT_TEXT.safetyNumber}: </span><span class="safety-digits" aria-label={CONFLICT_TEXT.safetyNumber}>{r.safetyDigits}</span></p>
            )}
            <button type="button" class="btn primary" disabled={busy} data-choose={r.identityKey} onClick={() => { onChoose(r.identityKey) }}>{CONFLICT_TEXT.choose}</button>
          </li>
        ))}
      </ol>
      <button type="button" class="btn" disabled={busy} onClick={onCancel}>{CONFLICT_TEXT.cancel}</button>
    </section>
  )
}
