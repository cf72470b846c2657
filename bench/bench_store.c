/*
 * bench_store — arca's side of the anchor benchmarks
 * (shared/bench-anchors/run.sh), through the public API only.
 *
 *   W1: N random 1 KiB values, each stored with arca_blob_put() (one
 *       commit each, as the store does it), then each read back with
 *       arca_blob_get() in a shuffled order and compared byte for byte.
 *       Every read re-hashes the blob (the library verifies on read).
 *   W2: BIGFILE stored with arca_blob_put_file() (hashed while copied,
 *       fsynced, renamed, directory fsynced, indexed), then materialised
 *       with arca_blob_get_file() as BIGFILE.out, which is then checked
 *       and deleted.
 *
 * Usage: bench_store DIR N BIGFILE
 *
 * DIR is removed first (only if it is empty or looks like an arca store)
 * and a fresh store is opened there. Output, in the anchors' format:
 *
 *   arca small_put_us=… small_get_us=… big_put_s=… big_get_s=…
 *   arca max_rss_kib=…
 *
 * small_* are mean microseconds per operation; big_* are seconds. The
 * timed regions hold only the arca_* calls (and, for W1 gets, the
 * comparison, as the anchors do). Dirty pages left by earlier programs
 * are flushed with sync() before each workload, outside the timings.
 */
#include "arca/arca.h"

#include <errno.h>
#include <dirent.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VALUE_SIZE 1024
#define SEED 1

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
		noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench_store: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void check(int error, const char *what)
{
	if (error < 0)
		die("%s: %s (%s)", what, arca_strerror(error), arca_errmsg());
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* splitmix64: reproducible values and order without libc's rand(). */
static uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* What a store directory may hold; anything else means DIR is not ours. */
static int is_store_entry(const char *name)
{
	static const char *const names[] = {
		"index.db", "index.db-wal", "index.db-shm", "index.db-journal",
		"blobs", "tmp", "quarantine"
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return 1;
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
		struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0 && errno != ENOENT)
		die("cannot remove %s: %s", path, strerror(errno));
	return 0;
}

/* rm -rf dir, refusing to touch a directory that is not an arca store. */
static void remove_store(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL) {
		if (errno == ENOENT)
			return;
		die("cannot open %s: %s", dir, strerror(errno));
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (!is_store_entry(e->d_name))
			die("%s holds '%s': not an arca store, not removing it",
					dir, e->d_name);
	}
	closedir(d);
	if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		die("cannot remove %s", dir);
}

/* W1: returns mean µs per put and per get. */
static void run_small(arca_store *store, size_t n, double *put_us,
		double *get_us)
{
	unsigned char *values;
	arca_digest *digests;
	size_t *order, i;
	uint64_t rng = SEED;
	double t;

	values = malloc(n * VALUE_SIZE);
	digests = malloc(n * sizeof(*digests));
	order = malloc(n * sizeof(*order));
	if (values == NULL || digests == NULL || order == NULL)
		die("out of memory for %zu values", n);
	for (i = 0; i < n * VALUE_SIZE / 8; i++) {
		uint64_t r = rng_next(&rng);

		memcpy(values + 8 * i, &r, 8);
	}
	for (i = 0; i < n; i++)
		order[i] = i;
	for (i = n; i > 1; i--) {
		size_t j = (size_t)(rng_next(&rng) % i), tmp = order[i - 1];

		order[i - 1] = order[j];
		order[j] = tmp;
	}

	sync();
	t = now_s();
	for (i = 0; i < n; i++)
		check(arca_blob_put(&digests[i], store, values + i * VALUE_SIZE,
				VALUE_SIZE), "arca_blob_put");
	*put_us = (now_s() - t) / (double)n * 1e6;

	t = now_s();
	for (i = 0; i < n; i++) {
		arca_buf buf = ARCA_BUF_INIT;
		size_t k = order[i];

		check(arca_blob_get(&buf, store, &digests[k]), "arca_blob_get");
		if (buf.size != VALUE_SIZE ||
				memcmp(buf.data, values + k * VALUE_SIZE,
					VALUE_SIZE) != 0) {
			fprintf(stderr, "bench_store: value %zu: wrong bytes "
					"(%zu bytes back)\n", k, buf.size);
			abort();
		}
		arca_buf_free(&buf);
	}
	*get_us = (now_s() - t) / (double)n * 1e6;

	free(values);
	free(digests);
	free(order);
}

/* W2: returns seconds for the put and for the get. */
static void run_big(arca_store *store, const char *bigfile, double *put_s,
		double *get_s)
{
	arca_digest digest, check_digest;
	uint64_t size = 0, check_size = 0;
	char *out = NULL;
	double t;

	if (asprintf(&out, "%s.out", bigfile) < 0)
		die("out of memory");

	sync();
	t = now_s();
	check(arca_blob_put_file(&digest, &size, store, bigfile),
			"arca_blob_put_file");
	*put_s = now_s() - t;

	t = now_s();
	check(arca_blob_get_file(store, &digest, out, 0644),
			"arca_blob_get_file");
	*get_s = now_s() - t;

	/* The library verified while reading; check the result anyway. */
	check(arca_digest_file(&check_digest, &check_size, out),
			"arca_digest_file");
	if (check_size != size || !arca_digest_equal(&check_digest, &digest)) {
		fprintf(stderr, "bench_store: %s does not match %s\n", out,
				bigfile);
		abort();
	}
	if (unlink(out) != 0)
		die("cannot remove %s: %s", out, strerror(errno));
	free(out);
}

int main(int argc, char **argv)
{
	arca_store *store = NULL;
	struct rusage ru;
	double put_us, get_us, put_s, get_s;
	char *end;
	unsigned long n;

	if (argc != 4) {
		fprintf(stderr, "usage: bench_store DIR N BIGFILE\n");
		return 2;
	}
	errno = 0;
	n = strtoul(argv[2], &end, 10);
	if (errno || *end || n == 0 || n > 100000000UL)
		die("N must be a positive count, not '%s'", argv[2]);
	if (argv[1][0] == '\0' || strcmp(argv[1], "/") == 0)
		die("refusing to use '%s' as the store directory", argv[1]);

	remove_store(argv[1]);
	check(arca_store_open(&store, argv[1], NULL), "arca_store_open");
	run_small(store, (size_t)n, &put_us, &get_us);
	run_big(store, argv[3], &put_s, &get_s);
	arca_store_close(store);

	printf("arca small_put_us=%.2f small_get_us=%.2f big_put_s=%.3f "
			"big_get_s=%.3f\n", put_us, get_us, put_s, get_s);
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		die("getrusage: %s", strerror(errno));
	printf("arca max_rss_kib=%ld\n", ru.ru_maxrss);
	return 0;
}
