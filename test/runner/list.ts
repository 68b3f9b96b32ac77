/**
 * Lists the tests each file declares, without running them:
 * `node test/runner/list.ts <file>…` prints one JSON object
 * `{ "<file>": DeclaredTest[] | { error } }`.
 * `node:test` is swapped for test/runner/recorder.ts (see hooks.ts).
 */
import { register } from 'node:module'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

register(new URL('./hooks.ts', import.meta.url))
const { takeDeclared } = await import('./recorder.ts')

const out: Record<string, unknown> = {}
for (const file of process.argv.slice(2)) {
  try {
    await import(pathToFileURL(resolve(file)).href)
    const { tests, pending } = takeDeclared()
    await Promise.all(pending)
    out[file] = [...tests, ...takeDeclared().tests]
  } catch (err) {
    takeDeclared()
    out[file] = { error: (err as Error).stack ?? String(err) }
  }
}
process.stdout.write(JSON.stringify(out))
// the listing imported product modules whose handles (timers, channels) must not keep it alive
process.exit(0)
