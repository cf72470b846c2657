/*
 * arca status — for each stage of a pipeline file, whether `arca repro`
 * would restore it from the cache or run it, and why (like `dvc status`).
 * Runs nothing, fetches nothing, counts no hit.
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
		"                   [--store DIR]\n"
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
		"  --store DIR        the store directory\n"
		"  -h, --help         print this help\n"
		"\n"
		"Exit status: 0 when every stage is up to date (stages with\n"
		"'cache: false' do not count); 1 when some stage would run; 2 for a\n"
		"usage or pipeline error; 5 when the store cannot be opened.\n");
}

static int status_main(int argc, char **argv, cli_global *g)
{
	static const struct option longopts[] = {
		{ "param", required_argument, NULL, 'p' },
		{ "params", required_argument, NULL, 'P' },
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	cli_repro_opts o;
	arca_pipeline *p = NULL;
	cli_params params;
	cli_prediction pr;
	cli_predicted_files files;
	arca_store *store = NULL;
	size_t *order = NULL, k, j;
	unsigned char *would = NULL;
	int c, r, rc = CLI_EXIT_OK, any = 0;

	memset(&o, 0, sizeof(o));
	memset(&params, 0, sizeof(params));
	memset(&files, 0, sizeof(files));
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
		switch (c) {
		case CLI_OPT_STORE:
			g->store_dir = optarg;
			break;
		case CLI_OPT_HELP:
			usage(stdout);
			goto cleanup;
		default:
			rc = cli_bad_option("status", c, argv);
			goto cleanup;
		}
	}
	o.file = "arca.yaml";
	if (optind < argc)
		o.file = argv[optind++];
	if (optind < argc) {
		rc = cli_usage_error("status", "unexpected argument '%s'",
				argv[optind]);
		goto cleanup;
	}

	if ((rc = cli_repro_load(&p, &order, &params, &o)) != 0 ||
	    (rc = cli_repro_check_params(p, &params, NULL)) != 0)
		goto cleanup;
	if ((would = calloc(p->n_stages + 1, 1)) == NULL) {
		cli_error("status: %s", strerror(ENOMEM));
		rc = CLI_EXIT_STORE;
		goto cleanup;
	}
	if (cli_repro_open(&store, g, p) != 0) {
		rc = CLI_EXIT_STORE;
		goto cleanup;
	}
	for (k = 0; k < p->n_stages; k++) {
		const arca_pipeline_stage *def = &p->stages[order[k]];

		if ((rc = cli_repro_predict(&pr, p, def, &params, store,
				would, &files)) != 0)
			goto cleanup;
		would[order[k]] = (unsigned char)pr.would_run;
		if (pr.always) {
			/* Whatever changed, it runs: not counted as out of date. */
			printf("%s: always runs (cache: false)\n", def->name);
		} else if (pr.would_run) {
			any = 1;
			printf("%s: would run\n", def->name);
			for (j = 0; j < pr.n_reasons; j++)
				printf("    %s\n", pr.reasons[j]);
		} else {
			printf("%s: up to date\n", def->name);
		}
		for (j = 0; j < pr.n_notes; j++)
			printf("    note: %s\n", pr.notes[j]);
		cli_prediction_free(&pr);
	}
	if (fflush(stdout) != 0) {
		cli_error("status: writing the report: %s", strerror(errno));
		rc = CLI_EXIT_STORE;
		goto cleanup;
	}
	rc = any ? CLI_EXIT_FAILED : CLI_EXIT_OK;

cleanup:
	arca_store_close(store);
	cli_predicted_files_free(&files);
	cli_params_free(&params);
	arca_pipeline_free(p);
	free(order);
	free(would);
	free((void *)o.kv);
	return rc;
}

const cli_command cli_cmd_status = {
	"status", "say which pipeline stages would run, and why", status_main,
	usage
};
