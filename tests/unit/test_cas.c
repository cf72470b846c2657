/* The local CAS: inline and file blobs, verification, quarantine. */
#include "fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

static unsigned char *pattern(size_t len, unsigned seed)
{
	unsigned char *p = malloc(len ? len : 1);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
	return p;
}

static char *blob_file(const char *dir, const arca_digest *d)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	arca_digest_to_hex(hex, d);
	return fixture_path("%s/blobs/%.2s/%s", dir, hex, hex);
}

static int file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (d == NULL)
		return 0;
	/* An open handle's pin record (tmp/pins-*) lives as long as the
	 * handle: not a temp file left behind. */
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.' &&
			strncmp(e->d_name, "pins-", 5) != 0;
	closedir(d);
	return n;
}

static size_t count_prefixed(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

static void test_cas__put_get_round_trip(void **state)
{
	fixture_store *f = *state;
	const char msg[] = "hello, arca";
	arca_digest d, expected;
	arca_buf out = ARCA_BUF_INIT;

	assert_int_equal(arca_blob_put(&d, f->store, msg, sizeof(msg) - 1), 0);
	assert_int_equal(arca_digest_buffer(&expected, msg, sizeof(msg) - 1), 0);
	assert_true(arca_digest_equal(&d, &expected));
	assert_int_equal(arca_blob_get(&out, f->store, &d), 0);
	assert_int_equal(out.size, sizeof(msg) - 1);
	assert_memory_equal(out.data, msg, out.size);
	arca_buf_free(&out);
}

static void test_cas__empty_blob(void **state)
{
	fixture_store *f = *state;
	arca_digest d;
	arca_buf out = ARCA_BUF_INIT;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	uint64_t size = 99;

	assert_int_equal(arca_blob_put(&d, f->store, NULL, 0), 0);
	arca_digest_to_hex(hex, &d);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb924"
			"27ae41e4649b934ca495991b7852b855");
	assert_int_equal(arca_blob_stat(&size, f->store, &d), 0);
	assert_int_equal(size, 0);
	assert_int_equal(arca_blob_get(&out, f->store, &d), 0);
	assert_int_equal(out.size, 0);
	assert_non_null(out.data);
	arca_buf_free(&out);
}

static void test_cas__unknown_digest_is_not_found(void **state)
{
	fixture_store *f = *state;
	arca_digest d;
	arca_buf out = ARCA_BUF_INIT;

	memset(&d, 0xab, sizeof(d));
	assert_int_equal(arca_blob_get(&out, f->store, &d), ARCA_ENOTFOUND);
	assert_null(out.data);
	assert_int_equal(arca_blob_stat(NULL, f->store, &d), ARCA_ENOTFOUND);
	assert_non_null(strstr(arca_errmsg(), "abababab"));
}

/* Check a blob of len bytes lands inline or as a file as the threshold
 * says, and reads back. */
static void check_side(fixture_store *f, size_t len, int want_file)
{
	unsigned char *data = pattern(len, (unsigned)len);
	arca_buf out = ARCA_BUF_INIT;
	arca_store_info before, after;
	arca_digest d;
	char *path;

	assert_int_equal(arca_store_get_info(&before, f->store), 0);
	assert_int_equal(arca_blob_put(&d, f->store, data, len), 0);
	assert_int_equal(arca_store_get_info(&after, f->store), 0);
	path = blob_file(f->dir, &d);
	assert_int_equal(file_exists(path), want_file);
	assert_int_equal(after.n_files - before.n_files, want_file);
	assert_int_equal(after.n_inline - before.n_inline, !want_file);
	assert_int_equal(arca_blob_get(&out, f->store, &d), 0);
	assert_int_equal(out.size, len);
	assert_memory_equal(out.data, data, len);
	arca_buf_free(&out);
	free(path);
	free(data);
}

static void test_cas__inline_threshold_boundary(void **state)
{
	fixture_store *f = *state;
	const size_t t = ARCA_DEFAULT_INLINE_THRESHOLD;

	check_side(f, t - 1, 0);
	check_side(f, t, 0);
	check_side(f, t + 1, 1);
}

static void test_cas__configured_threshold(void **state)
{
	arca_options opts = ARCA_OPTIONS_INIT;
	fixture_store f2;

	(void)state;
	opts.inline_threshold = 1000;
	f2.dir = fixture_tempdir();
	assert_int_equal(arca_store_open(&f2.store, f2.dir, &opts), 0);
	check_side(&f2, 999, 0);
	check_side(&f2, 1000, 0);
	check_side(&f2, 1001, 1);
	arca_store_close(f2.store);
	fixture_rmdir(f2.dir);
}

static void test_cas__identical_content_stored_once(void **state)
{
	fixture_store *f = *state;
	unsigned char *big = pattern(300000, 7);
	arca_store_info info;
	arca_digest a, b, c, d;

	assert_int_equal(arca_blob_put(&a, f->store, "same", 4), 0);
	assert_int_equal(arca_blob_put(&b, f->store, "same", 4), 0);
	assert_int_equal(arca_blob_put(&c, f->store, big, 300000), 0);
	assert_int_equal(arca_blob_put(&d, f->store, big, 300000), 0);
	assert_true(arca_digest_equal(&a, &b));
	assert_true(arca_digest_equal(&c, &d));
	assert_int_equal(arca_store_get_info(&info, f->store), 0);
	assert_int_equal(info.n_blobs, 2);
	assert_int_equal(info.bytes_total, 300004);
	free(big);
}

static void test_cas__put_file_and_materialise(void **state)
{
	fixture_store *f = *state;
	const size_t len = 3u << 20;
	unsigned char *data = pattern(len, 3), *back;
	char *src = fixture_path("%s/src.bin", f->dir);
	char *dst = fixture_path("%s/out.bin", f->dir);
	arca_digest d, expected;
	uint64_t size = 0;
	struct stat st;
	size_t n;

	fixture_write_file(src, data, len);
	assert_int_equal(arca_blob_put_file(&d, &size, f->store, src), 0);
	assert_int_equal(size, len);
	assert_int_equal(arca_digest_buffer(&expected, data, len), 0);
	assert_true(arca_digest_equal(&d, &expected));
	assert_int_equal(arca_blob_get_file(f->store, &d, dst, 0640), 0);
	back = fixture_read_file(dst, &n);
	assert_non_null(back);
	assert_int_equal(n, len);
	assert_memory_equal(back, data, len);
	assert_int_equal(stat(dst, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	/* Blob files are read-only so nobody edits the cached copy. */
	{
		char *path = blob_file(f->dir, &d);

		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0222, 0);
		free(path);
	}
	free(back);
	free(data);
	free(src);
	free(dst);
}

static void test_cas__put_file_errors(void **state)
{
	fixture_store *f = *state;
	char *missing = fixture_path("%s/nope", f->dir);
	arca_digest d;

	assert_int_equal(arca_blob_put_file(&d, NULL, f->store, missing),
			ARCA_ENOTFOUND);
	assert_non_null(strstr(arca_errmsg(), "nope"));
	assert_int_equal(arca_blob_put_file(&d, NULL, f->store, f->dir),
			ARCA_EINVAL);
	free(missing);
}

static void test_cas__corrupt_file_blob_is_quarantined(void **state)
{
	fixture_store *f = *state;
	const size_t len = 200000;
	unsigned char *data = pattern(len, 11);
	arca_buf out = ARCA_BUF_INIT;
	char *path, *qdir = fixture_path("%s/quarantine", f->dir);
	arca_digest d;

	assert_int_equal(arca_blob_put(&d, f->store, data, len), 0);
	path = blob_file(f->dir, &d);
	assert_int_equal(chmod(path, 0644), 0);
	fixture_flip_byte(path, 12345);
	assert_int_equal(arca_blob_get(&out, f->store, &d), ARCA_ECORRUPT);
	assert_null(out.data);
	assert_int_equal(out.size, 0);
	assert_non_null(strstr(arca_errmsg(), "digest mismatch"));
	assert_false(file_exists(path));
	assert_int_equal(count_entries(qdir), 1);
	/* Dropped from the index: now a plain miss. */
	assert_int_equal(arca_blob_get(&out, f->store, &d), ARCA_ENOTFOUND);
	/* Putting the right bytes again repairs it. */
	assert_int_equal(arca_blob_put(NULL, f->store, data, len), 0);
	assert_int_equal(arca_blob_get(&out, f->store, &d), 0);
	assert_memory_equal(out.data, data, len);
	arca_buf_free(&out);
	free(path);
	free(qdir);
	free(data);
}

static void flip_inline_byte(const char *dir, const arca_digest *d, int at)
{
	char *db_path = fixture_path("%s/index.db", dir);
	sqlite3 *db;
	sqlite3_stmt *st;
	unsigned char buf[4096];
	int n;

	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT data FROM blobs "
			"WHERE digest = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, d->bytes, ARCA_DIGEST_SIZE, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_bytes(st, 0);
	assert_true(n > at && n <= (int)sizeof(buf));
	memcpy(buf, sqlite3_column_blob(st, 0), (size_t)n);
	sqlite3_finalize(st);
	buf[at] ^= 0x01;
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE blobs SET data = ? "
			"WHERE digest = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, buf, n, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, d->bytes, ARCA_DIGEST_SIZE, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(db_path);
}

static void test_cas__corrupt_inline_blob_is_quarantined(void **state)
{
	fixture_store *f = *state;
	const char msg[] = "a small inline blob of some bytes";
	arca_buf out = ARCA_BUF_INIT;
	char *qdir = fixture_path("%s/quarantine", f->dir);
	char *dst = fixture_path("%s/dest.txt", f->dir);
	size_t n;
	unsigned char *kept;
	arca_digest d;

	assert_int_equal(arca_blob_put(&d, f->store, msg, sizeof(msg)), 0);
	flip_inline_byte(f->dir, &d, 5);
	fixture_write_file(dst, "old", 3);
	/* Materialising fails and leaves the destination as it was. */
	assert_int_equal(arca_blob_get_file(f->store, &d, dst, 0644),
			ARCA_ECORRUPT);
	kept = fixture_read_file(dst, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(kept, "old", 3);
	free(kept);
	assert_int_equal(count_entries(qdir), 1);
	assert_int_equal(arca_blob_get(&out, f->store, &d), ARCA_ENOTFOUND);
	/* No temp file is left beside the destination. */
	assert_int_equal(count_prefixed(f->dir, ".arca-"), 0);
	free(qdir);
	free(dst);
}

static void test_cas__write_fd_verifies(void **state)
{
	fixture_store *f = *state;
	char *path = fixture_path("%s/stream.out", f->dir);
	const char msg[] = "streamed";
	unsigned char *back;
	arca_digest d;
	size_t n;
	int fd;

	assert_int_equal(arca_blob_put(&d, f->store, msg, 8), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(arca_blob_write_fd(f->store, &d, fd), 0);
	close(fd);
	back = fixture_read_file(path, &n);
	assert_int_equal(n, 8);
	assert_memory_equal(back, msg, 8);
	free(back);
	/* Inline corruption is caught before a byte is written. */
	flip_inline_byte(f->dir, &d, 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(arca_blob_write_fd(f->store, &d, fd), ARCA_ECORRUPT);
	close(fd);
	back = fixture_read_file(path, &n);
	assert_int_equal(n, 0);
	free(back);
	free(path);
}

static void test_cas__missing_file_blob_is_a_miss(void **state)
{
	fixture_store *f = *state;
	unsigned char *data = pattern(150000, 5);
	arca_buf out = ARCA_BUF_INIT;
	arca_digest d;
	char *path;

	assert_int_equal(arca_blob_put(&d, f->store, data, 150000), 0);
	path = blob_file(f->dir, &d);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(arca_blob_stat(NULL, f->store, &d), ARCA_ENOTFOUND);
	assert_int_equal(arca_blob_get(&out, f->store, &d), ARCA_ENOTFOUND);
	/* A later put writes it again. */
	assert_int_equal(arca_blob_put(NULL, f->store, data, 150000), 0);
	assert_true(file_exists(path));
	free(path);
	free(data);
}

static void test_cas__dead_writers_temp_files_removed_on_open(void **state)
{
	fixture_store *f = *state;
	char *dead = fixture_path("%s/tmp/blob-999999-dead", f->dir);
	char *live = fixture_path("%s/tmp/blob-1-live", f->dir);
	arca_store *again = NULL;
	int fd;

	fixture_write_file(dead, "partial", 7);
	fd = open(live, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	/* A live writer holds its lock; flock locks are per open file
	 * description, so the store's own open() cannot take this one. */
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(arca_store_open(&again, f->dir, NULL), 0);
	assert_false(file_exists(dead));
	assert_true(file_exists(live));
	arca_store_close(again);
	close(fd);
	free(dead);
	free(live);
}

static void test_cas__unusable_store_location(void **state)
{
	char *base = fixture_tempdir();
	char *file = fixture_path("%s/file", base);
	char *under = fixture_path("%s/file/store", base);
	arca_store *s = (arca_store *)1;
	arca_options bad = ARCA_OPTIONS_INIT;

	(void)state;
	fixture_write_file(file, "x", 1);
	assert_int_equal(arca_store_open(&s, under, NULL), ARCA_EINVAL);
	assert_null(s);
	assert_non_null(strstr(arca_errmsg(), "file"));
	bad.version = 99;
	assert_int_equal(arca_store_open(&s, base, &bad), ARCA_EINVAL);
	/* Not an SQLite database: a damaged index (issue 8), moved aside,
	 * never overwritten, and a fresh index takes its place. */
	{
		char *store = fixture_path("%s/s2", base);
		char *db = fixture_path("%s/s2/index.db", base);
		arca_index_repair r;
		size_t n;
		unsigned char *back;

		assert_int_equal(mkdir(store, 0755), 0);
		fixture_write_file(db, "this is not a database at all, no......"
				"................................................"
				"................................................",
				136);
		assert_int_equal(arca_store_open(&s, store, NULL), 0);
		assert_int_equal(arca_store_index_repair(&r, s), 0);
		assert_true(r.repaired);
		back = fixture_read_file(r.moved_to, &n);
		assert_non_null(back);
		assert_int_equal(n, 136);
		assert_memory_equal(back, "this is not a database", 22);
		free(back);
		arca_store_close(s);
		free(store);
		free(db);
	}
	free(file);
	free(under);
	fixture_rmdir(base);
}

static void test_cas__read_only_handle_refuses_writes(void **state)
{
	fixture_store *f = *state;
	arca_options ro = ARCA_OPTIONS_INIT;
	arca_store *s = NULL;
	arca_buf out = ARCA_BUF_INIT;
	arca_digest d;

	assert_int_equal(arca_blob_put(&d, f->store, "ro", 2), 0);
	ro.read_only = 1;
	assert_int_equal(arca_store_open(&s, f->dir, &ro), 0);
	assert_int_equal(arca_blob_get(&out, s, &d), 0);
	assert_int_equal(arca_blob_put(NULL, s, "x", 1), ARCA_EPERM);
	arca_buf_free(&out);
	arca_store_close(s);
}

static void test_cas__default_dir(void **state)
{
	char *dir = NULL;

	(void)state;
	setenv("ARCA_DIR", "/x/arca-dir", 1);
	assert_int_equal(arca_store_default_dir(&dir), 0);
	assert_string_equal(dir, "/x/arca-dir");
	free(dir);
	unsetenv("ARCA_DIR");
	setenv("XDG_CACHE_HOME", "/x/xdg", 1);
	assert_int_equal(arca_store_default_dir(&dir), 0);
	assert_string_equal(dir, "/x/xdg/arca");
	free(dir);
	unsetenv("XDG_CACHE_HOME");
	setenv("HOME", "/x/home", 1);
	assert_int_equal(arca_store_default_dir(&dir), 0);
	assert_string_equal(dir, "/x/home/.cache/arca");
	free(dir);
}

/* A restore killed in the fallback (no O_TMPFILE) left a named temp file
 * recorded in tmp/: the next open removes it, and never a file whose name
 * is not a restore temp file's. */
static void test_cas__dead_restores_temp_files_removed_on_open(void **state)
{
	fixture_store *f = *state;
	char *work = fixture_path("%s/work", f->dir);
	char *temp = fixture_path("%s/.out.bin.arca-Ab12Cd", work);
	char *keep = fixture_path("%s/keep.txt", work);
	char *rec1 = fixture_path("%s/tmp/restore-999999-aaaaaa", f->dir);
	char *rec2 = fixture_path("%s/tmp/restore-999999-bbbbbb", f->dir);
	arca_store *again = NULL;

	assert_int_equal(mkdir(work, 0755), 0);
	fixture_write_file(temp, "partial", 7);
	fixture_write_file(keep, "mine", 4);
	fixture_write_file(rec1, temp, strlen(temp));
	fixture_write_file(rec2, keep, strlen(keep));
	assert_int_equal(arca_store_open(&again, f->dir, NULL), 0);
	assert_false(file_exists(temp));
	assert_true(file_exists(keep));
	assert_false(file_exists(rec1));
	assert_false(file_exists(rec2));
	arca_store_close(again);
	free(work);
	free(temp);
	free(keep);
	free(rec1);
	free(rec2);
}

/* The same record met by gc on a handle opened before the writer died:
 * gc removes the temp file it names too (issue 8), and counts both. */
static void test_cas__gc_removes_dead_restores_temp_files(void **state)
{
	fixture_store *f = *state;
	char *work = fixture_path("%s/work", f->dir);
	char *temp = fixture_path("%s/.out.bin.arca-Ef34Gh", work);
	char *rec = fixture_path("%s/tmp/restore-999999-cccccc", f->dir);
	arca_gc_report rep;

	assert_int_equal(mkdir(work, 0755), 0);
	fixture_write_file(temp, "partial", 7);
	fixture_write_file(rec, temp, strlen(temp));
	assert_int_equal(arca_store_gc(&rep, f->store), 0);
	assert_false(file_exists(temp));
	assert_false(file_exists(rec));
	assert_int_equal(rep.temp_files, 1);
	assert_int_equal(rep.temp_bytes, strlen(temp));
	free(work);
	free(temp);
	free(rec);
}

/* Both ways of writing a restore leave only the file itself. */
static void test_cas__get_file_leaves_no_temp_file(void **state)
{
	fixture_store *f = *state;
	const size_t len = 1u << 20;
	unsigned char *data = pattern(len, 7), *back;
	char *work = fixture_path("%s/work", f->dir);
	char *dst = fixture_path("%s/out.bin", work);
	char *tmp = fixture_path("%s/tmp", f->dir);
	arca_digest d;
	size_t n;
	int fallback;

	assert_int_equal(mkdir(work, 0755), 0);
	assert_int_equal(arca_blob_put(&d, f->store, data, len), 0);
	for (fallback = 0; fallback < 2; fallback++) {
		if (fallback)
			setenv("ARCA_NO_O_TMPFILE", "1", 1);
		assert_int_equal(arca_blob_get_file(f->store, &d, dst, 0644),
				0);
		unsetenv("ARCA_NO_O_TMPFILE");
		back = fixture_read_file(dst, &n);
		assert_non_null(back);
		assert_int_equal(n, len);
		assert_memory_equal(back, data, len);
		free(back);
		assert_int_equal(count_prefixed(work, "."), 2);
		assert_int_equal(count_entries(work), 1);
		assert_int_equal(count_entries(tmp), 0);
	}
	free(data);
	free(work);
	free(dst);
	free(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, fixture_store_setup, \
		fixture_store_teardown)
		T(test_cas__put_get_round_trip),
		T(test_cas__empty_blob),
		T(test_cas__unknown_digest_is_not_found),
		T(test_cas__inline_threshold_boundary),
		cmocka_unit_test(test_cas__configured_threshold),
		T(test_cas__identical_content_stored_once),
		T(test_cas__put_file_and_materialise),
		T(test_cas__put_file_errors),
		T(test_cas__corrupt_file_blob_is_quarantined),
		T(test_cas__corrupt_inline_blob_is_quarantined),
		T(test_cas__write_fd_verifies),
		T(test_cas__missing_file_blob_is_a_miss),
		T(test_cas__dead_writers_temp_files_removed_on_open),
		T(test_cas__dead_restores_temp_files_removed_on_open),
		T(test_cas__gc_removes_dead_restores_temp_files),
		T(test_cas__get_file_leaves_no_temp_file),
		cmocka_unit_test(test_cas__unusable_store_location),
		T(test_cas__read_only_handle_refuses_writes),
		cmocka_unit_test(test_cas__default_dir),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
