/*
 * Store policy read by the library (config.c): config.yaml, the
 * environment and the caller's options, in that increasing precedence,
 * and the one syntax for sizes and durations.
 */
#include "fixture.h"

#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

typedef struct config_fixture {
	char *dir;      /* the store directory */
	char *xdg;      /* XDG_CONFIG_HOME, empty unless a test writes it */
} config_fixture;

static const char *const policy_vars[] = {
	"ARCA_MAX_SIZE", "ARCA_INLINE_THRESHOLD", "ARCA_LOCK_TIMEOUT",
	"ARCA_TTL", "ARCA_DISK_RESERVE"
};

static void unset_policy_env(void)
{
	size_t i;

	for (i = 0; i < sizeof(policy_vars) / sizeof(*policy_vars); i++)
		unsetenv(policy_vars[i]);
}

static int setup(void **state)
{
	config_fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->dir = fixture_tempdir();
	f->xdg = fixture_tempdir();
	setenv("XDG_CONFIG_HOME", f->xdg, 1);
	unset_policy_env();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	config_fixture *f = *state;

	unset_policy_env();
	unsetenv("XDG_CONFIG_HOME");
	fixture_rmdir(f->dir);
	fixture_rmdir(f->xdg);
	free(f);
	return 0;
}

static void write_config(const char *dir, const char *text)
{
	char *path = fixture_path("%s/config.yaml", dir);

	fixture_write_file(path, text, strlen(text));
	free(path);
}

static const char store_config[] =
	"# written as arca limit and a user would\n"
	"max_size: 1M\n"
	"inline_threshold: 4K\n"
	"ttl: 2h\n"
	"lock_timeout: 10s\n"
	"low_watermark: 70%\n";

static void open_effective(arca_options *out, const char *dir,
		const arca_options *opts)
{
	arca_store *s = NULL;

	if (arca_store_open(&s, dir, opts) != 0)
		fail_msg("arca_store_open: %s", arca_errmsg());
	assert_int_equal(arca_store_get_options(out, s), 0);
	arca_store_close(s);
}

static void test_config__null_options_read_store_file(void **state)
{
	config_fixture *f = *state;
	arca_options o;
	arca_store *s = NULL;
	uint64_t max = 0;

	write_config(f->dir, store_config);
	open_effective(&o, f->dir, NULL);
	assert_int_equal(o.version, ARCA_OPTIONS_VERSION);
	assert_int_equal(o.max_size, 1024 * 1024);
	assert_int_equal(o.inline_threshold, 4096);
	assert_int_equal(o.default_ttl_s, 7200);
	assert_int_equal(o.lock_timeout_ms, 10000);
	assert_int_equal(o.low_watermark_pct, 70);
	assert_int_equal(o.busy_timeout_ms, ARCA_DEFAULT_BUSY_TIMEOUT_MS);
	assert_int_equal(o.given, ARCA_OPT_ALL);
	/* The limit the eviction code sees is the file's. */
	assert_int_equal(arca_store_open(&s, f->dir, NULL), 0);
	assert_int_equal(arca_store_usage(NULL, &max, s), 0);
	assert_int_equal(max, 1024 * 1024);
	arca_store_close(s);
}

static void test_config__defaults_without_file(void **state)
{
	config_fixture *f = *state;
	arca_options o;

	open_effective(&o, f->dir, NULL);
	assert_int_equal(o.max_size, ARCA_DEFAULT_MAX_SIZE);
	assert_int_equal(o.inline_threshold, ARCA_DEFAULT_INLINE_THRESHOLD);
	assert_int_equal(o.default_ttl_s, 0);
	assert_int_equal(o.lock_timeout_ms, ARCA_DEFAULT_LOCK_TIMEOUT_MS);
	assert_int_equal(o.low_watermark_pct, ARCA_DEFAULT_LOW_WATERMARK_PCT);
}

static void test_config__user_file_unless_store_has_one(void **state)
{
	config_fixture *f = *state;
	char *arca_dir = fixture_path("%s/arca", f->xdg);
	arca_options o;

	assert_int_equal(mkdir(arca_dir, 0755), 0);
	write_config(arca_dir, "max_size: 3G\nttl: 1w\n");
	open_effective(&o, f->dir, NULL);
	assert_int_equal(o.max_size, (uint64_t)3 << 30);
	assert_int_equal(o.default_ttl_s, 7 * 86400);
	/* The store's own file wins, whole: the user's ttl is not merged. */
	write_config(f->dir, "max_size: 2G\n");
	open_effective(&o, f->dir, NULL);
	assert_int_equal(o.max_size, (uint64_t)2 << 30);
	assert_int_equal(o.default_ttl_s, 0);
	free(arca_dir);
}

static void test_config__env_overrides_file(void **state)
{
	config_fixture *f = *state;
	arca_options o;

	write_config(f->dir, store_config);
	setenv("ARCA_MAX_SIZE", "2M", 1);
	setenv("ARCA_INLINE_THRESHOLD", "100K", 1);
	setenv("ARCA_LOCK_TIMEOUT", "1m", 1);
	setenv("ARCA_TTL", "1w", 1);
	open_effective(&o, f->dir, NULL);
	assert_int_equal(o.max_size, 2 * 1024 * 1024);
	assert_int_equal(o.inline_threshold, 100 * 1024);
	assert_int_equal(o.lock_timeout_ms, 60000);
	assert_int_equal(o.default_ttl_s, 7 * 86400);
	/* Not in the environment: still the file's. */
	assert_int_equal(o.low_watermark_pct, 70);
	/* Empty means unset. */
	setenv("ARCA_MAX_SIZE", "", 1);
	open_effective(&o, f->dir, NULL);
	assert_int_equal(o.max_size, 1024 * 1024);
}

static void test_config__explicit_option_overrides_env(void **state)
{
	config_fixture *f = *state;
	arca_options opts = ARCA_OPTIONS_INIT, o;

	write_config(f->dir, store_config);
	setenv("ARCA_MAX_SIZE", "2M", 1);
	setenv("ARCA_LOCK_TIMEOUT", "1m", 1);
	setenv("ARCA_TTL", "1w", 1);
	/* A value other than the default is the caller's... */
	opts.max_size = 5 * 1024 * 1024;
	/* ...and so is a default value whose bit is given. */
	opts.lock_timeout_ms = ARCA_DEFAULT_LOCK_TIMEOUT_MS;
	opts.given = ARCA_OPT_LOCK_TIMEOUT;
	open_effective(&o, f->dir, &opts);
	assert_int_equal(o.max_size, 5 * 1024 * 1024);
	assert_int_equal(o.lock_timeout_ms, ARCA_DEFAULT_LOCK_TIMEOUT_MS);
	/* Not given: the environment's, then the file's. */
	assert_int_equal(o.default_ttl_s, 7 * 86400);
	assert_int_equal(o.inline_threshold, 4096);
	/* The getter's result reopens with exactly the same policy. */
	unset_policy_env();
	write_config(f->dir, "max_size: 7M\n");
	{
		arca_options again;

		open_effective(&again, f->dir, &o);
		assert_int_equal(again.max_size, 5 * 1024 * 1024);
		assert_int_equal(again.default_ttl_s, 7 * 86400);
		assert_int_equal(again.inline_threshold, 4096);
	}
}

static void test_config__version_2_struct_keeps_its_meaning(void **state)
{
	config_fixture *f = *state;
	arca_options opts = ARCA_OPTIONS_INIT, o;

	write_config(f->dir, store_config);
	setenv("ARCA_MAX_SIZE", "2M", 1);
	opts.version = 2;
	open_effective(&o, f->dir, &opts);
	/* Every field a version 2 struct has is the caller's... */
	assert_int_equal(o.max_size, ARCA_DEFAULT_MAX_SIZE);
	assert_int_equal(o.inline_threshold, ARCA_DEFAULT_INLINE_THRESHOLD);
	assert_int_equal(o.lock_timeout_ms, ARCA_DEFAULT_LOCK_TIMEOUT_MS);
	/* ...the default TTL it does not have comes from the file. */
	assert_int_equal(o.default_ttl_s, 7200);
	opts.version = 1;
	open_effective(&o, f->dir, &opts);
	assert_int_equal(o.inline_threshold, ARCA_DEFAULT_INLINE_THRESHOLD);
	assert_int_equal(o.max_size, 2 * 1024 * 1024);
	assert_int_equal(o.lock_timeout_ms, 10000);
}

static void test_config__bad_file_names_file_and_line(void **state)
{
	config_fixture *f = *state;
	arca_store *s = NULL;
	arca_options o;

	write_config(f->dir, "ttl: 1d\nmax_size: lots\n");
	assert_int_equal(arca_store_open(&s, f->dir, NULL), ARCA_EINVAL);
	assert_null(s);
	assert_non_null(strstr(arca_errmsg(), "config.yaml:2: max_size 'lots'"));
	assert_null(strchr(arca_errmsg(), '\n'));
	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), ARCA_EINVAL);
	write_config(f->dir, "max_sise: 1G\n");
	assert_int_equal(arca_store_open(&s, f->dir, NULL), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "config.yaml:1: unknown setting "
			"'max_sise'"));
	write_config(f->dir, "max_size: [1, 2\n");
	assert_int_equal(arca_store_open(&s, f->dir, NULL), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "config.yaml:"));
	write_config(f->dir, "lock_timeout: 0\n");
	assert_int_equal(arca_store_open(&s, f->dir, NULL), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "config.yaml:1: lock_timeout '0'"));
	write_config(f->dir, "low_watermark: 0\n");
	assert_int_equal(arca_store_open(&s, f->dir, NULL), ARCA_EINVAL);
	/* An explicit option does not hide a broken file. */
	{
		arca_options opts = ARCA_OPTIONS_INIT;

		opts.given = ARCA_OPT_ALL;
		assert_int_equal(arca_store_open(&s, f->dir, &opts), ARCA_EINVAL);
	}
	assert_null(s);
}

/* Found by tests/fuzz/fuzz_config.c: a quoted YAML key or value holding a
 * newline made a two-line message. */
static void test_config__bad_file_message_is_one_line(void **state)
{
	config_fixture *f = *state;
	arca_options o;

	write_config(f->dir, "\"ttl\\nx\": 1d\n");
	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "unknown setting 'ttl?x'"));
	assert_null(strchr(arca_errmsg(), '\n'));
	write_config(f->dir, "ttl: \"1\\nd\"\n");
	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "ttl '1?d'"));
	assert_null(strchr(arca_errmsg(), '\n'));
}

static void test_config__bad_env_named(void **state)
{
	config_fixture *f = *state;
	arca_store *s = NULL;

	setenv("ARCA_INLINE_THRESHOLD", "lots", 1);
	assert_int_equal(arca_store_open(&s, f->dir, NULL), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "ARCA_INLINE_THRESHOLD='lots'"));
	setenv("ARCA_INLINE_THRESHOLD", "65M", 1);
	assert_int_equal(arca_store_open(&s, f->dir, NULL), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "ARCA_INLINE_THRESHOLD='65M': "
			"expected a size of at most 64M"));
	unsetenv("ARCA_INLINE_THRESHOLD");
	setenv("ARCA_TTL", "soon", 1);
	assert_int_equal(arca_store_open(&s, f->dir, NULL), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "ARCA_TTL='soon'"));
	assert_null(s);
}

static void test_config__set_binds_later_openers(void **state)
{
	config_fixture *f = *state;
	char *path = fixture_path("%s/config.yaml", f->dir);
	unsigned char *text;
	size_t len;
	arca_options o;

	write_config(f->dir, "ttl: 7d\nmax_size: 2G\n");
	assert_int_equal(arca_config_set(f->dir, "max_size", "3M"), 0);
	text = fixture_read_file(path, &len);
	assert_non_null(text);
	text[len] = '\0';
	assert_non_null(strstr((char *)text, "ttl: 7d"));
	assert_non_null(strstr((char *)text, "max_size: 3M"));
	free(text);
	open_effective(&o, f->dir, NULL);
	assert_int_equal(o.max_size, 3 * 1024 * 1024);
	assert_int_equal(o.default_ttl_s, 7 * 86400);
	/* Refused without touching the file. */
	assert_int_equal(arca_config_set(f->dir, "max_size", "big"), ARCA_EINVAL);
	assert_int_equal(arca_config_set(f->dir, "colour", "red"), ARCA_EINVAL);
	open_effective(&o, f->dir, NULL);
	assert_int_equal(o.max_size, 3 * 1024 * 1024);
	free(path);
}

static void test_config__parse_duration(void **state)
{
	static const struct { const char *text; uint64_t ms; } good[] = {
		{ "90", 90000 }, { "0.5", 500 }, { ".5", 500 }, { "30s", 30000 },
		{ "10m", 600000 }, { "10min", 600000 }, { "2h", 7200000 },
		{ "7d", 604800000 }, { "1w", 604800000 }, { "250ms", 250 },
		{ "0", 0 }, { "1.5h", 5400000 }, { "0.0001", 1 },
	};
	static const char *const bad[] = {
		"", "s", "-1", "+1", "1x", "1 s", " 1", "1s ", "1.", "1e3",
		"0x10", "inf", "nan", "10M", "1ss", "99999999999999999999w",
	};
	uint64_t v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(*good); i++) {
		v = 12345;
		if (arca_parse_duration_ms(&v, good[i].text) != 0)
			fail_msg("'%s' refused: %s", good[i].text, arca_errmsg());
		if (v != good[i].ms)
			fail_msg("'%s' = %llu ms, expected %llu", good[i].text,
					(unsigned long long)v,
					(unsigned long long)good[i].ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		v = 12345;
		if (arca_parse_duration_ms(&v, bad[i]) != ARCA_EINVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(v, 12345);
		assert_non_null(strstr(arca_errmsg(), "expected a duration"));
	}
	assert_int_equal(arca_parse_duration_ms(&v, NULL), ARCA_EINVAL);
}

static void test_config__parse_size(void **state)
{
	static const struct { const char *text; uint64_t bytes; } good[] = {
		{ "4096", 4096 }, { "0", 0 }, { "100K", 102400 },
		{ "100k", 102400 }, { "10M", 10485760 }, { "1.5GiB", 1610612736 },
		{ "1.5G", 1610612736 }, { "2KB", 2048 }, { "2Ki", 2048 },
		{ "3 M", 3145728 }, { "12B", 12 }, { "1T", (uint64_t)1 << 40 },
		{ "18446744073709551615", UINT64_MAX }, { "0.5K", 512 },
	};
	static const char *const bad[] = {
		"", "K", "-1", "+1", "lots", "1.5", "10X", "10MM", "1 ", " 1",
		"18446744073709551616", "16E", "1e3", "10m5", "1.K",
	};
	uint64_t v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(*good); i++) {
		v = 12345;
		if (arca_parse_size(&v, good[i].text) != 0)
			fail_msg("'%s' refused: %s", good[i].text, arca_errmsg());
		if (v != good[i].bytes)
			fail_msg("'%s' = %llu, expected %llu", good[i].text,
					(unsigned long long)v,
					(unsigned long long)good[i].bytes);
	}
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		v = 12345;
		if (arca_parse_size(&v, bad[i]) != ARCA_EINVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(v, 12345);
		assert_non_null(strstr(arca_errmsg(), "expected a size"));
	}
}

/* disk_reserve (issue 8): a size or auto, from file, environment or a
 * version 4 struct; a version 3 struct does not have the field. */
static void test_config__disk_reserve(void **state)
{
	config_fixture *f = *state;
	arca_options opts = ARCA_OPTIONS_INIT, o;

	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), 0);
	assert_true(o.disk_reserve == ARCA_DISK_RESERVE_AUTO);
	write_config(f->dir, "disk_reserve: 1G\n");
	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), 0);
	assert_int_equal(o.disk_reserve, (uint64_t)1 << 30);
	setenv("ARCA_DISK_RESERVE", "0", 1);
	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), 0);
	assert_int_equal(o.disk_reserve, 0);
	setenv("ARCA_DISK_RESERVE", "auto", 1);
	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), 0);
	assert_true(o.disk_reserve == ARCA_DISK_RESERVE_AUTO);
	setenv("ARCA_DISK_RESERVE", "lots", 1);
	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "ARCA_DISK_RESERVE='lots'"));
	unsetenv("ARCA_DISK_RESERVE");
	/* The caller's version 4 field wins over the file... */
	opts.disk_reserve = 4096;
	assert_int_equal(arca_options_resolve(&o, f->dir, &opts), 0);
	assert_int_equal(o.disk_reserve, 4096);
	/* ...a version 3 struct has none: the file's, even with every bit. */
	opts.version = 3;
	opts.given = ARCA_OPT_ALL;
	assert_int_equal(arca_options_resolve(&o, f->dir, &opts), 0);
	assert_int_equal(o.disk_reserve, (uint64_t)1 << 30);
	assert_int_equal(arca_config_set(f->dir, "disk_reserve", "2M"), 0);
	assert_int_equal(arca_config_set(f->dir, "disk_reserve", "x"),
			ARCA_EINVAL);
	open_effective(&o, f->dir, NULL);
	assert_int_equal(o.disk_reserve, 2 << 20);
}

/* verify and verify_stamp_min (issue 11): from file, environment or a
 * version 6 struct; an older struct does not have the fields. */
static void test_config__verify(void **state)
{
	config_fixture *f = *state;
	arca_options opts = ARCA_OPTIONS_INIT, o;

	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), 0);
	assert_int_equal(o.verify, ARCA_VERIFY_ALWAYS);
	assert_int_equal(o.verify_stamp_min, (uint64_t)64 << 20);
	write_config(f->dir, "verify: stamp\nverify_stamp_min: 1G\n");
	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), 0);
	assert_int_equal(o.verify, ARCA_VERIFY_STAMP);
	assert_int_equal(o.verify_stamp_min, (uint64_t)1 << 30);
	setenv("ARCA_VERIFY", "always", 1);
	setenv("ARCA_VERIFY_STAMP_MIN", "8M", 1);
	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), 0);
	assert_int_equal(o.verify, ARCA_VERIFY_ALWAYS);
	assert_int_equal(o.verify_stamp_min, (uint64_t)8 << 20);
	setenv("ARCA_VERIFY", "sometimes", 1);
	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "ARCA_VERIFY='sometimes'"));
	assert_non_null(strstr(arca_errmsg(), "always or stamp"));
	unsetenv("ARCA_VERIFY");
	setenv("ARCA_VERIFY_STAMP_MIN", "0", 1);
	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), ARCA_EINVAL);
	unsetenv("ARCA_VERIFY_STAMP_MIN");
	/* The caller's version 6 fields win over the file... */
	opts.verify = ARCA_VERIFY_ALWAYS;
	opts.given = ARCA_OPT_VERIFY;
	opts.verify_stamp_min = 4096;
	assert_int_equal(arca_options_resolve(&o, f->dir, &opts), 0);
	assert_int_equal(o.verify, ARCA_VERIFY_ALWAYS);
	assert_int_equal(o.verify_stamp_min, 4096);
	/* ...a version 5 struct has none: the file's, even with every bit. */
	opts.version = 5;
	opts.given = ARCA_OPT_ALL;
	assert_int_equal(arca_options_resolve(&o, f->dir, &opts), 0);
	assert_int_equal(o.verify, ARCA_VERIFY_STAMP);
	assert_int_equal(o.verify_stamp_min, (uint64_t)1 << 30);
	opts.version = ARCA_OPTIONS_VERSION;
	opts.verify = 7;
	assert_int_equal(arca_options_resolve(&o, f->dir, &opts), ARCA_EINVAL);
	assert_int_equal(arca_config_set(f->dir, "verify", "always"), 0);
	assert_int_equal(arca_config_set(f->dir, "verify", "never"),
			ARCA_EINVAL);
	open_effective(&o, f->dir, NULL);
	assert_int_equal(o.verify, ARCA_VERIFY_ALWAYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
				test_config__null_options_read_store_file,
				setup, teardown),
		cmocka_unit_test_setup_teardown(
				test_config__defaults_without_file, setup,
				teardown),
		cmocka_unit_test_setup_teardown(
				test_config__user_file_unless_store_has_one,
				setup, teardown),
		cmocka_unit_test_setup_teardown(test_config__env_overrides_file,
				setup, teardown),
		cmocka_unit_test_setup_teardown(
				test_config__explicit_option_overrides_env,
				setup, teardown),
		cmocka_unit_test_setup_teardown(
				test_config__version_2_struct_keeps_its_meaning,
				setup, teardown),
		cmocka_unit_test_setup_teardown(
				test_config__bad_file_names_file_and_line,
				setup, teardown),
		cmocka_unit_test_setup_teardown(
				test_config__bad_file_message_is_one_line,
				setup, teardown),
		cmocka_unit_test_setup_teardown(test_config__bad_env_named,
				setup, teardown),
		cmocka_unit_test_setup_teardown(
				test_config__set_binds_later_openers, setup,
				teardown),
		cmocka_unit_test_setup_teardown(test_config__verify,
				setup, teardown),
		cmocka_unit_test_setup_teardown(test_config__disk_reserve,
				setup, teardown),
		cmocka_unit_test(test_config__parse_duration),
		cmocka_unit_test(test_config__parse_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
