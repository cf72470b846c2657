/* Small POSIX file helpers used by the local store. Internal. */
#ifndef ARCA_FSUTIL_H
#define ARCA_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
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

/*
 * Remove files in dir that no live process holds a flock on, except pin
 * records ("pins-", pin.c), which arca__pins_reap() removes. A dead
 * writer's "restore-" record (arca__pubfile) also takes the named temp
 * file it names, if that name still has the ".NAME.arca-XXXXXX" form.
 * *n and *bytes (either may be NULL) are increased by the files removed
 * and their sizes. Used at store open on tmp/ and by gc on tmp/ and
 * leases/.
 */
void arca__sweep_tmp(const char *dir, uint64_t *n, uint64_t *bytes);

/*
 * A file written beside its destination and published by rename(2), so
 * that readers see the old file or the whole new one. Where the file
 * system supports O_TMPFILE the bytes go to an unnamed inode (a SIGKILL
 * leaves nothing behind); it is given the name ".NAME.arca-XXXXXX" only
 * for the link-and-rename at publication. Elsewhere the temp file is
 * named from the start and recorded in a flock-held "restore-" file in
 * note_dir (a store's tmp/), so that the next store open removes it if
 * this process dies (arca__sweep_tmp).
 */
typedef struct arca__pubfile {
	int fd;		/* open for writing, mode 0600 until fchmod */
	char *tmp;	/* the named temp file (fallback), or NULL */
	int note_fd;
	char *note;	/* its record in note_dir, or NULL */
} arca__pubfile;

#define ARCA__PUBFILE_INIT { -1, NULL, -1, NULL }

/* Open pf for a file to be published at path; note_dir may be NULL (no
 * record: the fallback's temp file could then outlive a SIGKILL). -1
 * with errno set, so that callers name the file in their own message. */
int arca__pubfile_open(arca__pubfile *pf, const char *path,
		const char *note_dir);

/* Open pf as a link to be published at path: a hard link (symbolic: a
 * symbolic link) to target under the temp name ".NAME.arca-XXXXXX"
 * beside path, recorded in note_dir as the fallback's temp files are;
 * pf->fd stays -1. -1 with errno set (link(2)'s EXDEV, EPERM, EMLINK;
 * symlink(2)'s errors). */
int arca__pubfile_open_link(arca__pubfile *pf, const char *target,
		const char *path, const char *note_dir, int symbolic);

/* Give pf's bytes the name path (replacing any file there) and close
 * it; -1 with errno set. pf must still be discarded. */
int arca__pubfile_publish(arca__pubfile *pf, const char *path);

/* arca__pubfile_publish(), and *st_out (may be NULL) the file's stat
 * data taken through its descriptor after the rename (zeroed when fstat
 * fails; untouched when pf has no descriptor: a link). */
int arca__pubfile_publish_stat(arca__pubfile *pf, const char *path,
		struct stat *st_out);

/* ioctl(FICLONE): dst_fd's content becomes a copy-on-write clone of
 * src_fd's. 0, or -1 with errno (EOPNOTSUPP, EXDEV, EINVAL, ENOTTY
 * where the file system cannot). */
int arca__reflink(int dst_fd, int src_fd);

/* The first size bytes of src_fd to dst_fd, both from offset 0, by
 * copy_file_range(2), or by pread/pwrite where the kernel cannot
 * (EXDEV, ENOSYS, EOPNOTSUPP, EINVAL); $ARCA_NO_COPY_FILE_RANGE forces
 * the latter. 0, or -1 with errno (EIO: src_fd ended early). */
int arca__copy_fd(int dst_fd, int src_fd, uint64_t size);

/* Close pf and remove its temp file and record, if any. Accepts a pf
 * that was never opened or already published. */
void arca__pubfile_discard(arca__pubfile *pf);

/* The directory part of path (malloc'd; "." when there is none). */
char *arca__dirname(const char *path);

#endif
