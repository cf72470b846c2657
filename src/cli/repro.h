/*
 * What `arca repro` and `arca status` share: the parameters of a run
 * (pipeline defaults < params file < -p), a pipeline stage turned into a
 * stage spec (arca_stage_spec) with its dependencies resolved, and the
 * prediction of whether a stage would hit or run, and why.
 */
#ifndef ARCA_CLI_REPRO_H
#define ARCA_CLI_REPRO_H

#include "common.h"
#include "runner.h"

#include <stddef.h>
#include <stdint.h>

/* The prefix of the param that marks an absent optional dep. */
#define CLI_ABSENT_PARAM "arca:absent:"

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
 * Load the pipeline and its plan, and the parameters: p's defaults, then
 * the params file (--params FILE, else params.yaml beside the pipeline
 * when it exists), then -p. A -p name that no stage uses (in its
 * `params:` or as ${name} in a URL dep) is an error, "CMD: -p NAME: no
 * stage uses param 'NAME' (known: a, b)"; such a key in the params file is
 * a warning with its FILE:LINE. Prints one line and returns 2 on any
 * error.
 */
int cli_repro_load(arca_pipeline **p, size_t **order, cli_params *params,
		const cli_repro_opts *o);

void cli_params_free(cli_params *params);

/* The value of a parameter, or NULL. */
const char *cli_params_get(const cli_params *params, const char *name);

/*
 * Check that every stage marked in selected (all when NULL) has a value
 * for each param it lists, and that its cmd substitutes. Prints
 * "FILE:LINE: stage 'x': unknown param 'y'" and returns 2 on the first
 * failure; 0 otherwise.
 */
int cli_repro_check_params(const arca_pipeline *p, const cli_params *params,
		const unsigned char *selected);

/*
 * Open the store (as cli_open_store) under an absolute path. Stages run
 * in the pipeline's directory (their spec's workdir); the current
 * directory is not changed. Prints one line and returns non-zero on
 * failure.
 */
int cli_repro_open(arca_store **store, const cli_global *g,
		const arca_pipeline *p);

/*
 * A path of the pipeline (relative to its directory) as a path from the
 * current directory: malloc'd, NULL when out of memory.
 */
char *cli_repro_path(const arca_pipeline *p, const char *path);

/*
 * The stage that writes path (as an output, or as the body of one of its
 * URL deps), other than self; NULL when none does.
 */
const arca_pipeline_stage *cli_repro_upstream(const arca_pipeline *p,
		const char *path, const arca_pipeline_stage *self);

/* How dependencies are resolved when a stage is built. */
typedef enum cli_deps_mode {
	CLI_DEPS_RUN = 0,  /* fetch URLs, materialise them; a missing required
	                      dep is an error */
	CLI_DEPS_PEEK = 1  /* no network, nothing written: URLs from the cache;
	                      what is missing is recorded, not an error */
} cli_deps_mode;

/* A URL dep as the cache knows it (CLI_DEPS_PEEK). */
typedef struct cli_url_state {
	const arca_pipeline_dep *dep;
	int cached;           /* the store has a body for it */
	int fresh;            /* ...and it is fresh: no request would be made */
	int64_t fetched_at;   /* seconds since the epoch */
} cli_url_state;

/* A pipeline stage ready for the runner. */
typedef struct cli_repro_stage {
	const arca_pipeline_stage *def;
	arca_stage_spec spec;      /* points into the fields below */
	char **argv;               /* owned, NULL-terminated */
	char *tool_path;
	arca_stage_input *inputs;
	arca_digest *url_digests;  /* one per dep; used by URL inputs */
	arca_stage_param *params;  /* values borrowed from cli_params */
	char **absent;             /* owned "arca:absent:PATH" names */
	size_t n_absent;
	const char **outputs;
	const char **env;
	/* CLI_DEPS_PEEK: what could not be resolved. */
	const arca_pipeline_dep **missing;   /* required file deps that are absent */
	size_t n_missing;
	cli_url_state *urls;       /* every URL dep */
	size_t n_urls;
	int n_uncached;            /* URL deps with no cached body */
} cli_repro_stage;

/*
 * Build the spec of stage def: ${param} substituted, deps resolved as
 * mode says, optional deps that are absent entered as the param
 * "arca:absent:PATH" = "1". In CLI_DEPS_RUN mode URLs are fetched (one
 * line each) with no_stale as given; a missing required dep or a URL
 * that cannot be fetched prints "FILE:LINE: ..." and returns 125. Paths
 * are the pipeline's (relative to its directory, the spec's workdir). 0 on
 * success.
 */
int cli_repro_stage_build(cli_repro_stage *rs, const arca_pipeline *p,
		const arca_pipeline_stage *def, const cli_params *params,
		arca_store *store, cli_deps_mode mode, int no_stale);

void cli_repro_stage_free(cli_repro_stage *rs);

/* What a stage would do (dry-run and status). */
typedef struct cli_prediction {
	int would_run;        /* something changed (reasons say what) */
	int always;           /* cache: false: it runs every time anyway */
	int cached;           /* its key is in the store */
	char **reasons;       /* why it would run, one phrase each */
	size_t n_reasons;
	char **notes;         /* other facts (a URL would be revalidated) */
	size_t n_notes;
} cli_prediction;

/* A file as a stage predicted earlier in the plan would leave it. */
typedef struct cli_predicted_file {
	const char *path;     /* borrowed from the pipeline */
	arca_digest digest;
} cli_predicted_file;

/*
 * What the stages predicted so far, in plan order, would write: each
 * output of a stage predicted to hit, with the digest its manifest
 * records (the hit restores it, whether or not the file is on disk now
 * and whatever it holds), and the body of each cached URL dep of a stage
 * that would not run (it is written before the stage runs). Start zeroed.
 */
typedef struct cli_predicted_files {
	cli_predicted_file *files;
	size_t n;
} cli_predicted_files;

void cli_predicted_files_free(cli_predicted_files *f);

/*
 * Predict stage def without running anything and without network:
 * upstream[i] says whether p->stages[i] would run (so that its current
 * outputs may still be old). A file dep that an upstream stage writes and
 * that does not run takes its digest from files (when it is there), not
 * from the disk: a fresh checkout with a warm cache is up to date. When
 * def is predicted not to run, its outputs (or URL bodies) are added to
 * files for the stages after it; files may be NULL (deps as on disk).
 * Returns 0, or an exit code after printing (out of memory, a store
 * error).
 */
int cli_repro_predict(cli_prediction *out, const arca_pipeline *p,
		const arca_pipeline_stage *def, const cli_params *params,
		arca_store *store, const unsigned char *upstream,
		cli_predicted_files *files);

void cli_prediction_free(cli_prediction *pr);

/* The index of def in p->stages. */
size_t cli_repro_index(const arca_pipeline *p, const arca_pipeline_stage *def);

#endif /* ARCA_CLI_REPRO_H */
