/**
 * The one trust vocabulary (shared/ui/trust-text.ts, TrustBadge.tsx): every
 * level rendered, only two look like success, nothing self-issued is called
 * "Verified"; partyTrust over a real TrustStore (first contact, CA, safety
 * numbers, key change); and the extension pages use the same component (no
 * trust words of their own).
 */
import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateIdentityKey, issueCaCertificate, openTrustStore, toBase64Url } from '../../../shared/identity/index.ts'
import { memoryStorage } from '../../../shared/store/kv.ts'
import type { TrustSnapshot } from '../../../shared/store/history-api.ts'
import { isVerifiedSnapshot, partyTrust, TRUST_TEXT, trustLabel } from '../../../shared/ui/trust-text.ts'
import { loadComponents, renderNode } from '../../helpers/render.ts'

const AOR = 'bob@example.org'
const NOT_VERIFIED = 'Not verified — anyone can claim this address'

const LEVELS: Array<{ view: TrustSnapshot, text: string | RegExp, success: boolean }> = [
  { view: { level: 'ca-verified', caName: 'Example Mail CA' }, text: 'Verified by Example Mail CA', success: true },
  { view: { level: 'contact-verified', since: Date.UTC(2026, 0, 2) }, text: 'Verified contact', success: true },
  { view: { level: 'known-key', since: Date.UTC(2026, 0, 2) }, text: /^Known key since .*2026/, success: false },
  { view: { level: 'unverified' }, text: NOT_VERIFIED, success: false },
  { view: { level: 'key-changed' }, text: `Key changed: this is not the key you had for ${AOR}`, success: false },
  { view: { level: 'unauthenticated', reason: 'UnknownIssuerError' }, text: NOT_VERIFIED, success: false },
  { view: { level: 'unauthenticated', reason: 'CertificateExpiredError' }, text: 'Not verified — the certificate has expired', success: false },
  { view: { level: 'unauthenticated' }, text: 'Not verified — identity not proven', success: false },
  { view: { level: 'server-asserted', via: 'me@pbx.example.com' }, text: `Via me@pbx.example.com (the server says this is ${AOR})`, success: false }
]

const key = (): string => toBase64Url(generateIdentityKey().publicKey)

describe('trust vocabulary (shared/ui)', () => {
  let TrustBadge: (props: unknown) => unknown

  before(async () => {
    ;({ TrustBadge } = await loadComponents({ TrustBadge: 'shared/ui/TrustBadge.tsx' }) as { TrustBadge: (props: unknown) => unknown })
  })

  it('renders every level; only "Verified by <CA>" and "Verified contact" use the success style and the ✓', () => {
    const successes: string[] = []
    for (const { view, text, success } of LEVELS) {
      const r = renderNode({ type: TrustBadge, props: { view, aor: AOR } })
      const badge = r.elements.find(e => e.tag === 'span')
      assert.ok(badge !== undefined)
      const cls = String(badge.props.class)
      const shown = r.text.replace(/^[✓⚠] /, '')
      if (typeof text === 'string') assert.equal(shown, text, view.level)
      else assert.match(shown, text, view.level)
      assert.equal(cls.includes('trust-success'), success, `${view.level}: ${cls}`)
      assert.equal(r.text.startsWith('✓'), success, `${view.level}: ✓ only for success`)
      assert.equal(trustLabel(view, AOR).tone === 'success', success)
      assert.equal(isVerifiedSnapshot(view), success)
      if (!success) assert.doesNotMatch(shown, /^Verified/, `${view.level} never starts with "Verified"`)
      if (success) successes.push(view.level)
      assert.equal(badge.props['data-trust'], trustLabel(view, AOR).level)
    }
    assert.deepEqual(successes, ['ca-verified', 'contact-verified'])
    // the key change is announced to screen readers at once
    const changed = renderNode({ type: TrustBadge, props: { view: { level: 'key-changed' }, aor: AOR } })
    assert.equal(changed.elements.find(e => e.tag === 'span')?.props.role, 'alert')
  })

  it('partyTrust: a party through a SIP account is what its server says, never verified, whatever else is set', async () => {
    assert.deepEqual(partyTrust({ aor: AOR, authenticated: false, via: 'me@pbx.example.com' }), { level: 'server-asserted', via: 'me@pbx.example.com' })
    const store = await openTrustStore(memoryStorage())
    const k = key()
    await store.markVerified(AOR, k)
    const view = partyTrust({ aor: AOR, authenticated: true, identityKey: k, issuer: k, via: 'me@pbx.example.com' }, store)
    assert.equal(view.level, 'server-asserted')
    assert.equal(isVerifiedSnapshot(view), false)
    assert.equal(trustLabel(view, AOR).tone, 'neutral')
  })

  it('partyTrust: self-issued first contact is "Not verified" (even once pinned), then "Verified contact"; a trusted CA says "Verified by"', async () => {
    const trust = await openTrustStore(memoryStorage())
    const k = key()
    const selfParty = { aor: AOR, authenticated: true, identityKey: k, issuer: k }
    const met = trust.judge(AOR, { key: k, issuer: k })
    assert.equal(met.level, 'unverified')
    await trust.pinOnFirstUse(AOR, k)
    // pinned during this contact: not yet a "known key"
    assert.equal(partyTrust({ ...selfParty, trustLevel: met }, trust).level, 'unverified')
    // met again later (judged then as known): known key, never success
    const later = partyTrust({ ...selfParty, trustLevel: trust.judge(AOR, { key: k, issuer: k }) }, trust)
    assert.equal(later.level, 'known-key')
    assert.match(trustLabel(later, AOR).text, /^Known key since /)
    await trust.markVerified(AOR, k)
    assert.equal(partyTrust({ ...selfParty, trustLevel: met }, trust).level, 'contact-verified')

    const ca = generateIdentityKey()
    const caCert = issueCaCertificate({ name: 'Example Mail CA', subjectKey: ca.publicKey, issuer: ca })
    const carol = key()
    const carolParty = { aor: 'carol@example.org', authenticated: true, identityKey: carol, issuer: caCert.key }
    assert.equal(partyTrust(carolParty, trust).level, 'unverified', 'an untrusted CA proves nothing')
    await trust.addCa(caCert)
    const v = partyTrust(carolParty, trust)
    assert.equal(trustLabel(v, 'carol@example.org').text, 'Verified by Example Mail CA')
    // a hello that did not check out is never verified, whatever the store says
    assert.equal(partyTrust({ ...carolParty, authenticated: false, unverifiedReason: 'WrongPeerError' }, trust).level, 'unauthenticated')
    // another key for bob than the pinned one
    const other = key()
    assert.equal(partyTrust({ aor: AOR, authenticated: true, identityKey: other, issuer: other }, trust).level, 'key-changed')
  })

  it('the extension and Thunderbird pages show trust through the shared component only', async () => {
    const root = fileURLToPath(new URL('../../../', import.meta.url))
    const read = async (p: string): Promise<string> => await readFile(join(root, p), 'utf8')
    // the Chromium/Firefox call window renders the shared ringing and call screens with the device's trust store
    const callWindow = await read('extension/pages/call.tsx')
    assert.match(callWindow, /from '\.\.\/\.\.\/shared\/ui\/IncomingCall\.tsx'/)
    assert.match(callWindow, /from '\.\.\/\.\.\/shared\/ui\/ActiveCall\.tsx'/)
    assert.match(callWindow, /<IncomingCall call=\{view\.call\} trust=\{trust\}/)
    assert.match(await read('shared/ui/IncomingCall.tsx'), /<RemotePartyCard remote=\{call\.remote\} headingId=\{headingId\} trust=\{trust\}/)
    assert.match(await read('shared/ui/RemotePartyCard.tsx'), /<TrustBadge view=\{view\}/)
    // every buddy list (PWA, extension popup, Thunderbird) renders its rows with the shared BuddyRow, which shows the TrustBadge
    assert.match(await read('shared/ui/BuddyRow.tsx'), /<TrustBadge view=\{trust\} aor=\{aor\}/)
    assert.match(await read('extension/thunderbird/pages/buddies.tsx'), /<BuddyRow key=\{b\.aor\} aor=\{b\.aor\} name=\{b\.name\} presence=\{b\.presence\} trust=\{b\.trust\}/)
    assert.match(await read('extension/thunderbird/pages/chat.tsx'), /<TrustBadge view=\{s\.keys\.level\(peer\)\}/)
    assert.match(await read('extension/thunderbird/background.ts'), /TRUST_TEXT\.notificationTitle\(trustLabel\(partyTrust\(/)
    // no screen has trust words of its own: they live in trust-text.ts only
    const files: string[] = []
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(join(root, dir), { withFileTypes: true })) {
        const p = join(dir, e.name)
        if (e.isDirectory()) await walk(p)
        else if (/\.tsx?$/.test(e.name)) files.push(p)
      }
    }
    await walk('shared/ui')
    await walk('extension')
    for (const f of files) {
      if (f.endsWith('trust-text.ts')) continue
      // code only: comments may name the words
      const text = (await read(f)).replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
      assert.doesNotMatch(text, /✓ Verified|Verified by |anyone can claim this address</, `${f} must use TrustBadge / TRUST_TEXT`)
    }
    assert.equal(TRUST_TEXT.unverified, NOT_VERIFIED)
  })
})
