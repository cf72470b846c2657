/*
 * pin_holder DIR BYTES READY GO: a writer caught between storing its
 * output and committing its manifest, for tests of pins (issue 8). It
 * opens the store DIR, computes an action whose one output is BYTES
 * bytes, creates the file READY once the output is stored (and so
 * pinned), waits for the file GO (at most 60 s), then commits. Public API
 * only. Exit status 0 when the entry is committed.
 */
#include "arca/arca.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct holder {
	arca_store *store;
	arca_action *action;
	size_t bytes;
	const char *ready, *go;
} holder;

static int compute(arca_manifest **out, void *vctx)
{
	holder *h = vctx;
	struct timespec nap = { 0, 50 * 1000 * 1000 };
	unsigned char *buf = malloc(h->bytes ? h->bytes : 1);
	arca_manifest *m = NULL;
	arca_digest d, empty;
	FILE *f;
	size_t i;
	int error, waited;

	if (buf == NULL)
		return ARCA_ENOMEM;
	srand((unsigned)getpid());
	for (i = 0; i < h->bytes; i++)
		buf[i] = (unsigned char)rand();
	if ((error = arca_manifest_from_action(&m, h->action)) < 0 ||
	    (error = arca_blob_put(&d, h->store, buf, h->bytes)) < 0 ||
	    (error = arca_blob_put(&empty, h->store, NULL, 0)) < 0 ||
	    (error = arca_manifest_add_output(m, "out", &d, h->bytes,
			0644)) < 0) {
		fprintf(stderr, "pin_holder: %s\n", arca_errmsg());
		free(buf);
		arca_manifest_free(m);
		return error;
	}
	free(buf);
	m->stdout_digest = empty;
	m->stderr_digest = empty;
	if ((f = fopen(h->ready, "w")) != NULL)
		fclose(f);
	for (waited = 0; waited < 1200 && access(h->go, F_OK) != 0; waited++)
		nanosleep(&nap, NULL);
	*out = m;
	return 0;
}

int main(int argc, char **argv)
{
	holder h;
	arca_manifest *m = NULL;
	arca_digest key;
	char arg[64];
	int computed = 0, error;

	if (argc != 5) {
		fprintf(stderr, "usage: pin_holder DIR BYTES READY GO\n");
		return 2;
	}
	memset(&h, 0, sizeof(h));
	h.bytes = (size_t)strtoull(argv[2], NULL, 10);
	h.ready = argv[3];
	h.go = argv[4];
	snprintf(arg, sizeof(arg), "pid=%ld", (long)getpid());
	if ((error = arca_store_open(&h.store, argv[1], NULL)) < 0 ||
	    (error = arca_action_new(&h.action, "pin_holder")) < 0 ||
	    (error = arca_action_add_arg(h.action, arg)) < 0 ||
	    (error = arca_action_add_output(h.action, "out")) < 0 ||
	    (error = arca_manifest_from_action(&m, h.action)) < 0) {
		fprintf(stderr, "pin_holder: %s\n", arca_errmsg());
		return 1;
	}
	key = m->key;
	arca_manifest_free(m);
	m = NULL;
	error = arca_get_or_compute(&m, &computed, h.store, &key, compute,
			&h, NULL);
	if (error < 0)
		fprintf(stderr, "pin_holder: %s\n", arca_errmsg());
	arca_manifest_free(m);
	arca_action_free(h.action);
	arca_store_close(h.store);
	return error < 0 ? 1 : 0;
}
