/*
 * The stage runner through the public API only (arca/arca.h): key
 * stability and path normalisation, a miss then a hit in a working
 * directory given as a path and as a dirfd while the process's cwd is
 * elsewhere (and stays there), a result committed by an embedding
 * program, statistics recorded by the library (once), inputs that are not
 * regular files, the failures a front end maps to exit codes,
 * arca_get_or_compute() with TTL, tags and max-age, stale outputs removed
 * before a miss, directory and symlink outputs, outputs outside the
 * working directory, stdin (undeclared: not cached; declared: keyed),
 * optional inputs (present: an input; absent: the arca:absent: param) and
 * arca_stage_result_ok().
 */
#include "fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A store, a working directory inside a temp dir, and a cwd elsewhere. */
typedef struct fx {
	char *root;
	char *store_dir;
	char *work;
	char *elsewhere;
	char *saved_cwd;
	arca_store *store;
} fx;

static int setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	/* Whatever stdin the test runner gave: a pipe would make every run
	 * uncached (ARCA_STAGE_EVENT_STDIN_UNCACHED). */
	{
		int nul = open("/dev/null", O_RDONLY);

		if (nul < 0 || dup2(nul, STDIN_FILENO) < 0)
			return -1;
		if (nul != STDIN_FILENO)
			close(nul);
	}
	f->root = fixture_tempdir();
	f->store_dir = fixture_path("%s/store", f->root);
	f->work = fixture_path("%s/work", f->root);
	f->elsewhere = fixture_path("%s/elsewhere", f->root);
	if (mkdir(f->work, 0755) < 0 || mkdir(f->elsewhere, 0755) < 0)
		return -1;
	if ((f->saved_cwd = getcwd(NULL, 0)) == NULL ||
	    chdir(f->elsewhere) < 0)
		return -1;
	if (arca_store_open(&f->store, f->store_dir, NULL) != 0) {
		fprintf(stderr, "arca_store_open: %s\n", arca_errmsg());
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;

	arca_store_close(f->store);
	if (chdir(f->saved_cwd) < 0)
		return -1;
	free(f->saved_cwd);
	free(f->store_dir);
	free(f->work);
	free(f->elsewhere);
	fixture_rmdir(f->root);
	free(f);
	return 0;
}

/* The cwd is still f->elsewhere. */
static void assert_cwd_unchanged(const fx *f)
{
	char *cwd = getcwd(NULL, 0);

	assert_non_null(cwd);
	assert_string_equal(cwd, f->elsewhere);
	free(cwd);
}

static void write_at(const char *dir, const char *name, const char *text)
{
	char *p = fixture_path("%s/%s", dir, name);

	fixture_write_file(p, text, strlen(text));
	free(p);
}

/* The whole content of dir/name as a string ("" when absent). */
static char *read_at(const char *dir, const char *name)
{
	char *p = fixture_path("%s/%s", dir, name);
	size_t len = 0;
	unsigned char *data = fixture_read_file(p, &len);
	char *s;

	free(p);
	if (data == NULL)
		return strdup("");
	s = realloc(data, len + 1);
	assert_non_null(s);
	s[len] = '\0';
	return s;
}

static int exists_at(const char *dir, const char *name)
{
	char *p = fixture_path("%s/%s", dir, name);
	struct stat st;
	int ok = stat(p, &st) == 0;

	free(p);
	return ok;
}

/* Events seen, in order. */
typedef struct seen {
	arca_stage_event_kind kinds[32];
	size_t n;
	long pid;
	uint64_t hit_saved_ms;
	char why[160];         /* OUTPUT_MISSING, STDIN_UNCACHED: message */
} seen;

static void on_event(void *ctx, const arca_stage_event *ev)
{
	seen *s = ctx;

	assert_non_null(ev->stage);
	assert_int_equal(strlen(ev->key_hex), ARCA_DIGEST_HEXLEN);
	if (s->n < 32)
		s->kinds[s->n++] = ev->kind;
	if (ev->kind == ARCA_STAGE_EVENT_STARTED)
		s->pid = ev->pid;
	if (ev->kind == ARCA_STAGE_EVENT_HIT)
		s->hit_saved_ms = ev->duration_ms;
	if (ev->kind == ARCA_STAGE_EVENT_OUTPUT_MISSING ||
	    ev->kind == ARCA_STAGE_EVENT_STDIN_UNCACHED)
		snprintf(s->why, sizeof(s->why), "%s", ev->message);
}

static int saw(const seen *s, arca_stage_event_kind kind)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->kinds[i] == kind)
			return 1;
	return 0;
}

/* Counters of one stage (arca_stats_list). */
typedef struct counts {
	const char *stage;
	uint64_t hits, misses, errors;
} counts;

static int count_cb(const arca_stats *st, void *ctx)
{
	counts *c = ctx;

	if (st->stage != NULL && strcmp(st->stage, c->stage) == 0) {
		c->hits = st->hits;
		c->misses = st->misses;
		c->errors = st->errors;
	}
	return 0;
}

static counts stats_of(arca_store *store, const char *stage)
{
	counts c;

	memset(&c, 0, sizeof(c));
	c.stage = stage;
	assert_int_equal(arca_stats_list(store, count_cb, &c), 0);
	return c;
}

/* ---- keys ---------------------------------------------------------------- */

static void test_stage__normalize_path(void **state)
{
	static const char *cases[][2] = {
		{ "in.txt", "in.txt" },
		{ "./in.txt", "in.txt" },
		{ "a//b/", "a/b" },
		{ "./a/./b//c", "a/b/c" },
		{ "/abs//x/./y", "/abs/x/y" },
		{ "a/../b", "a/../b" },
		{ "./", "." },
	};
	size_t i;
	char *out = NULL;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(arca_stage_normalize_path(&out, cases[i][0]), 0);
		assert_string_equal(out, cases[i][1]);
		free(out);
	}
	assert_int_equal(arca_stage_normalize_path(&out, ""), ARCA_EINVAL);
	assert_null(out);
}

static char *sh_argv[] = { "/bin/sh", "-c", "cat in.txt", NULL };

/* The key of a stage reading `name` as its input (file in.txt). */
static arca_digest key_with_input(fx *f, const char *name, const char *path)
{
	arca_stage_spec spec = ARCA_STAGE_SPEC_INIT;
	arca_stage_input in = { NULL, NULL, NULL };
	arca_stage *st = NULL;
	arca_digest key;

	in.name = name;
	in.path = path;
	spec.stage = "keys";
	spec.argv = sh_argv;
	spec.inputs = &in;
	spec.n_inputs = 1;
	spec.tool_version = "1";
	spec.workdir = f->work;
	assert_int_equal(arca_stage_prepare(&st, NULL, f->store, &spec), 0);
	key = *arca_stage_key(st);
	assert_non_null(arca_stage_action(st));
	arca_stage_free(st);
	return key;
}

static void test_stage__key_stable_and_paths_normalised(void **state)
{
	fx *f = *state;
	arca_digest a, b, c, d;

	write_at(f->work, "in.txt", "hello\n");
	a = key_with_input(f, NULL, "in.txt");
	b = key_with_input(f, NULL, "./in.txt");
	c = key_with_input(f, "in.txt", ".//in.txt");
	assert_true(arca_digest_equal(&a, &b));
	assert_true(arca_digest_equal(&a, &c));
	/* The same again: stable. */
	b = key_with_input(f, NULL, "in.txt");
	assert_true(arca_digest_equal(&a, &b));
	/* Another content, another key. */
	write_at(f->work, "in.txt", "other\n");
	d = key_with_input(f, NULL, "in.txt");
	assert_false(arca_digest_equal(&a, &d));
	assert_cwd_unchanged(f);
}

/* ---- run: miss then hit --------------------------------------------------- */

static char *upper_argv[] = { "/bin/sh", "-c",
	"echo run >>count; mkdir -p out; tr a-z A-Z <in.txt >out/up.txt; "
	"printf 'to stdout\\n'; printf 'to stderr\\n' >&2", NULL };

/* Run the upper stage once in the working directory wd (a path, or a
 * dirfd when wd is NULL); stdout and stderr go to the files so/se. */
static void run_upper(arca_stage_result *res, seen *ev, fx *f,
		const char *wd, int wdfd, int so, int se)
{
	arca_stage_spec spec = ARCA_STAGE_SPEC_INIT;
	arca_stage_input in = { NULL, "in.txt", NULL };
	const char *outs[] = { "./out/up.txt" };
	const char *tags[] = { "upper-tag" };
	arca_stage *st = NULL;
	arca_stage_failure failure = ARCA_STAGE_FAILURE_SPEC;

	memset(ev, 0, sizeof(*ev));
	spec.stage = "upper";
	spec.argv = upper_argv;
	spec.inputs = &in;
	spec.n_inputs = 1;
	spec.outputs = outs;
	spec.n_outputs = 1;
	spec.tags = tags;
	spec.n_tags = 1;
	spec.workdir = wd;
	spec.workdir_fd = wdfd;
	spec.stdout_fd = so;
	spec.stderr_fd = se;
	spec.event = on_event;
	spec.event_ctx = ev;
	assert_int_equal(arca_stage_prepare(&st, &failure, f->store, &spec), 0);
	assert_int_equal(failure, ARCA_STAGE_FAILURE_NONE);
	assert_int_equal(arca_stage_run(res, st), 0);
	assert_true(arca_digest_equal(&res->key, arca_stage_key(st)));
	arca_stage_free(st);
}

static int open_trunc(const fx *f, const char *name)
{
	char *p = fixture_path("%s/%s", f->root, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	free(p);
	assert_true(fd >= 0);
	return fd;
}

static void miss_then_hit(fx *f, int by_fd)
{
	arca_stage_result res;
	seen ev;
	char *s;
	int so, se, wdfd = -1;
	counts c;

	write_at(f->work, "in.txt", "hello arca\n");
	if (by_fd) {
		wdfd = open(f->work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(wdfd >= 0);
	}

	so = open_trunc(f, "so1");
	se = open_trunc(f, "se1");
	run_upper(&res, &ev, f, by_fd ? NULL : f->work, wdfd, so, se);
	close(so);
	close(se);
	assert_int_equal(res.outcome, ARCA_STAGE_STORED);
	assert_int_equal(res.exit_status, 0);
	assert_true(saw(&ev, ARCA_STAGE_EVENT_MISS));
	assert_true(saw(&ev, ARCA_STAGE_EVENT_STARTED));
	assert_true(saw(&ev, ARCA_STAGE_EVENT_STORED));
	assert_true(ev.pid > 0);
	assert_cwd_unchanged(f);
	/* It ran in the working directory, not in the cwd. */
	assert_false(exists_at(f->elsewhere, "count"));
	s = read_at(f->work, "count");
	assert_string_equal(s, "run\n");
	free(s);
	s = read_at(f->work, "out/up.txt");
	assert_string_equal(s, "HELLO ARCA\n");
	free(s);
	/* Passed through to the live fds. */
	s = read_at(f->root, "so1");
	assert_string_equal(s, "to stdout\n");
	free(s);
	s = read_at(f->root, "se1");
	assert_string_equal(s, "to stderr\n");
	free(s);

	/* The hit: restored, replayed, not run. */
	s = fixture_path("%s/out/up.txt", f->work);
	assert_int_equal(unlink(s), 0);
	free(s);
	so = open_trunc(f, "so2");
	se = open_trunc(f, "se2");
	run_upper(&res, &ev, f, by_fd ? NULL : f->work, wdfd, so, se);
	close(so);
	close(se);
	assert_int_equal(res.outcome, ARCA_STAGE_HIT);
	assert_int_equal(res.exit_status, 0);
	assert_true(saw(&ev, ARCA_STAGE_EVENT_HIT));
	assert_false(saw(&ev, ARCA_STAGE_EVENT_MISS));
	assert_false(saw(&ev, ARCA_STAGE_EVENT_STARTED));
	assert_cwd_unchanged(f);
	s = read_at(f->work, "count");
	assert_string_equal(s, "run\n");
	free(s);
	s = read_at(f->work, "out/up.txt");
	assert_string_equal(s, "HELLO ARCA\n");
	free(s);
	assert_false(exists_at(f->elsewhere, "out"));
	s = read_at(f->root, "so2");
	assert_string_equal(s, "to stdout\n");
	free(s);
	s = read_at(f->root, "se2");
	assert_string_equal(s, "to stderr\n");
	free(s);

	/* Counted by the library, once each. */
	c = stats_of(f->store, "upper");
	assert_int_equal(c.misses, 1);
	assert_int_equal(c.hits, 1);
	assert_int_equal(c.errors, 0);

	/* Tags reached the entry. */
	{
		arca_clear_filter filter;
		uint64_t n = 0;

		memset(&filter, 0, sizeof(filter));
		filter.tag = "upper-tag";
		assert_int_equal(arca_store_clear(&n, NULL, f->store, &filter), 0);
		assert_int_equal(n, 1);
	}
	if (wdfd >= 0)
		close(wdfd);
}

static void test_stage__run_miss_then_hit_workdir_path(void **state)
{
	miss_then_hit(*state, 0);
}

static void test_stage__run_miss_then_hit_workdir_fd(void **state)
{
	miss_then_hit(*state, 1);
}

static void test_stage__run_failure_and_missing_output(void **state)
{
	fx *f = *state;
	char *fail_argv[] = { "/bin/sh", "-c", "exit 3", NULL };
	char *lazy_argv[] = { "/bin/sh", "-c", "true", NULL };
	const char *outs[] = { "never.txt" };
	arca_stage_spec spec = ARCA_STAGE_SPEC_INIT;
	arca_stage_result res;
	arca_stage *st = NULL;
	arca_manifest *m = NULL;
	seen ev;
	counts c;

	memset(&ev, 0, sizeof(ev));
	spec.stage = "flaky";
	spec.argv = fail_argv;
	spec.workdir = f->work;
	spec.event = on_event;
	spec.event_ctx = &ev;
	assert_int_equal(arca_stage_prepare(&st, NULL, f->store, &spec), 0);
	assert_int_equal(arca_stage_run(&res, st), 0);
	assert_int_equal(res.outcome, ARCA_STAGE_FAILED);
	assert_int_equal(res.exit_status, 3);
	assert_true(saw(&ev, ARCA_STAGE_EVENT_FAILED));
	assert_int_equal(arca_stage_lookup(&m, st), ARCA_ENOTFOUND);
	arca_stage_free(st);

	memset(&ev, 0, sizeof(ev));
	spec.stage = "lazy";
	spec.argv = lazy_argv;
	spec.outputs = outs;
	spec.n_outputs = 1;
	assert_int_equal(arca_stage_prepare(&st, NULL, f->store, &spec), 0);
	assert_int_equal(arca_stage_run(&res, st), 0);
	assert_int_equal(res.outcome, ARCA_STAGE_OUTPUT_MISSING);
	assert_true(saw(&ev, ARCA_STAGE_EVENT_OUTPUT_MISSING));
	assert_int_equal(arca_stage_lookup(&m, st), ARCA_ENOTFOUND);
	arca_stage_free(st);
	c = stats_of(f->store, "flaky");
	assert_int_equal(c.misses, 1);
	assert_int_equal(c.hits, 0);
	assert_cwd_unchanged(f);
}

/* A live descriptor whose reader is gone: no SIGPIPE reaches the process
 * (the default action would kill this test), the run and the replay go
 * on, the output is still captured. */
static void test_stage__closed_live_fd_raises_no_sigpipe(void **state)
{
	fx *f = *state;
	char *argv[] = { "/bin/sh", "-c",
		"i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done",
		NULL };
	arca_stage_spec spec = ARCA_STAGE_SPEC_INIT;
	arca_stage_result res;
	arca_stage *st = NULL;
	int p[2], i;

	spec.stage = "loud";
	spec.argv = argv;
	spec.workdir = f->work;
	spec.stderr_fd = -1;
	for (i = 0; i < 2; i++) {
		assert_int_equal(pipe(p), 0);
		close(p[0]);
		spec.stdout_fd = p[1];
		assert_int_equal(arca_stage_prepare(&st, NULL, f->store, &spec), 0);
		assert_int_equal(arca_stage_run(&res, st), 0);
		/* First a miss that stores, then a hit that replays. */
		assert_int_equal(res.outcome, i == 0 ? ARCA_STAGE_STORED :
				ARCA_STAGE_HIT);
		assert_int_equal(res.exit_status, 0);
		arca_stage_free(st);
		close(p[1]);
	}
}

/* ---- an embedding program does the work ---------------------------------- */

static void test_stage__commit_by_embedder(void **state)
{
	fx *f = *state;
	arca_stage_spec spec = ARCA_STAGE_SPEC_INIT;
	arca_stage_input in = { "audio", "talk.wav", NULL };
	const char *outs[] = { "talk.txt" };
	arca_stage *st = NULL;
	arca_manifest *m = NULL, *stored = NULL;
	int pipefd[2];
	char buf[64];
	ssize_t n;
	char *s;
	counts c;

	write_at(f->work, "talk.wav", "RIFF....");
	spec.stage = "transcribe";
	spec.inputs = &in;
	spec.n_inputs = 1;
	spec.outputs = outs;
	spec.n_outputs = 1;
	spec.tool_version = "whisper-embedded-1";
	spec.workdir = f->work;
	assert_int_equal(pipe(pipefd), 0);
	spec.stdout_fd = pipefd[1];
	spec.stderr_fd = -1;
	assert_int_equal(arca_stage_prepare(&st, NULL, f->store, &spec), 0);
	assert_int_equal(arca_stage_lookup(&m, st), ARCA_ENOTFOUND);
	assert_null(m);

	/* A missing output is refused; nothing stored. */
	assert_int_equal(arca_stage_commit(NULL, st, 0, 10, NULL, 0, NULL, 0),
			ARCA_ENOTFOUND);
	assert_non_null(strstr(arca_errmsg(), "talk.txt"));
	assert_int_equal(arca_stage_lookup(&m, st), ARCA_ENOTFOUND);

	write_at(f->work, "talk.txt", "hello world\n");
	assert_int_equal(arca_stage_commit(&stored, st, 0, 1234, "said", 4,
			NULL, 0), 0);
	assert_non_null(stored);
	assert_int_equal(stored->duration_ms, 1234);
	assert_int_equal(stored->n_outputs, 1);
	arca_manifest_free(stored);

	/* The hit, as an embedder serves it. */
	s = fixture_path("%s/talk.txt", f->work);
	assert_int_equal(unlink(s), 0);
	free(s);
	assert_int_equal(arca_stage_lookup(&m, st), 0);
	assert_int_equal(m->duration_ms, 1234);
	assert_int_equal(arca_stage_restore(st, m), 0);
	s = read_at(f->work, "talk.txt");
	assert_string_equal(s, "hello world\n");
	free(s);
	assert_int_equal(arca_stage_replay(st, m), 0);
	close(pipefd[1]);
	n = read(pipefd[0], buf, sizeof(buf));
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "said", 4);
	close(pipefd[0]);
	arca_manifest_free(m);
	arca_stage_free(st);

	/* A miss per commit (the refused one also an error), one hit (the
	 * restore); lookups count none. */
	c = stats_of(f->store, "transcribe");
	assert_int_equal(c.misses, 2);
	assert_int_equal(c.errors, 1);
	assert_int_equal(c.hits, 1);
	/* No run without a command. */
	{
		arca_stage_result res;

		spec.flags = ARCA_STAGE_REFRESH;
		assert_int_equal(arca_stage_prepare(&st, NULL, f->store, &spec), 0);
		assert_int_equal(arca_stage_run(&res, st), ARCA_EINVAL);
		assert_int_equal(res.outcome, ARCA_STAGE_ERROR);
		assert_int_equal(res.failure, ARCA_STAGE_FAILURE_SPEC);
		arca_stage_free(st);
	}
	assert_cwd_unchanged(f);
}

/* ---- what prepare refuses ------------------------------------------------- */

static void test_stage__prepare_failures(void **state)
{
	fx *f = *state;
	char *nope_argv[] = { "no-such-command-arca-unit", NULL };
	char *noexec_argv[] = { "./plain.sh", NULL };
	char *cat_argv[] = { "/bin/cat", NULL };
	arca_stage_spec spec = ARCA_STAGE_SPEC_INIT;
	arca_stage_input in = { NULL, "missing.wav", NULL };
	arca_stage_failure failure;
	arca_stage *st = NULL;
	char *fifo;

	spec.stage = "p";
	spec.workdir = f->work;

	spec.argv = nope_argv;
	assert_int_equal(arca_stage_prepare(&st, &failure, f->store, &spec),
			ARCA_ENOTFOUND);
	assert_int_equal(failure, ARCA_STAGE_FAILURE_NOT_FOUND);
	assert_string_equal(arca_errmsg(),
			"command not found: no-such-command-arca-unit");
	assert_null(st);

	/* Relative to the working directory, not to the cwd. */
	write_at(f->work, "plain.sh", "echo hi\n");
	spec.argv = noexec_argv;
	assert_int_equal(arca_stage_prepare(&st, &failure, f->store, &spec),
			ARCA_EPERM);
	assert_int_equal(failure, ARCA_STAGE_FAILURE_NOT_EXECUTABLE);

	spec.argv = cat_argv;
	spec.inputs = &in;
	spec.n_inputs = 1;
	assert_int_equal(arca_stage_prepare(&st, &failure, f->store, &spec),
			ARCA_ENOTFOUND);
	assert_int_equal(failure, ARCA_STAGE_FAILURE_INPUT);
	assert_string_equal(arca_errmsg(),
			"input 'missing.wav': No such file or directory");

	/* A FIFO is refused without blocking on it. */
	fifo = fixture_path("%s/fifo", f->work);
	assert_int_equal(mkfifo(fifo, 0644), 0);
	free(fifo);
	in.path = "fifo";
	assert_int_equal(arca_stage_prepare(&st, &failure, f->store, &spec),
			ARCA_EINVAL);
	assert_int_equal(failure, ARCA_STAGE_FAILURE_INPUT);
	assert_string_equal(arca_errmsg(), "input 'fifo': not a regular file");

	spec.n_inputs = 0;
	spec.version = 99;
	assert_int_equal(arca_stage_prepare(&st, &failure, f->store, &spec),
			ARCA_EINVAL);
	assert_int_equal(failure, ARCA_STAGE_FAILURE_SPEC);
	spec.version = ARCA_STAGE_SPEC_VERSION;
	/* Without a store only NO_CACHE is possible. */
	assert_int_equal(arca_stage_prepare(&st, &failure, NULL, &spec),
			ARCA_EINVAL);
	spec.flags = ARCA_STAGE_NO_CACHE;
	assert_int_equal(arca_stage_prepare(&st, &failure, NULL, &spec), 0);
	arca_stage_free(st);
	assert_cwd_unchanged(f);
}

/* ---- arca_get_or_compute with TTL, tags and max-age ------------------------ */

typedef struct job {
	arca_store *store;
	const char *content;
	int n;
} job;

static arca_digest key_of(const char *content)
{
	arca_action *a = NULL;
	arca_digest key;

	assert_int_equal(arca_action_new(&a, "goc"), 0);
	assert_int_equal(arca_action_add_arg(a, content), 0);
	assert_int_equal(arca_action_set_tool(a, ARCA_TOOL_VERSION, "1"), 0);
	assert_int_equal(arca_action_key(&key, a), 0);
	arca_action_free(a);
	return key;
}

static int compute(arca_manifest **out, void *ctx)
{
	job *j = ctx;
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	arca_digest empty;
	int error;

	j->n++;
	if ((error = arca_action_new(&a, "goc")) < 0 ||
	    (error = arca_action_add_arg(a, j->content)) < 0 ||
	    (error = arca_action_set_tool(a, ARCA_TOOL_VERSION, "1")) < 0 ||
	    (error = arca_manifest_from_action(&m, a)) < 0 ||
	    (error = arca_blob_put(&empty, j->store, NULL, 0)) < 0)
		goto cleanup;
	m->stdout_digest = empty;
	m->stderr_digest = empty;
	*out = m;
	m = NULL;
cleanup:
	arca_manifest_free(m);
	arca_action_free(a);
	return error;
}

static void test_stage__get_or_compute_ttl_tags_max_age(void **state)
{
	fx *f = *state;
	arca_compute_options opts = ARCA_COMPUTE_OPTIONS_INIT;
	const char *tags[] = { "goc-tag" };
	arca_digest ka = key_of("a"), kb = key_of("b"), kc = key_of("c");
	job ja = { f->store, "a", 0 }, jb = { f->store, "b", 0 },
	    jc = { f->store, "c", 0 };
	arca_manifest *m = NULL;
	arca_clear_filter filter;
	uint64_t n = 0;
	int computed;

	assert_int_equal(opts.version, 2);
	/* a: expires after 1 s. b: no TTL. c: tagged. */
	opts.ttl_s = 1;
	assert_int_equal(arca_get_or_compute(&m, &computed, f->store, &ka,
			compute, &ja, &opts), 0);
	assert_int_equal(computed, 1);
	arca_manifest_free(m);
	opts.ttl_s = 0;
	assert_int_equal(arca_get_or_compute(&m, &computed, f->store, &kb,
			compute, &jb, &opts), 0);
	arca_manifest_free(m);
	opts.tags = tags;
	opts.n_tags = 1;
	assert_int_equal(arca_get_or_compute(&m, &computed, f->store, &kc,
			compute, &jc, &opts), 0);
	arca_manifest_free(m);
	opts.tags = NULL;
	opts.n_tags = 0;

	/* Version 1 callers still work (and get no TTL). */
	{
		arca_compute_options v1 = ARCA_COMPUTE_OPTIONS_INIT;

		v1.version = 1;
		assert_int_equal(arca_get_or_compute(&m, &computed, f->store,
				&kb, compute, &jb, &v1), 0);
		assert_int_equal(computed, 0);
		arca_manifest_free(m);
		v1.version = 3;
		assert_int_equal(arca_get_or_compute(&m, &computed, f->store,
				&kb, compute, &jb, &v1), ARCA_EINVAL);
	}

	memset(&filter, 0, sizeof(filter));
	filter.tag = "goc-tag";
	assert_int_equal(arca_store_clear(&n, NULL, f->store, &filter), 0);
	assert_int_equal(n, 1);
	assert_int_equal(arca_action_peek(&m, f->store, &kc), ARCA_ENOTFOUND);

	sleep(2);
	/* a expired: computed again. */
	assert_int_equal(arca_action_peek(&m, f->store, &ka), ARCA_ENOTFOUND);
	assert_int_equal(arca_get_or_compute(&m, &computed, f->store, &ka,
			compute, &ja, &opts), 0);
	assert_int_equal(computed, 1);
	assert_int_equal(ja.n, 2);
	arca_manifest_free(m);
	/* b is 2 s old: a hit, unless max-age says 1 s. */
	assert_int_equal(arca_get_or_compute(&m, &computed, f->store, &kb,
			compute, &jb, &opts), 0);
	assert_int_equal(computed, 0);
	arca_manifest_free(m);
	opts.max_age_s = 1;
	assert_int_equal(arca_get_or_compute(&m, &computed, f->store, &kb,
			compute, &jb, &opts), 0);
	assert_int_equal(computed, 1);
	assert_int_equal(jb.n, 2);
	arca_manifest_free(m);
}

/* ---- stale outputs, odd outputs -------------------------------------- */

/* Run argv in f->work declaring outs; returns the outcome, events in ev. */
static arca_stage_outcome run_with_outputs(fx *f, seen *ev, const char *stage,
		char **argv, const char **outs, size_t n_outs)
{
	arca_stage_spec spec = ARCA_STAGE_SPEC_INIT;
	arca_stage_result res;
	arca_stage *st = NULL;
	arca_manifest *m = NULL;

	memset(ev, 0, sizeof(*ev));
	spec.stage = stage;
	spec.argv = argv;
	spec.outputs = outs;
	spec.n_outputs = n_outs;
	spec.workdir = f->work;
	spec.stdout_fd = -1;
	spec.stderr_fd = -1;
	spec.event = on_event;
	spec.event_ctx = ev;
	assert_int_equal(arca_stage_prepare(&st, NULL, f->store, &spec), 0);
	assert_int_equal(arca_stage_run(&res, st), 0);
	if (res.outcome != ARCA_STAGE_STORED)
		assert_int_equal(arca_stage_lookup(&m, st), ARCA_ENOTFOUND);
	arca_manifest_free(m);
	arca_stage_free(st);
	return res.outcome;
}

/* A declared output left from an earlier run is removed before the
 * command runs: one the command does not write is not produced, and
 * nothing is stored. */
static void test_stage__stale_output_not_stored(void **state)
{
	fx *f = *state;
	char *true_argv[] = { "/bin/sh", "-c", "true", NULL };
	char *write_argv[] = { "/bin/sh", "-c", "echo new >pre.txt", NULL };
	const char *outs[] = { "pre.txt" };
	seen ev;
	char *s;

	write_at(f->work, "pre.txt", "stale\n");
	assert_int_equal(run_with_outputs(f, &ev, "stale", true_argv, outs, 1),
			ARCA_STAGE_OUTPUT_MISSING);
	assert_true(saw(&ev, ARCA_STAGE_EVENT_OUTPUT_MISSING));
	assert_string_equal(ev.why, "");
	assert_false(exists_at(f->work, "pre.txt"));

	/* One the command rewrites is its own. */
	write_at(f->work, "pre.txt", "stale\n");
	assert_int_equal(run_with_outputs(f, &ev, "fresh", write_argv, outs, 1),
			ARCA_STAGE_STORED);
	s = read_at(f->work, "pre.txt");
	assert_string_equal(s, "new\n");
	free(s);
	assert_cwd_unchanged(f);
}

/* A directory or a symbolic link at an output's path is not a produced
 * file, and says what it is. */
static void test_stage__directory_and_symlink_outputs(void **state)
{
	fx *f = *state;
	char *dir_argv[] = { "/bin/sh", "-c", "mkdir -p d", NULL };
	char *link_argv[] = { "/bin/sh", "-c",
		"echo x >target; ln -s target l", NULL };
	const char *dir_outs[] = { "d" };
	const char *link_outs[] = { "l" };
	seen ev;

	assert_int_equal(run_with_outputs(f, &ev, "dir", dir_argv, dir_outs, 1),
			ARCA_STAGE_OUTPUT_MISSING);
	assert_string_equal(ev.why, "is a directory, not a file (declare the "
			"files inside it)");
	assert_int_equal(run_with_outputs(f, &ev, "link", link_argv, link_outs,
			1), ARCA_STAGE_OUTPUT_MISSING);
	assert_string_equal(ev.why, "is a symbolic link, not a file (links "
			"are not followed)");
}

/* Outputs stay inside the working directory: one line, said once. */
static void test_stage__output_outside_workdir(void **state)
{
	fx *f = *state;
	const char *bad[] = { "/tmp/x.txt", "../x.txt", "a/../../x" };
	arca_stage_spec spec = ARCA_STAGE_SPEC_INIT;
	arca_stage_failure failure;
	arca_stage *st = NULL;
	size_t i;

	spec.stage = "outside";
	spec.argv = sh_argv;
	spec.workdir = f->work;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *msg, *first;

		spec.outputs = &bad[i];
		spec.n_outputs = 1;
		assert_int_equal(arca_stage_prepare(&st, &failure, f->store,
				&spec), ARCA_EINVAL);
		assert_null(st);
		assert_int_equal(failure, ARCA_STAGE_FAILURE_SPEC);
		msg = arca_errmsg();
		assert_non_null(strstr(msg, "outside the working directory"));
		first = strstr(msg, "output '");
		assert_ptr_equal(first, msg);
		assert_null(strstr(first + 1, "output '"));
		assert_null(strchr(msg, '\n'));
	}
}

/* ---- stdin ---------------------------------------------------------------- */

/* A pipe holding text (written and closed): its read end. */
static int pipe_with(const char *text)
{
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], text, strlen(text)), (ssize_t)strlen(text));
	close(p[1]);
	return p[0];
}

/* cat >out.txt with stdin from fd; flags added. */
static arca_stage_outcome run_cat(fx *f, seen *ev, int fd, unsigned int flags,
		arca_digest *key)
{
	static char *cat_argv[] = { "/bin/sh", "-c", "cat >out.txt", NULL };
	const char *outs[] = { "out.txt" };
	arca_stage_spec spec = ARCA_STAGE_SPEC_INIT;
	arca_stage_result res;
	arca_stage *st = NULL;

	memset(ev, 0, sizeof(*ev));
	spec.stage = "cat";
	spec.argv = cat_argv;
	spec.outputs = outs;
	spec.n_outputs = 1;
	spec.workdir = f->work;
	spec.flags = flags;
	spec.stdin_fd = fd;
	spec.event = on_event;
	spec.event_ctx = ev;
	assert_int_equal(arca_stage_prepare(&st, NULL, f->store, &spec), 0);
	assert_int_equal(arca_stage_run(&res, st), 0);
	if (key != NULL)
		*key = res.key;
	arca_stage_free(st);
	return res.outcome;
}

/* Undeclared stdin that is a pipe or a file: run without the cache; a
 * /dev/null stdin is cacheable. */
static void test_stage__stdin_undeclared_not_cached(void **state)
{
	fx *f = *state;
	seen ev;
	char *s, *path;
	int fd;

	fd = pipe_with("one\n");
	assert_int_equal(run_cat(f, &ev, fd, 0, NULL), ARCA_STAGE_RAN);
	close(fd);
	assert_true(saw(&ev, ARCA_STAGE_EVENT_STDIN_UNCACHED));
	assert_false(saw(&ev, ARCA_STAGE_EVENT_STORED));
	assert_string_equal(ev.why, "a pipe");
	fd = pipe_with("two\n");
	assert_int_equal(run_cat(f, &ev, fd, 0, NULL), ARCA_STAGE_RAN);
	close(fd);
	assert_false(saw(&ev, ARCA_STAGE_EVENT_HIT));
	s = read_at(f->work, "out.txt");
	assert_string_equal(s, "two\n");
	free(s);

	write_at(f->work, "in.txt", "from a file\n");
	path = fixture_path("%s/in.txt", f->work);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	assert_true(fd >= 0);
	assert_int_equal(run_cat(f, &ev, fd, 0, NULL), ARCA_STAGE_RAN);
	close(fd);
	assert_string_equal(ev.why, "a regular file");

	/* -1 (and the /dev/null of setup()) is empty: cached. */
	assert_int_equal(run_cat(f, &ev, -1, 0, NULL), ARCA_STAGE_STORED);
	assert_int_equal(run_cat(f, &ev, 0, 0, NULL), ARCA_STAGE_HIT);
}

/* Declared stdin is an input named "(stdin)": the same bytes hit,
 * others miss, and the command reads the copy. */
static void test_stage__stdin_input(void **state)
{
	fx *f = *state;
	arca_stage_spec spec = ARCA_STAGE_SPEC_INIT;
	arca_stage_input in = { NULL, "(stdin)", NULL };
	arca_stage_failure failure;
	arca_stage *st = NULL;
	arca_digest k1, k2, k3;
	seen ev;
	char *s;
	int fd;

	fd = pipe_with("one\n");
	assert_int_equal(run_cat(f, &ev, fd, ARCA_STAGE_STDIN_INPUT, &k1),
			ARCA_STAGE_STORED);
	close(fd);
	s = read_at(f->work, "out.txt");
	assert_string_equal(s, "one\n");
	free(s);
	fd = pipe_with("one\n");
	assert_int_equal(run_cat(f, &ev, fd, ARCA_STAGE_STDIN_INPUT, &k2),
			ARCA_STAGE_HIT);
	close(fd);
	assert_true(arca_digest_equal(&k1, &k2));
	fd = pipe_with("two\n");
	assert_int_equal(run_cat(f, &ev, fd, ARCA_STAGE_STDIN_INPUT, &k3),
			ARCA_STAGE_STORED);
	close(fd);
	assert_false(arca_digest_equal(&k1, &k3));
	s = read_at(f->work, "out.txt");
	assert_string_equal(s, "two\n");
	free(s);

	/* The name is reserved: a file input cannot take it. */
	write_at(f->work, "(stdin)", "one\n");
	spec.stage = "cat";
	spec.argv = sh_argv;
	spec.inputs = &in;
	spec.n_inputs = 1;
	spec.workdir = f->work;
	assert_int_equal(arca_stage_prepare(&st, &failure, f->store, &spec),
			ARCA_EINVAL);
	assert_int_equal(failure, ARCA_STAGE_FAILURE_SPEC);
	assert_non_null(strstr(arca_errmsg(), "reserved"));
}

/* A version 1 spec (before stdin_fd) is still accepted. */
static void test_stage__spec_version_1(void **state)
{
	fx *f = *state;
	arca_stage_spec spec = ARCA_STAGE_SPEC_INIT;
	arca_stage *st = NULL;

	spec.version = 1;
	spec.stage = "v1";
	spec.argv = sh_argv;
	spec.workdir = f->work;
	assert_int_equal(arca_stage_prepare(&st, NULL, f->store, &spec), 0);
	arca_stage_free(st);
	spec.version = ARCA_STAGE_SPEC_VERSION + 1;
	assert_int_equal(arca_stage_prepare(&st, NULL, f->store, &spec),
			ARCA_EINVAL);
}

/* ---- optional inputs ------------------------------------------------------ */

/*
 * Prepare the "keys" stage (sh_argv, tool version "1") with these
 * inputs, optional inputs and params; *key is its key on success.
 * Returns what arca_stage_prepare() returned.
 */
static int prepare_keys(arca_digest *key, arca_stage_failure *failure,
		fx *f, const arca_stage_input *ins, size_t n_ins,
		const arca_stage_input *opt, size_t n_opt,
		const arca_stage_param *params, size_t n_params)
{
	arca_stage_spec spec = ARCA_STAGE_SPEC_INIT;
	arca_stage *st = NULL;
	int rc;

	spec.stage = "keys";
	spec.argv = sh_argv;
	spec.inputs = ins;
	spec.n_inputs = n_ins;
	spec.optional_inputs = opt;
	spec.n_optional_inputs = n_opt;
	spec.params = params;
	spec.n_params = n_params;
	spec.tool_version = "1";
	spec.workdir = f->work;
	rc = arca_stage_prepare(&st, failure, f->store, &spec);
	if (rc == 0)
		*key = *arca_stage_key(st);
	arca_stage_free(st);
	return rc;
}

/* The key of the "keys" stage built by hand (arca_action_*): the input
 * words.txt of the working directory, and the param name = value when
 * name is not NULL. */
static arca_digest keys_by_hand(fx *f, const char *name, const char *value)
{
	arca_action *a = NULL;
	arca_digest d, key;
	char *words = fixture_path("%s/words.txt", f->work);
	size_t i;

	assert_int_equal(arca_action_new(&a, "keys"), 0);
	for (i = 0; sh_argv[i] != NULL; i++)
		assert_int_equal(arca_action_add_arg(a, sh_argv[i]), 0);
	assert_int_equal(arca_digest_file(&d, NULL, words), 0);
	assert_int_equal(arca_action_add_input(a, "words.txt", &d), 0);
	if (name != NULL)
		assert_int_equal(arca_action_add_param(a, name, value), 0);
	assert_int_equal(arca_action_set_tool(a, ARCA_TOOL_VERSION, "1"), 0);
	assert_int_equal(arca_action_key(&key, a), 0);
	arca_action_free(a);
	free(words);
	return key;
}

/* Present, an optional input is an input: the same key as a required one
 * (names normalised the same way), a digest given included. */
static void test_stage__optional_input_present_is_an_input(void **state)
{
	fx *f = *state;
	const arca_stage_input req[] = { { NULL, "words.txt", NULL },
		{ NULL, "speakers.rttm", NULL } };
	const arca_stage_input words = { NULL, "words.txt", NULL };
	const arca_stage_input opt = { NULL, ".//speakers.rttm", NULL };
	arca_stage_input with_digest = { "speakers.rttm", "gone.rttm", NULL };
	arca_digest a, b, none, d;
	char *p;

	write_at(f->work, "words.txt", "words\n");
	write_at(f->work, "speakers.rttm", "SPEAKER 1\n");
	assert_int_equal(prepare_keys(&a, NULL, f, req, 2, NULL, 0, NULL, 0),
			0);
	assert_int_equal(prepare_keys(&b, NULL, f, &words, 1, &opt, 1, NULL,
			0), 0);
	assert_true(arca_digest_equal(&a, &b));
	assert_int_equal(prepare_keys(&none, NULL, f, &words, 1, NULL, 0, NULL,
			0), 0);
	assert_false(arca_digest_equal(&a, &none));
	/* Its content is in the key. */
	write_at(f->work, "speakers.rttm", "SPEAKER 2\n");
	assert_int_equal(prepare_keys(&b, NULL, f, &words, 1, &opt, 1, NULL,
			0), 0);
	assert_false(arca_digest_equal(&a, &b));
	/* With a digest, present whatever the file system says. */
	p = fixture_path("%s/speakers.rttm", f->work);
	assert_int_equal(arca_digest_file(&d, NULL, p), 0);
	free(p);
	with_digest.digest = &d;
	assert_int_equal(prepare_keys(&a, NULL, f, &words, 1, &with_digest, 1,
			NULL, 0), 0);
	assert_true(arca_digest_equal(&a, &b));
	assert_cwd_unchanged(f);
}

/* Absent, it is the param "arca:absent:NAME" = "1" (NAME normalised):
 * the key the pipeline runner has always computed by hand. */
static void test_stage__optional_input_absent_is_marked(void **state)
{
	fx *f = *state;
	const arca_stage_input words = { NULL, "words.txt", NULL };
	const arca_stage_input opt = { NULL, "./sub//speakers.rttm", NULL };
	const arca_stage_input named = { "sub/speakers.rttm", "elsewhere.rttm",
		NULL };
	arca_stage_spec spec = ARCA_STAGE_SPEC_INIT;
	arca_stage *st = NULL;
	arca_digest a, b, marked, none;
	char *link;

	write_at(f->work, "words.txt", "words\n");
	marked = keys_by_hand(f, ARCA_STAGE_ABSENT_PARAM "sub/speakers.rttm",
			"1");
	none = keys_by_hand(f, NULL, NULL);
	assert_false(arca_digest_equal(&marked, &none));
	assert_int_equal(prepare_keys(&a, NULL, f, &words, 1, &opt, 1, NULL,
			0), 0);
	assert_true(arca_digest_equal(&a, &marked));
	/* Under its logical name, not its path. */
	assert_int_equal(prepare_keys(&b, NULL, f, &words, 1, &named, 1, NULL,
			0), 0);
	assert_true(arca_digest_equal(&b, &marked));
	/* A dangling symbolic link is absent too (stat: ENOENT). */
	link = fixture_path("%s/sub", f->work);
	assert_int_equal(mkdir(link, 0755), 0);
	free(link);
	link = fixture_path("%s/sub/speakers.rttm", f->work);
	assert_int_equal(symlink("nowhere.rttm", link), 0);
	free(link);
	assert_int_equal(prepare_keys(&b, NULL, f, &words, 1, &opt, 1, NULL,
			0), 0);
	assert_true(arca_digest_equal(&b, &marked));
	assert_string_equal(ARCA_PIPELINE_ABSENT_PARAM, ARCA_STAGE_ABSENT_PARAM);
	/* A spec of version 2 has no optional inputs: none in the key. */
	spec.version = 2;
	spec.stage = "keys";
	spec.argv = sh_argv;
	spec.inputs = &words;
	spec.n_inputs = 1;
	spec.optional_inputs = &opt;
	spec.n_optional_inputs = 1;
	spec.tool_version = "1";
	spec.workdir = f->work;
	assert_int_equal(arca_stage_prepare(&st, NULL, f->store, &spec), 0);
	assert_true(arca_digest_equal(arca_stage_key(st), &none));
	arca_stage_free(st);
	assert_cwd_unchanged(f);
}

/* An optional input that is there but is not a readable regular file is
 * refused exactly as a required one: never taken for absent. */
static void test_stage__optional_input_not_regular_refused(void **state)
{
	fx *f = *state;
	const char *paths[] = { "fifo", "dir", "words.txt/x" };
	arca_stage_input in = { NULL, NULL, NULL };
	arca_stage_failure failure, opt_failure;
	arca_digest key;
	char *p, *msg;
	size_t i;
	int rc;

	write_at(f->work, "words.txt", "words\n");
	p = fixture_path("%s/fifo", f->work);
	assert_int_equal(mkfifo(p, 0644), 0);
	free(p);
	p = fixture_path("%s/dir", f->work);
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		in.path = paths[i];
		rc = prepare_keys(&key, &failure, f, &in, 1, NULL, 0, NULL, 0);
		assert_true(rc < 0);
		msg = strdup(arca_errmsg());
		assert_non_null(msg);
		assert_int_equal(prepare_keys(&key, &opt_failure, f, NULL, 0, &in,
				1, NULL, 0), rc);
		assert_int_equal(opt_failure, failure);
		assert_string_equal(arca_errmsg(), msg);
		free(msg);
	}
	in.path = "fifo";
	assert_int_equal(prepare_keys(&key, &failure, f, NULL, 0, &in, 1, NULL,
			0), ARCA_EINVAL);
	assert_int_equal(failure, ARCA_STAGE_FAILURE_INPUT);
	assert_string_equal(arca_errmsg(), "input 'fifo': not a regular file");
}

/* The marker's prefix is refused in a caller's params, and a name is one
 * input whether it is required, optional, present or absent. */
static void test_stage__absent_prefix_reserved(void **state)
{
	fx *f = *state;
	const arca_stage_param marker = { ARCA_STAGE_ABSENT_PARAM "x", "1" };
	const arca_stage_param near = { "arca:absent", "1" };
	const arca_stage_input words = { NULL, "words.txt", NULL };
	const arca_stage_input opt_words = { NULL, "./words.txt", NULL };
	const arca_stage_input opt_absent = { "words.txt", "gone.txt", NULL };
	const arca_stage_input two_absent[] = { { "x", "gone.txt", NULL },
		{ "./x", "gone2.txt", NULL } };
	arca_stage_spec spec = ARCA_STAGE_SPEC_INIT;
	arca_stage_failure failure;
	arca_stage *st = NULL;
	arca_digest key;

	write_at(f->work, "words.txt", "words\n");
	assert_int_equal(prepare_keys(&key, &failure, f, &words, 1, NULL, 0,
			&marker, 1), ARCA_EINVAL);
	assert_int_equal(failure, ARCA_STAGE_FAILURE_SPEC);
	assert_string_equal(arca_errmsg(), "param 'arca:absent:x': names "
			"starting with 'arca:absent:' are reserved for absent "
			"optional inputs");
	assert_int_equal(prepare_keys(&key, &failure, f, &words, 1, NULL, 0,
			&near, 1), 0);
	spec.stage = "keys";
	spec.argv = sh_argv;
	spec.tool_version = "1";
	spec.workdir = f->work;
	spec.secret_params = &marker;
	spec.n_secret_params = 1;
	assert_int_equal(arca_stage_prepare(&st, &failure, f->store, &spec),
			ARCA_EINVAL);
	assert_int_equal(failure, ARCA_STAGE_FAILURE_SPEC);
	assert_null(st);
	/* One name, twice. */
	assert_int_equal(prepare_keys(&key, &failure, f, &words, 1, &opt_words,
			1, NULL, 0), ARCA_EEXISTS);
	assert_int_equal(prepare_keys(&key, &failure, f, &words, 1, &opt_absent,
			1, NULL, 0), ARCA_EEXISTS);
	assert_int_equal(failure, ARCA_STAGE_FAILURE_SPEC);
	assert_string_equal(arca_errmsg(),
			"input 'words.txt': given more than once");
	assert_int_equal(prepare_keys(&key, &failure, f, NULL, 0, two_absent, 2,
			NULL, 0), ARCA_EEXISTS);
	assert_string_equal(arca_errmsg(), "input 'x': given more than once");
}

/* arca_stage_result_ok(): the outcomes whose outputs are in place. */
static void test_stage__result_ok(void **state)
{
	arca_stage_result r;

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(arca_stage_result_ok(NULL), 0);
	r.outcome = ARCA_STAGE_ERROR;
	assert_int_equal(arca_stage_result_ok(&r), 0);
	r.outcome = ARCA_STAGE_HIT;
	assert_int_equal(arca_stage_result_ok(&r), 1);
	r.outcome = ARCA_STAGE_STORED;
	assert_int_equal(arca_stage_result_ok(&r), 1);
	r.outcome = ARCA_STAGE_RAN;
	assert_int_equal(arca_stage_result_ok(&r), 1);
	r.outcome = ARCA_STAGE_FAILED;
	assert_int_equal(arca_stage_result_ok(&r), 0);
	r.outcome = ARCA_STAGE_OUTPUT_MISSING;
	assert_int_equal(arca_stage_result_ok(&r), 0);
	r.outcome = ARCA_STAGE_CACHE_WRITE_FAILED;
	assert_int_equal(arca_stage_result_ok(&r), 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_stage__normalize_path),
		T(test_stage__key_stable_and_paths_normalised),
		T(test_stage__run_miss_then_hit_workdir_path),
		T(test_stage__run_miss_then_hit_workdir_fd),
		T(test_stage__run_failure_and_missing_output),
		T(test_stage__closed_live_fd_raises_no_sigpipe),
		T(test_stage__commit_by_embedder),
		T(test_stage__prepare_failures),
		T(test_stage__get_or_compute_ttl_tags_max_age),
		T(test_stage__stale_output_not_stored),
		T(test_stage__directory_and_symlink_outputs),
		T(test_stage__output_outside_workdir),
		T(test_stage__stdin_undeclared_not_cached),
		T(test_stage__stdin_input),
		T(test_stage__spec_version_1),
		T(test_stage__optional_input_present_is_an_input),
		T(test_stage__optional_input_absent_is_marked),
		T(test_stage__optional_input_not_regular_refused),
		T(test_stage__absent_prefix_reserved),
		T(test_stage__result_ok),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
