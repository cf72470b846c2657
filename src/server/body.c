/*
 * The upload sink: a PUT body arrives through libmicrohttpd's upload_data
 * callback in pieces; each is hashed (OpenSSL EVP SHA-256) and written
 * to an unlinked temporary file in the store's tmp/ (or kept in memory
 * when the body is at most SRV_BODY_MEM_MAX bytes), never buffered whole.
 * The file has no name from the start (O_TMPFILE, else mkstemp and an
 * immediate unlink), so a client that disconnects, a shutdown or a
 * crash leaves nothing behind: closing the descriptor frees it.
 *
 * A large CAS body goes to an arca_blob_writer instead: the store hashes
 * it as it arrives into its own unnamed temp file and, at the commit,
 * checks that digest against the one in the path and publishes that very
 * file (no second copy, no second hash; docs/server.md, "Performance").
 * Keyed values (ac/, ccache) keep the temp file of their own: their put
 * may have to store the bytes again (keyed.c).
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int errno_code(int err)
{
	switch (err) {
	case ENOSPC:
	case EDQUOT:
		return ARCA_EFULL;
	case ENOMEM:
		return ARCA_ENOMEM;
	case EACCES:
	case EPERM:
	case EROFS:
		return ARCA_EPERM;
	default:
		return ARCA_EIO;
	}
}

static int open_unnamed(const char *dir)
{
	char *tmpl = NULL;
	int fd;

	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR &&
			errno != EINVAL))
		return fd;
	if ((tmpl = malloc(strlen(dir) + 32)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	sprintf(tmpl, "%s/serve-upload-XXXXXX", dir);
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd >= 0)
		unlink(tmpl);
	free(tmpl);
	return fd;
}

int srv_body_begin(srv_body *b, arca_store *store, const char *tmp_dir,
		uint64_t expected, int blob)
{
	b->expected = expected;
	b->received = 0;
	if (blob && expected > SRV_BODY_MEM_MAX)
		return arca_blob_writer_open(&b->writer, store);
	if ((b->md = EVP_MD_CTX_new()) == NULL)
		return ARCA_ENOMEM;
	if (EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1)
		return ARCA_EIO;
	if (expected <= SRV_BODY_MEM_MAX) {
		if ((b->mem = malloc(expected ? (size_t)expected : 1)) == NULL)
			return ARCA_ENOMEM;
		return 0;
	}
	if ((b->fd = open_unnamed(tmp_dir)) < 0)
		return errno_code(errno);
	snprintf(b->proc_path, sizeof(b->proc_path), "/proc/self/fd/%d",
			b->fd);
	return 0;
}

int srv_body_write(srv_body *b, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t left = len;
	ssize_t n;

	if (len > b->expected - b->received)
		return ARCA_EINVAL;
	if (b->writer != NULL) {
		int error = arca_blob_writer_write(b->writer, data, len);

		if (error == 0)
			b->received += len;
		return error;
	}
	if (b->md == NULL)
		return ARCA_EINVAL;
	if (EVP_DigestUpdate(b->md, data, len) != 1)
		return ARCA_EIO;
	if (b->fd < 0) {
		memcpy(b->mem + b->mem_len, data, len);
		b->mem_len += len;
		b->received += len;
		return 0;
	}
	while (left > 0) {
		n = write(b->fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno_code(errno);
		p += n;
		left -= (size_t)n;
	}
	b->received += len;
	return 0;
}

int srv_body_finish(srv_body *b, arca_digest *out)
{
	unsigned int n = 0;

	if (b->md == NULL || b->received != b->expected)
		return ARCA_EINVAL;
	if (EVP_DigestFinal_ex(b->md, out->bytes, &n) != 1 ||
			n != sizeof(out->bytes))
		return ARCA_EIO;
	return 0;
}

int srv_body_store(arca_digest *out, srv_body *b, arca_store *store)
{
	if (b->fd < 0)
		return arca_blob_put(out, store, b->mem, b->mem_len);
	/* arca_blob_put_file() opens the path afresh, at offset 0. */
	return arca_blob_put_file(out, NULL, store, b->proc_path);
}

int srv_body_commit(arca_digest *got, srv_body *b, arca_store *store,
		const arca_digest *expected)
{
	arca_digest stored;
	int error;

	if (b->received != b->expected)
		return ARCA_EINVAL;
	if (b->writer != NULL)
		return arca_blob_writer_commit(got, NULL, b->writer, expected);
	if ((error = srv_body_finish(b, got)) < 0)
		return error;
	if (!arca_digest_equal(got, expected))
		return ARCA_ECORRUPT;
	if ((error = srv_body_store(&stored, b, store)) < 0)
		return error;
	return arca_digest_equal(&stored, expected) ? 0 : ARCA_EIO;
}

void srv_body_free(srv_body *b)
{
	/* An uncommitted writer leaves nothing: its file has no name. */
	arca_blob_writer_free(b->writer);
	b->writer = NULL;
	EVP_MD_CTX_free(b->md);
	b->md = NULL;
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	free(b->mem);
	b->mem = NULL;
	b->mem_len = 0;
}
