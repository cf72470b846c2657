/*
 * arca — running a pipeline file (arca_pipeline_run()) and predicting
 * what a run would do (arca_pipeline_status()): what `arca repro` and
 * `arca status` do, for any program. The format is docs/pipeline.md; the
 * library guide is docs/api.md ("Running a pipeline").
 *
 * Reached through arca/arca.h (arca/stage.h includes it); it also
 * compiles on its own.
 *
 * A run takes the stages in plan order (arca_pipeline_plan()). For each
 * it substitutes ${param} in the command and in URL deps, fetches URL
 * deps through the cache (arca_fetch()) and writes their bodies where
 * the dep says, resolves file deps, and runs the stage through the stage
 * runner (arca_stage_prepare(), arca_stage_run()), so that it is cached
 * the moment it succeeds and a run that failed resumes there. Key policy
 * is the library's, so that every caller computes the same key for the
 * same stage:
 *
 *  - a `cmd:` string runs as /bin/sh -c CMD; its tool identity is the
 *    executable its first word names (found as execvp() would, from the
 *    pipeline's directory) when that word is a plain name or path and is
 *    found, else /bin/sh; `tool_version:` overrides both;
 *  - a dep that may be absent (the dep is `optional: true`, or its
 *    producer is an optional stage) is an optional input of the stage
 *    (arca_stage_spec's optional_inputs): when absent it enters the key
 *    as the param "arca:absent:PATH" = "1" (ARCA_STAGE_ABSENT_PARAM):
 *    absent is not the same action as present;
 *  - a URL dep enters the key under its URL (after substitution) with
 *    the body's digest.
 *
 * Every stage runs in the pipeline's directory (p->dir) as its working
 * directory; the caller's working directory is never changed, nothing is
 * printed and no signal handler is installed: what happens is reported
 * through the options' event callback. Errors follow the library's
 * convention: a negative ARCA_E* code and arca_errmsg() ("FILE:LINE:
 * message" when a line of the pipeline file applies).
 */
#ifndef ARCA_PIPELINE_RUN_H
#define ARCA_PIPELINE_RUN_H

#include "arca.h"
#include "pipeline.h"
#include "stage.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The prefix of the param that marks an absent optional dep in a key
 * (followed by the dep's path; the value is "1"): the stage runner's
 * marker of an absent optional input, which the pipeline runner uses
 * (the dep is one of the spec's optional_inputs). Kept as an alias of
 * ARCA_STAGE_ABSENT_PARAM. */
#define ARCA_PIPELINE_ABSENT_PARAM ARCA_STAGE_ABSENT_PARAM

/** Why a stage runs whatever the cache holds (arca_pipeline_run). */
typedef enum arca_pipeline_forced {
	ARCA_PIPELINE_FORCED_NONE = 0,
	ARCA_PIPELINE_FORCED_NO_CACHE = 1,  /* opts->no_cache */
	ARCA_PIPELINE_FORCED_REFRESH = 2,   /* opts->refresh */
	ARCA_PIPELINE_FORCED_STAGE = 3      /* in opts->force, or downstream
	                                       of a stage that is */
} arca_pipeline_forced;

/** What happened to a stage, or what would (a prediction). */
typedef enum arca_pipeline_state {
	ARCA_PIPELINE_STATE_NONE = 0,     /* not reached yet */
	ARCA_PIPELINE_STATE_NOT_RUN = 1,  /* selected, but a required stage
	                                     before it failed */
	ARCA_PIPELINE_STATE_HIT = 2,      /* restored from the cache */
	ARCA_PIPELINE_STATE_RAN = 3,      /* ran and exited 0 (result.outcome:
	                                     STORED, RAN or
	                                     CACHE_WRITE_FAILED) */
	ARCA_PIPELINE_STATE_DEGRADED = 4, /* an optional stage failed: its
	                                     outputs were removed and the
	                                     stages after it ran without them */
	ARCA_PIPELINE_STATE_FAILED = 5,   /* a required stage failed: the run
	                                     stopped there */
	ARCA_PIPELINE_STATE_UP_TO_DATE = 6, /* prediction: it would hit */
	ARCA_PIPELINE_STATE_WOULD_RUN = 7,  /* prediction: it would run
	                                       (reasons say why) */
	ARCA_PIPELINE_STATE_ALWAYS = 8      /* prediction: `cache: false`, it
	                                       runs every time */
} arca_pipeline_state;

/**
 * One stage of a report, in plan order. Every pointer is owned by the
 * report (arca_pipeline_report_free()), except stage, which points into
 * the pipeline the report was made from.
 */
typedef struct arca_pipeline_stage_report {
	const arca_pipeline_stage *stage;
	arca_pipeline_state state;
	/* HIT, RAN, DEGRADED, FAILED: what arca_stage_run() returned (outcome
	 * ARCA_STAGE_ERROR when the stage could not be run at all). */
	arca_stage_result result;
	/* DEGRADED, FAILED: the ARCA_E* code when arca could not prepare or
	 * run the stage (a missing dep, a URL that cannot be fetched, the
	 * command not found), with failure and message; 0 when the command
	 * ran and failed. */
	int code;
	arca_stage_failure failure;
	char *message;                /* "" when code is 0 */
	arca_pipeline_forced forced;
	/* Predictions: why it would run, one phrase each ("never run",
	 * "input 'a.txt' changed", "param 'lang' changed (en -> fr)", ...),
	 * and other facts ("url U would be revalidated (fetched 2h 00m
	 * ago)"). */
	char **reasons;
	size_t n_reasons;
	char **notes;
	size_t n_notes;
	/* Prediction: its key is in the store. */
	int cached;
	/* Prediction: the stage has `cache: false`. A dry run reports such
	 * a stage WOULD_RUN when something it reads would change (reasons)
	 * or it is forced, else ALWAYS; arca_pipeline_status() reports it
	 * ALWAYS. */
	int always;
	/* HIT, RAN, DEGRADED, FAILED: where the stage spent its time
	 * (arca_stage_get_timings()); zero when it was not prepared. */
	arca_stage_timings timings;
} arca_pipeline_stage_report;

/** The result of arca_pipeline_run() or arca_pipeline_status(). */
typedef struct arca_pipeline_report {
	arca_pipeline_stage_report *stages; /* the selected stages, in plan
	                                       order */
	size_t n_stages;
	size_t n_hit, n_ran, n_degraded, n_failed, n_not_run;
	/* Predictions: stages that would run (ALWAYS included). */
	size_t n_would_run;
	uint64_t saved_ms;            /* recorded run time of the hits, ms */
	/* The failed required stage (index into stages), or -1. */
	long failed;
} arca_pipeline_report;

/** Free a report. Accepts NULL. */
void arca_pipeline_report_free(arca_pipeline_report *r);

/** What an arca_pipeline_event reports. */
typedef enum arca_pipeline_event_kind {
	/* A stage starts (its deps are resolved next). */
	ARCA_PIPELINE_EVENT_STAGE_START = 1,
	/* An event of the stage runner for the stage (stage_event): miss,
	 * hit, started (its pid, for forwarding signals), stored, ... */
	ARCA_PIPELINE_EVENT_STAGE = 2,
	/* A long operation begins (progress_what, dep for a fetch), goes on
	 * (done of total bytes, total 0 when unknown), ends. */
	ARCA_PIPELINE_EVENT_PROGRESS_BEGIN = 3,
	ARCA_PIPELINE_EVENT_PROGRESS = 4,
	ARCA_PIPELINE_EVENT_PROGRESS_END = 5,
	/* A URL dep was fetched (url, fetch: status, size, fetched_at; with
	 * ARCA_FETCH_STALE, message says why the server could not be
	 * used). */
	ARCA_PIPELINE_EVENT_URL_FETCHED = 6,
	/* arca could not prepare or run the stage, or (a prediction) could
	 * not compute its key: code, failure, message. Comes before the
	 * FAILED or DEGRADED event of the stage. */
	ARCA_PIPELINE_EVENT_STAGE_ERROR = 7,
	/* Something went wrong that does not change the outcome (message):
	 * an output of a degraded stage could not be removed (path). */
	ARCA_PIPELINE_EVENT_WARNING = 8,
	/* The stage's outcome (report: state, result, code): HIT, RAN,
	 * DEGRADED (after its outputs were removed) or FAILED. */
	ARCA_PIPELINE_EVENT_HIT = 9,
	ARCA_PIPELINE_EVENT_RAN = 10,
	ARCA_PIPELINE_EVENT_DEGRADED = 11,
	ARCA_PIPELINE_EVENT_FAILED = 12,
	/* A selected stage not run because a required stage failed. */
	ARCA_PIPELINE_EVENT_SKIPPED = 13,
	/* A prediction (dry run, arca_pipeline_status()): report says
	 * state, forced, reasons and notes. */
	ARCA_PIPELINE_EVENT_PREDICTED = 14
} arca_pipeline_event_kind;

/** What a PROGRESS_BEGIN event is about. */
typedef enum arca_pipeline_progress {
	ARCA_PIPELINE_PROGRESS_FETCH = 1, /* downloading a URL dep */
	ARCA_PIPELINE_PROGRESS_HASH = 2   /* digesting a stage's inputs */
} arca_pipeline_progress;

/**
 * An event of a run (arca_pipeline_event_fn). Everything it points to is
 * valid during the callback only (stage and dep: as long as the
 * pipeline).
 */
typedef struct arca_pipeline_event {
	arca_pipeline_event_kind kind;
	const arca_pipeline_stage *stage;  /* the stage */
	const arca_stage_event *stage_event; /* STAGE */
	/* STAGE: the stage runs without the cache (opts->no_cache or
	 * `cache: false`): a failure caches nothing anyway. */
	int no_cache;
	const arca_pipeline_dep *dep;      /* PROGRESS_BEGIN (fetch),
	                                      URL_FETCHED */
	const char *url;                   /* URL_FETCHED: substituted */
	arca_fetch_status fetch;           /* URL_FETCHED */
	uint64_t size;                     /* URL_FETCHED: bytes */
	int64_t fetched_at;                /* URL_FETCHED: seconds since the
	                                      epoch */
	arca_pipeline_progress progress_what; /* PROGRESS_BEGIN */
	uint64_t done, total;              /* PROGRESS: bytes */
	int code;                          /* STAGE_ERROR, WARNING */
	arca_stage_failure failure;        /* STAGE_ERROR */
	const char *message;               /* STAGE_ERROR, WARNING,
	                                      URL_FETCHED ("" when none) */
	const char *path;                  /* WARNING: the output */
	/* HIT, RAN, DEGRADED, FAILED, SKIPPED, PREDICTED: the stage's entry
	 * of the report being made. */
	const arca_pipeline_stage_report *report;
} arca_pipeline_event;

/**
 * Event callback. Called on the thread that called arca_pipeline_run()
 * or arca_pipeline_status().
 *
 * @param[in] ctx  the options' event_ctx.
 * @param[in] ev   the event (valid during the call only).
 */
typedef void (*arca_pipeline_event_fn)(void *ctx,
		const arca_pipeline_event *ev);

/**
 * Runs a prepared stage in place of arca_stage_run() (same contract):
 * a front end that forwards signals to the command wraps it there.
 *
 * @param[in]  ctx  arca_pipeline_run_options.stage_run_ctx.
 * @param[out] out  the stage's result, as arca_stage_run() fills it.
 * @param[in]  st   the prepared stage; borrowed (the runner frees it).
 * @return as arca_stage_run().
 */
typedef int (*arca_pipeline_stage_run_fn)(void *ctx, arca_stage_result *out,
		arca_stage *st);

#define ARCA_PIPELINE_RUN_OPTIONS_VERSION 1

/**
 * Options of arca_pipeline_run() and arca_pipeline_status(). Initialise
 * with ARCA_PIPELINE_RUN_OPTIONS_INIT; fields are only ever appended.
 * Everything is borrowed for the duration of the call.
 */
typedef struct arca_pipeline_run_options {
	unsigned int version;   /* ARCA_PIPELINE_RUN_OPTIONS_VERSION */
	/* Param values over the pipeline's top-level `params:` defaults:
	 * value i for name i, a later entry winning over an earlier one.
	 * Each name must be used by some stage (in its `params:` or as
	 * ${name} in a URL dep): else ARCA_ENOTFOUND
	 * (arca_pipeline_param_check()). */
	const char *const *param_names;
	const char *const *param_values;
	size_t n_params;
	/* Stage names to run, with every stage they read from (all stages
	 * when n_targets is 0). */
	const char *const *targets;
	size_t n_targets;
	/* Stage names to recompute (no lookup, the entry replaced), with
	 * every stage downstream of them. */
	const char *const *force;
	size_t n_force;
	/* Say what each stage would do (PREDICTED events), run nothing,
	 * fetch nothing. */
	int dry_run;
	/* Run every stage; nothing looked up or stored. */
	int no_cache;
	/* Run every stage and replace its entry. Excludes no_cache. */
	int refresh;
	/* Fail a URL dep whose server cannot be reached instead of using a
	 * stale cached copy. */
	int no_stale;
	/* How long to wait for another process computing the same stage,
	 * in ms; 0: the store's lock_timeout_ms. */
	unsigned int lock_timeout_ms;
	/* Where the commands' stdout and stderr are passed through live and
	 * where hits replay them: 1 and 2 by default; -1 discards. */
	int stdout_fd;
	int stderr_fd;
	/* Events; may be NULL. */
	arca_pipeline_event_fn event;
	void *event_ctx;
	/* Runs each prepared stage; NULL: arca_stage_run(). */
	arca_pipeline_stage_run_fn stage_run;
	void *stage_run_ctx;
	/* The commands' stdin (arca_stage_spec's stdin_fd): -1 (the
	 * default), /dev/null: a pipeline file cannot declare stdin, so no
	 * stage may read bytes that are not in its key; 0, the caller's own,
	 * inherited (when it is a pipe or a file the stages then run
	 * uncached: ARCA_STAGE_EVENT_STDIN_UNCACHED). */
	int stdin_fd;
} arca_pipeline_run_options;

#define ARCA_PIPELINE_RUN_OPTIONS_INIT \
	{ ARCA_PIPELINE_RUN_OPTIONS_VERSION, NULL, NULL, 0, NULL, 0, NULL, 0, \
	  0, 0, 0, 0, 0, 1, 2, NULL, NULL, NULL, NULL, -1 }

/**
 * Whether some stage of p uses the param name: lists it in `params:` or
 * refers to it as ${name} in a URL dep. (A name only in the top-level
 * defaults is not used.)
 *
 * @param[in] p     the pipeline.
 * @param[in] name  a param name.
 * @return 0 (used); ARCA_ENOTFOUND, with arca_errmsg() "no stage uses
 *         param 'NAME' (known: a, b)" ("known: none" when no stage uses
 *         any); ARCA_EINVAL (a NULL argument); ARCA_ENOMEM.
 */
int arca_pipeline_param_check(const arca_pipeline *p, const char *name);

/**
 * Check options against p without a store and without running anything,
 * in the order arca_pipeline_run() does before it runs a stage: the
 * plan, the URL deps after substitution (still http(s) URLs), every
 * param name used, every target and forced stage named, and every
 * selected stage having a value for each of its params with a command
 * that substitutes.
 *
 * @param[in] p     the pipeline.
 * @param[in] opts  options, or NULL for defaults.
 * @return 0; ARCA_ENOTFOUND (a param no stage uses, or a target or forced
 *         stage that does not exist: arca_errmsg() "no stage uses param
 *         'x' (known: ...)" or "FILE: no stage 'x'"); ARCA_EINVAL (bad
 *         options version, a NULL p, a NULL array with a non-zero count,
 *         a NULL param name or value, no_cache with refresh, a plan
 *         refusal, a stage
 *         param without a value "FILE:LINE: stage 'x': unknown param 'y'",
 *         a bad substitution, a URL that is not http(s) after it);
 *         ARCA_ENOMEM.
 */
int arca_pipeline_check(const arca_pipeline *p,
		const arca_pipeline_run_options *opts);

/**
 * Run the selected stages of p in plan order (see the top of this file).
 * A stage that hits is restored; one that misses runs in p->dir and is
 * stored when it succeeds. When an optional stage fails, its declared
 * outputs are removed (so that no output of an earlier run survives into
 * the stages after it) and the run goes on: stages reading them run
 * without them. When a required stage fails, the stages after it are not
 * run (SKIPPED) and the report names it. With opts->dry_run, nothing runs
 * and nothing is fetched: each stage is predicted as
 * arca_pipeline_status() does, forced ones included.
 *
 * @param[out] out    the report; may be NULL; free with
 *                    arca_pipeline_report_free(). NULL on error.
 * @param[in]  store  open store (this thread's handle); borrowed.
 * @param[in]  p      the pipeline (arca_pipeline_load()); not modified;
 *                    it must outlive the report, whose stage entries
 *                    point into it.
 * @param[in]  opts   options, or NULL for defaults; borrowed for the
 *                    call.
 * @return 0 when the selected stages were taken in turn, even when one
 *         failed (the report says how each went); before any stage runs,
 *         the errors of arca_pipeline_check(); ARCA_EINVAL (a NULL
 *         store); a dry run's failed lookup, with its own code (ARCA_EIO,
 *         ARCA_EBUSY, ARCA_ECORRUPT: "stage x: cache lookup: ...");
 *         ARCA_ENOMEM.
 */
int arca_pipeline_run(arca_pipeline_report **out, arca_store *store,
		const arca_pipeline *p, const arca_pipeline_run_options *opts);

/**
 * Predict, for the selected stages of p (all when opts has no targets),
 * whether a run would restore each from the cache or run it, and why,
 * without running or fetching anything and counting no hit: a stage is
 * up to date when its action key is cached; else the reasons compare the
 * action now with the stage's most recent cached run (command, inputs,
 * params, env, tool, outputs changed; never run; a dependency would run
 * first; url not cached; dep missing). A dep that an upstream stage
 * writes and that stage would hit takes the digest its manifest records,
 * not the file on disk: a fresh checkout with a warm cache is up to
 * date. opts->force, no_cache and refresh mark stages as forced (they
 * would run, and so would what reads them).
 *
 * @param[out] out    the report (states UP_TO_DATE, WOULD_RUN, ALWAYS);
 *                    must not be NULL; free with
 *                    arca_pipeline_report_free(). NULL on error.
 * @param[in]  store  open store; borrowed.
 * @param[in]  p      the pipeline.
 * @param[in]  opts   options, or NULL (event: a PREDICTED event per
 *                    stage, STAGE_ERROR when a key cannot be computed).
 * @return 0; the errors of arca_pipeline_check(); ARCA_EINVAL (a NULL
 *         store or out); a failed lookup, with its own code (ARCA_EIO,
 *         ARCA_EBUSY, ARCA_ECORRUPT: "stage x: cache lookup: ...");
 *         ARCA_ENOMEM.
 */
int arca_pipeline_status(arca_pipeline_report **out, arca_store *store,
		const arca_pipeline *p, const arca_pipeline_run_options *opts);

#ifdef __cplusplus
}
#endif

#endif /* ARCA_PIPELINE_RUN_H */
