/*
 * Pins (issue 8): what a live writer is storing survives eviction and gc
 * however full the store is; a put that cannot fit fails ARCA_EFULL; a
 * dead writer's pins vanish and its orphans are removed.
 */
#include "fixture.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define KIB 1024u
#define LIMIT (1024u * KIB)
#define PIECE (250u * KIB)
#define N_PIECES 4

typedef struct hold_ctx {
	arca_store *writer;     /* the handle computing */
	arca_store *other;      /* another handle, acting meanwhile */
	const char *dir;
	arca_action *action;
	void (*during)(struct hold_ctx *);
	int die;                /* _exit() while holding the pins */
	arca_digest pieces[N_PIECES];
} hold_ctx;

static arca_options limited(void)
{
	arca_options o = ARCA_OPTIONS_INIT;

	o.max_size = LIMIT;
	o.low_watermark_pct = 90;
	return o;
}

static void fill(unsigned char *buf, size_t len, int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)(seed * 131 + i * 7 + i / 251);
}

static arca_action *new_action(int n)
{
	arca_action *a = NULL;
	char arg[32];

	snprintf(arg, sizeof(arg), "n=%d", n);
	assert_int_equal(arca_action_new(&a, "pins"), 0);
	assert_int_equal(arca_action_add_arg(a, arg), 0);
	assert_int_equal(arca_action_add_output(a, "out"), 0);
	return a;
}

/* A stage's compute: put its outputs, act meanwhile, return the
 * manifest (committed by arca_get_or_compute, which then unpins). */
static int compute(arca_manifest **out, void *vctx)
{
	hold_ctx *c = vctx;
	unsigned char *buf = malloc(PIECE);
	arca_manifest *m = NULL;
	arca_digest empty;
	char name[16];
	int i;

	assert_non_null(buf);
	assert_int_equal(arca_manifest_from_action(&m, c->action), 0);
	for (i = 0; i < N_PIECES; i++) {
		fill(buf, PIECE, i + 1);
		assert_int_equal(arca_blob_put(&c->pieces[i], c->writer, buf,
				PIECE), 0);
		snprintf(name, sizeof(name), i ? "out%d" : "out", i);
		assert_int_equal(arca_manifest_add_output(m, name,
				&c->pieces[i], PIECE, 0644), 0);
	}
	free(buf);
	if (c->die)
		_exit(0);
	assert_int_equal(arca_blob_put(&empty, c->writer, NULL, 0), 0);
	m->stdout_digest = empty;
	m->stderr_digest = empty;
	if (c->during)
		c->during(c);
	*out = m;
	return 0;
}

static int has_tmp_blob(const char *dir)
{
	char *tmp = fixture_path("%s/tmp", dir);
	DIR *d = opendir(tmp);
	struct dirent *e;
	int found = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "blob-", 5) == 0)
			found = 1;
	closedir(d);
	free(tmp);
	return found;
}

static void while_held(hold_ctx *c)
{
	unsigned char *big = malloc(512 * KIB);
	uint64_t usage = 0, after = 0, pinned = 0, n = 9;
	arca_digest d, empty;
	arca_buf buf = ARCA_BUF_INIT;
	arca_gc_report rep;
	arca_clear_filter filter;
	arca_action *other = new_action(100);
	arca_manifest *m = NULL;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	int i;

	memset(&filter, 0, sizeof(filter));
	assert_non_null(big);
	assert_int_equal(arca_store_usage(&usage, NULL, c->other), 0);
	assert_true(usage >= N_PIECES * PIECE);
	assert_int_equal(arca_store_pinned(&pinned, c->other), 0);
	assert_int_equal(pinned, N_PIECES * PIECE);
	/* Nothing referenced them yet and they are the only entries: a
	 * grace-free eviction would take them all. */
	assert_int_equal(arca_store_evict(&n, NULL, c->other, 0), 0);
	assert_int_equal(n, 0);
	for (i = 0; i < N_PIECES; i++) {
		assert_int_equal(arca_blob_get(&buf, c->other, &c->pieces[i]), 0);
		arca_buf_free(&buf);
	}
	/* gc keeps them too, unreferenced as they are. */
	assert_int_equal(arca_store_gc(&rep, c->other), 0);
	assert_int_equal(rep.unreferenced_blobs, 0);
	/* Another action naming piece 0 is cleared: the blob only it
	 * referenced stays while the writer pins it. */
	assert_int_equal(arca_manifest_from_action(&m, other), 0);
	assert_int_equal(arca_blob_put(&empty, c->other, NULL, 0), 0);
	assert_int_equal(arca_manifest_add_output(m, "out", &c->pieces[0],
			PIECE, 0644), 0);
	m->stdout_digest = empty;
	m->stderr_digest = empty;
	assert_int_equal(arca_action_put(c->other, m), 0);
	arca_digest_to_hex(hex, &m->key);
	filter.key_prefix = hex;
	assert_int_equal(arca_store_clear(&n, NULL, c->other, &filter), 0);
	assert_int_equal(n, 1);
	arca_manifest_free(m);
	assert_int_equal(arca_blob_get(&buf, c->other, &c->pieces[0]), 0);
	arca_buf_free(&buf);
	/* 512 KiB more cannot fit in 1 MiB: refused, the store unchanged. */
	fill(big, 512 * KIB, 99);
	assert_int_equal(arca_blob_put(&d, c->other, big, 512 * KIB),
			ARCA_EFULL);
	assert_non_null(strstr(arca_errmsg(), "pinned"));
	assert_non_null(strstr(arca_errmsg(), "524288"));
	assert_int_equal(arca_store_usage(&after, NULL, c->other), 0);
	assert_int_equal(after, usage);
	assert_false(has_tmp_blob(c->dir));
	free(big);
	arca_action_free(other);
}

static void test_pins__held_blobs_survive_and_put_fails_full(void **state)
{
	fixture_store *f = *state;
	arca_options o = limited();
	hold_ctx c;
	arca_manifest *m = NULL;
	unsigned char *big = malloc(512 * KIB);
	uint64_t usage = 0, pinned = 9;
	arca_digest d, key;
	int computed = 0;

	memset(&c, 0, sizeof(c));
	c.dir = f->dir;
	c.action = new_action(1);
	c.during = while_held;
	assert_int_equal(arca_store_open(&c.writer, f->dir, &o), 0);
	assert_int_equal(arca_store_open(&c.other, f->dir, &o), 0);
	assert_int_equal(arca_manifest_from_action(&m, c.action), 0);
	key = m->key;
	arca_manifest_free(m);
	assert_int_equal(arca_get_or_compute(&m, &computed, c.writer, &key,
			compute, &c, NULL), 0);
	assert_int_equal(computed, 1);
	arca_manifest_free(m);
	/* Committed and released: the same put now fits by evicting. */
	assert_int_equal(arca_store_pinned(&pinned, c.other), 0);
	assert_int_equal(pinned, 0);
	fill(big, 512 * KIB, 99);
	assert_int_equal(arca_blob_put(&d, c.other, big, 512 * KIB), 0);
	assert_int_equal(arca_store_usage(&usage, NULL, c.other), 0);
	assert_true(usage <= LIMIT);
	free(big);
	arca_store_close(c.writer);
	arca_store_close(c.other);
	arca_action_free(c.action);
}

static void test_pins__plain_put_is_released_on_return(void **state)
{
	fixture_store *f = *state;
	unsigned char buf[200 * KIB];
	uint64_t pinned = 9, n = 0;
	arca_digest d;

	fill(buf, sizeof(buf), 3);
	assert_int_equal(arca_blob_put(&d, f->store, buf, sizeof(buf)), 0);
	assert_int_equal(arca_blob_put(&d, f->store, "small", 5), 0);
	assert_int_equal(arca_store_pinned(&pinned, f->store), 0);
	assert_int_equal(pinned, 0);
	/* However recent, an unpinned blob is evictable. */
	assert_int_equal(arca_store_evict(&n, NULL, f->store, 0), 0);
	assert_int_equal(n, 2);
}

static void test_pins__killed_holder_pins_vanish(void **state)
{
	fixture_store *f = *state;
	uint64_t usage = 0, pinned = 9, n = 0;
	pid_t pid;
	int status;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_options o = limited();
		hold_ctx c;
		arca_manifest *m = NULL;
		arca_digest key;
		int computed;

		memset(&c, 0, sizeof(c));
		c.dir = f->dir;
		c.action = new_action(2);
		c.die = 1;
		if (arca_store_open(&c.writer, f->dir, &o) != 0 ||
		    arca_manifest_from_action(&m, c.action) != 0)
			_exit(1);
		key = m->key;
		arca_manifest_free(m);
		(void)arca_get_or_compute(&m, &computed, c.writer, &key,
				compute, &c, NULL);
		_exit(2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* f->store was open before the writer: the dead record is read by
	 * this handle's eviction, not by an open. */
	assert_int_equal(arca_store_usage(&usage, NULL, f->store), 0);
	assert_int_equal(usage, N_PIECES * PIECE);
	assert_int_equal(arca_store_pinned(&pinned, f->store), 0);
	assert_int_equal(pinned, 0);
	assert_int_equal(arca_store_evict(&n, NULL, f->store, 0), 0);
	assert_int_equal(n, N_PIECES);
	assert_int_equal(arca_store_usage(&usage, NULL, f->store), 0);
	assert_int_equal(usage, 0);
}

/* A dead writer's record and the files it names. */
static void plant_orphans(const char *dir, char *named, char *unnamed)
{
	char *sub, *path, *rec;

	memset(named, 'a', 64);
	named[64] = '\0';
	memset(unnamed, 'b', 64);
	unnamed[64] = '\0';
	sub = fixture_path("%s/blobs/aa", dir);
	mkdir(sub, 0755);
	free(sub);
	sub = fixture_path("%s/blobs/bb", dir);
	mkdir(sub, 0755);
	free(sub);
	path = fixture_path("%s/blobs/aa/%s", dir, named);
	fixture_write_file(path, "left by a dead writer", 21);
	free(path);
	path = fixture_path("%s/blobs/bb/%s", dir, unnamed);
	fixture_write_file(path, "nobody names this", 17);
	free(path);
	rec = fixture_path("%s/tmp/pins-1-dead00", dir);
	path = fixture_path("%s\n", named);
	fixture_write_file(rec, path, 65);
	free(path);
	free(rec);
}

static int exists(const char *dir, const char *rel)
{
	char *path = fixture_path("%s/%s", dir, rel);
	int rc = access(path, F_OK) == 0;

	free(path);
	return rc;
}

static void test_pins__dead_record_orphan_removed(void **state)
{
	fixture_store *f = *state;
	char named[65], unnamed[65], rel[128], other[128];
	unsigned char buf[200 * KIB];
	arca_store *s = NULL;
	arca_buf got = ARCA_BUF_INIT;
	arca_digest kept;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	char *rec, *line;

	/* At open. A blob with a row that the record names stays. */
	fill(buf, sizeof(buf), 5);
	assert_int_equal(arca_blob_put(&kept, f->store, buf, sizeof(buf)), 0);
	arca_digest_to_hex(hex, &kept);
	plant_orphans(f->dir, named, unnamed);
	rec = fixture_path("%s/tmp/pins-2-dead00", f->dir);
	line = fixture_path("%s\n", hex);
	fixture_write_file(rec, line, 65);
	snprintf(rel, sizeof(rel), "blobs/aa/%s", named);
	snprintf(other, sizeof(other), "blobs/bb/%s", unnamed);
	assert_int_equal(arca_store_open(&s, f->dir, NULL), 0);
	assert_false(exists(f->dir, rel));
	assert_true(exists(f->dir, other));
	assert_false(exists(f->dir, "tmp/pins-1-dead00"));
	assert_false(exists(f->dir, "tmp/pins-2-dead00"));
	assert_int_equal(arca_blob_get(&got, s, &kept), 0);
	arca_buf_free(&got);

	/* At eviction, by a handle opened before the writer died. */
	plant_orphans(f->dir, named, unnamed);
	assert_true(exists(f->dir, rel));
	assert_int_equal(arca_store_evict(NULL, NULL, s, UINT64_MAX), 0);
	assert_false(exists(f->dir, rel));
	assert_false(exists(f->dir, "tmp/pins-1-dead00"));
	arca_store_close(s);
	free(rec);
	free(line);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, \
		fixture_store_setup, fixture_store_teardown)
		T(test_pins__held_blobs_survive_and_put_fails_full),
		T(test_pins__plain_put_is_released_on_return),
		T(test_pins__killed_holder_pins_vanish),
		T(test_pins__dead_record_orphan_removed),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
