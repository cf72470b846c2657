/*
 * arca serve's operations routes: liveness, readiness, metrics, the
 * statistics, the recent actions and the dashboard.
 *
 *   GET /healthz              200 "ok" while the process answers
 *   GET /readyz               200 when the thread's store handle works
 *                             and a write does (a probe blob), else 503
 *                             with the reason
 *   GET /metrics              Prometheus text exposition format 0.0.4
 *                             (https://prometheus.io/docs/instrumenting/
 *                             exposition_formats/)
 *   GET /[INSTANCE/]v1/stats[?days=N]
 *                             arca_stats_json(): the bytes of
 *                             `arca stats --json [--days N]`
 *   GET /[INSTANCE/]v1/actions?recent=N
 *                             the N most recently created action entries
 *   GET /                     the dashboard (src/server/dashboard.html,
 *                             embedded at build time)
 *
 * The request counters behind /metrics are kept here, counted by
 * server.c at each request's completion (srv_metrics_count()).
 */
#include "server.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The page, generated from dashboard.html by cmake/embed.cmake. */
extern const unsigned char srv_dashboard_html[];
extern const size_t srv_dashboard_html_len;

#define MAX_RECENT 1000
#define PROBE_SIZE 4096                   /* bytes, at least */
#define PROBE_MAX ((uint64_t)16 << 20)    /* larger thresholds: inline */
#define PROBE_TAG "arca-serve-readyz-probe"

/* ---- request counters ------------------------------------------------- */

/*
 * One counter per (route, status) pair met so far. Slots are appended
 * under a mutex and never change afterwards but for their count, which
 * is a C11 atomic: counting an existing pair takes no lock, and /metrics
 * reads the slots published before n_slots (release/acquire).
 */
#define METRIC_SLOTS 256

typedef struct metric_slot {
	char route[32];
	int code;
	atomic_ullong n;
} metric_slot;

static metric_slot slots[METRIC_SLOTS];
static atomic_size_t n_slots;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_ullong bytes_in_total, bytes_out_total, slots_overflow;

static metric_slot *find_slot(const char *route, int code, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (slots[i].code == code && strcmp(slots[i].route, route) == 0)
			return &slots[i];
	return NULL;
}

void srv_metrics_count(const srv_request *r)
{
	const char *route = r->route != NULL ? r->route : "none";
	metric_slot *s;
	size_t n;

	atomic_fetch_add(&bytes_in_total, r->bytes_in);
	atomic_fetch_add(&bytes_out_total, r->bytes_out);
	n = atomic_load_explicit(&n_slots, memory_order_acquire);
	if ((s = find_slot(route, r->status, n)) == NULL) {
		pthread_mutex_lock(&slots_lock);
		n = atomic_load_explicit(&n_slots, memory_order_relaxed);
		if ((s = find_slot(route, r->status, n)) == NULL &&
				n < METRIC_SLOTS) {
			s = &slots[n];
			snprintf(s->route, sizeof(s->route), "%s", route);
			s->code = r->status;
			atomic_init(&s->n, 0);
			atomic_store_explicit(&n_slots, n + 1,
					memory_order_release);
		}
		pthread_mutex_unlock(&slots_lock);
	}
	if (s != NULL)
		atomic_fetch_add(&s->n, 1);
	else
		atomic_fetch_add(&slots_overflow, 1);
}

/* ---- small helpers ---------------------------------------------------- */

typedef struct text {
	char *p;
	size_t len, cap;
	int oom;
} text;

static void add(text *t, const char *fmt, ...) SRV_PRINTF(2, 3);
static void add(text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->oom = 1;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		{
			size_t cap = (t->cap + (size_t)n + 1) * 2;
			char *p = realloc(t->p, cap);

			if (p == NULL) {
				t->oom = 1;
				return;
			}
			t->p = p;
			t->cap = cap;
		}
	}
}

/* A label value: backslash, double quote and line feed escaped
 * (exposition format: "label_value can be any sequence of UTF-8
 * characters, but the backslash, double-quote and line feed characters
 * have to be escaped as \\, \", and \n"). */
static void add_label(text *t, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			add(t, "\\\\");
		else if (*v == '"')
			add(t, "\\\"");
		else if (*v == '\n')
			add(t, "\\n");
		else
			add(t, "%c", *v);
	}
}

static void add_family(text *t, const char *name, const char *type,
		const char *help)
{
	add(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The path after an optional instance segment: "/v1/stats" for both
 * "/v1/stats" and "/main/v1/stats". */
static const char *v1_path(const char *path)
{
	const char *slash;

	if (strncmp(path, "/v1/", 4) == 0)
		return path;
	if ((slash = strchr(path + 1, '/')) != NULL &&
			strncmp(slash, "/v1/", 4) == 0 &&
			strchr(slash + 1, '/') == slash + 3)
		return slash;
	return path;
}

/* A decimal query argument from 1 to max; 0 when absent, -1 when bad. */
static long query_number(srv_request *r, const char *name, long max)
{
	const char *v = MHD_lookup_connection_value(r->conn,
			MHD_GET_ARGUMENT_KIND, name);
	char *end;
	long n;

	if (v == NULL)
		return 0;
	if (v[0] < '0' || v[0] > '9')
		return -1;
	n = strtol(v, &end, 10);
	if (*end != '\0' || n < 1 || n > max)
		return -1;
	return n;
}

/* ---- handlers --------------------------------------------------------- */

static enum MHD_Result healthz(srv_request *r)
{
	return srv_respond_bytes(r, MHD_HTTP_OK, "ok\n", 3,
			"text/plain; charset=utf-8");
}

/*
 * Ready when this thread's handle opens and takes a write: a probe blob
 * one byte over the inline threshold, so that it is a file blob (a
 * temp file, fsync, rename: what a full or read-only disk refuses; small
 * blobs go into the index unchecked against the limit), new each time
 * (a put of content already stored succeeds even on a full store), then
 * tagged and removed with arca_store_clear(). A server started
 * --read-only cannot write: never ready.
 */
static enum MHD_Result readyz(srv_request *r)
{
	static atomic_ullong seq;
	unsigned char *probe = NULL;
	arca_clear_filter filter;
	arca_store_info info;
	arca_digest d;
	arca_store *store;
	struct timespec ts;
	size_t size = PROBE_SIZE;
	enum MHD_Result res;
	int error;

	if ((store = srv_store(r)) == NULL)
		return MHD_YES;     /* answered 503: the store cannot be opened */
	if (srv_get_config(r->srv)->read_only)
		return srv_respond_text(r, MHD_HTTP_SERVICE_UNAVAILABLE,
				"not ready: the store is opened read-only "
				"(--read-only)");
	if ((error = arca_store_get_info(&info, store)) < 0)
		return srv_respond_text(r, MHD_HTTP_SERVICE_UNAVAILABLE,
				"not ready: the index cannot be read: %s",
				arca_errmsg()[0] ? arca_errmsg() :
				arca_strerror(error));
	if (info.inline_threshold < PROBE_MAX && info.inline_threshold >= size)
		size = (size_t)info.inline_threshold + 1;
	if ((probe = calloc(1, size)) == NULL)
		return srv_respond_error(r, ARCA_ENOMEM, "readyz");
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf((char *)probe, size, "arca serve readiness probe "
			"%lld.%09ld %llu\n", (long long)ts.tv_sec, ts.tv_nsec,
			(unsigned long long)atomic_fetch_add(&seq, 1));
	if ((error = arca_blob_put(&d, store, probe, size)) < 0) {
		res = srv_respond_text(r, MHD_HTTP_SERVICE_UNAVAILABLE,
				"not ready: a %zu-byte probe write failed: %s",
				size, arca_errmsg()[0] ? arca_errmsg() :
				arca_strerror(error));
		goto cleanup;
	}
	/* Best effort: what is left is an unreferenced blob, evictable. */
	memset(&filter, 0, sizeof(filter));
	filter.tag = PROBE_TAG;
	if (arca_blob_tag(store, &d, PROBE_TAG) == 0)
		(void)arca_store_clear(NULL, NULL, store, &filter);
	res = srv_respond_bytes(r, MHD_HTTP_OK, "ready\n", 6,
			"text/plain; charset=utf-8");

cleanup:
	free(probe);
	return res;
}

static enum MHD_Result stats(srv_request *r)
{
	arca_buf json = ARCA_BUF_INIT;
	arca_store *store;
	long days = query_number(r, "days", 36500);
	enum MHD_Result res;
	int error;

	if (days < 0)
		return srv_respond_text(r, MHD_HTTP_BAD_REQUEST,
				"days: expected a number of days from 1 to "
				"36500");
	if ((store = srv_store(r)) == NULL)
		return MHD_YES;
	if ((error = arca_stats_json(&json, store, (unsigned int)days)) < 0)
		return srv_respond_error(r, error, "stats");
	/* `arca stats --json` ends its text with a newline: so does this. */
	json.data[json.size] = '\n';
	res = srv_respond_bytes(r, MHD_HTTP_OK, json.data, json.size + 1,
			"application/json");
	arca_buf_free(&json);
	return res;
}

typedef struct recent_ctx {
	json_t *a;
	long left;
	int err;
} recent_ctx;

static int recent_row(const arca_action_info *info, void *vctx)
{
	recent_ctx *c = vctx;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	json_t *o;

	arca_digest_to_hex(hex, &info->key);
	o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "key", hex,
			"stage", info->stage != NULL ? info->stage : "",
			"size", (json_int_t)info->size,
			"created", (json_int_t)info->created,
			"last_access", (json_int_t)info->last_access,
			"hits", (json_int_t)info->hits,
			"duration_ms", (json_int_t)info->duration_ms);
	if (o == NULL || json_array_append_new(c->a, o) < 0) {
		c->err = 1;
		return 1;
	}
	return --c->left == 0 ? 2 : 0;
}

static enum MHD_Result recent_actions(srv_request *r)
{
	recent_ctx c = { NULL, 0, 0 };
	arca_store *store;
	json_t *root = NULL;
	char *body = NULL;
	enum MHD_Result res;
	int error;

	c.left = query_number(r, "recent", MAX_RECENT);
	if (c.left <= 0)
		return srv_respond_text(r, MHD_HTTP_BAD_REQUEST,
				"recent: expected a number from 1 to %d",
				MAX_RECENT);
	if ((store = srv_store(r)) == NULL)
		return MHD_YES;
	if ((c.a = json_array()) == NULL)
		return srv_respond_error(r, ARCA_ENOMEM, "actions");
	error = arca_action_list(store, NULL, recent_row, &c);
	if (error < 0) {
		json_decref(c.a);
		return srv_respond_error(r, error, "actions");
	}
	if (c.err || (root = json_object()) == NULL) {
		json_decref(c.a);
		return srv_respond_error(r, ARCA_ENOMEM, "actions");
	}
	error = json_object_set_new(root, "actions", c.a);  /* takes c.a */
	if (error < 0 || (body = json_dumps(root, JSON_INDENT(2) |
			JSON_PRESERVE_ORDER)) == NULL) {
		json_decref(root);
		return srv_respond_error(r, ARCA_ENOMEM, "actions");
	}
	json_decref(root);
	res = srv_respond_bytes(r, MHD_HTTP_OK, body, strlen(body),
			"application/json");
	free(body);
	return res;
}

static int sum_evictions(const arca_day_stats *s, void *ctx)
{
	*(uint64_t *)ctx += s->evictions;
	return 0;
}

static int overall_stats(const arca_stats *s, void *ctx)
{
	if (s->stage == NULL) {
		*(arca_stats *)ctx = *s;
		return 1;
	}
	return 0;
}

static enum MHD_Result metrics(srv_request *r)
{
	text t = { NULL, 0, 0, 0 };
	arca_store *store;
	arca_store_space space;
	arca_stats overall;
	uint64_t evictions = 0;
	size_t i, n;
	enum MHD_Result res;
	int error;

	if ((store = srv_store(r)) == NULL)
		return MHD_YES;
	memset(&overall, 0, sizeof(overall));
	if ((error = arca_stats_list(store, overall_stats, &overall)) < 0 ||
	    (error = arca_stats_days(store, 36500, sum_evictions,
			&evictions)) < 0 ||
	    (error = arca_store_get_space(&space, store)) < 0)
		return srv_respond_error(r, error, "metrics");

	add_family(&t, "arca_http_requests_total", "counter",
			"HTTP requests answered, by route and status code.");
	n = atomic_load_explicit(&n_slots, memory_order_acquire);
	for (i = 0; i < n; i++) {
		add(&t, "arca_http_requests_total{route=\"");
		add_label(&t, slots[i].route);
		add(&t, "\",code=\"%d\"} %llu\n", slots[i].code,
				(unsigned long long)atomic_load(&slots[i].n));
	}
	if (atomic_load(&slots_overflow) > 0)
		add(&t, "arca_http_requests_total{route=\"other\",code=\"0\"} "
				"%llu\n", (unsigned long long)
				atomic_load(&slots_overflow));
	add_family(&t, "arca_http_request_bytes_total", "counter",
			"Bytes of request bodies received.");
	add(&t, "arca_http_request_bytes_total %llu\n",
			(unsigned long long)atomic_load(&bytes_in_total));
	add_family(&t, "arca_http_response_bytes_total", "counter",
			"Bytes of response bodies sent.");
	add(&t, "arca_http_response_bytes_total %llu\n",
			(unsigned long long)atomic_load(&bytes_out_total));
	add_family(&t, "arca_cache_hits_total", "counter",
			"Cache hits recorded in the store (arca stats).");
	add(&t, "arca_cache_hits_total %llu\n",
			(unsigned long long)overall.hits);
	add_family(&t, "arca_cache_misses_total", "counter",
			"Cache misses recorded in the store (arca stats).");
	add(&t, "arca_cache_misses_total %llu\n",
			(unsigned long long)overall.misses);
	add_family(&t, "arca_store_size_bytes", "gauge",
			"Bytes of all blobs in the store.");
	add(&t, "arca_store_size_bytes %llu\n",
			(unsigned long long)space.usage);
	add_family(&t, "arca_store_limit_bytes", "gauge",
			"The store's effective size limit (max size, or what "
			"the disk allows), in bytes; 0: none.");
	add(&t, "arca_store_limit_bytes %llu\n",
			(unsigned long long)space.limit);
	add_family(&t, "arca_evictions_total", "counter",
			"Entries evicted for the size limit.");
	add(&t, "arca_evictions_total %llu\n", (unsigned long long)evictions);
	add_family(&t, "arca_tier_breaker_state", "gauge",
			"Circuit breaker of each remote tier: 0 closed, "
			"1 open, 2 half-open.");
	for (i = 0; i < arca_store_remote_count(store); i++) {
		arca_remote_info info;

		if (arca_store_remote_info(&info, store, i) < 0)
			continue;
		add(&t, "arca_tier_breaker_state{tier=\"");
		add_label(&t, info.url);
		add(&t, "\"} %d\n", (int)info.breaker);
	}
	if (t.oom) {
		free(t.p);
		return srv_respond_error(r, ARCA_ENOMEM, "metrics");
	}
	res = srv_respond_bytes(r, MHD_HTTP_OK, t.p, t.len,
			"text/plain; version=0.0.4; charset=utf-8");
	free(t.p);
	return res;
}

static enum MHD_Result dashboard(srv_request *r)
{
	return srv_respond_bytes(r, MHD_HTTP_OK, srv_dashboard_html,
			srv_dashboard_html_len, "text/html; charset=utf-8");
}

/* ---- routing ---------------------------------------------------------- */

int srv_ops_route(srv_request *r, enum MHD_Result *res)
{
	const char *p = v1_path(r->path);
	srv_handler h = NULL;
	const char *route = NULL;

	if (strcmp(r->path, "/healthz") == 0) {
		h = healthz;
		route = "ops.healthz";
	} else if (strcmp(r->path, "/readyz") == 0) {
		h = readyz;
		route = "ops.readyz";
	} else if (strcmp(r->path, "/metrics") == 0) {
		h = metrics;
		route = "ops.metrics";
	} else if (strcmp(r->path, "/") == 0) {
		h = dashboard;
		route = "ops.dashboard";
	} else if (strcmp(p, "/v1/stats") == 0) {
		h = stats;
		route = "v1.stats";
	} else if (strcmp(p, "/v1/actions") == 0 &&
			(r->method == SRV_GET || r->method == SRV_HEAD) &&
			MHD_lookup_connection_value(r->conn,
			MHD_GET_ARGUMENT_KIND, "recent") != NULL) {
		/* Only the listing: other /v1/actions requests (DELETE
		 * with a filter) belong to the /v1 routes. */
		h = recent_actions;
		route = "v1.actions.recent";
	} else {
		return 0;
	}
	r->route = route;
	if (r->method != SRV_GET && r->method != SRV_HEAD) {
		*res = srv_respond_method(r, "GET, HEAD");
		return 1;
	}
	r->handler = h;
	return 1;
}
