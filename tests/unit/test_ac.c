/* The action cache on the local store: put/get, removal, clear, verify. */
#include "fixture.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

/*
 * Record an action of `stage` whose single output holds `content`, with
 * `input` as its input content. Returns its key.
 */
static arca_digest record(arca_store *s, const char *stage, const char *input,
		const char *content, const char *secret)
{
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	arca_digest in, out, empty;

	assert_int_equal(arca_digest_buffer(&in, input, strlen(input)), 0);
	assert_int_equal(arca_action_new(&a, stage), 0);
	assert_int_equal(arca_action_add_arg(a, "tool"), 0);
	assert_int_equal(arca_action_add_arg(a, content), 0);
	assert_int_equal(arca_action_add_input(a, "in.txt", &in), 0);
	assert_int_equal(arca_action_add_param(a, "lang", "en"), 0);
	if (secret)
		assert_int_equal(arca_action_add_secret_param(a, "token",
				secret), 0);
	assert_int_equal(arca_action_add_output(a, "out.txt"), 0);
	assert_int_equal(arca_action_set_tool(a, ARCA_TOOL_VERSION, "1.0"), 0);
	assert_int_equal(arca_manifest_from_action(&m, a), 0);
	assert_int_equal(arca_blob_put(&out, s, content, strlen(content)), 0);
	assert_int_equal(arca_blob_put(&empty, s, NULL, 0), 0);
	assert_int_equal(arca_manifest_add_output(m, "out.txt", &out,
			strlen(content), 0644), 0);
	m->stdout_digest = empty;
	m->stderr_digest = empty;
	m->duration_ms = 1500;
	assert_int_equal(arca_action_put(s, m), 0);
	{
		arca_digest key = m->key;

		arca_manifest_free(m);
		arca_action_free(a);
		return key;
	}
}

static void test_ac__put_then_get(void **state)
{
	fixture_store *f = *state;
	arca_digest key = record(f->store, "transcode", "audio", "wav", NULL);
	arca_manifest *m = NULL;
	arca_buf out = ARCA_BUF_INIT;

	assert_int_equal(arca_action_get(&m, f->store, &key), 0);
	assert_true(arca_digest_equal(&m->key, &key));
	assert_string_equal(m->stage, "transcode");
	assert_int_equal(m->n_outputs, 1);
	assert_string_equal(m->outputs[0].path, "out.txt");
	assert_int_equal(m->outputs[0].mode, 0644);
	assert_int_equal(m->duration_ms, 1500);
	assert_int_equal(arca_blob_get(&out, f->store, &m->outputs[0].digest), 0);
	assert_int_equal(out.size, 3);
	assert_memory_equal(out.data, "wav", 3);
	arca_buf_free(&out);
	arca_manifest_free(m);
}

static void test_ac__unknown_key_is_a_miss(void **state)
{
	fixture_store *f = *state;
	arca_manifest *m = (arca_manifest *)1;
	arca_digest key;

	memset(&key, 7, sizeof(key));
	assert_int_equal(arca_action_get(&m, f->store, &key), ARCA_ENOTFOUND);
	assert_null(m);
}

static void test_ac__put_refuses_missing_blobs(void **state)
{
	fixture_store *f = *state;
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	arca_digest ghost, empty, key;
	arca_store_info info;

	memset(&ghost, 0x42, sizeof(ghost));
	assert_int_equal(arca_blob_put(&empty, f->store, NULL, 0), 0);
	assert_int_equal(arca_action_new(&a, "s"), 0);
	assert_int_equal(arca_manifest_from_action(&m, a), 0);
	assert_int_equal(arca_manifest_add_output(m, "o", &ghost, 1, 0644), 0);
	m->stdout_digest = empty;
	m->stderr_digest = empty;
	assert_int_equal(arca_action_put(f->store, m), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "42424242"));
	key = m->key;
	assert_int_equal(arca_store_get_info(&info, f->store), 0);
	assert_int_equal(info.n_actions, 0);
	arca_manifest_free(m);
	assert_int_equal(arca_action_get(&m, f->store, &key), ARCA_ENOTFOUND);
	arca_action_free(a);
}

static int count_cb(const arca_action_info *info, void *ctx)
{
	(void)info;
	(*(int *)ctx)++;
	return 0;
}

static int list_count(arca_store *s, const char *stage)
{
	int n = 0;

	assert_int_equal(arca_action_list(s, stage, count_cb, &n), 0);
	return n;
}

static int get_hits(const arca_action_info *info, void *ctx)
{
	*(uint64_t *)ctx = info->hits;
	assert_int_equal(info->duration_ms, 1500);
	assert_true(info->size > 0);
	assert_true(info->last_access >= info->created);
	return 0;
}

static void test_ac__hit_updates_access_and_hits(void **state)
{
	fixture_store *f = *state;
	arca_digest key = record(f->store, "s", "i", "o", NULL);
	arca_manifest *m = NULL;
	uint64_t hits = 99;
	int i;

	assert_int_equal(arca_action_list(f->store, NULL, get_hits, &hits), 0);
	assert_int_equal(hits, 0);
	/* Peeking is not a hit. */
	assert_int_equal(arca_action_peek(&m, f->store, &key), 0);
	assert_string_equal(m->stage, "s");
	arca_manifest_free(m);
	assert_int_equal(arca_action_list(f->store, NULL, get_hits, &hits), 0);
	assert_int_equal(hits, 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(arca_action_get(&m, f->store, &key), 0);
		arca_manifest_free(m);
	}
	assert_int_equal(arca_action_list(f->store, NULL, get_hits, &hits), 0);
	assert_int_equal(hits, 3);
}

/* Flip one byte of the (inline) manifest blob of action key. */
static void flip_manifest_byte(const char *dir, const arca_digest *key)
{
	char *db_path = fixture_path("%s/index.db", dir);
	unsigned char buf[8192];
	sqlite3 *db;
	sqlite3_stmt *st;
	int n;

	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT data FROM blobs WHERE "
			"digest = (SELECT manifest FROM actions WHERE key = ?)",
			-1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, key->bytes, ARCA_DIGEST_SIZE, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_bytes(st, 0);
	assert_true(n > 20 && n <= (int)sizeof(buf));
	memcpy(buf, sqlite3_column_blob(st, 0), (size_t)n);
	sqlite3_finalize(st);
	buf[n / 2] ^= 0x01;
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE blobs SET data = ? "
			"WHERE digest = (SELECT manifest FROM actions "
			"WHERE key = ?)", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, buf, n, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, key->bytes, ARCA_DIGEST_SIZE, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(db_path);
}

static void test_ac__corrupt_manifest_is_a_miss(void **state)
{
	fixture_store *f = *state;
	arca_digest key = record(f->store, "s", "i", "o", NULL);
	char *qdir = fixture_path("%s/quarantine", f->dir);
	arca_manifest *m = NULL;
	DIR *d;
	struct dirent *e;
	int quarantined = 0;

	flip_manifest_byte(f->dir, &key);
	assert_int_equal(arca_action_get(&m, f->store, &key), ARCA_ENOTFOUND);
	assert_null(m);
	assert_non_null(strstr(arca_errmsg(), "digest mismatch"));
	assert_int_equal(list_count(f->store, NULL), 0);
	assert_int_equal(arca_action_get(&m, f->store, &key), ARCA_ENOTFOUND);
	d = opendir(qdir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		quarantined += strstr(e->d_name, ".inline") != NULL;
	closedir(d);
	assert_int_equal(quarantined, 1);
	free(qdir);
}

/* The miss's message quotes the read's own message intact (it used to be
 * formatted into the buffer it was read from). */
static void test_ac__corrupt_manifest_message_is_intact(void **state)
{
	fixture_store *f = *state;
	arca_digest key = record(f->store, "s", "i", "o", NULL);
	char hex[ARCA_DIGEST_HEXLEN + 1], *want;
	arca_manifest *m = NULL;
	const char *msg, *inner;

	arca_digest_to_hex(hex, &key);
	flip_manifest_byte(f->dir, &key);
	assert_int_equal(arca_action_get(&m, f->store, &key), ARCA_ENOTFOUND);
	msg = arca_errmsg();
	want = fixture_path("action %s: manifest unusable (blob ", hex);
	assert_true(strncmp(msg, want, strlen(want)) == 0);
	inner = msg + strlen(want);
	/* blob <64 hex> (inline in <dir>/index.db): digest mismatch; ... */
	assert_int_equal(strspn(inner, "0123456789abcdef"), ARCA_DIGEST_HEXLEN);
	free(want);
	want = fixture_path(" (inline in %s/index.db): digest mismatch; "
			"quarantined); treated as a miss", f->dir);
	assert_string_equal(inner + ARCA_DIGEST_HEXLEN, want);
	free(want);
}

static void test_ac__newer_manifest_is_left_alone(void **state)
{
	fixture_store *f = *state;
	arca_digest key = record(f->store, "s", "i", "o", NULL);
	const char v2[] = "{\"version\":2,\"something\":\"new\"}";
	char *db_path = fixture_path("%s/index.db", f->dir);
	arca_manifest *m = NULL;
	arca_digest d;
	sqlite3 *db;
	sqlite3_stmt *st;

	assert_int_equal(arca_blob_put(&d, f->store, v2, strlen(v2)), 0);
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE actions SET manifest "
			"= ? WHERE key = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, d.bytes, ARCA_DIGEST_SIZE, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, key.bytes, ARCA_DIGEST_SIZE, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	/* A miss for this arca, but the entry stays for the newer one. */
	assert_int_equal(arca_action_get(&m, f->store, &key), ARCA_ENOTFOUND);
	assert_non_null(strstr(arca_errmsg(), "newer"));
	assert_int_equal(list_count(f->store, NULL), 1);
	assert_int_equal(arca_blob_stat(NULL, f->store, &d), 0);
	free(db_path);
}

static void test_ac__corrupt_output_drops_its_actions(void **state)
{
	fixture_store *f = *state;
	char big[200000];
	arca_digest key, d;
	arca_buf out = ARCA_BUF_INIT;
	arca_manifest *m = NULL;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	char *path;

	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	key = record(f->store, "s", "i", big, NULL);
	assert_int_equal(arca_action_get(&m, f->store, &key), 0);
	d = m->outputs[0].digest;
	arca_manifest_free(m);
	arca_digest_to_hex(hex, &d);
	path = fixture_path("%s/blobs/%.2s/%s", f->dir, hex, hex);
	assert_int_equal(chmod(path, 0644), 0);
	fixture_flip_byte(path, 100);
	assert_int_equal(arca_blob_get(&out, f->store, &d), ARCA_ECORRUPT);
	assert_int_equal(arca_action_get(&m, f->store, &key), ARCA_ENOTFOUND);
	free(path);
}

static void test_ac__remove_and_resolve(void **state)
{
	fixture_store *f = *state;
	arca_digest a = record(f->store, "s", "i1", "o1", NULL);
	arca_digest b = record(f->store, "s", "i2", "o2", NULL);
	arca_digest got;
	char hex[ARCA_DIGEST_HEXLEN + 1];

	arca_digest_to_hex(hex, &a);
	hex[10] = '\0';
	assert_int_equal(arca_action_resolve(&got, f->store, hex), 0);
	assert_true(arca_digest_equal(&got, &a));
	assert_int_equal(arca_action_resolve(&got, f->store, "abc"),
			ARCA_EINVAL);
	assert_int_equal(arca_action_resolve(&got, f->store, "xyzw"),
			ARCA_EINVAL);
	assert_int_equal(arca_action_remove(f->store, &a), 0);
	assert_int_equal(arca_action_remove(f->store, &a), ARCA_ENOTFOUND);
	assert_int_equal(arca_action_resolve(&got, f->store, hex),
			ARCA_ENOTFOUND);
	assert_int_equal(list_count(f->store, NULL), 1);
	(void)b;
}

/* Record an action under a chosen key (keys are not checked against the
 * manifest's content by the store). */
static void record_with_key(arca_store *s, const char *hex)
{
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	arca_digest empty;

	assert_int_equal(arca_blob_put(&empty, s, NULL, 0), 0);
	assert_int_equal(arca_action_new(&a, "s"), 0);
	assert_int_equal(arca_manifest_from_action(&m, a), 0);
	assert_int_equal(arca_digest_from_hex(&m->key, hex), 0);
	m->stdout_digest = empty;
	m->stderr_digest = empty;
	assert_int_equal(arca_action_put(s, m), 0);
	arca_manifest_free(m);
	arca_action_free(a);
}

static void test_ac__ambiguous_prefix(void **state)
{
	fixture_store *f = *state;
	arca_digest got;

	record_with_key(f->store, "abcd01" "0000000000000000000000000000"
			"000000000000000000000000000000");
	record_with_key(f->store, "abcd02" "0000000000000000000000000000"
			"000000000000000000000000000000");
	assert_int_equal(arca_action_resolve(&got, f->store, "abcd"),
			ARCA_EEXISTS);
	assert_non_null(strstr(arca_errmsg(), "ambiguous"));
	assert_int_equal(arca_action_resolve(&got, f->store, "ABCD0"),
			ARCA_EEXISTS);
	assert_int_equal(arca_action_resolve(&got, f->store, "abcd02"), 0);
	assert_int_equal(got.bytes[2], 0x02);
	assert_int_equal(arca_action_resolve(&got, f->store, "abce"),
			ARCA_ENOTFOUND);
}

static void test_ac__clear_by_stage_input_and_all(void **state)
{
	fixture_store *f = *state;
	arca_digest in;
	uint64_t n = 0, bytes = 0;
	arca_clear_filter by_stage = { 0, "transcribe", NULL, NULL, 0, NULL, NULL, NULL };
	arca_clear_filter by_input = { 0, NULL, &in, NULL, 0, NULL, NULL, NULL };
	arca_clear_filter all = { 1, NULL, NULL, NULL, 0, NULL, NULL, NULL };
	arca_clear_filter none = { 0, NULL, NULL, NULL, 0, NULL, NULL, NULL };
	arca_store_info info;

	record(f->store, "transcode", "a.flac", "a.wav", NULL);
	record(f->store, "transcode", "b.flac", "b.wav", NULL);
	record(f->store, "transcribe", "a.flac", "a.txt", NULL);
	record(f->store, "transcribe", "c.flac", "c.txt", NULL);
	assert_int_equal(list_count(f->store, NULL), 4);

	assert_int_equal(arca_store_clear(&n, &bytes, f->store, &none),
			ARCA_EINVAL);
	assert_int_equal(arca_digest_buffer(&in, "a.flac", 6), 0);
	assert_int_equal(arca_store_clear(&n, &bytes, f->store, &by_input), 0);
	assert_int_equal(n, 2);
	assert_int_equal(list_count(f->store, "transcode"), 1);
	assert_int_equal(list_count(f->store, "transcribe"), 1);

	assert_int_equal(arca_store_clear(&n, &bytes, f->store, &by_stage), 0);
	assert_int_equal(n, 1);
	assert_int_equal(list_count(f->store, "transcribe"), 0);
	assert_int_equal(list_count(f->store, "transcode"), 1);
	/* The surviving action still reads back whole. */
	{
		arca_digest key = record(f->store, "transcode", "b.flac",
				"b.wav", NULL);
		arca_manifest *m = NULL;
		arca_buf out = ARCA_BUF_INIT;

		assert_int_equal(arca_action_get(&m, f->store, &key), 0);
		assert_int_equal(arca_blob_get(&out, f->store,
				&m->outputs[0].digest), 0);
		arca_buf_free(&out);
		arca_manifest_free(m);
	}
	assert_int_equal(arca_store_clear(&n, &bytes, f->store, &all), 0);
	assert_int_equal(n, 1);
	assert_true(bytes > 0);
	assert_int_equal(arca_store_get_info(&info, f->store), 0);
	assert_int_equal(info.n_actions, 0);
	assert_int_equal(info.n_blobs, 0);
}

static void test_ac__clear_keeps_shared_blobs(void **state)
{
	fixture_store *f = *state;
	arca_clear_filter by_stage = { 0, "one", NULL, NULL, 0, NULL, NULL, NULL };
	arca_digest key, out;
	arca_buf buf = ARCA_BUF_INIT;
	arca_manifest *m = NULL;

	record(f->store, "one", "x", "shared-output", NULL);
	key = record(f->store, "two", "y", "shared-output", NULL);
	assert_int_equal(arca_store_clear(NULL, NULL, f->store, &by_stage), 0);
	assert_int_equal(arca_action_get(&m, f->store, &key), 0);
	out = m->outputs[0].digest;
	assert_int_equal(arca_blob_get(&buf, f->store, &out), 0);
	assert_memory_equal(buf.data, "shared-output", 13);
	arca_buf_free(&buf);
	arca_manifest_free(m);
}

/* Search every file under dir (the index and its WAL included) for s. */
static int tree_contains(const char *dir, const char *s)
{
	char *cmd = fixture_path("grep -r -a -q -F -e '%s' '%s'", s, dir);
	int rc = system(cmd);

	free(cmd);
	return rc == 0;
}

static void test_ac__secret_value_never_stored(void **state)
{
	fixture_store *f = *state;
	const char *secret = "hf_SECRETTOKEN_0123456789";
	arca_digest key = record(f->store, "s", "i", "o", secret);
	arca_manifest *m = NULL;
	arca_buf json = ARCA_BUF_INIT;

	assert_int_equal(arca_action_get(&m, f->store, &key), 0);
	assert_int_equal(m->n_secret_params, 1);
	assert_string_equal(m->secret_params[0], "token");
	assert_int_equal(arca_manifest_to_json(&json, m), 0);
	assert_null(strstr((char *)json.data, secret));
	/* The name is recorded, the value is nowhere in the store. */
	assert_true(tree_contains(f->dir, "token"));
	assert_false(tree_contains(f->dir, secret));
	arca_buf_free(&json);
	arca_manifest_free(m);
}

typedef struct verify_seen {
	int n;
	char where[512];
} verify_seen;

static void verify_cb(const arca_digest *d, const char *where, void *ctx)
{
	verify_seen *v = ctx;

	(void)d;
	v->n++;
	snprintf(v->where, sizeof(v->where), "%s", where);
}

static void test_ac__verify_finds_flipped_byte(void **state)
{
	fixture_store *f = *state;
	char big[150000];
	arca_digest key, d;
	arca_manifest *m = NULL;
	uint64_t checked = 0, corrupt = 0;
	verify_seen seen = { 0, "" };
	char hex[ARCA_DIGEST_HEXLEN + 1];
	char *path;

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	record(f->store, "s", "other", "fine", NULL);
	key = record(f->store, "s", "i", big, NULL);
	assert_int_equal(arca_store_verify(&checked, &corrupt, f->store,
			verify_cb, &seen), 0);
	assert_int_equal(corrupt, 0);
	assert_true(checked >= 4);
	assert_int_equal(arca_action_get(&m, f->store, &key), 0);
	d = m->outputs[0].digest;
	arca_manifest_free(m);
	arca_digest_to_hex(hex, &d);
	path = fixture_path("%s/blobs/%.2s/%s", f->dir, hex, hex);
	assert_int_equal(chmod(path, 0644), 0);
	fixture_flip_byte(path, 70000);
	assert_int_equal(arca_store_verify(&checked, &corrupt, f->store,
			verify_cb, &seen), 0);
	assert_int_equal(corrupt, 1);
	assert_int_equal(seen.n, 1);
	assert_non_null(strstr(seen.where, hex));
	assert_int_equal(arca_action_get(&m, f->store, &key), ARCA_ENOTFOUND);
	assert_int_equal(list_count(f->store, NULL), 1);
	/* A second pass finds nothing left. */
	assert_int_equal(arca_store_verify(&checked, &corrupt, f->store,
			NULL, NULL), 0);
	assert_int_equal(corrupt, 0);
	free(path);
}

typedef struct stats_seen {
	arca_stats total;
	int stages;
	uint64_t transcode_hits;
} stats_seen;

static int stats_cb(const arca_stats *s, void *ctx)
{
	stats_seen *seen = ctx;

	if (s->stage == NULL) {
		seen->total = *s;
		return 0;
	}
	seen->stages++;
	if (strcmp(s->stage, "transcode") == 0)
		seen->transcode_hits = s->hits;
	return 0;
}

static void test_ac__stats_per_stage(void **state)
{
	fixture_store *f = *state;
	stats_seen seen;

	memset(&seen, 0, sizeof(seen));
	assert_int_equal(arca_stats_record(f->store, "transcode",
			ARCA_EVENT_MISS, 1000, 0), 0);
	assert_int_equal(arca_stats_record(f->store, "transcode",
			ARCA_EVENT_HIT, 1000, 4200), 0);
	assert_int_equal(arca_stats_record(f->store, "transcode",
			ARCA_EVENT_HIT, 1000, 4200), 0);
	assert_int_equal(arca_stats_record(f->store, "transcribe",
			ARCA_EVENT_MISS, 50, 0), 0);
	assert_int_equal(arca_stats_record(f->store, "transcribe",
			ARCA_EVENT_ERROR, 0, 0), 0);
	assert_int_equal(arca_stats_list(f->store, stats_cb, &seen), 0);
	assert_int_equal(seen.total.hits, 2);
	assert_int_equal(seen.total.misses, 2);
	assert_int_equal(seen.total.errors, 1);
	assert_int_equal(seen.total.bytes_read, 2000);
	assert_int_equal(seen.total.bytes_written, 1050);
	assert_int_equal(seen.total.saved_ms, 8400);
	assert_int_equal(seen.stages, 2);
	assert_int_equal(seen.transcode_hits, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, fixture_store_setup, \
		fixture_store_teardown)
		T(test_ac__put_then_get),
		T(test_ac__unknown_key_is_a_miss),
		T(test_ac__put_refuses_missing_blobs),
		T(test_ac__hit_updates_access_and_hits),
		T(test_ac__corrupt_manifest_is_a_miss),
		T(test_ac__corrupt_manifest_message_is_intact),
		T(test_ac__newer_manifest_is_left_alone),
		T(test_ac__corrupt_output_drops_its_actions),
		T(test_ac__remove_and_resolve),
		T(test_ac__ambiguous_prefix),
		T(test_ac__clear_by_stage_input_and_all),
		T(test_ac__clear_keeps_shared_blobs),
		T(test_ac__secret_value_never_stored),
		T(test_ac__verify_finds_flipped_byte),
		T(test_ac__stats_per_stage),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
