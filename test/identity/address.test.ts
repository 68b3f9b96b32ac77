import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { normalizeAor } from '../../shared/identity/index.ts'

const valid: Array<[string, string]> = [
  ['bob@example.org', 'bob@example.org'],
  [' Bob@Example.ORG ', 'bob@example.org'],
  ['sip:bob@example.org', 'bob@example.org'],
  ['SIP:Bob@example.org', 'bob@example.org'],
  ['sips:bob@example.org', 'bob@example.org'],
  ['mailto:bob@example.org', 'bob@example.org'],
  ['mailto:bob@example.org?subject=hi%20there', 'bob@example.org'],
  ['<sip:bob@example.org>', 'bob@example.org'],
  ['"Bob Smith" <sip:bob@example.org;transport=ws>', 'bob@example.org'],
  ['Bob <bob@example.org>', 'bob@example.org'],
  ['sip:bob@example.org;transport=ws', 'bob@example.org'],
  ['sip:bob@example.org;transport=ws?subject=x@y', 'bob@example.org'],
  ['sip:bob@example.org?Subject=call', 'bob@example.org'],
  ['sip:bob%2Bwork@example.org', 'bob+work@example.org'],
  ['first.last+tag@sub.example.co.uk', 'first.last+tag@sub.example.co.uk'],
  ["o'brien@example.org", "o'brien@example.org"],
  ['alice@localhost', 'alice@localhost'],
  ['x@bücher.de', 'x@xn--bcher-kva.de'],
  ['a@b-c.io', 'a@b-c.io']
]

const invalid: Array<[string, RegExp]> = [
  ['', /empty/],
  ['   ', /empty/],
  ['<>', /empty/],
  ['bob', /no @/],
  ['sip:bob', /no @/],
  ['a@b@example.org', /more than one @/],
  ['@example.org', /nothing before/],
  ['bob@', /nothing after/],
  ['bob@example', /no dot/],
  ['bob@example..org', /empty label/],
  ['bob@.example.org', /empty label/],
  ['bob@example.org.', /empty label/],
  ['bob@-example.org', /not allowed/],
  ['bob@exa_mple.org', /not allowed/],
  ['.bob@example.org', /misplaced dot/],
  ['bo..b@example.org', /misplaced dot/],
  ['bo b@example.org', /not allowed/],
  ['bob(x)@example.org', /not allowed/],
  ['"bob"@example.org', /not allowed/],
  ['bob,carol@example.org', /not allowed/],
  ['jöhn@example.org', /not allowed/],
  ['tel:+15551234567', /Unsupported URI scheme/],
  ['http://example.org/', /Unsupported URI scheme/],
  ['sip:bob:secret@example.org', /not allowed/],
  ['bob@example.org:5060', /port/],
  ['bob@[127.0.0.1]', /IP address/],
  ['bob@127.0.0.1', /IP address/],
  ['<sip:bob@example.org', /angle brackets/],
  ['sip:bob@example.org>', /angle brackets/],
  ['sip:bob%zz@example.org', /percent-encoding/],
  [`${'a'.repeat(65)}@example.org`, /longer than 64/],
  [`bob@${'a'.repeat(64)}.org`, /label longer/],
  [`${'a'.repeat(64)}@${Array(4).fill('b'.repeat(60)).join('.')}.org`, /longer than 25[34]/]
]

describe('normalizeAor', () => {
  for (const [input, expected] of valid) {
    it(`accepts ${JSON.stringify(input)}`, () => {
      assert.equal(normalizeAor(input), expected)
    })
  }
  for (const [input, message] of invalid) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      assert.throws(() => normalizeAor(input), (err: Error) => {
        assert.equal(err.name, 'InvalidAddressError')
        assert.match(err.message, message)
        return true
      })
    })
  }
  it('rejects non-strings', () => {
    assert.throws(() => normalizeAor(undefined as unknown as string), { name: 'InvalidAddressError' })
  })
  it('is idempotent', () => {
    for (const [, out] of valid) assert.equal(normalizeAor(out), out)
  })
})
