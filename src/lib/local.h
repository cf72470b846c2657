/*
 * The local tier: an SQLite index (WAL) plus blob files, implementing
 * struct arca_backend, and the local-only interface of tier 0. Internal.
 *
 * store.c reaches the local store's blobs and action cache (blob_get,
 * blob_stat, blob_put, blob_put_fd, ac_get, ac_put, ac_put2, ac_remove)
 * only through its arca_backend table, as it does every other tier. What
 * only a local store can answer or do is called here directly, and is
 * documented in arca.h as operating on tier 0: listing, resolving and
 * clearing actions, info, statistics, verification, URL entries, blob
 * tags, gc, eviction and usage (evict.c, lifecycle.c), and last-access
 * bookkeeping: a hit served by tier 0 is noted with arca__local_touch()
 * or arca__access_note_blob(), not through the table, because LRU order
 * is a property of the local store only (a remote tier keeps its own).
 */
#ifndef ARCA_LOCAL_H
#define ARCA_LOCAL_H

#include "arca/arca.h"
#include "arca/sys/backend.h"

typedef struct arca__local arca__local;

/* Open or create the local store in dir (see arca_store_open). */
int arca__local_open(arca__local **out, const char *dir,
		const arca_options *opts);

/* The backend view of the local store; freeing it closes the store. */
arca_backend *arca__local_backend(arca__local *l);

const char *arca__local_path(const arca__local *l);

/* What this handle's last repair of index.db did (repair.c). */
void arca__local_repair_info(const arca__local *l, arca_index_repair *out);

/* Note a hit on an action entry: last access time and hit count. */
int arca__local_touch(arca__local *l, const arca_digest *key);

/*
 * Last-access bookkeeping (evict.c). A hit, a blob read or a statistics
 * event (arca_stats_record()) is noted in memory and written in one
 * transaction when 256 are pending, 2 s after the oldest, and at close: a
 * hit costs no write transaction of its own, and those commits are never
 * checkpointed (synced) by a handle that made no other (local.c,
 * "Checkpoints"): a power cut can lose the last of them, never an entry.
 */
int arca__access_note_blob(arca__local *l, const arca_digest *digest);
/* Flush, then fold access_log into actions.last_access / hits: before
 * anything that reads the LRU order or hit counts (listing, eviction,
 * gc, clear --older-than). */
int arca__access_apply(arca__local *l);

/*
 * Open the file of blob d in tier 0, read-only, for a tier that uploads
 * from an fd (its blob_put_fd): a large blob is written through without
 * being read into memory. 0 with *fd_out (the caller closes it);
 * ARCA_ENOTFOUND when d has no file (not stored, or stored inline in the
 * index: read it with blob_get). The bytes are not verified here: the
 * receiving tier hashes what it reads and the caller compares that
 * digest with d.
 */
int arca__local_open_blob_file(arca__local *l, const arca_digest *d,
		int *fd_out);

/*
 * Blob d of tier 0 for a restore that may link its file: an inline blob
 * is verified and streamed to sink, as blob_get does (*fd_out -1); a
 * file blob is verified (its file hashed; a mismatch quarantines it and
 * drops the blob: ARCA_ECORRUPT) but not streamed: *fd_out is its file,
 * open read-only at its end (the caller closes it), and path (PATH_MAX
 * bytes) its name in blobs/. opened (may be NULL) is called with the
 * file's descriptor once it is open, before it is hashed, so that the
 * caller can start copying it meanwhile (the copy must not be used
 * unless this returns 0; fd is closed on error). Errors as blob_get
 * (ARCA_ENOTFOUND, ARCA_ECORRUPT, ARCA_EIO, ...).
 */
int arca__local_blob_get_file(arca__local *l, const arca_digest *d,
		arca_sink_fn sink, void *ctx, int *fd_out, char *path,
		void (*opened)(void *ctx, int fd), void *opened_ctx);

/*
 * Publish tmp_path, a complete temp file in tmp/ (open at fd) whose
 * bytes hash to d, as file blob d of size bytes (blob_writer.c): pinned,
 * fsynced, renamed into blobs/ and its row committed, or only marked
 * used when d is stored already. tmp_path is renamed or unlinked on
 * return. As a file blob put: ARCA_EFULL, ARCA_EPERM, ARCA_EFATAL,
 * ARCA_EIO.
 */
int arca__local_publish_tmp(arca__local *l, const arca_digest *d,
		uint64_t size, int fd, const char *tmp_path);

/* After tier 0 stored blob d (size bytes) outside store.c's puts
 * (blob_writer.c): counted in tier 0's stats (error: the put's outcome),
 * and on success written through to the writable tiers and followed by
 * automatic eviction, as arca_blob_put_file() does. */
void arca__store_blob_stored(arca_store *store, const arca_digest *d,
		uint64_t size, int error);

/* Remove a blob's index row (and file) with every action that refers to
 * it, without quarantining it: used when a referenced blob is missing. */
int arca__local_drop_blob(arca__local *l, const arca_digest *digest);

int arca__local_resolve(arca__local *l, arca_digest *out, const char *prefix);
int arca__local_list(arca__local *l, const char *stage, arca_action_cb cb,
		void *ctx);
int arca__local_clear(arca__local *l, uint64_t *n_removed,
		uint64_t *bytes_freed, const arca_clear_filter *filter);
int arca__local_info(arca__local *l, arca_store_info *out);
int arca__local_stats_record(arca__local *l, const char *stage,
		arca_event event, uint64_t bytes, uint64_t saved_ms);
int arca__local_stats_list(arca__local *l, arca_stats_cb cb, void *ctx);
int arca__local_verify(arca__local *l, uint64_t *n_checked,
		uint64_t *n_corrupt, arca_verify_cb cb, void *ctx);

/* A URL's cached body and validators (RFC 9110 section 8.8). */
typedef struct arca__url_entry {
	arca_digest digest;   /* the body's blob */
	uint64_t size;        /* bytes */
	char *etag;           /* ETag as the server sent it, or NULL */
	char *last_modified;  /* Last-Modified as sent, or NULL */
	int64_t fetched_at;   /* seconds since the epoch of the last 200/304 */
} arca__url_entry;

void arca__url_entry_free(arca__url_entry *e);
/* ARCA_ENOTFOUND when the URL has no entry; out's strings are malloc'd. */
int arca__local_url_get(arca__local *l, const char *url, arca__url_entry *out);
/* Insert or replace; the body blob must already be in the store
 * (ARCA_EINVAL otherwise). */
int arca__local_url_put(arca__local *l, const char *url,
		const arca__url_entry *e);
/* After a 304: the entry is fresh again from fetched_at. */
int arca__local_url_touch(arca__local *l, const char *url, int64_t fetched_at);
int arca__local_url_remove(arca__local *l, const char *url);

/* The local tier of a store (store.c), and the store l is tier 0 of
 * (set once by arca_store_open). */
arca__local *arca__store_local(arca_store *store);
void arca__local_set_store(arca__local *l, arca_store *store);

/* After a put: evict down to the low watermark when over max_size
 * (evict.c). Errors are recorded but do not fail the put. */
int arca__store_evict_auto(arca_store *store);

/* arca_store_clear() by tag, age or key prefix (lifecycle.c). */
int arca__lifecycle_clear(arca__local *l, uint64_t *n_removed,
		uint64_t *bytes_freed, const arca_clear_filter *filter);

#endif
