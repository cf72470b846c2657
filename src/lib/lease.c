/*
 * Leases (one computation per action key) and single-flight memoisation.
 *
 * A lease is leases/<hex key> locked with flock(2). flock locks belong to
 * an open file description, so two handles of one process conflict just as
 * two processes do, and the kernel drops the lock when the last descriptor
 * goes, that is when the holder exits or is SIGKILLed: no stale lease
 * survives its holder, so waiting is only ever for a live computation.
 *
 * The holder unlinks the lock file before unlocking it, so that leases/
 * does not fill up with one file per key ever computed. A waiter may have
 * opened the old file and get its lock after the unlink; it then holds a
 * lock on a file nobody else can find, so after every successful flock
 * the acquirer checks that the path still names the inode it locked, and
 * starts over when it does not.
 *
 * The descriptor is O_CLOEXEC: a command the holder forks and execs must
 * not inherit the lock (it would outlive a killed holder).
 */
#include "lease.h"

#include "internal.h"
#include "local_sql.h"

#include "arca/sys/redis.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LEASE_BACKOFF_MIN_MS 1
#define LEASE_BACKOFF_MAX_MS 50
/* The cross-host lease (Redis): its expiry (renewed every third of it
 * while its holder computes), and the pauses of a waiter, each followed
 * by a lookup (a Redis GET at least). */
#define XLEASE_TTL_MS 30000
#define XLEASE_TTL_MIN_MS 30
#define XLEASE_BACKOFF_MIN_MS 20
#define XLEASE_BACKOFF_MAX_MS 250

struct arca_lease {
	int fd;
	char *path;
};

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* leases/ and leases/<hex key> of the store, malloc'd. */
static int lease_paths(char **dir_out, char **path_out, arca_store *store,
		const arca_digest *key)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];
	const char *base = arca_store_path(store);

	*dir_out = NULL;
	*path_out = NULL;
	arca_digest_to_hex(hex, key);
	if (asprintf(dir_out, "%s/leases", base) < 0) {
		*dir_out = NULL;
		return arca__error(ARCA_ENOMEM, "out of memory");
	}
	if (asprintf(path_out, "%s/%s", *dir_out, hex) < 0) {
		*path_out = NULL;
		free(*dir_out);
		*dir_out = NULL;
		return arca__error(ARCA_ENOMEM, "out of memory");
	}
	return 0;
}

/* Open (creating) the lock file, creating leases/ the first time. */
static int open_lock_file(int *fd_out, const char *dir, const char *path)
{
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT) {
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			return arca__error_errno(errno, "cannot create", dir);
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	}
	if (fd < 0)
		return arca__error_errno(errno, "cannot open lease", path);
	*fd_out = fd;
	return 0;
}

/*
 * One attempt: 0 with *fd_out locked on the file path names; ARCA_EBUSY
 * when another holder has it; 1 when the file was replaced under us (try
 * again at once); another code on error.
 */
static int try_lock(int *fd_out, const char *dir, const char *path)
{
	struct stat fst, pst;
	int fd = -1, error;

	*fd_out = -1;
	if ((error = open_lock_file(&fd, dir, path)) < 0)
		return error;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int err = errno;

		close(fd);
		if (err == EWOULDBLOCK || err == EINTR)
			return ARCA_EBUSY;
		return arca__error_errno(err, "cannot lock lease", path);
	}
	if (fstat(fd, &fst) != 0) {
		error = arca__error_errno(errno, "cannot stat lease", path);
		close(fd);
		return error;
	}
	if (stat(path, &pst) != 0 || pst.st_dev != fst.st_dev ||
			pst.st_ino != fst.st_ino) {
		/* Released (unlinked) between our open and our flock. */
		close(fd);
		return 1;
	}
	*fd_out = fd;
	return 0;
}

/*
 * Take the lease: wait up to timeout_ms, or make one attempt when
 * try_once (ARCA_EBUSY then).
 */
static int lease_take(arca_lease **out, arca_store *store,
		const arca_digest *key, unsigned int timeout_ms, int try_once)
{
	char *dir = NULL, *path = NULL;
	arca_lease *lease = NULL;
	unsigned int pause_ms = LEASE_BACKOFF_MIN_MS;
	uint64_t start, elapsed;
	int fd = -1, error;

	*out = NULL;
	if (store == NULL || key == NULL)
		return arca__error(ARCA_EINVAL, "no store or key");
	if (timeout_ms == 0)
		timeout_ms = arca__store_local(store)->opts.lock_timeout_ms;
	if ((error = lease_paths(&dir, &path, store, key)) < 0)
		goto cleanup;
	start = monotonic_ms();
	for (;;) {
		error = try_lock(&fd, dir, path);
		if (error == 1)
			continue;
		if (error != ARCA_EBUSY)
			break;
		if (try_once) {
			error = arca__error(ARCA_EBUSY, "lease %s is held by "
					"another process or handle", path);
			goto cleanup;
		}
		elapsed = monotonic_ms() - start;
		if (elapsed >= timeout_ms) {
			error = arca__error(ARCA_ETIMEOUT, "lease %s still held "
					"after %u ms", path, timeout_ms);
			goto cleanup;
		}
		if (pause_ms > timeout_ms - elapsed)
			pause_ms = (unsigned int)(timeout_ms - elapsed);
		sleep_ms(pause_ms);
		pause_ms *= 2;
		if (pause_ms > LEASE_BACKOFF_MAX_MS)
			pause_ms = LEASE_BACKOFF_MAX_MS;
	}
	if (error < 0)
		goto cleanup;
	if ((lease = calloc(1, sizeof(*lease))) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	lease->fd = fd;
	lease->path = path;
	fd = -1;
	path = NULL;
	*out = lease;
	error = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	free(path);
	free(dir);
	return error;
}

int arca_lease_acquire(arca_lease **out, arca_store *store,
		const arca_digest *key, unsigned int timeout_ms)
{
	return lease_take(out, store, key, timeout_ms, 0);
}

int arca_lease_try_acquire(arca_lease **out, arca_store *store,
		const arca_digest *key)
{
	return lease_take(out, store, key, 0, 1);
}

int arca_lease_is_held(arca_store *store, const arca_digest *key)
{
	char *dir = NULL, *path = NULL;
	int fd = -1, error;

	if ((error = lease_paths(&dir, &path, store, key)) < 0)
		return error;
	/* Never create the file: a free lease usually has none. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		error = errno == ENOENT ? 0 :
			arca__error_errno(errno, "cannot open lease", path);
		goto cleanup;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		flock(fd, LOCK_UN);
		error = 0;
	} else if (errno == EWOULDBLOCK) {
		error = 1;
	} else {
		error = arca__error_errno(errno, "cannot lock lease", path);
	}
cleanup:
	if (fd >= 0)
		close(fd);
	free(path);
	free(dir);
	return error;
}

void arca_lease_release(arca_lease *lease)
{
	if (lease == NULL)
		return;
	/* Unlink while still holding the lock: only the holder removes the
	 * file, so the path cannot name someone else's lock here. */
	(void)unlink(lease->path);
	close(lease->fd);
	free(lease->path);
	free(lease);
}

/* ---- probabilistic early recomputation ------------------------------- */

int arca__xfetch_due(int64_t now, int64_t expires, uint64_t duration_ms,
		double beta, double u)
{
	double delta = (double)duration_ms / 1000.0;

	if (!(beta > 0.0) || !(u > 0.0) || u > 1.0)
		return 0;
	/* -ln(u) >= 0: the gap grows with the computation's length. */
	return (double)now - delta * beta * log(u) >= (double)expires;
}

static double default_random(void)
{
	const char *env = getenv("ARCA_TEST_XFETCH_U");
	uint64_t r = 0;

	if (env != NULL && *env != '\0') {
		char *end = NULL;
		double u = strtod(env, &end);

		if (end != env && *end == '\0' && u > 0.0 && u <= 1.0)
			return u;
	}
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (uint64_t)monotonic_ms() * 0x9E3779B97F4A7C15ull;
	/* 53 random bits, shifted into (0, 1]. */
	return ((double)(r >> 11) + 1.0) / 9007199254740992.0;
}

double (*arca__xfetch_random)(void) = default_random;

/* 1 when the hit on key should be refreshed early (errors: 0). */
static int early_refresh_due(arca_store *store, const arca_digest *key,
		double beta)
{
	static const char sql[] =
		"SELECT expires, duration_ms FROM actions WHERE key = ?";
	arca__local *l = arca__store_local(store);
	sqlite3_stmt *st = NULL;
	int64_t expires;
	uint64_t duration_ms;
	int due = 0;

	if (!(beta > 0.0))
		return 0;
	if (arca__sql_prepare(l, &st, sql) < 0)
		return 0;
	if (arca__step_digest(st, key) == SQLITE_ROW &&
			sqlite3_column_type(st, 0) != SQLITE_NULL) {
		expires = (int64_t)sqlite3_column_int64(st, 0);
		duration_ms = (uint64_t)sqlite3_column_int64(st, 1);
		due = arca__xfetch_due(arca__now(), expires,
				duration_ms, beta, arca__xfetch_random());
	}
	sqlite3_finalize(st);
	return due;
}

/* ---- single-flight ------------------------------------------------------ */

/* Look key up as the flight says (max-age). */
static int flight_lookup(arca_manifest **out, arca_store *store,
		const arca_digest *key, const arca__flight *f)
{
	arca_get_options go = ARCA_GET_OPTIONS_INIT;

	go.max_age_s = f->max_age_s;
	return arca_action_get_ex(out, store, key, &go);
}

/* Call compute and store what it returns. *out is set whenever compute
 * gave a manifest for key, even if storing it failed. */
static int compute_and_store(arca_manifest **out, arca_store *store,
		const arca_digest *key, arca_compute_fn compute, void *ctx,
		const arca__flight *f)
{
	arca_put_options po = ARCA_PUT_OPTIONS_INIT;
	arca_manifest *m = NULL;
	int error;

	*out = NULL;
	/* The blobs compute puts stay pinned until its entry is committed
	 * (or given up): eviction may not take them meanwhile (pin.h). */
	arca__store_pin_hold(store);
	if ((error = compute(&m, ctx)) < 0) {
		arca_manifest_free(m);
		goto done;
	}
	if (m == NULL) {
		error = arca__error(ARCA_EINVAL, "the compute callback "
				"returned no manifest");
		goto done;
	}
	if (!arca_digest_equal(&m->key, key)) {
		arca_manifest_free(m);
		error = arca__error(ARCA_EINVAL, "the compute callback "
				"returned the manifest of another action key");
		goto done;
	}
	po.ttl_s = f->ttl_s;
	po.tags = f->tags;
	po.n_tags = f->n_tags;
	error = arca_action_put_ex(store, m, &po);
	*out = m;
done:
	arca__store_pin_release(store);
	return error;
}

/*
 * A lookup that failed: with lookup_errors_ok, report it and go on as a
 * miss (0); else return the error.
 */
static int flight_lookup_failed(const arca__flight *f, int error)
{
	if (!f->lookup_errors_ok)
		return error;
	if (f->on_lookup_error != NULL)
		f->on_lookup_error(f->hook_ctx, error);
	return 0;
}

/* ---- the cross-host lease ------------------------------------------------ */

static pthread_once_t xlease_ttl_once = PTHREAD_ONCE_INIT;
static uint64_t xlease_ttl;

static void xlease_ttl_read(void)
{
	/* ARCA_TEST_XLEASE_TTL_MS is for tests only
	 * (tests/cli/test_remote_lease_renew.sh): a TTL short enough that
	 * renewals and an expiry happen within a second or two instead of
	 * 30 s. Read once per process; not documented for users. */
	const char *env = getenv("ARCA_TEST_XLEASE_TTL_MS");
	char *end = NULL;
	unsigned long long v;

	xlease_ttl = XLEASE_TTL_MS;
	if (env == NULL || *env == '\0')
		return;
	errno = 0;
	v = strtoull(env, &end, 10);
	if (errno == 0 && *end == '\0' && v >= XLEASE_TTL_MIN_MS &&
	    v <= 10ull * XLEASE_TTL_MS)
		xlease_ttl = v;
}

static uint64_t xlease_ttl_ms(void)
{
	(void)pthread_once(&xlease_ttl_once, xlease_ttl_read);
	return xlease_ttl;
}

/*
 * The renewal of a held cross-host lease: while the holder computes, a
 * thread renews it every third of its TTL (arca_redis_lease_renew(), a
 * compare-and-PEXPIRE), so that a computation of any length keeps it and
 * a holder that dies (its thread with it) loses it one TTL later.
 *
 * A store handle is used by one thread and a hiredis context is not
 * thread-safe, so the thread has a backend of its own on the lease's
 * tier (arca__store_lease_dup(): its own connection, made at the first
 * renewal) and touches nothing of the store: not the tier's breaker nor
 * its counters. It does not log either: arca_set_log()'s callback is
 * only ever called on the caller's threads, so what it found is told by
 * the holder after the join (renew_stop()). Its error messages go to its
 * own arca_errmsg() buffer, which is thread-local (error.c). It starts
 * with every signal blocked, so that signals meant for the process
 * (SIGINT, SIGTERM, SIGCHLD) reach the caller's threads as before.
 *
 * The holder wakes it at once through a condition variable (on
 * CLOCK_MONOTONIC: a wall-clock step neither hurries nor delays a
 * renewal) and joins it before releasing the lease, so a renewal never
 * follows the release. Each renewal is bounded by the renewal period
 * (and the tier's timeout), and so is the join.
 */
typedef struct renewer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int running;              /* the thread was started */
	int stop;                 /* under mu: the holder is done */
	arca_backend *b;          /* the thread's own */
	arca_digest key;
	char token[ARCA_REDIS_LEASE_TOKEN_SIZE];
	uint64_t ttl_ms, every_ms, taken_at;
	/* The thread's findings, read by the holder after the join. */
	int lost;                 /* not held by token any more */
	uint64_t lost_after_ms;   /* since the lease was taken */
	unsigned int renewed, failed;
	char failure[256];        /* the last failed renewal's message */
} renewer;

static void mono_timespec(struct timespec *ts, uint64_t ms)
{
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000L;
}

static void *renew_main(void *arg)
{
	renewer *r = arg;
	struct timespec at;
	uint64_t next, now;
	int rc;

	pthread_mutex_lock(&r->mu);
	next = monotonic_ms() + r->every_ms;
	while (!r->stop) {
		if ((now = monotonic_ms()) < next) {
			mono_timespec(&at, next);
			(void)pthread_cond_timedwait(&r->cv, &r->mu, &at);
			continue;
		}
		pthread_mutex_unlock(&r->mu);
		/* An answer later than the next renewal is as good as none. */
		r->b->deadline_ms = (int64_t)(now + r->every_ms);
		rc = arca_redis_lease_renew(r->b, &r->key, r->token,
				r->ttl_ms);
		pthread_mutex_lock(&r->mu);
		if (rc == ARCA_ENOTFOUND) {
			/* Expired (a renewal too late, Redis restarted) or
			 * taken by another since: renewing cannot get it
			 * back. The compute goes on; its result is the same
			 * whoever else computes it. */
			r->lost = 1;
			r->lost_after_ms = monotonic_ms() - r->taken_at;
			break;
		}
		if (rc == 0) {
			r->renewed++;
		} else {
			/* Unreachable or slow: try again next period; the
			 * lease lives until its expiry meanwhile. */
			r->failed++;
			snprintf(r->failure, sizeof(r->failure), "%s",
					arca_errmsg());
		}
		/* From the attempt's start: a slow answer does not push the
		 * next renewal towards the expiry. */
		next = now + r->every_ms;
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* Start renewing the lease token holds on key, taken at taken_at, with
 * a TTL of ttl_ms. Else (no thread) the lease expires after ttl_ms. */
static int renew_start(renewer *r, arca_store *store, const arca_digest *key,
		const char *token, uint64_t ttl_ms, uint64_t taken_at)
{
	pthread_condattr_t ca;
	sigset_t all, saved;
	int err, error;

	memset(r, 0, sizeof(*r));
	if ((error = arca__store_lease_dup(&r->b, store)) < 0)
		return error;
	r->key = *key;
	memcpy(r->token, token, sizeof(r->token));
	r->ttl_ms = ttl_ms;
	r->every_ms = ttl_ms / 3;
	r->taken_at = taken_at;
	if ((err = pthread_condattr_init(&ca)) != 0)
		goto fail;
	if ((err = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) != 0 ||
	    (err = pthread_cond_init(&r->cv, &ca)) != 0) {
		pthread_condattr_destroy(&ca);
		goto fail;
	}
	pthread_condattr_destroy(&ca);
	if ((err = pthread_mutex_init(&r->mu, NULL)) != 0) {
		pthread_cond_destroy(&r->cv);
		goto fail;
	}
	/* The thread inherits the mask: every signal blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	err = pthread_create(&r->thread, NULL, renew_main, r);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (err != 0) {
		pthread_mutex_destroy(&r->mu);
		pthread_cond_destroy(&r->cv);
		goto fail;
	}
	r->running = 1;
	return 0;
fail:
	r->b->free(r->b);
	r->b = NULL;
	return arca__error(arca__errno_code(err), "cannot start a thread to "
			"renew the cross-host lease: %s", strerror(err));
}

/* Stop renewing (at once: the holder is done) and say what the renewals
 * found, in one warning at most. */
static void renew_stop(renewer *r)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	if (!r->running)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	r->running = 0;
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	r->b->free(r->b);
	r->b = NULL;
	arca_digest_to_hex(hex, &r->key);
	if (r->lost)
		arca__log("cross-host lease of action %.16s: lost %llu ms "
				"after it was taken (expired or taken by "
				"another holder); not renewed since, so another "
				"host may have computed it too", hex,
				(unsigned long long)r->lost_after_ms);
	else if (r->failed > 0)
		arca__log("cross-host lease of action %.16s: %u of %u "
				"renewals failed (last: %s)", hex, r->failed,
				r->failed + r->renewed, r->failure);
}

/* How long a flight has waited for its leases, local and cross-host:
 * bounded as a whole by one lock timeout from its first wait (the
 * lookups before it are not waiting: a slow one must not shorten the
 * wait the caller asked for). */
typedef struct flight_wait {
	uint64_t start;          /* the first wait, CLOCK_MONOTONIC ms */
	uint64_t began;          /* the same (what on_timeout reports) */
	unsigned int timeout_ms;
	int waiting;             /* on_wait was called */
} flight_wait;

/* The first wait of a flight tells the caller once. */
static void wait_begin(flight_wait *w, const arca__flight *f)
{
	if (w->waiting)
		return;
	w->waiting = 1;
	w->began = w->start = monotonic_ms();
	if (f->on_wait != NULL)
		f->on_wait(f->hook_ctx);
}

/* The time left of the lock timeout, at least 1 ms (0 would mean the
 * store's timeout to arca_lease_acquire()). */
static unsigned int wait_left(const flight_wait *w)
{
	uint64_t elapsed = monotonic_ms() - w->start;

	return elapsed + 1 >= w->timeout_ms ? 1 :
		(unsigned int)(w->timeout_ms - elapsed);
}

/*
 * With the local lease held: take the cross-host lease of key on the
 * first writable Redis tier (store.c's arca__store_lease()), so that one
 * process of all the machines sharing it computes. 1 with token set when
 * taken (renew it while computing, release it after the commit); 0 when
 * the caller should compute without it (no Redis tier, Redis unreachable
 * or its breaker open, another holder that did not finish within the
 * lock timeout); 2 with *out set when the action turned up in the cache
 * while waiting (a holder elsewhere stored it).
 *
 * The wait shares the lock timeout with the wait for the local lease
 * before it: both together end at most lock_timeout_ms after the
 * flight's first wait (w), not one timeout each.
 *
 * The lease's TTL (XLEASE_TTL_MS) is renewed every third of it while the
 * holder computes (renew_start()), so a long computation keeps it; the
 * TTL bounds what a dead holder costs the others, since its renewals die
 * with it. A holder whose renewals fail until the lease expires, or that
 * loses it otherwise (Redis restarted), computes on: a waiter may then
 * compute too, which is wasted work, never a wrong result (the entry is
 * content-addressed).
 */
static int xlease_take(arca_manifest **out, char *token, uint64_t *taken_at,
		arca_store *store, const arca_digest *key, const arca__flight *f,
		flight_wait *w)
{
	unsigned int pause_ms = XLEASE_BACKOFF_MIN_MS;
	uint64_t elapsed;
	int error;

	*out = NULL;
	if (arca_redis_lease_token(token) < 0)
		return 0;
	for (;;) {
		*taken_at = monotonic_ms();
		error = arca__store_lease(store, ARCA__LEASE_ACQUIRE, key,
				token, xlease_ttl_ms());
		if (error == 0)
			return 1;
		if (error != ARCA_EBUSY)
			return 0;
		wait_begin(w, f);
		elapsed = monotonic_ms() - w->start;
		if (elapsed >= w->timeout_ms) {
			if (f->on_timeout != NULL)
				f->on_timeout(f->hook_ctx,
						monotonic_ms() - w->began);
			return 0;
		}
		if (pause_ms > w->timeout_ms - elapsed)
			pause_ms = (unsigned int)(w->timeout_ms - elapsed);
		sleep_ms(pause_ms);
		pause_ms *= 2;
		if (pause_ms > XLEASE_BACKOFF_MAX_MS)
			pause_ms = XLEASE_BACKOFF_MAX_MS;
		/* The holder stores the result in the shared tier before it
		 * lets the lease go: a hit restores from it. */
		if (!f->refresh && flight_lookup(out, store, key, f) == 0)
			return 2;
	}
}

int arca__single_flight(arca_manifest **out, int *computed,
		arca_store *store, const arca_digest *key,
		arca_compute_fn compute, void *ctx, const arca__flight *f)
{
	arca_manifest *m = NULL, *fresh = NULL;
	arca_lease *lease = NULL;
	char token[ARCA_REDIS_LEASE_TOKEN_SIZE];
	flight_wait w;
	renewer rn;
	uint64_t taken_at = 0;
	int xheld = 0;
	int error;

	*out = NULL;
	if (computed != NULL)
		*computed = 0;
	memset(&rn, 0, sizeof(rn));
	if (store == NULL || key == NULL || compute == NULL || f == NULL)
		return arca__error(ARCA_EINVAL, "no store, key or callback");
	memset(&w, 0, sizeof(w));
	w.start = monotonic_ms();
	w.timeout_ms = f->lock_timeout_ms ? f->lock_timeout_ms :
		arca__store_local(store)->opts.lock_timeout_ms;

	if (!f->refresh) {
		error = flight_lookup(&m, store, key, f);
		if (error == 0) {
			if (!early_refresh_due(store, key, f->early_beta))
				goto done;
			/* Refresh early only if nobody else is: a crowd keeps
			 * using the current entry meanwhile. */
			if (arca_lease_try_acquire(&lease, store, key) < 0) {
				error = 0;
				goto done;
			}
			error = compute_and_store(&fresh, store, key, compute,
					ctx, f);
			if (computed != NULL)
				*computed = 1;
			if (fresh == NULL) {
				/* Compute failed; the entry still valid is kept. */
				goto cleanup;
			}
			arca_manifest_free(m);
			m = fresh;
			goto done;
		}
		if (error != ARCA_ENOTFOUND &&
		    (error = flight_lookup_failed(f, error)) < 0)
			goto cleanup;
	}

	error = arca_lease_try_acquire(&lease, store, key);
	if (error == ARCA_EBUSY) {
		wait_begin(&w, f);
		error = arca_lease_acquire(&lease, store, key, wait_left(&w));
		if (error == ARCA_ETIMEOUT && f->on_timeout != NULL)
			f->on_timeout(f->hook_ctx, monotonic_ms() - w.began);
	}
	if (error < 0 && error != ARCA_ETIMEOUT) {
		if (!f->lease_errors_ok)
			goto cleanup;
		if (f->on_lease_error != NULL)
			f->on_lease_error(f->hook_ctx, error);
	}
	if (error == 0 && !f->refresh) {
		/* The holder we waited for has usually stored the result. */
		error = flight_lookup(&m, store, key, f);
		if (error == 0)
			goto done;
		if (error != ARCA_ENOTFOUND &&
		    (error = flight_lookup_failed(f, error)) < 0)
			goto cleanup;
	}
	if (lease != NULL) {
		xheld = xlease_take(&m, token, &taken_at, store, key, f, &w);
		if (xheld == 2) {
			xheld = 0;
			error = 0;
			goto done;
		}
		/* Without its renewal the lease still holds for one TTL. */
		if (xheld && renew_start(&rn, store, key, token,
				xlease_ttl_ms(), taken_at) < 0)
			arca__log("cross-host lease: not renewed: %s",
					arca_errmsg());
	}
	error = compute_and_store(&m, store, key, compute, ctx, f);
	if (computed != NULL)
		*computed = 1;
	if (m == NULL)
		goto cleanup;
done:
	*out = m;
	m = NULL;
cleanup:
	/* After the commit (or the failed compute): a waiter elsewhere
	 * looks up again, or takes the lease and computes. The renewals
	 * end first, so none can follow the release. */
	renew_stop(&rn);
	if (xheld)
		(void)arca__store_lease(store, ARCA__LEASE_RELEASE, key, token,
				0);
	arca_lease_release(lease);
	arca_manifest_free(m);
	return error;
}

int arca_get_or_compute(arca_manifest **out, int *computed,
		arca_store *store, const arca_digest *key,
		arca_compute_fn compute, void *ctx,
		const arca_compute_options *opts)
{
	arca__flight f;

	*out = NULL;
	if (computed != NULL)
		*computed = 0;
	memset(&f, 0, sizeof(f));
	if (opts != NULL) {
		if (opts->version != 1 &&
		    opts->version != ARCA_COMPUTE_OPTIONS_VERSION)
			return arca__error(ARCA_EINVAL, "arca_compute_options "
					"version %u is not supported (expected 1 "
					"to %u)", opts->version,
					ARCA_COMPUTE_OPTIONS_VERSION);
		f.lock_timeout_ms = opts->lock_timeout_ms;
		f.early_beta = opts->early_beta;
		/* Version 1 callers' structs end before these fields. */
		if (opts->version >= 2) {
			f.ttl_s = opts->ttl_s;
			f.tags = opts->tags;
			f.n_tags = opts->n_tags;
			f.max_age_s = opts->max_age_s;
		}
	}
	return arca__single_flight(out, computed, store, key, compute, ctx,
			&f);
}
