/** Module hooks for the listing: `node:test` resolves to the recorder. */
const recorder = new URL('./recorder.ts', import.meta.url).href

export async function resolve (specifier: string, context: unknown, next: (s: string, c: unknown) => Promise<unknown>): Promise<unknown> {
  if (specifier === 'node:test' || specifier === 'test') return { url: recorder, shortCircuit: true }
  return await next(specifier, context)
}
