/*
 * Leases and probabilistic early recomputation: the internals that tests
 * reach (white-box). Internal: never installed, never included by the CLI.
 */
#ifndef ARCA_LEASE_H
#define ARCA_LEASE_H

#include "arca/arca.h"

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

#endif
