/*
 * The stage runner (include/arca/stage.h): the action key of a stage,
 * its outputs restored from the cache (a hit), or its command run with
 * its output passed through live while captured, and the result stored
 * when it succeeded and produced every declared output (a miss).
 *
 * Paths: the working directory is resolved once, at prepare, to a path
 * (a dirfd through /proc/self/fd); every relative input and output is
 * joined to it, and the command is started there by posix_spawn. The
 * caller's current directory is never changed.
 *
 * Single-flight goes through arca__single_flight() (lease.c), the same
 * code as arca_get_or_compute().
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, mkostemp */
#endif
#include "arca/arca.h"

#include "action.h"
#include "internal.h"
#include "lease.h"
#include "spawn.h"
#include "fsutil.h"
#include "stat_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

struct arca_stage {
	arca_stage_spec spec;    /* a copy; pointers borrowed */
	arca_store *store;
	arca_action *action;
	arca_digest key;
	char key_hex[ARCA_DIGEST_HEXLEN + 1];
	char *base;              /* the working directory; NULL: the cwd */
	char *cmd_path;          /* argv[0] found, or NULL until needed */
	char **outputs;          /* normalised, n_outputs of them */
	/* Streams of the last restored hit (arca_stage_replay()). */
	arca_buf out_buf, err_buf;
	arca_digest replay_key;
	int have_streams;
	/* ARCA_STAGE_STDIN_INPUT: stdin copied into the store's tmp/ (held
	 * open and flocked so that a sweep leaves it alone), its digest. */
	int stdin_tmp_fd;
	char *stdin_path;
	arca_digest stdin_digest;
	/* Where the last prepare and run spent their time (ns). */
	arca_stage_timings t;
};

/* CLOCK_MONOTONIC in ns: the timings of arca_stage_get_timings(). */
static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- errors --------------------------------------------------------- */

/*
 * Record "<prefix>: <detail>" where detail is the current arca_errmsg()
 * (copied first: arca__error() writes the same buffer) or, when empty,
 * arca_strerror(code). Returns code.
 */
static int wrap_error(int code, const char *fmt, ...) ARCA__PRINTF(2, 3);

static int wrap_error(int code, const char *fmt, ...)
{
	char detail[1024], prefix[1024];
	const char *msg = arca_errmsg();
	va_list ap;

	snprintf(detail, sizeof(detail), "%s",
			msg != NULL && msg[0] != '\0' ? msg : arca_strerror(code));
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	return arca__error(code, "%s: %s", prefix, detail);
}

/* The words `arca run` has always used for a file it cannot read. */
static const char *file_detail(int code)
{
	switch (code) {
	case ARCA_ENOTFOUND: return strerror(ENOENT);
	case ARCA_EPERM: return strerror(EACCES);
	case ARCA_EINVAL: return "not a regular file";
	default: {
		const char *msg = arca_errmsg();

		return msg != NULL && msg[0] != '\0' ? msg : arca_strerror(code);
	}
	}
}

/* ---- paths ------------------------------------------------------------ */

int arca_stage_normalize_path(char **out, const char *path)
{
	size_t i = 0, n = 0, len;
	char *norm;

	*out = NULL;
	if (path == NULL || path[0] == '\0')
		return arca__error(ARCA_EINVAL, "empty path");
	len = strlen(path);
	if ((norm = malloc(len + 2)) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	if (path[0] == '/')
		norm[n++] = '/';
	while (i < len) {
		size_t start = i, clen;

		while (i < len && path[i] != '/')
			i++;
		clen = i - start;
		if (clen > 0 && !(clen == 1 && path[start] == '.')) {
			if (n > 0 && norm[n - 1] != '/')
				norm[n++] = '/';
			memcpy(norm + n, path + start, clen);
			n += clen;
		}
		i++; /* the slash */
	}
	if (n == 0)
		norm[n++] = '.';
	norm[n] = '\0';
	*out = norm;
	return 0;
}

/* base/rel, or rel when it is absolute or base is NULL; malloc'd. */
static char *join(const char *base, const char *rel)
{
	char *out = NULL;

	if (base == NULL || rel[0] == '/')
		return arca__strdup(rel);
	if (asprintf(&out, "%s/%s", base, rel) < 0)
		return NULL;
	return out;
}

/* 0 executable regular file; ARCA_EPERM exists but unusable; ARCA_ENOTFOUND. */
static int check_executable(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return (errno == ENOENT || errno == ENOTDIR) ? ARCA_ENOTFOUND :
			ARCA_EPERM;
	if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0)
		return ARCA_EPERM;
	return 0;
}

int arca_stage_find_command(char **out, const char *cmd, const char *dir)
{
	const char *path = getenv("PATH");
	const char *p, *end;
	char *candidate = NULL, *elem = NULL;
	int seen_noexec = 0, rc;

	*out = NULL;
	if (cmd == NULL || cmd[0] == '\0')
		return arca__error(ARCA_EINVAL, "empty command name");
	if (strchr(cmd, '/') != NULL) {
		if ((candidate = join(dir, cmd)) == NULL)
			return arca__error(ARCA_ENOMEM, "out of memory");
		rc = check_executable(candidate);
		if (rc != 0) {
			free(candidate);
			return arca__error(rc, rc == ARCA_ENOTFOUND ?
					"command not found: %s" :
					"command not executable: %s", cmd);
		}
		*out = candidate;
		return 0;
	}

	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path;; p = end + 1) {
		size_t dirlen;
		struct stat st;

		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		dirlen = (size_t)(end - p);
		/* An empty element means the current directory. */
		if (dirlen == 0)
			elem = arca__strdup(".");
		else
			elem = strndup(p, dirlen);
		if (elem == NULL)
			return arca__error(ARCA_ENOMEM, "out of memory");
		if (asprintf(&candidate, "%s/%s", elem, cmd) < 0) {
			free(elem);
			return arca__error(ARCA_ENOMEM, "out of memory");
		}
		free(elem);
		elem = NULL;
		if (candidate[0] != '/' && dir != NULL) {
			char *joined = join(dir, candidate);

			free(candidate);
			if ((candidate = joined) == NULL)
				return arca__error(ARCA_ENOMEM, "out of memory");
		}
		rc = check_executable(candidate);
		if (rc == 0) {
			*out = candidate;
			return 0;
		}
		/* A directory of that name is not a near miss. */
		if (rc == ARCA_EPERM && stat(candidate, &st) == 0 &&
		    S_ISREG(st.st_mode))
			seen_noexec = 1;
		free(candidate);
		candidate = NULL;
		if (*end == '\0')
			break;
	}
	if (seen_noexec)
		return arca__error(ARCA_EPERM, "command not executable: %s", cmd);
	return arca__error(ARCA_ENOTFOUND, "command not found: %s", cmd);
}

/* ---- inputs ------------------------------------------------------------ */

/*
 * Digest a regular file through the store's stat cache (an unchanged
 * file is not read: stat_cache.c); arca_store_digest_file() refuses
 * anything else before reading it (a FIFO cannot block). Returns
 * ARCA_ENOTFOUND, ARCA_EPERM, ARCA_EINVAL (not a regular file), ARCA_EIO
 * (also: the file changed while it was read).
 */
static int digest_input(arca_digest *out, arca_store *store,
		const char *path, arca_progress_fn fn, void *ctx)
{
	return arca_store_digest_file(out, NULL, store, path, 0, fn, ctx);
}

/* ---- building the action ---------------------------------------------- */

static int set_failure(arca_stage_failure *failure, arca_stage_failure f,
		int error)
{
	if (failure != NULL)
		*failure = f;
	return error;
}

/* Failures of the arca_action_* calls: given twice, or a bad value. */
static int action_failure(arca_stage_failure *failure, int error,
		const char *what, const char *name)
{
	if (error == ARCA_EEXISTS)
		error = arca__error(ARCA_EEXISTS, "%s '%s': given more than once",
				what, name);
	else
		error = wrap_error(error, "%s '%s'", what, name);
	return set_failure(failure, error == ARCA_ENOMEM ?
			ARCA_STAGE_FAILURE_SYSTEM : ARCA_STAGE_FAILURE_SPEC, error);
}

static int add_param(arca_stage_failure *failure, arca_action *action,
		const arca_stage_param *p, int secret)
{
	int error;

	if (p->name == NULL || p->value == NULL)
		return set_failure(failure, ARCA_STAGE_FAILURE_SPEC,
				arca__error(ARCA_EINVAL, "%s without a name or value",
				secret ? "secret param" : "param"));
	/* The absent-optional-input marker is the runner's alone. */
	if (strncmp(p->name, ARCA_STAGE_ABSENT_PARAM,
			strlen(ARCA_STAGE_ABSENT_PARAM)) == 0)
		return set_failure(failure, ARCA_STAGE_FAILURE_SPEC,
				arca__error(ARCA_EINVAL, "%s '%s': names starting "
				"with '%s' are reserved for absent optional inputs",
				secret ? "secret param" : "param", p->name,
				ARCA_STAGE_ABSENT_PARAM));
	error = secret ? arca_action_add_secret_param(action, p->name, p->value)
		: arca_action_add_param(action, p->name, p->value);
	if (error < 0)
		return action_failure(failure, error,
				secret ? "secret param" : "param", p->name);
	return 0;
}

/*
 * Add input i of the spec (of optional_inputs when optional) to action.
 * An optional input whose file does not exist (ENOENT) is added as the
 * param ARCA_STAGE_ABSENT_PARAM + its normalised name = "1"; any other
 * failure to read it is the error a required input gets.
 */
static int add_input(arca_stage_failure *failure, arca_action *action,
		const arca_stage *st, const arca_stage_input *in, size_t i,
		int optional)
{
	const arca_stage_spec *o = &st->spec;
	const char *given = in->name != NULL ? in->name : in->path;
	const char *what = optional ? "optional input" : "input";
	struct stat sb;
	arca_digest d;
	char *name = NULL, *path = NULL, *marker = NULL;
	int absent = 0, error;

	if (given == NULL || (in->path == NULL && in->digest == NULL)) {
		error = set_failure(failure, ARCA_STAGE_FAILURE_SPEC,
				arca__error(ARCA_EINVAL, "%s %zu has no path", what,
				i));
		goto cleanup;
	}
	if (in->digest != NULL) {
		d = *in->digest;
	} else {
		if ((path = join(st->base, in->path)) == NULL) {
			error = set_failure(failure, ARCA_STAGE_FAILURE_SYSTEM,
					arca__error(ARCA_ENOMEM, "out of memory"));
			goto cleanup;
		}
		/* Only "no such file" is absent: a file that is there but
		 * cannot be read must not pass for one that is not. */
		absent = optional && stat(path, &sb) < 0 && errno == ENOENT;
		error = absent ? 0 : digest_input(&d, st->store, path,
				o->hash_progress, o->hash_progress_ctx);
		if (error < 0) {
			error = arca__error(error, "input '%s': %s", in->path,
					file_detail(error));
			set_failure(failure, error == ARCA_ENOMEM ?
					ARCA_STAGE_FAILURE_SYSTEM :
					ARCA_STAGE_FAILURE_INPUT, error);
			goto cleanup;
		}
	}
	if (strstr(given, "://") != NULL) {
		name = arca__strdup(given);
		error = name == NULL ? arca__error(ARCA_ENOMEM, "out of memory") :
			0;
	} else {
		error = arca_stage_normalize_path(&name, given);
	}
	if (error < 0) {
		action_failure(failure, error, "input", given);
		goto cleanup;
	}
	if (strcmp(name, ARCA_STAGE_STDIN_NAME) == 0) {
		error = set_failure(failure, ARCA_STAGE_FAILURE_SPEC,
				arca__error(ARCA_EINVAL, "input '%s': the name is "
				"reserved for the standard input", given));
		goto cleanup;
	}
	if (absent) {
		if ((marker = malloc(sizeof(ARCA_STAGE_ABSENT_PARAM) +
				strlen(name))) == NULL) {
			error = set_failure(failure, ARCA_STAGE_FAILURE_SYSTEM,
					arca__error(ARCA_ENOMEM, "out of memory"));
			goto cleanup;
		}
		sprintf(marker, "%s%s", ARCA_STAGE_ABSENT_PARAM, name);
		/* Given twice, the marker is too: say it of the input. */
		error = arca_action_add_param(action, marker, "1");
	} else {
		error = arca_action_add_input(action, name, &d);
	}
	if (error < 0) {
		action_failure(failure, error, "input", name);
		goto cleanup;
	}
	error = 0;

cleanup:
	free(marker);
	free(name);
	free(path);
	return error;
}

/*
 * An absent optional input must not share its name with an input that
 * is present: the key would hold both the file and "it is not there".
 * Run before the spec's params are added, so every marker param is one
 * add_input() made.
 */
static int check_absent_unique(arca_stage_failure *failure,
		const arca_action *action)
{
	const size_t plen = strlen(ARCA_STAGE_ABSENT_PARAM);
	size_t i, j;
	int error = 0;

	for (i = 0; error == 0 && i < action->n_params; i++) {
		const char *name = action->params[i].name;

		if (strncmp(name, ARCA_STAGE_ABSENT_PARAM, plen) != 0)
			continue;
		for (j = 0; error == 0 && j < action->n_inputs; j++)
			if (strcmp(action->inputs[j].name, name + plen) == 0)
				error = set_failure(failure,
						ARCA_STAGE_FAILURE_SPEC,
						arca__error(ARCA_EEXISTS, "input '%s': "
						"given more than once", name + plen));
	}
	return error;
}

/* The action and its key. tool is the executable identifying the tool,
 * or NULL when tool_version names it. */
static int build_action(arca_stage_failure *failure, arca_stage *st,
		const char *tool)
{
	const arca_stage_spec *o = &st->spec;
	arca_action *action = NULL;
	arca_digest d;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	size_t i;
	int error;

	if ((error = arca_action_new(&action, o->stage)) < 0) {
		error = wrap_error(error, "stage '%s'", o->stage ? o->stage : "");
		set_failure(failure, ARCA_STAGE_FAILURE_SPEC, error);
		goto cleanup;
	}
	for (i = 0; o->argv != NULL && o->argv[i] != NULL; i++) {
		if ((error = arca_action_add_arg(action, o->argv[i])) < 0) {
			action_failure(failure, error, "argument", o->argv[i]);
			goto cleanup;
		}
	}
	for (i = 0; i < o->n_inputs; i++)
		if ((error = add_input(failure, action, st, &o->inputs[i], i,
				0)) < 0)
			goto cleanup;
	for (i = 0; i < o->n_optional_inputs; i++)
		if ((error = add_input(failure, action, st,
				&o->optional_inputs[i], i, 1)) < 0)
			goto cleanup;
	if ((error = check_absent_unique(failure, action)) < 0)
		goto cleanup;
	if (st->stdin_path != NULL &&
	    (error = arca_action_add_input(action, ARCA_STAGE_STDIN_NAME,
			&st->stdin_digest)) < 0) {
		action_failure(failure, error, "input", ARCA_STAGE_STDIN_NAME);
		goto cleanup;
	}
	for (i = 0; i < o->n_params; i++)
		if ((error = add_param(failure, action, &o->params[i], 0)) < 0)
			goto cleanup;
	for (i = 0; i < o->n_secret_params; i++)
		if ((error = add_param(failure, action, &o->secret_params[i],
				1)) < 0)
			goto cleanup;
	for (i = 0; i < o->n_env; i++) {
		const char *var = o->env[i];

		if (var == NULL || (error = arca_action_add_env(action, var,
				getenv(var))) < 0) {
			if (var == NULL)
				error = ARCA_EINVAL;
			action_failure(failure, error, "env", var ? var : "");
			goto cleanup;
		}
	}
	for (i = 0; i < o->n_outputs; i++) {
		if ((error = arca_action_add_output(action, st->outputs[i])) < 0) {
			action_failure(failure, error, "output", o->outputs[i]);
			goto cleanup;
		}
	}
	if (tool == NULL) {
		error = arca_action_set_tool(action, ARCA_TOOL_VERSION,
				o->tool_version);
	} else {
		/* Through the stat cache: an unchanged executable is not
		 * read again (a compiler driver is larger than most inputs). */
		if ((error = digest_input(&d, st->store, tool, NULL,
				NULL)) < 0) {
			error = arca__error(error, "command '%s': cannot read it to "
					"identify the tool (%s); use --tool-version",
					tool, file_detail(error));
			set_failure(failure, ARCA_STAGE_FAILURE_TOOL, error);
			goto cleanup;
		}
		arca_digest_to_hex(hex, &d);
		error = arca_action_set_tool(action, ARCA_TOOL_DIGEST, hex);
	}
	if (error < 0) {
		error = wrap_error(error, "tool identity");
		set_failure(failure, ARCA_STAGE_FAILURE_SPEC, error);
		goto cleanup;
	}
	if ((error = arca_action_key(&st->key, action)) < 0) {
		error = wrap_error(error, "action key");
		set_failure(failure, ARCA_STAGE_FAILURE_SYSTEM, error);
		goto cleanup;
	}
	arca_digest_to_hex(st->key_hex, &st->key);
	st->action = action;
	action = NULL;
	error = 0;

cleanup:
	arca_action_free(action);
	return error;
}

/* The working directory as a path (NULL: the current directory). */
static int resolve_workdir(arca_stage_failure *failure, arca_stage *st)
{
	const arca_stage_spec *o = &st->spec;
	struct stat sb;
	char link[64], *buf = NULL;
	ssize_t n;

	if (o->workdir != NULL) {
		if (stat(o->workdir, &sb) < 0)
			return set_failure(failure, ARCA_STAGE_FAILURE_WORKDIR,
					arca__error(arca__errno_code(errno),
					"directory '%s': %s", o->workdir,
					strerror(errno)));
		if (!S_ISDIR(sb.st_mode))
			return set_failure(failure, ARCA_STAGE_FAILURE_WORKDIR,
					arca__error(ARCA_EINVAL, "directory '%s': %s",
					o->workdir, strerror(ENOTDIR)));
		/* Absolute, so that it means the same wherever it is used. */
		if (o->workdir[0] == '/')
			st->base = arca__strdup(o->workdir);
		else if ((st->base = realpath(o->workdir, NULL)) == NULL)
			return set_failure(failure, ARCA_STAGE_FAILURE_WORKDIR,
					arca__error(arca__errno_code(errno),
					"directory '%s': %s", o->workdir,
					strerror(errno)));
		if (st->base == NULL)
			return set_failure(failure, ARCA_STAGE_FAILURE_SYSTEM,
					arca__error(ARCA_ENOMEM, "out of memory"));
		return 0;
	}
	if (o->workdir_fd < 0)
		return 0;
	if (fstat(o->workdir_fd, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return set_failure(failure, ARCA_STAGE_FAILURE_WORKDIR,
				arca__error(ARCA_EINVAL, "working directory fd %d is "
				"not an open directory", o->workdir_fd));
	snprintf(link, sizeof(link), "/proc/self/fd/%d", o->workdir_fd);
	if ((buf = malloc(PATH_MAX + 1)) == NULL)
		return set_failure(failure, ARCA_STAGE_FAILURE_SYSTEM,
				arca__error(ARCA_ENOMEM, "out of memory"));
	n = readlink(link, buf, PATH_MAX);
	if (n <= 0 || buf[0] != '/') {
		free(buf);
		return set_failure(failure, ARCA_STAGE_FAILURE_WORKDIR,
				arca__error(ARCA_EIO, "working directory fd %d: "
				"cannot find its path", o->workdir_fd));
	}
	buf[n] = '\0';
	st->base = buf;
	return 0;
}

/*
 * ARCA_STAGE_STDIN_INPUT: copy the spec's stdin_fd to its end into a
 * temporary file in the store's tmp/, hashing it on the way (-1: empty).
 */
static int read_stdin(arca_stage_failure *failure, arca_stage *st)
{
	arca__hasher *h = NULL;
	unsigned char *buf = NULL;
	const size_t bufsize = 1 << 16;
	char *dir = NULL;
	int fd = st->spec.stdin_fd, error;
	ssize_t n;

	if ((dir = arca__path_join(arca_store_path(st->store), "tmp")) == NULL ||
	    (buf = malloc(bufsize)) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((error = arca__tmpfile(&st->stdin_tmp_fd, &st->stdin_path, dir,
			"stdin-", 1)) < 0) {
		wrap_error(error, "standard input");
		goto cleanup;
	}
	if ((error = arca__hasher_new(&h)) < 0)
		goto cleanup;
	while (fd >= 0) {
		n = read(fd, buf, bufsize);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error = arca__error(arca__errno_code(errno),
					"standard input: cannot read it: %s",
					strerror(errno));
			goto cleanup;
		}
		if (n == 0)
			break;
		if ((error = arca__hasher_update(h, buf, (size_t)n)) < 0)
			goto cleanup;
		if (arca__spawn_write_all(st->stdin_tmp_fd, buf, (size_t)n) < 0) {
			error = arca__error(arca__errno_code(errno),
					"standard input: cannot copy it to %s: %s",
					st->stdin_path, strerror(errno));
			goto cleanup;
		}
	}
	error = arca__hasher_final(h, &st->stdin_digest);

cleanup:
	if (error < 0)
		set_failure(failure, error == ARCA_ENOMEM ?
				ARCA_STAGE_FAILURE_SYSTEM : ARCA_STAGE_FAILURE_INPUT,
				error);
	arca__hasher_free(h);
	free(buf);
	free(dir);
	return error;
}

/* An output that is also a file input would be removed before the
 * command runs (stale outputs are): refuse it. */
static int check_output_not_input(arca_stage_failure *failure,
		const arca_stage *st)
{
	const arca_stage_spec *o = &st->spec;
	char *norm = NULL;
	size_t i, j;
	int error;

	/* An optional input too: when present it is read like any other. */
	for (i = 0; i < o->n_inputs + o->n_optional_inputs; i++) {
		const arca_stage_input *in = i < o->n_inputs ? &o->inputs[i] :
			&o->optional_inputs[i - o->n_inputs];

		if (in->path == NULL || in->digest != NULL || in->path[0] == '\0')
			continue;
		if ((error = arca_stage_normalize_path(&norm, in->path)) < 0)
			return set_failure(failure, ARCA_STAGE_FAILURE_SYSTEM,
					error);
		for (j = 0; j < o->n_outputs; j++) {
			if (strcmp(norm, st->outputs[j]) == 0) {
				free(norm);
				return set_failure(failure, ARCA_STAGE_FAILURE_SPEC,
						arca__error(ARCA_EINVAL, "output '%s': "
						"also an input; a stage cannot write its "
						"own input (declared outputs are removed "
						"before the command runs)",
						st->outputs[j]));
			}
		}
		free(norm);
		norm = NULL;
	}
	return 0;
}

int arca_stage_prepare(arca_stage **out, arca_stage_failure *failure,
		arca_store *store, const arca_stage_spec *spec)
{
	arca_stage *st = NULL;
	char *tool = NULL;
	size_t i;
	int error;

	*out = NULL;
	set_failure(failure, ARCA_STAGE_FAILURE_NONE, 0);
	if (spec == NULL || spec->version < 1 ||
	    spec->version > ARCA_STAGE_SPEC_VERSION)
		return set_failure(failure, ARCA_STAGE_FAILURE_SPEC,
				arca__error(ARCA_EINVAL, "arca_stage_spec version %u "
				"is not supported (expected 1 to %u)",
				spec ? spec->version : 0, ARCA_STAGE_SPEC_VERSION));
	if (spec->stage == NULL || spec->stage[0] == '\0')
		return set_failure(failure, ARCA_STAGE_FAILURE_SPEC,
				arca__error(ARCA_EINVAL, "empty stage name"));
	if ((spec->argv == NULL || spec->argv[0] == NULL) &&
	    spec->tool_version == NULL)
		return set_failure(failure, ARCA_STAGE_FAILURE_SPEC,
				arca__error(ARCA_EINVAL, "stage '%s': no command and "
				"no tool version", spec->stage));
	if (store == NULL && (!(spec->flags & ARCA_STAGE_NO_CACHE) ||
			(spec->flags & ARCA_STAGE_STDIN_INPUT)))
		return set_failure(failure, ARCA_STAGE_FAILURE_SPEC,
				arca__error(ARCA_EINVAL, "stage '%s': no store",
				spec->stage));
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return set_failure(failure, ARCA_STAGE_FAILURE_SYSTEM,
				arca__error(ARCA_ENOMEM, "out of memory"));
	st->stdin_tmp_fd = -1;
	/* An older spec ends before the fields of later versions: copy what
	 * it has (the rest of st->spec is zero: no optional inputs). */
	if (spec->version >= 4) {
		st->spec = *spec;
	} else if (spec->version == 3) {
		memcpy(&st->spec, spec, offsetof(arca_stage_spec, link));
	} else if (spec->version == 2) {
		memcpy(&st->spec, spec, offsetof(arca_stage_spec,
				optional_inputs));
	} else {
		memcpy(&st->spec, spec, offsetof(arca_stage_spec, stdin_fd));
		st->spec.stdin_fd = 0;
	}
	st->spec.version = ARCA_STAGE_SPEC_VERSION;
	st->store = store;
	if (st->spec.link > ARCA_LINK_SYMLINK) {
		error = set_failure(failure, ARCA_STAGE_FAILURE_SPEC,
				arca__error(ARCA_EINVAL, "stage '%s': link mode %u "
				"is not one of arca_link_mode's", spec->stage,
				st->spec.link));
		goto cleanup;
	}
	st->t.key_ns = mono_ns();
	/* Store policy: without a TTL of its own, a result takes the store's
	 * default (config.yaml `ttl`, ARCA_TTL), whoever runs the stage. */
	if (st->spec.ttl_s == 0 && store != NULL) {
		arca_options so;

		if (arca_store_get_options(&so, store) == 0)
			st->spec.ttl_s = so.default_ttl_s;
	}
	if ((error = resolve_workdir(failure, st)) < 0)
		goto cleanup;
	if ((st->outputs = calloc(spec->n_outputs + 1,
			sizeof(*st->outputs))) == NULL) {
		error = set_failure(failure, ARCA_STAGE_FAILURE_SYSTEM,
				arca__error(ARCA_ENOMEM, "out of memory"));
		goto cleanup;
	}
	for (i = 0; i < spec->n_outputs; i++) {
		const char *o = spec->outputs[i];

		if (o == NULL || o[0] == '\0') {
			error = set_failure(failure, ARCA_STAGE_FAILURE_SPEC,
					arca__error(ARCA_EINVAL, "output: empty path"));
			goto cleanup;
		}
		if ((error = arca_stage_normalize_path(&st->outputs[i], o)) < 0) {
			set_failure(failure, ARCA_STAGE_FAILURE_SYSTEM, error);
			goto cleanup;
		}
		/* Manifests never write outside the working directory. */
		if (!arca__output_path_valid(st->outputs[i])) {
			error = set_failure(failure, ARCA_STAGE_FAILURE_SPEC,
					arca__error(ARCA_EINVAL, "output '%s': outside "
					"the working directory (an output is a "
					"relative path without '..')", o));
			goto cleanup;
		}
	}
	if ((error = check_output_not_input(failure, st)) < 0)
		goto cleanup;
	/* With a tool version the command is only needed on a miss: a hit
	 * restores outputs even where the tool is not installed. */
	if (spec->tool_version == NULL) {
		const char *name = spec->tool_path != NULL ? spec->tool_path :
			spec->argv[0];
		char **dest = spec->tool_path != NULL ? &tool : &st->cmd_path;

		if ((error = arca_stage_find_command(dest, name, st->base)) < 0) {
			set_failure(failure, error == ARCA_ENOTFOUND ?
					ARCA_STAGE_FAILURE_NOT_FOUND :
					error == ARCA_EPERM ?
					ARCA_STAGE_FAILURE_NOT_EXECUTABLE :
					error == ARCA_EINVAL ? ARCA_STAGE_FAILURE_SPEC :
					ARCA_STAGE_FAILURE_SYSTEM, error);
			goto cleanup;
		}
	}
	if ((st->spec.flags & ARCA_STAGE_STDIN_INPUT) &&
	    (error = read_stdin(failure, st)) < 0)
		goto cleanup;
	error = build_action(failure, st, spec->tool_version != NULL ? NULL :
			tool != NULL ? tool : st->cmd_path);
	st->t.key_ns = mono_ns() - st->t.key_ns;

cleanup:
	free(tool);
	if (error == 0)
		*out = st;
	else
		arca_stage_free(st);
	return error;
}

int arca_stage_result_ok(const arca_stage_result *r)
{
	int ok = 0;

	if (r != NULL)
		switch (r->outcome) {
		case ARCA_STAGE_HIT:
		case ARCA_STAGE_STORED:
		case ARCA_STAGE_RAN:
		case ARCA_STAGE_CACHE_WRITE_FAILED:
			ok = 1;
			break;
		default:
			break;
		}
	return ok;
}

const arca_digest *arca_stage_key(const arca_stage *st)
{
	return &st->key;
}

const arca_action *arca_stage_action(const arca_stage *st)
{
	return st->action;
}

void arca_stage_free(arca_stage *st)
{
	size_t i;

	if (st == NULL)
		return;
	arca_action_free(st->action);
	if (st->outputs != NULL)
		for (i = 0; i < st->spec.n_outputs; i++)
			free(st->outputs[i]);
	free(st->outputs);
	free(st->cmd_path);
	free(st->base);
	if (st->stdin_tmp_fd >= 0)
		close(st->stdin_tmp_fd);
	if (st->stdin_path != NULL)
		unlink(st->stdin_path);
	free(st->stdin_path);
	arca_buf_free(&st->out_buf);
	arca_buf_free(&st->err_buf);
	free(st);
}

/* ---- events and statistics ------------------------------------------ */

static void event_init(arca_stage_event *ev, const arca_stage *st,
		arca_stage_event_kind kind)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->stage = st->spec.stage;
	ev->key = &st->key;
	ev->key_hex = st->key_hex;
	ev->message = "";
}

static void emit(const arca_stage *st, const arca_stage_event *ev)
{
	if (st->spec.event != NULL)
		st->spec.event(st->spec.event_ctx, ev);
}

/* An event about a failed library call: its code and message. */
static void emit_failure(const arca_stage *st, arca_stage_event_kind kind,
		int code)
{
	arca_stage_event ev;
	char msg[1024];
	const char *m = arca_errmsg();

	snprintf(msg, sizeof(msg), "%s",
			m != NULL && m[0] != '\0' ? m : arca_strerror(code));
	event_init(&ev, st, kind);
	ev.code = code;
	ev.message = msg;
	emit(st, &ev);
}

static void record(const arca_stage *st, arca_event event, uint64_t bytes,
		uint64_t saved_ms)
{
	int error = arca_stats_record(st->store, st->spec.stage, event, bytes,
			saved_ms);

	if (error < 0)
		emit_failure(st, ARCA_STAGE_EVENT_STATS_FAILED, error);
}

/* ---- output locks --------------------------------------------------- */

/*
 * Two runs that write the same output path (in one working directory) at
 * once must not interleave: each could hash the other's bytes and store
 * them under its own key, for good. So a miss holds a lock on each of its
 * declared outputs from removing the stale files through running the
 * command and storing its blobs, and a hit holds them while it renames
 * the restored files into place. A lock is a lease (lease.c: flock(2),
 * dropped by the kernel when its holder dies) on the key SHA-256 of the
 * output's absolute path (the working directory resolved with
 * realpath(3), then the normalised output), that is the file
 * leases/<hex>. They are taken in the order of those digests, so two
 * runs that share several outputs never deadlock, and always after the
 * action key's lease, never before it.
 */
typedef struct out_locks {
	arca_lease **leases;       /* n, in the order taken; NULL: not held */
	size_t n;
} out_locks;

typedef struct out_lock_key {
	arca_digest key;
	size_t output;             /* index in st->outputs */
} out_lock_key;

static int compare_lock_keys(const void *a, const void *b)
{
	return memcmp(((const out_lock_key *)a)->key.bytes,
			((const out_lock_key *)b)->key.bytes, ARCA_DIGEST_SIZE);
}

/* The bound of a lock wait: the spec's, else the store's. */
static unsigned int lock_timeout_ms(const arca_stage *st)
{
	arca_options so;

	if (st->spec.lock_timeout_ms != 0)
		return st->spec.lock_timeout_ms;
	if (arca_store_get_options(&so, st->store) == 0)
		return so.lock_timeout_ms;
	return 0;
}

static void unlock_outputs(out_locks *l)
{
	size_t i;

	if (l->leases != NULL)
		for (i = l->n; i > 0; i--)
			arca_lease_release(l->leases[i - 1]);
	free(l->leases);
	l->leases = NULL;
	l->n = 0;
}

/*
 * Take the lock of every declared output (waiting at most the spec's
 * lock timeout for each; ARCA_STAGE_EVENT_OUTPUT_WAIT when one is held).
 * A lock that cannot be created at all (a read-only leases/) is reported
 * as ARCA_STAGE_EVENT_LEASE_FAILED and skipped, as a key's lease is.
 * Returns 0; ARCA_ETIMEOUT ("output 'x': still being written by another
 * process after N ms"); ARCA_ENOMEM.
 */
static int lock_outputs(out_locks *l, const arca_stage *st)
{
	const size_t n = st->spec.n_outputs;
	out_lock_key *keys = NULL;
	char *base = NULL, *abs = NULL;
	size_t i;
	int error = 0;

	l->leases = NULL;
	l->n = 0;
	if (n == 0 || st->store == NULL)
		return 0;
	if (st->base != NULL)
		base = realpath(st->base, NULL);
	else
		base = getcwd(NULL, 0);
	if (base == NULL && st->base != NULL)
		base = arca__strdup(st->base);
	if (base == NULL)
		return arca__error(ARCA_ENOMEM, "output locks: cannot find the "
				"working directory: %s", strerror(errno));
	keys = calloc(n, sizeof(*keys));
	l->leases = calloc(n, sizeof(*l->leases));
	if (keys == NULL || l->leases == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		if ((abs = join(strcmp(base, "/") == 0 ? "" : base,
				st->outputs[i])) == NULL) {
			error = arca__error(ARCA_ENOMEM, "out of memory");
			goto cleanup;
		}
		if ((error = arca_digest_buffer(&keys[i].key, abs,
				strlen(abs))) < 0)
			goto cleanup;
		keys[i].output = i;
		free(abs);
		abs = NULL;
	}
	qsort(keys, n, sizeof(*keys), compare_lock_keys);
	for (i = 0; i < n; i++) {
		const char *rel = st->outputs[keys[i].output];
		arca_lease *lease = NULL;

		/* The same path twice is refused by arca_action_add_output(). */
		error = arca_lease_try_acquire(&lease, st->store, &keys[i].key);
		if (error == ARCA_EBUSY) {
			arca_stage_event ev;

			event_init(&ev, st, ARCA_STAGE_EVENT_OUTPUT_WAIT);
			ev.path = rel;
			emit(st, &ev);
			error = arca_lease_acquire(&lease, st->store,
					&keys[i].key, st->spec.lock_timeout_ms);
		}
		if (error == ARCA_ETIMEOUT) {
			error = arca__error(ARCA_ETIMEOUT, "output '%s': still "
					"being written by another process after %u ms",
					rel, lock_timeout_ms(st));
			goto cleanup;
		}
		if (error == ARCA_ENOMEM)
			goto cleanup;
		if (error < 0) {
			emit_failure(st, ARCA_STAGE_EVENT_LEASE_FAILED, error);
			error = 0;
			continue;
		}
		l->leases[l->n++] = lease;
	}
	error = 0;

cleanup:
	if (error < 0)
		unlock_outputs(l);
	free(abs);
	free(keys);
	free(base);
	return error;
}

/* ---- hits ---------------------------------------------------------- */

int arca_stage_lookup(arca_manifest **out, arca_stage *st)
{
	arca_get_options go = ARCA_GET_OPTIONS_INIT;
	int error;

	*out = NULL;
	if (st->store == NULL)
		return arca__error(ARCA_EINVAL, "stage '%s': no store",
				st->spec.stage);
	go.max_age_s = st->spec.max_age_s;
	error = arca_action_get_ex(out, st->store, &st->key, &go);
	if (error < 0 && error != ARCA_ENOTFOUND) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", arca_errmsg());
		(void)arca_stats_record(st->store, st->spec.stage,
				ARCA_EVENT_ERROR, 0, 0);
		arca__error(error, "%s", msg);
	}
	return error;
}

static const arca_manifest_output *find_output(const arca_manifest *m,
		const char *path)
{
	size_t i;

	for (i = 0; i < m->n_outputs; i++)
		if (m->outputs[i].path != NULL &&
		    strcmp(m->outputs[i].path, path) == 0)
			return &m->outputs[i];
	return NULL;
}

/* A blob that cannot serve the hit: corrupt or gone. */
static int stale(int error)
{
	return error == ARCA_ECORRUPT || error == ARCA_ENOTFOUND;
}

/*
 * The output at path already holds what mo records (a regular file of
 * its size and digest, with its mode bits; under link: hardlink a file
 * with other links and no write bit, under link: symlink a symbolic link
 * to such a file), so a hit leaves it alone: nothing is written, its
 * inode and mtime stay. The digest comes from the stat cache when it
 * knows the file; else the file is read (as verifying the blob would
 * read as many bytes), which records it for the next hit.
 */
static int output_unchanged(arca_stage *st, const arca_manifest_output *mo,
		const char *path, arca_link_mode mode)
{
	struct stat sb;
	arca_digest d;
	uint64_t size = 0;

	if (lstat(path, &sb) != 0)
		return 0;
	if (S_ISLNK(sb.st_mode)) {
		if (mode != ARCA_LINK_SYMLINK || stat(path, &sb) != 0)
			return 0;
	} else if (mode == ARCA_LINK_SYMLINK) {
		return 0;
	}
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != mo->size)
		return 0;
	if (mode == ARCA_LINK_HARDLINK || mode == ARCA_LINK_SYMLINK) {
		/* The store's file (or a link like it): read-only. */
		if ((sb.st_mode & 0222) != 0 ||
		    (mode == ARCA_LINK_HARDLINK && sb.st_nlink < 2))
			return 0;
	} else if ((sb.st_mode & 07777) != (mo->mode & 07777)) {
		return 0;
	}
	if (arca__stat_cache_lookup(st->store, &sb, &d))
		return arca_digest_equal(&d, &mo->digest);
	if (arca_store_digest_file(&d, &size, st->store, path, 0, NULL,
			NULL) < 0) {
		arca__error_clear();
		return 0;
	}
	return size == mo->size && arca_digest_equal(&d, &mo->digest);
}

/* The link mode of the stage: its spec's, else the store's. */
static arca_link_mode stage_link(const arca_stage *st)
{
	arca_options so;

	if (st->spec.link != ARCA_LINK_DEFAULT)
		return (arca_link_mode)st->spec.link;
	if (arca_store_get_options(&so, st->store) == 0 &&
	    so.link != ARCA_LINK_DEFAULT)
		return (arca_link_mode)so.link;
	return ARCA_LINK_AUTO;
}

/*
 * arca_stage_restore() without the statistics: *bytes_out gets the bytes
 * restored (outputs and streams).
 */
static int restore_impl(uint64_t *bytes_out, arca_stage *st,
		const arca_manifest *m)
{
	const size_t n = st->spec.n_outputs;
	arca__pubfile *temps = NULL;
	arca__materialised *how = NULL;
	char **paths = NULL, *note_dir = NULL;
	arca_buf out_buf = ARCA_BUF_INIT, err_buf = ARCA_BUF_INIT;
	out_locks locks = { NULL, 0 };
	arca_link_mode mode;
	uint64_t bytes = 0, t0;
	size_t i;
	int error;

	*bytes_out = 0;
	if (st->store == NULL)
		return arca__error(ARCA_EINVAL, "stage '%s': no store",
				st->spec.stage);
	mode = stage_link(st);
	temps = calloc(n + 1, sizeof(*temps));
	how = calloc(n + 1, sizeof(*how));
	paths = calloc(n + 1, sizeof(*paths));
	note_dir = arca__path_join(arca_store_path(st->store), "tmp");
	if (temps == NULL || how == NULL || paths == NULL || note_dir == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		temps[i].fd = temps[i].note_fd = -1;
		how[i].blob_fd = -1;
	}
	for (i = 0; i < n; i++) {
		const char *path = st->outputs[i];
		const arca_manifest_output *mo = find_output(m, path);

		if (mo == NULL) {
			error = arca__error(ARCA_ENOTFOUND, "output '%s': not in "
					"the cached entry", path);
			goto cleanup;
		}
		if ((paths[i] = join(st->base, path)) == NULL) {
			error = arca__error(ARCA_ENOMEM, "out of memory");
			goto cleanup;
		}
		if (output_unchanged(st, mo, paths[i], mode)) {
			how[i].used = ARCA_LINK_DEFAULT;
			how[i].note = "";
			continue;
		}
		if (arca__mkdir_parents(paths[i]) < 0) {
			error = arca__error(arca__errno_code(errno), "output '%s': "
					"cannot create its directory: %s", path,
					strerror(errno));
			goto cleanup;
		}
		/* Unnamed until the rename where the file system allows,
		 * else recorded in tmp/ (arca__pubfile): a killed restore
		 * leaves nothing in the working directory. */
		t0 = mono_ns();
		error = arca__blob_materialise(&how[i], st->store, &mo->digest,
				&temps[i], paths[i], note_dir, mode, path);
		st->t.verify_ns += mono_ns() - t0;
		/* A link has the store's file's mode (0444). */
		if (error == 0 && temps[i].fd >= 0 &&
		    fchmod(temps[i].fd, mo->mode & 07777) != 0)
			error = arca__error_errno(errno, "cannot chmod", path);
		if (error < 0) {
			/* Messages of the link modes name the output. */
			if (strncmp(arca_errmsg(), "output '", 8) != 0)
				wrap_error(error, "output '%s'", path);
			goto cleanup;
		}
		bytes += mo->size;
	}

	t0 = mono_ns();
	error = arca_blob_get(&out_buf, st->store, &m->stdout_digest);
	if (error == 0)
		error = arca_blob_get(&err_buf, st->store, &m->stderr_digest);
	st->t.verify_ns += mono_ns() - t0;
	if (error < 0) {
		wrap_error(error, "captured output");
		goto cleanup;
	}

	/* Not while another run writes these paths (see lock_outputs()). */
	if ((error = lock_outputs(&locks, st)) < 0)
		goto cleanup;
	for (i = 0; i < n; i++) {
		const arca_manifest_output *mo;
		struct stat sb;

		if (how[i].used == ARCA_LINK_DEFAULT)
			continue;
		memset(&sb, 0, sizeof(sb));
		if (arca__pubfile_publish_stat(&temps[i], paths[i], &sb) < 0) {
			error = arca__error(arca__errno_code(errno), "output '%s': "
					"%s", st->outputs[i], strerror(errno));
			goto cleanup;
		}
		arca__pubfile_discard(&temps[i]);
		/* So that the next hit leaves it alone (output_unchanged()):
		 * the written file's stat data, or the store's file that a
		 * link leads to. */
		if (how[i].blob_fd >= 0 && (how[i].used == ARCA_LINK_HARDLINK ||
		    how[i].used == ARCA_LINK_SYMLINK) &&
		    fstat(how[i].blob_fd, &sb) != 0)
			memset(&sb, 0, sizeof(sb));
		mo = find_output(m, st->outputs[i]);
		if (sb.st_ino != 0 && mo != NULL)
			arca__stat_cache_record(st->store, &sb, &mo->digest);
	}
	for (i = 0; i < n; i++) {
		arca_stage_event ev;
		char word[96];

		event_init(&ev, st, ARCA_STAGE_EVENT_RESTORED);
		ev.path = st->outputs[i];
		ev.link = how[i].used;
		snprintf(word, sizeof(word), "%s%s",
				how[i].used == ARCA_LINK_DEFAULT ? "unchanged" :
				arca_link_mode_name(how[i].used), how[i].note);
		ev.message = word;
		emit(st, &ev);
	}
	bytes += out_buf.size + err_buf.size;
	arca_buf_free(&st->out_buf);
	arca_buf_free(&st->err_buf);
	st->out_buf = out_buf;
	st->err_buf = err_buf;
	memset(&out_buf, 0, sizeof(out_buf));
	memset(&err_buf, 0, sizeof(err_buf));
	st->replay_key = m->key;
	st->have_streams = 1;
	*bytes_out = bytes;
	error = 0;

cleanup:
	unlock_outputs(&locks);
	if (temps != NULL)
		for (i = 0; i < n; i++)
			arca__pubfile_discard(&temps[i]);
	if (how != NULL)
		for (i = 0; i < n; i++)
			if (how[i].blob_fd >= 0)
				close(how[i].blob_fd);
	free(note_dir);
	if (paths != NULL)
		for (i = 0; i < n; i++)
			free(paths[i]);
	free(temps);
	free(how);
	free(paths);
	arca_buf_free(&out_buf);
	arca_buf_free(&err_buf);
	return error;
}

int arca_stage_restore(arca_stage *st, const arca_manifest *m)
{
	uint64_t bytes = 0;
	int error;

	if ((error = restore_impl(&bytes, st, m)) < 0)
		return error;
	record(st, ARCA_EVENT_HIT, bytes, m->duration_ms);
	return 0;
}

int arca_stage_replay(arca_stage *st, const arca_manifest *m)
{
	arca_buf out_buf = ARCA_BUF_INIT, err_buf = ARCA_BUF_INIT;
	const arca_buf *o = &st->out_buf, *e = &st->err_buf;
	sigset_t saved;
	int pending, error = 0;

	if (!st->have_streams || !arca_digest_equal(&st->replay_key, &m->key)) {
		if (st->store == NULL)
			return arca__error(ARCA_EINVAL, "stage '%s': no store",
					st->spec.stage);
		if ((error = arca_blob_get(&out_buf, st->store,
				&m->stdout_digest)) < 0 ||
		    (error = arca_blob_get(&err_buf, st->store,
				&m->stderr_digest)) < 0) {
			wrap_error(error, "captured output");
			goto cleanup;
		}
		o = &out_buf;
		e = &err_buf;
	}
	/* The streams go where the caller pointed them; a closed pipe is
	 * fine. */
	arca__sigpipe_begin(&saved, &pending);
	if (st->spec.stdout_fd >= 0)
		(void)arca__spawn_write_all(st->spec.stdout_fd, o->data, o->size);
	if (st->spec.stderr_fd >= 0)
		(void)arca__spawn_write_all(st->spec.stderr_fd, e->data, e->size);
	arca__sigpipe_end(&saved, pending);

cleanup:
	arca_buf_free(&out_buf);
	arca_buf_free(&err_buf);
	return error;
}

/* ---- storing a result -------------------------------------------------- */

/* Why an output that exists is not a regular file, in words. */
static const char *not_a_file(mode_t mode)
{
	if (S_ISDIR(mode))
		return "is a directory, not a file (declare the files inside it)";
	if (S_ISLNK(mode))
		return "is a symbolic link, not a file (links are not followed)";
	return "is not a regular file";
}

/* Where a result's stdout and stderr come from. */
typedef struct streams {
	const char *paths[2];      /* capture files, or NULL: */
	const void *data[2];       /* ...these bytes */
	size_t len[2];
} streams;

/*
 * Store every declared output and the streams as blobs and build the
 * manifest (not yet put). Returns 0, or a code with the message "output
 * 'x': ...", "captured output: ...", "manifest: ...".
 */
static int store_blobs(arca_manifest **out, uint64_t *bytes_out,
		arca_stage *st, int exit_status, uint64_t duration_ms,
		const streams *s)
{
	arca_manifest *m = NULL;
	arca_digest d[2];
	uint64_t size, sizes[2], bytes = 0;
	struct stat sb, after;
	int64_t taken_ns;
	char *path = NULL;
	size_t i;
	int error, k;

	*out = NULL;
	*bytes_out = 0;
	if ((error = arca_manifest_from_action(&m, st->action)) < 0) {
		wrap_error(error, "manifest");
		goto cleanup;
	}
	for (i = 0; i < st->spec.n_outputs; i++) {
		const char *rel = st->outputs[i];

		if ((path = join(st->base, rel)) == NULL) {
			error = arca__error(ARCA_ENOMEM, "out of memory");
			goto cleanup;
		}
		taken_ns = arca__now_ns();
		if (lstat(path, &sb) < 0) {
			error = arca__error(arca__errno_code(errno),
					"output '%s': %s", rel, strerror(errno));
			goto cleanup;
		}
		if (!S_ISREG(sb.st_mode)) {
			error = arca__error(ARCA_EINVAL, "output '%s' %s", rel,
					not_a_file(sb.st_mode));
			goto cleanup;
		}
		if ((error = arca_blob_put_file(&d[0], &size, st->store,
				path)) < 0 ||
		    (error = arca_manifest_add_output(m, rel, &d[0], size,
				(unsigned int)(sb.st_mode & 0777))) < 0) {
			wrap_error(error, "output '%s'", rel);
			goto cleanup;
		}
		/* The output as the put read it, unchanged since the lstat
		 * before it: its digest is known to the stat cache, from
		 * the moment before that lstat (an output written just now
		 * is racy then, and not recorded: stat_cache.c). */
		if (lstat(path, &after) == 0 && after.st_ino == sb.st_ino &&
		    after.st_dev == sb.st_dev && after.st_size == sb.st_size &&
		    (uint64_t)after.st_size == size &&
		    after.st_mtim.tv_sec == sb.st_mtim.tv_sec &&
		    after.st_mtim.tv_nsec == sb.st_mtim.tv_nsec &&
		    after.st_ctim.tv_sec == sb.st_ctim.tv_sec &&
		    after.st_ctim.tv_nsec == sb.st_ctim.tv_nsec)
			arca__stat_cache_record_at(st->store, &after, &d[0],
					taken_ns);
		free(path);
		path = NULL;
		bytes += size;
	}
	for (k = 0; k < 2; k++) {
		if (s->paths[k] != NULL)
			error = arca_blob_put_file(&d[k], &sizes[k], st->store,
					s->paths[k]);
		else {
			error = arca_blob_put(&d[k], st->store, s->data[k],
					s->len[k]);
			sizes[k] = s->len[k];
		}
		if (error < 0) {
			wrap_error(error, "captured output");
			goto cleanup;
		}
	}
	m->stdout_digest = d[0];
	m->stdout_size = sizes[0];
	m->stderr_digest = d[1];
	m->stderr_size = sizes[1];
	bytes += sizes[0] + sizes[1];
	m->exit_status = exit_status;
	m->duration_ms = duration_ms;
	if (m->created == 0)
		m->created = arca__now();
	*out = m;
	m = NULL;
	*bytes_out = bytes;
	error = 0;

cleanup:
	free(path);
	arca_manifest_free(m);
	return error;
}

int arca_stage_commit(arca_manifest **out, arca_stage *st, int exit_status,
		uint64_t duration_ms, const void *out_data, size_t out_len,
		const void *err_data, size_t err_len)
{
	arca_put_options po = ARCA_PUT_OPTIONS_INIT;
	arca_manifest *m = NULL;
	streams s;
	uint64_t bytes = 0;
	int error;

	if (out != NULL)
		*out = NULL;
	if (st->store == NULL)
		return arca__error(ARCA_EINVAL, "stage '%s': no store",
				st->spec.stage);
	memset(&s, 0, sizeof(s));
	s.data[0] = out_data;
	s.len[0] = out_len;
	s.data[1] = err_data;
	s.len[1] = err_len;
	/* Outputs and streams stay pinned until the manifest commits. */
	arca__store_pin_hold(st->store);
	if ((error = store_blobs(&m, &bytes, st, exit_status, duration_ms,
			&s)) == 0) {
		po.ttl_s = st->spec.ttl_s;
		po.tags = st->spec.tags;
		po.n_tags = st->spec.n_tags;
		error = arca_action_put_ex(st->store, m, &po);
	}
	arca__store_pin_release(st->store);
	if (error < 0)
		goto failed;
	record(st, ARCA_EVENT_MISS, bytes, 0);
	if (out != NULL) {
		*out = m;
		m = NULL;
	}
	goto cleanup;

failed:
	{
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", arca_errmsg());
		record(st, ARCA_EVENT_MISS, 0, 0);
		record(st, ARCA_EVENT_ERROR, 0, 0);
		arca__error(error, "%s", msg);
	}
cleanup:
	arca_manifest_free(m);
	return error;
}

/* ---- running a miss ----------------------------------------------------- */

/* A capture file in the store's tmp/, held with flock so that a store
 * opened after this process died removes it (arca__sweep_tmp). */
typedef struct capture {
	int fd;
	char *path;
} capture;

static void capture_close(capture *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->path != NULL)
		unlink(c->path);
	free(c->path);
	c->fd = -1;
	c->path = NULL;
}

static int capture_open(capture *c, arca_store *store, const char *what)
{
	char *dir = NULL;
	int error;

	c->fd = -1;
	c->path = NULL;
	if ((dir = arca__path_join(arca_store_path(store), "tmp")) ==
			NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	error = arca__tmpfile(&c->fd, &c->path, dir, what, 1);
	free(dir);
	return error;
}

/* What the compute callback did, for arca_stage_run(). */
typedef struct run_ctx {
	arca_stage *st;
	arca_stage_result *res;
	uint64_t bytes;            /* stored */
	int ran;                   /* the command ran */
	arca_stage_outcome outcome;
	int error;                 /* with ARCA_STAGE_ERROR */
	uint64_t run_ns;           /* in compute_run(): running and storing */
} run_ctx;

static void on_started(void *ctx, long pid)
{
	arca_stage *st = ctx;
	arca_stage_event ev;

	event_init(&ev, st, ARCA_STAGE_EVENT_STARTED);
	ev.pid = pid;
	emit(st, &ev);
}

static arca_stage_failure command_failure(int error)
{
	return error == ARCA_ENOTFOUND ? ARCA_STAGE_FAILURE_NOT_FOUND :
		error == ARCA_EPERM ? ARCA_STAGE_FAILURE_NOT_EXECUTABLE :
		error == ARCA_EINVAL ? ARCA_STAGE_FAILURE_SPEC :
		ARCA_STAGE_FAILURE_SYSTEM;
}

/* Find argv[0] if prepare did not (a tool version). */
static int find_cmd(arca_stage *st, arca_stage_result *res)
{
	int error;

	if (st->cmd_path != NULL)
		return 0;
	if (st->spec.argv == NULL || st->spec.argv[0] == NULL) {
		res->failure = ARCA_STAGE_FAILURE_SPEC;
		return arca__error(ARCA_EINVAL, "stage '%s': no command",
				st->spec.stage);
	}
	error = arca_stage_find_command(&st->cmd_path, st->spec.argv[0],
			st->base);
	if (error < 0)
		res->failure = command_failure(error);
	return error;
}

/* Whether every declared output exists as a regular file (a symbolic
 * link is not one); names the first that does not, and *why what is
 * there instead ("" when nothing is). */
static const char *missing_output(const arca_stage *st, const char **why)
{
	struct stat sb;
	size_t i;

	*why = "";
	for (i = 0; i < st->spec.n_outputs; i++) {
		char *path = join(st->base, st->outputs[i]);
		int found = path != NULL && lstat(path, &sb) == 0;

		free(path);
		if (found && S_ISREG(sb.st_mode))
			continue;
		if (found)
			*why = not_a_file(sb.st_mode);
		return st->outputs[i];
	}
	return NULL;
}

/*
 * Remove the declared outputs left from an earlier run (as DVC does), so
 * that one the command does not write is "not produced" rather than
 * stored as if it had. Regular files and symbolic links are removed;
 * a directory is left alone (reported after the run). Returns 0 or a code
 * with "output 'x': cannot remove the file left from an earlier run: ...".
 */
static int remove_stale_outputs(const arca_stage *st)
{
	struct stat sb;
	size_t i;
	int error = 0;

	for (i = 0; i < st->spec.n_outputs && error == 0; i++) {
		char *path = join(st->base, st->outputs[i]);

		if (path == NULL)
			return arca__error(ARCA_ENOMEM, "out of memory");
		if (lstat(path, &sb) == 0 && !S_ISDIR(sb.st_mode) &&
		    unlink(path) < 0 && errno != ENOENT)
			error = arca__error(arca__errno_code(errno), "output '%s': "
					"cannot remove the file left from an earlier "
					"run: %s", st->outputs[i], strerror(errno));
		free(path);
	}
	return error;
}

/* The stage's stdin for the command: the copy in tmp/ (opened afresh,
 * *fd_out then to close), or the spec's stdin_fd. */
static int open_stdin(int *fd_out, int *owned, const arca_stage *st)
{
	*owned = 0;
	*fd_out = st->spec.stdin_fd;
	if (st->stdin_path == NULL)
		return 0;
	if ((*fd_out = open(st->stdin_path, O_RDONLY | O_CLOEXEC)) < 0)
		return arca__error_errno(errno, "cannot open", st->stdin_path);
	*owned = 1;
	return 0;
}

/* The compute callback of the single flight: run the command, store its
 * blobs, hand back the manifest (stored by arca__single_flight()). */
static int compute_run_impl(arca_manifest **out, void *vctx)
{
	run_ctx *c = vctx;
	arca_stage *st = c->st;
	capture caps[2] = { { -1, NULL }, { -1, NULL } };
	out_locks locks = { NULL, 0 };
	arca__spawn sp;
	arca__spawn_result sr;
	arca_stage_event ev;
	streams s;
	const char *missing, *why;
	int in_fd = -1, in_owned = 0, error;

	*out = NULL;
	c->outcome = ARCA_STAGE_ERROR;
	if ((c->error = error = find_cmd(st, c->res)) < 0)
		goto cleanup;
	event_init(&ev, st, ARCA_STAGE_EVENT_MISS);
	ev.refresh = (st->spec.flags & ARCA_STAGE_REFRESH) != 0;
	emit(st, &ev);
	/* Held until the outputs are stored (see lock_outputs()). */
	if ((error = lock_outputs(&locks, st)) < 0 ||
	    (error = remove_stale_outputs(st)) < 0 ||
	    (error = open_stdin(&in_fd, &in_owned, st)) < 0) {
		c->error = error;
		c->res->failure = ARCA_STAGE_FAILURE_SYSTEM;
		goto cleanup;
	}
	if ((error = capture_open(&caps[0], st->store, "stdout-")) < 0 ||
	    (error = capture_open(&caps[1], st->store, "stderr-")) < 0) {
		c->error = error;
		c->res->failure = ARCA_STAGE_FAILURE_SYSTEM;
		goto cleanup;
	}
	memset(&sp, 0, sizeof(sp));
	sp.path = st->cmd_path;
	sp.argv = st->spec.argv;
	sp.dir = st->base;
	sp.in_fd = in_fd;
	sp.live_out = st->spec.stdout_fd;
	sp.live_err = st->spec.stderr_fd;
	sp.capture = 1;
	sp.cap_out = caps[0].fd;
	sp.cap_err = caps[1].fd;
	sp.started = on_started;
	sp.ctx = st;
	if ((error = arca__spawn_run(&sr, &sp)) < 0) {
		c->error = error;
		c->res->failure = command_failure(error);
		goto cleanup;
	}
	c->ran = 1;
	c->res->exit_status = sr.status;
	c->res->duration_ms = sr.duration_ms;

	if (sr.status != 0) {
		event_init(&ev, st, ARCA_STAGE_EVENT_FAILED);
		ev.exit_status = sr.status;
		ev.duration_ms = sr.duration_ms;
		emit(st, &ev);
		record(st, ARCA_EVENT_MISS, 0, 0);
		c->outcome = ARCA_STAGE_FAILED;
		error = ARCA_ENOTFOUND;
		goto cleanup;
	}
	if ((missing = missing_output(st, &why)) != NULL) {
		event_init(&ev, st, ARCA_STAGE_EVENT_OUTPUT_MISSING);
		ev.path = missing;
		ev.message = why;
		emit(st, &ev);
		record(st, ARCA_EVENT_MISS, 0, 0);
		c->outcome = ARCA_STAGE_OUTPUT_MISSING;
		error = ARCA_ENOTFOUND;
		goto cleanup;
	}
	/* From here on the command succeeded: a failure to cache is
	 * reported, and the exit status stays 0. */
	c->outcome = ARCA_STAGE_CACHE_WRITE_FAILED;
	if (sr.capture_errno != 0) {
		error = arca__error(arca__errno_code(sr.capture_errno),
				"capturing its output: %s",
				strerror(sr.capture_errno));
		goto write_failed;
	}
	memset(&s, 0, sizeof(s));
	s.paths[0] = caps[0].path;
	s.paths[1] = caps[1].path;
	if ((error = store_blobs(out, &c->bytes, st, 0, sr.duration_ms,
			&s)) < 0)
		goto write_failed;
	c->outcome = ARCA_STAGE_STORED;
	error = 0;
	goto cleanup;

write_failed:
	emit_failure(st, ARCA_STAGE_EVENT_CACHE_WRITE_FAILED, error);
	record(st, ARCA_EVENT_MISS, 0, 0);
	record(st, ARCA_EVENT_ERROR, 0, 0);
cleanup:
	unlock_outputs(&locks);
	if (in_owned)
		close(in_fd);
	capture_close(&caps[0]);
	capture_close(&caps[1]);
	return error;
}

/* ---- single-flight hooks ------------------------------------------------- */

/* The miss: compute_run_impl(), timed (arca_stage_timings' run_ns). */
static int compute_run(arca_manifest **out, void *vctx)
{
	run_ctx *c = vctx;
	uint64_t t0 = mono_ns();
	int error = compute_run_impl(out, vctx);

	c->run_ns += mono_ns() - t0;
	return error;
}

static void on_wait(void *ctx)
{
	arca_stage_event ev;

	event_init(&ev, ctx, ARCA_STAGE_EVENT_LEASE_WAIT);
	emit(ctx, &ev);
}

static void on_timeout(void *ctx, uint64_t waited_ms)
{
	arca_stage_event ev;

	event_init(&ev, ctx, ARCA_STAGE_EVENT_LEASE_TIMEOUT);
	ev.waited_ms = waited_ms;
	emit(ctx, &ev);
}

static void on_lease_error(void *ctx, int code)
{
	emit_failure(ctx, ARCA_STAGE_EVENT_LEASE_FAILED, code);
}

static void on_lookup_error(void *ctx, int code)
{
	arca_stage *st = ctx;

	emit_failure(st, ARCA_STAGE_EVENT_LOOKUP_FAILED, code);
	(void)arca_stats_record(st->store, st->spec.stage, ARCA_EVENT_ERROR,
			0, 0);
}

/* ---- arca run ------------------------------------------------------------- */

/*
 * What the descriptor the command gets as stdin is, when it could feed
 * it bytes the key does not cover: "a pipe", "a socket", "a regular
 * file", "a device"; NULL for a terminal, /dev/null, -1 (/dev/null) or a
 * descriptor that is not open (see arca_stage_spec's stdin_fd).
 */
static const char *stdin_feeds(int fd)
{
	struct stat sb, null_sb;

	if (fd < 0 || fstat(fd, &sb) < 0)
		return NULL;
	if (S_ISFIFO(sb.st_mode))
		return "a pipe";
	if (S_ISSOCK(sb.st_mode))
		return "a socket";
	if (S_ISREG(sb.st_mode))
		return "a regular file";
	if (S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode)) {
		if (isatty(fd))
			return NULL;
		if (S_ISCHR(sb.st_mode) && stat("/dev/null", &null_sb) == 0 &&
		    S_ISCHR(null_sb.st_mode) && null_sb.st_rdev == sb.st_rdev)
			return NULL;
		return "a device";
	}
	return NULL;
}

/* --no-cache: the command alone, inheriting (or routed to) the live fds. */
static int run_uncached(arca_stage_result *res, arca_stage *st)
{
	arca__spawn sp;
	arca__spawn_result sr;
	arca_stage_event ev;
	int in_fd = -1, in_owned = 0, error;

	if ((error = find_cmd(st, res)) < 0)
		return error;
	if ((error = open_stdin(&in_fd, &in_owned, st)) < 0) {
		res->failure = ARCA_STAGE_FAILURE_SYSTEM;
		return error;
	}
	memset(&sp, 0, sizeof(sp));
	sp.path = st->cmd_path;
	sp.argv = st->spec.argv;
	sp.dir = st->base;
	sp.in_fd = in_fd;
	sp.live_out = st->spec.stdout_fd;
	sp.live_err = st->spec.stderr_fd;
	sp.started = on_started;
	sp.ctx = st;
	error = arca__spawn_run(&sr, &sp);
	if (in_owned)
		close(in_fd);
	if (error < 0) {
		res->failure = command_failure(error);
		return error;
	}
	res->exit_status = sr.status;
	res->duration_ms = sr.duration_ms;
	res->outcome = sr.status == 0 ? ARCA_STAGE_RAN : ARCA_STAGE_FAILED;
	event_init(&ev, st, sr.status == 0 ? ARCA_STAGE_EVENT_RAN :
			ARCA_STAGE_EVENT_FAILED);
	ev.exit_status = sr.status;
	ev.duration_ms = sr.duration_ms;
	emit(st, &ev);
	return 0;
}

/*
 * Serve a hit: restore, replay, report, count. 0 served; 1 stale (the
 * entry was dropped: recompute); a negative code when restoring failed.
 */
static int serve_hit(arca_stage_result *res, arca_stage *st,
		const arca_manifest *m)
{
	arca_stage_event ev;
	uint64_t bytes = 0, t0 = mono_ns();
	int error;

	st->t.verify_ns = 0;
	error = restore_impl(&bytes, st, m);
	if (stale(error)) {
		int corrupt = error == ARCA_ECORRUPT;

		/* The library may already have dropped it. */
		error = arca_action_remove(st->store, &st->key);
		if (error < 0 && error != ARCA_ENOTFOUND)
			emit_failure(st, ARCA_STAGE_EVENT_REMOVE_FAILED, error);
		/* A blob that is gone (a concurrent clear or eviction took
		 * it, or its file was lost and the library dropped the entry)
		 * makes the hit a plain miss; only wrong bytes are news. */
		if (corrupt) {
			record(st, ARCA_EVENT_ERROR, 0, 0);
			event_init(&ev, st, ARCA_STAGE_EVENT_CORRUPT);
			emit(st, &ev);
		}
		return 1;
	}
	if (error < 0) {
		res->failure = ARCA_STAGE_FAILURE_SYSTEM;
		return error;
	}
	(void)arca_stage_replay(st, m);
	st->t.restore_ns = mono_ns() - t0 - st->t.verify_ns;
	event_init(&ev, st, ARCA_STAGE_EVENT_HIT);
	ev.duration_ms = m->duration_ms;
	ev.exit_status = m->exit_status;
	emit(st, &ev);
	record(st, ARCA_EVENT_HIT, bytes, m->duration_ms);
	res->outcome = ARCA_STAGE_HIT;
	res->duration_ms = m->duration_ms;
	res->exit_status = m->exit_status;
	return 0;
}

int arca_stage_run(arca_stage_result *out, arca_stage *st)
{
	arca__flight f;
	arca_manifest *m = NULL;
	arca_stage_event ev;
	run_ctx c;
	uint64_t start = mono_ns(), t0;
	int computed = 0, attempt, error;

	st->t.lookup_ns = st->t.verify_ns = st->t.restore_ns = 0;
	st->t.run_ns = 0;
	memset(out, 0, sizeof(*out));
	out->outcome = ARCA_STAGE_ERROR;
	out->key = st->key;
	if (st->spec.flags & ARCA_STAGE_NO_CACHE)
		return run_uncached(out, st);
	if (!(st->spec.flags & ARCA_STAGE_STDIN_INPUT)) {
		const char *what = stdin_feeds(st->spec.stdin_fd);

		if (what != NULL) {
			event_init(&ev, st, ARCA_STAGE_EVENT_STDIN_UNCACHED);
			ev.message = what;
			emit(st, &ev);
			return run_uncached(out, st);
		}
	}

	memset(&f, 0, sizeof(f));
	f.lock_timeout_ms = st->spec.lock_timeout_ms;
	f.max_age_s = st->spec.max_age_s;
	f.ttl_s = st->spec.ttl_s;
	f.tags = st->spec.tags;
	f.n_tags = st->spec.n_tags;
	f.refresh = (st->spec.flags & ARCA_STAGE_REFRESH) != 0;
	f.lookup_errors_ok = 1;
	f.lease_errors_ok = 1;
	f.on_wait = on_wait;
	f.on_timeout = on_timeout;
	f.on_lease_error = on_lease_error;
	f.on_lookup_error = on_lookup_error;
	f.hook_ctx = st;

	/* A stale hit is dropped and computed once more, with no lookup. */
	for (attempt = 0; attempt < 2; attempt++) {
		memset(&c, 0, sizeof(c));
		c.st = st;
		c.res = out;
		c.outcome = ARCA_STAGE_ERROR;
		t0 = mono_ns();
		error = arca__single_flight(&m, &computed, st->store, &st->key,
				compute_run, &c, &f);
		/* The lookup, and on a miss the lease too (the run is
		 * counted apart). */
		st->t.lookup_ns += mono_ns() - t0 - c.run_ns;
		st->t.run_ns += c.run_ns;
		if (!computed) {
			if (error < 0) {
				out->failure = ARCA_STAGE_FAILURE_SYSTEM;
				goto cleanup;
			}
			error = serve_hit(out, st, m);
			arca_manifest_free(m);
			m = NULL;
			if (error <= 0)
				goto cleanup;
			f.refresh = 1;
			continue;
		}
		break;
	}

	/* The command ran (or could not be started). */
	if (c.outcome == ARCA_STAGE_STORED && m != NULL && error < 0) {
		/* Storing the manifest failed. */
		emit_failure(st, ARCA_STAGE_EVENT_CACHE_WRITE_FAILED, error);
		record(st, ARCA_EVENT_MISS, 0, 0);
		record(st, ARCA_EVENT_ERROR, 0, 0);
		c.outcome = ARCA_STAGE_CACHE_WRITE_FAILED;
	} else if (c.outcome == ARCA_STAGE_STORED) {
		record(st, ARCA_EVENT_MISS, c.bytes, 0);
		event_init(&ev, st, ARCA_STAGE_EVENT_STORED);
		ev.duration_ms = out->duration_ms;
		emit(st, &ev);
	}
	out->outcome = c.outcome;
	if (c.outcome == ARCA_STAGE_ERROR) {
		error = c.error < 0 ? c.error : error;
		if (out->failure == ARCA_STAGE_FAILURE_NONE)
			out->failure = ARCA_STAGE_FAILURE_SYSTEM;
		goto cleanup;
	}
	error = 0;

cleanup:
	arca_manifest_free(m);
	if (out->outcome == ARCA_STAGE_ERROR)
		out->exit_status = 0;
	st->t.total_ns = st->t.key_ns + (mono_ns() - start);
	return error;
}

void arca_stage_get_timings(arca_stage_timings *out, const arca_stage *st)
{
	*out = st->t;
}
