/*
 * URL inputs: arca_fetch() against a real HTTP server (tests/http_server.py,
 * Python's http.server, started on 127.0.0.1 on a free port for the group).
 * The server logs one line per request, so the tests count requests: a
 * fresh hit must make none.
 */
#include "fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

/* ---- the test server ---------------------------------------------------- */

typedef struct test_server {
	pid_t pid;
	char *dir;       /* temp dir holding root/, port, log */
	char *root;      /* served files */
	char *log;
	int port;
} test_server;

static test_server server;

/* tests/http_server.py: $ARCA_TEST_HTTP_SERVER, else beside $ARCA_TEST_DATA
 * (<repo>/tests/data), else relative to the repository root. */
static char *server_script(void)
{
	const char *env = getenv("ARCA_TEST_HTTP_SERVER");
	const char *data = getenv("ARCA_TEST_DATA");
	const char *slash;

	if (env != NULL && *env != '\0')
		return fixture_path("%s", env);
	if (data != NULL && (slash = strrchr(data, '/')) != NULL)
		return fixture_path("%.*s/http_server.py", (int)(slash - data),
				data);
	return fixture_path("tests/http_server.py");
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int server_start(test_server *s)
{
	char *script = server_script(), *port_file;
	unsigned char *text = NULL;
	size_t len;
	int i;

	memset(s, 0, sizeof(*s));
	s->dir = fixture_tempdir();
	s->root = fixture_path("%s/root", s->dir);
	s->log = fixture_path("%s/log", s->dir);
	port_file = fixture_path("%s/port", s->dir);
	if (mkdir(s->root, 0755) != 0)
		goto fail;
	s->pid = fork();
	if (s->pid < 0)
		goto fail;
	if (s->pid == 0) {
		execlp("python3", "python3", script, "--root", s->root,
				"--port-file", port_file, "--log", s->log,
				"--lifetime", "300", (char *)NULL);
		_exit(127);
	}
	/* Wait (at most 15 s) for the server to say which port it got. */
	for (i = 0; i < 300; i++) {
		int status;

		if ((text = fixture_read_file(port_file, &len)) != NULL &&
		    len > 0 && text[len - 1] == '\n')
			break;
		free(text);
		text = NULL;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			goto fail;
		}
		sleep_ms(50);
	}
	if (text == NULL)
		goto fail;
	text[len] = '\0'; /* fixture_read_file leaves room for it */
	s->port = atoi((char *)text);
	free(text);
	free(port_file);
	free(script);
	return s->port > 0 ? 0 : -1;
fail:
	fprintf(stderr, "cannot start %s\n", script);
	free(port_file);
	free(script);
	return -1;
}

static void server_stop(test_server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	fixture_rmdir(s->dir);
	free(s->root);
	free(s->log);
	s->dir = s->root = s->log = NULL;
}

/* Freshness is judged on libarca's clock, simulated here: an entry ages
 * when the test says so. */
static int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

/* As if `seconds` passed since the last fetch or revalidation. */
static void advance(int64_t seconds)
{
	fake_now += seconds;
}

static int group_setup(void **state)
{
	(void)state;
	fake_now = (int64_t)time(NULL);
	arca_set_clock(fake_clock, NULL);
	return server_start(&server);
}

static int group_teardown(void **state)
{
	(void)state;
	server_stop(&server);
	arca_set_clock(NULL, NULL);
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static char *url_of(const test_server *s, const char *path)
{
	return fixture_path("http://127.0.0.1:%d%s", s->port, path);
}

static void serve(const test_server *s, const char *name, const char *text)
{
	char *p = fixture_path("%s/%s", s->root, name);

	fixture_write_file(p, text, strlen(text));
	free(p);
}

/* Set a served file's mtime (for Last-Modified / If-Modified-Since). */
static void set_mtime(const test_server *s, const char *name, time_t t)
{
	char *p = fixture_path("%s/%s", s->root, name);
	struct timeval tv[2] = { { t, 0 }, { t, 0 } };

	assert_int_equal(utimes(p, tv), 0);
	free(p);
}

/*
 * Count the requests for path in the server's log; when last_line is not
 * NULL, copy the last such line (tab-separated: method, path, status,
 * If-None-Match, If-Modified-Since) into it.
 */
static int count_requests(const test_server *s, const char *path,
		char *last_line, size_t size)
{
	FILE *f = fopen(s->log, "r");
	char line[1024];
	size_t n = strlen(path);
	int count = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *field = strchr(line, '\t');

		if (field == NULL || strncmp(field + 1, path, n) != 0 ||
		    field[1 + n] != '\t')
			continue;
		count++;
		if (last_line != NULL)
			snprintf(last_line, size, "%s", line);
	}
	fclose(f);
	return count;
}

static void assert_blob_is(arca_store *store, const arca_digest *d,
		const char *text)
{
	arca_buf b = ARCA_BUF_INIT;

	assert_int_equal(arca_blob_get(&b, store, d), 0);
	assert_int_equal(b.size, strlen(text));
	assert_memory_equal(b.data, text, b.size);
	arca_buf_free(&b);
}

static void assert_dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			fail_msg("%s/%s was left behind", dir, e->d_name);
	}
	closedir(d);
}

static uint64_t blob_count(arca_store *store)
{
	arca_store_info info;

	assert_int_equal(arca_store_get_info(&info, store), 0);
	return info.n_blobs;
}

/* Remove a blob's index row behind the store's back, as eviction or
 * quarantine by another process would, leaving the URL entry naming it. */
static void forget_blob(const char *dir, const arca_digest *d)
{
	char *db_path = fixture_path("%s/index.db", dir);
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	assert_int_equal(sqlite3_prepare_v2(db, "DELETE FROM blobs WHERE "
			"digest = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, d->bytes, ARCA_DIGEST_SIZE, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(db_path);
}

/* ---- tests ------------------------------------------------------------- */

static void test_fetch__download_then_fresh_makes_no_request(void **state)
{
	fixture_store *f = *state;
	arca_fetch_result r1, r2;
	arca_digest want;
	char *url = url_of(&server, "/fresh.txt");

	serve(&server, "fresh.txt", "fresh body\n");
	assert_int_equal(arca_digest_buffer(&want, "fresh body\n", 11), 0);

	assert_int_equal(arca_fetch(&r1, f->store, url, NULL), 0);
	assert_int_equal(r1.status, ARCA_FETCH_DOWNLOADED);
	assert_int_equal(r1.http_status, 200);
	assert_int_equal(r1.size, 11);
	assert_true(arca_digest_equal(&r1.digest, &want));
	assert_true(r1.fetched_at > 0);
	assert_blob_is(f->store, &r1.digest, "fresh body\n");
	assert_int_equal(count_requests(&server, "/fresh.txt", NULL, 0), 1);

	/* Within the default max-age: no request at all. */
	assert_int_equal(arca_fetch(&r2, f->store, url, NULL), 0);
	assert_int_equal(r2.status, ARCA_FETCH_FRESH);
	assert_int_equal(r2.http_status, 0);
	assert_true(arca_digest_equal(&r2.digest, &want));
	assert_int_equal(r2.size, 11);
	assert_int_equal(r2.fetched_at, r1.fetched_at);
	assert_int_equal(count_requests(&server, "/fresh.txt", NULL, 0), 1);
	free(url);
}

static void test_fetch__offline_never_makes_a_request(void **state)
{
	fixture_store *f = *state;
	arca_fetch_options opts = ARCA_FETCH_OPTIONS_INIT;
	arca_fetch_result r;
	char *url = url_of(&server, "/offline.txt");
	char *unknown = url_of(&server, "/never-fetched.txt");

	serve(&server, "offline.txt", "offline body");
	opts.offline = 1;
	/* Nothing cached: a miss, and the server is not asked. */
	assert_int_equal(arca_fetch(&r, f->store, url, &opts), ARCA_ENOTFOUND);
	assert_int_equal(count_requests(&server, "/offline.txt", NULL, 0), 0);
	assert_int_equal(arca_fetch(&r, f->store, url, NULL), 0);
	assert_int_equal(count_requests(&server, "/offline.txt", NULL, 0), 1);
	/* Fresh by the rule: FRESH; due for revalidation: STALE; no request. */
	assert_int_equal(arca_fetch(&r, f->store, url, &opts), 0);
	assert_int_equal(r.status, ARCA_FETCH_FRESH);
	opts.max_age_s = 0;
	advance(10);
	assert_int_equal(arca_fetch(&r, f->store, url, &opts), 0);
	assert_int_equal(r.status, ARCA_FETCH_STALE);
	assert_blob_is(f->store, &r.digest, "offline body");
	assert_int_equal(arca_fetch(&r, f->store, unknown, &opts),
			ARCA_ENOTFOUND);
	assert_int_equal(count_requests(&server, "/offline.txt", NULL, 0), 1);
	assert_int_equal(count_requests(&server, "/never-fetched.txt", NULL, 0),
			0);
	free(url);
	free(unknown);
}

static void test_fetch__revalidation_304_keeps_the_body(void **state)
{
	fixture_store *f = *state;
	arca_fetch_options opts = ARCA_FETCH_OPTIONS_INIT;
	arca_fetch_result r1, r2;
	char *url = url_of(&server, "/reval.txt"), line[1024];

	serve(&server, "reval.txt", "same content");
	assert_int_equal(arca_fetch(&r1, f->store, url, NULL), 0);
	assert_int_equal(r1.status, ARCA_FETCH_DOWNLOADED);
	advance(1000);

	opts.max_age_s = 0;
	assert_int_equal(arca_fetch(&r2, f->store, url, &opts), 0);
	assert_int_equal(r2.status, ARCA_FETCH_NOT_MODIFIED);
	assert_int_equal(r2.http_status, 304);
	assert_true(arca_digest_equal(&r1.digest, &r2.digest));
	assert_true(r2.fetched_at >= r1.fetched_at);

	/* One conditional request carrying the stored ETag (sha256, quoted)
	 * and Last-Modified. */
	assert_int_equal(count_requests(&server, "/reval.txt", line,
			sizeof(line)), 2);
	assert_non_null(strstr(line, "\t304\t\""));
	assert_non_null(strstr(line, "GMT"));

	/* The 304 made the entry fresh again: no third request. */
	assert_int_equal(arca_fetch(&r2, f->store, url, NULL), 0);
	assert_int_equal(r2.status, ARCA_FETCH_FRESH);
	assert_int_equal(count_requests(&server, "/reval.txt", NULL, 0), 2);
	free(url);
}

/* The IF-MODIFIED-SINCE field (the 5th) of a request log line. */
static void ims_field(char *out, size_t size, const char *line)
{
	const char *p = line;
	int i;

	for (i = 0; i < 4 && p != NULL; i++) {
		p = strchr(p, '\t');
		if (p)
			p++;
	}
	assert_non_null(p);
	snprintf(out, size, "%.*s", (int)strcspn(p, "\t\r\n"), p);
}

static void test_fetch__validators_of_a_304_are_kept(void **state)
{
	fixture_store *f = *state;
	arca_fetch_options opts = ARCA_FETCH_OPTIONS_INIT;
	arca_fetch_result r;
	char *url = url_of(&server, "/newer-lm.txt");
	char line[1024], first[256], second[256];

	serve(&server, "newer-lm.txt", "unchanged bytes");
	set_mtime(&server, "newer-lm.txt", 1700000000);
	assert_int_equal(arca_fetch(&r, f->store, url, NULL), 0);
	assert_int_equal(r.status, ARCA_FETCH_DOWNLOADED);
	/* Same bytes (same ETag), a later mtime: the 304 carries the newer
	 * Last-Modified, which must be what the next request sends. */
	set_mtime(&server, "newer-lm.txt", 1700100000);
	opts.max_age_s = 0;
	advance(10);
	assert_int_equal(arca_fetch(&r, f->store, url, &opts), 0);
	assert_int_equal(r.status, ARCA_FETCH_NOT_MODIFIED);
	assert_int_equal(count_requests(&server, "/newer-lm.txt", line,
			sizeof(line)), 2);
	ims_field(first, sizeof(first), line);
	advance(10);
	assert_int_equal(arca_fetch(&r, f->store, url, &opts), 0);
	assert_int_equal(r.status, ARCA_FETCH_NOT_MODIFIED);
	assert_int_equal(count_requests(&server, "/newer-lm.txt", line,
			sizeof(line)), 3);
	ims_field(second, sizeof(second), line);
	assert_string_not_equal(first, second);
	assert_non_null(strstr(second, "2023"));
	assert_blob_is(f->store, &r.digest, "unchanged bytes");
	free(url);
}

static void test_fetch__if_modified_since_without_etag(void **state)
{
	fixture_store *f = *state;
	arca_fetch_options opts = ARCA_FETCH_OPTIONS_INIT;
	arca_fetch_result r;
	char *url = url_of(&server, "/lm-only/lm.txt"), line[1024];

	serve(&server, "lm.txt", "dated");
	set_mtime(&server, "lm.txt", 1000000000);
	assert_int_equal(arca_fetch(&r, f->store, url, NULL), 0);
	assert_int_equal(r.status, ARCA_FETCH_DOWNLOADED);

	opts.max_age_s = 0;
	assert_int_equal(arca_fetch(&r, f->store, url, &opts), 0);
	assert_int_equal(r.status, ARCA_FETCH_NOT_MODIFIED);
	assert_int_equal(count_requests(&server, "/lm-only/lm.txt", line,
			sizeof(line)), 2);
	/* No ETag to send; the Last-Modified value exactly as served. */
	assert_non_null(strstr(line,
			"\t304\t-\tSun, 09 Sep 2001 01:46:40 GMT\n"));
	free(url);
}

static void test_fetch__changed_content_is_downloaded(void **state)
{
	fixture_store *f = *state;
	arca_fetch_options opts = ARCA_FETCH_OPTIONS_INIT;
	arca_fetch_result r1, r2;
	char *url = url_of(&server, "/change.txt"), line[1024];

	serve(&server, "change.txt", "version one");
	assert_int_equal(arca_fetch(&r1, f->store, url, NULL), 0);
	serve(&server, "change.txt", "version two, longer");

	opts.max_age_s = 0;
	assert_int_equal(arca_fetch(&r2, f->store, url, &opts), 0);
	assert_int_equal(r2.status, ARCA_FETCH_DOWNLOADED);
	assert_int_equal(r2.http_status, 200);
	assert_false(arca_digest_equal(&r1.digest, &r2.digest));
	assert_blob_is(f->store, &r2.digest, "version two, longer");
	/* It was a conditional request the server answered 200. */
	assert_int_equal(count_requests(&server, "/change.txt", line,
			sizeof(line)), 2);
	assert_non_null(strstr(line, "\t200\t\""));

	/* The new validators are the ones kept: now a 304. */
	assert_int_equal(arca_fetch(&r1, f->store, url, &opts), 0);
	assert_int_equal(r1.status, ARCA_FETCH_NOT_MODIFIED);
	assert_true(arca_digest_equal(&r1.digest, &r2.digest));
	free(url);
}

static void test_fetch__max_age(void **state)
{
	fixture_store *f = *state;
	arca_fetch_options opts = ARCA_FETCH_OPTIONS_INIT;
	arca_fetch_result r;
	char *url = url_of(&server, "/age.txt");
	int64_t now;

	serve(&server, "age.txt", "aging");
	assert_int_equal(arca_fetch(&r, f->store, url, NULL), 0);
	now = r.fetched_at;
	assert_int_equal(now, fake_now);

	advance(100);
	opts.max_age_s = 200;
	assert_int_equal(arca_fetch(&r, f->store, url, &opts), 0);
	assert_int_equal(r.status, ARCA_FETCH_FRESH);
	assert_int_equal(r.fetched_at, now);
	assert_int_equal(count_requests(&server, "/age.txt", NULL, 0), 1);
	/* Fresh while younger than max_age_s: at 200 s it is revalidated,
	 * and fresh again from then on. */
	advance(99);
	assert_int_equal(arca_fetch(&r, f->store, url, &opts), 0);
	assert_int_equal(r.status, ARCA_FETCH_FRESH);
	advance(1);
	assert_int_equal(arca_fetch(&r, f->store, url, &opts), 0);
	assert_int_equal(r.status, ARCA_FETCH_NOT_MODIFIED);
	assert_int_equal(r.fetched_at, fake_now);
	assert_int_equal(count_requests(&server, "/age.txt", NULL, 0), 2);

	advance(100);
	opts.max_age_s = 50;
	assert_int_equal(arca_fetch(&r, f->store, url, &opts), 0);
	assert_int_equal(r.status, ARCA_FETCH_NOT_MODIFIED);
	assert_int_equal(count_requests(&server, "/age.txt", NULL, 0), 3);
	free(url);
}

static void test_fetch__time_bucket(void **state)
{
	fixture_store *f = *state;
	arca_fetch_options opts = ARCA_FETCH_OPTIONS_INIT;
	arca_fetch_result r;
	char *url = url_of(&server, "/bucket.txt");
	int64_t now, start;

	serve(&server, "bucket.txt", "bucketed");
	/* Fetched at the very start of an hour. */
	now = fake_now;
	start = now - now % 3600 + 3600;
	fake_now = start;
	assert_int_equal(arca_fetch(&r, f->store, url, NULL), 0);
	assert_int_equal(r.fetched_at, start);

	/* The bucket replaces max-age, even max-age 0: fresh to its last
	 * second. */
	opts.max_age_s = 0;
	opts.time_bucket_s = 3600;
	fake_now = start + 3599;
	assert_int_equal(arca_fetch(&r, f->store, url, &opts), 0);
	assert_int_equal(r.status, ARCA_FETCH_FRESH);
	assert_int_equal(count_requests(&server, "/bucket.txt", NULL, 0), 1);

	/* One second later: the next bucket. */
	fake_now = start + 3600;
	assert_int_equal(arca_fetch(&r, f->store, url, &opts), 0);
	assert_int_equal(r.status, ARCA_FETCH_NOT_MODIFIED);
	assert_int_equal(count_requests(&server, "/bucket.txt", NULL, 0), 2);
	free(url);
}

static void test_fetch__stale_if_error_on_http_error(void **state)
{
	fixture_store *f = *state;
	arca_fetch_options opts = ARCA_FETCH_OPTIONS_INIT;
	arca_fetch_result r1, r2;
	char *url = url_of(&server, "/gone.txt"), *path;

	serve(&server, "gone.txt", "soon gone");
	assert_int_equal(arca_fetch(&r1, f->store, url, NULL), 0);
	path = fixture_path("%s/gone.txt", server.root);
	assert_int_equal(unlink(path), 0);
	free(path);

	opts.max_age_s = 0;
	assert_int_equal(arca_fetch(&r2, f->store, url, &opts), 0);
	assert_int_equal(r2.status, ARCA_FETCH_STALE);
	assert_int_equal(r2.http_status, 404);
	assert_true(arca_digest_equal(&r1.digest, &r2.digest));
	assert_int_equal(r2.fetched_at, r1.fetched_at);
	assert_non_null(strstr(arca_errmsg(), "HTTP 404"));

	opts.no_stale = 1;
	assert_int_equal(arca_fetch(&r2, f->store, url, &opts),
			ARCA_EUNAVAILABLE);
	assert_non_null(strstr(arca_errmsg(), url));
	assert_non_null(strstr(arca_errmsg(), "HTTP 404"));
	/* The cached copy is still there for a later stale use. */
	opts.no_stale = 0;
	assert_int_equal(arca_fetch(&r2, f->store, url, &opts), 0);
	assert_int_equal(r2.status, ARCA_FETCH_STALE);
	free(url);
}

static void test_fetch__stale_if_error_when_server_is_down(void **state)
{
	fixture_store *f = *state;
	arca_fetch_options opts = ARCA_FETCH_OPTIONS_INIT;
	arca_fetch_result r1, r2;
	test_server other;
	char *url;

	assert_int_equal(server_start(&other), 0);
	url = url_of(&other, "/down.txt");
	serve(&other, "down.txt", "served once");
	assert_int_equal(arca_fetch(&r1, f->store, url, NULL), 0);
	assert_int_equal(r1.status, ARCA_FETCH_DOWNLOADED);
	server_stop(&other);

	opts.max_age_s = 0;
	assert_int_equal(arca_fetch(&r2, f->store, url, &opts), 0);
	assert_int_equal(r2.status, ARCA_FETCH_STALE);
	assert_int_equal(r2.http_status, 0);
	assert_true(arca_digest_equal(&r1.digest, &r2.digest));
	assert_blob_is(f->store, &r2.digest, "served once");

	opts.no_stale = 1;
	assert_int_equal(arca_fetch(&r2, f->store, url, &opts),
			ARCA_EUNAVAILABLE);
	assert_non_null(strstr(arca_errmsg(), url));
	free(url);
}

static void test_fetch__unreachable_without_a_copy(void **state)
{
	fixture_store *f = *state;
	arca_fetch_result r;

	/* Port 1 on the loopback: nothing listens there. */
	assert_int_equal(arca_fetch(&r, f->store, "http://127.0.0.1:1/x", NULL),
			ARCA_EUNAVAILABLE);
	assert_non_null(strstr(arca_errmsg(), "http://127.0.0.1:1/x: "));
	assert_int_equal(blob_count(f->store), 0);
}

static void test_fetch__http_errors_without_a_copy(void **state)
{
	fixture_store *f = *state;
	arca_fetch_result r;
	char *u404 = url_of(&server, "/no-such-file");
	char *u500 = url_of(&server, "/status/500");

	assert_int_equal(arca_fetch(&r, f->store, u404, NULL), ARCA_EUNAVAILABLE);
	assert_non_null(strstr(arca_errmsg(), u404));
	assert_non_null(strstr(arca_errmsg(), "HTTP 404"));
	assert_int_equal(arca_fetch(&r, f->store, u500, NULL), ARCA_EUNAVAILABLE);
	assert_non_null(strstr(arca_errmsg(), "HTTP 500"));
	assert_int_equal(blob_count(f->store), 0);
	free(u404);
	free(u500);
}

static void test_fetch__cut_transfer_leaves_nothing(void **state)
{
	fixture_store *f = *state;
	arca_fetch_options offline = ARCA_FETCH_OPTIONS_INIT;
	arca_fetch_result r;
	char *url = url_of(&server, "/cut/cut.bin"), *tmp;
	char body[200000];
	size_t i;

	for (i = 0; i < sizeof(body) - 1; i++)
		body[i] = (char)('a' + i % 26);
	body[sizeof(body) - 1] = '\0';
	serve(&server, "cut.bin", body);

	assert_int_equal(arca_fetch(&r, f->store, url, NULL), ARCA_EUNAVAILABLE);
	assert_non_null(strstr(arca_errmsg(), url));
	/* No entry for the URL (asked offline: no request made). */
	offline.offline = 1;
	assert_int_equal(arca_fetch(&r, f->store, url, &offline),
			ARCA_ENOTFOUND);
	assert_int_equal(count_requests(&server, "/cut/cut.bin", NULL, 0), 1);
	assert_int_equal(blob_count(f->store), 0);
	tmp = fixture_path("%s/tmp", f->dir);
	assert_dir_empty(tmp);
	free(tmp);
	free(url);

	/* The same file through a working URL still downloads whole. */
	url = url_of(&server, "/cut.bin");
	assert_int_equal(arca_fetch(&r, f->store, url, NULL), 0);
	assert_int_equal(r.status, ARCA_FETCH_DOWNLOADED);
	assert_int_equal(r.size, sizeof(body) - 1);
	assert_blob_is(f->store, &r.digest, body);
	free(url);
}

static void test_fetch__missing_blob_means_unconditional_get(void **state)
{
	fixture_store *f = *state;
	arca_fetch_options opts = ARCA_FETCH_OPTIONS_INIT;
	arca_fetch_result r1, r2;
	char *url = url_of(&server, "/evicted.txt"), *path, line[1024];

	serve(&server, "evicted.txt", "evicted body");
	assert_int_equal(arca_fetch(&r1, f->store, url, NULL), 0);
	forget_blob(f->dir, &r1.digest);

	/* Not fresh (the body is gone) and not conditional. */
	assert_int_equal(arca_fetch(&r2, f->store, url, NULL), 0);
	assert_int_equal(r2.status, ARCA_FETCH_DOWNLOADED);
	assert_int_equal(count_requests(&server, "/evicted.txt", line,
			sizeof(line)), 2);
	assert_non_null(strstr(line, "\t200\t-\t-\n"));
	assert_blob_is(f->store, &r2.digest, "evicted body");

	/* With the body gone and the server failing, there is no stale
	 * copy to fall back on. */
	forget_blob(f->dir, &r2.digest);
	path = fixture_path("%s/evicted.txt", server.root);
	assert_int_equal(unlink(path), 0);
	free(path);
	opts.max_age_s = 0;
	assert_int_equal(arca_fetch(&r2, f->store, url, &opts),
			ARCA_EUNAVAILABLE);
	assert_non_null(strstr(arca_errmsg(), "HTTP 404"));
	free(url);
}

static void test_fetch__redirects_are_followed(void **state)
{
	fixture_store *f = *state;
	arca_fetch_result r;
	char *url = url_of(&server, "/redirect/target.txt");

	serve(&server, "target.txt", "the target");
	assert_int_equal(arca_fetch(&r, f->store, url, NULL), 0);
	assert_int_equal(r.status, ARCA_FETCH_DOWNLOADED);
	assert_int_equal(r.http_status, 200);
	assert_blob_is(f->store, &r.digest, "the target");
	free(url);
}

static void test_fetch__timeout(void **state)
{
	fixture_store *f = *state;
	arca_fetch_options opts = ARCA_FETCH_OPTIONS_INIT;
	arca_fetch_result r;
	char *url = url_of(&server, "/slow/slow.txt");

	serve(&server, "slow.txt", "late");
	opts.timeout_ms = 300;
	assert_int_equal(arca_fetch(&r, f->store, url, &opts), ARCA_ETIMEOUT);
	assert_non_null(strstr(arca_errmsg(), url));
	assert_int_equal(blob_count(f->store), 0);
	free(url);
}

typedef struct progress_log {
	int calls;
	uint64_t last_done, last_total;
	int monotonic;
} progress_log;

static void record_progress(void *ctx, uint64_t done, uint64_t total)
{
	progress_log *p = ctx;

	if (done < p->last_done)
		p->monotonic = 0;
	p->calls++;
	p->last_done = done;
	p->last_total = total;
}

static void test_fetch__progress(void **state)
{
	fixture_store *f = *state;
	arca_fetch_options opts = ARCA_FETCH_OPTIONS_INIT;
	arca_fetch_result r;
	progress_log p = { 0, 0, 0, 1 };
	char *url = url_of(&server, "/progress.bin");
	static char body[1 << 20];
	size_t i;

	for (i = 0; i < sizeof(body) - 1; i++)
		body[i] = (char)('0' + i % 10);
	body[sizeof(body) - 1] = '\0';
	serve(&server, "progress.bin", body);
	opts.progress = record_progress;
	opts.progress_ctx = &p;
	assert_int_equal(arca_fetch(&r, f->store, url, &opts), 0);
	assert_true(p.calls >= 1);
	assert_true(p.monotonic);
	assert_int_equal(p.last_done, sizeof(body) - 1);
	assert_int_equal(p.last_total, sizeof(body) - 1);
	free(url);
}

static void test_fetch__bad_arguments(void **state)
{
	fixture_store *f = *state;
	arca_fetch_options opts = ARCA_FETCH_OPTIONS_INIT;
	arca_fetch_result r;
	char *url = url_of(&server, "/x");

	assert_int_equal(arca_fetch(&r, f->store, "ftp://127.0.0.1/x", NULL),
			ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "ftp://127.0.0.1/x"));
	assert_int_equal(arca_fetch(&r, f->store, "file:///etc/passwd", NULL),
			ARCA_EINVAL);
	assert_int_equal(arca_fetch(&r, f->store, "not a url", NULL),
			ARCA_EINVAL);
	assert_int_equal(arca_fetch(&r, f->store, "", NULL), ARCA_EINVAL);
	assert_int_equal(arca_fetch(&r, f->store, NULL, NULL), ARCA_EINVAL);
	opts.version = 99;
	assert_int_equal(arca_fetch(&r, f->store, url, &opts), ARCA_EINVAL);
	opts.version = ARCA_FETCH_OPTIONS_VERSION;
	opts.max_age_s = -1;
	assert_int_equal(arca_fetch(&r, f->store, url, &opts), ARCA_EINVAL);
	opts.max_age_s = 0;
	opts.time_bucket_s = -5;
	assert_int_equal(arca_fetch(&r, f->store, url, &opts), ARCA_EINVAL);
	/* None of these reached the server. */
	assert_int_equal(count_requests(&server, "/x", NULL, 0), 0);
	free(url);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, fixture_store_setup, \
		fixture_store_teardown)
		T(test_fetch__download_then_fresh_makes_no_request),
		T(test_fetch__offline_never_makes_a_request),
		T(test_fetch__revalidation_304_keeps_the_body),
		T(test_fetch__validators_of_a_304_are_kept),
		T(test_fetch__if_modified_since_without_etag),
		T(test_fetch__changed_content_is_downloaded),
		T(test_fetch__max_age),
		T(test_fetch__time_bucket),
		T(test_fetch__stale_if_error_on_http_error),
		T(test_fetch__stale_if_error_when_server_is_down),
		T(test_fetch__unreachable_without_a_copy),
		T(test_fetch__http_errors_without_a_copy),
		T(test_fetch__cut_transfer_leaves_nothing),
		T(test_fetch__missing_blob_means_unconditional_get),
		T(test_fetch__redirects_are_followed),
		T(test_fetch__timeout),
		T(test_fetch__progress),
		T(test_fetch__bad_arguments),
#undef T
	};

	/* No proxy may stand between the tests and their loopback server. */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
