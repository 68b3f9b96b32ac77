/** Release builds of one extension target into a temporary folder, removed afterwards. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildExtensions } from '../../build/extension.ts'
import type { ExtensionTarget } from '../../build/extension.ts'

/** Builds `target` (minified, unpackaged) and runs `check` on the unpacked folder. */
export async function withReleaseBuild<T> (target: ExtensionTarget, check: (dir: string) => Promise<T>): Promise<T> {
  const out = await mkdtemp(join(tmpdir(), `peerline-${target}-release-`))
  try {
    const [r] = await buildExtensions({ targets: [target], outDir: out, packageDir: null })
    if (r === undefined) throw new Error(`no ${target} build`)
    return await check(r.dir)
  } finally {
    await rm(out, { recursive: true, force: true })
  }
}
