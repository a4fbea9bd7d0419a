/* access.c - who a replication peer is to this daemon and what it may:
 * the caller its certificate's user makes (groups from the user
 * database, loaded when an expression needs them), the walk to a stream
 * with that caller's search permission, the bounds of paths and topic
 * names, and names for log lines. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp.h"

static int load_groups(struct caller *c)
{
	struct rp_caller *rc = c->ctx;
	struct passwd pw, *res = NULL;
	char buf[4096];
	c->ngroups = 0;
	c->groups = NULL;
	if (getpwuid_r(c->uid, &pw, buf, sizeof buf, &res) != 0 || !res)
		return 0;               /* no such user: no groups */
	int n = 64;
	for (;;) {
		gid_t *g = realloc(rc->groups, (size_t)n * sizeof *g);
		if (!g)
			return -ENOMEM;
		rc->groups = g;
		int want = n;
		if (getgrouplist(pw.pw_name, pw.pw_gid, g, &want) >= 0) {
			c->ngroups = want;
			c->groups = g;
			return 0;
		}
		if (want <= n || want > CALLER_MAX_GROUPS)
			return -E2BIG;
		n = want;
	}
}

void rp_caller_init(struct rp_caller *rc, uid_t uid, gid_t gid)
{
	memset(rc, 0, sizeof *rc);
	rc->c.uid = uid;
	rc->c.gid = gid;
	rc->c.load_groups = load_groups;
	rc->c.ctx = rc;
}

void rp_caller_free(struct rp_caller *rc)
{
	free(rc->groups);
	rc->groups = NULL;
}

void rp_root_caller(struct caller *c)
{
	memset(c, 0, sizeof *c);
	c->groups_loaded = true;
}

int rp_name_check(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > NAME_MAX_BYTES || strchr(name, '/') ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	return 0;
}

int rp_path_check(const char *path)
{
	char name[NAME_MAX_BYTES + 1];
	if (strlen(path) > SF_LINK_PATH_MAX - 1)
		return -EINVAL;
	for (const char *p = path; *p;) {
		const char *e = strchr(p, '/');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l == 0 || l > NAME_MAX_BYTES)
			return -EINVAL;
		memcpy(name, p, l);
		name[l] = 0;
		if (rp_name_check(name) < 0)
			return -EINVAL;
		p += l + (e ? 1 : 0);
		if (e && !*p)
			return -EINVAL;         /* a trailing slash */
	}
	return 0;
}

int rp_stream_walk(struct caller *c, const char *path, struct sf_inode *out)
{
	char name[NAME_MAX_BYTES + 1];
	int r = rp_path_check(path) < 0 ? -ENOENT
		: store_get_inode(fs.store, FUSE_ROOT_ID, out);
	for (const char *p = path; r == 0 && *p;) {
		const char *e = strchr(p, '/');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		uint64_t ino;
		r = may_mode(c, out, PERM_X);
		if (r < 0)
			break;
		memcpy(name, p, l);
		name[l] = 0;
		r = store_lookup(fs.store, out->ino, name, &ino);
		if (r == 0)
			r = store_get_inode(fs.store, ino, out);
		if (r == 0 && !S_ISDIR(out->mode))
			r = -ENOENT;
		p += l + (e ? 1 : 0);
	}
	if (r == 0 && (sysstream_is(out->ino) || out->nlink == 0))
		r = -ENOENT;
	return r == -EACCES || r == 0 ? r : -ENOENT;
}

/* The name of ino in dir: 0, or -ENOENT. */
int rp_name_in(uint64_t dir, uint64_t ino, char *buf, size_t cap)
{
	struct store_dirit *it = store_dirit_open(fs.store, dir);
	const char *name;
	size_t len;
	uint64_t e;
	uint32_t type;
	int r = -ENOENT;
	while (it && store_dirit_next(it, &name, &len, &e, &type) == 1) {
		if (e == ino && len < cap) {
			memcpy(buf, name, len);
			buf[len] = 0;
			r = 0;
			break;
		}
	}
	if (it)
		store_dirit_close(it);
	return r;
}

void rp_stream_path(uint64_t ino, char *buf, size_t cap)
{
	char path[4096] = "", name[NAME_MAX_BYTES + 1], tmp[4096];
	struct sf_inode in;
	for (int depth = 0; ino != FUSE_ROOT_ID && depth < 64; depth++) {
		if (store_get_inode(fs.store, ino, &in) < 0 ||
		    rp_name_in(in.parent, ino, name, sizeof name) < 0) {
			snprintf(buf, cap, "(stream %llu)",
				 (unsigned long long)ino);
			return;
		}
		snprintf(tmp, sizeof tmp, "/%s%s", name, path);
		snprintf(path, sizeof path, "%s", tmp);
		ino = in.parent;
	}
	snprintf(buf, cap, "%s", *path ? path : "/");
}

void rp_user_name(uid_t uid, char *buf, size_t cap)
{
	struct passwd pw, *res = NULL;
	char b[4096];
	if (getpwuid_r(uid, &pw, b, sizeof b, &res) == 0 && res)
		snprintf(buf, cap, "%s", pw.pw_name);
	else
		snprintf(buf, cap, "uid %u", (unsigned)uid);
}

int rp_topic_state(uint64_t ino, struct sf_topic *t)
{
	struct node *n = node_find(ino);
	if (n && n->topic) {
		*t = *n->topic;
		return 0;
	}
	return store_topic_load(fs.store, ino, t);
}
