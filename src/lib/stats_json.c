/*
 * arca_stats_json(): the statistics as JSON, shared by `arca stats
 * --json` and arca serve's GET /v1/stats so that both say the same
 * bytes. Built with jansson; the schema is documented at
 * arca_stats_json() in include/arca/arca.h and in docs/cli.md.
 */
#include "internal.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Counts are unsigned; jansson's integers are json_int_t (signed). */
static json_t *u64(uint64_t n)
{
	if (n > (uint64_t)LLONG_MAX)
		n = (uint64_t)LLONG_MAX;
	return json_integer((json_int_t)n);
}

static int set(json_t *obj, const char *key, json_t *v)
{
	if (v == NULL)
		return -1;
	return json_object_set_new(obj, key, v) == 0 ? 0 : -1;
}

static json_t *stats_obj(const arca_stats *s)
{
	json_t *obj = json_object();
	uint64_t lookups = s->hits + s->misses;
	int err = 0;

	if (obj == NULL)
		return NULL;
	if (s->stage != NULL)
		err |= set(obj, "stage", json_string(s->stage));
	err |= set(obj, "hits", u64(s->hits));
	err |= set(obj, "misses", u64(s->misses));
	err |= set(obj, "errors", u64(s->errors));
	/* A fraction; null when there was no lookup. */
	err |= set(obj, "hit_rate", lookups == 0 ? json_null() :
			json_real((double)s->hits / (double)lookups));
	err |= set(obj, "bytes_read", u64(s->bytes_read));
	err |= set(obj, "bytes_written", u64(s->bytes_written));
	err |= set(obj, "saved_ms", u64(s->saved_ms));
	if (err != 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

static const char *breaker_name(arca_breaker_state s)
{
	return s == ARCA_BREAKER_OPEN ? "open" :
		s == ARCA_BREAKER_HALF_OPEN ? "half-open" : "closed";
}

static json_t *tiers_array(arca_store *store)
{
	json_t *a = json_array();
	size_t i, n = arca_store_remote_count(store);
	int err = a == NULL;

	for (i = 0; !err && i < n; i++) {
		arca_remote_info r;
		json_t *o = json_object();

		if (o == NULL || arca_store_remote_info(&r, store, i) < 0) {
			json_decref(o);
			err = 1;
			break;
		}
		err |= set(o, "url", json_string(r.url));
		err |= set(o, "source", json_string(r.source));
		err |= set(o, "mode", json_string(r.opts.read_only ?
				"read-only" : "read-write"));
		err |= set(o, "max_blob_size", u64(r.opts.max_blob_size));
		err |= set(o, "timeout_ms", u64(r.opts.timeout_ms));
		err |= set(o, "open", json_boolean(r.tier != 0));
		err |= set(o, "open_error", r.tier != 0 ? json_null() :
				json_string(r.open_message));
		err |= set(o, "breaker", json_string(breaker_name(r.breaker)));
		err |= set(o, "consecutive_failures", u64(r.failures));
		err |= set(o, "hits", u64(r.totals.hits));
		err |= set(o, "misses", u64(r.totals.misses));
		err |= set(o, "stored", u64(r.totals.stored));
		err |= set(o, "not_stored", u64(r.totals.not_stored));
		err |= set(o, "errors", u64(r.totals.errors));
		err |= set(o, "timeouts", u64(r.totals.timeouts));
		err |= set(o, "corrupt", u64(r.totals.corrupt));
		err |= set(o, "promoted", u64(r.totals.promoted));
		err |= set(o, "bytes_up", u64(r.totals.bytes_up));
		err |= set(o, "bytes_down", u64(r.totals.bytes_down));
		err |= set(o, "time_ms", u64(r.totals.time_ms));
		err |= set(o, "breaker_openings",
				u64(r.totals.breaker_openings));
		err |= set(o, "skipped", u64(r.totals.skipped));
		if (json_array_append_new(a, o) < 0)
			err = 1;
	}
	if (err) {
		json_decref(a);
		return NULL;
	}
	return a;
}

typedef struct overall_ctx {
	json_t *root, *stages;
	int have_overall, err;
} overall_ctx;

static int stats_row(const arca_stats *s, void *ctx)
{
	overall_ctx *c = ctx;
	json_t *o;

	if (s->stage == NULL && c->have_overall)
		return 0;
	if ((o = stats_obj(s)) == NULL) {
		c->err = 1;
		return 1;
	}
	if (s->stage == NULL) {
		c->have_overall = 1;
		c->err |= set(c->root, "overall", o);
	} else if (json_array_append_new(c->stages, o) < 0) {
		c->err = 1;
	}
	return c->err;
}

static int day_row(const arca_day_stats *s, void *ctx)
{
	json_t *days = ctx, *o = json_object();
	time_t t = (time_t)(s->day * 86400);
	struct tm tm;
	char date[16];
	int err = o == NULL;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(date, sizeof(date), "%Y-%m-%d", &tm) == 0)
		strcpy(date, "?");
	if (o != NULL) {
		err |= set(o, "date", json_string(date));
		err |= set(o, "hits", u64(s->hits));
		err |= set(o, "misses", u64(s->misses));
		err |= set(o, "errors", u64(s->errors));
		err |= set(o, "evictions", u64(s->evictions));
		err |= set(o, "bytes_read", u64(s->bytes_read));
		err |= set(o, "bytes_written", u64(s->bytes_written));
		err |= set(o, "bytes_evicted", u64(s->bytes_evicted));
		err |= set(o, "saved_ms", u64(s->saved_ms));
	}
	if (err || json_array_append_new(days, o) < 0)
		return 1;
	return 0;
}

int arca_stats_json(arca_buf *out, arca_store *store, unsigned int days)
{
	overall_ctx c = { NULL, NULL, 0, 0 };
	json_t *days_a = NULL;
	char *text = NULL;
	int error = ARCA_ENOMEM, rc;

	if (out == NULL || store == NULL || days > 36500)
		return arca__error(ARCA_EINVAL, "arca_stats_json: %s",
				out == NULL || store == NULL ? "NULL argument" :
				"days over 36500");
	out->data = NULL;
	out->size = 0;
	if ((c.root = json_object()) == NULL)
		goto cleanup;
	if (days > 0) {
		if ((days_a = json_array()) == NULL)
			goto cleanup;
		if ((rc = arca_stats_days(store, days, day_row, days_a)) < 0) {
			error = rc;
			goto cleanup;
		}
		if (rc != 0)
			goto cleanup;
		rc = set(c.root, "days", days_a);  /* takes days_a */
		days_a = NULL;
		if (rc < 0)
			goto cleanup;
	} else {
		arca_stats zero;

		if ((c.stages = json_array()) == NULL)
			goto cleanup;
		if ((rc = arca_stats_list(store, stats_row, &c)) < 0) {
			error = rc;
			goto cleanup;
		}
		if (rc != 0 || c.err)
			goto cleanup;
		memset(&zero, 0, sizeof(zero));
		if (!c.have_overall && set(c.root, "overall",
				stats_obj(&zero)) < 0)
			goto cleanup;
		rc = set(c.root, "stages", c.stages);  /* takes stages */
		c.stages = NULL;
		if (rc < 0 || set(c.root, "tiers", tiers_array(store)) < 0)
			goto cleanup;
	}
	if ((text = json_dumps(c.root, JSON_INDENT(2) |
			JSON_PRESERVE_ORDER)) == NULL)
		goto cleanup;
	out->data = (unsigned char *)text;
	out->size = strlen(text);
	text = NULL;
	error = 0;

cleanup:
	if (error == ARCA_ENOMEM)
		arca__error(error, "statistics as JSON: out of memory");
	json_decref(days_a);
	json_decref(c.stages);
	json_decref(c.root);
	return error;
}
