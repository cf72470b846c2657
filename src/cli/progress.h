/*
 * A one-line progress bar on stderr for long operations (downloads,
 * hashing large inputs).
 *
 * It draws only when stderr is a terminal; otherwise every call is a no-op,
 * so callers never test for a TTY themselves. One bar at a time (the CLI is
 * single-threaded). Usage:
 *
 *	cli_progress_begin("fetch talk.flac");
 *	opts.progress = cli_progress_update;    (an arca_progress_fn)
 *	opts.progress_ctx = NULL;
 *	error = arca_fetch(&res, store, url, &opts);
 *	cli_progress_end();                     (always, success or not)
 *	...then print the result line as usual.
 *
 * The line looks like
 *	fetch talk.flac  [#########-----------]  45%  1.2 MiB / 2.7 MiB
 * or, when the total is unknown (0),
 *	fetch talk.flac  1.2 MiB
 * and is redrawn in place with '\r' at most ten times a second (and once
 * more when done reaches total). cli_progress_end() erases it, so the next
 * message starts on a clean line, and nothing is left behind when stderr
 * is not a terminal or no progress was reported.
 */
#ifndef ARCA_CLI_PROGRESS_H
#define ARCA_CLI_PROGRESS_H

#include <stdint.h>

/*
 * Start a bar labelled label (copied; shortened to fit the line). Draws
 * nothing until the first cli_progress_update(). A bar still open is
 * ended first.
 */
void cli_progress_begin(const char *label);

/*
 * Report progress: done bytes of total (0 when unknown). Matches
 * arca_progress_fn; ctx is ignored (pass NULL). Does nothing outside a
 * cli_progress_begin()/cli_progress_end() pair.
 */
void cli_progress_update(void *ctx, uint64_t done, uint64_t total);

/* Erase the bar (if one was drawn) and close it. Safe to call twice. */
void cli_progress_end(void);

#endif /* ARCA_CLI_PROGRESS_H */
