/*
 * A damaged index.db degrades to misses (issue 8): byte flips and
 * truncations of index.db and of its WAL, then every call works or fails
 * with a one-line message, no read returns wrong bytes, file blobs stay
 * readable by digest and verify reports index damage as such.
 *
 * ARCA_INDEX_DAMAGE_TRIALS (default 100) and ARCA_INDEX_DAMAGE_SEED (the
 * seed is printed) control the random trials.
 */
#include "fixture.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_FILES 5
#define N_INLINE 40
#define N_ACTIONS 4
#define FILE_SIZE (150 * 1024)
#define INLINE_SIZE 1500

typedef struct content {
	arca_digest d;
	unsigned char *bytes;
	size_t len;
	int is_file;
} content;

typedef struct corpus {
	content items[N_FILES + N_INLINE];
	size_t n;
	arca_digest keys[N_ACTIONS];
} corpus;

static void fill(unsigned char *buf, size_t len, unsigned seed)
{
	size_t i;
	uint32_t x = seed * 2654435761u + 1;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (unsigned char)x;
	}
}

static void corpus_make(corpus *c, unsigned seed)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < N_FILES + N_INLINE; i++) {
		content *it = &c->items[i];

		it->is_file = i < N_FILES;
		it->len = it->is_file ? FILE_SIZE + i * 1000 : INLINE_SIZE + i;
		it->bytes = malloc(it->len);
		assert_non_null(it->bytes);
		fill(it->bytes, it->len, seed * 1000 + (unsigned)i);
		assert_int_equal(arca_digest_buffer(&it->d, it->bytes,
				it->len), 0);
	}
	c->n = N_FILES + N_INLINE;
}

static void corpus_free(corpus *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->items[i].bytes);
}

/* Actions whose output is file blob i and inline blob N_FILES + i. */
static void put_actions(arca_store *s, corpus *c)
{
	arca_digest empty;
	size_t i;

	assert_int_equal(arca_blob_put(&empty, s, NULL, 0), 0);
	for (i = 0; i < N_ACTIONS; i++) {
		arca_action *a = NULL;
		arca_manifest *m = NULL;
		char arg[32];

		snprintf(arg, sizeof(arg), "arg-%zu", i);
		assert_int_equal(arca_action_new(&a, "damage"), 0);
		assert_int_equal(arca_action_add_arg(a, arg), 0);
		assert_int_equal(arca_action_add_output(a, "f"), 0);
		assert_int_equal(arca_action_add_output(a, "g"), 0);
		assert_int_equal(arca_manifest_from_action(&m, a), 0);
		assert_int_equal(arca_manifest_add_output(m, "f",
				&c->items[i].d, c->items[i].len, 0644), 0);
		assert_int_equal(arca_manifest_add_output(m, "g",
				&c->items[N_FILES + i].d,
				c->items[N_FILES + i].len, 0644), 0);
		m->stdout_digest = empty;
		m->stderr_digest = empty;
		assert_int_equal(arca_action_put(s, m), 0);
		c->keys[i] = m->key;
		arca_manifest_free(m);
		arca_action_free(a);
	}
}

static void populate(const char *dir, corpus *c)
{
	arca_store *s = NULL;
	size_t i;

	assert_int_equal(arca_store_open(&s, dir, NULL), 0);
	for (i = 0; i < c->n; i++)
		assert_int_equal(arca_blob_put(NULL, s, c->items[i].bytes,
				c->items[i].len), 0);
	put_actions(s, c);
	arca_store_close(s);
}

/*
 * The same, in a child that ends without closing the store: its last
 * commits stay in index.db-wal, not checkpointed into index.db (a clean
 * close checkpoints), as after a crash.
 */
static void populate_uncheckpointed(const char *dir, corpus *c)
{
	pid_t pid;
	int status = 0;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_store *s = NULL;
		size_t i;

		if (arca_store_open(&s, dir, NULL) < 0)
			_exit(1);
		for (i = 0; i < c->n; i++)
			if (arca_blob_put(NULL, s, c->items[i].bytes,
					c->items[i].len) < 0)
				_exit(2);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static long file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* A failure's message: one line, saying something. */
static void assert_one_line(int rc)
{
	const char *msg = arca_errmsg();

	if (rc == 0)
		return;
	assert_non_null(msg);
	assert_true(msg[0] != '\0');
	assert_null(strchr(msg, '\n'));
}

typedef struct verify_seen {
	const corpus *c;
	unsigned n_file_reports;
} verify_seen;

static void on_corrupt(const arca_digest *d, const char *where, void *ctx)
{
	verify_seen *v = ctx;
	size_t i;

	(void)where;
	/* Only index files are damaged here: a file blob is never corrupt,
	 * so a report naming one would be a phantom. */
	for (i = 0; i < N_FILES; i++)
		if (arca_digest_equal(d, &v->c->items[i].d))
			v->n_file_reports++;
}

/* blobs/ab/<hex> of item i is on disk. */
static int file_present(const char *dir, const content *it)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];
	char *path;
	int present;

	arca_digest_to_hex(hex, &it->d);
	path = fixture_path("%s/blobs/%.2s/%s", dir, hex, hex);
	present = access(path, F_OK) == 0;
	free(path);
	return present;
}

/*
 * Every read is byte-exact or a miss; returns how many were hits. With
 * files_dir, every file blob present on disk there must be a hit (after a
 * rebuild; a file removed earlier, with the actions of a corrupt inline
 * blob it was an output of, is rightly a miss).
 */
static unsigned check_reads(arca_store *s, const corpus *c,
		const char *files_dir)
{
	unsigned hits = 0;
	size_t i;

	for (i = 0; i < c->n; i++) {
		arca_buf b = ARCA_BUF_INIT;
		int rc = arca_blob_get(&b, s, &c->items[i].d);


		if (rc == 0) {
			assert_int_equal(b.size, c->items[i].len);
			assert_memory_equal(b.data, c->items[i].bytes, b.size);
			hits++;
		} else {
			if (rc != ARCA_ENOTFOUND && rc != ARCA_ECORRUPT)
				fprintf(stderr, "get: %d %s\n", rc,
						arca_errmsg());
			assert_true(rc == ARCA_ENOTFOUND || rc == ARCA_ECORRUPT);
			assert_one_line(rc);
			if (files_dir && c->items[i].is_file &&
			    file_present(files_dir, &c->items[i])) {
				fprintf(stderr, "file blob %zu: %s\n", i,
						arca_errmsg());
				fail();
			}
		}
		arca_buf_free(&b);
	}
	for (i = 0; i < N_ACTIONS; i++) {
		arca_manifest *m = NULL;
		int rc = arca_action_get(&m, s, &c->keys[i]);

		if (rc == 0) {
			/* A hit names the blobs it was stored with. */
			assert_int_equal(m->n_outputs, 2);
			assert_true(arca_digest_equal(&m->outputs[0].digest,
					&c->items[i].d));
		} else {
			assert_int_equal(rc, ARCA_ENOTFOUND);
		}
		arca_manifest_free(m);
	}
	return hits;
}

/* After the damage: the store opens, reads, writes and verifies.
 * Returns 1 when the index was repaired (at open or by verify). */
static int exercise(const char *dir, const corpus *c, unsigned trial)
{
	arca_store *s = NULL;
	arca_index_repair r;
	verify_seen v = { c, 0 };
	uint64_t checked = 0, corrupt = 0;
	unsigned char fresh[3000];
	arca_buf b = ARCA_BUF_INIT;
	arca_digest d;
	int rc, repaired;

	rc = arca_store_open(&s, dir, NULL);
	if (rc < 0)
		fprintf(stderr, "trial %u: open: %s\n", trial, arca_errmsg());
	assert_int_equal(rc, 0);
	assert_int_equal(arca_store_index_repair(&r, s), 0);
	if (r.repaired) {
		assert_non_null(r.message);
		assert_null(strchr(r.message, '\n'));
		assert_non_null(strstr(r.message, dir));
		assert_non_null(strstr(r.moved_to, "/quarantine/index.db."));
	}
	(void)check_reads(s, c, NULL);
	fill(fresh, sizeof(fresh), 7000 + trial);
	rc = arca_blob_put(&d, s, fresh, sizeof(fresh));
	if (rc < 0)
		fprintf(stderr, "trial %u: put: %s\n", trial, arca_errmsg());
	assert_int_equal(rc, 0);
	rc = arca_blob_get(&b, s, &d);
	assert_int_equal(rc, 0);
	assert_memory_equal(b.data, fresh, sizeof(fresh));
	arca_buf_free(&b);
	rc = arca_store_verify(&checked, &corrupt, s, on_corrupt, &v);
	if (rc < 0)
		fprintf(stderr, "trial %u: verify: %s\n", trial, arca_errmsg());
	assert_int_equal(rc, 0);
	assert_int_equal(v.n_file_reports, 0);
	assert_int_equal(arca_store_index_repair(&r, s), 0);
	repaired = r.repaired;
	/* A rebuilt index has every file blob back. */
	(void)check_reads(s, c, repaired ? dir : NULL);
	arca_store_close(s);

	/* A second verify, on a new handle, finds nothing: no report
	 * comes back forever. */
	assert_int_equal(arca_store_open(&s, dir, NULL), 0);
	assert_int_equal(arca_store_verify(&checked, &corrupt, s, NULL, NULL),
			0);
	assert_int_equal(corrupt, 0);
	assert_int_equal(arca_store_index_repair(&r, s), 0);
	if (r.repaired)
		fprintf(stderr, "trial %u: repaired again: %s\n", trial,
				r.message);
	assert_false(r.repaired);
	arca_store_close(s);
	return repaired;
}

static void damage(const char *path, unsigned *rng, unsigned trial)
{
	long size = file_size(path);
	unsigned kind = rand_r(rng) % 3, i, n;

	if (size <= 0)
		return;
	if (kind == 0) {
		long at = (long)((unsigned long)rand_r(rng) % (unsigned long)size);

		fprintf(stderr, "trial %u: truncate %s to %ld of %ld\n", trial,
				strrchr(path, '/') + 1, at, size);
		assert_int_equal(truncate(path, at), 0);
		return;
	}
	n = kind == 1 ? 1 : 1 + (unsigned)rand_r(rng) % 16;
	for (i = 0; i < n; i++) {
		long at = (long)((unsigned long)rand_r(rng) % (unsigned long)size);
		FILE *f = fopen(path, "r+b");
		int ch;

		assert_non_null(f);
		assert_int_equal(fseek(f, at, SEEK_SET), 0);
		ch = fgetc(f);
		assert_int_equal(fseek(f, at, SEEK_SET), 0);
		fputc(ch ^ (1 << (rand_r(rng) % 8)), f);
		fclose(f);
	}
	fprintf(stderr, "trial %u: %u flip(s) in %s (%ld bytes)\n", trial, n,
			strrchr(path, '/') + 1, size);
}

static void test_index_damage__random_flips_and_truncations(void **state)
{
	const char *env_trials = getenv("ARCA_INDEX_DAMAGE_TRIALS");
	const char *env_seed = getenv("ARCA_INDEX_DAMAGE_SEED");
	unsigned trials = env_trials ? (unsigned)atoi(env_trials) : 100;
	unsigned seed = env_seed ? (unsigned)strtoul(env_seed, NULL, 10) :
		(unsigned)time(NULL) ^ (unsigned)getpid();
	unsigned rng = seed, t, repairs = 0;
	corpus c;

	(void)state;
	fprintf(stderr, "index damage: %u trials, seed %u "
			"(ARCA_INDEX_DAMAGE_SEED replays it)\n", trials, seed);
	corpus_make(&c, 1);
	for (t = 0; t < trials; t++) {
		char *root = fixture_tempdir();
		char *dir = fixture_path("%s/store", root);
		char *db = fixture_path("%s/index.db", dir);
		char *wal = fixture_path("%s/index.db-wal", dir);
		char *shm = fixture_path("%s/index.db-shm", dir);
		int in_wal = t % 4 == 1 || t % 4 == 3;

		populate(dir, &c);
		if (t % 4 == 0) {
			/* A clean close checkpointed everything into index.db:
			 * without the WAL, SQLite reads index.db itself. */
			unlink(wal);
			unlink(shm);
		} else {
			/* The latest commits only in the WAL, as after a
			 * crash; damage to the WAL or to index.db under it. */
			populate_uncheckpointed(dir, &c);
			if (file_size(wal) <= 0)
				in_wal = 0;
		}
		damage(in_wal ? wal : db, &rng, t);
		repairs += exercise(dir, &c, t);
		free(shm);
		free(db);
		free(wal);
		free(dir);
		fixture_rmdir(root);
	}
	fprintf(stderr, "index damage: %u of %u trials repaired the index\n",
			repairs, trials);
	corpus_free(&c);
}

/* index.db is garbage (SQLITE_NOTADB): open repairs, file blobs read. */
static void test_index_damage__garbage_index_is_rebuilt(void **state)
{
	char *root = fixture_tempdir();
	char *dir = fixture_path("%s/store", root);
	char *db = fixture_path("%s/index.db", dir);
	char *wal = fixture_path("%s/index.db-wal", dir);
	char *shm = fixture_path("%s/index.db-shm", dir);
	unsigned char garbage[8192];
	arca_store *s = NULL;
	arca_index_repair r;
	corpus c;
	uint64_t checked = 0, corrupt = 0;
	char *q;

	(void)state;
	corpus_make(&c, 2);
	populate(dir, &c);
	fill(garbage, sizeof(garbage), 99);
	fixture_write_file(db, garbage, sizeof(garbage));
	/* What a clean close left in the WAL is in index.db already. */
	unlink(wal);
	unlink(shm);

	assert_int_equal(arca_store_open(&s, dir, NULL), 0);
	assert_int_equal(arca_store_index_repair(&r, s), 0);
	assert_true(r.repaired);
	assert_string_equal(r.reason, "file is not a database");
	assert_int_equal(r.n_blob_files, N_FILES);
	assert_int_equal(r.n_quarantined, 0);
	fprintf(stderr, "%s\n", r.message);
	assert_non_null(strstr(r.message, "index.db was damaged (file is not "
			"a database); moved to quarantine/index.db."));
	assert_non_null(strstr(r.message, "rebuilt from 5 blob files; cached "
			"actions are lost"));
	/* The damaged index is kept, byte for byte. */
	{
		size_t len = 0;
		unsigned char *kept = fixture_read_file(r.moved_to, &len);

		assert_non_null(kept);
		assert_int_equal(len, sizeof(garbage));
		assert_memory_equal(kept, garbage, len);
		free(kept);
	}
	q = fixture_path("%s", r.moved_to);
	/* Every file blob reads back; inline blobs and actions are misses. */
	assert_int_equal(check_reads(s, &c, dir), N_FILES);
	assert_int_equal(arca_store_verify(&checked, &corrupt, s, NULL, NULL),
			0);
	assert_int_equal(checked, N_FILES);
	assert_int_equal(corrupt, 0);
	arca_store_close(s);

	/* Next open: nothing to repair. */
	assert_int_equal(arca_store_open(&s, dir, NULL), 0);
	assert_int_equal(arca_store_index_repair(&r, s), 0);
	assert_false(r.repaired);
	assert_int_equal(check_reads(s, &c, dir), N_FILES);
	arca_store_close(s);
	free(q);
	free(db);
	free(wal);
	free(shm);
	free(dir);
	fixture_rmdir(root);
	corpus_free(&c);
}

/* index.db cut to half its size: open or verify repairs; files read. */
static void test_index_damage__truncated_index(void **state)
{
	char *root = fixture_tempdir();
	char *dir = fixture_path("%s/store", root);
	char *db = fixture_path("%s/index.db", dir);
	char *wal = fixture_path("%s/index.db-wal", dir);
	char *shm = fixture_path("%s/index.db-shm", dir);
	arca_store *s = NULL;
	arca_index_repair r;
	uint64_t checked = 0, corrupt = 0;
	corpus c;

	(void)state;
	corpus_make(&c, 3);
	populate(dir, &c);
	unlink(wal);
	unlink(shm);
	assert_int_equal(truncate(db, file_size(db) / 2), 0);

	assert_int_equal(arca_store_open(&s, dir, NULL), 0);
	(void)check_reads(s, &c, NULL);
	assert_int_equal(arca_store_verify(&checked, &corrupt, s, NULL, NULL),
			0);
	assert_int_equal(arca_store_index_repair(&r, s), 0);
	assert_true(r.repaired);
	fprintf(stderr, "%s\n", r.message);
	assert_int_equal(r.n_blob_files, N_FILES);
	assert_int_equal(check_reads(s, &c, dir), N_FILES);
	arca_store_close(s);
	free(db);
	free(wal);
	free(shm);
	free(dir);
	fixture_rmdir(root);
	corpus_free(&c);
}

/*
 * One flipped byte in a b-tree page that opening never reads (a leaf page
 * of an index over the blobs table): reads go on working, and verify's
 * PRAGMA integrity_check finds it and repairs the index; no blob is
 * reported corrupt.
 */
static void test_index_damage__btree_flip_found_by_verify(void **state)
{
	char *root = fixture_tempdir();
	char *dir = fixture_path("%s/store", root);
	char *db = fixture_path("%s/index.db", dir);
	char *wal = fixture_path("%s/index.db-wal", dir);
	char *shm = fixture_path("%s/index.db-shm", dir);
	arca_store *s = NULL;
	arca_index_repair r;
	verify_seen v;
	uint64_t checked = 0, corrupt = 0;
	unsigned char *bytes;
	size_t len = 0, page_size, p, flipped = 0;
	corpus c;

	(void)state;
	corpus_make(&c, 4);
	v.c = &c;
	v.n_file_reports = 0;
	populate(dir, &c);
	unlink(wal);
	unlink(shm);
	/* The file format (https://www.sqlite.org/fileformat2.html): the page
	 * size at offset 16, big-endian (1 means 65536); each b-tree page
	 * starts with its type, 0x0a for a leaf page of an index, and its
	 * number of cells at offsets 3-4. The fullest such page holds an
	 * index of the blobs table (the meta table, WITHOUT ROWID, has a
	 * page of this type too, with two rows). Flip the last byte of the
	 * page, the end of its last cell's key. */
	bytes = fixture_read_file(db, &len);
	assert_non_null(bytes);
	page_size = (size_t)bytes[16] << 8 | bytes[17];
	if (page_size == 1)
		page_size = 65536;
	{
		size_t most = 0;

		for (p = 1; (p + 1) * page_size <= len; p++) {
			const unsigned char *pg = bytes + p * page_size;
			size_t cells = (size_t)pg[3] << 8 | pg[4];

			if (pg[0] == 0x0a && cells > most) {
				most = cells;
				flipped = (p + 1) * page_size - 1;
			}
		}
		assert_true(most > 10);
	}
	free(bytes);
	assert_true(flipped > 0);
	fixture_flip_byte(db, (long)flipped);

	assert_int_equal(arca_store_open(&s, dir, NULL), 0);
	assert_int_equal(arca_store_index_repair(&r, s), 0);
	assert_false(r.repaired);
	assert_int_equal(arca_store_verify(&checked, &corrupt, s, on_corrupt,
			&v), 0);
	assert_int_equal(arca_store_index_repair(&r, s), 0);
	assert_true(r.repaired);
	fprintf(stderr, "%s\n", r.message);
	assert_non_null(strstr(r.reason, "integrity_check"));
	assert_int_equal(corrupt, 0);
	assert_int_equal(v.n_file_reports, 0);
	assert_int_equal(check_reads(s, &c, dir), N_FILES);
	arca_store_close(s);
	free(db);
	free(wal);
	free(shm);
	free(dir);
	fixture_rmdir(root);
	corpus_free(&c);
}

/* Two processes open the damaged store at once: one repairs, the other
 * waits and opens the repaired index; no file blob is lost. */
static void test_index_damage__concurrent_opens_repair_once(void **state)
{
	char *root = fixture_tempdir();
	char *dir = fixture_path("%s/store", root);
	char *db = fixture_path("%s/index.db", dir);
	char *wal = fixture_path("%s/index.db-wal", dir);
	char *shm = fixture_path("%s/index.db-shm", dir);
	char *qdir = fixture_path("%s/quarantine", dir);
	unsigned char garbage[4096];
	pid_t pids[4];
	arca_store *s = NULL;
	unsigned i, n_index = 0;
	DIR *d;
	struct dirent *e;
	corpus c;

	(void)state;
	corpus_make(&c, 5);
	populate(dir, &c);
	fill(garbage, sizeof(garbage), 5);
	fixture_write_file(db, garbage, sizeof(garbage));
	unlink(wal);
	unlink(shm);
	fflush(NULL);
	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			arca_buf b = ARCA_BUF_INIT;
			size_t k;

			if (arca_store_open(&s, dir, NULL) < 0)
				_exit(1);
			for (k = 0; k < N_FILES; k++) {
				if (arca_blob_get(&b, s, &c.items[k].d) < 0 ||
				    b.size != c.items[k].len ||
				    memcmp(b.data, c.items[k].bytes, b.size))
					_exit(2);
				arca_buf_free(&b);
			}
			arca_store_close(s);
			_exit(0);
		}
	}
	for (i = 0; i < 4; i++) {
		int status = 0;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	d = opendir(qdir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n_index += strncmp(e->d_name, "index.db.", 9) == 0 &&
			strchr(e->d_name + 9, '-') == NULL;
	closedir(d);
	assert_int_equal(n_index, 1);
	free(qdir);
	free(db);
	free(wal);
	free(shm);
	free(dir);
	fixture_rmdir(root);
	corpus_free(&c);
}

/* A read-only handle never repairs: a clear error, nothing moved. */
static void test_index_damage__read_only_open_fails_cleanly(void **state)
{
	char *root = fixture_tempdir();
	char *dir = fixture_path("%s/store", root);
	char *db = fixture_path("%s/index.db", dir);
	char *wal = fixture_path("%s/index.db-wal", dir);
	char *shm = fixture_path("%s/index.db-shm", dir);
	arca_options o = ARCA_OPTIONS_INIT;
	unsigned char garbage[4096];
	arca_store *s = NULL;
	int rc;
	corpus c;

	(void)state;
	corpus_make(&c, 6);
	populate(dir, &c);
	fill(garbage, sizeof(garbage), 6);
	fixture_write_file(db, garbage, sizeof(garbage));
	unlink(wal);
	unlink(shm);
	o.read_only = 1;
	rc = arca_store_open(&s, dir, &o);
	assert_int_equal(rc, ARCA_EIO);
	assert_one_line(rc);
	assert_non_null(strstr(arca_errmsg(), "read-write"));
	assert_null(s);
	assert_int_equal(file_size(db), (long)sizeof(garbage));
	free(db);
	free(wal);
	free(shm);
	free(dir);
	fixture_rmdir(root);
	corpus_free(&c);
}

/* get of a blob whose file was removed by hand: a miss that says the
 * file was missing from disk, and the index entry is dropped. */
static void test_index_damage__deleted_blob_file_is_a_miss(void **state)
{
	fixture_store *f = *state;
	unsigned char buf[200 * 1024];
	arca_buf b = ARCA_BUF_INIT;
	arca_digest d;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	uint64_t size = 0;
	char *path;

	fill(buf, sizeof(buf), 11);
	assert_int_equal(arca_blob_put(&d, f->store, buf, sizeof(buf)), 0);
	arca_digest_to_hex(hex, &d);
	path = fixture_path("%s/blobs/%.2s/%s", f->dir, hex, hex);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(arca_blob_get(&b, f->store, &d), ARCA_ENOTFOUND);
	assert_non_null(strstr(arca_errmsg(), "missing from disk"));
	assert_null(strstr(arca_errmsg(), "corrupt"));
	/* The row is gone: a plain miss now, and puts store it again. */
	assert_int_equal(arca_blob_stat(&size, f->store, &d), ARCA_ENOTFOUND);
	assert_null(strstr(arca_errmsg(), "missing"));
	assert_int_equal(arca_blob_put(&d, f->store, buf, sizeof(buf)), 0);
	assert_int_equal(arca_blob_get(&b, f->store, &d), 0);
	assert_memory_equal(b.data, buf, sizeof(buf));
	arca_buf_free(&b);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_index_damage__garbage_index_is_rebuilt),
		cmocka_unit_test(test_index_damage__truncated_index),
		cmocka_unit_test(test_index_damage__btree_flip_found_by_verify),
		cmocka_unit_test(
			test_index_damage__concurrent_opens_repair_once),
		cmocka_unit_test(
			test_index_damage__read_only_open_fails_cleanly),
		cmocka_unit_test_setup_teardown(
			test_index_damage__deleted_blob_file_is_a_miss,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test(
			test_index_damage__random_flips_and_truncations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
