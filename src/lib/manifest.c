/*
 * Manifests: what an action produced, and their JSON form (RFC 8259,
 * through jansson). The schema is specified in docs/manifest.md.
 */
#include "action.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#define TOOL_DIGEST_PREFIX "digest:"
#define TOOL_VERSION_PREFIX "version:"

/* Permission bits a manifest may record: rwx for all, setuid/gid, sticky. */
#define MODE_MAX 07777

/* The range of json_int_t, which is long long or long (jansson_config.h). */
#if JSON_INTEGER_IS_LONG_LONG
#define JSON_INT_MIN LLONG_MIN
#define JSON_INT_MAX LLONG_MAX
#else
#define JSON_INT_MIN LONG_MIN
#define JSON_INT_MAX LONG_MAX
#endif

/* Room for an array element's name such as "outputs[18446744073709551615]",
 * and for a field name: such an element's name, '.' and a member's key. */
#define WHERE_MAX 48
#define FIELD_MAX 96

/* ------------------------------------------------------------------ */
/* Shared helpers                                                       */
/* ------------------------------------------------------------------ */

/* calloc for n elements; NULL when n is 0 or memory ran out. */
static void *new_array(size_t n, size_t elem_size)
{
	return n ? calloc(n, elem_size) : NULL;
}

static int lowercase_hex_digest(const char *s, size_t len)
{
	size_t i;

	if (len != ARCA_DIGEST_HEXLEN)
		return 0;
	for (i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return 1;
}

/* "digest:<64 lowercase hex>" or "version:<anything>". */
static int tool_valid(const char *tool)
{
	size_t dlen = strlen(TOOL_DIGEST_PREFIX);

	if (strncmp(tool, TOOL_DIGEST_PREFIX, dlen) == 0)
		return lowercase_hex_digest(tool + dlen, strlen(tool + dlen));
	return strncmp(tool, TOOL_VERSION_PREFIX,
			strlen(TOOL_VERSION_PREFIX)) == 0;
}

static int output_path_taken(const arca_manifest *m, size_t n,
		const char *path)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (m->outputs[i].path != NULL &&
				strcmp(m->outputs[i].path, path) == 0)
			return 1;
	}
	return 0;
}

void arca_manifest_free(arca_manifest *m)
{
	size_t i;

	if (m == NULL)
		return;
	free(m->stage);
	for (i = 0; i < m->argc; i++)
		free(m->argv[i]);
	free(m->argv);
	for (i = 0; i < m->n_inputs; i++)
		free(m->inputs[i].name);
	free(m->inputs);
	for (i = 0; i < m->n_params; i++) {
		free(m->params[i].name);
		free(m->params[i].value);
	}
	free(m->params);
	for (i = 0; i < m->n_secret_params; i++)
		free(m->secret_params[i]);
	free(m->secret_params);
	for (i = 0; i < m->n_env; i++) {
		free(m->env[i].name);
		free(m->env[i].value);
	}
	free(m->env);
	free(m->tool);
	for (i = 0; i < m->n_outputs; i++)
		free(m->outputs[i].path);
	free(m->outputs);
	free(m);
}

/* ------------------------------------------------------------------ */
/* From an action                                                       */
/* ------------------------------------------------------------------ */

static int tool_string(char **out, const arca_action *a)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];
	const char *prefix, *ident;
	size_t plen, ilen;

	*out = NULL;
	if (a->tool_kind == ARCA_TOOL_NONE)
		return 0;
	if (a->tool_kind == ARCA_TOOL_DIGEST) {
		arca_digest_to_hex(hex, &a->tool_digest);
		prefix = TOOL_DIGEST_PREFIX;
		ident = hex;
	} else {
		prefix = TOOL_VERSION_PREFIX;
		ident = a->tool_version;
	}
	plen = strlen(prefix);
	ilen = strlen(ident);
	*out = malloc(plen + ilen + 1);
	if (*out == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory for the tool identity");
	memcpy(*out, prefix, plen);
	memcpy(*out + plen, ident, ilen + 1);
	return 0;
}

/*
 * Copy the arrays of an action into m. Each count is set as soon as its
 * array exists, so that arca_manifest_free() releases whatever was copied
 * before a failure. Returns -1 when memory runs out.
 */
static int copy_action_arrays(arca_manifest *m, const arca_action *a)
{
	size_t i;

	if ((m->argv = new_array(a->n_args, sizeof(*m->argv))) == NULL &&
			a->n_args)
		return -1;
	m->argc = a->n_args;
	for (i = 0; i < a->n_args; i++) {
		if ((m->argv[i] = arca__strdup(a->args[i])) == NULL)
			return -1;
	}

	if ((m->inputs = new_array(a->n_inputs, sizeof(*m->inputs))) == NULL &&
			a->n_inputs)
		return -1;
	m->n_inputs = a->n_inputs;
	for (i = 0; i < a->n_inputs; i++) {
		m->inputs[i].digest = a->inputs[i].digest;
		if ((m->inputs[i].name = arca__strdup(a->inputs[i].name)) == NULL)
			return -1;
	}

	if ((m->params = new_array(a->n_params, sizeof(*m->params))) == NULL &&
			a->n_params)
		return -1;
	m->n_params = a->n_params;
	for (i = 0; i < a->n_params; i++) {
		if ((m->params[i].name = arca__strdup(a->params[i].name)) == NULL ||
				(m->params[i].value = arca__strdup(
					a->params[i].value)) == NULL)
			return -1;
	}

	/* Secret parameters: the name only. The action holds no clear value,
	 * and the SHA-256 it holds stays out of the manifest too. */
	if ((m->secret_params = new_array(a->n_secrets,
			sizeof(*m->secret_params))) == NULL && a->n_secrets)
		return -1;
	m->n_secret_params = a->n_secrets;
	for (i = 0; i < a->n_secrets; i++) {
		if ((m->secret_params[i] = arca__strdup(a->secrets[i].name)) == NULL)
			return -1;
	}

	if ((m->env = new_array(a->n_env, sizeof(*m->env))) == NULL && a->n_env)
		return -1;
	m->n_env = a->n_env;
	for (i = 0; i < a->n_env; i++) {
		if ((m->env[i].name = arca__strdup(a->env[i].name)) == NULL)
			return -1;
		if (a->env[i].value != NULL &&
				(m->env[i].value = arca__strdup(a->env[i].value)) == NULL)
			return -1;
	}
	return 0;
}

int arca_manifest_from_action(arca_manifest **out, const arca_action *action)
{
	arca_manifest *m = NULL;
	int error;

	if (out == NULL || action == NULL)
		return arca__error(ARCA_EINVAL,
				"arca_manifest_from_action: NULL argument");
	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory for a manifest");
	m->version = ARCA_MANIFEST_VERSION;
	m->created = arca__now();
	if ((error = arca_action_key(&m->key, action)) < 0 ||
			(error = arca__strdup_checked(&m->stage, action->stage)) < 0 ||
			(error = tool_string(&m->tool, action)) < 0)
		goto cleanup;
	if (copy_action_arrays(m, action) < 0) {
		error = arca__error(ARCA_ENOMEM,
				"out of memory copying action '%s' into a manifest",
				action->stage);
		goto cleanup;
	}
	*out = m;
	m = NULL;
cleanup:
	arca_manifest_free(m);
	return error;
}

int arca_manifest_add_output(arca_manifest *m, const char *path,
		const arca_digest *digest, uint64_t size, unsigned int mode)
{
	arca_manifest_output *outputs;
	char *copy = NULL;
	int error = 0;

	if (m == NULL || digest == NULL)
		return arca__error(ARCA_EINVAL,
				"arca_manifest_add_output: NULL argument");
	if (!arca__output_path_valid(path) ||
			!arca__utf8_valid(path, strlen(path)))
		return arca__error(ARCA_EINVAL,
				"output '%s': not a relative UTF-8 path without '..'",
				path ? path : "(null)");
	if (output_path_taken(m, m->n_outputs, path))
		return arca__error(ARCA_EINVAL,
				"output '%s' is already in the manifest", path);
	if (size > (uint64_t)INT64_MAX)
		return arca__error(ARCA_EINVAL,
				"output '%s': size %llu is too large", path,
				(unsigned long long)size);
	if (mode > MODE_MAX)
		return arca__error(ARCA_EINVAL,
				"output '%s': mode %o has bits beyond 07777", path, mode);
	if ((error = arca__strdup_checked(&copy, path)) < 0)
		goto cleanup;
	if (m->n_outputs >= SIZE_MAX / sizeof(*outputs) - 1) {
		error = arca__error(ARCA_ENOMEM, "too many outputs");
		goto cleanup;
	}
	outputs = realloc(m->outputs, (m->n_outputs + 1) * sizeof(*outputs));
	if (outputs == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory adding output '%s'",
				path);
		goto cleanup;
	}
	m->outputs = outputs;
	outputs[m->n_outputs].path = copy;
	outputs[m->n_outputs].digest = *digest;
	outputs[m->n_outputs].size = size;
	outputs[m->n_outputs].mode = mode;
	m->n_outputs++;
	copy = NULL;
cleanup:
	free(copy);
	return error;
}

/* ------------------------------------------------------------------ */
/* To JSON                                                              */
/* ------------------------------------------------------------------ */

static int out_of_memory(void)
{
	return arca__error(ARCA_ENOMEM, "out of memory building manifest JSON");
}

/* Add value (a new reference, possibly NULL from a failed constructor)
 * to obj under key, or append it to the array obj when key is NULL. */
static int put_value(json_t *obj, const char *key, json_t *value)
{
	int rc;

	if (value == NULL)
		return out_of_memory();
	/* Both functions take the reference even when they fail. */
	rc = key ? json_object_set_new(obj, key, value) :
		json_array_append_new(obj, value);
	return rc == 0 ? 0 : out_of_memory();
}

static int put_string(json_t *obj, const char *key, const char *s,
		const char *field, int nullable)
{
	if (s == NULL) {
		if (nullable)
			return put_value(obj, key, json_null());
		return arca__error(ARCA_EINVAL, "manifest: field '%s' is NULL",
				field);
	}
	if (!arca__utf8_valid(s, strlen(s)))
		return arca__error(ARCA_EINVAL,
				"manifest: field '%s' is not valid UTF-8", field);
	return put_value(obj, key, json_string(s));
}

static int put_digest(json_t *obj, const char *key, const arca_digest *d)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	arca_digest_to_hex(hex, d);
	return put_value(obj, key, json_string(hex));
}

static int put_uint(json_t *obj, const char *key, uint64_t v,
		const char *field)
{
	if (v > (uint64_t)INT64_MAX)
		return arca__error(ARCA_EINVAL,
				"manifest: field '%s' (%llu) is too large for JSON",
				field, (unsigned long long)v);
	return put_value(obj, key, json_integer((json_int_t)v));
}

/* A new empty array or object is added under key and returned in *out;
 * obj keeps the reference. */
static int put_container(json_t **out, json_t *obj, const char *key,
		int is_array)
{
	json_t *v = is_array ? json_array() : json_object();
	int error;

	*out = v;
	if ((error = put_value(obj, key, v)) < 0)
		*out = NULL;
	return error;
}

static int check_array(const void *items, size_t n, const char *field)
{
	if (n > 0 && items == NULL)
		return arca__error(ARCA_EINVAL,
				"manifest: field '%s' is NULL with %zu entries", field, n);
	return 0;
}

static int build_json(json_t *root, const arca_manifest *m)
{
	char field[FIELD_MAX];
	json_t *arr, *obj;
	size_t i;
	int error;

	if ((error = put_value(root, "version",
			json_integer(ARCA_MANIFEST_VERSION))) < 0 ||
			(error = put_digest(root, "key", &m->key)) < 0 ||
			(error = put_string(root, "stage", m->stage, "stage", 0)) < 0)
		return error;

	if ((error = check_array(m->argv, m->argc, "argv")) < 0 ||
			(error = put_container(&arr, root, "argv", 1)) < 0)
		return error;
	for (i = 0; i < m->argc; i++) {
		snprintf(field, sizeof(field), "argv[%zu]", i);
		if ((error = put_string(arr, NULL, m->argv[i], field, 0)) < 0)
			return error;
	}

	if ((error = check_array(m->inputs, m->n_inputs, "inputs")) < 0 ||
			(error = put_container(&arr, root, "inputs", 1)) < 0)
		return error;
	for (i = 0; i < m->n_inputs; i++) {
		snprintf(field, sizeof(field), "inputs[%zu].name", i);
		if ((error = put_container(&obj, arr, NULL, 0)) < 0 ||
				(error = put_string(obj, "name", m->inputs[i].name,
					field, 0)) < 0 ||
				(error = put_digest(obj, "digest",
					&m->inputs[i].digest)) < 0)
			return error;
	}

	if ((error = check_array(m->params, m->n_params, "params")) < 0 ||
			(error = put_container(&arr, root, "params", 1)) < 0)
		return error;
	for (i = 0; i < m->n_params; i++) {
		if ((error = put_container(&obj, arr, NULL, 0)) < 0)
			return error;
		snprintf(field, sizeof(field), "params[%zu].name", i);
		if ((error = put_string(obj, "name", m->params[i].name,
				field, 0)) < 0)
			return error;
		snprintf(field, sizeof(field), "params[%zu].value", i);
		if ((error = put_string(obj, "value", m->params[i].value,
				field, 0)) < 0)
			return error;
	}

	if ((error = check_array(m->secret_params, m->n_secret_params,
			"secret_params")) < 0 ||
			(error = put_container(&arr, root, "secret_params", 1)) < 0)
		return error;
	for (i = 0; i < m->n_secret_params; i++) {
		snprintf(field, sizeof(field), "secret_params[%zu]", i);
		if ((error = put_string(arr, NULL, m->secret_params[i],
				field, 0)) < 0)
			return error;
	}

	if ((error = check_array(m->env, m->n_env, "env")) < 0 ||
			(error = put_container(&arr, root, "env", 1)) < 0)
		return error;
	for (i = 0; i < m->n_env; i++) {
		if ((error = put_container(&obj, arr, NULL, 0)) < 0)
			return error;
		snprintf(field, sizeof(field), "env[%zu].name", i);
		if ((error = put_string(obj, "name", m->env[i].name,
				field, 0)) < 0)
			return error;
		snprintf(field, sizeof(field), "env[%zu].value", i);
		if ((error = put_string(obj, "value", m->env[i].value,
				field, 1)) < 0)
			return error;
	}

	if (m->tool != NULL && !tool_valid(m->tool))
		return arca__error(ARCA_EINVAL,
				"manifest: field 'tool' ('%s') is neither "
				"digest:<hex> nor version:<string>", m->tool);
	if ((error = put_string(root, "tool", m->tool, "tool", 1)) < 0)
		return error;

	if ((error = check_array(m->outputs, m->n_outputs, "outputs")) < 0 ||
			(error = put_container(&arr, root, "outputs", 1)) < 0)
		return error;
	for (i = 0; i < m->n_outputs; i++) {
		const arca_manifest_output *o = &m->outputs[i];

		snprintf(field, sizeof(field), "outputs[%zu].path", i);
		if (o->path != NULL && !arca__output_path_valid(o->path))
			return arca__error(ARCA_EINVAL,
					"manifest: field '%s' ('%s') is not a relative "
					"path without '..'", field, o->path);
		if ((error = put_container(&obj, arr, NULL, 0)) < 0 ||
				(error = put_string(obj, "path", o->path,
					field, 0)) < 0 ||
				(error = put_digest(obj, "digest", &o->digest)) < 0)
			return error;
		snprintf(field, sizeof(field), "outputs[%zu].size", i);
		if ((error = put_uint(obj, "size", o->size, field)) < 0)
			return error;
		snprintf(field, sizeof(field), "outputs[%zu].mode", i);
		if (o->mode > MODE_MAX)
			return arca__error(ARCA_EINVAL,
					"manifest: field '%s' (%o) has bits beyond 07777",
					field, o->mode);
		if ((error = put_uint(obj, "mode", o->mode, field)) < 0)
			return error;
	}

	if ((error = put_value(root, "exit_status",
			json_integer(m->exit_status))) < 0 ||
			(error = put_container(&obj, root, "stdout", 0)) < 0 ||
			(error = put_digest(obj, "digest", &m->stdout_digest)) < 0 ||
			(error = put_uint(obj, "size", m->stdout_size,
				"stdout.size")) < 0 ||
			(error = put_container(&obj, root, "stderr", 0)) < 0 ||
			(error = put_digest(obj, "digest", &m->stderr_digest)) < 0 ||
			(error = put_uint(obj, "size", m->stderr_size,
				"stderr.size")) < 0 ||
			(error = put_uint(root, "duration_ms", m->duration_ms,
				"duration_ms")) < 0 ||
			(error = put_value(root, "created",
				json_integer((json_int_t)m->created))) < 0)
		return error;
	return 0;
}

int arca_manifest_to_json(arca_buf *out, const arca_manifest *m)
{
	/* Keys come out in the order build_json() inserts them: jansson
	 * keeps insertion order since 2.8, and JSON_PRESERVE_ORDER asks for
	 * it from older versions. */
	const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
	json_t *root = NULL;
	char *text = NULL;
	size_t size;
	int error;

	if (out == NULL || m == NULL)
		return arca__error(ARCA_EINVAL,
				"arca_manifest_to_json: NULL argument");
	out->data = NULL;
	out->size = 0;
	if (m->version != ARCA_MANIFEST_VERSION) {
		error = arca__error(ARCA_EINVAL,
				"manifest: field 'version' is %u, not %d",
				m->version, ARCA_MANIFEST_VERSION);
		goto cleanup;
	}
	if ((root = json_object()) == NULL) {
		error = out_of_memory();
		goto cleanup;
	}
	if ((error = build_json(root, m)) < 0)
		goto cleanup;
	size = json_dumpb(root, NULL, 0, flags);
	if (size == 0 || size == SIZE_MAX ||
			(text = malloc(size + 1)) == NULL) {
		error = out_of_memory();
		goto cleanup;
	}
	if (json_dumpb(root, text, size, flags) != size) {
		error = out_of_memory();
		goto cleanup;
	}
	text[size] = '\0';
	out->data = (unsigned char *)text;
	out->size = size;
	text = NULL;
	error = 0;
cleanup:
	free(text);
	json_decref(root);
	return error;
}

/* ------------------------------------------------------------------ */
/* From JSON                                                            */
/* ------------------------------------------------------------------ */

static int bad_field(const char *field, const char *what)
{
	return arca__error(ARCA_EINVAL, "manifest: field '%s': %s", field, what);
}

/*
 * Replace control characters with '?': text from the input (a member name,
 * jansson's "near '...'") must not break a message's one line.
 */
static char *one_line(char *s)
{
	char *p;

	for (p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7F)
			*p = '?';
	return s;
}

/* "where.key", or "key" at the top level (where ""). */
static void field_name(char *buf, const char *where, const char *key)
{
	snprintf(buf, FIELD_MAX, "%s%s%s", where, *where ? "." : "", key);
	one_line(buf);
}

/*
 * Check that v is an object holding exactly the members named in keys
 * (a NULL-terminated list): a version 1 reader rejects fields it does not
 * know rather than drop them silently.
 */
static int check_object(const json_t *v, const char *where,
		const char *const *keys)
{
	char field[FIELD_MAX];
	const char *key;
	json_t *value;
	size_t i;

	if (!json_is_object(v))
		return bad_field(*where ? where : "(top level)",
				"expected an object");
	for (i = 0; keys[i] != NULL; i++) {
		if (json_object_get(v, keys[i]) == NULL) {
			field_name(field, where, keys[i]);
			return bad_field(field, "missing");
		}
	}
	json_object_foreach((json_t *)v, key, value) {
		for (i = 0; keys[i] != NULL && strcmp(keys[i], key) != 0; i++)
			;
		if (keys[i] == NULL) {
			field_name(field, where, key);
			return bad_field(field, "unknown field");
		}
	}
	return 0;
}

enum {
	STR_NULLABLE = 1,  /* null is accepted, giving NULL */
	STR_NONEMPTY = 2   /* "" is rejected */
};

static int parse_string(char **out, const json_t *v, const char *field,
		int flags)
{
	const char *s;

	*out = NULL;
	if (json_is_null(v) && (flags & STR_NULLABLE))
		return 0;
	if (!json_is_string(v))
		return bad_field(field, (flags & STR_NULLABLE) ?
				"expected a string or null" : "expected a string");
	s = json_string_value(v);
	if ((flags & STR_NONEMPTY) && s[0] == '\0')
		return bad_field(field, "must not be empty");
	return arca__strdup_checked(out, s);
}

static int parse_digest(arca_digest *out, const json_t *v, const char *field)
{
	if (!json_is_string(v) ||
			!lowercase_hex_digest(json_string_value(v),
				json_string_length(v)))
		return bad_field(field, "expected 64 lowercase hex characters");
	return arca_digest_from_hex(out, json_string_value(v));
}

static int parse_int(json_int_t *out, const json_t *v, const char *field,
		json_int_t min, json_int_t max)
{
	char what[96];

	if (!json_is_integer(v))
		return bad_field(field, "expected an integer");
	*out = json_integer_value(v);
	if (*out < min || *out > max) {
		snprintf(what, sizeof(what), "%" JSON_INTEGER_FORMAT
				" is out of range [%" JSON_INTEGER_FORMAT ", %"
				JSON_INTEGER_FORMAT "]", *out, min, max);
		return bad_field(field, what);
	}
	return 0;
}

/* The member key of obj (already checked to exist), as a field name. */
static const json_t *member(char *field, const json_t *obj,
		const char *where, const char *key)
{
	field_name(field, where, key);
	return json_object_get(obj, key);
}

static int get_string(char **out, const json_t *obj, const char *where,
		const char *key, int flags)
{
	char field[FIELD_MAX];
	const json_t *v = member(field, obj, where, key);

	return parse_string(out, v, field, flags);
}

static int get_digest(arca_digest *out, const json_t *obj, const char *where,
		const char *key)
{
	char field[FIELD_MAX];
	const json_t *v = member(field, obj, where, key);

	return parse_digest(out, v, field);
}

static int get_uint(uint64_t *out, const json_t *obj, const char *where,
		const char *key, json_int_t max)
{
	char field[FIELD_MAX];
	const json_t *v = member(field, obj, where, key);
	json_int_t n = 0;
	int error;

	if ((error = parse_int(&n, v, field, 0, max)) < 0)
		return error;
	*out = (uint64_t)n;
	return 0;
}

/* The array member key of root, and its size. */
static int get_array(const json_t **out, size_t *n, const json_t *root,
		const char *key)
{
	const json_t *v = json_object_get(root, key);

	*out = NULL;
	*n = 0;
	if (!json_is_array(v))
		return bad_field(key, "expected an array");
	*out = v;
	*n = json_array_size(v);
	return 0;
}

static int parse_blob_ref(arca_digest *digest, uint64_t *size,
		const json_t *root, const char *key)
{
	static const char *const keys[] = { "digest", "size", NULL };
	const json_t *v = json_object_get(root, key);
	int error;

	if ((error = check_object(v, key, keys)) < 0 ||
			(error = get_digest(digest, v, key, "digest")) < 0 ||
			(error = get_uint(size, v, key, "size", JSON_INT_MAX)) < 0)
		return error;
	return 0;
}

static int parse_manifest(arca_manifest *m, const json_t *root)
{
	static const char *const root_keys[] = {
		"version", "key", "stage", "argv", "inputs", "params",
		"secret_params", "env", "tool", "outputs", "exit_status",
		"stdout", "stderr", "duration_ms", "created", NULL
	};
	static const char *const input_keys[] = { "name", "digest", NULL };
	static const char *const kv_keys[] = { "name", "value", NULL };
	static const char *const output_keys[] = {
		"path", "digest", "size", "mode", NULL
	};
	char where[WHERE_MAX], field[FIELD_MAX];
	const json_t *arr, *v;
	json_int_t n = 0;
	size_t i, count;
	int error;

	if (!json_is_object(root))
		return bad_field("(top level)", "expected an object");
	/* The version first: a later version may have other fields. */
	v = json_object_get(root, "version");
	if (v == NULL)
		return bad_field("version", "missing");
	if (!json_is_integer(v))
		return bad_field("version", "expected an integer");
	if (json_integer_value(v) != ARCA_MANIFEST_VERSION)
		return arca__error(ARCA_EINVAL,
				"manifest: field 'version': unsupported version %"
				JSON_INTEGER_FORMAT " (this arca reads version %d)",
				json_integer_value(v), ARCA_MANIFEST_VERSION);
	m->version = ARCA_MANIFEST_VERSION;
	if ((error = check_object(root, "", root_keys)) < 0 ||
			(error = get_digest(&m->key, root, "", "key")) < 0 ||
			(error = get_string(&m->stage, root, "", "stage",
				STR_NONEMPTY)) < 0)
		return error;

	if ((error = get_array(&arr, &count, root, "argv")) < 0)
		return error;
	if ((m->argv = new_array(count, sizeof(*m->argv))) == NULL && count)
		return out_of_memory();
	m->argc = count;
	for (i = 0; i < count; i++) {
		snprintf(field, sizeof(field), "argv[%zu]", i);
		if ((error = parse_string(&m->argv[i], json_array_get(arr, i),
				field, 0)) < 0)
			return error;
	}

	if ((error = get_array(&arr, &count, root, "inputs")) < 0)
		return error;
	if ((m->inputs = new_array(count, sizeof(*m->inputs))) == NULL &&
			count)
		return out_of_memory();
	m->n_inputs = count;
	for (i = 0; i < count; i++) {
		v = json_array_get(arr, i);
		snprintf(where, sizeof(where), "inputs[%zu]", i);
		if ((error = check_object(v, where, input_keys)) < 0 ||
				(error = get_string(&m->inputs[i].name, v, where,
					"name", STR_NONEMPTY)) < 0 ||
				(error = get_digest(&m->inputs[i].digest, v, where,
					"digest")) < 0)
			return error;
	}

	if ((error = get_array(&arr, &count, root, "params")) < 0)
		return error;
	if ((m->params = new_array(count, sizeof(*m->params))) == NULL &&
			count)
		return out_of_memory();
	m->n_params = count;
	for (i = 0; i < count; i++) {
		v = json_array_get(arr, i);
		snprintf(where, sizeof(where), "params[%zu]", i);
		if ((error = check_object(v, where, kv_keys)) < 0 ||
				(error = get_string(&m->params[i].name, v, where,
					"name", STR_NONEMPTY)) < 0 ||
				(error = get_string(&m->params[i].value, v, where,
					"value", 0)) < 0)
			return error;
	}

	if ((error = get_array(&arr, &count, root, "secret_params")) < 0)
		return error;
	if ((m->secret_params = new_array(count,
			sizeof(*m->secret_params))) == NULL && count)
		return out_of_memory();
	m->n_secret_params = count;
	for (i = 0; i < count; i++) {
		snprintf(field, sizeof(field), "secret_params[%zu]", i);
		if ((error = parse_string(&m->secret_params[i],
				json_array_get(arr, i), field, STR_NONEMPTY)) < 0)
			return error;
	}

	if ((error = get_array(&arr, &count, root, "env")) < 0)
		return error;
	if ((m->env = new_array(count, sizeof(*m->env))) == NULL && count)
		return out_of_memory();
	m->n_env = count;
	for (i = 0; i < count; i++) {
		v = json_array_get(arr, i);
		snprintf(where, sizeof(where), "env[%zu]", i);
		if ((error = check_object(v, where, kv_keys)) < 0 ||
				(error = get_string(&m->env[i].name, v, where,
					"name", STR_NONEMPTY)) < 0 ||
				(error = get_string(&m->env[i].value, v, where,
					"value", STR_NULLABLE)) < 0)
			return error;
	}

	if ((error = get_string(&m->tool, root, "", "tool", STR_NULLABLE)) < 0)
		return error;
	if (m->tool != NULL && !tool_valid(m->tool))
		return bad_field("tool",
				"expected \"digest:<64 lowercase hex>\", "
				"\"version:<string>\" or null");

	if ((error = get_array(&arr, &count, root, "outputs")) < 0)
		return error;
	if ((m->outputs = new_array(count, sizeof(*m->outputs))) == NULL &&
			count)
		return out_of_memory();
	m->n_outputs = count;
	for (i = 0; i < count; i++) {
		arca_manifest_output *o = &m->outputs[i];
		uint64_t mode;

		v = json_array_get(arr, i);
		snprintf(where, sizeof(where), "outputs[%zu]", i);
		if ((error = check_object(v, where, output_keys)) < 0 ||
				(error = get_string(&o->path, v, where, "path", 0)) < 0)
			return error;
		/* A manifest may come from another tier: it must not make a
		 * restore write outside the working directory. */
		field_name(field, where, "path");
		if (!arca__output_path_valid(o->path))
			return bad_field(field, "not a relative path without '..'");
		if (output_path_taken(m, i, o->path))
			return bad_field(field, "duplicate output path");
		if ((error = get_digest(&o->digest, v, where, "digest")) < 0 ||
				(error = get_uint(&o->size, v, where, "size",
					JSON_INT_MAX)) < 0 ||
				(error = get_uint(&mode, v, where, "mode",
					MODE_MAX)) < 0)
			return error;
		o->mode = (unsigned int)mode;
	}

	if ((error = parse_int(&n, json_object_get(root, "exit_status"),
			"exit_status", INT_MIN, INT_MAX)) < 0)
		return error;
	m->exit_status = (int)n;
	if ((error = parse_blob_ref(&m->stdout_digest, &m->stdout_size,
			root, "stdout")) < 0 ||
			(error = parse_blob_ref(&m->stderr_digest, &m->stderr_size,
				root, "stderr")) < 0 ||
			(error = get_uint(&m->duration_ms, root, "", "duration_ms",
				JSON_INT_MAX)) < 0)
		return error;
	if ((error = parse_int(&n, json_object_get(root, "created"),
			"created", JSON_INT_MIN, JSON_INT_MAX)) < 0)
		return error;
	m->created = (int64_t)n;
	return 0;
}

int arca_manifest_from_json(arca_manifest **out, const char *json, size_t len)
{
	arca_manifest *m = NULL;
	json_error_t jerr;
	json_t *root = NULL;
	int error;

	if (out == NULL || (json == NULL && len > 0))
		return arca__error(ARCA_EINVAL,
				"arca_manifest_from_json: NULL argument");
	*out = NULL;
	/* Duplicate keys would make "the" value of a field ambiguous. NUL
	 * inside strings stays rejected (no JSON_ALLOW_NUL): manifest
	 * strings are C strings. */
	root = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		/* Running out of memory says nothing about the manifest: a
		 * caller must not take it for a corrupt one. jansson reports
		 * json_error_out_of_memory (since 2.11), except when it cannot
		 * allocate its lexer's buffer: then it returns before writing
		 * any message at all. */
		if (jerr.text[0] == '\0'
#if JANSSON_VERSION_HEX >= 0x020b00
				|| json_error_code(&jerr) == json_error_out_of_memory
#endif
				) {
			error = arca__error(ARCA_ENOMEM,
					"out of memory parsing a manifest");
			goto cleanup;
		}
		error = arca__error(ARCA_EINVAL,
				"manifest: invalid JSON at line %d, column %d: %s",
				jerr.line, jerr.column, one_line(jerr.text));
		goto cleanup;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory for a manifest");
		goto cleanup;
	}
	if ((error = parse_manifest(m, root)) < 0)
		goto cleanup;
	*out = m;
	m = NULL;
cleanup:
	arca_manifest_free(m);
	json_decref(root);
	return error;
}

int arca__manifest_is_newer(const char *json, size_t len)
{
	json_t *root = json_loadb(json, len, 0, NULL);
	const json_t *v = root ? json_object_get(root, "version") : NULL;
	int newer = v != NULL && json_is_integer(v) &&
		json_integer_value(v) > ARCA_MANIFEST_VERSION;

	json_decref(root);
	return newer;
}
