/*
 * libFuzzer harness for the pipeline parser (arca_pipeline_*, compiled
 * with every source file of libarca; only the public header is
 * included here): parse
 * any bytes; on success plan the pipeline (its directory does not exist,
 * so file deps are looked up and not found) and substitute every
 * command; also substitute the input itself as text. Besides what ASan and
 * UBSan catch, it aborts when a result breaks the parser's promises: an
 * error that is not one "FILE:LINE: message" line, a path that leaves
 * the pipeline's directory, a command that is both or neither form.
 *
 * Built and run by tests/fuzz/test_fuzz_pipeline.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arca/arca.h"

#define NAME "/nonexistent-arca-fuzz/arca.yaml"

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_pipeline: broken promise: %s\n", what);
		abort();
	}
}

static void check_err(const char *err, const char *prefix)
{
	check(strncmp(err, prefix, strlen(prefix)) == 0,
			"error does not start with the file name");
	check(strchr(err, '\n') == NULL, "error is not one line");
	check(strlen(err) > strlen(prefix), "empty error message");
}

static void check_path(const char *path)
{
	const char *s = path;

	check(path != NULL && path[0] != '\0', "empty path");
	check(path[0] != '/', "absolute path");
	for (;;) {
		size_t n = strcspn(s, "/");

		check(n > 0, "empty path component");
		check(!(n == 2 && s[0] == '.' && s[1] == '.'), "'..' in a path");
		check(!(n == 1 && s[0] == '.'), "'.' in a path");
		if (s[n] == '\0')
			break;
		s += n + 1;
	}
}

static void substitute(const arca_pipeline *p, const char *text)
{
	char *out = NULL;
	const char *err;

	if (arca_pipeline_substitute(&out, text, p->param_names,
			p->param_values, p->n_param_values) == 0) {
		check(out != NULL, "substitute gave no string");
		free(out);
	} else {
		err = arca_errmsg();
		check(out == NULL, "substitute failed but gave a string");
		check(strchr(err, '\n') == NULL && err[0] != '\0',
				"substitute error is not one line");
	}
}

static void check_pipeline(const arca_pipeline *p)
{
	size_t i, j, *order = NULL;

	check(p->n_stages > 0, "no stages");
	for (i = 0; i < p->n_stages; i++) {
		const arca_pipeline_stage *st = &p->stages[i];

		check(st->name && st->name[0], "stage without a name");
		check(arca_pipeline_stage_by_name(p, st->name) == st,
				"stage lookup finds another stage");
		check((st->cmd != NULL) != (st->cmd_argv != NULL),
				"cmd and cmd_argv both or neither set");
		if (st->cmd)
			substitute(p, st->cmd);
		for (j = 0; st->cmd_argv && j < st->cmd_argc; j++)
			substitute(p, st->cmd_argv[j]);
		check(st->cmd_argv == NULL || st->cmd_argv[st->cmd_argc] == NULL,
				"cmd_argv not NULL-terminated");
		for (j = 0; j < st->n_deps; j++) {
			const arca_pipeline_dep *d = &st->deps[j];

			check_path(d->path);
			check(d->url == NULL || strncasecmp(d->url, "http", 4) == 0,
					"URL dep that is not http(s)");
			check(d->max_age_s >= -1 && d->time_bucket_s >= 0,
					"negative duration");
		}
		for (j = 0; j < st->n_outs; j++) {
			check_path(st->outs[j].path);
			check(arca_pipeline_producer(p, st->outs[j].path) != NULL,
					"output without a producer");
		}
		check(st->ttl_s >= -1, "negative ttl");
	}

	if (arca_pipeline_plan(&order, p) == 0) {
		unsigned char *seen = calloc(p->n_stages, 1);

		check(order != NULL, "plan gave no order");
		if (seen != NULL) {
			for (i = 0; i < p->n_stages; i++) {
				check(order[i] < p->n_stages && !seen[order[i]],
						"plan order is not a permutation");
				seen[order[i]] = 1;
			}
			free(seen);
		}
		free(order);
	} else {
		check(order == NULL, "plan failed but gave an order");
		check_err(arca_errmsg(), NAME);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	arca_pipeline *p = NULL;
	char *text;

	if (arca_pipeline_parse(&p, NAME, (const char *)data, size) == 0) {
		check(p != NULL, "parse gave no pipeline");
		check_pipeline(p);
	} else {
		check(p == NULL, "parse failed but gave a pipeline");
		check_err(arca_errmsg(), NAME ":");
	}
	arca_pipeline_free(p);

	/* The input as a command line, with a few params. */
	if ((text = malloc(size + 1)) != NULL) {
		char *names[] = { "a", "lang", "x.y" };
		char *values[] = { "1", "${a}", "" };
		char *out = NULL;

		memcpy(text, data, size);
		text[size] = '\0';
		if (arca_pipeline_substitute(&out, text, names, values, 3) == 0)
			free(out);
		else
			check(out == NULL && strchr(arca_errmsg(), '\n') == NULL,
					"substitute error");
		free(text);
	}
	return 0;
}
