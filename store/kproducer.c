/* kproducer.c - Kafka's idempotent producers, as the store keeps them:
 * the counter producer ids are handed out from (Mkafka_pid, written
 * synced before an id is used, so no id is ever handed out twice, across
 * restarts too), and per topic and producer id the state a produced
 * batch's sequence numbers are checked against (K topic pid): the
 * producer's epoch and its most recent batches, each with the base offset
 * it was given.  A state goes into LevelDB in the same write as the index
 * entries of the append it describes (index_flush_with), and it is
 * deleted with its topic (namespace.c).  The record that ends a
 * producer's batch carries the producer's tag in its trailer (kmsg.c), so
 * when a crash takes that LevelDB write, recovery, indexing the record
 * again, puts the state back (kproducer_recovered).  docs/format.md has
 * the layout. */
#include <errno.h>
#include <string.h>

#include "internal.h"

static const char meta_pid[] = "Mkafka_pid";

#define PSTATE_VERSION 1
#define PSTATE_HEAD 4           /* version(1) epoch(2) count(1) */
#define PSTATE_BATCH 16         /* first(4) last(4) base(8) */
#define PSTATE_MAX (PSTATE_HEAD + SF_PRODUCER_BATCHES * PSTATE_BATCH)

int store_producer_id_next(struct store *st, int64_t *pid)
{
	char *err = NULL, v[8];
	size_t len;
	int r = db_ready(st);
	if (r == 0)
		r = store_writable(st);
	if (r < 0)
		return r;
	char *old = leveldb_get(st->db, st->ropts, meta_pid,
				sizeof(meta_pid) - 1, &len, &err);
	if (err)
		return store_db_error("get", err);
	uint64_t next = old && len == 8 ? get_le64(old) : 0;
	leveldb_free(old);
	if (next >= INT64_MAX)
		return -EOVERFLOW;
	put_le64(v, next + 1);
	leveldb_writebatch_t *b = leveldb_writebatch_create();
	leveldb_writebatch_put(b, meta_pid, sizeof(meta_pid) - 1, v, 8);
	r = db_write(st, b, true);
	leveldb_writebatch_destroy(b);
	if (r == 0)
		*pid = (int64_t)next;
	return r;
}

static size_t pstate_encode(char *v, const struct sf_producer *p)
{
	v[0] = PSTATE_VERSION;
	v[1] = (char)(p->epoch & 0xff);
	v[2] = (char)((uint16_t)p->epoch >> 8);
	v[3] = (char)p->n;
	char *q = v + PSTATE_HEAD;
	for (unsigned i = 0; i < p->n; i++, q += PSTATE_BATCH) {
		put_le32(q, (uint32_t)p->b[i].first_seq);
		put_le32(q + 4, (uint32_t)p->b[i].last_seq);
		put_le64(q + 8, p->b[i].base);
	}
	return (size_t)(q - v);
}

static int pstate_decode(const char *v, size_t len, struct sf_producer *p)
{
	if (len < PSTATE_HEAD || v[0] != PSTATE_VERSION)
		return -EIO;
	p->epoch = (int16_t)((uint8_t)v[1] | (uint16_t)((uint8_t)v[2] << 8));
	p->n = (uint8_t)v[3];
	if (p->n > SF_PRODUCER_BATCHES ||
	    len != PSTATE_HEAD + (size_t)p->n * PSTATE_BATCH)
		return -EIO;
	const char *q = v + PSTATE_HEAD;
	for (unsigned i = 0; i < p->n; i++, q += PSTATE_BATCH) {
		p->b[i].first_seq = (int32_t)get_le32(q);
		p->b[i].last_seq = (int32_t)get_le32(q + 4);
		p->b[i].base = get_le64(q + 8);
	}
	return 0;
}

int store_producer_get(struct store *st, uint64_t ino, int64_t pid,
		       struct sf_producer *out)
{
	char k[KEY_MAX], *err = NULL;
	size_t len;
	if (pid < 0)
		return -EINVAL;
	int r = db_ready(st);
	if (r < 0)
		return r;
	char *v = leveldb_get(st->db, st->ropts, k,
			      key_u64_u64(k, KEY_KPRODUCER, ino,
					  (uint64_t)pid),
			      &len, &err);
	if (err)
		return store_db_error("get", err);
	if (!v)
		return -ENODATA;
	r = pstate_decode(v, len, out);
	leveldb_free(v);
	return r;
}

int store_producer_put(struct store *st, uint64_t ino, int64_t pid,
		       const struct sf_producer *p, bool sync)
{
	char k[KEY_MAX], v[PSTATE_MAX];
	if (pid < 0 || p->n > SF_PRODUCER_BATCHES)
		return -EINVAL;
	size_t klen = key_u64_u64(k, KEY_KPRODUCER, ino, (uint64_t)pid);
	int r = index_flush_with(st, k, klen, v, pstate_encode(v, p), sync);
	/* Unlike the entries, recovery cannot rebuild a state from the
	 * segments: a later sync of the data must sync LevelDB too. */
	if (r == 0 && !sync)
		st->meta_unsynced = true;
	return r;
}

void store_producer_note(struct sf_producer *p, int32_t first, int32_t last,
			 uint64_t base)
{
	if (p->n == SF_PRODUCER_BATCHES) {
		memmove(p->b, p->b + 1, (SF_PRODUCER_BATCHES - 1) *
			sizeof(p->b[0]));
		p->n--;
	}
	p->b[p->n++] = (struct sf_pbatch){ first, last, base };
}

/* Sequences first..last, wrapping past INT32_MAX to 0. */
static uint64_t seq_count(int32_t first, int32_t last)
{
	if (last >= first)
		return (uint64_t)last - (uint64_t)first + 1;
	return (uint64_t)INT32_MAX - (uint64_t)first + 1 + (uint64_t)last + 1;
}

int kproducer_recovered(struct store *st, leveldb_writebatch_t *b,
			const struct rec_header *h, const char *body)
{
	if (!(h->flags & REC_F_KAFKA) ||
	    h->len < REC_TRAILER_TAIL + REC_PRODUCER_TAG)
		return 0;
	const char *tail = body + h->len - REC_TRAILER_TAIL;
	if (get_le32(tail + 4) != REC_TRAILER_MAGIC_PRODUCER)
		return 0;
	const char *q = tail - REC_PRODUCER_TAG;
	int64_t pid = (int64_t)get_le64(q);
	int16_t epoch = (int16_t)((uint8_t)q[8] |
				  (uint16_t)((uint8_t)q[9] << 8));
	int32_t first = (int32_t)get_le32(q + 10);
	int32_t last = (int32_t)get_le32(q + 14);
	uint64_t count = seq_count(first, last), end = h->msg + h->nmsgs;
	if (pid < 0 || first < 0 || last < 0 || count > end)
		return 0;               /* not a tag this store writes */
	struct sf_producer p;
	int r = store_producer_get(st, h->topic, pid, &p);
	if (r == -ENODATA || (r == 0 && epoch > p.epoch)) {
		p = (struct sf_producer){ .epoch = epoch };
		r = 0;
	}
	if (r < 0 || epoch < p.epoch)
		return r < 0 ? r : 0;
	store_producer_note(&p, first, last, end - count);
	char k[KEY_MAX], v[PSTATE_MAX];
	leveldb_writebatch_put(b, k, key_u64_u64(k, KEY_KPRODUCER, h->topic,
						 (uint64_t)pid),
			       v, pstate_encode(v, &p));
	return 0;
}
