/*
 * arca repro — run a pipeline file's stages in dependency order, each
 * keyed and cached as `arca run` does, cached the moment it succeeds, so
 * that a run that failed resumes at the stage that failed. The run is
 * libarca's arca_pipeline_run(); this file parses the arguments and
 * prints its events.
 */
#include "common.h"
#include "progress.h"
#include "repro.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct repro_opts {
	cli_repro_opts base;
	char **stages;            /* STAGE... */
	size_t n_stages;
	char **force;             /* --force STAGE */
	size_t n_force;
	int no_cache;
	int refresh;
	int dry_run;
	int no_stale;
	int pull;
	int verbose;              /* -v: restores and the trace line */
} repro_opts;

/* What the event printer needs; the run's event_ctx. */
typedef struct repro_ui {
	cli_runner runner;        /* the stage runner's lines (runner.h) */
	int status;               /* the exit status of the failed stage */
	int trace;                /* -v, ARCA_TRACE=1: a trace line a stage */
} repro_ui;

/* The trace line of a stage that hit or ran (docs/cli.md, "Tracing a
 * run"). */
static void print_trace(const char *name, const arca_pipeline_stage_report *sr)
{
	const arca_stage_timings *t = &sr->timings;

	if (sr->result.outcome == ARCA_STAGE_HIT)
		fprintf(stderr, "arca: trace: stage %s: key %.1f ms, lookup %.1f "
				"ms, verify %.1f ms, restore %.1f ms, total %.1f ms\n",
				name, t->key_ns / 1e6, t->lookup_ns / 1e6,
				t->verify_ns / 1e6, t->restore_ns / 1e6,
				t->total_ns / 1e6);
	else
		fprintf(stderr, "arca: trace: stage %s: key %.1f ms, lookup %.1f "
				"ms, run %.1f ms, total %.1f ms\n", name,
				t->key_ns / 1e6, t->lookup_ns / 1e6,
				t->run_ns / 1e6, t->total_ns / 1e6);
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: arca repro [FILE] [STAGE...] [-p NAME=VALUE]... [--params FILE]\n"
		"                  [--force STAGE]... [--no-cache | --refresh]\n"
		"                  [--dry-run] [--no-stale] [--lock-timeout SECS]\n"
		"                  [--pull] [--tier URL]... [--no-remote]\n"
		"                  [--link MODE] [-v] [--rehash]\n"
		"                  [--store DIR]\n"
		"\n"
		"Run the stages of the pipeline FILE (default arca.yaml) in\n"
		"dependency order, each cached as 'arca run' caches one command:\n"
		"a stage whose inputs, params, command and tool did not change is\n"
		"restored from the cache. Each stage is cached as soon as it\n"
		"succeeds, so a run that failed resumes at the failed stage. With\n"
		"STAGE..., only those stages and the stages they depend on run.\n"
		"FILE is the first argument when it ends in .yaml or .yml or names\n"
		"an existing file.\n"
		"\n"
		"Options:\n"
		"  -p, --param NAME=VALUE  set a param (over --params and the\n"
		"                          pipeline's defaults); repeatable\n"
		"  --params FILE      a YAML mapping of params (default: params.yaml\n"
		"                     beside the pipeline, when it exists)\n"
		"  --force STAGE      recompute STAGE and every stage downstream of\n"
		"                     it; repeatable\n"
		"  --no-cache         run every stage; nothing looked up or stored\n"
		"  --refresh          run every stage and replace its cache entry\n"
		"  --dry-run          say what each stage would do; run nothing,\n"
		"                     fetch nothing\n"
		"  --no-stale         fail a URL dep whose server cannot be reached\n"
		"                     instead of using a stale cached copy\n"
		"  --pull             copy every stage found in a remote tier into\n"
		"                     the local one (also from tiers configured\n"
		"                     with promote: false)\n"
		"  --tier URL         a remote tier (repeatable) instead of the\n"
		"                     configured ones\n"
		"  --no-remote        the local tier alone\n"
		"  --lock-timeout SECS  wait at most SECS for another process\n"
		"                     computing the same stage, then run it anyway\n"
		"                     (default: $ARCA_LOCK_TIMEOUT, else 600)\n"
		"  --link MODE        how hits put outputs in place: auto, reflink,\n"
		"                     copy, hardlink or symlink, for stages without\n"
		"                     a link: of their own (default: $ARCA_LINK,\n"
		"                     else link in config.yaml, else auto)\n"
		"  --rehash           read every input file (and tool) again instead\n"
		"                     of trusting the stat cache (docs/store.md)\n"
		"  --store DIR        the store directory\n"
		"  -v, --verbose      say how each output of a hit was restored, and\n"
		"                     print where each stage that hit or ran spent\n"
		"                     its time (also ARCA_TRACE=1)\n"
		"  -h, --help         print this help\n"
		"\n"
		"Exit status: 0 when every stage succeeded or only optional stages\n"
		"failed (degraded); the failed stage's status when a required stage\n"
		"failed (125 when arca could not run it: a missing dep, a URL that\n"
		"cannot be fetched); 2 for a usage or pipeline error (nothing runs);\n"
		"5 when the store cannot be opened.\n"
		"\n"
		"Examples:\n"
		"  arca repro                          # arca.yaml, every stage\n"
		"  arca repro -p diarizer=none format  # format, what it needs\n"
		"  arca repro --force diarize          # diarize and what follows it\n"
		"  arca repro --dry-run\n");
}

static int is_pipeline_file(const char *arg)
{
	size_t len = strlen(arg);
	struct stat st;

	if ((len > 5 && strcmp(arg + len - 5, ".yaml") == 0) ||
	    (len > 4 && strcmp(arg + len - 4, ".yml") == 0))
		return 1;
	return stat(arg, &st) == 0 && S_ISREG(st.st_mode);
}

static void free_opts(repro_opts *o)
{
	free((void *)o->base.kv);
	free(o->force);
}

/* Returns -1 to go on, else an exit code. */
static int parse_opts(repro_opts *o, int argc, char **argv, cli_global *g)
{
	enum {
		OPT_PARAMS = 'P', OPT_FORCE = 0x200, OPT_NO_CACHE, OPT_REFRESH,
		OPT_DRY_RUN, OPT_NO_STALE, OPT_LOCK_TIMEOUT = 0x280,
		OPT_PULL = 0x2a0, OPT_LINK
	};
	static const struct option longopts[] = {
		{ "param", required_argument, NULL, 'p' },
		{ "params", required_argument, NULL, OPT_PARAMS },
		{ "force", required_argument, NULL, OPT_FORCE },
		{ "no-cache", no_argument, NULL, OPT_NO_CACHE },
		{ "refresh", no_argument, NULL, OPT_REFRESH },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "no-stale", no_argument, NULL, OPT_NO_STALE },
		{ "pull", no_argument, NULL, OPT_PULL },
		{ "link", required_argument, NULL, OPT_LINK },
		{ "verbose", no_argument, NULL, 'v' },
		{ "lock-timeout", required_argument, NULL, OPT_LOCK_TIMEOUT },
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		CLI_REHASH_LONGOPT,
		CLI_TIER_LONGOPTS,
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	int c, r, rc;

	o->base.kv = calloc((size_t)argc + 1, sizeof(*o->base.kv));
	o->force = calloc((size_t)argc + 1, sizeof(*o->force));
	if (o->base.kv == NULL || o->force == NULL) {
		cli_error("repro: %s", strerror(ENOMEM));
		return CLI_EXIT_STORE;
	}
	while ((c = getopt_long(argc, argv, ":p:hv", longopts, NULL)) != -1) {
		if ((r = cli_repro_param_option(&o->base, "repro", c,
				optarg)) != 0) {
			if (r < 0)
				return CLI_EXIT_USAGE;
			continue;
		}
		switch (c) {
		case OPT_FORCE:
			o->force[o->n_force++] = optarg;
			break;
		case OPT_NO_CACHE:
			o->no_cache = 1;
			break;
		case OPT_REFRESH:
			o->refresh = 1;
			break;
		case OPT_DRY_RUN:
			o->dry_run = 1;
			break;
		case OPT_NO_STALE:
			o->no_stale = 1;
			break;
		case OPT_PULL:
			o->pull = 1;
			break;
		case OPT_LINK:
			if (cli_parse_link(&g->link, optarg) < 0)
				return CLI_EXIT_USAGE;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case OPT_LOCK_TIMEOUT:
			if (cli_parse_lock_timeout(&g->lock_timeout_ms, optarg,
					"--lock-timeout") < 0)
				return CLI_EXIT_USAGE;
			break;
		default:
			if (!cli_common_option(&rc, g, "repro", c, argv, usage))
				return rc;
			break;
		}
	}
	if (o->no_cache && o->refresh)
		return cli_usage_error("repro",
				"--no-cache and --refresh exclude each other");
	o->base.file = "arca.yaml";
	if (optind < argc && is_pipeline_file(argv[optind]))
		o->base.file = argv[optind++];
	o->stages = argv + optind;
	o->n_stages = (size_t)(argc - optind);
	return -1;
}

/* --------------------------------------------------------------------- */
/* Printing the run's events                                               */
/* --------------------------------------------------------------------- */

/* The exit status a failed stage gives the run, as `arca run` would
 * exit: 127 command not found, 126 not executable, 125 when arca could
 * not run it, else the command's own. */
static int stage_status(const arca_pipeline_stage_report *sr)
{
	int status;

	if (sr->code < 0) {
		switch (sr->failure) {
		case ARCA_STAGE_FAILURE_NOT_FOUND:
			return CLI_RUN_EXIT_NOTFOUND;
		case ARCA_STAGE_FAILURE_NOT_EXECUTABLE:
			return CLI_RUN_EXIT_NOEXEC;
		default:
			return CLI_RUN_EXIT_ARCA;
		}
	}
	status = cli_runner_status(&sr->result);
	return status != 0 ? status : CLI_RUN_EXIT_ARCA;
}

static void print_url(const arca_pipeline_event *ev)
{
	char when[32], size[32];
	int64_t now = (int64_t)time(NULL);

	cli_human_duration(when, sizeof(when), now > ev->fetched_at ?
			(uint64_t)(now - ev->fetched_at) * 1000 : 0);
	cli_human_size(size, sizeof(size), ev->size);
	switch (ev->fetch) {
	case ARCA_FETCH_FRESH:
		cli_error("url %s: fresh (fetched %s ago), no request", ev->url,
				when);
		break;
	case ARCA_FETCH_NOT_MODIFIED:
		cli_error("url %s: not modified (304), cached copy kept",
				ev->url);
		break;
	case ARCA_FETCH_DOWNLOADED:
		cli_error("url %s: downloaded %s", ev->url, size);
		break;
	case ARCA_FETCH_STALE:
		cli_warn("url %s: server unavailable (%s); using the cached copy "
				"fetched %s ago (stale)", ev->url, ev->message[0] ?
				ev->message : arca_strerror(ARCA_EUNAVAILABLE), when);
		break;
	}
}

/* A dry run's line for a stage. */
static void print_prediction(const arca_pipeline_stage_report *sr)
{
	const char *name = sr->stage->name, *why = NULL;
	char line[4096] = "";
	size_t j, len = 0;

	for (j = 0; j < sr->n_notes; j++)
		cli_error("%s", sr->notes[j]);
	switch (sr->forced) {
	case ARCA_PIPELINE_FORCED_NO_CACHE:
		why = "--no-cache";
		break;
	case ARCA_PIPELINE_FORCED_REFRESH:
		why = "--refresh";
		break;
	case ARCA_PIPELINE_FORCED_STAGE:
		why = "--force";
		break;
	case ARCA_PIPELINE_FORCED_NONE:
		break;
	}
	if (why != NULL)
		len += (size_t)snprintf(line, sizeof(line), "%s", why);
	for (j = 0; j < sr->n_reasons && len < sizeof(line); j++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s",
				len ? "; " : "", sr->reasons[j]);
	if (sr->state == ARCA_PIPELINE_STATE_WOULD_RUN)
		cli_error("stage %s: would run: %s", name, line);
	else if (sr->state == ARCA_PIPELINE_STATE_ALWAYS)
		cli_error("stage %s: would run: always runs (cache: false)", name);
	else
		cli_error("stage %s: would hit", name);
}

static void on_event(void *ctx, const arca_pipeline_event *ev)
{
	repro_ui *ui = ctx;
	const arca_pipeline_stage_report *sr = ev->report;
	const char *name = ev->stage != NULL ? ev->stage->name : "";
	char what[512], dur[32];

	switch (ev->kind) {
	case ARCA_PIPELINE_EVENT_STAGE_START:
		cli_error("stage %s: start", name);
		break;
	case ARCA_PIPELINE_EVENT_STAGE:
		ui->runner.no_cache = ev->no_cache;
		cli_runner_event(&ui->runner, ev->stage_event);
		break;
	case ARCA_PIPELINE_EVENT_PROGRESS_BEGIN:
		if (ev->progress_what == ARCA_PIPELINE_PROGRESS_FETCH)
			snprintf(what, sizeof(what), "fetch %s", ev->dep->path);
		else
			snprintf(what, sizeof(what), "hash inputs of %s", name);
		cli_progress_begin(what);
		break;
	case ARCA_PIPELINE_EVENT_PROGRESS:
		cli_progress_update(NULL, ev->done, ev->total);
		break;
	case ARCA_PIPELINE_EVENT_PROGRESS_END:
		cli_progress_end();
		break;
	case ARCA_PIPELINE_EVENT_URL_FETCHED:
		print_url(ev);
		break;
	case ARCA_PIPELINE_EVENT_STAGE_ERROR:
		cli_error("%s", ev->message);
		break;
	case ARCA_PIPELINE_EVENT_WARNING:
		cli_warn("%s", ev->message);
		break;
	case ARCA_PIPELINE_EVENT_HIT:
		cli_human_duration(dur, sizeof(dur), sr->result.duration_ms);
		cli_error("stage %s: hit (saved %s)", name, dur);
		if (ui->trace)
			print_trace(name, sr);
		break;
	case ARCA_PIPELINE_EVENT_RAN:
		cli_human_duration(dur, sizeof(dur), sr->result.duration_ms);
		if (!ev->stage->cache)
			cli_error("stage %s: always runs (cache: false): ran in %s",
					name, dur);
		else
			cli_error("stage %s: ran in %s%s", name, dur,
					sr->result.outcome == ARCA_STAGE_STORED ? "" :
					sr->result.outcome == ARCA_STAGE_RAN ?
					" (--no-cache)" : " (not cached)");
		if (ui->trace)
			print_trace(name, sr);
		break;
	case ARCA_PIPELINE_EVENT_DEGRADED:
		cli_error("stage %s: degraded: optional stage failed (exit %d)",
				name, stage_status(sr));
		break;
	case ARCA_PIPELINE_EVENT_FAILED:
		ui->status = stage_status(sr);
		cli_error("stage %s: failed (exit %d)", name, ui->status);
		break;
	case ARCA_PIPELINE_EVENT_SKIPPED:
		break;
	case ARCA_PIPELINE_EVENT_PREDICTED:
		print_prediction(sr);
		break;
	}
}

/* Runs each stage with signals forwarded to its command (runner.h). */
static int run_with_signals(void *ctx, arca_stage_result *out, arca_stage *st)
{
	(void)ctx;
	return cli_runner_run(out, st);
}

static void summary(const arca_pipeline_report *rep)
{
	char line[4096], saved[32];
	size_t len, k;
	int first = 1;

	cli_human_duration(saved, sizeof(saved), rep->saved_ms);
	len = (size_t)snprintf(line, sizeof(line), "%zu stage%s: %zu hit, "
			"%zu ran", rep->n_stages, rep->n_stages == 1 ? "" : "s",
			rep->n_hit, rep->n_ran);
	if (rep->n_degraded > 0 && len < sizeof(line)) {
		len += (size_t)snprintf(line + len, sizeof(line) - len,
				", %zu degraded (", rep->n_degraded);
		for (k = 0; k < rep->n_stages && len < sizeof(line); k++) {
			if (rep->stages[k].state != ARCA_PIPELINE_STATE_DEGRADED)
				continue;
			len += (size_t)snprintf(line + len, sizeof(line) - len,
					"%s%s", first ? "" : ", ",
					rep->stages[k].stage->name);
			first = 0;
		}
		if (len < sizeof(line))
			len += (size_t)snprintf(line + len, sizeof(line) - len,
					")");
	}
	if (rep->failed >= 0 && len < sizeof(line))
		len += (size_t)snprintf(line + len, sizeof(line) - len,
				", 1 failed (%s)",
				rep->stages[rep->failed].stage->name);
	if (rep->n_not_run > 0 && len < sizeof(line))
		len += (size_t)snprintf(line + len, sizeof(line) - len,
				", %zu not run", rep->n_not_run);
	if (len < sizeof(line))
		snprintf(line + len, sizeof(line) - len, "; saved %s", saved);
	cli_error("repro: %s", line);
}

static int repro_main(int argc, char **argv, cli_global *g)
{
	arca_pipeline_run_options ro = ARCA_PIPELINE_RUN_OPTIONS_INIT;
	arca_pipeline_report *rep = NULL;
	repro_opts o;
	repro_ui ui;
	arca_pipeline *p = NULL;
	cli_params params;
	arca_store *store = NULL;
	int rc, error;

	g->use_tiers = 1;
	memset(&o, 0, sizeof(o));
	memset(&ui, 0, sizeof(ui));
	memset(&params, 0, sizeof(params));
	if ((rc = parse_opts(&o, argc, argv, g)) >= 0)
		goto cleanup;
	ui.runner.verbose = o.verbose;
	if ((rc = cli_repro_load(&p, &params, &o.base)) != 0)
		goto cleanup;
	cli_repro_run_options(&ro, &params);
	ro.targets = (const char *const *)o.stages;
	ro.n_targets = o.n_stages;
	ro.force = (const char *const *)o.force;
	ro.n_force = o.n_force;
	ro.dry_run = o.dry_run;
	ro.no_cache = o.no_cache;
	ro.refresh = o.refresh;
	ro.no_stale = o.no_stale;
	ro.lock_timeout_ms = g->lock_timeout_ms;
	ro.event = on_event;
	ro.event_ctx = &ui;
	{
		const char *e = getenv("ARCA_TRACE");

		ui.trace = o.verbose || (e != NULL && e[0] != '\0' &&
				strcmp(e, "0") != 0);
	}
	ro.stage_run = run_with_signals;
	/* Everything is checked before the store is opened. */
	if ((rc = cli_repro_check(p, &ro, &o.base)) != 0)
		goto cleanup;
	if (cli_repro_open(&store, g, p) != 0) {
		rc = CLI_EXIT_STORE;
		goto cleanup;
	}
	if (o.pull) {
		size_t t, n = arca_store_tier_count(store);

		/* DVC's pull: every stage found in a remote tier is copied
		 * into the local one, whatever the tier's promote setting. */
		for (t = 1; t < n; t++)
			(void)arca_store_tier_set_promote(store, t, 1);
		if (n == 1)
			cli_warn("repro --pull: no remote tier is open; the local "
					"tier alone is used");
	}
	if ((error = arca_pipeline_run(&rep, store, p, &ro)) < 0) {
		cli_progress_end();
		cli_error("%s", cli_lib_detail(error));
		rc = error == ARCA_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_STORE;
		goto cleanup;
	}
	if (o.dry_run) {
		cli_error("repro: dry run: %zu stage%s: %zu would hit, %zu would "
				"run", rep->n_stages, rep->n_stages == 1 ? "" : "s",
				rep->n_stages - rep->n_would_run, rep->n_would_run);
		rc = 0;
		goto cleanup;
	}
	summary(rep);
	rc = rep->failed >= 0 ? ui.status : 0;

cleanup:
	arca_pipeline_report_free(rep);
	arca_store_close(store);
	cli_params_free(&params);
	arca_pipeline_free(p);
	free_opts(&o);
	return rc;
}

const cli_command cli_cmd_repro = {
	"repro", "run a pipeline file's stages, cached", repro_main, usage
};
