/* codec.c - the Kafka protocol's primitives: bounded big-endian integers,
 * varints, strings, bytes and arrays in their classic and compact
 * (flexible) forms, and tagged-field sections, read from a request
 * (struct kreader: a short or bad field sets bad, never reads past end)
 * and written to a response (struct kbuf: grows, or sets oom). */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "kafka.h"

/* A response never needs more than this (frames are limited anyway). */
#define KBUF_MAX ((size_t)1 << 31)

/* ---- reading ---- */

void kr_init(struct kreader *r, const void *p, size_t len)
{
	r->p = p;
	r->end = r->p + len;
	r->bad = false;
}

size_t kr_left(const struct kreader *r)
{
	return r->bad ? 0 : (size_t)(r->end - r->p);
}

static uint64_t be(struct kreader *r, size_t n)
{
	const uint8_t *p = kr_skip(r, n);
	uint64_t v = 0;
	if (!p)
		return 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

int16_t kr_i16(struct kreader *r)
{
	return (int16_t)be(r, 2);
}

int32_t kr_i32(struct kreader *r)
{
	return (int32_t)be(r, 4);
}

int64_t kr_i64(struct kreader *r)
{
	return (int64_t)be(r, 8);
}

/* The varints kr_uvar does not read in place: at most max bytes (7 bits
 * each); short or longer than max sets bad. */
uint64_t kr_uvar_long(struct kreader *r, unsigned max)
{
	if (r->bad)
		return 0;
	size_t left = (size_t)(r->end - r->p);
	if (left > max)
		left = max;
	uint64_t v = 0;
	for (size_t i = 0; i < left; i++) {
		v |= (uint64_t)(r->p[i] & 0x7f) << (7 * i);
		if (!(r->p[i] & 0x80)) {
			r->p += i + 1;
			return v;
		}
	}
	r->bad = true;
	return 0;
}

static struct kstr take(struct kreader *r, int64_t len)
{
	struct kstr s = { NULL, -1 };
	if (len < -1 || len > INT32_MAX) {
		r->bad = true;
		return s;
	}
	if (len == -1)
		return s;
	s.p = kr_skip(r, (size_t)len);
	s.len = s.p ? (int32_t)len : -1;
	return s;
}

struct kstr kr_string(struct kreader *r)
{
	return take(r, kr_i16(r));
}

struct kstr kr_bytes(struct kreader *r)
{
	return take(r, kr_i32(r));
}

struct kstr kr_cstring(struct kreader *r)
{
	return take(r, (int64_t)kr_uvarint(r) - 1);
}

struct kstr kr_cbytes(struct kreader *r)
{
	return take(r, (int64_t)kr_uvarint(r) - 1);
}

static int32_t count(struct kreader *r, int64_t n)
{
	if (r->bad)
		return -1;
	if (n < -1 || n > (int64_t)kr_left(r)) {
		r->bad = true;
		return -1;
	}
	return (int32_t)n;
}

int32_t kr_array(struct kreader *r)
{
	return count(r, kr_i32(r));
}

int32_t kr_carray(struct kreader *r)
{
	return count(r, (int64_t)kr_uvarint(r) - 1);
}

void kr_tags(struct kreader *r)
{
	uint32_t n = kr_uvarint(r);
	for (uint32_t i = 0; i < n && !r->bad; i++) {
		kr_uvarint(r);                  /* tag */
		kr_skip(r, kr_uvarint(r));      /* its data */
	}
}

bool kstr_copy(struct kstr s, char *buf, size_t cap)
{
	if (s.len < 0 || (size_t)s.len >= cap ||
	    memchr(s.p, 0, (size_t)s.len))
		return false;
	memcpy(buf, s.p, (size_t)s.len);
	buf[s.len] = 0;
	return true;
}

bool kstr_eq(struct kstr s, const char *c)
{
	size_t n = strlen(c);
	return s.len >= 0 && (size_t)s.len == n && !memcmp(s.p, c, n);
}

/* ---- writing ---- */

void kb_init(struct kbuf *b)
{
	memset(b, 0, sizeof *b);
}

void kb_free(struct kbuf *b)
{
	free(b->p);
	kb_init(b);
}

uint8_t *kb_reserve(struct kbuf *b, size_t n)
{
	if (b->oom)
		return NULL;
	if (n > KBUF_MAX - b->len) {
		b->oom = true;
		return NULL;
	}
	/* An empty buffer gets room even for n == 0: the pointer returned
	 * is then b->p + b->len, never an offset from NULL. */
	uint8_t *p = buf_grow(b->p, &b->cap, b->len + n, 256);
	if (!p) {
		b->oom = true;
		return NULL;
	}
	b->p = p;
	uint8_t *at = b->p + b->len;
	b->len += n;
	return at;
}

void kb_raw(struct kbuf *b, const void *p, size_t n)
{
	uint8_t *at = kb_reserve(b, n);
	if (at && n)
		memcpy(at, p, n);
}

static void put_be(struct kbuf *b, uint64_t v, size_t n)
{
	uint8_t *at = kb_reserve(b, n);
	if (!at)
		return;
	for (size_t i = n; i-- > 0; v >>= 8)
		at[i] = (uint8_t)v;
}

void kb_i8(struct kbuf *b, int8_t v)
{
	put_be(b, (uint8_t)v, 1);
}

void kb_i16(struct kbuf *b, int16_t v)
{
	put_be(b, (uint16_t)v, 2);
}

void kb_i32(struct kbuf *b, int32_t v)
{
	put_be(b, (uint32_t)v, 4);
}

void kb_i64(struct kbuf *b, int64_t v)
{
	put_be(b, (uint64_t)v, 8);
}

static void put_uvar(struct kbuf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	do {
		tmp[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			tmp[n] |= 0x80;
		n++;
	} while (v);
	kb_raw(b, tmp, n);
}

void kb_uvarint(struct kbuf *b, uint32_t v)
{
	put_uvar(b, v);
}

void kb_varint(struct kbuf *b, int32_t v)
{
	put_uvar(b, ((uint32_t)v << 1) ^ (uint32_t)(v >> 31));
}

void kb_varlong(struct kbuf *b, int64_t v)
{
	put_uvar(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void kb_nstring(struct kbuf *b, const void *s, size_t len)
{
	if (len > INT16_MAX)
		len = INT16_MAX;        /* callers keep names short */
	kb_i16(b, (int16_t)len);
	kb_raw(b, s, len);
}

void kb_string(struct kbuf *b, const char *s)
{
	if (!s)
		kb_i16(b, -1);
	else
		kb_nstring(b, s, strlen(s));
}

void kb_bytes(struct kbuf *b, const void *p, int32_t len)
{
	if (!p || len < 0) {
		kb_i32(b, -1);
		return;
	}
	kb_i32(b, len);
	kb_raw(b, p, (size_t)len);
}

void kb_cnstring(struct kbuf *b, const void *s, size_t len)
{
	if (len > INT16_MAX)
		len = INT16_MAX;
	kb_uvarint(b, (uint32_t)len + 1);
	kb_raw(b, s, len);
}

void kb_cstring(struct kbuf *b, const char *s)
{
	if (!s)
		kb_uvarint(b, 0);
	else
		kb_cnstring(b, s, strlen(s));
}

void kb_cbytes(struct kbuf *b, const void *p, int32_t len)
{
	if (!p || len < 0) {
		kb_uvarint(b, 0);
		return;
	}
	kb_uvarint(b, (uint32_t)len + 1);
	kb_raw(b, p, (size_t)len);
}

void kb_array(struct kbuf *b, int32_t n)
{
	kb_i32(b, n);
}

void kb_carray(struct kbuf *b, int32_t n)
{
	kb_uvarint(b, n < 0 ? 0 : (uint32_t)n + 1);
}

void kb_tags(struct kbuf *b)
{
	kb_uvarint(b, 0);
}

void kb_patch_i32(struct kbuf *b, size_t off, int32_t v)
{
	if (b->oom || off + 4 > b->len)
		return;
	uint32_t u = (uint32_t)v;
	b->p[off] = (uint8_t)(u >> 24);
	b->p[off + 1] = (uint8_t)(u >> 16);
	b->p[off + 2] = (uint8_t)(u >> 8);
	b->p[off + 3] = (uint8_t)u;
}
