/* replica.h - the daemon's replication front end (fs/replica/): the
 * listener that takes other replicas' pushes (-o replica_listen), one
 * thread per stored link that pushes a local stream to a peer, and the
 * state of each link for `user.streamfs.replica.list`.  The wire format
 * is docs/replication.md; the design, docs/design.md "Replication".
 *
 * Threads and locks: the listener thread accepts and hands each
 * connection to a thread of its own (at most REPLICA_CONN_MAX); each
 * link has a thread.  They block on their sockets (with timeouts), never
 * holding fs.lock across network I/O, and take fs.lock around every
 * store call.  rp.lock (replica.c: the link table, the topics appended
 * to) comes after fs.lock and is a leaf:
 *
 *   fs.lock  ->  rp.lock
 */
#ifndef STREAMFS_REPLICA_H
#define STREAMFS_REPLICA_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* -o replica_listen=ADDR:PORT ([IPV6]:PORT for IPv6), repeatable: 0, or
 * -1 after an error line (a malformed address). */
int replica_add_listener(const char *addr);
/* -o replica_rescan=SECONDS: how often a link looks at every topic and
 * cursor of its stream should a change not have woken it (default
 * RP_RESCAN_DEFAULT; 0: never).  0, or -1 after an error line. */
int replica_set_rescan(const char *secs);
/* A replica_listen was given (it needs the tls_ options). */
bool replica_configured(void);
/* After the store is open and the mount live: listen, and start a
 * thread per stored link.  0, or -1 after an error line. */
int replica_start(void);
/* Close every connection and stop every thread (before the store
 * closes). */
void replica_stop(void);

/* A link was just stored (store_link_add): start its thread.  Call
 * with fs.lock NOT held.  0, or -errno. */
int replica_link_started(const struct sf_link *l);
/* Link id was paused, resumed or removed in the store: its thread reads
 * it again (and ends if it is gone).  fs.lock NOT held. */
void replica_link_changed(uint64_t id);

/* What a link is doing.  state: "connecting", "up", "paused", "error". */
struct replica_status {
	uint64_t id;
	char state[16];
	uint64_t msgs_behind;           /* the peer's topics behind ours */
	double secs_behind;             /* age of the oldest message not
					 * yet acknowledged, 0 when none */
	char last_error[256];           /* "" when none yet */
	int64_t last_error_ns;          /* when, ns since the epoch */
	uint64_t sent_msgs, sent_bytes; /* acknowledged since the start */
	uint64_t peer_id;               /* the peer's replica id, 0 until
					 * it was first reached */
	uint64_t scans;                 /* looks at the stream's topics */
	uint64_t cursor_looks;          /* ... and at their cursors */
};
/* 0, or -ENOENT when no thread runs link id.  Any lock but rp.lock. */
int replica_link_status(uint64_t id, struct replica_status *out);

/* Topic ino of stream (0: not known) was appended to (called by
 * topic_appended, fs.lock held): marks it for the links of its stream
 * (of every stream when not known) and wakes them; costs one atomic
 * load when no link runs. */
void replica_topic_appended(uint64_t ino, uint64_t stream);

/* The names of stream's topics or what a link sends of them changed: a
 * topic made (also a file made a topic), removed, renamed into or out
 * of stream, its mode, owner, home or birth.  Its links look at the
 * stream again (soon: paced) and are woken.  Any lock but rp.lock;
 * costs one atomic load when no link runs. */
void replica_names_changed(uint64_t stream);
/* A cursor of a topic of stream was committed or removed: its links
 * look at the cursors again.  As replica_names_changed. */
void replica_cursors_changed(uint64_t stream);

/* Moving a topic's home here (fs/replica/handover.c; fs.lock held for
 * each).  Ask that topic ino of stream, homed now at replica home, be
 * handed over: the links to home do it.  Kept in the store (synced)
 * until done or refused.  0 (also when asked already), or -ENOENT,
 * -ENOMEM, -EBUSY (too many asked), the store's -errno. */
int replica_home_ask(uint64_t ino, uint64_t stream, uint64_t home);
/* At the start, before the links run: take back the hand-overs the store
 * keeps.  How many, or -errno. */
int replica_home_resume(void);
/* The hand-over of ino as one line: "none", "asking ID", "catching up
 * to byte N", "refused: WHY".  snprintf's count. */
int replica_home_state(uint64_t ino, char *buf, size_t cap);
/* Forget the hand-over of ino, also in the store (the topic is homed
 * here already). */
void replica_home_forget(uint64_t ino);

#endif
