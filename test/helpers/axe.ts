/**
 * axe-core accessibility audits (WCAG 2.1 A and AA rules) of a live page in
 * real Chromium. The script is evaluated through the DevTools protocol, so
 * pages with a strict CSP (extension pages) are audited the same way.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Page } from 'playwright-core'

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

/** The rule sets the audit runs: WCAG 2.0 and 2.1, levels A and AA. */
export const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']

export interface AxeFinding { id: string, impact: string, help: string, nodes: string[] }

/**
 * Runs axe on `page` and returns the serious and critical violations, each
 * with the selectors (and a snippet) of the elements that fail.
 */
export async function seriousViolations (page: Page): Promise<AxeFinding[]> {
  const loaded = await page.evaluate(() => typeof (globalThis as { axe?: unknown }).axe === 'object')
  if (!loaded) await page.evaluate(AXE_SOURCE)
  return await page.evaluate(async tags => {
    const axe = (globalThis as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<{ violations: Array<{ id: string, impact?: string | null, help: string, nodes: Array<{ target: unknown[], html: string, failureSummary?: string }> }> }> } }).axe
    const result = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] })
    return result.violations
      .filter(v => v.impact === 'serious' || v.impact === 'critical')
      .map(v => ({ id: v.id, impact: v.impact ?? '', help: v.help, nodes: v.nodes.slice(0, 5).map(n => `${n.target.join(' ')} ${n.html.slice(0, 120)} — ${(n.failureSummary ?? '').replace(/\s+/g, ' ').slice(0, 200)}`) }))
  }, WCAG_TAGS)
}

/** A readable block of findings per screen, for one assertion message. */
export function describeFindings (findings: Record<string, AxeFinding[]>): string {
  return Object.entries(findings).filter(([, f]) => f.length > 0).map(([screen, f]) =>
    `${screen}:\n${f.map(v => `  [${v.impact}] ${v.id}: ${v.help}\n${v.nodes.map(n => `    ${n}`).join('\n')}`).join('\n')}`).join('\n')
}

/** Audits `page` in the light and the dark colour scheme into `into[<screen> (light|dark)]`, leaving it light. */
export async function auditBothSchemes (page: Page, screen: string, into: Record<string, AxeFinding[]>): Promise<void> {
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme })
    into[`${screen} (${colorScheme})`] = await seriousViolations(page)
  }
  await page.emulateMedia({ colorScheme: 'light' })
}
