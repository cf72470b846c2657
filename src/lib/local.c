/*
 * The local tier: an SQLite index in WAL mode and blob files.
 *
 * Layout of a store directory:
 *   index.db      SQLite index (schema below); small blobs live in it
 *   blobs/ab/<d>  blobs larger than the inline threshold, read-only files
 *   tmp/          files being written, each flock'ed by its live writer,
 *                 and the pin records of live writers (pins-*, pin.h)
 *   quarantine/   blobs whose bytes no longer match their digest, and
 *                 damaged indexes (index.db.<UTC time>, repair.c)
 *   index.lock    flock'ed shared by opens, exclusive by a repair
 *   index.damaged left when damage is met where it cannot be repaired at
 *                 once: the next open repairs (repair.c)
 *   reserve       preallocated, not a blob (not in usage): 4 MiB, or an
 *                 eighth of a smaller file system. A removal on a full
 *                 disk gives it up so that its transaction can commit;
 *                 re-created as soon as it fits again (space.c)
 *
 * Invariants: an index row for a file blob is committed only after the
 * file is durable (temp file fsynced, renamed, directory fsynced); a row is
 * deleted before its file is unlinked; every read re-hashes the bytes,
 * except, under verify: stamp, a large file blob whose file's stat data is
 * the stamp recorded at its last full verification ("verify: stamp" below).
 */
#include "local.h"
#include "local_sql.h"

#include "fsutil.h"
#include "hash_pipe.h"
#include "internal.h"
#include "pin.h"
#include "space.h"
#include "stat_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

/* Version 1 is created by schema_sql; migrations[] take it to the latest. */
#define SCHEMA_VERSION "6"
#define IO_CHUNK (1u << 20)
#define WRITEBACK_CHUNK (8u << 20)
#define MAX_INLINE_THRESHOLD (64u << 20)

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta("
	"  name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
	/* One row per blob; data holds the bytes of inline blobs. */
	"CREATE TABLE IF NOT EXISTS blobs("
	"  digest BLOB PRIMARY KEY,"
	"  size INTEGER NOT NULL,"
	"  inline INTEGER NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  data BLOB);"
	/* The action cache: key -> manifest blob, with what ls/stats need. */
	"CREATE TABLE IF NOT EXISTS actions("
	"  key BLOB PRIMARY KEY,"
	"  stage TEXT NOT NULL,"
	"  manifest BLOB NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  duration_ms INTEGER NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  last_access INTEGER NOT NULL,"
	"  hits INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS actions_stage ON actions(stage);"
	/* Input content digests, so 'clear --input FILE' is a lookup. */
	"CREATE TABLE IF NOT EXISTS action_inputs("
	"  digest BLOB NOT NULL, key BLOB NOT NULL,"
	"  PRIMARY KEY(digest, key)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS action_inputs_key ON action_inputs(key);"
	/* Blobs an action references (manifest, outputs, stdout, stderr). */
	"CREATE TABLE IF NOT EXISTS action_refs("
	"  key BLOB NOT NULL, digest BLOB NOT NULL,"
	"  PRIMARY KEY(key, digest)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS action_refs_digest ON action_refs(digest);"
	/* Counters per UTC day (days since the epoch) and stage. */
	"CREATE TABLE IF NOT EXISTS stats("
	"  day INTEGER NOT NULL, stage TEXT NOT NULL,"
	"  hits INTEGER NOT NULL DEFAULT 0, misses INTEGER NOT NULL DEFAULT 0,"
	"  errors INTEGER NOT NULL DEFAULT 0,"
	"  bytes_read INTEGER NOT NULL DEFAULT 0,"
	"  bytes_written INTEGER NOT NULL DEFAULT 0,"
	"  saved_ms INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY(day, stage)) WITHOUT ROWID;"
	/* URL inputs: the body's blob and the validators to revalidate it. */
	"CREATE TABLE IF NOT EXISTS urls("
	"  url TEXT PRIMARY KEY,"
	"  digest BLOB NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  etag TEXT,"
	"  last_modified TEXT,"
	"  fetched_at INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS urls_digest ON urls(digest);"
	"INSERT OR IGNORE INTO meta(name, value) VALUES('schema', '1');";

/* migrations[i] takes schema i + 1 to i + 2, in the transaction of open. */
static const char *const migrations[] = {
	/* 2: capacity and lifecycle (LRU eviction, TTL, tags, evictions). */
	"ALTER TABLE blobs ADD COLUMN last_access INTEGER NOT NULL DEFAULT 0;"
	"UPDATE blobs SET last_access = created;"
	"ALTER TABLE actions ADD COLUMN expires INTEGER;"
	"CREATE INDEX IF NOT EXISTS actions_lru ON actions(last_access);"
	"CREATE INDEX IF NOT EXISTS actions_expires ON actions(expires) "
	"  WHERE expires IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS blobs_lru ON blobs(last_access);"
	"CREATE TABLE IF NOT EXISTS action_tags("
	"  tag TEXT NOT NULL, key BLOB NOT NULL,"
	"  PRIMARY KEY(tag, key)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS action_tags_key ON action_tags(key);"
	"CREATE TABLE IF NOT EXISTS blob_tags("
	"  tag TEXT NOT NULL, digest BLOB NOT NULL,"
	"  PRIMARY KEY(tag, digest)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS blob_tags_digest ON blob_tags(digest);"
	"ALTER TABLE stats ADD COLUMN evictions INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE stats ADD COLUMN bytes_evicted INTEGER NOT NULL DEFAULT 0;"
	"UPDATE meta SET value = '2' WHERE name = 'schema';",
	/* 3: the bytes of all blobs kept in meta('usage') by triggers, in the
	 * statement that changes them, so eviction never sums the table; tags
	 * go with their action or blob. */
	"INSERT OR REPLACE INTO meta(name, value) VALUES('usage',"
	"  (SELECT coalesce(sum(size), 0) FROM blobs));"
	"CREATE TRIGGER IF NOT EXISTS blobs_usage_insert AFTER INSERT ON blobs "
	"  BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + NEW.size"
	"  WHERE name = 'usage'; END;"
	"CREATE TRIGGER IF NOT EXISTS blobs_usage_delete AFTER DELETE ON blobs "
	"  BEGIN UPDATE meta SET value = CAST(value AS INTEGER) - OLD.size"
	"  WHERE name = 'usage';"
	"  DELETE FROM blob_tags WHERE digest = OLD.digest; END;"
	"CREATE TRIGGER IF NOT EXISTS actions_tags_delete AFTER DELETE ON actions "
	"  BEGIN DELETE FROM action_tags WHERE key = OLD.key; END;"
	"UPDATE meta SET value = '3' WHERE name = 'schema';",
	/* 4: hits are appended to access_log (cheap at any store size) and
	 * applied to actions, sorted by key, when an LRU order is needed. */
	"CREATE TABLE IF NOT EXISTS access_log("
	"  key BLOB NOT NULL, t INTEGER NOT NULL);"
	"UPDATE meta SET value = '4' WHERE name = 'schema';",
	/* 5: verify: stamp ("verify: stamp" below): the stat data of a file
	 * blob's file at its last full verification, "dev ino size
	 * mtime_ns ctime_ns"; NULL: none (every read re-hashes). */
	"ALTER TABLE blobs ADD COLUMN stamp TEXT;"
	"UPDATE meta SET value = '5' WHERE name = 'schema';",
	/* 6: the stat cache (stat_cache.c): a file's digest by its device
	 * and inode while its size, mtime and ctime (ns) are unchanged;
	 * recorded_ns, when that stat data was taken (the racy test of
	 * git's racy-git.txt); last_used (s) orders pruning, the row count
	 * kept in meta by triggers so that the bound costs no scan. */
	"CREATE TABLE IF NOT EXISTS stat_cache("
	"  dev INTEGER NOT NULL, ino INTEGER NOT NULL,"
	"  size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
	"  ctime_ns INTEGER NOT NULL, digest BLOB NOT NULL,"
	"  recorded_ns INTEGER NOT NULL, last_used INTEGER NOT NULL,"
	"  PRIMARY KEY(dev, ino)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS stat_cache_lru ON stat_cache(last_used);"
	"INSERT OR REPLACE INTO meta(name, value) VALUES('stat_cache_rows',"
	"  (SELECT count(*) FROM stat_cache));"
	"CREATE TRIGGER IF NOT EXISTS stat_cache_count_insert AFTER INSERT ON "
	"  stat_cache BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1"
	"  WHERE name = 'stat_cache_rows'; END;"
	"CREATE TRIGGER IF NOT EXISTS stat_cache_count_delete AFTER DELETE ON "
	"  stat_cache BEGIN UPDATE meta SET value = CAST(value AS INTEGER) - 1"
	"  WHERE name = 'stat_cache_rows'; END;"
	"UPDATE meta SET value = '6' WHERE name = 'schema';",
};



int arca__digest_list_push(arca__digest_list *list, const void *bytes)
{
	if (list->n == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 16;
		arca_digest *items = realloc(list->items, cap * sizeof(*items));

		if (items == NULL)
			return arca__error(ARCA_ENOMEM, "out of memory");
		list->items = items;
		list->cap = cap;
	}
	memcpy(list->items[list->n++].bytes, bytes, ARCA_DIGEST_SIZE);
	return 0;
}

void arca__digest_list_free(arca__digest_list *list)
{
	free(list->items);
	list->items = NULL;
	list->n = list->cap = 0;
}

static arca__local *local_of(arca_backend *b)
{
	return (arca__local *)b;
}

/* ---- SQLite helpers ------------------------------------------------ */

static int sql_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE: return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return ARCA_EBUSY;
	case SQLITE_FULL: return ARCA_EFULL;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
	case SQLITE_CANTOPEN: return ARCA_EPERM;
	/* A damaged index is a database error, not a corrupt blob: the
	 * callers' ARCA_ECORRUPT means "bytes that do not match their
	 * digest, quarantined" (repair.c handles the damage). */
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT: return ARCA_EIO;
	case SQLITE_NOMEM: return ARCA_ENOMEM;
	default: return ARCA_EIO;
	}
}

int arca__sql_error(arca__local *l, int rc, const char *context)
{
	int code = sql_code(rc);

	if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB) {
		const char *why = sqlite3_errstr(rc);

		arca__index_note_damage(l, why);
		return arca__error(code, "%s/index.db: the index is damaged: "
				"%s (%s)%s", l->dir, why, context,
				l->opts.read_only ? "; open the store read-write "
				"to repair it" : "; it is rebuilt from the blob "
				"files at the next open");
	}

	/* SQLite reports a wal-index or journal it cannot extend on a full
	 * disk as an I/O error; the errno behind it says "full". */
	if ((rc & 0xff) == SQLITE_IOERR && l->db &&
	    (sqlite3_system_errno(l->db) == ENOSPC ||
	     sqlite3_system_errno(l->db) == EDQUOT))
		code = ARCA_EFULL;
	return arca__error(code, "%s/index.db: %s (%s)", l->dir,
			l->db ? sqlite3_errmsg(l->db) : sqlite3_errstr(rc),
			context);
}

int arca__sql_exec(arca__local *l, const char *sql)
{
	int rc = sqlite3_exec(l->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : arca__sql_error(l, rc, sql);
}

/*
 * arca__sql_exec() of arca's own fixed schema script on an index that
 * exists: SQLITE_ERROR ("table meta has no column named value") means
 * the schema text in sqlite_master is damaged, as in arca__sql_prepare().
 */
static int schema_exec(arca__local *l, const char *sql)
{
	int rc = sqlite3_exec(l->db, sql, NULL, NULL, NULL);
	char why[512];

	if (rc != SQLITE_ERROR)
		return rc == SQLITE_OK ? 0 : arca__sql_error(l, rc, sql);
	snprintf(why, sizeof(why), "the schema does not match its version: "
			"%s", sqlite3_errmsg(l->db));
	arca__index_note_damage(l, why);
	return arca__error(ARCA_EIO, "%s/index.db: the index is damaged: %s%s",
			l->dir, why, l->opts.read_only ? "; open the store "
			"read-write to repair it" : "; it is rebuilt from the "
			"blob files at the next open");
}

int arca__sql_prepare(arca__local *l, sqlite3_stmt **st, const char *sql)
{
	int rc = sqlite3_prepare_v2(l->db, sql, -1, st, NULL);

	if (rc == SQLITE_ERROR) {
		/* arca's statements are fixed and the schema was checked to
		 * be the one they are written for: one SQLite cannot prepare
		 * ("no such column") means the schema text itself is damaged
		 * (a flipped byte in sqlite_master), repaired like any other
		 * damage. */
		char why[512];

		snprintf(why, sizeof(why), "the schema does not match its "
				"version: %s", sqlite3_errmsg(l->db));
		arca__index_note_damage(l, why);
		return arca__error(ARCA_EIO, "%s/index.db: the index is "
				"damaged: %s (%s)%s", l->dir, why, sql,
				l->opts.read_only ? "; open the store read-write "
				"to repair it" : "; it is rebuilt from the blob "
				"files at the next open");
	}
	return rc == SQLITE_OK ? 0 : arca__sql_error(l, rc, sql);
}

int arca__tx_begin(arca__local *l)
{
	return arca__sql_exec(l, "BEGIN IMMEDIATE");
}

/*
 * Start an emptied WAL again at once with a bookkeeping write (a count in
 * meta('wal_restarts'); a write that changes no byte writes no frame): its first frame costs the WAL header
 * and its sync (SQLite syncs a new WAL's header even with
 * synchronous=NORMAL), paid here, by the handle that emptied the WAL,
 * not by the next hit (local.c, "Checkpoints").
 */
static void wal_restart(arca__local *l)
{
	int was = l->bookkeeping;

	if (!l->wal_emptied)
		return;
	l->wal_emptied = 0;
	l->bookkeeping = 1;
	(void)sqlite3_exec(l->db, "INSERT OR REPLACE INTO meta(name, value) "
			"VALUES('wal_restarts', 1 + coalesce((SELECT CAST(value "
			"AS INTEGER) FROM meta WHERE name = 'wal_restarts'), 0))",
			NULL, NULL, NULL);
	l->bookkeeping = was;
}

int arca__tx_commit(arca__local *l)
{
	int error = arca__sql_exec(l, "COMMIT");

	if (error == 0)
		wal_restart(l);
	return error;
}

void arca__tx_rollback(arca__local *l)
{
	if (!sqlite3_get_autocommit(l->db))
		sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Reset st, bind digest d as its one parameter, and step it once. */
int arca__step_digest(sqlite3_stmt *st, const arca_digest *d)
{
	sqlite3_reset(st);
	sqlite3_bind_blob(st, 1, d->bytes, ARCA_DIGEST_SIZE, SQLITE_STATIC);
	return sqlite3_step(st);
}

/* Run a statement that takes one blob parameter and returns no rows. */
int arca__sql_run_digest(arca__local *l, const char *sql,
		const arca_digest *d)
{
	sqlite3_stmt *st = NULL;
	int error, rc;

	if ((error = arca__sql_prepare(l, &st, sql)) < 0)
		return error;
	sqlite3_bind_blob(st, 1, d->bytes, ARCA_DIGEST_SIZE, SQLITE_STATIC);
	rc = sqlite3_step(st);
	error = rc == SQLITE_DONE ? 0 : arca__sql_error(l, rc, sql);
	sqlite3_finalize(st);
	return error;
}

/* Collect column 0 (a digest) of every row of sql bound to d (or none). */
/* Step st to its end, collecting column 0 (a digest); finalizes st. */
static int collect_rows(arca__local *l, arca__digest_list *out,
		sqlite3_stmt *st, const char *sql)
{
	int error = 0, rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != ARCA_DIGEST_SIZE)
			continue;
		if ((error = arca__digest_list_push(out,
				sqlite3_column_blob(st, 0))) < 0)
			goto cleanup;
	}
	error = rc == SQLITE_DONE ? 0 : arca__sql_error(l, rc, sql);
cleanup:
	sqlite3_finalize(st);
	return error;
}

int arca__sql_collect(arca__local *l, arca__digest_list *out, const char *sql,
		const void *bind, int bind_len)
{
	sqlite3_stmt *st = NULL;
	int error;

	if ((error = arca__sql_prepare(l, &st, sql)) < 0)
		return error;
	if (bind != NULL && bind_len >= 0)
		sqlite3_bind_blob(st, 1, bind, bind_len, SQLITE_STATIC);
	else if (bind != NULL)
		sqlite3_bind_text(st, 1, bind, -1, SQLITE_STATIC);
	return collect_rows(l, out, st, sql);
}

int arca__sql_collect_int64(arca__local *l, arca__digest_list *out,
		const char *sql, int64_t bind)
{
	sqlite3_stmt *st = NULL;
	int error;

	if ((error = arca__sql_prepare(l, &st, sql)) < 0)
		return error;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)bind);
	return collect_rows(l, out, st, sql);
}

/* ---- paths --------------------------------------------------------- */

void arca__blob_path(char *out, size_t outsize, const arca__local *l,
		const arca_digest *d)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	arca_digest_to_hex(hex, d);
	snprintf(out, outsize, "%s/%.2s/%s", l->blobs_dir, hex, hex);
}

int arca__local_open_blob_file(arca__local *l, const arca_digest *d,
		int *fd_out)
{
	char path[PATH_MAX], hex[ARCA_DIGEST_HEXLEN + 1];

	arca__blob_path(path, sizeof(path), l, d);
	if ((*fd_out = open(path, O_RDONLY | O_CLOEXEC)) >= 0)
		return 0;
	if (errno != ENOENT)
		return arca__error_errno(errno, "cannot open blob", path);
	arca_digest_to_hex(hex, d);
	return arca__error(ARCA_ENOTFOUND, "blob %s: no file %s", hex, path);
}

int arca__writable(arca__local *l)
{
	if (l->opts.read_only)
		return arca__error(ARCA_EPERM, "%s: store opened read-only",
				l->dir);
	if (l->fatal)
		return arca__error(ARCA_EFATAL,
				"%s: an earlier write failed uncertainly; "
				"reopen the store", l->dir);
	return 0;
}

/* ---- removal of actions and blobs ----------------------------------- */

static int row_is_for(arca__local *l, sqlite3_stmt *st, int col,
		const arca_digest *d);


/* Files unlinked per write transaction by arca__removal_finish. */
#define REMOVAL_BATCH 256

/*
 * A file is unlinked under the write lock and only while no row names its
 * digest: a put commits a file blob's row under the same lock, together
 * with a check that its file is in place (commit_file_row), so a put of
 * the same content racing the removal either keeps the file (its row came
 * first) or finds it gone and writes it again. A file left because the
 * lock could not be had is an orphan: gc's.
 */
static void unlink_unindexed(arca__local *l, const arca__digest_list *files)
{
	char path[PATH_MAX];
	sqlite3_stmt *has = NULL;
	size_t i = 0, end;
	int rc;

	if (files->n == 0 || arca__sql_prepare(l, &has, "SELECT 1 FROM blobs "
			"WHERE digest = ?") < 0)
		return;
	while (i < files->n) {
		if (arca__tx_begin(l) < 0)
			break;
		for (end = i + REMOVAL_BATCH; i < end && i < files->n; i++) {
			rc = arca__step_digest(has, &files->items[i]);
			sqlite3_reset(has);
			if (rc != SQLITE_DONE)
				continue;
			arca__blob_path(path, sizeof(path), l, &files->items[i]);
			unlink(path);
		}
		if (arca__tx_commit(l) < 0) {
			arca__tx_rollback(l);
			break;
		}
	}
	sqlite3_finalize(has);
	arca__error_clear();
}

/*
 * A file blob whose row the removal r deletes: noted in r->files for
 * arca__removal_finish(), and first in this handle's pin record (pin.h),
 * held until the unlinks are done. If this process dies between its
 * commit and its unlinks, the file is named by a dead record and has no
 * row: the next open or eviction removes it (arca__pins_reap), so a
 * killed removal leaves no orphan file for gc to find.
 */
int arca__removal_add(arca__local *l, arca__removal *r, const arca_digest *d)
{
	if (r->files.n == 0)
		arca__pin_hold(l);
	arca__pin(l, d);
	return arca__digest_list_push(&r->files, d->bytes);
}

void arca__removal_finish(arca__local *l, arca__removal *r, int committed)
{
	int held = r->files.n > 0;

	if (committed)
		unlink_unindexed(l, &r->files);
	arca__digest_list_free(&r->files);
	if (held)
		arca__pin_release(l);
}

/* Delete blob rows in candidates that no action references any more and
 * no live writer pins (the action that will name them is not committed
 * yet: pin.h). */
int arca__free_unreferenced(arca__local *l, arca__removal *r,
		const arca__digest_list *candidates)
{
	sqlite3_stmt *ref = NULL, *info = NULL, *del = NULL;
	arca__digest_list pins = { NULL, 0, 0 };
	size_t i;
	int error, rc;

	if (candidates->n == 0)
		return 0;
	if ((error = arca__pins_live(l, &pins, NULL, 0)) < 0 ||
	    (error = arca__sql_prepare(l, &ref, "SELECT 1 FROM action_refs "
			"WHERE digest = ?1 UNION ALL SELECT 1 FROM urls "
			"WHERE digest = ?1 LIMIT 1")) < 0 ||
	    (error = arca__sql_prepare(l, &info, "SELECT size, inline, digest, "
			"data IS NULL FROM blobs WHERE digest = ?")) < 0 ||
	    (error = arca__sql_prepare(l, &del, "DELETE FROM blobs "
			"WHERE digest = ?")) < 0)
		goto cleanup;
	for (i = 0; i < candidates->n; i++) {
		const arca_digest *d = &candidates->items[i];

		if (arca__pins_contain(&pins, d))
			continue;
		rc = arca__step_digest(ref, d);
		if (rc == SQLITE_ROW)
			continue;
		if (rc != SQLITE_DONE) {
			error = arca__sql_error(l, rc, "looking up blob references");
			goto cleanup;
		}
		rc = arca__step_digest(info, d);
		if (rc == SQLITE_DONE)
			continue;
		if (rc != SQLITE_ROW) {
			error = arca__sql_error(l, rc, "reading a blob row");
			goto cleanup;
		}
		/* Never remove a file on the word of a damaged index. */
		if ((error = row_is_for(l, info, 2, d)) < 0)
			goto cleanup;
		r->bytes += (uint64_t)sqlite3_column_int64(info, 0);
		if (!sqlite3_column_int(info, 1) && sqlite3_column_int(info, 3) &&
				(error = arca__removal_add(l, r, d)) < 0)
			goto cleanup;
		if ((rc = arca__step_digest(del, d)) != SQLITE_DONE) {
			error = arca__sql_error(l, rc, "deleting a blob row");
			goto cleanup;
		}
	}
	error = 0;
cleanup:
	sqlite3_finalize(ref);
	sqlite3_finalize(info);
	sqlite3_finalize(del);
	arca__digest_list_free(&pins);
	return error;
}

/* The statements that delete an action's rows, prepared once for a whole
 * list of keys. */
typedef struct action_deleter {
	sqlite3_stmt *refs, *del_refs, *del_inputs, *del_action;
} action_deleter;

static int deleter_prepare(arca__local *l, action_deleter *d)
{
	int error;

	memset(d, 0, sizeof(*d));
	if ((error = arca__sql_prepare(l, &d->refs, "SELECT digest FROM "
			"action_refs WHERE key = ?")) < 0 ||
	    (error = arca__sql_prepare(l, &d->del_refs, "DELETE FROM "
			"action_refs WHERE key = ?")) < 0 ||
	    (error = arca__sql_prepare(l, &d->del_inputs, "DELETE FROM "
			"action_inputs WHERE key = ?")) < 0 ||
	    (error = arca__sql_prepare(l, &d->del_action, "DELETE FROM "
			"actions WHERE key = ?")) < 0)
		return error;
	return 0;
}

static void deleter_finalize(action_deleter *d)
{
	sqlite3_finalize(d->refs);
	sqlite3_finalize(d->del_refs);
	sqlite3_finalize(d->del_inputs);
	sqlite3_finalize(d->del_action);
}

/* Delete an action's rows; its references are appended to refs. */
static int deleter_run(arca__local *l, action_deleter *d,
		arca__digest_list *refs, const arca_digest *key, int *found)
{
	int error = 0, rc;

	*found = 0;
	sqlite3_reset(d->refs);
	sqlite3_bind_blob(d->refs, 1, key->bytes, ARCA_DIGEST_SIZE,
			SQLITE_STATIC);
	while ((rc = sqlite3_step(d->refs)) == SQLITE_ROW)
		if (sqlite3_column_bytes(d->refs, 0) == ARCA_DIGEST_SIZE &&
		    (error = arca__digest_list_push(refs,
				sqlite3_column_blob(d->refs, 0))) < 0)
			break;
	sqlite3_reset(d->refs);
	if (error < 0)
		return error;
	if (rc != SQLITE_DONE)
		return arca__sql_error(l, rc, "reading action references");
	if ((rc = arca__step_digest(d->del_refs, key)) != SQLITE_DONE ||
	    (sqlite3_reset(d->del_refs),
	     rc = arca__step_digest(d->del_inputs, key)) != SQLITE_DONE ||
	    (sqlite3_reset(d->del_inputs),
	     rc = arca__step_digest(d->del_action, key)) != SQLITE_DONE) {
		error = arca__sql_error(l, rc, "deleting an action");
		sqlite3_reset(d->del_refs);
		sqlite3_reset(d->del_inputs);
		sqlite3_reset(d->del_action);
		return error;
	}
	*found = sqlite3_changes(l->db) > 0;
	sqlite3_reset(d->del_action);
	return 0;
}

static int delete_action_rows(arca__local *l, arca__digest_list *refs,
		const arca_digest *key, int *found)
{
	action_deleter d;
	int error;

	*found = 0;
	if ((error = deleter_prepare(l, &d)) == 0)
		error = deleter_run(l, &d, refs, key, found);
	deleter_finalize(&d);
	return error;
}

/* Remove the actions in keys and the blobs only they referenced. In a
 * transaction the caller holds. */
int arca__remove_actions(arca__local *l, arca__removal *r, const arca__digest_list *keys)
{
	arca__digest_list refs = { NULL, 0, 0 };
	action_deleter d;
	size_t i;
	int error, found;

	if ((error = deleter_prepare(l, &d)) < 0)
		goto cleanup;
	for (i = 0; i < keys->n; i++) {
		if ((error = deleter_run(l, &d, &refs, &keys->items[i],
				&found)) < 0)
			goto cleanup;
		r->actions += (uint64_t)found;
		if (found && r->keys_out != NULL &&
		    (error = arca__digest_list_push(r->keys_out,
				keys->items[i].bytes)) < 0)
			goto cleanup;
	}
	error = arca__free_unreferenced(l, r, &refs);
cleanup:
	deleter_finalize(&d);
	arca__digest_list_free(&refs);
	return error;
}

/* ---- batches --------------------------------------------------------- */

/* Keys selected per statement of a batched removal. */
#define REMOVE_CHUNK 256
/* Pause between two batches: longer than the 1 ms poll of busy_wait(). */
#define BATCH_PAUSE_US 3000

int arca__batch_begin(arca__local *l, arca__batch *b)
{
	int error = arca__tx_begin(l);

	/* The budget starts once the lock is held: a batch that waited for
	 * it still does its share. */
	b->rows = 0;
	b->start_ms = arca__mono_ms();
	return error;
}

int arca__batch_full(const arca__batch *b)
{
	return b->rows >= ARCA__BATCH_ROWS ||
		arca__mono_ms() - b->start_ms >= ARCA__BATCH_MS;
}

int arca__batch_add(arca__batch *b, uint64_t n)
{
	b->rows += n;
	return arca__batch_full(b);
}

void arca__batch_pause(void)
{
	struct timespec ts = { 0, BATCH_PAUSE_US * 1000L };

	nanosleep(&ts, NULL);
}

int arca__remove_batched(arca__local *l, uint64_t *n_removed,
		uint64_t *bytes, const char *sql, arca__bind_fn bind,
		const void *ctx, int blobs)
{
	return arca__remove_batched_cb(l, n_removed, bytes, sql, bind, ctx,
			blobs, NULL, NULL);
}

int arca__remove_batched_cb(arca__local *l, uint64_t *n_removed,
		uint64_t *bytes, const char *sql, arca__bind_fn bind,
		const void *ctx, int blobs,
		void (*on_removed)(const arca_digest *, void *), void *cb_ctx)
{
	arca__digest_list keys = { NULL, 0, 0 }, gone = { NULL, 0, 0 };
	arca__removal r = { { NULL, 0, 0 }, 0, 0, NULL };
	arca_digest last;
	sqlite3_stmt *st = NULL;
	arca__batch b;
	size_t i;
	int error, rc, started = 0, done = 0;

	if (on_removed != NULL && !blobs)
		r.keys_out = &gone;
	if ((error = arca__sql_prepare(l, &st, sql)) < 0)
		return error;
	while (!done) {
		gone.n = 0;
		if ((error = arca__batch_begin(l, &b)) < 0)
			goto cleanup;
		do {
			keys.n = 0;
			sqlite3_reset(st);
			if (started)
				sqlite3_bind_blob(st, 1, last.bytes,
						ARCA_DIGEST_SIZE, SQLITE_STATIC);
			else
				sqlite3_bind_zeroblob(st, 1, 0);
			sqlite3_bind_int(st, 2, REMOVE_CHUNK);
			if (bind != NULL)
				bind(st, ctx);
			while ((rc = sqlite3_step(st)) == SQLITE_ROW)
				if (sqlite3_column_bytes(st, 0) == ARCA_DIGEST_SIZE &&
				    (error = arca__digest_list_push(&keys,
						sqlite3_column_blob(st, 0))) < 0)
					goto cleanup;
			sqlite3_reset(st);
			if (rc != SQLITE_DONE) {
				error = arca__sql_error(l, rc, "selecting what "
						"to remove");
				goto cleanup;
			}
			if (keys.n > 0) {
				last = keys.items[keys.n - 1];
				started = 1;
			}
			done = keys.n < REMOVE_CHUNK;
			if ((error = blobs ?
					arca__free_unreferenced(l, &r, &keys) :
					arca__remove_actions(l, &r, &keys)) < 0)
				goto cleanup;
		} while (!done && !arca__batch_add(&b, keys.n));
		if ((error = arca__tx_commit(l)) < 0)
			goto cleanup;
		*n_removed += blobs ? 0 : r.actions;
		*bytes += r.bytes;
		r.actions = r.bytes = 0;
		arca__removal_finish(l, &r, 1);
		for (i = 0; i < gone.n; i++)
			on_removed(&gone.items[i], cb_ctx);
		if (!done)
			arca__batch_pause();
	}
cleanup:
	sqlite3_finalize(st);
	if (error < 0)
		arca__tx_rollback(l);
	arca__removal_finish(l, &r, 0);
	arca__digest_list_free(&keys);
	arca__digest_list_free(&gone);
	return error;
}

/*
 * Drop a blob's row together with every action that references it (and
 * what only those referenced). The blob's file, if any, has already been
 * moved away or is missing.
 */
static int drop_blob_and_dependents(arca__local *l, const arca_digest *d)
{
	arca__digest_list keys = { NULL, 0, 0 };
	arca__removal r = { { NULL, 0, 0 }, 0, 0, NULL };
	char path[PATH_MAX];
	int error;

	if ((error = arca__tx_begin(l)) < 0)
		return error;
	/* Its file is back: the same content was put again meanwhile. */
	arca__blob_path(path, sizeof(path), l, d);
	if (access(path, F_OK) == 0)
		goto cleanup;
	if ((error = arca__sql_collect(l, &keys, "SELECT key FROM action_refs "
			"WHERE digest = ?", d->bytes, ARCA_DIGEST_SIZE)) < 0 ||
	    (error = arca__sql_collect(l, &keys, "SELECT key FROM actions "
			"WHERE manifest = ?", d->bytes, ARCA_DIGEST_SIZE)) < 0 ||
	    (error = arca__remove_actions(l, &r, &keys)) < 0 ||
	    (error = arca__sql_run_digest(l, "DELETE FROM blobs WHERE digest = ?",
			d)) < 0 ||
	    (error = arca__tx_commit(l)) < 0)
		goto cleanup;
cleanup:
	arca__tx_rollback(l); /* still open when nothing was dropped */
	arca__removal_finish(l, &r, error == 0);
	arca__digest_list_free(&keys);
	return error;
}

int arca__local_drop_blob(arca__local *l, const arca_digest *digest)
{
	arca__digest_list files = { NULL, 0, 0 };
	int error;

	if ((error = arca__writable(l)) < 0)
		return error;
	/* Pinned before its row goes: a dead dropper's file is reaped. */
	arca__pin_hold(l);
	arca__pin(l, digest);
	if ((error = drop_blob_and_dependents(l, digest)) == 0 &&
	    (error = arca__digest_list_push(&files, digest->bytes)) == 0)
		/* Unless the same content was put again meanwhile. */
		unlink_unindexed(l, &files);
	arca__digest_list_free(&files);
	arca__pin_release(l);
	return error;
}

/* Keep the bad bytes for inspection in quarantine/<hex>[.inline]. */
static void quarantine_bytes(arca__local *l, const arca_digest *d,
		const void *data, size_t len)
{
	char hex[ARCA_DIGEST_HEXLEN + 1], path[PATH_MAX];
	int fd;

	arca_digest_to_hex(hex, d);
	snprintf(path, sizeof(path), "%s/%s.inline", l->quarantine_dir, hex);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
	if (fd < 0)
		return;
	(void)arca__write_all(fd, data, len, path);
	close(fd);
}

void arca__local_quarantine_file(arca__local *l, const arca_digest *d)
{
	char hex[ARCA_DIGEST_HEXLEN + 1], from[PATH_MAX], to[PATH_MAX];

	arca_digest_to_hex(hex, d);
	arca__blob_path(from, sizeof(from), l, d);
	snprintf(to, sizeof(to), "%s/%s", l->quarantine_dir, hex);
	if (rename(from, to) != 0)
		unlink(from);
}

/* ---- verify: stamp ------------------------------------------------- */

/*
 * Under verify: stamp, a file blob of at least verify_stamp_min bytes
 * keeps in its row (blobs.stamp) the stat data its file had when a read
 * last hashed all of it and found it intact: "dev ino size mtime_ns
 * ctime_ns". A read whose fstat gives the same text trusts the bytes
 * without hashing them; any other text (the file was rewritten,
 * truncated, replaced, touched, chmod'ed: each sets ctime at least) hashes
 * them again. arca_store_verify() always hashes. What this does not see:
 * docs/cli.md, "Verification".
 *
 * Racy stamps (git's Documentation/technical/racy-git.txt): the stat
 * data is taken before the hash, after t0, a reading of the coarse
 * clock the kernel stamps file times from. A change after that fstat is
 * stamped at t0 or later, so it shows as another ctime only when the
 * file's ctime (and mtime) are older than t0; a file changed so recently
 * is not stamped (its next read hashes again). Where times look coarser
 * than a millisecond (tv_nsec a multiple of 10^6: FAT, exFAT, old ext),
 * they must be 2 s older. For the same reason a put does not stamp: its
 * file was changed (renamed) a moment ago; the first read that hashes it
 * later does.
 */
#define STAMP_LEN 112
#define STAMP_COARSE_MARGIN_NS 2000000000LL

int arca__stamp_applies(const arca__local *l, uint64_t size)
{
	return l->opts.verify == ARCA_VERIFY_STAMP &&
		size >= l->opts.verify_stamp_min;
}

static void stamp_format(char out[STAMP_LEN], const struct stat *st)
{
	snprintf(out, STAMP_LEN, "%llu %llu %llu %lld %lld",
			(unsigned long long)st->st_dev,
			(unsigned long long)st->st_ino,
			(unsigned long long)st->st_size,
			(long long)st->st_mtim.tv_sec * 1000000000LL +
			st->st_mtim.tv_nsec,
			(long long)st->st_ctim.tv_sec * 1000000000LL +
			st->st_ctim.tv_nsec);
}

void arca__stamp_clock(struct timespec *t0)
{
	if (clock_gettime(CLOCK_REALTIME_COARSE, t0) != 0) {
		t0->tv_sec = 0; /* every stamp racy: none recorded */
		t0->tv_nsec = 0;
	}
}

static long long ts_ns(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static int stamp_racy(const struct stat *st, const struct timespec *t0)
{
	long long margin = st->st_ctim.tv_nsec % 1000000 == 0 ?
		STAMP_COARSE_MARGIN_NS : 0;

	return !(ts_ns(&st->st_ctim) + margin < ts_ns(t0) &&
		ts_ns(&st->st_mtim) + margin < ts_ns(t0));
}

int arca__stamp_matches(arca__local *l, const arca_digest *d,
		const struct stat *st)
{
	sqlite3_stmt *q = NULL;
	char now[STAMP_LEN];
	int match = 0;

	if (arca__sql_prepare(l, &q, "SELECT stamp FROM blobs WHERE "
			"digest = ? AND inline = 0") < 0) {
		arca__error_clear(); /* no stamp known: the read hashes */
		return 0;
	}
	stamp_format(now, st);
	if (arca__step_digest(q, d) == SQLITE_ROW &&
	    sqlite3_column_type(q, 0) == SQLITE_TEXT)
		match = strcmp((const char *)sqlite3_column_text(q, 0),
				now) == 0;
	sqlite3_finalize(q);
	return match;
}

void arca__stamp_record(arca__local *l, const arca_digest *d,
		const struct stat *st, const struct timespec *t0)
{
	sqlite3_stmt *q = NULL;
	char now[STAMP_LEN];

	if (stamp_racy(st, t0) || arca__writable(l) != 0) {
		arca__error_clear();
		return;
	}
	if (arca__stamp_matches(l, d, st))
		return; /* recorded already: no write */
	stamp_format(now, st);
	/* Best effort, as fix_blob_size: a stamp not written only means
	 * the next read hashes again. */
	if (arca__sql_prepare(l, &q, "UPDATE blobs SET stamp = ?2 WHERE "
			"digest = ?1 AND inline = 0") < 0) {
		arca__error_clear();
		return;
	}
	sqlite3_bind_blob(q, 1, d->bytes, ARCA_DIGEST_SIZE, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, now, -1, SQLITE_TRANSIENT);
	(void)sqlite3_step(q);
	sqlite3_finalize(q);
}

/* ---- reading blobs -------------------------------------------------- */

/*
 * Column col of st's row is the digest the lookup asked for. A blobs
 * row is found through the index on its digest; a damaged index entry
 * can lead to another blob's row, whose size, kind and bytes must not be
 * taken for d's (an intact file would be judged corrupt, or removed).
 */
static int row_is_for(arca__local *l, sqlite3_stmt *st, int col,
		const arca_digest *d)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	if (sqlite3_column_bytes(st, col) == ARCA_DIGEST_SIZE &&
	    memcmp(sqlite3_column_blob(st, col), d->bytes,
			ARCA_DIGEST_SIZE) == 0)
		return 0;
	arca__index_note_damage(l, "an index entry leads to another row");
	arca_digest_to_hex(hex, d);
	return arca__error(ARCA_EIO, "%s/index.db: the index is damaged: the "
			"entry of blob %s leads to another row", l->dir, hex);
}

/*
 * The row of an intact blob (its bytes hash to its digest) says another
 * size: the index is wrong, not the blob. Correct the row; best effort (a
 * failure leaves it as it was). The usage counter in meta is left alone:
 * it was added from the true size when the row was inserted, and the
 * damage did not go through the triggers that maintain it.
 */
static void fix_blob_size(arca__local *l, const arca_digest *d,
		uint64_t stored, uint64_t actual)
{
	sqlite3_stmt *st = NULL;

	(void)stored;
	if (arca__writable(l) != 0 || arca__sql_prepare(l, &st, "UPDATE blobs "
			"SET size = ?2 WHERE digest = ?1") < 0)
		return;
	sqlite3_bind_blob(st, 1, d->bytes, ARCA_DIGEST_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)actual);
	(void)sqlite3_step(st);
	sqlite3_finalize(st);
}

/*
 * Hash the file of blob d, open at fd (path names it in messages; size:
 * its row's), from where fd is to its end, passing the bytes to sink
 * (NULL: verify only). A mismatch quarantines the file and drops the blob
 * with every action that refers to it: ARCA_ECORRUPT. fd stays open.
 */
static int blob_read_fd(arca__local *l, const arca_digest *d, int fd,
		const char *path, uint64_t size, arca_sink_fn sink, void *ctx,
		int full)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];
	arca__hash_pipe *pipe = NULL;
	arca_digest actual;
	struct stat fst;
	struct timespec t0;
	uint64_t total = 0;
	int error = 0, stamped = 0, trusted = 0;

	if ((error = arca__hasher_reset(l->hasher)) < 0)
		return error;
	/* verify: stamp. The stat data comes before the hash (see
	 * arca__stamp_record()); full (arca_store_verify) hashes whatever
	 * the stamp says. */
	if (arca__stamp_applies(l, size)) {
		arca__stamp_clock(&t0);
		stamped = fstat(fd, &fst) == 0;
		trusted = stamped && !full && arca__stamp_matches(l, d, &fst);
	}
	/* A large blob is hashed on a second thread while this one reads
	 * and hands the bytes to sink (hash_pipe.h). */
	if (!trusted && size >= ARCA__HASH_PIPE_MIN &&
	    arca__hash_pipe_start(&pipe, l->hasher) < 0)
		arca__error_clear(); /* no thread: hashed here */
	for (;;) {
		unsigned char *buf = l->iobuf;
		size_t cap = IO_CHUNK;
		ssize_t n;

		/* Trusted and nothing to hand the bytes to: no read at all. */
		if (trusted && sink == NULL)
			break;
		if (pipe != NULL &&
		    (error = arca__hash_pipe_buf(pipe, &buf, &cap)) < 0)
			goto cleanup;
		n = read(fd, buf, cap);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			error = arca__error_errno(errno, "cannot read blob", path);
			goto cleanup;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (!trusted && (error = pipe != NULL ?
				arca__hash_pipe_push(pipe, (size_t)n) :
				arca__hasher_update(l->hasher, buf,
				(size_t)n)) < 0)
			goto cleanup;
		if (sink && (error = sink(ctx, buf, (size_t)n)) < 0)
			goto cleanup;
	}
	if (trusted) {
		actual = *d; /* the stamp stands for the hash */
		if (sink == NULL)
			total = size;
	} else if (pipe != NULL) {
		error = arca__hash_pipe_finish(pipe, &actual);
		arca__hash_pipe_free(pipe);
		pipe = NULL;
		if (error < 0)
			goto cleanup;
	} else if ((error = arca__hasher_final(l->hasher, &actual)) < 0) {
		goto cleanup;
	}
	if (arca_digest_equal(&actual, d)) {
		if (total != size)
			fix_blob_size(l, d, size, total);
		else if (stamped && !trusted)
			arca__stamp_record(l, d, &fst, &t0);
	} else {
		arca__local_quarantine_file(l, d);
		if (arca__writable(l) == 0)
			drop_blob_and_dependents(l, d);
		arca_digest_to_hex(hex, d);
		error = arca__error(ARCA_ECORRUPT,
				"blob %s in %s: digest mismatch; quarantined",
				hex, path);
	}
cleanup:
	arca__hash_pipe_free(pipe); /* joined before the hasher is reset */
	if (error < 0)
		(void)arca__hasher_reset(l->hasher);
	return error;
}

/*
 * Stream blob d to sink, verifying it. *where (may be NULL) is set to a
 * A corrupt blob is quarantined and dropped; a row whose file is missing
 * is dropped. ri (may be NULL) says which of these happened.
 */
typedef struct read_info {
	int missing;   /* the index row named a file that is gone */
	int is_inline; /* the blob lives in the index */
	/* Non-NULL: a file blob is verified, not streamed, and its file
	 * left open here (read-only; the path in path, PATH_MAX bytes). */
	int *fd_out;
	char *path;
	/* With fd_out: called with the file once open, before it is
	 * hashed (may be NULL). */
	void (*opened)(void *ctx, int fd);
	void *opened_ctx;
} read_info;

static int blob_read(arca__local *l, const arca_digest *d, arca_sink_fn sink,
		void *ctx, read_info *ri, int full)
{
	char hex[ARCA_DIGEST_HEXLEN + 1], path[PATH_MAX];
	sqlite3_stmt *st = l->st_blob_get;
	arca_digest actual;
	uint64_t size;
	int error = 0, rc, fd = -1, is_inline;

	read_info unused = { 0, 0, NULL, NULL, NULL, NULL };

	if (ri == NULL)
		ri = &unused;
	ri->missing = ri->is_inline = 0;
	/* The handle's hasher starts clean whatever an earlier read left in
	 * it (a failed read() used to leave its chunks there, and the next
	 * intact blob was then judged corrupt and quarantined). */
	if ((error = arca__hasher_reset(l->hasher)) < 0)
		return error;
	rc = arca__step_digest(st, d);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		arca_digest_to_hex(hex, d);
		return arca__error(ARCA_ENOTFOUND, "blob %s: not found", hex);
	}
	if (rc != SQLITE_ROW) {
		error = arca__sql_error(l, rc, "reading a blob");
		sqlite3_reset(st);
		return error;
	}
	if ((error = row_is_for(l, st, 3, d)) < 0) {
		sqlite3_reset(st);
		return error;
	}
	size = (uint64_t)sqlite3_column_int64(st, 0);
	/* Which kind the blob is follows from the data column, not from the
	 * inline flag alone: file blob rows never hold data, and a damaged
	 * flag must not turn an intact blob into a phantom corrupt one. */
	is_inline = ri->is_inline = sqlite3_column_type(st, 2) != SQLITE_NULL;

	if (is_inline) {
		const void *data = sqlite3_column_blob(st, 2);
		size_t len = (size_t)sqlite3_column_bytes(st, 2);

		if ((error = arca__hasher_update(l->hasher, data, len)) < 0 ||
		    (error = arca__hasher_final(l->hasher, &actual)) < 0) {
			sqlite3_reset(st);
			return error;
		}
		if (arca_digest_equal(&actual, d)) {
			error = sink ? sink(ctx, data, len) : 0;
			sqlite3_reset(st);
			if (len != size)
				fix_blob_size(l, d, size, (uint64_t)len);
			return error;
		}
		quarantine_bytes(l, d, data, len);
		sqlite3_reset(st);
		arca_digest_to_hex(hex, d);
		if (arca__writable(l) == 0)
			drop_blob_and_dependents(l, d);
		return arca__error(ARCA_ECORRUPT,
				"blob %s (inline in %s/index.db): digest mismatch;"
				" quarantined", hex, l->dir);
	}
	sqlite3_reset(st);

	arca__blob_path(path, sizeof(path), l, d);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		/* A concurrent clear or eviction deletes the row, then the
		 * file: asked again, the index says whether the file was lost
		 * or the blob removed (a miss, nothing to drop). */
		rc = arca__step_digest(st, d);
		sqlite3_reset(st);
		if (rc == SQLITE_DONE) {
			arca_digest_to_hex(hex, d);
			return arca__error(ARCA_ENOTFOUND, "blob %s: not found "
					"(removed meanwhile)", hex);
		}
		/* Or put again meanwhile. */
		fd = open(path, O_RDONLY | O_CLOEXEC);
		errno = fd < 0 ? ENOENT : 0;
	}
	if (fd < 0) {
		int err = errno;

		if (err == ENOENT) {
			ri->missing = 1;
			if (arca__writable(l) == 0)
				drop_blob_and_dependents(l, d);
			arca_digest_to_hex(hex, d);
			return arca__error(ARCA_ENOTFOUND,
					"blob %s: its file %s was missing from "
					"disk; the index entry is dropped (a miss)",
					hex, path);
		}
		return arca__error_errno(err, "cannot open blob", path);
	}
	if (ri->fd_out != NULL) {
		if (ri->opened != NULL)
			ri->opened(ri->opened_ctx, fd);
		if ((error = blob_read_fd(l, d, fd, path, size, NULL,
				NULL, full)) == 0) {
			*ri->fd_out = fd;
			snprintf(ri->path, PATH_MAX, "%s", path);
			return 0;
		}
	} else {
		error = blob_read_fd(l, d, fd, path, size, sink, ctx, full);
	}
	close(fd);
	return error;
}

/*
 * A call that SQLite answered with index damage (ARCA_EIO, damage_seen
 * moved) before it had any effect: repair the index now and let the
 * caller retry once, so that a lookup degrades to a miss instead of
 * failing until the next open.
 */
static int repaired_for_retry(arca__local *l, int error, unsigned int seen)
{
	if (error != ARCA_EIO || l->damage_seen == seen || l->in_repair ||
	    l->opts.read_only || l->fatal)
		return 0;
	return arca__index_repair(l, l->damage_reason) == 0;
}

static int local_blob_get(arca_backend *b, const arca_digest *digest,
		arca_sink_fn sink, void *ctx)
{
	arca__local *l = local_of(b);
	unsigned int seen = l->damage_seen;
	int error = blob_read(l, digest, sink, ctx, NULL, 0);

	/* The index lookup comes before any byte reaches sink. */
	if (repaired_for_retry(l, error, seen))
		error = blob_read(l, digest, sink, ctx, NULL, 0);
	return error;
}

int arca__local_blob_get_file(arca__local *l, const arca_digest *d,
		arca_sink_fn sink, void *ctx, int *fd_out, char *path,
		void (*opened)(void *ctx, int fd), void *opened_ctx)
{
	unsigned int seen = l->damage_seen;
	read_info ri = { 0, 0, fd_out, path, opened, opened_ctx };
	int error;

	*fd_out = -1;
	path[0] = '\0';
	error = blob_read(l, d, sink, ctx, &ri, 0);
	if (repaired_for_retry(l, error, seen))
		error = blob_read(l, d, sink, ctx, &ri, 0);
	return error;
}

static int blob_stat_once(arca_backend *b, const arca_digest *digest,
		uint64_t *size_out);

static int local_blob_stat(arca_backend *b, const arca_digest *digest,
		uint64_t *size_out)
{
	arca__local *l = local_of(b);
	unsigned int seen = l->damage_seen;
	int error = blob_stat_once(b, digest, size_out);

	if (repaired_for_retry(l, error, seen))
		error = blob_stat_once(b, digest, size_out);
	return error;
}

static int blob_stat_once(arca_backend *b, const arca_digest *digest,
		uint64_t *size_out)
{
	arca__local *l = local_of(b);
	sqlite3_stmt *st = l->st_blob_stat;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	int rc, error = 0;

	rc = arca__step_digest(st, digest);
	if (rc == SQLITE_ROW && (error = row_is_for(l, st, 2, digest)) < 0) {
		/* reported */
	} else if (rc == SQLITE_ROW) {
		if (size_out)
			*size_out = (uint64_t)sqlite3_column_int64(st, 0);
		if (!sqlite3_column_int(st, 1)) {
			char path[PATH_MAX];

			arca__blob_path(path, sizeof(path), l, digest);
			if (access(path, F_OK) != 0) {
				arca_digest_to_hex(hex, digest);
				error = arca__error(ARCA_ENOTFOUND,
						"blob %s: file %s is missing",
						hex, path);
			}
		}
	} else if (rc == SQLITE_DONE) {
		arca_digest_to_hex(hex, digest);
		error = arca__error(ARCA_ENOTFOUND, "blob %s: not found", hex);
	} else {
		error = arca__sql_error(l, rc, "looking up a blob");
	}
	sqlite3_reset(st);
	return error;
}

/* ---- writing blobs -------------------------------------------------- */

/* data is the content of an inline blob, or NULL for a file blob. */
static int insert_blob_row(arca__local *l, const arca_digest *d,
		uint64_t size, const void *data)
{
	sqlite3_stmt *st = l->st_blob_insert;
	int rc, error = 0;

	sqlite3_reset(st);
	sqlite3_bind_blob(st, 1, d->bytes, ARCA_DIGEST_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
	sqlite3_bind_int(st, 3, data != NULL);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)arca__now());
	if (data != NULL)
		sqlite3_bind_blob64(st, 5, size ? data : "", size,
				SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 5);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		error = arca__sql_error(l, rc, "inserting a blob row");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return error;
}

/*
 * Make a finished temp file ready to publish: read-only, fsynced, its
 * blobs/ab/ directory present (never removed once made, so that a rename
 * into it cannot fail for a directory a concurrent clear took away).
 */
static int prepare_file(arca__local *l, int fd, const char *tmp_path,
		const arca_digest *d)
{
	char hex[ARCA_DIGEST_HEXLEN + 1], dir[PATH_MAX];
	int error;

	if (fchmod(fd, 0444) != 0)
		return arca__error_errno(errno, "cannot chmod", tmp_path);
	if (fsync(fd) != 0) {
		int err = errno;

		/* After a failed fsync the page cache state is unknown. */
		if (err != ENOSPC && err != EDQUOT)
			l->fatal = 1;
		return arca__error_errno(err, "cannot fsync", tmp_path);
	}
	arca_digest_to_hex(hex, d);
	snprintf(dir, sizeof(dir), "%s/%.2s", l->blobs_dir, hex);
	if (mkdir(dir, 0755) == 0) {
		if ((error = arca__fsync_dir(l->blobs_dir)) < 0)
			return error;
	} else if (errno != EEXIST) {
		return arca__error_errno(errno, "cannot create directory", dir);
	}
	return 0;
}

/*
 * Commit a file blob's row under the write lock, together with what the
 * row depends on: the file in blobs/, renamed there from tmp_path (already
 * prepared) when given, else found there. Removals unlink a file only
 * under the same lock and only while no row names it (unlink_unindexed),
 * so a committed row never outlives its file. ARCA_ENOTFOUND (no
 * tmp_path): the file is gone, a concurrent removal took it; write it.
 * The caller still owns tmp_path.
 *
 * A new file (tmp_path) must fit under the store's limit: eviction makes
 * room first, and the check is made again under the write lock, so that
 * two writers cannot both take the last room. ARCA_EFULL when it does not
 * fit even so (everything left is pinned or leased): bazel-remote answers
 * 507 Insufficient Storage in that case. A few attempts, since a
 * concurrent writer may take the room eviction made.
 */
static int commit_file_row(arca__local *l, const arca_digest *d,
		uint64_t size, const char *tmp_path)
{
	char hex[ARCA_DIGEST_HEXLEN + 1], dir[PATH_MAX], path[PATH_MAX];
	int error, attempt;

	arca_digest_to_hex(hex, d);
	snprintf(dir, sizeof(dir), "%s/%.2s", l->blobs_dir, hex);
	arca__blob_path(path, sizeof(path), l, d);
	for (attempt = 0;; attempt++) {
		if (tmp_path != NULL)
			arca__evict_for_put(l, size);
		if ((error = arca__tx_begin(l)) < 0)
			return error;
		if (tmp_path == NULL ||
		    (error = arca__put_fits(l, size)) == 0)
			break;
		arca__tx_rollback(l);
		if (error != ARCA_EFULL || attempt == 2)
			return error;
	}
	if (tmp_path == NULL) {
		if (access(path, F_OK) != 0) {
			error = arca__error(ARCA_ENOTFOUND, "blob %s: file %s "
					"is missing", hex, path);
			goto cleanup;
		}
	} else {
		if (rename(tmp_path, path) != 0) {
			error = arca__error_errno(errno, "cannot rename into",
					path);
			goto cleanup;
		}
		if ((error = arca__fsync_dir(dir)) < 0) {
			l->fatal = 1;
			goto cleanup;
		}
	}
	if ((error = insert_blob_row(l, d, size, NULL)) < 0 ||
	    (error = arca__tx_commit(l)) < 0)
		goto cleanup;
cleanup:
	if (error < 0)
		arca__tx_rollback(l);
	return error;
}

/* A file blob whose row exists and whose file is present. */
static int have_file_blob(arca__local *l, const arca_digest *d)
{
	uint64_t size;

	return local_blob_stat(&l->base, d, &size) == 0;
}

int arca__local_insert_file_row(arca__local *l, const arca_digest *d,
		uint64_t size)
{
	return insert_blob_row(l, d, size, NULL);
}

/*
 * The row of a put whose content may already be stored. When it is, the
 * upsert only marks it used now; on a full disk that write may fail, and
 * the put still succeeds: the content is in the store (issue 8). A file
 * blob whose file a concurrent removal took is ARCA_ENOTFOUND: the caller
 * writes it.
 */
static int upsert_present(arca__local *l, const arca_digest *d,
		uint64_t size, const void *data)
{
	int error = data != NULL ? insert_blob_row(l, d, size, data) :
		commit_file_row(l, d, size, NULL);

	if (error == ARCA_EFULL && (data != NULL ?
			local_blob_stat(&l->base, d, NULL) == 0 :
			have_file_blob(l, d))) {
		arca__error_clear();
		error = 0;
	}
	return error;
}

static int blob_put_once(arca_backend *b, arca_digest *out,
		const void *data, size_t len)
{
	arca__local *l = local_of(b);
	arca_digest d;
	char *tmp_path = NULL;
	int error, fd = -1;

	if ((error = arca__writable(l)) < 0 ||
	    (error = arca__hasher_reset(l->hasher)) < 0)
		return error;
	if ((error = arca__hasher_update(l->hasher, data, len)) < 0 ||
	    (error = arca__hasher_final(l->hasher, &d)) < 0)
		return error;
	if (out)
		*out = d;
	/* Pinned before it is looked up: an eviction that does not see the
	 * pin committed before this put's row (pin.h). */
	arca__pin(l, &d);
	/* Hashed first, looked up, and only then written: content already
	 * stored needs no space (a put on a full disk succeeds). */
	if (len <= l->opts.inline_threshold)
		return upsert_present(l, &d, len, len ? data : "");
	/* Already present: the upsert marks it used now, and the pin keeps
	 * it until the put (or the hold it is part of) is done. */
	if (have_file_blob(l, &d) &&
	    (error = upsert_present(l, &d, len, NULL)) != ARCA_ENOTFOUND)
		return error;
	if ((error = arca__tmpfile(&fd, &tmp_path, l->tmp_dir, "blob-", 1)) < 0)
		return error;
	if ((error = arca__write_all(fd, data, len, tmp_path)) < 0 ||
	    (error = prepare_file(l, fd, tmp_path, &d)) < 0 ||
	    (error = commit_file_row(l, &d, len, tmp_path)) < 0)
		goto cleanup;
cleanup:
	if (error < 0)
		unlink(tmp_path);
	close(fd);
	free(tmp_path);
	return error;
}

/*
 * Write a chunk of a put_fd to its temp file. On a full disk the temp
 * file is given up (*fd closed, file removed) and *full keeps the error
 * and its message, but the caller goes on hashing: if the content turns
 * out to be stored already, the put succeeds without the copy.
 */
static int spill(int *fd, char **tmp_path, int *full, char *full_msg,
		size_t msg_size, const void *data, size_t len)
{
	int error;

	if (*fd < 0)
		return 0;
	if ((error = arca__write_all(*fd, data, len, *tmp_path)) == 0)
		return 0;
	if (error != ARCA_EFULL)
		return error;
	*full = error;
	snprintf(full_msg, msg_size, "%s", arca_errmsg());
	close(*fd);
	*fd = -1;
	unlink(*tmp_path);
	free(*tmp_path);
	*tmp_path = NULL;
	return 0;
}

/* A put of bytes in memory can be retried after a repair. */
static int local_blob_put(arca_backend *b, arca_digest *out,
		const void *data, size_t len)
{
	arca__local *l = local_of(b);
	unsigned int seen = l->damage_seen;
	int error = blob_put_once(b, out, data, len);

	if (repaired_for_retry(l, error, seen))
		error = blob_put_once(b, out, data, len);
	arca__pin_put_done(l);
	return error;
}

static int local_blob_put_fd(arca_backend *b, arca_digest *out,
		uint64_t *size_out, int src)
{
	arca__local *l = local_of(b);
	size_t head_cap = (size_t)l->opts.inline_threshold + 1;
	unsigned char *head = NULL;
	char *tmp_path = NULL;
	uint64_t total, flushed = 0;
	arca_digest d;
	arca__hash_pipe *pipe = NULL;
	struct stat src_st;
	ssize_t n;
	int error, fd = -1, full = 0, src_big, no_pipe = 0;
	char full_msg[1024];

	if ((error = arca__writable(l)) < 0 ||
	    (error = arca__hasher_reset(l->hasher)) < 0)
		return error;
	/* Read one byte past the threshold to learn which side it is on. */
	head = head_cap <= IO_CHUNK ? l->iobuf : malloc(head_cap);
	if (head == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	n = arca__read_full(src, head, head_cap);
	if (n < 0) {
		error = arca__error_errno(errno, "cannot read", "input");
		goto cleanup;
	}
	if ((size_t)n < head_cap) {
		error = local_blob_put(b, out, head, (size_t)n);
		if (error == 0 && size_out)
			*size_out = (uint64_t)n;
		goto cleanup;
	}
	if ((error = arca__tmpfile(&fd, &tmp_path, l->tmp_dir, "blob-", 1)) < 0) {
		if (error != ARCA_EFULL)
			goto cleanup;
		full = error;
		snprintf(full_msg, sizeof(full_msg), "%s", arca_errmsg());
	}
	total = (uint64_t)n;
	if ((error = arca__hasher_update(l->hasher, head, (size_t)n)) < 0 ||
	    (error = spill(&fd, &tmp_path, &full, full_msg, sizeof(full_msg),
			head, (size_t)n)) < 0)
		goto cleanup;
	src_big = fstat(src, &src_st) == 0 && S_ISREG(src_st.st_mode) &&
		(uint64_t)src_st.st_size >= ARCA__HASH_PIPE_MIN;
	for (;;) {
		unsigned char *buf = l->iobuf;
		size_t cap = IO_CHUNK;

		/* A large blob is hashed on a second thread while this one
		 * reads and writes (hash_pipe.h); without a thread, here. */
		if (pipe == NULL && !no_pipe &&
		    (src_big || total >= ARCA__HASH_PIPE_MIN) &&
		    arca__hash_pipe_start(&pipe, l->hasher) < 0) {
			arca__error_clear();
			no_pipe = 1;
		}
		if (pipe != NULL &&
		    (error = arca__hash_pipe_buf(pipe, &buf, &cap)) < 0)
			goto cleanup;
		n = read(src, buf, cap);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			error = arca__error_errno(errno, "cannot read", "input");
			goto cleanup;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if ((error = pipe != NULL ?
				arca__hash_pipe_push(pipe, (size_t)n) :
				arca__hasher_update(l->hasher, buf,
				(size_t)n)) < 0 ||
		    (error = spill(&fd, &tmp_path, &full, full_msg,
				sizeof(full_msg), buf, (size_t)n)) < 0)
			goto cleanup;
		/* Start writeback as we go so the final fsync has little left
		 * to wait for; advisory, so its failure is ignored. */
		if (fd >= 0 && total - flushed >= WRITEBACK_CHUNK) {
			(void)sync_file_range(fd, (off64_t)flushed,
					(off64_t)(total - flushed),
					SYNC_FILE_RANGE_WRITE);
			flushed = total;
		}
	}
	if (pipe != NULL) {
		error = arca__hash_pipe_finish(pipe, &d);
		arca__hash_pipe_free(pipe);
		pipe = NULL;
		if (error < 0)
			goto cleanup;
	} else if ((error = arca__hasher_final(l->hasher, &d)) < 0) {
		goto cleanup;
	}
	arca__pin(l, &d);
	/* Stored already: the copy (complete or given up on a full disk) is
	 * not needed, unless a concurrent removal takes the file meanwhile. */
	error = have_file_blob(l, &d) ?
		upsert_present(l, &d, total, NULL) : ARCA_ENOTFOUND;
	if (error == ARCA_ENOTFOUND) {
		if (full) {
			error = arca__error(full, "%s", full_msg);
			goto cleanup;
		}
		if ((error = prepare_file(l, fd, tmp_path, &d)) < 0 ||
		    (error = commit_file_row(l, &d, total, tmp_path)) < 0)
			goto cleanup;
	} else if (error < 0) {
		goto cleanup;
	} else if (tmp_path) {
		unlink(tmp_path);
	}
	if (out)
		*out = d;
	if (size_out)
		*size_out = total;
	error = 0;
cleanup:
	arca__hash_pipe_free(pipe); /* joined before the hasher is reset */
	if (error < 0) {
		arca__hasher_final(l->hasher, &d); /* reset for reuse */
		if (tmp_path)
			unlink(tmp_path);
	}
	if (fd >= 0)
		close(fd);
	free(tmp_path);
	if (head != l->iobuf)
		free(head);
	arca__pin_put_done(l);
	return error;
}

/*
 * Publish a temp file whose bytes the caller hashed as it wrote them to
 * d (blob_writer.c): the tail of local_blob_put_fd, for a writer that
 * is not a descriptor to read. Pinned first; content already stored is
 * only marked used (the copy is not needed); else the file is made
 * read-only, fsynced and renamed into blobs/ under the write lock with
 * the size check, as every new file blob is. tmp_path is renamed or
 * unlinked on return, whatever the outcome.
 */
int arca__local_publish_tmp(arca__local *l, const arca_digest *d,
		uint64_t size, int fd, const char *tmp_path)
{
	int error, renamed = 0;

	if ((error = arca__writable(l)) < 0)
		goto cleanup;
	arca__pin(l, d);
	error = have_file_blob(l, d) ?
		upsert_present(l, d, size, NULL) : ARCA_ENOTFOUND;
	if (error == ARCA_ENOTFOUND) {
		if ((error = prepare_file(l, fd, tmp_path, d)) == 0 &&
		    (error = commit_file_row(l, d, size, tmp_path)) == 0)
			renamed = 1;
	}
cleanup:
	if (!renamed)
		unlink(tmp_path);
	arca__pin_put_done(l);
	return error;
}

/* ---- the action cache ----------------------------------------------- */

static int ac_get_once(arca_backend *b, const arca_digest *key,
		arca_digest *manifest_out);

static int local_ac_get(arca_backend *b, const arca_digest *key,
		arca_digest *manifest_out)
{
	arca__local *l = local_of(b);
	unsigned int seen = l->damage_seen;
	int error = ac_get_once(b, key, manifest_out);

	if (repaired_for_retry(l, error, seen))
		error = ac_get_once(b, key, manifest_out);
	return error;
}

static int ac_get_once(arca_backend *b, const arca_digest *key,
		arca_digest *manifest_out)
{
	arca__local *l = local_of(b);
	sqlite3_stmt *st = l->st_ac_get;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	int rc, error = 0;

	rc = arca__step_digest(st, key);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 1) != SQLITE_NULL &&
			sqlite3_column_int64(st, 1) <= (sqlite3_int64)arca__now()) {
		/* Past its TTL: a miss; gc or the next put removes it. */
		arca_digest_to_hex(hex, key);
		error = arca__error(ARCA_ENOTFOUND, "action %s: expired", hex);
	} else if (rc == SQLITE_ROW &&
			sqlite3_column_bytes(st, 0) == ARCA_DIGEST_SIZE) {
		memcpy(manifest_out->bytes, sqlite3_column_blob(st, 0),
				ARCA_DIGEST_SIZE);
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		arca_digest_to_hex(hex, key);
		error = arca__error(ARCA_ENOTFOUND, "action %s: not found", hex);
	} else {
		error = arca__sql_error(l, rc, "looking up an action");
	}
	sqlite3_reset(st);
	return error;
}

static int require_blob(arca__local *l, sqlite3_stmt *st,
		const arca_digest *d, const char *what)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];
	int rc;

	rc = arca__step_digest(st, d);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return arca__sql_error(l, rc, "checking a referenced blob");
	arca_digest_to_hex(hex, d);
	return arca__error(ARCA_EINVAL, "%s blob %s is not in the store",
			what, hex);
}

static int local_ac_put2(arca_backend *b, const arca_digest *key,
		const arca_digest *manifest, const arca_manifest *m,
		const arca_put_options *opts)
{
	arca__local *l = local_of(b);
	arca__digest_list old_refs = { NULL, 0, 0 };
	arca__removal r = { { NULL, 0, 0 }, 0, 0, NULL };
	sqlite3_stmt *ins = NULL, *ref = NULL, *inp = NULL, *has = NULL;
	uint64_t size = m->stdout_size + m->stderr_size;
	int64_t now = arca__now();
	size_t i;
	int error, found;

	if ((error = arca__writable(l)) < 0)
		return error;
	for (i = 0; i < m->n_outputs; i++)
		size += m->outputs[i].size;
	if ((error = arca__tx_begin(l)) < 0)
		return error;
	if ((error = arca__sql_prepare(l, &has, "SELECT 1 FROM blobs "
			"WHERE digest = ?")) < 0 ||
	    (error = arca__sql_prepare(l, &ins, "INSERT INTO actions(key, stage, "
			"manifest, size, duration_ms, created, last_access, "
			"hits) VALUES(?, ?, ?, ?, ?, ?, ?, 0)")) < 0 ||
	    (error = arca__sql_prepare(l, &ref, "INSERT OR IGNORE INTO "
			"action_refs(key, digest) VALUES(?, ?)")) < 0 ||
	    (error = arca__sql_prepare(l, &inp, "INSERT OR IGNORE INTO "
			"action_inputs(digest, key) VALUES(?, ?)")) < 0)
		goto cleanup;
	/* Checked inside the transaction: no concurrent removal can slip in
	 * between the check and the row that depends on it. */
	if ((error = require_blob(l, has, manifest, "manifest")) < 0 ||
	    (error = require_blob(l, has, &m->stdout_digest, "stdout")) < 0 ||
	    (error = require_blob(l, has, &m->stderr_digest, "stderr")) < 0)
		goto cleanup;
	for (i = 0; i < m->n_outputs; i++)
		if ((error = require_blob(l, has, &m->outputs[i].digest,
				m->outputs[i].path)) < 0)
			goto cleanup;
	if ((error = delete_action_rows(l, &old_refs, key, &found)) < 0)
		goto cleanup;

	sqlite3_bind_blob(ins, 1, key->bytes, ARCA_DIGEST_SIZE, SQLITE_STATIC);
	sqlite3_bind_text(ins, 2, m->stage ? m->stage : "", -1, SQLITE_STATIC);
	sqlite3_bind_blob(ins, 3, manifest->bytes, ARCA_DIGEST_SIZE,
			SQLITE_STATIC);
	sqlite3_bind_int64(ins, 4, (sqlite3_int64)size);
	sqlite3_bind_int64(ins, 5, (sqlite3_int64)m->duration_ms);
	sqlite3_bind_int64(ins, 6, now);
	sqlite3_bind_int64(ins, 7, now);
	if (sqlite3_step(ins) != SQLITE_DONE) {
		error = arca__sql_error(l, sqlite3_errcode(l->db), "inserting an action");
		goto cleanup;
	}

#define ADD_ROW(st, a, b_) do { \
		sqlite3_reset(st); \
		sqlite3_bind_blob(st, 1, (a), ARCA_DIGEST_SIZE, SQLITE_STATIC); \
		sqlite3_bind_blob(st, 2, (b_), ARCA_DIGEST_SIZE, SQLITE_STATIC); \
		if (sqlite3_step(st) != SQLITE_DONE) { \
			error = arca__sql_error(l, sqlite3_errcode(l->db), \
					"indexing an action"); \
			goto cleanup; \
		} \
	} while (0)
	ADD_ROW(ref, key->bytes, manifest->bytes);
	ADD_ROW(ref, key->bytes, m->stdout_digest.bytes);
	ADD_ROW(ref, key->bytes, m->stderr_digest.bytes);
	for (i = 0; i < m->n_outputs; i++)
		ADD_ROW(ref, key->bytes, m->outputs[i].digest.bytes);
	for (i = 0; i < m->n_inputs; i++)
		ADD_ROW(inp, m->inputs[i].digest.bytes, key->bytes);
#undef ADD_ROW

	/* TTL and tags (arca_action_put_ex) commit with the entry. */
	if (opts != NULL &&
	    (error = arca__apply_put_options(l, key, opts)) < 0)
		goto cleanup;
	if ((error = arca__free_unreferenced(l, &r, &old_refs)) < 0 ||
	    (error = arca__tx_commit(l)) < 0)
		goto cleanup;
cleanup:
	sqlite3_finalize(has);
	sqlite3_finalize(ins);
	sqlite3_finalize(ref);
	sqlite3_finalize(inp);
	if (error < 0)
		arca__tx_rollback(l);
	arca__removal_finish(l, &r, error == 0);
	arca__digest_list_free(&old_refs);
	return error;
}

/* After a repair the blobs an action names may be gone: the retry then
 * fails ARCA_EINVAL, as for any put naming a missing blob. */
static int local_ac_put2_retrying(arca_backend *b, const arca_digest *key,
		const arca_digest *manifest, const arca_manifest *m,
		const arca_put_options *opts)
{
	arca__local *l = local_of(b);
	unsigned int seen = l->damage_seen;
	int error = local_ac_put2(b, key, manifest, m, opts);

	if (repaired_for_retry(l, error, seen))
		error = local_ac_put2(b, key, manifest, m, opts);
	return error;
}

static int local_ac_put(arca_backend *b, const arca_digest *key,
		const arca_digest *manifest, const arca_manifest *m)
{
	return local_ac_put2_retrying(b, key, manifest, m, NULL);
}

static int ac_remove_once(arca__local *l, const arca_digest *key)
{
	arca__digest_list keys = { NULL, 0, 0 };
	arca__removal r = { { NULL, 0, 0 }, 0, 0, NULL };
	char hex[ARCA_DIGEST_HEXLEN + 1];
	int error;

	if ((error = arca__writable(l)) < 0)
		return error;
	if ((error = arca__digest_list_push(&keys, key->bytes)) < 0)
		return error;
	if ((error = arca__tx_begin(l)) < 0)
		goto cleanup;
	if ((error = arca__remove_actions(l, &r, &keys)) < 0)
		goto cleanup;
	if (r.actions == 0) {
		arca_digest_to_hex(hex, key);
		error = arca__error(ARCA_ENOTFOUND, "action %s: not found", hex);
		goto cleanup;
	}
	error = arca__tx_commit(l);
cleanup:
	if (error < 0)
		arca__tx_rollback(l);
	arca__removal_finish(l, &r, error == 0);
	arca__digest_list_free(&keys);
	return error;
}

/* On a full disk the reserve file is given up for it (space.h). */
static int local_ac_remove(arca_backend *b, const arca_digest *key)
{
	arca__local *l = local_of(b);
	int error;

	if ((error = arca__writable(l)) < 0)
		return error;
	arca__space_before_delete(l, NULL);
	if ((error = ac_remove_once(l, key)) == ARCA_EFULL &&
			arca__space_give_up(l))
		error = ac_remove_once(l, key);
	return arca__space_after_delete(l, error);
}

/* ---- queries ---------------------------------------------------------- */

int arca__hex_prefix_bound(arca_digest *out, const char *prefix, char pad)
{
	char full[ARCA_DIGEST_HEXLEN + 1];
	size_t n = strlen(prefix);

	memcpy(full, prefix, n);
	memset(full + n, pad, ARCA_DIGEST_HEXLEN - n);
	full[ARCA_DIGEST_HEXLEN] = '\0';
	return arca_digest_from_hex(out, full);
}

int arca__local_resolve(arca__local *l, arca_digest *out, const char *prefix)
{
	sqlite3_stmt *st = NULL;
	arca_digest lo, hi;
	size_t n = prefix ? strlen(prefix) : 0;
	int error, rc, count = 0;

	if (n < 4 || n > ARCA_DIGEST_HEXLEN ||
			strspn(prefix, "0123456789abcdefABCDEF") != n)
		return arca__error(ARCA_EINVAL, "'%s': a key prefix is 4 to 64 "
				"hex characters", prefix ? prefix : "");
	if ((error = arca__hex_prefix_bound(&lo, prefix, '0')) < 0 ||
	    (error = arca__hex_prefix_bound(&hi, prefix, 'f')) < 0)
		return error;
	if ((error = arca__sql_prepare(l, &st, "SELECT key FROM actions WHERE "
			"key BETWEEN ? AND ? ORDER BY key LIMIT 2")) < 0)
		return error;
	sqlite3_bind_blob(st, 1, lo.bytes, ARCA_DIGEST_SIZE, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, hi.bytes, ARCA_DIGEST_SIZE, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count++ == 0 &&
				sqlite3_column_bytes(st, 0) == ARCA_DIGEST_SIZE)
			memcpy(out->bytes, sqlite3_column_blob(st, 0),
					ARCA_DIGEST_SIZE);
	}
	if (rc != SQLITE_DONE)
		error = arca__sql_error(l, rc, "resolving a key prefix");
	else if (count == 0)
		error = arca__error(ARCA_ENOTFOUND,
				"no action key starts with '%s'", prefix);
	else if (count > 1)
		error = arca__error(ARCA_EEXISTS, "key prefix '%s' is "
				"ambiguous: more than one action matches", prefix);
	sqlite3_finalize(st);
	return error;
}

int arca__local_list(arca__local *l, const char *stage, arca_action_cb cb,
		void *ctx)
{
	sqlite3_stmt *st = NULL;
	arca_action_info info;
	int error, rc;

	if ((error = arca__sql_prepare(l, &st, stage ?
			"SELECT key, stage, size, created, last_access, hits, "
			"duration_ms FROM actions WHERE stage = ? "
			"ORDER BY created DESC, key" :
			"SELECT key, stage, size, created, last_access, hits, "
			"duration_ms FROM actions ORDER BY created DESC, key")) < 0)
		return error;
	if (stage)
		sqlite3_bind_text(st, 1, stage, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != ARCA_DIGEST_SIZE)
			continue;
		memcpy(info.key.bytes, sqlite3_column_blob(st, 0),
				ARCA_DIGEST_SIZE);
		info.stage = (const char *)sqlite3_column_text(st, 1);
		info.size = (uint64_t)sqlite3_column_int64(st, 2);
		info.created = sqlite3_column_int64(st, 3);
		info.last_access = sqlite3_column_int64(st, 4);
		info.hits = (uint64_t)sqlite3_column_int64(st, 5);
		info.duration_ms = (uint64_t)sqlite3_column_int64(st, 6);
		if ((error = cb(&info, ctx)) != 0)
			goto cleanup;
	}
	error = rc == SQLITE_DONE ? 0 : arca__sql_error(l, rc, "listing actions");
cleanup:
	sqlite3_finalize(st);
	return error;
}

static void bind_text3(sqlite3_stmt *st, const void *ctx)
{
	sqlite3_bind_text(st, 3, ctx, -1, SQLITE_STATIC);
}

static void bind_digest3(sqlite3_stmt *st, const void *ctx)
{
	sqlite3_bind_blob(st, 3, ctx, ARCA_DIGEST_SIZE, SQLITE_STATIC);
}

/* Every URL entry, in batches by rowid. */
static int delete_urls(arca__local *l)
{
	static const char sel_sql[] = "SELECT max(rowid), count(*) FROM "
		"(SELECT rowid FROM urls WHERE rowid > ? ORDER BY rowid LIMIT ?)";
	static const char del_sql[] = "DELETE FROM urls WHERE rowid > ? AND "
		"rowid <= ?";
	sqlite3_stmt *sel = NULL, *del = NULL;
	sqlite3_int64 last = INT64_MIN, hi;
	int error, rc, more = 1;
	arca__batch b;

	if ((error = arca__sql_prepare(l, &sel, sel_sql)) < 0 ||
	    (error = arca__sql_prepare(l, &del, del_sql)) < 0)
		goto cleanup;
	while (more) {
		if ((error = arca__batch_begin(l, &b)) < 0)
			goto cleanup;
		do {
			sqlite3_reset(sel);
			sqlite3_bind_int64(sel, 1, last);
			sqlite3_bind_int(sel, 2, REMOVE_CHUNK);
			if ((rc = sqlite3_step(sel)) != SQLITE_ROW) {
				error = arca__sql_error(l, rc, sel_sql);
				goto cleanup;
			}
			more = sqlite3_column_int(sel, 1) == REMOVE_CHUNK;
			hi = sqlite3_column_type(sel, 0) == SQLITE_NULL ? last :
				sqlite3_column_int64(sel, 0);
			sqlite3_reset(sel);
			sqlite3_reset(del);
			sqlite3_bind_int64(del, 1, last);
			sqlite3_bind_int64(del, 2, hi);
			if ((rc = sqlite3_step(del)) != SQLITE_DONE) {
				error = arca__sql_error(l, rc, del_sql);
				goto cleanup;
			}
			last = hi;
		} while (more && !arca__batch_add(&b, REMOVE_CHUNK));
		if ((error = arca__tx_commit(l)) < 0)
			goto cleanup;
		if (more)
			arca__batch_pause();
	}
cleanup:
	sqlite3_finalize(sel);
	sqlite3_finalize(del);
	if (error < 0)
		arca__tx_rollback(l);
	return error;
}

/*
 * Everything, in batches: the actions in key order with what only they
 * referenced, the URL entries, then the blobs no action references.
 * What is stored meanwhile may stay (an action put between two batches
 * keeps its blobs), but no batch leaves an action without a blob it
 * references.
 */
static int clear_all(arca__local *l, uint64_t *n_removed, uint64_t *bytes,
		const arca_clear_filter *f)
{
	uint64_t none = 0;
	int error;

	if ((error = arca__remove_batched_cb(l, n_removed, bytes, "SELECT key "
			"FROM actions WHERE key > ?1 ORDER BY key LIMIT ?2", NULL,
			NULL, 0, f->on_removed, f->on_removed_ctx)) < 0 ||
	    (error = delete_urls(l)) < 0)
		return error;
	/* Rows of no action (none, unless the index was damaged). */
	if ((error = arca__tx_begin(l)) < 0)
		return error;
	if ((error = arca__sql_exec(l, "DELETE FROM action_refs WHERE key "
			"NOT IN (SELECT key FROM actions); DELETE FROM "
			"action_inputs WHERE key NOT IN (SELECT key FROM "
			"actions);")) < 0 ||
	    (error = arca__tx_commit(l)) < 0) {
		arca__tx_rollback(l);
		return error;
	}
	return arca__remove_batched(l, &none, bytes, "SELECT digest FROM blobs "
			"WHERE digest > ?1 ORDER BY digest LIMIT ?2", NULL, NULL, 1);
}

static int clear_once(arca__local *l, uint64_t *n_removed,
		uint64_t *bytes_freed, const arca_clear_filter *filter)
{
	uint64_t n = 0, bytes = 0;
	int error, criteria;

	criteria = (filter && filter->all) + (filter && filter->stage) +
		(filter && filter->input);
	if (criteria != 1)
		return arca__error(ARCA_EINVAL, "clear takes exactly one of: "
				"all, a stage, an input");
	if ((error = arca__writable(l)) < 0)
		return error;
	/* In batches (arca__remove_batched): what each committed stays
	 * removed, also when a later one fails. */
	if (filter->all)
		error = clear_all(l, &n, &bytes, filter);
	else if (filter->stage)
		error = arca__remove_batched_cb(l, &n, &bytes, "SELECT key "
				"FROM actions WHERE stage = ?3 AND key > ?1 ORDER "
				"BY key LIMIT ?2", bind_text3, filter->stage, 0,
				filter->on_removed, filter->on_removed_ctx);
	else
		error = arca__remove_batched_cb(l, &n, &bytes, "SELECT key "
				"FROM action_inputs WHERE digest = ?3 AND key > ?1 "
				"ORDER BY key LIMIT ?2", bind_digest3,
				filter->input->bytes, 0, filter->on_removed,
				filter->on_removed_ctx);
	if (n_removed)
		*n_removed = n;
	if (bytes_freed)
		*bytes_freed = bytes;
	return error;
}

/* On a full disk the reserve file is given up for it (space.h). */
int arca__local_clear(arca__local *l, uint64_t *n_removed,
		uint64_t *bytes_freed, const arca_clear_filter *filter)
{
	int error;

	if ((error = arca__writable(l)) < 0)
		return error;
	arca__space_before_delete(l, NULL);
	if ((error = clear_once(l, n_removed, bytes_freed, filter)) ==
			ARCA_EFULL && arca__space_give_up(l))
		error = clear_once(l, n_removed, bytes_freed, filter);
	return arca__space_after_delete(l, error);
}

int arca__local_info(arca__local *l, arca_store_info *out)
{
	sqlite3_stmt *st = NULL;
	DIR *d;
	struct dirent *e;
	int error, rc;

	memset(out, 0, sizeof(*out));
	out->inline_threshold = l->opts.inline_threshold;
	if ((error = arca__sql_prepare(l, &st, "SELECT inline, count(*), "
			"coalesce(sum(size), 0) FROM blobs GROUP BY inline")) < 0)
		return error;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t n = (uint64_t)sqlite3_column_int64(st, 1);
		uint64_t bytes = (uint64_t)sqlite3_column_int64(st, 2);

		if (sqlite3_column_int(st, 0)) {
			out->n_inline = n;
			out->bytes_inline = bytes;
		} else {
			out->n_files = n;
			out->bytes_files = bytes;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return arca__sql_error(l, rc, "counting blobs");
	out->n_blobs = out->n_inline + out->n_files;
	out->bytes_total = out->bytes_inline + out->bytes_files;
	if ((error = arca__sql_prepare(l, &st, "SELECT count(*) FROM actions")) < 0)
		return error;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		out->n_actions = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return arca__sql_error(l, rc, "counting actions");
	if ((d = opendir(l->quarantine_dir)) != NULL) {
		while ((e = readdir(d)) != NULL)
			out->n_quarantined += e->d_name[0] != '.';
		closedir(d);
	}
	return 0;
}

int arca__local_stats_record(arca__local *l, const char *stage,
		arca_event event, uint64_t bytes, uint64_t saved_ms)
{
	int error;

	if ((error = arca__writable(l)) < 0)
		return error;
	if (stage == NULL || (event != ARCA_EVENT_HIT &&
			event != ARCA_EVENT_MISS && event != ARCA_EVENT_ERROR))
		return arca__error(ARCA_EINVAL, "stats: a stage and an event "
				"are required");
	/* Batched with the access notes (evict.c): a hit's count costs no
	 * write transaction of its own. */
	return arca__access_note_stats(l, stage, event, bytes, saved_ms);
}

static void stats_from_row(arca_stats *s, sqlite3_stmt *st, int first)
{
	s->hits = (uint64_t)sqlite3_column_int64(st, first);
	s->misses = (uint64_t)sqlite3_column_int64(st, first + 1);
	s->errors = (uint64_t)sqlite3_column_int64(st, first + 2);
	s->bytes_read = (uint64_t)sqlite3_column_int64(st, first + 3);
	s->bytes_written = (uint64_t)sqlite3_column_int64(st, first + 4);
	s->saved_ms = (uint64_t)sqlite3_column_int64(st, first + 5);
}

int arca__local_stats_list(arca__local *l, arca_stats_cb cb, void *ctx)
{
	static const char sums[] = "coalesce(sum(hits), 0), "
		"coalesce(sum(misses), 0), coalesce(sum(errors), 0), "
		"coalesce(sum(bytes_read), 0), coalesce(sum(bytes_written), 0),"
		" coalesce(sum(saved_ms), 0)";
	char sql[512];
	sqlite3_stmt *st = NULL;
	arca_stats s;
	int error, rc;

	/* This handle's pending counts first (best effort: a flush that
	 * fails drops them, as at close; the listing shows what is
	 * written). */
	(void)arca__access_flush(l);
	snprintf(sql, sizeof(sql), "SELECT %s FROM stats", sums);
	if ((error = arca__sql_prepare(l, &st, sql)) < 0)
		return error;
	memset(&s, 0, sizeof(s));
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		stats_from_row(&s, st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return arca__sql_error(l, rc, "reading stats");
	if ((error = cb(&s, ctx)) != 0)
		return error;
	snprintf(sql, sizeof(sql), "SELECT stage, %s FROM stats "
			"GROUP BY stage ORDER BY stage", sums);
	if ((error = arca__sql_prepare(l, &st, sql)) < 0)
		return error;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		s.stage = (const char *)sqlite3_column_text(st, 0);
		stats_from_row(&s, st, 1);
		if ((error = cb(&s, ctx)) != 0)
			goto cleanup;
	}
	error = rc == SQLITE_DONE ? 0 : arca__sql_error(l, rc, "reading stats");
cleanup:
	sqlite3_finalize(st);
	return error;
}

/*
 * SQLite's own check of the index's structure: b-tree pages, free list,
 * indexes against their tables, NOT NULL columns
 * (https://www.sqlite.org/pragma.html#pragma_integrity_check). Its first
 * row is "ok" for an intact index. Damage is repaired (repair.c), so that
 * the blob checks that follow run on an index that can be trusted and no
 * blob is reported corrupt because of the index.
 */
static int check_index(arca__local *l)
{
	sqlite3_stmt *st = NULL;
	char reason[256];
	unsigned int seen = l->damage_seen;
	int error, rc;

	reason[0] = '\0';
	if ((error = arca__sql_prepare(l, &st,
			"PRAGMA integrity_check(1)")) == 0) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const char *row = (const char *)sqlite3_column_text(st, 0);

			if (row == NULL || strcmp(row, "ok") != 0)
				snprintf(reason, sizeof(reason),
						"integrity_check: %s",
						row ? row : "(no answer)");
		} else {
			error = arca__sql_error(l, rc, "PRAGMA integrity_check");
		}
	}
	sqlite3_finalize(st);
	if (reason[0] == '\0' && l->damage_seen != seen)
		snprintf(reason, sizeof(reason), "%s", l->damage_reason);
	if (reason[0] == '\0')
		return error;
	if (l->opts.read_only)
		return arca__error(ARCA_EIO, "%s/index.db: the index is "
				"damaged (%s); open the store read-write to "
				"repair it", l->dir, reason);
	/* One line, whatever SQLite's report holds. */
	reason[strcspn(reason, "\r\n")] = '\0';
	return arca__index_repair(l, reason);
}

int arca__local_verify(arca__local *l, uint64_t *n_checked,
		uint64_t *n_corrupt, arca_verify_cb cb, void *ctx)
{
	arca__digest_list all = { NULL, 0, 0 };
	uint64_t checked = 0, corrupt = 0;
	unsigned int seen = l->damage_seen;
	size_t i;
	int error;

	if ((error = check_index(l)) < 0)
		goto cleanup;
	if ((error = arca__sql_collect(l, &all, "SELECT digest FROM blobs "
			"ORDER BY digest", NULL, 0)) < 0)
		goto cleanup;
	for (i = 0; i < all.n; i++) {
		char where[PATH_MAX + 16];
		read_info ri = { 0, 0, NULL, NULL, NULL, NULL };
		int rc;

		rc = blob_read(l, &all.items[i], NULL, NULL, &ri, 1);
		if (rc == ARCA_ENOTFOUND && !ri.missing)
			continue; /* dropped meanwhile with a corrupt peer */
		checked++;
		if (rc == 0)
			continue;
		if (rc != ARCA_ECORRUPT && !ri.missing) {
			error = rc;
			goto cleanup;
		}
		corrupt++;
		if (cb == NULL)
			continue;
		if (ri.is_inline) {
			snprintf(where, sizeof(where), "inline in %s/index.db",
					l->dir);
		} else {
			arca__blob_path(where, PATH_MAX, l, &all.items[i]);
			if (ri.missing)
				strcat(where, " (missing)");
		}
		cb(&all.items[i], where, ctx);
	}
	error = 0;
	/* Damage that dropping a corrupt blob ran into (a damaged trigger
	 * fires only then: test_index_damage seed 1796169864) is repaired
	 * now, as a read's is (repaired_for_retry()), not left for the next
	 * open to find. */
	if (l->damage_seen != seen && !l->in_repair && !l->opts.read_only &&
	    !l->fatal)
		(void)arca__index_repair(l, l->damage_reason);
cleanup:
	if (n_checked)
		*n_checked = checked;
	if (n_corrupt)
		*n_corrupt = corrupt;
	arca__digest_list_free(&all);
	return error;
}

/* ---- URL entries --------------------------------------------------------- */

void arca__url_entry_free(arca__url_entry *e)
{
	if (e == NULL)
		return;
	free(e->etag);
	free(e->last_modified);
	e->etag = e->last_modified = NULL;
}

int arca__local_url_get(arca__local *l, const char *url, arca__url_entry *out)
{
	sqlite3_stmt *st = NULL;
	int error, rc;

	memset(out, 0, sizeof(*out));
	if ((error = arca__sql_prepare(l, &st, "SELECT digest, size, etag, "
			"last_modified, fetched_at FROM urls WHERE url = ?")) < 0)
		return error;
	sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == ARCA_DIGEST_SIZE) {
		memcpy(out->digest.bytes, sqlite3_column_blob(st, 0),
				ARCA_DIGEST_SIZE);
		out->size = (uint64_t)sqlite3_column_int64(st, 1);
		out->etag = arca__strdup((const char *)sqlite3_column_text(st, 2));
		out->last_modified = arca__strdup(
				(const char *)sqlite3_column_text(st, 3));
		out->fetched_at = sqlite3_column_int64(st, 4);
		if ((sqlite3_column_type(st, 2) != SQLITE_NULL && !out->etag) ||
		    (sqlite3_column_type(st, 3) != SQLITE_NULL &&
				!out->last_modified)) {
			arca__url_entry_free(out);
			error = arca__error(ARCA_ENOMEM, "out of memory");
		}
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		error = arca__error(ARCA_ENOTFOUND, "%s: not in the cache", url);
	} else {
		error = arca__sql_error(l, rc, "looking up a URL");
	}
	sqlite3_finalize(st);
	return error;
}

int arca__local_url_put(arca__local *l, const char *url,
		const arca__url_entry *e)
{
	sqlite3_stmt *st = NULL, *has = NULL;
	int error, rc;

	if ((error = arca__writable(l)) < 0)
		return error;
	if ((error = arca__tx_begin(l)) < 0)
		return error;
	/* The body must be present when the row that names it commits. */
	if ((error = arca__sql_prepare(l, &has, "SELECT 1 FROM blobs "
			"WHERE digest = ?")) < 0 ||
	    (error = require_blob(l, has, &e->digest, url)) < 0 ||
	    (error = arca__sql_prepare(l, &st, "INSERT OR REPLACE INTO urls(url, "
			"digest, size, etag, last_modified, fetched_at) "
			"VALUES(?, ?, ?, ?, ?, ?)")) < 0)
		goto cleanup;
	sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, e->digest.bytes, ARCA_DIGEST_SIZE,
			SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)e->size);
	if (e->etag)
		sqlite3_bind_text(st, 4, e->etag, -1, SQLITE_STATIC);
	if (e->last_modified)
		sqlite3_bind_text(st, 5, e->last_modified, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, e->fetched_at);
	if ((rc = sqlite3_step(st)) != SQLITE_DONE) {
		error = arca__sql_error(l, rc, "recording a URL");
		goto cleanup;
	}
	error = arca__tx_commit(l);
cleanup:
	sqlite3_finalize(has);
	sqlite3_finalize(st);
	if (error < 0)
		arca__tx_rollback(l);
	return error;
}

int arca__local_url_touch(arca__local *l, const char *url, int64_t fetched_at)
{
	sqlite3_stmt *st = NULL;
	int error, rc;

	if ((error = arca__writable(l)) < 0)
		return error;
	if ((error = arca__sql_prepare(l, &st, "UPDATE urls SET fetched_at = ? "
			"WHERE url = ?")) < 0)
		return error;
	sqlite3_bind_int64(st, 1, fetched_at);
	sqlite3_bind_text(st, 2, url, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	error = rc == SQLITE_DONE ? 0 : arca__sql_error(l, rc, "updating a URL");
	sqlite3_finalize(st);
	return error;
}

int arca__local_url_remove(arca__local *l, const char *url)
{
	sqlite3_stmt *st = NULL;
	int error, rc;

	if ((error = arca__writable(l)) < 0)
		return error;
	if ((error = arca__sql_prepare(l, &st, "DELETE FROM urls WHERE url = ?")) < 0)
		return error;
	sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	error = rc == SQLITE_DONE ? 0 : arca__sql_error(l, rc, "removing a URL");
	sqlite3_finalize(st);
	return error;
}

/* ---- open / close ------------------------------------------------------ */

static void local_free(arca_backend *b)
{
	arca__local *l = local_of(b);

	if (l == NULL)
		return;
	/* Pending hits are written now (evict.c batches them). Damage their
	 * write runs into (a damaged stats table is only written here) is
	 * repaired by this handle, not left for the next open. */
	if (l->db) {
		unsigned int seen = l->damage_seen;

		arca__access_close(l);
		if (l->damage_seen != seen && !l->in_repair &&
		    !l->opts.read_only && !l->fatal)
			(void)arca__index_repair(l, l->damage_reason);
	}
	arca__pins_close(l);
	arca__local_db_close(l);
	arca__stat_cache_free(l);
	arca__hasher_free(l->hasher);
	free(l->verified);
	free(l->repair_reason);
	free(l->repair_moved_to);
	free(l->repair_message);
	free(l->iobuf);
	free(l->dir);
	free(l->blobs_dir);
	free(l->tmp_dir);
	free(l->quarantine_dir);
	free(l->reserve_path);
	free(l);
}

/* A schema version another arca wrote (newer; or older, which only a
 * read-only open cannot upgrade), as opposed to a damaged value. */
static int schema_is_other_version(const char *v, int read_only)
{
	size_t n = strlen(v);
	int version;

	if (n == 0 || n > 6 || strspn(v, "0123456789") != n)
		return 0;
	version = atoi(v);
	return version > atoi(SCHEMA_VERSION) || (read_only && version >= 1);
}

/* PRAGMA user_version: the schema version in the file header too. */
static int header_version(arca__local *l, int *out)
{
	sqlite3_stmt *st = NULL;
	int error, rc;

	*out = 0;
	if ((error = arca__sql_prepare(l, &st, "PRAGMA user_version")) < 0)
		return error;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(st, 0);
	else
		error = arca__sql_error(l, rc, "reading the header version");
	sqlite3_finalize(st);
	return error;
}

static int check_schema(arca__local *l)
{
	sqlite3_stmt *st = NULL;
	int error = 0, rc, header = 0;

	if ((error = header_version(l, &header)) < 0)
		return error;
	if ((error = arca__sql_prepare(l, &st, "SELECT value FROM meta "
			"WHERE name = 'schema'")) < 0)
		return error;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		error = arca__sql_error(l, rc, "reading the schema version");
	} else if (rc == SQLITE_ROW && header != 0 && header != atoi(
			(const char *)sqlite3_column_text(st, 0))) {
		/* The version is kept twice (the meta row, and user_version in
		 * the file header, since schema 4): one flipped byte cannot make
		 * a damaged index look like a newer arca's. Indexes written
		 * before have user_version 0 and are judged by the row. */
		arca__index_note_damage(l, "the schema versions in the header "
				"and in the meta table differ");
		error = arca__error(ARCA_EIO, "%s/index.db: the index is "
				"damaged: schema version %s in the meta table, %d "
				"in the header", l->dir,
				(const char *)sqlite3_column_text(st, 0), header);
	} else if (rc == SQLITE_ROW && strcmp((const char *)
			sqlite3_column_text(st, 0), SCHEMA_VERSION) == 0) {
		error = 0;
	} else if (rc == SQLITE_ROW && schema_is_other_version(
			(const char *)sqlite3_column_text(st, 0),
			l->opts.read_only)) {
		error = arca__error(ARCA_ECORRUPT, "%s/index.db: index schema "
				"%s, this arca uses %s (a read-only open cannot "
				"upgrade it; a newer arca may have written it)", l->dir,
				(const char *)sqlite3_column_text(st, 0),
				SCHEMA_VERSION);
	} else {
		/* No version, or one that is not a number this arca could have
		 * migrated from: the meta table itself is damaged. */
		arca__index_note_damage(l, "no valid schema version in the "
				"index");
		error = arca__error(ARCA_EIO, "%s/index.db: the index is "
				"damaged: no valid schema version", l->dir);
	}
	sqlite3_finalize(st);
	return error;
}

/* Bring the index to SCHEMA_VERSION. In the transaction of open_db. */
static int migrate(arca__local *l)
{
	sqlite3_stmt *st = NULL;
	int error, rc, version = 0;
	size_t i;

	if ((error = arca__sql_prepare(l, &st, "SELECT value FROM meta "
			"WHERE name = 'schema'")) < 0)
		return error;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		version = atoi((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	for (i = (size_t)(version > 0 ? version - 1 : 0);
			version > 0 && i < sizeof(migrations) / sizeof(*migrations);
			i++) {
		char msg[512];

		if ((error = arca__sql_exec(l, migrations[i])) == 0)
			continue;
		if (error == ARCA_EFULL || error == ARCA_ENOMEM ||
		    error == ARCA_EBUSY || l->fatal)
			return error;
		/* An index of version N migrates cleanly: one whose upgrade
		 * fails (a column it says it lacks is there) is not what its
		 * version says: damage, repaired like any other. */
		snprintf(msg, sizeof(msg), "%s", arca_errmsg());
		arca__index_note_damage(l, "upgrading the index schema failed");
		return arca__error(ARCA_EIO, "%s/index.db: the index is "
				"damaged: upgrading it from schema version %d "
				"failed (%.200s)", l->dir, version, msg);
	}
	return 0;
}

/* After migrate(): user_version = the meta row's version (check_schema),
 * written only when it differs so that an open writes nothing. */
static int set_header_version(arca__local *l)
{
	int header = 0, error;

	if ((error = header_version(l, &header)) < 0)
		return error;
	if (header == atoi(SCHEMA_VERSION))
		return 0;
	return arca__sql_exec(l, "PRAGMA user_version = " SCHEMA_VERSION);
}

/* Step a one-row, one-column query with sqlite3 alone (no message, no
 * damage noted): its text into out, or "" on any failure. */
static void query_text(arca__local *l, const char *sql, char *out,
		size_t size)
{
	sqlite3_stmt *st = NULL;

	out[0] = '\0';
	if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

/*
 * 1 when the index is already in WAL mode with this arca's schema, both
 * versions (meta row and header) current: found with plain reads, which
 * in WAL mode wait for no writer. Anything else (a new file, an older
 * schema, damage) is 0 and left to init_db's checks under the lock.
 */
static int schema_current(arca__local *l)
{
	char meta[16], header[16], mode[16];

	query_text(l, "SELECT value FROM meta WHERE name = 'schema'", meta,
			sizeof(meta));
	query_text(l, "PRAGMA user_version", header, sizeof(header));
	query_text(l, "PRAGMA journal_mode", mode, sizeof(mode));
	return strcmp(meta, SCHEMA_VERSION) == 0 &&
		strcmp(header, SCHEMA_VERSION) == 0 &&
		strcmp(mode, "wal") == 0;
}

/*
 * Create or migrate the schema: WAL mode, tables, migrations. Only then
 * is the write lock taken: an open of a current index writes nothing and
 * waits for no writer (a long eviction, clear or gc of another process).
 */
static int init_db(arca__local *l)
{
	int error;

	/* synchronous=NORMAL in WAL mode: a crash may lose the last commits
	 * but never corrupts the index (sqlite.org/wal.html). A setting of
	 * this connection: no lock. */
	if ((error = arca__sql_exec(l, "PRAGMA synchronous=NORMAL")) < 0)
		return error;
	if (schema_current(l))
		return 0;
	if ((error = arca__sql_exec(l, "PRAGMA journal_mode=WAL")) < 0 ||
	    (error = arca__tx_begin(l)) < 0)
		return error;
	if ((error = schema_exec(l, schema_sql)) < 0 ||
	    (error = migrate(l)) < 0 ||
	    (error = set_header_version(l)) < 0 ||
	    (error = arca__tx_commit(l)) < 0) {
		arca__tx_rollback(l);
		return error;
	}
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * init_db, retried with backoff while another process holds the lock:
 * the very first opens of an empty directory race for journal_mode=WAL
 * and the schema, and SQLite does not always call the busy handler there.
 */
static int init_db_retrying(arca__local *l)
{
	uint64_t deadline = now_ms() + l->opts.busy_timeout_ms;
	unsigned int pause_ms = 1;
	int error;

	for (;;) {
		error = init_db(l);
		if (error != ARCA_EBUSY || now_ms() >= deadline)
			break;
		{
			struct timespec ts = { 0, (long)(pause_ms +
				(unsigned int)rand() % (pause_ms + 1)) * 1000000L };

			nanosleep(&ts, NULL);
		}
		if (pause_ms < 64)
			pause_ms *= 2;
	}
	if (error == ARCA_EBUSY)
		return arca__error(ARCA_EBUSY, "%s/index.db: still locked by "
				"another process after %u ms", l->dir,
				l->opts.busy_timeout_ms);
	return error;
}

/*
 * The busy handler: try again every millisecond for up to busy_limit_ms.
 * SQLite's own (sqlite3_busy_timeout) sleeps up to 100 ms between tries,
 * so a writer that commits in short batches and takes the lock back at
 * once (eviction, clear, gc) would keep it almost all the time; polled
 * this often, a waiting writer takes it in the pause between two batches
 * (arca__batch_pause) and waits at most about one batch. Readers need no
 * lock in WAL mode and never get here.
 */
static int busy_wait(void *ctx, int n)
{
	arca__local *l = ctx;
	int64_t now = arca__mono_ms();
	struct timespec ts = { 0, 1000000L };

	if (n == 0)
		l->busy_since_ms = now;
	if (now - l->busy_since_ms >= (int64_t)l->busy_limit_ms)
		return 0;
	nanosleep(&ts, NULL);
	return 1;
}

/*
 * Checkpoints. In WAL mode with synchronous=NORMAL a commit appends to
 * index.db-wal and syncs nothing; the fsyncs happen when a checkpoint
 * copies the WAL back into index.db (sync of the WAL, then of index.db;
 * sqlite.org/wal.html), by default after a commit that takes the WAL past
 * 1000 pages and when the last connection closes. A hit writes only
 * bookkeeping: access notes, hit counts and statistics (evict.c). Losing
 * them to a power cut is harmless: an entry's LRU position is a little
 * older than it should be and a few hits are not counted; never is an
 * entry lost or a wrong one served, since that bookkeeping is never what
 * makes an entry valid. So a handle whose commits were all bookkeeping
 * closes without a checkpoint (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE) and its
 * commits checkpoint only once the WAL is past BOOKKEEPING_CKPT_PAGES:
 * a hit performs no fsync of its own. That bound is small (64 pages,
 * 256 KiB, about 16 hits of bookkeeping) because the WAL's length is paid
 * at every open: the first connection to open index.db truncates the
 * wal-index (-shm) and rebuilds it by reading and checksumming the whole
 * WAL (sqlite.org/walformat.html, "Recovery"), and each `arca run` is a
 * new process. With 4000 pages a run of hits grew the WAL to 16 MiB and
 * the open from 2 ms to over 10 ms; with 64, one hit in about 16 pays a
 * checkpoint (two fdatasync) and the open reads at most 256 KiB. A handle that committed anything else (a put, a
 * removal, an eviction, a repair) checkpoints at close even when other
 * connections are open (a passive checkpoint: the WAL is synced and
 * copied as far as readers allow), so that its work is on disk when it
 * closes whoever closes last.
 */
#define DEFAULT_CKPT_PAGES 1000
#define BOOKKEEPING_CKPT_PAGES 64

static int commit_hook(void *ctx)
{
	arca__local *l = ctx;

	if (!l->bookkeeping)
		l->durable_writes = 1;
	return 0;
}

/*
 * Checkpoint the WAL and truncate it to zero bytes (TRUNCATE), not
 * PASSIVE: a passive checkpoint leaves the frames in the file, and the
 * next process's open recovers (reads and checksums) them all again and
 * checkpoints them again. It does not wait for readers (busy limit 0): a
 * WAL a reader holds gets the passive checkpoint (as far as the readers
 * allow) and is truncated at a later commit or close.
 */
static void wal_truncate(arca__local *l, sqlite3 *db, const char *name)
{
	unsigned int limit = l->busy_limit_ms;

	l->busy_limit_ms = 0;
	if (sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_TRUNCATE,
			NULL, NULL) == SQLITE_OK)
		l->wal_emptied = 1;
	else
		(void)sqlite3_wal_checkpoint_v2(db, name,
				SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	l->busy_limit_ms = limit;
}

static int wal_hook(void *ctx, sqlite3 *db, const char *name, int pages)
{
	arca__local *l = ctx;

	if (pages >= (l->bookkeeping ? BOOKKEEPING_CKPT_PAGES :
			DEFAULT_CKPT_PAGES))
		wal_truncate(l, db, name);
	return SQLITE_OK;
}

void arca__local_db_close(arca__local *l)
{
	arca__access_free(l);
	arca__stat_cache_db_closed(l);
	sqlite3_finalize(l->st_blob_get);
	sqlite3_finalize(l->st_blob_stat);
	sqlite3_finalize(l->st_blob_insert);
	sqlite3_finalize(l->st_ac_get);
	l->st_blob_get = l->st_blob_stat = l->st_blob_insert = NULL;
	l->st_ac_get = NULL;
	if (l->db && !l->opts.read_only) {
		if (l->durable_writes) {
			wal_truncate(l, l->db, NULL);
			wal_restart(l);
		}
		(void)sqlite3_db_config(l->db,
				SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	}
	if (l->db)
		sqlite3_close_v2(l->db);
	l->db = NULL;
}

int arca__local_db_open(arca__local *l)
{
	char *path = arca__path_join(l->dir, "index.db");
	int flags = SQLITE_OPEN_NOMUTEX | (l->opts.read_only ?
			SQLITE_OPEN_READONLY :
			SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
	struct stat sb;
	int error, rc;

	if (path == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	rc = sqlite3_open_v2(path, &l->db, flags, NULL);
	/* The file this connection uses (open() creates it): a repair
	 * replaces index.db only while it is still this one. */
	if (rc == SQLITE_OK && stat(path, &sb) == 0) {
		l->db_dev = (unsigned long long)sb.st_dev;
		l->db_ino = (unsigned long long)sb.st_ino;
	}
	free(path);
	if (rc != SQLITE_OK)
		return arca__sql_error(l, rc, "opening the index");
	l->busy_limit_ms = l->opts.busy_timeout_ms;
	sqlite3_busy_handler(l->db, busy_wait, l);
	/* See "Checkpoints" above. */
	sqlite3_commit_hook(l->db, commit_hook, l);
	sqlite3_wal_hook(l->db, wal_hook, l);
	sqlite3_extended_result_codes(l->db, 1);
	/* Keep index.db-wal and -shm when the last handle closes, so that
	 * opening the store on a full disk needs no new space (the wal-index
	 * alone takes 32 KiB) and reads keep working there. */
	if (!l->opts.read_only) {
		int persist = 1;

		sqlite3_file_control(l->db, "main", SQLITE_FCNTL_PERSIST_WAL,
				&persist);
	}
	/* SQLite's default 2 MiB page cache holds ~1,500 inline 1 KiB blobs;
	 * random reads past that cost a pread(2) each (bench/README.md). */
	if ((error = arca__sql_exec(l, "PRAGMA cache_size=-16384")) < 0)
		return error;
	if (!l->opts.read_only && (error = init_db_retrying(l)) < 0)
		return error;
	if ((error = check_schema(l)) < 0)
		return error;
	if ((error = arca__sql_prepare(l, &l->st_blob_get, "SELECT size, inline, "
			"data, digest FROM blobs WHERE digest = ?")) < 0 ||
	    (error = arca__sql_prepare(l, &l->st_blob_stat, "SELECT size, inline, "
			"digest FROM blobs WHERE digest = ?")) < 0 ||
	    (error = arca__sql_prepare(l, &l->st_ac_get, "SELECT manifest, "
			"expires FROM actions WHERE key = ?")) < 0)
		return error;
	if (!l->opts.read_only &&
	    (error = arca__sql_prepare(l, &l->st_blob_insert, "INSERT "
			"INTO blobs(digest, size, inline, created, data, "
			"last_access) VALUES(?1, ?2, ?3, ?4, ?5, ?4) "
			"ON CONFLICT(digest) DO UPDATE SET last_access = "
			"excluded.last_access WHERE last_access < "
			"excluded.last_access")) < 0)
		return error;
	return 0;
}

/*
 * Open the index under the shared lock of DIR/index.lock, so that no
 * repair replaces index.db while this connection is being set up; on
 * damage (SQLite's SQLITE_CORRUPT or SQLITE_NOTADB, a meta table without
 * a valid version, or index.damaged left by an earlier process for this
 * very file) repair it under the exclusive lock (repair.c). Quick checks
 * (PRAGMA quick_check) are not run here: they read the whole index, which
 * holds the inline blobs; arca_store_verify() runs integrity_check.
 */
static int open_index(arca__local *l)
{
	char reason[256];
	unsigned int seen = l->damage_seen;
	int error, lock = arca__index_lock(l, 0), due = 0;

	error = arca__local_db_open(l);
	if (error == 0 && !l->opts.read_only)
		due = arca__index_marker_due(l, reason, sizeof(reason));
	arca__index_unlock(lock);
	if (l->opts.read_only)
		return error;
	if (error < 0 && l->damage_seen != seen)
		return arca__index_repair(l, l->damage_reason);
	if (error == 0 && due)
		return arca__index_repair(l, reason);
	return error;
}

int arca__local_open(arca__local **out, const char *dir,
		const arca_options *opts)
{
	arca__local *l;
	int error;

	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	l->base.version = ARCA_BACKEND_VERSION;
	l->base.name = "local";
	l->base.blob_get = local_blob_get;
	l->base.blob_stat = local_blob_stat;
	l->base.blob_put = local_blob_put;
	l->base.blob_put_fd = local_blob_put_fd;
	l->base.ac_get = local_ac_get;
	l->base.ac_put = local_ac_put;
	l->base.ac_remove = local_ac_remove;
	l->base.free = local_free;
	l->base.ac_put2 = local_ac_put2_retrying;
	l->opts = *opts;
	/* Paths under the store are built in PATH_MAX buffers. */
	if (strlen(dir) > PATH_MAX - 256) {
		error = arca__error(ARCA_EINVAL, "store path too long: %s", dir);
		goto cleanup;
	}
	if (l->opts.inline_threshold > MAX_INLINE_THRESHOLD) {
		error = arca__error(ARCA_EINVAL, "inline threshold %llu bytes "
				"is above the maximum of %u",
				(unsigned long long)l->opts.inline_threshold,
				MAX_INLINE_THRESHOLD);
		goto cleanup;
	}
	l->dir = arca__strdup(dir);
	l->blobs_dir = arca__path_join(dir, "blobs");
	l->tmp_dir = arca__path_join(dir, "tmp");
	l->quarantine_dir = arca__path_join(dir, "quarantine");
	l->reserve_path = arca__path_join(dir, "reserve");
	l->iobuf = malloc(IO_CHUNK);
	if (!l->dir || !l->blobs_dir || !l->tmp_dir || !l->quarantine_dir ||
			!l->reserve_path || !l->iobuf) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((error = arca__hasher_new(&l->hasher)) < 0)
		goto cleanup;
	if (!l->opts.read_only) {
		if ((error = arca__mkdir_p(l->dir)) < 0 ||
		    (error = arca__mkdir_p(l->blobs_dir)) < 0 ||
		    (error = arca__mkdir_p(l->tmp_dir)) < 0 ||
		    (error = arca__mkdir_p(l->quarantine_dir)) < 0)
			goto cleanup;
		if (access(l->dir, W_OK) != 0) {
			error = arca__error_errno(errno, "cannot write to store",
					l->dir);
			goto cleanup;
		}
	} else {
		struct stat st;

		if (stat(l->dir, &st) != 0) {
			error = arca__error_errno(errno, "cannot open store",
					l->dir);
			goto cleanup;
		}
	}
	if ((error = open_index(l)) < 0)
		goto cleanup;
	if (!l->opts.read_only) {
		/* Dead writers' pin records first: they name their orphans. */
		arca__pins_reap(l);
		arca__sweep_tmp(l->tmp_dir, NULL, NULL);
		/* Made (when missing and there is room) before any put can
		 * need it given up. */
		arca__space_restore(l);
	}
	*out = l;
	return 0;
cleanup:
	local_free(&l->base);
	return error;
}

arca_backend *arca__local_backend(arca__local *l)
{
	return &l->base;
}

void arca__local_set_store(arca__local *l, arca_store *store)
{
	l->store = store;
}

const char *arca__local_path(const arca__local *l)
{
	return l->dir;
}
