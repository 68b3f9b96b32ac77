/**
 * Peerline's DHT is its own, built from the same engine as IPFS's: a private
 * protocol id keeps Peerline nodes from ever joining the public IPFS DHT.
 */
export const DHT_PROTOCOL = '/peerline/kad/1.0.0'

/** Record namespace: DHT keys look like `/peerline/<sha-256 of the AOR, hex>`. */
export const RECORD_NAMESPACE = 'peerline'

/**
 * Largest location record a supernode stores or a client accepts. A record
 * holds one identity certificate (~400 B), the device roster (~350 B per
 * device certificate, ~120 B per revocation) and up to MAX_DEVICES entries,
 * each a device certificate (~350 B) and a few relay addresses (~150 B
 * each): about 12 KiB at the limits, so 16 KiB leaves room while keeping a
 * flood of records cheap to refuse.
 */
export const MAX_RECORD_BYTES = 16 * 1024

/** Devices of one identity listed in its location record. */
export const MAX_DEVICES = 8

/** Reachable addresses kept per device in a record. */
export const MAX_ADDRS_PER_DEVICE = 8

/**
 * A location record is short-lived so that a device that vanished stops
 * being rung soon (cf. SIP REGISTER expiry, RFC 3261 §10.2.1: 3600 s default;
 * Peerline is more eager because its records also carry relay addresses).
 */
export const RECORD_TTL_MS = 20 * 60_000

/** Republish this long before the published record expires. */
export const REPUBLISH_BEFORE_EXPIRY_MS = 10 * 60_000

/** Tolerated clock difference between a record's signer and its checker. */
export const CLOCK_SKEW_MS = 5 * 60_000

/** Reconnect back-off to supernodes: 0.5 s doubling to a 5 min cap. */
export const RECONNECT_INITIAL_MS = 500
export const RECONNECT_MAX_MS = 5 * 60_000

/** Keep-alive ping on every connection (libp2p connection monitor). */
export const KEEPALIVE_INTERVAL_MS = 15_000

/** A client keeps connections to this many supernodes when it knows of them. */
export const TARGET_SUPERNODES = 2

/**
 * Relay reservations a client holds. One: a second one would keep libp2p's
 * relay discovery walking the DHT (dozens of requests per second per device)
 * whenever only one supernode is reachable. Failover does not need it: when
 * the relay goes away the connector attaches to another supernode and the
 * transport reserves a slot there.
 */
export const RELAY_RESERVATIONS = 1

/** Default upper bound on a lookup when the caller gives no signal. */
export const LOOKUP_TIMEOUT_MS = 10_000

/** Bound on one dial to a supernode. */
export const DIAL_TIMEOUT_MS = 5_000

/**
 * Relay limits on a supernode. libp2p's defaults (2 min, 128 KiB per relayed
 * connection) would cut a long call's SIP dialog (re-INVITEs, BYE, chat).
 * Relayed connections carry signalling only — media goes over WebRTC — so
 * hours and tens of MiB are generous yet bounded.
 */
export const RELAY_DURATION_LIMIT_MS = 6 * 60 * 60_000
export const RELAY_DATA_LIMIT_BYTES = 64n * 1024n * 1024n
export const RELAY_MAX_RESERVATIONS = 2048
export const RELAY_RESERVATION_TTL_MS = 2 * 60 * 60_000

/** How often a supernode drops expired location records from its store. */
export const RECORD_SWEEP_INTERVAL_MS = 60_000

/**
 * Per-peer limits on a supernode. A device publishes every ~10 min and looks
 * people up when the user dials or opens the buddy list (a few dozen lookups,
 * each a handful of RPCs to one supernode): 20 DHT requests/s with a burst
 * of 200 is far above that; a relay HOP stream is one reservation refresh or
 * one call set-up.
 */
export const DHT_RATE_PER_SECOND = 20
export const DHT_RATE_BURST = 200
export const RELAY_RATE_PER_SECOND = 2
export const RELAY_RATE_BURST = 20

/**
 * Connection limits on a supernode. libp2p's defaults suit a desktop peer
 * (300 connections, 5 new connections per second per host); a supernode
 * serves many devices, some behind one carrier-grade NAT address.
 */
export const SUPERNODE_MAX_CONNECTIONS = 4096
export const SUPERNODE_CONNECTIONS_PER_HOST_PER_SECOND = 25
export const SUPERNODE_MAX_PENDING_CONNECTIONS = 128

/**
 * A device roster learnt by a lookup settles, this long, whether a device of
 * that identity may call; after it, a call from the identity looks the
 * roster up again (so a revocation reaches callees within a minute).
 */
export const ROSTER_CHECK_TTL_MS = 60_000

/** Bound on that roster lookup: the call waits for it, so shorter than the caller's 100 Trying → ringing patience. */
export const ROSTER_CHECK_LOOKUP_TIMEOUT_MS = 3_000

/** A device missing from a roster looked up this recently is refused without looking again (a flood of calls from it costs no lookups). */
export const ROSTER_RECHECK_MIN_MS = 5_000

/**
 * A device checks this long (plus up to as much again, random) after
 * publishing that its entry survived a concurrent publish by another device
 * of the identity: longer than one DHT put on a loaded network, short
 * enough that a device is missing from the record only briefly.
 */
export const PUBLISH_CHECK_DELAY_MS = 2_000

/** Republishes in a row for a missing entry before waiting for the regular republish. */
export const PUBLISH_CHECK_RETRIES = 3

/** Addresses whose newest roster a device keeps in `rosterStorage` (the most recently learnt; ~1–5 KB each). */
export const MAX_PERSISTED_ROSTERS = 256

/** Format tag of what `rosterStorage` holds, so another JSON value there is not mistaken for it. */
export const ROSTER_STORAGE_FORMAT = 'peerline-known-rosters'

/** Delay before trying a failed publish again: being unreachable is worse than a few extra puts. */
export const REPUBLISH_RETRY_MS = 5_000

/** Address changes this close together (several relay reservations at once) cause one republish. */
export const ADDRESS_CHANGE_COALESCE_MS = 300

/**
 * Claims per address (see claims.ts). A supernode keeps one claim per
 * identity key, in two tiers that never take each other's slots: claims by
 * a CA (issuer ≠ subject key; supernodes check the issuer's signature, not
 * trust in it) and self-issued ones. Real addresses have one claim, two
 * while a user moves to a new key; 8 + 8 leaves room for a few CAs and a
 * few key changes while bounding what a flood of identities costs: at most
 * MAX_CLAIMS records (~3 KiB each typically, 16 KiB at most) per address.
 */
export const MAX_CA_CLAIMS = 8
export const MAX_SELF_ISSUED_CLAIMS = 8
export const MAX_CLAIMS = MAX_CA_CLAIMS + MAX_SELF_ISSUED_CLAIMS

/**
 * CA-issued claims kept per issuer and address: an honest CA binds an
 * address to one key at a time; two cover the overlap of a re-key. One
 * throwaway CA cannot fill the CA tier alone.
 */
export const MAX_CLAIMS_PER_ISSUER = 2

/** Largest DHT value under an address: MAX_CLAIMS records of at most MAX_RECORD_BYTES, plus the envelope. */
export const MAX_CLAIMS_BYTES = MAX_CLAIMS * MAX_RECORD_BYTES + 4 * 1024
