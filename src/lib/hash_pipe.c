/*
 * SHA-256 on a second thread alongside the caller's I/O (hash_pipe.h).
 *
 * A ring of PIPE_SLOTS buffers of PIPE_CHUNK bytes. The caller fills
 * slot (pushed % PIPE_SLOTS) and pushes it; the worker hashes slots in
 * order, advancing hashed. pushed and hashed only grow and are read and
 * written under mu, which also orders the slot contents: the caller's
 * writes into a slot happen before the unlock in push, the worker's
 * reads after its lock; the caller refills a slot only after the worker
 * has moved hashed past it (under mu), so no byte is written while the
 * other thread may read it. Both threads reading one slot at once (the
 * worker hashing, the caller writing it out) is a read/read overlap.
 * The hasher h is touched by the worker alone between start and the
 * join in finish/free; pthread_join orders it back to the caller.
 *
 * An error of the worker (the digest call failed) is kept with its
 * message, which lives in the worker's thread-local error slot, and
 * returned by the caller's next call, so it propagates to the I/O side;
 * an error of the caller ends the pipe through arca__hash_pipe_free().
 */
#include "hash_pipe.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIPE_SLOTS 4
#define PIPE_CHUNK ((size_t)1 << 20)

struct arca__hash_pipe {
	pthread_mutex_t mu;
	pthread_cond_t cv_work;   /* the worker waits for a slot or stop */
	pthread_cond_t cv_free;   /* the caller waits for hashed to move */
	arca__hasher *h;
	unsigned char *slot[PIPE_SLOTS];
	size_t len[PIPE_SLOTS];
	unsigned long long pushed, hashed; /* under mu */
	int stop;                 /* under mu: finish or free asked */
	int drop;                 /* under mu: free: leave the queue */
	int error;                /* under mu: the worker's error, or 0 */
	char msg[512];            /* its message, written before error */
	int have_thread;
	pthread_t thread;
};

static void *worker(void *arg)
{
	arca__hash_pipe *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		size_t i, len;
		int error;

		while (p->hashed == p->pushed && !p->stop)
			pthread_cond_wait(&p->cv_work, &p->mu);
		if (p->drop || p->hashed == p->pushed)
			break; /* stopped: dropped, or nothing left */
		i = (size_t)(p->hashed % PIPE_SLOTS);
		len = p->len[i];
		pthread_mutex_unlock(&p->mu);
		error = arca__hasher_update(p->h, p->slot[i], len);
		pthread_mutex_lock(&p->mu);
		if (error < 0) {
			snprintf(p->msg, sizeof(p->msg), "%s", arca_errmsg());
			p->error = error;
			pthread_cond_broadcast(&p->cv_free);
			break;
		}
		p->hashed++;
		pthread_cond_broadcast(&p->cv_free);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int arca__hash_pipe_start(arca__hash_pipe **out, arca__hasher *h)
{
	arca__hash_pipe *p;
	int i, rc;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory for a hash pipe");
	p->h = h;
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		free(p);
		return arca__error(ARCA_ENOMEM, "cannot create a mutex");
	}
	if (pthread_cond_init(&p->cv_work, NULL) != 0) {
		pthread_mutex_destroy(&p->mu);
		free(p);
		return arca__error(ARCA_ENOMEM, "cannot create a condition");
	}
	if (pthread_cond_init(&p->cv_free, NULL) != 0) {
		pthread_cond_destroy(&p->cv_work);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return arca__error(ARCA_ENOMEM, "cannot create a condition");
	}
	for (i = 0; i < PIPE_SLOTS; i++)
		if ((p->slot[i] = malloc(PIPE_CHUNK)) == NULL) {
			arca__hash_pipe_free(p);
			return arca__error(ARCA_ENOMEM,
					"out of memory for a hash pipe");
		}
	if ((rc = pthread_create(&p->thread, NULL, worker, p)) != 0) {
		arca__hash_pipe_free(p);
		return arca__error(rc == EAGAIN ? ARCA_ENOMEM : ARCA_EIO,
				"cannot start a hashing thread: %s",
				strerror(rc));
	}
	p->have_thread = 1;
	*out = p;
	return 0;
}

/* The worker's error as the caller's, with its message. Under mu. */
static int worker_error(arca__hash_pipe *p)
{
	return arca__error(p->error, "%s", p->msg);
}

int arca__hash_pipe_buf(arca__hash_pipe *p, unsigned char **buf, size_t *cap)
{
	int error = 0;

	pthread_mutex_lock(&p->mu);
	while (p->pushed - p->hashed >= PIPE_SLOTS && p->error == 0)
		pthread_cond_wait(&p->cv_free, &p->mu);
	if (p->error != 0)
		error = worker_error(p);
	pthread_mutex_unlock(&p->mu);
	if (error < 0)
		return error;
	/* The slot after the last pushed: free, by the wait above. */
	*buf = p->slot[p->pushed % PIPE_SLOTS];
	*cap = PIPE_CHUNK;
	return 0;
}

int arca__hash_pipe_push(arca__hash_pipe *p, size_t len)
{
	int error = 0;

	if (len == 0)
		return 0;
	pthread_mutex_lock(&p->mu);
	if (p->error != 0) {
		error = worker_error(p);
	} else {
		p->len[p->pushed % PIPE_SLOTS] = len;
		p->pushed++;
		pthread_cond_signal(&p->cv_work);
	}
	pthread_mutex_unlock(&p->mu);
	return error;
}

/* Ask the worker to stop once the queue is empty (drop: at once) and
 * join it. */
static void stop_worker(arca__hash_pipe *p, int drop)
{
	if (!p->have_thread)
		return;
	pthread_mutex_lock(&p->mu);
	p->drop = drop;
	p->stop = 1;
	pthread_cond_signal(&p->cv_work);
	pthread_mutex_unlock(&p->mu);
	(void)pthread_join(p->thread, NULL);
	p->have_thread = 0;
}

int arca__hash_pipe_finish(arca__hash_pipe *p, arca_digest *out)
{
	int error = 0;

	stop_worker(p, 0);
	/* Joined: no other thread touches p now. */
	if (p->error != 0)
		return worker_error(p);
	if (p->hashed != p->pushed)
		return arca__error(ARCA_EIO, "hash pipe: %llu chunks unhashed",
				p->pushed - p->hashed);
	error = arca__hasher_final(p->h, out);
	return error;
}

void arca__hash_pipe_free(arca__hash_pipe *p)
{
	int i;

	if (p == NULL)
		return;
	stop_worker(p, 1);
	for (i = 0; i < PIPE_SLOTS; i++)
		free(p->slot[i]);
	pthread_cond_destroy(&p->cv_free);
	pthread_cond_destroy(&p->cv_work);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
