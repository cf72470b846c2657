/*
 * Circuit breaker of a remote tier (docs/tiers.md, "Circuit breaker"):
 * after ARCA_BREAKER_FAILURES_DEFAULT consecutive errors or timeouts the
 * tier is skipped for ARCA_BREAKER_COOLDOWN_DEFAULT seconds, then one
 * call (half-open) decides: success closes it, failure opens it again.
 *
 * The state lives in DIR/tiers/<hash>.state, <hash> the first 32 hex
 * characters of the SHA-256 of the tier's URL without its password, so
 * that every process using the store sees one breaker: a thousand short
 * `arca run`s against a dead server wait out the threshold's timeouts
 * once between them, not once each. Changes are made under flock(2) on
 * DIR/tiers/<hash>.lock by writing a temporary file and renaming it into
 * place, so readers never take the lock and never see a torn file. No
 * fsync: the state is advisory, and a file lost to a power cut only
 * means the breaker starts closed. The wall clock is arca__now(), so
 * tests move through a cool-down with ARCA_TEST_NOW instead of sleeping.
 *
 * The same file keeps the tier's figures (arca_tier_stats), added to by
 * every handle as it closes: `arca stats` shows them per tier.
 */
#include "internal.h"

#include "breaker.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct arca__breaker {
	char *dir;        /* DIR/tiers */
	char *path;       /* DIR/tiers/<hash>.state */
	char *lock_path;  /* DIR/tiers/<hash>.lock */
	char *shown;      /* the URL without password, for messages */
	int writable;
	int prober;       /* this handle holds the half-open probe */
	arca__tier_state mem; /* the state of a read-only handle */
};

static const struct {
	const char *name;
	size_t off;
} figures[] = {
#define F(x) { #x, offsetof(arca_tier_stats, x) }
	F(hits), F(misses), F(errors), F(timeouts), F(corrupt), F(stored),
	F(not_stored), F(promoted), F(bytes_up), F(bytes_down), F(time_ms),
	F(breaker_openings), F(skipped)
#undef F
};
#define N_FIGURES (sizeof(figures) / sizeof(*figures))

static uint64_t *figure(arca_tier_stats *s, size_t i)
{
	return (uint64_t *)(void *)((char *)s + figures[i].off);
}

static const char *state_name(arca_breaker_state s)
{
	return s == ARCA_BREAKER_OPEN ? "open" :
		s == ARCA_BREAKER_HALF_OPEN ? "half-open" : "closed";
}

int arca__breaker_new(arca__breaker **out, const char *dir,
		const char *shown, int writable)
{
	arca__breaker *b;
	arca_digest d;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	int error;

	*out = NULL;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	if ((error = arca_digest_buffer(&d, shown, strlen(shown))) < 0)
		goto fail;
	arca_digest_to_hex(hex, &d);
	hex[32] = '\0';
	b->writable = writable;
	if (asprintf(&b->dir, "%s/tiers", dir) < 0 ||
	    asprintf(&b->path, "%s/%s.state", b->dir, hex) < 0 ||
	    asprintf(&b->lock_path, "%s/%s.lock", b->dir, hex) < 0 ||
	    (b->shown = arca__strdup(shown)) == NULL) {
		error = arca__error(ARCA_ENOMEM, "out of memory");
		goto fail;
	}
	*out = b;
	return 0;
fail:
	arca__breaker_free(b);
	return error;
}

void arca__breaker_free(arca__breaker *b)
{
	if (b == NULL)
		return;
	free(b->dir);
	free(b->path);
	free(b->lock_path);
	free(b->shown);
	free(b);
}

/* Parse the state file (a missing or damaged one reads as closed). */
static void read_file(arca__tier_state *out, const char *path)
{
	char buf[4096], *line, *save = NULL;
	ssize_t n = -1;
	int fd;

	memset(out, 0, sizeof(*out));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL;
			line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' '), *val;
		unsigned long long v;
		size_t i;

		if (sp == NULL)
			continue;
		*sp = '\0';
		val = sp + 1;
		if (strcmp(line, "breaker") == 0) {
			out->breaker = strcmp(val, "open") == 0 ?
				ARCA_BREAKER_OPEN : strcmp(val, "half-open") == 0 ?
				ARCA_BREAKER_HALF_OPEN : ARCA_BREAKER_CLOSED;
			continue;
		}
		v = strtoull(val, NULL, 10);
		if (strcmp(line, "failures") == 0)
			out->failures = v;
		else if (strcmp(line, "opened_at") == 0)
			out->opened_at = (int64_t)v;
		else if (strcmp(line, "probe_at") == 0)
			out->probe_at = (int64_t)v;
		for (i = 0; i < N_FIGURES; i++)
			if (strcmp(line, figures[i].name) == 0)
				*figure(&out->totals, i) = v;
	}
}

/* Replace the state file by s (under the lock). 0 or -1. */
static int write_file(arca__breaker *b, const arca__tier_state *s)
{
	char *tmp = NULL;
	FILE *f = NULL;
	size_t i;
	int fd = -1, ok;

	if (asprintf(&tmp, "%s.%ld.tmp", b->path, (long)getpid()) < 0)
		return -1;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			0644)) < 0 || (f = fdopen(fd, "w")) == NULL) {
		if (fd >= 0)
			close(fd);
		free(tmp);
		return -1;
	}
	ok = fprintf(f, "arca-tier-state 1\nurl %s\nbreaker %s\n"
			"failures %" PRIu64 "\nopened_at %" PRId64 "\n"
			"probe_at %" PRId64 "\n", b->shown,
			state_name(s->breaker), s->failures, s->opened_at,
			s->probe_at) > 0;
	for (i = 0; ok && i < N_FIGURES; i++)
		ok = fprintf(f, "%s %" PRIu64 "\n", figures[i].name,
				*figure((arca_tier_stats *)&s->totals, i)) > 0;
	ok = fclose(f) == 0 && ok;
	if (ok)
		ok = rename(tmp, b->path) == 0;
	if (!ok)
		unlink(tmp);
	free(tmp);
	return ok ? 0 : -1;
}

/* Take the lock (creating DIR/tiers); the fd, or -1. */
static int lock_state(arca__breaker *b)
{
	int fd;

	if (mkdir(b->dir, 0755) != 0 && errno != EEXIST)
		return -1;
	if ((fd = open(b->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
		return -1;
	while (flock(fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	return fd;
}

static void unlock_state(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

/*
 * Apply fn to the state, under the lock for a writable handle (else to
 * the handle's memory). fn returns non-zero when it changed the state.
 */
static int update(arca__breaker *b,
		int (*fn)(arca__breaker *b, arca__tier_state *s, void *ctx),
		void *ctx)
{
	arca__tier_state s;
	int fd, changed;

	if (!b->writable)
		return fn(b, &b->mem, ctx);
	if ((fd = lock_state(b)) < 0) {
		/* Without the file the breaker still works for this handle. */
		return fn(b, &b->mem, ctx);
	}
	read_file(&s, b->path);
	if ((changed = fn(b, &s, ctx)) != 0)
		(void)write_file(b, &s);
	unlock_state(fd);
	return changed;
}

void arca__breaker_read(arca__tier_state *out, arca__breaker *b)
{
	if (!b->writable) {
		*out = b->mem;
		return;
	}
	read_file(out, b->path);
}

/* Hand out the half-open probe when the cool-down has passed. */
static int take_probe(arca__breaker *b, arca__tier_state *s, void *ctx)
{
	int64_t now = arca__now();

	(void)ctx;
	if (s->breaker == ARCA_BREAKER_CLOSED) {
		b->prober = 0;
		return 0;
	}
	if ((s->breaker == ARCA_BREAKER_OPEN &&
	     now >= s->opened_at + ARCA_BREAKER_COOLDOWN_DEFAULT) ||
	    (s->breaker == ARCA_BREAKER_HALF_OPEN &&
	     now >= s->probe_at + ARCA_BREAKER_COOLDOWN_DEFAULT)) {
		/* A probe handed out a cool-down ago whose holder never
		 * reported (it died) is handed out again. */
		s->breaker = ARCA_BREAKER_HALF_OPEN;
		s->probe_at = now;
		b->prober = 1;
		return 1;
	}
	return 0;
}

/* 1: the state read lets a call through, or hands out the probe. */
static int state_allows(const arca__tier_state *s)
{
	if (s->breaker == ARCA_BREAKER_CLOSED)
		return 1;
	if (s->breaker == ARCA_BREAKER_OPEN &&
	    arca__now() < s->opened_at + ARCA_BREAKER_COOLDOWN_DEFAULT)
		return 0;
	if (s->breaker == ARCA_BREAKER_HALF_OPEN &&
	    arca__now() < s->probe_at + ARCA_BREAKER_COOLDOWN_DEFAULT)
		return 0;
	return 1;
}

int arca__breaker_may_allow(arca__breaker *b)
{
	arca__tier_state s;

	if (b->prober)
		return 1;
	arca__breaker_read(&s, b);
	return state_allows(&s);
}

int arca__breaker_allow(arca__breaker *b)
{
	arca__tier_state s;

	if (b->prober)
		return 1;
	arca__breaker_read(&s, b);
	if (!state_allows(&s))
		return 0;
	if (s.breaker == ARCA_BREAKER_CLOSED)
		return 1;
	(void)update(b, take_probe, NULL);
	return b->prober;
}

static int record(arca__breaker *b, arca__tier_state *s, void *ctx)
{
	int failed = *(int *)ctx;
	int was_prober = b->prober;

	b->prober = 0;
	if (!failed) {
		if (s->breaker == ARCA_BREAKER_CLOSED && s->failures == 0)
			return 0;
		if (s->breaker != ARCA_BREAKER_CLOSED && !was_prober)
			return 0; /* another handle's probe decides */
		if (s->breaker != ARCA_BREAKER_CLOSED)
			arca__log("tier %s: circuit breaker closed (the probe "
					"call succeeded)", b->shown);
		s->breaker = ARCA_BREAKER_CLOSED;
		s->failures = 0;
		return 1;
	}
	if (s->breaker == ARCA_BREAKER_CLOSED) {
		if (++s->failures < ARCA_BREAKER_FAILURES_DEFAULT)
			return 1;
		arca__log("tier %s: circuit breaker open after %" PRIu64
				" consecutive errors or timeouts; skipped for "
				"%d s", b->shown, s->failures,
				ARCA_BREAKER_COOLDOWN_DEFAULT);
	} else if (was_prober) {
		arca__log("tier %s: circuit breaker open again (the probe call "
				"failed); skipped for %d s", b->shown,
				ARCA_BREAKER_COOLDOWN_DEFAULT);
	} else {
		return 0; /* already open: counted once */
	}
	s->breaker = ARCA_BREAKER_OPEN;
	s->opened_at = arca__now();
	s->totals.breaker_openings++;
	/* The opening is in the file's totals at once; *ctx tells the
	 * caller to count it in the handle's stats too (not flushed again). */
	*(int *)ctx = 2;
	return 1;
}

int arca__breaker_result(arca__breaker *b, int failed)
{
	int ctx = failed ? 1 : 0;

	/* A success while the breaker is closed with no failure counted
	 * changes nothing (record()): tell that from a read, which takes no
	 * lock (the file is replaced whole), so that the calls of a healthy
	 * tier cost no mkdir, lock file and flock each (bench/README.md,
	 * "Shared tiers"). A failure another process counts after the read
	 * is then simply later than this success. */
	if (!failed && !b->prober && b->writable) {
		arca__tier_state s;

		read_file(&s, b->path);
		if (s.breaker == ARCA_BREAKER_CLOSED && s.failures == 0)
			return 0;
	}
	(void)update(b, record, &ctx);
	return ctx == 2;
}

static int add_totals(arca__breaker *b, arca__tier_state *s, void *ctx)
{
	const arca_tier_stats *d = ctx;
	size_t i;
	int any = 0;

	(void)b;
	for (i = 0; i < N_FIGURES; i++) {
		/* Openings were written as they happened. */
		if (figures[i].off == offsetof(arca_tier_stats,
				breaker_openings))
			continue;
		*figure(&s->totals, i) += *figure((arca_tier_stats *)d, i);
		any |= *figure((arca_tier_stats *)d, i) != 0;
	}
	return any;
}

void arca__breaker_flush(arca__breaker *b, const arca_tier_stats *delta)
{
	if (b->writable)
		(void)update(b, add_totals, (void *)delta);
}
