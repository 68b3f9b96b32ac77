/**
 * Completing email verification inside Thunderbird (issue "Trust",
 * Thunderbird bonus): after the user asked a CA for a code and agreed that
 * Peerline may look, the add-on reads the CA's message from the user's mail
 * and sends the code back. Only messages with the CA's subject, from the
 * CA's From address (when the CA states it), with the identity's address
 * among the recipients and received since the request window opened are
 * read, and only their text. At most CA_MAIL_MAX_TRIES codes are tried, so
 * mails forged to look like the CA's cannot use up the CA's attempts.
 */
import { findCaCode } from '../../shared/identity/ca-protocol.ts'
import { logger } from '../../shared/util/logger.ts'
import type { MessageHeader, MessagePart, Messenger } from './messenger.ts'

const log = logger('thunderbird:verify-mail')

/** Subject of the CA's mail (supernode/ca.ts). */
export const CA_MAIL_SUBJECT = 'Your Peerline verification code'
/** How far back a CA mail may be: longer than any CA's code lifetime (default 15 min). */
export const CA_MAIL_MAX_AGE_MS = 60 * 60_000
/** Codes tried per verification: the newest CA mail and one older (the CA allows 5 attempts; 3 are left for typing). */
export const CA_MAIL_MAX_TRIES = 2
/** How long to wait for the mail to arrive after the user agreed. */
export const CA_MAIL_WAIT_MS = 5 * 60_000
/** Pause between looks at the mail folders while waiting (mail checks are minutes apart anyway). */
export const CA_MAIL_POLL_MS = 3_000

/** No CA mail with a code arrived in time. */
export class NoVerificationMailError extends Error {
  static readonly NAME = 'NoVerificationMailError'
  constructor (message = 'No verification mail from the CA arrived: check that Thunderbird receives mail for this address, or type the code in') {
    super(message)
    this.name = NoVerificationMailError.NAME
  }
}

type MailApi = Pick<Messenger, 'messages'>

function textOf (part: MessagePart): string {
  const own = part.contentType?.startsWith('text/plain') === true && typeof part.body === 'string' ? part.body : ''
  return [own, ...(part.parts ?? []).map(textOf)].join('\n')
}

/** The bare address of `Name <a@b>` or `a@b`, lower case. */
export function mailAddress (s: string): string {
  const m = /<([^<>\s]+)>/.exec(s)
  return (m !== null ? m[1] as string : s).trim().toLowerCase()
}

/** `email` is one of the recipients (a mail without recipients is not addressed to anyone). */
export function addressedTo (h: Pick<MessageHeader, 'recipients'>, email: string): boolean {
  const want = email.trim().toLowerCase()
  return (h.recipients ?? []).some(r => mailAddress(r) === want)
}

/** The mail's author is `from` (the CA's From address); any author when the CA did not state one. */
export function fromCa (h: Pick<MessageHeader, 'author'>, from: string | undefined): boolean {
  return from === undefined || mailAddress(h.author) === mailAddress(from)
}

/** Codes found in CA mails to `email` since `since`, newest first. */
export async function findVerificationCodes (api: MailApi, init: { email: string, since: number, from?: string }): Promise<string[]> {
  let page = await api.messages.query({ subject: CA_MAIL_SUBJECT, fromDate: new Date(init.since) })
  const headers: MessageHeader[] = []
  for (;;) {
    headers.push(...page.messages)
    if (page.id === null) break
    page = await api.messages.continueList(page.id)
  }
  headers.sort((a, b) => new Date(b.date ?? 0).getTime() - new Date(a.date ?? 0).getTime())
  const codes: string[] = []
  for (const h of headers) {
    if (!h.subject.includes(CA_MAIL_SUBJECT) || !addressedTo(h, init.email) || !fromCa(h, init.from)) continue
    let text: string
    try {
      text = textOf(await api.messages.getFull(h.id))
      if (findCaCode(text) === undefined) {
        const raw = await api.messages.getRaw(h.id, { data_format: 'BinaryString' })
        text = typeof raw === 'string' ? raw : await raw.text()
      }
    } catch (err) {
      log.error('cannot read message %d: %s', h.id, (err as Error).message)
      continue
    }
    const code = findCaCode(text)
    if (code !== undefined && !codes.includes(code)) codes.push(code)
  }
  return codes
}

export interface InboxVerificationInit {
  email: string
  /** the earliest time the mail can have arrived */
  since: number
  /** the CA's From address (its `info` answer), when it stated one */
  from?: string
  /** tries one code; resolves when the CA accepted it, rejects with its error otherwise */
  confirm: (code: string) => Promise<void>
  waitMs?: number
  pollMs?: number
  signal?: AbortSignal
}

/**
 * Waits for the CA's mail and confirms with its code (newest first; a
 * WrongCodeError moves on to older mails, other errors end the attempt).
 * @throws NoVerificationMailError | the CA's errors (CodeExpiredError, TooManyAttemptsError, …)
 */
export async function verifyFromMail (api: MailApi, init: InboxVerificationInit): Promise<string> {
  const deadline = Date.now() + (init.waitMs ?? CA_MAIL_WAIT_MS)
  const tried = new Set<string>()
  while (Date.now() < deadline) {
    init.signal?.throwIfAborted()
    for (const code of await findVerificationCodes(api, init)) {
      if (tried.has(code)) continue
      if (tried.size >= CA_MAIL_MAX_TRIES) throw new NoVerificationMailError(`${CA_MAIL_MAX_TRIES} codes from mails looking like the CA's were refused: type the code from the CA's mail in`)
      tried.add(code)
      try {
        await init.confirm(code)
        return code
      } catch (err) {
        if ((err as Error).name !== 'WrongCodeError') throw err
        log('code from an older CA mail refused, trying the next one')
      }
    }
    await new Promise(resolve => { setTimeout(resolve, init.pollMs ?? CA_MAIL_POLL_MS) })
  }
  throw new NoVerificationMailError()
}
