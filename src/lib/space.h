/*
 * The disk, not only the limit: what the file system under a store allows,
 * and the reserve file that lets deletes commit on a full disk (space.c).
 * Internal.
 */
#ifndef ARCA_SPACE_H
#define ARCA_SPACE_H

#include "local.h"

#include <stdint.h>

/* One look at the store's file system (one statvfs, one stat). */
typedef struct arca__space {
	int ok;                 /* statvfs answered */
	uint64_t fs_size;       /* bytes of the file system */
	uint64_t fs_free;       /* bytes available: f_bavail * f_frsize */
	uint64_t index_free;    /* free pages inside index.db, in bytes */
	uint64_t disk_reserve;  /* bytes kept free, resolved; 0: no disk check */
	uint64_t reserve_size;  /* the size DIR/reserve is kept at */
	uint64_t reserve_bytes; /* bytes DIR/reserve holds now; 0: absent */
} arca__space;

/* Look at the file system under l's directory. */
void arca__space_read(arca__space *out, arca__local *l);

/*
 * What the file system allows the blobs to take, given usage bytes now:
 * usage + free (the file system's, and index.db's free pages, where
 * evicted inline blobs leave their bytes) - disk_reserve - (the reserve
 * file's size while it is
 * given up, so that puts never spend it), at least 1; 0 when there is no
 * disk check (disk_reserve 0, or statvfs failed).
 */
uint64_t arca__space_disk_limit(const arca__space *s, uint64_t usage);

/*
 * THE effective limit of the store in bytes: the smaller of max_size (0:
 * none) and arca__space_disk_limit(); 0 when neither limits it. One
 * statvfs per call. On an error reading usage, max_size.
 */
uint64_t arca__store_limit(arca__local *l);
/* The same, with the look it took and the usage it read (either may be
 * NULL): for reporting both (arca_store_get_space). */
uint64_t arca__store_limit_ex(arca__local *l, arca__space *s_out,
		uint64_t *usage_out);

/*
 * Around a delete (rm, clear, eviction, gc), the pattern is
 *
 *   arca__space_before_delete(l, NULL);
 *   if ((error = once(...)) == ARCA_EFULL && arca__space_give_up(l))
 *       error = once(...);
 *   return arca__space_after_delete(l, error);
 *
 * before: give the reserve file up when free space is below its size (s:
 * a look already taken, or NULL to take one). give_up: unlink it; 1 when
 * it was there, so a retry can commit. after: re-create it when there is
 * room, keeping error and its arca_errmsg(); returns error.
 * arca__space_restore() alone is what open does.
 */
void arca__space_before_delete(arca__local *l, const arca__space *s);
int arca__space_give_up(arca__local *l);
int arca__space_after_delete(arca__local *l, int error);
void arca__space_restore(arca__local *l);

#endif
