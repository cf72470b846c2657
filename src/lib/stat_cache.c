/*
 * The stat cache: (device, inode, size, mtime_ns, ctime_ns) -> digest for
 * files arca hashes (inputs, pipeline deps, tools, outputs), so that a
 * file whose stat data is unchanged is not read again. The model is git's
 * index and DVC's state database.
 *
 * First version: no cache yet, every call reads the file.
 */

#include "internal.h"
#include "stat_cache.h"

int arca_store_digest_file(arca_digest *out, uint64_t *size_out,
		arca_store *store, const char *path, unsigned int flags,
		arca_progress_fn fn, void *ctx)
{
	(void)store;
	(void)flags;
	return arca_digest_file_progress(out, size_out, path, fn, ctx);
}

int arca__stat_cache_lookup(arca_store *store, const struct stat *st,
		arca_digest *out)
{
	(void)store;
	(void)st;
	(void)out;
	return 0;
}

void arca__stat_cache_record(arca_store *store, const struct stat *st,
		const arca_digest *d)
{
	(void)store;
	(void)st;
	(void)d;
}
