/**
 * The PWA's key-change bookkeeping (shared/ui/app/trust.ts) over a real
 * TrustStore in memory, and the sentence for KeyChangedError.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateIdentityKey, KeyChangedError, openTrustStore, safetyNumber, toBase64Url } from '../../../shared/identity/index.ts'
import type { Phone, RemoteParty } from '../../../shared/sip/api.ts'
import { memoryStorage } from '../../../shared/store/kv.ts'
import { errorMessage } from '../../../shared/ui/messages.ts'
import { KeyWatch } from '../../../shared/ui/app/trust.ts'

const key = (): string => toBase64Url(generateIdentityKey().publicKey)

describe('KeyWatch (PWA)', () => {
  it('unknown → pinned → changed (from a KeyChangedError) → accepted → verified', async () => {
    const store = await openTrustStore(memoryStorage())
    const watch = new KeyWatch(store)
    const changes: Array<string | undefined> = []
    watch.addEventListener('change', e => { changes.push(e.detail.aor) })
    const k1 = key()
    const k2 = key()
    assert.deepEqual(watch.status('bob@example.org'), { status: 'unknown' })
    await store.pinOnFirstUse('bob@example.org', k1)
    assert.deepEqual(watch.status('bob@example.org'), { status: 'pinned', pinnedKey: k1 })
    watch.noteError(new Error('unrelated'))
    watch.noteError(new KeyChangedError({ aor: 'bob@example.org', previousKey: k1, newKey: k2 }))
    assert.deepEqual(watch.status('Bob@Example.org'), { status: 'changed', pinnedKey: k1, newKey: k2 })
    const me = { aor: 'alice@example.org', key: key() }
    assert.notEqual(watch.safety(me, 'bob@example.org', k2)?.digits, watch.safety(me, 'bob@example.org')?.digits)
    await watch.acceptNewKey('bob@example.org')
    assert.deepEqual(watch.status('bob@example.org'), { status: 'pinned', pinnedKey: k2 })
    await store.markVerified('bob@example.org', k2)
    assert.equal(watch.status('bob@example.org').status, 'verified')
    assert.ok(changes.filter(a => a === 'bob@example.org').length >= 4)
  })

  it('forgets a key change that is over: the contact is back on the pinned key', async () => {
    const store = await openTrustStore(memoryStorage())
    const watch = new KeyWatch(store)
    const phone = new EventTarget()
    watch.watchPhone(phone as unknown as Phone)
    const incoming = (aor: string, trust: RemoteParty['trust'], identityKey: string): void => {
      const remote: RemoteParty = { aor, displayName: '', authenticated: true, identityKey, ...(trust !== undefined ? { trust } : {}) }
      phone.dispatchEvent(new CustomEvent('message:incoming', { detail: { id: 'm', from: remote, body: 'hi', contentType: 'text/plain', receivedAt: Date.now() } }))
    }
    const pinned = key()
    const hostile = key()
    await store.pinOnFirstUse('bob@example.org', pinned)
    const me = { aor: 'alice@example.org', key: key() }

    // 1. an incoming message on a changed key, then one on the pinned key again
    incoming('bob@example.org', 'changed', hostile)
    assert.deepEqual(watch.status('bob@example.org'), { status: 'changed', pinnedKey: pinned, newKey: hostile })
    incoming('bob@example.org', 'pinned', pinned)
    assert.deepEqual(watch.status('bob@example.org'), { status: 'pinned', pinnedKey: pinned })
    // "Accept new key" now has nothing stale to pin, and the safety number is the pinned key's
    await watch.acceptNewKey('bob@example.org')
    assert.equal(store.pin('bob@example.org')?.key, pinned)
    assert.equal(watch.safety(me, 'bob@example.org')?.digits, safetyNumber(me, { aor: 'bob@example.org', key: pinned }).digits)

    // 2. a refused call, then a call or message of ours that got through (the phone checked the pin)
    watch.noteError(new KeyChangedError({ aor: 'bob@example.org', previousKey: pinned, newKey: hostile }))
    assert.equal(watch.status('bob@example.org').status, 'changed')
    watch.noteOk('Bob@Example.org')
    assert.deepEqual(watch.status('bob@example.org'), { status: 'pinned', pinnedKey: pinned })

    // 3. the noted key was accepted elsewhere (another screen, another tab): the pin now is that key
    watch.noteKey('bob@example.org', hostile)
    await store.acceptNewKey('bob@example.org', hostile)
    assert.deepEqual(watch.status('bob@example.org'), { status: 'pinned', pinnedKey: hostile })
    // ...and a later change back to the old key is a new change, not hidden by the old note
    incoming('bob@example.org', 'changed', pinned)
    assert.deepEqual(watch.status('bob@example.org'), { status: 'changed', pinnedKey: hostile, newKey: pinned })

    // an unflagged party (phone without trust store) says nothing either way
    incoming('bob@example.org', undefined, pinned)
    assert.equal(watch.status('bob@example.org').status, 'changed')
  })

  it('says which address changed key and that nothing was sent', () => {
    const text = errorMessage(new KeyChangedError({ aor: 'bob@example.org', previousKey: key(), newKey: key() }), { address: 'bob@example.org' })
    assert.match(text ?? '', /^bob@example\.org's security key changed\. Nothing was sent/)
  })
})
