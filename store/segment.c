/* segment.c - append-only segment files that hold message bytes.
 *
 * Each stream (directory inode) has its own numbered segments under
 * DATADIR/segments/<stream>/<seq>, shared by all of its topics.  A record is
 * a 48-byte header (with a CRC-32C) followed by the payload of one write
 * call.  The active segment of a stream rolls to the next number beyond
 * st->seg_max (SEG_MAX unless the mount sets segment_size).  A sealed
 * segment is not waited for: its write-back starts at the roll, and it is
 * synced at the next sync (fsync, durability, unmount)
 * or when SEG_MAX_UNSYNCED segments wait.  The segment state says from
 * where on the stream's segments may not be on disk (synced_seq, synced);
 * recover.c checks everything after that point.
 *
 * The table keeps a bounded number of writers (active segments, one
 * descriptor each) and readers (sealed segments), least recently used
 * first out, so descriptors never grow with streams or topics.
 *
 * A failed fdatasync is never papered over: Linux may have dropped the
 * dirty pages it was writing, and a later fdatasync that succeeds says
 * nothing about them.  So the writer remembers the failure, and its next
 * sync first reads back everything the failed one covered, checks every
 * record's checksum, and writes it again before syncing (rewrite_range).
 * If the read-back finds a record the disk has lost, the stream takes no
 * more appends (seg_usable) and the loss is logged. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define MAX_WRITERS 64
#define MAX_READERS 256
#define TAB_SIZE 1024           /* hash buckets, a power of two */

struct seg_writer {
	uint64_t stream;
	struct seg_state s;
	int fd;
	bool dirty;                     /* written since the last sync */
	bool rewrite;                   /* a sync failed: rewrite before the next */
	bool lost;                      /* data the disk dropped: no appends */
	struct seg_writer *hnext;
	struct seg_writer *prev, *next; /* LRU, most recent first */
};

struct seg_reader {
	uint64_t stream, seq;
	int fd;
	struct seg_reader *hnext;
	struct seg_reader *prev, *next;
};

static size_t bucket(uint64_t a, uint64_t b)
{
	uint64_t h = (a * 0x9e3779b97f4a7c15ull) ^ (b * 0xc2b2ae3d27d4eb4full);
	return (size_t)(h >> 32) & (TAB_SIZE - 1);
}

void seg_path(char *buf, size_t cap, uint64_t stream, uint64_t seq)
{
	snprintf(buf, cap, "%016llx/%016llx", (unsigned long long)stream,
		 (unsigned long long)seq);
}

/* ---- records ---- */

void rec_encode(char *b, const struct rec_header *h)
{
	put_le32(b, h->magic);
	put_le32(b + 4, h->crc);
	put_le32(b + 8, h->len);
	put_le32(b + 12, (h->nmsgs & REC_NMSGS_MAX) |
			 ((h->flags & REC_F_KAFKA) ? 0x80000000u : 0));
	put_le64(b + 16, h->topic);
	put_le64(b + 24, h->off);
	put_le64(b + 32, h->msg);
	put_le64(b + 40, (uint64_t)h->ns);
}

void rec_decode(const char *b, struct rec_header *h)
{
	h->magic = get_le32(b);
	h->crc = get_le32(b + 4);
	h->len = get_le32(b + 8);
	h->nmsgs = get_le32(b + 12);
	h->flags = (h->nmsgs & 0x80000000u) ? REC_F_KAFKA : 0;
	h->nmsgs &= REC_NMSGS_MAX;
	h->topic = get_le64(b + 16);
	h->off = get_le64(b + 24);
	h->msg = get_le64(b + 32);
	h->ns = (int64_t)get_le64(b + 40);
}

uint32_t rec_crc(const char *hdr, const struct iovec *iov, int iovcnt)
{
	uint32_t c = crc32c(0, hdr + 8, REC_HDR - 8);
	for (int i = 0; i < iovcnt; i++)
		c = crc32c(c, iov[i].iov_base, iov[i].iov_len);
	return c;
}

int rec_check(const char *rec, size_t avail, struct rec_header *h)
{
	if (avail < REC_HDR)
		return -EIO;
	rec_decode(rec, h);
	if (h->magic != REC_MAGIC || h->len > avail - REC_HDR)
		return -EIO;
	struct iovec iov = { (void *)(rec + REC_HDR), h->len };
	return rec_crc(rec, &iov, 1) == h->crc ? 0 : -EIO;
}

static int64_t payload_of(const struct rec_header *h, const char *tail)
{
	uint32_t tlen = get_le32(tail), magic = get_le32(tail + 4);
	uint32_t min = magic == REC_TRAILER_MAGIC_PRODUCER
		       ? REC_TRAILER_TAIL + REC_PRODUCER_TAG : REC_TRAILER_TAIL;
	if ((magic != REC_TRAILER_MAGIC &&
	     magic != REC_TRAILER_MAGIC_PRODUCER) ||
	    tlen < min || tlen > h->len)
		return -EIO;
	return h->len - tlen;
}

int64_t rec_payload_len(const struct rec_header *h, const char *body)
{
	if (!(h->flags & REC_F_KAFKA))
		return h->len;
	if (h->len < REC_TRAILER_TAIL)
		return -EIO;
	return payload_of(h, body + h->len - REC_TRAILER_TAIL);
}

int64_t rec_payload_len_fd(const struct rec_header *h, int fd, uint64_t pos)
{
	char tail[REC_TRAILER_TAIL];
	if (!(h->flags & REC_F_KAFKA))
		return h->len;
	if (h->len < REC_TRAILER_TAIL ||
	    pread(fd, tail, REC_TRAILER_TAIL,
		  pos + REC_HDR + h->len - REC_TRAILER_TAIL) != REC_TRAILER_TAIL)
		return -EIO;
	return payload_of(h, tail);
}

/* ---- LRU lists ---- */

#define LRU_UNLINK(head, e) do {                                  \
		if ((e)->prev) (e)->prev->next = (e)->next;       \
		else (head) = (e)->next;                          \
		if ((e)->next) (e)->next->prev = (e)->prev;       \
		(e)->prev = (e)->next = NULL;                     \
	} while (0)
#define LRU_PUSH(head, e) do {                                    \
		(e)->prev = NULL;                                 \
		(e)->next = (head);                               \
		if (head) (head)->prev = (e);                     \
		(head) = (e);                                     \
	} while (0)

static int tables_init(struct store *st)
{
	if (st->wtab)
		return 0;
	st->wtab = calloc(TAB_SIZE, sizeof(*st->wtab));
	st->rtab = calloc(TAB_SIZE, sizeof(*st->rtab));
	return st->wtab && st->rtab ? 0 : -ENOMEM;
}

/* ---- writers ---- */

static struct seg_writer *writer_find(struct store *st, uint64_t stream)
{
	struct seg_writer *w = st->wtab[bucket(stream, 0)];
	while (w && w->stream != stream)
		w = w->hnext;
	return w;
}

static void writer_unhash(struct store *st, struct seg_writer *w)
{
	struct seg_writer **pp = &st->wtab[bucket(w->stream, 0)];
	while (*pp != w)
		pp = &(*pp)->hnext;
	*pp = w->hnext;
}

/* Read back [from, to) of a segment record by record, check each, and
 * write it again, so that pages a failed write-back dropped are dirty
 * again.  0, -EBADMSG if a record there is no longer whole, or the
 * error of the write. */
static int rewrite_range(int fd, uint64_t from, uint64_t to)
{
	char hdr[REC_HDR], *buf = NULL;
	size_t cap = 0;
	int r = 0;
	for (uint64_t pos = from; r == 0 && pos < to;) {
		struct rec_header h;
		if (pread(fd, hdr, REC_HDR, pos) != REC_HDR) {
			r = -EBADMSG;
			break;
		}
		rec_decode(hdr, &h);
		size_t n = REC_HDR + (size_t)h.len;
		if (h.magic != REC_MAGIC || pos + n > to) {
			r = -EBADMSG;
			break;
		}
		if (n > cap) {
			char *b = realloc(buf, n);
			if (!b) {
				r = -ENOMEM;
				break;
			}
			buf = b;
			cap = n;
		}
		if (pread(fd, buf, n, pos) != (ssize_t)n ||
		    rec_check(buf, n, &h) < 0)
			r = -EBADMSG;
		else if (pwrite(fd, buf, n, pos) != (ssize_t)n)
			r = -EIO;
		pos += n;
	}
	free(buf);
	return r;
}

/* A segment's sync failed (the first time since its last good one):
 * its unsynced data, from offset from on, is written again at the next
 * sync. */
static void sync_failed(uint64_t stream, uint64_t seq, uint64_t from,
			int err)
{
	struct store_event ev = {
		.kind = report_kind_of(err), .level = SF_LOG_ERROR,
		.what = "segment sync", .err = err, .stream = stream,
		.seg = seq, .off = from,
		.action = "unsynced data written again at the next sync",
	};
	report_event(&ev, "sync of stream %llu failed: %s; its unsynced data "
		     "is written again at the next sync",
		     (unsigned long long)stream, strerror(err));
}

/* The sync of segment seq (its file fd) from `from` on; with the writer's
 * rewrite flag, what a failed sync covered is written again first. */
static int sync_segment(struct seg_writer *w, uint64_t seq, int fd,
			uint64_t from, uint64_t to)
{
	if (w->rewrite) {
		int r = rewrite_range(fd, from, to);
		if (r == -EBADMSG && !w->lost) {
			w->lost = true;
			struct store_event ev = {
				.kind = STORE_EV_IO, .level = SF_LOG_ERROR,
				.what = "write-back", .err = EIO,
				.stream = w->stream, .seg = seq, .off = from,
				.action = "the stream takes no more appends",
			};
			report_event(&ev, "stream %llu: data in a segment "
				     "after offset %llu was lost by the disk "
				     "after a failed write-back; the stream "
				     "takes no more appends",
				     (unsigned long long)w->stream,
				     (unsigned long long)from);
		}
		if (r < 0)
			return r == -EBADMSG ? -EIO : r;
	}
	if (fdatasync(fd) < 0) {
		int e = errno;
		if (!w->rewrite)
			sync_failed(w->stream, seq, from, e);
		w->rewrite = true;
		return -e;
	}
	return 0;
}

/* Make every segment of the stream written so far durable: the sealed
 * ones not yet synced, then the active one. */
static int writer_sync(struct store *st, struct seg_writer *w)
{
	for (uint64_t q = w->s.synced_seq; q < w->s.seq; q++) {
		char path[64];
		struct stat sb;
		seg_path(path, sizeof(path), w->stream, q);
		int fd = openat(st->segdirfd, path, O_RDWR | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0)
			return -errno;
		uint64_t from = q == w->s.synced_seq ? w->s.synced : 0;
		int r = fstat(fd, &sb) < 0 ? -errno
			: sync_segment(w, q, fd, from, (uint64_t)sb.st_size);
		close(fd);
		if (r < 0)
			return r;
		w->s.synced_seq = q + 1;
		w->s.synced = 0;
	}
	if (w->dirty || w->s.synced < w->s.end || w->rewrite) {
		int r = sync_segment(w, w->s.seq, w->fd, w->s.synced,
				     w->s.end);
		if (r < 0)
			return r;
	}
	w->dirty = false;
	w->rewrite = false;
	w->s.synced = w->s.end;
	return 0;
}

static bool writer_unsynced(const struct seg_writer *w)
{
	return w->dirty || w->rewrite || w->s.synced_seq < w->s.seq ||
	       w->s.synced < w->s.end;
}

/* Close a writer; one whose data cannot be synced now is kept (its
 * rewrite flag must reach the next sync) unless force. */
static int writer_drop(struct store *st, struct seg_writer *w, bool force)
{
	/* The next sync could not reach it once it is gone. */
	if (writer_unsynced(w) && writer_sync(st, w) < 0 && !force)
		return -1;
	close(w->fd);
	writer_unhash(st, w);
	LRU_UNLINK(st->wlru, w);
	st->nwriters--;
	free(w);
	return 0;
}

/* Close the least recently used writer that can be closed. */
static void writer_evict(struct store *st)
{
	struct seg_writer *w = st->wlru;
	while (w && w->next)
		w = w->next;
	while (w && writer_drop(st, w, false) < 0)
		w = w->prev;
}

/* Open segment seq of stream for appending; O_TRUNC only for a segment the
 * index cannot refer to yet (a fresh roll). */
static int open_segment(struct store *st, uint64_t stream, uint64_t seq,
			bool fresh)
{
	char dir[32], path[64];
	snprintf(dir, sizeof(dir), "%016llx", (unsigned long long)stream);
	bool made = mkdirat(st->segdirfd, dir, 0700) == 0;
	if (!made && errno != EEXIST)
		return -errno;
	if (made && fsync(st->segdirfd) < 0)
		return -errno;
	seg_path(path, sizeof(path), stream, seq);
	int flags = O_RDWR | O_CREAT | O_CLOEXEC | (fresh ? O_TRUNC : 0);
	int fd = openat(st->segdirfd, path, flags, 0600);
	if (fd < 0)
		return -errno;
	if (fresh) {
		/* Make the new name durable along with its data: a record
		 * synced into a segment whose name is lost would be lost. */
		int dfd = openat(st->segdirfd, dir, O_RDONLY | O_DIRECTORY |
				 O_CLOEXEC);
		int r = dfd < 0 || fsync(dfd) < 0 ? -errno : 0;
		if (dfd >= 0)
			close(dfd);
		if (r < 0) {
			close(fd);
			return r;
		}
	}
	return fd;
}

static int load_state(struct store *st, uint64_t stream, struct seg_state *s)
{
	char k[KEY_MAX], *err = NULL;
	int fr = index_flush(st, false);      /* it may hold a newer state */
	if (fr == 0)
		fr = db_ready(st);
	if (fr < 0)
		return fr;
	size_t len;
	char *v = leveldb_get(st->db, st->ropts, k,
			      key_u64(k, KEY_SEGSTATE, stream), &len, &err);
	if (err)
		return store_db_error("get", err);
	int r = 0;
	if (v)
		r = segstate_decode(v, len, s);
	else
		*s = (struct seg_state){ 0 };
	leveldb_free(v);
	return r;
}

/* Record at once that stream's active segment is w->s.seq: index entries
 * wait in memory (topic.c), and recovery must know which segment to scan
 * for the records they describe. */
static int save_active(struct store *st, struct seg_writer *w)
{
	int r = index_flush(st, false);
	if (r < 0)
		return r;
	leveldb_writebatch_t *b = leveldb_writebatch_create();
	segstate_put(b, w->stream, &w->s);
	r = db_write(st, b, false);
	leveldb_writebatch_destroy(b);
	return r;
}

static struct seg_writer *writer_get(struct store *st, uint64_t stream,
				     int *err)
{
	*err = tables_init(st);
	if (*err)
		return NULL;
	struct seg_writer *w = writer_find(st, stream);
	if (w) {
		LRU_UNLINK(st->wlru, w);
		LRU_PUSH(st->wlru, w);
		return w;
	}
	if (st->nwriters >= MAX_WRITERS)
		writer_evict(st);
	w = calloc(1, sizeof(*w));
	if (!w) {
		*err = -ENOMEM;
		return NULL;
	}
	w->stream = stream;
	*err = load_state(st, stream, &w->s);
	bool fresh = w->s.seq == 0;
	if (fresh)
		w->s.seq = w->s.synced_seq = 1;
	if (*err == 0) {
		w->fd = open_segment(st, stream, w->s.seq, fresh);
		if (w->fd < 0)
			*err = w->fd;
	}
	if (*err == 0 && fresh && (*err = save_active(st, w)) < 0)
		close(w->fd);
	if (*err) {
		free(w);
		return NULL;
	}
	size_t bk = bucket(stream, 0);
	w->hnext = st->wtab[bk];
	st->wtab[bk] = w;
	LRU_PUSH(st->wlru, w);
	st->nwriters++;
	segtab_seen(st, stream);        /* retention reads its ttl */
	return w;
}

/* Seal the active segment and start the next one.  Nothing waits for the
 * sealed segment to reach the disk: its write-back only starts, unless
 * too many sealed segments already wait. */
static int writer_roll(struct store *st, struct seg_writer *w)
{
	int r = 0;
	if (w->s.seq - w->s.synced_seq >= SEG_MAX_UNSYNCED)
		r = writer_sync(st, w);
	if (r < 0)
		return r;
	int fd = open_segment(st, w->stream, w->s.seq + 1, true);
	if (fd < 0)
		return fd;
	if (w->dirty)
		sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	close(w->fd);
	if (!writer_unsynced(w)) {
		w->s.synced_seq = w->s.seq + 1;         /* all on disk */
		w->s.synced = 0;
	}
	segtab_sealed(st, w->stream, w->s.seq, w->s.end);
	w->fd = fd;
	w->s.seq++;
	w->s.end = 0;
	w->dirty = false;
	return save_active(st, w);
}

/* Segment (stream, seq) could not be cut back to off: what lies past it
 * is dead bytes, or a record recovery may index again. */
static void cut_failed(uint64_t stream, uint64_t seq, uint64_t off, int err)
{
	struct store_event ev = {
		.kind = report_kind_of(err), .level = SF_LOG_ERROR,
		.what = "segment cut", .err = err, .stream = stream,
		.seg = seq, .off = off,
		.action = "the bytes past the cut stay in the segment",
	};
	report_event(&ev, "cannot cut back segment %llx/%llx to %llu: %s",
		     (unsigned long long)stream, (unsigned long long)seq,
		     (unsigned long long)off, strerror(err));
}

/* A record could not be written at the writer's end: the append is
 * refused, and what part of it reached the file is cut off again. */
static void write_failed(struct seg_writer *w, int err)
{
	struct store_event ev = {
		.kind = report_kind_of(err), .level = SF_LOG_ERROR,
		.what = "segment write", .err = err, .stream = w->stream,
		.seg = w->s.seq, .off = w->s.end,
		.action = "the append is refused",
	};
	report_event(&ev, "stream %llu segment %llu: write at %llu failed: "
		     "%s; the append is refused", (unsigned long long)w->stream,
		     (unsigned long long)w->s.seq,
		     (unsigned long long)w->s.end, strerror(err));
	if (ftruncate(w->fd, w->s.end) < 0)
		cut_failed(w->stream, w->s.seq, w->s.end, errno);
}

int seg_append(struct store *st, uint64_t stream, char *hdr,
	       const struct iovec *iov, int iovcnt, size_t len, int64_t ns,
	       bool sync, uint64_t *seq, uint64_t *off,
	       struct seg_state *state, bool *late)
{
	int r;
	struct seg_writer *w = writer_get(st, stream, &r);
	if (!w)
		return r;
	if (w->s.end > 0 && w->s.end + REC_HDR + len > st->seg_max) {
		r = writer_roll(st, w);
		if (r < 0)
			return r;
	}
	struct iovec v[IOV_MAX_APPEND + 1];
	if (iovcnt > IOV_MAX_APPEND)
		return -EINVAL;
	v[0].iov_base = hdr;
	v[0].iov_len = REC_HDR;
	memcpy(v + 1, iov, iovcnt * sizeof(*iov));
	size_t want = REC_HDR + len, done = 0;
	while (done < want) {
		ssize_t n = pwritev(w->fd, v, iovcnt + 1, w->s.end + done);
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			write_failed(w, -r);
			return r;
		}
		done += n;
		/* Drop what has been written from the vector. */
		int i = 0;
		size_t skip = n;
		while (i <= iovcnt && skip >= v[i].iov_len)
			skip -= v[i++].iov_len;
		if (done < want) {
			memmove(v, v + i, (iovcnt + 1 - i) * sizeof(*v));
			iovcnt -= i;
			v[0].iov_base = (char *)v[0].iov_base + skip;
			v[0].iov_len -= skip;
		}
	}
	*seq = w->s.seq;
	*off = w->s.end;
	int64_t max_before = w->s.max_ns;
	w->s.end += want;
	w->dirty = true;
	if (sync && (r = writer_sync(st, w)) < 0) {
		/* The failed sync may have written part of it. */
		seg_unappend(st, stream, *off, true);
		return r;
	}
	*late = ns < max_before;
	if (ns > w->s.max_ns)
		w->s.max_ns = ns;
	*state = w->s;
	return 0;
}

void seg_unappend(struct store *st, uint64_t stream, uint64_t off,
		  bool durable)
{
	struct seg_writer *w = writer_find(st, stream);
	if (!w)
		return;
	/* A record that reached the disk must leave it for good, or
	 * recovery would index it again after a power cut. */
	if (ftruncate(w->fd, off) < 0 || (durable && fdatasync(w->fd) < 0))
		cut_failed(stream, w->s.seq, off, errno);
	w->s.end = off;
	if (w->s.synced_seq == w->s.seq && w->s.synced > off)
		w->s.synced = off;
}

int seg_usable(struct store *st, uint64_t stream)
{
	struct seg_writer *w = st->wtab ? writer_find(st, stream) : NULL;
	return w && w->lost ? -EROFS : 0;
}

int seg_sync_all(struct store *st, leveldb_writebatch_t *batch)
{
	int r = 0;
	for (struct seg_writer *w = st->wlru; w; w = w->next) {
		if (!writer_unsynced(w))
			continue;
		int e = writer_sync(st, w);
		if (e < 0) {
			r = e;
			continue;
		}
		segstate_put(batch, w->stream, &w->s);
	}
	return r;
}

/* ---- syncing without the caller's lock (store_sync_begin) ---- */

int seg_flush_plan(struct store *st, struct seg_flush *items, int max)
{
	int n = 0;
	for (struct seg_writer *w = st->wlru; w; w = w->next) {
		if (!writer_unsynced(w))
			continue;
		/* A failed sync to write again, or sealed segments to sync:
		 * the sync is made in full, under the lock. */
		if (w->rewrite || w->lost || w->s.synced_seq != w->s.seq ||
		    n == max)
			goto locked;
		int fd = fcntl(w->fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			goto locked;
		items[n++] = (struct seg_flush){ .stream = w->stream,
						 .seq = w->s.seq,
						 .end = w->s.end, .fd = fd };
	}
	return n;
locked:
	while (n > 0)
		close(items[--n].fd);
	return -1;
}

void seg_flush_run(struct seg_flush *items, int n)
{
	for (int i = 0; i < n; i++) {
		items[i].err = fdatasync(items[i].fd) < 0 ? errno : 0;
		close(items[i].fd);
		items[i].fd = -1;
	}
}

int seg_flush_done(struct store *st, const struct seg_flush *items, int n,
		   leveldb_writebatch_t *batch)
{
	int r = 0;
	for (int i = 0; i < n; i++) {
		struct seg_writer *w = writer_find(st, items[i].stream);
		if (!w || w->s.seq != items[i].seq)
			continue;       /* rolled or closed: synced since */
		if (items[i].err) {
			if (!w->rewrite)
				sync_failed(w->stream, items[i].seq,
					    w->s.synced, items[i].err);
			w->rewrite = true;
			r = -items[i].err;
			continue;
		}
		if (w->s.synced < items[i].end)
			w->s.synced = items[i].end;
		if (w->s.end == items[i].end)
			w->dirty = false;
		segstate_put(batch, w->stream, &w->s);
	}
	return r;
}

/* ---- reading a segment's record headers in order ---- */

int rec_reader_open(struct rec_reader *rr, struct store *st, uint64_t stream,
		    uint64_t seq)
{
	rr->fd = seg_fd(st, stream, seq);
	rr->base = rr->len = 0;
	return rr->fd < 0 ? rr->fd : 0;
}

int rec_reader_at(struct rec_reader *rr, uint64_t pos, uint64_t end,
		  struct rec_header *h)
{
	if (end < pos || end - pos < REC_HDR)
		return 0;
	if (pos < rr->base || pos + REC_HDR > rr->base + rr->len) {
		ssize_t n = pread(rr->fd, rr->buf, sizeof(rr->buf), pos);
		rr->base = pos;
		rr->len = n > 0 ? (size_t)n : 0;
		if (rr->len < REC_HDR)
			return 0;
	}
	rec_decode(rr->buf + (pos - rr->base), h);
	return h->magic == REC_MAGIC && h->len <= end - pos - REC_HDR;
}

/* ---- readers ---- */

static struct seg_reader *reader_find(struct store *st, uint64_t stream,
				      uint64_t seq)
{
	struct seg_reader *r = st->rtab[bucket(stream, seq)];
	while (r && (r->stream != stream || r->seq != seq))
		r = r->hnext;
	return r;
}

static void reader_drop(struct store *st, struct seg_reader *r)
{
	struct seg_reader **pp = &st->rtab[bucket(r->stream, r->seq)];
	while (*pp != r)
		pp = &(*pp)->hnext;
	*pp = r->hnext;
	LRU_UNLINK(st->rlru, r);
	close(r->fd);
	st->nreaders--;
	free(r);
}

int seg_fd(struct store *st, uint64_t stream, uint64_t seq)
{
	int r = tables_init(st);
	if (r)
		return r;
	struct seg_writer *w = writer_find(st, stream);
	if (w && w->s.seq == seq)
		return w->fd;
	struct seg_reader *rd = reader_find(st, stream, seq);
	if (rd) {
		LRU_UNLINK(st->rlru, rd);
		LRU_PUSH(st->rlru, rd);
		return rd->fd;
	}
	if (st->nreaders >= MAX_READERS) {
		struct seg_reader *last = st->rlru;
		while (last->next)
			last = last->next;
		reader_drop(st, last);
	}
	char path[64];
	seg_path(path, sizeof(path), stream, seq);
	int fd = openat(st->segdirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rd = calloc(1, sizeof(*rd));
	if (!rd) {
		close(fd);
		return -ENOMEM;
	}
	rd->stream = stream;
	rd->seq = seq;
	rd->fd = fd;
	size_t bk = bucket(stream, seq);
	rd->hnext = st->rtab[bk];
	st->rtab[bk] = rd;
	LRU_PUSH(st->rlru, rd);
	st->nreaders++;
	return fd;
}

void seg_close_all(struct store *st)
{
	if (!st->wtab)
		return;
	while (st->wlru)
		writer_drop(st, st->wlru, true);
	while (st->rlru)
		reader_drop(st, st->rlru);
}

/* ---- what retention asks of the segments ---- */

int seg_extent(struct store *st, uint64_t stream, uint64_t seq,
	       uint64_t *end, bool *active)
{
	int r = tables_init(st);
	if (r)
		return r;
	struct seg_writer *w = writer_find(st, stream);
	uint64_t act = w ? w->s.seq : seg_active(st, stream);
	*active = seq == act;
	if (*active && w) {
		*end = w->s.end;
		return 0;
	}
	if (*active) {
		struct seg_state s;
		r = load_state(st, stream, &s);
		*end = s.end;
		return r;
	}
	char path[64];
	struct stat sb;
	seg_path(path, sizeof(path), stream, seq);
	if (fstatat(st->segdirfd, path, &sb, 0) < 0)
		return -errno;
	*end = (uint64_t)sb.st_size;
	return 0;
}

uint64_t seg_active(struct store *st, uint64_t stream)
{
	struct seg_writer *w = st->wtab ? writer_find(st, stream) : NULL;
	struct seg_state s = { 0 };
	if (w)
		return w->s.seq;
	return load_state(st, stream, &s) == 0 ? s.seq : 0;
}

int seg_sync_stream(struct store *st, uint64_t stream)
{
	struct seg_writer *w = st->wtab ? writer_find(st, stream) : NULL;
	return w && writer_unsynced(w) ? writer_sync(st, w) : 0;
}

int seg_remove(struct store *st, uint64_t stream, uint64_t seq)
{
	char path[64];
	if (st->rtab) {
		struct seg_reader *rd = reader_find(st, stream, seq);
		if (rd)
			reader_drop(st, rd);
	}
	seg_path(path, sizeof(path), stream, seq);
	if (unlinkat(st->segdirfd, path, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}
