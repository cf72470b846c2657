/*
 * zstd helpers (internal) for the tiers that compress what they store
 * (the Redis tiers; meant for the S3 tier too). Buffers in, buffers out.
 *
 * A compressed value is exactly one Zstandard frame (RFC 8878, section
 * 3.1.1), which starts with the magic number 0xFD2FB528 in little-endian
 * order, i.e. the bytes 28 B5 2F FD (ARCA__ZSTD_MAGIC), and declares its
 * decompressed size in its header (Frame_Content_Size, section 3.1.1.1.4).
 */
#ifndef ARCA_COMPRESS_H
#define ARCA_COMPRESS_H

#include "arca/arca.h"

#include <stddef.h>
#include <stdint.h>

#define ARCA__ZSTD_MAGIC "\x28\xb5\x2f\xfd"
#define ARCA__ZSTD_MAGIC_LEN 4
/* The largest frame header (RFC 8878 3.1.1.1: magic 4 + descriptor 1 +
 * window 1 + dictionary ID 4 + content size 8). */
#define ARCA__ZSTD_HEADER_MAX 18
/* The level the tiers compress at: zstd's default. */
#define ARCA__ZSTD_LEVEL 3

/* 1 when data (len bytes) starts with the zstd frame magic number. */
int arca__zstd_is_frame(const void *data, size_t len);

/*
 * Compress len bytes of src into one frame (its content size in its
 * header), malloc'd into *out (arca_buf_free()); out is left empty on
 * error.
 * @param[in] level  zstd level (1..ZSTD_maxCLevel(); ARCA__ZSTD_LEVEL).
 * @return 0; ARCA_ENOMEM; ARCA_EIO (zstd refused).
 */
int arca__zstd_compress(arca_buf *out, const void *src, size_t len, int level);

/*
 * Decompress exactly one frame (len bytes at src, nothing after it) into
 * *out (malloc'd, NUL-terminated; arca_buf_free()), never holding more
 * than limit + 1 decompressed bytes: a frame that declares or yields more
 * than limit bytes is refused before or while it is decompressed (a
 * "zip bomb" is a corrupt value). out is left empty on error.
 * @param[in] limit  the most decompressed bytes accepted.
 * @return 0; ARCA_ECORRUPT (not one valid frame, or over limit);
 *         ARCA_ENOMEM.
 */
int arca__zstd_decompress(arca_buf *out, const void *src, size_t len,
		uint64_t limit);

/*
 * The decompressed size a frame's header declares, from its first bytes
 * (ARCA__ZSTD_HEADER_MAX are always enough).
 * @return 0; ARCA_ECORRUPT (not a frame header); ARCA_ENOTFOUND (the
 *         header does not declare its size).
 */
int arca__zstd_content_size(uint64_t *out, const void *src, size_t len);

#endif /* ARCA_COMPRESS_H */
