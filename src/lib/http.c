/*
 * The HTTP tier: an arca_backend on `arca serve` (its /v1 API, docs/
 * server.md) or on a bazel-remote server (its HTTP cache protocol,
 * github.com/buchgr/bazel-remote README and server/http.go), with
 * libcurl, jansson (the JSON of /v1/blobs:missing) and libzstd (answers
 * sent with Content-Encoding: zstd, RFC 8878). The URL syntax, the
 * routes and the outcomes are documented in include/arca/sys/http.h and
 * docs/tiers.md.
 *
 * One curl easy handle per backend (its connection is kept alive and
 * reused between calls); each method call has one deadline (the store's
 * deadline_ms, else timeout_ms from the call's start) that bounds every
 * request of the call through CURLOPT_TIMEOUT_MS, as in s3.c.
 */
#include "internal.h"
#include "fsutil.h"
#include "tier_url.h"
#include "ac_entry.h"
#include "compress.h"

#include "arca/sys/backend.h"
#include "arca/sys/http.h"

#include <curl/curl.h>
#include <jansson.h>
#include <zstd.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define INSTANCE_MAX 512
#define PATH_LEN (INSTANCE_MAX + 32 + ARCA_DIGEST_HEXLEN + 1)
/* Bytes of an error answer or a JSON reply kept in memory. */
#define SMALL_BODY_MAX ((size_t)64 << 10)
/* Largest action entry or manifest read back. */
#define AC_ENTRY_MAX ((size_t)64 << 20)
#define IO_CHUNK ((size_t)64 << 10)
/* /v1/blobs:missing takes at most this many digests (the contract). */
#define MISSING_BATCH 10000
/* A zstd answer may ask for a window of at most 2^24 bytes (the tiers'
 * own frames, level 3, use at most 2 MiB). */
#define WINDOW_LOG_MAX 24
/* Bytes sampled at the start of a blob to decide whether to compress. */
#define SAMPLE_MAX ((size_t)1 << 20)
#define EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

enum { MODE_UNKNOWN, MODE_V1, MODE_BAZEL };

typedef struct http_backend {
	arca_backend parent;
	char shown[1024];          /* the URL without credentials */
	char *base;                /* "http://HOST:PORT[/INSTANCE]" */
	char *user, *pass;         /* Basic; NULL: none */
	char *token;               /* Bearer; NULL: none */
	unsigned int connect_timeout_ms, timeout_ms;
	int compress;              /* zstd uploads (/v1 only) */
	int mode;
	/* The protocol probe is still owed, before the first call. */
	int probe_pending;
	CURL *curl;
} http_backend;

/* One HTTP request and what came back. */
typedef struct request {
	const char *method;        /* GET HEAD PUT POST DELETE */
	const char *path;          /* after the base, starts with '/' */
	const char *content_type;
	const char *content_encoding;
	/* the body of a PUT: memory or an fd (pread from base), hashed as
	 * it is sent when up_hasher is set; or bytes for a POST */
	const unsigned char *mem;
	int fd;
	uint64_t fd_base, len, pos;
	int up_error;
	arca__hasher *up_hasher;
	const void *post;
	size_t post_len;
	/* a 2xx body goes to sink (hashed first), else into small */
	arca_sink_fn sink;
	void *sink_ctx;
	arca__hasher *hasher;
	int sink_error;
	int decode_checked, frame_done;
	ZSTD_DCtx *dctx;
	unsigned char *zbuf;
	uint64_t plain_got, plain_declared;
	int has_declared;
	arca_buf small;
	size_t small_max;
	int small_zstd;            /* small holds a zstd frame */
	CURL *curl;
	/* the answer */
	long status;
	uint64_t content_length;
	int has_length;
	int api_v1;                /* X-Arca-Api: 1 */
} request;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
	arca__openssl_load_config();
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- messages ------------------------------------------------------------ */

static int http_fail(const http_backend *h, int code, const char *what,
		const char *detail)
{
	return arca__error(code, "http tier %s: %s: %s", h->shown, what,
			detail);
}

/* The outcome of an HTTP status other than 2xx, with the first line of
 * the server's answer when it has one. */
static int status_fail(const http_backend *h, const request *rq,
		const char *what)
{
	char detail[400], line[200];
	size_t n = 0;
	int code;

	line[0] = '\0';
	if (rq->small.size > 0 && !rq->small_zstd) {
		const char *s = (const char *)rq->small.data;

		while (n < rq->small.size && n + 1 < sizeof(line) &&
		       s[n] != '\n' && s[n] != '\r' && s[n] != '\0') {
			line[n] = s[n] >= 0x20 && s[n] < 0x7f ? s[n] : '?';
			n++;
		}
		line[n] = '\0';
	}
	switch (rq->status) {
	case 404:
		code = ARCA_ENOTFOUND;
		break;
	case 401:
	case 403:
		code = ARCA_EPERM;
		break;
	case 413:
	case 507:
		code = ARCA_ENOTSTORED;
		break;
	default:
		code = ARCA_EIO;
		break;
	}
	if (code == ARCA_EPERM)
		snprintf(detail, sizeof(detail), "HTTP %ld (access refused: "
				"wrong or missing credentials, or no "
				"permission)%s%s", rq->status, n ? ": " : "",
				line);
	else if (code == ARCA_ENOTFOUND)
		snprintf(detail, sizeof(detail), "not found (HTTP 404)");
	else
		snprintf(detail, sizeof(detail), "HTTP %ld%s%s", rq->status,
				n ? ": " : "", line);
	return http_fail(h, code, what, detail);
}

static int curl_fail(const http_backend *h, CURLcode rc, const char *errbuf,
		const char *what)
{
	char detail[CURL_ERROR_SIZE + 64];
	int code;

	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
		code = ARCA_EUNAVAILABLE;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		code = ARCA_ETIMEOUT;
		break;
	case CURLE_OUT_OF_MEMORY:
		code = ARCA_ENOMEM;
		break;
	default:
		code = ARCA_EIO;
		break;
	}
	snprintf(detail, sizeof(detail), "%s", errbuf[0] ? errbuf :
			curl_easy_strerror(rc));
	return http_fail(h, code, what, detail);
}

/* ---- one request ----------------------------------------------------------- */

static void header_value(CURL *c, const char *name, char *out, size_t size)
{
	struct curl_header *hd = NULL;

	out[0] = '\0';
	if (curl_easy_header(c, name, 0, CURLH_HEADER, -1, &hd) == CURLHE_OK &&
	    hd->value != NULL)
		snprintf(out, size, "%s", hd->value);
}

/* Plain bytes of a blob: to the hasher, then the sink. */
static int deliver(request *rq, const void *data, size_t len)
{
	if (rq->hasher != NULL &&
	    arca__hasher_update(rq->hasher, data, len) < 0)
		return ARCA_EIO;
	return rq->sink(rq->sink_ctx, data, len);
}

/* On the first bytes of a 2xx body for the sink: its Content-Encoding
 * (RFC 9110 section 8.4): none, identity or zstd. */
static int decode_start(request *rq)
{
	char enc[32];

	rq->decode_checked = 1;
	header_value(rq->curl, "Content-Encoding", enc, sizeof(enc));
	if (enc[0] == '\0' || strcasecmp(enc, "identity") == 0)
		return 0;
	if (strcasecmp(enc, "zstd") != 0)
		return arca__error(ARCA_ECORRUPT, "http tier: GET %s: "
				"Content-Encoding \"%s\" was not asked for",
				rq->path, enc);
	if ((rq->dctx = ZSTD_createDCtx()) == NULL ||
	    (rq->zbuf = malloc(ZSTD_DStreamOutSize())) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	if (ZSTD_isError(ZSTD_DCtx_setParameter(rq->dctx,
			ZSTD_d_windowLogMax, WINDOW_LOG_MAX)))
		return arca__error(ARCA_EIO, "zstd refused a parameter");
	return 0;
}

/* Decompress len bytes of the frame as they arrive: more than the size
 * the frame declares, bytes after the frame or a damaged frame are
 * ARCA_ECORRUPT. */
static int inflate_body(request *rq, const void *data, size_t len)
{
	ZSTD_inBuffer in = { data, len, 0 };
	size_t cap = ZSTD_DStreamOutSize();
	int error;

	if (!rq->has_declared && rq->plain_got == 0 && len > 0) {
		uint64_t n;

		/* The header's size, when it declares one (RFC 8878
		 * 3.1.1.1.4): the bytes must be exactly that many. */
		if (arca__zstd_content_size(&n, data, len) == 0) {
			rq->plain_declared = n;
			rq->has_declared = 1;
		}
		arca__error_clear();
	}
	for (;;) {
		ZSTD_outBuffer out = { rq->zbuf, cap, 0 };
		size_t rc;

		if (rq->frame_done) {
			if (in.pos < in.size)
				return arca__error(ARCA_ECORRUPT, "http tier: "
						"GET %s: bytes after the zstd "
						"frame", rq->path);
			return 0;
		}
		rc = ZSTD_decompressStream(rq->dctx, &out, &in);
		if (ZSTD_isError(rc))
			return arca__error(ARCA_ECORRUPT, "http tier: GET %s: "
					"zstd: %s", rq->path,
					ZSTD_getErrorName(rc));
		if (rc == 0)
			rq->frame_done = 1;
		if (out.pos > 0) {
			rq->plain_got += out.pos;
			if (rq->has_declared &&
			    rq->plain_got > rq->plain_declared)
				return arca__error(ARCA_ECORRUPT, "http tier: "
						"GET %s: the frame holds more "
						"than the %llu bytes it "
						"declares", rq->path,
						(unsigned long long)
						rq->plain_declared);
			if ((error = deliver(rq, rq->zbuf, out.pos)) < 0)
				return error;
		}
		if (in.pos == in.size && out.pos < out.size)
			return 0;
	}
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	request *rq = ctx;
	size_t len = size * n;

	if (rq->status == 0)
		curl_easy_getinfo(rq->curl, CURLINFO_RESPONSE_CODE,
				&rq->status);
	if (rq->sink != NULL && rq->status >= 200 && rq->status < 300) {
		if (!rq->decode_checked &&
		    (rq->sink_error = decode_start(rq)) < 0)
			return 0;
		if (rq->dctx != NULL)
			rq->sink_error = inflate_body(rq, data, len);
		else
			rq->sink_error = deliver(rq, data, len);
		return rq->sink_error < 0 ? 0 : len;
	}
	if (rq->small.size + len > rq->small_max) {
		rq->sink_error = ARCA_EIO;
		return 0;
	}
	{
		unsigned char *p = realloc(rq->small.data,
				rq->small.size + len + 1);

		if (p == NULL) {
			rq->sink_error = ARCA_ENOMEM;
			return 0;
		}
		memcpy(p + rq->small.size, data, len);
		rq->small.data = p;
		rq->small.size += len;
		p[rq->small.size] = '\0';
	}
	return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ctx)
{
	request *rq = ctx;
	size_t want = size * n;
	uint64_t left = rq->len - rq->pos;
	ssize_t got;

	if (want > left)
		want = (size_t)left;
	if (want == 0)
		return 0;
	if (rq->mem != NULL) {
		memcpy(buf, rq->mem + rq->pos, want);
		got = (ssize_t)want;
	} else {
		do
			got = pread(rq->fd, buf, want,
					(off_t)(rq->fd_base + rq->pos));
		while (got < 0 && errno == EINTR);
		if (got <= 0) {
			rq->up_error = got < 0 ? arca__errno_code(errno) :
				ARCA_EIO;
			return CURL_READFUNC_ABORT;
		}
	}
	if (rq->up_hasher != NULL &&
	    arca__hasher_update(rq->up_hasher, buf, (size_t)got) < 0) {
		rq->up_error = ARCA_EIO;
		return CURL_READFUNC_ABORT;
	}
	rq->pos += (uint64_t)got;
	return (size_t)got;
}

/* curl rewinds an upload it must send again (a reused connection that
 * turned out closed): only to the start, where the hash starts again. */
static int on_seek(void *ctx, curl_off_t offset, int origin)
{
	request *rq = ctx;

	if (origin != SEEK_SET || offset != 0)
		return CURL_SEEKFUNC_CANTSEEK;
	if (rq->up_hasher != NULL && arca__hasher_reset(rq->up_hasher) < 0)
		return CURL_SEEKFUNC_FAIL;
	rq->pos = 0;
	return CURL_SEEKFUNC_OK;
}

static int add_header(struct curl_slist **list, const char *fmt,
		const char *value)
{
	char line[1024];
	struct curl_slist *next;

	snprintf(line, sizeof(line), fmt, value);
	if ((next = curl_slist_append(*list, line)) == NULL)
		return -1;
	*list = next;
	return 0;
}

static int set_auth(http_backend *h, CURL *c)
{
	if (h->token != NULL)
		return curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER) !=
				CURLE_OK ||
			curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, h->token) !=
				CURLE_OK ? -1 : 0;
	if (h->user != NULL)
		return curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC) !=
				CURLE_OK ||
			curl_easy_setopt(c, CURLOPT_USERNAME, h->user) !=
				CURLE_OK ||
			curl_easy_setopt(c, CURLOPT_PASSWORD, h->pass ?
				h->pass : "") != CURLE_OK ? -1 : 0;
	return 0;
}

/*
 * Send rq within deadline. 0 when the server answered (any status:
 * rq->status); a transport failure is an ARCA_E* code with the message
 * set.
 */
static int perform(http_backend *h, request *rq, int64_t deadline,
		const char *what)
{
	char errbuf[CURL_ERROR_SIZE], *url = NULL, api[16], enc[32];
	struct curl_slist *headers = NULL;
	int64_t left = deadline - arca__mono_ms();
	long connect_ms;
	size_t url_len;
	CURLcode rc;
	CURL *c;
	int error = 0;

	rq->status = 0;
	rq->sink_error = 0;
	if (rq->small_max == 0)
		rq->small_max = SMALL_BODY_MAX;
	if (left <= 0)
		return http_fail(h, ARCA_ETIMEOUT, what, "the call's deadline "
				"passed");
	connect_ms = (long)(left < h->connect_timeout_ms ? left :
			h->connect_timeout_ms);
	if (h->curl == NULL && (h->curl = curl_easy_init()) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	c = rq->curl = h->curl;
	curl_easy_reset(c);
	url_len = strlen(h->base) + strlen(rq->path) + 1;
	if ((url = malloc(url_len)) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	snprintf(url, url_len, "%s%s", h->base, rq->path);
	/* Asked for on GETs only: a HEAD's Content-Length is then the
	 * blob's own size. */
	if ((strcmp(rq->method, "GET") == 0 && add_header(&headers,
			"Accept-Encoding: %s", "zstd") < 0) ||
	    (rq->content_type != NULL && add_header(&headers,
			"Content-Type: %s", rq->content_type) < 0) ||
	    (rq->content_encoding != NULL && add_header(&headers,
			"Content-Encoding: %s", rq->content_encoding) < 0)) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	errbuf[0] = '\0';
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") !=
			CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, "arca/" "0.1") != CURLE_OK ||
	    set_auth(h, c) < 0 ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) !=
			CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)left) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, rq) != CURLE_OK) {
		error = http_fail(h, ARCA_EIO, what, "libcurl refused an "
				"option");
		goto cleanup;
	}
	if (strcmp(rq->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(rq->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, rq);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, rq);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
				(curl_off_t)rq->len);
		rq->pos = 0;
		rq->up_error = 0;
	} else if (strcmp(rq->method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->post ? rq->post : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				(curl_off_t)rq->post_len);
	} else if (strcmp(rq->method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
	}
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rq->status);
	if (rc != CURLE_OK) {
		if (rq->up_error < 0)
			error = http_fail(h, rq->up_error, what, "reading the "
					"bytes to upload failed");
		else if ((rc == CURLE_WRITE_ERROR ||
			  rc == CURLE_ABORTED_BY_CALLBACK) && rq->sink_error < 0)
			error = rq->sink_error == ARCA_EIO && rq->sink == NULL ?
				http_fail(h, ARCA_EIO, what, "answer too "
						"large") : rq->sink_error;
		else
			error = curl_fail(h, rc, errbuf, what);
		goto cleanup;
	}
	header_value(c, "X-Arca-Api", api, sizeof(api));
	rq->api_v1 = strcmp(api, "1") == 0;
	header_value(c, "Content-Encoding", enc, sizeof(enc));
	rq->small_zstd = rq->sink == NULL && strcasecmp(enc, "zstd") == 0;
	{
		curl_off_t n = -1;

		if (curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
				&n) == CURLE_OK && n >= 0) {
			rq->content_length = (uint64_t)n;
			rq->has_length = 1;
		}
	}
	/* A small answer in zstd (an action entry, say): decoded here,
	 * within the same bound. */
	if (rq->small_zstd && rq->status >= 200 && rq->status < 300 &&
	    rq->small.size > 0) {
		arca_buf plain = ARCA_BUF_INIT;

		if ((error = arca__zstd_decompress(&plain, rq->small.data,
				rq->small.size, rq->small_max)) < 0) {
			error = http_fail(h, ARCA_ECORRUPT, what, arca_errmsg());
			goto cleanup;
		}
		arca_buf_free(&rq->small);
		rq->small = plain;
		rq->small_zstd = 0;
	}
cleanup:
	curl_slist_free_all(headers);
	free(url);
	return error;
}

/* perform, where only a 2xx status is success (status_fail for another). */
static int perform_2xx(http_backend *h, request *rq, int64_t deadline,
		const char *what)
{
	int error;

	if ((error = perform(h, rq, deadline, what)) == 0 &&
	    (rq->status < 200 || rq->status >= 300))
		error = status_fail(h, rq, what);
	return error;
}

static void request_init(request *rq, const char *method, const char *path)
{
	memset(rq, 0, sizeof(*rq));
	rq->method = method;
	rq->path = path;
	rq->fd = -1;
}

static void request_done(request *rq)
{
	ZSTD_freeDCtx(rq->dctx);
	free(rq->zbuf);
	arca_buf_free(&rq->small);
}

/* ---- the protocol --------------------------------------------------------- */

/*
 * The first request of the backend: HEAD of the empty blob on /v1. An
 * answer with X-Arca-Api: 1 is arca serve (/v1 from now on), any other
 * answer but 401/403 a bazel-remote server; refused credentials are
 * ARCA_EPERM. A server that did not answer, or answered 5xx, leaves the
 * probe to the next call.
 */
static int probe(http_backend *h, int64_t deadline)
{
	request rq;
	int error;

	request_init(&rq, "HEAD", "/v1/blobs/" EMPTY_SHA256);
	if ((error = perform(h, &rq, deadline, "first request")) == 0) {
		if (rq.status == 401 || rq.status == 403 || rq.status >= 500)
			error = status_fail(h, &rq, "first request");
		else
			h->mode = rq.api_v1 ? MODE_V1 : MODE_BAZEL;
	}
	request_done(&rq);
	return error;
}

static int64_t call_deadline(const http_backend *h)
{
	int64_t d = arca__mono_ms() + (int64_t)h->timeout_ms;

	if (h->parent.deadline_ms > 0 && h->parent.deadline_ms < d)
		d = h->parent.deadline_ms;
	return d;
}

/* The start of every method: the call's deadline, the probe if owed. */
static int begin(http_backend *h, int64_t *deadline)
{
	int error;

	*deadline = call_deadline(h);
	if (!h->probe_pending)
		return 0;
	if ((error = probe(h, *deadline)) < 0)
		return error;
	h->probe_pending = 0;
	return 0;
}

static void blob_path(char *path, const http_backend *h, const arca_digest *d)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	arca_digest_to_hex(hex, d);
	snprintf(path, PATH_LEN, "%s%s", h->mode == MODE_V1 ? "/v1/blobs/" :
			"/cas/", hex);
}

static void action_path(char *path, const http_backend *h,
		const arca_digest *key)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	arca_digest_to_hex(hex, key);
	snprintf(path, PATH_LEN, "%s%s", h->mode == MODE_V1 ?
			"/v1/actions/" : "/ac/", hex);
}

/* ---- blobs ------------------------------------------------------------- */

static int get_blob(http_backend *h, const arca_digest *digest,
		arca_sink_fn sink, void *ctx, int64_t deadline)
{
	char path[PATH_LEN], what[PATH_LEN + 8];
	arca__hasher *hs = NULL;
	arca_digest actual;
	request rq;
	int error;

	blob_path(path, h, digest);
	snprintf(what, sizeof(what), "GET %s", path);
	request_init(&rq, "GET", path);
	if ((error = arca__hasher_new(&hs)) < 0)
		return error;
	rq.sink = sink;
	rq.sink_ctx = ctx;
	rq.hasher = hs;
	if ((error = perform_2xx(h, &rq, deadline, what)) < 0)
		goto cleanup;
	if (rq.dctx != NULL && (!rq.frame_done || (rq.has_declared &&
			rq.plain_got != rq.plain_declared))) {
		error = http_fail(h, ARCA_ECORRUPT, what, "the zstd frame is "
				"truncated or shorter than it declares");
		goto cleanup;
	}
	if ((error = arca__hasher_final(hs, &actual)) < 0)
		goto cleanup;
	if (!arca_digest_equal(&actual, digest))
		error = http_fail(h, ARCA_ECORRUPT, what, "the bytes do not "
				"match the digest");
cleanup:
	arca__hasher_free(hs);
	request_done(&rq);
	return error;
}

static int http_blob_get(arca_backend *b, const arca_digest *digest,
		arca_sink_fn sink, void *ctx)
{
	http_backend *h = (http_backend *)b;
	int64_t deadline;
	int error;

	if ((error = begin(h, &deadline)) < 0)
		return error;
	return get_blob(h, digest, sink, ctx, deadline);
}

static int head_blob(http_backend *h, const arca_digest *digest,
		uint64_t *size_out, int64_t deadline)
{
	char path[PATH_LEN], what[PATH_LEN + 8];
	request rq;
	int error;

	blob_path(path, h, digest);
	snprintf(what, sizeof(what), "HEAD %s", path);
	request_init(&rq, "HEAD", path);
	if ((error = perform_2xx(h, &rq, deadline, what)) == 0 &&
	    size_out != NULL)
		*size_out = rq.has_length ? rq.content_length : 0;
	request_done(&rq);
	return error;
}

static int http_blob_stat(arca_backend *b, const arca_digest *digest,
		uint64_t *size_out)
{
	http_backend *h = (http_backend *)b;
	int64_t deadline;
	int error;

	if ((error = begin(h, &deadline)) < 0)
		return error;
	return head_blob(h, digest, size_out, deadline);
}

/* Where a blob's bytes come from: memory, or fd from base. */
typedef struct source {
	const unsigned char *mem;
	int fd;
	uint64_t base, len;
} source;

/* n bytes of src at off into buf; a short read is the blob shrinking. */
static int read_at(const source *src, uint64_t off, void *buf, size_t n)
{
	size_t done = 0;

	if (src->mem != NULL) {
		memcpy(buf, src->mem + off, n);
		return 0;
	}
	while (done < n) {
		ssize_t got = pread(src->fd, (char *)buf + done, n - done,
				(off_t)(src->base + off + done));

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? arca__error_errno(errno, "cannot read",
					"the blob to upload") : arca__error(
					ARCA_EIO, "the blob to upload shrank");
		done += (size_t)got;
	}
	return 0;
}

/* An unlinked temp file in $TMPDIR (default /tmp). */
static int temp_file(int *out)
{
	const char *dir = getenv("TMPDIR");
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/arca-http-XXXXXX",
			dir && *dir ? dir : "/tmp");
	if ((*out = mkstemp(path)) < 0)
		return arca__error_errno(errno, "cannot create", path);
	unlink(path);
	return 0;
}

/*
 * The blob as one zstd frame in an unlinked temp file (*tmp_out, its
 * length *clen), compressed with zstd's streaming API
 * (ZSTD_compressStream2) so memory stays bounded; the plain bytes are
 * hashed again on the way, so that a blob that changed since its digest
 * was taken is not sent under it. 1 when zstd does not shrink the blob's
 * first MiB by 1/32 or more, or the frame is not smaller than the blob
 * (the caller sends it as it is).
 */
static int compress_blob(int *tmp_out, uint64_t *clen, const source *src,
		const arca_digest *d)
{
	ZSTD_CCtx *cctx = NULL;
	arca__hasher *hs = NULL;
	arca_buf sample = ARCA_BUF_INIT;
	unsigned char *in = NULL, *outb = NULL;
	uint64_t read = 0, off = 0;
	size_t n = src->len < SAMPLE_MAX ? (size_t)src->len : SAMPLE_MAX;
	arca_digest got;
	int tmp = -1, error = 0, done = 0;

	*tmp_out = -1;
	if (n == 0)
		return 1;
	if ((in = malloc(n > IO_CHUNK ? n : IO_CHUNK)) == NULL ||
	    (outb = malloc(IO_CHUNK)) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((error = read_at(src, 0, in, n)) < 0 ||
	    (error = arca__zstd_compress(&sample, in, n,
			ARCA__ZSTD_LEVEL)) < 0)
		goto cleanup;
	if (sample.size >= n - n / 32) {
		error = 1;
		goto cleanup;
	}
	if ((cctx = ZSTD_createCCtx()) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel,
			ARCA__ZSTD_LEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(cctx, src->len))) {
		error = arca__error(ARCA_EIO, "zstd refused a parameter");
		goto cleanup;
	}
	if ((error = arca__hasher_new(&hs)) < 0 ||
	    (error = temp_file(&tmp)) < 0)
		goto cleanup;
	while (!done) {
		size_t chunk = src->len - read < IO_CHUNK ?
			(size_t)(src->len - read) : IO_CHUNK;
		ZSTD_EndDirective mode;
		ZSTD_inBuffer zin = { in, chunk, 0 };

		if ((error = read_at(src, read, in, chunk)) < 0 ||
		    (error = arca__hasher_update(hs, in, chunk)) < 0)
			goto cleanup;
		read += chunk;
		mode = read == src->len ? ZSTD_e_end : ZSTD_e_continue;
		for (;;) {
			ZSTD_outBuffer zout = { outb, IO_CHUNK, 0 };
			size_t rc = ZSTD_compressStream2(cctx, &zout, &zin,
					mode);

			if (ZSTD_isError(rc)) {
				error = arca__error(ARCA_EIO, "zstd: %s",
						ZSTD_getErrorName(rc));
				goto cleanup;
			}
			if (zout.pos > 0 && (error = arca__write_all(tmp, outb,
					zout.pos, "the compressed blob")) < 0)
				goto cleanup;
			off += zout.pos;
			if (mode == ZSTD_e_end ? rc == 0 : zin.pos == zin.size)
				break;
		}
		done = mode == ZSTD_e_end;
	}
	if ((error = arca__hasher_final(hs, &got)) < 0)
		goto cleanup;
	if (!arca_digest_equal(&got, d)) {
		error = arca__error(ARCA_EIO, "the blob to upload changed "
				"while it was compressed");
		goto cleanup;
	}
	if (off >= src->len) {
		error = 1;
		goto cleanup;
	}
	*clen = off;
	*tmp_out = tmp;
	tmp = -1;
cleanup:
	if (tmp >= 0)
		close(tmp);
	ZSTD_freeCCtx(cctx);
	arca__hasher_free(hs);
	arca_buf_free(&sample);
	free(in);
	free(outb);
	return error;
}

/* PUT the blob d (len bytes of src), streamed from it and hashed again
 * as it is sent (or its zstd frame, see compress_blob). */
static int put_blob(http_backend *h, const arca_digest *d, const source *src,
		int64_t deadline)
{
	char path[PATH_LEN], what[PATH_LEN + 8];
	arca__hasher *hs = NULL;
	arca_digest sent;
	uint64_t clen = 0;
	request rq;
	int tmp = -1, error = 1;

	blob_path(path, h, d);
	snprintf(what, sizeof(what), "PUT %s", path);
	request_init(&rq, "PUT", path);
	rq.content_type = "application/octet-stream";
	if (h->mode == MODE_V1 && h->compress &&
	    (error = compress_blob(&tmp, &clen, src, d)) < 0)
		goto cleanup;
	if (error == 0) {
		/* The frame was made from bytes hashed on the way. */
		rq.fd = tmp;
		rq.len = clen;
		rq.content_encoding = "zstd";
	} else {
		if ((error = arca__hasher_new(&hs)) < 0)
			goto cleanup;
		rq.mem = src->mem;
		rq.fd = src->fd;
		rq.fd_base = src->base;
		rq.len = src->len;
		rq.up_hasher = hs;
	}
	if ((error = perform_2xx(h, &rq, deadline, what)) < 0)
		goto cleanup;
	if (hs != NULL) {
		if ((error = arca__hasher_final(hs, &sent)) < 0)
			goto cleanup;
		/* The server refuses such a body too (400, nothing
		 * stored); this says why. */
		if (!arca_digest_equal(&sent, d))
			error = http_fail(h, ARCA_EIO, what, "the blob "
					"changed while it was sent");
	}
cleanup:
	if (tmp >= 0)
		close(tmp);
	arca__hasher_free(hs);
	request_done(&rq);
	return error;
}

static int http_blob_put(arca_backend *b, arca_digest *out, const void *data,
		size_t len)
{
	http_backend *h = (http_backend *)b;
	source src = { len ? data : (const void *)"", -1, 0, len };
	int64_t deadline;
	arca_digest d;
	int error;

	if ((error = arca_digest_buffer(&d, len ? data : "", len)) < 0 ||
	    (error = begin(h, &deadline)) < 0 ||
	    (error = put_blob(h, &d, &src, deadline)) < 0)
		return error;
	if (out != NULL)
		*out = d;
	return 0;
}

/* An unlinked temp file holding what is left to read from fd (a pipe). */
static int spool(int *tmp_out, int fd)
{
	char *buf = NULL;
	int tmp = -1, error;

	*tmp_out = -1;
	if ((error = temp_file(&tmp)) < 0)
		return error;
	if ((buf = malloc(IO_CHUNK)) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (;;) {
		ssize_t got = read(fd, buf, IO_CHUNK);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			error = arca__error_errno(errno, "cannot read",
					"the blob to upload");
			goto cleanup;
		}
		if (got == 0)
			break;
		if ((error = arca__write_all(tmp, buf, (size_t)got,
				"the spooled blob")) < 0)
			goto cleanup;
	}
	*tmp_out = tmp;
	tmp = -1;
cleanup:
	if (tmp >= 0)
		close(tmp);
	free(buf);
	return error;
}

/* The digest of src, read in IO_CHUNK pieces. */
static int hash_source(arca_digest *d, const source *src)
{
	arca__hasher *hs = NULL;
	unsigned char *buf = NULL;
	uint64_t off = 0;
	int error;

	if ((error = arca__hasher_new(&hs)) < 0)
		return error;
	if ((buf = malloc(IO_CHUNK)) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	while (off < src->len) {
		size_t n = src->len - off < IO_CHUNK ?
			(size_t)(src->len - off) : IO_CHUNK;

		if ((error = read_at(src, off, buf, n)) < 0 ||
		    (error = arca__hasher_update(hs, buf, n)) < 0)
			goto cleanup;
		off += n;
	}
	error = arca__hasher_final(hs, d);
cleanup:
	free(buf);
	arca__hasher_free(hs);
	return error;
}

static int http_blob_put_fd(arca_backend *b, arca_digest *out,
		uint64_t *size_out, int fd)
{
	http_backend *h = (http_backend *)b;
	source src = { NULL, fd, 0, 0 };
	int64_t deadline;
	struct stat st;
	arca_digest d;
	off_t pos;
	int tmp = -1, error;

	pos = lseek(fd, 0, SEEK_CUR);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || pos < 0) {
		if ((error = spool(&tmp, fd)) < 0)
			return error;
		src.fd = tmp;
		if (fstat(tmp, &st) != 0) {
			error = arca__error_errno(errno, "cannot stat",
					"the spooled blob");
			goto cleanup;
		}
		pos = 0;
	}
	src.base = (uint64_t)pos;
	src.len = st.st_size > pos ? (uint64_t)(st.st_size - pos) : 0;
	/* First pass: the digest names the blob in the URL. */
	if ((error = hash_source(&d, &src)) < 0 ||
	    (error = begin(h, &deadline)) < 0 ||
	    (error = put_blob(h, &d, &src, deadline)) < 0)
		goto cleanup;
	/* "Everything readable from fd": leave it at its end. */
	if (tmp < 0)
		(void)lseek(fd, (off_t)(src.base + src.len), SEEK_SET);
	if (out != NULL)
		*out = d;
	if (size_out != NULL)
		*size_out = src.len;
cleanup:
	if (tmp >= 0)
		close(tmp);
	return error;
}

/* POST /v1/blobs:missing for n <= MISSING_BATCH digests. */
static int missing_batch(http_backend *h, unsigned char *missing_out,
		const arca_digest *digests, size_t n, int64_t deadline)
{
	const char *what = "POST /v1/blobs:missing";
	json_t *body = NULL, *arr = NULL, *reply = NULL, *miss;
	char hex[ARCA_DIGEST_HEXLEN + 1], *text = NULL;
	json_error_t jerr;
	request rq;
	size_t i, j;
	int error = 0;

	request_init(&rq, "POST", "/v1/blobs:missing");
	if ((arr = json_array()) == NULL ||
	    (body = json_pack("{s:o}", "digests", arr)) == NULL) {
		json_decref(arr);
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		arca_digest_to_hex(hex, &digests[i]);
		if (json_array_append_new(arr, json_string(hex)) < 0) {
			error = arca__error(ARCA_ENOMEM, "out of memory");
			goto cleanup;
		}
		missing_out[i] = 0;
	}
	if ((text = json_dumps(body, JSON_COMPACT)) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	rq.content_type = "application/json";
	rq.post = text;
	rq.post_len = strlen(text);
	rq.small_max = n * (ARCA_DIGEST_HEXLEN + 4) + 4096;
	if ((error = perform_2xx(h, &rq, deadline, what)) < 0)
		goto cleanup;
	reply = json_loadb(rq.small.data ? (const char *)rq.small.data : "",
			rq.small.size, 0, &jerr);
	if (reply == NULL || !json_is_array(miss = json_object_get(reply,
			"missing"))) {
		error = http_fail(h, ARCA_EIO, what, "the answer is not "
				"{\"missing\": [...]}");
		goto cleanup;
	}
	/* In the request's order: one pass over both lists. */
	for (i = 0, j = 0; i < json_array_size(miss); i++) {
		const char *s = json_string_value(json_array_get(miss, i));
		arca_digest d;

		if (s == NULL || arca_digest_from_hex(&d, s) < 0) {
			error = http_fail(h, ARCA_EIO, what, "a digest in the "
					"answer is not 64 hex characters");
			goto cleanup;
		}
		while (j < n && !arca_digest_equal(&digests[j], &d))
			j++;
		if (j == n) {
			error = http_fail(h, ARCA_EIO, what, "the answer names "
					"a digest not asked about, or out of "
					"order");
			goto cleanup;
		}
		missing_out[j++] = 1;
	}
cleanup:
	json_decref(reply);
	json_decref(body);
	free(text);
	request_done(&rq);
	return error;
}

static int http_find_missing(arca_backend *b, unsigned char *missing_out,
		const arca_digest *digests, size_t n)
{
	http_backend *h = (http_backend *)b;
	int64_t deadline;
	size_t i;
	int error;

	if ((error = begin(h, &deadline)) < 0)
		return error;
	if (h->mode == MODE_V1) {
		for (i = 0; i < n; i += MISSING_BATCH)
			if ((error = missing_batch(h, missing_out + i,
					digests + i, n - i < MISSING_BATCH ?
					n - i : MISSING_BATCH, deadline)) < 0)
				return error;
		return 0;
	}
	/* bazel-remote has no batch: one HEAD each on the kept
	 * connection. */
	for (i = 0; i < n; i++) {
		error = head_blob(h, &digests[i], NULL, deadline);
		if (error == ARCA_ENOTFOUND)
			missing_out[i] = 1;
		else if (error == 0)
			missing_out[i] = 0;
		else
			return error;
	}
	arca__error_clear();
	return 0;
}

/* ---- the action cache ------------------------------------------------------ */

/* A sink into a buffer of at most AC_ENTRY_MAX bytes. */
typedef struct buf_sink {
	arca_buf *buf;
	size_t cap;
} buf_sink;

static int to_buf(void *ctx, const void *data, size_t len)
{
	buf_sink *bs = ctx;
	arca_buf *b = bs->buf;

	if (b->size + len > AC_ENTRY_MAX)
		return arca__error(ARCA_EIO, "http tier: a manifest over %zu "
				"bytes", AC_ENTRY_MAX);
	if (b->size + len + 1 > bs->cap) {
		size_t want = (b->size + len + 1) * 2;
		unsigned char *p = realloc(b->data, want);

		if (p == NULL)
			return arca__error(ARCA_ENOMEM, "out of memory");
		b->data = p;
		bs->cap = want;
	}
	memcpy(b->data + b->size, data, len);
	b->size += len;
	b->data[b->size] = '\0';
	return 0;
}

/* The blob d whole into out (a manifest), verified. */
static int get_blob_buf(http_backend *h, arca_buf *out, const arca_digest *d,
		int64_t deadline)
{
	buf_sink bs = { out, 0 };
	int error;

	out->data = NULL;
	out->size = 0;
	if ((error = get_blob(h, d, to_buf, &bs, deadline)) == 0 &&
	    out->data == NULL && (out->data = calloc(1, 1)) == NULL)
		error = arca__error(ARCA_ENOMEM, "out of memory");
	if (error < 0)
		arca_buf_free(out);
	return error;
}

/*
 * GET the entry of key: into *json (with /v1 always, with bazel-remote
 * when the manifest travels with the entry; else json is left empty)
 * and its manifest's digest.
 */
static int get_entry(http_backend *h, arca_digest *manifest_out,
		arca_buf *json, const arca_digest *key, int64_t deadline)
{
	char path[PATH_LEN], what[PATH_LEN + 8], hex[ARCA_DIGEST_HEXLEN + 1];
	const char *data;
	request rq;
	size_t n;
	int error;

	json->data = NULL;
	json->size = 0;
	action_path(path, h, key);
	snprintf(what, sizeof(what), "GET %s", path);
	request_init(&rq, "GET", path);
	rq.small_max = AC_ENTRY_MAX;
	if ((error = perform_2xx(h, &rq, deadline, what)) < 0)
		goto cleanup;
	data = rq.small.data ? (const char *)rq.small.data : "";
	if (h->mode == MODE_V1) {
		/* The manifest JSON: its SHA-256 names it. */
		if ((error = arca_digest_buffer(manifest_out, data,
				rq.small.size)) < 0)
			goto cleanup;
		if (rq.small.data == NULL &&
		    (rq.small.data = calloc(1, 1)) == NULL) {
			error = arca__error(ARCA_ENOMEM, "out of memory");
			goto cleanup;
		}
		*json = rq.small;
		rq.small.data = NULL;
		rq.small.size = 0;
		goto cleanup;
	}
	/* "<hex manifest digest>\n[manifest bytes]" (ac_entry.h). */
	if (rq.small.size < ARCA_DIGEST_HEXLEN + 1 ||
	    data[ARCA_DIGEST_HEXLEN] != '\n') {
		error = http_fail(h, ARCA_EIO, what, "not an action entry");
		goto cleanup;
	}
	memcpy(hex, data, ARCA_DIGEST_HEXLEN);
	hex[ARCA_DIGEST_HEXLEN] = '\0';
	if (arca_digest_from_hex(manifest_out, hex) < 0) {
		error = http_fail(h, ARCA_EIO, what, "not an action entry");
		goto cleanup;
	}
	n = rq.small.size - ARCA_DIGEST_HEXLEN - 1;
	if (n > 0) {
		memmove(rq.small.data, rq.small.data + ARCA_DIGEST_HEXLEN + 1,
				n);
		rq.small.data[n] = '\0';
		*json = rq.small;
		json->size = n;
		rq.small.data = NULL;
		rq.small.size = 0;
	}
cleanup:
	request_done(&rq);
	return error;
}

static int http_ac_get(arca_backend *b, const arca_digest *key,
		arca_digest *manifest_out)
{
	http_backend *h = (http_backend *)b;
	arca_buf json = ARCA_BUF_INIT;
	int64_t deadline;
	int error;

	if ((error = begin(h, &deadline)) < 0)
		return error;
	error = get_entry(h, manifest_out, &json, key, deadline);
	arca_buf_free(&json);
	return error;
}

static int http_ac_get_manifest(arca_backend *b, arca_digest *manifest_out,
		arca_buf *json_out, const arca_digest *key)
{
	http_backend *h = (http_backend *)b;
	int64_t deadline;
	int error;

	json_out->data = NULL;
	json_out->size = 0;
	if ((error = begin(h, &deadline)) < 0 ||
	    (error = get_entry(h, manifest_out, json_out, key,
			deadline)) < 0)
		return error;
	if (json_out->data != NULL)
		return 0;
	/* An entry naming the manifest blob only: the blob. */
	return get_blob_buf(h, json_out, manifest_out, deadline);
}

static int http_ac_put2(arca_backend *b, const arca_digest *key,
		const arca_digest *manifest, const arca_manifest *m,
		const arca_put_options *opts)
{
	http_backend *h = (http_backend *)b;
	char path[PATH_LEN], what[PATH_LEN + 8];
	arca_buf json = ARCA_BUF_INIT;
	char *value = NULL;
	size_t value_len = 0;
	int64_t deadline;
	request rq;
	int error;

	/* TTLs and tags are tier 0's (http.h). */
	(void)opts;
	request_init(&rq, "PUT", "");
	if ((error = begin(h, &deadline)) < 0)
		goto cleanup;
	action_path(path, h, key);
	snprintf(what, sizeof(what), "PUT %s", path);
	rq.path = path;
	if (h->mode == MODE_V1) {
		/* The manifest JSON itself; from the server's copy of the
		 * blob when m does not serialise to exactly those bytes. */
		if (!arca__ac_entry_json(&json, manifest, m) &&
		    (error = get_blob_buf(h, &json, manifest, deadline)) < 0)
			goto cleanup;
		rq.mem = json.data ? json.data : (const unsigned char *)"";
		rq.len = json.size;
		rq.content_type = "application/json";
	} else {
		(void)arca__ac_entry_json(&json, manifest, m);
		if ((error = arca__ac_entry_value(&value, &value_len, manifest,
				json.data, json.size)) < 0)
			goto cleanup;
		rq.mem = (const unsigned char *)value;
		rq.len = value_len;
		rq.content_type = "application/octet-stream";
	}
	if ((error = perform(h, &rq, deadline, what)) < 0)
		goto cleanup;
	if (rq.status == 409)
		error = http_fail(h, ARCA_EIO, what, "HTTP 409: the server "
				"lacks a blob the manifest names");
	else if (rq.status < 200 || rq.status >= 300)
		error = status_fail(h, &rq, what);
cleanup:
	free(value);
	arca_buf_free(&json);
	request_done(&rq);
	return error;
}

static int http_ac_put(arca_backend *b, const arca_digest *key,
		const arca_digest *manifest, const arca_manifest *m)
{
	return http_ac_put2(b, key, manifest, m, NULL);
}

static int http_ac_remove(arca_backend *b, const arca_digest *key)
{
	http_backend *h = (http_backend *)b;
	char path[PATH_LEN], what[PATH_LEN + 8], hex[ARCA_DIGEST_HEXLEN + 1];
	int64_t deadline;
	request rq;
	int error;

	if ((error = begin(h, &deadline)) < 0)
		return error;
	if (h->mode == MODE_V1) {
		/* The whole key as the prefix: that entry alone. */
		arca_digest_to_hex(hex, key);
		snprintf(path, sizeof(path), "/v1/actions?prefix=%s", hex);
	} else {
		action_path(path, h, key);
	}
	snprintf(what, sizeof(what), "DELETE %s", path);
	request_init(&rq, "DELETE", path);
	if ((error = perform_2xx(h, &rq, deadline, what)) == 0 &&
	    h->mode == MODE_V1) {
		json_t *o = json_loadb(rq.small.data ?
				(const char *)rq.small.data : "",
				rq.small.size, 0, NULL);
		json_t *removed = json_object_get(o, "removed");

		if (!json_is_integer(removed))
			error = http_fail(h, ARCA_EIO, what, "the answer has "
					"no \"removed\"");
		else if (json_integer_value(removed) == 0)
			error = http_fail(h, ARCA_ENOTFOUND, what, "no such "
					"entry");
		json_decref(o);
	}
	request_done(&rq);
	return error;
}

static void free_secret(char *p)
{
	if (p != NULL) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
}

static void http_free(arca_backend *b)
{
	http_backend *h = (http_backend *)b;

	if (h == NULL)
		return;
	if (h->curl != NULL) {
		/* The handle keeps a copy of the credentials. */
		curl_easy_reset(h->curl);
		curl_easy_cleanup(h->curl);
	}
	free(h->base);
	free_secret(h->user);
	free_secret(h->pass);
	free_secret(h->token);
	free(h);
}

/* ---- the URL ------------------------------------------------------------- */

static int url_invalid(const http_backend *h, const char *why)
{
	return arca__error(ARCA_EINVAL, "http tier URL \"%s\": %s", h->shown,
			why);
}

/* Segments of A-Z a-z 0-9 . _ - between single slashes (sent as they
 * are, no encoding needed). */
static int instance_ok(const char *p)
{
	size_t seg = 0;

	for (; *p; p++) {
		char c = *p;

		if (c == '/') {
			if (seg == 0)
				return 0;
			seg = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
		seg++;
	}
	return 1;
}

static int query_param(void *ctx, const char *p, size_t name_len,
		const char *value, size_t value_len)
{
	http_backend *h = ctx;
	char why[160];

	if (name_len == 8 && strncmp(p, "compress", 8) == 0) {
		if (value_len == 1 && (value[0] == '0' || value[0] == '1')) {
			h->compress = value[0] == '1';
			return 0;
		}
		return url_invalid(h, "compress must be 0 or 1");
	}
	snprintf(why, sizeof(why), "unknown query parameter \"%.*s\" "
			"(known: compress)", (int)name_len, p);
	return url_invalid(h, why);
}

static int parse_url(http_backend *h, const char *url)
{
	CURLU *u = NULL;
	CURLUcode rc;
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL,
	     *query = NULL, *fragment = NULL, *user = NULL, *pass = NULL;
	char why[200];
	const char *inst;
	size_t n, len;
	int error = 0;

	if ((u = curl_url()) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	rc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (rc != CURLUE_OK) {
		snprintf(why, sizeof(why), "%s (expected http[s]://[:TOKEN@]"
				"HOST[:PORT][/INSTANCE])",
				curl_url_strerror(rc));
		error = url_invalid(h, why);
		goto cleanup;
	}
	curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	curl_url_get(u, CURLUPART_HOST, &host, 0);
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0);
	curl_url_get(u, CURLUPART_USER, &user, CURLU_URLDECODE);
	curl_url_get(u, CURLUPART_PASSWORD, &pass, CURLU_URLDECODE);
	if (scheme == NULL || (strcmp(scheme, "http") != 0 &&
			strcmp(scheme, "https") != 0)) {
		error = url_invalid(h, "not an http:// or https:// URL");
		goto cleanup;
	}
	if (host == NULL || host[0] == '\0') {
		error = url_invalid(h, "no host");
		goto cleanup;
	}
	if (fragment != NULL) {
		error = url_invalid(h, "a fragment is not allowed");
		goto cleanup;
	}
	inst = path ? path : "";
	while (*inst == '/')
		inst++;
	n = strlen(inst);
	while (n > 0 && inst[n - 1] == '/')
		n--;
	if (n > INSTANCE_MAX) {
		error = url_invalid(h, "the instance is over 512 characters");
		goto cleanup;
	}
	{
		char instance[INSTANCE_MAX + 1];

		memcpy(instance, inst, n);
		instance[n] = '\0';
		if (!instance_ok(instance)) {
			error = url_invalid(h, "the instance may only hold "
					"A-Z a-z 0-9 . _ - between single "
					"slashes");
			goto cleanup;
		}
		len = strlen(scheme) + 3 + strlen(host) + 1 +
			(port ? strlen(port) : 0) + 1 + n + 1;
		if ((h->base = malloc(len)) == NULL) {
			error = arca__error(ARCA_ENOMEM, "out of memory");
			goto cleanup;
		}
		snprintf(h->base, len, "%s://%s%s%s%s%s", scheme, host,
				port ? ":" : "", port ? port : "", n ? "/" : "",
				instance);
	}
	if (query != NULL && (error = arca__url_query_each(query, "http",
			h->shown, query_param, h)) < 0)
		goto cleanup;
	/* :TOKEN@ is a bearer token, USER:PASS@ Basic credentials. */
	if ((user == NULL || user[0] == '\0') && pass != NULL &&
	    pass[0] != '\0') {
		if ((h->token = arca__strdup(pass)) == NULL)
			error = arca__error(ARCA_ENOMEM, "out of memory");
	} else if (user != NULL && user[0] != '\0') {
		if ((h->user = arca__strdup(user)) == NULL ||
		    (h->pass = arca__strdup(pass ? pass : "")) == NULL)
			error = arca__error(ARCA_ENOMEM, "out of memory");
	}
	if (error == 0 && ((h->token && strpbrk(h->token, "\r\n")) ||
			(h->user && strpbrk(h->user, "\r\n:")) ||
			(h->pass && strpbrk(h->pass, "\r\n"))))
		error = url_invalid(h, "a credential holds a line break (or "
				"the user a ':')");
cleanup:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_free(fragment);
	if (user != NULL) {
		explicit_bzero(user, strlen(user));
		curl_free(user);
	}
	if (pass != NULL) {
		explicit_bzero(pass, strlen(pass));
		curl_free(pass);
	}
	curl_url_cleanup(u);
	return error;
}

/* ---- opening ------------------------------------------------------------ */

int arca_backend_http_open(arca_backend **out, const char *url,
		const arca_http_options *opts)
{
	arca_http_options defaults = ARCA_HTTP_OPTIONS_INIT;
	http_backend *h = NULL;
	int error;

	if (out == NULL || url == NULL)
		return arca__error(ARCA_EINVAL, "http tier: no URL");
	*out = NULL;
	if (opts == NULL)
		opts = &defaults;
	if (opts->version != ARCA_HTTP_OPTIONS_VERSION)
		return arca__error(ARCA_EINVAL, "arca_http_options version %u "
				"is not supported (expected %u)",
				opts->version, ARCA_HTTP_OPTIONS_VERSION);
	if (pthread_once(&curl_once, curl_init_once) != 0 ||
	    curl_init_result != CURLE_OK)
		return arca__error(ARCA_EIO, "libcurl initialisation failed");
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	arca__url_redact(h->shown, sizeof(h->shown), url);
	h->parent.version = ARCA_BACKEND_VERSION;
	h->parent.name = "http";
	h->parent.blob_get = http_blob_get;
	h->parent.blob_stat = http_blob_stat;
	h->parent.blob_put = http_blob_put;
	h->parent.blob_put_fd = http_blob_put_fd;
	h->parent.ac_get = http_ac_get;
	h->parent.ac_put = http_ac_put;
	h->parent.ac_remove = http_ac_remove;
	h->parent.free = http_free;
	h->parent.deadline_ms = 0;
	h->parent.find_missing = http_find_missing;
	h->parent.ac_get_manifest = http_ac_get_manifest;
	h->parent.ac_put2 = http_ac_put2;
	h->connect_timeout_ms = opts->connect_timeout_ms ?
		opts->connect_timeout_ms : ARCA_HTTP_CONNECT_TIMEOUT_DEFAULT;
	h->timeout_ms = opts->timeout_ms ? opts->timeout_ms :
		ARCA_HTTP_TIMEOUT_DEFAULT;
	h->compress = opts->compress != 0;
	h->mode = MODE_UNKNOWN;
	h->probe_pending = 1;
	if ((error = parse_url(h, url)) < 0)
		goto cleanup;
	if (!opts->lazy_connect) {
		int64_t deadline;

		if ((error = begin(h, &deadline)) < 0)
			goto cleanup;
	}
	*out = &h->parent;
	h = NULL;
	error = 0;
cleanup:
	if (h != NULL)
		http_free(&h->parent);
	return error;
}
