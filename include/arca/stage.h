/*
 * arca — the stage runner: one command (or one piece of an embedding
 * program's work) as a cached pipeline stage.
 *
 * Included by arca/arca.h; programs include only that. See docs/api.md,
 * "Stage runner", for a walk-through.
 *
 * A stage is described by an arca_stage_spec: its name, the command, its
 * inputs, parameters, environment, declared outputs and tool identity.
 * arca_stage_prepare() digests the inputs and computes the action key;
 * then either arca_stage_run() does everything `arca run` does (look up,
 * restore a hit, or run the command on a miss, single-flight, and store
 * the result), or an embedding program does the steps itself:
 * arca_stage_lookup(), arca_stage_restore() and arca_stage_replay() for a
 * hit, its own work then arca_stage_commit() for a miss.
 *
 * Nothing here changes process-wide state: the working directory of the
 * caller is never changed (relative paths are resolved against the
 * stage's working directory by building paths from it; the command is
 * started in it), no signal handler is installed, nothing is printed.
 * What happens is reported through the spec's event callback, which a
 * front end prints; a front end that wants to forward signals to the
 * command takes its pid from the ARCA_STAGE_EVENT_STARTED event.
 *
 * Statistics (arca_stats_list()) are recorded by these functions: a hit
 * when arca_stage_restore() restored one, a miss when a command ran (or
 * arca_stage_commit() stored a result), an error when a cached entry was
 * corrupt, a lookup failed or storing failed. arca_stage_lookup() alone
 * counts nothing but a failed lookup, so each stage served is counted
 * once.
 */
#ifndef ARCA_STAGE_H
#define ARCA_STAGE_H

#include "arca.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A prepared stage: its action and key are computed. */
typedef struct arca_stage arca_stage;

/** An input file of a stage. */
typedef struct arca_stage_input {
	/* The logical name that enters the key (and the manifest). NULL:
	 * the path. Unless it contains "://" (a URL), the name is normalised
	 * as a path: empty and "." components are dropped, so duplicate and
	 * trailing slashes and "./" go ("./a//b/" is "a/b"); ".." and
	 * symbolic links are left as written (resolving them needs the file
	 * system, and the key must not depend on it). A leading "/" stays.
	 * ARCA_STAGE_STDIN_NAME ("(stdin)") is reserved for stdin and
	 * refused (ARCA_EINVAL). */
	const char *name;
	/* The file: relative to the stage's working directory, or absolute.
	 * It must be a regular file (a FIFO or a device is refused without
	 * being opened for reading). */
	const char *path;
	/* Its content's digest when already known (a fetched URL body): the
	 * file is then not read. NULL: digest path. */
	const arca_digest *digest;
} arca_stage_input;

/** A NAME=VALUE parameter of a stage. */
typedef struct arca_stage_param {
	const char *name;
	const char *value;
} arca_stage_param;

/** What an arca_stage_event reports. */
typedef enum arca_stage_event_kind {
	/* The key is not cached (or refresh is set): the command is about to
	 * run. refresh says which. */
	ARCA_STAGE_EVENT_MISS = 1,
	/* Restored from the cache; duration_ms is the recorded run time
	 * (the time saved), exit_status the recorded status. */
	ARCA_STAGE_EVENT_HIT = 2,
	/* The command was started as process pid. Signals the front end
	 * wants to forward can go there; they are blocked in the calling
	 * thread from just before the command starts until this callback
	 * returns, so none sent meanwhile is lost. */
	ARCA_STAGE_EVENT_STARTED = 3,
	/* The command exited 0 with every output; the result is stored.
	 * duration_ms: the run's wall time. */
	ARCA_STAGE_EVENT_STORED = 4,
	/* The command ran without the cache (no_cache) and exited 0. */
	ARCA_STAGE_EVENT_RAN = 5,
	/* The command exited non-zero or was killed (exit_status, 128+N for
	 * signal N); nothing cached. */
	ARCA_STAGE_EVENT_FAILED = 6,
	/* The command exited 0 but the declared output path was not
	 * produced as a regular file; nothing cached. path names it;
	 * message is "" when nothing is there, else what is there instead:
	 * "is a directory, not a file (declare the files inside it)" or
	 * "is a symbolic link, not a file (links are not followed)". */
	ARCA_STAGE_EVENT_OUTPUT_MISSING = 7,
	/* The command succeeded but its result could not be stored: code
	 * and message say why (message is "output 'x': ...", "captured
	 * output: ...", or the store's own message). */
	ARCA_STAGE_EVENT_CACHE_WRITE_FAILED = 8,
	/* Another holder has the key's lease (another process computing
	 * the same stage): waiting for it. */
	ARCA_STAGE_EVENT_LEASE_WAIT = 9,
	/* The lease wait ran out after waited_ms: computing anyway. */
	ARCA_STAGE_EVENT_LEASE_TIMEOUT = 10,
	/* The cached entry could not be restored because a blob's bytes
	 * do not match its digest: it is dropped and the stage recomputed.
	 * A blob that is gone (removed by a concurrent clear or eviction,
	 * or its file lost) emits no event: the hit becomes a plain miss
	 * (ARCA_STAGE_EVENT_MISS follows). */
	ARCA_STAGE_EVENT_CORRUPT = 11,
	/* Looking the key up failed (code, message): running the stage. */
	ARCA_STAGE_EVENT_LOOKUP_FAILED = 12,
	/* The lease could not be taken (code, message): running without. */
	ARCA_STAGE_EVENT_LEASE_FAILED = 13,
	/* Dropping a stale entry failed (code, message). */
	ARCA_STAGE_EVENT_REMOVE_FAILED = 14,
	/* Recording statistics failed (code, message). */
	ARCA_STAGE_EVENT_STATS_FAILED = 15,
	/* Another process (or stage) is writing or restoring the declared
	 * output path at the same working directory: waiting for its output
	 * lock (see "Output locks" in arca_stage_run()). */
	ARCA_STAGE_EVENT_OUTPUT_WAIT = 16,
	/* The command's stdin (the spec's stdin_fd) could feed it bytes that
	 * are not in the key and ARCA_STAGE_STDIN_INPUT is not set: the
	 * command runs without the cache (no lookup, nothing stored), as
	 * with ARCA_STAGE_NO_CACHE. message says what stdin is: "a pipe",
	 * "a socket", "a regular file" or "a device". */
	ARCA_STAGE_EVENT_STDIN_UNCACHED = 17,
	/* A hit put the declared output path in place (one event per
	 * output, after all are in place, before ARCA_STAGE_EVENT_HIT):
	 * link is how (ARCA_LINK_REFLINK, _COPY, _HARDLINK or _SYMLINK;
	 * ARCA_LINK_DEFAULT when the file there already had the recorded
	 * digest and mode and was left alone), message says it in words:
	 * "reflink", "copy", "hardlink", "symlink" or "unchanged", with
	 * " (reflink not supported here)" after "copy" when auto fell back,
	 * " (inline blob)" or " (from a remote tier)" when no link could
	 * apply. */
	ARCA_STAGE_EVENT_RESTORED = 18
} arca_stage_event_kind;

/**
 * An event of a stage (arca_stage_event_fn). Everything it points to is
 * valid during the callback only.
 */
typedef struct arca_stage_event {
	arca_stage_event_kind kind;
	const char *stage;          /* the stage name */
	const arca_digest *key;     /* the action key */
	const char *key_hex;        /* its 64 hex characters */
	int refresh;                /* MISS: the lookup was skipped */
	long pid;                   /* STARTED: the command's process id */
	int exit_status;            /* HIT, RAN, FAILED */
	uint64_t duration_ms;       /* HIT: saved; STORED, RAN, FAILED: run
	                               time */
	uint64_t waited_ms;         /* LEASE_TIMEOUT */
	const char *path;           /* OUTPUT_MISSING, OUTPUT_WAIT: the
	                               output (as declared, normalised) */
	int code;                   /* the ARCA_E* code of a *_FAILED event */
	const char *message;        /* its detail ("" when none) */
	arca_link_mode link;        /* RESTORED: how (see there) */
} arca_stage_event;

/**
 * Event callback. Called on the thread that called the arca_stage_*
 * function, never from a signal handler.
 *
 * @param[in] ctx  the spec's event_ctx.
 * @param[in] ev   the event (valid during the call only).
 */
typedef void (*arca_stage_event_fn)(void *ctx, const arca_stage_event *ev);

/*
 * The spec's version. 2 added stdin_fd (and ARCA_STAGE_STDIN_INPUT); 3
 * added optional_inputs; 4 link. A spec of an older version is still
 * accepted: version 1 has stdin_fd 0, versions 1 and 2 no optional
 * inputs, versions 1 to 3 the store's link mode.
 */
#define ARCA_STAGE_SPEC_VERSION 4

/** Flags of arca_stage_spec. */
enum {
	/* No lookup, no capture, nothing stored, no lease: just run the
	 * command (its outputs are not checked). store may be NULL. */
	ARCA_STAGE_NO_CACHE = 1 << 0,
	/* No lookup: run the command and replace the cached entry. */
	ARCA_STAGE_REFRESH = 1 << 1,
	/* stdin is an input: arca_stage_prepare() reads stdin_fd to its end
	 * into a temporary file in the store's tmp/ (hashed while copied),
	 * its digest enters the key as the input named "(stdin)" (a name
	 * reserved for it: a file input of that name is refused), and the
	 * command gets that file as its stdin. Needs a store. */
	ARCA_STAGE_STDIN_INPUT = 1 << 2
};

/** The input name stdin enters the key under (ARCA_STAGE_STDIN_INPUT). */
#define ARCA_STAGE_STDIN_NAME "(stdin)"

/*
 * The prefix of the param that marks an absent optional input in a key:
 * an optional input (arca_stage_spec's optional_inputs) whose file does
 * not exist enters the key as the param ARCA_STAGE_ABSENT_PARAM + NAME =
 * "1", NAME being its normalised logical name ("arca:absent:a/b.txt").
 * Params and secret params whose name starts with it are refused
 * (ARCA_EINVAL), so the marker cannot be confused with a caller's param.
 */
#define ARCA_STAGE_ABSENT_PARAM "arca:absent:"

/**
 * What to run and what its result depends on. Initialise with
 * ARCA_STAGE_SPEC_INIT; fields are only ever appended. Every pointer is
 * borrowed: it must stay valid until the arca_stage prepared from the
 * spec is freed (the spec itself too).
 */
typedef struct arca_stage_spec {
	unsigned int version;            /* ARCA_STAGE_SPEC_VERSION */
	const char *stage;               /* stage name (non-empty UTF-8) */
	/* The command, NULL-terminated; argv[0] is found as execvp() finds
	 * it (containing '/': relative to the working directory; else
	 * searched in $PATH, whose relative elements are relative to the
	 * working directory). May be NULL for a stage only committed by an
	 * embedding program (arca_stage_commit()); then tool_version must be
	 * set and arca_stage_run() refuses it. */
	char *const *argv;
	const arca_stage_input *inputs;
	size_t n_inputs;
	const arca_stage_param *params;
	size_t n_params;
	/* Only SHA-256(value) enters the key; the value is never stored. */
	const arca_stage_param *secret_params;
	size_t n_secret_params;
	/* Names of environment variables whose values (from the calling
	 * process's environment, unset included) enter the key. */
	const char *const *env;
	size_t n_env;
	/* Declared outputs: paths relative to the working directory, without
	 * "..", naming regular files (not directories, not symbolic links).
	 * Normalised as input names are, and entered in the key; an output
	 * that is also a file input is refused (arca_stage_run() removes
	 * outputs before the command runs). */
	const char *const *outputs;
	size_t n_outputs;
	/* The tool identity: tool_version when set; else the SHA-256 of the
	 * executable tool_path names (found as argv[0] is); else of argv[0]'s
	 * executable. */
	const char *tool_version;
	const char *tool_path;
	/* The stored result expires ttl_s seconds after it is stored (0:
	 * the store's default TTL, arca_store_get_options()'s default_ttl_s,
	 * from config.yaml's `ttl` or ARCA_TTL; none when that is 0 too). */
	uint64_t ttl_s;
	/* Tags attached to the stored result (arca_store_clear() by tag). */
	const char *const *tags;
	size_t n_tags;
	/* A cached result created more than max_age_s seconds ago is a miss
	 * (0: any age). */
	uint64_t max_age_s;
	/* The working directory: inputs and outputs are relative to it, the
	 * command runs in it. workdir (a path, relative to the current
	 * directory at arca_stage_prepare()) wins over workdir_fd (an open
	 * directory, borrowed); with neither (NULL and -1), the current
	 * directory of the process at each call. */
	const char *workdir;
	int workdir_fd;
	unsigned int flags;              /* ARCA_STAGE_NO_CACHE, _REFRESH,
	                                    _STDIN_INPUT */
	/* Where the command's stdout and stderr are passed through, live,
	 * while they are captured, and where a hit replays them: 1 and 2 by
	 * default; -1 discards. */
	int stdout_fd;
	int stderr_fd;
	/* Progress while inputs are hashed; may be NULL. */
	arca_progress_fn hash_progress;
	void *hash_progress_ctx;
	/* Events (miss, hit, started, stored, ...); may be NULL. */
	arca_stage_event_fn event;
	void *event_ctx;
	/* How long to wait for another holder's lease, in ms; 0: the
	 * store's lock_timeout_ms. */
	unsigned int lock_timeout_ms;
	/* Version 2. The command's stdin: an open descriptor, borrowed (0 by
	 * default: the caller's own stdin, inherited); -1: /dev/null.
	 * stdin is not in the key unless ARCA_STAGE_STDIN_INPUT is set; so
	 * that a result can never depend on bytes the key does not cover,
	 * arca_stage_run() runs the command without the cache (event
	 * ARCA_STAGE_EVENT_STDIN_UNCACHED) when this descriptor is a pipe, a
	 * socket, a regular file or a device other than a terminal and
	 * /dev/null. A terminal is not read by arca and stays cacheable: a
	 * command that reads it waits for a person, so a cached stage does
	 * not; /dev/null always reads as empty. A descriptor that is not
	 * open counts as /dev/null. With ARCA_STAGE_STDIN_INPUT it is read
	 * to its end by arca_stage_prepare(). */
	int stdin_fd;
	/* Version 3. Inputs that may be absent. Each one whose file exists
	 * is an input exactly as if it were in inputs (the same name
	 * normalisation, the same key; a FIFO, a device, a directory or a
	 * file that cannot be read is refused as it would be there). One
	 * whose file does not exist (stat(2) fails with ENOENT, a dangling
	 * symbolic link included; any other error is an error) enters the
	 * key instead as the param ARCA_STAGE_ABSENT_PARAM + NAME = "1",
	 * NAME being its normalised logical name: the action without the
	 * file is never the action with it. An optional input with a digest
	 * is present (its file is not looked at). Names are unique across
	 * inputs and optional_inputs, present or absent (ARCA_EEXISTS). */
	const arca_stage_input *optional_inputs;
	size_t n_optional_inputs;
	/* Version 4. How a hit materialises the outputs that are file blobs
	 * of the local store (an arca_link_mode): ARCA_LINK_DEFAULT (the
	 * default) takes the store's (arca_options.link: ARCA_LINK,
	 * config.yaml's `link:`, else auto). A mode the file system cannot
	 * do falls back to copy under ARCA_LINK_AUTO; demanded explicitly
	 * (reflink, hardlink, symlink) it fails the restore with ARCA_EINVAL
	 * naming the output and the mode ("output 'x': link hardlink: not
	 * possible here (the store is on another file system); use link:
	 * copy or auto"), and nothing is changed. See
	 * arca_stage_restore(). */
	unsigned int link;
} arca_stage_spec;

#define ARCA_STAGE_SPEC_INIT \
	{ ARCA_STAGE_SPEC_VERSION, NULL, NULL, NULL, 0, NULL, 0, NULL, 0, \
	  NULL, 0, NULL, 0, NULL, NULL, 0, NULL, 0, 0, NULL, -1, 0, 1, 2, \
	  NULL, NULL, NULL, NULL, 0, 0, NULL, 0, ARCA_LINK_DEFAULT }

/**
 * Why arca_stage_prepare() or arca_stage_run() failed, beyond the code:
 * what a front end needs to choose its exit status (`arca run` exits
 * 125, 126 or 127 as GNU env does).
 */
typedef enum arca_stage_failure {
	ARCA_STAGE_FAILURE_NONE = 0,
	ARCA_STAGE_FAILURE_SPEC = 1,      /* a bad spec: version, empty stage,
	                                     a name given twice, an unsafe
	                                     output path (ARCA_EINVAL,
	                                     ARCA_EEXISTS) */
	ARCA_STAGE_FAILURE_INPUT = 2,     /* an input is missing, unreadable or
	                                     not a regular file; declared stdin
	                                     cannot be read or copied */
	ARCA_STAGE_FAILURE_NOT_FOUND = 3, /* the command (or tool_path) is not
	                                     found */
	ARCA_STAGE_FAILURE_NOT_EXECUTABLE = 4, /* found, but not executable */
	ARCA_STAGE_FAILURE_TOOL = 5,      /* the tool's file cannot be read to
	                                     identify it */
	ARCA_STAGE_FAILURE_WORKDIR = 6,   /* the working directory cannot be
	                                     used */
	ARCA_STAGE_FAILURE_SYSTEM = 7     /* anything else: memory, the store,
	                                     starting the command, writing a
	                                     restored output */
} arca_stage_failure;

/**
 * Prepare a stage: resolve the working directory, digest the inputs,
 * find the command and digest the tool (unless tool_version names it:
 * then a hit needs no tool installed), and compute the action key.
 * With ARCA_STAGE_STDIN_INPUT, stdin_fd is read to its end here (this
 * blocks until its writer closes it) into a temporary file in the store's
 * tmp/, owned by the stage and removed by arca_stage_free().
 *
 * @param[out] out      the stage; free with arca_stage_free(). NULL on
 *                      error.
 * @param[out] failure  why it failed (ARCA_STAGE_FAILURE_NONE on
 *                      success); may be NULL.
 * @param[in]  store    open store (this thread's handle); may be NULL only
 *                      with ARCA_STAGE_NO_CACHE (and without
 *                      ARCA_STAGE_STDIN_INPUT). Borrowed.
 * @param[in]  spec     the spec (borrowed, see arca_stage_spec).
 * @return 0; ARCA_EINVAL (bad spec version or field; an input that is not
 *         a regular file; an output outside the working directory,
 *         "output '/x': outside the working directory (an output is a
 *         relative path without '..')"; an output that is also an input;
 *         an input named "(stdin)"; a param or secret param whose name
 *         starts with ARCA_STAGE_ABSENT_PARAM; arca_errmsg() names it);
 *         ARCA_EEXISTS (an input, param, env or output given twice; an
 *         optional input counts as an input whether present or not);
 *         ARCA_ENOTFOUND (an input, the working directory or the command
 *         not found); ARCA_EPERM (one that cannot be read or executed);
 *         ARCA_EIO (also: declared stdin cannot be read); with
 *         ARCA_STAGE_STDIN_INPUT also ARCA_EFULL (no space for the stdin
 *         copy in tmp/) and ARCA_EBUSY (stdin_fd is non-blocking and has
 *         nothing to read, or tmp/ is contended); ARCA_ENOMEM. The
 *         message reads as `arca run` prints it: "input 'x': No such file
 *         or directory", "command not found: x".
 */
int arca_stage_prepare(arca_stage **out, arca_stage_failure *failure,
		arca_store *store, const arca_stage_spec *spec);

/**
 * The action key of a prepared stage.
 *
 * @param[in] st  a prepared stage.
 * @return the key, owned by st, valid until arca_stage_free(st).
 */
const arca_digest *arca_stage_key(const arca_stage *st);

/**
 * The action of a prepared stage (its inputs, params, env, outputs and
 * tool identity as they entered the key).
 *
 * @param[in] st  a prepared stage.
 * @return the action, owned by st, valid until arca_stage_free(st).
 */
const arca_action *arca_stage_action(const arca_stage *st);

/**
 * Look the stage's key up, honouring max_age_s; restores nothing and
 * counts no hit (see arca_stage_restore()).
 *
 * @param[out] out  the manifest; free with arca_manifest_free().
 * @param[in]  st   a prepared stage (with a store).
 * @return 0 (cached); ARCA_ENOTFOUND (a miss: not cached, expired or too
 *         old); ARCA_EINVAL (no store); ARCA_EBUSY (the index stayed
 *         locked past busy_timeout_ms); ARCA_ECORRUPT (index.db damaged);
 *         ARCA_EIO; ARCA_ENOMEM (a failed lookup is counted as an error
 *         in the statistics).
 */
int arca_stage_lookup(arca_manifest **out, arca_stage *st);

/**
 * Restore every declared output of a hit, all or nothing: each is
 * materialised, verified, into a temporary file beside it (creating its
 * directory), the stdout and stderr blobs are read and verified, and only
 * then are the outputs renamed into place. On any failure no output is
 * changed. Counts a hit (bytes restored, time saved) in the statistics.
 * The streams are kept for arca_stage_replay(). The renames are done
 * holding the outputs' locks (see arca_stage_run()), so a hit never
 * replaces a file another run is writing and about to store.
 *
 * How each output is materialised is the spec's link (else the store's,
 * arca_options.link): a clone, a kernel copy, the bytes written (inline
 * blobs, blobs from a remote tier), or a hard or symbolic link to the
 * store's read-only file; the blob is verified before any of them. An
 * output whose file already has the recorded size, digest (from the
 * stat cache, else by reading it) and mode bits is left alone: nothing is
 * written there. One ARCA_STAGE_EVENT_RESTORED per output says which.
 * After a rename the output's stat data is recorded in the stat cache.
 *
 * @param[in] st  a prepared stage (with a store).
 * @param[in] m   its manifest (arca_stage_lookup()); borrowed.
 * @return 0; ARCA_ECORRUPT or ARCA_ENOTFOUND when the entry cannot serve
 *         (a blob corrupt or missing, an output not in the manifest): drop
 *         it and recompute; ARCA_EPERM, ARCA_EFULL, ARCA_EIO, ARCA_ENOMEM
 *         when an output could not be written (arca_errmsg() names it,
 *         "output 'x': ..."); ARCA_EINVAL (no store; an output's place is
 *         now a directory, or its parent a file; a demanded link mode the
 *         file system cannot do, "output 'x': link hardlink: not possible
 *         here (...)"); ARCA_ETIMEOUT when an
 *         output's lock was still held after the lock timeout.
 */
int arca_stage_restore(arca_stage *st, const arca_manifest *m);

/**
 * Write a hit's stdout and stderr to the spec's stdout_fd and stderr_fd
 * (skipping one that is -1). Errors writing to those descriptors are
 * ignored (the bytes are the command's output, not arca's result): a
 * destination that is closed (EPIPE) raises no SIGPIPE either.
 *
 * @param[in] st  a prepared stage.
 * @param[in] m   the manifest restored (the streams kept by
 *                arca_stage_restore() are used, else read and verified);
 *                borrowed for the call.
 * @return 0; ARCA_EINVAL (no streams kept by arca_stage_restore() and no
 *         store to read them from); ARCA_ECORRUPT; ARCA_ENOTFOUND;
 *         ARCA_EIO; ARCA_ENOMEM.
 */
int arca_stage_replay(arca_stage *st, const arca_manifest *m);

/**
 * Store the result of work an embedding program did itself: each declared
 * output (a regular file in the working directory), stdout and stderr as
 * blobs, then the manifest with the spec's TTL and tags. Counts a miss
 * (with the bytes stored) in the statistics. Unlike arca_stage_run(), it
 * neither removes stale outputs nor takes the output locks: a program
 * that commits its own work makes sure the files are the ones its work
 * wrote, and that nothing else writes them meanwhile.
 *
 * @param[out] out          the stored manifest; may be NULL (else free it
 *                          with arca_manifest_free()).
 * @param[in]  st           a prepared stage (with a store).
 * @param[in]  exit_status  the status to record (replayed by hits).
 * @param[in]  duration_ms  how long the work took, in ms (a hit reports it
 *                          as saved).
 * @param[in]  out_data     stdout bytes to record; may be NULL when
 *                          out_len is 0.
 * @param[in]  out_len      their length in bytes.
 * @param[in]  err_data     stderr bytes; may be NULL when err_len is 0.
 * @param[in]  err_len      their length in bytes.
 * The outputs and streams stay pinned (never evicted) from the moment
 * each is stored until the manifest is committed.
 *
 * @return 0; ARCA_ENOTFOUND (a declared output is missing: arca_errmsg()
 *         names it); ARCA_EINVAL (an output is not a regular file: a
 *         directory or a symbolic link, "output 'x' is a directory, not a
 *         file (declare the files inside it)"; no store); ARCA_EFULL (no
 *         space, or an output does not fit under the store's limit with
 *         everything else pinned or leased);
 *         ARCA_EPERM; ARCA_EFATAL; ARCA_EBUSY; ARCA_EIO; ARCA_ENOMEM. Nothing is stored under the key on
 *         error.
 */
int arca_stage_commit(arca_manifest **out, arca_stage *st, int exit_status,
		uint64_t duration_ms, const void *out_data, size_t out_len,
		const void *err_data, size_t err_len);

/** What arca_stage_run() did. */
typedef enum arca_stage_outcome {
	ARCA_STAGE_ERROR = 0,           /* failed before or instead of running
	                                   the command (see failure) */
	ARCA_STAGE_HIT = 1,             /* restored from the cache */
	ARCA_STAGE_STORED = 2,          /* ran, exited 0, result stored */
	ARCA_STAGE_RAN = 3,             /* ran with NO_CACHE and exited 0 */
	ARCA_STAGE_FAILED = 4,          /* ran, exited non-zero or killed */
	ARCA_STAGE_OUTPUT_MISSING = 5,  /* exited 0 without a declared output
	                                   (or with a directory or symbolic
	                                   link in its place) */
	ARCA_STAGE_CACHE_WRITE_FAILED = 6 /* exited 0 with every output, but
	                                     storing the result failed */
} arca_stage_outcome;

/** The result of arca_stage_run(). */
typedef struct arca_stage_result {
	arca_stage_outcome outcome;
	/* The command's exit status (128+N when killed by signal N); on a
	 * hit the recorded one; 0 with ARCA_STAGE_ERROR. */
	int exit_status;
	/* A hit: the recorded run time (saved); otherwise this run's wall
	 * time, in ms. */
	uint64_t duration_ms;
	arca_digest key;                /* the action key */
	arca_stage_failure failure;     /* with ARCA_STAGE_ERROR */
} arca_stage_result;

/**
 * Everything `arca run` does: unless NO_CACHE or REFRESH, look the key up
 * and on a hit restore the outputs and replay stdout and stderr. On a miss
 * take the key's lease (single-flight, as arca_get_or_compute(): one of
 * many processes asking runs it, the others wait and then hit; the wait
 * is bounded), run the command in the working directory with its stdout
 * and stderr passed through to the spec's fds and captured (into the
 * store's tmp/, which the next opener sweeps if this process dies), and
 * when it exits 0 having produced every declared output store the outputs,
 * the streams and the manifest (with TTL and tags). Events report each
 * step.
 *
 * Stale outputs. Before the command runs, the declared outputs left from
 * an earlier run are removed (regular files and symbolic links; a
 * directory is left and reported), as DVC does: an output the command
 * does not write is then "not produced" (ARCA_STAGE_OUTPUT_MISSING),
 * never a stale file stored as the command's. An output that is a
 * directory or a symbolic link after the run is not produced either
 * (links are not followed: a hit could only restore a regular file).
 *
 * Output locks. The key's lease keeps two runs of one key apart; two
 * runs of different keys writing the same output file in one directory
 * are kept apart by a lock on each declared output: a lease (flock(2) on
 * leases/<hex> in the store) on the SHA-256 of the output's absolute path
 * (the working directory through realpath(3), then the normalised
 * output). A miss holds them from removing the stale outputs through
 * running the command and storing its blobs; a hit holds them while it
 * renames the restored files into place (arca_stage_restore()). They are
 * taken in the order of those digests and always after the key's lease,
 * so runs sharing outputs never deadlock. A held lock is waited for
 * (ARCA_STAGE_EVENT_OUTPUT_WAIT) at most the lock timeout; then the run
 * fails with ARCA_ETIMEOUT without running the command. A lock file that
 * cannot be created is reported (ARCA_STAGE_EVENT_LEASE_FAILED) and
 * skipped. The locks die with their process, like leases.
 *
 * Stdin. Unless ARCA_STAGE_STDIN_INPUT declared it (then the command reads
 * the copy arca_stage_prepare() made), stdin is not in the key: when the
 * spec's stdin_fd is a pipe, a socket, a regular file or a device other
 * than a terminal or /dev/null, the command runs without the cache (as
 * with ARCA_STAGE_NO_CACHE: outcome ARCA_STAGE_RAN or ARCA_STAGE_FAILED)
 * after ARCA_STAGE_EVENT_STDIN_UNCACHED.
 *
 * The command inherits the caller's environment, its other descriptors
 * (those not close-on-exec) and its signal mask and dispositions (an
 * ignored signal stays ignored). SIGPIPE from writing to a closed stdout_fd
 * is kept from the process.
 *
 * @param[out] out  the result (always filled).
 * @param[in]  st   a prepared stage.
 * @return 0 whenever the command ran or a hit was served (out->outcome
 *         says how it went, a failing command included); on
 *         ARCA_STAGE_ERROR the code: ARCA_ENOTFOUND or ARCA_EPERM (the
 *         command not found or not executable: out->failure),
 *         ARCA_EINVAL (no argv; restoring a hit where an output's place
 *         is now a directory or its parent a file), ARCA_EBUSY (a capture
 *         file in tmp/ could not be locked), ARCA_EPERM, ARCA_EFULL,
 *         ARCA_EIO, ARCA_ENOMEM (restoring a hit, capturing, starting the
 *         command,
 *         removing a stale output: "output 'x': cannot remove the file
 *         left from an earlier run: ..."), ARCA_ETIMEOUT (an output's lock
 *         still held after the lock timeout: "output 'x': still being
 *         written by another process after N ms").
 */
int arca_stage_run(arca_stage_result *out, arca_stage *st);

/**
 * Whether a stage's declared outputs are in place after arca_stage_run():
 * it hit (ARCA_STAGE_HIT), or its command exited 0 having written every
 * output (ARCA_STAGE_STORED, ARCA_STAGE_RAN, or
 * ARCA_STAGE_CACHE_WRITE_FAILED: not stored, but the files are there all
 * the same). A program chaining stages goes on to the next one when this
 * says so.
 *
 * @param[in] r  the result (arca_stage_run()); may be NULL.
 * @return 1 when the outputs are in place; 0 otherwise (ARCA_STAGE_ERROR,
 *         ARCA_STAGE_FAILED, ARCA_STAGE_OUTPUT_MISSING, an unknown
 *         outcome, or r NULL).
 */
int arca_stage_result_ok(const arca_stage_result *r);

/** Free a prepared stage. Accepts NULL. */
void arca_stage_free(arca_stage *st);

/**
 * Find a command as execvp() would: a name containing '/' is used as is
 * (relative to dir); otherwise each $PATH element is tried
 * ("/usr/local/bin:/usr/bin:/bin" when PATH is unset; an empty element is
 * the directory dir, as are relative elements resolved against it).
 *
 * @param[out] out  malloc'd path of the executable (joined with dir when
 *                  relative); free with free(). NULL on error.
 * @param[in]  cmd  the command name.
 * @param[in]  dir  the directory relative names are resolved against, or
 *                  NULL for the current directory.
 * @return 0; ARCA_ENOTFOUND (not found); ARCA_EPERM (found, but not an
 *         executable regular file); ARCA_EINVAL (NULL or empty cmd);
 *         ARCA_ENOMEM.
 */
int arca_stage_find_command(char **out, const char *cmd, const char *dir);

/**
 * Normalise a relative or absolute path as stage input names and outputs
 * are (see arca_stage_input): empty and "." components dropped.
 *
 * @param[out] out   malloc'd result; free with free(). "." for a path
 *                   with no component left.
 * @param[in]  path  the path.
 * @return 0; ARCA_EINVAL (NULL or empty path); ARCA_ENOMEM.
 */
int arca_stage_normalize_path(char **out, const char *path);

/**
 * Where a stage spent its time, in nanoseconds of CLOCK_MONOTONIC
 * (clock_gettime(2)), for `arca run -v` and ARCA_TRACE=1. Fields are only
 * ever appended.
 */
typedef struct arca_stage_timings {
	/* arca_stage_prepare(): the working directory, hashing the inputs
	 * and the tool (or taking their digests from the stat cache), and
	 * computing the action key. */
	uint64_t key_ns;
	/* arca_stage_run(): looking the key up; on a miss also taking the
	 * key's lease and waiting for another holder. */
	uint64_t lookup_ns;
	/* A hit: reading the outputs' and streams' blobs and checking their
	 * digests (outputs are copied into their temporary files as they
	 * are read). */
	uint64_t verify_ns;
	/* A hit: the rest of serving it: the temporary files, the output
	 * locks, the renames into place and replaying stdout and stderr. */
	uint64_t restore_ns;
	/* A miss: running the command and storing its result. */
	uint64_t run_ns;
	/* key_ns plus the whole arca_stage_run() call. */
	uint64_t total_ns;
} arca_stage_timings;

/**
 * The timings of the stage's arca_stage_prepare() and of its last
 * arca_stage_run() (the run fields are 0 before one). A stage that was
 * recomputed after a stale hit adds both attempts' lookups.
 *
 * @param[out] out  the timings; must not be NULL.
 * @param[in]  st   a prepared stage; must not be NULL (there is no error
 *                  return: the call reads st's fields).
 */
void arca_stage_get_timings(arca_stage_timings *out, const arca_stage *st);

#ifdef __cplusplus
}
#endif

/* Running a pipeline file uses the types above. */
#include "pipeline_run.h"

#endif /* ARCA_STAGE_H */
