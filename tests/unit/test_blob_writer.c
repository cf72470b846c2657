/*
 * arca_blob_writer: a blob written in pieces, hashed by the store, and
 * visible only once committed (an HTTP upload's path in arca serve).
 */
#include "fixture.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define KIB 1024u

static unsigned char *pattern(size_t len, unsigned seed)
{
	unsigned char *p = malloc(len ? len : 1);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++)
		p[i] = (unsigned char)((i * 131u + seed * 7u) ^ (i >> 9));
	return p;
}

/* Write data in pieces of step bytes. */
static void write_pieces(arca_blob_writer *w, const unsigned char *data,
		size_t len, size_t step)
{
	size_t off, n;

	for (off = 0; off < len; off += n) {
		n = len - off < step ? len - off : step;
		assert_int_equal(arca_blob_writer_write(w, data + off, n), 0);
	}
}

/* Files in DIR/sub other than pin records. */
static int count_files(const char *dir, const char *sub)
{
	char *path = fixture_path("%s/%s", dir, sub);
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && strncmp(e->d_name, "pins-", 5) != 0)
			n++;
	closedir(d);
	free(path);
	return n;
}

/* Blob files under blobs/xx/. */
static int count_blob_files(const char *dir)
{
	char *path = fixture_path("%s/blobs", dir);
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char *sub;

		if (e->d_name[0] == '.')
			continue;
		sub = fixture_path("blobs/%s", e->d_name);
		n += count_files(dir, sub);
		free(sub);
	}
	closedir(d);
	free(path);
	return n;
}

static void test_blob_writer__commit_stores_the_hashed_bytes(void **state)
{
	fixture_store *f = *state;
	const size_t len = 3 * 1024 * KIB + 123;
	unsigned char *data = pattern(len, 1);
	arca_blob_writer *w = NULL;
	arca_buf got = ARCA_BUF_INIT;
	arca_digest want, d;
	uint64_t size = 0;
	struct stat st;
	char hex[ARCA_DIGEST_HEXLEN + 1], *file;

	assert_int_equal(arca_digest_buffer(&want, data, len), 0);
	assert_int_equal(arca_blob_writer_open(&w, f->store), 0);
	write_pieces(w, data, len, 7 * KIB + 3);
	/* Nothing is visible before the commit. */
	assert_int_equal(arca_blob_stat(NULL, f->store, &want), ARCA_ENOTFOUND);
	assert_int_equal(count_files(f->dir, "tmp"), 0);
	assert_int_equal(arca_blob_writer_commit(&d, &size, w, &want), 0);
	assert_true(arca_digest_equal(&d, &want));
	assert_int_equal(size, len);
	arca_blob_writer_free(w);
	assert_int_equal(arca_blob_get(&got, f->store, &want), 0);
	assert_int_equal(got.size, len);
	assert_memory_equal(got.data, data, len);
	arca_buf_free(&got);
	/* A read-only file in blobs/, no leftover in tmp/. */
	arca_digest_to_hex(hex, &want);
	file = fixture_path("%s/blobs/%.2s/%s", f->dir, hex, hex);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_size, (off_t)len);
	assert_int_equal(st.st_mode & 0777, 0444);
	assert_int_equal(count_files(f->dir, "tmp"), 0);
	free(file);
	free(data);
}

static void test_blob_writer__small_blob_is_inline(void **state)
{
	fixture_store *f = *state;
	const char text[] = "a small upload";
	arca_blob_writer *w = NULL;
	arca_buf got = ARCA_BUF_INIT;
	arca_digest want, d;

	assert_int_equal(arca_digest_buffer(&want, text, sizeof(text)), 0);
	assert_int_equal(arca_blob_writer_open(&w, f->store), 0);
	write_pieces(w, (const unsigned char *)text, sizeof(text), 5);
	assert_int_equal(arca_blob_writer_commit(&d, NULL, w, NULL), 0);
	arca_blob_writer_free(w);
	assert_true(arca_digest_equal(&d, &want));
	assert_int_equal(arca_blob_get(&got, f->store, &want), 0);
	assert_int_equal(got.size, sizeof(text));
	assert_memory_equal(got.data, text, sizeof(text));
	arca_buf_free(&got);
	assert_int_equal(count_blob_files(f->dir), 0);
}

static void test_blob_writer__wrong_expected_digest_stores_nothing(void **state)
{
	fixture_store *f = *state;
	const size_t len = 512 * KIB;
	unsigned char *data = pattern(len, 2);
	arca_blob_writer *w = NULL;
	arca_digest want, claimed, d;

	assert_int_equal(arca_digest_buffer(&want, data, len), 0);
	claimed = want;
	claimed.bytes[0] ^= 1;
	assert_int_equal(arca_blob_writer_open(&w, f->store), 0);
	write_pieces(w, data, len, 64 * KIB);
	assert_int_equal(arca_blob_writer_commit(&d, NULL, w, &claimed),
			ARCA_ECORRUPT);
	/* The digest of what was written comes back all the same. */
	assert_true(arca_digest_equal(&d, &want));
	/* Committed once: no second try. */
	assert_int_equal(arca_blob_writer_commit(&d, NULL, w, NULL),
			ARCA_EINVAL);
	assert_int_equal(arca_blob_writer_write(w, data, 1), ARCA_EINVAL);
	arca_blob_writer_free(w);
	assert_int_equal(arca_blob_stat(NULL, f->store, &want), ARCA_ENOTFOUND);
	assert_int_equal(arca_blob_stat(NULL, f->store, &claimed),
			ARCA_ENOTFOUND);
	assert_int_equal(count_blob_files(f->dir), 0);
	assert_int_equal(count_files(f->dir, "tmp"), 0);
	free(data);
}

static void test_blob_writer__abandoned_leaves_nothing(void **state)
{
	fixture_store *f = *state;
	const size_t len = 2 * 1024 * KIB;
	unsigned char *data = pattern(len, 3);
	arca_blob_writer *w = NULL;
	arca_digest want;
	uint64_t usage = 9;

	assert_int_equal(arca_digest_buffer(&want, data, len), 0);
	assert_int_equal(arca_blob_writer_open(&w, f->store), 0);
	write_pieces(w, data, len, 100 * KIB);
	arca_blob_writer_free(w);
	assert_int_equal(arca_blob_stat(NULL, f->store, &want), ARCA_ENOTFOUND);
	assert_int_equal(count_blob_files(f->dir), 0);
	assert_int_equal(count_files(f->dir, "tmp"), 0);
	assert_int_equal(arca_store_usage(&usage, NULL, f->store), 0);
	assert_int_equal(usage, 0);
	free(data);
}

/* A writer killed mid-write (SIGKILL, no cleanup of any kind): no blob,
 * no row, no file in tmp/ or blobs/. */
static void test_blob_writer__killed_mid_write_leaves_nothing(void **state)
{
	fixture_store *f = *state;
	const size_t len = 4 * 1024 * KIB;
	unsigned char *data = pattern(len, 4);
	arca_digest want;
	int ready[2], status = 0;
	pid_t pid;
	char c;

	assert_int_equal(arca_digest_buffer(&want, data, len), 0);
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_store *s = NULL;
		arca_blob_writer *w = NULL;

		close(ready[0]);
		if (arca_store_open(&s, f->dir, NULL) != 0 ||
		    arca_blob_writer_open(&w, s) != 0 ||
		    arca_blob_writer_write(w, data, len - 1) != 0)
			_exit(1);
		(void)!write(ready[1], "x", 1);
		for (;;)
			pause();
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(arca_blob_stat(NULL, f->store, &want), ARCA_ENOTFOUND);
	assert_int_equal(count_blob_files(f->dir), 0);
	assert_int_equal(count_files(f->dir, "tmp"), 0);
	free(data);
}

/* Other calls on the handle between two writes (a server's thread serves
 * other requests between the pieces of an upload) do not disturb it. */
static void test_blob_writer__interleaved_with_other_calls(void **state)
{
	fixture_store *f = *state;
	const size_t len = 1024 * KIB;
	unsigned char *a = pattern(len, 5), *b = pattern(len, 6);
	unsigned char *other = pattern(300 * KIB, 7);
	arca_blob_writer *wa = NULL, *wb = NULL;
	arca_buf got = ARCA_BUF_INIT;
	arca_digest da, db, dother, d;
	size_t off;

	assert_int_equal(arca_digest_buffer(&da, a, len), 0);
	assert_int_equal(arca_digest_buffer(&db, b, len), 0);
	assert_int_equal(arca_blob_put(&dother, f->store, other, 300 * KIB), 0);
	assert_int_equal(arca_blob_writer_open(&wa, f->store), 0);
	assert_int_equal(arca_blob_writer_open(&wb, f->store), 0);
	for (off = 0; off < len; off += 64 * KIB) {
		assert_int_equal(arca_blob_writer_write(wa, a + off, 64 * KIB), 0);
		assert_int_equal(arca_blob_get(&got, f->store, &dother), 0);
		arca_buf_free(&got);
		assert_int_equal(arca_blob_writer_write(wb, b + off, 64 * KIB), 0);
	}
	assert_int_equal(arca_blob_writer_commit(&d, NULL, wb, &db), 0);
	assert_int_equal(arca_blob_writer_commit(&d, NULL, wa, &da), 0);
	arca_blob_writer_free(wa);
	arca_blob_writer_free(wb);
	assert_int_equal(arca_blob_get(&got, f->store, &da), 0);
	assert_memory_equal(got.data, a, len);
	arca_buf_free(&got);
	assert_int_equal(arca_blob_get(&got, f->store, &db), 0);
	assert_memory_equal(got.data, b, len);
	arca_buf_free(&got);
	free(a);
	free(b);
	free(other);
}

static void test_blob_writer__already_stored(void **state)
{
	fixture_store *f = *state;
	const size_t len = 700 * KIB;
	unsigned char *data = pattern(len, 8);
	arca_blob_writer *w = NULL;
	arca_digest want, d;
	uint64_t before = 0, after = 0;

	assert_int_equal(arca_blob_put(&want, f->store, data, len), 0);
	assert_int_equal(arca_store_usage(&before, NULL, f->store), 0);
	assert_int_equal(arca_blob_writer_open(&w, f->store), 0);
	write_pieces(w, data, len, 100 * KIB);
	assert_int_equal(arca_blob_writer_commit(&d, NULL, w, &want), 0);
	arca_blob_writer_free(w);
	assert_int_equal(arca_store_usage(&after, NULL, f->store), 0);
	assert_int_equal(after, before);
	assert_int_equal(count_blob_files(f->dir), 1);
	assert_int_equal(count_files(f->dir, "tmp"), 0);
	free(data);
}

/* Over the limit with nothing to evict: ARCA_EFULL, nothing left. */
static void test_blob_writer__full_store(void **state)
{
	fixture_store *f = *state;
	arca_options o = ARCA_OPTIONS_INIT;
	const size_t len = 2 * 1024 * KIB;
	unsigned char *data = pattern(len, 9);
	arca_store *s = NULL;
	arca_blob_writer *w = NULL;
	arca_digest want, d;

	o.max_size = 1024 * KIB;
	assert_int_equal(arca_digest_buffer(&want, data, len), 0);
	assert_int_equal(arca_store_open(&s, f->dir, &o), 0);
	assert_int_equal(arca_blob_writer_open(&w, s), 0);
	write_pieces(w, data, len, 256 * KIB);
	assert_int_equal(arca_blob_writer_commit(&d, NULL, w, &want),
			ARCA_EFULL);
	arca_blob_writer_free(w);
	assert_int_equal(arca_blob_stat(NULL, s, &want), ARCA_ENOTFOUND);
	assert_int_equal(count_blob_files(f->dir), 0);
	assert_int_equal(count_files(f->dir, "tmp"), 0);
	arca_store_close(s);
	free(data);
}

/*
 * Pins: a blob committed inside a stage's hold stays pinned until the
 * action is committed, so that another handle's eviction (to 0 bytes)
 * cannot take it between the two; afterwards the pins are released.
 */
typedef struct hold_ctx {
	arca_store *writer, *other;
	arca_action *action;
	arca_digest value;
	size_t len;
} hold_ctx;

static int compute(arca_manifest **out, void *vctx)
{
	hold_ctx *c = vctx;
	unsigned char *data = pattern(c->len, 10);
	arca_manifest *m = NULL;
	arca_blob_writer *w = NULL;
	arca_digest empty;
	uint64_t pinned = 0;

	assert_int_equal(arca_manifest_from_action(&m, c->action), 0);
	assert_int_equal(arca_blob_writer_open(&w, c->writer), 0);
	write_pieces(w, data, c->len, 128 * KIB);
	assert_int_equal(arca_blob_writer_commit(&c->value, NULL, w, NULL), 0);
	arca_blob_writer_free(w);
	assert_int_equal(arca_store_pinned(&pinned, c->other), 0);
	assert_int_equal(pinned, c->len);
	assert_int_equal(arca_store_evict(NULL, NULL, c->other, 0), 0);
	assert_int_equal(arca_blob_stat(NULL, c->other, &c->value), 0);
	assert_int_equal(arca_manifest_add_output(m, "out", &c->value, c->len,
			0644), 0);
	assert_int_equal(arca_blob_put(&empty, c->writer, NULL, 0), 0);
	m->stdout_digest = empty;
	m->stderr_digest = empty;
	*out = m;
	free(data);
	return 0;
}

static void test_blob_writer__pinned_until_the_action_commits(void **state)
{
	fixture_store *f = *state;
	arca_manifest *m = NULL;
	arca_digest key;
	uint64_t pinned = 9;
	int computed = 0;
	hold_ctx c;

	memset(&c, 0, sizeof(c));
	c.len = 600 * KIB;
	c.writer = f->store;
	assert_int_equal(arca_store_open(&c.other, f->dir, NULL), 0);
	assert_int_equal(arca_action_new(&c.action, "writer"), 0);
	assert_int_equal(arca_action_add_output(c.action, "out"), 0);
	assert_int_equal(arca_manifest_from_action(&m, c.action), 0);
	key = m->key;
	arca_manifest_free(m);
	m = NULL;
	assert_int_equal(arca_get_or_compute(&m, &computed, f->store, &key,
			compute, &c, NULL), 0);
	assert_int_equal(computed, 1);
	arca_manifest_free(m);
	assert_int_equal(arca_store_pinned(&pinned, c.other), 0);
	assert_int_equal(pinned, 0);
	assert_int_equal(arca_blob_stat(NULL, c.other, &c.value), 0);
	arca_store_close(c.other);
	arca_action_free(c.action);
}

/* A plain commit releases its pin when it returns, as a plain put. */
static void test_blob_writer__pin_released_after_commit(void **state)
{
	fixture_store *f = *state;
	const size_t len = 400 * KIB;
	unsigned char *data = pattern(len, 11);
	arca_blob_writer *w = NULL;
	arca_digest d;
	uint64_t pinned = 9;

	assert_int_equal(arca_blob_writer_open(&w, f->store), 0);
	write_pieces(w, data, len, 50 * KIB);
	assert_int_equal(arca_blob_writer_commit(&d, NULL, w, NULL), 0);
	arca_blob_writer_free(w);
	assert_int_equal(arca_store_pinned(&pinned, f->store), 0);
	assert_int_equal(pinned, 0);
	free(data);
}

static void test_blob_writer__read_only_store(void **state)
{
	fixture_store *f = *state;
	arca_options o = ARCA_OPTIONS_INIT;
	arca_store *s = NULL;
	arca_blob_writer *w = NULL;

	o.read_only = 1;
	assert_int_equal(arca_store_open(&s, f->dir, &o), 0);
	assert_int_equal(arca_blob_writer_open(&w, s), ARCA_EPERM);
	assert_null(w);
	arca_store_close(s);
	arca_blob_writer_free(NULL);
}

#define T(name) cmocka_unit_test_setup_teardown(name, fixture_store_setup, \
		fixture_store_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_blob_writer__commit_stores_the_hashed_bytes),
		T(test_blob_writer__small_blob_is_inline),
		T(test_blob_writer__wrong_expected_digest_stores_nothing),
		T(test_blob_writer__abandoned_leaves_nothing),
		T(test_blob_writer__killed_mid_write_leaves_nothing),
		T(test_blob_writer__interleaved_with_other_calls),
		T(test_blob_writer__already_stored),
		T(test_blob_writer__full_store),
		T(test_blob_writer__pinned_until_the_action_commits),
		T(test_blob_writer__pin_released_after_commit),
		T(test_blob_writer__read_only_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
