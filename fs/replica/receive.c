/* receive.c - the receiving end of a replication connection: HELLO
 * (the stream it pushes into, checked for the peer's copy permission),
 * TOPIC (the topic found, renamed as at its home, replaced by a newer
 * one of its name, made, or refused, by home and birth; and where it
 * ends here), RECORDS (stored with their own offsets and times when they
 * continue the topic, skipped when held already, made durable before
 * the ACK), DELETE (of the topic of that name, home and birth only),
 * PING and HANDOVER (a topic homed here handed to the sender, answered
 * with its final end).  docs/replication.md is the format;
 * docs/design.md "Replication" the rules.
 *
 * One thread per connection (listener.c), and one for its syncs
 * (acks.c); fs.lock around every store call, never across the network. */
#include <errno.h>
#include <dirent.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp.h"

#define TOPICS_MAX 1000000

struct rtopic {
	uint32_t tid;
	uint64_t ino;
	uint64_t home;
	bool home_here;         /* homed here: cursors only, no records */
	char name[NAME_MAX_BYTES + 1];
};

struct recv {
	struct rconn *c;
	struct rp_caller who;
	char user[64];
	uint64_t self;                  /* this replica's id */
	uint64_t sender;                /* the source's replica id */
	uint64_t stream;                /* the stream that receives */
	char path[SF_LINK_PATH_MAX + 1]; /* its path, for log lines */
	struct rtopic *t;
	size_t nt, capt;
	struct sf_rrecord *rec;
	size_t caprec;
	struct wbuf out;
	struct rp_acks *acks;
};

/* A malformed frame: one line, ERROR, and the connection ends (-1). */
static int malformed(struct recv *v, const char *what)
{
	log_msg(SF_LOG_WARNING, "replica: %s sent a malformed frame "
		"(%s): closing the connection", v->c->peer, what);
	rc_error(v->c, RP_E_MALFORMED, what);
	return -1;
}

/* A refusal: one line here, ERROR there, and the connection ends. */
static int refuse(struct recv *v, uint16_t code, const char *msg)
{
	log_msg(SF_LOG_WARNING, "replica: refused %s: %s", v->c->peer,
		msg);
	rc_error(v->c, code, msg);
	return -1;
}

static int send_out(struct recv *v)
{
	return rc_send(v->c, &v->out) < 0 ? -1 : 0;
}

/* The answer in v->out, after those before it (and with stored, after
 * the sync that makes the records stored just now durable). */
static int queue(struct recv *v, bool stored)
{
	return acks_push(v->acks, &v->out, stored) < 0 ? -1 : 0;
}

/* ---- HELLO, HOLDS ---- */

/* The names of the stream's topics homed at the sender and their
 * births (0 for a copy from before births), after WELCOME: the source
 * removes those it no longer has (removed while it was not running, so
 * it could not say so then). */
/* Whether entry ino (type) of the stream is a topic homed at the
 * sender.  fs.lock held. */
static bool senders(struct recv *v, uint64_t ino, uint32_t type)
{
	struct sf_inode in;
	uint64_t home;
	return type == DT_REG && store_get_inode(fs.store, ino, &in) == 0 &&
	       is_topic(&in) && store_topic_home(fs.store, ino, &home) == 0 &&
	       home == v->sender;
}

static int holds(struct recv *v)
{
	struct store_dirit *it;
	const char *name;
	size_t len;
	uint64_t ino;
	uint32_t type, n = 0;
	wb_begin(&v->out, RP_HOLDS);
	wb_u32(&v->out, 0);             /* the count, patched below */
	pthread_mutex_lock(&fs.lock);
	it = store_dirit_open(fs.store, v->stream);
	while (it && n < RP_HOLDS_MAX &&
	       store_dirit_next(it, &name, &len, &ino, &type) == 1) {
		struct sf_birth b;
		char buf[NAME_MAX_BYTES + 1];
		if (len > NAME_MAX_BYTES || !senders(v, ino, type))
			continue;
		if (store_topic_birth(fs.store, ino, &b) != 0)
			b = (struct sf_birth){ 0, 0 };
		memcpy(buf, name, len);
		buf[len] = 0;
		wb_str(&v->out, buf);
		wb_u64(&v->out, b.replica);
		wb_u64(&v->out, (uint64_t)b.ns);
		n++;
	}
	if (it)
		store_dirit_close(it);
	pthread_mutex_unlock(&fs.lock);
	if (!v->out.oom)
		for (int i = 0; i < 4; i++)
			v->out.p[5 + i] = (uint8_t)(n >> (24 - 8 * i));
	return send_out(v);
}

/* ---- HELLO ---- */

/* The stream takes the topics of one stream per sending replica (its
 * HOLDS lists every topic homed at the sender: a second stream of it
 * would remove the first one's copies).  Source is the sender's id of
 * the stream it pushes: noted at the first HELLO, and a HELLO from
 * another stream of the sender is refused while the stream holds a
 * topic homed at the sender.  0, 1 refused, or -errno.  fs.lock held. */
static int one_feed(struct recv *v, uint64_t stream, uint64_t source)
{
	uint64_t fed;
	int r = store_feed_get(fs.store, stream, v->sender, &fed);
	if (r == 0 && fed == source)
		return 0;
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0) {
		struct store_dirit *it = store_dirit_open(fs.store, stream);
		const char *name;
		size_t len;
		uint64_t ino;
		uint32_t type;
		bool held = false;
		while (it && !held && store_dirit_next(it, &name, &len, &ino,
						       &type) == 1)
			held = senders(v, ino, type);
		if (it)
			store_dirit_close(it);
		if (!it)
			return -EIO;
		if (held)
			return 1;
	}
	return store_feed_set(fs.store, stream, v->sender, source);
}

static int hello(struct recv *v)
{
	struct rbuf *r = &v->c->body;
	char dest[SF_LINK_PATH_MAX], src[SF_LINK_PATH_MAX], msg[2600];
	const uint8_t *magic = rb_raw(r, 4);
	uint16_t version = rb_u16(r);
	v->sender = rb_u64(r);
	rb_str(r, dest, sizeof dest);
	rb_str(r, src, sizeof src);
	uint64_t source = rb_u64(r);
	if (v->c->type != RP_HELLO || !rb_done(r) ||
	    memcmp(magic, RP_MAGIC, 4) != 0 || v->sender == 0 || source == 0)
		return malformed(v, "expected HELLO");
	if (version != RP_VERSION) {
		snprintf(msg, sizeof msg, "protocol version %u is not served "
			 "(only %u)", version, RP_VERSION);
		return refuse(v, RP_E_VERSION, msg);
	}
	struct sf_inode dir;
	pthread_mutex_lock(&fs.lock);
	int e = store_replica_id(fs.store, &v->self);
	if (e == 0)
		e = rp_stream_walk(&v->who.c, dest, &dir);
	if (e == 0)
		e = may_copy(&v->who.c, &dir);
	pthread_mutex_unlock(&fs.lock);
	snprintf(v->path, sizeof v->path, "%s%s", *dest ? "/" : "", dest);
	if (e == -EACCES) {
		snprintf(msg, sizeof msg, "replica %016" PRIx64 ": user %s "
			 "(the certificate of %s) may not copy stream %s",
			 v->self, v->user, v->c->peer, v->path);
		return refuse(v, RP_E_DENIED, msg);
	}
	if (e == -ENOENT) {
		snprintf(msg, sizeof msg, "replica %016" PRIx64 " has no "
			 "stream %s", v->self, v->path);
		return refuse(v, RP_E_NO_STREAM, msg);
	}
	if (e < 0) {
		snprintf(msg, sizeof msg, "replica %016" PRIx64 ": %s",
			 v->self, strerror(-e));
		return refuse(v, RP_E_STORAGE, msg);
	}
	if (v->sender == v->self) {
		snprintf(msg, sizeof msg, "replica %016" PRIx64 " is the "
			 "sender itself", v->self);
		return refuse(v, RP_E_SELF, msg);
	}
	pthread_mutex_lock(&fs.lock);
	e = one_feed(v, dir.ino, source);
	pthread_mutex_unlock(&fs.lock);
	if (e == 1) {
		snprintf(msg, sizeof msg, "replica %016" PRIx64 ": stream %s "
			 "receives another stream of replica %016" PRIx64
			 " and holds its topics: remove that link, or those "
			 "topics here, first", v->self, v->path, v->sender);
		return refuse(v, RP_E_FED, msg);
	}
	if (e < 0) {
		snprintf(msg, sizeof msg, "replica %016" PRIx64 ": %s",
			 v->self, strerror(-e));
		return refuse(v, RP_E_STORAGE, msg);
	}
	v->stream = dir.ino;
	log_msg(SF_LOG_INFO, "replica: %s (replica %016" PRIx64 ", user "
		"%s) pushes its /%s into %s", v->c->peer, v->sender, v->user,
		src, v->path);
	wb_begin(&v->out, RP_WELCOME);
	wb_u64(&v->out, v->self);
	if (send_out(v) < 0)
		return -1;
	return holds(v);
}

/* ---- TOPIC ---- */

struct topic_frame {
	uint32_t tid, mode, uid, gid;
	uint64_t home, start, first_msg, end, next_msg;
	struct sf_birth birth;
	char name[NAME_MAX_BYTES + 1];
	char former[NAME_MAX_BYTES + 1];        /* "": none */
};

static struct rtopic *find_tid(struct recv *v, uint32_t tid)
{
	for (size_t i = v->nt; i-- > 0;)
		if (v->t[i].tid == tid)
			return &v->t[i];
	return NULL;
}

/* Make topic f->name in the stream, homed at f->home with f's birth
 * (fs.lock held).  Home and birth first: a topic is never made one
 * without them (a crash between leaves a file of no kind). */
static int make_topic(struct recv *v, const struct topic_frame *f,
		      struct sf_inode *in)
{
	struct caller root;
	double timeout;
	rp_root_caller(&root);
	int r = ns_make_as(&root, v->stream, f->name,
			   S_IFREG | (f->mode & 07777), 0, NULL, true, in,
			   &timeout);
	if (r < 0)
		return r;
	in->uid = f->uid;
	in->gid = f->gid;
	in->kind = SF_KIND_TOPIC;
	if (f->birth.ns > 0) {
		in->ctime.tv_sec = f->birth.ns / 1000000000;
		in->ctime.tv_nsec = f->birth.ns % 1000000000;
	}
	r = store_topic_set_origin(fs.store, in->ino, f->home, &f->birth);
	if (r == 0)
		r = kind_save(in);
	notify_inval_name(v->stream, f->name);
	return r;
}

/* The birth of topic ino (homed at home) here, to compare f's with: a
 * copy of f's home from before births is taken to be f's topic and
 * keeps f's birth from now on (fs.lock held). */
static int held_birth(struct recv *v, const struct topic_frame *f,
		      uint64_t ino, uint64_t home, struct sf_birth *b)
{
	int r = topic_birth(ino, b);
	if (r != 1)
		return r;
	if (home == f->home)
		*b = f->birth;
	r = store_topic_set_birth(fs.store, ino, b);
	if (r == 0)
		replica_names_changed(v->stream);       /* born: announced */
	return r;
}

/* Whether topic `name` of the stream is f's under the name it had: of
 * f's home, with f's birth.  fs.lock held. */
static bool is_former(struct recv *v, const struct topic_frame *f,
		      const char *name, uint64_t *ino)
{
	struct sf_inode in;
	struct sf_birth b;
	uint64_t home;
	return *name && store_lookup(fs.store, v->stream, name, ino) == 0 &&
	       store_get_inode(fs.store, *ino, &in) == 0 && is_topic(&in) &&
	       store_topic_home(fs.store, *ino, &home) == 0 &&
	       home == f->home && store_topic_birth(fs.store, *ino, &b) == 0 &&
	       sf_birth_cmp(&b, &f->birth) == 0;
}

/* f->name is missing here: the topic of f's home with f's birth under
 * the name the source says it had is f's topic renamed at its home,
 * renamed here too; else a new one is made (fs.lock held). */
static int take_new_name(struct recv *v, const struct topic_frame *f,
			 uint64_t *ino)
{
	const char *old = f->former;
	struct sf_inode in;
	struct caller root;
	int r;
	if (!is_former(v, f, old, ino)) {
		r = make_topic(v, f, &in);
		*ino = in.ino;
		return r;
	}
	rp_root_caller(&root);
	r = ns_rename_as(&root, v->stream, old, v->stream, f->name,
			 RENAME_NOREPLACE);
	if (r < 0)
		return r;
	notify_inval_name(v->stream, old);
	notify_inval_name(v->stream, f->name);
	log_msg(SF_LOG_INFO, "replica: topic %s/%s renamed to %s, as at "
		"its home (%s)", v->path, old, f->name, v->c->peer);
	return 0;
}

/* The copy of f->name here, homed at f's home too, is an older topic of
 * that name, removed at its home since: removed here, and f's made
 * (fs.lock held). */
static int replace_copy(struct recv *v, const struct topic_frame *f,
			uint64_t *ino)
{
	struct caller root;
	char b[96];
	rp_root_caller(&root);
	int r = ns_remove_as(&root, v->stream, f->name, false);
	if (r < 0)
		return r;
	notify_inval_name(v->stream, f->name);
	rp_birth_str(&f->birth, b, sizeof b);
	log_msg(SF_LOG_INFO, "replica: topic %s/%s removed: its home %016"
		PRIx64 " made a new one of that name (%s)", v->path, f->name,
		f->home, b);
	return take_new_name(v, f, ino);
}

/* Two topics of one name, homed at two replicas (neither a hand-over),
 * the one here written: the earlier birth keeps the name.  f's is earlier: the one here is
 * renamed aside (at its home, or ahead of it for a copy) and f's made;
 * RP_POS_OK.  Ours is: RP_POS_TAKEN, why naming both.  The same birth
 * (one topic the two disagree about), or f's never written:
 * RP_POS_REFUSED.  fs.lock held. */
static int name_contest(struct recv *v, const struct topic_frame *f,
			uint64_t *ino, uint64_t home,
			const struct sf_birth *held, char *why, size_t cap)
{
	char a[96], b[96], line[700];
	int c = sf_birth_cmp(&f->birth, held);
	rp_birth_str(held, a, sizeof a);
	rp_birth_str(&f->birth, b, sizeof b);
	if (c == 0 || (f->end == 0 && f->next_msg == 0)) {
		/* One topic the two disagree about; or the one sent never
		 * held a record, and takes this one's home and birth there
		 * when this one reaches it. */
		snprintf(why, cap, "topic %s/%s is homed at replica %016"
			 PRIx64 " here, at %016" PRIx64 " there", v->path,
			 f->name, home, f->home);
		return RP_POS_REFUSED;
	}
	if (c > 0) {
		snprintf(why, cap, "the name %s/%s is taken by an earlier "
			 "topic: the one here is %s, the one sent %s",
			 v->path, f->name, a, b);
		return RP_POS_TAKEN;
	}
	snprintf(line, sizeof line, "%s has an earlier topic of that name "
		 "(%s; this one is %s)", v->c->peer, b, a);
	int r = rp_rename_aside(v->stream, v->path, f->name, held, line);
	if (r == 0)
		r = take_new_name(v, f, ino);
	return r < 0 ? r : RP_POS_OK;
}

/* f's topic is held here as *ino, homed at home, and has held records:
 * what its birth says (fs.lock held): RP_POS_*, or -errno. */
static int same_name(struct recv *v, const struct topic_frame *f,
		     uint64_t *ino, uint64_t home, char *why, size_t cap)
{
	struct sf_birth held;
	char a[96], b[96];
	int r = held_birth(v, f, *ino, home, &held);
	if (r < 0)
		return r;
	if (home != f->home)
		return name_contest(v, f, ino, home, &held, why, cap);
	int c = sf_birth_cmp(&f->birth, &held);
	if (c > 0) {
		r = replace_copy(v, f, ino);
		return r < 0 ? r : RP_POS_OK;
	}
	if (c < 0) {
		rp_birth_str(&held, a, sizeof a);
		rp_birth_str(&f->birth, b, sizeof b);
		snprintf(why, cap, "topic %s/%s here is a later one of that "
			 "name (%s) than the one sent (%s), which its home "
			 "has removed", v->path, f->name, a, b);
		return RP_POS_REFUSED;
	}
	return RP_POS_OK;
}

/* Topic ino here (homed at home) has never held a record: it becomes
 * f's, with f's home and birth (fs.lock held). */
static int reborn(struct recv *v, const struct topic_frame *f, uint64_t ino,
		  uint64_t home, struct sf_inode *in)
{
	struct sf_birth held;
	int r = held_birth(v, f, ino, home, &held);
	if (r == 0 && in->kind != SF_KIND_TOPIC) {
		in->kind = SF_KIND_TOPIC;
		r = kind_save(in);
	}
	if (r == 0 && (home != f->home || sf_birth_cmp(&held, &f->birth)))
		r = store_topic_set_origin(fs.store, ino, f->home, &f->birth);
	return r;
}

/* f's topic is homed here: RP_POS_HOME_HERE (its cursors are taken),
 * or RP_POS_REFUSED when the one here is another topic of that name than
 * the sender's copy, an older one removed here since (fs.lock held). */
static int home_here(struct recv *v, const struct topic_frame *f,
		     uint64_t ino, char *why, size_t cap)
{
	struct sf_birth held;
	char a[96], b[96];
	int r = topic_birth(ino, &held);
	if (r != 0 || sf_birth_cmp(&held, &f->birth) == 0)
		return RP_POS_HOME_HERE;
	rp_birth_str(&held, a, sizeof a);
	rp_birth_str(&f->birth, b, sizeof b);
	snprintf(why, cap, "topic %s/%s here is another one of that name "
		 "(%s) than the one sent (%s)", v->path, f->name, a, b);
	return RP_POS_REFUSED;
}

/* Where f's topic is here: its status (RP_POS_*), reason, state, ino.
 * fs.lock held. */
static int topic_place(struct recv *v, const struct topic_frame *f,
		       struct sf_topic *t, uint64_t *ino, char *why,
		       size_t cap)
{
	struct sf_inode in;
	uint64_t home;
	int r = store_lookup(fs.store, v->stream, f->name, ino);
	if (r == -ENOENT) {
		if (f->home == v->self)
			return RP_POS_HOME_HERE;        /* removed here */
		r = take_new_name(v, f, ino);
	} else if (r == 0) {
		r = store_get_inode(fs.store, *ino, &in);
		if (r == 0 && (!S_ISREG(in.mode) || in.kind == SF_KIND_BLOB)) {
			snprintf(why, cap, "%s/%s is not a topic here",
				 v->path, f->name);
			return RP_POS_REFUSED;
		}
		if (r == 0)
			r = store_topic_home(fs.store, *ino, &home);
		if (r == 0 && home == v->self && f->home == v->self)
			return home_here(v, f, *ino, why, cap);
		if (r == 0)
			r = rp_topic_state(*ino, t);
		bool never = r == 0 && t->size == 0 && t->next_msg == 0;
		/* A hand-over between the sender and us under way: one of
		 * the two has moved the home already.  Records may flow
		 * (only the old home has any the other lacks); the home here
		 * changes only through the hand-over itself. */
		bool handing = home == v->sender && f->home == v->self;
		if (r == 0 && handing)
			return RP_POS_OK;
		if (r == 0 && !never) {
			int x = same_name(v, f, ino, home, why, cap);
			if (x > 0)
				return x;
			r = x;
		} else if (r == 0) {
			/* Never written: it takes the home and birth of the
			 * one that holds records (a topic made here too, or
			 * an older one of the name at the same home). */
			r = reborn(v, f, *ino, home, &in);
		}
	}
	if (r == 0)
		r = rp_topic_state(*ino, t);
	if (r < 0) {
		snprintf(why, cap, "topic %s/%s: %s", v->path, f->name,
			 strerror(-r));
		return RP_POS_REFUSED;
	}
	return RP_POS_OK;
}

/* A copy takes the mode, owner and group its home's TOPIC says, when
 * they changed there (a chmod or chown at the home): fs.lock held.  Not
 * a topic homed here, nor one being handed over to here. */
static void copy_attrs(struct recv *v, const struct topic_frame *f,
		       uint64_t ino)
{
	struct sf_inode in;
	uint64_t home;
	if (f->home == v->self || store_topic_home(fs.store, ino, &home) < 0 ||
	    home != f->home || store_get_inode(fs.store, ino, &in) < 0 ||
	    ((in.mode & 07777) == (f->mode & 07777) && in.uid == f->uid &&
	     in.gid == f->gid))
		return;
	in.mode = (in.mode & ~07777u) | (f->mode & 07777);
	in.uid = f->uid;
	in.gid = f->gid;
	touch_ctime(&in);
	if (inode_save(&in) == 0)
		replica_names_changed(v->stream);       /* sent on */
}

static int topic(struct recv *v)
{
	struct rbuf *r = &v->c->body;
	struct topic_frame f;
	f.tid = rb_u32(r);
	f.home = rb_u64(r);
	f.mode = rb_u32(r);
	f.uid = rb_u32(r);
	f.gid = rb_u32(r);
	f.birth.replica = rb_u64(r);
	f.birth.ns = (int64_t)rb_u64(r);
	f.start = rb_u64(r);
	f.first_msg = rb_u64(r);
	f.end = rb_u64(r);
	f.next_msg = rb_u64(r);
	rb_str(r, f.name, sizeof f.name);
	rb_str(r, f.former, sizeof f.former);
	if (!rb_done(r) || rp_name_check(f.name) < 0 || f.home == 0 ||
	    f.birth.replica == 0 ||
	    (*f.former && rp_name_check(f.former) < 0))
		return malformed(v, "a TOPIC that does not decode");
	if (find_tid(v, f.tid))
		return malformed(v, "a TOPIC number used twice");
	if (v->nt == TOPICS_MAX)
		return malformed(v, "too many TOPICs");
	if (v->nt == v->capt) {
		size_t cap = v->capt ? v->capt * 2 : 64;
		struct rtopic *t = realloc(v->t, cap * sizeof *t);
		if (!t)
			return -1;
		v->t = t;
		v->capt = cap;
	}
	struct sf_topic t = { 0 };
	uint64_t ino = 0;
	char why[2600] = "";
	pthread_mutex_lock(&fs.lock);
	int st = topic_place(v, &f, &t, &ino, why, sizeof why);
	if (st == RP_POS_OK && ino)
		copy_attrs(v, &f, ino);
	pthread_mutex_unlock(&fs.lock);
	if (st == RP_POS_REFUSED)
		log_msg(SF_LOG_WARNING, "replica: %s: %s", v->c->peer,
			why);
	why[RP_STR_MAX] = 0;
	if (st == RP_POS_OK || (st == RP_POS_HOME_HERE && ino)) {
		struct rtopic *e = &v->t[v->nt++];
		e->tid = f.tid;
		e->ino = ino;
		e->home = f.home;
		e->home_here = st == RP_POS_HOME_HERE;
		snprintf(e->name, sizeof e->name, "%s", f.name);
	}
	wb_begin(&v->out, RP_POSITION);
	wb_u32(&v->out, f.tid);
	wb_u8(&v->out, (uint8_t)st);
	wb_u64(&v->out, t.size);
	wb_u64(&v->out, t.next_msg);
	wb_u64(&v->out, t.start);
	wb_str(&v->out, why);
	return queue(v, false);
}

/* ---- RECORDS ---- */

static int parse_records(struct recv *v, uint32_t *tid, uint32_t *count)
{
	struct rbuf *r = &v->c->body;
	*tid = rb_u32(r);
	*count = rb_u32(r);
	if (r->bad || *count < 1 || *count > RP_RECORDS_MAX)
		return -1;
	if (*count > v->caprec) {
		struct sf_rrecord *p = realloc(v->rec, *count * sizeof *p);
		if (!p)
			return -1;
		v->rec = p;
		v->caprec = *count;
	}
	for (uint32_t i = 0; i < *count; i++) {
		struct sf_rrecord *e = &v->rec[i];
		e->off = rb_u64(r);
		e->msg = rb_u64(r);
		e->ns = (int64_t)rb_u64(r);
		e->nmsgs = rb_u32(r);
		e->len = rb_u32(r);
		e->trailer_len = rb_u32(r);
		e->bytes = rb_raw(r, (size_t)e->len + e->trailer_len);
		if (r->bad || e->len == 0)
			return -1;
	}
	return rb_done(r) ? 0 : -1;
}

/* Topic e is still a topic of this link's stream (fs.lock held): 0 with
 * its inode, its node (the caller releases it) and live state; 1 when it
 * is gone (removed, moved out, or no topic any more); -EIO when its state
 * cannot be had (*np is still the caller's to release). */
static int still_here(struct recv *v, struct rtopic *e, struct sf_inode *in,
		      struct node **np, struct sf_topic **tp)
{
	*np = NULL;
	*tp = NULL;
	int r = store_get_inode(fs.store, e->ino, in);
	if (r < 0 || in->nlink == 0 || !is_topic(in) ||
	    in->parent != v->stream)
		return 1;
	*np = node_get(e->ino);
	*tp = *np ? topic_state(*np) : NULL;
	return *tp ? 0 : -EIO;
}

/* Store the records of topic e (fs.lock held): RP_ACK_* in *status,
 * and t its state after them; 0, -EINVAL (a record that does not fit,
 * why says which), or another -errno (a store error). */
static int apply(struct recv *v, struct rtopic *e, uint32_t count,
		 uint8_t *status, struct sf_topic *t, bool *stored,
		 char *why, size_t cap)
{
	struct sf_inode in;
	struct sf_policy p;
	struct node *n;
	struct sf_topic *tp;
	int r = still_here(v, e, &in, &n, &tp);
	if (r == 1) {
		*status = RP_ACK_GONE;
		return 0;
	}
	if (r == 0)
		r = ns_policy(in.parent, &p);
	*status = RP_ACK_OK;
	for (uint32_t i = 0; r == 0 && i < count; i++) {
		const struct sf_rrecord *rec = &v->rec[i];
		r = store_topic_replicate(fs.store, e->ino, in.parent, tp, rec,
					  false);
		if (r == 0) {
			*stored = true;
			metrics_append(in.parent, rec->len, rec->nmsgs);
		} else if (r == 1) {
			r = 0;
		} else if (r == -ERANGE) {
			*status = RP_ACK_GAP;
			r = 0;
			break;
		} else if (r == -EINVAL) {
			snprintf(why, cap, "the record at byte %" PRIu64
				 " (message %" PRIu64 ") does not fit topic "
				 "%s/%s", rec->off, rec->msg, v->path,
				 e->name);
		}
	}
	if (*stored)
		topic_appended(n, &p);
	if (tp)
		*t = *tp;
	if (n)
		node_release_if_unused(n);
	return r;
}

static int records(struct recv *v)
{
	uint32_t tid, count;
	if (parse_records(v, &tid, &count) < 0)
		return malformed(v, "RECORDS that do not decode");
	struct rtopic *e = find_tid(v, tid);
	if (!e || e->home_here)
		return malformed(v, "RECORDS of a topic never accepted");
	uint8_t status = RP_ACK_OK;
	struct sf_topic t = { 0 };
	bool stored = false;
	char why[2600] = "";
	pthread_mutex_lock(&fs.lock);
	int r = apply(v, e, count, &status, &t, &stored, why, sizeof why);
	pthread_mutex_unlock(&fs.lock);
	notify_send_polls();
	if (r == -EINVAL)
		return malformed(v, why);
	if (r < 0) {
		snprintf(why, sizeof why, "replica %016" PRIx64 " cannot "
			 "store topic %s/%s: %s", v->self, v->path, e->name,
			 strerror(-r));
		return refuse(v, RP_E_STORAGE, why);
	}
	if (status == RP_ACK_GONE)
		e->tid = UINT32_MAX;    /* announced again under a new number */
	wb_begin(&v->out, RP_ACK);
	wb_u32(&v->out, tid);
	wb_u8(&v->out, status);
	wb_u64(&v->out, t.size);
	wb_u64(&v->out, t.next_msg);
	return queue(v, stored);
}

/* ---- SKIP ---- */

/* The source's first live record starts at off, past our end: the copy
 * continues there (fs.lock held).  0, or -errno. */
static int skip_to(struct recv *v, struct rtopic *e, uint64_t off,
		   uint64_t msg, uint8_t *status, struct sf_topic *t)
{
	struct sf_inode in;
	struct node *n;
	struct sf_topic *tp;
	int r = still_here(v, e, &in, &n, &tp);
	if (r == 1) {
		*status = RP_ACK_GONE;
		return 0;
	}
	if (r == 0)
		r = store_topic_skip(fs.store, e->ino, tp, off, msg);
	if (r == 0 && tp->size == off)
		log_msg(SF_LOG_INFO, "replica: topic %s/%s continues at byte "
			"%" PRIu64 " (message %" PRIu64 "): %s had expired "
			"what came before", v->path, e->name, off, msg,
			v->c->peer);
	if (r == -EINVAL)
		r = 0;          /* it holds that much already: its end says */
	if (tp)
		*t = *tp;
	if (n)
		node_release_if_unused(n);
	return r;
}

static int skip(struct recv *v)
{
	struct rbuf *r = &v->c->body;
	uint32_t tid = rb_u32(r);
	uint64_t off = rb_u64(r), msg = rb_u64(r);
	if (!rb_done(r))
		return malformed(v, "a SKIP that does not decode");
	struct rtopic *e = find_tid(v, tid);
	if (!e || e->home_here)
		return malformed(v, "SKIP of a topic never accepted");
	uint8_t status = RP_ACK_OK;
	struct sf_topic t = { 0 };
	pthread_mutex_lock(&fs.lock);
	int x = skip_to(v, e, off, msg, &status, &t);
	pthread_mutex_unlock(&fs.lock);
	if (x < 0) {
		char why[2600];
		snprintf(why, sizeof why, "replica %016" PRIx64 " cannot "
			 "move topic %s/%s on: %s", v->self, v->path, e->name,
			 strerror(-x));
		return refuse(v, RP_E_STORAGE, why);
	}
	if (status == RP_ACK_GONE)
		e->tid = UINT32_MAX;
	wb_begin(&v->out, RP_ACK);
	wb_u32(&v->out, tid);
	wb_u8(&v->out, status);
	wb_u64(&v->out, t.size);
	wb_u64(&v->out, t.next_msg);
	return queue(v, false);         /* the skip was written synced */
}

/* ---- CURSOR ---- */

/* e is still a topic of this connection's stream (fs.lock held). */
static bool cursor_topic(struct recv *v, struct rtopic *e)
{
	struct sf_inode in;
	return store_get_inode(fs.store, e->ino, &in) == 0 && in.nlink > 0 &&
	       is_topic(&in) && in.parent == v->stream;
}

/* Take the removal of group's cursor on e made at time ns if it is not
 * earlier than the cursor held, nor than a removal held (fs.lock held). */
static void cursor_gone_take(struct recv *v, struct rtopic *e,
			     const char *group, int64_t ns)
{
	struct sf_cursor old;
	int64_t gone;
	if (!cursor_topic(v, e))
		return;
	int held = store_cursor_get(fs.store, e->ino, NULL, group, &old);
	if ((held == 0 && old.ns > ns) ||
	    (store_cursor_gone_get(fs.store, e->ino, group, &gone) == 0 &&
	     gone >= ns))
		return;
	if (store_cursor_remove_at(fs.store, e->ino, group, ns, false) < 0)
		return;
	replica_cursors_changed(v->stream);
	if (held == 0)
		metrics_cursor(e->ino, group, NULL);
}

/* Take c as group's cursor on e if it is later than the one held (by
 * commit time, then offset), later than its removal if one is held,
 * and a message boundary of the copy here (fs.lock held). */
static void cursor_take(struct recv *v, struct rtopic *e, const char *group,
			struct sf_cursor *c)
{
	struct sf_topic t;
	struct sf_cursor old;
	uint64_t msg;
	int64_t gone;
	if (!cursor_topic(v, e) || rp_topic_state(e->ino, &t) < 0 ||
	    c->off > t.size)
		return;
	if (store_cursor_get(fs.store, e->ino, NULL, group, &old) == 0 &&
	    (old.ns > c->ns || (old.ns == c->ns && old.off >= c->off)))
		return;
	if (store_cursor_gone_get(fs.store, e->ino, group, &gone) == 0 &&
	    gone >= c->ns)
		return;                 /* removed at or after that commit */
	if (c->off >= t.start &&
	    (store_topic_boundary(fs.store, e->ino, &t, c->off, &msg) < 0 ||
	     msg != c->msg))
		return;
	if (store_cursor_set(fs.store, e->ino, group, c, false) < 0)
		return;
	replica_cursors_changed(v->stream);
	metrics_cursor(e->ino, group, c);
}

static int cursor(struct recv *v)
{
	struct rbuf *r = &v->c->body;
	char group[SF_GROUP_MAX + 1];
	struct sf_cursor c;
	uint32_t tid = rb_u32(r);
	c.off = rb_u64(r);
	c.msg = rb_u64(r);
	c.ns = (int64_t)rb_u64(r);
	rb_str(r, group, sizeof group);
	if (!rb_done(r) || store_cursor_name_check(group) < 0)
		return malformed(v, "a CURSOR that does not decode");
	struct rtopic *e = find_tid(v, tid);
	if (!e)
		return 0;               /* refused, or gone meanwhile */
	pthread_mutex_lock(&fs.lock);
	if (c.off == RP_CURSOR_GONE && c.msg == RP_CURSOR_GONE)
		cursor_gone_take(v, e, group, c.ns);
	else
		cursor_take(v, e, group, &c);
	pthread_mutex_unlock(&fs.lock);
	return 0;
}

/* ---- HANDOVER ---- */

/* Hand topic name over to the sender (fs.lock held): RP_HANDED_*, its
 * final end in t, or the reason in why. */
static int hand_over(struct recv *v, const char *name, struct sf_topic *t,
		     char *why, size_t cap)
{
	struct sf_inode dir, in;
	uint64_t ino, home;
	int r = store_get_inode(fs.store, v->stream, &dir);
	if (r == 0 && (may_copy(&v->who.c, &dir) < 0 ||
		       may_admin(&v->who.c, &dir) < 0)) {
		snprintf(why, cap, "user %s may not take topics of stream %s "
			 "(copy and admin are needed)", v->user, v->path);
		return RP_HANDED_DENIED;
	}
	if (r == 0)
		r = store_lookup(fs.store, v->stream, name, &ino);
	if (r == 0)
		r = store_get_inode(fs.store, ino, &in);
	if (r == -ENOENT || (r == 0 && !is_topic(&in))) {
		snprintf(why, cap, "no topic %s/%s", v->path, name);
		return RP_HANDED_NO_TOPIC;
	}
	if (r == 0)
		r = store_topic_home(fs.store, ino, &home);
	if (r == 0 && home != v->self && home != v->sender) {
		snprintf(why, cap, "topic %s/%s is homed at replica %016"
			 PRIx64, v->path, name, home);
		return RP_HANDED_ELSEWHERE;
	}
	if (r == 0 && home == v->self)
		r = topic_home_set(ino, v->sender);
	if (r == 0)
		r = rp_topic_state(ino, t);
	if (r < 0) {
		snprintf(why, cap, "topic %s/%s: %s", v->path, name,
			 strerror(-r));
		return RP_HANDED_STORAGE;
	}
	if (home == v->self)
		log_msg(SF_LOG_INFO, "replica: topic %s/%s handed over to "
			"replica %016" PRIx64 " (%s) at byte %" PRIu64
			" (message %" PRIu64 "): appends go there now",
			v->path, name, v->sender, v->c->peer, t->size,
			t->next_msg);
	return RP_HANDED_OK;
}

static int handover(struct recv *v)
{
	struct rbuf *r = &v->c->body;
	char name[NAME_MAX_BYTES + 1], why[2600] = "";
	rb_str(r, name, sizeof name);
	if (!rb_done(r) || rp_name_check(name) < 0)
		return malformed(v, "a HANDOVER that does not decode");
	struct sf_topic t = { 0 };
	pthread_mutex_lock(&fs.lock);
	int st = hand_over(v, name, &t, why, sizeof why);
	pthread_mutex_unlock(&fs.lock);
	if (st != RP_HANDED_OK)
		log_msg(SF_LOG_WARNING, "replica: %s: hand-over refused: %s",
			v->c->peer, why);
	why[RP_STR_MAX] = 0;
	wb_begin(&v->out, RP_HANDED);
	wb_u8(&v->out, (uint8_t)st);
	wb_u64(&v->out, t.size);
	wb_u64(&v->out, t.next_msg);
	wb_str(&v->out, name);
	wb_str(&v->out, why);
	return queue(v, false);
}

/* ---- DELETE, PING ---- */

/* DELETE's birth is that of topic ino here (a copy from before births,
 * none kept, is taken to be it; so is any topic for a birth of 0, which
 * names a topic whose birth the sender was not told).  fs.lock held. */
static bool born_as(uint64_t ino, const struct sf_birth *b)
{
	struct sf_birth held;
	if (b->replica == 0)
		return true;
	int r = store_topic_birth(fs.store, ino, &held);
	return r == 1 || (r == 0 && sf_birth_cmp(&held, b) == 0);
}

static int delete_topic(struct recv *v)
{
	struct rbuf *r = &v->c->body;
	char name[NAME_MAX_BYTES + 1];
	uint64_t home = rb_u64(r), ino, here;
	struct sf_birth b;
	b.replica = rb_u64(r);
	b.ns = (int64_t)rb_u64(r);
	rb_str(r, name, sizeof name);
	if (!rb_done(r) || rp_name_check(name) < 0)
		return malformed(v, "a DELETE that does not decode");
	struct sf_inode in;
	struct caller root;
	rp_root_caller(&root);
	pthread_mutex_lock(&fs.lock);
	int e = store_lookup(fs.store, v->stream, name, &ino);
	if (e == 0)
		e = store_get_inode(fs.store, ino, &in);
	if (e == 0 && !is_topic(&in))
		e = -ENOENT;
	if (e == 0)
		e = store_topic_home(fs.store, ino, &here);
	if (e == 0 && (here != home || here == v->self || !born_as(ino, &b)))
		e = -EPERM;
	if (e == 0)
		e = ns_remove_as(&root, v->stream, name, false);
	if (e == 0)
		notify_inval_name(v->stream, name);
	pthread_mutex_unlock(&fs.lock);
	if (e == 0)
		log_msg(SF_LOG_INFO, "replica: topic %s/%s removed, as "
			"at %s", v->path, name, v->c->peer);
	return 0;
}

static int pong(struct recv *v)
{
	uint64_t token = rb_u64(&v->c->body);
	if (!rb_done(&v->c->body))
		return malformed(v, "a PING that does not decode");
	wb_begin(&v->out, RP_PONG);
	wb_u64(&v->out, token);
	return queue(v, false);
}

static int frame(struct recv *v)
{
	switch (v->c->type) {
	case RP_TOPIC:
		return topic(v);
	case RP_RECORDS:
		return records(v);
	case RP_DELETE:
		return delete_topic(v);
	case RP_SKIP:
		return skip(v);
	case RP_CURSOR:
		return cursor(v);
	case RP_PING:
		return pong(v);
	case RP_HANDOVER:
		return handover(v);
	case RP_PONG:
		return 0;
	case RP_ERROR: {
		char msg[RP_STR_MAX + 1];
		uint16_t code = rb_u16(&v->c->body);
		rb_str(&v->c->body, msg, sizeof msg);
		log_msg(SF_LOG_WARNING, "replica: %s ended the "
			"connection: %s (code %u)", v->c->peer, msg, code);
		return -1;
	}
	default:
		return malformed(v, "an unexpected frame type");
	}
}

/* The first frame: HELLO, or the source's own refusal (ERROR). */
static int first(struct recv *v)
{
	int r = rc_read(v->c, RP_ANSWER_MS);
	if (r <= 0) {
		if (r == 0 || r == -ETIMEDOUT)
			log_msg(SF_LOG_WARNING, "replica: %s sent no "
				"HELLO: closing the connection", v->c->peer);
		return -1;
	}
	if (v->c->type == RP_ERROR)
		return frame(v);
	return hello(v);
}

/* Wait for a frame or the end of a sync, until the idle deadline: 1 a
 * frame may be read, 0 a sync ended, -1 silence (said) or a failure. */
static int wait_input(struct recv *v, int64_t deadline)
{
	if (rc_readable(v->c))
		return 1;
	struct pollfd p[2] = {
		{ .fd = v->c->fd, .events = POLLIN },
		{ .fd = acks_fd(v->acks), .events = POLLIN },
	};
	for (;;) {
		int64_t left = deadline - rp_now_ms();
		int due = acks_due(v->acks);   /* begins one if it is time */
		if (left <= 0) {
			log_msg(SF_LOG_INFO, "replica: %s was silent for %d "
				"s: closing the connection", v->c->peer,
				RP_IDLE_MS / 1000);
			return -1;
		}
		int ms = left > 200 ? 200 : (int)left;
		if (due > 0 && due < ms)
			ms = due;
		int n = poll(p, 2, ms);
		if (rp_stopping() || (n < 0 && errno != EINTR))
			return -1;
		if (n > 0 && p[1].revents) {
			acks_event(v->acks);
			return 0;
		}
		if (n > 0 && p[0].revents)
			return 1;
	}
}

static void serve(struct recv *v)
{
	int64_t deadline = rp_now_ms() + RP_IDLE_MS;
	for (;;) {
		if (acks_flush(v->acks, v->c) < 0)
			return;
		int e = acks_error(v->acks);
		if (e < 0) {
			char why[2600];
			snprintf(why, sizeof why, "replica %016" PRIx64 " "
				 "cannot sync stream %s: %s", v->self, v->path,
				 strerror(-e));
			refuse(v, RP_E_STORAGE, why);
			return;
		}
		int w = wait_input(v, deadline);
		if (w < 0)
			return;
		if (w == 0)
			continue;
		int r = rc_read(v->c, 200);
		if (r < 0)
			return;
		if (r == 0)
			continue;       /* TLS bytes that were no frame */
		deadline = rp_now_ms() + RP_IDLE_MS;
		if (frame(v) < 0)
			return;
	}
}

void rp_receive(struct rconn *c, uid_t uid, gid_t gid)
{
	struct recv v = { .c = c };
	rp_caller_init(&v.who, uid, gid);
	rp_user_name(uid, v.user, sizeof v.user);
	v.acks = acks_new();
	if (v.acks && first(&v) == 0)
		serve(&v);
	acks_free(v.acks);
	rp_caller_free(&v.who);
	free(v.t);
	free(v.rec);
	wb_free(&v.out);
}
