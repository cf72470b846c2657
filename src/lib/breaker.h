/*
 * The circuit breaker of a remote tier and its figures, shared by every
 * process of the machine through DIR/tiers/<hash>.state (breaker.c).
 */
#ifndef ARCA_BREAKER_H
#define ARCA_BREAKER_H

#include "arca/arca.h"

/* What DIR/tiers/<hash>.state says. */
typedef struct arca__tier_state {
	arca_breaker_state breaker;
	uint64_t failures;     /* consecutive failures while closed */
	int64_t opened_at;     /* wall clock (arca__now()), s */
	int64_t probe_at;      /* when the half-open probe was handed out */
	arca_tier_stats totals; /* of the handles closed so far (name NULL) */
} arca__tier_state;

typedef struct arca__breaker arca__breaker;

/*
 * The breaker of the tier shown (its URL without password) in store
 * dir. writable 0 (a read-only store): state is read from the file but
 * kept in memory only. 0 or ARCA_ENOMEM.
 */
int arca__breaker_new(arca__breaker **out, const char *dir,
		const char *shown, int writable);
void arca__breaker_free(arca__breaker *b);

/* 1: call the tier (closed, or this handle holds the half-open probe);
 * 0: skip it. */
int arca__breaker_allow(arca__breaker *b);

/* What arca__breaker_allow() would say now, without taking the probe
 * (a tier opened lazily takes it at its first call). */
int arca__breaker_may_allow(arca__breaker *b);

/*
 * The outcome of a call that was allowed: failed non-zero for an error
 * or a timeout. Opens (1 returned, one line logged) after the threshold
 * of consecutive failures, or when the probe fails; closes (logged) when
 * the probe succeeds. 0 otherwise.
 */
int arca__breaker_result(arca__breaker *b, int failed);

/* The state file's contents (zeroes when it does not exist). */
void arca__breaker_read(arca__tier_state *out, arca__breaker *b);

/* Add a closing handle's counters to the file's totals. */
void arca__breaker_flush(arca__breaker *b, const arca_tier_stats *delta);

#endif /* ARCA_BREAKER_H */
