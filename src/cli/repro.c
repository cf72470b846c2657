/*
 * The pipeline side of `arca repro` and `arca status` (repro.h): the
 * parameters of a run, a pipeline stage turned into a stage spec with its
 * dependencies resolved (URLs fetched and materialised, absent optional
 * deps marked in the key), and the prediction of what a stage would do.
 */
#include "repro.h"
#include "progress.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

static int repro_enomem(void)
{
	cli_error("%s", strerror(ENOMEM));
	return CLI_RUN_EXIT_ARCA;
}

/* --------------------------------------------------------------------- */
/* Parameters                                                              */
/* --------------------------------------------------------------------- */

void cli_params_free(cli_params *params)
{
	size_t i;

	if (params == NULL)
		return;
	for (i = 0; i < params->n; i++) {
		free(params->names[i]);
		free(params->values[i]);
	}
	free(params->names);
	free(params->values);
	memset(params, 0, sizeof(*params));
}

const char *cli_params_get(const cli_params *params, const char *name)
{
	size_t i;

	for (i = 0; i < params->n; i++)
		if (strcmp(params->names[i], name) == 0)
			return params->values[i];
	return NULL;
}

/* Set name to value (copies), replacing an earlier value. 0 or -1. */
static int params_set(cli_params *params, const char *name, size_t name_len,
		const char *value)
{
	char *n = NULL, *v = NULL, **names, **values;
	size_t i;

	if ((n = strndup(name, name_len)) == NULL ||
	    (v = strdup(value)) == NULL)
		goto fail;
	for (i = 0; i < params->n; i++) {
		if (strcmp(params->names[i], n) == 0) {
			free(params->values[i]);
			params->values[i] = v;
			free(n);
			return 0;
		}
	}
	names = realloc(params->names, (params->n + 1) * sizeof(*names));
	if (names == NULL)
		goto fail;
	params->names = names;
	values = realloc(params->values, (params->n + 1) * sizeof(*values));
	if (values == NULL)
		goto fail;
	params->values = values;
	params->names[params->n] = n;
	params->values[params->n] = v;
	params->n++;
	return 0;

fail:
	free(n);
	free(v);
	return -1;
}

int cli_repro_param_option(cli_repro_opts *o, const char *cmd, int c,
		const char *arg)
{
	const char *eq;

	o->cmd = cmd;
	switch (c) {
	case 'p':
		if ((eq = strchr(arg, '=')) == NULL || eq == arg) {
			cli_usage_error(cmd, "-p '%s': expected NAME=VALUE", arg);
			return -1;
		}
		o->kv[o->n_kv++] = arg;
		return 1;
	case 'P':
		o->params_file = arg;
		return 1;
	default:
		return 0;
	}
}

/*
 * The names of the params the stages use, sorted, each once: those in a
 * stage's `params:` and those a URL dep refers to as ${name}. A value for
 * any other name would change nothing, so -p NAME=V for one is an error
 * (and a params file key a warning): it is a typo or a param of another
 * pipeline. The top-level `params:` defaults do not make a name known.
 */
typedef struct param_names {
	char **names;  /* owned copies */
	size_t n;
} param_names;

static void names_free(param_names *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		free(k->names[i]);
	free(k->names);
	memset(k, 0, sizeof(*k));
}

/* Whether the len bytes at name are one of k's names. */
static int names_has(const param_names *k, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		if (strlen(k->names[i]) == len &&
		    memcmp(k->names[i], name, len) == 0)
			return 1;
	return 0;
}

/* Insert the len bytes at name, in sorted place, unless already there.
 * 0 or -1 (out of memory). */
static int names_add(param_names *k, const char *name, size_t len)
{
	char *copy, **grown;
	size_t pos;

	if (names_has(k, name, len))
		return 0;
	if ((copy = strndup(name, len)) == NULL)
		return -1;
	if ((grown = realloc(k->names, (k->n + 1) * sizeof(*grown))) == NULL) {
		free(copy);
		return -1;
	}
	k->names = grown;
	for (pos = k->n; pos > 0 && strcmp(grown[pos - 1], copy) > 0; pos--)
		grown[pos] = grown[pos - 1];
	grown[pos] = copy;
	k->n++;
	return 0;
}

/*
 * The names of k joined with ", " ("none" when there are none), for
 * messages; NULL when out of memory. The caller frees it.
 */
static char *names_join(const param_names *k)
{
	size_t i, len = 5;
	char *out;

	for (i = 0; i < k->n; i++)
		len += strlen(k->names[i]) + 2;
	if ((out = malloc(len)) == NULL)
		return NULL;
	strcpy(out, k->n == 0 ? "none" : "");
	for (i = 0; i < k->n; i++) {
		if (i > 0)
			strcat(out, ", ");
		strcat(out, k->names[i]);
	}
	return out;
}

/*
 * Collect the params p's stages use (above), URL deps read as written,
 * before substitute_urls(), and scanned as arca_pipeline_substitute()
 * scans ("$${" is a literal "${"; a malformed reference is left to it).
 * 0 or -1 (out of memory).
 */
static int known_params(param_names *k, const arca_pipeline *p)
{
	size_t i, j;

	memset(k, 0, sizeof(*k));
	for (i = 0; i < p->n_stages; i++) {
		const arca_pipeline_stage *def = &p->stages[i];

		for (j = 0; j < def->n_params; j++)
			if (names_add(k, def->params[j],
					strlen(def->params[j])) < 0)
				return -1;
		for (j = 0; j < def->n_deps; j++) {
			const char *s = def->deps[j].url, *end;

			while (s != NULL && *s) {
				if (s[0] == '$' && s[1] == '$' && s[2] == '{') {
					s += 3;
				} else if (s[0] == '$' && s[1] == '{' &&
				           (end = strchr(s + 2, '}')) != NULL) {
					size_t len = (size_t)(end - s - 2);

					if (names_add(k, s + 2, len) < 0)
						return -1;
					s = end + 1;
				} else {
					s++;
				}
			}
		}
	}
	return 0;
}

/*
 * Read a params file: a YAML mapping of name: scalar (libyaml's document
 * API), each value taken as written. A name no stage uses (not in known)
 * is a warning "FILE:LINE: no stage uses param 'x' (known: ...)": a params
 * file may well be shared with other pipelines or scripts (as DVC's
 * params.yaml is). Prints "FILE:LINE: ..." and returns -1 on an error.
 */
static int load_params_file(cli_params *params, const char *path,
		const param_names *known)
{
	FILE *f = NULL;
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	yaml_node_pair_t *pair;
	int have_parser = 0, have_doc = 0, rc = -1;

	if ((f = fopen(path, "rb")) == NULL) {
		cli_error("cannot read %s: %s", path, strerror(errno));
		goto cleanup;
	}
	if (!yaml_parser_initialize(&parser)) {
		cli_error("%s: %s", path, strerror(ENOMEM));
		goto cleanup;
	}
	have_parser = 1;
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		cli_error("%s:%lu: malformed YAML: %s", path,
				(unsigned long)parser.problem_mark.line + 1,
				parser.problem ? parser.problem : "error");
		goto cleanup;
	}
	have_doc = 1;
	if ((root = yaml_document_get_root_node(&doc)) == NULL) {
		rc = 0; /* an empty file: no params */
		goto cleanup;
	}
	if (root->type != YAML_MAPPING_NODE) {
		cli_error("%s:%lu: expected a mapping of parameter names to "
				"values", path,
				(unsigned long)root->start_mark.line + 1);
		goto cleanup;
	}
	for (pair = root->data.mapping.pairs.start;
	     pair < root->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(&doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(&doc, pair->value);
		yaml_node_pair_t *prev;
		const char *name;

		if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE ||
		    k->data.scalar.length == 0) {
			cli_error("%s:%lu: parameter names must be non-empty "
					"strings", path, k ? (unsigned long)
					k->start_mark.line + 1 : 0UL);
			goto cleanup;
		}
		name = (const char *)k->data.scalar.value;
		for (prev = root->data.mapping.pairs.start; prev < pair; prev++) {
			yaml_node_t *pk = yaml_document_get_node(&doc, prev->key);

			if (pk->type == YAML_SCALAR_NODE &&
			    strcmp((const char *)pk->data.scalar.value, name) == 0) {
				cli_error("%s:%lu: parameter '%s' given twice", path,
						(unsigned long)k->start_mark.line + 1,
						name);
				goto cleanup;
			}
		}
		if (v->type != YAML_SCALAR_NODE) {
			cli_error("%s:%lu: parameter '%s' must be a scalar", path,
					(unsigned long)v->start_mark.line + 1, name);
			goto cleanup;
		}
		/* As in the pipeline file: nothing after the colon is an
		 * error, "" is the empty string. */
		if (v->data.scalar.length == 0 &&
		    v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
			cli_error("%s:%lu: parameter '%s' has no value (write \"\" "
					"for the empty string)", path,
					(unsigned long)v->start_mark.line + 1, name);
			goto cleanup;
		}
		if (params_set(params, name, strlen(name),
				(const char *)v->data.scalar.value) < 0) {
			cli_error("%s: %s", path, strerror(ENOMEM));
			goto cleanup;
		}
		if (!names_has(known, name, strlen(name))) {
			char *list = names_join(known);

			if (list == NULL) {
				cli_error("%s: %s", path, strerror(ENOMEM));
				goto cleanup;
			}
			cli_warn("%s:%lu: no stage uses param '%s' (known: %s)",
					path,
					(unsigned long)k->start_mark.line + 1,
					name, list);
			free(list);
		}
	}
	rc = 0;

cleanup:
	if (have_doc)
		yaml_document_delete(&doc);
	if (have_parser)
		yaml_parser_delete(&parser);
	if (f != NULL)
		fclose(f);
	return rc;
}

/* path's directory joined with name ("name" when dir is "."). */
static char *join_dir(const char *dir, const char *name)
{
	char *out;

	if (dir == NULL || strcmp(dir, ".") == 0)
		return strdup(name);
	if ((out = malloc(strlen(dir) + strlen(name) + 2)) == NULL)
		return NULL;
	sprintf(out, "%s/%s", dir, name);
	return out;
}

/*
 * ${name} in a URL dep takes the param's value (from any source; the URL
 * itself is the input's name, so it is in the key). The result must still
 * be an http(s) URL.
 */
static int substitute_urls(arca_pipeline *p, const cli_params *params)
{
	size_t i, j;

	for (i = 0; i < p->n_stages; i++) {
		for (j = 0; j < p->stages[i].n_deps; j++) {
			arca_pipeline_dep *d = &p->stages[i].deps[j];
			char *url = NULL;

			if (d->url == NULL || strstr(d->url, "${") == NULL)
				continue;
			if (arca_pipeline_substitute(&url, d->url, params->names,
					params->values, params->n) < 0) {
				fprintf(stderr, "arca: %s:%d: stage '%s': url: %s\n",
						p->path, d->line, p->stages[i].name,
						arca_errmsg());
				return CLI_EXIT_USAGE;
			}
			if (strncasecmp(url, "http://", 7) != 0 &&
			    strncasecmp(url, "https://", 8) != 0) {
				fprintf(stderr, "arca: %s:%d: stage '%s': URL '%s' "
						"must start with http:// or https://\n",
						p->path, d->line, p->stages[i].name, url);
				free(url);
				return CLI_EXIT_USAGE;
			}
			free(d->url);
			d->url = url;
		}
	}
	return 0;
}

int cli_repro_load(arca_pipeline **out, size_t **order, cli_params *params,
		const cli_repro_opts *o)
{
	arca_pipeline *p = NULL;
	param_names known;
	char *dflt = NULL, *list = NULL;
	struct stat st;
	size_t i;
	int rc = CLI_EXIT_USAGE;

	*out = NULL;
	*order = NULL;
	memset(params, 0, sizeof(*params));
	memset(&known, 0, sizeof(known));
	if (arca_pipeline_load(&p, o->file) < 0) {
		fprintf(stderr, "arca: %s\n", arca_errmsg());
		goto cleanup;
	}
	if (arca_pipeline_plan(order, p) < 0) {
		fprintf(stderr, "arca: %s\n", arca_errmsg());
		goto cleanup;
	}
	if (known_params(&known, p) < 0) {
		rc = repro_enomem();
		goto cleanup;
	}
	for (i = 0; i < p->n_param_values; i++) {
		if (params_set(params, p->param_names[i],
				strlen(p->param_names[i]), p->param_values[i]) < 0) {
			rc = repro_enomem();
			goto cleanup;
		}
	}
	if (o->params_file != NULL) {
		if (load_params_file(params, o->params_file, &known) < 0)
			goto cleanup;
	} else {
		if ((dflt = join_dir(p->dir, "params.yaml")) == NULL) {
			rc = repro_enomem();
			goto cleanup;
		}
		if (stat(dflt, &st) == 0 &&
		    load_params_file(params, dflt, &known) < 0)
			goto cleanup;
	}
	for (i = 0; i < o->n_kv; i++) {
		const char *eq = strchr(o->kv[i], '=');

		if (params_set(params, o->kv[i], (size_t)(eq - o->kv[i]),
				eq + 1) < 0) {
			rc = repro_enomem();
			goto cleanup;
		}
	}
	if ((rc = substitute_urls(p, params)) != 0)
		goto cleanup;
	/* After the URLs, whose errors name a file and line. */
	for (i = 0; i < o->n_kv; i++) {
		int len = (int)(strchr(o->kv[i], '=') - o->kv[i]);

		if (names_has(&known, o->kv[i], (size_t)len))
			continue;
		if ((list = names_join(&known)) == NULL) {
			rc = repro_enomem();
			goto cleanup;
		}
		cli_error("%s: -p %.*s: no stage uses param '%.*s' (known: %s)",
				o->cmd != NULL ? o->cmd : "repro", len,
				o->kv[i], len, o->kv[i], list);
		rc = CLI_EXIT_USAGE;
		goto cleanup;
	}
	*out = p;
	p = NULL;
	rc = 0;

cleanup:
	if (rc != 0) {
		free(*order);
		*order = NULL;
		cli_params_free(params);
	}
	names_free(&known);
	free(list);
	free(dflt);
	arca_pipeline_free(p);
	return rc;
}

/*
 * The names and values of the params stage def lists (borrowed), for
 * substitution. -1 when one has no value (*missing names it).
 */
static int stage_param_arrays(char ***names, char ***values, int *missing,
		const arca_pipeline_stage *def, const cli_params *params)
{
	size_t i;

	*missing = -1;
	*names = calloc(def->n_params + 1, sizeof(**names));
	*values = calloc(def->n_params + 1, sizeof(**values));
	if (*names == NULL || *values == NULL)
		return -2;
	for (i = 0; i < def->n_params; i++) {
		const char *v = cli_params_get(params, def->params[i]);

		if (v == NULL) {
			*missing = (int)i;
			return -1;
		}
		(*names)[i] = def->params[i];
		(*values)[i] = (char *)v;
	}
	return 0;
}

/*
 * ${param} substitution of def's cmd (string or each list item) into a
 * NULL-terminated argv: a string becomes /bin/sh -c STRING. Prints and
 * returns 2 (unknown param, bad substitution) or 125 (memory).
 */
static int stage_argv(char ***argv_out, const arca_pipeline *p,
		const arca_pipeline_stage *def, const cli_params *params)
{
	char **names = NULL, **values = NULL, **argv = NULL;
	size_t i, n;
	int missing, rc = CLI_EXIT_USAGE;

	*argv_out = NULL;
	switch (stage_param_arrays(&names, &values, &missing, def, params)) {
	case -2:
		rc = repro_enomem();
		goto cleanup;
	case -1:
		cli_error("%s:%d: stage '%s': unknown param '%s'", p->path,
				def->param_lines ? def->param_lines[missing] :
				def->line, def->name, def->params[missing]);
		goto cleanup;
	}
	n = def->cmd != NULL ? 3 : def->cmd_argc;
	if ((argv = calloc(n + 1, sizeof(*argv))) == NULL) {
		rc = repro_enomem();
		goto cleanup;
	}
	if (def->cmd != NULL &&
	    ((argv[0] = strdup("/bin/sh")) == NULL ||
	     (argv[1] = strdup("-c")) == NULL)) {
		rc = repro_enomem();
		goto cleanup;
	}
	for (i = def->cmd != NULL ? 2 : 0; i < n; i++) {
		const char *text = def->cmd != NULL ? def->cmd : def->cmd_argv[i];

		if (arca_pipeline_substitute(&argv[i], text, names, values,
				def->n_params) < 0) {
			cli_error("%s:%d: stage '%s': %s", p->path, def->cmd_line,
					def->name, arca_errmsg());
			goto cleanup;
		}
	}
	*argv_out = argv;
	argv = NULL;
	rc = 0;

cleanup:
	if (argv != NULL) {
		for (i = 0; i < n; i++)
			free(argv[i]);
		free(argv);
	}
	free(names);
	free(values);
	return rc;
}

static void free_argv(char **argv)
{
	size_t i;

	if (argv == NULL)
		return;
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

int cli_repro_check_params(const arca_pipeline *p, const cli_params *params,
		const unsigned char *selected)
{
	char **argv = NULL;
	size_t i;
	int rc;

	for (i = 0; i < p->n_stages; i++) {
		if (selected != NULL && !selected[i])
			continue;
		if ((rc = stage_argv(&argv, p, &p->stages[i], params)) != 0)
			return rc == CLI_RUN_EXIT_ARCA ? CLI_EXIT_STORE : rc;
		free_argv(argv);
		argv = NULL;
	}
	return 0;
}

/* --------------------------------------------------------------------- */
/* The store and the working directory                                     */
/* --------------------------------------------------------------------- */

int cli_repro_open(arca_store **store, const cli_global *g,
		const arca_pipeline *p)
{
	cli_global abs = *g;
	char *dir = NULL, *cwd = NULL, *joined = NULL;
	int error, rc = -1;

	*store = NULL;
	/* Stages run in the pipeline's directory: a relative store path
	 * must not follow them there. */
	if (g->store_dir != NULL) {
		if ((dir = strdup(g->store_dir)) == NULL) {
			repro_enomem();
			goto cleanup;
		}
	} else if ((error = arca_store_default_dir(&dir)) < 0) {
		cli_lib_error(error, "store");
		goto cleanup;
	}
	if (dir[0] != '/') {
		if ((cwd = getcwd(NULL, 0)) == NULL) {
			cli_error("cannot find the current directory: %s",
					strerror(errno));
			goto cleanup;
		}
		if ((joined = malloc(strlen(cwd) + strlen(dir) + 2)) == NULL) {
			repro_enomem();
			goto cleanup;
		}
		sprintf(joined, "%s/%s", cwd, dir);
		abs.store_dir = joined;
	} else {
		abs.store_dir = dir;
	}
	(void)p;
	if (cli_open_store(store, &abs) != 0)
		goto cleanup;
	rc = 0;

cleanup:
	free(dir);
	free(cwd);
	free(joined);
	return rc;
}

char *cli_repro_path(const arca_pipeline *p, const char *path)
{
	return join_dir(path[0] == '/' ? NULL : p->dir, path);
}

/* mkdir -p of path's parent directory. 0, or -1 with errno set. */
static int make_parent_dirs(const char *path)
{
	char *dir = strdup(path);
	char *s;
	int rc = -1;

	if (dir == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if ((s = strrchr(dir, '/')) == NULL || s == dir) {
		rc = 0;
		goto cleanup;
	}
	*s = '\0';
	for (s = dir + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(dir, 0777) < 0 && errno != EEXIST)
			goto cleanup;
		*s = '/';
	}
	if (mkdir(dir, 0777) < 0 && errno != EEXIST)
		goto cleanup;
	rc = 0;

cleanup:
	free(dir);
	return rc;
}

const arca_pipeline_stage *cli_repro_upstream(const arca_pipeline *p,
		const char *path, const arca_pipeline_stage *self)
{
	const arca_pipeline_stage *up = arca_pipeline_producer(p, path);
	size_t i, j;

	if (up != NULL && up != self)
		return up;
	for (i = 0; i < p->n_stages; i++) {
		const arca_pipeline_stage *s = &p->stages[i];

		if (s == self)
			continue;
		for (j = 0; j < s->n_deps; j++)
			if (s->deps[j].url != NULL &&
			    strcmp(s->deps[j].path, path) == 0)
				return s;
	}
	return NULL;
}

size_t cli_repro_index(const arca_pipeline *p, const arca_pipeline_stage *def)
{
	return (size_t)(def - p->stages);
}

/* --------------------------------------------------------------------- */
/* A stage's spec                                                          */
/* --------------------------------------------------------------------- */

/*
 * The tool of a shell command line: the executable named by its first
 * word, found as execvp() would from the pipeline's directory dir, when that word is a plain name or path
 * (letters, digits and _.+,/@%:-); otherwise, or when it is not found
 * (a builtin, a keyword, a function), the shell itself.
 */
static char *shell_tool(const char *cmd, const char *dir)
{
	static const char plain[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789_.+,/@%:-";
	char *word = NULL, *path = NULL;
	size_t len;

	cmd += strspn(cmd, " \t\r\n");
	len = strcspn(cmd, " \t\r\n;&|<>()");
	if (len > 0 && strspn(cmd, plain) >= len && cmd[0] != '-' &&
	    (word = strndup(cmd, len)) != NULL &&
	    arca_stage_find_command(&path, word, dir) == 0) {
		/* The word itself: the runner finds it the same way, from
		 * the stage's working directory. */
		free(path);
		return word;
	}
	free(word);
	return strdup("/bin/sh");
}

/* The freshness rule of a URL dep, as arca_fetch() applies it. */
static void url_rule(arca_fetch_options *opts, const arca_pipeline_dep *dep)
{
	if (dep->max_age_s >= 0)
		opts->max_age_s = dep->max_age_s;
	opts->time_bucket_s = dep->time_bucket_s > 0 ? dep->time_bucket_s : 0;
}

/* What the cache holds for a URL dep, and whether it is fresh by the dep's
 * rule, without a request. */
static int url_peek(cli_url_state *us, arca_digest *digest,
		arca_store *store, const arca_pipeline_dep *dep)
{
	arca_fetch_options opts = ARCA_FETCH_OPTIONS_INIT;
	arca_fetch_result res;

	memset(us, 0, sizeof(*us));
	us->dep = dep;
	url_rule(&opts, dep);
	opts.offline = 1;
	/* Offline: answers from the cache, never the network. */
	if (arca_fetch(&res, store, dep->url, &opts) < 0)
		return 0;
	*digest = res.digest;
	us->cached = 1;
	us->fetched_at = res.fetched_at;
	us->fresh = res.status == ARCA_FETCH_FRESH;
	return 0;
}

static void ago(char *buf, size_t len, int64_t then)
{
	int64_t now = (int64_t)time(NULL);

	cli_human_duration(buf, len,
			now > then ? (uint64_t)(now - then) * 1000 : 0);
}

/*
 * Fetch a URL dep through the cache and write its body at dep->path.
 * Prints one line saying how; returns 0 or 125 after an error line.
 */
static int url_fetch(arca_digest *digest, const arca_pipeline *p,
		const arca_pipeline_stage *def, const arca_pipeline_dep *dep, arca_store *store,
		int no_stale)
{
	arca_fetch_options opts = ARCA_FETCH_OPTIONS_INIT;
	arca_fetch_result res;
	char when[32], size[32], *label = NULL, *path = NULL;
	int error, rc = CLI_RUN_EXIT_ARCA;

	url_rule(&opts, dep);
	opts.no_stale = no_stale;
	opts.progress = cli_progress_update;
	if ((label = malloc(strlen(dep->path) + 8)) != NULL) {
		sprintf(label, "fetch %s", dep->path);
		cli_progress_begin(label);
	}
	error = arca_fetch(&res, store, dep->url, &opts);
	cli_progress_end();
	free(label);
	if (error < 0) {
		cli_error("%s:%d: stage '%s': url %s: %s", p->path, dep->line,
				def->name, dep->url, cli_lib_detail(error));
		return CLI_RUN_EXIT_ARCA;
	}
	ago(when, sizeof(when), res.fetched_at);
	cli_human_size(size, sizeof(size), res.size);
	switch (res.status) {
	case ARCA_FETCH_FRESH:
		cli_error("url %s: fresh (fetched %s ago), no request", dep->url,
				when);
		break;
	case ARCA_FETCH_NOT_MODIFIED:
		cli_error("url %s: not modified (304), cached copy kept",
				dep->url);
		break;
	case ARCA_FETCH_DOWNLOADED:
		cli_error("url %s: downloaded %s", dep->url, size);
		break;
	case ARCA_FETCH_STALE:
		cli_warn("url %s: server unavailable (%s); using the cached copy "
				"fetched %s ago (stale)", dep->url,
				cli_lib_detail(ARCA_EUNAVAILABLE), when);
		break;
	}
	if ((path = cli_repro_path(p, dep->path)) == NULL)
		return repro_enomem();
	if (make_parent_dirs(path) < 0) {
		cli_error("%s:%d: stage '%s': url %s: cannot create the "
				"directory of '%s': %s", p->path, dep->line, def->name,
				dep->url, dep->path, strerror(errno));
		goto cleanup;
	}
	if ((error = arca_blob_get_file(store, &res.digest, path, 0644)) < 0) {
		cli_error("%s:%d: stage '%s': url %s: writing '%s': %s", p->path,
				dep->line, def->name, dep->url, dep->path,
				cli_lib_detail(error));
		goto cleanup;
	}
	*digest = res.digest;
	rc = 0;

cleanup:
	free(path);
	return rc;
}

void cli_repro_stage_free(cli_repro_stage *rs)
{
	size_t i;

	if (rs == NULL)
		return;
	free_argv(rs->argv);
	free(rs->tool_path);
	free(rs->inputs);
	free(rs->url_digests);
	free(rs->params);
	for (i = 0; i < rs->n_absent; i++)
		free(rs->absent[i]);
	free(rs->absent);
	free(rs->outputs);
	free(rs->env);
	free(rs->missing);
	free(rs->urls);
	memset(rs, 0, sizeof(*rs));
}

/* Whether an absent dep may be absent: optional itself or made by an
 * optional stage. */
static int dep_optional(const arca_pipeline *p, const arca_pipeline_stage *def,
		const arca_pipeline_dep *dep)
{
	const arca_pipeline_stage *up = cli_repro_upstream(p, dep->path, def);

	return dep->optional || (up != NULL && up->optional);
}

int cli_repro_stage_build(cli_repro_stage *rs, const arca_pipeline *p,
		const arca_pipeline_stage *def, const cli_params *params,
		arca_store *store, cli_deps_mode mode, int no_stale)
{
	arca_stage_spec *spec = &rs->spec;
	arca_stage_spec init = ARCA_STAGE_SPEC_INIT;
	size_t i, n_in = 0, n_par = 0;
	struct stat st;
	int rc;

	memset(rs, 0, sizeof(*rs));
	*spec = init;
	rs->def = def;
	if ((rc = stage_argv(&rs->argv, p, def, params)) != 0)
		return rc;
	rs->inputs = calloc(def->n_deps + 1, sizeof(*rs->inputs));
	rs->url_digests = calloc(def->n_deps + 1, sizeof(*rs->url_digests));
	rs->params = calloc(def->n_params + def->n_deps + 1,
			sizeof(*rs->params));
	rs->absent = calloc(def->n_deps + 1, sizeof(*rs->absent));
	rs->outputs = calloc(def->n_outs + 1, sizeof(*rs->outputs));
	rs->env = calloc(def->n_env + 1, sizeof(*rs->env));
	rs->missing = calloc(def->n_deps + 1, sizeof(*rs->missing));
	rs->urls = calloc(def->n_deps + 1, sizeof(*rs->urls));
	if (!rs->inputs || !rs->url_digests || !rs->params || !rs->absent ||
	    !rs->outputs || !rs->env || !rs->missing || !rs->urls)
		return repro_enomem();

	for (i = 0; i < def->n_params; i++) {
		rs->params[n_par].name = def->params[i];
		rs->params[n_par++].value = cli_params_get(params, def->params[i]);
	}
	for (i = 0; i < def->n_deps; i++) {
		const arca_pipeline_dep *dep = &def->deps[i];
		arca_stage_input *in = &rs->inputs[n_in];
		char *path;
		int found;

		if (dep->url != NULL) {
			if (mode == CLI_DEPS_RUN) {
				if ((rc = url_fetch(&rs->url_digests[i], p, def, dep,
						store, no_stale)) != 0)
					return rc;
			} else {
				cli_url_state *us = &rs->urls[rs->n_urls++];

				url_peek(us, &rs->url_digests[i], store, dep);
				if (!us->cached) {
					rs->n_uncached++;
					continue;
				}
			}
			/* The URL is the input's name: it is in the key. */
			in->name = dep->url;
			in->path = dep->path;
			in->digest = &rs->url_digests[i];
			n_in++;
			continue;
		}
		/* Dep paths are the pipeline directory's. */
		if ((path = cli_repro_path(p, dep->path)) == NULL)
			return repro_enomem();
		found = stat(path, &st) == 0;
		free(path);
		if (found) {
			in->name = dep->path;
			in->path = dep->path;
			n_in++;
			continue;
		}
		if (dep_optional(p, def, dep)) {
			/* Absent is not the same action as present. */
			char *name = malloc(sizeof(CLI_ABSENT_PARAM) +
					strlen(dep->path));

			if (name == NULL)
				return repro_enomem();
			sprintf(name, "%s%s", CLI_ABSENT_PARAM, dep->path);
			rs->absent[rs->n_absent++] = name;
			rs->params[n_par].name = name;
			rs->params[n_par++].value = "1";
			continue;
		}
		if (mode == CLI_DEPS_PEEK) {
			rs->missing[rs->n_missing++] = dep;
			continue;
		}
		cli_error("%s:%d: stage '%s': dep '%s': %s", p->path, dep->line,
				def->name, dep->path, strerror(errno));
		return CLI_RUN_EXIT_ARCA;
	}
	for (i = 0; i < def->n_outs; i++)
		rs->outputs[i] = def->outs[i].path;
	for (i = 0; i < def->n_env; i++)
		rs->env[i] = def->env[i];
	if (def->tool_version == NULL && def->cmd != NULL &&
	    (rs->tool_path = shell_tool(rs->argv[2], p->dir)) == NULL)
		return repro_enomem();

	spec->stage = def->name;
	spec->argv = rs->argv;
	spec->inputs = rs->inputs;
	spec->n_inputs = n_in;
	spec->outputs = rs->outputs;
	spec->n_outputs = def->n_outs;
	spec->params = rs->params;
	spec->n_params = n_par;
	spec->env = rs->env;
	spec->n_env = def->n_env;
	spec->tool_version = def->tool_version;
	spec->tool_path = rs->tool_path;
	spec->flags = def->cache ? 0 : ARCA_STAGE_NO_CACHE;
	/* Stages run in the pipeline's directory; their paths are its. */
	spec->workdir = p->dir;
	/* `ttl:` of the stage (else the configured default, cmd_repro.c). */
	spec->ttl_s = def->ttl_s > 0 ? (uint64_t)def->ttl_s : 0;
	return 0;
}

/* --------------------------------------------------------------------- */
/* Predictions                                                             */
/* --------------------------------------------------------------------- */

void cli_prediction_free(cli_prediction *pr)
{
	size_t i;

	if (pr == NULL)
		return;
	for (i = 0; i < pr->n_reasons; i++)
		free(pr->reasons[i]);
	for (i = 0; i < pr->n_notes; i++)
		free(pr->notes[i]);
	free(pr->reasons);
	free(pr->notes);
	memset(pr, 0, sizeof(*pr));
}

/* Append a formatted phrase to a list. 0 or -1. */
static int add_phrase(char ***list, size_t *n, const char *fmt, ...)
	CLI_PRINTF(3, 4);

static int add_phrase(char ***list, size_t *n, const char *fmt, ...)
{
	va_list ap;
	char **grown, *s;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0 || (s = malloc((size_t)len + 1)) == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)len + 1, fmt, ap);
	va_end(ap);
	if ((grown = realloc(*list, (*n + 1) * sizeof(*grown))) == NULL) {
		free(s);
		return -1;
	}
	*list = grown;
	grown[(*n)++] = s;
	return 0;
}

/* The keys of a stage's most recent entries (those created in the same
 * second as the newest). */
#define LATEST_MAX 64
typedef struct latest {
	arca_digest keys[LATEST_MAX];
	size_t n;
	int64_t created;
} latest;

static int latest_cb(const arca_action_info *info, void *ctx)
{
	latest *l = ctx;

	if (l->n > 0 && info->created != l->created)
		return 1;
	l->created = info->created;
	l->keys[l->n++] = info->key;
	return l->n == LATEST_MAX;
}

static const arca_manifest_kv *find_kv(const arca_manifest_kv *kv, size_t n,
		const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(kv[i].name, name) == 0)
			return &kv[i];
	return NULL;
}

static const arca_manifest_input *find_input(const arca_manifest *m,
		const char *name)
{
	size_t i;

	for (i = 0; i < m->n_inputs; i++)
		if (strcmp(m->inputs[i].name, name) == 0)
			return &m->inputs[i];
	return NULL;
}

static int str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int has_name(char **names, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return 1;
	return 0;
}

/* Say how cur (the action now) differs from prev (the last cached run). */
static int argv_equal(char *const *argv, size_t argc,
		const arca_manifest *m)
{
	size_t i;

	for (i = 0; i < argc && argv[i] != NULL; i++)
		if (i >= m->argc || strcmp(argv[i], m->argv[i]) != 0)
			return 0;
	return i == argc && i == m->argc;
}

/*
 * Say how cur (the action now) differs from prev (the last cached run).
 * then_argv is the command as the stage's cmd would read with prev's
 * param values (NULL when unknown): when it matches prev, a different
 * argv is the params' doing, not a changed command.
 */
static int diff_manifests(cli_prediction *pr, const arca_manifest *cur,
		const arca_manifest *prev, const arca_stage_spec *spec,
		char *const *then_argv)
{
	size_t before = pr->n_reasons, i, j;
	int changed;

	changed = !argv_equal(cur->argv, cur->argc, prev);
	if (changed && then_argv != NULL) {
		for (i = 0; then_argv[i] != NULL; i++)
			;
		changed = !argv_equal(then_argv, i, prev);
	}
	if (changed && add_phrase(&pr->reasons, &pr->n_reasons,
			"command changed") < 0)
		return -1;
	for (i = 0; i < cur->n_inputs; i++) {
		const arca_manifest_input *pi = find_input(prev,
				cur->inputs[i].name);

		if (pi == NULL ? add_phrase(&pr->reasons, &pr->n_reasons,
				"new input '%s'", cur->inputs[i].name) < 0 :
		    !arca_digest_equal(&pi->digest, &cur->inputs[i].digest) &&
		    add_phrase(&pr->reasons, &pr->n_reasons,
				"input '%s' changed", cur->inputs[i].name) < 0)
			return -1;
	}
	for (i = 0; i < prev->n_inputs; i++)
		if (find_input(cur, prev->inputs[i].name) == NULL &&
		    add_phrase(&pr->reasons, &pr->n_reasons,
				"input '%s' removed", prev->inputs[i].name) < 0)
			return -1;
	/* Absent optional deps show as inputs added or removed above. */
	for (i = 0; i < cur->n_params; i++) {
		const arca_manifest_kv *c = &cur->params[i], *o;

		if (cli_starts_with(c->name, CLI_ABSENT_PARAM))
			continue;
		o = find_kv(prev->params, prev->n_params, c->name);
		if (o == NULL ? add_phrase(&pr->reasons, &pr->n_reasons,
				"new param '%s' (%s)", c->name, c->value) < 0 :
		    !str_eq(o->value, c->value) &&
		    add_phrase(&pr->reasons, &pr->n_reasons,
				"param '%s' changed (%s -> %s)", c->name, o->value,
				c->value) < 0)
			return -1;
	}
	for (i = 0; i < prev->n_params; i++)
		if (!cli_starts_with(prev->params[i].name, CLI_ABSENT_PARAM) &&
		    find_kv(cur->params, cur->n_params,
				prev->params[i].name) == NULL &&
		    add_phrase(&pr->reasons, &pr->n_reasons,
				"param '%s' removed", prev->params[i].name) < 0)
			return -1;
	/* Secret values are not in manifests: only names can be compared. */
	for (i = 0; i < cur->n_secret_params; i++)
		if (!has_name(prev->secret_params, prev->n_secret_params,
				cur->secret_params[i]) &&
		    add_phrase(&pr->reasons, &pr->n_reasons,
				"new secret param '%s'", cur->secret_params[i]) < 0)
			return -1;
	for (i = 0; i < prev->n_secret_params; i++)
		if (!has_name(cur->secret_params, cur->n_secret_params,
				prev->secret_params[i]) &&
		    add_phrase(&pr->reasons, &pr->n_reasons,
				"secret param '%s' removed",
				prev->secret_params[i]) < 0)
			return -1;
	for (i = 0; i < cur->n_env; i++) {
		const arca_manifest_kv *o = find_kv(prev->env, prev->n_env,
				cur->env[i].name);

		if ((o == NULL || !str_eq(o->value, cur->env[i].value)) &&
		    add_phrase(&pr->reasons, &pr->n_reasons, "env '%s' changed",
				cur->env[i].name) < 0)
			return -1;
	}
	for (i = 0; i < prev->n_env; i++)
		if (find_kv(cur->env, cur->n_env, prev->env[i].name) == NULL &&
		    add_phrase(&pr->reasons, &pr->n_reasons, "env '%s' removed",
				prev->env[i].name) < 0)
			return -1;
	if (!str_eq(cur->tool, prev->tool) &&
	    add_phrase(&pr->reasons, &pr->n_reasons, "tool changed") < 0)
		return -1;
	changed = spec->n_outputs != prev->n_outputs;
	for (i = 0; !changed && i < spec->n_outputs; i++) {
		for (j = 0; j < prev->n_outputs; j++)
			if (strcmp(prev->outputs[j].path, spec->outputs[i]) == 0)
				break;
		changed = j == prev->n_outputs;
	}
	if (changed && add_phrase(&pr->reasons, &pr->n_reasons,
			"outputs changed") < 0)
		return -1;
	if (pr->n_reasons == before) {
		const char *why = cur->n_secret_params > 0 ?
			"a secret param changed (values are not shown)" :
			"its action key changed";

		if (add_phrase(&pr->reasons, &pr->n_reasons, "%s", why) < 0)
			return -1;
	}
	return 0;
}

/*
 * Diff cur against the cached run key into pr. 0; 1 when the entry is
 * gone; -1 out of memory.
 */
static int diff_entry(cli_prediction *pr, arca_store *store,
		const arca_pipeline *p, const arca_pipeline_stage *def,
		const cli_params *params, const arca_manifest *cur,
		const arca_stage_spec *spec, const arca_digest *key)
{
	arca_manifest *prev = NULL;
	cli_params then;
	char **then_argv = NULL;
	size_t i;
	int rc = -1;

	memset(&then, 0, sizeof(then));
	if (arca_action_peek(&prev, store, key) < 0) {
		rc = 1;
		goto cleanup;
	}
	/* The command as it read then: the current cmd with the param
	 * values of the previous run. */
	for (i = 0; i < params->n; i++)
		if (params_set(&then, params->names[i], strlen(params->names[i]),
				params->values[i]) < 0)
			goto cleanup;
	for (i = 0; i < prev->n_params; i++)
		if (prev->params[i].value != NULL &&
		    params_set(&then, prev->params[i].name,
				strlen(prev->params[i].name),
				prev->params[i].value) < 0)
			goto cleanup;
	if (stage_argv(&then_argv, p, def, &then) != 0)
		then_argv = NULL;
	rc = diff_manifests(pr, cur, prev, spec, then_argv);

cleanup:
	free_argv(then_argv);
	cli_params_free(&then);
	arca_manifest_free(prev);
	return rc;
}

/*
 * Why a stage whose key is not cached would run: how the action differs
 * from the stage's most recent cached run (of several created in the
 * same second, the one with the fewest differences).
 */
static int explain_miss(cli_prediction *pr, arca_store *store,
		const arca_pipeline *p, const arca_pipeline_stage *def,
		const cli_params *params, const arca_stage *st,
		const arca_stage_spec *spec)
{
	arca_manifest *cur = NULL;
	cli_prediction best, one;
	latest *l = NULL;
	size_t i;
	int have = 0, error, rc = -1;

	memset(&best, 0, sizeof(best));
	memset(&one, 0, sizeof(one));
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    arca_manifest_from_action(&cur, arca_stage_action(st)) < 0)
		goto cleanup;
	error = arca_action_list(store, def->name, latest_cb, l);
	for (i = 0; error >= 0 && i < l->n; i++) {
		if ((error = diff_entry(&one, store, p, def, params, cur, spec,
				&l->keys[i])) < 0)
			goto cleanup;
		if (error == 0 && (!have || one.n_reasons < best.n_reasons)) {
			cli_prediction_free(&best);
			best = one;
			memset(&one, 0, sizeof(one));
			have = 1;
		}
		cli_prediction_free(&one);
		error = 0;
	}
	if (!have) {
		/* No entry for the stage (or none readable). */
		rc = add_phrase(&pr->reasons, &pr->n_reasons, "never run");
		goto cleanup;
	}
	for (i = 0; i < best.n_reasons; i++)
		if (add_phrase(&pr->reasons, &pr->n_reasons, "%s",
				best.reasons[i]) < 0)
			goto cleanup;
	rc = 0;

cleanup:
	cli_prediction_free(&best);
	cli_prediction_free(&one);
	arca_manifest_free(cur);
	free(l);
	return rc;
}

void cli_predicted_files_free(cli_predicted_files *f)
{
	if (f == NULL)
		return;
	free(f->files);
	memset(f, 0, sizeof(*f));
}

static const arca_digest *predicted_find(const cli_predicted_files *f,
		const char *path)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->files[i].path, path) == 0)
			return &f->files[i].digest;
	return NULL;
}

/* Record path (borrowed) as holding digest, over an earlier record. 0 or
 * -1 (out of memory). */
static int predicted_add(cli_predicted_files *f, const char *path,
		const arca_digest *digest)
{
	cli_predicted_file *grown;
	size_t i;

	for (i = 0; i < f->n; i++) {
		if (strcmp(f->files[i].path, path) == 0) {
			f->files[i].digest = *digest;
			return 0;
		}
	}
	if ((grown = realloc(f->files, (f->n + 1) * sizeof(*grown))) == NULL)
		return -1;
	f->files = grown;
	grown[f->n].path = path;
	grown[f->n++].digest = *digest;
	return 0;
}

/*
 * The digest dep would have when def starts: what files holds for it
 * when an upstream stage writes it and does not run; NULL (the file as
 * it is on disk) otherwise.
 */
static const arca_digest *predicted_dep(const arca_pipeline *p,
		const arca_pipeline_stage *def, const arca_pipeline_dep *dep,
		const unsigned char *upstream, const cli_predicted_files *files)
{
	const arca_pipeline_stage *up;

	if (files == NULL || dep->url != NULL ||
	    (up = cli_repro_upstream(p, dep->path, def)) == NULL ||
	    upstream[cli_repro_index(p, up)])
		return NULL;
	return predicted_find(files, dep->path);
}

/*
 * Re-point rs->spec at the deps as upstream hits would restore them
 * (predicted_dep): such a dep is an input with the predicted digest, and
 * neither missing (taken out of rs->missing) nor absent (its
 * "arca:absent:PATH" param dropped). *ins and *pars are the spec's new
 * arrays, which the caller frees. 0 or -1 (out of memory).
 */
static int apply_predicted(arca_stage_input **ins, arca_stage_param **pars,
		cli_repro_stage *rs, const arca_pipeline *p,
		const arca_pipeline_stage *def, const unsigned char *upstream,
		const cli_predicted_files *files)
{
	arca_stage_spec *spec = &rs->spec;
	size_t i, j, n_in = spec->n_inputs, n_par = 0, n_miss;

	*ins = calloc(spec->n_inputs + def->n_deps + 1, sizeof(**ins));
	*pars = calloc(spec->n_params + 1, sizeof(**pars));
	if (*ins == NULL || *pars == NULL)
		return -1;
	if (spec->n_inputs > 0)
		memcpy(*ins, spec->inputs, spec->n_inputs * sizeof(**ins));
	for (i = 0; i < spec->n_params; i++)
		(*pars)[n_par++] = spec->params[i];
	for (i = 0; i < def->n_deps; i++) {
		const arca_pipeline_dep *dep = &def->deps[i];
		const arca_digest *d = predicted_dep(p, def, dep, upstream,
				files);
		size_t kept;

		if (d == NULL)
			continue;
		for (j = 0; j < n_in; j++)
			if (strcmp((*ins)[j].name, dep->path) == 0)
				break;
		if (j == n_in) {
			(*ins)[n_in].name = dep->path;
			(*ins)[n_in++].path = dep->path;
		}
		(*ins)[j].digest = d;
		for (j = kept = 0; j < n_par; j++) {
			const char *name = (*pars)[j].name;

			if (cli_starts_with(name, CLI_ABSENT_PARAM) &&
			    strcmp(name + strlen(CLI_ABSENT_PARAM),
					dep->path) == 0)
				continue;
			(*pars)[kept++] = (*pars)[j];
		}
		n_par = kept;
		for (j = n_miss = 0; j < rs->n_missing; j++)
			if (strcmp(rs->missing[j]->path, dep->path) != 0)
				rs->missing[n_miss++] = rs->missing[j];
		rs->n_missing = n_miss;
	}
	spec->inputs = *ins;
	spec->n_inputs = n_in;
	spec->params = *pars;
	spec->n_params = n_par;
	return 0;
}

/*
 * A stage predicted not to run leaves for the stages after it: its
 * outputs as its cached manifest m records them (when it would hit) and
 * the bodies of its cached URL deps. 0 or -1 (out of memory).
 */
static int predicted_record(cli_predicted_files *files,
		const arca_pipeline_stage *def, const cli_repro_stage *rs,
		const arca_manifest *m)
{
	size_t i, j;

	for (i = 0; i < rs->n_urls; i++) {
		const cli_url_state *us = &rs->urls[i];

		if (us->cached && predicted_add(files, us->dep->path,
				&rs->url_digests[us->dep - def->deps]) < 0)
			return -1;
	}
	for (i = 0; m != NULL && def->cache && i < def->n_outs; i++) {
		const char *path = def->outs[i].path;

		for (j = 0; j < m->n_outputs; j++)
			if (strcmp(m->outputs[j].path, path) == 0 &&
			    predicted_add(files, path,
					&m->outputs[j].digest) < 0)
				return -1;
	}
	return 0;
}

int cli_repro_predict(cli_prediction *out, const arca_pipeline *p,
		const arca_pipeline_stage *def, const cli_params *params,
		arca_store *store, const unsigned char *upstream,
		cli_predicted_files *files)
{
	cli_repro_stage rs;
	arca_stage *st = NULL;
	arca_stage_input *ins = NULL;
	arca_stage_param *pars = NULL;
	arca_manifest *m = NULL;
	unsigned char *named = NULL;
	char when[32];
	size_t i;
	int error, rc = CLI_RUN_EXIT_ARCA;

	memset(out, 0, sizeof(*out));
	memset(&rs, 0, sizeof(rs));
	if ((named = calloc(p->n_stages + 1, 1)) == NULL)
		return repro_enomem();
	if ((rc = cli_repro_stage_build(&rs, p, def, params, store,
			CLI_DEPS_PEEK, 0)) != 0)
		goto cleanup;
	rc = CLI_RUN_EXIT_ARCA;
	/* Deps that upstream hits restore count as restored. */
	if (files != NULL && apply_predicted(&ins, &pars, &rs, p, def,
			upstream, files) < 0)
		goto enomem;
	out->always = !def->cache;
	/* An upstream stage that would run may rewrite what this one reads:
	 * its current output may still be the old one. */
	for (i = 0; i < def->n_deps; i++) {
		const arca_pipeline_stage *up = cli_repro_upstream(p, def->deps[i].path,
				def);
		size_t u;

		if (up == NULL || !upstream[u = cli_repro_index(p, up)] ||
		    named[u])
			continue;
		named[u] = 1;
		if (add_phrase(&out->reasons, &out->n_reasons,
				"a dependency would run first: %s (its output '%s' "
				"may still be the old one)", up->name,
				def->deps[i].path) < 0)
			goto enomem;
	}
	for (i = 0; i < rs.n_missing; i++) {
		const arca_pipeline_stage *up = cli_repro_upstream(p,
				rs.missing[i]->path, def);

		if (up != NULL && upstream[cli_repro_index(p, up)])
			continue;
		/* A stage with cache: false runs every time, so the file will
		 * be there, but what it will hold cannot be known. */
		if (up != NULL && !up->cache) {
			if (add_phrase(&out->reasons, &out->n_reasons,
					"a dependency would run first: %s "
					"(cache: false; its output '%s' is "
					"not there yet)", up->name,
					rs.missing[i]->path) < 0)
				goto enomem;
			continue;
		}
		if (add_phrase(&out->reasons, &out->n_reasons,
				"dep '%s' is missing (%s:%d)", rs.missing[i]->path,
				p->path, rs.missing[i]->line) < 0)
			goto enomem;
	}
	for (i = 0; i < rs.n_urls; i++) {
		const cli_url_state *us = &rs.urls[i];

		if (!us->cached) {
			if (add_phrase(&out->reasons, &out->n_reasons,
					"url %s not cached", us->dep->url) < 0)
				goto enomem;
			continue;
		}
		if (us->fresh)
			continue;
		ago(when, sizeof(when), us->fetched_at);
		if (add_phrase(&out->notes, &out->n_notes,
				"url %s would be revalidated (fetched %s ago)",
				us->dep->url, when) < 0)
			goto enomem;
	}

	/* The key can only be computed when everything it covers is here. */
	if (rs.n_missing == 0 && rs.n_uncached == 0) {
		if ((error = arca_stage_prepare(&st, NULL, store,
				&rs.spec)) < 0) {
			cli_error("%s", cli_lib_detail(error));
			if (add_phrase(&out->reasons, &out->n_reasons,
					"its action key cannot be computed (see above)") < 0)
				goto enomem;
		} else if ((error = arca_action_peek(&m, store,
				arca_stage_key(st))) == 0) {
			out->cached = 1;
		} else if (error != ARCA_ENOTFOUND) {
			cli_lib_error(error, "stage %s: cache lookup", def->name);
			rc = CLI_EXIT_STORE;
			goto cleanup;
		} else if (def->cache &&
		           explain_miss(out, store, p, def, params, st,
				&rs.spec) < 0) {
			goto enomem;
		}
	}
	out->would_run = out->n_reasons > 0;
	/* Last: rs.spec may point into files, which this may move. */
	if (files != NULL && !out->would_run &&
	    predicted_record(files, def, &rs, out->cached ? m : NULL) < 0)
		goto enomem;
	rc = 0;
	goto cleanup;

enomem:
	rc = repro_enomem();
cleanup:
	if (rc != 0)
		cli_prediction_free(out);
	arca_manifest_free(m);
	arca_stage_free(st);
	cli_repro_stage_free(&rs);
	free(ins);
	free(pars);
	free(named);
	return rc;
}
