/*
 * Running a pipeline file and predicting a run (arca/pipeline_run.h):
 * the params of a run, the stages selected and forced, each pipeline
 * stage turned into a stage spec with its deps resolved (URLs fetched and
 * materialised, deps that may be absent passed as optional inputs), the
 * run itself
 * (optional stages degrading), and the predictions of arca status and of
 * a dry run.
 */
#include "internal.h"
#include "fsutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ABSENT ARCA_STAGE_ABSENT_PARAM

/* --------------------------------------------------------------------- */
/* Small helpers                                                           */
/* --------------------------------------------------------------------- */

static int starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* The detail of code as a front end shows it: arca_errmsg() when set,
 * else the code's text; copied, since the caller goes on to set the
 * message again. */
static void detail(char *buf, size_t len, int code)
{
	const char *msg = arca_errmsg();

	snprintf(buf, len, "%s", (msg != NULL && msg[0] != '\0') ? msg :
			arca_strerror(code));
}

/* Append a formatted phrase to a list. 0 or -1. */
static int add_phrase(char ***list, size_t *n, const char *fmt, ...)
	ARCA__PRINTF(3, 4);

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

static void free_list(char **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
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

/* dir joined with name ("name" when dir is NULL or "."). */
static char *join_dir(const char *dir, const char *name)
{
	char *out;

	if (dir == NULL || strcmp(dir, ".") == 0)
		return arca__strdup(name);
	if ((out = malloc(strlen(dir) + strlen(name) + 2)) == NULL)
		return NULL;
	sprintf(out, "%s/%s", dir, name);
	return out;
}

/* A path of the pipeline (relative to its directory) as a path from the
 * current directory. */
static char *pipeline_path(const arca_pipeline *p, const char *path)
{
	return join_dir(path[0] == '/' ? NULL : p->dir, path);
}

/* A duration as the CLI prints it ("850 ms", "1.2 s", "3m 05s",
 * "2h 00m"), for the phrases of predictions. */
static void human_duration(char *buf, size_t len, uint64_t ms)
{
	unsigned long long s = ms / 1000;

	if (ms < 1000)
		snprintf(buf, len, "%llu ms", (unsigned long long)ms);
	else if (ms < 60000)
		snprintf(buf, len, "%.1f s", (double)ms / 1000.0);
	else if (s < 3600)
		snprintf(buf, len, "%llum %02llus", s / 60, s % 60);
	else
		snprintf(buf, len, "%lluh %02llum", s / 3600, (s % 3600) / 60);
}

/* --------------------------------------------------------------------- */
/* Parameters                                                              */
/* --------------------------------------------------------------------- */

/* Parameter values by name (owned copies). */
typedef struct params {
	char **names;
	char **values;
	size_t n;
} params;

static void params_free(params *pa)
{
	size_t i;

	for (i = 0; i < pa->n; i++) {
		free(pa->names[i]);
		free(pa->values[i]);
	}
	free(pa->names);
	free(pa->values);
	memset(pa, 0, sizeof(*pa));
}

static const char *params_get(const params *pa, const char *name)
{
	size_t i;

	for (i = 0; i < pa->n; i++)
		if (strcmp(pa->names[i], name) == 0)
			return pa->values[i];
	return NULL;
}

/* Set name to value (copies), replacing an earlier value. 0 or -1. */
static int params_set(params *pa, const char *name, const char *value)
{
	char *n = NULL, *v = NULL, **names, **values;
	size_t i;

	if ((n = arca__strdup(name)) == NULL ||
	    (v = arca__strdup(value)) == NULL)
		goto fail;
	for (i = 0; i < pa->n; i++) {
		if (strcmp(pa->names[i], n) == 0) {
			free(pa->values[i]);
			pa->values[i] = v;
			free(n);
			return 0;
		}
	}
	if ((names = realloc(pa->names, (pa->n + 1) * sizeof(*names))) == NULL)
		goto fail;
	pa->names = names;
	if ((values = realloc(pa->values,
			(pa->n + 1) * sizeof(*values))) == NULL)
		goto fail;
	pa->values = values;
	pa->names[pa->n] = n;
	pa->values[pa->n] = v;
	pa->n++;
	return 0;

fail:
	free(n);
	free(v);
	return -1;
}

/*
 * The names of the params the stages use, sorted, each once: those in a
 * stage's `params:` and those a URL dep refers to as ${name}. A value for
 * any other name would change nothing, so such a name is an error: a
 * typo or a param of another pipeline. The top-level `params:` defaults
 * do not make a name known.
 */
typedef struct names {
	char **names;  /* owned copies */
	size_t n;
} names;

static void names_free(names *k)
{
	free_list(k->names, k->n);
	memset(k, 0, sizeof(*k));
}

static int names_has(const names *k, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		if (strlen(k->names[i]) == len &&
		    memcmp(k->names[i], name, len) == 0)
			return 1;
	return 0;
}

/* Insert the len bytes at name, in sorted place, unless there. 0 or -1. */
static int names_add(names *k, const char *name, size_t len)
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
 * Collect the params p's stages use. URL deps are read as written and
 * scanned as arca_pipeline_substitute() scans them ("$${" is a literal
 * "${"; a malformed reference is left to it). 0 or -1 (out of memory).
 */
static int known_params(names *k, const arca_pipeline *p)
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
					if (names_add(k, s + 2,
							(size_t)(end - s - 2)) < 0)
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

int arca_pipeline_param_check(const arca_pipeline *p, const char *name)
{
	names known;
	size_t i, len = 5;
	char *list = NULL;
	int rc;

	arca__error_clear();
	memset(&known, 0, sizeof(known));
	if (p == NULL || name == NULL)
		return arca__error(ARCA_EINVAL, "param check: NULL argument");
	if (known_params(&known, p) < 0) {
		rc = arca__error(ARCA_ENOMEM, "%s: out of memory", p->path);
		goto cleanup;
	}
	if (names_has(&known, name, strlen(name))) {
		rc = 0;
		goto cleanup;
	}
	for (i = 0; i < known.n; i++)
		len += strlen(known.names[i]) + 2;
	if ((list = malloc(len)) == NULL) {
		rc = arca__error(ARCA_ENOMEM, "%s: out of memory", p->path);
		goto cleanup;
	}
	strcpy(list, known.n == 0 ? "none" : "");
	for (i = 0; i < known.n; i++) {
		if (i > 0)
			strcat(list, ", ");
		strcat(list, known.names[i]);
	}
	rc = arca__error(ARCA_ENOTFOUND, "no stage uses param '%s' (known: %s)",
			name, list);

cleanup:
	free(list);
	names_free(&known);
	return rc;
}

/* --------------------------------------------------------------------- */
/* A run's context                                                         */
/* --------------------------------------------------------------------- */

typedef struct prun {
	const arca_pipeline *p;
	arca_store *store;
	const arca_pipeline_run_options *opts;
	size_t *order;
	params pa;
	/* The URL of each dep after substitution (NULL for a file dep):
	 * urls[stage][dep]. */
	char ***urls;
	unsigned char *selected;
	unsigned char *forced;
	arca_pipeline_report *report;
	/* Of the stage running: its report entry and the stage event
	 * context. */
	const arca_pipeline_stage *cur;
	int cur_no_cache;
} prun;

static void emit(const prun *r, arca_pipeline_event *ev)
{
	if (r->opts->event != NULL)
		r->opts->event(r->opts->event_ctx, ev);
}

static void event_init(arca_pipeline_event *ev, arca_pipeline_event_kind kind,
		const arca_pipeline_stage *def)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->stage = def;
	ev->message = "";
}

static size_t stage_index(const arca_pipeline *p,
		const arca_pipeline_stage *def)
{
	return (size_t)(def - p->stages);
}

static const char *dep_url(const prun *r, const arca_pipeline_stage *def,
		const arca_pipeline_dep *dep)
{
	if (dep->url == NULL)
		return NULL;
	return r->urls[stage_index(r->p, def)][dep - def->deps];
}

/*
 * The stage that writes path (as an output, or as the body of one of its
 * URL deps), other than self; NULL when none does.
 */
static const arca_pipeline_stage *upstream_of(const arca_pipeline *p,
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

static void prun_free(prun *r)
{
	size_t i, j;

	if (r->urls != NULL) {
		for (i = 0; i < r->p->n_stages; i++) {
			if (r->urls[i] == NULL)
				continue;
			for (j = 0; j < r->p->stages[i].n_deps; j++)
				free(r->urls[i][j]);
			free(r->urls[i]);
		}
		free(r->urls);
	}
	params_free(&r->pa);
	free(r->order);
	free(r->selected);
	free(r->forced);
	memset(r, 0, sizeof(*r));
}

/*
 * ${name} in a URL dep takes the param's value (the URL itself is the
 * input's name, so it is in the key). The result must still be an
 * http(s) URL.
 */
static int substitute_urls(prun *r)
{
	const arca_pipeline *p = r->p;
	char msg[1024];
	size_t i, j;
	int error, rc = ARCA_ENOMEM;

	if ((r->urls = calloc(p->n_stages + 1, sizeof(*r->urls))) == NULL)
		goto enomem;
	for (i = 0; i < p->n_stages; i++) {
		const arca_pipeline_stage *def = &p->stages[i];

		if ((r->urls[i] = calloc(def->n_deps + 1,
				sizeof(**r->urls))) == NULL)
			goto enomem;
		for (j = 0; j < def->n_deps; j++) {
			const arca_pipeline_dep *d = &def->deps[j];
			char *url = NULL;

			if (d->url == NULL)
				continue;
			if ((error = arca_pipeline_substitute(&url, d->url,
					r->pa.names, r->pa.values, r->pa.n)) < 0) {
				detail(msg, sizeof(msg), error);
				rc = arca__error(error, "%s:%d: stage '%s': url: %s",
						p->path, d->line, def->name, msg);
				goto cleanup;
			}
			r->urls[i][j] = url;
			if (strncasecmp(url, "http://", 7) != 0 &&
			    strncasecmp(url, "https://", 8) != 0) {
				rc = arca__error(ARCA_EINVAL, "%s:%d: stage '%s': "
						"URL '%s' must start with http:// or "
						"https://", p->path, d->line, def->name,
						url);
				goto cleanup;
			}
		}
	}
	rc = 0;
	goto cleanup;

enomem:
	rc = arca__error(ARCA_ENOMEM, "%s: out of memory", p->path);
cleanup:
	return rc;
}

/*
 * Mark the stages to run: those named (all when none is) and, in reverse
 * plan order, every stage they read from. Marks forced stages and, in
 * plan order, every stage that reads from one.
 */
static int select_stages(prun *r)
{
	const arca_pipeline *p = r->p;
	const arca_pipeline_run_options *o = r->opts;
	const arca_pipeline_stage *s;
	size_t i, j, k;
	int rc;

	for (i = 0; i < o->n_targets; i++) {
		if ((s = arca_pipeline_stage_by_name(p, o->targets[i])) == NULL) {
			rc = arca__error(ARCA_ENOTFOUND, "%s: no stage '%s'",
					p->path, o->targets[i]);
			goto cleanup;
		}
		r->selected[stage_index(p, s)] = 1;
	}
	if (o->n_targets == 0)
		memset(r->selected, 1, p->n_stages);
	for (k = p->n_stages; k-- > 0;) {
		const arca_pipeline_stage *def = &p->stages[r->order[k]];

		if (!r->selected[r->order[k]])
			continue;
		for (j = 0; j < def->n_deps; j++)
			if ((s = upstream_of(p, def->deps[j].path, def)) != NULL)
				r->selected[stage_index(p, s)] = 1;
	}
	for (i = 0; i < o->n_force; i++) {
		if ((s = arca_pipeline_stage_by_name(p, o->force[i])) == NULL) {
			rc = arca__error(ARCA_ENOTFOUND, "%s: no stage '%s'",
					p->path, o->force[i]);
			goto cleanup;
		}
		r->forced[stage_index(p, s)] = 1;
	}
	for (k = 0; k < p->n_stages; k++) {
		const arca_pipeline_stage *def = &p->stages[r->order[k]];

		for (j = 0; j < def->n_deps && !r->forced[r->order[k]]; j++)
			if ((s = upstream_of(p, def->deps[j].path, def)) != NULL &&
			    r->forced[stage_index(p, s)])
				r->forced[r->order[k]] = 1;
	}
	rc = 0;

cleanup:
	return rc;
}

/*
 * ${param} substitution of def's cmd (string or each list item) into a
 * NULL-terminated argv: a string becomes /bin/sh -c STRING. ARCA_EINVAL
 * for a param without a value or a bad substitution, with FILE:LINE.
 */
static int stage_argv(char ***argv_out, const arca_pipeline *p,
		const arca_pipeline_stage *def, const params *pa)
{
	char **nm = NULL, **vals = NULL, **argv = NULL, msg[1024];
	size_t i, n = def->cmd != NULL ? 3 : def->cmd_argc;
	int error, rc;

	*argv_out = NULL;
	nm = calloc(def->n_params + 1, sizeof(*nm));
	vals = calloc(def->n_params + 1, sizeof(*vals));
	argv = calloc(n + 1, sizeof(*argv));
	if (nm == NULL || vals == NULL || argv == NULL) {
		rc = arca__error(ARCA_ENOMEM, "%s: out of memory", p->path);
		goto cleanup;
	}
	for (i = 0; i < def->n_params; i++) {
		const char *v = params_get(pa, def->params[i]);

		if (v == NULL) {
			rc = arca__error(ARCA_EINVAL, "%s:%d: stage '%s': unknown "
					"param '%s'", p->path, def->param_lines ?
					def->param_lines[i] : def->line, def->name,
					def->params[i]);
			goto cleanup;
		}
		nm[i] = def->params[i];
		vals[i] = (char *)v;
	}
	if (def->cmd != NULL &&
	    ((argv[0] = strdup("/bin/sh")) == NULL ||
	     (argv[1] = strdup("-c")) == NULL)) {
		rc = arca__error(ARCA_ENOMEM, "%s: out of memory", p->path);
		goto cleanup;
	}
	for (i = def->cmd != NULL ? 2 : 0; i < n; i++) {
		const char *text = def->cmd != NULL ? def->cmd : def->cmd_argv[i];

		if ((error = arca_pipeline_substitute(&argv[i], text, nm, vals,
				def->n_params)) < 0) {
			detail(msg, sizeof(msg), error);
			rc = arca__error(error, "%s:%d: stage '%s': %s", p->path,
					def->cmd_line, def->name, msg);
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
	free(nm);
	free(vals);
	return rc;
}

/* Everything arca_pipeline_check() checks, into r (the plan, the params,
 * the URLs, the selection). */
static int prun_init(prun *r, arca_store *store, const arca_pipeline *p,
		const arca_pipeline_run_options *opts)
{
	char **argv = NULL;
	size_t i;
	int rc;

	memset(r, 0, sizeof(*r));
	if (p == NULL || opts == NULL) {
		rc = arca__error(ARCA_EINVAL, "pipeline run: NULL argument");
		goto cleanup;
	}
	r->p = p;
	r->store = store;
	r->opts = opts;
	if (opts->version != ARCA_PIPELINE_RUN_OPTIONS_VERSION) {
		rc = arca__error(ARCA_EINVAL, "pipeline run: unsupported "
				"options version %u", opts->version);
		goto cleanup;
	}
	if (opts->no_cache && opts->refresh) {
		rc = arca__error(ARCA_EINVAL, "pipeline run: no_cache and "
				"refresh exclude each other");
		goto cleanup;
	}
	if ((opts->n_params > 0 && (opts->param_names == NULL ||
	     opts->param_values == NULL)) ||
	    (opts->n_targets > 0 && opts->targets == NULL) ||
	    (opts->n_force > 0 && opts->force == NULL)) {
		rc = arca__error(ARCA_EINVAL, "pipeline run: NULL array");
		goto cleanup;
	}
	if ((rc = arca_pipeline_plan(&r->order, p)) < 0)
		goto cleanup;
	for (i = 0; i < p->n_param_values; i++)
		if (params_set(&r->pa, p->param_names[i],
				p->param_values[i]) < 0)
			goto enomem;
	for (i = 0; i < opts->n_params; i++) {
		if (opts->param_names[i] == NULL ||
		    opts->param_values[i] == NULL) {
			rc = arca__error(ARCA_EINVAL, "pipeline run: NULL param");
			goto cleanup;
		}
		if (params_set(&r->pa, opts->param_names[i],
				opts->param_values[i]) < 0)
			goto enomem;
	}
	if ((rc = substitute_urls(r)) < 0)
		goto cleanup;
	/* After the URLs, whose errors name a file and line. */
	for (i = 0; i < opts->n_params; i++)
		if ((rc = arca_pipeline_param_check(p,
				opts->param_names[i])) < 0)
			goto cleanup;
	r->selected = calloc(p->n_stages + 1, 1);
	r->forced = calloc(p->n_stages + 1, 1);
	if (r->selected == NULL || r->forced == NULL)
		goto enomem;
	if ((rc = select_stages(r)) < 0)
		goto cleanup;
	/* Everything is checked before anything runs. */
	for (i = 0; i < p->n_stages; i++) {
		if (!r->selected[i])
			continue;
		if ((rc = stage_argv(&argv, p, &p->stages[i], &r->pa)) < 0)
			goto cleanup;
		free_argv(argv);
		argv = NULL;
	}
	arca__error_clear();
	rc = 0;
	goto cleanup;

enomem:
	rc = arca__error(ARCA_ENOMEM, "%s: out of memory", p->path);
cleanup:
	free_argv(argv);
	return rc;
}

int arca_pipeline_check(const arca_pipeline *p,
		const arca_pipeline_run_options *opts)
{
	arca_pipeline_run_options dflt = ARCA_PIPELINE_RUN_OPTIONS_INIT;
	prun r;
	int error;

	arca__error_clear();
	error = prun_init(&r, NULL, p, opts != NULL ? opts : &dflt);
	prun_free(&r);
	return error;
}

/* --------------------------------------------------------------------- */
/* A stage's spec                                                          */
/* --------------------------------------------------------------------- */

/*
 * The tool of a shell command line: the executable named by its first
 * word, found as execvp() would from the pipeline's directory dir, when
 * that word is a plain name or path (letters, digits and _.+,/@%:-);
 * otherwise, or when it is not found (a builtin, a keyword, a function),
 * the shell itself.
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
	return arca__strdup("/bin/sh");
}

/* How deps are resolved when a stage is built. */
typedef enum deps_mode {
	DEPS_RUN = 0,  /* fetch URLs, materialise them; a missing required
	                  dep is an error */
	DEPS_PEEK = 1  /* no network, nothing written: URLs from the cache;
	                  what is missing is recorded, not an error */
} deps_mode;

/* A URL dep as the cache knows it (DEPS_PEEK). */
typedef struct url_state {
	const arca_pipeline_dep *dep;
	const char *url;      /* substituted */
	int cached;           /* the store has a body for it */
	int fresh;            /* ...and it is fresh: no request would be made */
	int64_t fetched_at;   /* seconds since the epoch */
} url_state;

/* A pipeline stage ready for the runner. */
typedef struct built {
	const arca_pipeline_stage *def;
	arca_stage_spec spec;      /* points into the fields below */
	char **argv;               /* owned, NULL-terminated */
	char *tool_path;
	arca_stage_input *inputs;
	arca_digest *url_digests;  /* one per dep; used by URL inputs */
	arca_stage_param *params;  /* values borrowed from the run's params */
	/* File deps that may be absent: the stage runner keys an absent one
	 * as the param "arca:absent:PATH" = "1". */
	arca_stage_input *optional;
	const char **outputs;
	const char **env;
	/* DEPS_PEEK: what could not be resolved. */
	const arca_pipeline_dep **missing;   /* required file deps absent */
	size_t n_missing;
	url_state *urls;           /* every URL dep */
	size_t n_urls;
	int n_uncached;            /* URL deps with no cached body */
	/* DEPS_RUN: why the build failed. */
	arca_stage_failure failure;
} built;

static void built_free(built *b)
{
	free_argv(b->argv);
	free(b->tool_path);
	free(b->inputs);
	free(b->url_digests);
	free(b->params);
	free(b->optional);
	free(b->outputs);
	free(b->env);
	free(b->missing);
	free(b->urls);
	memset(b, 0, sizeof(*b));
}

/* The freshness rule of a URL dep, as arca_fetch() applies it. */
static void url_rule(arca_fetch_options *o, const arca_pipeline_dep *dep)
{
	if (dep->max_age_s >= 0)
		o->max_age_s = dep->max_age_s;
	o->time_bucket_s = dep->time_bucket_s > 0 ? dep->time_bucket_s : 0;
}

/* What the cache holds for a URL dep, and whether it is fresh by the
 * dep's rule, without a request. */
static void url_peek(url_state *us, arca_digest *digest, arca_store *store,
		const arca_pipeline_dep *dep, const char *url)
{
	arca_fetch_options o = ARCA_FETCH_OPTIONS_INIT;
	arca_fetch_result res;

	memset(us, 0, sizeof(*us));
	us->dep = dep;
	us->url = url;
	url_rule(&o, dep);
	o.offline = 1;
	/* Offline: answers from the cache, never the network. */
	if (arca_fetch(&res, store, url, &o) < 0)
		return;
	*digest = res.digest;
	us->cached = 1;
	us->fetched_at = res.fetched_at;
	us->fresh = res.status == ARCA_FETCH_FRESH;
}

/* Progress of a fetch or of hashing, as events. */
static void progress_cb(void *ctx, uint64_t done, uint64_t total)
{
	const prun *r = ctx;
	arca_pipeline_event ev;

	event_init(&ev, ARCA_PIPELINE_EVENT_PROGRESS, r->cur);
	ev.done = done;
	ev.total = total;
	emit(r, &ev);
}

/*
 * Fetch a URL dep through the cache (a URL_FETCHED event says how) and
 * write its body at dep->path. 0, or the code with "FILE:LINE: stage
 * 'x': url U: ..." in arca_errmsg().
 */
static int url_fetch(arca_digest *digest, const prun *r,
		const arca_pipeline_stage *def, const arca_pipeline_dep *dep)
{
	const arca_pipeline *p = r->p;
	const char *url = dep_url(r, def, dep);
	arca_fetch_options o = ARCA_FETCH_OPTIONS_INIT;
	arca_fetch_result res;
	arca_pipeline_event ev;
	char msg[1024], *path = NULL;
	int error, rc;

	url_rule(&o, dep);
	o.no_stale = r->opts->no_stale;
	o.progress = progress_cb;
	o.progress_ctx = (void *)r;
	event_init(&ev, ARCA_PIPELINE_EVENT_PROGRESS_BEGIN, def);
	ev.progress_what = ARCA_PIPELINE_PROGRESS_FETCH;
	ev.dep = dep;
	emit(r, &ev);
	error = arca_fetch(&res, r->store, url, &o);
	detail(msg, sizeof(msg), error < 0 ? error : ARCA_EUNAVAILABLE);
	event_init(&ev, ARCA_PIPELINE_EVENT_PROGRESS_END, def);
	emit(r, &ev);
	if (error < 0) {
		rc = arca__error(error, "%s:%d: stage '%s': url %s: %s", p->path,
				dep->line, def->name, url, msg);
		goto cleanup;
	}
	event_init(&ev, ARCA_PIPELINE_EVENT_URL_FETCHED, def);
	ev.dep = dep;
	ev.url = url;
	ev.fetch = res.status;
	ev.size = res.size;
	ev.fetched_at = res.fetched_at;
	ev.message = res.status == ARCA_FETCH_STALE ? msg : "";
	emit(r, &ev);
	if ((path = pipeline_path(p, dep->path)) == NULL) {
		rc = arca__error(ARCA_ENOMEM, "%s: out of memory", p->path);
		goto cleanup;
	}
	if (arca__mkdir_parents(path) < 0) {
		rc = arca__error(arca__errno_code(errno), "%s:%d: stage '%s': url "
				"%s: cannot create the directory of '%s': %s",
				p->path, dep->line, def->name, url, dep->path,
				strerror(errno));
		goto cleanup;
	}
	if ((error = arca_blob_get_file(r->store, &res.digest, path,
			0644)) < 0) {
		detail(msg, sizeof(msg), error);
		rc = arca__error(error, "%s:%d: stage '%s': url %s: writing '%s': "
				"%s", p->path, dep->line, def->name, url, dep->path,
				msg);
		goto cleanup;
	}
	*digest = res.digest;
	rc = 0;

cleanup:
	free(path);
	return rc;
}

/* Whether an absent dep may be absent: optional itself or made by an
 * optional stage. */
static int dep_optional(const arca_pipeline *p, const arca_pipeline_stage *def,
		const arca_pipeline_dep *dep)
{
	const arca_pipeline_stage *up = upstream_of(p, dep->path, def);

	return dep->optional || (up != NULL && up->optional);
}

/*
 * Build the spec of stage def: ${param} substituted, deps resolved as
 * mode says, file deps that may be absent passed as optional inputs (the
 * stage runner enters an absent one as the param "arca:absent:PATH" =
 * "1"). Paths are the pipeline's (relative to its
 * directory, the spec's workdir). 0, or a code with arca_errmsg() set
 * and b->failure saying what kind.
 */
static int build_stage(built *b, const prun *r, const arca_pipeline_stage *def,
		const params *pa, deps_mode mode)
{
	const arca_pipeline *p = r->p;
	arca_stage_spec *spec = &b->spec;
	arca_stage_spec init = ARCA_STAGE_SPEC_INIT;
	size_t i, n_in = 0, n_opt = 0, n_par = 0;
	struct stat st;
	int rc;

	memset(b, 0, sizeof(*b));
	*spec = init;
	b->def = def;
	b->failure = ARCA_STAGE_FAILURE_SYSTEM;
	if ((rc = stage_argv(&b->argv, p, def, pa)) < 0) {
		b->failure = ARCA_STAGE_FAILURE_SPEC;
		goto cleanup;
	}
	b->inputs = calloc(def->n_deps + 1, sizeof(*b->inputs));
	b->url_digests = calloc(def->n_deps + 1, sizeof(*b->url_digests));
	b->params = calloc(def->n_params + 1, sizeof(*b->params));
	b->optional = calloc(def->n_deps + 1, sizeof(*b->optional));
	b->outputs = calloc(def->n_outs + 1, sizeof(*b->outputs));
	b->env = calloc(def->n_env + 1, sizeof(*b->env));
	b->missing = calloc(def->n_deps + 1, sizeof(*b->missing));
	b->urls = calloc(def->n_deps + 1, sizeof(*b->urls));
	if (!b->inputs || !b->url_digests || !b->params || !b->optional ||
	    !b->outputs || !b->env || !b->missing || !b->urls)
		goto enomem;

	for (i = 0; i < def->n_params; i++) {
		b->params[n_par].name = def->params[i];
		b->params[n_par++].value = params_get(pa, def->params[i]);
	}
	for (i = 0; i < def->n_deps; i++) {
		const arca_pipeline_dep *dep = &def->deps[i];
		arca_stage_input *in = &b->inputs[n_in];
		char *path;
		int found, err;

		if (dep->url != NULL) {
			const char *url = dep_url(r, def, dep);

			if (mode == DEPS_RUN) {
				if ((rc = url_fetch(&b->url_digests[i], r, def,
						dep)) < 0) {
					b->failure = ARCA_STAGE_FAILURE_INPUT;
					goto cleanup;
				}
			} else {
				url_state *us = &b->urls[b->n_urls++];

				url_peek(us, &b->url_digests[i], r->store, dep, url);
				if (!us->cached) {
					b->n_uncached++;
					continue;
				}
			}
			/* The URL is the input's name: it is in the key. */
			in->name = url;
			in->path = dep->path;
			in->digest = &b->url_digests[i];
			n_in++;
			continue;
		}
		if (dep_optional(p, def, dep)) {
			/* Present or not, the stage runner decides (and keys
			 * absent apart from present). */
			b->optional[n_opt].name = dep->path;
			b->optional[n_opt++].path = dep->path;
			continue;
		}
		/* Dep paths are the pipeline directory's. */
		if ((path = pipeline_path(p, dep->path)) == NULL)
			goto enomem;
		found = stat(path, &st) == 0;
		err = errno;
		free(path);
		if (found) {
			in->name = dep->path;
			in->path = dep->path;
			n_in++;
			continue;
		}
		if (mode == DEPS_PEEK) {
			b->missing[b->n_missing++] = dep;
			continue;
		}
		b->failure = ARCA_STAGE_FAILURE_INPUT;
		rc = arca__error(arca__errno_code(err), "%s:%d: stage '%s': "
				"dep '%s': %s", p->path, dep->line, def->name,
				dep->path, strerror(err));
		goto cleanup;
	}
	for (i = 0; i < def->n_outs; i++)
		b->outputs[i] = def->outs[i].path;
	for (i = 0; i < def->n_env; i++)
		b->env[i] = def->env[i];
	if (def->tool_version == NULL && def->cmd != NULL &&
	    (b->tool_path = shell_tool(b->argv[2], p->dir)) == NULL)
		goto enomem;

	spec->stage = def->name;
	spec->argv = b->argv;
	spec->inputs = b->inputs;
	spec->n_inputs = n_in;
	spec->optional_inputs = b->optional;
	spec->n_optional_inputs = n_opt;
	spec->outputs = b->outputs;
	spec->n_outputs = def->n_outs;
	spec->params = b->params;
	spec->n_params = n_par;
	spec->env = b->env;
	spec->n_env = def->n_env;
	spec->tool_version = def->tool_version;
	spec->tool_path = b->tool_path;
	spec->flags = def->cache ? 0 : ARCA_STAGE_NO_CACHE;
	/* Stages run in the pipeline's directory; their paths are its. */
	spec->workdir = p->dir;
	/* `ttl:` of the stage, else the store's default. */
	spec->ttl_s = def->ttl_s > 0 ? (uint64_t)def->ttl_s : 0;
	/* `link:` of the stage, else the store's. */
	spec->link = def->link;
	spec->stdout_fd = r->opts->stdout_fd;
	spec->stderr_fd = r->opts->stderr_fd;
	spec->stdin_fd = r->opts->stdin_fd;
	spec->lock_timeout_ms = r->opts->lock_timeout_ms;
	b->failure = ARCA_STAGE_FAILURE_NONE;
	rc = 0;
	goto cleanup;

enomem:
	rc = arca__error(ARCA_ENOMEM, "%s", strerror(ENOMEM));
cleanup:
	return rc;
}

/* --------------------------------------------------------------------- */
/* Reports                                                                 */
/* --------------------------------------------------------------------- */

static void stage_report_clear(arca_pipeline_stage_report *sr)
{
	free(sr->message);
	free_list(sr->reasons, sr->n_reasons);
	free_list(sr->notes, sr->n_notes);
	sr->message = NULL;
	sr->reasons = sr->notes = NULL;
	sr->n_reasons = sr->n_notes = 0;
}

void arca_pipeline_report_free(arca_pipeline_report *rep)
{
	size_t i;

	if (rep == NULL)
		return;
	for (i = 0; i < rep->n_stages; i++)
		stage_report_clear(&rep->stages[i]);
	free(rep->stages);
	free(rep);
}

/* A report with an entry for each selected stage, in plan order. */
static int report_new(prun *r)
{
	arca_pipeline_report *rep;
	size_t k;

	if ((rep = calloc(1, sizeof(*rep))) == NULL ||
	    (rep->stages = calloc(r->p->n_stages + 1,
			sizeof(*rep->stages))) == NULL) {
		free(rep);
		return arca__error(ARCA_ENOMEM, "%s: out of memory", r->p->path);
	}
	rep->failed = -1;
	for (k = 0; k < r->p->n_stages; k++) {
		arca_pipeline_stage_report *sr;

		if (!r->selected[r->order[k]])
			continue;
		sr = &rep->stages[rep->n_stages++];
		sr->stage = &r->p->stages[r->order[k]];
	}
	r->report = rep;
	return 0;
}

/* --------------------------------------------------------------------- */
/* Predictions                                                             */
/* --------------------------------------------------------------------- */

/* What a stage would do. */
typedef struct prediction {
	int would_run;        /* something changed (reasons say what) */
	int always;           /* cache: false: it runs every time anyway */
	int cached;           /* its key is in the store */
	char **reasons;
	size_t n_reasons;
	char **notes;
	size_t n_notes;
} prediction;

static void prediction_free(prediction *pr)
{
	free_list(pr->reasons, pr->n_reasons);
	free_list(pr->notes, pr->n_notes);
	memset(pr, 0, sizeof(*pr));
}

/* A file as a stage predicted earlier in the plan would leave it. */
typedef struct predicted_file {
	const char *path;     /* borrowed from the pipeline */
	arca_digest digest;
} predicted_file;

/*
 * What the stages predicted so far, in plan order, would write: each
 * output of a stage predicted to hit, with the digest its manifest
 * records (the hit restores it, whether or not the file is on disk now
 * and whatever it holds), and the body of each cached URL dep of a stage
 * that would not run (it is written before the stage runs).
 */
typedef struct predicted_files {
	predicted_file *files;
	size_t n;
} predicted_files;

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

static int has_name(char **list, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return 1;
	return 0;
}

static int argv_equal(char *const *argv, size_t argc, const arca_manifest *m)
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
 * argv is the params' doing, not a changed command. 0 or -1.
 */
static int diff_manifests(prediction *pr, const arca_manifest *cur,
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

		if (starts_with(c->name, ABSENT))
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
		if (!starts_with(prev->params[i].name, ABSENT) &&
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
static int diff_entry(prediction *pr, const prun *r,
		const arca_pipeline_stage *def, const arca_manifest *cur,
		const arca_stage_spec *spec, const arca_digest *key)
{
	arca_manifest *prev = NULL;
	params then;
	char **then_argv = NULL;
	size_t i;
	int rc = -1;

	memset(&then, 0, sizeof(then));
	if (arca_action_peek(&prev, r->store, key) < 0) {
		rc = 1;
		goto cleanup;
	}
	/* The command as it read then: the current cmd with the param
	 * values of the previous run. */
	for (i = 0; i < r->pa.n; i++)
		if (params_set(&then, r->pa.names[i], r->pa.values[i]) < 0)
			goto cleanup;
	for (i = 0; i < prev->n_params; i++)
		if (prev->params[i].value != NULL &&
		    params_set(&then, prev->params[i].name,
				prev->params[i].value) < 0)
			goto cleanup;
	if (stage_argv(&then_argv, r->p, def, &then) != 0)
		then_argv = NULL;
	rc = diff_manifests(pr, cur, prev, spec, then_argv);

cleanup:
	free_argv(then_argv);
	params_free(&then);
	arca_manifest_free(prev);
	return rc;
}

/*
 * Why a stage whose key is not cached would run: how the action differs
 * from the stage's most recent cached run (of several created in the
 * same second, the one with the fewest differences). 0 or -1.
 */
static int explain_miss(prediction *pr, const prun *r,
		const arca_pipeline_stage *def, const arca_stage *st,
		const arca_stage_spec *spec)
{
	arca_manifest *cur = NULL;
	prediction best, one;
	latest *l = NULL;
	size_t i;
	int have = 0, error, rc = -1;

	memset(&best, 0, sizeof(best));
	memset(&one, 0, sizeof(one));
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    arca_manifest_from_action(&cur, arca_stage_action(st)) < 0)
		goto cleanup;
	error = arca_action_list(r->store, def->name, latest_cb, l);
	for (i = 0; error >= 0 && i < l->n; i++) {
		if ((error = diff_entry(&one, r, def, cur, spec,
				&l->keys[i])) < 0)
			goto cleanup;
		if (error == 0 && (!have || one.n_reasons < best.n_reasons)) {
			prediction_free(&best);
			best = one;
			memset(&one, 0, sizeof(one));
			have = 1;
		}
		prediction_free(&one);
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
	prediction_free(&best);
	prediction_free(&one);
	arca_manifest_free(cur);
	free(l);
	return rc;
}

static const arca_digest *predicted_find(const predicted_files *f,
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
static int predicted_add(predicted_files *f, const char *path,
		const arca_digest *digest)
{
	predicted_file *grown;
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
		const unsigned char *upstream, const predicted_files *files)
{
	const arca_pipeline_stage *up;

	if (dep->url != NULL ||
	    (up = upstream_of(p, dep->path, def)) == NULL ||
	    upstream[stage_index(p, up)])
		return NULL;
	return predicted_find(files, dep->path);
}

/*
 * Re-point b->spec at the deps as upstream hits would restore them
 * (predicted_dep): such a dep is an input with the predicted digest, and
 * neither missing (taken out of b->missing) nor absent (an optional input
 * given a digest is present: its file is not looked at). *ins is the
 * spec's new array of inputs, which the caller frees. 0 or -1 (out of
 * memory).
 */
static int apply_predicted(arca_stage_input **ins, built *b,
		const arca_pipeline *p, const arca_pipeline_stage *def,
		const unsigned char *upstream, const predicted_files *files)
{
	arca_stage_spec *spec = &b->spec;
	size_t i, j, n_in = spec->n_inputs, n_miss;

	*ins = calloc(spec->n_inputs + def->n_deps + 1, sizeof(**ins));
	if (*ins == NULL)
		return -1;
	if (spec->n_inputs > 0)
		memcpy(*ins, spec->inputs, spec->n_inputs * sizeof(**ins));
	for (i = 0; i < def->n_deps; i++) {
		const arca_pipeline_dep *dep = &def->deps[i];
		const arca_digest *d = predicted_dep(p, def, dep, upstream,
				files);

		if (d == NULL)
			continue;
		for (j = 0; j < spec->n_optional_inputs; j++)
			if (strcmp(b->optional[j].name, dep->path) == 0)
				break;
		if (j < spec->n_optional_inputs) {
			b->optional[j].digest = d;
		} else {
			for (j = 0; j < n_in; j++)
				if (strcmp((*ins)[j].name, dep->path) == 0)
					break;
			if (j == n_in) {
				(*ins)[n_in].name = dep->path;
				(*ins)[n_in++].path = dep->path;
			}
			(*ins)[j].digest = d;
		}
		for (j = n_miss = 0; j < b->n_missing; j++)
			if (strcmp(b->missing[j]->path, dep->path) != 0)
				b->missing[n_miss++] = b->missing[j];
		b->n_missing = n_miss;
	}
	spec->inputs = *ins;
	spec->n_inputs = n_in;
	return 0;
}

/*
 * A stage predicted not to run leaves for the stages after it: its
 * outputs as its cached manifest m records them (when it would hit) and
 * the bodies of its cached URL deps. 0 or -1 (out of memory).
 */
static int predicted_record(predicted_files *files,
		const arca_pipeline_stage *def, const built *b,
		const arca_manifest *m)
{
	size_t i, j;

	for (i = 0; i < b->n_urls; i++) {
		const url_state *us = &b->urls[i];

		if (us->cached && predicted_add(files, us->dep->path,
				&b->url_digests[us->dep - def->deps]) < 0)
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

#define ENOMEM_PREDICT() \
	arca__error(ARCA_ENOMEM, "%s", strerror(ENOMEM))

/*
 * Predict stage def without running anything and without network:
 * upstream[i] says whether p->stages[i] would run (so that its current
 * outputs may still be old). A file dep that an upstream stage writes and
 * that does not run takes its digest from files (when it is there), not
 * from the disk. When def is predicted not to run, its outputs (or URL
 * bodies) are added to files for the stages after it.
 */
static int predict(prediction *out, const prun *r,
		const arca_pipeline_stage *def, const unsigned char *upstream,
		predicted_files *files)
{
	const arca_pipeline *p = r->p;
	built b;
	arca_stage *st = NULL;
	arca_stage_input *ins = NULL;
	arca_manifest *m = NULL;
	unsigned char *named = NULL;
	arca_stage_failure failure = ARCA_STAGE_FAILURE_NONE;
	char when[32], msg[1024];
	size_t i;
	int error, rc;

	memset(out, 0, sizeof(*out));
	memset(&b, 0, sizeof(b));
	if ((named = calloc(p->n_stages + 1, 1)) == NULL) {
		rc = ENOMEM_PREDICT();
		goto cleanup;
	}
	if ((rc = build_stage(&b, r, def, &r->pa, DEPS_PEEK)) < 0)
		goto cleanup;
	/* Deps that upstream hits restore count as restored. */
	if (apply_predicted(&ins, &b, p, def, upstream, files) < 0)
		goto enomem;
	out->always = !def->cache;
	/* An upstream stage that would run may rewrite what this one reads:
	 * its current output may still be the old one. */
	for (i = 0; i < def->n_deps; i++) {
		const arca_pipeline_stage *up = upstream_of(p,
				def->deps[i].path, def);
		size_t u;

		if (up == NULL || !upstream[u = stage_index(p, up)] || named[u])
			continue;
		named[u] = 1;
		if (add_phrase(&out->reasons, &out->n_reasons,
				"a dependency would run first: %s (its output '%s' "
				"may still be the old one)", up->name,
				def->deps[i].path) < 0)
			goto enomem;
	}
	for (i = 0; i < b.n_missing; i++) {
		const arca_pipeline_stage *up = upstream_of(p,
				b.missing[i]->path, def);

		if (up != NULL && upstream[stage_index(p, up)])
			continue;
		/* A stage with cache: false runs every time, so the file will
		 * be there, but what it will hold cannot be known. */
		if (up != NULL && !up->cache) {
			if (add_phrase(&out->reasons, &out->n_reasons,
					"a dependency would run first: %s "
					"(cache: false; its output '%s' is "
					"not there yet)", up->name,
					b.missing[i]->path) < 0)
				goto enomem;
			continue;
		}
		if (add_phrase(&out->reasons, &out->n_reasons,
				"dep '%s' is missing (%s:%d)", b.missing[i]->path,
				p->path, b.missing[i]->line) < 0)
			goto enomem;
	}
	for (i = 0; i < b.n_urls; i++) {
		const url_state *us = &b.urls[i];
		int64_t now = arca__now();

		if (!us->cached) {
			if (add_phrase(&out->reasons, &out->n_reasons,
					"url %s not cached", us->url) < 0)
				goto enomem;
			continue;
		}
		if (us->fresh)
			continue;
		human_duration(when, sizeof(when), now > us->fetched_at ?
				(uint64_t)(now - us->fetched_at) * 1000 : 0);
		if (add_phrase(&out->notes, &out->n_notes,
				"url %s would be revalidated (fetched %s ago)",
				us->url, when) < 0)
			goto enomem;
	}

	/* The key can only be computed when everything it covers is here. */
	if (b.n_missing == 0 && b.n_uncached == 0) {
		if ((error = arca_stage_prepare(&st, &failure, r->store,
				&b.spec)) < 0) {
			arca_pipeline_event ev;

			detail(msg, sizeof(msg), error);
			event_init(&ev, ARCA_PIPELINE_EVENT_STAGE_ERROR, def);
			ev.code = error;
			ev.failure = failure;
			ev.message = msg;
			emit(r, &ev);
			if (add_phrase(&out->reasons, &out->n_reasons,
					"its action key cannot be computed (see "
					"above)") < 0)
				goto enomem;
		} else if ((error = arca_action_peek(&m, r->store,
				arca_stage_key(st))) == 0) {
			out->cached = 1;
		} else if (error != ARCA_ENOTFOUND) {
			detail(msg, sizeof(msg), error);
			rc = arca__error(error, "stage %s: cache lookup: %s",
					def->name, msg);
			goto cleanup;
		} else if (def->cache && explain_miss(out, r, def, st,
				&b.spec) < 0) {
			goto enomem;
		}
	}
	out->would_run = out->n_reasons > 0;
	/* Last: b.spec may point into files, which this may move. */
	if (!out->would_run &&
	    predicted_record(files, def, &b, out->cached ? m : NULL) < 0)
		goto enomem;
	rc = 0;
	goto cleanup;

enomem:
	rc = ENOMEM_PREDICT();
cleanup:
	if (rc != 0)
		prediction_free(out);
	arca_manifest_free(m);
	arca_stage_free(st);
	built_free(&b);
	free(ins);
	free(named);
	return rc;
}

/*
 * Predict each selected stage in plan order into the report, with a
 * PREDICTED event each. dry_rule: a dry run's states (a `cache: false`
 * stage with reasons would run), else arca_pipeline_status()'s (such a
 * stage always runs).
 */
static int predict_all(prun *r, int dry_rule)
{
	const arca_pipeline *p = r->p;
	const arca_pipeline_run_options *o = r->opts;
	arca_pipeline_report *rep = r->report;
	predicted_files files;
	prediction pr;
	unsigned char *would = NULL;
	size_t k, n = 0;
	int rc;

	memset(&files, 0, sizeof(files));
	memset(&pr, 0, sizeof(pr));
	if ((would = calloc(p->n_stages + 1, 1)) == NULL) {
		rc = ENOMEM_PREDICT();
		goto cleanup;
	}
	for (k = 0; k < p->n_stages; k++) {
		size_t i = r->order[k];
		const arca_pipeline_stage *def = &p->stages[i];
		arca_pipeline_stage_report *sr;
		arca_pipeline_event ev;

		if (!r->selected[i])
			continue;
		sr = &rep->stages[n++];
		if ((rc = predict(&pr, r, def, would, &files)) != 0)
			goto cleanup;
		sr->forced = o->no_cache ? ARCA_PIPELINE_FORCED_NO_CACHE :
			o->refresh ? ARCA_PIPELINE_FORCED_REFRESH :
			r->forced[i] ? ARCA_PIPELINE_FORCED_STAGE :
			ARCA_PIPELINE_FORCED_NONE;
		would[i] = (unsigned char)(pr.would_run ||
				sr->forced != ARCA_PIPELINE_FORCED_NONE);
		sr->always = pr.always;
		sr->cached = pr.cached;
		sr->reasons = pr.reasons;
		sr->n_reasons = pr.n_reasons;
		sr->notes = pr.notes;
		sr->n_notes = pr.n_notes;
		memset(&pr, 0, sizeof(pr));
		if (dry_rule)
			sr->state = would[i] ? ARCA_PIPELINE_STATE_WOULD_RUN :
				sr->always ? ARCA_PIPELINE_STATE_ALWAYS :
				ARCA_PIPELINE_STATE_UP_TO_DATE;
		else
			sr->state = sr->always ? ARCA_PIPELINE_STATE_ALWAYS :
				would[i] ? ARCA_PIPELINE_STATE_WOULD_RUN :
				ARCA_PIPELINE_STATE_UP_TO_DATE;
		if (sr->state != ARCA_PIPELINE_STATE_UP_TO_DATE)
			rep->n_would_run++;
		event_init(&ev, ARCA_PIPELINE_EVENT_PREDICTED, def);
		ev.report = sr;
		emit(r, &ev);
	}
	rc = 0;

cleanup:
	prediction_free(&pr);
	free(files.files);
	free(would);
	return rc;
}

/* --------------------------------------------------------------------- */
/* The run                                                                 */
/* --------------------------------------------------------------------- */

/* The stage runner's events, passed on. */
static void stage_event_cb(void *ctx, const arca_stage_event *sev)
{
	const prun *r = ctx;
	arca_pipeline_event ev;

	event_init(&ev, ARCA_PIPELINE_EVENT_STAGE, r->cur);
	ev.stage_event = sev;
	ev.no_cache = r->cur_no_cache;
	emit(r, &ev);
}

/*
 * An optional stage failed: its declared outputs must not survive from
 * an earlier run into the stages after it.
 */
static void remove_outputs(const prun *r, const arca_pipeline_stage *def)
{
	arca_pipeline_event ev;
	char msg[1024];
	size_t i;

	for (i = 0; i < def->n_outs; i++) {
		char *path = pipeline_path(r->p, def->outs[i].path);
		int err = path == NULL ? ENOMEM : 0;

		if (path != NULL && unlink(path) < 0 && errno != ENOENT)
			err = errno;
		free(path);
		if (err == 0)
			continue;
		snprintf(msg, sizeof(msg), "stage %s: cannot remove '%s': %s",
				def->name, def->outs[i].path, strerror(err));
		event_init(&ev, ARCA_PIPELINE_EVENT_WARNING, def);
		ev.code = arca__errno_code(err);
		ev.message = msg;
		ev.path = def->outs[i].path;
		emit(r, &ev);
	}
}

/* Run one stage into sr. 1 when the run goes on, 0 when a required
 * stage failed, or a negative code (out of memory). */
static int run_stage(prun *r, arca_pipeline_stage_report *sr, int forced)
{
	const arca_pipeline_stage *def = sr->stage;
	const arca_pipeline_run_options *o = r->opts;
	arca_pipeline_report *rep = r->report;
	arca_pipeline_event ev;
	built b;
	arca_stage *st = NULL;
	arca_stage_result res;
	arca_stage_failure failure = ARCA_STAGE_FAILURE_NONE;
	char msg[1024];
	int error, rc;

	memset(&res, 0, sizeof(res));
	res.outcome = ARCA_STAGE_ERROR;
	msg[0] = '\0';
	r->cur = def;
	event_init(&ev, ARCA_PIPELINE_EVENT_STAGE_START, def);
	emit(r, &ev);
	if ((error = build_stage(&b, r, def, &r->pa, DEPS_RUN)) < 0) {
		failure = b.failure;
		detail(msg, sizeof(msg), error);
	} else {
		if (o->no_cache)
			b.spec.flags |= ARCA_STAGE_NO_CACHE;
		if (!(b.spec.flags & ARCA_STAGE_NO_CACHE) &&
		    (o->refresh || forced))
			b.spec.flags |= ARCA_STAGE_REFRESH;
		r->cur_no_cache = (b.spec.flags & ARCA_STAGE_NO_CACHE) != 0;
		b.spec.event = stage_event_cb;
		b.spec.event_ctx = r;
		b.spec.hash_progress = progress_cb;
		b.spec.hash_progress_ctx = r;
		event_init(&ev, ARCA_PIPELINE_EVENT_PROGRESS_BEGIN, def);
		ev.progress_what = ARCA_PIPELINE_PROGRESS_HASH;
		emit(r, &ev);
		error = arca_stage_prepare(&st, &failure, r->store, &b.spec);
		event_init(&ev, ARCA_PIPELINE_EVENT_PROGRESS_END, def);
		emit(r, &ev);
		if (error >= 0) {
			error = o->stage_run != NULL ?
				o->stage_run(o->stage_run_ctx, &res, st) :
				arca_stage_run(&res, st);
			if (error < 0)
				failure = res.failure;
		}
		if (error < 0)
			detail(msg, sizeof(msg), error);
	}
	sr->result = res;
	if (st != NULL)
		arca_stage_get_timings(&sr->timings, st);
	sr->code = error < 0 ? error : 0;
	sr->failure = error < 0 ? failure : ARCA_STAGE_FAILURE_NONE;
	if ((sr->message = arca__strdup(msg)) == NULL) {
		rc = arca__error(ARCA_ENOMEM, "%s", strerror(ENOMEM));
		goto cleanup;
	}
	if (error < 0) {
		event_init(&ev, ARCA_PIPELINE_EVENT_STAGE_ERROR, def);
		ev.code = error;
		ev.failure = failure;
		ev.message = msg;
		emit(r, &ev);
	}

	rc = 1;
	if (res.outcome == ARCA_STAGE_HIT) {
		sr->state = ARCA_PIPELINE_STATE_HIT;
		rep->n_hit++;
		rep->saved_ms += res.duration_ms;
		event_init(&ev, ARCA_PIPELINE_EVENT_HIT, def);
	} else if (arca_stage_result_ok(&res)) {
		/* Stored, run uncached, or not stored: the outputs are there. */
		sr->state = ARCA_PIPELINE_STATE_RAN;
		rep->n_ran++;
		event_init(&ev, ARCA_PIPELINE_EVENT_RAN, def);
	} else if (def->optional) {
		remove_outputs(r, def);
		sr->state = ARCA_PIPELINE_STATE_DEGRADED;
		rep->n_degraded++;
		event_init(&ev, ARCA_PIPELINE_EVENT_DEGRADED, def);
	} else {
		sr->state = ARCA_PIPELINE_STATE_FAILED;
		rep->n_failed++;
		rep->failed = (long)(sr - rep->stages);
		event_init(&ev, ARCA_PIPELINE_EVENT_FAILED, def);
		rc = 0;
	}
	ev.report = sr;
	emit(r, &ev);

cleanup:
	r->cur = NULL;
	arca_stage_free(st);
	built_free(&b);
	return rc;
}

/* Run (or predict) what r selected into a new report. */
static int run_or_predict(arca_pipeline_report **out, arca_store *store,
		const arca_pipeline *p, const arca_pipeline_run_options *opts,
		int predict_only)
{
	arca_pipeline_run_options dflt = ARCA_PIPELINE_RUN_OPTIONS_INIT;
	arca_pipeline_report *rep;
	arca_pipeline_event ev;
	prun r;
	size_t k;
	int going = 1, error;

	arca__error_clear();
	if (out != NULL)
		*out = NULL;
	memset(&r, 0, sizeof(r));
	if (store == NULL) {
		error = arca__error(ARCA_EINVAL, "pipeline run: no store");
		goto cleanup;
	}
	if ((error = prun_init(&r, store, p, opts != NULL ? opts : &dflt)) < 0 ||
	    (error = report_new(&r)) < 0)
		goto cleanup;
	rep = r.report;
	if (predict_only || r.opts->dry_run) {
		error = predict_all(&r, !predict_only);
		goto cleanup;
	}
	for (k = 0; k < rep->n_stages; k++) {
		arca_pipeline_stage_report *sr = &rep->stages[k];

		if (!going) {
			sr->state = ARCA_PIPELINE_STATE_NOT_RUN;
			rep->n_not_run++;
			event_init(&ev, ARCA_PIPELINE_EVENT_SKIPPED, sr->stage);
			ev.report = sr;
			emit(&r, &ev);
			continue;
		}
		if ((error = run_stage(&r, sr,
				r.forced[stage_index(p, sr->stage)])) < 0)
			goto cleanup;
		going = error;
	}
	error = 0;

cleanup:
	if (error == 0 && out != NULL) {
		*out = r.report;
		r.report = NULL;
	}
	arca_pipeline_report_free(r.report);
	prun_free(&r);
	return error;
}

int arca_pipeline_run(arca_pipeline_report **out, arca_store *store,
		const arca_pipeline *p, const arca_pipeline_run_options *opts)
{
	return run_or_predict(out, store, p, opts, 0);
}

int arca_pipeline_status(arca_pipeline_report **out, arca_store *store,
		const arca_pipeline *p, const arca_pipeline_run_options *opts)
{
	int error;

	if (out == NULL) {
		arca__error_clear();
		return arca__error(ARCA_EINVAL, "pipeline status: NULL out");
	}
	error = run_or_predict(out, store, p, opts, 1);
	return error;
}
