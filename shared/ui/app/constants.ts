/**
 * Defaults of the PWA shell, each with the reason behind it.
 */

/**
 * Buddy presence is refreshed this often while the buddy list is on screen.
 * A lookup is a handful of DHT RPCs to a volunteer supernode; once a minute,
 * one at a time, keeps a long list cheap while still noticing people coming
 * online well before their 20-minute location record would expire.
 */
export const PRESENCE_REFRESH_MS = 60_000

/** Bound on one presence lookup: a buddy who does not answer in time shows "Unknown". */
export const PRESENCE_LOOKUP_TIMEOUT_MS = 10_000

/** Bound on fetching /config.json at start; past it the remembered supernodes are used (offline start). */
export const CONFIG_FETCH_TIMEOUT_MS = 4_000

/**
 * A `#/call/…` deep link opened on a cold start waits this long for the
 * overlay before dialling, so a link clicked while the app was closed works
 * without a second click.
 */
export const DEEP_LINK_ONLINE_WAIT_MS = 20_000

/** The first publish after connecting is retried with back-off up to this delay. */
export const PUBLISH_RETRY_MAX_MS = 60_000

/** Messages matching a search: enough to scroll through, bounded so a common word does not freeze a phone. */
export const SEARCH_LIMIT = 50

/** Search runs once typing pauses this long. */
export const SEARCH_DEBOUNCE_MS = 200

/** Call history entries shown. */
export const CALL_HISTORY_LIMIT = 200

/** Keys of the settings kept in the history store. */
export const SETTING_SUPERNODES = 'supernodes'
export const SETTING_LAST_SERVER_SUPERNODES = 'lastServerSupernodes'
export const SETTING_ICE_SERVERS = 'iceServers'
export const SETTING_DISPLAY_NAME = 'displayName'

/** IndexedDB entries (shared/store idbStorage) for the identity and this device's libp2p key. */
export const IDENTITY_STORAGE_KEY = 'identity'
export const DEVICE_KEY_STORAGE_KEY = 'device-key'

/** IndexedDB entry (shared/store idbStorage) of the trust store: trusted CAs and pinned contact keys. */
export const TRUST_STORAGE_KEY = 'trust'

/**
 * IndexedDB entry (shared/store idbStorage) of the SIP accounts (shared/sip
 * account-settings.ts), passwords included: on this device only.
 */
export const SIP_ACCOUNTS_STORAGE_KEY = 'sip-accounts'

/** IndexedDB entry (shared/store idbStorage) of the newest device roster seen per address (the overlay's `rosterStorage`). */
export const ROSTER_STORAGE_KEY = 'known-rosters'

/** Name of this device in its device certificate (shown to the user's other devices); the extensions pass their own. */
export const DEVICE_NAME = 'Peerline web app'

/** Settings keys of "Verify my email address": the request waiting for its code, and CA names by key. */
export const SETTING_CA_PENDING = 'caPendingVerification'
export const SETTING_CA_NAMES = 'caNames'

/** A `#/verify/…` link opened at start waits this long for a supernode before saying "offline". */
export const CA_CONFIRM_ONLINE_WAIT_MS = 20_000
