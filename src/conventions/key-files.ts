/**
 * Limits of key files (docs/CONVENTIONS.md#files-and-identities): PEM for asymmetric keys, base64
 * text of at least {@link MIN_HMAC_KEY_BYTES} bytes for an HMAC-SHA256 secret. The DSSE key loader,
 * the hop keyring and the topology's file checks all read these.
 *
 * Part of the conventions floor (docs/CONVENTIONS.md#the-conventions-floor): imports nothing.
 */

/** The largest key file read: PEM keys and base64 secrets are a few KiB at most; anything larger is no key. */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

/**
 * The shortest HMAC-SHA256 secret, in bytes once decoded (docs/dsse.md#keys; RFC 2104 §3:
 * at least the output length).
 */
export const MIN_HMAC_KEY_BYTES = 32;
