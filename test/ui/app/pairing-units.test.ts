/**
 * The PWA's pairing deep link, without a browser: the route, the offer part
 * and where the app goes once linked (only in-app call/chat routes).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parseDeepLink } from '../../../shared/ui/app/deeplink.ts'
import { pairOffer, pairThen } from '../../../shared/ui/app/pairing.ts'

describe('#/pair/ deep links', () => {
  it('routes to pairing with the offer and an optional follow-up', () => {
    const link = parseDeepLink('#/pair/eyJ2IjoxfQ?then=/call/sip%3Abob%40example.org')
    assert.equal(link.route, 'pair')
    assert.equal(pairOffer(link.target), 'eyJ2IjoxfQ')
    assert.equal(pairThen(link.target), '#/call/sip:bob@example.org')
    assert.equal(pairThen('eyJ2IjoxfQ'), '#/')
    assert.equal(pairThen('x?then=/chat/bob@example.org'), '#/chat/bob@example.org')
    assert.equal(pairThen('x?then=javascript:alert(1)'), '#/')
    assert.equal(pairThen('x?then=/settings'), '#/')
    assert.equal(pairThen(undefined), '#/')
  })
})
