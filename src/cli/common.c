/* Helpers shared by the subcommands: errors, the store, formatting, JSON. */
#include "common.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void vmessage(const char *prefix, const char *fmt, va_list ap)
{
	/* One fprintf per line so concurrent writers do not interleave. */
	char line[4096], escaped[CLI_ESCAPE_SIZE(sizeof(line))];

	vsnprintf(line, sizeof(line), fmt, ap);
	/* Names, paths and library details may hold control bytes: the
	 * message stays one line and cannot drive the terminal. */
	fprintf(stderr, "arca: %s%s\n", prefix,
			cli_escape(escaped, sizeof(escaped), line));
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage("", fmt, ap);
	va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage("warning: ", fmt, ap);
	va_end(ap);
}

const char *cli_lib_detail(int code)
{
	const char *msg = arca_errmsg();

	return (msg != NULL && msg[0] != '\0') ? msg : arca_strerror(code);
}

void cli_lib_error(int code, const char *fmt, ...)
{
	char what[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	cli_error("%s: %s", what, cli_lib_detail(code));
}

int cli_exit_code(int code)
{
	switch (code) {
	case ARCA_OK: return CLI_EXIT_OK;
	case ARCA_ENOTFOUND: return CLI_EXIT_NOTFOUND;
	case ARCA_ECORRUPT: return CLI_EXIT_CORRUPT;
	case ARCA_EINVAL: return CLI_EXIT_USAGE;
	default: return CLI_EXIT_STORE;
	}
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (cmd != NULL)
		cli_error("%s: %s (see 'arca help %s')", cmd, msg, cmd);
	else
		cli_error("%s (see 'arca --help')", msg);
	return CLI_EXIT_USAGE;
}

int cli_bad_option(const char *cmd, int c, char **argv)
{
	/* getopt leaves optind just past the offending word. */
	const char *word = (optind > 0) ? argv[optind - 1] : "?";

	if (c == ':')
		return cli_usage_error(cmd, "option '%s' requires an argument",
				word);
	if (optopt != 0 && optopt < 0x100)
		return cli_usage_error(cmd, "unknown option '-%c'", optopt);
	return cli_usage_error(cmd, "unknown option '%s'", word);
}

int cli_parse_size(uint64_t *out, const char *text)
{
	return arca_parse_size(out, text) < 0 ? -1 : 0;
}

int cli_parse_duration(uint64_t *out_s, const char *text)
{
	uint64_t ms;

	if (arca_parse_duration_ms(&ms, text) < 0)
		return -1;
	*out_s = ms / 1000 + (ms % 1000 != 0);
	return 0;
}

int cli_parse_lock_timeout(unsigned int *ms, const char *text,
		const char *what)
{
	uint64_t v;

	if (arca_parse_duration_ms(&v, text) < 0 || v == 0 ||
	    v > 86400u * 1000u) {
		cli_error("%s '%s': expected a duration of more than 0 and at "
				"most 1d (30, 0.5, 30s, 10m, 2h)", what, text);
		return -1;
	}
	*ms = (unsigned int)v;
	return 0;
}

int cli_parse_link(unsigned int *mode, const char *text)
{
	arca_link_mode m;

	if (arca_link_mode_parse(&m, text) < 0) {
		cli_error("--link '%s': expected auto, reflink, copy, hardlink "
				"or symlink", text);
		return -1;
	}
	*mode = (unsigned int)m;
	return 0;
}

const char *cli_escape(char *buf, size_t len, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (len == 0)
		return buf;
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char e[5];
		size_t n = 0, i;

		switch (c) {
		case '\n': e[n++] = '\\'; e[n++] = 'n'; break;
		case '\t': e[n++] = '\\'; e[n++] = 't'; break;
		case '\r': e[n++] = '\\'; e[n++] = 'r'; break;
		case '\\': e[n++] = '\\'; e[n++] = '\\'; break;
		default:
			if (c < 0x20 || c == 0x7f) {
				e[n++] = '\\';
				e[n++] = 'x';
				e[n++] = hex[c >> 4];
				e[n++] = hex[c & 15];
			} else {
				e[n++] = (char)c;
			}
		}
		if (o + n >= len)
			break;
		for (i = 0; i < n; i++)
			buf[o++] = e[i];
	}
	buf[o] = '\0';
	return buf;
}

const char *cli_esc(const char *s)
{
	static char *ring[8];
	static size_t next;
	const char *p;
	size_t need;
	char *buf;

	if (s == NULL)
		return "";
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
			break;
	if (*p == '\0')
		return s;
	need = CLI_ESCAPE_SIZE(strlen(s));
	if ((buf = realloc(ring[next], need)) == NULL)
		return "";
	ring[next] = buf;
	next = (next + 1) % (sizeof(ring) / sizeof(*ring));
	return cli_escape(buf, need, s);
}


/* Once per command: the store is past 80% of its limit. */
static void warn_usage(arca_store *store)
{
	static int warned;
	uint64_t bytes = 0, max = 0;
	char limit[32];

	if (warned || arca_store_usage(&bytes, &max, store) < 0 || max == 0 ||
	    bytes <= max / 5 * 4 + max % 5 * 4 / 5)
		return;
	warned = 1;
	cli_human_size(limit, sizeof(limit), max);
	/* "10.0 GiB" reads better as "10 GiB". */
	{
		char *dot = strstr(limit, ".0 ");

		if (dot != NULL)
			memmove(dot, dot + 2, strlen(dot + 2) + 1);
	}
	cli_warn("the store is at %llu%% of its %s limit",
			(unsigned long long)(max ? (uint64_t)((double)bytes * 100.0 /
			(double)max) : 0), limit);
}

int cli_open_store(arca_store **out, const cli_global *g)
{
	arca_options opts = ARCA_OPTIONS_INIT;
	char *dir = NULL;
	int error;

	*out = NULL;
	if (g->store_dir != NULL) {
		if (g->store_dir[0] == '\0') {
			cli_error("store: empty directory name");
			return -1;
		}
		dir = strdup(g->store_dir);
		if (dir == NULL) {
			cli_error("store: %s", strerror(ENOMEM));
			return -1;
		}
	} else if ((error = arca_store_default_dir(&dir)) < 0) {
		cli_lib_error(error, "store: cannot choose a directory "
				"(set ARCA_DIR or use --store)");
		return -1;
	}
	/* Flags are the caller's options; config.yaml and the environment
	 * are the library's (docs/cli.md, "Configuration"). */
	if (g->lock_timeout_ms != 0) {
		opts.lock_timeout_ms = g->lock_timeout_ms;
		opts.given |= ARCA_OPT_LOCK_TIMEOUT;
	}
	if (g->link != 0) {
		opts.link = g->link;
		opts.given |= ARCA_OPT_LINK;
	}
	/* Resolved first so that a bad (or unreadable) setting is told
	 * apart from a store that cannot be opened: a usage error, whatever
	 * the command (docs/cli.md, "Configuration"). */
	if ((error = arca_options_resolve(&opts, dir, &opts)) < 0) {
		cli_error("%s", cli_lib_detail(error));
		free(dir);
		exit(CLI_EXIT_USAGE);
	}
	/* Remote tiers: the library's configuration (ARCA_TIERS,
	 * config.yaml's tiers:) unless --tier or --no-remote say otherwise,
	 * or the command works on the local tier alone. */
	opts.given &= ~(unsigned int)ARCA_OPT_TIERS;
	if (!g->use_tiers || g->no_remote) {
		opts.given |= ARCA_OPT_TIERS;
		opts.tiers = NULL;
		opts.n_tiers = 0;
	} else if (g->n_tiers > 0) {
		opts.given |= ARCA_OPT_TIERS;
		opts.tiers = g->tiers;
		opts.n_tiers = g->n_tiers;
	}
	if ((error = arca_store_open(out, dir, &opts)) < 0) {
		cli_lib_error(error, "store %s", dir);
	} else {
		arca_index_repair repair;

		/* A damaged index was rebuilt: the one line says what was
		 * lost; the command goes on. */
		if (arca_store_index_repair(&repair, *out) == 0 &&
				repair.repaired)
			cli_warn("%s", repair.message);
		warn_usage(*out);
		if (g->rehash)
			arca_store_set_digest_flags(*out, ARCA_DIGEST_REHASH);
	}
	free(dir);
	return error < 0 ? -1 : 0;
}

void cli_human_size(char *buf, size_t len, uint64_t bytes)
{
	static const char *units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
		return;
	}
	v /= 1024.0;
	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, units[u]);
}

void cli_human_duration(char *buf, size_t len, uint64_t ms)
{
	unsigned long long s = ms / 1000;

	if (ms < 1000)
		snprintf(buf, len, "%llu ms", (unsigned long long)ms);
	else if (ms < 60000)
		snprintf(buf, len, "%.1f s", (double)ms / 1000.0);
	else if (s < 3600)
		snprintf(buf, len, "%llum %02llus", s / 60, s % 60);
	else
		snprintf(buf, len, "%lluh %02llum", s / 3600, (s % 3600) / 60);
}

void cli_human_time(char *buf, size_t len, int64_t epoch)
{
	time_t t = (time_t)epoch;
	struct tm tm;

	if (epoch <= 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(buf, len, "-");
}

int cli_parse_digest(arca_digest *out, const char *hex, const char *what)
{
	if (strlen(hex) != ARCA_DIGEST_HEXLEN ||
	    arca_digest_from_hex(out, hex) < 0) {
		cli_error("%s '%s': not a digest (64 hex characters expected)",
				what, hex);
		return -1;
	}
	return 0;
}

int cli_write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

json_t *cli_json_u64(uint64_t n)
{
	if (n > (uint64_t)LLONG_MAX)
		n = (uint64_t)LLONG_MAX;
	return json_integer((json_int_t)n);
}

int cli_json_set(json_t *obj, const char *key, json_t *v)
{
	if (v == NULL)
		return -1;
	return json_object_set_new(obj, key, v) == 0 ? 0 : -1;
}

int cli_json_print(json_t *v)
{
	char *text = NULL;
	int error = CLI_EXIT_STORE;

	if (v == NULL) {
		cli_error("json: %s", strerror(ENOMEM));
		goto cleanup;
	}
	text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (text == NULL) {
		cli_error("json: %s", strerror(ENOMEM));
		goto cleanup;
	}
	if (fputs(text, stdout) == EOF || fputc('\n', stdout) == EOF ||
	    fflush(stdout) == EOF) {
		cli_error("stdout: %s", strerror(errno));
		goto cleanup;
	}
	error = CLI_EXIT_OK;

cleanup:
	free(text);
	json_decref(v);
	return error;
}

int cli_starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int cli_common_option(int *rc, cli_global *g, const char *cmd, int c,
		char **argv, void (*usage)(FILE *out))
{
	switch (c) {
	case CLI_OPT_STORE:
		g->store_dir = optarg;
		return 1;
	case CLI_OPT_REHASH:
		g->rehash = 1;
		return 1;
	case CLI_OPT_HELP:
		usage(stdout);
		*rc = CLI_EXIT_OK;
		return 0;
	case CLI_OPT_TIER:
	case CLI_OPT_NO_REMOTE:
		if (cli_tier_option(g, c, optarg) > 0)
			return 1;
		*rc = CLI_EXIT_USAGE;
		return 0;
	default:
		*rc = cli_bad_option(cmd, c, argv);
		return 0;
	}
}

int cli_tier_option(cli_global *g, int c, const char *arg)
{
	if (c == CLI_OPT_NO_REMOTE) {
		g->no_remote = 1;
		return 1;
	}
	if (c != CLI_OPT_TIER)
		return 0;
	if (g->n_tiers == CLI_MAX_TIERS) {
		cli_error("--tier: at most %d tiers", CLI_MAX_TIERS);
		return -1;
	}
	g->tiers[g->n_tiers++] = arg;
	return 1;
}
