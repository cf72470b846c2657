/*
 * zstd on buffers (libzstd, https://facebook.github.io/zstd/; the format
 * is RFC 8878). See compress.h.
 */
#include "internal.h"
#include "compress.h"

#include <zstd.h>

#include <stdlib.h>
#include <string.h>

int arca__zstd_is_frame(const void *data, size_t len)
{
	return len >= ARCA__ZSTD_MAGIC_LEN &&
		memcmp(data, ARCA__ZSTD_MAGIC, ARCA__ZSTD_MAGIC_LEN) == 0;
}

int arca__zstd_compress(arca_buf *out, const void *src, size_t len, int level)
{
	size_t bound = ZSTD_compressBound(len), n;

	out->data = NULL;
	out->size = 0;
	if (ZSTD_isError(bound))
		return arca__error(ARCA_EIO, "zstd: %zu bytes are too many to "
				"compress", len);
	if ((out->data = malloc(bound + 1)) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	/* ZSTD_compress() writes the content size into the frame header. */
	n = ZSTD_compress(out->data, bound, len ? src : "", len, level);
	if (ZSTD_isError(n)) {
		arca_buf_free(out);
		return arca__error(ARCA_EIO, "zstd: %s", ZSTD_getErrorName(n));
	}
	out->data[n] = '\0';
	out->size = n;
	return 0;
}

int arca__zstd_content_size(uint64_t *out, const void *src, size_t len)
{
	unsigned long long n = ZSTD_getFrameContentSize(src, len);

	if (n == ZSTD_CONTENTSIZE_ERROR)
		return arca__error(ARCA_ECORRUPT, "zstd: not a frame header");
	if (n == ZSTD_CONTENTSIZE_UNKNOWN)
		return arca__error(ARCA_ENOTFOUND, "zstd: the frame does not "
				"declare its size");
	*out = (uint64_t)n;
	return 0;
}

int arca__zstd_decompress(arca_buf *out, const void *src, size_t len,
		uint64_t limit)
{
	ZSTD_DCtx *dctx = NULL;
	ZSTD_inBuffer in = { src, len, 0 };
	ZSTD_outBuffer o = { NULL, 0, 0 };
	unsigned long long declared;
	size_t frame_len, cap, rc = 1;
	unsigned char *p;
	int error = 0;

	out->data = NULL;
	out->size = 0;
	frame_len = ZSTD_findFrameCompressedSize(src, len);
	if (ZSTD_isError(frame_len) || frame_len != len) {
		error = arca__error(ARCA_ECORRUPT, "zstd: not exactly one "
				"frame (%s)", ZSTD_isError(frame_len) ?
				ZSTD_getErrorName(frame_len) :
				"bytes after the frame");
		goto cleanup;
	}
	declared = ZSTD_getFrameContentSize(src, len);
	if (declared == ZSTD_CONTENTSIZE_ERROR) {
		error = arca__error(ARCA_ECORRUPT, "zstd: a bad frame header");
		goto cleanup;
	}
	if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared > limit) {
		error = arca__error(ARCA_ECORRUPT, "zstd: the frame declares "
				"%llu bytes, over the limit of %llu", declared,
				(unsigned long long)limit);
		goto cleanup;
	}
	/* The declared size is a hint only: a frame may lie about it, so
	 * the output is grown up to limit + 1 bytes and no further. */
	cap = declared != ZSTD_CONTENTSIZE_UNKNOWN ? (size_t)declared + 1 :
		(limit + 1 < 65536 ? (size_t)limit + 1 : 65536);
	if ((o.dst = malloc(cap + 1)) == NULL ||
	    (dctx = ZSTD_createDCtx()) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	o.size = cap;
	while (rc != 0) {
		rc = ZSTD_decompressStream(dctx, &o, &in);
		if (ZSTD_isError(rc)) {
			error = arca__error(ARCA_ECORRUPT, "zstd: %s",
					ZSTD_getErrorName(rc));
			goto cleanup;
		}
		if (o.pos > limit) {
			error = arca__error(ARCA_ECORRUPT, "zstd: the frame "
					"decompresses to more than %llu bytes",
					(unsigned long long)limit);
			goto cleanup;
		}
		if (rc == 0)
			break;
		if (o.pos == o.size) {
			cap = o.size > (limit + 1) / 2 ? (size_t)limit + 1 :
				o.size * 2;
			if ((p = realloc(o.dst, cap + 1)) == NULL) {
				error = arca__error(ARCA_ENOMEM,
						"out of memory");
				goto cleanup;
			}
			o.dst = p;
			o.size = cap;
		} else if (in.pos == in.size) {
			error = arca__error(ARCA_ECORRUPT, "zstd: the frame "
					"is truncated");
			goto cleanup;
		}
	}
	if (declared != ZSTD_CONTENTSIZE_UNKNOWN && o.pos != declared) {
		error = arca__error(ARCA_ECORRUPT, "zstd: the frame declares "
				"%llu bytes but holds %zu", declared, o.pos);
		goto cleanup;
	}
	out->data = o.dst;
	out->data[o.pos] = '\0';
	out->size = o.pos;
	o.dst = NULL;
cleanup:
	free(o.dst);
	ZSTD_freeDCtx(dctx);
	return error;
}
