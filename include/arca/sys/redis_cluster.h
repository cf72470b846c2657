/*
 * arca — the Redis Cluster tier: an arca_backend (include/arca/sys/
 * backend.h) on a Redis Cluster, with a client side written on hiredis
 * (Debian 12 packages no cluster client for C).
 *
 * It follows the Redis Cluster specification
 * (https://redis.io/docs/reference/cluster-spec/): a key's hash slot is
 * CRC16 of the key (or of its hash tag) modulo 16384; the slot map is
 * read with CLUSTER SLOTS from any node that answers; a command goes to
 * the master serving its key's slot; "-MOVED slot host:port" updates the
 * map, sends the command to that node and has the whole map read again
 * before the next call; "-ASK slot host:port" (a slot being migrated)
 * sends ASKING then the command to that node, once, leaving the map as
 * it is. A node that cannot be reached is an error of the tier for the
 * keys of its slots only.
 *
 * URL (docs/tiers.md):
 *   redis+cluster://[USER[:PASSWORD]@]HOST[:PORT][,HOST[:PORT]...][/]
 *                   [?prefix=P][&compress=0|1]
 * The hosts are seeds: any one that answers gives the map, and the map
 * names the nodes. PORT defaults to 6379. The credentials are sent with
 * AUTH to every node. A Cluster has database 0 only: a /DB path is
 * refused. Keys, values and compression are those of the one-server tier
 * (include/arca/sys/redis.h); a prefix holding a hash tag ("{arca}:")
 * would put every key in one slot, on one node.
 */
#ifndef ARCA_SYS_REDIS_CLUSTER_H
#define ARCA_SYS_REDIS_CLUSTER_H

#include "arca/sys/redis.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The number of hash slots of a Redis Cluster (cluster-spec). */
#define ARCA_REDIS_CLUSTER_SLOTS 16384
/** Redirections (MOVED, ASK) followed for one command before the call
 * gives up with ARCA_EIO. */
#define ARCA_REDIS_CLUSTER_REDIRECTS_MAX 5

/**
 * CRC16 as Redis Cluster uses it: CRC-16/XMODEM (CCITT polynomial
 * 0x1021, initial value 0, no reflection, no final XOR), from the
 * specification's "Keys distribution model" and its reference crc16.c.
 * CRC16 of "123456789" is 0x31C3.
 *
 * @param[in] data  the bytes (may be NULL when len is 0).
 * @param[in] len   their number.
 * @return the CRC.
 */
uint16_t arca_redis_cluster_crc16(const void *data, size_t len);

/**
 * The hash slot of a key, as the specification's HASH_SLOT: CRC16 of the
 * key modulo 16384, or of its hash tag only: the bytes between the first
 * "{" and the first "}" after it, when there is at least one byte between
 * them ("{user1000}.following" and "{user1000}.followers" share a slot;
 * "foo{}{bar}" hashes the whole key; "foo{{bar}}zap" hashes "{bar").
 *
 * @param[in] key  the key's bytes (binary-safe; NULL when len is 0).
 * @param[in] len  their number.
 * @return the slot, 0 to 16383.
 */
unsigned int arca_redis_cluster_key_slot(const void *key, size_t len);

/**
 * Open a Redis Cluster tier.
 *
 * The URL is checked; unless opts->lazy_connect is set, the seeds are
 * asked for the slot map (CLUSTER SLOTS, https://redis.io/commands/
 * cluster-slots/) in order until one answers, so that a wrong address or
 * password is reported here, once, as a one-line message (arca_errmsg())
 * naming the tier by its URL without the password.
 *
 * Afterwards each node is connected to when a call first needs it, one
 * connection per node. A call gives up with ARCA_ETIMEOUT at the earlier
 * of arca_backend.deadline_ms and opts->timeout_ms from its start. The
 * commands of one call that go to one node are pipelined (find_missing
 * asks each node about its own digests in one round trip). Outcomes are
 * those of arca_backend_redis_open()'s methods, and: a node that cannot
 * be reached or drops the connection is ARCA_EUNAVAILABLE (ARCA_ETIMEOUT
 * when it does not answer in time) with a message naming the node
 * (HOST:PORT) and the tier's URL without its password, for the calls
 * whose keys are in that node's slots (the map is read again at the next
 * call, in case a replica was promoted); CLUSTERDOWN and TRYAGAIN
 * replies, a slot no node serves, or no node answering CLUSTER SLOTS are
 * ARCA_EUNAVAILABLE; more than ARCA_REDIS_CLUSTER_REDIRECTS_MAX
 * redirections for one command is ARCA_EIO.
 *
 * @param[out] out   the backend (version ARCA_BACKEND_VERSION, name
 *                   "redis-cluster"); the caller owns it and releases it
 *                   with (*out)->free(*out), or hands it to
 *                   arca_store_add_tier(), which then owns it. NULL on
 *                   error.
 * @param[in]  url   the tier's URL (see the top of this header); copied.
 * @param[in]  opts  options (prefix, max blob size, timeouts, lazy
 *                   connect, no_compress), or NULL for
 *                   ARCA_REDIS_OPTIONS_INIT; borrowed for the call only.
 * @return 0; ARCA_EINVAL (NULL out or url, a malformed URL, a scheme
 *         other than redis+cluster://, an empty seed, a /DB path, an
 *         unknown query parameter, a bad options version or value);
 *         ARCA_ENOMEM; and unless lazy_connect: ARCA_EUNAVAILABLE (no
 *         seed answers), ARCA_ETIMEOUT, ARCA_EPERM (AUTH refused or
 *         required), ARCA_EIO (a reply that is not a slot map).
 */
int arca_backend_redis_cluster_open(arca_backend **out, const char *url,
		const arca_redis_options *opts);

#ifdef __cplusplus
}
#endif

#endif /* ARCA_SYS_REDIS_CLUSTER_H */
