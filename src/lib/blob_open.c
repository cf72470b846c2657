/*
 * arca_blob_open(): a read-only descriptor of a file blob of tier 0, for
 * servers that hand the bytes to the kernel (sendfile(2) through
 * libmicrohttpd's MHD_create_response_from_fd) instead of copying them.
 *
 * A file blob is published by rename(2) and never written in place, so
 * an open descriptor keeps seeing the verified bytes even if eviction
 * unlinks the name meanwhile. The content is re-hashed before the
 * descriptor is handed out (DESIGN.md: verify on read); a mismatch goes
 * through arca_blob_write_fd(), whose verified read quarantines the blob
 * as every other read does, so the outcome is the same ARCA_ECORRUPT.
 */
#include "internal.h"
#include "fsutil.h"
#include "local.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Hash fd's whole content from offset 0 (pread: the offset stays 0). */
static int hash_fd(arca_digest *out, int fd, const char *path)
{
	arca__hasher *h = NULL;
	unsigned char *buf = NULL;
	off_t off = 0;
	ssize_t n;
	int error;

	if ((buf = malloc(1 << 17)) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((error = arca__hasher_new(&h)) < 0)
		goto cleanup;
	for (;;) {
		n = pread(fd, buf, 1 << 17, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error = arca__error_errno(errno, "cannot read", path);
			goto cleanup;
		}
		if (n == 0)
			break;
		if ((error = arca__hasher_update(h, buf, (size_t)n)) < 0)
			goto cleanup;
		off += n;
	}
	error = arca__hasher_final(h, out);
cleanup:
	arca__hasher_free(h);
	free(buf);
	return error;
}

int arca_blob_open(int *fd_out, uint64_t *size_out, arca_store *store,
		const arca_digest *digest)
{
	char hex[ARCA_DIGEST_HEXLEN + 1], rel[ARCA_DIGEST_HEXLEN + 16];
	char *path = NULL;
	arca_digest got;
	struct stat st;
	uint64_t size = 0;
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
	if (fstat(fd, &st) != 0) {
		error = arca__error_errno(errno, "cannot stat", path);
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		error = arca__error(ARCA_ECORRUPT, "%s: not a regular file",
				path);
		goto cleanup;
	}
	if ((error = hash_fd(&got, fd, path)) < 0)
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
	/* A read counts for the LRU order as arca_blob_get()'s does. */
	(void)arca__access_note_blob(arca__store_local(store), digest);
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
