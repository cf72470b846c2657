/* arca limit — show or set the store's size limit. */
#include "common.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: arca limit [--store DIR] [SIZE]\n"
		"\n"
		"Without SIZE, print the store's size limit and how much of it is\n"
		"used. With SIZE (bytes, or with K, M, G, T in binary units: 500M,\n"
		"10G, 1.5GiB; 0 for no limit), evict least recently used entries\n"
		"down to the low watermark of the new limit and write max_size\n"
		"into the store's config.yaml (other settings are kept).\n"
		"\n"
		"The effective limit is the smaller of max_size and what the file\n"
		"system allows: what the store holds plus the disk's free space,\n"
		"less disk_reserve (default 5%% of the file system, at most 256M;\n"
		"0 turns the disk check off).\n"
		"\n"
		"Blobs pinned by live writers (a stage storing its outputs) and\n"
		"leased actions are never evicted: a limit below what they hold\n"
		"is still set, and a warning says what remains pinned; puts\n"
		"that do not fit then fail until the writers finish.\n"
		"\n"
		"Exit status: 0; 2 usage error (a malformed SIZE); 5 store error.\n");
}

/* "max_size 10G" or "the disk: 3.1G free, 256M kept free". */
static void print_source(const arca_store_space *sp)
{
	char a[32], b[32];

	if (sp->limit != 0 && sp->limit == sp->disk_limit &&
	    (sp->max_size == 0 || sp->disk_limit < sp->max_size)) {
		cli_human_size(a, sizeof(a), sp->fs_free);
		cli_human_size(b, sizeof(b), sp->disk_reserve);
		printf("       (the disk: %s free, %s kept free", a, b);
		if (sp->max_size != 0) {
			cli_human_size(a, sizeof(a), sp->max_size);
			printf("; max_size %s", a);
		}
		printf(")\n");
	}
}

static int show(arca_store *store)
{
	arca_store_space sp;
	char used[32], limit[32];
	int error;

	if ((error = arca_store_get_space(&sp, store)) < 0) {
		cli_lib_error(error, "limit");
		return cli_exit_code(error);
	}
	cli_human_size(used, sizeof(used), sp.usage);
	if (sp.limit == 0) {
		printf("limit: none\nused:  %s (%llu bytes)\n", used,
				(unsigned long long)sp.usage);
		return CLI_EXIT_OK;
	}
	cli_human_size(limit, sizeof(limit), sp.limit);
	printf("limit: %s (%llu bytes)\n", limit, (unsigned long long)sp.limit);
	print_source(&sp);
	printf("used:  %s (%llu bytes, %.0f%%)\n", used,
			(unsigned long long)sp.usage,
			(double)sp.usage * 100.0 / (double)sp.limit);
	return CLI_EXIT_OK;
}

static int set(arca_store *store, const char *text, uint64_t max,
		const char *dir)
{
	arca_options opts = ARCA_OPTIONS_INIT;
	arca_store_space sp;
	unsigned int pct;
	uint64_t bytes = 0, pinned = 0, n = 0, freed = 0, eff;
	char a[32], b[32];
	int error;

	if ((error = arca_store_get_options(&opts, store)) < 0 ||
	    (error = arca_store_get_space(&sp, store)) < 0) {
		cli_lib_error(error, "limit");
		return cli_exit_code(error);
	}
	pct = opts.low_watermark_pct;
	bytes = sp.usage;
	/* What the new max_size makes the effective limit (0: none). */
	eff = sp.disk_limit != 0 && (max == 0 || sp.disk_limit < max) ?
		sp.disk_limit : max;
	/* Evict first: on a full disk config.yaml can only be written once
	 * the eviction has freed space (or given the reserve file up). */
	if (eff != 0 && bytes > eff) {
		uint64_t target = (uint64_t)((double)eff * pct / 100.0);

		if ((error = arca_store_evict(&n, &freed, store, target)) < 0) {
			cli_lib_error(error, "limit: evicting");
			return cli_exit_code(error);
		}
		if ((error = arca_store_usage(&bytes, NULL, store)) < 0 ||
		    (error = arca_store_pinned(&pinned, store)) < 0) {
			cli_lib_error(error, "limit");
			return cli_exit_code(error);
		}
		if (bytes > eff) {
			cli_human_size(a, sizeof(a), bytes);
			cli_human_size(b, sizeof(b), pinned);
			cli_warn("limit: the store still holds %s, above the "
					"limit: %s (%llu bytes) pinned by live "
					"writers, the rest leased; puts that do "
					"not fit fail until they finish", a, b,
					(unsigned long long)pinned);
		}
	}
	/* The library reads it back for every opener (arca_options). */
	if ((error = arca_config_set(dir, "max_size", text)) < 0) {
		cli_lib_error(error, "limit: %s/config.yaml", dir);
		return error == ARCA_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_STORE;
	}
	cli_human_size(a, sizeof(a), max);
	cli_human_size(b, sizeof(b), freed);
	if (max == 0)
		printf("limit: none\n");
	else
		printf("limit: %s (%llu bytes); evicted %llu %s, %s freed\n", a,
				(unsigned long long)max, (unsigned long long)n,
				n == 1 ? "entry" : "entries", b);
	return CLI_EXIT_OK;
}

static int limit_main(int argc, char **argv, cli_global *g)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	arca_store *store = NULL;
	uint64_t max = 0;
	int c, rc;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		default:
			if (!cli_common_option(&rc, g, "limit", c, argv, usage))
				return rc;
			break;
		}
	}
	if (argc - optind > 1)
		return cli_usage_error("limit", "unexpected argument '%s'",
				argv[optind + 1]);
	if (optind < argc && cli_parse_size(&max, argv[optind]) < 0) {
		cli_error("limit: SIZE '%s': expected a size (bytes, or with K, "
				"M, G, T: 500M, 10G)", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	if (cli_open_store(&store, g) != 0)
		return CLI_EXIT_STORE;
	rc = optind < argc ?
		set(store, argv[optind], max, arca_store_path(store)) :
		show(store);
	arca_store_close(store);
	return rc;
}

const cli_command cli_cmd_limit = {
	"limit", "show or set the store's size limit", limit_main, usage
};
