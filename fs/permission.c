/* permission.c - what each operation asks of the caller: produce, consume,
 * topic and admin of a stream (its expressions come from the settings
 * cache, stream_cfg.c), read and write of a blob (its expressions are read
 * at open), and open by kind.  The decision itself (expression, else mode
 * bits or ownership, root always) is acl/access.c's. */
#include <errno.h>
#include <fcntl.h>

#include "access.h"
#include "fs.h"

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

int may_describe(struct caller *c, const struct sf_inode *topic)
{
	int r = may_consume(c, topic);
	return r == -EACCES ? may_produce(c, topic) : r;
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
		r = ace_load(blob->ino, map[i].perm, &ace);
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
