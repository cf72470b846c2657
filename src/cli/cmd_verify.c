/* arca verify — re-hash every blob, quarantine the corrupt ones. */
#include "common.h"

#include <getopt.h>
#include <stdio.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: arca verify [--store DIR]\n"
		"\n"
		"Re-hash every blob in the store. Each corrupt (or missing) blob is\n"
		"moved to quarantine/, removed from the index together with the\n"
		"actions that reference them (they will be recomputed), and printed\n"
		"as 'corrupt: DIGEST (WHERE) — quarantined'. A summary line\n"
		"'checked N blobs, M corrupt' follows.\n"
		"\n"
		"Exit status: 0 all blobs intact; 1 corruption found (and\n"
		"quarantined); 2 usage error; 5 store error.\n");
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
	uint64_t n_checked = 0, n_corrupt = 0;
	int c, error, rc;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case CLI_OPT_STORE:
			g->store_dir = optarg;
			break;
		case CLI_OPT_HELP:
			usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_bad_option("verify", c, argv);
		}
	}
	if (optind < argc) {
		return cli_usage_error("verify", "unexpected argument '%s'", argv[optind]);
	}
	if (cli_open_store(&store, g) != 0)
		return CLI_EXIT_STORE;

	if ((error = arca_store_verify(&n_checked, &n_corrupt, store, report,
			NULL)) < 0) {
		fflush(stdout);
		cli_lib_error(error, "verify");
		rc = CLI_EXIT_STORE;
		goto cleanup;
	}
	printf("checked %llu blobs, %llu corrupt\n",
			(unsigned long long)n_checked, (unsigned long long)n_corrupt);
	fflush(stdout);
	rc = n_corrupt > 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;

cleanup:
	arca_store_close(store);
	return rc;
}

const cli_command cli_cmd_verify = {
	"verify", "re-hash every blob, quarantine corrupt ones", verify_main,
	usage
};
