/* test_kafka_records.c - unit tests of Kafka record batches
 * (fs/kafka/records.c, compress.c): batches written by a real client
 * (kafka-python 2.0.2, every codec) decode to what it was given; encoding
 * the same records gives the same bytes; every codec round-trips, raw and
 * xerial snappy both; CRC mismatches, counts and sizes that disagree, old
 * magics, unknown codecs and every truncation point are refused without a
 * crash; a zip bomb of each codec stops at the bound.
 * main prints "N passed, N failed" and exits 1 on failure. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <snappy-c.h>

#include "records.h"
#include "store.h"

#include "check.h"

/* ---- batches kafka-python 2.0.2 built, codec 0..4 ----
 * DefaultRecordBatchBuilder(magic=2, compression_type=CODEC,
 *   is_transactional=False, producer_id=-1, producer_epoch=-1,
 *   base_sequence=-1, batch_size=1<<20), then
 *   append(0, timestamp=1700000000000, key=b"k1", value=b"hello",
 *          headers=[("h", b"v"), ("n", None)])
 *   append(1, timestamp=1700000000005, key=None, value=b"world", headers=[])
 *   append(2, timestamp=1699999999999, key=b"", value=None, headers=[])
 *   append(3, timestamp=1700000000001, key=b"k", value=b"streamfs " * 30,
 *          headers=[])
 *   build()
 * (it sends a batch uncompressed unless compressing makes it smaller,
 * hence the long last value) */
/* codec 0 */
static const uint8_t kp_batch0[] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x71,
	0x00, 0x00, 0x00, 0x00, 0x02, 0x37, 0x88, 0xb2, 0x77, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x03, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00,
	0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00,
	0x04, 0x28, 0x00, 0x00, 0x00, 0x04, 0x6b, 0x31, 0x0a, 0x68, 0x65, 0x6c,
	0x6c, 0x6f, 0x04, 0x02, 0x68, 0x02, 0x76, 0x02, 0x6e, 0x01, 0x16, 0x00,
	0x0a, 0x02, 0x01, 0x0a, 0x77, 0x6f, 0x72, 0x6c, 0x64, 0x00, 0x0c, 0x00,
	0x01, 0x04, 0x00, 0x01, 0x00, 0xac, 0x04, 0x00, 0x02, 0x06, 0x02, 0x6b,
	0x9c, 0x04, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x66, 0x73, 0x20, 0x73,
	0x74, 0x72, 0x65, 0x61, 0x6d, 0x66, 0x73, 0x20, 0x73, 0x74, 0x72, 0x65,
	0x61, 0x6d, 0x66, 0x73, 0x20, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x66,
	0x73, 0x20, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x66, 0x73, 0x20, 0x73,
	0x74, 0x72, 0x65, 0x61, 0x6d, 0x66, 0x73, 0x20, 0x73, 0x74, 0x72, 0x65,
	0x61, 0x6d, 0x66, 0x73, 0x20, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x66,
	0x73, 0x20, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x66, 0x73, 0x20, 0x73,
	0x74, 0x72, 0x65, 0x61, 0x6d, 0x66, 0x73, 0x20, 0x73, 0x74, 0x72, 0x65,
	0x61, 0x6d, 0x66, 0x73, 0x20, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x66,
	0x73, 0x20, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x66, 0x73, 0x20, 0x73,
	0x74, 0x72, 0x65, 0x61, 0x6d, 0x66, 0x73, 0x20, 0x73, 0x74, 0x72, 0x65,
	0x61, 0x6d, 0x66, 0x73, 0x20, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x66,
	0x73, 0x20, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x66, 0x73, 0x20, 0x73,
	0x74, 0x72, 0x65, 0x61, 0x6d, 0x66, 0x73, 0x20, 0x73, 0x74, 0x72, 0x65,
	0x61, 0x6d, 0x66, 0x73, 0x20, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x66,
	0x73, 0x20, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x66, 0x73, 0x20, 0x73,
	0x74, 0x72, 0x65, 0x61, 0x6d, 0x66, 0x73, 0x20, 0x73, 0x74, 0x72, 0x65,
	0x61, 0x6d, 0x66, 0x73, 0x20, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x66,
	0x73, 0x20, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x66, 0x73, 0x20, 0x73,
	0x74, 0x72, 0x65, 0x61, 0x6d, 0x66, 0x73, 0x20, 0x73, 0x74, 0x72, 0x65,
	0x61, 0x6d, 0x66, 0x73, 0x20, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x66,
	0x73, 0x20, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x66, 0x73, 0x20, 0x73,
	0x74, 0x72, 0x65, 0x61, 0x6d, 0x66, 0x73, 0x20, 0x00,
};
/* codec 1 */
static const uint8_t kp_batch1[] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x84,
	0x00, 0x00, 0x00, 0x00, 0x02, 0xc0, 0x2f, 0x10, 0x88, 0x00, 0x01, 0x00,
	0x00, 0x00, 0x03, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00,
	0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00,
	0x04, 0x1f, 0x8b, 0x08, 0x00, 0x34, 0xde, 0x0e, 0x6b, 0x02, 0xff, 0xd3,
	0x60, 0x60, 0x60, 0x60, 0xc9, 0x36, 0xe4, 0xca, 0x48, 0xcd, 0xc9, 0xc9,
	0x67, 0x61, 0xca, 0x60, 0x2a, 0x63, 0xca, 0x63, 0x14, 0x63, 0xe0, 0x62,
	0x62, 0xe4, 0x2a, 0xcf, 0x2f, 0xca, 0x49, 0x61, 0xe0, 0x61, 0x60, 0x64,
	0x61, 0x60, 0x64, 0x58, 0xc3, 0xc2, 0xc0, 0xc4, 0xc6, 0x94, 0x3d, 0x87,
	0xa5, 0xb8, 0xa4, 0x28, 0x35, 0x31, 0x37, 0xad, 0x58, 0x61, 0x94, 0x01,
	0x64, 0x30, 0x00, 0x00, 0xf6, 0xcb, 0xca, 0x2b, 0x40, 0x01, 0x00, 0x00,
};
/* codec 2 */
static const uint8_t kp_batch2[] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9b,
	0x00, 0x00, 0x00, 0x00, 0x02, 0x7a, 0x70, 0x63, 0xa2, 0x00, 0x02, 0x00,
	0x00, 0x00, 0x03, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00,
	0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00,
	0x04, 0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x56, 0xc0, 0x02, 0xf0,
	0x43, 0x28, 0x00, 0x00, 0x00, 0x04, 0x6b, 0x31, 0x0a, 0x68, 0x65, 0x6c,
	0x6c, 0x6f, 0x04, 0x02, 0x68, 0x02, 0x76, 0x02, 0x6e, 0x01, 0x16, 0x00,
	0x0a, 0x02, 0x01, 0x0a, 0x77, 0x6f, 0x72, 0x6c, 0x64, 0x00, 0x0c, 0x00,
	0x01, 0x04, 0x00, 0x01, 0x00, 0xac, 0x04, 0x00, 0x02, 0x06, 0x02, 0x6b,
	0x9c, 0x04, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x66, 0x73, 0x20, 0x73,
	0x74, 0x72, 0x65, 0x61, 0x6d, 0x66, 0x73, 0x20, 0x73, 0xfe, 0x09, 0x00,
	0xfe, 0x09, 0x00, 0xfe, 0x09, 0x00, 0xea, 0x09, 0x00, 0x00, 0x00,
};
/* codec 3 */
static const uint8_t kp_batch3[] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x8d,
	0x00, 0x00, 0x00, 0x00, 0x02, 0x39, 0xe5, 0xae, 0x55, 0x00, 0x03, 0x00,
	0x00, 0x00, 0x03, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00,
	0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00,
	0x04, 0x04, 0x22, 0x4d, 0x18, 0x68, 0x40, 0x40, 0x01, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x9b, 0x45, 0x00, 0x00, 0x00, 0xff, 0x2b, 0x28, 0x00,
	0x00, 0x00, 0x04, 0x6b, 0x31, 0x0a, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x04,
	0x02, 0x68, 0x02, 0x76, 0x02, 0x6e, 0x01, 0x16, 0x00, 0x0a, 0x02, 0x01,
	0x0a, 0x77, 0x6f, 0x72, 0x6c, 0x64, 0x00, 0x0c, 0x00, 0x01, 0x04, 0x00,
	0x01, 0x00, 0xac, 0x04, 0x00, 0x02, 0x06, 0x02, 0x6b, 0x9c, 0x04, 0x73,
	0x74, 0x72, 0x65, 0x61, 0x6d, 0x66, 0x73, 0x20, 0x09, 0x00, 0xee, 0x50,
	0x6d, 0x66, 0x73, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00,
};
/* codec 4 */
static const uint8_t kp_batch4[] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7f,
	0x00, 0x00, 0x00, 0x00, 0x02, 0x24, 0x89, 0x01, 0x52, 0x00, 0x04, 0x00,
	0x00, 0x00, 0x03, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00,
	0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00,
	0x04, 0x28, 0xb5, 0x2f, 0xfd, 0x60, 0x40, 0x00, 0x25, 0x02, 0x00, 0xb4,
	0x03, 0x28, 0x00, 0x00, 0x00, 0x04, 0x6b, 0x31, 0x0a, 0x68, 0x65, 0x6c,
	0x6c, 0x6f, 0x04, 0x02, 0x68, 0x02, 0x76, 0x02, 0x6e, 0x01, 0x16, 0x00,
	0x0a, 0x02, 0x01, 0x0a, 0x77, 0x6f, 0x72, 0x6c, 0x64, 0x00, 0x0c, 0x00,
	0x01, 0x04, 0x00, 0x01, 0x00, 0xac, 0x04, 0x00, 0x02, 0x06, 0x02, 0x6b,
	0x9c, 0x04, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x66, 0x73, 0x20, 0x00,
	0x01, 0x00, 0x2a, 0x40, 0xb5, 0x40, 0x01,
};

static const struct {
	const uint8_t *p;
	size_t len;
} kp[5] = {
	{ kp_batch0, sizeof kp_batch0 }, { kp_batch1, sizeof kp_batch1 },
	{ kp_batch2, sizeof kp_batch2 }, { kp_batch3, sizeof kp_batch3 },
	{ kp_batch4, sizeof kp_batch4 },
};

#define T0 1700000000000LL

/* ---- collecting decoded records ---- */

#define MAXREC 20000

struct got {
	int n;
	struct kbatch *info;
	int stop_at;                    /* -ECANCELED at this record, -1 never */
	struct krecord r[MAXREC];
	uint8_t *copy[MAXREC];          /* key, value, headers copied out */
};

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n + 1);
	if (n)
		memcpy(q, p, n);
	return q;
}

static int collect(void *arg, const struct krecord *r)
{
	struct got *g = arg;

	if (g->n == g->stop_at)
		return -ECANCELED;
	if (g->n >= MAXREC)
		return -E2BIG;
	struct krecord *c = &g->r[g->n];
	*c = *r;
	size_t kl = r->key_len > 0 ? r->key_len : 0;
	size_t vl = r->value_len > 0 ? r->value_len : 0;
	uint8_t *buf = malloc(kl + vl + r->headers_len + 1);
	memcpy(buf, r->key ? r->key : (const uint8_t *)"", kl);
	memcpy(buf + kl, r->value ? r->value : (const uint8_t *)"", vl);
	if (r->headers_len)
		memcpy(buf + kl + vl, r->headers, r->headers_len);
	c->key = r->key ? buf : NULL;
	c->value = r->value ? buf + kl : NULL;
	c->headers = buf + kl + vl;
	g->copy[g->n++] = buf;
	return 0;
}

static struct got *got_new(void)
{
	struct got *g = calloc(1, sizeof(*g));
	g->stop_at = -1;
	return g;
}

static void got_free(struct got *g)
{
	for (int i = 0; i < g->n; i++)
		free(g->copy[i]);
	free(g);
}

static bool bytes_eq(const uint8_t *p, int32_t len, const char *want)
{
	if (!want)
		return len == -1 && p == NULL;
	return len == (int32_t)strlen(want) && memcmp(p, want, len) == 0;
}

/* The four records kafka-python was given. */
static void check_kp_records(const struct got *g, int line)
{
	static const uint8_t hdr[] = { 0x02, 'h', 0x02, 'v', 0x02, 'n', 0x01 };

	if (!check_at(g->n == 4, "four records", line))
		return;
	check_at(bytes_eq(g->r[0].key, g->r[0].key_len, "k1"), "key 0", line);
	check_at(bytes_eq(g->r[0].value, g->r[0].value_len, "hello"),
		 "value 0", line);
	check_at(g->r[0].timestamp == T0, "ts 0", line);
	check_at(g->r[0].nheaders == 2 && g->r[0].headers_len == sizeof hdr &&
		 memcmp(g->r[0].headers, hdr, sizeof hdr) == 0, "headers 0",
		 line);
	check_at(bytes_eq(g->r[1].key, g->r[1].key_len, NULL), "key 1", line);
	check_at(bytes_eq(g->r[1].value, g->r[1].value_len, "world"),
		 "value 1", line);
	check_at(g->r[1].timestamp == T0 + 5, "ts 1", line);
	check_at(g->r[1].nheaders == 0 && g->r[1].headers_len == 0,
		 "headers 1", line);
	check_at(bytes_eq(g->r[2].key, g->r[2].key_len, ""), "key 2", line);
	check_at(bytes_eq(g->r[2].value, g->r[2].value_len, NULL), "value 2",
		 line);
	check_at(g->r[2].timestamp == T0 - 1, "ts 2", line);
	check_at(g->r[3].value_len == 270 &&
		 memcmp(g->r[3].value, "streamfs streamfs ", 18) == 0 &&
		 bytes_eq(g->r[3].key, g->r[3].key_len, "k") &&
		 g->r[3].timestamp == T0 + 1, "record 3", line);
	for (int i = 0; i < 4; i++)
		check_at(g->r[i].offset_delta == i, "offset delta", line);
}

/* ---- building test batches ---- */

static uint8_t *copy_of(const uint8_t *p, size_t n)
{
	return dup_bytes(p, n);
}

static void set_be(uint8_t *at, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		at[i] = (uint8_t)v;
}

/* Set the length field to n - 12 and the CRC to what the bytes give. */
static void fix_batch(uint8_t *b, size_t n)
{
	set_be(b + 8, n - 12, 4);
	set_be(b + KBATCH_CRC_AT,
	       store_crc32c(0, b + KBATCH_CRC_FROM, n - KBATCH_CRC_FROM), 4);
}

/* A batch of count records whose records area is recs[0..n) of codec. */
static uint8_t *wrap(const uint8_t *recs, size_t n, int codec, int32_t count,
		     size_t *len)
{
	uint8_t *b = calloc(1, KBATCH_HEADER_LEN + n);
	memcpy(b, kp_batch0, KBATCH_HEADER_LEN);
	set_be(b + 21, (uint16_t)codec, 2);
	set_be(b + 23, (uint32_t)(count - 1), 4);
	set_be(b + 57, (uint32_t)count, 4);
	memcpy(b + KBATCH_HEADER_LEN, recs, n);
	*len = KBATCH_HEADER_LEN + n;
	fix_batch(b, *len);
	return b;
}

static int decode(const uint8_t *p, size_t n, struct got *g)
{
	struct kbatch info;
	return kbatch_decode(p, n, &info, collect, g);
}

/* ---- the tests ---- */

static void test_client_batches(void)
{
	for (int c = 0; c < 5; c++) {
		struct kbatch info;
		struct got *g = got_new();
		int rc = kbatch_decode(kp[c].p, kp[c].len, &info, collect, g);
		if (!CHECK(rc == (int)kp[c].len))
			fprintf(stderr, "  codec %d: %d\n", c, rc);
		CHECK(info.magic == 2 && info.codec == c);
		CHECK(info.base_offset == 0 && info.count == 4);
		CHECK(info.last_offset_delta == 3);
		CHECK(info.base_timestamp == T0 && info.max_timestamp == T0 + 5);
		CHECK(info.producer_id == -1 && info.producer_epoch == -1 &&
		      info.base_sequence == -1);
		CHECK(info.length == (int32_t)kp[c].len - 12);
		check_kp_records(g, __LINE__);
		got_free(g);
	}
	/* no callback: validation only */
	struct kbatch info;
	CHECK(kbatch_decode(kp_batch4, sizeof kp_batch4, &info, NULL, NULL) ==
	      (int)sizeof kp_batch4);
}

/* The records of kafka-python's batch, encoded again: the same bytes but
 * the leader epoch, which it writes as 0 and a fetch response as -1. */
static void test_encode_same_bytes(void)
{
	struct got *g = got_new();
	struct kbuf out;

	CHECK(decode(kp_batch0, sizeof kp_batch0, g) > 0);
	kb_init(&out);
	kb_raw(&out, "xyz", 3);         /* appends after what is there */
	int n = kbatch_encode(&out, 0, g->r, g->n, KCODEC_NONE);
	CHECK(n == (int)sizeof kp_batch0 && out.len == 3 + sizeof kp_batch0);
	if (n == (int)sizeof kp_batch0) {
		uint8_t *b = out.p + 3;
		CHECK(memcmp(b + 12, "\xff\xff\xff\xff", 4) == 0);
		memset(b + 12, 0, 4);
		CHECK(memcmp(b, kp_batch0, sizeof kp_batch0) == 0);
	}
	kb_free(&out);
	got_free(g);
}

/* n records with values of varying sizes, some keys, some headers. */
static struct krecord *make_records(size_t n, uint8_t **pool)
{
	static const uint8_t hdr[] = { 0x06, 'a', 'b', 'c', 0x04, 'x', 'y' };
	struct krecord *r = calloc(n, sizeof(*r));
	uint8_t *v = malloc(n * 64 + 1);

	for (size_t i = 0; i < n * 64; i++)
		v[i] = (uint8_t)("streamfs"[i % 8] + (i / 640) % 3);
	for (size_t i = 0; i < n; i++) {
		r[i].offset_delta = (int64_t)i;
		r[i].timestamp = T0 + (int64_t)(i % 7) - 3;
		r[i].value = v + i * 64;
		r[i].value_len = (int32_t)(i % 65);
		r[i].key = i % 3 ? v + i : NULL;
		r[i].key_len = i % 3 ? (int32_t)(i % 5) : -1;
		if (i % 4 == 0) {
			r[i].headers = hdr;
			r[i].headers_len = sizeof hdr;
			r[i].nheaders = 1;
		}
	}
	*pool = v;
	return r;
}

static void test_round_trips(void)
{
	static const size_t sizes[] = { 1, 3, 20000 };

	for (int c = 0; c < 5; c++)
		for (size_t k = 0; k < 3; k++) {
			size_t n = sizes[k];
			uint8_t *pool;
			struct krecord *r = make_records(n, &pool);
			struct kbuf out;
			struct got *g = got_new();
			kb_init(&out);
			int len = kbatch_encode(&out, 1234567, r, n, c);
			CHECK(len > 0 && (size_t)len == out.len);
			struct kbatch info;
			int rc = kbatch_decode(out.p, out.len, &info, collect, g);
			if (!CHECK(rc == len))
				fprintf(stderr, "  codec %d n %zu: %d\n", c, n,
					rc);
			CHECK(info.codec == c && info.count == (int32_t)n);
			CHECK(info.base_offset == 1234567);
			CHECK(info.leader_epoch == -1 && info.producer_id == -1);
			CHECK(info.base_timestamp == r[0].timestamp);
			CHECK(info.max_timestamp == T0 + 3 ||
			      (n < 7 && info.max_timestamp >= T0 - 3));
			bool same = g->n == (int)n;
			for (size_t i = 0; same && i < n; i++) {
				const struct krecord *a = &r[i], *b = &g->r[i];
				same = a->timestamp == b->timestamp &&
				       a->key_len == b->key_len &&
				       a->value_len == b->value_len &&
				       a->nheaders == b->nheaders &&
				       a->headers_len == b->headers_len &&
				       (a->key_len <= 0 ||
					!memcmp(a->key, b->key, a->key_len)) &&
				       (a->value_len <= 0 ||
					!memcmp(a->value, b->value,
						a->value_len)) &&
				       (!a->headers_len ||
					!memcmp(a->headers, b->headers,
						a->headers_len));
			}
			if (!CHECK(same))
				fprintf(stderr, "  codec %d n %zu differs\n", c,
					n);
			if (c && n == 20000)    /* compression did something */
				CHECK(out.len < n * 32);
			kb_free(&out);
			got_free(g);
			free(r);
			free(pool);
		}
}

/* Raw snappy (no xerial header), as some clients write it. */
static void test_raw_snappy(void)
{
	const uint8_t *recs = kp_batch0 + KBATCH_HEADER_LEN;
	size_t n = sizeof kp_batch0 - KBATCH_HEADER_LEN, zn;
	char z[1024];
	size_t blen;

	zn = sizeof z;
	CHECK(snappy_compress((const char *)recs, n, z, &zn) == SNAPPY_OK);
	uint8_t *b = wrap((const uint8_t *)z, zn, KCODEC_SNAPPY, 4, &blen);
	struct got *g = got_new();
	CHECK(decode(b, blen, g) == (int)blen);
	check_kp_records(g, __LINE__);
	got_free(g);
	free(b);
	/* nothing, compressed: an empty batch (the fuzzer's first find) */
	b = wrap((const uint8_t *)"\0", 1, KCODEC_SNAPPY, 0, &blen);
	CHECK(decode(b, blen, got_new()) == (int)blen);
	free(b);
}

static void test_crc(void)
{
	for (int c = 0; c < 5; c++)
		for (size_t at = 0; at < kp[c].len; at++) {
			uint8_t *b = copy_of(kp[c].p, kp[c].len);
			struct got *g = got_new();
			b[at] ^= 0x10;
			int rc = decode(b, kp[c].len, g);
			if (at < 8 || (at >= 12 && at < 16)) {
				/* base offset, leader epoch: outside the CRC */
				CHECK(rc == (int)kp[c].len && g->n == 4);
			} else if (at >= 16 && at != 16) {
				if (!CHECK(rc == -EBADMSG && g->n == 0))
					fprintf(stderr, "  codec %d byte %zu: %d\n",
						c, at, rc);
			} else {
				CHECK(rc < 0 && g->n == 0);
			}
			got_free(g);
			free(b);
		}
}

/* Cut a batch short at every byte: as it is (its length then says more
 * than there is), and with length and CRC made to agree with the cut, so
 * that the records (or the compressed stream) themselves are short. */
static void test_truncation(void)
{
	for (int c = 0; c < 5; c++)
		for (size_t cut = 0; cut < kp[c].len; cut++) {
			uint8_t *b = copy_of(kp[c].p, cut);
			struct got *g = got_new();
			CHECK(decode(b, cut, g) == -EBADMSG);
			if (cut >= KBATCH_HEADER_LEN) {
				fix_batch(b, cut);
				int rc = decode(b, cut, g);
				if (!CHECK(rc == -EBADMSG))
					fprintf(stderr, "  codec %d cut %zu: %d\n",
						c, cut, rc);
			}
			got_free(g);
			free(b);
		}
}

/* A header whose count or last offset delta disagree with the records. */
static void test_counts(void)
{
	static const struct { int32_t count, last; } bad[] = {
		{ 5, 4 }, { 3, 2 }, { 4, 4 }, { 4, 2 }, { -1, -2 }, { 0, -1 },
		{ 0x7fffffff, 0x7ffffffe },
	};
	for (int c = 0; c < 5; c++)
		for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
			uint8_t *b = copy_of(kp[c].p, kp[c].len);
			set_be(b + 23, (uint32_t)bad[i].last, 4);
			set_be(b + 57, (uint32_t)bad[i].count, 4);
			fix_batch(b, kp[c].len);
			CHECK(decode(b, kp[c].len, got_new()) == -EBADMSG ||
			      !fprintf(stderr, "  codec %d case %zu\n", c, i));
			free(b);
		}
	/* a record whose length says one byte more or less than its fields */
	uint8_t *b = copy_of(kp_batch0, sizeof kp_batch0);
	CHECK(b[KBATCH_HEADER_LEN] == 0x28);     /* 20, zigzag */
	b[KBATCH_HEADER_LEN] = 0x2a;
	fix_batch(b, sizeof kp_batch0);
	CHECK(decode(b, sizeof kp_batch0, got_new()) == -EBADMSG);
	b[KBATCH_HEADER_LEN] = 0x26;
	fix_batch(b, sizeof kp_batch0);
	CHECK(decode(b, sizeof kp_batch0, got_new()) == -EBADMSG);
	free(b);
	/* offset deltas other than 0, 1, 2, ... */
	b = copy_of(kp_batch0, sizeof kp_batch0);
	CHECK(b[KBATCH_HEADER_LEN + 3] == 0);
	b[KBATCH_HEADER_LEN + 3] = 2;           /* 1, zigzag */
	fix_batch(b, sizeof kp_batch0);
	CHECK(decode(b, sizeof kp_batch0, got_new()) == -EBADMSG);
	free(b);
	/* a batch length larger than the bytes, or too small for a header */
	b = copy_of(kp_batch0, sizeof kp_batch0);
	set_be(b + 8, sizeof kp_batch0 - 11, 4);
	CHECK(decode(b, sizeof kp_batch0, got_new()) == -EBADMSG);
	set_be(b + 8, KBATCH_HEADER_LEN - 13, 4);
	CHECK(decode(b, sizeof kp_batch0, got_new()) == -EBADMSG);
	set_be(b + 8, 0xffffffff, 4);
	CHECK(decode(b, sizeof kp_batch0, got_new()) == -EBADMSG);
	free(b);
}

static void test_magic_and_codec(void)
{
	uint8_t *b = copy_of(kp_batch0, sizeof kp_batch0);

	for (int m = 0; m < 2; m++) {
		b[16] = (uint8_t)m;
		CHECK(decode(b, sizeof kp_batch0, got_new()) ==
		      -EPROTONOSUPPORT);
	}
	b[16] = 3;
	CHECK(decode(b, sizeof kp_batch0, got_new()) == -EBADMSG);
	b[16] = 2;
	for (int c = 5; c < 8; c++) {
		set_be(b + 21, (uint16_t)c, 2);
		fix_batch(b, sizeof kp_batch0);
		CHECK(decode(b, sizeof kp_batch0, got_new()) == -ENOTSUP);
	}
	/* plain records declared compressed: each codec refuses them */
	for (int c = 1; c < 5; c++) {
		set_be(b + 21, (uint16_t)c, 2);
		fix_batch(b, sizeof kp_batch0);
		CHECK(decode(b, sizeof kp_batch0, got_new()) == -EBADMSG);
	}
	/* transactional and control bits are reported, not refused */
	set_be(b + 21, KBATCH_TRANSACTIONAL | KBATCH_CONTROL, 2);
	fix_batch(b, sizeof kp_batch0);
	struct kbatch info;
	CHECK(kbatch_decode(b, sizeof kp_batch0, &info, NULL, NULL) > 0 &&
	      info.attributes == (KBATCH_TRANSACTIONAL | KBATCH_CONTROL));
	free(b);
	CHECK(kbatch_error_code(-EBADMSG) == KERR_CORRUPT_MESSAGE);
	CHECK(kbatch_error_code(-EPROTONOSUPPORT) == KERR_UNSUPPORTED_VERSION);
	CHECK(kbatch_error_code(-ENOTSUP) == KERR_UNSUPPORTED_COMPRESSION_TYPE);
	CHECK(kbatch_error_code(-EFBIG) == KERR_MESSAGE_TOO_LARGE);
	CHECK(kbatch_error_code(-ENOMEM) == KERR_UNKNOWN_SERVER_ERROR);
}

static void test_record_sets(void)
{
	size_t n = sizeof kp_batch0 + sizeof kp_batch4;
	uint8_t *b = malloc(n + 5);
	struct kbatch info;
	struct got *g = got_new();

	memcpy(b, kp_batch0, sizeof kp_batch0);
	memcpy(b + sizeof kp_batch0, kp_batch4, sizeof kp_batch4);
	CHECK(krecords_decode(b, n, &info, collect, g) == 8);
	CHECK(g->n == 8 && info.codec == KCODEC_ZSTD);
	got_free(g);
	CHECK(krecords_decode(b, 0, &info, NULL, NULL) == 0);
	memset(b + n, 0, 5);
	CHECK(krecords_decode(b, n + 5, &info, NULL, NULL) == -EBADMSG);
	CHECK(krecords_decode(b, n - 1, &info, NULL, NULL) == -EBADMSG);
	/* the callback stops the decoding with its own value */
	g = got_new();
	g->stop_at = 4;
	CHECK(krecords_decode(b, n, &info, collect, g) == -ECANCELED &&
	      g->n == 4);
	got_free(g);
	g = got_new();
	g->stop_at = 2;
	CHECK(kbatch_decode(b, n, &info, collect, g) == -ECANCELED);
	got_free(g);
	free(b);
}

static void test_encode_errors(void)
{
	uint8_t *pool;
	struct krecord *r = make_records(3, &pool);
	struct kbuf out;

	kb_init(&out);
	kb_raw(&out, "ab", 2);
	CHECK(kbatch_encode(&out, 0, r, 0, KCODEC_NONE) == -EINVAL);
	CHECK(kbatch_encode(&out, 0, r, 3, 5) == -EINVAL);
	CHECK(kbatch_encode(&out, 0, r, 3, -1) == -EINVAL);
	r[2].offset_delta = 3;
	CHECK(kbatch_encode(&out, 0, r, 3, KCODEC_NONE) == -EINVAL);
	CHECK(kbatch_encode(&out, 0, r, 3, KCODEC_GZIP) == -EINVAL);
	r[2].offset_delta = 2;
	r[1].key_len = -2;
	CHECK(kbatch_encode(&out, 0, r, 3, KCODEC_NONE) == -EINVAL);
	CHECK(out.len == 2 && !out.oom);        /* nothing left behind */
	kb_free(&out);
	free(r);
	free(pool);
}

/* Records inflating to just over the bound, in each codec: refused with
 * -EFBIG; kcodec_inflate's limit holds at any size. */
static void test_zip_bomb(void)
{
	size_t n = KBATCH_MAX_INFLATED + 1;
	uint8_t *zeros = calloc(1, n);

	for (int c = 1; c < 5; c++) {
		uint8_t *z, *flat;
		size_t zn, blen, fn;
		CHECK(kcodec_deflate(c, zeros, n, &z, &zn) == 0);
		CHECK(zn < n / 20);     /* snappy's best is about 1:21 */
		uint8_t *b = wrap(z, zn, c, 1, &blen);
		if (!CHECK(decode(b, blen, got_new()) == -EFBIG))
			fprintf(stderr, "  codec %d\n", c);
		free(b);
		free(z);
		/* at the limit: fine; one byte under it: refused */
		CHECK(kcodec_deflate(c, zeros, 100000, &z, &zn) == 0);
		CHECK(kcodec_inflate(c, z, zn, 100000, &flat, &fn) == 0 &&
		      fn == 100000);
		free(flat);
		CHECK(kcodec_inflate(c, z, zn, 99999, &flat, &fn) == -EFBIG);
		free(z);
	}
	free(zeros);
}

int main(void)
{
	test_client_batches();
	test_encode_same_bytes();
	test_round_trips();
	test_raw_snappy();
	test_crc();
	test_truncation();
	test_counts();
	test_magic_and_codec();
	test_record_sets();
	test_encode_errors();
	test_zip_bomb();
	return check_summary();
}
