/*
 * The public store API over an ordered list of tiers, each an
 * arca_backend; tier 0 is the local store. Blob and action-cache calls go
 * through the backend table of every tier (fall-through on lookups,
 * verification and promotion of later tiers' hits, write-through of
 * puts); administration (list, clear, info, stats, verify) is the local
 * tier's, through its local-only interface (local.h).
 */
#include "internal.h"

#include "arca/sys/backend.h"
#include "arca/sys/redis.h"
#include "breaker.h"
#include "fsutil.h"
#include "local.h"
#include "pin.h"
#include "redis_conn.h"
#include "tier_url.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct tier {
	arca_backend *backend;
	arca_tier_options opts;
	arca_tier_stats stats;
	/* The breaker of a configured remote tier (owned by its remote);
	 * NULL for tier 0 and tiers added by the caller. */
	arca__breaker *breaker;
	int remote;          /* added after tier 0: its operations are timed */
	/* One operation (a lookup, a put, the write-through of an action)
	 * runs from the first tier_call() to its count_*(): whether the
	 * breaker let it through is decided once, at its start. */
	int in_op;
	int op_skipped;
	int64_t op_start;    /* CLOCK_MONOTONIC ms */
	/* A configured tier is opened without connecting (open_remotes());
	 * its first call stands for the open: when that fails (cannot be
	 * reached, refused credentials, no such bucket) the handle goes on
	 * without the tier, as it did when the open failed. */
	int answered;        /* a call of this handle's got an answer */
	int down;            /* the first call failed: skipped from now on */
} tier;

/* A configured remote tier (arca_store_remote_info()). */
typedef struct remote {
	char *shown;         /* URL without password */
	char *source;
	char *open_message;
	size_t tier;         /* 0: not opened */
	int open_error;
	arca_tier_options opts;
	arca__breaker *breaker;
	arca_tier_stats open_stats; /* failed opens, flushed at close */
} remote;

struct arca_store {
	arca__local *local;  /* tier 0's local-only interface */
	tier *tiers;         /* tiers[0]: the local store's backend */
	size_t n_tiers;
	remote *remotes;
	size_t n_remotes;
	arca_transfer *xfer; /* counts of arca_tier_push()/_pull() running */
};

arca__local *arca__store_local(arca_store *store)
{
	return store->local;
}

void arca__store_pin_hold(arca_store *store)
{
	arca__pin_hold(store->local);
}

void arca__store_pin_release(arca_store *store)
{
	arca__pin_release(store->local);
}

/* ---- tiers ------------------------------------------------------------ */

/* What a tier whose breaker is open answers: at once, without a call. */
static int skip_blob_get(arca_backend *b, const arca_digest *d,
		arca_sink_fn sink, void *ctx)
{
	(void)b; (void)d; (void)sink; (void)ctx;
	return ARCA_EUNAVAILABLE;
}

static int skip_blob_stat(arca_backend *b, const arca_digest *d,
		uint64_t *size)
{
	(void)b; (void)d; (void)size;
	return ARCA_EUNAVAILABLE;
}

static int skip_blob_put(arca_backend *b, arca_digest *out, const void *data,
		size_t len)
{
	(void)b; (void)out; (void)data; (void)len;
	return ARCA_EUNAVAILABLE;
}

static int skip_blob_put_fd(arca_backend *b, arca_digest *out,
		uint64_t *size, int fd)
{
	(void)b; (void)out; (void)size; (void)fd;
	return ARCA_EUNAVAILABLE;
}

static int skip_ac_get(arca_backend *b, const arca_digest *key,
		arca_digest *md)
{
	(void)b; (void)key; (void)md;
	return ARCA_EUNAVAILABLE;
}

static int skip_ac_put(arca_backend *b, const arca_digest *key,
		const arca_digest *md, const arca_manifest *m)
{
	(void)b; (void)key; (void)md; (void)m;
	return ARCA_EUNAVAILABLE;
}

static int skip_ac_remove(arca_backend *b, const arca_digest *key)
{
	(void)b; (void)key;
	return ARCA_EUNAVAILABLE;
}

static int skip_find_missing(arca_backend *b, unsigned char *missing,
		const arca_digest *digests, size_t n)
{
	(void)b; (void)missing; (void)digests; (void)n;
	return ARCA_EUNAVAILABLE;
}

static int skip_ac_get_manifest(arca_backend *b, arca_digest *md,
		arca_buf *json, const arca_digest *key)
{
	(void)b; (void)md; (void)json; (void)key;
	return ARCA_EUNAVAILABLE;
}

static int skip_ac_put2(arca_backend *b, const arca_digest *key,
		const arca_digest *md, const arca_manifest *m,
		const arca_put_options *opts)
{
	(void)b; (void)key; (void)md; (void)m; (void)opts;
	return ARCA_EUNAVAILABLE;
}

static void skip_free(arca_backend *b)
{
	(void)b;
}

static arca_backend skipped_backend = {
	ARCA_BACKEND_VERSION, "skipped", skip_blob_get, skip_blob_stat,
	skip_blob_put, skip_blob_put_fd, skip_ac_get, skip_ac_put, skip_ac_remove,
	skip_free, 0, skip_find_missing, skip_ac_get_manifest, skip_ac_put2
};

/*
 * The backend of t, with the deadline of the call about to be made; at
 * an operation's first call, the breaker decides whether it is made at
 * all (else every call of the operation answers ARCA_EUNAVAILABLE at
 * once, and it is counted as skipped).
 */
static arca_backend *tier_call(tier *t)
{
	arca_backend *b = t->backend;

	/* Tier 0's calls are not timed: its hot path stays as it was. */
	if (t->remote && !t->in_op) {
		t->in_op = 1;
		t->op_start = arca__mono_ms();
		t->op_skipped = t->down || (t->breaker != NULL &&
			!arca__breaker_allow(t->breaker));
	}
	if (t->op_skipped)
		return &skipped_backend;
	if (b->version >= 2)
		b->deadline_ms = t->opts.timeout_ms ?
			arca__mono_ms() + (int64_t)t->opts.timeout_ms : 0;
	return b;
}

/* Errors and timeouts count towards the breaker; misses, declines and
 * wrong bytes (the tier answered) do not. */
static int breaker_failure(int rc)
{
	return rc == ARCA_ETIMEOUT || rc == ARCA_EUNAVAILABLE ||
		rc == ARCA_EIO;
}

/*
 * End t's operation with outcome rc: its time, and the breaker's view of
 * it. 1 when the breaker skipped it (counted as skipped only).
 */
static int op_end(tier *t, int rc)
{
	if (!t->in_op)
		return 0;
	t->in_op = 0;
	if (t->op_skipped) {
		t->op_skipped = 0;
		t->stats.skipped++;
		return 1;
	}
	t->stats.time_ms += (uint64_t)(arca__mono_ms() - t->op_start);
	/* The first call of a configured tier stands for its open (see
	 * tier.answered): when the tier cannot be reached, does not answer
	 * in time or refuses the handle, that is the handle's one warning
	 * and the tier is not asked again. */
	if (t->breaker != NULL && !t->answered) {
		if (rc == ARCA_EUNAVAILABLE || rc == ARCA_ETIMEOUT ||
		    rc == ARCA_EPERM || rc == ARCA_EINVAL) {
			t->down = 1;
			arca__log("%s; going on without this tier",
					arca_errmsg());
		} else {
			/* Connected: a failed command (EIO) is the breaker's
			 * to count, as after an open that worked. */
			t->answered = 1;
		}
	}
	if (t->breaker != NULL &&
	    arca__breaker_result(t->breaker, breaker_failure(rc)))
		t->stats.breaker_openings++;
	return 0;
}

static void count_lookup(tier *t, int rc)
{
	if (op_end(t, rc))
		return;
	switch (rc) {
	case 0: t->stats.hits++; break;
	case ARCA_ENOTFOUND: t->stats.misses++; break;
	case ARCA_ETIMEOUT: t->stats.timeouts++; break;
	case ARCA_ECORRUPT: t->stats.corrupt++; break;
	default: t->stats.errors++; break;
	}
}

static void count_put(tier *t, int rc)
{
	if (op_end(t, rc))
		return;
	switch (rc) {
	case 0: t->stats.stored++; break;
	case ARCA_ENOTSTORED: t->stats.not_stored++; break;
	case ARCA_ETIMEOUT: t->stats.timeouts++; break;
	default: t->stats.errors++; break;
	}
}

/* ac_put2 when the backend has it (version 2), else ac_put. */
static int tier_ac_put(tier *t, const arca_digest *key,
		const arca_digest *manifest, const arca_manifest *m,
		const arca_put_options *opts)
{
	arca_backend *b = tier_call(t);

	if (b->version >= 2 && b->ac_put2 != NULL)
		return b->ac_put2(b, key, manifest, m, opts);
	if (b->ac_put == NULL)
		return ARCA_ENOTSTORED;
	return b->ac_put(b, key, manifest, m);
}

/* The first writable Redis tier (redis_conn.h's arca__redis_tier_of()),
 * or NULL. */
static tier *lease_tier(arca_store *store)
{
	size_t i;

	for (i = 1; i < store->n_tiers; i++)
		if (!store->tiers[i].opts.read_only &&
		    arca__redis_tier_of(store->tiers[i].backend) != NULL)
			return &store->tiers[i];
	return NULL;
}

int arca__store_lease(arca_store *store, arca__lease_op op,
		const arca_digest *key, const char *token, uint64_t ttl_ms)
{
	tier *t = lease_tier(store);
	arca_backend *b;
	int rc;

	if (t == NULL)
		return ARCA_ENOTFOUND;
	b = tier_call(t);
	if (b == &skipped_backend)
		rc = ARCA_EUNAVAILABLE;
	else if (op == ARCA__LEASE_ACQUIRE)
		rc = arca_redis_lease_acquire(b, key, token, ttl_ms);
	else
		rc = arca_redis_lease_release(b, key, token);
	/* A lease held by another, or already gone, is an answer: only
	 * errors and timeouts reach the breaker and the counters. */
	if (op_end(t, rc) == 0) {
		if (rc == ARCA_ETIMEOUT)
			t->stats.timeouts++;
		else if (rc < 0 && rc != ARCA_EBUSY && rc != ARCA_ENOTFOUND)
			t->stats.errors++;
	}
	return rc;
}

int arca__store_lease_dup(arca_backend **out, arca_store *store)
{
	tier *t = lease_tier(store);

	*out = NULL;
	if (t == NULL)
		return ARCA_ENOTFOUND;
	return arca__redis_tier_dup(out, t->backend);
}

static int has_writable_tier(const arca_store *store)
{
	size_t i;

	for (i = 1; i < store->n_tiers; i++)
		if (!store->tiers[i].opts.read_only)
			return 1;
	return 0;
}

int arca_store_add_tier(arca_store *store, arca_backend *backend,
		const arca_tier_options *opts)
{
	arca_tier_options defaults = ARCA_TIER_OPTIONS_INIT;
	tier *tiers;
	int error;

	arca__error_clear();
	if (store == NULL || backend == NULL) {
		error = arca__error(ARCA_EINVAL, "add tier: no store or backend");
		goto cleanup;
	}
	if (opts == NULL)
		opts = &defaults;
	if (opts->version != ARCA_TIER_OPTIONS_VERSION) {
		error = arca__error(ARCA_EINVAL, "arca_tier_options version %u "
				"is not supported (expected %u)", opts->version,
				ARCA_TIER_OPTIONS_VERSION);
		goto cleanup;
	}
	if (backend->version < 1 || backend->version > ARCA_BACKEND_VERSION) {
		error = arca__error(ARCA_EINVAL, "backend %s: version %u is not "
				"supported (1 to %u)", backend->name ?
				backend->name : "(unnamed)", backend->version,
				ARCA_BACKEND_VERSION);
		goto cleanup;
	}
	if (backend->blob_get == NULL || backend->ac_get == NULL ||
	    backend->free == NULL || (!opts->read_only &&
	     (backend->blob_put == NULL || (backend->ac_put == NULL &&
		!(backend->version >= 2 && backend->ac_put2 != NULL))))) {
		error = arca__error(ARCA_EINVAL, "backend %s: a required method "
				"is missing", backend->name ? backend->name :
				"(unnamed)");
		goto cleanup;
	}
	tiers = realloc(store->tiers, (store->n_tiers + 1) * sizeof(*tiers));
	if (tiers == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	store->tiers = tiers;
	memset(&tiers[store->n_tiers], 0, sizeof(*tiers));
	tiers[store->n_tiers].backend = backend;
	tiers[store->n_tiers].opts = *opts;
	tiers[store->n_tiers].stats.name = backend->name;
	tiers[store->n_tiers].remote = 1;
	store->n_tiers++;
	backend = NULL;
	error = 0;
cleanup:
	/* The store owns the backend from the call on, also on failure. */
	if (backend != NULL && backend->free != NULL)
		backend->free(backend);
	return error;
}

int arca_store_tier_set_promote(arca_store *store, size_t tier_index,
		int promote)
{
	if (store == NULL || tier_index == 0 || tier_index >= store->n_tiers)
		return arca__error(ARCA_EINVAL, "no tier %zu", tier_index);
	store->tiers[tier_index].opts.promote = promote != 0;
	return 0;
}

size_t arca_store_tier_count(const arca_store *store)
{
	return store ? store->n_tiers : 0;
}

int arca_store_tier_stats(arca_tier_stats *out, arca_store *store,
		size_t index)
{
	if (store == NULL || index >= store->n_tiers)
		return arca__error(ARCA_EINVAL, "no tier %zu (the store has "
				"%zu)", index, store ? store->n_tiers : 0);
	*out = store->tiers[index].stats;
	return 0;
}

int arca_store_default_dir(char **out)
{
	const char *env = getenv("ARCA_DIR");
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	int n;

	*out = NULL;
	if (env && *env)
		return arca__strdup_checked(out, env);
	if (xdg && *xdg)
		n = asprintf(out, "%s/arca", xdg);
	else if (home && *home)
		n = asprintf(out, "%s/.cache/arca", home);
	else
		return arca__error(ARCA_EINVAL, "no store directory: set "
				"ARCA_DIR, XDG_CACHE_HOME or HOME");
	if (n < 0) {
		*out = NULL;
		return arca__error(ARCA_ENOMEM, "out of memory");
	}
	return 0;
}

static void remotes_free(remote *r, size_t n)
{
	size_t i;

	for (i = 0; r != NULL && i < n; i++) {
		free(r[i].shown);
		free(r[i].source);
		free(r[i].open_message);
		arca__breaker_free(r[i].breaker);
	}
	free(r);
}

/*
 * Open the configured remote tiers (arca_store_open(), "Remote tiers"):
 * each one that cannot be opened, or whose breaker is open, is left out
 * (a warning for the first). Only ARCA_ENOMEM fails.
 */
static int open_remotes(arca_store *s, arca__tier_conf *confs, size_t n,
		int writable)
{
	char shown[1024];
	size_t i;
	int error;

	if (n == 0)
		return 0;
	if ((s->remotes = calloc(n, sizeof(*s->remotes))) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		remote *r = &s->remotes[i];
		int64_t start;

		s->n_remotes++;
		arca__url_redact(shown, sizeof(shown), confs[i].url);
		r->opts = confs[i].opts;
		if ((r->shown = arca__strdup(shown)) == NULL ||
		    (r->source = arca__strdup(confs[i].where)) == NULL ||
		    arca__breaker_new(&r->breaker, arca__local_path(s->local),
				shown, writable) < 0)
			return arca__error(ARCA_ENOMEM, "out of memory");
		if (!arca__breaker_may_allow(r->breaker)) {
			/* Announced when it opened; quiet here, so that a
			 * thousand short processes do not each say it. */
			r->open_error = ARCA_EUNAVAILABLE;
			r->open_message = arca__strdup("circuit breaker open");
			r->open_stats.skipped++;
			continue;
		}
		start = arca__mono_ms();
		/* Lazily: a process that tier 0 serves never waits for a
		 * remote, however dead (bench/README.md, "Shared tiers").
		 * What can be checked without the network is said here. */
		error = arca__store_add_tier_url(s, confs[i].url,
				&confs[i].opts, 1);
		if (error == 0) {
			tier *t = &s->tiers[s->n_tiers - 1];

			r->tier = s->n_tiers - 1;
			t->breaker = r->breaker;
			t->stats.time_ms += (uint64_t)(arca__mono_ms() - start);
			continue;
		}
		if (error == ARCA_ENOMEM)
			return error;
		r->open_error = error;
		r->open_message = arca__strdup(arca_errmsg());
		r->open_stats.time_ms += (uint64_t)(arca__mono_ms() - start);
		if (error == ARCA_ETIMEOUT)
			r->open_stats.timeouts++;
		else
			r->open_stats.errors++;
		arca__log("%s; going on without this tier", arca_errmsg());
		/* A malformed URL says nothing about the server; a refused
		 * AUTH does (it answered), and ends a probe too. */
		if (error != ARCA_EINVAL &&
		    arca__breaker_result(r->breaker, breaker_failure(error)))
			r->open_stats.breaker_openings++;
	}
	arca__error_clear();
	return 0;
}

int arca_store_open(arca_store **out, const char *dir,
		const arca_options *opts)
{
	arca_options effective;
	arca_store *s = NULL;
	arca__tier_conf *confs = NULL;
	size_t n_confs = 0;
	char *default_dir = NULL;
	int error;

	*out = NULL;
	arca__error_clear();
	if (dir == NULL) {
		if ((error = arca_store_default_dir(&default_dir)) < 0)
			return error;
		dir = default_dir;
	}
	/* Store policy: the caller's fields, the environment, config.yaml,
	 * the defaults (config.c). */
	if ((error = arca_options_resolve(&effective, dir, opts)) < 0)
		goto cleanup;
	if ((error = arca__tiers_resolve(&confs, &n_confs, dir, opts)) < 0)
		goto cleanup;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((error = arca__local_open(&s->local, dir, &effective)) < 0)
		goto cleanup;
	arca__local_set_store(s->local, s);
	if ((s->tiers = calloc(1, sizeof(*s->tiers))) == NULL) {
		arca__local_backend(s->local)->free(arca__local_backend(s->local));
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	s->tiers[0].backend = arca__local_backend(s->local);
	s->tiers[0].opts = (arca_tier_options)ARCA_TIER_OPTIONS_INIT;
	s->tiers[0].stats.name = s->tiers[0].backend->name;
	s->n_tiers = 1;
	if ((error = open_remotes(s, confs, n_confs,
			!effective.read_only)) < 0) {
		arca_store_close(s);
		s = NULL;
		goto cleanup;
	}
	*out = s;
	s = NULL;
cleanup:
	free(s);
	arca__tier_confs_free(confs, n_confs);
	free(default_dir);
	return error;
}

void arca_store_close(arca_store *store)
{
	size_t i;

	if (store == NULL)
		return;
	/* The handle's figures join every process's in DIR/tiers/. */
	for (i = 0; i < store->n_remotes; i++) {
		remote *r = &store->remotes[i];
		arca_tier_stats d = r->open_stats;

		if (r->breaker == NULL)
			continue;
		if (r->tier != 0) {
			d = store->tiers[r->tier].stats;
			d.skipped += r->open_stats.skipped;
		}
		arca__breaker_flush(r->breaker, &d);
	}
	/* Later tiers first: tier 0 is the one whose handle they were
	 * added to. */
	for (i = store->n_tiers; i-- > 0;)
		store->tiers[i].backend->free(store->tiers[i].backend);
	free(store->tiers);
	remotes_free(store->remotes, store->n_remotes);
	free(store);
}

const char *arca_store_path(const arca_store *store)
{
	return arca__local_path(store->local);
}

int arca_store_index_repair(arca_index_repair *out, arca_store *store)
{
	if (out == NULL || store == NULL)
		return arca__error(ARCA_EINVAL, "index repair: no report or "
				"store");
	arca__local_repair_info(store->local, out);
	return 0;
}

/* ---- reading through the tiers --------------------------------------- */

/* Collects a blob in memory. */
typedef struct mem_sink {
	arca_buf buf;
	size_t cap;
} mem_sink;

static int mem_sink_write(void *ctx, const void *data, size_t len)
{
	mem_sink *m = ctx;

	if (m->buf.size + len + 1 > m->cap) {
		/* The first chunk sets the size: exact for inline blobs. */
		size_t cap = m->cap ? m->cap : len + 1;
		unsigned char *p;

		while (cap < m->buf.size + len + 1)
			cap *= 2;
		p = realloc(m->buf.data, cap);
		if (p == NULL)
			return arca__error(ARCA_ENOMEM, "out of memory reading "
					"a blob of more than %zu bytes",
					m->buf.size + len);
		m->buf.data = p;
		m->cap = cap;
	}
	if (len > 0) /* SQLite hands out NULL for an empty blob */
		memcpy(m->buf.data + m->buf.size, data, len);
	m->buf.size += len;
	m->buf.data[m->buf.size] = '\0';
	return 0;
}

static int mem_sink_rewind(void *ctx)
{
	mem_sink *m = ctx;

	m->buf.size = 0;
	return 0;
}

/* Moves a mem_sink's bytes to out (an empty blob gets a 1-byte buffer). */
static int mem_sink_take(arca_buf *out, mem_sink *m)
{
	if (m->buf.data == NULL && (m->buf.data = calloc(1, 1)) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	*out = m->buf;
	m->buf.data = NULL;
	m->buf.size = 0;
	return 0;
}

/*
 * A later tier's blob larger than this is spilled, as it arrives, to an
 * unnamed temp file in the store's tmp/ directory: a hit of any size costs
 * about this much memory (plus the backend's own buffers), not the blob's
 * size. Smaller blobs, the common case, stay in memory.
 */
#define SPILL_MAX ((size_t)1 << 20)
/* Bytes read back from a spilled blob per sink call. */
#define SPILL_CHUNK ((size_t)256 << 10)

/*
 * A blob of a later tier as fetched: re-hashed as it arrived, in memory
 * up to SPILL_MAX (or always, when store is NULL: manifests, which are
 * parsed in memory anyway), else in a temp file (fd) that has no name, so
 * nothing is left behind whatever happens to the process, and that no
 * eviction or other process can touch.
 */
typedef struct fetched {
	mem_sink mem;        /* the bytes while they are in memory */
	int fd;              /* the temp file once spilled, else -1 */
	uint64_t size;       /* bytes received */
	arca__hasher *h;
	arca_store *store;   /* whose tmp/ to spill to; NULL: never spill */
} fetched;

#define FETCHED_INIT { { ARCA_BUF_INIT, 0 }, -1, 0, NULL, NULL }

static void fetched_free(fetched *f)
{
	arca_buf_free(&f->mem.buf);
	f->mem.cap = 0;
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	f->size = 0;
	arca__hasher_free(f->h);
	f->h = NULL;
}

/* An unnamed temp file in the store's tmp/ (same file system as blobs/,
 * so tier 0's put from it is a local copy): O_TMPFILE where the file
 * system has it, else a file unlinked as soon as it is made (a store
 * opened meanwhile may sweep it first: the fd still works). */
static int spill_open(int *fd_out, arca_store *store)
{
	char *dir = arca__path_join(arca_store_path(store), "tmp");
	char *path = NULL;
	int fd = -1, error = 0;

	*fd_out = -1;
	if (dir == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
#ifdef O_TMPFILE
	/* ARCA_NO_O_TMPFILE forces the fallback (as in fsutil.c). */
	if (getenv("ARCA_NO_O_TMPFILE") == NULL)
		fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
	if (fd < 0 && (error = arca__tmpfile(&fd, &path, dir, "fetch-",
			0)) == 0)
		(void)unlink(path);
	free(path);
	free(dir);
	*fd_out = fd;
	return error;
}

static int fetched_write(void *ctx, const void *data, size_t len)
{
	fetched *f = ctx;
	int error;

	if ((error = arca__hasher_update(f->h, data, len)) < 0)
		return error;
	f->size += len;
	if (f->fd < 0 && (f->store == NULL ||
	    f->mem.buf.size + len <= SPILL_MAX))
		return mem_sink_write(&f->mem, data, len);
	if (f->fd < 0) {
		if ((error = spill_open(&f->fd, f->store)) < 0 ||
		    (f->mem.buf.size > 0 && (error = arca__write_all(f->fd,
				f->mem.buf.data, f->mem.buf.size,
				"a fetched blob's temp file")) < 0))
			return error;
		arca_buf_free(&f->mem.buf);
		f->mem.cap = 0;
	}
	return arca__write_all(f->fd, data, len, "a fetched blob's temp file");
}

/*
 * Blob d from tier i, re-hashed here whatever the tier did: wrong bytes
 * are ARCA_ECORRUPT (and nothing is kept). With spill, a blob over
 * SPILL_MAX goes to a temp file as it arrives (fetched); else all of it
 * is in memory. Counted in the tier's stats when count. out is always
 * left safe to fetched_free(), and empty on error.
 */
static int tier_fetch(fetched *out, arca_store *store, size_t i,
		const arca_digest *d, int count, int spill)
{
	tier *t = &store->tiers[i];
	arca_backend *b = tier_call(t);
	fetched init = FETCHED_INIT;
	arca_digest actual;
	int error;

	*out = init;
	out->store = spill ? store : NULL;
	if ((error = arca__hasher_new(&out->h)) == 0)
		error = b->blob_get(b, d, fetched_write, out);
	if (error == 0 && (error = arca__hasher_final(out->h,
			&actual)) == 0 && !arca_digest_equal(&actual, d))
		error = ARCA_ECORRUPT;
	if (error == 0 && i > 0)
		t->stats.bytes_down += out->size;
	if (count)
		count_lookup(t, error);
	if (error < 0)
		fetched_free(out);
	return error;
}

/* tier_fetch() into memory (a manifest). */
static int tier_fetch_mem(arca_buf *out, arca_store *store, size_t i,
		const arca_digest *d, int count)
{
	fetched f;
	int error = tier_fetch(&f, store, i, d, count, 0);

	out->data = NULL;
	out->size = 0;
	if (error == 0)
		error = mem_sink_take(out, &f.mem);
	fetched_free(&f);
	return error;
}

/* Store a fetched (verified) blob d in tier 0: blob_put from memory, or
 * blob_put_fd from its temp file, which tier 0 hashes again as it copies
 * (a file that changed is not stored under d). */
static int local_put_fetched(arca_store *store, const arca_digest *d,
		fetched *f)
{
	arca_backend *b0 = tier_call(&store->tiers[0]);
	arca_digest got;
	uint64_t n = 0;
	int error;

	if (f->fd < 0)
		return b0->blob_put(b0, NULL, f->mem.buf.data ?
				(const void *)f->mem.buf.data : "",
				f->mem.buf.size);
	if (b0->blob_put_fd == NULL)
		return arca__error(ARCA_ENOTSTORED, "tier 0 cannot store from "
				"a file");
	if (lseek(f->fd, 0, SEEK_SET) != 0)
		return arca__error_errno(errno, "cannot rewind",
				"a fetched blob's temp file");
	error = b0->blob_put_fd(b0, &got, &n, f->fd);
	if (error == 0 && (!arca_digest_equal(&got, d) || n != f->size))
		error = arca__error(ARCA_EIO, "a fetched blob's temp file "
				"changed before it was stored");
	return error;
}

/* Give a fetched blob's bytes to fn: at once from memory, else read back
 * from its temp file in SPILL_CHUNK pieces. */
static int fetched_send(fetched *f, arca_sink_fn fn, void *ctx)
{
	unsigned char *buf;
	uint64_t off = 0;
	int error = 0;

	if (f->fd < 0)
		return fn(ctx, f->mem.buf.data ? (const void *)f->mem.buf.data :
				"", f->mem.buf.size);
	if ((buf = malloc(SPILL_CHUNK)) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	while (off < f->size) {
		size_t want = f->size - off < SPILL_CHUNK ?
			(size_t)(f->size - off) : SPILL_CHUNK;
		ssize_t n = pread(f->fd, buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			error = n < 0 ? arca__error_errno(errno, "cannot read",
					"a fetched blob's temp file") :
				arca__error(ARCA_EIO, "a fetched blob's temp "
						"file shrank");
			break;
		}
		if ((error = fn(ctx, buf, (size_t)n)) < 0)
			break;
		off += (uint64_t)n;
	}
	free(buf);
	return error;
}

/* Copy a verified blob of tier i into tier 0 (errors ignored: the hit
 * stands without it). 1 when it was copied. */
static int promote_blob(arca_store *store, size_t i, const arca_digest *d,
		fetched *f)
{
	if (!store->tiers[i].opts.promote)
		return 0;
	return local_put_fetched(store, d, f) == 0;
}

/* Counts what reaches the caller's sink, to know whether tier 0's
 * failure left bytes there. */
typedef struct counting_sink {
	arca_sink_fn fn;
	void *ctx;
	uint64_t sent;
} counting_sink;

static int counting_write(void *ctx, const void *data, size_t len)
{
	counting_sink *c = ctx;

	c->sent += len;
	return c->fn(c->ctx, data, len);
}

/*
 * Stream blob d to fn from the first tier that has it. Tier 0 streams; a
 * later tier's blob is fetched (in memory, or spilled to a temp file when
 * large: tier_fetch), verified, promoted, then given to fn from that copy
 * (already verified, and out of eviction's reach), so fn never sees
 * wrong bytes from a later tier. Tier 0's miss or corrupt entry falls
 * through (after rewind, when tier 0 already sent bytes; without a
 * rewind it cannot); its other
 * errors (I/O, the sink's own) are returned. When no tier has the blob,
 * tier 0's result and message are returned.
 */
static int blob_get_tiered(arca_store *store, const arca_digest *d,
		arca_sink_fn fn, void *ctx, int (*rewind)(void *ctx), int note)
{
	tier *t0 = &store->tiers[0];
	arca_backend *b0 = tier_call(t0);
	counting_sink cs = { fn, ctx, 0 };
	fetched f = FETCHED_INIT;
	char msg[1024];
	size_t i;
	int first, error;

	error = first = b0->blob_get(b0, d, counting_write, &cs);
	count_lookup(t0, first);
	if (first == 0) {
		/* Last access is the local store's own (local.h). */
		if (note)
			(void)arca__access_note_blob(store->local, d);
		goto cleanup;
	}
	if (store->n_tiers == 1 ||
	    (first != ARCA_ENOTFOUND && first != ARCA_ECORRUPT) ||
	    (cs.sent > 0 && (rewind == NULL || rewind(ctx) < 0)))
		goto cleanup;
	snprintf(msg, sizeof(msg), "%s", arca_errmsg());
	for (i = 1; i < store->n_tiers; i++) {
		if (tier_fetch(&f, store, i, d, 1, 1) < 0)
			continue;
		if (promote_blob(store, i, d, &f))
			store->tiers[i].stats.promoted++;
		arca__error_clear();
		error = fetched_send(&f, fn, ctx);
		goto cleanup;
	}
	error = arca__error(first, "%s", msg);
cleanup:
	fetched_free(&f);
	return error;
}

/* Blob d of tier 0 only, into memory (the action cache's own reads). */
static int local_get_mem(arca_buf *out, arca_store *store,
		const arca_digest *d)
{
	arca_backend *b0 = tier_call(&store->tiers[0]);
	mem_sink m = { ARCA_BUF_INIT, 0 };
	int error;

	out->data = NULL;
	out->size = 0;
	/* No size query first: an inline blob arrives in one sink call, sized
	 * exactly, and a second index lookup would double the cost of small
	 * reads. */
	if ((error = b0->blob_get(b0, d, mem_sink_write, &m)) == 0)
		error = mem_sink_take(out, &m);
	arca_buf_free(&m.buf);
	return error;
}

/* ---- writing through the tiers --------------------------------------- */

/* Write one blob to tier i (not 0), unless over its max_blob_size. */
static int tier_put_bytes(arca_store *store, size_t i, const arca_digest *d,
		const void *data, size_t len)
{
	tier *t = &store->tiers[i];
	arca_digest got;
	int error;

	if ((t->opts.max_blob_size > 0 && len > t->opts.max_blob_size) ||
	    t->backend->blob_put == NULL) {
		error = ARCA_ENOTSTORED;
	} else {
		arca_backend *b = tier_call(t);

		error = b->blob_put(b, &got, data, len);
		/* A backend that names the bytes otherwise stored something
		 * else: an error of that tier. */
		if (error == 0 && !arca_digest_equal(&got, d))
			error = ARCA_EIO;
		if (error == 0)
			t->stats.bytes_up += len;
	}
	count_put(t, error);
	return error;
}

/* Write blob d, which tier 0 holds as a file open at fd (size bytes), to
 * tier i (not 0, which has blob_put_fd), unless over its max_blob_size. */
static int tier_put_fd(arca_store *store, size_t i, const arca_digest *d,
		int fd, uint64_t size)
{
	tier *t = &store->tiers[i];
	arca_digest got;
	uint64_t n = 0;
	int error;

	if (t->opts.max_blob_size > 0 && size > t->opts.max_blob_size) {
		error = ARCA_ENOTSTORED;
	} else {
		arca_backend *b = tier_call(t);

		/* The tier names what it read: a file that does not hash to
		 * d (damaged on disk) is an error, never stored as d. */
		error = b->blob_put_fd(b, &got, &n, fd);
		if (error == 0 && !arca_digest_equal(&got, d))
			error = ARCA_EIO;
		if (error == 0)
			t->stats.bytes_up += n;
	}
	count_put(t, error);
	return error;
}

/*
 * Write blob d, which tier 0 holds, to tier i (not 0): a blob tier 0
 * keeps as a file goes from that file through the tier's blob_put_fd, so
 * memory stays bounded whatever its size; an inline blob, or any blob
 * for a tier without blob_put_fd, is read into memory (tier_put_bytes).
 * *sent: the blob's size. Counted in the tier's stats, except when tier 0
 * cannot read the blob (*local_failed set, the error returned).
 */
static int tier_put_local(arca_store *store, size_t i, const arca_digest *d,
		uint64_t *sent, int *local_failed)
{
	tier *t = &store->tiers[i];
	arca_buf buf = ARCA_BUF_INIT;
	struct stat st;
	int fd = -1, error;

	*sent = 0;
	*local_failed = 0;
	if (t->backend->blob_put_fd != NULL &&
	    arca__local_open_blob_file(store->local, d, &fd) == 0) {
		if (fstat(fd, &st) != 0) {
			error = arca__error_errno(errno, "cannot stat",
					"a blob file");
			*local_failed = 1;
		} else {
			*sent = (uint64_t)st.st_size;
			error = tier_put_fd(store, i, d, fd, *sent);
		}
		close(fd);
		return error;
	}
	if ((error = local_get_mem(&buf, store, d)) < 0) {
		*local_failed = 1;
		return error;
	}
	*sent = buf.size;
	error = tier_put_bytes(store, i, d, buf.data, buf.size);
	arca_buf_free(&buf);
	return error;
}

/* Write-through of a blob tier 0 now holds; data NULL: from tier 0 (its
 * file, or memory: tier_put_local) to each tier that takes a blob of
 * this size. */
static void write_through_blob(arca_store *store, const arca_digest *d,
		const void *data, uint64_t len)
{
	size_t i;

	for (i = 1; i < store->n_tiers; i++) {
		tier *t = &store->tiers[i];

		if (t->opts.read_only)
			continue;
		if (t->opts.max_blob_size > 0 && len > t->opts.max_blob_size) {
			count_put(t, ARCA_ENOTSTORED);
			continue;
		}
		if (data == NULL) {
			uint64_t sent;
			int local_failed;

			if (tier_put_local(store, i, d, &sent,
					&local_failed) < 0 && local_failed)
				count_put(t, ARCA_EIO);
			continue;
		}
		(void)tier_put_bytes(store, i, d, data, (size_t)len);
	}
	/* Later tiers' failures are counted, not reported. */
	arca__error_clear();
}

/* ---- blobs ------------------------------------------------------------ */

int arca_blob_put(arca_digest *out, arca_store *store,
		const void *data, size_t len)
{
	arca_backend *b0 = tier_call(&store->tiers[0]);
	arca_digest d;
	int error = b0->blob_put(b0, &d, data, len);

	count_put(&store->tiers[0], error);
	if (error < 0)
		return error;
	if (out)
		*out = d;
	if (has_writable_tier(store))
		write_through_blob(store, &d, len ? data : "", len);
	arca__store_evict_auto(store);
	return 0;
}

int arca_blob_put_file(arca_digest *out, uint64_t *size_out,
		arca_store *store, const char *path)
{
	arca_backend *b0 = tier_call(&store->tiers[0]);
	struct stat st;
	arca_digest d;
	uint64_t size = 0;
	int fd, error;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return arca__error_errno(errno, "cannot open", path);
	if (fstat(fd, &st) != 0) {
		error = arca__error_errno(errno, "cannot stat", path);
	} else if (!S_ISREG(st.st_mode)) {
		error = arca__error(ARCA_EINVAL, "%s: not a regular file", path);
	} else if (b0->blob_put_fd == NULL) {
		error = arca__error(ARCA_EINVAL, "%s: tier 0 cannot store "
				"from a file", path);
	} else {
		error = b0->blob_put_fd(b0, &d, &size, fd);
		count_put(&store->tiers[0], error);
	}
	close(fd);
	if (error < 0)
		return error;
	if (out)
		*out = d;
	if (size_out)
		*size_out = size;
	if (has_writable_tier(store))
		write_through_blob(store, &d, NULL, size);
	arca__store_evict_auto(store);
	return 0;
}

void arca__store_blob_stored(arca_store *store, const arca_digest *d,
		uint64_t size, int error)
{
	count_put(&store->tiers[0], error);
	if (error < 0)
		return;
	if (has_writable_tier(store))
		write_through_blob(store, d, NULL, size);
	arca__store_evict_auto(store);
}

int arca_blob_get(arca_buf *out, arca_store *store, const arca_digest *digest)
{
	mem_sink m = { ARCA_BUF_INIT, 0 };
	int error;

	out->data = NULL;
	out->size = 0;
	error = blob_get_tiered(store, digest, mem_sink_write, &m,
			mem_sink_rewind, 1);
	if (error == 0)
		error = mem_sink_take(out, &m);
	arca_buf_free(&m.buf);
	return error;
}

typedef struct fd_sink {
	int fd;
	const char *what;
} fd_sink;

static int fd_sink_write(void *ctx, const void *data, size_t len)
{
	fd_sink *f = ctx;

	return arca__write_all(f->fd, data, len, f->what);
}

/* A temp file that received part of a corrupt blob starts over. */
static int fd_sink_rewind(void *ctx)
{
	fd_sink *f = ctx;

	if (ftruncate(f->fd, 0) != 0 || lseek(f->fd, 0, SEEK_SET) != 0)
		return -1;
	return 0;
}

int arca__blob_get_fd(arca_store *store, const arca_digest *digest,
		int fd, const char *what)
{
	fd_sink sink = { fd, what };

	/* Not noted as a use of the blob: a restore is part of its action's
	 * hit, which moves only the action in the LRU (evict.c). */
	return blob_get_tiered(store, digest, fd_sink_write, &sink,
			fd_sink_rewind, 0);
}

/* The words of a demanded link mode that cannot be done here. */
static int link_refused(const char *what, arca_link_mode mode, int err)
{
	const char *why;

	switch (err) {
	case EXDEV:
		why = mode == ARCA_LINK_HARDLINK ? "the store is on another "
			"file system" : "the store is on another file system, "
			"and clones stay within one";
		break;
	case EMLINK:
		why = "the store's file has too many links already";
		break;
	default:
		why = strerror(err);
	}
	return arca__error(ARCA_EINVAL, "output '%s': link %s: not possible "
			"here (%s); use link: copy or auto", what,
			arca_link_mode_name(mode), why);
}

/* FICLONE's answers for "these files cannot share extents". */
static int no_reflink(int err)
{
	return err == EOPNOTSUPP || err == EXDEV || err == EINVAL ||
		err == ENOTTY || err == ENOSYS || err == EBADF ||
		err == ETXTBSY || err == EPERM;
}

/*
 * link: copy of a file blob, run while the blob is verified so that a
 * restore costs the slower of the hash and the copy, not their sum. The
 * thread works on descriptors of its own (dups), so that neither a
 * failed verification closing the blob's nor a discarded temp file
 * pulls one from under it; its copy is used only once the blob proved
 * intact and the thread is joined.
 */
typedef struct copy_job {
	int dst, src;          /* dups, closed by the thread */
	uint64_t size;
	int err;               /* errno of a failed copy, else 0 */
	int started, done;
	pthread_t thread;
} copy_job;

static void *copy_main(void *arg)
{
	copy_job *j = arg;

	j->err = arca__copy_fd(j->dst, j->src, j->size) < 0 ? errno : 0;
	close(j->dst);
	close(j->src);
	return NULL;
}

typedef struct copy_start {
	int dst;               /* the temp file */
	copy_job *job;
} copy_start;

/* arca__local_blob_get_file()'s opened callback. A job that cannot be
 * started leaves the copy to after the verification. */
static void copy_begin(void *ctx, int fd)
{
	copy_start *cs = ctx;
	copy_job *j = cs->job;
	struct stat st;

	if (j->started || fstat(fd, &st) != 0)
		return;
	j->size = (uint64_t)st.st_size;
	j->err = 0;
	if ((j->src = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return;
	if ((j->dst = fcntl(cs->dst, F_DUPFD_CLOEXEC, 0)) < 0) {
		close(j->src);
		return;
	}
	if (pthread_create(&j->thread, NULL, copy_main, j) != 0) {
		close(j->src);
		close(j->dst);
		return;
	}
	j->started = 1;
}

static void copy_join(copy_job *j)
{
	if (j->started && !j->done) {
		(void)pthread_join(j->thread, NULL);
		j->done = 1;
	}
}

int arca__blob_materialise(arca__materialised *out, arca_store *store,
		const arca_digest *d, arca__pubfile *pf, const char *path,
		const char *note_dir, arca_link_mode mode, const char *what)
{
	char bpath[PATH_MAX], *target = NULL;
	char msg[1024];
	fd_sink sink;
	struct stat bst;
	copy_job job;
	copy_start cs;
	int bfd = -1, error;

	out->used = ARCA_LINK_COPY;
	out->note = "";
	out->blob_fd = -1;
	if (mode == ARCA_LINK_DEFAULT) {
		arca_options so;

		mode = arca_store_get_options(&so, store) == 0 ?
			(arca_link_mode)so.link : ARCA_LINK_AUTO;
		if (mode == ARCA_LINK_DEFAULT)
			mode = ARCA_LINK_AUTO;
	}
	if (arca__pubfile_open(pf, path, note_dir) < 0)
		return arca__error(arca__errno_code(errno), "output '%s': "
				"cannot create a temporary file next to it: %s",
				what, strerror(errno));
	sink.fd = pf->fd;
	sink.what = what;
	memset(&job, 0, sizeof(job));
	cs.dst = pf->fd;
	cs.job = &job;
	/* Verified first, whatever the mode: nothing reaches the output
	 * (or links to the store's file) unless its bytes are d's. A copy
	 * runs while the hash does; it is published only if they agree. */
	error = arca__local_blob_get_file(store->local, d, fd_sink_write,
			&sink, &bfd, bpath, mode == ARCA_LINK_COPY &&
			getenv("ARCA_SERIAL_COPY") == NULL ? copy_begin : NULL,
			&cs);
	copy_join(&job);
	count_lookup(&store->tiers[0], error);
	if (error == ARCA_ENOTFOUND || error == ARCA_ECORRUPT) {
		int local = error;

		if (store->n_tiers == 1 || fd_sink_rewind(&sink) < 0)
			return error;
		snprintf(msg, sizeof(msg), "%s", arca_errmsg());
		/* Through the tiers: tier 0 misses again, a remote tier may
		 * have it (and it is promoted). Written, as ever. */
		error = blob_get_tiered(store, d, fd_sink_write, &sink,
				fd_sink_rewind, 0);
		if (error == ARCA_ENOTFOUND && local == ARCA_ECORRUPT)
			return arca__error(ARCA_ECORRUPT, "%s", msg);
		if (error == 0)
			out->note = " (from a remote tier)";
		return error;
	}
	if (error < 0)
		return error;
	if (bfd < 0) {
		out->note = " (inline blob)";
		return 0;
	}
	out->blob_fd = bfd;
	if (fstat(bfd, &bst) != 0)
		return arca__error_errno(errno, "cannot stat blob", bpath);

	switch (mode) {
	case ARCA_LINK_AUTO:
	case ARCA_LINK_REFLINK:
		if (getenv("ARCA_NO_REFLINK") == NULL &&
		    arca__reflink(pf->fd, bfd) == 0) {
			out->used = ARCA_LINK_REFLINK;
			return 0;
		}
		if (getenv("ARCA_NO_REFLINK") != NULL)
			errno = EOPNOTSUPP;
		if (!no_reflink(errno))
			return arca__error(arca__errno_code(errno), "output '%s': "
					"cannot clone %s: %s", what, bpath,
					strerror(errno));
		if (mode == ARCA_LINK_REFLINK)
			return link_refused(what, mode, errno);
		out->note = " (reflink not supported here)";
		/* fall through */
	case ARCA_LINK_COPY:
		if (job.started && job.size == (uint64_t)bst.st_size &&
		    job.err == 0) {
			out->used = ARCA_LINK_COPY;
			return 0;
		}
		/* Not started, or failed: once more, in this thread (a
		 * failure says so). */
		if (job.started && ftruncate(pf->fd, 0) != 0)
			return arca__error_errno(errno, "cannot truncate", what);
		if (arca__copy_fd(pf->fd, bfd, (uint64_t)bst.st_size) < 0)
			return arca__error(arca__errno_code(errno), "output '%s': "
					"cannot copy %s: %s", what, bpath,
					strerror(errno));
		out->used = ARCA_LINK_COPY;
		return 0;
	case ARCA_LINK_HARDLINK:
	case ARCA_LINK_SYMLINK:
		break;
	default:
		return arca__error(ARCA_EINVAL, "output '%s': link mode %u is "
				"not one of arca_link_mode's", what,
				(unsigned int)mode);
	}
	arca__pubfile_discard(pf);
	if (mode == ARCA_LINK_SYMLINK &&
	    (target = realpath(bpath, NULL)) == NULL)
		return arca__error_errno(errno, "cannot resolve blob", bpath);
	error = arca__pubfile_open_link(pf, target != NULL ? target : bpath,
			path, note_dir, mode == ARCA_LINK_SYMLINK);
	if (error < 0) {
		int err = errno;

		free(target);
		if (err == EXDEV || err == EPERM || err == EMLINK ||
		    err == EOPNOTSUPP || err == ENOSYS)
			return link_refused(what, mode, err);
		return arca__error(arca__errno_code(err), "output '%s': cannot "
				"link to %s: %s", what, bpath, strerror(err));
	}
	free(target);
	out->used = mode;
	return 0;
}

/* arca_blob_get_file() onto a character device or a FIFO (/dev/null,
 * /dev/stdout, a named pipe): written into, as a shell's redirection
 * does, never replaced. */
static int blob_get_into(arca_store *store, const arca_digest *digest,
		const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	int error;

	if (fd < 0)
		return arca__error_errno(errno, "cannot open", path);
	error = arca_blob_write_fd(store, digest, fd);
	if (close(fd) != 0 && error == 0)
		error = arca__error_errno(errno, "cannot write", path);
	return error;
}

int arca_blob_get_file(arca_store *store, const arca_digest *digest,
		const char *path, unsigned int mode)
{
	arca__pubfile pf = ARCA__PUBFILE_INIT;
	char *note_dir = NULL;
	struct stat st;
	int error;

	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))
			return blob_get_into(store, digest, path);
		return arca__error(ARCA_EINVAL, "%s: not a regular file%s",
				path, S_ISDIR(st.st_mode) ?
				" (a directory)" : "");
	}
	if ((note_dir = arca__path_join(arca_store_path(store), "tmp")) ==
			NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	/* Beside path so the rename stays on one file system; unnamed
	 * until then where the file system allows (arca__pubfile). */
	if (arca__pubfile_open(&pf, path, note_dir) < 0) {
		error = arca__error_errno(errno,
				"cannot create a temporary file next to", path);
		goto cleanup;
	}
	if ((error = arca__blob_get_fd(store, digest, pf.fd, path)) < 0)
		goto cleanup;
	if (fchmod(pf.fd, mode & 07777) != 0) {
		error = arca__error_errno(errno, "cannot chmod", path);
		goto cleanup;
	}
	if (arca__pubfile_publish(&pf, path) != 0) {
		error = arca__error_errno(errno, "cannot rename into", path);
		goto cleanup;
	}
	error = 0;
cleanup:
	arca__pubfile_discard(&pf);
	free(note_dir);
	return error;
}

int arca_blob_write_fd(arca_store *store, const arca_digest *digest, int fd)
{
	fd_sink sink = { fd, "output" };

	/* No rewind: bytes written to fd cannot be taken back. */
	return blob_get_tiered(store, digest, fd_sink_write, &sink, NULL, 0);
}

int arca_blob_stat(uint64_t *size_out, arca_store *store,
		const arca_digest *digest)
{
	arca_backend *b0 = tier_call(&store->tiers[0]);
	char msg[1024];
	size_t i;
	int first, error;

	/* Tier 0 is the local store, which has every method; optional ones
	 * are checked all the same. */
	if (b0->blob_stat == NULL)
		first = arca__error(ARCA_ENOTFOUND, "tier 0 cannot stat blobs");
	else
		first = b0->blob_stat(b0, digest, size_out);
	error = first;
	if (first != ARCA_ENOTFOUND || store->n_tiers == 1)
		goto cleanup;
	snprintf(msg, sizeof(msg), "%s", arca_errmsg());
	for (i = 1; i < store->n_tiers; i++) {
		tier *t = &store->tiers[i];
		arca_backend *b;

		if (t->backend->blob_stat == NULL)
			continue;
		b = tier_call(t);
		error = b->blob_stat(b, digest, size_out);
		count_lookup(t, error);
		if (error == 0) {
			arca__error_clear();
			goto cleanup;
		}
	}
	error = arca__error(first, "%s", msg);
cleanup:
	return error;
}

/* ---- the action cache ---------------------------------------------- */

/* The distinct blobs a manifest names, the manifest blob first when md
 * is given. */
static int manifest_blobs(arca_digest **out, size_t *n_out,
		const arca_manifest *m, const arca_digest *md)
{
	arca_digest *list;
	size_t i, j, n = 0;

	*out = NULL;
	*n_out = 0;
	list = malloc((m->n_outputs + 3) * sizeof(*list));
	if (list == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	if (md)
		list[n++] = *md;
	list[n++] = m->stdout_digest;
	list[n++] = m->stderr_digest;
	for (i = 0; i < m->n_outputs; i++)
		list[n++] = m->outputs[i].digest;
	for (i = 0, j = 0; i < n; i++) {
		size_t k;

		for (k = 0; k < j && !arca_digest_equal(&list[k], &list[i]); k++)
			;
		if (k == j)
			list[j++] = list[i];
	}
	*out = list;
	*n_out = j;
	return 0;
}

/* Flags which of digests tier i lacks: find_missing, else blob_stat,
 * else all of them. */
static int tier_find_missing(arca_store *store, size_t i,
		unsigned char *missing, const arca_digest *digests, size_t n)
{
	tier *t = &store->tiers[i];
	arca_backend *b = t->backend;
	size_t k;
	int error;

	/* tier_call() may answer for a tier its breaker skips: methods are
	 * taken from what it returns. */
	if (b->version >= 2 && b->find_missing != NULL) {
		b = tier_call(t);
		return b->find_missing(b, missing, digests, n);
	}
	for (k = 0; k < n; k++) {
		arca_backend *c;

		missing[k] = 1;
		if (b->blob_stat == NULL)
			continue;
		c = tier_call(t);
		error = c->blob_stat(c, &digests[k], NULL);
		if (error == 0)
			missing[k] = 0;
		else if (error != ARCA_ENOTFOUND)
			return error;
	}
	return 0;
}

/*
 * Write an action that tier 0 holds through to tier i: the blobs it names
 * that the tier lacks, then the entry. Not written (ARCA_ENOTSTORED) when
 * a blob could not be: an entry must never name blobs its tier lacks.
 */
static int write_through_action(arca_store *store, size_t i,
		const arca_manifest *m, const arca_digest *md,
		const arca_buf *json, const arca_put_options *opts)
{
	tier *t = &store->tiers[i];
	arca_digest *blobs = NULL;
	unsigned char *missing = NULL;
	uint64_t sent = 0;
	size_t n = 0, k;
	int error, local_failed;

	if ((error = manifest_blobs(&blobs, &n, m, md)) < 0)
		goto cleanup;
	if ((missing = calloc(n, 1)) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((error = tier_find_missing(store, i, missing, blobs, n)) < 0) {
		count_put(t, error);
		goto cleanup;
	}
	for (k = 0; k < n; k++) {
		if (!missing[k]) {
			if (store->xfer != NULL)
				store->xfer->blobs_present++;
			continue;
		}
		if (k == 0) {
			sent = json->size;
			error = tier_put_bytes(store, i, &blobs[k], json->data,
					json->size);
		} else {
			error = tier_put_local(store, i, &blobs[k], &sent,
					&local_failed);
		}
		if (error < 0) {
			error = ARCA_ENOTSTORED;
			count_put(t, error);
			goto cleanup;
		}
		if (store->xfer != NULL) {
			store->xfer->blobs++;
			store->xfer->bytes += sent;
		}
	}
	error = tier_ac_put(t, &m->key, md, m, opts);
	count_put(t, error);
	if (error == 0 && store->xfer != NULL)
		store->xfer->actions++;
cleanup:
	free(missing);
	free(blobs);
	return error;
}

static int action_put(arca_store *store, const arca_manifest *m,
		const arca_put_options *opts)
{
	tier *t0 = &store->tiers[0];
	arca_backend *b0;
	arca_buf json = ARCA_BUF_INIT;
	arca_digest manifest_digest;
	size_t i;
	int error;

	if (m == NULL)
		return arca__error(ARCA_EINVAL, "no manifest");
	if ((error = arca_manifest_to_json(&json, m)) < 0)
		return error;
	b0 = tier_call(t0);
	/* The manifest blob stays pinned until the entry naming it is
	 * committed. */
	arca__pin_hold(store->local);
	if ((error = b0->blob_put(b0, &manifest_digest, json.data,
			json.size)) < 0) {
		arca__pin_release(store->local);
		goto cleanup;
	}
	/* TTL and tags travel with the entry (ac_put2): the local tier
	 * commits them in the entry's own transaction. */
	error = tier_ac_put(t0, &m->key, &manifest_digest, m, opts);
	arca__pin_release(store->local);
	count_put(t0, error);
	if (error < 0)
		goto cleanup;
	for (i = 1; i < store->n_tiers; i++)
		if (!store->tiers[i].opts.read_only)
			(void)write_through_action(store, i, m,
					&manifest_digest, &json, opts);
	arca__error_clear();
	arca__store_evict_auto(store);
cleanup:
	arca_buf_free(&json);
	return error;
}

int arca_action_put(arca_store *store, const arca_manifest *m)
{
	return action_put(store, m, NULL);
}

int arca_action_put_ex(arca_store *store, const arca_manifest *m,
		const arca_put_options *opts)
{
	size_t i;

	if (opts != NULL && opts->version != ARCA_PUT_OPTIONS_VERSION)
		return arca__error(ARCA_EINVAL, "arca_put_options version %u is "
				"not supported (expected %u)", opts->version,
				ARCA_PUT_OPTIONS_VERSION);
	for (i = 0; opts != NULL && i < opts->n_tags; i++)
		if (opts->tags == NULL || opts->tags[i] == NULL ||
		    opts->tags[i][0] == '\0')
			return arca__error(ARCA_EINVAL, "empty tag");
	if (opts != NULL && opts->ttl_s == 0 && opts->n_tags == 0)
		opts = NULL;
	return action_put(store, m, opts);
}

/* Every blob the manifest names is present in tier 0 (not re-hashed
 * here). */
static int check_references(arca_store *store, const arca_manifest *m,
		const arca_digest **missing)
{
	tier *t0 = &store->tiers[0];
	size_t i;

	if (t0->backend->blob_stat == NULL)
		return 0;
	*missing = &m->stdout_digest;
	if (t0->backend->blob_stat(tier_call(t0), *missing, NULL) < 0)
		return ARCA_ENOTFOUND;
	*missing = &m->stderr_digest;
	if (t0->backend->blob_stat(tier_call(t0), *missing, NULL) < 0)
		return ARCA_ENOTFOUND;
	for (i = 0; i < m->n_outputs; i++) {
		*missing = &m->outputs[i].digest;
		if (t0->backend->blob_stat(tier_call(t0), *missing, NULL) < 0)
			return ARCA_ENOTFOUND;
	}
	*missing = NULL;
	return 0;
}

/* The lookup in tier 0, which repairs what it finds broken. */
static int local_action_lookup(arca_manifest **out, arca_store *store,
		const arca_digest *key, int touch)
{
	char hex[ARCA_DIGEST_HEXLEN + 1], msg[512];
	arca_backend *b0 = tier_call(&store->tiers[0]);
	arca_buf json = ARCA_BUF_INIT;
	arca_manifest *m = NULL;
	const arca_digest *missing = NULL;
	arca_digest manifest_digest;
	int error;

	*out = NULL;
	arca_digest_to_hex(hex, key);
	if ((error = b0->ac_get(b0, key, &manifest_digest)) < 0)
		return error;
	/* A manifest is used with its action: the action's hit is noted. */
	error = local_get_mem(&json, store, &manifest_digest);
	if (error == ARCA_ECORRUPT || error == ARCA_ENOTFOUND) {
		/* The local tier has already dropped the entry with its
		 * manifest blob. arca__error() writes the buffer that
		 * arca_errmsg() returns: copy it first. */
		snprintf(msg, sizeof(msg), "%s", arca_errmsg());
		return arca__error(ARCA_ENOTFOUND, "action %s: manifest "
				"unusable (%s); treated as a miss", hex, msg);
	}
	if (error < 0)
		return error;
	error = arca_manifest_from_json(&m, (const char *)json.data, json.size);
	if (error == 0 && !arca_digest_equal(&m->key, key))
		error = arca__error(ARCA_EINVAL, "manifest names another key");
	if (error == 0 && check_references(store, m, &missing) < 0) {
		char mhex[ARCA_DIGEST_HEXLEN + 1];

		arca_digest_to_hex(mhex, missing);
		arca__local_drop_blob(store->local, missing);
		error = arca__error(ARCA_ENOTFOUND, "action %s: blob %s is "
				"missing; treated as a miss", hex, mhex);
		goto cleanup;
	}
	if (error == ARCA_EINVAL &&
			arca__manifest_is_newer((const char *)json.data, json.size)) {
		error = arca__error(ARCA_ENOTFOUND, "action %s: manifest written "
				"by a newer arca; treated as a miss", hex);
		goto cleanup;
	}
	if (error == ARCA_EINVAL) {
		snprintf(msg, sizeof(msg), "%s", arca_errmsg());
		arca__local_drop_blob(store->local, &manifest_digest);
		error = arca__error(ARCA_ENOTFOUND, "action %s: bad manifest "
				"(%s); removed, treated as a miss", hex, msg);
		goto cleanup;
	}
	if (error < 0)
		goto cleanup;
	if (touch)
		arca__local_touch(store->local, key);
	*out = m;
	m = NULL;
cleanup:
	arca_manifest_free(m);
	arca_buf_free(&json);
	return error;
}

/* Action key -> manifest digest and bytes from tier i, verified. */
static int tier_manifest(arca_buf *json, arca_digest *md, arca_store *store,
		size_t i, const arca_digest *key)
{
	tier *t = &store->tiers[i];
	arca_backend *b = t->backend;
	arca_digest actual;
	int error;

	json->data = NULL;
	json->size = 0;
	if (b->version >= 2 && b->ac_get_manifest != NULL) {
		b = tier_call(t);
		error = b->ac_get_manifest(b, md, json, key);
		if (error == 0)
			t->stats.bytes_down += json->size;
		if (error == 0 && (error = arca_digest_buffer(&actual,
				json->data, json->size)) == 0 &&
		    !arca_digest_equal(&actual, md))
			error = ARCA_ECORRUPT;
		if (error < 0)
			arca_buf_free(json);
		return error;
	}
	b = tier_call(t);
	if ((error = b->ac_get(b, key, md)) < 0)
		return error;
	return tier_fetch_mem(json, store, i, md, 0);
}

/*
 * Copy a hit of tier i into tier 0: every blob it names, then the manifest
 * blob, then the entry. 0 when done; ARCA_ENOTFOUND (or the tier's error)
 * when one of its blobs cannot be had, making the hit unusable; a code of
 * tier 0 when tier 0 cannot take it (the hit stands).
 */
static int promote_action(arca_store *store, size_t i, const arca_manifest *m,
		const arca_digest *md, const arca_buf *json, int *local_failed)
{
	tier *t0 = &store->tiers[0];
	arca_digest *blobs = NULL;
	fetched f = FETCHED_INIT;
	size_t n = 0, k;
	int error;

	*local_failed = 0;
	/* What it copies stays pinned until the entry is committed. */
	arca__pin_hold(store->local);
	if ((error = manifest_blobs(&blobs, &n, m, NULL)) < 0)
		goto cleanup;
	for (k = 0; k < n; k++) {
		arca_backend *b0 = tier_call(t0);

		if (b0->blob_stat != NULL &&
		    b0->blob_stat(b0, &blobs[k], NULL) == 0) {
			if (store->xfer != NULL)
				store->xfer->blobs_present++;
			continue;
		}
		/* Large blobs through a temp file (tier_fetch). */
		if ((error = tier_fetch(&f, store, i, &blobs[k], 0, 1)) < 0)
			goto cleanup;
		error = local_put_fetched(store, &blobs[k], &f);
		if (error == 0 && store->xfer != NULL) {
			store->xfer->blobs++;
			store->xfer->bytes += f.size;
		}
		fetched_free(&f);
		if (error < 0) {
			*local_failed = 1;
			goto cleanup;
		}
	}
	{
		arca_backend *b0 = tier_call(t0);

		if ((error = b0->blob_put(b0, NULL, json->data,
				json->size)) < 0 ||
		    (error = tier_ac_put(t0, &m->key, md, m, NULL)) < 0) {
			*local_failed = 1;
			goto cleanup;
		}
		if (store->xfer != NULL) {
			store->xfer->blobs++;
			store->xfer->bytes += json->size;
			store->xfer->actions++;
		}
	}
cleanup:
	arca__pin_release(store->local);
	free(blobs);
	fetched_free(&f);
	return error;
}

/* Whether tier i holds every blob m names (when it can say). */
static int tier_has_blobs(arca_store *store, size_t i, const arca_manifest *m)
{
	arca_digest *blobs = NULL;
	unsigned char *missing = NULL;
	size_t n = 0, k;
	int error;

	if ((error = manifest_blobs(&blobs, &n, m, NULL)) < 0)
		return error;
	if ((missing = calloc(n, 1)) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((error = tier_find_missing(store, i, missing, blobs, n)) < 0)
		goto cleanup;
	/* Without find_missing or blob_stat nothing is known: a missing
	 * blob shows when it is read (and falls through then). */
	if (!(store->tiers[i].backend->version >= 2 &&
	      store->tiers[i].backend->find_missing != NULL) &&
	    store->tiers[i].backend->blob_stat == NULL)
		goto cleanup;
	for (k = 0; k < n; k++)
		if (missing[k]) {
			error = ARCA_ENOTFOUND;
			goto cleanup;
		}
cleanup:
	free(missing);
	free(blobs);
	return error;
}

/* A lookup of key in tier i (not 0): verified, promoted when the tier
 * says so. Counted once in the tier's stats. */
static int tier_action_lookup(arca_manifest **out, arca_store *store,
		size_t i, const arca_digest *key)
{
	tier *t = &store->tiers[i];
	arca_buf json = ARCA_BUF_INIT;
	arca_manifest *m = NULL;
	arca_digest md;
	int error, local_failed = 0;

	*out = NULL;
	if ((error = tier_manifest(&json, &md, store, i, key)) < 0)
		goto cleanup;
	error = arca_manifest_from_json(&m, (const char *)json.data, json.size);
	if (error == 0 && !arca_digest_equal(&m->key, key))
		error = ARCA_EINVAL;
	if (error == ARCA_EINVAL &&
	    arca__manifest_is_newer((const char *)json.data, json.size))
		error = ARCA_ENOTFOUND;
	if (error < 0)
		goto cleanup;
	if (t->opts.promote) {
		error = promote_action(store, i, m, &md, &json, &local_failed);
		if (error == 0)
			t->stats.promoted++;
		/* Tier 0 full or read-only: the hit is served from tier i. */
		if (local_failed)
			error = tier_has_blobs(store, i, m);
	} else {
		error = tier_has_blobs(store, i, m);
	}
	if (error < 0)
		goto cleanup;
	*out = m;
	m = NULL;
cleanup:
	count_lookup(t, error);
	arca_manifest_free(m);
	arca_buf_free(&json);
	return error;
}

static int action_lookup(arca_manifest **out, arca_store *store,
		const arca_digest *key, int touch)
{
	char msg[1024];
	size_t i;
	int error;

	error = local_action_lookup(out, store, key, touch);
	count_lookup(&store->tiers[0], error);
	if (error != ARCA_ENOTFOUND || store->n_tiers == 1)
		goto cleanup;
	snprintf(msg, sizeof(msg), "%s", arca_errmsg());
	for (i = 1; i < store->n_tiers; i++) {
		uint64_t before = store->tiers[i].stats.promoted;

		if ((error = tier_action_lookup(out, store, i, key)) == 0) {
			/* Promotion grew tier 0: keep it under its limit
			 * (whose failures do not fail the hit). */
			if (store->tiers[i].stats.promoted > before)
				(void)arca__store_evict_auto(store);
			arca__error_clear();
			goto cleanup;
		}
	}
	error = arca__error(ARCA_ENOTFOUND, "%s", msg);
cleanup:
	return error;
}

int arca_action_get(arca_manifest **out, arca_store *store,
		const arca_digest *key)
{
	return action_lookup(out, store, key, 1);
}

int arca_action_peek(arca_manifest **out, arca_store *store,
		const arca_digest *key)
{
	return action_lookup(out, store, key, 0);
}

int arca_action_remove(arca_store *store, const arca_digest *key)
{
	arca_backend *b0 = tier_call(&store->tiers[0]);
	char msg[1024];
	size_t i;
	int first, removed = 0, error;

	first = b0->ac_remove ? b0->ac_remove(b0, key) :
		arca__error(ARCA_ENOTFOUND, "tier 0 cannot remove actions");
	if (store->n_tiers == 1)
		goto cleanup;
	snprintf(msg, sizeof(msg), "%s", arca_errmsg());
	for (i = 1; i < store->n_tiers; i++) {
		tier *t = &store->tiers[i];
		arca_backend *b;

		if (t->opts.read_only || t->backend->ac_remove == NULL)
			continue;
		b = tier_call(t);
		error = b->ac_remove(b, key);
		if (error == 0)
			removed = 1;
		if (error == 0 || error == ARCA_ENOTFOUND)
			(void)op_end(t, error);
		else
			count_put(t, error);
	}
	if (first == ARCA_ENOTFOUND && removed)
		first = 0;
	if (first < 0)
		first = arca__error(first, "%s", msg);
	else
		arca__error_clear();
cleanup:
	return first;
}

int arca_action_resolve(arca_digest *out, arca_store *store,
		const char *prefix)
{
	return arca__local_resolve(store->local, out, prefix);
}

int arca_action_list(arca_store *store, const char *stage,
		arca_action_cb cb, void *ctx)
{
	/* Listings show this handle's own pending hits. */
	(void)arca__access_apply(store->local);
	return arca__local_list(store->local, stage, cb, ctx);
}

int arca_store_clear(uint64_t *n_removed, uint64_t *bytes_freed,
		arca_store *store, const arca_clear_filter *filter)
{
	int extra;

	if (filter == NULL)
		return arca__error(ARCA_EINVAL, "no clear filter");
	extra = (filter->tag != NULL) + (filter->older_than_s != 0) +
		(filter->key_prefix != NULL);
	if (extra > 0) {
		if (extra > 1 || filter->all || filter->stage || filter->input)
			return arca__error(ARCA_EINVAL, "clear takes exactly one "
					"of: all, a stage, an input, a tag, an "
					"age, a key prefix");
		return arca__lifecycle_clear(store->local, n_removed,
				bytes_freed, filter);
	}
	return arca__local_clear(store->local, n_removed, bytes_freed, filter);
}

/* ---- inspection ------------------------------------------------------ */

int arca_store_get_info(arca_store_info *out, arca_store *store)
{
	return arca__local_info(store->local, out);
}

int arca_stats_record(arca_store *store, const char *stage, arca_event event,
		uint64_t bytes, uint64_t saved_ms)
{
	return arca__local_stats_record(store->local, stage, event, bytes,
			saved_ms);
}

int arca_stats_list(arca_store *store, arca_stats_cb cb, void *ctx)
{
	return arca__local_stats_list(store->local, cb, ctx);
}

int arca_store_verify(uint64_t *n_checked, uint64_t *n_corrupt,
		arca_store *store, arca_verify_cb cb, void *ctx)
{
	return arca__local_verify(store->local, n_checked, n_corrupt, cb, ctx);
}

/* ---- remote tiers: inspection, push, pull, probe -------------------- */

void arca_url_redact(char *out, size_t size, const char *url)
{
	arca__url_redact(out, size, url);
}

size_t arca_store_remote_count(const arca_store *store)
{
	return store ? store->n_remotes : 0;
}

int arca_store_remote_info(arca_remote_info *out, arca_store *store,
		size_t i)
{
	arca__tier_state st;
	const arca_tier_stats *mine;
	remote *r;

	if (out == NULL || store == NULL || i >= store->n_remotes)
		return arca__error(ARCA_EINVAL, "no configured tier %zu (the "
				"store has %zu)", i, store ? store->n_remotes : 0);
	r = &store->remotes[i];
	memset(out, 0, sizeof(*out));
	out->url = r->shown;
	out->source = r->source;
	out->tier = r->tier;
	out->open_error = r->open_error;
	out->open_message = r->open_message ? r->open_message : "";
	out->opts = r->opts;
	arca__breaker_read(&st, r->breaker);
	out->breaker = st.breaker;
	out->failures = st.failures;
	out->opened_at = st.opened_at;
	out->totals = st.totals;
	mine = r->tier ? &store->tiers[r->tier].stats : &r->open_stats;
	out->totals.hits += mine->hits;
	out->totals.misses += mine->misses;
	out->totals.errors += mine->errors + (r->tier ? r->open_stats.errors : 0);
	out->totals.timeouts += mine->timeouts;
	out->totals.corrupt += mine->corrupt;
	out->totals.stored += mine->stored;
	out->totals.not_stored += mine->not_stored;
	out->totals.promoted += mine->promoted;
	out->totals.bytes_up += mine->bytes_up;
	out->totals.bytes_down += mine->bytes_down;
	out->totals.time_ms += mine->time_ms;
	out->totals.skipped += mine->skipped +
		(r->tier ? r->open_stats.skipped : 0);
	/* Openings are in the file as they happen. */
	out->totals.name = r->tier ? store->tiers[r->tier].stats.name : NULL;
	return 0;
}

/* The tier's URL (or backend name) for messages. */
static const char *tier_label(arca_store *store, size_t i)
{
	size_t k;

	for (k = 0; k < store->n_remotes; k++)
		if (store->remotes[k].tier == i)
			return store->remotes[k].shown;
	return store->tiers[i].backend->name ? store->tiers[i].backend->name :
		"(unnamed)";
}

int arca_tier_push(arca_transfer *out, arca_store *store, size_t tier_index,
		const arca_digest *key)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];
	arca_transfer scratch = { 0, 0, 0, 0, 0 };
	arca_backend *b0;
	arca_manifest *m = NULL;
	arca_buf json = ARCA_BUF_INIT;
	arca_digest md;
	int error;

	arca__error_clear();
	if (store == NULL || key == NULL || tier_index == 0 ||
	    tier_index >= store->n_tiers)
		return arca__error(ARCA_EINVAL, "push: no tier %zu (the store "
				"has %zu)", tier_index, store ? store->n_tiers : 0);
	if (store->tiers[tier_index].opts.read_only)
		return arca__error(ARCA_EINVAL, "push: tier %s is read-only",
				tier_label(store, tier_index));
	arca_digest_to_hex(hex, key);
	if ((error = local_action_lookup(&m, store, key, 0)) < 0)
		goto cleanup;
	b0 = tier_call(&store->tiers[0]);
	if ((error = b0->ac_get(b0, key, &md)) < 0 ||
	    (error = local_get_mem(&json, store, &md)) < 0)
		goto cleanup;
	store->xfer = out ? out : &scratch;
	error = write_through_action(store, tier_index, m, &md, &json, NULL);
	store->xfer = NULL;
	if (error < 0) {
		arca__tier_state st;
		int open = 0;

		/* Read, not asked: asking could hand out the probe. */
		if (store->tiers[tier_index].breaker != NULL) {
			arca__breaker_read(&st, store->tiers[tier_index].breaker);
			open = st.breaker != ARCA_BREAKER_CLOSED;
		}
		error = arca__error(error, "push %s to tier %s: %s", hex,
				tier_label(store, tier_index),
				error == ARCA_EUNAVAILABLE && open ?
				"circuit breaker open" : arca_strerror(error));
	}
cleanup:
	arca_manifest_free(m);
	arca_buf_free(&json);
	return error;
}

int arca_tier_pull(arca_transfer *out, arca_store *store,
		const arca_digest *key)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];
	arca_transfer scratch = { 0, 0, 0, 0, 0 };
	arca_manifest *m = NULL;
	arca_options o;
	size_t i;
	int error;

	arca__error_clear();
	if (store == NULL || key == NULL)
		return arca__error(ARCA_EINVAL, "pull: no store or key");
	if (out == NULL)
		out = &scratch;
	arca_digest_to_hex(hex, key);
	if (local_action_lookup(&m, store, key, 0) == 0) {
		arca_manifest_free(m);
		out->actions_present++;
		arca__error_clear();
		return 0;
	}
	arca__error_clear();
	(void)arca_store_get_options(&o, store);
	if (o.read_only)
		return arca__error(ARCA_EPERM, "pull %s: the store is read-only",
				hex);
	for (i = 1; i < store->n_tiers; i++) {
		tier *t = &store->tiers[i];
		int promote = t->opts.promote;

		t->opts.promote = 1;
		store->xfer = out;
		error = tier_action_lookup(&m, store, i, key);
		store->xfer = NULL;
		t->opts.promote = promote;
		if (error < 0)
			continue;
		arca_manifest_free(m);
		m = NULL;
		/* The hit may have been served from the tier without being
		 * copied (tier 0 full): a pull must leave it local. */
		if ((error = local_action_lookup(&m, store, key, 0)) < 0)
			return arca__error(error, "pull %s from tier %s: tier 0 "
					"could not take it", hex,
					tier_label(store, i));
		arca_manifest_free(m);
		t->stats.promoted++;
		(void)arca__store_evict_auto(store);
		arca__error_clear();
		return 0;
	}
	return arca__error(ARCA_ENOTFOUND, "pull %s: no remote tier has it%s",
			hex, store->n_tiers == 1 ? " (no remote tier is open)" :
			"");
}

/* The probe's bytes: the same every time, so probes never accumulate. */
static const char probe_bytes[] = "arca remote test probe\n";

int arca_tier_test(arca_store *store, size_t tier_index,
		arca_tier_test_cb cb, void *ctx)
{
	arca_backend *b;
	tier *t;
	mem_sink m = { ARCA_BUF_INIT, 0 };
	arca_digest d, got, key;
	int64_t start;
	int error;

	if (store == NULL || tier_index == 0 || tier_index >= store->n_tiers)
		return arca__error(ARCA_EINVAL, "remote test: no tier %zu",
				tier_index);
	t = &store->tiers[tier_index];
	b = t->backend;
	if ((error = arca_digest_buffer(&d, probe_bytes,
			sizeof(probe_bytes) - 1)) < 0)
		return error;
#define DEADLINE() (b->version >= 2 ? (void)(b->deadline_ms = \
		t->opts.timeout_ms ? arca__mono_ms() + \
		(int64_t)t->opts.timeout_ms : 0) : (void)0)
	if (!t->opts.read_only) {
		start = arca__mono_ms();
		DEADLINE();
		error = b->blob_put(b, &got, probe_bytes,
				sizeof(probe_bytes) - 1);
		if (error == 0 && !arca_digest_equal(&got, &d))
			error = ARCA_EIO;
		if (cb)
			cb("put", error, (uint64_t)(arca__mono_ms() - start), ctx);
		if (error < 0)
			goto cleanup;
	}
	start = arca__mono_ms();
	DEADLINE();
	error = b->blob_get(b, &d, mem_sink_write, &m);
	if (error == 0 && (error = arca_digest_buffer(&got, m.buf.data,
			m.buf.size)) == 0 && !arca_digest_equal(&got, &d))
		error = ARCA_ECORRUPT;
	if (error == ARCA_ENOTFOUND && t->opts.read_only)
		error = 0; /* a read-only tier need not have it */
	if (cb)
		cb("get", error, (uint64_t)(arca__mono_ms() - start), ctx);
	if (error < 0)
		goto cleanup;
	if (!t->opts.read_only && b->ac_remove != NULL) {
		/* A key no action has: the round trip of a removal. */
		(void)arca_digest_buffer(&key, "arca remote test key", 20);
		start = arca__mono_ms();
		DEADLINE();
		error = b->ac_remove(b, &key);
		if (error == ARCA_ENOTFOUND)
			error = 0;
		if (cb)
			cb("delete", error, (uint64_t)(arca__mono_ms() - start),
					ctx);
	}
#undef DEADLINE
cleanup:
	arca_buf_free(&m.buf);
	if (error < 0)
		error = arca__error(error, "tier %s: remote test failed: %s",
				tier_label(store, tier_index),
				arca_strerror(error));
	return error;
}
