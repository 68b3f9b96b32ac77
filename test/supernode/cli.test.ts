/**
 * The supernode command line: clear errors for bad input, health, and a
 * graceful exit on SIGINT/SIGTERM.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli, spawnSupernode } from '../helpers/supernode-process.ts'
import { parseCli } from '../../supernode/cli.ts'
import { VERSION } from '../../supernode/version.ts'
import pkg from '../../package.json' with { type: 'json' }

describe('peerline-supernode CLI', { timeout: 120_000 }, () => {
  it('parses repeatable flags and defaults', () => {
    const o = parseCli(['--listen', '/ip4/127.0.0.1/tcp/1/ws', '--listen', '/ip4/127.0.0.1/tcp/2/ws', '--bootstrap', '/ip4/127.0.0.1/tcp/3/ws/p2p/x', '--health', 'off'])
    assert.deepEqual(o.listen, ['/ip4/127.0.0.1/tcp/1/ws', '/ip4/127.0.0.1/tcp/2/ws'])
    assert.deepEqual(o.bootstrap, ['/ip4/127.0.0.1/tcp/3/ws/p2p/x'])
    assert.equal(o.health, null)
    assert.deepEqual(parseCli([]).listen, ['/ip4/0.0.0.0/tcp/9001/ws'])
  })

  it('reports the package version', async () => {
    assert.equal(VERSION, pkg.version)
    const r = await runCli(['--version'])
    assert.equal(r.code, 0)
    assert.equal(r.stdout.trim(), pkg.version)
  })

  it('the npx launcher runs on the pinned Node even when started by an older one', async () => {
    // /usr/bin/node is the machine's own Node (20 here); bin.js hands over to the pinned runtime
    const system = existsSync('/usr/bin/node') ? '/usr/bin/node' : process.execPath
    const r = spawnSync(system, [fileURLToPath(new URL('../../supernode/bin.js', import.meta.url)), '--version'], { encoding: 'utf8', timeout: 20_000 })
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout.trim(), pkg.version)
  })

  it('rejects unknown flags with usage', async () => {
    const r = await runCli(['--frobnicate'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /Unknown option '--frobnicate'/)
    assert.match(r.stderr, /Usage: peerline-supernode/)
  })

  it('names a bad multiaddr', async () => {
    const r = await runCli(['--listen', 'not-a-multiaddr', '--health', 'off'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /--listen "not-a-multiaddr" is not a valid multiaddr/)
    const b = await runCli(['--listen', '/ip4/127.0.0.1/tcp/0/ws', '--bootstrap', '/ip4/1.2.3.4/tcp/x', '--health', 'off'])
    assert.equal(b.code, 2)
    assert.match(b.stderr, /--bootstrap "\/ip4\/1.2.3.4\/tcp\/x" is not a valid multiaddr/)
  })

  it('says so when the port is busy', async () => {
    const sn = await spawnSupernode()
    try {
      const port = /tcp\/(\d+)/.exec(sn.addr)?.[1]
      const r = await runCli(['--listen', `/ip4/127.0.0.1/tcp/${port}/ws`, '--health', 'off'])
      assert.equal(r.code, 1)
      assert.match(r.stderr, /already in use/)
    } finally {
      await sn.kill()
    }
  })

  it('says so when the data dir is not writable', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'peerline-cli-'))
    try {
      const file = join(dir, 'a-file')
      await writeFile(file, 'x')
      const r = await runCli(['--listen', '/ip4/127.0.0.1/tcp/0/ws', '--health', 'off', '--data-dir', join(file, 'sub')])
      assert.equal(r.code, 1)
      assert.match(r.stderr, /--data-dir .* is not a writable directory/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('serves /health and stops cleanly on SIGINT', async () => {
    const sn = await spawnSupernode()
    const h = await sn.health()
    assert.equal(h.status, 'ok')
    assert.equal(h.version, pkg.version)
    assert.equal(h.peerId, sn.peerId)
    for (const field of ['connectedPeers', 'storedRecords', 'uptimeSeconds', 'relayReservations']) {
      assert.equal(typeof h[field], 'number', field)
    }
    assert.equal(await sn.kill('SIGINT'), 0)
    assert.match(sn.stderr(), /SIGINT, shutting down/)
  })
})
