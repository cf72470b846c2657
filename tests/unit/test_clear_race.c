/*
 * Hits racing a concurrent clear (issue 8): another process clears the
 * store over and over while this one records and reads entries whose
 * output is a file blob. Each read is a hit or a miss, never a corrupt
 * entry, and nothing is quarantined.
 */
#include "fixture.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OUTPUT_SIZE (200u * 1024) /* above the inline threshold: a file */
#define RACE_SECONDS 3

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The clearing process: clear --all until killed. */
static void clear_forever(const char *dir)
{
	arca_clear_filter all = { 1, NULL, NULL, NULL, 0, NULL, NULL, NULL };
	arca_store *s = NULL;

	if (arca_store_open(&s, dir, NULL) != 0)
		_exit(2);
	for (;;) {
		if (arca_store_clear(NULL, NULL, s, &all) != 0 &&
		    arca_store_clear(NULL, NULL, s, &all) != 0)
			_exit(3);
		usleep(1000);
	}
}

/* Record entry i: one output of OUTPUT_SIZE bytes made from i. */
static int record(arca_store *s, unsigned int i, arca_digest *key)
{
	static unsigned char data[OUTPUT_SIZE];
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	arca_digest out, empty;
	char arg[32];
	int error;

	memset(data, (int)(i % 7), sizeof(data));
	snprintf(arg, sizeof(arg), "%u", i % 7);
	assert_int_equal(arca_action_new(&a, "race"), 0);
	assert_int_equal(arca_action_add_arg(a, arg), 0);
	assert_int_equal(arca_action_add_output(a, "out.bin"), 0);
	assert_int_equal(arca_manifest_from_action(&m, a), 0);
	if ((error = arca_blob_put(&out, s, data, sizeof(data))) == 0 &&
	    (error = arca_blob_put(&empty, s, NULL, 0)) == 0 &&
	    (error = arca_manifest_add_output(m, "out.bin", &out,
			sizeof(data), 0644)) == 0) {
		m->stdout_digest = empty;
		m->stderr_digest = empty;
		*key = m->key;
		/* A clear between the blob puts and this one: the
		 * action's blobs are not in the store (ARCA_EINVAL). */
		error = arca_action_put(s, m);
	}
	arca_manifest_free(m);
	arca_action_free(a);
	return error;
}

static void test_clear_race__hit_racing_clear_is_a_miss(void **state)
{
	fixture_store *f = *state;
	char *out_path = fixture_path("%s/restored.bin", f->dir);
	char *quarantine = fixture_path("%s/quarantine", f->dir);
	unsigned int i, hits = 0, misses = 0, corrupt = 0, other = 0;
	double end;
	pid_t pid;
	DIR *d;
	struct dirent *e;
	int status;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		clear_forever(f->dir);
	end = now_s() + RACE_SECONDS;
	for (i = 0; now_s() < end; i++) {
		arca_manifest *m = NULL;
		arca_buf buf = ARCA_BUF_INIT;
		arca_digest key;
		int error;

		error = record(f->store, i, &key);
		if (error != 0 && error != ARCA_EINVAL) {
			other++;
			print_error("put: %s\n", arca_errmsg());
			continue;
		}
		error = arca_action_get(&m, f->store, &key);
		if (error == 0) {
			error = arca_blob_get(&buf, f->store,
					&m->outputs[0].digest);
			if (error == 0)
				error = arca_blob_get_file(f->store,
						&m->outputs[0].digest, out_path,
						0644);
		}
		if (error == 0)
			hits++;
		else if (error == ARCA_ENOTFOUND)
			misses++;
		else if (error == ARCA_ECORRUPT)
			corrupt++, print_error("corrupt: %s\n", arca_errmsg());
		else
			other++, print_error("error: %s\n", arca_errmsg());
		arca_buf_free(&buf);
		arca_manifest_free(m);
	}
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	print_message("%u hits, %u misses\n", hits, misses);
	assert_int_equal(corrupt, 0);
	assert_int_equal(other, 0);
	assert_true(misses > 0); /* the race was run */
	if ((d = opendir(quarantine)) != NULL) {
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.')
				fail_msg("quarantined: %s", e->d_name);
		closedir(d);
	}
	free(out_path);
	free(quarantine);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
				test_clear_race__hit_racing_clear_is_a_miss,
				fixture_store_setup, fixture_store_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
