/* fuzz_kafka.c - libFuzzer target for Kafka record batches
 * (fs/kafka/records.h).
 *
 * The first input byte chooses a mode, the rest is the batch.  Mode bit 0:
 * make the length field and the CRC agree with the bytes first, so that
 * the fuzzer gets past the CRC to the records and the codecs.  Bit 1:
 * decode the bytes as a record set rather than one batch.  Every decoded
 * record's bytes are read (ASan checks they are inside the input or the
 * inflated copy); a batch that decodes is encoded again without
 * compression, and that must decode to the same records.  Errors must be
 * the documented ones.  Build and run with tools/fuzz.sh kafka.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fault(const char *what)
{
	fprintf(stderr, "fuzz_kafka: %s\n", what);
	abort();
}

/* The records of one batch, copied out. */
struct copy {
	struct krecord *r;
	size_t n, cap;
	struct kbuf bytes;      /* keys, values, headers, back to back */
};

static int keep(void *arg, const struct krecord *r)
{
	struct copy *c = arg;

	if (r->key_len < -1 || r->value_len < -1 || r->nheaders < 0 ||
	    (r->key_len >= 0) != (r->key != NULL) ||
	    (r->value_len >= 0) != (r->value != NULL) ||
	    (r->nheaders == 0 && r->headers_len != 0))
		fault("malformed record passed on");
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->r = realloc(c->r, c->cap * sizeof(*c->r));
		if (!c->r)
			fault("out of memory");
	}
	struct krecord *k = &c->r[c->n++];
	*k = *r;
	/* offsets into bytes for now: pointers once it stops moving */
	k->key = (const uint8_t *)(uintptr_t)c->bytes.len;
	if (r->key_len > 0)
		kb_raw(&c->bytes, r->key, (size_t)r->key_len);
	k->value = (const uint8_t *)(uintptr_t)c->bytes.len;
	if (r->value_len > 0)
		kb_raw(&c->bytes, r->value, (size_t)r->value_len);
	k->headers = (const uint8_t *)(uintptr_t)c->bytes.len;
	kb_raw(&c->bytes, r->headers, r->headers_len);
	return 0;
}

static void fix_pointers(struct copy *c)
{
	for (size_t i = 0; i < c->n; i++) {
		struct krecord *k = &c->r[i];
		uint8_t *base = c->bytes.p;
		k->key = k->key_len < 0 ? NULL : base + (uintptr_t)k->key;
		k->value = k->value_len < 0 ? NULL : base + (uintptr_t)k->value;
		k->headers = base + (uintptr_t)k->headers;
	}
}

static bool same(const struct krecord *a, const struct krecord *b)
{
	return a->offset_delta == b->offset_delta &&
	       a->timestamp == b->timestamp && a->key_len == b->key_len &&
	       a->value_len == b->value_len && a->nheaders == b->nheaders &&
	       a->headers_len == b->headers_len &&
	       (a->key_len <= 0 || !memcmp(a->key, b->key, a->key_len)) &&
	       (a->value_len <= 0 ||
		!memcmp(a->value, b->value, a->value_len)) &&
	       (!a->headers_len || !memcmp(a->headers, b->headers,
					   a->headers_len));
}

static void check_error(int rc)
{
	if (rc != -EBADMSG && rc != -EPROTONOSUPPORT && rc != -ENOTSUP &&
	    rc != -EFBIG && rc != -ENOMEM)
		fault("undocumented error");
}

/* Encode c's records again, plainly, and decode them. */
static void reencode(struct copy *c, const struct kbatch *info)
{
	struct kbuf out;
	struct copy again = { 0 };
	struct kbatch info2;

	fix_pointers(c);
	kb_init(&out);
	int n = kbatch_encode(&out, info->base_offset, c->r, c->n, KCODEC_NONE);
	if (n < 0)
		fault("decoded records do not encode");
	kb_init(&again.bytes);
	if (kbatch_decode(out.p, out.len, &info2, keep, &again) != n)
		fault("encoded batch does not decode");
	fix_pointers(&again);
	if (again.n != c->n || info2.count != info->count ||
	    info2.base_offset != info->base_offset)
		fault("re-encoded batch differs");
	for (size_t i = 0; i < c->n; i++)
		if (!same(&c->r[i], &again.r[i]))
			fault("re-encoded record differs");
	free(again.r);
	kb_free(&again.bytes);
	kb_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int mode = data[0];
	size_t n = size - 1;
	uint8_t *b = malloc(n ? n : 1);
	struct kbatch info;
	struct copy c = { 0 };

	memcpy(b, data + 1, n);
	if ((mode & 1) && n >= KBATCH_HEADER_LEN) {
		uint32_t len = (uint32_t)(n - 12), crc;
		b[8] = len >> 24, b[9] = len >> 16, b[10] = len >> 8, b[11] = len;
		crc = store_crc32c(0, b + KBATCH_CRC_FROM, n - KBATCH_CRC_FROM);
		b[17] = crc >> 24, b[18] = crc >> 16, b[19] = crc >> 8;
		b[20] = crc;
	}
	kb_init(&c.bytes);
	if (mode & 2) {
		int rc = krecords_decode(b, n, &info, keep, &c);
		if (rc < 0)
			check_error(rc);
		else if ((size_t)rc != c.n)
			fault("record count is not what was passed on");
	} else {
		int rc = kbatch_decode(b, n, &info, keep, &c);
		if (rc < 0) {
			check_error(rc);
		} else {
			if ((size_t)rc > n || (size_t)rc < KBATCH_HEADER_LEN ||
			    c.n != (size_t)info.count || info.magic != 2)
				fault("decoded batch is inconsistent");
			if (c.n > 0)
				reencode(&c, &info);
		}
	}
	free(c.r);
	kb_free(&c.bytes);
	free(b);
	return 0;
}
