/*
 * The library on a full disk: a store on a 4 MiB tmpfs (mounted here,
 * which needs root; skipped otherwise). Puts fail ARCA_EFULL and leave no
 * temp file; the store reopens and reads on the full disk; once space is
 * freed, puts work again. The raw full disk: the disk-aware limit, which
 * evicts ahead of it, is off (disk_reserve 0; test_evict and
 * test_fulldisk_recover.sh test it).
 */
#include "fixture.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOB_SIZE (300 * 1024)

typedef struct fulldisk {
	char *mnt;
	char *dir;
	int mounted;
} fulldisk;

static int setup(void **state)
{
	fulldisk *f = calloc(1, sizeof(*f));
	char *cmd;

	if (f == NULL)
		return -1;
	f->mnt = fixture_tempdir();
	f->dir = fixture_path("%s/store", f->mnt);
	cmd = fixture_path("mount -t tmpfs -o size=4m tmpfs '%s' 2>/dev/null",
			f->mnt);
	f->mounted = getuid() == 0 && system(cmd) == 0;
	free(cmd);
	setenv("ARCA_DISK_RESERVE", "0", 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fulldisk *f = *state;
	char *cmd;

	if (f == NULL)
		return 0;
	if (f->mounted) {
		cmd = fixture_path("umount '%s' || umount -l '%s'", f->mnt,
				f->mnt);
		if (system(cmd) != 0)
			fprintf(stderr, "warning: cannot unmount %s\n", f->mnt);
		free(cmd);
	}
	free(f->dir);
	fixture_rmdir(f->mnt);
	free(f);
	return 0;
}

static unsigned count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	unsigned n = 0;

	assert_non_null(d);
	/* An open handle's pin record (tmp/pins-*) lives as long as the
	 * handle: not a temp file left behind. */
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.' &&
			strncmp(e->d_name, "pins-", 5) != 0;
	closedir(d);
	return n;
}

static void fill(unsigned char *buf, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 9));
}

static void test_fulldisk__efull_then_recovers(void **state)
{
	fulldisk *f = *state;
	unsigned char *buf = malloc(BLOB_SIZE);
	char *tmp_dir = fixture_path("%s/tmp", f->dir);
	char *filler = NULL;
	arca_store *s = NULL;
	arca_digest first, d;
	arca_buf b = ARCA_BUF_INIT;
	unsigned n;
	int rc = 0;

	assert_non_null(buf);
	if (!f->mounted) {
		fprintf(stderr, "SKIP - cannot mount a tmpfs (needs root)\n");
		free(buf);
		free(tmp_dir);
		skip();
	}
	assert_int_equal(arca_store_open(&s, f->dir, NULL), 0);
	for (n = 0; n < 40; n++) {
		fill(buf, BLOB_SIZE, n);
		rc = arca_blob_put(n ? &d : &first, s, buf, BLOB_SIZE);
		if (rc < 0)
			break;
	}
	fprintf(stderr, "fulldisk: %u blobs of %d bytes fit, then: %s\n", n,
			BLOB_SIZE, arca_errmsg());
	assert_true(n > 0 && n < 40);
	assert_int_equal(rc, ARCA_EFULL);
	assert_int_equal(count_entries(tmp_dir), 0);

	/* Take the last bytes, so that inline blobs cannot fit either. */
	filler = fixture_path("%s/filler", f->mnt);
	{
		char *cmd = fixture_path("dd if=/dev/zero of='%s' bs=4k "
				"2>/dev/null", filler);

		(void)system(cmd);
		free(cmd);
	}
	fill(buf, 2000, 999);
	assert_int_equal(arca_blob_put(&d, s, buf, 2000), ARCA_EFULL);
	assert_int_equal(arca_blob_put_file(&d, NULL, s, filler), ARCA_EFULL);
	assert_int_equal(count_entries(tmp_dir), 0);

	/* Not a byte free: the store still reopens and reads. */
	arca_store_close(s);
	s = NULL;
	rc = arca_store_open(&s, f->dir, NULL);
	if (rc < 0)
		fprintf(stderr, "open on a full disk: %s\n", arca_errmsg());
	assert_int_equal(rc, 0);
	assert_int_equal(arca_blob_get(&b, s, &first), 0);
	fill(buf, BLOB_SIZE, 0);
	assert_int_equal(b.size, BLOB_SIZE);
	assert_memory_equal(b.data, buf, BLOB_SIZE);
	arca_buf_free(&b);

	/* Space freed: writes work again. */
	assert_int_equal(unlink(filler), 0);
	fill(buf, 2000, 999);
	assert_int_equal(arca_blob_put(&d, s, buf, 2000), 0);
	assert_int_equal(arca_blob_get(&b, s, &d), 0);
	assert_memory_equal(b.data, buf, 2000);
	arca_buf_free(&b);

	arca_store_close(s);
	free(filler);
	free(tmp_dir);
	free(buf);
}

/*
 * Content already stored needs no space: a put hashes first, looks the
 * digest up and only then writes (a buffer), or gives up its temp copy
 * on ENOSPC and keeps hashing (a file), so both succeed on a full disk.
 */
static void test_fulldisk__put_of_stored_content_succeeds(void **state)
{
	fulldisk *f = *state;
	unsigned char *buf = malloc(BLOB_SIZE), small[2000];
	char *tmp_dir = fixture_path("%s/tmp", f->dir);
	char *copy = NULL, *filler = NULL, *cmd;
	arca_store *s = NULL;
	arca_digest big, little, d;
	uint64_t size = 0;
	unsigned n;

	assert_non_null(buf);
	if (!f->mounted) {
		fprintf(stderr, "SKIP - cannot mount a tmpfs (needs root)\n");
		free(buf);
		free(tmp_dir);
		skip();
	}
	assert_int_equal(arca_store_open(&s, f->dir, NULL), 0);
	fill(buf, BLOB_SIZE, 1);
	assert_int_equal(arca_blob_put(&big, s, buf, BLOB_SIZE), 0);
	fill(small, sizeof(small), 2);
	assert_int_equal(arca_blob_put(&little, s, small, sizeof(small)), 0);
	/* The same content as a file outside the tmpfs, for put_file. */
	copy = fixture_path("%s.copy", f->mnt);
	fixture_write_file(copy, buf, BLOB_SIZE);
	/* Fill the disk to the last byte. */
	for (n = 0; n < 40; n++) {
		unsigned char *other = malloc(BLOB_SIZE);

		assert_non_null(other);
		fill(other, BLOB_SIZE, 100 + n);
		if (arca_blob_put(&d, s, other, BLOB_SIZE) < 0) {
			free(other);
			break;
		}
		free(other);
	}
	filler = fixture_path("%s/filler", f->mnt);
	cmd = fixture_path("dd if=/dev/zero of='%s' bs=4k 2>/dev/null", filler);
	(void)system(cmd);
	free(cmd);
	fill(small, sizeof(small), 3);
	assert_int_equal(arca_blob_put(&d, s, small, sizeof(small)),
			ARCA_EFULL);

	/* Stored content: each put succeeds, naming the same blob. A second
	 * later, so that each put also has a last-access time to record. */
	sleep(1);
	fill(small, sizeof(small), 2);
	assert_int_equal(arca_blob_put(&d, s, small, sizeof(small)), 0);
	assert_true(arca_digest_equal(&d, &little));
	assert_int_equal(arca_blob_put(&d, s, buf, BLOB_SIZE), 0);
	assert_true(arca_digest_equal(&d, &big));
	n = (unsigned)arca_blob_put_file(&d, &size, s, copy);
	if ((int)n < 0)
		fprintf(stderr, "put_file: %s\n", arca_errmsg());
	assert_int_equal((int)n, 0);
	assert_true(arca_digest_equal(&d, &big));
	assert_int_equal(size, BLOB_SIZE);
	assert_int_equal(count_entries(tmp_dir), 0);
	/* New content still fails cleanly, with no temp file left. */
	fill(buf, BLOB_SIZE, 77);
	fixture_write_file(copy, buf, BLOB_SIZE);
	assert_int_equal(arca_blob_put_file(&d, &size, s, copy), ARCA_EFULL);
	assert_int_equal(count_entries(tmp_dir), 0);

	arca_store_close(s);
	unlink(filler);
	unlink(copy);
	free(filler);
	free(copy);
	free(tmp_dir);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
				test_fulldisk__efull_then_recovers,
				setup, teardown),
		cmocka_unit_test_setup_teardown(
				test_fulldisk__put_of_stored_content_succeeds,
				setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
