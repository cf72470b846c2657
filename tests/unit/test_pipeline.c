/*
 * Pipeline files (arca_pipeline_*, docs/pipeline.md): the parser's
 * fields and refusals with their FILE:LINE, the plan (order, cycles,
 * duplicate outputs, unknown dependencies), ${name} substitution, and
 * allocation failures.
 */
#include "fixture.h"
#include "alloc_torture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arca/arca.h"

/* The size of the caller's message buffer before arca_errmsg(). */
#define ERRLEN 512

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

static arca_pipeline *parse_named(const char *name, const char *yaml)
{
	arca_pipeline *p = NULL;

	if (arca_pipeline_parse(&p, name, yaml, strlen(yaml)) < 0)
		fail_msg("unexpected parse error: %s\n--- input ---\n%s",
				arca_errmsg(), yaml);
	assert_non_null(p);
	return p;
}

static arca_pipeline *parse_ok(const char *yaml)
{
	return parse_named("t.yaml", yaml);
}

static void assert_one_line_with(const char *err, const char *prefix,
		const char *phrase, const char *yaml)
{
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("error '%s' does not start with '%s'\n--- input ---\n%s",
				err, prefix, yaml ? yaml : "");
	if (strstr(err, phrase) == NULL)
		fail_msg("error '%s' does not say '%s'\n--- input ---\n%s", err,
				phrase, yaml ? yaml : "");
	if (strchr(err, '\n') != NULL)
		fail_msg("error '%s' is not one line", err);
}

/* Parsing len bytes fails with an error starting with prefix ("t.yaml:4: ")
 * and containing phrase. */
static void parse_fails_len(const char *yaml, size_t len, const char *prefix,
		const char *phrase)
{
	arca_pipeline *p = (arca_pipeline *)&p; /* must be set to NULL */

	assert_int_equal(arca_pipeline_parse(&p, "t.yaml", yaml, len),
			ARCA_EINVAL);
	assert_null(p);
	assert_one_line_with(arca_errmsg(), prefix, phrase, yaml);
}

static void parse_fails(const char *yaml, const char *prefix,
		const char *phrase)
{
	parse_fails_len(yaml, strlen(yaml), prefix, phrase);
}

/* Parse (must succeed), then plan: must fail with prefix and phrase. */
static void plan_fails(const char *name, const char *yaml,
		const char *prefix, const char *phrase)
{
	arca_pipeline *p = parse_named(name, yaml);
	size_t *order = (size_t *)&order;

	assert_int_equal(arca_pipeline_plan(&order, p), ARCA_EINVAL);
	assert_null(order);
	assert_one_line_with(arca_errmsg(), prefix, phrase, yaml);
	arca_pipeline_free(p);
}

/* Plan must succeed; returns the stage names in order, space-separated. */
static char *plan_names(const arca_pipeline *p)
{
	size_t *order = NULL, i, len = 0;
	char *out = calloc(1, 4096);

	assert_non_null(out);
	if (arca_pipeline_plan(&order, p) < 0)
		fail_msg("unexpected plan error: %s", arca_errmsg());
	for (i = 0; i < p->n_stages; i++) {
		len += (size_t)snprintf(out + len, 4096 - len, "%s%s",
				i ? " " : "", p->stages[order[i]].name);
		assert_true(len < 4096);
	}
	free(order);
	return out;
}

static const char *one_stage_with(char *buf, size_t size, const char *lines)
{
	snprintf(buf, size, "stages:\n  s:\n    cmd: run\n%s", lines);
	return buf;
}

/* One stage `s` (line 2, cmd on line 3) plus lines starting at line 4. */
static void stage_fails(const char *lines, const char *prefix,
		const char *phrase)
{
	char buf[2048];

	parse_fails(one_stage_with(buf, sizeof(buf), lines), prefix, phrase);
}

static arca_pipeline *stage_ok(const char *lines)
{
	char buf[2048];

	return parse_ok(one_stage_with(buf, sizeof(buf), lines));
}

/* ------------------------------------------------------------------ */
/* A full, valid pipeline                                               */
/* ------------------------------------------------------------------ */

static const char full_yaml[] =
	"# The transcription pipeline\n"                               /* 1 */
	"params:\n"                                                    /* 2 */
	"  lang: en-us\n"                                              /* 3 */
	"  rate: 16000\n"                                              /* 4 */
	"  speakers: \"\"\n"                                           /* 5 */
	"stages:\n"                                                    /* 6 */
	"  transcode:\n"                                               /* 7 */
	"    cmd: ffmpeg -nostdin -y -i recording.flac -ac 1 -ar ${rate} audio.wav\n" /* 8 */
	"    deps:\n"                                                  /* 9 */
	"      - url: http://127.0.0.1:8000/recording.flac\n"          /* 10 */
	"        path: recording.flac\n"                               /* 11 */
	"        max_age: 1h\n"                                        /* 12 */
	"      - url: https://example.org/a/b/noise.wav?x=1#frag\n"    /* 13 */
	"        time_bucket: 15m\n"                                   /* 14 */
	"      - some/file.txt\n"                                      /* 15 */
	"      - path: diarization.json\n"                             /* 16 */
	"        optional: true\n"                                     /* 17 */
	"    outs: [audio.wav]\n"                                      /* 18 */
	"    params: [rate]\n"                                         /* 19 */
	"    env: [LANG, LC_ALL]\n"                                    /* 20 */
	"    tool_version: \"ffmpeg 5.1\"\n"                           /* 21 */
	"    optional: true\n"                                         /* 22 */
	"    cache: false\n"                                           /* 23 */
	"    ttl: 7d\n"                                                /* 24 */
	"  transcribe:\n"                                              /* 25 */
	"    cmd:\n"                                                   /* 26 */
	"      - ps-transcribe\n"                                      /* 27 */
	"      - \"--lang=${lang}\"\n"                                 /* 28 */
	"      - audio.wav\n"                                          /* 29 */
	"      - words.txt\n"                                          /* 30 */
	"    deps: [audio.wav]\n"                                      /* 31 */
	"    outs:\n"                                                  /* 32 */
	"      - words.txt\n"                                          /* 33 */
	"      - ./logs//ps.log\n"                                     /* 34 */
	"    params:\n"                                                /* 35 */
	"      - lang\n"                                               /* 36 */
	"    ttl: 90\n";                                               /* 37 */

static void test_pipeline__full(void **state)
{
	arca_pipeline *p;
	const arca_pipeline_stage *st;
	const arca_pipeline_dep *d;

	(void)state;
	p = parse_named("dir/sub/arca.yaml", full_yaml);
	assert_string_equal(p->path, "dir/sub/arca.yaml");
	assert_string_equal(p->dir, "dir/sub");

	assert_int_equal(p->n_param_values, 3);
	assert_string_equal(p->param_names[0], "lang");
	assert_string_equal(p->param_values[0], "en-us");
	assert_string_equal(p->param_names[1], "rate");
	assert_string_equal(p->param_values[1], "16000");
	assert_string_equal(p->param_names[2], "speakers");
	assert_string_equal(p->param_values[2], "");

	assert_int_equal(p->n_stages, 2);
	st = &p->stages[0];
	assert_string_equal(st->name, "transcode");
	assert_int_equal(st->line, 7);
	assert_string_equal(st->cmd,
			"ffmpeg -nostdin -y -i recording.flac -ac 1 -ar ${rate} audio.wav");
	assert_null(st->cmd_argv);
	assert_int_equal(st->cmd_argc, 0);
	assert_int_equal(st->cmd_line, 8);

	assert_int_equal(st->n_deps, 4);
	d = &st->deps[0];
	assert_string_equal(d->url, "http://127.0.0.1:8000/recording.flac");
	assert_string_equal(d->path, "recording.flac");
	assert_int_equal(d->max_age_s, 3600);
	assert_int_equal(d->time_bucket_s, 0);
	assert_int_equal(d->optional, 0);
	assert_int_equal(d->line, 10);
	d = &st->deps[1];
	assert_string_equal(d->url, "https://example.org/a/b/noise.wav?x=1#frag");
	assert_string_equal(d->path, "noise.wav");
	assert_int_equal(d->max_age_s, -1);
	assert_int_equal(d->time_bucket_s, 900);
	assert_int_equal(d->line, 13);
	d = &st->deps[2];
	assert_null(d->url);
	assert_string_equal(d->path, "some/file.txt");
	assert_int_equal(d->max_age_s, -1);
	assert_int_equal(d->time_bucket_s, 0);
	assert_int_equal(d->optional, 0);
	assert_int_equal(d->line, 15);
	d = &st->deps[3];
	assert_null(d->url);
	assert_string_equal(d->path, "diarization.json");
	assert_int_equal(d->optional, 1);
	assert_int_equal(d->line, 16);

	assert_int_equal(st->n_outs, 1);
	assert_string_equal(st->outs[0].path, "audio.wav");
	assert_int_equal(st->outs[0].line, 18);
	assert_int_equal(st->n_params, 1);
	assert_string_equal(st->params[0], "rate");
	assert_int_equal(st->param_lines[0], 19);
	assert_int_equal(st->n_env, 2);
	assert_string_equal(st->env[0], "LANG");
	assert_string_equal(st->env[1], "LC_ALL");
	assert_string_equal(st->tool_version, "ffmpeg 5.1");
	assert_int_equal(st->optional, 1);
	assert_int_equal(st->cache, 0);
	assert_int_equal(st->ttl_s, 7 * 86400);

	st = &p->stages[1];
	assert_string_equal(st->name, "transcribe");
	assert_int_equal(st->line, 25);
	assert_null(st->cmd);
	assert_int_equal(st->cmd_argc, 4);
	assert_int_equal(st->cmd_line, 27);
	assert_string_equal(st->cmd_argv[0], "ps-transcribe");
	assert_string_equal(st->cmd_argv[1], "--lang=${lang}");
	assert_string_equal(st->cmd_argv[2], "audio.wav");
	assert_string_equal(st->cmd_argv[3], "words.txt");
	assert_null(st->cmd_argv[4]);
	assert_int_equal(st->n_deps, 1);
	assert_string_equal(st->deps[0].path, "audio.wav");
	assert_int_equal(st->deps[0].line, 31);
	assert_int_equal(st->n_outs, 2);
	assert_string_equal(st->outs[0].path, "words.txt");
	assert_int_equal(st->outs[0].line, 33);
	assert_string_equal(st->outs[1].path, "logs/ps.log");
	assert_int_equal(st->outs[1].line, 34);
	assert_int_equal(st->n_params, 1);
	assert_string_equal(st->params[0], "lang");
	assert_int_equal(st->param_lines[0], 36);
	assert_int_equal(st->n_env, 0);
	assert_null(st->tool_version);
	assert_int_equal(st->optional, 0);
	assert_int_equal(st->cache, 1);
	assert_int_equal(st->ttl_s, 90);

	assert_ptr_equal(arca_pipeline_stage_by_name(p, "transcribe"), &p->stages[1]);
	assert_null(arca_pipeline_stage_by_name(p, "format"));
	assert_ptr_equal(arca_pipeline_producer(p, "logs/ps.log"), &p->stages[1]);
	assert_ptr_equal(arca_pipeline_producer(p, "audio.wav"), &p->stages[0]);
	assert_null(arca_pipeline_producer(p, "recording.flac"));
	arca_pipeline_free(p);
}

static void test_pipeline__defaults(void **state)
{
	arca_pipeline *p;
	const arca_pipeline_stage *st;

	(void)state;
	p = parse_ok("stages:\n  only:\n    cmd: \"true\"\n");
	assert_string_equal(p->path, "t.yaml");
	assert_string_equal(p->dir, ".");
	assert_int_equal(p->n_param_values, 0);
	assert_int_equal(p->n_stages, 1);
	st = &p->stages[0];
	assert_string_equal(st->cmd, "true");
	assert_int_equal(st->n_deps, 0);
	assert_int_equal(st->n_outs, 0);
	assert_int_equal(st->n_params, 0);
	assert_int_equal(st->n_env, 0);
	assert_null(st->tool_version);
	assert_int_equal(st->optional, 0);
	assert_int_equal(st->cache, 1);
	assert_int_equal(st->ttl_s, -1);
	arca_pipeline_free(p);

	/* Flow style, empty lists, every stage-name character. */
	p = parse_ok("{stages: {A.z_0-9: {cmd: [x], deps: [], outs: [],"
			" params: [], env: []}}}");
	assert_string_equal(p->stages[0].name, "A.z_0-9");
	assert_int_equal(p->stages[0].cmd_argc, 1);
	arca_pipeline_free(p);

	/* A block scalar command keeps its newlines. */
	p = parse_ok("stages:\n  s:\n    cmd: |\n      a\n      b\n");
	assert_string_equal(p->stages[0].cmd, "a\nb\n");
	arca_pipeline_free(p);

	arca_pipeline_free(NULL);
}

static void test_pipeline__dir_of_name(void **state)
{
	static const char *const cases[][2] = {
		{ "arca.yaml", "." },
		{ "./arca.yaml", "." },
		{ "a/b/arca.yaml", "a/b" },
		{ "a//arca.yaml", "a" },
		{ "/arca.yaml", "/" },
		{ "/srv/p/arca.yaml", "/srv/p" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		arca_pipeline *p = parse_named(cases[i][0],
				"stages: {s: {cmd: x}}");

		assert_string_equal(p->path, cases[i][0]);
		assert_string_equal(p->dir, cases[i][1]);
		arca_pipeline_free(p);
	}
}

/* ------------------------------------------------------------------ */
/* Refusals: the document                                               */
/* ------------------------------------------------------------------ */

static void test_pipeline__empty_and_no_stages(void **state)
{
	(void)state;
	parse_fails("", "t.yaml:1: ", "no 'stages' mapping");
	parse_fails("# only a comment\n\n", "t.yaml:1: ", "no 'stages' mapping");
	parse_fails("---\n...\n", "t.yaml:1: ", "no 'stages' mapping");
	parse_fails("params: {a: b}\n", "t.yaml:1: ", "no 'stages' mapping");
	parse_fails("stages:\n", "t.yaml:1: ", "'stages' must be a mapping");
	parse_fails("stages: [a, b]\n", "t.yaml:1: ", "'stages' must be a mapping");
	parse_fails("stages: {}\n", "t.yaml:1: ", "'stages' has no stages");
	parse_fails("- a\n- b\n", "t.yaml:1: ", "must be a mapping with 'stages'");
	parse_fails("just words\n", "t.yaml:1: ", "must be a mapping with 'stages'");
	parse_fails("\n\nstages:\n  s: x\n", "t.yaml:4: ",
			"stage 's' must be a mapping");
	{
		arca_pipeline *p = (arca_pipeline *)&p;

		assert_int_equal(arca_pipeline_parse(&p, NULL, NULL, 0),
				ARCA_EINVAL);
		assert_null(p);
		assert_string_equal(arca_errmsg(),
				"(pipeline):1: empty pipeline file: no 'stages' mapping");
	}
}

static void test_pipeline__malformed_yaml(void **state)
{
	(void)state;
	/* Bad indentation: libyaml's words, its line and column. */
	parse_fails("stages:\n  a:\n    cmd: x\n   outs: [x]\n", "t.yaml:4: ",
			"malformed YAML: did not find expected key at column 4");
	parse_fails("stages:\n  a:\n    cmd: [x, y\n", "t.yaml:4: ",
			"malformed YAML: did not find expected ',' or ']'");
	parse_fails("stages: {a: {cmd: \"x}}\n", "t.yaml:2: ",
			"malformed YAML: found unexpected end of stream");
	parse_fails("stages:\n\tcmd: x\n", "t.yaml:2: ", "malformed YAML: found character that cannot start any token");
	parse_fails("a: b: c\n", "t.yaml:1: ",
			"malformed YAML: mapping values are not allowed in this context at column 5");
	/* Invalid UTF-8 and control characters: the reader's byte offset. */
	parse_fails("stages:\n  a:\n    cmd: \xff\n", "t.yaml:3: ",
			"malformed YAML: invalid leading UTF-8 octet");
	parse_fails("stages:\n  a:\n    cmd: \x01\n", "t.yaml:3: ",
			"malformed YAML: control characters are not allowed");
	parse_fails_len("stages:\n\0", 9, "t.yaml:2: ", "malformed YAML");
	/* A string with NUL through an escape. */
	parse_fails("stages:\n  a:\n    cmd: \"a\\0b\"\n", "t.yaml:3: ",
			"NUL character");
	parse_fails("stages: {s: {cmd: x}}\n---\nstages: {s: {cmd: x}}\n",
			"t.yaml:2: ", "more than one YAML document");
}

static void test_pipeline__anchors_tags_nesting(void **state)
{
	char deep[200];
	size_t i;

	(void)state;
	parse_fails("stages:\n  a: &base\n    cmd: x\n  b: *base\n", "t.yaml:2: ",
			"anchors and aliases are not supported (anchor '&base')");
	parse_fails("x: 1\nstages:\n  b: *base\n", "t.yaml:3: ",
			"anchors and aliases are not supported (alias '*base')");
	parse_fails("stages:\n  a:\n    cmd: !!str x\n", "t.yaml:3: ",
			"YAML tags are not supported");
	parse_fails("stages: !custom\n  a: {cmd: x}\n", "t.yaml:1: ",
			"YAML tags are not supported (tag '!custom')");
	for (i = 0; i < 100; i++)
		deep[i] = '[';
	deep[i] = '\0';
	parse_fails(deep, "t.yaml:1: ", "nested more than 32 deep");
}

static void test_pipeline__too_large(void **state)
{
	size_t len = (size_t)16 * 1024 * 1024 + 1;
	char *big = malloc(len);
	arca_pipeline *p = NULL;

	(void)state;
	assert_non_null(big);
	memset(big, '#', len);
	assert_int_equal(arca_pipeline_parse(&p, "big.yaml", big, len),
			ARCA_EINVAL);
	assert_null(p);
	assert_one_line_with(arca_errmsg(), "big.yaml: ", "too large", NULL);
	free(big);
}

static void test_pipeline__unknown_and_duplicate_keys(void **state)
{
	(void)state;
	parse_fails("stages: {s: {cmd: x}}\nvars: {}\n", "t.yaml:2: ",
			"unknown key 'vars' at top level");
	stage_fails("    foo: 1\n", "t.yaml:4: ", "unknown key 'foo' in stage 's'");
	stage_fails("    deps:\n      - path: a\n        foo: 1\n", "t.yaml:6: ",
			"unknown key 'foo' in a dependency of stage 's'");
	stage_fails("    Cmd: y\n", "t.yaml:4: ", "unknown key 'Cmd' in stage 's'");

	parse_fails("stages: {s: {cmd: x}}\nstages: {t: {cmd: y}}\n",
			"t.yaml:2: ", "duplicate key 'stages' at top level (first at line 1)");
	stage_fails("    cmd: y\n", "t.yaml:4: ",
			"duplicate key 'cmd' in stage 's' (first at line 3)");
	stage_fails("    deps:\n      - {path: a,\n         path: b}\n", "t.yaml:6: ",
			"duplicate key 'path' in a dependency of stage 's' (first at line 5)");
	parse_fails("params:\n  a: 1\n  a: 2\nstages: {s: {cmd: x}}\n",
			"t.yaml:3: ", "duplicate key 'a' in 'params' (first at line 2)");
	parse_fails("stages:\n  s:\n    cmd: x\n  t:\n    cmd: y\n  s:\n    cmd: z\n",
			"t.yaml:6: ", "duplicate stage name 's' (first at line 2)");
	/* Keys that are not strings. */
	parse_fails("stages:\n  ? [a]\n  : {cmd: x}\n", "t.yaml:2: ",
			"a stage name must be a string, not a list");
	stage_fails("    ? {a: b}\n    : 1\n", "t.yaml:4: ",
			"a key in stage 's' must be a string, not a mapping");
}

static void test_pipeline__stage_names(void **state)
{
	(void)state;
	parse_fails("stages:\n  \"a b\": {cmd: x}\n", "t.yaml:2: ",
			"stage name 'a b' has characters outside [A-Za-z0-9_.-]");
	parse_fails("stages:\n  s/t: {cmd: x}\n", "t.yaml:2: ",
			"stage name 's/t' has characters");
	parse_fails("stages:\n  \"\": {cmd: x}\n", "t.yaml:2: ",
			"stage name '' has characters");
	parse_fails("stages:\n  ~: {cmd: x}\n", "t.yaml:2: ",
			"stage name '~' has characters");
	parse_fails("stages:\n  \"caf\xc3\xa9\": {cmd: x}\n", "t.yaml:2: ",
			"stage name 'caf\xc3\xa9' has characters");
	/* A newline in a name (escaped) must not break the one-line error. */
	parse_fails("stages:\n  \"a\\nb\": {cmd: x}\n", "t.yaml:2: ",
			"stage name 'a?b'");
}

static void test_pipeline__long_names_are_cut(void **state)
{
	char yaml[1024], name[301];
	arca_pipeline *p = NULL;

	(void)state;
	memset(name, 'x', 300);
	name[300] = '\0';
	snprintf(yaml, sizeof(yaml), "stages:\n  s:\n    cmd: x\n    %s: 1\n",
			name);
	assert_int_equal(arca_pipeline_parse(&p, "t.yaml", yaml, strlen(yaml)),
			ARCA_EINVAL);
	assert_one_line_with(arca_errmsg(), "t.yaml:4: ", "xxx...' in stage 's'",
			yaml);
	assert_true(strlen(arca_errmsg()) < 200);

	/*
	 * The message starts with FILE:LINE and the key (the library's
	 * message buffer replaced the caller's; a message longer than it is
	 * cut, as test_pipeline__large shows), and a second failure sets the
	 * same message afresh.
	 */
	assert_int_equal(strncmp(arca_errmsg(), "t.yaml:4: u", 11), 0);
	assert_int_equal(arca_pipeline_parse(&p, "t.yaml", yaml, strlen(yaml)),
			ARCA_EINVAL);
	assert_int_equal(strncmp(arca_errmsg(), "t.yaml:4: u", 11), 0);
	assert_null(p);
}

/* ------------------------------------------------------------------ */
/* Refusals: stage fields                                               */
/* ------------------------------------------------------------------ */

static void test_pipeline__cmd(void **state)
{
	(void)state;
	parse_fails("stages:\n  s:\n    outs: [a]\n", "t.yaml:2: ",
			"stage 's' has no 'cmd'");
	parse_fails("stages:\n  s:\n    cmd: \"\"\n", "t.yaml:3: ",
			"empty 'cmd' in stage 's'");
	parse_fails("stages:\n  s:\n    cmd: \"  \\t \"\n", "t.yaml:3: ",
			"empty 'cmd' in stage 's'");
	parse_fails("stages:\n  s:\n    cmd:\n", "t.yaml:3: ",
			"empty 'cmd' in stage 's'");
	parse_fails("stages:\n  s:\n    cmd: []\n", "t.yaml:3: ",
			"empty 'cmd' in stage 's'");
	parse_fails("stages:\n  s:\n    cmd: [\"\", a]\n", "t.yaml:3: ",
			"empty program name in 'cmd' of stage 's'");
	parse_fails("stages:\n  s:\n    cmd:\n      - a\n      - [b]\n",
			"t.yaml:5: ", "'cmd' list of stage 's' must hold only strings, not a list");
	parse_fails("stages:\n  s:\n    cmd:\n      - a\n      - {b: c}\n",
			"t.yaml:5: ", "'cmd' list of stage 's' must hold only strings, not a mapping");
	parse_fails("stages:\n  s:\n    cmd: [a, ~]\n", "t.yaml:3: ",
			"each item of 'cmd' of stage 's' must be a string, not empty");
	parse_fails("stages:\n  s:\n    cmd: {a: b}\n", "t.yaml:3: ",
			"'cmd' of stage 's' must be a string (run by /bin/sh -c) or a list of strings");
}

static void test_pipeline__param_references(void **state)
{
	arca_pipeline *p;

	(void)state;
	parse_fails("stages:\n  s:\n    cmd: echo ${lang}\n", "t.yaml:3: ",
			"'cmd' of stage 's' uses ${lang}, which is not in its 'params'");
	parse_fails("stages:\n  s:\n    params: [a]\n    cmd: [echo, ok, \"${a}${b}\"]\n",
			"t.yaml:4: ", "uses ${b}, which is not in its 'params'");
	parse_fails("stages:\n  s:\n    cmd:\n      - echo\n      - \"${oops\"\n",
			"t.yaml:5: ", "unterminated '${' in 'cmd' of stage 's'");
	parse_fails("stages:\n  s:\n    cmd: echo ${a b}\n    params: [a]\n",
			"t.yaml:3: ", "bad parameter reference '${a b}'");
	parse_fails("stages:\n  s:\n    cmd: echo ${}\n", "t.yaml:3: ",
			"bad parameter reference '${}'");
	/* $${ is a literal ${; a lone $ is itself. */
	p = parse_ok("stages:\n  s:\n    cmd: echo $${HOME} $$ $x ${a} $\n"
			"    params: [a]\n");
	assert_string_equal(p->stages[0].cmd, "echo $${HOME} $$ $x ${a} $");
	arca_pipeline_free(p);
}

static void test_pipeline__lists(void **state)
{
	(void)state;
	stage_fails("    outs: audio.wav\n", "t.yaml:4: ",
			"'outs' of stage 's' must be a list of strings, not a string");
	stage_fails("    outs: [a, [b]]\n", "t.yaml:4: ",
			"'outs' of stage 's' must be a list of strings; item 2 is a list");
	stage_fails("    outs:\n      - a\n      - {b: 1}\n", "t.yaml:6: ",
			"'outs' of stage 's' must be a list of strings; item 2 is a mapping");
	stage_fails("    outs:\n      -\n", "t.yaml:5: ",
			"'outs' of stage 's' must be a list of strings; item 1 is empty");
	stage_fails("    outs: [a, ./a]\n", "t.yaml:4: ",
			"duplicate output 'a' in stage 's' (first at line 4)");
	stage_fails("    params: lang\n", "t.yaml:4: ",
			"'params' of stage 's' must be a list of strings");
	stage_fails("    params: [\"a b\"]\n", "t.yaml:4: ",
			"bad parameter name 'a b' in 'params' of stage 's'");
	stage_fails("    params: [a, b, a]\n", "t.yaml:4: ",
			"duplicate name 'a' in 'params' of stage 's'");
	stage_fails("    env: {LANG: C}\n", "t.yaml:4: ",
			"'env' of stage 's' must be a list of strings, not a mapping");
	stage_fails("    env: [1LANG]\n", "t.yaml:4: ",
			"bad environment variable name '1LANG' in 'env' of stage 's'");
	stage_fails("    env: [A-B]\n", "t.yaml:4: ",
			"bad environment variable name 'A-B'");
	stage_fails("    env:\n      - LANG\n      - LANG\n", "t.yaml:6: ",
			"duplicate name 'LANG' in 'env' of stage 's' (first at line 5)");
	stage_fails("    deps: a.txt\n", "t.yaml:4: ",
			"'deps' of stage 's' must be a list, not a string");
	stage_fails("    deps: [[a]]\n", "t.yaml:4: ",
			"a dependency of stage 's' must be a path or a mapping");
	stage_fails("    deps: [a, ./a]\n", "t.yaml:4: ",
			"duplicate dependency 'a' in stage 's'");
	stage_fails("    tool_version: [a]\n", "t.yaml:4: ",
			"'tool_version' of stage 's' must be a string, not a list");
	stage_fails("    tool_version: \"\"\n", "t.yaml:4: ",
			"'tool_version' of stage 's' is empty");
}

static void test_pipeline__booleans(void **state)
{
	static const char *const bad[] = {
		"yes", "no", "on", "off", "True", "FALSE", "1", "0", "y",
		"\"true\"", "'false'",
	};
	char lines[128];
	arca_pipeline *p;
	size_t i;

	(void)state;
	p = stage_ok("    optional: true\n    cache: false\n");
	assert_int_equal(p->stages[0].optional, 1);
	assert_int_equal(p->stages[0].cache, 0);
	arca_pipeline_free(p);
	p = stage_ok("    optional: false\n    cache: true\n");
	assert_int_equal(p->stages[0].optional, 0);
	assert_int_equal(p->stages[0].cache, 1);
	arca_pipeline_free(p);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(lines, sizeof(lines), "    optional: %s\n", bad[i]);
		stage_fails(lines, "t.yaml:4: ",
				"'optional' of stage 's' must be true or false");
		snprintf(lines, sizeof(lines), "\n    cache: %s\n", bad[i]);
		stage_fails(lines, "t.yaml:5: ",
				"'cache' of stage 's' must be true or false");
	}
	stage_fails("    optional: yes\n", "t.yaml:4: ",
			"YAML 1.1's yes/no/on/off are not accepted");
	stage_fails("    cache: [true]\n", "t.yaml:4: ",
			"'cache' of stage 's' must be true or false, not a list");
	stage_fails("    cache:\n", "t.yaml:4: ",
			"'cache' of stage 's' must be true or false, not ''");
	stage_fails("    deps:\n      - path: a\n        optional: yes\n",
			"t.yaml:6: ",
			"'optional' of a dependency of stage 's' must be true or false");
}

static void test_pipeline__durations(void **state)
{
	static const struct {
		const char *text;
		int64_t seconds;
	} good[] = {
		{ "0", 0 }, { "90", 90 }, { "90s", 90 }, { "15m", 900 },
		{ "1h", 3600 }, { "7d", 604800 }, { "\"2h\"", 7200 },
		{ "'30s'", 30 }, { "007", 7 }, { "1w", 604800 },
		{ "1.5h", 5400 }, { "250ms", 1 }, { "0.5", 1 },
		{ "11574074d", 11574074LL * 86400 },
	};
	static const char *const bad[] = {
		"11574075d", "-1", "+1", "h", "1 h", "1H", "1hh", "h1", "\"\"",
		"1e3", "0x10", "1000000000001", "9999999999999999999999s",
		"\" 1h\"", "[1h]", "{a: 1}", "~",
	};
	char lines[512];
	arca_pipeline *p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(lines, sizeof(lines),
				"    ttl: %s\n    deps:\n      - url: http://h/a\n"
				"        max_age: %s\n      - url: http://h/b\n"
				"        time_bucket: %s\n",
				good[i].text, good[i].text,
				strcmp(good[i].text, "0") ? good[i].text : "1");
		p = stage_ok(lines);
		assert_int_equal(p->stages[0].ttl_s, good[i].seconds);
		assert_int_equal(p->stages[0].deps[0].max_age_s, good[i].seconds);
		assert_int_equal(p->stages[0].deps[1].time_bucket_s,
				strcmp(good[i].text, "0") ? good[i].seconds : 1);
		arca_pipeline_free(p);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(lines, sizeof(lines), "    ttl: %s\n", bad[i]);
		stage_fails(lines, "t.yaml:4: ", "'ttl' of stage 's'");
		snprintf(lines, sizeof(lines),
				"    deps:\n      - url: http://h/a\n        max_age: %s\n",
				bad[i]);
		stage_fails(lines, "t.yaml:6: ",
				"'max_age' of a dependency of stage 's'");
	}
	stage_fails("    ttl: 1y\n", "t.yaml:4: ",
			"bad duration '1y' for 'ttl' of stage 's': expected a number with an optional unit ms, s, m, min, h, d or w");
	stage_fails("    deps:\n      - url: http://h/a\n        time_bucket: 0\n",
			"t.yaml:6: ", "'time_bucket' of a dependency of stage 's' must be longer than 0 seconds");
}

static void test_pipeline__paths(void **state)
{
	static const struct {
		const char *text, *norm;
	} good[] = {
		{ "a", "a" }, { "./a", "a" }, { "a/b", "a/b" }, { "a//b/", "a/b" },
		{ "./a/./b", "a/b" }, { "a..b", "a..b" }, { "..a", "..a" },
		{ ".hidden", ".hidden" }, { "\"with space\"", "with space" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" }, { "12", "12" },
	};
	static const struct {
		const char *text, *phrase;
	} bad[] = {
		{ "/etc/passwd", "path '/etc/passwd' is absolute" },
		{ "//x", "is absolute" },
		{ "..", "path '..' contains '..'" },
		{ "../x", "contains '..'" },
		{ "a/../../x", "contains '..'" },
		{ "a/..", "contains '..'" },
		{ ".", "names the pipeline's directory itself" },
		{ "./", "names the pipeline's directory itself" },
		{ "\"\"", "empty path" },
	};
	char lines[160];
	arca_pipeline *p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(lines, sizeof(lines),
				"    outs:\n      - %s\n    deps:\n      - %s\n",
				good[i].text, good[i].text);
		p = stage_ok(lines);
		assert_string_equal(p->stages[0].outs[0].path, good[i].norm);
		assert_string_equal(p->stages[0].deps[0].path, good[i].norm);
		arca_pipeline_free(p);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(lines, sizeof(lines), "    outs:\n      - %s\n",
				bad[i].text);
		stage_fails(lines, "t.yaml:5: ", bad[i].phrase);
		stage_fails(lines, "t.yaml:5: ", "output of stage 's'");
		snprintf(lines, sizeof(lines), "    deps:\n      - %s\n",
				bad[i].text);
		stage_fails(lines, "t.yaml:5: ", bad[i].phrase);
		snprintf(lines, sizeof(lines),
				"    deps:\n      - url: http://h/x\n        path: %s\n",
				bad[i].text);
		stage_fails(lines, "t.yaml:6: ", bad[i].phrase);
	}
	stage_fails("    deps:\n      - path: [a]\n", "t.yaml:5: ",
			"'path' of a dependency of stage 's' must be a string");
	stage_fails("    deps:\n      - optional: true\n", "t.yaml:5: ",
			"a dependency of stage 's' needs 'path' or 'url'");
}

static void test_pipeline__urls(void **state)
{
	static const struct {
		const char *url, *path;
	} good[] = {
		{ "http://127.0.0.1:8000/recording.flac", "recording.flac" },
		{ "https://example.org/a/b.mp3", "b.mp3" },
		{ "HTTPS://Example.org/x", "x" },
		{ "http://h/dir/file.wav?sig=abc/def", "file.wav" },
		{ "http://h/f#a/b", "f" },
		{ "http://user@h:1/%41b", "%41b" },
	};
	static const struct {
		const char *url, *phrase;
	} bad[] = {
		{ "ftp://h/x", "URL 'ftp://h/x' of stage 's' must start with http:// or https://" },
		{ "h/x", "must start with http:// or https://" },
		{ "file:///etc/passwd", "must start with http:// or https://" },
		{ "http:/h/x", "must start with http:// or https://" },
		{ "http://", "has no host" },
		{ "http:///x", "has no host" },
		{ "\"http://h/a b\"", "contains a space or control character" },
		{ "http://h", "cannot name a file after URL 'http://h'" },
		{ "http://h/", "its path has no last component); give 'path:'" },
		{ "http://h/a/?x=1", "give 'path:'" },
		{ "http://h/a/..", "contains '..'" },
		{ "[a]", "'url' of a dependency of stage 's' must be a string" },
	};
	char lines[200];
	arca_pipeline *p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(lines, sizeof(lines), "    deps:\n      - url: %s\n",
				good[i].url);
		p = stage_ok(lines);
		assert_string_equal(p->stages[0].deps[0].url, good[i].url);
		assert_string_equal(p->stages[0].deps[0].path, good[i].path);
		arca_pipeline_free(p);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(lines, sizeof(lines), "    deps:\n      - url: %s\n",
				bad[i].url);
		stage_fails(lines, "t.yaml:5: ", bad[i].phrase);
	}
	/* A URL with an explicit path needs no last component. */
	p = stage_ok("    deps:\n      - url: http://h/\n        path: index.html\n");
	assert_string_equal(p->stages[0].deps[0].path, "index.html");
	arca_pipeline_free(p);

	stage_fails("    deps:\n      - path: a\n        max_age: 1h\n", "t.yaml:6: ",
			"'max_age' in a dependency of stage 's' applies only to URL dependencies");
	stage_fails("    deps:\n      - path: a\n        time_bucket: 1h\n",
			"t.yaml:6: ", "'time_bucket' in a dependency of stage 's' applies only to URL");
	stage_fails("    deps:\n      - url: http://h/a\n        max_age: 1h\n"
			"        time_bucket: 15m\n", "t.yaml:7: ",
			"has both 'max_age' and 'time_bucket'");
}

static void test_pipeline__params(void **state)
{
	arca_pipeline *p;

	(void)state;
	p = parse_ok("params:\n  a.b-c_1: 3.5\n  yes_: yes\n  q: 'x y'\n"
			"stages: {s: {cmd: x}}\n");
	assert_int_equal(p->n_param_values, 3);
	assert_string_equal(p->param_names[0], "a.b-c_1");
	assert_string_equal(p->param_values[0], "3.5");
	assert_string_equal(p->param_values[1], "yes");
	assert_string_equal(p->param_values[2], "x y");
	arca_pipeline_free(p);

	p = parse_ok("params: {}\nstages: {s: {cmd: x}}\n");
	assert_int_equal(p->n_param_values, 0);
	arca_pipeline_free(p);

	parse_fails("params: [a]\nstages: {s: {cmd: x}}\n", "t.yaml:1: ",
			"'params' must be a mapping from names to values, not a list");
	parse_fails("params:\n  a: [1]\nstages: {s: {cmd: x}}\n", "t.yaml:2: ",
			"value of parameter 'a' must be a string or number, not a list");
	parse_fails("params:\n  a:\nstages: {s: {cmd: x}}\n", "t.yaml:2: ",
			"parameter 'a' has no value");
	parse_fails("params:\n  \"a b\": 1\nstages: {s: {cmd: x}}\n", "t.yaml:2: ",
			"bad parameter name 'a b'");
}

/* ------------------------------------------------------------------ */
/* The plan                                                             */
/* ------------------------------------------------------------------ */

static void test_pipeline__plan_order(void **state)
{
	arca_pipeline *p;
	char *names;

	(void)state;
	/* Written backwards: the plan puts producers first. */
	p = parse_ok(
		"stages:\n"
		"  format:\n    cmd: f\n    deps: [words.txt, {path: speakers.json, optional: true}]\n"
		"    outs: [transcript.md]\n"
		"  diarize:\n    cmd: d\n    deps: [audio.wav]\n    outs: [speakers.json]\n"
		"    optional: true\n"
		"  transcribe:\n    cmd: t\n    deps: [audio.wav]\n    outs: [words.txt]\n"
		"  transcode:\n    cmd: c\n    deps: [{url: http://h/rec.flac}]\n"
		"    outs: [audio.wav]\n");
	names = plan_names(p);
	assert_string_equal(names, "transcode diarize transcribe format");
	free(names);
	/* plan does not touch the pipeline: the optional stage's output
	 * stays a plain dep; the runner asks arca_pipeline_producer. */
	assert_int_equal(p->stages[0].deps[0].optional, 0);
	assert_true(arca_pipeline_producer(p, "speakers.json")->optional);
	arca_pipeline_free(p);

	/* Independent stages keep file order; a ready stage goes first. */
	p = parse_ok("stages:\n"
			"  c: {cmd: x, deps: [a.out], outs: [c.out]}\n"
			"  b: {cmd: x, outs: [b.out]}\n"
			"  a: {cmd: x, outs: [a.out]}\n"
			"  d: {cmd: x}\n");
	names = plan_names(p);
	assert_string_equal(names, "b a c d");
	free(names);
	arca_pipeline_free(p);

	/* A diamond, and two deps on one producer. */
	p = parse_ok("stages:\n"
			"  top: {cmd: x, outs: [t1, t2]}\n"
			"  left: {cmd: x, deps: [t1, t2], outs: [l]}\n"
			"  right: {cmd: x, deps: [t2], outs: [r]}\n"
			"  bottom: {cmd: x, deps: [r, l]}\n");
	names = plan_names(p);
	assert_string_equal(names, "top left right bottom");
	free(names);
	arca_pipeline_free(p);
}

static void test_pipeline__plan_cycles(void **state)
{
	(void)state;
	plan_fails("t.yaml", "stages:\n"
			"  a: {cmd: x, deps: [b.out], outs: [a.out]}\n"
			"  b: {cmd: x, deps: [a.out], outs: [b.out]}\n",
			"t.yaml:2: ", "cycle: a -> b -> a");
	plan_fails("t.yaml", "stages:\n"
			"  s: {cmd: x, deps: [s.out], outs: [s.out]}\n",
			"t.yaml:2: ", "cycle: s -> s");
	/* A stage feeding a cycle is not named; the cycle starts at the
	 * stage that comes first in the file and follows the data. */
	plan_fails("t.yaml", "stages:\n"
			"  feed: {cmd: x, outs: [f]}\n"
			"  after: {cmd: x, deps: [z]}\n"
			"  y: {cmd: x, deps: [f, x], outs: [y]}\n"
			"  z: {cmd: x, deps: [y], outs: [z]}\n"
			"  x: {cmd: x, deps: [z], outs: [x]}\n",
			"t.yaml:4: ", "cycle: y -> z -> x -> y");
}

static void test_pipeline__plan_duplicate_outs(void **state)
{
	(void)state;
	plan_fails("t.yaml", "stages:\n"
			"  a:\n    cmd: x\n    outs: [one, shared]\n"
			"  b:\n    cmd: x\n    outs:\n      - other\n      - ./shared\n",
			"t.yaml:9: ", "output 'shared' of stage 'b' is also an output of stage 'a' (line 4)");
	/* A URL body written where another stage writes. */
	plan_fails("t.yaml", "stages:\n"
			"  a: {cmd: x, outs: [rec.flac]}\n"
			"  b: {cmd: x, deps: [{url: http://h/rec.flac}]}\n",
			"t.yaml:3: ", "stage 'b' downloads a URL to 'rec.flac', which is also an output of stage 'a' (line 2)");
	plan_fails("t.yaml", "stages:\n"
			"  a: {cmd: x, deps: [{url: http://h/rec.flac}]}\n"
			"  b: {cmd: x, deps: [{url: http://g/rec.flac}]}\n",
			"t.yaml:3: ", "two URLs are downloaded to 'rec.flac'");
}

static void test_pipeline__plan_deps(void **state)
{
	char *dir = fixture_tempdir(), *name, *file, *sub, *names;
	arca_pipeline *p;
	char yaml[512];

	(void)state;
	name = fixture_path("%s/arca.yaml", dir);
	file = fixture_path("%s/input.txt", dir);
	sub = fixture_path("%s/subdir", dir);
	fixture_write_file(file, "x", 1);
	assert_int_equal(mkdir(sub, 0755), 0);

	/* Existing files (relative to the pipeline's dir), stage outputs,
	 * optional deps that exist nowhere, URLs never looked at. */
	p = parse_named(name, "stages:\n"
			"  b: {cmd: x, deps: [input.txt, ./a.out, {path: maybe, optional: true}],"
			" outs: [b.out]}\n"
			"  a: {cmd: x, deps: [{url: 'http://127.0.0.1:1/nothing'}],"
			" outs: [a.out]}\n");
	names = plan_names(p);
	assert_string_equal(names, "a b");
	free(names);
	arca_pipeline_free(p);

	snprintf(yaml, sizeof(yaml), "stages:\n  s:\n    cmd: x\n"
			"    deps: [input.txt, missing.txt]\n");
	plan_fails(name, yaml, "", "unknown dependency 'missing.txt' of stage 's': no such file and no stage outputs it");
	{
		char *prefix = fixture_path("%s:4: ", name);

		plan_fails(name, yaml, prefix, "unknown dependency");
		free(prefix);
		prefix = fixture_path("%s:5: ", name);
		plan_fails(name, "stages:\n  s:\n    cmd: x\n    deps:\n"
				"      - subdir\n", prefix, "not a regular file");
		free(prefix);
	}
	plan_fails(name, "stages:\n  s:\n    cmd: x\n    deps:\n      - subdir\n",
			"", "dependency 'subdir' of stage 's' is not a regular file");
	plan_fails(name, "stages:\n  s:\n    cmd: x\n    deps:\n      - input.txt/x\n",
			"", "unknown dependency 'input.txt/x'");
	/* The same file relative to another directory does not exist. */
	plan_fails("elsewhere/arca.yaml", "stages:\n  s: {cmd: x, deps: [input.txt]}\n",
			"elsewhere/arca.yaml:2: ", "unknown dependency 'input.txt'");

	fixture_rmdir(dir);
	free(name);
	free(file);
	free(sub);
}

static void test_pipeline__plan_url_paths(void **state)
{
	arca_pipeline *p;
	char *names;

	(void)state;
	/* The fetch pattern: a stage whose output is its own URL's body,
	 * and a stage that uses a file another stage downloads. */
	p = parse_ok("stages:\n"
			"  use: {cmd: x, deps: [rec.flac, page.html]}\n"
			"  fetch: {cmd: x, deps: [{url: 'http://h/rec.flac'}], outs: [rec.flac]}\n"
			"  get: {cmd: x, deps: [{url: 'http://h/', path: page.html}]}\n"
			"  again: {cmd: x, deps: [{url: 'http://h/', path: page.html}]}\n");
	names = plan_names(p);
	assert_string_equal(names, "fetch get use again");
	free(names);
	arca_pipeline_free(p);
	/* Without an output of its own, a download still orders stages. */
	p = parse_ok("stages:\n  t: {cmd: x, deps: [a]}\n"
			"  s: {cmd: x, deps: [{url: 'http://h/a'}]}\n");
	names = plan_names(p);
	assert_string_equal(names, "s t");
	free(names);
	arca_pipeline_free(p);
}

static void test_pipeline__plan_empty(void **state)
{
	arca_pipeline p;
	size_t *order = NULL;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.path = (char *)"x.yaml";
	p.dir = (char *)".";
	assert_int_equal(arca_pipeline_plan(&order, &p), 0);
	assert_non_null(order);
	free(order);
}

/* ------------------------------------------------------------------ */
/* Substitution                                                         */
/* ------------------------------------------------------------------ */

static void sub_ok(const char *text, const char *want)
{
	char *names[] = { "lang", "rate", "empty", "a.b-c_d", "evil" };
	char *values[] = { "en-us", "16000", "", "dotted", "${lang}" };
	char *out = NULL;

	if (arca_pipeline_substitute(&out, text, names, values, 5) < 0)
		fail_msg("substitute '%s': %s", text, arca_errmsg());
	assert_string_equal(out, want);
	free(out);
}

static void sub_fails(const char *text, const char *phrase)
{
	char *names[] = { "lang" };
	char *values[] = { "en-us" };
	char *out = (char *)&out;

	assert_int_equal(arca_pipeline_substitute(&out, text, names, values, 1),
			ARCA_EINVAL);
	assert_null(out);
	assert_one_line_with(arca_errmsg(), "", phrase, text);
}

static void test_pipeline__substitute(void **state)
{
	(void)state;
	sub_ok("", "");
	sub_ok("no params", "no params");
	sub_ok("${lang}", "en-us");
	sub_ok("-l ${lang} -r ${rate}Hz ${lang}", "-l en-us -r 16000Hz en-us");
	sub_ok("[${empty}]", "[]");
	sub_ok("${a.b-c_d}", "dotted");
	sub_ok("$${lang}", "${lang}");
	/* Leftmost first: "$" then "$${" (a literal "${"). */
	sub_ok("$$${lang}", "$${lang}");
	sub_ok("$$$${lang}", "$$${lang}");
	sub_ok("$ ${lang}", "$ en-us");
	sub_ok("cost $5 $ $$ {lang} $x", "cost $5 $ $$ {lang} $x");
	sub_ok("trailing $", "trailing $");
	/* A value is not expanded again. */
	sub_ok("${evil}", "${lang}");
	sub_ok("echo \"${lang}\"; rm -f '$${x}'", "echo \"en-us\"; rm -f '${x}'");

	sub_fails("${nope}", "unknown parameter 'nope' in '${nope}'");
	sub_fails("x ${lang", "unterminated '${'");
	sub_fails("${", "unterminated '${'");
	sub_fails("${}", "bad parameter reference '${}'");
	sub_fails("${a b}", "bad parameter reference '${a b}'");
	sub_fails("${la$ng}", "bad parameter reference");

	/* n == 0 */
	{
		char *out = NULL;

		assert_int_equal(arca_pipeline_substitute(&out, "plain $x", NULL,
				NULL, 0), 0);
		assert_string_equal(out, "plain $x");
		free(out);
		assert_int_equal(arca_pipeline_substitute(&out, "${x}", NULL,
				NULL, 0), ARCA_EINVAL);
		assert_null(out);
	}
}

static void test_pipeline__substitute_long(void **state)
{
	char *names[] = { "v" };
	char *values[1];
	char *out = NULL, *text, *big;
	size_t i;

	(void)state;
	big = malloc(10001);
	text = malloc(4 * 1000 + 1);
	assert_non_null(big);
	assert_non_null(text);
	memset(big, 'x', 10000);
	big[10000] = '\0';
	values[0] = big;
	for (i = 0; i < 1000; i++)
		memcpy(text + 4 * i, "${v}", 4);
	text[4000] = '\0';
	assert_int_equal(arca_pipeline_substitute(&out, text, names, values, 1), 0);
	assert_int_equal(strlen(out), 10000000);
	free(out);
	free(text);
	free(big);
}

/* ------------------------------------------------------------------ */
/* Loading files                                                        */
/* ------------------------------------------------------------------ */

static void test_pipeline__load(void **state)
{
	char *dir = fixture_tempdir(), *path, *big, *bad;
	arca_pipeline *p = NULL;
	FILE *f;

	(void)state;
	path = fixture_path("%s/arca.yaml", dir);
	fixture_write_file(path, full_yaml, strlen(full_yaml));
	assert_int_equal(arca_pipeline_load(&p, path), 0);
	assert_string_equal(p->path, path);
	assert_string_equal(p->dir, dir);
	assert_int_equal(p->n_stages, 2);
	arca_pipeline_free(p);

	/* Errors name the file as given. */
	bad = fixture_path("%s/bad.yaml", dir);
	fixture_write_file(bad, "stages:\n  s:\n    cmd: x\n    foo: 1\n", 35);
	assert_int_equal(arca_pipeline_load(&p, bad), ARCA_EINVAL);
	assert_null(p);
	{
		char *prefix = fixture_path("%s:4: ", bad);

		assert_one_line_with(arca_errmsg(), prefix, "unknown key 'foo'",
				NULL);
		free(prefix);
	}

	free(path);
	path = fixture_path("%s/missing.yaml", dir);
	assert_int_equal(arca_pipeline_load(&p, path), ARCA_ENOTFOUND);
	assert_null(p);
	{
		char *want = fixture_path("cannot read %s: No such file or directory",
				path);

		assert_string_equal(arca_errmsg(), want);
		free(want);
	}
	assert_int_equal(arca_pipeline_load(&p, dir), ARCA_EINVAL);
	assert_one_line_with(arca_errmsg(), "cannot read ", "Is a directory",
			NULL);

	big = fixture_path("%s/big.yaml", dir);
	f = fopen(big, "wb");
	assert_non_null(f);
	assert_int_equal(ftruncate(fileno(f), 16 * 1024 * 1024 + 1), 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(arca_pipeline_load(&p, big), ARCA_EINVAL);
	assert_one_line_with(arca_errmsg(), big, "too large", NULL);
	assert_null(p);

	fixture_rmdir(dir);
	free(path);
	free(big);
	free(bad);
}

/* Every prefix of a valid file parses or fails cleanly (ASan watches). */
static void test_pipeline__every_prefix(void **state)
{
	size_t len = strlen(full_yaml), i;

	(void)state;
	for (i = 0; i <= len; i++) {
		arca_pipeline *p = NULL;
		char *copy = malloc(i ? i : 1);
		int rc;

		assert_non_null(copy);
		memcpy(copy, full_yaml, i);
		rc = arca_pipeline_parse(&p, "t.yaml", copy, i);
		if (rc == 0) {
			size_t *order = NULL;

			assert_non_null(p);
			if (arca_pipeline_plan(&order, p) == 0)
				free(order);
		} else {
			assert_null(p);
			assert_int_equal(strncmp(arca_errmsg(), "t.yaml:", 7), 0);
		}
		arca_pipeline_free(p);
		free(copy);
	}
}

/*
 * Many stages: a chain written last-first, then closed into one long
 * cycle. Lookups are hashed, so this takes milliseconds, and the cycle's
 * message is cut to the buffer of arca_errmsg().
 */
static void test_pipeline__large(void **state)
{
	const size_t n = 20000;
	size_t cap = n * 80 + 64, len = 0, i, *order = NULL;
	char *yaml = malloc(cap);
	arca_pipeline *p;

	(void)state;
	assert_non_null(yaml);
	len += (size_t)snprintf(yaml + len, cap - len, "stages:\n");
	for (i = n; i-- > 0;) {
		if (i == 0)
			len += (size_t)snprintf(yaml + len, cap - len,
					"  s0: {cmd: x, outs: [o0]}\n");
		else
			len += (size_t)snprintf(yaml + len, cap - len,
					"  s%zu: {cmd: x, deps: [o%zu], outs: [o%zu]}\n",
					i, i - 1, i);
	}
	p = parse_ok(yaml);
	assert_int_equal(p->n_stages, n);
	assert_int_equal(arca_pipeline_plan(&order, p), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(order[i], n - 1 - i);
	free(order);
	arca_pipeline_free(p);

	/* s0 now reads the last stage's output. */
	len = (size_t)(strstr(yaml, "  s0: ") - yaml);
	snprintf(yaml + len, cap - len,
			"  s0: {cmd: x, deps: [o%zu], outs: [o0]}\n", n - 1);
	p = parse_ok(yaml);
	assert_int_equal(arca_pipeline_plan(&order, p), ARCA_EINVAL);
	assert_null(order);
	assert_one_line_with(arca_errmsg(), "t.yaml:2: ",
			"cycle: s19999 -> s0 -> s1 -> ", NULL);
	/* Cut: longer than this test's old buffer, far shorter than the
	 * whole cycle (about 140 KB of names). */
	assert_true(strlen(arca_errmsg()) >= ERRLEN - 1);
	assert_true(strlen(arca_errmsg()) < 4096);
	arca_pipeline_free(p);
	free(yaml);
}

/* The reference pipeline file parses and plans. */
static void test_pipeline__example_file(void **state)
{
	char *path = fixture_path("%s/examples/transcribe/arca.yaml",
			ARCA_SOURCE_DIR);
	arca_pipeline *p = NULL;
	char *names;

	(void)state;
	if (arca_pipeline_load(&p, path) < 0)
		fail_msg("%s", arca_errmsg());
	assert_true(arca_pipeline_stage_by_name(p, "diarize")->optional);
	names = plan_names(p);
	assert_string_equal(names, "transcode transcribe diarize format");
	free(names);
	arca_pipeline_free(p);
	free(path);
}

/* The example of docs/pipeline.md parses and plans as the text says. */
static void test_pipeline__docs_example(void **state)
{
	char *doc_path = fixture_path("%s/docs/pipeline.md", ARCA_SOURCE_DIR);
	char *dir = fixture_tempdir(), *name, *start, *end;
	unsigned char *doc;
	size_t len;
	arca_pipeline *p;
	char *names;

	(void)state;
	doc = fixture_read_file(doc_path, &len);
	assert_non_null(doc);
	start = strstr((char *)doc, "```yaml\n");
	assert_non_null(start);
	start += strlen("```yaml\n");
	end = strstr(start, "```");
	assert_non_null(end);
	*end = '\0';

	name = fixture_path("%s/arca.yaml", dir);
	p = parse_named(name, start);
	assert_int_equal(p->n_stages, 4);
	assert_string_equal(p->stages[0].deps[0].url,
			"http://${host}/recording.flac");
	assert_string_equal(p->stages[0].deps[0].path, "recording.flac");
	assert_int_equal(p->stages[0].deps[0].max_age_s, 3600);
	assert_int_equal(p->stages[1].cmd_argc, 3);
	assert_string_equal(p->stages[1].params[0], "recognizer");
	assert_int_equal(p->stages[2].optional, 1);
	assert_int_equal(p->stages[3].cache, 0);
	assert_true(arca_pipeline_producer(p, "speakers.rttm")->optional);
	names = plan_names(p);
	assert_string_equal(names, "transcode transcribe diarize format");
	free(names);
	arca_pipeline_free(p);

	fixture_rmdir(dir);
	free(name);
	free(doc);
	free(doc_path);
}

/* NULL arguments are refused with ARCA_EINVAL, and a call that succeeds
 * leaves no message behind. */
static void test_pipeline__null_arguments(void **state)
{
	char *names[] = { "a" }, *out = (char *)&out;
	arca_pipeline *p = NULL;
	size_t *order = (size_t *)&order;

	(void)state;
	assert_int_equal(arca_pipeline_parse(NULL, "t.yaml", "x", 1),
			ARCA_EINVAL);
	assert_true(arca_errmsg()[0] != '\0');
	assert_int_equal(arca_pipeline_load(NULL, "t.yaml"), ARCA_EINVAL);
	assert_int_equal(arca_pipeline_load(&p, NULL), ARCA_EINVAL);
	assert_null(p);
	assert_int_equal(arca_pipeline_plan(&order, NULL), ARCA_EINVAL);
	assert_int_equal(arca_pipeline_plan(NULL, NULL), ARCA_EINVAL);
	assert_int_equal(arca_pipeline_substitute(&out, NULL, NULL, NULL, 0),
			ARCA_EINVAL);
	assert_null(out);
	out = (char *)&out;
	assert_int_equal(arca_pipeline_substitute(&out, "${a}", names, NULL,
			1), ARCA_EINVAL);
	assert_null(out);
	assert_int_equal(arca_pipeline_substitute(NULL, "x", NULL, NULL, 0),
			ARCA_EINVAL);
	assert_null(arca_pipeline_stage_by_name(NULL, "s"));
	assert_null(arca_pipeline_producer(NULL, "o"));

	p = parse_ok("stages: {s: {cmd: x}}");
	assert_string_equal(arca_errmsg(), "");
	assert_null(arca_pipeline_stage_by_name(p, NULL));
	assert_null(arca_pipeline_producer(p, NULL));
	arca_pipeline_free(p);
}

/* ------------------------------------------------------------------ */
/* Allocation failures                                                  */
/* ------------------------------------------------------------------ */

/*
 * curl's torture mode, as in test_manifest.c: from the Nth allocation
 * on, every allocation fails (libyaml's too), for N = 0, 1, ... until the
 * call succeeds. Each failed call must say "out of memory", return
 * nothing and free everything. glibc only, not under AddressSanitizer.
 */
#ifdef ALLOC_TORTURE
#define HAVE_TORTURE 1
#define torture_arm alloc_torture_arm
#define torture_disarm alloc_torture_disarm
#define torture_live alloc_torture_live()
#define torture_hit alloc_torture_hit()

static void test_pipeline__out_of_memory(void **state)
{
	static const char plan_yaml[] =
		"stages:\n"
		"  b: {cmd: x, deps: [a.out, {url: 'http://h/u'}], outs: [b.out]}\n"
		"  a: {cmd: x, outs: [a.out]}\n"
		"  c: {cmd: x, deps: [c.out], outs: [c.out]}\n";
	char *names[] = { "rate", "lang" };
	char *values[] = { "16000", "en-us" };
	char *out = NULL;
	arca_pipeline *p = NULL, *cyc = NULL;
	size_t *order = NULL;
	long n;
	int rc;

	(void)state;
	for (n = 0; ; n++) {
		torture_arm(n);
		rc = arca_pipeline_parse(&p, "t.yaml", full_yaml,
				strlen(full_yaml));
		arca_pipeline_free(p);
		torture_disarm();
		assert_int_equal(torture_live, 0);
		if (!torture_hit) {
			assert_int_equal(rc, 0);
			break;
		}
		assert_int_equal(rc, ARCA_ENOMEM);
		assert_one_line_with(arca_errmsg(), "t.yaml", "out of memory",
				NULL);
	}
	print_message("parsing: %ld allocations\n", n);

	p = parse_ok(plan_yaml);
	cyc = p;
	for (n = 0; ; n++) {
		torture_arm(n);
		rc = arca_pipeline_plan(&order, cyc);
		free(order);
		order = NULL;
		torture_disarm();
		assert_int_equal(torture_live, 0);
		assert_true(rc == ARCA_EINVAL || rc == ARCA_ENOMEM);
		if (!torture_hit) {
			assert_int_equal(rc, ARCA_EINVAL);
			assert_one_line_with(arca_errmsg(), "t.yaml:4: ",
					"cycle: c -> c", NULL);
			break;
		}
		/* A cycle found but not named is still ARCA_EINVAL. */
		if (strstr(arca_errmsg(), "out of memory") == NULL ||
				strstr(arca_errmsg(), "naming them") != NULL) {
			assert_int_equal(rc, ARCA_EINVAL);
			assert_one_line_with(arca_errmsg(), "t.yaml:4: ", "cycle",
					NULL);
		} else {
			assert_int_equal(rc, ARCA_ENOMEM);
		}
	}
	print_message("planning: %ld allocations\n", n);
	arca_pipeline_free(p);

	for (n = 0; ; n++) {
		torture_arm(n);
		rc = arca_pipeline_substitute(&out, "-r ${rate} -l ${lang} ${lang}",
				names, values, 2);
		free(out);
		out = NULL;
		torture_disarm();
		assert_int_equal(torture_live, 0);
		if (!torture_hit) {
			assert_int_equal(rc, 0);
			break;
		}
		assert_int_equal(rc, ARCA_ENOMEM);
		assert_string_equal(arca_errmsg(), "out of memory");
	}
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipeline__full),
		cmocka_unit_test(test_pipeline__defaults),
		cmocka_unit_test(test_pipeline__dir_of_name),
		cmocka_unit_test(test_pipeline__empty_and_no_stages),
		cmocka_unit_test(test_pipeline__malformed_yaml),
		cmocka_unit_test(test_pipeline__anchors_tags_nesting),
		cmocka_unit_test(test_pipeline__too_large),
		cmocka_unit_test(test_pipeline__unknown_and_duplicate_keys),
		cmocka_unit_test(test_pipeline__stage_names),
		cmocka_unit_test(test_pipeline__long_names_are_cut),
		cmocka_unit_test(test_pipeline__cmd),
		cmocka_unit_test(test_pipeline__param_references),
		cmocka_unit_test(test_pipeline__lists),
		cmocka_unit_test(test_pipeline__booleans),
		cmocka_unit_test(test_pipeline__durations),
		cmocka_unit_test(test_pipeline__paths),
		cmocka_unit_test(test_pipeline__urls),
		cmocka_unit_test(test_pipeline__params),
		cmocka_unit_test(test_pipeline__plan_order),
		cmocka_unit_test(test_pipeline__plan_cycles),
		cmocka_unit_test(test_pipeline__plan_duplicate_outs),
		cmocka_unit_test(test_pipeline__plan_deps),
		cmocka_unit_test(test_pipeline__plan_url_paths),
		cmocka_unit_test(test_pipeline__plan_empty),
		cmocka_unit_test(test_pipeline__substitute),
		cmocka_unit_test(test_pipeline__substitute_long),
		cmocka_unit_test(test_pipeline__load),
		cmocka_unit_test(test_pipeline__every_prefix),
		cmocka_unit_test(test_pipeline__large),
		cmocka_unit_test(test_pipeline__docs_example),
		cmocka_unit_test(test_pipeline__example_file),
		cmocka_unit_test(test_pipeline__null_arguments),
#ifdef HAVE_TORTURE
		cmocka_unit_test(test_pipeline__out_of_memory),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
