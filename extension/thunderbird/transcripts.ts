/**
 * Saves chat transcripts into the local folder "Peerline Chats" with
 * messages.import, so Thunderbird's search finds them.
 *
 * Nothing depends on an in-memory queue: the history store (IndexedDB) is the
 * source, and storage.local keeps a per-peer "written up to" mark (time of
 * the last written message plus the ids written at that time). Writing a
 * peer means: every history message after the mark, in batches of at most
 * TRANSCRIPT_MAX_BATCH, one mail each (threaded per peer, transcript.ts),
 * then the mark moves. A peer is written once its conversation has been
 * quiet for TRANSCRIPT_QUIET_MS, when its chat window closes, on flush(), and
 * at startup (start(): every conversation with messages after its mark), so
 * messages of a run that ended before its timer fired are written by the
 * next run. A failed write keeps the mark and tries again after
 * TRANSCRIPT_RETRY_MS.
 */
import type { HistoryStore, MessageRecord } from '../../shared/store/history-api.ts'
import { logger } from '../../shared/util/logger.ts'
import type { MailFolder, MessageHeader, Messenger } from './messenger.ts'
import { TRANSCRIPT_FOLDER, transcriptMessage } from './transcript.ts'

const log = logger('thunderbird:transcripts')

/** A conversation quiet this long is written out: chat replies come within seconds, a pause of minutes ends the exchange. */
export const TRANSCRIPT_QUIET_MS = 2 * 60_000
/** Upper bound of messages per transcript mail, so a long conversation is saved as it goes. */
export const TRANSCRIPT_MAX_BATCH = 50
/** A failed write (no identity yet, folder or import error) is tried again after this long. */
export const TRANSCRIPT_RETRY_MS = 60_000
/** A message still 'sending' after this long is written as it is (SIP MESSAGE transactions end within 32 s, RFC 3261 timer F). */
export const TRANSCRIPT_SENDING_STUCK_MS = 60_000
/** storage.local key of the per-peer marks. */
export const TRANSCRIPT_MARKS_KEY = 'peerline.transcriptMarks'
/** History page size while reading back to a mark. */
const HISTORY_PAGE = 200

/** No local mail folders to store transcripts in. */
export class NoLocalFoldersError extends Error {
  static readonly NAME = 'NoLocalFoldersError'
  constructor (message = 'Thunderbird has no "Local Folders" account to keep Peerline chats in') {
    super(message)
    this.name = NoLocalFoldersError.NAME
  }
}

/** Writing is not possible yet (no identity or history store). */
export class TranscriptNotReadyError extends Error {
  static readonly NAME = 'TranscriptNotReadyError'
  constructor (message = 'Peerline is not set up yet: transcripts are written once it is') {
    super(message)
    this.name = TranscriptNotReadyError.NAME
  }
}

/** Written up to: the time of the last written message and the ids written at exactly that time. */
export interface TranscriptMark { at: number, ids: string[] }

export interface TranscriptStoreInit {
  quietMs?: number
  maxBatch?: number
  retryMs?: number
  me: () => { aor: string, displayName?: string } | undefined
  peerName: (aor: string) => string | undefined
  history: () => HistoryStore | undefined
  /** default Date.now */
  now?: () => number
}

type TranscriptApi = Pick<Messenger, 'accounts' | 'folders' | 'messages' | 'storage'>

export class TranscriptStore {
  private readonly api: TranscriptApi
  private readonly init: TranscriptStoreInit
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>()
  private readonly counts = new Map<string, number>()
  private folder?: Promise<MailFolder>
  private writing: Promise<unknown> = Promise.resolve()

  constructor (api: TranscriptApi, init: TranscriptStoreInit) {
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

  /** A message with `peer` was stored or changed in the history: write once the conversation is quiet. */
  touch (peer: string): void {
    const n = (this.counts.get(peer) ?? 0) + 1
    this.counts.set(peer, n)
    if (n >= (this.init.maxBatch ?? TRANSCRIPT_MAX_BATCH)) {
      this.writeSoon(peer, 0)
      return
    }
    this.writeSoon(peer, this.init.quietMs ?? TRANSCRIPT_QUIET_MS)
  }

  /** Startup: writes every conversation with messages after its mark. @throws the first failure (after trying every peer) */
  async start (): Promise<MessageHeader[]> {
    const history = this.init.history()
    if (history === undefined) throw new TranscriptNotReadyError()
    const marks = await this.marks()
    const out: MessageHeader[] = []
    let failed: unknown
    for (const c of await history.conversations()) {
      const mark = marks[c.peer]
      if (mark !== undefined && (c.last.at < mark.at || (c.last.at === mark.at && mark.ids.includes(c.last.id)))) continue
      try {
        out.push(...await this.writeOrRetry(c.peer))
      } catch (err) {
        failed ??= err // that peer's retry timer is set; the others are written meanwhile
      }
    }
    if (failed !== undefined) throw failed
    return out
  }

  /** Forgets the in-memory timers (what a restart of the add-on loses). */
  reset (): void {
    for (const t of this.timers.values()) clearTimeout(t)
    this.timers.clear()
    this.counts.clear()
  }

  /** Writes every conversation now (Thunderbird closing, tests). */
  async flush (): Promise<MessageHeader[]> {
    this.reset()
    return await this.start()
  }

  /** Writes `peer` now (its chat window closed). */
  async flushPeer (peer: string): Promise<MessageHeader[]> {
    const t = this.timers.get(peer)
    if (t !== undefined) clearTimeout(t)
    this.timers.delete(peer)
    return await this.writeOrRetry(peer)
  }

  private writeSoon (peer: string, ms: number): void {
    const old = this.timers.get(peer)
    if (old !== undefined) clearTimeout(old)
    this.timers.set(peer, setTimeout(() => {
      this.timers.delete(peer)
      void this.writeOrRetry(peer).catch(() => {})
    }, ms))
  }

  /** write(), and on failure the timer is set again: the mark has not moved, nothing is lost. */
  private async writeOrRetry (peer: string): Promise<MessageHeader[]> {
    try {
      return await this.write(peer)
    } catch (err) {
      log.error('cannot save transcript with %s (trying again): %s', peer, (err as Error).message)
      this.writeSoon(peer, this.init.retryMs ?? TRANSCRIPT_RETRY_MS)
      throw err
    }
  }

  private async marks (): Promise<Record<string, TranscriptMark>> {
    const v = (await this.api.storage.local.get(TRANSCRIPT_MARKS_KEY))[TRANSCRIPT_MARKS_KEY]
    return typeof v === 'object' && v !== null ? v as Record<string, TranscriptMark> : {}
  }

  /** History messages with `peer` after `mark`, oldest first. */
  private async unwritten (history: HistoryStore, peer: string, mark: TranscriptMark | undefined): Promise<MessageRecord[]> {
    const byId = new Map<string, MessageRecord>()
    let before: number | undefined
    for (;;) {
      const page = await history.conversation(peer, { limit: HISTORY_PAGE, ...(before !== undefined ? { before } : {}) })
      let reached = page.length < HISTORY_PAGE
      for (const m of page) {
        if (mark !== undefined && (m.at < mark.at || (m.at === mark.at && mark.ids.includes(m.id)))) { reached = true; continue }
        byId.set(m.id, m)
      }
      const oldest = page[0]
      if (reached || oldest === undefined) break
      // +1: messages sharing the oldest time are read again (deduplicated by id) rather than skipped
      const next = oldest.at + 1
      if (before !== undefined && next >= before) break
      before = next
    }
    return [...byId.values()].sort((a, b) => a.at - b.at || a.id.localeCompare(b.id))
  }

  /** Writes what is after the mark, then moves the mark. @throws TranscriptNotReadyError | NoLocalFoldersError | import errors */
  private async write (peer: string): Promise<MessageHeader[]> {
    const run = this.writing.then(async () => {
      // checked before anything is read or moved: without them nothing changes
      const me = this.init.me()
      const history = this.init.history()
      if (me === undefined || history === undefined) throw new TranscriptNotReadyError()
      this.counts.delete(peer)
      const now = (this.init.now ?? Date.now)()
      const all = await this.unwritten(history, peer, (await this.marks())[peer])
      // stop before a message still being sent (it is written with its outcome), unless it is stuck
      const stop = all.findIndex(m => m.status === 'sending' && now - m.at < TRANSCRIPT_SENDING_STUCK_MS)
      const ready = stop === -1 ? all : all.slice(0, stop)
      if (stop !== -1) this.writeSoon(peer, this.init.quietMs ?? TRANSCRIPT_QUIET_MS)
      const headers: MessageHeader[] = []
      const max = this.init.maxBatch ?? TRANSCRIPT_MAX_BATCH
      for (let i = 0; i < ready.length; i += max) {
        const batch = ready.slice(i, i + max)
        const folder = await this.chatsFolder()
        const name = this.init.peerName(peer)
        const raw = transcriptMessage({ me, peer: { aor: peer, ...(name !== undefined ? { displayName: name } : {}) }, messages: batch })
        const file = new File([raw], 'peerline-chat.eml', { type: 'message/rfc822' })
        headers.push(await this.api.messages.import(file, folder.id, { read: true }))
        const last = batch[batch.length - 1] as MessageRecord
        const marks = await this.marks()
        const prev = marks[peer]
        const ids = batch.filter(m => m.at === last.at).map(m => m.id)
        marks[peer] = { at: last.at, ids: prev?.at === last.at ? [...new Set([...prev.ids, ...ids])] : ids }
        await this.api.storage.local.set({ [TRANSCRIPT_MARKS_KEY]: marks })
        log('transcript with %s saved (%d messages)', peer, batch.length)
      }
      return headers
    })
    this.writing = run.catch(() => {})
    return await run
  }
}
