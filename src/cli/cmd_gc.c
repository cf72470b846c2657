/* arca gc — collect expired entries, unreferenced blobs and leftovers. */
#include "common.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: arca gc [--store DIR] [--json]\n"
		"\n"
		"Remove what the store no longer needs, and report the bytes freed\n"
		"by kind:\n"
		"  expired       actions past their TTL, with the blobs only they\n"
		"                referenced\n"
		"  unreferenced  blobs no action or URL refers to, unless a live\n"
		"                writer pins them (is storing them now)\n"
		"  orphans       files in blobs/ without an index row\n"
		"  temp          files in tmp/ of writers that died\n"
		"  leases        lease files in leases/ nobody holds\n"
		"Unlike eviction, gc walks blobs/: run it now and then.\n"
		"\n"
		"Exit status: 0; 2 usage error; 5 store error.\n");
}

static int gc_main(int argc, char **argv, cli_global *g)
{
	enum { OPT_JSON = 0x200 };
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	arca_store *store = NULL;
	arca_gc_report r;
	int c, json = 0, error, rc;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			json = 1;
			break;
		default:
			if (!cli_common_option(&rc, g, "gc", c, argv, usage))
				return rc;
			break;
		}
	}
	if (optind < argc)
		return cli_usage_error("gc", "unexpected argument '%s'",
				argv[optind]);
	if (cli_open_store(&store, g) != 0)
		return CLI_EXIT_STORE;
	if ((error = arca_store_gc(&r, store)) < 0) {
		cli_lib_error(error, "gc");
		rc = cli_exit_code(error);
		goto cleanup;
	}
	if (json) {
		json_t *o = json_object();
		int err = o == NULL;

#define SET(k, v) (err |= o ? cli_json_set(o, k, cli_json_u64(v)) : -1)
		SET("expired_actions", r.expired_actions);
		SET("expired_bytes", r.expired_bytes);
		SET("unreferenced_blobs", r.unreferenced_blobs);
		SET("unreferenced_bytes", r.unreferenced_bytes);
		SET("orphan_files", r.orphan_files);
		SET("orphan_bytes", r.orphan_bytes);
		SET("temp_files", r.temp_files);
		SET("temp_bytes", r.temp_bytes);
		SET("stale_leases", r.stale_leases);
		SET("bytes_freed", r.expired_bytes + r.unreferenced_bytes +
				r.orphan_bytes + r.temp_bytes);
#undef SET
		if (err) {
			json_decref(o);
			o = NULL;
		}
		rc = cli_json_print(o);
	} else {
		char b[32];

#define LINE(label, n, what, bytes) do { \
		cli_human_size(b, sizeof(b), bytes); \
		printf("%-13s %llu %s, %s\n", label, (unsigned long long)(n), \
				what, b); \
	} while (0)
		LINE("expired", r.expired_actions, "actions", r.expired_bytes);
		LINE("unreferenced", r.unreferenced_blobs, "blobs",
				r.unreferenced_bytes);
		LINE("orphans", r.orphan_files, "files", r.orphan_bytes);
		LINE("temp", r.temp_files, "files", r.temp_bytes);
#undef LINE
		printf("%-13s %llu stale\n", "leases",
				(unsigned long long)r.stale_leases);
		cli_human_size(b, sizeof(b), r.expired_bytes +
				r.unreferenced_bytes + r.orphan_bytes + r.temp_bytes);
		printf("%-13s %s\n", "freed", b);
		rc = CLI_EXIT_OK;
	}
cleanup:
	arca_store_close(store);
	return rc;
}

const cli_command cli_cmd_gc = {
	"gc", "remove expired entries, unreferenced blobs and leftovers",
	gc_main, usage
};
