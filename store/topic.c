/* topic.c - topics: appending records (also restored ones, with their own
 * arrival times and offsets), deriving a topic's state from its index,
 * reading byte ranges with every record checked, turning a message offset
 * or a time into a byte offset, and listing the records.
 *
 * The index has one entry per write call, keyed by (topic, byte offset), so
 * a range read is one LevelDB seek followed by a scan, and byte offsets
 * never change. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define IOV_MODE_MAX 256        /* entries served in place, not compacted */

static const char zeros[65536];

/* ---- the index: LevelDB's entries, then those still in the batch ---- */

static int iter_entry(leveldb_iterator_t *it, uint64_t ino,
		      struct idx_entry *e)
{
	char p[9];
	size_t klen, vlen;
	if (!leveldb_iter_valid(it))
		return 0;
	key_u64(p, KEY_INDEX, ino);
	const char *k = leveldb_iter_key(it, &klen);
	if (klen < 9 || memcmp(k, p, 9) != 0)
		return 0;
	const char *v = leveldb_iter_value(it, &vlen);
	return idx_decode(k, klen, v, vlen, e) < 0 ? -EIO : 1;
}

/* Position it at the entry that holds byte off: 1, 0 if none, -EIO. */
static int seek_entry(leveldb_iterator_t *it, uint64_t ino, uint64_t off,
		      struct idx_entry *e)
{
	char k[KEY_MAX];
	leveldb_iter_seek(it, k, key_u64_u64(k, KEY_INDEX, ino, off));
	int r = iter_entry(it, ino, e);
	if (r < 0 || (r == 1 && e->off == off))
		return r;
	if (leveldb_iter_valid(it))
		leveldb_iter_prev(it);
	else
		leveldb_iter_seek_to_last(it);
	r = iter_entry(it, ino, e);
	if (r == 1 && !(e->off <= off && off < e->off + e->len))
		return 0;
	return r;
}

/* The waiting entry of ino that holds byte off (starts at it, with
 * exact), or NULL; *pos is left just past it. */
static const struct idx_entry *waiting_at(struct store *st, uint64_t ino,
					  uint64_t off, bool exact,
					  unsigned *pos)
{
	const struct idx_entry *w;
	*pos = 0;
	while ((w = index_waiting(st, ino, pos)) != NULL)
		if (exact ? w->off == off
			  : w->off <= off && off < w->off + w->len)
			return w;
	return NULL;
}

/* A walk over a topic's entries in byte order. */
struct cursor {
	struct store *st;
	uint64_t ino;
	leveldb_iterator_t *it;
	bool waiting;           /* the current entry is from the batch */
	unsigned pos;           /* and where in the batch it was */
};

static int cursor_open(struct cursor *c, struct store *st, uint64_t ino)
{
	*c = (struct cursor){ .st = st, .ino = ino };
	int r = db_ready(st);
	if (r == 0)
		c->it = leveldb_create_iterator(st->db, st->ropts);
	return r;
}

static void cursor_close(struct cursor *c)
{
	leveldb_iter_destroy(c->it);
}

/* The entry that holds byte off: 1, 0 if none, -EIO. */
static int cursor_seek(struct cursor *c, uint64_t off, struct idx_entry *e)
{
	const struct idx_entry *w = waiting_at(c->st, c->ino, off, false,
					       &c->pos);
	c->waiting = w != NULL;
	if (w) {
		*e = *w;
		return 1;
	}
	return seek_entry(c->it, c->ino, off, e);
}

/* The entry after *e (which the cursor is at): 1, 0 at the end, -EIO. */
static int cursor_next(struct cursor *c, struct idx_entry *e)
{
	uint64_t end = e->off + e->len;
	if (!c->waiting) {
		leveldb_iter_next(c->it);
		int r = iter_entry(c->it, c->ino, e);
		if (r != 0)
			return r;
	}
	const struct idx_entry *w = c->waiting
		? index_waiting(c->st, c->ino, &c->pos)
		: waiting_at(c->st, c->ino, end, true, &c->pos);
	c->waiting = true;
	if (!w)
		return 0;
	*e = *w;
	return 1;
}

/* Extend a state derived from LevelDB with the entries still waiting: the
 * topic's entries stand in the batch in byte order, so one pass takes
 * those that continue it (one the LevelDB write took before it failed
 * may stand in both). */
static void add_waiting(struct store *st, uint64_t ino, struct sf_topic *t)
{
	unsigned pos = 0;
	const struct idx_entry *w;
	bool empty = t->size == 0 && t->next_msg == 0;
	while ((w = index_waiting(st, ino, &pos)) != NULL) {
		if (empty) {
			t->start = t->size = w->off;
			t->first_msg = t->next_msg = w->msg;
			t->first_ns = w->ns;
			empty = false;
		}
		if (w->off != t->size)
			continue;
		t->size = w->off + w->len;
		t->next_msg = w->msg + w->nmsgs;
		t->last_ns = w->ns;
		t->seg_stream = w->seg_stream;
		t->seg_seq = w->seg_seq;
	}
}

/* 1 and *h if ino has a head record (every entry expired), 0, -errno. */
static int head_get(struct store *st, uint64_t ino, struct topic_head *h)
{
	char k[KEY_MAX], *err = NULL;
	size_t len;
	char *v = leveldb_get(st->db, st->ropts, k, key_u64(k, KEY_HEAD, ino),
			      &len, &err);
	if (err)
		return store_db_error("get", err);
	int r = v ? (head_decode(v, len, h) < 0 ? -EIO : 1) : 0;
	leveldb_free(v);
	return r;
}

int store_topic_load(struct store *st, uint64_t ino, struct sf_topic *t)
{
	char k[KEY_MAX];
	struct idx_entry e;
	memset(t, 0, sizeof(*t));
	int r = db_ready(st);
	if (r < 0)
		return r;
	leveldb_iterator_t *it = leveldb_create_iterator(st->db, st->ropts);
	leveldb_iter_seek(it, k, key_u64(k, KEY_INDEX, ino));
	r = iter_entry(it, ino, &e);
	if (r == 1) {
		t->start = e.off;
		t->first_msg = e.msg;
		t->first_ns = e.ns;
		/* The next key is most often another topic's (a topic of one
		 * record), which makes the first entry the last as well;
		 * else seek to the last. */
		struct idx_entry next;
		leveldb_iter_next(it);
		r = iter_entry(it, ino, &next);
		if (r == 1) {
			leveldb_iter_seek(it, k, key_u64(k, KEY_INDEX, ino + 1));
			if (leveldb_iter_valid(it))
				leveldb_iter_prev(it);
			else
				leveldb_iter_seek_to_last(it);
			r = iter_entry(it, ino, &e);
		} else if (r == 0) {
			char *err = NULL;
			leveldb_iter_get_error(it, &err);
			r = err ? store_db_error("index scan", err) : 1;
		}
	}
	if (r == 1) {
		t->size = e.off + e.len;
		t->next_msg = e.msg + e.nmsgs;
		t->last_ns = e.ns;
		t->seg_stream = e.seg_stream;
		t->seg_seq = e.seg_seq;
	}
	if (r == 0) {
		char *err = NULL;
		leveldb_iter_get_error(it, &err);
		if (err)
			r = store_db_error("index scan", err);
	}
	leveldb_iter_destroy(it);
	struct topic_head h;
	if (r == 0 && (r = head_get(st, ino, &h)) == 1) {
		/* Every entry expired: the topic ends where its head says. */
		t->start = t->size = h.off;
		t->first_msg = t->next_msg = h.msg;
		t->last_ns = h.ns;
		r = 0;
	}
	if (r < 0)
		return r;
	add_waiting(st, ino, t);
	return 0;
}

/* ---- appending ---- */

/* Append one record at the topic's end with arrival time ns: len bytes
 * of payload, then meta bytes of Kafka trailer, gathered from iov. */
static int append_at(struct store *st, uint64_t ino, uint64_t stream,
		     struct sf_topic *t, const struct iovec *iov, int iovcnt,
		     size_t len, uint32_t nmsgs, uint32_t meta, int64_t ns,
		     bool sync)
{
	if (nmsgs > REC_NMSGS_MAX || len + meta > UINT32_MAX)
		return -EINVAL;
	int r = store_writable(st);
	if (r == 0)
		r = seg_usable(st, stream);
	if (r == 0)
		r = store_space_check(st, len + meta + REC_HDR + 256);
	if (r == 0)
		r = index_room(st);
	if (r < 0)
		return r;
	struct rec_header h = {
		.magic = REC_MAGIC, .len = (uint32_t)(len + meta),
		.nmsgs = nmsgs, .flags = meta ? REC_F_KAFKA : 0,
		.topic = ino, .off = t->size, .msg = t->next_msg, .ns = ns,
	};
	char hdr[REC_HDR];
	rec_encode(hdr, &h);
	h.crc = rec_crc(hdr, iov, iovcnt);
	rec_encode(hdr, &h);

	struct idx_entry e = {
		.off = t->size, .seg_stream = stream, .len = (uint32_t)len,
		.nmsgs = nmsgs, .msg = t->next_msg, .ns = ns, .meta = meta,
	};
	struct seg_state ss;
	bool late;
	r = seg_append(st, stream, hdr, iov, iovcnt, len + meta, ns, sync,
		       &e.seg_seq, &e.seg_off, &ss, &late);
	if (r < 0)
		return r;
	/* The entry waits with others for one LevelDB write, unless the
	 * append must be durable now.  A record older than one before it
	 * in the stream (a restore, a clock set back) is one the ttl scan
	 * in segment order would reach late: it gets a Q key. */
	bool new_user = t->seg_stream != stream || t->seg_seq != e.seg_seq;
	r = index_add(st, ino, &e, &ss, new_user, late, sync);
	if (r < 0) {
		/* Not recorded durably: take the record back, so that what
		 * the writer was told failed never appears. */
		seg_unappend(st, stream, e.seg_off, true);
		return r;
	}
	if (t->next_msg == t->first_msg && t->size == t->start)
		t->first_ns = ns;
	t->size += len;
	t->next_msg += nmsgs;
	t->last_ns = ns;
	t->seg_stream = stream;
	t->seg_seq = e.seg_seq;
	return 0;
}

int store_topic_append(struct store *st, uint64_t ino, uint64_t stream,
		       struct sf_topic *t, const struct iovec *iov, int iovcnt,
		       size_t len, uint32_t nmsgs, bool sync)
{
	int64_t now = store_now_ns();
	if (now < t->last_ns)
		now = t->last_ns;       /* arrival times never go back */
	return append_at(st, ino, stream, t, iov, iovcnt, len, nmsgs, 0, now,
			 sync);
}

int topic_append_meta(struct store *st, uint64_t ino, uint64_t stream,
		      struct sf_topic *t, const struct iovec *iov, int iovcnt,
		      size_t len, uint32_t nmsgs, uint32_t meta, int64_t *ns,
		      bool sync)
{
	int64_t now = store_now_ns();
	if (now < t->last_ns)
		now = t->last_ns;
	*ns = now;
	return append_at(st, ino, stream, t, iov, iovcnt, len, nmsgs, meta,
			 now, sync);
}

int topic_append_at(struct store *st, uint64_t ino, uint64_t stream,
		    struct sf_topic *t, const struct iovec *iov, int iovcnt,
		    size_t len, uint32_t nmsgs, uint32_t meta, int64_t ns,
		    bool sync)
{
	return append_at(st, ino, stream, t, iov, iovcnt, len, nmsgs, meta, ns,
			 sync);
}

int store_topic_restore(struct store *st, uint64_t ino, uint64_t stream,
			struct sf_topic *t, const struct iovec *iov,
			int iovcnt, size_t len, uint32_t nmsgs, int64_t ns,
			uint64_t off, uint64_t msg, bool sync)
{
	bool never = t->size == 0 && t->next_msg == 0;
	if (ns <= 0 || ns < t->last_ns || ns > store_now_ns())
		return -EINVAL;
	if (!never && (off != t->size || msg != t->next_msg))
		return -EINVAL;
	struct sf_topic old = *t;
	if (never) {
		/* Bytes and messages before the first record read as
		 * expired. */
		t->start = t->size = off;
		t->first_msg = t->next_msg = msg;
	}
	int r = append_at(st, ino, stream, t, iov, iovcnt, len, nmsgs, 0, ns,
			  sync);
	if (r < 0)
		*t = old;
	return r;
}

/* Sync the segments, then write their states after the index batch (a
 * state must not pass the entries it accounts for); with leveldb, that
 * write is synced and makes everything in LevelDB durable. */
static int sync_segments(struct store *st, bool leveldb)
{
	int r = store_writable(st);
	if (r == 0)
		r = index_flush(st, false);
	if (r < 0)
		return r;
	leveldb_writebatch_t *b = leveldb_writebatch_create();
	r = seg_sync_all(st, b);
	if (leveldb)
		leveldb_writebatch_put(b, "Msync", 5, "", 0);
	st->writing_index = !leveldb;
	int dr = db_write(st, b, leveldb);
	st->writing_index = false;
	leveldb_writebatch_destroy(b);
	return r < 0 ? r : dr;
}

int store_sync_data(struct store *st)
{
	/* Unless LevelDB holds more than index entries and segment states:
	 * the segments are the log, and once they are on disk recovery
	 * indexes from them whatever a power cut takes of LevelDB's
	 * unsynced tail.  (A segment's start, its S record at a roll, is
	 * not of that kind.) */
	bool leveldb = st->meta_unsynced || st->read_only || st->db_bad;
	return sync_segments(st, leveldb);
}

#define FLUSH_MAX 64             /* as many as the writers kept open */

struct store_flush {
	bool full;              /* made in full by store_sync_end */
	int n;
	struct seg_flush items[FLUSH_MAX];
};

int store_sync_begin(struct store *st, struct store_flush **out)
{
	struct store_flush *f = calloc(1, sizeof(*f));
	*out = f;
	if (!f)
		return -ENOMEM;
	f->full = st->meta_unsynced || st->read_only || st->db_bad;
	int r = f->full ? 0 : store_writable(st);
	if (r == 0 && !f->full)
		r = index_flush(st, false);     /* before the states it fixes */
	if (r == 0 && !f->full) {
		f->n = seg_flush_plan(st, f->items, FLUSH_MAX);
		if (f->n < 0) {
			f->full = true;
			f->n = 0;
		}
	}
	return r;
}

void store_sync_flush(struct store_flush *f)
{
	seg_flush_run(f->items, f->n);
}

int store_sync_end(struct store *st, struct store_flush *f)
{
	int r;
	if (f->full || st->meta_unsynced) {
		/* Planned in full, or something LevelDB must hold durably
		 * came meanwhile: the plain sync covers the flushed ones too. */
		for (int i = 0; i < f->n; i++)
			if (f->items[i].fd >= 0)
				close(f->items[i].fd);
		r = store_sync_data(st);
	} else {
		/* Appends made since the plan moved the states' ends past
		 * entries that still wait in memory: those go to LevelDB
		 * first, or a state written with such an end would make
		 * recovery take their records for indexed. */
		r = index_flush(st, false);
		if (r < 0) {
			for (int i = 0; i < f->n; i++)
				if (f->items[i].fd >= 0)
					close(f->items[i].fd);
			free(f);
			return r;
		}
		leveldb_writebatch_t *b = leveldb_writebatch_create();
		r = seg_flush_done(st, f->items, f->n, b);
		st->writing_index = true;
		int dr = db_write(st, b, false);
		st->writing_index = false;
		leveldb_writebatch_destroy(b);
		r = r < 0 ? r : dr;
	}
	free(f);
	return r;
}

int store_sync(struct store *st)
{
	return sync_segments(st, true);
}

/* ---- reading ---- */

static int rb_reserve(struct sf_readbuf *rb, size_t bytes, int iovs)
{
	if (bytes > rb->cap) {
		char *n = realloc(rb->buf, bytes);
		if (!n)
			return -ENOMEM;
		rb->buf = n;
		rb->cap = bytes;
	}
	if (iovs > rb->iovcap) {
		struct iovec *n = realloc(rb->iov, iovs * sizeof(*n));
		if (!n)
			return -ENOMEM;
		rb->iov = n;
		rb->iovcap = iovs;
	}
	return 0;
}

void store_readbuf_free(struct sf_readbuf *rb)
{
	free(rb->buf);
	free(rb->iov);
	memset(rb, 0, sizeof(*rb));
}

static int rb_push(struct sf_readbuf *rb, const void *p, size_t n)
{
	if (rb->iovcnt == rb->iovcap &&
	    rb_reserve(rb, 0, rb->iovcap ? rb->iovcap * 2 : 16) < 0)
		return -ENOMEM;
	rb->iov[rb->iovcnt].iov_base = (void *)p;
	rb->iov[rb->iovcnt].iov_len = n;
	rb->iovcnt++;
	rb->bytes += n;
	return 0;
}

static int push_zeros(struct sf_readbuf *rb, uint64_t n)
{
	while (n > 0) {
		size_t c = n < sizeof(zeros) ? n : sizeof(zeros);
		if (rb_push(rb, zeros, c) < 0)
			return -ENOMEM;
		n -= c;
	}
	return 0;
}

/* The entries that cover [off, end), in order. */
struct entry_list {
	struct idx_entry *e;
	size_t n, cap;
};

static int collect_entries(struct store *st, uint64_t ino, uint64_t off,
			   uint64_t end, struct entry_list *l)
{
	struct idx_entry e;
	struct cursor cur;
	int r = cursor_open(&cur, st, ino);
	if (r < 0)
		return r;
	r = cursor_seek(&cur, off, &e);
	while (r == 1 && e.off < end) {
		if (l->n == l->cap) {
			size_t c = l->cap ? l->cap * 2 : 64;
			struct idx_entry *ne = realloc(l->e, c * sizeof(*ne));
			if (!ne) {
				r = -ENOMEM;
				break;
			}
			l->e = ne;
			l->cap = c;
		}
		l->e[l->n++] = e;
		r = cursor_next(&cur, &e);
	}
	cursor_close(&cur);
	if (r < 0)
		return r;
	/* The index of a topic is contiguous: a gap means damage. */
	uint64_t at = l->n ? l->e[0].off : end;
	for (size_t i = 0; i < l->n; i++) {
		if (l->e[i].off != at)
			return -EIO;
		at += l->e[i].len;
	}
	return at >= end ? 0 : -EIO;
}

static bool contiguous(const struct idx_entry *a, const struct idx_entry *b)
{
	return a->seg_stream == b->seg_stream && a->seg_seq == b->seg_seq &&
	       a->seg_off + REC_HDR + idx_rec_len(a) == b->seg_off;
}

static int damaged(uint64_t ino, const struct idx_entry *e)
{
	struct store_event ev = {
		.kind = STORE_EV_CHECKSUM, .level = SF_LOG_ERROR,
		.what = "read", .action = "not served: the read gets EIO",
		.err = EIO, .stream = e->seg_stream, .seg = e->seg_seq,
		.off = e->seg_off, .topic = ino, .topic_off = e->off,
	};
	report_event(&ev, "damaged record of topic %llu at byte %llu "
		     "(segment %016llx/%016llx offset %llu); not served",
		     (unsigned long long)ino, (unsigned long long)e->off,
		     (unsigned long long)e->seg_stream,
		     (unsigned long long)e->seg_seq,
		     (unsigned long long)e->seg_off);
	return -EIO;
}

/* A segment that could not be read (an error underneath, or shorter than
 * the index says). */
static int unreadable(uint64_t ino, const struct idx_entry *e, int err)
{
	struct store_event ev = {
		.kind = STORE_EV_IO, .level = SF_LOG_ERROR,
		.what = "segment read", .action = "the read gets the error",
		.err = err, .stream = e->seg_stream, .seg = e->seg_seq,
		.off = e->seg_off, .topic = ino, .topic_off = e->off,
	};
	report_event(&ev, "cannot read segment %016llx/%016llx at %llu: %s",
		     (unsigned long long)e->seg_stream,
		     (unsigned long long)e->seg_seq,
		     (unsigned long long)e->seg_off, strerror(err));
	return -err;
}

/* Read the records of l into rb->buf, one pread per contiguous span. */
static int read_spans(struct store *st, uint64_t ino,
		      const struct entry_list *l, struct sf_readbuf *rb)
{
	size_t total = 0;
	for (size_t i = 0; i < l->n; i++)
		total += REC_HDR + idx_rec_len(&l->e[i]);
	int r = rb_reserve(rb, total, 0);
	if (r < 0)
		return r;
	size_t pos = 0;
	for (size_t i = 0; i < l->n;) {
		size_t j = i + 1, n = REC_HDR + idx_rec_len(&l->e[i]);
		while (j < l->n && contiguous(&l->e[j - 1], &l->e[j]))
			n += REC_HDR + idx_rec_len(&l->e[j++]);
		int fd = seg_fd(st, l->e[i].seg_stream, l->e[i].seg_seq);
		if (fd < 0)
			return unreadable(ino, &l->e[i], fd == -ENOENT ? EIO : -fd);
		ssize_t got = pread(fd, rb->buf + pos, n, l->e[i].seg_off);
		if (got != (ssize_t)n)
			return unreadable(ino, &l->e[i], got < 0 ? errno : EIO);
		pos += n;
		i = j;
	}
	return 0;
}

int store_topic_read(struct store *st, uint64_t ino, const struct sf_topic *t,
		     uint64_t off, size_t len, struct sf_readbuf *rb)
{
	rb->iovcnt = 0;
	rb->bytes = 0;
	if (off >= t->size || len == 0)
		return 0;
	uint64_t end = off + len > t->size ? t->size : off + len;
	if (off < t->start) {
		uint64_t z = (end < t->start ? end : t->start) - off;
		if (push_zeros(rb, z) < 0)
			return -ENOMEM;
		off += z;
	}
	if (off >= end)
		return 0;
	struct entry_list l = { 0 };
	int r = collect_entries(st, ino, off, end, &l);
	if (r == 0)
		r = read_spans(st, ino, &l, rb);
	bool compact = l.n > IOV_MODE_MAX;
	size_t pos = 0, w = 0;
	for (size_t i = 0; r == 0 && i < l.n; i++) {
		struct idx_entry *e = &l.e[i];
		struct rec_header h;
		char *rec = rb->buf + pos;
		if (rec_check(rec, REC_HDR + idx_rec_len(e), &h) < 0 ||
		    h.len != idx_rec_len(e) || h.topic != ino ||
		    h.off != e->off) {
			r = damaged(ino, e);
			break;
		}
		uint64_t s = off > e->off ? off : e->off;
		uint64_t n = (end < e->off + e->len ? end : e->off + e->len) - s;
		char *p = rec + REC_HDR + (s - e->off);
		if (compact) {
			memmove(rb->buf + w, p, n);
			w += n;
		} else {
			r = rb_push(rb, p, n);
		}
		pos += REC_HDR + idx_rec_len(e);
	}
	if (r == 0 && compact)
		r = rb_push(rb, rb->buf, w);
	free(l.e);
	return r;
}

int topic_read_whole(struct store *st, uint64_t ino, uint64_t off,
		     uint64_t end, struct idx_entry **ents, size_t *n,
		     struct sf_readbuf *rb)
{
	struct entry_list l = { 0 };
	int r = collect_entries(st, ino, off, end, &l);
	if (r == 0)
		r = read_spans(st, ino, &l, rb);
	size_t pos = 0;
	for (size_t i = 0; r == 0 && i < l.n; i++) {
		struct idx_entry *e = &l.e[i];
		struct rec_header h;
		if (rec_check(rb->buf + pos, REC_HDR + idx_rec_len(e), &h) < 0 ||
		    h.len != idx_rec_len(e) || h.topic != ino ||
		    h.off != e->off)
			r = damaged(ino, e);
		pos += REC_HDR + idx_rec_len(e);
	}
	if (r < 0) {
		free(l.e);
		return r;
	}
	*ents = l.e;
	*n = l.n;
	return 0;
}

/* ---- seeking ---- */

/* The first entry for which pred holds, by bisection over byte offsets;
 * pred must be false then true along the topic.  1 if found, 0 if none. */
static int bisect(struct store *st, uint64_t ino, const struct sf_topic *t,
		  bool (*pred)(const struct idx_entry *, const void *),
		  const void *arg, struct idx_entry *out)
{
	struct cursor c;
	int r = cursor_open(&c, st, ino);
	if (r < 0)
		return r;
	uint64_t lo = t->start, hi = t->size;
	while (lo < hi) {
		struct idx_entry e;
		r = cursor_seek(&c, lo + (hi - lo) / 2, &e);
		if (r <= 0) {
			r = r < 0 ? r : -EIO;
			break;
		}
		r = 0;
		if (pred(&e, arg))
			hi = e.off;
		else
			lo = e.off + e.len;
	}
	if (r == 0 && lo < t->size)
		r = cursor_seek(&c, lo, out);
	cursor_close(&c);
	return r;
}

static bool holds_msg(const struct idx_entry *e, const void *arg)
{
	return e->msg + e->nmsgs > *(const uint64_t *)arg;
}

static bool arrived_by(const struct idx_entry *e, const void *arg)
{
	return e->ns >= *(const int64_t *)arg;
}

int store_topic_seek_message(struct store *st, uint64_t ino,
			     const struct sf_topic *t, uint64_t msg,
			     uint64_t *off)
{
	struct idx_entry e = { 0 };
	if (msg >= t->next_msg)
		return -ENXIO;
	if (msg < t->first_msg) {
		*off = t->start;
		return 0;
	}
	int r = bisect(st, ino, t, holds_msg, &msg, &e);
	if (r <= 0)
		return r < 0 ? r : -EIO;
	*off = e.off;
	if (msg == e.msg)
		return 0;
	/* Several lines in one record: count newlines to the message. */
	struct sf_readbuf rb = { 0 };
	struct sf_topic one = *t;
	r = store_topic_read(st, ino, &one, e.off, e.len, &rb);
	uint64_t want = msg - e.msg, seen = 0, at = 0;
	for (int i = 0; r == 0 && i < rb.iovcnt && seen < want; i++) {
		const char *p = rb.iov[i].iov_base;
		for (size_t j = 0; j < rb.iov[i].iov_len && seen < want; j++)
			if (p[j] == '\n' && ++seen == want)
				at += j + 1;
		if (seen < want)
			at += rb.iov[i].iov_len;
	}
	store_readbuf_free(&rb);
	if (r == 0 && seen < want)
		r = -EIO;
	*off = e.off + at;
	return r;
}

int store_topic_seek_time(struct store *st, uint64_t ino,
			  const struct sf_topic *t, int64_t ns, uint64_t *off)
{
	struct idx_entry e = { 0 };
	int r = bisect(st, ino, t, arrived_by, &ns, &e);
	if (r < 0)
		return r;
	*off = r == 1 ? e.off : t->size;
	return 0;
}

/* ---- listing records ---- */

int store_topic_records(struct store *st, uint64_t ino,
			const struct sf_topic *t, uint64_t off,
			struct sf_record *out, size_t max)
{
	struct idx_entry e = { 0 };
	struct cursor c;
	size_t n = 0;
	if (off < t->start)
		off = t->start;
	if (off >= t->size || max == 0)
		return 0;
	int r = cursor_open(&c, st, ino);
	if (r < 0)
		return r;
	r = cursor_seek(&c, off, &e);
	uint64_t at = e.off;
	while (r == 1 && e.off < t->size) {
		if (e.off != at) {
			r = -EIO;       /* the index of a topic is contiguous */
			break;
		}
		out[n++] = (struct sf_record){ .off = e.off, .len = e.len,
					       .nmsgs = e.nmsgs, .msg = e.msg,
					       .ns = e.ns };
		at = e.off + e.len;
		r = n < max ? cursor_next(&c, &e) : 0;
	}
	cursor_close(&c);
	if (r == 0 && n == 0)
		r = -EIO;               /* off is inside the topic: damage */
	return r < 0 ? r : (int)n;
}

/* ---- message boundaries ---- */

/* Messages that end in [0, n) of a record's bytes (lines of a record of
 * several), in *count; 1 if the last of those bytes ends one (byte n-1
 * is a newline), 0 if not. */
static int lines_before(const struct sf_readbuf *rb, uint64_t *count)
{
	char last = 0;
	*count = 0;
	for (int i = 0; i < rb->iovcnt; i++) {
		const char *p = rb->iov[i].iov_base;
		for (size_t j = 0; j < rb->iov[i].iov_len; j++)
			*count += p[j] == '\n';
		if (rb->iov[i].iov_len)
			last = p[rb->iov[i].iov_len - 1];
	}
	return last == '\n';
}

int store_topic_boundary(struct store *st, uint64_t ino,
			 const struct sf_topic *t, uint64_t off,
			 uint64_t *msg)
{
	struct idx_entry e;
	struct cursor c;
	if (off < t->start || off > t->size)
		return -EINVAL;
	if (off == t->size || off == t->start) {
		*msg = off == t->size ? t->next_msg : t->first_msg;
		return 0;
	}
	int r = cursor_open(&c, st, ino);
	if (r < 0)
		return r;
	r = cursor_seek(&c, off, &e);
	cursor_close(&c);
	if (r <= 0)
		return r < 0 ? r : -EIO;        /* inside the topic: damage */
	if (e.off == off) {
		*msg = e.msg;
		return 0;
	}
	if (e.nmsgs <= 1)
		return -EINVAL;                 /* inside its one message */
	/* Several lines, each ending in a newline: a boundary follows one. */
	struct sf_readbuf rb = { 0 };
	uint64_t n;
	r = store_topic_read(st, ino, t, e.off, off - e.off, &rb);
	if (r == 0 && rb.bytes != off - e.off)
		r = -EIO;
	if (r == 0)
		r = lines_before(&rb, &n) ? 0 : -EINVAL;
	store_readbuf_free(&rb);
	if (r == 0)
		*msg = e.msg + n;
	return r;
}
