/* permission.c - what each operation asks of the caller (SPEC §5).
 *
 * A stream's settings (policies and the parsed ACE of each stream
 * permission) are loaded from the store once and cached on the directory's
 * node until they change; a blob's read/write ACEs are read at open.  The
 * decision itself (expression, else mode bits or ownership, root always) is
 * acl/access.c's. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "fs.h"

#define ACE_PREFIX SF_POLICY_PREFIX "ace."

/* ---- loading ACEs ---- */

/* The stored ACE of perm on ino: *out NULL when there is none. */
static int load_ace(uint64_t ino, int perm, ace_t **out)
{
	char name[64], *val;
	size_t len;
	ace_error_t err;
	*out = NULL;
	snprintf(name, sizeof(name), ACE_PREFIX "%s", ace_perm_name(perm));
	int r = store_get_xattr(fs.store, ino, name, &val, &len);
	if (r == -ENODATA)
		return 0;
	if (r < 0)
		return r;
	r = ace_parse(val, len, out, &err);
	free(val);
	if (r < 0) {
		/* Stored text was checked when set: a user or group may have
		 * been deleted since.  Refuse rather than guess. */
		fprintf(stderr, "streamfs: warning: inode %llu: stored %s "
			"expression no longer parses (%s); denying\n",
			(unsigned long long)ino, ace_perm_name(perm), err.msg);
		return -EACCES;
	}
	return 0;
}

void stream_cfg_free(struct stream_cfg *cfg)
{
	if (!cfg)
		return;
	for (int i = 0; i < STREAM_PERMS; i++)
		ace_free(cfg->ace[i]);
	free(cfg);
}

static struct stream_cfg *stream_cfg_load(uint64_t dir, int *err)
{
	struct stream_cfg *cfg = calloc(1, sizeof(*cfg));
	*err = cfg ? store_get_policy(fs.store, dir, &cfg->policy) : -ENOMEM;
	for (int i = 0; *err == 0 && i < STREAM_PERMS; i++)
		*err = load_ace(dir, i, &cfg->ace[i]);
	if (*err) {
		stream_cfg_free(cfg);
		return NULL;
	}
	return cfg;
}

/* The settings of stream dir; *owned when the caller must free them (the
 * directory has no node to cache them on). */
static struct stream_cfg *stream_cfg_get(uint64_t dir, bool *owned, int *err)
{
	struct node *n = node_find(dir);
	*owned = false;
	*err = 0;
	if (n && n->stream)
		return n->stream;
	struct stream_cfg *cfg = stream_cfg_load(dir, err);
	if (cfg && n)
		n->stream = cfg;
	else
		*owned = cfg != NULL;
	return cfg;
}

int ns_policy(uint64_t dir, struct sf_policy *out)
{
	bool owned;
	int r;
	struct stream_cfg *cfg = stream_cfg_get(dir, &owned, &r);
	if (cfg)
		*out = cfg->policy;
	if (owned)
		stream_cfg_free(cfg);
	return r;
}

void ns_policy_changed(uint64_t dir)
{
	struct node *n = node_find(dir);
	if (n) {
		stream_cfg_free(n->stream);
		n->stream = NULL;
	}
}

/* ---- decisions ---- */

static int stream_may(struct caller *c, uint64_t dir, int perm,
		      const struct access_fallback *fb)
{
	bool owned;
	int r;
	struct stream_cfg *cfg = stream_cfg_get(dir, &owned, &r);
	if (cfg)
		r = access_check(c, cfg->ace[perm], fb);
	if (owned)
		stream_cfg_free(cfg);
	return r;
}

static struct access_fallback fallback(const struct sf_inode *in, int want)
{
	struct access_fallback fb = { in->mode, in->uid, in->gid, want };
	return fb;
}

int may_produce(struct caller *c, const struct sf_inode *topic)
{
	struct access_fallback fb = fallback(topic, PERM_W);
	return stream_may(c, topic->parent, ACE_PERM_PRODUCE, &fb);
}

int may_consume(struct caller *c, const struct sf_inode *topic)
{
	struct access_fallback fb = fallback(topic, PERM_R);
	return stream_may(c, topic->parent, ACE_PERM_CONSUME, &fb);
}

int may_topic(struct caller *c, const struct sf_inode *dir)
{
	int r = perm_check(c, dir->mode, dir->uid, dir->gid, PERM_X);
	struct access_fallback fb = fallback(dir, PERM_W);
	return r < 0 ? r : stream_may(c, dir->ino, ACE_PERM_TOPIC, &fb);
}

int may_admin(struct caller *c, const struct sf_inode *dir)
{
	struct access_fallback fb = fallback(dir, 0);
	return stream_may(c, dir->ino, ACE_PERM_ADMIN, &fb);
}

int may_blob(struct caller *c, const struct sf_inode *blob, int want)
{
	static const struct { int bit, perm; } map[] = {
		{ PERM_R, ACE_PERM_READ }, { PERM_W, ACE_PERM_WRITE },
	};
	int r = 0;
	for (int i = 0; r == 0 && i < 2; i++) {
		if (!(want & map[i].bit))
			continue;
		ace_t *ace;
		r = load_ace(blob->ino, map[i].perm, &ace);
		struct access_fallback fb = fallback(blob, map[i].bit);
		if (r == 0)
			r = access_check(c, ace, &fb);
		ace_free(ace);
	}
	return r;
}

int may_open(struct caller *c, const struct sf_inode *in, int flags)
{
	int want = 0;
	switch (flags & O_ACCMODE) {
	case O_RDONLY: want = PERM_R; break;
	case O_WRONLY: want = PERM_W; break;
	default: want = PERM_R | PERM_W; break;
	}
	if (flags & O_TRUNC)
		want |= PERM_W;
	if (!S_ISREG(in->mode))
		return perm_check(c, in->mode, in->uid, in->gid, want);
	int r = 0;
	if (in->kind == SF_KIND_TOPIC ||
	    (in->kind == SF_KIND_NONE && (flags & O_APPEND))) {
		/* A topic, or a file an O_APPEND write will make one. */
		if (want & PERM_R)
			r = may_consume(c, in);
		if (r == 0 && (want & PERM_W))
			r = may_produce(c, in);
		return r;
	}
	return may_blob(c, in, want);
}
