/*
 * The Redis tier: an arca_backend on one Redis server (hiredis, RESP2:
 * https://redis.io/docs/reference/protocol-spec/). The layout, the URL
 * syntax and the outcomes are documented in include/arca/sys/redis.h and
 * docs/tiers.md.
 *
 * One blocking connection per backend, made when a call finds none. Each
 * call has one deadline (the store's deadline_ms, else timeout_ms from the
 * call's start) that bounds every wait on the socket: the reply loop is
 * hiredis's own (redisBufferWrite, redisBufferRead,
 * redisGetReplyFromReader) with the socket timeout set to what is left
 * before each wait. A connection that failed, timed out or was left with
 * replies unread is dropped; one the server closed between calls is found
 * with a non-blocking peek and replaced before it is used.
 */
#include "internal.h"
#include "tier_url.h"

#include "arca/sys/backend.h"
#include "arca/sys/redis.h"

#include <curl/curl.h>
#include <hiredis.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PREFIX_MAX 256
#define KEY_MAX (PREFIX_MAX + 4 + ARCA_DIGEST_HEXLEN + 1)
/* A TTL longer than this (about 136 years) is capped to it: Redis refuses
 * an expiry that overflows its millisecond clock. */
#define TTL_MAX_S ((uint64_t)1 << 32)
#define DB_MAX 1000000
#define ARGS_MAX 5

typedef struct redis_backend {
	arca_backend parent;
	char shown[1024];        /* the URL without its password */
	int unix_socket;
	char *host;              /* TCP: host name or address */
	int port;
	char *path;              /* unix socket */
	char *user, *password;   /* NULL when absent */
	int db;
	char *prefix;
	uint64_t max_blob_size;
	unsigned int connect_timeout_ms, timeout_ms;
	redisContext *c;
} redis_backend;

/* One method call: its deadline, SIGPIPE blocked, replies owed. */
typedef struct call {
	int64_t deadline;        /* CLOCK_MONOTONIC ms */
	int sigpipe_blocked;     /* we blocked it (restore at the end) */
	int sigpipe_pending;     /* one was pending before the call */
	sigset_t old_mask;
	size_t pending;          /* commands appended, replies not read */
	const char *what;
} call;

/* ---- messages and outcomes ----------------------------------------- */

static int redis_fail(redis_backend *r, int code, const char *what,
		const char *detail)
{
	return arca__error(code, "redis tier %s: %s: %s", r->shown, what,
			detail);
}

/* The code of an error reply (https://redis.io/docs/reference/
 * protocol-spec/#simple-errors: its first word is its kind). */
static int reply_error_code(const char *str)
{
	static const struct { const char *word; int code; } kinds[] = {
		{ "NOAUTH", ARCA_EPERM }, { "WRONGPASS", ARCA_EPERM },
		{ "NOPERM", ARCA_EPERM }, { "READONLY", ARCA_EPERM },
		{ "OOM", ARCA_EFULL }, { "LOADING", ARCA_EUNAVAILABLE },
		{ "MASTERDOWN", ARCA_EUNAVAILABLE },
		{ "BUSY", ARCA_EUNAVAILABLE },
	};
	size_t i, n = strcspn(str, " ");

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strlen(kinds[i].word) == n &&
		    strncmp(str, kinds[i].word, n) == 0)
			return kinds[i].code;
	return ARCA_EIO;
}

/* An unexpected reply: an error reply, or a type the command never
 * answers. */
static int reply_fail(redis_backend *r, const char *what,
		const redisReply *reply)
{
	char detail[512];

	if (reply->type == REDIS_REPLY_ERROR)
		return redis_fail(r, reply_error_code(reply->str), what,
				reply->str);
	snprintf(detail, sizeof(detail), "unexpected reply of type %d",
			reply->type);
	return redis_fail(r, ARCA_EIO, what, detail);
}

static void drop_connection(redis_backend *r)
{
	if (r->c != NULL)
		redisFree(r->c);
	r->c = NULL;
}

/*
 * The connection failed (hiredis set r->c->err; err_no is errno right
 * after the failing call): drop it and say what happened.
 */
static int transport_fail(redis_backend *r, call *cl, int err_no)
{
	char detail[256];
	int code;

	switch (r->c->err) {
	case REDIS_ERR_IO:
		if (err_no == EAGAIN || err_no == EWOULDBLOCK ||
		    err_no == ETIMEDOUT) {
			code = ARCA_ETIMEOUT;
			snprintf(detail, sizeof(detail), "no answer within "
					"the call's deadline");
		} else {
			code = ARCA_EUNAVAILABLE;
			snprintf(detail, sizeof(detail), "%s", r->c->errstr);
		}
		break;
	case REDIS_ERR_EOF:
		code = ARCA_EUNAVAILABLE;
		snprintf(detail, sizeof(detail), "%s", r->c->errstr);
		break;
	case REDIS_ERR_OOM:
		code = ARCA_ENOMEM;
		snprintf(detail, sizeof(detail), "out of memory");
		break;
	default:
		code = ARCA_EIO;
		snprintf(detail, sizeof(detail), "%s", r->c->errstr);
		break;
	}
	drop_connection(r);
	cl->pending = 0;
	return redis_fail(r, code, cl->what, detail);
}

/* ---- one call: deadline, SIGPIPE, the reply loop ------------------- */

/* Socket timeouts to what is left of the deadline; ARCA_ETIMEOUT when
 * nothing is. */
static int set_timeout(redis_backend *r, call *cl)
{
	int64_t left = cl->deadline - arca__mono_ms();
	struct timeval tv;

	if (left <= 0) {
		drop_connection(r);
		cl->pending = 0;
		return redis_fail(r, ARCA_ETIMEOUT, cl->what,
				"the call's deadline passed");
	}
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	if (redisSetTimeout(r->c, tv) != REDIS_OK)
		return transport_fail(r, cl, errno);
	return 0;
}

/* Read the next reply (sending what is buffered first). */
static int call_reply(redis_backend *r, call *cl, redisReply **out)
{
	void *reply = NULL;
	int done = 0, error;

	*out = NULL;
	if (r->c == NULL || cl->pending == 0)
		return redis_fail(r, ARCA_EIO, cl->what, "no reply owed");
	while (!done) {
		if ((error = set_timeout(r, cl)) < 0)
			return error;
		if (redisBufferWrite(r->c, &done) != REDIS_OK)
			return transport_fail(r, cl, errno);
	}
	if (redisGetReplyFromReader(r->c, &reply) != REDIS_OK)
		return transport_fail(r, cl, errno);
	while (reply == NULL) {
		if ((error = set_timeout(r, cl)) < 0)
			return error;
		if (redisBufferRead(r->c) != REDIS_OK ||
		    redisGetReplyFromReader(r->c, &reply) != REDIS_OK)
			return transport_fail(r, cl, errno);
	}
	cl->pending--;
	*out = reply;
	return 0;
}

static int call_append(redis_backend *r, call *cl, int argc,
		const char **argv, const size_t *len)
{
	if (redisAppendCommandArgv(r->c, argc, argv, len) != REDIS_OK)
		return transport_fail(r, cl, errno);
	cl->pending++;
	return 0;
}

/* One command, one reply. */
static int call_command(redis_backend *r, call *cl, redisReply **out,
		int argc, const char **argv, const size_t *len)
{
	int error;

	*out = NULL;
	if ((error = call_append(r, cl, argc, argv, len)) < 0)
		return error;
	return call_reply(r, cl, out);
}

/* Whether the server closed the connection since the last call (EOF or
 * an error waiting), or left bytes nobody asked for. */
static int connection_broken(redis_backend *r)
{
	char byte;
	ssize_t n = recv(r->c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

	return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
			errno != EINTR);
}

/* AUTH and SELECT on a new connection, pipelined; PING when asked. */
static int handshake(redis_backend *r, call *cl, int ping)
{
	const char *argv[ARGS_MAX];
	size_t len[ARGS_MAX];
	char db[16];
	redisReply *reply = NULL;
	const char *saved = cl->what;
	int argc, error = 0;

	if (r->password != NULL) {
		argc = 0;
		argv[argc] = "AUTH";
		len[argc++] = 4;
		if (r->user != NULL) {
			argv[argc] = r->user;
			len[argc++] = strlen(r->user);
		}
		argv[argc] = r->password;
		len[argc++] = strlen(r->password);
		if ((error = call_append(r, cl, argc, argv, len)) < 0)
			return error;
	}
	if (r->db != 0) {
		snprintf(db, sizeof(db), "%d", r->db);
		argv[0] = "SELECT";
		len[0] = 6;
		argv[1] = db;
		len[1] = strlen(db);
		if ((error = call_append(r, cl, 2, argv, len)) < 0)
			return error;
	}
	if (ping) {
		argv[0] = "PING";
		len[0] = 4;
		if ((error = call_append(r, cl, 1, argv, len)) < 0)
			return error;
	}
	if (r->password != NULL) {
		cl->what = r->user ? "AUTH (user and password)" : "AUTH";
		if ((error = call_reply(r, cl, &reply)) < 0)
			goto cleanup;
		if (reply->type != REDIS_REPLY_STATUS) {
			error = reply_fail(r, cl->what, reply);
			goto cleanup;
		}
		freeReplyObject(reply);
		reply = NULL;
	}
	if (r->db != 0) {
		cl->what = "SELECT";
		if ((error = call_reply(r, cl, &reply)) < 0)
			goto cleanup;
		if (reply->type != REDIS_REPLY_STATUS) {
			error = reply_fail(r, cl->what, reply);
			goto cleanup;
		}
		freeReplyObject(reply);
		reply = NULL;
	}
	if (ping) {
		cl->what = "PING";
		if ((error = call_reply(r, cl, &reply)) < 0)
			goto cleanup;
		if (reply->type != REDIS_REPLY_STATUS)
			error = reply_fail(r, cl->what, reply);
	}
cleanup:
	if (reply != NULL)
		freeReplyObject(reply);
	cl->what = saved;
	/* A refused handshake leaves the connection unusable. */
	if (error < 0)
		drop_connection(r);
	cl->pending = 0;
	return error;
}

static int connect_now(redis_backend *r, call *cl, int ping)
{
	int64_t left = cl->deadline - arca__mono_ms();
	int64_t wait = r->connect_timeout_ms;
	struct timeval tv;
	char detail[300];
	int err_no;

	if (left <= 0)
		return redis_fail(r, ARCA_ETIMEOUT, "connect",
				"the call's deadline passed");
	if (left < wait)
		wait = left;
	tv.tv_sec = (time_t)(wait / 1000);
	tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
	errno = 0;
	if (r->unix_socket)
		r->c = redisConnectUnixWithTimeout(r->path, tv);
	else
		r->c = redisConnectWithTimeout(r->host, r->port, tv);
	err_no = errno;
	if (r->c == NULL)
		return redis_fail(r, ARCA_ENOMEM, "connect", "out of memory");
	if (r->c->err) {
		/* hiredis sets errno to ETIMEDOUT, but closing the socket
		 * may change errno before it returns. */
		int timed_out = err_no == ETIMEDOUT ||
			strstr(r->c->errstr, "timed out") != NULL;

		snprintf(detail, sizeof(detail), "%s%s", r->c->errstr,
				timed_out ? " (connect timeout)" : "");
		drop_connection(r);
		/* Out of the call's own time: a timeout; out of the connect
		 * timeout: the server cannot be reached. */
		return redis_fail(r, timed_out && wait < r->connect_timeout_ms ?
				ARCA_ETIMEOUT : ARCA_EUNAVAILABLE, "connect",
				detail);
	}
	return handshake(r, cl, ping);
}

/*
 * Start a call: its deadline, SIGPIPE blocked in this thread (hiredis
 * write(2)s to the socket: a server gone away must not kill the process;
 * libpq's pq_block_sigpipe() does the same), a live connection.
 */
static int call_begin(redis_backend *r, call *cl, const char *what, int ping)
{
	int64_t now = arca__mono_ms();
	sigset_t block, pending;

	memset(cl, 0, sizeof(*cl));
	cl->what = what;
	cl->deadline = now + (int64_t)r->timeout_ms;
	if (r->parent.deadline_ms > 0 && r->parent.deadline_ms < cl->deadline)
		cl->deadline = r->parent.deadline_ms;
	sigemptyset(&block);
	sigaddset(&block, SIGPIPE);
	if (pthread_sigmask(SIG_BLOCK, &block, &cl->old_mask) == 0 &&
	    !sigismember(&cl->old_mask, SIGPIPE)) {
		cl->sigpipe_blocked = 1;
		if (sigpending(&pending) == 0)
			cl->sigpipe_pending = sigismember(&pending, SIGPIPE);
	}
	if (cl->deadline <= now)
		return redis_fail(r, ARCA_ETIMEOUT, what,
				"the call's deadline passed");
	if (r->c != NULL && connection_broken(r))
		drop_connection(r);
	if (r->c == NULL)
		return connect_now(r, cl, ping);
	return 0;
}

static void call_end(redis_backend *r, call *cl)
{
	sigset_t pending, pipe_set;

	/* Replies left unread would answer the next call's commands. */
	if (cl->pending > 0)
		drop_connection(r);
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
}

/* ---- keys -------------------------------------------------------------- */

/* prefix + kind + hex digest into key (KEY_MAX bytes); its length. */
static size_t make_key(char *key, const redis_backend *r, const char *kind,
		const arca_digest *d)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];
	int n;

	arca_digest_to_hex(hex, d);
	n = snprintf(key, KEY_MAX, "%s%s:%s", r->prefix, kind, hex);
	return (size_t)n;
}

/* ---- blobs ------------------------------------------------------------ */

static int redis_blob_get(arca_backend *b, const arca_digest *digest,
		arca_sink_fn sink, void *ctx)
{
	redis_backend *r = (redis_backend *)b;
	char key[KEY_MAX], what[KEY_MAX + 8];
	const char *argv[2] = { "GET", key };
	size_t len[2] = { 3, 0 };
	redisReply *reply = NULL;
	arca_digest actual;
	call cl;
	int error;

	len[1] = make_key(key, r, "cas", digest);
	snprintf(what, sizeof(what), "GET %s", key);
	if ((error = call_begin(r, &cl, what, 0)) < 0)
		goto cleanup;
	if ((error = call_command(r, &cl, &reply, 2, argv, len)) < 0)
		goto cleanup;
	if (reply->type == REDIS_REPLY_NIL) {
		error = redis_fail(r, ARCA_ENOTFOUND, what, "not found");
		goto cleanup;
	}
	if (reply->type != REDIS_REPLY_STRING) {
		error = reply_fail(r, what, reply);
		goto cleanup;
	}
	if ((error = arca_digest_buffer(&actual, reply->str,
			reply->len)) < 0)
		goto cleanup;
	if (!arca_digest_equal(&actual, digest)) {
		redisReply *del = NULL;

		/* Forget the wrong bytes, so that find_missing reports the
		 * blob missing and the next write-through stores it again. */
		argv[0] = "DEL";
		len[0] = 3;
		if (call_command(r, &cl, &del, 2, argv, len) == 0)
			freeReplyObject(del);
		error = redis_fail(r, ARCA_ECORRUPT, what, "the bytes do not "
				"match the digest (deleted)");
		goto cleanup;
	}
	error = sink(ctx, reply->len ? reply->str : "", reply->len);
cleanup:
	if (reply != NULL)
		freeReplyObject(reply);
	call_end(r, &cl);
	return error;
}

static int redis_blob_stat(arca_backend *b, const arca_digest *digest,
		uint64_t *size_out)
{
	redis_backend *r = (redis_backend *)b;
	char key[KEY_MAX], what[KEY_MAX + 16];
	const char *argv[2] = { "EXISTS", key };
	size_t len[2] = { 6, 0 };
	redisReply *exists = NULL, *strlen_reply = NULL;
	call cl;
	int error;

	len[1] = make_key(key, r, "cas", digest);
	snprintf(what, sizeof(what), "EXISTS/STRLEN %s", key);
	if ((error = call_begin(r, &cl, what, 0)) < 0)
		goto cleanup;
	/* An empty blob is an empty string: STRLEN alone cannot tell it
	 * from a missing key. */
	if ((error = call_append(r, &cl, 2, argv, len)) < 0)
		goto cleanup;
	argv[0] = "STRLEN";
	if ((error = call_append(r, &cl, 2, argv, len)) < 0 ||
	    (error = call_reply(r, &cl, &exists)) < 0 ||
	    (error = call_reply(r, &cl, &strlen_reply)) < 0)
		goto cleanup;
	if (exists->type != REDIS_REPLY_INTEGER) {
		error = reply_fail(r, what, exists);
		goto cleanup;
	}
	if (exists->integer == 0) {
		error = redis_fail(r, ARCA_ENOTFOUND, what, "not found");
		goto cleanup;
	}
	if (strlen_reply->type != REDIS_REPLY_INTEGER ||
	    strlen_reply->integer < 0) {
		error = reply_fail(r, what, strlen_reply);
		goto cleanup;
	}
	if (size_out != NULL)
		*size_out = (uint64_t)strlen_reply->integer;
cleanup:
	if (exists != NULL)
		freeReplyObject(exists);
	if (strlen_reply != NULL)
		freeReplyObject(strlen_reply);
	call_end(r, &cl);
	return error;
}

static int redis_blob_put(arca_backend *b, arca_digest *out,
		const void *data, size_t len)
{
	redis_backend *r = (redis_backend *)b;
	char key[KEY_MAX], what[KEY_MAX + 8], detail[96];
	const char *argv[3] = { "SET", key, data ? data : "" };
	size_t lens[3] = { 3, 0, len };
	redisReply *reply = NULL;
	arca_digest d;
	call cl;
	int error;

	if ((uint64_t)len > r->max_blob_size) {
		snprintf(detail, sizeof(detail), "%zu bytes, over the tier's "
				"max blob size (%llu)", len,
				(unsigned long long)r->max_blob_size);
		return redis_fail(r, ARCA_ENOTSTORED, "blob put", detail);
	}
	if ((error = arca_digest_buffer(&d, data, len)) < 0)
		return error;
	lens[1] = make_key(key, r, "cas", &d);
	snprintf(what, sizeof(what), "SET %s", key);
	if ((error = call_begin(r, &cl, what, 0)) < 0)
		goto cleanup;
	if ((error = call_command(r, &cl, &reply, 3, argv, lens)) < 0)
		goto cleanup;
	if (reply->type != REDIS_REPLY_STATUS) {
		error = reply_fail(r, what, reply);
		goto cleanup;
	}
	if (out != NULL)
		*out = d;
cleanup:
	if (reply != NULL)
		freeReplyObject(reply);
	call_end(r, &cl);
	return error;
}

static int redis_blob_put_fd(arca_backend *b, arca_digest *out,
		uint64_t *size_out, int fd)
{
	redis_backend *r = (redis_backend *)b;
	unsigned char *buf = NULL, *p;
	size_t len = 0, cap = 0;
	uint64_t limit = r->max_blob_size;
	struct stat st;
	char detail[96];
	int error = 0;

	/* Never more than max_blob_size + 1 bytes in memory: one more than
	 * the limit tells that the blob is over it. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		if ((uint64_t)st.st_size > limit)
			goto over;
		cap = (size_t)st.st_size + 1;
	} else {
		cap = 65536;
	}
	if (cap > limit + 1)
		cap = (size_t)limit + 1;
	if ((buf = malloc(cap)) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			if (len > limit)
				goto over;
			cap = cap > (limit + 1) / 2 ? (size_t)limit + 1 : cap * 2;
			if ((p = realloc(buf, cap)) == NULL) {
				error = arca__error(ARCA_ENOMEM, "out of memory");
				goto cleanup;
			}
			buf = p;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error = arca__error_errno(errno, "read", "blob fd");
			goto cleanup;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > limit)
		goto over;
	if ((error = redis_blob_put(b, out, buf, len)) == 0 && size_out)
		*size_out = len;
	goto cleanup;
over:
	snprintf(detail, sizeof(detail), "over the tier's max blob size "
			"(%llu bytes)", (unsigned long long)limit);
	error = redis_fail(r, ARCA_ENOTSTORED, "blob put", detail);
cleanup:
	free(buf);
	return error;
}

static int redis_find_missing(arca_backend *b, unsigned char *missing_out,
		const arca_digest *digests, size_t n)
{
	redis_backend *r = (redis_backend *)b;
	char key[KEY_MAX], what[64];
	const char *argv[2] = { "EXISTS", key };
	size_t len[2] = { 6, 0 }, i;
	redisReply *reply = NULL;
	call cl;
	int error;

	snprintf(what, sizeof(what), "EXISTS of %zu blobs", n);
	if ((error = call_begin(r, &cl, what, 0)) < 0)
		goto cleanup;
	/* One pipeline (https://redis.io/docs/manual/pipelining/): EXISTS
	 * with several keys would count them, not say which. */
	for (i = 0; i < n; i++) {
		len[1] = make_key(key, r, "cas", &digests[i]);
		if ((error = call_append(r, &cl, 2, argv, len)) < 0)
			goto cleanup;
	}
	for (i = 0; i < n; i++) {
		if ((error = call_reply(r, &cl, &reply)) < 0)
			goto cleanup;
		if (reply->type != REDIS_REPLY_INTEGER) {
			error = reply_fail(r, what, reply);
			goto cleanup;
		}
		missing_out[i] = reply->integer == 0;
		freeReplyObject(reply);
		reply = NULL;
	}
cleanup:
	if (reply != NULL)
		freeReplyObject(reply);
	call_end(r, &cl);
	return error;
}

/* ---- the action cache -------------------------------------------------- */

/* An entry's value: the manifest digest in hex, "\n", the manifest's
 * bytes (possibly none). */
static int parse_entry(redis_backend *r, const char *what,
		arca_digest *md, const char *value, size_t len)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	if (len < ARCA_DIGEST_HEXLEN)
		return redis_fail(r, ARCA_EIO, what, "not an action entry");
	memcpy(hex, value, ARCA_DIGEST_HEXLEN);
	hex[ARCA_DIGEST_HEXLEN] = '\0';
	if (arca_digest_from_hex(md, hex) < 0 ||
	    (len > ARCA_DIGEST_HEXLEN && value[ARCA_DIGEST_HEXLEN] != '\n'))
		return redis_fail(r, ARCA_EIO, what, "not an action entry");
	return 0;
}

static int redis_ac_get(arca_backend *b, const arca_digest *key,
		arca_digest *manifest_out)
{
	redis_backend *r = (redis_backend *)b;
	char k[KEY_MAX], what[KEY_MAX + 16];
	const char *argv[4] = { "GETRANGE", k, "0", "63" };
	size_t len[4] = { 8, 0, 1, 2 };
	redisReply *reply = NULL;
	call cl;
	int error;

	len[1] = make_key(k, r, "ac", key);
	snprintf(what, sizeof(what), "GETRANGE %s", k);
	if ((error = call_begin(r, &cl, what, 0)) < 0)
		goto cleanup;
	if ((error = call_command(r, &cl, &reply, 4, argv, len)) < 0)
		goto cleanup;
	if (reply->type != REDIS_REPLY_STRING) {
		error = reply_fail(r, what, reply);
		goto cleanup;
	}
	/* GETRANGE answers "" for a missing key. */
	if (reply->len == 0) {
		error = redis_fail(r, ARCA_ENOTFOUND, what, "not found");
		goto cleanup;
	}
	error = parse_entry(r, what, manifest_out, reply->str, reply->len);
cleanup:
	if (reply != NULL)
		freeReplyObject(reply);
	call_end(r, &cl);
	return error;
}

static int copy_to_buf(arca_buf *out, const char *data, size_t len)
{
	if ((out->data = malloc(len + 1)) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	if (len > 0)
		memcpy(out->data, data, len);
	out->data[len] = '\0';
	out->size = len;
	return 0;
}

static int redis_ac_get_manifest(arca_backend *b, arca_digest *manifest_out,
		arca_buf *json_out, const arca_digest *key)
{
	redis_backend *r = (redis_backend *)b;
	char k[KEY_MAX], what[KEY_MAX + 8];
	const char *argv[2] = { "GET", k };
	size_t len[2] = { 3, 0 };
	redisReply *reply = NULL;
	call cl;
	int error;

	json_out->data = NULL;
	json_out->size = 0;
	len[1] = make_key(k, r, "ac", key);
	snprintf(what, sizeof(what), "GET %s", k);
	if ((error = call_begin(r, &cl, what, 0)) < 0)
		goto cleanup;
	if ((error = call_command(r, &cl, &reply, 2, argv, len)) < 0)
		goto cleanup;
	if (reply->type == REDIS_REPLY_NIL) {
		error = redis_fail(r, ARCA_ENOTFOUND, what, "not found");
		goto cleanup;
	}
	if (reply->type != REDIS_REPLY_STRING) {
		error = reply_fail(r, what, reply);
		goto cleanup;
	}
	if ((error = parse_entry(r, what, manifest_out, reply->str,
			reply->len)) < 0)
		goto cleanup;
	if (reply->len > ARCA_DIGEST_HEXLEN + 1) {
		error = copy_to_buf(json_out, reply->str + ARCA_DIGEST_HEXLEN + 1,
				reply->len - ARCA_DIGEST_HEXLEN - 1);
		goto cleanup;
	}
	/* An entry without the manifest's bytes: the manifest blob. */
	freeReplyObject(reply);
	reply = NULL;
	len[1] = make_key(k, r, "cas", manifest_out);
	snprintf(what, sizeof(what), "GET %s", k);
	cl.what = what;
	if ((error = call_command(r, &cl, &reply, 2, argv, len)) < 0)
		goto cleanup;
	if (reply->type == REDIS_REPLY_NIL) {
		error = redis_fail(r, ARCA_ENOTFOUND, what, "not found");
		goto cleanup;
	}
	if (reply->type != REDIS_REPLY_STRING) {
		error = reply_fail(r, what, reply);
		goto cleanup;
	}
	error = copy_to_buf(json_out, reply->str, reply->len);
cleanup:
	if (reply != NULL)
		freeReplyObject(reply);
	call_end(r, &cl);
	return error;
}

static int redis_ac_put2(arca_backend *b, const arca_digest *key,
		const arca_digest *manifest, const arca_manifest *m,
		const arca_put_options *opts)
{
	redis_backend *r = (redis_backend *)b;
	char k[KEY_MAX], what[KEY_MAX + 8], ttl[24];
	const char *argv[5] = { "SET", k, NULL, "EX", ttl };
	size_t len[5] = { 3, 0, 0, 2, 0 };
	arca_buf json = ARCA_BUF_INIT;
	redisReply *reply = NULL;
	arca_digest actual;
	char *value = NULL;
	size_t value_len = ARCA_DIGEST_HEXLEN + 1;
	int argc = 3, error;
	call cl;

	memset(&cl, 0, sizeof(cl));
	/* The manifest's bytes travel with the entry when m serialises to
	 * exactly the blob named (it does: the store wrote that blob from
	 * m); otherwise the entry names the blob only. */
	if (m != NULL && arca_manifest_to_json(&json, m) == 0 &&
	    arca_digest_buffer(&actual, json.data, json.size) == 0 &&
	    arca_digest_equal(&actual, manifest))
		value_len += json.size;
	else
		arca_buf_free(&json);
	if ((value = malloc(value_len + 1)) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	arca_digest_to_hex(value, manifest);
	value[ARCA_DIGEST_HEXLEN] = '\n';
	if (json.data != NULL && json.size > 0)
		memcpy(value + ARCA_DIGEST_HEXLEN + 1, json.data, json.size);
	argv[2] = value;
	len[2] = value_len;
	if (opts != NULL && opts->ttl_s > 0) {
		uint64_t s = opts->ttl_s > TTL_MAX_S ? TTL_MAX_S : opts->ttl_s;

		len[4] = (size_t)snprintf(ttl, sizeof(ttl), "%llu",
				(unsigned long long)s);
		argc = 5;
	}
	len[1] = make_key(k, r, "ac", key);
	snprintf(what, sizeof(what), "SET %s", k);
	if ((error = call_begin(r, &cl, what, 0)) < 0)
		goto cleanup;
	if ((error = call_command(r, &cl, &reply, argc, argv, len)) < 0)
		goto cleanup;
	if (reply->type != REDIS_REPLY_STATUS)
		error = reply_fail(r, what, reply);
cleanup:
	if (reply != NULL)
		freeReplyObject(reply);
	call_end(r, &cl);
	free(value);
	arca_buf_free(&json);
	return error;
}

static int redis_ac_put(arca_backend *b, const arca_digest *key,
		const arca_digest *manifest, const arca_manifest *m)
{
	return redis_ac_put2(b, key, manifest, m, NULL);
}

static int redis_ac_remove(arca_backend *b, const arca_digest *key)
{
	redis_backend *r = (redis_backend *)b;
	char k[KEY_MAX], what[KEY_MAX + 8];
	const char *argv[2] = { "DEL", k };
	size_t len[2] = { 3, 0 };
	redisReply *reply = NULL;
	call cl;
	int error;

	len[1] = make_key(k, r, "ac", key);
	snprintf(what, sizeof(what), "DEL %s", k);
	if ((error = call_begin(r, &cl, what, 0)) < 0)
		goto cleanup;
	if ((error = call_command(r, &cl, &reply, 2, argv, len)) < 0)
		goto cleanup;
	if (reply->type != REDIS_REPLY_INTEGER)
		error = reply_fail(r, what, reply);
	else if (reply->integer == 0)
		error = redis_fail(r, ARCA_ENOTFOUND, what, "not found");
cleanup:
	if (reply != NULL)
		freeReplyObject(reply);
	call_end(r, &cl);
	return error;
}

static void free_secret(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void redis_free(arca_backend *b)
{
	redis_backend *r = (redis_backend *)b;

	if (r == NULL)
		return;
	drop_connection(r);
	free(r->host);
	free(r->path);
	free(r->user);
	free_secret(r->password);
	free(r->prefix);
	free(r);
}

/* ---- the URL ------------------------------------------------------------ */

static int url_invalid(redis_backend *r, const char *why)
{
	return arca__error(ARCA_EINVAL, "redis tier URL \"%s\": %s", r->shown,
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
	free_secret(*field);
	*field = copy;
	return 0;
}

/* name=value&... : prefix everywhere; db, user, password for unix
 * sockets (a TCP URL has them in its path and userinfo). */
static int parse_query(redis_backend *r, const char *query)
{
	const char *p = query;
	char *value = NULL;
	char why[160];
	int error = 0;

	while (*p) {
		size_t n = strcspn(p, "&"), name_len = strcspn(p, "=");
		int value_len = 0;

		if (name_len >= n) {
			error = url_invalid(r, "a query parameter without "
					"'=' (name=value)");
			goto cleanup;
		}
		value = curl_easy_unescape(NULL, p + name_len + 1,
				(int)(n - name_len - 1), &value_len);
		if (value == NULL) {
			error = arca__error(ARCA_ENOMEM, "out of memory");
			goto cleanup;
		}
		if (name_len == 6 && strncmp(p, "prefix", 6) == 0) {
			if (value_len > PREFIX_MAX) {
				error = url_invalid(r, "prefix longer than "
						"256 bytes");
				goto cleanup;
			}
			error = set_field(&r->prefix, value, (size_t)value_len);
		} else if (r->unix_socket && name_len == 2 &&
			   strncmp(p, "db", 2) == 0) {
			if (parse_uint(&r->db, value, DB_MAX) < 0) {
				error = url_invalid(r, "db is not a database "
						"number");
				goto cleanup;
			}
		} else if (r->unix_socket && name_len == 4 &&
			   strncmp(p, "user", 4) == 0) {
			error = set_field(&r->user, value, (size_t)value_len);
		} else if (r->unix_socket && name_len == 8 &&
			   strncmp(p, "password", 8) == 0) {
			error = set_field(&r->password, value,
					(size_t)value_len);
		} else {
			snprintf(why, sizeof(why), "unknown query parameter "
					"\"%.*s\" (known: %s)", (int)name_len, p,
					r->unix_socket ? "prefix, db, user, "
					"password" : "prefix");
			error = url_invalid(r, why);
			goto cleanup;
		}
		if (error < 0)
			goto cleanup;
		explicit_bzero(value, (size_t)value_len);
		curl_free(value);
		value = NULL;
		p += n;
		if (*p == '&')
			p++;
	}
cleanup:
	if (value != NULL) {
		explicit_bzero(value, strlen(value));
		curl_free(value);
	}
	return error;
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

static int parse_url(redis_backend *r, const char *url)
{
	CURLU *u = NULL;
	CURLUcode rc;
	char *file_url = NULL, *host = NULL, *port = NULL, *user = NULL,
	     *password = NULL, *path = NULL, *query = NULL, *fragment = NULL;
	char why[200];
	int error = 0;

	if (strncasecmp(url, "redis://", 8) == 0) {
		r->unix_socket = 0;
	} else if (strncasecmp(url, "redis+unix://", 13) == 0) {
		r->unix_socket = 1;
	} else {
		error = url_invalid(r, "not a redis:// or redis+unix:// URL");
		goto cleanup;
	}
	if ((u = curl_url()) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (r->unix_socket) {
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
				r->unix_socket ? " (expected redis+unix:///"
				"PATH[?db=N])" : "");
		error = url_invalid(r, why);
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
		error = url_invalid(r, "a fragment (#...) is not allowed");
		goto cleanup;
	}
	if (r->unix_socket) {
		if (path == NULL || strcmp(path, "/") == 0) {
			error = url_invalid(r, "no socket path (expected "
					"redis+unix:///PATH[?db=N])");
			goto cleanup;
		}
		if ((error = set_field(&r->path, path, strlen(path))) < 0)
			goto cleanup;
	} else {
		size_t n;

		if (host == NULL || host[0] == '\0') {
			error = url_invalid(r, "no host");
			goto cleanup;
		}
		/* An IPv6 address comes back in brackets. */
		n = strlen(host);
		if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
			error = set_field(&r->host, host + 1, n - 2);
		else
			error = set_field(&r->host, host, n);
		if (error < 0)
			goto cleanup;
		r->port = 6379;
		if (port != NULL && (parse_uint(&r->port, port, 65535) < 0 ||
				r->port == 0)) {
			error = url_invalid(r, "port 0 is not a port");
			goto cleanup;
		}
		if (path != NULL && strcmp(path, "/") != 0 && path[0] != '\0' &&
		    parse_uint(&r->db, path + 1, DB_MAX) < 0) {
			error = url_invalid(r, "the path is not a database "
					"number (/DB)");
			goto cleanup;
		}
		if (user != NULL && user[0] != '\0' &&
		    (error = set_field(&r->user, user, strlen(user))) < 0)
			goto cleanup;
		if (password != NULL && (error = set_field(&r->password,
				password, strlen(password))) < 0)
			goto cleanup;
	}
	if (query != NULL && (error = parse_query(r, query)) < 0)
		goto cleanup;
	if (r->user != NULL && r->password == NULL)
		error = url_invalid(r, "a user without a password");
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

/* ---- opening ------------------------------------------------------------ */

int arca_backend_redis_open(arca_backend **out, const char *url,
		const arca_redis_options *opts)
{
	arca_redis_options defaults = ARCA_REDIS_OPTIONS_INIT;
	redis_backend *r = NULL;
	call cl;
	int error;

	if (out == NULL || url == NULL)
		return arca__error(ARCA_EINVAL, "redis tier: no URL");
	*out = NULL;
	if (opts == NULL)
		opts = &defaults;
	if (opts->version != ARCA_REDIS_OPTIONS_VERSION)
		return arca__error(ARCA_EINVAL, "arca_redis_options version %u "
				"is not supported (expected %u)", opts->version,
				ARCA_REDIS_OPTIONS_VERSION);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	arca__url_redact(r->shown, sizeof(r->shown), url);
	r->parent.version = ARCA_BACKEND_VERSION;
	r->parent.name = "redis";
	r->parent.blob_get = redis_blob_get;
	r->parent.blob_stat = redis_blob_stat;
	r->parent.blob_put = redis_blob_put;
	r->parent.blob_put_fd = redis_blob_put_fd;
	r->parent.ac_get = redis_ac_get;
	r->parent.ac_put = redis_ac_put;
	r->parent.ac_remove = redis_ac_remove;
	r->parent.free = redis_free;
	r->parent.deadline_ms = 0;
	r->parent.find_missing = redis_find_missing;
	r->parent.ac_get_manifest = redis_ac_get_manifest;
	r->parent.ac_put2 = redis_ac_put2;
	r->max_blob_size = opts->max_blob_size ? opts->max_blob_size :
		ARCA_REDIS_MAX_BLOB_SIZE_DEFAULT;
	r->connect_timeout_ms = opts->connect_timeout_ms ?
		opts->connect_timeout_ms : ARCA_REDIS_CONNECT_TIMEOUT_DEFAULT;
	r->timeout_ms = opts->timeout_ms ? opts->timeout_ms :
		ARCA_REDIS_TIMEOUT_DEFAULT;
	if (r->max_blob_size > ARCA_REDIS_MAX_BLOB_SIZE_LIMIT) {
		error = arca__error(ARCA_EINVAL, "redis tier %s: max blob size "
				"%llu is over Redis's limit of 512 MB", r->shown,
				(unsigned long long)r->max_blob_size);
		goto cleanup;
	}
	if (opts->prefix != NULL && strlen(opts->prefix) > PREFIX_MAX) {
		error = arca__error(ARCA_EINVAL, "redis tier %s: prefix longer "
				"than 256 bytes", r->shown);
		goto cleanup;
	}
	if ((error = set_field(&r->prefix, opts->prefix ? opts->prefix :
			ARCA_REDIS_PREFIX_DEFAULT, strlen(opts->prefix ?
			opts->prefix : ARCA_REDIS_PREFIX_DEFAULT))) < 0)
		goto cleanup;
	if ((error = parse_url(r, url)) < 0)
		goto cleanup;
	if (!opts->lazy_connect) {
		error = call_begin(r, &cl, "connect", 1);
		call_end(r, &cl);
		if (error < 0)
			goto cleanup;
	}
	*out = &r->parent;
	r = NULL;
cleanup:
	if (r != NULL)
		redis_free(&r->parent);
	return error;
}
