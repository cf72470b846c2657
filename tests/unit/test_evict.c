/*
 * Capacity and lifecycle: size accounting, LRU eviction, batched last
 * access, the schema 1 -> 3 migration, TTL, tags and gc.
 */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#define OUT_SIZE 1000

/* Record an action of stage whose single output is `out_len` bytes of c
 * (or the blob `shared` when not NULL). */
static arca_digest record_ex(arca_store *s, const char *stage, int n,
		const arca_digest *shared, const arca_put_options *opts)
{
	char arg[32], content[OUT_SIZE];
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	arca_digest out, empty, key;

	snprintf(arg, sizeof(arg), "n=%d", n);
	memset(content, 'a' + n % 26, sizeof(content));
	snprintf(content, sizeof(content), "%d", n);
	assert_int_equal(arca_action_new(&a, stage), 0);
	assert_int_equal(arca_action_add_arg(a, arg), 0);
	assert_int_equal(arca_action_add_output(a, "out"), 0);
	assert_int_equal(arca_manifest_from_action(&m, a), 0);
	if (shared)
		out = *shared;
	else
		assert_int_equal(arca_blob_put(&out, s, content,
				sizeof(content)), 0);
	assert_int_equal(arca_blob_put(&empty, s, NULL, 0), 0);
	assert_int_equal(arca_manifest_add_output(m, "out", &out, OUT_SIZE,
			0644), 0);
	m->stdout_digest = empty;
	m->stderr_digest = empty;
	assert_int_equal(arca_action_put_ex(s, m, opts), 0);
	key = m->key;
	arca_manifest_free(m);
	arca_action_free(a);
	return key;
}

static arca_digest record(arca_store *s, int n)
{
	return record_ex(s, "s", n, NULL, NULL);
}

static void exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

/* Age every row: action i and its blobs were last used at 1000 + i. */
static void age_all(const char *dir, arca_digest *keys, int n)
{
	sqlite3 *db = fixture_index_open(dir);
	sqlite3_stmt *st;
	int i;

	exec(db, "UPDATE blobs SET last_access = 1");
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE actions SET "
			"last_access = ?, created = ? WHERE key = ?", -1, &st,
			NULL), SQLITE_OK);
	for (i = 0; i < n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int(st, 1, 1000 + i);
		sqlite3_bind_int(st, 2, 1000 + i);
		sqlite3_bind_blob(st, 3, keys[i].bytes, ARCA_DIGEST_SIZE,
				SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static int setup(void **state)
{
	return fixture_store_setup(state);
}

static void test_evict__usage_counts_every_blob(void **state)
{
	fixture_store *f = *state;
	uint64_t bytes = 1, max = 0;
	arca_digest d;

	assert_int_equal(arca_store_usage(&bytes, &max, f->store), 0);
	assert_int_equal(bytes, 0);
	assert_true(max == ARCA_DEFAULT_MAX_SIZE);
	assert_int_equal(arca_blob_put(&d, f->store, "hello", 5), 0);
	assert_int_equal(arca_blob_put(&d, f->store, "hello", 5), 0);
	assert_int_equal(arca_store_usage(&bytes, NULL, f->store), 0);
	assert_int_equal(bytes, 5);
	record(f->store, 1);
	assert_int_equal(arca_store_usage(&bytes, NULL, f->store), 0);
	/* 5 + the output + the empty stdout + the manifest. */
	assert_true(bytes > 5 + OUT_SIZE);
}

static void test_evict__lru_order_respected(void **state)
{
	fixture_store *f = *state;
	arca_digest keys[10];
	arca_manifest *m = NULL;
	uint64_t usage, n = 0, freed = 0, after;
	int i;

	for (i = 0; i < 10; i++)
		keys[i] = record(f->store, i);
	age_all(f->dir, keys, 10);
	/* A hit makes entry 0 the most recent. */
	assert_int_equal(arca_action_get(&m, f->store, &keys[0]), 0);
	arca_manifest_free(m);
	/* One byte over each time: exactly the least recently used goes. */
	for (i = 1; i <= 4; i++) {
		assert_int_equal(arca_store_usage(&usage, NULL, f->store), 0);
		assert_int_equal(arca_store_evict(&n, &freed, f->store,
				usage - 1), 0);
		assert_int_equal(n, 1);
		assert_true(freed >= OUT_SIZE);
		assert_int_equal(arca_store_usage(&after, NULL, f->store), 0);
		assert_int_equal(after, usage - freed);
		assert_false(fixture_action_present(f->store, &keys[i]));
	}
	assert_true(fixture_action_present(f->store, &keys[0]));
	for (i = 5; i < 10; i++)
		assert_true(fixture_action_present(f->store, &keys[i]));
}

static void test_evict__shared_blob_of_survivor_kept(void **state)
{
	fixture_store *f = *state;
	char content[OUT_SIZE];
	arca_digest shared, keys[2];
	arca_buf buf = ARCA_BUF_INIT;
	uint64_t usage;

	memset(content, 'z', sizeof(content));
	assert_int_equal(arca_blob_put(&shared, f->store, content,
			sizeof(content)), 0);
	keys[0] = record_ex(f->store, "s", 1, &shared, NULL);
	keys[1] = record_ex(f->store, "s", 2, &shared, NULL);
	age_all(f->dir, keys, 2);
	assert_int_equal(arca_store_usage(&usage, NULL, f->store), 0);
	assert_int_equal(arca_store_evict(NULL, NULL, f->store, usage - 1), 0);
	assert_false(fixture_action_present(f->store, &keys[0]));
	assert_true(fixture_action_present(f->store, &keys[1]));
	assert_int_equal(arca_blob_get(&buf, f->store, &shared), 0);
	assert_int_equal(buf.size, OUT_SIZE);
	arca_buf_free(&buf);
}

/* No grace period: an entry stored a moment ago is evictable once its
 * writer is done (issue 8; pins: test_pins.c). */
static void test_evict__recent_entries_are_evictable(void **state)
{
	fixture_store *f = *state;
	arca_digest key;
	uint64_t usage, pinned = 9, n = 0;

	key = record(f->store, 1);
	assert_int_equal(arca_store_pinned(&pinned, f->store), 0);
	assert_int_equal(pinned, 0);
	assert_int_equal(arca_store_evict(&n, NULL, f->store, 0), 0);
	assert_true(n >= 1);
	assert_false(fixture_action_present(f->store, &key));
	assert_int_equal(arca_store_usage(&usage, NULL, f->store), 0);
	assert_int_equal(usage, 0);
}

static void test_evict__leased_action_is_kept(void **state)
{
	fixture_store *f = *state;
	arca_digest keys[2];
	arca_lease *lease = NULL;
	uint64_t n = 0;

	keys[0] = record(f->store, 1);
	keys[1] = record(f->store, 2);
	age_all(f->dir, keys, 2);
	/* keys[0] is the oldest, but a live process is computing it. */
	assert_int_equal(arca_lease_acquire(&lease, f->store, &keys[0], 1000), 0);
	assert_int_equal(arca_store_evict(&n, NULL, f->store, 0), 0);
	assert_int_equal(n, 1);
	assert_true(fixture_action_present(f->store, &keys[0]));
	assert_false(fixture_action_present(f->store, &keys[1]));
	arca_lease_release(lease);
	assert_int_equal(arca_store_evict(&n, NULL, f->store, 0), 0);
	assert_false(fixture_action_present(f->store, &keys[0]));
}

static void test_evict__automatic_on_put(void **state)
{
	fixture_store *f = *state;
	arca_options opts = ARCA_OPTIONS_INIT;
	arca_store *s = NULL;
	char *dir = fixture_tempdir();
	uint64_t usage;
	int i;

	opts.max_size = 20 * OUT_SIZE;
	opts.low_watermark_pct = 50;
	(void)f;
	assert_int_equal(arca_store_open(&s, dir, &opts), 0);
	for (i = 0; i < 60; i++) {
		char content[OUT_SIZE];
		arca_digest d;

		memset(content, 'x', sizeof(content));
		snprintf(content, sizeof(content), "%d", i);
		assert_int_equal(arca_blob_put(&d, s, content, sizeof(content)), 0);
		assert_int_equal(arca_store_usage(&usage, NULL, s), 0);
		assert_true(usage <= opts.max_size);
	}
	arca_store_close(s);
	fixture_rmdir(dir);
}

/* The effective limit (space.c): what the disk allows binds when it is
 * below max_size, here a disk_reserve larger than any disk. */
static void test_evict__disk_limit_binds_without_max_size(void **state)
{
	fixture_store *f = *state;
	arca_options opts = ARCA_OPTIONS_INIT;
	arca_store_space sp;
	arca_store *s = NULL;
	char *dir = fixture_tempdir();
	uint64_t usage;
	int i;

	(void)f;
	opts.max_size = 0;
	opts.disk_reserve = (uint64_t)1 << 62;
	assert_int_equal(arca_store_open(&s, dir, &opts), 0);
	assert_int_equal(arca_store_get_space(&sp, s), 0);
	assert_int_equal(sp.max_size, 0);
	assert_int_equal(sp.disk_limit, 1);
	assert_int_equal(sp.limit, 1);
	assert_true(sp.fs_size > 0);
	for (i = 0; i < 5; i++) {
		char content[OUT_SIZE];
		arca_digest d;

		memset(content, 'y', sizeof(content));
		snprintf(content, sizeof(content), "%d", i);
		assert_int_equal(arca_blob_put(&d, s, content, sizeof(content)), 0);
		assert_int_equal(arca_store_usage(&usage, NULL, s), 0);
		assert_int_equal(usage, 0);
	}
	arca_store_close(s);
	/* disk_reserve 0: no disk check, max_size alone. */
	opts.disk_reserve = 0;
	opts.max_size = 1 << 20;
	assert_int_equal(arca_store_open(&s, dir, &opts), 0);
	assert_int_equal(arca_store_get_space(&sp, s), 0);
	assert_int_equal(sp.disk_limit, 0);
	assert_int_equal(sp.limit, 1 << 20);
	arca_store_close(s);
	fixture_rmdir(dir);
}

/* DIR/reserve: made by a writable open, never by a read-only one; not a
 * blob, so not in usage. */
static void test_evict__reserve_file_not_made_read_only(void **state)
{
	fixture_store *f = *state;
	arca_options ro = ARCA_OPTIONS_INIT;
	arca_store_space sp;
	arca_store *s = NULL;
	char *reserve = fixture_path("%s/reserve", f->dir);

	assert_int_equal(arca_store_get_space(&sp, f->store), 0);
	assert_true(sp.reserve_file_size > 0);
	assert_int_equal(sp.reserve_file, sp.reserve_file_size);
	assert_int_equal(sp.usage, 0);
	assert_int_equal(access(reserve, F_OK), 0);
	arca_store_close(f->store);
	f->store = NULL;
	assert_int_equal(unlink(reserve), 0);
	ro.read_only = 1;
	assert_int_equal(arca_store_open(&s, f->dir, &ro), 0);
	assert_int_equal(arca_store_get_space(&sp, s), 0);
	assert_int_equal(sp.reserve_file, 0);
	arca_store_close(s);
	assert_int_equal(access(reserve, F_OK), -1);
	assert_int_equal(arca_store_open(&f->store, f->dir, NULL), 0);
	assert_int_equal(access(reserve, F_OK), 0);
	free(reserve);
}

static void test_evict__access_batched_until_close(void **state)
{
	fixture_store *f = *state;
	arca_digest key = record(f->store, 1);
	arca_manifest *m = NULL;
	sqlite3 *db;

	assert_int_equal(arca_action_get(&m, f->store, &key), 0);
	arca_manifest_free(m);
	db = fixture_index_open(f->dir);
	/* Not written yet: no write transaction per hit. */
	assert_int_equal(fixture_index_int(db, "SELECT hits FROM actions"), 0);
	arca_store_close(f->store);
	f->store = NULL;
	assert_int_equal(fixture_index_int(db, "SELECT hits FROM actions"), 1);
	sqlite3_close(db);
	assert_int_equal(arca_store_open(&f->store, f->dir, NULL), 0);
}

static void test_evict__walks_the_lru_index(void **state)
{
	fixture_store *f = *state;
	sqlite3 *db;
	sqlite3_stmt *st;
	char plan[4096] = "";

	/* The query eviction steps with: an index range, never a table scan
	 * (the cost of evicting k entries is O(k log n)). */
	db = fixture_index_open(f->dir);
	assert_int_equal(sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT key,"
			" last_access, stage FROM actions WHERE (last_access, key) "
			"> (?1, ?2) AND last_access <= ?3 ORDER BY last_access, key "
			"LIMIT 1", -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		strncat(plan, (const char *)sqlite3_column_text(st, 3),
				sizeof(plan) - strlen(plan) - 2);
		strcat(plan, ";");
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_non_null(strstr(plan, "actions_lru"));
	assert_null(strstr(plan, "TEMP B-TREE"));
}

/* The schema of version 1, as the first arca wrote it. */
static const char v1_schema[] =
	"CREATE TABLE meta(name TEXT PRIMARY KEY, value TEXT NOT NULL) "
	"WITHOUT ROWID;"
	"CREATE TABLE blobs(digest BLOB PRIMARY KEY, size INTEGER NOT NULL,"
	" inline INTEGER NOT NULL, created INTEGER NOT NULL, data BLOB);"
	"CREATE TABLE actions(key BLOB PRIMARY KEY, stage TEXT NOT NULL,"
	" manifest BLOB NOT NULL, size INTEGER NOT NULL,"
	" duration_ms INTEGER NOT NULL, created INTEGER NOT NULL,"
	" last_access INTEGER NOT NULL, hits INTEGER NOT NULL DEFAULT 0)"
	" WITHOUT ROWID;"
	"CREATE TABLE action_inputs(digest BLOB NOT NULL, key BLOB NOT NULL,"
	" PRIMARY KEY(digest, key)) WITHOUT ROWID;"
	"CREATE TABLE action_refs(key BLOB NOT NULL, digest BLOB NOT NULL,"
	" PRIMARY KEY(key, digest)) WITHOUT ROWID;"
	"CREATE TABLE stats(day INTEGER NOT NULL, stage TEXT NOT NULL,"
	" hits INTEGER NOT NULL DEFAULT 0, misses INTEGER NOT NULL DEFAULT 0,"
	" errors INTEGER NOT NULL DEFAULT 0,"
	" bytes_read INTEGER NOT NULL DEFAULT 0,"
	" bytes_written INTEGER NOT NULL DEFAULT 0,"
	" saved_ms INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY(day, stage)) WITHOUT ROWID;"
	"CREATE TABLE urls(url TEXT PRIMARY KEY, digest BLOB NOT NULL,"
	" size INTEGER NOT NULL, etag TEXT, last_modified TEXT,"
	" fetched_at INTEGER NOT NULL);"
	"INSERT INTO meta VALUES('schema', '1');";

static void test_evict__migration_from_v1_keeps_data(void **state)
{
	char *dir = fixture_tempdir();
	sqlite3 *db = fixture_index_open(dir);
	sqlite3_stmt *st;
	arca_store *s = NULL;
	arca_buf buf = ARCA_BUF_INIT;
	arca_digest d;
	uint64_t usage;

	(void)state;
	exec(db, v1_schema);
	assert_int_equal(arca_digest_buffer(&d, "old bytes", 9), 0);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO blobs VALUES(?, 9,"
			" 1, 5, 'old bytes')", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, d.bytes, ARCA_DIGEST_SIZE, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	/* Inline rows store the blob as a BLOB value. */
	exec(db, "UPDATE blobs SET data = CAST(data AS BLOB)");
	sqlite3_close(db);

	assert_int_equal(arca_store_open(&s, dir, NULL), 0);
	db = fixture_index_open(dir);
	assert_int_equal(fixture_index_int(db, "SELECT CAST(value AS INTEGER) "
			"FROM meta "
			"WHERE name = 'schema'"), 6);
	assert_int_equal(fixture_index_int(db, "SELECT last_access FROM "
			"blobs"), 5);
	sqlite3_close(db);
	assert_int_equal(arca_blob_get(&buf, s, &d), 0);
	assert_memory_equal(buf.data, "old bytes", 9);
	arca_buf_free(&buf);
	assert_int_equal(arca_store_usage(&usage, NULL, s), 0);
	assert_int_equal(usage, 9);
	arca_store_close(s);
	fixture_rmdir(dir);
}

/* A simulated clock (arca_set_clock): TTLs expire without sleeping. */
static int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

static void test_evict__ttl_expiry_and_gc(void **state)
{
	fixture_store *f = *state;
	arca_put_options po = ARCA_PUT_OPTIONS_INIT;
	arca_get_options go = ARCA_GET_OPTIONS_INIT;
	arca_gc_report rep;
	arca_manifest *m = NULL;
	arca_digest key, fresh;

	fake_now = 1700000000;
	arca_set_clock(fake_clock, NULL);
	po.ttl_s = 1;
	key = record_ex(f->store, "s", 1, NULL, &po);
	fresh = record(f->store, 2);
	assert_int_equal(arca_action_get(&m, f->store, &key), 0);
	arca_manifest_free(m);
	/* expires = created + ttl_s: a miss from that second on. */
	fake_now += 1;
	assert_int_equal(arca_action_peek(&m, f->store, &key), ARCA_ENOTFOUND);
	fake_now -= 1;
	assert_int_equal(arca_action_peek(&m, f->store, &key), 0);
	arca_manifest_free(m);
	fake_now += 2;
	assert_int_equal(arca_action_get(&m, f->store, &key), ARCA_ENOTFOUND);
	go.max_age_s = 1;
	assert_int_equal(arca_action_get_ex(&m, f->store, &fresh, &go),
			ARCA_ENOTFOUND);
	go.max_age_s = 3600;
	assert_int_equal(arca_action_get_ex(&m, f->store, &fresh, &go), 0);
	arca_manifest_free(m);
	assert_int_equal(arca_store_gc(&rep, f->store), 0);
	assert_int_equal(rep.expired_actions, 1);
	assert_true(rep.expired_bytes >= OUT_SIZE);
	assert_true(fixture_action_present(f->store, &fresh));
	arca_set_clock(NULL, NULL);
}

/* arca_clear_filter.on_removed: the keys removed, one call each. */
typedef struct removed_log {
	arca_digest keys[4];
	size_t n;
} removed_log;

static void log_removed(const arca_digest *key, void *ctx)
{
	removed_log *l = ctx;

	if (l->n < 4)
		l->keys[l->n] = *key;
	l->n++;
}

static void test_evict__clear_by_tag_and_prefix(void **state)
{
	fixture_store *f = *state;
	const char *tags[] = { "nightly" };
	arca_put_options po = ARCA_PUT_OPTIONS_INIT;
	arca_clear_filter by_tag = { 0, NULL, NULL, "nightly", 0, NULL, NULL, NULL };
	arca_clear_filter by_prefix = { 0, NULL, NULL, NULL, 0, NULL, NULL, NULL };
	arca_clear_filter two = { 1, NULL, NULL, "nightly", 0, NULL, NULL, NULL };
	arca_digest a, b, c;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	uint64_t n = 0;
	removed_log log = { { { { 0 } } }, 0 };

	po.tags = tags;
	po.n_tags = 1;
	a = record_ex(f->store, "s", 1, NULL, &po);
	b = record(f->store, 2);
	assert_int_equal(arca_store_clear(&n, NULL, f->store, &two), ARCA_EINVAL);
	by_tag.on_removed = log_removed;
	by_tag.on_removed_ctx = &log;
	assert_int_equal(arca_store_clear(&n, NULL, f->store, &by_tag), 0);
	assert_int_equal(n, 1);
	assert_int_equal(log.n, 1);
	assert_true(arca_digest_equal(&log.keys[0], &a));
	assert_false(fixture_action_present(f->store, &a));
	assert_true(fixture_action_present(f->store, &b));
	arca_digest_to_hex(hex, &b);
	hex[6] = '\0';
	by_prefix.key_prefix = hex;
	c = record(f->store, 3);
	log.n = 0;
	by_prefix.on_removed = log_removed;
	by_prefix.on_removed_ctx = &log;
	assert_int_equal(arca_store_clear(&n, NULL, f->store, &by_prefix), 0);
	assert_int_equal(n, 1);
	assert_int_equal(log.n, 1);
	assert_true(arca_digest_equal(&log.keys[0], &b));
	assert_false(fixture_action_present(f->store, &b));
	assert_true(fixture_action_present(f->store, &c));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, \
		fixture_store_teardown)
		T(test_evict__usage_counts_every_blob),
		T(test_evict__lru_order_respected),
		T(test_evict__shared_blob_of_survivor_kept),
		T(test_evict__recent_entries_are_evictable),
		T(test_evict__leased_action_is_kept),
		T(test_evict__automatic_on_put),
		T(test_evict__disk_limit_binds_without_max_size),
		T(test_evict__reserve_file_not_made_read_only),
		T(test_evict__access_batched_until_close),
		T(test_evict__walks_the_lru_index),
		T(test_evict__migration_from_v1_keeps_data),
		T(test_evict__ttl_expiry_and_gc),
		T(test_evict__clear_by_tag_and_prefix),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
