/*
 * libFuzzer harness for the config.yaml reader (compiled with every
 * source file of libarca; only the public header is included here): the
 * input is written to DIR/config.yaml of a temp dir made once (under
 * TMPDIR), then arca_options_resolve(&o, DIR, NULL) reads it as a store
 * opening DIR would. It must return 0 with settings in their ranges, or a
 * negative ARCA_E* code with a one-line arca_errmsg(); ASan and UBSan
 * catch crashes, leaks and undefined behaviour. The ARCA_* variables that
 * override the file are unset first.
 *
 * Built and run by tests/fuzz/test_fuzz_config.sh (fuzz_run.sh).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arca/arca.h"

static char dir[4096];
static char path[4200];

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_config: broken promise: %s\n", what);
		abort();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	unsetenv("ARCA_MAX_SIZE");
	unsetenv("ARCA_INLINE_THRESHOLD");
	unsetenv("ARCA_LOCK_TIMEOUT");
	unsetenv("ARCA_TTL");
	snprintf(dir, sizeof(dir), "%s/arca-fuzz-config.XXXXXX",
			tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("fuzz_config: mkdtemp");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/config.yaml", dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	arca_options o = ARCA_OPTIONS_INIT;
	FILE *f = fopen(path, "wb");
	const char *err;
	int rc;

	check(f != NULL, "cannot write the config file");
	check(fwrite(data, 1, size, f) == size && fclose(f) == 0,
			"cannot write the config file");
	rc = arca_options_resolve(&o, dir, NULL);
	if (rc == 0) {
		check(o.low_watermark_pct >= 1 && o.low_watermark_pct <= 100,
				"low watermark out of range");
		check(o.inline_threshold <= ((uint64_t)64 << 20),
				"inline threshold above 64 MiB");
		check(o.lock_timeout_ms > 0 &&
				o.lock_timeout_ms <= 86400u * 1000u,
				"lock timeout out of range");
		return 0;
	}
	check(rc < 0, "positive return code");
	check(strcmp(arca_strerror(rc), "unknown error") != 0,
			"not an ARCA_E* code");
	err = arca_errmsg();
	check(err[0] != '\0', "empty error message");
	check(strchr(err, '\n') == NULL, "error is not one line");
	return 0;
}
