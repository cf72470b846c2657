/*
 * arca — pipeline files (arca.yaml): the data model, the parser and the
 * plan (dependency order). The format is docs/pipeline.md; the library
 * guide is docs/api.md ("Pipeline files").
 *
 * Included by arca/arca.h; it also compiles on its own.
 *
 * The types below are plain structs, not opaque handles, so that a C
 * caller and an FFI binding (cffi, ctypes) can read a parsed pipeline
 * without one accessor per field: declare them as written here.
 *
 *  - Every pointer in them is owned by the arca_pipeline that holds them
 *    and is released by arca_pipeline_free(); callers read the fields and
 *    do not modify or free them (arca_pipeline_run() substitutes
 *    ${param} in URL deps into its own copies; the pipeline stays as
 *    parsed).
 *  - The layout is part of libarca's ABI: new fields are appended at the
 *    end of a struct, and a change to the size of arca_pipeline_stage,
 *    arca_pipeline_dep or arca_pipeline_out (they are reached as arrays)
 *    comes with a new soname.
 *  - Lines are 1-based lines of the pipeline file; durations are whole
 *    seconds; paths are relative to the pipeline's directory, normalised
 *    ("./a//b" is "a/b"), never absolute and never containing "..".
 *
 * Errors follow the library's convention (arca/arca.h): a negative ARCA_E*
 * code, and arca_errmsg() holding one line "FILE:LINE: message" ("FILE:
 * message" when no line applies, e.g. a file too large or out of memory),
 * as docs/pipeline.md ("Errors") describes. Each function that returns
 * a code clears arca_errmsg() when it starts. Functions keep no state besides that
 * thread-local message: separate pipelines may be used from separate
 * threads, and a pipeline only read may be shared between threads.
 */
#ifndef ARCA_PIPELINE_H
#define ARCA_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A dependency of a stage: a file (maybe another stage's output) or a URL. */
typedef struct arca_pipeline_dep {
	char *path;            /* file path relative to the pipeline's
	                          directory; for a URL, where its body is
	                          materialised (default: the last component of
	                          the URL's path) */
	char *url;             /* http(s) URL as written (may hold ${param}),
	                          or NULL for a file */
	int64_t max_age_s;     /* `max_age:` of a URL, seconds; -1: default */
	int64_t time_bucket_s; /* `time_bucket:` of a URL, seconds; 0: none */
	int optional;          /* `optional: true` on the dep: may be absent
	                          at run time. A dep on an optional stage's
	                          output keeps this as written; see
	                          arca_pipeline_plan(). */
	int line;              /* line of the dep */
} arca_pipeline_dep;

/** An output of a stage. */
typedef struct arca_pipeline_out {
	char *path;            /* relative to the pipeline's directory */
	int line;              /* line of the output */
} arca_pipeline_out;

/** A stage of a pipeline file (docs/pipeline.md, "Stages"). */
typedef struct arca_pipeline_stage {
	char *name;            /* [A-Za-z0-9_.-]+ */
	int line;              /* line of the stage's name */
	char *cmd;             /* the command as written (a shell command
	                          line, run with /bin/sh -c), before ${param}
	                          substitution; NULL when cmd_argv is used */
	char **cmd_argv;       /* the command as a YAML list (exec'd
	                          directly), NULL-terminated; NULL when cmd is
	                          used. Exactly one of cmd and cmd_argv is set. */
	size_t cmd_argc;       /* items of cmd_argv; 0 when cmd is used */
	int cmd_line;          /* line of the `cmd:` value */
	arca_pipeline_dep *deps;  /* `deps:`, in file order */
	size_t n_deps;
	arca_pipeline_out *outs;  /* `outs:`, in file order */
	size_t n_outs;
	char **params;         /* `params:`: names of the params the stage
	                          uses (every ${name} of cmd is among them) */
	int *param_lines;      /* line of each name in params */
	size_t n_params;
	char **env;            /* `env:`: environment variables in the key */
	size_t n_env;
	char *tool_version;    /* `tool_version:`; NULL: the runner uses the
	                          digest of the executable */
	int optional;          /* 1 for `optional: true` */
	int cache;             /* 0 for `cache: false` (always runs), else 1 */
	int64_t ttl_s;         /* `ttl:` in seconds; -1: none */
	unsigned int link;     /* `link:` (an arca_link_mode); 0
	                          (ARCA_LINK_DEFAULT): not set, the store's */
} arca_pipeline_stage;

/** A parsed pipeline file. */
typedef struct arca_pipeline {
	char *path;            /* the file, as given ("(pipeline)" when
	                          arca_pipeline_parse() had no name) */
	char *dir;             /* its directory ("." when path has no slash):
	                          stages run there, file deps are relative to
	                          it */
	arca_pipeline_stage *stages; /* in file order */
	size_t n_stages;       /* at least 1 */
	/* The top-level `params:` mapping (the defaults; a front end lets
	 * -p K=V and a params file override them), in file order: value i is
	 * param_values[i] for name param_names[i]. */
	char **param_names;
	char **param_values;
	size_t n_param_values;
} arca_pipeline;

/**
 * Parse a pipeline from memory (docs/pipeline.md is the format).
 *
 * Checks the shape and type of every key; unknown keys are errors. Every
 * ${name} in `cmd` is checked here: well formed, and listed in the stage's
 * `params`. Anchors, aliases and tags are refused; at most 16 MiB of text,
 * collections nested at most 32 deep, 1,000,000 values (docs/pipeline.md,
 * "The YAML accepted"). File deps are not looked up (arca_pipeline_plan()
 * does that).
 *
 * @param[out] out   the pipeline; free with arca_pipeline_free(). NULL on
 *                   error.
 * @param[in]  name  the file name, used in messages and as out->path; its
 *                   directory becomes out->dir. NULL: "(pipeline)".
 * @param[in]  text  the YAML, len bytes, need not be NUL-terminated; NULL
 *                   is read as empty.
 * @param[in]  len   bytes of text.
 * @return 0; ARCA_EINVAL (malformed YAML, a value of the wrong shape, an
 *         unknown key, too large, ...: arca_errmsg() says
 *         "NAME:LINE: message"; also when out is NULL); ARCA_ENOMEM.
 */
int arca_pipeline_parse(arca_pipeline **out, const char *name,
		const char *text, size_t len);

/**
 * Read a pipeline file and parse it with arca_pipeline_parse(), path as
 * its name (so messages and out->dir use path as given).
 *
 * @param[out] out   the pipeline; free with arca_pipeline_free(). NULL on
 *                   error.
 * @param[in]  path  the file (docs/pipeline.md).
 * @return 0; ARCA_ENOTFOUND (no such file), ARCA_EPERM (not readable),
 *         ARCA_EINVAL (a directory, or a NULL argument), ARCA_EIO (a read
 *         error), each with "cannot read PATH: <strerror>"; ARCA_EINVAL
 *         for a file over 16 MiB ("PATH: too large ...") and as for
 *         arca_pipeline_parse(); ARCA_ENOMEM.
 */
int arca_pipeline_load(arca_pipeline **out, const char *path);

/**
 * Free a pipeline and everything it holds.
 *
 * @param[in] p  the pipeline, or NULL (nothing happens).
 */
void arca_pipeline_free(arca_pipeline *p);

/**
 * The stage named name.
 *
 * @param[in] p     the pipeline.
 * @param[in] name  a stage name.
 * @return a pointer into p->stages (owned by p), or NULL when there is no
 *         such stage or an argument is NULL.
 */
const arca_pipeline_stage *arca_pipeline_stage_by_name(
		const arca_pipeline *p, const char *name);

/**
 * The stage that declares path as an output.
 *
 * @param[in] p     the pipeline.
 * @param[in] path  a normalised path relative to p->dir (as the fields of
 *                  a dep hold it).
 * @return a pointer into p->stages (owned by p), or NULL when no stage
 *         outputs path or an argument is NULL.
 */
const arca_pipeline_stage *arca_pipeline_producer(const arca_pipeline *p,
		const char *path);

/**
 * Order the stages so that each comes after the stages whose outputs it
 * depends on; among ready stages the first in the file goes first
 * (docs/pipeline.md, "Order, and what the plan refuses").
 *
 * Refused, with the file and line of the offending stage, output or dep:
 * a cycle (naming its stages), two stages declaring one output, a URL
 * body written where another stage writes an output or two URLs written
 * to one path, and a file dep that is neither an output of a stage, the
 * body of a URL dep, a regular file that exists now (relative to p->dir)
 * nor optional. URLs are never looked up.
 *
 * p is not modified: a dep on an optional stage's output keeps
 * dep->optional as written; a runner asks
 * arca_pipeline_producer(p, dep->path)->optional.
 *
 * @param[out] order  p->n_stages indexes into p->stages, in run order;
 *                    allocated with malloc(), the caller frees it with
 *                    free(). Not NULL on success, even for 0 stages;
 *                    NULL on error.
 * @param[in]  p      the pipeline.
 * @return 0; ARCA_EINVAL (one of the refusals above, as
 *         "FILE:LINE: message"; also a NULL argument); ARCA_ENOMEM.
 */
int arca_pipeline_plan(size_t **order, const arca_pipeline *p);

/**
 * Substitute ${name} in text with the value of the param name
 * (docs/pipeline.md, "Parameters in commands"): "$${" is a literal "${",
 * and a value is inserted once, never expanded again.
 *
 * The message has no FILE:LINE (text is not tied to a line); a caller
 * prefixes the stage's cmd_line or dep line.
 *
 * @param[out] out     the result, NUL-terminated; allocated with
 *                     malloc(), the caller frees it with free(). NULL on
 *                     error.
 * @param[in]  text    NUL-terminated text.
 * @param[in]  names   n param names; entries that are NULL are skipped.
 * @param[in]  values  n values, values[i] for names[i]; an entry that is
 *                     NULL counts as no value.
 * @param[in]  n       number of names and values (0: names and values
 *                     may be NULL).
 * @return 0; ARCA_EINVAL (an unknown name, an unterminated "${", a bad
 *         name inside "${...}", a NULL argument); ARCA_ENOMEM.
 */
int arca_pipeline_substitute(char **out, const char *text,
		char *const *names, char *const *values, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* ARCA_PIPELINE_H */
