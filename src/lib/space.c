/*
 * The disk, not only the limit (issue 8; bazel-remote issue #712: "no
 * space left on device" although max_size was set). Two things:
 *
 * The effective limit. max_size alone lets a store fill its disk when the
 * disk is smaller than max_size, or shared: then every put fails and,
 * since eviction runs after a successful put, nothing is ever evicted.
 * So the limit is also what the file system allows: usage plus the free
 * bytes statvfs reports (f_bavail * f_frsize) and index.db's free pages,
 * less disk_reserve (default
 * 5% of the file system or 256 MiB, whichever is smaller; 0 turns the
 * disk check off). One statvfs per check, never a walk of blobs/.
 *
 * The reserve file. On a disk that is full anyway (another writer filled
 * it, or disk_reserve 0) a delete needs space too: SQLite in WAL mode
 * appends the changed pages to index.db-wal before anything is freed, and
 * fails SQLITE_FULL at COMMIT. DIR/reserve is a preallocated file of
 * RESERVE_MAX (4 MiB) or an eighth of the file system, whichever is
 * smaller: 4 MiB of WAL is about a thousand 4 KiB pages, more than a batch
 * of deletes of thousands of rows dirties (the index's leaf pages, the
 * usage row, the freelist trunks), with room for the WAL to grow past
 * its checkpoint; the eighth keeps it from taking half of a small test
 * file system. A delete gives the file up (unlink) when free space is
 * below its size, or when it fails ARCA_EFULL, and then retries once;
 * afterwards, and at open, the file is re-created as soon as it fits
 * again. It is not a blob: not in usage, never evicted; while it is
 * given up the effective limit still counts it, so puts do not spend it.
 */
#include "space.h"

#include "local_sql.h"
#include "fsutil.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define RESERVE_MAX ((uint64_t)4 << 20)
#define DISK_RESERVE_MAX ((uint64_t)256 << 20)
#define ZERO_CHUNK 65536

static uint64_t reserve_size_for(uint64_t fs_size)
{
	uint64_t n = fs_size / 8;

	if (n > RESERVE_MAX)
		n = RESERVE_MAX;
	return n & ~(uint64_t)4095;
}

static uint64_t reserve_bytes_now(const arca__local *l)
{
	struct stat st;

	if (stat(l->reserve_path, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	/* Allocated, not apparent, size: a sparse file reserves nothing. */
	return (uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size ?
		(uint64_t)st.st_blocks * 512 : (uint64_t)st.st_size;
}

/*
 * Bytes of index.db's free pages: an evicted inline blob frees them, not
 * file-system space, and the next inserts reuse them. Counting them as
 * free keeps a store of inline blobs on a full disk from evicting on
 * every put until it is empty. Two header reads; 0 on any error.
 */
static uint64_t index_free_bytes(arca__local *l)
{
	sqlite3_stmt *st = NULL;
	uint64_t n = 0;

	if (l->db == NULL || sqlite3_prepare_v2(l->db, "SELECT f.freelist_count"
			" * p.page_size FROM pragma_freelist_count AS f, "
			"pragma_page_size AS p", -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0)
		n = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

void arca__space_read(arca__space *out, arca__local *l)
{
	struct statvfs v;

	memset(out, 0, sizeof(*out));
	out->reserve_bytes = reserve_bytes_now(l);
	out->index_free = index_free_bytes(l);
	if (statvfs(l->dir, &v) != 0 || v.f_frsize == 0)
		return;
	out->ok = 1;
	out->fs_size = (uint64_t)v.f_blocks * v.f_frsize;
	out->fs_free = (uint64_t)v.f_bavail * v.f_frsize;
	out->reserve_size = reserve_size_for(out->fs_size);
	l->reserve_size = out->reserve_size;
	if (l->opts.disk_reserve == ARCA_DISK_RESERVE_AUTO) {
		out->disk_reserve = out->fs_size / 20;
		if (out->disk_reserve > DISK_RESERVE_MAX)
			out->disk_reserve = DISK_RESERVE_MAX;
	} else {
		out->disk_reserve = l->opts.disk_reserve;
	}
}

uint64_t arca__space_disk_limit(const arca__space *s, uint64_t usage)
{
	uint64_t keep, avail;

	if (!s->ok || s->disk_reserve == 0)
		return 0;
	keep = s->disk_reserve;
	if (s->reserve_bytes < s->reserve_size)
		keep += s->reserve_size - s->reserve_bytes;
	/* Below usage when less than keep is free: eviction frees the rest.
	 * 0 means "no limit": a disk with nothing to spare is limit 1. */
	avail = usage + s->fs_free + s->index_free;
	return avail > keep ? avail - keep : 1;
}

uint64_t arca__store_limit_ex(arca__local *l, arca__space *s_out,
		uint64_t *usage_out)
{
	arca__space mine, *s = s_out ? s_out : &mine;
	uint64_t usage = 0, disk;

	if (arca__usage_read(l, &usage) < 0) {
		arca__error_clear();
		memset(s, 0, sizeof(*s));
		if (usage_out)
			*usage_out = 0;
		return l->opts.max_size;
	}
	if (usage_out)
		*usage_out = usage;
	arca__space_read(s, l);
	disk = arca__space_disk_limit(s, usage);
	if (disk == 0 || (l->opts.max_size != 0 && l->opts.max_size < disk))
		return l->opts.max_size;
	return disk;
}

uint64_t arca__store_limit(arca__local *l)
{
	return arca__store_limit_ex(l, NULL, NULL);
}

/* ---- the reserve file ------------------------------------------------ */

int arca__space_give_up(arca__local *l)
{
	if (l->opts.read_only || reserve_bytes_now(l) == 0)
		return 0;
	return unlink(l->reserve_path) == 0;
}

void arca__space_before_delete(arca__local *l, const arca__space *s)
{
	arca__space mine;

	if (l->opts.read_only)
		return;
	if (s == NULL) {
		arca__space_read(&mine, l);
		s = &mine;
	}
	if (s->ok && s->reserve_bytes > 0 && s->fs_free < s->reserve_size)
		(void)arca__space_give_up(l);
}

/* Make fd's first size bytes allocated: fallocate where the file system
 * has it, else zeros written. 0 or an errno value. */
static int allocate(int fd, uint64_t size)
{
	static const unsigned char zeros[ZERO_CHUNK];
	uint64_t done = 0;
	int err = posix_fallocate(fd, 0, (off_t)size);

	if (err != EOPNOTSUPP && err != EINVAL && err != ENOSYS)
		return err;
	while (done < size) {
		size_t n = size - done < ZERO_CHUNK ? (size_t)(size - done) :
			ZERO_CHUNK;
		ssize_t w = pwrite(fd, zeros, n, (off_t)done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : EIO;
		done += (uint64_t)w;
	}
	return 0;
}

void arca__space_restore(arca__local *l)
{
	arca__space s;
	char *tmp = NULL;
	int fd = -1;

	if (l->opts.read_only || l->reserve_path == NULL)
		return;
	/* Present and whole (the usual case): a stat, no statvfs. */
	if (l->reserve_size != 0 && reserve_bytes_now(l) >= l->reserve_size)
		return;
	arca__space_read(&s, l);
	if (!s.ok || s.reserve_size == 0 || s.reserve_bytes >= s.reserve_size)
		return;
	/* As soon as it fits: while it is absent the effective limit holds
	 * its space back from puts anyway, and the next full disk needs it. */
	if (s.fs_free + s.reserve_bytes < s.reserve_size)
		return;
	/* Written in tmp/ (swept if this process dies) and renamed into
	 * place: DIR/reserve is always whole. */
	if (arca__tmpfile(&fd, &tmp, l->tmp_dir, "reserve-", 1) < 0)
		goto cleanup;
	if (allocate(fd, s.reserve_size) != 0 ||
	    rename(tmp, l->reserve_path) != 0)
		unlink(tmp);
cleanup:
	if (fd >= 0)
		close(fd);
	free(tmp);
}

int arca__space_after_delete(arca__local *l, int error)
{
	char msg[1024];

	if (l->opts.read_only)
		return error;
	snprintf(msg, sizeof(msg), "%s", error < 0 ? arca_errmsg() : "");
	arca__space_restore(l);
	return error < 0 ? arca__error(error, "%s", msg) :
		(arca__error_clear(), 0);
}
