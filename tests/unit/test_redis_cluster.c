/*
 * The Redis Cluster tier against a real Cluster of 3 masters that the
 * test builds itself: 3 redis-server processes on free 127.0.0.1 ports
 * (cluster-enabled, no persistence, a password), joined with
 * `redis-cli --cluster create`, waited for until CLUSTER INFO says
 * cluster_state:ok on all three (at most 15 s). The servers die with the
 * test process (PR_SET_PDEATHSIG) and are killed by the group teardown;
 * an alarm() bounds the whole run. The store is reached through the
 * public headers only; what lands on each node is checked with hiredis
 * connections of the test's own.
 *
 * The Cluster is shared by the tests, which run in order: the last one
 * SIGKILLs a node.
 */
#include "fixture.h"
#include "redis_admin.h"
#include "server_helpers.h"

#include "arca/arca.h"
#include "arca/sys/backend.h"
#include "arca/sys/redis.h"
#include "arca/sys/redis_cluster.h"

#include <hiredis.h>

#include <arpa/inet.h>
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

#define NODES 3
#define PASSWORD "cluster-pw"

typedef struct cfx {
	char *dir;
	pid_t pid[NODES];
	int port[NODES], bus[NODES];
	char id[NODES][64];
	char url[512];       /* with the password */
	char shown[512];     /* the same without it */
} cfx;

static cfx g;

/* Per test: a store with the cluster as tier 1 (freed by
 * fixture_store_teardown). */
typedef fixture_store tfx;

/* An authenticated connection to node i, NULL if none. */
static redisContext *node_try(int i)
{
	return redis_admin_connect(g.port[i], NULL, PASSWORD, 5);
}

static redisContext *node(int i)
{
	redisContext *c = node_try(i);

	if (c == NULL)
		fail_msg("node %d (port %d) does not answer", i, g.port[i]);
	return c;
}

/* A command on node i that must answer a status (OK). */
static void node_ok(int i, const char *fmt, ...)
{
	redisContext *c = node(i);
	redisReply *reply;
	va_list ap;

	va_start(ap, fmt);
	reply = redisvCommand(c, fmt, ap);
	va_end(ap);
	assert_non_null(reply);
	if (reply->type != REDIS_REPLY_STATUS)
		fail_msg("node %d: %s: reply type %d (%s)", i, fmt, reply->type,
				reply->type == REDIS_REPLY_ERROR ? reply->str : "");
	freeReplyObject(reply);
	redisFree(c);
}

static long long node_int(int i, const char *fmt, const char *arg)
{
	redisContext *c = node(i);
	char who[16];
	long long v;

	snprintf(who, sizeof(who), "node %d", i);
	v = redis_admin_int(c, who, fmt, arg);
	redisFree(c);
	return v;
}

/* The calls of one command counted by INFO commandstats on node i
 * ("cmdstat_get", "cmdstat_asking", "cmdstat_cluster|slots"). */
static long long node_calls(int i, const char *stat)
{
	redisContext *c = node(i);
	redisReply *reply = redisCommand(c, "INFO commandstats");
	char pattern[64];
	const char *p;
	long long v = 0;

	assert_non_null(reply);
	assert_int_equal(reply->type, REDIS_REPLY_STRING);
	snprintf(pattern, sizeof(pattern), "%s:calls=", stat);
	if ((p = strstr(reply->str, pattern)) != NULL)
		v = atoll(p + strlen(pattern));
	freeReplyObject(reply);
	redisFree(c);
	return v;
}

static int node_answers_ok(int i)
{
	redisContext *c = node_try(i);
	redisReply *reply;
	int ok;

	if (c == NULL)
		return 0;
	reply = redisCommand(c, "CLUSTER INFO");
	ok = reply != NULL && reply->type == REDIS_REPLY_STRING &&
		strstr(reply->str, "cluster_state:ok") != NULL;
	if (reply)
		freeReplyObject(reply);
	redisFree(c);
	return ok;
}

static int group_teardown(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < NODES; i++)
		kill_child(&g.pid[i]);
	fixture_rmdir(g.dir);
	g.dir = NULL;
	return 0;
}

/* Build the Cluster: 3 masters, every slot served, state ok on all. */
static int group_setup(void **state)
{
	char port[NODES][16], bus[NODES][16], addr[NODES][32];
	char *conf[NODES], *log = NULL;
	int ports[2 * NODES], i, status, dead;
	int64_t until;
	pid_t cli;

	(void)state;
	g.dir = fixture_tempdir();
	log = fixture_path("%s/redis.log", g.dir);
	free_ports(ports, 2 * NODES);
	for (i = 0; i < NODES; i++) {
		const char *argv[40];
		int argc = 0;

		g.port[i] = ports[i];
		g.bus[i] = ports[NODES + i];
		snprintf(port[i], sizeof(port[i]), "%d", g.port[i]);
		snprintf(bus[i], sizeof(bus[i]), "%d", g.bus[i]);
		snprintf(addr[i], sizeof(addr[i]), "127.0.0.1:%d", g.port[i]);
		conf[i] = fixture_path("%s/nodes-%d.conf", g.dir, i);
		argv[argc++] = "redis-server";
		argv[argc++] = "--port";
		argv[argc++] = port[i];
		/* The bus port is its own free port: port + 10000 may be
		 * over 65535 for an ephemeral port. */
		argv[argc++] = "--cluster-port";
		argv[argc++] = bus[i];
		argv[argc++] = "--bind";
		argv[argc++] = "127.0.0.1";
		argv[argc++] = "--cluster-enabled";
		argv[argc++] = "yes";
		argv[argc++] = "--cluster-config-file";
		argv[argc++] = conf[i];
		/* A dead node loses its own slots only (docs/tiers.md). */
		argv[argc++] = "--cluster-require-full-coverage";
		argv[argc++] = "no";
		argv[argc++] = "--cluster-node-timeout";
		argv[argc++] = "3000";
		argv[argc++] = "--save";
		argv[argc++] = "";
		argv[argc++] = "--appendonly";
		argv[argc++] = "no";
		argv[argc++] = "--dir";
		argv[argc++] = g.dir;
		argv[argc++] = "--requirepass";
		argv[argc++] = PASSWORD;
		argv[argc++] = "--masterauth";
		argv[argc++] = PASSWORD;
		argv[argc++] = "--daemonize";
		argv[argc++] = "no";
		argv[argc] = NULL;
		g.pid[i] = spawn_logged(argv, log);
	}
	until = now_ms() + 5000;
	for (i = 0; i < NODES; i++) {
		redisContext *c;

		while ((c = node_try(i)) == NULL) {
			if (now_ms() > until)
				fail_msg("node %d did not answer in 5 s (see %s)",
						i, log);
			usleep(10000);
		}
		redisFree(c);
	}
	{
		const char *argv[] = { "redis-cli", "-a", PASSWORD,
			"--no-auth-warning", "--cluster", "create", addr[0],
			addr[1], addr[2], "--cluster-replicas", "0",
			"--cluster-yes", NULL };

		cli = spawn_logged(argv, log);
		until = now_ms() + 30000;
		while (waitpid(cli, &status, WNOHANG) != cli) {
			if (now_ms() > until) {
				kill(cli, SIGKILL);
				fail_msg("redis-cli --cluster create hung (see %s)",
						log);
			}
			usleep(20000);
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("redis-cli --cluster create failed (see %s)",
					log);
	}
	until = now_ms() + 15000;
	for (i = 0; i < NODES; i++)
		while (!node_answers_ok(i)) {
			if (now_ms() > until)
				fail_msg("node %d: no cluster_state:ok in 15 s",
						i);
			usleep(50000);
		}
	for (i = 0; i < NODES; i++) {
		redisContext *c = node(i);
		redisReply *reply = redisCommand(c, "CLUSTER MYID");

		assert_non_null(reply);
		assert_int_equal(reply->type, REDIS_REPLY_STRING);
		snprintf(g.id[i], sizeof(g.id[i]), "%s", reply->str);
		freeReplyObject(reply);
		redisFree(c);
		free(conf[i]);
	}
	/* Seeds: the second one first, and one port nothing listens on,
	 * so that the map is asked of any seed that answers. */
	free_ports(&dead, 1);
	snprintf(g.url, sizeof(g.url), "redis+cluster://:" PASSWORD
			"@127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", dead,
			g.port[1], g.port[0]);
	snprintf(g.shown, sizeof(g.shown), "redis+cluster://127.0.0.1:%d,"
			"127.0.0.1:%d,127.0.0.1:%d", dead, g.port[1], g.port[0]);
	free(log);
	return 0;
}

static arca_store *open_store_with_tier(const char *dir)
{
	arca_store *s = open_store(dir);

	if (arca_store_add_tier_url(s, g.url, NULL) != 0)
		fail_msg("add tier %s: %s", g.shown, arca_errmsg());
	return s;
}

static int setup(void **state)
{
	tfx *f = calloc(1, sizeof(*f));
	char *sdir;
	int i;

	assert_non_null(f);
	for (i = 0; i < NODES; i++)
		if (g.pid[i] > 0)
			node_ok(i, "FLUSHALL");
	f->dir = fixture_tempdir();
	sdir = fixture_path("%s/store", f->dir);
	f->store = open_store_with_tier(sdir);
	free(sdir);
	*state = f;
	return 0;
}

static int setup_none(void **state)
{
	tfx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = fixture_tempdir();
	*state = f;
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static arca_backend *open_backend(const char *url)
{
	arca_backend *b = NULL;

	if (arca_backend_redis_cluster_open(&b, url, NULL) != 0)
		fail_msg("open %s: %s", g.shown, arca_errmsg());
	return b;
}

/* The node that holds key (EXISTS on each), -1 when none does. */
static int holder(const char *key)
{
	int i, found = -1;

	for (i = 0; i < NODES; i++) {
		redisContext *c;
		redisReply *reply;

		if (g.pid[i] == 0)
			continue;
		c = node(i);
		/* READONLY-free: EXISTS on a node not serving the slot is
		 * answered with MOVED, which is not an integer. */
		reply = redisCommand(c, "EXISTS %s", key);
		assert_non_null(reply);
		if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
			assert_int_equal(found, -1);
			found = i;
		}
		freeReplyObject(reply);
		redisFree(c);
	}
	return found;
}

/* ---- hash slots ------------------------------------------------------------ */

static unsigned int slot_of(const char *key)
{
	return arca_redis_cluster_key_slot(key, strlen(key));
}

static void test_redis_cluster__crc16_and_hash_tags(void **state)
{
	(void)state;
	/* The specification's test vector (cluster-spec, "Keys
	 * distribution model": CRC16 of "123456789" is 0x31C3). */
	assert_int_equal(arca_redis_cluster_crc16("123456789", 9), 0x31C3);
	assert_int_equal(arca_redis_cluster_crc16(NULL, 0), 0);
	assert_int_equal(slot_of("123456789"), 0x31C3 % 16384);
	/* Hash tags, the specification's examples. */
	assert_int_equal(slot_of("{user1000}.following"),
			slot_of("{user1000}.followers"));
	assert_int_equal(slot_of("{user1000}.following"), slot_of("user1000"));
	assert_int_equal(slot_of("foo{}{bar}"),
			arca_redis_cluster_crc16("foo{}{bar}", 10) % 16384);
	assert_int_equal(slot_of("foo{{bar}}zap"), slot_of("{bar"));
	assert_int_equal(slot_of("foo{bar}{zap}"), slot_of("bar"));
	assert_int_equal(slot_of("foo{bar"),
			arca_redis_cluster_crc16("foo{bar", 7) % 16384);
	/* Known slots (CLUSTER KEYSLOT of Redis 7.0). */
	assert_int_equal(slot_of("foo"), 12182);
	assert_int_equal(slot_of("bar"), 5061);
	assert_int_equal(slot_of(""), 0);
}

/* ---- spread, read back, promotion ---------------------------------------- */

static void test_redis_cluster__keys_spread_over_all_nodes(void **state)
{
	tfx *f = *state;
	enum { BLOBS = 30, ACTIONS = 9 };
	arca_digest d[BLOBS + 2];
	arca_manifest *m[ACTIONS];
	unsigned char data[2000], missing[BLOBS + 2];
	arca_buf buf = ARCA_BUF_INIT;
	arca_backend *b;
	arca_store *other;
	long long keys[NODES], total = 0;
	char key[128], *sdir;
	int i, n;

	for (i = 0; i < BLOBS; i++) {
		random_fill(data, sizeof(data), (unsigned int)i + 1);
		assert_int_equal(arca_blob_put(&d[i], f->store, data,
				sizeof(data)), 0);
	}
	for (i = 0; i < ACTIONS; i++) {
		char out[32];

		snprintf(out, sizeof(out), "output %d\n", i);
		m[i] = new_action(f->store, "stage", out);
		assert_int_equal(arca_action_put(f->store, m[i]), 0);
	}
	assert_int_equal(tier_stats(f->store, 1).errors, 0);
	/* Every node holds some; together the 30 blobs, per action its
	 * entry, output, manifest, and once stdout and stderr. */
	for (i = 0; i < NODES; i++) {
		redisContext *c = node(i);
		redisReply *reply = redisCommand(c, "DBSIZE");

		assert_non_null(reply);
		assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
		keys[i] = reply->integer;
		freeReplyObject(reply);
		redisFree(c);
		total += keys[i];
		if (keys[i] == 0)
			fail_msg("node %d holds no key", i);
	}
	assert_int_equal(total, BLOBS + 3 * ACTIONS + 2);
	/* Each key is on the node that serves its slot, and our slot is
	 * Redis's own. */
	for (i = 0; i < BLOBS; i++) {
		int h;

		key_of(key, sizeof(key), "cas", &d[i]);
		h = holder(key);
		assert_true(h >= 0);
		assert_int_equal(node_int(h, "CLUSTER KEYSLOT %s", key),
				slot_of(key));
	}
	for (i = 0; i < ACTIONS; i++) {
		key_of(key, sizeof(key), "ac", &m[i]->key);
		assert_true(holder(key) >= 0);
		assert_int_equal(node_int(0, "CLUSTER KEYSLOT %s", key),
				slot_of(key));
	}

	/* A second machine: everything read back through the Cluster and
	 * promoted into its tier 0. */
	sdir = fixture_path("%s/machine-b", f->dir);
	other = open_store_with_tier(sdir);
	for (i = 0; i < BLOBS; i++) {
		random_fill(data, sizeof(data), (unsigned int)i + 1);
		assert_int_equal(arca_blob_get(&buf, other, &d[i]), 0);
		assert_int_equal(buf.size, sizeof(data));
		assert_memory_equal(buf.data, data, sizeof(data));
		arca_buf_free(&buf);
	}
	for (i = 0; i < ACTIONS; i++) {
		arca_manifest *got = NULL;

		assert_int_equal(arca_action_get(&got, other, &m[i]->key), 0);
		assert_true(arca_digest_equal(&got->outputs[0].digest,
				&m[i]->outputs[0].digest));
		arca_manifest_free(got);
	}
	assert_int_equal(tier_stats(other, 1).hits, BLOBS + ACTIONS);
	assert_int_equal(tier_stats(other, 1).promoted, BLOBS + ACTIONS);
	assert_int_equal(tier_stats(other, 1).errors, 0);
	arca_store_close(other);
	/* Promoted: tier 0 alone has them now. */
	other = open_store(sdir);
	assert_int_equal(arca_blob_stat(NULL, other, &d[0]), 0);
	arca_store_close(other);

	/* find_missing over all nodes: one pipeline per node. */
	b = open_backend(g.url);
	n = BLOBS;
	assert_int_equal(arca_digest_buffer(&d[n++], "absent 1", 8), 0);
	assert_int_equal(arca_digest_buffer(&d[n++], "absent 2", 8), 0);
	memset(missing, 7, sizeof(missing));
	assert_int_equal(b->find_missing(b, missing, d, (size_t)n), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(missing[i], i >= BLOBS);
	{
		uint64_t size = 0;
		mem sink = { .len = 0 };

		assert_int_equal(b->blob_stat(b, &d[3], &size), 0);
		assert_int_equal(size, sizeof(data));
		assert_int_equal(b->blob_stat(b, &d[BLOBS], &size),
				ARCA_ENOTFOUND);
		assert_int_equal(b->blob_get(b, &d[BLOBS], mem_sink, &sink),
				ARCA_ENOTFOUND);
		assert_int_equal(b->ac_remove(b, &m[0]->key), 0);
		key_of(key, sizeof(key), "ac", &m[0]->key);
		assert_int_equal(holder(key), -1);
	}
	/* Leases go to their slot's node: taken, seen there, released. */
	{
		char t1[ARCA_REDIS_LEASE_TOKEN_SIZE];
		char t2[ARCA_REDIS_LEASE_TOKEN_SIZE];
		int seen[NODES] = { 0 };

		assert_int_equal(arca_redis_lease_token(t1), 0);
		assert_int_equal(arca_redis_lease_token(t2), 0);
		for (i = 0; i < BLOBS; i++) {
			assert_int_equal(arca_redis_lease_acquire(b, &d[i], t1,
					10000), 0);
			assert_int_equal(arca_redis_lease_acquire(b, &d[i], t2,
					10000), ARCA_EBUSY);
			key_of(key, sizeof(key), "lease", &d[i]);
			seen[holder(key)]++;
		}
		for (i = 0; i < NODES; i++)
			assert_true(seen[i] > 0);
		for (i = 0; i < BLOBS; i++) {
			assert_int_equal(arca_redis_lease_release(b, &d[i], t2),
					ARCA_ENOTFOUND);
			assert_int_equal(arca_redis_lease_renew(b, &d[i], t1,
					20000), 0);
			assert_int_equal(arca_redis_lease_release(b, &d[i], t1),
					0);
			key_of(key, sizeof(key), "lease", &d[i]);
			assert_int_equal(holder(key), -1);
		}
	}
	/* Values are compressed on the Cluster too. */
	{
		unsigned char text[20000];
		arca_digest dt;
		redisContext *c;
		redisReply *reply;

		for (i = 0; i < (int)sizeof(text); i++)
			text[i] = (unsigned char)"abcdefgh"[i % 8];
		assert_int_equal(b->blob_put(b, &dt, text, sizeof(text)), 0);
		key_of(key, sizeof(key), "cas", &dt);
		c = node(holder(key));
		reply = redisCommand(c, "GET %s", key);
		assert_non_null(reply);
		assert_int_equal(reply->type, REDIS_REPLY_STRING);
		assert_true(reply->len < sizeof(text) / 10);
		assert_memory_equal(reply->str, "\x28\xb5\x2f\xfd", 4);
		freeReplyObject(reply);
		redisFree(c);
	}
	b->free(b);

	for (i = 0; i < ACTIONS; i++)
		arca_manifest_free(m[i]);
	free(sdir);
}

/* ---- redirections ---------------------------------------------------- */

static void test_redis_cluster__ask_then_moved_after_resharding(void **state)
{
	tfx *f = *state;
	arca_backend *b = open_backend(g.url);
	arca_buf buf = ARCA_BUF_INIT;
	arca_digest d;
	arca_store *other;
	unsigned char data[3000];
	char key[128], *sdir;
	mem sink = { .len = 0 };
	unsigned int slot;
	long long gets, asking, slots_before, slots_after;
	int src, dst, i, rc;

	random_fill(data, sizeof(data), 4242);
	assert_int_equal(b->blob_put(b, &d, data, sizeof(data)), 0);
	key_of(key, sizeof(key), "cas", &d);
	slot = slot_of(key);
	src = holder(key);
	assert_true(src >= 0);
	dst = (src + 1) % NODES;

	/* Mid-migration (cluster-spec, "Live resharding"): the key moved
	 * to dst, the slot still src's. src answers ASK; the tier sends
	 * ASKING then GET to dst. */
	node_ok(dst, "CLUSTER SETSLOT %u IMPORTING %s", slot, g.id[src]);
	node_ok(src, "CLUSTER SETSLOT %u MIGRATING %s", slot, g.id[dst]);
	{
		redisContext *c = node(src);
		char port[16];
		redisReply *reply;

		snprintf(port, sizeof(port), "%d", g.port[dst]);
		reply = redisCommand(c, "MIGRATE 127.0.0.1 %s %s 0 5000 AUTH %s",
				port, key, PASSWORD);
		assert_non_null(reply);
		if (reply->type != REDIS_REPLY_STATUS)
			fail_msg("MIGRATE: %s", reply->type == REDIS_REPLY_ERROR ?
					reply->str : "?");
		freeReplyObject(reply);
		redisFree(c);
	}
	asking = node_calls(dst, "cmdstat_asking");
	rc = b->blob_get(b, &d, mem_sink, &sink);
	if (rc != 0)
		fail_msg("get during the migration: %s", arca_errmsg());
	assert_int_equal(sink.len, sizeof(data));
	assert_memory_equal(sink.data, data, sizeof(data));
	assert_int_equal(node_calls(dst, "cmdstat_asking"), asking + 1);

	/* The slot is dst's: src answers MOVED; the tier follows it, then
	 * reads the whole map again before the next call. */
	for (i = 0; i < NODES; i++)
		node_ok((dst + i) % NODES, "CLUSTER SETSLOT %u NODE %s", slot,
				g.id[dst]);
	slots_before = 0;
	for (i = 0; i < NODES; i++)
		slots_before += node_calls(i, "cmdstat_cluster|slots");
	sink.len = 0;
	rc = b->blob_get(b, &d, mem_sink, &sink);
	if (rc != 0)
		fail_msg("get after the resharding: %s", arca_errmsg());
	assert_int_equal(sink.len, sizeof(data));
	assert_memory_equal(sink.data, data, sizeof(data));
	gets = node_calls(src, "cmdstat_get");
	sink.len = 0;
	assert_int_equal(b->blob_get(b, &d, mem_sink, &sink), 0);
	assert_int_equal(sink.len, sizeof(data));
	/* The map was read again once, and the next GET went straight to
	 * dst. */
	slots_after = 0;
	for (i = 0; i < NODES; i++)
		slots_after += node_calls(i, "cmdstat_cluster|slots");
	assert_int_equal(slots_after, slots_before + 1);
	assert_int_equal(node_calls(src, "cmdstat_get"), gets);

	/* Through a store with the tier (a fresh map): a hit. */
	sdir = fixture_path("%s/machine-b", f->dir);
	other = open_store_with_tier(sdir);
	assert_int_equal(arca_blob_get(&buf, other, &d), 0);
	assert_int_equal(buf.size, sizeof(data));
	arca_buf_free(&buf);
	assert_int_equal(tier_stats(other, 1).hits, 1);
	arca_store_close(other);
	free(sdir);
	b->free(b);
}

/* ---- URLs ------------------------------------------------------------------ */

static void test_redis_cluster__bad_urls(void **state)
{
	tfx *f = *state;
	static const char *const bad[] = {
		"redis+cluster://",
		"redis+cluster://:pw@",
		"redis+cluster://127.0.0.1:1,,127.0.0.1:2",
		"redis+cluster://127.0.0.1:1,",
		"redis+cluster://,127.0.0.1:1",
		"redis+cluster://127.0.0.1:notaport",
		"redis+cluster://127.0.0.1:0",
		"redis+cluster://127.0.0.1:7000/2",
		"redis+cluster://127.0.0.1:7000?db=1",
		"redis+cluster://127.0.0.1:7000?compress=2",
		"redis+cluster://127.0.0.1:7000#frag",
		"redis+cluster://user@127.0.0.1:7000",
		"redis+clusters://127.0.0.1:7000",
		NULL,
	};
	arca_redis_options opts = ARCA_REDIS_OPTIONS_INIT;
	arca_backend *b = (arca_backend *)1;
	arca_store *s;
	char *sdir = fixture_path("%s/store", f->dir), url[256];
	int i, port;

	s = open_store(sdir);
	for (i = 0; bad[i] != NULL; i++) {
		int rc = arca_backend_redis_cluster_open(&b, bad[i], NULL);

		if (rc != ARCA_EINVAL)
			fail_msg("%s: %d (%s)", bad[i], rc, arca_errmsg());
		assert_null(b);
		assert_null(strchr(arca_errmsg(), '\n'));
		if (strncmp(bad[i], "redis+clusters", 14) != 0)
			assert_int_equal(arca_store_add_tier_url(s, bad[i],
					NULL), ARCA_EINVAL);
	}
	assert_int_equal(arca_store_tier_count(s), 1);
	opts.version = 99;
	assert_int_equal(arca_backend_redis_cluster_open(&b, g.url, &opts),
			ARCA_EINVAL);

	/* No seed answers: unavailable, fast, named without the password. */
	free_ports(&port, 1);
	snprintf(url, sizeof(url), "redis+cluster://:secret-here@127.0.0.1:%d",
			port);
	assert_int_equal(arca_backend_redis_cluster_open(&b, url, NULL),
			ARCA_EUNAVAILABLE);
	assert_null(strstr(arca_errmsg(), "secret-here"));
	assert_non_null(strstr(arca_errmsg(), "redis+cluster://127.0.0.1:"));
	/* A wrong password: refused. */
	snprintf(url, sizeof(url), "redis+cluster://:wrong-pw@127.0.0.1:%d",
			g.port[0]);
	assert_int_equal(arca_backend_redis_cluster_open(&b, url, NULL),
			ARCA_EPERM);
	assert_null(strstr(arca_errmsg(), "wrong-pw"));
	/* Lazy: nothing asked until a call. */
	opts.version = ARCA_REDIS_OPTIONS_VERSION;
	opts.lazy_connect = 1;
	snprintf(url, sizeof(url), "redis+cluster://127.0.0.1:%d", port);
	assert_int_equal(arca_backend_redis_cluster_open(&b, url, &opts), 0);
	assert_int_equal(b->ac_remove(b, &(arca_digest){ { 0 } }),
			ARCA_EUNAVAILABLE);
	b->free(b);
	arca_store_close(s);
	free(sdir);
}

/* ---- a node killed ------------------------------------------------------ */

static void test_redis_cluster__node_killed(void **state)
{
	tfx *f = *state;
	enum { BLOBS = 24 };
	arca_digest d[BLOBS];
	int on[BLOBS], victim = 2, i, rc, other_ok = 0, dead_seen = 0;
	unsigned char data[500];
	arca_buf buf = ARCA_BUF_INIT;
	arca_backend *b = open_backend(g.url);
	arca_store *fresh;
	char key[128], *sdir, port[16];
	long long slots_before, slots_after;
	int64_t t0;

	for (i = 0; i < BLOBS; i++) {
		random_fill(data, sizeof(data), 1000u + (unsigned int)i);
		assert_int_equal(arca_blob_put(&d[i], f->store, data,
				sizeof(data)), 0);
		key_of(key, sizeof(key), "cas", &d[i]);
		on[i] = holder(key);
		assert_true(on[i] >= 0);
	}
	/* A stalled node (SIGSTOP): its keys time out within the call's
	 * deadline, naming the node; the other nodes answer. */
	kill(g.pid[victim], SIGSTOP);
	snprintf(port, sizeof(port), ":%d", g.port[victim]);
	for (i = 0; i < BLOBS; i++) {
		mem sink = { .len = 0 };

		t0 = now_ms();
		b->deadline_ms = t0 + 300;
		rc = b->blob_get(b, &d[i], mem_sink, &sink);
		b->deadline_ms = 0;
		if (on[i] == victim) {
			if (rc != ARCA_ETIMEOUT)
				fail_msg("blob on the stalled node: %d (%s)", rc,
						arca_errmsg());
			assert_non_null(strstr(arca_errmsg(), port));
			assert_true(now_ms() - t0 < 1000);
		} else {
			assert_int_equal(rc, 0);
		}
	}
	kill(g.pid[victim], SIGCONT);

	slots_before = node_calls(0, "cmdstat_cluster|slots") +
		node_calls(1, "cmdstat_cluster|slots");
	kill_child(&g.pid[victim]);
	snprintf(port, sizeof(port), ":%d", g.port[victim]);

	t0 = now_ms();
	for (i = 0; i < BLOBS; i++) {
		mem sink = { .len = 0 };

		rc = b->blob_get(b, &d[i], mem_sink, &sink);
		if (on[i] == victim) {
			/* A tier error naming the node, not the password. */
			if (rc != ARCA_EUNAVAILABLE)
				fail_msg("blob on the dead node: %d (%s)", rc,
						arca_errmsg());
			assert_non_null(strstr(arca_errmsg(), port));
			assert_non_null(strstr(arca_errmsg(), g.shown));
			assert_null(strstr(arca_errmsg(), PASSWORD));
			assert_null(strchr(arca_errmsg(), '\n'));
			dead_seen++;
		} else {
			/* The other nodes' keys still work. */
			if (rc != 0)
				fail_msg("blob on node %d: %s", on[i],
						arca_errmsg());
			assert_int_equal(sink.len, sizeof(data));
			other_ok++;
		}
	}
	assert_true(dead_seen > 0);
	assert_true(other_ok > 0);
	/* Fast: refused connects, no waiting out a timeout; and the map
	 * read again at most once a second, not after every failure. */
	assert_true(now_ms() - t0 < 2000);
	slots_after = node_calls(0, "cmdstat_cluster|slots") +
		node_calls(1, "cmdstat_cluster|slots");
	assert_true(slots_after - slots_before <= 1 + (now_ms() - t0) / 1000);

	/* The store answers from tier 0; a store without the blobs misses
	 * those of the dead node, counted as errors, and hits the rest. */
	for (i = 0; i < BLOBS; i++) {
		assert_int_equal(arca_blob_get(&buf, f->store, &d[i]), 0);
		arca_buf_free(&buf);
	}
	sdir = fixture_path("%s/machine-b", f->dir);
	fresh = open_store_with_tier(sdir);
	t0 = now_ms();
	for (i = 0; i < BLOBS; i++) {
		rc = arca_blob_get(&buf, fresh, &d[i]);
		assert_int_equal(rc, on[i] == victim ? ARCA_ENOTFOUND : 0);
		arca_buf_free(&buf);
	}
	assert_true(now_ms() - t0 < 2000);
	assert_int_equal(tier_stats(fresh, 1).errors, (uint64_t)dead_seen);
	assert_int_equal(tier_stats(fresh, 1).hits, (uint64_t)other_ok);
	/* A put to the dead node's slots fails there only; the rest go
	 * through. */
	for (i = 0; i < 12; i++) {
		random_fill(data, sizeof(data), 5000u + (unsigned int)i);
		assert_int_equal(arca_blob_put(&d[0], fresh, data,
				sizeof(data)), 0);
	}
	assert_true(tier_stats(fresh, 1).stored > 0);
	arca_store_close(fresh);
	free(sdir);
	b->free(b);
}

/* ---- the cross-host lease renewed while computing --------------------- */

/* The lease's TTL in this run (main() sets ARCA_TEST_XLEASE_TTL_MS). */
#define RENEW_TTL_MS 600

typedef struct renew_job {
	arca_store *store;
	arca_digest key;
	char lkey[512];
	char token[2][128];  /* the lease's value at the start, at the end */
	long long pttl;      /* at the end */
} renew_job;

static void lease_value(char *out, size_t size, const char *lkey)
{
	int n = holder(lkey);
	redisContext *c;
	redisReply *reply;

	out[0] = '\0';
	if (n < 0)
		return;
	c = node(n);
	reply = redisCommand(c, "GET %s", lkey);
	assert_non_null(reply);
	if (reply->type == REDIS_REPLY_STRING)
		snprintf(out, size, "%s", reply->str);
	freeReplyObject(reply);
	redisFree(c);
}

static int renew_compute(arca_manifest **out, void *ctx)
{
	renew_job *j = ctx;
	struct timespec ts = { 2, 0 }; /* over 3 TTLs */
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	arca_digest d, empty;
	int n, error;

	lease_value(j->token[0], sizeof(j->token[0]), j->lkey);
	while (nanosleep(&ts, &ts) != 0)
		;
	lease_value(j->token[1], sizeof(j->token[1]), j->lkey);
	n = holder(j->lkey);
	j->pttl = n < 0 ? -2 : node_int(n, "PTTL %s", j->lkey);
	if ((error = arca_action_new(&a, "renew-test")) < 0 ||
	    (error = arca_action_add_arg(a, "renew")) < 0 ||
	    (error = arca_action_add_output(a, "out.txt")) < 0 ||
	    (error = arca_manifest_from_action(&m, a)) < 0 ||
	    (error = arca_blob_put(&d, j->store, "renewed", 7)) < 0 ||
	    (error = arca_blob_put(&empty, j->store, NULL, 0)) < 0 ||
	    (error = arca_manifest_add_output(m, "out.txt", &d, 7, 0644)) < 0)
		goto cleanup;
	m->stdout_digest = empty;
	m->stderr_digest = empty;
	*out = m;
	m = NULL;
cleanup:
	arca_manifest_free(m);
	arca_action_free(a);
	return error;
}

static void test_redis_cluster__lease_renewed_while_computing(void **state)
{
	tfx *f = *state;
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	renew_job j;
	int computed = 0;

	memset(&j, 0, sizeof(j));
	j.store = f->store;
	assert_int_equal(arca_action_new(&a, "renew-test"), 0);
	assert_int_equal(arca_action_add_arg(a, "renew"), 0);
	assert_int_equal(arca_action_add_output(a, "out.txt"), 0);
	assert_int_equal(arca_action_key(&j.key, a), 0);
	arca_action_free(a);
	key_of(j.lkey, sizeof(j.lkey), "lease", &j.key);

	/* The tier's password and the node the lease's slot is on reach
	 * the renewal thread's own connection: the holder's token holds
	 * the lease after over 3 TTLs, with an expiry renewed meanwhile. */
	assert_int_equal(arca_get_or_compute(&m, &computed, f->store, &j.key,
			renew_compute, &j, NULL), 0);
	assert_int_equal(computed, 1);
	assert_non_null(m);
	arca_manifest_free(m);
	assert_int_equal(strlen(j.token[0]), ARCA_REDIS_LEASE_TOKEN_SIZE - 1);
	assert_string_equal(j.token[1], j.token[0]);
	assert_true(j.pttl > 0 && j.pttl <= RENEW_TTL_MS);
	/* Released after the commit. */
	assert_int_equal(holder(j.lkey), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redis_cluster__crc16_and_hash_tags),
		cmocka_unit_test_setup_teardown(
			test_redis_cluster__keys_spread_over_all_nodes,
			setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(
			test_redis_cluster__ask_then_moved_after_resharding,
			setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(test_redis_cluster__bad_urls,
			setup_none, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(
			test_redis_cluster__lease_renewed_while_computing,
			setup, fixture_store_teardown),
		/* Last: it kills a node. */
		cmocka_unit_test_setup_teardown(
			test_redis_cluster__node_killed,
			setup, fixture_store_teardown),
	};

	/* A hung call or a cluster that never forms fails the run instead
	 * of waiting out ctest; the servers die with the process. */
	alarm(180);
	/* Read once, at the first cross-host lease of the process. */
	setenv("ARCA_TEST_XLEASE_TTL_MS", "600", 1);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
