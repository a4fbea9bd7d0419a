/* expire.c - expiring the head of a topic: deleting its oldest index
 * entries (by time, by size, or up to a given record), counting the bytes
 * they leave dead in their segments, and keeping a head record (H key)
 * once every entry of a topic is gone, so that it keeps its end, next
 * message offset and last arrival.
 *
 * A topic's entries are deleted from its head only, so its index stays
 * contiguous, and the byte and message offsets of what is left never
 * change.  Work is done in steps: one LevelDB batch, written durably at
 * the end of the step, so that an expired message cannot come back after
 * a crash or a power cut. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct touched {
	uint64_t ino;           /* 0: free slot */
	uint64_t done_to;       /* entries before this offset are deleted */
	bool moved;             /* the head moved: report it */
	uint64_t start, msg;    /* the new head */
	int64_t ns;             /* its arrival, 0 once nothing is live */
};

struct store_expiry {
	struct store *st;
	leveldb_writebatch_t *b;
	leveldb_iterator_t *it;
	struct dead_list dl;
	bool dirty;             /* the batch holds something */
	struct touched *tt;     /* open addressing, cap a power of two */
	size_t ntt, cap;
	/* What the step expires (st->stats once it is written). */
	uint64_t records, messages, bytes;
};

struct store_expiry *store_expiry_begin(struct store *st)
{
	struct store_expiry *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->st = st;
	x->cap = 64;
	x->tt = calloc(x->cap, sizeof(*x->tt));
	x->b = leveldb_writebatch_create();
	if (!x->tt) {
		leveldb_writebatch_destroy(x->b);
		free(x);
		return NULL;
	}
	return x;
}

/* The step's iterator, made at its first use: a step that expires
 * nothing (most of them) writes and reads nothing.  The index batch is
 * written first, so the iterator sees every entry. */
int expiry_ready(struct store_expiry *x)
{
	if (x->it)
		return 0;
	int r = index_flush(x->st, false);
	if (r == 0)
		r = db_ready(x->st);
	if (r == 0)
		x->it = leveldb_create_iterator(x->st->db, x->st->ropts);
	return r;
}

void expiry_abort(struct store_expiry *x)
{
	if (x->it)
		leveldb_iter_destroy(x->it);
	leveldb_writebatch_destroy(x->b);
	free(x->tt);
	free(x);
}

static size_t slot_of(const struct touched *tt, size_t cap, uint64_t ino)
{
	size_t i = (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
	while (tt[i].ino && tt[i].ino != ino)
		i = (i + 1) & (cap - 1);
	return i;
}

static struct touched *touch(struct store_expiry *x, uint64_t ino)
{
	if (2 * (x->ntt + 1) > x->cap) {
		size_t cap = x->cap * 2;
		struct touched *n = calloc(cap, sizeof(*n));
		if (!n)
			return NULL;
		for (size_t i = 0; i < x->cap; i++)
			if (x->tt[i].ino)
				n[slot_of(n, cap, x->tt[i].ino)] = x->tt[i];
		free(x->tt);
		x->tt = n;
		x->cap = cap;
	}
	size_t i = slot_of(x->tt, x->cap, ino);
	if (!x->tt[i].ino) {
		x->tt[i].ino = ino;
		x->ntt++;
	}
	return &x->tt[i];
}

/* The entry under the iterator if it is one of ino's: 1, 0, -EIO. */
static int entry_at(leveldb_iterator_t *it, uint64_t ino, struct idx_entry *e)
{
	size_t kl, vl;
	if (!leveldb_iter_valid(it))
		return 0;
	const char *k = leveldb_iter_key(it, &kl);
	if (kl != 17 || k[0] != KEY_INDEX || get_be64(k + 1) != ino)
		return 0;
	const char *v = leveldb_iter_value(it, &vl);
	return idx_decode(k, kl, v, vl, e) < 0 ? -EIO : 1;
}

/* What decides that a head entry goes. */
struct rule {
	uint64_t through;       /* it ends at or before this offset, */
	int64_t before_ns;      /* and arrived before this; */
	uint64_t size, cap;     /* or, with cap, keeping it keeps > cap */
};

static bool expires(const struct rule *r, const struct idx_entry *e)
{
	if (r->cap && r->size - e->off > r->cap)
		return true;
	return e->off + e->len <= r->through && e->ns < r->before_ns;
}

static int expire_head(struct store_expiry *x, uint64_t ino,
		       const struct rule *rule)
{
	char k[KEY_MAX];
	int r = expiry_ready(x);
	if (r < 0)
		return r;
	struct touched *t = touch(x, ino);
	if (!t)
		return -ENOMEM;
	struct idx_entry e, last = { 0 };
	int n = 0;
	leveldb_iter_seek(x->it, k, key_u64_u64(k, KEY_INDEX, ino, t->done_to));
	r = entry_at(x->it, ino, &e);
	while (r == 1 && expires(rule, &e)) {
		leveldb_writebatch_delete(x->b, k, key_u64_u64(k, KEY_INDEX,
							       ino, e.off));
		x->dirty = true;
		dead_add(&x->dl, e.seg_stream, e.seg_seq,
			 REC_HDR + idx_rec_len(&e));
		x->records++;
		x->messages += e.nmsgs;
		x->bytes += e.len;
		last = e;
		n++;
		leveldb_iter_next(x->it);
		r = entry_at(x->it, ino, &e);
	}
	if (r < 0 || n == 0)
		return r < 0 ? r : 0;
	t->done_to = last.off + last.len;
	t->moved = true;
	t->start = last.off + last.len;
	t->msg = last.msg + last.nmsgs;
	if (r == 1) {
		t->ns = e.ns;
		return n;
	}
	/* Nothing is live: the head record keeps the topic's end, so no
	 * offset is ever handed out twice (recover.c writes one too when a
	 * power cut takes a topic's remaining entries). */
	char v[HEAD_SIZE];
	struct topic_head h = { .off = t->start, .msg = t->msg,
				.ns = last.ns };
	t->ns = 0;
	head_encode(v, &h);
	leveldb_writebatch_put(x->b, k, key_u64(k, KEY_HEAD, ino), v,
			       sizeof(v));
	return n;
}

int expiry_through(struct store_expiry *x, uint64_t ino, uint64_t through,
		   int64_t before_ns)
{
	struct rule r = { .through = through, .before_ns = before_ns };
	return expire_head(x, ino, &r);
}

int store_expiry_cap(struct store_expiry *x, uint64_t ino, uint64_t size,
		     uint64_t cap, int64_t before_ns)
{
	struct rule r = { .through = UINT64_MAX, .before_ns = before_ns,
			  .size = size, .cap = cap };
	return expire_head(x, ino, &r);
}

leveldb_writebatch_t *expiry_batch(struct store_expiry *x)
{
	x->dirty = true;        /* the caller puts something into it */
	return x->b;
}

int store_expiry_end(struct store_expiry *x, store_expired_fn fn, void *arg)
{
	struct store *st = x->st;
	int r = 0;
	if (x->dirty || x->dl.n > 0) {
		dead_put(st, &x->dl, x->b);
		r = db_write(st, x->b, true);
	}
	if (r == 0) {
		dead_commit(st, &x->dl);
		st->stats.records_expired += x->records;
		st->stats.messages_expired += x->messages;
		st->stats.bytes_expired += x->bytes;
		for (size_t i = 0; fn && i < x->cap; i++) {
			struct touched *t = &x->tt[i];
			if (t->ino && t->moved)
				fn(arg, t->ino, t->start, t->msg, t->ns);
		}
	}
	expiry_abort(x);
	return r;
}

