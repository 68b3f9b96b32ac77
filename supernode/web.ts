/**
 * Serves the PWA next to a supernode: static files, `/config.json` naming the
 * supernodes the app should use, and `/health`. Used by `npm start`; an
 * operator can serve the app from their supernode the same way.
 */
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { readFile, stat } from 'node:fs/promises'
import { extname, join, normalize, sep } from 'node:path'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.wav': 'audio/wav'
}

export interface WebInit {
  root: string
  host: string
  port: number
  config: () => unknown
  health?: () => Promise<unknown>
}

export interface WebServer { server: Server, url: string, close: () => Promise<void> }

export class PortInUseError extends Error {
  static override name = 'PortInUseError'
  override name = 'PortInUseError'
}

export async function serveApp (init: WebInit): Promise<WebServer> {
  const root = normalize(init.root)
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    if (path === '/config.json') {
      // public (the supernodes anyone connects to): the Thunderbird add-on's setup reads it from its own origin
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', 'access-control-allow-origin': '*' })
      res.end(JSON.stringify(init.config()))
      return
    }
    if (path === '/health' && init.health != null) {
      init.health().then(h => {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        res.end(JSON.stringify(h, null, 2))
      }, (err: Error) => {
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'error', error: err.message }))
      })
      return
    }
    const file = normalize(join(root, path.endsWith('/') ? `${path}index.html` : path))
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403).end()
      return
    }
    stat(file).then(async s => {
      if (!s.isFile()) throw new Error('not a file')
      const body = await readFile(file)
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        // the service worker script must always be revalidated
        'cache-control': file.endsWith('sw.js') || file.endsWith('.html') ? 'no-cache' : 'public, max-age=300'
      })
      res.end(req.method === 'HEAD' ? undefined : body)
    }).catch(() => {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n')
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE' ? new PortInUseError(`Port ${init.host}:${init.port} is already in use`) : err)
    })
    server.listen(init.port, init.host, () => { resolve() })
  })
  const a = server.address()
  const port = a != null && typeof a === 'object' ? a.port : init.port
  return {
    server,
    url: `http://${init.host.includes(':') ? `[${init.host}]` : init.host}:${port}/`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => { resolve() }))
    }
  }
}
