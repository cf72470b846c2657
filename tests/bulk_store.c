/*
 * bulk_store — build a store of N actions quickly, for tests that need a
 * large store (tests/cli/test_readers_wait.sh).
 *
 *   bulk_store DIR N          rows written straight into DIR/index.db
 *   bulk_store --api DIR N    every action through arca_blob_put() and
 *                             arca_action_put() (for comparison: three
 *                             write transactions per action)
 *
 * Action i (stage "bulk") has one output, out.txt, an inline blob of its
 * own ("output <i>\n"), and empty stdout and stderr. It was created and
 * last used at 1000 + i seconds since the epoch: every action is past any
 * grace period, and the LRU order is the order of i.
 *
 * The default path takes the shortcut of bench/bench_scale.c: the store is
 * created through the library (schema, the empty blob) and the manifests
 * are real ones (arca_manifest_to_json()), but the rows arca_action_put()
 * would write (blobs, actions, action_refs) go into index.db in one
 * transaction. The usage triggers of the schema keep meta('usage') right.
 *
 * Prints "bulk actions=N seconds=S" on success.
 */
#include "arca/arca.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int code)
{
	fprintf(stderr, "bulk_store: %s: %s (%s)\n", what,
			arca_strerror(code), arca_errmsg());
	exit(1);
}

static void die_sql(sqlite3 *db, const char *what)
{
	fprintf(stderr, "bulk_store: %s: %s\n", what, sqlite3_errmsg(db));
	exit(1);
}

static void key_of(arca_digest *out, unsigned long i)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "bulk key %lu", i);

	arca_digest_buffer(out, buf, (size_t)n);
}

/* A manifest of stage "bulk" with one output, out.txt (manifest_set()
 * fills it in for each action). */
static arca_manifest *manifest_new(const arca_digest *empty)
{
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	int error;

	if ((error = arca_action_new(&a, "bulk")) < 0 ||
	    (error = arca_action_add_arg(a, "gen")) < 0 ||
	    (error = arca_action_add_output(a, "out.txt")) < 0 ||
	    (error = arca_manifest_from_action(&m, a)) < 0 ||
	    (error = arca_manifest_add_output(m, "out.txt", empty, 0,
			0644)) < 0)
		die("manifest", error);
	arca_action_free(a);
	m->stdout_digest = *empty;
	m->stderr_digest = *empty;
	m->duration_ms = 10;
	return m;
}

/* Make m the manifest of action i; its output's bytes go to out. */
static void manifest_set(arca_manifest *m, unsigned long i, char *out,
		size_t out_size)
{
	int n = snprintf(out, out_size, "output %lu\n", i);

	key_of(&m->key, i);
	arca_digest_buffer(&m->outputs[0].digest, out, (size_t)n);
	m->outputs[0].size = (uint64_t)n;
	m->created = (int64_t)(1000 + i);
}

static void build_api(arca_store *s, unsigned long n, const arca_digest *empty)
{
	arca_manifest *m = manifest_new(empty);
	char out[64];
	unsigned long i;
	int error;

	for (i = 0; i < n; i++) {
		arca_digest d;

		manifest_set(m, i, out, sizeof(out));
		if ((error = arca_blob_put(&d, s, out, strlen(out))) < 0 ||
		    (error = arca_action_put(s, m)) < 0)
			die("put", error);
	}
	arca_manifest_free(m);
}

/*
 * The manifest JSON of action i, as arca_manifest_to_json() writes it for
 * manifest_set()'s manifest (checked once, in build_sql()), without
 * jansson's cost per action.
 */
static size_t manifest_json(char *out, size_t size, const arca_manifest *m,
		const char *empty_hex)
{
	char key[ARCA_DIGEST_HEXLEN + 1], dig[ARCA_DIGEST_HEXLEN + 1];

	arca_digest_to_hex(key, &m->key);
	arca_digest_to_hex(dig, &m->outputs[0].digest);
	return (size_t)snprintf(out, size, "{\"version\":1,\"key\":\"%s\","
			"\"stage\":\"bulk\",\"argv\":[\"gen\"],\"inputs\":[],"
			"\"params\":[],\"secret_params\":[],\"env\":[],"
			"\"tool\":null,\"outputs\":[{\"path\":\"out.txt\","
			"\"digest\":\"%s\",\"size\":%llu,\"mode\":420}],"
			"\"exit_status\":0,\"stdout\":{\"digest\":\"%s\","
			"\"size\":0},\"stderr\":{\"digest\":\"%s\",\"size\":0},"
			"\"duration_ms\":10,\"created\":%lld}", key, dig,
			(unsigned long long)m->outputs[0].size, empty_hex,
			empty_hex, (long long)m->created);
}

/* Secondary indexes of the bulk tables are dropped while the rows go in
 * and built again after (sorting once is far cheaper than inserting
 * half a million random keys into each): their CREATE statements. */
static char **drop_indexes(sqlite3 *db, size_t *n_out)
{
	sqlite3_stmt *st = NULL;
	char **sql = NULL, drop[256];
	size_t n = 0, i;

	if (sqlite3_prepare_v2(db, "SELECT name, sql FROM sqlite_master WHERE "
			"type = 'index' AND sql IS NOT NULL AND tbl_name IN "
			"('actions', 'action_refs', 'blobs')", -1, &st,
			NULL) != SQLITE_OK)
		die_sql(db, "listing indexes");
	while (sqlite3_step(st) == SQLITE_ROW) {
		char **grown = realloc(sql, (n + 1) * sizeof(*sql));

		if (grown == NULL)
			die("indexes", ARCA_ENOMEM);
		sql = grown;
		sql[n] = strdup((const char *)sqlite3_column_text(st, 1));
		snprintf(drop, sizeof(drop), "DROP INDEX \"%s\"",
				(const char *)sqlite3_column_text(st, 0));
		n++;
		sqlite3_finalize(st);
		st = NULL;
		if (sqlite3_exec(db, drop, NULL, NULL, NULL) != SQLITE_OK)
			die_sql(db, drop);
		if (sqlite3_prepare_v2(db, "SELECT name, sql FROM sqlite_master "
				"WHERE type = 'index' AND sql IS NOT NULL AND "
				"tbl_name IN ('actions', 'action_refs', 'blobs')",
				-1, &st, NULL) != SQLITE_OK)
			die_sql(db, "listing indexes");
	}
	sqlite3_finalize(st);
	for (i = 0; i < n; i++)
		if (sql[i] == NULL)
			die("indexes", ARCA_ENOMEM);
	*n_out = n;
	return sql;
}

static void bind_blob_row(sqlite3_stmt *st, const arca_digest *d,
		const void *data, size_t size, int64_t t)
{
	sqlite3_reset(st);
	sqlite3_bind_blob(st, 1, d->bytes, ARCA_DIGEST_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
	sqlite3_bind_blob(st, 3, data, (int)size, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, t);
}

static void build_sql(const char *dir, unsigned long n,
		const arca_digest *empty)
{
	arca_manifest *m = manifest_new(empty);
	sqlite3 *db = NULL;
	sqlite3_stmt *blob = NULL, *act = NULL, *ref = NULL;
	char path[4096], out[64], json[1024], empty_hex[ARCA_DIGEST_HEXLEN + 1];
	char **indexes;
	size_t n_indexes, k;
	unsigned long i;

	snprintf(path, sizeof(path), "%s/index.db", dir);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		die_sql(db, path);
	if (sqlite3_exec(db, "PRAGMA synchronous=OFF; PRAGMA cache_size=-1048576; BEGIN", NULL, NULL,
			NULL) != SQLITE_OK)
		die_sql(db, "begin");
	indexes = drop_indexes(db, &n_indexes);
	arca_digest_to_hex(empty_hex, empty);
	{
		arca_buf want = ARCA_BUF_INIT;
		int error;

		manifest_set(m, 0, out, sizeof(out));
		if ((error = arca_manifest_to_json(&want, m)) < 0)
			die("json", error);
		if (manifest_json(json, sizeof(json), m, empty_hex) != want.size ||
		    memcmp(json, want.data, want.size) != 0) {
			fprintf(stderr, "bulk_store: the manifest template "
					"differs from arca_manifest_to_json():\n"
					"%s\n%.*s\n", json, (int)want.size,
					(const char *)want.data);
			exit(1);
		}
		arca_buf_free(&want);
	}
	if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO blobs(digest, size, "
			"inline, created, data, last_access) VALUES(?1, ?2, 1, ?4, "
			"?3, ?4)", -1, &blob, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO actions(key, stage, manifest, "
			"size, duration_ms, created, last_access, hits) VALUES(?1, "
			"'bulk', ?2, ?3, 10, ?4, ?4, 0)", -1, &act,
			NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO action_refs(key, "
			"digest) VALUES(?1, ?2)", -1, &ref, NULL) != SQLITE_OK)
		die_sql(db, "prepare");
	for (i = 0; i < n; i++) {
		arca_digest md;
		const arca_digest *refs[3];
		int64_t t = (int64_t)(1000 + i);
		size_t json_size;
		int r;

		manifest_set(m, i, out, sizeof(out));
		json_size = manifest_json(json, sizeof(json), m, empty_hex);
		arca_digest_buffer(&md, json, json_size);
		refs[0] = &md;
		refs[1] = &m->outputs[0].digest;
		refs[2] = empty;
		bind_blob_row(blob, &md, json, json_size, t);
		if (sqlite3_step(blob) != SQLITE_DONE)
			die_sql(db, "manifest blob");
		bind_blob_row(blob, &m->outputs[0].digest, out, strlen(out), t);
		if (sqlite3_step(blob) != SQLITE_DONE)
			die_sql(db, "output blob");
		sqlite3_reset(act);
		sqlite3_bind_blob(act, 1, m->key.bytes, ARCA_DIGEST_SIZE,
				SQLITE_STATIC);
		sqlite3_bind_blob(act, 2, md.bytes, ARCA_DIGEST_SIZE,
				SQLITE_STATIC);
		sqlite3_bind_int64(act, 3, (sqlite3_int64)strlen(out));
		sqlite3_bind_int64(act, 4, t);
		if (sqlite3_step(act) != SQLITE_DONE)
			die_sql(db, "action");
		for (r = 0; r < 3; r++) {
			sqlite3_reset(ref);
			sqlite3_bind_blob(ref, 1, m->key.bytes, ARCA_DIGEST_SIZE,
					SQLITE_STATIC);
			sqlite3_bind_blob(ref, 2, refs[r]->bytes,
					ARCA_DIGEST_SIZE, SQLITE_STATIC);
			if (sqlite3_step(ref) != SQLITE_DONE)
				die_sql(db, "reference");
		}
	}
	for (k = 0; k < n_indexes; k++) {
		if (sqlite3_exec(db, indexes[k], NULL, NULL, NULL) != SQLITE_OK)
			die_sql(db, indexes[k]);
		free(indexes[k]);
	}
	free(indexes);
	/* The shared empty blob is never the LRU's first pick. */
	if (sqlite3_exec(db, "UPDATE blobs SET last_access = 2000000000 "
			"WHERE size = 0; COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		die_sql(db, "commit");
	sqlite3_finalize(blob);
	sqlite3_finalize(act);
	sqlite3_finalize(ref);
	sqlite3_close(db);
	arca_manifest_free(m);
}

int main(int argc, char **argv)
{
	arca_store *s = NULL;
	arca_digest empty;
	int api = argc > 1 && strcmp(argv[1], "--api") == 0, error;
	unsigned long n;
	double t0 = now_s();

	if (argc != 3 + api) {
		fprintf(stderr, "usage: bulk_store [--api] DIR N\n");
		return 2;
	}
	n = strtoul(argv[2 + api], NULL, 10);
	if ((error = arca_store_open(&s, argv[1 + api], NULL)) < 0)
		die("open", error);
	if ((error = arca_blob_put(&empty, s, NULL, 0)) < 0)
		die("put", error);
	if (api)
		build_api(s, n, &empty);
	arca_store_close(s);
	if (!api)
		build_sql(argv[1 + api], n, &empty);
	printf("bulk actions=%lu seconds=%.1f\n", n, now_s() - t0);
	return 0;
}
