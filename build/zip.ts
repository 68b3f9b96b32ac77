/**
 * A small ZIP writer (deflate via node:zlib, CRC-32 via node:zlib): enough
 * for .xpi and Chrome Web Store .zip packages. No ZIP64, no encryption;
 * entries are written in the order given with a fixed timestamp so the same
 * input gives the same bytes.
 *
 * Format: PKWARE APPNOTE.TXT 6.3.x, sections 4.3.7 (local header),
 * 4.3.12 (central directory), 4.3.16 (end of central directory).
 */
import { crc32, deflateRawSync } from 'node:zlib'

export interface ZipEntry { name: string, data: Uint8Array }

/** 1980-01-01 00:00 in MS-DOS date/time format: the earliest a ZIP can say, for reproducible archives. */
const DOS_TIME = 0
const DOS_DATE = (0 << 9) | (1 << 5) | 1
/** APPNOTE 4.4.3: version needed to extract for deflate = 2.0 */
const VERSION_NEEDED = 20
/** APPNOTE 4.4.4 bit 11: names are UTF-8 */
const FLAG_UTF8 = 0x0800
const METHOD_STORE = 0
const METHOD_DEFLATE = 8
/** ZIP without ZIP64 stores sizes and offsets in 32 bits. */
const MAX_ZIP32 = 0xffffffff

export class ZipTooLargeError extends Error {
  static override name = 'ZipTooLargeError'
  override name = 'ZipTooLargeError'
  constructor (message = 'archive exceeds 4 GiB (ZIP64 is not supported)') { super(message) }
}

export function zip (entries: ZipEntry[]): Buffer {
  const locals: Buffer[] = []
  const centrals: Buffer[] = []
  let offset = 0
  for (const entry of entries) {
    const name = Buffer.from(entry.name.replaceAll('\\', '/'), 'utf8')
    const crc = crc32(entry.data)
    const deflated = deflateRawSync(entry.data, { level: 9 })
    const useDeflate = deflated.length < entry.data.length
    const body = useDeflate ? deflated : Buffer.from(entry.data)
    if (offset > MAX_ZIP32 || entry.data.length > MAX_ZIP32) throw new ZipTooLargeError()
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(VERSION_NEEDED, 4)
    local.writeUInt16LE(FLAG_UTF8, 6)
    local.writeUInt16LE(useDeflate ? METHOD_DEFLATE : METHOD_STORE, 8)
    local.writeUInt16LE(DOS_TIME, 10)
    local.writeUInt16LE(DOS_DATE, 12)
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(body.length, 18)
    local.writeUInt32LE(entry.data.length, 22)
    local.writeUInt16LE(name.length, 26)
    local.writeUInt16LE(0, 28)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0)
    central.writeUInt16LE(VERSION_NEEDED, 4)
    central.writeUInt16LE(VERSION_NEEDED, 6)
    central.writeUInt16LE(FLAG_UTF8, 8)
    central.writeUInt16LE(useDeflate ? METHOD_DEFLATE : METHOD_STORE, 10)
    central.writeUInt16LE(DOS_TIME, 12)
    central.writeUInt16LE(DOS_DATE, 14)
    central.writeUInt32LE(crc, 16)
    central.writeUInt32LE(body.length, 20)
    central.writeUInt32LE(entry.data.length, 24)
    central.writeUInt16LE(name.length, 28)
    // extra length, comment length, disk number, internal attributes: 0
    central.writeUInt32LE(0, 38) // external attributes
    central.writeUInt32LE(offset, 42)
    locals.push(local, name, body)
    centrals.push(central, name)
    offset += local.length + name.length + body.length
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0)
  if (offset > MAX_ZIP32 || entries.length > 0xffff) throw new ZipTooLargeError()
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(entries.length, 8)
  end.writeUInt16LE(entries.length, 10)
  end.writeUInt32LE(centralSize, 12)
  end.writeUInt32LE(offset, 16)
  return Buffer.concat([...locals, ...centrals, end])
}
