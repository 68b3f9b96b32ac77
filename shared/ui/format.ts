/**
 * Small formatting helpers for call and chat UIs (no DOM: usable from workers too).
 */

/** `mm:ss`, or `h:mm:ss` from one hour on. Negative or non-finite input shows 00:00. */
export function formatDuration (ms: number): string {
  const total = Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 1000) : 0
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = total % 60
  const mm = String(m).padStart(2, '0')
  const ss = String(s).padStart(2, '0')
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`
}

/** A time for a list: "14:05" today, "3 Mar, 14:05" this year, "3 Mar 2024, 14:05" before. */
export function formatWhen (at: number, now: number = Date.now(), locale?: string): string {
  const d = new Date(at)
  const today = new Date(now)
  const time = d.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' })
  if (d.toDateString() === today.toDateString()) return time
  const sameYear = d.getFullYear() === today.getFullYear()
  const date = d.toLocaleDateString(locale, sameYear ? { day: 'numeric', month: 'short' } : { day: 'numeric', month: 'short', year: 'numeric' })
  return `${date}, ${time}`
}
