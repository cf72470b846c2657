/* arca clear — remove every action, or those of a stage, an input, a tag,
 * an age or a key prefix. */
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: arca clear [--store DIR] [--rehash] (--all | --stage NAME | --input FILE |\n"
		"                  --tag T | --older-than DURATION | KEYPREFIX)\n"
		"\n"
		"Remove cached actions, and the blobs only they referenced:\n"
		"  --all          everything, including blobs stored with 'arca put'\n"
		"  --stage NAME   every action of stage NAME\n"
		"  --input FILE   every action that used FILE's current content as\n"
		"                 an input (FILE is digested; its name does not matter)\n"
		"  --tag T        every action run with --tag T, and the blobs put\n"
		"                 with --tag T that nothing else references\n"
		"  --older-than DURATION  every action not used (hit or stored) for\n"
		"                 DURATION (30s, 10m, 2h, 7d)\n"
		"  KEYPREFIX      every action whose key starts with these hex digits\n"
		"Exactly one of them. Prints how many entries and bytes were removed.\n"
		"--rehash reads FILE even when the stat cache knows its digest\n"
		"(docs/store.md, \"Stat cache\").\n"
		"\n"
		"Exit status: 0 (also when nothing matched); 2 usage error; 3 FILE\n"
		"not found; 5 store error.\n");
}

static int clear_main(int argc, char **argv, cli_global *g)
{
	enum { OPT_ALL = 0x200, OPT_STAGE, OPT_INPUT, OPT_TAG, OPT_OLDER };
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, OPT_ALL },
		{ "stage", required_argument, NULL, OPT_STAGE },
		{ "input", required_argument, NULL, OPT_INPUT },
		{ "tag", required_argument, NULL, OPT_TAG },
		{ "older-than", required_argument, NULL, OPT_OLDER },
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		CLI_REHASH_LONGOPT,
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	arca_store *store = NULL;
	arca_clear_filter filter;
	arca_digest input;
	const char *input_path = NULL;
	uint64_t n_removed = 0, bytes_freed = 0;
	char size[32];
	int c, n_criteria = 0, error, rc = CLI_EXIT_STORE;

	memset(&filter, 0, sizeof(filter));
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_ALL:
			filter.all = 1;
			n_criteria++;
			break;
		case OPT_STAGE:
			filter.stage = optarg;
			n_criteria++;
			break;
		case OPT_INPUT:
			input_path = optarg;
			n_criteria++;
			break;
		case OPT_TAG:
			if (optarg[0] == '\0')
				return cli_usage_error("clear", "--tag: empty tag");
			filter.tag = optarg;
			n_criteria++;
			break;
		case OPT_OLDER: {
			uint64_t s;

			if (cli_parse_duration(&s, optarg) < 0 || s == 0 ||
			    s > (uint64_t)INT64_MAX) {
				cli_error("clear: --older-than '%s': expected a "
						"duration of more than 0 (30s, 10m, "
						"2h, 7d, 1w)", optarg);
				return CLI_EXIT_USAGE;
			}
			filter.older_than_s = (int64_t)s;
			n_criteria++;
			break;
		}
		default:
			if (!cli_common_option(&rc, g, "clear", c, argv, usage))
				return rc;
			break;
		}
	}
	if (optind < argc) {
		size_t n = strlen(argv[optind]);

		if (optind + 1 < argc)
			return cli_usage_error("clear", "unexpected argument "
					"'%s'", argv[optind + 1]);
		if (n == 0 || n > ARCA_DIGEST_HEXLEN ||
		    strspn(argv[optind], "0123456789abcdefABCDEF") != n)
			return cli_usage_error("clear", "'%s' is not a key prefix "
					"(1 to 64 hex digits)", argv[optind]);
		filter.key_prefix = argv[optind];
		n_criteria++;
	}
	if (n_criteria != 1) {
		return cli_usage_error("clear", "give exactly one of --all, "
				"--stage NAME, --input FILE, --tag T, "
				"--older-than DURATION, KEYPREFIX");
	}
	if (filter.stage != NULL && filter.stage[0] == '\0') {
		cli_error("clear: --stage: empty stage name");
		return CLI_EXIT_USAGE;
	}
	if (cli_open_store(&store, g) != 0)
		return CLI_EXIT_STORE;
	/* FILE is digested through the store's stat cache. */
	if (input_path != NULL) {
		error = arca_store_digest_file(&input, NULL, store,
				input_path, 0, NULL, NULL);
		if (error == ARCA_ENOTFOUND) {
			cli_error("clear: input '%s': %s", input_path,
					strerror(ENOENT));
			rc = CLI_EXIT_NOTFOUND;
			goto cleanup;
		}
		if (error == ARCA_EINVAL) {
			cli_error("clear: input '%s': not a regular file", input_path);
			rc = CLI_EXIT_USAGE;
			goto cleanup;
		}
		if (error < 0) {
			cli_lib_error(error, "clear: input '%s'", input_path);
			rc = CLI_EXIT_NOTFOUND;
			goto cleanup;
		}
		filter.input = &input;
	}

	if ((error = arca_store_clear(&n_removed, &bytes_freed, store,
			&filter)) < 0) {
		cli_lib_error(error, "clear");
		rc = cli_exit_code(error);
		goto cleanup;
	}
	cli_human_size(size, sizeof(size), bytes_freed);
	printf("removed %llu %s, %s freed\n", (unsigned long long)n_removed,
			n_removed == 1 ? "entry" : "entries", size);
	rc = CLI_EXIT_OK;

cleanup:
	arca_store_close(store);
	return rc;
}

const cli_command cli_cmd_clear = {
	"clear", "remove all actions, or by stage, input, tag, age or key",
	clear_main,
	usage
};
