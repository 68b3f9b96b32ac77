/**
 * A real SMTP server (the npm smtp-server package) on loopback that keeps
 * every message it accepts, for tests of the CA's verification mail.
 */
import { createServer } from 'node:net'
import { SMTPServer } from 'smtp-server'
import { eventually } from './eventually.ts'

export interface ReceivedMail {
  /** envelope recipients */
  to: string[]
  /** the whole message, quoted-printable undone */
  raw: string
}

export interface TestSmtpServer {
  port: number
  /** smtp://127.0.0.1:<port> */
  url: string
  mails: ReceivedMail[]
  /** the first mail to `to` received after the first `after` mails */
  mailFor: (to: string, after?: number, timeoutMs?: number) => Promise<ReceivedMail>
  close: () => Promise<void>
}

/** Undoes quoted-printable (RFC 2045 §6.7) over the whole message: enough to read a plain-text body. */
export function decodeQuotedPrintable (raw: string): string {
  return raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)))
}

/**
 * `auth`: the server then requires AUTH PLAIN/LOGIN with exactly this user and
 * password (over plain loopback SMTP) and refuses mail without it.
 */
export async function startSmtpServer (options: { auth?: { user: string, pass: string } } = {}): Promise<TestSmtpServer> {
  const mails: ReceivedMail[] = []
  const auth = options.auth
  const server = new SMTPServer({
    authOptional: auth === undefined,
    ...(auth !== undefined
      ? {
          allowInsecureAuth: true,
          authMethods: ['PLAIN', 'LOGIN'],
          onAuth (a, _session, callback) {
            if (a.username === auth.user && a.password === auth.pass) callback(null, { user: a.username })
            else callback(new Error('Invalid username or password'))
          }
        }
      : {}),
    // plain SMTP on loopback: no certificate to trust for STARTTLS
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData (stream, session, callback) {
      let raw = ''
      stream.setEncoding('utf8')
      stream.on('data', (d: string) => { raw += d })
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map(r => r.address), raw: decodeQuotedPrintable(raw) })
        callback()
      })
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => { resolve() })
  })
  const port = (server.server.address() as { port: number }).port
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    mails,
    mailFor: async (to, after = 0, timeoutMs = 20_000) => {
      const mail = await eventually(() => mails.slice(after).find(m => m.to.includes(to)), { what: `a mail to ${to}`, timeoutMs })
      if (mail === undefined) throw new Error(`no mail to ${to}`)
      return mail
    },
    close: async () => { await new Promise<void>(resolve => { server.close(() => { resolve() }) }) }
  }
}

/** A loopback port nothing listens on (an SMTP server that is down). */
export async function closedPort (): Promise<number> {
  const s = createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', () => { resolve() }))
  const port = (s.address() as { port: number }).port
  await new Promise<void>(resolve => s.close(() => { resolve() }))
  return port
}
