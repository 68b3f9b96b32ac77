/**
 * Peerline's app icons, drawn at build time: no image tools and no binary
 * files in the repo. A tiny PNG encoder (node:zlib deflate + CRC32) and a
 * logo made of signed-distance shapes (a white handset with two sound waves on
 * the theme colour), anti-aliased by coverage.
 *
 * The "any" icons are a rounded square with transparent corners; maskable
 * icons are full bleed with the glyph inside the safe zone (a centred circle of
 * radius 40 % of the size, https://www.w3.org/TR/appmanifest/#icon-masks), so
 * any platform mask keeps the whole glyph.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32, deflateSync } from 'node:zlib'

export interface IconSpec {
  /** file name inside icons/ */
  file: string
  size: number
  /** 'any': rounded square, transparent corners; 'maskable' / 'opaque': full bleed */
  kind: 'any' | 'maskable' | 'opaque'
}

/** What the manifest and index.html reference (see pwa/public/manifest.webmanifest). */
export const ICONS: IconSpec[] = [
  { file: 'icon-192.png', size: 192, kind: 'any' },
  { file: 'icon-512.png', size: 512, kind: 'any' },
  { file: 'maskable-192.png', size: 192, kind: 'maskable' },
  { file: 'maskable-512.png', size: 512, kind: 'maskable' },
  // iOS ignores transparency and rounds the corners itself: full bleed, 180 px
  { file: 'apple-touch-icon.png', size: 180, kind: 'opaque' },
  { file: 'favicon-32.png', size: 32, kind: 'any' }
]

/** Fraction of the size the safe zone's radius spans (W3C icon masks: 40 %). */
export const MASKABLE_SAFE_RADIUS = 0.4

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

function chunk (type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(data.length, 0)
  head.write(type, 4, 'latin1')
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0)
  return Buffer.concat([head, data, crc])
}

/** Encodes 8-bit RGBA pixels (row-major, width*height*4 bytes) as a PNG. */
export function encodePng (width: number, height: number, rgba: Uint8Array): Buffer {
  if (rgba.length !== width * height * 4) throw new RangeError(`expected ${width * height * 4} bytes of RGBA, got ${rgba.length}`)
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 6 // colour type: truecolour with alpha
  // compression, filter method, interlace: all 0
  const stride = width * 4
  const raw = Buffer.alloc((stride + 1) * height)
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0 // filter: none (the flat colours deflate well anyway)
    raw.set(rgba.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1)
  }
  return Buffer.concat([
    PNG_SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0))
  ])
}

// --- signed distance shapes, in units of the icon's size (0..1) ------------

function len (x: number, y: number): number { return Math.hypot(x, y) }

function roundBox (px: number, py: number, half: number, r: number): number {
  const qx = Math.abs(px) - half + r
  const qy = Math.abs(py) - half + r
  return len(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - r
}

function capsule (px: number, py: number, ax: number, ay: number, bx: number, by: number, r: number): number {
  const bax = bx - ax
  const bay = by - ay
  const h = Math.min(Math.max(((px - ax) * bax + (py - ay) * bay) / (bax * bax + bay * bay), 0), 1)
  return len(px - ax - bax * h, py - ay - bay * h) - r
}

/** A stroke along a circle's arc from angle `from` to `to` (radians, y down), round caps. */
function arc (px: number, py: number, cx: number, cy: number, radius: number, from: number, to: number, halfWidth: number): number {
  const dx = px - cx
  const dy = py - cy
  let a = Math.atan2(dy, dx)
  while (a < from) a += 2 * Math.PI
  if (a <= to) return Math.abs(len(dx, dy) - radius) - halfWidth
  const d0 = len(px - cx - radius * Math.cos(from), py - cy - radius * Math.sin(from))
  const d1 = len(px - cx - radius * Math.cos(to), py - cy - radius * Math.sin(to))
  return Math.min(d0, d1) - halfWidth
}

const DEG = Math.PI / 180
/** Every point of the glyph is closer than this to its centre (it reaches ≈0.37). */
const GLYPH_RADIUS = 0.47

/**
 * The glyph around (0, 0), extent about 0.36: a handset whose handle curves
 * through the lower left, and two waves at the upper right.
 */
function glyph (x: number, y: number): number {
  // handset drawn upright in its own frame, then turned 45° (inverse-rotate the point)
  const hx0 = x + 0.045
  const hy0 = y - 0.045
  const c = Math.cos(45 * DEG)
  const s = Math.sin(45 * DEG)
  const hx = hx0 * c - hy0 * s
  const hy = hx0 * s + hy0 * c
  const R = 0.27
  const cx = 0.13
  const span = 52 * DEG
  const handle = arc(hx, hy, cx, 0, R, Math.PI - span, Math.PI + span, 0.062)
  const endX = cx + R * Math.cos(Math.PI - span)
  const endY = R * Math.sin(Math.PI - span)
  // the pads point from the handle's ends towards the face (the arc's centre)
  const inX = (cx - endX) / R
  const inY = (0 - endY) / R
  const pad = 0.085
  const padLen = 0.075
  const bottom = capsule(hx, hy, endX, endY, endX + inX * padLen, endY + inY * padLen, pad)
  const top = capsule(hx, hy, endX, -endY, endX + inX * padLen, -endY - inY * padLen, pad)
  const handset = Math.min(handle, bottom, top)
  // sound waves, centred on the earpiece side of the handset
  const wx = -0.05
  const wy = 0.05
  const wave1 = arc(x, y, wx, wy, 0.25, -80 * DEG, -10 * DEG, 0.034)
  const wave2 = arc(x, y, wx, wy, 0.36, -80 * DEG, -10 * DEG, 0.034)
  return Math.min(handset, wave1, wave2)
}

function parseColour (hex: string): [number, number, number] {
  const m = /^#([0-9a-f]{6})$/i.exec(hex)
  if (m?.[1] == null) throw new Error(`colour must be #rrggbb, got ${hex}`)
  const n = parseInt(m[1], 16)
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255]
}

/** Draws the logo as RGBA pixels. */
export function drawIcon (size: number, kind: IconSpec['kind'], colour: string): Uint8Array {
  const [r, g, b] = parseColour(colour)
  // maskable: shrink the glyph so its whole extent (≈0.36) sits well inside the safe zone
  const scale = kind === 'maskable' ? 0.72 : kind === 'opaque' ? 0.86 : 0.92
  const out = new Uint8Array(size * size * 4)
  const clamp = (v: number): number => Math.min(Math.max(v, 0), 1)
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      const x = (px + 0.5) / size - 0.5
      const y = (py + 0.5) / size - 0.5
      // coverage from the distance in pixels: a one-pixel anti-aliased edge
      const bg = kind === 'any' ? clamp(0.5 - roundBox(x, y, 0.5, 0.22) * size) : 1
      // the glyph lies within GLYPH_RADIUS of the centre: skip the shapes elsewhere
      const fg = x * x + y * y > (GLYPH_RADIUS * scale) ** 2 ? 0 : clamp(0.5 - glyph(x / scale, y / scale) * scale * size)
      const i = (py * size + px) * 4
      out[i] = Math.round(r + (255 - r) * fg)
      out[i + 1] = Math.round(g + (255 - g) * fg)
      out[i + 2] = Math.round(b + (255 - b) * fg)
      out[i + 3] = Math.round(255 * bg)
    }
  }
  return out
}

/** Writes every icon of ICONS into `dir`; returns the file paths. */
export async function writeIcons (dir: string, colour: string): Promise<string[]> {
  await mkdir(dir, { recursive: true })
  return Promise.all(ICONS.map(async icon => {
    const file = join(dir, icon.file)
    await writeFile(file, encodePng(icon.size, icon.size, drawIcon(icon.size, icon.kind, colour)))
    return file
  }))
}
