/*
 * Crash safety under SIGKILL: writers put blobs and record actions in one
 * store while being killed at random moments. Two tests:
 *
 * test_torture__sigkill_writers: one writer, or two racing, putting
 * inline and file blobs of up to 1 MiB, no size limit. After each kill
 * the store must open, verify clean, hold every blob and action the
 * writers reported as committed (byte-correct), keep nothing in tmp/, and
 * no lease of a killed writer may block a new acquire.
 * ARCA_TORTURE_ITERATIONS sets the number of kills (default 200, 40 under
 * AddressSanitizer).
 *
 * test_torture__sigkill_writers_evicting: ARCA_TORTURE_WRITERS concurrent
 * writers (default 4, at most 16) putting values of 1 KiB (inline),
 * 200 KiB and, one put in 20, 16 MiB (files), and recording actions, in a
 * store opened with max_size 32 MiB (no grace period: only live writers'
 * pins hold eviction back), prefilled to
 * just under the limit (1 x 16 MiB and 50 x 200 KiB, logged too), so that
 * automatic eviction runs in the writers from the first kill on, and each
 * store's writes pass its limit about twice over, so that actions are
 * evicted as well as unreferenced blobs. All
 * writers of an iteration are killed after a random 0-100 ms; a fresh
 * store every 20 kills. 500 kills by default, 60 under AddressSanitizer
 * (a compile-time check of __SANITIZE_ADDRESS__, as above);
 * ARCA_TORTURE_ITERATIONS overrides both. An acknowledged entry may have
 * been evicted since, so the oracle after each kill is:
 *  - the store opens and tmp/ is empty (the dead writers' temp files were
 *    swept), and again after a clean close;
 *  - arca_store_verify() finds 0 corrupt blobs: it re-hashes every blob
 *    the index holds;
 *  - every logged blob is either absent (ARCA_ENOTFOUND) or byte-exact,
 *    never other bytes and never another error: read back in full
 *    (arca_blob_get) at the first check after it was logged, then, since
 *    verify re-hashes it at every check, stat'ed (present at its size, or
 *    absent) at the later ones;
 *  - every logged action is either absent (ARCA_ENOTFOUND) or present
 *    with every output blob it names present at its recorded size, and
 *    its stdout and stderr blobs present (eviction never takes a blob an
 *    action still references);
 *  - the lease of every action a writer was about to record is free
 *    within 100 ms (no stale lease);
 *  - over the whole run eviction did evict (arca_stats_days() counts it),
 *    and blobs were read back.
 * The store's size is printed (the largest a check saw), not asserted:
 * eviction runs after a put commits, so writers killed between the two
 * leave the store above its limit.
 * A writer's arca_action_put() may fail with ARCA_EINVAL "... is not in
 * the store" when another writer evicted one of its blobs (or its
 * manifest) first: that action was not acknowledged and is not logged;
 * any other failure of a writer fails the test.
 *
 * ARCA_TORTURE_SEED replays a run (the seed is printed).
 */
#include "fixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define TORTURE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TORTURE_SANITIZED 1
#endif
#endif

#ifdef TORTURE_SANITIZED
#define DEFAULT_ITERATIONS 40
#define DEFAULT_EVICT_ITERATIONS 60
#else
#define DEFAULT_ITERATIONS 200
#define DEFAULT_EVICT_ITERATIONS 500
#endif

/* A fresh store every this many kills keeps verify's re-hash bounded. */
#define ITERATIONS_PER_STORE 10
#define MAX_KILL_DELAY_US 30000
#define MAX_FILE_BLOB (1024 * 1024)
#define INLINE_MAX ARCA_DEFAULT_INLINE_THRESHOLD

/* The evicting test: its value sizes, limit and writers. */
#define EVICT_SMALL 1024
#define EVICT_MEDIUM (200 * 1024)
#define EVICT_LARGE (16 * 1024 * 1024)
#define EVICT_MAX_SIZE ((uint64_t)32 << 20)
/* The prefill: EVICT_PREFILL_LARGE x 16 MiB, then 200 KiB values. */
#define EVICT_PREFILL_LARGE 1
#define EVICT_PREFILL_VALUES 51
#define EVICT_ITERATIONS_PER_STORE 20
#define EVICT_MAX_KILL_DELAY_US 100000
#define DEFAULT_WRITERS 4
#define MAX_WRITERS 16

/* What one torture test runs: its writers' values and the store's limit. */
typedef struct torture_mode {
	int evicting;              /* the evicting test: see the header */
	size_t max_blob;           /* the largest value a writer puts */
	unsigned long per_store;   /* kills before a fresh store */
	unsigned long max_delay_us;
} torture_mode;

enum { REC_BLOB = 1, REC_ACTION = 2, REC_LEASE = 3 };

/* How long a new acquire may wait for a dead writer's lease, in ms. */
#define LEASE_TIMEOUT_MS 100

/*
 * One line of the writers' log, appended with a single write() after the
 * call that committed it returned: what is in the log was committed.
 * Records are 64 bytes, a divisor of the page size: Linux copies a write
 * page by page and stops at a page boundary when a fatal signal is
 * pending, so a SIGKILL can cut a record that straddles one (a 48-byte
 * record did, 16 bytes into it).
 */
typedef struct torture_rec {
	uint32_t kind;
	uint32_t size;        /* REC_BLOB: bytes */
	uint64_t seed;        /* REC_BLOB: the content is gen(seed, size) */
	arca_digest digest;   /* the blob, or the action key (REC_ACTION,
	                         REC_LEASE: logged before the acquire) */
	unsigned char pad[16];
} torture_rec;

_Static_assert(sizeof(torture_rec) == 64, "a record divides a page");

typedef struct torture_totals {
	unsigned long blobs_checked;
	unsigned long actions_checked;
	unsigned long leases_checked;
	unsigned long bytes_checked;
	unsigned long writers_killed;
	unsigned long tmp_left;   /* temp files the kills left for the sweep */
	unsigned long blobs_rechecked; /* present again, at their size */
	unsigned long blobs_absent;    /* evicted since they were logged */
	unsigned long actions_absent;
	uint64_t evictions;            /* of the stores done with */
	uint64_t store_evictions;      /* of the current store, so far */
	uint64_t max_usage;            /* the largest size a check saw */
	double check_s;                /* time spent in check_store */
	size_t log_checked;            /* bytes of the log checked in full */
} torture_totals;

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void gen_bytes(unsigned char *out, size_t len, uint64_t seed)
{
	uint64_t state = seed, v;
	size_t i = 0, k;

	/* Eight bytes per draw, least significant first: on a little-endian
	 * host that is the draw's own bytes (fast enough for 16 MiB values). */
	for (; i + 8 <= len; i += 8) {
		v = splitmix64(&state);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		memcpy(out + i, &v, 8);
#else
		for (k = 0; k < 8; k++)
			out[i + k] = (unsigned char)(v >> (8 * k));
#endif
	}
	if (i < len) {
		v = splitmix64(&state);
		for (k = 0; i + k < len; k++)
			out[i + k] = (unsigned char)(v >> (8 * k));
	}
}

static unsigned long env_ulong(const char *name, unsigned long dflt)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (s == NULL || *s == '\0')
		return dflt;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end != '\0')
		return dflt;
	return v;
}

static int log_append(int fd, const torture_rec *rec)
{
	return write(fd, rec, sizeof(*rec)) == (ssize_t)sizeof(*rec) ? 0 : -1;
}

/*
 * Record an action whose outputs are the given blobs, holding its lease as
 * `arca run` does (the key is logged before the lease is taken).
 */
static int writer_record(arca_store *s, int log_fd, uint64_t seed,
		const torture_rec *outs, size_t n_outs, arca_digest *key)
{
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	arca_lease *lease = NULL;
	torture_rec intent;
	arca_digest empty, in;
	char name[64];
	size_t i;
	int error;

	snprintf(name, sizeof(name), "%016llx", (unsigned long long)seed);
	if ((error = arca_digest_buffer(&in, name, strlen(name))) < 0 ||
	    (error = arca_action_new(&a, "torture")) < 0 ||
	    (error = arca_action_add_arg(a, "gen")) < 0 ||
	    (error = arca_action_add_arg(a, name)) < 0 ||
	    (error = arca_action_add_input(a, "seed", &in)) < 0 ||
	    (error = arca_action_set_tool(a, ARCA_TOOL_VERSION, "1")) < 0)
		goto cleanup;
	for (i = 0; i < n_outs; i++) {
		snprintf(name, sizeof(name), "out%zu", i);
		if ((error = arca_action_add_output(a, name)) < 0)
			goto cleanup;
	}
	if ((error = arca_manifest_from_action(&m, a)) < 0)
		goto cleanup;
	memset(&intent, 0, sizeof(intent));
	intent.kind = REC_LEASE;
	intent.digest = m->key;
	if (log_append(log_fd, &intent) < 0) {
		error = ARCA_EIO;
		goto cleanup;
	}
	if ((error = arca_lease_acquire(&lease, s, &m->key, 0)) < 0)
		goto cleanup;
	for (i = 0; i < n_outs; i++) {
		snprintf(name, sizeof(name), "out%zu", i);
		if ((error = arca_manifest_add_output(m, name,
				&outs[i].digest, outs[i].size, 0644)) < 0)
			goto cleanup;
	}
	if ((error = arca_blob_put(&empty, s, NULL, 0)) < 0)
		goto cleanup;
	m->stdout_digest = empty;
	m->stderr_digest = empty;
	m->duration_ms = 10;
	if ((error = arca_action_put(s, m)) < 0)
		goto cleanup;
	*key = m->key;
cleanup:
	arca_lease_release(lease);
	arca_manifest_free(m);
	arca_action_free(a);
	return error;
}

/* Put a blob through a file and arca_blob_put_file (the fd path). */
static int writer_put_file(arca_store *s, const char *work,
		const unsigned char *data, size_t len, arca_digest *out)
{
	char path[4096];
	int fd, ok;

	snprintf(path, sizeof(path), "%s/in-%ld", work, (long)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return ARCA_EIO;
	ok = write(fd, data, len) == (ssize_t)len;
	close(fd);
	if (!ok)
		return ARCA_EIO;
	return arca_blob_put_file(out, NULL, s, path);
}

/* The size of the next value: see the header for each test's mix. */
static uint32_t writer_size(const torture_mode *mode, uint64_t *rng)
{
	uint64_t r = splitmix64(rng);

	if (mode->evicting) {
		if (r % 20 == 0)
			return EVICT_LARGE;
		return r % 20 < 9 ? EVICT_MEDIUM : EVICT_SMALL;
	}
	/* About 60% inline (up to the threshold), 40% files. */
	if (r % 10 < 6)
		return (uint32_t)(splitmix64(rng) % (INLINE_MAX + 1));
	return (uint32_t)(INLINE_MAX + 1 + splitmix64(rng) %
			(MAX_FILE_BLOB - INLINE_MAX));
}

/*
 * The writer: runs until killed. Never returns; exits 3 on an unexpected
 * error so the parent can tell it apart from being killed.
 */
static void writer_main(const torture_mode *mode, const char *dir,
		const char *work, int log_fd, uint64_t seed)
{
	arca_options opts = ARCA_OPTIONS_INIT;
	arca_store *s = NULL;
	unsigned char *buf = malloc(mode->max_blob);
	torture_rec recent[3];
	size_t n_recent = 0;
	uint64_t rng = seed;

	if (mode->evicting)
		opts.max_size = EVICT_MAX_SIZE;
	if (buf == NULL || arca_store_open(&s, dir, &opts) < 0) {
		fprintf(stderr, "writer: open: %s\n", arca_errmsg());
		_exit(3);
	}
	for (;;) {
		torture_rec rec;
		uint64_t r = splitmix64(&rng);
		int error;

		memset(&rec, 0, sizeof(rec));
		rec.kind = REC_BLOB;
		rec.seed = splitmix64(&rng);
		rec.size = writer_size(mode, &rng);
		gen_bytes(buf, rec.size, rec.seed);
		if ((r >> 8) % 4 == 0 && rec.size <= MAX_FILE_BLOB)
			error = writer_put_file(s, work, buf, rec.size,
					&rec.digest);
		else
			error = arca_blob_put(&rec.digest, s, buf, rec.size);
		if (error < 0) {
			fprintf(stderr, "writer: put: %s\n", arca_errmsg());
			_exit(3);
		}
		if (log_append(log_fd, &rec) < 0)
			_exit(3);
		recent[n_recent++ % 3] = rec;
		if (n_recent >= 2 && (r >> 16) % 2 == 0) {
			torture_rec act;

			memset(&act, 0, sizeof(act));
			act.kind = REC_ACTION;
			act.seed = splitmix64(&rng);
			error = writer_record(s, log_fd, act.seed, recent,
					n_recent < 3 ? n_recent : 3,
					&act.digest);
			/* Another writer's eviction took one of its blobs
			 * (or its manifest) first: not acknowledged. */
			if (error == ARCA_EINVAL && mode->evicting &&
			    strstr(arca_errmsg(), "is not in the store"))
				continue;
			if (error < 0) {
				fprintf(stderr, "writer: action: %s\n",
						arca_errmsg());
				_exit(3);
			}
			if (log_append(log_fd, &act) < 0)
				_exit(3);
		}
	}
}

static unsigned long count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	unsigned long n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void assert_dir_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		fprintf(stderr, "left behind: %s/%s\n", path, e->d_name);
		fail();
	}
	closedir(d);
}

static void verify_cb(const arca_digest *digest, const char *where,
		void *ctx)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	(void)ctx;
	arca_digest_to_hex(hex, digest);
	fprintf(stderr, "corrupt: %s at %s\n", hex, where);
}

static int list_count_cb(const arca_action_info *info, void *ctx)
{
	(void)info;
	(*(unsigned long *)ctx)++;
	return 0;
}

/*
 * Fill a fresh store of the evicting test to just under its limit
 * (EVICT_PREFILL_LARGE x 16 MiB, then 200 KiB values, logged like the
 * writers' puts), so that eviction runs from the first kill on.
 */
static void prefill(const torture_mode *mode, const char *dir, int log_fd,
		uint64_t *rng)
{
	arca_options opts = ARCA_OPTIONS_INIT;
	unsigned char *buf = malloc(mode->max_blob);
	arca_store *s = NULL;
	int i;

	assert_non_null(buf);
	opts.max_size = EVICT_MAX_SIZE;
	assert_int_equal(arca_store_open(&s, dir, &opts), 0);
	for (i = 0; i < EVICT_PREFILL_VALUES; i++) {
		torture_rec rec;

		memset(&rec, 0, sizeof(rec));
		rec.kind = REC_BLOB;
		rec.seed = splitmix64(rng);
		rec.size = i < EVICT_PREFILL_LARGE ? EVICT_LARGE : EVICT_MEDIUM;
		gen_bytes(buf, rec.size, rec.seed);
		assert_int_equal(arca_blob_put(&rec.digest, s, buf, rec.size),
				0);
		assert_int_equal(log_append(log_fd, &rec), 0);
	}
	arca_store_close(s);
	free(buf);
}

static double seconds_between(const struct timespec *a,
		const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
		(double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static int stats_evictions_cb(const arca_day_stats *st, void *ctx)
{
	*(uint64_t *)ctx += st->evictions;
	return 0;
}

/*
 * Check the store against the log: everything committed is there, byte
 * for byte, or (evicting) absent; see the header for the whole oracle.
 */
static void check_store(const torture_mode *mode, const char *dir,
		const char *log_path, torture_totals *t)
{
	arca_options opts = ARCA_OPTIONS_INIT;
	char *tmp_dir = fixture_path("%s/tmp", dir);
	unsigned char *expect = malloc(mode->max_blob);
	unsigned char *log;
	size_t log_len = 0, i;
	unsigned long n_actions = 0, listed = 0;
	uint64_t n_checked = 0, n_corrupt = 0, usage = 0, evictions = 0;
	arca_store *s = NULL;

	assert_non_null(expect);
	if (mode->evicting)
		opts.max_size = EVICT_MAX_SIZE;
	t->tmp_left += count_entries(tmp_dir);
	if (arca_store_open(&s, dir, &opts) < 0)
		fprintf(stderr, "open: %s\n", arca_errmsg());
	assert_non_null(s);
	/* The open swept the dead writers' temp files. */
	assert_dir_empty(tmp_dir);

	assert_int_equal(arca_store_verify(&n_checked, &n_corrupt, s,
			verify_cb, NULL), 0);
	assert_int_equal(n_corrupt, 0);

	log = fixture_read_file(log_path, &log_len);
	assert_non_null(log);
	/* A writer is killed between whole records or not at all. */
	assert_int_equal(log_len % sizeof(torture_rec), 0);
	for (i = 0; i + sizeof(torture_rec) <= log_len;
			i += sizeof(torture_rec)) {
		torture_rec rec;

		memcpy(&rec, log + i, sizeof(rec));
		if (rec.kind == REC_BLOB && mode->evicting &&
		    i < t->log_checked) {
			uint64_t size = 0;
			int rc = arca_blob_stat(&size, s, &rec.digest);

			/* Read back in full by an earlier check; since then
			 * verify has re-hashed it, if it is still here. */
			if (rc == ARCA_ENOTFOUND && mode->evicting) {
				t->blobs_absent++;
				continue;
			}
			assert_int_equal(rc, 0);
			assert_int_equal(size, rec.size);
			t->blobs_rechecked++;
		} else if (rec.kind == REC_BLOB) {
			arca_buf b = ARCA_BUF_INIT;
			int rc = arca_blob_get(&b, s, &rec.digest);

			if (rc == ARCA_ENOTFOUND && mode->evicting) {
				t->blobs_absent++;
				continue;
			}
			if (rc != 0)
				fprintf(stderr, "blob: %s\n", arca_errmsg());
			assert_int_equal(rc, 0);
			gen_bytes(expect, rec.size, rec.seed);
			assert_int_equal(b.size, rec.size);
			assert_memory_equal(b.data, expect, rec.size);
			arca_buf_free(&b);
			t->blobs_checked++;
			t->bytes_checked += rec.size;
		} else if (rec.kind == REC_LEASE && mode->evicting &&
		    i < t->log_checked) {
			continue; /* found free by an earlier check */
		} else if (rec.kind == REC_LEASE) {
			arca_lease *lease = NULL;
			int rc = arca_lease_acquire(&lease, s, &rec.digest,
					LEASE_TIMEOUT_MS);

			if (rc != 0)
				fprintf(stderr, "lease: %s\n", arca_errmsg());
			assert_int_equal(rc, 0);
			arca_lease_release(lease);
			t->leases_checked++;
		} else {
			arca_manifest *m = NULL;
			uint64_t stream_size = 0;
			size_t k;
			int rc;

			assert_int_equal(rec.kind, REC_ACTION);
			rc = arca_action_get(&m, s, &rec.digest);
			if (rc == ARCA_ENOTFOUND && mode->evicting) {
				t->actions_absent++;
				continue;
			}
			if (rc != 0)
				fprintf(stderr, "action: %s\n", arca_errmsg());
			assert_int_equal(rc, 0);
			for (k = 0; k < m->n_outputs; k++) {
				uint64_t size = 0;

				assert_int_equal(arca_blob_stat(&size, s,
						&m->outputs[k].digest), 0);
				assert_int_equal(size, m->outputs[k].size);
			}
			assert_int_equal(arca_blob_stat(&stream_size, s,
					&m->stdout_digest), 0);
			assert_int_equal(arca_blob_stat(&stream_size, s,
					&m->stderr_digest), 0);
			arca_manifest_free(m);
			n_actions++;
			t->actions_checked++;
		}
	}
	t->log_checked = log_len;
	assert_int_equal(arca_action_list(s, "torture", list_count_cb,
			&listed), 0);
	/* Logged actions are distinct keys (their seeds differ). */
	assert_true(listed >= n_actions);
	assert_int_equal(arca_store_usage(&usage, NULL, s), 0);
	if (usage > t->max_usage)
		t->max_usage = usage;
	assert_int_equal(arca_stats_days(s, 1, stats_evictions_cb,
			&evictions), 0);
	t->store_evictions = evictions;

	arca_store_close(s);
	/* Again: a clean close leaves nothing in tmp/ either. */
	assert_dir_empty(tmp_dir);
	free(log);
	free(expect);
	free(tmp_dir);
}

static void run_torture(const torture_mode *mode, const char *name,
		unsigned long iterations, int max_writers)
{
	uint64_t seed = env_ulong("ARCA_TORTURE_SEED", 0);
	char *base = fixture_tempdir();
	char *dir = NULL, *log_path = NULL;
	torture_totals t;
	struct timespec t0, t1, c0, c1;
	pid_t pids[MAX_WRITERS];
	unsigned long it;
	uint64_t rng;
	int log_fd = -1;

	memset(&t, 0, sizeof(t));
	if (seed == 0)
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
	rng = seed;
	fprintf(stderr, "%s: %lu iterations, up to %d writers, seed %llu "
			"(ARCA_TORTURE_ITERATIONS, ARCA_TORTURE_SEED)\n", name,
			iterations, max_writers, (unsigned long long)seed);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	for (it = 0; it < iterations; it++) {
		int n_writers, w;
		useconds_t delay;

		if (it % mode->per_store == 0) {
			if (dir)
				fixture_rmdir(dir);
			free(log_path);
			if (log_fd >= 0)
				close(log_fd);
			t.evictions += t.store_evictions;
			t.store_evictions = 0;
			t.log_checked = 0;
			dir = fixture_path("%s/store%lu", base, it);
			log_path = fixture_path("%s/log%lu", base, it);
			log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND |
					O_CLOEXEC, 0644);
			assert_true(log_fd >= 0);
			if (mode->evicting)
				prefill(mode, dir, log_fd, &rng);
		}
		/* Evicting: all of them. Else one writer, or two racing on
		 * the same store. */
		if (mode->evicting)
			n_writers = max_writers;
		else
			n_writers = 1 + (int)(splitmix64(&rng) % 3 == 0);
		for (w = 0; w < n_writers; w++) {
			uint64_t wseed = splitmix64(&rng);

			pids[w] = fork();
			assert_true(pids[w] >= 0);
			if (pids[w] == 0)
				writer_main(mode, dir, base, log_fd, wseed);
		}
		delay = (useconds_t)(splitmix64(&rng) %
				(mode->max_delay_us + 1));
		usleep(delay);
		for (w = 0; w < n_writers; w++) {
			int status = 0;

			kill(pids[w], SIGKILL);
			assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
			if (!WIFSIGNALED(status))
				fprintf(stderr, "writer exited %d\n",
						WEXITSTATUS(status));
			assert_true(WIFSIGNALED(status));
			assert_int_equal(WTERMSIG(status), SIGKILL);
			t.writers_killed++;
		}
		clock_gettime(CLOCK_MONOTONIC, &c0);
		check_store(mode, dir, log_path, &t);
		clock_gettime(CLOCK_MONOTONIC, &c1);
		t.check_s += seconds_between(&c0, &c1);
	}
	t.evictions += t.store_evictions;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "%s: %lu writers killed, %lu blob checks "
			"(%.1f MiB) and %lu re-checks, %lu action checks, %lu leases free within "
			"%d ms, 0 corrupt; %lu blobs and %lu actions evicted "
			"after they were logged, %llu evictions, largest size "
			"%.1f MiB; %lu temp files of killed writers, all "
			"swept; %.1f s (%.1f s of it checking)\n", name,
			t.writers_killed, t.blobs_checked,
			(double)t.bytes_checked / (1024.0 * 1024.0),
			t.blobs_rechecked,
			t.actions_checked, t.leases_checked, LEASE_TIMEOUT_MS,
			t.blobs_absent, t.actions_absent,
			(unsigned long long)t.evictions,
			(double)t.max_usage / (1024.0 * 1024.0),
			t.tmp_left,
			seconds_between(&t0, &t1), t.check_s);
	assert_true(t.blobs_checked > 0);
	if (mode->evicting)
		assert_true(t.evictions > 0);
	if (log_fd >= 0)
		close(log_fd);
	free(log_path);
	fixture_rmdir(dir);
	fixture_rmdir(base);
}

static void test_torture__sigkill_writers(void **state)
{
	const torture_mode mode = { 0, MAX_FILE_BLOB, ITERATIONS_PER_STORE,
		MAX_KILL_DELAY_US };

	(void)state;
	run_torture(&mode, "torture", env_ulong("ARCA_TORTURE_ITERATIONS",
			DEFAULT_ITERATIONS), 2);
}

static void test_torture__sigkill_writers_evicting(void **state)
{
	const torture_mode mode = { 1, EVICT_LARGE, EVICT_ITERATIONS_PER_STORE,
		EVICT_MAX_KILL_DELAY_US };
	unsigned long writers = env_ulong("ARCA_TORTURE_WRITERS",
			DEFAULT_WRITERS);

	(void)state;
	if (writers < 1 || writers > MAX_WRITERS)
		writers = DEFAULT_WRITERS;
	run_torture(&mode, "torture (evicting)",
			env_ulong("ARCA_TORTURE_ITERATIONS",
			DEFAULT_EVICT_ITERATIONS), (int)writers);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_torture__sigkill_writers),
		cmocka_unit_test(test_torture__sigkill_writers_evicting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
