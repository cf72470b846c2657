/*
 * Every flipped byte is detected: in file blobs (on disk), inline blobs and
 * manifests (inside index.db). A store is filled, one random byte of a
 * random subset of its blobs is changed, then (a) arca_store_verify must
 * report exactly those blobs and quarantine them, and (b) in a copy of the
 * same store, every read of a flipped blob must fail ARCA_ECORRUPT (never
 * return the wrong bytes), every action whose manifest was flipped must be
 * a miss, and everything untouched must still read back.
 *
 * ARCA_CORRUPTION_SEED replays a run (the seed is printed).
 */
#include "fixture.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define N_FILE 50
#define N_INLINE 50
#define N_ACTIONS 20
#define N_ALL (N_FILE + N_INLINE + N_ACTIONS)

enum { KIND_FILE, KIND_INLINE, KIND_MANIFEST };

typedef struct item {
	int kind;
	arca_digest digest;   /* the blob (for a manifest: the manifest blob) */
	arca_digest key;      /* KIND_MANIFEST: the action key */
	arca_digest output;   /* KIND_MANIFEST: the action's output blob */
	unsigned char *data;  /* the original content (not for manifests) */
	size_t size;
	int flipped;
	int seen;             /* reported by verify */
} item;

typedef struct corruption {
	char *base;
	char *dir_a;          /* verify runs here */
	char *dir_b;          /* reads run here (a copy of dir_a) */
	item items[N_ALL];
	size_t n_flipped[3];
	uint64_t rng;
} corruption;

static uint64_t next_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned char *random_bytes(uint64_t *rng, size_t len)
{
	unsigned char *p = malloc(len ? len : 1);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++)
		p[i] = (unsigned char)next_rand(rng);
	return p;
}

static item *find_item(corruption *c, const arca_digest *d)
{
	size_t i;

	for (i = 0; i < N_ALL; i++)
		if (arca_digest_equal(&c->items[i].digest, d))
			return &c->items[i];
	return NULL;
}

/* An action whose one output is a blob of its own (never flipped). */
static void record(arca_store *s, item *it, size_t n)
{
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	arca_digest empty;
	char content[64];

	snprintf(content, sizeof(content), "output of action %zu", n);
	assert_int_equal(arca_action_new(&a, "corrupt"), 0);
	assert_int_equal(arca_action_add_arg(a, "make"), 0);
	assert_int_equal(arca_action_add_arg(a, content), 0);
	assert_int_equal(arca_action_add_output(a, "out.bin"), 0);
	assert_int_equal(arca_action_set_tool(a, ARCA_TOOL_VERSION, "1"), 0);
	assert_int_equal(arca_manifest_from_action(&m, a), 0);
	assert_int_equal(arca_blob_put(&it->output, s, content,
			strlen(content)), 0);
	assert_int_equal(arca_blob_put(&empty, s, NULL, 0), 0);
	assert_int_equal(arca_manifest_add_output(m, "out.bin", &it->output,
			strlen(content), 0644), 0);
	m->stdout_digest = empty;
	m->stderr_digest = empty;
	assert_int_equal(arca_action_put(s, m), 0);
	it->key = m->key;
	arca_manifest_free(m);
	arca_action_free(a);
}

static void manifest_digest(sqlite3 *db, item *it)
{
	sqlite3_stmt *st = NULL;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT manifest FROM actions "
			"WHERE key = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, it->key.bytes, ARCA_DIGEST_SIZE,
			SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_bytes(st, 0), ARCA_DIGEST_SIZE);
	memcpy(it->digest.bytes, sqlite3_column_blob(st, 0), ARCA_DIGEST_SIZE);
	sqlite3_finalize(st);
}

/* XOR one random byte of an inline blob (or manifest) in index.db. */
static void flip_inline(corruption *c, sqlite3 *db, item *it)
{
	sqlite3_stmt *st = NULL;
	unsigned char *data;
	size_t len, off;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT data FROM blobs "
			"WHERE digest = ? AND inline = 1", -1, &st, NULL),
			SQLITE_OK);
	sqlite3_bind_blob(st, 1, it->digest.bytes, ARCA_DIGEST_SIZE,
			SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	len = (size_t)sqlite3_column_bytes(st, 0);
	assert_true(len > 0);
	data = malloc(len);
	assert_non_null(data);
	memcpy(data, sqlite3_column_blob(st, 0), len);
	sqlite3_finalize(st);

	off = (size_t)(next_rand(&c->rng) % len);
	data[off] ^= (unsigned char)(1 + next_rand(&c->rng) % 255);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE blobs SET data = ? "
			"WHERE digest = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, data, (int)len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, it->digest.bytes, ARCA_DIGEST_SIZE,
			SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_finalize(st);
	free(data);
}

/* XOR one random byte of a file blob (blob files are read-only). */
static void flip_file(corruption *c, item *it)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];
	char *path;
	FILE *f;
	long off;
	int ch;

	arca_digest_to_hex(hex, &it->digest);
	path = fixture_path("%s/blobs/%.2s/%s", c->dir_a, hex, hex);
	assert_int_equal(chmod(path, 0644), 0);
	off = (long)(next_rand(&c->rng) % it->size);
	f = fopen(path, "r+b");
	assert_non_null(f);
	assert_int_equal(fseek(f, off, SEEK_SET), 0);
	ch = fgetc(f);
	assert_true(ch != EOF);
	assert_int_equal(fseek(f, off, SEEK_SET), 0);
	assert_true(fputc(ch ^ (int)(1 + next_rand(&c->rng) % 255), f) != EOF);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0444), 0);
	free(path);
}

static int setup(void **state)
{
	corruption *c = calloc(1, sizeof(*c));
	const char *env = getenv("ARCA_CORRUPTION_SEED");
	uint64_t seed = env && *env ? strtoull(env, NULL, 0) : 0;
	arca_store *s = NULL;
	sqlite3 *db = NULL;
	char *db_path, *cmd;
	size_t i;

	assert_non_null(c);
	if (seed == 0)
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	fprintf(stderr, "corruption: seed %llu (ARCA_CORRUPTION_SEED)\n",
			(unsigned long long)seed);
	c->rng = seed;
	c->base = fixture_tempdir();
	c->dir_a = fixture_path("%s/a", c->base);
	c->dir_b = fixture_path("%s/b", c->base);

	assert_int_equal(arca_store_open(&s, c->dir_a, NULL), 0);
	for (i = 0; i < N_ALL; i++) {
		item *it = &c->items[i];

		if (i < N_FILE) {
			it->kind = KIND_FILE;
			it->size = ARCA_DEFAULT_INLINE_THRESHOLD + 1 +
				(size_t)(next_rand(&c->rng) % (128 * 1024));
		} else if (i < N_FILE + N_INLINE) {
			it->kind = KIND_INLINE;
			it->size = 1 + (size_t)(next_rand(&c->rng) %
					ARCA_DEFAULT_INLINE_THRESHOLD);
		} else {
			it->kind = KIND_MANIFEST;
			record(s, it, i);
			continue;
		}
		it->data = random_bytes(&c->rng, it->size);
		assert_int_equal(arca_blob_put(&it->digest, s, it->data,
				it->size), 0);
	}
	arca_store_close(s);

	/* Flip about half of each kind, at least one. */
	db_path = fixture_path("%s/index.db", c->dir_a);
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	for (i = 0; i < N_ALL; i++) {
		item *it = &c->items[i];

		if (it->kind == KIND_MANIFEST)
			manifest_digest(db, it);
		if (next_rand(&c->rng) % 2 == 0 &&
				!(i == 0 || i == N_FILE || i == N_FILE + N_INLINE))
			continue;
		it->flipped = 1;
		c->n_flipped[it->kind]++;
		if (it->kind == KIND_FILE)
			flip_file(c, it);
		else
			flip_inline(c, db, it);
	}
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	free(db_path);
	fprintf(stderr, "corruption: flipped %zu of %d file blobs, %zu of %d "
			"inline blobs, %zu of %d manifests\n",
			c->n_flipped[KIND_FILE], N_FILE,
			c->n_flipped[KIND_INLINE], N_INLINE,
			c->n_flipped[KIND_MANIFEST], N_ACTIONS);

	cmd = fixture_path("cp -a '%s' '%s'", c->dir_a, c->dir_b);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	corruption *c = *state;
	size_t i;

	if (c == NULL)
		return 0;
	for (i = 0; i < N_ALL; i++)
		free(c->items[i].data);
	free(c->dir_a);
	free(c->dir_b);
	fixture_rmdir(c->base);
	free(c);
	return 0;
}

/* Untouched blobs and actions read back exactly. */
static void check_untouched(corruption *c, arca_store *s)
{
	size_t i;

	for (i = 0; i < N_ALL; i++) {
		item *it = &c->items[i];
		arca_manifest *m = NULL;
		arca_buf b = ARCA_BUF_INIT;

		if (it->flipped)
			continue;
		if (it->kind != KIND_MANIFEST) {
			assert_int_equal(arca_blob_get(&b, s, &it->digest), 0);
			assert_int_equal(b.size, it->size);
			assert_memory_equal(b.data, it->data, it->size);
			arca_buf_free(&b);
			continue;
		}
		assert_int_equal(arca_action_get(&m, s, &it->key), 0);
		assert_int_equal(m->n_outputs, 1);
		assert_true(arca_digest_equal(&m->outputs[0].digest,
				&it->output));
		arca_manifest_free(m);
		assert_int_equal(arca_blob_get(&b, s, &it->output), 0);
		arca_buf_free(&b);
	}
}

static void verify_cb(const arca_digest *digest, const char *where,
		void *ctx)
{
	corruption *c = ctx;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	item *it = find_item(c, digest);

	arca_digest_to_hex(hex, digest);
	if (it == NULL || !it->flipped) {
		fprintf(stderr, "verify reported an untouched blob %s (%s)\n",
				hex, where);
		fail();
	}
	it->seen++;
}

static void test_corruption__verify_finds_every_flip(void **state)
{
	corruption *c = *state;
	size_t n_flipped = c->n_flipped[0] + c->n_flipped[1] + c->n_flipped[2];
	uint64_t n_checked = 0, n_corrupt = 0;
	arca_store *s = NULL;
	size_t i;

	assert_int_equal(arca_store_open(&s, c->dir_a, NULL), 0);
	assert_int_equal(arca_store_verify(&n_checked, &n_corrupt, s,
			verify_cb, c), 0);
	fprintf(stderr, "corruption: verify checked %llu blobs, found %llu "
			"corrupt of %zu flipped\n",
			(unsigned long long)n_checked,
			(unsigned long long)n_corrupt, n_flipped);
	assert_int_equal(n_corrupt, n_flipped);
	for (i = 0; i < N_ALL; i++) {
		item *it = &c->items[i];
		char hex[ARCA_DIGEST_HEXLEN + 1];
		arca_buf b = ARCA_BUF_INIT;
		arca_manifest *m = NULL;
		char *q;
		struct stat st;

		if (!it->flipped)
			continue;
		assert_int_equal(it->seen, 1);
		/* Quarantined: the bad bytes kept aside, the entry gone. */
		arca_digest_to_hex(hex, &it->digest);
		q = fixture_path("%s/quarantine/%s%s", c->dir_a, hex,
				it->kind == KIND_FILE ? "" : ".inline");
		assert_int_equal(stat(q, &st), 0);
		free(q);
		assert_int_equal(arca_blob_get(&b, s, &it->digest),
				ARCA_ENOTFOUND);
		if (it->kind == KIND_MANIFEST)
			assert_int_equal(arca_action_get(&m, s, &it->key),
					ARCA_ENOTFOUND);
	}
	check_untouched(c, s);
	/* Nothing corrupt is left. */
	assert_int_equal(arca_store_verify(NULL, &n_corrupt, s, NULL, NULL), 0);
	assert_int_equal(n_corrupt, 0);
	arca_store_close(s);
}

static void test_corruption__reads_never_return_flipped_bytes(void **state)
{
	corruption *c = *state;
	arca_store *s = NULL;
	size_t i, detected = 0, misses = 0;

	assert_int_equal(arca_store_open(&s, c->dir_b, NULL), 0);
	/* Lookups first: a flipped manifest makes its action a miss. */
	for (i = 0; i < N_ALL; i++) {
		item *it = &c->items[i];
		arca_manifest *m = NULL;

		if (it->kind != KIND_MANIFEST || !it->flipped)
			continue;
		assert_int_equal(arca_action_get(&m, s, &it->key),
				ARCA_ENOTFOUND);
		assert_null(m);
		assert_int_equal(arca_action_get(&m, s, &it->key),
				ARCA_ENOTFOUND);
		misses++;
	}
	for (i = 0; i < N_ALL; i++) {
		item *it = &c->items[i];
		arca_buf b = ARCA_BUF_INIT;
		char *dest;

		if (!it->flipped || it->kind == KIND_MANIFEST)
			continue;
		if (i % 2) {
			assert_int_equal(arca_blob_get(&b, s, &it->digest),
					ARCA_ECORRUPT);
			assert_null(b.data);
			assert_int_equal(b.size, 0);
		} else {
			/* Materialising writes nothing at the destination. */
			dest = fixture_path("%s/out-%zu", c->base, i);
			assert_int_equal(arca_blob_get_file(s, &it->digest,
					dest, 0644), ARCA_ECORRUPT);
			assert_int_equal(access(dest, F_OK), -1);
			free(dest);
		}
		/* Quarantined: from now on a plain miss. */
		assert_int_equal(arca_blob_get(&b, s, &it->digest),
				ARCA_ENOTFOUND);
		detected++;
	}
	fprintf(stderr, "corruption: reads detected %zu of %zu flipped blobs,"
			" %zu of %zu flipped manifests are misses\n", detected,
			c->n_flipped[KIND_FILE] + c->n_flipped[KIND_INLINE],
			misses, c->n_flipped[KIND_MANIFEST]);
	check_untouched(c, s);
	arca_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
				test_corruption__verify_finds_every_flip,
				setup, teardown),
		cmocka_unit_test_setup_teardown(
				test_corruption__reads_never_return_flipped_bytes,
				setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
