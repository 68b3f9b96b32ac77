/**
 * How the CA's mails go out: over SMTP (nodemailer), or written to a log for
 * local development (--ca-mail-log). Also the text of the verification mail.
 */
import nodemailer from 'nodemailer'
import { CA_CODE_LINE_PREFIX } from '../../shared/identity/index.ts'

export interface Mail { to: string, subject: string, text: string }

export interface MailerInit {
  /** SMTP URL with the password in it; without one, mails go to `writeLog` */
  smtpUrl?: string
  /** From: of every mail */
  from: string
  /** where mails go without SMTP */
  writeLog: (text: string) => void
}

export interface Mailer {
  kind: 'smtp' | 'log'
  /** @throws whatever nodemailer throws (connection refused, rejected recipient, timeout…) */
  send: (mail: Mail) => Promise<void>
  close: () => void
}

/** @example const mailer = caMailer({ smtpUrl, from, writeLog }); await mailer.send(mail) */
export function caMailer (init: MailerInit): Mailer {
  const { from, writeLog } = init
  // Known gap, kept as it was (this module was split out without behaviour change): the
  // SMTP timeouts CA_SMTP_CONNECTION_TIMEOUT_MS and CA_SMTP_SOCKET_TIMEOUT_MS used to be
  // passed here, in the second argument, which nodemailer only merges into each message,
  // so its own defaults (2 min to connect, 10 min idle) apply and CA_STREAM_TIMEOUT_MS
  // is what bounds a stalled server. Applying them means
  // createTransport({ url, connectionTimeout, greetingTimeout, socketTimeout }, { from }).
  const transport = init.smtpUrl !== undefined ? nodemailer.createTransport(init.smtpUrl, { from }) : undefined
  return {
    kind: transport !== undefined ? 'smtp' : 'log',
    async send (mail) {
      if (transport === undefined) {
        writeLog([
          `peerline-supernode: CA mail (--ca-mail-log: written here, not sent)`,
          `  From:    ${from}`,
          `  To:      ${mail.to}`,
          `  Subject: ${mail.subject}`,
          ...mail.text.split('\n').map(l => `  | ${l}`),
          ''
        ].join('\n'))
        return
      }
      await transport.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text })
    },
    close () { transport?.close() }
  }
}

export interface VerificationMailInit {
  caName: string
  /** the CA key's fingerprint, so the reader can compare it with what the app shows */
  caFingerprint: string
  email: string
  requestId: string
  code: string
  expiresAt: number
  codeTtlMs: number
  /** base URL of the PWA, for a link that confirms in one click */
  linkBase?: string
}

/** The mail carrying a verification code (and, with `linkBase`, a link that confirms it). */
export function verificationMail (m: VerificationMailInit): Mail {
  const minutes = Math.round(m.codeTtlMs / 60_000)
  const text = [
    // short ASCII lines: the mail then goes out as plain 7-bit text that any reader shows as it is
    `Someone asked the Peerline certificate authority "${m.caName}"`,
    `to confirm that ${m.email} belongs to them.`,
    '',
    `${CA_CODE_LINE_PREFIX}${m.code}`,
    '',
    ...(m.linkBase !== undefined ? ['Or open this link on the device that asked:', `${m.linkBase}#/verify/${m.requestId}/${m.code}`, ''] : []),
    `The code works once and expires at ${new Date(m.expiresAt).toISOString()}${minutes > 0 ? ` (in ${minutes} min)` : ''}.`,
    'If you did not ask for it, ignore this mail:',
    'nothing happens without the code.',
    '',
    `CA key fingerprint: ${m.caFingerprint}`
  ].join('\n')
  return { to: m.email, subject: 'Your Peerline verification code', text }
}
