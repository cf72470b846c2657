/*
 * The stat cache (arca_store_digest_file(), docs/store.md "Stat cache"):
 * a file whose stat data is unchanged is not read again; racy entries
 * (git's Documentation/technical/racy-git.txt) are; a replaced, touched
 * or changed file is read; the table is bounded by LRU; a file that
 * changes while it is read is never recorded.
 *
 * "Not read" is measured by arca_store_stat_cache_stats()'s bytes_hashed
 * and misses, which count every read arca_store_digest_file() makes.
 * The store's clock (arca_set_clock) is put ahead of the files' times so
 * that entries are not racy, without sleeping.
 */
#include "fixture.h"

#include "arca/pipeline.h"
#include "arca/pipeline_run.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

/* The clock 100 s ahead: every file written now is old enough to trust. */
static void clock_ahead(void)
{
	fake_now = (int64_t)time(NULL) + 100;
	arca_set_clock(fake_clock, NULL);
}

static int setup(void **state)
{
	unsetenv("ARCA_NO_STAT_CACHE");
	unsetenv("ARCA_STAT_CACHE_ENTRIES");
	unsetenv("ARCA_TEST_NOW");
	arca_set_clock(NULL, NULL);
	return fixture_store_setup(state);
}

static int teardown(void **state)
{
	arca_set_clock(NULL, NULL);
	unsetenv("ARCA_NO_STAT_CACHE");
	unsetenv("ARCA_STAT_CACHE_ENTRIES");
	return fixture_store_teardown(state);
}

static arca_stat_cache_stats stats_of(arca_store *s)
{
	arca_stat_cache_stats st;

	assert_int_equal(arca_store_stat_cache_stats(&st, s), 0);
	return st;
}

static void digest_ok(arca_digest *out, arca_store *s, const char *path)
{
	uint64_t size = 0;

	assert_int_equal(arca_store_digest_file(out, &size, s, path, 0,
			NULL, NULL), 0);
}

static void assert_digest_of(const arca_digest *d, const char *path)
{
	arca_digest want;

	assert_int_equal(arca_digest_file(&want, NULL, path), 0);
	assert_true(arca_digest_equal(d, &want));
}

static void reopen(fixture_store *f)
{
	arca_store_close(f->store);
	f->store = NULL;
	assert_int_equal(arca_store_open(&f->store, f->dir, NULL), 0);
}

/* An unchanged file hits without being read, also after the store is
 * closed and opened again (the entry was written at close). */
static void test_stat_cache__unchanged_file_not_read(void **state)
{
	fixture_store *f = *state;
	char *path = fixture_path("%s/in.bin", f->dir);
	arca_digest d1, d2;
	arca_stat_cache_stats st;

	fixture_write_file(path, "hello, stat cache", 17);
	clock_ahead();
	digest_ok(&d1, f->store, path);
	st = stats_of(f->store);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.bytes_hashed, 17);
	assert_int_equal(st.recorded, 1);
	digest_ok(&d2, f->store, path);
	st = stats_of(f->store);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.bytes_hashed, 17);
	assert_true(arca_digest_equal(&d1, &d2));
	assert_digest_of(&d2, path);

	reopen(f);
	digest_ok(&d2, f->store, path);
	st = stats_of(f->store);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.bytes_hashed, 0);
	assert_true(arca_digest_equal(&d1, &d2));

	/* ARCA_DIGEST_REHASH reads it, and so does a store whose digest
	 * flags say so (--rehash). */
	assert_int_equal(arca_store_digest_file(&d2, NULL, f->store, path,
			ARCA_DIGEST_REHASH, NULL, NULL), 0);
	assert_int_equal(stats_of(f->store).bytes_hashed, 17);
	arca_store_set_digest_flags(f->store, ARCA_DIGEST_REHASH);
	digest_ok(&d2, f->store, path);
	assert_int_equal(stats_of(f->store).bytes_hashed, 34);
	arca_store_set_digest_flags(f->store, 0);
	digest_ok(&d2, f->store, path);
	assert_int_equal(stats_of(f->store).bytes_hashed, 34);
	free(path);
}

/*
 * The racy case: a file recorded in the same second it was written may
 * be rewritten without its stat data changing, so such an entry is not
 * trusted (with the real clock, a file just written is always racy): it
 * is read again each time, and a rewrite of the same size in the same
 * second gives the new digest.
 */
static void test_stat_cache__racy_entry_read_again(void **state)
{
	fixture_store *f = *state;
	char *path = fixture_path("%s/racy.txt", f->dir);
	arca_digest d1, d2;
	arca_stat_cache_stats st;

	fixture_write_file(path, "AAAA", 4);
	digest_ok(&d1, f->store, path);
	digest_ok(&d2, f->store, path);
	st = stats_of(f->store);
	assert_int_equal(st.hits, 0);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.recorded, 0);
	fixture_write_file(path, "BBBB", 4);
	digest_ok(&d2, f->store, path);
	assert_false(arca_digest_equal(&d1, &d2));
	assert_digest_of(&d2, path);

	/* Once the file is old enough (here: the clock moved on), it is
	 * recorded, and then trusted. */
	clock_ahead();
	digest_ok(&d2, f->store, path);
	digest_ok(&d2, f->store, path);
	st = stats_of(f->store);
	assert_int_equal(st.recorded, 1);
	assert_int_equal(st.hits, 1);
	assert_digest_of(&d2, path);
	free(path);
}

/* A row whose recorded moment is not older than the file's times (left
 * by a clock that was ahead, then set back) is racy: not trusted. */
static void test_stat_cache__racy_row_not_trusted(void **state)
{
	fixture_store *f = *state;
	char *path = fixture_path("%s/row.txt", f->dir);
	arca_digest d;
	sqlite3 *db;
	struct stat sb;
	char sql[256];

	fixture_write_file(path, "row", 3);
	clock_ahead();
	digest_ok(&d, f->store, path);
	reopen(f);
	assert_int_equal(stat(path, &sb), 0);
	db = fixture_index_open(f->dir);
	snprintf(sql, sizeof(sql), "UPDATE stat_cache SET recorded_ns = %lld",
			(long long)sb.st_mtim.tv_sec * 1000000000LL +
			sb.st_mtim.tv_nsec);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	digest_ok(&d, f->store, path);
	assert_int_equal(stats_of(f->store).hits, 0);
	assert_int_equal(stats_of(f->store).racy, 1);
	assert_int_equal(stats_of(f->store).bytes_hashed, 3);
	free(path);
}

/* A touched file (same bytes, new mtime) is read again, with the same
 * digest, then hits. */
static void test_stat_cache__touched_file_read_again(void **state)
{
	fixture_store *f = *state;
	char *path = fixture_path("%s/touch.txt", f->dir);
	struct timespec times[2];
	arca_digest d1, d2;

	fixture_write_file(path, "same bytes", 10);
	clock_ahead();
	digest_ok(&d1, f->store, path);
	times[0].tv_sec = times[1].tv_sec = time(NULL) - 50;
	times[0].tv_nsec = times[1].tv_nsec = 123;
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
	digest_ok(&d2, f->store, path);
	assert_int_equal(stats_of(f->store).misses, 2);
	assert_true(arca_digest_equal(&d1, &d2));
	digest_ok(&d2, f->store, path);
	assert_int_equal(stats_of(f->store).hits, 1);
	free(path);
}

/* A file replaced by rename (a new inode, same size, same mtime) is read
 * again. */
static void test_stat_cache__renamed_over_read_again(void **state)
{
	fixture_store *f = *state;
	char *path = fixture_path("%s/a.txt", f->dir);
	char *tmp = fixture_path("%s/a.txt.new", f->dir);
	struct stat sb;
	struct timespec times[2];
	arca_digest d1, d2;

	fixture_write_file(path, "version 1", 9);
	clock_ahead();
	digest_ok(&d1, f->store, path);
	assert_int_equal(stat(path, &sb), 0);
	fixture_write_file(tmp, "version 2", 9);
	times[0] = sb.st_atim;
	times[1] = sb.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, tmp, times, 0), 0);
	assert_int_equal(rename(tmp, path), 0);
	digest_ok(&d2, f->store, path);
	assert_false(arca_digest_equal(&d1, &d2));
	assert_digest_of(&d2, path);
	free(path);
	free(tmp);
}

/* Files on two devices (the store's temp dir and /dev/shm) are told
 * apart by the device: each keeps its own digest. */
static void test_stat_cache__other_device(void **state)
{
	fixture_store *f = *state;
	char *path = fixture_path("%s/dev.txt", f->dir);
	char *other = fixture_path("/dev/shm/arca-stat-cache-%ld.txt",
			(long)getpid());
	struct stat a, b;
	arca_digest d1, d2, e1, e2;

	fixture_write_file(path, "on device 1", 11);
	fixture_write_file(other, "on device 2", 11);
	if (stat(path, &a) != 0 || stat(other, &b) != 0 ||
	    a.st_dev == b.st_dev) {
		unlink(other);
		free(path);
		free(other);
		skip();
	}
	clock_ahead();
	digest_ok(&d1, f->store, path);
	digest_ok(&e1, f->store, other);
	digest_ok(&d2, f->store, path);
	digest_ok(&e2, f->store, other);
	assert_int_equal(stats_of(f->store).hits, 2);
	assert_true(arca_digest_equal(&d1, &d2));
	assert_true(arca_digest_equal(&e1, &e2));
	assert_false(arca_digest_equal(&d1, &e1));
	assert_digest_of(&e2, other);
	reopen(f);
	digest_ok(&e2, f->store, other);
	assert_int_equal(stats_of(f->store).hits, 1);
	assert_digest_of(&e2, other);
	unlink(other);
	free(path);
	free(other);
}

/* ARCA_NO_STAT_CACHE=1: every call reads the file; nothing recorded. */
static void test_stat_cache__off_reads_always(void **state)
{
	fixture_store *f = *state;
	char *path = fixture_path("%s/off.txt", f->dir);
	arca_digest d;
	arca_stat_cache_stats st;

	fixture_write_file(path, "off", 3);
	clock_ahead();
	setenv("ARCA_NO_STAT_CACHE", "1", 1);
	digest_ok(&d, f->store, path);
	digest_ok(&d, f->store, path);
	st = stats_of(f->store);
	assert_int_equal(st.hits, 0);
	assert_int_equal(st.bytes_hashed, 6);
	assert_int_equal(st.recorded, 0);
	unsetenv("ARCA_NO_STAT_CACHE");
	digest_ok(&d, f->store, path);
	digest_ok(&d, f->store, path);
	assert_int_equal(stats_of(f->store).hits, 1);
	free(path);
}

/* The table keeps at most ARCA_STAT_CACHE_ENTRIES rows, dropping the
 * least recently used: an entry that hit since survives. */
static void test_stat_cache__lru_bound(void **state)
{
	fixture_store *f = *state;
	char *paths[15];
	arca_digest d;
	sqlite3 *db;
	int i;

	setenv("ARCA_STAT_CACHE_ENTRIES", "10", 1);
	reopen(f);
	clock_ahead();
	for (i = 0; i < 15; i++) {
		char body[32];

		paths[i] = fixture_path("%s/lru-%02d.txt", f->dir, i);
		snprintf(body, sizeof(body), "file %02d", i);
		fixture_write_file(paths[i], body, strlen(body));
	}
	for (i = 0; i < 10; i++)
		digest_ok(&d, f->store, paths[i]);
	reopen(f);
	/* Two hours on: file 0 hits, so it moves in the LRU; 5 new ones. */
	fake_now += 7200;
	digest_ok(&d, f->store, paths[0]);
	assert_int_equal(stats_of(f->store).hits, 1);
	for (i = 10; i < 15; i++)
		digest_ok(&d, f->store, paths[i]);
	reopen(f);
	db = fixture_index_open(f->dir);
	/* 15 rows over a bound of 10: pruned to 90% of it. */
	assert_int_equal(fixture_index_int(db, "SELECT count(*) FROM "
			"stat_cache"), 9);
	assert_int_equal(fixture_index_int(db, "SELECT CAST(value AS "
			"INTEGER) FROM meta WHERE name = 'stat_cache_rows'"), 9);
	sqlite3_close(db);
	digest_ok(&d, f->store, paths[0]);
	for (i = 10; i < 15; i++)
		digest_ok(&d, f->store, paths[i]);
	assert_int_equal(stats_of(f->store).hits, 6);
	assert_int_equal(stats_of(f->store).bytes_hashed, 0);
	for (i = 0; i < 15; i++)
		free(paths[i]);
}

/* A progress callback that appends a byte to the file being read, on
 * its first call of each of the first `left` passes (a pass starts
 * over from 0: done goes down, or stays). */
typedef struct grower {
	const char *path;
	int left, started;
	uint64_t last;
} grower;

static void grow_pass(void *ctx, uint64_t done, uint64_t total)
{
	grower *g = ctx;
	int new_pass = !g->started || done <= g->last;
	int fd;

	(void)total;
	g->started = 1;
	g->last = done;
	if (!new_pass || g->left == 0)
		return;
	fd = open(g->path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "+", 1), 1);
	close(fd);
	g->left--;
}

/* A file that changes while it is read is read again; changed on both
 * passes, it is refused with ARCA_EIO naming it, and never recorded. */
static void test_stat_cache__changed_while_read(void **state)
{
	fixture_store *f = *state;
	char *path = fixture_path("%s/grow.txt", f->dir);
	grower g = { NULL, 1, 0, 0 };
	arca_digest d;
	uint64_t size = 0;

	g.path = path;
	fixture_write_file(path, "0123456789", 10);
	clock_ahead();
	assert_int_equal(arca_store_digest_file(&d, &size, f->store, path, 0,
			grow_pass, &g), 0);
	assert_int_equal(size, 11);
	assert_digest_of(&d, path);
	assert_int_equal(stats_of(f->store).misses, 2);
	assert_int_equal(stats_of(f->store).recorded, 1);

	fixture_write_file(path, "0123456789", 10);
	g.left = 2;
	g.started = 0;
	g.last = 0;
	assert_int_equal(arca_store_digest_file(&d, &size, f->store, path, 0,
			grow_pass, &g), ARCA_EIO);
	assert_non_null(strstr(arca_errmsg(), path));
	assert_non_null(strstr(arca_errmsg(), "changed while it was read"));
	assert_int_equal(stats_of(f->store).recorded, 1);
	/* Nothing of it was recorded: the next call reads the file. */
	digest_ok(&d, f->store, path);
	assert_int_equal(stats_of(f->store).hits, 0);
	assert_digest_of(&d, path);
	free(path);
}

/* A stage's inputs and tool go through the cache: preparing it again
 * reads no file. */
static void test_stat_cache__stage_prepare_reads_nothing(void **state)
{
	fixture_store *f = *state;
	char *path = fixture_path("%s/stage-in.txt", f->dir);
	char *const argv[] = { "/bin/cat", path, NULL };
	arca_stage_spec spec = ARCA_STAGE_SPEC_INIT;
	arca_stage_input in = { NULL, NULL, NULL };
	arca_stage *st = NULL;
	arca_digest key;
	uint64_t read1;

	fixture_write_file(path, "stage input", 11);
	clock_ahead();
	in.path = path;
	spec.stage = "cat";
	spec.argv = argv;
	spec.inputs = &in;
	spec.n_inputs = 1;
	assert_int_equal(arca_stage_prepare(&st, NULL, f->store, &spec), 0);
	key = *arca_stage_key(st);
	arca_stage_free(st);
	read1 = stats_of(f->store).bytes_hashed;
	assert_true(read1 > 11); /* the input and /bin/cat */
	assert_int_equal(arca_stage_prepare(&st, NULL, f->store, &spec), 0);
	assert_true(arca_digest_equal(&key, arca_stage_key(st)));
	arca_stage_free(st);
	assert_int_equal(stats_of(f->store).bytes_hashed, read1);
	assert_int_equal(stats_of(f->store).hits, 2);
	free(path);
}

/* arca status of a warm pipeline reads no file content: after a run,
 * arca_pipeline_status() hashes its 2 MiB dep and its tool through the
 * cache, reading nothing. */
static void test_stat_cache__warm_status_reads_nothing(void **state)
{
	fixture_store *f = *state;
	static const char yaml[] =
		"stages:\n"
		"  copy:\n"
		"    cmd: [cp, big.bin, out.bin]\n"
		"    deps: [big.bin]\n"
		"    outs: [out.bin]\n";
	arca_pipeline_run_options opts = ARCA_PIPELINE_RUN_OPTIONS_INIT;
	arca_pipeline_report *rep = NULL;
	arca_pipeline *p = NULL;
	char *file = fixture_path("%s/arca.yaml", f->dir);
	char *big = fixture_path("%s/big.bin", f->dir);
	size_t n = 2u << 20;
	unsigned char *bytes = malloc(n);
	uint64_t before;
	size_t i;

	assert_non_null(bytes);
	for (i = 0; i < n; i++)
		bytes[i] = (unsigned char)(i * 31 + 7);
	fixture_write_file(big, bytes, n);
	fixture_write_file(file, yaml, strlen(yaml));
	clock_ahead();
	assert_int_equal(arca_pipeline_load(&p, file), 0);
	assert_int_equal(arca_pipeline_run(&rep, f->store, p, &opts), 0);
	assert_int_equal(rep->n_failed, 0);
	arca_pipeline_report_free(rep);
	rep = NULL;
	assert_true(stats_of(f->store).bytes_hashed >= n);
	reopen(f);
	before = stats_of(f->store).bytes_hashed;
	assert_int_equal(arca_pipeline_status(&rep, f->store, p, &opts), 0);
	assert_int_equal(rep->n_stages, 1);
	assert_int_equal(rep->stages[0].state, ARCA_PIPELINE_STATE_UP_TO_DATE);
	assert_int_equal(stats_of(f->store).bytes_hashed, before);
	assert_true(stats_of(f->store).hits >= 2); /* big.bin and cp */
	arca_pipeline_report_free(rep);
	arca_pipeline_free(p);
	free(bytes);
	free(big);
	free(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_stat_cache__unchanged_file_not_read, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_stat_cache__racy_entry_read_again, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_stat_cache__racy_row_not_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_stat_cache__touched_file_read_again, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_stat_cache__renamed_over_read_again, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_stat_cache__other_device, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_stat_cache__off_reads_always, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_stat_cache__lru_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_stat_cache__changed_while_read, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_stat_cache__stage_prepare_reads_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_stat_cache__warm_status_reads_nothing, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
