/*
 * Helpers shared by the remote tier tests (test_redis.c,
 * test_redis_cluster.c, test_s3.c): ports, child servers, a memory sink,
 * actions whose blobs are in a store, key names. Public headers only.
 */
#ifndef ARCA_TEST_SERVER_HELPERS_H
#define ARCA_TEST_SERVER_HELPERS_H

#include "fixture.h"

#include "arca/arca.h"
#include "arca/sys/backend.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t now_ms(void);

/* n distinct 127.0.0.1 ports nothing listens on now (all bound at once,
 * read back, closed); at most 16. */
void free_ports(int *out, int n);
int free_port(void);

/* Fork and exec argv (PATH searched), stdout and stderr appended to log;
 * the child dies with the test process (PR_SET_PDEATHSIG). */
pid_t spawn_logged(const char *const *argv, const char *log);

/* Poll ready(ctx) every 10 ms until it returns non-zero. Fails the test
 * when the child *pid exits first (*pid is then 0) or after ms
 * milliseconds; what names the server in the messages, log its log. */
void wait_ready(int (*ready)(void *ctx), void *ctx, pid_t *pid, int ms,
		const char *what, const char *log);

/* SIGKILL the child *pid and reap it, if it is > 0; *pid becomes 0. */
void kill_child(pid_t *pid);

/* A sink into memory (at most sizeof data). */
typedef struct mem {
	unsigned char data[65536];
	size_t len;
} mem;

int mem_sink(void *ctx, const void *data, size_t len);

/* The store at dir, opened with NULL options (fails the test). */
arca_store *open_store(const char *dir);

arca_tier_stats tier_stats(arca_store *s, size_t i);

/*
 * The blob methods every remote tier answers alike, on b, tier 1 of s,
 * whose only blob so far is written (bytes, written through by s) and
 * which has counted no hits, misses or errors yet: a blob only in the
 * tier (only) is stat'ed and got through s, which promotes it once; an
 * empty blob is present, not a miss; a blob nowhere is a miss for b and
 * for s; find_missing flags each of the three. Fails the test otherwise.
 */
void check_tier_blobs(arca_backend *b, arca_store *s,
		const arca_digest *written, const char *bytes,
		const char *only);

/* A second machine: a store in dir/machine-b with url as its tier 1
 * gets m's action (whose output is "hello world\n", put by a first
 * machine through the same tier), a hit there promoted with its blobs.
 * The store, still open, for more checks. */
arca_store *open_second_machine(const char *dir, const char *url,
		const arca_manifest *m);

/* Whether msg is one non-empty line. */
int one_line(const char *msg);

/* Adding the tier url to s fails with ARCA_EINVAL and a one-line message
 * that names shown (and also, if not NULL) but not hidden (a password,
 * if not NULL). Fails the test otherwise. */
void expect_einval(arca_store *s, const char *url, const char *shown,
		const char *hidden, const char *also);

/* "arca:v1:<kind>:<hex digest>" into out. */
void key_of(char *out, size_t size, const char *kind, const arca_digest *d);

/* n pseudo-random bytes from seed (an LCG: the same bytes every run). */
void random_fill(unsigned char *buf, size_t n, unsigned int seed);

/* A manifest (duration 42 ms) with one output of out_bytes, stdout and
 * an empty stderr, whose blobs are put in s (and so written through). */
arca_manifest *new_action(arca_store *s, const char *stage,
		const char *out_bytes);

#endif
