/*
 * The action under construction, shared by action.c (which builds and
 * encodes it) and manifest.c (which copies it into a manifest). Not
 * installed; see docs/action-key.md for the encoding.
 */
#ifndef ARCA_ACTION_H
#define ARCA_ACTION_H

#include "internal.h"

/* Version of the canonical encoding written by arca_action_encode(). */
#define ARCA_ACTION_ENCODING_VERSION 1

typedef struct arca__action_input {
	char *name;
	arca_digest digest;
} arca__action_input;

/* A plain parameter, or an environment variable (value NULL: unset). */
typedef struct arca__action_kv {
	char *name;
	char *value;
} arca__action_kv;

/* A secret parameter: its name and SHA-256(value); the value is not kept. */
typedef struct arca__action_secret {
	char *name;
	arca_digest value_digest;
} arca__action_secret;

/*
 * The arrays of inputs, params, secrets, env and outputs are kept sorted
 * by name (bytewise, a shorter prefix first), which is the order of the
 * canonical encoding; args keep the order in which they were added.
 */
struct arca_action {
	char *stage;

	char **args;
	size_t n_args, cap_args;

	arca__action_input *inputs;
	size_t n_inputs, cap_inputs;

	arca__action_kv *params;
	size_t n_params, cap_params;

	arca__action_secret *secrets;
	size_t n_secrets, cap_secrets;

	arca__action_kv *env;
	size_t n_env, cap_env;

	char **outputs;
	size_t n_outputs, cap_outputs;

	arca_tool_kind tool_kind;
	arca_digest tool_digest;   /* ARCA_TOOL_DIGEST */
	char *tool_version;        /* ARCA_TOOL_VERSION */
};

/*
 * Whether path is acceptable as a declared output: non-empty, relative
 * (no leading '/') and without a ".." component, so that restoring it
 * cannot write outside the working directory.
 */
int arca__output_path_valid(const char *path);

/*
 * Whether the len bytes at s are well-formed UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF). Manifests are JSON, which
 * can only carry Unicode text, so the strings of an action must be UTF-8.
 */
int arca__utf8_valid(const char *s, size_t len);

#endif /* ARCA_ACTION_H */
