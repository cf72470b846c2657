#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *fixture_tempdir(void)
{
	const char *base = getenv("TMPDIR");
	char *p = fixture_path("%s/arca-test-XXXXXX",
			base && *base ? base : "/tmp");

	assert_non_null(mkdtemp(p));
	return p;
}

void fixture_rmdir(char *path)
{
	char *cmd;

	if (path == NULL)
		return;
	cmd = fixture_path("rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", path);
	free(cmd);
	free(path);
}

void fixture_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	if (len)
		assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

unsigned char *fixture_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *data = NULL;
	size_t cap = 0, n = 0, r;

	if (f == NULL)
		return NULL;
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			data = realloc(data, cap + 1);
			assert_non_null(data);
		}
		r = fread(data + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	if (data == NULL)
		data = calloc(1, 1);
	*len = n;
	return data;
}

void fixture_flip_byte(const char *path, long offset)
{
	FILE *f = fopen(path, "r+b");
	int c;

	assert_non_null(f);
	assert_int_equal(fseek(f, offset, SEEK_SET), 0);
	c = fgetc(f);
	assert_true(c != EOF);
	assert_int_equal(fseek(f, offset, SEEK_SET), 0);
	assert_true(fputc(c ^ 0x01, f) != EOF);
	assert_int_equal(fclose(f), 0);
}

char *fixture_path(const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	return p;
}

int fixture_store_setup(void **state)
{
	fixture_store *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->dir = fixture_tempdir();
	if (arca_store_open(&f->store, f->dir, NULL) != 0) {
		fprintf(stderr, "arca_store_open: %s\n", arca_errmsg());
		return -1;
	}
	*state = f;
	return 0;
}

int fixture_store_teardown(void **state)
{
	fixture_store *f = *state;

	if (f == NULL)
		return 0;
	arca_store_close(f->store);
	fixture_rmdir(f->dir);
	free(f);
	return 0;
}

sqlite3 *fixture_index_open(const char *dir)
{
	char *path = fixture_path("%s/index.db", dir);
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	free(path);
	return db;
}

int64_t fixture_index_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

int fixture_action_present(arca_store *s, const arca_digest *key)
{
	arca_manifest *m = NULL;
	int rc = arca_action_peek(&m, s, key);

	arca_manifest_free(m);
	return rc == 0;
}
