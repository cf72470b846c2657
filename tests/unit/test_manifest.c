/*
 * Manifests: from an action, to and from JSON (docs/manifest.md), and the
 * strict parser's refusals.
 */
#include "fixture.h"
#include "alloc_torture.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#define HEX_AB "abababababababababababababababababababababababababababababababab"
#define HEX_11 "1111111111111111111111111111111111111111111111111111111111111111"
#define HEX_22 "2222222222222222222222222222222222222222222222222222222222222222"
#define HEX_33 "3333333333333333333333333333333333333333333333333333333333333333"
#define HEX_44 "4444444444444444444444444444444444444444444444444444444444444444"

/* The manifest of sample_manifest(), written out by hand from the schema
 * in docs/manifest.md: the keys in their fixed order, compact. */
static const char sample_json[] =
	"{\"version\":1,"
	"\"key\":\"" HEX_AB "\","
	"\"stage\":\"transcode\","
	"\"argv\":[\"ffmpeg\",\"-i\",\"in.wav\",\"out.flac\"],"
	"\"inputs\":[{\"name\":\"in.wav\",\"digest\":\"" HEX_11 "\"}],"
	"\"params\":[{\"name\":\"rate\",\"value\":\"16000\"}],"
	"\"secret_params\":[\"token\"],"
	"\"env\":[{\"name\":\"LANG\",\"value\":\"C.UTF-8\"},"
		"{\"name\":\"TZ\",\"value\":null}],"
	"\"tool\":\"version:ffmpeg 6.0\","
	"\"outputs\":[{\"path\":\"out.flac\",\"digest\":\"" HEX_22 "\","
		"\"size\":1234,\"mode\":420}],"
	"\"exit_status\":0,"
	"\"stdout\":{\"digest\":\"" HEX_33 "\",\"size\":5},"
	"\"stderr\":{\"digest\":\"" HEX_44 "\",\"size\":0},"
	"\"duration_ms\":1500,"
	"\"created\":1700000000}";

static void set_digest(arca_digest *d, unsigned char byte)
{
	memset(d->bytes, byte, sizeof(d->bytes));
}

static arca_manifest *sample_manifest(void)
{
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	arca_digest d;

	assert_int_equal(arca_action_new(&a, "transcode"), 0);
	assert_int_equal(arca_action_add_arg(a, "ffmpeg"), 0);
	assert_int_equal(arca_action_add_arg(a, "-i"), 0);
	assert_int_equal(arca_action_add_arg(a, "in.wav"), 0);
	assert_int_equal(arca_action_add_arg(a, "out.flac"), 0);
	set_digest(&d, 0x11);
	assert_int_equal(arca_action_add_input(a, "in.wav", &d), 0);
	assert_int_equal(arca_action_add_param(a, "rate", "16000"), 0);
	assert_int_equal(arca_action_add_secret_param(a, "token", "xyz"), 0);
	assert_int_equal(arca_action_add_env(a, "TZ", NULL), 0);
	assert_int_equal(arca_action_add_env(a, "LANG", "C.UTF-8"), 0);
	assert_int_equal(arca_action_add_output(a, "out.flac"), 0);
	assert_int_equal(arca_action_set_tool(a, ARCA_TOOL_VERSION,
			"ffmpeg 6.0"), 0);
	assert_int_equal(arca_manifest_from_action(&m, a), 0);
	arca_action_free(a);

	set_digest(&m->key, 0xab);
	set_digest(&d, 0x22);
	assert_int_equal(arca_manifest_add_output(m, "out.flac", &d, 1234,
			0644), 0);
	m->exit_status = 0;
	set_digest(&m->stdout_digest, 0x33);
	m->stdout_size = 5;
	set_digest(&m->stderr_digest, 0x44);
	m->stderr_size = 0;
	m->duration_ms = 1500;
	m->created = 1700000000;
	return m;
}

static void assert_str_or_null_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_digest_equal(const arca_digest *a, const arca_digest *b)
{
	assert_memory_equal(a->bytes, b->bytes, ARCA_DIGEST_SIZE);
}

static void assert_manifest_equal(const arca_manifest *a,
		const arca_manifest *b)
{
	size_t i;

	assert_int_equal(a->version, b->version);
	assert_digest_equal(&a->key, &b->key);
	assert_string_equal(a->stage, b->stage);
	assert_int_equal(a->argc, b->argc);
	for (i = 0; i < a->argc; i++)
		assert_string_equal(a->argv[i], b->argv[i]);
	assert_int_equal(a->n_inputs, b->n_inputs);
	for (i = 0; i < a->n_inputs; i++) {
		assert_string_equal(a->inputs[i].name, b->inputs[i].name);
		assert_digest_equal(&a->inputs[i].digest, &b->inputs[i].digest);
	}
	assert_int_equal(a->n_params, b->n_params);
	for (i = 0; i < a->n_params; i++) {
		assert_string_equal(a->params[i].name, b->params[i].name);
		assert_string_equal(a->params[i].value, b->params[i].value);
	}
	assert_int_equal(a->n_secret_params, b->n_secret_params);
	for (i = 0; i < a->n_secret_params; i++)
		assert_string_equal(a->secret_params[i], b->secret_params[i]);
	assert_int_equal(a->n_env, b->n_env);
	for (i = 0; i < a->n_env; i++) {
		assert_string_equal(a->env[i].name, b->env[i].name);
		assert_str_or_null_equal(a->env[i].value, b->env[i].value);
	}
	assert_str_or_null_equal(a->tool, b->tool);
	assert_int_equal(a->n_outputs, b->n_outputs);
	for (i = 0; i < a->n_outputs; i++) {
		assert_string_equal(a->outputs[i].path, b->outputs[i].path);
		assert_digest_equal(&a->outputs[i].digest, &b->outputs[i].digest);
		assert_true(a->outputs[i].size == b->outputs[i].size);
		assert_int_equal(a->outputs[i].mode, b->outputs[i].mode);
	}
	assert_int_equal(a->exit_status, b->exit_status);
	assert_digest_equal(&a->stdout_digest, &b->stdout_digest);
	assert_true(a->stdout_size == b->stdout_size);
	assert_digest_equal(&a->stderr_digest, &b->stderr_digest);
	assert_true(a->stderr_size == b->stderr_size);
	assert_true(a->duration_ms == b->duration_ms);
	assert_true(a->created == b->created);
}

static void test_manifest__from_action(void **state)
{
	static const char tool_hex[] =
		"D51C7AE4D58DB33DFB677A2307746784254A03D2C3B9DC16F87E3B321F786CB4";
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	arca_digest d1, d2, key;
	time_t before, after;

	(void)state;
	set_digest(&d1, 0x01);
	set_digest(&d2, 0x02);
	assert_int_equal(arca_action_new(&a, "diarize"), 0);
	assert_int_equal(arca_action_add_arg(a, "pyannote"), 0);
	assert_int_equal(arca_action_add_arg(a, ""), 0);
	assert_int_equal(arca_action_add_arg(a, "--min"), 0);
	assert_int_equal(arca_action_add_input(a, "b.wav", &d2), 0);
	assert_int_equal(arca_action_add_input(a, "a.wav", &d1), 0);
	assert_int_equal(arca_action_add_param(a, "speakers", "2"), 0);
	assert_int_equal(arca_action_add_param(a, "model", "3.1"), 0);
	assert_int_equal(arca_action_add_secret_param(a, "hf_token", "hf_x"), 0);
	assert_int_equal(arca_action_add_secret_param(a, "aws_key", "AK"), 0);
	assert_int_equal(arca_action_add_env(a, "OMP_NUM_THREADS", "4"), 0);
	assert_int_equal(arca_action_add_env(a, "CUDA_VISIBLE_DEVICES", NULL), 0);
	assert_int_equal(arca_action_add_output(a, "speakers.rttm"), 0);
	assert_int_equal(arca_action_set_tool(a, ARCA_TOOL_DIGEST, tool_hex), 0);

	before = time(NULL);
	assert_int_equal(arca_manifest_from_action(&m, a), 0);
	after = time(NULL);

	assert_int_equal(m->version, ARCA_MANIFEST_VERSION);
	assert_int_equal(arca_action_key(&key, a), 0);
	assert_digest_equal(&m->key, &key);
	assert_string_equal(m->stage, "diarize");
	assert_int_equal(m->argc, 3);
	assert_string_equal(m->argv[0], "pyannote");
	assert_string_equal(m->argv[1], "");
	assert_string_equal(m->argv[2], "--min");
	/* Named entries come in the canonical (sorted) order. */
	assert_int_equal(m->n_inputs, 2);
	assert_string_equal(m->inputs[0].name, "a.wav");
	assert_digest_equal(&m->inputs[0].digest, &d1);
	assert_string_equal(m->inputs[1].name, "b.wav");
	assert_digest_equal(&m->inputs[1].digest, &d2);
	assert_int_equal(m->n_params, 2);
	assert_string_equal(m->params[0].name, "model");
	assert_string_equal(m->params[0].value, "3.1");
	assert_string_equal(m->params[1].name, "speakers");
	assert_string_equal(m->params[1].value, "2");
	assert_int_equal(m->n_secret_params, 2);
	assert_string_equal(m->secret_params[0], "aws_key");
	assert_string_equal(m->secret_params[1], "hf_token");
	assert_int_equal(m->n_env, 2);
	assert_string_equal(m->env[0].name, "CUDA_VISIBLE_DEVICES");
	assert_null(m->env[0].value);
	assert_string_equal(m->env[1].name, "OMP_NUM_THREADS");
	assert_string_equal(m->env[1].value, "4");
	/* The tool digest is written in lowercase whatever case it came in. */
	assert_string_equal(m->tool, "digest:d51c7ae4d58db33dfb677a2307746784"
			"254a03d2c3b9dc16f87e3b321f786cb4");
	/* Outputs are recorded once they exist, not copied from the action. */
	assert_int_equal(m->n_outputs, 0);
	assert_null(m->outputs);
	assert_int_equal(m->exit_status, 0);
	assert_true(m->created >= (int64_t)before && m->created <= (int64_t)after);
	arca_manifest_free(m);
	arca_action_free(a);

	/* No tool: NULL. An action with nothing but a stage. */
	assert_int_equal(arca_action_new(&a, "bare"), 0);
	assert_int_equal(arca_manifest_from_action(&m, a), 0);
	assert_null(m->tool);
	assert_int_equal(m->argc, 0);
	assert_int_equal(m->n_inputs + m->n_params + m->n_secret_params +
			m->n_env, 0);
	arca_manifest_free(m);
	arca_action_free(a);
	arca_manifest_free(NULL);
}

static void test_manifest__json_shape(void **state)
{
	arca_manifest *m = sample_manifest();
	arca_buf json = ARCA_BUF_INIT;

	(void)state;
	assert_int_equal(arca_manifest_to_json(&json, m), 0);
	assert_int_equal(json.size, strlen(sample_json));
	assert_string_equal((const char *)json.data, sample_json);
	arca_buf_free(&json);
	arca_manifest_free(m);
}

static void test_manifest__round_trip(void **state)
{
	arca_manifest *m = sample_manifest(), *parsed = NULL;
	arca_buf json1 = ARCA_BUF_INIT, json2 = ARCA_BUF_INIT,
		json3 = ARCA_BUF_INIT;
	arca_digest d;

	(void)state;
	/* Make every field interesting: JSON escapes, non-ASCII, extremes. */
	free(m->argv[1]);
	m->argv[1] = strdup("quote \" backslash \\ nl \n tab \t ctl \x01 / end");
	assert_non_null(m->argv[1]);
	free(m->params[0].value);
	m->params[0].value = strdup("");
	assert_non_null(m->params[0].value);
	free(m->env[0].value);
	m->env[0].value = strdup("fr_FR.UTF-8 \xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80");
	assert_non_null(m->env[0].value);
	free(m->tool);
	m->tool = strdup("digest:" HEX_44);
	assert_non_null(m->tool);
	set_digest(&d, 0xfe);
	assert_int_equal(arca_manifest_add_output(m, "sous-dossier/r\xc3\xa9sum\xc3\xa9.txt",
			&d, (uint64_t)INT64_MAX, 04755), 0);
	set_digest(&d, 0x00);
	assert_int_equal(arca_manifest_add_output(m, "empty", &d, 0, 0), 0);
	m->exit_status = -2;
	m->stdout_size = 1ULL << 40;
	m->stderr_size = 3;
	m->duration_ms = 0;
	m->created = -1;

	assert_int_equal(arca_manifest_to_json(&json1, m), 0);
	assert_int_equal(arca_manifest_to_json(&json2, m), 0);
	assert_int_equal(json1.size, json2.size);
	assert_memory_equal(json1.data, json2.data, json1.size);

	assert_int_equal(arca_manifest_from_json(&parsed,
			(const char *)json1.data, json1.size), 0);
	assert_manifest_equal(m, parsed);
	assert_int_equal(parsed->n_outputs, 3);
	assert_true(parsed->outputs[1].size == (uint64_t)INT64_MAX);
	assert_int_equal(parsed->outputs[1].mode, 04755);

	/* And back: the same bytes. */
	assert_int_equal(arca_manifest_to_json(&json3, parsed), 0);
	assert_int_equal(json1.size, json3.size);
	assert_memory_equal(json1.data, json3.data, json1.size);

	arca_buf_free(&json1);
	arca_buf_free(&json2);
	arca_buf_free(&json3);
	arca_manifest_free(parsed);
	arca_manifest_free(m);
}

/* The hand-written sample parses to the sample manifest. */
static void test_manifest__parses_sample(void **state)
{
	arca_manifest *m = sample_manifest(), *parsed = NULL;
	/* Whitespace and another key order are fine on input. */
	static const char reordered[] =
		"{ \"created\": 1700000000, \"duration_ms\": 1500,\n"
		"  \"stderr\": {\"size\": 0, \"digest\": \"" HEX_44 "\"},\n"
		"  \"stdout\": {\"size\": 5, \"digest\": \"" HEX_33 "\"},\n"
		"  \"exit_status\": 0,\n"
		"  \"outputs\": [{\"mode\": 420, \"size\": 1234,\n"
		"     \"digest\": \"" HEX_22 "\", \"path\": \"out.flac\"}],\n"
		"  \"tool\": \"version:ffmpeg 6.0\",\n"
		"  \"env\": [{\"value\": \"C.UTF-8\", \"name\": \"LANG\"},\n"
		"           {\"value\": null, \"name\": \"TZ\"}],\n"
		"  \"secret_params\": [\"token\"],\n"
		"  \"params\": [{\"value\": \"16000\", \"name\": \"rate\"}],\n"
		"  \"inputs\": [{\"digest\": \"" HEX_11 "\", \"name\": \"in.wav\"}],\n"
		"  \"argv\": [\"ffmpeg\", \"-i\", \"in.wav\", \"out.flac\"],\n"
		"  \"stage\": \"transcode\", \"key\": \"" HEX_AB "\",\n"
		"  \"version\": 1 }\n";

	(void)state;
	assert_int_equal(arca_manifest_from_json(&parsed, sample_json,
			strlen(sample_json)), 0);
	assert_manifest_equal(m, parsed);
	arca_manifest_free(parsed);
	parsed = NULL;

	assert_int_equal(arca_manifest_from_json(&parsed, reordered,
			strlen(reordered)), 0);
	assert_manifest_equal(m, parsed);
	arca_manifest_free(parsed);
	arca_manifest_free(m);
}

/* sample_json with the first occurrence of from replaced by to. */
static char *sample_with(const char *from, const char *to)
{
	const char *at = strstr(sample_json, from);
	size_t head, from_len = strlen(from), to_len = strlen(to);
	char *s;

	if (at == NULL)
		fail_msg("'%s' is not in the sample", from);
	head = (size_t)(at - sample_json);
	s = malloc(sizeof(sample_json) - from_len + to_len);
	assert_non_null(s);
	memcpy(s, sample_json, head);
	memcpy(s + head, to, to_len);
	strcpy(s + head + to_len, at + from_len);
	return s;
}

/* Parsing json fails with ARCA_EINVAL and a message holding each of the
 * NULL-terminated strings that follow. */
static void assert_rejected(const char *json, size_t len, ...)
{
	arca_manifest *m = (arca_manifest *)&m; /* not NULL: must be reset */
	const char *want;
	va_list ap;

	assert_int_equal(arca_manifest_from_json(&m, json, len), ARCA_EINVAL);
	assert_null(m);
	va_start(ap, len);
	while ((want = va_arg(ap, const char *)) != NULL) {
		if (strstr(arca_errmsg(), want) == NULL)
			fail_msg("message '%s' lacks '%s'", arca_errmsg(), want);
	}
	va_end(ap);
}

static void assert_variant_rejected(const char *from, const char *to,
		const char *field)
{
	char *json = sample_with(from, to);

	print_message("%s -> %s\n", from, to);
	assert_rejected(json, strlen(json), field, NULL);
	free(json);
}

/* Found by tests/fuzz/fuzz_manifest.c: jansson's "near '...'" and an
 * unknown member's name can hold control characters (a raw newline). */
static void test_manifest__error_is_one_line(void **state)
{
	static const char raw_newline[] =
		"{\"version\":1,\"key\":\"d7\",\"stage\":\"a\\\n\n\nb\"}";
	char *member = sample_with("{\"version\":1,",
			"{\"a\\nb\":1,\"version\":1,");

	(void)state;
	assert_rejected(raw_newline, strlen(raw_newline), "invalid JSON", NULL);
	assert_null(strchr(arca_errmsg(), '\n'));
	assert_rejected(member, strlen(member), "'a?b': unknown field", NULL);
	assert_null(strchr(arca_errmsg(), '\n'));
	free(member);
}

static void test_manifest__rejects_not_json(void **state)
{
	static const char truncated[] = "{\"version\":1,\"key\":";
	char *trailing;

	(void)state;
	assert_rejected(truncated, strlen(truncated), "invalid JSON",
			"line 1", "column", NULL);
	assert_rejected("", 0, "invalid JSON", NULL);
	assert_rejected(NULL, 0, "invalid JSON", NULL);
	assert_rejected("{\"version\":1,\n\"key\" 1}", 22, "line 2", NULL);
	/* A length that cuts the text short is the end of the text. */
	assert_rejected(sample_json, sizeof(sample_json) - 2, "invalid JSON",
			NULL);
	trailing = sample_with("\"created\":1700000000}",
			"\"created\":1700000000} {}");
	assert_rejected(trailing, strlen(trailing), "invalid JSON", NULL);
	free(trailing);
	/* Valid JSON, but not an object. */
	assert_rejected("[]", 2, "expected an object", NULL);
	assert_rejected("1", 1, "invalid JSON", NULL);
	/* Duplicate keys are ambiguous. */
	assert_variant_rejected("\"stage\":\"transcode\",",
			"\"stage\":\"transcode\",\"stage\":\"x\",", "duplicate");
	/* Invalid UTF-8 and NUL inside a string. */
	assert_variant_rejected("\"transcode\"", "\"trans\xff\"", "invalid JSON");
	assert_variant_rejected("\"transcode\"", "\"trans\\u0000\"",
			"invalid JSON");
	/* An integer beyond JSON's 64-bit range. */
	assert_variant_rejected("\"size\":1234", "\"size\":99999999999999999999",
			"invalid JSON");
}

static void test_manifest__rejects_missing_key(void **state)
{
	(void)state;
	assert_variant_rejected("\"key\":\"" HEX_AB "\",", "", "'key': missing");
	assert_variant_rejected("{\"version\":1,", "{", "'version': missing");
	assert_variant_rejected(",\"created\":1700000000", "",
			"'created': missing");
	assert_variant_rejected("\"tool\":\"version:ffmpeg 6.0\",", "",
			"'tool': missing");
	assert_variant_rejected(",\"mode\":420", "", "'outputs[0].mode': missing");
	assert_variant_rejected("{\"name\":\"TZ\",\"value\":null}",
			"{\"name\":\"TZ\"}", "'env[1].value': missing");
	assert_variant_rejected("\"size\":5", "\"bytes\":5", "'stdout.size'");
	/* Unknown fields are refused too: this reader would drop them. */
	assert_variant_rejected("\"exit_status\":0,",
			"\"exit_status\":0,\"signal\":9,", "'signal': unknown field");
	assert_variant_rejected(",\"mode\":420", ",\"mode\":420,\"uid\":0",
			"'outputs[0].uid': unknown field");
}

static void test_manifest__rejects_wrong_type(void **state)
{
	(void)state;
	assert_variant_rejected("\"stage\":\"transcode\"", "\"stage\":5",
			"'stage': expected a string");
	assert_variant_rejected("\"stage\":\"transcode\"", "\"stage\":\"\"",
			"'stage': must not be empty");
	assert_variant_rejected("\"stage\":\"transcode\"", "\"stage\":null",
			"'stage'");
	assert_variant_rejected(
			"[\"ffmpeg\",\"-i\",\"in.wav\",\"out.flac\"]",
			"\"ffmpeg -i in.wav out.flac\"", "'argv': expected an array");
	assert_variant_rejected("[\"ffmpeg\",", "[7,", "'argv[0]'");
	assert_variant_rejected("\"value\":\"16000\"", "\"value\":16000",
			"'params[0].value': expected a string");
	assert_variant_rejected("[\"token\"]", "[null]", "'secret_params[0]'");
	assert_variant_rejected("\"value\":null", "\"value\":false",
			"'env[1].value': expected a string or null");
	assert_variant_rejected("\"tool\":\"version:ffmpeg 6.0\"", "\"tool\":3",
			"'tool'");
	assert_variant_rejected("\"tool\":\"version:ffmpeg 6.0\"",
			"\"tool\":\"ffmpeg 6.0\"", "'tool'");
	assert_variant_rejected("\"size\":1234", "\"size\":\"1234\"",
			"'outputs[0].size': expected an integer");
	assert_variant_rejected("\"size\":1234", "\"size\":1234.0",
			"'outputs[0].size': expected an integer");
	assert_variant_rejected("\"exit_status\":0", "\"exit_status\":true",
			"'exit_status'");
	assert_variant_rejected("\"exit_status\":0",
			"\"exit_status\":2147483648", "'exit_status'");
	assert_variant_rejected("\"mode\":420", "\"mode\":4096",
			"'outputs[0].mode'");
	assert_variant_rejected("\"stdout\":{\"digest\":\"" HEX_33 "\",\"size\":5}",
			"\"stdout\":[\"" HEX_33 "\",5]", "'stdout': expected an object");
	assert_variant_rejected("\"version\":1", "\"version\":\"1\"",
			"'version': expected an integer");
	assert_variant_rejected(
			"{\"name\":\"in.wav\",\"digest\":\"" HEX_11 "\"}",
			"\"in.wav\"", "'inputs[0]': expected an object");
	assert_variant_rejected("{\"name\":\"in.wav\"", "{\"name\":\"\"",
			"'inputs[0].name': must not be empty");
	/* Output paths that would escape the working directory on restore. */
	assert_variant_rejected("\"path\":\"out.flac\"",
			"\"path\":\"../../.bashrc\"", "'outputs[0].path'");
	assert_variant_rejected("\"path\":\"out.flac\"",
			"\"path\":\"/etc/passwd\"", "'outputs[0].path'");
	assert_variant_rejected("\"path\":\"out.flac\"", "\"path\":\"\"",
			"'outputs[0].path'");
	assert_variant_rejected("\"mode\":420}]",
			"\"mode\":420},{\"path\":\"out.flac\",\"digest\":\"" HEX_22 "\","
			"\"size\":1,\"mode\":420}]", "'outputs[1].path': duplicate");
}

static void test_manifest__rejects_bad_digest(void **state)
{
	(void)state;
	/* 63 and 65 characters. */
	assert_variant_rejected("b\",\"stage\"", "\",\"stage\"",
			"'key': expected 64 lowercase hex");
	assert_variant_rejected("\",\"stage\"", "a\",\"stage\"",
			"'key': expected 64 lowercase hex");
	/* Uppercase is valid hex but not the canonical form. */
	assert_variant_rejected("\"key\":\"ab", "\"key\":\"AB", "'key'");
	assert_variant_rejected("\"key\":\"ab", "\"key\":\"gb", "'key'");
	assert_variant_rejected("\"key\":\"" HEX_AB "\"", "\"key\":1", "'key'");
	assert_variant_rejected("\"digest\":\"11", "\"digest\":\"1g",
			"'inputs[0].digest'");
	assert_variant_rejected("22\",\"size\":1234", "2\",\"size\":1234",
			"'outputs[0].digest'");
	assert_variant_rejected("\"digest\":\"" HEX_33 "\"", "\"digest\":\"\"",
			"'stdout.digest'");
	assert_variant_rejected("\"digest\":\"" HEX_44 "\"",
			"\"digest\":null", "'stderr.digest'");
	assert_variant_rejected("\"tool\":\"version:ffmpeg 6.0\"",
			"\"tool\":\"digest:" HEX_AB "0\"", "'tool'");
	assert_variant_rejected("\"tool\":\"version:ffmpeg 6.0\"",
			"\"tool\":\"digest:AB" HEX_AB "\"", "'tool'");
}

static void test_manifest__rejects_negative_size(void **state)
{
	(void)state;
	assert_variant_rejected("\"size\":1234", "\"size\":-1",
			"'outputs[0].size'");
	assert_variant_rejected("\"size\":5", "\"size\":-5", "'stdout.size'");
	assert_variant_rejected("\"size\":0", "\"size\":-9223372036854775808",
			"'stderr.size'");
	assert_variant_rejected("\"duration_ms\":1500", "\"duration_ms\":-1",
			"'duration_ms'");
	assert_variant_rejected("\"mode\":420", "\"mode\":-420",
			"'outputs[0].mode'");
}

static void test_manifest__rejects_version_2(void **state)
{
	(void)state;
	assert_variant_rejected("\"version\":1", "\"version\":2",
			"unsupported version 2");
	assert_variant_rejected("\"version\":1", "\"version\":0",
			"unsupported version 0");
	assert_variant_rejected("\"version\":1", "\"version\":1.0",
			"'version': expected an integer");
	/* A later version may add fields: the version is what is reported. */
	assert_variant_rejected("{\"version\":1,",
			"{\"version\":2,\"new_field\":true,", "unsupported version 2");
}

static void test_manifest__to_json_rejects(void **state)
{
	arca_manifest *m = sample_manifest();
	arca_buf json = ARCA_BUF_INIT;
	char *saved;

	(void)state;
	m->version = 2;
	assert_int_equal(arca_manifest_to_json(&json, m), ARCA_EINVAL);
	assert_null(json.data);
	m->version = ARCA_MANIFEST_VERSION;

	saved = m->stage;
	m->stage = NULL;
	assert_int_equal(arca_manifest_to_json(&json, m), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "'stage'"));
	m->stage = saved;

	saved = m->argv[2];
	m->argv[2] = NULL;
	assert_int_equal(arca_manifest_to_json(&json, m), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "'argv[2]'"));
	m->argv[2] = "in\xff.wav";
	assert_int_equal(arca_manifest_to_json(&json, m), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "UTF-8"));
	m->argv[2] = saved;

	m->outputs[0].size = (uint64_t)INT64_MAX + 1;
	assert_int_equal(arca_manifest_to_json(&json, m), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "'outputs[0].size'"));
	m->outputs[0].size = 1234;

	m->outputs[0].mode = 010000;
	assert_int_equal(arca_manifest_to_json(&json, m), ARCA_EINVAL);
	m->outputs[0].mode = 0644;

	saved = m->tool;
	m->tool = "sha1:abc";
	assert_int_equal(arca_manifest_to_json(&json, m), ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "'tool'"));
	m->tool = "digest:" HEX_AB "0";
	assert_int_equal(arca_manifest_to_json(&json, m), ARCA_EINVAL);
	m->tool = saved;

	/* Everything restored: accepted again. */
	assert_int_equal(arca_manifest_to_json(&json, m), 0);
	assert_string_equal((const char *)json.data, sample_json);
	arca_buf_free(&json);
	arca_manifest_free(m);
}

static void test_manifest__add_output(void **state)
{
	arca_manifest *m = sample_manifest();
	arca_digest d;

	(void)state;
	set_digest(&d, 0x77);
	assert_int_equal(arca_manifest_add_output(m, "out.flac", &d, 1, 0644),
			ARCA_EINVAL);
	assert_non_null(strstr(arca_errmsg(), "out.flac"));
	assert_int_equal(arca_manifest_add_output(m, "../x", &d, 1, 0644),
			ARCA_EINVAL);
	assert_int_equal(arca_manifest_add_output(m, "/x", &d, 1, 0644),
			ARCA_EINVAL);
	assert_int_equal(arca_manifest_add_output(m, NULL, &d, 1, 0644),
			ARCA_EINVAL);
	assert_int_equal(arca_manifest_add_output(m, "x", NULL, 1, 0644),
			ARCA_EINVAL);
	assert_int_equal(arca_manifest_add_output(m, "x", &d, 1, 010000),
			ARCA_EINVAL);
	assert_int_equal(arca_manifest_add_output(m, "x", &d,
			(uint64_t)INT64_MAX + 1, 0644), ARCA_EINVAL);
	assert_int_equal(m->n_outputs, 1);

	assert_int_equal(arca_manifest_add_output(m, "logs/x.txt", &d, 9, 0600), 0);
	assert_int_equal(m->n_outputs, 2);
	assert_string_equal(m->outputs[1].path, "logs/x.txt");
	assert_digest_equal(&m->outputs[1].digest, &d);
	assert_true(m->outputs[1].size == 9);
	assert_int_equal(m->outputs[1].mode, 0600);
	arca_manifest_free(m);
}

/* ------------------------------------------------------------------ */
/* Allocation failures                                                  */
/* ------------------------------------------------------------------ */

/*
 * curl's torture mode: from the Nth allocation on, every allocation
 * fails, for N = 1, 2, ... until the operation succeeds. Each failed run
 * must report ARCA_ENOMEM (or ARCA_EIO where libcrypto hides the cause),
 * return nothing, and free everything it allocated. The allocator is
 * replaced through glibc's __libc_* entry points, so this runs on glibc
 * only and not under AddressSanitizer, which brings its own allocator.
 */
#ifdef ALLOC_TORTURE
#define HAVE_TORTURE 1
#define torture_arm alloc_torture_arm
#define torture_disarm alloc_torture_disarm
#define torture_live alloc_torture_live()
#define torture_hit alloc_torture_hit()

/* Build (and free) an action with every kind of field. */
static int torture_build_action(arca_action **out)
{
	arca_action *a = NULL;
	arca_digest d;
	int error;

	set_digest(&d, 0x5c);
	*out = NULL;
	if ((error = arca_action_new(&a, "transcode")) < 0 ||
			(error = arca_action_add_arg(a, "ffmpeg")) < 0 ||
			(error = arca_action_add_arg(a, "")) < 0 ||
			(error = arca_action_add_input(a, "b.wav", &d)) < 0 ||
			(error = arca_action_add_input(a, "a.wav", &d)) < 0 ||
			(error = arca_action_add_param(a, "rate", "16000")) < 0 ||
			(error = arca_action_add_secret_param(a, "token", "x")) < 0 ||
			(error = arca_action_add_env(a, "LANG", "C")) < 0 ||
			(error = arca_action_add_env(a, "TZ", NULL)) < 0 ||
			(error = arca_action_add_output(a, "out.flac")) < 0 ||
			(error = arca_action_set_tool(a, ARCA_TOOL_VERSION, "6.0")) < 0)
		goto cleanup;
	*out = a;
	a = NULL;
cleanup:
	arca_action_free(a);
	return error;
}

static void assert_torture_result(int rc, long n, int eio_possible)
{
	if (rc == ARCA_ENOMEM || (eio_possible && rc == ARCA_EIO))
		return;
	fail_msg("allocation %ld failed: got %d (%s), expected ARCA_ENOMEM",
			n, rc, arca_errmsg());
}

static void test_manifest__out_of_memory(void **state)
{
	arca_action *a = NULL;
	arca_manifest *m = NULL, *parsed = NULL;
	arca_buf json = ARCA_BUF_INIT, enc = ARCA_BUF_INIT;
	arca_digest key;
	long n;
	int rc;

	(void)state;
	/* A first run outside the window lets libcrypto and jansson set up
	 * whatever they keep for the life of the process. */
	assert_int_equal(torture_build_action(&a), 0);
	assert_int_equal(arca_action_key(&key, a), 0);
	arca_action_free(a);
	m = sample_manifest();
	assert_int_equal(arca_manifest_to_json(&json, m), 0);
	arca_manifest_free(m);
	assert_int_equal(arca_manifest_from_json(&parsed,
			(const char *)json.data, json.size), 0);
	arca_manifest_free(parsed);
	parsed = NULL;

	for (n = 0; ; n++) {
		torture_arm(n);
		rc = torture_build_action(&a);
		if (rc == 0) {
			arca_action_free(a);
			a = NULL;
		}
		torture_disarm();
		assert_int_equal(torture_live, 0);
		if (!torture_hit) {
			assert_int_equal(rc, 0);
			break;
		}
		assert_torture_result(rc, n, 1);
		assert_null(a);
	}
	print_message("building an action: %ld allocations\n", n);

	assert_int_equal(torture_build_action(&a), 0);
	for (n = 0; ; n++) {
		torture_arm(n);
		rc = arca_action_encode(&enc, a);
		torture_disarm();
		if (!torture_hit) {
			assert_int_equal(rc, 0);
			arca_buf_free(&enc);
			break;
		}
		assert_torture_result(rc, n, 0);
		assert_null(enc.data);
		assert_int_equal(torture_live, 0);
	}
	for (n = 0; ; n++) {
		torture_arm(n);
		rc = arca_manifest_from_action(&m, a);
		torture_disarm();
		if (!torture_hit) {
			assert_int_equal(rc, 0);
			arca_manifest_free(m);
			m = NULL;
			break;
		}
		assert_torture_result(rc, n, 1);
		assert_null(m);
		assert_int_equal(torture_live, 0);
	}
	print_message("arca_manifest_from_action: %ld allocations\n", n);
	arca_action_free(a);

	m = sample_manifest();
	for (n = 0; ; n++) {
		torture_arm(n);
		rc = arca_manifest_to_json(&enc, m);
		torture_disarm();
		if (!torture_hit) {
			assert_int_equal(rc, 0);
			assert_string_equal((const char *)enc.data, sample_json);
			arca_buf_free(&enc);
			break;
		}
		assert_torture_result(rc, n, 0);
		assert_null(enc.data);
		assert_int_equal(torture_live, 0);
	}
	print_message("arca_manifest_to_json: %ld allocations\n", n);
	arca_manifest_free(m);

	for (n = 0; ; n++) {
		torture_arm(n);
		rc = arca_manifest_from_json(&parsed, (const char *)json.data,
				json.size);
		torture_disarm();
		if (!torture_hit) {
			assert_int_equal(rc, 0);
			arca_manifest_free(parsed);
			break;
		}
		/* jansson's lexer reports some failed allocations as a syntax
		 * error; past the lexer, running out is ARCA_ENOMEM. */
		if (rc != ARCA_EINVAL ||
				strstr(arca_errmsg(), "invalid JSON") == NULL)
			assert_torture_result(rc, n, 0);
		assert_null(parsed);
		assert_int_equal(torture_live, 0);
	}
	print_message("arca_manifest_from_json: %ld allocations\n", n);
	arca_buf_free(&json);
}
#endif /* HAVE_TORTURE */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manifest__from_action),
		cmocka_unit_test(test_manifest__json_shape),
		cmocka_unit_test(test_manifest__round_trip),
		cmocka_unit_test(test_manifest__parses_sample),
		cmocka_unit_test(test_manifest__rejects_not_json),
		cmocka_unit_test(test_manifest__error_is_one_line),
		cmocka_unit_test(test_manifest__rejects_missing_key),
		cmocka_unit_test(test_manifest__rejects_wrong_type),
		cmocka_unit_test(test_manifest__rejects_bad_digest),
		cmocka_unit_test(test_manifest__rejects_negative_size),
		cmocka_unit_test(test_manifest__rejects_version_2),
		cmocka_unit_test(test_manifest__to_json_rejects),
		cmocka_unit_test(test_manifest__add_output),
#ifdef HAVE_TORTURE
		cmocka_unit_test(test_manifest__out_of_memory),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
