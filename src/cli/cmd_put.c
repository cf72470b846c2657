/* arca put — store files as blobs and print their digests. */
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: arca put [--store DIR] [--tag T]... FILE...\n"
		"\n"
		"Store each FILE's content as a blob and print its digest (64 hex\n"
		"characters), one line per file, in order.\n"
		"\n"
		"Every FILE is checked before anything is stored. --tag T (repeatable)\n"
		"tags the blobs, so that 'arca clear --tag T' removes them.\n"
		"\n"
		"Exit status: 0; 2 usage error (FILE is not a regular file);\n"
		"3 FILE not found; 5 store error.\n"
		"\n"
		"Example:\n"
		"  d=$(arca put talk.wav) && arca get \"$d\" -o copy.wav\n");
}

static int put_main(int argc, char **argv, cli_global *g)
{
	enum { OPT_TAG = 0x200 };
	static const struct option longopts[] = {
		{ "tag", required_argument, NULL, OPT_TAG },
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		CLI_TIER_LONGOPTS,
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	arca_store *store = NULL;
	arca_digest d;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	const char **tags = NULL;
	size_t n_tags = 0, t;
	int c, i, error, rc = CLI_EXIT_OK;

	g->use_tiers = 1;
	if ((tags = calloc((size_t)argc + 1, sizeof(*tags))) == NULL) {
		cli_error("put: %s", strerror(ENOMEM));
		return CLI_EXIT_STORE;
	}
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_TAG:
			if (optarg[0] == '\0') {
				free(tags);
				return cli_usage_error("put", "--tag: empty tag");
			}
			tags[n_tags++] = optarg;
			break;
		default:
			if (cli_common_option(&rc, g, "put", c, argv, usage))
				break;
			free(tags);
			return rc;
		}
	}
	if (optind >= argc) {
		free(tags);
		return cli_usage_error("put", "no file given");
	}
	/* Check every FILE first: one bad FILE stores nothing. */
	for (i = optind; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			int err = errno;

			cli_error("%s: %s", argv[i], strerror(err));
			free(tags);
			return err == ENOENT || err == ENOTDIR ?
				CLI_EXIT_NOTFOUND : CLI_EXIT_USAGE;
		}
		if (!S_ISREG(st.st_mode)) {
			cli_error("%s: not a regular file", argv[i]);
			free(tags);
			return CLI_EXIT_USAGE;
		}
	}
	if (cli_open_store(&store, g) != 0) {
		free(tags);
		return CLI_EXIT_STORE;
	}

	for (i = optind; i < argc; i++) {
		error = arca_blob_put_file(&d, NULL, store, argv[i]);
		if (error == ARCA_ENOTFOUND) {
			cli_error("%s: %s", argv[i], strerror(ENOENT));
			rc = CLI_EXIT_NOTFOUND;
			goto cleanup;
		}
		if (error < 0) {
			cli_lib_error(error, "%s", argv[i]);
			rc = CLI_EXIT_STORE;
			goto cleanup;
		}
		for (t = 0; t < n_tags; t++)
			if ((error = arca_blob_tag(store, &d, tags[t])) < 0) {
				cli_lib_error(error, "%s: tag '%s'", argv[i],
						tags[t]);
				rc = cli_exit_code(error);
				goto cleanup;
			}
		arca_digest_to_hex(hex, &d);
		printf("%s\n", hex);
	}
	if (fflush(stdout) == EOF) {
		cli_error("stdout: %s", strerror(errno));
		rc = CLI_EXIT_STORE;
	}

cleanup:
	arca_store_close(store);
	free(tags);
	return rc;
}

const cli_command cli_cmd_put = {
	"put", "store a file as a blob, print its digest", put_main, usage
};
