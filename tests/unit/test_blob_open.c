/* arca_blob_open(): a verified read-only descriptor of a tier-0 file blob. */
#include "fixture.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned char *pattern(size_t len, unsigned seed)
{
	unsigned char *p = malloc(len ? len : 1);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++)
		p[i] = (unsigned char)((i * 131u + seed * 7u) ^ (i >> 9));
	return p;
}

static char *blob_file(const char *dir, const arca_digest *d)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	arca_digest_to_hex(hex, d);
	return fixture_path("%s/blobs/%.2s/%s", dir, hex, hex);
}

static unsigned char *read_fd(int fd, size_t *len)
{
	unsigned char *buf = NULL;
	size_t n = 0, cap = 0;
	ssize_t r;

	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		r = read(fd, buf + n, cap - n);
		assert_true(r >= 0);
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return buf;
}

static void test_blob_open__file_blob(void **state)
{
	fixture_store *f = *state;
	const size_t len = 300000;
	unsigned char *data = pattern(len, 3), *got;
	arca_digest d;
	uint64_t size = 0;
	size_t n;
	int fd = -1;

	assert_int_equal(arca_blob_put(&d, f->store, data, len), 0);
	assert_int_equal(arca_blob_open(&fd, &size, f->store, &d), 0);
	assert_true(fd >= 0);
	assert_int_equal(size, len);
	assert_true((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
	got = read_fd(fd, &n);
	assert_int_equal(n, len);
	assert_memory_equal(got, data, len);
	close(fd);
	free(got);
	free(data);
}

static void test_blob_open__survives_unlink(void **state)
{
	fixture_store *f = *state;
	const size_t len = 200000;
	unsigned char *data = pattern(len, 5), *got;
	arca_digest d;
	size_t n;
	char *path;
	int fd = -1;

	assert_int_equal(arca_blob_put(&d, f->store, data, len), 0);
	assert_int_equal(arca_blob_open(&fd, NULL, f->store, &d), 0);
	assert_true(fd >= 0);
	/* Eviction may unlink the name meanwhile: the bytes stay. */
	path = blob_file(f->dir, &d);
	assert_int_equal(unlink(path), 0);
	got = read_fd(fd, &n);
	assert_int_equal(n, len);
	assert_memory_equal(got, data, len);
	close(fd);
	free(got);
	free(path);
	free(data);
}

static void test_blob_open__inline_blob_has_no_fd(void **state)
{
	fixture_store *f = *state;
	arca_digest d;
	uint64_t size = 0;
	int fd = 123;

	assert_int_equal(arca_blob_put(&d, f->store, "small", 5), 0);
	assert_int_equal(arca_blob_open(&fd, &size, f->store, &d), 0);
	assert_int_equal(fd, -1);
	assert_int_equal(size, 5);
}

static void test_blob_open__missing_is_not_found(void **state)
{
	fixture_store *f = *state;
	arca_digest d;
	int fd = 123;

	assert_int_equal(arca_digest_buffer(&d, "never stored", 12), 0);
	assert_int_equal(arca_blob_open(&fd, NULL, f->store, &d),
			ARCA_ENOTFOUND);
	assert_int_equal(fd, -1);
	assert_int_equal(arca_blob_open(NULL, NULL, f->store, &d),
			ARCA_EINVAL);
}

static void test_blob_open__corrupt_file_is_quarantined(void **state)
{
	fixture_store *f = *state;
	const size_t len = 250000;
	unsigned char *data = pattern(len, 9);
	char *path;
	arca_digest d;
	int fd = 123;

	assert_int_equal(arca_blob_put(&d, f->store, data, len), 0);
	path = blob_file(f->dir, &d);
	assert_int_equal(chmod(path, 0644), 0);
	fixture_flip_byte(path, 100000);
	assert_int_equal(arca_blob_open(&fd, NULL, f->store, &d),
			ARCA_ECORRUPT);
	assert_int_equal(fd, -1);
	assert_int_equal(access(path, F_OK), -1);
	/* Quarantined and dropped from the index: a plain miss now. */
	assert_int_equal(arca_blob_stat(NULL, f->store, &d), ARCA_ENOTFOUND);
	free(path);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, fixture_store_setup, \
		fixture_store_teardown)
		T(test_blob_open__file_blob),
		T(test_blob_open__survives_unlink),
		T(test_blob_open__inline_blob_has_no_fd),
		T(test_blob_open__missing_is_not_found),
		T(test_blob_open__corrupt_file_is_quarantined),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
