/**
 * Every address-book contact with an email address (or an IMPP sip: entry)
 * is a buddy, across all address books, kept live by the addressBooks
 * events (the background registers the listeners at top level and forwards
 * them here). A malformed vCard is skipped with a logged reason.
 */
import { logger } from '../../shared/util/logger.ts'
import type { ContactNode, Messenger } from './messenger.ts'
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

interface ContactEntry { name: string, addresses: string[] }

export class BuddyDirectory {
  private readonly contacts = new Map<string, ContactEntry>()
  private readonly skippedContacts = new Map<string, string>()
  private readonly listeners = new Set<() => void>()
  private readonly api: Pick<Messenger, 'addressBooks'>
  private loaded?: Promise<void>

  constructor (api: Pick<Messenger, 'addressBooks'>) {
    this.api = api
  }

  /** Reads every address book once (later changes come through the events). */
  async load (): Promise<void> {
    this.loaded ??= (async () => {
      const books = await this.api.addressBooks.list()
      for (const book of books) {
        try {
          for (const node of await this.api.addressBooks.contacts.list(book.id)) this.put(node, false)
        } catch (err) {
          log.error('cannot list address book %s: %s', book.name, (err as Error).message)
        }
      }
      this.emit()
    })()
    await this.loaded
  }

  /** contacts.onCreated / onUpdated */
  put (node: ContactNode, notify = true): void {
    if (node.type !== undefined && node.type !== 'contact') return
    try {
      const parsed = parseContactVCard(node.vCard)
      this.skippedContacts.delete(node.id)
      if (parsed.addresses.length === 0) this.contacts.delete(node.id)
      else this.contacts.set(node.id, parsed)
    } catch (err) {
      const reason = (err as Error).message
      log.error('contact %s skipped: %s', node.id, reason)
      this.contacts.delete(node.id)
      this.skippedContacts.set(node.id, reason)
    }
    if (notify) this.emit()
  }

  /** contacts.onDeleted */
  remove (contactId: string): void {
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
    return [...this.skippedContacts].map(([contactId, reason]) => ({ contactId, reason }))
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
