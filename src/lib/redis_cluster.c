/*
 * The Redis Cluster tier: the Redis tiers' methods (redis.c) over a
 * router that sends each command to the master serving its key's hash
 * slot, following the Redis Cluster specification
 * (https://redis.io/docs/reference/cluster-spec/): "Keys distribution
 * model" and "Hash tags" for the slot, "Redirection and resharding" for
 * MOVED and ASK, CLUSTER SLOTS (https://redis.io/commands/cluster-slots/)
 * for the map. See include/arca/sys/redis_cluster.h.
 *
 * The map is an array of 16384 node indexes; nodes are only ever added
 * (from the map or a redirection), each with one connection made when a
 * call first needs it. A MOVED reply updates the slot at once and has
 * the whole map read again at the start of the next call, as does a node
 * that fails (a replica may have been promoted).
 */
#include "internal.h"
#include "redis_conn.h"
#include "tier_url.h"

#include "arca/sys/redis_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SCHEME "redis+cluster://"
#define SCHEME_LEN 16
/* More nodes than this in one cluster's map is not a map we trust. */
#define NODES_MAX 1024
/* After a node failure the map is read again, but not more often than
 * this (milliseconds): calls for a dead node's slots should cost one
 * refused connect each, not a CLUSTER SLOTS round trip too. */
#define REFRESH_AFTER_FAILURE_MS 1000

typedef struct cluster {
	arca__redis_tier t;
	arca__redis_conn *nodes;
	size_t n_nodes, cap, n_seeds;
	int16_t slots[ARCA_REDIS_CLUSTER_SLOTS]; /* node index, -1: none */
	int map_loaded, refresh;
	int64_t loaded_at;       /* CLOCK_MONOTONIC ms of the last map read */
} cluster;

/* ---- hash slots ------------------------------------------------------ */

uint16_t arca_redis_cluster_crc16(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint16_t crc = 0;
	size_t i;
	int bit;

	/* CRC-16/XMODEM, bit by bit: polynomial 0x1021, MSB first. */
	for (i = 0; i < len; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (bit = 0; bit < 8; bit++)
			crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 :
					crc << 1);
	}
	return crc;
}

unsigned int arca_redis_cluster_key_slot(const void *key, size_t len)
{
	const char *k = key;
	size_t s, e;

	for (s = 0; s < len && k[s] != '{'; s++)
		;
	if (s < len) {
		for (e = s + 1; e < len && k[e] != '}'; e++)
			;
		/* A tag is the bytes between the first '{' and the first
		 * '}' after it, if any: "{}" hashes the whole key. */
		if (e < len && e != s + 1)
			return arca_redis_cluster_crc16(k + s + 1, e - s - 1) &
				(ARCA_REDIS_CLUSTER_SLOTS - 1);
	}
	return arca_redis_cluster_crc16(key, len) &
		(ARCA_REDIS_CLUSTER_SLOTS - 1);
}

/* ---- nodes ---------------------------------------------------------------- */

/* The index of the node host:port, added when new; or ARCA_EIO (too
 * many nodes), ARCA_ENOMEM. */
static int node_index(cluster *cl, const char *host, size_t host_len,
		int port)
{
	arca__redis_conn *n;
	size_t i;

	for (i = 0; i < cl->n_nodes; i++)
		if (cl->nodes[i].port == port &&
		    strlen(cl->nodes[i].host) == host_len &&
		    strncasecmp(cl->nodes[i].host, host, host_len) == 0)
			return (int)i;
	if (cl->n_nodes >= NODES_MAX) {
		return arca__error(ARCA_EIO, "redis tier %s: more than %d "
				"nodes", cl->t.shown, NODES_MAX);
	}
	if (cl->n_nodes == cl->cap) {
		size_t cap = cl->cap ? cl->cap * 2 : 8;

		if ((n = realloc(cl->nodes, cap * sizeof(*n))) == NULL)
			return arca__error(ARCA_ENOMEM, "out of memory");
		cl->nodes = n;
		cl->cap = cap;
	}
	n = &cl->nodes[cl->n_nodes];
	memset(n, 0, sizeof(*n));
	if ((n->host = malloc(host_len + 1)) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	memcpy(n->host, host, host_len);
	n->host[host_len] = '\0';
	n->port = port;
	n->user = cl->t.user;
	n->password = cl->t.password;
	n->connect_timeout_ms = cl->t.connect_timeout_ms;
	snprintf(n->label, sizeof(n->label), strchr(n->host, ':') ?
			"%s node [%s]:%d" : "%s node %s:%d", cl->t.shown,
			n->host, port);
	return (int)cl->n_nodes++;
}

/* ---- the slot map ------------------------------------------------------- */

static int map_invalid(const arca__redis_conn *n)
{
	return arca__redis_fail(n->label, ARCA_EIO, "CLUSTER SLOTS",
			"not a slot map");
}

/* CLUSTER SLOTS's reply: [[start, end, [host, port, id...], replicas...]
 * ...]; an empty host is the node asked (asked). */
static int map_parse(cluster *cl, int asked, const redisReply *reply)
{
	int16_t slots[ARCA_REDIS_CLUSTER_SLOTS];
	size_t i;
	long long s;

	if (reply->type != REDIS_REPLY_ARRAY)
		return reply->type == REDIS_REPLY_ERROR ?
			arca__redis_reply_fail(cl->nodes[asked].label,
					"CLUSTER SLOTS", reply) :
			map_invalid(&cl->nodes[asked]);
	for (s = 0; s < ARCA_REDIS_CLUSTER_SLOTS; s++)
		slots[s] = -1;
	for (i = 0; i < reply->elements; i++) {
		const redisReply *r = reply->element[i], *m, *h;
		const char *host;
		size_t host_len;
		int idx;

		if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
		    r->element[0]->type != REDIS_REPLY_INTEGER ||
		    r->element[1]->type != REDIS_REPLY_INTEGER ||
		    (m = r->element[2])->type != REDIS_REPLY_ARRAY ||
		    m->elements < 2 || (h = m->element[0])->type !=
		    REDIS_REPLY_STRING || m->element[1]->type !=
		    REDIS_REPLY_INTEGER || r->element[0]->integer < 0 ||
		    r->element[1]->integer >= ARCA_REDIS_CLUSTER_SLOTS ||
		    r->element[0]->integer > r->element[1]->integer ||
		    m->element[1]->integer <= 0 ||
		    m->element[1]->integer > 65535)
			return map_invalid(&cl->nodes[asked]);
		host = h->str;
		host_len = h->len;
		if (host_len == 0 || (host_len == 1 && host[0] == '?')) {
			host = cl->nodes[asked].host;
			host_len = strlen(host);
		}
		if ((idx = node_index(cl, host, host_len,
				(int)m->element[1]->integer)) < 0)
			return idx;
		for (s = r->element[0]->integer; s <= r->element[1]->integer;
				s++)
			slots[s] = (int16_t)idx;
	}
	memcpy(cl->slots, slots, sizeof(slots));
	cl->map_loaded = 1;
	cl->refresh = 0;
	cl->loaded_at = arca__mono_ms();
	return 0;
}

/* Read the map from the first node that answers: the seeds, then the
 * nodes learnt since. */
static int map_load(cluster *cl, arca__redis_call *call)
{
	static const char *argv[2] = { "CLUSTER", "SLOTS" };
	static const size_t len[2] = { 7, 5 };
	const char *saved = call->what;
	redisReply *reply = NULL;
	int error = ARCA_EUNAVAILABLE;
	size_t i;

	call->what = "CLUSTER SLOTS";
	for (i = 0; i < cl->n_nodes; i++) {
		if ((error = arca__redis_conn_ready(&cl->nodes[i], call,
				0)) < 0 ||
		    (error = arca__redis_append(&cl->nodes[i], call, 2, argv,
				len)) < 0 ||
		    (error = arca__redis_reply(&cl->nodes[i], call,
				&reply)) < 0) {
			arca__redis_conn_settle(&cl->nodes[i]);
			/* A refused password or a deadline gone is the
			 * same on every node. */
			if (error == ARCA_EPERM || error == ARCA_ETIMEOUT ||
			    error == ARCA_ENOMEM)
				break;
			continue;
		}
		error = map_parse(cl, (int)i, reply);
		freeReplyObject(reply);
		reply = NULL;
		if (error == 0 || error == ARCA_ENOMEM || error == ARCA_EIO)
			break;
	}
	call->what = saved;
	return error;
}

/* ---- the router ------------------------------------------------------------ */

/* The node a command goes to; -1 with the message when none. */
static int route(cluster *cl, const arca__redis_cmd *cmd)
{
	unsigned int slot;
	char detail[64];

	if (cmd->key < 0)
		return cl->n_nodes > 0 ? 0 : -1;
	slot = arca_redis_cluster_key_slot(cmd->argv[cmd->key],
			cmd->len[cmd->key]);
	if (cl->slots[slot] < 0) {
		snprintf(detail, sizeof(detail), "slot %u is served by no "
				"node", slot);
		arca__redis_fail(cl->t.shown, ARCA_EUNAVAILABLE,
				cmd->argv[0], detail);
		return -1;
	}
	return cl->slots[slot];
}

/* "MOVED 3999 127.0.0.1:6381" or "ASK ...": 1 (MOVED), 2 (ASK), else 0;
 * the slot and the node's index. */
static int redirection(cluster *cl, const redisReply *reply,
		unsigned int *slot, int *node)
{
	const char *p, *colon, *host;
	int kind, port = 0;
	unsigned long s;
	char *end;

	if (reply->type != REDIS_REPLY_ERROR)
		return 0;
	if (strncmp(reply->str, "MOVED ", 6) == 0)
		kind = 1;
	else if (strncmp(reply->str, "ASK ", 4) == 0)
		kind = 2;
	else
		return 0;
	p = reply->str + (kind == 1 ? 6 : 4);
	s = strtoul(p, &end, 10);
	if (end == p || *end != ' ' || s >= ARCA_REDIS_CLUSTER_SLOTS)
		return -1;
	host = end + 1;
	if ((colon = strrchr(host, ':')) == NULL || colon == host)
		return -1;
	port = (int)strtol(colon + 1, &end, 10);
	if (*end != '\0' || port <= 0 || port > 65535)
		return -1;
	/* An IPv6 address may come in brackets. */
	if (host[0] == '[' && colon[-1] == ']')
		*node = node_index(cl, host + 1, (size_t)(colon - host - 2),
				port);
	else
		*node = node_index(cl, host, (size_t)(colon - host), port);
	if (*node < 0)
		return -1;
	*slot = (unsigned int)s;
	return kind;
}

/* Follow cmd's redirections (its reply is one): at most
 * ARCA_REDIS_CLUSTER_REDIRECTS_MAX of them. */
static int follow(cluster *cl, arca__redis_call *call, arca__redis_cmd *cmd)
{
	static const char *asking[1] = { "ASKING" };
	static const size_t asking_len[1] = { 6 };
	int hops, kind, node = -1, error = 0;
	unsigned int slot;
	char detail[600];

	for (hops = 0; (kind = redirection(cl, cmd->reply, &slot,
			&node)) != 0; hops++) {
		arca__redis_conn *n;
		redisReply *ok = NULL;

		if (kind < 0) {
			snprintf(detail, sizeof(detail), "a redirection we "
					"cannot read: %s", cmd->reply->str);
			return arca__redis_fail(cl->t.shown, ARCA_EIO,
					call->what, detail);
		}
		if (hops == ARCA_REDIS_CLUSTER_REDIRECTS_MAX) {
			snprintf(detail, sizeof(detail), "more than %d "
					"redirections (last: %s)",
					ARCA_REDIS_CLUSTER_REDIRECTS_MAX,
					cmd->reply->str);
			return arca__redis_fail(cl->t.shown, ARCA_EIO,
					call->what, detail);
		}
		if (kind == 1) {
			cl->slots[slot] = (int16_t)node;
			cl->refresh = 1;
		}
		freeReplyObject(cmd->reply);
		cmd->reply = NULL;
		n = &cl->nodes[node];
		if ((error = arca__redis_conn_ready(n, call, 0)) < 0)
			break;
		if (kind == 2 && ((error = arca__redis_append(n, call, 1,
				asking, asking_len)) < 0))
			break;
		if ((error = arca__redis_append(n, call, cmd->argc, cmd->argv,
				cmd->len)) < 0)
			break;
		if (kind == 2) {
			if ((error = arca__redis_reply(n, call, &ok)) < 0)
				break;
			if (ok->type != REDIS_REPLY_STATUS)
				error = arca__redis_reply_fail(n->label,
						"ASKING", ok);
			freeReplyObject(ok);
			if (error < 0) {
				arca__redis_conn_drop(n);
				break;
			}
		}
		if ((error = arca__redis_reply(n, call, &cmd->reply)) < 0)
			break;
	}
	if (node >= 0)
		arca__redis_conn_settle(&cl->nodes[node]);
	return error;
}

static int cluster_exec(arca__redis_tier *t, arca__redis_call *call,
		arca__redis_cmd *cmds, size_t n)
{
	cluster *cl = (cluster *)t;
	int *target = NULL, error = 0;
	size_t i, j;

	if (!cl->map_loaded || cl->refresh) {
		error = map_load(cl, call);
		if (error < 0 && !cl->map_loaded)
			return error;
		if (error == ARCA_ETIMEOUT || error == ARCA_ENOMEM)
			return error;
		/* A map that could not be read again: go on with the one we
		 * have, and try again no sooner than after a node failure. */
		if (error < 0) {
			cl->refresh = 0;
			cl->loaded_at = arca__mono_ms();
		}
		error = 0;
	}
	if ((target = malloc(n * sizeof(*target))) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	for (i = 0; i < n; i++)
		if ((target[i] = route(cl, &cmds[i])) < 0) {
			error = ARCA_EUNAVAILABLE;
			goto cleanup;
		}
	/* Each node's commands in one pipeline, node after node. */
	for (j = 0; j < cl->n_nodes; j++) {
		arca__redis_conn *node = &cl->nodes[j];
		int used = 0;

		for (i = 0; i < n; i++) {
			if (target[i] != (int)j)
				continue;
			if (!used && (error = arca__redis_conn_ready(node, call,
					0)) < 0)
				goto node_failed;
			used = 1;
			if ((error = arca__redis_append(node, call,
					cmds[i].argc, cmds[i].argv,
					cmds[i].len)) < 0)
				goto node_failed;
		}
		for (i = 0; used && i < n; i++)
			if (target[i] == (int)j && (error = arca__redis_reply(
					node, call, &cmds[i].reply)) < 0)
				goto node_failed;
	}
	for (i = 0; i < n; i++)
		if ((error = follow(cl, call, &cmds[i])) < 0)
			goto cleanup;
	goto cleanup;
node_failed:
	/* Perhaps a failover: read the map again at the next call. */
	if ((error == ARCA_EUNAVAILABLE || error == ARCA_ETIMEOUT) &&
	    arca__mono_ms() - cl->loaded_at >= REFRESH_AFTER_FAILURE_MS)
		cl->refresh = 1;
cleanup:
	for (j = 0; j < cl->n_nodes; j++)
		arca__redis_conn_settle(&cl->nodes[j]);
	if (error < 0)
		arca__redis_cmds_free(cmds, n);
	free(target);
	return error;
}

static void cluster_close(arca__redis_tier *t)
{
	cluster *cl = (cluster *)t;
	size_t i;

	for (i = 0; i < cl->n_nodes; i++)
		arca__redis_conn_clear(&cl->nodes[i]);
	free(cl->nodes);
	cl->nodes = NULL;
	cl->n_nodes = cl->cap = 0;
}

/* The seeds, nodes and map of t, into a new tier of connections of its
 * own: the node indexes, and so the map, stay valid. */
static int cluster_dup(const arca__redis_tier *t, arca__redis_tier **out)
{
	const cluster *src = (const cluster *)t;
	cluster *cl;
	size_t i;
	int error;

	*out = NULL;
	if ((cl = calloc(1, sizeof(*cl))) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	arca__redis_tier_init(&cl->t, src->t.parent.name);
	cl->t.exec = cluster_exec;
	cl->t.close = cluster_close;
	cl->t.dup = cluster_dup;
	if ((error = arca__redis_tier_copy(&cl->t, &src->t)) < 0)
		goto cleanup;
	for (i = 0; i < src->n_nodes; i++)
		if ((error = node_index(cl, src->nodes[i].host,
				strlen(src->nodes[i].host),
				src->nodes[i].port)) < 0)
			goto cleanup;
	cl->n_seeds = src->n_seeds;
	memcpy(cl->slots, src->slots, sizeof(cl->slots));
	cl->map_loaded = src->map_loaded;
	cl->refresh = src->refresh;
	cl->loaded_at = src->loaded_at;
	*out = &cl->t;
	cl = NULL;
cleanup:
	if (cl != NULL)
		cl->t.parent.free(&cl->t.parent);
	return error;
}

/* ---- the URL ------------------------------------------------------------ */

static int url_invalid(cluster *cl, const char *why)
{
	return arca__error(ARCA_EINVAL, "redis tier URL \"%s\": %s",
			cl->t.shown, why);
}

/*
 * redis+cluster://[USERINFO@]SEED[,SEED...][/][?QUERY]: each seed is
 * parsed as redis://[USERINFO@]SEED[/][?QUERY] by the one-server parser
 * (libcurl's URL API), so that both tiers read URLs alike.
 */
static int parse_seeds(cluster *cl, const char *url,
		const arca_redis_options *opts)
{
	const char *auth, *auth_end, *at = NULL, *p;
	char *one = NULL;
	arca__redis_addr a;
	size_t userinfo_len = 0, one_size = 0;
	int error = 0;

	memset(&a, 0, sizeof(a));
	if (strncasecmp(url, SCHEME, SCHEME_LEN) != 0)
		return url_invalid(cl, "not a redis+cluster:// URL");
	auth = url + SCHEME_LEN;
	auth_end = auth + strcspn(auth, "/?#");
	for (p = auth; p < auth_end; p++)
		if (*p == '@')
			at = p;
	if (at != NULL)
		userinfo_len = (size_t)(at - auth) + 1;
	p = at ? at + 1 : auth;
	if (p == auth_end)
		return url_invalid(cl, "no HOST:PORT (expected redis+cluster://"
				"HOST:PORT[,HOST:PORT...])");
	one_size = strlen(url) + 16;
	if ((one = calloc(1, one_size)) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	while (p < auth_end) {
		size_t n = strcspn(p, ",");

		if (p + n > auth_end)
			n = (size_t)(auth_end - p);
		if (n == 0) {
			error = url_invalid(cl, "an empty HOST:PORT in the "
					"list");
			goto cleanup;
		}
		memcpy(one, "redis://", 8);
		memcpy(one + 8, auth, userinfo_len);
		memcpy(one + 8 + userinfo_len, p, n);
		strcpy(one + 8 + userinfo_len + n, auth_end);
		arca__redis_addr_clear(&a);
		if ((error = arca__redis_parse_url(&a, cl->t.shown, one)) < 0)
			goto cleanup;
		if (a.db != 0) {
			error = url_invalid(cl, "a Redis Cluster has database 0 "
					"only (no /DB)");
			goto cleanup;
		}
		if (cl->n_nodes == 0) {
			/* Userinfo and query are the same for every seed. */
			cl->t.user = a.user;
			cl->t.password = a.password;
			a.user = a.password = NULL;
			if ((error = arca__redis_tier_configure(&cl->t, opts,
					a.prefix, a.compress)) < 0)
				goto cleanup;
		}
		if ((error = node_index(cl, a.host, strlen(a.host),
				a.port)) < 0)
			goto cleanup;
		error = 0;
		p += n;
		if (p < auth_end && *p == ',') {
			p++;
			if (p == auth_end) {
				error = url_invalid(cl, "an empty HOST:PORT "
						"in the list");
				goto cleanup;
			}
		}
	}
	cl->n_seeds = cl->n_nodes;
cleanup:
	arca__redis_addr_clear(&a);
	if (one != NULL) {
		explicit_bzero(one, one_size);
		free(one);
	}
	return error;
}

/* ---- opening ------------------------------------------------------------ */

int arca_backend_redis_cluster_open(arca_backend **out, const char *url,
		const arca_redis_options *opts)
{
	arca_redis_options defaults = ARCA_REDIS_OPTIONS_INIT;
	arca__redis_call call;
	cluster *cl = NULL;
	size_t s;
	int error;

	if (out == NULL || url == NULL)
		return arca__error(ARCA_EINVAL, "redis cluster tier: no URL");
	*out = NULL;
	if (opts == NULL)
		opts = &defaults;
	if ((error = arca__redis_options_check(opts)) < 0)
		return error;
	if ((cl = calloc(1, sizeof(*cl))) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	for (s = 0; s < ARCA_REDIS_CLUSTER_SLOTS; s++)
		cl->slots[s] = -1;
	arca__url_redact(cl->t.shown, sizeof(cl->t.shown), url);
	arca__redis_tier_init(&cl->t, "redis-cluster");
	cl->t.exec = cluster_exec;
	cl->t.close = cluster_close;
	cl->t.dup = cluster_dup;
	if ((error = parse_seeds(cl, url, opts)) < 0)
		goto cleanup;
	if (!opts->lazy_connect) {
		if ((error = arca__redis_call_begin(&call, cl->t.shown,
				"connect", 0, cl->t.timeout_ms)) == 0)
			error = map_load(cl, &call);
		arca__redis_call_end(&call);
		if (error < 0)
			goto cleanup;
	}
	*out = &cl->t.parent;
	cl = NULL;
cleanup:
	if (cl != NULL)
		cl->t.parent.free(&cl->t.parent);
	return error;
}
