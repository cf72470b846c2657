/*
 * arca — a content-addressed cache for idempotent pipelines.
 *
 * This is the public API of libarca. Everything here is prefixed arca_ /
 * ARCA_. Conventions (see docs/api.md):
 *
 *  - Functions return int: 0 (ARCA_OK) on success or a negative ARCA_E*
 *    code. arca_strerror() names a code; arca_errmsg() gives the detailed
 *    message of the last failure on the calling thread ("what and where").
 *    Decide by the code, never by parsing the message.
 *  - Output parameters come first. What is returned through an out pointer
 *    belongs to the caller and is released with the matching _free/_close,
 *    all of which accept NULL.
 *  - Sizes are in bytes, durations in milliseconds, times in seconds since
 *    the Unix epoch (UTC).
 *  - Digests are SHA-256 (FIPS 180-4), written as 64 lowercase hex
 *    characters and never truncated.
 *
 * A store handle is not thread-safe: use one handle per thread (several
 * handles, in one process or many, may share one store directory).
 */
#ifndef ARCA_ARCA_H
#define ARCA_ARCA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ARCA_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

/*
 * Result codes. Each number is assigned once and never reused; a retired
 * code keeps its number as a placeholder.
 */
enum {
	ARCA_OK = 0,
	ARCA_ENOTFOUND = -1,    /* no such blob, action or entry (a miss) */
	ARCA_EEXISTS = -2,      /* the thing to create already exists */
	ARCA_ECORRUPT = -3,     /* stored bytes do not match their digest */
	ARCA_EBUSY = -4,        /* locked by another process/handle */
	ARCA_ETIMEOUT = -5,     /* a bounded wait ran out */
	ARCA_EFULL = -6,        /* no space left on the device or over limit */
	ARCA_EIO = -7,          /* an I/O or database error */
	ARCA_EINVAL = -8,       /* invalid argument or malformed input */
	ARCA_ENOMEM = -9,       /* out of memory */
	ARCA_EUNAVAILABLE = -10,/* a backend/tier cannot be reached */
	ARCA_EFATAL = -11,      /* the handle hit an unrecoverable write error
	                           and refuses further writes; reopen it */
	ARCA_EPERM = -12,       /* permission denied / read-only location */
	ARCA_ENOTSTORED = -13   /* a tier declined to store something (over
	                           its size limit, by policy): not an error */
};

/**
 * Name a result code.
 *
 * @param[in] code  an ARCA_* code (0 or negative).
 * @return a static, never-NULL English string ("digest mismatch", ...);
 *         "unknown error" for a number that is not a code.
 */
const char *arca_strerror(int code);

/**
 * The detailed message of the last failed arca_* call on this thread,
 * e.g. "blob 3f2a… in blobs/3f/3f2a…: digest mismatch".
 *
 * @return a thread-local string owned by libarca, valid until the next
 *         arca_* call on this thread; "" when nothing failed yet.
 */
const char *arca_errmsg(void);

/* ------------------------------------------------------------------ */
/* Digests and buffers                                                  */
/* ------------------------------------------------------------------ */

#define ARCA_DIGEST_SIZE 32   /* bytes of a SHA-256 digest */
#define ARCA_DIGEST_HEXLEN 64 /* characters of its hex form, without NUL */

/** A SHA-256 digest (raw bytes). */
typedef struct arca_digest {
	unsigned char bytes[ARCA_DIGEST_SIZE];
} arca_digest;

/**
 * Digest a buffer with SHA-256 (OpenSSL libcrypto).
 *
 * @param[out] out   the digest.
 * @param[in]  data  bytes to hash; may be NULL when len is 0.
 * @param[in]  len   number of bytes.
 * @return 0, or ARCA_ENOMEM / ARCA_EIO (libcrypto failure).
 */
int arca_digest_buffer(arca_digest *out, const void *data, size_t len);

/**
 * Digest a file's content, reading it in streaming fashion.
 *
 * @param[out] out       the digest.
 * @param[out] size_out  the file's size in bytes; may be NULL.
 * @param[in]  path      file to read.
 * @return 0; ARCA_ENOTFOUND if the file does not exist; ARCA_EPERM if it
 *         cannot be read; ARCA_EINVAL if it is not a regular file (checked
 *         before anything is read: a FIFO or a device is refused, never
 *         waited on); ARCA_EIO on a read error.
 */
int arca_digest_file(arca_digest *out, uint64_t *size_out, const char *path);

/**
 * Write a digest as 64 lowercase hex characters plus a NUL.
 *
 * @param[out] out  at least ARCA_DIGEST_HEXLEN + 1 bytes.
 * @param[in]  d    the digest.
 */
void arca_digest_to_hex(char *out, const arca_digest *d);

/**
 * Parse exactly 64 hex characters (either case) into a digest.
 *
 * @param[out] out  the digest.
 * @param[in]  hex  NUL-terminated string.
 * @return 0, or ARCA_EINVAL if hex is not 64 hex characters.
 */
int arca_digest_from_hex(arca_digest *out, const char *hex);

/**
 * Compare two digests.
 * @return 1 when equal, 0 otherwise.
 */
int arca_digest_equal(const arca_digest *a, const arca_digest *b);

/** A byte buffer returned by libarca; release with arca_buf_free(). */
typedef struct arca_buf {
	unsigned char *data; /* malloc'd; NUL-terminated for convenience */
	size_t size;         /* bytes, not counting the terminating NUL */
} arca_buf;

#define ARCA_BUF_INIT { NULL, 0 }

/** Free a buffer's data and reset it to empty. Accepts NULL. */
void arca_buf_free(arca_buf *buf);

/* ------------------------------------------------------------------ */
/* Store                                                                */
/* ------------------------------------------------------------------ */

/**
 * An open store: an ordered list of tiers. Tier 0 is the local store
 * (SQLite index + blob files) opened by arca_store_open(); more tiers are
 * added with arca_store_add_tier() (see "Tiers" below). Blob and action
 * cache calls (arca_blob_*, arca_action_put/get/peek/remove) go through
 * every tier. Administration and inspection operate on tier 0 only: the
 * listing, resolving and clearing of actions, info, statistics,
 * verification, gc, eviction and usage, URL entries (arca_fetch), blob
 * tags, leases, and last-access bookkeeping.
 */
typedef struct arca_store arca_store;

/** A tier's implementation: see include/arca/sys/backend.h. */
typedef struct arca_backend arca_backend;

#define ARCA_OPTIONS_VERSION 6
#define ARCA_DEFAULT_INLINE_THRESHOLD (100 * 1024)
#define ARCA_DEFAULT_BUSY_TIMEOUT_MS 30000

/*
 * Bits of arca_options.given: the store policy fields a caller sets
 * explicitly (see "Store policy" below).
 */
enum {
	ARCA_OPT_INLINE_THRESHOLD = 1u << 0,
	ARCA_OPT_MAX_SIZE = 1u << 1,
	ARCA_OPT_LOW_WATERMARK = 1u << 2,
	ARCA_OPT_LOCK_TIMEOUT = 1u << 3,
	ARCA_OPT_DEFAULT_TTL = 1u << 4,
	ARCA_OPT_DISK_RESERVE = 1u << 5,   /* (version 4) */
	ARCA_OPT_VERIFY = 1u << 7,         /* (version 6) */
	ARCA_OPT_VERIFY_STAMP_MIN = 1u << 8, /* (version 6) */
	ARCA_OPT_LINK = 1u << 9,           /* (version 6) */
	ARCA_OPT_ALL = 0x3bfu,
	/* (Version 5.) arca_options.tiers replaces the configured remote
	 * tiers (ARCA_TIERS, config.yaml's tiers:); with n_tiers 0: the
	 * local tier alone. Not a policy field: not in ARCA_OPT_ALL, never
	 * set by arca_options_resolve(). */
	ARCA_OPT_TIERS = 1u << 6
};

/**
 * How a hit materialises an output held as a file blob in the local
 * store (arca_options.link, arca_stage_spec.link; config.yaml `link:`,
 * ARCA_LINK, `arca run --link`). DVC's cache.type is the model
 * (https://dvc.org/doc/user-guide/project-structure/configuration#cache,
 * and DVC's "Large Dataset Optimization" page on file link types).
 * Blobs kept inline in the index (at most inline_threshold bytes) and
 * blobs fetched from a remote tier are always written (copy). Every mode
 * verifies the blob's digest before anything reaches the output.
 */
typedef enum arca_link_mode {
	/* arca_stage_spec.link only: the store's setting. In arca_options
	 * it reads as ARCA_LINK_AUTO. */
	ARCA_LINK_DEFAULT = 0,
	/* reflink, else copy, silently (the default). */
	ARCA_LINK_AUTO = 1,
	/* A copy-on-write clone, ioctl(FICLONE) (XFS, Btrfs): no bytes
	 * copied, the output an independent file. Where the file system
	 * cannot clone (another file system, ext4, tmpfs): an error. */
	ARCA_LINK_REFLINK = 2,
	/* The bytes copied by the kernel (copy_file_range(2); read and
	 * write where it cannot): an independent file. */
	ARCA_LINK_COPY = 3,
	/* A hard link to the store's file: the output is that file, mode
	 * 0444 (read-only; an edit fails with EACCES, rm then write is
	 * fine). Only on the store's file system: an error elsewhere. */
	ARCA_LINK_HARDLINK = 4,
	/* A symbolic link to the store's file (absolute path). Dangling
	 * once the blob is evicted or cleared. */
	ARCA_LINK_SYMLINK = 5
} arca_link_mode;

/**
 * The mode named name: "auto", "reflink", "copy", "hardlink" or
 * "symlink" (the words of config.yaml's `link:`).
 *
 * @param[out] out   the mode.
 * @param[in]  name  the word.
 * @return 0; ARCA_EINVAL (another word; arca_errmsg() lists them).
 */
int arca_link_mode_parse(arca_link_mode *out, const char *name);

/**
 * The word for mode ("auto", "reflink", "copy", "hardlink", "symlink";
 * "default" for ARCA_LINK_DEFAULT, "?" for anything else). Static.
 */
const char *arca_link_mode_name(arca_link_mode mode);

/**
 * Options for arca_store_open(). Initialise with ARCA_OPTIONS_INIT;
 * fields are only ever appended.
 *
 * Store policy. inline_threshold, max_size, low_watermark_pct,
 * lock_timeout_ms, default_ttl_s, disk_reserve, link, verify and
 * verify_stamp_min are the store's policy. Each one is
 * taken from the first of these that sets it (highest precedence first):
 *
 *  1. the caller: with a version 3 to 6 struct, a field whose bit is in
 *     `given` or whose value differs from ARCA_OPTIONS_INIT's (a field
 *     past the end of an older struct is not read and its bit ignored:
 *     disk_reserve before version 4, link, verify and
 *     verify_stamp_min before version 6); a version 1 or 2 struct gives every field it
 *     contains (as before version 3);
 *  2. the environment: ARCA_INLINE_THRESHOLD, ARCA_MAX_SIZE,
 *     ARCA_LOCK_TIMEOUT, ARCA_TTL, ARCA_DISK_RESERVE, ARCA_LINK, ARCA_VERIFY,
 *     ARCA_VERIFY_STAMP_MIN (when set and
 *     non-empty; sizes and
 *     durations as arca_parse_size() and arca_parse_duration_ms() read
 *     them; a bare number of ARCA_LOCK_TIMEOUT or ARCA_TTL is seconds);
 *  3. a config file: DIR/config.yaml of the store if it exists, else
 *     ${XDG_CONFIG_HOME:-$HOME/.config}/arca/config.yaml, a YAML mapping
 *     with the keys inline_threshold, max_size, low_watermark (percent,
 *     1..100, optionally with "%"), lock_timeout, ttl, disk_reserve
 *     (a size, or "auto"), link (auto, reflink, copy, hardlink,
 *     symlink), verify ("always" or "stamp") and
 *     verify_stamp_min (a size) (docs/cli.md,
 *     "Configuration"); an unknown key is an error;
 *  4. the defaults of ARCA_OPTIONS_INIT.
 *
 * opts == NULL takes every policy field from 2-4. busy_timeout_ms and
 * read_only are not policy: they are always the caller's (the defaults
 * for NULL). arca_store_get_options() returns what applied.
 */
typedef struct arca_options {
	unsigned int version;     /* ARCA_OPTIONS_VERSION */
	/* Blobs of at most this many bytes live inside the SQLite index;
	 * larger ones are files blobs/<2 hex>/<digest>. At most 64 MiB. */
	uint64_t inline_threshold;
	/* How long to wait for another process's lock, in ms. */
	unsigned int busy_timeout_ms;
	/* Non-zero: open without creating anything; writes fail ARCA_EPERM. */
	int read_only;
	/* (Version 2.) Size limit of the store in bytes (all blobs); 0 means
	 * no limit. Past it, least recently used entries are evicted down to
	 * low_watermark_pct percent of it. */
	uint64_t max_size;
	/* Where eviction stops, in percent of max_size (1..100). */
	unsigned int low_watermark_pct;
	/* How long to wait for another process's lease on an action key
	 * before computing anyway, in ms (more than 0, at most a day). */
	unsigned int lock_timeout_ms;
	/* (Version 3.) Default time to live of stage results, in seconds;
	 * 0: they do not expire. The stage runner (arca run, arca repro)
	 * applies it to a result stored without a TTL of its own;
	 * arca_action_put_ex() does not. */
	uint64_t default_ttl_s;
	/* ARCA_OPT_* bits: policy fields the caller sets even when their
	 * value equals the default (see above). */
	unsigned int given;
	/* (Version 4.) Bytes of the file system that puts leave free: the
	 * effective limit is the smaller of max_size and usage + the file
	 * system's free bytes - disk_reserve, so a store on a disk smaller
	 * than max_size (or shared) evicts instead of filling it (see
	 * arca_store_get_space()). ARCA_DISK_RESERVE_AUTO: 5% of the file
	 * system or 256 MiB, whichever is smaller; 0: no disk check, only
	 * max_size. Read from version 4 structs only. */
	uint64_t disk_reserve;
	/* (Version 5.) With ARCA_OPT_TIERS in given: the URLs of the remote
	 * tiers arca_store_open() opens, in order, instead of ARCA_TIERS's
	 * or config.yaml's (a URL that config.yaml's tiers: also lists takes
	 * that entry's mode, max_blob_size and timeout_ms). Borrowed for the
	 * call only. See "Remote tiers" at arca_store_open(). */
	const char *const *tiers;
	size_t n_tiers;
	/* (Version 6.) How hits materialise outputs that are file blobs
	 * (arca_link_mode; ARCA_LINK_DEFAULT reads as ARCA_LINK_AUTO): a
	 * policy field, from the caller (a value other than ARCA_LINK_AUTO,
	 * or ARCA_OPT_LINK in given), else ARCA_LINK, else config.yaml's
	 * `link:`, else auto. The stage runner applies it to stages whose
	 * spec does not say (arca_stage_spec.link). */
	unsigned int link;
	/* (Version 6.) How reads verify file blobs of at least
	 * verify_stamp_min bytes: ARCA_VERIFY_ALWAYS (every read re-hashes
	 * every byte) or ARCA_VERIFY_STAMP (a read re-hashes only when the
	 * blob file's stat data differs from the stamp recorded at its last
	 * full verification; arca_store_verify() re-hashes regardless).
	 * Smaller blobs and inline blobs are always re-hashed. What each
	 * guarantees against which fault: docs/cli.md, "Verification". */
	unsigned int verify;
	/* (Version 6.) In bytes; at least 1. */
	uint64_t verify_stamp_min;
} arca_options;

#define ARCA_VERIFY_ALWAYS 0u
#define ARCA_VERIFY_STAMP 1u
#define ARCA_DEFAULT_VERIFY_STAMP_MIN ((uint64_t)64 << 20) /* 64 MiB */

#define ARCA_DEFAULT_MAX_SIZE ((uint64_t)10 << 30)   /* 10 GiB */
#define ARCA_DEFAULT_LOW_WATERMARK_PCT 90
#define ARCA_DEFAULT_LOCK_TIMEOUT_MS (10u * 60 * 1000) /* 10 minutes */
#define ARCA_DEFAULT_TTL_S 0                          /* no expiry */
#define ARCA_DISK_RESERVE_AUTO UINT64_MAX             /* 5%, at most 256 MiB */

#define ARCA_OPTIONS_INIT \
	{ ARCA_OPTIONS_VERSION, ARCA_DEFAULT_INLINE_THRESHOLD, \
	  ARCA_DEFAULT_BUSY_TIMEOUT_MS, 0, ARCA_DEFAULT_MAX_SIZE, \
	  ARCA_DEFAULT_LOW_WATERMARK_PCT, ARCA_DEFAULT_LOCK_TIMEOUT_MS, \
	  ARCA_DEFAULT_TTL_S, 0, ARCA_DISK_RESERVE_AUTO, NULL, 0, \
	  ARCA_LINK_AUTO, ARCA_VERIFY_ALWAYS, ARCA_DEFAULT_VERIFY_STAMP_MIN }

/**
 * The options arca_store_open(dir, opts) would apply: the caller's
 * fields, the environment, the config file and the defaults, in that
 * order (see arca_options). Opens and creates nothing; the store need not
 * exist. Lets a front end tell a bad setting apart from a store that
 * cannot be opened.
 *
 * @param[out] out   the effective options (version ARCA_OPTIONS_VERSION,
 *                   given = ARCA_OPT_ALL, so passing it to
 *                   arca_store_open() applies exactly these values).
 * @param[in]  dir   store directory; NULL means arca_store_default_dir().
 * @param[in]  opts  the caller's options, or NULL.
 * @return 0; ARCA_EINVAL (bad options version or value; a config file
 *         that is not valid YAML, has an unknown key or a bad value; a
 *         bad environment variable: arca_errmsg() is one line naming the
 *         file and line, "PATH:LINE: max_size 'lots': expected a size
 *         ...", or the variable, "ARCA_TTL='soon': expected a duration
 *         ..."); ARCA_EPERM / ARCA_EIO (the config file exists but cannot
 *         be read); ARCA_ENOMEM.
 */
int arca_options_resolve(arca_options *out, const char *dir,
		const arca_options *opts);

/**
 * The options a store was opened with, after config file and
 * environment (see arca_options): what front ends and the stage runner
 * apply, e.g. default_ttl_s.
 *
 * @param[out] out    filled completely (version ARCA_OPTIONS_VERSION,
 *                    given = ARCA_OPT_ALL).
 * @param[in]  store  open store.
 * @return 0.
 */
int arca_store_get_options(arca_options *out, const arca_store *store);

/**
 * Set one key of the store's config file, DIR/config.yaml, keeping the
 * others (and creating the file if needed). The value is checked as the
 * key's reader checks it; the file is written to a temporary file,
 * fsynced and renamed into place. Handles already open keep their
 * options: the setting binds stores opened from then on.
 *
 * @param[in] dir    store directory (must exist).
 * @param[in] key    max_size, low_watermark, inline_threshold,
 *                   lock_timeout, ttl, disk_reserve, link, verify or
 *                   verify_stamp_min.
 * @param[in] value  the value as written in the file ("10G", "7d").
 * @return 0; ARCA_EINVAL (unknown key, bad value, or the existing file
 *         is malformed: arca_errmsg() names file and line); ARCA_ENOTFOUND
 *         (dir does not exist); ARCA_EPERM; ARCA_EFULL; ARCA_EIO;
 *         ARCA_ENOMEM.
 */
int arca_config_set(const char *dir, const char *key, const char *value);

/**
 * Parse a duration. Grammar (no spaces, no sign):
 *
 *   duration = number [ unit ]
 *   number   = digit+ [ "." digit+ ] | "." digit+
 *   unit     = "ms" | "s" | "m" | "min" | "h" | "d" | "w"
 *
 * milliseconds, seconds, minutes, hours, days (86400 s), weeks (7 d); no
 * unit means seconds. "90", "0.5", "30s", "10m", "2h", "7d", "1w",
 * "250ms". A fraction of a millisecond is rounded up. Callers may refuse
 * 0 where it makes no sense.
 *
 * @param[out] out_ms  the duration in milliseconds (unchanged on error).
 * @param[in]  text    NUL-terminated text.
 * @return 0; ARCA_EINVAL (malformed, or more than 10^15 ms, about 31,700
 *         years; arca_errmsg() quotes text).
 */
int arca_parse_duration_ms(uint64_t *out_ms, const char *text);

/**
 * Parse a size in bytes. Grammar (case-insensitive units, no sign):
 *
 *   size   = number [ " " ] [ unit ]
 *   number = digit+ [ "." digit+ ]
 *   unit   = "B" | ( "K" | "M" | "G" | "T" | "P" | "E" ) [ "i" ] [ "B" ]
 *
 * Units are binary: K = 1024, M = 1024^2, ... ("100K", "10M", "1.5GiB",
 * "4096"). A fraction needs a unit and the result is rounded down to a
 * whole byte.
 *
 * @param[out] out_bytes  the size in bytes (unchanged on error).
 * @param[in]  text       NUL-terminated text.
 * @return 0; ARCA_EINVAL (malformed or not below 2^64; arca_errmsg()
 *         quotes text).
 */
int arca_parse_size(uint64_t *out_bytes, const char *text);

/**
 * The default store directory: $ARCA_DIR if set and non-empty, else
 * ${XDG_CACHE_HOME:-$HOME/.cache}/arca.
 *
 * @param[out] out  malloc'd path; the caller frees it with free().
 * @return 0; ARCA_EINVAL when neither ARCA_DIR, XDG_CACHE_HOME nor HOME
 *         is set; ARCA_ENOMEM.
 */
int arca_store_default_dir(char **out);

/**
 * Open (creating on first use) the store in directory dir: index.db
 * (SQLite, WAL), blobs/, tmp/ and quarantine/. Temporary files left in
 * tmp/ by writers that have died are removed.
 *
 * Opening takes no write lock on the index unless it must create the
 * schema or migrate it to this arca's version: the version is checked
 * with plain reads, which in WAL mode wait for no writer, so a store
 * opens (and reads) while another process evicts, clears or collects.
 * Closing writes the handle's pending hits, waiting at most 250 ms for
 * the lock (past it they are dropped: they only order the LRU).
 * busy_timeout_ms bounds every wait for the write lock; the lock is polled
 * every millisecond, so a writer behind a long removal waits about one of
 * its batches (arca_store_evict()).
 *
 * @param[out] out   the handle; close it with arca_store_close().
 * @param[in]  dir   store directory; NULL means arca_store_default_dir().
 * @param[in]  opts  options, or NULL: store policy from the environment,
 *                   the config file and the defaults (see arca_options).
 * @return 0; ARCA_EINVAL (bad options version, dir is not a directory, a
 *         bad setting as for arca_options_resolve());
 *         ARCA_EPERM (cannot create or write dir); ARCA_EBUSY (the index
 *         stayed locked past busy_timeout_ms); ARCA_ECORRUPT (index.db is
 *         an index of another schema version, e.g. of a newer arca);
 *         ARCA_EIO (among others: index.db is damaged and the handle is
 *         read-only, or its repair failed); ARCA_ENOMEM. A damaged
 *         index.db is not an error of a read-write open: it is moved to
 *         quarantine/ and rebuilt, and arca_store_index_repair() says so.
 *         A remote tier that cannot be opened is never an error of the
 *         open (see below).
 *
 * Remote tiers. After tier 0, the store opens the configured remote
 * tiers and appends them in order (arca_store_add_tier_url()), so that
 * every front end and binding shares one configuration, as ccache reads
 * remote_storage from its own config. The list is the first of: the
 * caller's (opts->tiers with ARCA_OPT_TIERS in opts->given; none with
 * n_tiers 0), $ARCA_TIERS (space-separated URLs, when set and
 * non-empty), the config file's tiers: (docs/cli.md, "Remote tiers"). A
 * tier that cannot be opened (a bad URL, an unknown scheme, a server that
 * cannot be reached or refuses AUTH) is left out with one warning line
 * through the log callback (arca_set_log()) naming it by its URL without
 * the password; so is a tier whose circuit breaker is open (see
 * docs/tiers.md, "Circuit breaker"), without connecting. Either way
 * arca_store_remote_info() reports it.
 */
int arca_store_open(arca_store **out, const char *dir,
		const arca_options *opts);

/** Close a store handle and free it. Accepts NULL. */
void arca_store_close(arca_store *store);

/**
 * What a handle did about a damaged index.db (see "Index damage" in
 * docs/api.md). Filled by arca_store_index_repair(); the strings belong
 * to the handle and stay valid until it is closed.
 */
typedef struct arca_index_repair {
	/* Non-zero: this handle found index.db damaged and rebuilt it (at
	 * arca_store_open() or in arca_store_verify()); the other fields are
	 * only set then. A handle that waited while another process repaired
	 * the index opens the repaired one and reports nothing here. */
	int repaired;
	/* Why, in SQLite's words: "file is not a database", "database disk
	 * image is malformed", or the first line of PRAGMA integrity_check. */
	const char *reason;
	/* Where the damaged index.db went: DIR/quarantine/index.db.<UTC time
	 * as YYYYMMDDTHHMMSS> (its -wal and -shm files beside it, with those
	 * suffixes). */
	const char *moved_to;
	/* Blob files under blobs/ whose content hashes to their name,
	 * re-inserted as unreferenced blobs; and their bytes. */
	uint64_t n_blob_files;
	uint64_t bytes_blob_files;
	/* Blob files whose content did not match their name: moved to
	 * quarantine/. */
	uint64_t n_quarantined;
	/* When the repair ran, in seconds since the epoch. */
	int64_t repaired_at;
	/* One line for a front end's warning, naming the store: "store DIR:
	 * index.db was damaged (REASON); moved to quarantine/index.db.T,
	 * rebuilt from N blob files; cached actions are lost". */
	const char *message;
} arca_index_repair;

/**
 * Report whether this handle repaired a damaged index, and what it did.
 *
 * Index damage never makes a store unusable: when SQLite reports
 * SQLITE_CORRUPT or SQLITE_NOTADB while the store is opened, or
 * arca_store_verify()'s PRAGMA integrity_check finds a problem, the store
 * takes an exclusive lock on DIR/index.lock (a second process opening the
 * store waits, then opens the repaired index), moves index.db aside into
 * quarantine/, creates a fresh index and re-inserts every blob file that
 * hashes to its name. Inline blobs, action entries, URL entries, tags and
 * statistics are lost: they become misses. No blob file that is intact is
 * deleted. Damage met later, by an ordinary call, makes that call fail
 * with ARCA_EIO (or, for blob and action lookups, repairs the index and
 * retries once) and leaves DIR/index.damaged so that the next open
 * repairs it. A read-only handle never repairs.
 *
 * @param[out] out    the report; out->repaired is 0 when nothing was
 *                    repaired by this handle.
 * @param[in]  store  open store.
 * @return 0; ARCA_EINVAL (out or store NULL).
 */
int arca_store_index_repair(arca_index_repair *out, arca_store *store);

/** The store's directory (owned by the handle). */
const char *arca_store_path(const arca_store *store);

/* ------------------------------------------------------------------ */
/* Tiers                                                                */
/* ------------------------------------------------------------------ */

/*
 * A store is an ordered list of tiers: tier 0 is the local store, later
 * tiers are backends (include/arca/sys/backend.h) added in order, e.g. a
 * Redis or S3 tier shared by several machines.
 *
 *  - Lookups (arca_blob_get/_get_file/_write_fd/_stat, arca_action_get/
 *    _peek/_get_ex) fall through the tiers in order: a miss goes to the
 *    next tier. Tier 0's own outcomes are as documented per function; a
 *    later tier's error, timeout or wrong bytes is counted in its
 *    arca_tier_stats and treated as a miss of that tier, never as a
 *    failure of the call.
 *  - Every byte a later tier returns is re-hashed by libarca; a blob or
 *    manifest that does not match its digest is a miss (counted as
 *    corrupt) and never reaches the caller.
 *  - A hit in a later tier is promoted into tier 0 (when the tier's
 *    promote option is set and tier 0 is writable): the blob, or for an
 *    action its manifest blob, every blob the manifest names (outputs,
 *    stdout, stderr) and the action entry, so the next lookup is local.
 *  - Puts (arca_blob_put/_put_file, arca_action_put/_put_ex) go to tier 0
 *    first, whose result is the call's result; then to every writable
 *    tier in order (write-through). An action is written to a tier only
 *    after the blobs it references are there (asked with find_missing).
 *    A later tier's failure is counted, not returned; a tier declining
 *    (a blob over its max_blob_size, ARCA_ENOTSTORED from the backend) is
 *    counted as not_stored, apart from errors.
 *  - Removal (arca_action_remove) removes from tier 0 and every writable
 *    tier that implements ac_remove; tier 0's result is returned.
 */

#define ARCA_TIER_OPTIONS_VERSION 1

/**
 * Options for arca_store_add_tier(). Initialise with
 * ARCA_TIER_OPTIONS_INIT; fields are only ever appended.
 */
typedef struct arca_tier_options {
	unsigned int version;     /* ARCA_TIER_OPTIONS_VERSION */
	/* Non-zero: only read from this tier; puts and removals skip it. */
	int read_only;
	/* Blobs larger than this many bytes are not written to the tier
	 * (counted as not_stored, as are actions that reference them); 0:
	 * no limit. */
	uint64_t max_blob_size;
	/* Non-zero (the default): a hit in this tier is copied into tier 0. */
	int promote;
	/* Deadline of each call into the backend, in milliseconds from the
	 * call's start, passed as arca_backend.deadline_ms (version 2
	 * backends); 0: none. */
	unsigned int timeout_ms;
} arca_tier_options;

#define ARCA_TIER_OPTIONS_INIT { ARCA_TIER_OPTIONS_VERSION, 0, 0, 1, 0 }

/**
 * Append a tier to the store, after those it has: lookups that miss every
 * earlier tier ask it, puts are written through to it unless read-only.
 *
 * @param[in] store    open store.
 * @param[in] backend  the tier's backend (version 1 or 2, with blob_get,
 *                     ac_get and free set, and blob_put and ac_put or
 *                     ac_put2 unless opts->read_only). Ownership passes
 *                     to the store, which calls backend->free in
 *                     arca_store_close(); on failure it is freed at once,
 *                     so the caller never frees it.
 * @param[in] opts     options, or NULL for ARCA_TIER_OPTIONS_INIT;
 *                     copied (borrowed for the call only).
 * @return 0; ARCA_EINVAL (NULL store or backend, a backend version this
 *         libarca does not know, a required method missing, a bad options
 *         version); ARCA_ENOMEM.
 */
int arca_store_add_tier(arca_store *store, arca_backend *backend,
		const arca_tier_options *opts);

/**
 * The number of tiers of a store, tier 0 (the local store) included.
 *
 * @param[in] store  open store.
 * @return the number of tiers: at least 1 for an open store, 0 for NULL.
 */
size_t arca_store_tier_count(const arca_store *store);

/**
 * Counters of one tier since the store was opened (per handle, in memory:
 * not kept in the index; a configured remote tier's totals over every
 * handle are in arca_store_remote_info()). A lookup asks tiers in order until one hits, so
 * a hit in tier 2 counts a miss (or error) in tier 1.
 */
typedef struct arca_tier_stats {
	const char *name;     /* the backend's name (owned by the backend;
	                       * valid until arca_store_close()) */
	uint64_t hits;        /* blobs and actions found */
	uint64_t misses;      /* lookups answered ARCA_ENOTFOUND */
	uint64_t errors;      /* calls that failed (I/O, unavailable, ...) */
	uint64_t timeouts;    /* calls that returned ARCA_ETIMEOUT */
	uint64_t corrupt;     /* blobs or manifests whose bytes did not match
	                       * their digest (treated as misses) */
	uint64_t stored;      /* blobs and actions written to the tier */
	uint64_t not_stored;  /* puts the tier declined (max_blob_size,
	                       * ARCA_ENOTSTORED) */
	uint64_t promoted;    /* hits of this tier copied into tier 0 */
	/* Appended with the shared tiers (issue 9). */
	uint64_t bytes_up;    /* bytes of blobs and manifests written */
	uint64_t bytes_down;  /* bytes of blobs and manifests read */
	uint64_t time_ms;     /* milliseconds spent in the tier's calls */
	uint64_t breaker_openings; /* times its circuit breaker opened */
	uint64_t skipped;     /* calls not made: the breaker was open */
} arca_tier_stats;

/**
 * Read one tier's counters.
 *
 * @param[out] out    the counters.
 * @param[in]  store  open store.
 * @param[in]  index  0 for the local store, 1... for added tiers.
 * @return 0; ARCA_EINVAL (index not below arca_store_tier_count()).
 */
int arca_store_tier_stats(arca_tier_stats *out, arca_store *store,
		size_t index);

/**
 * Open the backend a tier URL names and append it as a tier
 * (arca_store_add_tier()). Schemes: redis:// and redis+unix:// (the Redis
 * tier, include/arca/sys/redis.h), s3:// (S3 and S3-compatible storage,
 * include/arca/sys/s3.h; credentials from the environment or
 * ~/.aws/credentials); see docs/tiers.md. Others are refused.
 *
 * The Redis tier takes its max blob size from opts->max_blob_size (0: its
 * default, 1 MiB) and the tier is added with that limit, so that larger
 * blobs are counted as not_stored without being read. It connects before
 * this returns, so an unreachable server or a refused password is
 * reported here, once; the S3 tier sends HeadBucket, so a missing bucket
 * or refused credentials are too. A caller that wants to go on without
 * the tier (the local tier alone) does so on any error.
 *
 * @param[in] store  open store.
 * @param[in] url    the tier's URL; copied. Messages name it with its
 *                   password removed.
 * @param[in] opts   options, or NULL for ARCA_TIER_OPTIONS_INIT;
 *                   borrowed for the call only.
 * @return 0; ARCA_EINVAL (NULL store or url, a malformed URL, an unknown
 *         scheme: the one-line message names the URL and the supported
 *         schemes; a bad options version); ARCA_ENOMEM; the backend's
 *         errors while connecting (ARCA_EUNAVAILABLE, ARCA_ETIMEOUT,
 *         ARCA_EPERM, ARCA_EIO; ARCA_ENOTFOUND: no such S3 bucket;
 *         ARCA_EINVAL: no S3 credentials).
 */
int arca_store_add_tier_url(arca_store *store, const char *url,
		const arca_tier_options *opts);

/**
 * Change whether hits of tier `tier` are copied into tier 0 (its
 * arca_tier_options.promote) for the rest of the handle's life: what
 * `arca repro --pull` does to every remote tier.
 *
 * @param[in] store    open store.
 * @param[in] tier     1 ... arca_store_tier_count() - 1.
 * @param[in] promote  non-zero: copy hits into tier 0.
 * @return 0; ARCA_EINVAL (tier out of range).
 */
int arca_store_tier_set_promote(arca_store *store, size_t tier, int promote);

/**
 * Write a tier URL without its password, for messages: the ":PASSWORD"
 * of the userinfo and any "password=" query parameter are removed. Works
 * on malformed URLs too. The form every libarca message names a tier by.
 *
 * @param[out] out   size bytes, always NUL-terminated (truncated if need
 *                   be).
 * @param[in]  size  bytes of out (0: nothing written).
 * @param[in]  url   the URL; NULL gives "(null)".
 */
void arca_url_redact(char *out, size_t size, const char *url);

/** States of a tier's circuit breaker (docs/tiers.md). */
typedef enum arca_breaker_state {
	ARCA_BREAKER_CLOSED = 0,    /* calls go to the tier */
	ARCA_BREAKER_OPEN = 1,      /* calls skip it until the cool-down ends */
	ARCA_BREAKER_HALF_OPEN = 2  /* one probe call decides */
} arca_breaker_state;

#define ARCA_BREAKER_FAILURES_DEFAULT 3   /* consecutive errors/timeouts */
#define ARCA_BREAKER_COOLDOWN_DEFAULT 60  /* seconds */

/**
 * A configured remote tier (see "Remote tiers" at arca_store_open()),
 * whether it was opened or not, with its breaker and the figures every
 * process of the machine recorded for it in the store (DIR/tiers/). The
 * strings belong to the handle, valid until arca_store_close().
 */
typedef struct arca_remote_info {
	const char *url;          /* the URL, password removed */
	const char *source;       /* where it was configured: "PATH:LINE",
	                           * "ARCA_TIERS", "the caller's options" */
	size_t tier;              /* its index for arca_store_tier_stats()
	                           * and arca_tier_push(); 0: not opened */
	int open_error;           /* 0, or why it was not opened (an ARCA_E*
	                           * code; ARCA_EUNAVAILABLE for an open
	                           * breaker) */
	const char *open_message; /* that failure's one line, or "" */
	arca_tier_options opts;   /* the options it was (to be) added with */
	arca_breaker_state breaker; /* as the state file says now */
	uint64_t failures;        /* consecutive failures counted so far */
	int64_t opened_at;        /* when the breaker last opened (s since
	                           * the epoch), 0: never */
	/* Totals of every handle closed so far (persisted at
	 * arca_store_close()) plus this handle's own. */
	arca_tier_stats totals;
} arca_remote_info;

/**
 * The number of configured remote tiers of the handle, opened or not.
 *
 * @param[in] store  open store.
 * @return the number; 0 for NULL.
 */
size_t arca_store_remote_count(const arca_store *store);

/**
 * Describe configured remote tier i (0 ... arca_store_remote_count() - 1;
 * not a tier index: a tier left out has no tier index).
 *
 * @param[out] out    the description (strings owned by the handle).
 * @param[in]  store  open store.
 * @param[in]  i      which configured tier.
 * @return 0; ARCA_EINVAL (i out of range).
 */
int arca_store_remote_info(arca_remote_info *out, arca_store *store,
		size_t i);

/** What arca_tier_push() and arca_tier_pull() moved. */
typedef struct arca_transfer {
	uint64_t actions;        /* action entries written */
	uint64_t actions_present;/* entries the destination already had */
	uint64_t blobs;          /* blobs copied (manifests included) */
	uint64_t blobs_present;  /* blobs the destination already had */
	uint64_t bytes;          /* bytes of the blobs copied */
} arca_transfer;

/**
 * Upload a local action entry to tier `tier` with every blob it
 * references (outputs, stdout, stderr, the manifest), asking the tier
 * first which it lacks (find_missing, REAPI's FindMissingBlobs) and
 * sending only those; then the entry, without a TTL (the tier's own
 * eviction applies). Blobs over the tier's max_blob_size make the entry
 * not stored (an entry never names blobs its tier lacks). The breaker applies: an open one skips
 * the call. Results are added to *out (zero it first).
 *
 * @param[in,out] out    totals, added to; may be NULL.
 * @param[in]     store  open store.
 * @param[in]     tier   1 ... arca_store_tier_count() - 1, a writable tier.
 * @param[in]     key    the action key (in tier 0).
 * @return 0; ARCA_ENOTFOUND (no such entry in tier 0); ARCA_EINVAL (tier
 *         out of range or read-only); ARCA_ENOTSTORED (the tier declined a
 *         blob or the entry); the tier's errors (ARCA_EUNAVAILABLE when
 *         its breaker is open, ARCA_ETIMEOUT, ARCA_EIO, ARCA_EPERM,
 *         ARCA_EFULL); ARCA_ENOMEM. arca_errmsg() names the tier.
 */
int arca_tier_push(arca_transfer *out, arca_store *store, size_t tier,
		const arca_digest *key);

/**
 * Warm tier 0 with an action entry of the remote tiers (DVC's pull): the
 * first remote tier that has it, verified, is copied into tier 0 with
 * every blob it references, whatever the tier's promote option. An entry
 * tier 0 already has is left alone (counted in actions_present).
 *
 * @param[in,out] out    totals, added to; may be NULL.
 * @param[in]     store  open, writable store.
 * @param[in]     key    the action key.
 * @return 0; ARCA_ENOTFOUND (no tier has a usable entry); ARCA_EPERM
 *         (read-only store); tier 0's errors (ARCA_EFULL, ARCA_EIO);
 *         ARCA_ENOMEM.
 */
int arca_tier_pull(arca_transfer *out, arca_store *store,
		const arca_digest *key);

/**
 * Called by arca_tier_test() after each step.
 *
 * @param[in] step    "put", "get" or "delete".
 * @param[in] result  0 or the step's ARCA_E* code.
 * @param[in] ms      the step's duration in milliseconds.
 * @param[in] ctx     the caller's context.
 */
typedef void (*arca_tier_test_cb)(const char *step, int result,
		uint64_t ms, void *ctx);

/**
 * Probe tier `tier` directly (not through the breaker, the fall-through
 * or the write-through): put a small probe blob, read it back and
 * verify its bytes, then delete a probe action entry (the backend
 * interface has no blob removal; blobs leave a remote tier by its own
 * expiry). Stops at the first failed step.
 *
 * @param[in] store  open store.
 * @param[in] tier   1 ... arca_store_tier_count() - 1.
 * @param[in] cb     called after every step; may be NULL.
 * @param[in] ctx    passed to cb.
 * @return 0; the first failed step's code (ARCA_EUNAVAILABLE,
 *         ARCA_ETIMEOUT, ARCA_EPERM, ARCA_EIO, ARCA_ECORRUPT for bytes
 *         read back wrong, ARCA_EINVAL for a tier out of range, or a
 *         read-only tier: its put is skipped, not failed).
 */
int arca_tier_test(arca_store *store, size_t tier, arca_tier_test_cb cb,
		void *ctx);

/* ------------------------------------------------------------------ */
/* Blobs (CAS)                                                          */
/* ------------------------------------------------------------------ */

/**
 * Store bytes as a blob; identical content is stored once.
 *
 * The blob is pinned while it is stored (see "Capacity and lifecycle")
 * and evictable once this returns, however recent: a program that puts
 * blobs and then the action naming them should let the stage runner do
 * it (arca_stage_commit(), arca_get_or_compute()), which keeps them
 * pinned until the action is committed; otherwise arca_action_put() may
 * find one evicted meanwhile and fail ARCA_EINVAL.
 *
 * A new blob stored as a file (above the inline threshold) must fit
 * under arca_options.max_size: least recently used entries are evicted
 * first to make room, and when what is left is pinned or leased the put
 * fails ARCA_EFULL, leaving nothing behind, with arca_errmsg() naming the
 * store, the blob's size, the limit and the pinned bytes (the case in
 * which bazel-remote answers 507 Insufficient Storage). Content already
 * stored needs no room.
 *
 * @param[out] out    the blob's digest; may be NULL.
 * @param[in]  store  open store.
 * @param[in]  data   bytes; may be NULL when len is 0.
 * @param[in]  len    number of bytes.
 * @return 0; ARCA_EFULL (no space on the device, or over the store's
 *         limit with nothing left to evict); ARCA_EPERM (read-only
 *         store); ARCA_EFATAL; ARCA_EBUSY; ARCA_EIO; ARCA_ENOMEM.
 */
int arca_blob_put(arca_digest *out, arca_store *store,
		const void *data, size_t len);

/**
 * Store a file's content as a blob. The file is read once: hashed while
 * it is copied into tmp/, fsynced, renamed into blobs/ (or inserted in
 * the index when small), and the directory fsynced, before the index row
 * is committed. Pins and the size limit (ARCA_EFULL) as arca_blob_put().
 *
 * @param[out] out       the digest; may be NULL.
 * @param[out] size_out  bytes stored; may be NULL.
 * @param[in]  store     open store.
 * @param[in]  path      regular file to read.
 * @return as arca_blob_put(), plus ARCA_ENOTFOUND (no such file) and
 *         ARCA_EINVAL (not a regular file).
 */
int arca_blob_put_file(arca_digest *out, uint64_t *size_out,
		arca_store *store, const char *path);

/**
 * Read a blob into memory, verifying its digest.
 *
 * On a digest mismatch the blob is moved to quarantine/, its index row
 * and every action whose manifest it is are removed, and ARCA_ECORRUPT is
 * returned: wrong bytes are never handed out.
 *
 * @param[out] out     the content (caller frees with arca_buf_free());
 *                     left empty on error.
 * @param[in]  store   open store.
 * @param[in]  digest  the blob's digest.
 * @return 0; ARCA_ENOTFOUND; ARCA_ECORRUPT; ARCA_EIO; ARCA_ENOMEM.
 */
int arca_blob_get(arca_buf *out, arca_store *store, const arca_digest *digest);

/**
 * Materialise a blob as the file at path, verified, atomically: the
 * content is written to a temporary file in path's directory, checked
 * against the digest and renamed over path. On any error path is left as
 * it was. The temporary file is unnamed (O_TMPFILE) until it is renamed,
 * so a process killed meanwhile leaves nothing in path's directory; where
 * the file system lacks O_TMPFILE it is named ".NAME.arca-XXXXXX" and
 * recorded in the store's tmp/, and the next open of the store removes it
 * if its writer died (docs/cli.md, "Restore temp files"). The file is not fsynced (the store's copy is the durable one):
 * after a power cut it may be missing or truncated, and running the stage
 * again restores it. A path naming a character device or a FIFO
 * (/dev/null, a named pipe) is written into, as by arca_blob_write_fd(),
 * never replaced; one naming a directory or another non-regular file is
 * ARCA_EINVAL.
 *
 * @param[in] store   open store.
 * @param[in] digest  the blob's digest.
 * @param[in] path    destination file (its directory must exist).
 * @param[in] mode    permission bits for the file (e.g. 0644).
 * @return 0; ARCA_ENOTFOUND; ARCA_ECORRUPT (quarantined as for
 *         arca_blob_get()); ARCA_EPERM (destination not writable);
 *         ARCA_EINVAL (path is a directory, a socket, a block device);
 *         ARCA_EFULL; ARCA_EIO; ARCA_ENOMEM.
 */
int arca_blob_get_file(arca_store *store, const arca_digest *digest,
		const char *path, unsigned int mode);

/**
 * Stream a blob, verified, to a file descriptor (for example stdout).
 * Bytes are written as they are read, so on ARCA_ECORRUPT some bytes of
 * a large file blob may already have been written: write to a pipe or
 * file you can discard, or use arca_blob_get()/arca_blob_get_file()
 * when no wrong byte may ever reach the destination. Inline blobs (at
 * most inline_threshold bytes) are verified before any byte is written.
 *
 * @param[in] store   open store.
 * @param[in] digest  the blob's digest.
 * @param[in] fd      destination descriptor.
 * @return as arca_blob_get().
 */
int arca_blob_write_fd(arca_store *store, const arca_digest *digest, int fd);

/**
 * Whether a blob is present, and its size, without reading it.
 *
 * @param[out] size_out  bytes; may be NULL.
 * @return 0 if present; ARCA_ENOTFOUND; ARCA_EIO.
 */
int arca_blob_stat(uint64_t *size_out, arca_store *store,
		const arca_digest *digest);

/**
 * Open a blob stored as a file in tier 0 for reading, verified, so that
 * a server can hand the descriptor to the kernel (sendfile(2)) instead
 * of copying the bytes. The whole file is hashed before the descriptor
 * is returned (which also brings it into the page cache); on a mismatch
 * it is quarantined as by arca_blob_get(). Exception: within 10 minutes
 * of a hash by this handle of the very same file (same device, inode,
 * size, mtime and ctime to the nanosecond, the file then at least 2 s
 * old), it is not hashed again: no change through the file system
 * leaves that identity as it was (docs/server.md, "Performance", has
 * the argument and its limits). The name may be
 * unlinked later by eviction: the descriptor keeps reading the same,
 * verified bytes (file blobs are never written in place). The read
 * counts as a use for the LRU order.
 *
 * @param[out] fd_out    a descriptor opened O_RDONLY | O_CLOEXEC at
 *                       offset 0, which the caller closes; -1 when the
 *                       blob exists but is not a file of tier 0 (inline
 *                       in the index, or only in a later tier): read it
 *                       with arca_blob_get() or arca_blob_write_fd().
 * @param[out] size_out  the blob's size in bytes; may be NULL.
 * @param[in]  store     open store.
 * @param[in]  digest    the blob's digest.
 * @return 0; ARCA_ENOTFOUND; ARCA_ECORRUPT; ARCA_EIO; ARCA_ENOMEM;
 *         ARCA_EINVAL (a NULL argument).
 */
int arca_blob_open(int *fd_out, uint64_t *size_out, arca_store *store,
		const arca_digest *digest);

/**
 * A blob written in pieces (a network upload): the store hashes the bytes
 * as they are written and, at commit, stores what it hashed. The bytes go
 * to memory while they are at most inline_threshold, then to a temporary
 * file of the store's tmp/ that has no name (O_TMPFILE; where the file
 * system lacks it, a flock'ed temp file that the next open of the store
 * removes if its writer died); the commit fsyncs that file and renames it
 * into blobs/ as arca_blob_put_file() does, without a second copy or a
 * second hash. Until the commit nothing is visible: a writer freed, or a
 * process killed, mid-write leaves no blob and no index row.
 *
 * A writer belongs to one store handle and, like it, to one thread at a
 * time; other calls on the handle may come between its writes.
 */
typedef struct arca_blob_writer arca_blob_writer;

/**
 * Start a blob writer.
 *
 * @param[out] out    the writer, freed with arca_blob_writer_free().
 * @param[in]  store  open, writable store.
 * @return 0; ARCA_EPERM (read-only store); ARCA_EFATAL; ARCA_EFULL or
 *         ARCA_EIO (the temp file cannot be created); ARCA_ENOMEM;
 *         ARCA_EINVAL (a NULL argument).
 */
int arca_blob_writer_open(arca_blob_writer **out, arca_store *store);

/**
 * Append bytes to the blob being written, hashing them.
 *
 * @param[in] w     an open writer, not committed.
 * @param[in] data  bytes; may be NULL when len is 0.
 * @param[in] len   number of bytes.
 * @return 0; ARCA_EFULL (no space for the temp file); ARCA_EIO;
 *         ARCA_ENOMEM; ARCA_EINVAL (committed or failed writer). After a
 *         failure the writer only accepts arca_blob_writer_free().
 */
int arca_blob_writer_write(arca_blob_writer *w, const void *data,
		size_t len);

/**
 * Store what was written as a blob: the digest is the one the store
 * computed over the written bytes. With expected (may be NULL) the blob
 * is stored only if that digest equals it (a client's claimed digest is
 * checked, never trusted). Pins, the size limit (ARCA_EFULL), write-
 * through to later tiers and automatic eviction as arca_blob_put_file().
 * A writer commits once; free it afterwards in any case.
 *
 * @param[out] out       the digest of the written bytes, also on
 *                       ARCA_ECORRUPT; may be NULL.
 * @param[out] size_out  bytes written; may be NULL.
 * @param[in]  w         the writer.
 * @param[in]  expected  the digest the bytes must have, or NULL.
 * @return 0; ARCA_ECORRUPT (the bytes hash to another digest than
 *         expected: nothing stored); ARCA_EFULL; ARCA_EPERM; ARCA_EFATAL;
 *         ARCA_EBUSY; ARCA_EIO; ARCA_ENOMEM; ARCA_EINVAL (committed or
 *         failed writer).
 */
int arca_blob_writer_commit(arca_digest *out, uint64_t *size_out,
		arca_blob_writer *w, const arca_digest *expected);

/**
 * Free a writer; an uncommitted one is abandoned and its temp file
 * removed. Accepts NULL.
 */
void arca_blob_writer_free(arca_blob_writer *w);

/* ------------------------------------------------------------------ */
/* Action keys                                                          */
/* ------------------------------------------------------------------ */

/**
 * An action under construction: everything that determines a stage's
 * result. Its key is SHA-256 over the canonical encoding specified in
 * docs/action-key.md (version 1): tagged, length-prefixed fields, inputs,
 * parameters and environment sorted by name, so that no two different
 * actions encode to the same bytes. Every string must be valid UTF-8
 * (manifests are JSON); others are refused with ARCA_EINVAL.
 */
typedef struct arca_action arca_action;

/**
 * Create an action for a stage.
 *
 * @param[out] out    the action; free with arca_action_free().
 * @param[in]  stage  stage name (non-empty UTF-8), copied.
 * @return 0; ARCA_EINVAL (empty or NULL stage); ARCA_ENOMEM.
 */
int arca_action_new(arca_action **out, const char *stage);

/** Free an action. Accepts NULL. */
void arca_action_free(arca_action *action);

/**
 * Append one argument of the command's argv (order matters). Copied.
 * @return 0; ARCA_EINVAL (NULL arg); ARCA_ENOMEM.
 */
int arca_action_add_arg(arca_action *action, const char *arg);

/**
 * Add an input: a logical name (e.g. the path as given) and the digest of
 * its content. Names must be unique within the action.
 * @return 0; ARCA_EEXISTS (duplicate name); ARCA_EINVAL; ARCA_ENOMEM.
 */
int arca_action_add_input(arca_action *action, const char *name,
		const arca_digest *digest);

/**
 * Add a parameter NAME=VALUE (copied). Names are unique across plain and
 * secret parameters.
 * @return 0; ARCA_EEXISTS; ARCA_EINVAL (empty name); ARCA_ENOMEM.
 */
int arca_action_add_param(arca_action *action, const char *name,
		const char *value);

/**
 * Add a secret parameter: only SHA-256(value) enters the key; the value
 * itself is not kept by the action (nor ever written to a store). The name
 * is kept and appears in manifests. Only random secrets (tokens) are
 * protected: whoever can read the store can test guesses of a weak one
 * against the key.
 * @return as arca_action_add_param(), plus ARCA_EIO (libcrypto failure).
 */
int arca_action_add_secret_param(arca_action *action, const char *name,
		const char *value);

/**
 * Add an environment variable the result depends on. value NULL means the
 * variable is unset, which encodes differently from the empty string.
 * @return 0; ARCA_EEXISTS; ARCA_EINVAL (empty name, or one containing
 *         '='); ARCA_ENOMEM.
 */
int arca_action_add_env(arca_action *action, const char *name,
		const char *value);

/**
 * Declare an output by its relative path. Unique within the action.
 * @return 0; ARCA_EEXISTS; ARCA_EINVAL (empty, absolute, or with a ".."
 *         component: a manifest never writes outside the working
 *         directory); ARCA_ENOMEM.
 */
int arca_action_add_output(arca_action *action, const char *path);

/** Kinds of tool identity. */
typedef enum arca_tool_kind {
	ARCA_TOOL_NONE = 0,    /* not set */
	ARCA_TOOL_DIGEST = 1,  /* the SHA-256 of the executable's file */
	ARCA_TOOL_VERSION = 2  /* a version string declared by the user */
} arca_tool_kind;

/**
 * Set the tool identity: for ARCA_TOOL_DIGEST, ident is the 64-hex digest
 * of the executable; for ARCA_TOOL_VERSION, any string; ARCA_TOOL_NONE
 * clears the identity (ident is ignored). Replaces an earlier identity.
 * @return 0; ARCA_EINVAL (bad kind or digest); ARCA_ENOMEM.
 */
int arca_action_set_tool(arca_action *action, arca_tool_kind kind,
		const char *ident);

/**
 * The canonical encoding (docs/action-key.md, version 1) whose SHA-256 is
 * the action key. Exposed for test vectors and debugging.
 *
 * @param[out] out  the bytes; free with arca_buf_free().
 * @return 0; ARCA_ENOMEM.
 */
int arca_action_encode(arca_buf *out, const arca_action *action);

/**
 * The action key: SHA-256 of arca_action_encode()'s bytes.
 * @return 0; ARCA_ENOMEM; ARCA_EIO.
 */
int arca_action_key(arca_digest *out, const arca_action *action);

/** The stage name (owned by the action). */
const char *arca_action_stage(const arca_action *action);

/* ------------------------------------------------------------------ */
/* Manifests                                                            */
/* ------------------------------------------------------------------ */

/** One output of an action. */
typedef struct arca_manifest_output {
	char *path;          /* relative path as declared */
	arca_digest digest;  /* content digest */
	uint64_t size;       /* bytes */
	unsigned int mode;   /* permission bits, e.g. 0644 */
} arca_manifest_output;

/** One input of an action. */
typedef struct arca_manifest_input {
	char *name;          /* logical name */
	arca_digest digest;  /* content digest */
} arca_manifest_input;

/** A name/value pair (parameters, environment). */
typedef struct arca_manifest_kv {
	char *name;
	char *value;         /* NULL: unset environment variable */
} arca_manifest_kv;

#define ARCA_MANIFEST_VERSION 1

/**
 * What an action produced, stored (as JSON) against its action key. All
 * strings and arrays are malloc'd and owned by the manifest; release the
 * whole with arca_manifest_free().
 */
typedef struct arca_manifest {
	unsigned int version;          /* ARCA_MANIFEST_VERSION */
	arca_digest key;               /* the action key */
	char *stage;
	char **argv;
	size_t argc;
	arca_manifest_input *inputs;
	size_t n_inputs;
	arca_manifest_kv *params;      /* non-secret parameters only */
	size_t n_params;
	char **secret_params;          /* names only; values never stored */
	size_t n_secret_params;
	arca_manifest_kv *env;
	size_t n_env;
	char *tool;                    /* "digest:<hex>" or "version:<s>", or NULL */
	arca_manifest_output *outputs;
	size_t n_outputs;
	int exit_status;               /* the command's exit status */
	arca_digest stdout_digest;
	uint64_t stdout_size;          /* bytes */
	arca_digest stderr_digest;
	uint64_t stderr_size;          /* bytes */
	uint64_t duration_ms;          /* wall time of the command */
	int64_t created;               /* seconds since the epoch */
} arca_manifest;

/**
 * Start a manifest from an action: copies key, stage, argv, inputs,
 * non-secret parameters, secret parameter names, environment and tool.
 *
 * @param[out] out     the manifest; free with arca_manifest_free().
 * @param[in]  action  the action (its key is computed here).
 * @return 0; ARCA_ENOMEM; ARCA_EIO.
 */
int arca_manifest_from_action(arca_manifest **out, const arca_action *action);

/**
 * Append an output record (path copied).
 * @return 0; ARCA_EINVAL (unsafe or duplicate path, mode above 07777,
 *         size above INT64_MAX); ARCA_ENOMEM.
 */
int arca_manifest_add_output(arca_manifest *m, const char *path,
		const arca_digest *digest, uint64_t size, unsigned int mode);

/** Free a manifest and everything it owns. Accepts NULL. */
void arca_manifest_free(arca_manifest *m);

/**
 * Serialise a manifest as JSON (RFC 8259, via jansson), keys in a fixed
 * order, so that equal manifests give equal bytes. The schema is
 * documented in docs/manifest.md. Sizes and durations are limited to
 * INT64_MAX (JSON integers as jansson holds them).
 *
 * @param[out] out  the JSON text; free with arca_buf_free().
 * @return 0; ARCA_EINVAL (NULL fields that are required); ARCA_ENOMEM.
 */
int arca_manifest_to_json(arca_buf *out, const arca_manifest *m);

/**
 * Parse a manifest from JSON.
 *
 * @param[out] out   the manifest; free with arca_manifest_free().
 * @param[in]  json  the text (need not be NUL-terminated).
 * @param[in]  len   its length in bytes.
 * @return 0; ARCA_EINVAL (not JSON, a missing or mistyped field, an
 *         unknown version: arca_errmsg() names the field and position);
 *         ARCA_ENOMEM.
 */
int arca_manifest_from_json(arca_manifest **out, const char *json, size_t len);

/* ------------------------------------------------------------------ */
/* Action cache                                                         */
/* ------------------------------------------------------------------ */

/**
 * Record a manifest against its action key (m->key). The manifest is
 * stored as a blob and the index row that points to it is committed in
 * one transaction, together with the rows that name the action's input
 * digests and the blobs it references. Every blob it references (outputs,
 * stdout, stderr) must already be in the store. Replaces an existing
 * entry for the same key. The manifest blob stays pinned until the entry
 * is committed.
 *
 * @return 0; ARCA_EINVAL (a referenced blob is missing, perhaps evicted
 *         since it was put: arca_errmsg() names it); ARCA_EFULL;
 *         ARCA_EPERM; ARCA_EFATAL; ARCA_EBUSY; ARCA_EIO; ARCA_ENOMEM.
 */
int arca_action_put(arca_store *store, const arca_manifest *m);

/**
 * Look up an action key. A hit updates the entry's last access time and
 * hit count. The manifest blob is verified; the blobs it references are
 * checked for presence (not re-hashed: that happens when they are read).
 * An entry whose manifest is corrupt or unreadable, or that references a
 * missing blob, is removed and reported as a miss.
 *
 * @param[out] out    the manifest; free with arca_manifest_free().
 * @param[in]  store  open store.
 * @param[in]  key    the action key.
 * @return 0 (hit); ARCA_ENOTFOUND (miss); ARCA_EIO; ARCA_ENOMEM.
 */
int arca_action_get(arca_manifest **out, arca_store *store,
		const arca_digest *key);

/**
 * arca_action_get() for inspection: the same checks and return codes, but
 * the entry's last access time and hit count are left alone (for status
 * reports and listings that must not count as use).
 */
int arca_action_peek(arca_manifest **out, arca_store *store,
		const arca_digest *key);

/**
 * Remove one action entry, and every blob only it referenced.
 * @return 0; ARCA_ENOTFOUND; ARCA_EPERM; ARCA_EBUSY; ARCA_EIO.
 */
int arca_action_remove(arca_store *store, const arca_digest *key);

/**
 * Resolve a unique prefix (at least 4 hex characters) of an action key.
 *
 * @param[out] out     the full key.
 * @param[in]  prefix  hex characters.
 * @return 0; ARCA_ENOTFOUND (no key has this prefix); ARCA_EEXISTS (more
 *         than one key has it: the prefix is ambiguous); ARCA_EINVAL (not
 *         hex, or shorter than 4); ARCA_EIO.
 */
int arca_action_resolve(arca_digest *out, arca_store *store,
		const char *prefix);

/** What the index knows about an action entry. */
typedef struct arca_action_info {
	arca_digest key;
	const char *stage;       /* valid during the callback only */
	uint64_t size;           /* bytes of outputs + stdout + stderr */
	int64_t created;         /* seconds since the epoch */
	int64_t last_access;     /* seconds since the epoch */
	uint64_t hits;           /* times served from the cache */
	uint64_t duration_ms;    /* compute time the entry saves per hit */
} arca_action_info;

/**
 * Callback for arca_action_list(); return non-zero to stop early (that
 * value is returned by arca_action_list()).
 */
typedef int (*arca_action_cb)(const arca_action_info *info, void *ctx);

/**
 * List action entries, most recently created first.
 *
 * @param[in] store  open store.
 * @param[in] stage  only this stage, or NULL for all.
 * @param[in] cb     called once per entry.
 * @param[in] ctx    passed through to cb.
 * @return 0; cb's non-zero value; ARCA_EIO.
 */
int arca_action_list(arca_store *store, const char *stage,
		arca_action_cb cb, void *ctx);

/** Which entries arca_store_clear() removes. */
typedef struct arca_clear_filter {
	int all;                    /* non-zero: everything, blobs included */
	const char *stage;          /* actions of this stage */
	const arca_digest *input;   /* actions that used this input content */
	/* Appended fields (zero: unused). */
	const char *tag;            /* actions and blobs carrying this tag */
	int64_t older_than_s;       /* actions last used more than this many
	                             * seconds ago (> 0) */
	const char *key_prefix;     /* actions whose key starts with these hex
	                             * characters (1 to 64) */
	/* Called once for every action key removed, after the batch that
	 * removed it has committed (so a key reported is gone for good);
	 * key is valid during the call only. NULL: not called. Keeps
	 * `arca serve`'s DELETE /v1/actions able to say what went. */
	void (*on_removed)(const arca_digest *key, void *ctx);
	void *on_removed_ctx;       /* passed through to on_removed */
} arca_clear_filter;

/**
 * Remove action entries matching the filter (exactly one of all / stage /
 * input / tag / older_than_s / key_prefix must be set), and the blobs that
 * only they referenced. With all, every blob no action references is
 * removed as well, including those put directly; with tag, blobs put with
 * that tag (arca_blob_tag()) are removed too when nothing references them.
 *
 * Runs in batches, as arca_store_evict() does: each selects its next
 * entries under the write lock, removes them whole, commits and unlinks
 * their files. Entries stored while it runs may survive it; readers never
 * wait for it, writers at most about one batch. A failure leaves the
 * committed batches done and the store consistent.
 *
 * @param[out] n_removed  number of actions removed (by the committed
 *                        batches, also on failure); may be NULL.
 * @param[out] bytes_freed  bytes of blobs removed (likewise); may be NULL.
 * @param[in]  filter     the criterion; filter->on_removed, if set, hears
 *                        each removed action key as its batch commits
 *                        (also those of batches committed before a
 *                        failure).
 * @return 0; ARCA_EINVAL (no or several criteria); ARCA_EPERM; ARCA_EBUSY;
 *         ARCA_EIO; ARCA_ENOMEM (the keys for on_removed).
 */
int arca_store_clear(uint64_t *n_removed, uint64_t *bytes_freed,
		arca_store *store, const arca_clear_filter *filter);

/* ------------------------------------------------------------------ */
/* Inspection, statistics, verification                                 */
/* ------------------------------------------------------------------ */

/** Totals of a store (arca_store_info()). */
typedef struct arca_store_info {
	uint64_t n_actions;
	uint64_t n_blobs;
	uint64_t n_inline;         /* blobs inside the index */
	uint64_t n_files;          /* blobs as files */
	uint64_t bytes_total;      /* bytes of all blobs */
	uint64_t bytes_inline;
	uint64_t bytes_files;
	uint64_t n_quarantined;    /* files in quarantine/ */
	uint64_t inline_threshold; /* bytes */
} arca_store_info;

/** @return 0; ARCA_EIO. */
int arca_store_get_info(arca_store_info *out, arca_store *store);

/** Counters kept by the store (per stage, and summed). */
typedef struct arca_stats {
	const char *stage;        /* NULL for the overall sum; valid during cb */
	uint64_t hits;
	uint64_t misses;
	uint64_t errors;          /* corrupt entries met, failed stores */
	uint64_t bytes_read;      /* bytes restored from the cache */
	uint64_t bytes_written;   /* bytes stored */
	uint64_t saved_ms;        /* compute time saved by hits */
} arca_stats;

/** What happened, for arca_stats_record(). */
typedef enum arca_event {
	ARCA_EVENT_HIT = 1,
	ARCA_EVENT_MISS = 2,
	ARCA_EVENT_ERROR = 3
} arca_event;

/**
 * Add one event to the stage's counters (today's row; the day is the UTC
 * date). The counts are batched with the handle's access notes: written
 * in one transaction, not synced, when 256 notes are pending, 2 s after
 * the oldest, before arca_stats_list() / arca_stats_days() on this handle,
 * and at arca_store_close(); a power cut can lose the last few
 * (docs/cli.md, "What a hit writes").
 *
 * @param[in] store    open store.
 * @param[in] stage    stage name.
 * @param[in] event    hit, miss or error.
 * @param[in] bytes    bytes read (hit) or written (miss).
 * @param[in] saved_ms compute time saved (hit), else 0.
 * @return 0; ARCA_EPERM; ARCA_EBUSY; ARCA_EIO.
 */
int arca_stats_record(arca_store *store, const char *stage, arca_event event,
		uint64_t bytes, uint64_t saved_ms);

/** Callback for arca_stats_list(); non-zero stops early. */
typedef int (*arca_stats_cb)(const arca_stats *stats, void *ctx);

/**
 * Report the counters: first the overall sum (stage NULL), then one call
 * per stage in name order.
 * @return 0; cb's non-zero value; ARCA_EIO.
 */
int arca_stats_list(arca_store *store, arca_stats_cb cb, void *ctx);

/** Callback for arca_store_verify(): one call per corrupt blob found. */
typedef void (*arca_verify_cb)(const arca_digest *digest, const char *where,
		void *ctx);

/**
 * Check the index, then re-hash every blob.
 *
 * First SQLite's PRAGMA integrity_check
 * (https://www.sqlite.org/pragma.html#pragma_integrity_check) runs on
 * index.db. When it finds damage, the index is moved to quarantine/ and
 * rebuilt from the blob files (see arca_store_index_repair(), which then
 * reports repaired = 1 with the reason: index damage is reported there,
 * never as corrupt blobs). Then every blob of the (possibly rebuilt)
 * index is re-hashed. Corrupt ones (and missing blob files) are moved to
 * quarantine/ (when there is anything to move), removed from the index
 * together with the actions that reference them, and reported to cb. A
 * blob whose bytes hash to its digest is intact even when its index row
 * disagrees (a damaged size or inline flag): the row is corrected.
 * Every blob is re-hashed whatever arca_options.verify says; under
 * ARCA_VERIFY_STAMP an intact large file blob gets its stamp recorded.
 *
 * @param[out] n_checked  blobs checked; may be NULL.
 * @param[out] n_corrupt  blobs found corrupt or missing; may be NULL.
 * @param[in]  cb         may be NULL.
 * @return 0 (whether or not anything was corrupt, and after a repair of
 *         the index); ARCA_EIO (among others: the index is damaged and
 *         the handle is read-only, or the repair failed); ARCA_ENOMEM.
 */
int arca_store_verify(uint64_t *n_checked, uint64_t *n_corrupt,
		arca_store *store, arca_verify_cb cb, void *ctx);

/* ------------------------------------------------------------------ */
/* Capacity and lifecycle: size limit, eviction, TTL, tags, gc           */
/* ------------------------------------------------------------------ */

/*
 * The store's size is the sum of the sizes of all its blobs (inline and
 * files), kept as a counter in the index and updated in the same
 * transaction as the blobs, so reading it costs one row.
 *
 * Eviction removes least recently used entries: actions by their last
 * hit (or creation), with the blobs only they referenced, and blobs that
 * no action or URL references, by their last read or put. Never evicted:
 * blobs pinned by a live writer, and actions whose lease is held
 * (arca_lease_is_held()). Anything else may go however recently it was
 * used: there is no grace period, so a burst of writes cannot take the
 * store past its limit. Its cost grows with what it removes: it walks the
 * LRU indexes from the oldest entry and stops when done.
 *
 * Pins. A store handle pins each blob it puts, in a pin record in the
 * store's tmp/ that it holds a flock(2) on while open, before it looks
 * the blob up or commits its row. A plain put (arca_blob_put(),
 * arca_blob_put_file()) releases its pin when it returns; the stage
 * runner (arca_stage_run(), arca_stage_commit(), arca_get_or_compute()
 * and pipelines) keeps the outputs and captured streams it stores pinned
 * until their action is committed, and arca_action_put() its manifest
 * blob. Eviction and arca_store_gc() read the pins under the index's
 * write lock. A writer that dies loses its pins with its flock; a file it
 * left in blobs/ without an index row is removed by the next eviction or
 * open of the store.
 *
 * Automatic eviction. The effective limit is the smaller of
 * arca_options.max_size and what the file system allows
 * (arca_store_get_space()). Before a new file blob's row is committed,
 * when it would take the store above the effective limit, entries are
 * evicted down to low_watermark_pct percent of it less the blob's size,
 * and the put fails ARCA_EFULL if it still does not fit (checked again
 * under the write lock); after a put (arca_blob_put(),
 * arca_blob_put_file(), arca_action_put()) that leaves the store above
 * the limit (small blobs live in the index and are not checked before),
 * entries are evicted down to low_watermark_pct percent of it. A failure
 * of that eviction does not fail the put.
 *
 * A full disk: the store keeps a preallocated file, DIR/reserve (4 MiB,
 * or an eighth of a smaller file system; not a blob, not in usage). A
 * removal (arca_action_remove(), arca_store_clear(), arca_store_evict(),
 * arca_store_gc()) that finds less free space than that file's size, or
 * whose commit fails ARCA_EFULL, gives the file up and so can commit;
 * the file is re-created as soon as it fits again (and at open;
 * never by a read-only handle). A put of content already stored succeeds
 * on a full disk.
 *
 * Last-access times are written in batches (every 256 hits or reads, 2 s
 * after the first pending one, and at arca_store_close()), and a blob's
 * at most once a minute, so a hit does not cost a write transaction.
 */

/**
 * The store's size and limit.
 *
 * @param[out] bytes     bytes of all blobs; may be NULL.
 * @param[out] max_size  the limit the store was opened with, in bytes (0:
 *                       none); may be NULL. Not the effective limit, which
 *                       the disk may lower: see arca_store_get_space().
 * @param[in]  store     open store.
 * @return 0; ARCA_EBUSY; ARCA_EIO.
 */
int arca_store_usage(uint64_t *bytes, uint64_t *max_size, arca_store *store);

/** The store's limits and the file system under it (arca_store_get_space()). */
typedef struct arca_store_space {
	uint64_t usage;             /* bytes of all blobs */
	uint64_t max_size;          /* arca_options.max_size; 0: none */
	/* What the file system allows the blobs: usage + fs_free +
	 * index_free - disk_reserve (- reserve_file_size while DIR/reserve
	 * is given up); 0: no disk check (disk_reserve 0, or statvfs failed). */
	uint64_t disk_limit;
	/* The effective limit: the smaller of max_size and disk_limit,
	 * ignoring a 0; 0: none. Automatic eviction keeps usage under it. */
	uint64_t limit;
	uint64_t fs_size;           /* bytes of the file system */
	uint64_t fs_free;           /* bytes free to the store's user */
	uint64_t disk_reserve;      /* resolved arca_options.disk_reserve */
	uint64_t reserve_file;      /* bytes DIR/reserve holds now; 0: absent */
	uint64_t reserve_file_size; /* bytes it is kept at */
	/* Free pages inside index.db, in bytes: where evicted inline blobs
	 * leave their space, reused by the next inserts. */
	uint64_t index_free;
} arca_store_space;

/**
 * The store's effective limit and what it is made of: one statvfs(3) of
 * the store's file system, one stat of DIR/reserve, the usage row; no walk.
 *
 * @param[out] out    filled completely.
 * @param[in]  store  open store.
 * @return 0; ARCA_EBUSY; ARCA_EIO.
 */
int arca_store_get_space(arca_store_space *out, arca_store *store);

/**
 * Bytes that eviction cannot remove now because live writers pin them:
 * the sizes of the distinct pinned blobs that have index rows (a blob
 * being written but not yet committed counts nothing). Leased actions are
 * not included. Reads the pin records without the write lock, so the
 * answer may be stale by the time it is returned.
 *
 * @param[out] bytes  bytes of pinned blobs.
 * @param[in]  store  open store.
 * @return 0; ARCA_EBUSY; ARCA_EIO; ARCA_ENOMEM.
 */
int arca_store_pinned(uint64_t *bytes, arca_store *store);

/**
 * Evict least recently used entries until the store holds at most
 * target_bytes (see above for the order and what is never evicted). When
 * everything left is pinned the call still succeeds: compare
 * arca_store_usage() with the target to know.
 *
 * Eviction runs in batches: write transactions of at most 2000 rows or
 * 50 ms (CLOCK_MONOTONIC), whichever comes first. Each re-reads the usage
 * under the write lock, evicts whole entries (an action with its
 * references and the blobs only it held, and the day's eviction counts),
 * commits, and unlinks the files of what it removed before the next batch
 * takes the lock; between batches the lock is free. Readers never wait for
 * an eviction; another writer waits for at most about one batch. A
 * failure (or a crash) leaves the committed batches done and the store
 * consistent.
 *
 * @param[out] n_evicted    actions and unreferenced blobs evicted by the
 *                          committed batches (also on failure); may be
 *                          NULL.
 * @param[out] bytes_freed  bytes of blobs removed (likewise); may be NULL.
 * @param[in]  store        open store (writable).
 * @param[in]  target_bytes the size to get down to, in bytes.
 * @return 0; ARCA_EPERM (read-only); ARCA_EFATAL; ARCA_EBUSY; ARCA_EIO;
 *         ARCA_ENOMEM.
 */
int arca_store_evict(uint64_t *n_evicted, uint64_t *bytes_freed,
		arca_store *store, uint64_t target_bytes);

#define ARCA_PUT_OPTIONS_VERSION 1

/**
 * Options for arca_action_put_ex(). Initialise with ARCA_PUT_OPTIONS_INIT;
 * fields are only ever appended.
 */
typedef struct arca_put_options {
	unsigned int version;     /* ARCA_PUT_OPTIONS_VERSION */
	/* Time to live in seconds from now; 0: the entry does not expire.
	 * An expired entry is a miss and is removed by arca_store_gc(). */
	uint64_t ttl_s;
	/* Tags to attach (arca_store_clear() by tag); n_tags strings. */
	const char *const *tags;
	size_t n_tags;
} arca_put_options;

#define ARCA_PUT_OPTIONS_INIT { ARCA_PUT_OPTIONS_VERSION, 0, NULL, 0 }

/**
 * arca_action_put() with a TTL and tags. The entry, its expiry time and
 * its tags are committed in one transaction after the manifest is stored.
 *
 * @param[in] store  open store.
 * @param[in] m      the manifest (m->key is the action key).
 * @param[in] opts   options, or NULL (then exactly arca_action_put()).
 * @return as arca_action_put(); ARCA_EINVAL also for a bad options
 *         version or an empty tag.
 */
int arca_action_put_ex(arca_store *store, const arca_manifest *m,
		const arca_put_options *opts);

#define ARCA_GET_OPTIONS_VERSION 1

/** Options for arca_action_get_ex(); ARCA_GET_OPTIONS_INIT. */
typedef struct arca_get_options {
	unsigned int version;     /* ARCA_GET_OPTIONS_VERSION */
	/* Non-zero: an entry created more than max_age_s seconds ago is a
	 * miss (left in the store). */
	uint64_t max_age_s;
	/* Non-zero: as arca_action_peek() (no last-access update). */
	int peek;
} arca_get_options;

#define ARCA_GET_OPTIONS_INIT { ARCA_GET_OPTIONS_VERSION, 0, 0 }

/**
 * arca_action_get() with a freshness bound.
 *
 * @param[out] out    the manifest; free with arca_manifest_free().
 * @param[in]  store  open store.
 * @param[in]  key    the action key.
 * @param[in]  opts   options, or NULL for arca_action_get().
 * @return 0 (hit); ARCA_ENOTFOUND (miss, expired, or older than
 *         max_age_s); ARCA_EINVAL (bad options version); ARCA_EIO;
 *         ARCA_ENOMEM.
 */
int arca_action_get_ex(arca_manifest **out, arca_store *store,
		const arca_digest *key, const arca_get_options *opts);

/**
 * Attach a tag to a blob already in the store (`arca put --tag`), so
 * that arca_store_clear() with that tag removes it.
 *
 * @param[in] store   open store.
 * @param[in] digest  the blob.
 * @param[in] tag     the tag (copied; non-empty UTF-8).
 * @return 0; ARCA_ENOTFOUND (no such blob); ARCA_EINVAL (empty tag);
 *         ARCA_EPERM; ARCA_EBUSY; ARCA_EIO.
 */
int arca_blob_tag(arca_store *store, const arca_digest *digest,
		const char *tag);

/** What arca_store_gc() removed, by kind. Bytes are on-disk sizes. */
typedef struct arca_gc_report {
	uint64_t expired_actions;    /* actions past their TTL */
	uint64_t expired_bytes;      /* blobs only they referenced */
	uint64_t unreferenced_blobs; /* blobs nothing references and no
	                              * live writer pins */
	uint64_t unreferenced_bytes;
	uint64_t orphan_files;       /* files in blobs/ without an index row */
	uint64_t orphan_bytes;
	uint64_t temp_files;         /* tmp/ files of dead writers */
	uint64_t temp_bytes;
	uint64_t stale_leases;       /* leases/ files nobody holds */
} arca_gc_report;

/**
 * Collect garbage: expired actions (with the blobs only they
 * referenced), blobs that no action or URL references and no live writer
 * pins, files under blobs/ that have no index row however young (a put
 * publishes its file and commits its row under one write lock; a walk of
 * blobs/: run it now and then, not on every put), temp files and pin
 * records of writers that died, and lease files nobody holds.
 *
 * Expired actions and unreferenced blobs are removed in batches, as
 * arca_store_evict() does (the blobs table is examined in windows of rowids,
 * never in one transaction); readers never wait for gc. On failure, out
 * holds what the committed batches removed.
 *
 * @param[out] out    what was removed; may be NULL.
 * @param[in]  store  open store (writable).
 * @return 0; ARCA_EPERM; ARCA_EFATAL; ARCA_EBUSY; ARCA_EIO; ARCA_ENOMEM.
 */
int arca_store_gc(arca_gc_report *out, arca_store *store);

/** One UTC day of counters, summed over stages (arca_stats_days()). */
typedef struct arca_day_stats {
	int64_t day;              /* days since the epoch (UTC) */
	uint64_t hits;
	uint64_t misses;
	uint64_t errors;
	uint64_t evictions;       /* entries evicted for the size limit */
	uint64_t bytes_evicted;
	uint64_t bytes_read;      /* restored from the cache */
	uint64_t bytes_written;   /* stored */
	uint64_t saved_ms;        /* compute time saved by hits */
} arca_day_stats;

/** Callback for arca_stats_days(); non-zero stops early. */
typedef int (*arca_day_stats_cb)(const arca_day_stats *stats, void *ctx);

/**
 * Report the counters of the last `days` UTC days (today included), one
 * call per day that has any, oldest first.
 *
 * @return 0; cb's non-zero value; ARCA_EINVAL (days is 0); ARCA_EIO.
 */
int arca_stats_days(arca_store *store, unsigned int days,
		arca_day_stats_cb cb, void *ctx);

/**
 * The statistics as one JSON document, the text `arca stats --json`
 * prints (without its final newline) and arca serve answers on
 * GET /v1/stats, so both say the same bytes. Indented by two spaces,
 * keys in this order:
 *  - days 0: {"overall": {...}, "stages": [{"stage": NAME, ...}, ...],
 *    "tiers": [{"url": ..., "breaker": "closed|open|half-open", ...}]};
 *    each counter object has hits, misses, errors, hit_rate (a fraction,
 *    null when there was no lookup), bytes_read, bytes_written, saved_ms
 *    (arca_stats); stages in name order; tiers as arca_store_remote_info()
 *    reports them (every process's totals).
 *  - days N > 0: {"days": [{"date": "YYYY-MM-DD", hits, misses, errors,
 *    evictions, bytes_read, bytes_written, bytes_evicted, saved_ms}]}, one
 *    object per UTC day of the last N with any activity, oldest first
 *    (arca_stats_days()).
 * docs/cli.md ("arca stats") documents the fields.
 *
 * @param[out] out    the UTF-8 text, NUL-terminated; the caller frees it
 *                    with arca_buf_free(). Empty on failure.
 * @param[in]  store  open store.
 * @param[in]  days   0, or the number of days (1 to 36500).
 * @return 0; ARCA_EINVAL (NULL argument, days over 36500); ARCA_ENOMEM;
 *         ARCA_EIO.
 */
int arca_stats_json(arca_buf *out, arca_store *store, unsigned int days);

/* ------------------------------------------------------------------ */
/* Progress                                                             */
/* ------------------------------------------------------------------ */

/**
 * Progress of a long operation (a download, hashing a large file).
 *
 * @param[in] ctx    the caller's context.
 * @param[in] done   bytes processed so far.
 * @param[in] total  bytes expected in all, or 0 when unknown.
 */
typedef void (*arca_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/**
 * arca_digest_file() that reports progress to fn (may be NULL) as it
 * reads. Same parameters, return codes and errors.
 */
int arca_digest_file_progress(arca_digest *out, uint64_t *size_out,
		const char *path, arca_progress_fn fn, void *ctx);

/** Flags of arca_store_digest_file(). */
enum {
	/* Read the file even when the stat cache holds a digest for it
	 * (`--rehash`); the fresh digest replaces the cached one. */
	ARCA_DIGEST_REHASH = 1u << 0
};

/**
 * arca_digest_file_progress() through the store's stat cache: a file
 * whose stat data (device, inode, size, mtime, ctime) matches what the
 * cache recorded when it last hashed the file reuses that digest without
 * reading the file (git's index and DVC's state database do the same).
 * See docs/store.md, "Stat cache", for what is recorded and when an entry
 * is not trusted (the racy case of git's Documentation/technical/
 * racy-git.txt). ARCA_NO_STAT_CACHE=1 in the environment turns the cache
 * off: every call reads the file.
 *
 * @param[out] out       the digest.
 * @param[out] size_out  the file's size in bytes; may be NULL.
 * @param[in]  store     the store whose cache is used; NULL reads the file
 *                       (no cache).
 * @param[in]  path      the file (borrowed).
 * @param[in]  flags     ARCA_DIGEST_* flags, or 0.
 * @param[in]  fn        progress callback while reading; may be NULL.
 * @param[in]  ctx       its context.
 * @return 0, or ARCA_ENOTFOUND, ARCA_EPERM, ARCA_EINVAL (not a regular
 *         file), ARCA_EIO (also: the file changed while it was read).
 */
int arca_store_digest_file(arca_digest *out, uint64_t *size_out,
		arca_store *store, const char *path, unsigned int flags,
		arca_progress_fn fn, void *ctx);

/**
 * Flags added to every arca_store_digest_file() made through store,
 * including the ones libarca makes for stage inputs, pipeline deps and
 * tool executables (arca_stage_prepare()): ARCA_DIGEST_REHASH is what
 * the CLI's `--rehash` sets. 0 restores the default.
 *
 * @param[in] store  open store; NULL, or a store without a stat cache
 *                   (ARCA_NO_STAT_CACHE=1), is accepted and nothing is
 *                   set.
 * @param[in] flags  ARCA_DIGEST_* flags.
 */
void arca_store_set_digest_flags(arca_store *store, unsigned int flags);

/** What the stat cache did through one store handle since it opened. */
typedef struct arca_stat_cache_stats {
	uint64_t hits;          /* digests reused without reading the file */
	uint64_t misses;        /* reads of a file by arca_store_digest_file():
	                           no entry, stat data changed, a racy entry,
	                           ARCA_DIGEST_REHASH, or a re-read of a file
	                           that changed while it was read */
	uint64_t racy;          /* entries whose stat data matched but that
	                           were not trusted (racy-git.txt) */
	uint64_t bytes_hashed;  /* bytes read by those misses */
	uint64_t recorded;      /* entries recorded (racy ones are not) */
} arca_stat_cache_stats;

/**
 * The stat cache's counters of this handle (never written to the store;
 * `arca run -v` prints them).
 *
 * @param[out] out    the counters.
 * @param[in]  store  open store.
 * @return 0; ARCA_EINVAL (NULL argument); ARCA_ENOMEM.
 */
int arca_store_stat_cache_stats(arca_stat_cache_stats *out,
		arca_store *store);

/* ------------------------------------------------------------------ */
/* URL inputs                                                           */
/* ------------------------------------------------------------------ */

#define ARCA_FETCH_OPTIONS_VERSION 2
#define ARCA_DEFAULT_MAX_AGE_S 86400

/**
 * Options for arca_fetch(). Initialise with ARCA_FETCH_OPTIONS_INIT;
 * fields are only ever appended.
 */
typedef struct arca_fetch_options {
	unsigned int version;      /* ARCA_FETCH_OPTIONS_VERSION */
	/* The cached body is fresh for this many seconds after it was last
	 * fetched or revalidated: no request is made. 0: always revalidate. */
	int64_t max_age_s;
	/* When > 0, replaces max_age_s: the cached body is fresh while the
	 * clock is in the same time bucket (floor(now / time_bucket_s)) as the
	 * last fetch or revalidation. */
	int64_t time_bucket_s;
	/* Non-zero: when the server cannot be reached, fail instead of using
	 * a stale cached copy (stale-if-error, RFC 5861). */
	int no_stale;
	/* Give up a transfer after this many ms; 0 means 300000. */
	unsigned int timeout_ms;
	/* Called as the body arrives; may be NULL. */
	arca_progress_fn progress;
	void *progress_ctx;
	/* Non-zero: make no request (for status reports and dry runs). A
	 * cached copy comes back with ARCA_FETCH_FRESH when it is fresh by
	 * the rule above and ARCA_FETCH_STALE when a request would have been
	 * made; without one, ARCA_ENOTFOUND. (Version 2.) */
	int offline;
} arca_fetch_options;

#define ARCA_FETCH_OPTIONS_INIT \
	{ ARCA_FETCH_OPTIONS_VERSION, ARCA_DEFAULT_MAX_AGE_S, 0, 0, 0, NULL, \
	  NULL, 0 }

/** How arca_fetch() got its answer. */
typedef enum arca_fetch_status {
	ARCA_FETCH_FRESH = 1,        /* cached and fresh: no request made */
	ARCA_FETCH_NOT_MODIFIED = 2, /* revalidated: the server said 304 */
	ARCA_FETCH_DOWNLOADED = 3,   /* a new body (200) was stored */
	ARCA_FETCH_STALE = 4         /* server unreachable; cached copy used */
} arca_fetch_status;

/** The outcome of arca_fetch(). */
typedef struct arca_fetch_result {
	arca_digest digest;          /* the body's digest (a blob in the store) */
	uint64_t size;               /* its size in bytes */
	arca_fetch_status status;
	int http_status;             /* the final status: 200, 304, the error
	                                status behind a stale result, or 0
	                                when no request was made or none was
	                                answered */
	int64_t fetched_at;          /* seconds since the epoch of the last
	                                download or revalidation */
} arca_fetch_result;

/**
 * Fetch a URL through the cache, with HTTP validators (RFC 9110 section
 * 13.1, RFC 9111): the body is stored as a blob, its ETag and
 * Last-Modified are kept with the URL's entry in the index. Within the
 * freshness rule of opts the cached body is returned without touching the
 * network; after it a conditional request (If-None-Match /
 * If-Modified-Since) is made, a 304 keeps the cached body, a 200 stores
 * the new one. The body is downloaded into the store's tmp/ and only
 * published once complete (a dropped connection leaves no entry).
 * Uses libcurl; http and https URLs only.
 *
 * With ARCA_FETCH_STALE, arca_errmsg() says why the server could not be
 * used (as for ARCA_EUNAVAILABLE), for the caller's warning.
 *
 * @param[out] out    the result.
 * @param[in]  store  open store.
 * @param[in]  url    the URL.
 * @param[in]  opts   options, or NULL for defaults.
 * @return 0 (out->status says how); ARCA_EINVAL (not an http(s) URL, bad
 *         options); ARCA_EUNAVAILABLE (cannot connect, DNS, an HTTP error
 *         status, a cut transfer) when there is no cached copy or
 *         opts->no_stale is set: arca_errmsg() names the URL and cause;
 *         ARCA_ETIMEOUT; ARCA_EFULL; ARCA_EIO; ARCA_ENOMEM.
 */
int arca_fetch(arca_fetch_result *out, arca_store *store, const char *url,
		const arca_fetch_options *opts);

/* ------------------------------------------------------------------ */
/* Leases and single-flight                                             */
/* ------------------------------------------------------------------ */

/*
 * A lease is the right to compute one action key. At most one holder has
 * a given key's lease at a time, across processes and across the threads
 * of one process (each thread using its own store handle). It is a lock
 * file leases/<hex key> in the store directory held with flock(2): the
 * kernel drops it when its holder exits or is killed, so the lease of a
 * dead holder is free at once, without waiting out a timeout. Leases are
 * local to the machine (flock on a network file system is not reliable).
 */
typedef struct arca_lease arca_lease;

/**
 * Take the lease on an action key, waiting while another holder has it.
 * The wait polls (without blocking in the kernel) with a backoff from
 * 1 ms growing to 50 ms between attempts.
 *
 * @param[out] out         the lease; give it back with
 *                         arca_lease_release(). NULL on error.
 * @param[in]  store       open store (creates leases/ on first use).
 * @param[in]  key         the action key.
 * @param[in]  timeout_ms  how long to wait at most, in milliseconds; 0
 *                         means the store's lock_timeout_ms option
 *                         (ARCA_DEFAULT_LOCK_TIMEOUT_MS unless set).
 * @return 0; ARCA_ETIMEOUT (another holder kept it past timeout_ms: the
 *         caller should compute without the lease rather than hang);
 *         ARCA_EPERM (leases/ cannot be created or written, e.g. a
 *         read-only store); ARCA_EFULL; ARCA_EIO; ARCA_ENOMEM.
 */
int arca_lease_acquire(arca_lease **out, arca_store *store,
		const arca_digest *key, unsigned int timeout_ms);

/**
 * Take the lease on an action key only if it is free now, without
 * waiting (for a caller that wants to say it is about to wait).
 *
 * @param[out] out    the lease, or NULL on error.
 * @param[in]  store  open store.
 * @param[in]  key    the action key.
 * @return 0; ARCA_EBUSY (another holder has it); otherwise as
 *         arca_lease_acquire().
 */
int arca_lease_try_acquire(arca_lease **out, arca_store *store,
		const arca_digest *key);

/**
 * Whether some holder has the lease on an action key, in this process
 * (through another handle or lease) or another. The answer may be stale
 * by the time it is used; callers that must not disturb a writer (eviction)
 * treat "held" as "leave it alone". Creates nothing.
 *
 * @param[in] store  open store.
 * @param[in] key    the action key.
 * @return 1 held; 0 free; ARCA_EIO or ARCA_EPERM when the lock file
 *         cannot be examined (treat as held).
 */
int arca_lease_is_held(arca_store *store, const arca_digest *key);

/**
 * Give a lease back and free it. The lock file is removed first, then
 * unlocked; a waiter that had opened the old file notices and retries on
 * a new one. Accepts NULL.
 */
void arca_lease_release(arca_lease *lease);

/**
 * Compute callback for arca_get_or_compute(): produce the manifest of the
 * action (its key field set to the key asked for), after storing every
 * blob it references (outputs, stdout, stderr) with arca_blob_put() or
 * arca_blob_put_file(). Returns 0 with *out set (the manifest then belongs
 * to libarca), or a negative code, returned to the caller as is.
 */
typedef int (*arca_compute_fn)(arca_manifest **out, void *ctx);

#define ARCA_COMPUTE_OPTIONS_VERSION 2

/**
 * Options for arca_get_or_compute(). Initialise with
 * ARCA_COMPUTE_OPTIONS_INIT; fields are only ever appended.
 */
typedef struct arca_compute_options {
	unsigned int version;         /* ARCA_COMPUTE_OPTIONS_VERSION */
	/* How long to wait for another holder's lease, in ms; 0 means the
	 * store's lock_timeout_ms. */
	unsigned int lock_timeout_ms;
	/* Probabilistic early recomputation of entries that expire (XFetch,
	 * Vattani, Chierichetti and Lowenstein, "Optimal Probabilistic Cache
	 * Stampede Prevention", VLDB 2015; the method python-diskcache's
	 * memoize_stampede uses). A hit on an entry with an expiry time is
	 * treated as a miss when
	 *     now - duration * early_beta * ln(U) >= expires
	 * with duration the entry's compute time in seconds and U uniform in
	 * (0, 1]: the closer to expiry and the longer the computation, the
	 * likelier one caller refreshes it early, so that it never expires
	 * under a crowd. 1.0 is the paper's optimum; larger values recompute
	 * earlier; 0.0 turns it off. Times are libarca's clock
	 * (arca_set_clock()); a test hook, the environment variable
	 * ARCA_TEST_XFETCH_U (a number in (0, 1]), fixes U. */
	double early_beta;
	/* (Version 2; a version 1 struct stops above and gets the defaults.)
	 * The computed result expires ttl_s seconds after it is stored (0:
	 * never), as arca_put_options.ttl_s. */
	uint64_t ttl_s;
	/* Tags attached to the computed result (n_tags strings; borrowed for
	 * the call, copied into the entry). */
	const char *const *tags;
	size_t n_tags;
	/* A cached entry created more than max_age_s seconds ago is a miss
	 * and is recomputed (0: any age), as arca_get_options.max_age_s. */
	uint64_t max_age_s;
} arca_compute_options;

#define ARCA_COMPUTE_OPTIONS_INIT \
	{ ARCA_COMPUTE_OPTIONS_VERSION, 0, 0.0, 0, NULL, 0, 0 }

/**
 * Single-flight memoisation: return the manifest stored for key, or
 * compute it exactly once however many processes and threads ask at the
 * same time.
 *
 * A hit is returned at once. On a miss the key's lease is taken (waiting
 * at most opts->lock_timeout_ms); once it is held the key is looked up
 * again, because the holder that was waited for has usually stored the
 * result (a hit, *computed 0). Otherwise compute is called, the manifest
 * it returns is stored with arca_action_put_ex() (with opts->ttl_s and
 * opts->tags), and the lease is released.
 * When the wait times out, compute is called without the lease (and its
 * result stored), rather than hanging on a stuck holder.
 * With a read-write Redis tier, the local lease's holder also takes the
 * key's lease in Redis (30 s expiry, renewed every 10 s by a thread of
 * libarca's with a connection of its own while compute runs) before
 * computing, and releases it after storing: held by another machine, it
 * waits while looking the key up in every tier, so the other machine's
 * result is a hit; both waits together last at most
 * opts->lock_timeout_ms from the call's start; Redis unreachable or its
 * breaker open, the local lease alone applies (docs/tiers.md,
 * "Cross-host leases"). The blobs
 * compute puts through store stay pinned (never evicted) until the
 * manifest is committed or storing it has failed.
 *
 * With opts->early_beta > 0, a hit on an entry that has an expiry time
 * may be refreshed early (see arca_compute_options): the caller that
 * draws it recomputes if it gets the lease without waiting; if someone
 * else is already refreshing, the current entry is returned.
 *
 * @param[out] out       the manifest; free with arca_manifest_free().
 *                       NULL on error, except after a storing failure
 *                       (see below).
 * @param[out] computed  1 when compute was called by this call, else 0;
 *                       may be NULL.
 * @param[in]  store     open store (this thread's handle).
 * @param[in]  key       the action key.
 * @param[in]  compute   called at most once, on this thread.
 * @param[in]  ctx       passed to compute.
 * @param[in]  opts      options, or NULL for defaults.
 * @return 0; compute's own negative code (nothing stored); ARCA_EINVAL
 *         (bad options version (1 and 2 are accepted), an empty tag,
 *         compute returned no manifest or one for another key); lookup errors (ARCA_EIO, ARCA_ENOMEM); lease
 *         errors other than ARCA_ETIMEOUT (ARCA_EPERM, ARCA_EIO). When
 *         storing the computed manifest fails (ARCA_EFULL, ARCA_EPERM,
 *         ARCA_EINVAL for a referenced blob that is missing, ARCA_EIO),
 *         that code is returned and *out still holds the manifest, for
 *         the caller to use and free.
 */
int arca_get_or_compute(arca_manifest **out, int *computed,
		arca_store *store, const arca_digest *key,
		arca_compute_fn compute, void *ctx,
		const arca_compute_options *opts);

/* ------------------------------------------------------------------ */
/* Time (a test hook)                                                   */
/* ------------------------------------------------------------------ */

/**
 * A source of wall-clock time: seconds since the epoch (UTC).
 * @param[in] ctx  the context given to arca_set_clock().
 */
typedef int64_t (*arca_clock_fn)(void *ctx);

/**
 * Replace the clock libarca reads for every wall-clock time it records or
 * compares (creation and last-access times, TTL expiry, max-age, URL
 * freshness, statistics days). For tests and for
 * embedders that simulate time; timeouts and backoff are measured on
 * CLOCK_MONOTONIC and do not follow it. Process-wide: set it before
 * opening stores, not while other threads use libarca.
 *
 * Without a clock function, the environment variable ARCA_TEST_NOW (an
 * integer, seconds since the epoch; a test hook for the CLI's shell
 * tests) is the time when set, else the system clock (time(2)).
 *
 * @param[in] now_fn  the clock, or NULL to restore the default.
 * @param[in] ctx     passed to now_fn.
 */
void arca_set_clock(arca_clock_fn now_fn, void *ctx);

/**
 * Receives the library's warnings: one line each, without a trailing
 * newline, e.g. "tier redis://cache:6379: circuit breaker open after 3
 * consecutive errors or timeouts; skipped for 60 s".
 *
 * @param[in] line  the message (valid during the call only).
 * @param[in] ctx   the context given to arca_set_log().
 */
typedef void (*arca_log_fn)(const char *line, void *ctx);

/**
 * Route the library's warnings (tiers left out at arca_store_open(),
 * circuit breakers opening and closing) to fn, process-wide. Without a
 * callback (the default, or fn NULL) each line is written to stderr as
 * "arca: warning: LINE". Not thread-safe against concurrent calls of
 * itself; set it before opening stores.
 *
 * @param[in] fn   the callback, or NULL for stderr.
 * @param[in] ctx  passed to fn.
 */
void arca_set_log(arca_log_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif

/* One header per module, all reached through arca/arca.h. */
/* The stage runner (arca_stage_*). */
#include "arca/stage.h"
/* Pipeline files: arca_pipeline_* (parse, load, plan, substitute). */
#include "arca/pipeline.h"
/* Running and predicting a pipeline (arca_pipeline_run, _status):
 * arca/pipeline_run.h, included at the end of arca/stage.h, whose types
 * it uses (stage.h may be the first header a program includes). */

#endif /* ARCA_ARCA_H */
