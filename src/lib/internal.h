/*
 * Internal helpers shared by libarca's modules. Not installed; the CLI and
 * server never include this file.
 */
#ifndef ARCA_INTERNAL_H
#define ARCA_INTERNAL_H

#include "arca/arca.h"

#include <stdarg.h>

#if defined(__GNUC__)
#define ARCA__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ARCA__PRINTF(f, a)
#endif

/*
 * Record the detailed message for the calling thread and return code, so
 * that callers write `return arca__error(ARCA_EINVAL, "…", …);`.
 */
int arca__error(int code, const char *fmt, ...) ARCA__PRINTF(2, 3);

/* Map an errno value to an ARCA_E* code (ENOSPC -> ARCA_EFULL, ...). */
int arca__errno_code(int err);

/* Record "<what> <path>: strerror(errno)" and return the mapped code. */
int arca__error_errno(int err, const char *what, const char *path);

/* Clear this thread's detailed message. */
void arca__error_clear(void);

/* malloc'd copy of s, NULL when s is NULL or allocation fails. */
char *arca__strdup(const char *s);

/* Duplicate, reporting ARCA_ENOMEM. */
int arca__strdup_checked(char **out, const char *s);

/* Streaming SHA-256 (OpenSSL EVP). */
typedef struct arca__hasher arca__hasher;
int arca__hasher_new(arca__hasher **out);
int arca__hasher_update(arca__hasher *h, const void *data, size_t len);
int arca__hasher_final(arca__hasher *h, arca_digest *out);
/* Start over, dropping whatever was hashed since the last final. */
int arca__hasher_reset(arca__hasher *h);
void arca__hasher_free(arca__hasher *h);
/*
 * SHA-256 of what fd holds from offset 0 to its end, read with pread()
 * (fd's offset is left alone) in chunks of bufsize bytes through buf
 * (NULL: a buffer of its own). *total (may be NULL) gets the bytes read;
 * fn (may be NULL) gets progress against expect. path names fd in
 * messages. ARCA_EIO on a read error, ARCA_ENOMEM.
 */
int arca__digest_fd(arca_digest *out, uint64_t *total, int fd,
		const char *path, unsigned char *buf, size_t bufsize,
		uint64_t expect, arca_progress_fn fn, void *ctx);
/*
 * Load OpenSSL's configuration (openssl.cnf, or $OPENSSL_CONF) once, for
 * TLS: digest.c initialises OpenSSL without it (a digest does not need
 * it). Call before curl_global_init().
 */
void arca__openssl_load_config(void);

/*
 * Wall-clock time in seconds since the epoch: arca_set_clock()'s function,
 * else $ARCA_TEST_NOW, else time(2). Every wall-clock reading of libarca
 * goes through it (clock.c).
 */
int64_t arca__now(void);

/* The same clock in nanoseconds: CLOCK_REALTIME's, or arca__now()'s
 * seconds when the clock is replaced (arca_set_clock(), ARCA_TEST_NOW). */
int64_t arca__now_ns(void);

/* Milliseconds on CLOCK_MONOTONIC, for deadlines, timeouts and backoff
 * (never simulated). */
int64_t arca__mono_ms(void);

/* A blob, verified, into fd, which is rewound and truncated to start
 * over if a tier's copy proves corrupt (so fd must be a regular file);
 * what names it in messages. As arca_blob_get(). */
int arca__blob_get_fd(arca_store *store, const arca_digest *digest,
		int fd, const char *what);

/* What arca__blob_materialise() did. */
typedef struct arca__materialised {
	arca_link_mode used;   /* REFLINK, COPY, HARDLINK or SYMLINK */
	const char *note;      /* static: "", " (reflink not supported
	                          here)", " (inline blob)", " (from a remote
	                          tier)" */
	int blob_fd;           /* the store's file, read-only, or -1: the
	                          caller closes it */
} arca__materialised;

struct arca__pubfile;

/*
 * Blob d, verified, made ready to be published at path (what names the
 * output in messages) by arca__pubfile_publish(pf, path): pf is opened
 * here (note_dir as arca__pubfile_open()'s) as a temp file that holds
 * the bytes (a clone of the store's file, a kernel copy, or the bytes
 * written) or, for hardlink and symlink, as a link to the store's file.
 * mode ARCA_LINK_DEFAULT is the store's setting. Only a file blob of
 * tier 0 can be linked or cloned; inline blobs and blobs from remote
 * tiers are written. auto falls back to copy where the file system
 * cannot clone; a demanded mode that cannot be done is ARCA_EINVAL
 * ("output 'x': link hardlink: not possible here (...); use link: copy
 * or auto"). Else as arca__blob_get_fd(). pf must be discarded by the
 * caller in every case; out->blob_fd closed.
 */
int arca__blob_materialise(arca__materialised *out, arca_store *store,
		const arca_digest *d, struct arca__pubfile *pf,
		const char *path, const char *note_dir, arca_link_mode mode,
		const char *what);

/*
 * Keep the blobs this handle puts pinned (pin.h) until the matching
 * release, which comes after the action naming them is committed (or
 * given up). Holds nest. store.c; for the stage runner and single-flight.
 */
void arca__store_pin_hold(arca_store *store);
void arca__store_pin_release(arca_store *store);

/* What arca__store_lease() does with a cross-host lease. */
typedef enum arca__lease_op {
	ARCA__LEASE_ACQUIRE,
	ARCA__LEASE_RELEASE
} arca__lease_op;

/*
 * The cross-host lease of key on the store's first writable Redis tier
 * (include/arca/sys/redis.h, "cross-host leases"), through the tier's
 * circuit breaker and timeout like its other calls (store.c; for
 * single-flight, lease.c): op on token, for ttl_ms milliseconds.
 * Returns 0 (taken, or released); ARCA_EBUSY (another token holds it);
 * ARCA_ENOTFOUND (no writable Redis tier; or release: not held by
 * token); ARCA_EUNAVAILABLE (the breaker is open: no call made); the
 * tier's errors (arca_redis_lease_acquire()).
 */
int arca__store_lease(arca_store *store, arca__lease_op op,
		const arca_digest *key, const char *token, uint64_t ttl_ms);

/*
 * A backend of its own on the tier arca__store_lease() uses, with
 * connections of its own (redis_conn.h's arca__redis_tier_dup()), for the
 * thread that renews the lease while the store's handle computes: the
 * tier's breaker, deadline and counters are not involved. The caller
 * owns *out ((*out)->free(*out)).
 * Returns 0; ARCA_ENOTFOUND (no writable Redis tier); ARCA_ENOMEM.
 */
int arca__store_lease_dup(arca_backend **out, arca_store *store);

/*
 * 1 when json is a manifest of a later format version than this arca reads
 * (another arca sharing the store wrote it: leave it alone), else 0.
 */
int arca__manifest_is_newer(const char *json, size_t len);

/* A configured remote tier (config.c): URL, options, where it came from. */
typedef struct arca__tier_conf {
	char *url;
	arca_tier_options opts;
	int compress;   /* -1 not said, 0 none, 1 zstd (Redis URLs' ?compress=) */
	char *where;    /* "PATH:LINE", "ARCA_TIERS", "the caller's options" */
} arca__tier_conf;

void arca__tier_confs_free(arca__tier_conf *c, size_t n);

/*
 * The remote tiers a store in dir opens (arca_store_open(), "Remote
 * tiers"): the caller's, else $ARCA_TIERS, else config.yaml's tiers:.
 * 0 with *out malloc'd (free with arca__tier_confs_free()); ARCA_EINVAL
 * naming PATH:LINE; ARCA_ENOMEM.
 */
int arca__tiers_resolve(arca__tier_conf **out, size_t *n_out,
		const char *dir, const arca_options *opts);

/* One warning line through arca_set_log()'s callback, else stderr. */
void arca__log(const char *fmt, ...) ARCA__PRINTF(1, 2);

#endif /* ARCA_INTERNAL_H */
