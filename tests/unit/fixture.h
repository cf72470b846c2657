/* Shared fixtures for the cmocka unit tests: fresh temp dirs and stores. */
#ifndef ARCA_TEST_FIXTURE_H
#define ARCA_TEST_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "arca/arca.h"

#include <sqlite3.h>

/* mkdtemp under $TMPDIR (or /tmp); malloc'd path. Fails the test on error. */
char *fixture_tempdir(void);

/* rm -rf path and free it. Accepts NULL. */
void fixture_rmdir(char *path);

/* Write len bytes to path (created/truncated). Fails the test on error. */
void fixture_write_file(const char *path, const void *data, size_t len);

/* Read a whole file; malloc'd, *len set. NULL if it does not exist. */
unsigned char *fixture_read_file(const char *path, size_t *len);

/* XOR one byte at offset in a file with 0x01 (a flipped bit). */
void fixture_flip_byte(const char *path, long offset);

/* snprintf into a malloc'd string. */
char *fixture_path(const char *fmt, ...);

/* A store in a fresh temp dir, for setup/teardown. */
typedef struct fixture_store {
	char *dir;
	arca_store *store;
} fixture_store;

int fixture_store_setup(void **state);
int fixture_store_teardown(void **state);

/* Whether the action key is in s (arca_action_peek, which does not
 * count as a use). */
int fixture_action_present(arca_store *s, const arca_digest *key);

/* The index (index.db) of the store at dir, opened directly with a 5 s
 * busy timeout, to age or inspect rows. Fails the test on error. */
sqlite3 *fixture_index_open(const char *dir);

/* The first column of the first row of sql, or -1 without a row. */
int64_t fixture_index_int(sqlite3 *db, const char *sql);

#endif
