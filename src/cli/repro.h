/*
 * What only the CLI does for `arca repro` and `arca status`: the -p and
 * --params options, the params file (pipeline defaults < params file <
 * -p), the library's checks of a run printed as the CLI prints them, and
 * the store opened under an absolute path. The engine (stage selection,
 * deps, keys, predictions, the run) is libarca's: arca/pipeline_run.h.
 */
#ifndef ARCA_CLI_REPRO_H
#define ARCA_CLI_REPRO_H

#include "common.h"
#include "runner.h"

#include <stddef.h>
#include <stdint.h>

/* Parameter values by name (owned copies). */
typedef struct cli_params {
	char **names;
	char **values;
	size_t n;
} cli_params;

/* The options repro and status share. */
typedef struct cli_repro_opts {
	const char *file;          /* the pipeline file */
	const char *params_file;   /* --params, or NULL for the default */
	const char **kv;           /* -p NAME=VALUE, as given */
	size_t n_kv;
	const char *cmd;           /* "repro" or "status", for messages; set
	                              by cli_repro_param_option() */
} cli_repro_opts;

/*
 * Parse `-p`/`--param` and `--params` for command cmd into o (kv must
 * have room for argc entries). Returns 1 when the option was one of
 * them, 0 when it was not, or -1 after a usage error was printed.
 */
int cli_repro_param_option(cli_repro_opts *o, const char *cmd, int c,
		const char *arg);

/*
 * Load the pipeline, check its plan, and collect the params over its
 * defaults: the params file (--params FILE, else params.yaml beside the
 * pipeline when it exists), then -p. A params file key that no stage
 * uses is a warning with its FILE:LINE (and is dropped); -p names are
 * checked by cli_repro_check(). Prints one line and returns 2 on any
 * error.
 */
int cli_repro_load(arca_pipeline **p, cli_params *params,
		const cli_repro_opts *o);

void cli_params_free(cli_params *params);

/* Point ro's params at params (borrowed). */
void cli_repro_run_options(arca_pipeline_run_options *ro,
		const cli_params *params);

/*
 * arca_pipeline_check() printed as the CLI prints it: a -p no stage uses
 * "CMD: -p NAME: no stage uses param 'NAME' (known: a, b)", a target
 * "CMD: FILE: no stage 'x' (see 'arca help CMD')", a forced stage
 * "CMD: --force: FILE: no stage 'x' ...", else the library's message.
 * Returns 0, or the exit code (2; 5 out of memory) after one line.
 */
int cli_repro_check(const arca_pipeline *p,
		const arca_pipeline_run_options *ro, const cli_repro_opts *o);

/*
 * Open the store (as cli_open_store) under an absolute path. Stages run
 * in the pipeline's directory (their spec's workdir); the current
 * directory is not changed. Prints one line and returns non-zero on
 * failure.
 */
int cli_repro_open(arca_store **store, const cli_global *g,
		const arca_pipeline *p);

#endif /* ARCA_CLI_REPRO_H */
