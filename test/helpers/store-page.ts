/**
 * A blank page on 127.0.0.1 that exposes shared/store as `globalThis.peerlineStore`,
 * for running the IndexedDB history store in real Chromium (tests and the
 * history-search benchmark).
 */
import { createServer } from 'node:http'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as esbuild from 'esbuild'
import { ROOT } from '../../build/build.ts'

export interface StorePage { url: string, close: () => Promise<void> }

export async function serveStorePage (options: { minify?: boolean } = {}): Promise<StorePage> {
  const dir = await mkdtemp(join(tmpdir(), 'peerline-store-page-'))
  await esbuild.build({
    stdin: { contents: "import * as lib from './shared/store/index.ts'; globalThis.peerlineStore = lib", resolveDir: ROOT, loader: 'ts', sourcefile: 'store-page.ts' },
    outfile: join(dir, 'store.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['chrome120'],
    minify: options.minify ?? false,
    logLevel: 'warning'
  })
  const script = await readFile(join(dir, 'store.js'))
  const server = createServer((req, res) => {
    if (req.url === '/store.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(script)
    } else if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><meta charset="utf-8"><title>store</title><script src="/store.js"></script>')
    } else {
      res.writeHead(404).end()
    }
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}/`,
    close: async () => {
      server.closeAllConnections()
      await new Promise(resolve => server.close(resolve))
      await rm(dir, { recursive: true, force: true })
    }
  }
}
