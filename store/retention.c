/* retention.c - the retention scheduler: expiring what is past its
 * stream's ttl, deleting segments that hold nothing live, and choosing
 * segments for compaction, in bounded steps (store_reclaim).
 *
 * The ttl of a message is the ttl of the stream whose segments hold it
 * (the stream it was appended in).  Records enter a stream's segments in
 * arrival order, so the ttl scan of a stream walks its segments from a
 * scan point (P key) record by record and stops at the first one that is
 * not yet old enough: the work is proportional to what expires, not to
 * the number of topics.  The few records that entered out of order (a
 * restore, a clock set back, a compaction's copies) have late-record keys
 * (Q) ordered by arrival, expired by their own walk.  A sealed segment the
 * scan has passed holds nothing live, and is deleted.
 *
 * Each step's deletes are written durably before anything is reported or
 * a segment file is deleted (expire.c, compact.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define RECLAIM_RECORDS 1024    /* records expired per step, at most */
#define COMPACT_BYTES (4u << 20)
#define BAD_MAX 16

struct scan {                   /* the ttl scan of one stream */
	uint64_t stream;
	bool loaded;
	uint64_t seq, pos;      /* the next record to look at */
	uint64_t nseq, npos;    /* where this step got to */
	struct scan *next;
};

struct retention {
	struct scan *scans;
	bool compacting;        /* a compaction is under way: */
	uint64_t c_stream, c_seq, c_pos;
	struct { uint64_t stream, seq; } bad[BAD_MAX];  /* given up on */
	unsigned nbad;
};

static struct retention *ret_of(struct store *st)
{
	if (!st->ret)
		st->ret = calloc(1, sizeof(*st->ret));
	return st->ret;
}

static struct scan *scan_of(struct retention *rt, uint64_t stream)
{
	struct scan *s;
	for (s = rt->scans; s; s = s->next)
		if (s->stream == stream)
			return s;
	s = calloc(1, sizeof(*s));
	if (s) {
		s->stream = stream;
		s->next = rt->scans;
		rt->scans = s;
	}
	return s;
}

/* ---- the scan point (P key) ---- */

static int scan_load(struct store *st, struct scan *s)
{
	char k[KEY_MAX], *err = NULL;
	size_t len;
	char *v = leveldb_get(st->db, st->ropts, k,
			      key_u64(k, KEY_SCAN, s->stream), &len, &err);
	if (err)
		return store_db_error("get", err);
	if (v && len == 16) {
		s->seq = get_le64(v);
		s->pos = get_le64(v + 8);
	} else {
		/* From the stream's first segment that still has users. */
		char p[KEY_MAX];
		size_t pl = key_u64(p, KEY_SEGUSER, s->stream);
		leveldb_iterator_t *it = leveldb_create_iterator(st->db,
								 st->ropts);
		leveldb_iter_seek(it, p, pl);
		size_t kl;
		const char *wk = leveldb_iter_valid(it)
				 ? leveldb_iter_key(it, &kl) : NULL;
		s->seq = wk && kl == 25 && memcmp(wk, p, pl) == 0
			 ? get_be64(wk + 9) : seg_active(st, s->stream);
		s->pos = 0;
		leveldb_iter_destroy(it);
	}
	leveldb_free(v);
	s->loaded = true;
	return 0;
}

/* ---- one step ---- */

struct step {
	struct store *st;
	struct store_expiry *x;
	int64_t now;
	unsigned budget;
	unsigned nremove;
	struct { uint64_t stream, seq; } remove[BAD_MAX];
	int err;
};

/* Late records of stream that arrived before cutoff. */
static int late_step(struct step *sp, uint64_t stream, int64_t cutoff)
{
	char p[KEY_MAX];
	size_t pl = key_u64(p, KEY_LATE, stream);
	int r = expiry_ready(sp->x);    /* Q keys may wait in the batch */
	if (r < 0)
		return r;
	leveldb_iterator_t *it = leveldb_create_iterator(sp->st->db,
							 sp->st->ropts);
	leveldb_writebatch_t *b = NULL;
	for (leveldb_iter_seek(it, p, pl); sp->budget && r >= 0 &&
	     leveldb_iter_valid(it); leveldb_iter_next(it)) {
		size_t kl, vl;
		const char *k = leveldb_iter_key(it, &kl);
		const char *v = leveldb_iter_value(it, &vl);
		if (kl != 33 || memcmp(k, p, pl) != 0 ||
		    (int64_t)get_be64(k + 9) >= cutoff)
			break;
		uint64_t off = get_be64(k + 25);
		uint32_t len = vl == 4 ? get_le32(v) : 0;
		r = expiry_through(sp->x, get_be64(k + 17), off + len, cutoff);
		if (!b)
			b = expiry_batch(sp->x);
		leveldb_writebatch_delete(b, k, kl);
		sp->budget--;
	}
	leveldb_iter_destroy(it);
	return r < 0 ? r : 0;
}

/* The ttl scan of one stream, from its scan point, as far as records
 * are older than cutoff. */
static int scan_step(struct step *sp, struct scan *s, int64_t cutoff)
{
	struct store *st = sp->st;
	int r = s->loaded ? 0 : scan_load(st, s);
	if (r < 0)
		return r;
	struct rec_reader *rr = malloc(sizeof(*rr));
	if (!rr)
		return -ENOMEM;
	uint64_t seq = s->seq, pos = s->pos, end = 0, rr_seq = 0;
	bool active = false;
	while (sp->budget && r >= 0) {
		if (rr_seq != seq) {
			/* A segment's extent and descriptor, once per segment
			 * (nothing appends during a step). */
			r = seg_extent(st, s->stream, seq, &end, &active);
			if (r == -ENOENT) {
				r = 0;
				if (seq >= seg_active(st, s->stream))
					break;
				seq++;
				pos = 0;
				continue;
			}
			if (r == 0)
				r = rec_reader_open(rr, st, s->stream, seq);
			if (r < 0)
				break;
			rr_seq = seq;
		}
		if (pos >= end) {
			if (active || sp->nremove == BAD_MAX)
				break;
			/* Passed: everything in it has expired. */
			sp->remove[sp->nremove].stream = s->stream;
			sp->remove[sp->nremove++].seq = seq;
			seq++;
			pos = 0;
			continue;
		}
		struct rec_header h;
		if (!rec_reader_at(rr, pos, end, &h) || h.ns >= cutoff)
			break;
		int64_t plen = rec_payload_len_fd(&h, rr->fd, pos);
		if (plen < 0)
			break;          /* damaged: compaction reports it */
		r = expiry_through(sp->x, h.topic, h.off + (uint64_t)plen,
				   cutoff);
		pos += REC_HDR + h.len;
		sp->budget--;
	}
	free(rr);
	if (r < 0)
		return r;
	s->nseq = seq;
	s->npos = pos;
	if (seq != s->seq || pos != s->pos) {
		char k[KEY_MAX], v[16];
		put_le64(v, seq);
		put_le64(v + 8, pos);
		leveldb_writebatch_put(expiry_batch(sp->x), k,
				       key_u64(k, KEY_SCAN, s->stream), v,
				       sizeof(v));
	}
	return 0;
}

static int ttl_stream(struct store *st, uint64_t stream, uint64_t ttl,
		      void *arg)
{
	struct step *sp = arg;
	struct scan *s = scan_of(st->ret, stream);
	int64_t cutoff = sp->now - (int64_t)(ttl > 9000000000ull
					     ? 9000000000ull : ttl) *
				   1000000000LL;
	if (!s)
		return -ENOMEM;
	int r = late_step(sp, stream, cutoff);
	if (r == 0)
		r = scan_step(sp, s, cutoff);
	if (r < 0)
		sp->err = r;
	return sp->budget == 0 || r < 0;
}

static void note_ttls(struct store *st)
{
	uint64_t stream;
	while (segtab_take_seen(st, &stream)) {
		struct sf_policy p;
		if (store_get_policy(st, stream, &p) == 0)
			segtab_set_ttl(st, stream, p.ttl_s);
	}
}

static int ttl_work(struct store *st, store_expired_fn fn, void *arg,
		    bool *more)
{
	struct step sp = { .st = st, .now = store_now_ns(),
			   .budget = RECLAIM_RECORDS };
	sp.x = store_expiry_begin(st);
	if (!sp.x)
		return -EIO;
	for (struct scan *s = st->ret->scans; s; s = s->next) {
		s->nseq = s->seq;
		s->npos = s->pos;
	}
	segtab_each_ttl(st, ttl_stream, &sp);
	if (sp.err < 0) {
		expiry_abort(sp.x);
		return sp.err;
	}
	int r = store_expiry_end(sp.x, fn, arg);
	if (r < 0)
		return r;
	for (struct scan *s = st->ret->scans; s; s = s->next) {
		s->seq = s->nseq;
		s->pos = s->npos;
	}
	for (unsigned i = 0; r == 0 && i < sp.nremove; i++)
		r = seg_delete(st, sp.remove[i].stream, sp.remove[i].seq);
	*more = sp.budget == 0 || sp.nremove == BAD_MAX;
	return r;
}

/* ---- compaction ---- */

/* The arrival of the first record of segment (stream, seq), or 0. */
static int64_t first_arrival(struct store *st, uint64_t stream, uint64_t seq)
{
	char hdr[REC_HDR];
	struct rec_header h;
	int fd = seg_fd(st, stream, seq);
	if (fd < 0 || pread(fd, hdr, REC_HDR, 0) != REC_HDR)
		return 0;
	rec_decode(hdr, &h);
	return h.magic == REC_MAGIC ? h.ns : 0;
}

/* Not worth compacting: compaction gave up on it, or its stream's ttl
 * frees it soon anyway.  The ttl scan makes a segment dead as it goes
 * through it; copying it forward then would only copy what expires next.
 * A segment whose newest records (the next segment starts after them)
 * are older than half the ttl is left to the scan. */
static bool skip_segment(struct store *st, uint64_t stream, uint64_t seq)
{
	struct retention *rt = st->ret;
	for (unsigned i = 0; i < rt->nbad; i++)
		if (rt->bad[i].stream == stream && rt->bad[i].seq == seq)
			return true;
	uint64_t ttl = segtab_ttl(st, stream);
	if (ttl == 0)
		return false;
	int64_t half = (int64_t)(ttl > 18000000000ull ? 9000000000ull
						       : ttl / 2) * 1000000000LL;
	int64_t next = first_arrival(st, stream, seq + 1);
	return next && next < store_now_ns() - half;
}

static int compact_work(struct store *st, bool *more)
{
	struct retention *rt = st->ret;
	if (!rt->compacting) {
		uint64_t stream, seq;
		if (!segtab_worst(st, skip_segment, &stream, &seq))
			return 0;
		rt->compacting = true;
		rt->c_stream = stream;
		rt->c_seq = seq;
		rt->c_pos = 0;
	}
	int r = compact_step(st, rt->c_stream, rt->c_seq, &rt->c_pos,
			     COMPACT_BYTES);
	if (r == 1) {
		*more = true;
		return 0;
	}
	rt->compacting = false;
	if (r == -EIO && rt->nbad < BAD_MAX) {
		rt->bad[rt->nbad].stream = rt->c_stream;
		rt->bad[rt->nbad++].seq = rt->c_seq;
	}
	if (r == 0)
		*more = true;           /* another may be waiting */
	return r;
}

int store_reclaim(struct store *st, store_expired_fn fn, void *arg)
{
	if (store_writable(st) < 0 || !ret_of(st))
		return 0;
	note_ttls(st);
	bool more = false;
	int r = ttl_work(st, fn, arg, &more);
	int c = compact_work(st, &more);
	if (r < 0 || c < 0)
		return r < 0 ? r : c;
	return more;
}

struct stream_list {
	uint64_t *out;
	size_t max, n;
};

static int list_stream(struct store *st, uint64_t stream,
		       struct seg_state *s, void *arg)
{
	struct stream_list *l = arg;
	(void)st;
	(void)s;
	if (l->n < l->max)
		l->out[l->n] = stream;
	l->n++;
	return 0;
}

int store_streams(struct store *st, uint64_t *out, size_t max)
{
	struct stream_list l = { out, max, 0 };
	int r = segtab_each_stream(st, list_stream, &l);
	return r < 0 ? r : (int)l.n;
}

void store_policy_changed(struct store *st, uint64_t dir,
			  const struct sf_policy *p)
{
	segtab_set_ttl(st, dir, p->ttl_s);
}

/* At open: a stream's segments, and its ttl. */
static int init_stream(struct store *st, uint64_t stream,
		       struct seg_state *s, void *arg)
{
	struct sf_policy pol;
	(void)arg;
	if (store_get_policy(st, stream, &pol) == 0)
		segtab_set_ttl(st, stream, pol.ttl_s);
	return segtab_add_stream(st, stream, s);
}

int retention_init(struct store *st)
{
	if (!ret_of(st))
		return -ENOMEM;
	int r = segtab_each_stream(st, init_stream, NULL);
	return r < 0 ? r : segtab_load_dead(st);
}

void retention_free(struct store *st)
{
	struct retention *rt = st->ret;
	if (!rt)
		return;
	while (rt->scans) {
		struct scan *s = rt->scans;
		rt->scans = s->next;
		free(s);
	}
	free(rt);
	st->ret = NULL;
	segtab_free(st);
}
