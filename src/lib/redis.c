/*
 * The Redis tiers' methods, written once over a router (redis_conn.h),
 * and the one-server tier: an arca_backend on one Redis server (hiredis,
 * RESP2: https://redis.io/docs/reference/protocol-spec/). The Cluster
 * tier (redis_cluster.c) is the same methods over another router. The
 * layout, the URL syntax and the outcomes are documented in
 * include/arca/sys/redis.h and docs/tiers.md.
 *
 * Values may be zstd frames (compress.h): a blob's value is either its
 * bytes or one zstd frame of them; an action entry's value is the
 * manifest's digest in hex, "\n", then the manifest's bytes or one zstd
 * frame of them. A value that starts with the frame magic is a frame,
 * except an old, uncompressed blob that happens to: it is recognised by
 * its digest.
 *
 * The one-server router: one blocking connection per backend, made when
 * a call finds none; every command of a call pipelined on it.
 */
#include "internal.h"
#include "compress.h"
#include "redis_conn.h"
#include "tier_url.h"
#include "ac_entry.h"

#include "arca/sys/backend.h"
#include "arca/sys/redis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A TTL longer than this (about 136 years) is capped to it: Redis refuses
 * an expiry that overflows its millisecond clock. */
#define TTL_MAX_S ((uint64_t)1 << 32)

typedef struct single {
	arca__redis_tier t;
	arca__redis_conn conn;
} single;

/* ---- commands ---------------------------------------------------------- */

void arca__redis_cmds_free(arca__redis_cmd *cmds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (cmds[i].reply != NULL)
			freeReplyObject(cmds[i].reply);
		cmds[i].reply = NULL;
	}
}

int arca__redis_run(arca__redis_tier *t, const char *what,
		arca__redis_cmd *cmds, size_t n)
{
	arca__redis_call cl;
	int error;

	if ((error = arca__redis_call_begin(&cl, t->shown, what,
			t->parent.deadline_ms, t->timeout_ms)) == 0)
		error = t->exec(t, &cl, cmds, n);
	arca__redis_call_end(&cl);
	return error;
}

void arca__redis_cmd_set(arca__redis_cmd *c, const char *name,
		const char *key, size_t key_len)
{
	memset(c, 0, sizeof(*c));
	c->argv[0] = name;
	c->len[0] = strlen(name);
	c->argv[1] = key;
	c->len[1] = key_len;
	c->argc = 2;
	c->key = 1;
}

void arca__redis_cmd_arg(arca__redis_cmd *c, const void *arg, size_t len)
{
	c->argv[c->argc] = arg;
	c->len[c->argc++] = len;
}

/* prefix + kind + ":" + hex digest into key (ARCA__REDIS_KEY_MAX bytes);
 * its length. */
static size_t make_key(char *key, const arca__redis_tier *t,
		const char *kind, const arca_digest *d)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	arca_digest_to_hex(hex, d);
	return (size_t)snprintf(key, ARCA__REDIS_KEY_MAX, "%s%s:%s",
			t->prefix, kind, hex);
}

static int miss(arca__redis_tier *t, const char *what)
{
	return arca__redis_fail(t->shown, ARCA_ENOTFOUND, what, "not found");
}

/* Runs the one command cmd; a reply of another type than type fails. */
static int run_expect(arca__redis_tier *t, const char *what,
		arca__redis_cmd *cmd, int type)
{
	int error;

	if ((error = arca__redis_run(t, what, cmd, 1)) < 0)
		return error;
	if (cmd->reply->type != type)
		return arca__redis_reply_fail(t->shown, what, cmd->reply);
	return 0;
}

/* Runs cmd, a GET: a nil reply is a miss, anything but a string fails. */
static int run_get(arca__redis_tier *t, const char *what, arca__redis_cmd *cmd)
{
	int error;

	if ((error = arca__redis_run(t, what, cmd, 1)) < 0)
		return error;
	if (cmd->reply->type == REDIS_REPLY_NIL)
		return miss(t, what);
	if (cmd->reply->type != REDIS_REPLY_STRING)
		return arca__redis_reply_fail(t->shown, what, cmd->reply);
	return 0;
}

/* ---- values ------------------------------------------------------------ */

/*
 * The value to store for len bytes at data: a zstd frame of them when
 * compression is on and the frame is smaller, or when the bytes
 * themselves start with the frame magic (so that a stored value that
 * starts with it is always a frame); else the bytes. *value points into
 * data or into frame (which the caller frees).
 */
static int encode_value(arca__redis_tier *t, arca_buf *frame,
		const void **value, size_t *value_len, const void *data,
		size_t len)
{
	int must = arca__zstd_is_frame(data, len), error;

	*value = len ? data : "";
	*value_len = len;
	frame->data = NULL;
	frame->size = 0;
	if (!must && (!t->compress || len < 32))
		return 0;
	if ((error = arca__zstd_compress(frame, data, len,
			ARCA__ZSTD_LEVEL)) < 0)
		return error;
	if (must || frame->size < len) {
		*value = frame->data;
		*value_len = frame->size;
	} else {
		arca_buf_free(frame);
	}
	return 0;
}

/*
 * A blob's value as read (reply) into its bytes, checked against digest:
 * *data points into the reply or into plain (the caller frees it). A
 * frame that does not decompress within the tier's max blob size, or
 * whose bytes do not match, may still be an old uncompressed blob that
 * starts with the magic: the raw bytes are checked too.
 * @return 0; ARCA_ECORRUPT; ARCA_ENOMEM.
 */
static int decode_blob(arca__redis_tier *t, const char *what,
		arca_buf *plain, const void **data, size_t *len,
		const arca_digest *digest, const redisReply *reply)
{
	arca_digest actual;
	int error;

	plain->data = NULL;
	plain->size = 0;
	if (arca__zstd_is_frame(reply->str, reply->len)) {
		error = arca__zstd_decompress(plain, reply->str, reply->len,
				t->max_blob_size);
		if (error == ARCA_ENOMEM)
			return error;
		if (error == 0 && (error = arca_digest_buffer(&actual,
				plain->data, plain->size)) < 0)
			return error;
		if (plain->data != NULL && arca_digest_equal(&actual, digest)) {
			*data = plain->data;
			*len = plain->size;
			return 0;
		}
		arca_buf_free(plain);
	}
	if ((error = arca_digest_buffer(&actual, reply->str, reply->len)) < 0)
		return error;
	if (!arca_digest_equal(&actual, digest))
		return arca__redis_fail(t->shown, ARCA_ECORRUPT, what,
				"the bytes do not match the digest");
	*data = reply->len ? reply->str : "";
	*len = reply->len;
	return 0;
}

/* ---- blobs ------------------------------------------------------------ */

static int redis_blob_get(arca_backend *b, const arca_digest *digest,
		arca_sink_fn sink, void *ctx)
{
	arca__redis_tier *t = (arca__redis_tier *)b;
	char key[ARCA__REDIS_KEY_MAX], what[ARCA__REDIS_KEY_MAX + 8];
	arca__redis_cmd cmd;
	arca_buf plain = ARCA_BUF_INIT;
	const void *data = NULL;
	size_t key_len, len = 0;
	int error;

	key_len = make_key(key, t, "cas", digest);
	arca__redis_cmd_set(&cmd, "GET", key, key_len);
	snprintf(what, sizeof(what), "GET %s", key);
	if ((error = run_get(t, what, &cmd)) < 0)
		goto cleanup;
	error = decode_blob(t, what, &plain, &data, &len, digest, cmd.reply);
	if (error == ARCA_ECORRUPT) {
		arca__redis_cmd del;

		/* Forget the wrong bytes, so that find_missing reports the
		 * blob missing and the next write-through stores it again. */
		arca__redis_cmd_set(&del, "DEL", key, key_len);
		if (arca__redis_run(t, what, &del, 1) == 0)
			arca__redis_cmds_free(&del, 1);
		error = arca__redis_fail(t->shown, ARCA_ECORRUPT, what,
				"the bytes do not match the digest, or do not "
				"decompress to its bytes within the max blob "
				"size (deleted)");
		goto cleanup;
	}
	if (error < 0)
		goto cleanup;
	error = sink(ctx, data, len);
cleanup:
	arca_buf_free(&plain);
	arca__redis_cmds_free(&cmd, 1);
	return error;
}

static int redis_blob_stat(arca_backend *b, const arca_digest *digest,
		uint64_t *size_out)
{
	arca__redis_tier *t = (arca__redis_tier *)b;
	char key[ARCA__REDIS_KEY_MAX], what[ARCA__REDIS_KEY_MAX + 24];
	arca__redis_cmd cmds[3];
	const redisReply *exists, *head, *strlen_reply;
	size_t key_len;
	uint64_t size;
	int error;

	key_len = make_key(key, t, "cas", digest);
	snprintf(what, sizeof(what), "EXISTS/GETRANGE/STRLEN %s", key);
	/* An empty blob is an empty string: STRLEN alone cannot tell it
	 * from a missing key; a frame's header says its blob's size. */
	arca__redis_cmd_set(&cmds[0], "EXISTS", key, key_len);
	arca__redis_cmd_set(&cmds[1], "GETRANGE", key, key_len);
	arca__redis_cmd_arg(&cmds[1], "0", 1);
	arca__redis_cmd_arg(&cmds[1], "17", 2);
	arca__redis_cmd_set(&cmds[2], "STRLEN", key, key_len);
	if ((error = arca__redis_run(t, what, cmds, 3)) < 0)
		return error;
	exists = cmds[0].reply;
	head = cmds[1].reply;
	strlen_reply = cmds[2].reply;
	if (exists->type != REDIS_REPLY_INTEGER) {
		error = arca__redis_reply_fail(t->shown, what, exists);
		goto cleanup;
	}
	if (exists->integer == 0) {
		error = miss(t, what);
		goto cleanup;
	}
	if (strlen_reply->type != REDIS_REPLY_INTEGER ||
	    strlen_reply->integer < 0) {
		error = arca__redis_reply_fail(t->shown, what, strlen_reply);
		goto cleanup;
	}
	if (head->type != REDIS_REPLY_STRING) {
		error = arca__redis_reply_fail(t->shown, what, head);
		goto cleanup;
	}
	size = (uint64_t)strlen_reply->integer;
	if (arca__zstd_is_frame(head->str, head->len) &&
	    arca__zstd_content_size(&size, head->str, head->len) < 0)
		size = (uint64_t)strlen_reply->integer;
	arca__error_clear();
	if (size_out != NULL)
		*size_out = size;
cleanup:
	arca__redis_cmds_free(cmds, 3);
	return error;
}

static int redis_blob_put(arca_backend *b, arca_digest *out,
		const void *data, size_t len)
{
	arca__redis_tier *t = (arca__redis_tier *)b;
	char key[ARCA__REDIS_KEY_MAX], what[ARCA__REDIS_KEY_MAX + 8];
	char detail[96];
	arca__redis_cmd cmd;
	arca_buf frame = ARCA_BUF_INIT;
	const void *value;
	size_t value_len;
	arca_digest d;
	int error;

	memset(&cmd, 0, sizeof(cmd));
	if ((uint64_t)len > t->max_blob_size) {
		snprintf(detail, sizeof(detail), "%zu bytes, over the tier's "
				"max blob size (%llu)", len,
				(unsigned long long)t->max_blob_size);
		return arca__redis_fail(t->shown, ARCA_ENOTSTORED, "blob put",
				detail);
	}
	if ((error = arca_digest_buffer(&d, data, len)) < 0)
		goto cleanup;
	if ((error = encode_value(t, &frame, &value, &value_len, data,
			len)) < 0)
		goto cleanup;
	arca__redis_cmd_set(&cmd, "SET", key, make_key(key, t, "cas", &d));
	arca__redis_cmd_arg(&cmd, value, value_len);
	snprintf(what, sizeof(what), "SET %s", key);
	if ((error = run_expect(t, what, &cmd, REDIS_REPLY_STATUS)) < 0)
		goto cleanup;
	if (out != NULL)
		*out = d;
cleanup:
	arca__redis_cmds_free(&cmd, 1);
	arca_buf_free(&frame);
	return error;
}

static int redis_blob_put_fd(arca_backend *b, arca_digest *out,
		uint64_t *size_out, int fd)
{
	arca__redis_tier *t = (arca__redis_tier *)b;
	unsigned char *buf = NULL, *p;
	size_t len = 0, cap = 0;
	uint64_t limit = t->max_blob_size;
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
	error = arca__redis_fail(t->shown, ARCA_ENOTSTORED, "blob put", detail);
cleanup:
	free(buf);
	return error;
}

static int redis_find_missing(arca_backend *b, unsigned char *missing_out,
		const arca_digest *digests, size_t n)
{
	arca__redis_tier *t = (arca__redis_tier *)b;
	arca__redis_cmd *cmds = NULL;
	char (*keys)[ARCA__REDIS_KEY_MAX] = NULL, what[64];
	size_t i;
	int error;

	snprintf(what, sizeof(what), "EXISTS of %zu blobs", n);
	if ((cmds = calloc(n, sizeof(*cmds))) == NULL ||
	    (keys = calloc(n, sizeof(*keys))) == NULL) {
		free(cmds);
		return arca__error(ARCA_ENOMEM, "out of memory");
	}
	/* One pipeline per node (https://redis.io/docs/manual/pipelining/):
	 * EXISTS with several keys would count them, not say which. */
	for (i = 0; i < n; i++)
		arca__redis_cmd_set(&cmds[i], "EXISTS", keys[i],
				make_key(keys[i], t, "cas", &digests[i]));
	if ((error = arca__redis_run(t, what, cmds, n)) < 0)
		goto cleanup;
	for (i = 0; i < n; i++) {
		if (cmds[i].reply->type != REDIS_REPLY_INTEGER) {
			error = arca__redis_reply_fail(t->shown, what,
					cmds[i].reply);
			goto cleanup;
		}
		missing_out[i] = cmds[i].reply->integer == 0;
	}
cleanup:
	arca__redis_cmds_free(cmds, n);
	free(cmds);
	free(keys);
	return error;
}

/* ---- the action cache -------------------------------------------------- */

/* An entry's value: the manifest digest in hex, "\n", the manifest's
 * bytes or a zstd frame of them (possibly nothing). */
static int parse_entry(arca__redis_tier *t, const char *what,
		arca_digest *md, const char *value, size_t len)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	if (len < ARCA_DIGEST_HEXLEN)
		return arca__redis_fail(t->shown, ARCA_EIO, what,
				"not an action entry");
	memcpy(hex, value, ARCA_DIGEST_HEXLEN);
	hex[ARCA_DIGEST_HEXLEN] = '\0';
	if (arca_digest_from_hex(md, hex) < 0 ||
	    (len > ARCA_DIGEST_HEXLEN && value[ARCA_DIGEST_HEXLEN] != '\n'))
		return arca__redis_fail(t->shown, ARCA_EIO, what,
				"not an action entry");
	return 0;
}

static int redis_ac_get(arca_backend *b, const arca_digest *key,
		arca_digest *manifest_out)
{
	arca__redis_tier *t = (arca__redis_tier *)b;
	char k[ARCA__REDIS_KEY_MAX], what[ARCA__REDIS_KEY_MAX + 16];
	arca__redis_cmd cmd;
	int error;

	arca__redis_cmd_set(&cmd, "GETRANGE", k, make_key(k, t, "ac", key));
	arca__redis_cmd_arg(&cmd, "0", 1);
	arca__redis_cmd_arg(&cmd, "63", 2);
	snprintf(what, sizeof(what), "GETRANGE %s", k);
	if ((error = run_expect(t, what, &cmd, REDIS_REPLY_STRING)) < 0)
		goto cleanup;
	/* GETRANGE answers "" for a missing key. */
	if (cmd.reply->len == 0) {
		error = miss(t, what);
		goto cleanup;
	}
	error = parse_entry(t, what, manifest_out, cmd.reply->str,
			cmd.reply->len);
cleanup:
	arca__redis_cmds_free(&cmd, 1);
	return error;
}

static int copy_to_buf(arca_buf *out, const void *data, size_t len)
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
	arca__redis_tier *t = (arca__redis_tier *)b;
	char k[ARCA__REDIS_KEY_MAX], what[ARCA__REDIS_KEY_MAX + 8];
	arca__redis_cmd cmd;
	arca_buf plain = ARCA_BUF_INIT;
	const void *data;
	size_t len;
	int error;

	json_out->data = NULL;
	json_out->size = 0;
	arca__redis_cmd_set(&cmd, "GET", k, make_key(k, t, "ac", key));
	snprintf(what, sizeof(what), "GET %s", k);
	if ((error = run_get(t, what, &cmd)) < 0)
		goto cleanup;
	if ((error = parse_entry(t, what, manifest_out, cmd.reply->str,
			cmd.reply->len)) < 0)
		goto cleanup;
	if (cmd.reply->len > ARCA_DIGEST_HEXLEN + 1) {
		data = cmd.reply->str + ARCA_DIGEST_HEXLEN + 1;
		len = cmd.reply->len - ARCA_DIGEST_HEXLEN - 1;
		/* A manifest is JSON: it never starts with the magic. */
		if (arca__zstd_is_frame(data, len)) {
			if ((error = arca__zstd_decompress(json_out, data, len,
					t->max_blob_size)) < 0)
				error = arca__redis_fail(t->shown, error ==
						ARCA_ENOMEM ? ARCA_ENOMEM :
						ARCA_ECORRUPT, what, arca_errmsg());
			goto cleanup;
		}
		error = copy_to_buf(json_out, data, len);
		goto cleanup;
	}
	/* An entry without the manifest's bytes: the manifest blob. */
	arca__redis_cmds_free(&cmd, 1);
	arca__redis_cmd_set(&cmd, "GET", k, make_key(k, t, "cas",
			manifest_out));
	snprintf(what, sizeof(what), "GET %s", k);
	if ((error = run_get(t, what, &cmd)) < 0)
		goto cleanup;
	if ((error = decode_blob(t, what, &plain, &data, &len, manifest_out,
			cmd.reply)) < 0)
		goto cleanup;
	error = copy_to_buf(json_out, data, len);
cleanup:
	arca_buf_free(&plain);
	arca__redis_cmds_free(&cmd, 1);
	return error;
}

static int redis_ac_put2(arca_backend *b, const arca_digest *key,
		const arca_digest *manifest, const arca_manifest *m,
		const arca_put_options *opts)
{
	arca__redis_tier *t = (arca__redis_tier *)b;
	char k[ARCA__REDIS_KEY_MAX], what[ARCA__REDIS_KEY_MAX + 8], ttl[24];
	arca__redis_cmd cmd;
	arca_buf json = ARCA_BUF_INIT, frame = ARCA_BUF_INIT;
	const void *bytes = NULL;
	size_t bytes_len = 0, value_len;
	char *value = NULL;
	int error;

	memset(&cmd, 0, sizeof(cmd));
	if (arca__ac_entry_json(&json, manifest, m) &&
	    (error = encode_value(t, &frame, &bytes, &bytes_len, json.data,
			json.size)) < 0)
		goto cleanup;
	if ((error = arca__ac_entry_value(&value, &value_len, manifest, bytes,
			bytes_len)) < 0)
		goto cleanup;
	arca__redis_cmd_set(&cmd, "SET", k, make_key(k, t, "ac", key));
	arca__redis_cmd_arg(&cmd, value, value_len);
	if (opts != NULL && opts->ttl_s > 0) {
		uint64_t s = opts->ttl_s > TTL_MAX_S ? TTL_MAX_S : opts->ttl_s;

		arca__redis_cmd_arg(&cmd, "EX", 2);
		arca__redis_cmd_arg(&cmd, ttl, (size_t)snprintf(ttl,
				sizeof(ttl), "%llu", (unsigned long long)s));
	}
	snprintf(what, sizeof(what), "SET %s", k);
	error = run_expect(t, what, &cmd, REDIS_REPLY_STATUS);
cleanup:
	arca__redis_cmds_free(&cmd, 1);
	free(value);
	arca_buf_free(&frame);
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
	arca__redis_tier *t = (arca__redis_tier *)b;
	char k[ARCA__REDIS_KEY_MAX], what[ARCA__REDIS_KEY_MAX + 8];
	arca__redis_cmd cmd;
	int error;

	arca__redis_cmd_set(&cmd, "DEL", k, make_key(k, t, "ac", key));
	snprintf(what, sizeof(what), "DEL %s", k);
	if ((error = run_expect(t, what, &cmd, REDIS_REPLY_INTEGER)) == 0 &&
	    cmd.reply->integer == 0)
		error = miss(t, what);
	arca__redis_cmds_free(&cmd, 1);
	return error;
}

static void redis_free(arca_backend *b)
{
	arca__redis_tier *t = (arca__redis_tier *)b;

	if (t == NULL)
		return;
	if (t->close != NULL)
		t->close(t);
	arca__redis_tier_clear(t);
	free(t);
}

/* ---- the skeleton ------------------------------------------------------ */

arca__redis_tier *arca__redis_tier_of(arca_backend *b)
{
	return b != NULL && b->free == redis_free ? (arca__redis_tier *)b :
		NULL;
}

void arca__redis_tier_init(arca__redis_tier *t, const char *name)
{
	t->parent.version = ARCA_BACKEND_VERSION;
	t->parent.name = name;
	t->parent.blob_get = redis_blob_get;
	t->parent.blob_stat = redis_blob_stat;
	t->parent.blob_put = redis_blob_put;
	t->parent.blob_put_fd = redis_blob_put_fd;
	t->parent.ac_get = redis_ac_get;
	t->parent.ac_put = redis_ac_put;
	t->parent.ac_remove = redis_ac_remove;
	t->parent.free = redis_free;
	t->parent.deadline_ms = 0;
	t->parent.find_missing = redis_find_missing;
	t->parent.ac_get_manifest = redis_ac_get_manifest;
	t->parent.ac_put2 = redis_ac_put2;
}

int arca__redis_tier_configure(arca__redis_tier *t,
		const arca_redis_options *opts, const char *url_prefix,
		int url_compress)
{
	const char *prefix = url_prefix ? url_prefix : opts->prefix ?
		opts->prefix : ARCA_REDIS_PREFIX_DEFAULT;

	t->max_blob_size = opts->max_blob_size ? opts->max_blob_size :
		ARCA_REDIS_MAX_BLOB_SIZE_DEFAULT;
	t->connect_timeout_ms = opts->connect_timeout_ms ?
		opts->connect_timeout_ms : ARCA_REDIS_CONNECT_TIMEOUT_DEFAULT;
	t->timeout_ms = opts->timeout_ms ? opts->timeout_ms :
		ARCA_REDIS_TIMEOUT_DEFAULT;
	t->compress = opts->version >= 2 ? !opts->no_compress : 1;
	if (url_compress >= 0)
		t->compress = url_compress;
	if (t->max_blob_size > ARCA_REDIS_MAX_BLOB_SIZE_LIMIT)
		return arca__error(ARCA_EINVAL, "redis tier %s: max blob size "
				"%llu is over Redis's limit of 512 MB", t->shown,
				(unsigned long long)t->max_blob_size);
	if (strlen(prefix) > ARCA__REDIS_PREFIX_MAX)
		return arca__error(ARCA_EINVAL, "redis tier %s: prefix longer "
				"than 256 bytes", t->shown);
	free(t->prefix);
	if ((t->prefix = arca__strdup(prefix)) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	return 0;
}

int arca__redis_tier_copy(arca__redis_tier *dst, const arca__redis_tier *src)
{
	memcpy(dst->shown, src->shown, sizeof(dst->shown));
	dst->max_blob_size = src->max_blob_size;
	dst->connect_timeout_ms = src->connect_timeout_ms;
	dst->timeout_ms = src->timeout_ms;
	dst->compress = src->compress;
	if (arca__strdup_checked(&dst->prefix, src->prefix) < 0 ||
	    arca__strdup_checked(&dst->user, src->user) < 0 ||
	    arca__strdup_checked(&dst->password, src->password) < 0)
		return ARCA_ENOMEM;
	return 0;
}

int arca__redis_tier_dup(arca_backend **out, arca_backend *b)
{
	arca__redis_tier *t = arca__redis_tier_of(b), *d = NULL;
	int error;

	*out = NULL;
	if (t == NULL || t->dup == NULL)
		return arca__error(ARCA_EINVAL, "not a Redis tier");
	if ((error = t->dup(t, &d)) < 0)
		return error;
	*out = &d->parent;
	return 0;
}

void arca__redis_tier_clear(arca__redis_tier *t)
{
	free(t->prefix);
	free(t->user);
	arca__redis_free_secret(t->password);
	t->prefix = t->user = t->password = NULL;
}

int arca__redis_options_check(const arca_redis_options *opts)
{
	if (opts->version != 1 && opts->version != ARCA_REDIS_OPTIONS_VERSION)
		return arca__error(ARCA_EINVAL, "arca_redis_options version %u "
				"is not supported (expected 1 to %u)",
				opts->version, ARCA_REDIS_OPTIONS_VERSION);
	return 0;
}

/* ---- the one-server router ------------------------------------------- */

static int single_exec(arca__redis_tier *t, arca__redis_call *cl,
		arca__redis_cmd *cmds, size_t n)
{
	single *s = (single *)t;
	size_t i;
	int error;

	if ((error = arca__redis_conn_ready(&s->conn, cl, 0)) < 0)
		return error;
	for (i = 0; i < n; i++)
		if ((error = arca__redis_append(&s->conn, cl, cmds[i].argc,
				cmds[i].argv, cmds[i].len)) < 0)
			goto cleanup;
	for (i = 0; i < n; i++)
		if ((error = arca__redis_reply(&s->conn, cl,
				&cmds[i].reply)) < 0)
			goto cleanup;
cleanup:
	if (error < 0)
		arca__redis_cmds_free(cmds, n);
	arca__redis_conn_settle(&s->conn);
	return error;
}

static void single_close(arca__redis_tier *t)
{
	single *s = (single *)t;

	arca__redis_conn_clear(&s->conn);
}

static int single_dup(const arca__redis_tier *t, arca__redis_tier **out)
{
	const single *s = (const single *)t;
	single *d;
	int error;

	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	arca__redis_tier_init(&d->t, s->t.parent.name);
	d->t.exec = single_exec;
	d->t.close = single_close;
	d->t.dup = single_dup;
	if ((error = arca__redis_tier_copy(&d->t, &s->t)) < 0)
		goto cleanup;
	memcpy(d->conn.label, s->conn.label, sizeof(d->conn.label));
	d->conn.unix_socket = s->conn.unix_socket;
	d->conn.port = s->conn.port;
	d->conn.db = s->conn.db;
	d->conn.connect_timeout_ms = s->conn.connect_timeout_ms;
	d->conn.user = d->t.user;
	d->conn.password = d->t.password;
	if ((error = arca__strdup_checked(&d->conn.host, s->conn.host)) < 0 ||
	    (error = arca__strdup_checked(&d->conn.path, s->conn.path)) < 0)
		goto cleanup;
	*out = &d->t;
	d = NULL;
cleanup:
	if (d != NULL)
		redis_free(&d->t.parent);
	return error;
}

int arca_backend_redis_open(arca_backend **out, const char *url,
		const arca_redis_options *opts)
{
	arca_redis_options defaults = ARCA_REDIS_OPTIONS_INIT;
	arca__redis_addr a;
	arca__redis_call cl;
	single *s = NULL;
	int error;

	memset(&a, 0, sizeof(a));
	if (out == NULL || url == NULL)
		return arca__error(ARCA_EINVAL, "redis tier: no URL");
	*out = NULL;
	if (opts == NULL)
		opts = &defaults;
	if ((error = arca__redis_options_check(opts)) < 0)
		return error;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	arca__url_redact(s->t.shown, sizeof(s->t.shown), url);
	arca__redis_tier_init(&s->t, "redis");
	s->t.exec = single_exec;
	s->t.close = single_close;
	s->t.dup = single_dup;
	if ((error = arca__redis_parse_url(&a, s->t.shown, url)) < 0)
		goto cleanup;
	if ((error = arca__redis_tier_configure(&s->t, opts, a.prefix,
			a.compress)) < 0)
		goto cleanup;
	snprintf(s->conn.label, sizeof(s->conn.label), "%s", s->t.shown);
	s->conn.unix_socket = a.unix_socket;
	s->conn.host = a.host;
	s->conn.path = a.path;
	s->conn.port = a.port;
	s->conn.db = a.db;
	a.host = a.path = NULL;
	s->t.user = a.user;
	s->t.password = a.password;
	a.user = a.password = NULL;
	s->conn.user = s->t.user;
	s->conn.password = s->t.password;
	s->conn.connect_timeout_ms = s->t.connect_timeout_ms;
	if (!opts->lazy_connect) {
		if ((error = arca__redis_call_begin(&cl, s->t.shown, "connect",
				0, s->t.timeout_ms)) == 0)
			error = arca__redis_conn_ready(&s->conn, &cl, 1);
		arca__redis_call_end(&cl);
		if (error < 0)
			goto cleanup;
	}
	*out = &s->t.parent;
	s = NULL;
cleanup:
	arca__redis_addr_clear(&a);
	if (s != NULL)
		redis_free(&s->t.parent);
	return error;
}
