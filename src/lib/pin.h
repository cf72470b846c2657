/*
 * Pins: the blobs a writer is storing, which eviction and gc must leave
 * alone until the action naming them is committed (issue 8). Internal.
 *
 * Each handle that puts a blob keeps one pin record, tmp/pins-<pid>-XXXXXX,
 * made by arca__tmpfile() and flock'ed for the handle's life, to which
 * the digest of every blob is appended (one line of 64 hex digits) before
 * the put looks for it, renames its file or commits its row. A record
 * whose flock can be taken belongs to a dead writer: its pins are void,
 * and a digest it names whose file is in blobs/ without an index row is
 * that writer's orphan, removed with the record (arca__pins_live with
 * reap, arca__pins_reap). Pins need not survive a crash, so they are
 * written with write(2) and never fsynced: other processes see them at
 * once.
 *
 * Ordering: a put writes its pin before it checks for the blob, and an
 * eviction reads the pins after it has taken the write lock (BEGIN
 * IMMEDIATE); so a pin the eviction does not see belongs to a put whose
 * row commits after the eviction's transaction, and is not removed by it.
 *
 * When pins are released: a plain put (arca_blob_put(), ...) releases its
 * pin when it returns, once its row is committed. While the handle is
 * held (arca__pin_hold: a stage storing its outputs, an action put
 * storing its manifest), pins accumulate until the last release, after
 * the action's row is committed. A store handle is used by one thread at
 * a time (arca.h), so the record needs no lock of its own.
 */
#ifndef ARCA_PIN_H
#define ARCA_PIN_H

#include "local_sql.h"

/* Pin digest d for this handle, creating its record on first use. A pin
 * that cannot be written (tmp/ on a full disk) is given up: see pin.c. */
void arca__pin(arca__local *l, const arca_digest *d);

/* Keep this handle's pins until the matching arca__pin_release(); holds
 * nest. */
void arca__pin_hold(arca__local *l);
void arca__pin_release(arca__local *l);

/* A put returns: drop its pin unless the handle is held. */
void arca__pin_put_done(arca__local *l);

/* At close: remove the handle's record. */
void arca__pins_close(arca__local *l);

/*
 * The digests pinned by live holders, this handle included, sorted and
 * without duplicates, into out (which the caller frees); *holders (may be
 * NULL) counts the live records with at least one pin. With reap, which
 * needs the write lock (a transaction the caller holds), the records of
 * dead writers are removed, with the files they name that have no row.
 */
int arca__pins_live(arca__local *l, arca__digest_list *out,
		unsigned int *holders, int reap);

/* Whether d is in a list arca__pins_live() returned. */
int arca__pins_contain(const arca__digest_list *pins, const arca_digest *d);

/* Bytes of the distinct pinned digests that have index rows. */
int arca__pins_bytes(arca__local *l, const arca__digest_list *pins,
		uint64_t *bytes);

/* At open: if records of dead writers exist, remove them and their
 * orphans under the write lock. Errors are ignored (gc removes orphans
 * too). */
void arca__pins_reap(arca__local *l);

#endif
