/*
 * bench_remote — the in-process latency of a remote hit of a small blob
 * (bench/bench_remote.sh, bench/README.md "Shared tiers").
 *
 * Usage: bench_remote DIR URL N [SIZE]
 *
 *   1. A writer store DIR/writer (created; DIR must not exist) with the
 *      tier URL configured (arca_options.tiers) stores one random blob
 *      of SIZE bytes (default 1024) with arca_blob_put(), which writes it
 *      through to the tier; the tier must count it stored.
 *   2. A reader store DIR/reader, empty, with the same tier and promotion
 *      off (arca_store_tier_set_promote()), reads it back with
 *      arca_blob_get() 1,000 times to warm up, then N times, each timed
 *      alone and compared byte for byte. Tier 0 never has the blob, so
 *      each get is what a remote hit costs a program: the local index
 *      miss, the tier's GET, the backend's and libarca's re-hash, the
 *      copy into the caller's buffer. The counters must show N + 1,000
 *      misses of tier 0 and as many hits of the tier.
 *
 * Output, in bench/run.sh's "<system> key=value ..." format:
 *
 *   arca_hit p50_us=… mean_us=… p99_us=… n=… size=…
 *
 * and the blob's digest on a line "digest HEX" (the script reads it).
 */
#include "arca/arca.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define WARMUP 1000

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
		noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench_remote: ", stderr);
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

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec * 1e-3;
}

/* splitmix64, as bench_store.c. */
static uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static arca_store *open_with_tier(const char *dir, const char *url)
{
	arca_options opts = ARCA_OPTIONS_INIT;
	const char *tiers[1] = { url };
	arca_store *store = NULL;

	opts.tiers = tiers;
	opts.n_tiers = 1;
	opts.given |= ARCA_OPT_TIERS;
	check(arca_store_open(&store, dir, &opts), dir);
	if (arca_store_tier_count(store) != 2)
		die("%s: the tier %s did not open (see the warning above)",
				dir, url);
	return store;
}

int main(int argc, char **argv)
{
	const char *dir, *url;
	char *writer_dir = NULL, *reader_dir = NULL, *end;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	unsigned char *value;
	arca_store *store;
	arca_tier_stats st0, st1;
	arca_digest digest;
	uint64_t rng = 1;
	size_t n, size = 1024, i;
	double *lat, sum = 0;
	struct stat sb;

	if (argc != 4 && argc != 5)
		die("usage: bench_remote DIR URL N [SIZE]");
	dir = argv[1];
	url = argv[2];
	n = strtoul(argv[3], &end, 10);
	if (*end != '\0' || n == 0)
		die("N must be a positive number, not '%s'", argv[3]);
	if (argc == 5) {
		size = strtoul(argv[4], &end, 10);
		if (*end != '\0' || size == 0 || size > (64u << 20))
			die("SIZE must be 1 ... 64 MiB, not '%s'", argv[4]);
	}
	if (stat(dir, &sb) == 0)
		die("%s exists: give a directory to create", dir);
	if (mkdir(dir, 0755) != 0)
		die("cannot create %s", dir);
	if (asprintf(&writer_dir, "%s/writer", dir) < 0 ||
	    asprintf(&reader_dir, "%s/reader", dir) < 0 ||
	    (value = malloc(size)) == NULL ||
	    (lat = malloc(n * sizeof(*lat))) == NULL)
		die("out of memory");
	/* A seed from the clock: a blob the tier holds from an earlier run
	 * would make the writer's put a no-op. */
	rng = (uint64_t)now_us();
	for (i = 0; i < size; i++)
		value[i] = (unsigned char)rng_next(&rng);

	store = open_with_tier(writer_dir, url);
	check(arca_blob_put(&digest, store, value, size), "arca_blob_put");
	check(arca_store_tier_stats(&st1, store, 1), "arca_store_tier_stats");
	if (st1.stored != 1)
		die("the tier did not store the blob (stored %llu, errors %llu)",
				(unsigned long long)st1.stored,
				(unsigned long long)st1.errors);
	arca_store_close(store);

	store = open_with_tier(reader_dir, url);
	check(arca_store_tier_set_promote(store, 1, 0), "set_promote");
	for (i = 0; i < WARMUP + n; i++) {
		arca_buf buf = ARCA_BUF_INIT;
		double t = now_us();

		check(arca_blob_get(&buf, store, &digest), "arca_blob_get");
		if (i >= WARMUP)
			lat[i - WARMUP] = now_us() - t;
		if (buf.size != size || memcmp(buf.data, value, size) != 0)
			die("get %zu: wrong bytes (%zu back)", i, buf.size);
		arca_buf_free(&buf);
	}
	check(arca_store_tier_stats(&st0, store, 0), "arca_store_tier_stats");
	check(arca_store_tier_stats(&st1, store, 1), "arca_store_tier_stats");
	if (st0.hits != 0 || st0.misses != WARMUP + n ||
	    st1.hits != WARMUP + n)
		die("not every get was a remote hit: tier 0 %llu hits %llu "
				"misses, tier 1 %llu hits",
				(unsigned long long)st0.hits,
				(unsigned long long)st0.misses,
				(unsigned long long)st1.hits);
	arca_store_close(store);

	for (i = 0; i < n; i++)
		sum += lat[i];
	qsort(lat, n, sizeof(*lat), cmp_double);
	arca_digest_to_hex(hex, &digest);
	printf("digest %s\n", hex);
	printf("arca_hit p50_us=%.2f mean_us=%.2f p99_us=%.2f n=%zu size=%zu\n",
			lat[n / 2], sum / (double)n, lat[n * 99 / 100], n, size);
	free(lat);
	free(value);
	free(writer_dir);
	free(reader_dir);
	return 0;
}
