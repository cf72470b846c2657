/*
 * The Redis tiers' shared machinery (internal): one connection to one
 * Redis node with its deadline-bounded reply loop, AUTH and SELECT; the
 * URL parser; and the tier skeleton whose methods (redis.c) are written
 * once over a router, so that the one-server tier (redis.c) and the
 * Cluster tier (redis_cluster.c) differ only in where a command goes.
 *
 * Commands and replies are RESP2 (https://redis.io/docs/reference/
 * protocol-spec/) through hiredis 0.14's reader and writer.
 */
#ifndef ARCA_REDIS_CONN_H
#define ARCA_REDIS_CONN_H

#include "arca/sys/backend.h"
#include "arca/sys/redis.h"

#include <hiredis.h>

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define ARCA__REDIS_PREFIX_MAX 256
#define ARCA__REDIS_KEY_MAX (ARCA__REDIS_PREFIX_MAX + 6 + ARCA_DIGEST_HEXLEN + 1)
/* The most arguments of a command the tiers send. */
#define ARCA__REDIS_ARGS_MAX 6

/* One method call: its deadline and SIGPIPE blocked while it runs. */
typedef struct arca__redis_call {
	int64_t deadline;        /* CLOCK_MONOTONIC ms */
	int sigpipe_blocked;     /* we blocked it (restore at the end) */
	int sigpipe_pending;     /* one was pending before the call */
	sigset_t old_mask;
	const char *what;        /* the command, for messages */
} arca__redis_call;

/* One connection to one Redis server (a node of a Cluster). */
typedef struct arca__redis_conn {
	char label[1400];        /* "URL-without-password" [" node H:P"] */
	int unix_socket;
	char *host;              /* TCP: name or address; owned */
	int port;
	char *path;              /* unix socket; owned */
	const char *user, *password; /* borrowed from the tier; NULL: none */
	int db;
	unsigned int connect_timeout_ms;
	redisContext *c;         /* NULL: not connected */
	size_t pending;          /* commands appended, replies not read */
} arca__redis_conn;

/* A parsed redis:// or redis+unix:// URL. */
typedef struct arca__redis_addr {
	int unix_socket;
	char *host, *path, *user, *password, *prefix; /* owned, NULL: absent */
	int port, db;
	int compress;            /* ?compress=: 0, 1, or -1 when absent */
} arca__redis_addr;

/*
 * Parse url (redis:// or redis+unix://, as include/arca/sys/redis.h)
 * into a, zeroed first; shown names the tier in messages. Free with
 * arca__redis_addr_clear() (also after an error).
 * @return 0; ARCA_EINVAL; ARCA_ENOMEM.
 */
int arca__redis_parse_url(arca__redis_addr *a, const char *shown,
		const char *url);
void arca__redis_addr_clear(arca__redis_addr *a);

/* Free a string that held a secret, wiping it first. NULL is fine. */
void arca__redis_free_secret(char *s);

/* Record "redis tier LABEL: what: detail" and return code. */
int arca__redis_fail(const char *label, int code, const char *what,
		const char *detail);

/* The ARCA_E* code of an error reply, from its first word (NOAUTH ->
 * ARCA_EPERM, OOM -> ARCA_EFULL, CLUSTERDOWN -> ARCA_EUNAVAILABLE...). */
int arca__redis_reply_error_code(const char *str);

/* An unexpected reply (an error reply or a type the command never
 * answers): the message and code. */
int arca__redis_reply_fail(const char *label, const char *what,
		const redisReply *reply);

/*
 * Start a call: its deadline (the earlier of deadline_ms, when non-zero,
 * and timeout_ms from now) and SIGPIPE blocked in this thread (hiredis
 * write(2)s to sockets: a server gone away must not kill the process;
 * libpq's pq_block_sigpipe() does the same). Always pair with
 * arca__redis_call_end(), also when this fails.
 * @return 0; ARCA_ETIMEOUT (the deadline has passed).
 */
int arca__redis_call_begin(arca__redis_call *cl, const char *label,
		const char *what, int64_t deadline_ms, unsigned int timeout_ms);
void arca__redis_call_end(arca__redis_call *cl);

/*
 * A live, authenticated connection on conn: a connection the server
 * closed since the last call is dropped and made again; a new one sends
 * AUTH and SELECT (and PING when ping is set) before returning. One
 * attempt, bounded by the call's deadline and the connect timeout.
 * @return 0; ARCA_EUNAVAILABLE; ARCA_ETIMEOUT; ARCA_EPERM; ARCA_EIO;
 *         ARCA_ENOMEM.
 */
int arca__redis_conn_ready(arca__redis_conn *conn, arca__redis_call *cl,
		int ping);

/* Append one command to conn's output buffer (conn must be ready). */
int arca__redis_append(arca__redis_conn *conn, arca__redis_call *cl,
		int argc, const char **argv, const size_t *len);

/* Send what is buffered and read the next reply into *out (the caller
 * frees it with freeReplyObject()). A transport failure drops the
 * connection. @return 0; ARCA_EUNAVAILABLE; ARCA_ETIMEOUT; ARCA_EIO;
 * ARCA_ENOMEM. */
int arca__redis_reply(arca__redis_conn *conn, arca__redis_call *cl,
		redisReply **out);

/* Close the connection (if any); conn can connect again later. */
void arca__redis_conn_drop(arca__redis_conn *conn);
/* Drop the connection if replies are owed on it (they would answer the
 * next call's commands). */
void arca__redis_conn_settle(arca__redis_conn *conn);
/* Drop the connection and free host and path. */
void arca__redis_conn_clear(arca__redis_conn *conn);

/* ---- the tier skeleton (redis.c) --------------------------------- */

/* One command of a batch: argv[key] is the key it is routed by (-1:
 * any node). reply is set by the router. */
typedef struct arca__redis_cmd {
	int argc;
	const char *argv[ARCA__REDIS_ARGS_MAX];
	size_t len[ARCA__REDIS_ARGS_MAX];
	int key;
	redisReply *reply;
} arca__redis_cmd;

typedef struct arca__redis_tier arca__redis_tier;

struct arca__redis_tier {
	arca_backend parent;     /* first: the tier is an arca_backend */
	char shown[1024];        /* the URL without its password */
	char *prefix;
	char *user, *password;   /* AUTH on every connection; NULL: none */
	uint64_t max_blob_size;  /* bytes */
	unsigned int connect_timeout_ms, timeout_ms;
	int compress;            /* zstd on the wire and at rest */

	/*
	 * Send n commands (pipelined where they share a node) and read
	 * their replies into cmds[i].reply, error replies included; the
	 * router follows redirections itself. On error, every reply set
	 * is freed and NULL.
	 * @return 0; ARCA_EUNAVAILABLE; ARCA_ETIMEOUT; ARCA_EPERM;
	 *         ARCA_EIO; ARCA_ENOMEM.
	 */
	int (*exec)(arca__redis_tier *t, arca__redis_call *cl,
			arca__redis_cmd *cmds, size_t n);
	/* Release the router's state (connections, maps); not t itself. */
	void (*close)(arca__redis_tier *t);
	/* A new tier of t's kind with t's addresses and options
	 * (arca__redis_tier_dup()). @return 0; ARCA_ENOMEM. */
	int (*dup)(const arca__redis_tier *t, arca__redis_tier **out);
};

/* The methods (redis.c): fills t->parent with them, name and version. */
void arca__redis_tier_init(arca__redis_tier *t, const char *name);

/*
 * Common options into t: max blob size, timeouts, prefix (opts, then the
 * URL's), compression (opts, then the URL's). url_prefix and
 * url_compress come from arca__redis_addr (NULL / -1 when absent).
 * @return 0; ARCA_EINVAL; ARCA_ENOMEM.
 */
int arca__redis_tier_configure(arca__redis_tier *t,
		const arca_redis_options *opts, const char *url_prefix,
		int url_compress);

/* An options struct's version: 1 (before no_compress) or 2.
 * @return 0; ARCA_EINVAL. */
int arca__redis_options_check(const arca_redis_options *opts);

/* b as a Redis tier (either router), or NULL when b is another kind of
 * backend. */
arca__redis_tier *arca__redis_tier_of(arca_backend *b);

/*
 * A second backend on b's server (a Cluster: the nodes and the slot map
 * b knows, as seeds and map), with b's options, credentials and prefix,
 * and connections of its own, none made yet: for another thread, since
 * a tier's connections (hiredis contexts) serve one thread at a time
 * (the cross-host lease's renewal, lease.c). The caller owns *out and
 * frees it with (*out)->free(*out).
 * @return 0; ARCA_EINVAL (b is not a Redis tier); ARCA_ENOMEM.
 */
int arca__redis_tier_dup(arca_backend **out, arca_backend *b);

/* Copy src's options, credentials and prefix into dst (its router's
 * dup). @return 0; ARCA_ENOMEM. */
int arca__redis_tier_copy(arca__redis_tier *dst, const arca__redis_tier *src);

/* Free what arca__redis_tier_configure() set (not t). */
void arca__redis_tier_clear(arca__redis_tier *t);

/* Free the replies of cmds[0..n) and set them to NULL. */
void arca__redis_cmds_free(arca__redis_cmd *cmds, size_t n);

/* Sets c to a command on one key: argv[0] name, argv[1] the key (the
 * argument it is routed by), no reply yet. */
void arca__redis_cmd_set(arca__redis_cmd *c, const char *name,
		const char *key, size_t key_len);

/* Appends an argument of len bytes to c. */
void arca__redis_cmd_arg(arca__redis_cmd *c, const void *arg, size_t len);

/* Run a call's commands through t->exec, call_begin/end included. */
int arca__redis_run(arca__redis_tier *t, const char *what,
		arca__redis_cmd *cmds, size_t n);

#endif /* ARCA_REDIS_CONN_H */
