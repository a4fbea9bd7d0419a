/* internal.h - what the files of store/ share and fs/ never sees: the
 * store handle, key encoding, the record header, the index batch, the
 * segment table, healing and free space.
 *
 * Lock order: none here; the caller (fs/) holds its one lock around every
 * store call, and every field of struct store is guarded by it.
 *
 * Files and what they call, downward only:
 *   open.c -> recover.c -> retention.c -> compact.c -> expire.c
 *   -> topic.c -> segment.c -> namespace.c, cursor.c, blob.c -> segtab.c
 *   -> index.c -> heal.c -> db.c -> space.c -> keys.c, crc32c.c,
 *   report.c
 * (policy.c reads attributes through namespace.c; kmsg.c, the Kafka
 * messages, calls topic.c and segment.c; kproducer.c, the Kafka
 * producers' states, calls index.c and db.c, and recover.c calls it;
 * replica.c, replicated records, homes, births and the replica id, calls
 * expire.c, topic.c, kmsg.c, namespace.c and db.c, and open.c calls it; link.c, the replication links,
 * calls db.c, and namespace.c calls it.)
 */
#ifndef STREAMFS_STORE_INTERNAL_H
#define STREAMFS_STORE_INTERNAL_H

#include <leveldb/c.h>
#include <string.h>

#include "store.h"

/* ---- the handle ---- */

struct seg_writer;
struct seg_reader;
struct segtab;
struct retention;
struct icache_slot;

/* A LevelDB iterator kept across store calls (a directory listing): db.c
 * destroys it (it = NULL) before LevelDB closes, and its owner makes a new
 * one when it next needs it. */
struct db_cursor {
	leveldb_iterator_t *it;
	struct db_cursor *prev, *next;  /* st->cursors */
};

struct store {
	char *datadir;
	int segdirfd;                   /* DATADIR/segments */
	int blobdirfd;                  /* DATADIR/blobs */
	leveldb_t *db;
	leveldb_options_t *opts;
	leveldb_cache_t *cache;
	leveldb_filterpolicy_t *filter;
	leveldb_readoptions_t *ropts;
	leveldb_readoptions_t *ropts_scan;      /* fill_cache off */
	leveldb_writeoptions_t *wopts;
	leveldb_writeoptions_t *wopts_sync;

	/* The index batch (index.c): entries of recent appends not yet in
	 * LevelDB.  Their records are in the segments already; reads see
	 * the entries here as well as LevelDB's. */
	struct index_batch *ib;

	/* LevelDB's health (heal.c).  db_bad: a write failed and LevelDB
	 * refuses writes until it is reopened; read_only: reopening was
	 * not possible yet (reads go on through the old handle). */
	bool db_bad, read_only;
	int fault;                      /* errno of the fault behind them */
	int64_t heal_tried_ns;          /* last attempt, for pacing */
	uint64_t gen;                   /* times LevelDB was reopened */
	bool db_unsynced;               /* a write since the last synced one */
	/* ... and one of them was not the index batch (or a sync's segment
	 * states), which recovery rebuilds from the segments: a sync of data
	 * alone must then sync LevelDB too (store_sync_data). */
	bool meta_unsynced;
	bool writing_index;             /* db_write is writing such a batch */
	leveldb_writebatch_t *undo;     /* inverses of refused batches */
	struct db_cursor *cursors;      /* long-lived iterators (db.c) */

	struct icache_slot *icache;     /* inode records read (namespace.c) */

	uint64_t next_ino;              /* next number to hand out */
	uint64_t ino_limit;             /* numbers below this are reserved */
	uint64_t ninodes;               /* inode records: counted at open */

	/* Free space (space.c). */
	uint64_t reserve;               /* free bytes kept back */
	uint64_t free_est;              /* free bytes at the last check */
	uint64_t spent;                 /* bytes written since that check */
	int64_t checked_ns;             /* when that check was made */
	bool ballast;                   /* DATADIR/ballast is in place */

	/* Segment writers by stream, most recently used first. */
	struct seg_writer **wtab;
	size_t wtab_size;
	size_t nwriters;
	struct seg_writer *wlru;        /* most recently used */
	/* Read descriptors for sealed segments, by (stream, seq). */
	struct seg_reader **rtab;
	size_t rtab_size;
	size_t nreaders;
	struct seg_reader *rlru;
	uint64_t seg_max;               /* roll beyond this (SEG_MAX) */

	/* Every segment's size and dead bytes, and every stream's ttl
	 * (segtab.c). */
	struct segtab *segtab;
	/* Expiry's state: the ttl scanners, the compaction under way
	 * (retention.c, compact.c). */
	struct retention *ret;

	uint64_t replica_id;            /* this store's (replica.c), 0
					 * until read */

	/* Counts for the metrics (store_get_stats) and the log's start
	 * line (store_recovery_summary): every file adds to its own. */
	struct store_stats stats;
};

static inline int64_t store_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- the LevelDB handle (db.c) ---- */

/* Translate a LevelDB error message into the errno it reports (ENOSPC,
 * EDQUOT, EROFS, else EIO) and log it; frees err. */
int store_db_error(const char *what, char *err);
#define DB_WRITE_BUFFER (8 << 20)       /* LevelDB's memtable, bytes */
void db_options_init(struct store *st);
/* Open LevelDB on st->opts (at mount, and again when healing); on a full
 * disk the ballast is released and the open tried once more.  -errno and a
 * one-line reason in msg. */
int db_open(struct store *st, char *msg, size_t msglen);
/* Close LevelDB and free its options. */
void db_free(struct store *st);
void db_cursor_add(struct store *st, struct db_cursor *c);
void db_cursor_remove(struct store *st, struct db_cursor *c);
/* Destroy every registered iterator (LevelDB is about to close). */
void db_cursors_drop(struct store *st);

/* ---- healing (heal.c) ---- */

/* Write a batch (with sync: durably).  On failure LevelDB is healed and
 * the batch written once more, so a transient fault costs nothing;
 * -errno if that is not possible. */
int db_write(struct store *st, leveldb_writebatch_t *b, bool sync);
/* 0 if LevelDB is open (reopening it first if a heal left it closed),
 * else -EIO: every read of LevelDB asks this first. */
int db_ready(struct store *st);
/* Note a failed LevelDB write: LevelDB now refuses every write. */
void heal_note_fault(struct store *st, int err);
/* Reopen LevelDB after a fault, if one happened: 0 when writes work
 * again (or never stopped), -errno (EROFS, ENOSPC, ...) when the store
 * has to stay read-only for now. */
int heal(struct store *st);
/* 0 if the store takes writes; else tries heal() (paced) first. */
int store_writable(struct store *st);
void heal_free(struct store *st);

/* ---- the inode cache (namespace.c) ---- */
void icache_forget(struct store *st, uint64_t ino);
void icache_clear(struct store *st);

/* ---- inode numbers (namespace.c) ---- */

/* Read the inode counter at open. */
int ino_load(struct store *st);

/* Count the inode records (st->ninodes), once recovery is done. */
int ino_count(struct store *st);

/* ---- single records and walks (records.c) ---- */
/* The value of key k, which must be size bytes, into out: 0, -ENOENT
 * when there is none, -EIO when it has another size, or a read error. */
int db_get_fixed(struct store *st, const char *k, size_t klen, void *out,
		 size_t size);
/* The same for a little-endian u64 value. */
int db_get_u64(struct store *st, const char *k, size_t klen, uint64_t *out);
/* Put v (vlen bytes) at key k, or delete k when v is NULL, in a write of
 * its own (synced with sync). */
int db_put_one(struct store *st, const char *k, size_t klen, const void *v,
	       size_t vlen, bool sync);
/* Call fn for each record whose key starts with the byte kind, in key
 * order; stops at fn's first non-zero and returns it.  A read error is
 * store_db_error's, naming what. */
int db_each_kind(struct store *st, char kind,
		 int (*fn)(const char *k, size_t klen, const char *v,
			   size_t vlen, void *arg),
		 void *arg, const char *what);

/* ---- keys (keys.c) ----
 * One prefix byte per kind of record, numbers big-endian so that LevelDB's
 * byte order is numeric order; see docs/format.md. */

#define KEY_INODE    'I'   /* I ino                  -> inode record */
#define KEY_DIRENT   'D'   /* D dir name             -> ino, type */
#define KEY_XATTR    'X'   /* X ino name             -> value */
#define KEY_SYMLINK  'L'   /* L ino                  -> target */
#define KEY_INDEX    'T'   /* T ino byte_off         -> index entry */
#define KEY_SEGSTATE 'S'   /* S stream               -> active segment */
#define KEY_SEGUSER  'W'   /* W stream seq topic     -> "" */
#define KEY_ORPHAN   'O'   /* O ino                  -> "" */
#define KEY_META     'M'   /* M name                 -> value */
#define KEY_HEAD     'H'   /* H ino                  -> topic head */
#define KEY_SEGDEAD  'G'   /* G stream seq           -> dead bytes */
#define KEY_LATE     'Q'   /* Q stream ns topic off  -> length */
#define KEY_SCAN     'P'   /* P stream               -> ttl scan point */
#define KEY_CURSOR   'C'   /* C topic group          -> cursor (cursor.c) */
#define KEY_CURSOR_GONE 'Z' /* Z topic group         -> when its cursor was
                            * removed (cursor.c) */
#define KEY_KPRODUCER 'K'  /* K topic pid            -> Kafka producer state
                            * (kproducer.c) */
#define KEY_HOME     'R'   /* R topic                -> home replica id
                            * (replica.c) */
#define KEY_BIRTH    'B'   /* B topic                -> birth: replica id,
                            * ns (replica.c) */
#define KEY_LINK     'N'   /* N link_id              -> replication link
                            * (link.c) */
#define KEY_FEED     'F'   /* F stream sender        -> the sender's stream
                            * it receives (feed.c) */
#define KEY_HANDOVER 'V'   /* V topic                -> hand-over of its
                            * home asked here (replica.c) */

#define KEY_MAX (1 + 8 + 256 + 8)

/* Fixed-width numbers at any alignment: inline, so that encoding a record
 * header or an index entry is a few moves, not a call per byte. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SF_LE32(v) (v)
#define SF_LE64(v) (v)
#define SF_BE64(v) __builtin_bswap64(v)
#else
#define SF_LE32(v) __builtin_bswap32(v)
#define SF_LE64(v) __builtin_bswap64(v)
#define SF_BE64(v) (v)
#endif

static inline void put_be64(char *p, uint64_t v)
{
	v = SF_BE64(v);
	memcpy(p, &v, 8);
}

static inline uint64_t get_be64(const char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return SF_BE64(v);
}

static inline void put_le32(char *p, uint32_t v)
{
	v = SF_LE32(v);
	memcpy(p, &v, 4);
}

static inline uint32_t get_le32(const char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return SF_LE32(v);
}

static inline void put_le64(char *p, uint64_t v)
{
	v = SF_LE64(v);
	memcpy(p, &v, 8);
}

static inline uint64_t get_le64(const char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return SF_LE64(v);
}

size_t key_u64(char *k, char kind, uint64_t a);
size_t key_u64_u64(char *k, char kind, uint64_t a, uint64_t b);
size_t key_u64_u64_u64(char *k, char kind, uint64_t a, uint64_t b,
		       uint64_t c);
size_t key_u64_name(char *k, char kind, uint64_t a, const char *name);
size_t key_u64x4(char *k, char kind, uint64_t a, uint64_t b, uint64_t c,
		 uint64_t d);

#define INODE_REC_SIZE 80
void inode_encode(char *buf, const struct sf_inode *in);
int inode_decode(const char *buf, size_t len, uint64_t ino,
		 struct sf_inode *in);

/* One index entry: one write call's record of a topic. */
struct idx_entry {
	uint64_t off;           /* topic byte offset (from the key) */
	uint64_t seg_stream;    /* where the record lies */
	uint64_t seg_seq;
	uint64_t seg_off;       /* offset of the record header */
	uint32_t len;           /* payload bytes */
	uint32_t nmsgs;
	uint64_t msg;           /* message offset of the first message */
	int64_t ns;             /* arrival time */
	uint32_t meta;          /* bytes of Kafka trailer after the payload
				 * in the record (kmsg.c), 0 for none */
};
#define IDX_VAL_SIZE 48
#define IDX_VAL_SIZE_META 52    /* with the trailer's length */
/* Bytes of the record after its header: payload and trailer. */
static inline uint64_t idx_rec_len(const struct idx_entry *e)
{
	return (uint64_t)e->len + e->meta;
}
/* buf holds IDX_VAL_SIZE_META bytes; idx_size says how many it used. */
void idx_encode(char *buf, const struct idx_entry *e);
size_t idx_size(const struct idx_entry *e);
int idx_decode(const char *key, size_t klen, const char *val, size_t vlen,
	       struct idx_entry *e);

/* Active-segment state of a stream, as the S record keeps it. */
struct seg_state {
	uint64_t seq;           /* active segment number */
	uint64_t end;           /* bytes of it the index accounts for */
	uint64_t synced_seq;    /* segments before this one are on disk, */
	uint64_t synced;        /* and this many bytes of it */
	int64_t max_ns;         /* newest arrival appended to the stream */
};
#define SEGSTATE_SIZE 40
#define SEGSTATE_SIZE_V1 32     /* without max_ns: read as 0 */
/* Sealed segments a stream may have waiting for the disk (1 GiB). */
#define SEG_MAX_UNSYNCED 16
void segstate_encode(char *buf, const struct seg_state *s);
int segstate_decode(const char *buf, size_t len, struct seg_state *s);
/* Put stream's state s (its S key) into batch b. */
void segstate_put(leveldb_writebatch_t *b, uint64_t stream,
		  const struct seg_state *s);

/* ---- topics (topic.c), for kmsg.c ---- */

/* Append a record of len bytes of payload and meta bytes of Kafka trailer
 * (together in iov) at the topic's end; *ns gets its arrival time. */
int topic_append_meta(struct store *st, uint64_t ino, uint64_t stream,
		      struct sf_topic *t, const struct iovec *iov, int iovcnt,
		      size_t len, uint32_t nmsgs, uint32_t meta, int64_t *ns,
		      bool sync);
/* Append a record with the arrival time, offsets and trailer it was
 * given (a replicated one, replica.c): as topic_append_meta, at the
 * topic's end, which the caller has checked is r's place. */
int topic_append_at(struct store *st, uint64_t ino, uint64_t stream,
		    struct sf_topic *t, const struct iovec *iov, int iovcnt,
		    size_t len, uint32_t nmsgs, uint32_t meta, int64_t ns,
		    bool sync);
/* The whole records holding bytes [off, end) of topic ino, each checked:
 * their entries (malloc'd) in *ents, *n of them, and the records (header,
 * payload, trailer) back to back in rb->buf. */
int topic_read_whole(struct store *st, uint64_t ino, uint64_t off,
		     uint64_t end, struct idx_entry **ents, size_t *n,
		     struct sf_readbuf *rb);

/* ---- Kafka producer states (kproducer.c), for recovery ---- */

struct rec_header;

/* A record recovery indexes again (header h, body after it, checked):
 * when its trailer carries a producer tag, put the producer's state with
 * the batch it ends into b, as the lost LevelDB write would have.
 * 0 or -errno. */
int kproducer_recovered(struct store *st, leveldb_writebatch_t *b,
			const struct rec_header *h, const char *body);

/* ---- Kafka trailers (kmsg.c), for replica.c ---- */

/* 0 if the len bytes at p are a whole trailer for nmsgs messages (SFK1
 * or SFK2, its length field len, each message's part decoding and the
 * parts filling it), else -EINVAL. */
int kmsg_trailer_check(const char *p, uint32_t len, uint32_t nmsgs);

/* ---- replication links (link.c), for namespace.c ---- */

/* Delete the links of stream ino (the stream is being purged). */
int link_purge_stream(struct store *st, uint64_t ino);

/* ---- batches (namespace.c), for replica.c ---- */
/* The LevelDB batch under b, for keys namespace.c does not know. */
leveldb_writebatch_t *batch_leveldb(struct store_batch *b);

/* ---- the replica id (replica.c), for open.c ---- */

/* Read the replica id, making one if the store has none yet. */
int replica_id_load(struct store *st);

/* ---- records in segments (segment.c) ----
 * magic, crc32c of everything after the crc field, payload length, message
 * count, topic, topic byte offset, first message offset, arrival ns. */

#define REC_MAGIC 0x31524653u       /* "SFR1" little-endian */
#define REC_HDR 48
#define SEG_MAX (64ull << 20)       /* roll to a new segment beyond this */
#define IOV_MAX_APPEND 8          /* payload pieces per record */

struct rec_header {
	uint32_t magic;
	uint32_t crc;
	uint32_t len;           /* payload and trailer */
	uint32_t nmsgs;         /* without the flag bit */
	uint32_t flags;         /* REC_F_*: the top bit of the count field */
	uint64_t topic;
	uint64_t off;
	uint64_t msg;
	int64_t ns;
};
/* The record's payload is followed by a Kafka trailer (kmsg.c): keys,
 * headers and CreateTimes of its messages; its last 4 bytes give its
 * length.  Kept in the top bit of the message count. */
#define REC_F_KAFKA 0x1u
/* A trailer ends with its length (4, itself included) and "SFK1" (4). */
#define REC_TRAILER_MAGIC 0x314b4653u
#define REC_TRAILER_TAIL 8
/* "SFK2": the same, and an idempotent producer's tag (kproducer.c) lies
 * right before the length: producer id(8), epoch(2), first and last
 * sequence(4 each) of the batch the record ends. */
#define REC_TRAILER_MAGIC_PRODUCER 0x324b4653u
#define REC_PRODUCER_TAG 18
#define REC_NMSGS_MAX 0x7fffffffu
void rec_encode(char *hdr, const struct rec_header *h);
void rec_decode(const char *hdr, struct rec_header *h);
/* crc over header bytes 8..47 (crc field excluded) and the payload. */
uint32_t rec_crc(const char *hdr, const struct iovec *iov, int iovcnt);
/* 0 if the header and payload (len bytes right after it) are whole and
 * checked, -EIO if not. */
int rec_check(const char *rec, size_t avail, struct rec_header *h);
/* Bytes of payload of a checked record whose header h and h->len bytes
 * after it are in body: h->len unless it has a trailer, whose length is
 * then read from its end; -EIO if that does not fit. */
int64_t rec_payload_len(const struct rec_header *h, const char *body);
/* The same from segment descriptor fd, the record's header at pos. */
int64_t rec_payload_len_fd(const struct rec_header *h, int fd, uint64_t pos);

/* Record headers of one segment read in order, 64 KiB at a time (the
 * ttl scan, compaction).  The descriptor belongs to the segment table:
 * use it within one store call. */
struct rec_reader {
	int fd;
	uint64_t base;
	size_t len;
	char buf[65536];
};
int rec_reader_open(struct rec_reader *rr, struct store *st, uint64_t stream,
		    uint64_t seq);
/* The header of the record at pos: 1 if a whole-looking record (magic,
 * length within end) starts there, else 0. */
int rec_reader_at(struct rec_reader *rr, uint64_t pos, uint64_t end,
		  struct rec_header *h);

/* Append hdr+payload (arrival ns) to the active segment of stream;
 * returns where, and the stream's state after it.  *late: ns is older
 * than a record already in the stream's segments. */
int seg_append(struct store *st, uint64_t stream, char *hdr,
	       const struct iovec *iov, int iovcnt, size_t len, int64_t ns,
	       bool sync, uint64_t *seq, uint64_t *off,
	       struct seg_state *state, bool *late);
/* Forget the last append of stream, from off on (the index could not
 * record it); with durable, the cut is synced too. */
void seg_unappend(struct store *st, uint64_t stream, uint64_t off,
		  bool durable);
/* 0 if stream can take appends, -EROFS if a failed write-back lost some of
 * its data for good (segment.c). */
int seg_usable(struct store *st, uint64_t stream);
/* A descriptor to read segment (stream, seq); owned by the table. */
int seg_fd(struct store *st, uint64_t stream, uint64_t seq);
/* fdatasync every segment written since the last call; records the synced
 * positions in batch. */
int seg_sync_all(struct store *st, leveldb_writebatch_t *batch);
void seg_close_all(struct store *st);
/* A sync of the active segments whose flush needs no lock: plan (under
 * it) notes each unsynced writer's segment with a descriptor of its own,
 * run (without it) flushes them, done (under it) records what reached
 * the disk and puts the segment states into batch.  plan returns how many
 * it noted, or -1 when the sync must be made in full under the lock (a
 * failed sync to write again, sealed segments to sync, too many). */
struct seg_flush {
	uint64_t stream, seq, end;
	int fd;
	int err;
};
int seg_flush_plan(struct store *st, struct seg_flush *items, int max);
void seg_flush_run(struct seg_flush *items, int n);
int seg_flush_done(struct store *st, const struct seg_flush *items, int n,
		   leveldb_writebatch_t *batch);
/* Path of a segment relative to segdirfd. */
void seg_path(char *buf, size_t cap, uint64_t stream, uint64_t seq);
/* How far segment (stream, seq) holds indexed records: the writer's end
 * for the active one (*active true), the file's size for a sealed one.
 * -ENOENT if it does not exist. */
int seg_extent(struct store *st, uint64_t stream, uint64_t seq,
	       uint64_t *end, bool *active);
/* The stream's active segment number, 0 if it has none yet. */
uint64_t seg_active(struct store *st, uint64_t stream);
/* Sync the stream's segments written so far (copies made by compaction
 * must be on disk before the index points at them). */
int seg_sync_stream(struct store *st, uint64_t stream);
/* Delete sealed segment (stream, seq): its reader is closed first, so
 * its space is freed at once. */
int seg_remove(struct store *st, uint64_t stream, uint64_t seq);

/* ---- the index batch (index.c) ----
 * An append's index entry waits in memory with up to INDEX_BATCH_MAX - 1
 * others for one LevelDB write.  The entries stay in memory until that
 * write has succeeded, and reads find them here (index_find). */

#define INDEX_BATCH_MAX 256

/* The late-record key (Q) of a record that arrived out of time order in
 * a stream with a ttl: expiry finds it by its time (retention.c). */
void late_put(leveldb_writebatch_t *b, uint64_t stream, uint64_t ino,
	      const struct idx_entry *e);

/* Put the LevelDB records of one index entry of topic ino into b: its T
 * key and, when it is the topic's first record in that segment, the W
 * key naming the topic as a user of the segment. */
void index_put(leveldb_writebatch_t *b, uint64_t ino,
	       const struct idx_entry *e, bool new_segment_user);
/* 0 if one more entry fits in the batch (flushing it first if full). */
int index_room(struct store *st);
/* Add an appended record's entry and the stream's new segment state
 * (with late, its Q key too).
 * Call index_room() first.  Without sync this cannot fail (a full batch
 * is written by the next index_room()); with sync (the record is synced
 * already) the batch is written durably at once when LevelDB holds an
 * unsynced write recovery could not rebuild (else the entry waits, as
 * recovery would index the synced record again), and if that fails the
 * entry is taken out again and -errno returned (the caller cuts its
 * record back). */
int index_add(struct store *st, uint64_t ino, const struct idx_entry *e,
	      const struct seg_state *ss, bool new_segment_user, bool late,
	      bool sync);
/* Write the batch (with sync: durably, also when empty).  On failure the
 * entries stay in memory.  0 or -errno. */
int index_flush(struct store *st, bool sync);
/* index_flush with one more put (key k, value v) in the same LevelDB
 * write as the waiting entries (a Kafka producer's state, kproducer.c):
 * written with them or, if the write fails, not at all. */
int index_flush_with(struct store *st, const char *k, size_t klen,
		     const char *v, size_t vlen, bool sync);
/* The waiting entries of topic ino, oldest first: each call returns the
 * next one from position *pos on (start at 0) and moves *pos past it;
 * NULL when there are no more. */
const struct idx_entry *index_waiting(struct store *st, uint64_t ino,
				      unsigned *pos);
/* How many entries wait (for tests). */
unsigned index_waiting_count(const struct store *st);
void index_batch_free(struct store *st);

/* ---- the segment table (segtab.c) ----
 * Every segment's size (once sealed) and an estimate of its dead bytes
 * (records no index entry points at: expired, deleted with their topic,
 * copied forward), kept in G keys; and each stream's ttl, for the append
 * path and the ttl scanners.  Dead bytes only decide which segments
 * compaction looks at; what it copies or deletes it checks record by
 * record (compact.c), so an estimate that is off never loses data. */

/* Dead bytes counted by one operation, applied to the table only once its
 * LevelDB batch is written (dead_put, then dead_commit). */
#define DEAD_MAX 16
struct dead_list {
	unsigned n;
	bool overflow;          /* more segments than fit: the rest uncounted */
	struct { uint64_t stream, seq, bytes; } d[DEAD_MAX];
};
void dead_add(struct dead_list *dl, uint64_t stream, uint64_t seq,
	      uint64_t bytes);
/* Put the G keys the list changes into b. */
void dead_put(struct store *st, const struct dead_list *dl,
	      leveldb_writebatch_t *b);
/* The batch was written: the table takes the counts. */
void dead_commit(struct store *st, const struct dead_list *dl);

/* Call fn for every stream that holds segments, with its segment state
 * (the S keys, in stream order); stops at the first non-zero return. */
int segtab_each_stream(struct store *st,
		       int (*fn)(struct store *, uint64_t stream,
				 struct seg_state *, void *), void *arg);
/* At open: the segment files of stream (state s), and the G keys. */
int segtab_add_stream(struct store *st, uint64_t stream,
		      const struct seg_state *s);
int segtab_load_dead(struct store *st);
void segtab_free(struct store *st);
/* Segment (stream, seq) was sealed at size bytes. */
void segtab_sealed(struct store *st, uint64_t stream, uint64_t seq,
		   uint64_t size);
/* Segment (stream, seq) is gone (deleted; its G key too). */
void segtab_removed(struct store *st, uint64_t stream, uint64_t seq);
/* The dead-byte estimate of a segment (0 if unknown). */
uint64_t segtab_dead(struct store *st, uint64_t stream, uint64_t seq);
/* A writer for stream was made: its ttl is looked up by the next
 * retention step (segtab_take_seen). */
void segtab_seen(struct store *st, uint64_t stream);
/* Take one stream noted by segtab_seen: 1 and *stream, or 0. */
int segtab_take_seen(struct store *st, uint64_t *stream);
/* A stream's ttl in seconds (0: none), as its policy says. */
uint64_t segtab_ttl(struct store *st, uint64_t stream);
void segtab_set_ttl(struct store *st, uint64_t stream, uint64_t ttl_s);
/* The sealed segment with the smallest live share below 2/3, for
 * compaction, among those skip (if given) does not rule out: 1 and
 * (stream, seq), or 0 if none. */
int segtab_worst(struct store *st,
		 bool (*skip)(struct store *, uint64_t stream, uint64_t seq),
		 uint64_t *stream, uint64_t *seq);
/* Call fn for every stream with a ttl (fn returns non-zero to stop). */
int segtab_each_ttl(struct store *st,
		    int (*fn)(struct store *, uint64_t stream, uint64_t ttl,
			      void *), void *arg);

/* ---- expiring a topic's head (expire.c) ---- */

/* An expiry step (struct store_expiry, begun and ended through store.h)
 * holds the batch of deletes, the dead bytes, the topics touched (so that
 * several records of one topic in a step continue where the last
 * stopped), and one LevelDB iterator over the index, made at the first
 * expiry after the index batch is written (expiry_ready; call it before
 * reading the index in a step).  store_expiry_end writes the step
 * durably (expired messages must not come back after a power cut). */
int expiry_ready(struct store_expiry *x);
/* Expire the head of topic ino: entries that end at or before `through`
 * and arrived before `before_ns`. */
int expiry_through(struct store_expiry *x, uint64_t ino, uint64_t through,
		   int64_t before_ns);
leveldb_writebatch_t *expiry_batch(struct store_expiry *x);
/* Drop the step unwritten; frees x. */
void expiry_abort(struct store_expiry *x);

/* The head record of a topic whose every entry has expired. */
struct topic_head {
	uint64_t off, msg;
	int64_t ns;
};
#define HEAD_SIZE 24
void head_encode(char *buf, const struct topic_head *h);
int head_decode(const char *buf, size_t len, struct topic_head *h);

/* ---- the retention scheduler (retention.c) ---- */
/* Read every stream's ttl at open. */
int retention_init(struct store *st);
void retention_free(struct store *st);

/* ---- copying live records forward (compact.c) ---- */

/* One step of compacting segment (stream, seq): up to `budget` bytes of
 * live records copied to the stream's active segment; 1 while there is
 * more to do, 0 when the segment has been deleted, -errno. */
int compact_step(struct store *st, uint64_t stream, uint64_t seq,
		 uint64_t *pos, uint64_t budget);
/* Delete sealed segment (stream, seq), which holds nothing live: its W and
 * G keys go in a synced write (which makes every earlier batch durable:
 * no entry can point into it after a power cut), then its file. */
int seg_delete(struct store *st, uint64_t stream, uint64_t seq);

/* ---- free space (space.c) ---- */

/* Free space was found gone (a write failed with ENOSPC or EDQUOT):
 * release the ballast so LevelDB can go on.  true if it released any. */
bool space_release_ballast(struct store *st);
/* Put the ballast in place if there is room (at open). */
void space_init(struct store *st);

/* ---- recovery (recover.c) ---- */
int store_recover(struct store *st, char *err, size_t errlen);

/* ---- reporting (report.c) ---- */

/* One log line through the caller's hook (stderr without one). */
void report_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* An event: its text (formatted, at ev->level) to the log, the event to
 * the caller's hook. */
void report_event(struct store_event *ev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The event kind of an errno met underneath: STORE_EV_NOSPACE for
 * ENOSPC and EDQUOT, else STORE_EV_IO. */
enum store_event_kind report_kind_of(int err);

/* ---- crc32c.c ---- */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

#endif
