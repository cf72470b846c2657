/*
 * The S3 tier against a real S3 server that verifies AWS Signature
 * Version 4: @20minutes/s3rver (tests/s3/server.js, installed by
 * scripts/bootstrap), started by each test on a kernel-chosen 127.0.0.1
 * port with a temp directory and killed by its teardown. The store is
 * reached through the public headers only; what lands in the bucket is
 * checked with signed requests of the test's own (libcurl).
 */
#include "fixture.h"
#include "server_helpers.h"

#include "arca/arca.h"
#include "arca/sys/backend.h"
#include "arca/sys/s3.h"

#include <curl/curl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEY_ID "AKIDARCATEST"
#define SECRET "arca-test-secret-0123456789"
#define WRONG_SECRET "not-the-secret-9876543210"
#define BUCKET "arca-test"
#define PREFIX "team1"

typedef struct sfx {
	char *dir;
	arca_store *store;
	pid_t pid;
	int port;
	char endpoint[64];
	char url[256];       /* the tier's URL */
	const char *portfile; /* where the starting server writes its port */
} sfx;

/* Whether a program is on PATH. */
static int on_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[4096];

	while (path && *path) {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
		if (access(buf, X_OK) == 0)
			return 1;
		path += n;
		if (*path == ':')
			path++;
	}
	return 0;
}

/* tests/s3 (ctest sets ARCA_S3_SERVER_DIR). */
static char *server_dir(void)
{
	const char *dir = getenv("ARCA_S3_SERVER_DIR");

	return fixture_path("%s", dir ? dir : "tests/s3");
}

/* Whether the server has written its port (into f->port). */
static int port_written(void *ctx)
{
	sfx *f = ctx;
	size_t len = 0;
	unsigned char *p = fixture_read_file(f->portfile, &len);

	if (p == NULL)
		return 0;
	f->port = atoi((char *)p);
	free(p);
	return 1;
}

/*
 * Start the S3 server with bucket BUCKET and wait (at most 15 s) until
 * it has written its port. Dies with the test process (PR_SET_PDEATHSIG).
 */
static void server_start(sfx *f)
{
	char *sdir = server_dir();
	char *script = fixture_path("%s/server.js", sdir);
	char *mod = fixture_path("%s/node_modules/@20minutes/s3rver", sdir);
	char *data = fixture_path("%s/s3data", f->dir);
	char *portfile = fixture_path("%s/port", f->dir);
	char *log = fixture_path("%s/server.log", f->dir);
	const char *const argv[] = { "node", script, data, portfile, BUCKET,
		NULL };

	if (access(mod, F_OK) != 0)
		fail_msg("%s is missing: run scripts/bootstrap (npm ci in "
				"tests/s3)", mod);
	/* The server's credentials; inherited by the child. */
	setenv("S3_TEST_ACCESS_KEY", KEY_ID, 1);
	setenv("S3_TEST_SECRET", SECRET, 1);
	f->pid = spawn_logged(argv, log);
	f->portfile = portfile;
	wait_ready(port_written, f, &f->pid, 15000, "the S3 server", log);
	f->portfile = NULL;
	snprintf(f->endpoint, sizeof(f->endpoint), "http://127.0.0.1:%d",
			f->port);
	snprintf(f->url, sizeof(f->url), "s3://" BUCKET "/" PREFIX
			"?endpoint=%s&region=us-east-1", f->endpoint);
	free(sdir);
	free(script);
	free(mod);
	free(data);
	free(portfile);
	free(log);
}

/* Credentials of the environment: the server's. */
static void env_credentials(const char *secret)
{
	setenv("AWS_ACCESS_KEY_ID", KEY_ID, 1);
	setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
}

static sfx *sfx_new(int with_server)
{
	sfx *f = calloc(1, sizeof(*f));
	char *sdir;

	assert_non_null(f);
	if (with_server && !on_path("node")) {
		free(f);
		return NULL;
	}
	f->dir = fixture_tempdir();
	env_credentials(SECRET);
	if (with_server)
		server_start(f);
	sdir = fixture_path("%s/store", f->dir);
	f->store = open_store(sdir);
	free(sdir);
	return f;
}

/* A server, a store in dir/store with the bucket as tier 1. */
static int setup_tier(void **state)
{
	sfx *f = sfx_new(1);

	if (f != NULL && arca_store_add_tier_url(f->store, f->url, NULL) != 0)
		fail_msg("add tier %s: %s", f->url, arca_errmsg());
	*state = f;
	return 0;
}

/* A server, a store without tiers. */
static int setup_server(void **state)
{
	*state = sfx_new(1);
	return 0;
}

/* A server answering conditional writes as mode says (server.js,
 * S3_TEST_CONDITIONAL), a store without tiers. */
static int setup_conditional(void **state, const char *mode)
{
	setenv("S3_TEST_CONDITIONAL", mode, 1);
	*state = sfx_new(1);
	unsetenv("S3_TEST_CONDITIONAL");
	return 0;
}

static int setup_honour(void **state)
{
	return setup_conditional(state, "honour");
}

static int setup_refuse_501(void **state)
{
	return setup_conditional(state, "501");
}

static int setup_refuse_400(void **state)
{
	return setup_conditional(state, "400");
}

static int setup_conflict(void **state)
{
	return setup_conditional(state, "409");
}

/* A store, no server. */
static int setup_none(void **state)
{
	*state = sfx_new(0);
	return 0;
}

static int teardown(void **state)
{
	sfx *f = *state;

	if (f == NULL)
		return 0;
	arca_store_close(f->store);
	kill_child(&f->pid);
	fixture_rmdir(f->dir);
	free(f);
	arca_set_clock(NULL, NULL);
	return 0;
}

/* Skip, saying why, when node is not installed (scripts/bootstrap
 * installs it). */
#define NEED_SERVER(f)                                                    \
	do {                                                              \
		if ((f) == NULL) {                                        \
			print_message("node is not installed: S3 tests "  \
					"skipped (scripts/bootstrap)\n"); \
			skip();                                           \
		}                                                         \
	} while (0)

/* ---- helpers ------------------------------------------------------------ */

static arca_backend *open_backend(const sfx *f, uint64_t threshold)
{
	arca_s3_options opts = ARCA_S3_OPTIONS_INIT;
	arca_backend *b = NULL;

	opts.multipart_threshold = threshold;
	opts.timeout_ms = 60000;
	if (arca_backend_s3_open(&b, f->url, &opts) != 0)
		fail_msg("open %s: %s", f->url, arca_errmsg());
	return b;
}

static void object_key(char *out, size_t size, const char *kind,
		const arca_digest *d)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	arca_digest_to_hex(hex, d);
	snprintf(out, size, PREFIX "/%s/%s", kind, hex);
}

typedef struct raw_answer {
	long status;
	char expires[64];
	char encoding[32];   /* x-amz-meta-arca-encoding */
	char size[32];       /* x-amz-meta-arca-size */
	char body[16384];
	size_t body_len;
	uint64_t total;      /* bytes of the body, all of them */
} raw_answer;

static size_t raw_body(char *data, size_t size, size_t n, void *ctx)
{
	raw_answer *a = ctx;
	size_t len = size * n, room = sizeof(a->body) - 1 - a->body_len;

	memcpy(a->body + a->body_len, data, len < room ? len : room);
	a->body_len += len < room ? len : room;
	a->total += len;
	return len;
}

static void raw_header(CURL *c, const char *name, char *out, size_t size)
{
	struct curl_header *hdr = NULL;

	out[0] = '\0';
	if (curl_easy_header(c, name, 0, CURLH_HEADER, -1, &hdr) == CURLHE_OK)
		snprintf(out, size, "%s", hdr->value);
}

static raw_answer raw_request_bin(const sfx *f, const char *method,
		const char *key, const void *body, size_t body_len,
		const char *const *headers);

/* A signed request of the test's own: method on BUCKET/key, with body
 * (PUT) or none. */
static raw_answer raw_request(const sfx *f, const char *method,
		const char *key, const char *body)
{
	return raw_request_bin(f, method, key, body, body ? strlen(body) : 0,
			NULL);
}

/* raw_request with a binary body and extra header lines (NULL-ended). */
static raw_answer raw_request_bin(const sfx *f, const char *method,
		const char *key, const void *body, size_t body_len,
		const char *const *headers)
{
	char url[512], sigv4[] = "aws:amz:us-east-1:s3";
	struct curl_slist *h = NULL;
	struct curl_header *hdr = NULL;
	raw_answer a;
	CURL *c = curl_easy_init();

	memset(&a, 0, sizeof(a));
	assert_non_null(c);
	snprintf(url, sizeof(url), "%s/" BUCKET "/%s", f->endpoint, key);
	h = curl_slist_append(h, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
	while (headers != NULL && *headers != NULL)
		h = curl_slist_append(h, *headers++);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4);
	curl_easy_setopt(c, CURLOPT_USERNAME, KEY_ID);
	curl_easy_setopt(c, CURLOPT_PASSWORD, SECRET);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, raw_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
	}
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
	if (curl_easy_header(c, "x-amz-meta-arca-expires", 0, CURLH_HEADER, -1,
			&hdr) == CURLHE_OK)
		snprintf(a.expires, sizeof(a.expires), "%s", hdr->value);
	raw_header(c, "x-amz-meta-arca-encoding", a.encoding,
			sizeof(a.encoding));
	raw_header(c, "x-amz-meta-arca-size", a.size, sizeof(a.size));
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return a;
}

static long object_status(const sfx *f, const char *kind,
		const arca_digest *d)
{
	char key[256];

	object_key(key, sizeof(key), kind, d);
	return raw_request(f, "HEAD", key, NULL).status;
}

/* Lines of the server's request log holding needle. */
static int log_count(const sfx *f, const char *needle)
{
	char *log = fixture_path("%s/server.log", f->dir);
	size_t len = 0;
	unsigned char *p = fixture_read_file(log, &len);
	const char *q;
	int n = 0;

	free(log);
	if (p == NULL)
		return 0;
	for (q = (char *)p; (q = strstr(q, needle)) != NULL; q++)
		n++;
	free(p);
	return n;
}

/* ---- blobs ---------------------------------------------------------------- */

static void test_s3__blob_put_get_stat_and_promotion(void **state)
{
	sfx *f = *state;
	arca_backend *b;
	arca_digest d, remote;
	uint64_t size = 0;
	mem m = { .len = 0 };
	char *path;
	int fd, pipefd[2];

	NEED_SERVER(f);
	b = open_backend(f, 0);
	/* Write-through: the blob is an object under PREFIX/cas/<hex>. */
	assert_int_equal(arca_blob_put(&d, f->store, "hello s3", 8), 0);
	assert_int_equal(tier_stats(f->store, 1).stored, 1);
	assert_int_equal(object_status(f, "cas", &d), 200);

	check_tier_blobs(b, f->store, &d, "hello s3", "only in s3");

	/* blob_put_fd from a file (from its current offset) and a pipe. */
	path = fixture_path("%s/input.bin", f->dir);
	fixture_write_file(path, "skip:from a file", 16);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(lseek(fd, 5, SEEK_SET), 5);
	size = 0;
	assert_int_equal(b->blob_put_fd(b, &remote, &size, fd), 0);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 16);
	close(fd);
	assert_int_equal(size, 11);
	assert_int_equal(arca_digest_buffer(&d, "from a file", 11), 0);
	assert_true(arca_digest_equal(&remote, &d));
	assert_int_equal(object_status(f, "cas", &d), 200);
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(write(pipefd[1], "from a pipe", 11), 11);
	close(pipefd[1]);
	assert_int_equal(b->blob_put_fd(b, &remote, &size, pipefd[0]), 0);
	close(pipefd[0]);
	assert_int_equal(size, 11);
	assert_int_equal(arca_digest_buffer(&d, "from a pipe", 11), 0);
	assert_true(arca_digest_equal(&remote, &d));
	m.len = 0;
	assert_int_equal(b->blob_get(b, &d, mem_sink, &m), 0);
	assert_memory_equal(m.data, "from a pipe", 11);
	free(path);
	b->free(b);
}

typedef struct cmp_sink {
	int fd;              /* the original, read alongside */
	uint64_t got;
	int differs;
	unsigned char buf[1 << 16];
} cmp_sink;

static int cmp_write(void *ctx, const void *data, size_t len)
{
	cmp_sink *c = ctx;
	size_t done = 0;

	while (done < len) {
		size_t want = len - done < sizeof(c->buf) ? len - done :
			sizeof(c->buf);
		ssize_t n = pread(c->fd, c->buf, want, (off_t)c->got);

		if (n <= 0 || memcmp(c->buf, (const char *)data + done,
				(size_t)n) != 0) {
			c->differs = 1;
			return 0;
		}
		done += (size_t)n;
		c->got += (uint64_t)n;
	}
	return 0;
}

static long max_rss_kib(void)
{
	struct rusage ru;

	assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_maxrss;
}

/* 80 MiB with an 8 MiB threshold: ten parts; read back byte-exact; the
 * process never holds the blob (its peak RSS grows by far less). */
static void test_s3__large_blob_is_multipart_with_bounded_memory(void **state)
{
	sfx *f = *state;
	const uint64_t total = (uint64_t)80 << 20;
	char *path = NULL;
	unsigned char *chunk = NULL;
	uint64_t size = 0, x = 0x9e3779b97f4a7c15ULL, written = 0;
	arca_backend *b;
	arca_digest d, want;
	cmp_sink *cs = NULL;
	long rss_before, rss_after;
	int fd;

	NEED_SERVER(f);
	b = open_backend(f, (uint64_t)8 << 20);
	path = fixture_path("%s/big.bin", f->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	chunk = malloc(1 << 20);
	assert_non_null(chunk);
	while (written < total) {
		size_t i;

		for (i = 0; i < (1 << 20); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			chunk[i] = (unsigned char)x;
		}
		assert_int_equal(write(fd, chunk, 1 << 20), 1 << 20);
		written += 1 << 20;
	}
	free(chunk);
	assert_int_equal(arca_digest_file(&want, &size, path), 0);
	assert_int_equal(size, total);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);

	rss_before = max_rss_kib();
	assert_int_equal(b->blob_put_fd(b, &d, &size, fd), 0);
	assert_int_equal(size, total);
	assert_true(arca_digest_equal(&d, &want));
	/* Ten UploadParts and one Complete in the server's log. */
	assert_int_equal(log_count(f, "partNumber="), 10);
	assert_int_equal(log_count(f, "POST /" BUCKET "/" PREFIX "/cas/"), 2);

	cs = calloc(1, sizeof(*cs));
	assert_non_null(cs);
	cs->fd = fd;
	assert_int_equal(b->blob_get(b, &d, cmp_write, cs), 0);
	assert_int_equal(cs->differs, 0);
	assert_int_equal(cs->got, total);
	rss_after = max_rss_kib();
	if (rss_after - rss_before > 24 * 1024)
		fail_msg("peak RSS grew by %ld KiB moving an 80 MiB blob",
				rss_after - rss_before);
	close(fd);
	free(cs);
	free(path);
	b->free(b);
}

typedef struct shrinker {
	const sfx *f;
	const char *path;
	int done;
} shrinker;

/* Once the upload has begun (CreateMultipartUpload in the server's log),
 * cut the file short under the uploader. */
static void *shrink_when_uploading(void *arg)
{
	shrinker *sh = arg;
	int64_t until = now_ms() + 20000;

	while (now_ms() < until &&
	       log_count(sh->f, "?uploads=") == 0)
		usleep(1000);
	sh->done = truncate(sh->path, 4096) == 0;
	return NULL;
}

/* A multipart upload that fails half-way is aborted: no parts left
 * behind, no object. */
static void test_s3__failed_multipart_upload_is_aborted(void **state)
{
	sfx *f = *state;
	const size_t total = (size_t)40 << 20;
	char *path = fixture_path("%s/shrinking.bin", f->dir);
	char key[256];
	unsigned char *bytes;
	arca_backend *b;
	arca_digest d;
	shrinker sh = { f, path, 0 };
	pthread_t t;
	uint64_t size = 0;
	size_t i;
	int fd, rc;

	NEED_SERVER(f);
	b = open_backend(f, (uint64_t)5 << 20);
	bytes = malloc(total);
	assert_non_null(bytes);
	for (i = 0; i < total; i++)
		bytes[i] = (unsigned char)(i * 2654435761u >> 13);
	fixture_write_file(path, bytes, total);
	assert_int_equal(arca_digest_buffer(&d, bytes, total), 0);
	free(bytes);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pthread_create(&t, NULL, shrink_when_uploading, &sh),
			0);
	rc = b->blob_put_fd(b, &d, &size, fd);
	pthread_join(t, NULL);
	close(fd);
	assert_true(sh.done);
	if (rc != ARCA_EIO)
		fail_msg("blob_put_fd of a shrinking file: %d (%s)", rc,
				arca_errmsg());
	assert_int_equal(log_count(f, "DELETE /" BUCKET "/" PREFIX "/cas/"), 1);
	assert_true(log_count(f, "?uploadId=") >= 1);
	object_key(key, sizeof(key), "cas", &d);
	assert_int_equal(raw_request(f, "HEAD", key, NULL).status, 404);
	free(path);
	b->free(b);
}

/* Wrong bytes under a blob's key: a miss of the tier, counted corrupt,
 * never returned nor promoted. */
static void test_s3__wrong_bytes_are_a_corrupt_miss(void **state)
{
	sfx *f = *state;
	arca_buf buf = ARCA_BUF_INIT;
	arca_backend *b;
	arca_digest d;
	char key[256];
	mem m = { .len = 0 };

	NEED_SERVER(f);
	b = open_backend(f, 0);
	assert_int_equal(arca_digest_buffer(&d, "the right bytes", 15), 0);
	object_key(key, sizeof(key), "cas", &d);
	assert_int_equal(raw_request(f, "PUT", key, "the WRONG bytes").status,
			200);
	assert_int_equal(arca_blob_get(&buf, f->store, &d), ARCA_ENOTFOUND);
	assert_null(buf.data);
	assert_int_equal(tier_stats(f->store, 1).corrupt, 1);
	assert_int_equal(tier_stats(f->store, 1).promoted, 0);
	/* Not promoted: asked again, S3 is asked again. */
	assert_int_equal(arca_blob_get(&buf, f->store, &d), ARCA_ENOTFOUND);
	assert_int_equal(tier_stats(f->store, 1).corrupt, 2);
	assert_int_equal(b->blob_get(b, &d, mem_sink, &m), ARCA_ECORRUPT);
	assert_true(one_line(arca_errmsg()));
	b->free(b);
}

/* ---- the action cache ---------------------------------------------------- */

/* ---- compression ---------------------------------------------------------- */

/* len bytes of log-like text (zstd shrinks it many times). */
static unsigned char *text_blob(size_t len)
{
	unsigned char *p = malloc(len);
	size_t i = 0;
	int line = 0;

	assert_non_null(p);
	while (i < len) {
		char buf[80];
		int n = snprintf(buf, sizeof(buf), "frame %d: word %d heard\n",
				line, line * 7 % 13);
		size_t k = (size_t)n < len - i ? (size_t)n : len - i;

		memcpy(p + i, buf, k);
		i += k;
		line++;
	}
	return p;
}

static raw_answer raw_object(const sfx *f, const char *method,
		const arca_digest *d)
{
	char key[256];

	object_key(key, sizeof(key), "cas", d);
	return raw_request(f, method, key, NULL);
}

/* A compressible blob is one zstd frame in the bucket, much smaller, with
 * its encoding and size in the metadata; stat says the blob's size; it
 * reads back through the backend and through the store. */
static void test_s3__compressible_blob_is_stored_compressed(void **state)
{
	sfx *f = *state;
	const size_t len = 200000;
	unsigned char *bytes = text_blob(len);
	arca_buf buf = ARCA_BUF_INIT;
	arca_backend *b;
	arca_digest d;
	raw_answer a;
	uint64_t size = 0;
	char want[32];

	NEED_SERVER(f);
	b = open_backend(f, 0);
	assert_int_equal(b->blob_put(b, &d, bytes, len), 0);
	a = raw_object(f, "GET", &d);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.encoding, "zstd");
	snprintf(want, sizeof(want), "%zu", len);
	assert_string_equal(a.size, want);
	if (a.total * 10 > len)
		fail_msg("stored %llu bytes for a %zu-byte text blob",
				(unsigned long long)a.total, len);
	assert_memory_equal(a.body, "\x28\xb5\x2f\xfd", 4);
	assert_int_equal(b->blob_stat(b, &d, &size), 0);
	assert_int_equal(size, len);
	assert_int_equal(arca_blob_stat(&size, f->store, &d), 0);
	assert_int_equal(size, len);
	assert_int_equal(arca_blob_get(&buf, f->store, &d), 0);
	assert_int_equal(buf.size, len);
	assert_memory_equal(buf.data, bytes, len);
	assert_int_equal(tier_stats(f->store, 1).corrupt, 0);
	arca_buf_free(&buf);
	free(bytes);
	b->free(b);
}

/* Random bytes do not shrink: stored as they are, no metadata. */
static void test_s3__incompressible_blob_is_stored_as_is(void **state)
{
	sfx *f = *state;
	const size_t len = 60000;
	unsigned char *bytes = malloc(len);
	uint64_t x = 0x2545f4914f6cdd1dULL;
	arca_backend *b;
	arca_digest d;
	raw_answer a;
	mem m = { .len = 0 };
	size_t i;

	NEED_SERVER(f);
	assert_non_null(bytes);
	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		bytes[i] = (unsigned char)x;
	}
	b = open_backend(f, 0);
	assert_int_equal(b->blob_put(b, &d, bytes, len), 0);
	a = raw_object(f, "GET", &d);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.encoding, "");
	assert_int_equal(a.total, len);
	assert_memory_equal(a.body, bytes, 64);
	assert_int_equal(b->blob_get(b, &d, mem_sink, &m), 0);
	assert_int_equal(m.len, len);
	assert_memory_equal(m.data, bytes, len);
	free(bytes);
	b->free(b);
}

/* 48 MiB of 4-bit symbols, 5 MiB threshold: compressed to about half, cut
 * into parts of the compressed stream; read back byte-exact; the process
 * never holds the blob. */
static void test_s3__large_compressible_blob_is_multipart(void **state)
{
	sfx *f = *state;
	const uint64_t total = (uint64_t)48 << 20;
	char *path = NULL, key[256];
	unsigned char *chunk = NULL;
	uint64_t size = 0, x = 0x9e3779b97f4a7c15ULL, written = 0;
	arca_backend *b;
	arca_digest d, want;
	cmp_sink *cs = NULL;
	long rss_before, rss_after;
	raw_answer a;
	int fd, parts;

	NEED_SERVER(f);
	b = open_backend(f, (uint64_t)5 << 20);
	path = fixture_path("%s/big.txt", f->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	chunk = malloc(1 << 20);
	assert_non_null(chunk);
	while (written < total) {
		size_t i;

		for (i = 0; i < (1 << 20); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			chunk[i] = (unsigned char)('a' + (x & 15));
		}
		assert_int_equal(write(fd, chunk, 1 << 20), 1 << 20);
		written += 1 << 20;
	}
	free(chunk);
	assert_int_equal(arca_digest_file(&want, &size, path), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);

	rss_before = max_rss_kib();
	assert_int_equal(b->blob_put_fd(b, &d, &size, fd), 0);
	assert_int_equal(size, total);
	assert_true(arca_digest_equal(&d, &want));
	/* Fewer parts than the 10 of the plain blob: the compressed one's. */
	parts = log_count(f, "partNumber=");
	if (parts < 2 || parts > 7)
		fail_msg("%d parts for 48 MiB compressed to about half", parts);
	object_key(key, sizeof(key), "cas", &d);
	a = raw_request(f, "HEAD", key, NULL);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.encoding, "zstd");
	assert_int_equal(b->blob_stat(b, &d, &size), 0);
	assert_int_equal(size, total);

	cs = calloc(1, sizeof(*cs));
	assert_non_null(cs);
	cs->fd = fd;
	assert_int_equal(b->blob_get(b, &d, cmp_write, cs), 0);
	assert_int_equal(cs->differs, 0);
	assert_int_equal(cs->got, total);
	rss_after = max_rss_kib();
	if (rss_after - rss_before > 24 * 1024)
		fail_msg("peak RSS grew by %ld KiB moving a 48 MiB blob",
				rss_after - rss_before);
	close(fd);
	free(cs);
	free(path);
	b->free(b);
}

/* An object written plain (before compression, or by another writer)
 * still reads, and stat gives its length. */
static void test_s3__plain_object_still_reads(void **state)
{
	sfx *f = *state;
	const size_t len = 30000;
	unsigned char *bytes = text_blob(len);
	arca_buf buf = ARCA_BUF_INIT;
	arca_backend *b;
	arca_digest d;
	char key[256];
	uint64_t size = 0;

	NEED_SERVER(f);
	b = open_backend(f, 0);
	assert_int_equal(arca_digest_buffer(&d, bytes, len), 0);
	object_key(key, sizeof(key), "cas", &d);
	assert_int_equal(raw_request_bin(f, "PUT", key, bytes, len,
			NULL).status, 200);
	assert_int_equal(b->blob_stat(b, &d, &size), 0);
	assert_int_equal(size, len);
	assert_int_equal(arca_blob_get(&buf, f->store, &d), 0);
	assert_int_equal(buf.size, len);
	assert_memory_equal(buf.data, bytes, len);
	assert_int_equal(tier_stats(f->store, 1).hits, 1);
	arca_buf_free(&buf);
	free(bytes);
	b->free(b);
}

/* A compressed object with a flipped byte, or one whose frame holds more
 * than its metadata declares, is a miss counted corrupt. */
static void test_s3__damaged_compressed_object_is_a_corrupt_miss(
		void **state)
{
	sfx *f = *state;
	const size_t len = 60000;   /* under mem's 64 KiB */
	unsigned char *bytes = text_blob(len), frame[16384];
	const char *const meta[] = { "x-amz-meta-arca-encoding: zstd",
		"x-amz-meta-arca-size: 60000", NULL };
	const char *const short_meta[] = { "x-amz-meta-arca-encoding: zstd",
		"x-amz-meta-arca-size: 59999", NULL };
	arca_buf buf = ARCA_BUF_INIT;
	arca_backend *b;
	arca_digest d;
	raw_answer a;
	char key[256];
	mem m = { .len = 0 };
	size_t n;

	NEED_SERVER(f);
	b = open_backend(f, 0);
	assert_int_equal(b->blob_put(b, &d, bytes, len), 0);
	a = raw_object(f, "GET", &d);
	assert_string_equal(a.encoding, "zstd");
	n = (size_t)a.total;
	assert_true(n < sizeof(a.body));
	memcpy(frame, a.body, n);
	object_key(key, sizeof(key), "cas", &d);

	/* The intact frame under a smaller declared size. */
	assert_int_equal(raw_request_bin(f, "PUT", key, frame, n,
			short_meta).status, 200);
	assert_int_equal(b->blob_get(b, &d, mem_sink, &m), ARCA_ECORRUPT);
	assert_true(one_line(arca_errmsg()));

	/* A flipped byte in the frame's blocks. */
	frame[n / 2] ^= 0x40;
	assert_int_equal(raw_request_bin(f, "PUT", key, frame, n,
			meta).status, 200);
	assert_int_equal(arca_blob_get(&buf, f->store, &d), ARCA_ENOTFOUND);
	assert_null(buf.data);
	assert_int_equal(tier_stats(f->store, 1).corrupt, 1);
	assert_int_equal(tier_stats(f->store, 1).promoted, 0);
	m.len = 0;
	assert_int_equal(b->blob_get(b, &d, mem_sink, &m), ARCA_ECORRUPT);
	assert_true(one_line(arca_errmsg()));
	free(bytes);
	b->free(b);
}

/* ?compress=0 and opts.no_compress store blobs as they are; a version 1
 * options struct is still accepted (and compresses). */
static void test_s3__compress_off_stores_plain(void **state)
{
	sfx *f = *state;
	const size_t len = 50000;
	unsigned char *bytes = text_blob(len);
	arca_s3_options opts = ARCA_S3_OPTIONS_INIT;
	arca_backend *b = NULL;
	arca_digest d;
	raw_answer a;
	char url[300];
	mem m = { .len = 0 };

	NEED_SERVER(f);
	snprintf(url, sizeof(url), "%s&compress=0", f->url);
	assert_int_equal(arca_backend_s3_open(&b, url, NULL), 0);
	assert_int_equal(b->blob_put(b, &d, bytes, len), 0);
	a = raw_object(f, "GET", &d);
	assert_string_equal(a.encoding, "");
	assert_int_equal(a.total, len);
	assert_int_equal(b->blob_get(b, &d, mem_sink, &m), 0);
	assert_int_equal(m.len, len);
	b->free(b);

	/* no_compress; the URL's compress=1 wins over it. */
	opts.no_compress = 1;
	assert_int_equal(arca_backend_s3_open(&b, f->url, &opts), 0);
	assert_int_equal(b->blob_put(b, &d, bytes + 1, len - 1), 0);
	assert_string_equal(raw_object(f, "GET", &d).encoding, "");
	b->free(b);
	snprintf(url, sizeof(url), "%s&compress=1", f->url);
	assert_int_equal(arca_backend_s3_open(&b, url, &opts), 0);
	assert_int_equal(b->blob_put(b, &d, bytes + 2, len - 2), 0);
	assert_string_equal(raw_object(f, "GET", &d).encoding, "zstd");
	b->free(b);

	opts.version = 1;
	opts.no_compress = 1;  /* not a version 1 field: ignored */
	assert_int_equal(arca_backend_s3_open(&b, f->url, &opts), 0);
	assert_int_equal(b->blob_put(b, &d, bytes + 3, len - 3), 0);
	assert_string_equal(raw_object(f, "GET", &d).encoding, "zstd");
	b->free(b);
	opts.version = 3;
	assert_int_equal(arca_backend_s3_open(&b, f->url, &opts), ARCA_EINVAL);
	snprintf(url, sizeof(url), "%s&compress=yes", f->url);
	assert_int_equal(arca_backend_s3_open(&b, url, NULL), ARCA_EINVAL);
	free(bytes);
}

static int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

static void test_s3__action_put_get_remove_and_ttl(void **state)
{
	sfx *f = *state;
	arca_manifest *m = new_action(f->store, "transcribe", "hello world\n");
	arca_manifest *m2 = NULL, *got = NULL;
	arca_put_options opts = ARCA_PUT_OPTIONS_INIT;
	arca_buf json = ARCA_BUF_INIT, buf = ARCA_BUF_INIT;
	arca_digest md, got_md;
	arca_store *other;
	arca_backend *b;
	char want[32];
	raw_answer a;

	NEED_SERVER(f);
	assert_int_equal(arca_action_put(f->store, m), 0);
	assert_int_equal(arca_manifest_to_json(&json, m), 0);
	assert_int_equal(arca_digest_buffer(&md, json.data, json.size), 0);
	assert_int_equal(object_status(f, "ac", &m->key), 200);
	assert_int_equal(object_status(f, "cas", &md), 200);
	assert_int_equal(object_status(f, "cas", &m->outputs[0].digest), 200);

	/* A second machine: a hit in S3, promoted with its blobs. */
	other = open_second_machine(f->dir, f->url, m);

	/* The backend's methods: the digest, and the manifest's bytes. */
	b = open_backend(f, 0);
	assert_int_equal(b->ac_get(b, &m->key, &got_md), 0);
	assert_true(arca_digest_equal(&got_md, &md));
	assert_int_equal(b->ac_get_manifest(b, &got_md, &buf, &m->key), 0);
	assert_int_equal(buf.size, json.size);
	assert_memory_equal(buf.data, json.data, json.size);
	arca_buf_free(&buf);
	assert_int_equal(b->ac_get(b, &md, &got_md), ARCA_ENOTFOUND);

	/* Removal reaches S3. */
	assert_int_equal(arca_action_remove(other, &m->key), 0);
	assert_int_equal(object_status(f, "ac", &m->key), 404);
	assert_int_equal(b->ac_get(b, &m->key, &got_md), ARCA_ENOTFOUND);

	/* A TTL: the expiry in the object's metadata, a miss once the
	 * store's clock passes it (no waiting: an injected clock). */
	fake_now = 1800000000;
	arca_set_clock(fake_clock, NULL);
	m2 = new_action(f->store, "ttl", "short-lived\n");
	opts.ttl_s = 3600;
	assert_int_equal(arca_action_put_ex(f->store, m2, &opts), 0);
	{
		char key[256];

		object_key(key, sizeof(key), "ac", &m2->key);
		a = raw_request(f, "HEAD", key, NULL);
	}
	assert_int_equal(a.status, 200);
	snprintf(want, sizeof(want), "%lld", (long long)fake_now + 3600);
	assert_string_equal(a.expires, want);
	fake_now += 3599;
	assert_int_equal(b->ac_get(b, &m2->key, &got_md), 0);
	fake_now += 1;
	assert_int_equal(b->ac_get(b, &m2->key, &got_md), ARCA_ENOTFOUND);
	assert_int_equal(b->ac_get_manifest(b, &got_md, &buf, &m2->key),
			ARCA_ENOTFOUND);
	assert_null(buf.data);
	/* Machine B: expired in S3 is a miss there too. */
	assert_int_equal(arca_action_get(&got, other, &m2->key),
			ARCA_ENOTFOUND);
	arca_set_clock(NULL, NULL);

	b->free(b);
	arca_store_close(other);
	arca_buf_free(&json);
	arca_manifest_free(m);
	arca_manifest_free(m2);
}

/* ---- refusals and faults -------------------------------------------------- */

/* A wrong secret is refused by the server: its signature check is what
 * this proves. */
static void test_s3__wrong_secret_is_refused(void **state)
{
	sfx *f = *state;
	arca_s3_options opts = ARCA_S3_OPTIONS_INIT;
	arca_backend *b = NULL;
	arca_digest d;
	const char *msg;

	NEED_SERVER(f);
	opts.access_key_id = KEY_ID;
	opts.secret_access_key = WRONG_SECRET;
	assert_int_equal(arca_backend_s3_open(&b, f->url, &opts), ARCA_EPERM);
	assert_null(b);
	msg = arca_errmsg();
	if (!one_line(msg) || strstr(msg, BUCKET) == NULL ||
	    strstr(msg, WRONG_SECRET) != NULL || strstr(msg, SECRET) != NULL)
		fail_msg("message \"%s\"", msg);

	/* Signed writes are refused too (lazy: no probe at open; the
	 * first call's probe is refused, then the PUT itself). */
	opts.lazy_connect = 1;
	assert_int_equal(arca_backend_s3_open(&b, f->url, &opts), 0);
	assert_int_equal(b->blob_put(b, &d, "refused", 7), ARCA_EPERM);
	assert_non_null(strstr(arca_errmsg(), "HEAD bucket"));
	assert_int_equal(b->blob_put(b, &d, "refused", 7), ARCA_EPERM);
	msg = arca_errmsg();
	assert_non_null(strstr(msg, "SignatureDoesNotMatch"));
	assert_null(strstr(msg, WRONG_SECRET));
	b->free(b);
	assert_int_equal(object_status(f, "cas", &d), 404);

	/* Through the environment, via the URL dispatcher. */
	setenv("AWS_SECRET_ACCESS_KEY", WRONG_SECRET, 1);
	assert_int_equal(arca_store_add_tier_url(f->store, f->url, NULL),
			ARCA_EPERM);
	assert_null(strstr(arca_errmsg(), WRONG_SECRET));
	assert_int_equal(arca_store_tier_count(f->store), 1);
	/* An access key the server does not know. */
	opts.lazy_connect = 0;
	opts.access_key_id = "AKIDUNKNOWN";
	opts.secret_access_key = SECRET;
	assert_int_equal(arca_backend_s3_open(&b, f->url, &opts), ARCA_EPERM);
	assert_null(strstr(arca_errmsg(), SECRET));
	env_credentials(SECRET);
}

static void test_s3__missing_bucket(void **state)
{
	sfx *f = *state;
	char url[256];
	const char *msg;

	NEED_SERVER(f);
	snprintf(url, sizeof(url), "s3://no-such-bucket/p?endpoint=%s",
			f->endpoint);
	assert_int_equal(arca_store_add_tier_url(f->store, url, NULL),
			ARCA_ENOTFOUND);
	msg = arca_errmsg();
	if (!one_line(msg) || strstr(msg, "\"no-such-bucket\" does not exist")
			== NULL)
		fail_msg("message \"%s\"", msg);
	assert_int_equal(arca_store_tier_count(f->store), 1);
}

/* Credentials from a profile of the credentials file; none at all. */
static void test_s3__credentials_file(void **state)
{
	sfx *f = *state;
	char *cred;
	arca_backend *b = NULL;
	const char *msg;

	NEED_SERVER(f);
	cred = fixture_path("%s/credentials", f->dir);
	fixture_write_file(cred, "# a comment\n[default]\naws_access_key_id = "
			"AKIDOTHER\naws_secret_access_key = other\n\n[ci]\n"
			"aws_access_key_id = " KEY_ID "\naws_secret_access_key "
			"= " SECRET "\n", strlen("# a comment\n[default]\n"
			"aws_access_key_id = AKIDOTHER\naws_secret_access_key "
			"= other\n\n[ci]\naws_access_key_id = " KEY_ID "\n"
			"aws_secret_access_key = " SECRET "\n"));
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
	setenv("AWS_PROFILE", "ci", 1);
	assert_int_equal(arca_backend_s3_open(&b, f->url, NULL), 0);
	b->free(b);
	/* A session token rides signed in x-amz-security-token (s3rver
	 * ignores its value but checks the signature that covers it). */
	setenv("AWS_SESSION_TOKEN", "FQoGZXIvYXdzEXAMPLETOKEN", 1);
	assert_int_equal(arca_backend_s3_open(&b, f->url, NULL), 0);
	b->free(b);
	unsetenv("AWS_SESSION_TOKEN");
	/* [default] holds a key the server refuses. */
	unsetenv("AWS_PROFILE");
	assert_int_equal(arca_backend_s3_open(&b, f->url, NULL), ARCA_EPERM);
	/* No credentials anywhere: one line, at open. */
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
	assert_int_equal(arca_store_add_tier_url(f->store, f->url, NULL),
			ARCA_EINVAL);
	msg = arca_errmsg();
	if (!one_line(msg) || strstr(msg, "no credentials") == NULL)
		fail_msg("message \"%s\"", msg);
	/* A malformed file names its line. */
	fixture_write_file(cred, "[default]\nthis is not ini\n", 26);
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
	assert_int_equal(arca_backend_s3_open(&b, f->url, NULL), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "line 2"));
	env_credentials(SECRET);
	free(cred);
}

/* The server killed: the tier is unavailable at once, tier 0 answers. */
static void test_s3__server_killed(void **state)
{
	sfx *f = *state;
	arca_backend *b;
	arca_buf buf = ARCA_BUF_INIT;
	arca_digest local, remote;
	int64_t t0;

	NEED_SERVER(f);
	b = open_backend(f, 0);
	assert_int_equal(arca_blob_put(&local, f->store, "kept locally", 12), 0);
	assert_int_equal(b->blob_put(b, &remote, "remote only", 11), 0);
	kill_child(&f->pid);

	t0 = now_ms();
	assert_int_equal(b->blob_stat(b, &remote, NULL), ARCA_EUNAVAILABLE);
	assert_true(one_line(arca_errmsg()));
	assert_int_equal(arca_blob_get(&buf, f->store, &local), 0);
	assert_memory_equal(buf.data, "kept locally", 12);
	arca_buf_free(&buf);
	assert_int_equal(arca_blob_get(&buf, f->store, &remote),
			ARCA_ENOTFOUND);
	assert_int_equal(tier_stats(f->store, 1).errors, 1);
	/* A put still succeeds (tier 0), the tier's failure is counted. */
	assert_int_equal(arca_blob_put(&local, f->store, "after", 5), 0);
	assert_int_equal(tier_stats(f->store, 1).errors, 2);
	if (now_ms() - t0 > 1000)
		fail_msg("a dead S3 tier took %lld ms",
				(long long)(now_ms() - t0));
	b->free(b);
}

/* A server of the test's own that answers every request with 500 and an
 * S3 error body, until stop is set. */
typedef struct failing_server {
	int fd;
	int port;
	volatile int stop;
	const char *status;  /* NULL: "500 Internal Server Error" */
	const char *extra;   /* more header lines, or NULL */
	pthread_t thread;
} failing_server;

static void *answer_500(void *arg)
{
	static const char body[] = "<?xml version=\"1.0\"?><Error><Code>"
		"InternalError</Code><Message>We encountered an internal "
		"error.</Message></Error>";
	failing_server *fs = arg;
	char buf[8192], head[256];

	while (!fs->stop) {
		int c = accept(fs->fd, NULL, NULL);
		size_t got = 0;
		ssize_t n;

		if (c < 0)
			continue;
		/* The request's head, then one answer; the connection
		 * closes (a body the client sends is not read). */
		while (got < sizeof(buf) - 1 &&
		       (n = recv(c, buf + got, sizeof(buf) - 1 - got, 0)) > 0) {
			got += (size_t)n;
			buf[got] = '\0';
			if (strstr(buf, "\r\n\r\n") != NULL)
				break;
		}
		snprintf(head, sizeof(head), "HTTP/1.1 %s\r\nContent-Type: "
				"application/xml\r\n%sContent-Length: %zu\r\n"
				"Connection: close\r\n\r\n", fs->status ?
				fs->status : "500 Internal Server Error",
				fs->extra ? fs->extra : "", sizeof(body) - 1);
		(void)!send(c, head, strlen(head), MSG_NOSIGNAL);
		(void)!send(c, body, sizeof(body) - 1, MSG_NOSIGNAL);
		close(c);
	}
	return NULL;
}

static void failing_server_start(failing_server *fs)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	struct timeval tv = { 0, 100000 };

	fs->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fs->fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fs->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fs->fd, 16), 0);
	assert_int_equal(getsockname(fs->fd, (struct sockaddr *)&sa, &len), 0);
	/* accept() wakes up to look at stop. */
	setsockopt(fs->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	fs->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&fs->thread, NULL, answer_500, fs), 0);
}

static void failing_server_stop(failing_server *fs)
{
	fs->stop = 1;
	pthread_join(fs->thread, NULL);
	close(fs->fd);
}

/* A server answering 500: ARCA_EIO with S3's error code, at open and in
 * each method; through the store, an error of the tier, and tier 0
 * answers. */
static void test_s3__server_error_is_eio(void **state)
{
	sfx *f = *state;
	arca_s3_options opts = ARCA_S3_OPTIONS_INIT;
	failing_server fs;
	arca_backend *b = NULL;
	arca_buf buf = ARCA_BUF_INIT;
	arca_digest d;
	char url[256];
	mem m = { .len = 0 };

	NEED_SERVER(f);
	memset(&fs, 0, sizeof(fs));
	failing_server_start(&fs);
	snprintf(url, sizeof(url), "s3://" BUCKET "?endpoint=http://127.0.0.1:"
			"%d", fs.port);
	assert_int_equal(arca_backend_s3_open(&b, url, NULL), ARCA_EIO);
	/* HeadBucket's answer has no body: the status alone. */
	assert_non_null(strstr(arca_errmsg(), "HEAD bucket: HTTP 500"));
	assert_true(one_line(arca_errmsg()));
	opts.lazy_connect = 1;
	assert_int_equal(arca_backend_s3_open(&b, url, &opts), 0);
	assert_int_equal(arca_digest_buffer(&d, "x", 1), 0);
	/* The first call owes the probe: its 500 is that call's. */
	assert_int_equal(b->blob_stat(b, &d, NULL), ARCA_EIO);
	assert_non_null(strstr(arca_errmsg(), "HEAD bucket: HTTP 500"));
	assert_int_equal(b->blob_get(b, &d, mem_sink, &m), ARCA_EIO);
	assert_int_equal(m.len, 0);
	assert_non_null(strstr(arca_errmsg(), "HTTP 500 InternalError"));
	assert_int_equal(b->blob_stat(b, &d, NULL), ARCA_EIO);
	assert_int_equal(b->blob_put(b, &d, "x", 1), ARCA_EIO);
	assert_int_equal(arca_store_add_tier(f->store, b, NULL), 0);
	assert_int_equal(arca_blob_put(&d, f->store, "local", 5), 0);
	assert_int_equal(tier_stats(f->store, 1).errors, 1);
	assert_int_equal(arca_blob_get(&buf, f->store, &d), 0);
	assert_memory_equal(buf.data, "local", 5);
	arca_buf_free(&buf);
	assert_int_equal(arca_digest_buffer(&d, "elsewhere", 9), 0);
	assert_int_equal(arca_blob_get(&buf, f->store, &d), ARCA_ENOTFOUND);
	assert_int_equal(tier_stats(f->store, 1).errors, 2);
	failing_server_stop(&fs);
}

/* A bucket in another region (AWS: 301 and x-amz-bucket-region): one
 * line at open saying which region to use. */
static void test_s3__wrong_region_is_named(void **state)
{
	sfx *f = *state;
	failing_server fs;
	arca_backend *b = NULL;
	char url[256];
	const char *msg;

	NEED_SERVER(f);
	memset(&fs, 0, sizeof(fs));
	fs.status = "301 Moved Permanently";
	fs.extra = "x-amz-bucket-region: eu-west-3\r\n";
	failing_server_start(&fs);
	snprintf(url, sizeof(url), "s3://" BUCKET "?endpoint=http://127.0.0.1:"
			"%d&region=us-east-2", fs.port);
	assert_int_equal(arca_backend_s3_open(&b, url, NULL), ARCA_EINVAL);
	msg = arca_errmsg();
	if (!one_line(msg) || strstr(msg, "is in region eu-west-3, not "
			"us-east-2 (add &region=eu-west-3") == NULL)
		fail_msg("message \"%s\"", msg);
	failing_server_stop(&fs);
}

/* A server that accepts connections and never answers: ARCA_ETIMEOUT at
 * the call's deadline. */
static void test_s3__stalled_server_times_out(void **state)
{
	sfx *f = *state;
	arca_s3_options opts = ARCA_S3_OPTIONS_INIT;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	arca_backend *b = NULL;
	arca_digest d;
	char url[256];
	int64_t t0, took;
	int fd;

	NEED_SERVER(f);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(url, sizeof(url), "s3://" BUCKET "?endpoint=http://127.0.0.1:"
			"%d", ntohs(sa.sin_port));
	opts.timeout_ms = 300;
	t0 = now_ms();
	assert_int_equal(arca_backend_s3_open(&b, url, &opts), ARCA_ETIMEOUT);
	took = now_ms() - t0;
	assert_true(took >= 250 && took < 2000);
	/* The store's deadline wins over a longer own timeout. */
	opts.timeout_ms = 0;
	opts.lazy_connect = 1;
	assert_int_equal(arca_backend_s3_open(&b, url, &opts), 0);
	b->deadline_ms = now_ms() + 200;
	t0 = now_ms();
	assert_int_equal(b->blob_stat(b, &d, NULL), ARCA_ETIMEOUT);
	assert_true(now_ms() - t0 < 2000);
	b->free(b);
	close(fd);
}

static void test_s3__bad_urls(void **state)
{
	sfx *f = *state;
	arca_s3_options opts = ARCA_S3_OPTIONS_INIT;
	arca_backend *b = (arca_backend *)1;

	NEED_SERVER(f);
	expect_einval(f->store, "s3://", "s3://", NULL, NULL);
	expect_einval(f->store, "s3://Upper-Case", "s3://Upper-Case", NULL,
			"bucket name");
	expect_einval(f->store, "s3://ab", "s3://ab", NULL, "bucket name");
	expect_einval(f->store, "s3://bucket/a%20b", "s3://bucket/a%20b", NULL,
			"prefix");
	expect_einval(f->store, "s3://bucket/a//b", "s3://bucket/a//b", NULL,
			"prefix");
	expect_einval(f->store, "s3://bucket?bogus=1", "s3://bucket?bogus=1",
			NULL, "bogus");
	expect_einval(f->store, "s3://bucket?endpoint", "s3://bucket?endpoint",
			NULL, "name=value");
	expect_einval(f->store, "s3://bucket?endpoint=ftp://h/",
			"s3://bucket?endpoint=ftp://h/", NULL, "http");
	expect_einval(f->store, "s3://bucket?region=a/b", "s3://bucket", NULL,
			"region");
	expect_einval(f->store, "s3://bucket#frag", "s3://bucket#frag", NULL,
			"fragment");
	expect_einval(f->store, "s3://key:topsecret@bucket", "s3://key@bucket",
			"topsecret", NULL);
	expect_einval(f->store, "s3://bucket:9000", "s3://bucket:9000", NULL,
			"port");
	assert_int_equal(arca_store_tier_count(f->store), 1);
	assert_int_equal(arca_backend_s3_open(&b, "redis://h/", NULL),
			ARCA_EINVAL);
	assert_null(b);
	opts.multipart_threshold = 1024;
	assert_int_equal(arca_backend_s3_open(&b, "s3://bucket", &opts),
			ARCA_EINVAL);
	opts.multipart_threshold = 0;
	opts.version = 99;
	assert_int_equal(arca_backend_s3_open(&b, "s3://bucket", &opts),
			ARCA_EINVAL);
}


/* ---- conditional PUT ------------------------------------------------------ */

/* "cas/<hex of d><what>" for log_count(). */
static void cas_line(char *out, size_t size, const arca_digest *d,
		const char *what)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	arca_digest_to_hex(hex, d);
	snprintf(out, size, "/cas/%s%s", hex, what);
}

/* n incompressible bytes (stored as they are, so a 6 MiB blob is one
 * multipart upload of two parts with a 5 MiB threshold). */
static unsigned char *noise(size_t n, unsigned int seed)
{
	unsigned char *p = malloc(n);

	assert_non_null(p);
	random_fill(p, n, seed);
	return p;
}

/* Whether b holds exactly data under d. */
static void expect_blob(arca_backend *b, const arca_digest *d,
		const unsigned char *data, size_t n)
{
	char *path;
	cmp_sink *cs = calloc(1, sizeof(*cs));
	char *dir = fixture_tempdir();

	assert_non_null(cs);
	path = fixture_path("%s/want", dir);
	fixture_write_file(path, data, n);
	cs->fd = open(path, O_RDONLY);
	assert_true(cs->fd >= 0);
	assert_int_equal(b->blob_get(b, d, cmp_write, cs), 0);
	assert_int_equal(cs->differs, 0);
	assert_int_equal(cs->got, n);
	close(cs->fd);
	free(cs);
	free(path);
	fixture_rmdir(dir);
}

/* A server that honours If-None-Match (AWS since 2024): a blob written
 * again gets 412, which is success, counted as stored; a multipart
 * upload whose Complete gets 412 is aborted, the object intact. */
static void test_s3__conditional_put_412_is_stored(void **state)
{
	sfx *f = *state;
	unsigned char *small = NULL, *big = NULL;
	const size_t big_len = (size_t)6 << 20;
	char line[256];
	arca_backend *b;
	arca_tier_stats st;
	arca_digest d, d2;
	uint64_t size = 0;

	NEED_SERVER(f);
	if (arca_store_add_tier_url(f->store, f->url, NULL) != 0)
		fail_msg("add tier %s: %s", f->url, arca_errmsg());
	small = noise(1000, 7);
	assert_int_equal(arca_blob_put(&d, f->store, small, 1000), 0);
	assert_int_equal(arca_blob_put(&d, f->store, small, 1000), 0);
	st = tier_stats(f->store, 1);
	assert_int_equal(st.stored, 2);
	assert_int_equal(st.errors, 0);
	cas_line(line, sizeof(line), &d, " 200 if-none-match");
	assert_int_equal(log_count(f, line), 1);
	cas_line(line, sizeof(line), &d, " 412 if-none-match");
	assert_int_equal(log_count(f, line), 1);

	b = open_backend(f, (uint64_t)5 << 20);
	big = noise(big_len, 8);
	assert_int_equal(b->blob_put(b, &d2, big, big_len), 0);
	assert_int_equal(log_count(f, "partNumber="), 2);
	assert_int_equal(b->blob_put(b, &d2, big, big_len), 0);
	/* The small blob's second PUT and this Complete. */
	assert_int_equal(log_count(f, " 412 if-none-match"), 2);
	/* The second upload's parts are not left in the bucket. */
	assert_int_equal(log_count(f, "DELETE /" BUCKET "/" PREFIX "/cas/"), 1);
	expect_blob(b, &d2, big, big_len);
	assert_int_equal(b->blob_stat(b, &d2, &size), 0);
	assert_int_equal(size, big_len);
	b->free(b);
	free(small);
	free(big);
}

/* A server that does not implement conditional writes (mode 501 or
 * 400): the first blob write is sent again without the header, and the
 * handle sends none from then on, single PUT and multipart alike. */
static void check_refusal_falls_back(sfx *f, const char *status)
{
	unsigned char *a = NULL, *big = NULL;
	const size_t big_len = (size_t)6 << 20;
	char line[256], refused[32];
	arca_backend *b;
	arca_digest d, d2, d3;

	snprintf(refused, sizeof(refused), " %s if-none-match", status);
	b = open_backend(f, (uint64_t)5 << 20);
	a = noise(2000, 9);
	assert_int_equal(b->blob_put(b, &d, a, 2000), 0);
	cas_line(line, sizeof(line), &d, refused);
	assert_int_equal(log_count(f, line), 1);
	cas_line(line, sizeof(line), &d, " 200\n");
	assert_int_equal(log_count(f, line), 1);
	expect_blob(b, &d, a, 2000);
	a[0] ^= 1;
	assert_int_equal(b->blob_put(b, &d2, a, 2000), 0);
	assert_int_equal(log_count(f, "if-none-match"), 1);
	expect_blob(b, &d2, a, 2000);
	b->free(b);

	/* A new handle asks again; CompleteMultipartUpload falls back. */
	b = open_backend(f, (uint64_t)5 << 20);
	big = noise(big_len, 10);
	assert_int_equal(b->blob_put(b, &d3, big, big_len), 0);
	assert_int_equal(log_count(f, refused), 2);
	assert_int_equal(log_count(f, "DELETE /"), 0);
	expect_blob(b, &d3, big, big_len);
	b->free(b);
	free(a);
	free(big);
}

static void test_s3__conditional_put_501_falls_back(void **state)
{
	NEED_SERVER(*state);
	check_refusal_falls_back(*state, "501");
}

static void test_s3__conditional_put_400_falls_back(void **state)
{
	NEED_SERVER(*state);
	check_refusal_falls_back(*state, "400");
}

/* 409 ConditionalRequestConflict: stored when the object is there after
 * all (HeadObject), else an error of the tier. */
static void test_s3__conditional_put_409(void **state)
{
	sfx *f = *state;
	unsigned char *a;
	char key[256];
	arca_backend *b;
	arca_digest d;

	NEED_SERVER(f);
	b = open_backend(f, (uint64_t)5 << 20);
	a = noise(3000, 11);
	assert_int_equal(arca_digest_buffer(&d, a, 3000), 0);
	assert_int_equal(b->blob_put(b, NULL, a, 3000), ARCA_EIO);
	assert_non_null(strstr(arca_errmsg(), "409"));
	/* Written meanwhile by another (without the header). */
	object_key(key, sizeof(key), "cas", &d);
	assert_int_equal(raw_request_bin(f, "PUT", key, a, 3000, NULL).status,
			200);
	if (b->blob_put(b, &d, a, 3000) != 0)
		fail_msg("put after 409: %s", arca_errmsg());
	assert_int_equal(log_count(f, " 409 if-none-match"), 2);
	expect_blob(b, &d, a, 3000);
	b->free(b);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_s3__blob_put_get_stat_and_promotion,
			setup_tier, teardown),
		cmocka_unit_test_setup_teardown(
			test_s3__large_blob_is_multipart_with_bounded_memory,
			setup_server, teardown),
		cmocka_unit_test_setup_teardown(
			test_s3__failed_multipart_upload_is_aborted,
			setup_server, teardown),
		cmocka_unit_test_setup_teardown(
			test_s3__wrong_bytes_are_a_corrupt_miss,
			setup_tier, teardown),
		cmocka_unit_test_setup_teardown(
			test_s3__compressible_blob_is_stored_compressed,
			setup_tier, teardown),
		cmocka_unit_test_setup_teardown(
			test_s3__incompressible_blob_is_stored_as_is,
			setup_tier, teardown),
		cmocka_unit_test_setup_teardown(
			test_s3__large_compressible_blob_is_multipart,
			setup_server, teardown),
		cmocka_unit_test_setup_teardown(
			test_s3__plain_object_still_reads,
			setup_tier, teardown),
		cmocka_unit_test_setup_teardown(
			test_s3__damaged_compressed_object_is_a_corrupt_miss,
			setup_tier, teardown),
		cmocka_unit_test_setup_teardown(
			test_s3__compress_off_stores_plain,
			setup_server, teardown),
		cmocka_unit_test_setup_teardown(
			test_s3__action_put_get_remove_and_ttl,
			setup_tier, teardown),
		cmocka_unit_test_setup_teardown(
			test_s3__wrong_secret_is_refused,
			setup_server, teardown),
		cmocka_unit_test_setup_teardown(test_s3__missing_bucket,
			setup_server, teardown),
		cmocka_unit_test_setup_teardown(test_s3__credentials_file,
			setup_server, teardown),
		cmocka_unit_test_setup_teardown(test_s3__server_killed,
			setup_tier, teardown),
		cmocka_unit_test_setup_teardown(test_s3__server_error_is_eio,
			setup_none, teardown),
		cmocka_unit_test_setup_teardown(test_s3__wrong_region_is_named,
			setup_none, teardown),
		cmocka_unit_test_setup_teardown(
			test_s3__stalled_server_times_out,
			setup_none, teardown),
		cmocka_unit_test_setup_teardown(test_s3__bad_urls,
			setup_none, teardown),
		cmocka_unit_test_setup_teardown(
			test_s3__conditional_put_412_is_stored,
			setup_honour, teardown),
		cmocka_unit_test_setup_teardown(
			test_s3__conditional_put_501_falls_back,
			setup_refuse_501, teardown),
		cmocka_unit_test_setup_teardown(
			test_s3__conditional_put_400_falls_back,
			setup_refuse_400, teardown),
		cmocka_unit_test_setup_teardown(test_s3__conditional_put_409,
			setup_conflict, teardown),
	};

	/* A hung call fails the run instead of waiting out ctest. */
	alarm(240);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
