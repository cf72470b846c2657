#include "redis_admin.h"

#include "fixture.h"

#include <stddef.h>

redisContext *redis_admin_connect(int port, const char *sock,
		const char *password, int timeout_s)
{
	struct timeval tv = { 0, 200000 };
	redisContext *c = port ? redisConnectWithTimeout("127.0.0.1", port,
			tv) : redisConnectUnixWithTimeout(sock, tv);
	redisReply *reply;

	if (c == NULL || c->err) {
		if (c)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, (struct timeval){ timeout_s, 0 });
	if (password == NULL)
		return c;
	reply = redisCommand(c, "AUTH %s", password);
	if (reply == NULL || reply->type != REDIS_REPLY_STATUS) {
		if (reply)
			freeReplyObject(reply);
		redisFree(c);
		return NULL;
	}
	freeReplyObject(reply);
	return c;
}

long long redis_admin_int(redisContext *c, const char *who, const char *fmt,
		const char *arg)
{
	redisReply *reply = redisCommand(c, fmt, arg);
	long long v;

	assert_non_null(reply);
	if (reply->type != REDIS_REPLY_INTEGER)
		fail_msg("%s: %s %s: reply type %d (%s)", who, fmt, arg,
				reply->type, reply->type == REDIS_REPLY_ERROR ?
				reply->str : "");
	v = reply->integer;
	freeReplyObject(reply);
	return v;
}
