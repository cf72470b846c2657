/*
 * ccache's HTTP storage (ccache 4.7, src/storage/remote/HttpStorage.cpp,
 * and the manual's "HTTP storage backend"): remote_storage =
 * http://HOST:PORT/PATH|layout=L, with ccache's own keys, GET (2xx: a
 * hit, anything else a miss), PUT (2xx: stored), HEAD (before a PUT
 * with only_if_missing) and DELETE.
 *
 * A key is ccache's Digest::to_string(): 4 lowercase hex digits and 29
 * lowercase base32hex digits, 33 characters of [0-9a-v]. Layouts:
 *
 *   subdirs (default)  /PATH/<first 2>/<other 31>
 *   flat               /PATH/<33>
 *   bazel              /PATH/ac/<40 hex of the digest + its first 24>,
 *                      which is bazel-remote's AC route (bazel.c)
 *
 * subdirs and flat name the same entry for the same PATH and key. The
 * value is a keyed value (keyed.c) in name space "ccache" under
 * SHA-256("ccache" NUL PATH NUL key): two PATHs are two caches, as two
 * directories of a static file server would be.
 */
#include "server.h"

#include <string.h>

#define CCACHE_KEY_LEN 33

static int key_chars(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
				(s[i] >= 'a' && s[i] <= 'v')))
			return 0;
	return 1;
}

static enum MHD_Result entry(srv_request *r)
{
	const srv_config *cfg = srv_get_config(r->srv);
	arca_store *store;
	arca_digest value, got;
	uint64_t size;
	int error;

	if ((r->method == SRV_PUT || r->method == SRV_DELETE) &&
			cfg->read_only)
		return srv_respond_method(r, "GET, HEAD");
	if (r->method == SRV_OTHER)
		return srv_respond_method(r, cfg->read_only ? "GET, HEAD" :
				"GET, HEAD, PUT, DELETE");
	if ((store = srv_store(r)) == NULL)
		return MHD_YES;
	switch (r->method) {
	case SRV_PUT:
		if ((error = srv_body_finish(&r->body, &got)) < 0 ||
		    (error = srv_keyed_put(store, &r->digest, r->kv_ns,
				r->kv_prefix, r->kv_key, &r->body)) < 0)
			return srv_respond_error(r, error, "ccache entry");
		return srv_respond_bytes(r, MHD_HTTP_OK, "", 0, NULL);
	case SRV_DELETE:
		if ((error = srv_keyed_remove(store, &r->digest)) < 0)
			return srv_respond_error(r, error, "ccache entry");
		return srv_respond_bytes(r, MHD_HTTP_NO_CONTENT, "", 0, NULL);
	default:
		if ((error = srv_keyed_get(&value, &size, store,
				&r->digest)) < 0)
			return srv_respond_error(r, error, "ccache entry");
		return srv_respond_blob(r, store, &value);
	}
}

int srv_ccache_route(srv_request *r, enum MHD_Result *res)
{
	const char *path = r->path, *last, *prev;
	size_t n_last, n_prev, n_prefix;

	if ((last = strrchr(path, '/')) == NULL)
		return 0;
	n_last = strlen(last + 1);
	if (n_last == CCACHE_KEY_LEN && key_chars(last + 1, n_last)) {
		/* flat */
		n_prefix = (size_t)(last - path);
		memcpy(r->kv_key, last + 1, n_last + 1);
	} else if (n_last == CCACHE_KEY_LEN - 2 && last > path &&
			key_chars(last + 1, n_last)) {
		/* subdirs */
		for (prev = last - 1; prev > path && *prev != '/'; prev--)
			;
		n_prev = (size_t)(last - prev - 1);
		if (n_prev != 2 || !key_chars(prev + 1, 2))
			return 0;
		n_prefix = (size_t)(prev - path);
		memcpy(r->kv_key, prev + 1, 2);
		memcpy(r->kv_key + 2, last + 1, n_last + 1);
	} else {
		return 0;
	}
	memcpy(r->kv_prefix, path, n_prefix);
	r->kv_prefix[n_prefix] = '\0';
	r->kv_ns = "ccache";
	r->route = "ccache";
	r->handler = entry;
	if (srv_keyed_key(&r->digest, r->kv_ns, r->kv_prefix, r->kv_key) < 0)
		*res = srv_respond_error(r, ARCA_ENOMEM, "ccache entry");
	return 1;
}
