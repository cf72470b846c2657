/*
 * Tiers: a second tier plugs in through arca_store_add_tier() without any
 * caller changing. The tier is a fake in-memory backend that counts its
 * calls, after libgit2's fake_backend (tests/libgit2/odb/backend/
 * backend_helpers.c), and can be told to fail, time out, decline or lie.
 *
 * Only the public headers are used: arca/arca.h and arca/sys/backend.h.
 */
#include "fixture.h"

#include "arca/arca.h"
#include "arca/sys/backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAKE_MAX 64
#define DEADLINE_UNTOUCHED ((int64_t)0x5a5a5a5a)

typedef enum fake_mode {
	FAKE_OK,       /* a working tier */
	FAKE_ERROR,    /* every call: ARCA_EUNAVAILABLE */
	FAKE_TIMEOUT,  /* every call: ARCA_ETIMEOUT */
	FAKE_WRONG,    /* blobs and manifests come back with a flipped byte */
	FAKE_WRONG_MANIFEST, /* manifests come back as another valid one */
	FAKE_DECLINE   /* puts: ARCA_ENOTSTORED */
} fake_mode;

typedef struct fake_blob {
	arca_digest digest;
	unsigned char *data;
	size_t len;
} fake_blob;

typedef struct fake_ac {
	arca_digest key;
	arca_digest manifest;
} fake_ac;

typedef struct fake_backend {
	arca_backend parent;
	fake_mode mode;
	fake_blob blobs[FAKE_MAX];
	size_t n_blobs;
	fake_ac acs[FAKE_MAX];
	size_t n_acs;
	int *freed;
	/* call counts */
	int blob_get_calls, blob_stat_calls, blob_put_calls;
	int ac_get_calls, ac_get_manifest_calls, ac_put_calls, ac_put2_calls;
	int ac_remove_calls, find_missing_calls, blob_put_fd_calls;
	/* what the last calls were given */
	uint64_t last_ttl_s;
	size_t last_n_tags;
	int64_t last_deadline_ms;
} fake_backend;

static fake_blob *fake_find(fake_backend *f, const arca_digest *d)
{
	size_t i;

	for (i = 0; i < f->n_blobs; i++)
		if (arca_digest_equal(&f->blobs[i].digest, d))
			return &f->blobs[i];
	return NULL;
}

static int fake_fails(fake_backend *f)
{
	if (f->parent.version >= 2)
		f->last_deadline_ms = f->parent.deadline_ms;
	if (f->mode == FAKE_ERROR)
		return ARCA_EUNAVAILABLE;
	if (f->mode == FAKE_TIMEOUT)
		return ARCA_ETIMEOUT;
	return 0;
}

/* In 64 KiB pieces, as a network tier's bytes arrive. */
static int fake_send(const unsigned char *data, size_t len,
		arca_sink_fn sink, void *ctx)
{
	size_t off = 0;
	int error;

	do {
		size_t n = len - off < 65536 ? len - off : 65536;

		if ((error = sink(ctx, data + off, n)) < 0)
			return error;
		off += n;
	} while (off < len);
	return 0;
}

static int fake_blob_get(arca_backend *b, const arca_digest *digest,
		arca_sink_fn sink, void *ctx)
{
	fake_backend *f = (fake_backend *)b;
	fake_blob *blob;
	unsigned char *copy;
	int error;

	f->blob_get_calls++;
	if ((error = fake_fails(f)) < 0)
		return error;
	if ((blob = fake_find(f, digest)) == NULL)
		return ARCA_ENOTFOUND;
	if (f->mode != FAKE_WRONG)
		return fake_send(blob->data, blob->len, sink, ctx);
	/* A lying tier: it does not verify what it sends. */
	copy = malloc(blob->len + 1);
	assert_non_null(copy);
	memcpy(copy, blob->data, blob->len);
	copy[blob->len / 2] ^= 0x01;
	error = fake_send(copy, blob->len, sink, ctx);
	free(copy);
	return error;
}

static int fake_blob_stat(arca_backend *b, const arca_digest *digest,
		uint64_t *size_out)
{
	fake_backend *f = (fake_backend *)b;
	fake_blob *blob;
	int error;

	f->blob_stat_calls++;
	if ((error = fake_fails(f)) < 0)
		return error;
	if ((blob = fake_find(f, digest)) == NULL)
		return ARCA_ENOTFOUND;
	if (size_out)
		*size_out = blob->len;
	return 0;
}

static arca_digest fake_store_blob(fake_backend *f, const void *data,
		size_t len)
{
	arca_digest d;
	fake_blob *blob;

	assert_int_equal(arca_digest_buffer(&d, data, len), 0);
	if (fake_find(f, &d) != NULL)
		return d;
	assert_true(f->n_blobs < FAKE_MAX);
	blob = &f->blobs[f->n_blobs++];
	blob->digest = d;
	blob->data = malloc(len + 1);
	assert_non_null(blob->data);
	if (len)
		memcpy(blob->data, data, len);
	blob->len = len;
	return d;
}

static int fake_blob_put(arca_backend *b, arca_digest *out,
		const void *data, size_t len)
{
	fake_backend *f = (fake_backend *)b;
	arca_digest d;
	int error;

	f->blob_put_calls++;
	if ((error = fake_fails(f)) < 0)
		return error;
	if (f->mode == FAKE_DECLINE)
		return ARCA_ENOTSTORED;
	d = fake_store_blob(f, data, len);
	if (out)
		*out = d;
	return 0;
}

/* blob_put_fd, which a test sets on the fake: reads fd to its end. */
static int fake_blob_put_fd(arca_backend *b, arca_digest *out,
		uint64_t *size_out, int fd)
{
	fake_backend *f = (fake_backend *)b;
	unsigned char *data = NULL;
	size_t len = 0, cap = 0;
	arca_digest d;
	ssize_t n;
	int error;

	f->blob_put_fd_calls++;
	if ((error = fake_fails(f)) < 0)
		return error;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			data = realloc(data, cap);
			assert_non_null(data);
		}
		n = read(fd, data + len, cap - len);
		assert_true(n >= 0);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	d = fake_store_blob(f, data, len);
	free(data);
	if (out)
		*out = d;
	if (size_out)
		*size_out = len;
	return 0;
}

static fake_ac *fake_find_ac(fake_backend *f, const arca_digest *key)
{
	size_t i;

	for (i = 0; i < f->n_acs; i++)
		if (arca_digest_equal(&f->acs[i].key, key))
			return &f->acs[i];
	return NULL;
}

static int fake_ac_get(arca_backend *b, const arca_digest *key,
		arca_digest *manifest_out)
{
	fake_backend *f = (fake_backend *)b;
	fake_ac *ac;
	int error;

	f->ac_get_calls++;
	if ((error = fake_fails(f)) < 0)
		return error;
	if ((ac = fake_find_ac(f, key)) == NULL)
		return ARCA_ENOTFOUND;
	*manifest_out = ac->manifest;
	return 0;
}

static int fake_ac_get_manifest(arca_backend *b, arca_digest *manifest_out,
		arca_buf *json_out, const arca_digest *key)
{
	fake_backend *f = (fake_backend *)b;
	fake_blob *blob;
	fake_ac *ac;
	int error;

	f->ac_get_manifest_calls++;
	if ((error = fake_fails(f)) < 0)
		return error;
	if ((ac = fake_find_ac(f, key)) == NULL ||
	    (blob = fake_find(f, &ac->manifest)) == NULL)
		return ARCA_ENOTFOUND;
	json_out->data = malloc(blob->len + 1);
	assert_non_null(json_out->data);
	memcpy(json_out->data, blob->data, blob->len);
	json_out->data[blob->len] = '\0';
	json_out->size = blob->len;
	if (f->mode == FAKE_WRONG)
		json_out->data[json_out->size / 2] ^= 0x01;
	if (f->mode == FAKE_WRONG_MANIFEST) {
		/* Still a valid manifest for the key, but not these bytes. */
		char *p = strstr((char *)json_out->data, "1234");

		assert_non_null(p);
		memcpy(p, "9999", 4);
	}
	*manifest_out = ac->manifest;
	return 0;
}

static int fake_record_ac(fake_backend *f, const arca_digest *key,
		const arca_digest *manifest)
{
	fake_ac *ac = fake_find_ac(f, key);

	if (ac == NULL) {
		assert_true(f->n_acs < FAKE_MAX);
		ac = &f->acs[f->n_acs++];
		ac->key = *key;
	}
	ac->manifest = *manifest;
	return 0;
}

static int fake_ac_put(arca_backend *b, const arca_digest *key,
		const arca_digest *manifest, const arca_manifest *m)
{
	fake_backend *f = (fake_backend *)b;
	int error;

	(void)m;
	f->ac_put_calls++;
	if ((error = fake_fails(f)) < 0)
		return error;
	return fake_record_ac(f, key, manifest);
}

static int fake_ac_put2(arca_backend *b, const arca_digest *key,
		const arca_digest *manifest, const arca_manifest *m,
		const arca_put_options *opts)
{
	fake_backend *f = (fake_backend *)b;
	int error;

	(void)m;
	f->ac_put2_calls++;
	f->last_ttl_s = opts ? opts->ttl_s : 0;
	f->last_n_tags = opts ? opts->n_tags : 0;
	if ((error = fake_fails(f)) < 0)
		return error;
	return fake_record_ac(f, key, manifest);
}

static int fake_ac_remove(arca_backend *b, const arca_digest *key)
{
	fake_backend *f = (fake_backend *)b;
	fake_ac *ac;
	int error;

	f->ac_remove_calls++;
	if ((error = fake_fails(f)) < 0)
		return error;
	if ((ac = fake_find_ac(f, key)) == NULL)
		return ARCA_ENOTFOUND;
	*ac = f->acs[--f->n_acs];
	return 0;
}

static int fake_find_missing(arca_backend *b, unsigned char *missing_out,
		const arca_digest *digests, size_t n)
{
	fake_backend *f = (fake_backend *)b;
	size_t i;
	int error;

	f->find_missing_calls++;
	if ((error = fake_fails(f)) < 0)
		return error;
	for (i = 0; i < n; i++)
		missing_out[i] = fake_find(f, &digests[i]) == NULL;
	return 0;
}

static void fake_free(arca_backend *b)
{
	fake_backend *f = (fake_backend *)b;
	size_t i;

	if (f->freed)
		(*f->freed)++;
	for (i = 0; i < f->n_blobs; i++)
		free(f->blobs[i].data);
	free(f);
}

/* A version 2 fake; version 1 leaves the appended members unset (as a
 * backend built with the version 1 header would). */
static fake_backend *fake_new(unsigned int version, fake_mode mode)
{
	fake_backend *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->parent.version = version;
	f->parent.name = "fake";
	f->parent.blob_get = fake_blob_get;
	f->parent.blob_stat = fake_blob_stat;
	f->parent.blob_put = fake_blob_put;
	f->parent.ac_get = fake_ac_get;
	f->parent.ac_put = fake_ac_put;
	f->parent.ac_remove = fake_ac_remove;
	f->parent.free = fake_free;
	f->parent.deadline_ms = DEADLINE_UNTOUCHED;
	if (version >= 2) {
		f->parent.find_missing = fake_find_missing;
		f->parent.ac_get_manifest = fake_ac_get_manifest;
		f->parent.ac_put2 = fake_ac_put2;
	}
	f->mode = mode;
	return f;
}

static fake_backend *add_fake(arca_store *s, unsigned int version,
		fake_mode mode, const arca_tier_options *opts)
{
	fake_backend *f = fake_new(version, mode);

	assert_int_equal(arca_store_add_tier(s, &f->parent, opts), 0);
	return f;
}

static arca_tier_stats tier_stats(arca_store *s, size_t i)
{
	arca_tier_stats st;

	assert_int_equal(arca_store_tier_stats(&st, s, i), 0);
	return st;
}

/* A manifest for key "stage" with one output, stdout and stderr, whose
 * blobs are in f (not in the store); its key is returned. */
static arca_manifest *fake_action(fake_backend *f, const char *stage,
		const char *out_bytes)
{
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	arca_buf json = ARCA_BUF_INIT;
	arca_digest out, md;
	fake_mode saved = f->mode;

	f->mode = FAKE_OK;
	assert_int_equal(arca_action_new(&a, stage), 0);
	assert_int_equal(arca_action_add_arg(a, "make"), 0);
	assert_int_equal(arca_action_add_arg(a, stage), 0);
	assert_int_equal(arca_manifest_from_action(&m, a), 0);
	arca_action_free(a);
	out = fake_store_blob(f, out_bytes, strlen(out_bytes));
	assert_int_equal(arca_manifest_add_output(m, "out.txt", &out,
			strlen(out_bytes), 0644), 0);
	m->stdout_digest = fake_store_blob(f, "remote stdout\n", 14);
	m->stdout_size = 14;
	m->stderr_digest = fake_store_blob(f, "remote stderr\n", 14);
	m->stderr_size = 14;
	m->duration_ms = 1234;
	assert_int_equal(arca_manifest_to_json(&json, m), 0);
	md = fake_store_blob(f, json.data, json.size);
	fake_record_ac(f, &m->key, &md);
	arca_buf_free(&json);
	f->mode = saved;
	return m;
}

/* A manifest whose blobs are in the store (tier 0 and the tiers that
 * took the write-through). */
static arca_manifest *local_action(arca_store *s, const char *stage,
		const char *out_bytes)
{
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	arca_digest out;

	assert_int_equal(arca_action_new(&a, stage), 0);
	assert_int_equal(arca_manifest_from_action(&m, a), 0);
	arca_action_free(a);
	assert_int_equal(arca_blob_put(&out, s, out_bytes, strlen(out_bytes)), 0);
	assert_int_equal(arca_manifest_add_output(m, "o", &out,
			strlen(out_bytes), 0644), 0);
	assert_int_equal(arca_blob_put(&m->stdout_digest, s, "", 0), 0);
	m->stderr_digest = m->stdout_digest;
	return m;
}

static int count_cb(const arca_action_info *info, void *ctx)
{
	(void)info;
	(*(int *)ctx)++;
	return 0;
}

static int n_local_actions(arca_store *s)
{
	int n = 0;

	assert_int_equal(arca_action_list(s, NULL, count_cb, &n), 0);
	return n;
}

/* ---- adding tiers ----------------------------------------------------- */

static void test_tier__add_and_ownership(void **state)
{
	fixture_store *fx = *state;
	arca_tier_options bad = ARCA_TIER_OPTIONS_INIT;
	arca_tier_stats st;
	fake_backend *f;
	int freed = 0;

	assert_int_equal(arca_store_tier_count(fx->store), 1);
	st = tier_stats(fx->store, 0);
	assert_string_equal(st.name, "local");
	assert_int_equal(arca_store_add_tier(fx->store, NULL, NULL),
			ARCA_EINVAL);

	/* Refused: freed at once, the store stays as it was. */
	f = fake_new(ARCA_BACKEND_VERSION + 1, FAKE_OK);
	f->freed = &freed;
	assert_int_equal(arca_store_add_tier(fx->store, &f->parent, NULL),
			ARCA_EINVAL);
	assert_int_equal(freed, 1);
	f = fake_new(2, FAKE_OK);
	f->freed = &freed;
	bad.version = 99;
	assert_int_equal(arca_store_add_tier(fx->store, &f->parent, &bad),
			ARCA_EINVAL);
	assert_int_equal(freed, 2);
	f = fake_new(2, FAKE_OK);
	f->freed = &freed;
	f->parent.blob_get = NULL;
	assert_int_equal(arca_store_add_tier(fx->store, &f->parent, NULL),
			ARCA_EINVAL);
	assert_int_equal(freed, 3);
	assert_int_equal(arca_store_tier_count(fx->store), 1);

	f = fake_new(2, FAKE_OK);
	f->freed = &freed;
	assert_int_equal(arca_store_add_tier(fx->store, &f->parent, NULL), 0);
	assert_int_equal(arca_store_tier_count(fx->store), 2);
	st = tier_stats(fx->store, 1);
	assert_string_equal(st.name, "fake");
	assert_int_equal(arca_store_tier_stats(&st, fx->store, 2), ARCA_EINVAL);
	assert_int_equal(freed, 3);
	arca_store_close(fx->store);
	fx->store = NULL;
	assert_int_equal(freed, 4);
}

/* ---- fall-through and promotion --------------------------------------- */

static void test_tier__blob_falls_through_and_is_promoted(void **state)
{
	fixture_store *fx = *state;
	fake_backend *f = add_fake(fx->store, 2, FAKE_OK, NULL);
	arca_buf buf = ARCA_BUF_INIT;
	arca_digest d, nothing;
	arca_tier_stats st;
	uint64_t size = 0;

	d = fake_store_blob(f, "only in the remote tier", 23);
	assert_int_equal(arca_blob_get(&buf, fx->store, &d), 0);
	assert_int_equal(buf.size, 23);
	assert_memory_equal(buf.data, "only in the remote tier", 23);
	arca_buf_free(&buf);
	assert_string_equal(arca_errmsg(), "");
	assert_int_equal(f->blob_get_calls, 1);
	st = tier_stats(fx->store, 1);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.promoted, 1);
	assert_int_equal(tier_stats(fx->store, 0).misses, 1);

	/* Promoted: the second read does not reach the tier. */
	assert_int_equal(arca_blob_get(&buf, fx->store, &d), 0);
	assert_memory_equal(buf.data, "only in the remote tier", 23);
	arca_buf_free(&buf);
	assert_int_equal(f->blob_get_calls, 1);
	assert_int_equal(arca_blob_stat(&size, fx->store, &d), 0);
	assert_int_equal(size, 23);
	assert_int_equal(f->blob_stat_calls, 0);

	/* A miss everywhere stays a clean miss. */
	assert_int_equal(arca_digest_buffer(&nothing, "nowhere", 7), 0);
	assert_int_equal(arca_blob_get(&buf, fx->store, &nothing),
			ARCA_ENOTFOUND);
	assert_null(buf.data);
	assert_int_equal(f->blob_get_calls, 2);
	assert_int_equal(tier_stats(fx->store, 1).misses, 1);
	assert_int_equal(arca_blob_stat(NULL, fx->store, &nothing),
			ARCA_ENOTFOUND);
	assert_int_equal(f->blob_stat_calls, 1);
}

static void test_tier__blob_file_and_fd_fall_through(void **state)
{
	fixture_store *fx = *state;
	fake_backend *f = add_fake(fx->store, 2, FAKE_OK, NULL);
	char *path = fixture_path("%s/restored.txt", fx->dir);
	char *path2 = fixture_path("%s/written.txt", fx->dir);
	unsigned char *data;
	arca_digest d, d2;
	size_t len;
	int fd;

	d = fake_store_blob(f, "file bytes", 10);
	d2 = fake_store_blob(f, "fd bytes", 8);
	assert_int_equal(arca_blob_get_file(fx->store, &d, path, 0644), 0);
	data = fixture_read_file(path, &len);
	assert_int_equal(len, 10);
	assert_memory_equal(data, "file bytes", 10);
	free(data);
	fd = open(path2, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(arca_blob_write_fd(fx->store, &d2, fd), 0);
	close(fd);
	data = fixture_read_file(path2, &len);
	assert_int_equal(len, 8);
	assert_memory_equal(data, "fd bytes", 8);
	free(data);
	assert_int_equal(tier_stats(fx->store, 1).promoted, 2);
	free(path);
	free(path2);
}

static void test_tier__action_hit_promotes_manifest_and_blobs(void **state)
{
	fixture_store *fx = *state;
	fake_backend *f = add_fake(fx->store, 2, FAKE_OK, NULL);
	arca_manifest *want = fake_action(f, "transcribe", "remote output\n");
	arca_manifest *m = NULL;
	arca_buf buf = ARCA_BUF_INIT;
	arca_tier_stats st;
	int gets;

	assert_int_equal(n_local_actions(fx->store), 0);
	assert_int_equal(arca_action_get(&m, fx->store, &want->key), 0);
	assert_string_equal(arca_errmsg(), "");
	assert_string_equal(m->stage, "transcribe");
	assert_int_equal(m->n_outputs, 1);
	assert_int_equal(m->duration_ms, 1234);
	arca_manifest_free(m);
	/* The manifest came with the AC lookup (one round trip). */
	assert_int_equal(f->ac_get_manifest_calls, 1);
	assert_int_equal(f->ac_get_calls, 0);
	st = tier_stats(fx->store, 1);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.promoted, 1);
	/* Output, stdout and stderr were copied with it. */
	assert_int_equal(f->blob_get_calls, 3);
	assert_int_equal(n_local_actions(fx->store), 1);

	gets = f->blob_get_calls;
	assert_int_equal(arca_action_get(&m, fx->store, &want->key), 0);
	arca_manifest_free(m);
	assert_int_equal(f->ac_get_manifest_calls, 1);
	assert_int_equal(arca_blob_get(&buf, fx->store,
			&want->outputs[0].digest), 0);
	assert_memory_equal(buf.data, "remote output\n", 14);
	arca_buf_free(&buf);
	assert_int_equal(arca_blob_get(&buf, fx->store, &want->stderr_digest), 0);
	arca_buf_free(&buf);
	assert_int_equal(f->blob_get_calls, gets);
	arca_manifest_free(want);
}

static void test_tier__version_1_backend_still_works(void **state)
{
	fixture_store *fx = *state;
	arca_tier_options opts = ARCA_TIER_OPTIONS_INIT;
	fake_backend *f;
	arca_manifest *want, *m = NULL;
	arca_digest d;

	opts.timeout_ms = 1000;
	f = add_fake(fx->store, 1, FAKE_OK, &opts);
	want = fake_action(f, "v1", "from a version 1 tier\n");
	assert_int_equal(arca_action_get(&m, fx->store, &want->key), 0);
	arca_manifest_free(m);
	/* ac_get then blob_get of the manifest, then its three blobs. */
	assert_int_equal(f->ac_get_calls, 1);
	assert_int_equal(f->blob_get_calls, 4);
	assert_int_equal(tier_stats(fx->store, 1).promoted, 1);
	/* Writes: ac_put, and blob_stat in place of find_missing. */
	m = local_action(fx->store, "v1put", "x");
	assert_int_equal(arca_action_put(fx->store, m), 0);
	assert_int_equal(f->ac_put_calls, 1);
	assert_true(f->blob_stat_calls >= 2);
	arca_manifest_free(m);
	assert_int_equal(arca_blob_put(&d, fx->store, "v1 blob", 7), 0);
	/* Members past version 1 were never touched. */
	assert_true(f->parent.deadline_ms == DEADLINE_UNTOUCHED);
	arca_manifest_free(want);
}

static void test_tier__no_promotion(void **state)
{
	fixture_store *fx = *state;
	arca_tier_options opts = ARCA_TIER_OPTIONS_INIT;
	arca_buf buf = ARCA_BUF_INIT;
	fake_backend *f;
	arca_manifest *want, *m = NULL;
	arca_digest d;

	opts.promote = 0;
	f = add_fake(fx->store, 2, FAKE_OK, &opts);
	d = fake_store_blob(f, "stays remote", 12);
	assert_int_equal(arca_blob_get(&buf, fx->store, &d), 0);
	arca_buf_free(&buf);
	assert_int_equal(arca_blob_get(&buf, fx->store, &d), 0);
	assert_memory_equal(buf.data, "stays remote", 12);
	arca_buf_free(&buf);
	assert_int_equal(f->blob_get_calls, 2);

	want = fake_action(f, "remote-only", "output stays remote\n");
	assert_int_equal(arca_action_get(&m, fx->store, &want->key), 0);
	arca_manifest_free(m);
	assert_int_equal(arca_action_get(&m, fx->store, &want->key), 0);
	arca_manifest_free(m);
	assert_int_equal(f->ac_get_manifest_calls, 2);
	/* The hit checked its blobs with one find_missing each time. */
	assert_int_equal(f->find_missing_calls, 2);
	assert_int_equal(n_local_actions(fx->store), 0);
	assert_int_equal(tier_stats(fx->store, 1).promoted, 0);
	assert_int_equal(tier_stats(fx->store, 1).hits, 4);
	arca_manifest_free(want);
}

static void test_tier__max_age_of_a_remote_hit(void **state)
{
	fixture_store *fx = *state;
	arca_tier_options opts = ARCA_TIER_OPTIONS_INIT;
	arca_get_options go = ARCA_GET_OPTIONS_INIT;
	arca_manifest *want, *m = NULL;
	arca_buf json = ARCA_BUF_INIT;
	arca_digest md;
	fake_backend *f;

	opts.promote = 0;
	f = add_fake(fx->store, 2, FAKE_OK, &opts);
	want = fake_action(f, "old", "made long ago\n");
	/* Re-record it as made 1000 s ago. */
	want->created -= 1000;
	assert_int_equal(arca_manifest_to_json(&json, want), 0);
	md = fake_store_blob(f, json.data, json.size);
	fake_record_ac(f, &want->key, &md);
	arca_buf_free(&json);

	go.max_age_s = 100;
	assert_int_equal(arca_action_get_ex(&m, fx->store, &want->key, &go),
			ARCA_ENOTFOUND);
	assert_null(m);
	go.max_age_s = 10000;
	assert_int_equal(arca_action_get_ex(&m, fx->store, &want->key, &go), 0);
	arca_manifest_free(m);
	arca_manifest_free(want);
}

/* ---- write-through ---------------------------------------------------- */

static void test_tier__write_through(void **state)
{
	fixture_store *fx = *state;
	arca_tier_options ro = ARCA_TIER_OPTIONS_INIT;
	arca_put_options po = ARCA_PUT_OPTIONS_INIT;
	const char *tags[] = { "nightly", "fr" };
	fake_backend *f, *r;
	arca_manifest *m, *got = NULL;
	char *path = fixture_path("%s/in.txt", fx->dir);
	arca_digest d;

	f = add_fake(fx->store, 2, FAKE_OK, NULL);
	ro.read_only = 1;
	r = add_fake(fx->store, 2, FAKE_OK, &ro);

	assert_int_equal(arca_blob_put(&d, fx->store, "written through", 15), 0);
	assert_int_equal(f->blob_put_calls, 1);
	assert_non_null(fake_find(f, &d));
	fixture_write_file(path, "a file written through", 22);
	assert_int_equal(arca_blob_put_file(&d, NULL, fx->store, path), 0);
	assert_int_equal(f->blob_put_calls, 2);
	assert_non_null(fake_find(f, &d));

	/* The blobs the action names are there already (written through):
	 * find_missing says so, and only the manifest blob is uploaded. */
	m = local_action(fx->store, "wt", "output bytes");
	assert_int_equal(f->blob_put_calls, 4);
	po.ttl_s = 3600;
	po.tags = tags;
	po.n_tags = 2;
	assert_int_equal(arca_action_put_ex(fx->store, m, &po), 0);
	assert_string_equal(arca_errmsg(), "");
	assert_int_equal(f->find_missing_calls, 1);
	assert_int_equal(f->blob_put_calls, 5);
	assert_int_equal(f->ac_put2_calls, 1);
	assert_int_equal(f->ac_put_calls, 0);
	assert_int_equal(f->last_ttl_s, 3600);
	assert_int_equal(f->last_n_tags, 2);
	assert_non_null(fake_find_ac(f, &m->key));
	assert_int_equal(tier_stats(fx->store, 1).stored, 6);

	/* The read-only tier never gets a put. */
	assert_int_equal(r->blob_put_calls, 0);
	assert_int_equal(r->ac_put_calls + r->ac_put2_calls, 0);
	assert_int_equal(r->find_missing_calls, 0);
	assert_int_equal(tier_stats(fx->store, 2).stored, 0);

	/* Removal reaches the writable tier. */
	assert_int_equal(arca_action_remove(fx->store, &m->key), 0);
	assert_int_equal(f->ac_remove_calls, 1);
	assert_int_equal(r->ac_remove_calls, 0);
	assert_null(fake_find_ac(f, &m->key));
	assert_int_equal(arca_action_get(&got, fx->store, &m->key),
			ARCA_ENOTFOUND);
	arca_manifest_free(m);
	free(path);
}

static void test_tier__write_through_uploads_missing_blobs(void **state)
{
	fixture_store *fx = *state;
	fake_backend *f;
	arca_manifest *m;

	/* Blobs put before the tier was added are not in it. */
	m = local_action(fx->store, "late", "made before the tier");
	f = add_fake(fx->store, 2, FAKE_OK, NULL);
	assert_int_equal(arca_action_put(fx->store, m), 0);
	assert_int_equal(f->find_missing_calls, 1);
	/* manifest, output, and the empty stdout = stderr. */
	assert_int_equal(f->blob_put_calls, 3);
	assert_non_null(fake_find(f, &m->outputs[0].digest));
	assert_non_null(fake_find(f, &m->stdout_digest));
	assert_int_equal(f->ac_put2_calls, 1);
	assert_int_equal(f->last_ttl_s, 0);
	arca_manifest_free(m);
}

/* ---- not stored --------------------------------------------------------- */

static void test_tier__not_stored(void **state)
{
	fixture_store *fx = *state;
	arca_tier_options small = ARCA_TIER_OPTIONS_INIT;
	fake_backend *f, *d;
	arca_tier_stats st;
	arca_manifest *m;
	arca_digest dg;

	small.max_blob_size = 8;
	f = add_fake(fx->store, 2, FAKE_OK, &small);
	d = add_fake(fx->store, 2, FAKE_DECLINE, NULL);

	assert_int_equal(arca_blob_put(&dg, fx->store, "more than eight", 15), 0);
	assert_string_equal(arca_errmsg(), "");
	assert_int_equal(f->blob_put_calls, 0);
	st = tier_stats(fx->store, 1);
	assert_int_equal(st.not_stored, 1);
	assert_int_equal(st.errors, 0);
	assert_int_equal(arca_blob_put(&dg, fx->store, "small", 5), 0);
	assert_int_equal(f->blob_put_calls, 1);
	assert_int_equal(tier_stats(fx->store, 1).stored, 1);

	/* A backend that declines: not_stored too, not an error. */
	st = tier_stats(fx->store, 2);
	assert_int_equal(d->blob_put_calls, 2);
	assert_int_equal(st.not_stored, 2);
	assert_int_equal(st.errors, 0);

	/* An action naming a blob the tier declined is not put there. */
	m = local_action(fx->store, "big", "an output larger than 8 bytes");
	assert_int_equal(arca_action_put(fx->store, m), 0);
	assert_int_equal(f->ac_put2_calls, 0);
	assert_null(fake_find_ac(f, &m->key));
	assert_int_equal(tier_stats(fx->store, 1).errors, 0);
	assert_int_equal(d->ac_put2_calls, 0);
	assert_int_equal(tier_stats(fx->store, 2).errors, 0);
	arca_manifest_free(m);
}

/* ---- failing tiers ---------------------------------------------------- */

static void failing_tier(void **state, fake_mode mode)
{
	fixture_store *fx = *state;
	arca_tier_options opts = ARCA_TIER_OPTIONS_INIT;
	arca_buf buf = ARCA_BUF_INIT;
	fake_backend *bad, *good;
	arca_manifest *m = NULL, *remote;
	arca_tier_stats st;
	arca_digest d, local, there;
	uint64_t failures;

	opts.timeout_ms = 250;
	bad = add_fake(fx->store, 2, mode, &opts);
	good = add_fake(fx->store, 2, FAKE_OK, NULL);
	there = fake_store_blob(good, "in the third tier", 17);
	remote = fake_action(good, "third", "third tier output\n");

	/* Puts succeed; the failing tier's failures are counted. */
	assert_int_equal(arca_blob_put(&local, fx->store, "local bytes", 11), 0);
	assert_string_equal(arca_errmsg(), "");
	m = local_action(fx->store, "put", "o");
	assert_int_equal(arca_action_put(fx->store, m), 0);
	assert_string_equal(arca_errmsg(), "");
	arca_manifest_free(m);
	m = NULL;

	/* A local hit never asks the tiers. */
	assert_int_equal(arca_blob_get(&buf, fx->store, &local), 0);
	arca_buf_free(&buf);
	/* A miss falls past the failing tier to the next one. */
	assert_int_equal(arca_blob_get(&buf, fx->store, &there), 0);
	assert_memory_equal(buf.data, "in the third tier", 17);
	arca_buf_free(&buf);
	assert_string_equal(arca_errmsg(), "");
	assert_int_equal(arca_action_get(&m, fx->store, &remote->key), 0);
	assert_string_equal(m->stage, "third");
	arca_manifest_free(m);
	/* Nowhere: a clean miss. */
	assert_int_equal(arca_digest_buffer(&d, "nowhere", 7), 0);
	assert_int_equal(arca_blob_get(&buf, fx->store, &d), ARCA_ENOTFOUND);
	assert_int_equal(arca_action_get(&m, fx->store, &d), ARCA_ENOTFOUND);
	assert_null(m);

	st = tier_stats(fx->store, 1);
	failures = mode == FAKE_ERROR ? st.errors : st.timeouts;
	assert_int_equal(st.hits, 0);
	assert_int_equal(mode == FAKE_ERROR ? st.timeouts : st.errors, 0);
	/* blob put, blob put x2 (local_action), find_missing of the action,
	 * two blob misses, two action misses. */
	assert_true(failures >= 8);
	assert_int_equal(bad->blob_put_calls, 3);
	assert_int_equal(bad->ac_put2_calls, 0);
	/* Each call had a deadline, timeout_ms ahead on CLOCK_MONOTONIC. */
	assert_true(bad->last_deadline_ms > 0 &&
			bad->last_deadline_ms != DEADLINE_UNTOUCHED);
	assert_int_equal(good->last_deadline_ms, 0);
	assert_int_equal(tier_stats(fx->store, 2).hits, 2);
	arca_manifest_free(remote);
}

static void test_tier__erroring_tier_never_fails_the_caller(void **state)
{
	failing_tier(state, FAKE_ERROR);
}

static void test_tier__timing_out_tier_never_fails_the_caller(void **state)
{
	failing_tier(state, FAKE_TIMEOUT);
}

static void test_tier__wrong_bytes_are_a_miss(void **state)
{
	fixture_store *fx = *state;
	fake_backend *f = add_fake(fx->store, 2, FAKE_OK, NULL);
	arca_buf buf = ARCA_BUF_INIT;
	arca_manifest *want, *m = NULL;
	arca_tier_stats st;
	arca_digest d;

	d = fake_store_blob(f, "the true bytes", 14);
	want = fake_action(f, "lies", "true output\n");
	f->mode = FAKE_WRONG;
	assert_int_equal(arca_blob_get(&buf, fx->store, &d), ARCA_ENOTFOUND);
	assert_null(buf.data);
	assert_int_equal(arca_blob_get(&buf, fx->store, &d), ARCA_ENOTFOUND);
	/* Nothing was promoted: both reads asked the tier. */
	assert_int_equal(f->blob_get_calls, 2);
	assert_int_equal(arca_blob_stat(NULL, fx->store, &d) == 0, 1);
	assert_int_equal(arca_action_get(&m, fx->store, &want->key),
			ARCA_ENOTFOUND);
	assert_null(m);
	st = tier_stats(fx->store, 1);
	assert_int_equal(st.corrupt, 3);
	assert_int_equal(st.hits, 1); /* the blob_stat */
	assert_int_equal(st.promoted, 0);
	assert_int_equal(n_local_actions(fx->store), 0);

	/* The same lookups once the tier tells the truth. */
	f->mode = FAKE_OK;
	assert_int_equal(arca_blob_get(&buf, fx->store, &d), 0);
	assert_memory_equal(buf.data, "the true bytes", 14);
	arca_buf_free(&buf);
	assert_int_equal(arca_action_get(&m, fx->store, &want->key), 0);
	arca_manifest_free(m);
	arca_manifest_free(want);
}

static void test_tier__wrong_manifest_is_a_miss(void **state)
{
	fixture_store *fx = *state;
	fake_backend *f = add_fake(fx->store, 2, FAKE_OK, NULL);
	arca_manifest *want, *m = NULL;

	want = fake_action(f, "lying-manifest", "fine output\n");
	f->mode = FAKE_WRONG_MANIFEST;
	assert_int_equal(arca_action_get(&m, fx->store, &want->key),
			ARCA_ENOTFOUND);
	assert_null(m);
	assert_int_equal(tier_stats(fx->store, 1).corrupt, 1);
	assert_int_equal(tier_stats(fx->store, 1).promoted, 0);
	assert_int_equal(n_local_actions(fx->store), 0);
	assert_int_equal(f->blob_get_calls, 0);
	arca_manifest_free(want);
}

static void test_tier__wrong_referenced_blob_is_a_miss(void **state)
{
	fixture_store *fx = *state;
	fake_backend *f = add_fake(fx->store, 1, FAKE_OK, NULL);
	arca_manifest *want, *m = NULL;
	fake_blob *out;

	want = fake_action(f, "bad-output", "an output that rots\n");
	out = fake_find(f, &want->outputs[0].digest);
	out->data[0] ^= 0x01;
	assert_int_equal(arca_action_get(&m, fx->store, &want->key),
			ARCA_ENOTFOUND);
	assert_null(m);
	assert_int_equal(n_local_actions(fx->store), 0);
	assert_int_equal(tier_stats(fx->store, 1).corrupt, 1);
	assert_int_equal(tier_stats(fx->store, 1).promoted, 0);
	arca_manifest_free(want);
}


/* ---- large blobs: bounded memory -------------------------------------- */

#define LARGE_LEN ((size_t)3 << 20) /* over the store's 1 MiB spill size */

static unsigned char *large_bytes(unsigned int seed)
{
	unsigned char *p = malloc(LARGE_LEN);
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	assert_non_null(p);
	for (i = 0; i < LARGE_LEN; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
	return p;
}

/* Files left in the store's tmp/ other than pin records. */
static int tmp_files(arca_store *s)
{
	char *dir = fixture_path("%s/tmp", arca_store_path(s));
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && strncmp(e->d_name, "pins-", 5) != 0)
			n++;
	closedir(d);
	free(dir);
	return n;
}

/* A 3 MiB hit of tier 1 is spilled to a temp file while it is hashed,
 * promoted from it, and served from it: the bytes are right, tier 0
 * holds them, tmp/ keeps nothing; also where O_TMPFILE is not used. */
static void test_tier__large_hit_is_spilled_and_promoted(void **state)
{
	fixture_store *fx = *state;
	fake_backend *f = add_fake(fx->store, 2, FAKE_OK, NULL);
	unsigned char *want = large_bytes(1), *got;
	char *path = fixture_path("%s/large.bin", fx->dir);
	arca_digest d;
	size_t len = 0;
	int round;

	for (round = 0; round < 2; round++) {
		if (round == 1) {
			want[0] ^= 0x55; /* another blob */
			setenv("ARCA_NO_O_TMPFILE", "1", 1);
		}
		d = fake_store_blob(f, want, LARGE_LEN);
		assert_int_equal(arca_blob_get_file(fx->store, &d, path, 0644),
				0);
		got = fixture_read_file(path, &len);
		assert_int_equal(len, LARGE_LEN);
		assert_memory_equal(got, want, LARGE_LEN);
		free(got);
		assert_int_equal(tier_stats(fx->store, 1).promoted, round + 1);
		assert_int_equal(tmp_files(fx->store), 0);
		/* Tier 0 has it: the next read does not reach the tier. */
		assert_int_equal(arca_blob_get_file(fx->store, &d, path, 0644),
				0);
		assert_int_equal(f->blob_get_calls, round + 1);
	}
	unsetenv("ARCA_NO_O_TMPFILE");
	/* Promotion off: served from the temp file, tier 0 unchanged. */
	assert_int_equal(arca_store_tier_set_promote(fx->store, 1, 0), 0);
	want[1] ^= 0x55;
	d = fake_store_blob(f, want, LARGE_LEN);
	assert_int_equal(arca_blob_get_file(fx->store, &d, path, 0644), 0);
	got = fixture_read_file(path, &len);
	assert_int_equal(len, LARGE_LEN);
	assert_memory_equal(got, want, LARGE_LEN);
	free(got);
	assert_int_equal(tier_stats(fx->store, 1).promoted, 2);
	f->mode = FAKE_ERROR;
	assert_int_equal(arca_blob_get_file(fx->store, &d, path, 0644),
			ARCA_ENOTFOUND);
	assert_int_equal(tmp_files(fx->store), 0);
	free(want);
	free(path);
}

/* A tier that sends 3 MiB of wrong bytes without noticing: the store's
 * own re-hash of the spilled copy makes it a corrupt miss, nothing
 * promoted, no output file, nothing left in tmp/. */
static void test_tier__large_wrong_bytes_are_a_miss(void **state)
{
	fixture_store *fx = *state;
	fake_backend *f = add_fake(fx->store, 2, FAKE_WRONG, NULL);
	unsigned char *want = large_bytes(2);
	char *path = fixture_path("%s/large.bin", fx->dir);
	arca_store_info info;
	arca_digest d;

	d = fake_store_blob(f, want, LARGE_LEN);
	assert_int_equal(arca_blob_get_file(fx->store, &d, path, 0644),
			ARCA_ENOTFOUND);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(tier_stats(fx->store, 1).corrupt, 1);
	assert_int_equal(tier_stats(fx->store, 1).promoted, 0);
	assert_int_equal(arca_store_get_info(&info, fx->store), 0);
	assert_int_equal(info.n_blobs, 0);
	assert_int_equal(tmp_files(fx->store), 0);
	free(want);
	free(path);
}

/* Write-through of a large file blob goes through the tier's blob_put_fd
 * (from tier 0's file), for a put and for a push; a small one, or a tier
 * without blob_put_fd, through blob_put. */
static void test_tier__large_write_through_uses_put_fd(void **state)
{
	fixture_store *fx = *state;
	fake_backend *f = fake_new(2, FAKE_OK);
	fake_backend *g;
	unsigned char *big = large_bytes(3);
	char *path = fixture_path("%s/in.bin", fx->dir);
	arca_manifest *m;
	arca_transfer xfer = { 0, 0, 0, 0, 0 };
	arca_digest d, out;
	uint64_t size = 0;

	f->parent.blob_put_fd = fake_blob_put_fd;
	assert_int_equal(arca_store_add_tier(fx->store, &f->parent, NULL), 0);
	fixture_write_file(path, big, LARGE_LEN);
	assert_int_equal(arca_blob_put_file(&d, &size, fx->store, path), 0);
	assert_int_equal(size, LARGE_LEN);
	assert_int_equal(f->blob_put_fd_calls, 1);
	assert_int_equal(f->blob_put_calls, 0);
	assert_non_null(fake_find(f, &d));
	assert_memory_equal(fake_find(f, &d)->data, big, LARGE_LEN);
	assert_int_equal(tier_stats(fx->store, 1).bytes_up, LARGE_LEN);
	fixture_write_file(path, "small", 5);
	assert_int_equal(arca_blob_put_file(&d, &size, fx->store, path), 0);
	assert_int_equal(f->blob_put_fd_calls, 1);
	assert_int_equal(f->blob_put_calls, 1);

	/* A push of an action with a large output the tier lacks. */
	big[0] ^= 0x55;
	fixture_write_file(path, big, LARGE_LEN);
	f->mode = FAKE_DECLINE; /* not written through now */
	f->parent.blob_put_fd = NULL;
	assert_int_equal(arca_blob_put_file(&out, &size, fx->store, path), 0);
	f->parent.blob_put_fd = fake_blob_put_fd;
	f->mode = FAKE_OK;
	assert_null(fake_find(f, &out));
	m = local_action(fx->store, "push-large", "x");
	m->outputs[0].digest = out;
	m->outputs[0].size = LARGE_LEN;
	f->mode = FAKE_DECLINE;
	assert_int_equal(arca_action_put(fx->store, m), 0);
	f->mode = FAKE_OK;
	assert_int_equal(f->blob_put_fd_calls, 1);
	assert_int_equal(arca_tier_push(&xfer, fx->store, 1, &m->key), 0);
	assert_int_equal(f->blob_put_fd_calls, 2);
	assert_non_null(fake_find(f, &out));
	assert_memory_equal(fake_find(f, &out)->data, big, LARGE_LEN);
	assert_true(xfer.bytes >= LARGE_LEN);
	arca_manifest_free(m);

	/* A tier without blob_put_fd gets the bytes from memory. */
	g = add_fake(fx->store, 2, FAKE_OK, NULL);
	big[1] ^= 0x55;
	fixture_write_file(path, big, LARGE_LEN);
	assert_int_equal(arca_blob_put_file(&d, &size, fx->store, path), 0);
	assert_int_equal(g->blob_put_calls, 1);
	assert_non_null(fake_find(g, &d));
	assert_int_equal(f->blob_put_fd_calls, 3);
	free(big);
	free(path);
}

/* An action hit of tier 1 with a 3 MiB output: the output is spilled,
 * verified and promoted with the rest; a later hit is tier 0's alone. */
static void test_tier__large_action_output_is_promoted(void **state)
{
	fixture_store *fx = *state;
	fake_backend *f = add_fake(fx->store, 2, FAKE_OK, NULL);
	unsigned char *big = large_bytes(4);
	char *path = fixture_path("%s/out.bin", fx->dir);
	unsigned char *got;
	arca_manifest *want, *m = NULL;
	size_t len = 0, i;

	/* fake_action's output is a string: no NUL but the last byte. */
	for (i = 0; i < LARGE_LEN; i++)
		if (big[i] == 0)
			big[i] = 1;
	big[LARGE_LEN - 1] = '\0';
	want = fake_action(f, "large", (const char *)big);
	assert_int_equal(arca_action_get(&m, fx->store, &want->key), 0);
	assert_int_equal(tier_stats(fx->store, 1).promoted, 1);
	assert_int_equal(tmp_files(fx->store), 0);
	f->mode = FAKE_ERROR;
	assert_int_equal(arca_blob_get_file(fx->store, &m->outputs[0].digest,
			path, 0644), 0);
	got = fixture_read_file(path, &len);
	assert_int_equal(len, LARGE_LEN - 1);
	assert_memory_equal(got, big, len);
	free(got);
	arca_manifest_free(m);
	arca_manifest_free(want);
	free(big);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tier__add_and_ownership,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(
			test_tier__blob_falls_through_and_is_promoted,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(
			test_tier__blob_file_and_fd_fall_through,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(
			test_tier__action_hit_promotes_manifest_and_blobs,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(
			test_tier__version_1_backend_still_works,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(test_tier__no_promotion,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(
			test_tier__max_age_of_a_remote_hit,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(test_tier__write_through,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(
			test_tier__write_through_uploads_missing_blobs,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(test_tier__not_stored,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(
			test_tier__erroring_tier_never_fails_the_caller,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(
			test_tier__timing_out_tier_never_fails_the_caller,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(test_tier__wrong_bytes_are_a_miss,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(
			test_tier__wrong_manifest_is_a_miss,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(
			test_tier__wrong_referenced_blob_is_a_miss,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(
			test_tier__large_hit_is_spilled_and_promoted,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(
			test_tier__large_wrong_bytes_are_a_miss,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(
			test_tier__large_write_through_uses_put_fd,
			fixture_store_setup, fixture_store_teardown),
		cmocka_unit_test_setup_teardown(
			test_tier__large_action_output_is_promoted,
			fixture_store_setup, fixture_store_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
