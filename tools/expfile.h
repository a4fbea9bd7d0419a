/*
 * expfile.h - export files (streamctl export and import): a header, then
 * items, each with its CRC-32C, length and type; docs/format.md, "Export
 * files", has the byte layout.  This file writes items, reads them back
 * with every checksum and length checked, and encodes and decodes their
 * bodies.  It knows nothing of the mount.
 */
#ifndef STREAMFS_EXPFILE_H
#define STREAMFS_EXPFILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define EXP_MAGIC "SFEXPORT"
#define EXP_VERSION 1
#define EXP_HEADER 16           /* magic, version, CRC */
#define EXP_ITEM_HEADER 9       /* CRC, length, type */
#define EXP_RECORD_FIXED 28     /* off, msg, ns, nmsgs before the bytes */
/* The longest body: a record's fixed part and SF_RESTORE_MAX bytes. */
#define EXP_BODY_MAX (EXP_RECORD_FIXED + (64u << 20) + (1u << 20))

enum exp_type { EXP_STREAM = 1, EXP_TOPIC = 2, EXP_RECORD = 3, EXP_END = 4 };

uint32_t exp_crc32c(uint32_t crc, const void *data, size_t len);

/* ---- writing: 0, or -errno of the stream ---- */

struct exp_writer {
	FILE *f;
	uint64_t items;         /* written so far, for the end item */
};

int exp_write_header(struct exp_writer *w);
int exp_write_item(struct exp_writer *w, int type, const void *body,
		   size_t len);
/* The end item: the number of items before it. */
int exp_write_end(struct exp_writer *w);

/* ---- reading ---- */

struct exp_reader {
	FILE *f;
	uint64_t pos;           /* byte offset of the next item */
	uint64_t items;
	unsigned char *buf;     /* the body of the last item read */
	size_t cap;
	char err[160];          /* why the file was refused, with the offset */
};

struct exp_item {
	int type;
	uint64_t pos;           /* byte offset of the item in the file */
	const unsigned char *body;
	size_t len;
};

/* Check the header.  0, or -1 with r->err set. */
int exp_read_header(struct exp_reader *r);
/* The next item: 1, 0 after a whole end item that ends the file, -1 with
 * r->err set ("damaged at byte N: ..." or "truncated at byte N"). */
int exp_read_item(struct exp_reader *r, struct exp_item *it);
void exp_reader_free(struct exp_reader *r);

/* ---- bodies ----
 * stream: path, then attributes (name without "user.streamfs.", value);
 * topic: path; record: offsets, time, count, bytes. */

struct exp_buf {
	unsigned char *p;
	size_t len, cap;
	int failed;             /* out of memory */
};

void exp_put_u8(struct exp_buf *b, unsigned v);
void exp_put_u16(struct exp_buf *b, unsigned v);
void exp_put_u32(struct exp_buf *b, uint32_t v);
void exp_put_u64(struct exp_buf *b, uint64_t v);
void exp_put_bytes(struct exp_buf *b, const void *p, size_t n);

/* A cursor over a body; every get fails (returns -1) past its end. */
struct exp_cur {
	const unsigned char *p;
	size_t len, at;
};

int exp_get_u8(struct exp_cur *c, unsigned *v);
int exp_get_u16(struct exp_cur *c, unsigned *v);
int exp_get_u32(struct exp_cur *c, uint32_t *v);
int exp_get_u64(struct exp_cur *c, uint64_t *v);
/* n bytes in place. */
int exp_get_bytes(struct exp_cur *c, size_t n, const unsigned char **p);

#endif
