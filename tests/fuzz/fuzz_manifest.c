/*
 * libFuzzer harness for the manifest parser (arca_manifest_from_json,
 * compiled with every source file of libarca; only the public header is
 * included here): parse any bytes; on success serialise the manifest
 * (arca_manifest_to_json), parse that again and serialise it again: the
 * two texts must be equal bytes (docs/manifest.md: equal manifests give
 * equal bytes, and what arca writes it reads back). Besides what ASan and
 * UBSan catch, it aborts when a result breaks the parser's promises: a
 * failure that gives a manifest or no one-line message, a manifest it
 * accepted that it cannot write or read back.
 *
 * Built and run by tests/fuzz/test_fuzz_manifest.sh (fuzz_run.sh).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arca/arca.h"

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_manifest: broken promise: %s\n", what);
		abort();
	}
}

static void check_errmsg(void)
{
	const char *err = arca_errmsg();

	check(err[0] != '\0', "empty error message");
	check(strchr(err, '\n') == NULL, "error is not one line");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	arca_manifest *m = NULL, *again = NULL;
	arca_buf first = ARCA_BUF_INIT, second = ARCA_BUF_INIT;
	int rc;

	rc = arca_manifest_from_json(&m, (const char *)data, size);
	if (rc != 0) {
		check(rc < 0, "positive return code");
		check(m == NULL, "parse failed but gave a manifest");
		check_errmsg();
		return 0;
	}
	check(m != NULL, "parse gave no manifest");
	rc = arca_manifest_to_json(&first, m);
	if (rc == ARCA_ENOMEM)
		goto cleanup;
	check(rc == 0, "a parsed manifest cannot be written back");
	rc = arca_manifest_from_json(&again, (const char *)first.data,
			first.size);
	if (rc == ARCA_ENOMEM)
		goto cleanup;
	check(rc == 0, "the JSON written for a parsed manifest does not parse");
	rc = arca_manifest_to_json(&second, again);
	if (rc == ARCA_ENOMEM)
		goto cleanup;
	check(rc == 0, "a re-parsed manifest cannot be written back");
	check(first.size == second.size &&
			memcmp(first.data, second.data, first.size) == 0,
			"round trip gives different bytes");
	check(memcmp(&m->key, &again->key, sizeof(m->key)) == 0 &&
			m->n_outputs == again->n_outputs &&
			m->exit_status == again->exit_status,
			"round trip gives a different manifest");
cleanup:
	arca_buf_free(&first);
	arca_buf_free(&second);
	arca_manifest_free(again);
	arca_manifest_free(m);
	return 0;
}
