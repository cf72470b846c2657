/*
 * Opaque values under a client's key: bazel-remote's action cache
 * ("Values stored in the action cache ... arbitrary 64 character
 * lowercase hexadecimal string" keys, README "HTTP/1.1 REST API") and
 * ccache's entries (keys that are not content hashes, ccache 4.7
 * src/storage/remote/HttpStorage.cpp). Each is an ordinary action entry
 * of the store: its manifest's one output "value" is the blob of the
 * bytes, so the value is evicted, listed (`arca ls`), cleared by stage
 * and verified like any other result. A GET reads the blob the manifest
 * names, re-hashed against the digest recorded at PUT time.
 */
#include "server.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int srv_keyed_key(arca_digest *out, const char *ns, const char *prefix,
		const char *key)
{
	size_t n_ns = strlen(ns), n_p = prefix ? strlen(prefix) : 0;
	size_t n_k = strlen(key), len = n_ns + 1 + n_k;
	unsigned char *buf;
	int error;

	if (prefix != NULL)
		len += n_p + 1;
	if ((buf = malloc(len)) == NULL)
		return ARCA_ENOMEM;
	memcpy(buf, ns, n_ns + 1);
	if (prefix != NULL)
		memcpy(buf + n_ns + 1, prefix, n_p + 1);
	memcpy(buf + len - n_k, key, n_k);
	error = arca_digest_buffer(out, buf, len);
	free(buf);
	return error;
}

static int build_manifest(arca_manifest **out, const arca_digest *akey,
		const char *ns, const char *prefix, const char *key,
		const arca_digest *value, uint64_t size,
		const arca_digest *empty)
{
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	int error;

	if ((error = arca_action_new(&a, ns)) < 0 ||
	    (prefix != NULL &&
	     (error = arca_action_add_param(a, "prefix", prefix)) < 0) ||
	    (error = arca_action_add_param(a, "key", key)) < 0 ||
	    (error = arca_manifest_from_action(&m, a)) < 0 ||
	    (error = arca_manifest_add_output(m, "value", value, size,
			0644)) < 0)
		goto cleanup;
	/* The entry lives under the name-spaced key, not under the key of
	 * the action that only describes it. */
	m->key = *akey;
	m->exit_status = 0;
	m->stdout_digest = *empty;
	m->stderr_digest = *empty;
	m->created = (int64_t)time(NULL);
	*out = m;
	m = NULL;
cleanup:
	arca_manifest_free(m);
	arca_action_free(a);
	return error;
}

int srv_keyed_put(arca_store *store, const arca_digest *akey,
		const char *ns, const char *prefix, const char *key,
		srv_body *body)
{
	arca_manifest *m = NULL;
	arca_digest value, empty;
	int attempt, error = 0;

	if ((error = arca_blob_put(&empty, store, "", 0)) < 0)
		return error;
	/* A blob is evictable once put; if eviction took it before the
	 * entry naming it committed, the put says so (ARCA_EINVAL): store
	 * it again, from the body still held. */
	for (attempt = 0; attempt < 3; attempt++) {
		if ((error = srv_body_store(&value, body, store)) < 0)
			break;
		arca_manifest_free(m);
		m = NULL;
		if ((error = build_manifest(&m, akey, ns, prefix, key, &value,
				body->received, &empty)) < 0)
			break;
		error = arca_action_put(store, m);
		if (error != ARCA_EINVAL)
			break;
	}
	arca_manifest_free(m);
	return error;
}

int srv_keyed_get(arca_digest *value, uint64_t *size, arca_store *store,
		const arca_digest *akey)
{
	arca_manifest *m = NULL;
	int error;

	if ((error = arca_action_get(&m, store, akey)) < 0)
		return error;
	if (m->n_outputs != 1 || strcmp(m->outputs[0].path, "value") != 0) {
		/* Not an entry this server wrote: a miss, never its bytes. */
		error = ARCA_ENOTFOUND;
	} else {
		*value = m->outputs[0].digest;
		*size = m->outputs[0].size;
	}
	arca_manifest_free(m);
	return error;
}

int srv_keyed_remove(arca_store *store, const arca_digest *akey)
{
	return arca_action_remove(store, akey);
}
