/* POSIX file helpers for the local store. */
#include "fsutil.h"

#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

char *arca__path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = malloc(la + lb + 2);

	if (p == NULL)
		return NULL;
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

int arca__mkdir_p(const char *path)
{
	char *copy = arca__strdup(path), *p;
	struct stat st;
	int error = 0;

	if (copy == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	for (p = copy + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		{
			char saved = *p;

			*p = '\0';
			if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
				error = arca__error_errno(errno,
						"cannot create directory", copy);
				goto cleanup;
			}
			*p = saved;
		}
		if (*p == '\0')
			break;
	}
	if (stat(path, &st) != 0) {
		error = arca__error_errno(errno, "cannot stat", path);
		goto cleanup;
	}
	if (!S_ISDIR(st.st_mode))
		error = arca__error(ARCA_EINVAL, "%s: not a directory", path);
cleanup:
	free(copy);
	return error;
}

int arca__mkdir_parents(const char *path)
{
	char *dir = arca__strdup(path);
	char *p;
	int rc = -1;

	if (dir == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if ((p = strrchr(dir, '/')) == NULL || p == dir) {
		rc = 0;
		goto cleanup;
	}
	*p = '\0';
	for (p = dir + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0777) < 0 && errno != EEXIST)
			goto cleanup;
		*p = '/';
	}
	if (mkdir(dir, 0777) < 0 && errno != EEXIST)
		goto cleanup;
	rc = 0;
cleanup:
	free(dir);
	return rc;
}

int arca__fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), error = 0;

	if (fd < 0)
		return arca__error_errno(errno, "cannot open directory", path);
	if (fsync(fd) != 0 && errno != EINVAL)
		error = arca__error_errno(errno, "cannot fsync directory", path);
	close(fd);
	return error;
}

int arca__write_all(int fd, const void *data, size_t len, const char *what)
{
	const unsigned char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return arca__error_errno(errno, "cannot write", what);
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t arca__read_full(int fd, void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int arca__tmpfile(int *fd_out, char **path_out, const char *dir,
		const char *prefix, int lock)
{
	char *path = NULL;
	struct stat a, b;
	int fd = -1, tries;

	*fd_out = -1;
	*path_out = NULL;
	for (tries = 0; tries < 10; tries++) {
		free(path);
		if (asprintf(&path, "%s/%s%ld-XXXXXX", dir, prefix,
				(long)getpid()) < 0) {
			path = NULL;
			return arca__error(ARCA_ENOMEM, "out of memory");
		}
		fd = mkostemp(path, O_CLOEXEC);
		if (fd < 0) {
			int error = arca__error_errno(errno,
					"cannot create temporary file in", dir);

			free(path);
			return error;
		}
		if (!lock)
			break;
		/*
		 * Between mkostemp and flock a concurrent sweep could take
		 * this file for a dead writer's and unlink it: if the name no
		 * longer leads to our inode, start again.
		 */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &a) == 0 &&
				stat(path, &b) == 0 && a.st_ino == b.st_ino &&
				a.st_dev == b.st_dev)
			break;
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		free(path);
		return arca__error(ARCA_EBUSY,
				"cannot hold a temporary file in %s", dir);
	}
	*fd_out = fd;
	*path_out = path;
	return 0;
}

void arca__sweep_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		int fd;

		if (e->d_name[0] == '.')
			continue;
		fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC |
				O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0)
			continue;
		/* A live writer holds LOCK_EX until its file is renamed. */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			unlinkat(dirfd(d), e->d_name, 0);
		close(fd);
	}
	closedir(d);
}

char *arca__dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *out;

	if (slash == NULL)
		return arca__strdup(".");
	if (slash == path)
		return arca__strdup("/");
	out = malloc((size_t)(slash - path) + 1);
	if (out == NULL)
		return NULL;
	memcpy(out, path, (size_t)(slash - path));
	out[slash - path] = '\0';
	return out;
}
