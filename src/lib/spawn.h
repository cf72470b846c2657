/*
 * Running a stage's command (stage.c): posix_spawn in a working
 * directory, its stdout and stderr passed through to live descriptors
 * and teed into capture files. Internal.
 */
#ifndef ARCA_SPAWN_H
#define ARCA_SPAWN_H

#include <stddef.h>
#include <stdint.h>

typedef struct arca__spawn {
	const char *path;        /* the executable */
	char *const *argv;       /* NULL-terminated */
	const char *dir;         /* where it runs; NULL: the current one */
	/* The child's stdin: 0 (the default of a zeroed struct) inherits
	 * the caller's; -1 is /dev/null; another descriptor is dup2'd. */
	int in_fd;
	int live_out, live_err;  /* pass-through destinations; -1: discard */
	int capture;             /* non-zero: tee into cap_out / cap_err */
	int cap_out, cap_err;    /* capture files (with capture) */
	/* Called once the child exists, with the INT/TERM/HUP signals still
	 * blocked in this thread (they are delivered when it returns). */
	void (*started)(void *ctx, long pid);
	void *ctx;
} arca__spawn;

typedef struct arca__spawn_result {
	int status;              /* exit code; 128+N for signal N */
	uint64_t duration_ms;    /* wall time */
	int capture_errno;       /* a failed capture write, else 0 */
} arca__spawn_result;

/*
 * Run the command to completion. Returns 0 with *out filled; or, when it
 * could not be started, ARCA_ENOTFOUND (no such executable), ARCA_EPERM
 * (not executable), ARCA_EIO / ARCA_ENOMEM (pipes, spawning), with the
 * message "cannot execute PATH: ..." or what failed.
 */
int arca__spawn_run(arca__spawn_result *out, const arca__spawn *sp);

/* Write all of buf to fd (EINTR retried). SIGPIPE must be blocked by
 * the caller when fd may be a closed pipe. 0 or -1 with errno. */
int arca__spawn_write_all(int fd, const void *buf, size_t len);

/*
 * Block SIGPIPE in the calling thread (*saved gets the old mask); after
 * writes that may have raised it, arca__sigpipe_end() consumes a SIGPIPE
 * that this thread made pending and restores the mask.
 */
#include <signal.h>
void arca__sigpipe_begin(sigset_t *saved, int *was_pending);
void arca__sigpipe_end(const sigset_t *saved, int was_pending);

#endif
