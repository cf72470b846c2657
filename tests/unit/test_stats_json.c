/*
 * arca_stats_json(): the text `arca stats --json` prints and arca serve
 * answers on GET /v1/stats. Exact text for an empty store (the format
 * is a contract: two-space indents, keys in their documented order),
 * figures after recorded events, the per-day form, bad arguments.
 */
#include "fixture.h"

#include <stdlib.h>
#include <string.h>

static void test_stats_json__empty_store_exact_text(void **state)
{
	fixture_store *f = *state;
	arca_buf out = ARCA_BUF_INIT;

	assert_int_equal(arca_stats_json(&out, f->store, 0), 0);
	assert_string_equal((const char *)out.data,
		"{\n"
		"  \"overall\": {\n"
		"    \"hits\": 0,\n"
		"    \"misses\": 0,\n"
		"    \"errors\": 0,\n"
		"    \"hit_rate\": null,\n"
		"    \"bytes_read\": 0,\n"
		"    \"bytes_written\": 0,\n"
		"    \"saved_ms\": 0\n"
		"  },\n"
		"  \"stages\": [],\n"
		"  \"tiers\": []\n"
		"}");
	assert_int_equal(out.size, strlen((const char *)out.data));
	arca_buf_free(&out);
	assert_int_equal(arca_stats_json(&out, f->store, 7), 0);
	assert_string_equal((const char *)out.data, "{\n  \"days\": []\n}");
	arca_buf_free(&out);
}

static void test_stats_json__counts_per_stage_and_day(void **state)
{
	fixture_store *f = *state;
	arca_buf out = ARCA_BUF_INIT;
	const char *s;

	assert_int_equal(arca_stats_record(f->store, "compile",
			ARCA_EVENT_MISS, 100, 0), 0);
	assert_int_equal(arca_stats_record(f->store, "compile",
			ARCA_EVENT_HIT, 100, 250), 0);
	assert_int_equal(arca_stats_record(f->store, "link",
			ARCA_EVENT_MISS, 7, 0), 0);
	assert_int_equal(arca_stats_json(&out, f->store, 0), 0);
	s = (const char *)out.data;
	assert_non_null(strstr(s, "\"overall\": {\n    \"hits\": 1,\n"
			"    \"misses\": 2,"));
	assert_non_null(strstr(s, "\"stage\": \"compile\",\n      \"hits\": 1,\n"
			"      \"misses\": 1,\n      \"errors\": 0,\n"
			"      \"hit_rate\": 0.5,"));
	assert_non_null(strstr(s, "\"saved_ms\": 250"));
	/* Stages in name order. */
	assert_true(strstr(s, "\"compile\"") < strstr(s, "\"link\""));
	arca_buf_free(&out);
	assert_int_equal(arca_stats_json(&out, f->store, 1), 0);
	s = (const char *)out.data;
	assert_non_null(strstr(s, "\"hits\": 1,\n      \"misses\": 2,"));
	assert_non_null(strstr(s, "\"bytes_written\": 107,"));
	arca_buf_free(&out);
}

static void test_stats_json__bad_arguments(void **state)
{
	fixture_store *f = *state;
	arca_buf out = ARCA_BUF_INIT;

	assert_int_equal(arca_stats_json(NULL, f->store, 0), ARCA_EINVAL);
	assert_int_equal(arca_stats_json(&out, NULL, 0), ARCA_EINVAL);
	assert_int_equal(arca_stats_json(&out, f->store, 36501), ARCA_EINVAL);
	assert_null(out.data);
	assert_int_equal(arca_stats_json(&out, f->store, 36500), 0);
	arca_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_stats_json__empty_store_exact_text,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(
			test_stats_json__counts_per_stage_and_day,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(
			test_stats_json__bad_arguments,
			fixture_store_setup, fixture_store_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
