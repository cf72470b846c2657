/*
 * arca — the Redis tier: an arca_backend (include/arca/sys/backend.h) on
 * one Redis server, reached over TCP or a unix socket with hiredis.
 *
 * Most programs add it by URL with arca_store_add_tier_url() (arca.h);
 * this header is for those who want the backend itself, e.g. to set its
 * timeouts or to call its methods directly.
 *
 * URLs (docs/tiers.md):
 *   redis://[USER[:PASSWORD]@]HOST[:PORT][/DB][?prefix=P]
 *   redis+unix:///PATH[?db=N][&user=USER][&password=PASSWORD][&prefix=P]
 * and on both ?compress=0|1 (zstd, default 1; see below).
 * PORT defaults to 6379, DB to 0; percent-encoding is decoded in the user,
 * password, path and query values (RFC 3986). A password is sent with
 * AUTH (with the user for Redis 6+ ACLs) and DB selected with SELECT on
 * every new connection (https://redis.io/commands/auth/,
 * https://redis.io/commands/select/). A password never appears in a
 * message: the tier is named by its URL with the password removed.
 *
 * Layout in Redis, P the prefix (default "arca:v1:"), hex lowercase:
 *   P "cas:" <blob digest>  a string: the blob's bytes (blobs up to the
 *                           backend's max_blob_size only);
 *   P "ac:" <action key>    a string: the manifest's digest in hex, "\n",
 *                           then the manifest's bytes (so that a hit is
 *                           one GET); with the entry's TTL as the key's
 *                           expiry (SET ... EX, https://redis.io/commands/
 *                           set/).
 *
 * Compression: unless turned off (?compress=0, no_compress), a blob's
 * value, and the manifest's bytes in an action entry's value, are one
 * Zstandard frame (RFC 8878) of the bytes when that is smaller; else the
 * bytes themselves. A value that starts with the zstd frame magic number
 * (the bytes 28 B5 2F FD, RFC 8878 section 3.1.1) is a frame: a blob that
 * itself starts with them is always stored in a frame, compression on
 * or off, and an older uncompressed value that starts with them is
 * recognised by its digest. A frame never decompresses to more than the
 * tier's max blob size: one that would is a corrupt value (a miss). The
 * digest is always of the uncompressed bytes.
 *
 * Commands are sent in the Redis serialization protocol (RESP2,
 * https://redis.io/docs/reference/protocol-spec/); several digests are
 * asked about in one pipelined round trip
 * (https://redis.io/docs/manual/pipelining/).
 */
#ifndef ARCA_SYS_REDIS_H
#define ARCA_SYS_REDIS_H

#include "arca/sys/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ARCA_REDIS_OPTIONS_VERSION 2

/** Key prefix used when neither the URL nor the options name one. */
#define ARCA_REDIS_PREFIX_DEFAULT "arca:v1:"
/** Largest blob the tier stores by default, in bytes (1 MiB). */
#define ARCA_REDIS_MAX_BLOB_SIZE_DEFAULT ((uint64_t)1 << 20)
/** Redis's own limit on a string value, in bytes (512 MB,
 * https://redis.io/docs/data-types/strings/). */
#define ARCA_REDIS_MAX_BLOB_SIZE_LIMIT ((uint64_t)512 << 20)
/** Default connect timeout, in milliseconds. */
#define ARCA_REDIS_CONNECT_TIMEOUT_DEFAULT 100
/** Default timeout of one method call, in milliseconds. */
#define ARCA_REDIS_TIMEOUT_DEFAULT 10000

/**
 * Options for arca_backend_redis_open(). Initialise with
 * ARCA_REDIS_OPTIONS_INIT; fields are only ever appended.
 */
typedef struct arca_redis_options {
	unsigned int version;        /* ARCA_REDIS_OPTIONS_VERSION */
	/* Key prefix; NULL: ARCA_REDIS_PREFIX_DEFAULT. The URL's ?prefix=
	 * wins over it. Copied. At most 256 bytes. */
	const char *prefix;
	/* Blobs larger than this many bytes are declined (ARCA_ENOTSTORED),
	 * so that they go to the next tier; 0: the default (1 MiB). At most
	 * ARCA_REDIS_MAX_BLOB_SIZE_LIMIT. */
	uint64_t max_blob_size;
	/* Milliseconds to wait for a connection; 0: the default (100). */
	unsigned int connect_timeout_ms;
	/* Milliseconds one method call may take, connecting included, when
	 * the store gives no earlier deadline (arca_backend.deadline_ms);
	 * 0: the default (10000). */
	unsigned int timeout_ms;
	/* Non-zero: do not connect in arca_backend_redis_open(), only at
	 * the first method call. */
	int lazy_connect;
	/* ---- version 2 ---- */
	/* Non-zero: store values as they are, without zstd compression
	 * (default: compressed when that makes them smaller; see
	 * "Compression" at the top of this header). The URL's ?compress=
	 * wins over it. Values are read either way. */
	int no_compress;
} arca_redis_options;

#define ARCA_REDIS_OPTIONS_INIT { ARCA_REDIS_OPTIONS_VERSION, NULL, 0, 0, 0, 0, 0 }

/**
 * Open a Redis tier.
 *
 * The URL is parsed with libcurl's URL API (curl_url(3)). Unless
 * opts->lazy_connect is set, the backend connects, authenticates, selects
 * the database and sends PING before returning, so that a wrong address,
 * password or database is reported here, once, as a one-line message
 * (arca_errmsg()) naming the tier by its URL without the password.
 *
 * Afterwards each method connects when it has no connection (the first
 * call of a lazy backend, or the call after one whose connection broke:
 * one attempt, no retry loop), and gives up with ARCA_ETIMEOUT at the
 * earlier of arca_backend.deadline_ms and opts->timeout_ms from its
 * start. Method outcomes: a missing key is ARCA_ENOTFOUND; a blob over
 * max_blob_size is ARCA_ENOTSTORED; a server that cannot be reached or
 * drops the connection is ARCA_EUNAVAILABLE; a refused AUTH or a missing
 * permission (NOAUTH, WRONGPASS, NOPERM) is ARCA_EPERM; a server out of
 * memory (OOM, maxmemory with a noeviction policy) is ARCA_EFULL; a blob
 * whose bytes do not match its digest is ARCA_ECORRUPT (and its key is
 * deleted, so that the next write-through stores it again); any other
 * error reply or protocol error is ARCA_EIO. Action entries' tags are not
 * kept in Redis (they are tier 0's).
 *
 * The backend blocks SIGPIPE in the calling thread while it writes to the
 * socket (and consumes a SIGPIPE it caused), as libpq does, so a server
 * that goes away never kills the process.
 *
 * @param[out] out   the backend (version ARCA_BACKEND_VERSION, name
 *                   "redis"); the caller owns it and releases it with
 *                   (*out)->free(*out), or hands it to
 *                   arca_store_add_tier(), which then owns it. NULL on
 *                   error.
 * @param[in]  url   the tier's URL (see the top of this header); copied.
 * @param[in]  opts  options, or NULL for ARCA_REDIS_OPTIONS_INIT;
 *                   borrowed for the call only.
 * @return 0; ARCA_EINVAL (NULL out or url, a malformed URL, a scheme
 *         other than redis:// or redis+unix://, an unknown query
 *         parameter, a bad DB number, compress other than 0 or 1, a bad
 *         options version (1 and 2 are read) or value);
 *         ARCA_ENOMEM; and unless lazy_connect: ARCA_EUNAVAILABLE (the
 *         server cannot be reached), ARCA_ETIMEOUT, ARCA_EPERM (AUTH
 *         refused or required), ARCA_EIO (SELECT refused, a protocol
 *         error).
 */
int arca_backend_redis_open(arca_backend **out, const char *url,
		const arca_redis_options *opts);

/* ---- cross-host leases -------------------------------------------- */

/** A lease token's size with its NUL: 32 random bytes in hex, plus 1. */
#define ARCA_REDIS_LEASE_TOKEN_SIZE 65

/*
 * Leases in Redis, for single-flight across hosts: N workers on
 * different machines asking for one missing stage agree that one of
 * them computes it. The lease of action key K is the Redis string
 * P "lease:" <K in hex>, holding its holder's token, with an expiry
 * (Redis's distributed-lock pattern on one instance,
 * https://redis.io/docs/manual/patterns/distributed-locks/): taken with
 * SET ... NX PX, renewed and released only by the token's holder, each
 * with one EVAL of a compare-and-set script, so that a holder whose
 * lease expired and was taken by another never renews or deletes the
 * other's. These work on a Redis tier (arca_backend_redis_open()) and a
 * Redis Cluster tier (arca_backend_redis_cluster_open(): the lease key
 * goes to its slot's node). A lease is advisory and bounded by its
 * expiry: a holder that dies loses it after ttl_ms.
 */

/**
 * A new random lease token (getrandom(2)), to name one holder.
 * @param[out] out  ARCA_REDIS_LEASE_TOKEN_SIZE bytes: 64 hex digits and
 *                  a NUL.
 * @return 0; ARCA_EIO (no randomness).
 */
int arca_redis_lease_token(char *out);

/**
 * Take the lease of key for token, for ttl_ms milliseconds
 * (SET P"lease:"K token NX PX ttl_ms).
 *
 * @param[in] b       a Redis or Redis Cluster backend.
 * @param[in] key     the action key.
 * @param[in] token   the holder's token (arca_redis_lease_token(); any
 *                    NUL-terminated string of 1 to 256 bytes).
 * @param[in] ttl_ms  its expiry, in milliseconds (at least 1).
 * @return 0 (taken); ARCA_EBUSY (another token holds it: nothing
 *         changed); ARCA_EINVAL (not a Redis backend, no token, ttl_ms
 *         0); and the tier's errors: ARCA_EUNAVAILABLE, ARCA_ETIMEOUT,
 *         ARCA_EPERM, ARCA_EIO, ARCA_ENOMEM.
 */
int arca_redis_lease_acquire(arca_backend *b, const arca_digest *key,
		const char *token, uint64_t ttl_ms);

/**
 * Extend the lease token holds to ttl_ms milliseconds from now
 * (PEXPIRE, only if the lease's value is token). Call it well within
 * the expiry while computing (e.g. every ttl_ms / 3).
 *
 * @param[in] b, key, token, ttl_ms  as arca_redis_lease_acquire().
 * @return 0; ARCA_ENOTFOUND (token does not hold it: it expired, or
 *         another took it since; nothing changed); ARCA_EINVAL; the
 *         tier's errors.
 */
int arca_redis_lease_renew(arca_backend *b, const arca_digest *key,
		const char *token, uint64_t ttl_ms);

/**
 * Give the lease up: delete it only if its value is token.
 *
 * @param[in] b, key, token  as arca_redis_lease_acquire().
 * @return 0 (deleted); ARCA_ENOTFOUND (token does not hold it; nothing
 *         deleted); ARCA_EINVAL; the tier's errors.
 */
int arca_redis_lease_release(arca_backend *b, const arca_digest *key,
		const char *token);

#ifdef __cplusplus
}
#endif

#endif /* ARCA_SYS_REDIS_H */
