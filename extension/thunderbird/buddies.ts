/**
 * Every address-book contact with an email address (or an IMPP sip: entry)
 * is a buddy, across all address books, kept live by the addressBooks
 * events (the background registers the listeners at top level and forwards
 * them here: contacts created, updated, deleted; address books created and
 * deleted). A malformed vCard is skipped with a logged reason.
 */
import { logger } from '../../shared/util/logger.ts'
import type { AddressBookNode, ContactNode, Messenger } from './messenger.ts'
import { parseContactVCard } from './vcard.ts'

const log = logger('thunderbird:buddies')

export interface AddressBookBuddy {
  aor: string
  /** the contact's name (first contact that has one) */
  name: string
  /** contacts carrying this address */
  contactIds: string[]
}

export interface SkippedContact { contactId: string, reason: string }

interface ContactEntry { name: string, addresses: string[], parentId: string }

export class BuddyDirectory {
  private readonly contacts = new Map<string, ContactEntry>()
  private readonly skippedContacts = new Map<string, { reason: string, parentId: string }>()
  /** contact ids (and `book:<id>`) changed by events while load() runs: load() leaves them alone */
  private changedDuringLoad: Set<string> | undefined
  private readonly listeners = new Set<() => void>()
  private readonly api: Pick<Messenger, 'addressBooks'>
  private loaded?: Promise<void>

  constructor (api: Pick<Messenger, 'addressBooks'>) {
    this.api = api
  }

  /**
   * Reads every address book once (later changes come through the events).
   * A failed read is not cached: the next call tries again.
   */
  async load (): Promise<void> {
    this.loaded ??= (async () => {
      this.changedDuringLoad = new Set()
      try {
        const books = await this.api.addressBooks.list()
        for (const book of books) await this.readBook(book)
      } finally {
        this.changedDuringLoad = undefined
      }
      this.emit()
    })()
    try {
      await this.loaded
    } catch (err) {
      this.loaded = undefined
      throw err
    }
  }

  /** addressBooks.onCreated: lists the new book's contacts. */
  async addBook (book: AddressBookNode): Promise<void> {
    await this.readBook(book)
    this.emit()
  }

  /** addressBooks.onDeleted: drops the book's contacts. */
  removeBook (bookId: string): void {
    let had = false
    for (const [id, c] of this.contacts) {
      if (c.parentId === bookId) { this.contacts.delete(id); had = true }
    }
    for (const [id, s] of this.skippedContacts) {
      if (s.parentId === bookId) { this.skippedContacts.delete(id); had = true }
    }
    this.changedDuringLoad?.add(`book:${bookId}`)
    if (had) this.emit()
  }

  private async readBook (book: AddressBookNode): Promise<void> {
    let nodes: ContactNode[]
    try {
      nodes = await this.api.addressBooks.contacts.list(book.id)
    } catch (err) {
      log.error('cannot list address book %s: %s', book.name, (err as Error).message)
      return
    }
    // an event that arrived while the list was read is newer than the list
    if (this.changedDuringLoad?.has(`book:${book.id}`) === true) return
    for (const node of nodes) {
      if (this.changedDuringLoad?.has(node.id) !== true) this.put(node, false)
    }
  }

  /** contacts.onCreated / onUpdated */
  put (node: ContactNode, notify = true): void {
    if (node.type !== undefined && node.type !== 'contact') return
    if (notify) this.changedDuringLoad?.add(node.id)
    try {
      const parsed = parseContactVCard(node.vCard)
      this.skippedContacts.delete(node.id)
      if (parsed.addresses.length === 0) this.contacts.delete(node.id)
      else this.contacts.set(node.id, { ...parsed, parentId: node.parentId })
    } catch (err) {
      const reason = (err as Error).message
      log.error('contact %s skipped: %s', node.id, reason)
      this.contacts.delete(node.id)
      this.skippedContacts.set(node.id, { reason, parentId: node.parentId })
    }
    if (notify) this.emit()
  }

  /** contacts.onDeleted */
  remove (contactId: string): void {
    this.changedDuringLoad?.add(contactId)
    const had = this.contacts.delete(contactId) || this.skippedContacts.delete(contactId)
    if (had) this.emit()
  }

  /** Buddies sorted by name then address, one per address. */
  list (): AddressBookBuddy[] {
    const byAor = new Map<string, AddressBookBuddy>()
    for (const [id, c] of this.contacts) {
      for (const aor of c.addresses) {
        const b = byAor.get(aor)
        if (b === undefined) byAor.set(aor, { aor, name: c.name, contactIds: [id] })
        else {
          b.contactIds.push(id)
          if (b.name === '') b.name = c.name
        }
      }
    }
    return [...byAor.values()].sort((a, b) => (a.name || a.aor).localeCompare(b.name || b.aor) || a.aor.localeCompare(b.aor))
  }

  /** The name for `aor` from the address book, if any. */
  nameOf (aor: string): string | undefined {
    for (const c of this.contacts.values()) if (c.addresses.includes(aor) && c.name !== '') return c.name
    return undefined
  }

  skipped (): SkippedContact[] {
    return [...this.skippedContacts].map(([contactId, s]) => ({ contactId, reason: s.reason }))
  }

  onChange (fn: () => void): () => void {
    this.listeners.add(fn)
    return () => { this.listeners.delete(fn) }
  }

  private emit (): void {
    for (const fn of this.listeners) {
      try {
        fn()
      } catch (err) {
        log.error('buddy listener: %s', (err as Error).message)
      }
    }
  }
}
