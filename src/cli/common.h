/*
 * Helpers shared by the arca command-line tool's subcommands.
 *
 * The CLI is a client of the public API only (include/arca/arca.h); it
 * never includes src/lib/ headers.
 */
#ifndef ARCA_CLI_COMMON_H
#define ARCA_CLI_COMMON_H

#include "arca/arca.h"

#include <jansson.h>
#include <stdio.h>

#if defined(__GNUC__)
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_PRINTF(f, a)
#endif

/* Exit codes shared by every subcommand (docs/cli.md). */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILED = 1,    /* verify found corruption, limit refused */
	CLI_EXIT_USAGE = 2,     /* unknown option, malformed argument */
	CLI_EXIT_NOTFOUND = 3,  /* unknown digest, key or file */
	CLI_EXIT_CORRUPT = 4,   /* get of a corrupt blob */
	CLI_EXIT_STORE = 5,     /* cannot open/create/write the store, I/O */
	CLI_EXIT_UNAVAILABLE = 6, /* a URL could not be fetched, no usable
	                            copy; a remote tier failed (remote test,
	                            push) */
	CLI_EXIT_NOCOMMAND = 127 /* not an arca command */
};

/* `arca run` reports its own failures like GNU env/timeout do. */
enum {
	CLI_RUN_EXIT_OUTPUT = 124,      /* CMD exited 0, an output missing */
	CLI_RUN_EXIT_ARCA = 125,        /* arca failed before CMD ran */
	CLI_RUN_EXIT_NOEXEC = 126,      /* CMD found but not executable */
	CLI_RUN_EXIT_NOTFOUND = 127,    /* CMD not found */
	CLI_RUN_EXIT_SIGNAL = 128       /* plus the signal number */
};

#define CLI_MAX_TIERS 16

/* What the global options set before a subcommand runs. */
typedef struct cli_global {
	const char *store_dir;  /* --store, or NULL for the default */
	/* --lock-timeout of run/repro, in ms; 0: not given (then
	 * ARCA_LOCK_TIMEOUT, else the library's default). */
	unsigned int lock_timeout_ms;
	/* --link MODE of run/repro (an arca_link_mode); 0: not given (then
	 * ARCA_LINK, config.yaml's link:, else auto). */
	unsigned int link;
	/* --tier URL (repeatable): these remote tiers instead of
	 * ARCA_TIERS's or config.yaml's. */
	const char *tiers[CLI_MAX_TIERS];
	size_t n_tiers;
	/* --no-remote: the local tier alone (wins over --tier). */
	int no_remote;
	/* Set by a command that goes through the remote tiers (run, repro,
	 * get, put, rm, stats, push, pull, remote) before it opens the
	 * store; the others open the local tier alone, never connecting. */
	int use_tiers;
	/* --rehash of run, repro, status and clear: read every file hashed,
	 * whatever the stat cache holds (ARCA_DIGEST_REHASH on the store). */
	int rehash;
} cli_global;

/* A subcommand: cmd_<name>.c defines one of these. */
typedef struct cli_command {
	const char *name;
	const char *summary;
	/* argv[0] is the command's name; getopt state is fresh. */
	int (*run)(int argc, char **argv, cli_global *g);
	void (*usage)(FILE *out);
} cli_command;

/* `arca serve`: its one-line summary and usage text (serve_usage.c). */
#define CLI_SERVE_SUMMARY "serve the store over HTTP (bazel-remote, ccache)"
void cli_serve_usage(FILE *out);

/*
 * The argument vector main() was given, for a command that runs another
 * executable with it (serve_exec.c). Set by main() before dispatch.
 */
extern int cli_argc;
extern char **cli_argv;

extern const cli_command cli_cmd_run;
extern const cli_command cli_cmd_put;
extern const cli_command cli_cmd_get;
extern const cli_command cli_cmd_ls;
extern const cli_command cli_cmd_info;
extern const cli_command cli_cmd_stats;
extern const cli_command cli_cmd_rm;
extern const cli_command cli_cmd_clear;
extern const cli_command cli_cmd_verify;
extern const cli_command cli_cmd_fetch;
extern const cli_command cli_cmd_repro;
extern const cli_command cli_cmd_status;
extern const cli_command cli_cmd_limit;
extern const cli_command cli_cmd_gc;
extern const cli_command cli_cmd_remote;
extern const cli_command cli_cmd_push;
extern const cli_command cli_cmd_pull;
extern const cli_command cli_cmd_serve;
extern const cli_command cli_cmd_serve_exec;  /* runs arca-serve */

/* Long-option values shared by every subcommand's getopt_long table. */
enum {
	CLI_OPT_STORE = 0x100,
	CLI_OPT_TIER = 0x101,
	CLI_OPT_NO_REMOTE = 0x102,
	CLI_OPT_REHASH = 0x103,
	CLI_OPT_HELP = 'h'
};

/* The getopt_long entries of --tier URL and --no-remote. */
#define CLI_TIER_LONGOPTS \
	{ "tier", required_argument, NULL, CLI_OPT_TIER }, \
	{ "no-remote", no_argument, NULL, CLI_OPT_NO_REMOTE }

/* The getopt_long entry of --rehash (commands that hash input files). */
#define CLI_REHASH_LONGOPT \
	{ "rehash", no_argument, NULL, CLI_OPT_REHASH }

/* Its line in a command's --help. */
#define CLI_REHASH_HELP \
	"  --rehash             read every input file (and tool) again instead\n" \
	"                       of trusting the stat cache (docs/store.md)\n"

/*
 * Handle getopt_long()'s c when it is CLI_OPT_TIER or CLI_OPT_NO_REMOTE:
 * 1 when handled, 0 when c is another option, -1 (after printing one
 * line) for more than CLI_MAX_TIERS --tier options.
 */
int cli_tier_option(cli_global *g, int c, const char *arg);

/*
 * The options every command shares, for the default: branch of its
 * getopt_long() loop: --store DIR, --tier URL, --no-remote and --rehash
 * are taken into g (returns 1: go on); --help prints usage to stdout and sets *rc to
 * CLI_EXIT_OK; a --tier too many or an option getopt_long() refused
 * (c '?' or ':') prints one line and sets *rc to CLI_EXIT_USAGE. Returns
 * 0 when the command should return *rc.
 */
int cli_common_option(int *rc, cli_global *g, const char *cmd, int c,
		char **argv, void (*usage)(FILE *out));

/* Print "arca: <message>\n" to stderr. */
void cli_error(const char *fmt, ...) CLI_PRINTF(1, 2);

/* Print "arca: warning: <message>\n" to stderr. */
void cli_warn(const char *fmt, ...) CLI_PRINTF(1, 2);

/*
 * Print "arca: <what>: <detail>" for a failed library call, the detail
 * being arca_errmsg() or, when that is empty, arca_strerror(code).
 */
void cli_lib_error(int code, const char *fmt, ...) CLI_PRINTF(2, 3);

/* The detail text for a library failure (see cli_lib_error). */
const char *cli_lib_detail(int code);

/*
 * Map a library code to an exit code: not found 3, corrupt 4, invalid
 * argument 2, anything else (I/O, permissions, full, busy...) 5.
 */
int cli_exit_code(int code);

/*
 * Report a getopt_long() failure (c is '?' or ':') for command cmd and
 * point at its help. Returns CLI_EXIT_USAGE.
 */
int cli_bad_option(const char *cmd, int c, char **argv);

/*
 * Print one line "arca: CMD: <message> (see 'arca help CMD')" (without
 * "CMD: " and with 'arca --help' when cmd is NULL) and return
 * CLI_EXIT_USAGE.
 */
int cli_usage_error(const char *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);

/*
 * Open the store named by g (--store, else $ARCA_DIR, else the XDG
 * default), creating it on first use. On failure prints one line and
 * returns non-zero (the caller chooses its exit code); 0 on success.
 */
int cli_open_store(arca_store **out, const cli_global *g);

/*
 * Parse a lock timeout, a duration ("30" seconds, "0.5", "10m"; more than
 * 0, at most a day, with a millisecond resolution) into *ms. On a
 * malformed value prints one line naming what and returns -1; 0
 * otherwise.
 */
int cli_parse_lock_timeout(unsigned int *ms, const char *text,
		const char *what);

/*
 * --link MODE of run/repro into *mode (an arca_link_mode): auto,
 * reflink, copy, hardlink or symlink. A bad word prints one line naming
 * the option and returns -1; 0 otherwise.
 */
int cli_parse_link(unsigned int *mode, const char *text);

/*
 * Human forms: sizes in binary units ("512 B", "1.2 MiB"), durations
 * ("850 ms", "41.2 s", "3m 07s", "2h 05m") and local times
 * ("2024-05-01 14:03", "-" for 0).
 */
void cli_human_size(char *buf, size_t len, uint64_t bytes);
void cli_human_duration(char *buf, size_t len, uint64_t ms);
void cli_human_time(char *buf, size_t len, int64_t epoch);

/* Parse a full 64-hex digest, printing an error naming what on failure. */
int cli_parse_digest(arca_digest *out, const char *hex, const char *what);

/* Write all of buf to fd, retrying short writes and EINTR. 0 or -1. */
int cli_write_all(int fd, const void *buf, size_t len);

/*
 * JSON output. cli_json_print() writes v (indented, with a final
 * newline) to stdout and releases it; returns 0 or CLI_EXIT_STORE on an
 * allocation or write failure. cli_json_u64() makes an integer (jansson's
 * integers are signed 64-bit; larger values are clamped).
 */
int cli_json_print(json_t *v);
json_t *cli_json_u64(uint64_t n);

/*
 * obj[key] = v, taking v's reference. Returns -1 when v is NULL (a failed
 * allocation upstream) or the set fails, so callers accumulate failures
 * with `err |= cli_json_set(...)`.
 */
int cli_json_set(json_t *obj, const char *key, json_t *v);

/*
 * Sizes and durations, one syntax everywhere (arca_parse_size(),
 * arca_parse_duration_ms(); docs/cli.md, "Sizes and durations"). 0, or
 * -1 with arca_errmsg() set (nothing printed).
 */
/* "10G", "500M", "1.5GiB", "4096" -> bytes (binary units). */
int cli_parse_size(uint64_t *out, const char *text);

/* "90", "30s", "10m", "2h", "7d", "1w", "250ms" -> seconds, rounded up. */
int cli_parse_duration(uint64_t *out_s, const char *text);

/*
 * Escape control bytes (and backslash) of s for printing on a terminal:
 * C-style \n, \t, \r, \\ and \xHH for the others, so a stage name or tag
 * cannot move the cursor or forge a line. Writes at most len bytes
 * (NUL included) to buf, truncating, and returns buf. s NULL gives "".
 */
const char *cli_escape(char *buf, size_t len, const char *s);

/* Size of a cli_escape() buffer that never truncates a name of n bytes. */
#define CLI_ESCAPE_SIZE(n) ((n) * 4 + 1)

/*
 * cli_escape() for use inside one printf: s itself when it needs no
 * escaping, else a buffer owned by common.c that stays valid for the
 * next 7 calls (8 names per printf at most). Never NULL ("" for NULL or
 * when out of memory).
 */
const char *cli_esc(const char *s);

/* Whether s begins with prefix. */
int cli_starts_with(const char *s, const char *prefix);

/*
 * The store's configured remote tiers (cmd_remote.c): as a JSON array
 * (NULL when out of memory), or printed as a table, one row each, with
 * the breaker column when with_breaker.
 */
json_t *cli_tiers_json(arca_store *store);
void cli_tiers_print(arca_store *store, int with_breaker);

#endif /* ARCA_CLI_COMMON_H */
