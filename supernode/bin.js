#!/usr/bin/env node
// Launcher for `npx peerline-supernode`: Peerline runs on the Node release
// pinned in its own dependencies (libp2p needs Node >= 22), whatever Node
// started this script. Plain JavaScript so that any Node can run it.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const cli = join(here, 'cli.ts')
let runtime = process.execPath
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 23 || (major === 23 && minor < 6)) {
  try {
    runtime = join(dirname(createRequire(import.meta.url).resolve('node/package.json')), 'bin', 'node')
  } catch {
    process.stderr.write('peerline-supernode: needs Node >= 22; run `npm install` to fetch the pinned runtime\n')
    process.exit(1)
  }
}
const child = spawn(runtime, [cli, ...process.argv.slice(2)], { stdio: 'inherit' })
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { child.kill(sig) })
child.on('exit', (code, signal) => { process.exit(code ?? (signal != null ? 1 : 0)) })
