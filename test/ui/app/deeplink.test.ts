/**
 * parseDeepLink: the hash routes the app opens, including what protocol
 * handlers hand over (the sip: link URL-encoded into %s).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { deepLinkHash, parseDeepLink } from '../../../shared/ui/app/deeplink.ts'
import type { DeepLink } from '../../../shared/ui/app/deeplink.ts'

describe('parseDeepLink', () => {
  const cases: Array<[string, DeepLink]> = [
    ['#/call/sip:bob@example.org', { route: 'call', target: 'sip:bob@example.org' }],
    // registerProtocolHandler and manifest protocol_handlers encode the link
    ['#/call/sip%3Abob%40example.org', { route: 'call', target: 'sip:bob@example.org' }],
    // and some encode it twice
    ['#/call/sip%253Abob%2540example.org', { route: 'call', target: 'sip:bob@example.org' }],
    ['#/call/sips%3Aalice%40example.com%3Btransport%3Dws', { route: 'call', target: 'sips:alice@example.com;transport=ws' }],
    ['#/call/bob@example.org', { route: 'call', target: 'bob@example.org' }],
    ['#/call/', { route: 'call' }],
    ['#/call', { route: 'call' }],
    ['#/chat/bob@example.org', { route: 'chat', target: 'bob@example.org' }],
    ['#/chat/bob%40example.org', { route: 'chat', target: 'bob@example.org' }],
    ['#/settings', { route: 'settings' }],
    ['#/settings/identity', { route: 'settings', target: 'identity' }],
    ['#/history', { route: 'history' }],
    ['#/history/bob@example.org', { route: 'history', target: 'bob@example.org' }],
    ['#/CALL/sip:bob@example.org', { route: 'call', target: 'sip:bob@example.org' }],
    ['#call/sip:bob@example.org', { route: 'call', target: 'sip:bob@example.org' }],
    ['/call/sip:bob@example.org', { route: 'call', target: 'sip:bob@example.org' }],
    ['#//call/sip:bob@example.org', { route: 'call', target: 'sip:bob@example.org' }],
    // a SIP URI's parameters may hold '/': everything after the route is the target
    ['#/call/sip:bob@example.org;x=a/b', { route: 'call', target: 'sip:bob@example.org;x=a/b' }],
    // a stray % is kept as typed rather than throwing
    ['#/chat/100%@example.org', { route: 'chat', target: '100%@example.org' }],
    ['', { route: 'home' }],
    ['#', { route: 'home' }],
    ['#/', { route: 'home' }],
    ['#/home', { route: 'home' }],
    ['#/nowhere/bob@example.org', { route: 'home' }],
    ['#/constructor', { route: 'home' }]
  ]
  for (const [hash, expected] of cases) {
    it(`${JSON.stringify(hash)} → ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(parseDeepLink(hash), expected)
    })
  }

  it('deepLinkHash makes hashes parseDeepLink reads back', () => {
    const links: DeepLink[] = [
      { route: 'call', target: 'sip:bob@example.org' },
      { route: 'chat', target: 'bob+work@example.org' },
      { route: 'settings' },
      { route: 'history' },
      { route: 'home' }
    ]
    for (const link of links) assert.deepEqual(parseDeepLink(deepLinkHash(link)), link)
    assert.equal(deepLinkHash({ route: 'call', target: 'sip:bob@example.org' }), '#/call/sip%3Abob%40example.org')
  })

  it('never throws on odd input', () => {
    for (const junk of ['%', '#/%E0%A4%A', '#/call/%', '#/' + 'a/'.repeat(1000), ' #/call/bob@example.org ', undefined as unknown as string]) {
      const r = parseDeepLink(junk)
      assert.ok(['call', 'chat', 'settings', 'history', 'home'].includes(r.route))
    }
  })
})
