/*
 * arca serve: libmicrohttpd setup, per-thread store handles, path
 * checks, routing, responses and graceful shutdown.
 *
 * One MHD daemon per --listen address, each with its own listening
 * socket and thread pool (MHD_USE_INTERNAL_POLLING_THREAD |
 * MHD_USE_EPOLL, MHD_OPTION_THREAD_POOL_SIZE). A store handle is
 * single-threaded, so every pool thread opens its own handle on its
 * first request (several handles in one process share a store
 * directory safely: libarca's locks are flock(2) locks, which belong to
 * an open file description, not to the process as fcntl locks would;
 * SQLite keeps its own per-inode lock bookkeeping for connections of
 * one process). All handles are closed after the daemons are stopped.
 *
 * Paths are checked on the raw request target, before anything reaches
 * the store: MHD_OPTION_UNESCAPE_CALLBACK is a no-op, so a '%' (and
 * with it %2e%2e, %2f and %00) is refused with 400 instead of being
 * decoded into "..", "/" or NUL; so are "." and ".." segments, empty
 * segments, bytes outside [A-Za-z0-9._~-/:] (':' for /v1/blobs:missing)
 * and paths over SRV_MAX_PATH.
 *
 * Shutdown (SIGTERM, SIGINT): the listening sockets are closed
 * (MHD_quiesce_daemon), requests in flight get shutdown_timeout_ms to
 * finish, then the daemons are stopped (which cuts what is left; an
 * unfinished upload's unlinked temp file goes with its descriptor), the
 * stores are closed and srv_run() returns 0.
 */
#include "server.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct srv_server {
	const srv_config *cfg;
	struct MHD_Daemon *daemons[SRV_MAX_LISTEN];
	size_t n_daemons;
	atomic_long in_flight;
	atomic_ullong reserved;
	srv_auth *auth;            /* --auth, or NULL */
	srv_deadline *deadline;    /* the request-header deadline */
	char *tls_cert, *tls_key;  /* PEM texts, or NULL */
	/* Every handle opened by a pool thread, closed at the end. */
	pthread_mutex_t stores_lock;
	arca_store **stores;
	size_t n_stores, cap_stores;
};

static _Thread_local arca_store *thread_store;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const srv_config *srv_get_config(const srv_server *srv)
{
	return srv->cfg;
}

uint64_t srv_reserved_bytes(const srv_server *srv)
{
	return atomic_load(&((srv_server *)srv)->reserved);
}

arca_store *srv_store(srv_request *r)
{
	srv_server *srv = r->srv;
	arca_store *s = NULL, **grown;
	int error;

	if (thread_store != NULL)
		return thread_store;
	if ((error = arca_store_open(&s, srv->cfg->store_dir,
			&srv->cfg->opts)) < 0) {
		srv_log_msg("store %s: %s", srv->cfg->store_dir,
				arca_errmsg()[0] ? arca_errmsg() :
				arca_strerror(error));
		srv_respond_text(r, MHD_HTTP_SERVICE_UNAVAILABLE,
				"the store cannot be opened");
		return NULL;
	}
	pthread_mutex_lock(&srv->stores_lock);
	if (srv->n_stores == srv->cap_stores) {
		size_t cap = srv->cap_stores ? srv->cap_stores * 2 : 16;

		grown = realloc(srv->stores, cap * sizeof(*grown));
		if (grown == NULL) {
			pthread_mutex_unlock(&srv->stores_lock);
			arca_store_close(s);
			srv_respond_text(r, MHD_HTTP_SERVICE_UNAVAILABLE,
					"out of memory");
			return NULL;
		}
		srv->stores = grown;
		srv->cap_stores = cap;
	}
	srv->stores[srv->n_stores++] = s;
	pthread_mutex_unlock(&srv->stores_lock);
	thread_store = s;
	return s;
}

/* ---- responses ------------------------------------------------------- */

static enum MHD_Result queue(srv_request *r, unsigned int status,
		struct MHD_Response *resp, uint64_t body_bytes)
{
	enum MHD_Result ret;

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Server", "arca/" ARCA_VERSION_STRING);
	/* The http:// tier picks the /v1 API by this header (docs/server.md). */
	MHD_add_response_header(resp, "X-Arca-Api", "1");
	ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES) {
		r->status = (int)status;
		r->bytes_out = r->method == SRV_HEAD ? 0 : body_bytes;
	}
	return ret;
}

enum MHD_Result srv_queue(srv_request *r, unsigned int status,
		struct MHD_Response *resp, uint64_t body_bytes)
{
	return queue(r, status, resp, body_bytes);
}

enum MHD_Result srv_respond_bytes(srv_request *r, unsigned int status,
		const void *data, size_t len, const char *content_type)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, (void *)data,
			MHD_RESPMEM_MUST_COPY);
	if (resp != NULL && content_type != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				content_type);
	return queue(r, status, resp, len);
}

enum MHD_Result srv_respond_text(srv_request *r, unsigned int status,
		const char *fmt, ...)
{
	char text[512];
	va_list ap;
	int n;

	n = snprintf(text, sizeof(text), "arca serve: ");
	va_start(ap, fmt);
	vsnprintf(text + n, sizeof(text) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(text, "\n");
	return srv_respond_bytes(r, status, text, strlen(text),
			"text/plain; charset=utf-8");
}

enum MHD_Result srv_respond_method(srv_request *r, const char *allow)
{
	struct MHD_Response *resp;
	char text[128];

	snprintf(text, sizeof(text), "arca serve: method %s not allowed "
			"here (allowed: %s)\n", r->method_name, allow);
	resp = MHD_create_response_from_buffer(strlen(text), text,
			MHD_RESPMEM_MUST_COPY);
	if (resp != NULL) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; charset=utf-8");
	}
	return queue(r, MHD_HTTP_METHOD_NOT_ALLOWED, resp, strlen(text));
}

enum MHD_Result srv_respond_error(srv_request *r, int code, const char *what)
{
	const char *detail = arca_errmsg()[0] ? arca_errmsg() :
		arca_strerror(code);

	switch (code) {
	case ARCA_ECORRUPT: /* quarantined: a miss, never wrong bytes */
		srv_log_msg("%s %s: %s", r->method_name, r->path, detail);
		/* fall through */
	case ARCA_ENOTFOUND:
		return srv_respond_text(r, MHD_HTTP_NOT_FOUND,
				"%s: not found", what);
	case ARCA_EFULL:
		/* bazel-remote's answer when it cannot make room
		 * (cache/disk/lru.go, Reserve). */
		return srv_respond_text(r, MHD_HTTP_INSUFFICIENT_STORAGE,
				"%s: %s", what, detail);
	case ARCA_EBUSY:
	case ARCA_ETIMEOUT:
	case ARCA_EUNAVAILABLE:
		return srv_respond_text(r, MHD_HTTP_SERVICE_UNAVAILABLE,
				"%s: %s", what, detail);
	case ARCA_EPERM:
		return srv_respond_text(r, MHD_HTTP_FORBIDDEN, "%s: %s",
				what, detail);
	default:
		srv_log_msg("%s %s: %s", r->method_name, r->path, detail);
		return srv_respond_text(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
				"%s: %s", what, detail);
	}
}

static ssize_t no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls; (void)pos; (void)buf; (void)max;
	return MHD_CONTENT_READER_END_OF_STREAM;
}

enum MHD_Result srv_respond_blob(srv_request *r, arca_store *store,
		const arca_digest *digest)
{
	struct MHD_Response *resp;
	arca_buf buf = ARCA_BUF_INIT;
	uint64_t size = 0;
	int fd = -1, error;

	if (r->method == SRV_HEAD) {
		/* RFC 9110 9.3.2: the headers a GET would send, no body. */
		if ((error = arca_blob_stat(&size, store, digest)) < 0)
			return srv_respond_error(r, error, "blob");
		resp = MHD_create_response_from_callback(size, 4096, no_body,
				NULL, NULL);
		if (resp != NULL)
			MHD_add_response_header(resp,
					MHD_HTTP_HEADER_CONTENT_TYPE,
					"application/octet-stream");
		return queue(r, MHD_HTTP_OK, resp, 0);
	}
	/* A file blob: verified, then sent with sendfile(2). */
	if ((error = arca_blob_open(&fd, &size, store, digest)) < 0)
		return srv_respond_error(r, error, "blob");
	if (fd >= 0) {
		resp = MHD_create_response_from_fd64(size, fd);
		if (resp == NULL) {
			close(fd);
			return MHD_NO;
		}
	} else {
		/* Inline (at most the inline threshold) or in a later tier:
		 * read into memory, verified. */
		if ((error = arca_blob_get(&buf, store, digest)) < 0)
			return srv_respond_error(r, error, "blob");
		size = buf.size;
		resp = MHD_create_response_from_buffer(buf.size, buf.data,
				MHD_RESPMEM_MUST_COPY);
		arca_buf_free(&buf);
	}
	if (resp != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/octet-stream");
	return queue(r, MHD_HTTP_OK, resp, size);
}

/* ---- paths ----------------------------------------------------------- */

static void sanitise(char *out, size_t size, const char *in)
{
	size_t o = 0;
	const unsigned char *p;

	for (p = (const unsigned char *)in; *p && o + 5 < size && o < 200;
			p++) {
		if (*p > 0x20 && *p < 0x7f) {
			out[o++] = (char)*p;
		} else {
			snprintf(out + o, size - o, "\\x%02x", *p);
			o += 4;
		}
	}
	if (*p)
		o += (size_t)snprintf(out + o, size - o, "...");
	out[o < size ? o : size - 1] = '\0';
}

/* NULL when the path may be routed, else why it may not. */
static const char *check_path(const char *path)
{
	const char *p, *seg;
	size_t len = strlen(path);

	if (len > SRV_MAX_PATH)
		return "path too long";
	if (path[0] != '/')
		return "path does not start with '/'";
	for (p = path; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '%')
			return "percent-encoded path";
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '~' || c == '-' || c == '/' || c == ':'))
			return "character not allowed in path";
	}
	for (seg = path + 1; ; ) {
		size_t n = strcspn(seg, "/");

		if (n == 0 && seg[0] == '/')
			return "empty path segment";
		if ((n == 1 && seg[0] == '.') ||
				(n == 2 && seg[0] == '.' && seg[1] == '.'))
			return "'.' or '..' in path";
		if (seg[n] == '\0')
			break;
		seg += n + 1;
	}
	return NULL;
}

static size_t no_unescape(void *cls, struct MHD_Connection *c, char *uri)
{
	(void)cls; (void)c;
	return strlen(uri);
}

/* ---- authorisation ---------------------------------------------------- */

/*
 * Checked on a request's first call, once its headers are in and before
 * routing or reading any body: a refused PUT is answered at once, and
 * libmicrohttpd then closes the connection without reading the body
 * (MHD_queue_response on a request in MHD_CONNECTION_HEADERS_PROCESSED:
 * "response was queued early, refuse to read body", connection.c).
 * Probes (/healthz, /readyz) are open; GET and HEAD and the batch
 * question POST /v1/blobs:missing are reads; everything else writes.
 */
static int is_probe(const char *path)
{
	return strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0;
}

static int is_read(const srv_request *r, const char *path)
{
	size_t n = strlen(path), m = strlen("/v1/blobs:missing");

	if (r->method == SRV_GET || r->method == SRV_HEAD)
		return 1;
	return strcmp(r->method_name, "POST") == 0 && n >= m &&
		strcmp(path + n - m, "/v1/blobs:missing") == 0;
}

/* RFC 9110 11.6.1: both schemes this server takes, one challenge each. */
#define SRV_CHALLENGE "Bearer realm=\"arca\", Basic realm=\"arca\""

static enum MHD_Result respond_unauthorised(srv_request *r, const char *why)
{
	struct MHD_Response *resp;
	char text[160];

	snprintf(text, sizeof(text), "arca serve: %s\n", why);
	resp = MHD_create_response_from_buffer(strlen(text), text,
			MHD_RESPMEM_MUST_COPY);
	if (resp != NULL) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				SRV_CHALLENGE);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; charset=utf-8");
	}
	return queue(r, MHD_HTTP_UNAUTHORIZED, resp, strlen(text));
}

/* 1 when the request was answered (401, 403), 0 when it may go on. */
static int authorise(srv_request *r, const char *path, enum MHD_Result *res)
{
	srv_server *srv = r->srv;
	srv_cred cred;
	int read;

	if (srv->auth == NULL || is_probe(path))
		return 0;
	read = is_read(r, path);
	cred = srv_auth_check(srv->auth, r->conn);
	if (cred == SRV_CRED_ABSENT && read &&
			srv->cfg->allow_unauthenticated_reads)
		return 0;
	if (cred == SRV_CRED_ABSENT) {
		*res = respond_unauthorised(r, "authentication required");
		return 1;
	}
	if (cred == SRV_CRED_INVALID) {
		*res = respond_unauthorised(r, "wrong credentials");
		return 1;
	}
	if (!read && cred != SRV_CRED_WRITE) {
		*res = srv_respond_text(r, MHD_HTTP_FORBIDDEN,
				"%s %s: the credentials may read, not write",
				r->method_name, r->path);
		return 1;
	}
	return 0;
}

/* ---- the request cycle ------------------------------------------------ */

static srv_method parse_method(const char *m)
{
	if (strcmp(m, MHD_HTTP_METHOD_GET) == 0)
		return SRV_GET;
	if (strcmp(m, MHD_HTTP_METHOD_HEAD) == 0)
		return SRV_HEAD;
	if (strcmp(m, MHD_HTTP_METHOD_PUT) == 0)
		return SRV_PUT;
	if (strcmp(m, MHD_HTTP_METHOD_DELETE) == 0)
		return SRV_DELETE;
	return SRV_OTHER;
}

/* First call of a PUT: its Content-Length decides where the body goes. */
static enum MHD_Result start_body(srv_request *r)
{
	const srv_config *cfg = r->srv->cfg;
	const char *cl, *te, *ce;
	char *end, *tmp_dir;
	unsigned long long n;
	arca_store *store;
	int error;

	cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
			MHD_HTTP_HEADER_CONTENT_LENGTH);
	te = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
			MHD_HTTP_HEADER_TRANSFER_ENCODING);
	if (cl == NULL || te != NULL) {
		/* bazel-remote needs the size up front too ("PUT without
		 * Content-Length", server/http.go); RFC 9110 15.5.12. */
		return srv_respond_text(r, MHD_HTTP_LENGTH_REQUIRED,
				"%s needs a Content-Length", r->method_name);
	}
	ce = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
			MHD_HTTP_HEADER_CONTENT_ENCODING);
	if (ce != NULL && strcmp(ce, "identity") != 0 &&
			!(r->accept_zstd && strcmp(ce, "zstd") == 0)) {
		/* Not yet: bazel-remote's zstd PUTs (README). Refused rather
		 * than stored as the compressed bytes; RFC 9110 15.5.16. */
		return srv_respond_text(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
				"Content-Encoding '%s' is not supported", ce);
	}
	errno = 0;
	n = strtoull(cl, &end, 10);
	if (cl[0] < '0' || cl[0] > '9' || *end != '\0' || errno != 0)
		return srv_respond_text(r, MHD_HTTP_BAD_REQUEST,
				"bad Content-Length");
	if ((uint64_t)n > (r->body_limit ? r->body_limit :
			cfg->max_blob_size))
		return srv_respond_text(r, MHD_HTTP_CONTENT_TOO_LARGE,
				"body of %llu bytes is over the limit of %llu "
				"bytes%s", n, (unsigned long long)(r->body_limit ?
				r->body_limit : cfg->max_blob_size),
				r->body_limit ? "" : " (--max-blob-size)");
	if ((store = srv_store(r)) == NULL)
		return MHD_YES;
	if ((tmp_dir = malloc(strlen(arca_store_path(store)) + 8)) == NULL)
		return srv_respond_error(r, ARCA_ENOMEM, "upload");
	sprintf(tmp_dir, "%s/tmp", arca_store_path(store));
	error = srv_body_begin(&r->body, store, tmp_dir, (uint64_t)n,
			strcmp(r->route, "bazel.cas") == 0);
	free(tmp_dir);
	if (error < 0)
		return srv_respond_error(r, error, "upload");
	r->has_body = 1;
	atomic_fetch_add(&r->srv->reserved, (unsigned long long)n);
	return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
		const char *url, const char *method, const char *version,
		const char *upload_data, size_t *upload_data_size,
		void **con_cls)
{
	srv_server *srv = cls;
	srv_request *r = *con_cls;
	enum MHD_Result res = MHD_YES;
	const char *why;
	int error;

	(void)version;
	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		srv_body init = SRV_BODY_INIT;

		r->body = init;
		r->srv = srv;
		r->conn = conn;
		r->start_ns = now_ns();
		r->method = parse_method(method);
		snprintf(r->method_name, sizeof(r->method_name), "%s", method);
		r->in_flight = 1;
		atomic_fetch_add(&srv->in_flight, 1);
		*con_cls = r;
		srv_deadline_headers_in(srv->deadline, conn);
		if ((why = check_path(url)) != NULL) {
			sanitise(r->path, sizeof(r->path), url);
			return srv_respond_text(r, MHD_HTTP_BAD_REQUEST,
					"%s: %s", r->path, why);
		}
		snprintf(r->path, sizeof(r->path), "%s", url);
		if (authorise(r, url, &res))
			return res;
		/* ops first: it takes /v1/stats and /v1/actions?recent=,
		 * which v1.c would answer 404. */
		if (!srv_ops_route(r, &res) && !srv_v1_route(r, &res) &&
				!srv_bazel_route(r, &res) &&
				!srv_ccache_route(r, &res))
			return srv_respond_text(r, MHD_HTTP_NOT_FOUND,
					"%s: no such route", r->path);
		if (r->status != 0 || r->handler == NULL)
			return res;
		/* A PUT the route refuses anyway (read-only, /status) is
		 * answered before its body is read. */
		if (r->method == SRV_PUT && (srv->cfg->read_only ||
				strcmp(r->route, "bazel.status") == 0))
			return r->handler(r);
		if (r->method == SRV_PUT || r->read_body)
			return start_body(r);
		return MHD_YES;
	}
	if (r->status != 0) {
		/* Answered before the body: let MHD discard it. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (r->has_body && r->body_error == 0) {
			error = srv_body_write(&r->body, upload_data,
					*upload_data_size);
			if (error < 0)
				r->body_error = error;
		}
		r->bytes_in += *upload_data_size;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->body_error != 0)
		return srv_respond_error(r, r->body_error, "upload");
	return r->handler(r);
}

static void completed(void *cls, struct MHD_Connection *conn,
		void **con_cls, enum MHD_RequestTerminationCode toe)
{
	srv_server *srv = cls;
	srv_request *r = *con_cls;
	const char *note = NULL;

	srv_deadline_request_done(srv->deadline, conn);
	if (r == NULL)
		return;
	switch (toe) {
	case MHD_REQUEST_TERMINATED_COMPLETED_OK:
		break;
	case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
		note = "timeout";
		break;
	case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
		note = "shutdown";
		break;
	case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
		note = "client-aborted";
		break;
	default:
		note = "error";
		break;
	}
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->status != 0 &&
			r->method != SRV_HEAD)
		r->bytes_out = 0; /* not known to have been sent */
	srv_log_request(r, note);
	srv_metrics_count(r);
	if (r->has_body)
		atomic_fetch_sub(&srv->reserved,
				(unsigned long long)r->body.expected);
	/* An unfinished upload's temp file is unlinked: closing frees it. */
	srv_body_free(&r->body);
	if (r->in_flight)
		atomic_fetch_sub(&srv->in_flight, 1);
	free(r);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	srv_log_msg("libmicrohttpd: %s", line);
}

/* ---- listening ------------------------------------------------------- */

/* "ADDR:PORT" or "[V6ADDR]:PORT", numeric only. */
static int parse_listen(struct sockaddr_storage *out, socklen_t *len,
		const char *spec)
{
	char host[128];
	const char *colon, *port;
	struct addrinfo hints, *ai = NULL;
	size_t n;

	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		n = (size_t)(close - spec - 1);
		if (n >= sizeof(host))
			return -1;
		memcpy(host, spec + 1, n);
		host[n] = '\0';
		port = close + 2;
	} else {
		if ((colon = strrchr(spec, ':')) == NULL)
			return -1;
		n = (size_t)(colon - spec);
		if (n == 0 || n >= sizeof(host))
			return -1;
		memcpy(host, spec, n);
		host[n] = '\0';
		port = colon + 1;
	}
	if (port[0] == '\0' || strspn(port, "0123456789") != strlen(port) ||
			strlen(port) > 5 || atoi(port) > 65535)
		return -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL)
		return -1;
	memcpy(out, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static struct MHD_Daemon *start_daemon(srv_server *srv,
		const struct sockaddr_storage *sa)
{
	const srv_config *cfg = srv->cfg;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	struct MHD_OptionItem tls[3] = {
		{ MHD_OPTION_END, 0, NULL }, { MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL }
	};

	if (sa->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (srv->tls_cert != NULL) {
		flags |= MHD_USE_TLS;
		tls[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0,
			srv->tls_cert };
		tls[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0,
			srv->tls_key };
	}
	/* The logger first, so that MHD reports nothing through its own. */
	return MHD_start_daemon(flags, 0, NULL, NULL, handle, srv,
			MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
			MHD_OPTION_ARRAY, tls,
			MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_conn_per_ip,
			MHD_OPTION_NOTIFY_CONNECTION, srv_deadline_notify,
			srv->deadline,
			MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)sa,
			MHD_OPTION_THREAD_POOL_SIZE, cfg->threads,
			MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
			MHD_OPTION_CONNECTION_TIMEOUT, cfg->conn_timeout_s,
			MHD_OPTION_CONNECTION_MEMORY_LIMIT,
			cfg->conn_memory_limit,
			MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
			MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
			MHD_OPTION_END);
}

static void print_bound(struct MHD_Daemon *d, const struct sockaddr_storage *sa,
		const char *scheme)
{
	const union MHD_DaemonInfo *info;
	char host[INET6_ADDRSTRLEN];
	unsigned int port = 0;

	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (info != NULL)
		port = info->port;
	if (sa->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
				host, sizeof(host));
		fprintf(stderr, "arca serve: listening on %s://[%s]:%u\n",
				scheme, host, port);
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
				host, sizeof(host));
		fprintf(stderr, "arca serve: listening on %s://%s:%u\n",
				scheme, host, port);
	}
	fflush(stderr);
}

int srv_run(const srv_config *cfg)
{
	struct sockaddr_storage addrs[SRV_MAX_LISTEN];
	srv_server srv;
	arca_store *check = NULL;
	sigset_t sigs;
	uint64_t deadline;
	size_t i;
	int sig = 0, error, rc = 0;

	memset(&srv, 0, sizeof(srv));
	srv.cfg = cfg;
	atomic_init(&srv.in_flight, 0);
	atomic_init(&srv.reserved, 0);
	pthread_mutex_init(&srv.stores_lock, NULL);
	for (i = 0; i < cfg->n_listen; i++) {
		socklen_t len;

		if (parse_listen(&addrs[i], &len, cfg->listen[i]) < 0) {
			srv_log_msg("--listen '%s': expected ADDR:PORT with a "
					"numeric address, e.g. 127.0.0.1:8080 "
					"or [::1]:8080", cfg->listen[i]);
			return 2;
		}
	}
	/* Credentials and certificates are checked before anything else
	 * is opened: a bad line is a usage error (exit 2). */
	if (cfg->auth_file != NULL &&
			srv_auth_load(&srv.auth, cfg->auth_file) < 0)
		return 2;
	if (cfg->tls_cert != NULL) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			srv_log_msg("--tls-cert: this libmicrohttpd is built "
					"without TLS (GnuTLS) support");
			rc = 2;
			goto stop;
		}
		if (srv_tls_load(&srv.tls_cert, &srv.tls_key, cfg->tls_cert,
				cfg->tls_key) < 0) {
			rc = 2;
			goto stop;
		}
	}
	if (srv_deadline_start(&srv.deadline, cfg->conn_timeout_s) < 0) {
		srv_log_msg("cannot start the header deadline watchdog");
		rc = 5;
		goto stop;
	}
	/* The store opens (or is created) before any client connects. */
	if ((error = arca_store_open(&check, cfg->store_dir, &cfg->opts)) < 0) {
		srv_log_msg("store %s: %s", cfg->store_dir,
				arca_errmsg()[0] ? arca_errmsg() :
				arca_strerror(error));
		rc = 5;
		goto stop;
	}
	arca_store_close(check);
	if (srv_log_open(cfg->access_log) < 0) {
		rc = 5;
		goto stop;
	}
	/* Blocked before the pool threads start, so that they inherit the
	 * mask and the signals reach sigwait() below only. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < cfg->n_listen; i++) {
		struct MHD_Daemon *d = start_daemon(&srv, &addrs[i]);

		if (d == NULL) {
			srv_log_msg("cannot listen on %s%s: %s", cfg->listen[i],
					srv.tls_cert ? " (or GnuTLS refused "
					"--tls-cert/--tls-key)" : "",
					strerror(errno));
			rc = 5;
			goto stop;
		}
		srv.daemons[srv.n_daemons++] = d;
		print_bound(d, &addrs[i], srv.tls_cert ? "https" : "http");
	}
	while (sigwait(&sigs, &sig) != 0)
		;
	srv_log_msg("%s: no new connections; waiting up to %llu ms for %ld "
			"request(s) in flight", sig == SIGTERM ? "SIGTERM" :
			"SIGINT", (unsigned long long)cfg->shutdown_timeout_ms,
			(long)atomic_load(&srv.in_flight));
	for (i = 0; i < srv.n_daemons; i++) {
		MHD_socket s = MHD_quiesce_daemon(srv.daemons[i]);

		if (s != MHD_INVALID_SOCKET)
			close(s);
	}
	deadline = now_ns() + cfg->shutdown_timeout_ms * 1000000u;
	while (atomic_load(&srv.in_flight) > 0 && now_ns() < deadline) {
		struct timespec nap = { 0, 10 * 1000 * 1000 };

		nanosleep(&nap, NULL);
	}
	if (atomic_load(&srv.in_flight) > 0)
		srv_log_msg("%ld request(s) still in flight: cut",
				(long)atomic_load(&srv.in_flight));
stop:
	for (i = 0; i < srv.n_daemons; i++)
		MHD_stop_daemon(srv.daemons[i]);
	/* The pool threads are joined: their handles are unused now. */
	for (i = 0; i < srv.n_stores; i++)
		arca_store_close(srv.stores[i]);
	free(srv.stores);
	pthread_mutex_destroy(&srv.stores_lock);
	srv_deadline_stop(srv.deadline);
	srv_auth_free(srv.auth);
	srv_tls_free(srv.tls_cert);
	srv_tls_free(srv.tls_key);
	if (rc == 0)
		srv_log_msg("stopped");
	srv_log_close();
	return rc;
}
