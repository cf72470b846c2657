/*
 * orchestrator — a cached transcription pipeline on libarca's stage runner.
 *
 *   orchestrator [--store DIR] [--no-cache] [--min-speakers N]
 *                [--max-speakers N] AUDIO.wav OUTDIR
 *
 * The seeds' transcription service has a TranscriptionOrchestrator that
 * checks a cache before each stage, runs the stage only on a miss, stores
 * what it produced, and after a failure resumes from the last stage that
 * succeeded. Its diarization stage is optional (when it fails, the
 * transcript is written without speakers) and keyed by min_speakers and
 * max_speakers. Here is that orchestrator on arca:
 *
 *   check the cache, run on a   arca_stage_prepare() computes the stage's
 *   miss, store the outputs     action key; arca_stage_run() looks it up,
 *                               restores the outputs on a hit, and on a
 *                               miss runs the command and stores its
 *                               outputs if it exits 0 having written them
 *   resume after a failure      nothing to write: a failed stage is not
 *                               cached, so the next run hits every stage
 *                               before it and runs it again
 *   optional diarization        a failed diarize stage's output is removed
 *                               and format runs without it (an optional
 *                               input: absent, it is keyed as absent, so
 *                               the degraded transcript is its own
 *                               entry): the run says it degraded and
 *                               exits 0
 *   min/max speakers            params of the diarize stage's key
 *
 * The stages run in OUTDIR (the spec's working directory; this program
 * never changes its own) on fixed file names, so that their keys do not
 * depend on where AUDIO lives: OUTDIR/audio.wav is made a symbolic link to
 * AUDIO, then
 *
 *   transcribe  $ORCH_TRANSCRIBE audio.wav words.txt
 *   diarize     $ORCH_DIARIZE $ORCH_DIARIZER audio.wav speakers.rttm
 *   format      $ORCH_FORMAT words.txt transcript.md NAME [speakers.rttm]
 *
 * NAME is AUDIO's file name. The commands default to the reference
 * pipeline's tools (examples/transcribe/: ps-transcribe; diarize with
 * diarize-single; format-md), found on PATH; a command containing '/' is
 * relative to OUTDIR. The store is --store DIR, else $ARCA_DIR, else
 * ~/.cache/arca. Exit status: 0 when transcript.md is written (without
 * speakers included), 1 when a required stage failed or an error stopped
 * the run (then OUTDIR has no transcript.md), 2 for a usage error.
 *
 * Build: cc orchestrator.c $(pkg-config --cflags --libs arca)
 */
/* POSIX.1-2008 with XSI: realpath(), symlink(), lstat(). */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif

#include <arca/arca.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What the stages of one run share. */
struct run {
	arca_store *store;        /* NULL with --no-cache */
	const char *outdir;       /* every stage's working directory */
	unsigned int flags;       /* ARCA_STAGE_NO_CACHE or 0 */
	char *source_name;        /* AUDIO's file name, for the transcript */
	char *min_speakers;       /* diarization bounds (decimal) */
	char *max_speakers;
};

/* $name, or fallback when it is unset or empty. */
static char *env_or(const char *name, char *fallback)
{
	char *value = getenv(name);

	return value != NULL && *value != '\0' ? value : fallback;
}

/* One line on stderr for each thing the stage runner reports. */
static void on_event(void *ctx, const arca_stage_event *ev)
{
	(void)ctx;
	switch (ev->kind) {
	case ARCA_STAGE_EVENT_MISS:
		fprintf(stderr, "orchestrator: miss %s %.8s\n", ev->stage,
				ev->key_hex);
		break;
	case ARCA_STAGE_EVENT_HIT:
		fprintf(stderr, "orchestrator: hit %s %.8s (saved %llu ms)\n",
				ev->stage, ev->key_hex,
				(unsigned long long)ev->duration_ms);
		break;
	case ARCA_STAGE_EVENT_STORED:
		fprintf(stderr, "orchestrator: stored %s %.8s (%llu ms)\n",
				ev->stage, ev->key_hex,
				(unsigned long long)ev->duration_ms);
		break;
	case ARCA_STAGE_EVENT_RAN:
		fprintf(stderr, "orchestrator: ran %s without the cache\n",
				ev->stage);
		break;
	case ARCA_STAGE_EVENT_FAILED:
		fprintf(stderr, "orchestrator: failed %s %.8s (exit status %d)\n",
				ev->stage, ev->key_hex, ev->exit_status);
		break;
	case ARCA_STAGE_EVENT_OUTPUT_MISSING:
		fprintf(stderr, "orchestrator: failed %s %.8s (exited 0 "
				"without writing %s)\n", ev->stage, ev->key_hex,
				ev->path);
		break;
	case ARCA_STAGE_EVENT_CACHE_WRITE_FAILED:
		fprintf(stderr, "orchestrator: not stored %s %.8s: %s\n",
				ev->stage, ev->key_hex, ev->message);
		break;
	case ARCA_STAGE_EVENT_LEASE_WAIT:
		fprintf(stderr, "orchestrator: waiting for %s %.8s (another "
				"process is running it)\n", ev->stage, ev->key_hex);
		break;
	case ARCA_STAGE_EVENT_LEASE_TIMEOUT:
		fprintf(stderr, "orchestrator: gave up waiting for %s after "
				"%llu ms: running it\n", ev->stage,
				(unsigned long long)ev->waited_ms);
		break;
	case ARCA_STAGE_EVENT_CORRUPT:
		fprintf(stderr, "orchestrator: cached %s %.8s is corrupt: "
				"running it again\n", ev->stage, ev->key_hex);
		break;
	case ARCA_STAGE_EVENT_LOOKUP_FAILED:
	case ARCA_STAGE_EVENT_LEASE_FAILED:
	case ARCA_STAGE_EVENT_REMOVE_FAILED:
	case ARCA_STAGE_EVENT_STATS_FAILED:
		fprintf(stderr, "orchestrator: warning: %s %.8s: %s\n",
				ev->stage, ev->key_hex, ev->message);
		break;
	case ARCA_STAGE_EVENT_OUTPUT_WAIT:
		fprintf(stderr, "orchestrator: waiting for output %s of %s "
				"(another process is writing it)\n", ev->path,
				ev->stage);
		break;
	case ARCA_STAGE_EVENT_STDIN_UNCACHED:
		fprintf(stderr, "orchestrator: %s: stdin is %s, not in the "
				"key: running it without the cache\n", ev->stage,
				ev->message);
		break;
	case ARCA_STAGE_EVENT_STARTED:
	default: /* kinds a later libarca adds */
		break;
	}
}

/*
 * Run one stage in the run's working directory, through the cache unless
 * --no-cache. *done is set when the stage's outputs are in place: a hit,
 * or a run that exited 0 having written them (stored, run without the
 * cache, or not stored because the store failed: the files are there all
 * the same). A command that fails is not an error here: it returns 0 with
 * *done unset, and on_event has said how it failed.
 *
 * Returns 0, or -1 after printing why the stage could not be run.
 */
static int run_stage(int *done, const struct run *r, arca_stage_spec *spec)
{
	arca_stage *st = NULL;
	arca_stage_result res;
	int error = -1;

	*done = 0;
	spec->workdir = r->outdir;
	spec->flags = r->flags;
	spec->event = on_event;
	/* The tools read no stdin: give them /dev/null, so that running the
	 * orchestrator from a pipe does not turn the cache off (a stdin that
	 * could feed bytes outside the key is never cached). */
	spec->stdin_fd = -1;
	if (arca_stage_prepare(&st, NULL, r->store, spec) < 0 ||
	    arca_stage_run(&res, st) < 0) {
		fprintf(stderr, "orchestrator: %s: %s\n", spec->stage,
				arca_errmsg());
		goto cleanup;
	}
	*done = arca_stage_result_ok(&res);
	error = 0;
cleanup:
	arca_stage_free(st);
	return error;
}

/*
 * audio.wav -> words.txt. The wrapper's digest is the tool identity; the
 * recognizer and model it calls are named by the "recognizer" param.
 */
static int transcribe(int *done, const struct run *r)
{
	char *argv[] = { env_or("ORCH_TRANSCRIBE", "ps-transcribe"),
		"audio.wav", "words.txt", NULL };
	const arca_stage_input inputs[] = { { NULL, "audio.wav", NULL } };
	const arca_stage_param params[] = {
		{ "recognizer", env_or("ORCH_RECOGNIZER", "pocketsphinx en-us") }
	};
	const char *outputs[] = { "words.txt" };
	arca_stage_spec spec = ARCA_STAGE_SPEC_INIT;

	spec.stage = "transcribe";
	spec.argv = argv;
	spec.inputs = inputs;
	spec.n_inputs = 1;
	spec.params = params;
	spec.n_params = 1;
	spec.outputs = outputs;
	spec.n_outputs = 1;
	return run_stage(done, r, &spec);
}

/* audio.wav -> speakers.rttm (RTTM speaker turns), keyed by the bounds. */
static int diarize(int *done, const struct run *r)
{
	char *argv[] = { env_or("ORCH_DIARIZE", "diarize"),
		env_or("ORCH_DIARIZER", "diarize-single"), "audio.wav",
		"speakers.rttm", NULL };
	const arca_stage_input inputs[] = { { NULL, "audio.wav", NULL } };
	const arca_stage_param params[] = {
		{ "min_speakers", r->min_speakers },
		{ "max_speakers", r->max_speakers }
	};
	const char *outputs[] = { "speakers.rttm" };
	arca_stage_spec spec = ARCA_STAGE_SPEC_INIT;

	spec.stage = "diarize";
	spec.argv = argv;
	spec.inputs = inputs;
	spec.n_inputs = 1;
	spec.params = params;
	spec.n_params = 2;
	spec.outputs = outputs;
	spec.n_outputs = 1;
	return run_stage(done, r, &spec);
}

/*
 * words.txt [+ speakers.rttm] -> transcript.md. speakers.rttm is an
 * optional input: when it is there its digest is in the key, when it is
 * not the stage runner marks it absent in the key, so the transcript
 * without speakers and the one with them are two entries and neither is
 * served for the other. (main() removes speakers.rttm when diarize fails,
 * so diarized says whether the file is there.)
 */
static int format(int *done, const struct run *r, int diarized)
{
	char *argv[] = { env_or("ORCH_FORMAT", "format-md"), "words.txt",
		"transcript.md", r->source_name,
		diarized ? "speakers.rttm" : NULL, NULL };
	const arca_stage_input inputs[] = { { NULL, "words.txt", NULL } };
	const arca_stage_input optional[] = {
		{ NULL, "speakers.rttm", NULL }
	};
	const char *outputs[] = { "transcript.md" };
	arca_stage_spec spec = ARCA_STAGE_SPEC_INIT;

	spec.stage = "format";
	spec.argv = argv;
	spec.inputs = inputs;
	spec.n_inputs = 1;
	spec.optional_inputs = optional;
	spec.n_optional_inputs = 1;
	spec.outputs = outputs;
	spec.n_outputs = 1;
	return run_stage(done, r, &spec);
}

/*
 * *out = malloc'd "dir/name" (the caller frees it).
 *
 * Returns 0, or -1 after printing why not.
 */
static int join(char **out, const char *dir, const char *name)
{
	size_t len = strlen(dir) + 1 + strlen(name) + 1;
	int error = 0;

	if ((*out = malloc(len)) == NULL) {
		fprintf(stderr, "orchestrator: out of memory\n");
		error = -1;
	} else {
		snprintf(*out, len, "%s/%s", dir, name);
	}
	return error;
}

/* Remove path if it is there. Returns 0, or -1 after printing why not. */
static int remove_file(const char *path)
{
	int error = 0;

	if (unlink(path) < 0 && errno != ENOENT) {
		fprintf(stderr, "orchestrator: cannot remove %s: %s\n", path,
				strerror(errno));
		error = -1;
	}
	return error;
}

/*
 * Make link_path name the regular file audio: a symbolic link to its
 * absolute path, replacing an older link. A link_path that already is
 * audio is kept; one that is something else and not a link is an error
 * (it may be the user's file).
 *
 * Returns 0, or -1 after printing why not.
 */
static int link_audio(const char *link_path, const char *audio)
{
	struct stat a, l;
	char *target = NULL;
	int error = -1;

	if ((target = realpath(audio, NULL)) == NULL || stat(target, &a) < 0) {
		fprintf(stderr, "orchestrator: %s: %s\n", audio, strerror(errno));
		goto cleanup;
	}
	if (!S_ISREG(a.st_mode)) {
		fprintf(stderr, "orchestrator: %s: not a regular file\n", audio);
		goto cleanup;
	}
	if (stat(link_path, &l) == 0 && l.st_dev == a.st_dev &&
	    l.st_ino == a.st_ino) {
		error = 0;
		goto cleanup;
	}
	if (lstat(link_path, &l) == 0 && !S_ISLNK(l.st_mode)) {
		fprintf(stderr, "orchestrator: %s exists and is not a link to "
				"%s: not replacing it\n", link_path, audio);
		goto cleanup;
	}
	if ((unlink(link_path) < 0 && errno != ENOENT) ||
	    symlink(target, link_path) < 0) {
		fprintf(stderr, "orchestrator: cannot link %s to %s: %s\n",
				link_path, target, strerror(errno));
		goto cleanup;
	}
	error = 0;
cleanup:
	free(target);
	return error;
}

/* Is text a decimal count (1 to 999)? */
static int is_count(const char *text)
{
	size_t len = strspn(text, "0123456789");

	return len > 0 && len <= 3 && text[len] == '\0' && atoi(text) > 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: orchestrator [--store DIR] [--no-cache] "
			"[--min-speakers N] [--max-speakers N] AUDIO.wav OUTDIR\n");
}

int main(int argc, char **argv)
{
	struct run r = { NULL, NULL, 0, NULL, "1", "2" };
	const char *store_dir = NULL, *audio = NULL;
	char *audio_link = NULL, *rttm = NULL, *transcript = NULL, *slash;
	int status = 1, done = 0, diarized = 0, i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--no-cache") == 0) {
			r.flags |= ARCA_STAGE_NO_CACHE;
		} else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
			store_dir = argv[++i];
		} else if (strcmp(argv[i], "--min-speakers") == 0 &&
		           i + 1 < argc && is_count(argv[i + 1])) {
			r.min_speakers = argv[++i];
		} else if (strcmp(argv[i], "--max-speakers") == 0 &&
		           i + 1 < argc && is_count(argv[i + 1])) {
			r.max_speakers = argv[++i];
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else {
			break;
		}
	}
	if (argc - i != 2 || atoi(r.min_speakers) > atoi(r.max_speakers)) {
		usage();
		status = 2;
		goto cleanup;
	}
	audio = argv[i];
	r.outdir = argv[i + 1];
	slash = strrchr(argv[i], '/');
	r.source_name = slash != NULL ? slash + 1 : argv[i];

	if (mkdir(r.outdir, 0777) < 0 && errno != EEXIST) {
		fprintf(stderr, "orchestrator: cannot create %s: %s\n", r.outdir,
				strerror(errno));
		goto cleanup;
	}
	if (join(&audio_link, r.outdir, "audio.wav") < 0 ||
	    join(&rttm, r.outdir, "speakers.rttm") < 0 ||
	    join(&transcript, r.outdir, "transcript.md") < 0 ||
	    link_audio(audio_link, audio) < 0)
		goto cleanup;
	if (!(r.flags & ARCA_STAGE_NO_CACHE) &&
	    arca_store_open(&r.store, store_dir, NULL) < 0) {
		fprintf(stderr, "orchestrator: store %s: %s\n",
				store_dir ? store_dir : "(default)", arca_errmsg());
		goto cleanup;
	}

	if (transcribe(&done, &r) < 0 || !done) {
		fprintf(stderr, "orchestrator: stopped at transcribe; the next "
				"run resumes there\n");
		goto cleanup;
	}
	/* Optional: without it, the transcript has no speakers. */
	if (diarize(&diarized, &r) < 0 || !diarized) {
		diarized = 0;
		if (remove_file(rttm) < 0)
			goto cleanup;
		fprintf(stderr, "orchestrator: diarize failed: degraded to a "
				"transcript without speakers\n");
	}
	if (format(&done, &r, diarized) < 0 || !done) {
		fprintf(stderr, "orchestrator: stopped at format; the next "
				"run resumes there\n");
		goto cleanup;
	}
	fprintf(stderr, "orchestrator: wrote %s/transcript.md%s\n", r.outdir,
			diarized ? "" : " (without speakers)");
	status = 0;
cleanup:
	/* A failed run leaves no transcript.md: not a stale one from an
	 * earlier run, not what a failing format wrote before it failed. */
	if (status != 0 && transcript != NULL)
		remove_file(transcript);
	arca_store_close(r.store);
	free(transcript);
	free(rttm);
	free(audio_link);
	return status;
}
