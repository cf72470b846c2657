/*
 * bench_exec — the wall time of a command, run RUNS times as a process
 * of its own (bench/bench_hit.sh).
 *
 * Usage: bench_exec [-n RUNS] [-w WARMUP] [-C DIR] [-u FILE]... [-s] [-v]
 *                   -- CMD [ARG...]
 *
 *   -n RUNS    timed runs (default 20)
 *   -w WARMUP  untimed runs before them (default 1)
 *   -C DIR     change to DIR first (every run starts there)
 *   -u FILE    unlink FILE before every run, outside the timing (missing
 *              is fine); repeatable, at most 16
 *   -s         sync() before every run, outside the timing, so that no run
 *              pays for the writeback of the one before it
 *   -v         leave CMD's stdout and stderr alone (default: /dev/null)
 *
 * Each run is posix_spawnp() of CMD then waitpid(), timed with
 * CLOCK_MONOTONIC from just before the spawn to just after the wait: what
 * a shell or a build tool pays for the command, process start-up
 * included. A run that does not exit 0 stops everything with status 1
 * (a benchmark of a failing command measures nothing). Prints one line:
 *
 *   median_ns=… min_ns=… max_ns=… runs=…
 *
 * This is a program rather than a loop of `date +%s%N` in bash because
 * the shell's own fork and date's start-up (a millisecond or two here)
 * would be as large as some of the figures.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_UNLINK 16

extern char **environ;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
		noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench_exec: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static long parse_count(const char *s, const char *opt, long min)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < min || v > 1000000)
		die("%s '%s': expected a whole number from %ld", opt, s, min);
	return v;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		die("clock_gettime: %s", strerror(errno));
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* One run of argv: the nanoseconds from spawn to reaped exit. */
static uint64_t run_once(char **argv, const posix_spawn_file_actions_t *fa,
		char **unlinks, int nunlink, int do_sync)
{
	uint64_t t0, t1;
	pid_t pid;
	int i, rc, status;

	for (i = 0; i < nunlink; i++)
		if (unlink(unlinks[i]) != 0 && errno != ENOENT)
			die("unlink %s: %s", unlinks[i], strerror(errno));
	if (do_sync)
		sync();
	t0 = now_ns();
	rc = posix_spawnp(&pid, argv[0], fa, NULL, argv, environ);
	if (rc != 0)
		die("cannot run %s: %s", argv[0], strerror(rc));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid %s: %s", argv[0], strerror(errno));
	t1 = now_ns();
	if (WIFSIGNALED(status))
		die("%s killed by signal %d", argv[0], WTERMSIG(status));
	if (WEXITSTATUS(status) != 0)
		die("%s exited %d (run it by hand to see why)", argv[0],
				WEXITSTATUS(status));
	return t1 - t0;
}

int main(int argc, char **argv)
{
	posix_spawn_file_actions_t fa;
	char *unlinks[MAX_UNLINK];
	const char *dir = NULL;
	uint64_t *ns, median;
	long runs = 20, warmup = 1, i;
	int nunlink = 0, verbose = 0, do_sync = 0, opt, rc;

	while ((opt = getopt(argc, argv, "+n:w:C:u:sv")) != -1) {
		switch (opt) {
		case 'n':
			runs = parse_count(optarg, "-n", 1);
			break;
		case 'w':
			warmup = parse_count(optarg, "-w", 0);
			break;
		case 'C':
			dir = optarg;
			break;
		case 'u':
			if (nunlink == MAX_UNLINK)
				die("-u: at most %d files", MAX_UNLINK);
			unlinks[nunlink++] = optarg;
			break;
		case 's':
			do_sync = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			fputs("usage: bench_exec [-n RUNS] [-w WARMUP] [-C DIR] "
			      "[-u FILE]... [-s] [-v] -- CMD [ARG...]\n", stderr);
			return 2;
		}
	}
	if (optind >= argc)
		die("no command (usage: bench_exec [OPTIONS] -- CMD [ARG...])");
	argv += optind;
	if (dir && chdir(dir) != 0)
		die("chdir %s: %s", dir, strerror(errno));

	rc = posix_spawn_file_actions_init(&fa);
	if (rc != 0)
		die("posix_spawn_file_actions_init: %s", strerror(rc));
	if (!verbose) {
		rc = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null",
				O_WRONLY, 0);
		if (rc == 0)
			rc = posix_spawn_file_actions_adddup2(&fa, 1, 2);
		if (rc != 0)
			die("posix_spawn_file_actions: %s", strerror(rc));
	}

	ns = calloc((size_t)runs, sizeof(*ns));
	if (!ns)
		die("out of memory");
	for (i = 0; i < warmup; i++)
		(void)run_once(argv, &fa, unlinks, nunlink, do_sync);
	for (i = 0; i < runs; i++)
		ns[i] = run_once(argv, &fa, unlinks, nunlink, do_sync);
	posix_spawn_file_actions_destroy(&fa);

	qsort(ns, (size_t)runs, sizeof(*ns), cmp_u64);
	median = runs % 2 ? ns[runs / 2] : (ns[runs / 2 - 1] + ns[runs / 2]) / 2;
	printf("median_ns=%llu min_ns=%llu max_ns=%llu runs=%ld\n",
			(unsigned long long)median, (unsigned long long)ns[0],
			(unsigned long long)ns[runs - 1], runs);
	free(ns);
	return 0;
}
