/*
 * Tier URLs (tier_url.c): shared by the URL dispatcher and the backends
 * it opens.
 */
#ifndef ARCA_TIER_URL_H
#define ARCA_TIER_URL_H

#include "arca/arca.h"

#include <stddef.h>

/*
 * arca_store_add_tier_url() with lazy non-zero: the backend checks the
 * URL and its credentials but does not connect (Redis) or probe the
 * bucket (S3) until its first call, so a process served by tier 0 never
 * waits for a remote (store.c's open_remotes()). Same returns.
 */
int arca__store_add_tier_url(arca_store *store, const char *url,
		const arca_tier_options *opts, int lazy);

/*
 * Write url into out (size bytes, always NUL-terminated, truncated if
 * need be) with its password removed: the ":PASSWORD" of the userinfo
 * and any "password=" query parameter. Works on malformed URLs too, so
 * that every message can name a tier safely.
 */
void arca__url_redact(char *out, size_t size, const char *url);

/* One parameter of a URL's query: its name (name_len bytes, not
 * NUL-terminated) and its percent-decoded, NUL-terminated value. */
typedef int (*arca__url_param_fn)(void *ctx, const char *name,
		size_t name_len, const char *value, size_t value_len);

/*
 * Call param for each name=value of query ("a=1&b=2", '&'-separated),
 * stopping at its first negative return, which is returned. Each value
 * is wiped after its call (it may be a password). A parameter without
 * '=' is ARCA_EINVAL, "<tier> tier URL \"<shown>\": a query parameter
 * without '=' (name=value)"; ARCA_ENOMEM. 0 when every call returned 0.
 */
int arca__url_query_each(const char *query, const char *tier,
		const char *shown, arca__url_param_fn param, void *ctx);

#endif /* ARCA_TIER_URL_H */
