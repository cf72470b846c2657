/*
 * The stat cache: (device, inode, size, mtime_ns, ctime_ns) -> digest for
 * files arca hashes (inputs, pipeline deps, tools, outputs), so that a
 * file whose stat data is unchanged is not read again. The model is git's
 * index and DVC's state database; docs/store.md, "Stat cache".
 *
 * Storage: the table stat_cache of index.db (schema 6, local.c), one row
 * per (dev, ino), at most ARCA_STAT_CACHE_ENTRIES rows (default 100000)
 * pruned by last_used, the oldest first. Lookups read it directly (one
 * primary-key probe). Writes never get a transaction of their own: what
 * is recorded, and the last_used of entries that hit, wait in memory
 * (struct arca__stat_cache) and are written by the transaction that
 * writes the batched access notes (evict.c, arca__access_flush(): 256
 * notes pending, 2 s after the oldest, and at close). A read-only store
 * keeps them in memory only.
 *
 * Racy entries (git's Documentation/technical/racy-git.txt): a file
 * changed within the granularity of its timestamps after it was looked
 * at keeps the stat data it had, so an entry is trusted only when the
 * file's mtime and ctime are older than the moment its stat data was
 * taken by more than that granularity (racy()). An entry racy when it
 * is recorded is not stored at all: the next lookup reads the file and
 * records it then, once it is no longer racy.
 */

#include "internal.h"
#include "local_sql.h"
#include "stat_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STAT_CACHE_DEFAULT_ENTRIES 100000
/* Recorded entries held in memory before they are written. */
#define STAT_CACHE_BATCH 256
#define STAT_CACHE_DELAY_MS 2000
/* A read-only store's in-memory cache, which is never written. */
#define STAT_CACHE_MEMORY_MAX 4096
/* An entry that hits moves in the LRU at most once in this many seconds
 * (as a blob read does, evict.c): repeated hits write nothing. */
#define STAT_CACHE_TOUCH_RESOLUTION_S 3600
/* Timestamp granularity assumed: whole seconds (2 s: FAT's) when neither
 * mtime nor ctime has a fraction; else the kernel's timestamps, taken
 * from a clock that advances by a tick (at most 10 ms at HZ=100), with a
 * margin. */
#define GRANULARITY_COARSE_NS 2000000000LL
#define GRANULARITY_FINE_NS 100000000LL
#define IO_CHUNK (1u << 20)

typedef struct sc_entry {
	int64_t dev, ino, size, mtime_ns, ctime_ns, recorded_ns;
	arca_digest digest;
} sc_entry;

typedef struct sc_touch {
	int64_t dev, ino;
} sc_touch;

struct arca__stat_cache {
	sc_entry *rec;           /* recorded, not yet written */
	size_t n_rec, cap_rec;
	sc_touch *touch;         /* hit, last_used to move */
	size_t n_touch, cap_touch;
	int64_t first_ms;        /* arca__mono_ms() of the oldest pending */
	int64_t max_entries;
	unsigned int flags;      /* arca_store_set_digest_flags() */
	sqlite3_stmt *st_get;
	arca_stat_cache_stats stats;
};

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static int cache_disabled(void)
{
	const char *v = getenv("ARCA_NO_STAT_CACHE");

	return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

static struct arca__stat_cache *cache_get(arca__local *l)
{
	struct arca__stat_cache *c;
	const char *env;

	if (l->stat_cache != NULL)
		return l->stat_cache;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->max_entries = STAT_CACHE_DEFAULT_ENTRIES;
	env = getenv("ARCA_STAT_CACHE_ENTRIES");
	if (env != NULL && *env != '\0') {
		char *end = NULL;
		long long v = strtoll(env, &end, 10);

		if (end != env && *end == '\0' && v > 0)
			c->max_entries = v;
	}
	l->stat_cache = c;
	return c;
}

static struct arca__stat_cache *store_cache(arca_store *store)
{
	arca__local *l = store != NULL ? arca__store_local(store) : NULL;

	return l != NULL ? cache_get(l) : NULL;
}

/*
 * Whether stat data st, taken at recorded_ns (the store's clock), may
 * hide a change: a write after that moment within the granularity of the
 * timestamps can leave mtime and ctime as they were (racy-git.txt).
 */
static int racy(const struct stat *st, int64_t recorded_ns)
{
	int64_t g = st->st_mtim.tv_nsec == 0 && st->st_ctim.tv_nsec == 0 ?
		GRANULARITY_COARSE_NS : GRANULARITY_FINE_NS;

	return ts_ns(&st->st_mtim) >= recorded_ns - g ||
		ts_ns(&st->st_ctim) >= recorded_ns - g;
}

static int same_file(const sc_entry *e, const struct stat *st)
{
	return e->dev == (int64_t)st->st_dev && e->ino == (int64_t)st->st_ino;
}

static int same_stat(const sc_entry *e, const struct stat *st)
{
	return same_file(e, st) && e->size == (int64_t)st->st_size &&
		e->mtime_ns == ts_ns(&st->st_mtim) &&
		e->ctime_ns == ts_ns(&st->st_ctim);
}

/* Entry e matches st and may be trusted. */
static int entry_hits(struct arca__stat_cache *c, const sc_entry *e,
		const struct stat *st)
{
	if (!same_stat(e, st))
		return 0;
	/* Recorded entries are never racy when recorded; this is the
	 * check for rows a clock step back or another arca left. */
	if (racy(st, e->recorded_ns)) {
		c->stats.racy++;
		return 0;
	}
	return 1;
}

static void note_touch(arca__local *l, struct arca__stat_cache *c,
		const struct stat *st)
{
	/* Moves wait for the next write of the access notes (a lookup may
	 * run inside a transaction, so it never writes itself); past a
	 * batch's worth the LRU order is left coarser. */
	if (l->opts.read_only || c->n_touch >= STAT_CACHE_BATCH)
		return;
	if (c->n_touch == c->cap_touch) {
		size_t cap = c->cap_touch ? c->cap_touch * 2 : 16;
		sc_touch *t = realloc(c->touch, cap * sizeof(*t));

		if (t == NULL)
			return;
		c->touch = t;
		c->cap_touch = cap;
	}
	if (c->n_rec + c->n_touch == 0)
		c->first_ms = arca__mono_ms();
	c->touch[c->n_touch].dev = (int64_t)st->st_dev;
	c->touch[c->n_touch].ino = (int64_t)st->st_ino;
	c->n_touch++;
}

static int lookup_impl(arca__local *l, struct arca__stat_cache *c,
		const struct stat *st, arca_digest *out)
{
	sc_entry e;
	int64_t last_used;
	size_t i;
	int rc;

	/* The newest record of this file wins: look from the end. */
	for (i = c->n_rec; i-- > 0;) {
		if (!same_file(&c->rec[i], st))
			continue;
		if (!entry_hits(c, &c->rec[i], st))
			return 0;
		*out = c->rec[i].digest;
		return 1;
	}
	if (l->db == NULL || l->fatal)
		return 0;
	if (c->st_get == NULL && sqlite3_prepare_v3(l->db, "SELECT size, "
			"mtime_ns, ctime_ns, digest, recorded_ns, last_used FROM "
			"stat_cache WHERE dev = ?1 AND ino = ?2", -1,
			SQLITE_PREPARE_PERSISTENT, &c->st_get, NULL) != SQLITE_OK) {
		/* Best effort: an index that cannot answer is a miss (its
		 * damage is found by the statements that must succeed). */
		c->st_get = NULL;
		return 0;
	}
	sqlite3_reset(c->st_get);
	sqlite3_bind_int64(c->st_get, 1, (int64_t)st->st_dev);
	sqlite3_bind_int64(c->st_get, 2, (int64_t)st->st_ino);
	rc = sqlite3_step(c->st_get);
	if (rc != SQLITE_ROW ||
	    sqlite3_column_bytes(c->st_get, 3) != ARCA_DIGEST_SIZE) {
		sqlite3_reset(c->st_get);
		return 0;
	}
	e.dev = (int64_t)st->st_dev;
	e.ino = (int64_t)st->st_ino;
	e.size = sqlite3_column_int64(c->st_get, 0);
	e.mtime_ns = sqlite3_column_int64(c->st_get, 1);
	e.ctime_ns = sqlite3_column_int64(c->st_get, 2);
	memcpy(e.digest.bytes, sqlite3_column_blob(c->st_get, 3),
			ARCA_DIGEST_SIZE);
	e.recorded_ns = sqlite3_column_int64(c->st_get, 4);
	last_used = sqlite3_column_int64(c->st_get, 5);
	sqlite3_reset(c->st_get);
	if (!entry_hits(c, &e, st))
		return 0;
	if (last_used + STAT_CACHE_TOUCH_RESOLUTION_S < arca__now())
		note_touch(l, c, st);
	*out = e.digest;
	return 1;
}

int arca__stat_cache_lookup(arca_store *store, const struct stat *st,
		arca_digest *out)
{
	arca__local *l = store != NULL ? arca__store_local(store) : NULL;
	struct arca__stat_cache *c;

	if (l == NULL || cache_disabled() || !S_ISREG(st->st_mode) ||
	    (c = cache_get(l)) == NULL || !lookup_impl(l, c, st, out))
		return 0;
	c->stats.hits++;
	return 1;
}

void arca__stat_cache_record_at(arca_store *store, const struct stat *st,
		const arca_digest *d, int64_t taken_ns)
{
	arca__local *l = store != NULL ? arca__store_local(store) : NULL;
	struct arca__stat_cache *c;
	sc_entry *e;

	if (l == NULL || l->fatal || cache_disabled() ||
	    !S_ISREG(st->st_mode) || (c = cache_get(l)) == NULL ||
	    racy(st, taken_ns))
		return;
	if (l->opts.read_only && c->n_rec >= STAT_CACHE_MEMORY_MAX)
		return;
	if (c->n_rec == c->cap_rec) {
		size_t cap = c->cap_rec ? c->cap_rec * 2 : 16;

		if ((e = realloc(c->rec, cap * sizeof(*e))) == NULL)
			return;
		c->rec = e;
		c->cap_rec = cap;
	}
	if (c->n_rec + c->n_touch == 0)
		c->first_ms = arca__mono_ms();
	e = &c->rec[c->n_rec++];
	e->dev = (int64_t)st->st_dev;
	e->ino = (int64_t)st->st_ino;
	e->size = (int64_t)st->st_size;
	e->mtime_ns = ts_ns(&st->st_mtim);
	e->ctime_ns = ts_ns(&st->st_ctim);
	e->recorded_ns = taken_ns;
	e->digest = *d;
	c->stats.recorded++;
	if (!l->opts.read_only && (c->n_rec + c->n_touch >= STAT_CACHE_BATCH ||
			arca__mono_ms() - c->first_ms >= STAT_CACHE_DELAY_MS))
		(void)arca__access_flush(l);
}

void arca__stat_cache_record(arca_store *store, const struct stat *st,
		const arca_digest *d)
{
	arca__stat_cache_record_at(store, st, d, arca__now_ns());
}

/* ---- writing (in the access notes' transaction, evict.c) ----------- */

int arca__stat_cache_pending(const arca__local *l)
{
	const struct arca__stat_cache *c = l->stat_cache;

	return c != NULL && !l->opts.read_only && c->n_rec + c->n_touch > 0;
}

/* Delete the least recently used rows past c->max_entries, down to 90%
 * of it so that pruning runs once per tenth of the bound. */
static int prune(arca__local *l, struct arca__stat_cache *c)
{
	sqlite3_stmt *st = NULL;
	int64_t rows = 0;
	int error, rc;

	if ((error = arca__sql_prepare(l, &st, "SELECT CAST(value AS "
			"INTEGER) FROM meta WHERE name = 'stat_cache_rows'")) < 0)
		return error;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		rows = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return arca__sql_error(l, rc, "counting stat cache entries");
	if (rows <= c->max_entries)
		return 0;
	if ((error = arca__sql_prepare(l, &st, "DELETE FROM stat_cache "
			"WHERE (dev, ino) IN (SELECT dev, ino FROM stat_cache "
			"ORDER BY last_used LIMIT ?1)")) < 0)
		return error;
	sqlite3_bind_int64(st, 1, rows - c->max_entries + c->max_entries / 10);
	rc = sqlite3_step(st);
	error = rc == SQLITE_DONE ? 0 :
		arca__sql_error(l, rc, "pruning the stat cache");
	sqlite3_finalize(st);
	return error;
}

int arca__stat_cache_flush_tx(arca__local *l)
{
	struct arca__stat_cache *c = l->stat_cache;
	sqlite3_stmt *put = NULL, *touch = NULL;
	int64_t now = arca__now();
	size_t i;
	int error = 0, rc;

	if (c == NULL || c->n_rec + c->n_touch == 0)
		return 0;
	if (l->opts.read_only)
		return 0;
	/* An upsert, not INSERT OR REPLACE: the row count kept in meta by
	 * the insert and delete triggers (schema 6) stays exact. */
	if ((error = arca__sql_prepare(l, &put, "INSERT INTO stat_cache(dev, "
			"ino, size, mtime_ns, ctime_ns, digest, recorded_ns, "
			"last_used) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
			"ON CONFLICT(dev, ino) DO UPDATE SET size = excluded.size, "
			"mtime_ns = excluded.mtime_ns, ctime_ns = "
			"excluded.ctime_ns, digest = excluded.digest, "
			"recorded_ns = excluded.recorded_ns, last_used = "
			"excluded.last_used")) < 0 ||
	    (error = arca__sql_prepare(l, &touch, "UPDATE stat_cache SET "
			"last_used = ?3 WHERE dev = ?1 AND ino = ?2")) < 0)
		goto cleanup;
	for (i = 0; i < c->n_rec; i++) {
		const sc_entry *e = &c->rec[i];

		sqlite3_reset(put);
		sqlite3_bind_int64(put, 1, e->dev);
		sqlite3_bind_int64(put, 2, e->ino);
		sqlite3_bind_int64(put, 3, e->size);
		sqlite3_bind_int64(put, 4, e->mtime_ns);
		sqlite3_bind_int64(put, 5, e->ctime_ns);
		sqlite3_bind_blob(put, 6, e->digest.bytes, ARCA_DIGEST_SIZE,
				SQLITE_STATIC);
		sqlite3_bind_int64(put, 7, e->recorded_ns);
		sqlite3_bind_int64(put, 8, now);
		if ((rc = sqlite3_step(put)) != SQLITE_DONE) {
			error = arca__sql_error(l, rc, "recording stat data");
			goto cleanup;
		}
	}
	for (i = 0; i < c->n_touch; i++) {
		sqlite3_reset(touch);
		sqlite3_bind_int64(touch, 1, c->touch[i].dev);
		sqlite3_bind_int64(touch, 2, c->touch[i].ino);
		sqlite3_bind_int64(touch, 3, now);
		if ((rc = sqlite3_step(touch)) != SQLITE_DONE) {
			error = arca__sql_error(l, rc, "recording stat data");
			goto cleanup;
		}
	}
	if (c->n_rec > 0)
		error = prune(l, c);
cleanup:
	sqlite3_finalize(put);
	sqlite3_finalize(touch);
	/* Written or dropped: the cache is a hint, a lost record costs
	 * one more read of the file. */
	c->n_rec = c->n_touch = 0;
	return error;
}

void arca__stat_cache_db_closed(arca__local *l)
{
	struct arca__stat_cache *c = l->stat_cache;

	if (c == NULL)
		return;
	sqlite3_finalize(c->st_get);
	c->st_get = NULL;
}

void arca__stat_cache_free(arca__local *l)
{
	struct arca__stat_cache *c = l->stat_cache;

	if (c == NULL)
		return;
	sqlite3_finalize(c->st_get);
	free(c->rec);
	free(c->touch);
	free(c);
	l->stat_cache = NULL;
}

/* ---- the public entry points ---------------------------------------- */

void arca_store_set_digest_flags(arca_store *store, unsigned int flags)
{
	struct arca__stat_cache *c = store_cache(store);

	if (c != NULL)
		c->flags = flags;
}

int arca_store_stat_cache_stats(arca_stat_cache_stats *out,
		arca_store *store)
{
	struct arca__stat_cache *c;

	if (out == NULL || store == NULL)
		return arca__error(ARCA_EINVAL, "arca_store_stat_cache_stats: "
				"NULL argument");
	memset(out, 0, sizeof(*out));
	if ((c = store_cache(store)) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	*out = c->stats;
	return 0;
}

static int changed(const struct stat *a, const struct stat *b)
{
	return a->st_dev != b->st_dev || a->st_ino != b->st_ino ||
		a->st_size != b->st_size ||
		ts_ns(&a->st_mtim) != ts_ns(&b->st_mtim) ||
		ts_ns(&a->st_ctim) != ts_ns(&b->st_ctim);
}

int arca_store_digest_file(arca_digest *out, uint64_t *size_out,
		arca_store *store, const char *path, unsigned int flags,
		arca_progress_fn fn, void *ctx)
{
	struct arca__stat_cache *c = NULL;
	unsigned char *buf = NULL;
	struct stat st, after;
	uint64_t total = 0;
	int64_t taken_ns = 0, next_ns = 0;
	int fd = -1, error, attempt;

	if (out == NULL || path == NULL)
		return arca__error(ARCA_EINVAL, "arca_store_digest_file: NULL "
				"argument");
	/* Off (ARCA_NO_STAT_CACHE): every file is read, and counted. */
	if (store != NULL && (c = store_cache(store)) != NULL)
		flags |= c->flags;
	if (cache_disabled())
		flags |= ARCA_DIGEST_REHASH;
	/* Anything but a regular file is refused before it is opened (a
	 * FIFO without a writer would block the open); a hit costs this
	 * one stat. */
	if (stat(path, &st) != 0)
		return arca__error_errno(errno, "cannot stat", path);
	if (!S_ISREG(st.st_mode))
		return arca__error(ARCA_EINVAL, "%s: not a regular file", path);
	if (c != NULL && !(flags & ARCA_DIGEST_REHASH) &&
	    lookup_impl(arca__store_local(store), c, &st, out)) {
		c->stats.hits++;
		if (size_out != NULL)
			*size_out = (uint64_t)st.st_size;
		return 0;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return arca__error_errno(errno, "cannot open", path);
	if ((buf = malloc(IO_CHUNK)) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory reading %s",
				path);
		goto cleanup;
	}
	/* The moment of the stat data recorded is before it is taken and
	 * before the bytes are read: a write during the read that leaves
	 * the stat data as it was is then within the racy window. */
	taken_ns = arca__now_ns();
	if (fstat(fd, &st) != 0) {
		error = arca__error_errno(errno, "cannot stat", path);
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		error = arca__error(ARCA_EINVAL, "%s: not a regular file", path);
		goto cleanup;
	}
	/*
	 * The digest is of the file's content only if nothing wrote to it
	 * while it was read: its stat data before and after must agree and
	 * every byte of its size must have been read. A file that changes
	 * is read once more; twice changed, it is refused, never recorded.
	 */
	for (attempt = 0;; attempt++) {
		if ((error = arca__digest_fd(out, &total, fd, path, buf,
				IO_CHUNK, (uint64_t)st.st_size, fn, ctx)) < 0)
			goto cleanup;
		if (c != NULL) {
			c->stats.misses++;
			c->stats.bytes_hashed += total;
		}
		next_ns = arca__now_ns();
		if (fstat(fd, &after) != 0) {
			error = arca__error_errno(errno, "cannot stat", path);
			goto cleanup;
		}
		if (!changed(&st, &after) && total == (uint64_t)after.st_size)
			break;
		if (attempt == 1) {
			error = arca__error(ARCA_EIO, "%s: the file changed while "
					"it was read (size or modification time "
					"differ before and after), twice; not "
					"hashed", path);
			goto cleanup;
		}
		st = after;
		taken_ns = next_ns;
	}
	if (c != NULL)
		arca__stat_cache_record_at(store, &after, out, taken_ns);
	if (size_out != NULL)
		*size_out = total;
	error = 0;
cleanup:
	free(buf);
	if (fd >= 0)
		close(fd);
	return error;
}
