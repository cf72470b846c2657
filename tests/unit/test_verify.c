/*
 * verify: always / stamp (arca_options.verify, docs/cli.md
 * "Verification"), and large puts and gets whose SHA-256 runs on a second
 * thread (src/lib/hash_pipe.c).
 *
 * A stamp is recorded by a read that hashed the whole file, and only once
 * the file's ctime is older than the moment of its fstat (the racy rule,
 * src/lib/local.c "verify: stamp"): wait_past_ctime() waits for that
 * condition, the coarse clock passing the file's ctime (one kernel tick,
 * a few ms), rather than for a fixed time.
 */
#include "fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KIB 1024u
#define MIB (1024u * 1024u)

typedef struct vfix {
	char *dir;
	arca_store *store;
} vfix;

static arca_store *open_store(const char *dir, unsigned int verify,
		uint64_t stamp_min)
{
	arca_options o = ARCA_OPTIONS_INIT;
	arca_store *s = NULL;

	o.verify = verify;
	o.verify_stamp_min = stamp_min;
	o.max_size = 0;
	o.disk_reserve = 0;
	assert_int_equal(arca_store_open(&s, dir, &o), 0);
	return s;
}

static int setup(void **state)
{
	vfix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = fixture_tempdir();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	vfix *f = *state;

	arca_store_close(f->store);
	fixture_rmdir(f->dir);
	free(f);
	return 0;
}

static unsigned char *pattern(size_t len, uint64_t seed)
{
	unsigned char *p = malloc(len);
	uint64_t x = seed | 1;
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)x;
	}
	return p;
}

static char *blob_file(const char *dir, const arca_digest *d)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	arca_digest_to_hex(hex, d);
	return fixture_path("%s/blobs/%.2s/%s", dir, hex, hex);
}

/* Wait until the coarse clock the kernel stamps files with has passed
 * path's ctime (2 s past it where times look coarser than a ms). */
static void wait_past_ctime(const char *path)
{
	struct stat st;
	struct timespec now, tick = { 0, 1000000 };
	long long c, margin;
	int i;

	assert_int_equal(stat(path, &st), 0);
	c = (long long)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;
	margin = st.st_ctim.tv_nsec % 1000000 == 0 ? 2000000000LL : 0;
	for (i = 0; i < 5000; i++) {
		assert_int_equal(clock_gettime(CLOCK_REALTIME_COARSE, &now), 0);
		if ((long long)now.tv_sec * 1000000000LL + now.tv_nsec >
				c + margin)
			return;
		nanosleep(&tick, NULL);
	}
	fail_msg("the coarse clock did not pass %s's ctime", path);
}

/* The stamp column of d's row: malloc'd, NULL when none. */
static char *row_stamp(const char *dir, const arca_digest *d)
{
	sqlite3 *db = fixture_index_open(dir);
	sqlite3_stmt *st;
	char *out = NULL;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT stamp FROM blobs "
			"WHERE digest = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, d->bytes, ARCA_DIGEST_SIZE, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	if (sqlite3_column_type(st, 0) == SQLITE_TEXT)
		out = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

static char *stat_text(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return fixture_path("%llu %llu %llu %lld %lld",
			(unsigned long long)st.st_dev,
			(unsigned long long)st.st_ino,
			(unsigned long long)st.st_size,
			(long long)st.st_mtim.tv_sec * 1000000000LL +
			st.st_mtim.tv_nsec,
			(long long)st.st_ctim.tv_sec * 1000000000LL +
			st.st_ctim.tv_nsec);
}

/* Set d's stamp to path's stat data now, as if the bytes had been
 * verified in this state: what a fault that leaves the stat data alone
 * (a media error, a write beneath the file system) amounts to. */
static void forge_stamp(const char *dir, const arca_digest *d,
		const char *path)
{
	sqlite3 *db = fixture_index_open(dir);
	sqlite3_stmt *st;
	char *text = stat_text(path);

	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE blobs SET stamp = ?2 "
			"WHERE digest = ?1", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, d->bytes, ARCA_DIGEST_SIZE, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(text);
}

/* Flip one byte of a read-only blob file the way a user would: chmod
 * u+w, write, chmod back (mtime and ctime change). */
static void flip_rewrite(const char *path, long offset)
{
	assert_int_equal(chmod(path, 0644), 0);
	fixture_flip_byte(path, offset);
	assert_int_equal(chmod(path, 0444), 0);
}

static int quarantined(const char *dir, const arca_digest *d)
{
	char hex[ARCA_DIGEST_HEXLEN + 1], *q;
	int ok;

	arca_digest_to_hex(hex, d);
	q = fixture_path("%s/quarantine/%s", dir, hex);
	ok = access(q, F_OK) == 0;
	free(q);
	return ok;
}

/* Put len pattern bytes, read once after the racy window: stamped. */
static void put_and_stamp(vfix *f, size_t len, arca_digest *d,
		unsigned char **data_out, char **path_out)
{
	unsigned char *data = pattern(len, len);
	arca_buf b = ARCA_BUF_INIT;
	char *path, *want, *got;

	assert_int_equal(arca_blob_put(d, f->store, data, len), 0);
	path = blob_file(f->dir, d);
	/* A put does not stamp: its file was renamed a moment ago. */
	assert_null(row_stamp(f->dir, d));
	wait_past_ctime(path);
	assert_int_equal(arca_blob_get(&b, f->store, d), 0);
	assert_int_equal(b.size, len);
	assert_memory_equal(b.data, data, len);
	arca_buf_free(&b);
	got = row_stamp(f->dir, d);
	want = stat_text(path);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
	free(want);
	*data_out = data;
	*path_out = path;
}

/* The stamp is the file's stat data after a read that hashed it; a
 * trusted read does not hash (a forged stamp lets wrong bytes through:
 * the documented limit), arca_store_verify() hashes regardless. */
static void test_verify__stamp_trusted_read_and_verify(void **state)
{
	vfix *f = *state;
	unsigned char *data;
	char *path;
	arca_digest d;
	arca_buf b = ARCA_BUF_INIT;
	uint64_t checked = 0, corrupt = 0;

	f->store = open_store(f->dir, ARCA_VERIFY_STAMP, 256 * KIB);
	put_and_stamp(f, 1 * MIB, &d, &data, &path);
	/* A fault the stat data does not show: a flipped byte, and the
	 * stamp forged to the file's new stat data. */
	flip_rewrite(path, 4000);
	forge_stamp(f->dir, &d, path);
	assert_int_equal(arca_blob_get(&b, f->store, &d), 0);
	assert_int_equal(b.size, 1 * MIB);
	assert_int_not_equal(memcmp(b.data, data, 1 * MIB), 0);
	arca_buf_free(&b);
	/* arca verify re-hashes under stamp too. */
	assert_int_equal(arca_store_verify(&checked, &corrupt, f->store, NULL,
			NULL), 0);
	assert_int_equal(checked, 1);
	assert_int_equal(corrupt, 1);
	assert_true(quarantined(f->dir, &d));
	assert_int_equal(arca_blob_stat(NULL, f->store, &d), ARCA_ENOTFOUND);
	free(data);
	free(path);
}

/* The same fault under verify: always is found by the read itself. */
static void test_verify__always_ignores_stamp(void **state)
{
	vfix *f = *state;
	unsigned char *data;
	char *path;
	arca_digest d;
	arca_buf b = ARCA_BUF_INIT;

	f->store = open_store(f->dir, ARCA_VERIFY_STAMP, 256 * KIB);
	put_and_stamp(f, 1 * MIB, &d, &data, &path);
	arca_store_close(f->store);
	f->store = open_store(f->dir, ARCA_VERIFY_ALWAYS, 256 * KIB);
	flip_rewrite(path, 4000);
	forge_stamp(f->dir, &d, path);
	assert_int_equal(arca_blob_get(&b, f->store, &d), ARCA_ECORRUPT);
	assert_null(b.data);
	assert_true(quarantined(f->dir, &d));
	free(data);
	free(path);
}

/* A rewrite (chmod u+w, flip, chmod back) changes mtime and ctime: the
 * next read under stamp hashes, finds the flip, quarantines. */
static void test_verify__stamp_rewrite_detected(void **state)
{
	vfix *f = *state;
	unsigned char *data;
	char *path;
	arca_digest d;
	arca_buf b = ARCA_BUF_INIT;

	f->store = open_store(f->dir, ARCA_VERIFY_STAMP, 256 * KIB);
	put_and_stamp(f, 1 * MIB, &d, &data, &path);
	flip_rewrite(path, 123456);
	assert_int_equal(arca_blob_get(&b, f->store, &d), ARCA_ECORRUPT);
	assert_null(b.data);
	assert_true(quarantined(f->dir, &d));
	assert_int_equal(arca_blob_stat(NULL, f->store, &d), ARCA_ENOTFOUND);
	free(data);
	free(path);
}

/* A flip with mtime put back (touch -d, utimensat): ctime cannot be set
 * back by any call, and the stamp holds it, so the read still hashes. */
static void test_verify__stamp_times_restored_detected(void **state)
{
	vfix *f = *state;
	unsigned char *data;
	char *path;
	arca_digest d;
	arca_buf b = ARCA_BUF_INIT;
	struct stat before, after;
	struct timespec times[2];

	f->store = open_store(f->dir, ARCA_VERIFY_STAMP, 256 * KIB);
	put_and_stamp(f, 1 * MIB, &d, &data, &path);
	assert_int_equal(stat(path, &before), 0);
	flip_rewrite(path, 999);
	times[0] = before.st_atim;
	times[1] = before.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
	assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	assert_int_equal(after.st_size, before.st_size);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_int_equal(arca_blob_get(&b, f->store, &d), ARCA_ECORRUPT);
	assert_true(quarantined(f->dir, &d));
	free(data);
	free(path);
}

/* Blobs under verify_stamp_min are always hashed: no stamp is kept, and
 * a forged one is not trusted. */
static void test_verify__small_blob_always_hashed(void **state)
{
	vfix *f = *state;
	unsigned char *data = pattern(512 * KIB, 7);
	char *path;
	arca_digest d;
	arca_buf b = ARCA_BUF_INIT;

	f->store = open_store(f->dir, ARCA_VERIFY_STAMP, 1 * MIB);
	assert_int_equal(arca_blob_put(&d, f->store, data, 512 * KIB), 0);
	path = blob_file(f->dir, &d);
	wait_past_ctime(path);
	assert_int_equal(arca_blob_get(&b, f->store, &d), 0);
	arca_buf_free(&b);
	assert_null(row_stamp(f->dir, &d));
	flip_rewrite(path, 10);
	forge_stamp(f->dir, &d, path);
	assert_int_equal(arca_blob_get(&b, f->store, &d), ARCA_ECORRUPT);
	assert_true(quarantined(f->dir, &d));
	free(data);
	free(path);
}

/* arca_blob_open() under stamp trusts and records the same stamp. */
static void test_verify__blob_open_uses_stamp(void **state)
{
	vfix *f = *state;
	unsigned char *data;
	char *path;
	arca_digest d;
	int fd = -1;
	uint64_t size = 0;

	f->store = open_store(f->dir, ARCA_VERIFY_STAMP, 256 * KIB);
	put_and_stamp(f, 1 * MIB, &d, &data, &path);
	/* A new handle: not its per-handle record, the index's stamp. */
	arca_store_close(f->store);
	f->store = open_store(f->dir, ARCA_VERIFY_STAMP, 256 * KIB);
	flip_rewrite(path, 77);
	forge_stamp(f->dir, &d, path);
	assert_int_equal(arca_blob_open(&fd, &size, f->store, &d), 0);
	assert_true(fd >= 0);
	close(fd);
	arca_store_close(f->store);
	f->store = open_store(f->dir, ARCA_VERIFY_ALWAYS, 256 * KIB);
	assert_int_equal(arca_blob_open(&fd, &size, f->store, &d),
			ARCA_ECORRUPT);
	free(data);
	free(path);
}

#define BIG (100u * MIB)

static char *write_big(const char *dir, unsigned char **data_out)
{
	unsigned char *data = pattern(BIG, 42);
	char *src = fixture_path("%s/big.src", dir);

	fixture_write_file(src, data, BIG);
	*data_out = data;
	return src;
}

/* 100 MiB through the threaded put and get: the right digest, the right
 * bytes. */
static void test_verify__threaded_put_get_100mib(void **state)
{
	vfix *f = *state;
	unsigned char *data, *got;
	char *src, *out;
	arca_digest d, want;
	uint64_t size = 0;
	size_t len = 0;

	f->store = open_store(f->dir, ARCA_VERIFY_ALWAYS, 64 * MIB);
	src = write_big(f->dir, &data);
	assert_int_equal(arca_digest_buffer(&want, data, BIG), 0);
	assert_int_equal(arca_blob_put_file(&d, &size, f->store, src), 0);
	assert_true(arca_digest_equal(&d, &want));
	assert_int_equal(size, BIG);
	out = fixture_path("%s/big.out", f->dir);
	assert_int_equal(arca_blob_get_file(f->store, &d, out, 0644), 0);
	got = fixture_read_file(out, &len);
	assert_non_null(got);
	assert_int_equal(len, BIG);
	assert_memory_equal(got, data, BIG);
	free(got);
	free(data);
	free(src);
	free(out);
}

/* A flipped byte in the middle of a 100 MiB blob: the threaded get finds
 * it, quarantines, and publishes nothing. */
static void test_verify__threaded_get_flip_caught(void **state)
{
	vfix *f = *state;
	unsigned char *data;
	char *src, *out, *path;
	arca_digest d;
	uint64_t size = 0;

	f->store = open_store(f->dir, ARCA_VERIFY_ALWAYS, 64 * MIB);
	src = write_big(f->dir, &data);
	assert_int_equal(arca_blob_put_file(&d, &size, f->store, src), 0);
	path = blob_file(f->dir, &d);
	flip_rewrite(path, (long)(BIG / 2 + 12345));
	out = fixture_path("%s/big.out", f->dir);
	assert_int_equal(arca_blob_get_file(f->store, &d, out, 0644),
			ARCA_ECORRUPT);
	assert_int_equal(access(out, F_OK), -1);
	assert_true(quarantined(f->dir, &d));
	assert_int_equal(arca_blob_stat(NULL, f->store, &d), ARCA_ENOTFOUND);
	free(data);
	free(src);
	free(out);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_verify__stamp_trusted_read_and_verify, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_verify__always_ignores_stamp, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_verify__stamp_rewrite_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_verify__stamp_times_restored_detected, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_verify__small_blob_always_hashed, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_verify__blob_open_uses_stamp, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_verify__threaded_put_get_100mib, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_verify__threaded_get_flip_caught, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
