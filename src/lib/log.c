/*
 * The library's warnings: one line each, to arca_set_log()'s callback or
 * else to stderr. libarca has no other output of its own.
 */
#include "internal.h"

#include <stdio.h>

static arca_log_fn log_fn;
static void *log_ctx;

void arca_set_log(arca_log_fn fn, void *ctx)
{
	log_fn = fn;
	log_ctx = fn ? ctx : NULL;
}

void arca__log(const char *fmt, ...)
{
	char line[1536];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_fn != NULL)
		log_fn(line, log_ctx);
	else
		fprintf(stderr, "arca: warning: %s\n", line);
}
