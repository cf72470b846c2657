/*
 * The stage runner (stage.h): the action key of a command, and either its
 * outputs restored from the cache (a hit) or the command run, its output
 * passed through live while captured, and the result stored when it
 * succeeded and produced every declared output (a miss). Used by
 * `arca run` (one stage) and `arca repro` (a pipeline's stages).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, mkostemp */
#endif
#include "stage.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct cli_stage {
	const cli_stage_spec *spec;
	arca_action *action;
	arca_digest key;
	char *cmd_path;   /* argv[0] resolved, or NULL until needed */
};

/* Results of restoring a hit. */
enum {
	RESTORE_OK = 0,
	RESTORE_STALE = 1,  /* entry corrupt or incomplete: recompute */
	RESTORE_FAILED = 2  /* could not write the outputs: give up */
};

/* The child, for the signal handler. */
static volatile sig_atomic_t child_pid;

/* Out of memory before the command ran. */
static int stage_enomem(void)
{
	cli_error("run: %s", strerror(ENOMEM));
	return CLI_RUN_EXIT_ARCA;
}

/* --------------------------------------------------------------------- */
/* The working directory                                                   */
/* --------------------------------------------------------------------- */

/*
 * Enter dir (when not NULL), keeping a descriptor of the current
 * directory in *saved to come back to. 0, or 125 after printing why.
 */
static int enter_workdir(int *saved, const char *dir)
{
	*saved = -1;
	if (dir == NULL)
		return 0;
	if ((*saved = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		cli_error("cannot open the current directory: %s",
				strerror(errno));
		return CLI_RUN_EXIT_ARCA;
	}
	if (chdir(dir) < 0) {
		cli_error("directory '%s': %s", dir, strerror(errno));
		close(*saved);
		*saved = -1;
		return CLI_RUN_EXIT_ARCA;
	}
	return 0;
}

static void leave_workdir(int saved)
{
	if (saved < 0)
		return;
	if (fchdir(saved) < 0)
		cli_warn("cannot return to the previous directory: %s",
				strerror(errno));
	close(saved);
}

/* --------------------------------------------------------------------- */
/* Finding the command                                                     */
/* --------------------------------------------------------------------- */


/* 0 executable regular file; 126 exists but unusable; 127 missing. */
static int check_executable(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return (errno == ENOENT || errno == ENOTDIR) ? 127 : 126;
	if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0)
		return 126;
	return 0;
}

int cli_stage_resolve_command(char **out, const char *cmd, int quiet)
{
	const char *path = getenv("PATH");
	const char *p, *end;
	char *candidate = NULL;
	int seen_noexec = 0, rc;

	*out = NULL;
	if (strchr(cmd, '/') != NULL) {
		rc = check_executable(cmd);
		if (rc == 127 && !quiet)
			cli_error("command not found: %s", cmd);
		if (rc == 126 && !quiet)
			cli_error("command not executable: %s", cmd);
		if (rc != 0)
			return rc;
		if ((*out = strdup(cmd)) == NULL)
			return stage_enomem();
		return 0;
	}

	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path;; p = end + 1) {
		size_t dirlen;

		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		dirlen = (size_t)(end - p);
		/* An empty element means the current directory. */
		candidate = malloc(dirlen + strlen(cmd) + 3);
		if (candidate == NULL)
			return stage_enomem();
		if (dirlen == 0)
			sprintf(candidate, "./%s", cmd);
		else
			sprintf(candidate, "%.*s/%s", (int)dirlen, p, cmd);
		rc = check_executable(candidate);
		if (rc == 0) {
			*out = candidate;
			return 0;
		}
		if (rc == 126 && access(candidate, F_OK) == 0) {
			struct stat st;

			/* A directory of that name is not a near miss. */
			if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode))
				seen_noexec = 1;
		}
		free(candidate);
		candidate = NULL;
		if (*end == '\0')
			break;
	}
	if (seen_noexec) {
		if (!quiet)
			cli_error("command not executable: %s", cmd);
		return CLI_RUN_EXIT_NOEXEC;
	}
	if (!quiet)
		cli_error("command not found: %s", cmd);
	return CLI_RUN_EXIT_NOTFOUND;
}

/* --------------------------------------------------------------------- */
/* The action                                                              */
/* --------------------------------------------------------------------- */

static const char *file_detail(int code)
{
	switch (code) {
	case ARCA_ENOTFOUND: return strerror(ENOENT);
	case ARCA_EPERM: return strerror(EACCES);
	case ARCA_EINVAL: return "not a regular file";
	default: return cli_lib_detail(code);
	}
}

/* Add a parameter or a secret one; a secret's value is never shown. */
static int add_param(arca_action *action, const cli_stage_param *p,
		int secret)
{
	const char *what = secret ? "secret param" : "param";
	int error;

	error = secret ? arca_action_add_secret_param(action, p->name, p->value)
		: arca_action_add_param(action, p->name, p->value);
	if (error == ARCA_EEXISTS) {
		cli_error("%s '%s': given more than once", what, p->name);
		return -1;
	}
	if (error < 0) {
		cli_lib_error(error, "%s '%s'", what, p->name);
		return -1;
	}
	return 0;
}

/*
 * Build the action and its key, in the current directory (the stage's
 * working directory). tool_path is the executable that identifies the
 * tool, or NULL when tool_version names it. Returns 0 or 125.
 */
static int build_action(arca_action **out, arca_digest *key,
		const cli_stage_spec *o, const char *tool_path)
{
	arca_action *action = NULL;
	arca_digest d;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	size_t i;
	int error, rc = CLI_RUN_EXIT_ARCA;

	*out = NULL;
	if ((error = arca_action_new(&action, o->stage)) < 0) {
		cli_lib_error(error, "stage '%s'", o->stage);
		goto cleanup;
	}
	for (i = 0; o->argv[i] != NULL; i++) {
		if ((error = arca_action_add_arg(action, o->argv[i])) < 0) {
			cli_lib_error(error, "argument '%s'", o->argv[i]);
			goto cleanup;
		}
	}
	for (i = 0; i < o->n_inputs; i++) {
		const cli_stage_input *in = &o->inputs[i];

		if (in->digest != NULL) {
			d = *in->digest;
		} else if ((error = arca_digest_file_progress(&d, NULL, in->path,
				o->hash_progress, o->hash_progress_ctx)) < 0) {
			cli_error("input '%s': %s", in->path, file_detail(error));
			goto cleanup;
		}
		error = arca_action_add_input(action, in->name, &d);
		if (error == ARCA_EEXISTS) {
			cli_error("input '%s': given more than once", in->name);
			goto cleanup;
		}
		if (error < 0) {
			cli_lib_error(error, "input '%s'", in->name);
			goto cleanup;
		}
	}
	for (i = 0; i < o->n_params; i++)
		if (add_param(action, &o->params[i], 0) < 0)
			goto cleanup;
	for (i = 0; i < o->n_secret_params; i++)
		if (add_param(action, &o->secret_params[i], 1) < 0)
			goto cleanup;
	for (i = 0; i < o->n_env; i++) {
		const char *name = o->env[i];

		error = arca_action_add_env(action, name, getenv(name));
		if (error == ARCA_EEXISTS) {
			cli_error("env '%s': given more than once", name);
			goto cleanup;
		}
		if (error < 0) {
			cli_lib_error(error, "env '%s'", name);
			goto cleanup;
		}
	}
	for (i = 0; i < o->n_outputs; i++) {
		const char *path = o->outputs[i];

		error = arca_action_add_output(action, path);
		if (error == ARCA_EEXISTS) {
			cli_error("output '%s': given more than once", path);
			goto cleanup;
		}
		if (error < 0) {
			cli_lib_error(error, "output '%s'", path);
			goto cleanup;
		}
	}
	if (tool_path == NULL) {
		error = arca_action_set_tool(action, ARCA_TOOL_VERSION,
				o->tool_version);
	} else {
		if ((error = arca_digest_file(&d, NULL, tool_path)) < 0) {
			cli_error("command '%s': cannot read it to identify the "
					"tool (%s); use --tool-version", tool_path,
					file_detail(error));
			goto cleanup;
		}
		arca_digest_to_hex(hex, &d);
		error = arca_action_set_tool(action, ARCA_TOOL_DIGEST, hex);
	}
	if (error < 0) {
		cli_lib_error(error, "tool identity");
		goto cleanup;
	}
	if ((error = arca_action_key(key, action)) < 0) {
		cli_lib_error(error, "action key");
		goto cleanup;
	}
	*out = action;
	action = NULL;
	rc = 0;

cleanup:
	arca_action_free(action);
	return rc;
}

/* --------------------------------------------------------------------- */
/* Restoring a hit                                                         */
/* --------------------------------------------------------------------- */

/* mkdir -p of path's parent directory. 0 or -1 with errno. */
int cli_make_parent_dirs(const char *path)
{
	char *dir = strdup(path);
	char *p;
	int rc = -1;

	if (dir == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if ((p = strrchr(dir, '/')) == NULL || p == dir) {
		rc = 0;
		goto cleanup;
	}
	*p = '\0';
	for (p = dir + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0777) < 0 && errno != EEXIST)
			goto cleanup;
		*p = '/';
	}
	if (mkdir(dir, 0777) < 0 && errno != EEXIST)
		goto cleanup;
	rc = 0;

cleanup:
	free(dir);
	return rc;
}

/* A fresh, reserved temp name next to path: DIR/.BASE.arca-XXXXXX. */
static char *temp_next_to(const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
	const char *base = slash ? slash + 1 : path;
	char *tmp = malloc(dirlen + strlen(base) + sizeof(".arca-XXXXXX") + 2);
	int fd;

	if (tmp == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	sprintf(tmp, "%.*s.%s.arca-XXXXXX", (int)dirlen, path, base);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		free(tmp);
		return NULL;
	}
	close(fd);
	return tmp;
}

static const arca_manifest_output *find_output(const arca_manifest *m,
		const char *path)
{
	size_t i;

	for (i = 0; i < m->n_outputs; i++)
		if (m->outputs[i].path != NULL && strcmp(m->outputs[i].path, path) == 0)
			return &m->outputs[i];
	return NULL;
}

/*
 * Materialise every declared output into a temp file next to it, fetch
 * stdout and stderr, and only when all of that succeeded rename the
 * outputs into place and replay the streams: all or nothing.
 */
static int restore_hit(uint64_t *bytes_out, arca_store *store,
		const cli_stage_spec *o, const arca_manifest *m)
{
	char **temps = NULL;
	arca_buf out_buf = ARCA_BUF_INIT, err_buf = ARCA_BUF_INIT;
	uint64_t bytes = 0;
	size_t i;
	int error, rc = RESTORE_FAILED;

	*bytes_out = 0;
	if ((temps = calloc(o->n_outputs + 1, sizeof(*temps))) == NULL) {
		cli_error("run: %s", strerror(ENOMEM));
		goto cleanup;
	}
	for (i = 0; i < o->n_outputs; i++) {
		const char *path = o->outputs[i];
		const arca_manifest_output *mo = find_output(m, path);

		if (mo == NULL) {
			rc = RESTORE_STALE;
			goto cleanup;
		}
		if (cli_make_parent_dirs(path) < 0) {
			cli_error("output '%s': cannot create its directory: %s",
					path, strerror(errno));
			goto cleanup;
		}
		if ((temps[i] = temp_next_to(path)) == NULL) {
			cli_error("output '%s': cannot create a temporary file "
					"next to it: %s", path, strerror(errno));
			goto cleanup;
		}
		error = arca_blob_get_file(store, &mo->digest, temps[i],
				mo->mode & 07777);
		if (error == ARCA_ECORRUPT || error == ARCA_ENOTFOUND) {
			rc = RESTORE_STALE;
			goto cleanup;
		}
		if (error < 0) {
			cli_lib_error(error, "output '%s'", path);
			goto cleanup;
		}
		bytes += mo->size;
	}

	error = arca_blob_get(&out_buf, store, &m->stdout_digest);
	if (error == 0)
		error = arca_blob_get(&err_buf, store, &m->stderr_digest);
	if (error == ARCA_ECORRUPT || error == ARCA_ENOTFOUND) {
		rc = RESTORE_STALE;
		goto cleanup;
	}
	if (error < 0) {
		cli_lib_error(error, "captured output");
		goto cleanup;
	}

	for (i = 0; i < o->n_outputs; i++) {
		if (rename(temps[i], o->outputs[i]) < 0) {
			cli_error("output '%s': %s", o->outputs[i], strerror(errno));
			goto cleanup;
		}
		free(temps[i]);
		temps[i] = NULL;
	}

	/* The streams go where the user pointed them; a closed pipe is fine. */
	fflush(stdout);
	(void)cli_write_all(STDOUT_FILENO, out_buf.data, out_buf.size);
	(void)cli_write_all(STDERR_FILENO, err_buf.data, err_buf.size);
	bytes += out_buf.size + err_buf.size;
	*bytes_out = bytes;
	rc = RESTORE_OK;

cleanup:
	if (temps != NULL) {
		for (i = 0; i < o->n_outputs; i++) {
			if (temps[i] != NULL)
				unlink(temps[i]);
			free(temps[i]);
		}
		free(temps);
	}
	arca_buf_free(&out_buf);
	arca_buf_free(&err_buf);
	return rc;
}

/* --------------------------------------------------------------------- */
/* Running CMD                                                             */
/* --------------------------------------------------------------------- */

static void forward_signal(int sig, siginfo_t *info, void *uctx)
{
	pid_t pid = (pid_t)child_pid;

	(void)uctx;
	/*
	 * A terminal's ^C (si_code SI_KERNEL) already reached the child,
	 * which shares our process group; forward only what was sent to
	 * arca alone (kill, timeout, a supervisor).
	 */
	if (pid > 0 && (info == NULL || info->si_code != SI_KERNEL))
		kill(pid, sig);
}

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP };
#define N_FORWARDED (sizeof(forwarded) / sizeof(forwarded[0]))

typedef struct capture {
	int fd;        /* temp file, -1 when not capturing */
	char *path;
	int error;     /* errno of a failed capture write, else 0 */
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

static int capture_open(capture *c, const char *what)
{
	const char *dir = getenv("TMPDIR");

	c->fd = -1;
	c->error = 0;
	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
	if ((c->path = malloc(strlen(dir) + strlen(what) + 20)) == NULL) {
		cli_error("run: %s", strerror(ENOMEM));
		return -1;
	}
	sprintf(c->path, "%s/arca-%s.XXXXXX", dir, what);
	if ((c->fd = mkostemp(c->path, O_CLOEXEC)) < 0) {
		cli_error("run: cannot create a temporary file in %s: %s", dir,
				strerror(errno));
		free(c->path);
		c->path = NULL;
		return -1;
	}
	return 0;
}

/*
 * Copy the child's stdout and stderr pipes to our own fds 1 and 2 and,
 * when capturing, to the capture files, until both pipes close.
 */
static void tee_loop(int pipes[2], capture *caps)
{
	static const int real[2] = { STDOUT_FILENO, STDERR_FILENO };
	struct pollfd pfd[2];
	int pass[2] = { 1, 1 };
	int open_count = 2, i;
	char buf[65536];

	for (i = 0; i < 2; i++) {
		pfd[i].fd = pipes[i];
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
	}
	while (open_count > 0) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < 2; i++) {
			ssize_t n;

			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			n = read(pfd[i].fd, buf, sizeof(buf));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open_count--;
				continue;
			}
			/* A reader that went away (EPIPE) stops the pass-through only. */
			if (pass[i] && cli_write_all(real[i], buf, (size_t)n) < 0)
				pass[i] = 0;
			if (caps != NULL && caps[i].fd >= 0 && caps[i].error == 0 &&
			    cli_write_all(caps[i].fd, buf, (size_t)n) < 0)
				caps[i].error = errno;
		}
	}
	for (i = 0; i < 2; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Run CMD (its resolved path, with argv as given). With caps, stdout and
 * stderr go through pipes and are teed into caps[0] and caps[1];
 * without, the child inherits our fds. SIGINT, SIGTERM and SIGHUP sent to
 * arca are forwarded to the child. Returns 0 and the child's status as
 * an exit code (128+N for signal N), or 125 if it could not be started.
 */
static int run_child(int *status_out, uint64_t *duration_ms,
		const char *path, char *const *argv, capture *caps)
{
	struct sigaction sa, old[N_FORWARDED], old_pipe;
	sigset_t block, saved;
	int pipes[2][2] = { { -1, -1 }, { -1, -1 } };
	uint64_t start;
	pid_t pid;
	int status = 0, i, rc = CLI_RUN_EXIT_ARCA;
	size_t k;

	*status_out = 0;
	*duration_ms = 0;
	if (caps != NULL) {
		for (i = 0; i < 2; i++) {
			if (pipe2(pipes[i], O_CLOEXEC) < 0) {
				cli_error("run: pipe: %s", strerror(errno));
				goto cleanup;
			}
		}
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward_signal;
	sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: poll/waitpid see EINTR */
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (k = 0; k < N_FORWARDED; k++)
		sigaddset(&block, forwarded[k]);

	/* Block until child_pid is known, so no early signal is lost. */
	sigprocmask(SIG_BLOCK, &block, &saved);
	for (k = 0; k < N_FORWARDED; k++)
		sigaction(forwarded[k], &sa, &old[k]);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, &old_pipe);

	fflush(NULL);
	start = now_ms();
	pid = fork();
	if (pid == 0) {
		/* Child: the dispositions arca was started with (a signal
		 * ignored by nohup or a background job stays ignored). */
		for (k = 0; k < N_FORWARDED; k++)
			sigaction(forwarded[k], &old[k], NULL);
		sigaction(SIGPIPE, &old_pipe, NULL);
		sigprocmask(SIG_SETMASK, &saved, NULL);
		if (caps != NULL &&
		    (dup2(pipes[0][1], STDOUT_FILENO) < 0 ||
		     dup2(pipes[1][1], STDERR_FILENO) < 0))
			_exit(CLI_RUN_EXIT_ARCA);
		execv(path, argv);
		i = errno;
		fprintf(stderr, "arca: cannot execute %s: %s\n", path, strerror(i));
		_exit(i == ENOENT ? CLI_RUN_EXIT_NOTFOUND : CLI_RUN_EXIT_NOEXEC);
	}
	if (pid < 0) {
		i = errno;
		sigprocmask(SIG_SETMASK, &saved, NULL);
		cli_error("run: fork: %s", strerror(i));
		goto restore;
	}
	child_pid = (sig_atomic_t)pid;
	sigprocmask(SIG_SETMASK, &saved, NULL);

	if (caps != NULL) {
		close(pipes[0][1]);
		close(pipes[1][1]);
		pipes[0][1] = pipes[1][1] = -1;
		{
			int rd[2] = { pipes[0][0], pipes[1][0] };

			tee_loop(rd, caps);
			pipes[0][0] = pipes[1][0] = -1;
		}
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			cli_error("run: waitpid: %s", strerror(errno));
			goto restore;
		}
	}
	*duration_ms = now_ms() - start;
	if (WIFEXITED(status))
		*status_out = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		*status_out = CLI_RUN_EXIT_SIGNAL + WTERMSIG(status);
	else
		*status_out = CLI_RUN_EXIT_ARCA;
	rc = 0;

restore:
	child_pid = 0;
	for (k = 0; k < N_FORWARDED; k++)
		sigaction(forwarded[k], &old[k], NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);

cleanup:
	for (i = 0; i < 2; i++) {
		if (pipes[i][0] >= 0)
			close(pipes[i][0]);
		if (pipes[i][1] >= 0)
			close(pipes[i][1]);
	}
	return rc;
}

/* --------------------------------------------------------------------- */
/* Storing a miss                                                          */
/* --------------------------------------------------------------------- */

/*
 * Store the outputs and captures, then the manifest. Returns 0, or a
 * library code after printing the warning (the run itself succeeded).
 */
static int store_result(uint64_t *bytes_out, arca_store *store,
		const arca_action *action, const cli_stage_spec *o, const char *stage,
		int status, uint64_t duration_ms, const capture *caps)
{
	arca_manifest *m = NULL;
	arca_digest d;
	uint64_t size, bytes = 0;
	struct stat st;
	size_t i;
	int error;

	*bytes_out = 0;
	if ((error = arca_manifest_from_action(&m, action)) < 0) {
		cli_warn("could not cache %s: manifest: %s", stage,
				cli_lib_detail(error));
		goto cleanup;
	}
	for (i = 0; i < o->n_outputs; i++) {
		const char *path = o->outputs[i];

		if (stat(path, &st) < 0) {
			error = ARCA_ENOTFOUND;
			cli_warn("could not cache %s: output '%s': %s", stage, path,
					strerror(errno));
			goto cleanup;
		}
		if ((error = arca_blob_put_file(&d, &size, store, path)) < 0 ||
		    (error = arca_manifest_add_output(m, path, &d, size,
				(unsigned int)(st.st_mode & 0777))) < 0) {
			cli_warn("could not cache %s: output '%s': %s", stage, path,
					cli_lib_detail(error));
			goto cleanup;
		}
		bytes += size;
	}
	if ((error = arca_blob_put_file(&m->stdout_digest, &m->stdout_size,
			store, caps[0].path)) < 0 ||
	    (error = arca_blob_put_file(&m->stderr_digest, &m->stderr_size,
			store, caps[1].path)) < 0) {
		cli_warn("could not cache %s: captured output: %s", stage,
				cli_lib_detail(error));
		goto cleanup;
	}
	bytes += m->stdout_size + m->stderr_size;
	m->exit_status = status;
	m->duration_ms = duration_ms;
	if (m->created == 0)
		m->created = (int64_t)time(NULL);
	{
		arca_put_options po = ARCA_PUT_OPTIONS_INIT;

		po.ttl_s = o->ttl_s ? o->ttl_s : cli_config_current()->ttl_s;
		po.tags = o->tags;
		po.n_tags = o->n_tags;
		error = arca_action_put_ex(store, m, &po);
	}
	if (error < 0) {
		cli_warn("could not cache %s: %s", stage, cli_lib_detail(error));
		goto cleanup;
	}
	*bytes_out = bytes;

cleanup:
	arca_manifest_free(m);
	return error;
}

/* The declared outputs exist as regular files; names the first that does not. */
static int check_outputs(const cli_stage_spec *o, const char *stage)
{
	struct stat st;
	size_t i;

	for (i = 0; i < o->n_outputs; i++) {
		if (stat(o->outputs[i], &st) < 0 || !S_ISREG(st.st_mode)) {
			cli_error("%s: declared output '%s' was not produced; "
					"nothing cached", stage, o->outputs[i]);
			return -1;
		}
	}
	return 0;
}

/* --------------------------------------------------------------------- */
/* arca run                                                                */
/* --------------------------------------------------------------------- */

/* --------------------------------------------------------------------- */
/* The runner                                                              */
/* --------------------------------------------------------------------- */

int cli_stage_prepare(cli_stage **out, const cli_stage_spec *spec)
{
	cli_stage *st = NULL;
	char *tool = NULL;
	int saved = -1, rc;

	*out = NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return stage_enomem();
	st->spec = spec;
	if ((rc = enter_workdir(&saved, spec->workdir)) != 0)
		goto cleanup;
	/* With a tool version the command is only needed on a miss: a hit
	 * restores outputs even where the tool is not installed. */
	if (spec->tool_version == NULL) {
		if (spec->tool_path != NULL)
			rc = cli_stage_resolve_command(&tool, spec->tool_path, 0);
		else
			rc = cli_stage_resolve_command(&st->cmd_path,
					spec->argv[0], 0);
		if (rc != 0)
			goto cleanup;
	}
	rc = build_action(&st->action, &st->key, spec,
			spec->tool_version != NULL ? NULL :
			tool != NULL ? tool : st->cmd_path);

cleanup:
	leave_workdir(saved);
	free(tool);
	if (rc == 0)
		*out = st;
	else
		cli_stage_free(st);
	return rc;
}

const arca_digest *cli_stage_key(const cli_stage *st)
{
	return &st->key;
}

const arca_action *cli_stage_action(const cli_stage *st)
{
	return st->action;
}

void cli_stage_free(cli_stage *st)
{
	if (st == NULL)
		return;
	arca_action_free(st->action);
	free(st->cmd_path);
	free(st);
}

/*
 * Look the key up and restore a hit. Returns 1 when the hit was served
 * (*rc set to its exit status), 0 to go on as a miss, -1 when restoring
 * failed for good (*rc set).
 */
static int serve_hit(int *rc, cli_stage_result *result, arca_store *store,
		const cli_stage *st, const char *key8)
{
	const cli_stage_spec *o = st->spec;
	const char *stage = o->stage;
	arca_manifest *m = NULL;
	char dur[32];
	uint64_t bytes = 0;
	int error, restored, served = 0;

	{
		arca_get_options go = ARCA_GET_OPTIONS_INIT;

		go.max_age_s = o->max_age_s;
		error = arca_action_get_ex(&m, store, &st->key, &go);
	}
	if (error == ARCA_ENOTFOUND)
		goto cleanup;
	if (error < 0) {
		cli_warn("cache lookup for %s %s failed: %s; running it",
				stage, key8, cli_lib_detail(error));
		(void)arca_stats_record(store, stage, ARCA_EVENT_ERROR, 0, 0);
		goto cleanup;
	}
	restored = restore_hit(&bytes, store, o, m);
	if (restored == RESTORE_OK) {
		cli_human_duration(dur, sizeof(dur), m->duration_ms);
		cli_error("hit %s %s (saved %s)", stage, key8, dur);
		if ((error = arca_stats_record(store, stage, ARCA_EVENT_HIT,
				bytes, m->duration_ms)) < 0)
			cli_warn("stats: %s", cli_lib_detail(error));
		result->outcome = CLI_STAGE_HIT;
		result->duration_ms = m->duration_ms;
		*rc = m->exit_status;
		served = 1;
		goto cleanup;
	}
	if (restored == RESTORE_FAILED) {
		*rc = CLI_RUN_EXIT_ARCA;
		served = -1;
		goto cleanup;
	}
	/* Stale: drop the entry (the library may already have). */
	error = arca_action_remove(store, &st->key);
	if (error < 0 && error != ARCA_ENOTFOUND)
		cli_warn("cannot remove the entry for %s %s: %s",
				stage, key8, cli_lib_detail(error));
	(void)arca_stats_record(store, stage, ARCA_EVENT_ERROR, 0, 0);
	cli_error("cached entry for %s %s is corrupt; recomputing",
			stage, key8);

cleanup:
	arca_manifest_free(m);
	return served;
}

/*
 * Single-flight (docs/cli.md, "Many processes"): take the key's lease
 * before running a miss, so that of many processes asking for the same
 * stage one runs it and the others wait, then hit. Returns as
 * serve_hit(): 1 when the result another process stored while we waited
 * was served, -1 when serving it failed, 0 to run the command with
 * *lease held, or with *lease NULL when the wait timed out or the lease
 * could not be taken (the stage then runs anyway).
 */
static int take_lease(arca_lease **lease, int *rc, cli_stage_result *result,
		arca_store *store, const cli_stage *st, const char *key8)
{
	const cli_stage_spec *o = st->spec;
	uint64_t t0;
	double waited_s;
	int error;

	*lease = NULL;
	error = arca_lease_try_acquire(lease, store, &st->key);
	if (error == ARCA_EBUSY) {
		cli_error("waiting for %s %s (another process is computing it)",
				o->stage, key8);
		t0 = now_ms();
		error = arca_lease_acquire(lease, store, &st->key, 0);
		if (error == ARCA_ETIMEOUT) {
			/* Tenths of a second, rounded down so that the
			 * timeout itself shows: "1", "0.5", "600". */
			waited_s = (double)((now_ms() - t0) / 100) / 10.0;
			cli_error("gave up waiting for %s %s after %g s; "
					"computing anyway", o->stage, key8, waited_s);
			return 0;
		}
	}
	if (error < 0) {
		cli_warn("cannot take the lease for %s %s: %s; running it "
				"without", o->stage, key8, cli_lib_detail(error));
		return 0;
	}
	/* Whoever held the lease before us has usually stored the result. */
	if (o->refresh)
		return 0;
	return serve_hit(rc, result, store, st, key8);
}

int cli_stage_execute(cli_stage_result *result, cli_stage *st,
		arca_store *store)
{
	const cli_stage_spec *o = st->spec;
	const char *stage = o->stage;
	char keyhex[ARCA_DIGEST_HEXLEN + 1], key8[9], dur[32];
	capture caps[2] = { { -1, NULL, 0 }, { -1, NULL, 0 } };
	arca_lease *lease = NULL;
	uint64_t bytes = 0, duration_ms = 0;
	int status = 0, error, saved = -1, rc;

	memset(result, 0, sizeof(*result));
	result->outcome = CLI_STAGE_ERROR;
	result->key = st->key;
	result->have_key = 1;
	arca_digest_to_hex(keyhex, &st->key);
	memcpy(key8, keyhex, 8);
	key8[8] = '\0';
	if ((rc = enter_workdir(&saved, o->workdir)) != 0)
		goto cleanup;

	if (o->no_cache) {
		/* Plain pass-through: no lookup, no capture, nothing stored. */
		if (st->cmd_path == NULL &&
		    (rc = cli_stage_resolve_command(&st->cmd_path, o->argv[0],
				0)) != 0)
			goto cleanup;
		if ((rc = run_child(&status, &duration_ms, st->cmd_path, o->argv,
				NULL)) != 0)
			goto cleanup;
		rc = status;
		result->outcome = status == 0 ? CLI_STAGE_RAN : CLI_STAGE_FAILED;
		result->duration_ms = duration_ms;
		goto cleanup;
	}

	if (!o->refresh) {
		int served = serve_hit(&rc, result, store, st, key8);

		if (served != 0)
			goto cleanup;
	}
	if (take_lease(&lease, &rc, result, store, st, key8) != 0)
		goto cleanup;

	if (st->cmd_path == NULL &&
	    (rc = cli_stage_resolve_command(&st->cmd_path, o->argv[0], 0)) != 0)
		goto cleanup;
	cli_error("%s %s %s", o->refresh ? "refresh" : "miss", stage, key8);
	if (capture_open(&caps[0], "stdout") < 0 ||
	    capture_open(&caps[1], "stderr") < 0) {
		rc = CLI_RUN_EXIT_ARCA;
		goto cleanup;
	}
	if ((rc = run_child(&status, &duration_ms, st->cmd_path, o->argv,
			caps)) != 0)
		goto cleanup;
	rc = status;
	result->duration_ms = duration_ms;

	if (status != 0) {
		cli_error("%s failed with status %d; nothing cached", stage, status);
		(void)arca_stats_record(store, stage, ARCA_EVENT_MISS, 0, 0);
		result->outcome = CLI_STAGE_FAILED;
		goto cleanup;
	}
	if (check_outputs(o, stage) < 0) {
		(void)arca_stats_record(store, stage, ARCA_EVENT_MISS, 0, 0);
		result->outcome = CLI_STAGE_OUTPUT_MISSING;
		rc = CLI_EXIT_FAILED;
		goto cleanup;
	}
	/* From here on the command succeeded: a failure to cache is a
	 * warning, and the exit status stays 0. */
	result->outcome = CLI_STAGE_CACHE_WRITE_FAILED;
	if (caps[0].error != 0 || caps[1].error != 0) {
		cli_warn("could not cache %s: capturing its output: %s", stage,
				strerror(caps[0].error ? caps[0].error : caps[1].error));
		(void)arca_stats_record(store, stage, ARCA_EVENT_MISS, 0, 0);
		(void)arca_stats_record(store, stage, ARCA_EVENT_ERROR, 0, 0);
		goto cleanup;
	}
	if (store_result(&bytes, store, st->action, o, stage, status,
			duration_ms, caps) < 0) {
		(void)arca_stats_record(store, stage, ARCA_EVENT_MISS, 0, 0);
		(void)arca_stats_record(store, stage, ARCA_EVENT_ERROR, 0, 0);
		goto cleanup;
	}
	if ((error = arca_stats_record(store, stage, ARCA_EVENT_MISS, bytes,
			0)) < 0)
		cli_warn("stats: %s", cli_lib_detail(error));
	cli_human_duration(dur, sizeof(dur), duration_ms);
	cli_error("stored %s %s (ran %s)", stage, key8, dur);
	result->outcome = CLI_STAGE_STORED;

cleanup:
	/* After the result is stored (or the run failed): waiters look up
	 * again as soon as it is released. */
	arca_lease_release(lease);
	capture_close(&caps[0]);
	capture_close(&caps[1]);
	leave_workdir(saved);
	result->status = rc;
	return rc;
}

int cli_stage_run(cli_stage_result *result, const cli_stage_spec *spec,
		arca_store *store)
{
	cli_stage *st = NULL;
	int rc;

	memset(result, 0, sizeof(*result));
	result->outcome = CLI_STAGE_ERROR;
	if ((rc = cli_stage_prepare(&st, spec)) != 0) {
		result->status = rc;
		return rc;
	}
	rc = cli_stage_execute(result, st, store);
	cli_stage_free(st);
	return rc;
}
