/*
 * The checker of the crash-state test: opens one crash state of a store
 * through the public API and checks what must hold after any power cut.
 *
 * Usage: crash_check STORE EXPECT
 *
 * EXPECT has one line per blob or action the writer stored (crash_writer.c
 * acknowledgement lines, each prefixed with its status at this cut):
 *   R ...  acknowledged, and the model says its index row is durable:
 *          it must be present and read back byte-exact
 *   A ...  acknowledged, index row not yet durable (SQLite at
 *          synchronous=NORMAL may lose the last commits): present and
 *          byte-exact, or absent
 *   U ...  not yet acknowledged at the cut: present and byte-exact, or
 *          absent
 *
 * Checks, in this order (verify first: reads quarantine what they find):
 *   1. arca_store_open succeeds;
 *   2. arca_store_verify finds nothing corrupt or missing;
 *   3. every action the index lists is a hit with the outputs written;
 *   4. every blob present reads back byte-exact; every R blob and R
 *      action is present;
 *   5. verify is still clean, and the store takes a new put.
 * Prints one summary line; each failure is a line starting "FAIL".
 * Exit 0 when all hold, 1 when one does not, 2 on bad usage.
 */
#include "arca/arca.h"
#include "content.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ACTIONS 64

static int failures;

static void fail(const char *fmt, const char *a, const char *b)
{
	printf("FAIL ");
	printf(fmt, a, b);
	printf("\n");
	failures++;
}

static void on_corrupt(const arca_digest *d, const char *where, void *ctx)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	(void)ctx;
	arca_digest_to_hex(hex, d);
	fail("verify: blob %s corrupt or missing (%s)", hex, where ? where : "");
}

struct listed {
	arca_digest keys[MAX_ACTIONS];
	size_t n;
};

static int on_action(const arca_action_info *info, void *ctx)
{
	struct listed *l = ctx;

	if (l->n < MAX_ACTIONS)
		l->keys[l->n++] = info->key;
	return 0;
}

static int verify(arca_store *s, const char *when)
{
	uint64_t checked = 0, corrupt = 0;
	int rc = arca_store_verify(&checked, &corrupt, s, on_corrupt, NULL);

	if (rc < 0)
		fail("verify (%s): %s", when, arca_errmsg());
	else if (corrupt > 0)
		fail("verify (%s): %s blob(s) corrupt or missing", when,
				corrupt == 1 ? "1" : "several");
	return (int)checked;
}

/* Is the blob there, byte-exact? 1 present, 0 absent; fails otherwise. */
static int check_blob(arca_store *s, const char *hex, uint64_t seed,
		size_t size)
{
	arca_buf got = ARCA_BUF_INIT;
	unsigned char *want;
	arca_digest d;
	uint64_t stat_size = 0;
	int rc, present = 0;

	if (arca_digest_from_hex(&d, hex) < 0) {
		fail("bad digest %s in EXPECT%s", hex, "");
		return 0;
	}
	rc = arca_blob_stat(&stat_size, s, &d);
	if (rc == ARCA_ENOTFOUND)
		return 0;
	if (rc < 0) {
		fail("stat blob %s: %s", hex, arca_errmsg());
		return 0;
	}
	want = malloc(size ? size : 1);
	if (want == NULL)
		abort();
	crash_content(want, size, seed);
	rc = arca_blob_get(&got, s, &d);
	if (rc < 0)
		fail("blob %s is in the index but cannot be read: %s", hex,
				arca_errmsg());
	else if (got.size != size || memcmp(got.data, want, size) != 0)
		fail("blob %s read back wrong bytes%s", hex, "");
	else
		present = 1;
	arca_buf_free(&got);
	free(want);
	return present;
}

/* An action: 1 a hit with the expected outputs, 0 absent. */
static int check_action(arca_store *s, const char *keyhex, const char *outs)
{
	arca_manifest *m = NULL;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	const char *p = outs;
	arca_digest key;
	size_t i;
	int rc, ok = 1;

	if (arca_digest_from_hex(&key, keyhex) < 0) {
		fail("bad key %s in EXPECT%s", keyhex, "");
		return 0;
	}
	rc = arca_action_peek(&m, s, &key);
	if (rc == ARCA_ENOTFOUND)
		return 0;
	if (rc < 0) {
		fail("action %s: %s", keyhex, arca_errmsg());
		return 0;
	}
	for (i = 0; i < m->n_outputs; i++) {
		arca_digest_to_hex(hex, &m->outputs[i].digest);
		if (strncmp(p, hex, ARCA_DIGEST_HEXLEN) != 0)
			ok = 0;
		p += ARCA_DIGEST_HEXLEN;
		if (*p == ',')
			p++;
	}
	if (!ok || *p != '\0')
		fail("action %s: manifest outputs differ from %s", keyhex, outs);
	arca_manifest_free(m);
	return 1;
}

int main(int argc, char **argv)
{
	arca_options opts = ARCA_OPTIONS_INIT;
	struct listed listed = { .n = 0 };
	unsigned n_req = 0, n_acked_lost = 0, n_present = 0, n_lines = 0;
	arca_store *s = NULL;
	char line[2048];
	FILE *f;
	size_t i;
	int rc, checked;

	if (argc != 3) {
		fprintf(stderr, "usage: crash_check STORE EXPECT\n");
		return 2;
	}
	if ((f = fopen(argv[2], "r")) == NULL) {
		perror(argv[2]);
		return 2;
	}
	if ((rc = arca_store_open(&s, argv[1], &opts)) < 0) {
		fail("the store does not open: %s%s", arca_errmsg(), "");
		printf("0 checked, 0 present\n");
		return 1;
	}
	checked = verify(s, "first");
	if ((rc = arca_action_list(s, NULL, on_action, &listed)) < 0)
		fail("arca_action_list: %s%s", arca_errmsg(), "");
	for (i = 0; i < listed.n; i++) {
		arca_manifest *m = NULL;
		char hex[ARCA_DIGEST_HEXLEN + 1];

		arca_digest_to_hex(hex, &listed.keys[i]);
		if (arca_action_peek(&m, s, &listed.keys[i]) < 0)
			fail("action %s is listed but is not a hit: %s", hex,
					arca_errmsg());
		arca_manifest_free(m);
	}
	while (fgets(line, sizeof(line), f)) {
		char status, kind[16], a[128], b[1024];
		unsigned long long seed = 0;
		size_t size = 0;
		int present;

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%c %15s %127s", &status, kind, a) != 3)
			continue;
		n_lines++;
		if (strcmp(kind, "blob") == 0 &&
		    sscanf(line, "%*c %*s %*s %llu %zu", &seed, &size) == 2)
			present = check_blob(s, a, seed, size);
		else if (strcmp(kind, "action") == 0 &&
			 sscanf(line, "%*c %*s %*s %1023s", b) == 1)
			present = check_action(s, a, b);
		else
			continue;
		n_present += (unsigned)present;
		if (status == 'R') {
			n_req++;
			if (!present)
				fail("%s %s was acknowledged and durable, and is "
						"lost", kind, a);
		} else if (status == 'A' && !present) {
			n_acked_lost++;
		}
	}
	fclose(f);
	verify(s, "after the reads");
	{
		unsigned char probe[] = "a put after the power cut";
		arca_digest d;

		if ((rc = arca_blob_put(&d, s, probe, sizeof(probe))) < 0)
			fail("a new put fails: %s%s", arca_errmsg(), "");
	}
	arca_store_close(s);
	printf("%d checked by verify, %u present, %u required, %u acknowledged "
			"but not yet durable and absent\n", checked, n_present,
			n_req, n_acked_lost);
	return failures ? 1 : 0;
}
