/*
 * Lifecycle of entries: TTL and freshness bounds, tags, clearing by tag,
 * age or key prefix, garbage collection, and per-day statistics.
 */
#include "local_sql.h"

#include "fsutil.h"
#include "internal.h"
#include "pin.h"
#include "space.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- put and get with options -------------------------------------- */

static int bind_run(arca__local *l, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : arca__sql_error(l, rc, what);
}

int arca__apply_put_options(arca__local *l, const arca_digest *key,
		const arca_put_options *opts)
{
	sqlite3_stmt *exp = NULL, *tag = NULL;
	size_t i;
	int error;

	if ((error = arca__sql_prepare(l, &exp, "UPDATE actions SET expires = "
			"created + ?1 WHERE key = ?2")) < 0 ||
	    (error = arca__sql_prepare(l, &tag, "INSERT OR IGNORE INTO "
			"action_tags(tag, key) VALUES(?1, ?2)")) < 0)
		goto cleanup;
	if (opts->ttl_s > 0) {
		sqlite3_bind_int64(exp, 1, opts->ttl_s > INT64_MAX / 2 ?
				INT64_MAX / 2 : (sqlite3_int64)opts->ttl_s);
		sqlite3_bind_blob(exp, 2, key->bytes, ARCA_DIGEST_SIZE,
				SQLITE_STATIC);
		if ((error = bind_run(l, exp, "setting a TTL")) < 0)
			goto cleanup;
	}
	for (i = 0; i < opts->n_tags; i++) {
		sqlite3_bind_text(tag, 1, opts->tags[i], -1, SQLITE_STATIC);
		sqlite3_bind_blob(tag, 2, key->bytes, ARCA_DIGEST_SIZE,
				SQLITE_STATIC);
		if ((error = bind_run(l, tag, "tagging an action")) < 0)
			goto cleanup;
	}
cleanup:
	sqlite3_finalize(exp);
	sqlite3_finalize(tag);
	return error;
}

int arca_action_get_ex(arca_manifest **out, arca_store *store,
		const arca_digest *key, const arca_get_options *opts)
{
	arca__local *l = arca__store_local(store);
	sqlite3_stmt *st = NULL;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	int error = 0, rc = SQLITE_ROW;

	*out = NULL;
	if (opts != NULL && opts->version != ARCA_GET_OPTIONS_VERSION)
		return arca__error(ARCA_EINVAL, "arca_get_options version %u is "
				"not supported (expected %u)", opts->version,
				ARCA_GET_OPTIONS_VERSION);
	if (opts != NULL && opts->max_age_s > 0) {
		if ((error = arca__sql_prepare(l, &st, "SELECT created FROM "
				"actions WHERE key = ?")) < 0)
			return error;
		rc = arca__step_digest(st, key);
		if (rc == SQLITE_ROW && sqlite3_column_int64(st, 0) +
				(sqlite3_int64)opts->max_age_s <
				(sqlite3_int64)arca__now()) {
			arca_digest_to_hex(hex, key);
			error = arca__error(ARCA_ENOTFOUND, "action %s: older "
					"than %llu s", hex,
					(unsigned long long)opts->max_age_s);
		} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			error = arca__sql_error(l, rc, "looking up an action");
		}
		sqlite3_finalize(st);
		if (error < 0)
			return error;
	}
	error = (opts != NULL && opts->peek) ? arca_action_peek(out, store, key) :
		arca_action_get(out, store, key);
	/* Not in tier 0: a later tier's hit, judged by its manifest's own
	 * creation time. */
	if (error == 0 && rc == SQLITE_DONE && (*out)->created +
			(int64_t)opts->max_age_s < arca__now()) {
		arca_manifest_free(*out);
		*out = NULL;
		arca_digest_to_hex(hex, key);
		error = arca__error(ARCA_ENOTFOUND, "action %s: older than "
				"%llu s", hex, (unsigned long long)opts->max_age_s);
	}
	return error;
}

int arca_blob_tag(arca_store *store, const arca_digest *digest,
		const char *tag)
{
	arca__local *l = arca__store_local(store);
	sqlite3_stmt *st = NULL;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	int error, rc;

	if (tag == NULL || *tag == '\0')
		return arca__error(ARCA_EINVAL, "empty tag");
	if ((error = arca__writable(l)) < 0)
		return error;
	if ((error = arca__sql_prepare(l, &st, "INSERT OR IGNORE INTO "
			"blob_tags(tag, digest) SELECT ?1, digest FROM blobs "
			"WHERE digest = ?2")) < 0)
		return error;
	sqlite3_bind_text(st, 1, tag, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, digest->bytes, ARCA_DIGEST_SIZE, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		error = arca__sql_error(l, rc, "tagging a blob");
	} else if (sqlite3_changes(l->db) == 0) {
		/* Either already tagged or not there: tell them apart. */
		sqlite3_finalize(st);
		st = NULL;
		if (arca_blob_stat(NULL, store, digest) < 0) {
			arca_digest_to_hex(hex, digest);
			error = arca__error(ARCA_ENOTFOUND, "blob %s: not found",
					hex);
		}
	}
	sqlite3_finalize(st);
	return error;
}

/* ---- clearing by tag, age or key prefix ---------------------------- */

static void bind_text3(sqlite3_stmt *st, const void *ctx)
{
	sqlite3_bind_text(st, 3, ctx, -1, SQLITE_STATIC);
}

static void bind_int3(sqlite3_stmt *st, const void *ctx)
{
	sqlite3_bind_int64(st, 3, *(const int64_t *)ctx);
}

/* The lowest and highest key of a prefix, ?3 and ?4. */
static void bind_range3(sqlite3_stmt *st, const void *ctx)
{
	const arca_digest *range = ctx;

	sqlite3_bind_blob(st, 3, range[0].bytes, ARCA_DIGEST_SIZE,
			SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, range[1].bytes, ARCA_DIGEST_SIZE,
			SQLITE_STATIC);
}

/*
 * In batches (arca__remove_batched), each selecting its keys again under
 * the write lock: an action hit or re-stored meanwhile is judged by what
 * it is when its batch runs. What the committed batches removed stays
 * removed, and is counted, also when a later batch fails.
 */
static int lifecycle_clear_once(arca__local *l, uint64_t *n_removed,
		uint64_t *bytes_freed, const arca_clear_filter *f)
{
	uint64_t n = 0, bytes = 0, none = 0;
	arca_digest range[2];
	int64_t cutoff;
	int error;

	if (f->key_prefix != NULL) {
		size_t len = strlen(f->key_prefix);

		if (len == 0 || len > ARCA_DIGEST_HEXLEN ||
		    strspn(f->key_prefix, "0123456789abcdefABCDEF") != len)
			return arca__error(ARCA_EINVAL, "'%s': a key prefix is 1 "
					"to 64 hex characters", f->key_prefix);
	}
	if (f->older_than_s < 0)
		return arca__error(ARCA_EINVAL, "older-than: negative age");
	if ((error = arca__writable(l)) < 0)
		return error;
	(void)arca__access_apply(l);
	if (f->tag != NULL) {
		/* The tagged actions, then the tagged blobs no action
		 * references any more. */
		if ((error = arca__remove_batched_cb(l, &n, &bytes, "SELECT "
				"key FROM action_tags WHERE tag = ?3 AND key > ?1 "
				"ORDER BY key LIMIT ?2", bind_text3, f->tag, 0,
				f->on_removed, f->on_removed_ctx)) == 0)
			error = arca__remove_batched(l, &none, &bytes, "SELECT "
					"digest FROM blob_tags WHERE tag = ?3 AND "
					"digest > ?1 ORDER BY digest LIMIT ?2",
					bind_text3, f->tag, 1);
	} else if (f->older_than_s > 0) {
		/* Every row selected is removed: each batch starts again
		 * from the oldest (actions_lru, no sort). */
		cutoff = arca__now() - f->older_than_s;
		error = arca__remove_batched_cb(l, &n, &bytes, "SELECT key "
				"FROM actions WHERE last_access < ?3 ORDER BY "
				"last_access LIMIT ?2", bind_int3, &cutoff, 0,
				f->on_removed, f->on_removed_ctx);
	} else if ((error = arca__hex_prefix_bound(&range[0], f->key_prefix,
			'0')) == 0 &&
		   (error = arca__hex_prefix_bound(&range[1], f->key_prefix,
			'f')) == 0) {
		error = arca__remove_batched_cb(l, &n, &bytes, "SELECT key "
				"FROM actions WHERE key BETWEEN ?3 AND ?4 AND key > "
				"?1 ORDER BY key LIMIT ?2", bind_range3, range, 0,
				f->on_removed, f->on_removed_ctx);
	}
	if (n_removed)
		*n_removed = n;
	if (bytes_freed)
		*bytes_freed = bytes;
	return error;
}

/* On a full disk the reserve file is given up for it (space.h); the
 * batches a first attempt committed are counted with the retry's. */
int arca__lifecycle_clear(arca__local *l, uint64_t *n_removed,
		uint64_t *bytes_freed, const arca_clear_filter *f)
{
	uint64_t n = 0, bytes = 0, n2 = 0, bytes2 = 0;
	int error;

	if ((error = arca__writable(l)) < 0)
		return error;
	arca__space_before_delete(l, NULL);
	if ((error = lifecycle_clear_once(l, &n, &bytes, f)) == ARCA_EFULL &&
	    arca__space_give_up(l)) {
		error = lifecycle_clear_once(l, &n2, &bytes2, f);
		n += n2;
		bytes += bytes2;
	}
	if (n_removed)
		*n_removed = n;
	if (bytes_freed)
		*bytes_freed = bytes;
	return arca__space_after_delete(l, error);
}

/* ---- gc ------------------------------------------------------------------ */

static int gc_expired(arca__local *l, arca_gc_report *rep)
{
	int64_t now = arca__now();

	/* actions_expires: a partial index of the rows with a TTL. Every
	 * row selected is removed, so each batch starts from the first. */
	return arca__remove_batched(l, &rep->expired_actions,
			&rep->expired_bytes, "SELECT key FROM actions WHERE "
			"expires IS NOT NULL AND expires <= ?3 ORDER BY expires "
			"LIMIT ?2", bind_int3, &now, 0);
}

/* Drop the pinned digests from list. */
static void drop_pinned(arca__digest_list *list, const arca__digest_list *pins)
{
	size_t i, n = 0;

	for (i = 0; i < list->n; i++)
		if (!arca__pins_contain(pins, &list->items[i]))
			list->items[n++] = list->items[i];
	list->n = n;
}

/* Rowids of blobs examined per statement by gc_unreferenced. */
#define GC_SCAN_ROWS 4096

/*
 * Unreferenced blobs no live writer pins, in batches: each statement
 * examines a window of GC_SCAN_ROWS rowids, so that no transaction walks
 * the whole table; a window's blobs are checked again and deleted in the
 * same transaction (arca__free_unreferenced).
 */
static int gc_unreferenced(arca__local *l, arca_gc_report *rep)
{
	static const char sel_sql[] = "SELECT digest FROM blobs AS b WHERE "
		"rowid > ?1 AND rowid <= ?2 AND NOT EXISTS "
		"(SELECT 1 FROM action_refs AS r WHERE r.digest = b.digest) AND "
		"NOT EXISTS (SELECT 1 FROM urls AS u WHERE u.digest = b.digest)";
	arca__digest_list cands = { NULL, 0, 0 }, pins = { NULL, 0, 0 };
	arca__removal r = { { NULL, 0, 0 }, 0, 0, NULL };
	sqlite3_stmt *sel = NULL, *top = NULL;
	sqlite3_int64 last = 0, max_rowid = 0;
	uint64_t found = 0;
	arca__batch b;
	int error, rc;

	if ((error = arca__sql_prepare(l, &sel, sel_sql)) < 0 ||
	    (error = arca__sql_prepare(l, &top, "SELECT coalesce(max(rowid), "
			"0) FROM blobs")) < 0)
		goto cleanup;
	if ((rc = sqlite3_step(top)) != SQLITE_ROW) {
		error = arca__sql_error(l, rc, "reading the blobs table");
		goto cleanup;
	}
	max_rowid = sqlite3_column_int64(top, 0);
	sqlite3_reset(top);
	while (last < max_rowid) {
		if ((error = arca__batch_begin(l, &b)) < 0)
			goto cleanup;
		/* Under the write lock (pin.h); dead writers' records go. */
		arca__digest_list_free(&pins);
		if ((error = arca__pins_live(l, &pins, NULL, 1)) < 0)
			goto cleanup;
		do {
			cands.n = 0;
			sqlite3_reset(sel);
			sqlite3_bind_int64(sel, 1, last);
			sqlite3_bind_int64(sel, 2, last + GC_SCAN_ROWS);
			while ((rc = sqlite3_step(sel)) == SQLITE_ROW)
				if (sqlite3_column_bytes(sel, 0) == ARCA_DIGEST_SIZE &&
				    (error = arca__digest_list_push(&cands,
						sqlite3_column_blob(sel, 0))) < 0)
					goto cleanup;
			sqlite3_reset(sel);
			if (rc != SQLITE_DONE) {
				error = arca__sql_error(l, rc, sel_sql);
				goto cleanup;
			}
			last += GC_SCAN_ROWS;
			drop_pinned(&cands, &pins);
			if ((error = arca__free_unreferenced(l, &r, &cands)) < 0)
				goto cleanup;
			found += cands.n;
		} while (last < max_rowid && !arca__batch_add(&b,
				cands.n + GC_SCAN_ROWS / 16));
		if ((error = arca__tx_commit(l)) < 0)
			goto cleanup;
		rep->unreferenced_blobs += found;
		rep->unreferenced_bytes += r.bytes;
		found = 0;
		r.bytes = 0;
		arca__removal_finish(l, &r, 1);
		if (last < max_rowid)
			arca__batch_pause();
	}
cleanup:
	sqlite3_finalize(sel);
	sqlite3_finalize(top);
	if (error < 0)
		arca__tx_rollback(l);
	arca__removal_finish(l, &r, 0);
	arca__digest_list_free(&cands);
	arca__digest_list_free(&pins);
	return error;
}

/*
 * Unlink a file that had no row when the walk listed it, unless a row was
 * committed since: checked again under the write lock, the lock a put
 * holds to publish a file and commit its row. A name that is no digest is
 * never anyone's row. 1 when the file was unlinked.
 */
static int orphan_unlink(arca__local *l, sqlite3_stmt *st, DIR *d,
		const char *name)
{
	arca_digest dg;
	int rc = SQLITE_DONE, removed = 0;

	if (arca__tx_begin(l) < 0)
		return 0;
	if (strlen(name) == ARCA_DIGEST_HEXLEN &&
	    arca_digest_from_hex(&dg, name) == 0) {
		rc = arca__step_digest(st, &dg);
		sqlite3_reset(st);
	}
	if (rc == SQLITE_DONE)
		removed = unlinkat(dirfd(d), name, 0) == 0;
	if (arca__tx_commit(l) < 0)
		arca__tx_rollback(l);
	return removed;
}

/*
 * Files in blobs/ with no index row, however young: a put renames its
 * file into blobs/ and commits its row in one transaction under the write
 * lock (commit_file_row), and orphan_unlink checks again under that lock,
 * so no writer is between the two steps when a file is taken.
 */
static int gc_orphans(arca__local *l, arca_gc_report *rep)
{
	sqlite3_stmt *st = NULL;
	DIR *top = NULL;
	struct dirent *e;
	int error;

	if ((error = arca__sql_prepare(l, &st, "SELECT 1 FROM blobs "
			"WHERE digest = ?")) < 0)
		return error;
	if ((top = opendir(l->blobs_dir)) == NULL) {
		error = errno == ENOENT ? 0 :
			arca__error_errno(errno, "cannot list", l->blobs_dir);
		goto cleanup;
	}
	while ((e = readdir(top)) != NULL) {
		char sub[PATH_MAX];
		struct dirent *f;
		DIR *d;

		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", l->blobs_dir, e->d_name);
		if ((d = opendir(sub)) == NULL)
			continue;
		while ((f = readdir(d)) != NULL) {
			struct stat sb;
			arca_digest dg;
			int rc;

			if (f->d_name[0] == '.' ||
			    fstatat(dirfd(d), f->d_name, &sb,
					AT_SYMLINK_NOFOLLOW) != 0)
				continue;
			if (strlen(f->d_name) == ARCA_DIGEST_HEXLEN &&
			    arca_digest_from_hex(&dg, f->d_name) == 0) {
				rc = arca__step_digest(st, &dg);
				sqlite3_reset(st);
				if (rc == SQLITE_ROW)
					continue;
				if (rc != SQLITE_DONE) {
					closedir(d);
					error = arca__sql_error(l, rc,
							"looking up a blob");
					goto cleanup;
				}
			}
			if (orphan_unlink(l, st, d, f->d_name)) {
				rep->orphan_files++;
				rep->orphan_bytes += (uint64_t)sb.st_size;
			}
		}
		closedir(d);
	}
	error = 0;
cleanup:
	if (top)
		closedir(top);
	sqlite3_finalize(st);
	return error;
}

int arca_store_gc(arca_gc_report *out, arca_store *store)
{
	arca__local *l = arca__store_local(store);
	arca_gc_report rep;
	char *leases = NULL;
	int error;

	memset(&rep, 0, sizeof(rep));
	if (out)
		memset(out, 0, sizeof(*out));
	if ((error = arca__writable(l)) < 0)
		return error;
	(void)arca__access_apply(l);
	/* On a full disk the reserve file is given up for it (space.h). */
	arca__space_before_delete(l, NULL);
	if ((error = gc_expired(l, &rep)) == ARCA_EFULL &&
			arca__space_give_up(l))
		error = gc_expired(l, &rep);
	if (error < 0)
		goto cleanup;
	if ((error = gc_unreferenced(l, &rep)) == ARCA_EFULL &&
			arca__space_give_up(l))
		error = gc_unreferenced(l, &rep);
	if (error < 0 || (error = gc_orphans(l, &rep)) < 0)
		goto cleanup;
	/* The open's sweep, with counts: a dead writer's restore- record
	 * goes with the temp file it names. */
	arca__sweep_tmp(l->tmp_dir, &rep.temp_files, &rep.temp_bytes);
	if ((leases = arca__path_join(l->dir, "leases")) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	arca__sweep_tmp(leases, &rep.stale_leases, NULL);
cleanup:
	free(leases);
	if (out)
		*out = rep;
	return arca__space_after_delete(l, error);
}

/* ---- per-day statistics ---------------------------------------------- */

int arca_stats_days(arca_store *store, unsigned int days,
		arca_day_stats_cb cb, void *ctx)
{
	arca__local *l = arca__store_local(store);
	sqlite3_stmt *st = NULL;
	arca_day_stats s;
	int error, rc;

	if (days == 0)
		return arca__error(ARCA_EINVAL, "stats: at least one day");
	(void)arca__access_flush(l);   /* this handle's pending counts */
	if ((error = arca__sql_prepare(l, &st, "SELECT day, sum(hits), "
			"sum(misses), sum(errors), sum(evictions), "
			"sum(bytes_evicted), sum(bytes_read), sum(bytes_written), "
			"sum(saved_ms) FROM stats WHERE day > ? GROUP BY day "
			"ORDER BY day")) < 0)
		return error;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)(arca__now() / 86400) -
			(sqlite3_int64)days);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		s.day = sqlite3_column_int64(st, 0);
		s.hits = (uint64_t)sqlite3_column_int64(st, 1);
		s.misses = (uint64_t)sqlite3_column_int64(st, 2);
		s.errors = (uint64_t)sqlite3_column_int64(st, 3);
		s.evictions = (uint64_t)sqlite3_column_int64(st, 4);
		s.bytes_evicted = (uint64_t)sqlite3_column_int64(st, 5);
		s.bytes_read = (uint64_t)sqlite3_column_int64(st, 6);
		s.bytes_written = (uint64_t)sqlite3_column_int64(st, 7);
		s.saved_ms = (uint64_t)sqlite3_column_int64(st, 8);
		if ((error = cb(&s, ctx)) != 0)
			goto cleanup;
	}
	error = rc == SQLITE_DONE ? 0 : arca__sql_error(l, rc, "reading stats");
cleanup:
	sqlite3_finalize(st);
	return error;
}
