/*
 * Running a pipeline file through the public API only (arca/arca.h):
 * arca_pipeline_run() on a small shell pipeline in a temp directory
 * while the process's cwd is elsewhere (and stays there): a first run
 * where every stage runs and is stored, a second where every stage hits,
 * an optional stage that fails and degrades the run (its old output
 * removed, the stage after it run without it), a required stage that
 * fails and stops the run, which the next run resumes, arca_pipeline_status()
 * after a fresh checkout (outputs deleted, the cache warm), a param that
 * no stage uses, and allocations failing in turn.
 */
#include "fixture.h"
#include "alloc_torture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * prep -> upper -> extra (optional) -> final; a file "fail-STAGE" in the
 * pipeline's directory makes STAGE fail. final reads extra.txt when it is
 * there.
 */
static const char pipeline_yaml[] =
	"params:\n"
	"  word: hello\n"
	"stages:\n"
	"  prep:\n"
	"    cmd: test ! -e fail-prep && echo ${word} > prep.txt\n"
	"    params: [word]\n"
	"    outs: [prep.txt]\n"
	"  upper:\n"
	"    cmd: test ! -e fail-upper && tr a-z A-Z < prep.txt > upper.txt\n"
	"    deps: [prep.txt]\n"
	"    outs: [upper.txt]\n"
	"  extra:\n"
	"    cmd: test ! -e fail-extra && cat upper.txt upper.txt > extra.txt\n"
	"    deps: [upper.txt]\n"
	"    outs: [extra.txt]\n"
	"    optional: true\n"
	"  final:\n"
	"    cmd: test ! -e fail-final && { cat upper.txt; if test -e extra.txt;"
	" then cat extra.txt; fi; } > final.txt\n"
	"    deps: [upper.txt, extra.txt]\n"
	"    outs: [final.txt]\n";

typedef struct fx {
	char *root;
	char *store_dir;
	char *work;
	char *elsewhere;
	char *saved_cwd;
	arca_store *store;
	arca_pipeline *p;
} fx;

/* What the event callback saw. */
typedef struct counts {
	size_t start, hit, ran, degraded, failed, skipped, predicted;
	size_t stored;      /* the stage runner's STORED events */
	size_t errors;      /* STAGE_ERROR */
} counts;

static void count_event(void *ctx, const arca_pipeline_event *ev)
{
	counts *c = ctx;

	switch (ev->kind) {
	case ARCA_PIPELINE_EVENT_STAGE_START: c->start++; break;
	case ARCA_PIPELINE_EVENT_HIT: c->hit++; break;
	case ARCA_PIPELINE_EVENT_RAN: c->ran++; break;
	case ARCA_PIPELINE_EVENT_DEGRADED: c->degraded++; break;
	case ARCA_PIPELINE_EVENT_FAILED: c->failed++; break;
	case ARCA_PIPELINE_EVENT_SKIPPED: c->skipped++; break;
	case ARCA_PIPELINE_EVENT_PREDICTED: c->predicted++; break;
	case ARCA_PIPELINE_EVENT_STAGE_ERROR: c->errors++; break;
	case ARCA_PIPELINE_EVENT_STAGE:
		if (ev->stage_event->kind == ARCA_STAGE_EVENT_STORED)
			c->stored++;
		break;
	default:
		break;
	}
}

static int setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	char *file;

	if (f == NULL)
		return -1;
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
	file = fixture_path("%s/arca.yaml", f->work);
	fixture_write_file(file, pipeline_yaml, strlen(pipeline_yaml));
	if (arca_pipeline_load(&f->p, file) != 0) {
		fprintf(stderr, "arca_pipeline_load: %s\n", arca_errmsg());
		free(file);
		return -1;
	}
	free(file);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;

	arca_pipeline_free(f->p);
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

static void assert_cwd_unchanged(const fx *f)
{
	char *cwd = getcwd(NULL, 0);

	assert_non_null(cwd);
	assert_string_equal(cwd, f->elsewhere);
	free(cwd);
}

static void touch(const fx *f, const char *name)
{
	char *path = fixture_path("%s/%s", f->work, name);

	fixture_write_file(path, "", 0);
	free(path);
}

static void rm(const fx *f, const char *name)
{
	char *path = fixture_path("%s/%s", f->work, name);

	assert_true(unlink(path) == 0 || errno == ENOENT);
	free(path);
}

static int exists(const fx *f, const char *name)
{
	char *path = fixture_path("%s/%s", f->work, name);
	struct stat st;
	int found = stat(path, &st) == 0;

	free(path);
	return found;
}

/* The content of a file of the pipeline's directory ("" when absent). */
static char *read_work(const fx *f, const char *name)
{
	char *path = fixture_path("%s/%s", f->work, name);
	size_t len = 0;
	unsigned char *data = fixture_read_file(path, &len);
	char *s = calloc(1, len + 1);

	assert_non_null(s);
	if (data != NULL)
		memcpy(s, data, len);
	free(data);
	free(path);
	return s;
}

static void assert_file(const fx *f, const char *name, const char *want)
{
	char *got = read_work(f, name);

	assert_string_equal(got, want);
	free(got);
}

/* Run with the callback counting into c; params as name, value pairs. */
static arca_pipeline_report *run(fx *f, counts *c, const char *name,
		const char *value)
{
	arca_pipeline_run_options opts = ARCA_PIPELINE_RUN_OPTIONS_INIT;
	arca_pipeline_report *rep = NULL;
	const char *names[1], *values[1];

	memset(c, 0, sizeof(*c));
	opts.event = count_event;
	opts.event_ctx = c;
	opts.stdout_fd = -1;
	opts.stderr_fd = -1;
	/* Whatever the test runner's stdin is, the stages are cached. */
	opts.stdin_fd = -1;
	if (name != NULL) {
		names[0] = name;
		values[0] = value;
		opts.param_names = names;
		opts.param_values = values;
		opts.n_params = 1;
	}
	if (arca_pipeline_run(&rep, f->store, f->p, &opts) != 0)
		fail_msg("arca_pipeline_run: %s", arca_errmsg());
	assert_non_null(rep);
	assert_cwd_unchanged(f);
	return rep;
}

/* The report entry of stage name. */
static const arca_pipeline_stage_report *entry(const arca_pipeline_report *rep,
		const char *name)
{
	size_t i;

	for (i = 0; i < rep->n_stages; i++)
		if (strcmp(rep->stages[i].stage->name, name) == 0)
			return &rep->stages[i];
	fail_msg("no stage %s in the report", name);
	return NULL;
}

static void test_pipeline_run__first_runs_second_hits(void **state)
{
	fx *f = *state;
	arca_pipeline_report *rep;
	counts c;

	rep = run(f, &c, NULL, NULL);
	assert_int_equal(rep->n_stages, 4);
	assert_int_equal(rep->n_ran, 4);
	assert_int_equal(rep->n_hit, 0);
	assert_int_equal(rep->failed, -1);
	assert_int_equal(c.start, 4);
	assert_int_equal(c.ran, 4);
	assert_int_equal(c.stored, 4);
	assert_int_equal(c.hit, 0);
	assert_int_equal(entry(rep, "extra")->result.outcome, ARCA_STAGE_STORED);
	/* In plan order. */
	assert_string_equal(rep->stages[0].stage->name, "prep");
	assert_string_equal(rep->stages[3].stage->name, "final");
	assert_file(f, "final.txt", "HELLO\nHELLO\nHELLO\n");
	arca_pipeline_report_free(rep);

	rep = run(f, &c, NULL, NULL);
	assert_int_equal(rep->n_hit, 4);
	assert_int_equal(rep->n_ran, 0);
	assert_int_equal(c.hit, 4);
	assert_int_equal(c.stored, 0);
	assert_int_equal(entry(rep, "final")->state, ARCA_PIPELINE_STATE_HIT);
	arca_pipeline_report_free(rep);
}

static void test_pipeline_run__optional_stage_degrades(void **state)
{
	fx *f = *state;
	arca_pipeline_report *rep;
	const arca_pipeline_stage_report *sr;
	arca_manifest *m = NULL;
	size_t i;
	int absent = 0;
	counts c;

	rep = run(f, &c, NULL, NULL);
	arca_pipeline_report_free(rep);
	assert_true(exists(f, "extra.txt"));

	/* A new word: every stage misses, extra fails. */
	touch(f, "fail-extra");
	rep = run(f, &c, "word", "bye");
	assert_int_equal(rep->n_degraded, 1);
	assert_int_equal(rep->n_ran, 3);
	assert_int_equal(rep->failed, -1);
	assert_int_equal(c.degraded, 1);
	sr = entry(rep, "extra");
	assert_int_equal(sr->state, ARCA_PIPELINE_STATE_DEGRADED);
	assert_int_equal(sr->code, 0);
	assert_int_equal(sr->result.outcome, ARCA_STAGE_FAILED);
	assert_int_not_equal(sr->result.exit_status, 0);
	/* The old extra.txt is gone: final ran without it. */
	assert_false(exists(f, "extra.txt"));
	assert_int_equal(entry(rep, "final")->state, ARCA_PIPELINE_STATE_RAN);
	assert_file(f, "final.txt", "BYE\n");
	/* The absent optional dep is in final's key, as a param. */
	assert_int_equal(arca_action_peek(&m, f->store,
			&entry(rep, "final")->result.key), 0);
	for (i = 0; i < m->n_params; i++)
		if (strcmp(m->params[i].name, ARCA_PIPELINE_ABSENT_PARAM
				"extra.txt") == 0 &&
		    strcmp(m->params[i].value, "1") == 0)
			absent = 1;
	assert_true(absent);
	arca_manifest_free(m);
	arca_pipeline_report_free(rep);

	/* Degraded again: final hits its "extra.txt absent" entry. */
	rep = run(f, &c, "word", "bye");
	assert_int_equal(entry(rep, "extra")->state,
			ARCA_PIPELINE_STATE_DEGRADED);
	assert_int_equal(entry(rep, "final")->state, ARCA_PIPELINE_STATE_HIT);
	arca_pipeline_report_free(rep);
}

static void test_pipeline_run__required_failure_stops_then_resumes(void **state)
{
	fx *f = *state;
	arca_pipeline_report *rep;
	counts c;

	touch(f, "fail-upper");
	rep = run(f, &c, NULL, NULL);
	assert_int_equal(rep->n_ran, 1);
	assert_int_equal(rep->n_failed, 1);
	assert_int_equal(rep->n_not_run, 2);
	assert_int_equal(c.failed, 1);
	assert_int_equal(c.skipped, 2);
	assert_int_equal(c.start, 2);
	assert_string_equal(rep->stages[rep->failed].stage->name, "upper");
	assert_int_equal(entry(rep, "final")->state,
			ARCA_PIPELINE_STATE_NOT_RUN);
	assert_false(exists(f, "final.txt"));
	arca_pipeline_report_free(rep);

	rm(f, "fail-upper");
	rep = run(f, &c, NULL, NULL);
	assert_int_equal(rep->failed, -1);
	assert_int_equal(entry(rep, "prep")->state, ARCA_PIPELINE_STATE_HIT);
	assert_int_equal(entry(rep, "upper")->state, ARCA_PIPELINE_STATE_RAN);
	assert_int_equal(rep->n_hit, 1);
	assert_int_equal(rep->n_ran, 3);
	assert_file(f, "final.txt", "HELLO\nHELLO\nHELLO\n");
	arca_pipeline_report_free(rep);
}

static void test_pipeline_run__command_not_found_is_a_stage_error(void **state)
{
	fx *f = *state;
	arca_pipeline *p = NULL;
	arca_pipeline_run_options opts = ARCA_PIPELINE_RUN_OPTIONS_INIT;
	arca_pipeline_report *rep = NULL;
	static const char yaml[] =
		"stages:\n"
		"  a:\n"
		"    cmd: [arca-no-such-command-here]\n"
		"    outs: [a.txt]\n";
	char *file = fixture_path("%s/missing.yaml", f->work);
	counts c;

	memset(&c, 0, sizeof(c));
	fixture_write_file(file, yaml, strlen(yaml));
	assert_int_equal(arca_pipeline_load(&p, file), 0);
	opts.event = count_event;
	opts.event_ctx = &c;
	assert_int_equal(arca_pipeline_run(&rep, f->store, p, &opts), 0);
	assert_int_equal(rep->n_failed, 1);
	assert_int_equal(c.errors, 1);
	assert_int_equal(rep->stages[0].code, ARCA_ENOTFOUND);
	assert_int_equal(rep->stages[0].failure, ARCA_STAGE_FAILURE_NOT_FOUND);
	assert_non_null(strstr(rep->stages[0].message, "arca-no-such-command"));
	arca_pipeline_report_free(rep);
	arca_pipeline_free(p);
	free(file);
}

static void test_pipeline_run__status_after_fresh_checkout(void **state)
{
	fx *f = *state;
	arca_pipeline_run_options opts = ARCA_PIPELINE_RUN_OPTIONS_INIT;
	arca_pipeline_report *rep = NULL;
	const char *names[] = { "word" }, *values[] = { "bye" };
	const arca_pipeline_stage_report *sr;
	size_t i;
	counts c;

	rep = run(f, &c, NULL, NULL);
	arca_pipeline_report_free(rep);
	rep = NULL;
	/* A fresh checkout: no outputs, a warm cache. */
	rm(f, "prep.txt");
	rm(f, "upper.txt");
	rm(f, "extra.txt");
	rm(f, "final.txt");
	memset(&c, 0, sizeof(c));
	opts.event = count_event;
	opts.event_ctx = &c;
	assert_int_equal(arca_pipeline_status(&rep, f->store, f->p, &opts), 0);
	assert_int_equal(rep->n_stages, 4);
	assert_int_equal(c.predicted, 4);
	for (i = 0; i < rep->n_stages; i++) {
		if (rep->stages[i].state != ARCA_PIPELINE_STATE_UP_TO_DATE)
			fail_msg("%s: state %d, reason %s",
					rep->stages[i].stage->name,
					(int)rep->stages[i].state,
					rep->stages[i].n_reasons ?
					rep->stages[i].reasons[0] : "none");
		assert_true(rep->stages[i].cached);
	}
	assert_int_equal(rep->n_would_run, 0);
	/* Nothing was run or restored. */
	assert_false(exists(f, "prep.txt"));
	assert_cwd_unchanged(f);
	arca_pipeline_report_free(rep);
	rep = NULL;

	/* Another word: prep would run because of it, the rest after it. */
	opts.param_names = names;
	opts.param_values = values;
	opts.n_params = 1;
	assert_int_equal(arca_pipeline_status(&rep, f->store, f->p, &opts), 0);
	sr = entry(rep, "prep");
	assert_int_equal(sr->state, ARCA_PIPELINE_STATE_WOULD_RUN);
	assert_int_equal(sr->n_reasons, 1);
	assert_string_equal(sr->reasons[0],
			"param 'word' changed (hello -> bye)");
	sr = entry(rep, "upper");
	assert_int_equal(sr->state, ARCA_PIPELINE_STATE_WOULD_RUN);
	assert_non_null(strstr(sr->reasons[0], "a dependency would run first: "
			"prep"));
	assert_int_equal(rep->n_would_run, 4);
	arca_pipeline_report_free(rep);
}

static void test_pipeline_run__unknown_param(void **state)
{
	fx *f = *state;
	arca_pipeline_run_options opts = ARCA_PIPELINE_RUN_OPTIONS_INIT;
	arca_pipeline_report *rep = NULL;
	const char *names[] = { "word", "lang" }, *values[] = { "hi", "fr" };

	opts.param_names = names;
	opts.param_values = values;
	opts.n_params = 2;
	opts.stdout_fd = -1;
	opts.stderr_fd = -1;
	assert_int_equal(arca_pipeline_run(&rep, f->store, f->p, &opts),
			ARCA_ENOTFOUND);
	assert_null(rep);
	assert_string_equal(arca_errmsg(),
			"no stage uses param 'lang' (known: word)");
	assert_false(exists(f, "prep.txt"));
	assert_int_equal(arca_pipeline_check(f->p, &opts), ARCA_ENOTFOUND);
	assert_int_equal(arca_pipeline_param_check(f->p, "lang"),
			ARCA_ENOTFOUND);
	assert_int_equal(arca_pipeline_param_check(f->p, "word"), 0);
	/* A default alone does not make a name known. */
	opts.n_params = 1;
	assert_int_equal(arca_pipeline_check(f->p, &opts), 0);
	/* A bad version is refused at entry. */
	opts.version = 99;
	assert_int_equal(arca_pipeline_check(f->p, &opts), ARCA_EINVAL);
}

static void test_pipeline_run__unknown_target(void **state)
{
	fx *f = *state;
	arca_pipeline_run_options opts = ARCA_PIPELINE_RUN_OPTIONS_INIT;
	const char *targets[] = { "upper" }, *bad[] = { "nope" };
	arca_pipeline_report *rep = NULL;
	counts c;

	opts.targets = bad;
	opts.n_targets = 1;
	assert_int_equal(arca_pipeline_check(f->p, &opts), ARCA_ENOTFOUND);
	assert_non_null(strstr(arca_errmsg(), "no stage 'nope'"));
	/* A target runs with what it needs, and nothing after it. */
	memset(&c, 0, sizeof(c));
	opts.targets = targets;
	opts.event = count_event;
	opts.event_ctx = &c;
	opts.stdout_fd = -1;
	assert_int_equal(arca_pipeline_run(&rep, f->store, f->p, &opts), 0);
	assert_int_equal(rep->n_stages, 2);
	assert_int_equal(rep->n_ran, 2);
	assert_false(exists(f, "final.txt"));
	arca_pipeline_report_free(rep);
}

/*
 * curl's torture mode, as in test_pipeline.c: from the Nth allocation on,
 * every allocation fails, for N = 0, 1, ... until the call succeeds.
 * arca_pipeline_check() must say "out of memory" and free everything;
 * arca_pipeline_status() (through the store, whose SQLite keeps caches
 * of its own, so nothing is counted) must fail cleanly and leave the
 * store usable. glibc only, not under AddressSanitizer.
 */
#ifdef ALLOC_TORTURE
static void test_pipeline_run__out_of_memory(void **state)
{
	fx *f = *state;
	arca_pipeline_run_options opts = ARCA_PIPELINE_RUN_OPTIONS_INIT;
	arca_pipeline_report *rep = NULL;
	const char *names[] = { "word" }, *values[] = { "bye" };
	long n;
	int rc;
	counts c;

	opts.param_names = names;
	opts.param_values = values;
	opts.n_params = 1;
	for (n = 0; ; n++) {
		alloc_torture_arm(n);
		rc = arca_pipeline_check(f->p, &opts);
		alloc_torture_disarm();
		assert_int_equal(alloc_torture_live(), 0);
		if (!alloc_torture_hit()) {
			assert_int_equal(rc, 0);
			break;
		}
		assert_int_equal(rc, ARCA_ENOMEM);
		assert_non_null(strstr(arca_errmsg(), "out of memory"));
	}
	print_message("check: %ld allocations\n", n);

	rep = run(f, &c, NULL, NULL);
	arca_pipeline_report_free(rep);
	rep = NULL;
	for (n = 0; ; n++) {
		alloc_torture_arm(n);
		rc = arca_pipeline_status(&rep, f->store, f->p, &opts);
		alloc_torture_disarm();
		if (!alloc_torture_hit()) {
			assert_int_equal(rc, 0);
			break;
		}
		if (rc < 0)
			assert_null(rep);
		arca_pipeline_report_free(rep);
		rep = NULL;
	}
	print_message("status: %ld allocations\n", n);
	assert_int_equal(entry(rep, "prep")->state,
			ARCA_PIPELINE_STATE_WOULD_RUN);
	arca_pipeline_report_free(rep);
}
#endif

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pipeline_run__first_runs_second_hits),
		T(test_pipeline_run__optional_stage_degrades),
		T(test_pipeline_run__required_failure_stops_then_resumes),
		T(test_pipeline_run__command_not_found_is_a_stage_error),
		T(test_pipeline_run__status_after_fresh_checkout),
		T(test_pipeline_run__unknown_param),
		T(test_pipeline_run__unknown_target),
#ifdef ALLOC_TORTURE
		T(test_pipeline_run__out_of_memory),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
