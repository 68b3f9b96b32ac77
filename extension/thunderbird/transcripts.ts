/**
 * Saves chat transcripts into the local folder "Peerline Chats" with
 * messages.import, so Thunderbird's search finds them. Messages are batched
 * per peer: a batch is written once the conversation has been quiet for
 * TRANSCRIPT_QUIET_MS or holds TRANSCRIPT_MAX_BATCH messages (and on
 * flush()); every batch is one mail, threaded per peer (transcript.ts).
 * The history store (IndexedDB) keeps every message meanwhile; a batch not
 * yet written when Thunderbird quits stays there only (the chat page still
 * shows it) and is not written to the folder later.
 */
import type { MessageRecord } from '../../shared/store/history-api.ts'
import { logger } from '../../shared/util/logger.ts'
import type { MailFolder, MessageHeader, Messenger } from './messenger.ts'
import { TRANSCRIPT_FOLDER, transcriptMessage } from './transcript.ts'

const log = logger('thunderbird:transcripts')

/** A conversation quiet this long is written out: chat replies come within seconds, a pause of minutes ends the exchange. */
export const TRANSCRIPT_QUIET_MS = 2 * 60_000
/** Upper bound of messages per transcript mail, so a long conversation is saved as it goes. */
export const TRANSCRIPT_MAX_BATCH = 50
/** Ids of written messages remembered to never write one twice (a long day of chat is far below). */
const WRITTEN_IDS_KEPT = 10_000

/** No local mail folders to store transcripts in. */
export class NoLocalFoldersError extends Error {
  static readonly NAME = 'NoLocalFoldersError'
  constructor (message = 'Thunderbird has no "Local Folders" account to keep Peerline chats in') {
    super(message)
    this.name = NoLocalFoldersError.NAME
  }
}

export interface TranscriptStoreInit {
  quietMs?: number
  maxBatch?: number
  me: () => { aor: string, displayName?: string } | undefined
  peerName: (aor: string) => string | undefined
}

export class TranscriptStore {
  private readonly api: Pick<Messenger, 'accounts' | 'folders' | 'messages'>
  private readonly init: TranscriptStoreInit
  private readonly pending = new Map<string, MessageRecord[]>()
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>()
  private readonly written = new Set<string>()
  private folder?: Promise<MailFolder>
  private writing: Promise<unknown> = Promise.resolve()

  constructor (api: Pick<Messenger, 'accounts' | 'folders' | 'messages'>, init: TranscriptStoreInit) {
    this.api = api
    this.init = init
  }

  /** The "Peerline Chats" folder under Local Folders, created when missing. @throws NoLocalFoldersError */
  async chatsFolder (): Promise<MailFolder> {
    this.folder ??= (async () => {
      const accounts = await this.api.accounts.list(false)
      const local = accounts.find(a => a.type === 'none' || a.type === 'local')
      if (local === undefined) throw new NoLocalFoldersError()
      const existing = (await this.api.folders.getSubFolders(local.rootFolder.id, false)).find(f => f.name === TRANSCRIPT_FOLDER)
      return existing ?? await this.api.folders.create(local.rootFolder.id, TRANSCRIPT_FOLDER)
    })()
    try {
      return await this.folder
    } catch (err) {
      this.folder = undefined
      throw err
    }
  }

  /** A message was stored in the history (sent or received): queue it for the transcript. */
  add (m: MessageRecord): void {
    if (m.status === 'sending' || this.written.has(m.id)) return
    const list = this.pending.get(m.peer) ?? []
    if (list.some(x => x.id === m.id)) return
    list.push(m)
    this.pending.set(m.peer, list)
    const old = this.timers.get(m.peer)
    if (old !== undefined) clearTimeout(old)
    if (list.length >= (this.init.maxBatch ?? TRANSCRIPT_MAX_BATCH)) {
      void this.write(m.peer).catch(() => {})
      return
    }
    this.timers.set(m.peer, setTimeout(() => { void this.write(m.peer).catch(() => {}) }, this.init.quietMs ?? TRANSCRIPT_QUIET_MS))
  }

  /** Writes every pending batch now (Thunderbird closing, the chat page closed, tests). */
  async flush (): Promise<MessageHeader[]> {
    const out: MessageHeader[] = []
    for (const peer of [...this.pending.keys()]) {
      const h = await this.write(peer)
      if (h !== undefined) out.push(h)
    }
    return out
  }

  private async write (peer: string): Promise<MessageHeader | undefined> {
    const timer = this.timers.get(peer)
    if (timer !== undefined) clearTimeout(timer)
    this.timers.delete(peer)
    const batch = this.pending.get(peer)
    this.pending.delete(peer)
    if (batch === undefined || batch.length === 0) return undefined
    const me = this.init.me()
    if (me === undefined) return undefined
    const run = this.writing.then(async () => {
      const folder = await this.chatsFolder()
      const raw = transcriptMessage({
        me,
        peer: { aor: peer, ...(this.init.peerName(peer) !== undefined ? { displayName: this.init.peerName(peer) } : {}) },
        messages: batch.sort((a, b) => a.at - b.at)
      })
      const file = new File([raw], 'peerline-chat.eml', { type: 'message/rfc822' })
      const header = await this.api.messages.import(file, folder.id, { read: true })
      for (const m of batch) this.written.add(m.id)
      for (const id of this.written) {
        if (this.written.size <= WRITTEN_IDS_KEPT) break
        this.written.delete(id)
      }
      log('transcript with %s saved (%d messages)', peer, batch.length)
      return header
    })
    this.writing = run.catch(() => {})
    try {
      return await run
    } catch (err) {
      // keep the messages for the next attempt: never lose a transcript
      const again = this.pending.get(peer) ?? []
      this.pending.set(peer, [...batch, ...again])
      log.error('cannot save transcript with %s: %s', peer, (err as Error).message)
      throw err
    }
  }
}
