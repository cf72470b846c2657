/*
 * An LD_PRELOAD recorder of the file-system operations a process applies
 * to one directory tree, for the crash-state test (tests/crash/README.md).
 * It is the recording half of ALICE (Pillai et al., OSDI 2014) or
 * CrashMonkey (Mohan et al., OSDI 2018), done in user space.
 *
 * Environment:
 *   ARCA_CRASH_ROOT   the directory whose operations are recorded (must
 *                     exist; it is resolved with realpath)
 *   ARCA_CRASH_TRACE  the trace: one operation a line, tab-separated
 *   ARCA_CRASH_DATA   the bytes of every recorded write, back to back
 *   ARCA_CRASH_ACKS   a file outside the root: each write(2) to it is
 *                     recorded as an ACK line at its place in the trace,
 *                     so the writer's acknowledgements are ordered with
 *                     its file-system operations
 *
 * Trace lines (paths are absolute; ino is st_ino at the time):
 *   CREATE ino path        a file created (open O_CREAT of a new name,
 *                          mkstemp family)
 *   OPEN ino path          an existing file or directory opened
 *   WRITE ino off len doff len bytes at off, doff into the data file
 *   TRUNC ino len          ftruncate, O_TRUNC
 *   EXTEND ino len         fallocate/posix_fallocate (size only grows)
 *   FSYNC ino              fsync or fdatasync (file or directory)
 *   SYNCALL                sync(2) or syncfs(2)
 *   RANGE ino              sync_file_range (no durability: advisory)
 *   MKDIR path / RMDIR path / UNLINK path
 *   RENAME from to / LINK from to
 *   ACK text               the writer acknowledged something
 *
 * Only calls that succeed are recorded, after they return, in the order
 * they returned (a mutex serialises threads). Writes through mmap(2) are
 * not seen: SQLite's -shm wal-index is the one such file, and SQLite
 * rebuilds it after a crash. The replayer checks that replaying the whole
 * trace reproduces the tree the writer left, so an operation this file
 * misses makes the test fail rather than pass unseen.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FDS 4096

enum fd_kind { FD_NONE = 0, FD_TRACKED, FD_ACK };

static struct {
	int ready;
	char root[PATH_MAX];
	size_t root_len;
	char acks[PATH_MAX];
	int trace_fd, data_fd;
	uint64_t data_off;
	unsigned char kind[MAX_FDS];
	ino_t ino[MAX_FDS];
	pthread_mutex_t lock;
} R = { .trace_fd = -1, .data_fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

static __thread int in_hook;

#define REAL(name) \
	static __typeof__(name) *real_##name; \
	if (real_##name == NULL) \
		real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

/* Declared here: glibc declares some only under _LARGEFILE64_SOURCE. */
int open64(const char *, int, ...);
int openat64(int, const char *, int, ...);
int creat64(const char *, mode_t);
int mkostemp64(char *, int);
int mkstemp64(char *);
ssize_t pwrite64(int, const void *, size_t, off_t);
int ftruncate64(int, off_t);
int fallocate64(int, int, off_t, off_t);
int posix_fallocate64(int, off_t, off_t);
int __open_2(const char *, int);
int __open64_2(const char *, int);
int __openat_2(int, const char *, int);
int __openat64_2(int, const char *, int);
int sync_file_range(int, off_t, off_t, unsigned int);
int syncfs(int);
int renameat2(int, const char *, int, const char *, unsigned int);

static ssize_t raw_write(int fd, const void *buf, size_t len)
{
	REAL(write);
	const char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = real_write(fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

__attribute__((constructor)) static void recorder_init(void)
{
	REAL(open);
	const char *root = getenv("ARCA_CRASH_ROOT");
	const char *trace = getenv("ARCA_CRASH_TRACE");
	const char *data = getenv("ARCA_CRASH_DATA");
	const char *acks = getenv("ARCA_CRASH_ACKS");

	if (root == NULL || trace == NULL || data == NULL)
		return;
	if (realpath(root, R.root) == NULL) {
		fprintf(stderr, "recorder: %s: %s\n", root, strerror(errno));
		_exit(99);
	}
	R.root_len = strlen(R.root);
	if (acks && realpath(acks, R.acks) == NULL)
		snprintf(R.acks, sizeof(R.acks), "%s", acks);
	R.trace_fd = real_open(trace, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			0644);
	R.data_fd = real_open(data, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			0644);
	if (R.trace_fd < 0 || R.data_fd < 0) {
		fprintf(stderr, "recorder: cannot open %s or %s\n", trace, data);
		_exit(99);
	}
	R.data_off = (uint64_t)lseek(R.data_fd, 0, SEEK_END);
	R.ready = 1;
}

/*
 * The absolute path of path relative to dirfd, with its parent resolved
 * (the name itself need not exist, and a symlink in last place is not
 * followed, as rename and unlink do not follow it).
 */
static int resolve(char *out, int dirfd, const char *path)
{
	char joined[PATH_MAX * 2], parent[PATH_MAX], *slash;
	const char *base;

	if (path[0] == '/') {
		snprintf(joined, sizeof(joined), "%s", path);
	} else {
		char dir[PATH_MAX];

		if (dirfd == AT_FDCWD) {
			if (getcwd(dir, sizeof(dir)) == NULL)
				return -1;
		} else {
			char link[64];
			ssize_t n;

			snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
			n = readlink(link, dir, sizeof(dir) - 1);
			if (n < 0)
				return -1;
			dir[n] = '\0';
		}
		snprintf(joined, sizeof(joined), "%s/%s", dir, path);
	}
	while ((slash = strrchr(joined, '/')) != NULL && slash[1] == '\0' &&
			slash != joined)
		*slash = '\0';
	slash = strrchr(joined, '/');
	base = slash + 1;
	if (slash == joined) {
		snprintf(parent, sizeof(parent), "/");
	} else {
		*slash = '\0';
		if (realpath(joined, parent) == NULL)
			return -1;
	}
	if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || *base == '\0')
		return realpath(slash == joined ? "/" : parent, out) ? 0 : -1;
	{
		int n = snprintf(out, PATH_MAX, "%s%s%s", parent,
				strcmp(parent, "/") == 0 ? "" : "/", base);

		return n > 0 && n < PATH_MAX ? 0 : -1;
	}
}

static int under_root(const char *abs)
{
	return R.ready && strncmp(abs, R.root, R.root_len) == 0 &&
		(abs[R.root_len] == '/' || abs[R.root_len] == '\0');
}

static void emit(const char *fmt, ...)
{
	char line[PATH_MAX * 2 + 128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0 && raw_write(R.trace_fd, line, (size_t)n) < 0) {
		fprintf(stderr, "recorder: cannot write the trace\n");
		_exit(99);
	}
}

/* Called with R.lock held. */
static void note_fd(int fd, const char *abs, int created)
{
	struct stat st;

	if (fd < 0 || fd >= MAX_FDS)
		return;
	R.kind[fd] = FD_NONE;
	if (R.acks[0] && strcmp(abs, R.acks) == 0) {
		R.kind[fd] = FD_ACK;
		return;
	}
	if (!under_root(abs) || fstat(fd, &st) != 0)
		return;
	R.kind[fd] = FD_TRACKED;
	R.ino[fd] = st.st_ino;
	emit("%s\t%lu\t%s\n", created ? "CREATE" : "OPEN",
			(unsigned long)st.st_ino, abs);
}

static int tracked(int fd)
{
	return R.ready && !in_hook && fd >= 0 && fd < MAX_FDS &&
		R.kind[fd] != FD_NONE;
}

/* A write of len bytes from iov at off: bytes to the data file. */
static void note_write(int fd, const struct iovec *iov, int iovcnt,
		off_t off, size_t len)
{
	size_t left = len;
	int i;

	if (R.kind[fd] == FD_ACK) {
		char text[512];
		size_t n = 0, k;

		for (i = 0; i < iovcnt && n < sizeof(text) - 1; i++) {
			k = iov[i].iov_len < sizeof(text) - 1 - n ?
				iov[i].iov_len : sizeof(text) - 1 - n;
			memcpy(text + n, iov[i].iov_base, k);
			n += k;
		}
		while (n > 0 && text[n - 1] == '\n')
			n--;
		text[n] = '\0';
		emit("ACK\t%s\n", text);
		return;
	}
	emit("WRITE\t%lu\t%lld\t%zu\t%llu\n", (unsigned long)R.ino[fd],
			(long long)off, len, (unsigned long long)R.data_off);
	for (i = 0; i < iovcnt && left > 0; i++) {
		size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;

		if (raw_write(R.data_fd, iov[i].iov_base, k) < 0) {
			fprintf(stderr, "recorder: cannot write the data\n");
			_exit(99);
		}
		left -= k;
	}
	R.data_off += len;
}

/* ---- opening ---------------------------------------------------------- */

static int after_open(int fd, int dirfd, const char *path, int flags,
		int existed)
{
	char abs[PATH_MAX];
	int err = errno;

	if (fd < 0 || !R.ready || in_hook)
		return fd;
	pthread_mutex_lock(&R.lock);
	if (resolve(abs, dirfd, path) == 0) {
		/* An O_TMPFILE file is named later by linkat: not modelled. */
		if ((flags & __O_TMPFILE) == __O_TMPFILE && under_root(abs)) {
			fprintf(stderr, "recorder: O_TMPFILE is not modelled\n");
			_exit(99);
		}
		note_fd(fd, abs, (flags & O_CREAT) && !existed);
		if (R.kind[fd] == FD_TRACKED && (flags & O_TRUNC) && existed &&
				(flags & O_ACCMODE) != O_RDONLY)
			emit("TRUNC\t%lu\t0\n", (unsigned long)R.ino[fd]);
	}
	pthread_mutex_unlock(&R.lock);
	errno = err;
	return fd;
}

static int exists_at(int dirfd, const char *path)
{
	struct stat st;

	return fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

#define OPEN_MODE(flags, mode) \
	do { \
		if ((flags) & (O_CREAT | __O_TMPFILE)) { \
			va_list ap; \
			va_start(ap, flags); \
			mode = va_arg(ap, mode_t); \
			va_end(ap); \
		} \
	} while (0)

int open(const char *path, int flags, ...)
{
	REAL(open);
	mode_t mode = 0;
	int existed;

	OPEN_MODE(flags, mode);
	existed = (flags & O_CREAT) ? exists_at(AT_FDCWD, path) : 1;
	return after_open(real_open(path, flags, mode), AT_FDCWD, path, flags,
			existed);
}

int open64(const char *path, int flags, ...)
{
	REAL(open64);
	mode_t mode = 0;
	int existed;

	OPEN_MODE(flags, mode);
	existed = (flags & O_CREAT) ? exists_at(AT_FDCWD, path) : 1;
	return after_open(real_open64(path, flags, mode), AT_FDCWD, path, flags,
			existed);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	REAL(openat);
	mode_t mode = 0;
	int existed;

	OPEN_MODE(flags, mode);
	existed = (flags & O_CREAT) ? exists_at(dirfd, path) : 1;
	return after_open(real_openat(dirfd, path, flags, mode), dirfd, path,
			flags, existed);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	REAL(openat64);
	mode_t mode = 0;
	int existed;

	OPEN_MODE(flags, mode);
	existed = (flags & O_CREAT) ? exists_at(dirfd, path) : 1;
	return after_open(real_openat64(dirfd, path, flags, mode), dirfd, path,
			flags, existed);
}

int __open_2(const char *path, int flags)
{
	REAL(__open_2);
	return after_open(real___open_2(path, flags), AT_FDCWD, path, flags, 1);
}

int __open64_2(const char *path, int flags)
{
	REAL(__open64_2);
	return after_open(real___open64_2(path, flags), AT_FDCWD, path, flags, 1);
}

int __openat_2(int dirfd, const char *path, int flags)
{
	REAL(__openat_2);
	return after_open(real___openat_2(dirfd, path, flags), dirfd, path,
			flags, 1);
}

int __openat64_2(int dirfd, const char *path, int flags)
{
	REAL(__openat64_2);
	return after_open(real___openat64_2(dirfd, path, flags), dirfd, path,
			flags, 1);
}

int creat(const char *path, mode_t mode)
{
	return open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}

int creat64(const char *path, mode_t mode)
{
	return open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}

/* glibc's mkstemp family opens through an internal call nobody sees. */
#define MKSTEMP_HOOK(name, proto, call) \
	int name proto \
	{ \
		REAL(name); \
		int fd = real_##name call; \
		return after_open(fd, AT_FDCWD, tmpl, O_CREAT, 0); \
	}

MKSTEMP_HOOK(mkstemp, (char *tmpl), (tmpl))
MKSTEMP_HOOK(mkstemp64, (char *tmpl), (tmpl))
MKSTEMP_HOOK(mkostemp, (char *tmpl, int flags), (tmpl, flags))
MKSTEMP_HOOK(mkostemp64, (char *tmpl, int flags), (tmpl, flags))
MKSTEMP_HOOK(mkstemps, (char *tmpl, int suffixlen), (tmpl, suffixlen))
MKSTEMP_HOOK(mkostemps, (char *tmpl, int suffixlen, int flags),
		(tmpl, suffixlen, flags))

int close(int fd)
{
	REAL(close);
	if (fd >= 0 && fd < MAX_FDS && R.ready) {
		pthread_mutex_lock(&R.lock);
		R.kind[fd] = FD_NONE;
		pthread_mutex_unlock(&R.lock);
	}
	return real_close(fd);
}

static int after_dup(int oldfd, int newfd)
{
	if (newfd >= 0 && newfd < MAX_FDS && oldfd >= 0 && oldfd < MAX_FDS &&
			R.ready) {
		pthread_mutex_lock(&R.lock);
		R.kind[newfd] = R.kind[oldfd];
		R.ino[newfd] = R.ino[oldfd];
		pthread_mutex_unlock(&R.lock);
	}
	return newfd;
}

int dup(int fd)
{
	REAL(dup);
	return after_dup(fd, real_dup(fd));
}

int dup2(int fd, int newfd)
{
	REAL(dup2);
	return after_dup(fd, real_dup2(fd, newfd));
}

int dup3(int fd, int newfd, int flags)
{
	REAL(dup3);
	return after_dup(fd, real_dup3(fd, newfd, flags));
}

/* ---- data ------------------------------------------------------------- */

/* The offset a write(2) on fd will land at. */
static off_t write_offset(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	struct stat st;

	if (fl >= 0 && (fl & O_APPEND) && fstat(fd, &st) == 0)
		return st.st_size;
	return lseek(fd, 0, SEEK_CUR);
}

ssize_t write(int fd, const void *buf, size_t len)
{
	REAL(write);
	struct iovec iov = { (void *)buf, len };
	off_t off = 0;
	ssize_t n;

	if (!tracked(fd))
		return real_write(fd, buf, len);
	pthread_mutex_lock(&R.lock);
	in_hook = 1;
	off = write_offset(fd);
	n = real_write(fd, buf, len);
	if (n > 0) {
		int err = errno;

		note_write(fd, &iov, 1, off, (size_t)n);
		errno = err;
	}
	in_hook = 0;
	pthread_mutex_unlock(&R.lock);
	return n;
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	REAL(writev);
	off_t off;
	ssize_t n;

	if (!tracked(fd))
		return real_writev(fd, iov, iovcnt);
	pthread_mutex_lock(&R.lock);
	in_hook = 1;
	off = write_offset(fd);
	n = real_writev(fd, iov, iovcnt);
	if (n > 0)
		note_write(fd, iov, iovcnt, off, (size_t)n);
	in_hook = 0;
	pthread_mutex_unlock(&R.lock);
	return n;
}

#define PWRITE_HOOK(name) \
	ssize_t name(int fd, const void *buf, size_t len, off_t off) \
	{ \
		REAL(name); \
		struct iovec iov = { (void *)buf, len }; \
		ssize_t n; \
		if (!tracked(fd)) \
			return real_##name(fd, buf, len, off); \
		pthread_mutex_lock(&R.lock); \
		in_hook = 1; \
		n = real_##name(fd, buf, len, off); \
		if (n > 0) \
			note_write(fd, &iov, 1, off, (size_t)n); \
		in_hook = 0; \
		pthread_mutex_unlock(&R.lock); \
		return n; \
	}

PWRITE_HOOK(pwrite)
PWRITE_HOOK(pwrite64)

#define PWRITEV_HOOK(name) \
	ssize_t name(int fd, const struct iovec *iov, int iovcnt, off_t off) \
	{ \
		REAL(name); \
		ssize_t n; \
		if (!tracked(fd)) \
			return real_##name(fd, iov, iovcnt, off); \
		pthread_mutex_lock(&R.lock); \
		in_hook = 1; \
		n = real_##name(fd, iov, iovcnt, off); \
		if (n > 0) \
			note_write(fd, iov, iovcnt, off, (size_t)n); \
		in_hook = 0; \
		pthread_mutex_unlock(&R.lock); \
		return n; \
	}

PWRITEV_HOOK(pwritev)
PWRITEV_HOOK(pwritev64)

#define FD_OP_HOOK(name, proto, call, fmt, ...) \
	int name proto \
	{ \
		REAL(name); \
		int rc; \
		if (!tracked(fd) || R.kind[fd] != FD_TRACKED) \
			return real_##name call; \
		pthread_mutex_lock(&R.lock); \
		in_hook = 1; \
		rc = real_##name call; \
		if (rc == 0) \
			emit(fmt, (unsigned long)R.ino[fd], __VA_ARGS__); \
		in_hook = 0; \
		pthread_mutex_unlock(&R.lock); \
		return rc; \
	}

FD_OP_HOOK(ftruncate, (int fd, off_t len), (fd, len), "TRUNC\t%lu\t%lld\n",
		(long long)len)
FD_OP_HOOK(ftruncate64, (int fd, off_t len), (fd, len), "TRUNC\t%lu\t%lld\n",
		(long long)len)
FD_OP_HOOK(fsync, (int fd), (fd), "FSYNC\t%lu%s\n", "")
FD_OP_HOOK(fdatasync, (int fd), (fd), "FSYNC\t%lu%s\n", "")
FD_OP_HOOK(sync_file_range, (int fd, off_t off, off_t n, unsigned int fl),
		(fd, off, n, fl), "RANGE\t%lu%s\n", "")
FD_OP_HOOK(fallocate, (int fd, int mode, off_t off, off_t len),
		(fd, mode, off, len), "EXTEND\t%lu\t%lld\n",
		(mode & 1) ? 0LL : (long long)(off + len))
FD_OP_HOOK(fallocate64, (int fd, int mode, off_t off, off_t len),
		(fd, mode, off, len), "EXTEND\t%lu\t%lld\n",
		(mode & 1) ? 0LL : (long long)(off + len))
FD_OP_HOOK(posix_fallocate, (int fd, off_t off, off_t len), (fd, off, len),
		"EXTEND\t%lu\t%lld\n", (long long)(off + len))
FD_OP_HOOK(posix_fallocate64, (int fd, off_t off, off_t len), (fd, off, len),
		"EXTEND\t%lu\t%lld\n", (long long)(off + len))

void sync(void)
{
	REAL(sync);
	real_sync();
	if (R.ready) {
		pthread_mutex_lock(&R.lock);
		emit("SYNCALL\n");
		pthread_mutex_unlock(&R.lock);
	}
}

int syncfs(int fd)
{
	REAL(syncfs);
	int rc = real_syncfs(fd);

	if (rc == 0 && R.ready) {
		pthread_mutex_lock(&R.lock);
		emit("SYNCALL\n");
		pthread_mutex_unlock(&R.lock);
	}
	return rc;
}

int truncate(const char *path, off_t len)
{
	REAL(truncate);
	char abs[PATH_MAX];
	struct stat st;
	int rc = real_truncate(path, len), err = errno;

	if (rc == 0 && R.ready && resolve(abs, AT_FDCWD, path) == 0 &&
			under_root(abs) && stat(abs, &st) == 0) {
		pthread_mutex_lock(&R.lock);
		emit("TRUNC\t%lu\t%lld\n", (unsigned long)st.st_ino,
				(long long)len);
		pthread_mutex_unlock(&R.lock);
	}
	errno = err;
	return rc;
}

/* ---- names ------------------------------------------------------------ */

/* Record "OP path" when the call succeeded and path is under the root. */
static int name_op(int rc, const char *op, int dirfd, const char *path,
		const char *resolved)
{
	char abs[PATH_MAX];
	int err = errno;

	if (rc != 0 || !R.ready || in_hook)
		return rc;
	pthread_mutex_lock(&R.lock);
	if (resolved)
		snprintf(abs, sizeof(abs), "%s", resolved);
	if ((resolved || resolve(abs, dirfd, path) == 0) && under_root(abs))
		emit("%s\t%s\n", op, abs);
	pthread_mutex_unlock(&R.lock);
	errno = err;
	return rc;
}

static int name2_op(int rc, const char *op, const char *from,
		const char *to)
{
	int err = errno;

	if (rc != 0 || !R.ready || in_hook)
		return rc;
	if (under_root(from) || under_root(to)) {
		pthread_mutex_lock(&R.lock);
		emit("%s\t%s\t%s\n", op, from, to);
		pthread_mutex_unlock(&R.lock);
	}
	errno = err;
	return rc;
}

int mkdir(const char *path, mode_t mode)
{
	REAL(mkdir);
	return name_op(real_mkdir(path, mode), "MKDIR", AT_FDCWD, path, NULL);
}

int mkdirat(int dirfd, const char *path, mode_t mode)
{
	REAL(mkdirat);
	return name_op(real_mkdirat(dirfd, path, mode), "MKDIR", dirfd, path,
			NULL);
}

int rmdir(const char *path)
{
	REAL(rmdir);
	char abs[PATH_MAX];
	int ok = R.ready && resolve(abs, AT_FDCWD, path) == 0;

	return name_op(real_rmdir(path), "RMDIR", AT_FDCWD, path,
			ok ? abs : NULL);
}

/* The path must be resolved before the name goes away. */
int unlink(const char *path)
{
	REAL(unlink);
	char abs[PATH_MAX];
	int ok = R.ready && resolve(abs, AT_FDCWD, path) == 0;

	return name_op(real_unlink(path), "UNLINK", AT_FDCWD, path,
			ok ? abs : NULL);
}

int unlinkat(int dirfd, const char *path, int flags)
{
	REAL(unlinkat);
	char abs[PATH_MAX];
	int ok = R.ready && resolve(abs, dirfd, path) == 0;

	return name_op(real_unlinkat(dirfd, path, flags),
			(flags & AT_REMOVEDIR) ? "RMDIR" : "UNLINK", dirfd, path,
			ok ? abs : NULL);
}

static int rename_common(int rc_of_real, int ok, const char *a,
		const char *b)
{
	if (!ok)
		return rc_of_real;
	return name2_op(rc_of_real, "RENAME", a, b);
}

int rename(const char *from, const char *to)
{
	REAL(rename);
	char a[PATH_MAX], b[PATH_MAX];
	int ok = R.ready && resolve(a, AT_FDCWD, from) == 0 &&
		resolve(b, AT_FDCWD, to) == 0;

	return rename_common(real_rename(from, to), ok, a, b);
}

int renameat(int fd1, const char *from, int fd2, const char *to)
{
	REAL(renameat);
	char a[PATH_MAX], b[PATH_MAX];
	int ok = R.ready && resolve(a, fd1, from) == 0 &&
		resolve(b, fd2, to) == 0;

	return rename_common(real_renameat(fd1, from, fd2, to), ok, a, b);
}

int renameat2(int fd1, const char *from, int fd2, const char *to,
		unsigned int flags)
{
	REAL(renameat2);
	char a[PATH_MAX], b[PATH_MAX];
	int ok = R.ready && resolve(a, fd1, from) == 0 &&
		resolve(b, fd2, to) == 0;

	/* RENAME_EXCHANGE is not modelled: fail loudly if it is ever used. */
	if (ok && (flags & 2) && (under_root(a) || under_root(b))) {
		fprintf(stderr, "recorder: RENAME_EXCHANGE is not modelled\n");
		_exit(99);
	}
	return rename_common(real_renameat2(fd1, from, fd2, to, flags), ok, a,
			b);
}

int link(const char *from, const char *to)
{
	REAL(link);
	char a[PATH_MAX], b[PATH_MAX];
	int ok = R.ready && resolve(a, AT_FDCWD, from) == 0 &&
		resolve(b, AT_FDCWD, to) == 0;
	int rc = real_link(from, to);

	return ok ? name2_op(rc, "LINK", a, b) : rc;
}

int linkat(int fd1, const char *from, int fd2, const char *to, int flags)
{
	REAL(linkat);
	char a[PATH_MAX], b[PATH_MAX];
	int ok = R.ready && resolve(a, fd1, from) == 0 &&
		resolve(b, fd2, to) == 0;
	int rc = real_linkat(fd1, from, fd2, to, flags);

	return ok ? name2_op(rc, "LINK", a, b) : rc;
}
