/* cursor_xattr.c - consumer groups through the mount: a topic's committed
 * cursors as the attributes user.streamfs.cursor.GROUP (read, commit with
 * a set, delete with a remove) and the read-only listing
 * user.streamfs.groups.  xattr.c hands these names here; the cursors
 * themselves are the store's (store/cursor.c), and whether an offset is a
 * message boundary is store_topic_boundary's answer.
 *
 * Reading, committing and deleting need the stream's consume permission;
 * deleting may also be done by its admin.  A commit is written to LevelDB
 * before the set returns; under durability=always it is synced, under
 * batch the next group commit syncs it (docs/design.md, "Consumer
 * groups"). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>

#include "fs.h"
#include "replica/replica.h"

#define CURSOR_PFX "cursor."
#define CURSOR_PFX_LEN (sizeof(CURSOR_PFX) - 1)
#define GROUPS_NAME "groups"
#define OFFSET_DIGITS_MAX 20    /* UINT64_MAX */

bool cursor_xattr_name(const char *sub)
{
	return strncmp(sub, CURSOR_PFX, CURSOR_PFX_LEN) == 0 ||
	       strcmp(sub, GROUPS_NAME) == 0;
}

/* The topic's state now: its node's while it has one, else the index's. */
static int topic_now(const struct sf_inode *in, struct sf_topic *t)
{
	struct node *n = node_find(in->ino);
	if (n && n->topic) {
		*t = *n->topic;
		return 0;
	}
	return store_topic_load(fs.store, in->ino, t);
}

/* A committed offset as given: decimal digits only, within 64 bits. */
static int parse_offset(const char *val, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	if (!val || len == 0 || len > OFFSET_DIGITS_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)val[i] - '0';
		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A change of a cursor of topic in is made durable as its stream's
 * appends are: synced under always (*sync), by the next group commit
 * under batch (*batch). */
static int durability_of(const struct sf_inode *in, bool *sync, bool *batch)
{
	struct sf_policy p;
	int r = ns_policy(in->parent, &p);
	*sync = r == 0 && p.durability == SF_DUR_ALWAYS;
	*batch = r == 0 && p.durability == SF_DUR_BATCH;
	return r;
}

/* ---- reading ---- */

struct listing {
	char *buf;
	size_t len;
};

/* One line of the listing; -E2BIG when it would pass XATTR_VALUE_MAX. */
static int list_one(const char *group, const struct sf_cursor *c, void *arg)
{
	struct listing *l = arg;
	int n = snprintf(l->buf + l->len, XATTR_VALUE_MAX + 1 - l->len,
			 "%s %" PRIu64 " %" PRIu64 " %" PRId64 "\n", group,
			 c->off, c->msg, c->ns);
	if (n < 0 || l->len + (size_t)n > XATTR_VALUE_MAX)
		return -E2BIG;
	l->len += (size_t)n;
	return 0;
}

static int list_groups(const struct sf_inode *in, const struct sf_topic *t,
		       char **val, size_t *len)
{
	struct listing l = { malloc(XATTR_VALUE_MAX + 1), 0 };
	if (!l.buf)
		return -ENOMEM;
	int r = store_cursor_list(fs.store, in->ino, t, list_one, &l);
	if (r < 0) {
		free(l.buf);
		return r;
	}
	*val = l.buf;
	*len = l.len;
	return 0;
}

int cursor_xattr_get(struct caller *c, const struct sf_inode *in,
		     const char *sub, char **val, size_t *len)
{
	struct sf_topic t;
	struct sf_cursor cur;
	int r = may_consume(c, in);
	if (r == 0)
		r = topic_now(in, &t);
	if (r < 0)
		return r;
	if (strcmp(sub, GROUPS_NAME) == 0)
		return list_groups(in, &t, val, len);
	r = store_cursor_get(fs.store, in->ino, &t, sub + CURSOR_PFX_LEN,
			     &cur);
	if (r < 0)
		return r;
	metrics_cursor(in->ino, sub + CURSOR_PFX_LEN, &cur);
	*val = malloc(OFFSET_DIGITS_MAX + 1);
	if (!*val)
		return -ENOMEM;
	*len = (size_t)snprintf(*val, OFFSET_DIGITS_MAX + 1, "%" PRIu64,
				cur.off);
	return 0;
}

/* ---- committing and deleting ---- */

/* XATTR_CREATE: only a group without a cursor; XATTR_REPLACE: only one
 * with. */
static int check_flags(uint64_t ino, const char *group, int flags)
{
	struct sf_cursor old;
	if (!(flags & (XATTR_CREATE | XATTR_REPLACE)))
		return 0;
	int r = store_cursor_get(fs.store, ino, NULL, group, &old);
	if (r == 0 && (flags & XATTR_CREATE))
		return -EEXIST;
	if (r == -ENODATA && !(flags & XATTR_REPLACE))
		return 0;
	return r;
}

int cursor_xattr_set(struct caller *c, const struct sf_inode *in,
		     const char *sub, const char *val, size_t len, int flags)
{
	const char *group = sub + CURSOR_PFX_LEN;
	struct sf_topic t;
	struct sf_cursor cur;
	if (strcmp(sub, GROUPS_NAME) == 0)
		return -EPERM;          /* an answer, not a setting */
	if (!is_topic(in))
		return -EINVAL;
	int r = store_cursor_name_check(group);
	if (r == 0)
		r = parse_offset(val, len, &cur.off);
	if (r == 0)
		r = may_consume(c, in);
	if (r == 0)
		r = topic_now(in, &t);
	if (r == 0)
		r = store_topic_boundary(fs.store, in->ino, &t, cur.off,
					 &cur.msg);
	if (r == 0)
		r = check_flags(in->ino, group, flags);
	if (r < 0)
		return r;
	return cursor_commit(in, group, &cur);
}

int cursor_commit(const struct sf_inode *in, const char *group,
		  struct sf_cursor *cur)
{
	bool sync, batch;
	int r = durability_of(in, &sync, &batch);
	if (r < 0)
		return r;
	cur->ns = now_ns();
	r = store_cursor_set(fs.store, in->ino, group, cur, sync);
	if (r == 0) {
		metrics_cursor(in->ino, group, cur);
		replica_cursors_changed(in->parent);
	}
	if (r == 0 && batch)
		group_commit_mark();
	return r;
}

/* Deleting a group's cursor: its consumers (consume), or the admin. */
static int may_delete(struct caller *c, const struct sf_inode *in)
{
	struct sf_inode dir;
	int r = may_consume(c, in);
	if (r != -EACCES)
		return r;
	if (store_get_inode(fs.store, in->parent, &dir) < 0)
		return -EACCES;
	return may_admin(c, &dir);
}

int cursor_xattr_remove(struct caller *c, const struct sf_inode *in,
			const char *sub)
{
	const char *group = sub + CURSOR_PFX_LEN;
	bool sync, batch;
	if (strcmp(sub, GROUPS_NAME) == 0 || !is_topic(in))
		return -ENODATA;        /* nothing stored by that name */
	int r = store_cursor_name_check(group);
	if (r == 0)
		r = may_delete(c, in);
	if (r == 0)
		r = durability_of(in, &sync, &batch);
	if (r == 0)
		r = store_cursor_delete(fs.store, in->ino, group, sync);
	if (r == 0) {
		metrics_cursor(in->ino, group, NULL);
		replica_cursors_changed(in->parent);
	}
	if (r == 0 && batch)
		group_commit_mark();
	return r;
}
