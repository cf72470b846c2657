/*
 * The CLI side of the stage runner (arca_stage_*, include/arca/stage.h)
 * shared by `arca run` and `arca repro`: the lines the runner's events
 * print ("arca: miss STAGE KEY8", "arca: hit STAGE KEY8 (saved 1.2 s)",
 * with -v "arca: restored OUT of STAGE: reflink",
 * "arca: stored ...", the lease waits, failures), signal forwarding to the
 * command, and the exit codes. docs/cli.md describes the behaviour.
 */
#ifndef ARCA_CLI_RUNNER_H
#define ARCA_CLI_RUNNER_H

#include "common.h"

/* What the event printer needs to know; the spec's event_ctx. */
typedef struct cli_runner {
	int no_cache;   /* --no-cache / cache: false: no "failed" line */
	int verbose;    /* -v: also how each output of a hit was restored */
} cli_runner;

/*
 * An arca_stage_event_fn: prints the event's line (nothing for started
 * and ran) and remembers the command's pid for cli_runner_run().
 */
void cli_runner_event(void *ctx, const arca_stage_event *ev);

/*
 * arca_stage_run() with SIGINT, SIGTERM and SIGHUP sent to arca alone
 * (not a terminal's ^C, which reaches the command's process group
 * anyway) forwarded to the command while it runs. A signal that arca
 * ignores stays ignored (and so does the command); one that arrives while
 * no command runs acts as it would without arca_stage_run().
 */
int cli_runner_run(arca_stage_result *out, arca_stage *st);

/*
 * The exit code for a failed arca_stage_prepare()/arca_stage_run()
 * (prints "arca: <arca_errmsg()>"): 127 command not found, 126 not
 * executable, else 125.
 */
int cli_runner_error(int code, arca_stage_failure failure);

/* The exit code `arca run` returns for a result: the command's status,
 * 124 when it exited 0 without a declared output, 125 for an error. */
int cli_runner_status(const arca_stage_result *res);

#endif /* ARCA_CLI_RUNNER_H */
