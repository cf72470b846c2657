/* SHA-256 digests through OpenSSL libcrypto's EVP interface. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/conf.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

struct arca__hasher {
	EVP_MD_CTX *ctx;
};

/*
 * SHA-256, fetched once. EVP_sha256() makes OpenSSL 3 fetch the
 * implementation again on every EVP_DigestInit_ex() / EVP_Digest(),
 * which costs more than hashing 1 KiB; an explicitly fetched EVP_MD is
 * reused (OpenSSL 3.0 crypto(7), "PERFORMANCE" and "Explicit fetching").
 * Kept for the life of the process.
 *
 * OpenSSL is initialised first, once, with OPENSSL_INIT_NO_LOAD_CONFIG
 * (OPENSSL_init_crypto(3)): otherwise the first EVP call initialises it
 * with OPENSSL_INIT_LOAD_CONFIG and reads and parses openssl.cnf
 * (config(5)), which a digest does not need and which costs a cache hit
 * more than its own hashing (EVP_DigestInit_ex() looks for an ENGINE,
 * which loads the configuration even for a digest fetched from a private
 * OSSL_LIB_CTX). That choice is process-wide, so the code that does need
 * the configuration, TLS through libcurl for remote tiers, loads it
 * explicitly: arca__openssl_load_config().
 */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static const EVP_MD *sha256_md;

static void sha256_fetch(void)
{
	EVP_MD *md;

	/* Ignored (returns 1) when OpenSSL was initialised already, by an
	 * embedding program or an earlier arca__openssl_load_config(). */
	(void)OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
	md = EVP_MD_fetch(NULL, "SHA256", NULL);
	sha256_md = md != NULL ? md : EVP_sha256();
}

static pthread_once_t config_once = PTHREAD_ONCE_INIT;

static void config_load(void)
{
	/* What OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG) would have
	 * loaded: the file $OPENSSL_CONF or the default one, its
	 * "openssl_conf" section (CONF_modules_load_file(3)). Errors are
	 * ignored, as OpenSSL's own loading ignores them. */
	(void)CONF_modules_load_file(NULL, NULL, CONF_MFLAGS_DEFAULT_SECTION |
			CONF_MFLAGS_IGNORE_MISSING_FILE);
	ERR_clear_error();
}

void arca__openssl_load_config(void)
{
	(void)pthread_once(&config_once, config_load);
}

static const EVP_MD *sha256(void)
{
	(void)pthread_once(&sha256_once, sha256_fetch);
	return sha256_md;
}

int arca__hasher_new(arca__hasher **out)
{
	arca__hasher *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (h == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory for a hasher");
	h->ctx = EVP_MD_CTX_new();
	if (h->ctx == NULL) {
		free(h);
		return arca__error(ARCA_ENOMEM, "EVP_MD_CTX_new failed");
	}
	if (EVP_DigestInit_ex(h->ctx, sha256(), NULL) != 1) {
		arca__hasher_free(h);
		return arca__error(ARCA_EIO, "EVP_DigestInit_ex(sha256) failed");
	}
	*out = h;
	return 0;
}

int arca__hasher_update(arca__hasher *h, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	if (EVP_DigestUpdate(h->ctx, data, len) != 1)
		return arca__error(ARCA_EIO, "EVP_DigestUpdate failed");
	return 0;
}

int arca__hasher_final(arca__hasher *h, arca_digest *out)
{
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(h->ctx, out->bytes, &n) != 1 ||
			n != ARCA_DIGEST_SIZE)
		return arca__error(ARCA_EIO, "EVP_DigestFinal_ex failed");
	/* Ready for reuse. */
	if (EVP_DigestInit_ex(h->ctx, sha256(), NULL) != 1)
		return arca__error(ARCA_EIO, "EVP_DigestInit_ex(sha256) failed");
	return 0;
}

int arca__hasher_reset(arca__hasher *h)
{
	if (EVP_DigestInit_ex(h->ctx, sha256(), NULL) != 1)
		return arca__error(ARCA_EIO, "EVP_DigestInit_ex(sha256) failed");
	return 0;
}

void arca__hasher_free(arca__hasher *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

int arca_digest_buffer(arca_digest *out, const void *data, size_t len)
{
	unsigned int n = 0;

	if (EVP_Digest(len ? data : "", len, out->bytes, &n, sha256(),
			NULL) != 1 || n != ARCA_DIGEST_SIZE)
		return arca__error(ARCA_EIO, "EVP_Digest(sha256) failed");
	return 0;
}

int arca_digest_file(arca_digest *out, uint64_t *size_out, const char *path)
{
	return arca_digest_file_progress(out, size_out, path, NULL, NULL);
}

int arca__digest_fd(arca_digest *out, uint64_t *total, int fd,
		const char *path, unsigned char *buf, size_t bufsize,
		uint64_t expect, arca_progress_fn fn, void *ctx)
{
	arca__hasher *h = NULL;
	unsigned char *own = NULL;
	uint64_t done = 0;
	ssize_t n;
	int error;

	if (buf == NULL && (buf = own = malloc(bufsize)) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory reading %s", path);
	if ((error = arca__hasher_new(&h)) < 0)
		goto cleanup;
	for (;;) {
		n = pread(fd, buf, bufsize, (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			error = arca__error_errno(errno, "cannot read", path);
			goto cleanup;
		}
		if (n == 0)
			break;
		if ((error = arca__hasher_update(h, buf, (size_t)n)) < 0)
			goto cleanup;
		done += (uint64_t)n;
		if (fn)
			fn(ctx, done, expect);
	}
	if ((error = arca__hasher_final(h, out)) < 0)
		goto cleanup;
	if (total != NULL)
		*total = done;
cleanup:
	arca__hasher_free(h);
	free(own);
	return error;
}

int arca_digest_file_progress(arca_digest *out, uint64_t *size_out,
		const char *path, arca_progress_fn fn, void *ctx)
{
	struct stat st;
	int fd = -1, error;

	/* Anything but a regular file is refused before it is read: the
	 * stat, and O_NONBLOCK, because opening a FIFO without a writer would
	 * block (no effect on a regular file's reads); fstat then checks what
	 * was opened. */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return arca__error(ARCA_EINVAL, "%s: not a regular file", path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return arca__error_errno(errno, "cannot open", path);
	if (fstat(fd, &st) != 0)
		error = arca__error_errno(errno, "cannot stat", path);
	else if (!S_ISREG(st.st_mode))
		error = arca__error(ARCA_EINVAL, "%s: not a regular file", path);
	else
		error = arca__digest_fd(out, size_out, fd, path, NULL, 1 << 20,
				(uint64_t)st.st_size, fn, ctx);
	close(fd);
	return error;
}

void arca_digest_to_hex(char *out, const arca_digest *d)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < ARCA_DIGEST_SIZE; i++) {
		out[2 * i] = hex[d->bytes[i] >> 4];
		out[2 * i + 1] = hex[d->bytes[i] & 0xf];
	}
	out[ARCA_DIGEST_HEXLEN] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int arca_digest_from_hex(arca_digest *out, const char *hex)
{
	size_t i;

	if (hex == NULL || strlen(hex) != ARCA_DIGEST_HEXLEN)
		return arca__error(ARCA_EINVAL,
				"'%s': a digest is 64 hex characters",
				hex ? hex : "(null)");
	for (i = 0; i < ARCA_DIGEST_SIZE; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return arca__error(ARCA_EINVAL,
					"'%s': not a hex digest", hex);
		out->bytes[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

int arca_digest_equal(const arca_digest *a, const arca_digest *b)
{
	return memcmp(a->bytes, b->bytes, ARCA_DIGEST_SIZE) == 0;
}

void arca_buf_free(arca_buf *buf)
{
	if (buf == NULL)
		return;
	free(buf->data);
	buf->data = NULL;
	buf->size = 0;
}
