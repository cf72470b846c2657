/*
 * arca — the backend interface, for people who implement a tier.
 *
 * A backend is a content-addressed blob store (CAS) plus an action cache
 * (AC: action key -> digest of the manifest blob). The local store (SQLite
 * index + blob files) is the first implementation; remote tiers (Redis,
 * S3-compatible storage, another arca over HTTP) implement the same table.
 *
 * Modelled on libgit2's git_odb_backend and SQLite's sqlite3_vfs: a struct
 * of function pointers that starts with a version; the backend is the
 * first argument of each method; an implementation embeds struct
 * arca_backend as its first member; new methods are only appended and are
 * gated on `version`. Optional methods may be NULL; `free` is required.
 *
 * Outcomes are kept apart, as ccache's remote storage does: ARCA_ENOTFOUND
 * is a miss (fall through to the next tier), ARCA_EUNAVAILABLE and
 * ARCA_ETIMEOUT are errors of the tier (counted; never a pipeline failure),
 * ARCA_ECORRUPT means the tier held bytes that do not match their digest.
 */
#ifndef ARCA_SYS_BACKEND_H
#define ARCA_SYS_BACKEND_H

#include "arca/arca.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ARCA_BACKEND_VERSION 1

/**
 * Receives a blob's bytes in order, in chunks of any size.
 *
 * @param[in] ctx   the caller's context.
 * @param[in] data  the next bytes.
 * @param[in] len   their number.
 * @return 0 to continue, or a negative ARCA_E* code that the backend
 *         stops on and returns.
 */
typedef int (*arca_sink_fn)(void *ctx, const void *data, size_t len);

typedef struct arca_backend arca_backend;

struct arca_backend {
	/** ARCA_BACKEND_VERSION of the header the backend was built with. */
	unsigned int version;
	/** Short name for messages and statistics ("local", "redis", ...). */
	const char *name;

	/**
	 * Stream a blob to sink. The backend re-hashes what it sends and
	 * returns ARCA_ECORRUPT if the bytes do not match the digest — after
	 * the sink may have received them, so callers write to something they
	 * can discard. Required.
	 * @return 0; ARCA_ENOTFOUND; ARCA_ECORRUPT; the sink's error;
	 *         ARCA_EIO; ARCA_EUNAVAILABLE; ARCA_ETIMEOUT.
	 */
	int (*blob_get)(arca_backend *b, const arca_digest *digest,
			arca_sink_fn sink, void *ctx);

	/**
	 * Presence and size (bytes) of a blob, without reading it. Optional.
	 * @return 0; ARCA_ENOTFOUND; ARCA_EIO; ARCA_EUNAVAILABLE.
	 */
	int (*blob_stat)(arca_backend *b, const arca_digest *digest,
			uint64_t *size_out);

	/**
	 * Store bytes; the backend computes the digest. Required.
	 * @return 0; ARCA_EFULL; ARCA_EPERM; ARCA_EFATAL; ARCA_EIO;
	 *         ARCA_EUNAVAILABLE; ARCA_ENOMEM.
	 */
	int (*blob_put)(arca_backend *b, arca_digest *out,
			const void *data, size_t len);

	/**
	 * Store everything readable from fd (to its end), hashing it in the
	 * same pass. Optional: when NULL, callers read the data themselves and
	 * call blob_put.
	 * @return as blob_put.
	 */
	int (*blob_put_fd)(arca_backend *b, arca_digest *out,
			uint64_t *size_out, int fd);

	/**
	 * Action cache lookup: the digest of the manifest blob recorded for
	 * key. Required.
	 * @return 0; ARCA_ENOTFOUND; ARCA_EIO; ARCA_EUNAVAILABLE.
	 */
	int (*ac_get)(arca_backend *b, const arca_digest *key,
			arca_digest *manifest_out);

	/**
	 * Record key -> manifest digest. m is the parsed manifest, given so a
	 * backend can index what it wants (stage, inputs, sizes). The manifest
	 * blob and every blob it references are already in this backend.
	 * Required.
	 * @return 0; ARCA_EFULL; ARCA_EPERM; ARCA_EFATAL; ARCA_EIO;
	 *         ARCA_EUNAVAILABLE.
	 */
	int (*ac_put)(arca_backend *b, const arca_digest *key,
			const arca_digest *manifest, const arca_manifest *m);

	/**
	 * Forget an action entry. Optional.
	 * @return 0; ARCA_ENOTFOUND; ARCA_EIO.
	 */
	int (*ac_remove)(arca_backend *b, const arca_digest *key);

	/** Release the backend and everything it holds. Required. */
	void (*free)(arca_backend *b);
};

#ifdef __cplusplus
}
#endif

#endif /* ARCA_SYS_BACKEND_H */
