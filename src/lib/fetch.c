/*
 * URL inputs: fetch a URL through the cache with HTTP validators.
 *
 * The body of a URL is a blob; the URL's row in the index keeps the blob's
 * digest, the validators the server sent (ETag, Last-Modified; RFC 9110
 * section 8.8) and when the body was last fetched or revalidated. Within
 * the freshness rule the cached body is used without a request; after it
 * a conditional GET (RFC 9110 section 13.1.1 If-None-Match, 13.1.3
 * If-Modified-Since; RFC 9111 section 4.3.1) either keeps the body (304)
 * or replaces it (200). When the server cannot be used, a cached body is
 * served stale (stale-if-error, RFC 5861 section 4) unless the caller
 * forbids it.
 *
 * libcurl does all of HTTP: the transfer, redirects, and the parsing of
 * the response headers (curl_easy_header()); arca only reads values.
 */
#include "internal.h"

#include "fsutil.h"
#include "local.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define FETCH_DEFAULT_TIMEOUT_MS 300000u
#define FETCH_MAX_REDIRECTS 5L
#define FETCH_USER_AGENT "arca/" ARCA_VERSION_STRING

/* ---- libcurl global state ---------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
	arca__openssl_load_config();
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int curl_ready(void)
{
	if (pthread_once(&curl_once, curl_init_once) != 0 ||
	    curl_init_result != CURLE_OK)
		return arca__error(ARCA_EIO, "cannot initialise libcurl: %s",
				curl_easy_strerror(curl_init_result));
	return 0;
}

/* ---- one transfer ------------------------------------------------------ */

/* What the callbacks of one transfer share. */
typedef struct transfer {
	CURL *curl;
	int fd;                   /* the temp file the body goes to */
	const char *tmp_path;
	uint64_t written;         /* body bytes written to fd */
	int write_error;          /* ARCA_E* of a failed write, else 0 */
	long refused_status;      /* HTTP status whose body was refused */
	arca_progress_fn progress;
	void *progress_ctx;
	uint64_t progress_done;   /* last values reported, to skip repeats */
	uint64_t progress_total;
	char errbuf[CURL_ERROR_SIZE]; /* libcurl's detail of a failure */
} transfer;

/* 2xx responses whose body is the representation (206 is a part of it:
 * arca never asks for ranges, so one is an error). */
static int status_is_body(long status)
{
	return status >= 200 && status < 300 && status != 206;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	transfer *t = ctx;
	size_t len = size * nmemb;
	long status = 0;

	/*
	 * Only a successful response's body is worth keeping; an error page
	 * is refused at its first byte (the transfer stops with
	 * CURLE_WRITE_ERROR and refused_status says why).
	 */
	curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
	if (!status_is_body(status)) {
		t->refused_status = status;
		return 0;
	}
	if ((t->write_error = arca__write_all(t->fd, data, len,
			t->tmp_path)) < 0)
		return 0;
	t->written += len;
	return len;
}

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow,
		curl_off_t ultotal, curl_off_t ulnow)
{
	transfer *t = ctx;
	uint64_t done = dlnow > 0 ? (uint64_t)dlnow : 0;
	uint64_t total = dltotal > 0 ? (uint64_t)dltotal : 0;

	(void)ultotal;
	(void)ulnow;
	/* libcurl calls this about once a second even when nothing moved. */
	if (t->progress != NULL && (done != t->progress_done ||
			total != t->progress_total)) {
		t->progress_done = done;
		t->progress_total = total;
		t->progress(t->progress_ctx, done, total);
	}
	return 0;
}

/*
 * Copy the value of a response header of the final response (after
 * redirects) into *out, or leave NULL when the header is absent. The
 * value is kept exactly as sent, without the line's CR/LF.
 */
static int response_header(char **out, CURL *curl, const char *name)
{
	struct curl_header *h = NULL;
	size_t len;

	*out = NULL;
	if (curl_easy_header(curl, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK ||
	    h == NULL || h->value == NULL)
		return 0;
	len = strcspn(h->value, "\r\n");
	if (len == 0)
		return 0;
	if ((*out = strndup(h->value, len)) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	return 0;
}

/* A stored validator can be sent back only if it is one header line. */
static int header_value_ok(const char *v)
{
	return v != NULL && *v != '\0' && strpbrk(v, "\r\n") == NULL;
}

static int add_header(struct curl_slist **list, const char *name,
		const char *value)
{
	struct curl_slist *next;
	char *line = NULL;

	if (asprintf(&line, "%s: %s", name, value) < 0)
		return arca__error(ARCA_ENOMEM, "out of memory");
	next = curl_slist_append(*list, line);
	free(line);
	if (next == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	*list = next;
	return 0;
}

/* ---- the URL ----------------------------------------------------------- */

/*
 * Check that url is an absolute http or https URL (parsed by libcurl's URL
 * API, RFC 3986) and return its normalised form, the index key.
 */
static int parse_url(char **out, const char *url)
{
	CURLU *u = NULL;
	char *scheme = NULL, *norm = NULL;
	CURLUcode uc;
	int error = 0;

	*out = NULL;
	if ((u = curl_url()) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	if ((uc = curl_url_set(u, CURLUPART_URL, url, 0)) != CURLUE_OK) {
		error = uc == CURLUE_OUT_OF_MEMORY ?
			arca__error(ARCA_ENOMEM, "out of memory") :
			arca__error(ARCA_EINVAL, "%s: not a valid URL (%s)",
					url, curl_url_strerror(uc));
		goto cleanup;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcasecmp(scheme, "http") != 0 &&
	     strcasecmp(scheme, "https") != 0)) {
		error = arca__error(ARCA_EINVAL, "%s: only http and https URLs "
				"can be fetched", url);
		goto cleanup;
	}
	if ((uc = curl_url_get(u, CURLUPART_URL, &norm, 0)) != CURLUE_OK) {
		error = uc == CURLUE_OUT_OF_MEMORY ?
			arca__error(ARCA_ENOMEM, "out of memory") :
			arca__error(ARCA_EINVAL, "%s: not a valid URL (%s)",
					url, curl_url_strerror(uc));
		goto cleanup;
	}
	if ((*out = strdup(norm)) == NULL)
		error = arca__error(ARCA_ENOMEM, "out of memory");
cleanup:
	curl_free(norm);
	curl_free(scheme);
	curl_url_cleanup(u);
	return error;
}

/* ---- freshness --------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/*
 * Whether a body fetched or revalidated at fetched_at is still fresh at
 * now. The age is clamped at 0 as in RFC 9111 section 4.2.3 (a clock that
 * went back does not make an entry older).
 */
static int is_fresh(const arca_fetch_options *opts, int64_t fetched_at,
		int64_t now)
{
	int64_t age = now > fetched_at ? now - fetched_at : 0;

	if (opts->time_bucket_s > 0)
		return floor_div(now, opts->time_bucket_s) ==
			floor_div(fetched_at, opts->time_bucket_s);
	return age < opts->max_age_s;
}

/* ---- arca_fetch -------------------------------------------------------- */

/* Why a request gave no usable answer. */
typedef enum failure {
	FAIL_NONE = 0,
	FAIL_NETWORK,   /* the server could not be used: may serve stale */
	FAIL_TIMEOUT,   /* as FAIL_NETWORK, reported as ARCA_ETIMEOUT */
	FAIL_LOCAL      /* a local error (disk, memory): returned as is */
} failure;

static int check_options(const arca_fetch_options *opts)
{
	/* Version 1 is version 2 without `offline` at the end. */
	if (opts->version != 1 && opts->version != ARCA_FETCH_OPTIONS_VERSION)
		return arca__error(ARCA_EINVAL, "arca_fetch_options version %u "
				"is not supported (expected 1 or %u)",
				opts->version, ARCA_FETCH_OPTIONS_VERSION);
	if (opts->max_age_s < 0)
		return arca__error(ARCA_EINVAL, "max_age_s is negative");
	if (opts->time_bucket_s < 0)
		return arca__error(ARCA_EINVAL, "time_bucket_s is negative");
	return 0;
}

/*
 * Run the GET. On return *fail says whether it produced an answer; when
 * it did not, arca_errmsg() names the URL and cause and *error is the code
 * to report. *status is the final HTTP status (0 when none was received).
 */
static void perform(failure *fail, int *error, long *status, transfer *t,
		const char *url, struct curl_slist *headers,
		const arca_fetch_options *opts)
{
	char *errbuf = t->errbuf;
	curl_off_t clen = -1;
	CURLcode res;
	CURL *c = t->curl;

	*fail = FAIL_NONE;
	*error = 0;
	*status = 0;
	errbuf[0] = '\0';
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") !=
			CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_MAXREDIRS, FETCH_MAX_REDIRECTS) !=
			CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, FETCH_USER_AGENT) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(opts->timeout_ms ?
			opts->timeout_ms : FETCH_DEFAULT_TIMEOUT_MS)) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, t) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress) !=
			CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_XFERINFODATA, t) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOPROGRESS,
			opts->progress != NULL ? 0L : 1L) != CURLE_OK) {
		*fail = FAIL_LOCAL;
		*error = arca__error(ARCA_EIO, "%s: libcurl refused an option "
				"(built without http support?)", url);
		return;
	}

	res = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);

	if (res == CURLE_WRITE_ERROR && t->write_error < 0) {
		*fail = FAIL_LOCAL;
		*error = t->write_error; /* arca__write_all set the message */
		return;
	}
	if (res == CURLE_WRITE_ERROR && t->refused_status != 0) {
		*status = t->refused_status;
		res = CURLE_OK;
	}
	if (res == CURLE_OK && status_is_body(*status) &&
	    curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen) ==
			CURLE_OK && clen >= 0 && (uint64_t)clen != t->written) {
		/* libcurl reports a short body itself; this is a second net. */
		res = CURLE_PARTIAL_FILE;
		snprintf(errbuf, sizeof(t->errbuf), "received %llu of %lld bytes",
				(unsigned long long)t->written, (long long)clen);
	}

	switch (res) {
	case CURLE_OK:
		if (status_is_body(*status) || *status == 304)
			return;
		*fail = FAIL_NETWORK;
		*error = arca__error(ARCA_EUNAVAILABLE, "%s: HTTP %ld", url,
				*status);
		return;
	case CURLE_OUT_OF_MEMORY:
		*fail = FAIL_LOCAL;
		*error = arca__error(ARCA_ENOMEM, "%s: out of memory", url);
		return;
	case CURLE_OPERATION_TIMEDOUT:
		*fail = FAIL_TIMEOUT;
		*error = arca__error(ARCA_ETIMEOUT, "%s: %s", url,
				errbuf[0] ? errbuf : curl_easy_strerror(res));
		return;
	default:
		*fail = FAIL_NETWORK;
		*error = arca__error(ARCA_EUNAVAILABLE, "%s: %s", url,
				errbuf[0] ? errbuf : curl_easy_strerror(res));
		return;
	}
}

int arca_fetch(arca_fetch_result *out, arca_store *store, const char *url,
		const arca_fetch_options *opts)
{
	arca_fetch_options defaults = ARCA_FETCH_OPTIONS_INIT;
	arca__url_entry entry, fresh_entry;
	arca__local *local;
	transfer t;
	struct curl_slist *headers = NULL;
	char *key = NULL, *tmp_dir = NULL, *tmp_path = NULL;
	int have_entry = 0, have_copy = 0, conditional = 0;
	int error, fd = -1;
	failure fail;
	long status = 0;
	int64_t now;
	uint64_t size = 0;

	memset(&entry, 0, sizeof(entry));
	memset(&fresh_entry, 0, sizeof(fresh_entry));
	memset(&t, 0, sizeof(t));
	t.fd = -1;
	arca__error_clear();
	if (out == NULL || store == NULL || url == NULL)
		return arca__error(ARCA_EINVAL, "arca_fetch: NULL argument");
	memset(out, 0, sizeof(*out));
	if (opts == NULL)
		opts = &defaults;
	if ((error = check_options(opts)) < 0 ||
	    (error = curl_ready()) < 0 ||
	    (error = parse_url(&key, url)) < 0)
		goto cleanup;
	local = arca__store_local(store);

	error = arca__local_url_get(local, key, &entry);
	if (error == 0)
		have_entry = 1;
	else if (error != ARCA_ENOTFOUND)
		goto cleanup;
	/* A row whose body was evicted or quarantined is no cached copy. */
	if (have_entry) {
		error = arca_blob_stat(&size, store, &entry.digest);
		if (error == 0)
			have_copy = 1;
		else if (error != ARCA_ENOTFOUND)
			goto cleanup;
	}
	arca__error_clear();

	now = arca__now();
	if (have_copy && (is_fresh(opts, entry.fetched_at, now) ||
			(opts->version >= 2 && opts->offline))) {
		out->digest = entry.digest;
		out->size = size;
		out->status = is_fresh(opts, entry.fetched_at, now) ?
			ARCA_FETCH_FRESH : ARCA_FETCH_STALE;
		out->fetched_at = entry.fetched_at;
		error = 0;
		goto cleanup;
	}
	if (opts->version >= 2 && opts->offline) {
		error = arca__error(ARCA_ENOTFOUND, "%s: not in the cache "
				"(offline)", url);
		goto cleanup;
	}

	/* RFC 9111 section 4.3.1: send the entity tag, and Last-Modified. */
	if (have_copy && header_value_ok(entry.etag)) {
		if ((error = add_header(&headers, "If-None-Match",
				entry.etag)) < 0)
			goto cleanup;
		conditional = 1;
	}
	if (have_copy && header_value_ok(entry.last_modified)) {
		if ((error = add_header(&headers, "If-Modified-Since",
				entry.last_modified)) < 0)
			goto cleanup;
		conditional = 1;
	}

	if ((tmp_dir = arca__path_join(arca_store_path(store), "tmp")) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((error = arca__tmpfile(&fd, &tmp_path, tmp_dir, "fetch-", 1)) < 0)
		goto cleanup;
	if ((t.curl = curl_easy_init()) == NULL) {
		error = arca__error(ARCA_ENOMEM, "%s: cannot start a transfer",
				url);
		goto cleanup;
	}
	t.fd = fd;
	t.tmp_path = tmp_path;
	t.progress = opts->progress;
	t.progress_ctx = opts->progress_ctx;

	perform(&fail, &error, &status, &t, url, headers, opts);
	out->http_status = (int)status;

	if (fail == FAIL_NONE && status == 304 && !conditional) {
		fail = FAIL_NETWORK;
		error = arca__error(ARCA_EUNAVAILABLE, "%s: HTTP 304 to an "
				"unconditional request", url);
	}
	if (fail == FAIL_LOCAL)
		goto cleanup;
	if (fail != FAIL_NONE) {
		/* stale-if-error (RFC 5861 section 4); the message stays. */
		if (have_copy && !opts->no_stale) {
			out->digest = entry.digest;
			out->size = size;
			out->status = ARCA_FETCH_STALE;
			out->fetched_at = entry.fetched_at;
			error = 0;
		}
		goto cleanup;
	}

	if (status == 304) {
		char *etag = NULL, *last_modified = NULL;

		/* RFC 9111 section 4.3.4: a 304 may carry newer validators;
		 * keep them with the stored body. */
		if ((error = response_header(&etag, t.curl, "ETag")) < 0 ||
		    (error = response_header(&last_modified, t.curl,
				"Last-Modified")) < 0) {
			free(etag);
			goto cleanup;
		}
		if (etag || last_modified) {
			if (etag) {
				free(entry.etag);
				entry.etag = etag;
			}
			if (last_modified) {
				free(entry.last_modified);
				entry.last_modified = last_modified;
			}
			entry.fetched_at = now;
			error = arca__local_url_put(local, key, &entry);
		} else {
			error = arca__local_url_touch(local, key, now);
		}
		if (error < 0)
			goto cleanup;
		out->digest = entry.digest;
		out->size = size;
		out->status = ARCA_FETCH_NOT_MODIFIED;
		out->fetched_at = now;
		error = 0;
		goto cleanup;
	}

	/* A complete 2xx body: publish the blob, then the row naming it. */
	if (close(fd) != 0) {
		fd = -1;
		error = arca__error_errno(errno, "cannot write", tmp_path);
		goto cleanup;
	}
	fd = -1;
	if ((error = response_header(&fresh_entry.etag, t.curl, "ETag")) < 0 ||
	    (error = response_header(&fresh_entry.last_modified, t.curl,
			"Last-Modified")) < 0)
		goto cleanup;
	/* The body stays pinned until the row naming it commits. */
	arca__store_pin_hold(store);
	fresh_entry.fetched_at = now;
	if ((error = arca_blob_put_file(&fresh_entry.digest, &fresh_entry.size,
			store, tmp_path)) == 0)
		error = arca__local_url_put(local, key, &fresh_entry);
	arca__store_pin_release(store);
	if (error < 0)
		goto cleanup;
	out->digest = fresh_entry.digest;
	out->size = fresh_entry.size;
	out->status = ARCA_FETCH_DOWNLOADED;
	out->fetched_at = now;
	arca__error_clear();
	error = 0;

cleanup:
	if (fd >= 0)
		close(fd);
	if (tmp_path != NULL)
		unlink(tmp_path);
	if (t.curl != NULL)
		curl_easy_cleanup(t.curl);
	curl_slist_free_all(headers);
	arca__url_entry_free(&entry);
	arca__url_entry_free(&fresh_entry);
	free(tmp_path);
	free(tmp_dir);
	free(key);
	return error;
}
