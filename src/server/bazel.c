/*
 * bazel-remote's HTTP cache protocol (github.com/buchgr/bazel-remote,
 * README "HTTP/1.1 REST API" and server/http.go):
 *
 *   GET|HEAD|PUT /[INSTANCE/]cas/<sha256>   content-addressed blobs
 *   GET|HEAD|PUT /[INSTANCE/]ac/<sha256>    action cache: opaque values
 *   GET /status                             JSON, bazel-remote's fields
 *
 * The key must be 64 lowercase hex characters, as bazel-remote's
 * blobNameSHA256 regexp requires (an optional instance, then ac/ or
 * cas/, then [a-f0-9]{64}); the instance is accepted and ignored, as bazel-remote does without
 * --enable_ac_key_instance_mangling. Where this server answers otherwise
 * than bazel-remote, docs/server.md says so and why.
 */
#include "server.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static int is_hex64(const char *s, size_t n)
{
	size_t i;

	if (n != ARCA_DIGEST_HEXLEN)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
				(s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static enum MHD_Result status_page(srv_request *r)
{
	const srv_config *cfg = srv_get_config(r->srv);
	arca_store *store;
	arca_store_info info;
	uint64_t usage = 0, max_size = 0;
	json_t *o = NULL;
	char *text = NULL;
	enum MHD_Result res;
	int error;

	if (r->method != SRV_GET && r->method != SRV_HEAD)
		return srv_respond_method(r, "GET, HEAD");
	if ((store = srv_store(r)) == NULL)
		return MHD_YES;
	if ((error = arca_store_usage(&usage, &max_size, store)) < 0 ||
			(error = arca_store_get_info(&info, store)) < 0)
		return srv_respond_error(r, error, "status");
	/* bazel-remote's statusPageData (server/http.go), same names. */
	o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:s,s:I}",
			"CurrSize", (json_int_t)usage,
			"UncompressedSize", (json_int_t)usage,
			"ReservedSize", (json_int_t)srv_reserved_bytes(r->srv),
			"MaxSize", (json_int_t)max_size,
			"NumFiles", (json_int_t)info.n_blobs,
			"ServerTime", (json_int_t)time(NULL),
			"GitCommit", "",
			"GitTags", "arca-" ARCA_VERSION_STRING,
			"NumGoroutines", (json_int_t)(cfg->threads *
					cfg->n_listen));
	if (o == NULL || (text = json_dumps(o, JSON_INDENT(1) |
			JSON_PRESERVE_ORDER)) == NULL) {
		json_decref(o);
		return srv_respond_error(r, ARCA_ENOMEM, "status");
	}
	{
		size_t n = strlen(text);
		char *line = malloc(n + 2);

		if (line == NULL) {
			free(text);
			json_decref(o);
			return srv_respond_error(r, ARCA_ENOMEM, "status");
		}
		memcpy(line, text, n);
		memcpy(line + n, "\n", 2);
		res = srv_respond_bytes(r, MHD_HTTP_OK, line, n + 1,
				"application/json");
		free(line);
	}
	free(text);
	json_decref(o);
	return res;
}

static enum MHD_Result cas(srv_request *r)
{
	const srv_config *cfg = srv_get_config(r->srv);
	arca_store *store;
	arca_digest got;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	int error;

	if (r->method == SRV_PUT && cfg->read_only)
		return srv_respond_method(r, "GET, HEAD");
	if (r->method != SRV_GET && r->method != SRV_HEAD &&
			r->method != SRV_PUT)
		return srv_respond_method(r, cfg->read_only ? "GET, HEAD" :
				"GET, HEAD, PUT");
	arca_digest_to_hex(hex, &r->digest);
	if (r->method != SRV_PUT && strcmp(hex, EMPTY_SHA256) == 0)
		/* "The empty CAS blob is always available" (README). */
		return srv_respond_bytes(r, MHD_HTTP_OK, "", 0,
				"application/octet-stream");
	if ((store = srv_store(r)) == NULL)
		return MHD_YES;
	if (r->method != SRV_PUT)
		/* ETag, If-None-Match, Range, zstd: http_sem.c. */
		return srv_respond_cas_blob(r, store, &r->digest);
	error = srv_body_commit(&got, &r->body, store, &r->digest);
	if (error == ARCA_ECORRUPT) {
		char ghex[ARCA_DIGEST_HEXLEN + 1];

		/* Nothing is stored. bazel-remote answers 500 here (its
		 * sha256verifier error becomes internalErr, cache/disk/
		 * disk.go); the client sent the wrong bytes, so 400. */
		arca_digest_to_hex(ghex, &got);
		return srv_respond_text(r, MHD_HTTP_BAD_REQUEST,
				"cas/%s: the body's SHA-256 is %s", hex, ghex);
	}
	if (error == ARCA_EINVAL)
		return srv_respond_error(r, error, "upload");
	if (error < 0)
		return srv_respond_error(r, error, "cas");
	return srv_respond_bytes(r, MHD_HTTP_OK, "", 0, NULL);
}

static enum MHD_Result ac(srv_request *r)
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
		if ((error = srv_body_finish(&r->body, &got)) < 0)
			return srv_respond_error(r, error, "upload");
		error = srv_keyed_put(store, &r->digest, r->kv_ns, NULL,
				r->kv_key, &r->body);
		if (error < 0)
			return srv_respond_error(r, error, "ac");
		return srv_respond_bytes(r, MHD_HTTP_OK, "", 0, NULL);
	case SRV_DELETE:
		/* Not in bazel-remote (405 there); ccache's layout=bazel
		 * sends DELETE (HttpStorage.cpp, remove()). */
		if ((error = srv_keyed_remove(store, &r->digest)) < 0)
			return srv_respond_error(r, error, "ac");
		return srv_respond_bytes(r, MHD_HTTP_NO_CONTENT, "", 0, NULL);
	default:
		if ((error = srv_keyed_get(&value, &size, store,
				&r->digest)) < 0)
			return srv_respond_error(r, error, "ac");
		return srv_respond_blob(r, store, &value);
	}
}

int srv_bazel_route(srv_request *r, enum MHD_Result *res)
{
	const char *path = r->path, *last, *prev;
	size_t n_last, n_prev;
	int is_cas;

	if (strcmp(path, "/status") == 0) {
		r->route = "bazel.status";
		r->handler = status_page;
		return 1;
	}
	if ((last = strrchr(path, '/')) == NULL || last == path)
		return 0;
	n_last = strlen(last + 1);
	for (prev = last - 1; prev > path && *prev != '/'; prev--)
		;
	n_prev = (size_t)(last - prev - 1);
	if (n_prev == 3 && strncmp(prev + 1, "cas", 3) == 0)
		is_cas = 1;
	else if (n_prev == 2 && strncmp(prev + 1, "ac", 2) == 0)
		is_cas = 0;
	else
		return 0;
	/* ccache's subdirs layout has keys under /PATH/ac/ too. */
	if (n_last != ARCA_DIGEST_HEXLEN && srv_ccache_route(r, res))
		return 1;
	if (!is_hex64(last + 1, n_last)) {
		*res = srv_respond_text(r, MHD_HTTP_BAD_REQUEST,
				"resource name must be a SHA256 hash in "
				"lowercase hex, got '%s'", last + 1);
		return 1;
	}
	if (is_cas) {
		r->route = "bazel.cas";
		r->handler = cas;
		if (arca_digest_from_hex(&r->digest, last + 1) < 0) {
			*res = srv_respond_text(r, MHD_HTTP_BAD_REQUEST,
					"bad digest");
			return 1;
		}
		return 1;
	}
	r->route = "bazel.ac";
	r->handler = ac;
	r->kv_ns = "bazel-ac";
	memcpy(r->kv_key, last + 1, n_last + 1);
	if (srv_keyed_key(&r->digest, r->kv_ns, NULL, r->kv_key) < 0)
		*res = srv_respond_error(r, ARCA_ENOMEM, "ac");
	return 1;
}
