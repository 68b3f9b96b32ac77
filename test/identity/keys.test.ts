import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  fingerprint, generateIdentityKey, publicKeyFromPrivate, signBytes, signObject, utf8, verifyBytes, verifyObjectSignature
} from '../../shared/identity/index.ts'

describe('keys', () => {
  it('signs and verifies', () => {
    const keys = generateIdentityKey()
    assert.equal(keys.publicKey.length, 32)
    assert.equal(keys.privateKey.length, 32)
    assert.deepEqual(publicKeyFromPrivate(keys.privateKey), keys.publicKey)
    const data = utf8('hello')
    const sig = signBytes(keys.privateKey, data)
    assert.equal(sig.length, 64)
    assert.equal(verifyBytes(keys.publicKey, data, sig), true)
    assert.equal(verifyBytes(keys.publicKey, utf8('hellO'), sig), false)
    assert.equal(verifyBytes(generateIdentityKey().publicKey, data, sig), false)
  })

  it('verifyBytes returns false on malformed input instead of throwing', () => {
    const keys = generateIdentityKey()
    const data = utf8('x')
    const sig = signBytes(keys.privateKey, data)
    assert.equal(verifyBytes(new Uint8Array(31), data, sig), false)
    assert.equal(verifyBytes(new Uint8Array(32).fill(0xff), data, sig), false)
    assert.equal(verifyBytes(keys.publicKey, data, sig.subarray(1)), false)
    assert.equal(verifyBytes(keys.publicKey, data, new Uint8Array(64).fill(0xff)), false)
    assert.equal(verifyBytes(null as unknown as Uint8Array, data, sig), false)
    assert.equal(verifyBytes(keys.publicKey, 'x' as unknown as Uint8Array, sig), false)
  })

  it('fingerprint is 32 hex chars and stable', () => {
    const { publicKey } = generateIdentityKey()
    assert.match(fingerprint(publicKey), /^[0-9a-f]{32}$/)
    assert.equal(fingerprint(publicKey), fingerprint(publicKey.slice()))
  })

  it('signObject / verifyObjectSignature cover every field', () => {
    const keys = generateIdentityKey()
    const signed = signObject(keys.privateKey, { b: 2, a: 'x' })
    assert.equal(verifyObjectSignature(keys.publicKey, signed), true)
    assert.equal(verifyObjectSignature(keys.publicKey, { ...signed, b: 3 }), false)
    assert.equal(verifyObjectSignature(keys.publicKey, { ...signed, extra: 1 }), false)
    assert.equal(verifyObjectSignature(keys.publicKey, null), false)
    assert.equal(verifyObjectSignature(keys.publicKey, { ...signed, sig: '!!' }), false)
  })
})
