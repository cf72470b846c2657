/* arca get — write a blob, verified, to stdout or a file. */
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: arca get [--store DIR] DIGEST [-o FILE]\n"
		"\n"
		"Write the blob DIGEST (the full 64 hex characters; prefixes are\n"
		"not accepted for blobs) to stdout, or to FILE with -o. The content\n"
		"is verified before any byte is written: a corrupt blob is\n"
		"quarantined and nothing is written. With -o the file appears\n"
		"atomically (temp file + rename) or not at all.\n"
		"\n"
		"Options:\n"
		"  -o, --output FILE   write to FILE instead of stdout\n"
		"  --store DIR         the store directory\n"
		"  -h, --help          print this help\n"
		"\n"
		"Exit status: 0; 2 usage error (malformed digest); 3 not found;\n"
		"4 corrupt (quarantined, nothing written); 5 store or I/O error.\n");
}

static unsigned int file_mode(void)
{
	mode_t mask = umask(0);

	umask(mask);
	return 0666u & ~(unsigned int)mask;
}

static int get_main(int argc, char **argv, cli_global *g)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		CLI_TIER_LONGOPTS,
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	arca_store *store = NULL;
	arca_buf buf = ARCA_BUF_INIT;
	arca_digest d;
	const char *output = NULL, *hex;
	char short_hex[16];
	int c, error, rc = CLI_EXIT_OK;

	g->use_tiers = 1;
	while ((c = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		default:
			if (!cli_common_option(&rc, g, "get", c, argv, usage))
				return rc;
			break;
		}
	}
	if (argc - optind != 1) {
		return cli_usage_error("get", "expected exactly one DIGEST");
	}
	hex = argv[optind];
	if (cli_parse_digest(&d, hex, "get: digest") < 0)
		return CLI_EXIT_USAGE;
	if (output != NULL && output[0] == '\0') {
		cli_error("get: -o: empty file name");
		return CLI_EXIT_USAGE;
	}
	snprintf(short_hex, sizeof(short_hex), "%.12s", hex);

	if (cli_open_store(&store, g) != 0)
		return CLI_EXIT_STORE;

	if (output != NULL)
		error = arca_blob_get_file(store, &d, output, file_mode());
	else
		error = arca_blob_get(&buf, store, &d);

	switch (error) {
	case 0:
		break;
	case ARCA_ENOTFOUND:
		/* The library's words tell a plain miss from a blob whose
		 * file was missing from disk (its index entry is dropped). */
		cli_error("blob %s…: not found (%s)", short_hex,
				cli_lib_detail(error));
		rc = CLI_EXIT_NOTFOUND;
		goto cleanup;
	case ARCA_ECORRUPT:
		cli_error("blob %s…: corrupt (quarantined)", short_hex);
		rc = CLI_EXIT_CORRUPT;
		goto cleanup;
	default:
		if (output != NULL)
			cli_lib_error(error, "blob %s… to '%s'", short_hex, output);
		else
			cli_lib_error(error, "blob %s…", short_hex);
		rc = cli_exit_code(error);
		goto cleanup;
	}

	if (output == NULL && cli_write_all(STDOUT_FILENO, buf.data, buf.size) < 0) {
		cli_error("stdout: %s", strerror(errno));
		rc = CLI_EXIT_STORE;
	}

cleanup:
	arca_buf_free(&buf);
	arca_store_close(store);
	return rc;
}

const cli_command cli_cmd_get = {
	"get", "write a blob, verified, to stdout or a file", get_main, usage
};
