/*
 * Pipeline files (arca.yaml): the data model, the parser (libyaml) and the
 * plan (dependency order). The format is documented in docs/pipeline.md.
 *
 * Everything is owned by the cli_pipeline and freed by
 * cli_pipeline_free(). Errors are written to err as one line
 * "FILE:LINE: message" (LINE omitted when there is none) and the
 * functions return -1; they return 0 on success.
 */
#ifndef ARCA_CLI_PIPELINE_H
#define ARCA_CLI_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

/* A dependency of a stage: a file (maybe another stage's output) or a URL. */
typedef struct cli_dep {
	char *path;        /* file path relative to the pipeline's directory; for
	                      a URL, where its body is materialised (default:
	                      the last component of the URL's path) */
	char *url;         /* http(s) URL, or NULL for a file */
	int64_t max_age_s; /* URL freshness override in seconds; -1: default */
	int64_t time_bucket_s; /* URL time bucket in seconds; 0: none */
	int optional;      /* may be absent at run time: `optional: true` on the
	                      dep. (A dep on an optional stage's output keeps
	                      this as written; see cli_pipeline_plan.) */
	int line;          /* line in the pipeline file */
} cli_dep;

/* An output of a stage. */
typedef struct cli_out {
	char *path;        /* relative to the pipeline's directory */
	int line;
} cli_out;

typedef struct cli_stage_def {
	char *name;
	int line;           /* line of the stage's name */
	char *cmd;          /* the command as written (a shell command line,
	                       run with /bin/sh -c), before ${param}
	                       substitution; NULL when cmd_argv is used */
	char **cmd_argv;    /* the command as a YAML list (exec'd directly),
	                       NULL-terminated; NULL when cmd is used */
	size_t cmd_argc;
	int cmd_line;
	cli_dep *deps;
	size_t n_deps;
	cli_out *outs;
	size_t n_outs;
	char **params;      /* names of the params the stage uses */
	int *param_lines;
	size_t n_params;
	char **env;         /* names of environment variables in the key */
	size_t n_env;
	char *tool_version; /* `tool_version:`; NULL: digest of the executable */
	int optional;       /* `optional: true` */
	int cache;          /* 0 for `cache: false` (always runs) */
	int64_t ttl_s;      /* `ttl:` in seconds; -1: none */
} cli_stage_def;

typedef struct cli_pipeline {
	char *path;         /* the file, as given */
	char *dir;          /* its directory: stages run there */
	cli_stage_def *stages;  /* in file order */
	size_t n_stages;
	/* Values from the pipeline's `params:` mapping at top level (the
	 * defaults); -p K=V on the command line and --params FILE override. */
	char **param_names;
	char **param_values;
	size_t n_param_values;
} cli_pipeline;

/*
 * Parse a pipeline from memory. name is used in messages (the file name).
 * Checks the shape and types of every key; unknown keys are errors.
 * p->path is a copy of name ("(pipeline)" when NULL) and p->dir its
 * directory ("." when it has no slash). Paths come back normalised
 * ("./a//b" is "a/b"). Every ${name} in cmd is checked here: well formed,
 * and listed in the stage's params. At most 16 MiB of text; anchors,
 * aliases and tags are refused (docs/pipeline.md).
 */
int cli_pipeline_parse(cli_pipeline **out, const char *name,
		const char *text, size_t len, char *err, size_t errlen);

/* Read and parse a pipeline file ("cannot read FILE: <strerror>"). */
int cli_pipeline_load(cli_pipeline **out, const char *path, char *err,
		size_t errlen);

void cli_pipeline_free(cli_pipeline *p);

/* The stage named name, or NULL. */
const cli_stage_def *cli_pipeline_stage(const cli_pipeline *p,
		const char *name);

/* The stage that declares path as an output, or NULL. */
const cli_stage_def *cli_pipeline_producer(const cli_pipeline *p,
		const char *path);

/*
 * Order the stages so each comes after the stages whose outputs it
 * depends on. Errors (with file and line): a cycle (naming its stages),
 * two stages declaring one output, a dependency that is neither a file
 * that exists (relative to p->dir) nor an output of a stage (unless the
 * dep is optional). *order is a malloc'd array of n_stages indexes into
 * p->stages. Among ready stages the first in the file goes first. p is
 * not modified: a dep on an optional stage's output keeps dep->optional
 * as written; the runner asks cli_pipeline_producer(p, path)->optional.
 */
int cli_pipeline_plan(size_t **order, const cli_pipeline *p, char *err,
		size_t errlen);

/*
 * Substitute ${name} in text with params (names[i] -> values[i]).
 * "$${" is a literal "${". An unknown name is an error naming it. *out is
 * malloc'd. The message has no FILE:LINE; prefix it with the stage's
 * cmd_line.
 */
int cli_pipeline_substitute(char **out, const char *text,
		char *const *names, char *const *values, size_t n, char *err,
		size_t errlen);

#endif
