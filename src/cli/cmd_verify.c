/* arca verify — re-hash every blob, quarantine the corrupt ones. */
#include "common.h"

#include <getopt.h>
#include <stdio.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: arca verify [--store DIR]\n"
		"\n"
		"Check the index (SQLite's PRAGMA integrity_check), then re-hash\n"
		"every blob in the store. A damaged index is moved to quarantine/\n"
		"and rebuilt from the blob files (cached actions and small inline\n"
		"blobs are lost), reported in one line 'arca: warning: store DIR:\n"
		"index.db was damaged (...)'. Each corrupt (or missing) blob is\n"
		"moved to quarantine/, removed from the index together with the\n"
		"actions that reference them (they will be recomputed), and printed\n"
		"as 'corrupt: DIGEST (WHERE) — quarantined'. A summary line\n"
		"'checked N blobs, M corrupt' follows, with ', index rebuilt'\n"
		"after a repair.\n"
		"\n"
		"Every blob is re-hashed also under 'verify: stamp', whose reads\n"
		"skip the hash of large blobs whose file's stat data is unchanged:\n"
		"a fault beneath the file system that leaves the stat data alone\n"
		"(a media error) is found here (docs/cli.md, \"Verification\").\n"
		"\n"
		"Exit status: 0 index and blobs intact; 1 corruption found (and\n"
		"quarantined) or the index repaired; 2 usage error; 5 store error.\n");
}

static void report(const arca_digest *digest, const char *where, void *ctx)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	(void)ctx;
	arca_digest_to_hex(hex, digest);
	printf("corrupt: %s (%s) — quarantined\n", hex,
			where ? cli_esc(where) : "?");
}

static int verify_main(int argc, char **argv, cli_global *g)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	arca_store *store = NULL;
	arca_index_repair repair;
	uint64_t n_checked = 0, n_corrupt = 0;
	int c, error, rc, repaired_at_open;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		default:
			if (!cli_common_option(&rc, g, "verify", c, argv, usage))
				return rc;
			break;
		}
	}
	if (optind < argc) {
		return cli_usage_error("verify", "unexpected argument '%s'", argv[optind]);
	}
	if (cli_open_store(&store, g) != 0)
		return CLI_EXIT_STORE;
	/* A repair at open has been reported by cli_open_store(). */
	repaired_at_open = arca_store_index_repair(&repair, store) == 0 &&
		repair.repaired;

	if ((error = arca_store_verify(&n_checked, &n_corrupt, store, report,
			NULL)) < 0) {
		fflush(stdout);
		cli_lib_error(error, "verify");
		rc = CLI_EXIT_STORE;
		goto cleanup;
	}
	if (arca_store_index_repair(&repair, store) < 0)
		repair.repaired = 0;
	if (repair.repaired && !repaired_at_open)
		cli_warn("%s", repair.message);
	printf("checked %llu blobs, %llu corrupt%s\n",
			(unsigned long long)n_checked, (unsigned long long)n_corrupt,
			repair.repaired ? ", index rebuilt" : "");
	fflush(stdout);
	rc = n_corrupt > 0 || repair.repaired ? CLI_EXIT_FAILED : CLI_EXIT_OK;

cleanup:
	arca_store_close(store);
	return rc;
}

const cli_command cli_cmd_verify = {
	"verify", "re-hash every blob, quarantine corrupt ones", verify_main,
	usage
};
