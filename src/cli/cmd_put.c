/* arca put — store files as blobs and print their digests. */
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: arca put [--store DIR] FILE...\n"
		"\n"
		"Store each FILE's content as a blob and print its digest (64 hex\n"
		"characters), one line per file, in order.\n"
		"\n"
		"Every FILE is checked before anything is stored.\n"
		"\n"
		"Exit status: 0; 2 usage error (FILE is not a regular file);\n"
		"3 FILE not found; 5 store error.\n"
		"\n"
		"Example:\n"
		"  d=$(arca put talk.wav) && arca get \"$d\" -o copy.wav\n");
}

static int put_main(int argc, char **argv, cli_global *g)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	arca_store *store = NULL;
	arca_digest d;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	int c, i, error, rc = CLI_EXIT_OK;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case CLI_OPT_STORE:
			g->store_dir = optarg;
			break;
		case CLI_OPT_HELP:
			usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_bad_option("put", c, argv);
		}
	}
	if (optind >= argc) {
		return cli_usage_error("put", "no file given");
	}
	/* Check every FILE first: one bad FILE stores nothing. */
	for (i = optind; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			cli_error("%s: %s", argv[i], strerror(errno));
			return errno == ENOENT || errno == ENOTDIR ?
				CLI_EXIT_NOTFOUND : CLI_EXIT_USAGE;
		}
		if (!S_ISREG(st.st_mode)) {
			cli_error("%s: not a regular file", argv[i]);
			return CLI_EXIT_USAGE;
		}
	}
	if (cli_open_store(&store, g) != 0)
		return CLI_EXIT_STORE;

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
		arca_digest_to_hex(hex, &d);
		printf("%s\n", hex);
	}
	if (fflush(stdout) == EOF) {
		cli_error("stdout: %s", strerror(errno));
		rc = CLI_EXIT_STORE;
	}

cleanup:
	arca_store_close(store);
	return rc;
}

const cli_command cli_cmd_put = {
	"put", "store a file as a blob, print its digest", put_main, usage
};
