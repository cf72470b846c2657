/*
 * Tier URLs (tier_url.c): shared by the URL dispatcher and the backends
 * it opens.
 */
#ifndef ARCA_TIER_URL_H
#define ARCA_TIER_URL_H

#include <stddef.h>

/*
 * Write url into out (size bytes, always NUL-terminated, truncated if
 * need be) with its password removed: the ":PASSWORD" of the userinfo
 * and any "password=" query parameter. Works on malformed URLs too, so
 * that every message can name a tier safely.
 */
void arca__url_redact(char *out, size_t size, const char *url);

#endif /* ARCA_TIER_URL_H */
