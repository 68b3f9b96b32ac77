/**
 * `npm start`: one local supernode plus the PWA, preconfigured to use it.
 *
 * Environment (all optional): PEERLINE_PORT (web, default 8080),
 * PEERLINE_SUPERNODE_PORT (default 9001), PEERLINE_HOST (default 127.0.0.1),
 * PEERLINE_DATA_DIR (default .peerline/ in the repo).
 */
import { join } from 'node:path'
import { buildPwa, ROOT } from './build.ts'
import { startSupernode } from '../supernode/supernode.ts'
import { serveApp } from '../supernode/web.ts'

const host = process.env.PEERLINE_HOST ?? '127.0.0.1'
const webPort = Number(process.env.PEERLINE_PORT ?? 8080)
const snPort = Number(process.env.PEERLINE_SUPERNODE_PORT ?? 9001)
const dataDir = process.env.PEERLINE_DATA_DIR ?? join(ROOT, '.peerline')

async function main (): Promise<void> {
  const built = await buildPwa()
  const sn = await startSupernode({
    listen: [`/ip4/${host}/tcp/${snPort}/ws`],
    dataDir: join(dataDir, 'supernode'),
    health: null,
    // the local email-verifying CA writes its mails to this console instead of
    // sending them, so "Verify my email address" works without a mail server
    ca: {
      keyFile: join(dataDir, 'ca-key.json'),
      name: 'Local Peerline CA (npm start)',
      mailLog: true,
      linkBase: `http://${host}:${webPort}/`
    }
  })
  let web
  try {
    web = await serveApp({ root: built.outDir, host, port: webPort, config: () => ({ supernodes: sn.addrs }), health: sn.health })
  } catch (err) {
    await sn.stop()
    throw err
  }
  console.info([
    'Peerline is running.',
    `  Open the app:   ${web.url}`,
    `  Supernode:      ${sn.addrs.join('\n                  ')}`,
    `  Health:         ${web.url}health`,
    ...(sn.ca != null ? [`  Local CA:       "${sn.ca.ca.name}" (verification mails are printed here)`] : []),
    'Press Ctrl+C to stop.'
  ].join('\n'))
  const stop = (): void => {
    console.info('Stopping Peerline…')
    Promise.all([web.close(), sn.stop()]).then(() => process.exit(0), () => process.exit(1))
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

main().catch((err: Error) => {
  console.error(`peerline: ${err.message}`)
  if (err.name === 'PortInUseError' || /already in use/.test(err.message)) {
    console.error('Another program uses that port: set PEERLINE_PORT / PEERLINE_SUPERNODE_PORT to free ones.')
  }
  process.exit(1)
})
