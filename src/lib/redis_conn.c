/*
 * One connection to one Redis server, shared by the Redis tiers
 * (redis.c, redis_cluster.c): the URL, the handshake (AUTH, SELECT), and
 * the reply loop under the call's deadline. See redis_conn.h.
 *
 * The reply loop is hiredis's own (redisBufferWrite, redisBufferRead,
 * redisGetReplyFromReader) with the socket timeout set to what is left of
 * the deadline before each wait. A connection that failed, timed out or
 * was left with replies unread is dropped; one the server closed between
 * calls is found with a non-blocking peek and replaced before it is used.
 */
#include "internal.h"
#include "lazy_lib.h"
#include "redis_conn.h"
#include "tier_url.h"


#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define DB_MAX 1000000

/* ---- messages and outcomes ----------------------------------------- */

int arca__redis_fail(const char *label, int code, const char *what,
		const char *detail)
{
	return arca__error(code, "redis tier %s: %s: %s", label, what, detail);
}

/* The code of an error reply (https://redis.io/docs/reference/
 * protocol-spec/#simple-errors: its first word is its kind). */
int arca__redis_reply_error_code(const char *str)
{
	static const struct { const char *word; int code; } kinds[] = {
		{ "NOAUTH", ARCA_EPERM }, { "WRONGPASS", ARCA_EPERM },
		{ "NOPERM", ARCA_EPERM }, { "READONLY", ARCA_EPERM },
		{ "OOM", ARCA_EFULL }, { "LOADING", ARCA_EUNAVAILABLE },
		{ "MASTERDOWN", ARCA_EUNAVAILABLE },
		{ "BUSY", ARCA_EUNAVAILABLE },
		/* Redis Cluster: the cluster is down, or a slot is in the
		 * middle of a migration (https://redis.io/docs/reference/
		 * cluster-spec/). */
		{ "CLUSTERDOWN", ARCA_EUNAVAILABLE },
		{ "TRYAGAIN", ARCA_EUNAVAILABLE },
	};
	size_t i, n = strcspn(str, " ");

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strlen(kinds[i].word) == n &&
		    strncmp(str, kinds[i].word, n) == 0)
			return kinds[i].code;
	return ARCA_EIO;
}

int arca__redis_reply_fail(const char *label, const char *what,
		const redisReply *reply)
{
	char detail[512];

	if (reply->type == REDIS_REPLY_ERROR)
		return arca__redis_fail(label,
				arca__redis_reply_error_code(reply->str), what,
				reply->str);
	snprintf(detail, sizeof(detail), "unexpected reply of type %d",
			reply->type);
	return arca__redis_fail(label, ARCA_EIO, what, detail);
}

void arca__redis_conn_drop(arca__redis_conn *conn)
{
	if (conn->c != NULL)
		redisFree(conn->c);
	conn->c = NULL;
	conn->pending = 0;
}

void arca__redis_conn_settle(arca__redis_conn *conn)
{
	if (conn->pending > 0)
		arca__redis_conn_drop(conn);
}

void arca__redis_conn_clear(arca__redis_conn *conn)
{
	arca__redis_conn_drop(conn);
	free(conn->host);
	free(conn->path);
	conn->host = conn->path = NULL;
}

/*
 * The connection failed (hiredis set conn->c->err; err_no is errno right
 * after the failing call): drop it and say what happened.
 */
static int transport_fail(arca__redis_conn *conn, arca__redis_call *cl,
		int err_no)
{
	char detail[256];
	int code;

	switch (conn->c->err) {
	case REDIS_ERR_IO:
		if (err_no == EAGAIN || err_no == EWOULDBLOCK ||
		    err_no == ETIMEDOUT) {
			code = ARCA_ETIMEOUT;
			snprintf(detail, sizeof(detail), "no answer within "
					"the call's deadline");
		} else {
			code = ARCA_EUNAVAILABLE;
			snprintf(detail, sizeof(detail), "%s", conn->c->errstr);
		}
		break;
	case REDIS_ERR_EOF:
		code = ARCA_EUNAVAILABLE;
		snprintf(detail, sizeof(detail), "%s", conn->c->errstr);
		break;
	case REDIS_ERR_OOM:
		code = ARCA_ENOMEM;
		snprintf(detail, sizeof(detail), "out of memory");
		break;
	default:
		code = ARCA_EIO;
		snprintf(detail, sizeof(detail), "%s", conn->c->errstr);
		break;
	}
	arca__redis_conn_drop(conn);
	return arca__redis_fail(conn->label, code, cl->what, detail);
}

/* ---- the reply loop --------------------------------------------------- */

/* Socket timeouts to what is left of the deadline; ARCA_ETIMEOUT when
 * nothing is. */
static int set_timeout(arca__redis_conn *conn, arca__redis_call *cl)
{
	int64_t left = cl->deadline - arca__mono_ms();
	struct timeval tv;

	if (left <= 0) {
		arca__redis_conn_drop(conn);
		return arca__redis_fail(conn->label, ARCA_ETIMEOUT, cl->what,
				"the call's deadline passed");
	}
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	if (redisSetTimeout(conn->c, tv) != REDIS_OK)
		return transport_fail(conn, cl, errno);
	return 0;
}

int arca__redis_reply(arca__redis_conn *conn, arca__redis_call *cl,
		redisReply **out)
{
	void *reply = NULL;
	int done = 0, error;

	*out = NULL;
	if (conn->c == NULL || conn->pending == 0)
		return arca__redis_fail(conn->label, ARCA_EIO, cl->what,
				"no reply owed");
	while (!done) {
		if ((error = set_timeout(conn, cl)) < 0)
			return error;
		if (redisBufferWrite(conn->c, &done) != REDIS_OK)
			return transport_fail(conn, cl, errno);
	}
	if (redisGetReplyFromReader(conn->c, &reply) != REDIS_OK)
		return transport_fail(conn, cl, errno);
	while (reply == NULL) {
		if ((error = set_timeout(conn, cl)) < 0)
			return error;
		if (redisBufferRead(conn->c) != REDIS_OK ||
		    redisGetReplyFromReader(conn->c, &reply) != REDIS_OK)
			return transport_fail(conn, cl, errno);
	}
	conn->pending--;
	*out = reply;
	return 0;
}

int arca__redis_append(arca__redis_conn *conn, arca__redis_call *cl,
		int argc, const char **argv, const size_t *len)
{
	if (conn->c == NULL)
		return arca__redis_fail(conn->label, ARCA_EIO, cl->what,
				"not connected");
	if (redisAppendCommandArgv(conn->c, argc, argv, len) != REDIS_OK)
		return transport_fail(conn, cl, errno);
	conn->pending++;
	return 0;
}

/* Whether the server closed the connection since the last call (EOF or
 * an error waiting), or left bytes nobody asked for. */
static int connection_broken(arca__redis_conn *conn)
{
	char byte;
	ssize_t n = recv(conn->c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

	return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
			errno != EINTR);
}

/* Read the reply to a handshake command: a status, or the failure. */
static int handshake_reply(arca__redis_conn *conn, arca__redis_call *cl)
{
	redisReply *reply = NULL;
	int error;

	if ((error = arca__redis_reply(conn, cl, &reply)) < 0)
		return error;
	if (reply->type != REDIS_REPLY_STATUS)
		error = arca__redis_reply_fail(conn->label, cl->what, reply);
	freeReplyObject(reply);
	return error;
}

/* AUTH and SELECT on a new connection, pipelined; PING when asked. */
static int handshake(arca__redis_conn *conn, arca__redis_call *cl, int ping)
{
	const char *argv[3];
	size_t len[3];
	char db[16];
	const char *saved = cl->what;
	int argc, error = 0;

	if (conn->password != NULL) {
		argc = 0;
		argv[argc] = "AUTH";
		len[argc++] = 4;
		if (conn->user != NULL) {
			argv[argc] = conn->user;
			len[argc++] = strlen(conn->user);
		}
		argv[argc] = conn->password;
		len[argc++] = strlen(conn->password);
		if ((error = arca__redis_append(conn, cl, argc, argv, len)) < 0)
			goto cleanup;
	}
	if (conn->db != 0) {
		snprintf(db, sizeof(db), "%d", conn->db);
		argv[0] = "SELECT";
		len[0] = 6;
		argv[1] = db;
		len[1] = strlen(db);
		if ((error = arca__redis_append(conn, cl, 2, argv, len)) < 0)
			goto cleanup;
	}
	if (ping) {
		argv[0] = "PING";
		len[0] = 4;
		if ((error = arca__redis_append(conn, cl, 1, argv, len)) < 0)
			goto cleanup;
	}
	if (conn->password != NULL) {
		cl->what = conn->user ? "AUTH (user and password)" : "AUTH";
		if ((error = handshake_reply(conn, cl)) < 0)
			goto cleanup;
	}
	if (conn->db != 0) {
		cl->what = "SELECT";
		if ((error = handshake_reply(conn, cl)) < 0)
			goto cleanup;
	}
	if (ping) {
		cl->what = "PING";
		error = handshake_reply(conn, cl);
	}
cleanup:
	cl->what = saved;
	/* A refused handshake leaves the connection unusable. */
	if (error < 0)
		arca__redis_conn_drop(conn);
	return error;
}

static int connect_now(arca__redis_conn *conn, arca__redis_call *cl, int ping)
{
	int64_t left = cl->deadline - arca__mono_ms();
	int64_t wait = conn->connect_timeout_ms;
	struct timeval tv;
	char detail[300];
	int err_no;

	if (left <= 0)
		return arca__redis_fail(conn->label, ARCA_ETIMEOUT, "connect",
				"the call's deadline passed");
	if (left < wait)
		wait = left;
	tv.tv_sec = (time_t)(wait / 1000);
	tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
	errno = 0;
	if (conn->unix_socket)
		conn->c = redisConnectUnixWithTimeout(conn->path, tv);
	else
		conn->c = redisConnectWithTimeout(conn->host, conn->port, tv);
	err_no = errno;
	conn->pending = 0;
	if (conn->c == NULL)
		return arca__redis_fail(conn->label, ARCA_ENOMEM, "connect",
				"out of memory");
	if (conn->c->err) {
		/* hiredis sets errno to ETIMEDOUT, but closing the socket
		 * may change errno before it returns. */
		int timed_out = err_no == ETIMEDOUT ||
			strstr(conn->c->errstr, "timed out") != NULL;

		snprintf(detail, sizeof(detail), "%s%s", conn->c->errstr,
				timed_out ? " (connect timeout)" : "");
		arca__redis_conn_drop(conn);
		/* Out of the call's own time: a timeout; out of the connect
		 * timeout: the server cannot be reached. */
		return arca__redis_fail(conn->label, timed_out &&
				wait < conn->connect_timeout_ms ?
				ARCA_ETIMEOUT : ARCA_EUNAVAILABLE, "connect",
				detail);
	}
	/* hiredis 0.14 opens its socket without SOCK_CLOEXEC: a stage
	 * command must not inherit the tier's connection. */
	(void)fcntl(conn->c->fd, F_SETFD, FD_CLOEXEC);
	return handshake(conn, cl, ping);
}

int arca__redis_conn_ready(arca__redis_conn *conn, arca__redis_call *cl,
		int ping)
{
	if (conn->c != NULL && conn->pending == 0 && !connection_broken(conn))
		return 0;
	arca__redis_conn_drop(conn);
	return connect_now(conn, cl, ping);
}

/* ---- one call: deadline, SIGPIPE ------------------------------------ */

int arca__redis_call_begin(arca__redis_call *cl, const char *label,
		const char *what, int64_t deadline_ms, unsigned int timeout_ms)
{
	int64_t now = arca__mono_ms();
	sigset_t block, pending;

	memset(cl, 0, sizeof(*cl));
	cl->what = what;
	cl->deadline = now + (int64_t)timeout_ms;
	if (deadline_ms > 0 && deadline_ms < cl->deadline)
		cl->deadline = deadline_ms;
	sigemptyset(&block);
	sigaddset(&block, SIGPIPE);
	if (pthread_sigmask(SIG_BLOCK, &block, &cl->old_mask) == 0 &&
	    !sigismember(&cl->old_mask, SIGPIPE)) {
		cl->sigpipe_blocked = 1;
		if (sigpending(&pending) == 0)
			cl->sigpipe_pending = sigismember(&pending, SIGPIPE);
	}
	if (cl->deadline <= now)
		return arca__redis_fail(label, ARCA_ETIMEOUT, what,
				"the call's deadline passed");
	return 0;
}

void arca__redis_call_end(arca__redis_call *cl)
{
	sigset_t pending, pipe_set;

	if (!cl->sigpipe_blocked)
		return;
	if (!cl->sigpipe_pending && sigpending(&pending) == 0 &&
	    sigismember(&pending, SIGPIPE)) {
		struct timespec zero = { 0, 0 };

		sigemptyset(&pipe_set);
		sigaddset(&pipe_set, SIGPIPE);
		(void)sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &cl->old_mask, NULL);
	cl->sigpipe_blocked = 0;
}

/* ---- the URL ------------------------------------------------------------ */

void arca__redis_free_secret(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void arca__redis_addr_clear(arca__redis_addr *a)
{
	free(a->host);
	free(a->path);
	free(a->user);
	arca__redis_free_secret(a->password);
	free(a->prefix);
	memset(a, 0, sizeof(*a));
	a->compress = -1;
}

static int url_invalid(const char *shown, const char *why)
{
	return arca__error(ARCA_EINVAL, "redis tier URL \"%s\": %s", shown,
			why);
}

/* A decimal number in [0, max]. */
static int parse_uint(int *out, const char *s, int max)
{
	long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || (v = v * 10 + (*s - '0')) > max)
			return -1;
	}
	*out = (int)v;
	return 0;
}

/* Replace *field with a copy of value (len bytes). */
static int set_field(char **field, const char *value, size_t len)
{
	char *copy = malloc(len + 1);

	if (copy == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	memcpy(copy, value, len);
	copy[len] = '\0';
	arca__redis_free_secret(*field);
	*field = copy;
	return 0;
}

typedef struct query_ctx {
	arca__redis_addr *a;
	const char *shown;
} query_ctx;

/* name=value&... : prefix and compress everywhere; db, user, password
 * for unix sockets (a TCP URL has them in its path and userinfo). */
static int query_param(void *ctx, const char *p, size_t name_len,
		const char *value, size_t value_len)
{
	arca__redis_addr *a = ((query_ctx *)ctx)->a;
	const char *shown = ((query_ctx *)ctx)->shown;
	char why[160];

	if (name_len == 6 && strncmp(p, "prefix", 6) == 0) {
		if (value_len > ARCA__REDIS_PREFIX_MAX)
			return url_invalid(shown, "prefix longer than 256 "
					"bytes");
		return set_field(&a->prefix, value, value_len);
	} else if (name_len == 8 && strncmp(p, "compress", 8) == 0) {
		if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0)
			return url_invalid(shown, "compress is 0 or 1");
		a->compress = value[0] == '1';
	} else if (a->unix_socket && name_len == 2 &&
		   strncmp(p, "db", 2) == 0) {
		if (parse_uint(&a->db, value, DB_MAX) < 0)
			return url_invalid(shown, "db is not a database "
					"number");
	} else if (a->unix_socket && name_len == 4 &&
		   strncmp(p, "user", 4) == 0) {
		return set_field(&a->user, value, value_len);
	} else if (a->unix_socket && name_len == 8 &&
		   strncmp(p, "password", 8) == 0) {
		return set_field(&a->password, value, value_len);
	} else {
		snprintf(why, sizeof(why), "unknown query parameter "
				"\"%.*s\" (known: %s)", (int)name_len, p,
				a->unix_socket ? "prefix, compress, db, "
				"user, password" : "prefix, compress");
		return url_invalid(shown, why);
	}
	return 0;
}

static int parse_query(arca__redis_addr *a, const char *shown,
		const char *query)
{
	query_ctx ctx = { a, shown };

	return arca__url_query_each(query, "redis", shown, query_param, &ctx);
}

/* A part of u, percent-decoded, or NULL when absent. */
static int url_part(char **out, CURLU *u, CURLUPart part, unsigned flags)
{
	char *p = NULL;
	CURLUcode rc = curl_url_get(u, part, &p, flags);

	*out = NULL;
	if (rc == CURLUE_OUT_OF_MEMORY)
		return arca__error(ARCA_ENOMEM, "out of memory");
	if (rc != CURLUE_OK)
		return 0;
	*out = p;
	return 0;
}

int arca__redis_parse_url(arca__redis_addr *a, const char *shown,
		const char *url)
{
	CURLU *u = NULL;
	CURLUcode rc;
	char *file_url = NULL, *host = NULL, *port = NULL, *user = NULL,
	     *password = NULL, *path = NULL, *query = NULL, *fragment = NULL;
	char why[200];
	int error = 0;

	memset(a, 0, sizeof(*a));
	a->compress = -1;
	if (strncasecmp(url, "redis://", 8) == 0) {
		a->unix_socket = 0;
	} else if (strncasecmp(url, "redis+unix://", 13) == 0) {
		a->unix_socket = 1;
	} else {
		error = url_invalid(shown, "not a redis:// or redis+unix:// "
				"URL");
		goto cleanup;
	}
	if ((error = arca__curl_load()) < 0)
		goto cleanup;
	if ((u = curl_url()) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (a->unix_socket) {
		/* libcurl reads an unknown scheme's "///path" as a host;
		 * a unix socket URL has the shape of a file: URL (RFC 8089),
		 * so it is parsed as one. */
		size_t n = strlen(url + 13);

		if ((file_url = malloc(n + 8)) == NULL) {
			error = arca__error(ARCA_ENOMEM, "out of memory");
			goto cleanup;
		}
		memcpy(file_url, "file://", 7);
		memcpy(file_url + 7, url + 13, n + 1);
		rc = curl_url_set(u, CURLUPART_URL, file_url, 0);
	} else {
		rc = curl_url_set(u, CURLUPART_URL, url,
				CURLU_NON_SUPPORT_SCHEME);
	}
	if (rc != CURLUE_OK) {
		snprintf(why, sizeof(why), "%s%s", curl_url_strerror(rc),
				a->unix_socket ? " (expected redis+unix:///"
				"PATH[?db=N])" : "");
		error = url_invalid(shown, why);
		goto cleanup;
	}
	if ((error = url_part(&host, u, CURLUPART_HOST, 0)) < 0 ||
	    (error = url_part(&port, u, CURLUPART_PORT, 0)) < 0 ||
	    (error = url_part(&user, u, CURLUPART_USER, CURLU_URLDECODE)) < 0 ||
	    (error = url_part(&password, u, CURLUPART_PASSWORD,
			CURLU_URLDECODE)) < 0 ||
	    (error = url_part(&path, u, CURLUPART_PATH, CURLU_URLDECODE)) < 0 ||
	    (error = url_part(&query, u, CURLUPART_QUERY, 0)) < 0 ||
	    (error = url_part(&fragment, u, CURLUPART_FRAGMENT, 0)) < 0)
		goto cleanup;
	if (fragment != NULL) {
		error = url_invalid(shown, "a fragment (#...) is not allowed");
		goto cleanup;
	}
	if (a->unix_socket) {
		if (path == NULL || strcmp(path, "/") == 0) {
			error = url_invalid(shown, "no socket path (expected "
					"redis+unix:///PATH[?db=N])");
			goto cleanup;
		}
		if ((error = set_field(&a->path, path, strlen(path))) < 0)
			goto cleanup;
	} else {
		size_t n;

		if (host == NULL || host[0] == '\0') {
			error = url_invalid(shown, "no host");
			goto cleanup;
		}
		/* An IPv6 address comes back in brackets. */
		n = strlen(host);
		if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
			error = set_field(&a->host, host + 1, n - 2);
		else
			error = set_field(&a->host, host, n);
		if (error < 0)
			goto cleanup;
		a->port = 6379;
		if (port != NULL && (parse_uint(&a->port, port, 65535) < 0 ||
				a->port == 0)) {
			error = url_invalid(shown, "port 0 is not a port");
			goto cleanup;
		}
		if (path != NULL && strcmp(path, "/") != 0 && path[0] != '\0' &&
		    parse_uint(&a->db, path + 1, DB_MAX) < 0) {
			error = url_invalid(shown, "the path is not a database "
					"number (/DB)");
			goto cleanup;
		}
		if (user != NULL && user[0] != '\0' &&
		    (error = set_field(&a->user, user, strlen(user))) < 0)
			goto cleanup;
		if (password != NULL && (error = set_field(&a->password,
				password, strlen(password))) < 0)
			goto cleanup;
	}
	if (query != NULL && (error = parse_query(a, shown, query)) < 0)
		goto cleanup;
	if (a->user != NULL && a->password == NULL)
		error = url_invalid(shown, "a user without a password");
cleanup:
	if (password != NULL)
		explicit_bzero(password, strlen(password));
	curl_free(host);
	curl_free(port);
	curl_free(user);
	curl_free(password);
	curl_free(path);
	curl_free(query);
	curl_free(fragment);
	if (u != NULL)
		curl_url_cleanup(u);
	free(file_url);
	return error;
}
