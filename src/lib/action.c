/*
 * Actions and their keys: the canonical, versioned encoding of everything
 * that determines a stage's result, specified in docs/action-key.md.
 */
#include "action.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

enum {
	TAG_STAGE = 0x01,
	TAG_ARG = 0x02,
	TAG_INPUT = 0x03,
	TAG_PARAM = 0x04,
	TAG_SECRET = 0x05,
	TAG_ENV = 0x06,
	TAG_OUTPUT = 0x07,
	TAG_TOOL = 0x08
};

enum {
	TOOL_BYTE_DIGEST = 0x01,
	TOOL_BYTE_VERSION = 0x02
};

static const unsigned char encoding_magic[] = "arca-action"; /* + its NUL */

/* ------------------------------------------------------------------ */
/* Validation                                                           */
/* ------------------------------------------------------------------ */

int arca__utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t n, k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0; /* continuation byte, 0xc0/0xc1 or above 0xf4 */
		}
		if (len - i - 1 < n)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
				(cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += n + 1;
	}
	return 1;
}

int arca__output_path_valid(const char *path)
{
	const char *p, *slash;

	if (path == NULL || path[0] == '\0' || path[0] == '/')
		return 0;
	for (p = path; ; p = slash + 1) {
		slash = strchr(p, '/');
		if (slash == NULL)
			return strcmp(p, "..") != 0;
		if (slash - p == 2 && p[0] == '.' && p[1] == '.')
			return 0;
	}
}

static int check_text(const char *what, const char *s)
{
	if (!arca__utf8_valid(s, strlen(s)))
		return arca__error(ARCA_EINVAL, "%s is not valid UTF-8", what);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Sorted arrays                                                        */
/* ------------------------------------------------------------------ */

/*
 * The canonical order of names: bytewise, a string before any longer
 * string it is a prefix of. strcmp() is exactly that, as it compares
 * bytes as unsigned char and a name holds no NUL.
 */
static int name_cmp(const char *a, const char *b)
{
	return strcmp(a, b);
}

/*
 * Binary search in a sorted array of n elements of elem_size bytes whose
 * first member is the `char *` name (true of every array of struct
 * arca_action, and of its char * arrays). Returns the index where name is
 * or would be inserted; *found tells which.
 */
static size_t find_name(int *found, const void *items, size_t n,
		size_t elem_size, const char *name)
{
	const unsigned char *base = items;
	size_t lo = 0, hi = n;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *mid_name;
		int cmp;

		memcpy(&mid_name, base + mid * elem_size, sizeof(mid_name));
		cmp = name_cmp(name, mid_name);
		if (cmp == 0) {
			*found = 1;
			return mid;
		}
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static int has_name(const void *items, size_t n, size_t elem_size,
		const char *name)
{
	int found;

	find_name(&found, items, n, elem_size, name);
	return found;
}

/*
 * Make room for one more element; returns the (possibly moved) array, or
 * NULL with *cap unchanged when memory runs out.
 */
static void *grow(void *items, size_t *cap, size_t n, size_t elem_size)
{
	size_t new_cap;
	void *p;

	if (n < *cap)
		return items;
	new_cap = *cap ? *cap * 2 : 8;
	if (new_cap < *cap || new_cap > SIZE_MAX / elem_size)
		return NULL;
	p = realloc(items, new_cap * elem_size);
	if (p != NULL)
		*cap = new_cap;
	return p;
}

/* Open a gap at index pos of an array with room for n + 1 elements. */
static void open_gap(void *items, size_t n, size_t pos, size_t elem_size)
{
	unsigned char *base = items;

	memmove(base + (pos + 1) * elem_size, base + pos * elem_size,
			(n - pos) * elem_size);
}

/* ------------------------------------------------------------------ */
/* Building an action                                                   */
/* ------------------------------------------------------------------ */

int arca_action_new(arca_action **out, const char *stage)
{
	arca_action *a = NULL;
	int error;

	if (out == NULL)
		return arca__error(ARCA_EINVAL, "arca_action_new: out is NULL");
	*out = NULL;
	if (stage == NULL || stage[0] == '\0')
		return arca__error(ARCA_EINVAL, "a stage name must not be empty");
	if ((error = check_text("stage name", stage)) < 0)
		return error;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory for an action");
	if ((error = arca__strdup_checked(&a->stage, stage)) < 0)
		goto cleanup;
	*out = a;
	a = NULL;
cleanup:
	arca_action_free(a);
	return error;
}

void arca_action_free(arca_action *action)
{
	size_t i;

	if (action == NULL)
		return;
	free(action->stage);
	for (i = 0; i < action->n_args; i++)
		free(action->args[i]);
	free(action->args);
	for (i = 0; i < action->n_inputs; i++)
		free(action->inputs[i].name);
	free(action->inputs);
	for (i = 0; i < action->n_params; i++) {
		free(action->params[i].name);
		free(action->params[i].value);
	}
	free(action->params);
	for (i = 0; i < action->n_secrets; i++)
		free(action->secrets[i].name);
	/* The hash of a low-entropy secret can be searched; do not leave it
	 * behind in freed memory. */
	if (action->secrets != NULL)
		OPENSSL_cleanse(action->secrets,
				action->cap_secrets * sizeof(*action->secrets));
	free(action->secrets);
	for (i = 0; i < action->n_env; i++) {
		free(action->env[i].name);
		free(action->env[i].value);
	}
	free(action->env);
	for (i = 0; i < action->n_outputs; i++)
		free(action->outputs[i]);
	free(action->outputs);
	free(action->tool_version);
	free(action);
}

int arca_action_add_arg(arca_action *action, const char *arg)
{
	char *copy = NULL;
	char **args;
	int error;

	if (action == NULL || arg == NULL)
		return arca__error(ARCA_EINVAL, "argument %zu is NULL",
				action ? action->n_args : 0);
	if (!arca__utf8_valid(arg, strlen(arg)))
		return arca__error(ARCA_EINVAL,
				"argument %zu is not valid UTF-8", action->n_args);
	if ((error = arca__strdup_checked(&copy, arg)) < 0)
		goto cleanup;
	args = grow(action->args, &action->cap_args, action->n_args,
			sizeof(*action->args));
	if (args == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory adding an argument");
		goto cleanup;
	}
	action->args = args;
	action->args[action->n_args++] = copy;
	copy = NULL;
cleanup:
	free(copy);
	return error;
}

int arca_action_add_input(arca_action *action, const char *name,
		const arca_digest *digest)
{
	arca__action_input *inputs;
	char *copy = NULL;
	size_t pos;
	int found, error;

	if (action == NULL || name == NULL || name[0] == '\0' || digest == NULL)
		return arca__error(ARCA_EINVAL,
				"an input needs a non-empty name and a digest");
	if ((error = check_text("input name", name)) < 0)
		return error;
	pos = find_name(&found, action->inputs, action->n_inputs,
			sizeof(*action->inputs), name);
	if (found)
		return arca__error(ARCA_EEXISTS,
				"input '%s' was already added", name);
	if ((error = arca__strdup_checked(&copy, name)) < 0)
		goto cleanup;
	inputs = grow(action->inputs, &action->cap_inputs, action->n_inputs,
			sizeof(*action->inputs));
	if (inputs == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory adding input '%s'",
				name);
		goto cleanup;
	}
	action->inputs = inputs;
	open_gap(inputs, action->n_inputs, pos, sizeof(*inputs));
	inputs[pos].name = copy;
	inputs[pos].digest = *digest;
	action->n_inputs++;
	copy = NULL;
cleanup:
	free(copy);
	return error;
}

/* Plain and secret parameters share one name space. */
static int check_param_name(const arca_action *action, const char *name)
{
	if (name == NULL || name[0] == '\0')
		return arca__error(ARCA_EINVAL,
				"a parameter name must not be empty");
	if (!arca__utf8_valid(name, strlen(name)))
		return arca__error(ARCA_EINVAL,
				"parameter name is not valid UTF-8");
	if (has_name(action->params, action->n_params,
			sizeof(*action->params), name) ||
			has_name(action->secrets, action->n_secrets,
				sizeof(*action->secrets), name))
		return arca__error(ARCA_EEXISTS,
				"parameter '%s' was already added", name);
	return 0;
}

int arca_action_add_param(arca_action *action, const char *name,
		const char *value)
{
	arca__action_kv *params;
	char *name_copy = NULL, *value_copy = NULL;
	size_t pos;
	int found, error;

	if (action == NULL)
		return arca__error(ARCA_EINVAL, "arca_action_add_param: no action");
	if ((error = check_param_name(action, name)) < 0)
		return error;
	if (value == NULL)
		return arca__error(ARCA_EINVAL, "parameter '%s' has no value", name);
	if (!arca__utf8_valid(value, strlen(value)))
		return arca__error(ARCA_EINVAL,
				"value of parameter '%s' is not valid UTF-8", name);
	if ((error = arca__strdup_checked(&name_copy, name)) < 0 ||
			(error = arca__strdup_checked(&value_copy, value)) < 0)
		goto cleanup;
	pos = find_name(&found, action->params, action->n_params,
			sizeof(*action->params), name);
	params = grow(action->params, &action->cap_params, action->n_params,
			sizeof(*action->params));
	if (params == NULL) {
		error = arca__error(ARCA_ENOMEM,
				"out of memory adding parameter '%s'", name);
		goto cleanup;
	}
	action->params = params;
	open_gap(params, action->n_params, pos, sizeof(*params));
	params[pos].name = name_copy;
	params[pos].value = value_copy;
	action->n_params++;
	name_copy = value_copy = NULL;
cleanup:
	free(name_copy);
	free(value_copy);
	return error;
}

int arca_action_add_secret_param(arca_action *action, const char *name,
		const char *value)
{
	arca__action_secret *secrets;
	arca_digest value_digest;
	char *name_copy = NULL;
	size_t pos;
	int found, error;

	if (action == NULL)
		return arca__error(ARCA_EINVAL,
				"arca_action_add_secret_param: no action");
	if ((error = check_param_name(action, name)) < 0)
		return error;
	if (value == NULL)
		return arca__error(ARCA_EINVAL,
				"secret parameter '%s' has no value", name);
	/* The clear value is hashed straight from the caller's memory and
	 * never copied; only its digest is kept. */
	if ((error = arca_digest_buffer(&value_digest, value, strlen(value))) < 0)
		goto cleanup;
	if ((error = arca__strdup_checked(&name_copy, name)) < 0)
		goto cleanup;
	pos = find_name(&found, action->secrets, action->n_secrets,
			sizeof(*action->secrets), name);
	secrets = grow(action->secrets, &action->cap_secrets, action->n_secrets,
			sizeof(*action->secrets));
	if (secrets == NULL) {
		error = arca__error(ARCA_ENOMEM,
				"out of memory adding secret parameter '%s'", name);
		goto cleanup;
	}
	action->secrets = secrets;
	open_gap(secrets, action->n_secrets, pos, sizeof(*secrets));
	secrets[pos].name = name_copy;
	secrets[pos].value_digest = value_digest;
	action->n_secrets++;
	name_copy = NULL;
cleanup:
	OPENSSL_cleanse(&value_digest, sizeof(value_digest));
	free(name_copy);
	return error;
}

int arca_action_add_env(arca_action *action, const char *name,
		const char *value)
{
	arca__action_kv *env;
	char *name_copy = NULL, *value_copy = NULL;
	size_t pos;
	int found, error;

	if (action == NULL || name == NULL || name[0] == '\0' ||
			strchr(name, '=') != NULL)
		return arca__error(ARCA_EINVAL,
				"environment variable name '%s' is empty or holds '='",
				name ? name : "(null)");
	if ((error = check_text("environment variable name", name)) < 0)
		return error;
	if (value != NULL && !arca__utf8_valid(value, strlen(value)))
		return arca__error(ARCA_EINVAL,
				"value of environment variable '%s' is not valid UTF-8",
				name);
	pos = find_name(&found, action->env, action->n_env,
			sizeof(*action->env), name);
	if (found)
		return arca__error(ARCA_EEXISTS,
				"environment variable '%s' was already added", name);
	if ((error = arca__strdup_checked(&name_copy, name)) < 0 ||
			(error = arca__strdup_checked(&value_copy, value)) < 0)
		goto cleanup;
	env = grow(action->env, &action->cap_env, action->n_env,
			sizeof(*action->env));
	if (env == NULL) {
		error = arca__error(ARCA_ENOMEM,
				"out of memory adding environment variable '%s'", name);
		goto cleanup;
	}
	action->env = env;
	open_gap(env, action->n_env, pos, sizeof(*env));
	env[pos].name = name_copy;
	env[pos].value = value_copy;
	action->n_env++;
	name_copy = value_copy = NULL;
cleanup:
	free(name_copy);
	free(value_copy);
	return error;
}

int arca_action_add_output(arca_action *action, const char *path)
{
	char **outputs;
	char *copy = NULL;
	size_t pos;
	int found, error;

	if (action == NULL || !arca__output_path_valid(path))
		return arca__error(ARCA_EINVAL,
				"output '%s': not a relative path without '..'",
				path ? path : "(null)");
	if ((error = check_text("output path", path)) < 0)
		return error;
	pos = find_name(&found, action->outputs, action->n_outputs,
			sizeof(*action->outputs), path);
	if (found)
		return arca__error(ARCA_EEXISTS,
				"output '%s' was already declared", path);
	if ((error = arca__strdup_checked(&copy, path)) < 0)
		goto cleanup;
	outputs = grow(action->outputs, &action->cap_outputs,
			action->n_outputs, sizeof(*action->outputs));
	if (outputs == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory adding output '%s'",
				path);
		goto cleanup;
	}
	action->outputs = outputs;
	open_gap(outputs, action->n_outputs, pos, sizeof(*outputs));
	outputs[pos] = copy;
	action->n_outputs++;
	copy = NULL;
cleanup:
	free(copy);
	return error;
}

int arca_action_set_tool(arca_action *action, arca_tool_kind kind,
		const char *ident)
{
	arca_digest digest;
	char *version = NULL;
	int error = 0;

	if (action == NULL)
		return arca__error(ARCA_EINVAL, "arca_action_set_tool: no action");
	switch (kind) {
	case ARCA_TOOL_NONE:
		break;
	case ARCA_TOOL_DIGEST:
		if (ident == NULL || arca_digest_from_hex(&digest, ident) < 0)
			return arca__error(ARCA_EINVAL,
					"tool digest '%s': not 64 hex characters",
					ident ? ident : "(null)");
		break;
	case ARCA_TOOL_VERSION:
		if (ident == NULL)
			return arca__error(ARCA_EINVAL, "tool version is NULL");
		if ((error = check_text("tool version", ident)) < 0)
			return error;
		if ((error = arca__strdup_checked(&version, ident)) < 0)
			return error;
		break;
	default:
		return arca__error(ARCA_EINVAL, "unknown tool kind %d", (int)kind);
	}
	free(action->tool_version);
	action->tool_version = version;
	memset(&action->tool_digest, 0, sizeof(action->tool_digest));
	if (kind == ARCA_TOOL_DIGEST)
		action->tool_digest = digest;
	action->tool_kind = kind;
	return 0;
}

const char *arca_action_stage(const arca_action *action)
{
	return action ? action->stage : NULL;
}

/* ------------------------------------------------------------------ */
/* The canonical encoding                                               */
/* ------------------------------------------------------------------ */

/*
 * The encoding is written twice by the same code: once with data NULL to
 * measure it, then into a buffer of exactly that size.
 */
typedef struct encoder {
	unsigned char *data;
	size_t size;
	int overflow;
} encoder;

static void put(encoder *e, const void *bytes, size_t n)
{
	if (n > SIZE_MAX - e->size) {
		e->overflow = 1;
		return;
	}
	if (e->data != NULL && n > 0)
		memcpy(e->data + e->size, bytes, n);
	e->size += n;
}

static void put_u8(encoder *e, unsigned int v)
{
	unsigned char b = (unsigned char)v;

	put(e, &b, 1);
}

static void put_u32be(encoder *e, uint32_t v)
{
	unsigned char b[4];
	int i;

	for (i = 3; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)(v & 0xff);
	put(e, b, sizeof(b));
}

static void put_u64be(encoder *e, uint64_t v)
{
	unsigned char b[8];
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)(v & 0xff);
	put(e, b, sizeof(b));
}

/* A "string" inside a field value: u64be length, then the bytes. */
static void put_string(encoder *e, const char *s, size_t len)
{
	put_u64be(e, len);
	put(e, s, len);
}

static void put_field_header(encoder *e, unsigned int tag, uint64_t len)
{
	put_u8(e, tag);
	put_u64be(e, len);
}

static void put_bytes_field(encoder *e, unsigned int tag, const char *s)
{
	size_t len = strlen(s);

	put_field_header(e, tag, len);
	put(e, s, len);
}

static void encode_action(encoder *e, const arca_action *a)
{
	size_t i;

	put(e, encoding_magic, sizeof(encoding_magic));
	put_u32be(e, ARCA_ACTION_ENCODING_VERSION);

	put_bytes_field(e, TAG_STAGE, a->stage);
	for (i = 0; i < a->n_args; i++)
		put_bytes_field(e, TAG_ARG, a->args[i]);
	for (i = 0; i < a->n_inputs; i++) {
		size_t nlen = strlen(a->inputs[i].name);

		put_field_header(e, TAG_INPUT, 8 + (uint64_t)nlen +
				ARCA_DIGEST_SIZE);
		put_string(e, a->inputs[i].name, nlen);
		put(e, a->inputs[i].digest.bytes, ARCA_DIGEST_SIZE);
	}
	for (i = 0; i < a->n_params; i++) {
		size_t nlen = strlen(a->params[i].name);
		size_t vlen = strlen(a->params[i].value);

		put_field_header(e, TAG_PARAM, 16 + (uint64_t)nlen + vlen);
		put_string(e, a->params[i].name, nlen);
		put_string(e, a->params[i].value, vlen);
	}
	for (i = 0; i < a->n_secrets; i++) {
		size_t nlen = strlen(a->secrets[i].name);

		put_field_header(e, TAG_SECRET, 8 + (uint64_t)nlen +
				ARCA_DIGEST_SIZE);
		put_string(e, a->secrets[i].name, nlen);
		put(e, a->secrets[i].value_digest.bytes, ARCA_DIGEST_SIZE);
	}
	for (i = 0; i < a->n_env; i++) {
		const char *value = a->env[i].value;
		size_t nlen = strlen(a->env[i].name);
		size_t vlen = value ? strlen(value) : 0;

		put_field_header(e, TAG_ENV, 8 + (uint64_t)nlen + 1 +
				(value ? 8 + (uint64_t)vlen : 0));
		put_string(e, a->env[i].name, nlen);
		put_u8(e, value ? 0x01 : 0x00);
		if (value != NULL)
			put_string(e, value, vlen);
	}
	for (i = 0; i < a->n_outputs; i++)
		put_bytes_field(e, TAG_OUTPUT, a->outputs[i]);
	if (a->tool_kind == ARCA_TOOL_DIGEST) {
		put_field_header(e, TAG_TOOL, 1 + ARCA_DIGEST_SIZE);
		put_u8(e, TOOL_BYTE_DIGEST);
		put(e, a->tool_digest.bytes, ARCA_DIGEST_SIZE);
	} else if (a->tool_kind == ARCA_TOOL_VERSION) {
		size_t vlen = strlen(a->tool_version);

		put_field_header(e, TAG_TOOL, 1 + (uint64_t)vlen);
		put_u8(e, TOOL_BYTE_VERSION);
		put(e, a->tool_version, vlen);
	}
}

int arca_action_encode(arca_buf *out, const arca_action *action)
{
	encoder e = { NULL, 0, 0 };
	size_t size;

	if (out == NULL || action == NULL)
		return arca__error(ARCA_EINVAL, "arca_action_encode: NULL argument");
	out->data = NULL;
	out->size = 0;
	encode_action(&e, action);
	if (e.overflow || e.size == SIZE_MAX)
		return arca__error(ARCA_ENOMEM,
				"encoding of action '%s' is too large", action->stage);
	size = e.size;
	e.data = malloc(size + 1);
	if (e.data == NULL)
		return arca__error(ARCA_ENOMEM,
				"out of memory encoding action '%s'", action->stage);
	e.size = 0;
	encode_action(&e, action);
	e.data[size] = '\0';
	out->data = e.data;
	out->size = size;
	return 0;
}

int arca_action_key(arca_digest *out, const arca_action *action)
{
	arca_buf enc = ARCA_BUF_INIT;
	int error;

	if (out == NULL || action == NULL)
		return arca__error(ARCA_EINVAL, "arca_action_key: NULL argument");
	if ((error = arca_action_encode(&enc, action)) < 0)
		goto cleanup;
	error = arca_digest_buffer(out, enc.data, enc.size);
cleanup:
	if (enc.data != NULL)
		OPENSSL_cleanse(enc.data, enc.size);
	arca_buf_free(&enc);
	return error;
}
