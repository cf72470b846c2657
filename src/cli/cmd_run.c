/*
 * arca run — one command as a cached stage. This file reads the options
 * into an arca_stage_spec; the runner itself (key, hit, miss, store) is
 * the library's (arca_stage_*), its events printed by runner.c.
 */
#include "common.h"
#include "runner.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct run_opts {
	const char *stage;
	const char **inputs;
	size_t n_inputs;
	const char **outputs;
	size_t n_outputs;
	const char **params;      /* raw NAME=VALUE */
	size_t n_params;
	const char **secrets;     /* raw NAME=VALUE; the value is never shown */
	size_t n_secrets;
	const char **envs;
	size_t n_envs;
	const char *tool_version;
	int no_cache;
	int refresh;
	int stdin_in;             /* --stdin-in */
	char **cmd_argv;          /* NULL-terminated */
	uint64_t ttl_s;           /* --ttl; 0: the configured default */
	uint64_t max_age_s;       /* --max-age; 0: any age */
	const char **tags;        /* --tag */
	size_t n_tags;
	int verbose;              /* -v: restores and the trace line */
} run_opts;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: arca run [OPTIONS] [--] CMD [ARG...]\n"
		"\n"
		"Run CMD as a cached pipeline stage. Its action key covers the\n"
		"stage name, CMD's argv, the content of every --in file, the\n"
		"parameters, the chosen environment variables, the declared\n"
		"outputs and the tool identity. On a hit the outputs are restored,\n"
		"stdout and stderr replayed and CMD's exit status returned,\n"
		"without running CMD. On a miss CMD runs; when it exits 0 having\n"
		"produced every --out file, the result is stored.\n"
		"\n"
		"Options:\n"
		"  --stage NAME         stage name (default: basename of CMD)\n"
		"  --in PATH            an input file (repeatable)\n"
		"  --out PATH           an output file CMD produces, relative to the\n"
		"                       current directory, without '..' (repeatable)\n"
		"  --stdin-in           stdin is an input: read it, enter its digest\n"
		"                       in the key and feed the copy to CMD\n"
		"  --param K=V          a parameter (repeatable; order does not matter)\n"
		"  --secret-param K=V   a secret parameter: only its hash enters the\n"
		"                       key; the value is never printed or stored\n"
		"  --env NAME           an environment variable the result depends on\n"
		"  --tool-version S     identify the tool by S instead of by the\n"
		"                       digest of CMD's executable\n"
		"  --no-cache           just run CMD: no lookup, nothing stored\n"
		"  --refresh            skip the lookup, run CMD and replace the entry\n"
		"  --ttl DURATION       the stored result expires after DURATION\n"
		"                       (30s, 10m, 2h, 7d; default: ttl in\n"
		"                       config.yaml or $ARCA_TTL, else never)\n"
		"  --max-age DURATION   a cached result older than DURATION is a miss\n"
		"  --tag T              tag the stored result (repeatable; see\n"
		"                       'arca clear --tag')\n"
		"  --lock-timeout SECS  on a miss another process is computing, wait\n"
		"                       at most SECS for it, then run CMD anyway\n"
		"                       (default: $ARCA_LOCK_TIMEOUT, else 600)\n"
		"  --link MODE          how a hit puts outputs in place: auto (reflink,\n"
		"                       else copy; the default), reflink, copy,\n"
		"                       hardlink or symlink (read-only links to the\n"
		"                       store's file); default: $ARCA_LINK, else link\n"
		"                       in config.yaml\n"
		CLI_REHASH_HELP
		"  --store DIR          the store directory\n"
		"  -v, --verbose        say how each output of a hit was restored, and\n"
		"                       print where the run spent its time (also\n"
		"                       ARCA_TRACE=1): \"arca: trace: open .. ms,\n"
		"                       key .. ms, lookup .. ms, verify .. ms,\n"
		"                       restore .. ms, total .. ms\" on a hit\n"
		"  -h, --help           print this help\n"
		"\n"
		"Declared outputs left from an earlier run are removed before CMD\n"
		"runs. stdin is not in the key: when it is a pipe or a file and\n"
		"not declared with --stdin-in, CMD runs without the cache.\n"
		"\n"
		"Exit status: CMD's own status (also on a hit); 124 when CMD exited\n"
		"0 but a declared output is missing (nothing cached); 125 when arca\n"
		"failed before CMD ran (bad option, missing --in file, --out\n"
		"outside the working directory, unusable store); 126 CMD not\n"
		"executable; 127 CMD not found; 128+N CMD killed by signal N.\n"
		"\n"
		"Example:\n"
		"  arca run --stage transcode --in talk.wav --out talk.flac \\\n"
		"      --param level=8 -- flac -8 -f -o talk.flac talk.wav\n");
}

/* Out of memory before CMD ran. */
static int run_enomem(void)
{
	cli_error("run: %s", strerror(ENOMEM));
	return CLI_RUN_EXIT_ARCA;
}

/* A usage error of arca run: one line, exit 125. */
static int run_usage(const char *msg)
{
	cli_usage_error("run", "%s", msg);
	return CLI_RUN_EXIT_ARCA;
}

/* --------------------------------------------------------------------- */
/* Options                                                                 */
/* --------------------------------------------------------------------- */

static void free_opts(run_opts *o)
{
	free(o->inputs);
	free(o->outputs);
	free(o->params);
	free(o->secrets);
	free(o->envs);
	free(o->tags);
}

/* Returns -1 to continue, else an exit code. */
static int parse_opts(run_opts *o, int argc, char **argv, cli_global *g)
{
	enum {
		OPT_STAGE = 0x200, OPT_IN, OPT_OUT, OPT_PARAM, OPT_SECRET,
		OPT_ENV, OPT_TOOL_VERSION, OPT_NO_CACHE, OPT_REFRESH,
		OPT_LOCK_TIMEOUT = 0x280,
		OPT_TTL = 0x2a0, OPT_MAX_AGE, OPT_TAG,
		OPT_STDIN_IN = 0x2c0, OPT_LINK
	};
	static const struct option longopts[] = {
		{ "stage", required_argument, NULL, OPT_STAGE },
		{ "in", required_argument, NULL, OPT_IN },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "param", required_argument, NULL, OPT_PARAM },
		{ "secret-param", required_argument, NULL, OPT_SECRET },
		{ "env", required_argument, NULL, OPT_ENV },
		{ "tool-version", required_argument, NULL, OPT_TOOL_VERSION },
		{ "no-cache", no_argument, NULL, OPT_NO_CACHE },
		{ "refresh", no_argument, NULL, OPT_REFRESH },
		{ "lock-timeout", required_argument, NULL, OPT_LOCK_TIMEOUT },
		{ "ttl", required_argument, NULL, OPT_TTL },
		{ "max-age", required_argument, NULL, OPT_MAX_AGE },
		{ "tag", required_argument, NULL, OPT_TAG },
		{ "stdin-in", no_argument, NULL, OPT_STDIN_IN },
		{ "link", required_argument, NULL, OPT_LINK },
		{ "verbose", no_argument, NULL, 'v' },
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		CLI_REHASH_LONGOPT,
		CLI_TIER_LONGOPTS,
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	size_t n = (size_t)argc;
	int c, rc;

	/* Each list can hold at most argc entries. */
	o->inputs = calloc(n, sizeof(*o->inputs));
	o->outputs = calloc(n, sizeof(*o->outputs));
	o->params = calloc(n, sizeof(*o->params));
	o->secrets = calloc(n, sizeof(*o->secrets));
	o->envs = calloc(n, sizeof(*o->envs));
	o->tags = calloc(n, sizeof(*o->tags));
	if (!o->inputs || !o->outputs || !o->params || !o->secrets ||
	    !o->envs || !o->tags)
		return run_enomem();

	/* '+': the first non-option word is CMD; its options are its own. */
	while ((c = getopt_long(argc, argv, "+:hv", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_STAGE:
			o->stage = optarg;
			break;
		case OPT_IN:
			o->inputs[o->n_inputs++] = optarg;
			break;
		case OPT_OUT:
			o->outputs[o->n_outputs++] = optarg;
			break;
		case OPT_PARAM:
			o->params[o->n_params++] = optarg;
			break;
		case OPT_SECRET:
			o->secrets[o->n_secrets++] = optarg;
			break;
		case OPT_ENV:
			o->envs[o->n_envs++] = optarg;
			break;
		case OPT_TOOL_VERSION:
			o->tool_version = optarg;
			break;
		case OPT_NO_CACHE:
			o->no_cache = 1;
			break;
		case OPT_REFRESH:
			o->refresh = 1;
			break;
		case OPT_STDIN_IN:
			o->stdin_in = 1;
			break;
		case OPT_LINK:
			if (cli_parse_link(&g->link, optarg) < 0)
				return CLI_RUN_EXIT_ARCA;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case OPT_LOCK_TIMEOUT:
			if (cli_parse_lock_timeout(&g->lock_timeout_ms, optarg,
					"--lock-timeout") < 0)
				return CLI_RUN_EXIT_ARCA;
			break;
		case OPT_TTL:
		case OPT_MAX_AGE:
			if (cli_parse_duration(c == OPT_TTL ? &o->ttl_s :
					&o->max_age_s, optarg) < 0 ||
			    (c == OPT_TTL && o->ttl_s == 0)) {
				cli_error("run: %s '%s': expected a duration "
						"(30s, 10m, 2h, 7d)", c == OPT_TTL ?
						"--ttl" : "--max-age", optarg);
				return CLI_RUN_EXIT_ARCA;
			}
			break;
		case OPT_TAG:
			if (optarg[0] == '\0')
				return run_usage("--tag: empty tag");
			o->tags[o->n_tags++] = optarg;
			break;
		default:
			if (cli_common_option(&rc, g, "run", c, argv, usage))
				break;
			/* run's own exit codes are the stage's: a usage error
			 * is arca's failure. */
			return rc == CLI_EXIT_OK ? rc : CLI_RUN_EXIT_ARCA;
		}
	}

	if (optind >= argc)
		return run_usage("no command given");
	if (argv[optind][0] == '\0')
		return run_usage("empty command name");
	if (o->no_cache && o->refresh)
		return run_usage("--no-cache and --refresh exclude each other");
	if (o->stage != NULL && o->stage[0] == '\0')
		return run_usage("--stage: empty stage name");
	o->cmd_argv = argv + optind;
	return -1;
}

/* The stage name when --stage is not given: the basename of CMD. */
static const char *default_stage(const char *cmd)
{
	const char *slash = strrchr(cmd, '/');

	if (slash != NULL && slash[1] != '\0')
		return slash + 1;
	return cmd;
}

/* --------------------------------------------------------------------- */
/* From options to a stage spec                                            */
/* --------------------------------------------------------------------- */

/*
 * Split a raw NAME=VALUE of --param (or --secret-param) into p, pointing
 * into raw (the name is copied, as it needs a terminator). Names must be
 * unique across both kinds: earlier holds the n parameters already seen.
 * Returns 0 or 125 after printing why.
 */
static int split_param(arca_stage_param *p, const char *raw, int secret,
		const arca_stage_param *earlier, size_t n)
{
	const char *opt = secret ? "--secret-param" : "--param";
	const char *eq = strchr(raw, '=');
	char *name;
	size_t i;

	p->name = p->value = NULL;
	if (eq == NULL || eq == raw) {
		/* A secret's argument may be the secret itself: never echo it. */
		if (secret)
			cli_error("%s: expected NAME=VALUE with a non-empty NAME "
					"(argument not shown)", opt);
		else if (eq == NULL)
			cli_error("%s '%s': expected NAME=VALUE", opt, raw);
		else
			cli_error("%s '%s': empty parameter name", opt, raw);
		return CLI_RUN_EXIT_ARCA;
	}
	if ((name = strndup(raw, (size_t)(eq - raw))) == NULL)
		return run_enomem();
	for (i = 0; i < n; i++) {
		if (strcmp(earlier[i].name, name) == 0) {
			cli_error("%s '%s': parameter given more than once", opt,
					name);
			free(name);
			return CLI_RUN_EXIT_ARCA;
		}
	}
	p->name = name;
	p->value = eq + 1;
	return 0;
}

/* Build the spec from the options. Returns 0 or 125 after printing why. */
static int make_spec(arca_stage_spec *spec, arca_stage_input **inputs_out,
		arca_stage_param **params_out, const run_opts *o, const char *stage)
{
	arca_stage_input *inputs = NULL;
	arca_stage_param *params = NULL;
	size_t i, j, n = 0;
	int rc;

	*inputs_out = NULL;
	*params_out = NULL;
	{
		arca_stage_spec init = ARCA_STAGE_SPEC_INIT;

		*spec = init;
	}
	inputs = calloc(o->n_inputs + 1, sizeof(*inputs));
	params = calloc(o->n_params + o->n_secrets + 1, sizeof(*params));
	if (inputs == NULL || params == NULL) {
		free(inputs);
		free(params);
		return run_enomem();
	}
	*inputs_out = inputs;
	*params_out = params;
	for (i = 0; i < o->n_inputs; i++) {
		inputs[i].name = o->inputs[i];
		inputs[i].path = o->inputs[i];
	}
	for (i = 0; i < o->n_params; i++, n++)
		if ((rc = split_param(&params[n], o->params[i], 0, params, n)) != 0)
			return rc;
	for (i = 0; i < o->n_secrets; i++, n++)
		if ((rc = split_param(&params[n], o->secrets[i], 1, params, n)) != 0)
			return rc;
	for (i = 0; i < o->n_envs; i++) {
		const char *name = o->envs[i];

		if (name[0] == '\0' || strchr(name, '=') != NULL) {
			cli_error("--env '%s': expected a variable name", name);
			return CLI_RUN_EXIT_ARCA;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(o->envs[j], name) == 0) {
				cli_error("--env '%s': given more than once", name);
				return CLI_RUN_EXIT_ARCA;
			}
		}
	}
	for (i = 0; i < o->n_outputs; i++) {
		if (o->outputs[i][0] == '\0') {
			cli_error("--out: empty path");
			return CLI_RUN_EXIT_ARCA;
		}
	}

	spec->stage = stage;
	spec->argv = o->cmd_argv;
	spec->inputs = inputs;
	spec->n_inputs = o->n_inputs;
	spec->outputs = o->outputs;
	spec->n_outputs = o->n_outputs;
	spec->params = params;
	spec->n_params = o->n_params;
	spec->secret_params = params + o->n_params;
	spec->n_secret_params = o->n_secrets;
	spec->env = o->envs;
	spec->n_env = o->n_envs;
	spec->tool_version = o->tool_version;
	/* With --no-cache stdin simply passes through: nothing to key. */
	spec->flags = (o->no_cache ? ARCA_STAGE_NO_CACHE : 0) |
		(o->refresh ? ARCA_STAGE_REFRESH : 0) |
		(o->stdin_in && !o->no_cache ? ARCA_STAGE_STDIN_INPUT : 0);
	spec->stdin_fd = 0;
	spec->ttl_s = o->ttl_s;
	spec->max_age_s = o->max_age_s;
	spec->tags = o->tags;
	spec->n_tags = o->n_tags;
	return 0;
}

static void free_params(arca_stage_param *params, size_t n)
{
	size_t i;

	if (params == NULL)
		return;
	for (i = 0; i < n; i++)
		free((char *)params[i].name);
	free(params);
}

/* --------------------------------------------------------------------- */
/* arca run                                                                */
/* --------------------------------------------------------------------- */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/*
 * -v or ARCA_TRACE=1: one line on stderr saying where the run spent its
 * time (docs/cli.md, "Tracing a run"), open_ns being the store's opening.
 */
static void print_trace(const arca_stage *st, const arca_stage_result *r,
		uint64_t open_ns)
{
	arca_stage_timings t;

	arca_stage_get_timings(&t, st);
	if (r->outcome == ARCA_STAGE_HIT)
		fprintf(stderr, "arca: trace: open %.1f ms, key %.1f ms, lookup "
				"%.1f ms, verify %.1f ms, restore %.1f ms, total "
				"%.1f ms\n", ms(open_ns), ms(t.key_ns),
				ms(t.lookup_ns), ms(t.verify_ns), ms(t.restore_ns),
				ms(open_ns + t.total_ns));
	else
		fprintf(stderr, "arca: trace: open %.1f ms, key %.1f ms, lookup "
				"%.1f ms, run %.1f ms, total %.1f ms\n",
				ms(open_ns), ms(t.key_ns), ms(t.lookup_ns),
				ms(t.run_ns), ms(open_ns + t.total_ns));
}

static int trace_wanted(const run_opts *o)
{
	const char *e = getenv("ARCA_TRACE");

	return o->verbose || (e != NULL && e[0] != '\0' &&
			strcmp(e, "0") != 0);
}

static int run_main(int argc, char **argv, cli_global *g)
{
	run_opts o;
	arca_stage_spec spec;
	arca_stage_input *inputs = NULL;
	arca_stage_param *params = NULL;
	arca_stage *st = NULL;
	arca_stage_failure failure = ARCA_STAGE_FAILURE_NONE;
	arca_stage_result result;
	arca_store *store = NULL;
	cli_runner runner;
	const char *stage;
	uint64_t open_ns = 0;
	int error, rc;

	g->use_tiers = 1;
	memset(&o, 0, sizeof(o));
	if ((rc = parse_opts(&o, argc, argv, g)) >= 0)
		goto cleanup;
	stage = o.stage != NULL ? o.stage : default_stage(o.cmd_argv[0]);
	if ((rc = make_spec(&spec, &inputs, &params, &o, stage)) != 0)
		goto cleanup;
	/* --no-cache does not open the store: it works where the store is
	 * unusable. */
	open_ns = mono_ns();
	if (!o.no_cache && cli_open_store(&store, g) != 0) {
		rc = CLI_RUN_EXIT_ARCA;
		goto cleanup;
	}
	open_ns = mono_ns() - open_ns;
	/* --ttl, else the configured default (read with the store). */
	runner.no_cache = o.no_cache;
	runner.verbose = o.verbose;
	spec.event = cli_runner_event;
	spec.event_ctx = &runner;
	if ((error = arca_stage_prepare(&st, &failure, store, &spec)) < 0) {
		rc = cli_runner_error(error, failure);
		goto cleanup;
	}
	if ((error = cli_runner_run(&result, st)) < 0) {
		rc = cli_runner_error(error, result.failure);
		goto cleanup;
	}
	rc = cli_runner_status(&result);
	if (trace_wanted(&o))
		print_trace(st, &result, open_ns);

cleanup:
	arca_stage_free(st);
	arca_store_close(store);
	free_params(params, o.n_params + o.n_secrets);
	free(inputs);
	free_opts(&o);
	return rc;
}

const cli_command cli_cmd_run = {
	"run", "run a command as a cached stage", run_main, usage
};
