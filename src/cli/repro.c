/*
 * What only the CLI does for `arca repro` and `arca status` (repro.h):
 * the -p and --params options, the params file, the checks of a run's
 * options printed as the CLI prints them, and the store opened under an
 * absolute path. The engine is libarca's (arca/pipeline_run.h).
 */
#include "repro.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
 * Read a params file: a YAML mapping of name: scalar (libyaml's document
 * API), each value taken as written. A name no stage uses
 * (arca_pipeline_param_check()) is a warning "FILE:LINE: no stage uses
 * param 'x' (known: ...)", and its value is dropped (it would change
 * nothing): a params file may well be shared with other pipelines or
 * scripts (as DVC's params.yaml is). Prints "FILE:LINE: ..." and returns
 * -1 on an error.
 */
static int load_params_file(cli_params *params, const char *path,
		const arca_pipeline *p)
{
	FILE *f = NULL;
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	yaml_node_pair_t *pair;
	int have_parser = 0, have_doc = 0, error, rc = -1;

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
		if ((error = arca_pipeline_param_check(p, name)) == ARCA_ENOTFOUND) {
			cli_warn("%s:%lu: %s", path,
					(unsigned long)k->start_mark.line + 1,
					arca_errmsg());
			continue;
		}
		if (error < 0 || params_set(params, name, strlen(name),
				(const char *)v->data.scalar.value) < 0) {
			cli_error("%s: %s", path, strerror(ENOMEM));
			goto cleanup;
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

int cli_repro_load(arca_pipeline **out, cli_params *params,
		const cli_repro_opts *o)
{
	arca_pipeline *p = NULL;
	size_t *order = NULL;
	char *dflt = NULL;
	struct stat st;
	size_t i;
	int rc = CLI_EXIT_USAGE;

	*out = NULL;
	memset(params, 0, sizeof(*params));
	if (arca_pipeline_load(&p, o->file) < 0) {
		fprintf(stderr, "arca: %s\n", arca_errmsg());
		goto cleanup;
	}
	/* Before the params file, as the library checks it before the
	 * params (arca_pipeline_check()). */
	if (arca_pipeline_plan(&order, p) < 0) {
		fprintf(stderr, "arca: %s\n", arca_errmsg());
		goto cleanup;
	}
	if (o->params_file != NULL) {
		if (load_params_file(params, o->params_file, p) < 0)
			goto cleanup;
	} else {
		if ((dflt = join_dir(p->dir, "params.yaml")) == NULL) {
			rc = repro_enomem();
			goto cleanup;
		}
		if (stat(dflt, &st) == 0 &&
		    load_params_file(params, dflt, p) < 0)
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
	*out = p;
	p = NULL;
	rc = 0;

cleanup:
	if (rc != 0)
		cli_params_free(params);
	free(order);
	free(dflt);
	arca_pipeline_free(p);
	return rc;
}

void cli_repro_run_options(arca_pipeline_run_options *ro,
		const cli_params *params)
{
	ro->param_names = (const char *const *)params->names;
	ro->param_values = (const char *const *)params->values;
	ro->n_params = params->n;
}

int cli_repro_check(const arca_pipeline *p,
		const arca_pipeline_run_options *ro, const cli_repro_opts *o)
{
	const char *cmd = o->cmd != NULL ? o->cmd : "repro";
	size_t i;
	int error;

	if ((error = arca_pipeline_check(p, ro)) == 0)
		return 0;
	if (error != ARCA_ENOTFOUND) {
		cli_error("%s", cli_lib_detail(error));
		return error == ARCA_ENOMEM ? CLI_EXIT_STORE : CLI_EXIT_USAGE;
	}
	/* A name that is not in the pipeline: say which, as the options
	 * named it. The library checks params, then targets, then forced
	 * stages. */
	for (i = 0; i < o->n_kv; i++) {
		int len = (int)(strchr(o->kv[i], '=') - o->kv[i]);
		char *name = strndup(o->kv[i], (size_t)len);

		if (name == NULL)
			return repro_enomem();
		error = arca_pipeline_param_check(p, name);
		free(name);
		if (error == ARCA_ENOTFOUND) {
			cli_error("%s: -p %.*s: %s", cmd, len, o->kv[i],
					arca_errmsg());
			return CLI_EXIT_USAGE;
		}
	}
	for (i = 0; i < ro->n_targets; i++)
		if (arca_pipeline_stage_by_name(p, ro->targets[i]) == NULL)
			return cli_usage_error(cmd, "%s: no stage '%s'", p->path,
					ro->targets[i]);
	for (i = 0; i < ro->n_force; i++)
		if (arca_pipeline_stage_by_name(p, ro->force[i]) == NULL)
			return cli_usage_error(cmd, "--force: %s: no stage '%s'",
					p->path, ro->force[i]);
	cli_error("%s", cli_lib_detail(ARCA_ENOTFOUND));
	return CLI_EXIT_USAGE;
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
