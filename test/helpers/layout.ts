/**
 * Layout checks for PWA screens in real Chromium: the narrow-phone fit
 * (no sideways scrolling, every visible control inside the viewport).
 */
import assert from 'node:assert/strict'
import type { Page } from 'playwright-core'

/** The narrowest phone the PWA is designed for (CSS px). */
export const PHONE_VIEWPORT = { width: 360, height: 640 }

/** Fails when the page scrolls sideways or a visible control pokes out of the viewport. */
export async function assertFits (page: Page, screen: string): Promise<void> {
  const r = await page.evaluate(() => {
    const doc = document.documentElement
    const width = doc.clientWidth
    const controls = Array.from(document.querySelectorAll<HTMLElement>('button, input, textarea, select, a[href], summary')).filter(el => {
      const box = el.getBoundingClientRect()
      return box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== 'hidden'
    })
    const outside = controls.filter(el => {
      const box = el.getBoundingClientRect()
      return box.left < -0.5 || box.right > width + 0.5
    }).map(el => el.outerHTML.slice(0, 100))
    return { scrollWidth: doc.scrollWidth, bodyScrollWidth: document.body.scrollWidth, width, outside, count: controls.length }
  })
  assert.ok(r.count > 0, `${screen}: has controls`)
  assert.ok(r.scrollWidth <= r.width && r.bodyScrollWidth <= r.width, `${screen}: no horizontal scroll (${r.scrollWidth}/${r.bodyScrollWidth} > ${r.width})`)
  assert.deepEqual(r.outside, [], `${screen}: every control inside the ${r.width} px viewport`)
}

/**
 * The text a person sees on the page: rendered text only, none inside a
 * closed <details>, and of a `details.advanced` only its summary.
 */
export async function visibleText (page: Page): Promise<string> {
  return await page.evaluate(() => {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT)
    const parts: string[] = []
    for (let n = walker.nextNode(); n !== null; n = walker.nextNode()) {
      const el = n.parentElement
      const advanced = el?.closest('details.advanced')
      if (el === null || (advanced != null && el.closest('summary')?.parentElement !== advanced)) continue
      if (el.getClientRects().length === 0 || getComputedStyle(el).visibility === 'hidden') continue
      const t = (n.textContent ?? '').trim()
      if (t !== '') parts.push(t)
    }
    return parts.join('\n')
  })
}

/**
 * Every element matching `selector` is inside the viewport and is what a
 * real mouse at its centre would hit (Playwright's trial click: visible,
 * stable, enabled, not covered).
 */
export async function assertClickable (page: Page, selector: string, screen: string): Promise<number> {
  const width = await page.evaluate(() => document.documentElement.clientWidth)
  const all = await page.locator(selector).all()
  assert.ok(all.length > 0, `${screen}: ${selector} present`)
  for (const el of all) {
    const box = await el.boundingBox()
    const label = await el.getAttribute('aria-label') ?? await el.innerText()
    assert.ok(box !== null && box.x >= -0.5 && box.x + box.width <= width + 0.5, `${screen}: ${label} inside the ${width} px panel (${JSON.stringify(box)})`)
    await el.click({ trial: true, timeout: 5_000 })
  }
  return all.length
}
