/*
 * Tier URLs: arca_store_add_tier_url() opens the backend a URL's scheme
 * names (redis://, redis+unix://, redis+cluster://, s3://, http://,
 * https://) and adds it
 * as a tier; and the redaction of passwords from URLs for every message
 * that names a tier.
 */
#include "internal.h"
#include "lazy_lib.h"
#include "tier_url.h"

#include "arca/sys/backend.h"
#include "arca/sys/redis.h"
#include "arca/sys/redis_cluster.h"
#include "arca/sys/s3.h"
#include "arca/sys/http.h"

#include <string.h>
#include <strings.h>

#define SUPPORTED_SCHEMES "redis://, redis+unix://, redis+cluster://, s3://, " \
	"http://, https://"

typedef struct outbuf {
	char *p;
	size_t size, len;
} outbuf;

static void out_put(outbuf *o, const char *s, size_t n)
{
	while (n-- > 0 && o->len + 1 < o->size)
		o->p[o->len++] = *s++;
	o->p[o->len] = '\0';
}

void arca__url_redact(char *out, size_t size, const char *url)
{
	outbuf o = { out, size, 0 };
	const char *auth, *auth_end, *at = NULL, *colon = NULL, *q, *end;

	if (size == 0)
		return;
	out[0] = '\0';
	if (url == NULL) {
		out_put(&o, "(null)", 6);
		return;
	}
	auth = strstr(url, "://");
	auth = auth ? auth + 3 : url;
	auth_end = auth + strcspn(auth, "/?#");
	for (q = auth; q < auth_end; q++)
		if (*q == '@')
			at = q;
	for (q = auth; at != NULL && q < at; q++)
		if (*q == ':') {
			colon = q;
			break;
		}
	if (colon != NULL) {
		out_put(&o, url, (size_t)(colon - url));
		/* user:pass@ keeps user@; a password alone (:pass@) leaves
		 * nothing before the host. */
		url = colon == auth ? at + 1 : at;
	}
	/* The query's password= parameters, if any. */
	q = strchr(auth_end, '?');
	if (q == NULL) {
		out_put(&o, url, strlen(url));
		return;
	}
	out_put(&o, url, (size_t)(q - url));
	end = q + 1 + strcspn(q + 1, "#");
	{
		const char *param = q + 1;
		int first = 1;

		while (param < end) {
			size_t n = strcspn(param, "&#");

			if (!(n >= 9 && strncasecmp(param, "password=", 9) == 0) &&
			    !(n == 8 && strncasecmp(param, "password", 8) == 0)) {
				out_put(&o, first ? "?" : "&", 1);
				out_put(&o, param, n);
				first = 0;
			}
			param += n;
			if (*param == '&')
				param++;
		}
	}
	out_put(&o, end, strlen(end));
}

/* The URL's scheme (before "://"), lowercase, in out; 0 when it has one. */
static int url_scheme(char *out, size_t size, const char *url)
{
	const char *sep = strstr(url, "://");
	size_t i, n;

	if (sep == NULL || sep == url || (n = (size_t)(sep - url)) >= size)
		return -1;
	for (i = 0; i < n; i++) {
		char c = url[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (i > 0 && ((c >= '0' && c <= '9') || c == '+' ||
				 c == '-' || c == '.'))))
			return -1;
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	out[n] = '\0';
	return 0;
}

int arca_store_add_tier_url(arca_store *store, const char *url,
		const arca_tier_options *opts)
{
	return arca__store_add_tier_url(store, url, opts, 0);
}

int arca__store_add_tier_url(arca_store *store, const char *url,
		const arca_tier_options *opts, int lazy)
{
	arca_tier_options tier_opts = ARCA_TIER_OPTIONS_INIT;
	arca_redis_options redis_opts = ARCA_REDIS_OPTIONS_INIT;
	arca_backend *backend = NULL;
	char shown[1024], scheme[32];
	int error;

	if (store == NULL || url == NULL)
		return arca__error(ARCA_EINVAL, "add tier: no store or URL");
	if (opts != NULL && opts->version != ARCA_TIER_OPTIONS_VERSION)
		return arca__error(ARCA_EINVAL, "arca_tier_options version %u "
				"is not supported (expected %u)", opts->version,
				ARCA_TIER_OPTIONS_VERSION);
	if (opts != NULL)
		tier_opts = *opts;
	arca__url_redact(shown, sizeof(shown), url);
	if (url_scheme(scheme, sizeof(scheme), url) < 0)
		return arca__error(ARCA_EINVAL, "tier URL \"%s\": not a URL "
				"(SCHEME://...); supported schemes: "
				SUPPORTED_SCHEMES, shown);
	if (strcmp(scheme, "redis") == 0 || strcmp(scheme, "redis+unix") == 0 ||
	    strcmp(scheme, "redis+cluster") == 0) {
		redis_opts.max_blob_size = tier_opts.max_blob_size;
		/* The connection at open (AUTH, SELECT, PING) keeps to the
		 * tier's deadline too. */
		redis_opts.timeout_ms = tier_opts.timeout_ms;
		redis_opts.lazy_connect = lazy;
		if ((error = scheme[5] == '+' && scheme[6] == 'c' ?
				arca_backend_redis_cluster_open(&backend, url,
					&redis_opts) :
				arca_backend_redis_open(&backend, url,
					&redis_opts)) < 0)
			return error;
		/* The store then declines larger blobs without reading them
		 * from tier 0. */
		if (tier_opts.max_blob_size == 0)
			tier_opts.max_blob_size =
				ARCA_REDIS_MAX_BLOB_SIZE_DEFAULT;
		return arca_store_add_tier(store, backend, &tier_opts);
	}
	if (strcmp(scheme, "s3") == 0) {
		arca_s3_options s3_opts = ARCA_S3_OPTIONS_INIT;

		/* The bucket probe at open keeps to the tier's deadline too,
		 * so a stalled endpoint costs the breaker one timeout. */
		s3_opts.timeout_ms = tier_opts.timeout_ms;
		s3_opts.lazy_connect = lazy;
		if ((error = arca_backend_s3_open(&backend, url, &s3_opts)) < 0)
			return error;
		return arca_store_add_tier(store, backend, &tier_opts);
	}
	if (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) {
		arca_http_options http_opts = ARCA_HTTP_OPTIONS_INIT;

		/* The first request keeps to the tier's deadline too. */
		http_opts.timeout_ms = tier_opts.timeout_ms;
		http_opts.lazy_connect = lazy;
		if ((error = arca_backend_http_open(&backend, url,
				&http_opts)) < 0)
			return error;
		return arca_store_add_tier(store, backend, &tier_opts);
	}
	return arca__error(ARCA_EINVAL, "tier URL \"%s\": unknown scheme "
			"\"%s\"; supported schemes: " SUPPORTED_SCHEMES, shown,
			scheme);
}

int arca__url_query_each(const char *query, const char *tier,
		const char *shown, arca__url_param_fn param, void *ctx)
{
	const char *p = query;
	char *value = NULL;
	int value_len = 0, error = 0;

	if (*p != '\0' && (error = arca__curl_load()) < 0)
		return error;
	while (*p) {
		size_t n = strcspn(p, "&"), name_len = strcspn(p, "=");

		if (name_len >= n) {
			error = arca__error(ARCA_EINVAL, "%s tier URL \"%s\": a "
					"query parameter without '=' "
					"(name=value)", tier, shown);
			goto cleanup;
		}
		value = curl_easy_unescape(NULL, p + name_len + 1,
				(int)(n - name_len - 1), &value_len);
		if (value == NULL) {
			error = arca__error(ARCA_ENOMEM, "out of memory");
			goto cleanup;
		}
		if ((error = param(ctx, p, name_len, value,
				(size_t)value_len)) < 0)
			goto cleanup;
		explicit_bzero(value, (size_t)value_len);
		curl_free(value);
		value = NULL;
		p += n;
		if (*p == '&')
			p++;
	}
cleanup:
	if (value != NULL) {
		explicit_bzero(value, (size_t)value_len);
		curl_free(value);
	}
	return error;
}
