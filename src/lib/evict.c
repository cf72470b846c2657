/*
 * Capacity: the store's size, LRU eviction down to the low watermark, and
 * batched last-access updates.
 *
 * The bytes of all blobs are kept in meta('usage') by triggers on blobs
 * (schema 3, local.c), so reading the size is one row. Eviction walks the
 * two LRU indexes (actions_lru, blobs_lru) from the oldest and stops once
 * enough is freed: its cost grows with what it evicts, never with the
 * store's size, and it never lists blobs/.
 *
 * What is never evicted: blobs pinned by a live writer (pin.h: a stage's
 * outputs until its manifest is committed, a put until its row is), and
 * actions whose lease is held by a live process. Anything else may go,
 * however recently used: a burst of writes cannot take the store past its
 * limit (issue 8).
 */
#include "local_sql.h"

#include "fsutil.h"
#include "internal.h"
#include "pin.h"
#include "space.h"
#include "stat_cache.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACCESS_BATCH 256
#define ACCESS_DELAY_MS 2000
/* Fold the hit log in at close while it is this short (a CLI run adds one
 * row); longer logs wait for the next listing, eviction or gc. */
#define ACCESS_APPLY_AT_CLOSE 4096

/* Rowids of access_log folded per write transaction. */
#define ACCESS_FOLD_ROWS 4096
/* How long a closing handle waits for the lock to write its hits (ms). */
#define ACCESS_CLOSE_WAIT_MS 250
#define BLOB_TOUCH_RESOLUTION_S 60

/* Statistics of one stage and day not yet written (arca_stats_record()). */
struct pending_stat {
	int64_t day;              /* UTC days since the epoch */
	char *stage;
	uint64_t hits, misses, errors, bytes_read, bytes_written, saved_ms;
};

struct arca__access {
	arca__digest_list keys;   /* action hits */
	arca__digest_list blobs;  /* blob reads */
	struct pending_stat *stats;
	size_t n_stats, cap_stats;
	uint64_t first_ms;        /* monotonic time of the oldest note */
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * The size limit in bytes (0: none): the smaller of max_size and what the
 * file system allows (space.c). Every reader of the limit for a put or an
 * eviction goes through here.
 */
static uint64_t effective_limit(arca__local *l)
{
	return arca__store_limit(l);
}

/* The low watermark of limit: what eviction gets down to. */
static uint64_t low_watermark(const arca__local *l, uint64_t limit)
{
	return limit / 100 * l->opts.low_watermark_pct +
		limit % 100 * l->opts.low_watermark_pct / 100;
}

/* ---- batched last access ------------------------------------------- */

static int access_get(arca__local *l, struct arca__access **out)
{
	if (l->access == NULL) {
		l->access = calloc(1, sizeof(*l->access));
		if (l->access == NULL)
			return arca__error(ARCA_ENOMEM, "out of memory");
	}
	*out = l->access;
	return 0;
}

static size_t access_pending(const struct arca__access *a)
{
	return a == NULL ? 0 : a->keys.n + a->blobs.n + a->n_stats;
}

/* After a note: write the batch when it is full or old enough. */
static int access_noted(arca__local *l)
{
	struct arca__access *a = l->access;

	if (access_pending(a) >= ACCESS_BATCH ||
			mono_ms() - a->first_ms >= ACCESS_DELAY_MS)
		return arca__access_flush(l);
	return 0;
}

static int access_note(arca__local *l, int is_key, const arca_digest *d)
{
	struct arca__access *a = NULL;
	int error;

	if (l->opts.read_only)
		return 0;
	if ((error = access_get(l, &a)) < 0)
		return error;
	if (access_pending(a) == 0)
		a->first_ms = mono_ms();
	if ((error = arca__digest_list_push(is_key ? &a->keys : &a->blobs,
			d->bytes)) < 0)
		return error;
	return access_noted(l);
}

int arca__access_note_stats(arca__local *l, const char *stage,
		arca_event event, uint64_t bytes, uint64_t saved_ms)
{
	struct arca__access *a = NULL;
	struct pending_stat *p = NULL;
	int64_t day = arca__now() / 86400;
	size_t i;
	int error;

	if ((error = access_get(l, &a)) < 0)
		return error;
	for (i = 0; i < a->n_stats && p == NULL; i++)
		if (a->stats[i].day == day &&
				strcmp(a->stats[i].stage, stage) == 0)
			p = &a->stats[i];
	if (p == NULL) {
		if (a->n_stats == a->cap_stats) {
			size_t cap = a->cap_stats ? a->cap_stats * 2 : 4;
			struct pending_stat *grown = realloc(a->stats,
					cap * sizeof(*grown));

			if (grown == NULL)
				return arca__error(ARCA_ENOMEM, "out of memory");
			a->stats = grown;
			a->cap_stats = cap;
		}
		p = &a->stats[a->n_stats];
		memset(p, 0, sizeof(*p));
		if ((p->stage = arca__strdup(stage)) == NULL)
			return arca__error(ARCA_ENOMEM, "out of memory");
		p->day = day;
		if (access_pending(a) == 0)
			a->first_ms = mono_ms();
		a->n_stats++;
	}
	p->hits += event == ARCA_EVENT_HIT;
	p->misses += event == ARCA_EVENT_MISS;
	p->errors += event == ARCA_EVENT_ERROR;
	if (event == ARCA_EVENT_HIT)
		p->bytes_read += bytes;
	if (event == ARCA_EVENT_MISS)
		p->bytes_written += bytes;
	p->saved_ms += saved_ms;
	return access_noted(l);
}

static void access_clear(struct arca__access *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->n_stats; i++)
		free(a->stats[i].stage);
	a->keys.n = a->blobs.n = a->n_stats = 0;
}

int arca__local_touch(arca__local *l, const arca_digest *key)
{
	return access_note(l, 1, key);
}

int arca__access_note_blob(arca__local *l, const arca_digest *digest)
{
	return access_note(l, 0, digest);
}

/*
 * Write the pending notes and statistics, in a write transaction the
 * caller holds (with l->bookkeeping set).
 */
static int access_write(arca__local *l, struct arca__access *a)
{
	sqlite3_stmt *hit = NULL, *blob = NULL, *stat = NULL;
	int64_t now = arca__now();
	size_t i;
	int error, rc;

	/* The stat cache's records and LRU moves (stat_cache.c) ride in
	 * this transaction: they never cost one of their own. */
	if ((error = arca__stat_cache_flush_tx(l)) < 0)
		return error;
	if (a == NULL)
		return 0;
	/*
	 * A hit is appended to access_log, not written into its action's row:
	 * an append costs the same in a store of any size, where updating a
	 * random row of a large table does not (bench/README.md, "Scale");
	 * arca__access_apply() folds the log in when the order is needed.
	 * A hit moves only its action in the LRU: the blobs it references
	 * cannot be evicted while it lives, and go with it (bench/README.md,
	 * "Scale": updating them too doubled the cost of a hit in a large
	 * store). A blob read directly moves at most once a minute; the unary
	 * + keeps SQLite from walking blobs_lru for the age test instead of
	 * looking the digest up.
	 */
	if ((error = arca__sql_prepare(l, &hit, "INSERT INTO access_log(t, "
			"key) VALUES(?1, ?2)")) < 0 ||
	    (error = arca__sql_prepare(l, &blob, "UPDATE blobs SET "
			"last_access = ?1 WHERE digest = ?2 AND "
			"+last_access < ?1 - ?3")) < 0 ||
	    (error = arca__sql_prepare(l, &stat, "INSERT INTO stats(day, stage,"
			" hits, misses, errors, bytes_read, bytes_written, "
			"saved_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
			"ON CONFLICT(day, stage) DO UPDATE SET "
			"hits = hits + ?3, misses = misses + ?4, "
			"errors = errors + ?5, bytes_read = bytes_read + ?6, "
			"bytes_written = bytes_written + ?7, "
			"saved_ms = saved_ms + ?8")) < 0)
		goto cleanup;
	for (i = 0; a != NULL && i < a->keys.n + a->blobs.n; i++) {
		int is_key = i < a->keys.n;
		const arca_digest *d = is_key ? &a->keys.items[i] :
			&a->blobs.items[i - a->keys.n];
		sqlite3_stmt *st = is_key ? hit : blob;

		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, now);
		sqlite3_bind_blob(st, 2, d->bytes, ARCA_DIGEST_SIZE,
				SQLITE_STATIC);
		if (!is_key)
			sqlite3_bind_int(st, 3, BLOB_TOUCH_RESOLUTION_S);
		if ((rc = sqlite3_step(st)) != SQLITE_DONE) {
			error = arca__sql_error(l, rc, "recording last access");
			goto cleanup;
		}
	}
	for (i = 0; i < a->n_stats; i++) {
		const struct pending_stat *p = &a->stats[i];

		sqlite3_reset(stat);
		sqlite3_bind_int64(stat, 1, (sqlite3_int64)p->day);
		sqlite3_bind_text(stat, 2, p->stage, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stat, 3, (sqlite3_int64)p->hits);
		sqlite3_bind_int64(stat, 4, (sqlite3_int64)p->misses);
		sqlite3_bind_int64(stat, 5, (sqlite3_int64)p->errors);
		sqlite3_bind_int64(stat, 6, (sqlite3_int64)p->bytes_read);
		sqlite3_bind_int64(stat, 7, (sqlite3_int64)p->bytes_written);
		sqlite3_bind_int64(stat, 8, (sqlite3_int64)p->saved_ms);
		if ((rc = sqlite3_step(stat)) != SQLITE_DONE) {
			error = arca__sql_error(l, rc, "recording stats");
			goto cleanup;
		}
	}
	error = 0;
cleanup:
	sqlite3_finalize(hit);
	sqlite3_finalize(blob);
	sqlite3_finalize(stat);
	return error;
}

int arca__access_flush(arca__local *l)
{
	struct arca__access *a = l->access;
	int error = 0;

	if (access_pending(a) == 0 && !arca__stat_cache_pending(l))
		return 0;
	if (l->opts.read_only || l->fatal)
		goto done;
	l->bookkeeping = 1;
	if ((error = arca__tx_begin(l)) == 0 &&
	    (error = access_write(l, a)) == 0)
		error = arca__tx_commit(l);
	if (error < 0)
		arca__tx_rollback(l);
	l->bookkeeping = 0;
done:
	access_clear(a);
	return error;
}

/* Rows in access_log, estimated from its rowids (no scan). */
static int64_t access_log_rows(arca__local *l)
{
	sqlite3_stmt *st = NULL;
	int64_t n = 0;

	if (arca__sql_prepare(l, &st, "SELECT coalesce(max(rowid) - "
			"min(rowid) + 1, 0) FROM access_log") < 0)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static const char fold_sql[] = "UPDATE actions SET "
	"last_access = max(actions.last_access, a.t), "
	"hits = actions.hits + a.n FROM (SELECT key, max(t) AS t, "
	"count(*) AS n FROM access_log WHERE rowid < ?1 GROUP BY key) "
	"AS a WHERE actions.key = a.key";

/*
 * Fold the window of ACCESS_FOLD_ROWS rowids from the lowest in the
 * log, in a write transaction the caller holds; *more: rows are left.
 */
static int fold_window(arca__local *l, int *more)
{
	sqlite3_stmt *low = NULL, *fold = NULL, *del = NULL;
	sqlite3_int64 end;
	int error, rc;

	*more = 0;
	if ((error = arca__sql_prepare(l, &low, "SELECT min(rowid) FROM "
			"access_log")) < 0 ||
	    (error = arca__sql_prepare(l, &fold, fold_sql)) < 0 ||
	    (error = arca__sql_prepare(l, &del, "DELETE FROM access_log "
			"WHERE rowid < ?1")) < 0)
		goto cleanup;
	if ((rc = sqlite3_step(low)) != SQLITE_ROW) {
		error = arca__sql_error(l, rc, "reading the hit log");
		goto cleanup;
	}
	if (sqlite3_column_type(low, 0) == SQLITE_NULL)
		goto cleanup;
	end = sqlite3_column_int64(low, 0) + ACCESS_FOLD_ROWS;
	sqlite3_reset(low);
	sqlite3_bind_int64(fold, 1, end);
	sqlite3_bind_int64(del, 1, end);
	if ((rc = sqlite3_step(fold)) != SQLITE_DONE ||
	    (rc = sqlite3_step(del)) != SQLITE_DONE ||
	    (rc = sqlite3_step(low)) != SQLITE_ROW) {
		error = arca__sql_error(l, rc, "applying the hit log");
		goto cleanup;
	}
	*more = sqlite3_column_type(low, 0) != SQLITE_NULL;
cleanup:
	sqlite3_finalize(low);
	sqlite3_finalize(fold);
	sqlite3_finalize(del);
	return error;
}

/*
 * The log is folded in windows of ACCESS_FOLD_ROWS rowids, one write
 * transaction each (a batch, local_sql.h): a long log never holds the
 * lock long. A window's rows are applied and deleted together.
 */
int arca__access_apply(arca__local *l)
{
	int error, more = 1;

	if ((error = arca__access_flush(l)) < 0)
		return error;
	if (l->opts.read_only || l->fatal || access_log_rows(l) == 0)
		return 0;
	while (more) {
		l->bookkeeping = 1;
		if ((error = arca__tx_begin(l)) == 0 &&
		    (error = fold_window(l, &more)) == 0)
			error = arca__tx_commit(l);
		if (error < 0)
			arca__tx_rollback(l);
		l->bookkeeping = 0;
		if (error < 0)
			return error;
		if (more)
			arca__batch_pause();
	}
	return 0;
}

/*
 * A closing handle writes its pending hits and statistics, waiting for
 * the lock at most ACCESS_CLOSE_WAIT_MS (about one batch of a long
 * eviction, clear or gc of another process; past it they are dropped:
 * they only order the LRU and count), and folds a short log in the same
 * transaction: a CLI run that hit commits once, and that commit is not
 * synced (local.c, "Checkpoints"). With nothing pending, a short log left
 * by others is folded only if the lock is free right away.
 */
void arca__access_close(arca__local *l)
{
	struct arca__access *a = l->access;
	unsigned int limit = l->busy_limit_ms;
	int64_t rows;
	int more = 0, error;

	if (l->opts.read_only || l->fatal) {
		access_clear(a);
		return;
	}
	if (access_pending(a) == 0) {
		if (access_log_rows(l) <= ACCESS_APPLY_AT_CLOSE) {
			l->busy_limit_ms = 0;
			(void)arca__access_apply(l);
			l->busy_limit_ms = limit;
		}
		return;
	}
	rows = access_log_rows(l) + (int64_t)a->keys.n;
	if (l->busy_limit_ms > ACCESS_CLOSE_WAIT_MS)
		l->busy_limit_ms = ACCESS_CLOSE_WAIT_MS;
	l->bookkeeping = 1;
	if ((error = arca__tx_begin(l)) == 0 &&
	    (error = access_write(l, a)) == 0 &&
	    (rows > ACCESS_APPLY_AT_CLOSE ||
	     (error = fold_window(l, &more)) == 0))
		error = arca__tx_commit(l);
	if (error < 0)
		arca__tx_rollback(l);
	l->bookkeeping = 0;
	l->busy_limit_ms = limit;
	access_clear(a);
}

void arca__access_free(arca__local *l)
{
	if (l->access == NULL)
		return;
	access_clear(l->access);
	arca__digest_list_free(&l->access->keys);
	arca__digest_list_free(&l->access->blobs);
	free(l->access->stats);
	free(l->access);
	l->access = NULL;
}

/* ---- usage ------------------------------------------------------------ */

int arca__usage_read(arca__local *l, uint64_t *bytes)
{
	sqlite3_stmt *st = NULL;
	int error, rc;

	*bytes = 0;
	if ((error = arca__sql_prepare(l, &st, "SELECT CAST(value AS INTEGER) "
			"FROM meta WHERE name = 'usage'")) < 0)
		return error;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		sqlite3_int64 v = sqlite3_column_int64(st, 0);

		*bytes = v > 0 ? (uint64_t)v : 0;
		error = 0;
	} else if (rc == SQLITE_DONE) {
		error = 0;
	} else {
		error = arca__sql_error(l, rc, "reading the store's size");
	}
	sqlite3_finalize(st);
	return error;
}

int arca_store_usage(uint64_t *bytes, uint64_t *max_size, arca_store *store)
{
	arca__local *l = arca__store_local(store);
	uint64_t b;
	int error;

	if ((error = arca__usage_read(l, &b)) < 0)
		return error;
	if (bytes)
		*bytes = b;
	if (max_size)
		*max_size = l->opts.max_size;
	return 0;
}

int arca_store_pinned(uint64_t *bytes, arca_store *store)
{
	arca__local *l = arca__store_local(store);
	arca__digest_list pins = { NULL, 0, 0 };
	int error;

	*bytes = 0;
	if ((error = arca__pins_live(l, &pins, NULL, 0)) == 0)
		error = arca__pins_bytes(l, &pins, bytes);
	arca__digest_list_free(&pins);
	return error;
}

/* ---- eviction ----------------------------------------------------------- */

/* The statements eviction runs once per entry, prepared once. */
typedef struct evictor {
	arca__local *l;
	arca_store *store;
	arca__digest_list pins;   /* live writers' pins, sorted */
	int64_t day;
	sqlite3_stmt *next_action, *next_blob;
	sqlite3_stmt *refs, *del_refs, *del_inputs, *del_action;
	sqlite3_stmt *is_ref, *blob_row, *del_blob, *stats;
	arca__digest_list cands;
	arca__removal r;
	uint64_t n, bytes, pinned_actions;
	/* The LRU cursors, kept across batches: the last action taken from
	 * actions_lru (evicted or passed over), the position of the blob
	 * walk, and whether the action walk reached its end. */
	arca_digest a_key;
	int64_t a_la, b_la, b_rowid;
	int actions_done;
	arca__batch batch;    /* the current transaction's budget */
	int more;             /* ev_run stopped at the end of the batch */
} evictor;

static int ev_prepare(evictor *e)
{
	arca__local *l = e->l;
	int error;

	if ((error = arca__sql_prepare(l, &e->next_action, "SELECT key, "
			"last_access, stage FROM actions WHERE (last_access, key) > "
			"(?1, ?2) ORDER BY last_access, key LIMIT 1")) < 0 ||
	    /* Unreferenced blobs no newer than ?3 after the cursor (?1, ?2). */
	    (error = arca__sql_prepare(l, &e->next_blob, "SELECT rowid, digest, "
			"last_access, size, inline FROM blobs AS b WHERE "
			"(last_access, rowid) > (?1, ?2) AND last_access <= ?3 AND "
			"NOT EXISTS (SELECT 1 FROM action_refs AS r "
			"WHERE r.digest = b.digest) AND NOT EXISTS (SELECT 1 "
			"FROM urls AS u WHERE u.digest = b.digest) "
			"ORDER BY last_access, rowid LIMIT 1")) < 0 ||
	    (error = arca__sql_prepare(l, &e->refs, "SELECT digest FROM "
			"action_refs WHERE key = ?")) < 0 ||
	    (error = arca__sql_prepare(l, &e->del_refs, "DELETE FROM "
			"action_refs WHERE key = ?")) < 0 ||
	    (error = arca__sql_prepare(l, &e->del_inputs, "DELETE FROM "
			"action_inputs WHERE key = ?")) < 0 ||
	    (error = arca__sql_prepare(l, &e->del_action, "DELETE FROM actions "
			"WHERE key = ?")) < 0 ||
	    (error = arca__sql_prepare(l, &e->is_ref, "SELECT 1 FROM action_refs "
			"WHERE digest = ?1 UNION ALL SELECT 1 FROM urls "
			"WHERE digest = ?1 LIMIT 1")) < 0 ||
	    (error = arca__sql_prepare(l, &e->blob_row, "SELECT size, inline, "
			"last_access FROM blobs WHERE digest = ?")) < 0 ||
	    (error = arca__sql_prepare(l, &e->del_blob, "DELETE FROM blobs "
			"WHERE digest = ?")) < 0 ||
	    (error = arca__sql_prepare(l, &e->stats, "INSERT INTO stats(day, "
			"stage, evictions, bytes_evicted) VALUES(?1, ?2, 1, ?3) "
			"ON CONFLICT(day, stage) DO UPDATE SET evictions = "
			"evictions + 1, bytes_evicted = bytes_evicted + ?3")) < 0)
		return error;
	return 0;
}

static void ev_finalize(evictor *e)
{
	sqlite3_stmt **all[] = { &e->next_action, &e->next_blob, &e->refs,
		&e->del_refs, &e->del_inputs, &e->del_action, &e->is_ref,
		&e->blob_row, &e->del_blob, &e->stats };
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(*all); i++) {
		sqlite3_finalize(*all[i]);
		*all[i] = NULL;
	}
	arca__digest_list_free(&e->cands);
	arca__digest_list_free(&e->pins);
}

static int ev_step_done(evictor *e, sqlite3_stmt *st, const arca_digest *d,
		const char *what)
{
	int rc = arca__step_digest(st, d);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : arca__sql_error(e->l, rc, what);
}

static int ev_count(evictor *e, const char *stage, uint64_t bytes)
{
	int rc;

	sqlite3_reset(e->stats);
	sqlite3_bind_int64(e->stats, 1, e->day);
	sqlite3_bind_text(e->stats, 2, stage, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(e->stats, 3, (sqlite3_int64)bytes);
	rc = sqlite3_step(e->stats);
	sqlite3_reset(e->stats);
	return rc == SQLITE_DONE ? 0 :
		arca__sql_error(e->l, rc, "counting an eviction");
}

/*
 * Delete blob d if nothing references it and no live writer pins it; adds
 * its size to *freed.
 */
static int ev_free_blob(evictor *e, const arca_digest *d, uint64_t *freed)
{
	int rc, is_inline;
	uint64_t size;
	int error;

	/* Pinned: maybe the output of a stage being stored now. */
	if (arca__pins_contain(&e->pins, d))
		return 0;
	rc = arca__step_digest(e->is_ref, d);
	sqlite3_reset(e->is_ref);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return arca__sql_error(e->l, rc, "looking up blob references");
	rc = arca__step_digest(e->blob_row, d);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(e->blob_row);
		return rc == SQLITE_DONE ? 0 :
			arca__sql_error(e->l, rc, "reading a blob row");
	}
	size = (uint64_t)sqlite3_column_int64(e->blob_row, 0);
	is_inline = sqlite3_column_int(e->blob_row, 1);
	sqlite3_reset(e->blob_row);
	if (!is_inline &&
			(error = arca__removal_add(e->l, &e->r, d)) < 0)
		return error;
	if ((error = ev_step_done(e, e->del_blob, d, "deleting a blob")) < 0)
		return error;
	*freed += size;
	return 0;
}

static int ev_action(evictor *e, const arca_digest *key, const char *stage)
{
	uint64_t freed = 0;
	size_t i;
	int error, rc;

	e->cands.n = 0;
	sqlite3_reset(e->refs);
	sqlite3_bind_blob(e->refs, 1, key->bytes, ARCA_DIGEST_SIZE,
			SQLITE_STATIC);
	while ((rc = sqlite3_step(e->refs)) == SQLITE_ROW)
		if (sqlite3_column_bytes(e->refs, 0) == ARCA_DIGEST_SIZE &&
		    (error = arca__digest_list_push(&e->cands,
				sqlite3_column_blob(e->refs, 0))) < 0) {
			sqlite3_reset(e->refs);
			return error;
		}
	sqlite3_reset(e->refs);
	if (rc != SQLITE_DONE)
		return arca__sql_error(e->l, rc, "reading action references");
	if ((error = ev_step_done(e, e->del_refs, key, "evicting an action")) < 0 ||
	    (error = ev_step_done(e, e->del_inputs, key, "evicting an action")) < 0 ||
	    (error = ev_step_done(e, e->del_action, key, "evicting an action")) < 0)
		return error;
	for (i = 0; i < e->cands.n; i++)
		if ((error = ev_free_blob(e, &e->cands.items[i], &freed)) < 0)
			return error;
	e->n++;
	e->bytes += freed;
	return ev_count(e, stage, freed);
}

/* A live process computing the action (lease.c): leave it alone. An
 * error examining the lease counts as held. */
static int lease_held(evictor *e, const arca_digest *key)
{
	return arca_lease_is_held(e->store, key) != 0;
}

/*
 * Evict in LRU order until usage is at most target, or until the batch is
 * full (e->more set: commit, and call again in a new transaction). Two
 * cursors walk the LRU indexes; an unreferenced blob is only looked for up
 * to the last access of the next action candidate, so the blob walk never
 * runs ahead of what is being evicted. A candidate found but not yet
 * evicted when the batch ends is looked up again in the next one (it may
 * have been used or removed in between).
 */
static int ev_run(evictor *e, uint64_t usage, uint64_t target)
{
	arca_digest akey, bdigest;
	char astage[256];
	int64_t a_la = INT64_MIN;
	int have_action = 0, error, rc;

	e->more = 0;
	while (usage > target) {
		int64_t bound;

		/* At least one step per batch, whatever the clock says. */
		if (e->batch.rows > 0 && arca__batch_full(&e->batch)) {
			e->more = 1;
			break;
		}
		e->batch.rows++;
		if (!have_action && !e->actions_done) {
			sqlite3_stmt *st = e->next_action;

			sqlite3_reset(st);
			sqlite3_bind_int64(st, 1, e->a_la);
			sqlite3_bind_blob(st, 2, e->a_key.bytes, ARCA_DIGEST_SIZE,
					SQLITE_TRANSIENT);
			rc = sqlite3_step(st);
			if (rc == SQLITE_ROW &&
			    sqlite3_column_bytes(st, 0) == ARCA_DIGEST_SIZE) {
				const char *stage = (const char *)
					sqlite3_column_text(st, 2);

				memcpy(akey.bytes, sqlite3_column_blob(st, 0),
						ARCA_DIGEST_SIZE);
				a_la = sqlite3_column_int64(st, 1);
				snprintf(astage, sizeof(astage), "%s",
						stage ? stage : "");
				have_action = 1;
			} else if (rc == SQLITE_DONE) {
				e->actions_done = 1;
			} else if (rc != SQLITE_ROW) {
				sqlite3_reset(st);
				return arca__sql_error(e->l, rc,
						"walking the action LRU");
			}
			sqlite3_reset(st);
		}
		bound = have_action ? a_la : INT64_MAX;
		sqlite3_reset(e->next_blob);
		sqlite3_bind_int64(e->next_blob, 1, e->b_la);
		sqlite3_bind_int64(e->next_blob, 2, e->b_rowid);
		sqlite3_bind_int64(e->next_blob, 3, bound);
		rc = sqlite3_step(e->next_blob);
		if (rc == SQLITE_ROW) {
			uint64_t size = (uint64_t)sqlite3_column_int64(
					e->next_blob, 3);
			int is_inline = sqlite3_column_int(e->next_blob, 4);

			e->b_rowid = sqlite3_column_int64(e->next_blob, 0);
			e->b_la = sqlite3_column_int64(e->next_blob, 2);
			memcpy(bdigest.bytes, sqlite3_column_blob(e->next_blob, 1),
					ARCA_DIGEST_SIZE);
			sqlite3_reset(e->next_blob);
			/* Pinned: the cursor moves past it. */
			if (arca__pins_contain(&e->pins, &bdigest))
				continue;
			if (!is_inline && (error = arca__removal_add(e->l,
					&e->r, &bdigest)) < 0)
				return error;
			if ((error = ev_step_done(e, e->del_blob, &bdigest,
					"evicting a blob")) < 0 ||
			    (error = ev_count(e, "(blobs)", size)) < 0)
				return error;
			e->n++;
			e->bytes += size;
			usage = usage > size ? usage - size : 0;
			continue;
		}
		sqlite3_reset(e->next_blob);
		if (rc != SQLITE_DONE)
			return arca__sql_error(e->l, rc, "walking the blob LRU");
		/* Nothing unreferenced up to bound: later scans start past it
		 * (blobs the actions below free are deleted with them). */
		e->b_la = bound;
		e->b_rowid = INT64_MAX;
		if (!have_action)
			break;
		have_action = 0;
		e->a_key = akey;
		e->a_la = a_la;
		if (lease_held(e, &akey)) {
			e->pinned_actions++;
			continue;
		}
		{
			uint64_t before = e->bytes;

			if ((error = ev_action(e, &akey, astage)) < 0)
				return error;
			usage = usage > e->bytes - before ?
				usage - (e->bytes - before) : 0;
		}
	}
	return 0;
}

/*
 * In batches (ARCA__BATCH_ROWS, ARCA__BATCH_MS): each re-reads the usage
 * and the pins under the write lock, evicts up to its budget, commits,
 * and unlinks its files before the next one takes the lock again.
 * *n_out and *bytes_out count what the committed batches evicted, also
 * when a later one fails.
 */
static int evict_once(arca_store *store, uint64_t *n_out, uint64_t *bytes_out,
		uint64_t target)
{
	arca__local *l = arca__store_local(store);
	evictor e;
	uint64_t usage, n_done = 0, bytes_done = 0;
	int error;

	memset(&e, 0, sizeof(e));
	e.l = l;
	e.store = store;
	e.a_la = e.b_la = e.b_rowid = INT64_MIN;
	if (n_out)
		*n_out = 0;
	if (bytes_out)
		*bytes_out = 0;
	if ((error = arca__writable(l)) < 0)
		return error;
	/* The LRU order must include every logged hit. */
	(void)arca__access_apply(l);
	e.day = arca__now() / 86400;
	if ((error = ev_prepare(&e)) < 0)
		goto cleanup;
	for (;;) {
		if ((error = arca__batch_begin(l, &e.batch)) < 0)
			goto cleanup;
		/* Read inside the write transaction: no other writer moves
		 * it until the batch commits, and a pin not seen here is a
		 * put whose row commits after this batch (pin.h). Dead
		 * writers' records go, with their orphans. */
		arca__digest_list_free(&e.pins);
		if ((error = arca__usage_read(l, &usage)) < 0 ||
		    (error = arca__pins_live(l, &e.pins, NULL, 1)) < 0)
			goto cleanup;
		e.more = 0;
		if (usage > target && (error = ev_run(&e, usage, target)) < 0)
			goto cleanup;
		if ((error = arca__tx_commit(l)) < 0)
			goto cleanup;
		n_done = e.n;
		bytes_done = e.bytes;
		arca__removal_finish(l, &e.r, 1);
		if (!e.more)
			break;
		arca__batch_pause();
	}
cleanup:
	ev_finalize(&e);
	if (error < 0)
		arca__tx_rollback(l);
	arca__removal_finish(l, &e.r, 0);
	if (n_out)
		*n_out = n_done;
	if (bytes_out)
		*bytes_out = bytes_done;
	return error;
}

/*
 * Eviction on a full disk (space.c): the reserve file is given up first
 * when free space is below its size (look_first; after a put the look
 * arca__store_limit() took is enough, so a put costs one statvfs), or when
 * the commit fails ARCA_EFULL, and the eviction is retried once.
 */
static int evict(arca_store *store, uint64_t *n_out, uint64_t *bytes_out,
		uint64_t target, int look_first)
{
	arca__local *l = arca__store_local(store);
	int error;

	if ((error = arca__writable(l)) < 0)
		return error;
	if (look_first)
		arca__space_before_delete(l, NULL);
	if ((error = evict_once(store, n_out, bytes_out, target)) ==
			ARCA_EFULL && arca__space_give_up(l))
		error = evict_once(store, n_out, bytes_out, target);
	return arca__space_after_delete(l, error);
}

int arca_store_evict(uint64_t *n_evicted, uint64_t *bytes_freed,
		arca_store *store, uint64_t target_bytes)
{
	return evict(store, n_evicted, bytes_freed, target_bytes, 1);
}

/*
 * Over the effective limit (space.c: the smaller of max_size and what the
 * file system allows), down to its low watermark: a store with no
 * max_size on a nearly full disk evicts instead of failing puts.
 */
int arca__store_evict_auto(arca_store *store)
{
	arca__local *l = arca__store_local(store);
	uint64_t usage, limit;

	if (l->opts.read_only)
		return 0;
	if ((limit = effective_limit(l)) == 0)
		return 0;
	if (arca__usage_read(l, &usage) < 0 || usage <= limit)
		return 0;
	return evict(store, NULL, NULL, low_watermark(l, limit), 0);
}

int arca_store_get_space(arca_store_space *out, arca_store *store)
{
	arca__local *l = arca__store_local(store);
	arca__space s;
	uint64_t usage;
	int error;

	memset(out, 0, sizeof(*out));
	/* Usage first: arca__store_limit_ex() hides its error. */
	if ((error = arca__usage_read(l, &usage)) < 0)
		return error;
	out->limit = arca__store_limit_ex(l, &s, &out->usage);
	out->max_size = l->opts.max_size;
	out->disk_limit = arca__space_disk_limit(&s, out->usage);
	out->fs_size = s.fs_size;
	out->fs_free = s.fs_free;
	out->disk_reserve = s.disk_reserve;
	out->reserve_file = s.reserve_bytes;
	out->reserve_file_size = s.reserve_size;
	out->index_free = s.index_free;
	return 0;
}

void arca__evict_for_put(arca__local *l, uint64_t size)
{
	uint64_t usage, limit = effective_limit(l), low;

	if (limit == 0 || l->store == NULL || arca__usage_read(l, &usage) < 0 ||
	    usage + size <= limit)
		return;
	low = low_watermark(l, limit);
	(void)evict(l->store, NULL, NULL, low > size ? low - size : 0, 1);
	arca__error_clear();
}

int arca__put_fits(arca__local *l, uint64_t size)
{
	arca__digest_list pins = { NULL, 0, 0 };
	uint64_t usage, limit = effective_limit(l), pinned = 0;
	int error;

	if (limit == 0)
		return 0;
	if ((error = arca__usage_read(l, &usage)) < 0 || usage + size <= limit)
		return error;
	(void)arca__pins_live(l, &pins, NULL, 0);
	(void)arca__pins_bytes(l, &pins, &pinned);
	arca__digest_list_free(&pins);
	return arca__error(ARCA_EFULL, "store %s: a blob of %llu bytes does "
			"not fit in its limit of %llu bytes (%llu used, %llu "
			"pinned by live writers)", l->dir,
			(unsigned long long)size, (unsigned long long)limit,
			(unsigned long long)usage, (unsigned long long)pinned);
}
