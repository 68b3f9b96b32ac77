import assert from 'node:assert/strict'
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { memoryStorage } from '../../shared/store/index.ts'
import { fileStorage } from '../../shared/store/node/file.ts'

describe('memoryStorage', () => {
  it('reads what was written', async () => {
    const s = memoryStorage()
    assert.equal(await s.read(), undefined)
    await s.write('a')
    assert.equal(await s.read(), 'a')
    assert.equal(await memoryStorage('init').read(), 'init')
  })
})

describe('fileStorage', () => {
  let dir: string
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'peerline-store-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('round-trips, creating a private parent directory and a 0600 file', async () => {
    const path = join(dir, 'nested', 'deeper', 'identity.json')
    const s = fileStorage(path)
    assert.equal(await s.read(), undefined)
    await s.write('{"hello":"wörld"}')
    assert.equal(await s.read(), '{"hello":"wörld"}')
    await s.write('second')
    assert.equal(await fileStorage(path).read(), 'second')
    assert.equal((await stat(join(dir, 'nested', 'deeper'))).mode & 0o777, 0o700)
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    assert.deepEqual(await readdir(join(dir, 'nested', 'deeper')), ['identity.json'])
  })

  it('concurrent writes leave one complete value', async () => {
    const path = join(dir, 'race.txt')
    const s = fileStorage(path)
    const values = Array.from({ length: 10 }, (_, i) => String(i).repeat(10000))
    await Promise.all(values.map(async v => { await s.write(v) }))
    assert.ok(values.includes(await readFile(path, 'utf8')))
    assert.deepEqual((await readdir(dir)).filter(f => f.endsWith('.tmp')), [])
  })

  it('StorageError with the path for an unwritable location', async () => {
    const file = join(dir, 'plain-file')
    await writeFile(file, 'x')
    const path = join(file, 'identity.json')
    const s = fileStorage(path)
    await assert.rejects(s.write('data'), (err: Error & { path?: string }) => {
      assert.equal(err.name, 'StorageError')
      assert.equal(err.path, path)
      assert.ok(err.message.includes(path))
      return true
    })
    await assert.rejects(s.read(), { name: 'StorageError' })
  })

  it('StorageError for an unreadable path (a directory)', async () => {
    await assert.rejects(fileStorage(dir).read(), { name: 'StorageError', path: dir })
  })

  it('StorageError for a read-only directory', { skip: process.getuid?.() === 0 ? 'root ignores permissions' : false }, async () => {
    const ro = join(dir, 'ro')
    await writeFile(join(dir, 'placeholder'), '')
    const { mkdir } = await import('node:fs/promises')
    await mkdir(ro, { mode: 0o500 })
    try {
      await assert.rejects(fileStorage(join(ro, 'x.json')).write('x'), { name: 'StorageError' })
    } finally {
      await chmod(ro, 0o700)
    }
  })
})
