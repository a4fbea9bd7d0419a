/* compact.c - copying the live records of a mostly dead segment forward,
 * so that its space can be freed.
 *
 * Topics of a stream share its segments, and expire at different times
 * (retention_bytes is per topic; a deleted topic leaves its records
 * behind), so a segment can be kept by a few live records.  Compaction
 * reads such a sealed segment record by record; a record is live when
 * its topic's index entry points exactly at it.  Each live record is
 * appended unchanged (same header, checksum, offsets and arrival) to the
 * stream's active segment, and its entry is pointed at the copy, so no
 * byte or message offset a reader sees changes.  Copies are older than
 * the records around them, so each gets a late-record key (Q) for the
 * ttl scan.
 *
 * Crash safety, step by step: the copies are synced before the batch that
 * points the index at them is written, so an entry never points at bytes
 * that a power cut can take; until that batch is written, the entries
 * point at the old segment, which is deleted only after a synced write
 * that follows every batch of its compaction.  Copies that no entry
 * points at (a crash before the batch) are dead bytes, never served. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define COMPACT_RECORDS 4096    /* records looked at per step */

/* The index entry of (topic, off) if it points at (stream, seq, pos). */
static int live_entry(struct store *st, const struct rec_header *h,
		      uint64_t stream, uint64_t seq, uint64_t pos,
		      struct idx_entry *e)
{
	char k[KEY_MAX], *err = NULL;
	size_t kl = key_u64_u64(k, KEY_INDEX, h->topic, h->off), vl;
	char *v = leveldb_get(st->db, st->ropts, k, kl, &vl, &err);
	if (err)
		return store_db_error("get", err);
	int r = v && idx_decode(k, kl, v, vl, e) == 0 &&
		e->seg_stream == stream && e->seg_seq == seq &&
		e->seg_off == pos;
	leveldb_free(v);
	return r;
}

/* Delete the segment's W keys and its G key (in b). */
static void forget_segment(struct store *st, uint64_t stream, uint64_t seq,
			   leveldb_writebatch_t *b)
{
	char p[KEY_MAX], k[KEY_MAX];
	size_t plen = key_u64_u64(p, KEY_SEGUSER, stream, seq);
	leveldb_iterator_t *it = leveldb_create_iterator(st->db, st->ropts);
	for (leveldb_iter_seek(it, p, plen); leveldb_iter_valid(it);
	     leveldb_iter_next(it)) {
		size_t kl;
		const char *wk = leveldb_iter_key(it, &kl);
		if (kl != 25 || memcmp(wk, p, plen) != 0)
			break;
		leveldb_writebatch_delete(b, wk, kl);
	}
	leveldb_iter_destroy(it);
	leveldb_writebatch_delete(b, k, key_u64_u64(k, KEY_SEGDEAD, stream,
						    seq));
}

int seg_delete(struct store *st, uint64_t stream, uint64_t seq)
{
	/* Everything that pointed into it must be durably gone first. */
	leveldb_writebatch_t *b = leveldb_writebatch_create();
	uint64_t size = 0;
	bool active;
	forget_segment(st, stream, seq, b);
	int r = index_flush(st, false);
	if (r == 0)
		r = db_write(st, b, true);
	leveldb_writebatch_destroy(b);
	if (r == 0 && seg_extent(st, stream, seq, &size, &active) < 0)
		size = 0;       /* only the figure is lost */
	if (r == 0)
		r = seg_remove(st, stream, seq);
	if (r == 0) {
		segtab_removed(st, stream, seq);
		st->stats.segments_deleted++;
		st->stats.segment_bytes_deleted += size;
	}
	return r;
}

/* Copy one live record (REC_HDR + len bytes in rec) forward; its new
 * entry, W, Q and S keys go into b. */
static int copy_record(struct store *st, uint64_t stream, char *rec,
		       const struct rec_header *h, struct idx_entry *e,
		       leveldb_writebatch_t *b)
{
	struct iovec iov = { rec + REC_HDR, h->len };
	struct seg_state ss;
	bool late;
	uint64_t seq, off;
	int r = seg_append(st, stream, rec, &iov, 1, h->len, h->ns, false,
			   &seq, &off, &ss, &late);
	if (r < 0)
		return r;
	e->seg_seq = seq;
	e->seg_off = off;
	index_put(b, h->topic, e, true);
	late_put(b, stream, h->topic, e);
	segstate_put(b, stream, &ss);
	return 0;
}

static int damaged_segment(uint64_t stream, uint64_t seq, uint64_t pos)
{
	struct store_event ev = {
		.kind = STORE_EV_CHECKSUM, .level = SF_LOG_ERROR,
		.what = "compaction", .err = EIO, .stream = stream, .seg = seq,
		.off = pos, .action = "the segment is kept as it is",
	};
	report_event(&ev, "segment %016llx/%016llx: damaged record at offset "
		     "%llu; the segment is kept as it is",
		     (unsigned long long)stream, (unsigned long long)seq,
		     (unsigned long long)pos);
	return -EIO;
}

int compact_step(struct store *st, uint64_t stream, uint64_t seq,
		 uint64_t *pos, uint64_t budget)
{
	uint64_t end;
	bool active;
	int r = seg_extent(st, stream, seq, &end, &active);
	if (r == -ENOENT) {
		segtab_removed(st, stream, seq);
		return 0;
	}
	if (r < 0 || active)
		return r;
	if ((r = index_flush(st, false)) < 0 || (r = db_ready(st)) < 0)
		return r;
	struct rec_reader *rr = malloc(sizeof(*rr));
	if (!rr)
		return -ENOMEM;
	if ((r = rec_reader_open(rr, st, stream, seq)) < 0) {
		free(rr);
		return r;
	}
	int fd = rr->fd;
	leveldb_writebatch_t *b = leveldb_writebatch_create();
	struct dead_list dl = { 0 };
	char *buf = NULL;
	size_t cap = 0;
	uint64_t copied = 0, at = *pos;
	unsigned seen = 0;
	while (r == 0 && at < end && copied < budget &&
	       seen++ < COMPACT_RECORDS) {
		struct rec_header h;
		struct idx_entry e;
		if (!rec_reader_at(rr, at, end, &h)) {
			r = damaged_segment(stream, seq, at);
			break;
		}
		size_t n = REC_HDR + (size_t)h.len;
		r = live_entry(st, &h, stream, seq, at, &e);
		if (r == 1 && (r = store_space_check(st, n)) == 0) {
			if (n > cap) {
				char *nb = realloc(buf, n);
				if (!nb) {
					r = -ENOMEM;
					break;
				}
				buf = nb;
				cap = n;
			}
			if (pread(fd, buf, n, at) != (ssize_t)n ||
			    rec_check(buf, n, &h) < 0) {
				r = damaged_segment(stream, seq, at);
				break;
			}
			r = copy_record(st, stream, buf, &h, &e, b);
			if (r == 0)
				copied += n;
		}
		if (r >= 0) {
			r = 0;
			at += n;
		}
	}
	free(buf);
	free(rr);
	int err = r;            /* what stopped the walk, if anything */
	r = 0;
	if (copied) {
		dead_add(&dl, stream, seq, copied);
		dead_put(st, &dl, b);
		/* The copies reach the disk before the index points there. */
		r = seg_sync_stream(st, stream);
		if (r == 0)
			r = db_write(st, b, false);
		if (r == 0) {
			dead_commit(st, &dl);
			st->stats.bytes_copied += copied;
		}
	}
	leveldb_writebatch_destroy(b);
	if (err < 0 || r < 0)
		return err < 0 ? err : r;
	*pos = at;
	if (at < end)
		return 1;
	r = seg_delete(st, stream, seq);
	if (r == 0)
		st->stats.segments_compacted++;
	return r < 0 ? r : 0;
}
