/*
 * The public store API. A store is a list of tiers, each an arca_backend;
 * the first is the local store. Blob and action-cache calls go through the
 * backend interface; inspection and maintenance (list, clear, stats,
 * verify) are answered by the local tier's index.
 */
#include "internal.h"

#include "fsutil.h"
#include "local.h"
#include "local_sql.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct arca_store {
	arca__local *local;
	arca_backend *backend; /* the local tier's backend view */
};

arca__local *arca__store_local(arca_store *store)
{
	return store->local;
}

int arca_store_default_dir(char **out)
{
	const char *env = getenv("ARCA_DIR");
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	int n;

	*out = NULL;
	if (env && *env)
		return arca__strdup_checked(out, env);
	if (xdg && *xdg)
		n = asprintf(out, "%s/arca", xdg);
	else if (home && *home)
		n = asprintf(out, "%s/.cache/arca", home);
	else
		return arca__error(ARCA_EINVAL, "no store directory: set "
				"ARCA_DIR, XDG_CACHE_HOME or HOME");
	if (n < 0) {
		*out = NULL;
		return arca__error(ARCA_ENOMEM, "out of memory");
	}
	return 0;
}

int arca_store_open(arca_store **out, const char *dir,
		const arca_options *opts)
{
	arca_options effective;
	arca_store *s = NULL;
	char *default_dir = NULL;
	int error;

	*out = NULL;
	arca__error_clear();
	if (dir == NULL) {
		if ((error = arca_store_default_dir(&default_dir)) < 0)
			return error;
		dir = default_dir;
	}
	/* Store policy: the caller's fields, the environment, config.yaml,
	 * the defaults (config.c). */
	if ((error = arca_options_resolve(&effective, dir, opts)) < 0)
		goto cleanup;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((error = arca__local_open(&s->local, dir, &effective)) < 0)
		goto cleanup;
	s->backend = arca__local_backend(s->local);
	*out = s;
	s = NULL;
cleanup:
	free(s);
	free(default_dir);
	return error;
}

void arca_store_close(arca_store *store)
{
	if (store == NULL)
		return;
	if (store->backend)
		store->backend->free(store->backend);
	free(store);
}

const char *arca_store_path(const arca_store *store)
{
	return arca__local_path(store->local);
}

/* ---- blobs ------------------------------------------------------------ */

int arca_blob_put(arca_digest *out, arca_store *store,
		const void *data, size_t len)
{
	int error = store->backend->blob_put(store->backend, out, data, len);

	if (error == 0)
		arca__store_evict_auto(store);
	return error;
}

int arca_blob_put_file(arca_digest *out, uint64_t *size_out,
		arca_store *store, const char *path)
{
	struct stat st;
	int fd, error;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return arca__error_errno(errno, "cannot open", path);
	if (fstat(fd, &st) != 0) {
		error = arca__error_errno(errno, "cannot stat", path);
	} else if (!S_ISREG(st.st_mode)) {
		error = arca__error(ARCA_EINVAL, "%s: not a regular file", path);
	} else {
		error = store->backend->blob_put_fd(store->backend, out,
				size_out, fd);
	}
	close(fd);
	if (error == 0)
		arca__store_evict_auto(store);
	return error;
}

/* Collects a blob in memory. */
typedef struct mem_sink {
	arca_buf buf;
	size_t cap;
} mem_sink;

static int mem_sink_write(void *ctx, const void *data, size_t len)
{
	mem_sink *m = ctx;

	if (m->buf.size + len + 1 > m->cap) {
		/* The first chunk sets the size: exact for inline blobs. */
		size_t cap = m->cap ? m->cap : len + 1;
		unsigned char *p;

		while (cap < m->buf.size + len + 1)
			cap *= 2;
		p = realloc(m->buf.data, cap);
		if (p == NULL)
			return arca__error(ARCA_ENOMEM, "out of memory reading "
					"a blob of more than %zu bytes",
					m->buf.size + len);
		m->buf.data = p;
		m->cap = cap;
	}
	if (len > 0) /* SQLite hands out NULL for an empty blob */
		memcpy(m->buf.data + m->buf.size, data, len);
	m->buf.size += len;
	m->buf.data[m->buf.size] = '\0';
	return 0;
}

/* note: count the read as a use of the blob (eviction's LRU). */
static int blob_get_mem(arca_buf *out, arca_store *store,
		const arca_digest *digest, int note)
{
	mem_sink m = { ARCA_BUF_INIT, 0 };
	int error;

	out->data = NULL;
	out->size = 0;
	/* No size query first: an inline blob arrives in one sink call, sized
	 * exactly, and a second index lookup would double the cost of small
	 * reads. */
	error = store->backend->blob_get(store->backend, digest,
			mem_sink_write, &m);
	if (error < 0) {
		arca_buf_free(&m.buf);
		return error;
	}
	if (m.buf.data == NULL && (m.buf.data = calloc(1, 1)) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	*out = m.buf;
	if (note)
		(void)arca__access_note_blob(store->local, digest);
	return 0;
}

int arca_blob_get(arca_buf *out, arca_store *store, const arca_digest *digest)
{
	return blob_get_mem(out, store, digest, 1);
}

typedef struct fd_sink {
	int fd;
	const char *what;
} fd_sink;

static int fd_sink_write(void *ctx, const void *data, size_t len)
{
	fd_sink *f = ctx;

	return arca__write_all(f->fd, data, len, f->what);
}

int arca_blob_get_file(arca_store *store, const arca_digest *digest,
		const char *path, unsigned int mode)
{
	char *dir = NULL, *tmp = NULL;
	fd_sink sink = { -1, path };
	int error;

	dir = arca__dirname(path);
	if (dir == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	/* The temp file lives beside path so the rename stays on one file
	 * system; it is not locked: only this process ever looks at it. */
	if ((error = arca__tmpfile(&sink.fd, &tmp, dir, ".arca-", 0)) < 0)
		goto cleanup;
	if ((error = store->backend->blob_get(store->backend, digest,
			fd_sink_write, &sink)) < 0)
		goto cleanup;
	if (fchmod(sink.fd, mode & 07777) != 0) {
		error = arca__error_errno(errno, "cannot chmod", tmp);
		goto cleanup;
	}
	if (close(sink.fd) != 0) {
		sink.fd = -1;
		error = arca__error_errno(errno, "cannot write", tmp);
		goto cleanup;
	}
	sink.fd = -1;
	if (rename(tmp, path) != 0) {
		error = arca__error_errno(errno, "cannot rename into", path);
		goto cleanup;
	}
	error = 0;
cleanup:
	if (sink.fd >= 0)
		close(sink.fd);
	if (error < 0 && tmp)
		unlink(tmp);
	free(tmp);
	free(dir);
	return error;
}

int arca_blob_write_fd(arca_store *store, const arca_digest *digest, int fd)
{
	fd_sink sink = { fd, "output" };

	return store->backend->blob_get(store->backend, digest, fd_sink_write,
			&sink);
}

int arca_blob_stat(uint64_t *size_out, arca_store *store,
		const arca_digest *digest)
{
	return store->backend->blob_stat(store->backend, digest, size_out);
}

/* ---- the action cache ---------------------------------------------- */

int arca_action_put(arca_store *store, const arca_manifest *m)
{
	arca_buf json = ARCA_BUF_INIT;
	arca_digest manifest_digest;
	int error;

	if (m == NULL)
		return arca__error(ARCA_EINVAL, "no manifest");
	if ((error = arca_manifest_to_json(&json, m)) < 0)
		return error;
	if ((error = store->backend->blob_put(store->backend, &manifest_digest,
			json.data, json.size)) < 0)
		goto cleanup;
	error = store->backend->ac_put(store->backend, &m->key,
			&manifest_digest, m);
	if (error == 0)
		arca__store_evict_auto(store);
cleanup:
	arca_buf_free(&json);
	return error;
}

/* Every blob the manifest names is present (not re-hashed here). */
static int check_references(arca_store *store, const arca_manifest *m,
		const arca_digest **missing)
{
	size_t i;

	if (store->backend->blob_stat == NULL)
		return 0;
	*missing = &m->stdout_digest;
	if (store->backend->blob_stat(store->backend, *missing, NULL) < 0)
		return ARCA_ENOTFOUND;
	*missing = &m->stderr_digest;
	if (store->backend->blob_stat(store->backend, *missing, NULL) < 0)
		return ARCA_ENOTFOUND;
	for (i = 0; i < m->n_outputs; i++) {
		*missing = &m->outputs[i].digest;
		if (store->backend->blob_stat(store->backend, *missing,
				NULL) < 0)
			return ARCA_ENOTFOUND;
	}
	*missing = NULL;
	return 0;
}

static int action_lookup(arca_manifest **out, arca_store *store,
		const arca_digest *key, int touch)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];
	arca_buf json = ARCA_BUF_INIT;
	arca_manifest *m = NULL;
	const arca_digest *missing = NULL;
	arca_digest manifest_digest;
	int error;

	*out = NULL;
	arca_digest_to_hex(hex, key);
	if ((error = store->backend->ac_get(store->backend, key,
			&manifest_digest)) < 0)
		return error;
	/* A manifest is used with its action: the action's hit is noted. */
	error = blob_get_mem(&json, store, &manifest_digest, 0);
	if (error == ARCA_ECORRUPT || error == ARCA_ENOTFOUND) {
		/* The local tier has already dropped the entry with its
		 * manifest blob. */
		return arca__error(ARCA_ENOTFOUND, "action %s: manifest "
				"unusable (%s); treated as a miss", hex,
				arca_errmsg());
	}
	if (error < 0)
		return error;
	error = arca_manifest_from_json(&m, (const char *)json.data, json.size);
	if (error == 0 && !arca_digest_equal(&m->key, key))
		error = arca__error(ARCA_EINVAL, "manifest names another key");
	if (error == 0 && check_references(store, m, &missing) < 0) {
		char mhex[ARCA_DIGEST_HEXLEN + 1];

		arca_digest_to_hex(mhex, missing);
		arca__local_drop_blob(store->local, missing);
		error = arca__error(ARCA_ENOTFOUND, "action %s: blob %s is "
				"missing; treated as a miss", hex, mhex);
		goto cleanup;
	}
	if (error == ARCA_EINVAL &&
			arca__manifest_is_newer((const char *)json.data, json.size)) {
		error = arca__error(ARCA_ENOTFOUND, "action %s: manifest written "
				"by a newer arca; treated as a miss", hex);
		goto cleanup;
	}
	if (error == ARCA_EINVAL) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", arca_errmsg());
		arca__local_drop_blob(store->local, &manifest_digest);
		error = arca__error(ARCA_ENOTFOUND, "action %s: bad manifest "
				"(%s); removed, treated as a miss", hex, msg);
		goto cleanup;
	}
	if (error < 0)
		goto cleanup;
	if (touch)
		arca__local_touch(store->local, key);
	*out = m;
	m = NULL;
cleanup:
	arca_manifest_free(m);
	arca_buf_free(&json);
	return error;
}

int arca_action_get(arca_manifest **out, arca_store *store,
		const arca_digest *key)
{
	return action_lookup(out, store, key, 1);
}

int arca_action_peek(arca_manifest **out, arca_store *store,
		const arca_digest *key)
{
	return action_lookup(out, store, key, 0);
}

int arca_action_remove(arca_store *store, const arca_digest *key)
{
	return store->backend->ac_remove(store->backend, key);
}

int arca_action_resolve(arca_digest *out, arca_store *store,
		const char *prefix)
{
	return arca__local_resolve(store->local, out, prefix);
}

int arca_action_list(arca_store *store, const char *stage,
		arca_action_cb cb, void *ctx)
{
	/* Listings show this handle's own pending hits. */
	(void)arca__access_apply(store->local);
	return arca__local_list(store->local, stage, cb, ctx);
}

int arca_store_clear(uint64_t *n_removed, uint64_t *bytes_freed,
		arca_store *store, const arca_clear_filter *filter)
{
	int extra;

	if (filter == NULL)
		return arca__error(ARCA_EINVAL, "no clear filter");
	extra = (filter->tag != NULL) + (filter->older_than_s != 0) +
		(filter->key_prefix != NULL);
	if (extra > 0) {
		if (extra > 1 || filter->all || filter->stage || filter->input)
			return arca__error(ARCA_EINVAL, "clear takes exactly one "
					"of: all, a stage, an input, a tag, an "
					"age, a key prefix");
		return arca__lifecycle_clear(store->local, n_removed,
				bytes_freed, filter);
	}
	return arca__local_clear(store->local, n_removed, bytes_freed, filter);
}

/* ---- inspection ------------------------------------------------------ */

int arca_store_get_info(arca_store_info *out, arca_store *store)
{
	return arca__local_info(store->local, out);
}

int arca_stats_record(arca_store *store, const char *stage, arca_event event,
		uint64_t bytes, uint64_t saved_ms)
{
	return arca__local_stats_record(store->local, stage, event, bytes,
			saved_ms);
}

int arca_stats_list(arca_store *store, arca_stats_cb cb, void *ctx)
{
	return arca__local_stats_list(store->local, cb, ctx);
}

int arca_store_verify(uint64_t *n_checked, uint64_t *n_corrupt,
		arca_store *store, arca_verify_cb cb, void *ctx)
{
	return arca__local_verify(store->local, n_checked, n_corrupt, cb, ctx);
}
