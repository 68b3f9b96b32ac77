/**
 * The Thunderbird add-on's record of which web app is a linked device
 * (extension/thunderbird/webapp-pairing.ts), on in-memory storage and a
 * stand-in overlay: only the roster and the offer are read. The real
 * hand-off with a paired PWA is in test/extension/thunderbird.test.ts.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { LinkedDeviceInfo } from '../../shared/overlay/overlay.ts'
import type { PairingOffer } from '../../shared/overlay/pairing.ts'
import { PAIRED_KEY, webAppPairing } from '../../extension/thunderbird/webapp-pairing.ts'
import type { PairingOverlay } from '../../extension/thunderbird/webapp-pairing.ts'

const BASE = 'https://app.example.org/'

function memoryArea (): { items: Record<string, unknown>, get: (k: string) => Promise<Record<string, unknown>>, set: (i: Record<string, unknown>) => Promise<void> } {
  const items: Record<string, unknown> = {}
  return { items, get: async k => (k in items ? { [k]: items[k] } : {}), set: async i => { Object.assign(items, i) } }
}

function fakeOverlay (peers: string[], expiresAt: number): PairingOverlay & { peers: string[] } {
  const o = {
    peers,
    devices: (): LinkedDeviceInfo[] => o.peers.map((peerId, i) => ({ peerId, name: peerId, thisDevice: i === 0, online: true, notAfter: Infinity })),
    createPairingOffer: async () => ({ v: 1, aor: 'tb@example.org', peerId: o.peers[0] as string, addrs: [], code: '123456', expiresAt }) satisfies PairingOffer
  }
  return o
}

describe('web-app pairing (Thunderbird hand-off)', () => {
  it('the first device to join while the hand-off offer is open is the web app, remembered', async () => {
    let now = 1_000
    const storage = memoryArea()
    const overlay = fakeOverlay(['tb', 'laptop'], 5_000)
    const webApp = webAppPairing({ storage, overlay: () => overlay }, { now: () => now })
    assert.equal(await webApp.paired(BASE), false, 'nothing handed off yet')
    await webApp.offer(overlay, BASE)
    assert.deepEqual(storage.items[PAIRED_KEY], { base: BASE, before: ['tb', 'laptop'], expiresAt: 5_000 })
    assert.equal(await webApp.paired(BASE), false, 'no new device yet')
    overlay.peers.push('browser')
    assert.equal(await webApp.paired('https://other.example.org/'), false, 'another address')
    assert.equal(await webApp.paired(BASE), true)
    assert.deepEqual(storage.items[PAIRED_KEY], { base: BASE, peerId: 'browser' })
    now = 10_000
    assert.equal(await webApp.paired(BASE), true, 'kept after the offer expired')
    overlay.peers.pop()
    assert.equal(await webApp.paired(BASE), false, 'revoked: no longer in the roster')
  })

  it('an expired or replaced hand-off offer pairs nothing', async () => {
    let now = 1_000
    const storage = memoryArea()
    const overlay = fakeOverlay(['tb'], 5_000)
    const webApp = webAppPairing({ storage, overlay: () => overlay }, { now: () => now })
    await webApp.offer(overlay, BASE)
    overlay.peers.push('someone')
    now = 6_000
    assert.equal(await webApp.paired(BASE), false, 'expired')
    now = 1_000
    await webApp.forgetOpenOffer()
    assert.deepEqual(storage.items[PAIRED_KEY], { base: BASE })
    assert.equal(await webApp.paired(BASE), false, 'replaced by an offer made elsewhere')
  })

  it('no overlay yet: not paired', async () => {
    const webApp = webAppPairing({ storage: memoryArea(), overlay: () => undefined })
    assert.equal(await webApp.paired(BASE), false)
  })
})
