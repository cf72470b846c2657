/*
 * arca — command-line front end: global options and the dispatch table.
 * Each subcommand lives in its own cmd_<name>.c (as LMDB's tools do).
 */
#include "common.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef ARCA_CLI_SERVE_ONLY
/* arca-serve: the server alone (serve_exec.c runs it for `arca serve`). */
static const cli_command *commands[] = {
	&cli_cmd_serve,
};
#else
static const cli_command *commands[] = {
	&cli_cmd_run,
	&cli_cmd_put,
	&cli_cmd_get,
	&cli_cmd_ls,
	&cli_cmd_info,
	&cli_cmd_stats,
	&cli_cmd_rm,
	&cli_cmd_clear,
	&cli_cmd_verify,
	&cli_cmd_fetch,
	&cli_cmd_repro,
	&cli_cmd_status,
	&cli_cmd_limit,
	&cli_cmd_gc,
	&cli_cmd_remote,
	&cli_cmd_push,
	&cli_cmd_pull,
	&cli_cmd_serve_exec,
};
#endif

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const cli_command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

static void usage(FILE *out)
{
	size_t i;

	fprintf(out,
		"Usage: arca [--store DIR] [--tier URL]... [--no-remote] [--version]\n"
		"            [--help] COMMAND [ARGS]\n"
		"\n"
		"A content-addressed cache that memoizes pipeline stages.\n"
		"\n"
		"Commands:\n");
	for (i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-8s %s\n", commands[i]->name,
				commands[i]->summary);
	fprintf(out,
		"  %-8s %s\n"
		"\n"
		"Options (also accepted after COMMAND):\n"
		"  --store DIR   the store directory; default $ARCA_DIR, else\n"
		"                ${XDG_CACHE_HOME:-$HOME/.cache}/arca\n"
		"  --tier URL    a remote tier (repeatable, in order), instead of\n"
		"                $ARCA_TIERS or config.yaml's tiers: (run, repro,\n"
		"                get, put, rm, stats, push, pull, remote)\n"
		"  --no-remote   the local tier alone\n"
		"  --version     print the version and exit\n"
		"  -h, --help    print this help and exit\n"
		"\n"
		"Exit codes:\n"
		"  0    success\n"
		"  1    verify found corruption\n"
		"  2    usage error (unknown option, malformed argument)\n"
		"  3    not found (unknown digest, key or file)\n"
		"  4    corrupt (get of a blob whose bytes do not match)\n"
		"  5    store error (cannot open/create/write the store, I/O)\n"
		"  6    fetch: the URL could not be fetched, no usable cached copy;\n"
		"       remote test: a tier failed; push: no writable remote tier\n"
		"  127  unknown command\n"
		"  run passes CMD's own status through, and otherwise uses\n"
		"  124 (CMD exited 0 but a declared output is missing),\n"
		"  125 (arca failed before CMD ran), 126 (CMD not executable),\n"
		"  127 (CMD not found), 128+N (CMD killed by signal N),\n"
		"  as GNU env and timeout do.\n"
		"\n"
		"See 'arca help COMMAND' and docs/cli.md.\n",
		"help", "show help for a command");
}

static int cmd_help(int argc, char **argv)
{
	const cli_command *cmd;

	if (argc < 2) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if ((cmd = find_command(argv[1])) == NULL) {
		return cli_usage_error(NULL, "help: unknown command '%s'",
				argv[1]);
	}
	cmd->usage(stdout);
	return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		CLI_TIER_LONGOPTS,
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	cli_global g;
	const cli_command *cmd;
	int c;

	memset(&g, 0, sizeof(g));
	cli_argc = argc;
	cli_argv = argv;
	opterr = 0;
	/* '+': stop at the command name; its options are its own. */
	while ((c = getopt_long(argc, argv, "+:hV", longopts, NULL)) != -1) {
		switch (c) {
		case CLI_OPT_STORE:
			g.store_dir = optarg;
			break;
		case CLI_OPT_TIER:
		case CLI_OPT_NO_REMOTE:
			if (cli_tier_option(&g, c, optarg) < 0)
				return CLI_EXIT_USAGE;
			break;
		case 'V':
			printf("arca %s\n", ARCA_VERSION_STRING);
			return CLI_EXIT_OK;
		case CLI_OPT_HELP:
			usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_bad_option(NULL, c, argv);
		}
	}

	if (optind >= argc) {
		return cli_usage_error(NULL, "no command given");
	}
	if (strcmp(argv[optind], "help") == 0)
		return cmd_help(argc - optind, argv + optind);
	if ((cmd = find_command(argv[optind])) == NULL) {
		cli_usage_error(NULL, "'%s' is not an arca command",
				argv[optind]);
		return CLI_EXIT_NOCOMMAND;
	}

	argc -= optind;
	argv += optind;
	/* Reinitialise getopt (glibc: optind 0) for the subcommand. */
	optind = 0;
	opterr = 0;
	return cmd->run(argc, argv, &g);
}
