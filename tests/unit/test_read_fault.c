/*
 * Fault injection on read(2): a blob read that fails half-way must leave
 * the handle as clean as a read that succeeded. The test defines read()
 * itself; it links libarca statically, so this definition is the one
 * libarca's objects call (the real one is reached with syscall(2)).
 */
#include "fixture.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The read() call, counted from when armed, that fails; 0: none. */
static int fail_nth_read;
static int reads_since_armed;
static int failed_reads;

ssize_t read(int fd, void *buf, size_t count)
{
	if (fail_nth_read > 0 && ++reads_since_armed == fail_nth_read) {
		fail_nth_read = 0;
		failed_reads++;
		errno = EIO;
		return -1;
	}
	return (ssize_t)syscall(SYS_read, fd, buf, count);
}

static void arm(int nth)
{
	reads_since_armed = 0;
	failed_reads = 0;
	fail_nth_read = nth;
}

static unsigned char *pattern(size_t len, unsigned char seed)
{
	unsigned char *p = malloc(len);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(seed + i * 31 + (i >> 13));
	return p;
}

static void test_read_fault__failed_read_leaves_the_handle_clean(void **state)
{
	arca_options opts = ARCA_OPTIONS_INIT;
	char *dir = fixture_tempdir();
	const size_t big = (3u << 20) / 2; /* two read()s of 1 MiB chunks */
	unsigned char *a = pattern(big, 1), *b = pattern(4096, 7);
	arca_buf buf = ARCA_BUF_INIT;
	arca_store_info info;
	arca_store *s = NULL;
	arca_digest da, db;

	(void)state;
	opts.inline_threshold = 1024; /* both are file blobs */
	assert_int_equal(arca_store_open(&s, dir, &opts), 0);
	assert_int_equal(arca_blob_put(&da, s, a, big), 0);
	assert_int_equal(arca_blob_put(&db, s, b, 4096), 0);

	/* The first chunk of a is hashed, the second read() fails. */
	arm(2);
	assert_int_equal(arca_blob_get(&buf, s, &da), ARCA_EIO);
	assert_int_equal(failed_reads, 1);
	assert_null(buf.data);

	/* The next read on the same handle sees only its own bytes. */
	assert_int_equal(arca_blob_get(&buf, s, &db), 0);
	assert_int_equal(buf.size, 4096);
	assert_memory_equal(buf.data, b, 4096);
	arca_buf_free(&buf);
	assert_int_equal(arca_blob_get(&buf, s, &da), 0);
	assert_int_equal(buf.size, big);
	assert_memory_equal(buf.data, a, big);
	arca_buf_free(&buf);
	assert_int_equal(arca_store_get_info(&info, s), 0);
	assert_int_equal(info.n_quarantined, 0);
	assert_int_equal(info.n_blobs, 2);

	arca_store_close(s);
	fixture_rmdir(dir);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_read_fault__failed_read_leaves_the_handle_clean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
