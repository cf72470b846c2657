/*
 * arca remote — the remote tiers: `arca remote ls` (tiers in order,
 * mode, breaker, figures) and `arca remote test [URL]` (connect, put,
 * get, delete a probe, one line per step with its latency).
 */
#include "common.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: arca remote ls [--json] [--tier URL]... [--store DIR]\n"
		"       arca remote test [URL...] [--tier URL]... [--store DIR]\n"
		"\n"
		"ls: the remote tiers in order (from --tier, else $ARCA_TIERS,\n"
		"else config.yaml's tiers:), each with its mode, max blob size,\n"
		"timeout, state (open: in use; or why not), circuit breaker\n"
		"(closed, open, half-open) and figures of every process so far.\n"
		"\n"
		"test: for each URL given (else each configured tier), connect,\n"
		"put a probe blob, get it back and verify it, delete a probe\n"
		"entry: one line per step with its latency in ms. Not subject\n"
		"to the circuit breaker.\n"
		"\n"
		"Options:\n"
		"  --json        ls: a JSON array of tiers\n"
		"  --tier URL    the remote tiers (repeatable)\n"
		"  --store DIR   the store directory\n"
		"  -h, --help    print this help\n"
		"\n"
		"Exit status: 0; 2 usage error; 5 store error; 6 test: a tier\n"
		"failed a step (or none is configured).\n");
}

static const char *breaker_name(arca_breaker_state s)
{
	return s == ARCA_BREAKER_OPEN ? "open" :
		s == ARCA_BREAKER_HALF_OPEN ? "half-open" : "closed";
}

json_t *cli_tiers_json(arca_store *store)
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
		err |= cli_json_set(o, "url", json_string(r.url));
		err |= cli_json_set(o, "source", json_string(r.source));
		err |= cli_json_set(o, "mode", json_string(r.opts.read_only ?
				"read-only" : "read-write"));
		err |= cli_json_set(o, "max_blob_size",
				cli_json_u64(r.opts.max_blob_size));
		err |= cli_json_set(o, "timeout_ms",
				cli_json_u64(r.opts.timeout_ms));
		err |= cli_json_set(o, "open", json_boolean(r.tier != 0));
		err |= cli_json_set(o, "open_error", r.tier != 0 ? json_null() :
				json_string(r.open_message));
		err |= cli_json_set(o, "breaker",
				json_string(breaker_name(r.breaker)));
		err |= cli_json_set(o, "consecutive_failures",
				cli_json_u64(r.failures));
		err |= cli_json_set(o, "hits", cli_json_u64(r.totals.hits));
		err |= cli_json_set(o, "misses", cli_json_u64(r.totals.misses));
		err |= cli_json_set(o, "stored", cli_json_u64(r.totals.stored));
		err |= cli_json_set(o, "not_stored",
				cli_json_u64(r.totals.not_stored));
		err |= cli_json_set(o, "errors", cli_json_u64(r.totals.errors));
		err |= cli_json_set(o, "timeouts",
				cli_json_u64(r.totals.timeouts));
		err |= cli_json_set(o, "corrupt", cli_json_u64(r.totals.corrupt));
		err |= cli_json_set(o, "promoted",
				cli_json_u64(r.totals.promoted));
		err |= cli_json_set(o, "bytes_up",
				cli_json_u64(r.totals.bytes_up));
		err |= cli_json_set(o, "bytes_down",
				cli_json_u64(r.totals.bytes_down));
		err |= cli_json_set(o, "time_ms", cli_json_u64(r.totals.time_ms));
		err |= cli_json_set(o, "breaker_openings",
				cli_json_u64(r.totals.breaker_openings));
		err |= cli_json_set(o, "skipped", cli_json_u64(r.totals.skipped));
		if (json_array_append_new(a, o) < 0)
			err = 1;
	}
	if (err) {
		json_decref(a);
		return NULL;
	}
	return a;
}

void cli_tiers_print(arca_store *store, int with_breaker)
{
	size_t i, n = arca_store_remote_count(store);

	printf("%-3s %-36s %-10s %-9s %6s %6s %6s %6s %6s %9s %9s %8s %5s\n",
			"#", "TIER", "MODE", with_breaker ? "BREAKER" : "",
			"HITS", "MISSES", "NOTST", "ERRORS", "TMOUTS", "UP",
			"DOWN", "TIME", "OPEN");
	for (i = 0; i < n; i++) {
		arca_remote_info r;
		char up[32], down[32], t[32];

		if (arca_store_remote_info(&r, store, i) < 0)
			continue;
		cli_human_size(up, sizeof(up), r.totals.bytes_up);
		cli_human_size(down, sizeof(down), r.totals.bytes_down);
		cli_human_duration(t, sizeof(t), r.totals.time_ms);
		printf("%-3zu %-36s %-10s %-9s %6llu %6llu %6llu %6llu %6llu "
				"%9s %9s %8s %5llu\n", i + 1, cli_esc(r.url),
				r.opts.read_only ? "read-only" : "read-write",
				with_breaker ? breaker_name(r.breaker) : "",
				(unsigned long long)r.totals.hits,
				(unsigned long long)r.totals.misses,
				(unsigned long long)r.totals.not_stored,
				(unsigned long long)r.totals.errors,
				(unsigned long long)r.totals.timeouts, up, down, t,
				(unsigned long long)r.totals.breaker_openings);
		if (r.tier == 0)
			printf("    not in use: %s\n", cli_esc(r.open_message));
	}
}

static int remote_ls(arca_store *store, int json)
{
	if (json)
		return cli_json_print(cli_tiers_json(store));
	if (arca_store_remote_count(store) == 0) {
		printf("no remote tiers (set config.yaml's tiers:, ARCA_TIERS "
				"or --tier URL)\n");
		return CLI_EXIT_OK;
	}
	cli_tiers_print(store, 1);
	return CLI_EXIT_OK;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct step_ctx {
	const char *url;
} step_ctx;

static void step_line(const char *step, int result, uint64_t ms, void *ctx)
{
	step_ctx *s = ctx;

	if (result == 0)
		printf("%s: %-7s ok  %llu ms\n", cli_esc(s->url), step,
				(unsigned long long)ms);
	else
		printf("%s: %-7s FAILED  %llu ms: %s\n", cli_esc(s->url), step,
				(unsigned long long)ms, arca_strerror(result));
}

/* Test one URL on a store handle without remote tiers. */
static int test_url(arca_store *store, const char *url, const char *shown,
		const arca_tier_options *opts)
{
	step_ctx ctx = { shown };
	int64_t start = now_ms();
	size_t tier;
	int error;

	error = arca_store_add_tier_url(store, url, opts);
	if (error < 0) {
		printf("%s: %-7s FAILED  %lld ms: %s\n", cli_esc(shown),
				"connect", (long long)(now_ms() - start),
				cli_lib_detail(error));
		return -1;
	}
	printf("%s: %-7s ok  %lld ms\n", cli_esc(shown), "connect",
			(long long)(now_ms() - start));
	tier = arca_store_tier_count(store) - 1;
	if ((error = arca_tier_test(store, tier, step_line, &ctx)) < 0)
		return -1;
	return 0;
}

enum { OPT_JSON = 0x200 };

/*
 * Options of `arca remote`, before and after the subcommand (optstring
 * "+:h" stops at it, ":h" reads the rest): -1 to go on, else the exit
 * status to return.
 */
static int remote_opts(int argc, char **argv, const char *optstring,
		cli_global *g, int *json)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		CLI_TIER_LONGOPTS,
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	int c, rc;

	while ((c = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			*json = 1;
			break;
		default:
			if (!cli_common_option(&rc, g, "remote", c, argv, usage))
				return rc;
			break;
		}
	}
	return -1;
}

static int remote_main(int argc, char **argv, cli_global *g)
{
	arca_store *store = NULL, *probe = NULL;
	const char *sub;
	int json = 0, rc = CLI_EXIT_STORE, failed = 0;
	size_t i, n;

	g->use_tiers = 1;
	if ((rc = remote_opts(argc, argv, "+:h", g, &json)) >= 0)
		return rc;
	if (optind >= argc)
		return cli_usage_error("remote", "expected ls or test");
	sub = argv[optind++];
	/* Options after the subcommand too. */
	if ((rc = remote_opts(argc, argv, ":h", g, &json)) >= 0)
		return rc;
	rc = CLI_EXIT_STORE;
	if (strcmp(sub, "ls") == 0) {
		if (optind < argc)
			return cli_usage_error("remote", "ls: unexpected argument "
					"'%s'", argv[optind]);
		if (cli_open_store(&store, g) != 0)
			return CLI_EXIT_STORE;
		rc = remote_ls(store, json);
		goto cleanup;
	}
	if (strcmp(sub, "test") != 0)
		return cli_usage_error("remote", "unknown subcommand '%s' "
				"(expected ls or test)", sub);
	/* The configured list, for its URLs and options, without opening
	 * any: each is opened on a probe handle, outside the breaker. */
	{
		cli_global lg = *g;

		lg.use_tiers = 0;
		if (cli_open_store(&probe, &lg) != 0)
			return CLI_EXIT_STORE;
	}
	if (optind < argc) {
		for (i = (size_t)optind; i < (size_t)argc; i++) {
			char shown[1024];

			/* A password on the command line is never echoed. */
			arca_url_redact(shown, sizeof(shown), argv[i]);
			failed |= test_url(probe, argv[i], shown, NULL) < 0;
		}
		rc = failed ? CLI_EXIT_UNAVAILABLE : CLI_EXIT_OK;
		goto cleanup;
	}
	/* The configured tiers: opening them on a handle reports each one's
	 * URL and options; tested afresh on the probe handle. A URL with a
	 * password is only shown redacted, so the configured handle must
	 * open it; then its own tier is tested. */
	{
		cli_global lg = *g;

		lg.use_tiers = 1;
		if (cli_open_store(&store, &lg) != 0)
			goto cleanup;
	}
	n = arca_store_remote_count(store);
	if (n == 0) {
		cli_error("remote test: no remote tiers configured (give a URL, "
				"--tier, ARCA_TIERS or config.yaml's tiers:)");
		rc = CLI_EXIT_UNAVAILABLE;
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		arca_remote_info r;
		step_ctx ctx;

		if (arca_store_remote_info(&r, store, i) < 0)
			continue;
		ctx.url = r.url;
		if (r.tier == 0) {
			printf("%s: %-7s FAILED: %s\n", cli_esc(r.url), "connect",
					cli_esc(r.open_message));
			failed = 1;
			continue;
		}
		printf("%s: %-7s ok\n", cli_esc(r.url), "connect");
		if (arca_tier_test(store, r.tier, step_line, &ctx) < 0)
			failed = 1;
	}
	rc = failed ? CLI_EXIT_UNAVAILABLE : CLI_EXIT_OK;
cleanup:
	fflush(stdout);
	arca_store_close(store);
	arca_store_close(probe);
	return rc;
}

const cli_command cli_cmd_remote = {
	"remote", "list and test the remote tiers (ls, test)", remote_main,
	usage
};
