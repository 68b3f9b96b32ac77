/**
 * The extension's pure parts: which hrefs are calls (the content script's
 * decision), the call window's routes, the per-target manifests, and the
 * ZIP writer (read back with node:zlib, and by the unzip-compatible layout).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { inflateRawSync } from 'node:zlib'
import { mergeManifest, targetManifest } from '../../build/extension.ts'
import { ROOT } from '../../build/build.ts'
import { zip } from '../../build/zip.ts'
import { sipTarget } from '../../extension/content/sip-target.ts'
import { parseCallRoute } from '../../extension/pages/route.ts'
import { callWindowPath, senderAllowed } from '../../extension/core/messages.ts'
import type { ExtensionMessage } from '../../extension/core/messages.ts'
import { withReleaseBuild } from '../helpers/extension-build.ts'

describe('sip: link detection', () => {
  it('takes sip: and sips: links in any case, percent-decoded', () => {
    assert.equal(sipTarget('sip:bob@example.org'), 'sip:bob@example.org')
    assert.equal(sipTarget('SIP:Bob@Example.org'), 'sip:Bob@Example.org')
    assert.equal(sipTarget('sips:bob@example.org'), 'sips:bob@example.org')
    assert.equal(sipTarget('sip:bob%40example.org'), 'sip:bob@example.org')
    assert.equal(sipTarget('  sip:bob@example.org;transport=ws'), 'sip:bob@example.org;transport=ws')
  })
  it('leaves every other link to the page', () => {
    for (const href of ['https://example.org/', '/other.html', 'mailto:bob@example.org', 'tel:+123', 'sip:', 'sip:nobody', 'sip:%E0%A4%A', 'javascript:void(0)', 'sipx:bob@example.org', '#sip:bob@example.org']) {
      assert.equal(sipTarget(href), undefined, href)
    }
  })
})

describe('call window routes', () => {
  it('reads raw and percent-encoded targets (protocol_handlers deliver %s encoded)', () => {
    assert.deepEqual(parseCallRoute('#/call/sip:bob@example.org'), { kind: 'dial', target: 'sip:bob@example.org' })
    assert.deepEqual(parseCallRoute('#/call/sip%3Abob%40example.org'), { kind: 'dial', target: 'sip:bob@example.org' })
    assert.deepEqual(parseCallRoute('#/incoming/abc%20d'), { kind: 'incoming', callId: 'abc d' })
  })
  it('callWindowPath encodes once, so every target (even with %) reads back unchanged', () => {
    for (const target of ['sip:bob@example.org', 'sip:100%25@example.org', 'sip:100%@example.org', 'bob@example.org', 'sip:a b#c?d=1;transport=ws@x.org']) {
      const path = callWindowPath(target)
      assert.ok(path.startsWith('call.html#/call/'), path)
      assert.deepEqual(parseCallRoute(path.slice(path.indexOf('#'))), { kind: 'dial', target }, target)
    }
  })
  it('anything else is no route', () => {
    for (const hash of ['', '#/', '#/call/', '#/call/%E0%A4%A', '#/settings']) assert.deepEqual(parseCallRoute(hash), { kind: 'none' }, hash)
  })
})

describe('runtime message senders', () => {
  const id = 'peerline-id'
  const origin = 'chrome-extension://peerline-id/'
  const ring: ExtensionMessage = { command: 'ring', callId: 'c1', from: 'sip:bob@example.org', displayName: 'Bob' }
  const openCall: ExtensionMessage = { command: 'open-call', target: 'sip:bob@example.org' }
  it('ring only from the extension\'s own tab-less contexts (offscreen document, background page)', () => {
    assert.equal(senderAllowed(ring, { id, url: `${origin}offscreen.html` }, id, origin), true)
    assert.equal(senderAllowed(ring, { id }, id, origin), true)
    assert.equal(senderAllowed(ring, { id, tab: { id: 3 }, url: 'https://evil.example/' }, id, origin), false, 'a content script')
    assert.equal(senderAllowed(ring, { id, url: 'https://evil.example/' }, id, origin), false)
    assert.equal(senderAllowed(ring, { id: 'other-extension', url: `${origin}offscreen.html` }, id, origin), false)
  })
  it('open-call from the content script in a tab, but only ours', () => {
    assert.equal(senderAllowed(openCall, { id, tab: { id: 3 }, url: 'https://example.org/' }, id, origin), true)
    assert.equal(senderAllowed(openCall, { id: 'other-extension', tab: { id: 3 } }, id, origin), false)
    assert.equal(senderAllowed(openCall, {}, id, origin), false)
  })
})

// read synchronously: describe() blocks after a top-level await are not collected when several files run
const m = JSON.parse(readFileSync(`${ROOT}manifest.json`, 'utf8')) as Record<string, any>

describe('per-target manifests', () => {
  it('chromium: service worker + offscreen, no protocol_handlers, no gecko settings', () => {
    const c = targetManifest(m, 'chromium', '1.2.3') as Record<string, any>
    assert.equal(c.version, '1.2.3')
    assert.deepEqual(c.background, { service_worker: 'background.js' })
    assert.ok(c.permissions.includes('offscreen'))
    assert.equal(c.protocol_handlers, undefined)
    assert.equal(c.browser_specific_settings, undefined)
    assert.equal(c.content_scripts[0].js[0], 'sip-links.js')
  })
  it('firefox: background page, sip protocol handler only (no sips), gecko id', () => {
    const f = targetManifest(m, 'firefox', '1.2.3') as Record<string, any>
    assert.deepEqual(f.background, { scripts: ['background.js'] })
    assert.deepEqual(f.protocol_handlers.map((h: any) => h.protocol), ['sip'])
    assert.match(f.protocol_handlers[0].uriTemplate, /%s$/)
    assert.equal(typeof f.browser_specific_settings.gecko.id, 'string')
    assert.ok(!f.permissions.includes('offscreen'))
  })
  it('thunderbird: MailExtension permissions, address book action, 128+, the add-on part merged', () => {
    const t = targetManifest(m, 'thunderbird', '1.2.3', { permissions: ['addressBooks', 'messagesImport'], message_display_action: { default_title: 'Peerline' } }) as Record<string, any>
    assert.equal(t.browser_specific_settings.gecko.strict_min_version, '128.0')
    assert.deepEqual(t.action.allowed_spaces, ['addressbook'])
    assert.equal(t.permissions.filter((p: string) => p === 'addressBooks').length, 1, 'no duplicates')
    assert.ok(t.permissions.includes('messagesImport'))
    assert.equal(t.message_display_action.default_title, 'Peerline')
    assert.equal(t.content_scripts, undefined)
    assert.deepEqual(t.protocol_handlers.map((h: any) => h.uriTemplate), ['/sip-link.html#%s'], 'sip: goes to the hand-off page, never to a call window without media')
  })
  it('thunderbird: the add-on\'s options page is its setup (setup.html, built with the app pages); the browsers keep options.html', async () => {
    const part = JSON.parse(readFileSync(join(ROOT, 'extension', 'thunderbird', 'manifest.part.json'), 'utf8')) as Record<string, any>
    const t = targetManifest(m, 'thunderbird', '1.2.3', part) as Record<string, any>
    assert.deepEqual(t.options_ui, { page: 'setup.html', open_in_tab: true })
    for (const target of ['firefox', 'chromium'] as const) assert.equal((targetManifest(m, target, '1.2.3') as Record<string, any>).options_ui.page, 'options.html', target)
    await withReleaseBuild('thunderbird', async dir => {
      assert.match(await readFile(join(dir, 'setup.html'), 'utf8'), /<script src="setup\.js"><\/script>/)
      assert.ok((await readFile(join(dir, 'setup.js'), 'utf8')).length > 1_000)
    })
  })
  it('Gecko targets replace the MV3 default CSP (no upgrade-insecure-requests: ws:// supernodes stay reachable); Chromium keeps its default', () => {
    for (const target of ['firefox', 'thunderbird'] as const) {
      const csp = (targetManifest(m, target, '1.2.3') as Record<string, any>).content_security_policy
      assert.equal(csp?.extension_pages, "script-src 'self'", target)
      assert.doesNotMatch(JSON.stringify(csp), /upgrade-insecure-requests/, target)
    }
    assert.equal((targetManifest(m, 'chromium', '1.2.3') as Record<string, any>).content_security_policy, undefined)
  })
  it('mergeManifest: objects merge, arrays concatenate, scalars replace', () => {
    assert.deepEqual(mergeManifest({ a: { b: 1, c: [1] }, d: 'x' }, { a: { c: [1, 2], e: true }, d: 'y' }), { a: { b: 1, c: [1, 2], e: true }, d: 'y' })
  })
})

describe('chromium bundles', () => {
  it('carry webextension-polyfill (Chromium has no browser.*)', async () => {
    await withReleaseBuild('chromium', async dir => {
      for (const f of ['background.js', 'offscreen.js', 'sip-links.js', 'popup.js', 'call.js', 'options.js']) {
        // the polyfill's own guard, kept by minification
        assert.match(await readFile(join(dir, f), 'utf8'), /only be loaded in a browser extension/, f)
      }
    })
  })
})

describe('zip writer', () => {
  it('writes entries that read back byte for byte', () => {
    const files = [
      { name: 'manifest.json', data: Buffer.from('{"a":1}'.repeat(50)) },
      { name: 'icons/ü.png', data: new Uint8Array([0, 1, 2, 3, 255]) },
      { name: 'empty.txt', data: new Uint8Array(0) }
    ]
    const buf = zip(files)
    // end of central directory: entry count and the central directory's offset
    const end = buf.length - 22
    assert.equal(buf.readUInt32LE(end), 0x06054b50)
    assert.equal(buf.readUInt16LE(end + 10), files.length)
    let at = buf.readUInt32LE(end + 16)
    for (const f of files) {
      assert.equal(buf.readUInt32LE(at), 0x02014b50)
      const method = buf.readUInt16LE(at + 10)
      const size = buf.readUInt32LE(at + 20)
      const nameLen = buf.readUInt16LE(at + 28)
      const local = buf.readUInt32LE(at + 42)
      assert.equal(buf.subarray(at + 46, at + 46 + nameLen).toString('utf8'), f.name)
      const dataAt = local + 30 + buf.readUInt16LE(local + 26)
      const body = buf.subarray(dataAt, dataAt + size)
      assert.deepEqual(new Uint8Array(method === 8 ? inflateRawSync(body) : body), new Uint8Array(f.data))
      at += 46 + nameLen
    }
  })
})
