/*
 * HTTP semantics of content-addressed blobs (GET and HEAD of /v1/blobs/
 * and bazel-remote's /cas/), after RFC 9110 (HTTP Semantics) and RFC
 * 9111 (HTTP Caching):
 *
 *   ETag: "<hex>"            §8.8.3: the digest is a strong validator, the
 *                            bytes can never change under it. A zstd-coded
 *                            answer is another representation, so it gets
 *                            the weak W/"<hex>" (§8.8.3: codings differ).
 *   Cache-Control: public, max-age=31536000, immutable
 *                            RFC 9111 §5.2.2.9 (public), §5.2.2.1
 *                            (max-age), RFC 8246 (immutable).
 *   Vary: Accept-Encoding    §12.5.5: the answer depends on it.
 *   Accept-Ranges: bytes     §14.3.
 *   If-None-Match            §13.1.2: "*" or a list of entity tags, weak
 *                            comparison (§8.8.3.2); a match is 304 Not
 *                            Modified (§15.4.5) without a body, evaluated
 *                            before Range (§13.2.2).
 *   Range: bytes=A-B|A-|-N   §14.1.2 and §14.2, GET only: one satisfiable
 *                            range is 206 Partial Content (§15.3.7) with
 *                            Content-Range: bytes A-B/SIZE (§14.4); none
 *                            satisfiable is 416 (§15.5.17) with
 *                            Content-Range: bytes * /SIZE (no space); a
 *                            syntactically invalid Range, or several
 *                            ranges, are ignored and the whole is sent
 *                            (§14.2: a server MAY ignore Range). If-Range
 *                            (§13.1.5) must equal the strong ETag, else the
 *                            whole is sent.
 *   Accept-Encoding: zstd    §12.5.3, RFC 8878 (the zstd coding): a GET
 *                            without a honoured Range is sent as one zstd
 *                            frame, compressed while it is sent
 *                            (MHD_create_response_from_callback, chunked),
 *                            so any size streams in bounded memory.
 *                            Ranges are served uncompressed (identity).
 *
 * A PUT with Content-Encoding: zstd is decoded here too
 * (srv_zstd_decode_body), bounded by the decoded size.
 */
#include "server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zstd.h>

#define CACHE_CONTROL "public, max-age=31536000, immutable"
/* zstd level of answers: 1, the fastest (ZSTD_fast strategy); a server
 * on a LAN is not helped by spending more CPU than the link saves. */
#define ZSTD_SERVE_LEVEL 1
#define ZSTD_READ_CHUNK ((size_t)128 * 1024)

/* ---- header parsing ----------------------------------------------------- */

static const char *header(srv_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/*
 * Whether an If-None-Match field value matches the blob (§13.1.2): "*"
 * or a comma-separated list of entity-tags, compared weakly: W/ is
 * dropped from both sides and the opaque-tags compared (§8.8.3.2).
 */
static int if_none_match_matches(const char *v, const char *hex)
{
	const char *p = skip_ows(v);
	size_t hl = strlen(hex);

	if (*p == '*' && *skip_ows(p + 1) == '\0')
		return 1;
	while (*p) {
		const char *q;

		p = skip_ows(p);
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (*p != '"')
			return 0; /* not an entity-tag: no match */
		q = strchr(p + 1, '"');
		if (q == NULL)
			return 0;
		if ((size_t)(q - p - 1) == hl && memcmp(p + 1, hex, hl) == 0)
			return 1;
		p = skip_ows(q + 1);
		if (*p == ',')
			p++;
		else if (*p != '\0')
			return 0;
	}
	return 0;
}

/* Whether the request lists zstd with q > 0 (§12.5.3). */
static int accepts_zstd(const char *v)
{
	const char *p = v;

	while (p != NULL && *p) {
		size_t n;
		const char *end, *q;

		p = skip_ows(p);
		n = strcspn(p, ";, \t");
		end = p + strcspn(p, ",");
		if (n == 4 && strncasecmp(p, "zstd", 4) == 0) {
			/* ";q=0" (or 0.0, 0.000) refuses it. */
			q = strstr(p, "q=");
			if (q != NULL && q < end) {
				q += 2;
				if (q[0] == '0' && strspn(q + 1, ".0") ==
						strcspn(q + 1, ", \t;"))
					return 0;
			}
			return 1;
		}
		p = *end ? end + 1 : end;
	}
	return 0;
}

enum range_kind { RANGE_NONE, RANGE_ONE, RANGE_UNSATISFIABLE };

static int parse_pos(uint64_t *out, const char *p, const char **end)
{
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	*end = p;
	return 0;
}

/*
 * One byte range of a representation of size bytes (§14.1.2): first and
 * last inclusive. RANGE_NONE: absent, invalid or several ranges (the
 * whole is sent); RANGE_UNSATISFIABLE: valid, but no byte of it exists.
 */
static enum range_kind parse_range(uint64_t *first, uint64_t *last,
		const char *v, uint64_t size)
{
	const char *p, *e;
	uint64_t a, b;

	if (v == NULL)
		return RANGE_NONE;
	p = skip_ows(v);
	if (strncasecmp(p, "bytes=", 6) != 0)
		return RANGE_NONE; /* another range unit: ignored (§14.1) */
	p = skip_ows(p + 6);
	if (strchr(p, ',') != NULL)
		return RANGE_NONE; /* several: answered whole (§14.2) */
	if (*p == '-') {
		/* suffix-range: the last N bytes */
		if (parse_pos(&b, p + 1, &e) < 0 || *skip_ows(e) != '\0')
			return RANGE_NONE;
		if (b == 0 || size == 0)
			return RANGE_UNSATISFIABLE;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return RANGE_ONE;
	}
	if (parse_pos(&a, p, &e) < 0 || *e != '-')
		return RANGE_NONE;
	p = e + 1;
	if (*skip_ows(p) == '\0') {
		b = UINT64_MAX;
	} else if (parse_pos(&b, p, &e) < 0 || *skip_ows(e) != '\0' || b < a) {
		return RANGE_NONE; /* last-pos < first-pos: invalid (§14.1.2) */
	}
	if (a >= size)
		return RANGE_UNSATISFIABLE;
	*first = a;
	*last = b >= size ? size - 1 : b;
	return RANGE_ONE;
}

/* ---- streaming zstd answers ------------------------------------------- */

typedef struct zsend {
	ZSTD_CCtx *cctx;
	int fd;                     /* the verified file, or -1 */
	arca_buf mem;               /* or the bytes in memory */
	unsigned char *in;
	ZSTD_inBuffer inb;
	int eof, done;
} zsend;

static void zsend_free(void *cls)
{
	zsend *z = cls;

	if (z == NULL)
		return;
	ZSTD_freeCCtx(z->cctx);
	if (z->fd >= 0)
		close(z->fd);
	arca_buf_free(&z->mem);
	free(z->in);
	free(z);
}

static ssize_t zsend_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	zsend *z = cls;
	ZSTD_outBuffer out = { buf, max, 0 };

	(void)pos;
	while (out.pos == 0 && !z->done) {
		size_t left;

		if (z->inb.pos == z->inb.size && !z->eof) {
			ssize_t n = read(z->fd, z->in, ZSTD_READ_CHUNK);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return MHD_CONTENT_READER_END_WITH_ERROR;
			z->inb.src = z->in;
			z->inb.size = (size_t)n;
			z->inb.pos = 0;
			z->eof = n == 0;
		}
		left = ZSTD_compressStream2(z->cctx, &out, &z->inb,
				z->eof ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(left))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (z->eof && left == 0)
			z->done = 1;
	}
	if (out.pos == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return (ssize_t)out.pos;
}

/* A zstd answer of the blob (fd, or mem taken over); NULL on failure
 * (fd closed, mem freed). */
static struct MHD_Response *zstd_response(int fd, arca_buf *mem)
{
	struct MHD_Response *resp;
	zsend *z = calloc(1, sizeof(*z));

	if (z == NULL)
		goto fail;
	z->fd = fd;
	z->mem = *mem;
	mem->data = NULL;
	mem->size = 0;
	fd = -1;
	if ((z->cctx = ZSTD_createCCtx()) == NULL ||
			ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx,
				ZSTD_c_compressionLevel, ZSTD_SERVE_LEVEL)))
		goto fail;
	if (z->fd >= 0) {
		if ((z->in = malloc(ZSTD_READ_CHUNK)) == NULL)
			goto fail;
	} else {
		/* The whole input is known: the frame records its size. */
		z->inb.src = z->mem.data;
		z->inb.size = z->mem.size;
		z->eof = 1;
		(void)ZSTD_CCtx_setPledgedSrcSize(z->cctx, z->mem.size);
	}
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
			64 * 1024, zsend_read, z, zsend_free);
	if (resp == NULL)
		zsend_free(z);
	return resp;
fail:
	if (fd >= 0)
		close(fd);
	arca_buf_free(mem);
	zsend_free(z);
	return NULL;
}

/* ---- the answer ------------------------------------------------------- */

static void blob_headers(struct MHD_Response *resp, const char *hex, int weak)
{
	char etag[ARCA_DIGEST_HEXLEN + 5];

	snprintf(etag, sizeof(etag), "%s\"%s\"", weak ? "W/" : "", hex);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
			CACHE_CONTROL);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
}

static ssize_t no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls; (void)pos; (void)buf; (void)max;
	return MHD_CONTENT_READER_END_OF_STREAM;
}

enum MHD_Result srv_respond_cas_blob(srv_request *r, arca_store *store,
		const arca_digest *digest)
{
	struct MHD_Response *resp = NULL;
	arca_buf buf = ARCA_BUF_INIT;
	char hex[ARCA_DIGEST_HEXLEN + 1], cr[80];
	const char *inm, *ir;
	uint64_t size = 0, first = 0, last = 0, len;
	enum range_kind range = RANGE_NONE;
	int fd = -1, zstd, error;
	unsigned int status = MHD_HTTP_OK;

	arca_digest_to_hex(hex, digest);
	if ((error = arca_blob_stat(&size, store, digest)) < 0)
		return srv_respond_error(r, error, "blob");
	/* §13.2.2: If-None-Match first; a match is 304 for GET and HEAD. */
	if ((inm = header(r, MHD_HTTP_HEADER_IF_NONE_MATCH)) != NULL &&
			if_none_match_matches(inm, hex)) {
		resp = MHD_create_response_from_buffer(0, (void *)"",
				MHD_RESPMEM_PERSISTENT);
		if (resp != NULL)
			blob_headers(resp, hex, 0);
		return srv_queue(r, MHD_HTTP_NOT_MODIFIED, resp, 0);
	}
	if (r->method == SRV_HEAD) {
		/* §9.3.2: a GET's headers without the body; the length is the
		 * uncompressed size (the /v1 contract). */
		resp = MHD_create_response_from_callback(size, 4096, no_body,
				NULL, NULL);
		if (resp != NULL) {
			blob_headers(resp, hex, 0);
			MHD_add_response_header(resp,
					MHD_HTTP_HEADER_CONTENT_TYPE,
					"application/octet-stream");
		}
		return srv_queue(r, MHD_HTTP_OK, resp, 0);
	}
	range = parse_range(&first, &last,
			header(r, MHD_HTTP_HEADER_RANGE), size);
	ir = header(r, MHD_HTTP_HEADER_IF_RANGE);
	if (range != RANGE_NONE && ir != NULL) {
		/* §13.1.5: a strong match of our ETag, else the whole. */
		char want[ARCA_DIGEST_HEXLEN + 3];

		snprintf(want, sizeof(want), "\"%s\"", hex);
		if (strcmp(skip_ows(ir), want) != 0)
			range = RANGE_NONE;
	}
	if (range == RANGE_UNSATISFIABLE) {
		char text[] = "arca serve: range not satisfiable\n";

		snprintf(cr, sizeof(cr), "bytes */%llu",
				(unsigned long long)size);
		resp = MHD_create_response_from_buffer(strlen(text), text,
				MHD_RESPMEM_MUST_COPY);
		if (resp != NULL) {
			blob_headers(resp, hex, 0);
			MHD_add_response_header(resp,
					MHD_HTTP_HEADER_CONTENT_RANGE, cr);
			MHD_add_response_header(resp,
					MHD_HTTP_HEADER_CONTENT_TYPE,
					"text/plain; charset=utf-8");
		}
		return srv_queue(r, MHD_HTTP_RANGE_NOT_SATISFIABLE, resp,
				strlen(text));
	}
	zstd = range == RANGE_NONE && accepts_zstd(header(r,
			MHD_HTTP_HEADER_ACCEPT_ENCODING));
	/* A file blob: verified (re-hashed) before any byte goes out. */
	if ((error = arca_blob_open(&fd, &size, store, digest)) < 0)
		return srv_respond_error(r, error, "blob");
	if (fd < 0 && (error = arca_blob_get(&buf, store, digest)) < 0)
		return srv_respond_error(r, error, "blob");
	if (fd < 0)
		size = buf.size;
	if (range == RANGE_ONE && last >= size) /* changed under us: whole */
		range = RANGE_NONE;
	if (range == RANGE_ONE) {
		status = MHD_HTTP_PARTIAL_CONTENT;
		len = last - first + 1;
	} else {
		first = 0;
		len = size;
	}
	if (zstd) {
		resp = zstd_response(fd, &buf);
		fd = -1;
		len = 0; /* on the wire: not known before it is sent */
	} else if (fd >= 0) {
		/* sendfile(2) from the offset (MHD uses it for plain HTTP). */
		resp = MHD_create_response_from_fd_at_offset64(len, fd,
				first);
		if (resp == NULL)
			close(fd);
		fd = -1;
	} else {
		resp = MHD_create_response_from_buffer((size_t)len,
				(char *)buf.data + first, MHD_RESPMEM_MUST_COPY);
	}
	arca_buf_free(&buf);
	if (resp == NULL)
		return MHD_NO;
	blob_headers(resp, hex, zstd);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
			"application/octet-stream");
	if (zstd)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING,
				"zstd");
	if (status == MHD_HTTP_PARTIAL_CONTENT) {
		snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu",
				(unsigned long long)first,
				(unsigned long long)last,
				(unsigned long long)size);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE,
				cr);
	}
	return srv_queue(r, status, resp, len);
}

/* ---- bodies ------------------------------------------------------------ */

int srv_body_read_all(char **data, size_t *len, srv_body *b)
{
	char *p;
	size_t n = b->fd < 0 ? b->mem_len : (size_t)b->received, got = 0;

	*data = NULL;
	*len = 0;
	if ((p = malloc(n + 1)) == NULL)
		return ARCA_ENOMEM;
	if (b->fd < 0) {
		if (n > 0)
			memcpy(p, b->mem, n);
	} else {
		while (got < n) {
			ssize_t k = pread(b->fd, p + got, n - got,
					(off_t)got);

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				free(p);
				return ARCA_EIO;
			}
			got += (size_t)k;
		}
	}
	p[n] = '\0';
	*data = p;
	*len = n;
	return 0;
}

int srv_zstd_decode_body(srv_body *out, srv_body *in, const char *tmp_dir,
		uint64_t limit, const char **why)
{
	ZSTD_DCtx *d = NULL;
	unsigned char *ibuf = NULL, *obuf = NULL;
	size_t osize = ZSTD_DStreamOutSize(), isize = ZSTD_READ_CHUNK;
	size_t last = 1;
	uint64_t off = 0, total = in->fd < 0 ? in->mem_len : in->received;
	int error;

	*why = NULL;
	/* The decoded size is not known up front (a frame need not record
	 * it): the sink is begun for the bound and closed at what came. */
	if ((error = srv_body_begin(out, NULL, tmp_dir, limit, 0)) < 0)
		goto cleanup;
	if ((d = ZSTD_createDCtx()) == NULL || (obuf = malloc(osize)) == NULL ||
			(in->fd >= 0 && (ibuf = malloc(isize)) == NULL)) {
		error = ARCA_ENOMEM;
		goto cleanup;
	}
	while (off < total) {
		ZSTD_inBuffer ib;

		if (in->fd < 0) {
			ib.src = in->mem;
			ib.size = in->mem_len;
		} else {
			ssize_t k = pread(in->fd, ibuf, isize, (off_t)off);

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				error = ARCA_EIO;
				goto cleanup;
			}
			ib.src = ibuf;
			ib.size = (size_t)k;
		}
		ib.pos = 0;
		while (ib.pos < ib.size) {
			ZSTD_outBuffer ob = { obuf, osize, 0 };

			last = ZSTD_decompressStream(d, &ob, &ib);
			if (ZSTD_isError(last)) {
				*why = ZSTD_getErrorName(last);
				error = ARCA_EINVAL;
				goto cleanup;
			}
			if (ob.pos > limit - out->received) {
				*why = "the decoded body is over the limit";
				error = ARCA_EFULL;
				goto cleanup;
			}
			if (ob.pos > 0 && (error = srv_body_write(out, obuf,
					ob.pos)) < 0)
				goto cleanup;
		}
		off += ib.size;
	}
	/* The decoder flushes what it holds before asking for input. */
	for (;;) {
		ZSTD_inBuffer ib = { NULL, 0, 0 };
		ZSTD_outBuffer ob = { obuf, osize, 0 };

		if (last == 0)
			break;
		last = ZSTD_decompressStream(d, &ob, &ib);
		if (ZSTD_isError(last)) {
			*why = ZSTD_getErrorName(last);
			error = ARCA_EINVAL;
			goto cleanup;
		}
		if (ob.pos > limit - out->received) {
			*why = "the decoded body is over the limit";
			error = ARCA_EFULL;
			goto cleanup;
		}
		if (ob.pos > 0 && (error = srv_body_write(out, obuf,
				ob.pos)) < 0)
			goto cleanup;
		if (ob.pos == 0)
			break;
	}
	if (last != 0) {
		*why = "truncated zstd frame";
		error = ARCA_EINVAL;
		goto cleanup;
	}
	out->expected = out->received;
	error = 0;
cleanup:
	ZSTD_freeDCtx(d);
	free(ibuf);
	free(obuf);
	return error;
}
