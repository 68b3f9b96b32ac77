/**
 * The PWA's email-verification bookkeeping (shared/ui/app/email-verification.ts)
 * without a network: the pending request kept in settings is forgotten once
 * its code has expired, so Settings stops offering a dead code form.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { identityStore, openTrustStore } from '../../../shared/identity/index.ts'
import type { TrustStorage } from '../../../shared/identity/index.ts'
import type { HistoryStore } from '../../../shared/store/history-api.ts'
import { memoryStorage } from '../../../shared/store/kv.ts'
import { EmailVerification } from '../../../shared/ui/app/email-verification.ts'
import type { PendingVerification } from '../../../shared/ui/app/email-verification.ts'
import { SETTING_CA_PENDING } from '../../../shared/ui/app/constants.ts'

/** The settings part of a HistoryStore, in memory (all EmailVerification uses). */
function settingsOnly (): { history: HistoryStore, settings: Map<string, unknown> } {
  const settings = new Map<string, unknown>()
  const history = {
    getSetting: async (key: string, fallback: unknown) => settings.has(key) ? settings.get(key) : fallback,
    setSetting: async (key: string, value: unknown) => { settings.set(key, value) }
  } as unknown as HistoryStore
  return { history, settings }
}

function memoryTrust (): TrustStorage {
  let value: string | undefined
  return { read: async () => value, write: async (d: string) => { value = d } }
}

describe('EmailVerification (PWA)', () => {
  it('pending() returns a live request and drops it once expiresAt has passed', async () => {
    const { history, settings } = settingsOnly()
    const v = new EmailVerification({
      history: () => history,
      identities: identityStore(memoryStorage()),
      trust: await openTrustStore(memoryTrust()),
      session: () => undefined,
      restart: async () => {},
      settled: async () => {}
    })
    const now = Date.now()
    const p: PendingVerification = { requestId: 'abcdefgh12345678', expiresAt: now + 60_000, peerId: '12D3KooWexample', email: 'a@example.org', caKey: 'k', caName: 'CA' }
    settings.set(SETTING_CA_PENDING, p)
    assert.deepEqual(await v.pending(now), p)
    assert.deepEqual(await v.pending(now + 59_999), p)
    assert.equal(await v.pending(now + 60_000), undefined)
    assert.equal(settings.get(SETTING_CA_PENDING), null, 'the expired request is removed from settings')
    assert.equal(await v.pending(now), undefined)
    // a stored value without a usable expiry is not kept either
    settings.set(SETTING_CA_PENDING, { ...p, expiresAt: 'soon' })
    assert.equal(await v.pending(now), undefined)
    await assert.rejects(v.confirm(p.requestId, '123456'), { name: 'UnknownRequestError' })
  })
})
