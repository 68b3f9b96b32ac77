/** Email certificates last a year, like typical S/MIME certificates; renewal re-proves the address. */
export const IDENTITY_CERT_VALIDITY_MS = 365 * 24 * 60 * 60 * 1000

/** Device certificates are short-lived so a lost device drops out within a month without revocation lists. */
export const DEVICE_CERT_VALIDITY_MS = 30 * 24 * 60 * 60 * 1000

/** CA certificates outlive the identity certificates they sign (5 years, a common intermediate lifetime). */
export const CA_CERT_VALIDITY_MS = 5 * 365 * 24 * 60 * 60 * 1000

/** Tolerance on notBefore/notAfter for unsynchronised clocks; 5 minutes as in Kerberos (RFC 4120 §1.7). */
export const CLOCK_SKEW_MS = 5 * 60 * 1000

/** At most this many CA certificates between an identity certificate and a trusted root; bounds work on hostile input. */
export const MAX_CHAIN_LENGTH = 4

/** RFC 5321 §4.5.3.1.3 path limit (256) minus the angle brackets, see RFC 3696 erratum 1690. */
export const MAX_ADDRESS_LENGTH = 254

/** RFC 5321 §4.5.3.1.1. */
export const MAX_LOCAL_PART_LENGTH = 64

/** RFC 1035 §2.3.4. */
export const MAX_DOMAIN_LENGTH = 253

/** RFC 1035 §2.3.4. */
export const MAX_LABEL_LENGTH = 63

/** Shown in device lists when the user gave no name. */
export const DEFAULT_DEVICE_NAME = 'Peerline device'

/** Device names are labels in a list, not documents. */
export const MAX_DEVICE_NAME_LENGTH = 64

/** CA names are labels in a trust dialog. */
export const MAX_CA_NAME_LENGTH = 128

/** libp2p peer id strings are ~52-62 chars (base58btc / base32 CID); leave room without accepting megabytes. */
export const MAX_PEER_ID_LENGTH = 256

/** Ed25519 sizes, RFC 8032 §5.1.5-5.1.6. */
export const PUBLIC_KEY_LENGTH = 32
export const PRIVATE_KEY_LENGTH = 32
export const SIGNATURE_LENGTH = 64

/** Value of `format` in backup files, so other JSON files are rejected with a clear message. */
export const BACKUP_FORMAT = 'peerline-identity-backup'

/** NIST SP 800-63B §5.1.1.2 minimum for user-chosen secrets. */
export const MIN_PASSPHRASE_LENGTH = 8

/**
 * scrypt cost for backups: N=2^15, r=8, p=1 is the interactive setting recommended by
 * golang.org/x/crypto/scrypt (2017) and libsodium's "interactive" limit; ~32 MiB, fine on phones.
 */
export const SCRYPT_N = 2 ** 15
export const SCRYPT_R = 8
export const SCRYPT_P = 1

/** 128-bit salt, RFC 7914 §2 leaves it to the application; NIST SP 800-132 asks for >= 128 bits. */
export const SCRYPT_SALT_LENGTH = 16

/** Bounds on KDF parameters read from a backup file, so a crafted file cannot hang or exhaust a browser tab. */
export const MAX_SCRYPT_N = 2 ** 20
export const MAX_SCRYPT_R = 32
export const MAX_SCRYPT_P = 16
export const MAX_SCRYPT_MEMORY = 256 * 1024 * 1024

/** XChaCha20-Poly1305 sizes (draft-irtf-cfrg-xchacha §2): 192-bit random nonces are safe to pick at random. */
export const XCHACHA_NONCE_LENGTH = 24
export const XCHACHA_KEY_LENGTH = 32
export const POLY1305_TAG_LENGTH = 16

/** Devices one identity can have at once; matches the location record's device limit (shared/overlay MAX_DEVICES). */
export const MAX_ROSTER_DEVICES = 8

/**
 * Revocations a roster names (newest kept). A device revoked before the newest 16 is no longer named, but it stays
 * refused as long as it is absent from the roster (DeviceNotInRosterError) wherever a roster of the identity is known.
 */
export const MAX_REVOKED_DEVICES = 16

/** The primary renews a device certificate this long before it expires, so a device that is offline a few days stays valid. */
export const DEVICE_CERT_RENEW_BEFORE_MS = 10 * 24 * 60 * 60 * 1000
