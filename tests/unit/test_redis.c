/*
 * The Redis tier against a real redis-server, started by each test on a
 * free 127.0.0.1 port (or a unix socket) in a temp dir and killed by its
 * teardown. The store is reached through the public headers only
 * (arca/arca.h, arca/sys/backend.h, arca/sys/redis.h); what lands in
 * Redis is checked with a hiredis connection of the test's own.
 */
#include "fixture.h"
#include "redis_admin.h"
#include "server_helpers.h"

#include "arca/arca.h"
#include "arca/sys/backend.h"
#include "arca/sys/redis.h"

#include <hiredis.h>
#include <zstd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PASSWORD "s3cret-pw"
#define ALICE_PASSWORD "alice-pw"

typedef struct rfx {
	char *dir;
	arca_store *store;
	pid_t pid;
	int port;            /* 0: unix socket only */
	char sock[512];      /* the unix socket, when there is one */
	char url[600];       /* the tier's URL, no password */
	const char *password;/* the default user's, for admin() */
} rfx;

/* A connection of the test's own (authenticated), NULL if none yet. */
static redisContext *admin_try(const rfx *f)
{
	redisContext *c = redis_admin_connect(f->port, f->sock, f->password,
			2);
	redisReply *reply;

	if (c == NULL)
		return NULL;
	reply = redisCommand(c, "PING");
	if (reply == NULL || reply->type != REDIS_REPLY_STATUS ||
	    strcmp(reply->str, "PONG") != 0) {
		if (reply)
			freeReplyObject(reply);
		redisFree(c);
		return NULL;
	}
	freeReplyObject(reply);
	return c;
}

static redisContext *admin(const rfx *f)
{
	redisContext *c = admin_try(f);

	assert_non_null(c);
	return c;
}

static int answers_ping(void *ctx)
{
	redisContext *c = admin_try(ctx);

	if (c == NULL)
		return 0;
	redisFree(c);
	return 1;
}

/*
 * Start redis-server (no persistence, in the foreground, logging to
 * dir/redis.log) with extra arguments, and wait (at most 5 s) until it
 * answers PING. Dies with the test process (PR_SET_PDEATHSIG).
 */
static void server_start(rfx *f, int unix_only, const char *const *extra)
{
	const char *argv[32];
	char port[16], *log = fixture_path("%s/redis.log", f->dir);
	int argc = 0, i;

	if (!unix_only && f->port == 0)
		f->port = free_port();
	snprintf(port, sizeof(port), "%d", unix_only ? 0 : f->port);
	argv[argc++] = "redis-server";
	argv[argc++] = "--port";
	argv[argc++] = port;
	argv[argc++] = "--bind";
	argv[argc++] = "127.0.0.1";
	argv[argc++] = "--save";
	argv[argc++] = "";
	argv[argc++] = "--appendonly";
	argv[argc++] = "no";
	argv[argc++] = "--dir";
	argv[argc++] = f->dir;
	argv[argc++] = "--daemonize";
	argv[argc++] = "no";
	for (i = 0; extra && extra[i]; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;
	f->pid = spawn_logged(argv, log);
	wait_ready(answers_ping, f, &f->pid, 5000, "redis-server", log);
	free(log);
	if (unix_only)
		snprintf(f->url, sizeof(f->url), "redis+unix://%s", f->sock);
	else
		snprintf(f->url, sizeof(f->url), "redis://127.0.0.1:%d",
				f->port);
}

static rfx *rfx_new(void)
{
	rfx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = fixture_tempdir();
	return f;
}

/* A server, a store in dir/store with the server as tier 1. */
static int setup_tier(void **state)
{
	rfx *f = rfx_new();
	char *sdir = fixture_path("%s/store", f->dir);

	server_start(f, 0, NULL);
	f->store = open_store(sdir);
	free(sdir);
	if (arca_store_add_tier_url(f->store, f->url, NULL) != 0)
		fail_msg("add tier %s: %s", f->url, arca_errmsg());
	*state = f;
	return 0;
}

/* As setup_tier, the tier storing values uncompressed (?compress=0), for
 * tests that read or change the values in Redis. */
static int setup_tier_raw(void **state)
{
	rfx *f = rfx_new();
	char *sdir = fixture_path("%s/store", f->dir), *url;

	server_start(f, 0, NULL);
	f->store = open_store(sdir);
	free(sdir);
	url = fixture_path("%s?compress=0", f->url);
	if (arca_store_add_tier_url(f->store, url, NULL) != 0)
		fail_msg("add tier %s: %s", url, arca_errmsg());
	free(url);
	*state = f;
	return 0;
}

/* A server, and a store without tiers. */
static int setup_server(void **state)
{
	rfx *f = rfx_new();
	char *sdir = fixture_path("%s/store", f->dir);

	server_start(f, 0, NULL);
	f->store = open_store(sdir);
	free(sdir);
	*state = f;
	return 0;
}

/* A server that wants a password, and a store without tiers. */
static int setup_auth(void **state)
{
	static const char *const extra[] = { "--requirepass", PASSWORD,
		"--user", "alice", "on", ">" ALICE_PASSWORD, "~*", "&*",
		"+@all", NULL };
	rfx *f = rfx_new();
	char *sdir = fixture_path("%s/store", f->dir);

	f->password = PASSWORD;
	server_start(f, 0, extra);
	f->store = open_store(sdir);
	free(sdir);
	*state = f;
	return 0;
}

/* A server on a unix socket only, and a store without tiers. */
static int setup_unix(void **state)
{
	rfx *f = rfx_new();
	char *sdir = fixture_path("%s/store", f->dir);
	const char *extra[] = { "--unixsocket", f->sock, "--unixsocketperm",
		"700", NULL };

	snprintf(f->sock, sizeof(f->sock), "%s/redis.sock", f->dir);
	server_start(f, 1, extra);
	f->store = open_store(sdir);
	free(sdir);
	*state = f;
	return 0;
}

/* No server: a store only. */
static int setup_none(void **state)
{
	rfx *f = rfx_new();
	char *sdir = fixture_path("%s/store", f->dir);

	f->store = open_store(sdir);
	free(sdir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	rfx *f = *state;

	if (f == NULL)
		return 0;
	arca_store_close(f->store);
	kill_child(&f->pid);
	fixture_rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static arca_backend *open_backend(const char *url, uint64_t max_blob_size)
{
	arca_redis_options opts = ARCA_REDIS_OPTIONS_INIT;
	arca_backend *b = NULL;

	opts.max_blob_size = max_blob_size;
	if (arca_backend_redis_open(&b, url, &opts) != 0)
		fail_msg("open %s: %s", url, arca_errmsg());
	return b;
}

static long long admin_int(redisContext *c, const char *fmt, const char *arg)
{
	return redis_admin_int(c, "redis-server", fmt, arg);
}

static long long key_exists(redisContext *c, const char *kind,
		const arca_digest *d)
{
	char key[128];

	key_of(key, sizeof(key), kind, d);
	return admin_int(c, "EXISTS %s", key);
}

static void flush_all(redisContext *c)
{
	redisReply *reply = redisCommand(c, "FLUSHALL");

	assert_non_null(reply);
	assert_int_equal(reply->type, REDIS_REPLY_STATUS);
	freeReplyObject(reply);
}

static long long db_size(redisContext *c)
{
	redisReply *reply = redisCommand(c, "DBSIZE");
	long long v;

	assert_non_null(reply);
	assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
	v = reply->integer;
	freeReplyObject(reply);
	return v;
}

/* ---- blobs ---------------------------------------------------------------- */

static void test_redis__blob_put_get_stat_and_promotion(void **state)
{
	rfx *f = *state;
	redisContext *c = admin(f);
	arca_backend *b = open_backend(f->url, 0);
	arca_digest d, remote;
	redisReply *reply;
	char key[128], *path;
	uint64_t size = 0;
	int fd;

	/* Write-through: the blob is a string under its cas key. */
	assert_int_equal(arca_blob_put(&d, f->store, "hello redis", 11), 0);
	assert_int_equal(tier_stats(f->store, 1).stored, 1);
	key_of(key, sizeof(key), "cas", &d);
	reply = redisCommand(c, "GET %s", key);
	assert_non_null(reply);
	assert_int_equal(reply->type, REDIS_REPLY_STRING);
	assert_int_equal(reply->len, 11);
	assert_memory_equal(reply->str, "hello redis", 11);
	freeReplyObject(reply);

	check_tier_blobs(b, f->store, &d, "hello redis", "only in redis");

	/* blob_put_fd: the digest and size of the file's bytes. */
	path = fixture_path("%s/input.bin", f->dir);
	fixture_write_file(path, "from a file", 11);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	size = 0;
	assert_int_equal(b->blob_put_fd(b, &remote, &size, fd), 0);
	close(fd);
	assert_int_equal(size, 11);
	assert_int_equal(arca_digest_buffer(&d, "from a file", 11), 0);
	assert_true(arca_digest_equal(&remote, &d));
	assert_int_equal(key_exists(c, "cas", &d), 1);
	free(path);

	b->free(b);
	redisFree(c);
}

static void test_redis__blob_over_max_size_is_not_stored(void **state)
{
	rfx *f = *state;
	redisContext *c = admin(f);
	arca_backend *b = open_backend(f->url, 0);
	arca_backend *small = open_backend(f->url, 1024);
	arca_tier_options topts = ARCA_TIER_OPTIONS_INIT;
	size_t big_len = ((size_t)1 << 20) + 1;
	unsigned char *big = malloc(big_len);
	arca_digest d;
	char *path;
	int fd, pipefd[2];

	assert_non_null(big);
	memset(big, 'x', big_len);
	/* The default limit, 1 MiB: one byte over is declined. */
	assert_int_equal(b->blob_put(b, &d, big, big_len), ARCA_ENOTSTORED);
	assert_int_equal(db_size(c), 0);
	assert_int_equal(b->blob_put(b, &d, big, big_len - 1), 0);
	assert_int_equal(db_size(c), 1);
	flush_all(c);

	/* A smaller limit, for buffers, files and pipes alike. */
	assert_int_equal(small->blob_put(small, &d, big, 1025), ARCA_ENOTSTORED);
	path = fixture_path("%s/big.bin", f->dir);
	fixture_write_file(path, big, 1025);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(small->blob_put_fd(small, &d, NULL, fd),
			ARCA_ENOTSTORED);
	close(fd);
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(write(pipefd[1], big, 1025), 1025);
	close(pipefd[1]);
	assert_int_equal(small->blob_put_fd(small, &d, NULL, pipefd[0]),
			ARCA_ENOTSTORED);
	close(pipefd[0]);
	assert_int_equal(db_size(c), 0);
	assert_int_equal(small->blob_put(small, &d, big, 1024), 0);
	assert_int_equal(db_size(c), 1);
	flush_all(c);

	/* Through the store: the tier option is the Redis tier's limit;
	 * counted as not stored, never an error. */
	topts.max_blob_size = 1024;
	assert_int_equal(arca_store_add_tier_url(f->store, f->url, &topts), 0);
	assert_int_equal(arca_blob_put(&d, f->store, big, 2000), 0);
	assert_int_equal(tier_stats(f->store, 1).not_stored, 1);
	assert_int_equal(tier_stats(f->store, 1).errors, 0);
	assert_int_equal(db_size(c), 0);
	assert_int_equal(arca_blob_put(&d, f->store, big, 1024), 0);
	assert_int_equal(tier_stats(f->store, 1).stored, 1);
	assert_int_equal(key_exists(c, "cas", &d), 1);

	free(path);
	free(big);
	small->free(small);
	b->free(b);
	redisFree(c);
}

static void test_redis__wrong_bytes_are_a_corrupt_miss(void **state)
{
	rfx *f = *state;
	redisContext *c = admin(f);
	arca_backend *b = open_backend(f->url, 0);
	arca_buf buf = ARCA_BUF_INIT;
	arca_manifest *m = NULL, *got = NULL;
	arca_store *plain;
	arca_digest d;
	redisReply *reply;
	char key[128], *sdir, *sdir2;
	arca_store *other;
	mem sink = { .len = 0 };

	assert_int_equal(b->blob_put(b, &d, "the right bytes", 15), 0);
	key_of(key, sizeof(key), "cas", &d);
	reply = redisCommand(c, "SET %s %s", key, "the wrong bytes");
	assert_non_null(reply);
	freeReplyObject(reply);

	assert_int_equal(arca_blob_get(&buf, f->store, &d), ARCA_ENOTFOUND);
	assert_null(buf.data);
	assert_int_equal(tier_stats(f->store, 1).corrupt, 1);
	assert_int_equal(tier_stats(f->store, 1).promoted, 0);
	/* Nothing reached tier 0, and the wrong bytes are gone from Redis
	 * (so the next write-through stores the blob again). */
	sdir = fixture_path("%s/store", f->dir);
	plain = open_store(sdir);
	assert_int_equal(arca_blob_stat(NULL, plain, &d), ARCA_ENOTFOUND);
	arca_store_close(plain);
	assert_int_equal(key_exists(c, "cas", &d), 0);
	/* The backend itself never hands out wrong bytes either. */
	reply = redisCommand(c, "SET %s %s", key, "the wrong bytes");
	freeReplyObject(reply);
	assert_int_equal(b->blob_get(b, &d, mem_sink, &sink), ARCA_ECORRUPT);
	assert_int_equal(sink.len, 0);

	/* A manifest whose bytes in the entry were changed: a corrupt miss
	 * for a second machine, whose tier 0 stays without the action. */
	m = new_action(f->store, "stage", "action output\n");
	assert_int_equal(arca_action_put(f->store, m), 0);
	key_of(key, sizeof(key), "ac", &m->key);
	reply = redisCommand(c, "GETRANGE %s 0 -1", key);
	assert_non_null(reply);
	assert_int_equal(reply->type, REDIS_REPLY_STRING);
	assert_true(reply->len > 65);
	{
		char *p = strstr(reply->str + 65, "42");
		redisReply *set;

		assert_non_null(p);
		p[0] = '9';
		set = redisCommand(c, "SET %s %b", key, reply->str,
				reply->len);
		freeReplyObject(set);
	}
	freeReplyObject(reply);
	sdir2 = fixture_path("%s/machine-b", f->dir);
	other = open_store(sdir2);
	assert_int_equal(arca_store_add_tier_url(other, f->url, NULL), 0);
	assert_int_equal(arca_action_get(&got, other, &m->key), ARCA_ENOTFOUND);
	assert_null(got);
	assert_int_equal(tier_stats(other, 1).corrupt, 1);
	arca_store_close(other);

	free(sdir2);
	free(sdir);
	arca_manifest_free(m);
	b->free(b);
	redisFree(c);
}


/* ---- compression ------------------------------------------------------ */

/* The raw value of key, malloc'd; *len its size; NULL when absent. */
static unsigned char *raw_get(redisContext *c, const char *key, size_t *len)
{
	redisReply *reply = redisCommand(c, "GET %s", key);
	unsigned char *v = NULL;

	assert_non_null(reply);
	if (reply->type == REDIS_REPLY_STRING) {
		v = malloc(reply->len + 1);
		assert_non_null(v);
		memcpy(v, reply->str, reply->len);
		*len = reply->len;
	}
	freeReplyObject(reply);
	return v;
}

static void raw_set(redisContext *c, const char *key, const void *v,
		size_t len)
{
	redisReply *reply = redisCommand(c, "SET %s %b", key, v, len);

	assert_non_null(reply);
	assert_int_equal(reply->type, REDIS_REPLY_STATUS);
	freeReplyObject(reply);
}

static int is_frame(const unsigned char *v, size_t len)
{
	return len >= 4 && memcmp(v, "\x28\xb5\x2f\xfd", 4) == 0;
}

/* One zstd frame of src; with its content size in the header or not. */
static unsigned char *frame_of(size_t *out_len, const void *src, size_t len,
		int content_size)
{
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(len), rc;
	unsigned char *dst = malloc(cap);
	ZSTD_inBuffer in = { src, len, 0 };
	ZSTD_outBuffer out = { dst, cap, 0 };

	assert_non_null(cctx);
	assert_non_null(dst);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, content_size);
	rc = ZSTD_compressStream2(cctx, &out, &in, ZSTD_e_end);
	assert_int_equal(rc, 0);
	ZSTD_freeCCtx(cctx);
	*out_len = out.pos;
	return dst;
}

static void test_redis__values_are_compressed(void **state)
{
	rfx *f = *state;
	redisContext *c = admin(f);
	arca_backend *b = open_backend(f->url, 0);
	size_t text_len = 64 * 1024, noise_len = 4000, len, i;
	unsigned char *text = malloc(text_len), *noise = malloc(noise_len), *v;
	arca_digest d_text, d_noise, d_magic, got_d;
	arca_buf buf = ARCA_BUF_INIT, json = ARCA_BUF_INIT;
	arca_manifest *m, *got = NULL;
	arca_store *other;
	uint64_t size;
	char key[128], *sdir, *url;
	mem sink = { .len = 0 };

	assert_non_null(text);
	assert_non_null(noise);
	for (i = 0; i < text_len; i++)
		text[i] = "the same words again and again, "[i % 32];
	random_fill(noise, noise_len, 7);

	/* Compressible: a zstd frame, much smaller; read back whole. */
	assert_int_equal(arca_blob_put(&d_text, f->store, text, text_len), 0);
	key_of(key, sizeof(key), "cas", &d_text);
	v = raw_get(c, key, &len);
	assert_non_null(v);
	assert_true(is_frame(v, len));
	assert_true(len < text_len / 20);
	assert_int_equal(ZSTD_getFrameContentSize(v, len), text_len);
	free(v);
	assert_int_equal(b->blob_stat(b, &d_text, &size), 0);
	assert_int_equal(size, text_len);
	/* Incompressible: the bytes themselves. */
	assert_int_equal(arca_blob_put(&d_noise, f->store, noise, noise_len), 0);
	key_of(key, sizeof(key), "cas", &d_noise);
	v = raw_get(c, key, &len);
	assert_non_null(v);
	assert_int_equal(len, noise_len);
	assert_memory_equal(v, noise, noise_len);
	free(v);
	/* Bytes that start with the magic: always in a frame. */
	memcpy(noise, "\x28\xb5\x2f\xfd", 4);
	assert_int_equal(b->blob_put(b, &d_magic, noise, noise_len), 0);
	key_of(key, sizeof(key), "cas", &d_magic);
	v = raw_get(c, key, &len);
	assert_non_null(v);
	assert_true(is_frame(v, len));
	assert_int_equal(ZSTD_getFrameContentSize(v, len), noise_len);
	free(v);
	assert_int_equal(b->blob_stat(b, &d_magic, &size), 0);
	assert_int_equal(size, noise_len);

	/* A second machine reads them all back, verified and promoted. */
	sdir = fixture_path("%s/machine-b", f->dir);
	other = open_store(sdir);
	assert_int_equal(arca_store_add_tier_url(other, f->url, NULL), 0);
	assert_int_equal(arca_blob_get(&buf, other, &d_text), 0);
	assert_int_equal(buf.size, text_len);
	assert_memory_equal(buf.data, text, text_len);
	arca_buf_free(&buf);
	assert_int_equal(arca_blob_get(&buf, other, &d_noise), 0);
	assert_int_equal(buf.size, noise_len);
	arca_buf_free(&buf);
	assert_int_equal(arca_blob_get(&buf, other, &d_magic), 0);
	assert_memory_equal(buf.data, noise, noise_len);
	arca_buf_free(&buf);
	assert_int_equal(tier_stats(other, 1).corrupt, 0);
	assert_int_equal(tier_stats(other, 1).promoted, 3);

	/* An old, uncompressed value that happens to start with the
	 * magic still reads (known by its digest). */
	raw_set(c, key, noise, noise_len);
	assert_int_equal(b->blob_get(b, &d_magic, mem_sink, &sink), 0);
	assert_int_equal(sink.len, noise_len);
	assert_memory_equal(sink.data, noise, noise_len);

	/* The manifest in an action entry: hex, "\n", a frame. */
	m = new_action(f->store, "compressed", "action output\n");
	assert_int_equal(arca_action_put(f->store, m), 0);
	key_of(key, sizeof(key), "ac", &m->key);
	v = raw_get(c, key, &len);
	assert_non_null(v);
	assert_true(len > 65 + 4);
	assert_int_equal(v[64], '\n');
	assert_true(is_frame(v + 65, len - 65));
	free(v);
	assert_int_equal(b->ac_get_manifest(b, &got_d, &json, &m->key), 0);
	assert_int_equal(json.data[0], '{');
	arca_buf_free(&json);
	assert_int_equal(arca_action_get(&got, other, &m->key), 0);
	assert_int_equal(got->duration_ms, 42);
	arca_manifest_free(got);
	got = NULL;
	arca_store_close(other);
	b->free(b);

	/* ?compress=0: stored as they are (read either way). */
	url = fixture_path("%s?compress=0", f->url);
	b = open_backend(url, 0);
	text[0] = 'T';
	assert_int_equal(b->blob_put(b, &d_text, text, text_len), 0);
	key_of(key, sizeof(key), "cas", &d_text);
	v = raw_get(c, key, &len);
	assert_non_null(v);
	assert_int_equal(len, text_len);
	free(v);
	b->free(b);
	free(url);

	arca_manifest_free(m);
	free(sdir);
	free(text);
	free(noise);
	redisFree(c);
}

static void test_redis__bad_frames_are_corrupt_misses(void **state)
{
	rfx *f = *state;
	redisContext *c = admin(f);
	arca_backend *b = open_backend(f->url, 4096);
	size_t big_len = 1 << 20, len;
	unsigned char *big = calloc(1, big_len), *frame, small[1000];
	arca_digest d_big, d_small;
	arca_buf buf = ARCA_BUF_INIT;
	char key[128];
	mem sink = { .len = 0 };

	assert_non_null(big);
	memset(small, 'x', sizeof(small));
	assert_int_equal(arca_digest_buffer(&d_small, small, sizeof(small)), 0);
	assert_int_equal(arca_digest_buffer(&d_big, big, big_len), 0);
	key_of(key, sizeof(key), "cas", &d_small);

	/* A valid frame of other bytes: corrupt, a miss, counted. */
	frame = frame_of(&len, "other bytes, other bytes, other bytes", 37, 1);
	raw_set(c, key, frame, len);
	free(frame);
	assert_int_equal(arca_blob_get(&buf, f->store, &d_small),
			ARCA_ENOTFOUND);
	assert_null(buf.data);
	assert_int_equal(tier_stats(f->store, 1).corrupt, 1);
	assert_int_equal(key_exists(c, "cas", &d_small), 0);
	/* A damaged frame (a flipped byte in its body). */
	frame = frame_of(&len, small, sizeof(small), 1);
	frame[len - 3] ^= 0x55;
	raw_set(c, key, frame, len);
	free(frame);
	assert_int_equal(b->blob_get(b, &d_small, mem_sink, &sink),
			ARCA_ECORRUPT);
	assert_int_equal(sink.len, 0);
	/* A truncated frame. */
	frame = frame_of(&len, small, sizeof(small), 1);
	raw_set(c, key, frame, len - 2);
	free(frame);
	assert_int_equal(arca_blob_get(&buf, f->store, &d_small),
			ARCA_ENOTFOUND);
	assert_int_equal(tier_stats(f->store, 1).corrupt, 2);

	/* Zip bombs: 1 MiB of zeros, over the 4 KiB max blob size, with
	 * the right digest. Declared in the header: refused before
	 * decompressing; undeclared: refused once over the limit. */
	key_of(key, sizeof(key), "cas", &d_big);
	frame = frame_of(&len, big, big_len, 1);
	assert_true(len < 4096);
	raw_set(c, key, frame, len);
	free(frame);
	assert_int_equal(b->blob_get(b, &d_big, mem_sink, &sink),
			ARCA_ECORRUPT);
	frame = frame_of(&len, big, big_len, 0);
	assert_int_equal(ZSTD_getFrameContentSize(frame, len),
			ZSTD_CONTENTSIZE_UNKNOWN);
	raw_set(c, key, frame, len);
	free(frame);
	assert_int_equal(b->blob_get(b, &d_big, mem_sink, &sink),
			ARCA_ECORRUPT);
	assert_int_equal(sink.len, 0);
	/* Under the limit, without a declared size: fine. */
	key_of(key, sizeof(key), "cas", &d_small);
	frame = frame_of(&len, small, sizeof(small), 0);
	raw_set(c, key, frame, len);
	free(frame);
	assert_int_equal(b->blob_get(b, &d_small, mem_sink, &sink), 0);
	assert_int_equal(sink.len, sizeof(small));

	b->free(b);
	free(big);
	redisFree(c);
}


/* ---- cross-host leases ---------------------------------------------------- */

static void lease_key(char *out, size_t size, const arca_digest *d)
{
	key_of(out, size, "lease", d);
}

static void test_redis__lease_primitives(void **state)
{
	rfx *f = *state;
	redisContext *c = admin(f);
	arca_backend *b1 = open_backend(f->url, 0), *b2 = open_backend(f->url, 0);
	char t1[ARCA_REDIS_LEASE_TOKEN_SIZE], t2[ARCA_REDIS_LEASE_TOKEN_SIZE];
	char key[128];
	arca_digest k;
	redisReply *reply;
	long long ttl;
	int64_t until;
	size_t i;

	assert_int_equal(arca_redis_lease_token(t1), 0);
	assert_int_equal(arca_redis_lease_token(t2), 0);
	assert_int_equal(strlen(t1), 64);
	for (i = 0; i < 64; i++)
		assert_non_null(strchr("0123456789abcdef", t1[i]));
	assert_string_not_equal(t1, t2);
	assert_int_equal(arca_digest_buffer(&k, "an action key", 13), 0);
	lease_key(key, sizeof(key), &k);

	/* Two holders: the second NX fails and changes nothing. */
	assert_int_equal(arca_redis_lease_acquire(b1, &k, t1, 10000), 0);
	assert_int_equal(arca_redis_lease_acquire(b2, &k, t2, 10000),
			ARCA_EBUSY);
	assert_int_equal(arca_redis_lease_acquire(b1, &k, t1, 10000),
			ARCA_EBUSY);
	reply = redisCommand(c, "GET %s", key);
	assert_non_null(reply);
	assert_int_equal(reply->type, REDIS_REPLY_STRING);
	assert_string_equal(reply->str, t1);
	freeReplyObject(reply);
	ttl = admin_int(c, "PTTL %s", key);
	assert_true(ttl > 0 && ttl <= 10000);

	/* A wrong token neither releases nor renews. */
	assert_int_equal(arca_redis_lease_release(b2, &k, t2), ARCA_ENOTFOUND);
	assert_int_equal(admin_int(c, "EXISTS %s", key), 1);
	assert_int_equal(arca_redis_lease_renew(b2, &k, t2, 60000),
			ARCA_ENOTFOUND);
	assert_true(admin_int(c, "PTTL %s", key) <= 10000);
	/* The holder renews, then releases. */
	assert_int_equal(arca_redis_lease_renew(b1, &k, t1, 60000), 0);
	assert_true(admin_int(c, "PTTL %s", key) > 10000);
	assert_int_equal(arca_redis_lease_release(b1, &k, t1), 0);
	assert_int_equal(admin_int(c, "EXISTS %s", key), 0);
	assert_int_equal(arca_redis_lease_release(b1, &k, t1), ARCA_ENOTFOUND);
	assert_int_equal(arca_redis_lease_renew(b1, &k, t1, 1000),
			ARCA_ENOTFOUND);

	/* Expiry: a 200 ms lease, watched with PTTL, is gone within its
	 * time; then another takes it, and the first holder can neither
	 * renew nor release the new holder's. */
	assert_int_equal(arca_redis_lease_acquire(b1, &k, t1, 200), 0);
	ttl = admin_int(c, "PTTL %s", key);
	assert_true(ttl > 0 && ttl <= 200);
	until = now_ms() + 2000;
	while ((ttl = admin_int(c, "PTTL %s", key)) != -2) {
		/* 0: due, not yet deleted. */
		assert_true(ttl >= 0 && ttl <= 200);
		assert_true(now_ms() < until);
		usleep(10000);
	}
	assert_int_equal(arca_redis_lease_acquire(b2, &k, t2, 10000), 0);
	assert_int_equal(arca_redis_lease_renew(b1, &k, t1, 10000),
			ARCA_ENOTFOUND);
	assert_int_equal(arca_redis_lease_release(b1, &k, t1), ARCA_ENOTFOUND);
	reply = redisCommand(c, "GET %s", key);
	assert_non_null(reply);
	assert_string_equal(reply->str, t2);
	freeReplyObject(reply);

	/* Bad arguments. */
	assert_int_equal(arca_redis_lease_acquire(NULL, &k, t1, 10),
			ARCA_EINVAL);
	assert_int_equal(arca_redis_lease_acquire(b1, &k, t1, 0), ARCA_EINVAL);
	assert_int_equal(arca_redis_lease_acquire(b1, &k, "", 10), ARCA_EINVAL);
	assert_int_equal(arca_redis_lease_release(b1, NULL, t1), ARCA_EINVAL);
	{
		/* Another kind of backend, even one named "redis". */
		arca_backend other = { .version = ARCA_BACKEND_VERSION,
			.name = "redis", .free = NULL };

		assert_int_equal(arca_redis_lease_acquire(&other, &k, t1, 10),
				ARCA_EINVAL);
	}

	/* The server gone: a tier error, quickly. */
	kill_child(&f->pid);
	until = now_ms() + 1000;
	assert_int_equal(arca_redis_lease_acquire(b1, &k, t1, 10000),
			ARCA_EUNAVAILABLE);
	assert_int_equal(arca_redis_lease_release(b2, &k, t2),
			ARCA_EUNAVAILABLE);
	assert_true(now_ms() < until);

	b1->free(b1);
	b2->free(b2);
	redisFree(c);
}

/* ---- the action cache ---------------------------------------------------- */

static void test_redis__action_put_get_remove(void **state)
{
	rfx *f = *state;
	redisContext *c = admin(f);
	arca_manifest *m = new_action(f->store, "transcribe", "hello world\n");
	arca_manifest *got = NULL;
	arca_buf json = ARCA_BUF_INIT;
	arca_digest md;
	char key[128], hex[ARCA_DIGEST_HEXLEN + 1];
	arca_store *other;
	redisReply *reply;

	assert_int_equal(arca_action_put(f->store, m), 0);
	/* The entry: the manifest digest, "\n", the manifest's bytes. */
	assert_int_equal(arca_manifest_to_json(&json, m), 0);
	assert_int_equal(arca_digest_buffer(&md, json.data, json.size), 0);
	arca_digest_to_hex(hex, &md);
	key_of(key, sizeof(key), "ac", &m->key);
	reply = redisCommand(c, "GET %s", key);
	assert_non_null(reply);
	assert_int_equal(reply->type, REDIS_REPLY_STRING);
	assert_int_equal(reply->len, 65 + json.size);
	assert_memory_equal(reply->str, hex, 64);
	assert_int_equal(reply->str[64], '\n');
	assert_memory_equal(reply->str + 65, json.data, json.size);
	freeReplyObject(reply);
	assert_int_equal(key_exists(c, "cas", &md), 1);
	assert_int_equal(key_exists(c, "cas", &m->outputs[0].digest), 1);
	assert_int_equal(key_exists(c, "cas", &m->stderr_digest), 1);

	/* A second machine: a hit in Redis, promoted with its blobs. */
	other = open_second_machine(f->dir, f->url, m);
	assert_int_equal(arca_action_get(&got, other, &m->key), 0);
	arca_manifest_free(got);
	got = NULL;
	assert_int_equal(tier_stats(other, 1).hits, 1);

	/* The backend's ac_get: the digest only. */
	{
		arca_backend *b = open_backend(f->url, 0);
		arca_digest got_md;
		arca_buf got_json = ARCA_BUF_INIT;

		assert_int_equal(b->ac_get(b, &m->key, &got_md), 0);
		assert_true(arca_digest_equal(&got_md, &md));
		assert_int_equal(b->ac_get_manifest(b, &got_md, &got_json,
				&m->key), 0);
		assert_int_equal(got_json.size, json.size);
		assert_memory_equal(got_json.data, json.data, json.size);
		arca_buf_free(&got_json);
		assert_int_equal(b->ac_get(b, &md, &got_md), ARCA_ENOTFOUND);
		/* An entry naming the manifest blob only: a second GET. */
		reply = redisCommand(c, "SET %s %s\n", key, hex);
		freeReplyObject(reply);
		assert_int_equal(b->ac_get_manifest(b, &got_md, &got_json,
				&m->key), 0);
		assert_true(arca_digest_equal(&got_md, &md));
		assert_int_equal(got_json.size, json.size);
		assert_memory_equal(got_json.data, json.data, json.size);
		arca_buf_free(&got_json);
		assert_int_equal(b->ac_remove(b, &md), ARCA_ENOTFOUND);
		b->free(b);
	}

	/* Removal reaches Redis. */
	assert_int_equal(arca_action_remove(other, &m->key), 0);
	assert_int_equal(key_exists(c, "ac", &m->key), 0);
	assert_int_equal(arca_action_get(&got, f->store, &m->key), 0);
	arca_manifest_free(got);
	arca_store_close(other);

	arca_buf_free(&json);
	arca_manifest_free(m);
	redisFree(c);
}

static long long pttl(redisContext *c, const arca_digest *key)
{
	char k[128];

	key_of(k, sizeof(k), "ac", key);
	return admin_int(c, "PTTL %s", k);
}

static void test_redis__ttl_maps_to_expiry(void **state)
{
	rfx *f = *state;
	redisContext *c = admin(f);
	arca_put_options opts = ARCA_PUT_OPTIONS_INIT;
	const char *tags[] = { "nightly" };
	arca_manifest *m1 = new_action(f->store, "a", "one\n");
	arca_manifest *m2 = new_action(f->store, "b", "two\n");
	arca_manifest *m3 = new_action(f->store, "c", "three\n");
	long long ms;

	opts.ttl_s = 3600;
	opts.tags = tags;
	opts.n_tags = 1;
	assert_int_equal(arca_action_put_ex(f->store, m1, &opts), 0);
	ms = pttl(c, &m1->key);
	/* PTTL counts down from 3 600 000 ms (https://redis.io/commands/
	 * pttl/); a minute of slack, no waiting. */
	assert_true(ms > 3540000 && ms <= 3600000);

	/* No TTL: no expiry (-1); a second put without one clears it. */
	assert_int_equal(arca_action_put(f->store, m2), 0);
	assert_int_equal(pttl(c, &m2->key), -1);
	assert_int_equal(arca_action_put(f->store, m1), 0);
	assert_int_equal(pttl(c, &m1->key), -1);

	/* A TTL beyond Redis's clock is capped, not refused. */
	opts.ttl_s = UINT64_MAX;
	assert_int_equal(arca_action_put_ex(f->store, m3, &opts), 0);
	assert_true(pttl(c, &m3->key) > (long long)4000000000 * 1000);
	assert_int_equal(tier_stats(f->store, 1).errors, 0);

	arca_manifest_free(m1);
	arca_manifest_free(m2);
	arca_manifest_free(m3);
	redisFree(c);
}

/* ---- faults ------------------------------------------------------------- */

static void test_redis__server_killed_mid_test(void **state)
{
	rfx *f = *state;
	arca_backend *b = open_backend(f->url, 0);
	arca_manifest *m = new_action(f->store, "before", "before\n");
	arca_manifest *m2 = NULL, *got = NULL;
	arca_buf buf = ARCA_BUF_INIT;
	arca_digest d, nothing;
	mem sink = { .len = 0 };
	arca_tier_stats st;
	int64_t t0, t;
	int rc;

	assert_int_equal(arca_action_put(f->store, m), 0);
	assert_int_equal(b->blob_put(b, &d, "x", 1), 0);
	kill_child(&f->pid);

	/* The backend: unreachable, quickly (100 ms connect timeout), on
	 * the broken connection and on each new attempt. */
	t0 = now_ms();
	assert_int_equal(b->blob_get(b, &d, mem_sink, &sink), ARCA_EUNAVAILABLE);
	assert_true(one_line(arca_errmsg()));
	assert_non_null(strstr(arca_errmsg(), f->url));
	assert_int_equal(b->blob_get(b, &d, mem_sink, &sink), ARCA_EUNAVAILABLE);
	assert_int_equal(b->blob_put(b, &d, "x", 1), ARCA_EUNAVAILABLE);
	t = now_ms() - t0;
	assert_true(t < 1000);

	/* The store: every call succeeds from tier 0; Redis's failures are
	 * counted. */
	t0 = now_ms();
	assert_int_equal(arca_blob_put(&d, f->store, "after the kill", 14), 0);
	assert_int_equal(arca_blob_get(&buf, f->store, &d), 0);
	arca_buf_free(&buf);
	assert_int_equal(arca_digest_buffer(&nothing, "nowhere", 7), 0);
	assert_int_equal(arca_blob_get(&buf, f->store, &nothing),
			ARCA_ENOTFOUND);
	assert_int_equal(arca_action_get(&got, f->store, &m->key), 0);
	arca_manifest_free(got);
	got = NULL;
	assert_int_equal(arca_action_get(&got, f->store, &nothing),
			ARCA_ENOTFOUND);
	m2 = new_action(f->store, "after", "after\n");
	assert_int_equal(arca_action_put(f->store, m2), 0);
	assert_int_equal(arca_action_remove(f->store, &m->key), 0);
	t = now_ms() - t0;
	assert_true(t < 1000);
	st = tier_stats(f->store, 1);
	assert_true(st.errors >= 5);
	assert_int_equal(st.hits, 0);

	/* Back on the same port: the next call connects again. */
	server_start(f, 0, NULL);
	rc = b->blob_put(b, &d, "x", 1);
	if (rc != 0)
		fail_msg("after restart: %s", arca_errmsg());
	assert_int_equal(arca_blob_put(&d, f->store, "reconnected", 11), 0);
	assert_int_equal(tier_stats(f->store, 1).stored, st.stored + 1);

	/* A restart between two calls: the connection the server closed is
	 * noticed before use and replaced, so the call succeeds. */
	kill_child(&f->pid);
	server_start(f, 0, NULL);
	rc = b->blob_put(b, &d, "x", 1);
	if (rc != 0)
		fail_msg("after a restart between calls: %s", arca_errmsg());
	assert_int_equal(arca_blob_put(&d, f->store, "no call failed", 14), 0);
	assert_int_equal(tier_stats(f->store, 1).stored, st.stored + 2);
	assert_int_equal(tier_stats(f->store, 1).errors, st.errors);

	arca_manifest_free(m);
	arca_manifest_free(m2);
	b->free(b);
}

static void test_redis__stalled_server_times_out(void **state)
{
	rfx *f = *state;
	arca_backend *b = open_backend(f->url, 0);
	arca_tier_options topts = ARCA_TIER_OPTIONS_INIT;
	arca_buf buf = ARCA_BUF_INIT;
	arca_digest d;
	mem sink = { .len = 0 };
	int64_t t0, t;

	assert_int_equal(b->blob_put(b, &d, "stall", 5), 0);
	topts.timeout_ms = 200;
	assert_int_equal(arca_store_add_tier_url(f->store, f->url, &topts), 0);
	assert_int_equal(kill(f->pid, SIGSTOP), 0);

	/* deadline_ms as the store writes it: 200 ms from now. */
	t0 = now_ms();
	b->deadline_ms = t0 + 200;
	assert_int_equal(b->blob_get(b, &d, mem_sink, &sink), ARCA_ETIMEOUT);
	t = now_ms() - t0;
	assert_true(t >= 150 && t < 1000);
	assert_true(one_line(arca_errmsg()));

	/* Through the store: the tier's timeout_ms is the deadline. */
	t0 = now_ms();
	assert_int_equal(arca_blob_put(&d, f->store, "while stalled", 13), 0);
	t = now_ms() - t0;
	assert_int_equal(kill(f->pid, SIGCONT), 0);
	assert_true(t >= 150 && t < 1000);
	assert_int_equal(tier_stats(f->store, 1).timeouts, 1);

	/* Resumed: the next call reconnects (the timed-out connection was
	 * dropped, its late reply never read as another's). */
	b->deadline_ms = 0;
	sink.len = 0;
	assert_int_equal(arca_digest_buffer(&d, "never stored", 12), 0);
	assert_int_equal(b->blob_get(b, &d, mem_sink, &sink), ARCA_ENOTFOUND);
	assert_int_equal(sink.len, 0);
	assert_int_equal(arca_digest_buffer(&d, "stall", 5), 0);
	assert_int_equal(b->blob_get(b, &d, mem_sink, &sink), 0);
	assert_int_equal(sink.len, 5);
	assert_memory_equal(sink.data, "stall", 5);
	assert_int_equal(arca_blob_get(&buf, f->store, &d), 0);
	arca_buf_free(&buf);
	b->free(b);
}

/* The server dies while a large SET is being written (its buffers full,
 * the server stopped): the write fails (over a unix socket with EPIPE,
 * which raises SIGPIPE), the call with ARCA_EUNAVAILABLE, and SIGPIPE
 * never kills the process. Run over TCP and over a unix socket. */
static void test_redis__server_dies_during_a_write(void **state)
{
	rfx *f = *state;
	size_t big_len = (size_t)16 << 20;
	arca_backend *b = open_backend(f->url, big_len);
	unsigned char *big = malloc(big_len);
	arca_digest d;
	pid_t killer;
	int rc;

	assert_non_null(big);
	memset(big, 'y', big_len);
	signal(SIGPIPE, SIG_DFL);
	assert_int_equal(kill(f->pid, SIGSTOP), 0);
	killer = fork();
	assert_true(killer >= 0);
	if (killer == 0) {
		usleep(300000);
		kill(f->pid, SIGKILL);
		_exit(0);
	}
	rc = b->blob_put(b, &d, big, big_len);
	waitpid(killer, NULL, 0);
	waitpid(f->pid, NULL, 0);
	f->pid = 0;
	assert_int_equal(rc, ARCA_EUNAVAILABLE);
	assert_true(one_line(arca_errmsg()));
	/* And the next call, on no connection: unavailable too. */
	assert_int_equal(b->blob_put(b, &d, "z", 1), ARCA_EUNAVAILABLE);
	free(big);
	b->free(b);
}

/* A Redis at its maxmemory with noeviction answers puts with OOM: the
 * tier is full (ARCA_EFULL), counted as an error, the store's put
 * succeeds. */
static void test_redis__full_server(void **state)
{
	rfx *f = *state;
	static const char *const extra[] = { "--maxmemory", "2mb",
		"--maxmemory-policy", "noeviction", NULL };
	size_t len = 900 * 1024;
	unsigned char *data = malloc(len);
	arca_backend *b;
	arca_digest d;
	int i, rc = 0;

	assert_non_null(data);
	server_start(f, 0, extra);
	b = open_backend(f->url, 0);
	/* Incompressible bytes, so that each blob takes its size. */
	for (i = 0; i < 8 && rc == 0; i++) {
		size_t j;

		for (j = 0; j < len; j++)
			data[j] = (unsigned char)(random() >> 7);
		rc = b->blob_put(b, &d, data, len);
	}
	assert_int_equal(rc, ARCA_EFULL);
	assert_non_null(strstr(arca_errmsg(), "OOM"));
	assert_int_equal(arca_store_add_tier_url(f->store, f->url, NULL), 0);
	data[0] ^= 1;
	assert_int_equal(arca_blob_put(&d, f->store, data, len), 0);
	assert_int_equal(tier_stats(f->store, 1).errors, 1);
	free(data);
	b->free(b);
}

/* A listening socket that never accepts, its queue full: connects to it
 * hang (SYNs dropped), as to a host that does not answer. */
static void test_redis__connect_timeout(void **state)
{
	rfx *f = *state;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fill[4], i;
	arca_backend *b = NULL;
	char url[64];
	int64_t t0, t;
	int rc;

	(void)f;
	assert_true(lfd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	for (i = 0; i < 4; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_true(fill[i] >= 0);
		(void)connect(fill[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	usleep(50000);
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", ntohs(sa.sin_port));
	t0 = now_ms();
	rc = arca_backend_redis_open(&b, url, NULL);
	t = now_ms() - t0;
	assert_int_equal(rc, ARCA_EUNAVAILABLE);
	assert_null(b);
	assert_non_null(strstr(arca_errmsg(), "connect timeout"));
	/* The default connect timeout: 100 ms. */
	assert_true(t >= 90 && t < 1000);
	for (i = 0; i < 4; i++)
		close(fill[i]);
	close(lfd);
}

/* ---- AUTH, unix sockets, URLs ----------------------------------------- */

static void test_redis__auth(void **state)
{
	rfx *f = *state;
	char url[700];
	const char *msg;
	arca_digest d;
	redisContext *c = admin(f);

	/* The default user's password, then an ACL user's (Redis 6+). */
	snprintf(url, sizeof(url), "redis://:%s@127.0.0.1:%d/99", PASSWORD,
			f->port);
	assert_int_equal(arca_store_add_tier_url(f->store, url, NULL),
			ARCA_EIO);
	assert_non_null(strstr(arca_errmsg(), "SELECT"));
	assert_null(strstr(arca_errmsg(), PASSWORD));
	snprintf(url, sizeof(url), "redis://:%s@127.0.0.1:%d/3", PASSWORD,
			f->port);
	assert_int_equal(arca_store_add_tier_url(f->store, url, NULL), 0);
	snprintf(url, sizeof(url), "redis://alice:%s@127.0.0.1:%d",
			ALICE_PASSWORD, f->port);
	assert_int_equal(arca_store_add_tier_url(f->store, url, NULL), 0);
	assert_int_equal(arca_blob_put(&d, f->store, "authenticated", 13), 0);
	assert_int_equal(tier_stats(f->store, 1).stored, 1);
	assert_int_equal(tier_stats(f->store, 2).stored, 1);
	/* Tier 1 wrote to database 3, tier 2 to database 0. */
	assert_int_equal(key_exists(c, "cas", &d), 1);
	assert_int_equal(db_size(c), 1);
	freeReplyObject(redisCommand(c, "SELECT 3"));
	assert_int_equal(key_exists(c, "cas", &d), 1);

	/* Wrong passwords: refused at once, one line, no password. */
	snprintf(url, sizeof(url), "redis://:wrong-secret@127.0.0.1:%d",
			f->port);
	assert_int_equal(arca_store_add_tier_url(f->store, url, NULL),
			ARCA_EPERM);
	msg = arca_errmsg();
	assert_true(one_line(msg));
	assert_null(strstr(msg, "wrong-secret"));
	assert_non_null(strstr(msg, "127.0.0.1"));
	snprintf(url, sizeof(url), "redis://alice:bad-alice-pw@127.0.0.1:%d",
			f->port);
	assert_int_equal(arca_store_add_tier_url(f->store, url, NULL),
			ARCA_EPERM);
	msg = arca_errmsg();
	assert_true(one_line(msg));
	assert_null(strstr(msg, "bad-alice-pw"));
	assert_non_null(strstr(msg, "alice@127.0.0.1"));
	/* None at all: NOAUTH on the first command. */
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", f->port);
	assert_int_equal(arca_store_add_tier_url(f->store, url, NULL),
			ARCA_EPERM);
	assert_true(one_line(arca_errmsg()));
	assert_int_equal(arca_store_tier_count(f->store), 3);
	redisFree(c);
}

static void test_redis__unix_socket(void **state)
{
	rfx *f = *state;
	char url[700], key[128];
	redisContext *c = admin(f);
	redisReply *reply;
	arca_buf buf = ARCA_BUF_INIT;
	arca_digest d;

	snprintf(url, sizeof(url), "redis+unix://%s?db=2&prefix=team%%3A",
			f->sock);
	assert_int_equal(arca_store_add_tier_url(f->store, url, NULL), 0);
	assert_int_equal(arca_blob_put(&d, f->store, "over a socket", 13), 0);
	assert_int_equal(tier_stats(f->store, 1).stored, 1);
	assert_int_equal(db_size(c), 0);
	reply = redisCommand(c, "SELECT 2");
	freeReplyObject(reply);
	key_of(key, sizeof(key), "cas", &d);
	memcpy(key, "team:", 5);
	memmove(key + 5, key + 8, strlen(key + 8) + 1);
	assert_int_equal(admin_int(c, "EXISTS %s", key), 1);
	assert_int_equal(db_size(c), 1);

	/* A second machine reads it through the socket. */
	{
		char *sdir = fixture_path("%s/machine-b", f->dir);
		arca_store *other = open_store(sdir);

		assert_int_equal(arca_store_add_tier_url(other, url, NULL), 0);
		assert_int_equal(arca_blob_get(&buf, other, &d), 0);
		assert_memory_equal(buf.data, "over a socket", 13);
		arca_buf_free(&buf);
		arca_store_close(other);
		free(sdir);
	}

	/* A socket nobody listens on: unavailable, named. */
	snprintf(url, sizeof(url), "redis+unix://%s/nothing.sock", f->dir);
	assert_int_equal(arca_store_add_tier_url(f->store, url, NULL),
			ARCA_EUNAVAILABLE);
	assert_non_null(strstr(arca_errmsg(), "nothing.sock"));
	redisFree(c);
}

static void test_redis__bad_urls(void **state)
{
	rfx *f = *state;

	expect_einval(f->store, "redis://host:notaport", "redis://host:notaport",
			NULL, NULL);
	expect_einval(f->store, "redis://", "redis://", NULL, "host");
	expect_einval(f->store, "redis://u:topsecret@host:0",
			"redis://u@host:0", "topsecret", NULL);
	expect_einval(f->store, "redis://h/not-a-db", "redis://h/not-a-db",
			NULL, "database");
	expect_einval(f->store, "redis://h?bogus=1", "redis://h?bogus=1", NULL,
			"bogus");
	expect_einval(f->store, "redis://h#frag", "redis://h#frag", NULL, NULL);
	expect_einval(f->store, "redis://alice@h", "redis://alice@h", NULL,
			"without a password");
	expect_einval(f->store, "redis+unix://", "redis+unix://", NULL, NULL);
	expect_einval(f->store, "redis+unix:///tmp/s.sock?db=x&password=hush",
			"redis+unix:///tmp/s.sock?db=x", "hush", "db");
	expect_einval(f->store, "redis+unix:///tmp/s.sock?password=hush#x",
			"redis+unix:///tmp/s.sock#x\"", "hush", "fragment");
	expect_einval(f->store, "redis+unix://host/tmp/s.sock",
			"redis+unix://host/tmp/s.sock", NULL, NULL);
	/* Unknown schemes: named, with what is supported. */
	expect_einval(f->store, "ftp://bucket/prefix", "ftp://bucket/prefix",
			NULL, "redis://, redis+unix://");
	expect_einval(f->store, "memcached://u:secret@host:11211",
			"memcached://u@host:11211", "secret", "redis+unix://");
	expect_einval(f->store, "just words", "just words", NULL, "redis://");
	assert_int_equal(arca_store_add_tier_url(f->store, NULL, NULL),
			ARCA_EINVAL);
	assert_int_equal(arca_store_tier_count(f->store), 1);
	/* The backend's own opener says the same. */
	{
		arca_backend *b = (arca_backend *)1;

		assert_int_equal(arca_backend_redis_open(&b, "http://h/", NULL),
				ARCA_EINVAL);
		assert_null(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_redis__blob_put_get_stat_and_promotion,
			setup_tier, teardown),
		cmocka_unit_test_setup_teardown(
			test_redis__blob_over_max_size_is_not_stored,
			setup_server, teardown),
		cmocka_unit_test_setup_teardown(
			test_redis__wrong_bytes_are_a_corrupt_miss,
			setup_tier_raw, teardown),
		cmocka_unit_test_setup_teardown(
			test_redis__action_put_get_remove,
			setup_tier_raw, teardown),
		cmocka_unit_test_setup_teardown(
			test_redis__values_are_compressed,
			setup_tier, teardown),
		cmocka_unit_test_setup_teardown(
			test_redis__bad_frames_are_corrupt_misses,
			setup_tier, teardown),
		cmocka_unit_test_setup_teardown(test_redis__lease_primitives,
			setup_server, teardown),
		cmocka_unit_test_setup_teardown(test_redis__ttl_maps_to_expiry,
			setup_tier, teardown),
		cmocka_unit_test_setup_teardown(
			test_redis__server_killed_mid_test,
			setup_tier, teardown),
		cmocka_unit_test_setup_teardown(
			test_redis__stalled_server_times_out,
			setup_server, teardown),
		cmocka_unit_test_setup_teardown(
			test_redis__server_dies_during_a_write,
			setup_server, teardown),
		cmocka_unit_test_setup_teardown(
			test_redis__server_dies_during_a_write,
			setup_unix, teardown),
		cmocka_unit_test_setup_teardown(test_redis__full_server,
			setup_none, teardown),
		cmocka_unit_test_setup_teardown(test_redis__connect_timeout,
			setup_none, teardown),
		cmocka_unit_test_setup_teardown(test_redis__auth,
			setup_auth, teardown),
		cmocka_unit_test_setup_teardown(test_redis__unix_socket,
			setup_unix, teardown),
		cmocka_unit_test_setup_teardown(test_redis__bad_urls,
			setup_none, teardown),
	};

	/* A hung call fails the run instead of waiting out ctest. */
	alarm(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
