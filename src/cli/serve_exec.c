/*
 * `arca serve` in the arca binary: runs arca-serve, the executable the
 * server is built into (cmd_serve.c), with the same arguments, as git runs
 * its git-<command> programs. So libmicrohttpd, libxcrypt and the TLS
 * libraries libmicrohttpd links (GnuTLS, nettle, p11-kit, ...) are loaded
 * by the server only: every other command, a cache hit above all, starts
 * without them (docs/server.md, "arca-serve").
 *
 * arca-serve is looked up next to the running arca (the build tree, or
 * an install that puts both in one directory), then in
 * <arca's dir>/../ARCA_LIBEXEC_REL/arca/ (`cmake --install`, relocatable).
 */
#include "common.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef ARCA_LIBEXEC_REL
#define ARCA_LIBEXEC_REL "libexec"
#endif

int cli_argc;
char **cli_argv;

/* The directory of the running executable into dir; -1 if unknown. */
static int exe_dir(char *dir, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", dir, size - 1);
	char *slash;

	if (n <= 0 || (size_t)n >= size - 1)
		return -1;
	dir[n] = '\0';
	if ((slash = strrchr(dir, '/')) == NULL)
		return -1;
	*slash = '\0';
	return 0;
}

static int serve_exec(int argc, char **argv, cli_global *g)
{
	char dir[PATH_MAX], first[PATH_MAX + 32], second[PATH_MAX + 64];
	const char *found = NULL;

	(void)argc;
	(void)argv;
	(void)g;
	if (exe_dir(dir, sizeof(dir)) < 0) {
		fprintf(stderr, "arca serve: cannot find arca-serve: "
				"/proc/self/exe: %s\n", strerror(errno));
		return CLI_EXIT_STORE;
	}
	snprintf(first, sizeof(first), "%s/arca-serve", dir);
	snprintf(second, sizeof(second), "%s/../%s/arca/arca-serve", dir,
			ARCA_LIBEXEC_REL);
	if (access(first, X_OK) == 0)
		found = first;
	else if (access(second, X_OK) == 0)
		found = second;
	if (found == NULL) {
		fprintf(stderr, "arca serve: cannot find arca-serve (looked for "
				"%s and %s)\n", first, second);
		return CLI_EXIT_STORE;
	}
	fflush(NULL);
	cli_argv[0] = (char *)found;
	execv(found, cli_argv);
	fprintf(stderr, "arca serve: cannot run %s: %s\n", found,
			strerror(errno));
	return CLI_EXIT_STORE;
}

const cli_command cli_cmd_serve_exec = {
	"serve", CLI_SERVE_SUMMARY, serve_exec, cli_serve_usage
};
