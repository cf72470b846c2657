/*
 * Leases and single-flight: handles and processes conflicting, a killed
 * holder taken over, bounded waits, arca_get_or_compute() from threads,
 * and XFetch early recomputation, on a simulated clock (arca_set_clock)
 * with its random draw fixed by ARCA_TEST_XFETCH_U, through the public
 * API only.
 */
#include "fixture.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_THREADS 8

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pause_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static arca_digest some_key(const char *what)
{
	arca_digest d;

	assert_int_equal(arca_digest_buffer(&d, what, strlen(what)), 0);
	return d;
}

static void test_lease__two_handles_conflict(void **state)
{
	fixture_store *f = *state;
	arca_store *other = NULL;
	arca_lease *a = NULL, *b = NULL;
	arca_digest key = some_key("k1");
	char hex[ARCA_DIGEST_HEXLEN + 1];
	char *path;
	struct stat st;

	assert_int_equal(arca_store_open(&other, f->dir, NULL), 0);
	assert_int_equal(arca_lease_is_held(other, &key), 0);
	assert_int_equal(arca_lease_acquire(&a, f->store, &key, 1000), 0);
	assert_non_null(a);
	assert_int_equal(arca_lease_is_held(other, &key), 1);
	assert_int_equal(arca_lease_try_acquire(&b, other, &key), ARCA_EBUSY);
	assert_null(b);
	/* The lease is per handle, not per process. */
	assert_int_equal(arca_lease_try_acquire(&b, f->store, &key),
			ARCA_EBUSY);
	/* Another key is independent. */
	{
		arca_digest k2 = some_key("k2");

		assert_int_equal(arca_lease_try_acquire(&b, other, &k2), 0);
		arca_lease_release(b);
		b = NULL;
	}

	arca_lease_release(a);
	assert_int_equal(arca_lease_is_held(other, &key), 0);
	/* The holder removed its file. */
	arca_digest_to_hex(hex, &key);
	path = fixture_path("%s/leases/%s", f->dir, hex);
	assert_int_not_equal(stat(path, &st), 0);
	assert_int_equal(arca_lease_try_acquire(&b, other, &key), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(arca_lease_is_held(f->store, &key), 1);
	arca_lease_release(b);
	arca_lease_release(NULL);
	free(path);
	arca_store_close(other);
}

static void test_lease__timeout_is_bounded(void **state)
{
	fixture_store *f = *state;
	arca_options opts = ARCA_OPTIONS_INIT;
	arca_store *other = NULL;
	arca_lease *a = NULL, *b = NULL;
	arca_digest key = some_key("k-timeout");
	uint64_t t0, waited;

	assert_int_equal(arca_lease_acquire(&a, f->store, &key, 0), 0);
	opts.lock_timeout_ms = 250;
	assert_int_equal(arca_store_open(&other, f->dir, &opts), 0);

	t0 = now_ms();
	assert_int_equal(arca_lease_acquire(&b, other, &key, 300),
			ARCA_ETIMEOUT);
	waited = now_ms() - t0;
	assert_null(b);
	assert_true(waited >= 300);
	assert_true(waited < 1500);

	/* 0: the store's lock_timeout_ms. */
	t0 = now_ms();
	assert_int_equal(arca_lease_acquire(&b, other, &key, 0),
			ARCA_ETIMEOUT);
	waited = now_ms() - t0;
	assert_true(waited >= 250);
	assert_true(waited < 1500);

	arca_lease_release(a);
	assert_int_equal(arca_lease_acquire(&b, other, &key, 300), 0);
	arca_lease_release(b);
	arca_store_close(other);
}

typedef struct waiter {
	const char *dir;
	arca_digest key;
	int error;
	uint64_t got_at;
} waiter;

static void *wait_for_lease(void *arg)
{
	waiter *w = arg;
	arca_store *s = NULL;
	arca_lease *lease = NULL;

	if ((w->error = arca_store_open(&s, w->dir, NULL)) < 0)
		return NULL;
	w->error = arca_lease_acquire(&lease, s, &w->key, 5000);
	w->got_at = now_ms();
	if (w->error == 0) {
		/* The lock is on the file the path names, not an unlinked one. */
		w->error = arca_lease_is_held(s, &w->key) == 1 ? 0 : -100;
		arca_lease_release(lease);
	}
	arca_store_close(s);
	return NULL;
}

static void test_lease__release_lets_a_waiter_in(void **state)
{
	fixture_store *f = *state;
	arca_lease *a = NULL;
	waiter w;
	pthread_t th;
	uint64_t released;

	memset(&w, 0, sizeof(w));
	w.dir = f->dir;
	w.key = some_key("k-handover");
	assert_int_equal(arca_lease_acquire(&a, f->store, &w.key, 0), 0);
	assert_int_equal(pthread_create(&th, NULL, wait_for_lease, &w), 0);
	pause_ms(200);
	released = now_ms();
	arca_lease_release(a);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(w.error, 0);
	assert_true(w.got_at >= released);
	assert_true(w.got_at - released < 500);
}

static void test_lease__killed_holder_is_taken_over(void **state)
{
	fixture_store *f = *state;
	arca_digest key = some_key("k-killed");
	arca_lease *lease = NULL;
	int pipes[2], status;
	uint64_t t0, waited;
	pid_t pid;
	char c;

	assert_int_equal(pipe(pipes), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_store *s = NULL;
		arca_lease *held = NULL;

		close(pipes[0]);
		if (arca_store_open(&s, f->dir, NULL) != 0 ||
				arca_lease_acquire(&held, s, &key, 1000) != 0)
			_exit(1);
		if (write(pipes[1], "L", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pipes[1]);
	assert_int_equal(read(pipes[0], &c, 1), 1);
	close(pipes[0]);
	assert_int_equal(arca_lease_is_held(f->store, &key), 1);
	assert_int_equal(arca_lease_try_acquire(&lease, f->store, &key),
			ARCA_EBUSY);

	/* A long timeout: only the kernel dropping the lock can let us in. */
	t0 = now_ms();
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(arca_lease_acquire(&lease, f->store, &key, 60000), 0);
	waited = now_ms() - t0;
	assert_true(waited < 500);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	arca_lease_release(lease);
}

/* ---- arca_get_or_compute ----------------------------------------------- */

static atomic_int n_computed;

typedef struct job {
	const char *dir;
	arca_store *store;      /* this thread's handle */
	const char *content;
	unsigned int sleep_ms;
	int fail_with;          /* compute returns this when non-zero */
	pthread_barrier_t *start;
	/* results */
	int error;
	int computed;
	arca_digest out_digest;
	arca_digest key;
} job;

static int make_action(arca_action **out, const char *content)
{
	arca_action *a = NULL;
	int error;

	if ((error = arca_action_new(&a, "lease-test")) < 0 ||
			(error = arca_action_add_arg(a, "make")) < 0 ||
			(error = arca_action_add_arg(a, content)) < 0 ||
			(error = arca_action_add_output(a, "out.txt")) < 0 ||
			(error = arca_action_set_tool(a, ARCA_TOOL_VERSION,
				"1")) < 0) {
		arca_action_free(a);
		return error;
	}
	*out = a;
	return 0;
}

static int compute(arca_manifest **out, void *ctx)
{
	job *j = ctx;
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	arca_digest d, empty;
	int error;

	atomic_fetch_add(&n_computed, 1);
	if (j->sleep_ms)
		pause_ms(j->sleep_ms);
	if (j->fail_with)
		return j->fail_with;
	if ((error = make_action(&a, j->content)) < 0 ||
			(error = arca_manifest_from_action(&m, a)) < 0 ||
			(error = arca_blob_put(&d, j->store, j->content,
				strlen(j->content))) < 0 ||
			(error = arca_blob_put(&empty, j->store, NULL, 0)) < 0 ||
			(error = arca_manifest_add_output(m, "out.txt", &d,
				strlen(j->content), 0644)) < 0)
		goto cleanup;
	m->stdout_digest = empty;
	m->stderr_digest = empty;
	m->duration_ms = j->sleep_ms;
	*out = m;
	m = NULL;
cleanup:
	arca_manifest_free(m);
	arca_action_free(a);
	return error;
}

static arca_digest key_of(const char *content)
{
	arca_action *a = NULL;
	arca_digest key;

	assert_int_equal(make_action(&a, content), 0);
	assert_int_equal(arca_action_key(&key, a), 0);
	arca_action_free(a);
	return key;
}

static void *run_job(void *arg)
{
	job *j = arg;
	arca_manifest *m = NULL;

	j->error = arca_store_open(&j->store, j->dir, NULL);
	pthread_barrier_wait(j->start);
	if (j->error < 0)
		return NULL;
	j->error = arca_get_or_compute(&m, &j->computed, j->store, &j->key,
			compute, j, NULL);
	if (m != NULL && m->n_outputs == 1)
		j->out_digest = m->outputs[0].digest;
	arca_manifest_free(m);
	arca_store_close(j->store);
	j->store = NULL;
	return NULL;
}

static void test_lease__get_or_compute_threads_compute_once(void **state)
{
	fixture_store *f = *state;
	pthread_t th[N_THREADS];
	job jobs[N_THREADS];
	pthread_barrier_t start;
	arca_digest want;
	int i, computed = 0;

	atomic_store(&n_computed, 0);
	assert_int_equal(arca_digest_buffer(&want, "shared", 6), 0);
	assert_int_equal(pthread_barrier_init(&start, NULL, N_THREADS), 0);
	for (i = 0; i < N_THREADS; i++) {
		memset(&jobs[i], 0, sizeof(jobs[i]));
		jobs[i].dir = f->dir;
		jobs[i].content = "shared";
		jobs[i].sleep_ms = 300;
		jobs[i].start = &start;
		jobs[i].key = key_of("shared");
		assert_int_equal(pthread_create(&th[i], NULL, run_job,
				&jobs[i]), 0);
	}
	for (i = 0; i < N_THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	pthread_barrier_destroy(&start);

	assert_int_equal(atomic_load(&n_computed), 1);
	for (i = 0; i < N_THREADS; i++) {
		assert_int_equal(jobs[i].error, 0);
		assert_true(arca_digest_equal(&jobs[i].out_digest, &want));
		computed += jobs[i].computed;
	}
	assert_int_equal(computed, 1);
}

static void test_lease__get_or_compute_error_stores_nothing(void **state)
{
	fixture_store *f = *state;
	arca_manifest *m = NULL;
	job j;
	int computed = -1;

	memset(&j, 0, sizeof(j));
	j.store = f->store;
	j.content = "failing";
	j.fail_with = ARCA_EUNAVAILABLE;
	j.key = key_of("failing");
	atomic_store(&n_computed, 0);
	assert_int_equal(arca_get_or_compute(&m, &computed, f->store, &j.key,
			compute, &j, NULL), ARCA_EUNAVAILABLE);
	assert_null(m);
	assert_int_equal(computed, 1);
	assert_int_equal(arca_action_get(&m, f->store, &j.key), ARCA_ENOTFOUND);
	/* The lease was released. */
	assert_int_equal(arca_lease_is_held(f->store, &j.key), 0);

	/* A bad options version is refused before anything runs. */
	{
		arca_compute_options opts = ARCA_COMPUTE_OPTIONS_INIT;

		opts.version = 99;
		assert_int_equal(arca_get_or_compute(&m, NULL, f->store,
				&j.key, compute, &j, &opts), ARCA_EINVAL);
		assert_int_equal(atomic_load(&n_computed), 1);
	}
}

static void test_lease__get_or_compute_timeout_computes_anyway(void **state)
{
	fixture_store *f = *state;
	arca_store *other = NULL;
	arca_compute_options opts = ARCA_COMPUTE_OPTIONS_INIT;
	arca_lease *held = NULL;
	arca_manifest *m = NULL;
	job j;
	int computed = 0;
	uint64_t t0, waited;

	memset(&j, 0, sizeof(j));
	j.content = "stuck";
	j.key = key_of("stuck");
	assert_int_equal(arca_store_open(&other, f->dir, NULL), 0);
	j.store = other;
	assert_int_equal(arca_lease_acquire(&held, f->store, &j.key, 0), 0);
	atomic_store(&n_computed, 0);
	opts.lock_timeout_ms = 200;
	t0 = now_ms();
	assert_int_equal(arca_get_or_compute(&m, &computed, other, &j.key,
			compute, &j, &opts), 0);
	waited = now_ms() - t0;
	assert_true(waited >= 200);
	assert_true(waited < 2000);
	assert_int_equal(computed, 1);
	assert_non_null(m);
	arca_manifest_free(m);
	m = NULL;
	arca_lease_release(held);
	/* Stored: now a plain hit. */
	assert_int_equal(arca_get_or_compute(&m, &computed, other, &j.key,
			compute, &j, &opts), 0);
	assert_int_equal(computed, 0);
	assert_int_equal(atomic_load(&n_computed), 1);
	arca_manifest_free(m);
	arca_store_close(other);
}

/* ---- XFetch ------------------------------------------------------------- */

static int64_t clock_now;

static int64_t test_clock(void *ctx)
{
	(void)ctx;
	return clock_now;
}

/* Fix XFetch's draw u (0 < u <= 1); NULL: random again. */
static void set_u(const char *u)
{
	if (u)
		assert_int_equal(setenv("ARCA_TEST_XFETCH_U", u, 1), 0);
	else
		assert_int_equal(unsetenv("ARCA_TEST_XFETCH_U"), 0);
}

/*
 * Store an entry for key_of(name) that took duration_ms to compute and
 * expires ttl_s after now, then call arca_get_or_compute() `at` seconds
 * later with early_beta beta. Returns whether it recomputed.
 */
static int refreshed(arca_store *s, const char *name, uint64_t ttl_s,
		uint64_t duration_ms, int64_t at, double beta)
{
	arca_compute_options opts = ARCA_COMPUTE_OPTIONS_INIT;
	arca_put_options po = ARCA_PUT_OPTIONS_INIT;
	const int64_t t0 = 1700000000;
	arca_manifest *m = NULL;
	job j;
	int computed = -1;

	memset(&j, 0, sizeof(j));
	j.store = s;
	j.content = name;
	j.key = key_of(name);
	clock_now = t0;
	arca_set_clock(test_clock, NULL);
	assert_int_equal(compute(&m, &j), 0);
	m->duration_ms = duration_ms;
	po.ttl_s = ttl_s;
	assert_int_equal(arca_action_put_ex(s, m, &po), 0);
	arca_manifest_free(m);
	m = NULL;
	clock_now = t0 + at;
	opts.early_beta = beta;
	assert_int_equal(arca_get_or_compute(&m, &computed, s, &j.key, compute,
			&j, &opts), 0);
	assert_non_null(m);
	arca_manifest_free(m);
	arca_set_clock(NULL, NULL);
	return computed;
}

/* "-ln(u) = 1" */
#define U_E1 "0.36787944117144233"

static void test_lease__xfetch_formula(void **state)
{
	fixture_store *f = *state;
	arca_store *s = f->store;

	/* Recomputed early when now - duration * beta * ln(u) >= expiry. */
	set_u(U_E1);
	/* Off. */
	assert_int_equal(refreshed(s, "off", 10, 10000, 5, 0.0), 0);
	/* 10 s of compute, beta 1, -ln(u) = 1: due 10 s before expiry. */
	assert_int_equal(refreshed(s, "d10", 20, 10000, 10, 1.0), 1);
	assert_int_equal(refreshed(s, "d11", 20, 10000, 9, 1.0), 0);
	/* beta 2 doubles the window. */
	assert_int_equal(refreshed(s, "b20", 30, 10000, 10, 2.0), 1);
	assert_int_equal(refreshed(s, "b21", 31, 10000, 10, 2.0), 0);
	/* A quick computation is refreshed only very close to expiry. */
	assert_int_equal(refreshed(s, "quick", 2, 100, 1, 1.0), 0);
	/* u = 1: -ln(u) = 0, never before expiry. */
	set_u("1");
	assert_int_equal(refreshed(s, "u1", 2, 10000, 1, 1.0), 0);
	/* u = 0.25: -ln(u) = 1.386; 5 s of compute reach 6.93 s ahead, 6 s
	 * reach 8.3 s. */
	set_u("0.25");
	assert_int_equal(refreshed(s, "q5", 7, 5000, 0, 1.0), 0);
	assert_int_equal(refreshed(s, "q6", 7, 6000, 0, 1.0), 1);
	set_u(NULL);
}

static void test_lease__xfetch_early_recomputation(void **state)
{
	fixture_store *f = *state;
	arca_compute_options opts = ARCA_COMPUTE_OPTIONS_INIT;
	arca_put_options po = ARCA_PUT_OPTIONS_INIT;
	arca_manifest *m = NULL;
	arca_store *other = NULL;
	arca_lease *held = NULL;
	job j;
	int computed = -1;

	memset(&j, 0, sizeof(j));
	j.store = f->store;
	j.content = "ttl";
	j.key = key_of("ttl");
	clock_now = 1700000000;
	arca_set_clock(test_clock, NULL);
	atomic_store(&n_computed, 0);
	assert_int_equal(arca_get_or_compute(&m, &computed, f->store, &j.key,
			compute, &j, &opts), 0);
	assert_int_equal(computed, 1);
	/* Expires in 5 s; it took 10 s to compute. */
	m->duration_ms = 10000;
	po.ttl_s = 5;
	assert_int_equal(arca_action_put_ex(f->store, m, &po), 0);
	arca_manifest_free(m);
	m = NULL;

	/* -ln(u) = 1: now + 10 s >= expiry: recomputed, result returned. */
	set_u(U_E1);
	opts.early_beta = 1.0;
	assert_int_equal(arca_get_or_compute(&m, &computed, f->store, &j.key,
			compute, &j, &opts), 0);
	assert_int_equal(computed, 1);
	assert_non_null(m);
	assert_int_equal(atomic_load(&n_computed), 2);

	/* Someone else refreshing: the current entry is served, no wait. */
	m->duration_ms = 10000;
	assert_int_equal(arca_action_put_ex(f->store, m, &po), 0);
	arca_manifest_free(m);
	m = NULL;
	assert_int_equal(arca_store_open(&other, f->dir, NULL), 0);
	assert_int_equal(arca_lease_acquire(&held, other, &j.key, 0), 0);
	assert_int_equal(arca_get_or_compute(&m, &computed, f->store, &j.key,
			compute, &j, &opts), 0);
	assert_int_equal(computed, 0);
	assert_non_null(m);
	arca_manifest_free(m);
	arca_lease_release(held);
	arca_store_close(other);
	assert_int_equal(atomic_load(&n_computed), 2);
	set_u(NULL);
	arca_set_clock(NULL, NULL);
}

/*
 * Without a fixed u the draw is uniform: with 10 s of compute and expiry
 * 7 s away, P(refresh) = P(-ln(u) >= 0.7) = exp(-0.7) = 0.497. 200 tries
 * land within 60..140 unless something is badly off (more than 5 standard
 * deviations).
 */
static void test_lease__xfetch_random_draw(void **state)
{
	fixture_store *f = *state;
	char name[32];
	int i, n = 0;

	set_u(NULL);
	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "draw-%d", i);
		n += refreshed(f->store, name, 7, 10000, 0, 1.0);
	}
	assert_true(n >= 60 && n <= 140);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, fixture_store_setup, \
		fixture_store_teardown)
		T(test_lease__two_handles_conflict),
		T(test_lease__timeout_is_bounded),
		T(test_lease__release_lets_a_waiter_in),
		T(test_lease__killed_holder_is_taken_over),
		T(test_lease__get_or_compute_threads_compute_once),
		T(test_lease__get_or_compute_error_stores_nothing),
		T(test_lease__get_or_compute_timeout_computes_anyway),
		T(test_lease__xfetch_formula),
		T(test_lease__xfetch_early_recomputation),
		T(test_lease__xfetch_random_draw),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
