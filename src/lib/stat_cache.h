/*
 * The stat cache inside libarca (stat_cache.c): digests of files keyed by
 * their stat data, see arca_store_digest_file() in include/arca/arca.h.
 */
#ifndef ARCA_STAT_CACHE_H
#define ARCA_STAT_CACHE_H

#include "arca/arca.h"

#include <sys/stat.h>

/*
 * The digest the cache holds for the file whose stat data is *st (taken
 * by the caller, e.g. with fstat on the open file or stat on a path).
 * Returns 1 and sets *out when an entry matches and may be trusted (not
 * racy, cache on), else 0. Never reads the file.
 */
int arca__stat_cache_lookup(arca_store *store, const struct stat *st,
		arca_digest *out);

/*
 * Record that the file with stat data *st (taken after its bytes were
 * hashed or written, and unchanged since) has digest *d. Best effort:
 * a failure to record is not an error of the caller.
 */
void arca__stat_cache_record(arca_store *store, const struct stat *st,
		const arca_digest *d);

#endif
