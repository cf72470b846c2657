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
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h> /* FICLONE */

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
	/* The common case, an existing directory (every open of a store
	 * checks four): one stat(2), not a mkdir(2) per component. */
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		goto cleanup;
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

/* Whether base is a name make_temp_name() makes: ".NAME.arca-XXXXXX". */
static int is_temp_name(const char *base)
{
	size_t len = strlen(base), i;
	const char *tail;

	if (len < sizeof(".x.arca-XXXXXX") - 1 || base[0] != '.')
		return 0;
	tail = base + len - 6;
	if (strncmp(tail - 6, ".arca-", 6) != 0)
		return 0;
	for (i = 0; i < 6; i++)
		if (!((tail[i] >= '0' && tail[i] <= '9') ||
		      (tail[i] >= 'a' && tail[i] <= 'z') ||
		      (tail[i] >= 'A' && tail[i] <= 'Z')))
			return 0;
	return 1;
}

/* A dead writer's record names its temp file: remove that file, and
 * nothing that does not look like one. */
static void sweep_recorded(int fd)
{
	char buf[4097], *base;
	struct stat st;
	ssize_t n = arca__read_full(fd, buf, sizeof(buf) - 1);

	if (n <= 1 || buf[0] != '/')
		return;
	buf[n] = '\0';
	if (strlen(buf) != (size_t)n)
		return;
	base = strrchr(buf, '/') + 1;
	/* A link (link: hardlink or symlink) goes as a file does: unlinking
	 * either kind leaves the store's file alone. */
	if (is_temp_name(base) && lstat(buf, &st) == 0 &&
	    (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
		unlink(buf);
}

/* path's directory + "/.BASE.arca-XXXXXX", the X's fresh each call. */
static char *make_temp_name(const char *path)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyz"
			"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	static unsigned long counter;
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
	const char *base = slash ? slash + 1 : path;
	size_t len = dirlen + strlen(base) + sizeof(".arca-XXXXXX") + 2;
	char *tmp = malloc(len), *x;
	struct timespec ts;
	unsigned long long v;
	int i;

	if (tmp == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	v = ((unsigned long long)ts.tv_nsec << 16) ^ (unsigned long long)ts.tv_sec ^
		((unsigned long long)getpid() << 32) ^ (++counter * 0x9e3779b97f4a7c15ULL);
	snprintf(tmp, len, "%.*s.%s.arca-XXXXXX", (int)dirlen, path, base);
	x = tmp + strlen(tmp) - 6;
	for (i = 0; i < 6; i++, v /= 62)
		x[i] = chars[v % 62];
	return tmp;
}

/* The fallback: a named temp file, recorded first in note_dir. With
 * target: the temp name is a hard link (symbolic: a symbolic link) to
 * target instead, and pf->fd stays -1. */
static int pubfile_open_named(arca__pubfile *pf, const char *path,
		const char *note_dir, const char *target, int symbolic)
{
	int made = 0;

	char *dir = NULL, *real = NULL, *abs = NULL;
	int tries, saved;

	if (note_dir != NULL) {
		dir = arca__dirname(path);
		real = dir ? realpath(dir, NULL) : NULL;
		/* No record (a read-only store): restore all the same. */
		if (real == NULL || arca__tmpfile(&pf->note_fd, &pf->note,
				note_dir, "restore-", 1) < 0) {
			arca__error_clear();
			pf->note_fd = -1;
			pf->note = NULL;
		}
	}
	for (tries = 0; tries < 100; tries++) {
		free(pf->tmp);
		if ((pf->tmp = make_temp_name(path)) == NULL)
			goto fail;
		if (pf->note != NULL) {
			const char *base = strrchr(pf->tmp, '/');

			base = base ? base + 1 : pf->tmp;
			free(abs);
			if ((abs = arca__path_join(real, base)) == NULL ||
			    ftruncate(pf->note_fd, 0) != 0 ||
			    pwrite(pf->note_fd, abs, strlen(abs), 0) !=
					(ssize_t)strlen(abs))
				goto fail;
		}
		if (target != NULL)
			made = (symbolic ? symlink(target, pf->tmp) :
					link(target, pf->tmp)) == 0;
		else
			made = (pf->fd = open(pf->tmp, O_WRONLY | O_CREAT |
					O_EXCL | O_CLOEXEC, 0600)) >= 0;
		if (made)
			break;
		if (errno != EEXIST)
			goto fail;
	}
	if (!made) {
		errno = EEXIST;
		goto fail;
	}
	free(dir);
	free(real);
	free(abs);
	return 0;
fail:
	saved = errno;
	free(pf->tmp);
	pf->tmp = NULL;
	arca__pubfile_discard(pf);
	free(dir);
	free(real);
	free(abs);
	errno = saved;
	return -1;
}

int arca__pubfile_open(arca__pubfile *pf, const char *path,
		const char *note_dir)
{
	char *dir = arca__dirname(path);
	char proc[64];
	int fd;

	pf->fd = pf->note_fd = -1;
	pf->tmp = pf->note = NULL;
	if (dir == NULL) {
		errno = ENOMEM;
		return -1;
	}
#ifdef O_TMPFILE
	/* ARCA_NO_O_TMPFILE forces the fallback (to test it). */
	fd = getenv("ARCA_NO_O_TMPFILE") ? -1 :
		open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0 && getenv("ARCA_NO_O_TMPFILE") == NULL &&
	    errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL &&
	    errno != ENOSYS) {
		int saved = errno;

		free(dir);
		errno = saved;
		return -1;
	}
	if (fd >= 0) {
		/* Publication links it through /proc; without /proc it
		 * could not be named. */
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if (access(proc, F_OK) == 0) {
			pf->fd = fd;
			free(dir);
			return 0;
		}
		close(fd);
	}
#else
	(void)proc;
	(void)fd;
#endif
	free(dir);
	return pubfile_open_named(pf, path, note_dir, NULL, 0);
}

int arca__pubfile_open_link(arca__pubfile *pf, const char *target,
		const char *path, const char *note_dir, int symbolic)
{
	pf->fd = pf->note_fd = -1;
	pf->tmp = pf->note = NULL;
	return pubfile_open_named(pf, path, note_dir, target, symbolic);
}

int arca__pubfile_publish(arca__pubfile *pf, const char *path)
{
	return arca__pubfile_publish_stat(pf, path, NULL);
}

int arca__pubfile_publish_stat(arca__pubfile *pf, const char *path,
		struct stat *st_out)
{
	char proc[64], *name = NULL;
	struct stat st;
	int tries, saved;

	/* A rename replaces whatever path names: never a device, a FIFO or
	 * a socket (run as root, `-o /dev/null` would replace the system's
	 * /dev/null with a regular file), never a directory. A symbolic
	 * link is replaced, not followed, as before. */
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) &&
	    !S_ISLNK(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EEXIST;
		return -1;
	}
	if (pf->tmp == NULL) {
		/* Named for two system calls: linkat(2) cannot replace. */
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pf->fd);
		for (tries = 0; tries < 100; tries++) {
			free(name);
			if ((name = make_temp_name(path)) == NULL)
				return -1;
			if (linkat(AT_FDCWD, proc, AT_FDCWD, name,
					AT_SYMLINK_FOLLOW) == 0)
				break;
#ifdef AT_EMPTY_PATH
			if (errno != EEXIST &&
			    linkat(pf->fd, "", AT_FDCWD, name,
					AT_EMPTY_PATH) == 0)
				break;
#endif
			if (errno != EEXIST)
				goto fail;
		}
		if (tries == 100) {
			errno = EEXIST;
			goto fail;
		}
		if (rename(name, path) != 0) {
			saved = errno;
			unlink(name);
			errno = saved;
			goto fail;
		}
		free(name);
		name = NULL;
	} else if (rename(pf->tmp, path) != 0) {
		goto fail;
	} else {
		free(pf->tmp);
		pf->tmp = NULL;
	}
	if (pf->fd < 0)
		return 0;
	/* After the rename (which changes the inode's ctime), before
	 * anyone else can have the file open through its name. */
	if (st_out != NULL && fstat(pf->fd, st_out) != 0)
		memset(st_out, 0, sizeof(*st_out));
	saved = close(pf->fd);
	pf->fd = -1;
	return saved;
fail:
	saved = errno;
	free(name);
	errno = saved;
	return -1;
}

int arca__reflink(int dst_fd, int src_fd)
{
#ifdef FICLONE
	return ioctl(dst_fd, FICLONE, src_fd);
#else
	(void)dst_fd;
	(void)src_fd;
	errno = EOPNOTSUPP;
	return -1;
#endif
}

/* Bytes from..size of src to dst at the same offsets, by read and
 * write. */
static int copy_rw(int dst_fd, int src_fd, uint64_t from, uint64_t size)
{
	char buf[1 << 16];
	uint64_t off = from;

	while (off < size) {
		size_t want = size - off < sizeof(buf) ?
			(size_t)(size - off) : sizeof(buf);
		ssize_t n = pread(src_fd, buf, want, (off_t)off);
		size_t done = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			/* Shorter than said: the caller compares sizes. */
			errno = EIO;
			return -1;
		}
		while (done < (size_t)n) {
			ssize_t w = pwrite(dst_fd, buf + done, (size_t)n - done,
					(off_t)(off + done));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -1;
			done += (size_t)w;
		}
		off += (uint64_t)n;
	}
	return 0;
}

int arca__copy_fd(int dst_fd, int src_fd, uint64_t size)
{
	loff_t in = 0, out = 0;

	/* ARCA_NO_COPY_FILE_RANGE forces read and write (to test them). */
	while (getenv("ARCA_NO_COPY_FILE_RANGE") == NULL &&
	       (uint64_t)in < size) {
		size_t want = size - (uint64_t)in > (1u << 30) ?
			(1u << 30) : (size_t)(size - (uint64_t)in);
		ssize_t n = copy_file_range(src_fd, &in, dst_fd, &out, want, 0);

		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		/* Not between these files (another file system before Linux
		 * 5.3, a file system without it, an old kernel): the rest by
		 * read and write. */
		if (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP ||
		    errno == EINVAL)
			break;
		return -1;
	}
	return copy_rw(dst_fd, src_fd, (uint64_t)in, size);
}

void arca__pubfile_discard(arca__pubfile *pf)
{
	if (pf->fd >= 0)
		close(pf->fd);
	if (pf->tmp != NULL)
		unlink(pf->tmp);
	/* The record goes after the file it names. */
	if (pf->note != NULL)
		unlink(pf->note);
	if (pf->note_fd >= 0)
		close(pf->note_fd);
	free(pf->tmp);
	free(pf->note);
	pf->fd = pf->note_fd = -1;
	pf->tmp = pf->note = NULL;
}

void arca__sweep_tmp(const char *dir, uint64_t *n, uint64_t *bytes)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		struct stat sb;
		int fd;

		/* Pin records (pin.c) name a dead writer's orphans: the
		 * pin module removes them with their orphans. */
		if (e->d_name[0] == '.' || strncmp(e->d_name, "pins-", 5) == 0)
			continue;
		fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC |
				O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0)
			continue;
		/* A live writer holds LOCK_EX until its file is renamed. */
		if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    flock(fd, LOCK_EX | LOCK_NB) == 0) {
			if (strncmp(e->d_name, "restore-", 8) == 0)
				sweep_recorded(fd);
			if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
				if (n)
					(*n)++;
				if (bytes)
					*bytes += (uint64_t)sb.st_size;
			}
		}
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
