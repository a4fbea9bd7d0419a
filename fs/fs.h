/* fs.h - what the files of the daemon share: the filesystem state, the
 * inode table's nodes, open-file handles, and each file's entry points,
 * in sections named for the file that defines them.
 *
 * Locks, and the one order they are taken in:
 *
 *   fs.lock  ->  nq.lock (notify.c: poll wake-ups, name invalidations)
 *   fs.lock  ->  gc.lock (group_commit.c: work for the group commit)
 *   fs.lock  ->  ev.lock (events.c: the errors stream's ring)
 *   fs.lock  ->  mx.lock (metrics.c: the newest metrics snapshot)
 *   fs.lock  ->  kl.lock (kafka/listener.c: topics appended to, for
 *                         the parked Kafka requests; a leaf)
 *   fs.lock  ->  rp.lock (replica/replica.c: the replication links and
 *                         their status, the appends they wait for; a
 *                         leaf)
 *   any lock ->  log.lock (log.c: one log line's write; a leaf)
 *
 * (retention.c's thread waits on a condition variable with fs.lock: it
 * adds no lock.)  ev.lock is also taken alone (by the events thread, and
 * for a request's denial after fs.lock is dropped); a thread that holds
 * it takes no other lock, and the events thread calls sysstream_append
 * without it.
 *
 * nq.lock and gc.lock are never held together, and a thread that holds
 * either never takes fs.lock (the notify and group commit threads drop
 * theirs first; the notify thread takes fs.lock to walk a directory; an
 * operation that appended takes nq.lock again after dropping fs.lock, to
 * send the poll wake-ups it queued).  fs.lock is held by every operation
 * handler (ops.c takes it) for the whole of its work on nodes, handles and
 * the store, by the group commit thread around its sync, and by the
 * retention thread for each of its steps.  Every field of struct node,
 * struct handle and the inode table below is guarded by fs.lock; the
 * fields of struct fs above the table are set before the session starts
 * and only read afterwards.
 */
#ifndef STREAMFS_FS_H
#define STREAMFS_FS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "ace.h"
#include "perm.h"
#include "sf_ioctl.h"
#include "store.h"

/* Names under a directory every caller may search: every name change goes
 * through this mount.  Names under other directories: 0 (entry_timeout_of). */
#define ENTRY_TIMEOUT 86400.0
#define ATTR_TIMEOUT 1.0        /* topics and files without a kind: 0 */
#define NAME_MAX_BYTES 255
#define SYMLINK_MAX 4095
#define XATTR_VALUE_MAX 65536

/* A stream's settings, cached on its directory's node (stream_cfg.c). */
#define STREAM_PERMS (ACE_PERM_COPY + 1)
struct stream_cfg {
	struct sf_policy policy;
	ace_t *ace[STREAM_PERMS];       /* NULL: mode bits decide */
};

/* A node: an inode the kernel holds references to, or that is open.
 * Guarded by fs.lock. */
struct node {
	uint64_t ino;
	uint64_t nlookup;        /* kernel references (lookup - forget) */
	uint32_t nopen;          /* open handles */
	bool unlinked;           /* last name gone; purge when unreferenced */
	bool known;              /* kind and parent below mirror the record */
	uint32_t kind;           /* enum sf_kind, as last written */
	uint64_t parent;         /* the stream of a topic, as last written */
	bool mtime_set;          /* topic: SF_INODE_MTIME_SET, as last written */
	struct sf_topic *topic;  /* topic state while open or recently, or NULL */
	struct stream_cfg *stream; /* directories: cached settings, or NULL */
	struct handle *pollers;  /* handles waiting in poll() for data */
	bool sync_failed;        /* blob: a sync failed; rewrite before next */
	bool blob_named;         /* blob: its file's name is durable */
	uint64_t home;           /* topic: its home replica id, 0 until
				  * read (home.c) */
	struct node *hnext;      /* hash chain */
};

/* An open file.  Guarded by fs.lock. */
struct handle {
	struct node *node;
	int flags;               /* open(2) flags */
	int fd;                  /* blob: backing file, else -1 */
	char *pending;           /* topic, line framing: partial line held */
	size_t plen, pcap;
	bool skip;               /* topic: dropping the rest of a line */
	bool split;              /* topic: last write was a full-sized piece */
	pid_t writer;            /* topic: who wrote last (see io_flush) */
	char *snap;              /* a generated file of /.streamfs: what its
				  * open made (sysstream_files.c), or NULL */
	size_t snaplen;
	struct timespec snaptime;
	uint64_t rpos;           /* topic: where the last read ended */
	bool restoring;          /* topic: pending holds restore's record */
	struct sf_restore restore;  /* the record SF_IOC_RESTORE named */
	struct fuse_pollhandle *ph;  /* kernel waiting for POLLIN */
	struct handle *poll_next;
};

struct fs {
	pthread_mutex_t lock;           /* see the top of this file */
	/* Set up before the session runs, read-only afterwards: */
	struct store *store;            /* calls into it: under lock */
	const char *datadir;            /* the data folder, absolute */
	struct fuse_session *se;
	uint64_t reserve;
	bool multithread;
	struct fuse_conn_info *conn;  /* the session's negotiated settings */
	/* The inode table (inode.c), under lock: */
	struct node **tab;
	size_t tab_size;
	size_t nnodes;
	size_t nhandles;                /* open files (file_io.c) */
};

extern struct fs fs;

/* ---- inode.c: the node table ---- */
int node_table_init(void);
void node_table_free(void);
struct node *node_find(uint64_t ino);
/* Find or add the node of ino (nlookup 0). NULL if out of memory. */
struct node *node_get(uint64_t ino);
/* The kernel forgot n references; frees the node when nothing holds it. */
void node_forget(uint64_t ino, uint64_t n);
/* Free a node nothing refers to any more (purging an unlinked inode). */
void node_release_if_unused(struct node *n);
/* Keep a node's copy of its record's kind and parent up to date, so the
 * append and read paths need not read the record. */
void node_note(struct node *n, const struct sf_inode *in);
/* store_put_inode, and the node's copy with it: every inode record the
 * daemon writes goes through here. */
void put_inode(struct store_batch *b, const struct sf_inode *in);
void stream_cfg_free(struct stream_cfg *cfg);
bool is_topic(const struct sf_inode *in);
void touch_ctime(struct sf_inode *in);
void touch_mtime(struct sf_inode *in);
/* Write an inode record (through put_inode). */
int inode_save(const struct sf_inode *in);
/* Save an inode whose kind was just decided (a topic loses blob ACEs,
 * and is born here now unless it has a birth already). */
int kind_save(const struct sf_inode *in);

/* ---- log.c: the daemon's log (times, levels; stderr, file or syslog) ---- */
/* Route libfuse's messages here; call first. */
void log_init(void);
/* After the command line: -f (lines to stderr) and -o syslog. */
void log_configure(bool foreground, bool use_syslog);
/* Open the log (DATADIR/streamfs.log, or syslog) unless it is stderr,
 * and write the lines kept until now to it: 0, or -1 after an error line
 * on the terminal. */
int log_open(const char *datadir);
/* The daemon serves: the terminal hears no more; detached, stderr itself
 * goes to the log file (or /dev/null under syslog). */
void log_serving(bool detached);
void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(int level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* The store's log hook (store_set_hooks). */
void log_store_hook(void *arg, int level, const char *line);
/* ns since the epoch as "2025-06-01T10:20:30.123Z"; its length. */
size_t log_stamp(int64_t ns, char *buf, size_t cap);
/* The start line: version, pid, data folder, mount point, options and
 * what recovery did. */
void log_start_line(const char *datadir, const char *mnt,
		    const char *options, const struct store_recovery *rec);

/* ---- events.c: the errors stream (/.streamfs/errors) ---- */
/* The store's event hook (store_set_hooks): any thread, any lock held. */
void events_store_hook(void *arg, const struct store_event *ev);
/* A denied operation (rate-limited per uid and op); any lock held. */
void events_denied(uid_t uid, pid_t pid, const char *op, uint64_t ino,
		   const char *perm, int err);
/* The thread that appends the queued lines: start once /.streamfs
 * exists; stop (it writes what is queued first) before the store
 * closes. */
int events_start(void);
void events_stop(void);

/* ---- mountpoint.c ---- */
/* Refuse a mount point that serves a live streamfs (-1, after one line on
 * stderr) and clear one a dead streamfs left; 0 to go on. */
int check_mountpoint(const char *mnt);

/* ---- caller.c ---- */
void caller_init(struct caller *c, fuse_req_t req);

/* ---- namespace.c ---- */
void fill_attr(const struct sf_inode *in, struct stat *st);
int attr_of(uint64_t ino, struct sf_inode *in, struct stat *st);
double attr_timeout_of(const struct sf_inode *in);
/* true if every caller may search a directory of this mode (search is
 * decided by mode bits only: all three x bits). */
bool searchable_by_all(uint32_t mode);
/* How long the kernel may keep a name under dir without asking the daemon:
 * a path walk through a directory not searchable by all always reaches
 * ns_lookup, which checks the caller's search permission. */
double entry_timeout_of(const struct sf_inode *dir);
void ns_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void ns_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void ns_forget_multi(fuse_req_t req, size_t count,
		     struct fuse_forget_data *forgets);
void ns_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ns_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		int to_set, struct fuse_file_info *fi);
void ns_readlink(fuse_req_t req, fuse_ino_t ino);
void ns_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode, dev_t rdev);
void ns_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode);
void ns_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void ns_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void ns_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name);
void ns_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags);
void ns_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	     const char *newname);
void ns_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ns_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void ns_releasedir(fuse_req_t req, fuse_ino_t ino,
		   struct fuse_file_info *fi);
void ns_statfs(fuse_req_t req, fuse_ino_t ino);
void ns_access(fuse_req_t req, fuse_ino_t ino, int mask);
void ns_create(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, struct fuse_file_info *fi);
/* Create an inode of the given mode in parent (used by mknod, mkdir,
 * symlink and create); `topic` when the create is for appending, so the
 * stream's topic permission decides. */
int ns_make(fuse_req_t req, fuse_ino_t parent, const char *name,
	    mode_t mode, dev_t rdev, const char *target, bool topic,
	    struct sf_inode *out, double *entry_timeout);
/* ns_make for a caller that is not a FUSE request's (the Kafka
 * listener's). */
int ns_make_as(struct caller *c, fuse_ino_t parent, const char *name,
	       mode_t mode, dev_t rdev, const char *target, bool topic,
	       struct sf_inode *out, double *entry_timeout);
/* unlink (want_dir false) or rmdir of name in parent, for a caller that
 * is not a FUSE request's (the Kafka listener's): the same checks and
 * result, 0 or -errno.  fs.lock held. */
int ns_remove_as(struct caller *c, fuse_ino_t parent, const char *name,
		 bool want_dir);
/* rename for a caller that is not a FUSE request's (replication's): the
 * same checks and result, 0 or -errno.  fs.lock held. */
int ns_rename_as(struct caller *c, fuse_ino_t parent, const char *name,
		 fuse_ino_t newparent, const char *newname, unsigned flags);
/* Reply with an entry for in (a name under a directory whose
 * entry_timeout_of is given), adding one kernel reference. */
void reply_entry(fuse_req_t req, const struct sf_inode *in,
		 double entry_timeout);

/* ---- stream_cfg.c: the stream settings cache ---- */
/* The policies of directory dir (cached on its node while it has one). */
int ns_policy(uint64_t dir, struct sf_policy *out);
/* Forget the cached settings of dir (its policies or ACEs changed). */
void ns_policy_changed(uint64_t dir);
/* The settings of stream dir; *owned when the caller must free them (the
 * directory has no node to cache them on). */
struct stream_cfg *stream_cfg_get(uint64_t dir, bool *owned, int *err);
/* The stored expression of perm on ino: *out NULL when there is none. */
int ace_load(uint64_t ino, int perm, ace_t **out);

/* ---- permission.c: what each operation asks of the caller ---- */
/* Each returns 0 if the caller may, -EACCES if not. */
int may_produce(struct caller *c, const struct sf_inode *topic);
int may_consume(struct caller *c, const struct sf_inode *topic);
/* A topic's metadata (kind, info): consume or produce suffices, as a
 * producer may describe the topic it writes to. */
int may_describe(struct caller *c, const struct sf_inode *topic);
int may_topic(struct caller *c, const struct sf_inode *dir);
int may_admin(struct caller *c, const struct sf_inode *dir);
/* Replicating stream dir to or from a peer (fs/replica/): copy of the
 * stream (fallback: owner). */
int may_copy(struct caller *c, const struct sf_inode *dir);
int may_blob(struct caller *c, const struct sf_inode *blob, int want);
int may_open(struct caller *c, const struct sf_inode *in, int flags);
/* Mode bits of in (PERM_* ored), ownership of in, the sticky rule of dir
 * for an entry of owner: 0, -EACCES or -EPERM. */
int may_mode(struct caller *c, const struct sf_inode *in, int want);
int may_own(struct caller *c, const struct sf_inode *in);
int may_sticky(struct caller *c, const struct sf_inode *dir, uid_t owner);
/* Note the outcome r of a check of perm on inode ino for the request
 * being served (the last check decides); returns r.  Every check above
 * goes through it. */
int permission_noted(struct caller *c, uint64_t ino, const char *perm,
		     int r);
/* The request (operation op) is over: report its denial, if the last
 * check denied (call without fs.lock). */
void denial_report(const char *op);

/* ---- file_io.c: open files, by kind ---- */
void io_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
/* After a create: open the new file (fills fi), 0 or -errno. */
int io_open_node(struct node *n, const struct sf_inode *in,
		 struct fuse_file_info *fi);
void io_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi);
void io_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	      off_t off, struct fuse_file_info *fi);
void io_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void io_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void io_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi);
void io_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		  off_t length, struct fuse_file_info *fi);
void io_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	      struct fuse_file_info *fi);
void io_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
	     struct fuse_pollhandle *ph);

/* ---- topic_io.c ---- */
/* The topic state of a node, loaded on first use. */
struct sf_topic *topic_state(struct node *n);
/* The last handle of n closed: its state stays for a while, so that the
 * next open (echo >> again) need not load it from the index. */
void topic_state_idle(struct node *n);
/* Keep n more bytes in h->pending: 0 or -ENOMEM. */
int handle_hold(struct handle *h, const char *p, size_t n);
int topic_write(struct handle *h, const struct sf_inode *in,
		const char *buf, size_t size, off_t off);
/* After an append to n (or a restored record): the group commit, pollers,
 * and a given mtime that the append now replaces. */
void topic_appended(struct node *n, const struct sf_policy *p);
int topic_flush(struct handle *h, const struct sf_inode *in);
void topic_read(fuse_req_t req, struct handle *h, size_t size, off_t off);
int topic_poll(struct handle *h, struct fuse_pollhandle *ph);
void topic_forget_poll(struct handle *h);

/* ---- home.c: topic homes (replication) ---- */
/* 0 if this replica is the home of topic ino (node n, or NULL), so
 * that it may append to it; else -EROFS and a log line naming the home
 * (what: "write", "Kafka produce", "restore").  fs.lock held. */
int topic_home_check(struct node *n, uint64_t ino, const char *what);
/* store_topic_set_home, and the node's copy with it: the home of a topic
 * replication makes.  fs.lock held. */
int topic_home_set(uint64_t ino, uint64_t home);
/* The birth of topic ino: the kept one (0); for a topic from before
 * births homed here, the derived one, kept now (0); for a copy from
 * before births homed elsewhere, the derived one, not kept (1: its
 * home's is not known here yet); -errno.  fs.lock held. */
int topic_birth(uint64_t ino, struct sf_birth *b);
/* user.streamfs.home and user.streamfs.birth (a topic's) and
 * user.streamfs.replica_id (the root's): is sub one of them, and its
 * value into buf (its length, or -errno: -ENODATA on other inodes). */
bool home_xattr_name(const char *sub);
int home_xattr_get(const struct sf_inode *in, const char *sub, char *buf,
		   size_t cap);

/* ---- lines.c ---- */
/* The number of '\n' in p[0..n). */
size_t count_newlines(const char *p, size_t n);

/* ---- restore.c: appending restored records (sf_ioctl.h) ---- */
void io_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned cmd, void *arg,
	      struct fuse_file_info *fi, unsigned flags, const void *in_buf,
	      size_t in_bufsz, size_t out_bufsz);
/* A write on a handle that is restoring: bytes of the named record,
 * appended once it is complete.  size or -errno (nothing appended). */
int restore_write(struct handle *h, const struct sf_inode *in,
		  const char *buf, size_t size);

/* ---- blob_io.c ---- */
int blob_fd(struct handle *h);
void blob_read(fuse_req_t req, struct handle *h, size_t size, off_t off);
int blob_write(struct handle *h, const char *buf, size_t size, off_t off);

/* ---- xattr.c ---- */
void xa_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags);
void xa_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 size_t size);
void xa_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void xa_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* ---- cursor_xattr.c: consumer group cursors (user.streamfs.cursor.*,
 * user.streamfs.groups); each returns 0 or -errno ---- */
/* Is sub (a name after "user.streamfs.") one of these? */
bool cursor_xattr_name(const char *sub);
/* The value of sub on topic in, malloc'd in *val (*len bytes). */
int cursor_xattr_get(struct caller *c, const struct sf_inode *in,
		     const char *sub, char **val, size_t *len);
int cursor_xattr_set(struct caller *c, const struct sf_inode *in,
		     const char *sub, const char *val, size_t len, int flags);
int cursor_xattr_remove(struct caller *c, const struct sf_inode *in,
			const char *sub);
/* Commit cur (off and msg: a boundary of the topic, checked by the
 * caller) as group's cursor on topic in, stamped now, durable as the
 * stream's appends are: what a set of user.streamfs.cursor.GROUP does
 * after its checks.  The Kafka listener's OffsetCommit calls it too.
 * Call with fs.lock held. */
struct sf_cursor;
int cursor_commit(const struct sf_inode *in, const char *group,
		  struct sf_cursor *cur);

/* ---- replica_xattr.c: a stream's replication links
 * (user.streamfs.replica.*); each returns 0 or -errno ---- */
/* Is sub (a name after "user.streamfs.") one of these? */
bool replica_xattr_name(const char *sub);
/* replica.list of directory in, malloc'd in *val (*len bytes). */
int replica_xattr_get(struct caller *c, const struct sf_inode *in,
		      const char *sub, char **val, size_t *len);
/* replica.add, .remove, .pause, .resume of directory in (fs.lock held):
 * the change is stored; fs/replica/ hears of it from
 * replica_xattr_flush. */
int replica_xattr_set(struct caller *c, const struct sf_inode *in,
		      const char *sub, const char *val, size_t len);
/* After a setxattr's reply, without fs.lock (ops.c): start the link this
 * thread just added, or tell fs/replica/ of the one it changed. */
void replica_xattr_flush(void);
/* What link l is doing (replica_link_status), "connecting" when it has no
 * thread yet and "paused" whenever the stored link is.  Takes rp.lock:
 * any lock but rp.lock held. */
struct replica_status;
void replica_xattr_status(const struct sf_link *l,
			  struct replica_status *st);

/* ---- notify.c: waking pollers; invalidating names, from a thread ---- */
int notify_start(struct fuse_session *se);
void notify_stop(void);
/* Queue a wake-up of every handle polling n (call with fs.lock held). */
void notify_pollers(struct node *n);
void notify_queue(struct fuse_pollhandle *ph);
/* Send the queued poll wake-ups: called by the operations that append
 * (ops.c), after their reply, without fs.lock. */
void notify_send_polls(void);
/* Queue the invalidation of the kernel's entry for name in dir (fs.lock
 * held; sent after the operation's reply). */
void notify_inval_name(uint64_t dir, const char *name);
/* Queue the invalidation of every name in dir whose inode the kernel
 * holds (fs.lock held).  The thread walks dir in bounded steps. */
void notify_inval_dir(uint64_t dir);
/* Wait until every name invalidation queued so far has been sent: for a
 * thread that serves no FUSE request (the Kafka listener), before it
 * answers a request that made or removed names, so that its client
 * never sees the mount's old names afterwards.  Call without fs.lock
 * (the notify thread may need it, and the kernel may wait on a FUSE
 * request that does).  Returns at once when nothing is queued. */
void notify_wait_names(void);

/* ---- retention.c: expiring while the mount runs ---- */
int retention_start(void);
void retention_stop(void);
/* Topic ino is beyond its stream's retention_bytes (fs.lock held). */
void retention_note(uint64_t ino);
/* Stream dir's policies changed: apply them to what it holds. */
void retention_policy_set(uint64_t dir);

/* ---- group_commit.c: durability=batch ---- */
int group_commit_start(void);
void group_commit_stop(void);
/* An append under durability=batch waits for the next group sync. */
void group_commit_mark(void);
/* An fsync() of a topic: the sync thread answers req after its next sync
 * (0), or -EAGAIN if it cannot take it (the caller syncs itself). */
int group_commit_fsync(fuse_req_t req);

/* ---- json.c: JSON text written by hand (json.h) ---- */
#include "json.h"

/* ---- sysstream.c: /.streamfs, the system's own stream ---- */
/* at mount, after the store opened, before serving: make /.streamfs and
 * its topics `metrics` and `errors` if missing (-errno); appends the
 * mount event to errors */
int sysstream_init(void);
/* Append one message (one JSON line ending in '\n') to topic
 * /.streamfs/NAME (NAME is "metrics" or "errors").  Call WITHOUT fs.lock
 * (it takes it).  Returns 0 or -errno; never blocks on a user. */
int sysstream_append(const char *name, const char *line, size_t len);
/* the /.streamfs directory itself or an entry in it (fs.lock held) */
bool sysstream_is(uint64_t ino);
/* -EPERM for a change to the system stream's ino, noted as the request's
 * denial (the errors stream reports it, permission "system"). */
int sysstream_refuse(struct caller *c, uint64_t ino);
/* A file of /.streamfs generated when it is opened: gen fills a malloc'ed
 * buffer (the reader gets that snapshot, whole).  Register before
 * serving.  gen runs with fs.lock held: it may read the store and must
 * not take fs.lock; it returns 0 or -errno (the open fails with it). */
void sysstream_virtual(const char *name, int (*gen)(char **buf, size_t *len));

/* The system stream's inodes and owner, set by sysstream_init before the
 * session runs and read-only afterwards (0 before it, or if it failed). */
#define SYS_TOPICS 2
struct sys {
	uint64_t dir;
	uint64_t topic[SYS_TOPICS];     /* metrics, errors */
	uid_t uid;                      /* the mount owner owns it */
	gid_t gid;
	struct timespec mounted;        /* CLOCK_REALTIME at sysstream_init */
	struct timespec started;        /* the same, CLOCK_MONOTONIC */
};
extern struct sys sys;
/* dir/name is /.streamfs, or a name in it (fs.lock held) */
bool sysstream_name(uint64_t dir, const char *name);
/* dir's listing leaves ino out: the root's does not show /.streamfs */
bool sysstream_hidden(uint64_t dir, uint64_t ino);
bool sysstream_topic_name(const char *name);
/* May the caller set or remove attribute name of ino, as far as the
 * system stream is concerned: 0 (then the usual checks apply) or -EPERM.
 * 0 for every inode that is not the system stream's. */
int sysstream_xattr_check(struct caller *c, uint64_t ino, const char *name);

/* ---- sysstream_files.c: the generated files of /.streamfs ---- */
bool sysstream_virtual_ino(uint64_t ino);
/* store_get_inode, and the made-up records of the generated files */
int sysstream_get_inode(uint64_t ino, struct sf_inode *in);
/* The generated file name of dir (0, or -ENOENT) */
int sysstream_virtual_lookup(uint64_t dir, const char *name,
			     struct sf_inode *in);
/* The i-th generated file of dir, after its stored entries: 1 and its
 * name and inode, or 0 when there is none. */
int sysstream_virtual_entry(uint64_t dir, unsigned i, char *name,
			    uint64_t *ino);
/* Size, blocks and times of a generated file (h: the descriptor fstat
 * asked through, or NULL) over what fill_attr put in st. */
void sysstream_virtual_attr(uint64_t ino, const struct handle *h,
			    struct stat *st);
/* Open for reading (the caller refused writes): generate, keep it. */
void sysstream_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void sysstream_read(fuse_req_t req, const struct handle *h, size_t size,
		    off_t off);
/* lseek SEEK_DATA/SEEK_HOLE in a snapshot: the offset, or -ENXIO */
off_t sysstream_seek(const struct handle *h, off_t off, int whence);

/* ---- sysstream_status.c ---- */
/* /.streamfs/status: one JSON object about the running daemon */
int sysstream_status(char **buf, size_t *len);

/* ---- metrics.c: the daemon's figures (metrics.h, docs/design.md
 * "Metrics") ----
 * Every count is made by code that holds fs.lock already, so counting
 * adds no lock and no atomic instruction; with -o nometrics each call
 * below is one test of metrics_on. */
extern bool metrics_on;         /* set before serving, then read-only */

/* The operation a thread is serving (ops.c): its errno is noted by
 * fuse_reply_err, below. */
struct metrics_timer {
	unsigned op;            /* enum metrics_op */
	int err;                /* the errno replied, 0 for success */
	bool deferred;          /* answered later by another thread */
	int64_t start;          /* CLOCK_MONOTONIC ns */
};
extern __thread struct metrics_timer *metrics_cur;

static inline int64_t metrics_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Count a finished request (fs.lock held). */
void metrics_op_record(unsigned op, int64_t ns, int err);

/* Around an operation handler: begin before taking fs.lock, end after
 * the handler returned, still holding it (its reply is sent by then). */
static inline void metrics_op_begin(struct metrics_timer *t, unsigned op)
{
	if (!metrics_on)
		return;
	t->op = op;
	t->err = 0;
	t->deferred = false;
	t->start = metrics_now();
	metrics_cur = t;
}

static inline void metrics_op_end(struct metrics_timer *t)
{
	if (!metrics_on)
		return;
	metrics_cur = NULL;
	if (!t->deferred)
		metrics_op_record(t->op, metrics_now() - t->start, t->err);
}

/* The request being served is answered later by another thread (an
 * fsync() the sync thread answers): its start, for metrics_op_done. */
static inline int64_t metrics_op_defer(void)
{
	if (!metrics_on || !metrics_cur)
		return 0;
	metrics_cur->deferred = true;
	return metrics_cur->start;
}

/* A deferred request is answered now (fs.lock held, before the reply). */
static inline void metrics_op_done(unsigned op, int64_t start, int err)
{
	if (metrics_on)
		metrics_op_record(op, metrics_now() - start, err);
}

/* Every fuse_reply_err of the daemon's files notes its errno for the
 * operation under way. */
static inline int metrics_reply_err(fuse_req_t req, int err)
{
	if (metrics_on && metrics_cur && err)
		metrics_cur->err = err;
	return (fuse_reply_err)(req, err);
}
#define fuse_reply_err(req, err) metrics_reply_err(req, err)

/* Topic traffic (fs.lock held): an append of len bytes in nmsgs
 * messages to a topic of stream; a read of one that returned len. */
void metrics_append_(uint64_t stream, size_t len, uint32_t nmsgs);
void metrics_read_(uint64_t stream, size_t len);
static inline void metrics_append(uint64_t stream, size_t len,
				  uint32_t nmsgs)
{
	if (metrics_on)
		metrics_append_(stream, len, nmsgs);
}

static inline void metrics_read(uint64_t stream, size_t len)
{
	if (metrics_on)
		metrics_read_(stream, len);
}

/* A consumer group's cursor on topic ino was committed or read (c), or
 * deleted (NULL): its lag is followed from now on (fs.lock held). */
void metrics_cursor_(uint64_t ino, const char *group,
		     const struct sf_cursor *c);
static inline void metrics_cursor(uint64_t ino, const char *group,
				  const struct sf_cursor *c)
{
	if (metrics_on)
		metrics_cursor_(ino, group, c);
}

/* One sync of the sync thread: the durability=batch writes and fsync()s
 * it covered, how long it took, its result r (0 or -errno; fs.lock
 * held). */
void metrics_group_commit(unsigned writes, unsigned fsyncs, int64_t ns,
			  int r);
/* A name changed (rename): paths are looked up again (fs.lock held). */
void metrics_renamed(void);

/* Before serving: -o nometrics (on false) or the table size top; then
 * (after sysstream_init) registers metrics.prom.  0 or -errno. */
int metrics_init(bool on, unsigned top);
/* The thread that appends one line to /.streamfs/metrics a second. */
int metrics_start(void);
void metrics_stop(void);


#endif
