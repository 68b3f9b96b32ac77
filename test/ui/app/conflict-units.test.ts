/**
 * "2 different keys claim bob@example.org" (shared/ui/app/conflicts.ts,
 * components/ClaimChooser.tsx) against the overlay's contract, without the
 * overlay: a fake lookup throws an error shaped like ConflictingClaimsError
 * (name + claims; the class lives on another branch) until it is given an
 * `identityKey`. The real DHT side is tested with the overlay. Here: the
 * chooser's text, ranking and safety numbers, the pin the choice makes, and
 * shared/sip passing the chosen key down to overlay.lookup (SipTransport.prepare).
 */
import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { fingerprint, fromBase64Url, generateIdentityKey, openTrustStore, safetyNumber, toBase64Url } from '../../../shared/identity/index.ts'
import type { StoredIdentity, TrustLevel } from '../../../shared/identity/index.ts'
import type { LocationRecord, Overlay } from '../../../shared/overlay/index.ts'
import { SipTransport } from '../../../shared/sip/transport.ts'
import { memoryStorage } from '../../../shared/store/kv.ts'
import { chooseClaim, claimRows, conflictOf, CONFLICT_TEXT } from '../../../shared/ui/app/conflicts.ts'
import { errorMessage } from '../../../shared/ui/messages.ts'
import { loadComponents, renderNode } from '../../helpers/render.ts'

const AOR = 'bob@example.org'
const ME = { aor: 'alice@example.org', key: toBase64Url(generateIdentityKey().publicKey) }

function claim (trust: (key: string) => TrustLevel, selfIssued: boolean): { identityKey: string, fingerprint: string, selfIssued: boolean, trust: TrustLevel, record: LocationRecord } {
  const identityKey = toBase64Url(generateIdentityKey().publicKey)
  const record = { aor: AOR, devices: [], certificate: { key: identityKey, issuer: identityKey }, expiresAt: Date.now() + 60_000 } as unknown as LocationRecord
  return { identityKey, fingerprint: fingerprint(fromBase64Url(identityKey)), selfIssued, trust: trust(identityKey), record }
}

/** What the other branch's overlay throws: only `name` and `claims` are relied on. */
function conflictingClaims (claims: unknown[]): Error {
  return Object.assign(new Error(`${claims.length} keys claim ${AOR}`), { name: 'ConflictingClaimsError', claims })
}

describe('conflicting claims (UI)', () => {
  const self = claim(key => ({ level: 'unverified', key }), true)
  const fromCa = claim(key => ({ level: 'ca-verified', key, caName: 'Example Mail CA', caKey: 'k' }), false)
  /** a fake lookup: the conflict, unless the caller names one claim */
  const lookups: Array<{ aor: string, identityKey?: string }> = []
  const lookup = async (aor: string, options: { identityKey?: string } = {}): Promise<LocationRecord> => {
    lookups.push({ aor, ...(options.identityKey !== undefined ? { identityKey: options.identityKey } : {}) })
    if (options.identityKey === undefined) throw conflictingClaims([self, fromCa])
    const chosen = [self, fromCa].find(c => c.identityKey === options.identityKey)
    if (chosen === undefined) throw Object.assign(new Error('no such claim'), { name: 'NotFoundError' })
    return chosen.record
  }
  let ClaimChooserView: (props: unknown) => unknown

  before(async () => {
    ;({ ClaimChooserView } = await loadComponents({ ClaimChooserView: 'shared/ui/app/components/ClaimChooser.tsx' }) as { ClaimChooserView: (props: unknown) => unknown })
  })

  it('reads the error structurally, ranks the CA-verified claim first, and shows both safety numbers', async () => {
    const err = await lookup(AOR).then(() => undefined, (e: unknown) => e)
    assert.equal(conflictOf(new Error('other'), AOR), undefined)
    assert.equal(conflictOf(Object.assign(new Error('x'), { name: 'ConflictingClaimsError' }), AOR), undefined, 'no claims: not shown as a chooser')
    const conflict = conflictOf(err, 'sip:Bob@Example.org')
    assert.ok(conflict !== undefined)
    assert.equal(conflict.aor, AOR)
    const rows = claimRows(conflict, ME)
    assert.deepEqual(rows.map(r => r.identityKey), [fromCa.identityKey, self.identityKey])
    assert.equal(rows[0]?.label.text, 'Verified by Example Mail CA')
    assert.equal(rows[1]?.label.text, 'Not verified — anyone can claim this address')
    assert.equal(rows[1]?.label.tone, 'caution')
    assert.equal(rows[0]?.safetyDigits, safetyNumber(ME, { aor: AOR, key: fromCa.identityKey }).digits)
    assert.notEqual(rows[0]?.safetyDigits, rows[1]?.safetyDigits)
    // the extension's call window and Thunderbird say it in a sentence when they cannot show the chooser
    assert.match(errorMessage(err, { address: AOR }) ?? '', /^Several keys claim bob@example\.org and none is verified/)

    const chosen: string[] = []
    const r = renderNode({ type: ClaimChooserView, props: { conflict, me: ME, busy: false, onChoose: (k: string) => { chosen.push(k) }, onCancel: () => {} } })
    assert.match(r.text, /2 different keys claim bob@example\.org/)
    assert.equal(CONFLICT_TEXT.heading(2, AOR), '2 different keys claim bob@example.org')
    assert.match(r.text, /Verified by Example Mail CA/)
    assert.match(r.text, /Not verified — anyone can claim this address/)
    assert.match(r.text, /self-issued certificate/)
    assert.ok(r.text.includes(self.fingerprint) && r.text.includes(fromCa.fingerprint), 'both fingerprints shown')
    assert.ok(r.text.includes(rows[0]?.safetyDigits ?? '-') && r.text.includes(rows[1]?.safetyDigits ?? '-'), 'both safety numbers shown')
    const success = r.elements.filter(e => String(e.props.class ?? '').includes('trust-success'))
    assert.deepEqual(success.map(e => e.text), ['✓ Verified by Example Mail CA'], 'only the CA-verified claim looks like success')
    const buttons = r.elements.filter(e => e.tag === 'button' && e.text === CONFLICT_TEXT.choose)
    assert.equal(buttons.length, 2)
    ;(buttons[1]?.props.onClick as () => void)()
    assert.deepEqual(chosen, [self.identityKey])
  })

  it('choosing pins the key, and the next lookup names it', async () => {
    const trust = await openTrustStore(memoryStorage())
    lookups.length = 0
    const err = await lookup(AOR).then(() => undefined, (e: unknown) => e)
    const conflict = conflictOf(err, AOR)
    assert.ok(conflict !== undefined)
    await chooseClaim(trust, conflict.aor, self.identityKey)
    assert.equal(trust.pin(AOR)?.key, self.identityKey)
    assert.equal(trust.judge(AOR, { key: self.identityKey, issuer: self.identityKey }).level, 'known-key', 'chosen, not verified')
    const record = await lookup(AOR, { identityKey: self.identityKey })
    assert.equal(record.certificate.key, self.identityKey)
    // choosing the other one later replaces the pin (the user overruled it)
    await chooseClaim(trust, AOR, fromCa.identityKey)
    assert.equal(trust.pin(AOR)?.key, fromCa.identityKey)
    assert.deepEqual(lookups, [{ aor: AOR }, { aor: AOR, identityKey: self.identityKey }])
  })

  it('shared/sip passes the chosen identityKey to overlay.lookup (SipTransport.prepare), and the conflict through unchanged', async () => {
    lookups.length = 0
    const overlay = { peerId: '12D3KooWTestDeviceOfAliceXXXXXXXXXXXXXXXXXXXXXXXXXXX', lookup } as unknown as Overlay
    const transport = new SipTransport({ identity: { email: ME.aor } as unknown as StoredIdentity }, { overlay })
    await assert.rejects(transport.prepare(AOR), { name: 'ConflictingClaimsError' })
    const seen: string[] = []
    // the claim's record lists no device: prepare gets as far as NotFoundError, after the lookup and the check
    await assert.rejects(transport.prepare(AOR, { identityKey: fromCa.identityKey, check: r => { seen.push(r.certificate.key) } }), { name: 'NotFoundError' })
    assert.deepEqual(lookups, [{ aor: AOR }, { aor: AOR, identityKey: fromCa.identityKey }])
    assert.deepEqual(seen, [fromCa.identityKey])
  })
})
