/*
 * arca pull — copy action entries, with every blob they reference, from
 * the remote tiers into the local one (arca_tier_pull(); DVC's pull).
 */
#include "common.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: arca pull KEY... [--tier URL]... [--store DIR]\n"
		"\n"
		"Copy each action entry (a full 64-hex key) from the first remote\n"
		"tier that has it, verified, into the local tier with every blob it\n"
		"references. An entry already local is left alone.\n"
		"\n"
		"Options:\n"
		"  --tier URL    the remote tiers (repeatable)\n"
		"  --store DIR   the store directory\n"
		"  -h, --help    print this help\n"
		"\n"
		"Exit status: 0; 2 usage error; 3 a key no tier has; 5 store\n"
		"error.\n");
}

static int pull_main(int argc, char **argv, cli_global *g)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		CLI_TIER_LONGOPTS,
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	arca_store *store = NULL;
	arca_transfer x = { 0, 0, 0, 0, 0 };
	char bytes[32];
	int c, i, error, rc = CLI_EXIT_OK;

	g->use_tiers = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		default:
			if (!cli_common_option(&rc, g, "pull", c, argv, usage))
				return rc;
			break;
		}
	}
	if (optind >= argc)
		return cli_usage_error("pull", "no KEY given");
	for (i = optind; i < argc; i++) {
		arca_digest d;

		if (cli_parse_digest(&d, argv[i], "key") < 0)
			return CLI_EXIT_USAGE;
	}
	if (cli_open_store(&store, g) != 0)
		return CLI_EXIT_STORE;
	for (i = optind; i < argc; i++) {
		arca_digest d;

		(void)cli_parse_digest(&d, argv[i], "key");
		if ((error = arca_tier_pull(&x, store, &d)) < 0) {
			cli_lib_error(error, "pull");
			if (rc == CLI_EXIT_OK)
				rc = cli_exit_code(error);
		}
	}
	cli_human_size(bytes, sizeof(bytes), x.bytes);
	printf("pulled %llu entries, %llu blobs (%s); %llu entries and %llu "
			"blobs were already local\n",
			(unsigned long long)x.actions,
			(unsigned long long)x.blobs, bytes,
			(unsigned long long)x.actions_present,
			(unsigned long long)x.blobs_present);
	fflush(stdout);
	arca_store_close(store);
	return rc;
}

const cli_command cli_cmd_pull = {
	"pull", "copy entries from the remote tiers to the local one",
	pull_main, usage
};
