/*
 * The writer of the crash-state test: stores file blobs, inline blobs
 * and actions through the public API, in three sessions (open ... close),
 * with one automatic WAL checkpoint inside a put (checkpoint_inside_a_put),
 * and after each call returns appends an acknowledgement to ACKS, a file
 * outside the store (O_APPEND, fsynced: it is the oracle, not part of
 * what a power cut may take). Run under the recorder (recorder.c), the
 * acknowledgements take their place among the store's file-system
 * operations.
 *
 * Acknowledgement lines:
 *   blob HEX SEED SIZE              arca_blob_put/_put_file returned 0
 *   action KEYHEX HEX,HEX,...       arca_action_put returned 0; the
 *                                   digests of its outputs, in order
 *   closed N                        arca_store_close of session N returned
 *
 * Usage: crash_writer STORE ACKS SCRATCH
 *   SCRATCH is a directory outside the store for arca_blob_put_file's input.
 */
#include "arca/arca.h"
#include "content.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KIB 1024u

static int ack_fd = -1;

static void die(const char *what, int rc)
{
	fprintf(stderr, "crash_writer: %s: %s (%s)\n", what, arca_strerror(rc),
			arca_errmsg());
	exit(1);
}

static void ack(const char *line)
{
	size_t len = strlen(line);

	if (write(ack_fd, line, len) != (ssize_t)len || fsync(ack_fd) != 0) {
		perror("crash_writer: acks");
		exit(1);
	}
}

static void ack_blob(const arca_digest *d, uint64_t seed, size_t size)
{
	char hex[ARCA_DIGEST_HEXLEN + 1], line[160];

	arca_digest_to_hex(hex, d);
	snprintf(line, sizeof(line), "blob %s %llu %zu\n", hex,
			(unsigned long long)seed, size);
	ack(line);
}

static arca_digest put(arca_store *s, uint64_t seed, size_t size)
{
	unsigned char *buf = malloc(size ? size : 1);
	arca_digest d;
	int rc;

	if (buf == NULL)
		die("malloc", ARCA_ENOMEM);
	crash_content(buf, size, seed);
	if ((rc = arca_blob_put(&d, s, buf, size)) < 0)
		die("arca_blob_put", rc);
	free(buf);
	ack_blob(&d, seed, size);
	return d;
}

/* The file path of arca_blob_put_file (the streaming put_fd path). */
static arca_digest put_file(arca_store *s, const char *scratch, uint64_t seed,
		size_t size)
{
	unsigned char *buf = malloc(size);
	char path[4096];
	uint64_t got = 0;
	arca_digest d;
	int rc, fd;

	snprintf(path, sizeof(path), "%s/input-%llu", scratch,
			(unsigned long long)seed);
	if (buf == NULL)
		die("malloc", ARCA_ENOMEM);
	crash_content(buf, size, seed);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, size) != (ssize_t)size || close(fd) != 0) {
		perror(path);
		exit(1);
	}
	free(buf);
	if ((rc = arca_blob_put_file(&d, &got, s, path)) < 0)
		die("arca_blob_put_file", rc);
	if (got != size)
		die("arca_blob_put_file: size", ARCA_EIO);
	ack_blob(&d, seed, size);
	return d;
}

/* An action whose outputs are the given blobs; stdout and stderr too. */
static void action(arca_store *s, const char *stage, const arca_digest *outs,
		const size_t *sizes, size_t n)
{
	arca_action *a = NULL;
	arca_manifest *m = NULL;
	char hex[ARCA_DIGEST_HEXLEN + 1], line[1024], name[32];
	size_t i, len;
	int rc;

	if ((rc = arca_action_new(&a, stage)) < 0 ||
	    (rc = arca_action_add_arg(a, stage)) < 0)
		die("arca_action_new", rc);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "out%zu", i);
		if ((rc = arca_action_add_output(a, name)) < 0)
			die("arca_action_add_output", rc);
	}
	if ((rc = arca_manifest_from_action(&m, a)) < 0)
		die("arca_manifest_from_action", rc);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "out%zu", i);
		if ((rc = arca_manifest_add_output(m, name, &outs[i], sizes[i],
				0644)) < 0)
			die("arca_manifest_add_output", rc);
	}
	m->stdout_digest = outs[0];
	m->stdout_size = sizes[0];
	m->stderr_digest = outs[n - 1];
	m->stderr_size = sizes[n - 1];
	m->duration_ms = 1234;
	if ((rc = arca_action_put(s, m)) < 0)
		die("arca_action_put", rc);
	arca_digest_to_hex(hex, &m->key);
	len = (size_t)snprintf(line, sizeof(line), "action %s ", hex);
	for (i = 0; i < n; i++) {
		arca_digest_to_hex(hex, &outs[i]);
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s",
				i ? "," : "", hex);
	}
	snprintf(line + len, sizeof(line) - len, "\n");
	ack(line);
	arca_manifest_free(m);
	arca_action_free(a);
}

static off_t file_size(const char *dir, const char *name)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0 ? st.st_size : 0;
}

/*
 * Make SQLite's automatic checkpoint (at 1000 WAL pages) happen inside
 * the commit of a file blob's index row: fill the WAL with inline blobs
 * to just below the threshold, then put file blobs until index.db grows.
 * The checkpoint fsyncs the WAL, so that row becomes durable before
 * arca_blob_put returns; a put that committed its row before its file
 * were durable would be caught here, where a checkpoint at close cannot
 * tell the two orders apart. Works on a WAL that has not been reset yet
 * (the first session of a new store), whose size counts its frames.
 */
static void checkpoint_inside_a_put(arca_store *s, const char *dir)
{
	const off_t frame = 4096 + 24, threshold = 1000, margin = 40;
	off_t db = file_size(dir, "index.db");
	uint64_t seed = 1000;
	int i;

	while ((file_size(dir, "index.db-wal") - 32) / frame <
			threshold - margin)
		put(s, seed++, 90 * KIB);
	for (i = 0; i < 40 && file_size(dir, "index.db") == db; i++)
		put(s, 2000 + (uint64_t)i, 150 * KIB);
	if (file_size(dir, "index.db") == db)
		die("no automatic checkpoint in 40 file puts", ARCA_EIO);
}

static arca_store *open_store(const char *dir)
{
	arca_options opts = ARCA_OPTIONS_INIT;
	arca_store *s = NULL;
	int rc;

	if ((rc = arca_store_open(&s, dir, &opts)) < 0)
		die("arca_store_open", rc);
	return s;
}

static void close_store(arca_store *s, int session)
{
	char line[32];

	arca_store_close(s);
	snprintf(line, sizeof(line), "closed %d\n", session);
	ack(line);
}

int main(int argc, char **argv)
{
	arca_digest d[4];
	size_t sz[4];
	arca_store *s;

	if (argc != 4) {
		fprintf(stderr, "usage: crash_writer STORE ACKS SCRATCH\n");
		return 2;
	}
	ack_fd = open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (ack_fd < 0) {
		perror(argv[2]);
		return 1;
	}

	/* Session 1: a fresh store; its index becomes durable at close,
	 * when SQLite checkpoints the WAL (fsync of the WAL, then of
	 * index.db). */
	s = open_store(argv[1]);
	d[0] = put(s, 101, sz[0] = 200 * KIB);
	d[1] = put(s, 102, sz[1] = 8 * KIB);
	d[2] = put(s, 103, sz[2] = 300 * KIB);
	d[3] = put(s, 104, sz[3] = 60 * KIB);
	action(s, "transcode", d, sz, 4);
	checkpoint_inside_a_put(s, argv[1]);
	close_store(s, 1);

	/* Session 2: the put_fd path, a file blob already present, and
	 * another action. */
	s = open_store(argv[1]);
	d[0] = put(s, 201, sz[0] = 256 * KIB);
	d[1] = put_file(s, argv[3], 202, sz[1] = 180 * KIB);
	d[2] = put(s, 101, sz[2] = 200 * KIB);
	d[3] = put(s, 203, sz[3] = 1 * KIB);
	action(s, "transcribe", d, sz, 4);
	close_store(s, 2);

	/* Session 3: more of the same after a reopen. */
	s = open_store(argv[1]);
	d[0] = put(s, 301, sz[0] = 120 * KIB);
	d[1] = put(s, 302, sz[1] = 100 * KIB);
	d[2] = put_file(s, argv[3], 303, sz[2] = 400 * KIB);
	action(s, "diarize", d, sz, 3);
	close_store(s, 3);
	close(ack_fd);
	return 0;
}
