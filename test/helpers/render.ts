/**
 * Renders hook-free Preact components to HTML in Node, for unit tests of
 * shared/ui (Node runs .ts, not .tsx): esbuild bundles the components, a small
 * walker turns their virtual DOM into text and keeps the elements so a test
 * can press a button (call its onClick).
 */
import * as esbuild from 'esbuild'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface RenderedElement { tag: string, props: Record<string, unknown>, text: string }
export interface Rendered { html: string, text: string, elements: RenderedElement[] }

/** Bundles `exports` ({ Name: 'shared/ui/X.tsx' }) and returns the module with those components. */
export async function loadComponents (exports: Record<string, string>): Promise<Record<string, (props: any) => unknown>> {
  const contents = Object.entries(exports).map(([name, path]) => `export { ${name} } from ${JSON.stringify(ROOT + path)}`).join('\n')
  const out = await esbuild.build({
    stdin: { contents, resolveDir: ROOT, loader: 'ts' },
    bundle: true, write: false, format: 'esm', platform: 'node', jsx: 'automatic', jsxImportSource: 'preact', logLevel: 'silent'
  })
  const code = out.outputFiles[0]?.text ?? ''
  return await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`)
}

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** Renders a virtual-DOM node (components called as functions: no hooks). */
export function renderNode (node: unknown): Rendered {
  const elements: RenderedElement[] = []
  const walk = (n: unknown): { html: string, text: string } => {
    if (n === null || n === undefined || typeof n === 'boolean') return { html: '', text: '' }
    if (typeof n === 'string' || typeof n === 'number') return { html: escape(String(n)), text: String(n) }
    if (Array.isArray(n)) {
      const parts = n.map(walk)
      return { html: parts.map(p => p.html).join(''), text: parts.map(p => p.text).join('') }
    }
    const v = n as { type: unknown, props: Record<string, unknown> }
    if (typeof v.type === 'function') return walk((v.type as (p: unknown) => unknown)(v.props))
    const { children, ...props } = v.props
    const inner = walk(children)
    const attrs = Object.entries(props)
      .filter(([k, val]) => typeof val !== 'function' && val !== undefined && val !== false && k !== 'key')
      .map(([k, val]) => ` ${k}="${escape(String(val))}"`).join('')
    elements.push({ tag: String(v.type), props, text: inner.text })
    return { html: `<${String(v.type)}${attrs}>${inner.html}</${String(v.type)}>`, text: inner.text }
  }
  const r = walk(node)
  return { ...r, elements }
}
