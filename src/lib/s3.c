/*
 * The S3 tier: an arca_backend on an S3-compatible object store, with
 * libcurl (requests signed by CURLOPT_AWS_SIGV4), libxml2 (the XML of
 * CreateMultipartUpload and of error answers) and inih (the credentials
 * file). The layout, the URL syntax and the outcomes are documented in
 * include/arca/sys/s3.h and docs/tiers.md.
 *
 * Debian 12's libcurl 7.88 signs what it is given and no more, so every
 * request (1) sends x-amz-content-sha256 itself (curl signs the header's
 * value as the payload hash; servers refuse a request without it), (2)
 * writes its query string sorted by name, percent-encoded and with '=' on
 * every parameter (curl 7.88 copies the query into the canonical request
 * as it is: https://docs.aws.amazon.com/IAM/latest/UserGuide/
 * create-signed-request.html), and (3) uses path-style addressing on a
 * custom endpoint. Object keys are restricted to characters that need no
 * percent-encoding, so the canonical URI is the path as sent.
 *
 * One curl easy handle per backend (its connection is reused between
 * calls); each method call has one deadline (the store's deadline_ms,
 * else timeout_ms from the call's start) that bounds every request of the
 * call through CURLOPT_TIMEOUT_MS.
 */
#include "internal.h"
#include "fsutil.h"
#include "tier_url.h"
#include "ac_entry.h"
#include "compress.h"

#include "arca/sys/backend.h"
#include "arca/sys/s3.h"

#include <curl/curl.h>
#include <ini.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <zstd.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define PREFIX_MAX 512
#define KEY_MAX (PREFIX_MAX + 4 + ARCA_DIGEST_HEXLEN + 1)
/* Bytes of an error answer or an XML reply kept in memory. */
#define SMALL_BODY_MAX ((size_t)64 << 10)
/* Largest action entry read back (the manifest rides in it). */
#define AC_ENTRY_MAX ((size_t)64 << 20)
/* S3's largest number of parts of one upload. */
#define PARTS_MAX 10000
#define IO_CHUNK ((size_t)64 << 10)
/* SHA-256 of no bytes, the payload hash of GET, HEAD and DELETE. */
#define EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define META_EXPIRES "x-amz-meta-arca-expires"
/* A blob stored as one zstd frame carries these (docs/tiers.md). */
#define META_ENCODING "x-amz-meta-arca-encoding"
#define META_SIZE "x-amz-meta-arca-size"
/* Bytes sampled at the start of a blob to decide whether to compress. */
#define SAMPLE_MAX ((size_t)1 << 20)

typedef struct s3_backend {
	arca_backend parent;
	char shown[1024];          /* the URL, for messages */
	char *bucket;
	char *prefix;              /* "" or "a/b/" (ends with a slash) */
	char *base;                /* ".../BUCKET" or "https://BUCKET.s3...",
	                            * no trailing slash */
	char *region;
	char sigv4[160];           /* "aws:amz:REGION:s3" */
	char *access_key, *secret, *token;
	uint64_t part_size;        /* = the multipart threshold */
	unsigned int connect_timeout_ms, timeout_ms;
	int path_style;
	int compress;              /* zstd blobs (when it shrinks them) */
	int url_compress;          /* ?compress=: 0, 1, or -1 when absent */
	/* lazy_connect: HeadBucket is still owed, before the first call. */
	int probe_pending;
	/* The server answered a conditional write as a feature it lacks:
	 * blob PUTs go without If-None-Match for the handle's life. */
	int no_conditional;
	CURL *curl;
} s3_backend;

/* Where an upload's bytes come from: memory, or an fd read with pread. */
typedef struct source {
	const unsigned char *mem;
	int fd;
	uint64_t base;             /* offset of byte 0 in fd */
} source;

typedef struct upload {
	const source *src;
	uint64_t start, len, pos;  /* pos: bytes of [start, start+len) sent */
	int error;                 /* a read error, as an ARCA_E* code */
} upload;

/* One HTTP request and what came back. */
typedef struct request {
	const char *method;        /* GET HEAD PUT POST DELETE */
	const char *key;           /* object key; NULL: the bucket */
	const char *query;         /* sorted and encoded; NULL: none */
	const char *payload_sha;   /* hex SHA-256 of the body */
	const char *expires;       /* x-amz-meta-arca-expires to send */
	const char *plain_size;    /* non-NULL: the body is a zstd frame of
	                            * this many bytes (META_ENCODING/SIZE) */
	const char *content_type;
	int if_none_match;         /* send If-None-Match: * (a blob write) */
	/* the body: an upload range, or bytes for a POST */
	upload *up;
	const void *post;
	size_t post_len;
	/* a 2xx body goes to sink (with hashing), else into small */
	arca_sink_fn sink;
	void *sink_ctx;
	arca__hasher *hasher;
	int sink_error;
	uint64_t received;
	/* a blob GET decodes a zstd object before hashing and the sink */
	int decode, decode_checked, frame_done;
	ZSTD_DCtx *dctx;
	unsigned char *zbuf;
	uint64_t plain_expected, plain_got;
	arca_buf small;            /* error answers, XML, action entries */
	size_t small_max;
	CURL *curl;
	/* the answer */
	long status;
	char etag[256];
	char meta_expires[32];
	char meta_encoding[16];
	char meta_size[32];
	char bucket_region[64];    /* x-amz-bucket-region */
	uint64_t content_length;
	int has_length;
} request;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
	arca__openssl_load_config();
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
	xmlInitParser();
}

/* ---- messages ------------------------------------------------------------ */

static int s3_fail(const s3_backend *s, int code, const char *what,
		const char *detail)
{
	return arca__error(code, "s3 tier %s: %s: %s", s->shown, what, detail);
}

/* The text of the first element named name (any namespace), malloc'd;
 * NULL when absent or not XML. */
static char *xml_text(const void *xml, size_t len, const char *name)
{
	xmlDocPtr doc;
	xmlNodePtr n, next;
	char *out = NULL;

	if (len == 0 || len > INT_MAX)
		return NULL;
	doc = xmlReadMemory((const char *)xml, (int)len, NULL, NULL, XML_PARSE_NONET |
			XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL)
		return NULL;
	/* Depth-first walk, no recursion. */
	for (n = xmlDocGetRootElement(doc); n != NULL && out == NULL; n = next) {
		if (n->type == XML_ELEMENT_NODE &&
		    xmlStrcmp(n->name, (const xmlChar *)name) == 0) {
			xmlChar *t = xmlNodeGetContent(n);

			if (t != NULL) {
				out = arca__strdup((const char *)t);
				xmlFree(t);
			}
			break;
		}
		if (n->children != NULL) {
			next = n->children;
			continue;
		}
		while (n != NULL && n->next == NULL)
			n = n->parent && n->parent->type == XML_ELEMENT_NODE ?
				n->parent : NULL;
		next = n ? n->next : NULL;
	}
	xmlFreeDoc(doc);
	return out;
}

/* The outcome of an HTTP status other than 2xx, with S3's error code
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html)
 * when the answer has a body. */
static int status_fail(const s3_backend *s, const request *rq,
		const char *what)
{
	char detail[512], *code_name = NULL;
	int code;

	if (rq->small.size > 0)
		code_name = xml_text(rq->small.data, rq->small.size, "Code");
	switch (rq->status) {
	case 404:
		code = ARCA_ENOTFOUND;
		break;
	case 401:
	case 403:
		code = ARCA_EPERM;
		break;
	default:
		code = ARCA_EIO;
		break;
	}
	if (code == ARCA_EPERM)
		snprintf(detail, sizeof(detail), "HTTP %ld %s (access to bucket "
				"\"%s\" refused: wrong credentials or no "
				"permission)", rq->status, code_name ? code_name :
				"Forbidden", s->bucket);
	else if (code == ARCA_ENOTFOUND)
		snprintf(detail, sizeof(detail), "not found (HTTP 404%s%s)",
				code_name ? " " : "", code_name ? code_name : "");
	else
		snprintf(detail, sizeof(detail), "HTTP %ld%s%s", rq->status,
				code_name ? " " : "", code_name ? code_name : "");
	free(code_name);
	return s3_fail(s, code, what, detail);
}

static int curl_fail(const s3_backend *s, CURLcode rc, const char *errbuf,
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
	return s3_fail(s, code, what, detail);
}

/* ---- one request ----------------------------------------------------------- */

static void header_value(CURL *c, const char *name, char *out, size_t size);

/* The object's uncompressed size from META_SIZE; -1 when it is not a
 * decimal number. */
static int parse_plain_size(uint64_t *out, const char *v)
{
	char *end = NULL;
	unsigned long long n;

	if (v[0] < '0' || v[0] > '9')
		return -1;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = (uint64_t)n;
	return 0;
}

/* Plain bytes of a blob: to the hasher, then the sink. */
static int deliver(request *rq, const void *data, size_t len)
{
	if (rq->hasher != NULL &&
	    arca__hasher_update(rq->hasher, data, len) < 0)
		return ARCA_EIO;
	return rq->sink(rq->sink_ctx, data, len);
}

/* On the first bytes of a blob's body: is it a zstd object? */
static int decode_start(request *rq)
{
	char enc[16], size[32];

	rq->decode_checked = 1;
	header_value(rq->curl, META_ENCODING, enc, sizeof(enc));
	if (enc[0] == '\0')
		return 0;
	header_value(rq->curl, META_SIZE, size, sizeof(size));
	if (strcmp(enc, "zstd") != 0)
		return arca__error(ARCA_ECORRUPT, "s3 tier: GET %s: the "
				"object's encoding \"%s\" is unknown", rq->key,
				enc);
	if (parse_plain_size(&rq->plain_expected, size) < 0)
		return arca__error(ARCA_ECORRUPT, "s3 tier: GET %s: a zstd "
				"object without a valid " META_SIZE, rq->key);
	if ((rq->dctx = ZSTD_createDCtx()) == NULL ||
	    (rq->zbuf = malloc(ZSTD_DStreamOutSize())) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	/* The window a frame may ask for bounds the memory a GET takes; the
	 * tier's own frames (level 3) use at most 2 MiB. */
	if (ZSTD_isError(ZSTD_DCtx_setParameter(rq->dctx,
			ZSTD_d_windowLogMax, 24)))
		return arca__error(ARCA_EIO, "zstd refused a parameter");
	return 0;
}

/* Decompress len bytes of the frame as they arrive (memory: zstd's window
 * and one output buffer); more than the declared size, bytes after the
 * frame or a damaged frame are ARCA_ECORRUPT. */
static int inflate_body(request *rq, const void *data, size_t len)
{
	ZSTD_inBuffer in = { data, len, 0 };
	size_t cap = ZSTD_DStreamOutSize();
	int error;

	for (;;) {
		ZSTD_outBuffer out = { rq->zbuf, cap, 0 };
		size_t rc;

		if (rq->frame_done) {
			if (in.pos < in.size)
				return arca__error(ARCA_ECORRUPT, "s3 tier: "
						"GET %s: bytes after the zstd "
						"frame", rq->key);
			return 0;
		}
		rc = ZSTD_decompressStream(rq->dctx, &out, &in);
		if (ZSTD_isError(rc))
			return arca__error(ARCA_ECORRUPT, "s3 tier: GET %s: "
					"zstd: %s", rq->key,
					ZSTD_getErrorName(rc));
		if (rc == 0)
			rq->frame_done = 1;
		if (out.pos > 0) {
			rq->plain_got += out.pos;
			if (rq->plain_got > rq->plain_expected)
				return arca__error(ARCA_ECORRUPT, "s3 tier: GET "
						"%s: the frame holds more than "
						"the %llu bytes declared",
						rq->key, (unsigned long long)
						rq->plain_expected);
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
	if (rq->sink != NULL && rq->decode && rq->status >= 200 &&
	    rq->status < 300) {
		if (!rq->decode_checked &&
		    (rq->sink_error = decode_start(rq)) < 0)
			return 0;
		if (rq->dctx != NULL) {
			if ((rq->sink_error = inflate_body(rq, data, len)) < 0)
				return 0;
			rq->received += len;
			return len;
		}
	}
	if (rq->sink != NULL && rq->status >= 200 && rq->status < 300) {
		if (rq->hasher != NULL &&
		    arca__hasher_update(rq->hasher, data, len) < 0) {
			rq->sink_error = ARCA_EIO;
			return 0;
		}
		if ((rq->sink_error = rq->sink(rq->sink_ctx, data, len)) < 0)
			return 0;
		rq->received += len;
		return len;
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
	upload *up = ctx;
	size_t want = size * n;
	uint64_t left = up->len - up->pos;
	ssize_t got;

	if (want > left)
		want = (size_t)left;
	if (want == 0)
		return 0;
	if (up->src->mem != NULL) {
		memcpy(buf, up->src->mem + up->start + up->pos, want);
		got = (ssize_t)want;
	} else {
		do
			got = pread(up->src->fd, buf, want, (off_t)(up->src->base +
					up->start + up->pos));
		while (got < 0 && errno == EINTR);
		if (got <= 0) {
			up->error = got < 0 ? arca__errno_code(errno) : ARCA_EIO;
			return CURL_READFUNC_ABORT;
		}
	}
	up->pos += (uint64_t)got;
	return (size_t)got;
}

/* curl rewinds an upload it must send again (a reused connection that
 * turned out closed). */
static int on_seek(void *ctx, curl_off_t offset, int origin)
{
	upload *up = ctx;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > up->len)
		return CURL_SEEKFUNC_CANTSEEK;
	up->pos = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static void header_value(CURL *c, const char *name, char *out, size_t size)
{
	struct curl_header *h = NULL;

	out[0] = '\0';
	if (curl_easy_header(c, name, 0, CURLH_HEADER, -1, &h) == CURLHE_OK &&
	    h->value != NULL)
		snprintf(out, size, "%s", h->value);
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

/*
 * Send rq within the call's deadline. 0 when the server answered (any
 * status: rq->status); a transport failure is an ARCA_E* code with the
 * message set.
 */
static int probe_bucket(s3_backend *s, int64_t deadline);

static int perform(s3_backend *s, request *rq, int64_t deadline,
		const char *what)
{
	char errbuf[CURL_ERROR_SIZE], *url = NULL;
	struct curl_slist *headers = NULL;
	int64_t left;
	long connect_ms;
	size_t url_len;
	CURLcode rc;
	CURL *c;
	int error = 0;

	rq->status = 0;
	rq->sink_error = 0;
	if (s->probe_pending) {
		/* A lazy backend's open check, owed by its first call. A
		 * missing bucket is the tier's configuration, not a miss;
		 * when the server did not answer, the next call owes it. */
		s->probe_pending = 0;
		if ((error = probe_bucket(s, deadline)) < 0) {
			s->probe_pending = error == ARCA_ETIMEOUT ||
				error == ARCA_EUNAVAILABLE;
			return error == ARCA_ENOTFOUND ? arca__error(ARCA_EINVAL,
					"%s", arca_errmsg()) : error;
		}
	}
	left = deadline - arca__mono_ms();
	if (rq->small_max == 0)
		rq->small_max = SMALL_BODY_MAX;
	if (left <= 0)
		return s3_fail(s, ARCA_ETIMEOUT, what, "the call's deadline "
				"passed");
	connect_ms = (long)(left < s->connect_timeout_ms ? left :
			s->connect_timeout_ms);
	if (s->curl == NULL && (s->curl = curl_easy_init()) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	c = rq->curl = s->curl;
	curl_easy_reset(c);
	url_len = strlen(s->base) + 2 + (rq->key ? strlen(rq->key) : 0) +
		(rq->query ? strlen(rq->query) + 1 : 0) + 1;
	if ((url = malloc(url_len)) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	/* HeadBucket is "/BUCKET" path-style (the path servers sign, no
	 * trailing slash) and "/" virtual-hosted. */
	snprintf(url, url_len, "%s%s%s%s%s", s->base,
			rq->key || !s->path_style ? "/" : "",
			rq->key ? rq->key : "", rq->query ? "?" : "",
			rq->query ? rq->query : "");
	if (add_header(&headers, "x-amz-content-sha256: %s",
			rq->payload_sha ? rq->payload_sha : EMPTY_SHA256) < 0 ||
	    (s->token != NULL && add_header(&headers,
			"x-amz-security-token: %s", s->token) < 0) ||
	    (rq->expires != NULL && add_header(&headers,
			META_EXPIRES ": %s", rq->expires) < 0) ||
	    (rq->plain_size != NULL && (add_header(&headers,
			META_ENCODING ": %s", "zstd") < 0 ||
	     add_header(&headers, META_SIZE ": %s", rq->plain_size) < 0)) ||
	    (rq->content_type != NULL && add_header(&headers,
			"Content-Type: %s", rq->content_type) < 0) ||
	    (rq->if_none_match && add_header(&headers, "If-None-Match: %s",
			"*") < 0)) {
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
	    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USERNAME, s->access_key) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PASSWORD, s->secret) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) !=
			CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)left) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, rq) != CURLE_OK) {
		error = s3_fail(s, ARCA_EIO, what, "libcurl refused an option");
		goto cleanup;
	}
	if (strcmp(rq->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(rq->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, rq->up);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, rq->up);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
				(curl_off_t)rq->up->len);
		rq->up->pos = 0;
		rq->up->error = 0;
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
		if (rq->up != NULL && rq->up->error < 0)
			error = s3_fail(s, rq->up->error, what, "reading the "
					"bytes to upload failed");
		else if ((rc == CURLE_WRITE_ERROR ||
			  rc == CURLE_ABORTED_BY_CALLBACK) && rq->sink_error < 0)
			error = rq->sink_error == ARCA_EIO && rq->sink == NULL ?
				s3_fail(s, ARCA_EIO, what, "answer too large") :
				rq->sink_error;
		else
			error = curl_fail(s, rc, errbuf, what);
		goto cleanup;
	}
	header_value(c, "ETag", rq->etag, sizeof(rq->etag));
	header_value(c, META_EXPIRES, rq->meta_expires,
			sizeof(rq->meta_expires));
	header_value(c, "x-amz-bucket-region", rq->bucket_region,
			sizeof(rq->bucket_region));
	header_value(c, META_ENCODING, rq->meta_encoding,
			sizeof(rq->meta_encoding));
	header_value(c, META_SIZE, rq->meta_size, sizeof(rq->meta_size));
	{
		curl_off_t n = -1;

		if (curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
				&n) == CURLE_OK && n >= 0) {
			rq->content_length = (uint64_t)n;
			rq->has_length = 1;
		}
	}
cleanup:
	curl_slist_free_all(headers);
	free(url);
	return error;
}

/* perform, where only a 2xx status is success (status_fail for another). */
static int perform_2xx(s3_backend *s, request *rq, int64_t deadline,
		const char *what)
{
	int error;

	if ((error = perform(s, rq, deadline, what)) == 0 &&
	    (rq->status < 200 || rq->status >= 300))
		error = status_fail(s, rq, what);
	return error;
}

/* ---- calls, keys, hashes ------------------------------------------------ */

static int64_t call_deadline(const s3_backend *s)
{
	int64_t d = arca__mono_ms() + (int64_t)s->timeout_ms;

	if (s->parent.deadline_ms > 0 && s->parent.deadline_ms < d)
		d = s->parent.deadline_ms;
	return d;
}

static void make_key(char *key, const s3_backend *s, const char *kind,
		const arca_digest *d)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	arca_digest_to_hex(hex, d);
	snprintf(key, KEY_MAX, "%s%s/%s", s->prefix, kind, hex);
}

/* Percent-encode every byte but A-Z a-z 0-9 - . _ ~ (SigV4's URI
 * encoding). */
static void uri_encode(char *out, size_t size, const char *in)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *in && o + 4 < size; in++) {
		unsigned char ch = (unsigned char)*in;

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		    ch == '_' || ch == '~') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
}

/* Hex SHA-256 of len bytes of src from start. */
static int hash_range(char *hex, const source *src, uint64_t start,
		uint64_t len, arca_digest *digest_out)
{
	arca__hasher *h = NULL;
	unsigned char *buf = NULL;
	arca_digest d;
	int error;

	if (src->mem != NULL) {
		if ((error = arca_digest_buffer(&d, len ? (const void *)(src->mem +
				start) : "", (size_t)len)) < 0)
			return error;
		goto done;
	}
	if ((error = arca__hasher_new(&h)) < 0)
		return error;
	if ((buf = malloc(IO_CHUNK)) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	while (len > 0) {
		size_t want = len < IO_CHUNK ? (size_t)len : IO_CHUNK;
		ssize_t got = pread(src->fd, buf, want, (off_t)(src->base +
				start));

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			error = got < 0 ? arca__error_errno(errno, "cannot read",
					"the blob to upload") : arca__error(
					ARCA_EIO, "the blob to upload shrank");
			goto cleanup;
		}
		if ((error = arca__hasher_update(h, buf, (size_t)got)) < 0)
			goto cleanup;
		start += (uint64_t)got;
		len -= (uint64_t)got;
	}
	if ((error = arca__hasher_final(h, &d)) < 0)
		goto cleanup;
done:
	arca_digest_to_hex(hex, &d);
	if (digest_out != NULL)
		*digest_out = d;
cleanup:
	free(buf);
	arca__hasher_free(h);
	return error;
}

/* ---- uploads ------------------------------------------------------------- */

static int head_object(s3_backend *s, const char *key, uint64_t *size_out,
		int64_t deadline);

/*
 * Whether an answer to a write with If-None-Match says the server does
 * not implement the header: 501 (S3's NotImplemented, "a header you
 * provided implies functionality that is not implemented",
 * https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html),
 * or 400 whose error code is NotImplemented or whose message names the
 * header (S3-compatible servers without conditional writes).
 */
static int refuses_conditional(const request *rq)
{
	char *code = NULL, *msg = NULL;
	int yes;

	if (rq->status == 501)
		return 1;
	if (rq->status != 400 || rq->small.size == 0)
		return 0;
	code = xml_text(rq->small.data, rq->small.size, "Code");
	msg = xml_text(rq->small.data, rq->small.size, "Message");
	yes = (code != NULL && strcmp(code, "NotImplemented") == 0) ||
		(msg != NULL && strcasestr(msg, "If-None-Match") != NULL);
	free(code);
	free(msg);
	return yes;
}

/*
 * The outcome of a blob write sent with If-None-Match: * (conditional
 * writes, https://docs.aws.amazon.com/AmazonS3/latest/userguide/
 * conditional-writes.html; RFC 9110 section 13.1.2). Blobs are content-
 * addressed, so an object already under the key holds these bytes: 412
 * Precondition Failed means stored, as a 2xx does (and the bytes need not
 * have been sent twice). 409 ConditionalRequestConflict (another write of
 * the key in progress) is stored when a HeadObject finds the object, else
 * ARCA_EIO (the next write-through tries again). A server that does not
 * implement the header (refuses_conditional) makes the handle drop it for
 * good; *retry asks the caller to send the same write again without it.
 */
static int conditional_outcome(s3_backend *s, const request *rq,
		const char *key, int64_t deadline, const char *what,
		int *existed, int *retry)
{
	int error;

	*existed = *retry = 0;
	if (rq->status >= 200 && rq->status < 300)
		return 0;
	if (rq->status == 412) {
		*existed = 1;
		return 0;
	}
	if (rq->status == 409) {
		if ((error = head_object(s, key, NULL, deadline)) == 0) {
			*existed = 1;
			return 0;
		}
		if (error != ARCA_ENOTFOUND)
			return error;
		return s3_fail(s, ARCA_EIO, what, "HTTP 409 "
				"ConditionalRequestConflict (a concurrent "
				"write of the object)");
	}
	if (refuses_conditional(rq)) {
		s->no_conditional = 1;
		*retry = 1;
		return 0;
	}
	return status_fail(s, rq, what);
}

/* One PutObject (https://docs.aws.amazon.com/AmazonS3/latest/API/
 * API_PutObject.html) of len bytes of src; sha the payload's hash. A
 * blob's (blob) is conditional unless the server refused that once
 * (conditional_outcome); an action entry is replaced. */
static int put_single(s3_backend *s, const char *key, const source *src,
		uint64_t len, const char *sha, const char *expires,
		const char *plain_size, int blob, int64_t deadline)
{
	upload up = { src, 0, len, 0, 0 };
	request rq;
	char what[KEY_MAX + 16];
	int error, existed = 0, retry;

	snprintf(what, sizeof(what), "PUT %s", key);
	do {
		retry = 0;
		memset(&rq, 0, sizeof(rq));
		rq.method = "PUT";
		rq.key = key;
		rq.payload_sha = sha;
		rq.expires = expires;
		rq.plain_size = plain_size;
		rq.if_none_match = blob && !s->no_conditional;
		rq.up = &up;
		if (!rq.if_none_match)
			error = perform_2xx(s, &rq, deadline, what);
		else if ((error = perform(s, &rq, deadline, what)) == 0)
			error = conditional_outcome(s, &rq, key, deadline, what,
					&existed, &retry);
		arca_buf_free(&rq.small);
	} while (retry);
	return error;
}

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

/*
 * zstd's streaming compressor over a blob (ZSTD_compressStream2): one
 * frame declaring the blob's size, written piecewise to a temp file;
 * the plain bytes are hashed again on the way so that a blob that
 * changed since its digest was taken is not stored under it.
 */
typedef struct zpump {
	ZSTD_CCtx *cctx;
	const source *src;
	uint64_t len, read;
	unsigned char *in, *out;
	size_t in_len, in_pos;
	arca__hasher *h;
	int done;
} zpump;

static void zpump_free(zpump *z)
{
	ZSTD_freeCCtx(z->cctx);
	free(z->in);
	free(z->out);
	arca__hasher_free(z->h);
}

static int zpump_init(zpump *z, const source *src, uint64_t len)
{
	memset(z, 0, sizeof(*z));
	z->src = src;
	z->len = len;
	if ((z->cctx = ZSTD_createCCtx()) == NULL ||
	    (z->in = malloc(IO_CHUNK)) == NULL ||
	    (z->out = malloc(IO_CHUNK)) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	if (ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx,
			ZSTD_c_compressionLevel, ARCA__ZSTD_LEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag,
			1)) ||
	    ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(z->cctx, len)))
		return arca__error(ARCA_EIO, "zstd refused a parameter");
	return arca__hasher_new(&z->h);
}

/* Compress into fd, truncated first, until max bytes are written or the
 * frame ends (z->done); *written the bytes in fd. */
static int zpump_to_fd(zpump *z, int fd, uint64_t max, uint64_t *written)
{
	uint64_t off = 0;
	int error;

	*written = 0;
	if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
		return arca__error_errno(errno, "cannot reuse", "the temp file");
	while (!z->done && off < max) {
		ZSTD_inBuffer in;
		ZSTD_outBuffer out;
		ZSTD_EndDirective mode;
		size_t rc;

		if (z->in_pos == z->in_len && z->read < z->len) {
			size_t n = z->len - z->read < IO_CHUNK ?
				(size_t)(z->len - z->read) : IO_CHUNK;

			if ((error = read_at(z->src, z->read, z->in, n)) < 0 ||
			    (error = arca__hasher_update(z->h, z->in, n)) < 0)
				return error;
			z->read += n;
			z->in_len = n;
			z->in_pos = 0;
		}
		in.src = z->in;
		in.size = z->in_len;
		in.pos = z->in_pos;
		out.dst = z->out;
		out.size = max - off < IO_CHUNK ? (size_t)(max - off) : IO_CHUNK;
		out.pos = 0;
		mode = z->read == z->len ? ZSTD_e_end : ZSTD_e_continue;
		rc = ZSTD_compressStream2(z->cctx, &out, &in, mode);
		if (ZSTD_isError(rc))
			return arca__error(ARCA_EIO, "zstd: %s",
					ZSTD_getErrorName(rc));
		z->in_pos = in.pos;
		if (out.pos > 0 && (error = arca__write_all(fd, z->out, out.pos,
				"the compressed blob")) < 0)
			return error;
		off += out.pos;
		if (mode == ZSTD_e_end && rc == 0)
			z->done = 1;
	}
	*written = off;
	return 0;
}

/* After the frame ended: the bytes compressed are the digest's. */
static int zpump_check(zpump *z, const arca_digest *d)
{
	arca_digest got;
	int error;

	if ((error = arca__hasher_final(z->h, &got)) < 0)
		return error;
	if (!arca_digest_equal(&got, d))
		return arca__error(ARCA_EIO, "the blob to upload changed "
				"while it was compressed");
	return 0;
}

/* An unlinked temp file in $TMPDIR (default /tmp). */
static int temp_file(int *out)
{
	const char *dir = getenv("TMPDIR");
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/arca-s3-XXXXXX",
			dir && *dir ? dir : "/tmp");
	if ((*out = mkstemp(path)) < 0)
		return arca__error_errno(errno, "cannot create", path);
	unlink(path);
	return 0;
}

/* AbortMultipartUpload (API_AbortMultipartUpload.html): best effort, with
 * a little time of its own when the call's has run out. */
static void abort_multipart(s3_backend *s, const char *key, const char *query)
{
	request rq;
	char msg[1024];

	snprintf(msg, sizeof(msg), "%s", arca_errmsg());
	memset(&rq, 0, sizeof(rq));
	rq.method = "DELETE";
	rq.key = key;
	rq.query = query;
	(void)perform(s, &rq, arca__mono_ms() + 2000, "abort multipart upload");
	arca_buf_free(&rq.small);
	/* The failure that caused the abort is what the caller sees. */
	arca__error(ARCA_EIO, "%s", msg);
}

static int xml_append(arca_buf *b, size_t *cap, const char *s)
{
	size_t n = strlen(s);

	if (b->size + n + 1 > *cap) {
		size_t want = (*cap ? *cap * 2 : 4096) + n;
		unsigned char *p = realloc(b->data, want);

		if (p == NULL)
			return arca__error(ARCA_ENOMEM, "out of memory");
		b->data = p;
		*cap = want;
	}
	memcpy(b->data + b->size, s, n + 1);
	b->size += n;
	return 0;
}

/*
 * Multipart upload (https://docs.aws.amazon.com/AmazonS3/latest/userguide/
 * mpuoverview.html): CreateMultipartUpload, one UploadPart per part_size
 * bytes, CompleteMultipartUpload with the parts' ETags; on any failure
 * AbortMultipartUpload, so the bucket keeps no orphaned parts.
 */
static int put_multipart(s3_backend *s, const char *key, const source *src,
		uint64_t len, zpump *z, int tmp, const char *plain_size,
		const arca_digest *d, int64_t deadline)
{
	char what[KEY_MAX + 64], query[1200], enc_id[1024], sha[65];
	char *upload_id = NULL, **etags = NULL;
	arca_buf xml = ARCA_BUF_INIT;
	source tmp_src = { NULL, tmp, 0 };
	size_t xml_cap = 0, n_parts = 0, i;
	request rq;
	int error = 0, started = 0, existed = 0, retry;

	/* Compressed, the parts are cut from the frame as it is made (one
	 * part at a time in the temp file), so their number is known only
	 * at the end. */
	if (z == NULL && (len + s->part_size - 1) / s->part_size > PARTS_MAX)
		return s3_fail(s, ARCA_ENOTSTORED, key, "more than 10000 parts "
				"(raise the multipart threshold)");

	/* CreateMultipartUpload: POST ?uploads= (the '=' is curl 7.88's
	 * canonical query: it signs the query as written). */
	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.key = key;
	rq.query = "uploads=";
	rq.content_type = "application/octet-stream";
	rq.plain_size = plain_size;
	snprintf(what, sizeof(what), "CreateMultipartUpload %s", key);
	if ((error = perform_2xx(s, &rq, deadline, what)) < 0)
		goto cleanup;
	upload_id = xml_text(rq.small.data, rq.small.size, "UploadId");
	arca_buf_free(&rq.small);
	if (upload_id == NULL || upload_id[0] == '\0') {
		error = s3_fail(s, ARCA_EIO, what, "no UploadId in the answer");
		goto cleanup;
	}
	started = 1;
	uri_encode(enc_id, sizeof(enc_id), upload_id);

	for (i = 0;; i++) {
		const source *part_src = src;
		uint64_t start = (uint64_t)i * s->part_size, part;
		upload up;
		char **grown;

		if (z == NULL) {
			if (start >= len)
				break;
			part = len - start < s->part_size ? len - start :
				s->part_size;
		} else {
			if (z->done)
				break;
			if ((error = zpump_to_fd(z, tmp, s->part_size,
					&part)) < 0)
				goto cleanup;
			if (part == 0)
				break;
			part_src = &tmp_src;
			start = 0;
		}
		if (i >= PARTS_MAX) {
			error = s3_fail(s, ARCA_ENOTSTORED, key, "more than "
					"10000 parts (raise the multipart "
					"threshold)");
			goto cleanup;
		}
		if ((grown = realloc(etags, (i + 1) * sizeof(*etags))) == NULL) {
			error = arca__error(ARCA_ENOMEM, "out of memory");
			goto cleanup;
		}
		etags = grown;
		etags[i] = NULL;
		n_parts = i + 1;
		up.src = part_src;
		up.start = start;
		up.len = part;
		up.pos = 0;
		up.error = 0;
		if ((error = hash_range(sha, part_src, start, part, NULL)) < 0)
			goto cleanup;
		/* Sorted: partNumber < uploadId. */
		snprintf(query, sizeof(query), "partNumber=%zu&uploadId=%s",
				i + 1, enc_id);
		memset(&rq, 0, sizeof(rq));
		rq.method = "PUT";
		rq.key = key;
		rq.query = query;
		rq.payload_sha = sha;
		rq.up = &up;
		snprintf(what, sizeof(what), "UploadPart %zu %s", i + 1, key);
		error = perform_2xx(s, &rq, deadline, what);
		if (error == 0 && rq.etag[0] == '\0')
			error = s3_fail(s, ARCA_EIO, what, "no ETag in the "
					"answer");
		if (error == 0 && (etags[i] = arca__strdup(rq.etag)) == NULL)
			error = arca__error(ARCA_ENOMEM, "out of memory");
		arca_buf_free(&rq.small);
		if (error < 0)
			goto cleanup;
	}

	if (z != NULL && (error = zpump_check(z, d)) < 0)
		goto cleanup;
	/* CompleteMultipartUpload: the parts in order, ETags escaped. */
	if ((error = xml_append(&xml, &xml_cap,
			"<CompleteMultipartUpload>")) < 0)
		goto cleanup;
	for (i = 0; i < n_parts; i++) {
		char part[512], esc[400];
		size_t o = 0;
		const char *e;

		for (e = etags[i]; *e && o + 7 < sizeof(esc); e++) {
			if (*e == '"') {
				memcpy(esc + o, "&quot;", 6);
				o += 6;
			} else if (*e == '&') {
				memcpy(esc + o, "&amp;", 5);
				o += 5;
			} else if (*e == '<') {
				memcpy(esc + o, "&lt;", 4);
				o += 4;
			} else {
				esc[o++] = *e;
			}
		}
		esc[o] = '\0';
		snprintf(part, sizeof(part), "<Part><PartNumber>%zu</PartNumber>"
				"<ETag>%s</ETag></Part>", i + 1, esc);
		if ((error = xml_append(&xml, &xml_cap, part)) < 0)
			goto cleanup;
	}
	if ((error = xml_append(&xml, &xml_cap,
			"</CompleteMultipartUpload>")) < 0)
		goto cleanup;
	{
		source mem_src = { (const unsigned char *)xml.data, -1, 0 };

		if ((error = hash_range(sha, &mem_src, 0, xml.size, NULL)) < 0)
			goto cleanup;
	}
	snprintf(query, sizeof(query), "uploadId=%s", enc_id);
	snprintf(what, sizeof(what), "CompleteMultipartUpload %s", key);
	/* Conditional as a single PUT is (put_single): 412 means the object
	 * is there, and this upload is aborted instead of completed. */
	do {
		retry = 0;
		memset(&rq, 0, sizeof(rq));
		rq.method = "POST";
		rq.key = key;
		rq.query = query;
		rq.payload_sha = sha;
		rq.content_type = "application/xml";
		rq.post = xml.data;
		rq.post_len = xml.size;
		rq.if_none_match = !s->no_conditional;
		if ((error = perform(s, &rq, deadline, what)) == 0) {
			char *code = NULL;

			/* A 200 answer can still carry an <Error> (API_
			 * CompleteMultipartUpload.html: "a 200 OK response
			 * can contain either a success or an error"). */
			if (rq.status >= 200 && rq.status < 300 &&
			    (code = xml_text(rq.small.data, rq.small.size,
					"Code")) != NULL)
				error = s3_fail(s, ARCA_EIO, what, code);
			else if (rq.if_none_match)
				error = conditional_outcome(s, &rq, key,
						deadline, what, &existed,
						&retry);
			else if (rq.status < 200 || rq.status >= 300)
				error = status_fail(s, &rq, what);
			free(code);
		}
		arca_buf_free(&rq.small);
	} while (retry);
	if (error == 0 && !existed)
		started = 0;
cleanup:
	if (started) {
		snprintf(query, sizeof(query), "uploadId=%s", enc_id);
		abort_multipart(s, key, query);
		if (existed && error == 0)
			arca__error_clear();
		else if (error == 0)
			error = ARCA_EIO;
	}
	for (i = 0; etags != NULL && i < n_parts; i++)
		free(etags[i]);
	free(etags);
	free(upload_id);
	arca_buf_free(&xml);
	return error;
}

/* Whether zstd shrinks the blob's first SAMPLE_MAX bytes by at least
 * 1/32 (else the blob is stored as it is: random or already compressed
 * bytes would only cost CPU on both ends). */
static int worth_compressing(int *yes, const source *src, uint64_t len)
{
	size_t n = len < SAMPLE_MAX ? (size_t)len : SAMPLE_MAX;
	arca_buf frame = ARCA_BUF_INIT;
	unsigned char *buf = NULL;
	int error;

	*yes = 0;
	if (n == 0)
		return 0;
	if ((buf = malloc(n)) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	if ((error = read_at(src, 0, buf, n)) == 0 &&
	    (error = arca__zstd_compress(&frame, buf, n,
			ARCA__ZSTD_LEVEL)) == 0)
		*yes = frame.size < n - n / 32;
	arca_buf_free(&frame);
	free(buf);
	return error;
}

/*
 * The blob as one zstd frame (docs/tiers.md "Compression"): a blob up to
 * the multipart threshold is compressed into an unlinked temp file first
 * (one PUT needs its length and payload hash before it starts; memory
 * stays bounded whatever the threshold, up to 5 GiB); a larger one is
 * compressed part by part while it is uploaded. 1 when the frame is not
 * smaller than the blob (the caller stores it as it is).
 */
static int put_compressed(s3_backend *s, const char *key,
		const arca_digest *d, const source *src, uint64_t len,
		int64_t deadline)
{
	char plain_size[32], sha[ARCA_DIGEST_HEXLEN + 1];
	uint64_t clen = 0;
	zpump z;
	int tmp = -1, error;

	snprintf(plain_size, sizeof(plain_size), "%llu",
			(unsigned long long)len);
	if ((error = zpump_init(&z, src, len)) < 0 ||
	    (error = temp_file(&tmp)) < 0)
		goto cleanup;
	if (len > s->part_size) {
		error = put_multipart(s, key, src, len, &z, tmp, plain_size, d,
				deadline);
		goto cleanup;
	}
	if ((error = zpump_to_fd(&z, tmp, UINT64_MAX, &clen)) < 0 ||
	    (error = zpump_check(&z, d)) < 0)
		goto cleanup;
	if (clen >= len) {
		error = 1;
		goto cleanup;
	}
	{
		source tmp_src = { NULL, tmp, 0 };

		if ((error = hash_range(sha, &tmp_src, 0, clen, NULL)) < 0)
			goto cleanup;
		error = put_single(s, key, &tmp_src, clen, sha, NULL,
				plain_size, 1, deadline);
	}
cleanup:
	if (tmp >= 0)
		close(tmp);
	zpump_free(&z);
	return error;
}

static int put_blob(s3_backend *s, const arca_digest *d, const source *src,
		uint64_t len, int64_t deadline)
{
	char key[KEY_MAX], sha[ARCA_DIGEST_HEXLEN + 1];
	int error, yes = 0;

	make_key(key, s, "cas", d);
	if (s->compress && (error = worth_compressing(&yes, src, len)) < 0)
		return error;
	if (yes && (error = put_compressed(s, key, d, src, len,
			deadline)) <= 0)
		return error;
	if (len > s->part_size)
		return put_multipart(s, key, src, len, NULL, -1, NULL, d,
				deadline);
	/* The payload is the blob: its SHA-256 is its digest. */
	arca_digest_to_hex(sha, d);
	return put_single(s, key, src, len, sha, NULL, NULL, 1, deadline);
}

/* ---- blobs ------------------------------------------------------------- */

static int s3_blob_get(arca_backend *b, const arca_digest *digest,
		arca_sink_fn sink, void *ctx)
{
	s3_backend *s = (s3_backend *)b;
	char key[KEY_MAX], what[KEY_MAX + 8];
	arca__hasher *h = NULL;
	arca_digest actual;
	request rq;
	int error;

	memset(&rq, 0, sizeof(rq));
	make_key(key, s, "cas", digest);
	snprintf(what, sizeof(what), "GET %s", key);
	if ((error = arca__hasher_new(&h)) < 0)
		return error;
	rq.method = "GET";
	rq.key = key;
	rq.sink = sink;
	rq.sink_ctx = ctx;
	rq.hasher = h;
	rq.decode = 1;
	if ((error = perform_2xx(s, &rq, call_deadline(s), what)) < 0)
		goto cleanup;
	if (rq.dctx == NULL && strcmp(rq.meta_encoding, "zstd") == 0) {
		error = s3_fail(s, ARCA_ECORRUPT, what, "a zstd object with "
				"no bytes");
		goto cleanup;
	}
	if (rq.dctx != NULL && (!rq.frame_done ||
			rq.plain_got != rq.plain_expected)) {
		error = s3_fail(s, ARCA_ECORRUPT, what, "the zstd frame is "
				"truncated or shorter than declared");
		goto cleanup;
	}
	if ((error = arca__hasher_final(h, &actual)) < 0)
		goto cleanup;
	if (!arca_digest_equal(&actual, digest))
		error = s3_fail(s, ARCA_ECORRUPT, what, "the bytes do not match "
				"the digest");
cleanup:
	ZSTD_freeDCtx(rq.dctx);
	free(rq.zbuf);
	arca__hasher_free(h);
	arca_buf_free(&rq.small);
	return error;
}

/* HeadObject (API_HeadObject.html). */
static int head_object(s3_backend *s, const char *key, uint64_t *size_out,
		int64_t deadline)
{
	char what[KEY_MAX + 8];
	request rq;
	int error;

	memset(&rq, 0, sizeof(rq));
	rq.method = "HEAD";
	rq.key = key;
	snprintf(what, sizeof(what), "HEAD %s", key);
	if ((error = perform_2xx(s, &rq, deadline, what)) < 0)
		goto cleanup;
	if (size_out != NULL)
		*size_out = rq.has_length ? rq.content_length : 0;
	/* A zstd object's size is its blob's, in its metadata. */
	if (size_out != NULL && strcmp(rq.meta_encoding, "zstd") == 0 &&
	    parse_plain_size(size_out, rq.meta_size) < 0)
		error = s3_fail(s, ARCA_ECORRUPT, what, "a zstd object "
				"without a valid " META_SIZE);
cleanup:
	arca_buf_free(&rq.small);
	return error;
}

static int s3_blob_stat(arca_backend *b, const arca_digest *digest,
		uint64_t *size_out)
{
	s3_backend *s = (s3_backend *)b;
	char key[KEY_MAX];

	make_key(key, s, "cas", digest);
	return head_object(s, key, size_out, call_deadline(s));
}

static int s3_blob_put(arca_backend *b, arca_digest *out, const void *data,
		size_t len)
{
	s3_backend *s = (s3_backend *)b;
	source src = { len ? data : (const void *)"", -1, 0 };
	arca_digest d;
	int error;

	if ((error = arca_digest_buffer(&d, len ? data : "", len)) < 0)
		return error;
	if ((error = put_blob(s, &d, &src, len, call_deadline(s))) < 0)
		return error;
	if (out != NULL)
		*out = d;
	return 0;
}

/* An unlinked temp file holding what is left to read from fd (a pipe). */
static int spool(int *tmp_out, int fd)
{
	const char *dir = getenv("TMPDIR");
	char path[PATH_MAX], *buf = NULL;
	int tmp = -1, error = 0;

	*tmp_out = -1;
	snprintf(path, sizeof(path), "%s/arca-s3-XXXXXX",
			dir && *dir ? dir : "/tmp");
	if ((tmp = mkstemp(path)) < 0)
		return arca__error_errno(errno, "cannot create", path);
	unlink(path);
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

static int s3_blob_put_fd(arca_backend *b, arca_digest *out,
		uint64_t *size_out, int fd)
{
	s3_backend *s = (s3_backend *)b;
	int64_t deadline = call_deadline(s);
	source src = { NULL, fd, 0 };
	char hex[ARCA_DIGEST_HEXLEN + 1];
	struct stat st;
	arca_digest d;
	off_t pos;
	uint64_t len;
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
	len = st.st_size > pos ? (uint64_t)(st.st_size - pos) : 0;
	/* First pass: the digest names the object. */
	if ((error = hash_range(hex, &src, 0, len, &d)) < 0)
		goto cleanup;
	if ((error = put_blob(s, &d, &src, len, deadline)) < 0)
		goto cleanup;
	/* "Everything readable from fd": leave it at its end. */
	if (tmp < 0)
		(void)lseek(fd, (off_t)(src.base + len), SEEK_SET);
	if (out != NULL)
		*out = d;
	if (size_out != NULL)
		*size_out = len;
cleanup:
	if (tmp >= 0)
		close(tmp);
	return error;
}

static int s3_find_missing(arca_backend *b, unsigned char *missing_out,
		const arca_digest *digests, size_t n)
{
	s3_backend *s = (s3_backend *)b;
	int64_t deadline = call_deadline(s);
	char key[KEY_MAX];
	size_t i;
	int error;

	/* One HeadObject each on the kept connection: ListObjectsV2 would
	 * list the whole cas/ prefix, which only grows. */
	for (i = 0; i < n; i++) {
		make_key(key, s, "cas", &digests[i]);
		error = head_object(s, key, NULL, deadline);
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

/* An entry "<hex manifest digest>\n[manifest bytes]". */
static int parse_entry(const s3_backend *s, const char *what,
		arca_digest *manifest_out, const char *data, size_t len)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	if (len < ARCA_DIGEST_HEXLEN + 1 || data[ARCA_DIGEST_HEXLEN] != '\n')
		return s3_fail(s, ARCA_EIO, what, "not an action entry");
	memcpy(hex, data, ARCA_DIGEST_HEXLEN);
	hex[ARCA_DIGEST_HEXLEN] = '\0';
	if (arca_digest_from_hex(manifest_out, hex) < 0)
		return s3_fail(s, ARCA_EIO, what, "not an action entry");
	return 0;
}

/* GET the entry of key into rq->small (bounded); an expired one is a
 * miss. */
static int get_entry(s3_backend *s, request *rq, char *what, size_t what_size,
		const arca_digest *key, arca_digest *manifest_out)
{
	char k[KEY_MAX];
	int error;

	memset(rq, 0, sizeof(*rq));
	make_key(k, s, "ac", key);
	snprintf(what, what_size, "GET %s", k);
	rq->method = "GET";
	rq->key = k;
	rq->small_max = AC_ENTRY_MAX;
	if ((error = perform(s, rq, call_deadline(s), what)) < 0)
		return error;
	if (rq->status < 200 || rq->status >= 300)
		return status_fail(s, rq, what);
	if (rq->meta_expires[0] != '\0') {
		char *end = NULL;
		long long at = strtoll(rq->meta_expires, &end, 10);

		if (end == rq->meta_expires || *end != '\0')
			return s3_fail(s, ARCA_EIO, what, "malformed "
					META_EXPIRES);
		if ((int64_t)at <= arca__now())
			return s3_fail(s, ARCA_ENOTFOUND, what, "expired");
	}
	return parse_entry(s, what, manifest_out, rq->small.data ?
			(const char *)rq->small.data : "", rq->small.size);
}

static int s3_ac_get(arca_backend *b, const arca_digest *key,
		arca_digest *manifest_out)
{
	char what[KEY_MAX + 8];
	request rq;
	int error = get_entry((s3_backend *)b, &rq, what, sizeof(what), key,
			manifest_out);

	arca_buf_free(&rq.small);
	return error;
}

static int s3_ac_get_manifest(arca_backend *b, arca_digest *manifest_out,
		arca_buf *json_out, const arca_digest *key)
{
	s3_backend *s = (s3_backend *)b;
	char what[KEY_MAX + 8];
	request rq;
	size_t n;
	int error;

	json_out->data = NULL;
	json_out->size = 0;
	if ((error = get_entry(s, &rq, what, sizeof(what), key,
			manifest_out)) < 0)
		goto cleanup;
	n = rq.small.size - ARCA_DIGEST_HEXLEN - 1;
	if (n > 0) {
		/* The entry's bytes become the caller's. */
		memmove(rq.small.data, rq.small.data + ARCA_DIGEST_HEXLEN + 1, n);
		rq.small.data[n] = '\0';
		json_out->data = rq.small.data;
		json_out->size = n;
		rq.small.data = NULL;
		rq.small.size = 0;
		goto cleanup;
	}
	/* An entry naming the manifest blob only: the blob. */
	{
		arca_buf m = ARCA_BUF_INIT;
		request brq;
		char k[KEY_MAX];

		memset(&brq, 0, sizeof(brq));
		make_key(k, s, "cas", manifest_out);
		snprintf(what, sizeof(what), "GET %s", k);
		brq.method = "GET";
		brq.key = k;
		brq.small_max = AC_ENTRY_MAX;
		if ((error = perform(s, &brq, call_deadline(s), what)) == 0 &&
		    (brq.status < 200 || brq.status >= 300))
			error = status_fail(s, &brq, what);
		m = brq.small;
		if (error == 0 && m.data == NULL &&
		    (m.data = calloc(1, 1)) == NULL)
			error = arca__error(ARCA_ENOMEM, "out of memory");
		if (error == 0)
			*json_out = m;
		else
			arca_buf_free(&m);
	}
cleanup:
	arca_buf_free(&rq.small);
	return error;
}

static int s3_ac_put2(arca_backend *b, const arca_digest *key,
		const arca_digest *manifest, const arca_manifest *m,
		const arca_put_options *opts)
{
	s3_backend *s = (s3_backend *)b;
	char k[KEY_MAX], sha[ARCA_DIGEST_HEXLEN + 1], expires[32];
	arca_buf json = ARCA_BUF_INIT;
	char *value = NULL;
	size_t value_len;
	source src;
	int error;

	(void)arca__ac_entry_json(&json, manifest, m);
	if ((error = arca__ac_entry_value(&value, &value_len, manifest,
			json.data, json.size)) < 0)
		goto cleanup;
	expires[0] = '\0';
	if (opts != NULL && opts->ttl_s > 0) {
		int64_t now = arca__now();
		uint64_t ttl = opts->ttl_s > (uint64_t)(INT64_MAX - now) ?
			(uint64_t)(INT64_MAX - now) : opts->ttl_s;

		snprintf(expires, sizeof(expires), "%lld",
				(long long)(now + (int64_t)ttl));
	}
	src.mem = (const unsigned char *)value;
	src.fd = -1;
	src.base = 0;
	if ((error = hash_range(sha, &src, 0, value_len, NULL)) < 0)
		goto cleanup;
	make_key(k, s, "ac", key);
	error = put_single(s, k, &src, value_len, sha, expires[0] ? expires :
			NULL, NULL, 0, call_deadline(s));
cleanup:
	free(value);
	arca_buf_free(&json);
	return error;
}

static int s3_ac_put(arca_backend *b, const arca_digest *key,
		const arca_digest *manifest, const arca_manifest *m)
{
	return s3_ac_put2(b, key, manifest, m, NULL);
}

/* DeleteObject (API_DeleteObject.html): 204 whether or not it existed. */
static int s3_ac_remove(arca_backend *b, const arca_digest *key)
{
	s3_backend *s = (s3_backend *)b;
	char k[KEY_MAX], what[KEY_MAX + 8];
	request rq;
	int error;

	memset(&rq, 0, sizeof(rq));
	make_key(k, s, "ac", key);
	snprintf(what, sizeof(what), "DELETE %s", k);
	rq.method = "DELETE";
	rq.key = k;
	error = perform_2xx(s, &rq, call_deadline(s), what);
	arca_buf_free(&rq.small);
	return error;
}

static void free_secret(char *p)
{
	if (p != NULL) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
}

static void s3_free(arca_backend *b)
{
	s3_backend *s = (s3_backend *)b;

	if (s == NULL)
		return;
	if (s->curl != NULL) {
		/* The handle keeps a copy of the password. */
		curl_easy_reset(s->curl);
		curl_easy_cleanup(s->curl);
	}
	free(s->bucket);
	free(s->prefix);
	free(s->base);
	free(s->region);
	free_secret(s->access_key);
	free_secret(s->secret);
	free_secret(s->token);
	free(s);
}

/* ---- the URL ------------------------------------------------------------- */

static int url_invalid(const s3_backend *s, const char *why)
{
	return arca__error(ARCA_EINVAL, "s3 tier URL \"%s\": %s", s->shown, why);
}

static int set_copy(char **field, const char *value, size_t len)
{
	char *copy = malloc(len + 1);

	if (copy == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	memcpy(copy, value, len);
	copy[len] = '\0';
	free(*field);
	*field = copy;
	return 0;
}

/* S3's bucket naming rules (https://docs.aws.amazon.com/AmazonS3/latest/
 * userguide/bucketnamingrules.html), less the rules on IP-like names. */
static int bucket_ok(const char *b)
{
	size_t i, n = strlen(b);

	if (n < 3 || n > 63)
		return 0;
	for (i = 0; i < n; i++) {
		char c = b[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-'))
			return 0;
	}
	return b[0] != '.' && b[0] != '-' && b[n - 1] != '.' &&
		b[n - 1] != '-' && strstr(b, "..") == NULL;
}

/* Segments of A-Z a-z 0-9 . _ - between single slashes (no encoding
 * needed anywhere). */
static int prefix_ok(const char *p)
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

typedef struct query_ctx {
	s3_backend *s;
	char **endpoint, **region;
} query_ctx;

static int query_param(void *ctx, const char *p, size_t name_len,
		const char *value, size_t value_len)
{
	query_ctx *q = ctx;
	char why[160];

	if (name_len == 8 && strncmp(p, "endpoint", 8) == 0)
		return set_copy(q->endpoint, value, value_len);
	if (name_len == 6 && strncmp(p, "region", 6) == 0)
		return set_copy(q->region, value, value_len);
	if (name_len == 8 && strncmp(p, "compress", 8) == 0) {
		if (value_len == 1 && (value[0] == '0' || value[0] == '1')) {
			q->s->url_compress = value[0] == '1';
			return 0;
		}
		return url_invalid(q->s, "compress must be 0 or 1");
	}
	snprintf(why, sizeof(why), "unknown query parameter \"%.*s\" "
			"(known: endpoint, region, compress)", (int)name_len, p);
	return url_invalid(q->s, why);
}

static int parse_query(s3_backend *s, const char *query, char **endpoint,
		char **region)
{
	query_ctx ctx = { s, endpoint, region };

	return arca__url_query_each(query, "s3", s->shown, query_param, &ctx);
}

/* The endpoint: http(s)://HOST[:PORT][/PATH], no query; into s->base
 * with the bucket appended (path-style). */
static int parse_endpoint(s3_backend *s, const char *endpoint)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *norm = NULL, *query = NULL, *user = NULL;
	size_t n;
	int error = 0;

	if (u == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, endpoint, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		error = url_invalid(s, "endpoint is not an http:// or https:// "
				"URL");
		goto cleanup;
	}
	if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		error = url_invalid(s, "endpoint has a query or a userinfo");
		goto cleanup;
	}
	if (curl_url_get(u, CURLUPART_URL, &norm, 0) != CURLUE_OK) {
		error = url_invalid(s, "endpoint is not a URL");
		goto cleanup;
	}
	n = strlen(norm);
	while (n > 0 && norm[n - 1] == '/')
		n--;
	if ((s->base = malloc(n + strlen(s->bucket) + 2)) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	memcpy(s->base, norm, n);
	s->base[n] = '/';
	strcpy(s->base + n + 1, s->bucket);
cleanup:
	curl_free(scheme);
	curl_free(norm);
	curl_free(query);
	curl_free(user);
	curl_url_cleanup(u);
	return error;
}

static int parse_url(s3_backend *s, const char *url,
		const arca_s3_options *opts)
{
	CURLU *u = NULL;
	CURLUcode rc;
	char *host = NULL, *path = NULL, *query = NULL, *fragment = NULL,
	     *user = NULL, *port = NULL, *endpoint = NULL, *region = NULL;
	char why[200];
	const char *r;
	int error = 0;

	if (strncasecmp(url, "s3://", 5) != 0)
		return url_invalid(s, "not an s3:// URL");
	if ((u = curl_url()) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	rc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
	if (rc != CURLUE_OK) {
		snprintf(why, sizeof(why), "%s (expected s3://BUCKET[/PREFIX]"
				"[?endpoint=URL&region=R])",
				curl_url_strerror(rc));
		error = url_invalid(s, why);
		goto cleanup;
	}
	curl_url_get(u, CURLUPART_HOST, &host, 0);
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0);
	curl_url_get(u, CURLUPART_USER, &user, 0);
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	if (fragment != NULL || user != NULL || port != NULL) {
		error = url_invalid(s, "a fragment, userinfo or port is not "
				"allowed (credentials come from the "
				"environment)");
		goto cleanup;
	}
	if (host == NULL || !bucket_ok(host)) {
		error = url_invalid(s, "not a bucket name (3-63 characters: "
				"a-z 0-9 . -)");
		goto cleanup;
	}
	if ((error = set_copy(&s->bucket, host, strlen(host))) < 0)
		goto cleanup;
	{
		const char *p = path ? path : "";
		size_t n;

		while (*p == '/')
			p++;
		n = strlen(p);
		if (n > 0 && p[n - 1] == '/')
			n--;
		if ((error = set_copy(&s->prefix, p, n + 1)) < 0)
			goto cleanup;
		s->prefix[n] = '\0';
		if (n > PREFIX_MAX || !prefix_ok(s->prefix)) {
			error = url_invalid(s, "the prefix may only hold "
					"A-Z a-z 0-9 . _ - between single "
					"slashes");
			goto cleanup;
		}
		if (n > 0) {
			s->prefix[n] = '/';
			s->prefix[n + 1] = '\0';
		}
	}
	if (query != NULL && (error = parse_query(s, query, &endpoint,
			&region)) < 0)
		goto cleanup;
	if (endpoint == NULL && opts->endpoint != NULL &&
	    (error = set_copy(&endpoint, opts->endpoint,
			strlen(opts->endpoint))) < 0)
		goto cleanup;
	r = region ? region : opts->region ? opts->region :
		getenv("AWS_REGION") && *getenv("AWS_REGION") ?
		getenv("AWS_REGION") : getenv("AWS_DEFAULT_REGION") &&
		*getenv("AWS_DEFAULT_REGION") ? getenv("AWS_DEFAULT_REGION") :
		ARCA_S3_REGION_DEFAULT;
	if (r[0] == '\0' || strlen(r) > 64 || strpbrk(r, ":/?#&= ") != NULL) {
		error = url_invalid(s, "not a region name");
		goto cleanup;
	}
	if ((error = set_copy(&s->region, r, strlen(r))) < 0)
		goto cleanup;
	snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", s->region);
	if (endpoint != NULL) {
		s->path_style = 1;
		error = parse_endpoint(s, endpoint);
	} else {
		char base[256];

		/* Virtual-hosted addressing on AWS, path-style for a dotted
		 * name (its TLS certificate covers one label). */
		s->path_style = strchr(s->bucket, '.') != NULL;
		if (!s->path_style)
			snprintf(base, sizeof(base), "https://%s.s3.%s."
					"amazonaws.com", s->bucket, s->region);
		else
			snprintf(base, sizeof(base), "https://s3.%s.amazonaws"
					".com/%s", s->region, s->bucket);
		error = set_copy(&s->base, base, strlen(base));
	}
cleanup:
	curl_free(host);
	curl_free(path);
	curl_free(query);
	curl_free(fragment);
	curl_free(user);
	curl_free(port);
	free(endpoint);
	free(region);
	if (u != NULL)
		curl_url_cleanup(u);
	return error;
}

/* ---- credentials ------------------------------------------------------- */

typedef struct cred_file {
	const char *profile;
	char *key, *secret, *token;
	int error;
} cred_file;

/* inih's handler: the three keys of the profile's section. */
static int on_ini(void *ctx, const char *section, const char *name,
		const char *value)
{
	cred_file *cf = ctx;
	char **field = NULL;

	if (strcmp(section, cf->profile) != 0)
		return 1;
	if (strcmp(name, "aws_access_key_id") == 0)
		field = &cf->key;
	else if (strcmp(name, "aws_secret_access_key") == 0)
		field = &cf->secret;
	else if (strcmp(name, "aws_session_token") == 0)
		field = &cf->token;
	if (field != NULL) {
		free_secret(*field);
		if ((*field = arca__strdup(value)) == NULL)
			cf->error = ARCA_ENOMEM;
	}
	return 1;
}

static int load_credentials(s3_backend *s, const arca_s3_options *opts)
{
	const char *key = opts->access_key_id, *secret = opts->secret_access_key,
	      *token = opts->session_token, *file, *home, *where = "options";
	cred_file cf = { NULL, NULL, NULL, NULL, 0 };
	char path[PATH_MAX];
	int error = 0, rc;

	path[0] = '\0';
	if (key == NULL && getenv("AWS_ACCESS_KEY_ID") &&
	    *getenv("AWS_ACCESS_KEY_ID")) {
		key = getenv("AWS_ACCESS_KEY_ID");
		secret = getenv("AWS_SECRET_ACCESS_KEY");
		token = getenv("AWS_SESSION_TOKEN");
		where = "AWS_ACCESS_KEY_ID";
	}
	if (key == NULL) {
		file = getenv("AWS_SHARED_CREDENTIALS_FILE");
		home = getenv("HOME");
		if (file != NULL && *file)
			snprintf(path, sizeof(path), "%s", file);
		else if (home != NULL && *home)
			snprintf(path, sizeof(path), "%s/.aws/credentials",
					home);
		else
			path[0] = '\0';
		cf.profile = getenv("AWS_PROFILE") && *getenv("AWS_PROFILE") ?
			getenv("AWS_PROFILE") : "default";
		if (path[0] != '\0' && access(path, F_OK) == 0) {
			rc = ini_parse(path, on_ini, &cf);
			if (cf.error < 0) {
				error = arca__error(ARCA_ENOMEM, "out of "
						"memory");
				goto cleanup;
			}
			if (rc != 0) {
				error = arca__error(ARCA_EINVAL, "s3 tier %s: "
						"credentials file %s: %s%d",
						s->shown, path, rc > 0 ?
						"malformed at line " :
						"cannot read (", rc);
				goto cleanup;
			}
			key = cf.key;
			secret = cf.secret;
			token = cf.token;
			where = "the credentials file";
		}
	}
	if (key == NULL || *key == '\0') {
		error = arca__error(ARCA_EINVAL, "s3 tier %s: no credentials "
				"(set AWS_ACCESS_KEY_ID and "
				"AWS_SECRET_ACCESS_KEY, or profile [%s] in "
				"%s)", s->shown, cf.profile ? cf.profile :
				"default", path[0] ? path :
				"~/.aws/credentials");
		goto cleanup;
	}
	if (secret == NULL || *secret == '\0') {
		error = arca__error(ARCA_EINVAL, "s3 tier %s: an access key id "
				"without a secret access key (from %s)",
				s->shown, where);
		goto cleanup;
	}
	if ((s->access_key = arca__strdup(key)) == NULL ||
	    (s->secret = arca__strdup(secret)) == NULL ||
	    (token != NULL && *token &&
	     (s->token = arca__strdup(token)) == NULL)) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	/* A header line cannot carry a line break. */
	if (s->token != NULL && strpbrk(s->token, "\r\n") != NULL)
		error = arca__error(ARCA_EINVAL, "s3 tier %s: the session token "
				"holds a line break", s->shown);
cleanup:
	free_secret(cf.key);
	free_secret(cf.secret);
	free_secret(cf.token);
	return error;
}

/* ---- opening ------------------------------------------------------------ */

/*
 * HeadBucket: a missing bucket, refused credentials or an unreachable
 * endpoint are said here, once: at open, or before the first call of a
 * lazy backend (perform()).
 */
static int probe_bucket(s3_backend *s, int64_t deadline)
{
	request rq;
	int error;

	memset(&rq, 0, sizeof(rq));
	rq.method = "HEAD";
	rq.key = NULL;
	error = perform(s, &rq, deadline, "HEAD bucket");
	if (error == 0 && rq.status == 404)
		error = arca__error(ARCA_ENOTFOUND, "s3 tier %s: bucket "
				"\"%s\" does not exist", s->shown, s->bucket);
	/* AWS answers a request signed for another region with 301
	 * (or 400) and the bucket's region in x-amz-bucket-region
	 * (API_HeadBucket.html). */
	else if (error == 0 && (rq.status == 301 || rq.status == 400) &&
		 rq.bucket_region[0] != '\0' &&
		 strcmp(rq.bucket_region, s->region) != 0)
		error = arca__error(ARCA_EINVAL, "s3 tier %s: bucket "
				"\"%s\" is in region %s, not %s (add "
				"&region=%s to the URL)", s->shown,
				s->bucket, rq.bucket_region, s->region,
				rq.bucket_region);
	else if (error == 0 && (rq.status < 200 || rq.status >= 300))
		error = status_fail(s, &rq, "HEAD bucket");
	arca_buf_free(&rq.small);
	return error;
}

int arca_backend_s3_open(arca_backend **out, const char *url,
		const arca_s3_options *opts)
{
	arca_s3_options defaults = ARCA_S3_OPTIONS_INIT;
	s3_backend *s = NULL;
	int error;

	if (out == NULL || url == NULL)
		return arca__error(ARCA_EINVAL, "s3 tier: no URL");
	*out = NULL;
	if (opts == NULL)
		opts = &defaults;
	/* Version 1 ended before no_compress. */
	if (opts->version != 1 && opts->version != ARCA_S3_OPTIONS_VERSION)
		return arca__error(ARCA_EINVAL, "arca_s3_options version %u is "
				"not supported (expected 1 or %u)",
				opts->version, ARCA_S3_OPTIONS_VERSION);
	if (pthread_once(&curl_once, curl_init_once) != 0 ||
	    curl_init_result != CURLE_OK)
		return arca__error(ARCA_EIO, "libcurl initialisation failed");
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	arca__url_redact(s->shown, sizeof(s->shown), url);
	s->url_compress = -1;
	s->parent.version = ARCA_BACKEND_VERSION;
	s->parent.name = "s3";
	s->parent.blob_get = s3_blob_get;
	s->parent.blob_stat = s3_blob_stat;
	s->parent.blob_put = s3_blob_put;
	s->parent.blob_put_fd = s3_blob_put_fd;
	s->parent.ac_get = s3_ac_get;
	s->parent.ac_put = s3_ac_put;
	s->parent.ac_remove = s3_ac_remove;
	s->parent.free = s3_free;
	s->parent.deadline_ms = 0;
	s->parent.find_missing = s3_find_missing;
	s->parent.ac_get_manifest = s3_ac_get_manifest;
	s->parent.ac_put2 = s3_ac_put2;
	s->part_size = opts->multipart_threshold ? opts->multipart_threshold :
		ARCA_S3_MULTIPART_THRESHOLD_DEFAULT;
	s->connect_timeout_ms = opts->connect_timeout_ms ?
		opts->connect_timeout_ms : ARCA_S3_CONNECT_TIMEOUT_DEFAULT;
	s->timeout_ms = opts->timeout_ms ? opts->timeout_ms :
		ARCA_S3_TIMEOUT_DEFAULT;
	if (s->part_size < ARCA_S3_PART_SIZE_MIN ||
	    s->part_size > ARCA_S3_PUT_SIZE_MAX) {
		error = arca__error(ARCA_EINVAL, "s3 tier %s: multipart "
				"threshold %llu is outside 5 MiB..5 GiB",
				s->shown, (unsigned long long)s->part_size);
		goto cleanup;
	}
	if (opts->access_key_id == NULL && (opts->secret_access_key != NULL ||
			opts->session_token != NULL)) {
		error = arca__error(ARCA_EINVAL, "s3 tier %s: a secret or token "
				"without an access key id", s->shown);
		goto cleanup;
	}
	if ((error = parse_url(s, url, opts)) < 0 ||
	    (error = load_credentials(s, opts)) < 0)
		goto cleanup;
	s->compress = s->url_compress >= 0 ? s->url_compress :
		!(opts->version >= 2 && opts->no_compress);
	if (opts->lazy_connect)
		s->probe_pending = 1;
	else if ((error = probe_bucket(s, call_deadline(s))) < 0)
		goto cleanup;
	*out = &s->parent;
	s = NULL;
	error = 0;
cleanup:
	if (s != NULL)
		s3_free(&s->parent);
	return error;
}
