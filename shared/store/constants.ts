/** IndexedDB database for small text values; its own name so it never fights other databases over versions. */
export const DEFAULT_KV_DB_NAME = 'peerline-kv'

/** Object store inside DEFAULT_KV_DB_NAME holding the values, keyed by string. */
export const KV_OBJECT_STORE = 'kv'
