/*
 * arca serve — the cache server (src/server/): bazel-remote's HTTP cache
 * protocol and ccache's HTTP storage over an ordinary arca store.
 * docs/server.md has every route; this file only reads the options.
 *
 * It is compiled into arca-serve, its own executable, which `arca serve`
 * runs (serve_exec.c): libmicrohttpd and its TLS stack are then loaded by
 * the server alone, not by every arca command (docs/server.md, "arca-serve").
 */
#include "common.h"
#include "../server/server.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int parse_count(unsigned int *out, const char *text, const char *what,
		unsigned long max)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(text, &end, 10);
	if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 ||
			n == 0 || n > max) {
		cli_usage_error("serve", "%s '%s': expected a number from 1 "
				"to %lu", what, text, max);
		return -1;
	}
	*out = (unsigned int)n;
	return 0;
}

static int serve_main(int argc, char **argv, cli_global *g)
{
	enum {
		OPT_LISTEN = 0x200, OPT_MAX_SIZE, OPT_MAX_BLOB, OPT_READ_ONLY,
		OPT_ACCESS_LOG, OPT_THREADS, OPT_MAX_CONN, OPT_TIMEOUT,
		OPT_SHUTDOWN, OPT_AUTH, OPT_UNAUTH_READS, OPT_TLS_CERT,
		OPT_TLS_KEY, OPT_PER_IP
	};
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "max-size", required_argument, NULL, OPT_MAX_SIZE },
		{ "max-blob-size", required_argument, NULL, OPT_MAX_BLOB },
		{ "read-only", no_argument, NULL, OPT_READ_ONLY },
		{ "access-log", required_argument, NULL, OPT_ACCESS_LOG },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "max-connections", required_argument, NULL, OPT_MAX_CONN },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN },
		{ "auth", required_argument, NULL, OPT_AUTH },
		{ "allow-unauthenticated-reads", no_argument, NULL,
			OPT_UNAUTH_READS },
		{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
		{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
		{ "max-connections-per-ip", required_argument, NULL, OPT_PER_IP },
		{ "store", required_argument, NULL, CLI_OPT_STORE },
		CLI_TIER_LONGOPTS,
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	srv_config cfg;
	arca_options opts = ARCA_OPTIONS_INIT;
	uint64_t v;
	char *dir = NULL;
	int c, error, rc;

	memset(&cfg, 0, sizeof(cfg));
	cfg.max_blob_size = SRV_DEFAULT_MAX_BLOB_SIZE;
	cfg.threads = 8;
	cfg.max_connections = 1024;
	cfg.conn_timeout_s = 60;
	cfg.conn_memory_limit = 64 * 1024;
	cfg.shutdown_timeout_ms = 10000;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			if (cfg.n_listen == SRV_MAX_LISTEN)
				return cli_usage_error("serve", "at most %d "
						"--listen", SRV_MAX_LISTEN);
			cfg.listen[cfg.n_listen++] = optarg;
			break;
		case OPT_MAX_SIZE:
			if (cli_parse_size(&opts.max_size, optarg) < 0)
				return cli_usage_error("serve", "--max-size: "
						"%s", arca_errmsg());
			opts.given |= ARCA_OPT_MAX_SIZE;
			break;
		case OPT_MAX_BLOB:
			if (cli_parse_size(&cfg.max_blob_size, optarg) < 0)
				return cli_usage_error("serve",
						"--max-blob-size: %s",
						arca_errmsg());
			break;
		case OPT_READ_ONLY:
			cfg.read_only = 1;
			break;
		case OPT_ACCESS_LOG:
			cfg.access_log = optarg;
			break;
		case OPT_THREADS:
			if (parse_count(&cfg.threads, optarg, "--threads",
					1024) < 0)
				return CLI_EXIT_USAGE;
			break;
		case OPT_MAX_CONN:
			if (parse_count(&cfg.max_connections, optarg,
					"--max-connections", 65536) < 0)
				return CLI_EXIT_USAGE;
			break;
		case OPT_TIMEOUT:
			if (arca_parse_duration_ms(&v, optarg) < 0 || v == 0 ||
					v > 86400000u)
				return cli_usage_error("serve", "--timeout '%s': "
						"expected a duration from 1s to "
						"1d", optarg);
			cfg.conn_timeout_s = (unsigned int)((v + 999) / 1000);
			break;
		case OPT_SHUTDOWN:
			if (arca_parse_duration_ms(&v, optarg) < 0 ||
					v > 3600000u)
				return cli_usage_error("serve",
						"--shutdown-timeout '%s': "
						"expected a duration up to 1h",
						optarg);
			cfg.shutdown_timeout_ms = v;
			break;
		case OPT_AUTH:
			cfg.auth_file = optarg;
			break;
		case OPT_UNAUTH_READS:
			cfg.allow_unauthenticated_reads = 1;
			break;
		case OPT_TLS_CERT:
			cfg.tls_cert = optarg;
			break;
		case OPT_TLS_KEY:
			cfg.tls_key = optarg;
			break;
		case OPT_PER_IP:
			if (parse_count(&cfg.max_conn_per_ip, optarg,
					"--max-connections-per-ip", 65536) < 0)
				return CLI_EXIT_USAGE;
			break;
		case CLI_OPT_TIER:
		case CLI_OPT_NO_REMOTE:
			if (cli_tier_option(g, c, optarg) < 0)
				return CLI_EXIT_USAGE;
			break;
		case CLI_OPT_STORE:
			g->store_dir = optarg;
			break;
		case CLI_OPT_HELP:
			cli_serve_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_bad_option("serve", c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("serve", "unexpected argument '%s'",
				argv[optind]);
	if (cfg.n_listen == 0)
		cfg.listen[cfg.n_listen++] = SRV_DEFAULT_LISTEN;
	if ((cfg.tls_cert == NULL) != (cfg.tls_key == NULL))
		return cli_usage_error("serve", "--tls-cert and --tls-key go "
				"together");
	if (cfg.allow_unauthenticated_reads && cfg.auth_file == NULL)
		return cli_usage_error("serve", "--allow-unauthenticated-reads "
				"needs --auth");
	if (g->store_dir != NULL) {
		if (g->store_dir[0] == '\0')
			return cli_usage_error("serve", "--store: empty "
					"directory name");
		if ((dir = strdup(g->store_dir)) == NULL) {
			cli_error("serve: %s", strerror(ENOMEM));
			return CLI_EXIT_STORE;
		}
	} else if ((error = arca_store_default_dir(&dir)) < 0) {
		cli_lib_error(error, "store: cannot choose a directory "
				"(set ARCA_DIR or use --store)");
		return CLI_EXIT_STORE;
	}
	/* A bad setting (config.yaml, environment) is a usage error, told
	 * apart from a store that cannot be opened. */
	if ((error = arca_options_resolve(&opts, dir, &opts)) < 0) {
		cli_error("%s", cli_lib_detail(error));
		free(dir);
		return CLI_EXIT_USAGE;
	}
	opts.read_only = cfg.read_only;
	/* The served store may have remote tiers of its own: config.yaml's
	 * or ARCA_TIERS, unless --tier or --no-remote say otherwise. */
	opts.given &= ~(unsigned int)ARCA_OPT_TIERS;
	if (g->no_remote) {
		opts.given |= ARCA_OPT_TIERS;
		opts.tiers = NULL;
		opts.n_tiers = 0;
	} else if (g->n_tiers > 0) {
		opts.given |= ARCA_OPT_TIERS;
		opts.tiers = g->tiers;
		opts.n_tiers = g->n_tiers;
	}
	cfg.store_dir = dir;
	cfg.opts = opts;
	rc = srv_run(&cfg);
	free(dir);
	return rc;
}

/* In arca-serve; the arca binary's `serve` is serve_exec.c's. */
const cli_command cli_cmd_serve = {
	"serve", CLI_SERVE_SUMMARY, serve_main, cli_serve_usage
};
