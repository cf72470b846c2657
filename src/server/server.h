/*
 * arca serve — the cache server's internal interface (src/server/).
 *
 * One module a file: server.c (libmicrohttpd setup, per-thread store
 * handles, path checks, routing, responses, shutdown), body.c (the
 * upload sink), keyed.c (opaque values under a client's key), bazel.c
 * (bazel-remote's HTTP cache protocol and /status), ccache.c (ccache's
 * HTTP storage layouts), v1.c (arca's /v1 REST API), http_sem.c (RFC
 * 9110 validators, ranges, zstd on CAS blobs), ops.c (/healthz,
 * /readyz, /metrics, /v1/stats, the dashboard), auth.c, tls.c,
 * deadline.c, access_log.c. Like the CLI, the server is a
 * client of the public API only (include/arca/); it never includes
 * src/lib/ headers. docs/server.md documents every route.
 */
#ifndef ARCA_SERVER_H
#define ARCA_SERVER_H

#include "arca/arca.h"

#include <microhttpd.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SRV_MAX_LISTEN 8
/* Longest request path accepted (bytes, without the query). */
#define SRV_MAX_PATH 1024
/* Bodies up to this many bytes are kept in memory, larger ones go to an
 * unlinked temporary file in the store's tmp/. */
#define SRV_BODY_MEM_MAX ((uint64_t)64 * 1024)
#define SRV_DEFAULT_MAX_BLOB_SIZE ((uint64_t)1 << 30)   /* 1 GiB */
#define SRV_DEFAULT_LISTEN "127.0.0.1:8080"  /* bazel-remote's HTTP port */

#if defined(__GNUC__)
#define SRV_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SRV_PRINTF(f, a)
#endif

/* What `arca serve` was asked to do (filled by src/cli/cmd_serve.c). */
typedef struct srv_config {
	const char *listen[SRV_MAX_LISTEN];  /* "ADDR:PORT", "[V6]:PORT" */
	size_t n_listen;
	const char *store_dir;     /* resolved store directory */
	arca_options opts;         /* options every handle is opened with */
	int read_only;             /* refuse PUT and DELETE (405) */
	const char *access_log;    /* file, or NULL: stderr */
	uint64_t max_blob_size;    /* bytes; a larger PUT is 413 */
	unsigned int threads;      /* MHD thread pool size per address */
	unsigned int max_connections;
	unsigned int conn_timeout_s;   /* idle connection cut after this */
	size_t conn_memory_limit;      /* bytes per connection (headers) */
	uint64_t shutdown_timeout_ms;  /* in-flight requests' bound */
	/* Security (docs/server.md "Authentication", "TLS", "Limits"). */
	const char *auth_file;     /* --auth FILE, or NULL: no auth */
	int allow_unauthenticated_reads;
	const char *tls_cert;      /* PEM files, both or neither */
	const char *tls_key;
	unsigned int max_conn_per_ip;  /* 0: no per-address limit */
} srv_config;

/* Run the server until SIGTERM or SIGINT; returns a CLI exit code. */
int srv_run(const srv_config *cfg);

/* ---- the upload sink (body.c) ----------------------------------------- */

typedef struct srv_body {
	EVP_MD_CTX *md;            /* hashes what is kept (not a writer's) */
	int fd;                    /* temp file, -1 while in memory */
	unsigned char *mem;        /* small bodies */
	size_t mem_len;
	uint64_t expected;         /* Content-Length */
	uint64_t received;
	char proc_path[40];        /* /proc/self/fd/N of the temp file */
	arca_blob_writer *writer;  /* a large CAS body, straight to the store */
} srv_body;

#define SRV_BODY_INIT { NULL, -1, NULL, 0, 0, 0, { 0 }, NULL }

/* Start receiving expected bytes; large bodies go to an unlinked file
 * in tmp_dir, or, with blob set, to a blob writer of store (the store
 * hashes them as they arrive and publishes that file at commit: one copy,
 * one hash). 0 or ARCA_E* (EFULL, EIO, ENOMEM, EPERM). */
int srv_body_begin(srv_body *b, arca_store *store, const char *tmp_dir,
		uint64_t expected, int blob);
/* Append and hash bytes; ARCA_EINVAL past expected. */
int srv_body_write(srv_body *b, const void *data, size_t len);
/* The SHA-256 of what was received (once every byte has arrived); not
 * for a body begun with blob (see srv_body_commit). */
int srv_body_finish(srv_body *b, arca_digest *out);
/* Store the received bytes as a blob; its digest through out. */
int srv_body_store(arca_digest *out, srv_body *b, arca_store *store);
/* Store the received bytes as the blob expected, and only if they hash
 * to it: *got is their digest; ARCA_ECORRUPT (nothing stored) when it is
 * not expected, ARCA_EINVAL when bytes are missing. */
int srv_body_commit(arca_digest *got, srv_body *b, arca_store *store,
		const arca_digest *expected);
/* Release memory and the temp file (nothing is left behind). */
void srv_body_free(srv_body *b);

/* ---- requests (server.c) ---------------------------------------------- */

typedef enum srv_method {
	SRV_GET, SRV_HEAD, SRV_PUT, SRV_DELETE, SRV_OTHER
} srv_method;

typedef struct srv_server srv_server;
typedef struct srv_request srv_request;

/* A route's handler: called once, when the whole body (if any) is in.
 * It answers through srv_respond_*() and returns their result. */
typedef enum MHD_Result (*srv_handler)(srv_request *r);

struct srv_request {
	srv_server *srv;
	struct MHD_Connection *conn;
	srv_method method;
	char method_name[16];
	char path[SRV_MAX_PATH + 1];   /* checked, or sanitised for the log */
	uint64_t start_ns;             /* CLOCK_MONOTONIC */
	int status;                    /* answered status, 0 before */
	uint64_t bytes_in, bytes_out;
	/* What the route matched. */
	srv_handler handler;
	const char *route;             /* "bazel.cas", "ccache", ... */
	arca_digest digest;            /* CAS digest, or keyed value's key */
	const char *kv_ns;             /* keyed value: name space (stage) */
	char kv_prefix[SRV_MAX_PATH + 1];  /* ccache's PATH, "" for bazel */
	char kv_key[72];               /* the client's key as in the path */
	int has_body;                  /* a PUT whose body is being read */
	/* Set by a route (v1.c) before the body is read: */
	int read_body;                 /* read a non-PUT's body too (POST) */
	int accept_zstd;               /* Content-Encoding: zstd accepted */
	uint64_t body_limit;           /* bytes on the wire; 0: --max-blob-size */
	srv_body body;
	int body_error;                /* ARCA_E* met while receiving */
	int in_flight;                 /* counted in the server's in-flight */
};

/* The calling thread's store handle, opened on first use; NULL after
 * answering 503 itself when it cannot be opened. */
arca_store *srv_store(srv_request *r);
/* The server's configuration. */
const srv_config *srv_get_config(const srv_server *srv);
/* Bytes of PUT bodies being received now (bazel-remote's ReservedSize). */
uint64_t srv_reserved_bytes(const srv_server *srv);

/* Answer with a one-line text/plain body ("arca serve: ..."). */
enum MHD_Result srv_respond_text(srv_request *r, unsigned int status,
		const char *fmt, ...) SRV_PRINTF(3, 4);
/* Answer with bytes (copied) of the given Content-Type. */
enum MHD_Result srv_respond_bytes(srv_request *r, unsigned int status,
		const void *data, size_t len, const char *content_type);
/* Answer a library failure: 404, 507, 503 or 500 by its code. */
enum MHD_Result srv_respond_error(srv_request *r, int code,
		const char *what);
/* GET: the blob's bytes (sendfile for file blobs, verified); HEAD: its
 * Content-Length only. 404 on a miss. */
enum MHD_Result srv_respond_blob(srv_request *r, arca_store *store,
		const arca_digest *digest);
/* 405 with an Allow header. */
enum MHD_Result srv_respond_method(srv_request *r, const char *allow);
/* Queue resp (destroyed here; NULL is MHD_NO) with the headers every
 * response carries (Server, X-Arca-Api); body_bytes for the log. */
enum MHD_Result srv_queue(srv_request *r, unsigned int status,
		struct MHD_Response *resp, uint64_t body_bytes);

/* ---- HTTP semantics of content-addressed blobs (http_sem.c) ----------- */

/*
 * GET or HEAD of a CAS blob (/v1/blobs/, bazel's /cas/) with RFC 9110's
 * validators, conditional requests, ranges and content coding: ETag,
 * Cache-Control immutable, If-None-Match -> 304, Range -> 206 / 416,
 * Accept-Encoding: zstd -> a zstd stream. 404 on a miss.
 */
enum MHD_Result srv_respond_cas_blob(srv_request *r, arca_store *store,
		const arca_digest *digest);
/* Decode the zstd frame(s) received in `in` into `out` (begun here in
 * tmp_dir, hashed as it is written), at most limit decoded bytes. 0;
 * ARCA_EINVAL (not zstd, truncated: *why says), ARCA_EFULL (over limit:
 * *why says), or another ARCA_E* (I/O). */
int srv_zstd_decode_body(srv_body *out, srv_body *in, const char *tmp_dir,
		uint64_t limit, const char **why);
/* Read a received body (memory or temp file) whole into memory:
 * *data malloc'd, NUL-terminated. 0; ARCA_ENOMEM; ARCA_EIO. */
int srv_body_read_all(char **data, size_t *len, srv_body *b);

/* ---- authentication (auth.c) ------------------------------------------ */

/* What a request's Authorization header grants. */
typedef enum srv_cred {
	SRV_CRED_ABSENT = 0,   /* no Authorization header */
	SRV_CRED_INVALID,      /* one that matches no credential */
	SRV_CRED_READ,         /* a read token */
	SRV_CRED_WRITE         /* a write token or an htpasswd user */
} srv_cred;

typedef struct srv_auth srv_auth;

/* Read --auth FILE. 0, or -1 after a one-line message ("FILE:LINE: ..."
 * for a malformed line; never the token or hash itself). */
int srv_auth_load(srv_auth **out, const char *path);
void srv_auth_free(srv_auth *a);
/* Check the connection's Authorization header (Bearer or Basic);
 * thread-safe. */
srv_cred srv_auth_check(srv_auth *a, struct MHD_Connection *conn);

/* ---- TLS (tls.c) ------------------------------------------------------- */

/* Read and check the PEM certificate and key (the key must be the
 * certificate's). 0 and both PEM texts (free with srv_tls_free), or -1
 * after a one-line message. */
int srv_tls_load(char **cert, char **key, const char *cert_path,
		const char *key_path);
/* Wipe and free a PEM text; NULL is fine. */
void srv_tls_free(char *pem);

/* ---- request-header deadline (deadline.c) ------------------------------ */

typedef struct srv_deadline srv_deadline;

/* Start the watchdog that cuts connections whose request headers take
 * longer than limit_s seconds. 0 or ARCA_ENOMEM. */
int srv_deadline_start(srv_deadline **out, unsigned int limit_s);
/* Stop it (after the daemons are stopped); NULL is fine. */
void srv_deadline_stop(srv_deadline *d);
/* MHD_OPTION_NOTIFY_CONNECTION's callback (cls: the srv_deadline). */
void srv_deadline_notify(void *cls, struct MHD_Connection *conn,
		void **socket_context, enum MHD_ConnectionNotificationCode code);
/* A request's headers are in / a request is finished (NULL d: no-op). */
void srv_deadline_headers_in(srv_deadline *d, struct MHD_Connection *conn);
void srv_deadline_request_done(srv_deadline *d, struct MHD_Connection *conn);

/* ---- keyed values (keyed.c) ------------------------------------------- */

/*
 * Opaque values under a client's key (bazel-remote's AC, ccache's
 * entries): an action entry whose manifest has one output, "value",
 * the blob of the bytes. The action key is SHA-256(ns NUL [prefix NUL]
 * key), which cannot equal an arca action key (those hash an encoding
 * that starts "arca-action\0", docs/action-key.md).
 */
int srv_keyed_key(arca_digest *out, const char *ns, const char *prefix,
		const char *key);
/* Store the request's received body under akey (stage ns). */
int srv_keyed_put(arca_store *store, const arca_digest *akey,
		const char *ns, const char *prefix, const char *key,
		srv_body *body);
/* The value's blob digest and size. ARCA_ENOTFOUND on a miss. */
int srv_keyed_get(arca_digest *value, uint64_t *size, arca_store *store,
		const arca_digest *akey);
int srv_keyed_remove(arca_store *store, const arca_digest *akey);

/* ---- protocols --------------------------------------------------------- */

/* bazel.c: "/status", or /[INSTANCE/](ac|cas)/<sha256>. 1 when the path
 * is the protocol's (r->handler set, or answered 400 already: then *res
 * holds the result), 0 when it is not. */
int srv_bazel_route(srv_request *r, enum MHD_Result *res);
/* v1.c: arca's own REST API, /[INSTANCE/]v1/...; first in the chain. */
int srv_v1_route(srv_request *r, enum MHD_Result *res);
/* ccache.c: /[PREFIX/]XX/REST (subdirs) or /[PREFIX/]KEY (flat). */
int srv_ccache_route(srv_request *r, enum MHD_Result *res);

/* ops.c: /healthz, /readyz, /metrics, /, /[INSTANCE/]v1/stats and
 * GET /[INSTANCE/]v1/actions?recent=N; first in the routing chain. */
int srv_ops_route(srv_request *r, enum MHD_Result *res);
/* ops.c: count a finished request for /metrics (route, status, bytes);
 * called once per request by server.c. Thread-safe (C11 atomics). */
void srv_metrics_count(const srv_request *r);

/* ---- access log (access_log.c) ------------------------------------------ */

int srv_log_open(const char *path);
void srv_log_close(void);
/* One line: time, client, method, path, status, bytes in and out, ms. */
void srv_log_request(const srv_request *r, const char *note);
/* A server message ("arca serve: ...") on stderr. */
void srv_log_msg(const char *fmt, ...) SRV_PRINTF(1, 2);

#endif
