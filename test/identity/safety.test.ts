import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import { matchSafetyQr, publicKeyFromPrivate, safetyNumber, SAFETY_NUMBER_ITERATIONS, toBase64Url } from '../../shared/identity/index.ts'

/** Fixed keys so the vectors below are stable. */
const aliceKey = publicKeyFromPrivate(new Uint8Array(32).fill(1))
const bobKey = publicKeyFromPrivate(new Uint8Array(32).fill(2))
const otherKey = publicKeyFromPrivate(new Uint8Array(32).fill(3))
const alice = { aor: 'alice@example.org', key: aliceKey }
const bob = { aor: 'bob@example.org', key: bobKey }

/** The construction written out independently with node:crypto, to check safety.ts against. */
function reference (a: { aor: string, key: Uint8Array }, b: { aor: string, key: Uint8Array }): string {
  const half = (p: { aor: string, key: Uint8Array }): string => {
    let h = createHash('sha512').update(Buffer.from([0, 1])).update(p.key).update(p.aor).digest()
    for (let i = 1; i < SAFETY_NUMBER_ITERATIONS; i++) h = createHash('sha512').update(h).update(p.key).digest()
    let s = ''
    for (let c = 0; c < 6; c++) s += String(h.readUIntBE(c * 5, 5) % 100000).padStart(5, '0')
    return s
  }
  const x = half(a)
  const y = half(b)
  return (x <= y ? x + y : y + x).replace(/(\d{5})(?=\d)/g, '$1 ')
}

describe('safety numbers', () => {
  it('are 60 digits in 12 groups of 5, the same on both sides', () => {
    const mine = safetyNumber(alice, bob)
    const theirs = safetyNumber(bob, alice)
    assert.match(mine.digits, /^\d{5}( \d{5}){11}$/)
    assert.equal(mine.digits, theirs.digits)
    assert.notEqual(mine.qrPayload, theirs.qrPayload)
  })

  it('match an independent implementation (vector)', () => {
    const n = safetyNumber(alice, bob)
    assert.equal(n.digits, reference(alice, bob))
    assert.equal(safetyNumber({ aor: 'ALICE@example.org', key: toBase64Url(aliceKey) }, bob).digits, n.digits)
  })

  it('match a fixed literal vector (keys from seeds 0x01…/0x02…, alice@ and bob@example.org)', () => {
    // written down once from this construction: any change to it (version, iterations, encoding, order) breaks this
    const expected = '41116 04423 57509 22978 06409 04378 60195 21933 51461 09188 94325 26929'
    assert.equal(safetyNumber(alice, bob).digits, expected)
    assert.equal(safetyNumber(bob, alice).digits, expected)
    assert.equal(reference(alice, bob), expected)
  })

  it('change when any key or address changes', () => {
    const base = safetyNumber(alice, bob).digits
    assert.notEqual(safetyNumber({ ...alice, key: otherKey }, bob).digits, base)
    assert.notEqual(safetyNumber(alice, { ...bob, key: otherKey }).digits, base)
    assert.notEqual(safetyNumber(alice, { ...bob, aor: 'bob@example.net' }).digits, base)
  })

  it('QR payloads match only the other side\'s view of the same keys', () => {
    const bobsQr = safetyNumber(bob, alice).qrPayload
    assert.equal(matchSafetyQr(bobsQr, alice, bob), true)
    // my own code is not the other side's
    assert.equal(matchSafetyQr(safetyNumber(alice, bob).qrPayload, alice, bob), false)
    // Bob sees a different key for Alice (a man in the middle)
    const mitm = safetyNumber(bob, { ...alice, key: otherKey }).qrPayload
    assert.equal(matchSafetyQr(mitm, alice, bob), false)
    for (const junk of ['', 'hello', 'peerline-safety:2:a:b', bobsQr.replace(/.$/, 'A'), 42 as unknown as string]) {
      assert.equal(matchSafetyQr(junk, alice, bob), false)
    }
  })

  it('refuse bad keys', () => {
    assert.throws(() => safetyNumber({ aor: 'a@example.org', key: new Uint8Array(31) }, bob), TypeError)
  })
})
