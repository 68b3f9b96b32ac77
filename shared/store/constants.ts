/**
 * Defaults of shared/store: the key/value store (idb.ts) and the history store
 * (history*.ts). They live in separate IndexedDB databases, so either schema can
 * change without the other.
 */

// --- key/value store -----------------------------------------------------------------

/** IndexedDB database for small text values; its own name so it never fights other databases over versions. */
export const DEFAULT_KV_DB_NAME = 'peerline-kv'

/** Object store inside DEFAULT_KV_DB_NAME holding the values, keyed by string. */
export const KV_OBJECT_STORE = 'kv'

// --- history store -------------------------------------------------------------------

/**
 * IndexedDB database holding transcripts, calls, buddies and settings. Its own
 * database (not DEFAULT_KV_DB_NAME) so its schema version never fights the
 * key/value store, which opens at whatever version exists.
 */
export const DEFAULT_HISTORY_DB_NAME = 'peerline-history'

/**
 * Schema version. Raise it together with a new `if (oldVersion < N)` step in
 * history-schema.ts's upgrade(); never edit an existing step, users' databases already ran it.
 */
export const HISTORY_DB_VERSION = 1

/**
 * Largest message body accepted, in UTF-8 bytes. SIP MESSAGE bodies are meant to be
 * small (RFC 3428 §7 keeps pager-mode messages under the path MTU unless congestion
 * controlled); 64 KiB is far beyond any chat line and keeps one message's index
 * entries (one per distinct word) bounded.
 */
export const MAX_MESSAGE_BYTES = 64 * 1024

/**
 * Index and query words are cut to this many characters: nobody types more to
 * find a message, and it bounds index keys (a pasted base64 blob is one "word").
 */
export const MAX_TOKEN_LENGTH = 32

/** Messages returned by conversation() and search() when no limit is given: one screen or two. */
export const DEFAULT_PAGE_SIZE = 50

/** Calls returned by calls() when no limit is given: months of a busy call log, still quick to render. */
export const DEFAULT_CALLS_LIMIT = 500

// Search planning (history-search.ts searchIndex). Costs measured in Chromium 156 on 100,000
// messages on disk (2 busy cores): a by-word index entry ~10 µs to read, a message by
// key ~250 µs, a message within a range read ~15 µs (~65 µs with testing it), a request
// round trip 0.1-1 ms.

/**
 * Index entries read per query word to judge it: a word with fewer is rare and known
 * exactly; for a commoner one, how far back in time they reach tells how common.
 */
export const SEARCH_PROBE_SIZE = 200

/** The same for the prefix word; its entries come word by word, not by time. */
export const SEARCH_PREFIX_PROBE_SIZE = 1000

/**
 * A query expected to find its matches within this many newest messages is answered by
 * reading those messages: common words, where the index saves nothing. Scanning costs
 * ~65 µs a message (read and test), fetching one message by key ~250 µs, so 500 is
 * about what fetching a page of 50 results by key and walking the index cost.
 */
export const SEARCH_SCAN_BUDGET = 500

/**
 * A scan reads at most this many times the messages it expected to read (estimates
 * assume independent words); then the index plan takes over from where it stopped.
 */
export const SEARCH_SCAN_SLACK = 4

/** Messages read per request while scanning. */
export const SEARCH_SCAN_CHUNK = 500

/**
 * A word up to this many times as common as the rarest one is read from the index in
 * the rarest one's time windows; a commoner one is checked on the messages, where it
 * is likely present anyway.
 */
export const SEARCH_WINDOW_RATIO = 8

/** A common prefix of up to this many words is read in time windows word by word; one of more is checked on the messages. */
export const SEARCH_MAX_WINDOW_WORDS = 16

/** Candidates spread over at most this many times their number of messages are fetched with one range read. */
export const SEARCH_RANGE_FETCH_RATIO = 3

/** Most index entries read in one request while walking a word's entries. */
export const SEARCH_CHUNK_SIZE = 2000

/** Fewest index entries read in one request while walking: below this, round trips dominate. */
export const SEARCH_MIN_CHUNK = 32

/** Fewest messages fetched at once while checking search candidates. */
export const SEARCH_MIN_FETCH = 8

/**
 * A common prefix is searched by merging its words' entries (a seek and a read per word)
 * or by reading the newest messages; one more word costs about as much as scanning this
 * many more messages.
 */
export const SEARCH_SCAN_PER_MERGED_WORD = 16

/** Most words of one query looked up in the index (a pasted paragraph); all are checked on the messages. */
export const SEARCH_MAX_PROBED_WORDS = 12

/** Most words of a prefix merged: listing them is one sequential seek each. */
export const SEARCH_MAX_MERGED_WORDS = 64
