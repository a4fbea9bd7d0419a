/* store.h - the only interface fs/ sees of the streamfs store.
 *
 * The store keeps the namespace, attributes, policies and topic indices in
 * LevelDB, message bytes in append-only segment files, and blob bytes in
 * plain files, all below one data folder.  Every function returns 0 (or a
 * count) on success and -errno on failure; none of them talks to FUSE.
 *
 * Thread safety: a struct store is not locked internally; the caller
 * (fs/) serialises all calls with its own lock.
 */
#ifndef STREAMFS_STORE_H
#define STREAMFS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

struct store;
struct store_batch;
struct idx_entry;

/* The kind of a regular file: decided by its first write, then fixed. */
enum sf_kind { SF_KIND_NONE = 0, SF_KIND_TOPIC = 1, SF_KIND_BLOB = 2 };

/* An inode record as LevelDB keeps it. */
struct sf_inode {
	uint64_t ino;
	uint32_t mode;          /* file type and permission bits */
	uint32_t uid, gid;
	uint32_t nlink;         /* directories: 2 + subdirectories */
	uint32_t kind;          /* regular files: enum sf_kind */
	uint32_t flags;         /* SF_INODE_* */
	uint64_t parent;        /* topics: the stream whose policies apply */
	uint64_t rdev;
	struct timespec atime, mtime, ctime;
};

/* A topic's mtime was set to a given time (touch -d): it is shown, instead
 * of the last arrival, until the next append clears the flag. */
#define SF_INODE_MTIME_SET 0x1

/* A topic's state, derived from its index (never stored on its own). */
struct sf_topic {
	uint64_t size;          /* end offset: where the next message starts */
	uint64_t start;         /* first live byte */
	uint64_t next_msg;      /* message offset the next message gets */
	uint64_t first_msg;     /* message offset of the first live message */
	int64_t first_ns;       /* arrival of the first live message, 0 if none */
	int64_t last_ns;        /* arrival of the last message, 0 if none */
	uint64_t seg_stream;    /* the segment this topic last wrote into */
	uint64_t seg_seq;
};

/* One record of a topic (one append), as its index entry describes it. */
struct sf_record {
	uint64_t off;           /* topic byte offset of its first byte */
	uint32_t len;           /* bytes */
	uint32_t nmsgs;         /* messages: several only with line framing,
				 * each then ending in a newline */
	uint64_t msg;           /* message offset of its first message */
	int64_t ns;             /* arrival time, ns since the epoch */
};

/* Stream policies (docs/design.md, "Attributes"). */
enum sf_framing { SF_FRAMING_LINE = 0, SF_FRAMING_WRITE = 1 };
enum sf_durability { SF_DUR_OS = 0, SF_DUR_BATCH = 1, SF_DUR_ALWAYS = 2 };

struct sf_policy {
	uint32_t framing;
	uint32_t durability;
	uint64_t max_message;
	uint64_t ttl_s;
	uint64_t retention_bytes;
	uint32_t autocreate;    /* 1: Kafka clients make missing topics */
};

#define SF_POLICY_PREFIX "user.streamfs."
#define SF_MAX_MESSAGE_DEFAULT (1u << 20)
#define SF_MAX_MESSAGE_LIMIT (64u << 20)

/* Scratch space for one topic read; reused across reads by one thread. */
struct sf_readbuf {
	char *buf;
	size_t cap;
	struct iovec *iov;
	int iovcnt;
	int iovcap;
	size_t bytes;           /* total bytes described by iov */
};

/* ---- opening and closing (db.c) ---- */

/* Open (creating if needed) the store in DATADIR and recover it.  On failure
 * returns -errno and writes a one-line reason to err. -EBUSY means another
 * process has the store open (already mounted). */
int store_open(const char *datadir, uint64_t reserve, struct store **out,
	       char *err, size_t errlen);
/* Make everything durable and close. */
void store_close(struct store *st);

/* A fresh inode number, never reused, in *ino: 0 or -errno (the chunk
 * of numbers could not be recorded). */
int store_alloc_ino(struct store *st, uint64_t *ino);
/* A new inode's record was committed: one more in statfs's f_files.
 * store_purge_inode counts one less. */
void store_inode_added(struct store *st);

/* The data folder's file system's figures; inodes are this store's. */
int store_statfs(struct store *st, struct statvfs *sv);
/* -ENOSPC if writing `need` more bytes would eat into the reserve. */
int store_space_check(struct store *st, uint64_t need);

/* ---- namespace records (db.c) ---- */

int store_get_inode(struct store *st, uint64_t ino, struct sf_inode *out);
/* The inode a directory entry names: 0, -ENOENT or -EIO. */
int store_lookup(struct store *st, uint64_t dir, const char *name,
		 uint64_t *ino);
/* 1 if the directory has no entries, 0 if it has, -errno on error. */
int store_dir_is_empty(struct store *st, uint64_t dir);
/* A symlink's target, malloc'd and NUL-terminated, in *out. */
int store_get_symlink(struct store *st, uint64_t ino, char **out);
/* An attribute's value, malloc'd, in *val / *len; -ENODATA if absent. */
int store_get_xattr(struct store *st, uint64_t ino, const char *name,
		    char **val, size_t *len);
/* Calls fn for each attribute name of ino; stops early when fn returns
 * non-zero and returns that value. */
int store_list_xattr(struct store *st, uint64_t ino,
		     int (*fn)(const char *name, size_t len, void *arg),
		     void *arg);

/* Directory listing, resumable by position. */
struct store_dirit;
struct store_dirit *store_dirit_open(struct store *st, uint64_t dir);
/* Next entry: 1 and fills the out values, 0 at the end, -errno on error.
 * The name stays valid until the next call. */
int store_dirit_next(struct store_dirit *it, const char **name, size_t *nlen,
		     uint64_t *ino, uint32_t *dtype);
void store_dirit_close(struct store_dirit *it);

/* ---- atomic batches of namespace changes (db.c) ---- */

struct store_batch *store_batch_new(void);
void store_batch_free(struct store_batch *b);
void store_put_inode(struct store_batch *b, const struct sf_inode *in);
void store_del_inode(struct store_batch *b, uint64_t ino);
void store_put_dirent(struct store_batch *b, uint64_t dir, const char *name,
		      uint64_t ino, uint32_t dtype);
void store_del_dirent(struct store_batch *b, uint64_t dir, const char *name);
void store_put_xattr(struct store_batch *b, uint64_t ino, const char *name,
		     const void *val, size_t len);
void store_del_xattr(struct store_batch *b, uint64_t ino, const char *name);
void store_put_symlink(struct store_batch *b, uint64_t ino,
		       const char *target);
void store_put_orphan(struct store_batch *b, uint64_t ino);
void store_del_orphan(struct store_batch *b, uint64_t ino);
/* Apply a batch atomically; with sync, durably. */
int store_commit(struct store *st, struct store_batch *b, bool sync);

/* Remove everything an inode owns (attributes, symlink target, topic index,
 * consumer group cursors, blob file, orphan mark) and the inode record. */
int store_purge_inode(struct store *st, uint64_t ino);

/* ---- topics (topic.c) ---- */

int store_topic_load(struct store *st, uint64_t ino, struct sf_topic *t);
/* Append one record of `nmsgs` messages, `len` bytes gathered from iov, to
 * topic ino in the segments of `stream`.  Updates *t.  On failure nothing
 * is appended (-ENOSPC, -EIO, ...). */
int store_topic_append(struct store *st, uint64_t ino, uint64_t stream,
		       struct sf_topic *t, const struct iovec *iov, int iovcnt,
		       size_t len, uint32_t nmsgs, bool sync);
/* Append a record restored from an export: as store_topic_append, with
 * the record's own arrival time and offsets.  ns must be > 0, not before
 * the topic's last arrival and not in the future; off and msg must be the
 * topic's end (t->size, t->next_msg), or anything while the topic has
 * never held a record, so that a restored topic can start past 0.
 * -EINVAL (nothing appended) when they do not fit. */
int store_topic_restore(struct store *st, uint64_t ino, uint64_t stream,
			struct sf_topic *t, const struct iovec *iov,
			int iovcnt, size_t len, uint32_t nmsgs, int64_t ns,
			uint64_t off, uint64_t msg, bool sync);
/* Describe bytes [off, off+len) of a topic in rb->iov (zeros for expired
 * bytes).  Every record served is checked against its checksum first;
 * a damaged one gives -EIO. */
int store_topic_read(struct store *st, uint64_t ino, const struct sf_topic *t,
		     uint64_t off, size_t len, struct sf_readbuf *rb);
void store_readbuf_free(struct sf_readbuf *rb);
/* Byte offset where message msg starts: 0, or -ENXIO if there is none. */
int store_topic_seek_message(struct store *st, uint64_t ino,
			     const struct sf_topic *t, uint64_t msg,
			     uint64_t *off);
/* Byte offset of the first message that arrived at or after ns (the
 * topic's size when none did). */
int store_topic_seek_time(struct store *st, uint64_t ino,
			  const struct sf_topic *t, int64_t ns, uint64_t *off);
/* The records of topic ino in order, from the one that holds byte off
 * (the first live one when off is before it): up to max of them into out.
 * Returns how many (0 when off is at or past the end), or -errno (-EIO
 * for a gap in the index). */
int store_topic_records(struct store *st, uint64_t ino,
			const struct sf_topic *t, uint64_t off,
			struct sf_record *out, size_t max);
/* Make every append so far durable (segments, then LevelDB). */
int store_sync(struct store *st);
/* Make every append so far durable, with as little as that takes: the
 * segments, and LevelDB only if it holds an unsynced write that recovery
 * could not rebuild from them (fsync, durability=batch). */
int store_sync_data(struct store *st);
/* store_sync_data in three parts, so that the disk flush needs no lock:
 * begin (under the caller's lock) writes the index batch and notes what
 * to flush; flush (without the lock) flushes; end (under it again)
 * records what reached the disk and returns the sync's result (0 or
 * -errno), as store_sync_data would.  Every append made before begin is
 * durable once end returns 0.  end frees f; call it also when begin
 * failed (with f not NULL). */
struct store_flush;
int store_sync_begin(struct store *st, struct store_flush **f);
void store_sync_flush(struct store_flush *f);
int store_sync_end(struct store *st, struct store_flush *f);
/* 0 and the message offset that starts there in *msg if byte off is a
 * message boundary of the topic: t->start (*msg = t->first_msg), t->size
 * (t->next_msg), the start of a record, or, in a record of several lines,
 * right after one of its newlines.  -EINVAL otherwise (also outside
 * [t->start, t->size]). */
int store_topic_boundary(struct store *st, uint64_t ino,
			 const struct sf_topic *t, uint64_t off,
			 uint64_t *msg);

/* ---- Kafka messages (kmsg.c) ----
 * A batch produced by a Kafka client is one record: the values as its
 * payload (what file readers see) and, after it, a trailer with each
 * message's key, headers and CreateTime (docs/format.md). */

struct sf_kmsg {
	uint64_t msg;           /* read: its message offset */
	int64_t ts;             /* ms since the epoch.  Append: the
				 * CreateTime, -1 for none.  Read: that
				 * CreateTime, else the arrival time */
	bool create_time;       /* read: ts is the producer's */
	const void *value;
	uint32_t value_len;     /* read: without the newline of a line */
	const void *key;
	int32_t key_len;        /* -1: null key */
	const void *headers;    /* the record headers' raw bytes, as Kafka's
				 * record encodes them after their count */
	uint32_t headers_len;
	int32_t nheaders;
	bool null_value;        /* the producer's value was null (value_len
				 * 0): a line holds an empty line for it */
};

/* Append n messages (1 to 65536) as one record of topic ino.  With
 * lines, each value becomes one line: a newline is added unless it ends
 * with one, and a value with a newline before its end gives -EINVAL;
 * without lines, n must be 1 (write framing: one message per record).
 * *base gets the message offset of the first.  Otherwise as
 * store_topic_append. */
int store_kafka_append(struct store *st, uint64_t ino, uint64_t stream,
		       struct sf_topic *t, const struct sf_kmsg *m, size_t n,
		       bool lines, bool sync, uint64_t *base);

/* An idempotent producer's batch, as the record that ends it carries it
 * (recovery rebuilds the producer's state from it, kproducer.c). */
struct sf_ptag {
	int64_t pid;
	int16_t epoch;
	int32_t first_seq, last_seq;
};
/* store_kafka_append, and with tag (not NULL) the record carries it in
 * its trailer: give it to the last record of a producer's batch. */
int store_kafka_append_tagged(struct store *st, uint64_t ino,
			      uint64_t stream, struct sf_topic *t,
			      const struct sf_kmsg *m, size_t n, bool lines,
			      bool sync, const struct sf_ptag *tag,
			      uint64_t *base);

/* Messages read with their metadata; pointers into buf. */
struct sf_kread {
	struct sf_kmsg *m;
	size_t n, cap;
	struct sf_readbuf rb;
};
/* The messages of topic ino from message offset msg on, whole records
 * until about max_bytes of them (at least one message).  With lines, a
 * value's last newline is left out.  Messages appended through the mount
 * have a null key, no headers and their arrival time.  -ENXIO when msg
 * is not a live message (before t->first_msg, at or past t->next_msg). */
int store_kafka_read(struct store *st, uint64_t ino, const struct sf_topic *t,
		     uint64_t msg, size_t max_bytes, bool lines,
		     struct sf_kread *out);
void store_kread_free(struct sf_kread *r);

/* ---- Kafka idempotent producers (kproducer.c) ----
 * Per topic and producer id, the producer's epoch and its most recent
 * batches, oldest first, each with the message offset it was given. */

#define SF_PRODUCER_BATCHES 5

struct sf_pbatch {
	int32_t first_seq, last_seq;
	uint64_t base;
};

struct sf_producer {
	int16_t epoch;
	unsigned n;                     /* batches in b, at most 5 */
	struct sf_pbatch b[SF_PRODUCER_BATCHES];
};

/* A new producer id (0, 1, 2, ...), never one handed out before: the
 * counter is written synced first.  0 or -errno. */
int store_producer_id_next(struct store *st, int64_t *pid);
/* The state of producer pid on topic ino: 0, -ENODATA when it has none,
 * -EIO when it does not decode. */
int store_producer_get(struct store *st, uint64_t ino, int64_t pid,
		       struct sf_producer *out);
/* Write the state of producer pid on topic ino in the same LevelDB write
 * as the index entries waiting (the append it describes, made just
 * before), synced with sync.  0 or -errno (then nothing is written, and
 * the entries wait on). */
int store_producer_put(struct store *st, uint64_t ino, int64_t pid,
		       const struct sf_producer *p, bool sync);
/* Add a batch to p, forgetting the oldest when it holds 5. */
void store_producer_note(struct sf_producer *p, int32_t first, int32_t last,
			 uint64_t base);

/* ---- consumer group cursors (cursor.c) ----
 * Each (topic, group) has at most one committed cursor.  Group names are
 * 1 to SF_GROUP_MAX bytes of [A-Za-z0-9._-], not "." or ".."; the
 * functions below give -EINVAL for others. */

#define SF_GROUP_MAX 200

struct sf_cursor {
	uint64_t off;           /* committed byte offset (a message boundary) */
	uint64_t msg;           /* message offset that starts there */
	int64_t ns;             /* commit time, ns since the epoch */
};

/* 0 if group is a valid group name, else -EINVAL. */
int store_cursor_name_check(const char *group);
/* A cursor below the topic's first live byte reads as that byte (its
 * head expired), one past its end as the end. */
void store_cursor_clamp(const struct sf_topic *t, struct sf_cursor *c);
/* The cursor of group on topic ino, clamped to t unless t is NULL;
 * -ENODATA if there is none. */
int store_cursor_get(struct store *st, uint64_t ino, const struct sf_topic *t,
		     const char *group, struct sf_cursor *out);
/* Store c as group's cursor (with sync: durably), dropping its removal
 * if one is kept.  c is taken as given: check it with
 * store_topic_boundary first. */
int store_cursor_set(struct store *st, uint64_t ino, const char *group,
		     const struct sf_cursor *c, bool sync);
/* Remove group's cursor: 0, or -ENODATA if there is none.  The removal
 * is kept (a tombstone, for replication) with its time: now, or just
 * after the removed cursor's commit time when the clock is behind it. */
int store_cursor_delete(struct store *st, uint64_t ino, const char *group,
			bool sync);
/* Remove group's cursor, if any, as a removal made at time ns (another
 * replica's, taken by the caller's rule) and keep that removal. */
int store_cursor_remove_at(struct store *st, uint64_t ino, const char *group,
			   int64_t ns, bool sync);
/* The time group's cursor was removed (its tombstone): 0, or -ENODATA
 * when none is kept (never removed, or committed since). */
int store_cursor_gone_get(struct store *st, uint64_t ino, const char *group,
			  int64_t *ns);
/* Call fn for each removal kept of topic ino in group-name order, as
 * store_cursor_list.  Removals are never cursors: the functions above
 * list and get only the cursors. */
int store_cursor_gone_list(struct store *st, uint64_t ino,
			   int (*fn)(const char *group, int64_t ns, void *arg),
			   void *arg);
/* Call fn for each cursor of topic ino in group-name order (clamped to t
 * unless t is NULL); stops early when fn returns non-zero and returns
 * that value. */
int store_cursor_list(struct store *st, uint64_t ino,
		      const struct sf_topic *t,
		      int (*fn)(const char *group, const struct sf_cursor *c,
				void *arg),
		      void *arg);

/* ---- retention (expire.c, retention.c) ---- */

/* A topic's head moved: its first live byte, message and arrival (0 once
 * nothing is live; the topic's end stays where it was). */
typedef void (*store_expired_fn)(void *arg, uint64_t ino, uint64_t start,
				 uint64_t first_msg, int64_t first_ns);
/* Expiring topics by size, several in one LevelDB write: begin, then
 * store_expiry_cap for each topic, then end, which writes the deletes
 * durably and tells fn of each topic whose head moved (nothing changes,
 * and fn hears nothing, if end fails). */
struct store_expiry;
struct store_expiry *store_expiry_begin(struct store *st);
/* Expire the oldest records of ino while its live bytes exceed cap (size
 * is the topic's end), and those that arrived before before_ns (0: none
 * by time).  The number of records expired, or -errno. */
int store_expiry_cap(struct store_expiry *x, uint64_t ino, uint64_t size,
		     uint64_t cap, int64_t before_ns);
int store_expiry_end(struct store_expiry *x, store_expired_fn fn, void *arg);
/* One bounded step of the store's own retention work: records past their
 * stream's ttl, segments left with nothing live (deleted), segments
 * mostly dead (their live records copied forward).  fn hears of every
 * topic whose head moved.  1 if more work is waiting, 0 if none, -errno. */
int store_reclaim(struct store *st, store_expired_fn fn, void *arg);
/* The streams that hold segments, up to max of them into out: how many
 * there are (may be more than max), or -errno. */
int store_streams(struct store *st, uint64_t *out, size_t max);
/* Stream dir's policies changed (or were read at mount). */
void store_policy_changed(struct store *st, uint64_t dir,
			  const struct sf_policy *p);
/* Segments roll to the next beyond this many bytes (default 64 MiB). */
void store_set_segment_size(struct store *st, uint64_t bytes);

/* ---- figures for the daemon's metrics (open.c, db.c) ---- */

/* What recovery did when the store opened (recover.c). */
struct store_recovery {
	uint64_t streams;               /* streams whose unsynced tails were read */
	uint64_t segments_cut;          /* segments cut back (torn or damaged) */
	uint64_t bytes_cut;             /* bytes cut off, or dropped with a
					 * segment after the damage */
	uint64_t records_reindexed;     /* whole records indexed again */
	uint64_t entries_dropped;       /* index entries past the last good
					 * record */
	uint64_t records_unindexed;     /* whole records that continue no
					 * topic (left as dead bytes) */
	uint64_t orphans_purged;        /* inodes unlinked while open */
	int64_t ns;                     /* how long it took */
};

/* Counts since the store opened; each only grows. */
struct store_stats {
	/* Expiry (ttl and retention_bytes): index entries deleted from the
	 * heads of topics, their messages and their bytes (headers
	 * excluded). */
	uint64_t records_expired, messages_expired, bytes_expired;
	/* Segment files deleted (nothing in them was live any more), and
	 * their sizes. */
	uint64_t segments_deleted, segment_bytes_deleted;
	/* Compaction: segments whose live records were copied forward (and
	 * then deleted), and the bytes copied (headers included). */
	uint64_t segments_compacted, bytes_copied;
	/* LevelDB batches written, those of them synced, and reopenings of
	 * LevelDB after a fault. */
	uint64_t db_writes, db_synced_writes, db_reopens;
	struct store_recovery recovery;
};

void store_get_stats(struct store *st, struct store_stats *out);

/* What LevelDB says of itself: its files and megabytes per level, and
 * per level the time spent compacting into it and what that read and
 * wrote (LevelDB keeps no count of compactions, and rounds these to
 * whole seconds and MiB). */
#define STORE_DB_LEVELS 7
struct store_db_stats {
	uint64_t files[STORE_DB_LEVELS];
	uint64_t bytes[STORE_DB_LEVELS];        /* whole MiB */
	uint64_t compaction_s[STORE_DB_LEVELS];
	uint64_t compaction_read[STORE_DB_LEVELS];      /* bytes, whole MiB */
	uint64_t compaction_written[STORE_DB_LEVELS];   /* bytes, whole MiB */
	uint64_t memory;                /* LevelDB's estimate, bytes */
};

/* 0, or -EIO while LevelDB is closed (healing). */
int store_db_stats(struct store *st, struct store_db_stats *out);

/* ---- blobs (blob.c) ---- */

/* Open the blob file of ino with open(2) flags (O_CREAT creates it). */
int store_blob_open(struct store *st, uint64_t ino, int flags);
int store_blob_stat(struct store *st, uint64_t ino, struct stat *out);
int store_blob_truncate(struct store *st, uint64_t ino, off_t size);
int store_blob_unlink(struct store *st, uint64_t ino);
/* fsync (or fdatasync) blob ino's descriptor fd, and make its name and
 * record durable.  *failed is the blob's memory of a failed sync: while
 * set, the whole file is written again first, so a sync never reports
 * success for pages a failed one may have dropped.  *named: the blob's
 * file name is known to be durable (its folder was synced after it was
 * made); the folders are synced only while it is false. */
int store_blob_sync(struct store *st, uint64_t ino, int fd, bool datasync,
		    bool *failed, bool *named);

/* ---- policies (policy.c) ---- */

extern const char *const sf_policy_names[];   /* NULL-terminated */
void policy_defaults(struct sf_policy *p);
/* Parse one policy value (name without the prefix) into p.  -ENOENT if
 * name is not a policy, -EINVAL if the value is malformed (p unchanged). */
int policy_parse(const char *name, const char *val, size_t len,
		 struct sf_policy *p);
/* Canonical text of one policy into buf; returns its length. */
int policy_format(const char *name, const struct sf_policy *p, char *buf,
		  size_t cap);
/* The policies stored on directory dir (defaults for those not set). */
int store_get_policy(struct store *st, uint64_t dir, struct sf_policy *p);

/* ---- replication (replica.c) ----
 * Each data folder has a replica id (64 random bits, not 0), made when
 * the store is first asked for it and kept in LevelDB.  A topic has one
 * home, the replica id where it was created; only its home appends to it
 * (fs/ refuses other appends with EROFS), and other replicas take its
 * records with the offsets and times they were given there. */

/* This store's replica id (made and written synced the first time). */
int store_replica_id(struct store *st, uint64_t *id);
/* The home of topic ino: the id kept for it, this store's own id when
 * none is kept. */
int store_topic_home(struct store *st, uint64_t ino, uint64_t *home);
/* Keep home as the home of topic ino, durably before it returns.
 * -EINVAL for 0. */
int store_topic_set_home(struct store *st, uint64_t ino, uint64_t home);

/* A hand-over of a topic's home to this replica, asked and not yet done
 * (fs/replica/handover.c), kept so that a restart resumes it.  One per
 * topic; it goes with the topic's purge. */
#define SF_HANDOVER_NAME_MAX 255
struct sf_handover {
	uint64_t ino;                   /* the topic */
	uint64_t stream;                /* its stream when it was asked */
	uint64_t home;                  /* its home then: the replica asked */
	bool handed;                    /* that replica answered HANDED, */
	uint64_t end, next;             /* with its final end (handed only) */
	char name[SF_HANDOVER_NAME_MAX + 1];    /* its name when asked */
};
/* Keep h (replacing the one of h->ino), durably before it returns.
 * -EINVAL for an empty or too long name, or a home or stream of 0. */
int store_handover_put(struct store *st, const struct sf_handover *h);
/* Drop the hand-over of topic ino, durably: 0 also when there is none. */
int store_handover_del(struct store *st, uint64_t ino);
/* Call fn for each hand-over kept, by topic number; stops at fn's first
 * non-zero and returns it.  -EIO for a record that does not decode. */
int store_handover_list(struct store *st,
			int (*fn)(const struct sf_handover *h, void *arg),
			void *arg);

/* A topic's birth: the replica it was first made at and when (ns since
 * the epoch, that replica's clock).  Set once, copied unchanged by every
 * replica, kept through renames, mode changes and hand-overs: it tells a
 * topic from another one of the same name.  Births are ordered by time,
 * then replica id (sf_birth_cmp: <0, 0, >0). */
struct sf_birth {
	uint64_t replica;
	int64_t ns;
};
int sf_birth_cmp(const struct sf_birth *a, const struct sf_birth *b);
/* The birth kept for topic ino: 0; 1 when none is kept (a topic from
 * before births), with the one derived for it in *b: its home and its
 * inode's ctime now (not kept: store_topic_set_birth keeps it). */
int store_topic_birth(struct store *st, uint64_t ino, struct sf_birth *b);
/* Keep b as the birth of topic ino, durably before it returns.  -EINVAL
 * for a replica id of 0. */
int store_topic_set_birth(struct store *st, uint64_t ino,
			  const struct sf_birth *b);
/* Keep home and birth of topic ino (one replication made) in one write,
 * durably before it returns.  -EINVAL for a 0 id. */
int store_topic_set_origin(struct store *st, uint64_t ino, uint64_t home,
			   const struct sf_birth *b);
/* Into batch bt: a birth made here, now, for topic ino, unless it has
 * one kept already (a topic being made: the batch that makes it one). */
int store_put_birth_new(struct store *st, struct store_batch *bt,
			uint64_t ino);

/* One record as it travels between replicas: its place in the topic, its
 * arrival time and its exact segment payload (len bytes of the topic's
 * bytes, then trailer_len bytes of Kafka trailer, 0 for none). */
struct sf_rrecord {
	uint64_t off, msg;
	int64_t ns;
	uint32_t nmsgs, len, trailer_len;
	const void *bytes;
};
/* Records read for replication; bytes point into buf. */
struct sf_rread {
	struct sf_rrecord *r;
	size_t n, cap;
	struct sf_readbuf rb;
	struct idx_entry *ents;         /* private */
};
/* Whole records of topic ino from the one starting at off (a record
 * start, or t->start: then the first live record), at least one and
 * about max_bytes in all, each checked against its checksum (-EIO).
 * 0 with out->n records (0 when off is t->size), -EINVAL when off is no
 * record start within [t->start, t->size]. */
int store_topic_raw_read(struct store *st, uint64_t ino,
			 const struct sf_topic *t, uint64_t off,
			 size_t max_bytes, struct sf_rread *out);
void store_rread_free(struct sf_rread *r);
/* Store a record another replica holds, with its own offsets, time and
 * trailer, if it continues topic ino: 0 stored (t updated); 1 it ends at
 * or before the topic's end, or starts before its first live byte (held
 * already, or expired here: nothing done); -ERANGE it starts past the
 * end (a gap: nothing done), except while the topic has never held a
 * record (it then starts there, the bytes before reading as zeros);
 * -EINVAL a bad record (overlapping the end, time going back, msg not
 * the next message, a trailer that does not decode, lines not as many
 * as nmsgs, no bytes); -ENOSPC, -EIO as appends. */
int store_topic_replicate(struct store *st, uint64_t ino, uint64_t stream,
			  struct sf_topic *t, const struct sf_rrecord *r,
			  bool sync);

/* The source's first live record starts at off (message msg), past the
 * end of topic ino here: its retention passed what this replica had.
 * What the topic holds live here expires (its live bytes must stay
 * contiguous), and it continues at off: the bytes before read as zeros,
 * as an expired head does, and the next record taken is the one at off.
 * One synced write; t updated.  0 (also when off/msg is the end
 * already), -EINVAL when off or msg is before the end, or only one of
 * them is at it. */
int store_topic_skip(struct store *st, uint64_t ino, struct sf_topic *t,
		     uint64_t off, uint64_t msg);

/* A replication link, kept in LevelDB: the local stream pushes to the
 * stream peer_stream of the replica listening at peer. */
#define SF_LINK_PAUSED 0x1u
#define SF_LINK_PEER_MAX 256
#define SF_LINK_PATH_MAX 1024
struct sf_link {
	uint64_t id;
	uint64_t stream;                /* local stream inode */
	char peer[SF_LINK_PEER_MAX];    /* HOST:PORT */
	char peer_stream[SF_LINK_PATH_MAX]; /* path under the peer's root */
	uint32_t flags;                 /* SF_LINK_* */
};
/* Keep a new link (durably); assigns l->id (1, 2, ..., never reused).
 * -EEXIST for a link of the same stream, peer and peer_stream; -EINVAL
 * for an empty or unterminated peer or peer_stream. */
int store_link_add(struct store *st, struct sf_link *l);
/* -ENOENT if there is no such link. */
int store_link_del(struct store *st, uint64_t id);
int store_link_set_flags(struct store *st, uint64_t id, uint32_t flags);
/* All links by id, up to max into out: how many there are (may be more
 * than max), or -errno. */
int store_link_list(struct store *st, struct sf_link *out, size_t max);

/* ---- the streams another replica's links push in (feed.c) ----
 * Local stream `stream` receives the stream with id `source` (that
 * replica's own number for it) of replica `sender`. */
/* 0 with *source, or -ENOENT when none is noted. */
int store_feed_get(struct store *st, uint64_t stream, uint64_t sender,
		   uint64_t *source);
/* Note it (replacing the one noted), durably before it returns.
 * -EINVAL for a sender or source of 0. */
int store_feed_set(struct store *st, uint64_t stream, uint64_t sender,
		   uint64_t source);

/* ---- what the store reports (report.c) ----
 * Log lines and exceptional events go to hooks the caller sets once,
 * before store_open (recovery reports during it) and before any thread
 * runs.  Without hooks, lines go to stderr and events nowhere.  The hooks
 * are called from the thread that made the store call, with the caller's
 * lock held: they must neither block nor call into the store. */

enum sf_log_level { SF_LOG_ERROR = 0, SF_LOG_WARNING = 1, SF_LOG_INFO = 2 };

enum store_event_kind {
	STORE_EV_CHECKSUM,      /* a record failed its checksum */
	STORE_EV_IO,            /* a write, sync or cut underneath failed */
	STORE_EV_NOSPACE,       /* no room: a write failed with ENOSPC or
				 * EDQUOT, the reserve refused an append, or
				 * the ballast was released */
	STORE_EV_LEVELDB,       /* LevelDB reported an error */
	STORE_EV_READ_ONLY,     /* LevelDB cannot write: writes are refused */
	STORE_EV_HEALED,        /* LevelDB was reopened: writes go on */
	STORE_EV_RECOVERY,      /* recovery cut a segment or indexed again */
};

/* One event; fields that do not apply are 0 (or NULL). */
struct store_event {
	enum store_event_kind kind;
	int level;              /* enum sf_log_level of its log line */
	const char *what;       /* the operation that met it: "read",
				 * "segment write", "leveldb write", ... */
	const char *action;     /* what was done about it */
	int err;                /* the errno underneath */
	uint64_t stream, seg;   /* the segment: stream inode and number */
	uint64_t off;           /* byte offset in the segment */
	uint64_t topic;         /* the topic's inode */
	uint64_t topic_off;     /* byte offset in the topic */
	const char *detail;     /* LevelDB's own message */
	/* recovery: bytes of the segment kept and cut, records indexed
	 * again, index entries dropped, whole records left unindexed */
	uint64_t good, cut;
	uint64_t reindexed, dropped, unindexed;
	const char *text;       /* its log line, or NULL for none */
};

struct store_hooks {
	void (*log)(void *arg, int level, const char *line);
	void (*event)(void *arg, const struct store_event *ev);
	void *arg;
};
void store_set_hooks(const struct store_hooks *hooks);

/* ---- what recovery did (recover.c) ---- */

/* What recovery did when the store opened (counted over all streams). */
void store_recovery_summary(const struct store *st,
			    struct store_recovery *out);

/* ---- checksums (crc32c.c) ---- */

/* CRC-32C (Castagnoli) of p[0..n), continuing crc (0 to start): the
 * checksum of segment records, shared with the Kafka listener, whose
 * record batches carry the same one.  Safe from any thread. */
uint32_t store_crc32c(uint32_t crc, const void *p, size_t n);

#endif
