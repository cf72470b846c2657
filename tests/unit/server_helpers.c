#include "server_helpers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void free_ports(int *out, int n)
{
	int fds[16], i;

	assert_true(n <= 16);
	for (i = 0; i < n; i++) {
		struct sockaddr_in sa;
		socklen_t len = sizeof(sa);

		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(fds[i] >= 0);
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(bind(fds[i], (struct sockaddr *)&sa,
				sizeof(sa)), 0);
		assert_int_equal(getsockname(fds[i], (struct sockaddr *)&sa,
				&len), 0);
		out[i] = ntohs(sa.sin_port);
	}
	for (i = 0; i < n; i++)
		close(fds[i]);
}

int free_port(void)
{
	int port;

	free_ports(&port, 1);
	return port;
}

pid_t spawn_logged(const char *const *argv, const char *log)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

void wait_ready(int (*ready)(void *ctx), void *ctx, pid_t *pid, int ms,
		const char *what, const char *log)
{
	int64_t until = now_ms() + ms;
	int status;

	while (!ready(ctx)) {
		if (waitpid(*pid, &status, WNOHANG) == *pid) {
			*pid = 0;
			fail_msg("%s exited (see %s)", what, log);
		}
		if (now_ms() > until)
			fail_msg("%s did not start in %d ms (see %s)", what, ms,
					log);
		usleep(10000);
	}
}

void kill_child(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
	}
	*pid = 0;
}

int mem_sink(void *ctx, const void *data, size_t len)
{
	mem *m = ctx;

	assert_true(m->len + len <= sizeof(m->data));
	memcpy(m->data + m->len, data, len);
	m->len += len;
	return 0;
}

arca_store *open_store(const char *dir)
{
	arca_store *s = NULL;

	if (arca_store_open(&s, dir, NULL) != 0)
		fail_msg("arca_store_open %s: %s", dir, arca_errmsg());
	return s;
}

arca_tier_stats tier_stats(arca_store *s, size_t i)
{
	arca_tier_stats st;

	assert_int_equal(arca_store_tier_stats(&st, s, i), 0);
	return st;
}

void key_of(char *out, size_t size, const char *kind, const arca_digest *d)
{
	char hex[ARCA_DIGEST_HEXLEN + 1];

	arca_digest_to_hex(hex, d);
	snprintf(out, size, "arca:v1:%s:%s", kind, hex);
}

void random_fill(unsigned char *buf, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (unsigned char)(seed >> 16);
	}
}

arca_manifest *new_action(arca_store *s, const char *stage,
		const char *out_bytes)
{
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	arca_digest out;

	assert_int_equal(arca_action_new(&a, stage), 0);
	assert_int_equal(arca_action_add_arg(a, out_bytes), 0);
	assert_int_equal(arca_manifest_from_action(&m, a), 0);
	arca_action_free(a);
	assert_int_equal(arca_blob_put(&out, s, out_bytes, strlen(out_bytes)), 0);
	assert_int_equal(arca_manifest_add_output(m, "out.txt", &out,
			strlen(out_bytes), 0644), 0);
	assert_int_equal(arca_blob_put(&m->stdout_digest, s, "stdout\n", 7), 0);
	m->stdout_size = 7;
	assert_int_equal(arca_blob_put(&m->stderr_digest, s, "", 0), 0);
	m->duration_ms = 42;
	return m;
}

void check_tier_blobs(arca_backend *b, arca_store *s,
		const arca_digest *written, const char *bytes, const char *only)
{
	arca_buf buf = ARCA_BUF_INIT;
	arca_digest remote, empty, nothing, digests[3];
	unsigned char missing[3] = { 9, 9, 9 };
	size_t bytes_len = strlen(bytes), only_len = strlen(only);
	arca_tier_stats st;
	uint64_t size = 0;
	mem m = { .len = 0 };

	/* A blob only in the tier: stat, then get, which promotes it. */
	assert_int_equal(b->blob_put(b, &remote, only, only_len), 0);
	assert_int_equal(arca_blob_stat(&size, s, &remote), 0);
	assert_int_equal(size, only_len);
	assert_int_equal(arca_blob_get(&buf, s, &remote), 0);
	assert_int_equal(buf.size, only_len);
	assert_memory_equal(buf.data, only, only_len);
	arca_buf_free(&buf);
	st = tier_stats(s, 1);
	assert_int_equal(st.hits, 2);
	assert_int_equal(st.promoted, 1);
	assert_int_equal(st.errors, 0);
	/* Now local: the tier is not asked again. */
	assert_int_equal(arca_blob_get(&buf, s, &remote), 0);
	arca_buf_free(&buf);
	assert_int_equal(tier_stats(s, 1).hits, 2);

	/* The backend's own methods: an empty blob is present, not a miss. */
	assert_int_equal(b->blob_put(b, &empty, "", 0), 0);
	assert_int_equal(b->blob_stat(b, &empty, &size), 0);
	assert_int_equal(size, 0);
	assert_int_equal(b->blob_get(b, &empty, mem_sink, &m), 0);
	assert_int_equal(m.len, 0);
	assert_int_equal(b->blob_get(b, written, mem_sink, &m), 0);
	assert_int_equal(m.len, bytes_len);
	assert_memory_equal(m.data, bytes, bytes_len);
	assert_int_equal(arca_digest_buffer(&nothing, "nowhere", 7), 0);
	assert_int_equal(b->blob_get(b, &nothing, mem_sink, &m),
			ARCA_ENOTFOUND);
	assert_int_equal(b->blob_stat(b, &nothing, NULL), ARCA_ENOTFOUND);
	assert_int_equal(arca_blob_get(&buf, s, &nothing), ARCA_ENOTFOUND);
	assert_int_equal(tier_stats(s, 1).misses, 1);

	/* find_missing (Redis: one pipelined round trip): one flag each. */
	digests[0] = *written;
	digests[1] = nothing;
	digests[2] = empty;
	assert_int_equal(b->find_missing(b, missing, digests, 3), 0);
	assert_int_equal(missing[0], 0);
	assert_int_equal(missing[1], 1);
	assert_int_equal(missing[2], 0);
}

int one_line(const char *msg)
{
	return strchr(msg, '\n') == NULL && msg[0] != '\0';
}

void expect_einval(arca_store *s, const char *url, const char *shown,
		const char *hidden, const char *also)
{
	const char *msg;
	int rc = arca_store_add_tier_url(s, url, NULL);

	if (rc != ARCA_EINVAL)
		fail_msg("%s: %d (%s), expected ARCA_EINVAL", url, rc,
				arca_errmsg());
	msg = arca_errmsg();
	if (!one_line(msg) || strstr(msg, shown) == NULL ||
	    (hidden && strstr(msg, hidden) != NULL) ||
	    (also && strstr(msg, also) == NULL))
		fail_msg("%s: message \"%s\"", url, msg);
}

arca_store *open_second_machine(const char *dir, const char *url,
		const arca_manifest *m)
{
	char *sdir = fixture_path("%s/machine-b", dir);
	arca_manifest *got = NULL;
	arca_buf buf = ARCA_BUF_INIT;
	arca_store *other;

	other = open_store(sdir);
	free(sdir);
	assert_int_equal(arca_store_add_tier_url(other, url, NULL), 0);
	assert_int_equal(arca_action_get(&got, other, &m->key), 0);
	assert_true(arca_digest_equal(&got->outputs[0].digest,
			&m->outputs[0].digest));
	assert_int_equal(got->duration_ms, 42);
	arca_manifest_free(got);
	got = NULL;
	assert_int_equal(tier_stats(other, 1).hits, 1);
	assert_int_equal(tier_stats(other, 1).promoted, 1);
	assert_int_equal(arca_blob_get(&buf, other, &m->outputs[0].digest), 0);
	assert_memory_equal(buf.data, "hello world\n", 12);
	arca_buf_free(&buf);
	return other;
}
