/* arca fetch — fetch a URL through the cache, revalidating with HTTP
 * validators (docs/cli.md, "URL inputs"). */
#include "common.h"

#include "progress.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: arca fetch [--store DIR] URL [-o FILE] [--max-age DURATION]\n"
		"                  [--time-bucket DURATION] [--no-stale] [--json]\n"
		"\n"
		"Fetch an http or https URL through the cache and print the digest\n"
		"of its body (a blob in the store). The ETag and Last-Modified the\n"
		"server sent are kept with the URL:\n"
		"  - within --max-age of the last download or revalidation the\n"
		"    cached body is used without any request;\n"
		"  - after it a conditional GET (If-None-Match / If-Modified-Since,\n"
		"    RFC 9110) is made: 304 keeps the cached body, 200 stores the\n"
		"    new one;\n"
		"  - when the server cannot be reached or answers with an error,\n"
		"    the cached body is used with a warning (stale-if-error,\n"
		"    RFC 5861), unless --no-stale.\n"
		"A body is stored only once it has arrived whole: a dropped\n"
		"transfer stores nothing.\n"
		"\n"
		"Options:\n"
		"  -o, --output FILE        also write the body to FILE (verified,\n"
		"                           atomically)\n"
		"  --max-age DURATION       how long a fetched body stays fresh;\n"
		"                           default 24h; 0 always revalidates\n"
		"  --time-bucket DURATION   instead of --max-age: fresh while the\n"
		"                           clock is in the same DURATION-long bucket\n"
		"                           (since the epoch) as the last fetch\n"
		"  --no-stale               fail rather than use a stale copy\n"
		"  --json                   print a JSON object instead of the digest:\n"
		"                           url, digest, size, status (fresh,\n"
		"                           revalidated, downloaded, stale),\n"
		"                           http_status, fetched_at\n"
		"  --store DIR              the store directory\n"
		"  -h, --help               print this help\n"
		"\n"
		"DURATION is a number of seconds, or a number followed by s, m, h\n"
		"or d (90, 90s, 15m, 24h, 7d).\n"
		"\n"
		"Exit status: 0 (also when a stale copy was used); 2 usage error\n"
		"(bad option, not an http(s) URL); 5 store error; 6 the URL could\n"
		"not be fetched and no cached copy may be used (server unreachable,\n"
		"HTTP error status, dropped transfer, timeout).\n"
		"\n"
		"Example:\n"
		"  arca fetch https://example.org/talk.flac -o talk.flac --max-age 1h\n");
}

/* A duration (cli_parse_duration) in whole seconds, as an int64_t. */
static int parse_duration(int64_t *out, const char *s)
{
	uint64_t v;

	if (cli_parse_duration(&v, s) < 0 || v > (uint64_t)INT64_MAX)
		return -1;
	*out = (int64_t)v;
	return 0;
}

static int is_http_url(const char *url)
{
	return strncasecmp(url, "http://", 7) == 0 ||
		strncasecmp(url, "https://", 8) == 0;
}

static unsigned int file_mode(void)
{
	mode_t mask = umask(0);

	umask(mask);
	return 0666u & ~(unsigned int)mask;
}

/* "12 s ago", "3 min ago", "5 h ago", "2 d ago". */
static void human_age(char *buf, size_t len, int64_t fetched_at)
{
	int64_t age = (int64_t)time(NULL) - fetched_at;

	if (age < 0)
		age = 0;
	if (age < 60)
		snprintf(buf, len, "%" PRId64 " s ago", age);
	else if (age < 3600)
		snprintf(buf, len, "%" PRId64 " min ago", age / 60);
	else if (age < 86400)
		snprintf(buf, len, "%" PRId64 " h ago", age / 3600);
	else
		snprintf(buf, len, "%" PRId64 " d ago", age / 86400);
}

static const char *status_name(arca_fetch_status s)
{
	switch (s) {
	case ARCA_FETCH_FRESH: return "fresh";
	case ARCA_FETCH_NOT_MODIFIED: return "revalidated";
	case ARCA_FETCH_DOWNLOADED: return "downloaded";
	case ARCA_FETCH_STALE: return "stale";
	}
	return "unknown";
}

/*
 * The cause of a failed request without the leading "URL: " that
 * arca_errmsg() starts with (the line names the URL already).
 */
static const char *cause_of(const char *url, int code)
{
	const char *msg = cli_lib_detail(code);
	size_t n = strlen(url);

	if (strncmp(msg, url, n) == 0 && strncmp(msg + n, ": ", 2) == 0)
		return msg + n + 2;
	return msg;
}

/* The one line on stderr that says how the body was obtained. */
static void report(const char *url, const arca_fetch_result *res,
		const char *stale_cause)
{
	char when[64], size[32];

	switch (res->status) {
	case ARCA_FETCH_FRESH:
		human_age(when, sizeof(when), res->fetched_at);
		cli_error("fetch %s: fresh (fetched %s)", url, when);
		break;
	case ARCA_FETCH_NOT_MODIFIED:
		cli_error("fetch %s: revalidated (304 Not Modified)", url);
		break;
	case ARCA_FETCH_DOWNLOADED:
		cli_human_size(size, sizeof(size), res->size);
		cli_error("fetch %s: downloaded %s (%d)", url, size,
				res->http_status);
		break;
	case ARCA_FETCH_STALE:
		cli_human_time(when, sizeof(when), res->fetched_at);
		if (res->http_status >= 400)
			cli_warn("fetch %s: server error (%s); using the cached "
					"copy from %s (stale)", url, stale_cause,
					when);
		else
			cli_warn("fetch %s: server unreachable (%s); using the "
					"cached copy from %s (stale)", url,
					stale_cause, when);
		break;
	}
}

static int print_json(const char *url, const arca_fetch_result *res,
		const char *hex)
{
	json_t *obj = json_object();
	int err = 0;

	if (obj == NULL)
		return cli_json_print(NULL);
	err |= cli_json_set(obj, "url", json_string(url));
	err |= cli_json_set(obj, "digest", json_string(hex));
	err |= cli_json_set(obj, "size", cli_json_u64(res->size));
	err |= cli_json_set(obj, "status", json_string(status_name(res->status)));
	err |= cli_json_set(obj, "http_status", json_integer(res->http_status));
	err |= cli_json_set(obj, "fetched_at", json_integer(res->fetched_at));
	if (err != 0) {
		json_decref(obj);
		obj = NULL;
	}
	return cli_json_print(obj);
}

static int fetch_main(int argc, char **argv, cli_global *g)
{
	enum {
		OPT_MAX_AGE = 0x200,
		OPT_TIME_BUCKET,
		OPT_NO_STALE,
		OPT_JSON
	};
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "max-age", required_argument, NULL, OPT_MAX_AGE },
		{ "time-bucket", required_argument, NULL, OPT_TIME_BUCKET },
		{ "no-stale", no_argument, NULL, OPT_NO_STALE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	arca_fetch_options opts = ARCA_FETCH_OPTIONS_INIT;
	arca_fetch_result res;
	arca_store *store = NULL;
	const char *output = NULL, *url, *base;
	char hex[ARCA_DIGEST_HEXLEN + 1], label[64];
	char *stale_cause = NULL;
	int json = 0, have_max_age = 0, c, error, rc = CLI_EXIT_OK;

	while ((c = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case OPT_MAX_AGE:
			if (parse_duration(&opts.max_age_s, optarg) < 0)
				return cli_usage_error("fetch", "--max-age '%s': "
						"expected a duration (90, 15m, "
						"24h, 7d, 1w)", optarg);
			have_max_age = 1;
			break;
		case OPT_TIME_BUCKET:
			if (parse_duration(&opts.time_bucket_s, optarg) < 0 ||
			    opts.time_bucket_s == 0)
				return cli_usage_error("fetch", "--time-bucket "
						"'%s': expected a duration of "
						"more than 0 (900, 15m, 1h)", optarg);
			break;
		case OPT_NO_STALE:
			opts.no_stale = 1;
			break;
		case OPT_JSON:
			json = 1;
			break;
		default:
			if (!cli_common_option(&rc, g, "fetch", c, argv, usage))
				return rc;
			break;
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("fetch", "expected exactly one URL");
	url = argv[optind];
	if (!is_http_url(url))
		return cli_usage_error("fetch", "'%s': only http:// and "
				"https:// URLs can be fetched", url);
	if (have_max_age && opts.time_bucket_s > 0)
		return cli_usage_error("fetch", "--max-age and --time-bucket "
				"are two freshness rules: give one");
	if (output != NULL && output[0] == '\0')
		return cli_usage_error("fetch", "-o: empty file name");

	if (cli_open_store(&store, g) != 0)
		return CLI_EXIT_STORE;

	/* The bar names the URL's last segment (the file), when it has one. */
	base = strrchr(url, '/');
	snprintf(label, sizeof(label), "fetch %s",
			base != NULL && base[1] != '\0' ? base + 1 : url);
	cli_progress_begin(label);
	opts.progress = cli_progress_update;
	opts.progress_ctx = NULL;
	memset(&res, 0, sizeof(res));
	error = arca_fetch(&res, store, url, &opts);
	cli_progress_end();

	if (error < 0) {
		cli_error("fetch %s: %s", url, cause_of(url, error));
		rc = error == ARCA_EUNAVAILABLE || error == ARCA_ETIMEOUT ?
			CLI_EXIT_UNAVAILABLE : error == ARCA_EINVAL ?
			CLI_EXIT_USAGE : CLI_EXIT_STORE;
		goto cleanup;
	}
	if (res.status == ARCA_FETCH_STALE &&
	    (stale_cause = strdup(cause_of(url, ARCA_EUNAVAILABLE))) == NULL) {
		cli_error("fetch %s: out of memory", url);
		rc = CLI_EXIT_STORE;
		goto cleanup;
	}

	if (output != NULL &&
	    (error = arca_blob_get_file(store, &res.digest, output,
			file_mode())) < 0) {
		cli_lib_error(error, "fetch %s to '%s'", url, output);
		rc = error == ARCA_ENOTFOUND ? CLI_EXIT_NOTFOUND :
			error == ARCA_ECORRUPT ? CLI_EXIT_CORRUPT :
			CLI_EXIT_STORE;
		goto cleanup;
	}

	report(url, &res, stale_cause);
	arca_digest_to_hex(hex, &res.digest);
	if (json) {
		rc = print_json(url, &res, hex);
		goto cleanup;
	}
	printf("%s\n", hex);
	if (fflush(stdout) == EOF) {
		cli_error("stdout: %s", strerror(errno));
		rc = CLI_EXIT_STORE;
	}

cleanup:
	free(stale_cause);
	arca_store_close(store);
	return rc;
}

const cli_command cli_cmd_fetch = {
	"fetch", "fetch a URL through the cache (ETag/Last-Modified)",
	fetch_main, usage
};
