/*
 * Action cache entries as the remote tiers store them (ac_entry.h).
 */
#include "ac_entry.h"

#include <stdlib.h>
#include <string.h>

int arca__ac_entry_json(arca_buf *json, const arca_digest *manifest,
		const arca_manifest *m)
{
	arca_digest actual;

	if (m != NULL && arca_manifest_to_json(json, m) == 0 &&
	    arca_digest_buffer(&actual, json->data, json->size) == 0 &&
	    arca_digest_equal(&actual, manifest))
		return 1;
	arca_buf_free(json);
	return 0;
}

int arca__ac_entry_value(char **value, size_t *value_len,
		const arca_digest *manifest, const void *bytes, size_t len)
{
	*value_len = ARCA_DIGEST_HEXLEN + 1 + len;
	if ((*value = malloc(*value_len + 1)) == NULL)
		return arca__error(ARCA_ENOMEM, "out of memory");
	arca_digest_to_hex(*value, manifest);
	(*value)[ARCA_DIGEST_HEXLEN] = '\n';
	if (len > 0)
		memcpy(*value + ARCA_DIGEST_HEXLEN + 1, bytes, len);
	return 0;
}
