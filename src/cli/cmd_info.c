/* arca info — where the store is and what it holds. */
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: arca info [--store DIR] [--json]\n"
		"\n"
		"Show the store's location, total size, number of actions and\n"
		"blobs, how many blobs live inside the index (inline) and how many\n"
		"as files (count and bytes), the inline threshold, the number\n"
		"of quarantined files, the effective size limit (the smaller of\n"
		"max_size and what the disk allows; see arca limit), the disk's\n"
		"free space and the reserve file (DIR/reserve, given up so that\n"
		"removals can commit on a full disk; not a blob).\n"
		"\n"
		"Options:\n"
		"  --json        one JSON object: location, bytes_total, actions,\n"
		"                blobs, inline {count, bytes}, files {count, bytes},\n"
		"                inline_threshold, quarantined, limit, max_size,\n"
		"                disk {size, free, reserve}, reserve_file\n"
		"  --store DIR   the store directory\n"
		"  -h, --help    print this help\n"
		"\n"
		"Exit status: 0; 2 usage error; 5 store error.\n");
}

static json_t *count_bytes(uint64_t count, uint64_t bytes)
{
	json_t *obj = json_object();
	int err = 0;

	if (obj == NULL)
		return NULL;
	err |= cli_json_set(obj, "count", cli_json_u64(count));
	err |= cli_json_set(obj, "bytes", cli_json_u64(bytes));
	if (err != 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

static int print_json(const char *location, const arca_store_info *info,
		const arca_store_space *sp)
{
	json_t *obj = json_object(), *disk;
	int err = 0;

	if (obj == NULL)
		return cli_json_print(NULL);
	disk = json_object();
	err |= cli_json_set(obj, "location", json_string(location));
	err |= cli_json_set(obj, "bytes_total", cli_json_u64(info->bytes_total));
	err |= cli_json_set(obj, "actions", cli_json_u64(info->n_actions));
	err |= cli_json_set(obj, "blobs", cli_json_u64(info->n_blobs));
	err |= cli_json_set(obj, "inline",
			count_bytes(info->n_inline, info->bytes_inline));
	err |= cli_json_set(obj, "files",
			count_bytes(info->n_files, info->bytes_files));
	err |= cli_json_set(obj, "inline_threshold",
			cli_json_u64(info->inline_threshold));
	err |= cli_json_set(obj, "quarantined", cli_json_u64(info->n_quarantined));
	err |= cli_json_set(obj, "limit", cli_json_u64(sp->limit));
	err |= cli_json_set(obj, "max_size", cli_json_u64(sp->max_size));
	if (disk != NULL) {
		err |= cli_json_set(disk, "size", cli_json_u64(sp->fs_size));
		err |= cli_json_set(disk, "free", cli_json_u64(sp->fs_free));
		err |= cli_json_set(disk, "reserve", cli_json_u64(sp->disk_reserve));
	}
	err |= cli_json_set(obj, "disk", disk);
	err |= cli_json_set(obj, "reserve_file", cli_json_u64(sp->reserve_file));
	if (err != 0) {
		json_decref(obj);
		obj = NULL;
	}
	return cli_json_print(obj);
}

static int print_text(const char *location, const arca_store_info *info,
		const arca_store_space *sp)
{
	char total[32], in[32], files[32], thr[32], a[32], b[32];

	cli_human_size(total, sizeof(total), info->bytes_total);
	cli_human_size(in, sizeof(in), info->bytes_inline);
	cli_human_size(files, sizeof(files), info->bytes_files);
	cli_human_size(thr, sizeof(thr), info->inline_threshold);
	printf("location:          %s\n", cli_esc(location));
	printf("total size:        %s (%llu bytes)\n", total,
			(unsigned long long)info->bytes_total);
	printf("actions:           %llu\n", (unsigned long long)info->n_actions);
	printf("blobs:             %llu\n", (unsigned long long)info->n_blobs);
	printf("  inline:          %llu (%s)\n",
			(unsigned long long)info->n_inline, in);
	printf("  files:           %llu (%s)\n",
			(unsigned long long)info->n_files, files);
	printf("inline threshold:  %s (%llu bytes)\n", thr,
			(unsigned long long)info->inline_threshold);
	printf("quarantined:       %llu\n",
			(unsigned long long)info->n_quarantined);
	if (sp->limit == 0) {
		printf("limit:             none\n");
	} else {
		cli_human_size(a, sizeof(a), sp->limit);
		printf("limit:             %s (%llu bytes)%s\n", a,
				(unsigned long long)sp->limit,
				sp->limit == sp->max_size ? "" : ", by the disk");
	}
	cli_human_size(a, sizeof(a), sp->fs_free);
	cli_human_size(b, sizeof(b), sp->disk_reserve);
	printf("disk free:         %s (%s kept free)\n", a,
			sp->disk_reserve ? b : "none");
	cli_human_size(a, sizeof(a), sp->reserve_file);
	printf("reserve file:      %s\n", sp->reserve_file ? a :
			"absent (given up, read-only, or no room)");
	if (fflush(stdout) == EOF) {
		cli_error("stdout: %s", strerror(errno));
		return CLI_EXIT_STORE;
	}
	return CLI_EXIT_OK;
}

static int info_main(int argc, char **argv, cli_global *g)
{
	enum { OPT_JSON = 0x200 };
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	arca_store *store = NULL;
	arca_store_info info;
	arca_store_space sp;
	int json = 0, c, error, rc = CLI_EXIT_STORE;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			json = 1;
			break;
		default:
			if (!cli_common_option(&rc, g, "info", c, argv, usage))
				return rc;
			break;
		}
	}
	if (optind < argc) {
		return cli_usage_error("info", "unexpected argument '%s'", argv[optind]);
	}
	if (cli_open_store(&store, g) != 0)
		return CLI_EXIT_STORE;
	memset(&info, 0, sizeof(info));
	if ((error = arca_store_get_info(&info, store)) < 0 ||
	    (error = arca_store_get_space(&sp, store)) < 0) {
		cli_lib_error(error, "info");
		goto cleanup;
	}
	rc = json ? print_json(arca_store_path(store), &info, &sp)
		: print_text(arca_store_path(store), &info, &sp);

cleanup:
	arca_store_close(store);
	return rc;
}

const cli_command cli_cmd_info = {
	"info", "show the store's location and contents", info_main, usage
};
