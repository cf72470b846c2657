/*
 * arca — the backend interface, for people who implement a tier.
 *
 * A backend is a content-addressed blob store (CAS) plus an action cache
 * (AC: action key -> digest of the manifest blob). The local store (SQLite
 * index + blob files) is the first implementation and always tier 0;
 * remote tiers (Redis, S3-compatible storage, another arca over HTTP)
 * implement the same table and are added with arca_store_add_tier().
 *
 * Modelled on libgit2's git_odb_backend and SQLite's sqlite3_vfs: a struct
 * of function pointers that starts with a version; the backend is the
 * first argument of each method; an implementation embeds struct
 * arca_backend as its first member; new methods are only appended and are
 * gated on `version`. Optional methods may be NULL; `free` is required.
 *
 * Writing a tier:
 *  - Allocate a struct whose first member is struct arca_backend, set
 *    version to ARCA_BACKEND_VERSION (the header you build with), a short
 *    name, the methods you implement (NULL for the optional ones you do
 *    not), and `free`. Hand it to arca_store_add_tier(), which owns it
 *    from then on (also when adding fails).
 *  - The store never trusts a tier's bytes: every blob and manifest that
 *    a tier other than tier 0 returns is re-hashed by libarca, and wrong
 *    bytes are a miss of that tier (counted as corrupt), never returned to
 *    the caller. A tier may verify too, but need not.
 *  - A tier never fails the caller: whatever it returns other than 0 is
 *    counted in its arca_tier_stats and treated as a miss (lookups) or as
 *    "not written there" (puts). So return the code that says what
 *    happened; do not retry for long inside a method (see deadline_ms).
 *  - Methods are called from the thread that uses the store handle; a
 *    backend needs no locking of its own for one handle.
 *
 * Outcomes are kept apart, as ccache's remote storage does:
 *   0                  success (a hit, or stored);
 *   ARCA_ENOTFOUND     a miss: fall through to the next tier;
 *   ARCA_ENOTSTORED    a put the tier declined (over its size limit, a
 *                      policy): not an error;
 *   ARCA_ETIMEOUT      the call ran past its deadline;
 *   ARCA_EUNAVAILABLE  the tier cannot be reached;
 *   ARCA_EIO, others   an error of the tier;
 *   ARCA_ECORRUPT      the tier held bytes that do not match their digest.
 *
 * Version gating: ARCA_BACKEND_VERSION 1 ends at `free`. Version 2
 * appends deadline_ms, find_missing, ac_get_manifest and ac_put2. libarca
 * reads and writes the appended members only when version >= 2, so a
 * backend built against the version 1 header (whose struct is shorter)
 * keeps working; every optional method is NULL-checked before each call.
 */
#ifndef ARCA_SYS_BACKEND_H
#define ARCA_SYS_BACKEND_H

#include "arca/arca.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ARCA_BACKEND_VERSION 2

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
	 * @return 0; ARCA_ENOTFOUND; ARCA_EIO; ARCA_EUNAVAILABLE;
	 *         ARCA_ETIMEOUT.
	 */
	int (*blob_stat)(arca_backend *b, const arca_digest *digest,
			uint64_t *size_out);

	/**
	 * Store bytes; the backend computes the digest. Required unless the
	 * tier is added read-only (arca_tier_options.read_only).
	 * @return 0; ARCA_ENOTSTORED (the backend declines the blob, e.g. over
	 *         its own size limit: not an error); ARCA_EFULL; ARCA_EPERM;
	 *         ARCA_EFATAL; ARCA_EIO; ARCA_EUNAVAILABLE; ARCA_ETIMEOUT;
	 *         ARCA_ENOMEM.
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
	 * @return 0; ARCA_ENOTFOUND; ARCA_EIO; ARCA_EUNAVAILABLE;
	 *         ARCA_ETIMEOUT.
	 */
	int (*ac_get)(arca_backend *b, const arca_digest *key,
			arca_digest *manifest_out);

	/**
	 * Record key -> manifest digest. m is the parsed manifest, given so a
	 * backend can index what it wants (stage, inputs, sizes). The manifest
	 * blob and every blob it references are already in this backend.
	 * Required unless the tier is added read-only, or (version 2) the
	 * backend sets ac_put2 instead. m is borrowed for the call only.
	 * @return 0; ARCA_ENOTSTORED (declined: not an error); ARCA_EFULL;
	 *         ARCA_EPERM; ARCA_EFATAL; ARCA_EIO; ARCA_EUNAVAILABLE;
	 *         ARCA_ETIMEOUT.
	 */
	int (*ac_put)(arca_backend *b, const arca_digest *key,
			const arca_digest *manifest, const arca_manifest *m);

	/**
	 * Forget an action entry. Optional.
	 * @return 0; ARCA_ENOTFOUND; ARCA_EIO; ARCA_EUNAVAILABLE; ARCA_ETIMEOUT.
	 */
	int (*ac_remove)(arca_backend *b, const arca_digest *key);

	/** Release the backend and everything it holds. Required. */
	void (*free)(arca_backend *b);

	/* ---- version 2 ------------------------------------------------ */

	/**
	 * The deadline of the method call in progress: an absolute time in
	 * milliseconds on CLOCK_MONOTONIC (clock_gettime(2)), or 0 for none.
	 * Written by libarca before every call into the backend, from the
	 * tier's arca_tier_options.timeout_ms; a backend reads it at the
	 * start of a method and gives up with ARCA_ETIMEOUT once the clock
	 * passes it (a network backend sets its socket timeouts from it).
	 * A field rather than an argument so that the version 1 methods get
	 * a deadline too without changing their signatures.
	 */
	int64_t deadline_ms;

	/**
	 * Which of these blobs are missing (REAPI's FindMissingBlobs,
	 * build/bazel/remote/execution/v2/remote_execution.proto in
	 * bazelbuild/remote-apis): one round trip for many digests. libarca
	 * calls it before writing an action through to the tier, and uploads
	 * only the blobs reported missing. Optional: when NULL, libarca asks
	 * blob_stat per digest, or uploads everything when that is NULL too.
	 *
	 * @param[in]  b            the backend.
	 * @param[out] missing_out  n flags: missing_out[i] = 1 when digests[i]
	 *                          is not in the backend, else 0.
	 * @param[in]  digests      the blobs asked about.
	 * @param[in]  n            their number (at least 1).
	 * @return 0; ARCA_EIO; ARCA_EUNAVAILABLE; ARCA_ETIMEOUT; ARCA_ENOMEM.
	 */
	int (*find_missing)(arca_backend *b, unsigned char *missing_out,
			const arca_digest *digests, size_t n);

	/**
	 * Action cache lookup that also returns the manifest's bytes, in the
	 * same round trip (a remote tier saves one request per hit). libarca
	 * re-hashes the bytes against manifest_out. Optional: when NULL,
	 * ac_get then blob_get are used.
	 *
	 * @param[in]  b             the backend.
	 * @param[out] manifest_out  the digest of the manifest blob.
	 * @param[out] json_out      the manifest blob's bytes, malloc'd (the
	 *                           caller frees them with arca_buf_free());
	 *                           left empty on error.
	 * @param[in]  key           the action key.
	 * @return 0; ARCA_ENOTFOUND; ARCA_EIO; ARCA_EUNAVAILABLE;
	 *         ARCA_ETIMEOUT; ARCA_ENOMEM.
	 */
	int (*ac_get_manifest)(arca_backend *b, arca_digest *manifest_out,
			arca_buf *json_out, const arca_digest *key);

	/**
	 * ac_put with the entry's TTL and tags (arca_action_put_ex()), which
	 * the backend applies together with the entry (the local tier: in
	 * the same transaction). When set, libarca calls it instead of
	 * ac_put. Optional.
	 *
	 * @param[in] b         the backend.
	 * @param[in] key       the action key.
	 * @param[in] manifest  the digest of the manifest blob.
	 * @param[in] m         the parsed manifest.
	 * @param[in] opts      TTL and tags, or NULL for none (already
	 *                      validated by libarca). m and opts, its tags
	 *                      included, are borrowed for the call only:
	 *                      copy what the backend keeps.
	 * @return as ac_put; ARCA_ENOTSTORED when the backend declines.
	 */
	int (*ac_put2)(arca_backend *b, const arca_digest *key,
			const arca_digest *manifest, const arca_manifest *m,
			const arca_put_options *opts);
};

#ifdef __cplusplus
}
#endif

#endif /* ARCA_SYS_BACKEND_H */
