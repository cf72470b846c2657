/*
 * Index damage: a damaged index.db degrades to misses, never to a store
 * that cannot be used.
 *
 * SQLite reports a damaged file as SQLITE_NOTADB (no valid header) or
 * SQLITE_CORRUPT (a malformed page), at open, at prepare or at any step;
 * arca_store_verify() also runs PRAGMA integrity_check. The blob files
 * are the store's ground truth: each is named by the SHA-256 of its
 * content, so an index can be rebuilt from them. Inline blobs, actions,
 * URL entries, tags and statistics live only in the index: they are lost
 * and become misses.
 *
 * Repair, under an exclusive flock(2) on DIR/index.lock (opens take it
 * shared while they set up their connection, so none of them opens a
 * half-replaced index; a second process finding the same damage waits,
 * then sees that index.db is another file and just opens it):
 *   1. index.db, -wal and -shm are renamed to quarantine/index.db.<UTC
 *      time>[-wal|-shm] and the directories fsynced;
 *   2. a fresh index is created;
 *   3. every blobs/ab/<64 hex> whose content hashes to its name is
 *      inserted as an unreferenced blob; a file that does not is moved to
 *      quarantine/ (as a read would); anything else is left alone. No
 *      intact blob file is ever deleted.
 * Damage met by a call that cannot repair at once (inside a transaction,
 * or a stream that cannot be replayed) leaves DIR/index.damaged naming
 * the index.db file (device and inode) so that the next open repairs it;
 * a marker naming another file is stale and removed.
 *
 * Processes that opened the old index before the repair keep using it
 * (their descriptors follow the renamed file): what they write there is
 * lost, as the old index's actions are. Their file blobs are on disk and
 * found by the next rebuild or gc.
 */
#include "local.h"
#include "local_sql.h"

#include "fsutil.h"
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define REBUILD_BATCH 512
#define READ_CHUNK (1u << 20) /* l->iobuf's size (local.c IO_CHUNK) */

static void store_path(char *out, size_t size, const arca__local *l,
		const char *name)
{
	snprintf(out, size, "%s/%s", l->dir, name);
}

int arca__index_lock(const arca__local *l, int exclusive)
{
	char path[PATH_MAX];
	int fd;

	store_path(path, sizeof(path), l, "index.lock");
	fd = open(path, l->opts.read_only ? O_RDONLY | O_CLOEXEC :
			O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

void arca__index_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

void arca__index_note_damage(arca__local *l, const char *reason)
{
	char path[PATH_MAX], line[512];
	int fd, n;

	l->damage_seen++;
	snprintf(l->damage_reason, sizeof(l->damage_reason), "%s", reason);
	if (l->opts.read_only || l->in_repair || l->marker_written ||
	    l->db_ino == 0)
		return;
	l->marker_written = 1;
	store_path(path, sizeof(path), l, "index.damaged");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%llu %llu\n%s\n", l->db_dev,
			l->db_ino, reason);
	(void)arca__write_all(fd, line, (size_t)n, path);
	close(fd);
}

int arca__index_marker_due(arca__local *l, char *reason, size_t reason_size)
{
	char path[PATH_MAX], buf[512];
	unsigned long long dev = 0, ino = 0;
	ssize_t n;
	int fd;

	store_path(path, sizeof(path), l, "index.damaged");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = arca__read_full(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	if (sscanf(buf, "%llu %llu", &dev, &ino) == 2 && ino != 0 &&
	    dev == l->db_dev && ino == l->db_ino) {
		char *why = strchr(buf, '\n');

		why = why ? why + 1 : buf;
		why[strcspn(why, "\n")] = '\0';
		snprintf(reason, reason_size, "%s, seen by an earlier process",
				why[0] ? why : "damaged");
		return 1;
	}
	/* Another index.db than the one it was written for: stale. */
	unlink(path);
	return 0;
}

/* Move DIR/<name><suffix> to <to><suffix>; a missing file is no error. */
static int move_aside(const arca__local *l, const char *to,
		const char *suffix)
{
	char from[PATH_MAX], dest[PATH_MAX + 8];

	snprintf(from, sizeof(from), "%s/index.db%s", l->dir, suffix);
	snprintf(dest, sizeof(dest), "%s%s", to, suffix);
	if (rename(from, dest) == 0 || errno == ENOENT)
		return 0;
	return arca__error_errno(errno, "cannot move the damaged index to",
			dest);
}

/* quarantine/index.db.<UTC time>, with .1, .2... when it exists. */
static void quarantine_name(char *out, size_t size, const arca__local *l,
		int64_t now)
{
	char stamp[32];
	struct tm tm;
	time_t t = (time_t)now;
	struct stat sb;
	int i;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm) == 0)
		snprintf(stamp, sizeof(stamp), "%lld", (long long)now);
	snprintf(out, size, "%s/index.db.%s", l->quarantine_dir, stamp);
	for (i = 1; lstat(out, &sb) == 0 && i < 1000; i++)
		snprintf(out, size, "%s/index.db.%s.%d", l->quarantine_dir,
				stamp, i);
}

static int is_lower_hex(const char *s, size_t n)
{
	return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

/* Hash the regular file dirfd/name; *size its bytes. */
static int hash_file(arca__local *l, int dir_fd, const char *name,
		arca_digest *out, uint64_t *size)
{
	struct stat sb;
	int fd, error = 0;
	ssize_t n;

	*size = 0;
	fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
			O_NONBLOCK);
	if (fd < 0)
		return arca__error_errno(errno, "cannot open blob file", name);
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return arca__error(ARCA_EINVAL, "%s: not a regular file", name);
	}
	if ((error = arca__hasher_reset(l->hasher)) < 0)
		goto cleanup;
	while ((n = arca__read_full(fd, l->iobuf, READ_CHUNK)) > 0) {
		*size += (uint64_t)n;
		if ((error = arca__hasher_update(l->hasher, l->iobuf,
				(size_t)n)) < 0)
			goto cleanup;
		if ((size_t)n < READ_CHUNK)
			break;
	}
	if (n < 0) {
		error = arca__error_errno(errno, "cannot read blob file", name);
		goto cleanup;
	}
	error = arca__hasher_final(l->hasher, out);
cleanup:
	if (error < 0)
		(void)arca__hasher_reset(l->hasher);
	close(fd);
	return error;
}

typedef struct rebuild_counts {
	uint64_t files, bytes, quarantined;
	unsigned int pending; /* rows in the open transaction */
} rebuild_counts;

static int rebuild_one(arca__local *l, int dir_fd, const char *name,
		rebuild_counts *c)
{
	arca_digest named, actual;
	uint64_t size;
	int error;

	if (arca_digest_from_hex(&named, name) < 0)
		return 0;
	if ((error = hash_file(l, dir_fd, name, &actual, &size)) < 0) {
		/* Not a blob this store wrote (or unreadable): left alone. */
		arca__error_clear();
		return 0;
	}
	if (!arca_digest_equal(&named, &actual)) {
		arca__local_quarantine_file(l, &named);
		c->quarantined++;
		return 0;
	}
	if (c->pending == 0 && (error = arca__tx_begin(l)) < 0)
		return error;
	if ((error = arca__local_insert_file_row(l, &named, size)) < 0)
		return error;
	c->files++;
	c->bytes += size;
	if (++c->pending >= REBUILD_BATCH) {
		c->pending = 0;
		if ((error = arca__tx_commit(l)) < 0)
			return error;
	}
	return 0;
}

/* Walk blobs/ab/<64 hex>: re-insert intact files, quarantine the rest. */
static int rebuild(arca__local *l, rebuild_counts *c)
{
	DIR *top = opendir(l->blobs_dir), *sub = NULL;
	struct dirent *e, *f;
	int error = 0;

	if (top == NULL)
		return errno == ENOENT ? 0 :
			arca__error_errno(errno, "cannot list", l->blobs_dir);
	while (error == 0 && (e = readdir(top)) != NULL) {
		if (!is_lower_hex(e->d_name, 2))
			continue;
		{
			int fd = openat(dirfd(top), e->d_name, O_RDONLY |
					O_DIRECTORY | O_CLOEXEC);

			if (fd < 0 || (sub = fdopendir(fd)) == NULL) {
				if (fd >= 0)
					close(fd);
				continue;
			}
		}
		while (error == 0 && (f = readdir(sub)) != NULL) {
			if (!is_lower_hex(f->d_name, ARCA_DIGEST_HEXLEN) ||
			    memcmp(f->d_name, e->d_name, 2) != 0)
				continue;
			error = rebuild_one(l, dirfd(sub), f->d_name, c);
		}
		closedir(sub);
		sub = NULL;
	}
	closedir(top);
	if (error == 0 && c->pending > 0)
		error = arca__tx_commit(l);
	if (error < 0)
		arca__tx_rollback(l);
	return error;
}

static void record(arca__local *l, const char *reason, const char *moved_to,
		const rebuild_counts *c, int64_t now)
{
	const char *rel = strrchr(moved_to, '/');
	char line[PATH_MAX + 768];

	free(l->repair_reason);
	free(l->repair_moved_to);
	free(l->repair_message);
	snprintf(line, sizeof(line), "store %s: index.db was damaged (%s); "
			"moved to quarantine/%s, rebuilt from %llu blob file%s%s;"
			" cached actions are lost", l->dir, reason,
			rel ? rel + 1 : moved_to, (unsigned long long)c->files,
			c->files == 1 ? "" : "s", c->quarantined ?
			" (corrupt blob files quarantined)" : "");
	l->repair_reason = arca__strdup(reason);
	l->repair_moved_to = arca__strdup(moved_to);
	l->repair_message = arca__strdup(line);
	memset(&l->repair, 0, sizeof(l->repair));
	l->repair.repaired = 1;
	l->repair.reason = l->repair_reason ? l->repair_reason : "";
	l->repair.moved_to = l->repair_moved_to ? l->repair_moved_to : "";
	l->repair.message = l->repair_message ? l->repair_message :
		"index.db was damaged and has been rebuilt";
	l->repair.n_blob_files = c->files;
	l->repair.bytes_blob_files = c->bytes;
	l->repair.n_quarantined = c->quarantined;
	l->repair.repaired_at = now;
}

int arca__index_repair(arca__local *l, const char *why)
{
	char reason[256], path[PATH_MAX], moved[PATH_MAX];
	unsigned long long dev = l->db_dev, ino = l->db_ino;
	rebuild_counts c = { 0, 0, 0, 0 };
	int64_t now = arca__now();
	struct stat sb;
	int lock = -1, error;

	/* why may be l->damage_reason, which the reopen below rewrites. */
	snprintf(reason, sizeof(reason), "%s", why && why[0] ? why :
			"damaged");
	if (l->opts.read_only)
		return arca__error(ARCA_EIO, "%s/index.db: the index is damaged "
				"(%s); open the store read-write to repair it",
				l->dir, reason);
	l->in_repair = 1;
	if (l->db)
		arca__tx_rollback(l);
	arca__local_db_close(l);
	lock = arca__index_lock(l, 1);
	store_path(path, sizeof(path), l, "index.db");
	if (ino != 0 && stat(path, &sb) == 0 &&
	    ((unsigned long long)sb.st_dev != dev ||
	     (unsigned long long)sb.st_ino != ino)) {
		/* Another process repaired it while we waited for the lock. */
		unsigned int seen = l->damage_seen;

		error = arca__local_db_open(l);
		if (error == 0 || l->damage_seen == seen)
			goto done;
		arca__local_db_close(l);
		snprintf(reason, sizeof(reason), "%s", l->damage_reason);
	}
	quarantine_name(moved, sizeof(moved), l, now);
	if ((error = arca__mkdir_p(l->quarantine_dir)) < 0 ||
	    (error = move_aside(l, moved, "")) < 0 ||
	    (error = move_aside(l, moved, "-wal")) < 0 ||
	    (error = move_aside(l, moved, "-shm")) < 0)
		goto done;
	(void)arca__fsync_dir(l->dir);
	(void)arca__fsync_dir(l->quarantine_dir);
	if ((error = arca__local_db_open(l)) < 0 ||
	    (error = rebuild(l, &c)) < 0)
		goto done;
	store_path(path, sizeof(path), l, "index.damaged");
	unlink(path);
	record(l, reason, moved, &c, now);
	arca__error_clear();
done:
	arca__index_unlock(lock);
	l->in_repair = 0;
	l->marker_written = 0;
	if (error < 0) {
		char detail[1024];

		snprintf(detail, sizeof(detail), "%s", arca_errmsg());
		return arca__error(error, "%s/index.db is damaged (%s) and could "
				"not be repaired: %s", l->dir, reason, detail);
	}
	return 0;
}

void arca__local_repair_info(const arca__local *l, arca_index_repair *out)
{
	*out = l->repair;
}
