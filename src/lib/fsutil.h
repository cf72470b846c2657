/* Small POSIX file helpers used by the local store. Internal. */
#ifndef ARCA_FSUTIL_H
#define ARCA_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* malloc'd "a/b"; NULL on allocation failure. */
char *arca__path_join(const char *a, const char *b);

/* mkdir -p of path's parent directory (mode 0777 less the umask), for
 * files materialised in a user's working directory. 0, or -1 with errno
 * set, so that callers name the file in their own message. */
int arca__mkdir_parents(const char *path);

/* mkdir -p with mode 0755; ARCA_* code. */
int arca__mkdir_p(const char *path);

/* fsync a directory so that a rename/creation inside it is durable. */
int arca__fsync_dir(const char *path);

/* write(2) until done, retrying EINTR; ARCA_* code (errno mapped). */
int arca__write_all(int fd, const void *data, size_t len, const char *what);

/* read(2) up to len bytes, retrying EINTR and short reads; returns bytes
 * read (< len only at EOF) or -1 with errno set. */
ssize_t arca__read_full(int fd, void *buf, size_t len);

/*
 * Create a temporary file "<dir>/<prefix><pid>-XXXXXX", open for writing,
 * and hold an exclusive flock(2) on it so that a store opened meanwhile
 * can tell a live writer's file from a dead writer's (see
 * arca__sweep_tmp). *path_out is malloc'd.
 */
int arca__tmpfile(int *fd_out, char **path_out, const char *dir,
		const char *prefix, int lock);

/* Remove files in dir that no live process holds a flock on. */
void arca__sweep_tmp(const char *dir);

/* The directory part of path (malloc'd; "." when there is none). */
char *arca__dirname(const char *path);

#endif
