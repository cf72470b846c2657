/*
 * Long removals in bounded transactions (issue 8, "Readers never wait for
 * writers"): eviction, clear and gc of more entries than one batch holds
 * (2000 rows or 50 ms) give the same results and statistics as one
 * transaction would; opening a store takes no write lock.
 */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

/* More than two batches by rows alone (ARCA__BATCH_ROWS is 2000). */
#define N_ACTIONS 4500

/* Action i of stage: one output of its own ("out <i>"), empty stdout and
 * stderr, an optional TTL. */
static arca_digest record(arca_store *s, const char *stage, int i,
		uint64_t ttl_s)
{
	arca_put_options po = ARCA_PUT_OPTIONS_INIT;
	char arg[32], content[32];
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	arca_digest out, empty, key;
	int n;

	snprintf(arg, sizeof(arg), "n=%d", i);
	n = snprintf(content, sizeof(content), "out %d", i);
	assert_int_equal(arca_action_new(&a, stage), 0);
	assert_int_equal(arca_action_add_arg(a, arg), 0);
	assert_int_equal(arca_action_add_output(a, "out"), 0);
	assert_int_equal(arca_manifest_from_action(&m, a), 0);
	assert_int_equal(arca_blob_put(&out, s, content, (size_t)n), 0);
	assert_int_equal(arca_blob_put(&empty, s, NULL, 0), 0);
	assert_int_equal(arca_manifest_add_output(m, "out", &out, (uint64_t)n,
			0644), 0);
	m->stdout_digest = empty;
	m->stderr_digest = empty;
	po.ttl_s = ttl_s;
	assert_int_equal(arca_action_put_ex(s, m, &po), 0);
	key = m->key;
	arca_manifest_free(m);
	arca_action_free(a);
	return key;
}

/* N_ACTIONS actions; action i was last used at 1000 + i. */
static arca_digest *fill(fixture_store *f, const char *stage, uint64_t ttl_s)
{
	arca_digest *keys = calloc(N_ACTIONS, sizeof(*keys));
	sqlite3 *db;
	sqlite3_stmt *st;
	int i;

	assert_non_null(keys);
	for (i = 0; i < N_ACTIONS; i++)
		keys[i] = record(f->store, stage, i, ttl_s);
	db = fixture_index_open(f->dir);
	assert_int_equal(sqlite3_exec(db, "BEGIN; UPDATE blobs SET "
			"last_access = 1", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE actions SET "
			"last_access = ? WHERE key = ?", -1, &st, NULL), SQLITE_OK);
	for (i = 0; i < N_ACTIONS; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int(st, 1, 1000 + i);
		sqlite3_bind_blob(st, 2, keys[i].bytes, ARCA_DIGEST_SIZE,
				SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	}
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL),
			SQLITE_OK);
	sqlite3_close(db);
	return keys;
}

static int setup(void **state)
{
	setenv("ARCA_GRACE_PERIOD", "0", 1);
	return fixture_store_setup(state);
}

/* Blob j of no action ("loose <j>"), last used at 1000 + j: between
 * actions j - 1 and j in the LRU, so that batches also end between an
 * action found and the unreferenced blobs evicted before it. */
static void put_loose(fixture_store *f)
{
	sqlite3 *db = fixture_index_open(f->dir);
	sqlite3_stmt *st;
	char content[32];
	arca_digest d;
	int j, n;

	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE blobs SET "
			"last_access = ? WHERE digest = ?", -1, &st, NULL),
			SQLITE_OK);
	for (j = 0; j < N_ACTIONS; j++) {
		n = snprintf(content, sizeof(content), "loose %d", j);
		assert_int_equal(arca_blob_put(&d, f->store, content,
				(size_t)n), 0);
		sqlite3_reset(st);
		sqlite3_bind_int(st, 1, 1000 + j);
		sqlite3_bind_blob(st, 2, d.bytes, ARCA_DIGEST_SIZE,
				SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* Evicting the older two thirds takes several batches: exactly the least
 * recently used go, and the statistics and usage match what was freed. */
static void test_batch__evict_across_batches_keeps_lru_and_stats(void **state)
{
	fixture_store *f = *state;
	arca_digest *keys = fill(f, "s", 0);
	uint64_t usage, after, n = 0, freed = 0;
	int64_t kept_bytes;
	sqlite3 *db;
	int i, keep = N_ACTIONS / 3;
	char sql[512];

	put_loose(f);
	assert_int_equal(arca_store_usage(&usage, NULL, f->store), 0);
	/* The bytes of the newest third of the actions (each action's blobs
	 * are its own, but for the shared empty one) and of the loose blobs
	 * as recent: the target. */
	db = fixture_index_open(f->dir);
	snprintf(sql, sizeof(sql), "SELECT (SELECT sum(b.size) FROM actions "
			"AS a JOIN action_refs AS r ON r.key = a.key JOIN blobs AS "
			"b ON b.digest = r.digest WHERE a.last_access >= %d) + "
			"(SELECT sum(size) FROM blobs WHERE last_access >= %d AND "
			"digest NOT IN (SELECT digest FROM action_refs))",
			1000 + N_ACTIONS - keep, 1000 + N_ACTIONS - keep);
	kept_bytes = fixture_index_int(db, sql);
	sqlite3_close(db);
	assert_true(kept_bytes > 0);
	assert_int_equal(arca_store_evict(&n, &freed, f->store,
			(uint64_t)kept_bytes), 0);
	assert_int_equal(arca_store_usage(&after, NULL, f->store), 0);
	assert_int_equal(after, usage - freed);
	/* The older actions and as many loose blobs. */
	assert_int_equal(n, 2 * (N_ACTIONS - keep));
	for (i = 0; i < N_ACTIONS; i++)
		if (fixture_action_present(f->store, &keys[i]) !=
		    (i >= N_ACTIONS - keep))
			fail_msg("action %d: %s after eviction", i,
					i >= N_ACTIONS - keep ? "gone" : "kept");
	db = fixture_index_open(f->dir);
	assert_int_equal(fixture_index_int(db, "SELECT sum(evictions) FROM "
			"stats"),
			(int64_t)n);
	assert_int_equal(fixture_index_int(db, "SELECT sum(bytes_evicted) FROM "
			"stats"),
			(int64_t)freed);
	assert_int_equal(fixture_index_int(db, "SELECT count(*) FROM "
			"actions"), keep);
	assert_int_equal(fixture_index_int(db, "SELECT count(*) FROM "
			"action_refs WHERE "
			"key NOT IN (SELECT key FROM actions)"), 0);
	sqlite3_close(db);
	free(keys);
}

static void test_batch__clear_all_across_batches(void **state)
{
	fixture_store *f = *state;
	arca_clear_filter all = { 1, NULL, NULL, NULL, 0, NULL, NULL, NULL };
	arca_digest *keys = fill(f, "s", 0), loose;
	uint64_t usage, after, n = 0, freed = 0;
	sqlite3 *db;

	/* A blob of no action goes too. */
	assert_int_equal(arca_blob_put(&loose, f->store, "loose", 5), 0);
	assert_int_equal(arca_store_usage(&usage, NULL, f->store), 0);
	assert_int_equal(arca_store_clear(&n, &freed, f->store, &all), 0);
	assert_int_equal(n, N_ACTIONS);
	assert_int_equal(freed, usage);
	assert_int_equal(arca_store_usage(&after, NULL, f->store), 0);
	assert_int_equal(after, 0);
	assert_int_equal(arca_blob_stat(NULL, f->store, &loose), ARCA_ENOTFOUND);
	db = fixture_index_open(f->dir);
	assert_int_equal(fixture_index_int(db, "SELECT (SELECT count(*) FROM "
			"actions) + "
			"(SELECT count(*) FROM blobs) + (SELECT count(*) FROM "
			"action_refs) + (SELECT count(*) FROM action_inputs)"), 0);
	sqlite3_close(db);
	free(keys);
}

static void test_batch__clear_stage_across_batches(void **state)
{
	fixture_store *f = *state;
	arca_clear_filter by_stage = { 0, "a", NULL, NULL, 0, NULL, NULL, NULL };
	arca_digest *keys = fill(f, "a", 0), other;
	uint64_t n = 0, freed = 0;

	other = record(f->store, "b", 1, 0);
	assert_int_equal(arca_store_clear(&n, &freed, f->store, &by_stage), 0);
	assert_int_equal(n, N_ACTIONS);
	assert_false(fixture_action_present(f->store, &keys[0]));
	assert_false(fixture_action_present(f->store, &keys[N_ACTIONS - 1]));
	assert_true(fixture_action_present(f->store, &other));
	free(keys);
}

static int64_t later_clock(void *ctx)
{
	(void)ctx;
	return 4000000000;
}

static void test_batch__gc_expired_across_batches(void **state)
{
	fixture_store *f = *state;
	arca_digest *keys = fill(f, "s", 60), fresh;
	arca_gc_report rep;

	arca_set_clock(later_clock, NULL);
	fresh = record(f->store, "s", N_ACTIONS + 1, 60);
	assert_int_equal(arca_store_gc(&rep, f->store), 0);
	arca_set_clock(NULL, NULL);
	assert_int_equal(rep.expired_actions, N_ACTIONS);
	assert_false(fixture_action_present(f->store, &keys[N_ACTIONS / 2]));
	assert_true(fixture_action_present(f->store, &fresh));
	free(keys);
}

/* Another process holding the write lock (a long writer) does not keep a
 * store from opening, reading, and closing. */
static void test_batch__open_takes_no_write_lock(void **state)
{
	fixture_store *f = *state;
	arca_options opts = ARCA_OPTIONS_INIT;
	arca_store *s = NULL;
	arca_buf buf = ARCA_BUF_INIT;
	arca_digest d, key;
	arca_manifest *m = NULL;
	sqlite3 *db;

	assert_int_equal(arca_blob_put(&d, f->store, "held", 4), 0);
	key = record(f->store, "s", 1, 0);
	arca_store_close(f->store);
	f->store = NULL;
	db = fixture_index_open(f->dir);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
			SQLITE_OK);
	opts.busy_timeout_ms = 200;
	assert_int_equal(arca_store_open(&s, f->dir, &opts), 0);
	assert_int_equal(arca_blob_get(&buf, s, &d), 0);
	assert_int_equal(buf.size, 4);
	/* A hit, noted at close: dropped after a short wait, not an error. */
	assert_int_equal(arca_action_get(&m, s, &key), 0);
	arca_manifest_free(m);
	arca_store_close(s);
	s = NULL;
	opts.read_only = 1;
	assert_int_equal(arca_store_open(&s, f->dir, &opts), 0);
	assert_int_equal(arca_blob_stat(NULL, s, &d), 0);
	arca_store_close(s);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL),
			SQLITE_OK);
	sqlite3_close(db);
	arca_buf_free(&buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, \
		fixture_store_teardown)
		T(test_batch__evict_across_batches_keeps_lru_and_stats),
		T(test_batch__clear_all_across_batches),
		T(test_batch__clear_stage_across_batches),
		T(test_batch__gc_expired_across_batches),
		T(test_batch__open_takes_no_write_lock),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
