/* keys.c - encoding of LevelDB keys and values: inode records, directory
 * entries, index entries, segment states, topic heads.  Keys are
 * big-endian so that byte order is numeric order; values are little-endian
 * with fixed layouts described in docs/format.md. */
#include <errno.h>
#include <string.h>

#include "internal.h"

/* The fixed layouts are documented byte by byte in docs/format.md; a size
 * changed here without the document (and the format version) is a bug. */
_Static_assert(INODE_REC_SIZE == 80,
	       "inode record is 80 bytes: update docs/format.md");
_Static_assert(IDX_VAL_SIZE == 48,
	       "index entry is 48 bytes: update docs/format.md");
_Static_assert(SEGSTATE_SIZE == 40,
	       "segment state is 40 bytes: update docs/format.md");
/* The record header is segment.c's, asserted here so that every
 * documented size is checked in one place. */
_Static_assert(REC_HDR == 48,
	       "segment record header is 48 bytes: update docs/format.md");

size_t key_u64(char *k, char kind, uint64_t a)
{
	k[0] = kind;
	put_be64(k + 1, a);
	return 9;
}

size_t key_u64_u64(char *k, char kind, uint64_t a, uint64_t b)
{
	key_u64(k, kind, a);
	put_be64(k + 9, b);
	return 17;
}

size_t key_u64_u64_u64(char *k, char kind, uint64_t a, uint64_t b,
		       uint64_t c)
{
	key_u64_u64(k, kind, a, b);
	put_be64(k + 17, c);
	return 25;
}

size_t key_u64x4(char *k, char kind, uint64_t a, uint64_t b, uint64_t c,
		 uint64_t d)
{
	key_u64_u64_u64(k, kind, a, b, c);
	put_be64(k + 25, d);
	return 33;
}

/* Names are at most 255 bytes (checked by the caller). */
size_t key_u64_name(char *k, char kind, uint64_t a, const char *name)
{
	size_t n = strnlen(name, 255);
	key_u64(k, kind, a);
	memcpy(k + 9, name, n);
	return 9 + n;
}

/* ---- inode record: version 1, 80 bytes ---- */

static void put_ts(char *p, const struct timespec *ts)
{
	put_le64(p, (uint64_t)ts->tv_sec);
	put_le32(p + 8, (uint32_t)ts->tv_nsec);
}

static void get_ts(const char *p, struct timespec *ts)
{
	ts->tv_sec = (time_t)get_le64(p);
	ts->tv_nsec = get_le32(p + 8);
}

void inode_encode(char *b, const struct sf_inode *in)
{
	memset(b, 0, INODE_REC_SIZE);
	b[0] = 1;                               /* version */
	b[1] = (char)in->kind;
	b[2] = (char)in->flags;
	put_le32(b + 4, in->mode);
	put_le32(b + 8, in->uid);
	put_le32(b + 12, in->gid);
	put_le32(b + 16, in->nlink);
	put_le64(b + 20, in->parent);
	put_le64(b + 28, in->rdev);
	put_ts(b + 36, &in->atime);
	put_ts(b + 48, &in->mtime);
	put_ts(b + 60, &in->ctime);
}

int inode_decode(const char *b, size_t len, uint64_t ino, struct sf_inode *in)
{
	if (len != INODE_REC_SIZE || b[0] != 1)
		return -EIO;
	memset(in, 0, sizeof(*in));
	in->ino = ino;
	in->kind = (unsigned char)b[1];
	in->flags = (unsigned char)b[2];
	in->mode = get_le32(b + 4);
	in->uid = get_le32(b + 8);
	in->gid = get_le32(b + 12);
	in->nlink = get_le32(b + 16);
	in->parent = get_le64(b + 20);
	in->rdev = get_le64(b + 28);
	get_ts(b + 36, &in->atime);
	get_ts(b + 48, &in->mtime);
	get_ts(b + 60, &in->ctime);
	return 0;
}

/* ---- index entry: 48 bytes, 52 with a Kafka trailer ---- */

void idx_encode(char *b, const struct idx_entry *e)
{
	put_le64(b, e->seg_stream);
	put_le64(b + 8, e->seg_seq);
	put_le64(b + 16, e->seg_off);
	put_le32(b + 24, e->len);
	put_le32(b + 28, e->nmsgs);
	put_le64(b + 32, e->msg);
	put_le64(b + 40, (uint64_t)e->ns);
	if (e->meta)
		put_le32(b + 48, e->meta);
}

size_t idx_size(const struct idx_entry *e)
{
	return e->meta ? IDX_VAL_SIZE_META : IDX_VAL_SIZE;
}

int idx_decode(const char *key, size_t klen, const char *b, size_t vlen,
	       struct idx_entry *e)
{
	if (klen != 17 || key[0] != KEY_INDEX ||
	    (vlen != IDX_VAL_SIZE && vlen != IDX_VAL_SIZE_META))
		return -EIO;
	e->meta = vlen == IDX_VAL_SIZE_META ? get_le32(b + 48) : 0;
	e->off = get_be64(key + 9);
	e->seg_stream = get_le64(b);
	e->seg_seq = get_le64(b + 8);
	e->seg_off = get_le64(b + 16);
	e->len = get_le32(b + 24);
	e->nmsgs = get_le32(b + 28);
	e->msg = get_le64(b + 32);
	e->ns = (int64_t)get_le64(b + 40);
	return 0;
}

/* ---- segment state: 32 bytes ---- */

void segstate_encode(char *b, const struct seg_state *s)
{
	put_le64(b, s->seq);
	put_le64(b + 8, s->end);
	put_le64(b + 16, s->synced);
	put_le64(b + 24, s->synced_seq);
	put_le64(b + 32, (uint64_t)s->max_ns);
}

void segstate_put(leveldb_writebatch_t *b, uint64_t stream,
		  const struct seg_state *s)
{
	char k[KEY_MAX], v[SEGSTATE_SIZE];
	segstate_encode(v, s);
	leveldb_writebatch_put(b, k, key_u64(k, KEY_SEGSTATE, stream), v,
			       sizeof(v));
}

int segstate_decode(const char *b, size_t len, struct seg_state *s)
{
	if (len != SEGSTATE_SIZE && len != SEGSTATE_SIZE_V1)
		return -EIO;
	s->seq = get_le64(b);
	s->end = get_le64(b + 8);
	s->synced = get_le64(b + 16);
	s->synced_seq = get_le64(b + 24);
	s->max_ns = len == SEGSTATE_SIZE ? (int64_t)get_le64(b + 32) : 0;
	return 0;
}

/* ---- topic head: 24 bytes ---- */

void head_encode(char *b, const struct topic_head *h)
{
	put_le64(b, h->off);
	put_le64(b + 8, h->msg);
	put_le64(b + 16, (uint64_t)h->ns);
}

int head_decode(const char *b, size_t len, struct topic_head *h)
{
	if (len != HEAD_SIZE)
		return -EIO;
	h->off = get_le64(b);
	h->msg = get_le64(b + 8);
	h->ns = (int64_t)get_le64(b + 16);
	return 0;
}
