/*
 * The request-header deadline: a connection gets --timeout to deliver a
 * request's headers, counted from its start (or from the end of its
 * previous request), however slowly it trickles them.
 *
 * libmicrohttpd's MHD_OPTION_CONNECTION_TIMEOUT is an idle timeout: every
 * byte received starts it again, so a client sending one header byte a
 * second ("slowloris") would hold its connection, a pool thread's share
 * and a --max-connections slot for ever. libmicrohttpd 0.9.75 has no
 * header timeout of its own, so each connection is registered here
 * (MHD_OPTION_NOTIFY_CONNECTION) and a watchdog thread looks at them
 * every 100 ms: one that has waited for its headers longer than the
 * deadline gets shutdown(2) on its socket, which libmicrohttpd then sees
 * as a closed connection and cleans up itself. The socket is never
 * closed here. libmicrohttpd reports MHD_CONNECTION_NOTIFY_CLOSED before
 * it closes the descriptor (daemon.c, MHD_cleanup_connections, 0.9.75),
 * and that report takes the lock the watchdog holds while it calls
 * shutdown(2), so the watchdog never touches a descriptor number that has
 * already been reused.
 *
 * Bodies are not under this deadline (a large upload may take long);
 * a body that stops arriving is cut by the idle timeout.
 */
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <sys/socket.h>

typedef struct dl_conn {
	struct dl_conn *prev, *next;
	int fd;
	int waiting;          /* for a request's headers */
	int cut;
	uint64_t since_ns;    /* CLOCK_MONOTONIC */
} dl_conn;

struct srv_deadline {
	uint64_t limit_ns;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	int stop;
	dl_conn head;         /* a ring: head.next is the first */
	unsigned long cuts;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *watch(void *arg)
{
	srv_deadline *d = arg;
	struct timespec until;
	dl_conn *c;
	uint64_t now;

	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		now = mono_ns();
		for (c = d->head.next; c != &d->head; c = c->next) {
			if (c->waiting && !c->cut &&
					now - c->since_ns > d->limit_ns) {
				shutdown(c->fd, SHUT_RDWR);
				c->cut = 1;
				d->cuts++;
			}
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000 * 1000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&d->wake, &d->lock, &until);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int srv_deadline_start(srv_deadline **out, unsigned int limit_s)
{
	srv_deadline *d;

	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return ARCA_ENOMEM;
	d->limit_ns = (uint64_t)limit_s * 1000000000u;
	d->head.next = d->head.prev = &d->head;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->wake, NULL);
	if (pthread_create(&d->thread, NULL, watch, d) != 0) {
		pthread_cond_destroy(&d->wake);
		pthread_mutex_destroy(&d->lock);
		free(d);
		return ARCA_ENOMEM;
	}
	*out = d;
	return 0;
}

void srv_deadline_stop(srv_deadline *d)
{
	if (d == NULL)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = 1;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
	/* Connections still listed were never reported closed: the daemons
	 * are stopped before this, so there are none. */
	while (d->head.next != &d->head) {
		dl_conn *c = d->head.next;

		d->head.next = c->next;
		free(c);
	}
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

void srv_deadline_notify(void *cls, struct MHD_Connection *conn,
		void **socket_context, enum MHD_ConnectionNotificationCode code)
{
	srv_deadline *d = cls;
	const union MHD_ConnectionInfo *ci;
	dl_conn *c;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn,
				MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL || (c = calloc(1, sizeof(*c))) == NULL)
			return;
		c->fd = ci->connect_fd;
		c->waiting = 1;
		c->since_ns = mono_ns();
		pthread_mutex_lock(&d->lock);
		c->next = &d->head;
		c->prev = d->head.prev;
		d->head.prev->next = c;
		d->head.prev = c;
		pthread_mutex_unlock(&d->lock);
		*socket_context = c;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED &&
			(c = *socket_context) != NULL) {
		pthread_mutex_lock(&d->lock);
		c->prev->next = c->next;
		c->next->prev = c->prev;
		pthread_mutex_unlock(&d->lock);
		free(c);
		*socket_context = NULL;
	}
}

static void set_waiting(srv_deadline *d, struct MHD_Connection *conn,
		int waiting)
{
	const union MHD_ConnectionInfo *ci;
	dl_conn *c;

	if (d == NULL || (ci = MHD_get_connection_info(conn,
			MHD_CONNECTION_INFO_SOCKET_CONTEXT)) == NULL ||
			(c = ci->socket_context) == NULL)
		return;
	pthread_mutex_lock(&d->lock);
	c->waiting = waiting;
	c->since_ns = mono_ns();
	pthread_mutex_unlock(&d->lock);
}

void srv_deadline_headers_in(srv_deadline *d, struct MHD_Connection *conn)
{
	set_waiting(d, conn, 0);
}

void srv_deadline_request_done(srv_deadline *d, struct MHD_Connection *conn)
{
	set_waiting(d, conn, 1);
}
