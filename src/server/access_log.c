/*
 * The access log: one line per request, written when libmicrohttpd
 * reports the request finished (MHD_OPTION_NOTIFY_COMPLETED), to stderr
 * or to --access-log FILE (appended, line-buffered):
 *
 *   2026-12-01T16:40:00Z 127.0.0.1 PUT /cas/3f2a... 200 in=1048576 out=0 12ms
 *
 * time (UTC), client address, method, path (as checked; a refused path
 * is shown with bytes outside printable ASCII as \xHH, cut at 200
 * characters), status (0: no response was sent), bytes of the request
 * body received and of the response body sent, wall time in ms, and a
 * note when the connection ended otherwise than by a completed response
 * ("client-aborted", "timeout", "shutdown", "error").
 */
#include "server.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static FILE *log_file;

int srv_log_open(const char *path)
{
	if (path == NULL) {
		log_file = stderr;
		return 0;
	}
	if ((log_file = fopen(path, "ae")) == NULL) {
		srv_log_msg("--access-log %s: %s", path, strerror(errno));
		return -1;
	}
	setvbuf(log_file, NULL, _IOLBF, 0);
	return 0;
}

void srv_log_close(void)
{
	if (log_file != NULL && log_file != stderr)
		fclose(log_file);
	log_file = NULL;
}

void srv_log_msg(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "arca serve: %s\n", line);
}

static void client_address(char *out, size_t size, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	snprintf(out, size, "-");
	if (c == NULL || (ci = MHD_get_connection_info(c,
			MHD_CONNECTION_INFO_CLIENT_ADDRESS)) == NULL ||
			(sa = ci->client_addr) == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
				out, (socklen_t)size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
				&((const struct sockaddr_in6 *)sa)->sin6_addr,
				out, (socklen_t)size);
}

void srv_log_request(const srv_request *r, const char *note)
{
	char when[32], addr[64];
	struct timespec now;
	struct tm tm;
	time_t t = time(NULL);
	uint64_t ms;

	if (log_file == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = ((uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec -
			r->start_ns) / 1000000u;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	client_address(addr, sizeof(addr), r->conn);
	/* One fprintf: stdio locks the stream for the whole line. */
	fprintf(log_file, "%s %s %s %s %d in=%llu out=%llu %llums%s%s\n",
			when, addr, r->method_name, r->path, r->status,
			(unsigned long long)r->bytes_in,
			(unsigned long long)r->bytes_out,
			(unsigned long long)ms, note ? " " : "",
			note ? note : "");
}
