/*
 * Action cache entries as the remote tiers store them (redis.c, s3.c;
 * docs/tiers.md): the manifest blob's hex digest, '\n', then, when they
 * travel with the entry, the manifest's bytes.
 */
#ifndef ARCA_AC_ENTRY_H
#define ARCA_AC_ENTRY_H

#include "internal.h"

/*
 * m's JSON into json when m serialises to exactly the blob manifest (it
 * does when the store wrote that blob from m): 1, the bytes then travel
 * with the entry. 0 (json empty) when m is NULL or does not, and the
 * entry names the blob only.
 */
int arca__ac_entry_json(arca_buf *json, const arca_digest *manifest,
		const arca_manifest *m);

/*
 * The entry for manifest with len bytes (may be 0) into *value
 * (malloc'd, *value_len bytes; the caller frees it). 0, or ARCA_ENOMEM.
 */
int arca__ac_entry_value(char **value, size_t *value_len,
		const arca_digest *manifest, const void *bytes, size_t len);

#endif /* ARCA_AC_ENTRY_H */
