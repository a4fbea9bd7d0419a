/* recover.c - bringing the store back to a consistent state when it opens.
 *
 * After a crash the index (LevelDB) and the segments can disagree only at
 * the tails of the segments written since the stream's last sync: its
 * active segment and the sealed ones not yet synced (segment.c).  For every stream whose active segment is
 * not known to be wholly on disk, the unsynced region is read record by
 * record and each checksum verified:
 *   - a torn or damaged tail is cut off;
 *   - whole records past what the index knows are indexed again (the
 *     writer may not have had its answer, but the message is complete);
 *   - index entries that point past the last good record are dropped, so
 *     the topic ends at its last whole message (from its first lost entry
 *     on, wherever its later entries are: find_cut).
 * A sealed segment that is whole but shorter than the index says counts
 * as damaged at its end.
 * Inodes that were unlinked while still open (orphans) are purged. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

struct scan {
	uint64_t stream, seq;
	int fd;
	char *buf;
	size_t cap;
	unsigned reindexed, skipped;
};

/* Read the record at pos into sc->buf: 1 if whole and checked, 0 if not. */
static int read_record(struct scan *sc, uint64_t pos, uint64_t size,
		       struct rec_header *h)
{
	char hdr[REC_HDR];
	if (size - pos < REC_HDR ||
	    pread(sc->fd, hdr, REC_HDR, pos) != REC_HDR)
		return 0;
	rec_decode(hdr, h);
	if (h->magic != REC_MAGIC || h->len > size - pos - REC_HDR)
		return 0;
	size_t n = REC_HDR + h->len;
	if (n > sc->cap) {
		char *b = realloc(sc->buf, n);
		if (!b)
			return -ENOMEM;
		sc->buf = b;
		sc->cap = n;
	}
	if (pread(sc->fd, sc->buf, n, pos) != (ssize_t)n)
		return 0;
	return rec_check(sc->buf, n, h) == 0;
}

/* Index a whole record found past the index's end, if it continues its
 * topic exactly; otherwise leave it as dead bytes. */
static int reindex(struct store *st, struct scan *sc, uint64_t pos,
		   const struct rec_header *h)
{
	struct sf_inode in;
	struct sf_topic t;
	if (store_get_inode(st, h->topic, &in) < 0 ||
	    in.kind != SF_KIND_TOPIC ||
	    store_topic_load(st, h->topic, &t) < 0 ||
	    t.size != h->off || t.next_msg != h->msg) {
		sc->skipped++;
		return 0;
	}
	/* A Kafka record's payload is what its trailer leaves (the record
	 * was checked: it is whole, in sc->buf). */
	int64_t plen = rec_payload_len(h, sc->buf + REC_HDR);
	if (plen < 0) {
		sc->skipped++;
		return 0;
	}
	struct idx_entry e = {
		.off = h->off, .seg_stream = sc->stream, .seg_seq = sc->seq,
		.seg_off = pos, .len = (uint32_t)plen, .nmsgs = h->nmsgs,
		.msg = h->msg, .ns = h->ns, .meta = h->len - (uint32_t)plen,
	};
	char *err = NULL;
	leveldb_writebatch_t *b = leveldb_writebatch_create();
	index_put(b, h->topic, &e, true);
	/* ...and the Kafka producer state written with the entry. */
	int r = kproducer_recovered(st, b, h, sc->buf + REC_HDR);
	if (r < 0) {
		leveldb_writebatch_destroy(b);
		return r;
	}
	leveldb_write(st->db, st->wopts, b, &err);
	leveldb_writebatch_destroy(b);
	if (err)
		return store_db_error("recover", err);
	sc->reindexed++;
	return 0;
}

/* Where topic's entries stop being good if segment (stream, seq) ends at
 * good_end: the byte offset of its first entry in that segment at or past
 * good_end (*cut, returns 1), or 0 if it has none.  The walk goes back
 * from the topic's end, over entries in later segments and in other
 * streams (a topic renamed into another stream appends there), and stops
 * at the first entry known to be good. */
static int find_cut(struct store *st, uint64_t topic, uint64_t stream,
		    uint64_t seq, uint64_t good_end, uint64_t *cut)
{
	char k[KEY_MAX];
	int found = 0;
	leveldb_iterator_t *it = leveldb_create_iterator(st->db, st->ropts_scan);
	leveldb_iter_seek(it, k, key_u64(k, KEY_INDEX, topic + 1));
	if (leveldb_iter_valid(it))
		leveldb_iter_prev(it);
	else
		leveldb_iter_seek_to_last(it);
	for (; leveldb_iter_valid(it); leveldb_iter_prev(it)) {
		size_t kl, vl;
		const char *ik = leveldb_iter_key(it, &kl);
		const char *iv = leveldb_iter_value(it, &vl);
		struct idx_entry e;
		if (kl != 17 || ik[0] != KEY_INDEX || get_be64(ik + 1) != topic ||
		    idx_decode(ik, kl, iv, vl, &e) < 0)
			break;
		if (e.seg_stream == stream && e.seg_seq == seq &&
		    e.seg_off >= good_end) {
			*cut = e.off;
			found = 1;
		} else if (e.seg_stream == stream && e.seg_seq <= seq) {
			break;          /* good: everything before it is too */
		}
	}
	leveldb_iter_destroy(it);
	return found;
}

/* Delete topic's entries from byte offset cut to its end: past a lost
 * record nothing of the topic can be read (its index must stay
 * contiguous). */
static int drop_topic_from(struct store *st, uint64_t topic, uint64_t cut,
			   unsigned *dropped)
{
	char k[KEY_MAX], p[9], *err = NULL;
	struct idx_entry first = { 0 };
	bool any = false;
	key_u64(p, KEY_INDEX, topic);
	leveldb_iterator_t *it = leveldb_create_iterator(st->db, st->ropts_scan);
	leveldb_writebatch_t *b = leveldb_writebatch_create();
	for (leveldb_iter_seek(it, k, key_u64_u64(k, KEY_INDEX, topic, cut));
	     leveldb_iter_valid(it); leveldb_iter_next(it)) {
		size_t kl, vl;
		const char *ik = leveldb_iter_key(it, &kl);
		const char *iv = leveldb_iter_value(it, &vl);
		if (kl != 17 || memcmp(ik, p, 9) != 0)
			break;
		if (!any && idx_decode(ik, kl, iv, vl, &first) == 0)
			any = true;
		leveldb_writebatch_delete(b, ik, kl);
		(*dropped)++;
	}
	/* If nothing of the topic is left before the cut (its head had
	 * expired), its head record keeps its end at the cut, so the offsets
	 * of what expired are never handed out again. */
	leveldb_iter_seek(it, k, key_u64(k, KEY_INDEX, topic));
	size_t kl;
	const char *ik = leveldb_iter_valid(it) ? leveldb_iter_key(it, &kl)
						: NULL;
	if (any && (!ik || kl != 17 || memcmp(ik, p, 9) != 0 ||
		    get_be64(ik + 9) >= cut)) {
		char v[HEAD_SIZE];
		struct topic_head h = { .off = first.off, .msg = first.msg,
					.ns = first.ns };
		head_encode(v, &h);
		leveldb_writebatch_put(b, k, key_u64(k, KEY_HEAD, topic), v,
				       sizeof(v));
	}
	leveldb_iter_destroy(it);
	leveldb_write(st->db, st->wopts, b, &err);
	leveldb_writebatch_destroy(b);
	return err ? store_db_error("recover", err) : 0;
}

/* The topics that wrote into segment (stream, seq), from its W keys: an
 * array of *n, malloc'd (NULL and 0 if none). */
static int segment_users(struct store *st, uint64_t stream, uint64_t seq,
			 uint64_t **out, size_t *n)
{
	char p[KEY_MAX];
	size_t plen = key_u64_u64(p, KEY_SEGUSER, stream, seq), cap = 0;
	leveldb_iterator_t *it = leveldb_create_iterator(st->db, st->ropts);
	int r = 0;
	*out = NULL;
	*n = 0;
	for (leveldb_iter_seek(it, p, plen); leveldb_iter_valid(it);
	     leveldb_iter_next(it)) {
		size_t klen;
		const char *uk = leveldb_iter_key(it, &klen);
		if (klen != 25 || memcmp(uk, p, plen) != 0)
			break;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			uint64_t *nt = realloc(*out, cap * sizeof(*nt));
			if (!nt) {
				r = -ENOMEM;
				break;
			}
			*out = nt;
		}
		(*out)[(*n)++] = get_be64(uk + 17);
	}
	leveldb_iter_destroy(it);
	return r;
}

/* Drop, for every topic that wrote into this segment, its index entries
 * from the first one at or past good_end on.  With only_count, nothing
 * is dropped: *dropped counts the topics that would lose entries. */
static int drop_past(struct store *st, uint64_t stream, uint64_t seq,
		     uint64_t good_end, bool only_count, unsigned *dropped)
{
	uint64_t *users, cut;
	size_t n;
	int r = segment_users(st, stream, seq, &users, &n);
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (!find_cut(st, users[i], stream, seq, good_end, &cut))
			continue;
		if (only_count)
			(*dropped)++;
		else
			r = drop_topic_from(st, users[i], cut, dropped);
	}
	free(users);
	return r;
}


static int save_state(struct store *st, uint64_t stream,
		      const struct seg_state *s)
{
	char k[KEY_MAX], v[SEGSTATE_SIZE], *err = NULL;
	segstate_encode(v, s);
	leveldb_put(st->db, st->wopts, k, key_u64(k, KEY_SEGSTATE, stream), v,
		    sizeof(v), &err);
	return err ? store_db_error("recover", err) : 0;
}

/* Recovery cut sealed segment q of stream at pos (of size bytes), and
 * every later segment of the stream with it. */
static void sealed_cut(struct store *st, uint64_t stream, uint64_t q,
		       uint64_t pos, uint64_t size, unsigned dropped)
{
	struct store_event ev = {
		.kind = STORE_EV_RECOVERY, .level = SF_LOG_INFO,
		.what = "sealed segment", .stream = stream, .seg = q,
		.off = pos, .good = pos, .cut = size - pos, .dropped = dropped,
		.action = "cut at the damage; the stream's later segments "
			  "removed",
	};
	st->stats.recovery.segments_cut++;
	st->stats.recovery.bytes_cut += size - pos;
	st->stats.recovery.entries_dropped += dropped;
	report_event(&ev, "recovery: stream %llu segment %llu damaged at "
		     "%llu: cut there, %u index entries dropped",
		     (unsigned long long)stream, (unsigned long long)q,
		     (unsigned long long)pos, dropped);
}

/* What recovery did to the active segment of stream (s: its state). */
static void active_recovered(struct store *st, uint64_t stream,
			     const struct seg_state *s, const struct scan *sc,
			     uint64_t pos, uint64_t size, unsigned dropped)
{
	struct store_event ev = {
		.kind = STORE_EV_RECOVERY, .level = SF_LOG_INFO,
		.what = "active segment", .stream = stream, .seg = s->seq,
		.off = pos, .good = pos, .cut = size - pos,
		.reindexed = sc->reindexed, .dropped = dropped,
		.unindexed = sc->skipped,
		.action = size > pos ? "cut after the last whole record"
				     : "indexed to its last whole record",
	};
	if (size > pos)
		st->stats.recovery.segments_cut++;
	st->stats.recovery.bytes_cut += size - pos;
	st->stats.recovery.records_reindexed += sc->reindexed;
	st->stats.recovery.entries_dropped += dropped;
	st->stats.recovery.records_unindexed += sc->skipped;
	report_event(&ev, "recovery: stream %llu segment %llu: %llu bytes "
		     "good, %llu cut, %u records indexed again, %u index "
		     "entries dropped, %u records left unindexed",
		     (unsigned long long)stream, (unsigned long long)s->seq,
		     (unsigned long long)pos, (unsigned long long)(size - pos),
		     sc->reindexed, dropped, sc->skipped);
}

/* Sealed segments after the synced point may have unsynced tails too
 * (segment.c).  Check segment q from `from`: 0 if it is whole, 1 if it was
 * damaged and everything after the damage, in it and in every later
 * segment, has been dropped (q is the active segment again), -errno. */
static int recover_sealed(struct store *st, uint64_t stream, uint64_t q,
			  uint64_t from, struct seg_state *s)
{
	struct scan sc = { .stream = stream, .seq = q, .fd = -1 };
	char path[64];
	struct stat sb;
	seg_path(path, sizeof(path), stream, q);
	sc.fd = openat(st->segdirfd, path, O_RDWR | O_CLOEXEC);
	if (sc.fd < 0)
		return errno == ENOENT ? 0 : -errno;
	uint64_t size = fstat(sc.fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
	uint64_t pos = from <= size ? from : 0;
	int r = 0;
	while (pos < size) {
		struct rec_header h;
		if ((r = read_record(&sc, pos, size, &h)) <= 0)
			break;
		pos += REC_HDR + h.len;
	}
	if (r > 0)
		r = 0;                  /* the last record read was whole */
	unsigned beyond = 0;
	if (r == 0 && pos == size)
		/* Whole, but maybe shorter than the index says: the power cut
		 * may have cut it exactly between two records. */
		r = drop_past(st, stream, q, pos, true, &beyond);
	if (r == 0 && (pos < size || beyond)) {
		/* Damage at pos: cut here and forget all that came after. */
		/* Newest first: each topic's entries are dropped from its
		 * end backwards. */
		unsigned dropped = 0;
		struct store_recovery *rc = &st->stats.recovery;
		for (uint64_t later = s->seq; r == 0 && later > q; later--) {
			struct stat lb;
			r = drop_past(st, stream, later, 0, false, &dropped);
			seg_path(path, sizeof(path), stream, later);
			if (fstatat(st->segdirfd, path, &lb, 0) == 0)
				rc->bytes_cut += (uint64_t)lb.st_size;
			unlinkat(st->segdirfd, path, 0);
		}
		if (r == 0)
			r = drop_past(st, stream, q, pos, false, &dropped);
		if (r == 0 && ftruncate(sc.fd, pos) < 0)
			r = -errno;
		if (r == 0)
			sealed_cut(st, stream, q, pos, size, dropped);
		*s = (struct seg_state){ .seq = q, .end = pos,
					 .synced_seq = q, .synced = pos };
		r = r < 0 ? r : 1;
	}
	if (r >= 0 && fdatasync(sc.fd) < 0)
		r = -errno;
	close(sc.fd);
	free(sc.buf);
	if (r == 1)
		r = save_state(st, stream, s) < 0 ? -EIO : 1;
	return r;
}

static int recover_stream(struct store *st, uint64_t stream,
			  struct seg_state *s)
{
	bool sealed = s->synced_seq < s->seq;   /* sealed tails to read */
	if (sealed)
		st->stats.recovery.streams++;
	for (uint64_t q = s->synced_seq; q && q < s->seq; q++) {
		int pr = recover_sealed(st, stream, q,
				       q == s->synced_seq ? s->synced : 0, s);
		if (pr != 0)
			return pr < 0 ? pr : 0;
	}
	if (s->synced_seq < s->seq) {
		/* The sealed segments are whole and now synced; the active
		 * one is checked from its start. */
		s->synced_seq = s->seq;
		s->synced = 0;
	}
	struct scan sc = { .stream = stream, .seq = s->seq, .fd = -1 };
	char path[64];
	struct stat sb;
	seg_path(path, sizeof(path), stream, s->seq);
	sc.fd = openat(st->segdirfd, path, O_RDWR | O_CLOEXEC);
	if (sc.fd < 0 && errno != ENOENT)
		return -errno;
	uint64_t size = 0;
	if (sc.fd >= 0 && fstat(sc.fd, &sb) == 0)
		size = (uint64_t)sb.st_size;
	if (size == s->end && s->synced == s->end) {
		if (sc.fd >= 0)
			close(sc.fd);
		return 0;
	}
	if (!sealed)
		st->stats.recovery.streams++;
	uint64_t pos = s->synced <= size ? s->synced : 0;
	int r = 0;
	while (sc.fd >= 0) {
		struct rec_header h;
		r = read_record(&sc, pos, size, &h);
		if (r <= 0)
			break;
		if (pos >= s->end && (r = reindex(st, &sc, pos, &h)) < 0)
			break;
		if (h.ns > s->max_ns)
			s->max_ns = h.ns;
		pos += REC_HDR + h.len;
	}
	unsigned dropped = 0;
	if (r == 0 && pos < s->end)
		r = drop_past(st, stream, s->seq, pos, false, &dropped);
	if (r == 0 && sc.fd >= 0 && pos < size) {
		if (ftruncate(sc.fd, pos) < 0)
			r = -errno;
	}
	if (r == 0 && sc.fd >= 0 && fdatasync(sc.fd) < 0)
		r = -errno;
	if (r == 0) {
		if (pos != s->end || size != pos || sc.reindexed || dropped)
			active_recovered(st, stream, s, &sc, pos, size,
					 dropped);
		s->end = s->synced = pos;
		s->synced_seq = s->seq;
		r = save_state(st, stream, s);
	}
	if (sc.fd >= 0)
		close(sc.fd);
	free(sc.buf);
	return r;
}

static int recover_one(struct store *st, uint64_t stream,
		       struct seg_state *s, void *arg)
{
	(void)arg;
	return recover_stream(st, stream, s);
}

static int purge_orphans(struct store *st)
{
	char p[1] = { KEY_ORPHAN };
	uint64_t *inos = NULL;
	size_t n = 0, cap = 0;
	int r = 0;
	leveldb_iterator_t *it = leveldb_create_iterator(st->db, st->ropts);
	for (leveldb_iter_seek(it, p, 1); leveldb_iter_valid(it);
	     leveldb_iter_next(it)) {
		size_t kl;
		const char *k = leveldb_iter_key(it, &kl);
		if (kl != 9 || k[0] != KEY_ORPHAN)
			break;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			uint64_t *ni = realloc(inos, cap * sizeof(*ni));
			if (!ni) {
				r = -ENOMEM;
				break;
			}
			inos = ni;
		}
		inos[n++] = get_be64(k + 1);
	}
	leveldb_iter_destroy(it);
	for (size_t i = 0; r == 0 && i < n; i++) {
		r = store_purge_inode(st, inos[i]);
		st->stats.recovery.orphans_purged += r == 0;
	}
	free(inos);
	return r;
}

void store_recovery_summary(const struct store *st,
			    struct store_recovery *out)
{
	*out = st->stats.recovery;
}

int store_recover(struct store *st, char *err, size_t errlen)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int r = purge_orphans(st);
	if (r == 0)
		r = segtab_each_stream(st, recover_one, NULL);
	if (r == 0)
		r = store_sync(st);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	st->stats.recovery.ns = (t1.tv_sec - t0.tv_sec) * 1000000000LL +
				(t1.tv_nsec - t0.tv_nsec);
	if (r < 0)
		snprintf(err, errlen, "recovery of %s failed: %s",
			 st->datadir, strerror(-r));
	return r;
}
