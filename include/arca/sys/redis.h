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

#ifdef __cplusplus
}
#endif

#endif /* ARCA_SYS_REDIS_H */
