/*
 * expfile.c - writing and reading the items of export files, with their
 * checksums, and the little-endian encoding of their bodies (expfile.h).
 */
#include "expfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ CRC-32C */

uint32_t exp_crc32c(uint32_t crc, const void *data, size_t len)
{
	static uint32_t table[256];
	const unsigned char *p = data;

	if (!table[1]) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
			table[i] = c;
		}
	}
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ------------------------------------------------------------ encoding */

static void le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void exp_put_bytes(struct exp_buf *b, const void *p, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 256) + n;
		unsigned char *np = realloc(b->p, cap);
		if (!np) {
			b->failed = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void put_le(struct exp_buf *b, uint64_t v, int n)
{
	unsigned char tmp[8];

	le(tmp, v, n);
	exp_put_bytes(b, tmp, (size_t)n);
}

void exp_put_u8(struct exp_buf *b, unsigned v) { put_le(b, v, 1); }
void exp_put_u16(struct exp_buf *b, unsigned v) { put_le(b, v, 2); }
void exp_put_u32(struct exp_buf *b, uint32_t v) { put_le(b, v, 4); }
void exp_put_u64(struct exp_buf *b, uint64_t v) { put_le(b, v, 8); }

int exp_get_bytes(struct exp_cur *c, size_t n, const unsigned char **p)
{
	if (c->len - c->at < n)
		return -1;
	*p = c->p + c->at;
	c->at += n;
	return 0;
}

static int cur_le(struct exp_cur *c, int n, uint64_t *v)
{
	const unsigned char *p;

	if (exp_get_bytes(c, (size_t)n, &p))
		return -1;
	*v = get_le(p, n);
	return 0;
}

int exp_get_u8(struct exp_cur *c, unsigned *v)
{
	uint64_t x = 0;
	int rc = cur_le(c, 1, &x);

	*v = (unsigned)x;
	return rc;
}

int exp_get_u16(struct exp_cur *c, unsigned *v)
{
	uint64_t x = 0;
	int rc = cur_le(c, 2, &x);

	*v = (unsigned)x;
	return rc;
}

int exp_get_u32(struct exp_cur *c, uint32_t *v)
{
	uint64_t x = 0;
	int rc = cur_le(c, 4, &x);

	*v = (uint32_t)x;
	return rc;
}

int exp_get_u64(struct exp_cur *c, uint64_t *v)
{
	return cur_le(c, 8, v);
}

/* ------------------------------------------------------------ writing */

static int put(struct exp_writer *w, const void *p, size_t n)
{
	return fwrite(p, 1, n, w->f) == n ? 0 : -(errno ? errno : EIO);
}

int exp_write_header(struct exp_writer *w)
{
	unsigned char h[EXP_HEADER];

	memcpy(h, EXP_MAGIC, 8);
	le(h + 8, EXP_VERSION, 4);
	le(h + 12, exp_crc32c(0, h, 12), 4);
	w->items = 0;
	return put(w, h, sizeof(h));
}

int exp_write_item(struct exp_writer *w, int type, const void *body,
		   size_t len)
{
	unsigned char h[EXP_ITEM_HEADER];
	uint32_t crc;

	le(h + 4, len, 4);
	h[8] = (unsigned char)type;
	crc = exp_crc32c(0, h + 4, 5);
	crc = exp_crc32c(crc, body, len);
	le(h, crc, 4);
	w->items++;
	int rc = put(w, h, sizeof(h));
	return rc ? rc : put(w, body, len);
}

int exp_write_end(struct exp_writer *w)
{
	unsigned char body[8];

	le(body, w->items, 8);
	return exp_write_item(w, EXP_END, body, sizeof(body));
}

/* ------------------------------------------------------------ reading */

/* Read exactly n bytes: n, or how many there were before the end. */
static size_t get(struct exp_reader *r, void *p, size_t n)
{
	size_t got = fread(p, 1, n, r->f);

	r->pos += got;
	return got;
}

static int refuse(struct exp_reader *r, uint64_t at, const char *why)
{
	snprintf(r->err, sizeof(r->err), "damaged at byte %llu: %s",
		 (unsigned long long)at, why);
	return -1;
}

/* The file ends inside the item at `at`, or (whole) before the end. */
static int truncated(struct exp_reader *r, uint64_t at, int whole)
{
	snprintf(r->err, sizeof(r->err), "truncated at byte %llu: %s",
		 (unsigned long long)at, whole ? "the end item is missing" :
		 "the item there is incomplete");
	return -1;
}

int exp_read_header(struct exp_reader *r)
{
	unsigned char h[EXP_HEADER];

	r->pos = 0;
	r->items = 0;
	if (get(r, h, sizeof(h)) != sizeof(h))
		return truncated(r, 0, 0);
	if (memcmp(h, EXP_MAGIC, 8) != 0)
		return refuse(r, 0, "not a streamfs export file");
	if (get_le(h + 12, 4) != exp_crc32c(0, h, 12))
		return refuse(r, 0, "header checksum mismatch");
	if (get_le(h + 8, 4) != EXP_VERSION) {
		snprintf(r->err, sizeof(r->err), "version %u is not supported "
			 "(this streamctl reads version %d)",
			 (unsigned)get_le(h + 8, 4), EXP_VERSION);
		return -1;
	}
	return 0;
}

/* After the end item: its count must be right and nothing may follow. */
static int check_end(struct exp_reader *r, const struct exp_item *it)
{
	unsigned char extra;

	if (it->len != 8 || get_le(it->body, 8) != r->items)
		return refuse(r, it->pos, "the end item does not count the "
			      "items before it");
	if (get(r, &extra, 1) != 0)
		return refuse(r, r->pos - 1, "bytes after the end item");
	return 0;
}

int exp_read_item(struct exp_reader *r, struct exp_item *it)
{
	unsigned char h[EXP_ITEM_HEADER];

	it->pos = r->pos;
	size_t got = get(r, h, sizeof(h));
	if (got != sizeof(h))
		return truncated(r, it->pos, got == 0);
	size_t len = (size_t)get_le(h + 4, 4);
	if (len > EXP_BODY_MAX || h[8] < EXP_STREAM || h[8] > EXP_END)
		return refuse(r, it->pos, "bad item length or type");
	if (len > r->cap) {
		unsigned char *p = realloc(r->buf, len);
		if (!p)
			return refuse(r, it->pos, "out of memory");
		r->buf = p;
		r->cap = len;
	}
	if (get(r, r->buf, len) != len)
		return truncated(r, it->pos, 0);
	uint32_t crc = exp_crc32c(exp_crc32c(0, h + 4, 5), r->buf, len);
	if (crc != get_le(h, 4))
		return refuse(r, it->pos, "checksum mismatch");
	it->type = h[8];
	it->body = r->buf;
	it->len = len;
	if (it->type == EXP_END)
		return check_end(r, it) ? -1 : 0;
	r->items++;
	return 1;
}

void exp_reader_free(struct exp_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
}
