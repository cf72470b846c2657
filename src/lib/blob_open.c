/*
 * arca_blob_open(): a read-only descriptor of a file blob of tier 0, for
 * servers that hand the bytes to the kernel (sendfile(2) through
 * libmicrohttpd's MHD_create_response_from_fd) instead of copying them.
 *
 * A file blob is published by rename(2) and never written in place, so
 * an open descriptor keeps seeing the verified bytes even if eviction
 * unlinks the name meanwhile. The content is hashed before the
 * descriptor is handed out (DESIGN.md: verify on read); a mismatch goes
 * through arca_blob_write_fd(), whose verified read quarantines the blob
 * as every other read does, so the outcome is the same ARCA_ECORRUPT.
 *
 * The handle remembers, for the last VERIFIED_SLOTS files it verified,
 * the identity of the file it hashed: device, inode, size, mtime and
 * ctime (nanoseconds). A later open of the same blob whose file has the
 * same identity, within VERIFIED_TRUST_MS of that hash, is not hashed
 * again. Nothing that goes through the file system can change a file's
 * bytes and leave that identity as it was: a write or truncate sets
 * mtime and ctime, restoring mtime (utimensat) sets ctime, which no
 * call can set back, and a replacement is another inode. What it does
 * not see is damage beneath the file system (media, firmware, writes to
 * the raw device): the bound on the trust, `arca verify`, and the
 * clients' own digest checks (Bazel's --remote_verify_downloads) are
 * for that. docs/server.md, "Performance", has the measurements.
 *
 * Under verify: stamp a large blob's stamp in the index (local.c) is
 * trusted as well, by every handle and across restarts, and recorded
 * here after a hash that found the file intact.
 */
#include "internal.h"
#include "fsutil.h"
#include "local.h"
#include "local_sql.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VERIFIED_SLOTS 1024
/* How long a verification is trusted for the same file (ms). */
#define VERIFIED_TRUST_MS (10 * 60 * 1000)
/* Files changed less than this long before a hash are not remembered. */
#define VERIFIED_MARGIN_S 2

typedef struct verified_slot {
	arca_digest digest;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	int64_t at_ms;   /* arca__mono_ms() of the hash; 0: empty slot */
} verified_slot;

struct arca__verified {
	verified_slot slot[VERIFIED_SLOTS];
};

/* Direct-mapped by the digest's first bytes (uniform: a SHA-256). */
static verified_slot *slot_of(arca__local *l, const arca_digest *d, int make)
{
	size_t i = ((size_t)d->bytes[0] | (size_t)d->bytes[1] << 8) %
		VERIFIED_SLOTS;

	if (l->verified == NULL &&
	    (!make || (l->verified = calloc(1, sizeof(*l->verified))) == NULL))
		return NULL;
	return &l->verified->slot[i];
}

static int same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* Whether this handle hashed this very file (st) as digest lately. */
static int verified_lately(arca__local *l, const arca_digest *d,
		const struct stat *st)
{
	verified_slot *v = slot_of(l, d, 0);

	return v != NULL && v->at_ms != 0 &&
		arca__mono_ms() - v->at_ms < VERIFIED_TRUST_MS &&
		arca_digest_equal(&v->digest, d) &&
		v->dev == st->st_dev && v->ino == st->st_ino &&
		v->size == st->st_size &&
		same_time(&v->mtime, &st->st_mtim) &&
		same_time(&v->ctime, &st->st_ctim);
}

static int time_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
		(a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/*
 * st: the file's identity before it was hashed; seen: the coarse clock
 * the kernel stamps files with, read after st, less VERIFIED_MARGIN_S.
 * A file changed that recently could be changed again within one tick
 * of the clock, or of the file system's time granularity (2 s at worst,
 * FAT), and keep its times: it is not remembered (the next open hashes
 * it again). Any later change is stamped later than the ctime
 * remembered.
 */
static void note_verified(arca__local *l, const arca_digest *d,
		const struct stat *st, const struct timespec *seen)
{
	verified_slot *v;

	if (!time_before(&st->st_ctim, seen) ||
	    !time_before(&st->st_mtim, seen))
		return;
	if ((v = slot_of(l, d, 1)) == NULL)
		return; /* out of memory: the next open hashes again */
	v->digest = *d;
	v->dev = st->st_dev;
	v->ino = st->st_ino;
	v->size = st->st_size;
	v->mtime = st->st_mtim;
	v->ctime = st->st_ctim;
	v->at_ms = arca__mono_ms();
	if (v->at_ms == 0)
		v->at_ms = 1;
}

int arca_blob_open(int *fd_out, uint64_t *size_out, arca_store *store,
		const arca_digest *digest)
{
	char hex[ARCA_DIGEST_HEXLEN + 1], rel[ARCA_DIGEST_HEXLEN + 16];
	char *path = NULL;
	arca_digest got;
	struct stat st;
	struct timespec seen, t0;
	uint64_t size = 0;
	arca__local *l;
	int fd = -1, devnull, error;

	if (fd_out == NULL || store == NULL || digest == NULL)
		return arca__error(ARCA_EINVAL, "arca_blob_open: NULL argument");
	*fd_out = -1;
	/* Present anywhere (tier 0's index first, then the tiers)? */
	if ((error = arca_blob_stat(&size, store, digest)) < 0)
		goto cleanup;
	arca_digest_to_hex(hex, digest);
	snprintf(rel, sizeof(rel), "blobs/%.2s/%s", hex, hex);
	if ((path = arca__path_join(arca_store_path(store), rel)) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT) {
			error = arca__error_errno(errno, "cannot open", path);
			goto cleanup;
		}
		/* Inline in the index, or only in a later tier. */
		error = 0;
		goto cleanup;
	}
	arca__stamp_clock(&t0);
	if (fstat(fd, &st) != 0) {
		error = arca__error_errno(errno, "cannot stat", path);
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		error = arca__error(ARCA_ECORRUPT, "%s: not a regular file",
				path);
		goto cleanup;
	}
	clock_gettime(CLOCK_REALTIME_COARSE, &seen);
	seen.tv_sec -= VERIFIED_MARGIN_S;
	l = arca__store_local(store);
	if (verified_lately(l, digest, &st))
		goto verified;
	/* verify: stamp: the stamp of the last full verification, kept in
	 * the index across handles (local.c, "verify: stamp"). */
	if (arca__stamp_applies(l, (uint64_t)st.st_size) &&
	    arca__stamp_matches(l, digest, &st))
		goto verified;
	if ((error = arca__digest_fd(&got, NULL, fd, path, NULL, 1 << 17,
			0, NULL, NULL)) < 0)
		goto cleanup;
	if (!arca_digest_equal(&got, digest)) {
		/* The library's verified read quarantines it and says so. */
		close(fd);
		fd = -1;
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
		error = arca_blob_write_fd(store, digest, devnull >= 0 ?
				devnull : STDERR_FILENO);
		if (devnull >= 0)
			close(devnull);
		if (error == 0) /* repaired meanwhile by another writer */
			error = arca__error(ARCA_EBUSY,
					"blob %s changed while it was read",
					hex);
		goto cleanup;
	}
	/* The identity the file had before it was hashed: a change
	 * during the hash shows as another identity at the next open. */
	note_verified(l, digest, &st, &seen);
	if (arca__stamp_applies(l, (uint64_t)st.st_size))
		arca__stamp_record(l, digest, &st, &t0);
verified:
	/* A read counts for the LRU order as arca_blob_get()'s does. */
	(void)arca__access_note_blob(l, digest);
	size = (uint64_t)st.st_size;
	*fd_out = fd;
	fd = -1;
	error = 0;
cleanup:
	if (error == 0 && size_out != NULL)
		*size_out = size;
	if (fd >= 0)
		close(fd);
	free(path);
	return error;
}
