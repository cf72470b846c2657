/*
 * SHA-256 on a second thread (hash_pipe.c): the caller reads chunks into
 * the pipe's buffers and pushes them; a worker thread hashes them in
 * order while the caller goes on with its I/O (writing the same chunk to
 * a temp file or a destination, reading the next one). A large put or
 * get then costs the slower of hashing and I/O, not their sum.
 *
 * Usage, on one thread (the pipe is not for several producers):
 *
 *	if ((error = arca__hash_pipe_start(&p, h)) < 0) ...
 *	for (;;) {
 *		if ((error = arca__hash_pipe_buf(p, &buf, &cap)) < 0) ...
 *		n = read(src, buf, cap); ...
 *		if ((error = arca__hash_pipe_push(p, n)) < 0) ...
 *		write(dst, buf, n);         // reading buf meanwhile is fine
 *	}
 *	error = arca__hash_pipe_finish(p, &digest);
 *	arca__hash_pipe_free(p);
 *
 * The worker only ever reads the buffers; the caller only writes a buffer
 * between arca__hash_pipe_buf() and arca__hash_pipe_push(), and may go on
 * reading it until its next arca__hash_pipe_buf() call.
 */
#ifndef ARCA_HASH_PIPE_H
#define ARCA_HASH_PIPE_H

#include "internal.h"

#include <stddef.h>

/* Blobs from this many bytes on are hashed on a second thread; smaller
 * ones stay on the caller's (a thread costs more than it saves there). */
#define ARCA__HASH_PIPE_MIN ((uint64_t)8 << 20)

typedef struct arca__hash_pipe arca__hash_pipe;

/*
 * Start a pipe whose worker continues hashing into h (borrowed: what was
 * hashed into it so far stays, and the caller must not touch h until
 * arca__hash_pipe_finish() or arca__hash_pipe_free() returns).
 * 0; ARCA_ENOMEM; ARCA_EIO (no thread could be created).
 */
int arca__hash_pipe_start(arca__hash_pipe **out, arca__hasher *h);

/*
 * The next buffer to fill (*cap bytes), once the worker is done with it.
 * 0; or the worker's error (the hash failed), with its message.
 */
int arca__hash_pipe_buf(arca__hash_pipe *p, unsigned char **buf,
		size_t *cap);

/* Hand the first len bytes of the buffer from the last
 * arca__hash_pipe_buf() to the worker. 0, or the worker's error. */
int arca__hash_pipe_push(arca__hash_pipe *p, size_t len);

/*
 * Wait for the worker to hash every pushed byte, stop it and finish h
 * into *out (h is the caller's again, reset by the final as
 * arca__hasher_final() leaves it). 0; the worker's error.
 */
int arca__hash_pipe_finish(arca__hash_pipe *p, arca_digest *out);

/* Stop the worker (what is queued is dropped), join it, free. h is the
 * caller's again, in an unspecified state: reset it before reuse. NULL
 * is fine. */
void arca__hash_pipe_free(arca__hash_pipe *p);

#endif
