/*
 * Crash safety under SIGKILL: writers put blobs and record actions in one
 * store while being killed at random moments; after each kill the store
 * must open, verify clean, hold every blob and action the writers reported
 * as committed (byte-correct), keep nothing in tmp/, and no lease of a
 * killed writer may block a new acquire.
 *
 * ARCA_TORTURE_ITERATIONS sets the number of kills (default 200, 40 under
 * AddressSanitizer); ARCA_TORTURE_SEED replays a run (the seed is printed).
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
#else
#define DEFAULT_ITERATIONS 200
#endif

/* A fresh store every this many kills keeps verify's re-hash bounded. */
#define ITERATIONS_PER_STORE 10
#define MAX_KILL_DELAY_US 30000
#define MAX_FILE_BLOB (1024 * 1024)
#define INLINE_MAX ARCA_DEFAULT_INLINE_THRESHOLD

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
	uint64_t state = seed, v = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (i % 8 == 0)
			v = splitmix64(&state);
		out[i] = (unsigned char)(v >> (8 * (i % 8)));
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

/*
 * The writer: runs until killed. Never returns; exits 3 on an unexpected
 * error so the parent can tell it apart from being killed.
 */
static void writer_main(const char *dir, const char *work, int log_fd,
		uint64_t seed)
{
	arca_store *s = NULL;
	unsigned char *buf = malloc(MAX_FILE_BLOB);
	torture_rec recent[3];
	size_t n_recent = 0;
	uint64_t rng = seed;

	if (buf == NULL || arca_store_open(&s, dir, NULL) < 0) {
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
		/* About 60% inline (up to the threshold), 40% files. */
		if (r % 10 < 6)
			rec.size = (uint32_t)(splitmix64(&rng) % (INLINE_MAX + 1));
		else
			rec.size = (uint32_t)(INLINE_MAX + 1 +
					splitmix64(&rng) %
					(MAX_FILE_BLOB - INLINE_MAX));
		gen_bytes(buf, rec.size, rec.seed);
		if ((r >> 8) % 4 == 0)
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
			if (writer_record(s, log_fd, act.seed, recent,
					n_recent < 3 ? n_recent : 3,
					&act.digest) < 0) {
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

/* Everything the log says was committed must be there, byte for byte. */
static void check_store(const char *dir, const char *log_path,
		torture_totals *t)
{
	char *tmp_dir = fixture_path("%s/tmp", dir);
	unsigned char *expect = malloc(MAX_FILE_BLOB);
	unsigned char *log;
	size_t log_len = 0, i;
	unsigned long n_actions = 0, listed = 0;
	uint64_t n_checked = 0, n_corrupt = 0;
	arca_store *s = NULL;

	assert_non_null(expect);
	t->tmp_left += count_entries(tmp_dir);
	if (arca_store_open(&s, dir, NULL) < 0)
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
		if (rec.kind == REC_BLOB) {
			arca_buf b = ARCA_BUF_INIT;

			gen_bytes(expect, rec.size, rec.seed);
			assert_int_equal(arca_blob_get(&b, s, &rec.digest), 0);
			assert_int_equal(b.size, rec.size);
			assert_memory_equal(b.data, expect, rec.size);
			arca_buf_free(&b);
			t->blobs_checked++;
			t->bytes_checked += rec.size;
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
			size_t k;

			assert_int_equal(rec.kind, REC_ACTION);
			assert_int_equal(arca_action_get(&m, s, &rec.digest), 0);
			for (k = 0; k < m->n_outputs; k++) {
				uint64_t size = 0;

				assert_int_equal(arca_blob_stat(&size, s,
						&m->outputs[k].digest), 0);
				assert_int_equal(size, m->outputs[k].size);
			}
			arca_manifest_free(m);
			n_actions++;
			t->actions_checked++;
		}
	}
	assert_int_equal(arca_action_list(s, "torture", list_count_cb,
			&listed), 0);
	/* Logged actions are distinct keys (their seeds differ). */
	assert_true(listed >= n_actions);

	arca_store_close(s);
	/* Again: a clean close leaves nothing in tmp/ either. */
	assert_dir_empty(tmp_dir);
	free(log);
	free(expect);
	free(tmp_dir);
}

static void test_torture__sigkill_writers(void **state)
{
	unsigned long iterations = env_ulong("ARCA_TORTURE_ITERATIONS",
			DEFAULT_ITERATIONS);
	uint64_t seed = env_ulong("ARCA_TORTURE_SEED", 0);
	char *base = fixture_tempdir();
	char *dir = NULL, *log_path = NULL;
	torture_totals t;
	struct timespec t0, t1;
	unsigned long it;
	uint64_t rng;
	int log_fd = -1;

	(void)state;
	memset(&t, 0, sizeof(t));
	if (seed == 0)
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
	rng = seed;
	fprintf(stderr, "torture: %lu iterations, seed %llu "
			"(ARCA_TORTURE_ITERATIONS, ARCA_TORTURE_SEED)\n",
			iterations, (unsigned long long)seed);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	for (it = 0; it < iterations; it++) {
		pid_t pids[2];
		int n_writers, w;
		useconds_t delay;

		if (it % ITERATIONS_PER_STORE == 0) {
			if (dir)
				fixture_rmdir(dir);
			free(log_path);
			if (log_fd >= 0)
				close(log_fd);
			dir = fixture_path("%s/store%lu", base, it);
			log_path = fixture_path("%s/log%lu", base, it);
			log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND |
					O_CLOEXEC, 0644);
			assert_true(log_fd >= 0);
		}
		/* One writer, or two racing on the same store. */
		n_writers = 1 + (int)(splitmix64(&rng) % 3 == 0);
		for (w = 0; w < n_writers; w++) {
			uint64_t wseed = splitmix64(&rng);

			pids[w] = fork();
			assert_true(pids[w] >= 0);
			if (pids[w] == 0)
				writer_main(dir, base, log_fd, wseed);
		}
		delay = (useconds_t)(splitmix64(&rng) % (MAX_KILL_DELAY_US + 1));
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
		check_store(dir, log_path, &t);
	}

	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "torture: %lu writers killed, %lu blob checks "
			"(%.1f MiB), %lu action checks, %lu leases free within "
			"%d ms, 0 corrupt; %lu temp files of killed writers, all "
			"swept; %.1f s\n",
			t.writers_killed, t.blobs_checked,
			(double)t.bytes_checked / (1024.0 * 1024.0),
			t.actions_checked, t.leases_checked, LEASE_TIMEOUT_MS,
			t.tmp_left,
			(double)(t1.tv_sec - t0.tv_sec) +
			(double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	assert_true(t.blobs_checked > 0);
	if (log_fd >= 0)
		close(log_fd);
	free(log_path);
	fixture_rmdir(dir);
	fixture_rmdir(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_torture__sigkill_writers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
