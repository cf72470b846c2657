/*
 * Leases in Redis for single-flight across hosts, on either Redis tier
 * (include/arca/sys/redis.h, "cross-host leases"): SET NX PX to take,
 * compare-and-PEXPIRE and compare-and-DEL scripts (EVAL,
 * https://redis.io/commands/eval/) to renew and release, as Redis's
 * distributed-lock pattern on one instance
 * (https://redis.io/docs/manual/patterns/distributed-locks/).
 */
#include "internal.h"
#include "redis_conn.h"

#include "arca/sys/redis.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define TOKEN_MAX 256

/* KEYS[1] is the lease, ARGV[1] the token, ARGV[2] milliseconds. */
static const char renew_script[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then "
	"return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
static const char release_script[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then "
	"return redis.call('DEL', KEYS[1]) else return 0 end";

int arca_redis_lease_token(char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[32];
	size_t i;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return arca__error(ARCA_EIO, "lease token: getrandom failed");
	for (i = 0; i < sizeof(r); i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[2 * sizeof(r)] = '\0';
	return 0;
}

/* The tier, the lease's key and its message name; ARCA_EINVAL. */
static int lease_begin(arca__redis_tier **t, char *lkey, size_t *lkey_len,
		char *what, size_t what_size, const char *verb, arca_backend *b,
		const arca_digest *key, const char *token)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];
	size_t n;

	if ((*t = arca__redis_tier_of(b)) == NULL)
		return arca__error(ARCA_EINVAL, "lease: not a Redis tier");
	if (key == NULL || token == NULL || (n = strlen(token)) == 0 ||
	    n > TOKEN_MAX)
		return arca__error(ARCA_EINVAL, "lease: no key, or a token "
				"that is not 1 to %d bytes", TOKEN_MAX);
	arca_digest_to_hex(hex, key);
	*lkey_len = (size_t)snprintf(lkey, ARCA__REDIS_KEY_MAX, "%slease:%s",
			(*t)->prefix, hex);
	snprintf(what, what_size, "%s %s", verb, lkey);
	return 0;
}

int arca_redis_lease_acquire(arca_backend *b, const arca_digest *key,
		const char *token, uint64_t ttl_ms)
{
	char lkey[ARCA__REDIS_KEY_MAX], what[ARCA__REDIS_KEY_MAX + 32], ms[24];
	arca__redis_tier *t;
	arca__redis_cmd cmd;
	size_t lkey_len;
	int error;

	if ((error = lease_begin(&t, lkey, &lkey_len, what, sizeof(what),
			"SET NX PX", b, key, token)) < 0)
		return error;
	if (ttl_ms == 0)
		return arca__error(ARCA_EINVAL, "lease: ttl_ms is 0");
	arca__redis_cmd_set(&cmd, "SET", lkey, lkey_len);
	arca__redis_cmd_arg(&cmd, token, strlen(token));
	arca__redis_cmd_arg(&cmd, "NX", 2);
	arca__redis_cmd_arg(&cmd, "PX", 2);
	arca__redis_cmd_arg(&cmd, ms, (size_t)snprintf(ms, sizeof(ms), "%llu",
			(unsigned long long)ttl_ms));
	if ((error = arca__redis_run(t, what, &cmd, 1)) < 0)
		return error;
	/* SET ... NX answers OK when it set the key, nil when not. */
	if (cmd.reply->type == REDIS_REPLY_NIL)
		error = arca__redis_fail(t->shown, ARCA_EBUSY, what,
				"held by another token");
	else if (cmd.reply->type != REDIS_REPLY_STATUS)
		error = arca__redis_reply_fail(t->shown, what, cmd.reply);
	arca__redis_cmds_free(&cmd, 1);
	return error;
}

/* EVAL script 1 lease token [ms]: the script's integer answer, 1 or 0. */
static int lease_eval(arca_backend *b, const arca_digest *key,
		const char *token, const char *script, const char *verb,
		const char *ms)
{
	char lkey[ARCA__REDIS_KEY_MAX], what[ARCA__REDIS_KEY_MAX + 32];
	arca__redis_tier *t;
	arca__redis_cmd cmd;
	size_t lkey_len;
	int error;

	if ((error = lease_begin(&t, lkey, &lkey_len, what, sizeof(what),
			verb, b, key, token)) < 0)
		return error;
	arca__redis_cmd_set(&cmd, "EVAL", script, strlen(script));
	arca__redis_cmd_arg(&cmd, "1", 1);
	arca__redis_cmd_arg(&cmd, lkey, lkey_len);
	arca__redis_cmd_arg(&cmd, token, strlen(token));
	if (ms != NULL)
		arca__redis_cmd_arg(&cmd, ms, strlen(ms));
	/* Routed by KEYS[1] (a Cluster sends it to the lease's node). */
	cmd.key = 3;
	if ((error = arca__redis_run(t, what, &cmd, 1)) < 0)
		return error;
	if (cmd.reply->type != REDIS_REPLY_INTEGER)
		error = arca__redis_reply_fail(t->shown, what, cmd.reply);
	else if (cmd.reply->integer != 1)
		error = arca__redis_fail(t->shown, ARCA_ENOTFOUND, what,
				"not held by this token");
	arca__redis_cmds_free(&cmd, 1);
	return error;
}

int arca_redis_lease_renew(arca_backend *b, const arca_digest *key,
		const char *token, uint64_t ttl_ms)
{
	char ms[24];

	if (ttl_ms == 0)
		return arca__error(ARCA_EINVAL, "lease: ttl_ms is 0");
	snprintf(ms, sizeof(ms), "%llu", (unsigned long long)ttl_ms);
	return lease_eval(b, key, token, renew_script, "renew (EVAL)", ms);
}

int arca_redis_lease_release(arca_backend *b, const arca_digest *key,
		const char *token)
{
	return lease_eval(b, key, token, release_script, "release (EVAL)",
			NULL);
}
