/* arca ls — list the action cache's entries. */
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One entry, copied out of the callback (its stage is only lent). */
typedef struct ls_entry {
	arca_digest key;
	char *stage;
	uint64_t size;
	int64_t created;
	int64_t last_access;
	uint64_t hits;
	uint64_t duration_ms;
} ls_entry;

typedef struct ls_list {
	ls_entry *items;
	size_t n, cap;
} ls_list;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: arca ls [--store DIR] [--stage NAME] [--json]\n"
		"\n"
		"List the cached actions, most recently created first: key prefix\n"
		"(12 hex characters, enough for 'arca rm'), stage, size of its\n"
		"outputs and captured streams, creation and last access time\n"
		"(local time), and how many times it was served from the cache.\n"
		"\n"
		"Options:\n"
		"  --stage NAME   only the actions of this stage\n"
		"  --json         a JSON array of objects: key (full), stage,\n"
		"                 size (bytes), created, last_access (seconds since\n"
		"                 the epoch), hits, duration_ms\n"
		"  --store DIR    the store directory\n"
		"  -h, --help     print this help\n"
		"\n"
		"Exit status: 0; 2 usage error; 5 store error.\n");
}

static int collect(const arca_action_info *info, void *ctx)
{
	ls_list *l = ctx;
	ls_entry *e;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		ls_entry *items = realloc(l->items, cap * sizeof(*items));

		if (items == NULL)
			return 1;
		l->items = items;
		l->cap = cap;
	}
	e = &l->items[l->n];
	e->stage = strdup(info->stage != NULL ? info->stage : "");
	if (e->stage == NULL)
		return 1;
	e->key = info->key;
	e->size = info->size;
	e->created = info->created;
	e->last_access = info->last_access;
	e->hits = info->hits;
	e->duration_ms = info->duration_ms;
	l->n++;
	return 0;
}

static int print_json(const ls_list *l)
{
	json_t *arr = json_array(), *obj;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	size_t i;
	int err = 0;

	for (i = 0; arr != NULL && i < l->n && err == 0; i++) {
		const ls_entry *e = &l->items[i];

		if ((obj = json_object()) == NULL) {
			err = -1;
			break;
		}
		arca_digest_to_hex(hex, &e->key);
		err |= cli_json_set(obj, "key", json_string(hex));
		err |= cli_json_set(obj, "stage", json_string(e->stage));
		err |= cli_json_set(obj, "size", cli_json_u64(e->size));
		err |= cli_json_set(obj, "created", json_integer(e->created));
		err |= cli_json_set(obj, "last_access",
				json_integer(e->last_access));
		err |= cli_json_set(obj, "hits", cli_json_u64(e->hits));
		err |= cli_json_set(obj, "duration_ms",
				cli_json_u64(e->duration_ms));
		if (json_array_append_new(arr, obj) < 0)
			err = -1;
	}
	if (err != 0) {
		json_decref(arr);
		arr = NULL;
	}
	return cli_json_print(arr);
}

static int print_text(const ls_list *l)
{
	char hex[ARCA_DIGEST_HEXLEN + 1], size[32], created[32], access[32];
	int stage_w = 5;
	size_t i;

	for (i = 0; i < l->n; i++) {
		/* Control bytes are printed escaped (cli_esc). */
		int w = (int)strlen(cli_esc(l->items[i].stage));

		if (w > stage_w)
			stage_w = w;
	}
	printf("%-12s  %-*s  %10s  %-16s  %-16s  %s\n", "KEY", stage_w, "STAGE",
			"SIZE", "CREATED", "LAST ACCESS", "HITS");
	for (i = 0; i < l->n; i++) {
		const ls_entry *e = &l->items[i];

		arca_digest_to_hex(hex, &e->key);
		cli_human_size(size, sizeof(size), e->size);
		cli_human_time(created, sizeof(created), e->created);
		cli_human_time(access, sizeof(access), e->last_access);
		printf("%.12s  %-*s  %10s  %-16s  %-16s  %llu\n", hex, stage_w,
				cli_esc(e->stage), size, created, access,
				(unsigned long long)e->hits);
	}
	if (fflush(stdout) == EOF) {
		cli_error("stdout: %s", strerror(errno));
		return CLI_EXIT_STORE;
	}
	return CLI_EXIT_OK;
}

static int ls_main(int argc, char **argv, cli_global *g)
{
	enum { OPT_STAGE = 0x200, OPT_JSON };
	static const struct option longopts[] = {
		{ "stage", required_argument, NULL, OPT_STAGE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	arca_store *store = NULL;
	ls_list list = { NULL, 0, 0 };
	const char *stage = NULL;
	int json = 0, c, error, rc = CLI_EXIT_STORE;
	size_t i;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_STAGE:
			stage = optarg;
			break;
		case OPT_JSON:
			json = 1;
			break;
		default:
			if (!cli_common_option(&rc, g, "ls", c, argv, usage))
				return rc;
			break;
		}
	}
	if (optind < argc) {
		return cli_usage_error("ls", "unexpected argument '%s'", argv[optind]);
	}
	if (cli_open_store(&store, g) != 0)
		return CLI_EXIT_STORE;

	error = arca_action_list(store, stage, collect, &list);
	if (error == 1) {
		cli_error("ls: %s", strerror(ENOMEM));
		goto cleanup;
	}
	if (error < 0) {
		cli_lib_error(error, "ls");
		goto cleanup;
	}
	rc = json ? print_json(&list) : print_text(&list);

cleanup:
	for (i = 0; i < list.n; i++)
		free(list.items[i].stage);
	free(list.items);
	arca_store_close(store);
	return rc;
}

const cli_command cli_cmd_ls = {
	"ls", "list cached actions", ls_main, usage
};
