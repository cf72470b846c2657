/*
 * arca repro — run a pipeline file's stages in dependency order, each
 * keyed and cached as `arca run` does (arca_stage_*), cached the moment
 * it succeeds, so that a run that failed resumes at the stage that failed.
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
} repro_opts;

/* What the run did, for the summary. */
typedef struct repro_tally {
	size_t total, hit, ran, not_run;
	uint64_t saved_ms;
	char *degraded;           /* "a, b" */
	const char *failed;
} repro_tally;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: arca repro [FILE] [STAGE...] [-p NAME=VALUE]... [--params FILE]\n"
		"                  [--force STAGE]... [--no-cache | --refresh]\n"
		"                  [--dry-run] [--no-stale] [--lock-timeout SECS]\n"
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
		"  --lock-timeout SECS  wait at most SECS for another process\n"
		"                     computing the same stage, then run it anyway\n"
		"                     (default: $ARCA_LOCK_TIMEOUT, else 600)\n"
		"  --store DIR        the store directory\n"
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
		OPT_DRY_RUN, OPT_NO_STALE, OPT_LOCK_TIMEOUT = 0x280
	};
	static const struct option longopts[] = {
		{ "param", required_argument, NULL, 'p' },
		{ "params", required_argument, NULL, OPT_PARAMS },
		{ "force", required_argument, NULL, OPT_FORCE },
		{ "no-cache", no_argument, NULL, OPT_NO_CACHE },
		{ "refresh", no_argument, NULL, OPT_REFRESH },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "no-stale", no_argument, NULL, OPT_NO_STALE },
		{ "lock-timeout", required_argument, NULL, OPT_LOCK_TIMEOUT },
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	int c, r;

	o->base.kv = calloc((size_t)argc + 1, sizeof(*o->base.kv));
	o->force = calloc((size_t)argc + 1, sizeof(*o->force));
	if (o->base.kv == NULL || o->force == NULL) {
		cli_error("repro: %s", strerror(ENOMEM));
		return CLI_EXIT_STORE;
	}
	while ((c = getopt_long(argc, argv, ":p:h", longopts, NULL)) != -1) {
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
		case OPT_LOCK_TIMEOUT:
			if (cli_parse_lock_timeout(&g->lock_timeout_ms, optarg,
					"--lock-timeout") < 0)
				return CLI_EXIT_USAGE;
			break;
		case CLI_OPT_STORE:
			g->store_dir = optarg;
			break;
		case CLI_OPT_HELP:
			usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_bad_option("repro", c, argv);
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

/*
 * Mark the stages to run: those named (all when none is) and, in reverse
 * plan order, every stage they read from. Marks forced stages and, in
 * plan order, every stage that reads from one. Returns 0 or 2.
 */
static int select_stages(unsigned char *selected, unsigned char *forced,
		const arca_pipeline *p, const size_t *order, const repro_opts *o)
{
	const arca_pipeline_stage *s;
	size_t i, j, k;

	for (i = 0; i < o->n_stages; i++) {
		if ((s = arca_pipeline_stage_by_name(p, o->stages[i])) == NULL)
			return cli_usage_error("repro", "%s: no stage '%s'",
					p->path, o->stages[i]);
		selected[cli_repro_index(p, s)] = 1;
	}
	if (o->n_stages == 0)
		memset(selected, 1, p->n_stages);
	for (k = p->n_stages; k-- > 0;) {
		const arca_pipeline_stage *def = &p->stages[order[k]];

		if (!selected[order[k]])
			continue;
		for (j = 0; j < def->n_deps; j++)
			if ((s = cli_repro_upstream(p, def->deps[j].path,
					def)) != NULL)
				selected[cli_repro_index(p, s)] = 1;
	}
	for (i = 0; i < o->n_force; i++) {
		if ((s = arca_pipeline_stage_by_name(p, o->force[i])) == NULL)
			return cli_usage_error("repro", "--force: %s: no stage '%s'",
					p->path, o->force[i]);
		forced[cli_repro_index(p, s)] = 1;
	}
	for (k = 0; k < p->n_stages; k++) {
		const arca_pipeline_stage *def = &p->stages[order[k]];

		for (j = 0; j < def->n_deps && !forced[order[k]]; j++)
			if ((s = cli_repro_upstream(p, def->deps[j].path,
					def)) != NULL && forced[cli_repro_index(p, s)])
				forced[order[k]] = 1;
	}
	return 0;
}

/* --------------------------------------------------------------------- */
/* --dry-run                                                               */
/* --------------------------------------------------------------------- */

static int dry_run(const arca_pipeline *p, const size_t *order,
		const unsigned char *selected, const unsigned char *forced,
		const cli_params *params, arca_store *store, const repro_opts *o)
{
	cli_prediction pr;
	cli_predicted_files files;
	unsigned char *would = NULL;
	size_t k, j, n = 0, n_run = 0;
	int rc = 0;

	memset(&files, 0, sizeof(files));
	if ((would = calloc(p->n_stages + 1, 1)) == NULL) {
		cli_error("repro: %s", strerror(ENOMEM));
		return CLI_EXIT_STORE;
	}
	for (k = 0; k < p->n_stages; k++) {
		size_t i = order[k];
		const arca_pipeline_stage *def = &p->stages[i];
		const char *why = NULL;
		char line[4096] = "";
		size_t len = 0;

		if (!selected[i])
			continue;
		n++;
		if ((rc = cli_repro_predict(&pr, p, def, params, store,
				would, &files)) != 0)
			goto cleanup;
		if (o->no_cache)
			why = "--no-cache";
		else if (o->refresh)
			why = "--refresh";
		else if (forced[i])
			why = "--force";
		would[i] = pr.would_run || why != NULL;
		for (j = 0; j < pr.n_notes; j++)
			cli_error("%s", pr.notes[j]);
		if (why != NULL)
			len += (size_t)snprintf(line, sizeof(line), "%s", why);
		for (j = 0; j < pr.n_reasons && len < sizeof(line); j++)
			len += (size_t)snprintf(line + len, sizeof(line) - len,
					"%s%s", len ? "; " : "", pr.reasons[j]);
		if (would[i] || pr.always)
			n_run++;
		if (would[i])
			cli_error("stage %s: would run: %s", def->name, line);
		else if (pr.always)
			cli_error("stage %s: would run: always runs (cache: false)",
					def->name);
		else
			cli_error("stage %s: would hit", def->name);
		cli_prediction_free(&pr);
	}
	cli_error("repro: dry run: %zu stage%s: %zu would hit, %zu would run",
			n, n == 1 ? "" : "s", n - n_run, n_run);

cleanup:
	cli_predicted_files_free(&files);
	free(would);
	return rc;
}

/* --------------------------------------------------------------------- */
/* The run                                                                 */
/* --------------------------------------------------------------------- */

/*
 * An optional stage failed: its declared outputs must not survive from
 * an earlier run into the stages after it.
 */
static void remove_outputs(const arca_pipeline *p, const arca_pipeline_stage *def)
{
	size_t i;

	for (i = 0; i < def->n_outs; i++) {
		char *path = cli_repro_path(p, def->outs[i].path);

		if (path == NULL || (unlink(path) < 0 && errno != ENOENT))
			cli_warn("stage %s: cannot remove '%s': %s", def->name,
					def->outs[i].path, strerror(path ? errno :
					ENOMEM));
		free(path);
	}
}

static int add_degraded(repro_tally *t, const char *name)
{
	size_t len = t->degraded ? strlen(t->degraded) : 0;
	char *grown = realloc(t->degraded, len + strlen(name) + 3);

	if (grown == NULL)
		return -1;
	sprintf(grown + len, "%s%s", len ? ", " : "", name);
	t->degraded = grown;
	return 0;
}

/* Run one stage; updates the tally. Returns 0 to go on, else the run's
 * exit status. */
static int run_stage(repro_tally *t, const arca_pipeline *p,
		const arca_pipeline_stage *def, int forced, const cli_params *params,
		arca_store *store, const repro_opts *o)
{
	cli_repro_stage rs;
	arca_stage *st = NULL;
	arca_stage_result res;
	arca_stage_failure failure = ARCA_STAGE_FAILURE_NONE;
	cli_runner runner;
	char dur[32];
	int status, error, label = 0;

	memset(&res, 0, sizeof(res));
	res.outcome = ARCA_STAGE_ERROR;
	cli_error("stage %s: start", def->name);
	status = cli_repro_stage_build(&rs, p, def, params, store,
			CLI_DEPS_RUN, o->no_stale);
	if (status == 0) {
		if (o->no_cache)
			rs.spec.flags |= ARCA_STAGE_NO_CACHE;
		if (!(rs.spec.flags & ARCA_STAGE_NO_CACHE) &&
		    (o->refresh || forced))
			rs.spec.flags |= ARCA_STAGE_REFRESH;
		/* `ttl:`, else the configured default. */
		runner.no_cache = (rs.spec.flags & ARCA_STAGE_NO_CACHE) != 0;
		rs.spec.event = cli_runner_event;
		rs.spec.event_ctx = &runner;
		rs.spec.hash_progress = cli_progress_update;
		if (isatty(STDERR_FILENO)) {
			char what[512];

			snprintf(what, sizeof(what), "hash inputs of %s",
					def->name);
			cli_progress_begin(what);
			label = 1;
		}
		error = arca_stage_prepare(&st, &failure, store, &rs.spec);
		if (label)
			cli_progress_end();
		if (error < 0)
			status = cli_runner_error(error, failure);
		else if ((error = cli_runner_run(&res, st)) < 0)
			status = cli_runner_error(error, res.failure);
		else
			status = cli_runner_status(&res);
	}

	switch (res.outcome) {
	case ARCA_STAGE_HIT:
		cli_human_duration(dur, sizeof(dur), res.duration_ms);
		cli_error("stage %s: hit (saved %s)", def->name, dur);
		t->hit++;
		t->saved_ms += res.duration_ms;
		status = 0;
		break;
	case ARCA_STAGE_STORED:
	case ARCA_STAGE_CACHE_WRITE_FAILED:
	case ARCA_STAGE_RAN:
		cli_human_duration(dur, sizeof(dur), res.duration_ms);
		if (!def->cache)
			cli_error("stage %s: always runs (cache: false): ran in %s",
					def->name, dur);
		else
			cli_error("stage %s: ran in %s%s", def->name, dur,
					res.outcome == ARCA_STAGE_STORED ? "" :
					res.outcome == ARCA_STAGE_RAN ? " (--no-cache)" :
					" (not cached)");
		t->ran++;
		status = 0;
		break;
	default:
		if (status == 0)
			status = CLI_RUN_EXIT_ARCA;
		if (def->optional) {
			remove_outputs(p, def);
			cli_error("stage %s: degraded: optional stage failed "
					"(exit %d)", def->name, status);
			if (add_degraded(t, def->name) < 0) {
				cli_error("repro: %s", strerror(ENOMEM));
				status = CLI_EXIT_STORE;
				break;
			}
			status = 0;
		} else {
			cli_error("stage %s: failed (exit %d)", def->name, status);
			t->failed = def->name;
		}
		break;
	}
	arca_stage_free(st);
	cli_repro_stage_free(&rs);
	return status;
}

static void summary(const repro_tally *t)
{
	char line[4096], saved[32];
	size_t len;

	cli_human_duration(saved, sizeof(saved), t->saved_ms);
	len = (size_t)snprintf(line, sizeof(line), "%zu stage%s: %zu hit, "
			"%zu ran", t->total, t->total == 1 ? "" : "s", t->hit, t->ran);
	if (t->degraded != NULL && len < sizeof(line)) {
		size_t n = 1;
		const char *s;

		for (s = t->degraded; (s = strchr(s, ',')) != NULL; s++)
			n++;
		len += (size_t)snprintf(line + len, sizeof(line) - len,
				", %zu degraded (%s)", n, t->degraded);
	}
	if (t->failed != NULL && len < sizeof(line))
		len += (size_t)snprintf(line + len, sizeof(line) - len,
				", 1 failed (%s)", t->failed);
	if (t->not_run > 0 && len < sizeof(line))
		len += (size_t)snprintf(line + len, sizeof(line) - len,
				", %zu not run", t->not_run);
	if (len < sizeof(line))
		snprintf(line + len, sizeof(line) - len, "; saved %s", saved);
	cli_error("repro: %s", line);
}

static int repro_main(int argc, char **argv, cli_global *g)
{
	repro_opts o;
	repro_tally t;
	arca_pipeline *p = NULL;
	cli_params params;
	arca_store *store = NULL;
	size_t *order = NULL, k;
	unsigned char *selected = NULL, *forced = NULL;
	int rc, status = 0;

	memset(&o, 0, sizeof(o));
	memset(&t, 0, sizeof(t));
	memset(&params, 0, sizeof(params));
	if ((rc = parse_opts(&o, argc, argv, g)) >= 0)
		goto cleanup;
	if ((rc = cli_repro_load(&p, &order, &params, &o.base)) != 0)
		goto cleanup;
	selected = calloc(p->n_stages + 1, 1);
	forced = calloc(p->n_stages + 1, 1);
	if (selected == NULL || forced == NULL) {
		cli_error("repro: %s", strerror(ENOMEM));
		rc = CLI_EXIT_STORE;
		goto cleanup;
	}
	/* Everything is checked before anything runs. */
	if ((rc = select_stages(selected, forced, p, order, &o)) != 0 ||
	    (rc = cli_repro_check_params(p, &params, selected)) != 0)
		goto cleanup;
	if (cli_repro_open(&store, g, p) != 0) {
		rc = CLI_EXIT_STORE;
		goto cleanup;
	}
	if (o.dry_run) {
		rc = dry_run(p, order, selected, forced, &params, store, &o);
		goto cleanup;
	}

	for (k = 0; k < p->n_stages; k++) {
		size_t i = order[k];

		if (!selected[i])
			continue;
		t.total++;
		if (status != 0) {
			t.not_run++;
			continue;
		}
		status = run_stage(&t, p, &p->stages[i], forced[i], &params,
				store, &o);
	}
	summary(&t);
	rc = status;

cleanup:
	arca_store_close(store);
	cli_params_free(&params);
	arca_pipeline_free(p);
	free(order);
	free(selected);
	free(forced);
	free(t.degraded);
	free_opts(&o);
	return rc;
}

const cli_command cli_cmd_repro = {
	"repro", "run a pipeline file's stages, cached", repro_main, usage
};
