/*
 * Configured remote tiers (arca_store_open(), "Remote tiers"): config.yaml
 * tiers:, ARCA_TIERS and the caller's arca_options.tiers in that
 * increasing precedence; bad tiers: entries; a tier that cannot be opened
 * left out with one warning (arca_set_log()); the circuit breaker shared
 * through DIR/tiers/ (arca_store_remote_info()), stepped with
 * arca_set_clock(). No server is needed: the tiers point at a closed
 * 127.0.0.1 port, where a connect is refused at once. Against a real
 * redis-server: tests/cli/test_remote.sh and test_remote_faults.sh.
 */
#include "fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct remote_fixture {
	char *dir;
	char *xdg;
	char dead[64];   /* redis://127.0.0.1:<a closed port> */
	char lines[8][512];
	int n_lines;
} remote_fixture;

static int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

static void capture(const char *line, void *ctx)
{
	remote_fixture *f = ctx;

	if (f->n_lines < 8)
		snprintf(f->lines[f->n_lines], sizeof(f->lines[0]), "%s", line);
	f->n_lines++;
}

/* A port nothing listens on (bound, then closed). */
static int closed_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int setup(void **state)
{
	remote_fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->dir = fixture_tempdir();
	f->xdg = fixture_tempdir();
	setenv("XDG_CONFIG_HOME", f->xdg, 1);
	unsetenv("ARCA_TIERS");
	snprintf(f->dead, sizeof(f->dead), "redis://127.0.0.1:%d",
			closed_port());
	arca_set_log(capture, f);
	fake_now = 1700000000;
	arca_set_clock(fake_clock, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	remote_fixture *f = *state;

	arca_set_log(NULL, NULL);
	arca_set_clock(NULL, NULL);
	unsetenv("ARCA_TIERS");
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

static void test_remote__config_tiers_in_order_left_out_with_a_warning(
		void **state)
{
	remote_fixture *f = *state;
	arca_store *s = NULL;
	arca_remote_info r;
	char *cfg = fixture_path("max_size: 1G\ntiers:\n"
			"  - url: redis://alice:s3cret@127.0.0.1:%s\n"
			"    mode: read-only\n    timeout_ms: 250\n"
			"    max_blob_size: 64K\n    compress: zstd\n"
			"    promote: false\n"
			"  - url: bogus://x\n", strrchr(f->dead, ':') + 1);

	write_config(f->dir, cfg);
	free(cfg);
	/* Opened without connecting: the dead Redis tier is there, the
	 * malformed one is left out with its warning at once. */
	assert_int_equal(arca_store_open(&s, f->dir, NULL), 0);
	assert_int_equal(arca_store_tier_count(s), 2);
	assert_int_equal(arca_store_remote_count(s), 2);
	assert_int_equal(f->n_lines, 1);
	assert_non_null(strstr(f->lines[0], "unknown scheme"));
	assert_int_equal(arca_store_remote_info(&r, s, 0), 0);
	assert_non_null(strstr(r.url, "redis://alice@127.0.0.1:"));
	assert_null(strstr(r.url, "s3cret"));
	assert_non_null(strstr(r.source, "config.yaml:3"));
	assert_int_equal(r.tier, 1);
	assert_int_equal(r.open_error, 0);
	assert_int_equal(r.opts.read_only, 1);
	assert_int_equal(r.opts.timeout_ms, 250);
	assert_int_equal(r.opts.max_blob_size, 64 * 1024);
	assert_int_equal(r.opts.promote, 0);
	assert_int_equal(r.totals.errors, 0);
	assert_int_equal(arca_store_remote_info(&r, s, 1), 0);
	assert_string_equal(r.url, "bogus://x");
	assert_int_equal(r.open_error, ARCA_EINVAL);
	assert_int_equal(arca_store_remote_info(&r, s, 2), ARCA_EINVAL);
	/* The store works; tier 0's hit never asks the remote. */
	{
		arca_buf buf = ARCA_BUF_INIT;
		arca_digest d, absent;

		assert_int_equal(arca_blob_put(&d, s, "x", 1), 0);
		assert_int_equal(arca_blob_get(&buf, s, &d), 0);
		arca_buf_free(&buf);
		assert_int_equal(f->n_lines, 1);
		/* A miss asks it: the refused connect is the one warning,
		 * naming the tier without the password. */
		assert_int_equal(arca_digest_buffer(&absent, "y", 1), 0);
		assert_int_equal(arca_blob_get(&buf, s, &absent),
				ARCA_ENOTFOUND);
		assert_int_equal(arca_blob_get(&buf, s, &absent),
				ARCA_ENOTFOUND);
	}
	assert_int_equal(f->n_lines, 2);
	assert_non_null(strstr(f->lines[1], "127.0.0.1"));
	assert_non_null(strstr(f->lines[1], "going on without this tier"));
	assert_null(strstr(f->lines[1], "s3cret"));
	/* The failed first call stands for the open: the second miss
	 * goes on without the tier. */
	assert_int_equal(arca_store_remote_info(&r, s, 0), 0);
	assert_int_equal(r.totals.errors, 1);
	assert_int_equal(r.totals.skipped, 1);
	arca_store_close(s);
}

static void test_remote__env_then_caller_take_precedence(void **state)
{
	remote_fixture *f = *state;
	arca_options o = ARCA_OPTIONS_INIT;
	const char *mine[] = { "bogus://caller-1", "bogus://caller-2" };
	arca_store *s = NULL;
	arca_remote_info r;
	char *cfg = fixture_path("tiers:\n  - url: bogus://file\n"
			"  - url: bogus://env-2\n    timeout_ms: 2s\n");

	write_config(f->dir, cfg);
	free(cfg);
	assert_int_equal(arca_store_open(&s, f->dir, NULL), 0);
	assert_int_equal(arca_store_remote_count(s), 2);
	assert_int_equal(arca_store_remote_info(&r, s, 0), 0);
	assert_string_equal(r.url, "bogus://file");
	arca_store_close(s);

	setenv("ARCA_TIERS", "  bogus://env-1   bogus://env-2 ", 1);
	assert_int_equal(arca_store_open(&s, f->dir, NULL), 0);
	assert_int_equal(arca_store_remote_count(s), 2);
	assert_int_equal(arca_store_remote_info(&r, s, 0), 0);
	assert_string_equal(r.url, "bogus://env-1");
	assert_string_equal(r.source, "ARCA_TIERS");
	assert_int_equal(r.opts.timeout_ms, 0);
	assert_int_equal(arca_store_remote_info(&r, s, 1), 0);
	assert_string_equal(r.url, "bogus://env-2");
	/* The file's options for the same URL. */
	assert_int_equal(r.opts.timeout_ms, 2000);
	arca_store_close(s);

	o.given |= ARCA_OPT_TIERS;
	o.tiers = mine;
	o.n_tiers = 2;
	assert_int_equal(arca_store_open(&s, f->dir, &o), 0);
	assert_int_equal(arca_store_remote_count(s), 2);
	assert_int_equal(arca_store_remote_info(&r, s, 1), 0);
	assert_string_equal(r.url, "bogus://caller-2");
	arca_store_close(s);

	/* ARCA_OPT_TIERS with none: the local tier alone. */
	o.n_tiers = 0;
	f->n_lines = 0;
	assert_int_equal(arca_store_open(&s, f->dir, &o), 0);
	assert_int_equal(arca_store_remote_count(s), 0);
	assert_int_equal(f->n_lines, 0);
	arca_store_close(s);
	/* Without the bit, the list is ignored (a version 4 caller). */
	o.given &= ~(unsigned int)ARCA_OPT_TIERS;
	o.n_tiers = 2;
	assert_int_equal(arca_store_open(&s, f->dir, &o), 0);
	assert_int_equal(arca_store_remote_info(&r, s, 0), 0);
	assert_string_equal(r.url, "bogus://env-1");
	arca_store_close(s);
}

static void test_remote__compress_goes_into_redis_and_s3_urls(void **state)
{
	remote_fixture *f = *state;
	arca_store *s = NULL;
	arca_remote_info r;
	char *cfg = fixture_path("tiers:\n"
			"  - url: %s\n    compress: none\n"
			"  - url: %s/0?prefix=p\n    compress: zstd\n"
			"  - url: %s/1?compress=1\n    compress: none\n"
			"  - url: bogus://x\n    compress: none\n"
			"  - url: s3://arca-test?endpoint=http://127.0.0.1:1\n"
			"    compress: none\n",
			f->dead, f->dead, f->dead);

	write_config(f->dir, cfg);
	free(cfg);
	assert_int_equal(arca_store_open(&s, f->dir, NULL), 0);
	assert_int_equal(arca_store_remote_count(s), 5);
	assert_int_equal(arca_store_remote_info(&r, s, 0), 0);
	assert_non_null(strstr(r.url, "?compress=0"));
	assert_int_equal(arca_store_remote_info(&r, s, 1), 0);
	assert_non_null(strstr(r.url, "?prefix=p&compress=1"));
	/* The URL's own setting wins. */
	assert_int_equal(arca_store_remote_info(&r, s, 2), 0);
	assert_null(strstr(r.url, "compress=0"));
	assert_int_equal(arca_store_remote_info(&r, s, 3), 0);
	assert_string_equal(r.url, "bogus://x");
	/* S3 tiers take it too. */
	assert_int_equal(arca_store_remote_info(&r, s, 4), 0);
	assert_non_null(strstr(r.url, "&compress=0"));
	arca_store_close(s);
}

static void expect_bad(remote_fixture *f, const char *text, const char *msg)
{
	arca_options o;
	arca_store *s = NULL;

	write_config(f->dir, text);
	assert_int_equal(arca_options_resolve(&o, f->dir, NULL), ARCA_EINVAL);
	if (strstr(arca_errmsg(), msg) == NULL)
		fail_msg("'%s': got '%s'", msg, arca_errmsg());
	assert_int_equal(arca_store_open(&s, f->dir, NULL), ARCA_EINVAL);
	assert_null(s);
}

static void test_remote__bad_tiers_name_file_and_line(void **state)
{
	remote_fixture *f = *state;

	expect_bad(f, "tiers:\n  - url: bogus://x\n    colour: blue\n",
			"config.yaml:3: tiers: unknown key 'colour'");
	expect_bad(f, "tiers:\n  - url: bogus://x\n    mode: rw\n",
			"config.yaml:3: tiers: mode 'rw'");
	expect_bad(f, "tiers:\n  - url: bogus://x\n    timeout_ms: 0\n",
			"config.yaml:3: tiers: timeout_ms '0'");
	expect_bad(f, "tiers:\n  - url: bogus://x\n    max_blob_size: big\n",
			"config.yaml:3: tiers: max_blob_size 'big'");
	expect_bad(f, "tiers:\n  - url: bogus://x\n    compress: lz4\n",
			"config.yaml:3: tiers: compress 'lz4'");
	expect_bad(f, "tiers:\n  - mode: read-only\n",
			"config.yaml:2: tiers: a tier without url");
	expect_bad(f, "tiers:\n  - url: not a url\n",
			"config.yaml:2: tiers: url 'not a url'");
	expect_bad(f, "tiers: redis://x\n",
			"config.yaml:1: tiers: expected a list");
	expect_bad(f, "tiers:\n  - redis://x\n",
			"config.yaml:2: tiers: expected a mapping");
	expect_bad(f, "tiers:\n  - url: bogus://x\n    mode: [a]\n",
			"config.yaml:3: expected 'key: value'");
}

static void test_remote__config_set_keeps_the_tiers(void **state)
{
	remote_fixture *f = *state;
	arca_store *s = NULL;
	arca_remote_info r;

	write_config(f->dir, "tiers:\n  - url: bogus://kept\n"
			"    timeout_ms: 300\nttl: 1d\n");
	assert_int_equal(arca_config_set(f->dir, "max_size", "5G"), 0);
	assert_int_equal(arca_config_set(f->dir, "tiers", "x"), ARCA_EINVAL);
	assert_int_equal(arca_store_open(&s, f->dir, NULL), 0);
	assert_int_equal(arca_store_remote_count(s), 1);
	assert_int_equal(arca_store_remote_info(&r, s, 0), 0);
	assert_string_equal(r.url, "bogus://kept");
	assert_int_equal(r.opts.timeout_ms, 300);
	arca_store_close(s);
	/* An empty tiers: is no tiers, and survives a rewrite. */
	write_config(f->dir, "tiers:\n");
	assert_int_equal(arca_config_set(f->dir, "ttl", "2d"), 0);
	assert_int_equal(arca_store_open(&s, f->dir, NULL), 0);
	assert_int_equal(arca_store_remote_count(s), 0);
	arca_store_close(s);
}

/* Open the store (the dead tier from config), miss one blob in tier 0
 * (so the remote is asked unless its breaker skips it), return the
 * tier's breaker info. */
static void open_once(remote_fixture *f, arca_remote_info *out,
		arca_store **s)
{
	arca_buf buf = ARCA_BUF_INIT;
	arca_digest absent;

	assert_int_equal(arca_store_open(s, f->dir, NULL), 0);
	assert_int_equal(arca_digest_buffer(&absent, "absent", 6), 0);
	assert_int_equal(arca_blob_get(&buf, *s, &absent), ARCA_ENOTFOUND);
	assert_int_equal(arca_store_remote_info(out, *s, 0), 0);
}

static void test_remote__breaker_shared_through_the_store(void **state)
{
	remote_fixture *f = *state;
	arca_store *s = NULL, *other = NULL;
	arca_remote_info r;
	char *cfg = fixture_path("tiers:\n  - url: %s\n", f->dead);
	int i;

	write_config(f->dir, cfg);
	free(cfg);
	/* Three refused connects (at the first call: opening does not
	 * connect), each a warning; the third opens it. */
	for (i = 1; i <= 3; i++) {
		open_once(f, &r, &s);
		assert_int_equal(r.open_error, 0);
		assert_int_equal(r.totals.errors, (uint64_t)i);
		assert_int_equal(r.failures, (uint64_t)i);
		arca_store_close(s);
	}
	assert_int_equal(r.breaker, ARCA_BREAKER_OPEN);
	assert_int_equal(r.opened_at, fake_now);
	assert_int_equal(f->n_lines, 4);
	assert_non_null(strstr(f->lines[3], "circuit breaker open after 3"));
	/* Open: another handle leaves the tier out without connecting and
	 * without a warning. */
	f->n_lines = 0;
	fake_now += 59;
	open_once(f, &r, &other);
	assert_int_equal(r.open_error, ARCA_EUNAVAILABLE);
	assert_string_equal(r.open_message, "circuit breaker open");
	assert_int_equal(r.totals.breaker_openings, 1);
	assert_int_equal(r.totals.errors, 3);
	assert_int_equal(f->n_lines, 0);
	arca_store_close(other);
	/* After the cool-down one probe: refused again, open again. */
	fake_now += 2;
	open_once(f, &r, &s);
	assert_int_equal(r.breaker, ARCA_BREAKER_OPEN);
	assert_int_equal(r.opened_at, fake_now);
	assert_int_equal(r.totals.breaker_openings, 2);
	assert_int_equal(f->n_lines, 2);
	assert_non_null(strstr(f->lines[1], "open again"));
	arca_store_close(s);
	/* The figures persist: skipped opens counted too. */
	open_once(f, &r, &s);
	assert_int_equal(r.totals.skipped, 2);
	assert_int_equal(r.totals.errors, 4);
	arca_store_close(s);
}

/* Passwords leave a URL before it is shown; the rest stays as written. */
static void test_remote__url_redacted(void **state)
{
	static const char *const cases[][2] = {
		{ "redis://:s3cret@cache.lan:6379/0", "redis://cache.lan:6379/0" },
		{ "redis://ci:s3cret@cache.lan", "redis://ci@cache.lan" },
		{ "redis://cache.lan:6379", "redis://cache.lan:6379" },
		{ "redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7000",
		  "redis+cluster://10.0.0.1:7000,10.0.0.2:7000" },
		{ "redis+unix:///run/redis.sock?db=2&password=pw&prefix=x",
		  "redis+unix:///run/redis.sock?db=2&prefix=x" },
		{ "s3://bucket/p?endpoint=http://h:9000&region=r",
		  "s3://bucket/p?endpoint=http://h:9000&region=r" },
	};
	char out[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		arca_url_redact(out, sizeof(out), cases[i][0]);
		assert_string_equal(out, cases[i][1]);
	}
	arca_url_redact(out, 12, "redis://:pw@a-long-host-name");
	assert_string_equal(out, "redis://a-l");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_remote__config_tiers_in_order_left_out_with_a_warning,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_remote__env_then_caller_take_precedence,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_remote__compress_goes_into_redis_and_s3_urls,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_remote__bad_tiers_name_file_and_line,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_remote__config_set_keeps_the_tiers,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_remote__breaker_shared_through_the_store,
			setup, teardown),
		cmocka_unit_test(test_remote__url_redacted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
