/*
 * Store policy: the config file, the environment and the caller's options
 * resolved into the arca_options a store is opened with (arca.h,
 * "Store policy"), and the one syntax for sizes and durations.
 *
 * The config file is DIR/config.yaml of the store, else
 * ${XDG_CONFIG_HOME:-~/.config}/arca/config.yaml: a YAML mapping of
 * scalars, read with libyaml.
 *
 *   max_size: 10G          # bytes, or with K/M/G/T (binary units)
 *   low_watermark: 90      # percent of max_size eviction stops at
 *   inline_threshold: 100K # blobs up to this size live in the index
 *   lock_timeout: 10m      # wait for another process's lease
 *   ttl: 7d                # default time to live of stage results
 *   disk_reserve: 1G       # file system bytes puts leave free (space.c);
 *                          # auto: 5%, at most 256M; 0: max_size only
 *   link: auto             # how hits materialise outputs (arca_link_mode):
 *                          # auto, reflink, copy, hardlink or symlink
 *   verify: always         # or stamp: large file blobs are re-hashed
 *                          # only when their stat data changed
 *   verify_stamp_min: 64M  # the size from which stamp applies
 *   tiers:                 # remote tiers, in order (store.c opens them)
 *     - url: redis://cache.example:6379/0
 *       mode: read-write   # or read-only
 *       max_blob_size: 1M
 *       compress: zstd     # or none
 *       timeout_ms: 200
 *
 * tiers is the one key whose value is not a scalar: a sequence of
 * mappings (seed 004's shape), kept as such when arca_config_set()
 * rewrites the file.
 */
#include "internal.h"

#include "local.h"
#include "local_sql.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#define SIZE_HINT "expected a size (bytes, or with K, M, G, T: 500M, 10G)"
#define DURATION_HINT "expected a duration (90, 30s, 10m, 2h, 7d, 1w, 250ms)"
#define MAX_DURATION_MS 1e15
#define MAX_LOCK_TIMEOUT_MS (86400u * 1000u)
/* As local.c's limit: an inline blob is read into memory whole. */
#define MAX_INLINE_THRESHOLD ((uint64_t)64 << 20)

/* ---- sizes and durations --------------------------------------------- */

/*
 * digit+ [ "." digit+ ] (allow_bare_fraction: also "." digit+) at *p,
 * as a double; advances *p. -1 when there is no number.
 */
static int parse_decimal(double *out, const char **p, int allow_bare_fraction)
{
	const char *s = *p;
	double v = 0.0, scale = 0.1;
	int digits = 0;

	while (*s >= '0' && *s <= '9') {
		v = v * 10.0 + (*s - '0');
		s++;
		digits++;
	}
	if (*s == '.') {
		int frac = 0;

		if (digits == 0 && !allow_bare_fraction)
			return -1;
		s++;
		while (*s >= '0' && *s <= '9') {
			v += (*s - '0') * scale;
			scale /= 10.0;
			s++;
			frac++;
		}
		if (frac == 0)
			return -1;
		digits += frac;
	}
	if (digits == 0 || isinf(v))
		return -1;
	*out = v;
	*p = s;
	return 0;
}

int arca_parse_duration_ms(uint64_t *out_ms, const char *text)
{
	static const struct { const char *name; double ms; } units[] = {
		{ "", 1000.0 }, { "ms", 1.0 }, { "s", 1000.0 },
		{ "m", 60000.0 }, { "min", 60000.0 }, { "h", 3600000.0 },
		{ "d", 86400000.0 }, { "w", 7 * 86400000.0 }
	};
	const char *p = text;
	double v;
	size_t i;

	if (text == NULL || parse_decimal(&v, &p, 1) < 0)
		goto bad;
	for (i = 0; i < sizeof(units) / sizeof(*units); i++)
		if (strcmp(p, units[i].name) == 0)
			break;
	if (i == sizeof(units) / sizeof(*units))
		goto bad;
	v = ceil(v * units[i].ms);
	if (!(v <= MAX_DURATION_MS))
		goto bad;
	*out_ms = (uint64_t)v;
	return 0;
bad:
	return arca__error(ARCA_EINVAL, "'%s': " DURATION_HINT,
			text ? text : "(null)");
}

int arca_parse_size(uint64_t *out_bytes, const char *text)
{
	static const char units[] = "KMGTPE";
	const char *p = text, *u;
	double v, mult = 1.0;
	int has_fraction;

	if (text == NULL || parse_decimal(&v, &p, 0) < 0)
		goto bad;
	has_fraction = memchr(text, '.', (size_t)(p - text)) != NULL;
	if (*p == ' ')
		p++;
	if (*p != '\0' && *p != 'b' && *p != 'B') {
		if ((u = memchr(units, *p >= 'a' && *p <= 'z' ? *p - 32 : *p,
				sizeof(units) - 1)) == NULL)
			goto bad;
		mult = pow(1024.0, (double)(u - units + 1));
		p++;
		if (*p == 'i' || *p == 'I')
			p++;
	} else if (*p == '\0' && p > text && p[-1] == ' ') {
		goto bad; /* a trailing space and no unit */
	}
	if (*p == 'b' || *p == 'B')
		p++;
	if (*p != '\0' || (has_fraction && mult == 1.0))
		goto bad; /* a fraction of a byte */
	if (mult == 1.0 && !has_fraction) {
		/* Exact for integers beyond a double's 53 bits. */
		char *end = NULL;
		unsigned long long n;

		errno = 0;
		n = strtoull(text, &end, 10);
		if (errno != 0)
			goto bad;
		*out_bytes = n;
		return 0;
	}
	v *= mult;
	if (!(v < 18446744073709551616.0))
		goto bad;
	*out_bytes = (uint64_t)v;
	return 0;
bad:
	return arca__error(ARCA_EINVAL, "'%s': " SIZE_HINT,
			text ? text : "(null)");
}

/* ---- link modes ---------------------------------------------------- */

static const char *const link_names[] = {
	"default", "auto", "reflink", "copy", "hardlink", "symlink"
};

int arca_link_mode_parse(arca_link_mode *out, const char *name)
{
	size_t i;

	/* "default" is the spec's absence of a setting, not a word. */
	for (i = ARCA_LINK_AUTO; name != NULL &&
			i < sizeof(link_names) / sizeof(*link_names); i++) {
		if (strcmp(name, link_names[i]) == 0) {
			*out = (arca_link_mode)i;
			return 0;
		}
	}
	return arca__error(ARCA_EINVAL, "link mode '%s': expected auto, "
			"reflink, copy, hardlink or symlink",
			name ? name : "(null)");
}

const char *arca_link_mode_name(arca_link_mode mode)
{
	if ((unsigned int)mode < sizeof(link_names) / sizeof(*link_names))
		return link_names[mode];
	return "?";
}

/* ---- the config file ----------------------------------------------------- */

static const char *const known_keys[] = {
	"max_size", "low_watermark", "inline_threshold", "lock_timeout", "ttl",
	"disk_reserve", "link", "verify", "verify_stamp_min", "tiers"
};
#define N_KNOWN_KEYS (sizeof(known_keys) / sizeof(*known_keys))
#define KNOWN_KEYS_TEXT \
	"max_size, low_watermark, inline_threshold, lock_timeout, ttl, " \
	"disk_reserve, link, verify, verify_stamp_min, tiers"

struct kvseq;

/* One key: value of the file; a sequence of mappings (tiers) in seq. */
typedef struct kv {
	char *key;
	char *value;          /* NULL for a sequence */
	unsigned long line;
	struct kvseq *seq;    /* the items, each a mapping of scalars */
	size_t n_seq;
} kv;

/* One item of a sequence: a mapping of scalars. */
typedef struct kvseq {
	kv *kvs;
	size_t n;
	unsigned long line;
} kvseq;

static void kvs_free(kv *kvs, size_t n)
{
	size_t i, j;

	for (i = 0; kvs != NULL && i < n; i++) {
		free(kvs[i].key);
		free(kvs[i].value);
		for (j = 0; j < kvs[i].n_seq; j++)
			kvs_free(kvs[i].seq[j].kvs, kvs[i].seq[j].n);
		free(kvs[i].seq);
	}
	free(kvs);
}

/*
 * A mapping node of scalars into kvs (n_out pairs). ARCA_EINVAL naming
 * path and line when a value is not a scalar.
 */
static int read_mapping(kv **out, size_t *n_out, yaml_document_t *doc,
		yaml_node_t *map, const char *path)
{
	yaml_node_pair_t *pair;
	kv *kvs;
	size_t n = 0;
	int error = 0;

	*out = NULL;
	*n_out = 0;
	kvs = calloc((size_t)(map->data.mapping.pairs.top -
			map->data.mapping.pairs.start) + 1, sizeof(*kvs));
	if (kvs == NULL)
		return arca__error(ARCA_ENOMEM, "%s: out of memory", path);
	for (pair = map->data.mapping.pairs.start;
			pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(doc, pair->value);

		if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE ||
		    v->type != YAML_SCALAR_NODE) {
			error = arca__error(ARCA_EINVAL, "%s:%lu: expected 'key: "
					"value' with a single value", path,
					(unsigned long)(k ? k->start_mark.line :
					map->start_mark.line) + 1);
			goto cleanup;
		}
		kvs[n].key = arca__strdup((const char *)k->data.scalar.value);
		kvs[n].value = arca__strdup((const char *)v->data.scalar.value);
		kvs[n].line = (unsigned long)k->start_mark.line + 1;
		n++;
		if (kvs[n - 1].key == NULL || kvs[n - 1].value == NULL) {
			error = arca__error(ARCA_ENOMEM, "%s: out of memory",
					path);
			goto cleanup;
		}
	}
	*out = kvs;
	*n_out = n;
	kvs = NULL;
cleanup:
	kvs_free(kvs, n);
	return error;
}

/* The tiers: sequence node v into e->seq. */
static int read_sequence(kv *e, yaml_document_t *doc, yaml_node_t *v,
		const char *path)
{
	yaml_node_item_t *item;
	size_t cap = (size_t)(v->data.sequence.items.top -
			v->data.sequence.items.start) + 1;
	int error;

	if ((e->seq = calloc(cap, sizeof(*e->seq))) == NULL)
		return arca__error(ARCA_ENOMEM, "%s: out of memory", path);
	for (item = v->data.sequence.items.start;
			item < v->data.sequence.items.top; item++) {
		yaml_node_t *m = yaml_document_get_node(doc, *item);
		kvseq *s = &e->seq[e->n_seq];

		if (m == NULL || m->type != YAML_MAPPING_NODE)
			return arca__error(ARCA_EINVAL, "%s:%lu: %s: expected a "
					"mapping (- url: ...)", path,
					(unsigned long)(m ? m->start_mark.line :
					v->start_mark.line) + 1, e->key);
		s->line = (unsigned long)m->start_mark.line + 1;
		if ((error = read_mapping(&s->kvs, &s->n, doc, m, path)) < 0)
			return error;
		e->n_seq++;
	}
	return 0;
}

/*
 * Read path's top-level mapping of scalars. 0; ARCA_ENOTFOUND when the
 * file does not exist; ARCA_EINVAL naming "PATH:LINE"; ARCA_EPERM/EIO.
 */
static int read_pairs(kv **out, size_t *n_out, const char *path)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	yaml_node_pair_t *pair;
	FILE *f = NULL;
	kv *kvs = NULL;
	size_t n = 0;
	int error = 0, have_parser = 0, have_doc = 0;

	*out = NULL;
	*n_out = 0;
	if ((f = fopen(path, "rb")) == NULL) {
		if (errno == ENOENT)
			return ARCA_ENOTFOUND;
		return arca__error_errno(errno, "cannot read", path);
	}
	if (!yaml_parser_initialize(&parser)) {
		error = arca__error(ARCA_ENOMEM, "%s: out of memory", path);
		goto cleanup;
	}
	have_parser = 1;
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		error = arca__error(ARCA_EINVAL, "%s:%lu: %s", path,
				(unsigned long)parser.problem_mark.line + 1,
				parser.problem ? parser.problem : "invalid YAML");
		goto cleanup;
	}
	have_doc = 1;
	root = yaml_document_get_root_node(&doc);
	if (root == NULL)
		goto cleanup; /* an empty file */
	if (root->type != YAML_MAPPING_NODE) {
		error = arca__error(ARCA_EINVAL, "%s:%lu: expected a mapping of "
				"settings (key: value)", path,
				(unsigned long)root->start_mark.line + 1);
		goto cleanup;
	}
	kvs = calloc((size_t)(root->data.mapping.pairs.top -
			root->data.mapping.pairs.start) + 1, sizeof(*kvs));
	if (kvs == NULL) {
		error = arca__error(ARCA_ENOMEM, "%s: out of memory", path);
		goto cleanup;
	}
	for (pair = root->data.mapping.pairs.start;
			pair < root->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(&doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(&doc, pair->value);
		int is_seq = k != NULL && v != NULL &&
			k->type == YAML_SCALAR_NODE &&
			strcmp((const char *)k->data.scalar.value, "tiers") == 0;

		if (is_seq && v->type == YAML_SCALAR_NODE &&
		    v->data.scalar.length == 0)
			is_seq = 2; /* "tiers:" with nothing: no tiers */
		else if (is_seq && v->type != YAML_SEQUENCE_NODE) {
			error = arca__error(ARCA_EINVAL, "%s:%lu: tiers: expected "
					"a list of tiers (- url: ...)", path,
					(unsigned long)v->start_mark.line + 1);
			goto cleanup;
		}
		if (!is_seq && (k == NULL || v == NULL ||
		    k->type != YAML_SCALAR_NODE ||
		    v->type != YAML_SCALAR_NODE)) {
			error = arca__error(ARCA_EINVAL, "%s:%lu: expected 'key: "
					"value' with a single value", path,
					(unsigned long)(k ? k->start_mark.line :
					0) + 1);
			goto cleanup;
		}
		kvs[n].key = arca__strdup((const char *)k->data.scalar.value);
		kvs[n].value = is_seq ? NULL :
			arca__strdup((const char *)v->data.scalar.value);
		kvs[n].line = (unsigned long)k->start_mark.line + 1;
		n++;
		if (kvs[n - 1].key == NULL ||
		    (!is_seq && kvs[n - 1].value == NULL)) {
			error = arca__error(ARCA_ENOMEM, "%s: out of memory",
					path);
			goto cleanup;
		}
		if (is_seq == 1 && (error = read_sequence(&kvs[n - 1], &doc, v,
				path)) < 0)
			goto cleanup;
	}
	*out = kvs;
	*n_out = n;
	kvs = NULL;
cleanup:
	kvs_free(kvs, n);
	if (have_doc)
		yaml_document_delete(&doc);
	if (have_parser)
		yaml_parser_delete(&parser);
	fclose(f);
	return error;
}

/* Bytes of a user string quoted in a message, before "...". */
#define SHOW_MAX 200

/*
 * Copy s for quoting in a one-line message: control characters (a YAML
 * scalar may hold a newline) become '?', and more than SHOW_MAX bytes are
 * cut at a UTF-8 character boundary and marked with "...".
 */
static const char *show(char buf[SHOW_MAX + 4], const char *s)
{
	size_t n = strlen(s), len = n, i;

	if (n > SHOW_MAX) {
		n = SHOW_MAX - 3;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7F) ? '?' :
			s[i];
	if (n < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/*
 * Check value as key's setting and store it in o, marking its bit in
 * *set. where prefixes the message: "PATH:LINE: key" or "ARCA_TTL".
 */
static int apply_setting(arca_options *o, unsigned int *set, const char *key,
		const char *value, const char *where, int is_env)
{
	char shown[SHOW_MAX + 4];
	uint64_t v;

	/* Quoting as the callers always did: "PATH:N: ttl 'x'" for the file,
	 * "ARCA_TTL='x'" for a variable. */
#define QUOTE_FMT (is_env ? "%s='%s': %s" : "%s '%s': %s")
	if (strcmp(key, "max_size") == 0 ||
	    strcmp(key, "inline_threshold") == 0) {
		if (arca_parse_size(&v, value) < 0)
			return arca__error(ARCA_EINVAL, QUOTE_FMT, where,
					show(shown, value), SIZE_HINT);
		if (key[0] == 'i' && v > MAX_INLINE_THRESHOLD)
			return arca__error(ARCA_EINVAL, QUOTE_FMT, where,
					show(shown, value),
					"expected a size of at most 64M");
		if (key[0] == 'm') {
			o->max_size = v;
			*set |= ARCA_OPT_MAX_SIZE;
		} else {
			o->inline_threshold = v;
			*set |= ARCA_OPT_INLINE_THRESHOLD;
		}
		return 0;
	}
	if (strcmp(key, "disk_reserve") == 0) {
		if (strcmp(value, "auto") == 0)
			v = ARCA_DISK_RESERVE_AUTO;
		else if (arca_parse_size(&v, value) < 0 ||
				v == ARCA_DISK_RESERVE_AUTO)
			return arca__error(ARCA_EINVAL, QUOTE_FMT, where,
					show(shown, value),
					SIZE_HINT ", or auto");
		o->disk_reserve = v;
		*set |= ARCA_OPT_DISK_RESERVE;
		return 0;
	}
	if (strcmp(key, "link") == 0) {
		arca_link_mode m;

		if (arca_link_mode_parse(&m, value) < 0)
			return arca__error(ARCA_EINVAL, QUOTE_FMT, where,
					show(shown, value), "expected auto, "
					"reflink, copy, hardlink or symlink");
		o->link = (unsigned int)m;
		*set |= ARCA_OPT_LINK;
		return 0;
	}
	if (strcmp(key, "verify") == 0) {
		if (strcmp(value, "always") == 0)
			o->verify = ARCA_VERIFY_ALWAYS;
		else if (strcmp(value, "stamp") == 0)
			o->verify = ARCA_VERIFY_STAMP;
		else
			return arca__error(ARCA_EINVAL, QUOTE_FMT, where,
					show(shown, value),
					"expected always or stamp");
		*set |= ARCA_OPT_VERIFY;
		return 0;
	}
	if (strcmp(key, "verify_stamp_min") == 0) {
		if (arca_parse_size(&v, value) < 0 || v == 0)
			return arca__error(ARCA_EINVAL, QUOTE_FMT, where,
					show(shown, value),
					SIZE_HINT ", more than 0");
		o->verify_stamp_min = v;
		*set |= ARCA_OPT_VERIFY_STAMP_MIN;
		return 0;
	}
	if (strcmp(key, "low_watermark") == 0) {
		char *end = NULL;
		unsigned long pct;

		errno = 0;
		pct = strtoul(value, &end, 10);
		if (value[0] < '0' || value[0] > '9' || errno != 0 ||
		    (*end != '\0' && strcmp(end, "%") != 0) || pct < 1 ||
		    pct > 100)
			return arca__error(ARCA_EINVAL, QUOTE_FMT, where,
					show(shown, value),
					"expected a percent from 1 to 100");
		o->low_watermark_pct = (unsigned int)pct;
		*set |= ARCA_OPT_LOW_WATERMARK;
		return 0;
	}
	if (strcmp(key, "lock_timeout") == 0) {
		if (arca_parse_duration_ms(&v, value) < 0 || v == 0 ||
		    v > MAX_LOCK_TIMEOUT_MS)
			return arca__error(ARCA_EINVAL, QUOTE_FMT, where,
					show(shown, value),
					"expected a duration of more than 0 and "
					"at most 1d (30s, 10m, 2h)");
		o->lock_timeout_ms = (unsigned int)v;
		*set |= ARCA_OPT_LOCK_TIMEOUT;
		return 0;
	}
	/* ttl */
	if (arca_parse_duration_ms(&v, value) < 0)
		return arca__error(ARCA_EINVAL, QUOTE_FMT, where,
				show(shown, value), DURATION_HINT);
	o->default_ttl_s = (v + 999) / 1000;
	*set |= ARCA_OPT_DEFAULT_TTL;
	return 0;
#undef QUOTE_FMT
}

static int known_key(const char *key)
{
	size_t i;

	for (i = 0; i < N_KNOWN_KEYS; i++)
		if (strcmp(key, known_keys[i]) == 0)
			return 1;
	return 0;
}

/* ---- tiers ---------------------------------------------------------- */

#define TIER_KEYS_TEXT "url, mode, max_blob_size, compress, timeout_ms, promote"

void arca__tier_confs_free(arca__tier_conf *c, size_t n)
{
	size_t i;

	for (i = 0; c != NULL && i < n; i++) {
		free(c[i].url);
		free(c[i].where);
	}
	free(c);
}

/* A YAML boolean (1.1 and 1.2 spellings) into *out; -1 when not one. */
static int parse_bool(int *out, const char *v)
{
	if (strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
	    strcasecmp(v, "on") == 0) {
		*out = 1;
		return 0;
	}
	if (strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0 ||
	    strcasecmp(v, "off") == 0) {
		*out = 0;
		return 0;
	}
	return -1;
}

/* One item of tiers: into c. Messages name PATH:LINE. */
static int parse_tier_item(arca__tier_conf *c, const kvseq *item,
		const char *path)
{
	char shown[SHOW_MAX + 4];
	size_t i;
	int b;

	memset(c, 0, sizeof(*c));
	c->opts = (arca_tier_options)ARCA_TIER_OPTIONS_INIT;
	c->compress = -1;
	for (i = 0; i < item->n; i++) {
		const kv *e = &item->kvs[i];
		const char *v = e->value;
		uint64_t n;

		if (strcmp(e->key, "url") == 0) {
			if (*v == '\0' || strstr(v, "://") == NULL)
				return arca__error(ARCA_EINVAL, "%s:%lu: tiers: url "
						"'%s': expected a tier URL "
						"(redis://HOST[:PORT][/DB], ...)",
						path, e->line, show(shown, v));
			free(c->url);
			if ((c->url = arca__strdup(v)) == NULL)
				return arca__error(ARCA_ENOMEM, "out of memory");
		} else if (strcmp(e->key, "mode") == 0) {
			if (strcmp(v, "read-write") == 0)
				c->opts.read_only = 0;
			else if (strcmp(v, "read-only") == 0)
				c->opts.read_only = 1;
			else
				return arca__error(ARCA_EINVAL, "%s:%lu: tiers: mode "
						"'%s': expected read-write or "
						"read-only", path, e->line,
						show(shown, v));
		} else if (strcmp(e->key, "max_blob_size") == 0) {
			if (arca_parse_size(&n, v) < 0)
				return arca__error(ARCA_EINVAL, "%s:%lu: tiers: "
						"max_blob_size '%s': " SIZE_HINT,
						path, e->line, show(shown, v));
			c->opts.max_blob_size = n;
		} else if (strcmp(e->key, "compress") == 0) {
			if (strcmp(v, "zstd") == 0)
				c->compress = 1;
			else if (strcmp(v, "none") == 0)
				c->compress = 0;
			else if (parse_bool(&b, v) == 0)
				c->compress = b;
			else
				return arca__error(ARCA_EINVAL, "%s:%lu: tiers: "
						"compress '%s': expected zstd or "
						"none", path, e->line,
						show(shown, v));
		} else if (strcmp(e->key, "timeout_ms") == 0) {
			char *end = NULL;
			unsigned long long ms;

			errno = 0;
			ms = strtoull(v, &end, 10);
			/* A bare number is milliseconds here; "2s" works too. */
			if (v[0] >= '0' && v[0] <= '9' && errno == 0 &&
			    *end == '\0')
				n = ms;
			else if (arca_parse_duration_ms(&n, v) < 0)
				n = UINT64_MAX;
			if (n == 0 || n > MAX_LOCK_TIMEOUT_MS)
				return arca__error(ARCA_EINVAL, "%s:%lu: tiers: "
						"timeout_ms '%s': expected "
						"milliseconds, more than 0 and at "
						"most a day (200, 2s)", path,
						e->line, show(shown, v));
			c->opts.timeout_ms = (unsigned int)n;
		} else if (strcmp(e->key, "promote") == 0) {
			if (parse_bool(&b, v) < 0)
				return arca__error(ARCA_EINVAL, "%s:%lu: tiers: "
						"promote '%s': expected true or "
						"false", path, e->line,
						show(shown, v));
			c->opts.promote = b;
		} else {
			return arca__error(ARCA_EINVAL, "%s:%lu: tiers: unknown "
					"key '%s' (known: " TIER_KEYS_TEXT ")",
					path, e->line, show(shown, e->key));
		}
	}
	if (c->url == NULL)
		return arca__error(ARCA_EINVAL, "%s:%lu: tiers: a tier without "
				"url", path, item->line);
	if (asprintf(&c->where, "%s:%lu", path, item->line) < 0) {
		c->where = NULL;
		return arca__error(ARCA_ENOMEM, "out of memory");
	}
	return 0;
}

/* The tiers of e (the file's tiers: key) into *out. */
static int parse_tiers(arca__tier_conf **out, size_t *n_out, const kv *e,
		const char *path)
{
	arca__tier_conf *c;
	size_t i;
	int error;

	*out = NULL;
	*n_out = 0;
	if ((c = calloc(e->n_seq + 1, sizeof(*c))) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	for (i = 0; i < e->n_seq; i++)
		if ((error = parse_tier_item(&c[i], &e->seq[i], path)) < 0) {
			arca__tier_confs_free(c, i + 1);
			return error;
		}
	*out = c;
	*n_out = e->n_seq;
	return 0;
}

/* Append url to *list; options of the config entry with that URL, if
 * any, else the defaults. */
static int add_tier_url(arca__tier_conf **list, size_t *n, const char *url,
		size_t len, const arca__tier_conf *file, size_t n_file,
		const char *where)
{
	arca__tier_conf *grown, *c;
	size_t i;

	if ((grown = realloc(*list, (*n + 1) * sizeof(**list))) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	*list = grown;
	c = &grown[*n];
	memset(c, 0, sizeof(*c));
	c->opts = (arca_tier_options)ARCA_TIER_OPTIONS_INIT;
	c->compress = -1;
	if ((c->url = malloc(len + 1)) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	memcpy(c->url, url, len);
	c->url[len] = '\0';
	(*n)++;
	for (i = 0; i < n_file; i++)
		if (strcmp(file[i].url, c->url) == 0) {
			c->opts = file[i].opts;
			c->compress = file[i].compress;
			break;
		}
	if ((c->where = arca__strdup(where)) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	return 0;
}

static int config_path(char **out, const char *dir);

/*
 * compress: of a Redis tier (redis://, redis+unix://, redis+cluster://)
 * or an S3 tier (s3://) becomes the URL's ?compress=0|1
 * (include/arca/sys/redis.h, include/arca/sys/s3.h), unless the URL says
 * it already; other schemes have no compression setting and are left as
 * they are.
 */
static int apply_compress(arca__tier_conf *c)
{
	char *url;

	if (c->compress < 0 || strstr(c->url, "compress=") != NULL ||
	    (strncasecmp(c->url, "redis://", 8) != 0 &&
	     strncasecmp(c->url, "redis+unix://", 13) != 0 &&
	     strncasecmp(c->url, "redis+cluster://", 16) != 0 &&
	     strncasecmp(c->url, "s3://", 5) != 0))
		return 0;
	if (asprintf(&url, "%s%ccompress=%d", c->url,
			strchr(c->url, '?') ? '&' : '?', c->compress) < 0)
		return arca__error(ARCA_ENOMEM, "out of memory");
	free(c->url);
	c->url = url;
	return 0;
}

int arca__tiers_resolve(arca__tier_conf **out, size_t *n_out,
		const char *dir, const arca_options *opts)
{
	arca__tier_conf *file = NULL, *list = NULL;
	size_t n_file = 0, n = 0, i;
	kv *kvs = NULL;
	size_t n_kvs = 0;
	char *path = NULL;
	const char *env = getenv("ARCA_TIERS");
	int error;

	*out = NULL;
	*n_out = 0;
	if ((error = config_path(&path, dir)) < 0)
		goto cleanup;
	if (path != NULL && (error = read_pairs(&kvs, &n_kvs, path)) < 0) {
		if (error != ARCA_ENOTFOUND)
			goto cleanup;
		error = 0;
	}
	for (i = 0; i < n_kvs; i++)
		if (strcmp(kvs[i].key, "tiers") == 0) {
			arca__tier_confs_free(file, n_file);
			if ((error = parse_tiers(&file, &n_file, &kvs[i],
					path)) < 0)
				goto cleanup;
		}
	/* Highest precedence first: the caller's list, ARCA_TIERS, the
	 * file. A URL named by the first two takes the file's options for
	 * the same URL. */
	if (opts != NULL && opts->version >= 5 &&
	    (opts->given & ARCA_OPT_TIERS)) {
		for (i = 0; i < opts->n_tiers; i++) {
			if (opts->tiers == NULL || opts->tiers[i] == NULL) {
				error = arca__error(ARCA_EINVAL, "arca_options: "
						"tier %zu is NULL", i);
				goto cleanup;
			}
			if ((error = add_tier_url(&list, &n, opts->tiers[i],
					strlen(opts->tiers[i]), file, n_file,
					"the caller's options")) < 0)
				goto cleanup;
		}
	} else if (env != NULL && *env != '\0') {
		const char *p = env;

		while (*p != '\0') {
			size_t len;

			p += strspn(p, " \t\n");
			len = strcspn(p, " \t\n");
			if (len > 0 && (error = add_tier_url(&list, &n, p, len,
					file, n_file, "ARCA_TIERS")) < 0)
				goto cleanup;
			p += len;
		}
	} else {
		list = file;
		n = n_file;
		file = NULL;
		n_file = 0;
	}
	for (i = 0; i < n; i++)
		if ((error = apply_compress(&list[i])) < 0)
			goto cleanup;
	*out = list;
	*n_out = n;
	list = NULL;
	n = 0;
cleanup:
	arca__tier_confs_free(list, n);
	arca__tier_confs_free(file, n_file);
	kvs_free(kvs, n_kvs);
	free(path);
	return error;
}

/* The store's config.yaml if it exists, else the user's (or NULL). */
static int config_path(char **out, const char *dir)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char *p = NULL;
	int n = 0;

	*out = NULL;
	if (asprintf(&p, "%s/config.yaml", dir) < 0)
		return arca__error(ARCA_ENOMEM, "out of memory");
	if (access(p, F_OK) == 0) {
		*out = p;
		return 0;
	}
	free(p);
	p = NULL;
	if (xdg && *xdg)
		n = asprintf(&p, "%s/arca/config.yaml", xdg);
	else if (home && *home)
		n = asprintf(&p, "%s/.config/arca/config.yaml", home);
	if (n < 0)
		return arca__error(ARCA_ENOMEM, "out of memory");
	*out = p;
	return 0;
}

/* The config file's settings into o; their bits into *set. */
static int load_file(arca_options *o, unsigned int *set, const char *dir)
{
	kv *kvs = NULL;
	size_t n = 0, i;
	char *path = NULL, where[4200], shown[SHOW_MAX + 4];
	int error;

	if ((error = config_path(&path, dir)) < 0 || path == NULL)
		goto cleanup;
	if ((error = read_pairs(&kvs, &n, path)) < 0) {
		if (error == ARCA_ENOTFOUND)
			error = 0;
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		if (!known_key(kvs[i].key)) {
			error = arca__error(ARCA_EINVAL, "%s:%lu: unknown setting "
					"'%s' (known: " KNOWN_KEYS_TEXT ")", path,
					kvs[i].line, show(shown, kvs[i].key));
			goto cleanup;
		}
		if (strcmp(kvs[i].key, "tiers") == 0) {
			arca__tier_conf *c = NULL;
			size_t n_c = 0;

			/* Checked here, opened by store.c. */
			if ((error = parse_tiers(&c, &n_c, &kvs[i], path)) < 0)
				goto cleanup;
			arca__tier_confs_free(c, n_c);
			continue;
		}
		snprintf(where, sizeof(where), "%s:%lu: %s", path, kvs[i].line,
				kvs[i].key);
		if ((error = apply_setting(o, set, kvs[i].key, kvs[i].value,
				where, 0)) < 0)
			goto cleanup;
	}
cleanup:
	kvs_free(kvs, n);
	free(path);
	return error;
}

/* The environment's settings into o; their bits into *set. */
static int load_env(arca_options *o, unsigned int *set)
{
	static const struct { const char *var; const char *key; } vars[] = {
		{ "ARCA_MAX_SIZE", "max_size" },
		{ "ARCA_INLINE_THRESHOLD", "inline_threshold" },
		{ "ARCA_LOCK_TIMEOUT", "lock_timeout" },
		{ "ARCA_TTL", "ttl" },
		{ "ARCA_DISK_RESERVE", "disk_reserve" },
		{ "ARCA_LINK", "link" },
		{ "ARCA_VERIFY", "verify" },
		{ "ARCA_VERIFY_STAMP_MIN", "verify_stamp_min" }
	};
	size_t i;
	int error;

	for (i = 0; i < sizeof(vars) / sizeof(*vars); i++) {
		const char *v = getenv(vars[i].var);

		if (v == NULL || *v == '\0')
			continue;
		if ((error = apply_setting(o, set, vars[i].key, v, vars[i].var,
				1)) < 0)
			return error;
	}
	return 0;
}

/* The policy fields a caller's struct sets (see arca_options). */
static unsigned int caller_given(const arca_options *opts)
{
	const arca_options d = ARCA_OPTIONS_INIT;
	unsigned int given;

	if (opts->version == 1)
		return ARCA_OPT_INLINE_THRESHOLD;
	if (opts->version == 2)
		return ARCA_OPT_INLINE_THRESHOLD | ARCA_OPT_MAX_SIZE |
			ARCA_OPT_LOW_WATERMARK | ARCA_OPT_LOCK_TIMEOUT;
	given = opts->given & ARCA_OPT_ALL;
	/* disk_reserve is past the end of a version 3 struct. */
	if (opts->version == 3)
		given &= ~(unsigned int)ARCA_OPT_DISK_RESERVE;
	else if (opts->disk_reserve != d.disk_reserve)
		given |= ARCA_OPT_DISK_RESERVE;
	/* verify and verify_stamp_min are past the end before version 6. */
	if (opts->version < 6) {
		given &= ~(unsigned int)(ARCA_OPT_VERIFY |
				ARCA_OPT_VERIFY_STAMP_MIN);
	} else {
		if (opts->verify != d.verify)
			given |= ARCA_OPT_VERIFY;
		if (opts->verify_stamp_min != d.verify_stamp_min)
			given |= ARCA_OPT_VERIFY_STAMP_MIN;
	}
	if (opts->inline_threshold != d.inline_threshold)
		given |= ARCA_OPT_INLINE_THRESHOLD;
	if (opts->max_size != d.max_size)
		given |= ARCA_OPT_MAX_SIZE;
	if (opts->low_watermark_pct != d.low_watermark_pct)
		given |= ARCA_OPT_LOW_WATERMARK;
	if (opts->lock_timeout_ms != d.lock_timeout_ms)
		given |= ARCA_OPT_LOCK_TIMEOUT;
	if (opts->default_ttl_s != d.default_ttl_s)
		given |= ARCA_OPT_DEFAULT_TTL;
	/* link is past the end of a struct older than version 6. */
	if (opts->version < 6)
		given &= ~(unsigned int)ARCA_OPT_LINK;
	else if (opts->link != d.link && opts->link != ARCA_LINK_DEFAULT)
		given |= ARCA_OPT_LINK;
	return given;
}

int arca_options_resolve(arca_options *out, const char *dir,
		const arca_options *opts)
{
	arca_options r = ARCA_OPTIONS_INIT;
	unsigned int given = 0, set = 0;
	char *default_dir = NULL;
	int error = 0;

	if (opts != NULL && (opts->version < 1 ||
			opts->version > ARCA_OPTIONS_VERSION))
		return arca__error(ARCA_EINVAL, "arca_options version %u is not "
				"supported (expected 1 to %u)", opts->version,
				ARCA_OPTIONS_VERSION);
	if (dir == NULL) {
		if ((error = arca_store_default_dir(&default_dir)) < 0)
			return error;
		dir = default_dir;
	}
	if (*dir == '\0') {
		error = arca__error(ARCA_EINVAL, "empty store directory");
		goto cleanup;
	}
	/* Lowest precedence first; each layer overwrites what it sets. */
	if ((error = load_file(&r, &set, dir)) < 0 ||
	    (error = load_env(&r, &set)) < 0)
		goto cleanup;
	if (opts != NULL) {
		given = caller_given(opts);
		r.busy_timeout_ms = opts->busy_timeout_ms;
		r.read_only = opts->read_only;
		if (given & ARCA_OPT_INLINE_THRESHOLD)
			r.inline_threshold = opts->inline_threshold;
		if (given & ARCA_OPT_MAX_SIZE)
			r.max_size = opts->max_size;
		if (given & ARCA_OPT_LOW_WATERMARK)
			r.low_watermark_pct = opts->low_watermark_pct;
		if (given & ARCA_OPT_LOCK_TIMEOUT)
			r.lock_timeout_ms = opts->lock_timeout_ms;
		if (given & ARCA_OPT_DEFAULT_TTL)
			r.default_ttl_s = opts->default_ttl_s;
		/* caller_given() leaves the bit out of older, shorter structs. */
		if (given & ARCA_OPT_DISK_RESERVE)
			r.disk_reserve = opts->disk_reserve;
		if (given & ARCA_OPT_VERIFY)
			r.verify = opts->verify;
		if (given & ARCA_OPT_VERIFY_STAMP_MIN)
			r.verify_stamp_min = opts->verify_stamp_min;
		if (given & ARCA_OPT_LINK)
			r.link = opts->link;
	}
	if (r.link == ARCA_LINK_DEFAULT)
		r.link = ARCA_LINK_AUTO;
	if (r.link > ARCA_LINK_SYMLINK) {
		error = arca__error(ARCA_EINVAL, "link mode %u is not one of "
				"arca_link_mode's", r.link);
		goto cleanup;
	}
	if (r.verify != ARCA_VERIFY_ALWAYS && r.verify != ARCA_VERIFY_STAMP) {
		error = arca__error(ARCA_EINVAL, "verify %u is not "
				"ARCA_VERIFY_ALWAYS or ARCA_VERIFY_STAMP",
				r.verify);
		goto cleanup;
	}
	if (r.verify_stamp_min == 0) {
		error = arca__error(ARCA_EINVAL, "verify_stamp_min is 0 "
				"(expected at least 1 byte)");
		goto cleanup;
	}
	if (r.low_watermark_pct < 1 || r.low_watermark_pct > 100) {
		error = arca__error(ARCA_EINVAL, "low watermark %u%% is not "
				"between 1 and 100", r.low_watermark_pct);
		goto cleanup;
	}
	if (r.inline_threshold > MAX_INLINE_THRESHOLD) {
		error = arca__error(ARCA_EINVAL, "inline threshold %llu bytes is "
				"above the maximum of 64 MiB",
				(unsigned long long)r.inline_threshold);
		goto cleanup;
	}
	if (r.lock_timeout_ms == 0 || r.lock_timeout_ms > MAX_LOCK_TIMEOUT_MS) {
		error = arca__error(ARCA_EINVAL, "lock timeout %u ms is not more "
				"than 0 and at most a day", r.lock_timeout_ms);
		goto cleanup;
	}
	r.given = ARCA_OPT_ALL;
	*out = r;
cleanup:
	free(default_dir);
	return error;
}

int arca_store_get_options(arca_options *out, const arca_store *store)
{
	/* The handle is not changed; the accessor takes a mutable pointer. */
	arca__local *l = arca__store_local((arca_store *)store);

	*out = l->opts;
	out->version = ARCA_OPTIONS_VERSION;
	out->given = ARCA_OPT_ALL;
	return 0;
}

/* ---- writing a setting ------------------------------------------------- */

/* Emit kvs's scalar pairs inside the current mapping. 0 or -1. */
static int emit_scalars(yaml_emitter_t *em, const kv *kvs, size_t n)
{
	yaml_event_t ev;
	size_t i;

	for (i = 0; i < n; i++)
		if (!yaml_scalar_event_initialize(&ev, NULL, NULL,
				(yaml_char_t *)kvs[i].key, -1, 1, 1,
				YAML_PLAIN_SCALAR_STYLE) ||
		    !yaml_emitter_emit(em, &ev) ||
		    !yaml_scalar_event_initialize(&ev, NULL, NULL,
				(yaml_char_t *)kvs[i].value, -1, 1, 1,
				YAML_ANY_SCALAR_STYLE) ||
		    !yaml_emitter_emit(em, &ev))
			return -1;
	return 0;
}

/* Emit kvs as a block mapping to f. 0 or -1. */
static int emit_pairs(FILE *f, const kv *kvs, size_t n)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	size_t i;
	int ok;

	if (!yaml_emitter_initialize(&em))
		return -1;
	yaml_emitter_set_output_file(&em, f);
	ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) &&
		yaml_emitter_emit(&em, &ev) &&
		yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) &&
		yaml_emitter_emit(&em, &ev) &&
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
				YAML_BLOCK_MAPPING_STYLE) &&
		yaml_emitter_emit(&em, &ev);
	for (i = 0; ok && i < n; i++) {
		size_t j;

		ok = yaml_scalar_event_initialize(&ev, NULL, NULL,
				(yaml_char_t *)kvs[i].key, -1, 1, 1,
				YAML_PLAIN_SCALAR_STYLE) &&
			yaml_emitter_emit(&em, &ev);
		if (ok && kvs[i].value != NULL) {
			ok = yaml_scalar_event_initialize(&ev, NULL, NULL,
					(yaml_char_t *)kvs[i].value, -1, 1, 1,
					YAML_ANY_SCALAR_STYLE) &&
				yaml_emitter_emit(&em, &ev);
			continue;
		}
		/* A sequence of mappings (tiers), kept as it was read. */
		ok = ok && yaml_sequence_start_event_initialize(&ev, NULL, NULL,
				1, YAML_BLOCK_SEQUENCE_STYLE) &&
			yaml_emitter_emit(&em, &ev);
		for (j = 0; ok && j < kvs[i].n_seq; j++) {
			ok = yaml_mapping_start_event_initialize(&ev, NULL, NULL,
					1, YAML_BLOCK_MAPPING_STYLE) &&
				yaml_emitter_emit(&em, &ev);
			if (ok)
				ok = emit_scalars(&em, kvs[i].seq[j].kvs,
						kvs[i].seq[j].n) == 0;
			ok = ok && yaml_mapping_end_event_initialize(&ev) &&
				yaml_emitter_emit(&em, &ev);
		}
		ok = ok && yaml_sequence_end_event_initialize(&ev) &&
			yaml_emitter_emit(&em, &ev);
	}
	ok = ok && yaml_mapping_end_event_initialize(&ev) &&
		yaml_emitter_emit(&em, &ev) &&
		yaml_document_end_event_initialize(&ev, 1) &&
		yaml_emitter_emit(&em, &ev) &&
		yaml_stream_end_event_initialize(&ev) &&
		yaml_emitter_emit(&em, &ev) && yaml_emitter_flush(&em);
	yaml_emitter_delete(&em);
	return ok ? 0 : -1;
}

int arca_config_set(const char *dir, const char *key, const char *value)
{
	arca_options scratch = ARCA_OPTIONS_INIT;
	unsigned int set = 0;
	kv *kvs = NULL, *grown;
	size_t n = 0, i;
	char *path = NULL, *tmp = NULL;
	FILE *f = NULL;
	int error, fd = -1, dfd;

	if (dir == NULL || key == NULL || value == NULL)
		return arca__error(ARCA_EINVAL, "arca_config_set: NULL argument");
	if (!known_key(key))
		return arca__error(ARCA_EINVAL, "unknown setting '%s' (known: "
				KNOWN_KEYS_TEXT ")", key);
	if (strcmp(key, "tiers") == 0)
		return arca__error(ARCA_EINVAL, "tiers is a list: edit "
				"%s/config.yaml (docs/cli.md, \"Remote tiers\")",
				dir);
	if ((error = apply_setting(&scratch, &set, key, value, key, 0)) < 0)
		return error;
	if (asprintf(&path, "%s/config.yaml", dir) < 0) {
		path = NULL;
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (asprintf(&tmp, "%s/config.yaml.XXXXXX", dir) < 0) {
		tmp = NULL;
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((error = read_pairs(&kvs, &n, path)) < 0 && error != ARCA_ENOTFOUND)
		goto cleanup;
	for (i = 0; i < n && strcmp(kvs[i].key, key) != 0; i++)
		;
	if (i == n) {
		if ((grown = realloc(kvs, (n + 1) * sizeof(*kvs))) == NULL) {
			error = arca__error(ARCA_ENOMEM, "out of memory");
			goto cleanup;
		}
		kvs = grown;
		memset(&kvs[n], 0, sizeof(kvs[n]));
		kvs[n].key = arca__strdup(key);
		kvs[n].value = NULL;
		kvs[n].line = 0;
		n++;
	}
	free(kvs[i].value);
	kvs[i].value = arca__strdup(value);
	if (kvs[i].key == NULL || kvs[i].value == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	/* A temp file renamed over the old one: never a half-written file. */
	if ((fd = mkstemp(tmp)) < 0) {
		error = arca__error_errno(errno, "cannot create", tmp);
		goto cleanup;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		error = arca__error_errno(errno, "cannot write", tmp);
		close(fd);
		goto cleanup;
	}
	if (emit_pairs(f, kvs, n) < 0 || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0) {
		error = arca__error_errno(errno ? errno : EIO, "cannot write",
				tmp);
		goto cleanup;
	}
	if (fclose(f) != 0) {
		f = NULL;
		error = arca__error_errno(errno, "cannot write", tmp);
		goto cleanup;
	}
	f = NULL;
	if (rename(tmp, path) != 0) {
		error = arca__error_errno(errno, "cannot rename into", path);
		goto cleanup;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	error = 0;
cleanup:
	if (f != NULL)
		fclose(f);
	if (error < 0 && fd >= 0)
		unlink(tmp);
	kvs_free(kvs, n);
	free(path);
	free(tmp);
	return error;
}
