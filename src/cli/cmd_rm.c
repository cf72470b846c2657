/* arca rm — remove action entries by key or unique key prefix. */
#include "common.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: arca rm [--store DIR] KEY...\n"
		"\n"
		"Remove the cached actions named by KEY, a full action key or a\n"
		"unique prefix of at least 4 hex characters (as 'arca ls' shows),\n"
		"with the blobs only they referenced. Every KEY is resolved before\n"
		"anything is removed: one bad KEY leaves the store unchanged.\n"
		"\n"
		"Exit status: 0; 2 usage error (malformed or ambiguous prefix);\n"
		"3 no action has this key; 5 store error.\n"
		"\n"
		"Example:\n"
		"  arca rm 3f2a9c01\n");
}

static int rm_main(int argc, char **argv, cli_global *g)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		CLI_TIER_LONGOPTS,
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	arca_store *store = NULL;
	arca_digest *keys = NULL;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	int c, i, n, error, rc = CLI_EXIT_STORE;

	g->use_tiers = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		default:
			if (!cli_common_option(&rc, g, "rm", c, argv, usage))
				return rc;
			break;
		}
	}
	n = argc - optind;
	if (n <= 0) {
		return cli_usage_error("rm", "no key given");
	}
	if ((keys = calloc((size_t)n, sizeof(*keys))) == NULL) {
		cli_error("rm: out of memory");
		return CLI_EXIT_STORE;
	}
	if (cli_open_store(&store, g) != 0)
		goto cleanup;

	for (i = 0; i < n; i++) {
		const char *prefix = argv[optind + i];

		error = arca_action_resolve(&keys[i], store, prefix);
		switch (error) {
		case 0:
			break;
		case ARCA_ENOTFOUND:
			cli_error("rm: key '%s': no such action", prefix);
			rc = CLI_EXIT_NOTFOUND;
			goto cleanup;
		case ARCA_EEXISTS:
			cli_error("rm: key '%s': ambiguous prefix (several actions "
					"match; give more characters)", prefix);
			rc = CLI_EXIT_USAGE;
			goto cleanup;
		case ARCA_EINVAL:
			cli_error("rm: key '%s': expected at least 4 hex characters",
					prefix);
			rc = CLI_EXIT_USAGE;
			goto cleanup;
		default:
			cli_lib_error(error, "rm: key '%s'", prefix);
			goto cleanup;
		}
	}
	for (i = 0; i < n; i++) {
		arca_digest_to_hex(hex, &keys[i]);
		error = arca_action_remove(store, &keys[i]);
		/* The same action named twice: already gone. */
		if (error == ARCA_ENOTFOUND)
			continue;
		if (error < 0) {
			cli_lib_error(error, "rm: %s", hex);
			rc = cli_exit_code(error);
			goto cleanup;
		}
		printf("removed %s\n", hex);
	}
	rc = CLI_EXIT_OK;

cleanup:
	free(keys);
	arca_store_close(store);
	return rc;
}

const cli_command cli_cmd_rm = {
	"rm", "remove cached actions by key prefix", rm_main, usage
};
