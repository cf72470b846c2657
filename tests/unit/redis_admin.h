/*
 * The Redis tests' own connections to their servers (test_redis.c,
 * test_redis_cluster.c), with hiredis, beside the tier under test.
 */
#ifndef ARCA_TEST_REDIS_ADMIN_H
#define ARCA_TEST_REDIS_ADMIN_H

#include <hiredis.h>

/* A connection to 127.0.0.1:port, or to the unix socket sock when port
 * is 0 (200 ms to connect, then timeout_s seconds a command), AUTH'ed
 * with password when not NULL; NULL when it cannot connect or AUTH. */
redisContext *redis_admin_connect(int port, const char *sock,
		const char *password, int timeout_s);

/* The integer reply to fmt with arg; fails the test on another reply,
 * naming who asked (the server, a node). */
long long redis_admin_int(redisContext *c, const char *who, const char *fmt,
		const char *arg);

#endif
