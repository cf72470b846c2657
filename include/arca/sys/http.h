/*
 * arca — the HTTP tier: an arca_backend (include/arca/sys/backend.h) on
 * another arca over HTTP(S) (`arca serve`, docs/server.md), or on any
 * server that speaks bazel-remote's HTTP cache protocol
 * (github.com/buchgr/bazel-remote, README "HTTP/1.1 REST API"), through
 * libcurl with one kept-alive connection per backend.
 *
 * Most programs add it by URL with arca_store_add_tier_url() (arca.h);
 * this header is for those who want the backend itself, e.g. to set its
 * timeouts.
 *
 * URL (docs/tiers.md, "HTTP tier"):
 *   http[s]://[USER:PASS@ | :TOKEN@]HOST[:PORT][/INSTANCE][?compress=0|1]
 * INSTANCE is segments of A-Z a-z 0-9 . _ - separated by single slashes,
 * sent before every route (bazel-remote and arca serve accept and ignore
 * it). `:TOKEN@` (no user) is sent as `Authorization: Bearer TOKEN`,
 * `USER:PASS@` as `Authorization: Basic` (RFC 7617); both percent-decoded,
 * held in memory only, wiped when the backend is freed, never in a
 * message (arca_errmsg() names the tier by its URL without them).
 *
 * The protocol is chosen on the server's first answer: the backend's first
 * request is `HEAD /[INSTANCE/]v1/blobs/<SHA-256 of no bytes>`; an answer
 * carrying the header `X-Arca-Api: 1` selects arca's /v1 API, any other
 * answer bazel-remote's protocol:
 *
 *                   /v1 (arca serve)              bazel-remote
 *   blob_get        GET /v1/blobs/<hex>           GET /cas/<hex>
 *   blob_stat       HEAD /v1/blobs/<hex>          HEAD /cas/<hex>
 *   blob_put[_fd]   PUT /v1/blobs/<hex>           PUT /cas/<hex>
 *   find_missing    POST /v1/blobs:missing        HEAD /cas/<hex> each
 *   ac_get[_manif.] GET /v1/actions/<key>         GET /ac/<key>
 *   ac_put2         PUT /v1/actions/<key>         PUT /ac/<key>
 *   ac_remove       DELETE /v1/actions?prefix=<key>  DELETE /ac/<key>
 *
 * With /v1 an action entry is the manifest JSON itself (its SHA-256 is
 * the manifest's digest); with bazel-remote it is an opaque value, the
 * manifest's hex digest, "\n", then the manifest's bytes (the encoding of
 * the Redis and S3 tiers), so that a hit is one GET either way.
 *
 * Compression (RFC 8878 frames, RFC 9110 section 8.4): every GET sends
 * `Accept-Encoding: zstd`; an answer with `Content-Encoding: zstd` is
 * decompressed as it arrives (memory bounded by a window of at most
 * 16 MiB), must hold exactly one frame and, when its header declares a
 * size, exactly that many bytes. Uploads are sent as they are unless the
 * server speaks /v1 and compression is on (?compress=1 or
 * opts->compress), then as one zstd frame with `Content-Encoding: zstd`
 * when that is smaller. Off by default (docs/tiers.md, "Compression").
 */
#ifndef ARCA_SYS_HTTP_H
#define ARCA_SYS_HTTP_H

#include "arca/sys/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ARCA_HTTP_OPTIONS_VERSION 1

/** Default connect timeout, in milliseconds. */
#define ARCA_HTTP_CONNECT_TIMEOUT_DEFAULT 1000
/** Default timeout of one method call, in milliseconds. */
#define ARCA_HTTP_TIMEOUT_DEFAULT 10000

/**
 * Options for arca_backend_http_open(). Initialise with
 * ARCA_HTTP_OPTIONS_INIT; fields are only ever appended.
 */
typedef struct arca_http_options {
	unsigned int version;        /* ARCA_HTTP_OPTIONS_VERSION */
	/* Milliseconds to wait for a connection; 0: the default (1000). */
	unsigned int connect_timeout_ms;
	/* Milliseconds one method call may take (all its requests), when
	 * the store gives no earlier deadline (arca_backend.deadline_ms);
	 * 0: the default (10000). */
	unsigned int timeout_ms;
	/* Non-zero: do not send the first request in
	 * arca_backend_http_open(); the first call of the backend sends it
	 * and fails with its outcome (a server that did not answer leaves
	 * it to the next call). */
	int lazy_connect;
	/* Non-zero: upload blobs as zstd frames to a /v1 server (see the
	 * top of this header). The URL's ?compress=0|1 wins over it. */
	int compress;
} arca_http_options;

#define ARCA_HTTP_OPTIONS_INIT { ARCA_HTTP_OPTIONS_VERSION, 0, 0, 0, 0 }

/**
 * Open an HTTP tier.
 *
 * The URL is parsed with libcurl's URL API (curl_url(3)). Unless
 * opts->lazy_connect is set, the first request (the protocol probe, see
 * the top of this header) is sent before returning, so that an
 * unreachable server or refused credentials are reported here, once, as
 * a one-line message (arca_errmsg()) naming the tier by its URL.
 *
 * Method outcomes: HTTP 404 is ARCA_ENOTFOUND; 401 and 403 are ARCA_EPERM;
 * 507 Insufficient Storage and 413 Content Too Large are ARCA_ENOTSTORED
 * (the server declines the blob: it is full of entries it keeps, or the
 * blob is over its size limit; not an error, so a full server does not
 * open the circuit breaker); 409 on an action PUT (the server lacks a
 * blob the manifest names), 5xx and other unexpected answers are ARCA_EIO;
 * a server that cannot be reached or drops the connection is
 * ARCA_EUNAVAILABLE; a call past the earlier of arca_backend.deadline_ms
 * and opts->timeout_ms from its start is ARCA_ETIMEOUT; bytes that do not
 * match their digest, or a damaged zstd answer, are ARCA_ECORRUPT (after
 * the sink got them). blob_get streams to the sink, blob_put_fd from the
 * fd (a pipe is first spooled to an unlinked temp file in $TMPDIR): the
 * fd is read twice, once for the digest that names the blob and once
 * while sending, hashed again (a blob that changed in between is
 * ARCA_EIO, and the server refuses it too). Action entries' TTLs and tags
 * are not sent (they are tier 0's).
 *
 * @param[out] out   the backend (version ARCA_BACKEND_VERSION, name
 *                   "http"); the caller owns it and releases it with
 *                   (*out)->free(*out), or hands it to
 *                   arca_store_add_tier(), which then owns it. NULL on
 *                   error.
 * @param[in]  url   the tier's URL (see the top of this header); copied.
 * @param[in]  opts  options, or NULL for ARCA_HTTP_OPTIONS_INIT; borrowed
 *                   for the call only.
 * @return 0; ARCA_EINVAL (NULL out or url, a malformed URL, a scheme
 *         other than http:// or https://, a bad instance, a fragment, an
 *         unknown query parameter, a credential holding a line break, a
 *         bad options version); ARCA_ENOMEM; and unless lazy_connect:
 *         ARCA_EPERM (credentials refused), ARCA_EUNAVAILABLE,
 *         ARCA_ETIMEOUT, ARCA_EIO.
 */
int arca_backend_http_open(arca_backend **out, const char *url,
		const arca_http_options *opts);

#ifdef __cplusplus
}
#endif

#endif /* ARCA_SYS_HTTP_H */
