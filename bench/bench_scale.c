/*
 * bench_scale — does lookup stay flat as the store grows, and does
 * eviction cost what it evicts?
 *
 *   lookup: arca_action_get() hits (manifest read, verified, parsed,
 *           references checked) of random keys, in a store of SMALL and
 *           of BIG entries. Reported as mean µs per hit.
 *   evict:  arca_store_evict() of 10% of the BIG store's bytes, from the
 *           least recently used end. Reported in seconds and µs/entry.
 *
 * Usage: bench_scale DIR [SMALL [BIG]]    (default 1000 and 1000000)
 *
 * Building a million entries one arca_action_put() at a time would take
 * far longer than measuring them, so the rows are written straight into
 * index.db in one transaction: the same rows arca_action_put() writes
 * (the manifest as an inline blob, the action row, its references), with
 * real manifests made by arca_manifest_to_json(). Only the building takes
 * this shortcut; the measured calls are the public API.
 *
 * Output: "scale key=value" lines. Not run by ctest.
 */
#include "arca/arca.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define LOOKUPS 20000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int code)
{
	fprintf(stderr, "bench_scale: %s: %s (%s)\n", what,
			arca_strerror(code), arca_errmsg());
	exit(1);
}

static void key_of(arca_digest *out, unsigned long i)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "key %lu", i);

	arca_digest_buffer(out, buf, (size_t)n);
}

static void sql(sqlite3 *db, const char *s)
{
	char *err = NULL;

	if (sqlite3_exec(db, s, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "bench_scale: %s: %s\n", s, err);
		exit(1);
	}
}

/* A store in dir holding n actions; action i was last used at 1000 + i. */
static void build(const char *dir, unsigned long n)
{
	static const char out_data[] = "shared output";
	arca_store *s = NULL;
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	arca_digest out, empty;
	sqlite3 *db = NULL;
	sqlite3_stmt *blob, *act, *ref;
	char path[4096];
	unsigned long i;
	int error;

	if ((error = arca_store_open(&s, dir, NULL)) < 0)
		die("open", error);
	if ((error = arca_blob_put(&out, s, out_data, sizeof(out_data) - 1)) < 0 ||
	    (error = arca_blob_put(&empty, s, NULL, 0)) < 0)
		die("put", error);
	if ((error = arca_action_new(&a, "transcribe")) < 0 ||
	    (error = arca_action_add_arg(a, "whisper")) < 0 ||
	    (error = arca_action_add_output(a, "out.txt")) < 0 ||
	    (error = arca_manifest_from_action(&m, a)) < 0 ||
	    (error = arca_manifest_add_output(m, "out.txt", &out,
			sizeof(out_data) - 1, 0644)) < 0)
		die("manifest", error);
	m->stdout_digest = empty;
	m->stderr_digest = empty;
	m->duration_ms = 1234;
	m->created = 1000;
	arca_store_close(s);

	snprintf(path, sizeof(path), "%s/index.db", dir);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		exit(1);
	sql(db, "PRAGMA synchronous=OFF");
	sql(db, "BEGIN");
	if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO blobs(digest, size, "
			"inline, created, data, last_access) VALUES(?1, ?2, 1, 1000, "
			"?3, ?4)", -1, &blob, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO actions(key, stage, manifest, "
			"size, duration_ms, created, last_access, hits) VALUES(?1, "
			"'transcribe', ?2, 13, 1234, 1000, ?3, 0)", -1, &act,
			NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO action_refs(key, "
			"digest) VALUES(?1, ?2)", -1, &ref, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench_scale: %s\n", sqlite3_errmsg(db));
		exit(1);
	}
	for (i = 0; i < n; i++) {
		arca_buf json = ARCA_BUF_INIT;
		arca_digest md;
		const arca_digest *refs[3] = { &md, &out, &empty };
		int r;

		key_of(&m->key, i);
		if ((error = arca_manifest_to_json(&json, m)) < 0)
			die("json", error);
		arca_digest_buffer(&md, json.data, json.size);
		sqlite3_bind_blob(blob, 1, md.bytes, ARCA_DIGEST_SIZE,
				SQLITE_STATIC);
		sqlite3_bind_int64(blob, 2, (sqlite3_int64)json.size);
		sqlite3_bind_blob(blob, 3, json.data, (int)json.size,
				SQLITE_STATIC);
		sqlite3_bind_int64(blob, 4, (sqlite3_int64)(1000 + i));
		if (sqlite3_step(blob) != SQLITE_DONE)
			exit(1);
		sqlite3_reset(blob);
		sqlite3_bind_blob(act, 1, m->key.bytes, ARCA_DIGEST_SIZE,
				SQLITE_STATIC);
		sqlite3_bind_blob(act, 2, md.bytes, ARCA_DIGEST_SIZE,
				SQLITE_STATIC);
		sqlite3_bind_int64(act, 3, (sqlite3_int64)(1000 + i));
		if (sqlite3_step(act) != SQLITE_DONE)
			exit(1);
		sqlite3_reset(act);
		for (r = 0; r < 3; r++) {
			sqlite3_bind_blob(ref, 1, m->key.bytes, ARCA_DIGEST_SIZE,
					SQLITE_STATIC);
			sqlite3_bind_blob(ref, 2, refs[r]->bytes,
					ARCA_DIGEST_SIZE, SQLITE_STATIC);
			if (sqlite3_step(ref) != SQLITE_DONE)
				exit(1);
			sqlite3_reset(ref);
		}
		arca_buf_free(&json);
	}
	/* The shared blobs are old too, and never the LRU's first pick. */
	sql(db, "UPDATE blobs SET last_access = 2000000000 WHERE size < 20");
	sql(db, "COMMIT");
	sqlite3_finalize(blob);
	sqlite3_finalize(act);
	sqlite3_finalize(ref);
	sqlite3_close(db);
	arca_manifest_free(m);
	arca_action_free(a);
}

/* Mean µs per arca_action_get() hit of random keys among n. */
static double lookup_us(const char *dir, unsigned long n)
{
	arca_store *s = NULL;
	double t0, t;
	unsigned long i;
	int error, peek = getenv("BENCH_PEEK") != NULL;

	if ((error = arca_store_open(&s, dir, NULL)) < 0)
		die("open", error);
	srand(42);
	/* Warm up the page cache as a long-lived store would be. */
	for (i = 0; i < LOOKUPS / 4; i++) {
		arca_manifest *m = NULL;
		arca_digest k;

		key_of(&k, n / 5 + (unsigned long)rand() % (n - n / 5));
		if ((error = peek ? arca_action_peek(&m, s, &k) :
				arca_action_get(&m, s, &k)) < 0)
			die("get", error);
		arca_manifest_free(m);
	}
	t0 = now_s();
	for (i = 0; i < LOOKUPS; i++) {
		arca_manifest *m = NULL;
		arca_digest k;

		key_of(&k, n / 5 + (unsigned long)rand() % (n - n / 5));
		if ((error = peek ? arca_action_peek(&m, s, &k) :
				arca_action_get(&m, s, &k)) < 0)
			die("get", error);
		arca_manifest_free(m);
	}
	t = now_s() - t0;
	arca_store_close(s);
	return t * 1e6 / LOOKUPS;
}

int main(int argc, char **argv)
{
	char small_dir[4096], big_dir[4096], cmd[8400];
	unsigned long small = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
	unsigned long big = argc > 3 ? strtoul(argv[3], NULL, 10) : 1000000;
	uint64_t usage, n_ev = 0, freed = 0;
	arca_store *s = NULL;
	double t0, build_s, ev_s, us_small, us_big;
	int error, reuse;

	if (argc < 2 || small < 10 || big < 10) {
		fprintf(stderr, "usage: bench_scale DIR [SMALL [BIG]]\n");
		return 2;
	}
	snprintf(small_dir, sizeof(small_dir), "%s/small", argv[1]);
	snprintf(big_dir, sizeof(big_dir), "%s/big", argv[1]);
	/* BENCH_REUSE=1: measure the stores a previous run built (lookups
	 * use the newest 80% of the keys, which eviction leaves). */
	reuse = getenv("BENCH_REUSE") != NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", small_dir, big_dir);
	if (!reuse && system(cmd) != 0)
		return 1;
	t0 = now_s();
	if (!reuse) {
		build(small_dir, small);
		t0 = now_s();
		build(big_dir, big);
	}
	build_s = now_s() - t0;
	us_small = lookup_us(small_dir, small);
	us_big = lookup_us(big_dir, big);

	if ((error = arca_store_open(&s, big_dir, NULL)) < 0)
		die("open", error);
	if ((error = arca_store_usage(&usage, NULL, s)) < 0)
		die("usage", error);
	t0 = now_s();
	if (!reuse && (error = arca_store_evict(&n_ev, &freed, s,
			usage - usage / 10)) < 0)
		die("evict", error);
	ev_s = now_s() - t0;
	arca_store_close(s);

	printf("scale entries_small=%lu entries_big=%lu build_big_s=%.1f\n",
			small, big, build_s);
	printf("scale lookup_small_us=%.1f lookup_big_us=%.1f ratio=%.2f\n",
			us_small, us_big, us_big / us_small);
	printf("scale evict_entries=%llu evict_bytes=%llu evict_s=%.2f "
			"evict_us_per_entry=%.1f\n", (unsigned long long)n_ev,
			(unsigned long long)freed, ev_s,
			n_ev ? ev_s * 1e6 / (double)n_ev : 0.0);
	return 0;
}
