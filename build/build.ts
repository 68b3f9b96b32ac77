/**
 * Builds Peerline's browser artifacts into dist/: the PWA (dist/pwa).
 * `node build/build.ts` or `npm run build`; `npm start` calls buildPwa().
 */
import { cp, mkdir, rm } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import * as esbuild from 'esbuild'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const PWA_OUT = join(ROOT, 'dist', 'pwa')

export interface BuildResult { outDir: string, bytes: number }

export async function buildPwa (options: { minify?: boolean } = {}): Promise<BuildResult> {
  await rm(PWA_OUT, { recursive: true, force: true })
  await mkdir(PWA_OUT, { recursive: true })
  const result = await esbuild.build({
    entryPoints: { app: join(ROOT, 'pwa', 'src', 'main.ts') },
    outdir: PWA_OUT,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome120', 'firefox128'],
    splitting: true,
    minify: options.minify ?? true,
    sourcemap: true,
    metafile: true,
    logLevel: 'warning',
    define: { 'process.env.NODE_DEBUG': 'undefined', global: 'globalThis' }
  })
  await cp(join(ROOT, 'pwa', 'public'), PWA_OUT, { recursive: true })
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0)
  return { outDir: PWA_OUT, bytes }
}

if (import.meta.main === true) {
  const r = await buildPwa()
  console.info(`PWA built in ${r.outDir} (${(r.bytes / 1024).toFixed(0)} KiB of scripts)`)
}
