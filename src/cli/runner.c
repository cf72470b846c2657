/* The CLI side of the stage runner (runner.h). */
#include "runner.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

/* The command being run, for the signal handler. */
static volatile sig_atomic_t child_pid;

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP };
#define N_FORWARDED (sizeof(forwarded) / sizeof(forwarded[0]))

void cli_runner_event(void *ctx, const arca_stage_event *ev)
{
	const cli_runner *r = ctx;
	char key8[9], dur[32];

	snprintf(key8, sizeof(key8), "%.8s", ev->key_hex);
	if (ev->kind != ARCA_STAGE_EVENT_STARTED)
		child_pid = 0;
	switch (ev->kind) {
	case ARCA_STAGE_EVENT_STARTED:
		child_pid = (sig_atomic_t)ev->pid;
		break;
	case ARCA_STAGE_EVENT_MISS:
		cli_error("%s %s %s", ev->refresh ? "refresh" : "miss", ev->stage,
				key8);
		break;
	case ARCA_STAGE_EVENT_HIT:
		cli_human_duration(dur, sizeof(dur), ev->duration_ms);
		cli_error("hit %s %s (saved %s)", ev->stage, key8, dur);
		break;
	case ARCA_STAGE_EVENT_STORED:
		cli_human_duration(dur, sizeof(dur), ev->duration_ms);
		cli_error("stored %s %s (ran %s)", ev->stage, key8, dur);
		break;
	case ARCA_STAGE_EVENT_RAN:
		break;
	case ARCA_STAGE_EVENT_FAILED:
		if (r == NULL || !r->no_cache)
			cli_error("%s failed with status %d; nothing cached",
					ev->stage, ev->exit_status);
		break;
	case ARCA_STAGE_EVENT_OUTPUT_MISSING:
		if (ev->message[0] != '\0')
			cli_error("%s: declared output '%s' %s; nothing cached",
					ev->stage, ev->path, ev->message);
		else
			cli_error("%s: declared output '%s' was not produced; "
					"nothing cached", ev->stage, ev->path);
		break;
	case ARCA_STAGE_EVENT_OUTPUT_WAIT:
		cli_error("waiting for output '%s' of %s (another process is "
				"writing it)", ev->path, ev->stage);
		break;
	case ARCA_STAGE_EVENT_STDIN_UNCACHED:
		cli_error("notice: stdin is %s and not declared (--stdin-in): "
				"running %s without the cache", ev->message,
				ev->stage);
		break;
	case ARCA_STAGE_EVENT_CACHE_WRITE_FAILED:
		cli_warn("could not cache %s: %s", ev->stage, ev->message);
		break;
	case ARCA_STAGE_EVENT_LEASE_WAIT:
		cli_error("waiting for %s %s (another process is computing it)",
				ev->stage, key8);
		break;
	case ARCA_STAGE_EVENT_LEASE_TIMEOUT:
		/* Tenths of a second, rounded down so that the timeout itself
		 * shows: "1", "0.5", "600". */
		cli_error("gave up waiting for %s %s after %g s; computing "
				"anyway", ev->stage, key8,
				(double)(ev->waited_ms / 100) / 10.0);
		break;
	case ARCA_STAGE_EVENT_CORRUPT:
		cli_error("cached entry for %s %s is corrupt; recomputing",
				ev->stage, key8);
		break;
	case ARCA_STAGE_EVENT_LOOKUP_FAILED:
		cli_warn("cache lookup for %s %s failed: %s; running it",
				ev->stage, key8, ev->message);
		break;
	case ARCA_STAGE_EVENT_LEASE_FAILED:
		cli_warn("cannot take the lease for %s %s: %s; running it "
				"without", ev->stage, key8, ev->message);
		break;
	case ARCA_STAGE_EVENT_REMOVE_FAILED:
		cli_warn("cannot remove the entry for %s %s: %s", ev->stage,
				key8, ev->message);
		break;
	case ARCA_STAGE_EVENT_RESTORED:
		if (r != NULL && r->verbose)
			cli_error("restored %s of %s: %s", ev->path, ev->stage,
					ev->message);
		break;
	case ARCA_STAGE_EVENT_STATS_FAILED:
		cli_warn("stats: %s", ev->message);
		break;
	}
}

static void forward_signal(int sig, siginfo_t *info, void *uctx)
{
	pid_t pid = (pid_t)child_pid;

	(void)uctx;
	if (pid <= 0) {
		/* No command running: the signal does what it would have. */
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	/*
	 * A terminal's ^C (si_code SI_KERNEL) already reached the child,
	 * which shares our process group; forward only what was sent to
	 * arca alone (kill, timeout, a supervisor).
	 */
	if (info == NULL || info->si_code != SI_KERNEL)
		kill(pid, sig);
}

int cli_runner_run(arca_stage_result *out, arca_stage *st)
{
	struct sigaction sa, old[N_FORWARDED];
	int installed[N_FORWARDED];
	size_t k;
	int error;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward_signal;
	sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: the runner retries EINTR */
	sigemptyset(&sa.sa_mask);
	for (k = 0; k < N_FORWARDED; k++) {
		installed[k] = 0;
		/* Ignored (nohup, a background job): stays ignored, for the
		 * command too. */
		if (sigaction(forwarded[k], NULL, &old[k]) == 0 &&
		    old[k].sa_handler != SIG_IGN &&
		    sigaction(forwarded[k], &sa, NULL) == 0)
			installed[k] = 1;
	}
	child_pid = 0;
	fflush(NULL);
	error = arca_stage_run(out, st);
	child_pid = 0;
	for (k = 0; k < N_FORWARDED; k++)
		if (installed[k])
			sigaction(forwarded[k], &old[k], NULL);
	return error;
}

int cli_runner_error(int code, arca_stage_failure failure)
{
	cli_error("%s", cli_lib_detail(code));
	switch (failure) {
	case ARCA_STAGE_FAILURE_NOT_FOUND:
		return CLI_RUN_EXIT_NOTFOUND;
	case ARCA_STAGE_FAILURE_NOT_EXECUTABLE:
		return CLI_RUN_EXIT_NOEXEC;
	default:
		return CLI_RUN_EXIT_ARCA;
	}
}

int cli_runner_status(const arca_stage_result *res)
{
	switch (res->outcome) {
	case ARCA_STAGE_OUTPUT_MISSING:
		return CLI_RUN_EXIT_OUTPUT;
	case ARCA_STAGE_ERROR:
		return CLI_RUN_EXIT_ARCA;
	default:
		return res->exit_status;
	}
}
