/* A one-line progress bar on stderr when it is a terminal (progress.h). */
#include "progress.h"

#include "common.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_INTERVAL_NS 100000000LL /* at most ten redraws a second */
#define PROGRESS_LABEL_MAX 40            /* characters of the label shown */
#define PROGRESS_BAR_WIDTH 20

static struct {
	int active;        /* between begin and end, on a terminal */
	int drawn;         /* something is on the line to erase */
	int64_t last_ns;   /* when it was last drawn */
	char label[PROGRESS_LABEL_MAX + 4];
} bar;

static int64_t now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void cli_progress_begin(const char *label)
{
	size_t len = label != NULL ? strlen(label) : 0;

	cli_progress_end();
	if (!isatty(STDERR_FILENO))
		return;
	/* Keep the end of a long label (a URL's file name is its tail). */
	if (len > PROGRESS_LABEL_MAX)
		snprintf(bar.label, sizeof(bar.label), "...%s",
				label + len - (PROGRESS_LABEL_MAX - 3));
	else
		snprintf(bar.label, sizeof(bar.label), "%s",
				label != NULL ? label : "");
	bar.active = 1;
	bar.drawn = 0;
	bar.last_ns = 0;
}

void cli_progress_update(void *ctx, uint64_t done, uint64_t total)
{
	char line[256], done_s[32], total_s[32], cells[PROGRESS_BAR_WIDTH + 1];
	int64_t t;
	unsigned int pct;
	size_t i, filled;

	(void)ctx;
	if (!bar.active)
		return;
	t = now_ns();
	if (bar.drawn && t - bar.last_ns < PROGRESS_INTERVAL_NS &&
	    !(total > 0 && done >= total))
		return;
	cli_human_size(done_s, sizeof(done_s), done);
	if (total > 0) {
		if (done > total)
			done = total;
		pct = (unsigned int)((double)done * 100.0 / (double)total);
		filled = (size_t)(pct * PROGRESS_BAR_WIDTH / 100);
		for (i = 0; i < PROGRESS_BAR_WIDTH; i++)
			cells[i] = i < filled ? '#' : '-';
		cells[PROGRESS_BAR_WIDTH] = '\0';
		cli_human_size(total_s, sizeof(total_s), total);
		snprintf(line, sizeof(line), "%s  [%s] %3u%%  %s / %s",
				bar.label, cells, pct, done_s, total_s);
	} else {
		snprintf(line, sizeof(line), "%s  %s", bar.label, done_s);
	}
	/* "\033[K" clears what a longer previous line left. */
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	bar.drawn = 1;
	bar.last_ns = t;
}

void cli_progress_end(void)
{
	if (bar.active && bar.drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	bar.active = 0;
	bar.drawn = 0;
}
