/*
 * The local store's internals, shared by the modules that work on its index
 * (local.c, and the lifecycle modules: eviction, TTL, tags, gc, leases).
 * Internal: never installed, never included by the CLI.
 *
 * Conventions: functions return 0 or an ARCA_E* code with arca_errmsg()
 * set; arca__tx_begin() takes SQLite's write lock (BEGIN IMMEDIATE); work
 * done "in a transaction the caller holds" must run between begin and
 * commit/rollback.
 */
#ifndef ARCA_LOCAL_SQL_H
#define ARCA_LOCAL_SQL_H

#include "local.h"
#include "internal.h"

#include <sqlite3.h>

struct arca__local {
	arca_backend base; /* first member: the backend view */
	char *dir;
	char *blobs_dir;
	char *tmp_dir;
	char *quarantine_dir;
	char *reserve_path;   /* DIR/reserve (space.c) */
	uint64_t reserve_size; /* its size, from the last look (space.c) */
	arca_options opts;
	sqlite3 *db;
	sqlite3_stmt *st_blob_get;
	sqlite3_stmt *st_blob_stat;
	sqlite3_stmt *st_blob_insert;
	sqlite3_stmt *st_ac_get;
	arca__hasher *hasher;
	unsigned char *iobuf; /* IO_CHUNK bytes, reused by reads and writes */
	int fatal;
	/* The busy handler's bound for the statement waiting now (ms; the
	 * handle's busy_timeout_ms unless a caller lowers it) and when that
	 * wait began (arca__mono_ms()). */
	unsigned int busy_limit_ms;
	int64_t busy_since_ms;
	/* evict.c: hits, blob reads and statistics not yet written to the
	 * index. bookkeeping is set while they are written (and while the
	 * hit log is folded): such commits are best-effort and checkpoint
	 * lazily (local.c, "Checkpoints"); durable_writes is set by any other
	 * commit of this handle, and makes its close checkpoint. */
	struct arca__access *access;
	int bookkeeping;
	int durable_writes;
	/* wal_truncate() emptied the WAL: the next commit starts it again
	 * (local.c, "Checkpoints"). */
	int wal_emptied;
	/* stat_cache.c: entries recorded, LRU moves not yet written, and
	 * this handle's counters; NULL until the first use. */
	struct arca__stat_cache *stat_cache;
	/* pin.c: this handle's pin record (tmp/pins-*, flock'ed while
	 * open; NULL until the first put), the pins in it, and the holds
	 * that keep them past the put that made them. */
	char *pin_path;
	int pin_fd;
	size_t pin_n;
	unsigned int pin_hold;
	/* blob_open.c: the file blobs this handle verified lately (their
	 * file's identity when hashed); NULL until the first. */
	struct arca__verified *verified;
	/* The store this is tier 0 of (store.c), for eviction's lease
	 * checks from the put path. */
	arca_store *store;
	/* Index damage (repair.c): SQLite answered SQLITE_CORRUPT or
	 * SQLITE_NOTADB damage_seen times on this handle, last for
	 * damage_reason; db_dev/db_ino name the index.db file this handle
	 * opened, so that a repair can tell whether another process has
	 * already replaced it. */
	unsigned int damage_seen;
	char damage_reason[256];
	int marker_written;   /* index.damaged written for this index */
	int in_repair;
	unsigned long long db_dev, db_ino;
	/* What the last repair by this handle did (arca_store_index_repair). */
	arca_index_repair repair;
	char *repair_reason, *repair_moved_to, *repair_message;
};

/* A growable list of digests. */
typedef struct arca__digest_list {
	arca_digest *items;
	size_t n, cap;
} arca__digest_list;

int arca__digest_list_push(arca__digest_list *list, const void *bytes);
void arca__digest_list_free(arca__digest_list *list);

/* Map an SQLite result to an ARCA_E* code and record the message. Index
 * damage (SQLITE_CORRUPT, SQLITE_NOTADB) is ARCA_EIO, counted in
 * l->damage_seen, and leaves index.damaged in the store so that the next
 * open repairs it (repair.c). */
int arca__sql_error(arca__local *l, int rc, const char *context);
int arca__sql_exec(arca__local *l, const char *sql);
int arca__sql_prepare(arca__local *l, sqlite3_stmt **st, const char *sql);
int arca__tx_begin(arca__local *l);
int arca__tx_commit(arca__local *l);
void arca__tx_rollback(arca__local *l);
/* Reset st, bind digest d as its one parameter, and step it once. */
int arca__step_digest(sqlite3_stmt *st, const arca_digest *d);
/* Run a statement with one digest parameter that returns no rows. */
int arca__sql_run_digest(arca__local *l, const char *sql,
		const arca_digest *d);
/* Collect column 0 (a digest) of every row; bind is a blob of bind_len
 * bytes, text when bind_len < 0, or nothing when NULL. */
int arca__sql_collect(arca__local *l, arca__digest_list *out,
		const char *sql, const void *bind, int bind_len);
/* The same with one integer parameter (a time, in seconds). */
int arca__sql_collect_int64(arca__local *l, arca__digest_list *out,
		const char *sql, int64_t bind);
/* blobs/ab/<hex> of digest d. */
void arca__blob_path(char *out, size_t outsize, const arca__local *l,
		const arca_digest *d);
/* The lowest (pad '0') or highest (pad 'f') digest starting with the hex
 * prefix (at most 64 characters, already validated). */
int arca__hex_prefix_bound(arca_digest *out, const char *prefix, char pad);
/* 0 when the handle may write; ARCA_EPERM (read-only) or ARCA_EFATAL. */
int arca__writable(arca__local *l);

/*
 * Files to unlink once the transaction that deleted their rows commits:
 * a crash in between leaves an orphan file, never a row without its file.
 */
typedef struct arca__removal {
	arca__digest_list files;
	uint64_t bytes;
	uint64_t actions;
	/* Non-NULL: arca__remove_actions() appends each key it removed. */
	arca__digest_list *keys_out;
} arca__removal;

/* Note a blob file to unlink once the removal commits (pinned first, so
 * that a killed remover's file is reaped: pin.h). */
int arca__removal_add(arca__local *l, arca__removal *r, const arca_digest *d);
/* Unlink the files of blobs whose rows were deleted, once committed. */
void arca__removal_finish(arca__local *l, arca__removal *r, int committed);
/* Delete the blob rows among candidates that no action or URL references
 * and no live writer pins (pin.h). In a transaction the caller holds. */
int arca__free_unreferenced(arca__local *l, arca__removal *r,
		const arca__digest_list *candidates);
/* Remove the actions in keys and the blobs only they referenced. In a
 * transaction the caller holds. */
int arca__remove_actions(arca__local *l, arca__removal *r,
		const arca__digest_list *keys);

/*
 * Long removals (eviction, clear, gc, folding the hit log) run as a series
 * of bounded write transactions, batches, so that no other writer waits
 * for more than one of them: a batch ends after ARCA__BATCH_ROWS rows or
 * ARCA__BATCH_MS milliseconds (CLOCK_MONOTONIC), whichever comes first.
 * Each batch is complete in itself (an action goes with its references
 * and the blobs only it held), commits, and has its files unlinked
 * (arca__removal_finish) before the next one begins; a crash between two
 * batches leaves a consistent store with the rest not yet removed.
 */
#define ARCA__BATCH_ROWS 2000
#define ARCA__BATCH_MS 50

typedef struct arca__batch {
	int64_t start_ms;
	uint64_t rows;
} arca__batch;

/* Take the write lock (BEGIN IMMEDIATE) and start b's budget. */
int arca__batch_begin(arca__local *l, arca__batch *b);
/* Count n rows against b's budget; 1 when the batch is full. */
int arca__batch_add(arca__batch *b, uint64_t n);
int arca__batch_full(const arca__batch *b);
/* Between two batches (after the commit and the unlinks): give writers
 * waiting for the lock (their busy handler polls every millisecond) the
 * time to take it. */
void arca__batch_pause(void);

/* Binds the parameters from ?3 on of a batched selection. */
typedef void (*arca__bind_fn)(sqlite3_stmt *st, const void *ctx);

/*
 * Remove in batches the actions whose keys sql selects (column 0), with
 * the blobs only they referenced; with blobs set, the blobs whose digests
 * it selects, those no action or URL references. sql takes ?1, the last
 * key of the previous chunk (an empty blob at first, which sorts before
 * every key), and ?2, the chunk size, and selects in key order past ?1
 * (or, when every row it selects is removed, from the start). bind binds
 * ?3 on (or is NULL). What was removed is added to *n_removed and *bytes
 * as each batch commits, also when a later one fails.
 */
int arca__remove_batched(arca__local *l, uint64_t *n_removed,
		uint64_t *bytes, const char *sql, arca__bind_fn bind,
		const void *ctx, int blobs);
/* The same, calling on_removed(key, cb_ctx) for each action removed once
 * its batch has committed (arca_clear_filter.on_removed); NULL: none. */
int arca__remove_batched_cb(arca__local *l, uint64_t *n_removed,
		uint64_t *bytes, const char *sql, arca__bind_fn bind,
		const void *ctx, int blobs,
		void (*on_removed)(const arca_digest *, void *), void *cb_ctx);

/*
 * Last-access bookkeeping (evict.c). A hit, a blob read or a statistics
 * event (arca_stats_record()) is noted in memory and written in one
 * transaction when 256 are pending, 2 s after the oldest, and at close: a
 * hit costs no write transaction of its own, and those commits are never
 * checkpointed (synced) by a handle that made no other (local.c,
 * "Checkpoints"): a power cut can lose the last of them, never an entry.
 */
/* (arca__access_note_blob and arca__access_apply: local.h.) */
/* Add an event to the pending statistics of stage (written with the
 * access notes, in the same transaction). */
int arca__access_note_stats(arca__local *l, const char *stage,
		arca_event event, uint64_t bytes, uint64_t saved_ms);
/* Write what is pending; errors are recorded but the notes are dropped. */
int arca__access_flush(arca__local *l);
/* At close: flush, and apply too while the log is short. */
void arca__access_close(arca__local *l);
void arca__access_free(arca__local *l);

/* Bytes of all blobs: meta('usage') (evict.c). */
int arca__usage_read(arca__local *l, uint64_t *bytes);

/*
 * Room for a new blob of size bytes under the store's limit (evict.c).
 * arca__evict_for_put(), before the commit transaction: when usage + size
 * would pass the limit, evict down to the low watermark less size (its
 * errors are ignored: the check decides). arca__put_fits(), in the commit
 * transaction (under the write lock, so two writers cannot both pass): 0,
 * or ARCA_EFULL with a message naming the store, the size, the limit and
 * the pinned bytes. Both do nothing when the store has no limit.
 */
void arca__evict_for_put(arca__local *l, uint64_t size);
int arca__put_fits(arca__local *l, uint64_t size);

/* Set the TTL and tags of opts on action key (lifecycle.c). In a
 * transaction the caller holds. */
int arca__apply_put_options(arca__local *l, const arca_digest *key,
		const arca_put_options *opts);

/* ---- verify: stamp (local.c) ----------------------------------------- */

struct stat;
struct timespec;
/* Whether a file blob of size bytes is read under verify: stamp. */
int arca__stamp_applies(const arca__local *l, uint64_t size);
/* t0 for arca__stamp_record(): read before the fstat of the stamp. */
void arca__stamp_clock(struct timespec *t0);
/* 1 when d's row holds st (its file's fstat now) as its stamp. */
int arca__stamp_matches(arca__local *l, const arca_digest *d,
		const struct stat *st);
/* After a hash of d's whole file found it intact: record st (taken after
 * t0, before the hash) as its stamp unless racy. Best effort. */
void arca__stamp_record(arca__local *l, const arca_digest *d,
		const struct stat *st, const struct timespec *t0);

/* ---- index damage and repair (repair.c) ---------------------------- */

/* Open index.db and prepare the handle's statements (local.c); closing
 * finalizes them and closes the connection, pending hits dropped. */
int arca__local_db_open(arca__local *l);
void arca__local_db_close(arca__local *l);
/* Insert a file blob's row (local.c; the upsert of puts). */
int arca__local_insert_file_row(arca__local *l, const arca_digest *d,
		uint64_t size);
/* Move blobs/ab/<d> to quarantine/<hex> (local.c). */
void arca__local_quarantine_file(arca__local *l, const arca_digest *d);

/* Record damage seen by SQLite on this handle: index.damaged is written
 * once, naming the index.db file (device and inode) and the reason. */
void arca__index_note_damage(arca__local *l, const char *reason);
/*
 * Repair a damaged index under DIR/index.lock (exclusive flock): unless
 * another process has already replaced index.db, move index.db, -wal and
 * -shm to quarantine/index.db.<UTC time>, create a fresh index and
 * re-insert every blob file whose content hashes to its name (others go
 * to quarantine/); then reopen the handle on the new index. The handle's
 * connection must be closed or closable (no transaction open).
 */
int arca__index_repair(arca__local *l, const char *reason);
/* At open, under the shared lock: a repair is due when index.damaged
 * names the index.db this handle opened (a stale marker is removed). */
int arca__index_marker_due(arca__local *l, char *reason, size_t reason_size);
/* The shared (open) or exclusive (repair) lock on DIR/index.lock: the
 * descriptor, or -1 when the file cannot be opened (read-only store). */
int arca__index_lock(const arca__local *l, int exclusive);
void arca__index_unlock(int fd);

#endif
