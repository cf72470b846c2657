/*
 * The one wall clock of libarca, replaceable for tests (arca_set_clock(),
 * ARCA_TEST_NOW), and the monotonic clock for deadlines.
 */
#include "internal.h"

#include <stdlib.h>
#include <time.h>

static arca_clock_fn clock_fn;
static void *clock_ctx;

void arca_set_clock(arca_clock_fn now_fn, void *ctx)
{
	clock_fn = now_fn;
	clock_ctx = now_fn ? ctx : NULL;
}

int64_t arca__now(void)
{
	const char *env;

	if (clock_fn != NULL)
		return clock_fn(clock_ctx);
	env = getenv("ARCA_TEST_NOW");
	if (env != NULL && *env != '\0') {
		char *end = NULL;
		long long v = strtoll(env, &end, 10);

		if (end != env && *end == '\0')
			return (int64_t)v;
	}
	return (int64_t)time(NULL);
}

int64_t arca__now_ns(void)
{
	const char *env = getenv("ARCA_TEST_NOW");
	struct timespec ts;

	if (clock_fn != NULL || (env != NULL && *env != '\0') ||
	    clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return arca__now() * 1000000000;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t arca__mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + (int64_t)ts.tv_nsec / 1000000;
}
