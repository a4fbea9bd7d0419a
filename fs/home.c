/* home.c - topic homes, the daemon's side: an append (a write through
 * the mount, a Kafka produce, a restored record) is taken only at the
 * replica the topic is homed at; elsewhere it gets EROFS and a log line
 * naming the home.  The home is read from the store once per node and
 * kept on it (node.home, under fs.lock); topic_home_set changes both.
 * A topic's birth (store_topic_birth) is read here too: one from before
 * births homed here gets the derived one kept the first time it is asked
 * for.  Also the read-only attributes user.streamfs.home and
 * user.streamfs.birth (a topic's) and user.streamfs.replica_id (the
 * mount root's). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fs.h"
#include "replica/replica.h"

/* The last refusal logged, so that a writer retrying in a loop does not
 * flood the log: one line per topic per second.  Under fs.lock. */
static uint64_t logged_ino;
static int64_t logged_ns;

static int home_of(struct node *n, uint64_t ino, uint64_t *home)
{
	if (n && n->home) {
		*home = n->home;
		return 0;
	}
	int r = store_topic_home(fs.store, ino, home);
	if (r == 0 && n)
		n->home = *home;
	return r;
}

static void log_refusal(uint64_t ino, uint64_t home, const char *what)
{
	int64_t now = metrics_now();
	if (ino == logged_ino && now - logged_ns < 1000000000LL)
		return;
	logged_ino = ino;
	logged_ns = now;
	log_msg(SF_LOG_WARNING, "topic %" PRIu64 ": %s refused (EROFS): its "
		"home is replica %016" PRIx64 ", appends go there", ino, what,
		home);
}

int topic_home_check(struct node *n, uint64_t ino, const char *what)
{
	uint64_t home, self;
	int r = home_of(n, ino, &home);
	if (r == 0)
		r = store_replica_id(fs.store, &self);
	if (r < 0)
		return r;
	if (home == self)
		return 0;
	log_refusal(ino, home, what);
	return -EROFS;
}

int topic_home_set(uint64_t ino, uint64_t home)
{
	int r = store_topic_set_home(fs.store, ino, home);
	struct node *n = node_find(ino);
	struct sf_inode in;
	if (n)
		n->home = r == 0 ? home : 0;
	if (r == 0 && store_get_inode(fs.store, ino, &in) == 0)
		replica_names_changed(in.parent);
	return r;
}

int topic_birth(uint64_t ino, struct sf_birth *b)
{
	uint64_t home, self;
	int r = store_topic_birth(fs.store, ino, b);
	if (r != 1)
		return r;
	r = home_of(node_find(ino), ino, &home);
	if (r == 0)
		r = store_replica_id(fs.store, &self);
	if (r < 0)
		return r;
	if (home != self)
		return 1;       /* a copy: its home's birth is not known yet */
	return store_topic_set_birth(fs.store, ino, b);
}

bool home_xattr_name(const char *sub)
{
	return strcmp(sub, "home") == 0 || strcmp(sub, "birth") == 0 ||
	       strcmp(sub, "replica_id") == 0;
}

int home_xattr_get(const struct sf_inode *in, const char *sub, char *buf,
		   size_t cap)
{
	uint64_t id;
	int r;
	if (strcmp(sub, "birth") == 0) {
		struct sf_birth b;
		if (!is_topic(in))
			return -ENODATA;
		r = topic_birth(in->ino, &b);
		return r < 0 ? r : snprintf(buf, cap, "%016" PRIx64 " %" PRId64,
					    b.replica, b.ns);
	}
	if (strcmp(sub, "home") == 0) {
		if (!is_topic(in))
			return -ENODATA;
		r = home_of(node_find(in->ino), in->ino, &id);
	} else {
		if (in->ino != FUSE_ROOT_ID)
			return -ENODATA;
		r = store_replica_id(fs.store, &id);
	}
	return r < 0 ? r : snprintf(buf, cap, "%016" PRIx64, id);
}
