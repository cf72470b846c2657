/*
 * Pins: what a live writer is storing is never evicted (pin.h).
 */
#include "pin.h"

#include "fsutil.h"
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define PIN_PREFIX "pins-"
#define PIN_LINE (ARCA_DIGEST_HEXLEN + 1)

/*
 * A pin that cannot be written (tmp/ on a full disk) is given up rather
 * than failing the put: the put itself is safe without it (its row is
 * committed under the write lock with a check that the file is there), and
 * an action put naming a blob evicted meanwhile fails ARCA_EINVAL, never
 * commits a dangling reference.
 */
void arca__pin(arca__local *l, const arca_digest *d)
{
	char line[PIN_LINE + 1];
	off_t off;
	size_t done = 0;
	ssize_t n;

	if (l->opts.read_only)
		return;
	if (l->pin_path == NULL &&
	    arca__tmpfile(&l->pin_fd, &l->pin_path, l->tmp_dir, PIN_PREFIX,
			1) < 0)
		goto failed;
	arca_digest_to_hex(line, d);
	line[ARCA_DIGEST_HEXLEN] = '\n';
	/* At its line's offset: a line torn by a failed write is ignored by
	 * readers and overwritten by the next pin. */
	off = (off_t)l->pin_n * PIN_LINE;
	while (done < PIN_LINE) {
		n = pwrite(l->pin_fd, line + done, PIN_LINE - done,
				off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto failed;
		done += (size_t)n;
	}
	l->pin_n++;
	return;
failed:
	arca__error_clear();
}

static void unpin_all(arca__local *l)
{
	if (l->pin_path == NULL || l->pin_n == 0)
		return;
	/* A truncated record pins nothing; a failure leaves more pinned
	 * than needed until close, never less. */
	if (ftruncate(l->pin_fd, 0) == 0)
		l->pin_n = 0;
}

void arca__pin_hold(arca__local *l)
{
	l->pin_hold++;
}

void arca__pin_release(arca__local *l)
{
	if (l->pin_hold > 0 && --l->pin_hold == 0)
		unpin_all(l);
}

void arca__pin_put_done(arca__local *l)
{
	if (l->pin_hold == 0)
		unpin_all(l);
}

void arca__pins_close(arca__local *l)
{
	if (l->pin_path == NULL)
		return;
	/* Unlinked while still locked: nobody takes it for a dead one. */
	unlink(l->pin_path);
	close(l->pin_fd);
	free(l->pin_path);
	l->pin_path = NULL;
	l->pin_fd = -1;
	l->pin_n = 0;
}

/* Append the digests of record fd to out (a torn last line is ignored). */
static int read_record(arca__digest_list *out, int fd, int *any)
{
	char line[PIN_LINE + 1];
	arca_digest d;
	ssize_t n;
	int error;

	*any = 0;
	line[PIN_LINE] = '\0';
	while ((n = arca__read_full(fd, line, PIN_LINE)) == PIN_LINE) {
		line[ARCA_DIGEST_HEXLEN] = '\0';
		if (arca_digest_from_hex(&d, line) < 0)
			continue;
		*any = 1;
		if ((error = arca__digest_list_push(out, d.bytes)) < 0)
			return error;
	}
	return 0;
}

/* A dead writer's record: unlink the files it names that have no row
 * (unlink_unindexed's rule: under the write lock, only while no row names
 * the digest), then the record. */
static int reap_record(arca__local *l, sqlite3_stmt *has, int fd,
		DIR *dir, const char *name)
{
	arca__digest_list named = { NULL, 0, 0 };
	char path[PATH_MAX];
	size_t i;
	int any, rc, error;

	if ((error = read_record(&named, fd, &any)) < 0)
		goto cleanup;
	for (i = 0; i < named.n; i++) {
		rc = arca__step_digest(has, &named.items[i]);
		sqlite3_reset(has);
		if (rc == SQLITE_ROW)
			continue;
		if (rc != SQLITE_DONE) {
			error = arca__sql_error(l, rc, "looking up a pinned blob");
			goto cleanup;
		}
		arca__blob_path(path, sizeof(path), l, &named.items[i]);
		unlink(path);
	}
	unlinkat(dirfd(dir), name, 0);
cleanup:
	arca__digest_list_free(&named);
	return error;
}

static int cmp_digest(const void *a, const void *b)
{
	return memcmp(a, b, ARCA_DIGEST_SIZE);
}

/*
 * Walk tmp/'s pin records: live ones into out (may be NULL), dead ones
 * reaped (reap) or counted in *dead.
 */
static int scan(arca__local *l, arca__digest_list *out, unsigned int *holders,
		int reap, unsigned int *dead)
{
	sqlite3_stmt *has = NULL;
	struct dirent *e;
	DIR *d;
	int error = 0;

	if ((d = opendir(l->tmp_dir)) == NULL)
		return errno == ENOENT ? 0 :
			arca__error_errno(errno, "cannot list", l->tmp_dir);
	if (reap && (error = arca__sql_prepare(l, &has, "SELECT 1 FROM blobs "
			"WHERE digest = ?")) < 0)
		goto cleanup;
	while ((e = readdir(d)) != NULL) {
		int fd, any = 0;

		if (strncmp(e->d_name, PIN_PREFIX, strlen(PIN_PREFIX)) != 0)
			continue;
		fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC |
				O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			/* Held: a live writer's (this handle's included). */
			if (out != NULL)
				error = read_record(out, fd, &any);
			if (any && holders != NULL)
				(*holders)++;
		} else if (reap) {
			error = reap_record(l, has, fd, d, e->d_name);
		} else if (dead != NULL) {
			(*dead)++;
		}
		close(fd);
		if (error < 0)
			goto cleanup;
	}
cleanup:
	sqlite3_finalize(has);
	closedir(d);
	return error;
}

int arca__pins_live(arca__local *l, arca__digest_list *out,
		unsigned int *holders, int reap)
{
	size_t i, n = 0;
	int error;

	out->n = 0;
	if (holders != NULL)
		*holders = 0;
	if ((error = scan(l, out, holders, reap && !l->opts.read_only,
			NULL)) < 0)
		return error;
	if (out->n == 0)
		return 0;
	qsort(out->items, out->n, sizeof(*out->items), cmp_digest);
	for (i = 0; i < out->n; i++)
		if (n == 0 || memcmp(&out->items[n - 1], &out->items[i],
				ARCA_DIGEST_SIZE) != 0)
			out->items[n++] = out->items[i];
	out->n = n;
	return 0;
}

int arca__pins_contain(const arca__digest_list *pins, const arca_digest *d)
{
	return pins->n > 0 && bsearch(d, pins->items, pins->n,
			sizeof(*pins->items), cmp_digest) != NULL;
}

int arca__pins_bytes(arca__local *l, const arca__digest_list *pins,
		uint64_t *bytes)
{
	sqlite3_stmt *st = NULL;
	size_t i;
	int error, rc;

	*bytes = 0;
	if (pins->n == 0)
		return 0;
	if ((error = arca__sql_prepare(l, &st, "SELECT size FROM blobs "
			"WHERE digest = ?")) < 0)
		return error;
	for (i = 0; i < pins->n; i++) {
		rc = arca__step_digest(st, &pins->items[i]);
		if (rc == SQLITE_ROW)
			*bytes += (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			error = arca__sql_error(l, rc, "summing pinned blobs");
			break;
		}
	}
	sqlite3_finalize(st);
	return error;
}

void arca__pins_reap(arca__local *l)
{
	unsigned int dead = 0;

	if (l->opts.read_only || scan(l, NULL, NULL, 0, &dead) < 0 ||
	    dead == 0)
		goto done;
	if (arca__tx_begin(l) < 0)
		goto done;
	if (scan(l, NULL, NULL, 1, NULL) < 0 || arca__tx_commit(l) < 0)
		arca__tx_rollback(l);
done:
	arca__error_clear();
}
