/*
 * The stage runner shared by `arca run` and `arca repro`: build a stage's
 * action and key, then restore its outputs from the cache (a hit) or run
 * it, its stdout and stderr teed live into temporary files, and store the
 * result when it succeeded and produced every declared output (a miss).
 *
 * It prints the same lines `arca run` always has ("arca: miss STAGE KEY8",
 * "arca: hit STAGE KEY8 (saved 1.2 s)", "arca: stored ...", failures), and
 * records the hit/miss statistics. docs/cli.md describes the behaviour.
 */
#ifndef ARCA_CLI_STAGE_H
#define ARCA_CLI_STAGE_H

#include "common.h"

#include <stddef.h>
#include <stdint.h>

/* An input of a stage. */
typedef struct cli_stage_input {
	const char *name;          /* logical name in the key: the path as
	                              written, or a URL */
	const char *path;          /* the file, relative to the working
	                              directory */
	const arca_digest *digest; /* its content's digest when already known
	                              (a fetched URL body); NULL: digest path */
} cli_stage_input;

/* A NAME=VALUE parameter. */
typedef struct cli_stage_param {
	const char *name;
	const char *value;
} cli_stage_param;

/*
 * What to run and what its result depends on. Every pointer is borrowed:
 * it must stay valid until the cli_stage made from the spec is freed.
 */
typedef struct cli_stage_spec {
	const char *stage;                 /* stage name (non-empty) */
	char *const *argv;                 /* the command, NULL-terminated;
	                                      argv[0] is resolved as execvp()
	                                      does */
	const cli_stage_input *inputs;
	size_t n_inputs;
	const char *const *outputs;        /* relative paths */
	size_t n_outputs;
	const cli_stage_param *params;
	size_t n_params;
	const cli_stage_param *secret_params; /* only SHA-256(value) enters
	                                         the key; never printed */
	size_t n_secret_params;
	const char *const *env;            /* variable names */
	size_t n_env;
	/* The tool identity: tool_version when set; else the SHA-256 of
	 * tool_path when set (resolved as argv[0] is); else of argv[0]'s
	 * executable. */
	const char *tool_version;
	const char *tool_path;
	/* Inputs and outputs are relative to it and the command runs in it;
	 * NULL: the current directory. The store must have been opened with
	 * an absolute path. */
	const char *workdir;
	int no_cache;                      /* no lookup, no capture, nothing
	                                      stored; prints nothing */
	int refresh;                       /* no lookup; run and replace */
	/* Reports progress while inputs are hashed; may be NULL. */
	arca_progress_fn hash_progress;
	void *hash_progress_ctx;
	/* Lifecycle (--ttl, --max-age, --tag): the stored result expires
	 * ttl_s seconds after it is stored (0: the configured default TTL,
	 * if any); a cached result created more than max_age_s seconds ago
	 * is a miss (0: any age); tags are attached to the stored result. */
	uint64_t ttl_s;
	uint64_t max_age_s;
	const char *const *tags;
	size_t n_tags;
} cli_stage_spec;

/* What cli_stage_execute() did. */
typedef enum cli_stage_outcome {
	CLI_STAGE_ERROR = 0,          /* arca failed before or instead of
	                                 running the command (125/126/127) */
	CLI_STAGE_HIT = 1,            /* restored from the cache */
	CLI_STAGE_STORED = 2,         /* ran, exited 0, result stored */
	CLI_STAGE_RAN = 3,            /* ran with no_cache and exited 0 */
	CLI_STAGE_FAILED = 4,         /* ran, exited non-zero or was killed */
	CLI_STAGE_OUTPUT_MISSING = 5, /* exited 0 without a declared output */
	CLI_STAGE_CACHE_WRITE_FAILED = 6 /* exited 0 with every output, but
	                                    storing the result failed */
} cli_stage_outcome;

typedef struct cli_stage_result {
	cli_stage_outcome outcome;
	int status;           /* the exit status, as `arca run` exits */
	uint64_t duration_ms; /* a hit: the recorded run time (saved);
	                         otherwise the wall time of this run */
	arca_digest key;      /* the action key, when have_key */
	int have_key;
} cli_stage_result;

/* A stage whose action and key are built. */
typedef struct cli_stage cli_stage;

/*
 * Build the action and key: digest the inputs, resolve argv[0] (unless
 * tool_version names the tool) and digest the tool. Returns 0, or after
 * printing one line the exit code: 125 (bad spec, missing input), 126
 * (command not executable), 127 (command not found).
 */
int cli_stage_prepare(cli_stage **out, const cli_stage_spec *spec);

/* The action key and the action of a prepared stage (owned by it). */
const arca_digest *cli_stage_key(const cli_stage *st);
const arca_action *cli_stage_action(const cli_stage *st);

/*
 * Look up the key (unless refresh or no_cache): on a hit restore the
 * outputs and replay stdout and stderr; otherwise run the command and
 * store its result when it succeeded. store may be NULL with no_cache.
 * Returns the exit status (also in result->status).
 */
int cli_stage_execute(cli_stage_result *result, cli_stage *st,
		arca_store *store);

/* Free a prepared stage. Accepts NULL. */
void cli_stage_free(cli_stage *st);

/* cli_stage_prepare() then cli_stage_execute(). */
int cli_stage_run(cli_stage_result *result, const cli_stage_spec *spec,
		arca_store *store);

/*
 * Resolve a command name as execvp() would (used directly when it
 * contains '/', else searched in $PATH, an empty element meaning the
 * current directory). Returns 0 with a malloc'd path; 125 (out of
 * memory), 126 (found but not executable) or 127 (not found). With
 * quiet, nothing is printed; otherwise one line says why it failed.
 */
int cli_stage_resolve_command(char **out, const char *cmd, int quiet);

/* mkdir -p of path's parent directory. 0, or -1 with errno set. */
int cli_make_parent_dirs(const char *path);

#endif /* ARCA_CLI_STAGE_H */
