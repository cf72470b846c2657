/*
 * Pipeline files (arca.yaml, include/arca/pipeline.h): parsing with
 * libyaml's event API into a small tree, checking that tree against the
 * format of docs/pipeline.md, and ordering the stages (the plan).
 *
 * libyaml does the YAML; this file only builds nodes from its events, so
 * that every value keeps the line it came from, and then walks them. Anchors,
 * aliases and explicit tags are refused rather than resolved: a pipeline
 * never needs them, and refusing them rules out alias expansion bombs.
 *
 * It needs nothing of libarca but error.c (arca__error), so that the
 * libFuzzer harness (tests/fuzz/) compiles the two alone.
 */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <yaml.h>

/* Limits that keep hostile or broken files cheap to refuse. */
#define PL_MAX_BYTES ((size_t)16 * 1024 * 1024) /* whole file */
#define PL_MAX_DEPTH 32                         /* nested collections */
#define PL_MAX_NODES 1000000                    /* scalars + collections */

/* Durations: at most this many digits, so value * 86400 fits in int64. */

/* How much of a user's string a message quotes. */
#define PL_SHOW_MAX 64

/* A message is composed here, then handed to arca__error (which keeps as
 * much: error.c's buffer is as long). */
#define PL_MSG_MAX 1024

/* ---- messages ---------------------------------------------------------- */

/* A user string made safe to quote in a one-line message. */
typedef struct shown {
	char s[PL_SHOW_MAX + 4];
} shown;

/*
 * Copy at most PL_SHOW_MAX bytes of s, cut at a UTF-8 character boundary
 * and marked with "...", with control characters replaced by '?' so that
 * a message stays on one line.
 */
static const char *show(shown *b, const char *s, size_t len)
{
	size_t n = len, i;

	if (s == NULL) {
		strcpy(b->s, "(null)");
		return b->s;
	}
	if (n > PL_SHOW_MAX) {
		n = PL_SHOW_MAX - 3;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		b->s[i] = (ch < 0x20 || ch == 0x7F) ? '?' : (char)ch;
	}
	if (n < len) {
		memcpy(b->s + n, "...", 3);
		n += 3;
	}
	b->s[n] = '\0';
	return b->s;
}

static const char *shows(shown *b, const char *s)
{
	return show(b, s, s ? strlen(s) : 0);
}

/*
 * Record "NAME:LINE: message" (or "NAME: message" for line 0) as this
 * thread's arca_errmsg() and return code.
 */
static int vfail(int code, const char *name, int line, const char *fmt,
		va_list ap)
{
	char msg[PL_MSG_MAX];
	int n;

	if (line > 0)
		n = snprintf(msg, sizeof(msg), "%s:%d: ", name, line);
	else
		n = snprintf(msg, sizeof(msg), "%s: ", name);
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof(msg))
		vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	return arca__error(code, "%s", msg);
}

static int fail_at(int code, const char *name, int line, const char *fmt,
		...) ARCA__PRINTF(4, 5);

static int fail_at(int code, const char *name, int line, const char *fmt,
		...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vfail(code, name, line, fmt, ap);
	va_end(ap);
	return r;
}

/* ---- small helpers ----------------------------------------------------- */

static char *dup_mem(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (d == NULL)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

static int is_name_char(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		(ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-';
}

/* Stage and param names: [A-Za-z0-9_.-]+ */
static int is_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if (!is_name_char((unsigned char)s[i]))
			return 0;
	return 1;
}

/* Environment variable names: [A-Za-z_][A-Za-z0-9_]* (POSIX). */
static int is_env_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
				(ch >= '0' && ch <= '9') || ch == '_'))
			return 0;
	}
	return 1;
}

/* FNV-1a, for the string maps below. */
static size_t hash_mem(const char *s, size_t len)
{
	size_t h = (size_t)14695981039346656037ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= (size_t)1099511628211ULL;
	}
	return h;
}

/*
 * An open-addressing map from a borrowed string to two numbers, so that
 * duplicate keys and producers are found in linear time even in a huge
 * (fuzzed) file.
 */
typedef struct strmap_entry {
	const char *key; /* borrowed; NULL: empty slot */
	size_t len;
	size_t a, b;
} strmap_entry;

typedef struct strmap {
	strmap_entry *slots;
	size_t cap; /* a power of two, at least twice the entries */
} strmap;

static int strmap_init(strmap *m, size_t expected)
{
	size_t cap = 16;

	while (cap < expected * 2 && cap < ((size_t)1 << 40))
		cap *= 2;
	m->slots = calloc(cap, sizeof(*m->slots));
	m->cap = m->slots ? cap : 0;
	return m->slots ? 0 : -1;
}

static void strmap_free(strmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = 0;
}

/* The entry for key, or NULL. */
static strmap_entry *strmap_get(const strmap *m, const char *key,
		size_t len)
{
	size_t i;

	if (m->cap == 0)
		return NULL;
	i = hash_mem(key, len) & (m->cap - 1);
	while (m->slots[i].key != NULL) {
		if (m->slots[i].len == len && memcmp(m->slots[i].key, key,
				len) == 0)
			return &m->slots[i];
		i = (i + 1) & (m->cap - 1);
	}
	return NULL;
}

/*
 * Add key with (a, b) unless present. Returns the entry (the existing one
 * when present: *added is 0). The caller sized the map for every key.
 */
static strmap_entry *strmap_add(strmap *m, const char *key, size_t len,
		size_t a, size_t b, int *added)
{
	size_t i = hash_mem(key, len) & (m->cap - 1);

	while (m->slots[i].key != NULL) {
		if (m->slots[i].len == len && memcmp(m->slots[i].key, key,
				len) == 0) {
			*added = 0;
			return &m->slots[i];
		}
		i = (i + 1) & (m->cap - 1);
	}
	m->slots[i].key = key;
	m->slots[i].len = len;
	m->slots[i].a = a;
	m->slots[i].b = b;
	*added = 1;
	return &m->slots[i];
}

/* ---- the tree built from libyaml's events ------------------------------ */

typedef enum node_kind {
	NODE_SCALAR,
	NODE_SEQ,
	NODE_MAP
} node_kind;

typedef struct node node;
struct node {
	node_kind kind;
	int line;          /* 1-based */
	char *str;         /* scalar: the value, NUL-terminated */
	size_t len;
	int plain;         /* scalar: plain style (not quoted, not a block) */
	node **kids;       /* seq: items; map: key, value, key, value, ... */
	size_t n, cap;
};

static void node_free(node *nd)
{
	size_t i;

	if (nd == NULL)
		return;
	for (i = 0; i < nd->n; i++)
		node_free(nd->kids[i]);
	free(nd->kids);
	free(nd->str);
	free(nd);
}

static int node_append(node *parent, node *kid)
{
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		node **kids = realloc(parent->kids, cap * sizeof(*kids));

		if (kids == NULL)
			return -1;
		parent->kids = kids;
		parent->cap = cap;
	}
	parent->kids[parent->n++] = kid;
	return 0;
}

/* A plain scalar that YAML reads as null: empty, ~, null. */
static int node_is_null(const node *nd)
{
	return nd->kind == NODE_SCALAR && nd->plain &&
		(nd->len == 0 || strcmp(nd->str, "~") == 0 ||
		strcmp(nd->str, "null") == 0 || strcmp(nd->str, "Null") == 0 ||
		strcmp(nd->str, "NULL") == 0);
}

/* A scalar that is a string (not null). */
static int node_is_string(const node *nd)
{
	return nd->kind == NODE_SCALAR && !node_is_null(nd);
}

static const char *kind_name(const node *nd)
{
	if (nd->kind == NODE_SEQ)
		return "a list";
	if (nd->kind == NODE_MAP)
		return "a mapping";
	return node_is_null(nd) ? "empty" : "a string";
}

typedef struct parse_ctx {
	const char *name;     /* the file, for messages */
	const char *text;
	size_t len;
	size_t n_nodes;
	int code;             /* the ARCA_E* code of the first failure */
} parse_ctx;

/*
 * The parser's functions return -1 on failure; the code for the caller
 * waits in c->code, the message in arca_errmsg(). Everything but memory
 * is the file's fault: ARCA_EINVAL.
 */
static int fail(parse_ctx *c, int line, const char *fmt, ...)
	ARCA__PRINTF(3, 4);

static int fail(parse_ctx *c, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	c->code = vfail(ARCA_EINVAL, c->name, line, fmt, ap);
	va_end(ap);
	return -1;
}

static int fail_nomem(parse_ctx *c)
{
	c->code = fail_at(ARCA_ENOMEM, c->name, 0, "out of memory");
	return -1;
}

/* libyaml's own description of what is wrong, with its line and column. */
static int fail_yaml(parse_ctx *c, const yaml_parser_t *parser)
{
	const char *problem = parser->problem ? parser->problem : "error";
	int line;
	size_t i, end;

	switch (parser->error) {
	case YAML_MEMORY_ERROR:
		return fail_nomem(c);
	case YAML_READER_ERROR:
		/* The reader reports a byte offset, not a mark. */
		end = parser->problem_offset < c->len ? parser->problem_offset :
			c->len;
		line = 1;
		for (i = 0; i < end; i++)
			if (c->text[i] == '\n')
				line++;
		if (parser->problem_value != -1)
			return fail(c, line, "malformed YAML: %s (#%X at byte %zu)",
					problem, (unsigned)parser->problem_value,
					parser->problem_offset);
		return fail(c, line, "malformed YAML: %s (at byte %zu)",
				problem, parser->problem_offset);
	case YAML_SCANNER_ERROR:
	case YAML_PARSER_ERROR:
		if (parser->context)
			return fail(c, (int)parser->problem_mark.line + 1,
					"malformed YAML: %s at column %d (%s at line %d, column %d)",
					problem, (int)parser->problem_mark.column + 1,
					parser->context,
					(int)parser->context_mark.line + 1,
					(int)parser->context_mark.column + 1);
		return fail(c, (int)parser->problem_mark.line + 1,
				"malformed YAML: %s at column %d", problem,
				(int)parser->problem_mark.column + 1);
	default:
		return fail(c, (int)parser->problem_mark.line + 1,
				"malformed YAML: %s", problem);
	}
}

/* Anchors and explicit tags are refused: see the top of this file. */
static int check_props(parse_ctx *c, int line, const yaml_char_t *anchor,
		const yaml_char_t *tag)
{
	shown a;

	if (anchor)
		return fail(c, line,
				"anchors and aliases are not supported (anchor '&%s'); write the value out",
				shows(&a, (const char *)anchor));
	if (tag)
		return fail(c, line,
				"YAML tags are not supported (tag '%s'); write a plain value",
				shows(&a, (const char *)tag));
	return 0;
}

static node *node_new(parse_ctx *c, node_kind kind, const yaml_event_t *ev)
{
	node *nd;

	if (c->n_nodes >= PL_MAX_NODES) {
		fail(c, (int)ev->start_mark.line + 1,
				"too many YAML values (the limit is %d)", PL_MAX_NODES);
		return NULL;
	}
	nd = calloc(1, sizeof(*nd));
	if (nd == NULL) {
		fail_nomem(c);
		return NULL;
	}
	c->n_nodes++;
	nd->kind = kind;
	nd->line = (int)ev->start_mark.line + 1;
	return nd;
}

static node *scalar_new(parse_ctx *c, const yaml_event_t *ev)
{
	const char *value = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	node *nd;

	if (memchr(value, '\0', len) != NULL) {
		fail(c, (int)ev->start_mark.line + 1,
				"a string contains a NUL character");
		return NULL;
	}
	if ((nd = node_new(c, NODE_SCALAR, ev)) == NULL)
		return NULL;
	nd->str = dup_mem(value, len);
	if (nd->str == NULL) {
		free(nd);
		fail_nomem(c);
		return NULL;
	}
	nd->len = len;
	nd->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	return nd;
}

/*
 * Build the tree of the single document in the text. *out is NULL for a
 * stream without a document (an empty file, or only comments).
 */
static int build_tree(node **out, parse_ctx *c)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	node *stack[PL_MAX_DEPTH];
	size_t depth = 0;
	node *root = NULL, *nd = NULL;
	int documents = 0, done = 0, error = -1;

	*out = NULL;
	memset(&ev, 0, sizeof(ev));
	if (!yaml_parser_initialize(&parser))
		return fail_nomem(c);
	yaml_parser_set_input_string(&parser, (const unsigned char *)c->text,
			c->len);

	while (!done) {
		int line;

		if (!yaml_parser_parse(&parser, &ev)) {
			fail_yaml(c, &parser);
			goto cleanup;
		}
		line = (int)ev.start_mark.line + 1;
		nd = NULL;

		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++documents > 1) {
				fail(c, line,
						"more than one YAML document ('---'); a pipeline file holds one");
				goto cleanup;
			}
			break;
		case YAML_ALIAS_EVENT: {
			shown a;

			fail(c, line,
					"anchors and aliases are not supported (alias '*%s'); write the value out",
					shows(&a, (const char *)ev.data.alias.anchor));
			goto cleanup;
		}
		case YAML_SCALAR_EVENT:
			if (check_props(c, line, ev.data.scalar.anchor,
					ev.data.scalar.tag) < 0)
				goto cleanup;
			if ((nd = scalar_new(c, &ev)) == NULL)
				goto cleanup;
			break;
		case YAML_SEQUENCE_START_EVENT:
			if (check_props(c, line, ev.data.sequence_start.anchor,
					ev.data.sequence_start.tag) < 0)
				goto cleanup;
			if ((nd = node_new(c, NODE_SEQ, &ev)) == NULL)
				goto cleanup;
			break;
		case YAML_MAPPING_START_EVENT:
			if (check_props(c, line, ev.data.mapping_start.anchor,
					ev.data.mapping_start.tag) < 0)
				goto cleanup;
			if ((nd = node_new(c, NODE_MAP, &ev)) == NULL)
				goto cleanup;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}

		if (nd != NULL) {
			/* Attach to the open collection, or make it the root. */
			if (depth > 0) {
				if (node_append(stack[depth - 1], nd) < 0) {
					node_free(nd);
					fail_nomem(c);
					goto cleanup;
				}
			} else if (root == NULL) {
				root = nd;
			} else {
				/* Cannot happen: one document has one root. */
				node_free(nd);
				fail(c, line, "more than one value at top level");
				goto cleanup;
			}
			if (nd->kind != NODE_SCALAR) {
				if (depth == PL_MAX_DEPTH) {
					fail(c, line,
							"values nested more than %d deep",
							PL_MAX_DEPTH);
					goto cleanup;
				}
				stack[depth++] = nd;
			}
		}
		yaml_event_delete(&ev);
	}

	*out = root;
	root = NULL;
	error = 0;

cleanup:
	yaml_event_delete(&ev);
	yaml_parser_delete(&parser);
	node_free(root);
	return error;
}

/* ---- checking the tree against the format ------------------------------ */

/* Fail on the first key that is not a string or appears twice. */
static int check_keys(parse_ctx *c, const node *map, const char *where)
{
	strmap seen = { NULL, 0 };
	size_t i;
	int error = -1, added;

	if (strmap_init(&seen, map->n / 2) < 0) {
		fail_nomem(c);
		goto cleanup;
	}
	for (i = 0; i + 1 < map->n; i += 2) {
		const node *k = map->kids[i];
		strmap_entry *e;
		shown a;

		if (k->kind != NODE_SCALAR) {
			fail(c, k->line, "a key %s must be a string, not %s",
					where, kind_name(k));
			goto cleanup;
		}
		e = strmap_add(&seen, k->str, k->len, (size_t)k->line, 0,
				&added);
		if (!added) {
			fail(c, k->line, "duplicate key '%s' %s (first at line %zu)",
					show(&a, k->str, k->len), where, e->a);
			goto cleanup;
		}
	}
	error = 0;

cleanup:
	strmap_free(&seen);
	return error;
}

/* A string value; what names the value in messages ("'cmd' of stage 'x'"). */
static int get_string(char **out, parse_ctx *c, const node *v,
		const char *what)
{
	if (!node_is_string(v))
		return fail(c, v->line, "%s must be a string, not %s", what,
				kind_name(v));
	if ((*out = dup_mem(v->str, v->len)) == NULL)
		return fail_nomem(c);
	return 0;
}

static int get_bool(int *out, parse_ctx *c, const node *v, const char *what)
{
	shown a;

	if (v->kind == NODE_SCALAR && v->plain && strcmp(v->str, "true") == 0)
		*out = 1;
	else if (v->kind == NODE_SCALAR && v->plain &&
			strcmp(v->str, "false") == 0)
		*out = 0;
	else if (v->kind == NODE_SCALAR)
		return fail(c, v->line,
				"%s must be true or false, not '%s' (unquoted; YAML 1.1's yes/no/on/off are not accepted)",
				what, show(&a, v->str, v->len));
	else
		return fail(c, v->line, "%s must be true or false, not %s",
				what, kind_name(v));
	return 0;
}

/* Integer seconds, or an integer with a unit s, m, h or d. */
static int get_duration(int64_t *out, parse_ctx *c, const node *v,
		const char *what)
{
	uint64_t ms = 0;
	shown a;

	if (v->kind != NODE_SCALAR || node_is_null(v))
		return fail(c, v->line,
				"%s must be a duration such as 90s, 15m, 1h or 7d, not %s",
				what, kind_name(v));
	/* The one duration syntax of every option and config key (docs/cli.md,
	 * "Sizes and durations"), rounded up to whole seconds. */
	if (arca_parse_duration_ms(&ms, v->str) < 0)
		return fail(c, v->line,
				"bad duration '%s' for %s: expected a number with an optional unit ms, s, m, min, h, d or w (e.g. 90s, 15m, 1.5h, 7d, 1w)",
				show(&a, v->str, v->len), what);
	*out = (int64_t)(ms / 1000 + (ms % 1000 != 0));
	return 0;
}

/*
 * A path inside the pipeline's directory, normalised: no empty or "."
 * components, no trailing slash. Absolute paths and ".." are refused.
 */
static int get_path(char **out, parse_ctx *c, int line, const char *s,
		size_t len, const char *what)
{
	char *norm = NULL;
	size_t i = 0, n = 0;
	shown a;

	if (len == 0)
		return fail(c, line, "%s: empty path", what);
	if (s[0] == '/')
		return fail(c, line,
				"%s: path '%s' is absolute; paths are relative to the pipeline's directory and stay inside it",
				what, show(&a, s, len));
	if ((norm = malloc(len + 1)) == NULL)
		return fail_nomem(c);
	while (i < len) {
		size_t start = i, clen;

		while (i < len && s[i] != '/')
			i++;
		clen = i - start;
		if (clen == 2 && s[start] == '.' && s[start + 1] == '.') {
			free(norm);
			return fail(c, line,
					"%s: path '%s' contains '..'; paths stay inside the pipeline's directory",
					what, show(&a, s, len));
		}
		if (clen > 0 && !(clen == 1 && s[start] == '.')) {
			if (n > 0)
				norm[n++] = '/';
			memcpy(norm + n, s + start, clen);
			n += clen;
		}
		i++; /* the slash */
	}
	if (n == 0) {
		free(norm);
		return fail(c, line,
				"%s: path '%s' names the pipeline's directory itself, not a file",
				what, show(&a, s, len));
	}
	norm[n] = '\0';
	*out = norm;
	return 0;
}

/*
 * Check the ${name} references in a command: well formed, and every name
 * among the stage's params (so that every value that reaches the command
 * also enters the action key).
 */
static int check_refs(parse_ctx *c, const arca_pipeline_stage *st,
		const strmap *params, int line, const char *s)
{
	const char *p = s;
	shown a, b;

	while ((p = strchr(p, '$')) != NULL) {
		const char *name, *end;

		if (p[1] == '$' && p[2] == '{') {
			p += 3;
			continue;
		}
		if (p[1] != '{') {
			p++;
			continue;
		}
		name = p + 2;
		end = strchr(name, '}');
		if (end == NULL)
			return fail(c, line,
					"unterminated '${' in 'cmd' of stage '%s' (write '$${' for a literal '${')",
					shows(&a, st->name));
		if (!is_name(name, (size_t)(end - name)))
			return fail(c, line,
					"bad parameter reference '${%s}' in 'cmd' of stage '%s': names are [A-Za-z0-9_.-]+",
					show(&a, name, (size_t)(end - name)),
					shows(&b, st->name));
		if (strmap_get(params, name, (size_t)(end - name)) == NULL)
			return fail(c, line,
					"'cmd' of stage '%s' uses ${%s}, which is not in its 'params'",
					shows(&a, st->name),
					show(&b, name, (size_t)(end - name)));
		p = end + 1;
	}
	return 0;
}

static int parse_cmd(parse_ctx *c, arca_pipeline_stage *st, const node *v)
{
	char what[128];
	size_t i;
	shown a;

	st->cmd_line = v->line;
	if (v->kind == NODE_SCALAR) {
		if (node_is_null(v) || strspn(v->str, " \t\r\n") == v->len)
			return fail(c, v->line, "empty 'cmd' in stage '%s'",
					shows(&a, st->name));
		if ((st->cmd = dup_mem(v->str, v->len)) == NULL)
			return fail_nomem(c);
		return 0;
	}
	if (v->kind != NODE_SEQ)
		return fail(c, v->line,
				"'cmd' of stage '%s' must be a string (run by /bin/sh -c) or a list of strings (argv), not %s",
				shows(&a, st->name), kind_name(v));
	if (v->n == 0)
		return fail(c, v->line, "empty 'cmd' in stage '%s'",
				shows(&a, st->name));
	if ((st->cmd_argv = calloc(v->n + 1, sizeof(char *))) == NULL)
		return fail_nomem(c);
	snprintf(what, sizeof(what), "each item of 'cmd' of stage '%s'",
			shows(&a, st->name));
	for (i = 0; i < v->n; i++) {
		const node *item = v->kids[i];

		if (item->kind != NODE_SCALAR)
			return fail(c, item->line,
					"'cmd' list of stage '%s' must hold only strings, not %s",
					shows(&a, st->name), kind_name(item));
		if (get_string(&st->cmd_argv[i], c, item, what) < 0)
			return -1;
		st->cmd_argc++;
	}
	if (st->cmd_argv[0][0] == '\0')
		return fail(c, v->kids[0]->line,
				"empty program name in 'cmd' of stage '%s'",
				shows(&a, st->name));
	return 0;
}

/* A list of strings (outs, params, env): check the shape first. */
static int check_string_list(parse_ctx *c, const arca_pipeline_stage *st,
		const node *v, const char *key)
{
	size_t i;
	shown a;

	if (v->kind != NODE_SEQ)
		return fail(c, v->line,
				"'%s' of stage '%s' must be a list of strings, not %s",
				key, shows(&a, st->name), kind_name(v));
	for (i = 0; i < v->n; i++)
		if (!node_is_string(v->kids[i]))
			return fail(c, v->kids[i]->line,
					"'%s' of stage '%s' must be a list of strings; item %zu is %s",
					key, shows(&a, st->name), i + 1,
					kind_name(v->kids[i]));
	return 0;
}

static int parse_outs(parse_ctx *c, arca_pipeline_stage *st, const node *v)
{
	strmap seen = { NULL, 0 };
	char what[128];
	size_t i;
	int error = -1, added;
	shown a, b;

	if (check_string_list(c, st, v, "outs") < 0)
		return -1;
	if ((st->outs = calloc(v->n ? v->n : 1, sizeof(*st->outs))) == NULL ||
			strmap_init(&seen, v->n) < 0) {
		fail_nomem(c);
		goto cleanup;
	}
	snprintf(what, sizeof(what), "output of stage '%s'",
			shows(&a, st->name));
	for (i = 0; i < v->n; i++) {
		arca_pipeline_out *o = &st->outs[i];
		strmap_entry *e;

		o->line = v->kids[i]->line;
		if (get_path(&o->path, c, o->line, v->kids[i]->str,
				v->kids[i]->len, what) < 0)
			goto cleanup;
		st->n_outs++;
		e = strmap_add(&seen, o->path, strlen(o->path),
				(size_t)o->line, 0, &added);
		if (!added) {
			fail(c, o->line,
					"duplicate output '%s' in stage '%s' (first at line %zu)",
					shows(&a, o->path), shows(&b, st->name), e->a);
			goto cleanup;
		}
	}
	error = 0;

cleanup:
	strmap_free(&seen);
	return error;
}

static int parse_names(parse_ctx *c, arca_pipeline_stage *st, const node *v,
		const char *key, int env)
{
	strmap seen = { NULL, 0 };
	char ***names = env ? &st->env : &st->params;
	size_t *count = env ? &st->n_env : &st->n_params;
	size_t i;
	int error = -1, added;
	shown a, b;

	if (check_string_list(c, st, v, key) < 0)
		return -1;
	if ((*names = calloc(v->n ? v->n : 1, sizeof(char *))) == NULL ||
			strmap_init(&seen, v->n) < 0) {
		fail_nomem(c);
		goto cleanup;
	}
	if (!env && (st->param_lines = calloc(v->n ? v->n : 1,
			sizeof(int))) == NULL) {
		fail_nomem(c);
		goto cleanup;
	}
	for (i = 0; i < v->n; i++) {
		const node *item = v->kids[i];
		strmap_entry *e;

		if (env && !is_env_name(item->str, item->len)) {
			fail(c, item->line,
					"bad environment variable name '%s' in 'env' of stage '%s': names are [A-Za-z_][A-Za-z0-9_]*",
					show(&a, item->str, item->len),
					shows(&b, st->name));
			goto cleanup;
		}
		if (!env && !is_name(item->str, item->len)) {
			fail(c, item->line,
					"bad parameter name '%s' in 'params' of stage '%s': names are [A-Za-z0-9_.-]+",
					show(&a, item->str, item->len),
					shows(&b, st->name));
			goto cleanup;
		}
		e = strmap_add(&seen, item->str, item->len,
				(size_t)item->line, 0, &added);
		if (!added) {
			fail(c, item->line,
					"duplicate name '%s' in '%s' of stage '%s' (first at line %zu)",
					show(&a, item->str, item->len), key,
					shows(&b, st->name), e->a);
			goto cleanup;
		}
		if (((*names)[i] = dup_mem(item->str, item->len)) == NULL) {
			fail_nomem(c);
			goto cleanup;
		}
		if (!env)
			st->param_lines[i] = item->line;
		(*count)++;
	}
	error = 0;

cleanup:
	strmap_free(&seen);
	return error;
}

/*
 * Where a URL's body goes by default: the last component of its path
 * (without query and fragment), as written (not percent-decoded).
 */
static int url_basename(const char **name, size_t *len, const char *url)
{
	const char *p = strstr(url, "://"), *end, *slash = NULL, *q;

	if (p == NULL)
		return -1;
	p += 3;
	end = p + strcspn(p, "?#");
	for (q = p; q < end; q++)
		if (*q == '/')
			slash = q;
	if (slash == NULL)
		return -1; /* no path at all: http://host */
	*name = slash + 1;
	*len = (size_t)(end - (slash + 1));
	return *len > 0 ? 0 : -1;
}

static int check_url(parse_ctx *c, const arca_pipeline_stage *st, int line,
		const char *url)
{
	const char *host;
	size_t i;
	shown a, b;

	if (strncasecmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		host = url + 8;
	else
		return fail(c, line,
				"URL '%s' of stage '%s' must start with http:// or https://",
				shows(&a, url), shows(&b, st->name));
	if (*host == '\0' || *host == '/' || *host == '?' || *host == '#')
		return fail(c, line, "URL '%s' of stage '%s' has no host",
				shows(&a, url), shows(&b, st->name));
	for (i = 0; url[i]; i++) {
		unsigned char ch = (unsigned char)url[i];

		if (ch <= 0x20 || ch == 0x7F)
			return fail(c, line,
					"URL '%s' of stage '%s' contains a space or control character (percent-encode it)",
					shows(&a, url), shows(&b, st->name));
	}
	return 0;
}

static int parse_dep_map(parse_ctx *c, arca_pipeline_stage *st,
		arca_pipeline_dep *d, const node *m)
{
	const node *url = NULL, *path = NULL, *max_age = NULL,
		*time_bucket = NULL;
	char what[160];
	size_t i;
	shown a, b;

	snprintf(what, sizeof(what), "in a dependency of stage '%s'",
			shows(&a, st->name));
	if (check_keys(c, m, what) < 0)
		return -1;
	for (i = 0; i + 1 < m->n; i += 2) {
		const node *k = m->kids[i], *v = m->kids[i + 1];

		if (strcmp(k->str, "url") == 0)
			url = v;
		else if (strcmp(k->str, "path") == 0)
			path = v;
		else if (strcmp(k->str, "max_age") == 0)
			max_age = v;
		else if (strcmp(k->str, "time_bucket") == 0)
			time_bucket = v;
		else if (strcmp(k->str, "optional") == 0) {
			snprintf(what, sizeof(what),
					"'optional' of a dependency of stage '%s'",
					shows(&a, st->name));
			if (get_bool(&d->optional, c, v, what) < 0)
				return -1;
		} else
			return fail(c, k->line,
					"unknown key '%s' in a dependency of stage '%s' (expected url, path, optional, max_age or time_bucket)",
					show(&a, k->str, k->len),
					shows(&b, st->name));
	}
	if (url == NULL && path == NULL)
		return fail(c, m->line,
				"a dependency of stage '%s' needs 'path' or 'url'",
				shows(&a, st->name));
	if (url != NULL) {
		snprintf(what, sizeof(what), "'url' of a dependency of stage '%s'",
				shows(&a, st->name));
		if (get_string(&d->url, c, url, what) < 0 ||
				check_url(c, st, url->line, d->url) < 0)
			return -1;
	} else if (max_age || time_bucket) {
		const node *k = max_age ? max_age : time_bucket;

		return fail(c, k->line,
				"'%s' in a dependency of stage '%s' applies only to URL dependencies",
				max_age ? "max_age" : "time_bucket",
				shows(&a, st->name));
	}
	if (max_age && time_bucket)
		return fail(c, time_bucket->line,
				"a dependency of stage '%s' has both 'max_age' and 'time_bucket'; they are alternatives, give one",
				shows(&a, st->name));
	if (max_age) {
		snprintf(what, sizeof(what),
				"'max_age' of a dependency of stage '%s'",
				shows(&a, st->name));
		if (get_duration(&d->max_age_s, c, max_age, what) < 0)
			return -1;
	}
	if (time_bucket) {
		snprintf(what, sizeof(what),
				"'time_bucket' of a dependency of stage '%s'",
				shows(&a, st->name));
		if (get_duration(&d->time_bucket_s, c, time_bucket, what) < 0)
			return -1;
		if (d->time_bucket_s == 0)
			return fail(c, time_bucket->line,
					"'time_bucket' of a dependency of stage '%s' must be longer than 0 seconds",
					shows(&a, st->name));
	}

	snprintf(what, sizeof(what), "dependency of stage '%s'",
			shows(&a, st->name));
	if (path != NULL) {
		if (!node_is_string(path))
			return fail(c, path->line, "'path' of a %s must be a string, not %s",
					what, kind_name(path));
		return get_path(&d->path, c, path->line, path->str, path->len,
				what);
	} else {
		const char *base;
		size_t len;

		if (url_basename(&base, &len, d->url) < 0)
			return fail(c, url->line,
					"cannot name a file after URL '%s' (its path has no last component); give 'path:'",
					shows(&a, d->url));
		return get_path(&d->path, c, url->line, base, len, what);
	}
}

static int parse_deps(parse_ctx *c, arca_pipeline_stage *st, const node *v)
{
	strmap seen = { NULL, 0 };
	char what[128];
	size_t i;
	int error = -1, added;
	shown a, b;

	if (v->kind != NODE_SEQ)
		return fail(c, v->line,
				"'deps' of stage '%s' must be a list, not %s",
				shows(&a, st->name), kind_name(v));
	if ((st->deps = calloc(v->n ? v->n : 1, sizeof(*st->deps))) == NULL ||
			strmap_init(&seen, v->n) < 0) {
		fail_nomem(c);
		goto cleanup;
	}
	snprintf(what, sizeof(what), "dependency of stage '%s'",
			shows(&a, st->name));
	for (i = 0; i < v->n; i++) {
		const node *item = v->kids[i];
		arca_pipeline_dep *d = &st->deps[i];
		strmap_entry *e;

		d->line = item->line;
		d->max_age_s = -1;
		d->time_bucket_s = 0;
		st->n_deps++;
		if (node_is_string(item)) {
			if (get_path(&d->path, c, item->line, item->str,
					item->len, what) < 0)
				goto cleanup;
		} else if (item->kind == NODE_MAP) {
			if (parse_dep_map(c, st, d, item) < 0)
				goto cleanup;
		} else {
			fail(c, item->line,
					"a dependency of stage '%s' must be a path or a mapping (url, path, ...), not %s",
					shows(&a, st->name), kind_name(item));
			goto cleanup;
		}
		e = strmap_add(&seen, d->path, strlen(d->path),
				(size_t)d->line, 0, &added);
		if (!added) {
			fail(c, d->line,
					"duplicate dependency '%s' in stage '%s' (first at line %zu)",
					shows(&a, d->path), shows(&b, st->name), e->a);
			goto cleanup;
		}
	}
	error = 0;

cleanup:
	strmap_free(&seen);
	return error;
}

/* check_refs on the command (a string, or each item of a list). */
static int check_cmd_refs(parse_ctx *c, const arca_pipeline_stage *st,
		const node *cmd)
{
	strmap params = { NULL, 0 };
	size_t i;
	int error = -1, added;

	if (strmap_init(&params, st->n_params) < 0) {
		fail_nomem(c);
		goto cleanup;
	}
	for (i = 0; i < st->n_params; i++)
		strmap_add(&params, st->params[i], strlen(st->params[i]), i, 0,
				&added);
	if (st->cmd != NULL) {
		if (check_refs(c, st, &params, st->cmd_line, st->cmd) < 0)
			goto cleanup;
	} else {
		for (i = 0; i < st->cmd_argc; i++)
			if (check_refs(c, st, &params, cmd->kids[i]->line,
					st->cmd_argv[i]) < 0)
				goto cleanup;
	}
	error = 0;

cleanup:
	strmap_free(&params);
	return error;
}

static int parse_stage(parse_ctx *c, arca_pipeline_stage *st, const node *k,
		const node *v)
{
	const node *cmd = NULL;
	char what[128];
	size_t i;
	shown a, b;

	if (!is_name(k->str, k->len))
		return fail(c, k->line,
				"stage name '%s' has characters outside [A-Za-z0-9_.-]",
				show(&a, k->str, k->len));
	if ((st->name = dup_mem(k->str, k->len)) == NULL)
		return fail_nomem(c);
	if (v->kind != NODE_MAP)
		return fail(c, v->line,
				"stage '%s' must be a mapping (cmd, deps, outs, ...), not %s",
				shows(&a, st->name), kind_name(v));
	snprintf(what, sizeof(what), "in stage '%s'", shows(&a, st->name));
	if (check_keys(c, v, what) < 0)
		return -1;

	/* params first: the cmd's ${name} references are checked against them. */
	for (i = 0; i + 1 < v->n; i += 2)
		if (strcmp(v->kids[i]->str, "params") == 0 &&
				parse_names(c, st, v->kids[i + 1], "params", 0) < 0)
			return -1;

	for (i = 0; i + 1 < v->n; i += 2) {
		const node *key = v->kids[i], *val = v->kids[i + 1];
		const char *kn = key->str;
		int r = 0;

		if (strcmp(kn, "cmd") == 0) {
			cmd = val;
			r = parse_cmd(c, st, val);
		} else if (strcmp(kn, "deps") == 0) {
			r = parse_deps(c, st, val);
		} else if (strcmp(kn, "outs") == 0) {
			r = parse_outs(c, st, val);
		} else if (strcmp(kn, "params") == 0) {
			continue;
		} else if (strcmp(kn, "env") == 0) {
			r = parse_names(c, st, val, "env", 1);
		} else if (strcmp(kn, "tool_version") == 0) {
			snprintf(what, sizeof(what),
					"'tool_version' of stage '%s'",
					shows(&a, st->name));
			r = get_string(&st->tool_version, c, val, what);
			if (r == 0 && st->tool_version[0] == '\0')
				r = fail(c, val->line, "%s is empty", what);
		} else if (strcmp(kn, "optional") == 0) {
			snprintf(what, sizeof(what), "'optional' of stage '%s'",
					shows(&a, st->name));
			r = get_bool(&st->optional, c, val, what);
		} else if (strcmp(kn, "cache") == 0) {
			snprintf(what, sizeof(what), "'cache' of stage '%s'",
					shows(&a, st->name));
			r = get_bool(&st->cache, c, val, what);
		} else if (strcmp(kn, "ttl") == 0) {
			snprintf(what, sizeof(what), "'ttl' of stage '%s'",
					shows(&a, st->name));
			r = get_duration(&st->ttl_s, c, val, what);
		} else if (strcmp(kn, "link") == 0) {
			char *word = NULL;
			arca_link_mode m;

			snprintf(what, sizeof(what), "'link' of stage '%s'",
					shows(&a, st->name));
			r = get_string(&word, c, val, what);
			if (r == 0 && arca_link_mode_parse(&m, word) < 0)
				r = fail(c, val->line, "%s '%s': expected auto, "
						"reflink, copy, hardlink or symlink",
						what, shows(&b, word));
			if (r == 0)
				st->link = (unsigned int)m;
			free(word);
		} else {
			r = fail(c, key->line,
					"unknown key '%s' in stage '%s' (expected cmd, deps, outs, params, env, tool_version, optional, cache, ttl or link)",
					show(&a, key->str, key->len),
					shows(&b, st->name));
		}
		if (r < 0)
			return -1;
	}
	if (cmd == NULL)
		return fail(c, k->line, "stage '%s' has no 'cmd'",
				shows(&a, st->name));
	return check_cmd_refs(c, st, cmd);
}

static int parse_stages(parse_ctx *c, arca_pipeline *p, const node *v)
{
	strmap seen = { NULL, 0 };
	size_t i;
	int error = -1, added;
	shown a;

	if (v->kind != NODE_MAP) {
		fail(c, v->line,
				"'stages' must be a mapping from stage names to stages, not %s",
				kind_name(v));
		goto cleanup;
	}
	if (v->n == 0) {
		fail(c, v->line, "'stages' has no stages");
		goto cleanup;
	}
	/* Keys are checked one by one below for a message naming stages. */
	if ((p->stages = calloc(v->n / 2, sizeof(*p->stages))) == NULL ||
			strmap_init(&seen, v->n / 2) < 0) {
		fail_nomem(c);
		goto cleanup;
	}
	for (i = 0; i + 1 < v->n; i += 2) {
		const node *k = v->kids[i];
		arca_pipeline_stage *st = &p->stages[p->n_stages];
		strmap_entry *e;

		if (k->kind != NODE_SCALAR) {
			fail(c, k->line, "a stage name must be a string, not %s",
					kind_name(k));
			goto cleanup;
		}
		e = strmap_add(&seen, k->str, k->len, (size_t)k->line, 0,
				&added);
		if (!added) {
			fail(c, k->line,
					"duplicate stage name '%s' (first at line %zu)",
					show(&a, k->str, k->len), e->a);
			goto cleanup;
		}
		st->line = k->line;
		st->cache = 1;
		st->ttl_s = -1;
		p->n_stages++;
		if (parse_stage(c, st, k, v->kids[i + 1]) < 0)
			goto cleanup;
	}
	error = 0;

cleanup:
	strmap_free(&seen);
	return error;
}

static int parse_params(parse_ctx *c, arca_pipeline *p, const node *v)
{
	size_t i;
	shown a;

	if (v->kind != NODE_MAP)
		return fail(c, v->line,
				"'params' must be a mapping from names to values, not %s",
				kind_name(v));
	if (check_keys(c, v, "in 'params'") < 0)
		return -1;
	if ((p->param_names = calloc(v->n / 2 + 1, sizeof(char *))) == NULL ||
			(p->param_values = calloc(v->n / 2 + 1,
			sizeof(char *))) == NULL)
		return fail_nomem(c);
	for (i = 0; i + 1 < v->n; i += 2) {
		const node *k = v->kids[i], *val = v->kids[i + 1];
		size_t j = p->n_param_values;

		if (!is_name(k->str, k->len))
			return fail(c, k->line,
					"bad parameter name '%s': names are [A-Za-z0-9_.-]+",
					show(&a, k->str, k->len));
		if (val->kind != NODE_SCALAR)
			return fail(c, val->line,
					"value of parameter '%s' must be a string or number, not %s",
					show(&a, k->str, k->len), kind_name(val));
		if (node_is_null(val))
			return fail(c, val->line,
					"parameter '%s' has no value (write \"\" for an empty string)",
					show(&a, k->str, k->len));
		if ((p->param_names[j] = dup_mem(k->str, k->len)) == NULL ||
				(p->param_values[j] = dup_mem(val->str,
				val->len)) == NULL) {
			/* Keep the arrays consistent for arca_pipeline_free. */
			p->n_param_values++;
			return fail_nomem(c);
		}
		p->n_param_values++;
	}
	return 0;
}

static int parse_root(parse_ctx *c, arca_pipeline *p, const node *root)
{
	const node *stages = NULL, *params = NULL;
	size_t i;
	shown a;

	if (root == NULL || node_is_null(root))
		return fail(c, 1, "empty pipeline file: no 'stages' mapping");
	if (root->kind != NODE_MAP)
		return fail(c, root->line,
				"a pipeline file must be a mapping with 'stages', not %s",
				kind_name(root));
	if (check_keys(c, root, "at top level") < 0)
		return -1;
	for (i = 0; i + 1 < root->n; i += 2) {
		const node *k = root->kids[i];

		if (strcmp(k->str, "stages") == 0)
			stages = root->kids[i + 1];
		else if (strcmp(k->str, "params") == 0)
			params = root->kids[i + 1];
		else
			return fail(c, k->line,
					"unknown key '%s' at top level (expected 'stages' or 'params')",
					show(&a, k->str, k->len));
	}
	if (stages == NULL)
		return fail(c, root->line, "no 'stages' mapping");
	if (params != NULL && parse_params(c, p, params) < 0)
		return -1;
	return parse_stages(c, p, stages);
}

/* dirname(path), "." when there is no slash. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t len;

	if (slash == NULL)
		return dup_mem(".", 1);
	len = (size_t)(slash - path);
	while (len > 0 && path[len - 1] == '/')
		len--;
	if (len == 0)
		return dup_mem("/", 1);
	return dup_mem(path, len);
}

int arca_pipeline_parse(arca_pipeline **out, const char *name,
		const char *text, size_t len)
{
	parse_ctx c;
	arca_pipeline *p = NULL;
	node *root = NULL;
	int error = ARCA_EINVAL;

	arca__error_clear();
	if (out == NULL)
		return arca__error(ARCA_EINVAL,
				"arca_pipeline_parse: NULL out pointer");
	*out = NULL;
	memset(&c, 0, sizeof(c));
	c.name = name ? name : "(pipeline)";
	/* libyaml wants a non-NULL string even when it is empty. */
	c.text = text ? text : "";
	c.len = text ? len : 0;

	if (c.len > PL_MAX_BYTES) {
		fail(&c, 0, "too large (%zu bytes; the limit is %zu)", c.len,
				PL_MAX_BYTES);
		goto cleanup;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
			(p->path = dup_mem(c.name, strlen(c.name))) == NULL ||
			(p->dir = dir_of(c.name)) == NULL) {
		fail_nomem(&c);
		goto cleanup;
	}
	if (build_tree(&root, &c) < 0 || parse_root(&c, p, root) < 0)
		goto cleanup;

	*out = p;
	p = NULL;
	error = 0;

cleanup:
	if (error != 0 && c.code != 0)
		error = c.code;
	node_free(root);
	arca_pipeline_free(p);
	return error;
}

/* "cannot read PATH: <strerror>", with err's code. */
static int fail_read(const char *path, int err)
{
	return arca__error(arca__errno_code(err), "cannot read %s: %s", path,
			strerror(err));
}

int arca_pipeline_load(arca_pipeline **out, const char *path)
{
	FILE *f = NULL;
	char *text = NULL;
	size_t len = 0, cap = 0;
	int error;

	arca__error_clear();
	if (out == NULL || path == NULL)
		return arca__error(ARCA_EINVAL,
				"arca_pipeline_load: NULL argument");
	*out = NULL;
	if ((f = fopen(path, "rb")) == NULL) {
		error = fail_read(path, errno);
		goto cleanup;
	}
	for (;;) {
		size_t r;

		if (len == cap) {
			char *t;

			if (cap > PL_MAX_BYTES) {
				error = fail_at(ARCA_EINVAL, path, 0,
						"too large (the limit is %zu bytes)",
						PL_MAX_BYTES);
				goto cleanup;
			}
			cap = cap ? cap * 2 : 8192;
			if ((t = realloc(text, cap + 1)) == NULL) {
				error = fail_at(ARCA_ENOMEM, path, 0,
						"out of memory");
				goto cleanup;
			}
			text = t;
		}
		errno = 0;
		r = fread(text + len, 1, cap - len, f);
		len += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		error = fail_read(path, errno ? errno : EIO);
		goto cleanup;
	}
	error = arca_pipeline_parse(out, path, text ? text : "", len);

cleanup:
	if (f)
		fclose(f);
	free(text);
	return error;
}

static void stage_free(arca_pipeline_stage *st)
{
	size_t i;

	free(st->name);
	free(st->cmd);
	for (i = 0; i < st->cmd_argc; i++)
		free(st->cmd_argv[i]);
	free(st->cmd_argv);
	for (i = 0; i < st->n_deps; i++) {
		free(st->deps[i].path);
		free(st->deps[i].url);
	}
	free(st->deps);
	for (i = 0; i < st->n_outs; i++)
		free(st->outs[i].path);
	free(st->outs);
	for (i = 0; i < st->n_params; i++)
		free(st->params[i]);
	free(st->params);
	free(st->param_lines);
	for (i = 0; i < st->n_env; i++)
		free(st->env[i]);
	free(st->env);
	free(st->tool_version);
}

void arca_pipeline_free(arca_pipeline *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n_stages; i++)
		stage_free(&p->stages[i]);
	free(p->stages);
	for (i = 0; i < p->n_param_values; i++) {
		free(p->param_names[i]);
		free(p->param_values[i]);
	}
	free(p->param_names);
	free(p->param_values);
	free(p->path);
	free(p->dir);
	free(p);
}

const arca_pipeline_stage *arca_pipeline_stage_by_name(
		const arca_pipeline *p, const char *name)
{
	size_t i;

	if (p == NULL || name == NULL)
		return NULL;
	for (i = 0; i < p->n_stages; i++)
		if (strcmp(p->stages[i].name, name) == 0)
			return &p->stages[i];
	return NULL;
}

const arca_pipeline_stage *arca_pipeline_producer(const arca_pipeline *p,
		const char *path)
{
	size_t i, j;

	if (p == NULL || path == NULL)
		return NULL;
	for (i = 0; i < p->n_stages; i++)
		for (j = 0; j < p->stages[i].n_outs; j++)
			if (strcmp(p->stages[i].outs[j].path, path) == 0)
				return &p->stages[i];
	return NULL;
}

/* ---- the plan ---------------------------------------------------------- */

typedef struct plan_edge {
	size_t from, to; /* stage indexes: to depends on from */
	int line;        /* the dep's line in `to` */
} plan_edge;

/* A binary min-heap of stage indexes: the ready stage first in the file. */
static void heap_push(size_t *heap, size_t *n, size_t v)
{
	size_t i = (*n)++;

	while (i > 0 && heap[(i - 1) / 2] > v) {
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i] = v;
}

static size_t heap_pop(size_t *heap, size_t *n)
{
	size_t top = heap[0], last = heap[--(*n)], i = 0;

	for (;;) {
		size_t l = 2 * i + 1, m = l;

		if (l >= *n)
			break;
		if (l + 1 < *n && heap[l + 1] < heap[l])
			m = l + 1;
		if (heap[m] >= last)
			break;
		heap[i] = heap[m];
		i = m;
	}
	if (*n > 0)
		heap[i] = last;
	return top;
}

/* Append s to a growing message buffer; on failure the message is cut. */
static void msg_add(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s);

	if (*len + n + 1 > *cap) {
		size_t ncap = (*len + n + 1) * 2;
		char *b = realloc(*buf, ncap);

		if (b == NULL)
			return;
		*buf = b;
		*cap = ncap;
	}
	memcpy(*buf + *len, s, n + 1);
	*len += n;
}

/*
 * Report a cycle among the stages left over by the topological sort. Every
 * left-over stage has a left-over producer, so walking producers from any
 * of them must come back to a stage already seen: that loop is a cycle.
 */
static int fail_cycle(const arca_pipeline *p, const plan_edge *edges,
		const size_t *pred_start, const size_t *pred_edge,
		const unsigned char *done)
{
	size_t *pos = NULL, *walk = NULL, n = p->n_stages, steps = 0;
	size_t v = 0, i, first, cyc_len, min_at;
	char *msg = NULL;
	size_t len = 0, cap = 0;
	int error = ARCA_EINVAL;
	shown a;

	while (v < n && done[v])
		v++;
	if (v == n)
		return fail_at(ARCA_EINVAL, p->path, 0, "cycle among stages");
	if ((pos = malloc(n * sizeof(*pos))) == NULL ||
			(walk = malloc(n * sizeof(*walk))) == NULL) {
		/* Still a cycle (ARCA_EINVAL), only not named. */
		fail_at(ARCA_EINVAL, p->path, p->stages[v].line,
				"cycle among stages (out of memory naming them)");
		goto cleanup;
	}
	for (i = 0; i < n; i++)
		pos[i] = (size_t)-1;
	while (pos[v] == (size_t)-1) {
		size_t next = (size_t)-1;

		pos[v] = steps;
		walk[steps++] = v;
		for (i = pred_start[v]; i < pred_start[v + 1]; i++)
			if (!done[edges[pred_edge[i]].from]) {
				next = edges[pred_edge[i]].from;
				break;
			}
		if (next == (size_t)-1) /* cannot happen; see above */
			break;
		v = next;
	}
	first = pos[v];
	cyc_len = steps - first;
	/*
	 * walk[first..] follows producers, against the data flow; print it
	 * the other way, from the cycle's stage that comes first in the file.
	 */
	min_at = first;
	for (i = first; i < steps; i++)
		if (walk[i] < walk[min_at])
			min_at = i;
	msg_add(&msg, &len, &cap, "cycle: ");
	for (i = 0; i <= cyc_len; i++) {
		size_t k = (min_at - first + cyc_len - i % cyc_len) % cyc_len;

		if (i > 0)
			msg_add(&msg, &len, &cap, " -> ");
		msg_add(&msg, &len, &cap,
				shows(&a, p->stages[walk[first + k]].name));
	}
	fail_at(ARCA_EINVAL, p->path, p->stages[walk[min_at]].line, "%s",
			msg ? msg : "cycle among stages");

cleanup:
	free(msg);
	free(pos);
	free(walk);
	return error;
}

int arca_pipeline_plan(size_t **order, const arca_pipeline *p)
{
	strmap outs = { NULL, 0 }, urls = { NULL, 0 };
	plan_edge *edges = NULL;
	size_t *succ_start = NULL, *succ_edge = NULL, *pred_start = NULL,
		*pred_edge = NULL, *indeg = NULL, *heap = NULL, *ord = NULL;
	unsigned char *done = NULL;
	size_t n, i, j, n_outs = 0, n_deps = 0, n_edges = 0, n_heap = 0,
		n_ord = 0;
	char *file = NULL;
	int error = ARCA_EINVAL, added;
	shown a, b, c2;

	arca__error_clear();
	if (order == NULL || p == NULL)
		return arca__error(ARCA_EINVAL,
				"arca_pipeline_plan: NULL argument");
	*order = NULL;
	n = p->n_stages;
	for (i = 0; i < n; i++) {
		n_outs += p->stages[i].n_outs;
		n_deps += p->stages[i].n_deps;
	}
	if (strmap_init(&outs, n_outs) < 0 || strmap_init(&urls, n_deps) < 0 ||
			(edges = calloc(n_deps + 1, sizeof(*edges))) == NULL ||
			(succ_start = calloc(n + 2, sizeof(size_t))) == NULL ||
			(pred_start = calloc(n + 2, sizeof(size_t))) == NULL ||
			(succ_edge = calloc(n_deps + 1, sizeof(size_t))) == NULL ||
			(pred_edge = calloc(n_deps + 1, sizeof(size_t))) == NULL ||
			(indeg = calloc(n + 1, sizeof(size_t))) == NULL ||
			(heap = calloc(n + 1, sizeof(size_t))) == NULL ||
			(ord = calloc(n + 1, sizeof(size_t))) == NULL ||
			(done = calloc(n + 1, 1)) == NULL) {
		error = fail_at(ARCA_ENOMEM, p->path, 0, "out of memory");
		goto cleanup;
	}

	/* Every output has one producer. */
	for (i = 0; i < n; i++) {
		const arca_pipeline_stage *st = &p->stages[i];

		for (j = 0; j < st->n_outs; j++) {
			const arca_pipeline_out *o = &st->outs[j];
			strmap_entry *e = strmap_add(&outs, o->path,
					strlen(o->path), i, j, &added);

			if (!added && e->a != i) {
				const arca_pipeline_stage *other =
					&p->stages[e->a];

				fail_at(ARCA_EINVAL, p->path, o->line,
						"output '%s' of stage '%s' is also an output of stage '%s' (line %d)",
						shows(&a, o->path), shows(&b, st->name),
						shows(&c2, other->name),
						other->outs[e->b].line);
				goto cleanup;
			}
		}
	}

	/*
	 * A URL dep's body is written to its path by the stage that declares
	 * it: no other stage may write there, and two URLs may not share it.
	 */
	for (i = 0; i < n; i++) {
		const arca_pipeline_stage *st = &p->stages[i];

		for (j = 0; j < st->n_deps; j++) {
			const arca_pipeline_dep *d = &st->deps[j];
			strmap_entry *e;

			if (d->url == NULL)
				continue;
			e = strmap_get(&outs, d->path, strlen(d->path));
			if (e != NULL && e->a != i) {
				const arca_pipeline_stage *other =
					&p->stages[e->a];

				fail_at(ARCA_EINVAL, p->path, d->line,
						"stage '%s' downloads a URL to '%s', which is also an output of stage '%s' (line %d)",
						shows(&a, st->name), shows(&b, d->path),
						shows(&c2, other->name),
						other->outs[e->b].line);
				goto cleanup;
			}
			e = strmap_add(&urls, d->path, strlen(d->path), i, j,
					&added);
			if (!added && strcmp(p->stages[e->a].deps[e->b].url,
					d->url) != 0) {
				const arca_pipeline_dep *od =
					&p->stages[e->a].deps[e->b];

				fail_at(ARCA_EINVAL, p->path, d->line,
						"two URLs are downloaded to '%s': '%s' and '%s' (line %d)",
						shows(&a, d->path), shows(&b, d->url),
						shows(&c2, od->url), od->line);
				goto cleanup;
			}
		}
	}

	/* Edges from producers; every other required dep must exist. */
	for (i = 0; i < n; i++) {
		const arca_pipeline_stage *st = &p->stages[i];

		for (j = 0; j < st->n_deps; j++) {
			const arca_pipeline_dep *d = &st->deps[j];
			strmap_entry *e;
			struct stat sb;

			if (d->url != NULL)
				continue;
			e = strmap_get(&outs, d->path, strlen(d->path));
			if (e == NULL) {
				e = strmap_get(&urls, d->path, strlen(d->path));
				if (e != NULL && e->a == i)
					continue; /* the stage fetches it itself */
			}
			if (e != NULL) {
				edges[n_edges].from = e->a;
				edges[n_edges].to = i;
				edges[n_edges].line = d->line;
				n_edges++;
				continue;
			}
			if (d->optional)
				continue;
			free(file);
			if ((file = malloc(strlen(p->dir) + strlen(d->path) +
					2)) == NULL) {
				error = fail_at(ARCA_ENOMEM, p->path, 0,
						"out of memory");
				goto cleanup;
			}
			sprintf(file, "%s/%s", p->dir, d->path);
			if (stat(file, &sb) < 0) {
				if (errno == ENOENT || errno == ENOTDIR)
					fail_at(ARCA_EINVAL, p->path, d->line,
							"unknown dependency '%s' of stage '%s': no such file and no stage outputs it",
							shows(&a, d->path),
							shows(&b, st->name));
				else
					fail_at(ARCA_EINVAL, p->path, d->line,
							"dependency '%s' of stage '%s': %s",
							shows(&a, d->path),
							shows(&b, st->name),
							strerror(errno));
				goto cleanup;
			}
			if (!S_ISREG(sb.st_mode)) {
				fail_at(ARCA_EINVAL, p->path, d->line,
						"dependency '%s' of stage '%s' is not a regular file",
						shows(&a, d->path), shows(&b, st->name));
				goto cleanup;
			}
		}
	}

	/* Adjacency in both directions (counting sort by stage). */
	for (i = 0; i < n_edges; i++) {
		succ_start[edges[i].from + 1]++;
		pred_start[edges[i].to + 1]++;
		indeg[edges[i].to]++;
	}
	for (i = 0; i < n; i++) {
		succ_start[i + 1] += succ_start[i];
		pred_start[i + 1] += pred_start[i];
	}
	{
		size_t *sfill = heap, *pfill = ord; /* scratch, reset below */

		for (i = 0; i < n; i++) {
			sfill[i] = succ_start[i];
			pfill[i] = pred_start[i];
		}
		for (i = 0; i < n_edges; i++) {
			succ_edge[sfill[edges[i].from]++] = i;
			pred_edge[pfill[edges[i].to]++] = i;
		}
	}

	/* Kahn's algorithm, always taking the ready stage first in the file. */
	for (i = 0; i < n; i++)
		if (indeg[i] == 0)
			heap_push(heap, &n_heap, i);
	while (n_heap > 0) {
		size_t v = heap_pop(heap, &n_heap);

		ord[n_ord++] = v;
		done[v] = 1;
		for (i = succ_start[v]; i < succ_start[v + 1]; i++) {
			size_t w = edges[succ_edge[i]].to;

			if (--indeg[w] == 0)
				heap_push(heap, &n_heap, w);
		}
	}
	if (n_ord < n) {
		error = fail_cycle(p, edges, pred_start, pred_edge, done);
		goto cleanup;
	}

	*order = ord;
	ord = NULL;
	error = 0;

cleanup:
	strmap_free(&outs);
	strmap_free(&urls);
	free(edges);
	free(succ_start);
	free(succ_edge);
	free(pred_start);
	free(pred_edge);
	free(indeg);
	free(heap);
	free(ord);
	free(done);
	free(file);
	return error;
}

/* ---- ${name} substitution ---------------------------------------------- */

int arca_pipeline_substitute(char **out, const char *text,
		char *const *names, char *const *values, size_t n)
{
	char *buf = NULL;
	size_t len = 0, cap, i;
	const char *s = text;
	int error = ARCA_EINVAL;
	shown a;

	arca__error_clear();
	if (out == NULL || text == NULL || (n > 0 && (names == NULL ||
			values == NULL))) {
		if (out != NULL)
			*out = NULL;
		return arca__error(ARCA_EINVAL,
				"arca_pipeline_substitute: NULL argument");
	}
	*out = NULL;
	cap = strlen(text) + 1;
	if ((buf = malloc(cap)) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	while (*s) {
		const char *piece = s, *end;
		size_t piece_len = 1;

		if (s[0] == '$' && s[1] == '$' && s[2] == '{') {
			piece = "${";
			piece_len = 2;
			s += 3;
		} else if (s[0] == '$' && s[1] == '{') {
			const char *name = s + 2;
			size_t name_len;

			end = strchr(name, '}');
			if (end == NULL) {
				arca__error(ARCA_EINVAL,
						"unterminated '${' in '%s' (write '$${' for a literal '${')",
						shows(&a, text));
				goto cleanup;
			}
			name_len = (size_t)(end - name);
			if (!is_name(name, name_len)) {
				arca__error(ARCA_EINVAL,
						"bad parameter reference '${%s}': names are [A-Za-z0-9_.-]+",
						show(&a, name, name_len));
				goto cleanup;
			}
			piece = NULL;
			for (i = 0; i < n; i++)
				if (names[i] && values[i] &&
						strlen(names[i]) == name_len &&
						memcmp(names[i], name, name_len) == 0) {
					piece = values[i];
					break;
				}
			if (piece == NULL) {
				arca__error(ARCA_EINVAL,
						"unknown parameter '%s' in '${%s}' (no value given; set it under 'params:' or with -p %s=VALUE)",
						show(&a, name, name_len), a.s, a.s);
				goto cleanup;
			}
			piece_len = strlen(piece);
			s = end + 1;
		} else {
			s++;
		}
		if (len + piece_len + 1 > cap) {
			size_t ncap = cap;
			char *nb;

			while (len + piece_len + 1 > ncap)
				ncap *= 2;
			if ((nb = realloc(buf, ncap)) == NULL) {
				error = arca__error(ARCA_ENOMEM,
						"out of memory");
				goto cleanup;
			}
			buf = nb;
			cap = ncap;
		}
		memcpy(buf + len, piece, piece_len);
		len += piece_len;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
	error = 0;

cleanup:
	free(buf);
	return error;
}
