/*
 * Running a stage's command (spawn.h). posix_spawn (glibc's is vfork-like
 * and reports exec failures to the parent) with
 * posix_spawn_file_actions_addchdir_np() for the working directory, so
 * the caller's own directory never changes. No signal handler is
 * installed: the front end forwards signals itself, from the pid passed
 * to the started callback. SIGPIPE is blocked in this thread while the
 * command's output is passed through, so a closed reader cannot kill an
 * embedding program; the command itself gets the caller's signal mask.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, posix_spawn_file_actions_addchdir_np */
#endif
#include "spawn.h"

#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int arca__spawn_write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void arca__sigpipe_begin(sigset_t *saved, int *was_pending)
{
	sigset_t block, pending;

	sigemptyset(&block);
	sigaddset(&block, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &block, saved);
	*was_pending = sigpending(&pending) == 0 &&
		sigismember(&pending, SIGPIPE) == 1;
}

void arca__sigpipe_end(const sigset_t *saved, int was_pending)
{
	static const struct timespec zero = { 0, 0 };
	sigset_t pipe_set, pending;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	/* Consume only a SIGPIPE we raised, and only when it was not blocked
	 * before (then it is the caller's to see). */
	if (!was_pending && sigismember(saved, SIGPIPE) != 1 &&
	    sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}

/*
 * Copy the child's stdout and stderr pipes to the live descriptors and
 * the capture files until both pipes close.
 */
static void tee_loop(int *capture_errno, const int pipes[2], const int live[2],
		const int caps[2])
{
	struct pollfd pfd[2];
	int pass[2], open_count = 2, i;
	char *buf = malloc(65536);

	for (i = 0; i < 2; i++) {
		pfd[i].fd = pipes[i];
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
		pass[i] = live[i] >= 0;
	}
	while (open_count > 0) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < 2; i++) {
			ssize_t n;

			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			n = buf != NULL ? read(pfd[i].fd, buf, 65536) : 0;
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open_count--;
				continue;
			}
			/* A reader that went away (EPIPE) stops the
			 * pass-through only. */
			if (pass[i] && arca__spawn_write_all(live[i], buf,
					(size_t)n) < 0)
				pass[i] = 0;
			if (*capture_errno == 0 &&
			    arca__spawn_write_all(caps[i], buf, (size_t)n) < 0)
				*capture_errno = errno ? errno : EIO;
		}
	}
	if (buf == NULL && *capture_errno == 0)
		*capture_errno = ENOMEM;
	for (i = 0; i < 2; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	free(buf);
}

/* Make the child's fd target be src (-1: /dev/null). */
static int route_fd(posix_spawn_file_actions_t *fa, int src, int target)
{
	if (src == target)
		return 0;
	if (src < 0)
		return posix_spawn_file_actions_addopen(fa, target, "/dev/null",
				O_WRONLY, 0);
	return posix_spawn_file_actions_adddup2(fa, src, target);
}

int arca__spawn_run(arca__spawn_result *out, const arca__spawn *sp)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t block, saved, pipe_saved;
	int pipes[2][2] = { { -1, -1 }, { -1, -1 } };
	int have_fa = 0, have_attr = 0, pipe_pending = 0, masked = 0;
	int status = 0, err, i, error;
	uint64_t start;
	pid_t pid = -1;

	memset(out, 0, sizeof(*out));
	if (sp->capture) {
		for (i = 0; i < 2; i++) {
			if (pipe2(pipes[i], O_CLOEXEC) < 0) {
				error = arca__error_errno(errno, "cannot create",
						"a pipe");
				goto cleanup;
			}
		}
	}
	if ((err = posix_spawn_file_actions_init(&fa)) != 0) {
		error = arca__error(ARCA_ENOMEM, "posix_spawn: %s", strerror(err));
		goto cleanup;
	}
	have_fa = 1;
	if ((err = posix_spawnattr_init(&attr)) != 0) {
		error = arca__error(ARCA_ENOMEM, "posix_spawn: %s", strerror(err));
		goto cleanup;
	}
	have_attr = 1;
	if (sp->capture)
		err = posix_spawn_file_actions_adddup2(&fa, pipes[0][1],
				STDOUT_FILENO);
	else
		err = route_fd(&fa, sp->live_out, STDOUT_FILENO);
	if (err == 0) {
		if (sp->capture)
			err = posix_spawn_file_actions_adddup2(&fa, pipes[1][1],
					STDERR_FILENO);
		else
			err = route_fd(&fa, sp->live_err, STDERR_FILENO);
	}
	if (err == 0 && sp->in_fd < 0)
		err = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO,
				"/dev/null", O_RDONLY, 0);
	else if (err == 0 && sp->in_fd != STDIN_FILENO)
		err = posix_spawn_file_actions_adddup2(&fa, sp->in_fd,
				STDIN_FILENO);
	if (err == 0 && sp->dir != NULL)
		err = posix_spawn_file_actions_addchdir_np(&fa, sp->dir);
	if (err != 0) {
		error = arca__error(ARCA_ENOMEM, "posix_spawn: %s", strerror(err));
		goto cleanup;
	}

	/* Until the started callback has the pid, signals a front end
	 * forwards stay pending; SIGPIPE stays blocked for the pass-through.
	 * The child starts with the caller's mask. */
	arca__sigpipe_begin(&pipe_saved, &pipe_pending);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &saved);
	masked = 1;
	posix_spawnattr_setsigmask(&attr, &pipe_saved);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);

	start = now_ms();
	err = posix_spawn(&pid, sp->path, &fa, &attr, sp->argv, environ);
	if (err != 0) {
		pthread_sigmask(SIG_SETMASK, &saved, NULL);
		error = arca__error(err == ENOENT || err == ENOTDIR ?
				ARCA_ENOTFOUND : err == ENOMEM ? ARCA_ENOMEM :
				err == EAGAIN ? ARCA_EIO : ARCA_EPERM,
				"cannot execute %s: %s", sp->path, strerror(err));
		goto cleanup;
	}
	if (sp->started != NULL)
		sp->started(sp->ctx, (long)pid);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);

	if (sp->capture) {
		int rd[2], live[2], caps[2];

		close(pipes[0][1]);
		close(pipes[1][1]);
		pipes[0][1] = pipes[1][1] = -1;
		rd[0] = pipes[0][0];
		rd[1] = pipes[1][0];
		live[0] = sp->live_out;
		live[1] = sp->live_err;
		caps[0] = sp->cap_out;
		caps[1] = sp->cap_err;
		tee_loop(&out->capture_errno, rd, live, caps);
		pipes[0][0] = pipes[1][0] = -1;
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			error = arca__error_errno(errno, "cannot wait for",
					sp->path);
			goto cleanup;
		}
	}
	out->duration_ms = now_ms() - start;
	if (WIFEXITED(status))
		out->status = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		out->status = 128 + WTERMSIG(status);
	else
		out->status = 125;
	error = 0;

cleanup:
	if (masked)
		arca__sigpipe_end(&pipe_saved, pipe_pending);
	if (have_fa)
		posix_spawn_file_actions_destroy(&fa);
	if (have_attr)
		posix_spawnattr_destroy(&attr);
	for (i = 0; i < 2; i++) {
		if (pipes[i][0] >= 0)
			close(pipes[i][0]);
		if (pipes[i][1] >= 0)
			close(pipes[i][1]);
	}
	return error;
}
