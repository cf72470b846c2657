/*
 * arca push — upload local action entries, with every blob they
 * reference, to the writable remote tiers (skipping the blobs a tier
 * already has: arca_tier_push()).
 */
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: arca push [KEY... | --all | --stage S] [--tier URL]...\n"
		"                 [--store DIR]\n"
		"\n"
		"Upload local action entries (a KEY is a key or a unique prefix of\n"
		"one, as 'arca ls' shows) with every blob they reference to each\n"
		"writable remote tier that is open, sending only the blobs the tier\n"
		"lacks. One line per tier at the end: entries, blobs sent and\n"
		"already there, bytes.\n"
		"\n"
		"Options:\n"
		"  --all         every local entry\n"
		"  --stage S     every local entry of stage S\n"
		"  --tier URL    the remote tiers (repeatable)\n"
		"  --store DIR   the store directory\n"
		"  -h, --help    print this help\n"
		"\n"
		"Exit status: 0; 2 usage error; 3 unknown key; 5 store error;\n"
		"6 no writable remote tier, or an entry could not be pushed.\n");
}

typedef struct keys {
	arca_digest *k;
	size_t n, cap;
} keys;

static int add_key(keys *ks, const arca_digest *d)
{
	if (ks->n == ks->cap) {
		size_t cap = ks->cap ? ks->cap * 2 : 64;
		arca_digest *p = realloc(ks->k, cap * sizeof(*p));

		if (p == NULL)
			return -1;
		ks->k = p;
		ks->cap = cap;
	}
	ks->k[ks->n++] = *d;
	return 0;
}

static int collect(const arca_action_info *info, void *ctx)
{
	return add_key(ctx, &info->key) < 0 ? 1 : 0;
}

static int push_main(int argc, char **argv, cli_global *g)
{
	enum { OPT_ALL = 0x200, OPT_STAGE };
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, OPT_ALL },
		{ "stage", required_argument, NULL, OPT_STAGE },
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		CLI_TIER_LONGOPTS,
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	arca_store *store = NULL;
	keys ks = { NULL, 0, 0 };
	const char *stage = NULL;
	int all = 0, c, error, rc = CLI_EXIT_STORE, n_writable = 0, failed = 0;
	size_t i, t, n_tiers;

	g->use_tiers = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_ALL:
			all = 1;
			break;
		case OPT_STAGE:
			stage = optarg;
			break;
		default:
			if (!cli_common_option(&rc, g, "push", c, argv, usage))
				return rc;
			break;
		}
	}
	if ((all != 0) + (stage != NULL) + (optind < argc) != 1)
		return cli_usage_error("push", "give KEY..., --all or --stage S "
				"(one of them)");
	if (cli_open_store(&store, g) != 0)
		return CLI_EXIT_STORE;
	if (all || stage) {
		error = arca_action_list(store, stage, collect, &ks);
		if (error != 0) {
			cli_lib_error(error < 0 ? error : ARCA_ENOMEM, "push");
			goto cleanup;
		}
	}
	for (i = (size_t)optind; i < (size_t)argc; i++) {
		arca_digest d;

		if ((error = arca_action_resolve(&d, store, argv[i])) < 0) {
			cli_lib_error(error, "push: key %s", cli_esc(argv[i]));
			rc = cli_exit_code(error);
			goto cleanup;
		}
		if (add_key(&ks, &d) < 0) {
			cli_error("push: %s", strerror(ENOMEM));
			goto cleanup;
		}
	}
	n_tiers = arca_store_tier_count(store);
	for (i = 0; i < arca_store_remote_count(store); i++) {
		arca_remote_info r;
		arca_transfer x = { 0, 0, 0, 0, 0 };
		char bytes[32];
		size_t k;

		if (arca_store_remote_info(&r, store, i) < 0 || r.tier == 0 ||
		    r.tier >= n_tiers || r.opts.read_only)
			continue;
		t = r.tier;
		n_writable++;
		for (k = 0; k < ks.n; k++)
			if ((error = arca_tier_push(&x, store, t, &ks.k[k])) < 0) {
				cli_lib_error(error, "push");
				failed = 1;
			}
		cli_human_size(bytes, sizeof(bytes), x.bytes);
		printf("%s: %llu entries pushed, %llu blobs sent (%s), %llu "
				"already there\n", cli_esc(r.url),
				(unsigned long long)x.actions,
				(unsigned long long)x.blobs, bytes,
				(unsigned long long)x.blobs_present);
	}
	if (n_writable == 0) {
		cli_error("push: no writable remote tier is open (see 'arca "
				"remote ls')");
		rc = CLI_EXIT_UNAVAILABLE;
		goto cleanup;
	}
	rc = failed ? CLI_EXIT_UNAVAILABLE : CLI_EXIT_OK;
cleanup:
	fflush(stdout);
	free(ks.k);
	arca_store_close(store);
	return rc;
}

const cli_command cli_cmd_push = {
	"push", "upload local entries to the remote tiers", push_main, usage
};
