/* rp.h - what the files of the replication front end share: the frame
 * codec and frame I/O over TLS (wire.c, docs/replication.md), addresses
 * (wire.c), the callers and checks both ends make (access.c), the
 * receiving end of a connection (receive.c), the link table and its
 * wake-ups (replica.c), a link's thread (link.c), the hand-overs of
 * topics' homes (handover.c), topics' births (births.c) and the syncs
 * both ends make without fs.lock (syncer.c).  Locks: see
 * replica.h. */
#ifndef STREAMFS_RP_H
#define STREAMFS_RP_H

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "fs.h"
#include "replica.h"

/* ---- the protocol (docs/replication.md) ---- */
#define RP_MAGIC "SFRP"
#define RP_VERSION 2
#define RP_FRAME_MAX (80u << 20)
#define RP_STR_MAX 1024
#define RP_RECORDS_MAX 4096
#define RP_HOLDS_MAX 65536         /* names in a HOLDS */
/* A CURSOR whose byte and message offsets are both this is the group's
 * cursor removed at its commit time (a receiver of before ignores it:
 * no copy has such a message boundary). */
#define RP_CURSOR_GONE UINT64_MAX
/* Unacknowledged at most: batches, and their bytes.  The receiver
 * acknowledges after its disk flush, which may take a while; small
 * batches (appends sent as they come) must not stop the link meanwhile. */
#define RP_WINDOW 8192
#define RP_WINDOW_BYTES (32u << 20)
#define RP_BATCH_BYTES (256u << 10) /* about this much a RECORDS frame */
#define RP_BATCH_SMALL (32u << 10)  /* a batch this small may wait ... */
#define RP_COALESCE_MS 2            /* ... this long for more */
#define RP_PING_MS 3000
#define RP_ANSWER_MS 15000          /* the source waits for an answer */
#define RP_IDLE_MS 30000            /* the receiver waits for a frame */
#define RP_HANDSHAKE_MS 10000
#define RP_SYNC_GAP_MS 20           /* between the receiver's syncs */
#define RP_RESCAN_DEFAULT 30        /* s, replica_rescan */
#define RP_RESCAN_MAX 86400

enum {
	RP_HELLO = 1, RP_WELCOME, RP_ERROR, RP_TOPIC, RP_POSITION,
	RP_RECORDS, RP_ACK, RP_DELETE, RP_PING, RP_PONG, RP_SKIP,
	RP_CURSOR, RP_HOLDS, RP_HANDOVER, RP_HANDED,
};
enum {
	RP_E_MALFORMED = 1, RP_E_VERSION, RP_E_DENIED, RP_E_NO_STREAM,
	RP_E_SELF, RP_E_STORAGE, RP_E_BUSY, RP_E_FED,
};
enum {
	RP_POS_OK = 0, RP_POS_HOME_HERE = 1, RP_POS_REFUSED = 2,
	RP_POS_TAKEN = 3,
};
enum { RP_ACK_OK = 0, RP_ACK_GAP = 1, RP_ACK_GONE = 2 };
enum {
	RP_HANDED_OK = 0, RP_HANDED_DENIED = 1, RP_HANDED_NO_TOPIC = 2,
	RP_HANDED_ELSEWHERE = 3, RP_HANDED_STORAGE = 4,
};

/* ---- wire.c: building and parsing payloads ---- */
/* A frame being built: the length and type first, patched by wb_end.
 * A failed growth sets oom and drops every later write. */
struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};
void wb_begin(struct wbuf *b, uint8_t type);     /* empties b first */
void wb_u8(struct wbuf *b, uint8_t v);
void wb_u16(struct wbuf *b, uint16_t v);
void wb_u32(struct wbuf *b, uint32_t v);
void wb_u64(struct wbuf *b, uint64_t v);
void wb_raw(struct wbuf *b, const void *p, size_t n);
void wb_str(struct wbuf *b, const char *s);      /* str16 */
/* Patch the frame's length (rc_send does it). */
void wb_end(struct wbuf *b);
void wb_free(struct wbuf *b);

/* A payload being read: a read past its end sets bad and gives 0. */
struct rbuf {
	const uint8_t *p, *end;
	bool bad;
};
uint8_t rb_u8(struct rbuf *r);
uint16_t rb_u16(struct rbuf *r);
uint32_t rb_u32(struct rbuf *r);
uint64_t rb_u64(struct rbuf *r);
const uint8_t *rb_raw(struct rbuf *r, size_t n);
/* A str16 copied NUL-terminated into buf (cap bytes): false (and bad)
 * when it is longer than cap - 1 or RP_STR_MAX, or holds a NUL. */
bool rb_str(struct rbuf *r, char *buf, size_t cap);
/* The payload was read whole and nothing is left. */
bool rb_done(const struct rbuf *r);

/* One end of a connection. */
struct rconn {
	int fd;
	SSL *ssl;
	char peer[300];                 /* ADDR:PORT, for log lines */
	uint8_t *in;                    /* the last frame read */
	size_t incap;
	uint8_t type;
	struct rbuf body;               /* its payload */
};
/* Send the frame b holds: 0, or -errno. */
int rc_send(struct rconn *c, struct wbuf *b);
/* Send len bytes of whole frames: 0, or -errno. */
int rc_write(struct rconn *c, const void *p, size_t len);
/* Read one frame within ms: 1, 0 when nothing at all arrived in that
 * time, -EPROTO for a length out of range (a line says so), -errno. */
int rc_read(struct rconn *c, int ms);
/* Bytes are waiting to be read (a frame may be ready). */
bool rc_readable(struct rconn *c);
/* Send ERROR code/msg, ignoring failures. */
void rc_error(struct rconn *c, uint16_t code, const char *msg);
void rc_close(struct rconn *c);
/* A blocking read waits at most ms (so waits can be cut short and
 * deadlines kept); a write RP_ANSWER_MS. */
void rc_timeouts(int fd, int ms);

/* "HOST:PORT" or "[V6]:PORT" into host and port: 0, or -EINVAL. */
int rp_split_addr(const char *addr, char *host, size_t hcap, char *port,
		  size_t pcap);
/* "ADDR:PORT" of a socket address, for log lines. */
void rp_addr_str(const struct sockaddr *sa, char *buf, size_t cap);
int64_t rp_now_ms(void);                 /* CLOCK_MONOTONIC */
int64_t rp_real_ns(void);                /* CLOCK_REALTIME */

/* ---- access.c ---- */
/* The caller a certificate's user is: uid, gid and its groups (loaded
 * when a check needs them, into memory of its own). */
struct rp_caller {
	struct caller c;
	gid_t *groups;
};
void rp_caller_init(struct rp_caller *rc, uid_t uid, gid_t gid);
void rp_caller_free(struct rp_caller *rc);
/* The daemon itself (root), for the changes replication makes after
 * the peer was checked. */
void rp_root_caller(struct caller *c);
/* A relative path ("" the root) checked for the bounds of the format:
 * 0, or -EINVAL. */
int rp_path_check(const char *path);
/* A topic name: one name of a path.  0, or -EINVAL. */
int rp_name_check(const char *name);
/* The stream directory at path, walked from the root with c's search
 * permission on each directory: 0, -ENOENT (missing, not a directory,
 * the system stream), -EACCES.  fs.lock held. */
int rp_stream_walk(struct caller *c, const char *path, struct sf_inode *out);
/* A stream's path from the root ("" for the root), for log lines.
 * fs.lock held. */
void rp_stream_path(uint64_t ino, char *buf, size_t cap);
/* A topic's state: its node's when it has one, else loaded (fs.lock
 * held). */
int rp_topic_state(uint64_t ino, struct sf_topic *t);
/* The name of ino in directory dir: 0, or -ENOENT.  fs.lock held. */
int rp_name_in(uint64_t dir, uint64_t ino, char *buf, size_t cap);
/* A login name for uid, for log lines. */
void rp_user_name(uid_t uid, char *buf, size_t cap);

/* ---- syncer.c: syncs of the store made without fs.lock ---- */
struct rp_syncer;
struct rp_syncer *syncer_new(void);
/* Waits for the sync under way to end, stops the thread, frees s. */
void syncer_free(struct rp_syncer *s);
/* Begin a sync that makes every append made so far durable (takes
 * fs.lock): 0, or -errno (none began; -EBUSY while one is under way). */
int syncer_begin(struct rp_syncer *s);
bool syncer_busy(const struct rp_syncer *s);
/* Readable when a sync ended: then call syncer_ended. */
int syncer_fd(const struct rp_syncer *s);
/* True when the sync under way ended, with *result 0 or -errno. */
bool syncer_ended(struct rp_syncer *s, int *result);

/* ---- acks.c: the receiver's answers in order, and its syncs ---- */
struct rp_acks;
struct rp_acks *acks_new(void);
/* Stops the sync thread (after the sync under way) and frees a. */
void acks_free(struct rp_acks *a);
/* Queue the frame b holds as the next answer: with stored (an ACK of
 * records stored just now), it leaves once a sync begun after them has
 * ended; else once the answers before it left.  0, or -ENOMEM. */
int acks_push(struct rp_acks *a, struct wbuf *b, bool stored);
/* Begin the sync that is due: -1 when none waits, else the ms until
 * the next may begin (call again then). */
int acks_due(struct rp_acks *a);
/* Readable when a sync ended: then call acks_event. */
int acks_fd(const struct rp_acks *a);
void acks_event(struct rp_acks *a);
/* A sync failed (-errno; the connection must end), or 0. */
int acks_error(const struct rp_acks *a);
/* Send the answers that may leave: 0, or -errno. */
int acks_flush(struct rp_acks *a, struct rconn *c);

/* ---- receive.c: a connection the listener accepted ---- */
/* Serve the frames of c (after its handshake) for the user its
 * certificate names, until it closes or the daemon stops. */
void rp_receive(struct rconn *c, uid_t uid, gid_t gid);

/* ---- listener.c ---- */
int rp_listen_start(void);
void rp_listen_stop(void);
bool rp_stopping(void);
/* replica_rescan in ms (0: never); set before the links start. */
int64_t rp_rescan_ms(void);

/* ---- replica.c: the link table ---- */
#define RP_APPENDED_MAX 64
struct rp_link {
	uint64_t id;                    /* set at creation, then read-only */
	uint64_t stream;                /* the same */
	struct sf_link conf;            /* its thread's copy: only it writes */
	pthread_t th;
	/* Guarded by rp.lock: */
	bool changed;                   /* paused, resumed or removed */
	bool done;                      /* its thread ended (link removed) */
	int fd;                         /* its connection's socket, or -1 */
	int efd;                        /* an eventfd: written to wake it */
	bool sleeping;                  /* it waits in rp_link_poll */
	bool wake_appends;              /* ... and appends should wake it */
	uint64_t seq;                   /* appends to its stream and changes
					 * of it so far */
	uint64_t appended[RP_APPENDED_MAX]; /* topics appended to since its
					 * thread last asked ... */
	unsigned nappended;
	bool appended_all;              /* ... or more than fit */
	struct replica_status st;
	struct rp_link *next;
};
/* The status of l (under rp.lock): the link's thread updates it. */
void rp_status_set_state(struct rp_link *l, const char *state);
/* The link's last error: a refusal or a fault (a warning line), or the
 * peer out of reach (down: an info line; links over intermittent
 * networks drop as a matter of course).  The same text again logs
 * nothing. */
void rp_status_error(struct rp_link *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void rp_status_down(struct rp_link *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void rp_status_progress(struct rp_link *l, uint64_t msgs_behind,
			double secs_behind, uint64_t sent_msgs,
			uint64_t sent_bytes);
/* The link's settings, read again from the store when they changed:
 * 1 as before, 0 changed (in *out), -ENOENT removed.  No lock held. */
int rp_link_reload(struct rp_link *l, struct sf_link *out);
/* Wait up to ms for a change of the link, the stop, with appends an
 * append, with fd (not -1) bytes to read on it, and with sync_fd (not
 * -1, a syncer's) the end of a sync: RP_WOKEN when one of the first
 * three happened, RP_READABLE, RP_SYNCED for the others, 0 when the
 * time passed.  *seq: the appends seen so far. */
#define RP_WOKEN 1
#define RP_READABLE 2
#define RP_SYNCED 4
int rp_link_poll(struct rp_link *l, uint64_t *seq, int fd, int sync_fd,
		 int ms, bool appends);
/* The socket of l's connection (-1: none), shut down by replica_stop. */
void rp_link_set_fd(struct rp_link *l, int fd);
bool rp_link_quit(struct rp_link *l);
/* l's thread ends for good (its link was removed). */
void rp_link_ended(struct rp_link *l);
uint64_t rp_link_seq(struct rp_link *l);
/* The topics appended to since the last call (at most cap, into out):
 * how many, or -1 when more were (any topic may have been). */
int rp_link_appended(struct rp_link *l, uint64_t *out, unsigned cap);
/* The generations of stream's names and cursors now: they grow with
 * each replica_names_changed, replica_cursors_changed of it (or of a
 * stream sharing its slot). */
void rp_link_gens(uint64_t stream, uint64_t *names, uint64_t *cursors);
/* How often l's thread looked at its stream's topics, and at their
 * cursors, since the mount (for the listing and the tests). */
void rp_status_looks(struct rp_link *l, uint64_t scans,
		     uint64_t cursor_looks);

/* ---- handover.c: moving a topic's home here (fs.lock held) ---- */
/* A token for a new connection (never 0). */
uint64_t rp_handover_token(void);
/* The next hand-over of a topic of stream homed at replica peer not yet
 * asked on the connection of token: its name in name, marked asked, 1;
 * 0 when none. */
int rp_handover_next(uint64_t stream, uint64_t peer, uint64_t token,
		     char *name, size_t cap);
/* The old home peer answered HANDED for topic name of stream. */
void rp_handover_answer(uint64_t stream, uint64_t peer, const char *name,
			int status, uint64_t end, uint64_t next,
			const char *why);
/* Take the home of every topic of stream handed over whose copy here
 * reached the final end: how many were taken. */
int rp_handover_finish(uint64_t stream, uint64_t self);
/* rp.lock: the replica id link l's peer said in WELCOME. */
void rp_status_peer(struct rp_link *l, uint64_t peer_id);

/* ---- births.c: topics' births (fs.lock held) ---- */
/* "born at replica ID at SECS.NS", for reasons and log lines. */
void rp_birth_str(const struct sf_birth *b, char *buf, size_t cap);
/* The name the topic born b takes when it loses name (NAME~ID, its
 * birth replica's id in 16 hex digits, NAME cut short to keep it within
 * 255 bytes, and -2, -3 ... after it while that is taken in stream):
 * 0, or -errno. */
int rp_loser_name(uint64_t stream, const char *name,
		  const struct sf_birth *b, char *out, size_t cap);
/* Rename topic name of stream (path, for the log) born b to its loser's
 * name, with one info line saying why: 0, or -errno (a warning line). */
int rp_rename_aside(uint64_t stream, const char *path, const char *name,
		    const struct sf_birth *b, const char *why);
/* A topic of stream homed at home whose kept birth is b: 1 with its ino
 * and name, 0 when there is none, -errno. */
int rp_find_birth(uint64_t stream, uint64_t home, const struct sf_birth *b,
		  uint64_t *ino, char *name, size_t cap);

/* ---- link.c: a link's thread (arg: its struct rp_link) ---- */
void *rp_link_main(void *arg);

#endif
