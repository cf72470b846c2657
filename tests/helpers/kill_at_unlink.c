/*
 * kill_at_unlink: an LD_PRELOAD library for tests. The process SIGKILLs
 * itself just before its (ARCA_KILL_AT + 1)th unlink of a file under
 * $ARCA_KILL_ROOT/blobs/, so a test can stop a removal between the commit
 * that deleted its index rows and the unlinks of their files, the window
 * no timing can hit reliably (tests/cli/test_killed_removal.sh).
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static long seen;

static void maybe_die(const char *path)
{
	const char *root = getenv("ARCA_KILL_ROOT");
	const char *at = getenv("ARCA_KILL_AT");
	char prefix[4096];

	if (root == NULL || at == NULL || path == NULL)
		return;
	snprintf(prefix, sizeof(prefix), "%s/blobs/", root);
	if (strncmp(path, prefix, strlen(prefix)) != 0)
		return;
	if (seen++ >= atol(at))
		raise(SIGKILL);
}

int unlink(const char *path)
{
	if (real_unlink == NULL)
		real_unlink = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
	maybe_die(path);
	return real_unlink(path);
}

int unlinkat(int dirfd, const char *path, int flags)
{
	if (real_unlinkat == NULL)
		real_unlinkat = (int (*)(int, const char *, int))
			dlsym(RTLD_NEXT, "unlinkat");
	if (dirfd == AT_FDCWD)
		maybe_die(path);
	return real_unlinkat(dirfd, path, flags);
}
