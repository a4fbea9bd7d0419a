/* records.c - RecordBatch v2: decoding record sets and encoding batches
 * (the layout, the CRC, the records' varints); records.h says what is
 * accepted.  Compression is in compress.c.
 *
 * Batch: base offset i64, length i32, leader epoch i32, magic i8, crc u32
 * (CRC-32C of attributes..end), attributes i16, last offset delta i32,
 * base and max timestamp i64, producer id i64, producer epoch i16, base
 * sequence i32, record count i32, records.  Record: length varint, then
 * attributes i8, timestamp delta varlong, offset delta varint, key
 * (varint length, -1 null), value (same), header count varint, headers
 * (key: varint length >= 0; value: varint length, -1 null).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"
#include "store.h"

/* A varint length and that many bytes (-1: null, when allowed). */
static const uint8_t *rd_field(struct kreader *r, int32_t *len, bool null_ok)
{
	int32_t n = kr_varint(r);

	*len = n;
	if (r->bad || n < -1 || (n == -1 && !null_ok)) {
		r->bad = true;
		return NULL;
	}
	return n == -1 ? NULL : kr_skip(r, (size_t)n);
}

/* ---- decoding ---- */

/* The header count and headers of a record, checked pair by pair. */
static void rd_headers(struct kreader *r, struct krecord *rec)
{
	int32_t n = kr_varint(r), len;

	rec->nheaders = n;
	rec->headers = r->p;
	if (n < 0)
		r->bad = true;
	for (int32_t i = 0; i < n && !r->bad; i++) {
		rd_field(r, &len, false);
		rd_field(r, &len, true);
	}
	rec->headers_len = r->bad ? 0 : (size_t)(r->p - rec->headers);
}

/* One record at r; its length varint must cover it exactly. */
static bool rd_record(struct kreader *r, const struct kbatch *b,
		      struct krecord *rec)
{
	int32_t len = kr_varint(r);
	const uint8_t *body = len >= 0 ? kr_skip(r, (size_t)len) : NULL;
	struct kreader in;

	if (r->bad || !body)
		return false;
	kr_init(&in, body, (size_t)len);
	rec->attributes = kr_i8(&in);
	int64_t tsd = kr_varlong(&in);
	rec->offset_delta = kr_varint(&in);
	rec->key = rd_field(&in, &rec->key_len, true);
	rec->value = rd_field(&in, &rec->value_len, true);
	rd_headers(&in, rec);
	if (in.bad || in.p != in.end)
		return false;
	/* wraps like Java's long addition rather than being undefined */
	rec->timestamp = (int64_t)((uint64_t)b->base_timestamp + (uint64_t)tsd);
	return true;
}

/* The records area (already inflated): exactly b->count records with
 * offset deltas 0, 1, ... and the last one's delta as the header says. */
static int rd_records(const uint8_t *p, size_t n, const struct kbatch *b,
		      krecord_fn *each, void *arg)
{
	struct kreader r;
	struct krecord rec;

	kr_init(&r, p, n);
	for (int32_t i = 0; i < b->count; i++) {
		if (!rd_record(&r, b, &rec) || rec.offset_delta != i)
			return -EBADMSG;
		if (each) {
			int rc = each(arg, &rec);
			if (rc)         /* never mistaken for a size */
				return rc < 0 ? rc : -ECANCELED;
		}
	}
	return r.p == r.end ? 0 : -EBADMSG;
}

/* The fixed header at p (len >= KBATCH_HEADER_LEN known). */
static void rd_header(const uint8_t *p, struct kbatch *b)
{
	struct kreader r;

	kr_init(&r, p, KBATCH_HEADER_LEN);
	b->base_offset = kr_i64(&r);
	b->length = kr_i32(&r);
	b->leader_epoch = kr_i32(&r);
	b->magic = kr_i8(&r);
	b->crc = (uint32_t)kr_i32(&r);
	b->attributes = kr_i16(&r);
	b->codec = b->attributes & KBATCH_CODEC_MASK;
	b->last_offset_delta = kr_i32(&r);
	b->base_timestamp = kr_i64(&r);
	b->max_timestamp = kr_i64(&r);
	b->producer_id = kr_i64(&r);
	b->producer_epoch = kr_i16(&r);
	b->base_sequence = kr_i32(&r);
	b->count = kr_i32(&r);
}

/* Whether the header's own fields agree with each other. */
static bool header_sane(const struct kbatch *b)
{
	if (b->count < 0)
		return false;
	if (b->count == 0)
		return true;
	return b->last_offset_delta == b->count - 1;
}

int kbatch_decode(const uint8_t *p, size_t len, struct kbatch *info,
		  krecord_fn *each, void *arg)
{
	memset(info, 0, sizeof(*info));
	/* the magic sits at byte 16 in every message format */
	if (len < 17)
		return -EBADMSG;
	if (p[16] == 0 || p[16] == 1)
		return -EPROTONOSUPPORT;
	if (p[16] != 2)
		return -EBADMSG;
	if (len < KBATCH_HEADER_LEN)
		return -EBADMSG;
	rd_header(p, info);
	if (info->length < KBATCH_HEADER_LEN - 12 ||
	    (size_t)info->length > len - 12 ||
	    info->length > INT_MAX - 12)
		return -EBADMSG;
	size_t size = 12 + (size_t)info->length;
	if (store_crc32c(0, p + KBATCH_CRC_FROM, size - KBATCH_CRC_FROM) !=
	    info->crc)
		return -EBADMSG;
	if (!header_sane(info))
		return -EBADMSG;
	const uint8_t *recs = p + KBATCH_HEADER_LEN;
	size_t nrecs = size - KBATCH_HEADER_LEN;
	int rc;
	if (info->codec == KCODEC_NONE) {
		rc = rd_records(recs, nrecs, info, each, arg);
	} else {
		uint8_t *flat;
		size_t nflat;
		rc = kcodec_inflate(info->codec, recs, nrecs,
				    KBATCH_MAX_INFLATED, &flat, &nflat);
		if (rc)
			return rc;
		rc = rd_records(flat, nflat, info, each, arg);
		free(flat);
	}
	return rc ? rc : (int)size;
}

int krecords_decode(const uint8_t *p, size_t len, struct kbatch *info,
		    krecord_fn *each, void *arg)
{
	long total = 0;

	memset(info, 0, sizeof(*info));
	while (len > 0) {
		int n = kbatch_decode(p, len, info, each, arg);
		if (n < 0)
			return n;
		total += info->count;
		if (total > INT_MAX)
			return -EFBIG;
		p += n;
		len -= (size_t)n;
	}
	return (int)total;
}

/* ---- varint sizes, for a record's length prefix ---- */

static size_t uvar_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static size_t varlong_len(int64_t v)
{
	return uvar_len(((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void put_be(uint8_t *at, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		at[i] = (uint8_t)v;
}

/* ---- encoding ---- */

static bool record_valid(const struct krecord *r, int64_t want_delta)
{
	return r->offset_delta == want_delta && r->key_len >= -1 &&
	       r->value_len >= -1 && (r->key_len <= 0 || r->key) &&
	       (r->value_len <= 0 || r->value) && r->nheaders >= 0 &&
	       (r->headers_len == 0 || r->headers) &&
	       (r->nheaders > 0 || r->headers_len == 0);
}

/* The bytes of one record's body after its length varint. */
static size_t record_body_len(const struct krecord *r, int64_t base_ts)
{
	int64_t tsd = (int64_t)((uint64_t)r->timestamp - (uint64_t)base_ts);

	return 1 + varlong_len(tsd) + varlong_len(r->offset_delta) +
	       varlong_len(r->key_len) + (r->key_len > 0 ? r->key_len : 0) +
	       varlong_len(r->value_len) +
	       (r->value_len > 0 ? r->value_len : 0) +
	       varlong_len(r->nheaders) + r->headers_len;
}

/* v zigzagged as a varint at p: past its last byte. */
static uint8_t *put_varlong(uint8_t *p, int64_t v)
{
	uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);

	for (; u >= 0x80; u >>= 7)
		*p++ = (uint8_t)(u | 0x80);
	*p++ = (uint8_t)u;
	return p;
}

static uint8_t *put_raw(uint8_t *p, const void *src, size_t n)
{
	if (n)
		memcpy(p, src, n);
	return p + n;
}

/* One record into b, its size known first: one reservation, then the
 * fields written in place (a fetch writes millions of them). */
static void out_record(struct kbuf *b, const struct krecord *r,
		       int64_t base_ts)
{
	int64_t tsd = (int64_t)((uint64_t)r->timestamp - (uint64_t)base_ts);
	size_t body = record_body_len(r, base_ts);
	uint8_t *p = kb_reserve(b, varlong_len((int64_t)body) + body);

	if (!p)
		return;
	p = put_varlong(p, (int64_t)body);
	*p++ = (uint8_t)r->attributes;
	p = put_varlong(p, tsd);
	p = put_varlong(p, r->offset_delta);
	p = put_varlong(p, r->key_len);
	p = put_raw(p, r->key, r->key_len > 0 ? (size_t)r->key_len : 0);
	p = put_varlong(p, r->value_len);
	p = put_raw(p, r->value, r->value_len > 0 ? (size_t)r->value_len : 0);
	p = put_varlong(p, r->nheaders);
	put_raw(p, r->headers, r->headers_len);
}

/* The records of a batch, plain, into b. */
static int out_records(struct kbuf *b, const struct krecord *recs, size_t n,
		       int64_t base_ts)
{
	for (size_t i = 0; i < n; i++) {
		if (!record_valid(&recs[i], (int64_t)i))
			return -EINVAL;
		out_record(b, &recs[i], base_ts);
	}
	return b->oom ? -ENOMEM : 0;
}

/* The compressed records of a batch, appended to out. */
static int out_compressed(struct kbuf *out, const struct krecord *recs,
			  size_t n, int64_t base_ts, int codec)
{
	struct kbuf plain;
	uint8_t *z = NULL;
	size_t zn = 0;
	int rc;

	kb_init(&plain);
	rc = out_records(&plain, recs, n, base_ts);
	if (!rc)
		rc = kcodec_deflate(codec, plain.p, plain.len, &z, &zn);
	kb_free(&plain);
	if (!rc) {
		kb_raw(out, z, zn);
		if (out->oom)
			rc = -ENOMEM;
	}
	free(z);
	return rc;
}

int kbatch_encode(struct kbuf *out, int64_t base_offset,
		  const struct krecord *recs, size_t n, int codec)
{
	if (!out || !recs || n < 1 || n > INT32_MAX || codec < KCODEC_NONE ||
	    codec > KCODEC_ZSTD)
		return -EINVAL;
	if (out->oom)
		return -ENOMEM;
	int64_t base_ts = recs[0].timestamp, max_ts = base_ts;
	for (size_t i = 1; i < n; i++)
		if (recs[i].timestamp > max_ts)
			max_ts = recs[i].timestamp;
	size_t start = out->len;
	kb_i64(out, base_offset);
	kb_i32(out, 0);                         /* length, below */
	kb_i32(out, -1);                        /* partition leader epoch */
	kb_i8(out, 2);                          /* magic */
	kb_i32(out, 0);                         /* crc, below */
	kb_i16(out, (int16_t)codec);            /* CreateTime, no txn */
	kb_i32(out, (int32_t)(n - 1));          /* last offset delta */
	kb_i64(out, base_ts);
	kb_i64(out, max_ts);
	kb_i64(out, -1);                        /* producer id */
	kb_i16(out, -1);                        /* producer epoch */
	kb_i32(out, -1);                        /* base sequence */
	kb_i32(out, (int32_t)n);
	if (out->oom)
		return -ENOMEM;
	int rc = codec == KCODEC_NONE ? out_records(out, recs, n, base_ts)
				      : out_compressed(out, recs, n, base_ts,
						       codec);
	if (rc) {
		if (!out->oom)
			out->len = start;
		return rc;
	}
	size_t size = out->len - start;
	if (size > INT_MAX) {
		out->len = start;
		return -EFBIG;
	}
	uint8_t *b = out->p + start;
	put_be(b + 8, size - 12, 4);
	put_be(b + KBATCH_CRC_AT,
	       store_crc32c(0, b + KBATCH_CRC_FROM, size - KBATCH_CRC_FROM), 4);
	return (int)size;
}

int16_t kbatch_error_code(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case -EBADMSG:
		return KERR_CORRUPT_MESSAGE;
	case -EPROTONOSUPPORT:
		return KERR_UNSUPPORTED_VERSION;
	case -ENOTSUP:
		return KERR_UNSUPPORTED_COMPRESSION_TYPE;
	case -EFBIG:
		return KERR_MESSAGE_TOO_LARGE;
	default:
		return KERR_UNKNOWN_SERVER_ERROR;
	}
}
