/*
 * arca_blob_writer: a blob written in pieces (an HTTP upload), hashed by
 * the store as it is written and published without a second copy.
 *
 * The first inline_threshold bytes stay in memory; past them the bytes
 * go to a temporary file of tmp/ opened with O_TMPFILE, which has no name
 * until the commit: a writer that is freed, or a process that dies,
 * leaves nothing behind (the kernel frees the inode with its last
 * descriptor). At the commit, once the digest is known, the inode is
 * flock'ed and linked into tmp/ under a writer's temp name (linkat(2) of
 * /proc/self/fd/N with AT_SYMLINK_FOLLOW, the documented way to give an
 * O_TMPFILE file a name, open(2)); from there arca__local_publish_tmp()
 * takes it as a put_fd takes its temp file: pinned, fsynced, renamed
 * into blobs/ under the write lock, row committed. The name exists only
 * between the link and that rename; a process killed in between leaves a
 * complete file in tmp/ whose flock died with it, which the next open of
 * the store sweeps (arca__sweep_tmp), never a file in blobs/.
 *
 * Where tmp/'s file system lacks O_TMPFILE the file is a named, flock'ed
 * temp file from the start (arca__tmpfile), swept the same way.
 *
 * The writer has its own hasher and buffer: the handle's (l->hasher,
 * l->iobuf) serve the calls that may come between two writes.
 */
#include "internal.h"
#include "fsutil.h"
#include "local.h"
#include "local_sql.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* Start writeback every so many bytes, so that the commit's fsync has
 * little left to wait for (as local_blob_put_fd does). */
#define WRITEBACK_CHUNK (8u << 20)
/* Pieces are gathered into writes of this size: an HTTP server hands
 * over a body in pieces of its read buffer (a few KiB to 64 KiB), and
 * a write(2) per piece costs more than the copy. */
#define GATHER (1u << 20)

enum { W_OPEN, W_DONE };

struct arca_blob_writer {
	arca_store *store;
	arca__local *l;
	arca__hasher *h;
	unsigned char *head;   /* bytes while at most inline_threshold */
	size_t head_len, head_alloc;
	int fd;                /* the temp file, -1 while in memory */
	unsigned char *gather; /* GATHER bytes once the file exists */
	size_t gather_len;     /* bytes in gather, not yet in the file */
	char *tmp_path;        /* its name, NULL while unnamed (O_TMPFILE) */
	uint64_t total, flushed;
	int state;
};

int arca_blob_writer_open(arca_blob_writer **out, arca_store *store)
{
	arca_blob_writer *w = NULL;
	int error;

	if (out == NULL || store == NULL)
		return arca__error(ARCA_EINVAL,
				"arca_blob_writer_open: NULL argument");
	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	w->store = store;
	w->l = arca__store_local(store);
	w->fd = -1;
	if ((error = arca__writable(w->l)) < 0 ||
	    (error = arca__hasher_new(&w->h)) < 0) {
		arca_blob_writer_free(w);
		return error;
	}
	*out = w;
	return 0;
}

static int open_temp(arca_blob_writer *w)
{
	const char *dir = w->l->tmp_dir;

	w->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (w->fd >= 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return arca__error_errno(errno,
				"cannot create temporary file in", dir);
	return arca__tmpfile(&w->fd, &w->tmp_path, dir, "blob-", 1);
}

/* Keep len more bytes in memory; 0, or 1 when they do not fit there. */
static int keep(arca_blob_writer *w, const void *data, size_t len)
{
	size_t need = w->head_len + len, cap;
	unsigned char *grown;

	if (need > w->l->opts.inline_threshold)
		return 1;
	if (need > w->head_alloc) {
		cap = w->head_alloc ? w->head_alloc : 4096;
		while (cap < need)
			cap *= 2;
		if ((grown = realloc(w->head, cap)) == NULL)
			return arca__error(ARCA_ENOMEM, "out of memory");
		w->head = grown;
		w->head_alloc = cap;
	}
	if (len > 0)
		memcpy(w->head + w->head_len, data, len);
	w->head_len = need;
	return 0;
}

/* Write the gathered bytes to the temp file. */
static int flush(arca_blob_writer *w)
{
	const char *what = w->tmp_path ? w->tmp_path : w->l->tmp_dir;
	uint64_t written;
	int error;

	if (w->gather_len == 0)
		return 0;
	if ((error = arca__write_all(w->fd, w->gather, w->gather_len,
			what)) < 0)
		return error;
	w->gather_len = 0;
	written = w->total; /* every byte received is in the file now */
	if (written - w->flushed >= WRITEBACK_CHUNK) {
		/* Advisory: its failure is ignored. */
		(void)sync_file_range(w->fd, (off64_t)w->flushed,
				(off64_t)(written - w->flushed),
				SYNC_FILE_RANGE_WRITE);
		w->flushed = written;
	}
	return 0;
}

/* Past the inline threshold: the bytes go to the temp file, gathered
 * into writes of GATHER bytes. w->total does not count data yet. */
static int spill(arca_blob_writer *w, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t n;
	int error;

	if (w->fd < 0) {
		if ((w->gather = malloc(GATHER)) == NULL)
			return arca__error(ARCA_ENOMEM, "out of memory");
		if ((error = open_temp(w)) < 0)
			return error;
		/* The head is at most inline_threshold, up to 64 MiB. */
		if (w->head_len > 0 && (error = arca__write_all(w->fd,
				w->head, w->head_len, w->tmp_path ?
				w->tmp_path : w->l->tmp_dir)) < 0)
			return error;
		free(w->head);
		w->head = NULL;
		w->head_len = w->head_alloc = 0;
	}
	while (len > 0) {
		n = GATHER - w->gather_len < len ? GATHER - w->gather_len : len;
		memcpy(w->gather + w->gather_len, p, n);
		w->gather_len += n;
		w->total += n;
		p += n;
		len -= n;
		if (w->gather_len == GATHER && (error = flush(w)) < 0)
			return error;
	}
	return 0;
}

int arca_blob_writer_write(arca_blob_writer *w, const void *data,
		size_t len)
{
	int error;

	if (w == NULL || (data == NULL && len > 0))
		return arca__error(ARCA_EINVAL,
				"arca_blob_writer_write: NULL argument");
	if (w->state != W_OPEN)
		return arca__error(ARCA_EINVAL, "arca_blob_writer_write: the "
				"writer is committed or failed");
	if (len == 0)
		return 0;
	if ((error = arca__hasher_update(w->h, data, len)) < 0)
		goto failed;
	error = w->fd < 0 ? keep(w, data, len) : 1;
	if (error == 0)
		w->total += len;
	else if (error == 1)
		error = spill(w, data, len);
	if (error < 0)
		goto failed;
	return 0;
failed:
	w->state = W_DONE;
	return error;
}

/* Give the unnamed inode a writer's temp name in tmp/, flock'ed first so
 * that a sweep takes it for a live writer's file. */
static int name_temp(arca_blob_writer *w)
{
	char proc[64], *path = NULL;
	unsigned int attempt;
	int error;

	if (flock(w->fd, LOCK_EX | LOCK_NB) != 0)
		return arca__error_errno(errno, "cannot lock a temporary "
				"file in", w->l->tmp_dir);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", w->fd);
	for (attempt = 0; attempt < 100; attempt++) {
		free(path);
		if (asprintf(&path, "%s/blob-%ld-w%08lx", w->l->tmp_dir,
				(long)getpid(), (unsigned long)random()) < 0)
			return arca__error(ARCA_ENOMEM, "out of memory");
		if (linkat(AT_FDCWD, proc, AT_FDCWD, path,
				AT_SYMLINK_FOLLOW) == 0) {
			w->tmp_path = path;
			return 0;
		}
		if (errno != EEXIST)
			break;
	}
	error = arca__error_errno(errno, "cannot link a temporary file as",
			path);
	free(path);
	return error;
}

int arca_blob_writer_commit(arca_digest *out, uint64_t *size_out,
		arca_blob_writer *w, const arca_digest *expected)
{
	char hex[ARCA_DIGEST_HEXLEN + 1], want[ARCA_DIGEST_HEXLEN + 1];
	arca_digest d, got;
	int error;

	if (w == NULL)
		return arca__error(ARCA_EINVAL,
				"arca_blob_writer_commit: NULL argument");
	if (w->state != W_OPEN)
		return arca__error(ARCA_EINVAL, "arca_blob_writer_commit: the "
				"writer is committed or failed");
	w->state = W_DONE;
	if ((error = arca__hasher_final(w->h, &d)) < 0)
		return error;
	if (out != NULL)
		*out = d;
	if (expected != NULL && !arca_digest_equal(&d, expected)) {
		arca_digest_to_hex(hex, &d);
		arca_digest_to_hex(want, expected);
		return arca__error(ARCA_ECORRUPT, "blob %s: the %llu bytes "
				"written hash to %s; nothing stored", want,
				(unsigned long long)w->total, hex);
	}
	if (w->fd < 0) {
		/* Inline: from memory, as any small put. */
		error = arca_blob_put(&got, w->store, w->head_len ? w->head :
				(const void *)"", w->head_len);
		if (error == 0 && !arca_digest_equal(&got, &d))
			error = arca__error(ARCA_EIO, "blob writer: the "
					"store hashed other bytes");
	} else {
		if ((error = flush(w)) < 0 ||
		    (w->tmp_path == NULL && (error = name_temp(w)) < 0)) {
			arca__store_blob_stored(w->store, &d, w->total, error);
			return error;
		}
		error = arca__local_publish_tmp(w->l, &d, w->total, w->fd,
				w->tmp_path);
		/* Renamed or unlinked: no longer this writer's to remove. */
		free(w->tmp_path);
		w->tmp_path = NULL;
		arca__store_blob_stored(w->store, &d, w->total, error);
	}
	if (error == 0 && size_out != NULL)
		*size_out = w->total;
	return error;
}

void arca_blob_writer_free(arca_blob_writer *w)
{
	if (w == NULL)
		return;
	if (w->tmp_path != NULL)
		unlink(w->tmp_path);
	if (w->fd >= 0)
		close(w->fd);
	free(w->tmp_path);
	free(w->head);
	free(w->gather);
	arca__hasher_free(w->h);
	free(w);
}
