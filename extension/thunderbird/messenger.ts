/**
 * The stable MailExtension APIs (Thunderbird 128+ ESR, Manifest V3) the
 * add-on uses, typed here (no typings package; no Experiment APIs). Only
 * files under extension/thunderbird/ touch `messenger`.
 */

export interface ContactNode {
  id: string
  parentId: string
  type: 'contact'
  readOnly?: boolean
  remote?: boolean
  /** MV3: the contact is its vCard */
  vCard: string
}

export interface AddressBookNode {
  id: string
  name: string
  type: 'addressBook'
  readOnly?: boolean
  remote?: boolean
}

export interface MailFolder {
  id: string
  accountId?: string
  name?: string
  path?: string
  specialUse?: string[]
}

export interface MailAccount {
  id: string
  type: string
  name: string
  rootFolder: MailFolder
}

export interface MessageHeader {
  id: number
  author: string
  subject: string
  headerMessageId: string
  folder?: MailFolder
  date?: Date | string
  recipients?: string[]
}

/** messages.getFull(): the decoded MIME tree */
export interface MessagePart { contentType?: string, body?: string, parts?: MessagePart[] }

export interface MessageList { id: string | null, messages: MessageHeader[] }

/** runtime.onMessage's sender: `tab` is set for content and message display scripts. */
export interface MessageSender { id?: string, url?: string, tab?: { id?: number } }

interface Listenable<F> { addListener: (fn: F) => void, removeListener?: (fn: F) => void }

export interface Messenger {
  runtime: {
    id: string
    getURL: (p: string) => string
    getPlatformInfo: () => Promise<unknown>
    openOptionsPage: () => Promise<void>
    sendMessage: (m: unknown) => Promise<unknown>
    onMessage: Listenable<(m: unknown, sender: MessageSender) => Promise<unknown> | undefined>
    onStartup: Listenable<() => void>
    onInstalled: Listenable<(details: { reason?: string }) => void>
  }
  addressBooks: {
    list: (complete?: boolean) => Promise<AddressBookNode[]>
    contacts: {
      list: (parentId: string) => Promise<ContactNode[]>
      create: (parentId: string, vCard: string) => Promise<string>
      update: (id: string, vCard: string) => Promise<void>
      delete: (id: string) => Promise<void>
      onCreated: Listenable<(node: ContactNode) => void>
      onUpdated: Listenable<(node: ContactNode, changedProperties: unknown) => void>
      onDeleted: Listenable<(parentId: string, id: string) => void>
    }
    onCreated: Listenable<(node: AddressBookNode) => void>
    onDeleted: Listenable<(id: string) => void>
  }
  accounts: { list: (includeSubFolders?: boolean) => Promise<MailAccount[]> }
  folders: {
    create: (parentFolderId: string, childName: string) => Promise<MailFolder>
    getSubFolders: (folderId: string, includeSubFolders?: boolean) => Promise<MailFolder[]>
  }
  messages: {
    import: (file: File, folderId: string, properties?: { read?: boolean, flagged?: boolean, new?: boolean, tags?: string[] }) => Promise<MessageHeader>
    list: (folderId: string) => Promise<MessageList>
    continueList: (listId: string) => Promise<MessageList>
    getRaw: (messageId: number, options?: { data_format?: 'File' | 'BinaryString' }) => Promise<File | string>
    query: (info: Record<string, unknown>) => Promise<MessageList>
    getFull: (messageId: number) => Promise<MessagePart>
  }
  messageDisplay: { getDisplayedMessages: (tabId: number) => Promise<MessageList | MessageHeader[]> }
  messageDisplayAction: {
    onClicked: Listenable<(tab: { id: number }, info: unknown) => void>
    setPopup?: (d: { popup: string }) => Promise<void>
  }
  messageDisplayScripts?: { register: (d: { js: Array<{ file: string }> }) => Promise<unknown> }
  scripting?: { messageDisplay?: { registerScripts: (scripts: Array<{ id: string, js: string[] }>) => Promise<void>, getRegisteredScripts: () => Promise<Array<{ id: string }>> } }
  windows: {
    openDefaultBrowser: (url: string) => Promise<void>
    create: (d: { url: string, type?: 'popup' | 'normal', width?: number, height?: number }) => Promise<{ id?: number }>
    onRemoved: Listenable<(windowId: number) => void>
    getAll: (q?: { windowTypes?: string[] }) => Promise<Array<{ id?: number, type?: string }>>
  }
  tabs: { query: (q: Record<string, unknown>) => Promise<Array<{ id: number }>> }
  notifications: {
    create: (id: string, o: { type: 'basic', iconUrl: string, title: string, message: string, buttons?: Array<{ title: string }>, requireInteraction?: boolean }) => Promise<string>
    clear: (id: string) => Promise<boolean>
    onClicked: Listenable<(id: string) => void>
    onButtonClicked?: Listenable<(id: string, index: number) => void>
  }
  storage: { local: { get: (k: string | string[]) => Promise<Record<string, unknown>>, set: (i: Record<string, unknown>) => Promise<void> } }
}

/** Thunderbird's `messenger` global; throws outside Thunderbird. */
export function messenger (): Messenger {
  const m = (globalThis as { messenger?: Messenger }).messenger
  if (m?.addressBooks === undefined) throw new Error('Peerline: not running in Thunderbird (no messenger.addressBooks)')
  return m
}
