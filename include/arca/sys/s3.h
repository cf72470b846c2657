/*
 * arca — the S3 tier: an arca_backend (include/arca/sys/backend.h) on an
 * S3-compatible object store (AWS S3, MinIO, Ceph RGW, Cloudflare R2,
 * Google Cloud Storage's XML API with HMAC keys), over HTTP(S) with
 * libcurl, every request signed with AWS Signature Version 4 by libcurl
 * itself (CURLOPT_AWS_SIGV4; https://docs.aws.amazon.com/IAM/latest/
 * UserGuide/reference_aws-signing.html).
 *
 * Most programs add it by URL with arca_store_add_tier_url() (arca.h);
 * this header is for those who want the backend itself, e.g. to set its
 * timeouts, credentials or multipart threshold.
 *
 * URL (docs/tiers.md):
 *   s3://BUCKET[/PREFIX][?endpoint=URL][&region=REGION][&compress=0|1]
 * REGION defaults to $AWS_REGION, else $AWS_DEFAULT_REGION, else
 * us-east-1. Without an endpoint the tier is AWS S3,
 * https://BUCKET.s3.REGION.amazonaws.com (virtual-hosted addressing;
 * path-style, https://s3.REGION.amazonaws.com/BUCKET, when the bucket
 * name has a dot); with one, e.g. endpoint=http://127.0.0.1:9000, objects
 * are addressed path-style, ENDPOINT/BUCKET/KEY, which every S3-compatible
 * server accepts. BUCKET follows S3's naming rules (3 to 63 characters:
 * a-z, 0-9, '.', '-'); PREFIX is segments of A-Z a-z 0-9 . _ - separated
 * by single slashes (so that no key needs percent-encoding).
 *
 * Layout in the bucket, P the prefix ("P/" when there is one), hex
 * lowercase:
 *   P "cas/" <blob digest>  the blob's bytes, or (compress=1, the
 *                           default, when zstd shrinks the blob's first
 *                           MiB by 1/32 or more) one zstd frame of them
 *                           (RFC 8878) with the object metadata
 *                           x-amz-meta-arca-encoding: zstd and
 *                           x-amz-meta-arca-size: the blob's size in
 *                           bytes; the digest is always the blob's;
 *   P "ac/" <action key>    the manifest's digest in hex, "\n", then the
 *                           manifest's bytes (so that a hit is one GET);
 *                           an entry put with a TTL carries its expiry,
 *                           in seconds since the epoch, in the object
 *                           metadata x-amz-meta-arca-expires, and is a
 *                           miss once libarca's clock (arca_set_clock())
 *                           passes it. S3 has no per-object expiry: a
 *                           bucket lifecycle rule deletes old objects.
 *
 * Operations (Amazon S3 API Reference, https://docs.aws.amazon.com/
 * AmazonS3/latest/API/): HeadBucket at open; GetObject, HeadObject,
 * PutObject, DeleteObject; CreateMultipartUpload, UploadPart,
 * CompleteMultipartUpload, AbortMultipartUpload for blobs over the
 * multipart threshold.
 *
 * Credentials: opts->access_key_id / secret_access_key / session_token,
 * else $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY, $AWS_SESSION_TOKEN,
 * else the profile $AWS_PROFILE (default "default") of the credentials
 * file $AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials). They
 * are held in memory only, wiped when the backend is freed, and never
 * appear in a message.
 */
#ifndef ARCA_SYS_S3_H
#define ARCA_SYS_S3_H

#include "arca/sys/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ARCA_S3_OPTIONS_VERSION 2

/** Region used when neither the URL, the options nor the environment
 * name one. */
#define ARCA_S3_REGION_DEFAULT "us-east-1"
/** Blobs larger than this are uploaded in parts (64 MiB). */
#define ARCA_S3_MULTIPART_THRESHOLD_DEFAULT ((uint64_t)64 << 20)
/** S3's smallest part (all but the last), in bytes (5 MiB,
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html). */
#define ARCA_S3_PART_SIZE_MIN ((uint64_t)5 << 20)
/** S3's largest single PUT, in bytes (5 GiB). */
#define ARCA_S3_PUT_SIZE_MAX ((uint64_t)5 << 30)
/** Default connect timeout, in milliseconds. */
#define ARCA_S3_CONNECT_TIMEOUT_DEFAULT 1000
/** Default timeout of one method call, in milliseconds. */
#define ARCA_S3_TIMEOUT_DEFAULT 10000

/**
 * Options for arca_backend_s3_open(). Initialise with
 * ARCA_S3_OPTIONS_INIT; fields are only ever appended. Strings are
 * borrowed for the call only (copied).
 */
typedef struct arca_s3_options {
	unsigned int version;        /* ARCA_S3_OPTIONS_VERSION */
	/* Base URL of the service, e.g. "https://storage.googleapis.com";
	 * NULL: AWS S3. The URL's ?endpoint= wins over it. */
	const char *endpoint;
	/* Signing region; NULL: the URL's ?region=, else the environment,
	 * else ARCA_S3_REGION_DEFAULT. The URL's ?region= wins over it. */
	const char *region;
	/* Credentials; NULL access_key_id: from the environment or the
	 * credentials file (see the top of this header). With an
	 * access_key_id, secret_access_key is required; session_token is
	 * optional (sent as x-amz-security-token). */
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token;
	/* Blobs larger than this many bytes are uploaded in parts of this
	 * size (the last one smaller); 0: the default (64 MiB). At least
	 * ARCA_S3_PART_SIZE_MIN, at most ARCA_S3_PUT_SIZE_MAX. */
	uint64_t multipart_threshold;
	/* Milliseconds to wait for a connection; 0: the default (1000). */
	unsigned int connect_timeout_ms;
	/* Milliseconds one method call may take (all its requests), when
	 * the store gives no earlier deadline (arca_backend.deadline_ms);
	 * 0: the default (10000). A large blob needs a larger value. */
	unsigned int timeout_ms;
	/* Non-zero: do not probe the bucket in arca_backend_s3_open(); the
	 * first call of the backend sends HeadBucket first and fails with
	 * its outcome (a missing bucket is then ARCA_EINVAL, not a miss;
	 * a server that did not answer leaves the probe to the next
	 * call). */
	int lazy_connect;
	/* Version 2. Non-zero: store blobs as they are, never as zstd
	 * frames (blobs stored compressed still read). The URL's
	 * ?compress=0|1 wins over it. Version 1 callers get compression. */
	int no_compress;
} arca_s3_options;

#define ARCA_S3_OPTIONS_INIT \
	{ ARCA_S3_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0 }

/**
 * Open an S3 tier.
 *
 * The URL is parsed with libcurl's URL API (curl_url(3)). Unless
 * opts->lazy_connect is set, the backend sends HeadBucket
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html)
 * before returning, so that a wrong endpoint, wrong credentials or a
 * missing bucket are reported here, once, as a one-line message
 * (arca_errmsg()) naming the tier by its URL.
 *
 * Every request sends x-amz-content-sha256 (the SHA-256 of the payload,
 * computed with OpenSSL; for a blob in one PUT that is its digest, so the
 * server rejects bytes damaged on the way), writes its query string
 * already sorted and encoded, and is signed by libcurl ("aws:amz:REGION:
 * s3"). One curl handle per backend keeps its connection between calls.
 *
 * Method outcomes: HTTP 404 is ARCA_ENOTFOUND (an expired action entry
 * too); 401 and 403 are ARCA_EPERM (wrong credentials, a bad signature,
 * no permission); 5xx and other unexpected answers are ARCA_EIO; a
 * server that cannot be reached or drops the connection is
 * ARCA_EUNAVAILABLE; a call past the earlier of arca_backend.deadline_ms
 * and opts->timeout_ms from its start is ARCA_ETIMEOUT; a blob whose bytes
 * do not match its digest is ARCA_ECORRUPT (after the sink got them), as
 * is a zstd object whose frame is damaged or decompresses to other than
 * its x-amz-meta-arca-size bytes (the sink may have got some of them).
 * blob_get streams to the sink and blob_put_fd from the fd (a pipe is
 * first spooled to an unlinked temp file), so memory stays bounded;
 * blobs over the multipart threshold are uploaded in parts, and a failed
 * multipart upload is aborted. Blob writes are conditional
 * (If-None-Match: * on PutObject and CompleteMultipartUpload,
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/
 * conditional-writes.html): 412 Precondition Failed means the blob is
 * already stored and is success (a multipart upload is then aborted);
 * 409 ConditionalRequestConflict is success if HeadObject then finds the
 * object, else ARCA_EIO; a server answering 501, or 400 NotImplemented,
 * gets the write again without the header, and the backend sends it no
 * more. Action entries are written unconditionally. ac_remove answers 0 whether or not the
 * entry existed (DeleteObject does not say). find_missing sends one
 * HeadObject per digest on the kept connection. Action entries' tags are
 * not kept in S3 (they are tier 0's).
 *
 * @param[out] out   the backend (version ARCA_BACKEND_VERSION, name
 *                   "s3"); the caller owns it and releases it with
 *                   (*out)->free(*out), or hands it to
 *                   arca_store_add_tier(), which then owns it. NULL on
 *                   error.
 * @param[in]  url   the tier's URL (see the top of this header); copied.
 * @param[in]  opts  options, or NULL for ARCA_S3_OPTIONS_INIT; borrowed
 *                   for the call only.
 * @return 0; ARCA_EINVAL (NULL out or url, a malformed URL, a scheme
 *         other than s3://, a bad bucket name or prefix, an unknown query
 *         parameter, an endpoint that is not http(s), missing credentials,
 *         a malformed credentials file, a bad options version or value;
 *         unless lazy_connect, a bucket in another region than the one
 *         signed for, named in the message);
 *         ARCA_ENOMEM; and unless lazy_connect: ARCA_ENOTFOUND (no such
 *         bucket), ARCA_EPERM (credentials refused), ARCA_EUNAVAILABLE
 *         (the endpoint cannot be reached), ARCA_ETIMEOUT, ARCA_EIO.
 */
int arca_backend_s3_open(arca_backend **out, const char *url,
		const arca_s3_options *opts);

#ifdef __cplusplus
}
#endif

#endif /* ARCA_SYS_S3_H */
