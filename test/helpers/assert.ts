/**
 * Assertions shared by the integration tests.
 */
import assert from 'node:assert/strict'

/** Awaits `p`, expecting it to reject with an error named `name`; returns that error. */
export async function expectRejects (p: Promise<unknown>, name: string): Promise<Error> {
  try {
    await p
  } catch (err) {
    assert.equal((err as Error).name, name, `expected ${name}, got ${(err as Error).name}: ${(err as Error).message}`)
    return err as Error
  }
  assert.fail(`expected ${name}, but it resolved`)
}
