import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { canonicalJson, fromBase64Url, toBase64Url, utf8 } from '../../shared/identity/index.ts'

describe('base64url', () => {
  it('round-trips every length and matches Node', () => {
    for (let n = 0; n < 70; n++) {
      const bytes = crypto.getRandomValues(new Uint8Array(n))
      const text = toBase64Url(bytes)
      assert.equal(text, Buffer.from(bytes).toString('base64url'))
      assert.deepEqual(fromBase64Url(text), bytes)
    }
  })

  it('rejects padding, other alphabets, bad lengths and non-canonical trailing bits', () => {
    for (const bad of ['AA==', 'a+b/', 'A', 'AAAAA', 'AB', ' AA', 'AAé', 'AAB']) {
      assert.throws(() => fromBase64Url(bad), { name: 'EncodingError' }, bad)
    }
    assert.throws(() => fromBase64Url(42 as unknown as string), { name: 'EncodingError' })
  })
})

describe('canonicalJson', () => {
  it('sorts keys recursively and drops whitespace', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 'é' }], c: null } }), '{"a":{"c":null,"d":[3,{"y":"é","z":1}]},"b":1}')
    assert.equal(canonicalJson('x"y'), '"x\\"y"')
    assert.equal(canonicalJson(Object.create(null)), '{}')
  })

  it('rejects what JSON would silently change', () => {
    const circular: Record<string, unknown> = {}
    circular.self = circular
    for (const bad of [undefined, () => 1, Number.NaN, Infinity, { a: undefined }, [1, undefined], new Date(0), 1n, Symbol('s'), circular, new Array(2)]) {
      assert.throws(() => canonicalJson(bad), { name: 'EncodingError' })
    }
  })

  it('allows the same object twice when it is not a cycle', () => {
    const shared = { x: 1 }
    assert.equal(canonicalJson({ a: shared, b: shared }), '{"a":{"x":1},"b":{"x":1}}')
  })

  it('utf8 encodes', () => {
    assert.deepEqual(utf8('é'), new Uint8Array([0xc3, 0xa9]))
  })
})
