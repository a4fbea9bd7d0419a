/* link.c - a link's thread: it connects to the peer (TCP, then TLS with
 * the daemon's client context), checks that the peer's certificate user
 * may copy the local stream, says HELLO, announces every topic of the
 * stream (TOPIC) and learns where the peer's copy ends (POSITION), then
 * sends the records from there (RECORDS, at most RP_WINDOW batches or
 * RP_WINDOW_BYTES unacknowledged), woken by appends.  It looks at the
 * stream's topics again, and at their cursors, when their generations
 * (replica.c) say they changed, and else only every replica_rescan
 * seconds: the hooks make it prompt, the slow looks keep it right
 * should one be missed.  A topic gone from the stream is sent as
 * DELETE (a renamed one is announced under its new name, and the peer
 * renames its copy); a topic the peer holds an
 * earlier one of the name of is renamed aside here when it is homed
 * here.  Idle, it sends PING every RP_PING_MS.
 * For a topic to be homed here that the peer homes, it sends HANDOVER,
 * and takes the home once the copy here reaches the end HANDED says.
 * Only records durable here are sent: a copy must never hold what a
 * power cut here could take, since the home would then append other
 * records at their offsets.  Records past what is known durable wait
 * for a sync of the link's own (syncer.c, off fs.lock), begun at most
 * every SYNC_GAP_MS while some wait; the next batch goes as soon as it
 * ends.
 * A connection that fails is made again after 0.2 s, doubling to 5 s.
 *
 * Everything here is the thread's own, but the struct rp_link fields
 * replica.c guards; fs.lock is taken around every store call and never
 * held across network I/O. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


#include <openssl/err.h>

#include "rp.h"
#include "tls.h"

#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000
#define CONNECT_MS 10000
#define SCAN_WAKE_MS 200        /* look for new and removed topics at
				 * most this often on changes */
#define STATUS_MS 200
#define CURSORS_WAKE_MS 500     /* look for cursors committed at most
				 * this often on commits */
#define CURSORS_MAX 1024        /* of a topic, sent per look */
#define SYNC_GAP_MS 5           /* between the link's syncs */
#define SYNC_RETRY_MS 1000      /* after a sync failed */

/* A topic on this connection: not yet announced, waiting for its
 * POSITION, being sent, homed at the peer (its cursors only), refused,
 * or stopped by an error here. */
enum { T_NEW, T_ASKED, T_SENDING, T_HOME, T_REFUSED, T_STALLED };

/* A consumer group's cursor as last sent on this connection (off
 * RP_CURSOR_GONE: its removal). */
struct lcursor {
	char group[SF_GROUP_MAX + 1];
	uint64_t off;
	int64_t ns;
};

struct ltopic {
	uint64_t ino;
	char name[NAME_MAX_BYTES + 1];
	/* The name it had, when the peer may hold it under that one (a
	 * rename seen by a scan or found through HOLDS): sent in its next
	 * TOPIC, so the peer renames its copy without a search. */
	char former[NAME_MAX_BYTES + 1];
	uint64_t home;
	uint32_t mode, uid, gid;
	struct sf_birth birth;
	int st;                 /* T_* on this connection */
	uint32_t tid;
	uint64_t pos;           /* the next byte to send */
	/* Across connections: the end of what is known durable here (only
	 * bytes before it are sent), and the topic's size when the sync
	 * under way began (durable once it ends); unsynced: it has bytes
	 * past `durable` that no sync began after. */
	uint64_t durable, syncing;
	bool unsynced;
	uint64_t acked, acked_msg;      /* where the peer's copy ends */
	bool lost_said;         /* the lost range was reported */
	bool seen;              /* in the last scan */
	bool owed;              /* may have bytes past pos: appended to,
				 * positioned, or not all sent yet */
	bool caught;            /* the last status found the peer had it
				 * all, acknowledged up to caught_at */
	uint64_t caught_at;
	int64_t sent_ms;        /* when its last batch left */
	struct lcursor *cur;    /* cursors sent on this connection */
	size_t ncur;
};

/* An answer the peer owes, in the order they come. */
struct expect {
	uint8_t type;           /* RP_POSITION, RP_ACK, RP_PONG */
	uint32_t tid;
	uint32_t msgs;
	uint64_t bytes;
	int64_t sent_ms;
};

/* A topic of the stream the peer holds under the name it had (found
 * through HOLDS on this connection). */
struct lformer {
	uint64_t ino;
	char name[NAME_MAX_BYTES + 1];
};

struct lstate {
	struct rp_link *l;
	bool removed;
	const char *gone;       /* why removed, for the log */
	struct lformer *fm;     /* this connection's, from HOLDS */
	size_t nfm;
	struct ltopic *t;       /* across connections */
	size_t nt, capt;
	uint64_t sent_msgs, sent_bytes;
	uint64_t seq;
	/* this connection: */
	struct rconn c;
	struct wbuf out;
	struct expect *q;
	size_t qh, qn, qcap;
	unsigned inflight;      /* batches unacknowledged */
	uint64_t inflight_bytes;        /* and their payload */
	bool held;              /* small batches held back (send_batch) */
	uint32_t next_tid;
	uint64_t self, peer_id;
	uint64_t token;         /* this connection's, for hand-overs */
	char src[SF_LINK_PATH_MAX];     /* the stream's path here */
	int64_t last_sent, last_scan, last_status, last_cursors;
	uint64_t names_seen, cursors_seen;      /* generations looked at */
	bool cursors_owed;      /* a cursor waits for its records' ACK, or
				 * a topic for its first look */
	uint64_t scans, cursor_looks;
	bool status_owed;       /* a status was skipped: STATUS_MS after
				 * the last one, it is made */
	struct sf_rread rr;
	size_t rr_next;         /* round robin over the topics */
	/* Syncs that make records durable before they are sent: */
	struct rp_syncer *sy;
	bool sync_wanted;       /* a topic is unsynced */
	int64_t sync_next;      /* no sync begins before (ms) */
};

static const char *peer_of(const struct lstate *s)
{
	return s->l->conf.peer;
}

/* ---- the queue of answers ---- */

static int expect(struct lstate *s, uint8_t type, uint32_t tid,
		  uint32_t msgs, uint64_t bytes)
{
	if (s->qn == s->qcap) {
		size_t cap = s->qcap ? s->qcap * 2 : 64;
		struct expect *q = malloc(cap * sizeof *q);
		if (!q)
			return -ENOMEM;
		for (size_t i = 0; i < s->qn; i++)
			q[i] = s->q[(s->qh + i) % s->qcap];
		free(s->q);
		s->q = q;
		s->qh = 0;
		s->qcap = cap;
	}
	s->q[(s->qh + s->qn++) % s->qcap] = (struct expect){
		type, tid, msgs, bytes, rp_now_ms() };
	return 0;
}

static struct expect *head(struct lstate *s)
{
	return s->qn ? &s->q[s->qh] : NULL;
}

static void pop(struct lstate *s)
{
	s->qh = (s->qh + 1) % s->qcap;
	s->qn--;
}

static struct ltopic *by_tid(struct lstate *s, uint32_t tid)
{
	for (size_t i = 0; i < s->nt; i++)
		if (s->t[i].tid == tid &&
		    (s->t[i].st == T_ASKED || s->t[i].st == T_SENDING))
			return &s->t[i];
	return NULL;
}

static int send_out(struct lstate *s)
{
	int r = rc_send(&s->c, &s->out);
	if (r < 0)
		rp_status_down(s->l, "sending to %s failed: the connection "
			       "broke", peer_of(s));
	s->last_sent = rp_now_ms();
	return r;
}

/* ---- connecting ---- */

static int tcp_connect(struct lstate *s)
{
	char host[256], port[16];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	if (rp_split_addr(peer_of(s), host, sizeof host, port,
			  sizeof port) < 0) {
		rp_status_error(s->l, "%s is not HOST:PORT", peer_of(s));
		return -1;
	}
	int r = getaddrinfo(host, port, &hints, &ai);
	if (r != 0) {
		rp_status_error(s->l, "%s: %s", peer_of(s), gai_strerror(r));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC |
			SOCK_NONBLOCK, 0);
	int err = fd < 0 ? errno : 0;
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		err = errno;
		if (err == EINPROGRESS) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			socklen_t l = sizeof err;
			err = poll(&p, 1, CONNECT_MS) == 1 &&
			      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l)
			      == 0 ? err : ETIMEDOUT;
		}
	}
	freeaddrinfo(ai);
	if (err) {
		rp_status_down(s->l, "cannot connect to %s: %s", peer_of(s),
			       strerror(err));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	rc_timeouts(fd, 200);
	s->c.fd = fd;
	snprintf(s->c.peer, sizeof s->c.peer, "%s", peer_of(s));
	rp_link_set_fd(s->l, fd);
	return 0;
}

static int tls_connect(struct lstate *s)
{
	char host[256], port[16], why[512];
	rp_split_addr(peer_of(s), host, sizeof host, port, sizeof port);
	s->c.ssl = SSL_new(tls_client_ctx());
	if (!s->c.ssl || SSL_set_fd(s->c.ssl, s->c.fd) != 1)
		return -1;
	unsigned char ip[16];
	if (inet_pton(AF_INET, host, ip) != 1 &&
	    inet_pton(AF_INET6, host, ip) != 1)
		SSL_set_tlsext_host_name(s->c.ssl, host);
	int64_t deadline = rp_now_ms() + RP_HANDSHAKE_MS;
	int r;
	while ((r = SSL_connect(s->c.ssl)) != 1) {
		int e = SSL_get_error(s->c.ssl, r);
		bool again = e == SSL_ERROR_WANT_READ ||
			     e == SSL_ERROR_WANT_WRITE ||
			     (e == SSL_ERROR_SYSCALL && errno == EAGAIN);
		if (again && rp_now_ms() < deadline && !rp_link_quit(s->l))
			continue;
		/* A refusal (a certificate, an alert) is a warning; a
		 * connection that ended midway, a peer out of reach. */
		unsigned long x = ERR_peek_last_error();
		bool ended = !again &&
			     SSL_get_verify_result(s->c.ssl) == X509_V_OK &&
			     (e == SSL_ERROR_SYSCALL ||
			      e == SSL_ERROR_ZERO_RETURN ||
			      (ERR_GET_LIB(x) == ERR_LIB_SSL &&
			       ERR_GET_REASON(x) ==
			       SSL_R_UNEXPECTED_EOF_WHILE_READING));
		const char *why_s = again ? "timed out"
				    : tls_error(s->c.ssl, why, sizeof why);
		if (ended)
			rp_status_down(s->l, "TLS handshake with %s failed: "
				       "%s", peer_of(s), why_s);
		else
			rp_status_error(s->l, "TLS handshake with %s failed: "
					"%s", peer_of(s), why_s);
		return -1;
	}
	return 0;
}

/* The peer's certificate user may copy the stream here: 0, or -1 after
 * telling the peer (ERROR) and the status why not. */
static int check_peer(struct lstate *s)
{
	char why[512], user[64], msg[2600];
	uid_t uid;
	gid_t gid;
	if (tls_peer_user(s->c.ssl, &uid, &gid, why, sizeof why) < 0) {
		rp_status_error(s->l, "%s: %s", peer_of(s), why);
		return -1;
	}
	struct rp_caller who;
	struct sf_inode dir;
	rp_caller_init(&who, uid, gid);
	pthread_mutex_lock(&fs.lock);
	int r = store_replica_id(fs.store, &s->self);
	if (r == 0)
		r = store_get_inode(fs.store, s->l->conf.stream, &dir);
	if (r == 0 && (!S_ISDIR(dir.mode) || dir.nlink == 0))
		r = -ENOENT;
	if (r == 0)
		r = may_copy(&who.c, &dir);
	rp_stream_path(s->l->conf.stream, s->src, sizeof s->src);
	pthread_mutex_unlock(&fs.lock);
	rp_caller_free(&who);
	if (r == -EACCES) {
		rp_user_name(uid, user, sizeof user);
		snprintf(msg, sizeof msg, "replica %016" PRIx64 ": user %s "
			 "(the certificate of %s) may not copy stream %s",
			 s->self, user, peer_of(s), s->src);
		rc_error(&s->c, RP_E_DENIED, msg);
		rp_status_error(s->l, "refused %s", msg);
		return -1;
	}
	if (r == -ENOENT) {
		s->removed = true;      /* the stream went, and its links */
		s->gone = "its stream is gone";
	}
	else if (r < 0)
		rp_status_error(s->l, "stream %s: %s", s->src, strerror(-r));
	return r < 0 ? -1 : 0;
}

/* An ERROR frame read: its message into the status. */
static void peer_error(struct lstate *s)
{
	char msg[RP_STR_MAX + 1];
	uint16_t code = rb_u16(&s->c.body);
	rb_str(&s->c.body, msg, sizeof msg);
	rp_status_error(s->l, "%s refused the link: %s (code %u)", peer_of(s),
			msg, code);
}

static int malformed(struct lstate *s, const char *what)
{
	rp_status_error(s->l, "%s sent a malformed frame (%s): closing the "
			"connection", peer_of(s), what);
	rc_error(&s->c, RP_E_MALFORMED, what);
	return -1;
}

/* A name the peer holds, homed here, born b (replica 0: not known
 * there): whether it is gone here, so that DELETE must say so.  Not
 * when this stream has it with that birth, under that name or another
 * (renamed: its TOPIC renames the copy), or has the name and the peer
 * does not know the birth.  fs.lock held. */
static bool held_gone(struct lstate *s, const char *name,
		      const struct sf_birth *b, uint64_t *renamed)
{
	struct sf_birth here;
	char other[NAME_MAX_BYTES + 1];
	uint64_t ino;
	int r = store_lookup(fs.store, s->l->conf.stream, name, &ino);
	if (r == 0 && (b->replica == 0 ||
		       (topic_birth(ino, &here) == 0 &&
			sf_birth_cmp(&here, b) == 0)))
		return false;
	if (r < 0 && r != -ENOENT)
		return false;
	if (b->replica == 0)
		return true;
	if (rp_find_birth(s->l->conf.stream, s->self, b, &ino, other,
			  sizeof other) != 1)
		return true;
	*renamed = ino;
	return false;
}

/* Note that the peer holds topic ino as name (a rename while no link
 * ran): its TOPIC says so. */
static void note_former(struct lstate *s, uint64_t ino, const char *name)
{
	struct lformer *fm = realloc(s->fm, (s->nfm + 1) * sizeof *fm);
	if (!fm)
		return;         /* the peer then makes a new copy: nothing lost */
	s->fm = fm;
	fm[s->nfm].ino = ino;
	snprintf(fm[s->nfm].name, sizeof fm[s->nfm].name, "%s", name);
	s->nfm++;
}

/* HOLDS: the peer's topics homed here.  One this stream no longer has
 * (by name and birth) was removed here while no link ran: DELETE it
 * there too. */
static int holds(struct lstate *s)
{
	struct rbuf *b = &s->c.body;
	char name[NAME_MAX_BYTES + 1];
	uint32_t n = rb_u32(b);
	if (n > RP_HOLDS_MAX)
		return malformed(s, "a HOLDS that does not decode");
	for (uint32_t i = 0; i < n; i++) {
		struct sf_birth born;
		bool ok = rb_str(b, name, sizeof name);
		born.replica = rb_u64(b);
		born.ns = (int64_t)rb_u64(b);
		if (!ok || b->bad || rp_name_check(name) < 0)
			return malformed(s, "a HOLDS that does not decode");
		uint64_t renamed = 0;
		pthread_mutex_lock(&fs.lock);
		bool gone = held_gone(s, name, &born, &renamed);
		pthread_mutex_unlock(&fs.lock);
		if (renamed)
			note_former(s, renamed, name);
		if (!gone)
			continue;
		wb_begin(&s->out, RP_DELETE);
		wb_u64(&s->out, s->self);
		wb_u64(&s->out, born.replica);
		wb_u64(&s->out, (uint64_t)born.ns);
		wb_str(&s->out, name);
		if (send_out(s) < 0)
			return -1;
	}
	return rb_done(b) ? 0 : malformed(s, "a HOLDS that does not decode");
}

static int hello(struct lstate *s)
{
	const char *src = s->src[0] == '/' ? s->src + 1 : s->src;
	wb_begin(&s->out, RP_HELLO);
	wb_raw(&s->out, RP_MAGIC, 4);
	wb_u16(&s->out, RP_VERSION);
	wb_u64(&s->out, s->self);
	wb_str(&s->out, s->l->conf.peer_stream);
	wb_str(&s->out, src);
	wb_u64(&s->out, s->l->conf.stream);
	/* With TLS 1.3 the server checks our certificate after our side of
	 * the handshake is over: its refusal is an alert here. */
	int r = rc_send(&s->c, &s->out);
	if (r == 0)
		r = rc_read(&s->c, RP_ANSWER_MS);
	unsigned long e = ERR_peek_last_error();
	if (r == -EIO && ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    ERR_GET_REASON(e) >= SSL_AD_REASON_OFFSET) {
		/* An alert: the peer refused us (a connection that merely
		 * ended is a peer out of reach, below). */
		char why[512];
		rp_status_error(s->l, "TLS handshake with %s failed: %s",
				peer_of(s),
				tls_error(s->c.ssl, why, sizeof why));
		return -1;
	}
	if (r <= 0) {
		rp_status_down(s->l, "%s did not answer HELLO", peer_of(s));
		return -1;
	}
	if (s->c.type == RP_ERROR) {
		peer_error(s);
		return -1;
	}
	s->peer_id = rb_u64(&s->c.body);
	if (s->c.type != RP_WELCOME || !rb_done(&s->c.body))
		return malformed(s, "expected WELCOME");
	rp_status_peer(s->l, s->peer_id);
	r = rc_read(&s->c, RP_ANSWER_MS);
	if (r <= 0) {
		rp_status_down(s->l, "%s did not answer HELLO", peer_of(s));
		return -1;
	}
	return s->c.type == RP_HOLDS ? holds(s)
	       : malformed(s, "expected HOLDS");
}

/* ---- the topics of the stream ---- */

struct found {
	uint64_t ino, home;
	char name[NAME_MAX_BYTES + 1];
	uint32_t mode, uid, gid;
	struct sf_birth birth;
	bool unborn;            /* a copy whose birth is not known here */
};

/* The topics of the stream now (fs.lock held): a malloc'd array. */
static int list_topics(struct lstate *s, struct found **out, size_t *n)
{
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	struct sf_inode dir;
	int g = store_get_inode(fs.store, s->l->conf.stream, &dir);
	if (g < 0 || dir.nlink == 0)
		return g < 0 ? g : -ENOENT;     /* the stream went, and its
						 * links with it */
	struct store_dirit *it = store_dirit_open(fs.store, s->l->conf.stream);
	if (!it)
		return -ENOMEM;
	const char *name;
	size_t len;
	uint64_t ino;
	uint32_t type;
	int r;
	while ((r = store_dirit_next(it, &name, &len, &ino, &type)) == 1) {
		struct sf_inode in;
		if (type != DT_REG || len > NAME_MAX_BYTES ||
		    store_get_inode(fs.store, ino, &in) < 0 || !is_topic(&in))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 32;
			struct found *f = realloc(*out, cap * sizeof *f);
			if (!f) {
				r = -ENOMEM;
				break;
			}
			*out = f;
		}
		struct found *f = &(*out)[(*n)++];
		f->ino = ino;
		memcpy(f->name, name, len);
		f->name[len] = 0;
		f->mode = in.mode;
		f->uid = in.uid;
		f->gid = in.gid;
		if (store_topic_home(fs.store, ino, &f->home) < 0)
			f->home = s->self;
		f->unborn = topic_birth(ino, &f->birth) != 0;
	}
	store_dirit_close(it);
	return r < 0 ? r : 0;
}

static struct ltopic *add_topic(struct lstate *s, const struct found *f)
{
	if (s->nt == s->capt) {
		size_t cap = s->capt ? s->capt * 2 : 32;
		struct ltopic *t = realloc(s->t, cap * sizeof *t);
		if (!t)
			return NULL;
		s->t = t;
		s->capt = cap;
	}
	struct ltopic *t = &s->t[s->nt++];
	memset(t, 0, sizeof *t);
	t->ino = f->ino;
	snprintf(t->name, sizeof t->name, "%s", f->name);
	t->st = T_NEW;
	return t;
}

/* A topic gone from the stream: DELETE (with its home and birth), and
 * out of the table.  One that is still in the stream under another name
 * (renamed) is dropped without a word: its new name's TOPIC renames the
 * copy there. */
static int drop_topic(struct lstate *s, size_t i, bool renamed)
{
	struct ltopic *t = &s->t[i];
	if (!renamed) {
		wb_begin(&s->out, RP_DELETE);
		wb_u64(&s->out, t->home);
		wb_u64(&s->out, t->birth.replica);
		wb_u64(&s->out, (uint64_t)t->birth.ns);
		wb_str(&s->out, t->name);
	}
	free(t->cur);
	s->t[i] = s->t[--s->nt];
	return renamed ? 0 : send_out(s);
}

static bool listed(const struct found *f, size_t n, uint64_t ino)
{
	for (size_t k = 0; k < n; k++)
		if (f[k].ino == ino)
			return true;
	return false;
}

/* ms until the next look (0: now) at what changes by generation gen
 * (seen: as last looked at), made last at last, paced by pace, at
 * least every replica_rescan (unless 0); owed: look as if it changed. */
static int64_t look_in(uint64_t gen, uint64_t seen, bool owed, int64_t last,
		       int64_t pace)
{
	int64_t since = rp_now_ms() - last;
	int64_t every = rp_rescan_ms();
	int64_t left = every ? every - since : INT32_MAX;
	if (last == 0)
		left = 0;               /* never looked: now */
	if ((gen != seen || owed) && pace - since < left)
		left = pace - since;
	return left < 0 ? 0 : left;
}

static int64_t scan_in(struct lstate *s)
{
	uint64_t names, cursors;
	rp_link_gens(s->l->conf.stream, &names, &cursors);
	return look_in(names, s->names_seen, false, s->last_scan,
		       SCAN_WAKE_MS);
}

static int64_t cursors_in(struct lstate *s)
{
	uint64_t names, cursors;
	rp_link_gens(s->l->conf.stream, &names, &cursors);
	return look_in(cursors, s->cursors_seen, s->cursors_owed,
		       s->last_cursors, CURSORS_WAKE_MS);
}

static int scan(struct lstate *s)
{
	struct found *f;
	size_t n;
	uint64_t cursors;
	/* Read before the look: a change made during it is looked at
	 * again. */
	rp_link_gens(s->l->conf.stream, &s->names_seen, &cursors);
	pthread_mutex_lock(&fs.lock);
	int r = list_topics(s, &f, &n);
	pthread_mutex_unlock(&fs.lock);
	s->last_scan = rp_now_ms();
	rp_status_looks(s->l, ++s->scans, s->cursor_looks);
	if (r == -ENOENT) {
		s->removed = true;
		s->gone = "its stream is gone";
	}
	if (r < 0) {
		free(f);
		s->names_seen--;        /* look again soon */
		return r == -ENOENT ? -1 : 0;
	}
	for (size_t i = 0; i < s->nt; i++)
		s->t[i].seen = false;
	for (size_t k = 0; k < n; k++) {
		struct ltopic *t = NULL;
		if (f[k].unborn)
			continue;       /* announced once its birth is known */
		const char *was = NULL;
		for (size_t i = 0; i < s->nt && !t; i++)
			if (s->t[i].ino == f[k].ino) {
				if (strcmp(s->t[i].name, f[k].name) == 0)
					t = &s->t[i];
				else
					was = s->t[i].name;
			}
		char former[NAME_MAX_BYTES + 1] = "";
		if (!t && was)
			snprintf(former, sizeof former, "%s", was);
		if (!t)
			t = add_topic(s, &f[k]);
		if (!t)
			break;
		if (*former)
			snprintf(t->former, sizeof t->former, "%s", former);
		t->seen = true;
		t->owed = true;         /* a missed append: found here */
		if (t->home != f[k].home || t->mode != f[k].mode ||
		    t->uid != f[k].uid || t->gid != f[k].gid)
			t->st = T_NEW;  /* handed over, or a chmod or chown:
					 * announced again */
		t->home = f[k].home;
		t->mode = f[k].mode;
		t->uid = f[k].uid;
		t->gid = f[k].gid;
		t->birth = f[k].birth;
	}
	for (size_t i = s->nt; r == 0 && i-- > 0;)
		if (!s->t[i].seen)
			r = drop_topic(s, i, listed(f, n, s->t[i].ino));
	free(f);
	return r;
}

/* ---- sending ---- */

static int announce(struct lstate *s, struct ltopic *t)
{
	struct sf_topic st = { 0 };
	pthread_mutex_lock(&fs.lock);
	int r = rp_topic_state(t->ino, &st);
	pthread_mutex_unlock(&fs.lock);
	if (r < 0)
		return 0;               /* removed meanwhile: the next scan */
	t->tid = s->next_tid++;
	t->st = T_ASKED;
	wb_begin(&s->out, RP_TOPIC);
	wb_u32(&s->out, t->tid);
	wb_u64(&s->out, t->home);
	wb_u32(&s->out, t->mode & 07777);
	wb_u32(&s->out, t->uid);
	wb_u32(&s->out, t->gid);
	wb_u64(&s->out, t->birth.replica);
	wb_u64(&s->out, (uint64_t)t->birth.ns);
	wb_u64(&s->out, st.start);
	wb_u64(&s->out, st.first_msg);
	wb_u64(&s->out, st.size);
	wb_u64(&s->out, st.next_msg);
	wb_str(&s->out, t->name);
	for (size_t i = 0; i < s->nfm && !*t->former; i++)
		if (s->fm[i].ino == t->ino)
			snprintf(t->former, sizeof t->former, "%s",
				 s->fm[i].name);
	wb_str(&s->out, t->former);
	t->former[0] = 0;
	if (expect(s, RP_POSITION, t->tid, 0, 0) < 0)
		return -1;
	return send_out(s);
}

/* Bytes the peer lacks that expired here: said (once a topic), and the
 * peer's copy told to continue at our first live byte (SKIP).  1, or
 * -1.  fs.lock held. */
static int lost_range(struct lstate *s, struct ltopic *t,
		      const struct sf_topic *st)
{
	if (!t->lost_said)
		rp_status_error(s->l, "topic %s/%s: messages %" PRIu64 " to %"
				PRIu64 " (bytes %" PRIu64 " to %" PRIu64 ") "
				"expired here before they reached %s/%s; its "
				"copy there continues at byte %" PRIu64,
				s->src, t->name, t->acked_msg,
				st->first_msg - 1, t->acked, st->start,
				peer_of(s), s->l->conf.peer_stream,
				st->start);
	t->lost_said = true;
	t->pos = st->start;
	wb_begin(&s->out, RP_SKIP);
	wb_u32(&s->out, t->tid);
	wb_u64(&s->out, st->start);
	wb_u64(&s->out, st->first_msg);
	s->inflight++;
	return expect(s, RP_ACK, t->tid, 0, 0);
}

/* The next batch of t, if it has one: 1 sent, 0 nothing to send, -1. */
static int send_batch(struct lstate *s, struct ltopic *t)
{
	struct sf_topic st;
	pthread_mutex_lock(&fs.lock);
	int r = rp_topic_state(t->ino, &st);
	if (r == 0 && t->pos < st.start) {
		r = lost_range(s, t, &st);
		pthread_mutex_unlock(&fs.lock);
		return r < 0 || send_out(s) < 0 ? -1 : 1;
	}
	if (r < 0 || t->pos >= st.size) {
		pthread_mutex_unlock(&fs.lock);
		t->owed = false;
		return 0;
	}
	if (st.size > t->durable) {
		/* Bytes not known durable: the next sync covers them. */
		t->unsynced = true;
		s->sync_wanted = true;
	}
	if (t->pos >= t->durable) {
		pthread_mutex_unlock(&fs.lock);
		t->owed = false;        /* until the sync ends */
		return 0;
	}
	st.size = t->durable < st.size ? t->durable : st.size;
	if (s->inflight && st.size - t->pos < RP_BATCH_SMALL &&
	    rp_now_ms() - t->sent_ms < RP_COALESCE_MS) {
		/* Records are on their way: a little more time gathers
		 * what comes next into one batch, rather than a frame (and
		 * a write at the receiver) per append. */
		pthread_mutex_unlock(&fs.lock);
		s->held = true;
		return 0;
	}
	r = store_topic_raw_read(fs.store, t->ino, &st, t->pos,
				 RP_BATCH_BYTES, &s->rr);
	uint32_t msgs = 0;
	uint64_t bytes = 0, end = t->pos;
	if (r == 0 && s->rr.n > 0) {
		size_t n = s->rr.n < RP_RECORDS_MAX ? s->rr.n : RP_RECORDS_MAX;
		wb_begin(&s->out, RP_RECORDS);
		wb_u32(&s->out, t->tid);
		wb_u32(&s->out, (uint32_t)n);
		for (size_t i = 0; i < n; i++) {
			const struct sf_rrecord *e = &s->rr.r[i];
			wb_u64(&s->out, e->off);
			wb_u64(&s->out, e->msg);
			wb_u64(&s->out, (uint64_t)e->ns);
			wb_u32(&s->out, e->nmsgs);
			wb_u32(&s->out, e->len);
			wb_u32(&s->out, e->trailer_len);
			wb_raw(&s->out, e->bytes,
			       (size_t)e->len + e->trailer_len);
			msgs += e->nmsgs;
			bytes += e->len;
			end = e->off + e->len;
		}
	}
	pthread_mutex_unlock(&fs.lock);
	if (r < 0) {
		rp_status_error(s->l, "topic %s/%s: cannot read byte %" PRIu64
				" here: %s", s->src, t->name, t->pos,
				strerror(-r));
		t->st = T_STALLED;
		t->owed = false;
		return 0;
	}
	if (end == t->pos) {
		t->owed = false;
		return 0;
	}
	t->pos = end;
	t->sent_ms = rp_now_ms();
	s->inflight++;
	s->inflight_bytes += bytes;
	if (expect(s, RP_ACK, t->tid, msgs, bytes) < 0)
		return -1;
	return send_out(s) < 0 ? -1 : 1;
}

/* The topics appended to since the last call: owed a look. */
static void take_appended(struct lstate *s)
{
	uint64_t ino[RP_APPENDED_MAX];
	int n = rp_link_appended(s->l, ino, RP_APPENDED_MAX);
	for (size_t i = 0; i < s->nt; i++) {
		bool hit = n < 0;       /* more than were kept: all */
		for (int k = 0; k < n && !hit; k++)
			hit = s->t[i].ino == ino[k];
		if (hit)
			s->t[i].owed = true;
	}
}

/* Announce new topics and send batches while the window allows: 0, or
 * -1.  *more: a topic has more to send than the window let go.  Only
 * topics owed a look are read: a steady producer to one topic of many
 * costs one topic's state per wake, not every one's. */
static int send_some(struct lstate *s, bool *more)
{
	*more = false;
	s->held = false;
	take_appended(s);
	for (size_t i = 0; i < s->nt; i++)
		if (s->t[i].st == T_NEW && announce(s, &s->t[i]) < 0)
			return -1;
	size_t idle = 0;
	while (s->nt && idle < s->nt) {
		if (s->inflight >= RP_WINDOW ||
		    s->inflight_bytes >= RP_WINDOW_BYTES) {
			*more = true;
			return 0;
		}
		struct ltopic *t = &s->t[s->rr_next++ % s->nt];
		int r = t->st == T_SENDING && t->owed ? send_batch(s, t) : 0;
		if (r < 0)
			return -1;
		idle = r ? 0 : idle + 1;
	}
	return 0;
}

/* ---- syncs: what is sent is durable here ---- */

/* The sync under way ended with result r: what it covers may be sent,
 * or, when it failed, waits for the next (the store writes again what
 * a failed sync may have lost, so a later one that succeeds covers it). */
static void sync_ended(struct lstate *s, int r)
{
	if (r < 0) {
		rp_status_error(s->l, "cannot make %s durable here: %s; its "
				"records are sent once a sync succeeds",
				s->src, strerror(-r));
		s->sync_next = rp_now_ms() + SYNC_RETRY_MS;
	}
	for (size_t i = 0; i < s->nt; i++) {
		struct ltopic *t = &s->t[i];
		if (t->syncing <= t->durable)
			continue;
		if (r < 0) {
			t->unsynced = true;
			s->sync_wanted = true;
		} else {
			t->durable = t->syncing;
			t->owed = true;
		}
	}
}

/* Collect the sync that ended (*ended: it did, and topics may have
 * records to send now), and begin the next when topics wait for one
 * and it is time: the sizes are taken before the sync begins, so it
 * covers them.  The ms until one is due (-1: none waits). */
static int64_t syncs(struct lstate *s, bool *ended)
{
	int r;
	*ended = false;
	if (syncer_busy(s->sy)) {
		if (!syncer_ended(s->sy, &r))
			return -1;      /* its end wakes the link */
		sync_ended(s, r);
		*ended = true;
	}
	if (!s->sync_wanted)
		return -1;
	int64_t now = rp_now_ms();
	if (now < s->sync_next)
		return s->sync_next - now;
	s->sync_wanted = false;
	s->sync_next = now + SYNC_GAP_MS;
	pthread_mutex_lock(&fs.lock);
	for (size_t i = 0; i < s->nt; i++) {
		struct ltopic *t = &s->t[i];
		struct sf_topic st;
		if (t->unsynced && rp_topic_state(t->ino, &st) == 0)
			t->syncing = st.size;
		t->unsynced = false;
	}
	pthread_mutex_unlock(&fs.lock);
	r = syncer_begin(s->sy);
	if (r < 0)
		sync_ended(s, r);
	return -1;
}

/* ---- cursors ---- */

struct cursors {
	struct lcursor c[CURSORS_MAX];
	uint64_t msg[CURSORS_MAX];
	size_t n;
};

static int one_cursor(const char *group, const struct sf_cursor *c,
		      void *arg)
{
	struct cursors *l = arg;
	if (l->n == CURSORS_MAX)
		return 1;
	struct lcursor *e = &l->c[l->n];
	snprintf(e->group, sizeof e->group, "%s", group);
	e->off = c->off;
	e->ns = c->ns;
	l->msg[l->n++] = c->msg;
	return 0;
}

static struct lcursor *sent_cursor(struct ltopic *t, const char *group)
{
	for (size_t i = 0; i < t->ncur; i++)
		if (strcmp(t->cur[i].group, group) == 0)
			return &t->cur[i];
	return NULL;
}

static int one_gone(const char *group, int64_t ns, void *arg)
{
	struct sf_cursor c = { RP_CURSOR_GONE, RP_CURSOR_GONE, ns };
	return one_cursor(group, &c, arg);
}

/* Send those of l (t's cursors, or its removals) changed since they were
 * last sent on this connection, but a cursor whose records the peer
 * lacks yet: 0, or -1. */
static int send_changed(struct lstate *s, struct ltopic *t,
			const struct cursors *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct lcursor *c = &l->c[i];
		struct lcursor *was = sent_cursor(t, c->group);
		if (was && was->off == c->off && was->ns == c->ns)
			continue;
		if (c->off != RP_CURSOR_GONE && t->st == T_SENDING &&
		    c->off > t->acked) {
			s->cursors_owed = true;  /* once the peer holds it */
			continue;
		}
		if (!was) {
			struct lcursor *v = realloc(t->cur, (t->ncur + 1) *
						    sizeof *v);
			if (!v)
				return -1;
			t->cur = v;
			was = &t->cur[t->ncur++];
		}
		*was = *c;
		wb_begin(&s->out, RP_CURSOR);
		wb_u32(&s->out, t->tid);
		wb_u64(&s->out, c->off);
		wb_u64(&s->out, l->msg[i]);
		wb_u64(&s->out, (uint64_t)c->ns);
		wb_str(&s->out, c->group);
		if (send_out(s) < 0)
			return -1;
	}
	return 0;
}

/* Send the cursors of t committed since they were last sent, whose
 * records the peer holds, and the removals of cursors: 0, or -1. */
static int topic_cursors(struct lstate *s, struct ltopic *t,
			 struct cursors *l)
{
	l->n = 0;
	pthread_mutex_lock(&fs.lock);
	store_cursor_list(fs.store, t->ino, NULL, one_cursor, l);
	pthread_mutex_unlock(&fs.lock);
	if (send_changed(s, t, l) < 0)
		return -1;
	l->n = 0;
	pthread_mutex_lock(&fs.lock);
	store_cursor_gone_list(fs.store, t->ino, one_gone, l);
	pthread_mutex_unlock(&fs.lock);
	return send_changed(s, t, l);
}

/* When they changed (or every CURSORS_MS): the cursors of the topics
 * the peer holds. */
static int send_cursors(struct lstate *s)
{
	uint64_t names;
	if (cursors_in(s) > 0)
		return 0;
	rp_link_gens(s->l->conf.stream, &names, &s->cursors_seen);
	s->cursors_owed = false;
	s->last_cursors = rp_now_ms();
	rp_status_looks(s->l, s->scans, ++s->cursor_looks);
	struct cursors *l = malloc(sizeof *l);
	int r = l ? 0 : -1;
	for (size_t i = 0; r == 0 && i < s->nt; i++)
		if (s->t[i].st == T_SENDING || s->t[i].st == T_HOME)
			r = topic_cursors(s, &s->t[i], l);
	free(l);
	return r;
}

/* ---- hand-overs (handover.c) ---- */

/* Ask the peer for the topics to be homed here that it homes, and take
 * those whose copy here has caught up: 0, or -1. */
static int handovers(struct lstate *s)
{
	char name[NAME_MAX_BYTES + 1];
	pthread_mutex_lock(&fs.lock);
	if (rp_handover_finish(s->l->conf.stream, s->self) > 0)
		s->last_scan = 0;       /* announce them with their new home */
	pthread_mutex_unlock(&fs.lock);
	for (;;) {
		pthread_mutex_lock(&fs.lock);
		int n = rp_handover_next(s->l->conf.stream, s->peer_id,
					 s->token, name, sizeof name);
		pthread_mutex_unlock(&fs.lock);
		if (!n)
			return 0;
		wb_begin(&s->out, RP_HANDOVER);
		wb_str(&s->out, name);
		if (expect(s, RP_HANDED, 0, 0, 0) < 0 || send_out(s) < 0)
			return -1;
	}
}

static int handed(struct lstate *s)
{
	struct rbuf *b = &s->c.body;
	char name[NAME_MAX_BYTES + 1], why[RP_STR_MAX + 1];
	uint8_t status = rb_u8(b);
	uint64_t end = rb_u64(b), next = rb_u64(b);
	rb_str(b, name, sizeof name);
	rb_str(b, why, sizeof why);
	struct expect *h = head(s);
	if (!rb_done(b) || !h || h->type != RP_HANDED)
		return malformed(s, "a HANDED not asked for");
	pop(s);
	pthread_mutex_lock(&fs.lock);
	rp_handover_answer(s->l->conf.stream, s->peer_id, name, status, end,
			   next, why);
	pthread_mutex_unlock(&fs.lock);
	return 0;
}

/* ---- answers ---- */

/* The peer holds an earlier topic of t's name (POSITION status 3): if t
 * is homed here, it is renamed aside here, and announced under its new
 * name at the next scan; a copy homed elsewhere waits for its home to
 * do that. */
static void lost_name(struct lstate *s, struct ltopic *t, const char *why)
{
	char line[RP_STR_MAX + 400];
	struct sf_birth b;
	uint64_t ino;
	if (t->home != s->self)
		return;
	snprintf(line, sizeof line, "%s holds an earlier topic of that name "
		 "(%s)", peer_of(s), why);
	pthread_mutex_lock(&fs.lock);
	if (store_lookup(fs.store, s->l->conf.stream, t->name, &ino) == 0 &&
	    ino == t->ino && topic_birth(ino, &b) == 0 &&
	    sf_birth_cmp(&b, &t->birth) == 0)
		rp_rename_aside(s->l->conf.stream, s->src, t->name, &b, line);
	pthread_mutex_unlock(&fs.lock);
	s->last_scan = 0;
}

/* The peer's copy of t, homed here, ends at byte end, past the end of
 * the topic here: it holds records this replica lost (they reached the
 * peer durable from here, so only a loss underneath, or data put back
 * from an older copy, does this).  Appending here would put other
 * records at their offsets; the link says so and sends t no more. */
static bool ahead_of_home(struct lstate *s, struct ltopic *t, uint64_t end)
{
	struct sf_topic st;
	if (t->home != s->self)
		return false;
	pthread_mutex_lock(&fs.lock);
	int r = rp_topic_state(t->ino, &st);
	pthread_mutex_unlock(&fs.lock);
	if (r < 0 || end <= st.size)
		return false;
	rp_status_error(s->l, "topic %s/%s: the copy at %s/%s ends at byte %"
			PRIu64 ", past its end here (byte %" PRIu64 "), its "
			"home: it holds records this replica lost, and the "
			"topic is sent there no more", s->src, t->name,
			peer_of(s), s->l->conf.peer_stream, end, st.size);
	return true;
}

static int position(struct lstate *s)
{
	struct rbuf *b = &s->c.body;
	char why[RP_STR_MAX + 1];
	uint32_t tid = rb_u32(b);
	uint8_t status = rb_u8(b);
	uint64_t end = rb_u64(b), next = rb_u64(b);
	rb_u64(b);                      /* its first live byte */
	rb_str(b, why, sizeof why);
	struct expect *h = head(s);
	if (!rb_done(b) || !h || h->type != RP_POSITION || h->tid != tid)
		return malformed(s, "a POSITION not asked for");
	pop(s);
	struct ltopic *t = by_tid(s, tid);
	if (!t)
		return 0;
	if (status == RP_POS_OK && ahead_of_home(s, t, end)) {
		t->st = T_STALLED;
	} else if (status == RP_POS_OK) {
		t->st = T_SENDING;
		t->pos = t->acked = end;
		t->acked_msg = next;
		t->owed = true;
		s->cursors_owed = true; /* its cursors, at the next look */
	} else if (status == RP_POS_HOME_HERE) {
		t->st = T_HOME;
		s->cursors_owed = true;
	} else if (status == RP_POS_TAKEN) {
		t->st = T_REFUSED;
		lost_name(s, t, why);
	} else {
		t->st = T_REFUSED;
		rp_status_error(s->l, "%s refused topic %s/%s: %s", peer_of(s),
				s->src, t->name, why);
	}
	return 0;
}

/* The peer's copy of t ends at end, and our next byte is past it: send
 * from there again (or, if it expired here, SKIP to our first live
 * byte: send_batch). */
static void gap(struct ltopic *t, uint64_t end, uint64_t next)
{
	t->acked = end;
	t->acked_msg = next;
	if (t->pos > end)
		t->pos = end;
	t->owed = true;
}

static int ack(struct lstate *s)
{
	struct rbuf *b = &s->c.body;
	uint32_t tid = rb_u32(b);
	uint8_t status = rb_u8(b);
	uint64_t end = rb_u64(b), next = rb_u64(b);
	struct expect *h = head(s);
	if (!rb_done(b) || !h || h->type != RP_ACK || h->tid != tid)
		return malformed(s, "an ACK not asked for");
	struct expect e = *h;
	pop(s);
	s->inflight--;
	s->inflight_bytes -= e.bytes;
	struct ltopic *t = by_tid(s, tid);
	if (!t)
		return 0;
	if (status == RP_ACK_GONE) {
		t->st = T_NEW;
	} else if (status == RP_ACK_GAP) {
		gap(t, end, next);
	} else {
		s->sent_msgs += e.msgs;
		s->sent_bytes += e.bytes;
		if (end > t->acked) {
			t->acked = end;
			t->acked_msg = next;
		}
		if (t->pos < end)
			t->pos = end;
	}
	return 0;
}

static int answer(struct lstate *s)
{
	switch (s->c.type) {
	case RP_POSITION:
		return position(s);
	case RP_ACK:
		return ack(s);
	case RP_HANDED:
		return handed(s);
	case RP_PING:
		wb_begin(&s->out, RP_PONG);
		wb_u64(&s->out, rb_u64(&s->c.body));
		return send_out(s);
	case RP_PONG: {
		struct expect *h = head(s);
		if (!h || h->type != RP_PONG)
			return malformed(s, "a PONG not asked for");
		pop(s);
		return 0;
	}
	case RP_ERROR:
		peer_error(s);
		return -1;
	default:
		return malformed(s, "an unexpected frame type");
	}
}

/* One frame within ms, if one comes: 0, or -1 (the connection ends). */
static int read_answer(struct lstate *s, int ms)
{
	int r = rc_read(&s->c, ms);
	if (r < 0) {
		if (r == -ECONNRESET)
			rp_status_down(s->l, "%s closed the connection",
				       peer_of(s));
		else if (r != -ECANCELED)
			rp_status_down(s->l, "the connection to %s broke",
				       peer_of(s));
		return -1;
	}
	if (r == 0) {
		struct expect *h = head(s);
		if (h && rp_now_ms() - h->sent_ms > RP_ANSWER_MS) {
			rp_status_down(s->l, "%s did not answer in %d s",
				       peer_of(s), RP_ANSWER_MS / 1000);
			return -1;
		}
		return 0;
	}
	return answer(s);
}

/* ---- status ---- */

/* t was caught up at the last status, and nothing was appended to it or
 * acknowledged of it since: still caught up, without reading it. */
static bool still_caught(const struct ltopic *t)
{
	return t->st == T_SENDING && t->caught && !t->owed &&
	       t->caught_at == t->acked;
}

/* What the peer lacks, summed over topics: messages, and the arrival
 * time of the oldest of them (0: none). */
struct lag {
	uint64_t behind;
	int64_t oldest;
};

/* Topic ino (state st) lacks everything from byte off, message msg, on
 * at the peer (fs.lock held). */
static void lag_add(struct lag *g, uint64_t ino, const struct sf_topic *st,
		    uint64_t off, uint64_t msg)
{
	struct sf_record rec;
	if (st->next_msg <= msg)
		return;
	g->behind += st->next_msg - msg;
	if (store_topic_records(fs.store, ino, st, off, &rec, 1) == 1 &&
	    (!g->oldest || rec.ns < g->oldest))
		g->oldest = rec.ns;
}

static void lag_report(struct lstate *s, const struct lag *g)
{
	double secs = g->oldest ? (double)(rp_real_ns() - g->oldest) / 1e9 : 0;
	rp_status_progress(s->l, g->behind, secs < 0 ? 0 : secs, s->sent_msgs,
			   s->sent_bytes);
}

/* The link's figures while it is up, at most every STATUS_MS. */
static void status(struct lstate *s)
{
	int64_t now = rp_now_ms();
	if (now - s->last_status < STATUS_MS) {
		s->status_owed = true;
		return;
	}
	s->last_status = now;
	s->status_owed = false;
	struct lag g = { 0, 0 };
	pthread_mutex_lock(&fs.lock);
	for (size_t i = 0; i < s->nt; i++) {
		struct ltopic *t = &s->t[i];
		struct sf_topic st;
		if ((t->st != T_SENDING && t->st != T_STALLED) ||
		    still_caught(t) || rp_topic_state(t->ino, &st) < 0)
			continue;
		t->caught = st.next_msg <= t->acked_msg;
		t->caught_at = t->acked;
		lag_add(&g, t->ino, &st, t->acked, t->acked_msg);
	}
	pthread_mutex_unlock(&fs.lock);
	lag_report(s, &g);
}

/* The same with no connection (paused, or the peer out of reach): what
 * the peer lacks as far as this link knows, from where each topic stood
 * there when last heard of, and the whole of each topic not heard of on
 * this link (a link that never reached its peer counts every message),
 * so the figures grow while the link is down.  Not the topics homed at
 * the peer, nor those it refused.  At most every STATUS_MS unless
 * forced. */
static void status_offline(struct lstate *s, bool force)
{
	struct found *f;
	size_t n;
	struct lag g = { 0, 0 };
	int64_t now = rp_now_ms();
	if (!force && now - s->last_status < STATUS_MS)
		return;
	s->last_status = now;
	pthread_mutex_lock(&fs.lock);
	int r = list_topics(s, &f, &n);
	for (size_t k = 0; r == 0 && k < n; k++) {
		struct ltopic *t = NULL;
		for (size_t i = 0; i < s->nt && !t; i++)
			if (s->t[i].ino == f[k].ino)
				t = &s->t[i];
		struct sf_topic st;
		if ((s->peer_id && f[k].home == s->peer_id) ||
		    (t && (t->st == T_HOME || t->st == T_REFUSED)) ||
		    rp_topic_state(f[k].ino, &st) < 0)
			continue;
		if (t && t->acked > st.start)
			lag_add(&g, f[k].ino, &st, t->acked, t->acked_msg);
		else
			lag_add(&g, f[k].ino, &st, st.start, st.first_msg);
	}
	pthread_mutex_unlock(&fs.lock);
	free(f);
	if (r == 0)
		lag_report(s, &g);
}

/* ---- a connection ---- */

/* The link's settings changed: -1 to end the connection. */
static int reload(struct lstate *s)
{
	struct sf_link conf;
	int r = rp_link_reload(s->l, &conf);
	if (r == -ENOENT) {
		s->removed = true;
		s->gone = "it was removed";
		return -1;
	}
	if (r == 0) {
		bool same = strcmp(conf.peer, s->l->conf.peer) == 0 &&
			    strcmp(conf.peer_stream,
				   s->l->conf.peer_stream) == 0;
		s->l->conf = conf;
		if (!same || (conf.flags & SF_LINK_PAUSED))
			return -1;
	}
	return rp_link_quit(s->l) ? -1 : 0;
}

/* Nothing to send now: wait for an append (unless the window is
 * full), an answer, a change or the time to PING.  0, or -1. */
static int idle(struct lstate *s, bool more)
{
	int64_t now = rp_now_ms();
	struct expect *h = head(s);
	if (h && now - h->sent_ms > RP_ANSWER_MS) {
		rp_status_down(s->l, "%s did not answer in %d s", peer_of(s),
			       RP_ANSWER_MS / 1000);
		return -1;
	}
	if (!h && now - s->last_sent >= RP_PING_MS) {
		wb_begin(&s->out, RP_PING);
		wb_u64(&s->out, (uint64_t)now);
		return expect(s, RP_PONG, 0, 0, 0) < 0 || send_out(s) < 0
		       ? -1 : 0;
	}
	int64_t wait = h ? 200 : RP_PING_MS - (now - s->last_sent);
	int64_t look = scan_in(s), cur = cursors_in(s);
	if (look < wait)
		wait = look;    /* a change not yet looked at (paced) */
	if (cur < wait)
		wait = cur;
	if (s->status_owed && STATUS_MS - (now - s->last_status) < wait)
		wait = STATUS_MS - (now - s->last_status);
	if (s->held)
		wait = RP_COALESCE_MS;
	bool ended;
	int64_t sync = syncs(s, &ended);
	if (ended)
		return 0;       /* records to send: run() sends them */
	if (sync >= 0 && sync < wait)
		wait = sync;
	/* An append, a change of names or cursors, or a sync's end wakes
	 * us; run() looks at them when due. */
	int w = rp_link_poll(s->l, &s->seq, s->c.fd, syncer_fd(s->sy),
			     wait < 1 ? 1 : (int)wait, !more && !s->held);
	if ((w & RP_READABLE) && read_answer(s, 200) < 0)
		return -1;
	return 0;
}

static void run(struct lstate *s)
{
	for (size_t i = 0; i < s->nt; i++) {
		s->t[i].st = T_NEW;
		free(s->t[i].cur);
		s->t[i].cur = NULL;
		s->t[i].ncur = 0;
	}
	s->last_scan = 0;
	s->last_cursors = 0;
	while (reload(s) == 0) {
		bool more;
		if (scan_in(s) == 0 && scan(s) < 0)
			return;
		if (send_some(s, &more) < 0 || send_cursors(s) < 0 ||
		    handovers(s) < 0)
			return;
		while (rc_readable(&s->c))
			if (read_answer(s, 200) < 0)
				return;
		/* Paced: it reads every topic's state. */
		status(s);
		if (idle(s, more) < 0)
			return;
	}
}

static void session(struct lstate *s, bool *up)
{
	s->c = (struct rconn){ .fd = -1 };
	s->qh = s->qn = 0;
	s->inflight = 0;
	s->inflight_bytes = 0;
	s->next_tid = 1;
	free(s->fm);
	s->fm = NULL;
	s->nfm = 0;
	pthread_mutex_lock(&fs.lock);
	s->token = rp_handover_token();
	pthread_mutex_unlock(&fs.lock);
	if (!tls_client_ctx()) {
		rp_status_error(s->l, "the daemon has no TLS settings: a link "
				"needs -o tls_cert=FILE,tls_key=FILE,"
				"tls_ca=FILE");
		return;
	}
	if (tcp_connect(s) == 0 && tls_connect(s) == 0 &&
	    check_peer(s) == 0 && hello(s) == 0) {
		*up = true;
		rp_status_set_state(s->l, "up");
		log_msg(SF_LOG_INFO, "replica: link %llu: %s is up, pushing "
			"%s to %s/%s (replica %016" PRIx64 ")",
			(unsigned long long)s->l->id, peer_of(s), s->src,
			peer_of(s), s->l->conf.peer_stream, s->peer_id);
		run(s);
	}
	rp_link_set_fd(s->l, -1);
	rc_close(&s->c);
	store_rread_free(&s->rr);
	memset(&s->rr, 0, sizeof s->rr);
}

/* Wait ms, or less when the link changes or the daemon stops. */
static void backoff(struct lstate *s, int ms)
{
	int64_t end = rp_now_ms() + ms;
	int64_t left;
	while (!rp_link_quit(s->l) && (left = end - rp_now_ms()) > 0)
		if (rp_link_poll(s->l, &s->seq, -1, -1, (int)left, false))
			break;
}

void *rp_link_main(void *arg)
{
	struct lstate s = { .l = arg };
	int delay = BACKOFF_MIN_MS;
	s.seq = rp_link_seq(s.l);
	while (!s.sy && !rp_link_quit(s.l)) {
		if (!(s.sy = syncer_new())) {
			rp_status_error(s.l, "cannot start the link's syncs: "
					"out of memory");
			backoff(&s, BACKOFF_MAX_MS);
		}
	}
	while (!rp_link_quit(s.l) && !s.removed) {
		if (reload(&s) < 0 && (s.removed || rp_link_quit(s.l)))
			break;
		if (s.l->conf.flags & SF_LINK_PAUSED) {
			/* What the peer lacks goes on growing: said as the
			 * appends come. */
			rp_status_set_state(s.l, "paused");
			status_offline(&s, false);
			rp_link_poll(s.l, &s.seq, -1, -1, 1000, true);
			continue;
		}
		rp_status_set_state(s.l, "connecting");
		bool up = false;
		session(&s, &up);
		if (s.removed || rp_link_quit(s.l))
			break;
		if (up)
			delay = BACKOFF_MIN_MS;
		if (s.l->conf.flags & SF_LINK_PAUSED)
			continue;
		rp_status_set_state(s.l, "error");
		status_offline(&s, true);
		backoff(&s, delay);
		delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
	}
	for (size_t i = 0; i < s.nt; i++)
		free(s.t[i].cur);
	free(s.t);
	free(s.q);
	free(s.fm);
	wb_free(&s.out);
	syncer_free(s.sy);
	if (s.removed) {
		log_msg(SF_LOG_INFO, "replica: link %llu: ends: %s",
			(unsigned long long)s.l->id, s.gone);
		rp_link_ended(s.l);
	}
	return NULL;
}
