/*
 * arca's own REST API, versioned under /v1/ (docs/server.md, "/v1 REST
 * API"; the wire contract the http:// tier speaks):
 *
 *   GET|HEAD|PUT /[INSTANCE/]v1/blobs/<sha256>   content-addressed blobs
 *   POST /[INSTANCE/]v1/blobs:missing            which of these are absent
 *   GET|HEAD|PUT /[INSTANCE/]v1/actions/<key>    action entries (manifests)
 *   DELETE /[INSTANCE/]v1/actions?tag=|stage=|input=|prefix=
 *                                                invalidation
 *
 * First in the routing chain: ccache's flat layout (/PATH/KEY) would
 * otherwise take /v1/... paths. A path that starts with /v1/ is always
 * this API's (404 when no route matches); one with an instance before
 * v1/ only when the rest is one of the shapes above. Status codes follow
 * RFC 9110 §15; JSON bodies (RFC 8259) are read and written with
 * jansson, manifests with arca_manifest_to_json()/_from_json().
 */
#include "server.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Bounds on bodies a client sends here (bytes on the wire). */
#define V1_MISSING_BODY_MAX ((uint64_t)1 << 20)   /* POST blobs:missing */
#define V1_MANIFEST_BODY_MAX ((uint64_t)16 << 20) /* PUT actions/<key> */
#define V1_MISSING_MAX 10000                      /* digests per POST */

static int is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
				(s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int is_hex64(const char *s)
{
	return strlen(s) == ARCA_DIGEST_HEXLEN && is_hex(s, ARCA_DIGEST_HEXLEN);
}

static int is_post(const srv_request *r)
{
	return strcmp(r->method_name, MHD_HTTP_METHOD_POST) == 0;
}

/* Answer a JSON value (taken: decref'd here) with a newline. */
static enum MHD_Result respond_json(srv_request *r, unsigned int status,
		json_t *v)
{
	char *text = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) :
		NULL;
	enum MHD_Result res;
	char *line;
	size_t n;

	json_decref(v);
	if (text == NULL)
		return srv_respond_error(r, ARCA_ENOMEM, "json");
	n = strlen(text);
	if ((line = malloc(n + 2)) == NULL) {
		free(text);
		return srv_respond_error(r, ARCA_ENOMEM, "json");
	}
	memcpy(line, text, n);
	memcpy(line + n, "\n", 2);
	free(text);
	res = srv_respond_bytes(r, status, line, n + 1, "application/json");
	free(line);
	return res;
}

static json_t *hex_string(const arca_digest *d)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	arca_digest_to_hex(hex, d);
	return json_string(hex);
}

static char *tmp_dir_of(arca_store *store)
{
	char *p = malloc(strlen(arca_store_path(store)) + 8);

	if (p != NULL)
		sprintf(p, "%s/tmp", arca_store_path(store));
	return p;
}

/* ---- /v1/blobs/<hex> ------------------------------------------------- */

static enum MHD_Result blob(srv_request *r)
{
	const srv_config *cfg = srv_get_config(r->srv);
	srv_body plain = SRV_BODY_INIT, *body = &r->body;
	arca_store *store;
	arca_digest got, stored;
	char hex[ARCA_DIGEST_HEXLEN + 1], ghex[ARCA_DIGEST_HEXLEN + 1];
	const char *ce, *why = NULL;
	char *tmp = NULL;
	enum MHD_Result res;
	int error, existed;

	if (r->method == SRV_PUT && cfg->read_only)
		return srv_respond_method(r, "GET, HEAD");
	if (r->method != SRV_GET && r->method != SRV_HEAD &&
			r->method != SRV_PUT)
		return srv_respond_method(r, cfg->read_only ? "GET, HEAD" :
				"GET, HEAD, PUT");
	if ((store = srv_store(r)) == NULL)
		return MHD_YES;
	if (r->method != SRV_PUT)
		return srv_respond_cas_blob(r, store, &r->digest);
	arca_digest_to_hex(hex, &r->digest);
	ce = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
			MHD_HTTP_HEADER_CONTENT_ENCODING);
	if (ce != NULL && strcmp(ce, "zstd") == 0) {
		/* Decoded into a second sink, hashed as it is written, at
		 * most --max-blob-size decoded bytes. */
		if ((tmp = tmp_dir_of(store)) == NULL) {
			res = srv_respond_error(r, ARCA_ENOMEM, "upload");
			goto cleanup;
		}
		error = srv_zstd_decode_body(&plain, &r->body, tmp,
				cfg->max_blob_size, &why);
		if (error == ARCA_EINVAL || error == ARCA_EFULL) {
			/* RFC 9110 §15.5.1 (a body that is not the coding it
			 * claims), §15.5.14 (too large once decoded). */
			res = srv_respond_text(r, error == ARCA_EINVAL ?
					MHD_HTTP_BAD_REQUEST :
					MHD_HTTP_CONTENT_TOO_LARGE,
					"blobs/%s: zstd body: %s", hex, why);
			goto cleanup;
		}
		if (error < 0) {
			res = srv_respond_error(r, error, "upload");
			goto cleanup;
		}
		body = &plain;
	}
	if ((error = srv_body_finish(body, &got)) < 0) {
		res = srv_respond_error(r, error, "upload");
		goto cleanup;
	}
	if (!arca_digest_equal(&got, &r->digest)) {
		/* Nothing is stored; RFC 9110 §15.5.1. */
		arca_digest_to_hex(ghex, &got);
		res = srv_respond_text(r, MHD_HTTP_BAD_REQUEST,
				"blobs/%s: the body's SHA-256 is %s", hex, ghex);
		goto cleanup;
	}
	existed = arca_blob_stat(NULL, store, &r->digest) == 0;
	if ((error = srv_body_store(&stored, body, store)) < 0) {
		res = srv_respond_error(r, error, "blobs");
		goto cleanup;
	}
	if (!arca_digest_equal(&stored, &r->digest)) {
		res = srv_respond_error(r, ARCA_EIO, "blobs");
		goto cleanup;
	}
	/* §15.3.2 201 Created for a new blob, §15.3.1 200 otherwise. */
	res = srv_respond_bytes(r, existed ? MHD_HTTP_OK : MHD_HTTP_CREATED,
			"", 0, NULL);
cleanup:
	srv_body_free(&plain);
	free(tmp);
	return res;
}

/* ---- POST /v1/blobs:missing ------------------------------------------- */

static enum MHD_Result blobs_missing(srv_request *r)
{
	arca_store *store;
	json_t *doc = NULL, *list, *item, *missing = NULL;
	json_error_t jerr;
	char *text = NULL;
	size_t len, i;
	enum MHD_Result res;
	int error;

	if (!is_post(r))
		return srv_respond_method(r, "POST");
	if ((store = srv_store(r)) == NULL)
		return MHD_YES;
	if ((error = srv_body_read_all(&text, &len, &r->body)) < 0)
		return srv_respond_error(r, error, "blobs:missing");
	doc = json_loadb(text, len, 0, &jerr);
	free(text);
	if (doc == NULL) {
		res = srv_respond_text(r, MHD_HTTP_BAD_REQUEST,
				"blobs:missing: not JSON: %s (line %d, column "
				"%d)", jerr.text, jerr.line, jerr.column);
		goto cleanup;
	}
	list = json_object_get(doc, "digests");
	if (!json_is_object(doc) || !json_is_array(list)) {
		res = srv_respond_text(r, MHD_HTTP_BAD_REQUEST,
				"blobs:missing: expected {\"digests\": [...]}");
		goto cleanup;
	}
	if (json_array_size(list) > V1_MISSING_MAX) {
		res = srv_respond_text(r, MHD_HTTP_CONTENT_TOO_LARGE,
				"blobs:missing: %zu digests, at most %d",
				json_array_size(list), V1_MISSING_MAX);
		goto cleanup;
	}
	if ((missing = json_array()) == NULL) {
		res = srv_respond_error(r, ARCA_ENOMEM, "blobs:missing");
		goto cleanup;
	}
	json_array_foreach(list, i, item) {
		const char *hex = json_string_value(item);
		arca_digest d;

		if (hex == NULL || !is_hex64(hex) ||
				arca_digest_from_hex(&d, hex) < 0) {
			res = srv_respond_text(r, MHD_HTTP_BAD_REQUEST,
					"blobs:missing: digests[%zu] is not 64 "
					"lowercase hex digits", i);
			goto cleanup;
		}
		error = arca_blob_stat(NULL, store, &d);
		if (error == ARCA_ENOTFOUND) {
			if (json_array_append(missing, item) < 0) {
				res = srv_respond_error(r, ARCA_ENOMEM,
						"blobs:missing");
				goto cleanup;
			}
		} else if (error < 0) {
			res = srv_respond_error(r, error, "blobs:missing");
			goto cleanup;
		}
	}
	res = respond_json(r, MHD_HTTP_OK, json_pack("{s:O}", "missing",
			missing));
cleanup:
	json_decref(missing);
	json_decref(doc);
	return res;
}

/* ---- /v1/actions/<key> ------------------------------------------------ */

static int note_missing(json_t *missing, arca_store *store,
		const arca_digest *d)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];
	size_t i;
	json_t *v;
	int error = arca_blob_stat(NULL, store, d);

	if (error != ARCA_ENOTFOUND)
		return error;
	arca_digest_to_hex(hex, d);
	json_array_foreach(missing, i, v)
		if (strcmp(json_string_value(v), hex) == 0)
			return 0;
	return json_array_append_new(missing, json_string(hex)) < 0 ?
		ARCA_ENOMEM : 0;
}

static enum MHD_Result action_put(srv_request *r, arca_store *store)
{
	arca_manifest *m = NULL;
	json_t *missing = NULL;
	char *text = NULL;
	char hex[ARCA_DIGEST_HEXLEN + 1], mhex[ARCA_DIGEST_HEXLEN + 1];
	size_t len, i;
	enum MHD_Result res;
	int error;

	arca_digest_to_hex(hex, &r->digest);
	if ((error = srv_body_read_all(&text, &len, &r->body)) < 0)
		return srv_respond_error(r, error, "actions");
	if ((error = arca_manifest_from_json(&m, text, len)) < 0) {
		res = error == ARCA_EINVAL ? srv_respond_text(r,
				MHD_HTTP_BAD_REQUEST, "actions/%s: manifest: %s",
				hex, arca_errmsg()) :
			srv_respond_error(r, error, "actions");
		goto cleanup;
	}
	if (!arca_digest_equal(&m->key, &r->digest)) {
		arca_digest_to_hex(mhex, &m->key);
		res = srv_respond_text(r, MHD_HTTP_BAD_REQUEST,
				"actions/%s: the manifest's key is %s", hex, mhex);
		goto cleanup;
	}
	/* Every blob it names must be here first (the contract's 409,
	 * RFC 9110 §15.5.10: the request conflicts with the store's state). */
	if ((missing = json_array()) == NULL) {
		res = srv_respond_error(r, ARCA_ENOMEM, "actions");
		goto cleanup;
	}
	for (i = 0; i < m->n_outputs && error == 0; i++)
		error = note_missing(missing, store, &m->outputs[i].digest);
	if (error == 0)
		error = note_missing(missing, store, &m->stdout_digest);
	if (error == 0)
		error = note_missing(missing, store, &m->stderr_digest);
	if (error < 0) {
		res = srv_respond_error(r, error, "actions");
		goto cleanup;
	}
	if (json_array_size(missing) > 0) {
		res = respond_json(r, MHD_HTTP_CONFLICT, json_pack("{s:O}",
				"missing", missing));
		goto cleanup;
	}
	if ((error = arca_action_put(store, m)) == ARCA_EINVAL) {
		/* A blob went (evicted) between the check and the put. */
		res = srv_respond_text(r, MHD_HTTP_CONFLICT, "actions/%s: %s",
				hex, arca_errmsg());
		goto cleanup;
	}
	if (error < 0) {
		res = srv_respond_error(r, error, "actions");
		goto cleanup;
	}
	res = srv_respond_bytes(r, MHD_HTTP_CREATED, "", 0, NULL);
cleanup:
	json_decref(missing);
	arca_manifest_free(m);
	free(text);
	return res;
}

static enum MHD_Result action(srv_request *r)
{
	const srv_config *cfg = srv_get_config(r->srv);
	arca_store *store;
	arca_manifest *m = NULL;
	arca_buf json = ARCA_BUF_INIT;
	enum MHD_Result res;
	int error;

	if (r->method == SRV_PUT && cfg->read_only)
		return srv_respond_method(r, "GET, HEAD");
	if (r->method != SRV_GET && r->method != SRV_HEAD &&
			r->method != SRV_PUT)
		return srv_respond_method(r, cfg->read_only ? "GET, HEAD" :
				"GET, HEAD, PUT");
	if ((store = srv_store(r)) == NULL)
		return MHD_YES;
	if (r->method == SRV_PUT)
		return action_put(r, store);
	/* GET is a lookup (a hit, as `arca run` would count it); HEAD only
	 * looks (arca_action_peek). */
	error = r->method == SRV_GET ? arca_action_get(&m, store, &r->digest) :
		arca_action_peek(&m, store, &r->digest);
	if (error < 0)
		return srv_respond_error(r, error, "action");
	if ((error = arca_manifest_to_json(&json, m)) < 0)
		res = srv_respond_error(r, error, "action");
	else
		res = srv_respond_bytes(r, MHD_HTTP_OK, json.data, json.size,
				"application/json");
	arca_buf_free(&json);
	arca_manifest_free(m);
	return res;
}

/* ---- DELETE /v1/actions?... ------------------------------------------- */

typedef struct arg_scan {
	int n;             /* arguments given */
	const char *name;  /* the last one's name */
	const char *value;
} arg_scan;

static enum MHD_Result scan_arg(void *cls, enum MHD_ValueKind kind,
		const char *key, const char *value)
{
	arg_scan *a = cls;

	(void)kind;
	a->n++;
	a->name = key;
	a->value = value;
	return MHD_YES;
}

typedef struct removed_keys {
	json_t *keys;
	int failed;
} removed_keys;

static void on_removed(const arca_digest *key, void *ctx)
{
	removed_keys *k = ctx;

	if (json_array_append_new(k->keys, hex_string(key)) < 0)
		k->failed = 1;
}

static enum MHD_Result actions_delete(srv_request *r)
{
	const srv_config *cfg = srv_get_config(r->srv);
	arca_clear_filter f;
	arca_digest input;
	arca_store *store;
	arg_scan a = { 0, NULL, NULL };
	removed_keys k = { NULL, 0 };
	uint64_t n = 0;
	char *value = NULL;
	enum MHD_Result res;
	int error;

	if (cfg->read_only || r->method != SRV_DELETE)
		return srv_respond_method(r, cfg->read_only ? "" : "DELETE");
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, scan_arg, &a);
	if (a.n != 1 || (strcmp(a.name, "tag") != 0 &&
			strcmp(a.name, "stage") != 0 &&
			strcmp(a.name, "input") != 0 &&
			strcmp(a.name, "prefix") != 0))
		return srv_respond_text(r, MHD_HTTP_BAD_REQUEST,
				"actions: give exactly one of ?tag=T, ?stage=S, "
				"?input=DIGEST, ?prefix=HEX");
	/* The server's unescape callback leaves arguments as sent: decode
	 * them here (RFC 3986 §2.1), refusing what decodes to NUL. */
	if (a.value == NULL || (value = strdup(a.value)) == NULL)
		return srv_respond_text(r, MHD_HTTP_BAD_REQUEST,
				"actions: ?%s needs a value", a.name);
	if (MHD_http_unescape(value) != strlen(value) || value[0] == '\0') {
		res = srv_respond_text(r, MHD_HTTP_BAD_REQUEST,
				"actions: ?%s: empty or NUL in the value", a.name);
		goto cleanup;
	}
	memset(&f, 0, sizeof(f));
	if (strcmp(a.name, "tag") == 0) {
		f.tag = value;
	} else if (strcmp(a.name, "stage") == 0) {
		f.stage = value;
	} else if (strcmp(a.name, "input") == 0) {
		if (!is_hex64(value) || arca_digest_from_hex(&input, value) < 0) {
			res = srv_respond_text(r, MHD_HTTP_BAD_REQUEST,
					"actions: ?input must be 64 lowercase hex "
					"digits");
			goto cleanup;
		}
		f.input = &input;
	} else {
		if (strlen(value) > ARCA_DIGEST_HEXLEN ||
				!is_hex(value, strlen(value))) {
			res = srv_respond_text(r, MHD_HTTP_BAD_REQUEST,
					"actions: ?prefix must be 1 to 64 lowercase "
					"hex digits");
			goto cleanup;
		}
		f.key_prefix = value;
	}
	if ((store = srv_store(r)) == NULL) {
		res = MHD_YES;
		goto cleanup;
	}
	if ((k.keys = json_array()) == NULL) {
		res = srv_respond_error(r, ARCA_ENOMEM, "actions");
		goto cleanup;
	}
	f.on_removed = on_removed;
	f.on_removed_ctx = &k;
	if ((error = arca_store_clear(&n, NULL, store, &f)) == 0 && k.failed)
		error = ARCA_ENOMEM;
	if (error < 0) {
		res = srv_respond_error(r, error, "actions");
		goto cleanup;
	}
	res = respond_json(r, MHD_HTTP_OK, json_pack("{s:I,s:O}", "removed",
			(json_int_t)n, "keys", k.keys));
cleanup:
	json_decref(k.keys);
	free(value);
	return res;
}

/* ---- routing ---------------------------------------------------------- */

static int set_digest(srv_request *r, enum MHD_Result *res, const char *hex,
		const char *what)
{
	if (!is_hex64(hex) || arca_digest_from_hex(&r->digest, hex) < 0) {
		*res = srv_respond_text(r, MHD_HTTP_BAD_REQUEST,
				"%s must be a SHA-256 in 64 lowercase hex "
				"digits, got '%s'", what, hex);
		return 0;
	}
	return 1;
}

/* rest: what follows "v1/". 1 when it is one of the API's shapes. */
static int match(srv_request *r, enum MHD_Result *res, const char *rest)
{
	if (strcmp(rest, "blobs:missing") == 0) {
		r->route = "v1.blobs_missing";
		r->handler = blobs_missing;
		if (is_post(r)) {
			r->read_body = 1;
			r->body_limit = V1_MISSING_BODY_MAX;
		}
		return 1;
	}
	if (strncmp(rest, "blobs/", 6) == 0 && strchr(rest + 6, '/') == NULL) {
		r->route = "v1.blobs";
		r->handler = blob;
		r->accept_zstd = 1;
		if (!set_digest(r, res, rest + 6, "a blob's digest"))
			return 1;
		return 1;
	}
	if (strcmp(rest, "actions") == 0) {
		r->route = "v1.actions_delete";
		r->handler = actions_delete;
		return 1;
	}
	if (strncmp(rest, "actions/", 8) == 0 &&
			strchr(rest + 8, '/') == NULL) {
		r->route = "v1.actions";
		r->handler = action;
		r->body_limit = V1_MANIFEST_BODY_MAX;
		if (!set_digest(r, res, rest + 8, "an action key"))
			return 1;
		return 1;
	}
	return 0;
}

int srv_v1_route(srv_request *r, enum MHD_Result *res)
{
	const char *p;

	if (strncmp(r->path, "/v1/", 4) == 0) {
		if (match(r, res, r->path + 4))
			return 1;
		*res = srv_respond_text(r, MHD_HTTP_NOT_FOUND,
				"%s: no such route of the /v1 API", r->path);
		return 1;
	}
	/* /INSTANCE/v1/...: the instance is ignored (the contract). */
	for (p = strstr(r->path, "/v1/"); p != NULL; p = strstr(p + 1, "/v1/"))
		if (match(r, res, p + 4))
			return 1;
	return 0;
}
