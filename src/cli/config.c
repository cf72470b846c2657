/*
 * The configuration file: $ARCA_DIR/config.yaml (the store's own), else
 * ${XDG_CONFIG_HOME:-~/.config}/arca/config.yaml. A YAML mapping of
 * scalars, read with libyaml:
 *
 *   max_size: 10G          # bytes, or with K/M/G/T (binary units)
 *   low_watermark: 90      # percent of max_size eviction stops at
 *   inline_threshold: 100K # blobs up to this size live in the index
 *   lock_timeout: 10m      # wait for another process's lease
 *   ttl: 7d                # default time to live of stage results
 *
 * Environment variables override the file (ARCA_MAX_SIZE,
 * ARCA_INLINE_THRESHOLD, ARCA_LOCK_TIMEOUT, ARCA_TTL); flags override both.
 */
#include "common.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

static const char *const known_keys[] = {
	"max_size", "low_watermark", "inline_threshold", "lock_timeout", "ttl"
};

int cli_parse_size(uint64_t *out, const char *text)
{
	static const char units[] = "KMGTPE";
	char *end = NULL;
	const char *u;
	double v, mult = 1.0;

	if (text == NULL || *text == '\0' || *text == '-' || *text == '+')
		return -1;
	errno = 0;
	v = strtod(text, &end);
	if (errno != 0 || end == text || !(v >= 0.0) || isinf(v))
		return -1;
	while (*end == ' ')
		end++;
	if (*end != '\0') {
		if ((u = strchr(units, *end >= 'a' ? *end - 32 : *end)) == NULL)
			return -1;
		mult = pow(1024.0, (double)(u - units + 1));
		end++;
		if (strcasecmp(end, "iB") == 0 || strcasecmp(end, "B") == 0 ||
		    strcasecmp(end, "i") == 0)
			end += strlen(end);
		if (*end != '\0')
			return -1;
	} else if (v != floor(v)) {
		return -1; /* a fraction of a byte */
	}
	v *= mult;
	if (v >= 18446744073709551615.0)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

int cli_parse_duration(uint64_t *out_s, const char *text)
{
	char *end = NULL;
	double v, mult = 1.0;

	if (text == NULL || *text == '\0' || *text == '-' || *text == '+')
		return -1;
	errno = 0;
	v = strtod(text, &end);
	if (errno != 0 || end == text || !(v >= 0.0) || isinf(v))
		return -1;
	if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
		mult = 1;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mult = 60;
	else if (strcmp(end, "h") == 0)
		mult = 3600;
	else if (strcmp(end, "d") == 0)
		mult = 86400;
	else if (strcmp(end, "w") == 0)
		mult = 7 * 86400;
	else
		return -1;
	v = ceil(v * mult);
	if (v > 1e15)
		return -1;
	*out_s = (uint64_t)v;
	return 0;
}

/* The store's config.yaml, or the user's: malloc'd path or NULL. */
static char *config_path(const char *store_dir, int *is_store)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char *p = NULL;

	*is_store = 0;
	if (store_dir != NULL && asprintf(&p, "%s/config.yaml", store_dir) >= 0) {
		if (access(p, F_OK) == 0) {
			*is_store = 1;
			return p;
		}
		free(p);
		p = NULL;
	}
	if (xdg && *xdg) {
		if (asprintf(&p, "%s/arca/config.yaml", xdg) < 0)
			p = NULL;
	} else if (home && *home) {
		if (asprintf(&p, "%s/.config/arca/config.yaml", home) < 0)
			p = NULL;
	}
	return p;
}

/* One top-level key: value of the file. */
typedef struct kv {
	char *key;
	char *value;
	unsigned long line;
} kv;

static void kvs_free(kv *kvs, size_t n)
{
	size_t i;

	for (i = 0; kvs != NULL && i < n; i++) {
		free(kvs[i].key);
		free(kvs[i].value);
	}
	free(kvs);
}

/*
 * Read path's top-level mapping of scalars. 0, or -1 after printing
 * "arca: PATH:LINE: ..." (1 when the file does not exist and missing_ok).
 */
static int read_pairs(kv **out, size_t *n_out, const char *path)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	yaml_node_pair_t *pair;
	FILE *f;
	kv *kvs = NULL;
	size_t n = 0;
	int rc = -1, have_doc = 0;

	*out = NULL;
	*n_out = 0;
	if ((f = fopen(path, "rb")) == NULL) {
		if (errno == ENOENT)
			return 1;
		cli_error("%s: %s", path, strerror(errno));
		return -1;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		cli_error("%s:%lu: %s", path,
				(unsigned long)parser.problem_mark.line + 1,
				parser.problem ? parser.problem : "invalid YAML");
		goto cleanup;
	}
	have_doc = 1;
	root = yaml_document_get_root_node(&doc);
	if (root == NULL) {
		rc = 0; /* an empty file */
		goto cleanup;
	}
	if (root->type != YAML_MAPPING_NODE) {
		cli_error("%s:%lu: expected a mapping of settings (key: value)",
				path, (unsigned long)root->start_mark.line + 1);
		goto cleanup;
	}
	kvs = calloc((size_t)(root->data.mapping.pairs.top -
			root->data.mapping.pairs.start) + 1, sizeof(*kvs));
	if (kvs == NULL) {
		cli_error("%s: %s", path, strerror(ENOMEM));
		goto cleanup;
	}
	for (pair = root->data.mapping.pairs.start;
			pair < root->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(&doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(&doc, pair->value);

		if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE ||
		    v->type != YAML_SCALAR_NODE) {
			cli_error("%s:%lu: expected 'key: value' with a single "
					"value", path, (unsigned long)(k ?
					k->start_mark.line : 0) + 1);
			goto cleanup;
		}
		kvs[n].key = strdup((const char *)k->data.scalar.value);
		kvs[n].value = strdup((const char *)v->data.scalar.value);
		kvs[n].line = (unsigned long)k->start_mark.line + 1;
		n++;
		if (kvs[n - 1].key == NULL || kvs[n - 1].value == NULL) {
			cli_error("%s: %s", path, strerror(ENOMEM));
			goto cleanup;
		}
	}
	*out = kvs;
	*n_out = n;
	kvs = NULL;
	rc = 0;
cleanup:
	kvs_free(kvs, n);
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	return rc;
}

static int apply_pair(cli_config *c, const kv *p, const char *path)
{
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(known_keys) / sizeof(*known_keys); i++)
		if (strcmp(p->key, known_keys[i]) == 0)
			break;
	if (i == sizeof(known_keys) / sizeof(*known_keys)) {
		cli_error("%s:%lu: unknown setting '%s' (known: max_size, "
				"low_watermark, inline_threshold, lock_timeout, "
				"ttl)", path, p->line, p->key);
		return -1;
	}
	if (strcmp(p->key, "max_size") == 0 ||
	    strcmp(p->key, "inline_threshold") == 0) {
		if (cli_parse_size(&v, p->value) < 0) {
			cli_error("%s:%lu: %s '%s': expected a size (bytes, or "
					"with K, M, G, T: 500M, 10G)", path,
					p->line, p->key, p->value);
			return -1;
		}
		if (p->key[0] == 'm') {
			c->max_size = v;
			c->has_max_size = 1;
		} else {
			c->inline_threshold = v;
			c->has_inline_threshold = 1;
		}
		return 0;
	}
	if (strcmp(p->key, "low_watermark") == 0) {
		char *end = NULL;
		unsigned long pct = strtoul(p->value, &end, 10);

		if (end == p->value || (*end != '\0' && strcmp(end, "%") != 0) ||
		    pct < 1 || pct > 100 || p->value[0] == '-') {
			cli_error("%s:%lu: low_watermark '%s': expected a percent"
					" from 1 to 100", path, p->line, p->value);
			return -1;
		}
		c->low_watermark_pct = (unsigned int)pct;
		return 0;
	}
	if (cli_parse_duration(&v, p->value) < 0 ||
	    (p->key[0] == 'l' && (v == 0 || v > 86400))) {
		cli_error("%s:%lu: %s '%s': expected a duration (30s, 10m, 2h, "
				"7d)", path, p->line, p->key, p->value);
		return -1;
	}
	if (p->key[0] == 'l') {
		c->lock_timeout_ms = (unsigned int)(v * 1000);
	} else {
		c->ttl_s = v;
		c->has_ttl = 1;
	}
	return 0;
}

static cli_config current;

const cli_config *cli_config_current(void)
{
	return &current;
}

int cli_config_load(cli_config *out, const char *store_dir)
{
	kv *kvs = NULL;
	size_t n = 0, i;
	char *path;
	const char *v;
	int is_store, rc;

	memset(out, 0, sizeof(*out));
	path = config_path(store_dir, &is_store);
	if (path != NULL) {
		rc = read_pairs(&kvs, &n, path);
		if (rc < 0) {
			free(path);
			return -1;
		}
		for (i = 0; i < n; i++)
			if (apply_pair(out, &kvs[i], path) < 0) {
				kvs_free(kvs, n);
				free(path);
				return -1;
			}
		kvs_free(kvs, n);
		free(path);
	}
	if ((v = getenv("ARCA_MAX_SIZE")) != NULL && *v != '\0') {
		if (cli_parse_size(&out->max_size, v) < 0) {
			cli_error("ARCA_MAX_SIZE='%s': expected a size (bytes, or "
					"with K, M, G, T: 500M, 10G)", v);
			return -1;
		}
		out->has_max_size = 1;
	}
	if ((v = getenv("ARCA_TTL")) != NULL && *v != '\0') {
		if (cli_parse_duration(&out->ttl_s, v) < 0) {
			cli_error("ARCA_TTL='%s': expected a duration (30s, 10m, "
					"2h, 7d)", v);
			return -1;
		}
		out->has_ttl = 1;
	}
	current = *out;
	return 0;
}

/* Emit kvs as a block mapping to f. 0 or -1. */
static int emit_pairs(FILE *f, const kv *kvs, size_t n)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	size_t i;
	int ok;

	yaml_emitter_initialize(&em);
	yaml_emitter_set_output_file(&em, f);
	ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) &&
		yaml_emitter_emit(&em, &ev) &&
		yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) &&
		yaml_emitter_emit(&em, &ev) &&
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
				YAML_BLOCK_MAPPING_STYLE) &&
		yaml_emitter_emit(&em, &ev);
	for (i = 0; ok && i < n; i++)
		ok = yaml_scalar_event_initialize(&ev, NULL, NULL,
				(yaml_char_t *)kvs[i].key, -1, 1, 1,
				YAML_PLAIN_SCALAR_STYLE) &&
			yaml_emitter_emit(&em, &ev) &&
			yaml_scalar_event_initialize(&ev, NULL, NULL,
				(yaml_char_t *)kvs[i].value, -1, 1, 1,
				YAML_ANY_SCALAR_STYLE) &&
			yaml_emitter_emit(&em, &ev);
	ok = ok && yaml_mapping_end_event_initialize(&ev) &&
		yaml_emitter_emit(&em, &ev) &&
		yaml_document_end_event_initialize(&ev, 1) &&
		yaml_emitter_emit(&em, &ev) &&
		yaml_stream_end_event_initialize(&ev) &&
		yaml_emitter_emit(&em, &ev) && yaml_emitter_flush(&em);
	yaml_emitter_delete(&em);
	return ok ? 0 : -1;
}

int cli_config_set(const char *store_dir, const char *key, const char *value)
{
	kv *kvs = NULL, *grown;
	size_t n = 0, i;
	char *path = NULL, *tmp = NULL;
	FILE *f = NULL;
	int rc = -1, fd;

	if (asprintf(&path, "%s/config.yaml", store_dir) < 0 ||
	    asprintf(&tmp, "%s/config.yaml.XXXXXX", store_dir) < 0) {
		cli_error("config: %s", strerror(ENOMEM));
		goto cleanup;
	}
	if (read_pairs(&kvs, &n, path) < 0)
		goto cleanup;
	for (i = 0; i < n && strcmp(kvs[i].key, key) != 0; i++)
		;
	if (i == n) {
		if ((grown = realloc(kvs, (n + 1) * sizeof(*kvs))) == NULL) {
			cli_error("config: %s", strerror(ENOMEM));
			goto cleanup;
		}
		kvs = grown;
		kvs[n].key = strdup(key);
		kvs[n].value = NULL;
		kvs[n].line = 0;
		n++;
	}
	free(kvs[i].value);
	kvs[i].value = strdup(value);
	if (kvs[i].key == NULL || kvs[i].value == NULL) {
		cli_error("config: %s", strerror(ENOMEM));
		goto cleanup;
	}
	/* A temp file renamed over the old one: never a half-written file. */
	if ((fd = mkstemp(tmp)) < 0 || (f = fdopen(fd, "w")) == NULL) {
		cli_error("%s: %s", tmp, strerror(errno));
		goto cleanup;
	}
	if (emit_pairs(f, kvs, n) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		cli_error("%s: cannot write: %s", tmp, strerror(errno));
		goto cleanup;
	}
	if (fclose(f) != 0) {
		f = NULL;
		cli_error("%s: cannot write: %s", tmp, strerror(errno));
		goto cleanup;
	}
	f = NULL;
	if (rename(tmp, path) != 0) {
		cli_error("%s: %s", path, strerror(errno));
		goto cleanup;
	}
	rc = 0;
cleanup:
	if (f != NULL)
		fclose(f);
	if (rc < 0 && tmp != NULL)
		unlink(tmp);
	kvs_free(kvs, n);
	free(path);
	free(tmp);
	return rc;
}
