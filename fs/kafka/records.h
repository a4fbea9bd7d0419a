/* records.h - Kafka's RecordBatch v2 (magic 2): decoding a produce
 * request's record set and encoding a fetch response's batches.
 *
 * Pure functions: no daemon state, no locks, no store calls but the
 * CRC-32C (store_crc32c).  Compression (compress.c): none, gzip, snappy
 * (raw or xerial-framed), lz4 (frame format) and zstd; what a compressed
 * batch inflates to is bounded by KBATCH_MAX_INFLATED.
 *
 * Errors are -errno; kbatch_error_code() maps them to Kafka error codes:
 *   -EBADMSG          corrupt: CRC mismatch, a size or count that disagrees
 *                     with the bytes, a truncated batch or record, a bad
 *                     varint, a compressed stream that does not decode
 *                     -> CORRUPT_MESSAGE (2)
 *   -EPROTONOSUPPORT  a magic 0 or 1 message set -> UNSUPPORTED_VERSION (35)
 *   -ENOTSUP          compression codec 5..7 -> UNSUPPORTED_COMPRESSION_TYPE
 *   -EFBIG            inflates past KBATCH_MAX_INFLATED -> MESSAGE_TOO_LARGE
 *   -ENOMEM           -> UNKNOWN_SERVER_ERROR (-1)
 * A callback returns 0 to go on, or a negative errno that stops the
 * decoding and is returned as is (a positive one as -ECANCELED).
 */
#ifndef STREAMFS_KAFKA_RECORDS_H
#define STREAMFS_KAFKA_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kafka.h"      /* struct kbuf, kb_*, kr_*, KERR_* */

/* Batch attributes. */
#define KBATCH_CODEC_MASK       0x07    /* enum kcodec */
#define KBATCH_LOG_APPEND_TIME  0x08    /* timestamps are the broker's */
#define KBATCH_TRANSACTIONAL    0x10
#define KBATCH_CONTROL          0x20

enum kcodec {
	KCODEC_NONE = 0,
	KCODEC_GZIP = 1,
	KCODEC_SNAPPY = 2,
	KCODEC_LZ4 = 3,
	KCODEC_ZSTD = 4,
};

/* Bytes before the records: base offset to record count. */
#define KBATCH_HEADER_LEN 61
/* Offset of the CRC field, and of the first byte it covers (attributes):
 * the base offset (0..7) and the partition leader epoch (12..15) lie
 * before it, so they may be rewritten in an encoded batch without a new
 * CRC. */
#define KBATCH_CRC_AT 17
#define KBATCH_CRC_FROM 21
/* The most the records of one compressed batch may inflate to. */
#define KBATCH_MAX_INFLATED (64u << 20)

/* A batch's header fields, as decoded. */
struct kbatch {
	int64_t base_offset;
	int32_t length;                 /* the batch length field: bytes after it */
	int32_t leader_epoch;
	int8_t magic;                   /* always 2 once decoded */
	uint32_t crc;
	int16_t attributes;
	int codec;                      /* attributes & KBATCH_CODEC_MASK */
	int32_t last_offset_delta;
	int64_t base_timestamp, max_timestamp;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	int32_t count;                  /* records */
};

/* One record.  Decoded, its pointers point into the input (or into the
 * inflated copy of a compressed batch) and are valid only during the
 * callback.  headers are the raw header bytes after the header count
 * (nheaders key/value pairs, each varint-prefixed): encoding puts the
 * same bytes back, so headers return byte-identical. */
struct krecord {
	int8_t attributes;              /* unused by Kafka: 0 */
	int64_t offset_delta;           /* from the batch's base offset */
	int64_t timestamp;              /* absolute, ms: base + delta */
	const uint8_t *key;
	int32_t key_len;                /* -1: null */
	const uint8_t *value;
	int32_t value_len;              /* -1: null */
	const uint8_t *headers;
	size_t headers_len;
	int32_t nheaders;
};

typedef int krecord_fn(void *arg, const struct krecord *r);

/* Decode the one batch at p[0..len) (bytes after it are ignored): info
 * gets its header before the first callback, each is called for every
 * record in order (each may be NULL: validate only).  Returns the batch's
 * size in bytes (12 + its length field), or a negative error above. */
int kbatch_decode(const uint8_t *p, size_t len, struct kbatch *info,
		  krecord_fn *each, void *arg);

/* Decode a record set, batches back to back filling p[0..len) exactly
 * (a produce request's records).  info holds the batch whose records are
 * being passed to each (point arg at it to see it).  Returns the number
 * of records, or a negative error; an empty set is 0 records. */
int krecords_decode(const uint8_t *p, size_t len, struct kbatch *info,
		    krecord_fn *each, void *arg);

/* Append one batch of recs[0..n) (n >= 1, offset deltas increasing from
 * 0) to out: base offset base_offset, CreateTime timestamps (the base is
 * the first record's, the max the largest), producer id -1, epoch -1,
 * sequence -1, leader epoch -1, compressed with codec (enum kcodec), CRC
 * filled in.  Returns the bytes appended, or -EINVAL (bad arguments or
 * codec), -ENOMEM (out->oom is set too), -EFBIG (over INT32_MAX). */
int kbatch_encode(struct kbuf *out, int64_t base_offset,
		  const struct krecord *recs, size_t n, int codec);

/* The Kafka error code for an error of the functions above. */
int16_t kbatch_error_code(int rc);

/* ---- compression (compress.c), for records.c ---- */

/* Inflate in[0..n) of codec into a malloc'd *out of *outlen bytes, at
 * most limit.  Returns 0 or -EBADMSG, -EFBIG, -ENOTSUP, -ENOMEM. */
int kcodec_inflate(int codec, const uint8_t *in, size_t n, size_t limit,
		   uint8_t **out, size_t *outlen);
/* Compress in[0..n) with codec into a malloc'd *out of *outlen bytes.
 * Returns 0 or -EINVAL (unknown codec), -ENOMEM. */
int kcodec_deflate(int codec, const uint8_t *in, size_t n, uint8_t **out,
		   size_t *outlen);

#endif
