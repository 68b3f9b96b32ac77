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
