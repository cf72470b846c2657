/* arca stats — hit/miss counters, overall and per stage. */
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Counters copied out of the callback (stage names are only lent). */
typedef struct stats_row {
	char *stage;             /* NULL for the overall sum */
	arca_stats s;
} stats_row;

typedef struct stats_list {
	stats_row *rows;
	size_t n, cap;
} stats_list;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: arca stats [--store DIR] [--json] [--days N]\n"
		"\n"
		"Show the cache counters kept by 'arca run': hits, misses, errors\n"
		"(corrupt entries met, failed stores), hit rate, bytes read from\n"
		"and written to the cache, and the compute time hits saved;\n"
		"overall, then one row per stage; then one row per remote tier\n"
		"(hits, misses, not stored, errors, timeouts, bytes up and down,\n"
		"time spent, breaker openings: every process's, from DIR/tiers/).\n"
		"\n"
		"Options:\n"
		"  --json        one JSON object {\"overall\": {...}, \"stages\":\n"
		"                [{\"stage\": ..., ...}], \"tiers\": [{\"url\": ...}]};\n"
		"                hit_rate is a fraction (null when there was no\n"
		"                lookup)\n"
		"  --tier URL    the remote tiers to report (repeatable)\n"
		"  --no-remote   no remote tiers\n"
		"  --days N      one row per UTC day of the last N days (today\n"
		"                included; days without activity are left out):\n"
		"                hits, misses, evictions, bytes read, written and\n"
		"                evicted, time saved; with --json an object\n"
		"                {\"days\": [{\"date\": \"YYYY-MM-DD\", ...}]}\n"
		"  --store DIR   the store directory\n"
		"  -h, --help    print this help\n"
		"\n"
		"Exit status: 0; 2 usage error; 5 store error.\n");
}

static int collect(const arca_stats *s, void *ctx)
{
	stats_list *l = ctx;
	stats_row *r;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		stats_row *rows = realloc(l->rows, cap * sizeof(*rows));

		if (rows == NULL)
			return 1;
		l->rows = rows;
		l->cap = cap;
	}
	r = &l->rows[l->n];
	r->stage = NULL;
	if (s->stage != NULL && (r->stage = strdup(s->stage)) == NULL)
		return 1;
	r->s = *s;
	r->s.stage = r->stage;
	l->n++;
	return 0;
}

/* Hit rate as a fraction, or -1 when there was no lookup. */
static double hit_rate(const arca_stats *s)
{
	uint64_t lookups = s->hits + s->misses;

	return lookups ? (double)s->hits / (double)lookups : -1.0;
}

/* --json: the library's text (arca_stats_json(), also GET /v1/stats). */
static int print_json(arca_store *store, unsigned int days)
{
	arca_buf text = ARCA_BUF_INIT;
	int error, rc = CLI_EXIT_OK;

	if ((error = arca_stats_json(&text, store, days)) < 0) {
		cli_lib_error(error, "stats");
		return cli_exit_code(error);
	}
	if (fwrite(text.data, 1, text.size, stdout) != text.size ||
	    fputc('\n', stdout) == EOF || fflush(stdout) == EOF) {
		cli_error("stdout: %s", strerror(errno));
		rc = CLI_EXIT_STORE;
	}
	arca_buf_free(&text);
	return rc;
}

static void format_row(const arca_stats *s, const char *name, int name_w)
{
	char rate[16], rd[32], wr[32], saved[32];
	double r = hit_rate(s);

	if (r < 0)
		snprintf(rate, sizeof(rate), "-");
	else
		snprintf(rate, sizeof(rate), "%.1f%%", r * 100.0);
	cli_human_size(rd, sizeof(rd), s->bytes_read);
	cli_human_size(wr, sizeof(wr), s->bytes_written);
	cli_human_duration(saved, sizeof(saved), s->saved_ms);
	printf("%-*s  %8llu  %8llu  %6llu  %8s  %10s  %10s  %10s\n", name_w,
			cli_esc(name),
			(unsigned long long)s->hits, (unsigned long long)s->misses,
			(unsigned long long)s->errors, rate, rd, wr, saved);
}

static int print_text(const stats_list *l)
{
	arca_stats zero;
	const arca_stats *overall = NULL;
	int name_w = 7;
	size_t i;

	memset(&zero, 0, sizeof(zero));
	for (i = 0; i < l->n; i++) {
		if (l->rows[i].stage == NULL) {
			if (overall == NULL)
				overall = &l->rows[i].s;
		} else if ((int)strlen(cli_esc(l->rows[i].stage)) > name_w) {
			/* Control bytes are printed escaped (cli_esc). */
			name_w = (int)strlen(cli_esc(l->rows[i].stage));
		}
	}
	if (overall == NULL)
		overall = &zero;
	printf("%-*s  %8s  %8s  %6s  %8s  %10s  %10s  %10s\n", name_w, "STAGE",
			"HITS", "MISSES", "ERRORS", "HIT RATE", "READ", "WRITTEN",
			"SAVED");
	for (i = 0; i < l->n; i++)
		if (l->rows[i].stage != NULL)
			format_row(&l->rows[i].s, l->rows[i].stage, name_w);
	format_row(overall, "overall", name_w);
	if (fflush(stdout) == EOF) {
		cli_error("stdout: %s", strerror(errno));
		return CLI_EXIT_STORE;
	}
	return CLI_EXIT_OK;
}

/* --days: one row per day, printed as they come (oldest first). */
static int day_row(const arca_day_stats *s, void *ctx)
{
	time_t t = (time_t)(s->day * 86400);
	struct tm tm;
	char date[16], rd[32], wr[32], ev[32], saved[32];

	(void)ctx;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(date, sizeof(date), "%Y-%m-%d", &tm) == 0)
		snprintf(date, sizeof(date), "?");
	cli_human_size(rd, sizeof(rd), s->bytes_read);
	cli_human_size(wr, sizeof(wr), s->bytes_written);
	cli_human_size(ev, sizeof(ev), s->bytes_evicted);
	cli_human_duration(saved, sizeof(saved), s->saved_ms);
	printf("%-10s  %8llu  %8llu  %9llu  %10s  %10s  %10s  %10s\n", date,
			(unsigned long long)s->hits,
			(unsigned long long)s->misses,
			(unsigned long long)s->evictions, rd, wr, ev, saved);
	return 0;
}

static int print_days(arca_store *store, unsigned int days)
{
	int error;

	printf("%-10s  %8s  %8s  %9s  %10s  %10s  %10s  %10s\n", "DATE",
			"HITS", "MISSES", "EVICTIONS", "READ", "WRITTEN",
			"EVICTED", "SAVED");
	if ((error = arca_stats_days(store, days, day_row, NULL)) < 0) {
		cli_lib_error(error, "stats");
		return cli_exit_code(error);
	}
	if (fflush(stdout) == EOF) {
		cli_error("stdout: %s", strerror(errno));
		return CLI_EXIT_STORE;
	}
	return CLI_EXIT_OK;
}

static int stats_main(int argc, char **argv, cli_global *g)
{
	enum { OPT_JSON = 0x200, OPT_DAYS };
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "days", required_argument, NULL, OPT_DAYS },
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		CLI_TIER_LONGOPTS,
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	arca_store *store = NULL;
	stats_list list = { NULL, 0, 0 };
	unsigned long days = 0;
	char *end = NULL;
	int json = 0, c, error, rc = CLI_EXIT_STORE;
	size_t i;

	g->use_tiers = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			json = 1;
			break;
		case OPT_DAYS:
			errno = 0;
			days = strtoul(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    optarg[0] == '-' || days == 0 || days > 36500) {
				cli_error("stats: --days '%s': expected a number "
						"of days from 1 to 36500", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		default:
			if (!cli_common_option(&rc, g, "stats", c, argv, usage))
				return rc;
			break;
		}
	}
	if (optind < argc) {
		return cli_usage_error("stats", "unexpected argument '%s'", argv[optind]);
	}
	if (cli_open_store(&store, g) != 0)
		return CLI_EXIT_STORE;
	if (json) {
		rc = print_json(store, (unsigned int)days);
		goto cleanup;
	}
	if (days > 0) {
		rc = print_days(store, (unsigned int)days);
		goto cleanup;
	}

	error = arca_stats_list(store, collect, &list);
	if (error == 1) {
		cli_error("stats: %s", strerror(ENOMEM));
		goto cleanup;
	}
	if (error < 0) {
		cli_lib_error(error, "stats");
		goto cleanup;
	}
	if ((rc = print_text(&list)) == CLI_EXIT_OK &&
			arca_store_remote_count(store) > 0) {
		printf("\n");
		cli_tiers_print(store, 0);
	}

cleanup:
	for (i = 0; i < list.n; i++)
		free(list.rows[i].stage);
	free(list.rows);
	arca_store_close(store);
	return rc;
}

const cli_command cli_cmd_stats = {
	"stats", "show hit/miss statistics", stats_main, usage
};
