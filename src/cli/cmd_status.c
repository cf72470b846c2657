/*
 * arca status — for each stage of a pipeline file, whether `arca repro`
 * would restore it from the cache or run it, and why (like `dvc status`).
 * Runs nothing, fetches nothing, counts no hit. The predictions are
 * libarca's arca_pipeline_status(); this file parses and prints.
 */
#include "common.h"
#include "repro.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: arca status [FILE] [-p NAME=VALUE]... [--params FILE]\n"
		"                   [--store DIR] [--rehash]\n"
		"\n"
		"For each stage of the pipeline FILE (default arca.yaml), in the\n"
		"order 'arca repro' runs them: 'up to date' when its action key is\n"
		"cached, or 'would run' and why, found by comparing the action now\n"
		"with the stage's most recent cached run: command changed, input\n"
		"'x' changed / new / removed, param 'x' changed (old -> new), env\n"
		"'X' changed, tool changed, outputs changed, never run, a\n"
		"dependency would run first, url not cached. Stages with 'cache:\n"
		"false' are shown as 'always runs'. Nothing runs, no URL is\n"
		"requested, and no hit is counted.\n"
		"\n"
		"Options:\n"
		"  -p, --param NAME=VALUE  set a param, as for arca repro\n"
		"  --params FILE      a YAML mapping of params (default: params.yaml\n"
		"                     beside the pipeline, when it exists)\n"
		"  --rehash           read every input file (and tool) again instead\n"
		"                     of trusting the stat cache (docs/store.md)\n"
		"  --store DIR        the store directory\n"
		"  -h, --help         print this help\n"
		"\n"
		"Exit status: 0 when every stage is up to date (stages with\n"
		"'cache: false' do not count); 1 when some stage would run; 2 for a\n"
		"usage or pipeline error; 5 when the store cannot be opened.\n");
}

/* Key errors go to stderr as they happen; the report to stdout. */
static void on_event(void *ctx, const arca_pipeline_event *ev)
{
	const arca_pipeline_stage_report *sr = ev->report;
	size_t j;

	(void)ctx;
	if (ev->kind == ARCA_PIPELINE_EVENT_STAGE_ERROR) {
		cli_error("%s", ev->message);
		return;
	}
	if (ev->kind != ARCA_PIPELINE_EVENT_PREDICTED)
		return;
	switch (sr->state) {
	case ARCA_PIPELINE_STATE_ALWAYS:
		/* Whatever changed, it runs: not counted as out of date. */
		printf("%s: always runs (cache: false)\n", sr->stage->name);
		break;
	case ARCA_PIPELINE_STATE_WOULD_RUN:
		printf("%s: would run\n", sr->stage->name);
		for (j = 0; j < sr->n_reasons; j++)
			printf("    %s\n", sr->reasons[j]);
		break;
	default:
		printf("%s: up to date\n", sr->stage->name);
		break;
	}
	for (j = 0; j < sr->n_notes; j++)
		printf("    note: %s\n", sr->notes[j]);
}

static int status_main(int argc, char **argv, cli_global *g)
{
	static const struct option longopts[] = {
		{ "param", required_argument, NULL, 'p' },
		{ "params", required_argument, NULL, 'P' },
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		CLI_REHASH_LONGOPT,
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	arca_pipeline_run_options ro = ARCA_PIPELINE_RUN_OPTIONS_INIT;
	arca_pipeline_report *rep = NULL;
	cli_repro_opts o;
	arca_pipeline *p = NULL;
	cli_params params;
	arca_store *store = NULL;
	size_t k;
	int c, r, error, rc = CLI_EXIT_OK, any = 0;

	memset(&o, 0, sizeof(o));
	memset(&params, 0, sizeof(params));
	if ((o.kv = calloc((size_t)argc + 1, sizeof(*o.kv))) == NULL) {
		cli_error("status: %s", strerror(ENOMEM));
		return CLI_EXIT_STORE;
	}
	while ((c = getopt_long(argc, argv, ":p:h", longopts, NULL)) != -1) {
		if ((r = cli_repro_param_option(&o, "status", c, optarg)) != 0) {
			if (r < 0) {
				rc = CLI_EXIT_USAGE;
				goto cleanup;
			}
			continue;
		}
		if (!cli_common_option(&rc, g, "status", c, argv, usage))
			goto cleanup;
	}
	o.file = "arca.yaml";
	if (optind < argc)
		o.file = argv[optind++];
	if (optind < argc) {
		rc = cli_usage_error("status", "unexpected argument '%s'",
				argv[optind]);
		goto cleanup;
	}

	if ((rc = cli_repro_load(&p, &params, &o)) != 0)
		goto cleanup;
	cli_repro_run_options(&ro, &params);
	ro.event = on_event;
	if ((rc = cli_repro_check(p, &ro, &o)) != 0)
		goto cleanup;
	if (cli_repro_open(&store, g, p) != 0) {
		rc = CLI_EXIT_STORE;
		goto cleanup;
	}
	if ((error = arca_pipeline_status(&rep, store, p, &ro)) < 0) {
		cli_error("%s", cli_lib_detail(error));
		rc = CLI_EXIT_STORE;
		goto cleanup;
	}
	for (k = 0; k < rep->n_stages; k++)
		if (rep->stages[k].state == ARCA_PIPELINE_STATE_WOULD_RUN)
			any = 1;
	if (fflush(stdout) != 0) {
		cli_error("status: writing the report: %s", strerror(errno));
		rc = CLI_EXIT_STORE;
		goto cleanup;
	}
	rc = any ? CLI_EXIT_FAILED : CLI_EXIT_OK;

cleanup:
	arca_pipeline_report_free(rep);
	arca_store_close(store);
	cli_params_free(&params);
	arca_pipeline_free(p);
	free((void *)o.kv);
	return rc;
}

const cli_command cli_cmd_status = {
	"status", "say which pipeline stages would run, and why", status_main,
	usage
};
