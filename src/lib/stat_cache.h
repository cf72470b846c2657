/*
 * The stat cache inside libarca (stat_cache.c): digests of files keyed by
 * their stat data, see arca_store_digest_file() in include/arca/arca.h.
 */
#ifndef ARCA_STAT_CACHE_H
#define ARCA_STAT_CACHE_H

#include "arca/arca.h"
#include "local.h"

#include <stdint.h>
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
 * hashed or written, and unchanged since; take it just before the call:
 * the moment of the call is taken for the moment of the stat) has digest
 * *d. Best effort: a failure to record is not an error of the caller.
 * An entry that is racy now (mtime or ctime within the timestamps'
 * granularity of the moment: racy-git.txt) is not recorded. May write
 * the pending batch (evict.c's access notes): never call it inside a
 * transaction of the index.
 */
void arca__stat_cache_record(arca_store *store, const struct stat *st,
		const arca_digest *d);

/* The same, with the moment the stat data was taken (arca__now_ns()
 * read just before the stat). */
void arca__stat_cache_record_at(arca_store *store, const struct stat *st,
		const arca_digest *d, int64_t taken_ns);

/* For evict.c's batched write: 1 when records or LRU moves are waiting
 * (never on a read-only store); written in the transaction the caller
 * holds by arca__stat_cache_flush_tx(), which drops them whatever the
 * outcome. */
int arca__stat_cache_pending(const arca__local *l);
int arca__stat_cache_flush_tx(arca__local *l);
/* When the index connection closes (local.c, also to reopen it after a
 * repair): its statement finalized; records, flags and counters kept. */
void arca__stat_cache_db_closed(arca__local *l);
/* When the local store is freed (local.c). */
void arca__stat_cache_free(arca__local *l);

#endif
