/* replica_xattr.c - replication links through the mount: on a stream's
 * directory, setting user.streamfs.replica.add (value HOST:PORT/PATH)
 * makes a link that pushes the stream to stream PATH of the peer at
 * HOST:PORT; replica.remove, replica.pause and replica.resume (value: the
 * link's id in decimal, or its HOST:PORT/PATH) manage one; reading
 * user.streamfs.replica.list lists the stream's links with their state.
 * On a topic, user.streamfs.replica.home = 1 asks that its home move here
 * (fs/replica/handover.c does it), and reading it says how that goes.
 * xattr.c hands these names here.  The links themselves are the store's
 * (store_link_*, store/link.c); the threads that run them are
 * fs/replica/'s, told of a change once fs.lock is dropped
 * (replica_xattr_flush, called by ops.c after the reply).
 *
 * Each needs the stream's admin permission (EACCES); a malformed value is
 * EINVAL, a value naming no link of the stream ENOENT, an add on a daemon
 * without the tls_ options EOPNOTSUPP, and none of these refusals
 * changes anything (docs/design.md, "Replication links"). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "replica/replica.h"
#include "tls.h"

#define REPLICA_PFX "replica."
#define REPLICA_PFX_LEN (sizeof(REPLICA_PFX) - 1)
#define LIST_NAME "list"
#define HOME_NAME "home"
#define RP_STATE_MAX 1200       /* a hand-over's state line */
#define LINKS_FIRST 64          /* links read at first for a listing */
#define PORT_DIGITS_MAX 5

enum action { ACT_NONE, ACT_ADD, ACT_REMOVE, ACT_PAUSE, ACT_RESUME };

static const char *const action_names[] = {
	[ACT_ADD] = "add", [ACT_REMOVE] = "remove", [ACT_PAUSE] = "pause",
	[ACT_RESUME] = "resume",
};

/* What the thread that served a change tells fs/replica/ once it has
 * dropped fs.lock.  Thread-local (each FUSE worker has its own), so no
 * lock guards it. */
static __thread struct {
	enum action what;
	struct sf_link link;    /* ACT_ADD: the link as stored */
} pending;

bool replica_xattr_name(const char *sub)
{
	return strncmp(sub, REPLICA_PFX, REPLICA_PFX_LEN) == 0;
}

static enum action action_of(const char *sub)
{
	for (int a = ACT_ADD; a <= ACT_RESUME; a++)
		if (strcmp(sub + REPLICA_PFX_LEN, action_names[a]) == 0)
			return a;
	return ACT_NONE;
}

/* ---- parsing HOST:PORT/PATH ---- */

static bool host_char(char ch, bool bracketed)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9'))
		return true;
	return bracketed ? ch == ':' || ch == '.' || ch == '%'
			 : ch == '.' || ch == '-' || ch == '_';
}

/* HOST (a name, an IPv4 address or a bracketed IPv6 one) of s[0..len). */
static bool host_ok(const char *s, size_t len)
{
	bool br = len >= 2 && s[0] == '[' && s[len - 1] == ']';
	if (br) {
		s++;
		len -= 2;
	}
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!host_char(s[i], br))
			return false;
	return true;
}

static bool port_ok(const char *s, size_t len)
{
	unsigned v = 0;
	if (len == 0 || len > PORT_DIGITS_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

/* PATH: names of 1 to NAME_MAX_BYTES bytes joined by single slashes, none
 * "." or "..", without a slash at either end, and without spaces or
 * control bytes (the listing separates its fields with spaces). */
static bool path_ok(const char *s, size_t len)
{
	size_t start = 0;
	if (len == 0)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '/') {
			if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
				return false;
			continue;
		}
		size_t n = i - start;
		if (n == 0 || n > NAME_MAX_BYTES ||
		    (n == 1 && s[start] == '.') ||
		    (n == 2 && s[start] == '.' && s[start + 1] == '.'))
			return false;
		start = i + 1;
	}
	return true;
}

/* Parse "HOST:PORT/PATH" (one newline at the end ignored) into l->peer
 * and l->peer_stream: 0 or -EINVAL. */
static int parse_target(const char *val, size_t len, struct sf_link *l)
{
	if (len && val[len - 1] == '\n')
		len--;
	const char *slash = memchr(val, '/', len);
	if (!slash)
		return -EINVAL;
	size_t plen = (size_t)(slash - val);
	const char *colon = NULL;
	for (size_t i = 0; i < plen; i++)
		if (val[i] == ':')
			colon = val + i;        /* the last one: after "[::1]" */
	if (!colon || plen >= sizeof(l->peer) ||
	    !host_ok(val, (size_t)(colon - val)) ||
	    !port_ok(colon + 1, (size_t)(slash - colon - 1)))
		return -EINVAL;
	size_t slen = len - plen - 1;
	if (slen >= sizeof(l->peer_stream) || !path_ok(slash + 1, slen))
		return -EINVAL;
	memcpy(l->peer, val, plen);
	l->peer[plen] = 0;
	memcpy(l->peer_stream, slash + 1, slen);
	l->peer_stream[slen] = 0;
	return 0;
}

/* ---- finding a link ---- */

/* The links of stream dir, malloc'd in *out: their count or -errno. */
static int links_of(uint64_t dir, struct sf_link **out)
{
	size_t cap = LINKS_FIRST;
	struct sf_link *all = NULL;
	int r;
	for (;;) {
		struct sf_link *more = realloc(all, cap * sizeof(*all));
		if (!more) {
			free(all);
			return -ENOMEM;
		}
		all = more;
		r = store_link_list(fs.store, all, cap);
		if (r < 0 || (size_t)r <= cap)
			break;
		cap = (size_t)r;        /* more than fit: read them all */
	}
	if (r < 0) {
		free(all);
		return r;
	}
	int n = 0;
	for (int i = 0; i < r; i++)
		if (all[i].stream == dir)
			all[n++] = all[i];
	*out = all;
	return n;
}

static bool id_of(const char *val, size_t len, uint64_t *id)
{
	uint64_t v = 0;
	if (len && val[len - 1] == '\n')
		len--;
	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)val[i] - '0';
		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*id = v;
	return true;
}

/* The link of stream dir that val names (its id, or its HOST:PORT/PATH)
 * into *l: 0, -EINVAL for a value that is neither, -ENOENT when no link
 * of dir is so named. */
static int find_link(uint64_t dir, const char *val, size_t len,
		     struct sf_link *l)
{
	struct sf_link want = { 0 }, *links;
	uint64_t id = 0;
	bool by_id = id_of(val, len, &id);
	if (!by_id && parse_target(val, len, &want) < 0)
		return -EINVAL;
	int n = links_of(dir, &links);
	if (n < 0)
		return n;
	int r = -ENOENT;
	for (int i = 0; i < n && r == -ENOENT; i++) {
		bool same = by_id ? links[i].id == id
			: strcmp(links[i].peer, want.peer) == 0 &&
			  strcmp(links[i].peer_stream, want.peer_stream) == 0;
		if (same) {
			*l = links[i];
			r = 0;
		}
	}
	free(links);
	return r;
}

/* ---- changing ---- */

static int add_link(const struct sf_inode *in, const char *val, size_t len)
{
	struct sf_link l = { 0 };
	int r = parse_target(val, len, &l);
	if (r < 0)
		return r;
	if (!tls_server_ctx())
		return -EOPNOTSUPP;     /* no tls_ options: it could never connect */
	l.stream = in->ino;
	r = store_link_add(fs.store, &l);
	if (r < 0)
		return r;
	log_msg(SF_LOG_INFO, "replication link %" PRIu64 ": added, from "
		"stream inode %" PRIu64 " to %s/%s", l.id, l.stream, l.peer,
		l.peer_stream);
	pending.what = ACT_ADD;
	pending.link = l;
	return 0;
}

/* Remove, pause or resume the link val names.  Pausing a paused link and
 * resuming a running one change nothing. */
static int change_link(const struct sf_inode *in, enum action a,
		       const char *val, size_t len)
{
	struct sf_link l;
	int r = find_link(in->ino, val, len, &l);
	if (r < 0)
		return r;
	if (a == ACT_REMOVE) {
		r = store_link_del(fs.store, l.id);
	} else {
		uint32_t flags = a == ACT_PAUSE ? l.flags | SF_LINK_PAUSED
					       : l.flags & ~SF_LINK_PAUSED;
		if (flags == l.flags)
			return 0;
		r = store_link_set_flags(fs.store, l.id, flags);
	}
	if (r < 0)
		return r;
	log_msg(SF_LOG_INFO, "replication link %" PRIu64 ": %s (to %s/%s)",
		l.id, a == ACT_REMOVE ? "removed" :
		a == ACT_PAUSE ? "paused" : "resumed", l.peer, l.peer_stream);
	pending.what = a;
	pending.link = l;
	return 0;
}

/* ---- moving a topic's home here (user.streamfs.replica.home) ---- */

/* A link of stream dir that reaches, or may reach, replica home: one
 * whose peer said it is home, or that has not reached its peer yet. */
static bool link_to(uint64_t dir, uint64_t home)
{
	struct sf_link *links;
	struct replica_status st;
	bool found = false;
	int n = links_of(dir, &links);
	for (int i = 0; i < n && !found; i++)
		found = replica_link_status(links[i].id, &st) == 0 &&
			(st.peer_id == home || st.peer_id == 0);
	if (n >= 0)
		free(links);
	return found;
}

/* The caller is admin of topic in's stream: its home and this replica's
 * id. */
static int admin_home(struct caller *c, const struct sf_inode *in,
		      uint64_t *home, uint64_t *self)
{
	struct sf_inode dir;
	int r = store_get_inode(fs.store, in->parent, &dir);
	if (r == 0)
		r = may_admin(c, &dir);
	if (r == 0)
		r = store_topic_home(fs.store, in->ino, home);
	if (r == 0)
		r = store_replica_id(fs.store, self);
	return r;
}

/* Set to 1 on a topic: its home moves here once this copy has caught up
 * (fs/replica/handover.c).  Returns at once. */
static int home_set(struct caller *c, const struct sf_inode *in,
		    const char *val, size_t len)
{
	uint64_t home, self;
	if (!is_topic(in) || !val)
		return -EINVAL;
	if (len && val[len - 1] == '\n')
		len--;
	if (len != 1 || val[0] != '1')
		return -EINVAL;
	int r = admin_home(c, in, &home, &self);
	if (r < 0)
		return r;
	if (home == self) {
		replica_home_forget(in->ino);
		return 0;               /* homed here already */
	}
	if (!link_to(in->parent, home))
		return -ENOTCONN;
	return replica_home_ask(in->ino, in->parent, home);
}

static int home_get(struct caller *c, const struct sf_inode *in,
		    char **val, size_t *len)
{
	uint64_t home, self;
	int r = admin_home(c, in, &home, &self);
	if (r < 0)
		return r;
	char *buf = malloc(RP_STATE_MAX);
	if (!buf)
		return -ENOMEM;
	int n = home == self ? snprintf(buf, RP_STATE_MAX, "here")
			     : replica_home_state(in->ino, buf, RP_STATE_MAX);
	*len = n < RP_STATE_MAX ? (size_t)n : RP_STATE_MAX - 1;
	*val = buf;
	return 0;
}

int replica_xattr_set(struct caller *c, const struct sf_inode *in,
		      const char *sub, const char *val, size_t len)
{
	enum action a = action_of(sub);
	if (strcmp(sub + REPLICA_PFX_LEN, HOME_NAME) == 0)
		return home_set(c, in, val, len);
	if (!S_ISDIR(in->mode))
		return -EINVAL;
	if (strcmp(sub + REPLICA_PFX_LEN, LIST_NAME) == 0)
		return -EPERM;          /* an answer, not a setting */
	if (a == ACT_NONE)
		return -EINVAL;
	int r = may_admin(c, in);
	if (r < 0)
		return r;
	if (!val)
		return -EINVAL;
	return a == ACT_ADD ? add_link(in, val, len)
			    : change_link(in, a, val, len);
}

void replica_xattr_flush(void)
{
	enum action a = pending.what;
	pending.what = ACT_NONE;
	if (a == ACT_NONE)
		return;
	if (a != ACT_ADD) {
		replica_link_changed(pending.link.id);
		return;
	}
	int r = replica_link_started(&pending.link);
	if (r < 0)
		log_msg(SF_LOG_ERROR, "replication link %" PRIu64 " to %s/%s is "
			"stored but did not start: %s (it starts with the "
			"next mount)", pending.link.id, pending.link.peer,
			pending.link.peer_stream, strerror(-r));
}

/* ---- reading ---- */

/* s with '"' and '\' escaped by a '\' and control bytes shown as '?', so
 * it stays one quoted field of one line. */
static void quote(const char *s, char *out, size_t cap)
{
	size_t n = 0;
	for (; *s && n + 3 < cap; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			out[n++] = '\\';
		out[n++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	out[n] = 0;
}

/* The state of link l, for the listing and the metrics: fs/replica/'s,
 * or "connecting" when the link has no thread (yet); "paused" whenever
 * the stored link is, so a listing right after a pause says so before
 * the thread has seen it. */
void replica_xattr_status(const struct sf_link *l,
			  struct replica_status *st)
{
	if (replica_link_status(l->id, st) < 0) {
		memset(st, 0, sizeof(*st));
		st->id = l->id;
		snprintf(st->state, sizeof(st->state), "connecting");
	}
	if (l->flags & SF_LINK_PAUSED)
		snprintf(st->state, sizeof(st->state), "paused");
}

/* One line of the listing at buf + *len; -E2BIG past cap. */
static int list_one(const struct sf_link *l, char *buf, size_t *len,
		    size_t cap)
{
	struct replica_status st;
	char err[2 * sizeof(st.last_error)];
	replica_xattr_status(l, &st);
	quote(st.last_error, err, sizeof(err));
	int n = snprintf(buf + *len, cap - *len, "%" PRIu64 " %s/%s %s "
			 "msgs_behind=%" PRIu64 " secs_behind=%.3f "
			 "last_error=\"%s\"\n", l->id, l->peer,
			 l->peer_stream, st.state, st.msgs_behind,
			 st.secs_behind, err);
	if (n < 0 || (size_t)n >= cap - *len)
		return -E2BIG;
	*len += (size_t)n;
	return 0;
}

int replica_xattr_get(struct caller *c, const struct sf_inode *in,
		      const char *sub, char **val, size_t *len)
{
	struct sf_link *links;
	if (is_topic(in) && strcmp(sub + REPLICA_PFX_LEN, HOME_NAME) == 0)
		return home_get(c, in, val, len);
	if (!S_ISDIR(in->mode) || strcmp(sub + REPLICA_PFX_LEN, LIST_NAME))
		return -ENODATA;
	int r = may_admin(c, in);
	if (r < 0)
		return r;
	int n = links_of(in->ino, &links);
	if (n < 0)
		return n;
	char *buf = malloc(XATTR_VALUE_MAX + 1);
	*len = 0;
	r = buf ? 0 : -ENOMEM;
	for (int i = 0; r == 0 && i < n; i++)
		r = list_one(&links[i], buf, len, XATTR_VALUE_MAX + 1);
	free(links);
	if (r < 0) {
		free(buf);
		return r;
	}
	*val = buf;
	return 0;
}
