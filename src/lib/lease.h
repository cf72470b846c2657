/*
 * Leases and probabilistic early recomputation: the internals that tests
 * reach (white-box). Internal: never installed, never included by the CLI.
 */
#ifndef ARCA_LEASE_H
#define ARCA_LEASE_H

#include "arca/arca.h"

#include <stddef.h>
#include <stdint.h>

/*
 * XFetch (Vattani, Chierichetti, Lowenstein, "Optimal Probabilistic Cache
 * Stampede Prevention", VLDB 2015): 1 when an entry that expires at
 * expires (seconds since the epoch) and took duration_ms to compute should
 * be recomputed now, that is when now - delta * beta * ln(u) >= expires,
 * delta being the duration in seconds and u uniform in (0, 1]. 0 otherwise
 * (also for beta <= 0 or u outside (0, 1]).
 */
int arca__xfetch_due(int64_t now, int64_t expires, uint64_t duration_ms,
		double beta, double u);

/*
 * The source of u for XFetch; tests replace it. The default reads the
 * environment variable ARCA_TEST_XFETCH_U when it holds a number in
 * (0, 1], else draws from getrandom(2). Returns a value in (0, 1].
 */
extern double (*arca__xfetch_random)(void);

/*
 * How arca__single_flight() looks up, waits and stores: the one
 * single-flight implementation, behind arca_get_or_compute() and the
 * stage runner (stage.c). Zero-initialise; hooks may be NULL.
 */
typedef struct arca__flight {
	unsigned int lock_timeout_ms; /* 0: the store's */
	double early_beta;            /* XFetch; 0: off */
	uint64_t max_age_s;           /* lookups: older is a miss; 0: any */
	uint64_t ttl_s;               /* the stored result's TTL; 0: none */
	const char *const *tags;      /* ...and its tags */
	size_t n_tags;
	int refresh;                  /* no lookup, before or after the lease */
	int lookup_errors_ok;         /* a failed lookup is a miss (hook) */
	int lease_errors_ok;          /* a lease that cannot be taken: compute
	                                 without it (hook) */
	void (*on_wait)(void *hook_ctx);  /* about to wait for the lease */
	void (*on_timeout)(void *hook_ctx, uint64_t waited_ms);
	void (*on_lease_error)(void *hook_ctx, int code);
	void (*on_lookup_error)(void *hook_ctx, int code);
	void *hook_ctx;
} arca__flight;

/*
 * arca_get_or_compute() with the options above: look up (unless
 * refresh), else take the lease (waiting at most lock_timeout_ms, then
 * computing anyway), look up again, else compute and store with the TTL
 * and tags. Returns as arca_get_or_compute().
 */
int arca__single_flight(arca_manifest **out, int *computed,
		arca_store *store, const arca_digest *key,
		arca_compute_fn compute, void *ctx, const arca__flight *f);

#endif
